/* test_diff.c - core/diff.c: two traces compared point by point. The
 * traces are the viewer's synthetic ones (same seed: identical), then
 * changed by hand where each case needs it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "viewer.h"

struct fx {
	struct ld_trace a, b;
	struct ld_diff d;
};

static void make(struct ld_trace *tr)
{
	struct vw_synth o;
	struct ld_err err = {""};
	assert_int_equal(vw_synth_preset(&o, "tiny"), 0);
	assert_int_equal(vw_synth_trace(tr, &o, &err), LD_OK);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	make(&f->a);
	make(&f->b);
	f->d.first = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	ld_diff_free(&f->d);
	ld_trace_free(&f->a);
	ld_trace_free(&f->b);
	free(f);
	return 0;
}

static struct ld_tensor *tensor(struct ld_trace *tr, const char *name)
{
	long i = ld_trace_find(tr, name);
	if (i < 0)
		fail_msg("no tensor %s in the test trace", name);
	return &tr->t[i];
}

static float *f32(struct ld_trace *tr, const char *name)
{
	return tensor(tr, name)->data;
}

static void run(struct fx *f, double rtol, double atol)
{
	struct ld_diff_opts o = {.rtol = rtol, .atol = atol};
	struct ld_err err = {""};
	ld_diff_free(&f->d);
	assert_int_equal(ld_diff_traces(&f->d, &f->a, &f->b, &o, &err), LD_OK);
}

static const char *first_name(const struct fx *f)
{
	if (f->d.first < 0)
		return "none";
	const struct ld_diff_point *p = &f->d.p[f->d.first];
	return p->ia >= 0 ? f->a.t[p->ia].name : f->b.t[p->ib].name;
}

/* max |x| over the tensor's finite entries. */
static double max_abs_of(const struct ld_tensor *t)
{
	double m = 0;
	for (size_t i = 0; i < ld_tensor_numel(t); i++)
		if (isfinite(ld_tensor_get(t, i)) && fabs(ld_tensor_get(t, i)) > m)
			m = fabs(ld_tensor_get(t, i));
	return m;
}

static void test_identical(void **state)
{
	struct fx *f = *state;
	run(f, 0, 0);
	assert_int_equal(f->d.n, f->a.n);
	assert_int_equal(f->d.n_compared, f->a.n);
	assert_int_equal(f->d.n_differ, 0);
	assert_int_equal(f->d.first, -1);
	assert_int_equal(f->d.config_differs, 0);
	for (size_t k = 0; k < f->d.n; k++) {
		assert_true(f->d.p[k].within);
		assert_true(f->d.p[k].max_abs == 0);
	}
}

/* One entry of layers.0.q moved: the first divergence, its numbers and
 * where it sits (token, head, dim). Later points are untouched. */
static void test_first_divergence(void **state)
{
	struct fx *f = *state;
	struct ld_tensor *q = tensor(&f->a, "layers.0.q");
	size_t H = q->shape[1], hd = q->shape[2];
	size_t at = (1 * H + 2) * hd + 3;
	((float *)q->data)[at] += 0.5f;
	run(f, 1e-4, 0);
	assert_string_equal(first_name(f), "layers.0.q");
	assert_int_equal(f->d.n_differ, 1);
	const struct ld_diff_point *p = &f->d.p[f->d.first];
	assert_float_equal(p->max_abs, 0.5, 1e-6);
	double ref = max_abs_of(tensor(&f->b, "layers.0.q"));
	assert_float_equal(p->rel, p->max_abs / ref, 1e-12);
	assert_int_equal(p->at, at);
	char where[128];
	ld_diff_where(q, p->at, where, sizeof where);
	assert_string_equal(where, "token 1, head 2, dim 3");
	/* The tolerance is max|a-b| <= atol + rtol * max|b|. */
	double rel = p->rel;
	run(f, rel * 1.01, 0);
	assert_int_equal(f->d.first, -1);
	run(f, 0, 0.51); /* x + 0.5f is rounded to float: about 0.5 */
	assert_int_equal(f->d.first, -1);
	run(f, 0, 0.49);
	assert_string_equal(first_name(f), "layers.0.q");
}

/* A later change does not hide an earlier one: forward order decides. */
static void test_forward_order(void **state)
{
	struct fx *f = *state;
	f32(&f->a, "layers.1.ffn_out")[0] += 1;
	f32(&f->a, "layers.0.attn_norm")[4] += 1e-3f;
	f32(&f->a, "step.1.logits")[0] += 1;
	run(f, 1e-4, 0);
	assert_string_equal(first_name(f), "layers.0.attn_norm");
	assert_int_equal(f->d.n_differ, 3);
}

/* A -inf where the other trace has a number: the mask pattern differs,
 * and the point diverges even though no finite entry moved. */
static void test_mask(void **state)
{
	struct fx *f = *state;
	struct ld_tensor *s = tensor(&f->b, "layers.0.scores");
	size_t T = s->shape[1];
	float *v = s->data;
	assert_true(isinf(v[0 * T + 1]) && v[0 * T + 1] < 0); /* query 0 cannot see key 1 */
	v[0 * T + 1] = 0.25f;
	run(f, 1e-4, 0);
	assert_string_equal(first_name(f), "layers.0.scores");
	const struct ld_diff_point *p = &f->d.p[f->d.first];
	assert_int_equal(p->n_mask, 1);
	assert_true(p->max_abs == 0);
	assert_false(p->within);
	/* NaN in one trace: a non-finite difference, counted apart from the mask. */
	v[0 * T + 1] = -INFINITY;
	f32(&f->a, "layers.0.v")[2] = NAN;
	run(f, 1e-4, 0);
	assert_string_equal(first_name(f), "layers.0.v");
	assert_int_equal(f->d.p[f->d.first].n_nonfinite, 1);
	assert_int_equal(f->d.p[f->d.first].n_mask, 0);
}

/* Different shapes are reported, not compared; a point in one trace only
 * is listed where that trace has it. */
static void test_shape_and_only(void **state)
{
	struct fx *f = *state;
	tensor(&f->a, "layers.1.attn_out")->shape[0] -= 1;
	strcpy(tensor(&f->a, "layers.0.ffn_gate")->name, "layers.0.gate_renamed");
	run(f, 1e-4, 0);
	assert_int_equal(f->d.n_shape, 1);
	assert_int_equal(f->d.n_only_a, 1);
	assert_int_equal(f->d.n_only_b, 1);
	assert_string_equal(first_name(f), "layers.1.attn_out");
	size_t ka = 0, kb = 0;
	for (size_t k = 0; k < f->d.n; k++) {
		if (f->d.p[k].kind == LD_DIFF_ONLY_A)
			ka = k;
		if (f->d.p[k].kind == LD_DIFF_ONLY_B)
			kb = k;
	}
	assert_string_equal(f->a.t[f->d.p[ka].ia].name, "layers.0.gate_renamed");
	assert_string_equal(f->b.t[f->d.p[kb].ib].name, "layers.0.ffn_gate");
	/* B's own point sits just before the common point that follows it. */
	assert_string_equal(f->a.t[f->d.p[kb + 1].ia].name, "layers.0.ffn_up");
	assert_int_equal(f->d.n, f->a.n + 1);
}

static void test_only_glob(void **state)
{
	struct fx *f = *state;
	f32(&f->a, "embed")[0] += 1;
	const char *only[] = {"layers.*.probs", "logits"};
	struct ld_diff_opts o = {.rtol = 1e-4, .only = only, .n_only = 2};
	struct ld_err err = {""};
	assert_int_equal(ld_diff_traces(&f->d, &f->a, &f->b, &o, &err), LD_OK);
	assert_int_equal(f->d.n, f->a.cfg.n_layers + 1);
	assert_int_equal(f->d.first, -1);
}

static void test_config(void **state)
{
	struct fx *f = *state;
	f->b.cfg.n_layers += 1;
	run(f, 1e-4, 0);
	assert_int_equal(f->d.config_differs, 1);
	assert_int_equal(f->d.first, -1); /* the shapes that agree still agree */
}

/* The difference trace: a - b per compared point; the mask's -inf stay. */
static void test_make_trace(void **state)
{
	struct fx *f = *state;
	f32(&f->a, "layers.0.attn")[5] += 0.125f;
	tensor(&f->a, "layers.1.attn_out")->shape[0] -= 1;
	run(f, 1e-4, 0);
	struct ld_trace d;
	struct ld_err err = {""};
	assert_int_equal(ld_diff_make_trace(&d, &f->d, &f->a, &f->b, &err), LD_OK);
	assert_int_equal(d.n, f->a.n - 1);
	assert_int_equal(ld_trace_find(&d, "layers.1.attn_out"), -1);
	const struct ld_tensor *t = &d.t[ld_trace_find(&d, "layers.0.attn")];
	assert_float_equal(ld_tensor_get(t, 5), 0.125, 1e-6);
	assert_float_equal(ld_tensor_get(t, 4), 0, 0);
	assert_string_equal(t->axes, tensor(&f->a, "layers.0.attn")->axes);
	const struct ld_tensor *s = &d.t[ld_trace_find(&d, "layers.0.scores")];
	size_t T = s->shape[1];
	assert_true(isinf(ld_tensor_get(s, 1)) && ld_tensor_get(s, 1) < 0);
	assert_float_equal(ld_tensor_get(s, T), 0, 0);
	assert_int_equal(d.n_tokens, f->a.n_tokens);
	assert_string_equal(d.token_str[0], f->a.token_str[0]);
	ld_trace_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_divergence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shape_and_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_glob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_make_trace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
