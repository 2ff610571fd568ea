/* model_gguf.c - open a LLaMA model from one GGUF file (llama.cpp, Ollama,
 * LM Studio), quantized or not, in place.
 *
 * The config is in the metadata under the architecture's name:
 *
 *   llama.embedding_length          hidden_size (dim)
 *   llama.feed_forward_length       intermediate_size
 *   llama.block_count               num_hidden_layers
 *   llama.attention.head_count      num_attention_heads
 *   llama.attention.head_count_kv   num_key_value_heads (default: head_count)
 *   llama.attention.key_length      head_dim (default: dim / head_count)
 *   llama.context_length            max_position_embeddings (default 8192)
 *   llama.rope.freq_base            rope_theta (default 10000, GGUF's)
 *   llama.attention.layer_norm_rms_epsilon   rms_norm_eps (default 1e-5)
 *   llama.vocab_size                vocab_size (default: token_embd's rows)
 *
 * Llama 3.1's RoPE scaling comes as a table: llama.cpp's converter writes
 * the llama3 rule's divisor for every RoPE pair into `rope_freqs.weight`
 * (1 for the fast pairs, the factor for the slow ones, a blend between)
 * and no scaling keys. The table is used as it is (config n_factors). When
 * the file also states the rule (llama.rope.scaling.type "llama3" with its
 * factor and original context) and the table is that rule, to float32
 * precision, the rule is used: the same numbers as a Hugging Face config
 * of the model, so both give the same trace bit for bit.
 *
 * Tensor names are llama.cpp's (see below). The q and k rows are in Meta's
 * order, each RoPE pair on adjacent rows (the converter undoes Hugging
 * Face's permutation), which is the order this engine uses: no row map.
 * Dimensions are listed fastest first, so a [rows, cols] matrix has
 * ne = {cols, rows}. Matrices stay in their stored type, quantized ones
 * too: the matmul dequantizes a block at a time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "ops.h"
#include "util.h"

#define MAX_DIM (1 << 20)

/* A float32 metadata value stands for a decimal its writer chose: 1e-5 is
 * stored as 9.99999974738e-06. Take the shortest decimal that rounds to
 * the same float32, as a Hugging Face config would state it. */
static double f32_meant(double x)
{
	float f = (float)x;
	if ((double)f != x || !isfinite(x))
		return x; /* stored as f64, or not a plain number: as it is */
	char buf[40];
	for (int prec = 1; prec <= 9; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, x);
		double d = strtod(buf, NULL);
		if ((float)d == f)
			return d;
	}
	return x;
}

static enum ld_status get_int_or(const struct ld_gguf *g, const char *key, int64_t lo, int64_t hi,
                                 int64_t dflt, int *out, struct ld_err *err)
{
	int64_t v = dflt;
	if (ld_gguf_find_kv(g, key)) {
		enum ld_status st = ld_gguf_get_int(g, key, lo, hi, &v, err);
		if (st != LD_OK)
			return st;
	}
	*out = (int)v;
	return LD_OK;
}

static enum ld_status get_num_or(const struct ld_gguf *g, const char *key, double lo, double hi,
                                 double dflt, double *out, struct ld_err *err)
{
	double v = dflt;
	if (ld_gguf_find_kv(g, key)) {
		enum ld_status st = ld_gguf_get_num(g, key, &v, err);
		if (st != LD_OK)
			return st;
		v = f32_meant(v);
		if (!(v >= lo && v <= hi))
			return ld_fail(err, LD_ERR_RANGE, "%s: key `%s` = %g is out of range (%g..%g)", g->path, key, v,
			               lo, hi);
	}
	*out = v;
	return LD_OK;
}

static int str_is(struct ld_gguf_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* Find a tensor and check its shape: rows x cols (cols 0: a vector of rows). */
static enum ld_status find(const struct ld_model *m, const char *name, size_t rows, size_t cols,
                           const struct ld_gguf_tensor **out, struct ld_err *err)
{
	const struct ld_gguf *g = m->gguf;
	const struct ld_gguf_tensor *t = ld_gguf_find_tensor(g, name);
	if (!t)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing tensor %s", g->path, name);
	int ok = cols ? t->ndim == 2 && t->ne[0] == cols && t->ne[1] == rows
	              : t->ndim == 1 && t->ne[0] == rows;
	if (!ok) {
		char got[96];
		if (t->ndim == 1)
			snprintf(got, sizeof got, "[%llu]", (unsigned long long)t->ne[0]);
		else
			snprintf(got, sizeof got, "[%llu, %llu%s]", (unsigned long long)t->ne[t->ndim - 1],
			         (unsigned long long)t->ne[t->ndim - 2], t->ndim > 2 ? ", ..." : "");
		if (cols)
			return ld_fail(err, LD_ERR_SHAPE, "%s: %s has shape %s (rows, columns), the metadata says [%zu, %zu]",
			               g->path, name, got, rows, cols);
		return ld_fail(err, LD_ERR_SHAPE, "%s: %s has shape %s, the metadata says [%zu]", g->path, name, got,
		               rows);
	}
	*out = t;
	return LD_OK;
}

static enum ld_status get_weight(struct ld_model *m, const char *name, size_t rows, size_t cols,
                                 struct ld_weight *w, struct ld_err *err)
{
	const struct ld_gguf_tensor *t = NULL;
	enum ld_status st = find(m, name, rows, cols, &t, err);
	if (st != LD_OK)
		return st;
	if (!m->inspect_only && !ld_matmul_reads(t->dtype))
		return ld_fail(err, LD_ERR_DTYPE, "%s: %s is stored as %s, which the matmul does not read", m->gguf->path,
		               name, ld_dtype_name(t->dtype));
	*w = (struct ld_weight){.data = t->data, .dtype = t->dtype, .rows = rows, .cols = cols};
	m->mapped_bytes += t->nbytes;
	return LD_OK;
}

/* RMSNorm gains: widened to f32 once (stored F32 in practice). */
static enum ld_status get_gain(struct ld_model *m, const char *name, float **out, struct ld_err *err)
{
	struct ld_weight w;
	size_t D = (size_t)m->cfg.dim;
	enum ld_status st = get_weight(m, name, D, 0, &w, err);
	if (st != LD_OK)
		return st;
	if (w.dtype != LD_F32 && w.dtype != LD_F16 && w.dtype != LD_BF16)
		return ld_fail(err, LD_ERR_DTYPE, "%s: %s is stored as %s; a norm's gain should be F32 (or F16, BF16)",
		               m->gguf->path, name, ld_dtype_name(w.dtype));
	w.rows = 1; /* view the vector as one row of D columns */
	w.cols = D;
	if (!(*out = malloc(D * sizeof **out)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", name);
	ld_weight_row(*out, &w, 0);
	return LD_OK;
}

/* Llama 3.1 RoPE scaling: the stated rule, a stored table, or none. */
static enum ld_status rope_scaling(struct ld_model *m, struct ld_err *err)
{
	const struct ld_gguf *g = m->gguf;
	struct ld_config *c = &m->cfg;
	struct ld_rope_scaling *s = &c->rope_scaling;
	enum ld_status st;
	memset(s, 0, sizeof *s);

	const struct ld_gguf_kv *type = ld_gguf_find_kv(g, "llama.rope.scaling.type");
	if (type) {
		if (type->type != LD_GGUF_STRING)
			return ld_fail(err, LD_ERR_FORMAT, "%s: key `llama.rope.scaling.type` is a %s, expected a string",
			               g->path, ld_gguf_type_name(type->type));
		if (str_is(type->s, "llama3")) {
			s->enabled = 1;
			if ((st = get_num_or(g, "llama.rope.scaling.factor", 1, 1e6, 8, &s->factor, err)) ||
			    (st = get_num_or(g, "llama.rope.scaling.low_freq_factor", 1e-6, 1e6, 1, &s->low_freq_factor, err)) ||
			    (st = get_num_or(g, "llama.rope.scaling.high_freq_factor", 1e-6, 1e6, 4, &s->high_freq_factor, err)) ||
			    (st = get_num_or(g, "llama.rope.scaling.original_context_length", 1, 1e9, 8192,
			                     &s->original_max_position_embeddings, err)))
				return st;
			if (!(s->high_freq_factor > s->low_freq_factor))
				return ld_fail(err, LD_ERR_RANGE, "%s: RoPE high_freq_factor %g must exceed low_freq_factor %g",
				               g->path, s->high_freq_factor, s->low_freq_factor);
		} else if (!str_is(type->s, "none")) {
			return ld_fail(err, LD_ERR_FORMAT,
			               "%s: RoPE scaling `%.*s` is not supported (llamadbg reads llama3 scaling, "
			               "or the rope_freqs.weight table)",
			               g->path, (int)(type->s.len > 40 ? 40 : type->s.len), type->s.p);
		}
	}

	const struct ld_gguf_tensor *t = ld_gguf_find_tensor(g, "rope_freqs.weight");
	if (!t)
		return LD_OK;
	size_t half = (size_t)c->head_dim / 2;
	if (t->ndim != 1 || t->ne[0] != half || t->dtype != LD_F32 || half > LD_MAX_ROPE_FACTORS)
		return ld_fail(err, LD_ERR_SHAPE, "%s: rope_freqs.weight should be %zu F32 values (head_dim / 2)",
		               g->path, half);
	m->mapped_bytes += t->nbytes;
	float table[LD_MAX_ROPE_FACTORS];
	memcpy(table, t->data, half * sizeof *table);
	for (size_t j = 0; j < half; j++)
		if (!(table[j] > 0 && isfinite(table[j])))
			return ld_fail(err, LD_ERR_RANGE, "%s: rope_freqs.weight[%zu] = %g, expected a positive divisor",
			               g->path, j, table[j]);

	/* Does the stated rule give this table? */
	if (s->enabled) {
		double base[LD_MAX_ROPE_FACTORS], ruled[LD_MAX_ROPE_FACTORS];
		ld_rope_freqs(base, c->head_dim, c->rope_theta, NULL);
		ld_rope_freqs(ruled, c->head_dim, c->rope_theta, s);
		int same = 1;
		for (size_t j = 0; j < half && same; j++)
			same = fabs(base[j] / ruled[j] - table[j]) <= 1e-6 * table[j];
		if (same)
			return LD_OK;
	}
	s->enabled = 0;
	s->n_factors = (int)half;
	memcpy(s->factors, table, half * sizeof *table);
	return LD_OK;
}

/* struct ld_config from the llama.* keys. */
static enum ld_status read_config(struct ld_model *m, struct ld_err *err)
{
	const struct ld_gguf *g = m->gguf;
	struct ld_config *c = &m->cfg;
	enum ld_status st;
	struct ld_gguf_str arch;
	int64_t v;
	memset(c, 0, sizeof *c);

	if ((st = ld_gguf_get_str(g, "general.architecture", &arch, err)) != LD_OK)
		return st;
	if (!str_is(arch, "llama"))
		return ld_fail(err, LD_ERR_FORMAT, "%s: general.architecture is `%.*s`; llamadbg reads `llama` models",
		               g->path, (int)(arch.len > 40 ? 40 : arch.len), arch.p);
#define REQ(key, lo, hi, field)                                                  \
	if ((st = ld_gguf_get_int(g, key, lo, hi, &v, err)) != LD_OK)                  \
		return st;                                                                 \
	c->field = (int)v;
	REQ("llama.block_count", 1, 4096, n_layers);
	REQ("llama.embedding_length", 1, MAX_DIM, dim);
	REQ("llama.feed_forward_length", 1, MAX_DIM, ffn_dim);
	REQ("llama.attention.head_count", 1, 4096, n_heads);
#undef REQ
	if ((st = get_int_or(g, "llama.attention.head_count_kv", 1, 4096, c->n_heads, &c->n_kv_heads, err)))
		return st;
	if (c->dim % c->n_heads && !ld_gguf_find_kv(g, "llama.attention.key_length"))
		return ld_fail(err, LD_ERR_SHAPE, "%s: embedding_length %d is not divisible by head_count %d", g->path,
		               c->dim, c->n_heads);
	if ((st = get_int_or(g, "llama.attention.key_length", 2, MAX_DIM, c->dim / c->n_heads, &c->head_dim, err)))
		return st;
	int vlen, rdim;
	if ((st = get_int_or(g, "llama.attention.value_length", 1, MAX_DIM, c->head_dim, &vlen, err)) ||
	    (st = get_int_or(g, "llama.rope.dimension_count", 1, MAX_DIM, c->head_dim, &rdim, err)))
		return st;
	if (vlen != c->head_dim)
		return ld_fail(err, LD_ERR_SHAPE, "%s: value_length %d differs from key_length %d (LLaMA has one head size)",
		               g->path, vlen, c->head_dim);
	if (rdim != c->head_dim)
		return ld_fail(err, LD_ERR_SHAPE,
		               "%s: rope.dimension_count %d differs from the head size %d (LLaMA rotates whole heads)",
		               g->path, rdim, c->head_dim);
	if (c->head_dim % 2)
		return ld_fail(err, LD_ERR_SHAPE, "%s: head size %d is odd; RoPE rotates pairs", g->path, c->head_dim);
	if (c->n_heads % c->n_kv_heads)
		return ld_fail(err, LD_ERR_SHAPE, "%s: head_count %d is not a multiple of head_count_kv %d", g->path,
		               c->n_heads, c->n_kv_heads);
	if ((size_t)c->n_heads * (size_t)c->head_dim > MAX_DIM)
		return ld_fail(err, LD_ERR_RANGE, "%s: head_count x key_length is too large", g->path);
	if ((st = get_int_or(g, "llama.context_length", 1, 1 << 30, 8192, &c->max_pos, err)) ||
	    (st = get_num_or(g, "llama.attention.layer_norm_rms_epsilon", 0, 1, 1e-5, &c->norm_eps, err)) ||
	    (st = get_num_or(g, "llama.rope.freq_base", 1e-6, 1e30, 10000, &c->rope_theta, err)))
		return st;

	/* The vocabulary: the key, else the embedding table's rows. */
	const struct ld_gguf_tensor *emb = ld_gguf_find_tensor(g, "token_embd.weight");
	if (!emb)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing tensor token_embd.weight", g->path);
	int64_t emb_rows = emb->ndim == 2 ? (int64_t)emb->ne[1] : -1;
	if ((st = get_int_or(g, "llama.vocab_size", 1, 1 << 24, emb_rows > 0 && emb_rows <= (1 << 24) ? emb_rows : 0,
	                     &c->vocab_size, err)))
		return st;
	if (c->vocab_size <= 0)
		return ld_fail(err, LD_ERR_SHAPE, "%s: token_embd.weight should be [vocab, %d]", g->path, c->dim);

	/* Special tokens, from the tokenizer keys when the file has them. */
	c->bos_id = -1;
	if (ld_gguf_find_kv(g, "tokenizer.ggml.bos_token_id") &&
	    (st = get_int_or(g, "tokenizer.ggml.bos_token_id", 0, c->vocab_size - 1, -1, &c->bos_id, err)))
		return st;
	const char *eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
	                          "tokenizer.ggml.eom_token_id"};
	for (size_t k = 0; k < sizeof eos_keys / sizeof eos_keys[0]; k++) {
		int id;
		if (!ld_gguf_find_kv(g, eos_keys[k]))
			continue;
		if ((st = get_int_or(g, eos_keys[k], 0, c->vocab_size - 1, 0, &id, err)))
			return st;
		int seen = 0;
		for (int e = 0; e < c->n_eos; e++)
			seen |= c->eos_ids[e] == id;
		if (!seen)
			c->eos_ids[c->n_eos++] = id;
	}
	c->tie_embeddings = ld_gguf_find_tensor(g, "output.weight") == NULL;
	return rope_scaling(m, err);
}

enum ld_status ld_model_load_gguf(struct ld_model *m, int inspect_only, struct ld_err *err)
{
	m->inspect_only = inspect_only;
	enum ld_status st;
	char name[96];
	if (!(m->gguf = calloc(1, sizeof *m->gguf)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	if ((st = ld_gguf_open(m->gguf, m->dir, err)) != LD_OK) {
		free(m->gguf);
		m->gguf = NULL;
		return st;
	}
	if ((st = read_config(m, err)) != LD_OK)
		return st;
	const struct ld_config *c = &m->cfg;
	size_t D = (size_t)c->dim, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size;
	size_t q_rows = (size_t)c->n_heads * (size_t)c->head_dim;
	size_t kv_rows = (size_t)c->n_kv_heads * (size_t)c->head_dim;

	if (!(m->layers = calloc((size_t)c->n_layers, sizeof *m->layers)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	if ((st = get_weight(m, "token_embd.weight", V, D, &m->tok_embeddings, err)) != LD_OK)
		return st;
	m->dtype = m->tok_embeddings.dtype;
	for (int i = 0; i < c->n_layers; i++) {
		struct ld_layer *L = &m->layers[i];
#define W(field, suffix, rows, cols)                                       \
	snprintf(name, sizeof name, "blk.%d.%s.weight", i, suffix);            \
	if ((st = get_weight(m, name, rows, cols, &L->field, err)) != LD_OK)   \
		return st;
		W(wq, "attn_q", q_rows, D);
		W(wk, "attn_k", kv_rows, D);
		W(wv, "attn_v", kv_rows, D);
		W(wo, "attn_output", D, q_rows);
		W(w1, "ffn_gate", F, D);
		W(w3, "ffn_up", F, D);
		W(w2, "ffn_down", D, F);
#undef W
		snprintf(name, sizeof name, "blk.%d.attn_norm.weight", i);
		if ((st = get_gain(m, name, &L->attn_norm, err)) != LD_OK)
			return st;
		snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", i);
		if ((st = get_gain(m, name, &L->ffn_norm, err)) != LD_OK)
			return st;
		/* The matrices dominate the model's bytes: the model's dtype is
		 * the one most of layer 0's bytes are stored in. */
		if (i == 0)
			m->dtype = L->w1.dtype;
	}
	if ((st = get_gain(m, "output_norm.weight", &m->norm, err)) != LD_OK)
		return st;
	if (c->tie_embeddings)
		m->output = m->tok_embeddings;
	else if ((st = get_weight(m, "output.weight", V, D, &m->output, err)) != LD_OK)
		return st;
	return LD_OK;
}
