/* test_bf16dot.c - the --bf16-dot arithmetic, point by point, in a whole pass.
 *
 * The bf16-dot kernels (avx512bf16 and amxbf16: LLAMADBG_KERNEL, `trace
 * --bf16-dot`) round each matrix product's input to bf16 before
 * multiplying it by BF16 weights. test_matmul checks the kernel alone; here a whole traced pass
 * of the BF16 test models and of the demo model (prompt and decode steps)
 * is checked at every product point against float64: each recorded output
 * (q, k, v, attn_out, ffn_gate, ffn_up, ffn_out, logits) must equal the
 * double-precision product of the weights with its recorded input rounded
 * to bf16, within 1e-5 of the sum of the terms' magnitudes (f32 summing;
 * the rounding of x moves a product by ~4e-3 of it). And the same
 * outputs must not be the products of the unrounded inputs: the kernel
 * does round. Each kernel is skipped on a CPU that cannot run it.
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
#include "forward.h"
#include "matmul.h"
#include "model.h"

#define TERM_TOL 1e-5 /* of sum |x_c * w_c| */

/* The worst |out - ref| / (sum |terms| + tiny) over a product point, with
 * ref = sum_c x_c * W[r][c] in double, x_c rounded to bf16 when round_x. */
static double product_error(const struct ld_trace *tr, const char *in_name, const char *out_name,
                            const struct ld_weight *w, int round_x)
{
	long ii = ld_trace_find(tr, in_name), io = ld_trace_find(tr, out_name);
	if (ii < 0 || io < 0)
		fail_msg("%s or %s was not recorded", in_name, out_name);
	const struct ld_tensor *x = &tr->t[ii], *y = &tr->t[io];
	size_t T = x->shape[0];
	assert_int_equal(ld_tensor_numel(x), T * w->cols);
	assert_int_equal(ld_tensor_numel(y), T * w->rows);
	float *row = malloc(w->cols * sizeof *row);
	assert_non_null(row);
	double worst = 0.0;
	for (size_t r = 0; r < w->rows; r++) {
		ld_weight_row(row, w, r);
		for (size_t t = 0; t < T; t++) {
			double s = 0.0, mag = 0.0;
			for (size_t c = 0; c < w->cols; c++) {
				float xc = (float)ld_tensor_get(x, t * w->cols + c);
				double xr = round_x ? (double)ld_bf16_to_f32(ld_f32_to_bf16(xc)) : (double)xc;
				s += xr * row[c];
				mag += fabs(xr * row[c]);
			}
			double e = fabs(ld_tensor_get(y, t * w->rows + r) - s) / (mag + 1e-30);
			worst = e > worst ? e : worst;
		}
	}
	free(row);
	return worst;
}

/* Every product of a pass (prefix "" or "step.N.") checked both ways. */
static void check_pass(const char *what, const struct ld_trace *tr, const struct ld_model *m,
                       const char *prefix, double *worst_exact_x)
{
	char in[96], out[96];
	for (int l = 0; l < m->cfg.n_layers; l++) {
		const struct ld_layer *L = &m->layers[l];
		const struct {
			const char *in, *out;
			const struct ld_weight *w;
		} products[] = {
			{"attn_norm", "q", &L->wq},      {"attn_norm", "k", &L->wk},
			{"attn_norm", "v", &L->wv},      {"attn", "attn_out", &L->wo},
			{"ffn_norm", "ffn_gate", &L->w1}, {"ffn_norm", "ffn_up", &L->w3},
			{"ffn_act", "ffn_out", &L->w2},
		};
		for (size_t p = 0; p < sizeof products / sizeof products[0]; p++) {
			snprintf(in, sizeof in, "%slayers.%d.%s", prefix, l, products[p].in);
			snprintf(out, sizeof out, "%slayers.%d.%s", prefix, l, products[p].out);
			double e = product_error(tr, in, out, products[p].w, 1);
			if (e > TERM_TOL)
				fail_msg("%s %s: %.3g of the terms' magnitude from float64 with x rounded to bf16",
				         what, out, e);
			double ex = product_error(tr, in, out, products[p].w, 0);
			*worst_exact_x = ex > *worst_exact_x ? ex : *worst_exact_x;
		}
	}
	snprintf(in, sizeof in, "%sfinal_norm", prefix);
	snprintf(out, sizeof out, "%slogits", prefix);
	double e = product_error(tr, in, out, &m->output, 1);
	if (e > TERM_TOL)
		fail_msg("%s %s: %.3g of the terms' magnitude from float64 with x rounded to bf16", what, out, e);
}

static void check_kernel(const char *dir, const int32_t *prompt, size_t n, enum ld_kernel k)
{
	struct ld_err err = {{0}};
	struct ld_model m;
	if (ld_model_load(&m, dir, &err) != LD_OK)
		fail_msg("%s", err.msg);
	setenv("LLAMADBG_KERNEL", ld_kernel_name(k), 1);
	struct ld_trace tr;
	ld_trace_init(&tr);
	struct ld_forward_opts o = {.n_generate = 3};
	if (ld_forward(&m, prompt, n, &o, &tr, &err) != LD_OK)
		fail_msg("%s: %s", dir, err.msg);
	unsetenv("LLAMADBG_KERNEL");
	assert_string_equal(tr.kernel, ld_kernel_name(k));

	double worst_exact_x = 0.0;
	check_pass(dir, &tr, &m, "", &worst_exact_x);
	for (size_t s = 1; s < tr.n_generated; s++) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "step.%zu.", s);
		check_pass(dir, &tr, &m, prefix, &worst_exact_x);
	}
	/* Without the rounding the products are far off: the kernel rounds,
	 * and this test can tell. */
	print_message("%s, %s: against unrounded x the products are %.3g of the terms off\n", dir,
	              ld_kernel_name(k), worst_exact_x);
	assert_true(worst_exact_x > 10 * TERM_TOL);
	ld_trace_free(&tr);
	ld_model_free(&m);
}

static void check_model(const char *dir, const int32_t *prompt, size_t n)
{
	static const enum ld_kernel kernels[] = {LD_KERNEL_AVX512_BF16, LD_KERNEL_AMX_BF16};
	int ran = 0;
	for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
		if (!ld_kernel_supported(kernels[i])) {
			print_message("%s: this CPU cannot run %s; not tested\n", dir, ld_kernel_name(kernels[i]));
			continue;
		}
		check_kernel(dir, prompt, n, kernels[i]);
		ran++;
	}
	if (!ran)
		skip();
}

static void test_bf16_mha(void **state)
{
	(void)state;
	static const int32_t prompt[] = {5, 77, 199, 13, 91, 4, 60};
	check_model("data/models/bf16_mha", prompt, sizeof prompt / sizeof prompt[0]);
}

static void test_bf16_mqa(void **state)
{
	(void)state;
	static const int32_t prompt[] = {1, 2, 3, 40, 50, 60, 7, 8, 9};
	check_model("data/models/bf16_mqa", prompt, sizeof prompt / sizeof prompt[0]);
}

/* The demo model on its tokenizer's 17 ids of the seed prompt. */
static void test_demo(void **state)
{
	(void)state;
	static const int32_t prompt[] = {4096, 259, 293, 273, 264, 302, 299, 268, 295,
	                                 44, 264, 304, 44, 269, 297, 275, 32};
	check_model("../data/demo", prompt, sizeof prompt / sizeof prompt[0]);
}

/* The opt-in kernel is never the default. */
static void test_not_default(void **state)
{
	(void)state;
	unsetenv("LLAMADBG_KERNEL");
	assert_int_not_equal(ld_matmul_kernel(), LD_KERNEL_AVX512_BF16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bf16_mha),
		cmocka_unit_test(test_bf16_mqa),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_not_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
