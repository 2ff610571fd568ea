/* forward.h - run LLaMA 3 on token ids and record every intermediate tensor. */
#ifndef LD_FORWARD_H
#define LD_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "patch.h"
#include "status.h"
#include "trace.h"

struct ld_forward_opts {
	int n_generate;            /* greedy tokens to generate after the prompt (0 = none) */
	const char *const *only;   /* record only points whose name matches one of these globs; */
	size_t n_only;             /* n_only == 0 records everything */
	const struct ld_patch *patches; /* tensors to replace in the prompt pass (patch.h) */
	size_t n_patches;
	int lens_k;                /* logit lens: top lens_k guesses of every layer (0 = off) */
	int lens_mid;              /* ... also after each layer's attention (resid_mid) */
};

/* Run the prompt (one pass over all tokens, logits at every position), then
 * generate opts->n_generate tokens greedily with a KV cache. Appends every
 * recorded point to tr (which must be ld_trace_init'ed) and fills tr's
 * config, tokens and generated ids. */
enum ld_status ld_forward(const struct ld_model *m, const int32_t *tokens, size_t n_tokens,
                          const struct ld_forward_opts *opts, struct ld_trace *tr,
                          struct ld_err *err);

/* Would a point with this concrete name be recorded under these globs? */
int ld_forward_wants(const struct ld_forward_opts *opts, const char *name);

#endif
