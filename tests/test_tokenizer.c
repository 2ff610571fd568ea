/* test_tokenizer.c - the BPE tokenizer, on a tiny vocabulary we can check
 * by hand (tests/data/tok/, made by make_fixtures.py) and, when
 * `make llama3-tokenizer` has fetched it, on the real Llama 3 vocabulary.
 *
 * The tiny vocabulary: ids 0..255 are the single bytes (id = byte value),
 * then 256 "bc", 257 "ab", 258 "he", 259 " t", 260 " the", 261 "in",
 * 262 "ing", 263 "hello", 264 "aa", 265 "<|", 266 "|>", 267 "é",
 * 268 " w", 269 "or", 270 "ld", 271 " wor", 272 " world", 273 "\n\n",
 * 274 "12", 275 "123", 276 "'s"; then the 256 specials from 277
 * (<|begin_of_text|> 277, <|end_of_text|> 278, <|eot_id|> 286).
 *
 * Run from tests/ (make test does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer.h"

#define TINY_MODEL "data/tok/tiny/tokenizer.model"
#define TINY_HF_DIR "data/tok/tiny-hf"
#define TINY_PAIRS "data/tok/tiny-hf-pairs.json"
#define TINY_META_DIR "data/tok/tiny-meta"
#define LLAMA3_MODEL "../data/llama3/tokenizer.model"
#define LLAMA3_JSON "../data/llama3/tokenizer.json"
#define LLAMA3_CASES "data/tok/llama3_cases.json"

enum { TINY_BOS = 277, TINY_EOS = 278, TINY_EOT = 286, TINY_VOCAB = 277 + 256 };

/* The tiny vocabulary in each of its forms; every test runs on all. */
enum { FORM_TIKTOKEN, FORM_HF, FORM_HF_PAIRS, FORM_META_DIR, N_FORMS };
static const char *const form_name[N_FORMS] = { "tiktoken", "tokenizer.json", "tokenizer.json [a,b] merges",
                                                "original/tokenizer.model" };

struct fixture {
	struct ld_tokenizer *tk[N_FORMS];
	char tmpdir[64]; /* scratch files for hostile inputs */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct ld_err err = { "" };
	if (!f)
		return -1;
	if (ld_tok_load_file(&f->tk[FORM_TIKTOKEN], TINY_MODEL, &err) ||
	    ld_tok_load_dir(&f->tk[FORM_HF], TINY_HF_DIR, &err) ||
	    ld_tok_load_file(&f->tk[FORM_HF_PAIRS], TINY_PAIRS, &err) ||
	    ld_tok_load_dir(&f->tk[FORM_META_DIR], TINY_META_DIR, &err)) {
		print_message("setup: %s\n", err.msg);
		return -1;
	}
	strcpy(f->tmpdir, "/tmp/llamadbg-tok-XXXXXX");
	if (!mkdtemp(f->tmpdir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < N_FORMS; i++)
		ld_tok_free(f->tk[i]);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->tmpdir);
	if (system(cmd) != 0)
		print_message("could not remove %s\n", f->tmpdir);
	free(f);
	return 0;
}

/* Encode and compare with the expected ids, saying which form failed. */
static void expect_ids(const struct ld_tokenizer *tk, const char *form, const char *text, size_t len,
                       unsigned flags, const int32_t *want, size_t n_want)
{
	int32_t *ids = NULL;
	size_t n = 0;
	struct ld_err err = { "" };
	enum ld_status st = ld_tok_encode(tk, text, len, flags, &ids, &n, &err);
	if (st)
		print_message("%s: encode failed: %s\n", form, err.msg);
	assert_int_equal(st, LD_OK);
	int same = n == n_want && memcmp(ids, want, n * sizeof *ids) == 0;
	if (!same) {
		print_message("%s: \"%.*s\"\n  got ", form, (int)len, text);
		for (size_t i = 0; i < n; i++)
			print_message(" %d", ids[i]);
		print_message("\n want");
		for (size_t i = 0; i < n_want; i++)
			print_message(" %d", want[i]);
		print_message("\n");
	}
	free(ids);
	assert_true(same);
}

#define EXPECT(f, text, flags, ...)                                                         \
	do {                                                                                \
		static const int32_t want_[] = { __VA_ARGS__ };                             \
		for (int form_ = 0; form_ < N_FORMS; form_++)                               \
			expect_ids((f)->tk[form_], form_name[form_], text, sizeof(text) - 1, \
			           flags, want_, sizeof want_ / sizeof want_[0]);           \
	} while (0)

/* ---------------------------------------------------------------------
 * The tiny vocabulary
 * ------------------------------------------------------------------- */

static void test_loads_every_form(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < N_FORMS; i++) {
		const struct ld_tokenizer *tk = f->tk[i];
		assert_int_equal(ld_tok_vocab_size(tk), TINY_VOCAB);
		assert_int_equal(ld_tok_n_bpe(tk), 277);
		assert_int_equal(ld_tok_bos(tk), TINY_BOS);
		assert_int_equal(ld_tok_eos(tk), TINY_EOS);
		assert_int_equal(ld_tok_special_id(tk, "<|eot_id|>"), TINY_EOT);
		assert_int_equal(ld_tok_special_id(tk, "<|start_header_id|>"), 277 + 6);
		assert_int_equal(ld_tok_special_id(tk, "<|reserved_special_token_247|>"), 277 + 255);
		assert_int_equal(ld_tok_special_id(tk, "<|no_such_token|>"), -1);
		assert_true(ld_tok_is_special(tk, TINY_EOT));
		assert_false(ld_tok_is_special(tk, 260));
		size_t len;
		const uint8_t *b = ld_tok_bytes(tk, 260, &len);
		assert_non_null(b);
		assert_int_equal(len, 4);
		assert_memory_equal(b, " the", 4);
		assert_null(ld_tok_bytes(tk, TINY_VOCAB, &len));
		assert_null(ld_tok_bytes(tk, -1, &len));
	}
	/* The directory search found the file it should have. */
	assert_string_equal(ld_tok_path(f->tk[FORM_HF]), TINY_HF_DIR "/tokenizer.json");
	assert_string_equal(ld_tok_path(f->tk[FORM_META_DIR]), TINY_META_DIR "/original/tokenizer.model");
}

/* BPE merges the best-ranked pair first, wherever it is. */
static void test_merge_order(void **state)
{
	struct fixture *f = *state;
	/* a b c: "bc" (256) outranks the leftmost "ab" (257): a + bc. */
	EXPECT(f, "abc", 0, 'a', 256);
	/* Equal ranks: the leftmost pair goes first. */
	EXPECT(f, "aaa", 0, 264, 'a');
	EXPECT(f, "aaaa", 0, 264, 264);
	/* Merges build on merges: in + g -> ing, twice. */
	EXPECT(f, "inging", 0, 262, 262);
	/* " t" + "he" -> " the"; " w" + "or" -> " wor", + "ld" -> " world". */
	EXPECT(f, " the world", 0, 260, 272);
	/* Numbers split in threes before BPE: "12345" is "123" "45". */
	EXPECT(f, "12345", 0, 275, '4', '5');
}

/* A piece that is itself a token is taken whole, even if no merges lead
 * there ("hello" cannot be built from "he" + "l" + "l" + "o"). */
static void test_whole_piece(void **state)
{
	struct fixture *f = *state;
	EXPECT(f, "hello", 0, 263);
	/* " hello" (with its space) is a different piece, not a token. */
	EXPECT(f, " hello", 0, ' ', 258, 'l', 'l', 'o');
	EXPECT(f, "hellos", 0, 258, 'l', 'l', 'o', 's');
}

/* Bytes no multi-byte token covers are their single-byte tokens, and
 * input that is not UTF-8 is encoded, never refused. */
static void test_byte_fallback(void **state)
{
	struct fixture *f = *state;
	EXPECT(f, "\xF0\x9F\x99\x82", 0, 0xF0, 0x9F, 0x99, 0x82); /* U+1F642, not in the vocabulary */
	EXPECT(f, "\xC3\xA9", 0, 267);                            /* é is one token */
	EXPECT(f, "\xFF\xFE", 0, 0xFF, 0xFE);                     /* never UTF-8 */
	EXPECT(f, "a\xC3", 0, 'a', 0xC3);                         /* a character cut short */
	EXPECT(f, "\xED\xA0\x80", 0, 0xED, 0xA0, 0x80);           /* a UTF-16 surrogate */
	EXPECT(f, "\xC0\xAF", 0, 0xC0, 0xAF);                     /* an overlong '/' */
	EXPECT(f, "a\0b", 0, 'a', 0, 'b');                        /* NUL is just a byte */
	EXPECT(f, "", 0);
	EXPECT(f, "", LD_TOK_BOS, TINY_BOS);
}

static void test_specials(void **state)
{
	struct fixture *f = *state;
	/* Allowed: the text is the token. */
	EXPECT(f, "hello<|eot_id|>", LD_TOK_BOS | LD_TOK_ALLOW_SPECIAL, TINY_BOS, 263, TINY_EOT);
	EXPECT(f, "<|begin_of_text|><|end_of_text|>", LD_TOK_ALLOW_SPECIAL, TINY_BOS, TINY_EOS);
	/* Not allowed: ten characters of text, pieces "<|" "eot" "_id" "|>". */
	EXPECT(f, "hello<|eot_id|>", LD_TOK_BOS, TINY_BOS, 263, 265, 'e', 'o', 't', '_', 'i', 'd', 266);
	/* Almost a special: stays text even when specials are allowed. */
	EXPECT(f, "<|eot_id|", LD_TOK_ALLOW_SPECIAL, 265, 'e', 'o', 't', '_', 'i', 'd', '|');
	/* A special cuts the text around it: "hello" before it is a piece of its own. */
	EXPECT(f, "a<|eot_id|>hello", LD_TOK_ALLOW_SPECIAL, 'a', TINY_EOT, 263);
}

static void test_decode_and_display(void **state)
{
	struct fixture *f = *state;
	const struct ld_tokenizer *tk = f->tk[FORM_TIKTOKEN];
	static const struct {
		int32_t id;
		const char *shown;
	} cases[] = {
		{ 260, "\xE2\x90\xA3the" }, /* " the" -> "␣the" */
		{ 273, "\\n\\n" },
		{ '\t', "\\t" },
		{ '\r', "\\r" },
		{ '\\', "\\\\" },
		{ 0x01, "\\x01" },
		{ 0x7F, "\\x7F" },
		{ 0xC3, "\\xC3" },          /* half of a character */
		{ 267, "\xC3\xA9" },        /* é, whole */
		{ 'A', "A" },
		{ TINY_EOT, "<|eot_id|>" },
		{ 99999, "<unknown id 99999>" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s = ld_tok_display(tk, cases[i].id);
		assert_non_null(s);
		assert_string_equal(s, cases[i].shown);
		free(s);
	}

	int32_t ids[] = { TINY_BOS, 263, 272, 0xC3, TINY_EOT };
	char *out = NULL;
	size_t len = 0;
	struct ld_err err = { "" };
	assert_int_equal(ld_tok_decode(tk, ids, 5, &out, &len, &err), LD_OK);
	assert_int_equal(len, strlen("<|begin_of_text|>hello world\xC3<|eot_id|>"));
	assert_string_equal(out, "<|begin_of_text|>hello world\xC3<|eot_id|>");
	free(out);
	ids[2] = TINY_VOCAB;
	assert_int_equal(ld_tok_decode(tk, ids, 5, &out, &len, &err), LD_ERR_RANGE);
	assert_null(out);
	assert_non_null(strstr(err.msg, "id 533"));
}

/* A deterministic random number generator (xorshift64*): the same
 * "random" strings on every run. */
static uint64_t next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717u;
}

/* Random text made of fragments that exercise the vocabulary and the
 * pattern, plus raw random bytes (often not UTF-8). */
static size_t random_text(uint64_t *rng, char *buf, size_t cap)
{
	static const char *const frag[] = {
		"a", "b", "c", "ab", "abc", "aa", "he", "hello", " the", "ing", "in", " world", " ",
		"  ", "\n", "\n\n", "\t", "\r\n", "12", "123456", "'s", "'S", "'ll", "é", "É", "\xF0\x9F\x99\x82",
		"<|", "|>", "<|eot_id|>", "<|begin_of_text|>", "!!", "?", ".", "x", "\xFF", "\xC3", "\x80",
		"\xE2\x82", "\0",
	};
	size_t n = 0, parts = next_random(rng) % 24;
	for (size_t i = 0; i < parts; i++) {
		uint64_t r = next_random(rng);
		if (r % 5 == 0) {
			if (n < cap)
				buf[n++] = (char)(r >> 8);
			continue;
		}
		const char *s = frag[(r >> 8) % (sizeof frag / sizeof frag[0])];
		size_t k = s[0] ? strlen(s) : 1;
		if (n + k > cap)
			break;
		memcpy(buf + n, s, k);
		n += k;
	}
	return n;
}

/* decode(encode(x)) == x for any bytes, and all forms give the same ids. */
static void test_round_trip_random(void **state)
{
	struct fixture *f = *state;
	uint64_t rng = 0x9E3779B97F4A7C15u;
	char text[512];
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = random_text(&rng, text, sizeof text);
		unsigned flags = iter % 2 ? LD_TOK_ALLOW_SPECIAL : 0;
		int32_t *first = NULL;
		size_t n_first = 0;
		for (int form = 0; form < N_FORMS; form++) {
			int32_t *ids = NULL;
			size_t n = 0;
			struct ld_err err = { "" };
			assert_int_equal(ld_tok_encode(f->tk[form], text, len, flags, &ids, &n, &err), LD_OK);
			char *back = NULL;
			size_t back_len = 0;
			assert_int_equal(ld_tok_decode(f->tk[form], ids, n, &back, &back_len, &err), LD_OK);
			assert_int_equal(back_len, len);
			assert_memory_equal(back, text, len);
			free(back);
			if (form == 0) {
				first = ids;
				n_first = n;
				continue;
			}
			if (n != n_first || memcmp(ids, first, n * sizeof *ids) != 0)
				print_message("%s and %s disagree on iteration %d\n", form_name[0], form_name[form], iter);
			assert_int_equal(n, n_first);
			assert_memory_equal(ids, first, n * sizeof *ids);
			free(ids);
		}
		free(first);
	}
}

/* The plain quadratic BPE, straight from the definition: the reference
 * the heap-based encoder must agree with. Works on one piece of the tiny
 * vocabulary; lookups scan the vocabulary. */
static int32_t slow_rank(const struct ld_tokenizer *tk, const char *p, size_t n)
{
	for (int32_t id = 0; (size_t)id < ld_tok_n_bpe(tk); id++) {
		size_t len;
		const uint8_t *b = ld_tok_bytes(tk, id, &len);
		if (len == n && memcmp(b, p, n) == 0)
			return id;
	}
	return -1;
}

static size_t slow_bpe(const struct ld_tokenizer *tk, const char *p, size_t n, int32_t *out)
{
	int32_t whole = slow_rank(tk, p, n);
	if (whole >= 0) {
		out[0] = whole;
		return 1;
	}
	size_t start[256], len[256], parts = n;
	for (size_t i = 0; i < n; i++) {
		start[i] = i;
		len[i] = 1;
	}
	for (;;) {
		int32_t best = -1;
		size_t at = 0;
		for (size_t i = 0; i + 1 < parts; i++) {
			int32_t r = slow_rank(tk, p + start[i], len[i] + len[i + 1]);
			if (r >= 0 && (best < 0 || r < best)) {
				best = r;
				at = i;
			}
		}
		if (best < 0)
			break;
		len[at] += len[at + 1];
		memmove(start + at + 1, start + at + 2, (parts - at - 2) * sizeof *start);
		memmove(len + at + 1, len + at + 2, (parts - at - 2) * sizeof *len);
		parts--;
	}
	for (size_t i = 0; i < parts; i++)
		out[i] = slow_rank(tk, p + start[i], len[i]);
	return parts;
}

static void test_matches_quadratic_reference(void **state)
{
	struct fixture *f = *state;
	/* Runs of letters are single pieces, so BPE sees all of it. */
	static const char letters[] = "aabchelloing";
	uint64_t rng = 12345;
	char text[200];
	int32_t want[200];
	for (int iter = 0; iter < 400; iter++) {
		size_t n = 1 + next_random(&rng) % (sizeof text - 1);
		for (size_t i = 0; i < n; i++)
			text[i] = letters[next_random(&rng) % (sizeof letters - 1)];
		size_t n_want = slow_bpe(f->tk[FORM_TIKTOKEN], text, n, want);
		for (int form = 0; form < N_FORMS; form++)
			expect_ids(f->tk[form], form_name[form], text, n, 0, want, n_want);
	}
}

/* A long piece must not take quadratic time (a naive BPE needs minutes
 * for a megabyte); under a sanitizer it is still well under a second. */
static void test_long_piece(void **state)
{
	struct fixture *f = *state;
	size_t n = 300000;
	char *text = malloc(n);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		text[i] = "abcing"[i % 6];
	for (int form = 0; form < N_FORMS; form++) {
		int32_t *ids = NULL;
		size_t n_ids = 0;
		struct ld_err err = { "" };
		assert_int_equal(ld_tok_encode(f->tk[form], text, n, 0, &ids, &n_ids, &err), LD_OK);
		/* "abcing" is a + bc + ing, 50000 times. */
		assert_int_equal(n_ids, 3 * n / 6);
		assert_int_equal(ids[0], 'a');
		assert_int_equal(ids[1], 256);
		assert_int_equal(ids[2], 262);
		free(ids);
	}
	free(text);
}

/* ---------------------------------------------------------------------
 * Hostile files: each gives one clear error, never a crash
 * ------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Load path, expect failure with a message naming the file and holding
 * every fragment in want (NULL-terminated list). */
static void expect_load_error(const char *path, const char *const *want)
{
	struct ld_tokenizer *tk = (struct ld_tokenizer *)1;
	struct ld_err err = { "" };
	enum ld_status st = ld_tok_load_file(&tk, path, &err);
	print_message("  %s\n", err.msg);
	assert_int_not_equal(st, LD_OK);
	assert_null(tk);
	assert_null(strchr(err.msg, '\n'));
	assert_non_null(strstr(err.msg, path));
	for (; *want; want++) {
		if (!strstr(err.msg, *want))
			print_message("  expected \"%s\" in the message\n", *want);
		assert_non_null(strstr(err.msg, *want));
	}
}

static void test_hostile_tiktoken(void **state)
{
	struct fixture *f = *state;
	char huge[8200];
	memset(huge, 'Q', 8000);
	strcpy(huge + 8000, " 0\n");
	static const char binary[] = "\x0a\x0c\x0a\x05<unk>\x15\x00\x00\x00\x00\x18\x02";
	const struct {
		const char *name, *text;
		size_t len; /* 0: strlen(text) */
		const char *want[4]; /* NULL-terminated */
	} cases[] = {
		{ "empty", "", 0, { "empty file" } },
		{ "blank", "\n\n  \n", 0, { "empty file" } },
		{ "bad_char", "YQ== 0\nY!== 1\n", 0, { "line 2", "bad base64", "alphabet" } },
		{ "bad_len", "YQ= 0\n", 0, { "line 1", "bad base64", "multiple of 4" } },
		{ "bad_pad", "Y=Q= 0\n", 0, { "line 1", "bad base64" } },
		{ "stray_bits", "YR== 0\n", 0, { "line 1", "non-canonical" } },
		{ "no_space", "YQ==\n", 0, { "line 1", "no space" } },
		{ "no_rank", "YQ== \n", 0, { "line 1", "no rank" } },
		{ "rank_text", "YQ== 0\nYg== one\n", 0, { "line 2", "not a number" } },
		{ "rank_negative", "YQ== -1\n", 0, { "line 1", "not a number" } },
		{ "rank_huge", "YQ== 99999999999999999999\n", 0, { "line 1", "too large" } },
		{ "duplicate_rank", "YQ== 0\nYg== 0\n", 0, { "line 2", "rank 0 again" } },
		{ "gap", "YQ== 0\nYg== 2\n", 0, { "line 2", "rank 2, expected 1" } },
		{ "out_of_order", "Yg== 1\nYQ== 0\n", 0, { "line 1", "rank 1, expected 0" } },
		{ "same_bytes", "YQ== 0\nYQ== 1\n", 0, { "line 2", "same bytes as id 0" } },
		{ "empty_line", "YQ== 0\n\nYg== 1\n", 0, { "line 2", "empty line" } },
		{ "truncated", "YQ== 0\nYg", 0, { "line 2", "cut short" } },
		{ "huge_token", huge, 0, { "line 1", "base64 characters" } },
		{ "sentencepiece", binary, sizeof binary - 1, { "binary", "SentencePiece" } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "%s/%s.model", f->tmpdir, cases[i].name);
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		write_file(path, cases[i].text, len);
		expect_load_error(path, cases[i].want);
	}
	static const char *const no_file[] = { "No such file", NULL };
	expect_load_error("data/tok/no-such-tokenizer.model", no_file);
	struct ld_tokenizer *tk = NULL;
	struct ld_err err = { "" };
	assert_int_equal(ld_tok_load_dir(&tk, "data/tok", &err), LD_ERR_IO);
	assert_non_null(strstr(err.msg, "data/tok: no tokenizer.json"));
}

/* Write a tokenizer.json with Llama 3's pre-tokenizer and the given model
 * parts (JSON text; NULL leaves the key out). */
static void write_hf(const char *path, const char *model_type, const char *vocab, const char *merges,
                     const char *pattern)
{
	json_t *model = json_object();
	json_object_set_new(model, "type", json_string(model_type));
	json_object_set_new(model, "ignore_merges", json_true());
	if (vocab)
		json_object_set_new(model, "vocab", json_loads(vocab, 0, NULL));
	if (merges)
		json_object_set_new(model, "merges", json_loads(merges, 0, NULL));
	json_t *root = json_pack("{s:{s:s, s:{s:s}, s:s}, s:o}", "pre_tokenizer", "type", "Split", "pattern",
	                         "Regex", pattern, "behavior", "Isolated", "model", model);
	assert_non_null(root);
	assert_int_equal(json_dump_file(root, path, 0), 0);
	json_decref(root);
}

static void test_hostile_json(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name, *type, *vocab, *merges, *pattern;
		const char *want[4]; /* NULL-terminated */
	} cases[] = {
		{ "no_merges", "BPE", "{\"a\": 0, \"b\": 1}", NULL, LD_TOK_PATTERN, { "no model.merges" } },
		{ "no_vocab", "BPE", NULL, "[]", LD_TOK_PATTERN, { "no model.vocab" } },
		{ "empty_vocab", "BPE", "{}", "[]", LD_TOK_PATTERN, { "model.vocab is empty" } },
		{ "vocab_gap", "BPE", "{\"a\": 0, \"b\": 2}", "[]", LD_TOK_PATTERN, { "id 1 is missing" } },
		{ "vocab_dup_id", "BPE", "{\"a\": 0, \"b\": 0}", "[]", LD_TOK_PATTERN, { "\"b\"", "given twice" } },
		{ "vocab_not_int", "BPE", "{\"a\": \"0\"}", "[]", LD_TOK_PATTERN, { "not an integer" } },
		{ "vocab_not_bytes", "BPE", "{\"\\u4e00\": 0}", "[]", LD_TOK_PATTERN, { "GPT-2" } },
		{ "merge_unknown", "BPE", "{\"a\": 0, \"b\": 1}", "[\"a z\"]", LD_TOK_PATTERN,
		  { "merges[0]", "\"z\"", "not in model.vocab" } },
		{ "merge_result", "BPE", "{\"a\": 0, \"b\": 1}", "[\"a b\"]", LD_TOK_PATTERN,
		  { "merges[0]", "\"a\" + \"b\" is not in model.vocab" } },
		{ "merge_shape", "BPE", "{\"a\": 0, \"b\": 1, \"ab\": 2}", "[\"ab\"]", LD_TOK_PATTERN,
		  { "merges[0]", "expected" } },
		{ "merge_twice", "BPE", "{\"a\": 0, \"b\": 1, \"ab\": 2}", "[\"a b\", [\"a\", \"b\"]]", LD_TOK_PATTERN,
		  { "merges[1]", "same pair as merges[0]" } },
		{ "unigram", "Unigram", "{\"a\": 0}", "[]", LD_TOK_PATTERN, { "model.type is \"Unigram\"" } },
		{ "other_regex", "BPE", "{\"a\": 0}", "[]", "\\w+", { "not Llama 3's pattern" } },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "%s/%s.json", f->tmpdir, cases[i].name);
		write_hf(path, cases[i].type, cases[i].vocab, cases[i].merges, cases[i].pattern);
		expect_load_error(path, cases[i].want);
	}
	static const struct {
		const char *name, *text, *want[4];
	} raw[] = {
		{ "not_json", "{ \"model\": ", { "line 1" } },
		{ "no_model", "{}", { "no \"model\" object" } },
		{ "duplicate_key", "{\"model\": {}, \"model\": {}}", { "duplicate" } },
	};
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "%s/%s.json", f->tmpdir, raw[i].name);
		write_file(path, raw[i].text, strlen(raw[i].text));
		expect_load_error(path, raw[i].want);
	}
}

/* A vocabulary without every single byte loads, but a byte it cannot
 * spell is an error naming the byte, not a crash or a silent drop. */
static void test_missing_bytes(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof path, "%s/ab.model", f->tmpdir);
	write_file(path, "YQ== 0\nYg== 1\nYWI= 2\n", strlen("YQ== 0\nYg== 1\nYWI= 2\n")); /* a, b, ab */
	struct ld_tokenizer *tk = NULL;
	struct ld_err err = { "" };
	assert_int_equal(ld_tok_load_file(&tk, path, &err), LD_OK);
	assert_int_equal(ld_tok_vocab_size(tk), 3 + 256);
	static const int32_t ab[] = { 2, 0 };
	expect_ids(tk, "a b ab", "aba", 3, 0, ab, 2);
	int32_t *ids = (int32_t *)1;
	size_t n = 7;
	assert_int_equal(ld_tok_encode(tk, "abz", 3, 0, &ids, &n, &err), LD_ERR_RANGE);
	assert_null(ids);
	assert_int_equal(n, 0);
	print_message("  %s\n", err.msg);
	assert_non_null(strstr(err.msg, "input byte 2 (0x7A) has no token"));
	ld_tok_free(tk);
}

/* tokenizer.json -> tokenizer.model gives exactly the tiktoken file. */
static void test_write_tiktoken(void **state)
{
	struct fixture *f = *state;
	char path[128];
	snprintf(path, sizeof path, "%s/converted.model", f->tmpdir);
	struct ld_err err = { "" };
	assert_int_equal(ld_tok_write_tiktoken(f->tk[FORM_HF], path, 0, &err), LD_OK);

	FILE *a = fopen(path, "rb"), *b = fopen(TINY_MODEL, "rb");
	assert_non_null(a);
	assert_non_null(b);
	static char got[8192], want[8192];
	size_t n_got = fread(got, 1, sizeof got, a), n_want = fread(want, 1, sizeof want, b);
	fclose(a);
	fclose(b);
	assert_int_equal(n_got, n_want);
	assert_memory_equal(got, want, n_want);

	/* No silent overwrite; force replaces. */
	assert_int_equal(ld_tok_write_tiktoken(f->tk[FORM_HF_PAIRS], path, 0, &err), LD_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(ld_tok_write_tiktoken(f->tk[FORM_HF_PAIRS], path, 1, &err), LD_OK);
	/* Nothing left behind but the file itself. */
	char cmd[256];
	snprintf(cmd, sizeof cmd, "test $(ls '%s' | grep -c converted) = 1", f->tmpdir);
	assert_int_equal(system(cmd), 0);

	/* Merges that are not in rank order cannot become ranks. */
	snprintf(path, sizeof path, "%s/unordered.json", f->tmpdir);
	write_hf(path, "BPE", "{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4}", "[\"b c\", \"a b\"]",
	         LD_TOK_PATTERN);
	struct ld_tokenizer *tk = NULL;
	assert_int_equal(ld_tok_load_file(&tk, path, &err), LD_OK);
	snprintf(path, sizeof path, "%s/unordered.model", f->tmpdir);
	assert_int_equal(ld_tok_write_tiktoken(tk, path, 0, &err), LD_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "not in rank order"));
	assert_int_equal(access(path, F_OK), -1);
	ld_tok_free(tk);

	/* Nor can merges that leave out a split: ranks would merge a + b
	 * into "ab" where this file never does. */
	snprintf(path, sizeof path, "%s/incomplete.json", f->tmpdir);
	write_hf(path, "BPE", "{\"a\": 0, \"b\": 1, \"ab\": 2}", "[]", LD_TOK_PATTERN);
	assert_int_equal(ld_tok_load_file(&tk, path, &err), LD_OK);
	snprintf(path, sizeof path, "%s/incomplete.model", f->tmpdir);
	assert_int_equal(ld_tok_write_tiktoken(tk, path, 0, &err), LD_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "id 2 is ids 0 + 1 but model.merges has no such rule"));
	ld_tok_free(tk);
}

/* ---------------------------------------------------------------------
 * The real Llama 3 vocabulary (skipped, visibly, when not fetched)
 * ------------------------------------------------------------------- */

static int have_file(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static struct ld_tokenizer *load_real(const char *path)
{
	if (!have_file(path)) {
		print_message("skipped: %s is absent (run `make llama3-tokenizer` to fetch it)\n", path);
		return NULL;
	}
	struct ld_tokenizer *tk = NULL;
	struct ld_err err = { "" };
	if (ld_tok_load_file(&tk, path, &err))
		print_message("%s\n", err.msg);
	assert_non_null(tk);
	return tk;
}

/* LLAMA3_FACTS.md's vectors, through both file formats. */
static void test_llama3_vectors(void **state)
{
	(void)state;
	static const char *const files[] = { LLAMA3_MODEL, LLAMA3_JSON };
	int ran = 0;
	for (size_t i = 0; i < 2; i++) {
		struct ld_tokenizer *tk = load_real(files[i]);
		if (!tk)
			continue;
		ran++;
		assert_int_equal(ld_tok_vocab_size(tk), 128256);
		assert_int_equal(ld_tok_bos(tk), 128000);
		assert_int_equal(ld_tok_eos(tk), 128001);
		assert_int_equal(ld_tok_special_id(tk, "<|eot_id|>"), 128009);
		static const char seed[] = "the answer to the ultimate question of life, the universe, and everything is ";
		static const int32_t seed_ids[] = { 128000, 1820, 4320, 311, 279, 17139, 3488, 315, 2324,
		                                    11, 279, 15861, 11, 323, 4395, 374, 220 };
		expect_ids(tk, files[i], seed, strlen(seed), LD_TOK_BOS, seed_ids, 17);
		static const int32_t hello[] = { 128000, 9906, 11, 1917, 0 };
		expect_ids(tk, files[i], "Hello, world!", 13, LD_TOK_BOS, hello, 5);
		static const char eos[] = "This is a test sentence.<|end_of_text|>";
		static const int32_t eos_ids[] = { 128000, 2028, 374, 264, 1296, 11914, 13, 128001 };
		expect_ids(tk, files[i], eos, strlen(eos), LD_TOK_BOS | LD_TOK_ALLOW_SPECIAL, eos_ids, 8);
		ld_tok_free(tk);
	}
	if (!ran)
		skip();
}

/* Several hundred varied strings whose ids come from an independent
 * Python reference (tests/data/tok/llama3_reference.py), and the same
 * ids from tokenizer.json. */
static void test_llama3_reference_cases(void **state)
{
	(void)state;
	struct ld_tokenizer *tk[2] = { load_real(LLAMA3_MODEL), load_real(LLAMA3_JSON) };
	static const char *const names[2] = { LLAMA3_MODEL, LLAMA3_JSON };
	if (!tk[0] && !tk[1])
		skip();
	json_error_t je;
	json_t *cases = json_load_file(LLAMA3_CASES, JSON_DECODE_ANY, &je);
	if (!cases)
		print_message("%s: line %d: %s\n", LLAMA3_CASES, je.line, je.text);
	assert_non_null(cases);
	assert_true(json_array_size(cases) >= 300);
	size_t i;
	json_t *c;
	json_array_foreach(cases, i, c) {
		const json_t *text = json_object_get(c, "text"), *ids = json_object_get(c, "ids");
		assert_true(json_is_string(text) && json_is_array(ids));
		int32_t want[4096];
		size_t n = json_array_size(ids);
		assert_true(n <= 4096);
		for (size_t k = 0; k < n; k++)
			want[k] = (int32_t)json_integer_value(json_array_get(ids, k));
		for (int t = 0; t < 2; t++)
			if (tk[t])
				expect_ids(tk[t], names[t], json_string_value(text), json_string_length(text), 0, want, n);
	}
	json_decref(cases);
	ld_tok_free(tk[0]);
	ld_tok_free(tk[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_every_form),
		cmocka_unit_test(test_merge_order),
		cmocka_unit_test(test_whole_piece),
		cmocka_unit_test(test_byte_fallback),
		cmocka_unit_test(test_specials),
		cmocka_unit_test(test_decode_and_display),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_matches_quadratic_reference),
		cmocka_unit_test(test_long_piece),
		cmocka_unit_test(test_hostile_tiktoken),
		cmocka_unit_test(test_hostile_json),
		cmocka_unit_test(test_missing_bytes),
		cmocka_unit_test(test_write_tiktoken),
		cmocka_unit_test(test_llama3_vectors),
		cmocka_unit_test(test_llama3_reference_cases),
	};
	return cmocka_run_group_tests_name("tokenizer", tests, setup, teardown);
}
