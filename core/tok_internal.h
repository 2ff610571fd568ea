/* tok_internal.h - the inside of struct ld_tokenizer, shared by the
 * tokenizer's own files (tokenizer.c: the object and its tables;
 * tok_load.c: reading and writing the file formats; tok_encode.c: text to
 * ids). Nothing outside core/tok*.c includes this.
 */
#ifndef LD_TOK_INTERNAL_H
#define LD_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tokenizer.h"

/* LD_TOK_PATTERN as PCRE2 must be given it. The published pattern says \s
 * and means Unicode's White_Space property (Python's regex module and the
 * Rust regex crate under tiktoken read it so); PCRE2's \s also takes
 * U+180E MONGOLIAN VOWEL SEPARATOR, which stopped being a space in Unicode
 * 6.3. Naming the property keeps the split identical. */
#define TOK_PATTERN_PCRE2 \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" \
	" ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*|\\p{White_Space}*[\\r\\n]+|" \
	"\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+"

/* Where one id's bytes live. */
struct tok_entry {
	size_t off;      /* offset of the bytes in ld_tokenizer.arena */
	uint32_t len;    /* number of bytes; 0 = no token has this id */
	uint8_t special; /* 1 for control tokens like <|eot_id|> */
};

/* A hash set of ids, looked up by the ids' bytes: "which token is this
 * byte string?" is the question BPE asks after every merge. Open
 * addressing with linear probing; the table is at least twice as big as
 * its contents so probes stay short. */
struct tok_slot {
	int32_t id;      /* -1 for an empty slot */
	uint32_t check;  /* high bits of the id's hash: most wrong slots are
	                    passed over without reading their bytes */
};
struct tok_bytemap {
	struct tok_slot *slot; /* (cap) */
	size_t cap;      /* a power of two */
	size_t count;
};

/* One merge rule of a tokenizer.json: "left right" becomes merged. */
struct tok_merge {
	int32_t left, right; /* ids of the two adjacent tokens; left = -1: empty slot */
	int32_t merged;      /* id of their concatenation */
	uint32_t rank;       /* position in model.merges: lower merges first */
};

/* Hash table (left id, right id) -> merge rule, for tokenizer.json. */
struct tok_mergemap {
	struct tok_merge *slot; /* (cap) */
	size_t cap;             /* a power of two */
	size_t count;
};

/* How a pair of adjacent tokens is ranked. */
enum tok_rule {
	TOK_RULE_RANKS,  /* tiktoken: the pair's concatenated bytes, if they are a
	                    token, rank as that token's id */
	TOK_RULE_MERGES, /* tokenizer.json: the pair ranks as its position in
	                    model.merges, if it is listed there */
};

struct ld_tokenizer {
	char *path;                /* the file it came from, for messages */
	enum tok_rule rule;

	struct tok_entry *ids;     /* (n_ids) bytes of each id */
	size_t n_ids;              /* vocabulary size (largest id + 1): BPE tokens + specials */
	size_t ids_cap;            /* allocated entries of ids */
	size_t n_bpe;              /* ids 0..n_bpe-1 are BPE tokens */
	uint8_t *arena;            /* every token's bytes, back to back */
	size_t arena_len, arena_cap;

	struct tok_bytemap bpe;      /* bytes -> id, BPE tokens only */
	struct tok_bytemap specials; /* text -> id, special tokens only */
	struct tok_mergemap merges;  /* TOK_RULE_MERGES only */

	int32_t byte_id[256];      /* id of each single byte, -1 if it has none */
	size_t max_bpe_len;        /* longest BPE token: longer runs need no lookup */
	int whole_piece_first;     /* a piece that is itself a token is taken as is,
	                              without merging (tiktoken always; tokenizer.json
	                              when model.ignore_merges is true) */

	uint8_t special_first[256]; /* 1 if some special token starts with this byte */
	size_t *special_lens;       /* distinct special lengths, longest first */
	size_t n_special_lens;

	pcre2_code *re;            /* TOK_PATTERN_PCRE2, compiled (JIT when available) */
	int32_t bos, eos;          /* <|begin_of_text|>, <|end_of_text|>, or -1 */
};

/* tokenizer.c: building the tables (used by the loaders). */
struct ld_tokenizer *tok_new(const char *path);
/* Append a token with these bytes as the given id. */
/* Room for about n_ids BPE tokens of n_bytes bytes in all, so that a
 * vocabulary of 128k entries is not copied at every doubling of its
 * tables (only a hint: tok_add grows them past it as needed). */
enum ld_status tok_reserve(struct ld_tokenizer *tk, size_t n_ids, size_t n_bytes, struct ld_err *err);
enum ld_status tok_add(struct ld_tokenizer *tk, int32_t id, const uint8_t *bytes, size_t len,
                       int special, struct ld_err *err);
/* After the last tok_add: index the bytes, compile the pattern. */
enum ld_status tok_finish(struct ld_tokenizer *tk, struct ld_err *err);
/* Record a merge rule (TOK_RULE_MERGES). */
enum ld_status tok_add_merge(struct ld_tokenizer *tk, int32_t left, int32_t right,
                             int32_t merged, uint32_t rank, struct ld_err *err);
int32_t tok_lookup(const struct ld_tokenizer *tk, const struct tok_bytemap *m,
                   const uint8_t *bytes, size_t len);
const struct tok_merge *tok_find_merge(const struct ld_tokenizer *tk, int32_t left, int32_t right);

/* Length of the valid UTF-8 character at p (1..4), or 0 if p[0..n) does
 * not start with one (stray continuation byte, overlong form, surrogate,
 * beyond U+10FFFF, or cut short). */
size_t tok_utf8_len(const uint8_t *p, size_t n);

/* tok_load.c: the file formats (tokenizer.json, tokenizer.model, a GGUF
 * file's metadata). */
enum ld_status tok_load_tiktoken(struct ld_tokenizer *tk, const uint8_t *buf, size_t len,
                                 struct ld_err *err);
enum ld_status tok_load_hf_json(struct ld_tokenizer *tk, const uint8_t *buf, size_t len,
                                struct ld_err *err);
struct ld_gguf;
enum ld_status tok_load_gguf(struct ld_tokenizer *tk, const struct ld_gguf *g, struct ld_err *err);

#endif
