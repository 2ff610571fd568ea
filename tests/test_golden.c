/* test_golden.c - every trace point of the C engine against an independent
 * float64 reference (tests/reference/reference.py, HF's rotate_half
 * convention, converted to Meta's pairs) on small random checkpoints:
 * F32/BF16/F16, GQA/MHA/MQA, tied/untied, llama3 scaling on/off, sharded;
 * each with every matmul kernel this CPU runs (LLAMADBG_KERNEL). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "matmul.h"
#include "model.h"
#include "safetensors.h"
#include "testlib.h"

/* Logit lens ids: equal to the reference's, except where the reference marks
 * a rank tied with its neighbour (-1): float32 may order those either way.
 * Their probabilities are compared as values, rank by rank, as usual. */
static int compare_lens_ids(const char *what, const struct ld_tensor *t, const struct ld_st_tensor *g)
{
	if (t->ndim != 2 || g->ndim != 2 || t->shape[0] != g->shape[0] || t->shape[1] != g->shape[1]) {
		print_error("%s %s: shape differs from the reference\n", what, t->name);
		return 1;
	}
	size_t n = ld_tensor_numel(t), n_checked = 0;
	for (size_t i = 0; i < n; i++) {
		double want = tl_golden_at(g, i);
		if (want < 0)
			continue;
		n_checked++;
		if (ld_tensor_get(t, i) != want) {
			print_error("%s %s: id %.0f at flat index %zu, reference %.0f\n", what, t->name,
			            ld_tensor_get(t, i), i, want);
			return 1;
		}
	}
	return n_checked == 0; /* a reference that checks nothing is a broken reference */
}

/* Run the model in dir on the golden file's tokens; compare everything. */
static void check_model_kernel(const char *name, const char *dir, const char *gpath)
{
	struct ld_err err = {{0}};
	struct ld_st_file gold;
	struct ld_model m;
	if (ld_st_open(&gold, gpath, &err) != LD_OK)
		fail_msg("%s", err.msg);
	if (ld_model_load(&m, dir, &err) != LD_OK)
		fail_msg("%s", err.msg);

	size_t n_tok, n_gen_ref;
	int32_t *tokens = tl_meta_ids(&gold, "tokens", &n_tok);
	int32_t *gen_ref = tl_meta_ids(&gold, "generated", &n_gen_ref);
	int n_generate = atoi(ld_st_meta(&gold, "n_generate"));

	struct ld_trace tr;
	ld_trace_init(&tr);
	/* A reference with the logit lens was made with --lens=K --lens-mid. */
	const char *lens_k = ld_st_meta(&gold, "lens_k");
	struct ld_forward_opts o = {.n_generate = n_generate, .lens_k = lens_k ? atoi(lens_k) : 0,
	                            .lens_mid = lens_k != NULL};
	if (ld_forward(&m, tokens, n_tok, &o, &tr, &err) != LD_OK)
		fail_msg("%s: %s", name, err.msg);

	/* Same greedy continuation. */
	assert_int_equal(tr.n_generated, n_gen_ref);
	for (size_t i = 0; i < n_gen_ref; i++)
		assert_int_equal(tr.generated[i], gen_ref[i]);

	/* Every reference point was recorded and matches; nothing extra. */
	int bad = 0;
	for (size_t i = 0; i < gold.n; i++) {
		long k = ld_trace_find(&tr, gold.t[i].name);
		if (k < 0) {
			print_error("%s: point %s was not recorded\n", name, gold.t[i].name);
			bad++;
			continue;
		}
		if (ld_point_lens(tr.t[k].point) && tr.t[k].dtype == LD_I32)
			bad += compare_lens_ids(name, &tr.t[k], &gold.t[i]);
		else
			bad += tl_compare_point(name, &tr.t[k], &gold.t[i]);
	}
	for (size_t i = 0; i < tr.n; i++)
		if (!ld_st_find(&gold, tr.t[i].name)) {
			print_error("%s: recorded %s has no reference\n", name, tr.t[i].name);
			bad++;
		}
	assert_int_equal(bad, 0);

	ld_trace_free(&tr);
	free(tokens);
	free(gen_ref);
	ld_model_free(&m);
	ld_st_close(&gold);
}

/* check_model_kernel with each kernel the CPU runs, forced as a user would. */
static void check_model_at(const char *name, const char *dir, const char *gpath)
{
	static const enum ld_kernel kernels[] = {LD_KERNEL_SCALAR, LD_KERNEL_AVX2, LD_KERNEL_AVX512, LD_KERNEL_AMX};
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
		if (!ld_kernel_supported(kernels[i]))
			continue;
		char what[128];
		snprintf(what, sizeof what, "%s (%s kernel)", name, ld_kernel_name(kernels[i]));
		setenv("LLAMADBG_KERNEL", ld_kernel_name(kernels[i]), 1);
		check_model_kernel(what, dir, gpath);
	}
	unsetenv("LLAMADBG_KERNEL");
}

static void check_model(const char *name)
{
	char dir[256], gpath[300];
	snprintf(dir, sizeof dir, "data/models/%s", name);
	snprintf(gpath, sizeof gpath, "%s/golden.safetensors", dir);
	check_model_at(name, dir, gpath);
}

static void test_f32_gqa(void **state) { (void)state; check_model("f32_gqa"); }
static void test_bf16_mha(void **state) { (void)state; check_model("bf16_mha"); }
static void test_f16_sharded(void **state) { (void)state; check_model("f16_sharded"); }
static void test_bf16_mqa(void **state) { (void)state; check_model("bf16_mqa"); }
/* The bundled demo model (trained, BF16) on the seed prompt's 17 tokens. */
static void test_demo(void **state)
{
	(void)state;
	check_model_at("demo", "../data/demo", "data/demo/golden.safetensors");
}

/* The KV cache is an optimisation, not a different model: the last decode
 * step must equal a full pass over prompt + generated at its position. */
static void test_decode_equals_full_pass(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	if (ld_model_load(&m, "data/models/f32_gqa", &err) != LD_OK)
		fail_msg("%s", err.msg);
	const int32_t prompt[] = {254, 17, 201, 88, 3};
	struct ld_trace gen, full;
	ld_trace_init(&gen);
	ld_trace_init(&full);
	struct ld_forward_opts o = {.n_generate = 4};
	assert_int_equal(ld_forward(&m, prompt, 5, &o, &gen, &err), LD_OK);
	assert_int_equal(gen.n_generated, 4);
	int32_t seq[8];
	memcpy(seq, prompt, sizeof prompt);
	for (int i = 0; i < 3; i++)
		seq[5 + i] = gen.generated[i];
	assert_int_equal(ld_forward(&m, seq, 8, NULL, &full, &err), LD_OK);

	const char *names[] = {"logits", "layers.1.resid_out", "layers.0.attn", "layers.1.k_rope"};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		char step_name[96];
		snprintf(step_name, sizeof step_name, "step.3.%s", names[k]);
		long a = ld_trace_find(&gen, step_name), b = ld_trace_find(&full, names[k]);
		assert_true(a >= 0 && b >= 0);
		const struct ld_tensor *ts = &gen.t[a], *tf = &full.t[b];
		size_t row = ld_tensor_numel(ts); /* one token's worth */
		assert_int_equal(ld_tensor_numel(tf), row * 8);
		for (size_t i = 0; i < row; i++) {
			double x = ld_tensor_get(ts, i), y = ld_tensor_get(tf, 7 * row + i);
			if (!tl_close_enough(x, y))
				fail_msg("%s[%zu]: decode %.9g, full pass %.9g", step_name, i, x, y);
		}
	}
	/* The decode step's scores row equals the full pass's last query row. */
	long a = ld_trace_find(&gen, "step.3.layers.0.scores"), b = ld_trace_find(&full, "layers.0.scores");
	const struct ld_tensor *ss = &gen.t[a], *sf = &full.t[b];
	assert_int_equal(ss->shape[1], 1);
	assert_int_equal(ss->shape[2], 8);
	for (size_t h = 0; h < ss->shape[0]; h++)
		for (size_t s = 0; s < 8; s++) {
			double x = ld_tensor_get(ss, h * 8 + s), y = ld_tensor_get(sf, (h * 8 + 7) * 8 + s);
			if (!tl_close_enough(x, y))
				fail_msg("scores head %zu key %zu: decode %.9g, full %.9g", h, s, x, y);
		}
	ld_trace_free(&gen);
	ld_trace_free(&full);
	ld_model_free(&m);
}

/* --only records a subset; the computation (and so the answer) is unchanged. */
static void test_only_subset(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	assert_int_equal(ld_model_load(&m, "data/models/bf16_mha", &err), LD_OK);
	const int32_t prompt[] = {198, 5, 77, 150};
	const char *globs[] = {"layers.*.scores", "logits"};
	struct ld_forward_opts o = {.n_generate = 2, .only = globs, .n_only = 2};
	struct ld_trace tr;
	ld_trace_init(&tr);
	assert_int_equal(ld_forward(&m, prompt, 4, &o, &tr, &err), LD_OK);
	/* 2 layers of scores + logits in the prompt pass; step 1 matches none
	 * ("layers.*" does not match "step.1.layers.0.scores"). */
	assert_int_equal(tr.n, 3);
	assert_string_equal(tr.t[0].name, "layers.0.scores");
	assert_string_equal(tr.t[2].name, "logits");
	assert_int_equal(tr.n_generated, 2);
	ld_trace_free(&tr);
	ld_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f32_gqa),
		cmocka_unit_test(test_bf16_mha),
		cmocka_unit_test(test_f16_sharded),
		cmocka_unit_test(test_bf16_mqa),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_decode_equals_full_pass),
		cmocka_unit_test(test_only_subset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
