/* tok_load.c - the two files a Llama 3 vocabulary comes in, read and
 * written.
 *
 * tiktoken (Meta's tokenizer.model), one token per line:
 *     IQ== 0          base64 of the token's bytes, a space, its rank
 *     Ig== 1
 *     ...
 *     IGJyb3RoZXI= 128004 ...
 * The rank is the id and the merge priority at once. The file holds only
 * the byte-pair tokens; the 256 special tokens follow implicitly.
 *
 * Hugging Face tokenizer.json, the parts we read:
 *     "model": { "type": "BPE", "ignore_merges": true,
 *                "vocab": { "!": 0, ..., "Ġthe": 279, ... },
 *                "merges": [ "Ġ t", "Ġt he", ... ] },
 *     "added_tokens": [ { "id": 128000, "content": "<|begin_of_text|>", ... } ]
 * Vocabulary strings spell bytes with GPT-2's printable stand-ins (a space
 * is "Ġ", a newline "Ċ"), so that a JSON file can hold any byte.
 *
 * Files are untrusted: every error names the file and the line (or JSON
 * entry) and says what was expected.
 */
#include "tok_internal.h"
#include "gguf.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------
 * base64 (RFC 4648, with '=' padding), as tiktoken writes it
 * ------------------------------------------------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decode n characters of base64 into out (room for cap bytes). Returns
 * NULL on success, else why it is not base64. Strict: only the canonical
 * spelling of each byte string is accepted, so that writing the bytes back
 * gives the very same line. */
static const char *b64_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	if (n == 0)
		return "empty base64";
	if (n % 4 != 0)
		return "base64 length is not a multiple of 4 (cut short?)";
	size_t pad = 0;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	size_t len = n / 4 * 3 - pad;
	if (len > cap)
		return "token too long";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t chars = (i + 4 == n) ? 4 - pad : 4; /* data characters in this quad */
		for (size_t j = 0; j < 4; j++) {
			int d = 0;
			if (j < chars) {
				d = b64_value(s[i + j]);
				if (d < 0)
					return s[i + j] == '=' ? "'=' before the end" : "a character outside the base64 alphabet";
			} else if (s[i + j] != '=') {
				return "bad padding";
			}
			v = v << 6 | (uint32_t)d;
		}
		/* 4 characters carry 24 bits = 3 bytes; padding drops 1 or 2 of
		 * them, and the bits of a dropped byte must be zero. */
		size_t bytes = chars - 1;
		if (bytes < 3 && (v & ((1u << (8 * (3 - bytes))) - 1)) != 0)
			return "non-canonical base64 (stray bits before the padding)";
		for (size_t j = 0; j < bytes; j++)
			out[o++] = (uint8_t)(v >> (16 - 8 * j));
	}
	*out_len = o;
	return NULL;
}

/* Write base64 of n bytes to f. */
static void b64_write(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		size_t k = n - i < 3 ? n - i : 3;
		uint32_t v = (uint32_t)p[i] << 16;
		if (k > 1) v |= (uint32_t)p[i + 1] << 8;
		if (k > 2) v |= p[i + 2];
		char q[4];
		for (size_t j = 0; j < 4; j++)
			q[j] = j <= k ? b64_alphabet[(v >> (18 - 6 * j)) & 63] : '=';
		fwrite(q, 1, 4, f);
	}
}

/* ---------------------------------------------------------------------
 * tiktoken
 * ------------------------------------------------------------------- */

/* Names of the 256 specials, in id order after the last rank. Llama 3.1's
 * list (LLAMA3_FACTS.md); Llama 3.0 called 128004, 128005, 128008 and
 * 128010+ reserved tokens, but the ids that matter (begin/end of text,
 * headers, eot) are the same in both. */
static void llama3_special_name(size_t i, char *buf, size_t cap)
{
	static const char *const named[] = {
		"<|begin_of_text|>",           "<|end_of_text|>",
		"<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
		"<|finetune_right_pad_id|>",   "<|reserved_special_token_2|>",
		"<|start_header_id|>",         "<|end_header_id|>",
		"<|eom_id|>",                  "<|eot_id|>",
		"<|python_tag|>",
	};
	size_t n_named = sizeof named / sizeof named[0];
	if (i < n_named)
		snprintf(buf, cap, "%s", named[i]);
	else /* reserved 0..2 are used above, so the rest count on from 3 */
		snprintf(buf, cap, "<|reserved_special_token_%zu|>", i - n_named + 3);
}

/* A SentencePiece model (Llama 1 and 2 call theirs tokenizer.model too) is
 * a binary protobuf; base64 lines never hold control bytes. */
static int looks_binary(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len && i < 4096; i++)
		if (buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t')
			return 1;
	return 0;
}

enum ld_status tok_load_tiktoken(struct ld_tokenizer *tk, const uint8_t *buf, size_t len,
                                 struct ld_err *err)
{
	tk->rule = TOK_RULE_RANKS;
	tk->whole_piece_first = 1; /* tiktoken looks the whole piece up first */
	if (looks_binary(buf, len))
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: binary data, not tiktoken text (a SentencePiece model from Llama 1/2?); "
		               "expected lines \"base64 rank\"", tk->path);

	/* One token a line ("AA== 0" at the shortest), its bytes fewer than
	 * its base64: room for them all. */
	size_t lines = 1;
	for (const uint8_t *q = buf, *end = buf + len; (q = memchr(q, '\n', (size_t)(end - q))); q++)
		lines++;
	if (lines > len / 7 + 1)
		lines = len / 7 + 1;
	enum ld_status rst = tok_reserve(tk, lines + LD_TOK_N_SPECIAL, len, err);
	if (rst)
		return rst;

	/* The longest base64 spelling of a token we accept. */
	const size_t max_b64 = (LD_TOK_MAX_TOKEN_BYTES + 2) / 3 * 4;
	uint8_t tok[LD_TOK_MAX_TOKEN_BYTES];
	size_t n_ranks = 0, line = 0, pos = 0;
	while (pos < len) {
		line++;
		const uint8_t *s = buf + pos;
		const uint8_t *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + 1;
		if (n > 0 && s[n - 1] == '\r') /* tolerate Windows line ends */
			n--;
		if (n == 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: empty line, expected \"base64 rank\"",
			               tk->path, line);

		const uint8_t *sp = memchr(s, ' ', n);
		if (!sp)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: expected \"base64 rank\", found no space%s",
			               tk->path, line, nl ? "" : " (file cut short?)");
		size_t b64_len = (size_t)(sp - s);
		if (b64_len > max_b64)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: a token of %zu base64 characters; at most %zu (%d bytes) make sense",
			               tk->path, line, b64_len, max_b64, LD_TOK_MAX_TOKEN_BYTES);
		size_t tok_len = 0;
		const char *why = b64_decode(s, b64_len, tok, sizeof tok, &tok_len);
		if (why)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: bad base64 \"%.*s\": %s", tk->path, line,
			               (int)(b64_len < 64 ? b64_len : 64), (const char *)s, why);

		/* The rank: plain decimal digits, small enough that the
		 * specials after it still fit an int32 id. */
		const uint8_t *d = sp + 1, *end = s + n;
		if (d == end)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: no rank after the base64%s", tk->path, line,
			               nl ? "" : " (file cut short?)");
		uint64_t rank = 0;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: rank \"%.*s\" is not a number", tk->path,
				               line, (int)(end - sp - 1 < 32 ? end - sp - 1 : 32), (const char *)sp + 1);
			rank = rank * 10 + (uint64_t)(*d - '0');
			if (rank > (uint64_t)INT32_MAX - LD_TOK_N_SPECIAL)
				return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: rank too large", tk->path, line);
		}

		/* Ranks are ids, so they must be exactly 0, 1, 2, ... in file
		 * order: a gap would be an id with no bytes, a repeat two
		 * tokens fighting for one id. */
		if (rank < n_ranks)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: rank %llu again (first on line %llu)",
			               tk->path, line, (unsigned long long)rank, (unsigned long long)rank + 1);
		if (rank > n_ranks)
			return ld_fail(err, LD_ERR_FORMAT, "%s: line %zu: rank %llu, expected %zu (ranks count up from 0, one per line, no gaps)",
			               tk->path, line, (unsigned long long)rank, n_ranks);
		enum ld_status st = tok_add(tk, (int32_t)rank, tok, tok_len, 0, err);
		if (st) {
			char where[4200];
			snprintf(where, sizeof where, "%s: line %zu", tk->path, line);
			return ld_fail_prefix(err, st, where);
		}
		n_ranks++;
	}
	tk->n_bpe = n_ranks;

	for (size_t i = 0; i < LD_TOK_N_SPECIAL; i++) {
		char name[64];
		llama3_special_name(i, name, sizeof name);
		enum ld_status st = tok_add(tk, (int32_t)(n_ranks + i), (const uint8_t *)name,
		                            strlen(name), 1, err);
		if (st)
			return ld_fail_prefix(err, st, tk->path);
	}
	return LD_OK;
}

/* ---------------------------------------------------------------------
 * Hugging Face tokenizer.json
 * ------------------------------------------------------------------- */

/* GPT-2's byte-level alphabet: every byte gets a printable character.
 * The 188 bytes that are already printable in Latin-1 ('!'..'~',
 * '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 (controls,
 * space, DEL, no-break space, soft hyphen) are moved, in byte order, to
 * U+0100 and up: byte 0 is 'Ā', space (32) is 'Ġ', newline (10) is 'Ċ'.
 * Returns the byte, or -1 if cp is no stand-in. */
static int gpt2_char_to_byte(uint32_t cp)
{
	if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
		return (int)cp;
	if (cp < 0x100 || cp >= 0x100 + 68)
		return -1;
	uint32_t k = cp - 0x100; /* the k-th non-printable byte */
	if (k < 33)
		return (int)k;             /* 0x00..0x20 */
	if (k < 33 + 34)
		return (int)(0x7F + k - 33); /* 0x7F..0xA0 */
	return 0xAD;                   /* the soft hyphen */
}

/* Turn a vocabulary string (UTF-8, in GPT-2 stand-ins) into its bytes.
 * Returns NULL on success, else why not. */
static const char *gpt2_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = tok_utf8_len(p + i, n - i);
		if (k == 0)
			return "not UTF-8";
		uint32_t cp = k == 1 ? p[i] : (uint32_t)(p[i] & (0xFF >> (k + 1)));
		for (size_t j = 1; j < k; j++)
			cp = cp << 6 | (p[i + j] & 0x3F);
		int b = gpt2_char_to_byte(cp);
		if (b < 0)
			return "a character that is not one of GPT-2's byte stand-ins";
		if (o == cap)
			return "token too long";
		out[o++] = (uint8_t)b;
		i += k;
	}
	if (o == 0)
		return "empty token";
	*out_len = o;
	return NULL;
}

/* Our pre-split is Llama 3's pattern; a file that pre-splits another way
 * would get ids its authors never meant, so refuse it. Walks nested
 * "Sequence" pre-tokenizers. */
static const char *check_pre_tokenizer(const json_t *pt)
{
	if (!json_is_object(pt))
		return "pre_tokenizer is missing: Llama 3 splits text with a Split regex first";
	const char *type = json_string_value(json_object_get(pt, "type"));
	if (!type)
		return "pre_tokenizer has no type";
	if (strcmp(type, "Sequence") == 0) {
		const json_t *list = json_object_get(pt, "pretokenizers");
		if (!json_is_array(list) || json_array_size(list) == 0)
			return "pre_tokenizer Sequence without pretokenizers";
		int seen_split = 0;
		for (size_t i = 0; i < json_array_size(list); i++) {
			const json_t *sub = json_array_get(list, i);
			const char *st = json_string_value(json_object_get(sub, "type"));
			if (st && strcmp(st, "Split") == 0)
				seen_split = 1;
			if (st && strcmp(st, "ByteLevel") == 0 && !seen_split)
				return "pre_tokenizer applies ByteLevel before its Split";
			const char *why = check_pre_tokenizer(sub);
			if (why)
				return why;
		}
		return seen_split ? NULL : "pre_tokenizer has no Split: Llama 3 splits text with a regex";
	}
	if (strcmp(type, "Split") == 0) {
		const char *re = json_string_value(json_object_get(json_object_get(pt, "pattern"), "Regex"));
		if (!re)
			return "pre_tokenizer Split has no pattern.Regex";
		if (strcmp(re, LD_TOK_PATTERN) != 0)
			return "pre_tokenizer Split regex is not Llama 3's pattern";
		const char *behavior = json_string_value(json_object_get(pt, "behavior"));
		if (behavior && strcmp(behavior, "Isolated") != 0)
			return "pre_tokenizer Split behavior is not \"Isolated\"";
		return NULL;
	}
	if (strcmp(type, "ByteLevel") == 0) {
		/* use_regex would split a second time with GPT-2's pattern. */
		if (json_is_true(json_object_get(pt, "use_regex")))
			return "pre_tokenizer ByteLevel has use_regex true (GPT-2's split, not Llama 3's)";
		if (json_is_true(json_object_get(pt, "add_prefix_space")))
			return "pre_tokenizer ByteLevel has add_prefix_space true (Llama 3 adds no space)";
		return NULL;
	}
	return "pre_tokenizer of a type Llama 3 does not use";
}

/* Look up a GPT-2-spelled string among the BPE tokens: its id, or -1. */
static int32_t vocab_id(const struct ld_tokenizer *tk, const char *s, size_t n, const char **why)
{
	uint8_t bytes[LD_TOK_MAX_TOKEN_BYTES];
	size_t len;
	*why = gpt2_decode(s, n, bytes, sizeof bytes, &len);
	if (*why)
		return -1;
	int32_t id = tok_lookup(tk, &tk->bpe, bytes, len);
	if (id < 0)
		*why = "not in model.vocab";
	return id;
}

/* Split merges[r] into its two halves: "left right" (older files) or
 * ["left", "right"] (newer files). Byte-level strings never contain a
 * real space (it is spelled 'Ġ'), so the one space separates them. */
static int merge_halves(const json_t *m, const char **l, size_t *ln, const char **r, size_t *rn)
{
	if (json_is_string(m)) {
		const char *s = json_string_value(m);
		size_t n = json_string_length(m);
		const char *sp = memchr(s, ' ', n);
		if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
			return 0;
		*l = s;
		*ln = (size_t)(sp - s);
		*r = sp + 1;
		*rn = (size_t)(s + n - sp - 1);
		return 1;
	}
	if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
	    json_is_string(json_array_get(m, 1))) {
		*l = json_string_value(json_array_get(m, 0));
		*ln = json_string_length(json_array_get(m, 0));
		*r = json_string_value(json_array_get(m, 1));
		*rn = json_string_length(json_array_get(m, 1));
		return 1;
	}
	return 0;
}

static enum ld_status load_vocab(struct ld_tokenizer *tk, const json_t *vocab, struct ld_err *err)
{
	const char *key;
	const json_t *val;
	size_t max_id = 0;
	json_object_foreach((json_t *)vocab, key, val) {
		if (!json_is_integer(val) || json_integer_value(val) < 0 ||
		    json_integer_value(val) > INT32_MAX - LD_TOK_N_SPECIAL)
			return ld_fail(err, LD_ERR_FORMAT, "%s: model.vocab \"%.64s\": id is not an integer 0..%d",
			               tk->path, key, INT32_MAX - LD_TOK_N_SPECIAL);
		int32_t id = (int32_t)json_integer_value(val);
		uint8_t bytes[LD_TOK_MAX_TOKEN_BYTES];
		size_t len;
		const char *why = gpt2_decode(key, strlen(key), bytes, sizeof bytes, &len);
		if (why)
			return ld_fail(err, LD_ERR_FORMAT, "%s: model.vocab \"%.64s\": %s", tk->path, key, why);
		enum ld_status st = tok_add(tk, id, bytes, len, 0, err);
		if (st) {
			char where[4200];
			snprintf(where, sizeof where, "%s: model.vocab \"%.64s\"", tk->path, key);
			return ld_fail_prefix(err, st, where);
		}
		if ((size_t)id > max_id)
			max_id = (size_t)id;
	}
	size_t n = json_object_size(vocab);
	if (n == 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: model.vocab is empty", tk->path);
	/* n distinct ids all below n means exactly 0..n-1. */
	if (max_id >= n) {
		size_t missing = 0;
		while (tk->ids[missing].len)
			missing++;
		return ld_fail(err, LD_ERR_FORMAT, "%s: model.vocab has %zu tokens but id %zu; id %zu is missing (ids must be 0..%zu)",
		               tk->path, n, max_id, missing, n - 1);
	}
	tk->n_bpe = n;
	return LD_OK;
}

static enum ld_status load_merges(struct ld_tokenizer *tk, const json_t *merges, struct ld_err *err)
{
	if (!json_is_array(merges))
		return ld_fail(err, LD_ERR_FORMAT, "%s: no model.merges list: a BPE tokenizer.json needs its merge rules",
		               tk->path);
	size_t n = json_array_size(merges);
	if (n > UINT32_MAX)
		return ld_fail(err, LD_ERR_FORMAT, "%s: model.merges: %zu rules is too many", tk->path, n);
	for (size_t r = 0; r < n; r++) {
		const json_t *m = json_array_get(merges, r);
		const char *l, *rt, *why;
		size_t ln, rn;
		if (!merge_halves(m, &l, &ln, &rt, &rn))
			return ld_fail(err, LD_ERR_FORMAT, "%s: model.merges[%zu]: expected \"left right\" or [\"left\", \"right\"]",
			               tk->path, r);
		int32_t left = vocab_id(tk, l, ln, &why);
		if (left < 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: model.merges[%zu]: \"%.*s\": %s", tk->path, r,
			               (int)(ln < 64 ? ln : 64), l, why);
		int32_t right = vocab_id(tk, rt, rn, &why);
		if (right < 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: model.merges[%zu]: \"%.*s\": %s", tk->path, r,
			               (int)(rn < 64 ? rn : 64), rt, why);
		/* The merged token is the two halves' bytes back to back. */
		const struct tok_entry *a = &tk->ids[left], *b = &tk->ids[right];
		uint8_t both[2 * LD_TOK_MAX_TOKEN_BYTES];
		memcpy(both, tk->arena + a->off, a->len);
		memcpy(both + a->len, tk->arena + b->off, b->len);
		int32_t merged = tok_lookup(tk, &tk->bpe, both, (size_t)a->len + b->len);
		if (merged < 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: model.merges[%zu]: \"%.*s\" + \"%.*s\" is not in model.vocab",
			               tk->path, r, (int)(ln < 64 ? ln : 64), l, (int)(rn < 64 ? rn : 64), rt);
		enum ld_status st = tok_add_merge(tk, left, right, merged, (uint32_t)r, err);
		if (st) {
			char where[4200];
			snprintf(where, sizeof where, "%s: model.merges[%zu]", tk->path, r);
			return ld_fail_prefix(err, st, where);
		}
	}
	return LD_OK;
}

static enum ld_status load_added(struct ld_tokenizer *tk, const json_t *added, struct ld_err *err)
{
	if (!added || json_is_null(added))
		return LD_OK;
	if (!json_is_array(added))
		return ld_fail(err, LD_ERR_FORMAT, "%s: added_tokens is not a list", tk->path);
	for (size_t i = 0; i < json_array_size(added); i++) {
		const json_t *t = json_array_get(added, i);
		const json_t *id = json_object_get(t, "id");
		const json_t *content = json_object_get(t, "content");
		if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX ||
		    !json_is_string(content))
			return ld_fail(err, LD_ERR_FORMAT, "%s: added_tokens[%zu]: expected {\"id\": integer, \"content\": string}",
			               tk->path, i);
		enum ld_status st = tok_add(tk, (int32_t)json_integer_value(id),
		                            (const uint8_t *)json_string_value(content),
		                            json_string_length(content), 1, err);
		if (st) {
			char where[4200];
			snprintf(where, sizeof where, "%s: added_tokens[%zu]", tk->path, i);
			return ld_fail_prefix(err, st, where);
		}
	}
	return LD_OK;
}

enum ld_status tok_load_hf_json(struct ld_tokenizer *tk, const uint8_t *buf, size_t len,
                                struct ld_err *err)
{
	enum ld_status st = LD_OK;
	json_error_t je;
	/* Duplicate keys would silently drop a vocabulary entry. */
	json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return ld_fail(err, LD_ERR_FORMAT, "%s: line %d column %d: %s", tk->path, je.line, je.column,
		               je.text);
	const json_t *model = json_object_get(root, "model");
	if (!json_is_object(model)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: no \"model\" object: not a Hugging Face tokenizer.json",
		             tk->path);
		goto out;
	}
	const char *type = json_string_value(json_object_get(model, "type"));
	if (type && strcmp(type, "BPE") != 0) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: model.type is \"%.32s\", expected \"BPE\"", tk->path, type);
		goto out;
	}
	/* Options Llama 3 leaves off; each would change the ids. */
	static const char *const unsupported[] = { "dropout", "continuing_subword_prefix",
	                                           "end_of_word_suffix", "unk_token" };
	for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
		const json_t *v = json_object_get(model, unsupported[i]);
		if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
			st = ld_fail(err, LD_ERR_FORMAT, "%s: model.%s is set; Llama 3's byte-level BPE does not use it",
			             tk->path, unsupported[i]);
			goto out;
		}
	}
	if (json_is_true(json_object_get(model, "byte_fallback"))) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: model.byte_fallback is true (SentencePiece-style <0xNN> tokens), "
		             "Llama 3 is byte-level", tk->path);
		goto out;
	}
	const json_t *norm = json_object_get(root, "normalizer");
	if (norm && !json_is_null(norm)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: has a normalizer; Llama 3 encodes text as it is", tk->path);
		goto out;
	}
	const char *why = check_pre_tokenizer(json_object_get(root, "pre_tokenizer"));
	if (why) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: %s", tk->path, why);
		goto out;
	}

	tk->rule = TOK_RULE_MERGES;
	/* ignore_merges: a piece that is already a token is taken whole, as
	 * tiktoken does. Without it only the merges decide. */
	tk->whole_piece_first = json_is_true(json_object_get(model, "ignore_merges"));

	const json_t *vocab = json_object_get(model, "vocab");
	if (!json_is_object(vocab)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: no model.vocab object", tk->path);
		goto out;
	}
	st = load_vocab(tk, vocab, err);
	if (!st)
		st = load_merges(tk, json_object_get(model, "merges"), err);
	if (!st)
		st = load_added(tk, json_object_get(root, "added_tokens"), err);
out:
	json_decref(root);
	return st;
}

/* ---------------------------------------------------------------------
 * GGUF metadata (llama.cpp's files carry their tokenizer)
 * ------------------------------------------------------------------- */

/* token_type values (llama.cpp's) */
enum { GGUF_TOK_NORMAL = 1, GGUF_TOK_UNKNOWN = 2, GGUF_TOK_CONTROL = 3, GGUF_TOK_USER = 4,
       GGUF_TOK_UNUSED = 5, GGUF_TOK_BYTE = 6 };

/* The same vocabulary as tokenizer.json, as arrays:
 *   tokenizer.ggml.model       "gpt2" (byte-level BPE)
 *   tokenizer.ggml.pre         "llama-bpe": Llama 3's pre-split pattern
 *   tokenizer.ggml.tokens      id -> string, GPT-2's byte stand-ins for
 *                              ordinary tokens, the text itself for added ones
 *   tokenizer.ggml.token_type  id -> 1 ordinary, 3 control, 4 user-defined
 *                              (both: added tokens), 5 unused (no token)
 *   tokenizer.ggml.merges      "left right", in the order they apply
 * Like Llama 3's tokenizer.json (ignore_merges), a piece that is itself a
 * token is taken whole. */
enum ld_status tok_load_gguf(struct ld_tokenizer *tk, const struct ld_gguf *g, struct ld_err *err)
{
	struct ld_gguf_str model, pre;
	enum ld_status st;
	if ((st = ld_gguf_get_str(g, "tokenizer.ggml.model", &model, err)) != LD_OK)
		return ld_fail(err, st, "%s: no tokenizer in the file (no tokenizer.ggml.model); give token ids with -t",
		               g->path);
	if (model.len == 4 && memcmp(model.p, "none", 4) == 0)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: the file carries no tokenizer (tokenizer.ggml.model is \"none\"); give token ids with -t",
		               g->path);
	if (model.len != 4 || memcmp(model.p, "gpt2", 4) != 0)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: tokenizer.ggml.model is \"%.*s\"; Llama 3's byte-level BPE is \"gpt2\"", g->path,
		               (int)(model.len > 32 ? 32 : model.len), model.p);
	if (ld_gguf_find_kv(g, "tokenizer.ggml.pre")) {
		if ((st = ld_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err)) != LD_OK)
			return st;
		if (!(pre.len == 9 && memcmp(pre.p, "llama-bpe", 9) == 0))
			return ld_fail(err, LD_ERR_FORMAT,
			               "%s: tokenizer.ggml.pre is \"%.*s\": it pre-splits text another way than Llama 3 "
			               "(\"llama-bpe\"), so the ids would differ",
			               g->path, (int)(pre.len > 32 ? 32 : pre.len), pre.p);
	}
	const struct ld_gguf_kv *tokens = ld_gguf_find_kv(g, "tokenizer.ggml.tokens");
	const struct ld_gguf_kv *types = ld_gguf_find_kv(g, "tokenizer.ggml.token_type");
	const struct ld_gguf_kv *merges = ld_gguf_find_kv(g, "tokenizer.ggml.merges");
	if (!tokens || tokens->type != LD_GGUF_ARRAY || tokens->elem != LD_GGUF_STRING || tokens->n == 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.tokens should be a non-empty array of strings",
		               g->path);
	if (tokens->n > LD_TOK_MAX_IDS)
		return ld_fail(err, LD_ERR_RANGE, "%s: tokenizer.ggml.tokens has %zu tokens, more than %d", g->path,
		               tokens->n, LD_TOK_MAX_IDS);
	if (types && (types->type != LD_GGUF_ARRAY || !ld_gguf_type_size(types->elem) ||
	              types->elem == LD_GGUF_F32 || types->elem == LD_GGUF_F64 || types->n != tokens->n))
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: tokenizer.ggml.token_type should be an integer array as long as the tokens (%zu)",
		               g->path, tokens->n);
	if (!merges || merges->type != LD_GGUF_ARRAY || merges->elem != LD_GGUF_STRING)
		return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.merges should be an array of strings", g->path);

	tk->rule = TOK_RULE_MERGES;
	tk->whole_piece_first = 1;
	struct ld_gguf_iter it;
	struct ld_gguf_str s;
	size_t n_normal = 0, id = 0;
	ld_gguf_iter_init(&it, tokens);
	for (; ld_gguf_next_str(&it, &s); id++) {
		int64_t type = types ? ld_gguf_array_i(types, id) : GGUF_TOK_NORMAL;
		int shown = (int)(s.len < 64 ? s.len : 64);
		if (type == GGUF_TOK_UNUSED)
			continue;
		if (type != GGUF_TOK_NORMAL && type != GGUF_TOK_CONTROL && type != GGUF_TOK_USER)
			return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%zu] \"%.*s\" has token_type %lld; "
			               "a byte-level BPE has ordinary (1), control (3) and user-defined (4) tokens",
			               g->path, id, shown, s.p, (long long)type);
		uint8_t bytes[LD_TOK_MAX_TOKEN_BYTES];
		size_t len = s.len;
		const uint8_t *b = (const uint8_t *)s.p;
		if (type == GGUF_TOK_NORMAL) {
			if (n_normal != id)
				return ld_fail(err, LD_ERR_FORMAT,
				               "%s: tokenizer.ggml.tokens[%zu] is an ordinary token after added ones; ordinary "
				               "tokens must come first",
				               g->path, id);
			const char *why = gpt2_decode(s.p, s.len, bytes, sizeof bytes, &len);
			if (why)
				return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%zu] \"%.*s\": %s", g->path, id,
				               shown, s.p, why);
			b = bytes;
			n_normal++;
		}
		if ((st = tok_add(tk, (int32_t)id, b, len, type != GGUF_TOK_NORMAL, err)) != LD_OK) {
			char where[4200];
			snprintf(where, sizeof where, "%s: tokenizer.ggml.tokens[%zu]", g->path, id);
			return ld_fail_prefix(err, st, where);
		}
	}
	tk->n_bpe = n_normal;

	ld_gguf_iter_init(&it, merges);
	if (merges->n > UINT32_MAX)
		return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.merges: %zu rules is too many", g->path, merges->n);
	for (size_t r = 0; ld_gguf_next_str(&it, &s); r++) {
		const char *sp = memchr(s.p, ' ', s.len), *why;
		int shown = (int)(s.len < 64 ? s.len : 64);
		if (!sp || sp == s.p || sp + 1 == s.p + s.len || memchr(sp + 1, ' ', (size_t)(s.p + s.len - sp - 1)))
			return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.merges[%zu] \"%.*s\": expected \"left right\"",
			               g->path, r, shown, s.p);
		int32_t left = vocab_id(tk, s.p, (size_t)(sp - s.p), &why);
		int32_t right = left < 0 ? -1 : vocab_id(tk, sp + 1, (size_t)(s.p + s.len - sp - 1), &why);
		if (left < 0 || right < 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.merges[%zu] \"%.*s\": %s", g->path, r, shown,
			               s.p, strcmp(why, "not in model.vocab") ? why : "a half is not a token");
		const struct tok_entry *a = &tk->ids[left], *c = &tk->ids[right];
		uint8_t both[2 * LD_TOK_MAX_TOKEN_BYTES];
		memcpy(both, tk->arena + a->off, a->len);
		memcpy(both + a->len, tk->arena + c->off, c->len);
		int32_t merged = tok_lookup(tk, &tk->bpe, both, (size_t)a->len + c->len);
		if (merged < 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: tokenizer.ggml.merges[%zu] \"%.*s\": the pair joined is not a token",
			               g->path, r, shown, s.p);
		if ((st = tok_add_merge(tk, left, right, merged, (uint32_t)r, err)) != LD_OK) {
			char where[4200];
			snprintf(where, sizeof where, "%s: tokenizer.ggml.merges[%zu]", g->path, r);
			return ld_fail_prefix(err, st, where);
		}
	}
	return LD_OK;
}

/* ---------------------------------------------------------------------
 * Writing tiktoken
 * ------------------------------------------------------------------- */

/* tiktoken merges "the pair whose concatenation has the lowest id"; a
 * tokenizer.json merges "the pair listed first". They agree when the list
 * holds every way to split each token into two tokens, ordered by the
 * merged token's id, and whole pieces are looked up first. Llama 3's
 * file is built that way; check it rather than assume it. */
static enum ld_status check_merges_are_ranks(const struct ld_tokenizer *tk, struct ld_err *err)
{
	if (!tk->whole_piece_first)
		return ld_fail(err, LD_ERR_FORMAT, "%s: model.ignore_merges is not true, so its ids cannot be written as tiktoken ranks",
		               tk->path);
	const struct tok_mergemap *m = &tk->merges;
	int32_t *merged_by_rank = malloc((m->count ? m->count : 1) * sizeof *merged_by_rank);
	if (!merged_by_rank)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i].left >= 0)
			merged_by_rank[m->slot[i].rank] = m->slot[i].merged;
	size_t r = 1;
	while (r < m->count && merged_by_rank[r] >= merged_by_rank[r - 1])
		r++;
	enum ld_status st = LD_OK;
	if (r < m->count)
		st = ld_fail(err, LD_ERR_FORMAT, "%s: model.merges[%zu] makes id %d after merges[%zu] made id %d: "
		             "the merges are not in rank order", tk->path, r, merged_by_rank[r], r - 1,
		             merged_by_rank[r - 1]);
	free(merged_by_rank);
	if (st)
		return st;
	for (size_t id = 0; id < tk->n_bpe; id++) {
		const struct tok_entry *e = &tk->ids[id];
		const uint8_t *p = tk->arena + e->off;
		for (size_t k = 1; k < e->len; k++) {
			int32_t left = tok_lookup(tk, &tk->bpe, p, k);
			int32_t right = tok_lookup(tk, &tk->bpe, p + k, e->len - k);
			if (left >= 0 && right >= 0 && !tok_find_merge(tk, left, right))
				return ld_fail(err, LD_ERR_FORMAT, "%s: id %zu is ids %d + %d but model.merges has no such rule: "
				               "ranks would merge what this file does not", tk->path, id, left, right);
		}
	}
	return LD_OK;
}

enum ld_status ld_tok_write_tiktoken(const struct ld_tokenizer *tk, const char *path,
                                     int force, struct ld_err *err)
{
	if (!force && access(path, F_OK) == 0)
		return ld_fail(err, LD_ERR_EXISTS, "%s: already exists, not overwriting it", path);
	if (tk->rule == TOK_RULE_MERGES) {
		enum ld_status st = check_merges_are_ranks(tk, err);
		if (st)
			return st;
	}

	/* Write next to the target, then rename: a reader never sees half a
	 * file, and a failure leaves any old file as it was. */
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	if (!tmp)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		enum ld_status st = ld_fail(err, LD_ERR_IO, "%s: cannot create a temporary file: %s", path,
		                            strerror(errno));
		free(tmp);
		return st;
	}
	fchmod(fd, 0644); /* mkstemp makes it private; a vocabulary is not */
	FILE *f = fdopen(fd, "wb");
	if (!f) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return ld_fail(err, LD_ERR_IO, "%s: %s", path, strerror(errno));
	}
	for (size_t id = 0; id < tk->n_bpe; id++) {
		const struct tok_entry *e = &tk->ids[id];
		b64_write(f, tk->arena + e->off, e->len);
		fprintf(f, " %zu\n", id);
	}
	int bad = ferror(f);
	bad |= fflush(f) != 0;
	bad |= fsync(fd) != 0;
	bad |= fclose(f) != 0;
	/* Without force, link() instead of rename(): it fails if the name
	 * appeared meanwhile, so nothing is ever overwritten by accident. */
	if (!bad)
		bad = force ? rename(tmp, path) != 0 : link(tmp, path) != 0;
	int saved = errno;
	if (bad || !force)
		unlink(tmp);
	free(tmp);
	if (bad)
		return ld_fail(err, saved == EEXIST ? LD_ERR_EXISTS : LD_ERR_IO, "%s: %s", path, strerror(saved));
	return LD_OK;
}
