/* test_trace_size.c - the cost of a trace, known before it is made: the
 * estimate equals the bytes the forward pass then records, for every test
 * model, with decode steps and --only; and a request that cannot fit is
 * refused with one line that says how much it needs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "trace_size.h"

static size_t recorded_bytes(const struct ld_trace *tr)
{
	size_t n = 0;
	for (size_t i = 0; i < tr->n; i++)
		n += tr->t[i].nbytes;
	return n;
}

/* Trace dir with these options; the estimate (made with the number of
 * tokens actually generated) must equal what was recorded. */
static void check_estimate(const char *dir, int n_generate, const char *const *only, size_t n_only)
{
	struct ld_err err = {{0}};
	struct ld_model m;
	if (ld_model_load(&m, dir, &err) != LD_OK)
		fail_msg("%s", err.msg);
	const int32_t tokens[] = {1, 7, 3, 9, 2, 5, 11};
	const size_t T = sizeof tokens / sizeof tokens[0];
	struct ld_forward_opts o = {.n_generate = n_generate, .only = only, .n_only = n_only};
	struct ld_trace tr;
	ld_trace_init(&tr);
	if (ld_forward(&m, tokens, T, &o, &tr, &err) != LD_OK)
		fail_msg("%s: %s", dir, err.msg);
	o.n_generate = (int)tr.n_generated;
	struct ld_trace_cost cost = ld_trace_cost(&m.cfg, T, &o);
	if (cost.bytes != recorded_bytes(&tr))
		fail_msg("%s (-n %d, %zu globs): estimated %zu bytes, recorded %zu", dir, n_generate, n_only,
		         cost.bytes, recorded_bytes(&tr));
	ld_trace_free(&tr);
	ld_model_free(&m);
}

static void test_estimate_is_exact(void **state)
{
	(void)state;
	static const char *const models[] = {"data/models/f32_gqa", "data/models/bf16_mha",
	                                     "data/models/bf16_mqa", "data/meta/cls_f32"};
	static const char *const some[] = {"layers.0.*", "logits", "step.*.layers.*.probs"};
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		int generates = strstr(models[i], "cls") == NULL;
		check_estimate(models[i], 0, NULL, 0);
		check_estimate(models[i], 0, some, 3);
		if (generates) {
			check_estimate(models[i], 4, NULL, 0);
			check_estimate(models[i], 4, some, 3);
		}
	}
}

/* The 8B shape at 2048 tokens: 32 layers x 32 heads x 2048^2 of scores,
 * and as many probs, 34.4 GB of the whole. */
static void test_long_prompt_is_refused(void **state)
{
	(void)state;
	struct ld_config c = {.dim = 4096, .ffn_dim = 14336, .n_layers = 32, .n_heads = 32,
	                      .n_kv_heads = 8, .head_dim = 128, .vocab_size = 128256, .max_pos = 8192};
	struct ld_trace_cost cost = ld_trace_cost(&c, 2048, NULL);
	size_t scores = (size_t)32 * 32 * 2048 * 2048 * 4;
	assert_true(cost.bytes > 2 * scores);
	assert_true(cost.largest == LD_PT_SCORES || cost.largest == LD_PT_PROBS);
	assert_int_equal(cost.largest_bytes, scores);

	struct ld_err err = {{0}};
	size_t gb = (size_t)1 << 30;
	assert_int_equal(ld_trace_fits(&cost, 2048, 24 * gb, SIZE_MAX, "t.safetensors", &err), LD_ERR_RANGE);
	assert_non_null(strstr(err.msg, "2048 tokens"));
	assert_non_null(strstr(err.msg, "of memory available"));
	assert_non_null(strstr(err.msg, "--only"));
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(ld_trace_fits(&cost, 2048, SIZE_MAX, 10 * gb, "out/t.safetensors", &err),
	                 LD_ERR_RANGE);
	assert_non_null(strstr(err.msg, "out/t.safetensors"));
	assert_int_equal(ld_trace_fits(&cost, 2048, SIZE_MAX, SIZE_MAX, "t", &err), LD_OK);

	/* --only one layer's residual stream: a few MB, fits. */
	static const char *const resid[] = {"layers.3.resid_out"};
	struct ld_forward_opts o = {.only = resid, .n_only = 1};
	cost = ld_trace_cost(&c, 2048, &o);
	assert_int_equal(cost.bytes, (size_t)2048 * 4096 * 4);
	assert_int_equal(ld_trace_fits(&cost, 2048, 24 * gb, 10 * gb, "t", &err), LD_OK);
}

static void test_numel_from_the_catalogue(void **state)
{
	(void)state;
	struct ld_config c = {.dim = 64, .ffn_dim = 96, .n_layers = 2, .n_heads = 8, .n_kv_heads = 2,
	                      .head_dim = 8, .vocab_size = 300};
	assert_int_equal(ld_point_numel(LD_PT_EMBED, &c, 5, 5), 5 * 64);
	assert_int_equal(ld_point_numel(LD_PT_Q_ROPE, &c, 5, 5), 5 * 8 * 8);
	assert_int_equal(ld_point_numel(LD_PT_K, &c, 5, 5), 5 * 2 * 8);
	assert_int_equal(ld_point_numel(LD_PT_SCORES, &c, 1, 9), 8 * 1 * 9);
	assert_int_equal(ld_point_numel(LD_PT_FFN_ACT, &c, 5, 5), 5 * 96);
	assert_int_equal(ld_point_numel(LD_PT_LOGITS, &c, 5, 5), 5 * 300);
	assert_int_equal(ld_point_numel(LD_PT_ROPE_FREQS, &c, 5, 5), 4);
	assert_int_equal(ld_point_numel(LD_PT_ATTN_RMS, &c, 5, 5), 5);
}

static void test_memory_setting(void **state)
{
	(void)state;
	setenv("LLAMADBG_MEMORY", "3G", 1);
	assert_int_equal(ld_memory_available(), (size_t)3 << 30);
	setenv("LLAMADBG_MEMORY", "512K", 1);
	assert_int_equal(ld_memory_available(), (size_t)512 << 10);
	unsetenv("LLAMADBG_MEMORY");
	assert_true(ld_memory_available() > 0);
	assert_true(ld_disk_available("no-such-dir/x/y.safetensors") == SIZE_MAX);
	assert_true(ld_disk_available("./t.safetensors") > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_estimate_is_exact),
		cmocka_unit_test(test_long_prompt_is_refused),
		cmocka_unit_test(test_numel_from_the_catalogue),
		cmocka_unit_test(test_memory_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
