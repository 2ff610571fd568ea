/* trace_points.h - THE catalogue of trace points.
 *
 * Every tensor the forward pass records is declared here once, in forward
 * order: its id, its name pattern ("{i}" is the layer index), the names of
 * its axes, the one-line operation that makes it, and what a learner should
 * know about it. The recorder, `llamadbg ls`, the viewer's help and the
 * lessons all read this one table.
 *
 * Sizes: T tokens in the pass, S positions attended (T, or the cache
 * length in a decode step), D model dim, H query heads, KV key/value heads,
 * hd head dim, F feed-forward dim, V vocabulary, L labels (a classifier).
 *
 * Decode steps (generation with a KV cache) record the same points with a
 * "step.{s}." prefix: step s feeds the s-th generated token, so T = 1 and
 * S = prompt length + s.
 *
 * The logit lens points (rank axis: K best guesses) are recorded only when
 * asked for (trace --lens, --lens-mid); so are the ablation sweep's
 * (trace --ablation-sweep, core/ablation.c), made by further passes.
 *
 * X(ID, name, axes, op, explanation)
 */
#ifndef LD_TRACE_POINTS_H
#define LD_TRACE_POINTS_H

#include <stddef.h>

#define LD_TRACE_POINTS(X)                                                                  \
	X(TOKENS, "tokens", "token", "tokens = tokenize(prompt)",                                  \
	  "The token ids fed to the model, one per position (int32).")                             \
	X(ROPE_FREQS, "rope_freqs", "pair", "inv_freq[j] = theta^(-2j/hd), llama3-scaled",         \
	  "The rotation speed of each (2j, 2j+1) pair of a head: pair j turns by pos*inv_freq[j].") \
	X(EMBED, "embed", "token,dim", "x = tok_embeddings[tokens]",                               \
	  "Each token id looks up one row of the embedding table: the start of the residual stream.") \
	X(ATTN_RMS, "layers.{i}.attn_rms", "token", "r = 1/sqrt(mean(x^2) + eps)",                 \
	  "The scale RMSNorm multiplies each token's row by before the gain.")                    \
	X(ATTN_NORM, "layers.{i}.attn_norm", "token,dim", "h = x * r * attention_norm",            \
	  "RMSNorm of the residual stream: every row rescaled to unit RMS, then times a learned gain.") \
	X(Q, "layers.{i}.q", "token,head,dim", "q = h @ wq.T",                                     \
	  "Queries: what each token is looking for, one hd-vector per head.")                      \
	X(K, "layers.{i}.k", "token,kv_head,dim", "k = h @ wk.T",                                  \
	  "Keys: what each token offers to be found by; only KV heads, shared by query heads (GQA).") \
	X(V, "layers.{i}.v", "token,kv_head,dim", "v = h @ wv.T",                                  \
	  "Values: what each token hands over when attended to.")                                  \
	X(Q_ROPE, "layers.{i}.q_rope", "token,head,dim", "q_rope = rope(q, pos)",                  \
	  "Queries with position mixed in: pair (2j, 2j+1) rotated by pos*inv_freq[j].")          \
	X(K_ROPE, "layers.{i}.k_rope", "token,kv_head,dim", "k_rope = rope(k, pos)",               \
	  "Keys rotated the same way, so q.k depends only on the distance between positions.")    \
	X(SCORES, "layers.{i}.scores", "head,query,key",                                           \
	  "scores = q_rope @ k_rope.T / sqrt(hd), future = -inf",                                 \
	  "How well each query matches each key, scaled; a query may not see later keys (-inf).") \
	X(PROBS, "layers.{i}.probs", "head,query,key", "probs = softmax(scores, key)",             \
	  "Attention weights: each row sums to 1 over the keys it may see.")                      \
	X(ATTN, "layers.{i}.attn", "token,head,dim", "attn = probs @ v",                           \
	  "Per head, the probability-weighted sum of the values.")                                 \
	X(ATTN_OUT, "layers.{i}.attn_out", "token,dim", "attn_out = concat(attn) @ wo.T",          \
	  "The heads' outputs concatenated and projected back to the model dim.")                 \
	X(RESID_MID, "layers.{i}.resid_mid", "token,dim", "x = x + attn_out",                      \
	  "The residual stream after attention: what attention wrote is added, nothing replaced.") \
	X(LENS_MID_IDS, "layers.{i}.lens_mid_ids", "token,rank",                                    \
	  "lens = topk(softmax(final_norm(resid_mid) @ output.T))",                               \
	  "Logit lens (trace --lens-mid): the K next tokens the stream after attention would "    \
	  "predict if the model ended here (int32 ids, best first).")                             \
	X(LENS_MID_PROBS, "layers.{i}.lens_mid_probs", "token,rank",                                \
	  "lens = topk(softmax(final_norm(resid_mid) @ output.T))",                               \
	  "Logit lens (trace --lens-mid): the probabilities of those K tokens, a softmax over "   \
	  "the whole vocabulary.")                                                                \
	X(FFN_RMS, "layers.{i}.ffn_rms", "token", "r = 1/sqrt(mean(x^2) + eps)",                   \
	  "The RMSNorm scale before the feed-forward network.")                                    \
	X(FFN_NORM, "layers.{i}.ffn_norm", "token,dim", "h = x * r * ffn_norm",                    \
	  "RMSNorm of the residual stream before the feed-forward network.")                      \
	X(FFN_GATE, "layers.{i}.ffn_gate", "token,ffn", "gate = h @ w1.T",                         \
	  "The gate projection (w1, gate_proj), before SiLU.")                                     \
	X(FFN_UP, "layers.{i}.ffn_up", "token,ffn", "up = h @ w3.T",                               \
	  "The up projection (w3, up_proj): the values the gate lets through.")                   \
	X(FFN_ACT, "layers.{i}.ffn_act", "token,ffn", "act = silu(gate) * up",                     \
	  "SwiGLU: silu(gate) decides, element by element, how much of up passes.")               \
	X(FFN_OUT, "layers.{i}.ffn_out", "token,dim", "ffn_out = act @ w2.T",                      \
	  "The down projection (w2, down_proj) back to the model dim.")                           \
	X(RESID_OUT, "layers.{i}.resid_out", "token,dim", "x = x + ffn_out",                       \
	  "The residual stream leaving the layer: the next layer's input.")                       \
	X(LENS_IDS, "layers.{i}.lens_ids", "token,rank",                                            \
	  "lens = topk(softmax(final_norm(resid_out) @ output.T))",                               \
	  "Logit lens (trace --lens): the K next tokens this layer's output would predict if it "  \
	  "were the last layer (int32 ids, best first); the last layer's are the logits' top K.") \
	X(LENS_PROBS, "layers.{i}.lens_probs", "token,rank",                                        \
	  "lens = topk(softmax(final_norm(resid_out) @ output.T))",                               \
	  "Logit lens (trace --lens): the probabilities of those K tokens, a softmax over the "   \
	  "whole vocabulary.")                                                                    \
	X(FINAL_RMS, "final_rms", "token", "r = 1/sqrt(mean(x^2) + eps)",                          \
	  "The RMSNorm scale of the last residual stream.")                                        \
	X(FINAL_NORM, "final_norm", "token,dim", "h = x * r * norm",                               \
	  "The final RMSNorm: what the output layer reads.")                                       \
	X(LOGITS, "logits", "token,vocab", "logits = h @ output.T",                                \
	  "A score for every vocabulary entry at every position; the argmax is the greedy next token.") \
	X(SCORE, "score", "token,label", "score = h @ score.T",                                    \
	  "A sequence classifier's head, recorded instead of logits: a score per label at every "  \
	  "position; the last token's row is the class logits.")                                 \
	X(ABLATION_HEADS, "ablation.heads_p", "layer,head",                                      \
	  "p[i,h] = softmax(logits with layers.i.head.h zeroed)[last, answer]",                   \
	  "Ablation sweep (trace --ablation-sweep): the probability of the run's own next token "  \
	  "(the last position's argmax) when one head's output is zeroed before o_proj; the "     \
	  "lowest is the head the answer needs most.")                                            \
	X(ABLATION_FFN, "ablation.ffn_p", "layer",                                                \
	  "p[i] = softmax(logits with layers.i.ffn_out zeroed)[last, answer]",                    \
	  "Ablation sweep (trace --ablation-sweep): the same probability when one layer's FFN "    \
	  "output is zeroed.")

enum ld_point {
#define LD_X_ENUM(id, name, axes, op, doc) LD_PT_##id,
	LD_TRACE_POINTS(LD_X_ENUM)
#undef LD_X_ENUM
	LD_PT_COUNT
};

struct ld_point_info {
	const char *name; /* pattern; "{i}" stands for the layer index */
	const char *axes; /* comma-separated axis names */
	const char *op;   /* the one-line operation */
	const char *doc;  /* what it means */
};

/* The catalogue entry for a point id. */
const struct ld_point_info *ld_point_info(enum ld_point p);

/* 1 if the point is recorded once per layer (its name contains "{i}"). */
int ld_point_per_layer(enum ld_point p);

/* 1 for the logit lens points, recorded only on request; 2 for the ones
 * taken after attention (--lens-mid). */
int ld_point_lens(enum ld_point p);

/* 1 for the ablation sweep's points (core/ablation.c), which the forward
 * pass does not record. */
int ld_point_sweep(enum ld_point p);

/* Concrete name of a point: step 0 is the prompt pass (no prefix), layer
 * is ignored for points outside the layers. Returns the length written
 * (like snprintf). */
int ld_point_name(char *buf, size_t size, enum ld_point p, int step, int layer);

/* Parse a concrete name back; 0 on success. */
int ld_point_parse(const char *name, enum ld_point *p, int *step, int *layer);

#endif
