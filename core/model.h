/* model.h - a LLaMA 3 checkpoint, opened in place.
 *
 * The weights are views into mmapped safetensors files, in their stored
 * dtype; nothing the size of the model is ever copied. Only the tiny RMSNorm
 * gains are widened to f32 at load.
 */
#ifndef LD_MODEL_H
#define LD_MODEL_H

#include <stddef.h>

#include "config.h"
#include "matmul.h"
#include "safetensors.h"
#include "status.h"

struct ld_layer {
	float *attn_norm;        /* (dim) RMSNorm gain before attention */
	struct ld_weight wq;     /* (n_heads*head_dim, dim) */
	struct ld_weight wk;     /* (n_kv_heads*head_dim, dim) */
	struct ld_weight wv;     /* (n_kv_heads*head_dim, dim) */
	struct ld_weight wo;     /* (dim, n_heads*head_dim) */
	float *ffn_norm;         /* (dim) RMSNorm gain before the FFN */
	struct ld_weight w1;     /* (ffn_dim, dim)  gate_proj */
	struct ld_weight w3;     /* (ffn_dim, dim)  up_proj */
	struct ld_weight w2;     /* (dim, ffn_dim)  down_proj */
};

struct ld_model {
	struct ld_config cfg;
	char *dir;                  /* where it was loaded from */
	struct ld_weight tok_embeddings; /* (vocab_size, dim) */
	struct ld_layer *layers;    /* n_layers */
	float *norm;                /* (dim) final RMSNorm gain */
	struct ld_weight output;    /* (vocab_size, dim); the embedding table when tied */
	enum ld_dtype dtype;        /* dtype of the big matrices */
	size_t mapped_bytes;        /* bytes of weights mapped */
	/* internal */
	struct ld_st_file *files;   /* the mmapped safetensors shards */
	size_t n_files;
	uint32_t *q_rows, *k_rows;  /* row maps undoing HF's q/k permutation */
};

/* Load a Hugging Face directory: config.json + model.safetensors or a
 * sharded model.safetensors.index.json. Every tensor is checked: present,
 * dtype F32/BF16/F16, shape equal to what the config implies. */
enum ld_status ld_model_load(struct ld_model *m, const char *dir, struct ld_err *err);
void ld_model_free(struct ld_model *m);

/* The row order that undoes HF's q/k permutation for one projection of
 * n_heads heads of head_dim rows: Meta row (h, 2j + s) is HF row
 * (h, j + s*head_dim/2). Fills map (n_heads*head_dim). */
void ld_rope_unpermute_rows(uint32_t *map, int n_heads, int head_dim);

#endif
