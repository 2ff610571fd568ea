/* model_meta.c - open Meta's own checkpoint: params.json + consolidated.NN.pth.
 *
 * This is what Meta ships, and what the original/ folder of a Hugging Face
 * repo holds. The names are Meta's (tok_embeddings, layers.i.attention.wq,
 * feed_forward.w1, ...; see LLAMA3_FACTS.md for the HF names), and so is
 * the RoPE layout: the q/k rows are already in the interleaved-pair order
 * this engine uses, so unlike HF no row map is needed.
 *
 * A model too big for one GPU was saved model-parallel: consolidated.00 ..
 * NN.pth each hold a slice of every matrix, cut the way fairscale's layers
 * cut them at training time:
 *   ColumnParallelLinear  wq wk wv w1 w3 output   output rows, dim 0
 *   RowParallelLinear     wo w2                   input columns, dim 1
 *   VocabParallelEmbedding tok_embeddings         vocabulary rows, dim 0
 *                         (Llama 2's ParallelEmbedding cut dim 1: read too)
 *   RMSNorm gains         whole in every shard (checked identical)
 * One shard is viewed in place. Several are joined into buffers the model
 * owns: the joined matrices are copied once, at load (m->copied_bytes).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "util.h"

#define MAX_SHARDS 1024

enum cut {
	WHOLE, /* replicated: every shard holds all of it */
	ROWS,  /* split along dim 0: the shards' rows follow each other */
	COLS,  /* split along dim 1: each row is the shards' pieces side by side */
};

static void shape_str(char *buf, size_t size, const size_t *shape, int ndim)
{
	size_t used = (size_t)snprintf(buf, size, "[");
	for (int d = 0; d < ndim && used < size; d++)
		used += (size_t)snprintf(buf + used, size - used, "%s%zu", d ? ", " : "", shape[d]);
	if (used < size)
		snprintf(buf + used, size - used, "]");
}

/* Find name in every shard, check its dtype and shape against params.json
 * (rows x cols; cols 0 for a vector), and make w a view into the one shard
 * or a joined copy of all of them. */
static enum ld_status meta_weight(struct ld_model *m, const char *name, enum cut cut, size_t rows,
                                  size_t cols, struct ld_weight *w, int inspect_only, struct ld_err *err)
{
	const size_t want[2] = {rows, cols};
	const int ndim = cols ? 2 : 1;
	const struct ld_pth_tensor *first = NULL;
	size_t joined = 0; /* rows (ROWS) or columns (COLS) of the shards so far */
	char got_s[96], want_s[64];
	for (size_t s = 0; s < m->n_pth; s++) {
		const struct ld_pth_tensor *t = ld_pth_find(&m->pth[s], name);
		const char *file = m->pth[s].path;
		if (!t)
			return ld_fail(err, LD_ERR_FORMAT, "%s: missing tensor %s", file, name);
		if (first && t->dtype != first->dtype)
			return ld_fail(err, LD_ERR_DTYPE, "%s: %s is %s, but %s in %s", file, name,
			               ld_dtype_name(t->dtype), ld_dtype_name(first->dtype), m->pth[0].path);
		/* With one shard every cut is the whole tensor. */
		enum cut c = m->n_pth == 1 ? WHOLE : cut;
		int ok = t->ndim == ndim;
		for (int d = 0; d < ndim && ok; d++)
			ok = (c == ROWS && d == 0) || (c == COLS && d == 1) || t->shape[d] == want[d];
		if (!ok) {
			shape_str(got_s, sizeof got_s, t->shape, t->ndim);
			shape_str(want_s, sizeof want_s, want, ndim);
			return ld_fail(err, LD_ERR_SHAPE, "%s: %s has shape %s, params.json says %s%s", file, name,
			               got_s, want_s,
			               c == ROWS ? " (split along dim 0)" : c == COLS ? " (split along dim 1)" : "");
		}
		if (c == WHOLE && first && memcmp(t->data, first->data, t->nbytes) != 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s: %s differs from the one in %s; it should be replicated",
			               file, name, m->pth[0].path);
		joined += c == ROWS ? t->shape[0] : c == COLS ? t->shape[1] : 0;
		if (!first)
			first = t;
	}
	if (m->n_pth > 1 && cut != WHOLE && joined != want[cut == ROWS ? 0 : 1])
		return ld_fail(err, LD_ERR_SHAPE,
		               "%s: %s: the %zu shards join to %zu %s, params.json says [%zu, %zu]",
		               m->weights_dir, name, m->n_pth, joined, cut == ROWS ? "rows" : "columns", rows,
		               cols);

	if (!first)
		return ld_fail(err, LD_ERR_FORMAT, "%s: no consolidated.*.pth shard holds %s", m->weights_dir, name);
	size_t esz = ld_dtype_size(first->dtype), bytes = rows * (cols ? cols : 1) * esz;
	*w = (struct ld_weight){.data = first->data, .dtype = first->dtype, .rows = rows, .cols = cols};
	m->mapped_bytes += bytes;
	if (m->n_pth == 1 || cut == WHOLE)
		return LD_OK;

	/* Join the slices into a buffer of our own. */
	m->copied_bytes += bytes;
	w->data = NULL;
	if (inspect_only)
		return LD_OK;
	void **owned = realloc(m->owned, (m->n_owned + 1) * sizeof *owned);
	unsigned char *buf = malloc(bytes);
	if (owned)
		m->owned = owned;
	if (!owned || !buf) {
		free(buf);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory joining %s (%zu bytes)", m->weights_dir,
		               name, bytes);
	}
	m->owned[m->n_owned++] = buf;
	size_t at = 0; /* bytes (ROWS) or columns (COLS) placed so far */
	for (size_t s = 0; s < m->n_pth; s++) {
		const struct ld_pth_tensor *t = ld_pth_find(&m->pth[s], name);
		if (cut == ROWS) {
			memcpy(buf + at, t->data, t->nbytes);
			at += t->nbytes;
		} else {
			size_t c = t->shape[1];
			for (size_t r = 0; r < rows; r++)
				memcpy(buf + (r * cols + at) * esz, (const unsigned char *)t->data + r * c * esz, c * esz);
			at += c;
		}
	}
	w->data = buf;
	return LD_OK;
}

/* RMSNorm gains are tiny: widen them to f32 once. */
static enum ld_status meta_gain(struct ld_model *m, const char *name, float **out, struct ld_err *err)
{
	struct ld_weight w;
	size_t D = (size_t)m->cfg.dim;
	enum ld_status st = meta_weight(m, name, WHOLE, D, 0, &w, 0, err);
	if (st != LD_OK)
		return st;
	w.rows = 1; /* view the vector as one row of D columns */
	w.cols = D;
	if (!(*out = malloc(D * sizeof **out)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", name);
	ld_weight_row(*out, &w, 0);
	return LD_OK;
}

/* The embedding table. Its rows are the vocabulary, which params.json may
 * leave to the weights (vocab_size -1); then Meta's specials follow from it. */
static enum ld_status meta_embeddings(struct ld_model *m, int inspect_only, struct ld_err *err)
{
	const char *name = "tok_embeddings.weight";
	const size_t D = (size_t)m->cfg.dim;
	const struct ld_pth_tensor *t0 = ld_pth_find(&m->pth[0], name);
	if (!t0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing tensor %s", m->pth[0].path, name);
	if (t0->ndim != 2)
		return ld_fail(err, LD_ERR_SHAPE, "%s: %s has %d dimensions, expected 2", m->pth[0].path, name,
		               t0->ndim);
	/* Llama 3 cuts the vocabulary (dim 0); Llama 2 cut the embedding (dim 1). */
	enum cut cut = m->n_pth > 1 && t0->shape[1] != D ? COLS : ROWS;
	if (m->meta.vocab_from_weights) {
		size_t V = t0->shape[0];
		for (size_t s = 1; s < m->n_pth && cut == ROWS; s++) {
			const struct ld_pth_tensor *t = ld_pth_find(&m->pth[s], name);
			if (!t || t->ndim != 2)
				return ld_fail(err, LD_ERR_FORMAT, "%s: missing 2-D tensor %s", m->pth[s].path, name);
			V += t->shape[0];
		}
		if (V < 1 || V > (1u << 24))
			return ld_fail(err, LD_ERR_RANGE, "%s: %s gives a vocabulary of %zu, expected 1..%u",
			               m->weights_dir, name, V, 1u << 24);
		m->cfg.vocab_size = (int)V;
		ld_config_meta_specials(&m->cfg);
	}
	return meta_weight(m, name, cut, (size_t)m->cfg.vocab_size, D, &m->tok_embeddings, inspect_only, err);
}

/* consolidated.00.pth .. consolidated.NN.pth, all present, none twice. */
static enum ld_status open_shards(struct ld_model *m, struct ld_err *err)
{
	DIR *d = opendir(m->weights_dir);
	if (!d)
		return ld_fail(err, LD_ERR_IO, "%s: cannot list the directory", m->weights_dir);
	char seen[MAX_SHARDS] = {0};
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		unsigned k;
		char canonical[32];
		if (sscanf(e->d_name, "consolidated.%u.pth", &k) != 1 || k >= MAX_SHARDS)
			continue;
		snprintf(canonical, sizeof canonical, "consolidated.%02u.pth", k);
		if (strcmp(e->d_name, canonical) != 0)
			continue; /* not a name Meta writes */
		seen[k] = 1;
		n = (int)k + 1 > n ? (int)k + 1 : n;
	}
	closedir(d);
	for (int k = 0; k < n; k++)
		if (!seen[k])
			return ld_fail(err, LD_ERR_FORMAT, "%s: consolidated.%02d.pth is missing (shards 00..%02d)",
			               m->weights_dir, k, n - 1);
	if (!(m->pth = calloc((size_t)n + 1, sizeof *m->pth)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	for (int k = 0; k < n; k++) {
		char name[32];
		snprintf(name, sizeof name, "consolidated.%02d.pth", k);
		char *p = ld_path_join(m->weights_dir, name);
		enum ld_status st = p ? ld_pth_open(&m->pth[m->n_pth], p, err)
		                      : ld_fail(err, LD_ERR_NOMEM, "out of memory");
		free(p);
		if (st != LD_OK)
			return st;
		m->n_pth++;
	}
	return LD_OK;
}

/* In an HF repo's original/ folder, the config.json beside it states the
 * llama3 RoPE constants (factor 32 for Llama 3.2) that params.json leaves
 * to Meta's code: prefer them to Meta's defaults. */
static void scaling_from_parent(struct ld_model *m)
{
	struct ld_config hf;
	if (strcmp(m->dir, m->weights_dir) == 0 || !m->cfg.rope_scaling.enabled ||
	    strcmp(m->meta.rope_scaling_from, "Meta's defaults") != 0)
		return;
	char *p = ld_path_join(m->dir, "config.json");
	if (p && ld_path_exists(p) && ld_config_load(&hf, p, NULL) == LD_OK && hf.rope_scaling.enabled) {
		m->cfg.rope_scaling = hf.rope_scaling;
		m->meta.rope_scaling_from = "config.json beside original/";
	}
	free(p);
}

enum ld_status ld_model_load_meta(struct ld_model *m, int inspect_only, struct ld_err *err)
{
	enum ld_status st;
	char name[160];
	char *path = ld_path_join(m->weights_dir, "params.json"), *text = NULL;
	size_t len;
	m->inspect_only = inspect_only;
	if (!path)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	st = ld_read_file(path, 1 << 20, &text, &len, err);
	if (st == LD_OK)
		st = ld_config_parse_meta(&m->cfg, &m->meta, text, len, path, err);
	free(text);
	free(path);
	if (st != LD_OK)
		return st;
	scaling_from_parent(m);
	if ((st = open_shards(m, err)) != LD_OK)
		return st;
	if ((st = meta_embeddings(m, inspect_only, err)) != LD_OK)
		return st;
	const struct ld_config *c = &m->cfg;
	const size_t D = (size_t)c->dim, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size;
	const size_t q_rows = (size_t)c->n_heads * (size_t)c->head_dim;
	const size_t kv_rows = (size_t)c->n_kv_heads * (size_t)c->head_dim;
	m->dtype = m->tok_embeddings.dtype;
	if (!(m->layers = calloc((size_t)c->n_layers, sizeof *m->layers)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	for (int i = 0; i < c->n_layers; i++) {
		struct ld_layer *L = &m->layers[i];
#define W(field, suffix, cut, rows, cols)                                                    \
	snprintf(name, sizeof name, "layers.%d.%s.weight", i, suffix);                           \
	if ((st = meta_weight(m, name, cut, rows, cols, &L->field, inspect_only, err)) != LD_OK) \
		return st;
		W(wq, "attention.wq", ROWS, q_rows, D);
		W(wk, "attention.wk", ROWS, kv_rows, D);
		W(wv, "attention.wv", ROWS, kv_rows, D);
		W(wo, "attention.wo", COLS, D, q_rows);
		W(w1, "feed_forward.w1", ROWS, F, D);
		W(w3, "feed_forward.w3", ROWS, F, D);
		W(w2, "feed_forward.w2", COLS, D, F);
#undef W
		snprintf(name, sizeof name, "layers.%d.attention_norm.weight", i);
		if ((st = meta_gain(m, name, &L->attn_norm, err)) != LD_OK)
			return st;
		snprintf(name, sizeof name, "layers.%d.ffn_norm.weight", i);
		if ((st = meta_gain(m, name, &L->ffn_norm, err)) != LD_OK)
			return st;
	}
	if ((st = meta_gain(m, "norm.weight", &m->norm, err)) != LD_OK)
		return st;
	/* No output.weight: the output layer is the embedding table (tied). */
	if (!ld_pth_find(&m->pth[0], "output.weight")) {
		m->cfg.tie_embeddings = 1;
		m->output = m->tok_embeddings;
		return LD_OK;
	}
	return meta_weight(m, "output.weight", ROWS, V, D, &m->output, inspect_only, err);
}
