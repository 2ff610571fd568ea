/* diff.c - two traces side by side: per point, how far apart and where.
 * See diff.h for what "within tolerance" means. */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

int ld_diff_same_config(const struct ld_config *a, const struct ld_config *b)
{
	return a->dim == b->dim && a->ffn_dim == b->ffn_dim && a->n_layers == b->n_layers &&
	       a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim &&
	       a->vocab_size == b->vocab_size && a->n_labels == b->n_labels;
}

static int wanted(const struct ld_diff_opts *o, const char *name)
{
	if (o->n_only == 0)
		return 1;
	for (size_t i = 0; i < o->n_only; i++)
		if (fnmatch(o->only[i], name, 0) == 0)
			return 1;
	return 0;
}

static int same_shape(const struct ld_tensor *a, const struct ld_tensor *b)
{
	if (a->dtype != b->dtype || a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

/* Element i widened to double: float32 read in place (the common case, and
 * the loop over an 8B trace's hundreds of MB), anything else through
 * ld_tensor_get. */
static inline double value(const struct ld_tensor *t, size_t i)
{
	return t->dtype == LD_F32 ? ((const float *)t->data)[i] : ld_tensor_get(t, i);
}

/* One point in both traces with equal shapes: the numbers of diff.h. */
static void compare(struct ld_diff_point *p, const struct ld_tensor *a, const struct ld_tensor *b,
                    const struct ld_diff_opts *o)
{
	size_t n = ld_tensor_numel(a);
	for (size_t i = 0; i < n; i++) {
		double x = value(a, i), y = value(b, i);
		int fx = isfinite(x), fy = isfinite(y);
		if (fy && fabs(y) > p->max_ref)
			p->max_ref = fabs(y);
		if (fx && fy) {
			double d = fabs(x - y);
			if (d > p->max_abs) {
				p->max_abs = d;
				p->at = i;
			}
			continue;
		}
		int ninf_x = isinf(x) && x < 0, ninf_y = isinf(y) && y < 0;
		if (ninf_x != ninf_y)
			p->n_mask++;
		else if (!ninf_x && !(isinf(x) && isinf(y) && x == y) && !(isnan(x) && isnan(y)))
			p->n_nonfinite++;
	}
	p->rel = p->max_ref > 0 ? p->max_abs / p->max_ref : p->max_abs > 0 ? INFINITY : 0;
	p->within = p->max_abs <= o->atol + o->rtol * p->max_ref && p->n_mask == 0 && p->n_nonfinite == 0;
}

static int push(struct ld_diff *d, size_t *cap, enum ld_diff_kind kind, long ia, long ib)
{
	if (d->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct ld_diff_point *np = realloc(d->p, nc * sizeof *np);
		if (!np)
			return -1;
		d->p = np;
		*cap = nc;
	}
	d->p[d->n++] = (struct ld_diff_point){.kind = kind, .ia = ia, .ib = ib};
	return 0;
}

/* Points of b before index end that a lacks (from *jb on), in b's order. */
static int push_only_b(struct ld_diff *d, size_t *cap, const struct ld_trace *a, const struct ld_trace *b,
                       const struct ld_diff_opts *o, size_t *jb, size_t end)
{
	for (; *jb < end; (*jb)++)
		if (wanted(o, b->t[*jb].name) && ld_trace_find(a, b->t[*jb].name) < 0 &&
		    push(d, cap, LD_DIFF_ONLY_B, -1, (long)*jb) != 0)
			return -1;
	return 0;
}

enum ld_status ld_diff_traces(struct ld_diff *d, const struct ld_trace *a, const struct ld_trace *b,
                              const struct ld_diff_opts *o, struct ld_err *err)
{
	memset(d, 0, sizeof *d);
	d->first = -1;
	d->config_differs = !ld_diff_same_config(&a->cfg, &b->cfg);
	size_t cap = 0, jb = 0;
	/* Walk a in order; b's own points go where b has them, after the
	 * common point before them. */
	for (size_t i = 0; i < a->n; i++) {
		const struct ld_tensor *ta = &a->t[i];
		if (!wanted(o, ta->name))
			continue;
		long j = ld_trace_find(b, ta->name);
		if (j < 0) {
			if (push(d, &cap, LD_DIFF_ONLY_A, (long)i, -1) != 0)
				goto nomem;
			continue;
		}
		if ((size_t)j > jb && push_only_b(d, &cap, a, b, o, &jb, (size_t)j) != 0)
			goto nomem;
		if ((size_t)j + 1 > jb)
			jb = (size_t)j + 1;
		int ok = same_shape(ta, &b->t[j]);
		if (push(d, &cap, ok ? LD_DIFF_BOTH : LD_DIFF_SHAPE, (long)i, j) != 0)
			goto nomem;
		struct ld_diff_point *p = &d->p[d->n - 1];
		if (ok)
			compare(p, ta, &b->t[j], o);
	}
	if (push_only_b(d, &cap, a, b, o, &jb, b->n) != 0)
		goto nomem;
	for (size_t k = 0; k < d->n; k++) {
		const struct ld_diff_point *p = &d->p[k];
		d->n_compared += p->kind == LD_DIFF_BOTH;
		d->n_differ += p->kind == LD_DIFF_BOTH && !p->within;
		d->n_shape += p->kind == LD_DIFF_SHAPE;
		d->n_only_a += p->kind == LD_DIFF_ONLY_A;
		d->n_only_b += p->kind == LD_DIFF_ONLY_B;
		if (d->first < 0 && (p->kind == LD_DIFF_SHAPE || (p->kind == LD_DIFF_BOTH && !p->within)))
			d->first = (long)k;
	}
	return LD_OK;
nomem:
	ld_diff_free(d);
	return ld_fail(err, LD_ERR_NOMEM, "out of memory comparing traces");
}

void ld_diff_free(struct ld_diff *d)
{
	free(d->p);
	memset(d, 0, sizeof *d);
	d->first = -1;
}

void ld_diff_where(const struct ld_tensor *t, size_t i, char *buf, size_t size)
{
	size_t idx[LD_MAX_DIMS];
	for (int d = t->ndim - 1; d >= 0; d--) {
		idx[d] = t->shape[d] ? i % t->shape[d] : 0;
		i = t->shape[d] ? i / t->shape[d] : 0;
	}
	/* Axis names from the trace ("token,head,dim"); "axisN" if missing. */
	const char *ax = t->axes;
	size_t used = 0;
	buf[0] = '\0';
	for (int d = 0; d < t->ndim && used < size; d++) {
		size_t len = strcspn(ax, ",");
		int w = len ? snprintf(buf + used, size - used, "%s%.*s %zu", d ? ", " : "", (int)len, ax, idx[d])
		            : snprintf(buf + used, size - used, "%saxis%d %zu", d ? ", " : "", d, idx[d]);
		used += w > 0 ? (size_t)w : 0;
		ax += len + (ax[len] == ',');
	}
}

/* A copy of n strings (NULL entries stay NULL). */
static char **copy_strs(char *const *s, size_t n)
{
	char **out = calloc(n + 1, sizeof *out);
	for (size_t i = 0; out && i < n; i++)
		if (s[i] && !(out[i] = strdup(s[i]))) {
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	return out;
}

/* out gets a copy of a's metadata: config, prompt, tokens and strings. */
static enum ld_status copy_meta(struct ld_trace *out, const struct ld_trace *a, struct ld_err *err)
{
	out->cfg = a->cfg;
	if (a->model_path && !(out->model_path = strdup(a->model_path)))
		goto nomem;
	if (a->prompt && !(out->prompt = strdup(a->prompt)))
		goto nomem;
	if (!(out->tokens = malloc((a->n_tokens + 1) * sizeof *out->tokens)) ||
	    !(out->generated = malloc((a->n_generated + 1) * sizeof *out->generated)))
		goto nomem;
	memcpy(out->tokens, a->tokens, a->n_tokens * sizeof *out->tokens);
	memcpy(out->generated, a->generated, a->n_generated * sizeof *out->generated);
	out->n_tokens = a->n_tokens;
	out->n_generated = a->n_generated;
	if (a->token_str && !(out->token_str = copy_strs(a->token_str, a->n_tokens + a->n_generated)))
		goto nomem;
	if (a->vocab_str) {
		if (!(out->vocab_str = copy_strs(a->vocab_str, a->n_vocab_str)))
			goto nomem;
		out->n_vocab_str = a->n_vocab_str;
	}
	return LD_OK;
nomem:
	return ld_fail(err, LD_ERR_NOMEM, "out of memory copying the trace's metadata");
}

enum ld_status ld_diff_make_trace(struct ld_trace *out, const struct ld_diff *d, const struct ld_trace *a,
                                  const struct ld_trace *b, struct ld_err *err)
{
	ld_trace_init(out);
	enum ld_status st = copy_meta(out, a, err);
	float *buf = NULL;
	size_t buf_n = 0;
	for (size_t k = 0; st == LD_OK && k < d->n; k++) {
		const struct ld_diff_point *p = &d->p[k];
		if (p->kind != LD_DIFF_BOTH)
			continue;
		const struct ld_tensor *ta = &a->t[p->ia], *tb = &b->t[p->ib];
		size_t n = ld_tensor_numel(ta);
		if (n > buf_n) {
			float *nb = realloc(buf, n * sizeof *nb);
			if (!nb) {
				st = ld_fail(err, LD_ERR_NOMEM, "out of memory for %s - %s", ta->name, tb->name);
				break;
			}
			buf = nb;
			buf_n = n;
		}
		for (size_t i = 0; i < n; i++) {
			double x = value(ta, i), y = value(tb, i);
			buf[i] = (float)(isfinite(x) && isfinite(y) ? x - y : x);
		}
		st = ld_trace_add(out, ta->name, ta->point, ta->step, ta->layer, LD_F32, ta->shape, ta->ndim, buf,
		                  ta->src, err);
		if (st == LD_OK)
			snprintf(out->t[out->n - 1].axes, sizeof out->t[0].axes, "%s", ta->axes);
	}
	free(buf);
	if (st != LD_OK)
		ld_trace_free(out);
	return st;
}
