/* diffview.c - what `view A --diff B` shows: the points both traces have
 * with equal shapes, as three traces indexed alike (A, B and A - B), with
 * each point's relative error and the first divergence. No curses. */
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "vw_state.h"

/* A trace that lends src's metadata and lists n of its tensors (copied
 * headers, shared data). Only its tensor array is its own. */
static int view_of(struct ld_trace *v, const struct ld_trace *src, size_t n)
{
	*v = *src;
	v->map = NULL;
	v->map_len = 0;
	v->owns_data = 0;
	v->arena = NULL;
	v->n = 0;
	v->cap = n;
	v->t = malloc((n ? n : 1) * sizeof *v->t);
	return v->t ? 0 : -1;
}

enum ld_status vw_diff_open(struct vw_diff *vd, const struct ld_trace *a, const struct ld_trace *b,
                            const char *label_a, const char *label_b, const struct ld_diff_opts *o,
                            struct ld_err *err)
{
	memset(vd, 0, sizeof *vd);
	vd->first = -1;
	vd->label[0] = label_a;
	vd->label[1] = label_b;
	struct ld_diff d;
	enum ld_status st = ld_diff_traces(&d, a, b, o, err);
	if (st != LD_OK)
		return st;
	size_t n = d.n_compared;
	if (n == 0) {
		st = ld_fail(err, LD_ERR_USAGE, "%s and %s have no point of the same name and shape", label_a, label_b);
		goto out;
	}
	st = ld_diff_make_trace(&vd->tr[VW_DIFF_AB], &d, a, b, err);
	if (st != LD_OK)
		goto out;
	vd->rel = calloc(n, sizeof *vd->rel);
	vd->differs = calloc(n, 1);
	if (!vd->rel || !vd->differs || view_of(&vd->tr[VW_DIFF_A], a, n) != 0 ||
	    view_of(&vd->tr[VW_DIFF_B], b, n) != 0) {
		st = ld_fail(err, LD_ERR_NOMEM, "out of memory comparing %s and %s", label_a, label_b);
		goto out;
	}
	for (size_t k = 0; k < d.n; k++) {
		const struct ld_diff_point *p = &d.p[k];
		if (p->kind != LD_DIFF_BOTH)
			continue;
		size_t j = vd->tr[VW_DIFF_A].n;
		vd->tr[VW_DIFF_A].t[vd->tr[VW_DIFF_A].n++] = a->t[p->ia];
		vd->tr[VW_DIFF_B].t[vd->tr[VW_DIFF_B].n++] = b->t[p->ib];
		vd->rel[j] = p->rel;
		vd->differs[j] = !p->within;
		if (vd->first < 0 && !p->within)
			vd->first = (long)j;
	}
	vd->n_left_out = d.n - n;
out:
	ld_diff_free(&d);
	if (st != LD_OK)
		vw_diff_close(vd);
	return st;
}

void vw_diff_close(struct vw_diff *vd)
{
	free(vd->tr[VW_DIFF_A].t);
	free(vd->tr[VW_DIFF_B].t);
	ld_trace_free(&vd->tr[VW_DIFF_AB]);
	free(vd->rel);
	free(vd->differs);
	memset(vd, 0, sizeof *vd);
	vd->first = -1;
}
