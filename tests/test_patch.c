/* test_patch.c - patching and ablation against the float64 reference
 * (tests/reference/patch_golden.py): a zeroed head, a resid_out taken from
 * another prompt's trace, a patched probs row; every point of the prompt
 * pass and of the decode steps after it must match. Plus the .npy reader
 * and the refusals of ld_patch_parse/ld_patch_check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ablation.h"
#include "dump.h"
#include "forward.h"
#include "model.h"
#include "npy.h"
#include "patch.h"
#include "safetensors.h"
#include "testlib.h"

#define DIR "data/models/f32_gqa"

static const int32_t prompt_b[] = {254, 40, 201, 88, 120, 142, 64, 7, 9};

/* Run the model with the patches on the golden file's prompt and compare
 * every point with it. */
static void check_patched(const char *golden, const struct ld_patch *ps, size_t n)
{
	struct ld_err err = {{0}};
	struct ld_st_file gold;
	struct ld_model m;
	char gpath[256];
	snprintf(gpath, sizeof gpath, DIR "/%s", golden);
	if (ld_st_open(&gold, gpath, &err) != LD_OK)
		fail_msg("%s", err.msg);
	if (ld_model_load(&m, DIR, &err) != LD_OK)
		fail_msg("%s", err.msg);
	size_t n_tok, n_gen;
	int32_t *tokens = tl_meta_ids(&gold, "tokens", &n_tok);
	int32_t *gen = tl_meta_ids(&gold, "generated", &n_gen);
	struct ld_trace tr;
	ld_trace_init(&tr);
	struct ld_forward_opts o = {.n_generate = atoi(ld_st_meta(&gold, "n_generate")), .patches = ps,
	                            .n_patches = n};
	if (ld_forward(&m, tokens, n_tok, &o, &tr, &err) != LD_OK)
		fail_msg("%s: %s", golden, err.msg);
	assert_int_equal(tr.n_generated, n_gen);
	for (size_t i = 0; i < n_gen; i++)
		assert_int_equal(tr.generated[i], gen[i]);
	int bad = 0;
	for (size_t i = 0; i < gold.n; i++) {
		long k = ld_trace_find(&tr, gold.t[i].name);
		if (k < 0) {
			print_error("%s: point %s was not recorded\n", golden, gold.t[i].name);
			bad++;
			continue;
		}
		bad += tl_compare_point(golden, &tr.t[k], &gold.t[i]);
	}
	assert_int_equal(bad, 0);
	assert_int_equal(tr.n_patches, n);
	/* The trace names the patched point. */
	char name[128];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(ps[0].spec, "["), ps[0].spec);
	assert_true(ld_trace_patched(&tr, name));
	assert_false(ld_trace_patched(&tr, "embed"));
	ld_trace_free(&tr);
	free(tokens);
	free(gen);
	ld_model_free(&m);
	ld_st_close(&gold);
}

static void test_zeroed_head(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_patch p;
	assert_int_equal(ld_patch_parse_ablate(&p, "layers.1.head.2", &err), LD_OK);
	assert_string_equal(p.spec, "layers.1.attn[:,2,:]");
	check_patched("patch_head.safetensors", &p, 1);
}

static void test_resid_from_other_prompt(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	struct ld_trace b;
	ld_trace_init(&b);
	if (ld_model_load(&m, DIR, &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(ld_forward(&m, prompt_b, 9, NULL, &b, &err), LD_OK);
	ld_model_free(&m);
	struct ld_patch p;
	assert_int_equal(ld_patch_parse(&p, "layers.0.resid_out", &err), LD_OK);
	long k = ld_trace_find(&b, "layers.0.resid_out");
	assert_true(k >= 0);
	assert_int_equal(ld_patch_from_tensor(&p, &b.t[k], "b.st:layers.0.resid_out", &err), LD_OK);
	ld_trace_free(&b);
	check_patched("patch_resid.safetensors", &p, 1);
	ld_patch_free(&p);
}

static void test_probs_row(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_patch p;
	struct ld_npy a;
	assert_int_equal(ld_patch_parse(&p, "layers.0.probs[1,5,:]", &err), LD_OK);
	if (ld_npy_read(DIR "/probs_row.npy", &a, &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(a.ndim, 1);
	assert_int_equal(a.shape[0], 9);
	assert_int_equal(ld_patch_from_npy(&p, &a, "probs_row.npy", &err), LD_OK);
	ld_npy_free(&a);
	check_patched("patch_probs.safetensors", &p, 1);
	ld_patch_free(&p);
}

/* p of token `id` at the last row of a logits tensor (double softmax). */
static double p_last(const struct ld_tensor *t, int32_t id)
{
	size_t V = t->shape[1], row = (t->shape[0] - 1) * V;
	double mx = -INFINITY, sum = 0;
	for (size_t v = 0; v < V; v++)
		mx = fmax(mx, ld_tensor_get(t, row + v));
	for (size_t v = 0; v < V; v++)
		sum += exp(ld_tensor_get(t, row + v) - mx);
	return exp(ld_tensor_get(t, row + (size_t)id) - mx) / sum;
}

/* The ablation sweep: every value is what the same ablation run alone
 * gives (--ablate), on top of the run's own patches; the zeroed head of
 * the float64 reference's golden agrees; the answer is the run's argmax. */
static void test_ablation_sweep(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	if (ld_model_load(&m, DIR, &err) != LD_OK)
		fail_msg("%s", err.msg);
	const size_t T = sizeof prompt_b / sizeof prompt_b[0];
	const int L = m.cfg.n_layers, H = m.cfg.n_heads;
	/* with and without a patch of the run's own (zeroed head 0 of layer 0) */
	for (int base = 0; base < 2; base++) {
		struct ld_patch bp;
		assert_int_equal(ld_patch_parse_ablate(&bp, "layers.0.head.0", &err), LD_OK);
		struct ld_forward_opts o = {.patches = &bp, .n_patches = (size_t)base};
		struct ld_trace tr;
		ld_trace_init(&tr);
		int32_t answer = -1;
		assert_int_equal(ld_ablation_sweep(&m, prompt_b, T, &o, &tr, &answer, &err), LD_OK);
		const struct ld_tensor *hp = &tr.t[ld_trace_find(&tr, "ablation.heads_p")];
		const struct ld_tensor *fp = &tr.t[ld_trace_find(&tr, "ablation.ffn_p")];
		assert_int_equal(hp->ndim, 2);
		assert_int_equal(hp->shape[0], L);
		assert_int_equal(hp->shape[1], H);
		assert_string_equal(hp->axes, "layer,head");
		assert_int_equal(fp->shape[0], L);

		/* the answer is the run's own argmax */
		struct ld_trace run;
		ld_trace_init(&run);
		assert_int_equal(ld_forward(&m, prompt_b, T, &o, &run, &err), LD_OK);
		const struct ld_tensor *lg = &run.t[ld_trace_find(&run, "logits")];
		size_t V = lg->shape[1], best = 0;
		for (size_t v = 0; v < V; v++)
			if (ld_tensor_get(lg, (T - 1) * V + v) > ld_tensor_get(lg, (T - 1) * V + best))
				best = v;
		assert_int_equal(answer, (int32_t)best);
		ld_trace_free(&run);

		for (int i = 0; i < L; i++)
			for (int h = 0; h <= H; h++) {
				char what[64];
				struct ld_patch ps[2] = {bp};
				if (h < H)
					snprintf(what, sizeof what, "layers.%d.head.%d", i, h);
				else
					snprintf(what, sizeof what, "layers.%d.ffn", i);
				assert_int_equal(ld_patch_parse_ablate(&ps[base], what, &err), LD_OK);
				struct ld_forward_opts one = {.patches = ps, .n_patches = (size_t)base + 1};
				ld_trace_init(&run);
				assert_int_equal(ld_forward(&m, prompt_b, T, &one, &run, &err), LD_OK);
				double want = p_last(&run.t[ld_trace_find(&run, "logits")], answer);
				double got = h < H ? ld_tensor_get(hp, (size_t)(i * H + h)) : ld_tensor_get(fp, (size_t)i);
				if (fabs(got - want) > 1e-6)
					fail_msg("base %d, %s: sweep %.8f, alone %.8f", base, what, got, want);
				ld_trace_free(&run);
				ld_patch_free(&ps[base]);
			}
		ld_trace_free(&tr);
		ld_patch_free(&bp);
	}

	/* the reference's run with layers.1.head.2 zeroed gives the same p */
	struct ld_st_file gold;
	assert_int_equal(ld_st_open(&gold, DIR "/patch_head.safetensors", &err), LD_OK);
	size_t n_tok;
	int32_t *tokens = tl_meta_ids(&gold, "tokens", &n_tok);
	struct ld_trace tr;
	ld_trace_init(&tr);
	int32_t answer;
	assert_int_equal(ld_ablation_sweep(&m, tokens, n_tok, NULL, &tr, &answer, &err), LD_OK);
	const struct ld_st_tensor *glog = NULL;
	for (size_t i = 0; i < gold.n; i++)
		if (strcmp(gold.t[i].name, "logits") == 0)
			glog = &gold.t[i];
	assert_non_null(glog);
	/* the reference's own float64 logits, softmax in double */
	assert_int_equal(glog->dtype, LD_F64);
	size_t V = glog->shape[1];
	const double *row = (const double *)glog->data + (glog->shape[0] - 1) * V;
	double mx = -INFINITY, sum = 0;
	for (size_t v = 0; v < V; v++)
		mx = fmax(mx, row[v]);
	for (size_t v = 0; v < V; v++)
		sum += exp(row[v] - mx);
	double want = exp(row[answer] - mx) / sum;
	double got = ld_tensor_get(&tr.t[ld_trace_find(&tr, "ablation.heads_p")], (size_t)(1 * H + 2));
	if (fabs(got - want) > 1e-5 + 1e-4 * want)
		fail_msg("layers.1.head.2: sweep %.8f, float64 reference %.8f", got, want);
	ld_trace_free(&tr);
	free(tokens);
	ld_st_close(&gold);
	ld_model_free(&m);
}

static void expect_parse_error(const char *spec, const char *text)
{
	struct ld_err err = {{0}};
	struct ld_patch p;
	assert_int_not_equal(ld_patch_parse(&p, spec, &err), LD_OK);
	assert_msg_has(err, text);
	assert_null(strchr(err.msg, '\n'));
}

static void test_refusals(void **state)
{
	(void)state;
	expect_parse_error("logits", "feeds no later computation");
	expect_parse_error("tokens", "feeds no later computation");
	expect_parse_error("layers.0.attn_rms", "feeds no later computation");
	expect_parse_error("layers.0.nope", "no such trace point");
	expect_parse_error("step.1.layers.0.attn", "only the prompt pass");
	expect_parse_error("layers.0.attn[:,x,:]", "a slice entry");
	expect_parse_error("layers.0.attn[:,1,:", "final ']'");
	struct ld_err err = {{0}};
	struct ld_patch p;
	assert_int_not_equal(ld_patch_parse_ablate(&p, "layers.1.heads", &err), LD_OK);
	assert_msg_has(err, "expected layers.I.head.H");

	struct ld_config c = {.dim = 64, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .ffn_dim = 160,
	                      .n_layers = 2, .vocab_size = 256};
	assert_int_equal(ld_patch_parse_ablate(&p, "layers.1.head.4", &err), LD_OK);
	assert_int_equal(ld_patch_check(&p, &c, 9, &err), LD_ERR_RANGE);
	assert_msg_has(err, "index 4 on axis 1");
	assert_int_equal(ld_patch_parse_ablate(&p, "layers.2.ffn", &err), LD_OK);
	assert_int_equal(ld_patch_check(&p, &c, 9, &err), LD_ERR_RANGE);
	assert_msg_has(err, "the model has 2 layers");
	assert_int_equal(ld_patch_parse(&p, "layers.0.attn[:,1]", &err), LD_OK);
	assert_int_equal(ld_patch_check(&p, &c, 9, &err), LD_ERR_SHAPE);
	assert_msg_has(err, "the slice has 2 entries");
	/* A value of the wrong shape. */
	assert_int_equal(ld_patch_parse(&p, "embed", &err), LD_OK);
	p.value = calloc(8 * 64, sizeof(float));
	p.ndim = 2;
	p.shape[0] = 8;
	p.shape[1] = 64;
	snprintf(p.source, sizeof p.source, "x.npy");
	assert_int_equal(ld_patch_check(&p, &c, 9, &err), LD_ERR_SHAPE);
	assert_msg_has(err, "x.npy: shape (8, 64) does not fit embed, which is (9, 64)");
	ld_patch_free(&p);
}

/* Parse bytes as .npy; 0 on success. */
static enum ld_status npy(const void *buf, size_t n, struct ld_npy *a, struct ld_err *err)
{
	return ld_npy_parse(buf, n, "t.npy", a, err);
}

/* A header of a given version around dict, then data. */
static size_t make_npy(unsigned char *out, int major, const char *dict, const void *data, size_t n)
{
	size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
	size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
	memcpy(out, "\x93NUMPY", 6);
	out[6] = (unsigned char)major;
	out[7] = 0;
	out[8] = (unsigned char)(hlen & 0xff);
	out[9] = (unsigned char)(hlen >> 8);
	if (major > 1)
		out[10] = out[11] = 0;
	memcpy(out + pre, dict, dl);
	memset(out + pre + dl, ' ', hlen - dl - 1);
	out[total - 1] = '\n';
	memcpy(out + total, data, n);
	return total + n;
}

static void test_npy_reader(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_npy a;
	unsigned char buf[512];
	const float f[6] = {1, -2, 3.5f, 0, INFINITY, -0.25f};
	/* Versions 1, 2 and 3; keys in any order. */
	for (int v = 1; v <= 3; v++) {
		size_t n = make_npy(buf, v, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", f, 24);
		assert_int_equal(npy(buf, n, &a, &err), LD_OK);
		assert_int_equal(a.ndim, 2);
		assert_int_equal(a.shape[1], 3);
		assert_true(memcmp(a.f32, f, 24) == 0);
		ld_npy_free(&a);
	}
	/* f2 widens exactly; i4 keeps ints; a scalar has no axes. */
	const uint16_t h[2] = {0x3c00, 0xc000}; /* 1, -2 */
	size_t n = make_npy(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", h, 4);
	assert_int_equal(npy(buf, n, &a, &err), LD_OK);
	assert_true(a.f32[0] == 1.0f && a.f32[1] == -2.0f);
	ld_npy_free(&a);
	const int32_t i = -7;
	n = make_npy(buf, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }", &i, 4);
	assert_int_equal(npy(buf, n, &a, &err), LD_OK);
	assert_int_equal(a.ndim, 0);
	assert_int_equal(a.i32[0], -7);
	struct ld_patch p;
	assert_int_equal(ld_patch_parse(&p, "embed", &err), LD_OK);
	assert_int_equal(ld_patch_from_npy(&p, &a, "t.npy", &err), LD_ERR_DTYPE);
	assert_msg_has(err, "t.npy: the array is I32, but embed is float32");
	ld_npy_free(&a);

	/* What `dump -f npy` writes reads back. */
	const size_t shape[2] = {2, 3};
	struct ld_dump_view view = {"x", "token,dim", LD_F32, 2, shape, f};
	char *path = tl_tmp_path("x.npy");
	assert_int_equal(ld_dump_write(path, LD_DUMP_NPY, &view, 1, &err), LD_OK);
	assert_int_equal(ld_npy_read(path, &a, &err), LD_OK);
	assert_true(a.ndim == 2 && a.shape[0] == 2 && memcmp(a.f32, f, 24) == 0);
	ld_npy_free(&a);

	/* Refusals: one line naming the file. */
	static const struct { const char *dict; size_t data; const char *text; } bad[] = {
		{"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "dtype '>f4' is not supported"},
		{"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, "dtype '<f8'"},
		{"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24, "Fortran order"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8, "'shape' is not a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", 8, "'shape' is not a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, "'shape' is not a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, "truncated"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, "trailing bytes"},
		{"{'descr': '<f4', 'shape': (2,), }", 8, "lacks 'fortran_order'"},
		{"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "repeated key"},
		{"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 8, "expected ',' or '}'"},
		{"['descr']", 8, "not a dict"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 8, "not a tuple"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4,), }", 8, "too large"},
	};
	float zeros[8] = {0};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		n = make_npy(buf, 1, bad[k].dict, zeros, bad[k].data);
		err.msg[0] = '\0';
		if (npy(buf, n, &a, &err) == LD_OK)
			fail_msg("accepted: %s", bad[k].dict);
		assert_msg_has(err, bad[k].text);
		assert_msg_has(err, "t.npy: ");
	}
	assert_int_not_equal(npy("\x93NUMPX\x01\x00\x00\x00", 10, &a, &err), LD_OK);
	assert_msg_has(err, "not a .npy file");
	assert_int_not_equal(npy("\x93NUMPY\x04\x00\x00\x00", 10, &a, &err), LD_OK);
	assert_msg_has(err, "version 4.0");
	assert_int_not_equal(npy("\x93NUMPY\x01\x00\x40\x00{", 11, &a, &err), LD_OK);
	assert_msg_has(err, "truncated .npy header");
	assert_int_not_equal(ld_npy_read(tl_tmp_path("missing.npy"), &a, &err), LD_OK);
	assert_msg_has(err, "missing.npy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zeroed_head),
		cmocka_unit_test(test_resid_from_other_prompt),
		cmocka_unit_test(test_probs_row),
		cmocka_unit_test(test_ablation_sweep),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_npy_reader),
	};
	return cmocka_run_group_tests(tests, tl_setup_tmpdir, tl_teardown_tmpdir);
}
