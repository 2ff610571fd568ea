/* test_quant.c - GGUF block types decoded to float32 (core/quant.c).
 *
 * Every type's block vectors (tests/data/gguf/blocks-<type>.bin, written
 * by the Python quantizers, with blocks-<type>.f32 the float32 values the
 * format defines) must decode bit for bit, at any byte offset, by the
 * portable decoder and by each SIMD one this CPU runs. The SIMD decoders
 * must equal the portable one bit for bit on random blocks too (random
 * bytes include NaN, Inf and subnormal f16 scales). NaN and Inf scales
 * give what IEEE arithmetic says.
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

static const struct {
	enum ld_dtype t;
	const char *file; /* tests/data/gguf/blocks-<file>.bin */
} types[] = {
	{LD_Q8_0, "q8_0"}, {LD_Q4_0, "q4_0"}, {LD_Q4_1, "q4_1"}, {LD_Q5_0, "q5_0"},
	{LD_Q5_1, "q5_1"}, {LD_Q2_K, "q2_k"}, {LD_Q3_K, "q3_k"}, {LD_Q4_K, "q4_k"},
	{LD_Q5_K, "q5_k"}, {LD_Q6_K, "q6_k"},
};
enum { N_TYPES = sizeof types / sizeof types[0] };

/* The decoders: the portable one always, the SIMD ones where they run. */
static const struct {
	enum ld_kernel k;
	ld_dequant_fn *fn;
} decoders[] = {
	{LD_KERNEL_SCALAR, ld_dequant},
	{LD_KERNEL_AVX2, ld_dequant_avx2},
	{LD_KERNEL_AVX512, ld_dequant_avx512},
};
enum { N_DECODERS = sizeof decoders / sizeof decoders[0] };

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot open", path);
	unsigned char *buf = malloc(1 << 16);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

/* First index where a and b differ as bit patterns, or n. */
static size_t first_bit_diff(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(a + i, b + i, sizeof *a) != 0)
			return i;
	return n;
}

static void test_block_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_TYPES; i++) {
		char path[256];
		size_t values, bytes, nbin, nf32;
		ld_dtype_block(types[i].t, &values, &bytes);
		snprintf(path, sizeof path, "data/gguf/blocks-%s.bin", types[i].file);
		unsigned char *bin = read_file(path, &nbin);
		snprintf(path, sizeof path, "data/gguf/blocks-%s.f32", types[i].file);
		unsigned char *f32 = read_file(path, &nf32);
		const size_t n = nf32 / 4;
		assert_int_equal(n, 3 * values);
		assert_int_equal(nbin, ld_dtype_bytes(types[i].t, n));
		float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
		unsigned char *shifted = malloc(nbin + 8);
		assert_non_null(want);
		assert_non_null(got);
		assert_non_null(shifted);
		memcpy(want, f32, n * sizeof *want); /* little-endian, as this machine */
		for (size_t d = 0; d < N_DECODERS; d++) {
			if (!ld_kernel_supported(decoders[d].k))
				continue;
			for (size_t off = 0; off < 4; off++) { /* blocks at any byte offset */
				memcpy(shifted + off, bin, nbin);
				memset(got, 0xa5, n * sizeof *got);
				decoders[d].fn(got, shifted + off, types[i].t, n);
				size_t bad = first_bit_diff(got, want, n);
				if (bad != n)
					fail_msg("%s, %s decoder, offset %zu: value %zu is %.9g, want %.9g",
					         ld_dtype_name(types[i].t), ld_kernel_name(decoders[d].k), off,
					         bad, (double)got[bad], (double)want[bad]);
			}
		}
		free(shifted);
		free(got);
		free(want);
		free(f32);
		free(bin);
	}
}

/* xorshift64: reproducible random bytes. */
static uint64_t rng = 0x2545f4914f6cdd1dull;
static unsigned char rand_byte(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned char)(rng >> 32);
}

/* Random bytes are valid blocks of every type; about one f16 scale in 32
 * is then Inf or NaN and one in 32 subnormal. The SIMD decoders must give
 * the portable decoder's bits. */
static void test_simd_equals_scalar(void **state)
{
	(void)state;
	enum { NBLK = 4096 };
	for (size_t i = 0; i < N_TYPES; i++) {
		size_t values, bytes;
		ld_dtype_block(types[i].t, &values, &bytes);
		const size_t n = NBLK * values;
		unsigned char *src = malloc(NBLK * bytes + 1);
		float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
		assert_non_null(src);
		assert_non_null(want);
		assert_non_null(got);
		for (size_t j = 0; j < NBLK * bytes + 1; j++)
			src[j] = rand_byte();
		ld_dequant(want, src + 1, types[i].t, n);
		for (size_t d = 1; d < N_DECODERS; d++) {
			if (!ld_kernel_supported(decoders[d].k))
				continue;
			decoders[d].fn(got, src + 1, types[i].t, n);
			size_t bad = first_bit_diff(got, want, n);
			if (bad != n)
				fail_msg("%s: %s decoder gives %.9g at value %zu, portable %.9g",
				         ld_dtype_name(types[i].t), ld_kernel_name(decoders[d].k),
				         (double)got[bad], bad, (double)want[bad]);
		}
		free(got);
		free(want);
		free(src);
	}
}

/* Decode one block with every decoder; all must agree bit for bit. */
static void decode_all(float *y, const unsigned char *b, enum ld_dtype t)
{
	size_t values, bytes;
	ld_dtype_block(t, &values, &bytes);
	ld_dequant(y, b, t, values);
	float other[256];
	for (size_t d = 1; d < N_DECODERS; d++)
		if (ld_kernel_supported(decoders[d].k)) {
			decoders[d].fn(other, b, t, values);
			assert_int_equal(first_bit_diff(other, y, values), values);
		}
}

static void put_half(unsigned char *p, uint16_t h) { memcpy(p, &h, 2); }

enum { F16_INF = 0x7c00, F16_NAN = 0x7e00, F16_ONE = 0x3c00, F16_MIN_SUB = 0x0001 };

/* NaN and Inf scales: Inf * 0 is NaN, Inf * q is +-Inf, NaN spreads, and
 * a subnormal f16 scale is exact (2^-24 * q). */
static void test_nan_inf_scales(void **state)
{
	(void)state;
	float y[256];

	/* Q8_0 with d = +Inf: q = 0 -> NaN, q > 0 -> +Inf, q < 0 -> -Inf. */
	unsigned char q8[34] = {0};
	put_half(q8, F16_INF);
	q8[2 + 1] = 5;
	q8[2 + 2] = (unsigned char)-3;
	decode_all(y, q8, LD_Q8_0);
	assert_true(isnan(y[0]));
	assert_true(isinf(y[1]) && y[1] > 0);
	assert_true(isinf(y[2]) && y[2] < 0);
	/* d = the smallest subnormal: exactly q * 2^-24. */
	put_half(q8, F16_MIN_SUB);
	decode_all(y, q8, LD_Q8_0);
	assert_true(y[1] == ldexpf(5.0f, -24) && y[2] == ldexpf(-3.0f, -24) && y[0] == 0.0f);
	/* d = NaN: every value NaN. */
	put_half(q8, F16_NAN);
	decode_all(y, q8, LD_Q8_0);
	for (int j = 0; j < 32; j++)
		assert_true(isnan(y[j]));

	/* Q4_1 with d = 1 and m = -Inf: every value -Inf. */
	unsigned char q41[20] = {0};
	put_half(q41, F16_ONE);
	put_half(q41 + 2, F16_INF | 0x8000);
	memset(q41 + 4, 0x73, 16);
	decode_all(y, q41, LD_Q4_1);
	for (int j = 0; j < 32; j++)
		assert_true(isinf(y[j]) && y[j] < 0);

	/* Q4_K with d = 1 and dmin = +Inf: group 0 has min 0 (Inf * 0 = NaN,
	 * so all NaN), group 1 min 1 (em = Inf: q - Inf = -Inf). */
	unsigned char q4k[144] = {0};
	put_half(q4k, F16_ONE);
	put_half(q4k + 2, F16_INF);
	q4k[4 + 0] = 2;     /* scale of group 0 */
	q4k[4 + 1] = 3;     /* scale of group 1 */
	q4k[4 + 4] = 0;     /* min of group 0 */
	q4k[4 + 5] = 1;     /* min of group 1 */
	memset(q4k + 16, 0x21, 128);
	decode_all(y, q4k, LD_Q4_K);
	for (int j = 0; j < 32; j++) {
		assert_true(isnan(y[j]));
		assert_true(isinf(y[32 + j]) && y[32 + j] < 0);
	}
	/* and with dmin = 0, finite: group 0 is 2 * 1, group 1 is 3 * 2. */
	put_half(q4k + 2, 0);
	decode_all(y, q4k, LD_Q4_K);
	assert_true(y[0] == 2.0f && y[32] == 6.0f);

	/* Q6_K with d = -Inf and group 0's scale 1: q - 32 = 1 -> -Inf,
	 * -32 -> +Inf; group 1's scale 0: -Inf * 0 = NaN. */
	unsigned char q6k[210] = {0};
	put_half(q6k + 208, F16_INF | 0x8000);
	q6k[192] = 1;
	q6k[0] = 0x01;   /* value 0: low bits 1 ... */
	q6k[128] = 0x02; /* ... bits 4-5 2: q = 33 */
	decode_all(y, q6k, LD_Q6_K);
	assert_true(isinf(y[0]) && y[0] < 0);
	assert_true(isinf(y[1]) && y[1] > 0); /* q = 0: -Inf * -32 */
	assert_true(isnan(y[16]));            /* group 1: scale 0 */
}

/* Hand-checkable blocks: one of each layout's extremes. */
static void test_by_hand(void **state)
{
	(void)state;
	float y[256];
	/* Q4_0, d = 1: low nibble 0 is -8, high nibble 15 is 7. */
	unsigned char q40[18] = {0};
	put_half(q40, F16_ONE);
	q40[2] = 0xf0;
	decode_all(y, q40, LD_Q4_0);
	assert_true(y[0] == -8.0f && y[16] == 7.0f && y[1] == -8.0f);
	/* Q5_0, d = 1: value 3 with bit 4 set from qh and nibble 15 is 31 - 16. */
	unsigned char q50[22] = {0};
	put_half(q50, F16_ONE);
	q50[2] = 0x08;        /* qh bit 3 */
	q50[6 + 3] = 0x0f;    /* value 3's low nibble */
	decode_all(y, q50, LD_Q5_0);
	assert_true(y[3] == 15.0f && y[0] == -16.0f);
	/* Q3_K, d = 1, every scale 33 (bias 32: 1), all bits zero: q = -4. */
	unsigned char q3k[110] = {0};
	put_half(q3k + 108, F16_ONE);
	memset(q3k + 96, 0x11, 8);   /* low 4 bits of each scale: 1 */
	memset(q3k + 104, 0xaa, 4);  /* top 2 bits: 2, i.e. +32 */
	q3k[0] = 0x01;               /* value 0's bit 2: q = 0 */
	decode_all(y, q3k, LD_Q3_K);
	assert_true(y[0] == 0.0f && y[1] == -4.0f && y[255] == -4.0f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_vectors),
		cmocka_unit_test(test_simd_equals_scalar),
		cmocka_unit_test(test_nan_inf_scales),
		cmocka_unit_test(test_by_hand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
