/* patch.c - patches and ablations: parsing, checking, applying. */
#include "patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_size.h"

int ld_point_patchable(enum ld_point p)
{
	switch (p) {
	case LD_PT_EMBED: case LD_PT_ATTN_NORM: case LD_PT_Q: case LD_PT_K: case LD_PT_V:
	case LD_PT_Q_ROPE: case LD_PT_K_ROPE: case LD_PT_SCORES: case LD_PT_PROBS: case LD_PT_ATTN:
	case LD_PT_ATTN_OUT: case LD_PT_RESID_MID: case LD_PT_FFN_NORM: case LD_PT_FFN_GATE:
	case LD_PT_FFN_UP: case LD_PT_FFN_ACT: case LD_PT_FFN_OUT: case LD_PT_RESID_OUT:
	case LD_PT_FINAL_NORM:
		return 1;
	default: /* token ids, RoPE speeds, norm scales (by-products), the outputs */
		return 0;
	}
}

void ld_patch_free(struct ld_patch *p)
{
	free(p->value);
	p->value = NULL;
}

/* A decimal index at *s (at most 9 digits); advances *s. -1 if none. */
static long index_at(const char **s)
{
	long v = 0;
	int n = 0;
	while (**s >= '0' && **s <= '9' && n < 9)
		v = v * 10 + (*(*s)++ - '0'), n++;
	return n && !(**s >= '0' && **s <= '9') ? v : -1;
}

enum ld_status ld_patch_parse(struct ld_patch *p, const char *spec, struct ld_err *err)
{
	memset(p, 0, sizeof *p);
	snprintf(p->source, sizeof p->source, "zeros");
	if (strlen(spec) >= sizeof p->spec)
		return ld_fail(err, LD_ERR_USAGE, "%.40s...: point name too long", spec);
	snprintf(p->spec, sizeof p->spec, "%s", spec);
	char name[128];
	size_t n = strcspn(spec, "[");
	snprintf(name, sizeof name, "%.*s", (int)n, spec);
	int step;
	if (ld_point_parse(name, &p->point, &step, &p->layer) != 0)
		return ld_fail(err, LD_ERR_USAGE, "%s: no such trace point (see the names `llamadbg ls` prints)",
		               name);
	if (step != 0)
		return ld_fail(err, LD_ERR_USAGE,
		               "%s: only the prompt pass can be patched (decode steps run from its result)", name);
	if (!ld_point_patchable(p->point))
		return ld_fail(err, LD_ERR_USAGE,
		               "%s: feeds no later computation, so there is nothing to patch (patchable: embed, "
		               "attn_norm, q, k, v, q_rope, k_rope, scores, probs, attn, attn_out, resid_mid, "
		               "ffn_norm, ffn_gate, ffn_up, ffn_act, ffn_out, resid_out, final_norm)",
		               name);
	if (!spec[n])
		return LD_OK;
	/* The slice: one entry per axis, each ':' or an index. */
	const char *s = spec + n + 1;
	for (;;) {
		if (p->n_sel == LD_MAX_DIMS)
			return ld_fail(err, LD_ERR_USAGE, "%s: too many axes in the slice", spec);
		if (*s == ':') {
			p->sel[p->n_sel++] = -1;
			s++;
		} else if ((p->sel[p->n_sel] = index_at(&s)) >= 0) {
			p->n_sel++;
		} else {
			return ld_fail(err, LD_ERR_USAGE,
			               "%s: a slice entry is ':' or an index (e.g. %s[:,5,:])", spec, name);
		}
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == ']' && s[1] == '\0')
			return LD_OK;
		return ld_fail(err, LD_ERR_USAGE, "%s: expected ',' or a final ']' in the slice", spec);
	}
}

enum ld_status ld_patch_parse_ablate(struct ld_patch *p, const char *what, struct ld_err *err)
{
	char spec[64];
	const char *s = what;
	long layer = -1, head = -1;
	if (strncmp(s, "layers.", 7) == 0) {
		s += 7;
		layer = index_at(&s);
	}
	if (layer >= 0 && strncmp(s, ".head.", 6) == 0) {
		s += 6;
		head = index_at(&s);
	}
	if (layer >= 0 && head >= 0 && *s == '\0') {
		/* A head's output is its hd columns of attn, which o_proj mixes. */
		snprintf(spec, sizeof spec, "layers.%ld.attn[:,%ld,:]", layer, head);
	} else if (layer >= 0 && head < 0 && strcmp(s, ".ffn") == 0) {
		snprintf(spec, sizeof spec, "layers.%ld.ffn_out", layer);
	} else {
		memset(p, 0, sizeof *p);
		return ld_fail(err, LD_ERR_USAGE,
		               "--ablate %s: expected layers.I.head.H (one head) or layers.I.ffn (one FFN)", what);
	}
	enum ld_status st = ld_patch_parse(p, spec, err);
	snprintf(p->source, sizeof p->source, "zeros (--ablate %.280s)", what);
	return st;
}

enum ld_status ld_patch_from_npy(struct ld_patch *p, struct ld_npy *a, const char *path,
                                 struct ld_err *err)
{
	if (!a->f32)
		return ld_fail(err, LD_ERR_DTYPE, "%s: the array is %s, but %s is float32", path,
		               ld_dtype_name(a->dtype), p->spec);
	free(p->value);
	p->value = a->f32;
	a->f32 = NULL;
	p->ndim = a->ndim;
	memcpy(p->shape, a->shape, sizeof p->shape);
	snprintf(p->source, sizeof p->source, "%s", path);
	return LD_OK;
}

/* The point's full shape in the prompt pass; its ndim. */
static int point_shape(enum ld_point pt, const struct ld_config *c, size_t T, size_t *shape)
{
	return ld_point_shape(pt, c, T, T, shape);
}

/* Is flat index i of a tensor of this shape inside the slice? */
static int in_slice(const struct ld_patch *p, const size_t *shape, int ndim, size_t i)
{
	if (p->n_sel == 0)
		return 1;
	for (int d = ndim - 1; d >= 0; d--) {
		size_t idx = i % shape[d];
		i /= shape[d];
		if (p->sel[d] >= 0 && (size_t)p->sel[d] != idx)
			return 0;
	}
	return 1;
}

/* Check the slice against a shape; fill the free axes' shape. */
static enum ld_status slice_shape(const struct ld_patch *p, const size_t *shape, int ndim,
                                  const char *axes, size_t *free_shape, int *free_ndim,
                                  struct ld_err *err)
{
	*free_ndim = 0;
	if (p->n_sel != 0 && p->n_sel != ndim)
		return ld_fail(err, LD_ERR_SHAPE, "%s: the slice has %d entries, the point has %d axes (%s)",
		               p->spec, p->n_sel, ndim, axes);
	for (int d = 0; d < ndim; d++) {
		if (p->n_sel && p->sel[d] >= 0) {
			if ((size_t)p->sel[d] >= shape[d])
				return ld_fail(err, LD_ERR_RANGE, "%s: index %ld on axis %d (%s) is outside 0..%zu",
				               p->spec, p->sel[d], d, axes, shape[d] ? shape[d] - 1 : 0);
			continue;
		}
		free_shape[(*free_ndim)++] = shape[d];
	}
	return LD_OK;
}

enum ld_status ld_patch_from_tensor(struct ld_patch *p, const struct ld_tensor *t, const char *what,
                                    struct ld_err *err)
{
	size_t fs[LD_MAX_DIMS];
	int fn;
	if (t->dtype != LD_F32)
		return ld_fail(err, LD_ERR_DTYPE, "%s is %s, not float32", what, ld_dtype_name(t->dtype));
	enum ld_status st = slice_shape(p, t->shape, t->ndim, t->axes, fs, &fn, err);
	if (st != LD_OK)
		return ld_fail_prefix(err, st, what);
	size_t n = 1;
	for (int d = 0; d < fn; d++)
		n *= fs[d];
	float *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", what);
	size_t k = 0, numel = ld_tensor_numel(t);
	for (size_t i = 0; i < numel; i++)
		if (in_slice(p, t->shape, t->ndim, i))
			memcpy(&v[k++], (const char *)t->data + 4 * i, 4);
	free(p->value);
	p->value = v;
	p->ndim = fn;
	memcpy(p->shape, fs, sizeof fs);
	snprintf(p->source, sizeof p->source, "%s", what);
	return LD_OK;
}

enum ld_status ld_patch_check(const struct ld_patch *p, const struct ld_config *c, size_t T,
                              struct ld_err *err)
{
	if (p->layer >= c->n_layers)
		return ld_fail(err, LD_ERR_RANGE, "%s: the model has %d layers (0..%d)", p->spec, c->n_layers,
		               c->n_layers - 1);
	size_t shape[LD_MAX_DIMS], fs[LD_MAX_DIMS];
	int ndim = point_shape(p->point, c, T, shape), fn;
	const char *axes = ld_point_info(p->point)->axes;
	enum ld_status st = slice_shape(p, shape, ndim, axes, fs, &fn, err);
	if (st != LD_OK || !p->value)
		return st;
	int same = fn == p->ndim;
	for (int d = 0; same && d < fn; d++)
		same = fs[d] == p->shape[d];
	if (!same) {
		char want[96], got[96];
		ld_npy_shape_str(fs, fn, want, sizeof want);
		ld_npy_shape_str(p->shape, p->ndim, got, sizeof got);
		return ld_fail(err, LD_ERR_SHAPE, "%s: shape %s does not fit %s, which is %s (%s) for this %zu-token prompt",
		               p->source, got, p->spec, want, axes, T);
	}
	return LD_OK;
}

int ld_patch_apply(const struct ld_patch *ps, size_t n, enum ld_point point, int layer, float *data,
                   const struct ld_config *c, size_t T)
{
	int applied = 0;
	for (size_t k = 0; k < n; k++) {
		const struct ld_patch *p = &ps[k];
		if (p->point != point || p->layer != layer)
			continue;
		size_t shape[LD_MAX_DIMS], numel = 1;
		int ndim = point_shape(point, c, T, shape);
		for (int d = 0; d < ndim; d++)
			numel *= shape[d];
		size_t j = 0;
		for (size_t i = 0; i < numel; i++)
			if (in_slice(p, shape, ndim, i))
				data[i] = p->value ? p->value[j++] : 0.0f;
		applied++;
	}
	return applied;
}

void ld_patch_describe(const struct ld_patch *p, char *buf, size_t size)
{
	snprintf(buf, size, "%s = %s", p->spec, p->source);
}
