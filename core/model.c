/* model.c - find a model directory's layout; open a Hugging Face LLaMA 3
 * checkpoint in place (Meta's layout is model_meta.c). */
#include "model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "trace_size.h"
#include "util.h"

void ld_rope_unpermute_rows(uint32_t *map, int n_heads, int head_dim)
{
	/* HF stores each head's rows as [x0 x2 x4 ... | x1 x3 x5 ...] so that
	 * rotate_half can pair row j with row j + hd/2. Meta (and this engine)
	 * pair adjacent rows (2j, 2j+1), so we read them back interleaved. */
	int half = head_dim / 2;
	for (int h = 0; h < n_heads; h++)
		for (int j = 0; j < half; j++)
			for (int s = 0; s < 2; s++)
				map[(size_t)h * head_dim + 2 * j + s] = (uint32_t)((size_t)h * head_dim + j + s * half);
}

/* Open the safetensors shards named by model.safetensors.index.json. */
static enum ld_status open_sharded(struct ld_model *m, const char *index_path, struct ld_err *err)
{
	enum ld_status st = LD_OK;
	char *text = NULL;
	size_t len;
	json_t *root = NULL;
	if ((st = ld_read_file(index_path, 64u << 20, &text, &len, err)) != LD_OK)
		return st;
	json_error_t jerr;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *wm = root ? json_object_get(root, "weight_map") : NULL;
	if (!root) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s:%d: malformed JSON: %s", index_path, jerr.line, jerr.text);
		goto out;
	}
	if (!json_is_object(wm)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: expected an object \"weight_map\"", index_path);
		goto out;
	}
	/* Distinct shard names, in order of first appearance. */
	size_t cap = json_object_size(wm);
	char **names = calloc(cap + 1, sizeof *names);
	size_t n = 0;
	const char *key;
	json_t *v;
	if (!names) {
		st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", index_path);
		goto out;
	}
	json_object_foreach(wm, key, v) {
		if (!json_is_string(v)) {
			st = ld_fail(err, LD_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name", index_path, key);
			break;
		}
		const char *fn = json_string_value(v);
		if (strchr(fn, '/') || strcmp(fn, "..") == 0 || fn[0] == '\0') {
			st = ld_fail(err, LD_ERR_FORMAT, "%s: shard name \"%s\" must be a plain file name",
			             index_path, fn);
			break;
		}
		size_t k = 0;
		while (k < n && strcmp(names[k], fn) != 0)
			k++;
		if (k == n)
			names[n++] = (char *)fn;
	}
	if (st == LD_OK) {
		m->files = calloc(n + 1, sizeof *m->files);
		if (!m->files)
			st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", index_path);
	}
	for (size_t k = 0; st == LD_OK && k < n; k++) {
		char *p = ld_path_join(m->weights_dir, names[k]);
		st = p ? ld_st_open(&m->files[m->n_files], p, err) : ld_fail(err, LD_ERR_NOMEM, "out of memory");
		if (st == LD_OK)
			m->n_files++;
		free(p);
	}
	free(names);
out:
	json_decref(root);
	free(text);
	return st;
}

/* Find a tensor in any shard and check its dtype and 2-D/1-D shape. */
static enum ld_status find_tensor(const struct ld_model *m, const char *name, size_t rows,
                                  size_t cols, const struct ld_st_tensor **out, const char **file,
                                  struct ld_err *err)
{
	const struct ld_st_tensor *t = NULL;
	for (size_t i = 0; i < m->n_files && !t; i++) {
		t = ld_st_find(&m->files[i], name);
		*file = m->files[i].path;
	}
	if (!t)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing tensor %s", m->weights_dir, name);
	if (t->dtype != LD_F32 && t->dtype != LD_BF16 && t->dtype != LD_F16)
		return ld_fail(err, LD_ERR_DTYPE, "%s: %s has dtype %s, expected F32, BF16 or F16", *file, name,
		               ld_dtype_name(t->dtype));
	int want_ndim = cols ? 2 : 1;
	int ok = t->ndim == want_ndim && t->shape[0] == rows && (!cols || t->shape[1] == cols);
	if (!ok) {
		char got[128] = "[", want[64];
		for (int d = 0; d < t->ndim; d++) {
			size_t l = strlen(got);
			snprintf(got + l, sizeof got - l, "%s%zu", d ? ", " : "", t->shape[d]);
		}
		strncat(got, "]", sizeof got - strlen(got) - 1);
		if (cols)
			snprintf(want, sizeof want, "[%zu, %zu]", rows, cols);
		else
			snprintf(want, sizeof want, "[%zu]", rows);
		return ld_fail(err, LD_ERR_SHAPE, "%s: %s has shape %s, config says %s", *file, name, got, want);
	}
	*out = t;
	return LD_OK;
}

static enum ld_status get_weight(struct ld_model *m, const char *name, size_t rows, size_t cols,
                                 struct ld_weight *w, struct ld_err *err)
{
	const struct ld_st_tensor *t;
	const char *file;
	enum ld_status st = find_tensor(m, name, rows, cols, &t, &file, err);
	if (st != LD_OK)
		return st;
	w->data = t->data;
	w->dtype = t->dtype;
	w->rows = rows;
	w->cols = cols;
	w->row_map = NULL;
	m->mapped_bytes += t->nbytes;
	return LD_OK;
}

/* RMSNorm gains are tiny: widen them to f32 once. */
static enum ld_status get_gain(struct ld_model *m, const char *name, float **out, struct ld_err *err)
{
	struct ld_weight w;
	size_t D = (size_t)m->cfg.dim;
	enum ld_status st = get_weight(m, name, D, 0, &w, err);
	if (st != LD_OK)
		return st;
	w.rows = 1; /* view the vector as one row of D columns */
	w.cols = D;
	if (!(*out = malloc(D * sizeof **out)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", name);
	ld_weight_row(*out, &w, 0);
	return LD_OK;
}

static enum ld_status load_hf(struct ld_model *m, struct ld_err *err)
{
	enum ld_status st;
	char *path = NULL;
	char name[160];
	const char *dir = m->weights_dir;

	/* config.json sizes everything else. */
	if (!(path = ld_path_join(dir, "config.json")))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	st = ld_config_load(&m->cfg, path, err);
	free(path);
	path = NULL;
	if (st != LD_OK)
		goto out;
	const struct ld_config *c = &m->cfg;

	/* One model.safetensors, or shards listed by an index. */
	path = ld_path_join(dir, "model.safetensors");
	if (path && ld_path_exists(path)) {
		m->files = calloc(1, sizeof *m->files);
		if (!m->files) {
			st = ld_fail(err, LD_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((st = ld_st_open(&m->files[0], path, err)) != LD_OK)
			goto out;
		m->n_files = 1;
	} else {
		free(path);
		path = ld_path_join(dir, "model.safetensors.index.json");
		if (!path || !ld_path_exists(path)) {
			st = ld_fail(err, LD_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
			goto out;
		}
		if ((st = open_sharded(m, path, err)) != LD_OK)
			goto out;
	}

	size_t D = (size_t)c->dim, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size;
	size_t q_rows = (size_t)c->n_heads * (size_t)c->head_dim;
	size_t kv_rows = (size_t)c->n_kv_heads * (size_t)c->head_dim;

	/* Undo HF's rotate_half permutation by reading q/k rows interleaved. */
	m->q_rows = malloc(q_rows * sizeof *m->q_rows);
	m->k_rows = malloc(kv_rows * sizeof *m->k_rows);
	m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
	if (!m->q_rows || !m->k_rows || !m->layers) {
		st = ld_fail(err, LD_ERR_NOMEM, "out of memory");
		goto out;
	}
	ld_rope_unpermute_rows(m->q_rows, c->n_heads, c->head_dim);
	ld_rope_unpermute_rows(m->k_rows, c->n_kv_heads, c->head_dim);

	if ((st = get_weight(m, "model.embed_tokens.weight", V, D, &m->tok_embeddings, err)) != LD_OK)
		goto out;
	m->dtype = m->tok_embeddings.dtype;
	for (int i = 0; i < c->n_layers; i++) {
		struct ld_layer *L = &m->layers[i];
#define W(field, suffix, rows, cols)                                                   \
	snprintf(name, sizeof name, "model.layers.%d.%s.weight", i, suffix);               \
	if ((st = get_weight(m, name, rows, cols, &L->field, err)) != LD_OK)               \
		goto out;
		W(wq, "self_attn.q_proj", q_rows, D);
		W(wk, "self_attn.k_proj", kv_rows, D);
		W(wv, "self_attn.v_proj", kv_rows, D);
		W(wo, "self_attn.o_proj", D, q_rows);
		W(w1, "mlp.gate_proj", F, D);
		W(w3, "mlp.up_proj", F, D);
		W(w2, "mlp.down_proj", D, F);
#undef W
		L->wq.row_map = m->q_rows;
		L->wk.row_map = m->k_rows;
		snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", i);
		if ((st = get_gain(m, name, &L->attn_norm, err)) != LD_OK)
			goto out;
		snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", i);
		if ((st = get_gain(m, name, &L->ffn_norm, err)) != LD_OK)
			goto out;
	}
	if ((st = get_gain(m, "model.norm.weight", &m->norm, err)) != LD_OK)
		goto out;
	if (c->n_labels > 0) {
		/* LlamaForSequenceClassification: a head scoring the labels replaces lm_head. */
		if ((st = get_weight(m, "score.weight", (size_t)c->n_labels, D, &m->score, err)) != LD_OK)
			goto out;
	} else if (c->tie_embeddings) {
		m->output = m->tok_embeddings;
	} else if ((st = get_weight(m, "lm_head.weight", V, D, &m->output, err)) != LD_OK) {
		goto out;
	}
	st = LD_OK;
out:
	free(path);
	return st;
}

const char *ld_format_name(enum ld_format f)
{
	switch (f) {
	case LD_FORMAT_HF: return "Hugging Face (config.json + safetensors)";
	case LD_FORMAT_META: return "Meta (params.json + consolidated.NN.pth)";
	case LD_FORMAT_GGUF: return "GGUF (llama.cpp)";
	default: return "none";
	}
}

static int has_file(const char *dir, const char *name)
{
	char *p = ld_path_join(dir, name);
	int yes = p && ld_path_exists(p);
	free(p);
	return yes;
}

static enum ld_format detect_in(const char *dir)
{
	if (has_file(dir, "config.json") &&
	    (has_file(dir, "model.safetensors") || has_file(dir, "model.safetensors.index.json")))
		return LD_FORMAT_HF;
	if (has_file(dir, "params.json") && has_file(dir, "consolidated.00.pth"))
		return LD_FORMAT_META;
	return LD_FORMAT_NONE;
}

enum ld_status ld_model_detect(const char *dir, enum ld_format *fmt, char **weights_dir,
                               struct ld_err *err)
{
	*weights_dir = NULL;
	struct stat sb;
	if (stat(dir, &sb) == 0 && S_ISREG(sb.st_mode)) {
		size_t n = strlen(dir);
		int named = n >= 5 && strcasecmp(dir + n - 5, ".gguf") == 0;
		if (!ld_gguf_sniff(dir) && !named) /* a .gguf that is not GGUF: the reader says why */
			return ld_fail(err, LD_ERR_FORMAT,
			               "%s: not a model: a model is a directory (Hugging Face or Meta layout) or a GGUF file, "
			               "and this file does not start with \"GGUF\"",
			               dir);
		*fmt = LD_FORMAT_GGUF;
		if (!(*weights_dir = strdup(dir)))
			return ld_fail(err, LD_ERR_NOMEM, "out of memory");
		return LD_OK;
	}
	if ((*fmt = detect_in(dir)) != LD_FORMAT_NONE) {
		if (!(*weights_dir = strdup(dir)))
			return ld_fail(err, LD_ERR_NOMEM, "out of memory");
		return LD_OK;
	}
	char *sub = ld_path_join(dir, "original");
	if (!sub)
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	if ((*fmt = detect_in(sub)) != LD_FORMAT_NONE) {
		*weights_dir = sub;
		return LD_OK;
	}
	free(sub);
	return ld_fail(err, LD_ERR_IO,
	               "%s: no model found: expected config.json + model.safetensors (Hugging Face), "
	               "params.json + consolidated.00.pth (Meta), either inside original/, or a .gguf file",
	               dir);
}

/* A model to be run has its weights' pages mapped before the first pass:
 * on a virtual machine a page fault is dear, and the first pass of the 1B
 * shape took thousands of them (~10% of a whole 17-token trace). Only when
 * the files fit the memory available: else the pass's own faults bring
 * in what it needs as it goes. */
static void prefault(const struct ld_model *m)
{
	size_t total = 0;
	for (size_t i = 0; i < m->n_files; i++)
		total += m->files[i].map_len;
	for (size_t i = 0; i < m->n_pth; i++)
		total += m->pth[i].map_len;
	if (m->gguf)
		total += m->gguf->map_len;
	if (total > ld_memory_available())
		return;
	for (size_t i = 0; i < m->n_files; i++)
		ld_prefault(m->files[i].map, m->files[i].map_len);
	for (size_t i = 0; i < m->n_pth; i++)
		ld_prefault(m->pth[i].map, m->pth[i].map_len);
	if (m->gguf)
		ld_prefault(m->gguf->map, m->gguf->map_len);
}

static enum ld_status load(struct ld_model *m, const char *dir, int inspect_only, struct ld_err *err)
{
	enum ld_status st;
	memset(m, 0, sizeof *m);
	if (!(m->dir = strdup(dir)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	st = ld_model_detect(dir, &m->format, &m->weights_dir, err);
	if (st == LD_OK)
		st = m->format == LD_FORMAT_META   ? ld_model_load_meta(m, inspect_only, err)
		     : m->format == LD_FORMAT_GGUF ? ld_model_load_gguf(m, inspect_only, err)
		                                   : load_hf(m, err);
	if (st != LD_OK) {
		ld_model_free(m);
		return st;
	}
	if (!inspect_only)
		prefault(m);
	return st;
}

enum ld_status ld_model_load(struct ld_model *m, const char *dir, struct ld_err *err)
{
	return load(m, dir, 0, err);
}

enum ld_status ld_model_inspect(struct ld_model *m, const char *dir, struct ld_err *err)
{
	return load(m, dir, 1, err);
}

void ld_model_free(struct ld_model *m)
{
	if (m->layers) {
		for (int i = 0; i < m->cfg.n_layers; i++) {
			free(m->layers[i].attn_norm);
			free(m->layers[i].ffn_norm);
		}
	}
	free(m->layers);
	free(m->norm);
	free(m->q_rows);
	free(m->k_rows);
	for (size_t i = 0; i < m->n_files; i++)
		ld_st_close(&m->files[i]);
	free(m->files);
	for (size_t i = 0; i < m->n_pth; i++)
		ld_pth_close(&m->pth[i]);
	free(m->pth);
	if (m->gguf) {
		ld_gguf_close(m->gguf);
		free(m->gguf);
	}
	for (size_t i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->weights_dir);
	free(m->dir);
	memset(m, 0, sizeof *m);
}
