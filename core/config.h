/* config.h - the numbers that size a LLaMA 3 model.
 *
 * Read from a Hugging Face config.json (LlamaForCausalLM) and stored in a
 * trace's metadata, so a saved trace knows the model that made it.
 */
#ifndef LD_CONFIG_H
#define LD_CONFIG_H

#include <stddef.h>

#include "status.h"

#define LD_MAX_EOS 8

struct ld_rope_scaling {
	int enabled;            /* 1 for rope_type "llama3" (Llama 3.1/3.2) */
	double factor;          /* low frequencies are divided by this, e.g. 32 */
	double low_freq_factor; /* e.g. 1 */
	double high_freq_factor;/* e.g. 4 */
	double original_max_position_embeddings; /* e.g. 8192 */
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
};

/* Parse config.json text (path only names the file in errors). Checks every
 * size is positive and consistent (heads divide into KV groups, ...). */
enum ld_status ld_config_parse(struct ld_config *c, const char *json, size_t len,
                               const char *path, struct ld_err *err);

/* Read and parse a config.json file. */
enum ld_status ld_config_load(struct ld_config *c, const char *path, struct ld_err *err);

/* The config as HF-style JSON text (malloc'd), as stored in trace metadata. */
char *ld_config_to_json(const struct ld_config *c);

/* Number of parameters the config implies (embedding, layers, norm, output). */
size_t ld_config_n_params(const struct ld_config *c);

#endif
