/* quant.c - GGUF block types to float32 (layouts and formulas in quant.h).
 *
 * One function per type decodes one block; ld_dequant walks the blocks.
 * The SIMD versions below decode the integers 8 or 16 at a time and then
 * do exactly the scalar float32 operations, in the same order (a multiply,
 * then a subtract: never fused, the build keeps -ffp-contract=off), so they
 * give the same bits. The per-group scales (d*sc, dmin*mn) are computed by
 * the same scalar helpers in both.
 */
#include "quant.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LD_HAVE_X86_PATHS 1
#endif

/* The f16 at p, as float32 (exact). */
static float half_at(const unsigned char *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return ld_f16_to_f32(h);
}

/* The little-endian u32 at p. */
static uint32_t u32_at(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- one block, portable ------------------------------------------------ */

static void block_q8_0(float *y, const unsigned char *b)
{
	const float d = half_at(b);
	for (int j = 0; j < 32; j++)
		y[j] = d * (float)(int8_t)b[2 + j];
}

static void block_q4_0(float *y, const unsigned char *b)
{
	const float d = half_at(b);
	const unsigned char *qs = b + 2;
	for (int j = 0; j < 16; j++) {
		y[j] = d * (float)((qs[j] & 15) - 8);
		y[j + 16] = d * (float)((qs[j] >> 4) - 8);
	}
}

static void block_q4_1(float *y, const unsigned char *b)
{
	const float d = half_at(b), m = half_at(b + 2);
	const unsigned char *qs = b + 4;
	for (int j = 0; j < 16; j++) {
		y[j] = d * (float)(qs[j] & 15) + m;
		y[j + 16] = d * (float)(qs[j] >> 4) + m;
	}
}

/* The 32 5-bit values of a Q5_0 / Q5_1 block: low nibbles from qs, bit 4
 * from the u32 qh. */
static void q5_values(int q[32], const unsigned char *qh4, const unsigned char *qs)
{
	const uint32_t qh = u32_at(qh4);
	for (int j = 0; j < 16; j++) {
		q[j] = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
		q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
	}
}

static void block_q5_0(float *y, const unsigned char *b)
{
	const float d = half_at(b);
	int q[32];
	q5_values(q, b + 2, b + 6);
	for (int j = 0; j < 32; j++)
		y[j] = d * (float)(q[j] - 16);
}

static void block_q5_1(float *y, const unsigned char *b)
{
	const float d = half_at(b), m = half_at(b + 2);
	int q[32];
	q5_values(q, b + 4, b + 8);
	for (int j = 0; j < 32; j++)
		y[j] = d * (float)q[j] + m;
}

/* Q2_K and Q3_K keep 2 bits of each value in qs[64]: value 128h + 32k + l
 * (h 0..1, k 0..3, l 0..31) is bits 2k, 2k+1 of qs[32h + l]. */
static int q2_bits(const unsigned char *qs, int v)
{
	return (qs[32 * (v / 128) + v % 32] >> (2 * (v / 32 % 4))) & 3;
}

static void block_q2_k(float *y, const unsigned char *b)
{
	const unsigned char *sc = b, *qs = b + 16;
	const float d = half_at(b + 80), dmin = half_at(b + 82);
	for (int g = 0; g < 16; g++) {
		const float es = d * (float)(sc[g] & 15), em = dmin * (float)(sc[g] >> 4);
		for (int i = 0; i < 16; i++)
			y[16 * g + i] = es * (float)q2_bits(qs, 16 * g + i) - em;
	}
}

/* The sixteen 6-bit scales of a Q3_K block, bias removed: the low 4 bits
 * of scale j are the low (j < 8) or high (j >= 8) nibble of s[j % 8], the
 * top 2 bits are bits 2(j/4), 2(j/4)+1 of s[8 + j % 4]. */
static void q3_k_scales(int out[16], const unsigned char *s)
{
	for (int j = 0; j < 16; j++) {
		int lo4 = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
		out[j] = (lo4 | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
	}
}

static void block_q3_k(float *y, const unsigned char *b)
{
	const unsigned char *hmask = b, *qs = b + 32;
	const float d = half_at(b + 108);
	int sc[16];
	q3_k_scales(sc, b + 96);
	for (int g = 0; g < 16; g++) {
		const float es = d * (float)sc[g];
		for (int i = 0; i < 16; i++) {
			int v = 16 * g + i;
			int high = (hmask[v % 32] >> (v / 32)) & 1; /* bit 2 of value v */
			y[v] = es * (float)(q2_bits(qs, v) + 4 * high - 4);
		}
	}
}

/* Q4_K and Q5_K: the eight groups' scales d*sc and mins dmin*mn, from the
 * 12 packed bytes s: 6-bit scales 0-3 and mins 0-3 are the low 6 bits of
 * s[0..4) and s[4..8); scales and mins 4-7 have their low 4 bits in the
 * nibbles of s[8..12) and their top 2 bits in bits 6-7 of s[0..8). */
static void k4_scales(float es[8], float em[8], const unsigned char *b)
{
	const float d = half_at(b), dmin = half_at(b + 2);
	const unsigned char *s = b + 4;
	for (int g = 0; g < 8; g++) {
		int sc, mn;
		if (g < 4) {
			sc = s[g] & 63;
			mn = s[g + 4] & 63;
		} else {
			sc = (s[g + 4] & 15) | (s[g - 4] >> 6) << 4;
			mn = (s[g + 4] >> 4) | (s[g] >> 6) << 4;
		}
		es[g] = d * (float)sc;
		em[g] = dmin * (float)mn;
	}
}

/* Q4_K's qs: group 2c is the low nibbles of qs[32c..32c+32), group 2c+1
 * the high nibbles. */
static void block_q4_k(float *y, const unsigned char *b)
{
	const unsigned char *qs = b + 16;
	float es[8], em[8];
	k4_scales(es, em, b);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			const int q = qs[32 * c + l];
			y[64 * c + l] = es[2 * c] * (float)(q & 15) - em[2 * c];
			y[64 * c + 32 + l] = es[2 * c + 1] * (float)(q >> 4) - em[2 * c + 1];
		}
}

/* Q5_K: Q4_K's nibbles, and bit 4 of value l of group g is bit g of qh[l]. */
static void block_q5_k(float *y, const unsigned char *b)
{
	const unsigned char *qh = b + 16, *qs = b + 48;
	float es[8], em[8];
	k4_scales(es, em, b);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			const int q = qs[32 * c + l];
			const int lo = (q & 15) | ((qh[l] >> (2 * c)) & 1) << 4;
			const int hi = (q >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4;
			y[64 * c + l] = es[2 * c] * (float)lo - em[2 * c];
			y[64 * c + 32 + l] = es[2 * c + 1] * (float)hi - em[2 * c + 1];
		}
}

/* Q6_K's sixteen group scales d*sc. */
static void q6_k_scales(float es[16], const unsigned char *b)
{
	const float d = half_at(b + 208);
	for (int g = 0; g < 16; g++)
		es[g] = d * (float)(int8_t)b[192 + g];
}

/* Q6_K: in half h (128 values), value 32k + l has its low 4 bits in
 * ql[64h + l] (k = 0: low nibble, k = 2: high) or ql[64h + 32 + l] (k = 1,
 * 3), and its bits 4-5 in bits 2k, 2k+1 of qh[32h + l]. */
static void block_q6_k(float *y, const unsigned char *b)
{
	float es[16];
	q6_k_scales(es, b);
	for (int h = 0; h < 2; h++) {
		const unsigned char *ql = b + 64 * h, *qh = b + 128 + 32 * h;
		for (int l = 0; l < 32; l++) {
			const int q[4] = {
				(ql[l] & 15) | (qh[l] & 3) << 4,
				(ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4,
				(ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4,
				(ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4,
			};
			for (int k = 0; k < 4; k++) {
				const int v = 128 * h + 32 * k + l;
				y[v] = es[v / 16] * (float)(q[k] - 32);
			}
		}
	}
}

typedef void block_fn(float *y, const unsigned char *b);

static block_fn *block_decoder(enum ld_dtype t)
{
	switch (t) {
	case LD_Q8_0: return block_q8_0;
	case LD_Q4_0: return block_q4_0;
	case LD_Q4_1: return block_q4_1;
	case LD_Q5_0: return block_q5_0;
	case LD_Q5_1: return block_q5_1;
	case LD_Q2_K: return block_q2_k;
	case LD_Q3_K: return block_q3_k;
	case LD_Q4_K: return block_q4_k;
	case LD_Q5_K: return block_q5_k;
	case LD_Q6_K: return block_q6_k;
	default: return NULL;
	}
}

/* Apply a block decoder to each of the n / values blocks. */
static void each_block(block_fn *fn, float *out, const void *src, enum ld_dtype t, size_t n)
{
	size_t values, bytes;
	ld_dtype_block(t, &values, &bytes);
	assert(fn && values > 1 && n % values == 0);
	const unsigned char *b = src;
	for (size_t i = 0; i < n / values; i++)
		fn(out + i * values, b + i * bytes);
}

void ld_dequant(float *out, const void *src, enum ld_dtype t, size_t n)
{
	each_block(block_decoder(t), out, src, t, n);
}

#ifdef LD_HAVE_X86_PATHS

/* ---- AVX2 ----------------------------------------------------------------
 *
 * Each group of 8 stored integers is widened to 8 i32 lanes (vpmovzxbd /
 * vpmovsxbd straight from memory), unpacked with shifts and masks, turned
 * into floats (exact: they are small), then multiplied by the group's
 * scale and, for the types with a min, the min subtracted. */

#define AVX2_FN static __attribute__((target("avx2,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,f16c")))

/* The 8 bytes at p, zero- or sign-extended to i32 lanes. */
AVX2_INLINE __m256i u8x8(const unsigned char *p)
{
	return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i_u *)p));
}

AVX2_INLINE __m256i i8x8(const unsigned char *p)
{
	return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i_u *)p));
}

/* y[0..8) = es * q - em (8 values of a group with a min) ... */
AVX2_INLINE void put_scaled_min(float *y, float es, __m256i q, float em)
{
	__m256 v = _mm256_mul_ps(_mm256_set1_ps(es), _mm256_cvtepi32_ps(q));
	_mm256_storeu_ps(y, _mm256_sub_ps(v, _mm256_set1_ps(em)));
}

/* ... and y[0..8) = es * q (a group without). */
AVX2_INLINE void put_scaled(float *y, float es, __m256i q)
{
	_mm256_storeu_ps(y, _mm256_mul_ps(_mm256_set1_ps(es), _mm256_cvtepi32_ps(q)));
}

/* k4_scales with vectors: the 8 scales and 8 mins as 8 u32 lanes each,
 * unpacked from the 12 bytes at once (lanes 0-3 and 4-7 are packed two
 * ways, see k4_scales) and multiplied by d and dmin (widened by the CPU's
 * f16 conversion): the same products, so the same values. Scalar code
 * spent as long on a block's scales as the vectors on its 256 values.
 * For the AVX2 and AVX-512 decoders alike. */
static inline __attribute__((always_inline, target("avx2,f16c"))) void
simd_k4_scales(float es[8], float em[8], const unsigned char *b)
{
	uint16_t hd, hm;
	uint64_t s0, s4;
	memcpy(&hd, b, 2);
	memcpy(&hm, b + 2, 2);
	memcpy(&s0, b + 4, 8); /* s[0..8) */
	memcpy(&s4, b + 8, 8); /* s[4..12) */
	const __m256i A = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)s0)); /* s[g] */
	const __m256i B = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)s4)); /* s[g + 4] */
	const __m256i Am4 = _mm256_permutevar8x32_epi32(A, _mm256_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3));
	const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15);
	/* g < 4: the low 6 bits; g >= 4: a nibble of s[g + 4] and the top 2
	 * bits of s[g - 4] (scales) or s[g] (mins) */
	const __m256i sc = _mm256_blend_epi32(
		_mm256_and_si256(A, m63),
		_mm256_or_si256(_mm256_and_si256(B, m15), _mm256_slli_epi32(_mm256_srli_epi32(Am4, 6), 4)), 0xf0);
	const __m256i mn = _mm256_blend_epi32(
		_mm256_and_si256(B, m63),
		_mm256_or_si256(_mm256_srli_epi32(B, 4), _mm256_slli_epi32(_mm256_srli_epi32(A, 6), 4)), 0xf0);
	_mm256_storeu_ps(es, _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(hd)), _mm256_cvtepi32_ps(sc)));
	_mm256_storeu_ps(em, _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(hm)), _mm256_cvtepi32_ps(mn)));
}

/* q6_k_scales with vectors: the 16 int8 scales times d, the same
 * products. */
static inline __attribute__((always_inline, target("avx2,f16c"))) void
simd_q6_scales(float es[16], const unsigned char *b)
{
	uint16_t hd;
	uint64_t lo, hi;
	memcpy(&hd, b + 208, 2);
	memcpy(&lo, b + 192, 8);
	memcpy(&hi, b + 200, 8);
	const __m256 d = _mm256_set1_ps(_cvtsh_ss(hd));
	_mm256_storeu_ps(es, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128((long long)lo)))));
	_mm256_storeu_ps(es + 8,
	                 _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128((long long)hi)))));
}

AVX2_FN void avx2_q8_0(float *y, const unsigned char *b)
{
	const float d = half_at(b);
	for (int i = 0; i < 32; i += 8)
		put_scaled(y + i, d, i8x8(b + 2 + i));
}

AVX2_FN void avx2_q4_k(float *y, const unsigned char *b)
{
	const unsigned char *qs = b + 16;
	const __m256i m4 = _mm256_set1_epi32(15);
	float es[8], em[8];
	simd_k4_scales(es, em, b);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l += 8) {
			__m256i q = u8x8(qs + 32 * c + l);
			put_scaled_min(y + 64 * c + l, es[2 * c], _mm256_and_si256(q, m4), em[2 * c]);
			put_scaled_min(y + 64 * c + 32 + l, es[2 * c + 1], _mm256_srli_epi32(q, 4),
			               em[2 * c + 1]);
		}
}

AVX2_FN void avx2_q5_k(float *y, const unsigned char *b)
{
	const unsigned char *qh = b + 16, *qs = b + 48;
	const __m256i m4 = _mm256_set1_epi32(15), bit4 = _mm256_set1_epi32(16);
	float es[8], em[8];
	simd_k4_scales(es, em, b);
	for (int l = 0; l < 32; l += 8) {
		/* bit g of qh[l] at bit 4 + g: shifting right by g brings it to bit 4 */
		const __m256i h = _mm256_slli_epi32(u8x8(qh + l), 4);
		for (int c = 0; c < 4; c++) {
			__m256i q = u8x8(qs + 32 * c + l);
			__m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4),
			                             _mm256_and_si256(_mm256_srli_epi32(h, 2 * c), bit4));
			__m256i hi = _mm256_or_si256(_mm256_srli_epi32(q, 4),
			                             _mm256_and_si256(_mm256_srli_epi32(h, 2 * c + 1), bit4));
			put_scaled_min(y + 64 * c + l, es[2 * c], lo, em[2 * c]);
			put_scaled_min(y + 64 * c + 32 + l, es[2 * c + 1], hi, em[2 * c + 1]);
		}
	}
}

AVX2_FN void avx2_q6_k(float *y, const unsigned char *b)
{
	const __m256i m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(0x30),
	              bias = _mm256_set1_epi32(32);
	float es[16];
	simd_q6_scales(es, b);
	for (int h = 0; h < 2; h++) {
		const unsigned char *ql = b + 64 * h, *qh = b + 128 + 32 * h;
		float *yh = y + 128 * h;
		for (int l = 0; l < 32; l += 8) {
			const __m256i a = u8x8(ql + l), c = u8x8(ql + 32 + l), hb = u8x8(qh + l);
			/* bits 4-5 of value k are bits 2k, 2k+1 of hb: moved to 4-5 */
			__m256i q0 = _mm256_or_si256(_mm256_and_si256(a, m4),
			                             _mm256_and_si256(_mm256_slli_epi32(hb, 4), m2));
			__m256i q1 = _mm256_or_si256(_mm256_and_si256(c, m4),
			                             _mm256_and_si256(_mm256_slli_epi32(hb, 2), m2));
			__m256i q2 = _mm256_or_si256(_mm256_srli_epi32(a, 4), _mm256_and_si256(hb, m2));
			__m256i q3 = _mm256_or_si256(_mm256_srli_epi32(c, 4),
			                             _mm256_and_si256(_mm256_srli_epi32(hb, 2), m2));
			const int g = 8 * h + l / 16; /* group of value 32k + l is g + 2k */
			put_scaled(yh + l, es[g], _mm256_sub_epi32(q0, bias));
			put_scaled(yh + 32 + l, es[g + 2], _mm256_sub_epi32(q1, bias));
			put_scaled(yh + 64 + l, es[g + 4], _mm256_sub_epi32(q2, bias));
			put_scaled(yh + 96 + l, es[g + 6], _mm256_sub_epi32(q3, bias));
		}
	}
}

void ld_dequant_avx2(float *out, const void *src, enum ld_dtype t, size_t n)
{
	switch (t) {
	case LD_Q8_0: each_block(avx2_q8_0, out, src, t, n); break;
	case LD_Q4_K: each_block(avx2_q4_k, out, src, t, n); break;
	case LD_Q5_K: each_block(avx2_q5_k, out, src, t, n); break;
	case LD_Q6_K: each_block(avx2_q6_k, out, src, t, n); break;
	default: ld_dequant(out, src, t, n); break;
	}
}

/* ---- AVX-512F ------------------------------------------------------------
 *
 * The AVX2 decoders at 16 values a step (vpmovzxbd / vpmovsxbd of 16
 * bytes to zmm are AVX-512F). */

#define AVX512_FN static __attribute__((target("avx512f,f16c")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

AVX512_INLINE __m512i u8x16(const unsigned char *p)
{
	return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i_u *)p));
}

AVX512_INLINE __m512i i8x16(const unsigned char *p)
{
	return _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i_u *)p));
}

AVX512_INLINE void z_put_scaled_min(float *y, float es, __m512i q, float em)
{
	__m512 v = _mm512_mul_ps(_mm512_set1_ps(es), _mm512_cvtepi32_ps(q));
	_mm512_storeu_ps(y, _mm512_sub_ps(v, _mm512_set1_ps(em)));
}

AVX512_INLINE void z_put_scaled(float *y, float es, __m512i q)
{
	_mm512_storeu_ps(y, _mm512_mul_ps(_mm512_set1_ps(es), _mm512_cvtepi32_ps(q)));
}

AVX512_FN void avx512_q4_k(float *y, const unsigned char *b)
{
	const unsigned char *qs = b + 16;
	const __m512i m4 = _mm512_set1_epi32(15);
	float es[8], em[8];
	simd_k4_scales(es, em, b);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l += 16) {
			__m512i q = u8x16(qs + 32 * c + l);
			z_put_scaled_min(y + 64 * c + l, es[2 * c], _mm512_and_si512(q, m4), em[2 * c]);
			z_put_scaled_min(y + 64 * c + 32 + l, es[2 * c + 1], _mm512_srli_epi32(q, 4),
			                 em[2 * c + 1]);
		}
}

AVX512_FN void avx512_q5_k(float *y, const unsigned char *b)
{
	const unsigned char *qh = b + 16, *qs = b + 48;
	const __m512i m4 = _mm512_set1_epi32(15), bit4 = _mm512_set1_epi32(16);
	float es[8], em[8];
	simd_k4_scales(es, em, b);
	for (int l = 0; l < 32; l += 16) {
		const __m512i h = _mm512_slli_epi32(u8x16(qh + l), 4);
		for (int c = 0; c < 4; c++) {
			__m512i q = u8x16(qs + 32 * c + l);
			__m512i lo = _mm512_or_si512(_mm512_and_si512(q, m4),
			                             _mm512_and_si512(_mm512_srli_epi32(h, 2 * c), bit4));
			__m512i hi = _mm512_or_si512(_mm512_srli_epi32(q, 4),
			                             _mm512_and_si512(_mm512_srli_epi32(h, 2 * c + 1), bit4));
			z_put_scaled_min(y + 64 * c + l, es[2 * c], lo, em[2 * c]);
			z_put_scaled_min(y + 64 * c + 32 + l, es[2 * c + 1], hi, em[2 * c + 1]);
		}
	}
}

AVX512_FN void avx512_q6_k(float *y, const unsigned char *b)
{
	const __m512i m4 = _mm512_set1_epi32(15), m2 = _mm512_set1_epi32(0x30),
	              bias = _mm512_set1_epi32(32);
	float es[16];
	simd_q6_scales(es, b);
	for (int h = 0; h < 2; h++) {
		const unsigned char *ql = b + 64 * h, *qh = b + 128 + 32 * h;
		float *yh = y + 128 * h;
		for (int l = 0; l < 32; l += 16) {
			const __m512i a = u8x16(ql + l), c = u8x16(ql + 32 + l), hb = u8x16(qh + l);
			__m512i q0 = _mm512_or_si512(_mm512_and_si512(a, m4),
			                             _mm512_and_si512(_mm512_slli_epi32(hb, 4), m2));
			__m512i q1 = _mm512_or_si512(_mm512_and_si512(c, m4),
			                             _mm512_and_si512(_mm512_slli_epi32(hb, 2), m2));
			__m512i q2 = _mm512_or_si512(_mm512_srli_epi32(a, 4), _mm512_and_si512(hb, m2));
			__m512i q3 = _mm512_or_si512(_mm512_srli_epi32(c, 4),
			                             _mm512_and_si512(_mm512_srli_epi32(hb, 2), m2));
			const int g = 8 * h + l / 16;
			z_put_scaled(yh + l, es[g], _mm512_sub_epi32(q0, bias));
			z_put_scaled(yh + 32 + l, es[g + 2], _mm512_sub_epi32(q1, bias));
			z_put_scaled(yh + 64 + l, es[g + 4], _mm512_sub_epi32(q2, bias));
			z_put_scaled(yh + 96 + l, es[g + 6], _mm512_sub_epi32(q3, bias));
		}
	}
}

/* Q8_0 rows, the hottest decoder: a block is only 32 values, so the loop
 * is written out (no call per block) and the scale is widened by the
 * CPU's own f16 conversion (every AVX-512F CPU has F16C), the same exact
 * value half_at gives. */
static __attribute__((target("avx512f,f16c"))) void avx512_q8_0_row(float *y, const unsigned char *b,
                                                                      size_t n)
{
	assert(n % 32 == 0);
	for (size_t i = 0; i < n / 32; i++, b += 34, y += 32) {
		uint16_t h;
		memcpy(&h, b, 2);
		const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
		_mm512_storeu_ps(y, _mm512_mul_ps(d, _mm512_cvtepi32_ps(i8x16(b + 2))));
		_mm512_storeu_ps(y + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(i8x16(b + 18))));
	}
}

void ld_dequant_avx512(float *out, const void *src, enum ld_dtype t, size_t n)
{
	switch (t) {
	case LD_Q8_0: avx512_q8_0_row(out, src, n); break;
	case LD_Q4_K: each_block(avx512_q4_k, out, src, t, n); break;
	case LD_Q5_K: each_block(avx512_q5_k, out, src, t, n); break;
	case LD_Q6_K: each_block(avx512_q6_k, out, src, t, n); break;
	default: ld_dequant(out, src, t, n); break;
	}
}

#else /* not x86-64: the portable decoders */

void ld_dequant_avx2(float *out, const void *src, enum ld_dtype t, size_t n)
{
	ld_dequant(out, src, t, n);
}

void ld_dequant_avx512(float *out, const void *src, enum ld_dtype t, size_t n)
{
	ld_dequant(out, src, t, n);
}

#endif
