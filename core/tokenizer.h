/* tokenizer.h - Llama 3's byte-level BPE: text in, token ids out.
 *
 * A language model never sees characters. It sees ids, each standing for a
 * short run of BYTES (not characters: "é" is two bytes and may be split).
 * Llama 3 turns text into ids in three steps:
 *
 *   1. split off the special tokens such as <|eot_id|> (only when asked);
 *   2. cut the rest into "pieces" with one regular expression
 *      (LD_TOK_PATTERN): words with their leading space, numbers of at most
 *      three digits, runs of punctuation, runs of whitespace;
 *   3. inside each piece, start from single bytes and keep gluing the
 *      adjacent pair that makes the most frequent token (the lowest rank)
 *      until no pair is a token any more: byte pair encoding.
 *
 * Every one of the 256 bytes is a token of its own, so any input, even bytes
 * that are not UTF-8, has an encoding and decoding gives back the exact
 * bytes.
 *
 * Two file formats hold the same vocabulary:
 *   - tiktoken `tokenizer.model` (Meta): one line per token, "base64 rank";
 *     the rank is also the id and says how early the pair was merged during
 *     training. The 256 special tokens are not in the file: special i gets
 *     id n_ranks + i (Meta's tokenizer.py).
 *   - Hugging Face `tokenizer.json`: model.vocab maps each token, written in
 *     GPT-2's printable stand-ins for bytes, to its id; model.merges lists
 *     the pairs in the order they are applied; added_tokens are the specials.
 * For Llama 3 the merge list is exactly "every way to split every token in
 * two, ordered by the token's rank", so both files give the same ids. The
 * loader keeps each format's own rule (ranks of byte strings for tiktoken,
 * merge order for tokenizer.json) so the tests can show that they agree.
 *
 * A loaded tokenizer is read-only: several threads may encode with it at
 * once.
 */
#ifndef LD_TOKENIZER_H
#define LD_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Llama 3's pre-split pattern, as tokenizer.json and tiktoken spell it.
 * PCRE2 runs it in UTF + UCP mode (\p{L} is any letter, \p{N} any digit,
 * \s any Unicode White_Space; tok_internal.h says why PCRE2 is handed
 * \p{White_Space} instead of \s). In order:
 * English contractions ('s 't 're 've 'm 'll 'd, any case); a word with at
 * most one non-letter in front (usually its space); 1-3 digits; punctuation
 * with an optional space in front and newlines after; newlines with the
 * spaces before them; spaces not followed by text; other spaces. */
#define LD_TOK_PATTERN \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" \
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Number of special tokens a tiktoken file implies (Meta's tokenizer.py). */
#define LD_TOK_N_SPECIAL 256

/* Longest token we accept, in bytes. Llama 3's longest is 128; anything far
 * beyond that is a damaged file, not a vocabulary. */
#define LD_TOK_MAX_TOKEN_BYTES 1024
/* Ids a vocabulary may have: Llama 3 has 128256, the largest in use about
 * 256k. A file that names id 2000000000 is refused before a table of that
 * size is allocated. */
#define LD_TOK_MAX_IDS (1 << 22)

struct ld_tokenizer; /* opaque: see tok_internal.h for the curious */

/* Load the tokenizer of a model directory: DIR/tokenizer.model, else
 * DIR/tokenizer.json (Hugging Face layout), else
 * DIR/original/tokenizer.model (Meta's layout inside a Hugging Face
 * repository); a model that is one file (GGUF): its own tokenizer. */
enum ld_status ld_tok_load_dir(struct ld_tokenizer **out, const char *model_dir,
                               struct ld_err *err);

/* Load one file; the format is recognised from its contents (a GGUF
 * model's metadata, a JSON object is tokenizer.json, anything else must
 * be tiktoken lines). */
enum ld_status ld_tok_load_file(struct ld_tokenizer **out, const char *path,
                                struct ld_err *err);

/* The tokenizer a GGUF file carries (tokenizer.ggml.*: the tokens, their
 * types and the merges of Llama 3's byte-level BPE); the same ids as the
 * model's tokenizer.json. g may be closed afterwards. */
struct ld_gguf;
enum ld_status ld_tok_load_gguf(struct ld_tokenizer **out, const struct ld_gguf *g,
                                struct ld_err *err);

/* Free a tokenizer; NULL is fine. */
void ld_tok_free(struct ld_tokenizer *tk);

enum {
	LD_TOK_BOS = 1,           /* prepend <|begin_of_text|> */
	LD_TOK_ALLOW_SPECIAL = 2, /* "<|eot_id|>" in the text is the special token,
	                             not the 10 characters (chat templates need it;
	                             user text must not get it) */
};

/* Encode len bytes of text (any bytes; need not be UTF-8 or NUL-terminated).
 * On success *ids is a malloc'd array of *n_ids ids that the caller frees. */
enum ld_status ld_tok_encode(const struct ld_tokenizer *tk, const char *text, size_t len,
                             unsigned flags, int32_t **ids, size_t *n_ids,
                             struct ld_err *err);

/* Decode ids back to bytes: the concatenation of every token's bytes (a
 * special token decodes to its text). *out is malloc'd, *out_len bytes plus
 * a terminating NUL that is not counted. An id outside the vocabulary is an
 * LD_ERR_RANGE error. */
enum ld_status ld_tok_decode(const struct ld_tokenizer *tk, const int32_t *ids, size_t n_ids,
                             char **out, size_t *out_len, struct ld_err *err);

/* The bytes of one token (not NUL-terminated), or NULL for an id that is
 * not in the vocabulary. Valid until ld_tok_free. */
const uint8_t *ld_tok_bytes(const struct ld_tokenizer *tk, int32_t id, size_t *len);

/* A printable, one-line form of one token for people (malloc'd, caller
 * frees; NULL only when out of memory):
 *   space -> "␣" (U+2423), newline -> "\n", tab -> "\t", CR -> "\r",
 *   backslash -> "\\", other control bytes and bytes that are not part of
 *   a complete UTF-8 character -> "\xNN", special tokens -> their text,
 *   an unknown id -> "<unknown id N>". */
char *ld_tok_display(const struct ld_tokenizer *tk, int32_t id);
/* The same into s, which has room for ld_tok_display_max(tk, id) bytes;
 * returns its length (for a whole vocabulary in one block). */
size_t ld_tok_display_into(const struct ld_tokenizer *tk, int32_t id, char *s);
size_t ld_tok_display_max(const struct ld_tokenizer *tk, int32_t id);

/* Ids 0 .. vocab_size-1 (BPE tokens followed by the specials). */
size_t ld_tok_vocab_size(const struct ld_tokenizer *tk);
/* Ids 0 .. n_bpe-1 are the byte-pair vocabulary, the rest are specials. */
size_t ld_tok_n_bpe(const struct ld_tokenizer *tk);
/* 1 if id is a special token like <|eot_id|>. */
int ld_tok_is_special(const struct ld_tokenizer *tk, int32_t id);
/* The id of a special token given its text, e.g. "<|eot_id|>"; -1 if none. */
int32_t ld_tok_special_id(const struct ld_tokenizer *tk, const char *text);
/* <|begin_of_text|> and <|end_of_text|>; -1 if the vocabulary has none. */
int32_t ld_tok_bos(const struct ld_tokenizer *tk);
int32_t ld_tok_eos(const struct ld_tokenizer *tk);
/* The file the tokenizer was loaded from. */
const char *ld_tok_path(const struct ld_tokenizer *tk);

/* Write the BPE part of the vocabulary as a tiktoken tokenizer.model: one
 * line "base64(bytes) id" per id, in id order, specials left out (they are
 * implied). The file appears atomically (written to a temporary file in
 * the same directory, then renamed); an existing file is an LD_ERR_EXISTS
 * error unless force is set. A tokenizer.json whose merges are not plain
 * rank order cannot be expressed as ranks and is refused. */
enum ld_status ld_tok_write_tiktoken(const struct ld_tokenizer *tk, const char *path,
                                     int force, struct ld_err *err);

#endif
