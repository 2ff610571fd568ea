/* gguf.h - read a GGUF file (llama.cpp's single-file model format), mapped
 * in place and validated before anything is used.
 *
 * Layout (little-endian; GGUF versions 2 and 3, which differ from 1 in
 * 64-bit counts and lengths):
 *
 *   "GGUF"  u32 version  u64 n_tensors  u64 n_kv
 *   n_kv times:       string key, u32 value type, value
 *   n_tensors times:  string name, u32 n_dims, u64 ne[n_dims], u32 type,
 *                     u64 offset
 *   padding to general.alignment (default 32), then the data section; each
 *   tensor's data starts at data + offset, a multiple of the alignment.
 *
 *   string = u64 length + that many bytes (UTF-8, no NUL);
 *   value  = one of u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool string, or
 *            an array: u32 element type, u64 count, the elements (arrays of
 *            arrays are allowed).
 *
 * Dimensions are listed fastest-varying first: a weight matrix of `rows`
 * rows of `cols` values (PyTorch's [rows, cols]) has ne = {cols, rows}.
 *
 * Every length, count and offset is checked against the file's size
 * before it is used, so a truncated or hostile file gives one clear line.
 */
#ifndef LD_GGUF_H
#define LD_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "status.h"

#define LD_GGUF_MAX_DIMS 4   /* ggml's limit */
#define LD_GGUF_MAX_DEPTH 8  /* arrays of arrays: real files nest at most 2 */

/* Metadata value types, as numbered in the file. */
enum ld_gguf_type {
	LD_GGUF_U8 = 0, LD_GGUF_I8 = 1, LD_GGUF_U16 = 2, LD_GGUF_I16 = 3,
	LD_GGUF_U32 = 4, LD_GGUF_I32 = 5, LD_GGUF_F32 = 6, LD_GGUF_BOOL = 7,
	LD_GGUF_STRING = 8, LD_GGUF_ARRAY = 9, LD_GGUF_U64 = 10, LD_GGUF_I64 = 11,
	LD_GGUF_F64 = 12,
};

/* A string inside the mapping: len bytes at p, not NUL-terminated. */
struct ld_gguf_str {
	const char *p;
	size_t len;
};

/* One metadata key and its value. */
struct ld_gguf_kv {
	char *key;               /* NUL-terminated copy */
	enum ld_gguf_type type;
	/* scalars, widened: */
	uint64_t u;              /* unsigned types and bool */
	int64_t i;               /* signed types (also set for unsigned ones that fit) */
	double f;                /* every numeric type, converted */
	struct ld_gguf_str s;    /* LD_GGUF_STRING */
	/* LD_GGUF_ARRAY: */
	enum ld_gguf_type elem;  /* element type */
	size_t n;                /* element count */
	const unsigned char *elems; /* the first element in the mapping; fixed-size
	                               elements are n * ld_gguf_type_size(elem) bytes,
	                               strings are walked with ld_gguf_iter */
};

/* One tensor's description and where its data is. */
struct ld_gguf_tensor {
	char *name;              /* NUL-terminated copy */
	uint32_t ggml_type;      /* the number in the file */
	enum ld_dtype dtype;     /* the type it stands for */
	int ndim;
	uint64_t ne[LD_GGUF_MAX_DIMS]; /* fastest-varying first */
	uint64_t offset;         /* from the start of the data section */
	const void *data;        /* inside the mapping */
	size_t nbytes;
};

struct ld_gguf {
	char *path;
	const unsigned char *map; /* the whole file, read-only */
	size_t map_len;
	uint32_t version;
	size_t alignment;
	size_t data_start;        /* file offset of the data section */
	struct ld_gguf_kv *kv;    /* in file order */
	size_t n_kv;
	struct ld_gguf_tensor *t; /* in file order */
	size_t n_tensors;
	size_t *by_name;          /* indices into t, sorted by name (for lookups) */
};

/* 1 if the file at path starts with the GGUF magic (0 if it does not or
 * cannot be read). */
int ld_gguf_sniff(const char *path);

/* Map and validate path: magic, version 2 or 3, every key and value, every
 * tensor's name, dims, type and data inside the file, aligned, not
 * overlapping another tensor's, no name twice. */
enum ld_status ld_gguf_open(struct ld_gguf *g, const char *path, struct ld_err *err);
/* The same on bytes already in memory (not copied: buf must outlive g). */
enum ld_status ld_gguf_open_mem(struct ld_gguf *g, const void *buf, size_t len, const char *name,
                                struct ld_err *err);
void ld_gguf_close(struct ld_gguf *g);

/* Lookups; NULL when absent. */
const struct ld_gguf_kv *ld_gguf_find_kv(const struct ld_gguf *g, const char *key);
const struct ld_gguf_tensor *ld_gguf_find_tensor(const struct ld_gguf *g, const char *name);

/* Bytes of one fixed-size value of type t (0 for strings and arrays). */
size_t ld_gguf_type_size(enum ld_gguf_type t);
/* "u32", "string", "array", ... */
const char *ld_gguf_type_name(enum ld_gguf_type t);
/* The name ggml gives a tensor type number ("Q4_K", "IQ2_XXS", ...), or
 * NULL for a number it does not define. */
const char *ld_gguf_ggml_type_name(uint32_t type);

/* Walk the strings of an array of strings (validated when the file was
 * opened): init, then each next gives the following string, 0 after the
 * last (at once if kv is not an array of strings). */
struct ld_gguf_iter {
	const unsigned char *p;
	size_t left;
};
void ld_gguf_iter_init(struct ld_gguf_iter *it, const struct ld_gguf_kv *kv);
int ld_gguf_next_str(struct ld_gguf_iter *it, struct ld_gguf_str *out);

/* Element i of a fixed-size numeric array, converted. */
double ld_gguf_array_f(const struct ld_gguf_kv *kv, size_t i);
int64_t ld_gguf_array_i(const struct ld_gguf_kv *kv, size_t i);

/* Typed getters for the model loader: the key must exist with a type of
 * the right kind (any integer type for _int, a number for _num), or one
 * line naming the file and the key. */
enum ld_status ld_gguf_get_int(const struct ld_gguf *g, const char *key, int64_t lo, int64_t hi,
                               int64_t *out, struct ld_err *err);
enum ld_status ld_gguf_get_num(const struct ld_gguf *g, const char *key, double *out,
                               struct ld_err *err);
enum ld_status ld_gguf_get_str(const struct ld_gguf *g, const char *key, struct ld_gguf_str *out,
                               struct ld_err *err);

#endif
