/* matmul.h - the one hot kernel: activations times a stored weight matrix.
 *
 * Every projection of the model (q, k, v, o, gate, up, down, output) is
 *     out[t][r] = sum_c x[t][c] * W[r][c]        PyTorch: out = x @ W.T
 * with W stored row-major [rows, cols] as in the checkpoint (nn.Linear's
 * [out_features, in_features]), in its stored dtype, usually mmapped.
 */
#ifndef LD_MATMUL_H
#define LD_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

/* A weight matrix viewed in place: never copied, never converted whole. */
struct ld_weight {
	const void *data;        /* rows*cols elements of dtype, row-major */
	enum ld_dtype dtype;     /* LD_F32, LD_BF16 or LD_F16 */
	size_t rows, cols;       /* [out_features, in_features] */
	const uint32_t *row_map; /* NULL, or: logical row r is stored row row_map[r]
	                            (how HF's q/k row permutation is undone) */
};

/* out (T, w->rows) = x (T, w->cols) @ W^T.  Accumulates in f32.
 * x and out must not overlap. Uses OpenMP threads when built with it. */
void ld_matmul(float *out, const float *x, const struct ld_weight *w, size_t T);

/* The implementations behind ld_matmul. ld_matmul picks the best one the
 * CPU supports; tests compare them and the bench names the one it timed. */
enum ld_kernel {
	LD_KERNEL_AUTO = 0, /* the best this CPU supports */
	LD_KERNEL_SCALAR,   /* portable C, any CPU */
	LD_KERNEL_AVX2,     /* x86-64 with AVX2 + FMA + F16C */
};

/* The kernel LD_KERNEL_AUTO means on this CPU (never LD_KERNEL_AUTO). */
enum ld_kernel ld_matmul_kernel(void);
/* "scalar", "avx2" ("auto" for LD_KERNEL_AUTO). */
const char *ld_kernel_name(enum ld_kernel k);
/* ld_matmul with a chosen kernel; one the CPU lacks falls back to scalar. */
void ld_matmul_with(float *out, const float *x, const struct ld_weight *w, size_t T,
                    enum ld_kernel k);

/* Widen logical row r of W to f32: out (w->cols). The embedding lookup. */
void ld_weight_row(float *out, const struct ld_weight *w, size_t r);

#endif
