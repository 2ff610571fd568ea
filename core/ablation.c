/* ablation.c - the ablation sweep: one pass per zeroed head or FFN. */
#include "ablation.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch.h"

/* One pass of the prompt with the run's patches plus `extra` (NULL: none),
 * recording only the logits; the last position's probabilities of every
 * token into probs (vocab floats), via a softmax in double. */
static enum ld_status last_probs(const struct ld_model *m, const int32_t *ids, size_t n,
                                 const struct ld_forward_opts *o, const struct ld_patch *extra,
                                 double *probs, struct ld_err *err)
{
	size_t n_patches = (o ? o->n_patches : 0) + (extra != NULL);
	struct ld_patch *ps = calloc(n_patches ? n_patches : 1, sizeof *ps);
	if (!ps)
		return ld_fail(err, LD_ERR_NOMEM, "ablation sweep: out of memory");
	if (o && o->n_patches)
		memcpy(ps, o->patches, o->n_patches * sizeof *ps); /* read only: shared values */
	if (extra)
		ps[n_patches - 1] = *extra;
	static const char *const logits_only[] = {"logits"};
	struct ld_forward_opts fo = {.only = logits_only, .n_only = 1, .patches = ps, .n_patches = n_patches};
	struct ld_trace tr;
	ld_trace_init(&tr);
	enum ld_status st = ld_forward(m, ids, n, &fo, &tr, err);
	free(ps);
	long k = st == LD_OK ? ld_trace_find(&tr, "logits") : -1;
	if (st == LD_OK && k < 0)
		st = ld_fail(err, LD_ERR_USAGE, "ablation sweep: the model has no logits (a classifier)");
	if (st == LD_OK) {
		const struct ld_tensor *t = &tr.t[k];
		size_t V = t->shape[1];
		const float *row = (const float *)t->data + (t->shape[0] - 1) * V;
		double mx = -INFINITY, sum = 0;
		for (size_t v = 0; v < V; v++)
			mx = row[v] > mx ? row[v] : mx;
		for (size_t v = 0; v < V; v++)
			sum += probs[v] = exp((double)row[v] - mx);
		for (size_t v = 0; v < V; v++)
			probs[v] /= sum;
	}
	ld_trace_free(&tr);
	return st;
}

enum ld_status ld_ablation_sweep(const struct ld_model *m, const int32_t *ids, size_t n,
                                 const struct ld_forward_opts *o, struct ld_trace *tr, int32_t *answer,
                                 struct ld_err *err)
{
	const int L = m->cfg.n_layers, H = m->cfg.n_heads;
	const size_t V = (size_t)m->cfg.vocab_size;
	double *probs = malloc((V ? V : 1) * sizeof *probs);
	float *heads_p = malloc((size_t)L * (size_t)H * sizeof *heads_p);
	float *ffn_p = malloc((size_t)L * sizeof *ffn_p);
	enum ld_status st = LD_OK;
	if (!probs || !heads_p || !ffn_p) {
		st = ld_fail(err, LD_ERR_NOMEM, "ablation sweep: out of memory");
		goto out;
	}
	/* The answer: the run's own greedy next token. */
	if ((st = last_probs(m, ids, n, o, NULL, probs, err)) != LD_OK)
		goto out;
	size_t best = 0;
	for (size_t v = 1; v < V; v++)
		if (probs[v] > probs[best])
			best = v;

	/* Every head of every layer zeroed in turn, then every FFN. */
	for (int i = 0; i < L && st == LD_OK; i++) {
		for (int h = 0; h <= H && st == LD_OK; h++) {
			char what[64];
			if (h < H)
				snprintf(what, sizeof what, "layers.%d.head.%d", i, h);
			else
				snprintf(what, sizeof what, "layers.%d.ffn", i);
			struct ld_patch zero;
			if ((st = ld_patch_parse_ablate(&zero, what, err)) != LD_OK)
				break;
			st = last_probs(m, ids, n, o, &zero, probs, err);
			ld_patch_free(&zero);
			if (st != LD_OK)
				break;
			if (h < H)
				heads_p[(size_t)i * (size_t)H + (size_t)h] = (float)probs[best];
			else
				ffn_p[i] = (float)probs[best];
		}
	}
	if (st != LD_OK)
		goto out;
	char src[64];
	snprintf(src, sizeof src, "core/ablation.c:%d", __LINE__);
	st = ld_trace_add(tr, "ablation.heads_p", LD_PT_ABLATION_HEADS, 0, -1, LD_F32,
	                  (const size_t[]){(size_t)L, (size_t)H}, 2, heads_p, src, err);
	snprintf(src, sizeof src, "core/ablation.c:%d", __LINE__);
	if (st == LD_OK)
		st = ld_trace_add(tr, "ablation.ffn_p", LD_PT_ABLATION_FFN, 0, -1, LD_F32,
		                  (const size_t[]){(size_t)L}, 1, ffn_p, src, err);
	if (st == LD_OK && answer)
		*answer = (int32_t)best;
out:
	free(probs);
	free(heads_p);
	free(ffn_p);
	return st;
}
