/* ablation.h - which heads and which FFNs the answer depends on.
 *
 * An ablation zeroes one component and runs the pass again: if the answer's
 * probability falls, the answer needed that component. The sweep does it
 * for every attention head of every layer (its output zeroed before o_proj,
 * as `trace --ablate layers.I.head.H`) and for every layer's FFN (its output
 * zeroed, `--ablate layers.I.ffn`), one pass each, and records the answer's
 * probability after each as two trace points of the catalogue:
 *
 *   ablation.heads_p   layer x head   p(answer) with that head zeroed
 *   ablation.ffn_p     layer          p(answer) with that FFN zeroed
 *
 * The answer is the run's own greedy next token at the last position, and
 * each ablation comes on top of the run's patches, so the sweep asks "what
 * does THIS run's answer need?". n_layers x (n_heads + 1) + 1 passes, each
 * recording only its logits.
 */
#ifndef LD_ABLATION_H
#define LD_ABLATION_H

#include <stddef.h>
#include <stdint.h>

#include "forward.h"
#include "model.h"
#include "status.h"
#include "trace.h"

/* Run the sweep for the prompt ids (n tokens) under o's patches (o may be
 * NULL) and append its two points to tr. *answer, if not NULL, gets the
 * answer's token id. */
enum ld_status ld_ablation_sweep(const struct ld_model *m, const int32_t *ids, size_t n,
                                 const struct ld_forward_opts *o, struct ld_trace *tr, int32_t *answer,
                                 struct ld_err *err);

#endif
