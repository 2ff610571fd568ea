/* config.h - the numbers that size a LLaMA 3 model.
 *
 * Read from a Hugging Face config.json (LlamaForCausalLM or
 * LlamaForSequenceClassification) or from Meta's params.json, and stored in
 * a trace's metadata (as HF-style JSON), so a saved trace knows the model
 * that made it.
 */
#ifndef LD_CONFIG_H
#define LD_CONFIG_H

#include <stddef.h>

#include "status.h"

#define LD_MAX_EOS 8
#define LD_MAX_LABELS 64  /* labels of a sequence classifier */
#define LD_LABEL_LEN 48   /* bytes kept of a label's name, with the NUL */
#define LD_MAX_ROPE_FACTORS 256 /* RoPE pairs a stored factor table may have (head_dim 512) */

struct ld_rope_scaling {
	int enabled;            /* 1 for rope_type "llama3" (Llama 3.1/3.2) */
	double factor;          /* low frequencies are divided by this, e.g. 32 */
	double low_freq_factor; /* e.g. 1 */
	double high_freq_factor;/* e.g. 4 */
	double original_max_position_embeddings; /* e.g. 8192 */
	/* A stored table instead of the rule: pair j's frequency is divided by
	 * factors[j]. GGUF files of Llama 3.1/3.2 carry one (rope_freqs.weight)
	 * in place of the four numbers above; 0 when the rule (or nothing)
	 * applies. In config JSON: "rope_freq_factors": [...]. */
	int n_factors;
	float factors[LD_MAX_ROPE_FACTORS];
};

struct ld_config {
	int dim;          /* hidden_size: width of the residual stream, e.g. 4096 */
	int ffn_dim;      /* intermediate_size: SwiGLU hidden width, e.g. 14336 */
	int n_layers;     /* num_hidden_layers, e.g. 32 */
	int n_heads;      /* num_attention_heads: query heads, e.g. 32 */
	int n_kv_heads;   /* num_key_value_heads, e.g. 8; fewer than n_heads = GQA */
	int head_dim;     /* head_dim, default dim / n_heads, e.g. 128 */
	int vocab_size;   /* rows of the embedding table, e.g. 128256 */
	int max_pos;      /* max_position_embeddings: longest context, e.g. 8192 */
	double norm_eps;  /* rms_norm_eps, e.g. 1e-5 */
	double rope_theta;/* RoPE base, 500000 for Llama 3 */
	struct ld_rope_scaling rope_scaling;
	int tie_embeddings; /* 1: the output layer reuses the embedding table */
	int bos_id;       /* <|begin_of_text|>, 128000; -1 if unknown */
	int eos_ids[LD_MAX_EOS]; /* generation stops at any of these */
	int n_eos;
	int n_labels;     /* 0: a causal LM, logits over the vocabulary; > 0: a
	                     LlamaForSequenceClassification, a score per label */
	char labels[LD_MAX_LABELS][LD_LABEL_LEN]; /* id2label, e.g. "negative", "positive" */
};

/* What Meta's params.json says beyond struct ld_config: how ffn_dim and
 * vocab_size were found. */
struct ld_meta_params {
	int multiple_of;           /* the FFN width is rounded up to a multiple of this, e.g. 1024 */
	double ffn_dim_multiplier; /* e.g. 1.3; 0 when params.json has none */
	int vocab_from_weights;    /* vocab_size was -1 or absent: tok_embeddings' rows decide */
	const char *rope_scaling_from; /* where the llama3 constants came from: "none",
	                                  "Meta's defaults", "params.json", ... (a literal) */
};

/* Parse config.json text (path only names the file in errors). Checks every
 * size is positive and consistent (heads divide into KV groups, ...). */
enum ld_status ld_config_parse(struct ld_config *c, const char *json, size_t len,
                               const char *path, struct ld_err *err);

/* Read and parse a config.json file. */
enum ld_status ld_config_load(struct ld_config *c, const char *path, struct ld_err *err);

/* Parse Meta's params.json text: dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, multiple_of, ffn_dim_multiplier, norm_eps, rope_theta,
 * use_scaled_rope, max_seq_len. ffn_dim follows Meta's rule
 * (ld_meta_ffn_dim); use_scaled_rope true means Meta's llama3 constants
 * (factor 8, low 1, high 4, original 8192) unless params.json states
 * "rope_scaling_factor" or an HF-style "rope_scaling". Without max_seq_len
 * the context is 8192, or 131072 with scaled RoPE (Llama 3.1). A vocab_size
 * of -1 or none leaves vocab_size 0 and the specials unset: the loader takes
 * it from tok_embeddings and then calls ld_config_meta_specials. */
enum ld_status ld_config_parse_meta(struct ld_config *c, struct ld_meta_params *mp, const char *json,
                                    size_t len, const char *path, struct ld_err *err);

/* Meta's FFN width (llama/model.py FeedForward):
 *   hidden = int(2 * 4*dim / 3); hidden = int(ffn_dim_multiplier * hidden) if given;
 *   round hidden up to a multiple of multiple_of.  8B: 4096, 1024, 1.3 -> 14336
 * ffn_dim_multiplier 0 means none. Returns -1 when dim or multiple_of is
 * outside 1..2^20 or the multiplier outside 0.001..1000. */
long ld_meta_ffn_dim(int dim, int multiple_of, double ffn_dim_multiplier);

/* Meta's special tokens (tokenizer.py): the 256 specials follow the
 * n_ranks = vocab_size - 256 ordinary tokens, so bos = <|begin_of_text|> =
 * n_ranks, eos = <|end_of_text|> = n_ranks + 1 and <|eot_id|> = n_ranks + 9
 * (128000, 128001, 128009 for Llama 3). Needs vocab_size > 256. */
void ld_config_meta_specials(struct ld_config *c);

/* The config as HF-style JSON text (malloc'd), as stored in trace metadata. */
char *ld_config_to_json(const struct ld_config *c);

/* Number of parameters the config implies (embedding, layers, norm, output). */
size_t ld_config_n_params(const struct ld_config *c);

#endif
