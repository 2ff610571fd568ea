/* cli_info.c - `llamadbg info DIR` (alias ls-model): what a model directory
 * holds, before running anything; and a classifier's verdict in a trace. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "trace.h"

/* "41.0 KB", "2.1 MB", "4.6 GB" (decimal units, as file sizes are shown). */
static const char *human(size_t n, char *buf, size_t size)
{
	if (n < 1000000)
		snprintf(buf, size, "%.1f KB", (double)n / 1e3);
	else if (n < 1000000000)
		snprintf(buf, size, "%.1f MB", (double)n / 1e6);
	else
		snprintf(buf, size, "%.2f GB", (double)n / 1e9);
	return buf;
}

/* The big matrices by stored type: "Q4_K 7 (2.1 MB), Q6_K 2 (1.0 MB)". */
static void print_weight_types(const struct ld_model *m)
{
	struct { enum ld_dtype t; size_t n, bytes; } ty[16] = {{0}};
	size_t nty = 0;
	const struct ld_weight *all[7];
	size_t n_layers = (size_t)m->cfg.n_layers;
	for (size_t i = 0; i <= n_layers + 1; i++) {
		size_t k = 0;
		if (i < n_layers) {
			const struct ld_layer *L = &m->layers[i];
			const struct ld_weight *w[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w3, &L->w2};
			for (k = 0; k < 7; k++)
				all[k] = w[k];
		} else if (i == n_layers) {
			all[k++] = &m->tok_embeddings;
		} else if (m->cfg.n_labels > 0) {
			all[k++] = &m->score;
		} else if (!m->cfg.tie_embeddings) {
			all[k++] = &m->output;
		}
		for (size_t j = 0; j < k; j++) {
			size_t e = 0;
			while (e < nty && ty[e].t != all[j]->dtype)
				e++;
			if (e == nty && nty < 16)
				ty[nty++].t = all[j]->dtype;
			if (e < nty) {
				ty[e].n++;
				ty[e].bytes += ld_dtype_bytes(all[j]->dtype, all[j]->rows * all[j]->cols);
			}
		}
	}
	char hb[32];
	printf("%-11s", "matrices");
	for (size_t e = 0; e < nty; e++)
		printf("%s %s %zu (%s)", e ? "," : "", ld_dtype_name(ty[e].t), ty[e].n, human(ty[e].bytes, hb, sizeof hb));
	printf("\n");
}

/* GGUF: the file, every tensor by type, and the tokenizer it carries. */
static void print_gguf(const struct ld_gguf *g)
{
	struct { uint32_t t; size_t n, bytes; } ty[40] = {{0}};
	size_t nty = 0;
	for (size_t i = 0; i < g->n_tensors; i++) {
		size_t e = 0;
		while (e < nty && ty[e].t != g->t[i].ggml_type)
			e++;
		if (e == nty && nty < 40)
			ty[nty++].t = g->t[i].ggml_type;
		if (e < nty) {
			ty[e].n++;
			ty[e].bytes += g->t[i].nbytes;
		}
	}
	printf("%-11s GGUF version %u, %zu tensors, %zu metadata keys, alignment %zu\n", "file", g->version,
	       g->n_tensors, g->n_kv, g->alignment);
	char hb[32];
	printf("%-11s", "tensors");
	for (size_t e = 0; e < nty; e++)
		printf("%s %s %zu (%s)", e ? "," : "", ld_gguf_ggml_type_name(ty[e].t), ty[e].n,
		       human(ty[e].bytes, hb, sizeof hb));
	printf("\n");
	const struct ld_gguf_kv *model = ld_gguf_find_kv(g, "tokenizer.ggml.model");
	const struct ld_gguf_kv *pre = ld_gguf_find_kv(g, "tokenizer.ggml.pre");
	const struct ld_gguf_kv *toks = ld_gguf_find_kv(g, "tokenizer.ggml.tokens");
	const struct ld_gguf_kv *merges = ld_gguf_find_kv(g, "tokenizer.ggml.merges");
	if (model && model->type == LD_GGUF_STRING && model->s.len == 4 && !memcmp(model->s.p, "none", 4)) {
		printf("%-11s none (tokenizer.ggml.model \"none\"): trace it with -t ID,ID,...\n", "tokenizer");
	} else if (model && model->type == LD_GGUF_STRING) {
		int ml = (int)(model->s.len > 40 ? 40 : model->s.len);
		printf("%-11s %.*s", "tokenizer", ml, model->s.p);
		if (pre && pre->type == LD_GGUF_STRING)
			printf(" (pre-split %.*s)", (int)(pre->s.len > 40 ? 40 : pre->s.len), pre->s.p);
		if (toks && toks->type == LD_GGUF_ARRAY)
			printf(", %zu tokens", toks->n);
		if (merges && merges->type == LD_GGUF_ARRAY)
			printf(", %zu merges", merges->n);
		printf(" in the metadata\n");
	} else {
		printf("%-11s none in the file\n", "tokenizer");
	}
}

static void print_bytes(const char *label, size_t n, const char *what)
{
	printf("%-11s %zu bytes (%.1f MB)%s\n", label, n, (double)n / 1e6, what);
}

int ld_cmd_info(int argc, char **argv)
{
	char usage[128];
	snprintf(usage, sizeof usage, "usage: llamadbg %s MODEL (a directory or a .gguf file)\n", argv[0]);
	int first, rc = ld_cli_positional(argc, argv, usage,
	                                  "Describe a model directory (Hugging Face or Meta layout, or either in\n"
	                                  "original/) or a GGUF file: its format, config, parameter count, the types\n"
	                                  "its weights are stored in and the memory it maps and copies.\n", 1, 1, &first);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	const char *dir = argv[first];
	struct ld_model m;
	struct ld_err err = {{0}};
	if (ld_model_inspect(&m, dir, &err) != LD_OK)
		return ld_cli_error("%s", err.msg);
	const struct ld_config *c = &m.cfg;
	size_t n_files = m.format == LD_FORMAT_META ? m.n_pth : m.format == LD_FORMAT_GGUF ? 1 : m.n_files;
	size_t on_disk = m.gguf ? m.gguf->map_len : 0;
	for (size_t i = 0; i < m.n_pth; i++)
		on_disk += m.pth[i].map_len;
	for (size_t i = 0; i < m.n_files; i++)
		on_disk += m.files[i].map_len;

	printf("%-11s %s\n", "model", m.dir);
	if (m.format == LD_FORMAT_GGUF) {
		printf("%-11s %s\n", "format", ld_format_name(m.format));
		print_gguf(m.gguf);
	} else {
		printf("%-11s %s, %zu file%s in %s\n", "format", ld_format_name(m.format), n_files,
		       n_files == 1 ? "" : "s", m.weights_dir);
	}
	printf("%-11s dim %d, %d layers, %d heads (%d KV), head_dim %d\n", "config", c->dim, c->n_layers,
	       c->n_heads, c->n_kv_heads, c->head_dim);
	printf("%-11s ffn_dim %d", "", c->ffn_dim);
	if (m.format == LD_FORMAT_META) {
		printf(" (Meta's rule: multiple_of %d", m.meta.multiple_of);
		if (m.meta.ffn_dim_multiplier > 0)
			printf(", ffn_dim_multiplier %g", m.meta.ffn_dim_multiplier);
		printf(")");
	}
	printf(", vocab_size %d%s, max positions %d\n", c->vocab_size,
	       m.meta.vocab_from_weights ? " (from tok_embeddings)" : "", c->max_pos);
	printf("%-11s norm_eps %g, rope_theta %g, ", "", c->norm_eps, c->rope_theta);
	if (c->rope_scaling.enabled)
		printf("llama3 rope scaling: factor %g, low %g, high %g, original %g%s%s%s\n",
		       c->rope_scaling.factor, c->rope_scaling.low_freq_factor, c->rope_scaling.high_freq_factor,
		       c->rope_scaling.original_max_position_embeddings, m.format == LD_FORMAT_META ? " (" : "",
		       m.format == LD_FORMAT_META ? m.meta.rope_scaling_from : "",
		       m.format == LD_FORMAT_META ? ")" : "");
	else if (c->rope_scaling.n_factors > 0)
		printf("rope scaling by a stored table (rope_freqs.weight): %d pairs, divisors %g .. %g\n",
		       c->rope_scaling.n_factors, c->rope_scaling.factors[0],
		       c->rope_scaling.factors[c->rope_scaling.n_factors - 1]);
	else
		printf("no rope scaling\n");
	printf("%-11s bos %d, eos", "", c->bos_id);
	for (int i = 0; i < c->n_eos; i++)
		printf(" %d", c->eos_ids[i]);
	if (c->n_eos == 0)
		printf(" none");
	printf("%s\n", m.format == LD_FORMAT_META ? " (Meta's convention: the 256 specials follow "
	                                            "vocab_size - 256 ordinary tokens)" : "");
	if (c->n_labels > 0) {
		printf("%-11s sequence classifier (score, %d labels):", "head", c->n_labels);
		for (int i = 0; i < c->n_labels; i++)
			printf(" %d=%s", i, c->labels[i]);
		printf("\n");
	} else {
		printf("%-11s causal LM (logits over %d tokens), %s\n", "head", c->vocab_size,
		       c->tie_embeddings ? "tied to the embedding table" : "its own output matrix");
	}
	size_t n = ld_config_n_params(c);
	if (n >= 1000000000)
		printf("%-11s %zu (%.2f B)\n", "parameters", n, (double)n / 1e9);
	else
		printf("%-11s %zu (%.2f M)\n", "parameters", n, (double)n / 1e6);
	printf("%-11s %s\n", "dtype", ld_dtype_name(m.dtype));
	print_weight_types(&m);
	char what[96];
	snprintf(what, sizeof what, " of weights, in %zu bytes of mapped files", on_disk);
	print_bytes("maps", m.mapped_bytes, what);
	if (m.copied_bytes)
		print_bytes("copies", m.copied_bytes, ": the model-parallel shards, joined in memory");
	else
		printf("%-11s nothing: every weight is used in place\n", "copies");
	ld_model_free(&m);
	return 0;
}

void ld_cli_print_classes(const struct ld_trace *tr)
{
	const struct ld_config *c = &tr->cfg;
	long k = ld_trace_find(tr, "score");
	if (c->n_labels <= 0 || k < 0)
		return;
	const struct ld_tensor *t = &tr->t[k];
	size_t L = (size_t)c->n_labels;
	if (t->ndim != 2 || t->shape[1] != L || t->shape[0] == 0 || !t->data)
		return;
	/* The class logits are the last token's row; softmax for the probabilities. */
	size_t row = (t->shape[0] - 1) * L, best = 0;
	double mx = -INFINITY, sum = 0;
	for (size_t i = 0; i < L; i++)
		if (ld_tensor_get(t, row + i) > mx) {
			mx = ld_tensor_get(t, row + i);
			best = i;
		}
	for (size_t i = 0; i < L; i++)
		sum += exp(ld_tensor_get(t, row + i) - mx);
	printf("class logits at the last token (position %zu):\n", t->shape[0] - 1);
	for (size_t i = 0; i < L; i++) {
		double v = ld_tensor_get(t, row + i);
		printf("  %c %2zu %-24s %12.5g   p %.4f\n", i == best ? '*' : ' ', i, c->labels[i], v,
		       exp(v - mx) / sum);
	}
}
