/* model.h - a LLaMA 3 checkpoint, opened in place.
 *
 * Two layouts: Hugging Face (config.json + safetensors) and Meta's own
 * (params.json + consolidated.NN.pth). The weights are views into the
 * mmapped files, in their stored dtype; nothing the size of the model is
 * copied, with one exception: a Meta checkpoint saved model-parallel in
 * several shards, whose slices are joined into buffers the model owns
 * (copied_bytes). Only the tiny RMSNorm gains are widened to f32 at load.
 */
#ifndef LD_MODEL_H
#define LD_MODEL_H

#include <stddef.h>

#include "config.h"
#include "gguf.h"
#include "matmul.h"
#include "pth.h"
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

/* The layout a model directory holds. */
enum ld_format {
	LD_FORMAT_NONE = 0,
	LD_FORMAT_HF,   /* config.json + model.safetensors (or model.safetensors.index.json) */
	LD_FORMAT_META, /* params.json + consolidated.00.pth [.. consolidated.NN.pth] */
	LD_FORMAT_GGUF, /* one .gguf file (llama.cpp), quantized or not */
};

struct ld_model {
	struct ld_config cfg;
	char *dir;                  /* where it was loaded from */
	char *weights_dir;          /* where the files are: dir, or dir/original */
	enum ld_format format;
	struct ld_meta_params meta; /* Meta layout: how ffn_dim and vocab_size were found */
	struct ld_weight tok_embeddings; /* (vocab_size, dim) */
	struct ld_layer *layers;    /* n_layers */
	float *norm;                /* (dim) final RMSNorm gain */
	struct ld_weight output;    /* (vocab_size, dim); the embedding table when tied */
	struct ld_weight score;     /* (n_labels, dim): a sequence classifier's head, used
	                               instead of output (HF score.weight) */
	enum ld_dtype dtype;        /* dtype of the big matrices */
	size_t mapped_bytes;        /* bytes of weights read from the mapped files */
	size_t copied_bytes;        /* bytes of them copied to join model-parallel shards */
	int inspect_only;           /* from ld_model_inspect: joined weights not built */
	/* internal */
	struct ld_st_file *files;   /* the mmapped safetensors shards */
	size_t n_files;
	struct ld_pth_file *pth;    /* the mmapped consolidated.NN.pth shards */
	struct ld_gguf *gguf;       /* the mmapped .gguf file */
	size_t n_pth;
	void **owned;               /* joined weights, freed with the model */
	size_t n_owned;
	uint32_t *q_rows, *k_rows;  /* row maps undoing HF's q/k permutation */
};

/* Load a model directory, whichever layout it holds (ld_model_detect), or
 * a .gguf file. Every tensor is checked: present, a dtype the matmul
 * reads (F32/BF16/F16; in GGUF also the block types), shape equal to what
 * the config implies. */
enum ld_status ld_model_load(struct ld_model *m, const char *dir, struct ld_err *err);
void ld_model_free(struct ld_model *m);

/* As ld_model_load, with every check, but without building the joined
 * copies of a sharded Meta checkpoint: enough to describe the model
 * (llamadbg info), not to run it. copied_bytes says what loading copies. */
enum ld_status ld_model_inspect(struct ld_model *m, const char *dir, struct ld_err *err);

/* Which layout dir holds: a file starting with "GGUF" is a GGUF model;
 * a directory is looked in in this order: config.json + safetensors
 * (Hugging Face), params.json + consolidated.00.pth (Meta), then the same
 * two inside dir/original/ (where HF repos keep Meta's files). Sets
 * *weights_dir (malloc'd) to the folder that holds the files (for GGUF,
 * the file itself). */
enum ld_status ld_model_detect(const char *dir, enum ld_format *fmt, char **weights_dir,
                               struct ld_err *err);

/* "Hugging Face (config.json + safetensors)", ... */
const char *ld_format_name(enum ld_format f);

/* model_meta.c: fill m (dir, weights_dir set) from Meta's files. */
enum ld_status ld_model_load_meta(struct ld_model *m, int inspect_only, struct ld_err *err);

/* model_gguf.c: fill m (dir = the .gguf file) from a GGUF file; inspect_only:
 * every check, for describing the model, none of what running it needs. */
enum ld_status ld_model_load_gguf(struct ld_model *m, int inspect_only, struct ld_err *err);

/* The row order that undoes HF's q/k permutation for one projection of
 * n_heads heads of head_dim rows: Meta row (h, 2j + s) is HF row
 * (h, j + s*head_dim/2). Fills map (n_heads*head_dim). */
void ld_rope_unpermute_rows(uint32_t *map, int n_heads, int head_dim);

#endif
