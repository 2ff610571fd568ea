/* state.c - the viewer's state machine: where you are and what you see.
 *
 * No curses here. Every key ends up as one vw_apply() call that changes the
 * state and says, through its flags, what the loop must do. The only work
 * that touches a whole tensor is the statistics, done once per tensor on
 * its first visit and cached, and the NaN/Inf search, which is a command.
 */
#include "vw_state.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[] = {
#define VW_X_NAME(a) #a,
	VW_ACTIONS(VW_X_NAME)
#undef VW_X_NAME
};

static unsigned set_mode(struct vw_state *s, const struct ld_trace *tr, enum vw_mode m);

const char *vw_action_name(enum vw_action a)
{
	return (unsigned)a < VW_A_COUNT ? action_names[a] : "?";
}

void vw_set_msg(struct vw_state *s, int is_err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof s->msg, fmt, ap);
	va_end(ap);
	s->msg_err = is_err;
}

/* ---- sizes and selections ---------------------------------------------- */

size_t vw_n_heads(const struct ld_trace *tr, const struct ld_tensor *t)
{
	if (tr->cfg.n_heads > 0)
		return (size_t)tr->cfg.n_heads;
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	for (int d = 0; d < ax.n; d++)
		if (ax.slot[d] == VW_SLOT_HEAD && !ax.kv[d])
			return t->shape[d];
	return 1;
}

size_t vw_kv_group(const struct ld_trace *tr)
{
	int h = tr->cfg.n_heads, kv = tr->cfg.n_kv_heads;
	return h > 0 && kv > 0 && h % kv == 0 ? (size_t)(h / kv) : 1;
}

void vw_default_axes(const struct ld_tensor *t, int *row_axis, int *col_axis)
{
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	*row_axis = *col_axis = -1;
	if (ax.n == 0)
		return;
	if (ax.n == 1) {
		*row_axis = 0;
		return;
	}
	*col_axis = ax.n - 1;
	for (int d = 0; d < ax.n - 1; d++)
		if (ax.slot[d] != VW_SLOT_HEAD) {
			*row_axis = d;
			return;
		}
	*row_axis = 0;
}

size_t vw_sel_index(const struct vw_state *s, const struct ld_trace *tr, const struct ld_tensor *t,
                    const struct vw_axes *ax, int d)
{
	size_t size = t->shape[d];
	if (size == 0)
		return 0;
	size_t v = s->sel[ax->slot[d]];
	if (ax->slot[d] == VW_SLOT_HEAD && ax->kv[d])
		v /= vw_kv_group(tr);
	return v < size ? v : size - 1;
}

void vw_slice_of(const struct vw_state *s, const struct ld_trace *tr, size_t idx, struct vw_slice *sl)
{
	const struct ld_tensor *t = &tr->t[idx];
	memset(sl, 0, sizeof *sl);
	sl->t = t;
	sl->idx = (long)idx;
	vw_axes_parse(t, &sl->ax);
	int r, c;
	if (idx == s->cur) {
		r = s->row_axis;
		c = s->col_axis;
	} else {
		vw_default_axes(t, &r, &c);
	}
	if (r >= sl->ax.n || c >= sl->ax.n || (r >= 0 && r == c))
		vw_default_axes(t, &r, &c);
	sl->row_axis = r;
	sl->col_axis = c;
	size_t stride[LD_MAX_DIMS] = {0}, st = 1;
	for (int d = sl->ax.n - 1; d >= 0; d--) {
		stride[d] = st;
		st *= t->shape[d];
	}
	for (int d = 0; d < sl->ax.n; d++) {
		sl->fixed[d] = vw_sel_index(s, tr, t, &sl->ax, d);
		if (d != r && d != c)
			sl->base += sl->fixed[d] * stride[d];
	}
	sl->nrows = r >= 0 ? t->shape[r] : 1;
	sl->ncols = c >= 0 ? t->shape[c] : 1;
	sl->rstride = r >= 0 ? stride[r] : 0;
	sl->cstride = c >= 0 ? stride[c] : 0;
	if (!t->data)
		sl->nrows = sl->ncols = 0;
}

int vw_slice_masked(const struct vw_slice *sl, size_t r, size_t c)
{
	const struct ld_tensor *t = sl->t;
	if (t->point != LD_PT_SCORES || t->ndim != 3)
		return 0;
	size_t at[3];
	for (int d = 0; d < 3; d++)
		at[d] = d == sl->row_axis ? r : d == sl->col_axis ? c : sl->fixed[d];
	size_t T = t->shape[1], S = t->shape[2];
	double v = vw_slice_get(sl, r, c);
	/* query q sits at position S-T+q and sees keys 0 .. S-T+q */
	return isinf(v) && v < 0 && at[2] + T > S + at[1];
}

/* ---- stats, source, history ------------------------------------------- */

static void ensure_stats(struct vw_state *s, const struct ld_trace *tr, size_t idx)
{
	if (idx >= s->n || s->have_stats[idx])
		return;
	if (tr->t[idx].data)
		ld_tensor_stats(&tr->t[idx], &s->stats[idx]);
	else
		memset(&s->stats[idx], 0, sizeof s->stats[idx]);
	s->have_stats[idx] = 1;
}

const struct ld_stats *vw_stats_of(const struct vw_state *s, size_t idx)
{
	return idx < s->n && s->have_stats[idx] ? &s->stats[idx] : NULL;
}

static int has_head_axis(const struct ld_tensor *t)
{
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	return vw_axes_find(&ax, VW_SLOT_HEAD) >= 0;
}

/* Tensor with this point, step and layer, or -1. */
static long find_point(const struct ld_trace *tr, enum ld_point p, int step, int layer)
{
	for (size_t i = 0; i < tr->n; i++)
		if (tr->t[i].point == p && tr->t[i].step == step && tr->t[i].layer == layer)
			return (long)i;
	return -1;
}

/* ---- the logit lens -------------------------------------------------------- */

int vw_lens_mid(const struct ld_tensor *t)
{
	return ld_point_lens(t->point) == 2;
}

struct vw_lens_cell vw_lens_at(const struct ld_trace *tr, int mid, int step, int layer)
{
	struct vw_lens_cell c = {
		find_point(tr, mid ? LD_PT_LENS_MID_IDS : LD_PT_LENS_IDS, step, layer),
		find_point(tr, mid ? LD_PT_LENS_MID_PROBS : LD_PT_LENS_PROBS, step, layer),
	};
	if (c.ids >= 0) {
		const struct ld_tensor *a = &tr->t[c.ids];
		if (a->dtype != LD_I32 || a->ndim != 2 || a->shape[1] < 1)
			c.ids = c.probs = -1;
	}
	if (c.ids >= 0 && c.probs >= 0) {
		const struct ld_tensor *a = &tr->t[c.ids], *b = &tr->t[c.probs];
		if (b->dtype != LD_F32 || b->ndim != 2 || b->shape[0] != a->shape[0] || b->shape[1] != a->shape[1])
			c.probs = -1;
	}
	return c;
}

long vw_lens_top(const struct ld_trace *tr, struct vw_lens_cell c, size_t t, double *prob)
{
	*prob = NAN;
	if (c.ids < 0 || t >= tr->t[c.ids].shape[0])
		return -1;
	size_t K = tr->t[c.ids].shape[1];
	if (c.probs >= 0)
		*prob = ld_tensor_get(&tr->t[c.probs], t * K);
	return (long)ld_tensor_get(&tr->t[c.ids], t * K);
}

size_t vw_view_target(const struct vw_state *s, const struct ld_trace *tr)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	if (s->mode != VW_MODE_OVERVIEW || has_head_axis(t) || t->layer < 0)
		return s->cur;
	long p = find_point(tr, LD_PT_PROBS, t->step, t->layer);
	return p >= 0 ? (size_t)p : s->cur;
}

static void resolve_source(struct vw_state *s, const struct ld_trace *tr)
{
	char path[64];
	long line = 0;
	s->src = NULL;
	s->src_line = 0;
	if (vw_src_split(tr->t[s->cur].src, path, sizeof path, &line) != 0)
		return;
	s->src_line = line;
	if ((s->src = vw_source_embedded(path)))
		return;
	for (size_t i = 0; i < s->n_src_cache; i++)
		if (strcmp(s->src_cache[i].path, path) == 0) {
			s->src = &s->src_cache[i];
			return;
		}
	struct vw_srcfile f;
	if (vw_source_load(&f, path) != 0)
		return;
	if (s->n_src_cache == VW_SRC_CACHE) {
		vw_source_free(&s->src_cache[0]);
		memmove(&s->src_cache[0], &s->src_cache[1], (VW_SRC_CACHE - 1) * sizeof f);
		s->n_src_cache--;
	}
	s->src_cache[s->n_src_cache] = f;
	s->src = &s->src_cache[s->n_src_cache++];
}

static size_t clamp_top(size_t top, size_t total, size_t visible)
{
	size_t max = total > visible ? total - visible : 0;
	return top > max ? max : top;
}

static void clamp_scroll(struct vw_state *s, const struct ld_trace *tr)
{
	struct vw_slice sl;
	vw_slice_of(s, tr, s->cur, &sl);
	s->row0 = clamp_top(s->row0, sl.nrows, s->view_rows ? s->view_rows : 1);
	s->col0 = clamp_top(s->col0, sl.ncols, s->view_cols ? s->view_cols : 1);
}

/* Bring the selected row and column into view. */
static void show_selection(struct vw_state *s, const struct ld_trace *tr)
{
	struct vw_slice sl;
	vw_slice_of(s, tr, s->cur, &sl);
	size_t vr = s->view_rows ? s->view_rows : 1, vc = s->view_cols ? s->view_cols : 1;
	if (sl.row_axis >= 0) {
		size_t r = sl.fixed[sl.row_axis];
		if (r < s->row0)
			s->row0 = r;
		else if (r >= s->row0 + vr)
			s->row0 = r - vr + 1;
	}
	if (sl.col_axis >= 0) {
		size_t c = sl.fixed[sl.col_axis];
		if (c < s->col0)
			s->col0 = c;
		else if (c >= s->col0 + vc)
			s->col0 = c - vc + 1;
	}
	clamp_scroll(s, tr);
}

/* Keep the derived state in step with the current tensor and mode. */
static void sync(struct vw_state *s, const struct ld_trace *tr)
{
	ensure_stats(s, tr, s->cur);
	ensure_stats(s, tr, vw_view_target(s, tr));
	if (s->mode == VW_MODE_SOURCE)
		resolve_source(s, tr);
	clamp_scroll(s, tr);
}

static void hist_push(struct vw_state *s, size_t idx)
{
	if (s->hist_len && s->hist[s->hist_pos] == idx)
		return;
	s->hist_len = s->hist_len ? s->hist_pos + 1 : 0;
	if (s->hist_len == VW_HIST) {
		memmove(s->hist, s->hist + 1, (VW_HIST - 1) * sizeof s->hist[0]);
		s->hist_len--;
	}
	s->hist[s->hist_len++] = idx;
	s->hist_pos = s->hist_len - 1;
}

/* Move to tensor idx. A tensor with the same axes as the last one keeps
 * the displayed axes and the scroll position (layers.3.q -> layers.4.q
 * shows the same window); any other starts from its default view. */
static void set_point(struct vw_state *s, const struct ld_trace *tr, size_t idx, int record)
{
	const struct ld_tensor *old = &tr->t[s->cur], *nt = &tr->t[idx];
	if (old->ndim != nt->ndim || strcmp(old->axes, nt->axes) != 0) {
		vw_default_axes(nt, &s->row_axis, &s->col_axis);
		s->row0 = s->col0 = 0;
	}
	s->cur = idx;
	s->src_auto = 1;
	if (record)
		hist_push(s, idx);
	sync(s, tr);
}

unsigned vw_goto_index(struct vw_state *s, const struct ld_trace *tr, size_t idx)
{
	if (idx >= tr->n)
		return 0;
	set_point(s, tr, idx, 1);
	return VW_F_REDRAW;
}

unsigned vw_focus(struct vw_state *s, const struct ld_trace *tr, size_t idx, int mode, long head, long token,
                  long key)
{
	if (idx >= tr->n)
		return 0;
	s->prompt_on = 0;
	set_point(s, tr, idx, 1);
	vw_default_axes(&tr->t[idx], &s->row_axis, &s->col_axis);
	s->row0 = s->col0 = 0;
	if (head >= 0)
		s->sel[VW_SLOT_HEAD] = (size_t)head;
	if (token >= 0)
		s->sel[VW_SLOT_TOKEN] = (size_t)token;
	if (key >= 0)
		s->sel[VW_SLOT_KEY] = (size_t)key;
	if (mode >= 0 && mode < VW_MODE_HELP) {
		s->mode = VW_MODE_GRID;
		if (mode != VW_MODE_GRID)
			set_mode(s, tr, (enum vw_mode)mode);
	}
	sync(s, tr);
	show_selection(s, tr);
	return VW_F_REDRAW;
}

int vw_state_init(struct vw_state *s, const struct ld_trace *tr)
{
	memset(s, 0, sizeof *s);
	if (!tr || tr->n == 0)
		return -1;
	s->n = tr->n;
	s->stats = calloc(tr->n, sizeof *s->stats);
	s->have_stats = calloc(tr->n, 1);
	if (!s->stats || !s->have_stats) {
		vw_state_free(s);
		return -1;
	}
	s->mode = s->back_mode = VW_MODE_GRID;
	s->src_auto = 1;
	s->view_rows = s->view_cols = 1;
	vw_default_axes(&tr->t[0], &s->row_axis, &s->col_axis);
	s->cur = 0;
	hist_push(s, 0);
	sync(s, tr);
	return 0;
}

void vw_state_set_diff(struct vw_state *s, const struct vw_diff *vd)
{
	s->diff = vd;
	s->diff_which = VW_DIFF_A;
	if (vd->first >= 0)
		vw_goto_index(s, &vd->tr[VW_DIFF_A], (size_t)vd->first);
	if (vd->n_left_out)
		vw_set_msg(s, 0, "%zu point%s not shown: in one trace only, or shapes differ (llamadbg diff lists them)",
		           vd->n_left_out, vd->n_left_out == 1 ? "" : "s");
}

const struct ld_trace *vw_shown(const struct vw_state *s, const struct ld_trace *tr)
{
	return s->diff ? &s->diff->tr[s->diff_which] : tr;
}

/* A, then B, then A - B, at the same point; stats are the new trace's. */
static unsigned diff_next(struct vw_state *s)
{
	static const char *const what[VW_DIFF_N] = {"A", "B", "A-B (a - b where both are finite)"};
	if (!s->diff) {
		vw_set_msg(s, 1, "one trace: `llamadbg view A --diff B` opens two");
		return VW_F_REDRAW;
	}
	s->diff_which = (s->diff_which + 1) % VW_DIFF_N;
	memset(s->have_stats, 0, s->n);
	sync(s, vw_shown(s, NULL));
	vw_set_msg(s, 0, "showing %s%s%s", what[s->diff_which], s->diff_which < VW_DIFF_AB ? ": " : "",
	           s->diff_which < VW_DIFF_AB ? s->diff->label[s->diff_which] : "");
	return VW_F_REDRAW;
}

void vw_state_free(struct vw_state *s)
{
	free(s->stats);
	free(s->have_stats);
	for (size_t i = 0; i < s->n_src_cache; i++)
		vw_source_free(&s->src_cache[i]);
	memset(s, 0, sizeof *s);
}

void vw_set_view(struct vw_state *s, const struct ld_trace *tr, const struct vw_view *v)
{
	s->view_rows = v->rows;
	s->view_cols = v->cols;
	s->page_lines = v->page_lines;
	s->total_lines = v->total_lines;
	if (s->mode == VW_MODE_HELP)
		s->help_top = clamp_top(s->help_top, v->total_lines, v->page_lines);
	if (s->mode == VW_MODE_SOURCE && !s->src_auto)
		s->src_top = clamp_top(s->src_top, v->total_lines, v->page_lines);
	clamp_scroll(s, tr);
}

/* Open the lens view on the current point's layer and step (the last layer
 * from the points after the layers, layer 0 from those before). */
static unsigned open_lens(struct vw_state *s, const struct ld_trace *tr)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	int mid = vw_lens_mid(t);
	int layer = t->layer >= 0 ? t->layer : t->point > LD_PT_RESID_OUT ? tr->cfg.n_layers - 1 : 0;
	struct vw_lens_cell c = vw_lens_at(tr, mid, t->step, layer);
	if (c.ids < 0)
		c = vw_lens_at(tr, 0, 0, 0);
	if (c.ids < 0) {
		vw_set_msg(s, 0, "no logit lens in this trace: record one with trace --lens");
		return VW_F_REDRAW;
	}
	if ((size_t)c.ids != s->cur)
		set_point(s, tr, (size_t)c.ids, 1);
	s->mode = VW_MODE_LENS;
	sync(s, tr);
	return VW_F_REDRAW;
}

/* ---- stepping ------------------------------------------------------------ */

static unsigned step_layer(struct vw_state *s, const struct ld_trace *tr, int delta)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	if (t->layer < 0) {
		vw_set_msg(s, 1, "%s is not inside a layer", t->name);
		return VW_F_REDRAW;
	}
	long j = find_point(tr, t->point, t->step, t->layer + delta);
	if (j < 0) {
		vw_set_msg(s, 0, "%s: no layer %d", t->name, t->layer + delta);
		return VW_F_REDRAW;
	}
	set_point(s, tr, (size_t)j, 1);
	return VW_F_REDRAW;
}

static unsigned step_decode(struct vw_state *s, const struct ld_trace *tr, int delta)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	long j = find_point(tr, t->point, t->step + delta, t->layer);
	if (j < 0 && t->step + delta < 0) {
		vw_set_msg(s, 0, "%s is in the prompt pass: no earlier step", t->name);
		return VW_F_REDRAW;
	}
	if (j < 0) {
		vw_set_msg(s, 0, "%s: no %s step %d", t->name, delta > 0 ? "decode" : "earlier",
		           t->step + delta);
		return VW_F_REDRAW;
	}
	set_point(s, tr, (size_t)j, 1);
	return VW_F_REDRAW;
}

static unsigned step_head(struct vw_state *s, const struct ld_trace *tr, int dir)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	size_t nh = vw_n_heads(tr, t), delta = 1, *h = &s->sel[VW_SLOT_HEAD];
	int d = vw_axes_find(&ax, VW_SLOT_HEAD);
	/* on K and V (kv_head axis only) a step moves to the next KV head */
	if (d >= 0 && ax.kv[d])
		delta = vw_kv_group(tr);
	size_t g = *h / delta;
	const char *what = delta > 1 ? "kv head" : "head";
	if (dir > 0) {
		if ((g + 1) * delta >= nh) {
			vw_set_msg(s, 0, "%s %zu is the last", what, g);
			return VW_F_REDRAW;
		}
		*h = (g + 1) * delta;
	} else {
		if (g == 0) {
			vw_set_msg(s, 0, "%s 0 is the first", what);
			return VW_F_REDRAW;
		}
		*h = (g - 1) * delta;
	}
	if (d < 0)
		vw_set_msg(s, 0, "head %zu (%s has no head axis)", *h, t->name);
	show_selection(s, tr);
	return VW_F_REDRAW;
}

static size_t token_count(const struct ld_trace *tr, const struct ld_tensor *t)
{
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	int d = vw_axes_find(&ax, VW_SLOT_TOKEN);
	if (d >= 0)
		return t->shape[d];
	return tr->n_tokens ? tr->n_tokens : 1;
}

static unsigned step_token(struct vw_state *s, const struct ld_trace *tr, int dir)
{
	size_t n = token_count(tr, &tr->t[s->cur]), *k = &s->sel[VW_SLOT_TOKEN];
	if (*k >= n)
		*k = n ? n - 1 : 0;
	if (dir > 0) {
		if (*k + 1 >= n) {
			vw_set_msg(s, 0, "token %zu is the last", *k);
			return VW_F_REDRAW;
		}
		++*k;
	} else {
		if (*k == 0) {
			vw_set_msg(s, 0, "token 0 is the first");
			return VW_F_REDRAW;
		}
		--*k;
	}
	show_selection(s, tr);
	return VW_F_REDRAW;
}

/* Step the index of the first axis that is neither rows nor columns. */
static unsigned step_fixed(struct vw_state *s, const struct ld_trace *tr, int dir)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	for (int d = 0; d < ax.n; d++) {
		if (d == s->row_axis || d == s->col_axis)
			continue;
		if (ax.slot[d] == VW_SLOT_HEAD)
			return step_head(s, tr, dir);
		size_t *v = &s->sel[ax.slot[d]], n = t->shape[d];
		if (*v >= n)
			*v = n ? n - 1 : 0;
		if (dir > 0 && *v + 1 < n)
			++*v;
		else if (dir < 0 && *v > 0)
			--*v;
		else
			vw_set_msg(s, 0, "%s %zu is the %s", ax.name[d], *v, dir > 0 ? "last" : "first");
		return VW_F_REDRAW;
	}
	vw_set_msg(s, 0, "every axis of %s is on screen", t->name);
	return VW_F_REDRAW;
}

/* Select the column holding the largest value of the selected row (the
 * argmax of a logits row is the greedy next token). */
static unsigned row_max(struct vw_state *s, const struct ld_trace *tr)
{
	struct vw_slice sl;
	vw_slice_of(s, tr, s->cur, &sl);
	if (sl.col_axis < 0 || sl.nrows == 0) {
		vw_set_msg(s, 0, "one column: nothing to compare across");
		return VW_F_REDRAW;
	}
	size_t r = sl.row_axis >= 0 ? sl.fixed[sl.row_axis] : 0, best = 0;
	double bv = NAN;
	for (size_t c = 0; c < sl.ncols; c++) {
		double v = vw_slice_get(&sl, r, c);
		if (!isnan(v) && (isnan(bv) || v > bv)) {
			bv = v;
			best = c;
		}
	}
	enum vw_slot cs = sl.ax.slot[sl.col_axis];
	s->sel[cs] = cs == VW_SLOT_HEAD && sl.ax.kv[sl.col_axis] ? best * vw_kv_group(tr) : best;
	char num[32];
	vw_fmt_num(num, sizeof num, 12, bv);
	vw_set_msg(s, 0, "row %zu: max %s at %s %zu", r, num, sl.ax.name[sl.col_axis], best);
	show_selection(s, tr);
	return VW_F_REDRAW;
}

static unsigned cycle_axis(struct vw_state *s, const struct ld_trace *tr, int which)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	int n = t->ndim;
	if (n < 2) {
		vw_set_msg(s, 0, "%s has one axis", t->name);
		return VW_F_REDRAW;
	}
	int *mine = which ? &s->col_axis : &s->row_axis, other = which ? s->row_axis : s->col_axis;
	int a = *mine;
	do
		a = (a + 1) % n;
	while (a == other);
	if (a == *mine) { /* two axes: nothing to cycle to; keep the scroll */
		vw_set_msg(s, 0, "%s has no other axis for the %s; x swaps rows and columns", t->name,
		           which ? "columns" : "rows");
		return VW_F_REDRAW;
	}
	*mine = a;
	s->row0 = s->col0 = 0;
	show_selection(s, tr);
	return VW_F_REDRAW;
}

/* ---- NaN / Inf search ----------------------------------------------------- */

/* Index of the first bad element: NaN, +Inf, or -Inf the causal mask does
 * not explain. */
static int first_bad(const struct ld_tensor *t, size_t *out)
{
	size_t n = ld_tensor_numel(t);
	int scores = t->point == LD_PT_SCORES && t->ndim == 3;
	size_t T = scores ? t->shape[1] : 0, S = scores ? t->shape[2] : 0;
	if (t->dtype != LD_F32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		double v = vw_get(t, i);
		if (!isnan(v) && !isinf(v))
			continue;
		if (isinf(v) && v < 0 && scores) {
			size_t k = i % S, q = (i / S) % T;
			if (k + T > S + q) /* k > S-T+q: masked */
				continue;
		}
		*out = i;
		return 1;
	}
	return 0;
}

static unsigned search_bad(struct vw_state *s, const struct ld_trace *tr, int dir)
{
	for (size_t i = s->cur;;) {
		if (dir > 0 ? i + 1 >= tr->n : i == 0)
			break;
		i = dir > 0 ? i + 1 : i - 1;
		ensure_stats(s, tr, i);
		const struct ld_tensor *t = &tr->t[i];
		if (!vw_stats_bad(t, &s->stats[i]))
			continue;
		set_point(s, tr, i, 1);
		size_t e;
		if (first_bad(t, &e)) {
			struct vw_axes ax;
			vw_axes_parse(t, &ax);
			for (int d = ax.n - 1; d >= 0; d--) {
				size_t k = t->shape[d] ? e % t->shape[d] : 0;
				e = t->shape[d] ? e / t->shape[d] : 0;
				s->sel[ax.slot[d]] = ax.slot[d] == VW_SLOT_HEAD && ax.kv[d] ? k * vw_kv_group(tr) : k;
			}
			show_selection(s, tr);
		}
		const struct ld_stats *st = &s->stats[i];
		vw_set_msg(s, 1, "%s: %zu NaN, %zu +inf, %zu -inf", t->name, st->n_nan, st->n_posinf,
		           st->n_neginf);
		return VW_F_REDRAW;
	}
	vw_set_msg(s, 0, "no NaN or Inf %s %s (the causal mask's -inf does not count)",
	           dir > 0 ? "after" : "before", tr->t[s->cur].name);
	return VW_F_REDRAW;
}

/* ---- goto prompt ---------------------------------------------------------- */

enum match_rule { M_ABS, M_CTX, M_STEP, M_SUB, M_NONE };

/* The prefix a relative name is read against: "step.1.layers.3." (M_CTX)
 * or "step.1." (M_STEP). */
static void context_prefix(const struct ld_tensor *t, enum match_rule r, char *buf, size_t size)
{
	size_t n = 0;
	if (r == M_CTX) {
		n = vw_prefix_len(t->name);
	} else if (r == M_STEP && t->step > 0 && strncmp(t->name, "step.", 5) == 0) {
		const char *q = strchr(t->name + 5, '.');
		n = q ? (size_t)(q - t->name) + 1 : 0;
	}
	if (n >= size)
		n = size - 1;
	memcpy(buf, t->name, n);
	buf[n] = '\0';
}

static int matches(const struct ld_tensor *cur, const char *name, const char *text, enum match_rule r)
{
	char full[VW_PROMPT + 96];
	if (r == M_SUB)
		return strstr(name, text) != NULL;
	context_prefix(cur, r, full, sizeof full);
	strncat(full, text, sizeof full - strlen(full) - 1);
	return strncmp(name, full, strlen(full)) == 0;
}

static enum match_rule match_rule(const struct vw_state *s, const struct ld_trace *tr, const char *text)
{
	const struct ld_tensor *cur = &tr->t[s->cur];
	if (!*text)
		return M_ABS;
	for (int r = M_ABS; r <= M_SUB; r++)
		for (size_t i = 0; i < tr->n; i++)
			if (matches(cur, tr->t[i].name, text, (enum match_rule)r))
				return (enum match_rule)r;
	return M_NONE;
}

size_t vw_complete(const struct vw_state *s, const struct ld_trace *tr, const char *text, size_t *out,
                   size_t max)
{
	enum match_rule r = match_rule(s, tr, text);
	size_t count = 0;
	if (r == M_NONE)
		return 0;
	for (size_t i = 0; i < tr->n; i++)
		if (matches(&tr->t[s->cur], tr->t[i].name, text, r)) {
			if (count < max)
				out[count] = i;
			count++;
		}
	return count;
}

/* Replace the prompt by the longest common prefix of the matches. */
static size_t complete_prompt(struct vw_state *s, const struct ld_trace *tr, long *only)
{
	enum match_rule r = match_rule(s, tr, s->prompt);
	size_t count = 0, lcp = 0;
	const char *first = NULL;
	*only = -1;
	if (r == M_NONE)
		return 0;
	for (size_t i = 0; i < tr->n; i++) {
		const char *name = tr->t[i].name;
		if (!matches(&tr->t[s->cur], name, s->prompt, r))
			continue;
		if (!first) {
			first = name;
			lcp = strlen(name);
			*only = (long)i;
		} else {
			size_t k = 0;
			while (k < lcp && name[k] == first[k])
				k++;
			lcp = k;
		}
		count++;
	}
	if (count > 1)
		*only = -1;
	/* substring matches may share less than was typed: keep the text then */
	if (first && lcp >= strlen(s->prompt) && lcp < sizeof s->prompt) {
		memcpy(s->prompt, first, lcp);
		s->prompt[lcp] = '\0';
	}
	return count;
}

static int all_digits(const char *p)
{
	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* When every match is the same kind of point ("scores" typed outside a
 * layer matches layers.*.scores), the nearest one: the first after the
 * current tensor in its decode step, else the first in its step, else the
 * first. -1 when the matches differ in kind or there are none. */
static long same_kind_match(const struct vw_state *s, const struct ld_trace *tr)
{
	enum match_rule r = match_rule(s, tr, s->prompt);
	const struct ld_tensor *cur = &tr->t[s->cur];
	long first = -1, in_step = -1, after = -1;
	if (r == M_NONE)
		return -1;
	for (size_t i = 0; i < tr->n; i++) {
		const struct ld_tensor *t = &tr->t[i];
		if (!matches(cur, t->name, s->prompt, r))
			continue;
		if (first >= 0 && t->point != tr->t[first].point)
			return -1;
		if (first < 0)
			first = (long)i;
		if (t->step == cur->step && in_step < 0)
			in_step = (long)i;
		if (t->step == cur->step && i > s->cur && after < 0)
			after = (long)i;
	}
	return after >= 0 ? after : in_step >= 0 ? in_step : first;
}

static unsigned prompt_enter(struct vw_state *s, const struct ld_trace *tr)
{
	const struct ld_tensor *cur = &tr->t[s->cur];
	long j = ld_trace_find(tr, s->prompt);
	if (j < 0) {
		char full[VW_PROMPT + 96];
		context_prefix(cur, M_CTX, full, sizeof full);
		strncat(full, s->prompt, sizeof full - strlen(full) - 1);
		j = ld_trace_find(tr, full);
	}
	if (j < 0 && all_digits(s->prompt)) { /* a layer number: same point there */
		j = find_point(tr, cur->point, cur->step, atoi(s->prompt));
		if (j < 0 && cur->layer < 0)
			j = find_point(tr, LD_PT_ATTN_NORM, cur->step, atoi(s->prompt));
	}
	if (j < 0)
		j = same_kind_match(s, tr);
	if (j < 0) {
		size_t n = complete_prompt(s, tr, &j);
		if (n == 0) {
			vw_set_msg(s, 1, "no point named \"%s\"", s->prompt);
			return VW_F_REDRAW;
		}
		if (n > 1) {
			vw_set_msg(s, 0, "%zu points match; type more (Tab completes)", n);
			return VW_F_REDRAW;
		}
	}
	s->prompt_on = 0;
	set_point(s, tr, (size_t)j, 1);
	return VW_F_REDRAW;
}

unsigned vw_prompt_char(struct vw_state *s, const struct ld_trace *tr, int ch)
{
	size_t n = strlen(s->prompt);
	if (!s->prompt_on || ch < 0x20 || ch > 0x7e || n + 1 >= sizeof s->prompt)
		return 0;
	s->prompt[n] = (char)ch;
	s->prompt[n + 1] = '\0';
	s->msg[0] = '\0';
	return VW_F_REDRAW;
}

static unsigned prompt_action(struct vw_state *s, const struct ld_trace *tr, enum vw_action a)
{
	size_t n = strlen(s->prompt);
	long only;
	switch (a) {
	case VW_A_PROMPT_CANCEL:
		s->prompt_on = 0;
		return VW_F_REDRAW;
	case VW_A_PROMPT_BS:
		if (n)
			s->prompt[n - 1] = '\0';
		return VW_F_REDRAW;
	case VW_A_PROMPT_KILL:
		s->prompt[0] = '\0';
		return VW_F_REDRAW;
	case VW_A_PROMPT_COMPLETE: {
		size_t m = complete_prompt(s, tr, &only);
		if (m == 0)
			vw_set_msg(s, 1, "no point matches \"%s\"", s->prompt);
		else if (m > 1)
			vw_set_msg(s, 0, "%zu matches", m);
		return VW_F_REDRAW;
	}
	case VW_A_PROMPT_ENTER:
		return prompt_enter(s, tr);
	case VW_A_QUIT:
		return VW_F_QUIT;
	default:
		return 0;
	}
}

/* ---- the dispatcher ------------------------------------------------------- */

static unsigned set_mode(struct vw_state *s, const struct ld_trace *tr, enum vw_mode m)
{
	if (s->mode == m && m != VW_MODE_GRID)
		m = VW_MODE_GRID; /* the same key again goes back to the numbers */
	if (m == VW_MODE_HELP) {
		s->back_mode = s->mode;
		s->help_top = 0;
	}
	if (m == VW_MODE_OVERVIEW) {
		const struct ld_tensor *t = &tr->t[s->cur];
		s->mode = m;
		size_t target = vw_view_target(s, tr);
		if (!has_head_axis(&tr->t[target])) {
			s->mode = VW_MODE_GRID;
			vw_set_msg(s, 0, "%s has no heads, nor a probs tensor in its layer", t->name);
			return VW_F_REDRAW;
		}
	}
	if (m == VW_MODE_SOURCE)
		s->src_auto = 1;
	if (m == VW_MODE_LENS)
		return open_lens(s, tr);
	s->mode = m;
	sync(s, tr);
	return VW_F_REDRAW;
}

static void scroll_text(size_t *top, long delta)
{
	if (delta < 0 && (size_t)-delta > *top)
		*top = 0;
	else
		*top = (size_t)((long)*top + delta);
}

static unsigned scroll(struct vw_state *s, const struct ld_trace *tr, long drow, long dcol)
{
	if (s->mode == VW_MODE_HELP) {
		scroll_text(&s->help_top, drow);
		s->help_top = clamp_top(s->help_top, s->total_lines, s->page_lines);
		return VW_F_REDRAW;
	}
	if (s->mode == VW_MODE_SOURCE) {
		if (s->src_auto) {
			/* start from the centred position the frame showed */
			size_t above = 2 * s->page_lines / 3;
			s->src_top = s->src_line > (long)above ? (size_t)s->src_line - 1 - above : 0;
			s->src_auto = 0;
		}
		scroll_text(&s->src_top, drow);
		s->src_top = clamp_top(s->src_top, s->total_lines, s->page_lines);
		return VW_F_REDRAW;
	}
	scroll_text(&s->row0, drow);
	scroll_text(&s->col0, dcol);
	clamp_scroll(s, tr);
	return VW_F_REDRAW;
}

unsigned vw_apply(struct vw_state *s, const struct ld_trace *tr, enum vw_action a)
{
	long page = (long)(s->mode == VW_MODE_HELP || s->mode == VW_MODE_SOURCE ? s->page_lines : s->view_rows);
	long hpage = (long)(s->view_cols > 1 ? s->view_cols - 1 : 1);
	if (page < 1)
		page = 1;
	s->msg[0] = '\0';
	s->msg_err = 0;
	if (s->prompt_on)
		return prompt_action(s, tr, a);
	if (s->mode == VW_MODE_LENS) {
		/* the lens grid: up and down are layers, left and right positions */
		if (a == VW_A_NEXT_POINT || a == VW_A_PREV_POINT)
			return step_layer(s, tr, a == VW_A_NEXT_POINT ? 1 : -1);
		if (a == VW_A_NEXT_HEAD || a == VW_A_PREV_HEAD)
			return step_token(s, tr, a == VW_A_NEXT_HEAD ? 1 : -1);
	}
	switch (a) {
	case VW_A_NONE:
		return 0;
	case VW_A_QUIT:
		return VW_F_QUIT;
	case VW_A_NEXT_POINT:
		if (s->cur + 1 >= tr->n) {
			vw_set_msg(s, 0, "%s is the last point", tr->t[s->cur].name);
			return VW_F_REDRAW;
		}
		set_point(s, tr, s->cur + 1, 1);
		return VW_F_REDRAW;
	case VW_A_PREV_POINT:
		if (s->cur == 0) {
			vw_set_msg(s, 0, "%s is the first point", tr->t[s->cur].name);
			return VW_F_REDRAW;
		}
		set_point(s, tr, s->cur - 1, 1);
		return VW_F_REDRAW;
	case VW_A_FIRST_POINT:
		set_point(s, tr, 0, 1);
		return VW_F_REDRAW;
	case VW_A_LAST_POINT:
		set_point(s, tr, tr->n - 1, 1);
		return VW_F_REDRAW;
	case VW_A_NEXT_LAYER:
		return step_layer(s, tr, 1);
	case VW_A_PREV_LAYER:
		return step_layer(s, tr, -1);
	case VW_A_NEXT_STEP:
		return step_decode(s, tr, 1);
	case VW_A_PREV_STEP:
		return step_decode(s, tr, -1);
	case VW_A_NEXT_HEAD:
		return step_head(s, tr, 1);
	case VW_A_PREV_HEAD:
		return step_head(s, tr, -1);
	case VW_A_NEXT_TOKEN:
		return step_token(s, tr, 1);
	case VW_A_PREV_TOKEN:
		return step_token(s, tr, -1);
	case VW_A_NEXT_FIXED:
		return step_fixed(s, tr, 1);
	case VW_A_PREV_FIXED:
		return step_fixed(s, tr, -1);
	case VW_A_SCROLL_DOWN:
		return scroll(s, tr, 1, 0);
	case VW_A_SCROLL_UP:
		return scroll(s, tr, -1, 0);
	case VW_A_PAGE_DOWN:
		return scroll(s, tr, page, 0);
	case VW_A_PAGE_UP:
		return scroll(s, tr, -page, 0);
	case VW_A_SCROLL_RIGHT:
		return scroll(s, tr, 0, hpage);
	case VW_A_SCROLL_LEFT:
		return scroll(s, tr, 0, -hpage);
	case VW_A_COL_FIRST:
		s->col0 = 0;
		return VW_F_REDRAW;
	case VW_A_COL_LAST:
		s->col0 = (size_t)-1 / 2;
		clamp_scroll(s, tr);
		return VW_F_REDRAW;
	case VW_A_ROW_FIRST:
		s->row0 = 0;
		return VW_F_REDRAW;
	case VW_A_ROW_LAST:
		s->row0 = (size_t)-1 / 2;
		clamp_scroll(s, tr);
		return VW_F_REDRAW;
	case VW_A_ROW_AXIS:
		return cycle_axis(s, tr, 0);
	case VW_A_COL_AXIS:
		return cycle_axis(s, tr, 1);
	case VW_A_SWAP_AXES:
		if (s->col_axis < 0) {
			vw_set_msg(s, 0, "%s has one axis", tr->t[s->cur].name);
			return VW_F_REDRAW;
		} else {
			int r = s->row_axis;
			s->row_axis = s->col_axis;
			s->col_axis = r;
			size_t r0 = s->row0;
			s->row0 = s->col0;
			s->col0 = r0;
			clamp_scroll(s, tr);
		}
		return VW_F_REDRAW;
	case VW_A_ROW_MAX:
		return row_max(s, tr);
	case VW_A_MODE_GRID:
		return set_mode(s, tr, VW_MODE_GRID);
	case VW_A_MODE_HEAT:
		return set_mode(s, tr, VW_MODE_HEAT);
	case VW_A_MODE_OVERVIEW:
		return set_mode(s, tr, VW_MODE_OVERVIEW);
	case VW_A_MODE_SOURCE:
		return set_mode(s, tr, VW_MODE_SOURCE);
	case VW_A_MODE_LENS:
		return set_mode(s, tr, VW_MODE_LENS);
	case VW_A_HELP:
		if (s->mode == VW_MODE_HELP) {
			s->mode = s->back_mode;
			sync(s, tr);
			return VW_F_REDRAW;
		}
		return set_mode(s, tr, VW_MODE_HELP);
	case VW_A_CLOSE:
		s->mode = s->mode == VW_MODE_HELP ? s->back_mode : VW_MODE_GRID;
		if (s->mode == VW_MODE_HELP)
			s->mode = VW_MODE_GRID;
		sync(s, tr);
		return VW_F_REDRAW;
	case VW_A_HIST_BACK:
		if (s->hist_pos == 0) {
			vw_set_msg(s, 0, "no earlier place in the history");
			return VW_F_REDRAW;
		}
		set_point(s, tr, s->hist[--s->hist_pos], 0);
		return VW_F_REDRAW;
	case VW_A_HIST_FWD:
		if (s->hist_pos + 1 >= s->hist_len) {
			vw_set_msg(s, 0, "no later place in the history");
			return VW_F_REDRAW;
		}
		set_point(s, tr, s->hist[++s->hist_pos], 0);
		return VW_F_REDRAW;
	case VW_A_SEARCH_NEXT:
		return search_bad(s, tr, 1);
	case VW_A_SEARCH_PREV:
		return search_bad(s, tr, -1);
	case VW_A_GOTO:
		s->prompt_on = 1;
		s->prompt[0] = '\0';
		return VW_F_REDRAW;
	case VW_A_PROMPT_COMPLETE:
	case VW_A_PROMPT_ENTER:
	case VW_A_PROMPT_CANCEL:
	case VW_A_PROMPT_BS:
	case VW_A_PROMPT_KILL:
		return 0;
	case VW_A_DUMP_TENSOR:
		return VW_F_REDRAW | VW_F_DUMP_TENSOR;
	case VW_A_DUMP_SLICE:
		return VW_F_REDRAW | VW_F_DUMP_SLICE;
	case VW_A_PALETTE: {
		static const char *const names[VW_PAL_COUNT] = {
			"automatic", "256-colour ramp", "8 colours", "shaded glyphs", "ASCII"};
		s->palette = (enum vw_palette)((s->palette + 1) % VW_PAL_COUNT);
		vw_set_msg(s, 0, "pictures: %s", names[s->palette]);
		return VW_F_REDRAW;
	}
	case VW_A_REDRAW:
		return VW_F_REDRAW | VW_F_CLEAR;
	case VW_A_DIFF_NEXT:
		return diff_next(s);
	case VW_A_LESSON_NEXT:
	case VW_A_LESSON_PREV:
	case VW_A_LESSON_FOCUS:
	case VW_A_LESSON_TEXT_DOWN:
	case VW_A_LESSON_TEXT_UP:
		return 0; /* the lesson runner's (lessons/runner.c) */
	case VW_A_COUNT:
		break;
	}
	return 0;
}
