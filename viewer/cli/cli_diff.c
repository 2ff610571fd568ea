/* cli_diff.c - `llamadbg diff A B`: where two traces part ways.
 *
 * One line per point in forward order, then "first divergence: NAME" and a
 * summary. Exit status as cmp(1): 0 when every common point is within
 * tolerance, 1 when something differs, 2 on bad input. The comparison
 * itself is core/diff.c; this file parses and prints. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diff.h"
#include "matmul.h"

static const char diff_usage[] =
	"usage: llamadbg diff [--rtol R] [--atol A] [--only GLOB]... [--] A.safetensors B.safetensors\n";
static const char diff_help[] =
	"Compare two traces point by point, in forward order (decode steps too).\n"
	"B is the reference: rel = max|a-b| / max|b| over finite entries. A point\n"
	"differs when max|a-b| > atol + rtol * max|b| (rtol 1e-4, atol 0 by default),\n"
	"its shapes differ, or its -inf mask (or NaN, +inf) pattern differs.\n"
	"Exit status: 0 all common points agree, 1 something differs, 2 bad input.\n";

int ld_cli_parse_tol(const char *opt, const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || *end || errno || !(*v >= 0) || isinf(*v)) {
		fprintf(stderr, "llamadbg: %s: \"%s\" is not a tolerance (expected e.g. 1e-4)\n", opt, s);
		return 2;
	}
	return 0;
}

/* The opened traces and the comparison; freed by diff_done. */
struct diff_run {
	struct ld_trace a, b;
	struct ld_diff d;
};

static void print_point(const struct diff_run *r, const struct ld_diff_point *p, int first)
{
	const struct ld_tensor *ta = p->ia >= 0 ? &r->a.t[p->ia] : NULL;
	const struct ld_tensor *tb = p->ib >= 0 ? &r->b.t[p->ib] : NULL;
	char sa[128], sb[128], where[160];
	switch (p->kind) {
	case LD_DIFF_ONLY_A:
		printf("only A %s\n", ta->name);
		return;
	case LD_DIFF_ONLY_B:
		printf("only B %s\n", tb->name);
		return;
	case LD_DIFF_SHAPE:
		ld_tensor_shape_str(ta, sa, sizeof sa);
		ld_tensor_shape_str(tb, sb, sizeof sb);
		printf("%-6s %-28s shape %s (%s) vs %s (%s)\n", first ? "SHAPE*" : "SHAPE", ta->name, sa,
		       ld_dtype_name(ta->dtype), sb, ld_dtype_name(tb->dtype));
		return;
	case LD_DIFF_BOTH:
		break;
	}
	/* The first divergence is marked with a '*'; columns pad only before more text. */
	int more = p->max_abs > 0 || p->n_mask || p->n_nonfinite;
	char rel[32];
	snprintf(rel, sizeof rel, "%.3g", p->rel);
	printf("%-6s %-28s max|a-b| %-10.3g rel %-*s", p->within ? "ok" : first ? "DIFF*" : "DIFF", ta->name,
	       p->max_abs, more ? 10 : 0, rel);
	if (p->max_abs > 0) {
		ld_diff_where(ta, p->at, where, sizeof where);
		printf(" at %s", where);
	}
	if (p->n_mask)
		printf("; -inf mask differs in %zu entries", p->n_mask);
	if (p->n_nonfinite)
		printf("; NaN/+inf differ in %zu entries", p->n_nonfinite);
	printf("\n");
}

static void print_report(const struct diff_run *r, const struct ld_diff_opts *o)
{
	const struct ld_diff *d = &r->d;
	for (size_t k = 0; k < d->n; k++)
		print_point(r, &d->p[k], (long)k == d->first);
	if (d->first >= 0) {
		const struct ld_diff_point *p = &d->p[d->first];
		printf("first divergence: %s\n", r->a.t[p->ia].name);
	} else {
		printf("first divergence: none\n");
	}
	printf("%zu points compared (rtol %g, atol %g): %zu within, %zu differ; %zu shapes differ; "
	       "%zu only in A, %zu only in B\n",
	       d->n_compared, o->rtol, o->atol, d->n_compared - d->n_differ, d->n_differ, d->n_shape, d->n_only_a,
	       d->n_only_b);
}

static int open_one(const char *path, struct ld_trace *tr)
{
	struct ld_err err = {{0}};
	if (ld_trace_open(tr, path, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		return 2;
	}
	return 0;
}

int ld_cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rtol", required_argument, 0, 'r'}, {"atol", required_argument, 0, 'a'},
		{"only", required_argument, 0, 'O'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	struct ld_diff_opts o = {.rtol = 1e-4, .atol = 0};
	const char **only = calloc((size_t)argc + 1, sizeof *only);
	if (!only)
		return ld_cli_error("out of memory") + 1;
	o.only = only;
	int c, rc = 0;
	optind = 1;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rc = ld_cli_parse_tol("--rtol", optarg, &o.rtol); break;
		case 'a': rc = ld_cli_parse_tol("--atol", optarg, &o.atol); break;
		case 'O': only[o.n_only++] = optarg; break;
		case 'h': fputs(diff_usage, stdout); fputs(diff_help, stdout); rc = -1; break;
		default:
			fprintf(stderr, "llamadbg: diff: unknown option or missing value \"%s\" (see llamadbg diff --help)\n",
			        argv[optind - 1]);
			rc = 2;
		}
	}
	opterr = 1;
	if (rc == 0 && argc - optind != 2) {
		fputs(diff_usage, stderr);
		rc = 2;
	}
	if (rc != 0) {
		free(only);
		return rc < 0 ? 0 : rc;
	}
	const char *pa = argv[optind], *pb = argv[optind + 1];
	struct diff_run r;
	struct ld_err err = {{0}};
	ld_trace_init(&r.a);
	ld_trace_init(&r.b);
	memset(&r.d, 0, sizeof r.d);
	rc = open_one(pa, &r.a);
	if (rc == 0)
		rc = open_one(pb, &r.b);
	if (rc == 0 && ld_diff_traces(&r.d, &r.a, &r.b, &o, &err) != LD_OK)
		rc = ld_cli_error("%s", err.msg) + 1;
	if (rc == 0) {
		if (r.d.config_differs)
			fprintf(stderr, "llamadbg: warning: %s and %s come from different model shapes "
			                "(dim %d vs %d, %d vs %d layers, vocab %d vs %d); points are compared where shapes agree\n",
			        pa, pb, r.a.cfg.dim, r.b.cfg.dim, r.a.cfg.n_layers, r.b.cfg.n_layers, r.a.cfg.vocab_size,
			        r.b.cfg.vocab_size);
		if (r.a.kernel[0] && r.b.kernel[0] && strcmp(r.a.kernel, r.b.kernel) != 0) {
			/* the kernel that rounds, if one does */
			const char *rounding = ld_kernel_rounds_x(r.b.kernel)   ? r.b.kernel
			                       : ld_kernel_rounds_x(r.a.kernel) ? r.a.kernel
			                                                        : NULL;
			fprintf(stderr, "llamadbg: note: %s was computed by the %s kernel, %s by %s%s%s%s\n", pa, r.a.kernel,
			        pb, r.b.kernel, rounding ? " (" : "", rounding ? rounding : "",
			        rounding ? " rounds activations to bf16: --bf16-dot)" : "");
		}
		print_report(&r, &o);
		rc = r.d.first >= 0 || r.d.n_compared == 0 ? 1 : 0;
		if (fflush(stdout) != 0 || ferror(stdout))
			rc = ld_cli_error("standard output: %s", strerror(errno)) + 1;
	}
	ld_diff_free(&r.d);
	ld_trace_free(&r.a);
	ld_trace_free(&r.b);
	free(only);
	return rc;
}
