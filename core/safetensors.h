/* safetensors.h - read (mmapped, validated) and write safetensors files.
 *
 * Layout: u64 little-endian N, N bytes of JSON header
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]},
 *    "__metadata__": {"key": "string value", ...}}
 * then the data buffer; offsets are relative to byte 8+N, end exclusive,
 * row-major little-endian.
 */
#ifndef LD_SAFETENSORS_H
#define LD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "status.h"

#define LD_ST_MAX_DIMS 8

struct ld_st_tensor {
	char *name;
	enum ld_dtype dtype;
	int ndim;
	size_t shape[LD_ST_MAX_DIMS];
	const void *data;   /* inside the mapping */
	size_t nbytes;
	size_t offset;      /* from the start of the data buffer */
};

struct ld_st_file {
	char *path;
	void *map;                 /* the whole file, read-only */
	size_t map_len;
	struct ld_st_tensor *t;    /* sorted by data offset */
	size_t n;
	char **meta_keys, **meta_vals; /* __metadata__, n_meta pairs */
	size_t n_meta;
};

/* Map and validate: header length, JSON, every dtype known, every shape's
 * byte size equal to its offsets, offsets inside the file, no overlaps. */
enum ld_status ld_st_open(struct ld_st_file *f, const char *path, struct ld_err *err);
void ld_st_close(struct ld_st_file *f);

const struct ld_st_tensor *ld_st_find(const struct ld_st_file *f, const char *name);
const char *ld_st_meta(const struct ld_st_file *f, const char *key);

/* Writing: describe tensors, then write header + data atomically. */
struct ld_st_out {
	const char *name;
	enum ld_dtype dtype;
	int ndim;
	const size_t *shape;
	const void *data;
	size_t nbytes;
};
enum ld_status ld_st_write(const char *path, const struct ld_st_out *t, size_t n,
                           const char *const *meta_keys, const char *const *meta_vals,
                           size_t n_meta, int force, struct ld_err *err);

/* The JSON header ld_st_write puts in front of the data (malloc'd in
 * *text), for tensors stored back to back in t's order; t[i].data is not
 * read. path names the file in errors. */
enum ld_status ld_st_header(const char *path, const struct ld_st_out *t, size_t n,
                            const char *const *meta_keys, const char *const *meta_vals,
                            size_t n_meta, char **text, struct ld_err *err);

#endif
