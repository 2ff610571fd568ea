/* test_ops.c - the small operations, on cases a learner can check by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>

#include "attention.h"
#include "config.h"
#include "matmul.h"
#include "model.h"
#include "ops.h"
#include "trace_points.h"

/* RMSNorm of {1,2,3,4}: mean of squares 7.5, so r = 1/sqrt(7.5 + eps). */
static void test_rmsnorm_1234(void **state)
{
	(void)state;
	const float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 2};
	float out[4];
	float r = ld_rmsnorm(out, x, w, 4, 1e-5);
	double want = 1.0 / sqrt(7.5 + 1e-5);
	assert_float_equal(r, want, 1e-7);
	assert_float_equal(out[0], 1 * want, 1e-6);
	assert_float_equal(out[2], 3 * want, 1e-6);
	assert_float_equal(out[3], 4 * want * 2, 1e-6); /* the gain multiplies */
}

/* Softmax must subtract the max: e^1000 overflows, the answer does not. */
static void test_softmax_stable(void **state)
{
	(void)state;
	float x[2] = {1000, 1001};
	ld_softmax(x, 2);
	double e = exp(1.0);
	assert_float_equal(x[0], 1 / (1 + e), 1e-6);
	assert_float_equal(x[1], e / (1 + e), 1e-6);
	float m[3] = {0.5f, -INFINITY, 0.5f}; /* masked entries get weight 0 */
	ld_softmax(m, 3);
	assert_float_equal(m[0], 0.5, 1e-7);
	assert_true(m[1] == 0.0f);
}

/* RoPE at position 0 rotates by angle 0: the identity. */
static void test_rope_pos0_identity(void **state)
{
	(void)state;
	double f[4];
	ld_rope_freqs(f, 8, 500000, NULL);
	float x[16], y[16];
	for (int i = 0; i < 16; i++)
		x[i] = y[i] = (float)(i - 7) * 0.37f;
	ld_rope(y, 2, 8, 0, f);
	assert_memory_equal(x, y, sizeof x);
}

/* At position 1, pair j turns by inv_freq[j] radians; pair 0 by exactly 1. */
static void test_rope_pos1_rotation(void **state)
{
	(void)state;
	double f[2];
	ld_rope_freqs(f, 4, 10000, NULL);
	assert_float_equal(f[0], 1.0, 1e-12);
	assert_float_equal(f[1], 0.01, 1e-12); /* 10000^(-2/4) */
	float x[4] = {1, 0, 0, 1};
	ld_rope(x, 1, 4, 1, f);
	assert_float_equal(x[0], cos(1.0), 1e-6); /* (1 + 0i) e^(i) */
	assert_float_equal(x[1], sin(1.0), 1e-6);
	assert_float_equal(x[2], -sin(0.01), 1e-6); /* (0 + 1i) e^(0.01i) */
	assert_float_equal(x[3], cos(0.01), 1e-6);
}

/* llama3 scaling: fast pairs keep their speed, slow ones are divided by
 * factor, the band between is blended (strictly between the two). */
static void test_llama3_scaling_bands(void **state)
{
	(void)state;
	const int hd = 128;
	double plain[64], scaled[64];
	struct ld_rope_scaling s = {1, 8, 1, 4, 8192};
	ld_rope_freqs(plain, hd, 500000, NULL);
	ld_rope_freqs(scaled, hd, 500000, &s);
	int hi = 0, lo = 0, mid = 0;
	for (int j = 0; j < 64; j++) {
		double wavelen = 2 * M_PI / plain[j];
		if (wavelen < 8192 / 4.0) {
			assert_float_equal(scaled[j], plain[j], 1e-15);
			hi++;
		} else if (wavelen > 8192 / 1.0) {
			assert_float_equal(scaled[j], plain[j] / 8, 1e-15);
			lo++;
		} else {
			assert_true(scaled[j] < plain[j] && scaled[j] > plain[j] / 8);
			mid++;
		}
	}
	assert_true(hi > 0 && lo > 0 && mid > 0);
}

/* GQA: with 32 query heads and 8 KV heads, heads 0-3 share KV head 0,
 * heads 28-31 KV head 7. */
static void test_gqa_mapping(void **state)
{
	(void)state;
	assert_int_equal(ld_kv_head(0, 32, 8), 0);
	assert_int_equal(ld_kv_head(3, 32, 8), 0);
	assert_int_equal(ld_kv_head(4, 32, 8), 1);
	assert_int_equal(ld_kv_head(31, 32, 8), 7);
	assert_int_equal(ld_kv_head(5, 8, 8), 5); /* plain multi-head: its own */
	assert_int_equal(ld_kv_head(7, 8, 1), 0); /* multi-query: all share one */
}

/* HF's permutation [0,2,4,..,1,3,5,..] is undone: Meta row 2j+s reads HF row j+s*hd/2. */
static void test_unpermute_rows(void **state)
{
	(void)state;
	uint32_t map[16];
	ld_rope_unpermute_rows(map, 2, 8);
	const uint32_t want[16] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
	assert_memory_equal(map, want, sizeof want);
}

static void test_point_names(void **state)
{
	(void)state;
	char name[96];
	ld_point_name(name, sizeof name, LD_PT_SCORES, 0, 3);
	assert_string_equal(name, "layers.3.scores");
	ld_point_name(name, sizeof name, LD_PT_SCORES, 2, 11);
	assert_string_equal(name, "step.2.layers.11.scores");
	ld_point_name(name, sizeof name, LD_PT_LOGITS, 1, -1);
	assert_string_equal(name, "step.1.logits");
	enum ld_point p;
	int step, layer;
	assert_int_equal(ld_point_parse("step.2.layers.11.ffn_act", &p, &step, &layer), 0);
	assert_int_equal(p, LD_PT_FFN_ACT);
	assert_int_equal(step, 2);
	assert_int_equal(layer, 11);
	assert_int_equal(ld_point_parse("layers.x.q", &p, &step, &layer), -1);
	assert_int_equal(ld_point_parse("step.0.logits", &p, &step, &layer), -1);
	assert_int_equal(ld_point_parse("layers.1.q.extra", &p, &step, &layer), -1);
	assert_true(ld_point_per_layer(LD_PT_Q));
	assert_false(ld_point_per_layer(LD_PT_EMBED));
}

/* The parameter count of Llama-3-8B from its config: 8.03 billion. */
static void test_param_count_8b(void **state)
{
	(void)state;
	struct ld_config c = {.dim = 4096, .ffn_dim = 14336, .n_layers = 32, .n_heads = 32,
	                      .n_kv_heads = 8, .head_dim = 128, .vocab_size = 128256};
	assert_int_equal(ld_config_n_params(&c), 8030261248ull);
}

/* ld_attention against a float64 loop, and every kernel the CPU runs
 * against the portable one bit for bit (the AVX-512 one takes queries two
 * at a time where hd is a multiple of 64): prompt passes of odd lengths
 * and a decode step after a cache, hd 64 and 8, GQA, a NaN in one key. */
static void test_attention_kernels(void **state)
{
	(void)state;
	static const struct {
		size_t T, start;
		int H, KV, hd;
	} cases[] = {{37, 0, 4, 2, 64}, {16, 0, 2, 1, 64}, {1, 40, 4, 2, 64}, {5, 3, 4, 4, 8}, {70, 0, 2, 2, 128}};
	static const enum ld_kernel kernels[] = {LD_KERNEL_AVX2, LD_KERNEL_AVX512};
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const size_t T = cases[c].T, S = cases[c].start + T;
		const int H = cases[c].H, KV = cases[c].KV, hd = cases[c].hd;
		const size_t nq = T * H * hd, nkv = S * KV * hd, np = (size_t)H * T * S;
		float *q = malloc(nq * 4), *k = malloc(nkv * 4), *v = malloc(nkv * 4);
		float *sc[2], *pr[2], *out[2];
		for (int i = 0; i < 2; i++) {
			sc[i] = malloc(np * 4), pr[i] = malloc(np * 4), out[i] = malloc(nq * 4);
			assert_true(sc[i] && pr[i] && out[i]);
		}
		assert_true(q && k && v);
		float *all[] = {q, k, v};
		size_t nall[] = {nq, nkv, nkv};
		for (int a = 0; a < 3; a++)
			for (size_t i = 0; i < nall[a]; i++) {
				rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
				all[a][i] = (float)((double)((rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0 - 0.5);
			}
		if (c == 3)
			k[2 * KV * hd + 1] = NAN; /* key 2 of KV head 0: NaN scores for its queries */
		const float scale = 1.0f / sqrtf((float)hd);
		setenv("LLAMADBG_KERNEL", "scalar", 1);
		ld_attention(sc[0], pr[0], out[0], q, k, v, T, cases[c].start, H, KV, hd, scale);
		/* float64: scores and the output of every (head, query) */
		for (int h = 0; h < H; h++) {
			const int g = ld_kv_head(h, H, KV);
			for (size_t t = 0; t < T; t++) {
				const size_t n = cases[c].start + t + 1;
				const float *row = sc[0] + ((size_t)h * T + t) * S, *prow = pr[0] + ((size_t)h * T + t) * S;
				for (size_t s = 0; s < S; s++) {
					if (s >= n) {
						/* 0, or NaN where the visible sum is NaN (the NaN key's rows) */
						assert_true(isinf(row[s]) && row[s] < 0);
						assert_true(prow[s] == 0.0f || (c == 3 && isnan(prow[s])));
						continue;
					}
					double d = 0;
					for (int j = 0; j < hd; j++)
						d += (double)q[t * H * hd + (size_t)h * hd + j] * k[s * KV * hd + (size_t)g * hd + j];
					d *= scale;
					if (isnan(d))
						assert_true(isnan(row[s]));
					else
						assert_true(fabs(row[s] - d) <= 1e-5 + 1e-5 * fabs(d));
				}
				for (int j = 0; j < hd; j++) {
					double o = 0;
					for (size_t s = 0; s < n; s++)
						o += (double)prow[s] * v[s * KV * hd + (size_t)g * hd + j];
					double got = out[0][t * H * hd + (size_t)h * hd + j];
					if (isnan(o))
						assert_true(isnan(got));
					else
						assert_true(fabs(got - o) <= 1e-5 + 1e-5 * fabs(o));
				}
			}
		}
		for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
			if (!ld_kernel_supported(kernels[i]))
				continue;
			setenv("LLAMADBG_KERNEL", ld_kernel_name(kernels[i]), 1);
			ld_attention(sc[1], pr[1], out[1], q, k, v, T, cases[c].start, H, KV, hd, scale);
			if (memcmp(sc[0], sc[1], np * 4) || memcmp(pr[0], pr[1], np * 4) || memcmp(out[0], out[1], nq * 4))
				fail_msg("case %zu: the %s attention differs from the portable one", c,
				         ld_kernel_name(kernels[i]));
		}
		unsetenv("LLAMADBG_KERNEL");
		for (int i = 0; i < 2; i++)
			free(sc[i]), free(pr[i]), free(out[i]);
		free(q), free(k), free(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rmsnorm_1234),
		cmocka_unit_test(test_softmax_stable),
		cmocka_unit_test(test_rope_pos0_identity),
		cmocka_unit_test(test_rope_pos1_rotation),
		cmocka_unit_test(test_llama3_scaling_bands),
		cmocka_unit_test(test_gqa_mapping),
		cmocka_unit_test(test_unpermute_rows),
		cmocka_unit_test(test_point_names),
		cmocka_unit_test(test_param_count_8b),
		cmocka_unit_test(test_attention_kernels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
