/* test_lens.c - the logit lens (trace --lens): the last layer's lens is the
 * model's own logits' top K, bit for bit, in the prompt pass and in decode
 * steps; the top-K selection itself; nothing is computed or recorded
 * without --lens; requests the lens cannot serve are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "ops.h"
#include "trace_size.h"

#define DEMO "../data/demo"

/* The demo prompt's ids ("the answer to the ultimate question of life, the
 * universe, and everything is "), as the demo tokenizer gives them. */
static const int32_t prompt[] = {4096, 259, 293, 273, 264, 302, 299, 268, 295,
                                 44,   264, 304, 44,  269, 297, 275, 32};
#define N_PROMPT (sizeof prompt / sizeof prompt[0])

static const struct ld_tensor *point(const struct ld_trace *tr, const char *name)
{
	long i = ld_trace_find(tr, name);
	if (i < 0)
		fail_msg("%s was not recorded", name);
	return &tr->t[i];
}

static void run(struct ld_model *m, struct ld_trace *tr, const struct ld_forward_opts *o)
{
	struct ld_err err = {{0}};
	ld_trace_init(tr);
	if (ld_forward(m, prompt, N_PROMPT, o, tr, &err) != LD_OK)
		fail_msg("%s", err.msg);
}

/* The lens of layer `layer` in `step` against the top K of that step's logits. */
static void check_last_is_logits(const struct ld_trace *tr, int step, int layer, int K)
{
	char ids_name[96], probs_name[96], logits_name[96];
	ld_point_name(ids_name, sizeof ids_name, LD_PT_LENS_IDS, step, layer);
	ld_point_name(probs_name, sizeof probs_name, LD_PT_LENS_PROBS, step, layer);
	ld_point_name(logits_name, sizeof logits_name, LD_PT_LOGITS, step, -1);
	const struct ld_tensor *ids = point(tr, ids_name), *probs = point(tr, probs_name);
	const struct ld_tensor *logits = point(tr, logits_name);
	const size_t T = logits->shape[0], V = logits->shape[1];
	assert_int_equal(ids->dtype, LD_I32);
	assert_int_equal(probs->dtype, LD_F32);
	assert_int_equal(ids->ndim, 2);
	assert_int_equal(ids->shape[0], T);
	assert_int_equal(ids->shape[1], K);
	assert_int_equal(probs->shape[1], K);
	int32_t *want_ids = malloc((size_t)K * sizeof *want_ids);
	float *want_p = malloc((size_t)K * sizeof *want_p);
	for (size_t t = 0; t < T; t++) {
		ld_topk_softmax(want_ids, want_p, (const float *)logits->data + t * V, V, K);
		/* bitwise: the same computation, not merely close */
		assert_memory_equal((const int32_t *)ids->data + t * K, want_ids, (size_t)K * 4);
		assert_memory_equal((const float *)probs->data + t * K, want_p, (size_t)K * 4);
	}
	free(want_ids);
	free(want_p);
}

static void last_layer_is_the_logits(void **state)
{
	struct ld_model m;
	struct ld_err err = {{0}};
	if (ld_model_load(&m, DEMO, &err) != LD_OK)
		fail_msg("%s", err.msg);
	struct ld_trace tr;
	struct ld_forward_opts o = {.n_generate = 3, .lens_k = 5, .lens_mid = 1};
	run(&m, &tr, &o);
	const int last = m.cfg.n_layers - 1;
	check_last_is_logits(&tr, 0, last, 5);
	check_last_is_logits(&tr, 1, last, 5); /* decode steps too */
	check_last_is_logits(&tr, 2, last, 5);
	/* every layer, both places, every step */
	for (int step = 0; step <= 2; step++)
		for (int l = 0; l < m.cfg.n_layers; l++)
			for (int p = 0; p < LD_PT_COUNT; p++) {
				if (!ld_point_lens((enum ld_point)p))
					continue;
				char name[96];
				ld_point_name(name, sizeof name, (enum ld_point)p, step, l);
				const struct ld_tensor *t = point(&tr, name);
				assert_int_equal(t->shape[0], step ? 1 : N_PROMPT);
			}
	/* The demo's answer: " 42" leads at the last position after the last layer. */
	const struct ld_tensor *ids = point(&tr, "layers.3.lens_ids");
	assert_int_equal(((const int32_t *)ids->data)[(N_PROMPT - 1) * 5], tr.generated[0]);
	/* The trace's size estimate counts the lens exactly. */
	struct ld_trace_cost cost = ld_trace_cost(&m.cfg, N_PROMPT, &o);
	size_t bytes = 0;
	for (size_t i = 0; i < tr.n; i++)
		bytes += tr.t[i].nbytes;
	assert_int_equal(cost.bytes, bytes);
	ld_trace_free(&tr);

	/* Without --lens: no lens point, and the other points are the same. */
	struct ld_trace plain, with;
	struct ld_forward_opts o0 = {.n_generate = 2}, o1 = {.n_generate = 2, .lens_k = 3};
	run(&m, &plain, &o0);
	run(&m, &with, &o1);
	assert_int_equal(with.n, plain.n + 2 * (size_t)m.cfg.n_layers * 2);
	for (size_t i = 0; i < plain.n; i++) {
		assert_int_equal(ld_point_lens(plain.t[i].point), 0);
		const struct ld_tensor *t = point(&with, plain.t[i].name);
		assert_int_equal(t->nbytes, plain.t[i].nbytes);
		assert_memory_equal(t->data, plain.t[i].data, t->nbytes);
	}
	ld_trace_free(&plain);
	ld_trace_free(&with);

	/* --only selects lens points like any other. */
	const char *only[] = {"layers.1.lens_probs"};
	struct ld_forward_opts o2 = {.lens_k = 2, .only = only, .n_only = 1};
	run(&m, &tr, &o2);
	assert_int_equal(tr.n, 1);
	assert_string_equal(tr.t[0].name, "layers.1.lens_probs");
	ld_trace_free(&tr);

	/* Refusals: one clear line, nothing run. */
	const struct ld_forward_opts bad[] = {
		{.lens_k = -1}, {.lens_k = 5000}, {.lens_mid = 1},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ld_trace_init(&tr);
		struct ld_err e = {{0}};
		assert_int_equal(ld_forward(&m, prompt, N_PROMPT, &bad[i], &tr, &e), LD_ERR_USAGE);
		assert_non_null(strstr(e.msg, "lens"));
		assert_null(strchr(e.msg, '\n'));
		ld_trace_free(&tr);
	}
	ld_model_free(&m);
}

/* Top K: best first, the lower id first on a tie, NaN never before a number,
 * probabilities as ld_softmax gives them. */
static void topk_order_and_probs(void **state)
{
	const float x[] = {1.0f, 3.0f, NAN, 3.0f, -INFINITY, 2.0f, 0.5f};
	const size_t n = sizeof x / sizeof x[0];
	int32_t ids[4];
	float p[4];
	ld_topk_softmax(ids, p, x, n, 4);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 3);
	assert_int_equal(ids[2], 5);
	assert_int_equal(ids[3], 0);
	const float y[] = {1.0f, 3.0f, 0.0f, 3.0f, -INFINITY, 2.0f, 0.5f};
	float soft[7];
	memcpy(soft, y, sizeof soft);
	ld_softmax(soft, 7);
	ld_topk_softmax(ids, p, y, 7, 4);
	for (int j = 0; j < 4; j++)
		assert_memory_equal(&p[j], &soft[ids[j]], 4);
	/* k = n: every entry, sorted */
	int32_t all[7];
	float pall[7];
	ld_topk_softmax(all, pall, y, 7, 7);
	assert_int_equal(all[6], 4);
	assert_true(pall[6] == 0.0f);
	for (int j = 1; j < 7; j++)
		assert_true(y[all[j - 1]] >= y[all[j]]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(last_layer_is_the_logits),
		cmocka_unit_test(topk_order_and_probs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
