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
#include "status.h"

/* A weight matrix viewed in place: never copied, never converted whole. */
struct ld_weight {
	const void *data;        /* rows*cols elements of dtype, row-major; a block
	                            type's row is cols/block blocks,
	                            ld_dtype_bytes(dtype, cols) bytes */
	enum ld_dtype dtype;     /* LD_F32, LD_BF16, LD_F16, or a GGUF block type
	                            (LD_Q8_0 .. LD_Q6_K; cols a whole number of
	                            blocks) */
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
	LD_KERNEL_AVX512,   /* x86-64 with AVX-512F */
	LD_KERNEL_AVX512_BF16, /* AVX-512F + AVX512-BF16, opt-in (--bf16-dot), never
	                          AUTO: BF16 weights times activations rounded to
	                          bf16 (vdpbf16ps, f32 sums); every other dtype as
	                          LD_KERNEL_AVX512 does it. Not exact f32. */
	LD_KERNEL_AMX,      /* AVX-512 + AMX-BF16 (Intel, Sapphire Rapids on): BF16
	                       weights times x split exactly into three bf16 parts
	                       in AMX tiles, f32 sums (subnormals flushed); every
	                       other product as LD_KERNEL_AVX512 does it */
	LD_KERNEL_AMX_BF16, /* the same tiles with x rounded to bf16 (one part):
	                       --bf16-dot where the CPU has AMX. Not exact f32. */
	LD_KERNEL_LAST = LD_KERNEL_AMX_BF16,
};

/* The kernel LD_KERNEL_AUTO means (never LD_KERNEL_AUTO): the one
 * LLAMADBG_KERNEL names if this CPU runs it, else the best this CPU runs
 * (avx512, then avx2, then scalar). */
enum ld_kernel ld_matmul_kernel(void);
/* The kernel --bf16-dot means on this CPU: amxbf16 where it has AMX, else
 * avx512bf16; LD_KERNEL_AUTO if it has neither. */
enum ld_kernel ld_bf16_dot_kernel(void);
/* 1 if this CPU can run kernel k (AUTO and SCALAR: always). */
int ld_kernel_supported(enum ld_kernel k);
/* The kernel the environment forces: LLAMADBG_KERNEL=avx512bf16|avx512|avx2|scalar
 * (unset, empty or "auto": LD_KERNEL_AUTO). An unknown name, or a kernel
 * this CPU cannot run, is an error (LD_ERR_USAGE) naming what it can run. */
enum ld_status ld_kernel_from_env(enum ld_kernel *k, struct ld_err *err);
/* "scalar", "avx2", "avx512", "avx512bf16", "amx", "amxbf16" ("auto" for
 * LD_KERNEL_AUTO). */
const char *ld_kernel_name(enum ld_kernel k);
/* 1 if the kernel of this name (a trace's "kernel") rounds activations to
 * bf16: the bf16-dot kernels, avx512bf16 and amxbf16. */
int ld_kernel_rounds_x(const char *name);
/* ld_matmul with a chosen kernel; one the CPU lacks falls back to scalar. */
void ld_matmul_with(float *out, const float *x, const struct ld_weight *w, size_t T,
                    enum ld_kernel k);

/* 1 if ld_matmul and ld_weight_row take weights stored as t: F32, BF16,
 * F16 and GGUF's block types (rows a whole number of blocks). */
int ld_matmul_reads(enum ld_dtype t);

/* Widen (or decode) logical row r of W to f32: out (w->cols). The
 * embedding lookup. */
void ld_weight_row(float *out, const struct ld_weight *w, size_t r);

#endif
