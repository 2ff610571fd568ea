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
typedef int vi __attribute__((vector_size(LANES * sizeof(int))));

static ALWAYS_INLINE vf vload(const float *p)
{
	vf x;
	memcpy(&x, p, sizeof x);
	return x;
}

static ALWAYS_INLINE void vstore(float *p, vf x) { memcpy(p, &x, sizeof x); }

/* p[0..n) = val, a vector at a time (the masked half of a row). */
static ALWAYS_INLINE void vfill(float *p, float val, size_t n)
{
	const vf v = (vf){0} + val;
	size_t i = 0;
	for (; i + LANES <= n; i += LANES)
		vstore(p + i, v);
	for (; i < n; i++)
		p[i] = val;
}

/* The scalar dot product, for keys past the last full block of 16 (and
 * for everything if the transposed copy could not be allocated). */
static ALWAYS_INLINE float dot_strided(const float *q, const float *k, size_t stride, int hd)
{
	float dot = 0;
	for (int d = 0; d < hd; d++)
		dot += q[d] * k[(size_t)d * stride];
	return dot;
}

/* row[s0..n) = q . key[s] * scale, keys from kT (hd, ld) when it is there,
 * else from the cache rows k (stride kv_dim). */
static ALWAYS_INLINE void scores_row(float *row, const float *qv, const float *kT, size_t ld,
                                     const float *k, size_t kv_dim, size_t s0, size_t n, int hd,
                                     float scale)
{
	size_t s = s0;
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

/* Two queries' rows at once, as far as the first (n0 keys) goes in blocks
 * of 64: each kT load feeds both, and 8 sums are under way instead of 4.
 * Each lane is the same sum in the same order as scores_row's. Returns
 * where each row is to be finished by scores_row. The 8 sums are written
 * out (here and in pv_rows2): as arrays behind a helper, GCC 12 kept
 * fewer of them in registers and the kernel ran 20% slower. */
static ALWAYS_INLINE size_t scores_rows2(float *row0, float *row1, const float *q0, const float *q1,
                                         const float *kT, size_t ld, size_t n0, int hd, float scale)
{
	size_t s = 0;
	for (; s + 4 * LANES <= n0; s += 4 * LANES) {
		vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
		for (int d = 0; d < hd; d++) {
			const float *kd = kT + (size_t)d * ld + s;
			const vf k0 = vload(kd), k1 = vload(kd + LANES), k2 = vload(kd + 2 * LANES),
			         k3 = vload(kd + 3 * LANES);
			a0 += q0[d] * k0;
			a1 += q0[d] * k1;
			a2 += q0[d] * k2;
			a3 += q0[d] * k3;
			b0 += q1[d] * k0;
			b1 += q1[d] * k1;
			b2 += q1[d] * k2;
			b3 += q1[d] * k3;
		}
		vstore(row0 + s, a0 * scale);
		vstore(row0 + s + LANES, a1 * scale);
		vstore(row0 + s + 2 * LANES, a2 * scale);
		vstore(row0 + s + 3 * LANES, a3 * scale);
		vstore(row1 + s, b0 * scale);
		vstore(row1 + s + LANES, b1 * scale);
		vstore(row1 + s + 2 * LANES, b2 * scale);
		vstore(row1 + s + 3 * LANES, b3 * scale);
	}
	return s;
}

/* prow[0..S) = softmax(row[0..S)) where only row[0..n) is visible and the
 * rest is -inf: the same numbers ld_softmax gives for the whole row (max
 * and sum over the visible part, since exp(-inf - max) adds nothing), the
 * masked weights 0 * (1 / sum) (NaN if the sum is). */
static ALWAYS_INLINE void softmax_row(float *prow, const float *row, size_t n, size_t S)
{
	/* the max, 16 lanes at a time: each lane keeps what beats it (a NaN
	 * never does), then the lanes are compared the same way */
	float max = -INFINITY;
	size_t s0 = 0;
	if (n >= LANES) {
		vf m = (vf){0} + max;
		for (; s0 + LANES <= n; s0 += LANES) {
			const vf r = vload(row + s0);
			const vi beats = r > m; /* all ones where r > m */
			m = (vf)(((vi)r & beats) | ((vi)m & ~beats));
		}
		for (int l = 0; l < LANES; l++)
			if (m[l] > max)
				max = m[l];
	}
	for (size_t s = s0; s < n; s++)
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
	size_t s = 0;
	for (; s + LANES <= n; s += LANES)
		vstore(prow + s, vload(prow + s) * inv);
	for (; s < n; s++)
		prow[s] *= inv;
	vfill(prow + n, 0.0f * inv, S - n);
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

/* Two queries' outputs at once, the second seeing one key more (n0 + 1):
 * each v load feeds both, 8 sums under way; the same sums, in the same
 * order (s ascending), as pv_row's. hd a multiple of 64. */
static ALWAYS_INLINE void pv_rows2(float *out0, float *out1, const float *p0, const float *p1,
                                   const float *v, size_t kv_dim, size_t n0, int hd)
{
	for (int d = 0; d + 4 * LANES <= hd; d += 4 * LANES) {
		vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
		for (size_t s = 0; s < n0; s++) {
			const float *vs = v + s * kv_dim + d;
			const vf v0 = vload(vs), v1 = vload(vs + LANES), v2 = vload(vs + 2 * LANES),
			         v3 = vload(vs + 3 * LANES);
			a0 += p0[s] * v0;
			a1 += p0[s] * v1;
			a2 += p0[s] * v2;
			a3 += p0[s] * v3;
			b0 += p1[s] * v0;
			b1 += p1[s] * v1;
			b2 += p1[s] * v2;
			b3 += p1[s] * v3;
		}
		const float *vs = v + n0 * kv_dim + d; /* the second query's last key */
		b0 += p1[n0] * vload(vs);
		b1 += p1[n0] * vload(vs + LANES);
		b2 += p1[n0] * vload(vs + 2 * LANES);
		b3 += p1[n0] * vload(vs + 3 * LANES);
		vstore(out0 + d, a0);
		vstore(out0 + d + LANES, a1);
		vstore(out0 + d + 2 * LANES, a2);
		vstore(out0 + d + 3 * LANES, a3);
		vstore(out1 + d, b0);
		vstore(out1 + d + LANES, b1);
		vstore(out1 + d + 2 * LANES, b2);
		vstore(out1 + d + 3 * LANES, b3);
	}
}

/* Query head h for all T queries; kT holds KV head *kT_head transposed
 * (or is NULL). With pairs (the AVX-512 kernel, whose 32 registers hold
 * 8 sums and their inputs), queries go two at a time where they can. */
static ALWAYS_INLINE void attention_head(float *scores, float *probs, float *out, const float *q,
                                         const float *k, const float *v, size_t T,
                                         size_t start_pos, int h, int H, int KV, int hd,
                                         float scale, float *kT, int *kT_head, int pairs)
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
	for (size_t t = 0; t < T;) {
		const size_t n = start_pos + t + 1; /* keys this query may see */
		const float *qv = q + t * q_dim + (size_t)h * hd;
		float *row = scores + ((size_t)h * T + t) * S;
		float *prow = probs + ((size_t)h * T + t) * S;
		if (pairs && kT && t + 1 < T && hd % (4 * LANES) == 0) {
			/* queries t and t + 1 (which sees n + 1 keys) */
			const float *qv1 = qv + q_dim;
			float *row1 = row + S, *prow1 = prow + S;
			size_t s = scores_rows2(row, row1, qv, qv1, kT, S, n, hd, scale);
			scores_row(row, qv, kT, S, kg, kv_dim, s, n, hd, scale);
			scores_row(row1, qv1, kT, S, kg, kv_dim, s, n + 1, hd, scale);
			vfill(row + n, -INFINITY, S - n);
			vfill(row1 + n + 1, -INFINITY, S - n - 1);
			softmax_row(prow, row, n, S);
			softmax_row(prow1, row1, n + 1, S);
			pv_rows2(out + t * q_dim + (size_t)h * hd, out + (t + 1) * q_dim + (size_t)h * hd, prow,
			         prow1, vg, kv_dim, n, hd);
			t += 2;
			continue;
		}
		scores_row(row, qv, kT, S, kg, kv_dim, 0, n, hd, scale);
		vfill(row + n, -INFINITY, S - n);
		softmax_row(prow, row, n, S);
		pv_row(out + t * q_dim + (size_t)h * hd, prow, vg, kv_dim, n, hd);
		t++;
	}
}

/* One compiled kernel: threads over heads, each with its own kT. The
 * OpenMP region is written in each kernel so that it is compiled for that
 * kernel's instruction set. */
#define DEFINE_ATTENTION(name, attr, pairs)                                                 \
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
				               scale, kT, &kT_head, pairs);                                 \
			free(kT);                                                                       \
		}                                                                                   \
	}

DEFINE_ATTENTION(attention_portable, , 0)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_KERNELS 1
DEFINE_ATTENTION(attention_avx2, __attribute__((target("avx2"))), 0)
DEFINE_ATTENTION(attention_avx512, __attribute__((target("avx512f"))), 1)
#endif

void ld_attention(float *scores, float *probs, float *out, const float *q, const float *k,
                  const float *v, size_t T, size_t start_pos, int H, int KV, int hd, float scale)
{
#ifdef HAVE_X86_KERNELS
	switch (ld_matmul_kernel()) {
	case LD_KERNEL_AVX512:
	case LD_KERNEL_AVX512_BF16:
	case LD_KERNEL_AMX:
	case LD_KERNEL_AMX_BF16:
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
