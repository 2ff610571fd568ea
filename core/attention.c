/* attention.c - the attention kernel: QK^T, softmax and PV, causal.
 *
 * The textbook loop (one query, one key, a dot product over hd) spends its
 * time on horizontal sums and reads each key once per query. Here, for one
 * query head:
 *
 *   scores   The head's keys are first transposed to kT (hd, S), so that
 *            16 consecutive keys' d-th components are contiguous. A score
 *            block is then 16 lanes of acc += q[d] * kT[d][s..s+15], d in
 *            order: each lane is exactly the scalar dot product, in the
 *            same order, 16 keys at a time.
 *   softmax  over the t+1 visible scores only; the masked tail is filled.
 *   PV       out[0..hd) += p[s] * v[s][0..hd), s in order: hd lanes of
 *            the scalar sum, held in registers across all s.
 *
 * Keys s > start_pos + t (the causal mask) are not computed: their scores
 * are -inf and their weights 0, written, never derived. Threads take whole
 * heads (OpenMP, static: query heads sharing a KV head stay on one thread,
 * so each thread transposes each of its KV heads once).
 *
 * The vector code is GCC/Clang vector extensions, compiled three times
 * (portable, AVX2, AVX-512F) and chosen like the matmul kernel
 * (ld_matmul_kernel, LLAMADBG_KERNEL). No fused multiply-add: a product is
 * rounded, then added, as in the plain loop, so all three kernels give the
 * same bits.
 */
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "ops.h"

/* The 16-float vector type is passed between always-inlined helpers only,
 * never across a call, so GCC's note on its calling convention is moot. */
#pragma GCC diagnostic ignored "-Wpsabi"

#define LANES 16
#define ALWAYS_INLINE inline __attribute__((always_inline))
typedef float vf __attribute__((vector_size(LANES * sizeof(float))));

static ALWAYS_INLINE vf vload(const float *p)
{
	vf x;
	memcpy(&x, p, sizeof x);
	return x;
}

static ALWAYS_INLINE void vstore(float *p, vf x) { memcpy(p, &x, sizeof x); }

/* The scalar dot product, for keys past the last full block of 16 (and
 * for everything if the transposed copy could not be allocated). */
static ALWAYS_INLINE float dot_strided(const float *q, const float *k, size_t stride, int hd)
{
	float dot = 0;
	for (int d = 0; d < hd; d++)
		dot += q[d] * k[(size_t)d * stride];
	return dot;
}

/* row[0..n) = q . key[s] * scale, keys from kT (hd, ld) when it is there,
 * else from the cache rows k (stride kv_dim). */
static ALWAYS_INLINE void scores_row(float *row, const float *qv, const float *kT, size_t ld,
                              const float *k, size_t kv_dim, size_t n, int hd, float scale)
{
	size_t s = 0;
	if (kT) {
		for (; s + 4 * LANES <= n; s += 4 * LANES) {
			vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
			for (int d = 0; d < hd; d++) {
				const float *kd = kT + (size_t)d * ld + s;
				a0 += qv[d] * vload(kd);
				a1 += qv[d] * vload(kd + LANES);
				a2 += qv[d] * vload(kd + 2 * LANES);
				a3 += qv[d] * vload(kd + 3 * LANES);
			}
			vstore(row + s, a0 * scale);
			vstore(row + s + LANES, a1 * scale);
			vstore(row + s + 2 * LANES, a2 * scale);
			vstore(row + s + 3 * LANES, a3 * scale);
		}
		for (; s + LANES <= n; s += LANES) {
			vf a = {0};
			for (int d = 0; d < hd; d++)
				a += qv[d] * vload(kT + (size_t)d * ld + s);
			vstore(row + s, a * scale);
		}
		for (; s < n; s++)
			row[s] = dot_strided(qv, kT + s, ld, hd) * scale;
	} else {
		for (; s < n; s++)
			row[s] = dot_strided(qv, k + s * kv_dim, 1, hd) * scale;
	}
}

/* prow[0..S) = softmax(row[0..S)) where only row[0..n) is visible and the
 * rest is -inf: the same numbers ld_softmax gives for the whole row (max
 * and sum over the visible part, since exp(-inf - max) adds nothing), the
 * masked weights 0 * (1 / sum) (NaN if the sum is). */
static ALWAYS_INLINE void softmax_row(float *prow, const float *row, size_t n, size_t S)
{
	float max = -INFINITY;
	for (size_t s = 0; s < n; s++)
		if (row[s] > max)
			max = row[s];
	if (max == -INFINITY) { /* nothing visible: all-zero weights */
		memset(prow, 0, S * sizeof *prow);
		return;
	}
	double sum = 0;
	for (size_t s = 0; s < n; s++) {
		prow[s] = expf(row[s] - max);
		sum += prow[s];
	}
	float inv = (float)(1.0 / sum);
	for (size_t s = 0; s < n; s++)
		prow[s] *= inv;
	float masked = 0.0f * inv;
	for (size_t s = n; s < S; s++)
		prow[s] = masked;
}

/* out[0..hd) = sum over s < n of p[s] * v[s][0..hd), s in order. */
static ALWAYS_INLINE void pv_row(float *out, const float *p, const float *v, size_t kv_dim, size_t n, int hd)
{
	int d = 0;
	for (; d + 4 * LANES <= hd; d += 4 * LANES) {
		vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
		for (size_t s = 0; s < n; s++) {
			const float *vs = v + s * kv_dim + d;
			a0 += p[s] * vload(vs);
			a1 += p[s] * vload(vs + LANES);
			a2 += p[s] * vload(vs + 2 * LANES);
			a3 += p[s] * vload(vs + 3 * LANES);
		}
		vstore(out + d, a0);
		vstore(out + d + LANES, a1);
		vstore(out + d + 2 * LANES, a2);
		vstore(out + d + 3 * LANES, a3);
	}
	for (; d + LANES <= hd; d += LANES) {
		vf a = {0};
		for (size_t s = 0; s < n; s++)
			a += p[s] * vload(v + s * kv_dim + d);
		vstore(out + d, a);
	}
	for (; d < hd; d++) {
		float a = 0;
		for (size_t s = 0; s < n; s++)
			a += p[s] * v[s * kv_dim + d];
		out[d] = a;
	}
}

/* Query head h for all T queries; kT holds KV head *kT_head transposed
 * (or is NULL). */
static ALWAYS_INLINE void attention_head(float *scores, float *probs, float *out, const float *q,
                                         const float *k, const float *v, size_t T,
                                         size_t start_pos, int h, int H, int KV, int hd,
                                         float scale, float *kT, int *kT_head)
{
	const size_t S = start_pos + T;
	const size_t q_dim = (size_t)H * hd, kv_dim = (size_t)KV * hd;
	const int g = ld_kv_head(h, H, KV); /* GQA: several query heads share KV head g */
	const float *kg = k + (size_t)g * hd, *vg = v + (size_t)g * hd;
	if (kT && *kT_head != g) {
		for (size_t s = 0; s < S; s++)
			for (int d = 0; d < hd; d++)
				kT[(size_t)d * S + s] = kg[s * kv_dim + d];
		*kT_head = g;
	}
	for (size_t t = 0; t < T; t++) {
		const size_t n = start_pos + t + 1; /* keys this query may see */
		const float *qv = q + t * q_dim + (size_t)h * hd;
		float *row = scores + ((size_t)h * T + t) * S;
		float *prow = probs + ((size_t)h * T + t) * S;
		scores_row(row, qv, kT, S, kg, kv_dim, n, hd, scale);
		for (size_t s = n; s < S; s++)
			row[s] = -INFINITY;
		softmax_row(prow, row, n, S);
		pv_row(out + t * q_dim + (size_t)h * hd, prow, vg, kv_dim, n, hd);
	}
}

/* One compiled kernel: threads over heads, each with its own kT. The
 * OpenMP region is written in each kernel so that it is compiled for that
 * kernel's instruction set. */
#define DEFINE_ATTENTION(name, attr)                                                        \
	attr static void name(float *scores, float *probs, float *out, const float *q,        \
	                      const float *k, const float *v, size_t T, size_t start_pos, int H, \
	                      int KV, int hd, float scale)                                      \
	{                                                                                       \
		const size_t S = start_pos + T;                                                     \
		_Pragma("omp parallel if (T * S * (size_t)H * hd > 65536)")                         \
		{                                                                                   \
			float *kT = S >= LANES ? malloc((size_t)hd * S * sizeof *kT) : NULL;            \
			int kT_head = -1;                                                               \
			_Pragma("omp for schedule(static)")                                             \
			for (int h = 0; h < H; h++)                                                     \
				attention_head(scores, probs, out, q, k, v, T, start_pos, h, H, KV, hd,     \
				               scale, kT, &kT_head);                                        \
			free(kT);                                                                       \
		}                                                                                   \
	}

DEFINE_ATTENTION(attention_portable, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_KERNELS 1
DEFINE_ATTENTION(attention_avx2, __attribute__((target("avx2"))))
DEFINE_ATTENTION(attention_avx512, __attribute__((target("avx512f"))))
#endif

void ld_attention(float *scores, float *probs, float *out, const float *q, const float *k,
                  const float *v, size_t T, size_t start_pos, int H, int KV, int hd, float scale)
{
#ifdef HAVE_X86_KERNELS
	switch (ld_matmul_kernel()) {
	case LD_KERNEL_AVX512:
	case LD_KERNEL_AVX512_BF16:
		attention_avx512(scores, probs, out, q, k, v, T, start_pos, H, KV, hd, scale);
		return;
	case LD_KERNEL_AVX2:
		attention_avx2(scores, probs, out, q, k, v, T, start_pos, H, KV, hd, scale);
		return;
	default:
		break;
	}
#endif
	attention_portable(scores, probs, out, q, k, v, T, start_pos, H, KV, hd, scale);
}

/* After a patch: the steps that follow a replaced scores or probs tensor,
 * as plain loops (a patched run is rare; these need not be fast). */
void ld_attention_from_probs(float *out, const float *probs, const float *v, size_t T, size_t start_pos,
                             int H, int KV, int hd)
{
	const size_t S = start_pos + T, q_dim = (size_t)H * hd, kv_dim = (size_t)KV * hd;
	for (int h = 0; h < H; h++) {
		const float *vg = v + (size_t)ld_kv_head(h, H, KV) * hd;
		for (size_t t = 0; t < T; t++)
			pv_row(out + t * q_dim + (size_t)h * hd, probs + ((size_t)h * T + t) * S, vg, kv_dim,
			       start_pos + t + 1, hd);
	}
}

void ld_attention_from_scores(float *probs, float *out, const float *scores, const float *v, size_t T,
                              size_t start_pos, int H, int KV, int hd)
{
	const size_t S = start_pos + T;
	for (size_t row = 0; row < (size_t)H * T; row++) {
		memcpy(probs + row * S, scores + row * S, S * sizeof(float));
		ld_softmax(probs + row * S, S);
	}
	ld_attention_from_probs(out, probs, v, T, start_pos, H, KV, hd);
}
