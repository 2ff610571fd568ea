/* trace.h - a recorded forward pass: an ordered list of named tensors.
 *
 * A trace is filled by the forward pass (ld_forward) or opened from a file
 * written by ld_trace_save (a safetensors file whose __metadata__ holds the
 * config, the prompt, the tokens and every point's description). Opening a
 * file mmaps it: tensor data points into the mapping and is never copied.
 *
 * A trace bound for a file may also be recorded straight to it
 * (ld_trace_stream_to): each point's data goes to the disk as the pass makes
 * it and only its name and shape stay in memory, so a trace larger than the
 * memory (the scores of a long prompt) needs only the disk.
 */
#ifndef LD_TRACE_H
#define LD_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dtype.h"
#include "status.h"
#include "trace_points.h"

#define LD_MAX_DIMS 4

/* A layer's weight matrices, in forward order; ld_wmat_name gives the
 * names the trace metadata and `ls` use ("q", "k", ..., "down"). */
enum ld_wmat { LD_WM_Q, LD_WM_K, LD_WM_V, LD_WM_O, LD_WM_GATE, LD_WM_UP, LD_WM_DOWN, LD_WM_N };
extern const char *const ld_wmat_name[LD_WM_N];

struct ld_tensor {
	char name[96];          /* concrete name, e.g. "layers.3.scores", "step.1.logits" */
	enum ld_point point;    /* its catalogue entry (trace_points.h) */
	int step;               /* 0 = the prompt pass, s = decode step s */
	int layer;              /* layer index, -1 outside the layers */
	enum ld_dtype dtype;    /* LD_F32, or LD_I32 for tokens */
	int ndim;
	size_t shape[LD_MAX_DIMS];
	char axes[64];          /* comma-separated axis names, e.g. "head,query,key" */
	char src[64];           /* core/ file:line that recorded it, e.g. "core/forward.c:212" */
	void *data;             /* shape-product elements of dtype, row-major */
	size_t nbytes;
};

/* Summary statistics of a tensor over its finite values. */
struct ld_stats {
	double min, max, mean, std; /* over finite elements; 0 if there are none */
	size_t n, n_nan, n_posinf, n_neginf;
};

struct ld_trace {
	struct ld_tensor *t;    /* n tensors in forward order */
	size_t n, cap;
	struct ld_config cfg;   /* the model that made it */
	char *model_path;       /* directory it was loaded from (may be NULL) */
	char *prompt;           /* the prompt text, or NULL when given as ids */
	int32_t *tokens;        /* n_tokens prompt token ids */
	size_t n_tokens;
	char **token_str;       /* display form of each prompt + generated token (may be NULL) */
	int32_t *generated;     /* greedy continuation, n_generated ids */
	size_t n_generated;
	char **vocab_str;       /* display form of every vocabulary id, so logits
	                           columns can be read as tokens (may be NULL) */
	size_t n_vocab_str;
	char *vocab_block;      /* NULL, or the one allocation all vocab_str strings are in
	                           (ld_trace_vocab_block); freed with the trace */
	char **patches;         /* what was patched, e.g. "layers.1.attn[:,2,:] = zeros (--ablate
	                           layers.1.head.2)" (patch.h); n_patches of them */
	size_t n_patches;
	enum ld_dtype *wtypes;  /* how the model stored each layer's matrices: n_layers
	                           x LD_WM_N (a quantized file mixes types by layer);
	                           NULL when not known */
	enum ld_dtype wtype_embed, wtype_output; /* the embedding table, the output layer
	                           (LD_DTYPE_INVALID when not known) */
	char kernel[16];        /* the matmul kernel that computed it ("avx512",
	                           "avx512bf16": --bf16-dot, ...; matmul.h), "" when
	                           not known */
	struct ld_trace_stream *stream; /* recording straight to a file (ld_trace_stream_to):
	                           every t[i].data is NULL; else NULL */
	/* internal */
	void *map;              /* mmapped file, when opened from disk */
	size_t map_len;
	int owns_data;          /* 1: each t[i].data was allocated by ld_trace_add */
	void *arena;            /* where ld_trace_add carves small points from (trace.c) */
};

void ld_trace_init(struct ld_trace *tr);
void ld_trace_free(struct ld_trace *tr);

/* Append a copy of data (shape[0..ndim) elements of dtype) under name. */
enum ld_status ld_trace_add(struct ld_trace *tr, const char *name, enum ld_point p, int step,
                            int layer, enum ld_dtype dtype, const size_t *shape, int ndim,
                            const void *data, const char *src, struct ld_err *err);

/* Note a patch (a copy of what); 0, or -1 when out of memory. */
int ld_trace_add_patch(struct ld_trace *tr, const char *what);

/* 1 if the point with this name was patched in this trace. */
int ld_trace_patched(const struct ld_trace *tr, const char *name);

struct ld_model;
/* Note the stored type of every weight matrix of m; 0, or -1 when out of
 * memory. */
int ld_trace_note_weights(struct ld_trace *tr, const struct ld_model *m);

/* The stored type of the weight matrix whose product is t (q: the layer's
 * wq, ffn_out: w2, logits and the lens: the output layer, embed: the
 * embedding table), with the matrix's name in *which; LD_DTYPE_INVALID
 * when t is not a matrix product or the trace does not know. */
enum ld_dtype ld_trace_weight_type(const struct ld_trace *tr, const struct ld_tensor *t,
                                   const char **which);

/* Display form of vocabulary id, or NULL when the trace does not know it. */
const char *ld_trace_vocab_str(const struct ld_trace *tr, long id);
/* Room for n vocabulary strings of at most bytes bytes in all, NULs
 * included, in one block (128k small allocations cost a trace more than
 * its header): tr->vocab_str gets n NULL entries and tr->vocab_block the
 * block, which the caller fills and points the entries into. Returns 0
 * when out of memory (tr then has no vocabulary strings). */
int ld_trace_vocab_block(struct ld_trace *tr, size_t n, size_t bytes);

/* Index of the tensor with this exact name, or -1. */
long ld_trace_find(const struct ld_trace *tr, const char *name);

/* Element count of a tensor. */
size_t ld_tensor_numel(const struct ld_tensor *t);
/* Element i widened to double (F32 or I32). */
double ld_tensor_get(const struct ld_tensor *t, size_t i);
void ld_tensor_stats(const struct ld_tensor *t, struct ld_stats *s);
/* "token 17 x head 8 x dim 16" */
void ld_tensor_shape_str(const struct ld_tensor *t, char *buf, size_t size);

/* Write atomically (temp file in the same directory + rename). An existing
 * file is replaced only when force is set. A streamed trace is finished
 * instead: its header written in front of the data already on the disk,
 * then renamed into place (path must be the one it streams to). */
enum ld_status ld_trace_save(struct ld_trace *tr, const char *path, int force, struct ld_err *err);

/* From now on, ld_trace_add writes each point's data to a temporary file
 * beside path instead of keeping it (t->data is NULL), after reserve bytes
 * left for the header (ld_trace_header_reserve). ld_trace_save(tr, path)
 * completes the file; ld_trace_free without it removes the temporary file.
 * An existing path is an error unless force is set. */
enum ld_status ld_trace_stream_to(struct ld_trace *tr, const char *path, int force, size_t reserve,
                                  struct ld_err *err);

/* Room for the header of a trace with points bytes of point descriptions
 * (the sum of ld_trace_point_header over them), the prompt ids, n_generate
 * tokens to come, a prompt of prompt_len bytes, and tr's config and
 * vocab_str as they are now. Generous: a header that outgrows it is still
 * written (ld_trace_save then copies the data behind it), only slower. */
size_t ld_trace_header_reserve(const struct ld_trace *tr, size_t points, const int32_t *ids, size_t n_ids,
                               size_t n_generate, size_t prompt_len);

/* The bytes point p under this name takes in a trace file's header, at most. */
size_t ld_trace_point_header(const char *name, enum ld_point p);

/* Open a saved trace: mmapped, validated (header, shapes, offsets, names). */
enum ld_status ld_trace_open(struct ld_trace *tr, const char *path, struct ld_err *err);

#endif
