/* test_matmul.c - ld_matmul and ld_weight_row against a float64 reference.
 *
 * Every kernel the CPU can run (scalar always; AVX2 and AVX-512 where the
 * CPU has them; a kernel it cannot run is skipped) is compared with a
 * naive double-precision loop over the same stored weights, for F32, BF16
 * and F16, odd shapes (T not a multiple of the token block, cols not a
 * multiple of 16, rows not a multiple of the row group or chunk), unaligned
 * pointers, a row_map, and NaN/Inf propagation; and for every GGUF block
 * type (random valid blocks, at an odd byte offset, with a row_map), a
 * double-precision dot of the decoded values. The bf16-dot kernel
 * (avx512bf16) rounds x to bf16 for BF16 weights: its reference is the
 * same loop on x rounded to nearest even bf16, with the same tolerance.
 * Tolerance: |a - b| <= 1e-5 + 1e-4 * |b|.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "matmul.h"
#include "quant.h"

#define ATOL 1e-5
#define RTOL 1e-4

static const enum ld_kernel kernels[] = {LD_KERNEL_SCALAR,      LD_KERNEL_AVX2, LD_KERNEL_AVX512,
                                         LD_KERNEL_AVX512_BF16, LD_KERNEL_AMX,  LD_KERNEL_AMX_BF16,
                                         LD_KERNEL_AUTO};
static const enum ld_dtype dtypes[] = {LD_F32, LD_BF16, LD_F16};

/* xorshift64*: reproducible test data. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) /* [-1, 1) */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
	return (double)(r >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* A weight matrix in its own buffer, starting `misalign` bytes past a
 * malloc'd (aligned) address so the kernels see unaligned rows. */
struct test_weight {
	unsigned char *buf;
	struct ld_weight w;
};

static size_t esize(enum ld_dtype dt) { return dt == LD_F32 ? 4 : 2; }

/* Store v into element i of W's data in W's dtype. */
static void put(struct ld_weight *w, size_t i, float v)
{
	unsigned char *p = (unsigned char *)w->data + i * esize(w->dtype);
	uint16_t h;
	switch (w->dtype) {
	case LD_F32: memcpy(p, &v, 4); return;
	case LD_BF16: h = ld_f32_to_bf16(v); break;
	default: h = ld_f32_to_f16(v); break;
	}
	memcpy(p, &h, 2);
}

/* The stored value of element i, widened exactly. */
static double get(const struct ld_weight *w, size_t i)
{
	const unsigned char *p = (const unsigned char *)w->data + i * esize(w->dtype);
	float f;
	uint16_t h;
	if (w->dtype == LD_F32) {
		memcpy(&f, p, 4);
		return f;
	}
	memcpy(&h, p, 2);
	return w->dtype == LD_BF16 ? ld_bf16_to_f32(h) : ld_f16_to_f32(h);
}

/* Random weights of about the size real checkpoints have (|w| < 0.05), so
 * sums stay O(1) and f32 rounding stays far below the tolerance. */
static void weight_init(struct test_weight *tw, enum ld_dtype dt, size_t rows, size_t cols,
                        size_t misalign)
{
	tw->buf = malloc(rows * cols * esize(dt) + misalign + 1);
	assert_non_null(tw->buf);
	tw->w = (struct ld_weight){.data = tw->buf + misalign, .dtype = dt, .rows = rows, .cols = cols};
	for (size_t i = 0; i < rows * cols; i++)
		put(&tw->w, i, (float)(0.05 * urand()));
}

static float *random_x(size_t n, size_t misalign_floats)
{
	float *x = malloc((n + misalign_floats + 1) * sizeof *x);
	assert_non_null(x);
	for (size_t i = 0; i < n; i++)
		x[misalign_floats + i] = (float)urand();
	return x;
}

/* out[t][r] = sum_c x[t][c] * W[row_map[r]][c] in double; a block type's
 * stored row is decoded by the portable decoder first. round_x: each
 * x[t][c] rounded to bf16 first (what the bf16-dot kernel multiplies). */
static void reference(double *ref, const float *x, const struct ld_weight *w, size_t T, int round_x)
{
	const int quant = ld_dtype_is_quant(w->dtype);
	float *row = malloc((w->cols + 1) * sizeof *row);
	assert_non_null(row);
	for (size_t r = 0; r < w->rows; r++) {
		size_t sr = w->row_map ? w->row_map[r] : r;
		if (quant)
			ld_dequant(row, (const unsigned char *)w->data + sr * ld_dtype_bytes(w->dtype, w->cols),
			           w->dtype, w->cols);
		for (size_t t = 0; t < T; t++) {
			double s = 0.0;
			for (size_t c = 0; c < w->cols; c++)
				s += (round_x ? (double)ld_bf16_to_f32(ld_f32_to_bf16(x[t * w->cols + c]))
				              : (double)x[t * w->cols + c]) *
				     (quant ? (double)row[c] : get(w, sr * w->cols + c));
			ref[t * w->rows + r] = s;
		}
	}
	free(row);
}

/* Compare out with ref; non-finite reference values must be matched
 * exactly (same NaN-ness, same infinity). Reports the first bad index and
 * the max difference. */
static void check(const char *what, const float *out, const double *ref, size_t T, size_t rows)
{
	size_t bad = (size_t)-1, nbad = 0;
	double maxdiff = 0.0;
	for (size_t i = 0; i < T * rows; i++) {
		double a = out[i], b = ref[i];
		int ok;
		if (isnan(b) || isinf(b)) {
			ok = isnan(b) ? isnan(a) : a == b;
		} else {
			double d = fabs(a - b);
			if (!(d <= maxdiff))
				maxdiff = d; /* also catches a NaN result */
			ok = d <= ATOL + RTOL * fabs(b);
		}
		if (!ok && nbad++ == 0)
			bad = i;
	}
	if (nbad) {
		print_error("%s: %zu of %zu values out of tolerance; first at [t=%zu][r=%zu]: "
		            "got %.9g, want %.9g; max |diff| %.3g\n",
		            what, nbad, T * rows, bad / rows, bad % rows, (double)out[bad], ref[bad],
		            maxdiff);
		fail();
	}
}

/* Run every kernel on one case and check it. */
static void run_case(const struct ld_weight *w, const float *x, size_t T, const char *label)
{
	double *ref = malloc(T * w->rows * sizeof *ref);
	double *ref_bf16 = malloc(T * w->rows * sizeof *ref);
	float *out = malloc(T * w->rows * sizeof *out);
	assert_non_null(ref);
	assert_non_null(ref_bf16);
	assert_non_null(out);
	reference(ref, x, w, T, 0);
	reference(ref_bf16, x, w, T, 1);
	for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
		if (!ld_kernel_supported(kernels[k]))
			continue;
		const int rounded = (kernels[k] == LD_KERNEL_AVX512_BF16 || kernels[k] == LD_KERNEL_AMX_BF16) &&
		                    w->dtype == LD_BF16;
		char what[200];
		snprintf(what, sizeof what, "%s %s T=%zu rows=%zu cols=%zu kernel=%s", label,
		         ld_dtype_name(w->dtype), T, w->rows, w->cols, ld_kernel_name(kernels[k]));
		for (size_t i = 0; i < T * w->rows; i++)
			out[i] = 12345.0f; /* every value must be overwritten */
		ld_matmul_with(out, x, w, T, kernels[k]);
		check(what, out, rounded ? ref_bf16 : ref, T, w->rows);
	}
	free(out);
	free(ref_bf16);
	free(ref);
}

static void test_shapes(void **state)
{
	(void)state;
	/* AMX: T = 17 and 33 walk one and two token group pairs, 4096 + 64
	 * columns two column blocks for T <= 32, 259 rows a last row group of
	 * 3; 2048 + 3 and 6144 + 48 columns have a tail past whole groups of 32 */
	static const size_t Ts[] = {1, 2, 3, 5, 17, 33};
	static const size_t colss[] = {1, 7, 64, 100, 2048 + 3, 4096 + 64, 6144 + 21, 6144 + 48};
	static const size_t rowss[] = {1, 5, 64, 259};
	for (size_t d = 0; d < 3; d++)
		for (size_t ci = 0; ci < sizeof colss / sizeof *colss; ci++)
			for (size_t ri = 0; ri < sizeof rowss / sizeof *rowss; ri++)
				for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
					size_t T = Ts[ti], rows = rowss[ri], cols = colss[ci];
					/* weights 2 bytes and x one float past an aligned address */
					struct test_weight tw;
					weight_init(&tw, dtypes[d], rows, cols, esize(dtypes[d]));
					float *xbuf = random_x(T * cols, 1);
					run_case(&tw.w, xbuf + 1, T, "shape");
					free(xbuf);
					free(tw.buf);
				}
}

/* Tensors in a safetensors file can start at any byte offset. */
static void test_odd_byte_offset(void **state)
{
	(void)state;
	for (size_t d = 0; d < 3; d++) {
		struct test_weight tw;
		weight_init(&tw, dtypes[d], 37, 133, 1);
		float *x = random_x(17 * 133, 0);
		run_case(&tw.w, x, 17, "odd byte offset");
		free(x);
		free(tw.buf);
	}
}

/* Each product exact: with a weight matrix that picks one column per row
 * (a power of two there, zeros elsewhere), out is x times that power of
 * two, bit for bit, for every exact kernel (the amx kernel splits x into
 * three bf16 parts; losing any bit of the last one shows here, far below
 * the tolerance of run_case); for a bf16-dot kernel and BF16 weights it is
 * x rounded to bf16. BF16 weights, and F16 (widened by the FMA tiles). x has all 24 bits of its significand in use, from 2^-40 to 2^40. */
static void test_exact_products(void **state)
{
	(void)state;
	const size_t rows = 80, cols = 96 + 5;
	static const size_t Ts[] = {3, 17, 40};
	for (size_t di = 0; di < 2; di++)
	for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
		const size_t T = Ts[ti];
		const enum ld_dtype dt = di ? LD_F16 : LD_BF16; /* F16: decoded into parts */
		struct test_weight tw;
		weight_init(&tw, dt, rows, cols, 0);
		for (size_t i = 0; i < rows * cols; i++)
			put(&tw.w, i, 0.0f);
		for (size_t r = 0; r < rows; r++)
			put(&tw.w, r * cols + (r * 37) % cols, ldexpf(1.0f, (int)(r % 5) - 2));
		float *x = malloc(T * cols * sizeof *x);
		float *out = malloc(T * rows * sizeof *out);
		assert_non_null(x);
		assert_non_null(out);
		for (size_t i = 0; i < T * cols; i++) /* 1.f...f times 2^e, 23 random bits */
			x[i] = ldexpf((float)(0x800000u | (uint32_t)(urand() * 4194304.0 + 4194304.0)) / 8388608.0f,
			              (int)(i % 81) - 40) * (i % 2 ? -1.0f : 1.0f);
		for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
			if (!ld_kernel_supported(kernels[k]))
				continue;
			const int rounded =
			        (kernels[k] == LD_KERNEL_AVX512_BF16 || kernels[k] == LD_KERNEL_AMX_BF16) && dt == LD_BF16;
			ld_matmul_with(out, x, &tw.w, T, kernels[k]);
			for (size_t t = 0; t < T; t++)
				for (size_t r = 0; r < rows; r++) {
					float xv = x[t * cols + (r * 37) % cols];
					if (rounded)
						xv = ld_bf16_to_f32(ld_f32_to_bf16(xv));
					float want = xv * ldexpf(1.0f, (int)(r % 5) - 2);
					if (out[t * rows + r] != want) {
						print_error("%s %s T=%zu: out[%zu][%zu] = %.9g, want exactly %.9g\n",
						            ld_kernel_name(kernels[k]), ld_dtype_name(dt), T, t, r, (double)out[t * rows + r],
						            (double)want);
						fail();
					}
				}
		}
		free(out);
		free(x);
		free(tw.buf);
	}
}

/* Logical row r is stored row row_map[r] (how HF's q/k permutation is undone). */
static void test_row_map(void **state)
{
	(void)state;
	const size_t rows = 130, cols = 200;
	uint32_t map[130];
	for (size_t r = 0; r < rows; r++)
		map[r] = (uint32_t)((r * 7 + 3) % rows); /* 7 is coprime with 130 */
	for (size_t d = 0; d < 3; d++)
		for (size_t T = 1; T <= 17; T += 16) {
			struct test_weight tw;
			weight_init(&tw, dtypes[d], rows, cols, 0);
			tw.w.row_map = map;
			float *x = random_x(T * cols, 0);
			run_case(&tw.w, x, T, "row_map");
			free(x);
			free(tw.buf);
		}
}

/* A debugger must show NaN and Inf where the arithmetic makes them. */
static void test_nan_inf(void **state)
{
	(void)state;
	const size_t rows = 67, cols = 203, T = 17;
	for (size_t d = 0; d < 3; d++) {
		struct test_weight tw;
		weight_init(&tw, dtypes[d], rows, cols, 0);
		float *x = random_x(T * cols, 0);
		x[3 * cols + 150] = NAN;  /* token 3: every output NaN */
		x[5 * cols + 201] = NAN;  /* token 5, in the column tail */
		put(&tw.w, 10 * cols + 7, NAN); /* row 10: NaN for every token */
		/* token 8: +Inf in column 40, whose weights are all positive */
		for (size_t r = 0; r < rows; r++)
			put(&tw.w, r * cols + 40, 0.03f);
		x[8 * cols + 40] = INFINITY;
		/* row 20: -Inf weight; token 11 has x = 0 there: 0 * Inf = NaN */
		put(&tw.w, 20 * cols + 100, -INFINITY);
		x[11 * cols + 100] = 0.0f;

		float *out = malloc(T * rows * sizeof *out);
		assert_non_null(out);
		for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
			if (!ld_kernel_supported(kernels[k]))
				continue;
			ld_matmul_with(out, x, &tw.w, T, kernels[k]);
			for (size_t t = 0; t < T; t++)
				for (size_t r = 0; r < rows; r++) {
					float v = out[t * rows + r];
					if (t == 3 || t == 5 || r == 10 || (t == 11 && r == 20)) {
						if (!isnan(v)) {
							print_error("%s %s: out[%zu][%zu] = %g, want NaN\n",
							            ld_kernel_name(kernels[k]),
							            ld_dtype_name(dtypes[d]), t, r, v);
							fail();
						}
					} else if (t == 8 && r == 20) {
						continue; /* Inf - Inf or Inf: run_case checks it */
					} else if (t == 8) {
						assert_true(isinf(v) && v > 0);
					} else if (r == 20) {
						/* -Inf weight times a random nonzero x */
						assert_true(isinf(v));
					} else {
						assert_true(isfinite(v));
					}
				}
		}
		/* and the values that stayed finite are right */
		run_case(&tw.w, x, T, "nan/inf");
		free(out);
		free(x);
		free(tw.buf);
	}
}

/* GGUF block types, with where each keeps its f16 scale d and its min m
 * (-1: none), and a d that keeps values near the size of real weights
 * (|w| up to ~0.05, as weight_init's). */
static const struct {
	enum ld_dtype t;
	int d_at, m_at;
	float d;
} quant_types[] = {
	{LD_Q8_0, 0, -1, 4e-4f},   {LD_Q4_0, 0, -1, 6e-3f},    {LD_Q4_1, 0, 2, 3e-3f},
	{LD_Q5_0, 0, -1, 3e-3f},   {LD_Q5_1, 0, 2, 1.5e-3f},   {LD_Q2_K, 80, 82, 1e-3f},
	{LD_Q3_K, 108, -1, 4e-4f}, {LD_Q4_K, 0, 2, 5e-5f},     {LD_Q5_K, 0, 2, 2.5e-5f},
	{LD_Q6_K, 208, -1, 1e-5f},
};
enum { N_QUANT = sizeof quant_types / sizeof quant_types[0] };

static void put_half(unsigned char *p, float v)
{
	uint16_t h = ld_f32_to_f16(v);
	memcpy(p, &h, 2);
}

/* Random valid blocks of quant_types[q]: random bytes (every bit pattern
 * is a valid integer field), then small random f16 scales. */
static void quant_weight_init(struct test_weight *tw, size_t q, size_t rows, size_t cols,
                              size_t misalign)
{
	size_t values, bytes;
	ld_dtype_block(quant_types[q].t, &values, &bytes);
	assert_true(cols % values == 0);
	const size_t nblk = rows * cols / values;
	tw->buf = malloc(nblk * bytes + misalign + 1);
	assert_non_null(tw->buf);
	tw->w = (struct ld_weight){.data = tw->buf + misalign, .dtype = quant_types[q].t,
	                           .rows = rows, .cols = cols};
	unsigned char *b = tw->buf + misalign;
	for (size_t i = 0; i < nblk * bytes; i++)
		b[i] = (unsigned char)(urand() * 128.0 + 128.0);
	for (size_t i = 0; i < nblk; i++, b += bytes) {
		put_half(b + quant_types[q].d_at, quant_types[q].d * (float)(1.0 + 0.5 * urand()));
		if (quant_types[q].m_at >= 0)
			put_half(b + quant_types[q].m_at, quant_types[q].d * (float)(2.0 * urand()));
	}
}

/* Every block type: rows not a multiple of the row group or chunk, cols
 * one block, a few and more than a column block (1024 decoded at a time),
 * T around the token block, the data at an odd byte offset. */
static void test_quant_shapes(void **state)
{
	(void)state;
	static const size_t Ts[] = {1, 2, 3, 17};
	static const size_t rowss[] = {1, 67, 130};
	for (size_t q = 0; q < N_QUANT; q++) {
		size_t values, bytes;
		ld_dtype_block(quant_types[q].t, &values, &bytes);
		const size_t colss[] = {values, values * 3, 2048 + 256};
		for (size_t ci = 0; ci < 3; ci++)
			for (size_t ri = 0; ri < sizeof rowss / sizeof *rowss; ri++)
				for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
					size_t T = Ts[ti], rows = rowss[ri], cols = colss[ci];
					struct test_weight tw;
					quant_weight_init(&tw, q, rows, cols, 1);
					float *x = random_x(T * cols, 0);
					run_case(&tw.w, x, T, "quant shape");
					free(x);
					free(tw.buf);
				}
	}
}

/* A row_map with block types: a 32-value type and two K types. */
static void test_quant_row_map(void **state)
{
	(void)state;
	const size_t rows = 130, cols = 1024 + 512;
	uint32_t map[130];
	for (size_t r = 0; r < rows; r++)
		map[r] = (uint32_t)((r * 7 + 3) % rows);
	for (size_t q = 0; q < N_QUANT; q++) {
		enum ld_dtype t = quant_types[q].t;
		if (t != LD_Q8_0 && t != LD_Q4_K && t != LD_Q6_K)
			continue;
		for (size_t T = 1; T <= 17; T += 16) {
			struct test_weight tw;
			quant_weight_init(&tw, q, rows, cols, 3);
			tw.w.row_map = map;
			float *x = random_x(T * cols, 0);
			run_case(&tw.w, x, T, "quant row_map");
			free(x);
			free(tw.buf);
		}
	}
}

/* ld_weight_row decodes logical row r of a block type exactly (the
 * portable decoder's bits), following row_map. */
static void test_quant_weight_row(void **state)
{
	(void)state;
	const size_t rows = 5, cols = 512;
	const uint32_t map[5] = {4, 2, 0, 1, 3};
	float row[512], want[512];
	for (size_t q = 0; q < N_QUANT; q++)
		for (int use_map = 0; use_map < 2; use_map++) {
			struct test_weight tw;
			quant_weight_init(&tw, q, rows, cols, 1);
			tw.w.row_map = use_map ? map : NULL;
			for (size_t r = 0; r < rows; r++) {
				size_t sr = use_map ? map[r] : r;
				ld_weight_row(row, &tw.w, r);
				ld_dequant(want,
				           (const unsigned char *)tw.w.data + sr * ld_dtype_bytes(tw.w.dtype, cols),
				           tw.w.dtype, cols);
				assert_memory_equal(row, want, sizeof row);
			}
			free(tw.buf);
		}
}

/* cols == 0: an empty sum is 0. T == 0: nothing is written. */
static void test_degenerate(void **state)
{
	(void)state;
	float out[6] = {7, 7, 7, 7, 7, 7};
	const float x[2] = {1, 2};
	uint16_t dummy = 0;
	struct ld_weight w = {.data = &dummy, .dtype = LD_BF16, .rows = 3, .cols = 0};
	for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
		for (int i = 0; i < 6; i++)
			out[i] = 7;
		ld_matmul_with(out, x, &w, 2, kernels[k]);
		for (int i = 0; i < 6; i++)
			assert_true(out[i] == 0.0f);
		ld_matmul_with(out, x, &w, 0, kernels[k]);
		assert_true(out[0] == 0.0f);
	}
}

/* A hand-checkable product: [1 2 3] @ [[1 0 -1] [0.5 0.5 0.5]]^T = [-2 3]. */
static void test_by_hand(void **state)
{
	(void)state;
	const float x[3] = {1, 2, 3};
	const float wf[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f};
	for (size_t d = 0; d < 3; d++) {
		unsigned char buf[24];
		struct ld_weight w = {.data = buf, .dtype = dtypes[d], .rows = 2, .cols = 3};
		for (int i = 0; i < 6; i++)
			put(&w, (size_t)i, wf[i]);
		for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
			float out[2] = {0, 0};
			ld_matmul_with(out, x, &w, 1, kernels[k]);
			assert_float_equal(out[0], -2.0f, 0.0f);
			assert_float_equal(out[1], 3.0f, 0.0f);
		}
	}
}

/* ld_weight_row widens logical row r exactly, following row_map. */
static void test_weight_row(void **state)
{
	(void)state;
	const size_t rows = 9, cols = 35;
	const uint32_t map[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
	float row[35];
	for (size_t d = 0; d < 3; d++)
		for (int use_map = 0; use_map < 2; use_map++) {
			struct test_weight tw;
			weight_init(&tw, dtypes[d], rows, cols, 1);
			put(&tw.w, 2 * cols + 4, NAN);
			put(&tw.w, 3 * cols + 5, -INFINITY);
			tw.w.row_map = use_map ? map : NULL;
			for (size_t r = 0; r < rows; r++) {
				size_t sr = use_map ? map[r] : r;
				ld_weight_row(row, &tw.w, r);
				for (size_t c = 0; c < cols; c++) {
					double want = get(&tw.w, sr * cols + c);
					if (isnan(want))
						assert_true(isnan(row[c]));
					else
						assert_true((double)row[c] == want);
				}
			}
			free(tw.buf);
		}
}

static void test_kernel_names(void **state)
{
	(void)state;
	unsetenv("LLAMADBG_KERNEL");
	enum ld_kernel k = ld_matmul_kernel();
	assert_true(k == LD_KERNEL_SCALAR || k == LD_KERNEL_AVX2 || k == LD_KERNEL_AVX512 ||
	            k == LD_KERNEL_AMX);
	assert_true(ld_kernel_supported(k) && ld_kernel_supported(LD_KERNEL_SCALAR));
	assert_string_equal(ld_kernel_name(LD_KERNEL_SCALAR), "scalar");
	assert_string_equal(ld_kernel_name(LD_KERNEL_AVX2), "avx2");
	assert_string_equal(ld_kernel_name(LD_KERNEL_AVX512), "avx512");
	assert_string_equal(ld_kernel_name(LD_KERNEL_AVX512_BF16), "avx512bf16");
	assert_string_equal(ld_kernel_name(LD_KERNEL_AMX), "amx");
	assert_string_equal(ld_kernel_name(LD_KERNEL_AMX_BF16), "amxbf16");
	assert_true(ld_kernel_rounds_x("avx512bf16") && ld_kernel_rounds_x("amxbf16"));
	assert_false(ld_kernel_rounds_x("avx512") || ld_kernel_rounds_x("amx") || ld_kernel_rounds_x("") ||
	             ld_kernel_rounds_x(NULL));
	/* bf16 dot products change the arithmetic: only ever asked for */
	assert_int_not_equal(k, LD_KERNEL_AVX512_BF16);
	assert_int_not_equal(k, LD_KERNEL_AMX_BF16);
	/* AUTO takes AMX where it runs; --bf16-dot the fastest rounding kernel */
	assert_true(ld_kernel_supported(LD_KERNEL_AMX) == (k == LD_KERNEL_AMX));
	enum ld_kernel dot = ld_bf16_dot_kernel();
	assert_true(dot == (ld_kernel_supported(LD_KERNEL_AMX_BF16)      ? LD_KERNEL_AMX_BF16
	                    : ld_kernel_supported(LD_KERNEL_AVX512_BF16) ? LD_KERNEL_AVX512_BF16
	                                                                 : LD_KERNEL_AUTO));
	for (size_t i = 0; i + 1 < sizeof kernels / sizeof kernels[0]; i++)
		print_message("%s kernel: %s\n", ld_kernel_name(kernels[i]),
		              ld_kernel_supported(kernels[i]) ? "tested" : "not on this CPU, skipped");
	print_message("ld_matmul uses the %s kernel on this CPU\n", ld_kernel_name(k));
}

/* LLAMADBG_KERNEL forces a kernel; a name that is not one, or a kernel the
 * CPU cannot run, is an error that names the variable. */
static void test_kernel_env(void **state)
{
	(void)state;
	enum ld_kernel k;
	struct ld_err err = {{0}};
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
		setenv("LLAMADBG_KERNEL", ld_kernel_name(kernels[i]), 1);
		if (ld_kernel_supported(kernels[i])) {
			assert_int_equal(ld_kernel_from_env(&k, &err), LD_OK);
			assert_int_equal(k, kernels[i]);
			if (kernels[i] != LD_KERNEL_AUTO)
				assert_int_equal(ld_matmul_kernel(), kernels[i]);
		} else {
			assert_int_equal(ld_kernel_from_env(&k, &err), LD_ERR_USAGE);
			assert_non_null(strstr(err.msg, "LLAMADBG_KERNEL="));
			assert_non_null(strstr(err.msg, "scalar"));
		}
	}
	setenv("LLAMADBG_KERNEL", "avx9000", 1);
	assert_int_equal(ld_kernel_from_env(&k, &err), LD_ERR_USAGE);
	assert_non_null(strstr(err.msg, "LLAMADBG_KERNEL=avx9000: no such kernel"));
	setenv("LLAMADBG_KERNEL", "", 1);
	assert_int_equal(ld_kernel_from_env(&k, &err), LD_OK);
	assert_int_equal(k, LD_KERNEL_AUTO);
	unsetenv("LLAMADBG_KERNEL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_names),
		cmocka_unit_test(test_kernel_env),
		cmocka_unit_test(test_by_hand),
		cmocka_unit_test(test_degenerate),
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_odd_byte_offset),
		cmocka_unit_test(test_row_map),
		cmocka_unit_test(test_exact_products),
		cmocka_unit_test(test_nan_inf),
		cmocka_unit_test(test_weight_row),
		cmocka_unit_test(test_quant_shapes),
		cmocka_unit_test(test_quant_row_map),
		cmocka_unit_test(test_quant_weight_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
