/* diff.h - compare two traces point by point: where do two runs part ways?
 *
 * Points are matched by name and walked in forward order (decode steps
 * too). For each point in both traces: do the shapes agree, the largest
 * |a-b| and where it sits, the relative error max|a-b| / max|b| over
 * finite entries, and whether the -inf mask pattern (and any NaN or +inf)
 * is the same. A point is within tolerance when
 *
 *     max|a-b| <= atol + rtol * max|b|
 *
 * (so with atol 0 it is exactly "rel <= rtol"), its shapes agree and its
 * non-finite entries sit in the same places. The first point in forward
 * order that is not is the first divergence.
 */
#ifndef LD_DIFF_H
#define LD_DIFF_H

#include <stddef.h>

#include "status.h"
#include "trace.h"

struct ld_diff_opts {
	double rtol;            /* relative tolerance, e.g. 1e-4 */
	double atol;            /* absolute tolerance, e.g. 0 */
	const char **only;      /* compare only names matching one of these globs */
	size_t n_only;          /* 0: every point */
};

enum ld_diff_kind {
	LD_DIFF_BOTH = 0,       /* in both traces, shapes agree: compared */
	LD_DIFF_SHAPE,          /* in both traces, shapes (or dtypes) differ */
	LD_DIFF_ONLY_A,         /* only in the first trace */
	LD_DIFF_ONLY_B,         /* only in the second trace */
};

struct ld_diff_point {
	enum ld_diff_kind kind;
	long ia, ib;            /* index in trace A / B, -1 when absent */
	double max_abs;         /* max |a-b| over entries finite in both */
	double max_ref;         /* max |b| over finite entries of b */
	double rel;             /* max_abs / max_ref; 0 when both are 0, inf when only max_ref is */
	size_t at;              /* flat index of the largest |a-b| */
	size_t n_mask;          /* entries -inf in exactly one of a, b */
	size_t n_nonfinite;     /* other entries NaN or +inf in one but not alike in the other */
	int within;             /* compared, and within tolerance (see the top of this file) */
};

struct ld_diff {
	struct ld_diff_point *p;    /* n points in forward order */
	size_t n;
	long first;                 /* index into p of the first divergence, -1: none */
	size_t n_compared;          /* kind BOTH */
	size_t n_differ;            /* compared and not within tolerance */
	size_t n_shape, n_only_a, n_only_b;
	int config_differs;         /* the traces come from different model shapes */
};

/* Compare a with b (b is the reference: relative errors are against it). */
enum ld_status ld_diff_traces(struct ld_diff *d, const struct ld_trace *a, const struct ld_trace *b,
                              const struct ld_diff_opts *o, struct ld_err *err);
void ld_diff_free(struct ld_diff *d);

/* The flat index i of t as named coordinates: "token 3, head 1, dim 7". */
void ld_diff_where(const struct ld_tensor *t, size_t i, char *buf, size_t size);

/* Do the configs of two traces describe the same model shape? */
int ld_diff_same_config(const struct ld_config *a, const struct ld_config *b);

/* The difference trace: for every compared point (kind BOTH) a float32
 * tensor a - b (where both are finite; where either is not, a's value),
 * named and described like a's. Fills out (ld_trace_free it); token
 * strings and the prompt are a's. */
enum ld_status ld_diff_make_trace(struct ld_trace *out, const struct ld_diff *d, const struct ld_trace *a,
                                  const struct ld_trace *b, struct ld_err *err);

#endif
