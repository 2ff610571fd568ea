/* cli_info.c - `llamadbg info DIR` (alias ls-model): what a model directory
 * holds, before running anything; and a classifier's verdict in a trace. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "trace.h"

static void print_bytes(const char *label, size_t n, const char *what)
{
	printf("%-11s %zu bytes (%.1f MB)%s\n", label, n, (double)n / 1e6, what);
}

int ld_cmd_info(int argc, char **argv)
{
	char usage[128];
	snprintf(usage, sizeof usage, "usage: llamadbg %s MODEL_DIR\n", argv[0]);
	int first, rc = ld_cli_positional(argc, argv, usage,
	                                  "Describe a model directory (Hugging Face or Meta layout, or either in\n"
	                                  "original/): its format, config, parameter count, dtype and the memory it\n"
	                                  "maps and copies.\n", 1, 1, &first);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	const char *dir = argv[first];
	struct ld_model m;
	struct ld_err err = {{0}};
	if (ld_model_inspect(&m, dir, &err) != LD_OK)
		return ld_cli_error("%s", err.msg);
	const struct ld_config *c = &m.cfg;
	size_t n_files = m.format == LD_FORMAT_META ? m.n_pth : m.n_files, on_disk = 0;
	for (size_t i = 0; i < m.n_pth; i++)
		on_disk += m.pth[i].map_len;
	for (size_t i = 0; i < m.n_files; i++)
		on_disk += m.files[i].map_len;

	printf("%-11s %s\n", "model", m.dir);
	printf("%-11s %s, %zu file%s in %s\n", "format", ld_format_name(m.format), n_files,
	       n_files == 1 ? "" : "s", m.weights_dir);
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
	if (t->ndim != 2 || t->shape[1] != L || t->shape[0] == 0)
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
