/* npy.h - read a NumPy .npy array (the format `dump` writes).
 *
 * Versions 1.0, 2.0 and 3.0 of the header; dtypes '<f4', '<f2' (widened to
 * float32 exactly) and '<i4'; C order only; at most LD_MAX_DIMS axes. The
 * header is parsed strictly and the data must be exactly as long as the
 * shape says: anything else is one line naming the file.
 */
#ifndef LD_NPY_H
#define LD_NPY_H

#include <stddef.h>

#include "dtype.h"
#include "status.h"
#include "trace.h"

struct ld_npy {
	enum ld_dtype dtype;        /* as stored: LD_F32, LD_F16 or LD_I32 */
	int ndim;                   /* 0 for a scalar */
	size_t shape[LD_MAX_DIMS];
	size_t numel;
	float *f32;                 /* the values as float32 (NULL for LD_I32) */
	int32_t *i32;               /* the values of an LD_I32 array (else NULL) */
};

/* Parse a whole .npy file held in memory; path names it in messages. */
enum ld_status ld_npy_parse(const void *buf, size_t len, const char *path, struct ld_npy *out,
                            struct ld_err *err);

/* Read and parse the file at path. */
enum ld_status ld_npy_read(const char *path, struct ld_npy *out, struct ld_err *err);

void ld_npy_free(struct ld_npy *a);

/* "token 5 x dim 64"-like shape text without axis names: "(5, 64)". */
void ld_npy_shape_str(const size_t *shape, int ndim, char *buf, size_t size);

#endif
