/* synth.c - synthetic traces: every catalogue point, model-shaped, random.
 *
 * Not model math: the values are noise, except that scores carry the real
 * causal mask and probs are the softmax of the scores, so the pictures
 * look like attention. Used by the tests, by the frame-time benchmark (an
 * 8B-shaped trace) and to try the viewer without a model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewer.h"
#include "vw_sources.h"

int vw_synth_preset(struct vw_synth *o, const char *name)
{
	memset(o, 0, sizeof *o);
	o->seed = 42;
	o->nan_layer = -1;
	if (strcmp(name, "tiny") == 0) {
		*o = (struct vw_synth){2, 16, 4, 2, 4, 32, 64, 6, 2, 42, -1};
		return 0;
	}
	if (strcmp(name, "small") == 0) { /* the seed prompt's 17 tokens, 8 heads */
		*o = (struct vw_synth){2, 64, 8, 2, 16, 96, 300, 17, 1, 7, -1};
		return 0;
	}
	if (strcmp(name, "8b") == 0) {
		*o = (struct vw_synth){32, 4096, 32, 8, 128, 14336, 128256, 17, 0, 42, -1};
		return 0;
	}
	return -1;
}

/* The seed prompt as Llama 3 splits it, and a two-token answer. */
static const char *const words[] = {
	"<|begin_of_text|>", "the", " answer", " to", " the", " ultimate", " question", " of", " life",
	",", " the", " universe", ",", " and", " everything", " is", " ",
};
static const int32_t word_ids[] = {128000, 1820, 4320, 311, 279, 17139, 3488, 315, 2324,
                                   11,     279,  15861, 11, 323, 4395, 374,  220};
static const char *const answer[] = {"4", "2", ".", "\n"};

/* xorshift32, then roughly normal: the sum of four uniforms, centred. */
static float noise(unsigned *st)
{
	float sum = 0;
	for (int k = 0; k < 4; k++) {
		unsigned x = *st;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		*st = x;
		sum += (float)(x >> 8) / 16777216.0f;
	}
	return (sum - 2.0f) * 1.7f;
}

/* The line of core/forward.c that records point id, so the source pane of
 * a synthetic trace shows the real code. */
static int record_line(const char *id)
{
	char pat[64];
	struct vw_srcfile disk;
	const struct vw_srcfile *f = vw_source_embedded("core/forward.c");
	int line = 1, loaded = 0;
	if (!f && vw_source_load(&disk, "core/forward.c") == 0) {
		f = &disk;
		loaded = 1;
	}
	snprintf(pat, sizeof pat, strcmp(id, "TOKENS") == 0 ? "LD_PT_%s," : "RECORD(%s,", id);
	for (size_t i = 0; f && i < f->n_lines; i++)
		if (strstr(f->lines[i], pat)) {
			line = (int)i + 1;
			break;
		}
	if (loaded)
		vw_source_free(&disk);
	return line;
}

static const char *const point_ids[] = {
#define VW_X_ID(id, name, axes, op, doc) #id,
	LD_TRACE_POINTS(VW_X_ID)
#undef VW_X_ID
};

enum ld_status vw_synth_trace(struct ld_trace *tr, const struct vw_synth *o, struct ld_err *err)
{
	const size_t D = (size_t)o->dim, F = (size_t)o->ffn_dim, V = (size_t)o->vocab;
	const size_t H = (size_t)o->n_heads, KV = (size_t)o->n_kv_heads, hd = (size_t)o->head_dim;
	const size_t P = (size_t)o->n_tokens, NG = (size_t)o->n_steps;
	enum ld_status st = LD_OK;
	if (o->n_layers < 1 || !D || !F || !V || !H || !KV || !hd || !P || H % KV)
		return ld_fail(err, LD_ERR_USAGE, "synthetic trace: bad shape");
	ld_trace_init(tr);
	struct ld_config *c = &tr->cfg;
	c->dim = o->dim;
	c->ffn_dim = o->ffn_dim;
	c->n_layers = o->n_layers;
	c->n_heads = o->n_heads;
	c->n_kv_heads = o->n_kv_heads;
	c->head_dim = o->head_dim;
	c->vocab_size = o->vocab;
	c->max_pos = 8192;
	c->norm_eps = 1e-5;
	c->rope_theta = 500000;
	c->bos_id = 128000;
	c->eos_ids[0] = 128001;
	c->n_eos = 1;

	tr->prompt = strdup("synthetic trace: random values, real causal mask");
	tr->tokens = calloc(P, sizeof *tr->tokens);
	tr->generated = calloc(NG + 1, sizeof *tr->generated);
	tr->token_str = calloc(P + NG + 1, sizeof *tr->token_str);
	size_t most = P * (V > F ? V : F);
	if (most < H * P * (P + NG) + 1)
		most = H * P * (P + NG) + 1;
	float *buf = malloc(most * sizeof *buf);
	if (!tr->prompt || !tr->tokens || !tr->generated || !tr->token_str || !buf) {
		free(buf);
		ld_trace_free(tr);
		return ld_fail(err, LD_ERR_NOMEM, "synthetic trace: out of memory");
	}
	tr->n_tokens = P;
	tr->n_generated = NG;
	for (size_t i = 0; i < P + NG; i++) {
		const char *w = i < P ? words[i % (sizeof words / sizeof words[0])]
		                      : answer[(i - P) % (sizeof answer / sizeof answer[0])];
		tr->token_str[i] = strdup(w);
		if (i < P)
			tr->tokens[i] = word_ids[i % (sizeof word_ids / sizeof word_ids[0])];
		else
			tr->generated[i - P] = (int32_t)(19 + i - P);
	}

	int lines[LD_PT_COUNT];
	for (int p = 0; p < LD_PT_COUNT; p++)
		lines[p] = record_line(point_ids[p]);

	unsigned rng = o->seed ? o->seed : 1;
	for (size_t step = 0; step <= NG && st == LD_OK; step++) {
		const size_t T = step ? 1 : P, S = step ? P + step : P;
		/* forward order: the points before the layers, each layer's points,
		 * then the points after; "layer" -1 stands for outside the layers */
		for (int pass = 0; pass < o->n_layers + 2 && st == LD_OK; pass++)
		for (int p = 0; p < LD_PT_COUNT && st == LD_OK; p++) {
			int per_layer = strstr(ld_point_info((enum ld_point)p)->name, "{i}") != NULL;
			int before = p < LD_PT_ATTN_RMS;
			int l = per_layer ? pass - 1 : -1;
			if (per_layer ? (pass == 0 || pass == o->n_layers + 1)
			              : (before ? pass != 0 : pass != o->n_layers + 1))
				continue;
			if (p == LD_PT_ROPE_FREQS && step)
				continue; /* the RoPE speeds belong to the model, not to a step */
			if (p == LD_PT_SCORE)
				continue; /* a classifier's head, recorded instead of logits */
			if (ld_point_lens((enum ld_point)p) || ld_point_sweep((enum ld_point)p))
				continue; /* the logit lens and the ablation sweep, only on request */
			{
				size_t shape[3] = {T, 0, 0};
				int ndim = 2;
				enum ld_dtype dt = LD_F32;
				switch (p) {
				case LD_PT_TOKENS:
					ndim = 1;
					dt = LD_I32;
					break;
				case LD_PT_ROPE_FREQS:
					shape[0] = hd / 2;
					ndim = 1;
					break;
				case LD_PT_ATTN_RMS:
				case LD_PT_FFN_RMS:
				case LD_PT_FINAL_RMS:
					ndim = 1;
					break;
				case LD_PT_Q:
				case LD_PT_Q_ROPE:
				case LD_PT_ATTN:
					shape[1] = H, shape[2] = hd, ndim = 3;
					break;
				case LD_PT_K:
				case LD_PT_V:
				case LD_PT_K_ROPE:
					shape[1] = KV, shape[2] = hd, ndim = 3;
					break;
				case LD_PT_SCORES:
				case LD_PT_PROBS:
					shape[0] = H, shape[1] = T, shape[2] = S, ndim = 3;
					break;
				case LD_PT_FFN_GATE:
				case LD_PT_FFN_UP:
				case LD_PT_FFN_ACT:
					shape[1] = F;
					break;
				case LD_PT_LOGITS:
					shape[1] = V;
					break;
				default:
					shape[1] = D;
					break;
				}
				size_t n = 1;
				for (int d = 0; d < ndim; d++)
					n *= shape[d];
				if (p == LD_PT_TOKENS) {
					int32_t *ids = (int32_t *)buf;
					for (size_t t = 0; t < T; t++)
						ids[t] = step ? tr->generated[step - 1] : tr->tokens[t];
				} else if (p == LD_PT_ROPE_FREQS) {
					for (size_t j = 0; j < n; j++)
						buf[j] = (float)pow(500000.0, -2.0 * (double)j / (double)hd);
				} else if (p == LD_PT_PROBS) {
					/* softmax of the scores just recorded, row by row */
					const float *sc = tr->t[tr->n - 1].data;
					for (size_t r = 0; r < H * T; r++) {
						float m = -INFINITY, sum = 0;
						for (size_t k = 0; k < S; k++)
							m = sc[r * S + k] > m ? sc[r * S + k] : m;
						for (size_t k = 0; k < S; k++)
							sum += buf[r * S + k] = expf(sc[r * S + k] - m);
						for (size_t k = 0; k < S; k++)
							buf[r * S + k] /= sum;
					}
				} else {
					float scale = p == LD_PT_SCORES ? 1.5f : p == LD_PT_LOGITS ? 4.0f : 1.0f;
					for (size_t i = 0; i < n; i++)
						buf[i] = noise(&rng) * scale;
					if (p == LD_PT_ATTN_RMS || p == LD_PT_FFN_RMS || p == LD_PT_FINAL_RMS)
						for (size_t i = 0; i < n; i++)
							buf[i] = 0.5f + fabsf(buf[i]);
					if (p == LD_PT_SCORES) /* query t at position S-T+t sees keys 0..S-T+t */
						for (size_t h = 0; h < H; h++)
							for (size_t t = 0; t < T; t++)
								for (size_t k = S - T + t + 1; k < S; k++)
									buf[(h * T + t) * S + k] = -INFINITY;
					if (p == LD_PT_FFN_ACT && l == o->nan_layer && !step)
						buf[n > 7 ? 7 : 0] = NAN;
				}
				char name[96], src[64];
				ld_point_name(name, sizeof name, (enum ld_point)p, (int)step, l);
				snprintf(src, sizeof src, "core/forward.c:%d", lines[p]);
				st = ld_trace_add(tr, name, (enum ld_point)p, (int)step, l, dt, shape, ndim, buf, src, err);
			}
		}
	}
	free(buf);
	if (st != LD_OK)
		ld_trace_free(tr);
	return st;
}
