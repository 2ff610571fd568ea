/* attention.h - causal self-attention of one layer: scores, softmax, the
 * weighted sum of values, for every head at once.
 */
#ifndef LD_ATTENTION_H
#define LD_ATTENTION_H

#include <stddef.h>

/* One layer's attention for T queries at positions start_pos .. start_pos+T-1
 * against the S = start_pos + T keys and values in the cache.
 *
 *   q       (T, H*hd)        queries after RoPE
 *   k, v    (S, KV*hd)       the layer's key (after RoPE) and value cache
 *   scores  (H, T, S) out    q.k * scale, -inf where s > start_pos + t
 *   probs   (H, T, S) out    softmax of each scores row (0 where masked)
 *   out     (T, H*hd) out    sum over s of probs * v
 *
 * PyTorch: scores = q @ k.T * scale + mask; probs = scores.softmax(-1);
 *          out = probs @ v   (k, v repeated for the H/KV query heads of each)
 *
 * The masked half is never computed, only filled. Exact f32: every score
 * is the sum over d in order, every output the sum over s in order, as a
 * plain loop would do them, so NaN and Inf arrive where they would. */
void ld_attention(float *scores, float *probs, float *out, const float *q, const float *k,
                  const float *v, size_t T, size_t start_pos, int H, int KV, int hd, float scale);

/* The rest of the layer's attention after a patch replaced the scores (the
 * softmax of every row, over all S keys as patched, then the weighted sum
 * over the visible keys) or the probs (the weighted sum only). */
void ld_attention_from_scores(float *probs, float *out, const float *scores, const float *v, size_t T,
                              size_t start_pos, int H, int KV, int hd);
void ld_attention_from_probs(float *out, const float *probs, const float *v, size_t T, size_t start_pos,
                             int H, int KV, int hd);

#endif
