/* tokenizer.c - the tokenizer object: its id table, the hash tables BPE
 * asks "is this a token?", loading by directory or file, decoding and the
 * display form of a token. The file formats are in tok_load.c, encoding in
 * tok_encode.c.
 */
#include "tok_internal.h"
#include "gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A tokenizer file bigger than this is not a tokenizer (Llama 3's
 * tokenizer.json is 9 MB, its tokenizer.model 2 MB). */
#define TOK_MAX_FILE_BYTES ((size_t)256 << 20)

/* ---------------------------------------------------------------------
 * Hash tables
 * ------------------------------------------------------------------- */

/* FNV-1a: simple, and good enough for short byte strings. */
static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211u;
	}
	return h;
}

/* Mix the two ids of a pair into one well-spread number. */
static uint64_t hash_pair(int32_t left, int32_t right)
{
	uint64_t h = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	return h;
}

static int bytes_equal(const struct ld_tokenizer *tk, int32_t id, const uint8_t *p, size_t n)
{
	const struct tok_entry *e = &tk->ids[id];
	return e->len == n && memcmp(tk->arena + e->off, p, n) == 0;
}

int32_t tok_lookup(const struct ld_tokenizer *tk, const struct tok_bytemap *m,
                   const uint8_t *bytes, size_t len)
{
	if (m->cap == 0)
		return -1;
	uint64_t h = hash_bytes(bytes, len);
	uint32_t check = (uint32_t)(h >> 32);
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct tok_slot s = m->slot[i];
		if (s.id < 0)
			return -1;
		if (s.check == check && bytes_equal(tk, s.id, bytes, len))
			return s.id;
	}
}

/* Put id (whose bytes are already in the arena) into slot array s. */
static void bytemap_place(const struct ld_tokenizer *tk, struct tok_slot *s, size_t cap, int32_t id)
{
	const struct tok_entry *e = &tk->ids[id];
	uint64_t h = hash_bytes(tk->arena + e->off, e->len);
	size_t mask = cap - 1;
	size_t i = h & mask;
	while (s[i].id >= 0)
		i = (i + 1) & mask;
	s[i].id = id;
	s[i].check = (uint32_t)(h >> 32);
}

/* Keep the table at most half full with `more` ids added: double it (at
 * least) and re-place every id. */
static enum ld_status bytemap_grow(const struct ld_tokenizer *tk, struct tok_bytemap *m, size_t more,
                                   struct ld_err *err)
{
	if ((m->count + more) * 2 <= m->cap)
		return LD_OK;
	size_t cap = m->cap ? m->cap * 2 : 1024;
	while (cap < (m->count + more) * 2)
		cap *= 2;
	struct tok_slot *s = malloc(cap * sizeof *s);
	if (!s)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory for the token table", tk->path);
	for (size_t i = 0; i < cap; i++)
		s[i].id = -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slot[i].id >= 0)
			bytemap_place(tk, s, cap, m->slot[i].id);
	free(m->slot);
	m->slot = s;
	m->cap = cap;
	return LD_OK;
}

/* The id table and the byte arena grown to cap entries / bytes (new ids
 * empty: len 0); nothing happens when they already hold that much. */
static enum ld_status grow_ids(struct ld_tokenizer *tk, size_t cap, struct ld_err *err)
{
	if (cap <= tk->ids_cap)
		return LD_OK;
	struct tok_entry *e = realloc(tk->ids, cap * sizeof *e);
	if (!e)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory for %zu ids", cap);
	memset(e + tk->ids_cap, 0, (cap - tk->ids_cap) * sizeof *e);
	tk->ids = e;
	tk->ids_cap = cap;
	return LD_OK;
}

static enum ld_status grow_arena(struct ld_tokenizer *tk, size_t cap, struct ld_err *err)
{
	if (cap <= tk->arena_cap)
		return LD_OK;
	uint8_t *a = realloc(tk->arena, cap);
	if (!a)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory for token bytes");
	tk->arena = a;
	tk->arena_cap = cap;
	return LD_OK;
}

enum ld_status tok_reserve(struct ld_tokenizer *tk, size_t n_ids, size_t n_bytes, struct ld_err *err)
{
	if (n_ids > LD_TOK_MAX_IDS)
		n_ids = LD_TOK_MAX_IDS; /* tok_add refuses the rest */
	enum ld_status st = grow_ids(tk, n_ids, err);
	if (st == LD_OK)
		st = grow_arena(tk, n_bytes, err);
	return st == LD_OK ? bytemap_grow(tk, &tk->bpe, n_ids, err) : st;
}

const struct tok_merge *tok_find_merge(const struct ld_tokenizer *tk, int32_t left, int32_t right)
{
	const struct tok_mergemap *m = &tk->merges;
	if (m->cap == 0)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = hash_pair(left, right) & mask;; i = (i + 1) & mask) {
		const struct tok_merge *g = &m->slot[i];
		if (g->left < 0)
			return NULL;
		if (g->left == left && g->right == right)
			return g;
	}
}

static void mergemap_place(struct tok_merge *s, size_t cap, struct tok_merge g)
{
	size_t mask = cap - 1;
	size_t i = hash_pair(g.left, g.right) & mask;
	while (s[i].left >= 0)
		i = (i + 1) & mask;
	s[i] = g;
}

enum ld_status tok_add_merge(struct ld_tokenizer *tk, int32_t left, int32_t right,
                             int32_t merged, uint32_t rank, struct ld_err *err)
{
	struct tok_mergemap *m = &tk->merges;
	if ((m->count + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		struct tok_merge *s = malloc(cap * sizeof *s);
		if (!s)
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory for the merges", tk->path);
		for (size_t i = 0; i < cap; i++)
			s[i].left = -1;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i].left >= 0)
				mergemap_place(s, cap, m->slot[i]);
		free(m->slot);
		m->slot = s;
		m->cap = cap;
	}
	/* The same pair listed twice: the first (lower) rank is the one that
	 * ever applies, so a repeat is a broken file, not a preference. */
	const struct tok_merge *old = tok_find_merge(tk, left, right);
	if (old)
		return ld_fail(err, LD_ERR_FORMAT, "the same pair as merges[%u]", old->rank);
	struct tok_merge g = { left, right, merged, rank };
	mergemap_place(m->slot, m->cap, g);
	m->count++;
	return LD_OK;
}

/* ---------------------------------------------------------------------
 * Building a tokenizer (the loaders call these)
 * ------------------------------------------------------------------- */

struct ld_tokenizer *tok_new(const char *path)
{
	struct ld_tokenizer *tk = calloc(1, sizeof *tk);
	if (!tk)
		return NULL;
	tk->path = strdup(path);
	if (!tk->path) {
		free(tk);
		return NULL;
	}
	tk->bos = tk->eos = -1;
	for (int b = 0; b < 256; b++)
		tk->byte_id[b] = -1;
	return tk;
}

enum ld_status tok_add(struct ld_tokenizer *tk, int32_t id, const uint8_t *bytes, size_t len,
                       int special, struct ld_err *err)
{
	if (id < 0)
		return ld_fail(err, LD_ERR_FORMAT, "negative id %d", id);
	if (id >= LD_TOK_MAX_IDS)
		return ld_fail(err, LD_ERR_RANGE, "id %d is beyond the %d ids a vocabulary may have", id,
		               LD_TOK_MAX_IDS);
	if (len == 0)
		return ld_fail(err, LD_ERR_FORMAT, "id %d has no bytes", id);
	if (len > LD_TOK_MAX_TOKEN_BYTES)
		return ld_fail(err, LD_ERR_FORMAT, "id %d is %zu bytes long, more than the %d a token may have",
		               id, len, LD_TOK_MAX_TOKEN_BYTES);

	/* Grow the id table to hold id; new entries are empty (len 0). */
	size_t need = (size_t)id + 1;
	if (need > tk->ids_cap) {
		size_t cap = tk->ids_cap ? tk->ids_cap : 512;
		while (cap < need)
			cap *= 2;
		enum ld_status st = grow_ids(tk, cap, err);
		if (st)
			return st;
	}
	if (need > tk->n_ids)
		tk->n_ids = need;
	struct tok_entry *e = &tk->ids[id];

	/* A Hugging Face file may list a vocabulary token again in
	 * added_tokens to mark it special (GPT-2 does that with
	 * <|endoftext|>): fine, as long as the bytes are the same. */
	if (e->len) {
		if (!special || !bytes_equal(tk, id, bytes, len))
			return ld_fail(err, LD_ERR_FORMAT, "id %d is given twice", id);
		if (e->special)
			return ld_fail(err, LD_ERR_FORMAT, "special id %d is given twice", id);
	} else {
		if (tk->arena_len + len > tk->arena_cap) {
			size_t cap = tk->arena_cap ? tk->arena_cap * 2 : 65536;
			while (cap < tk->arena_len + len)
				cap *= 2;
			enum ld_status st = grow_arena(tk, cap, err);
			if (st)
				return st;
		}
		memcpy(tk->arena + tk->arena_len, bytes, len);
		e->off = tk->arena_len;
		e->len = (uint32_t)len;
		tk->arena_len += len;
	}

	/* Index it by its bytes, refusing a second token with the same bytes:
	 * the encoder could not know which of the two to produce. */
	struct tok_bytemap *m = special ? &tk->specials : &tk->bpe;
	enum ld_status st = bytemap_grow(tk, m, 1, err);
	if (st)
		return st;
	int32_t other = tok_lookup(tk, m, bytes, len);
	if (other >= 0 && other != id)
		return ld_fail(err, LD_ERR_FORMAT, "id %d has the same bytes as id %d", id, other);
	if (other < 0) {
		bytemap_place(tk, m->slot, m->cap, id);
		m->count++;
	}
	if (special)
		e->special = 1;
	else if (len > tk->max_bpe_len)
		tk->max_bpe_len = len;
	return LD_OK;
}

static int cmp_size_desc(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

enum ld_status tok_finish(struct ld_tokenizer *tk, struct ld_err *err)
{
	size_t n = tk->n_ids;
	if (n == 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: no tokens", tk->path);

	for (int b = 0; b < 256; b++) {
		uint8_t byte = (uint8_t)b;
		tk->byte_id[b] = tok_lookup(tk, &tk->bpe, &byte, 1);
	}

	/* What the special-token scan needs: which bytes can start one, and
	 * which lengths to try at such a byte (longest first, so that of two
	 * specials where one is a prefix of the other the longer wins). */
	size_t n_special = 0;
	for (size_t i = 0; i < n; i++)
		n_special += tk->ids[i].special;
	if (n_special) {
		tk->special_lens = malloc(n_special * sizeof *tk->special_lens);
		if (!tk->special_lens)
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", tk->path);
		for (size_t i = 0; i < n; i++) {
			const struct tok_entry *e = &tk->ids[i];
			if (!e->special)
				continue;
			tk->special_first[tk->arena[e->off]] = 1;
			size_t k = 0;
			while (k < tk->n_special_lens && tk->special_lens[k] != e->len)
				k++;
			if (k == tk->n_special_lens)
				tk->special_lens[tk->n_special_lens++] = e->len;
		}
		qsort(tk->special_lens, tk->n_special_lens, sizeof *tk->special_lens, cmp_size_desc);
	}
	tk->bos = ld_tok_special_id(tk, "<|begin_of_text|>");
	tk->eos = ld_tok_special_id(tk, "<|end_of_text|>");

	/* Compile the pre-split pattern once; every encode call reuses it.
	 * JIT makes matching several times faster; without it PCRE2's
	 * interpreter gives the same pieces. */
	int code;
	PCRE2_SIZE where;
	tk->re = pcre2_compile((PCRE2_SPTR)TOK_PATTERN_PCRE2, PCRE2_ZERO_TERMINATED,
	                       PCRE2_UTF | PCRE2_UCP, &code, &where, NULL);
	if (!tk->re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		return ld_fail(err, LD_ERR_FORMAT, "pre-split pattern, offset %zu: %s", (size_t)where,
		               (const char *)msg);
	}
	pcre2_jit_compile(tk->re, PCRE2_JIT_COMPLETE);
	return LD_OK;
}

/* ---------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------- */

/* Read a whole (regular, not absurdly large) file into memory. */
static enum ld_status read_file(const char *path, uint8_t **buf, size_t *len, struct ld_err *err)
{
	*buf = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return ld_fail(err, LD_ERR_IO, "%s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return ld_fail(err, LD_ERR_IO, "%s: not a regular file", path);
	}
	if ((uint64_t)sb.st_size > TOK_MAX_FILE_BYTES) {
		fclose(f);
		return ld_fail(err, LD_ERR_FORMAT, "%s: %lld bytes is too big for a tokenizer file (limit %zu MiB)",
		               path, (long long)sb.st_size, TOK_MAX_FILE_BYTES >> 20);
	}
	size_t n = (size_t)sb.st_size;
	uint8_t *b = malloc(n + 1);
	if (!b) {
		fclose(f);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory for %zu bytes", path, n);
	}
	size_t got = fread(b, 1, n, f);
	int bad = ferror(f);
	fclose(f);
	if (bad || got != n) {
		free(b);
		return ld_fail(err, LD_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	return LD_OK;
}

enum ld_status ld_tok_load_gguf(struct ld_tokenizer **out, const struct ld_gguf *g, struct ld_err *err)
{
	*out = NULL;
	struct ld_tokenizer *tk = tok_new(g->path);
	if (!tk)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", g->path);
	enum ld_status st = tok_load_gguf(tk, g, err);
	if (st == LD_OK)
		st = tok_finish(tk, err);
	if (st == LD_OK) {
		/* The file names its specials; they win over the Llama 3 names. */
		const struct ld_gguf_kv *b = ld_gguf_find_kv(g, "tokenizer.ggml.bos_token_id");
		const struct ld_gguf_kv *e = ld_gguf_find_kv(g, "tokenizer.ggml.eos_token_id");
		if (b && b->i >= 0 && (size_t)b->i < tk->n_ids && tk->ids[b->i].len)
			tk->bos = (int32_t)b->i;
		if (e && e->i >= 0 && (size_t)e->i < tk->n_ids && tk->ids[e->i].len)
			tk->eos = (int32_t)e->i;
		*out = tk;
		return LD_OK;
	}
	ld_tok_free(tk);
	return st;
}

enum ld_status ld_tok_load_file(struct ld_tokenizer **out, const char *path, struct ld_err *err)
{
	*out = NULL;
	if (ld_gguf_sniff(path)) {
		/* A GGUF model: mapped, only its metadata is read. */
		struct ld_gguf g;
		enum ld_status st = ld_gguf_open(&g, path, err);
		if (st != LD_OK)
			return st;
		st = ld_tok_load_gguf(out, &g, err);
		ld_gguf_close(&g);
		return st;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	struct ld_tokenizer *tk = NULL;
	enum ld_status st = read_file(path, &buf, &len, err);
	if (st)
		goto out;
	tk = tok_new(path);
	if (!tk) {
		st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}

	/* Recognise the format by content, not by name: people rename files. */
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	if (i == len) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: empty file, expected tiktoken lines \"base64 rank\" or a tokenizer.json object",
		             path);
		goto out;
	}
	if (buf[i] == '{')
		st = tok_load_hf_json(tk, buf, len, err);
	else
		st = tok_load_tiktoken(tk, buf, len, err);
	if (st)
		goto out;
	st = tok_finish(tk, err);
	if (st)
		goto out;
	*out = tk;
	tk = NULL;
out:
	ld_tok_free(tk);
	free(buf);
	return st;
}

static int is_file(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

enum ld_status ld_tok_load_dir(struct ld_tokenizer **out, const char *model_dir, struct ld_err *err)
{
	*out = NULL;
	if (is_file(model_dir)) /* a GGUF model is one file */
		return ld_tok_load_file(out, model_dir, err);
	/* In this order: Meta's tokenizer.model first when it sits in the
	 * model directory itself, since it holds the same vocabulary and merges
	 * as tokenizer.json in a tenth of the bytes and loads ten times faster
	 * (a few lines of base64, no JSON). A Hugging Face repository has
	 * tokenizer.json next to config.json (Meta's file under original/ may
	 * predate a fine-tune's changes, so it comes last). */
	static const char *const names[] = { "tokenizer.model", "tokenizer.json",
	                                     "original/tokenizer.model" };
	char path[4096];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int n = snprintf(path, sizeof path, "%s/%s", model_dir, names[i]);
		if (n < 0 || (size_t)n >= sizeof path)
			return ld_fail(err, LD_ERR_USAGE, "%s: path too long", model_dir);
		if (is_file(path))
			return ld_tok_load_file(out, path, err);
	}
	return ld_fail(err, LD_ERR_IO, "%s: no tokenizer.json, tokenizer.model or original/tokenizer.model",
	               model_dir);
}

void ld_tok_free(struct ld_tokenizer *tk)
{
	if (!tk)
		return;
	pcre2_code_free(tk->re);
	free(tk->special_lens);
	free(tk->merges.slot);
	free(tk->specials.slot);
	free(tk->bpe.slot);
	free(tk->arena);
	free(tk->ids);
	free(tk->path);
	free(tk);
}

/* ---------------------------------------------------------------------
 * Looking things up
 * ------------------------------------------------------------------- */

size_t ld_tok_vocab_size(const struct ld_tokenizer *tk) { return tk->n_ids; }
size_t ld_tok_n_bpe(const struct ld_tokenizer *tk) { return tk->n_bpe; }
int32_t ld_tok_bos(const struct ld_tokenizer *tk) { return tk->bos; }
int32_t ld_tok_eos(const struct ld_tokenizer *tk) { return tk->eos; }
const char *ld_tok_path(const struct ld_tokenizer *tk) { return tk->path; }

const uint8_t *ld_tok_bytes(const struct ld_tokenizer *tk, int32_t id, size_t *len)
{
	if (id < 0 || (size_t)id >= tk->n_ids || tk->ids[id].len == 0) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = tk->ids[id].len;
	return tk->arena + tk->ids[id].off;
}

int ld_tok_is_special(const struct ld_tokenizer *tk, int32_t id)
{
	return id >= 0 && (size_t)id < tk->n_ids && tk->ids[id].special;
}

int32_t ld_tok_special_id(const struct ld_tokenizer *tk, const char *text)
{
	return tok_lookup(tk, &tk->specials, (const uint8_t *)text, strlen(text));
}

size_t tok_utf8_len(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	/* The lead byte says how many continuation bytes (10xxxxxx) follow;
	 * the allowed range of the second byte rules out overlong forms
	 * (E0 80..9F), UTF-16 surrogates (ED A0..BF) and code points past
	 * U+10FFFF (F4 90..BF), exactly as RFC 3629's table. */
	size_t need;
	uint8_t lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0; /* 80..C1 and F5..FF never start a character */
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

/* ---------------------------------------------------------------------
 * Decoding and display
 * ------------------------------------------------------------------- */

enum ld_status ld_tok_decode(const struct ld_tokenizer *tk, const int32_t *ids, size_t n_ids,
                             char **out, size_t *out_len, struct ld_err *err)
{
	*out = NULL;
	*out_len = 0;
	size_t total = 0;
	for (size_t i = 0; i < n_ids; i++) {
		if (!ld_tok_bytes(tk, ids[i], NULL))
			return ld_fail(err, LD_ERR_RANGE, "token %zu: id %d is not in the vocabulary of %s (0..%zu)",
			               i, ids[i], tk->path, tk->n_ids - 1);
		total += tk->ids[ids[i]].len;
	}
	char *s = malloc(total + 1);
	if (!s)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory for %zu decoded bytes", total);
	size_t at = 0;
	for (size_t i = 0; i < n_ids; i++) {
		const struct tok_entry *e = &tk->ids[ids[i]];
		memcpy(s + at, tk->arena + e->off, e->len);
		at += e->len;
	}
	s[at] = 0;
	*out = s;
	*out_len = at;
	return LD_OK;
}

size_t ld_tok_display_into(const struct ld_tokenizer *tk, int32_t id, char *s)
{
	size_t n;
	const uint8_t *p = ld_tok_bytes(tk, id, &n);
	if (!p)
		return (size_t)sprintf(s, "<unknown id %d>", (int)id);
	if (tk->ids[id].special) {
		memcpy(s, p, n);
		s[n] = 0;
		return n;
	}
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = tok_utf8_len(p + i, n - i);
		uint8_t c = p[i];
		if (k > 1) {
			/* A whole multi-byte character: show it as it is. */
			memcpy(s + o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		/* Whitespace must stay visible: " the" and "the" are different
		 * tokens, and a learner has to see which one the model got. */
		if (c == ' ') {
			memcpy(s + o, "\xE2\x90\xA3", 3); /* U+2423 OPEN BOX */
			o += 3;
		} else if (c == '\n' || c == '\t' || c == '\r' || c == '\\') {
			s[o++] = '\\';
			s[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
		} else if (k == 1 && c >= 0x20 && c != 0x7F) {
			s[o++] = (char)c;
		} else {
			/* A control byte, or a piece of a character that this token
			 * does not hold whole (k == 0): the neighbouring token has
			 * the rest. */
			o += (size_t)sprintf(s + o, "\\x%02X", c);
		}
		i++;
	}
	s[o] = 0;
	return o;
}

size_t ld_tok_display_max(const struct ld_tokenizer *tk, int32_t id)
{
	size_t n;
	return ld_tok_bytes(tk, id, &n) ? 4 * n + 1 : 32;
}

char *ld_tok_display(const struct ld_tokenizer *tk, int32_t id)
{
	char *s = malloc(ld_tok_display_max(tk, id));
	if (s)
		ld_tok_display_into(tk, id, s);
	return s;
}
