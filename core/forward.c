/* forward.c - the LLaMA 3 forward pass, as a textbook.
 *
 * Read this file top to bottom: it is the whole model. Every intermediate
 * tensor is handed to RECORD() right after it is computed, under the name
 * the catalogue (trace_points.h) gives it; the recorder copies it into the
 * trace if the user asked for it. Just before, PATCH() lets a patch the
 * user asked for (patch.h: trace --patch, --ablate) replace it.
 *
 * Shapes: T tokens in this pass, starting at position start_pos; S =
 * start_pos + T positions visible to the last token; D model dim; H query
 * heads, KV key/value heads, hd head dim; F feed-forward dim; V vocabulary.
 * Activations are f32 and row-major: x[t*D + d] is dimension d of token t.
 */
#include "forward.h"

#include <fnmatch.h>
#include <stdio.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "ops.h"
#include "util.h"

enum { N_RUN_BUFS = 18 }; /* the float buffers of a run (run_alloc) */

/* Everything one generation needs: the model, the KV cache, scratch. */
struct run {
	const struct ld_model *m;
	const struct ld_forward_opts *opts;
	struct ld_trace *tr;
	int step;            /* 0 = the prompt pass, s = decode step s */
	enum ld_status st;   /* first recording failure (out of memory) */
	struct ld_err *err;

	size_t max_T;        /* most tokens in one pass (the prompt) */
	size_t max_S;        /* positions the cache holds: prompt + generated */
	double *inv_freq;    /* (hd/2) RoPE speeds */
	float *inv_freq_f32; /* (hd/2) the same, as recorded */
	float *k_cache;      /* (n_layers, max_S, KV*hd) keys after RoPE */
	float *v_cache;      /* (n_layers, max_S, KV*hd) values */

	/* scratch, sized for max_T tokens */
	float *x;            /* (T, D) the residual stream */
	float *h;            /* (T, D) normed input of a sub-layer */
	float *rms;          /* (T) RMSNorm scales */
	float *q, *q_rope;   /* (T, H*hd) */
	float *k, *v;        /* (T, KV*hd) */
	float *k_rope;       /* (T, KV*hd) */
	float *scores;       /* (H, T, max_S) */
	float *probs;        /* (H, T, max_S) */
	float *attn;         /* (T, H*hd) */
	float *proj;         /* (T, D) attn_out / ffn_out */
	float *gate, *up, *act; /* (T, F) */
	float *logits;       /* (T, V), or (T, n_labels) for a classifier */
	int32_t *lens_ids;   /* (T, K) the logit lens, if asked for */
	float *lens_probs;   /* (T, K) */
	struct run_buf {     /* the buffers above, from k_cache to logits, and their floats */
		float **p;
		size_t n;
	} bufs[N_RUN_BUFS];
};

int ld_forward_wants(const struct ld_forward_opts *opts, const char *name)
{
	if (!opts || opts->n_only == 0)
		return 1;
	for (size_t i = 0; i < opts->n_only; i++)
		if (fnmatch(opts->only[i], name, 0) == 0)
			return 1;
	return 0;
}

/* Is point p of this step and layer asked for? */
static int wants_point(const struct run *r, enum ld_point p, int layer)
{
	char name[96];
	ld_point_name(name, sizeof name, p, r->step, layer);
	return ld_forward_wants(r->opts, name);
}

/* Copy a tensor into the trace if it was asked for. */
static void record(struct run *r, enum ld_point p, int layer, const void *data, enum ld_dtype dtype,
                   int line, const size_t *shape, int ndim)
{
	if (r->st != LD_OK || !wants_point(r, p, layer))
		return;
	char name[96], src[64];
	ld_point_name(name, sizeof name, p, r->step, layer);
	snprintf(src, sizeof src, "core/forward.c:%d", line);
	r->st = ld_trace_add(r->tr, name, p, r->step, layer, dtype, shape, ndim, data, src, r->err);
}

/* RECORD(point, layer, data, dims...): record a float32 tensor here. */
#define RECORD(p, layer, data, ...)                                                           \
	record(r, LD_PT_##p, layer, data, LD_F32, __LINE__, (const size_t[]){__VA_ARGS__},       \
	       (int)(sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t)))

/* PATCH(point, layer, data): a patch the user asked for (--patch, --ablate)
 * replaces the tensor just computed, before it is recorded and used. Only
 * the prompt pass is patched; decode steps run on from its result. */
#define PATCHED(p, layer, data)                                                              \
	(r->step == 0 && r->opts->n_patches &&                                                   \
	 ld_patch_apply(r->opts->patches, r->opts->n_patches, LD_PT_##p, layer, data, c, T) > 0)
#define PATCH(p, layer, data) ((void)PATCHED(p, layer, data))

/* The final RMSNorm of T rows of a residual stream, into h (and rms). */
static void final_norm(struct run *r, const float *x, size_t T)
{
	const struct ld_config *c = &r->m->cfg;
	const size_t D = (size_t)c->dim;
	for (size_t t = 0; t < T; t++)
		r->rms[t] = ld_rmsnorm(r->h + t * D, x + t * D, r->m->norm, D, c->norm_eps);
}

/* The logit lens: what would the model predict if it ended here? The
 * residual stream x goes through the model's own head (final_norm, then the
 * output projection, the very calls that make the logits), and each token
 * keeps its K best guesses. After the last layer this is the logits' top K.
 * Uses h, rms and logits as scratch: the layer recomputes h and rms next,
 * and the final logits are computed after the last layer. */
static void logit_lens(struct run *r, enum ld_point ids_pt, enum ld_point probs_pt, int layer,
                       const float *x, size_t T, int line)
{
	const int K = r->opts->lens_k;
	const size_t V = (size_t)r->m->cfg.vocab_size;
	char ids_name[96], probs_name[96];
	ld_point_name(ids_name, sizeof ids_name, ids_pt, r->step, layer);
	ld_point_name(probs_name, sizeof probs_name, probs_pt, r->step, layer);
	if (r->st != LD_OK ||
	    (!ld_forward_wants(r->opts, ids_name) && !ld_forward_wants(r->opts, probs_name)))
		return;
	final_norm(r, x, T);
	ld_matmul(r->logits, r->h, &r->m->output, T);
	#pragma omp parallel for schedule(static) if (T * V > 65536)
	for (size_t t = 0; t < T; t++)
		ld_topk_softmax(r->lens_ids + t * K, r->lens_probs + t * K, r->logits + t * V, V, K);
	const size_t shape[2] = {T, (size_t)K};
	record(r, ids_pt, layer, r->lens_ids, LD_I32, line, shape, 2);
	record(r, probs_pt, layer, r->lens_probs, LD_F32, line, shape, 2);
}

/* One pass of T tokens at positions start_pos .. start_pos+T-1. Keys and
 * values of earlier positions come from the cache; this pass's are added. */
static void forward_pass(struct run *r, const int32_t *tokens, size_t T, size_t start_pos)
{
	const struct ld_model *m = r->m;
	const struct ld_config *c = &m->cfg;
	const size_t D = (size_t)c->dim, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size;
	const int H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim;
	const size_t q_dim = (size_t)H * hd, kv_dim = (size_t)KV * hd;
	const size_t S = start_pos + T;        /* positions the last query can see */
	const float scale = 1.0f / sqrtf((float)hd);

	record(r, LD_PT_TOKENS, -1, tokens, LD_I32, __LINE__, (const size_t[]){T}, 1);
	if (r->step == 0) /* the RoPE speeds belong to the model, not to a step */
		RECORD(ROPE_FREQS, -1, r->inv_freq_f32, (size_t)hd / 2);

	/* Embedding: each token id selects one row of the table. */
	for (size_t t = 0; t < T; t++)
		ld_weight_row(r->x + t * D, &m->tok_embeddings, (size_t)tokens[t]);
	PATCH(EMBED, -1, r->x);
	RECORD(EMBED, -1, r->x, T, D);

	for (int l = 0; l < c->n_layers; l++) {
		const struct ld_layer *L = &m->layers[l];
		float *k_cache = r->k_cache + (size_t)l * r->max_S * kv_dim;
		float *v_cache = r->v_cache + (size_t)l * r->max_S * kv_dim;

		/* Attention RMSNorm: normalise each token's row, then apply the gain. */
		for (size_t t = 0; t < T; t++)
			r->rms[t] = ld_rmsnorm(r->h + t * D, r->x + t * D, L->attn_norm, D, c->norm_eps);
		RECORD(ATTN_RMS, l, r->rms, T);
		PATCH(ATTN_NORM, l, r->h);
		RECORD(ATTN_NORM, l, r->h, T, D);

		/* Queries, keys, values: three projections of the same normed input.
		 * K and V have only KV heads; each is shared by H/KV query heads. */
		ld_matmul(r->q, r->h, &L->wq, T);
		ld_matmul(r->k, r->h, &L->wk, T);
		ld_matmul(r->v, r->h, &L->wv, T);
		PATCH(Q, l, r->q);
		RECORD(Q, l, r->q, T, H, hd);
		PATCH(K, l, r->k);
		RECORD(K, l, r->k, T, KV, hd);
		PATCH(V, l, r->v);
		RECORD(V, l, r->v, T, KV, hd);

		/* RoPE: rotate each (2j, 2j+1) pair of q and k by an angle that grows
		 * with the position, so q.k depends on how far apart two tokens are. */
		memcpy(r->q_rope, r->q, T * q_dim * sizeof(float));
		memcpy(r->k_rope, r->k, T * kv_dim * sizeof(float));
		for (size_t t = 0; t < T; t++) {
			ld_rope(r->q_rope + t * q_dim, H, hd, start_pos + t, r->inv_freq);
			ld_rope(r->k_rope + t * kv_dim, KV, hd, start_pos + t, r->inv_freq);
		}
		PATCH(Q_ROPE, l, r->q_rope);
		RECORD(Q_ROPE, l, r->q_rope, T, H, hd);
		PATCH(K_ROPE, l, r->k_rope);
		RECORD(K_ROPE, l, r->k_rope, T, KV, hd);

		/* The KV cache: this pass's keys and values join the earlier ones,
		 * so a decode step computes only its own token's k and v. */
		memcpy(k_cache + start_pos * kv_dim, r->k_rope, T * kv_dim * sizeof(float));
		memcpy(v_cache + start_pos * kv_dim, r->v, T * kv_dim * sizeof(float));

		/* Scores: how well query t matches key s, scaled by 1/sqrt(hd) so the
		 * softmax does not saturate. The causal mask: a token may not look at
		 * later positions, so those scores are -inf (weight 0 after softmax).
		 * Softmax over the keys turns scores into weights that sum to 1; the
		 * head's output is the weighted sum of the values. Attention is the
		 * only step that mixes information across tokens (core/attention.c:
		 * for each head h, query t and key s <= start_pos + t,
		 *     scores[h][t][s] = q[t][h] . k[s][g] * scale, g = ld_kv_head(h)
		 *     probs[h][t]     = softmax(scores[h][t])
		 *     attn[t][h]      = sum over s of probs[h][t][s] * v[s][g]). */
		ld_attention(r->scores, r->probs, r->attn, r->q_rope, k_cache, v_cache, T, start_pos, H,
		             KV, hd, scale);
		/* A patched score or weight: what follows it is computed again from it. */
		if (PATCHED(SCORES, l, r->scores))
			ld_attention_from_scores(r->probs, r->attn, r->scores, v_cache, T, start_pos, H, KV, hd);
		RECORD(SCORES, l, r->scores, (size_t)H, T, S);
		if (PATCHED(PROBS, l, r->probs))
			ld_attention_from_probs(r->attn, r->probs, v_cache, T, start_pos, H, KV, hd);
		RECORD(PROBS, l, r->probs, (size_t)H, T, S);
		PATCH(ATTN, l, r->attn);
		RECORD(ATTN, l, r->attn, T, H, hd);

		/* Output projection: the heads, concatenated, mixed back into D dims. */
		ld_matmul(r->proj, r->attn, &L->wo, T);
		PATCH(ATTN_OUT, l, r->proj);
		RECORD(ATTN_OUT, l, r->proj, T, D);

		/* Residual: attention adds to the stream; it never replaces it. */
		for (size_t i = 0; i < T * D; i++)
			r->x[i] += r->proj[i];
		PATCH(RESID_MID, l, r->x);
		RECORD(RESID_MID, l, r->x, T, D);
		if (r->opts->lens_mid)
			logit_lens(r, LD_PT_LENS_MID_IDS, LD_PT_LENS_MID_PROBS, l, r->x, T, __LINE__);

		/* FFN RMSNorm. */
		for (size_t t = 0; t < T; t++)
			r->rms[t] = ld_rmsnorm(r->h + t * D, r->x + t * D, L->ffn_norm, D, c->norm_eps);
		RECORD(FFN_RMS, l, r->rms, T);
		PATCH(FFN_NORM, l, r->h);
		RECORD(FFN_NORM, l, r->h, T, D);

		/* SwiGLU feed-forward: silu(h w1) gates (h w3), element by element,
		 * then w2 brings the F-wide result back to D. Each token alone. */
		ld_matmul(r->gate, r->h, &L->w1, T);
		ld_matmul(r->up, r->h, &L->w3, T);
		PATCH(FFN_GATE, l, r->gate);
		RECORD(FFN_GATE, l, r->gate, T, F);
		PATCH(FFN_UP, l, r->up);
		RECORD(FFN_UP, l, r->up, T, F);
		#pragma omp parallel for schedule(static) if (T * F > 65536)
		for (size_t i = 0; i < T * F; i++)
			r->act[i] = ld_silu(r->gate[i]) * r->up[i];
		PATCH(FFN_ACT, l, r->act);
		RECORD(FFN_ACT, l, r->act, T, F);
		ld_matmul(r->proj, r->act, &L->w2, T);
		PATCH(FFN_OUT, l, r->proj);
		RECORD(FFN_OUT, l, r->proj, T, D);

		/* Residual again: the layer's output is the next layer's input. */
		for (size_t i = 0; i < T * D; i++)
			r->x[i] += r->proj[i];
		PATCH(RESID_OUT, l, r->x);
		RECORD(RESID_OUT, l, r->x, T, D);
		if (r->opts->lens_k)
			logit_lens(r, LD_PT_LENS_IDS, LD_PT_LENS_PROBS, l, r->x, T, __LINE__);
	}

	/* Final RMSNorm, then the output layer scores every vocabulary entry. */
	final_norm(r, r->x, T);
	RECORD(FINAL_RMS, -1, r->rms, T);
	PATCH(FINAL_NORM, -1, r->h);
	RECORD(FINAL_NORM, -1, r->h, T, D);
	/* Only the rows someone will read: every position's when the trace
	 * records them, else the last one's, which picks the next token (at
	 * 512 tokens of the 1B shape the other 511 rows are an eighth of the
	 * pass). */
	const size_t n_out = c->n_labels ? (size_t)c->n_labels : V;
	const size_t rows = wants_point(r, c->n_labels ? LD_PT_SCORE : LD_PT_LOGITS, -1) ? T : 1;
	float *out = r->logits + (T - rows) * n_out;
	const float *in = r->h + (T - rows) * D;
	if (c->n_labels == 0) {
		ld_matmul(out, in, &m->output, rows);
		RECORD(LOGITS, -1, r->logits, T, V);
	} else {
		/* A sequence classifier scores labels instead of next tokens; the
		 * last token, the only one that has seen the whole text, decides. */
		ld_matmul(out, in, &m->score, rows);
		RECORD(SCORE, -1, r->logits, T, (size_t)c->n_labels);
	}
}

/* Greedy decoding: the highest logit wins (the first one on a tie; NaN never). */
static int32_t argmax(const float *x, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best] || (isnan(x[best]) && !isnan(x[i])))
			best = i;
	return (int32_t)best;
}

static int is_eos(const struct ld_config *c, int32_t id)
{
	for (int i = 0; i < c->n_eos; i++)
		if (c->eos_ids[i] == id)
			return 1;
	return 0;
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < N_RUN_BUFS; i++) {
		if (!r->bufs[i].p)
			continue; /* run_alloc never got this far */
		ld_pool_give(*r->bufs[i].p, r->bufs[i].n * sizeof(float));
		*r->bufs[i].p = NULL;
	}
	free(r->lens_ids);
	free(r->lens_probs);
	r->lens_ids = NULL;
	r->lens_probs = NULL;
	free(r->inv_freq);
	free(r->inv_freq_f32);
	r->inv_freq = NULL;
	r->inv_freq_f32 = NULL;
}

static int run_alloc(struct run *r)
{
	const struct ld_config *c = &r->m->cfg;
	const size_t T = r->max_T, S = r->max_S, D = (size_t)c->dim, F = (size_t)c->ffn_dim;
	const size_t q_dim = (size_t)c->n_heads * c->head_dim, kv_dim = (size_t)c->n_kv_heads * c->head_dim;
	const size_t cache = (size_t)c->n_layers * S * kv_dim;
	const size_t n_out = c->n_labels > 0 ? (size_t)c->n_labels : (size_t)c->vocab_size; /* per token */
	const struct run_buf bufs[N_RUN_BUFS] = {
		{&r->k_cache, cache}, {&r->v_cache, cache}, {&r->x, T * D}, {&r->h, T * D},
		{&r->rms, T}, {&r->q, T * q_dim}, {&r->q_rope, T * q_dim}, {&r->k, T * kv_dim},
		{&r->v, T * kv_dim}, {&r->k_rope, T * kv_dim}, {&r->scores, (size_t)c->n_heads * T * S},
		{&r->probs, (size_t)c->n_heads * T * S}, {&r->attn, T * q_dim}, {&r->proj, T * D},
		{&r->gate, T * F}, {&r->up, T * F}, {&r->act, T * F},
		{&r->logits, T * n_out},
	};
	/* Zeroed, from the pool (util.h): a process's later passes reuse the
	 * pages of its earlier ones' buffers (0.7 GB at 512 tokens of the 1B
	 * shape) instead of taking fresh ones. */
	memcpy(r->bufs, bufs, sizeof bufs);
	for (size_t i = 0; i < N_RUN_BUFS; i++)
		if (bufs[i].n > SIZE_MAX / sizeof(float) ||
		    !(*bufs[i].p = ld_pool_take(bufs[i].n * sizeof(float), 1)))
			return -1;
	if (r->opts->lens_k > 0) {
		const size_t n = T * (size_t)r->opts->lens_k;
		if (!(r->lens_ids = calloc(n, sizeof *r->lens_ids)) ||
		    !(r->lens_probs = calloc(n, sizeof *r->lens_probs)))
			return -1;
	}
	r->inv_freq = calloc((size_t)c->head_dim / 2, sizeof(double));
	r->inv_freq_f32 = calloc((size_t)c->head_dim / 2, sizeof(float));
	return r->inv_freq && r->inv_freq_f32 ? 0 : -1;
}

enum ld_status ld_forward(const struct ld_model *m, const int32_t *tokens, size_t n_tokens,
                          const struct ld_forward_opts *opts, struct ld_trace *tr,
                          struct ld_err *err)
{
	static const struct ld_forward_opts defaults = {0};
	const struct ld_config *c = &m->cfg;
	struct run r = {.m = m, .opts = opts ? opts : &defaults, .tr = tr, .err = err, .st = LD_OK};
	int n_gen = r.opts->n_generate;

	/* Check the request against the model before allocating anything. */
	if (n_tokens == 0)
		return ld_fail(err, LD_ERR_USAGE, "the prompt is empty: nothing to run");
	if (n_gen < 0)
		return ld_fail(err, LD_ERR_USAGE, "cannot generate %d tokens", n_gen);
	if (n_gen > 0 && c->n_labels > 0)
		return ld_fail(err, LD_ERR_USAGE,
		               "a sequence classifier (LlamaForSequenceClassification, %d labels) scores the "
		               "prompt and has no next token: it cannot generate",
		               c->n_labels);
	if (r.opts->lens_k < 0 || r.opts->lens_k > c->vocab_size)
		return ld_fail(err, LD_ERR_USAGE, "the logit lens keeps 1 to %d guesses (the vocabulary), not %d",
		               c->vocab_size, r.opts->lens_k);
	if (r.opts->lens_mid && r.opts->lens_k == 0)
		return ld_fail(err, LD_ERR_USAGE, "the logit lens after attention (lens_mid) needs lens_k > 0");
	if (r.opts->lens_k > 0 && c->n_labels > 0)
		return ld_fail(err, LD_ERR_USAGE,
		               "a sequence classifier has no output layer over the vocabulary: no logit lens");
	if (m->inspect_only)
		return ld_fail(err, LD_ERR_USAGE, "%s was opened to be described (ld_model_inspect), not run",
		               m->dir);
	for (size_t i = 0; i < r.opts->n_patches; i++) {
		enum ld_status st = ld_patch_check(&r.opts->patches[i], c, n_tokens, err);
		if (st != LD_OK)
			return st;
	}
	for (size_t t = 0; t < n_tokens; t++)
		if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
			return ld_fail(err, LD_ERR_RANGE,
			               "token id %d at position %zu is outside the vocabulary (vocab_size %d)",
			               (int)tokens[t], t, c->vocab_size);
	/* Every generated token but the last is fed back at the next position. */
	size_t positions = n_tokens + (n_gen > 1 ? (size_t)n_gen - 1 : 0);
	if (positions > (size_t)c->max_pos)
		return ld_fail(err, LD_ERR_RANGE,
		               "%zu prompt tokens + %d to generate need %zu positions, more than "
		               "max_position_embeddings %d",
		               n_tokens, n_gen, positions, c->max_pos);

	r.max_T = n_tokens;
	r.max_S = positions;
	if (run_alloc(&r) != 0) {
		run_free(&r);
		return ld_fail(err, LD_ERR_NOMEM, "out of memory for %zu positions", positions);
	}

	/* The trace remembers what made it. */
	tr->cfg = *c;
	free(tr->tokens);
	free(tr->generated);
	tr->tokens = malloc(n_tokens * sizeof *tr->tokens);
	tr->generated = calloc((size_t)n_gen + 1, sizeof *tr->generated);
	tr->n_tokens = tr->n_generated = 0;
	if (!tr->tokens || !tr->generated || ld_trace_note_weights(tr, m) != 0) {
		run_free(&r);
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	}
	memcpy(tr->tokens, tokens, n_tokens * sizeof *tokens);
	tr->n_tokens = n_tokens;
	snprintf(tr->kernel, sizeof tr->kernel, "%s", ld_kernel_name(ld_matmul_kernel()));
	for (size_t i = 0; i < r.opts->n_patches; i++) {
		char what[512];
		ld_patch_describe(&r.opts->patches[i], what, sizeof what);
		if (ld_trace_add_patch(tr, what) != 0) {
			run_free(&r);
			return ld_fail(err, LD_ERR_NOMEM, "out of memory");
		}
	}

	/* RoPE speeds depend only on the config: computed once. */
	ld_rope_freqs(r.inv_freq, c->head_dim, c->rope_theta, &c->rope_scaling);
	for (int j = 0; j < c->head_dim / 2; j++)
		r.inv_freq_f32[j] = (float)r.inv_freq[j];

	/* The prompt: all tokens in one pass. */
	forward_pass(&r, tokens, n_tokens, 0);

	/* Generation: the argmax of the last position's logits is the next
	 * token; feed it back at the next position, reusing the cache. */
	const size_t V = (size_t)c->vocab_size;
	int32_t next = n_gen > 0 ? argmax(r.logits + (n_tokens - 1) * V, V) : 0;
	for (int s = 1; n_gen > 0 && r.st == LD_OK; s++) {
		tr->generated[tr->n_generated++] = next;
		if ((int)tr->n_generated == n_gen || is_eos(c, next))
			break;
		r.step = s;
		forward_pass(&r, &next, 1, n_tokens + (size_t)s - 1);
		next = argmax(r.logits, V);
	}
	enum ld_status st = r.st;
	run_free(&r);
	return st;
}
