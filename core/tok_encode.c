/* tok_encode.c - text to token ids.
 *
 *   "Hello, world!"
 *     -> specials split off (only with LD_TOK_ALLOW_SPECIAL)
 *     -> pieces by LD_TOK_PATTERN:  "Hello" "," " world" "!"
 *     -> byte pair encoding of each piece: "Hello" is a token (9906),
 *        " world" is a token (1917), ...
 *     -> 128000 9906 11 1917 0
 *
 * Byte pair encoding of one piece starts from its single bytes and keeps
 * merging the adjacent pair that ranks best (the lowest rank: the merge
 * training learned first) until no adjacent pair is a token. Done naively
 * -- rescan every pair after every merge -- that is quadratic in the
 * piece, and a megabyte of text without a space is one piece. Instead the
 * candidate pairs wait in a min-heap ordered by (rank, position), each
 * merge pushes only the two new pairs it creates, and pairs that a merge
 * destroyed are recognised as stale when they surface: O(n log n).
 */
#include "tok_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Work space for one encode call, grown to the longest piece seen. The
 * piece is a row of symbols; symbol i covers bytes [i, i + len[i]) and is
 * identified by its first byte, so "the next symbol" is simply i + len[i]. */
struct scratch {
	uint32_t *len;   /* (cap) length of the symbol starting at byte i; 0 = merged away */
	uint32_t *prev;  /* (cap) start of the symbol before the one at i */
	int32_t *id;     /* (cap) token id of the symbol at i; -1 = a byte with no token */
	uint64_t *heap;  /* (2 * cap) candidate merges, a binary min-heap of
	                    rank << 32 | left: lowest rank first, then leftmost */
	size_t n_heap;
	size_t cap;
};

/* The ids being produced; room for every byte plus BOS was made up front
 * (no token is shorter than a byte), so appending never fails. */
struct out {
	int32_t *ids;
	size_t n;
};

static void scratch_free(struct scratch *w)
{
	free(w->len);
	free(w->prev);
	free(w->id);
	free(w->heap);
}

static enum ld_status scratch_reserve(struct scratch *w, size_t n, struct ld_err *err)
{
	if (n <= w->cap)
		return LD_OK;
	scratch_free(w);
	w->len = malloc(n * sizeof *w->len);
	w->prev = malloc(n * sizeof *w->prev);
	w->id = malloc(n * sizeof *w->id);
	w->heap = malloc(2 * n * sizeof *w->heap);
	if (!w->len || !w->prev || !w->id || !w->heap) {
		scratch_free(w);
		memset(w, 0, sizeof *w);
		return ld_fail(err, LD_ERR_NOMEM, "out of memory for a piece of %zu bytes", n);
	}
	w->cap = n;
	return LD_OK;
}

/* ---------------------------------------------------------------------
 * The min-heap of candidate merges
 * ------------------------------------------------------------------- */

/* A candidate is only (rank, left), packed in one integer so that
 * comparing two is one instruction and the heap stays small: on a
 * megabyte-long piece the heap holds millions of entries and its speed is
 * the speed of memory. Among equal ranks the leftmost pair goes first, as
 * in tiktoken's scan and Hugging Face's queue. */
static uint64_t pair_key(uint32_t rank, uint32_t left)
{
	return (uint64_t)rank << 32 | left;
}

static void heap_push(struct scratch *w, uint64_t key)
{
	size_t i = w->n_heap++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (w->heap[parent] <= key)
			break;
		w->heap[i] = w->heap[parent];
		i = parent;
	}
	w->heap[i] = key;
}

static uint64_t heap_pop(struct scratch *w)
{
	uint64_t top = w->heap[0];
	uint64_t last = w->heap[--w->n_heap];
	size_t i = 0, n = w->n_heap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && w->heap[c + 1] < w->heap[c])
			c++;
		if (last <= w->heap[c])
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (n > 0)
		w->heap[i] = last;
	return top;
}

/* ---------------------------------------------------------------------
 * Byte pair encoding of one piece
 * ------------------------------------------------------------------- */

/* May the symbol at left merge with the one after it? If so, give the
 * pair's rank and the id the merge makes. The two formats rank a pair
 * differently (see tokenizer.h). */
static int pair_rank(const struct ld_tokenizer *tk, const struct scratch *w, const uint8_t *piece,
                     size_t n, uint32_t left, uint32_t *rank, int32_t *merged)
{
	uint32_t mid = left + w->len[left];
	if (mid >= n)
		return 0;
	uint32_t end = mid + w->len[mid];
	if (tk->rule == TOK_RULE_RANKS) {
		/* tiktoken: the two symbols' bytes side by side; if that is a
		 * token, its id is the rank. */
		if (end - left > tk->max_bpe_len)
			return 0;
		*merged = tok_lookup(tk, &tk->bpe, piece + left, end - left);
		*rank = (uint32_t)*merged;
		return *merged >= 0;
	}
	/* tokenizer.json: the pair of ids must be a listed merge. */
	if (w->id[left] < 0 || w->id[mid] < 0)
		return 0;
	const struct tok_merge *g = tok_find_merge(tk, w->id[left], w->id[mid]);
	if (!g)
		return 0;
	*rank = g->rank;
	*merged = g->merged;
	return 1;
}

static void consider_pair(const struct ld_tokenizer *tk, struct scratch *w, const uint8_t *piece,
                          size_t n, uint32_t left)
{
	uint32_t rank;
	int32_t merged;
	if (pair_rank(tk, w, piece, n, left, &rank, &merged))
		heap_push(w, pair_key(rank, left));
}

static enum ld_status bpe_piece(const struct ld_tokenizer *tk, struct scratch *w,
                                const uint8_t *piece, size_t n, size_t at, struct out *o,
                                struct ld_err *err)
{
	/* Most pieces of ordinary text are whole tokens: " the", "ing". */
	if (tk->whole_piece_first && n <= tk->max_bpe_len) {
		int32_t id = tok_lookup(tk, &tk->bpe, piece, n);
		if (id >= 0) {
			o->ids[o->n++] = id;
			return LD_OK;
		}
	}
	if (n > UINT32_MAX / 2)
		return ld_fail(err, LD_ERR_RANGE, "input byte %zu: one piece of %zu bytes is more than this encoder handles",
		               at, n);
	enum ld_status st = scratch_reserve(w, n, err);
	if (st)
		return st;

	/* Start: one symbol per byte, and every adjacent pair a candidate. */
	for (uint32_t i = 0; i < n; i++) {
		w->len[i] = 1;
		w->prev[i] = i - 1; /* wraps for i = 0; never read there */
		w->id[i] = tk->byte_id[piece[i]];
	}
	w->n_heap = 0;
	for (uint32_t i = 0; i + 1 < n; i++)
		consider_pair(tk, w, piece, n, i);

	while (w->n_heap > 0) {
		uint64_t key = heap_pop(w);
		uint32_t left = (uint32_t)key, want = (uint32_t)(key >> 32);
		/* Stale? Since this pair was queued, a merge may have swallowed
		 * the left symbol or changed the pair at its right. The entry is
		 * current only if the pair now at 'left' still has this rank
		 * (a changed pair never does: it holds other bytes, so it is
		 * another token or another merge rule). */
		uint32_t rank;
		int32_t merged;
		if (w->len[left] == 0 || !pair_rank(tk, w, piece, n, left, &rank, &merged) || rank != want)
			continue;

		/* Merge: the left symbol takes over the right one. */
		uint32_t mid = left + w->len[left];
		uint32_t end = mid + w->len[mid];
		w->len[left] = end - left;
		w->len[mid] = 0;
		w->id[left] = merged;
		if (end < n)
			w->prev[end] = left;

		/* The merged symbol forms new pairs with both neighbours. */
		if (left > 0)
			consider_pair(tk, w, piece, n, w->prev[left]);
		consider_pair(tk, w, piece, n, left);
	}

	for (uint32_t i = 0; i < n; i += w->len[i]) {
		if (w->id[i] < 0)
			return ld_fail(err, LD_ERR_RANGE, "%s: input byte %zu (0x%02X) has no token: "
			               "a byte-level vocabulary needs all 256 single bytes",
			               tk->path, at + i, piece[i]);
		o->ids[o->n++] = w->id[i];
	}
	return LD_OK;
}

/* ---------------------------------------------------------------------
 * Pre-splitting
 * ------------------------------------------------------------------- */

/* Encode text that holds no special tokens: cut it into pieces, then BPE
 * each. The pattern only makes sense on characters, so the text is first
 * cut into maximal runs of valid UTF-8; each byte between runs (say a lone
 * 0xFF) is a piece on its own. 'at' is text's offset in the caller's input,
 * for messages. */
static enum ld_status encode_ordinary(const struct ld_tokenizer *tk, struct scratch *w,
                                      pcre2_match_data *md, const uint8_t *text, size_t len,
                                      size_t at, struct out *o, struct ld_err *err)
{
	size_t i = 0;
	while (i < len) {
		size_t run = i, k;
		while (run < len && (k = tok_utf8_len(text + run, len - run)) > 0)
			run += k;
		if (run == i) {
			/* Not UTF-8: this byte alone. */
			enum ld_status st = bpe_piece(tk, w, text + i, 1, at + i, o, err);
			if (st)
				return st;
			i++;
			continue;
		}

		/* The run [i, run) is valid UTF-8, which we just checked, so
		 * PCRE2 need not check it again on every call (that would be
		 * quadratic over a long run). */
		const uint8_t *s = text + i;
		size_t n = run - i, pos = 0;
		while (pos < n) {
			int rc = pcre2_match(tk->re, s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
			size_t m0 = n, m1 = n;
			if (rc >= 0) {
				PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
				m0 = ov[0];
				m1 = ov[1];
			} else if (rc != PCRE2_ERROR_NOMATCH) {
				PCRE2_UCHAR msg[256];
				pcre2_get_error_message(rc, msg, sizeof msg);
				return ld_fail(err, LD_ERR_RANGE, "input byte %zu: pre-split failed: %s", at + i + pos,
				               (const char *)msg);
			}
			/* Llama 3's pattern matches every character, so there is
			 * never text between matches; if there were, it would
			 * still be encoded, as a piece of its own. */
			if (m0 > pos) {
				enum ld_status st = bpe_piece(tk, w, s + pos, m0 - pos, at + i + pos, o, err);
				if (st)
					return st;
			}
			if (m1 == m0 && m0 < n) /* an empty match: step over one character */
				m1 = m0 + tok_utf8_len(s + m0, n - m0);
			if (m1 > m0) {
				enum ld_status st = bpe_piece(tk, w, s + m0, m1 - m0, at + i + m0, o, err);
				if (st)
					return st;
			}
			pos = m1;
		}
		i = run;
	}
	return LD_OK;
}

/* The first special token at or after 'from': returns its position (len
 * if none) and sets *id and *n. Specials are few and all start with '<',
 * so only a handful of lengths are tried at each such byte. */
static size_t find_special(const struct ld_tokenizer *tk, const uint8_t *text, size_t len,
                           size_t from, int32_t *id, size_t *n)
{
	for (size_t i = from; i < len; i++) {
		if (!tk->special_first[text[i]])
			continue;
		for (size_t k = 0; k < tk->n_special_lens; k++) {
			size_t sl = tk->special_lens[k];
			if (sl > len - i)
				continue;
			int32_t s = tok_lookup(tk, &tk->specials, text + i, sl);
			if (s >= 0) {
				*id = s;
				*n = sl;
				return i;
			}
		}
	}
	return len;
}

enum ld_status ld_tok_encode(const struct ld_tokenizer *tk, const char *text, size_t len,
                             unsigned flags, int32_t **ids, size_t *n_ids, struct ld_err *err)
{
	*ids = NULL;
	*n_ids = 0;
	const uint8_t *t = (const uint8_t *)text;
	if (!t && len > 0)
		return ld_fail(err, LD_ERR_USAGE, "ld_tok_encode: NULL text of length %zu", len);
	if (len >= SIZE_MAX / sizeof(int32_t))
		return ld_fail(err, LD_ERR_RANGE, "ld_tok_encode: %zu bytes of text is too much", len);
	if ((flags & LD_TOK_BOS) && tk->bos < 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: has no <|begin_of_text|> token to put first", tk->path);

	struct scratch w = { 0 };
	struct out o = { malloc((len + 1) * sizeof(int32_t)), 0 };
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(tk->re, NULL);
	enum ld_status st = LD_OK;
	if (!o.ids || !md) {
		st = ld_fail(err, LD_ERR_NOMEM, "out of memory encoding %zu bytes", len);
		goto out;
	}

	if (flags & LD_TOK_BOS)
		o.ids[o.n++] = tk->bos;
	/* Without LD_TOK_ALLOW_SPECIAL, "<|eot_id|>" typed by a user is just
	 * text: 10 characters, several ordinary tokens. */
	size_t pos = 0;
	while (pos < len) {
		int32_t sid = -1;
		size_t sn = 0;
		size_t next = (flags & LD_TOK_ALLOW_SPECIAL) && tk->n_special_lens
		              ? find_special(tk, t, len, pos, &sid, &sn) : len;
		st = encode_ordinary(tk, &w, md, t + pos, next - pos, pos, &o, err);
		if (st)
			goto out;
		if (next == len)
			break;
		o.ids[o.n++] = sid;
		pos = next + sn;
	}

	/* Give back the room reserved for the worst case. */
	int32_t *shrunk = realloc(o.ids, (o.n ? o.n : 1) * sizeof(int32_t));
	*ids = shrunk ? shrunk : o.ids;
	*n_ids = o.n;
	o.ids = NULL;
out:
	free(o.ids);
	pcre2_match_data_free(md);
	scratch_free(&w);
	return st;
}
