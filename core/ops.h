/* ops.h - the small operations of a LLaMA 3 layer, one row at a time.
 *
 * Pure functions: outputs first, then inputs, then sizes. The first comment
 * line of each gives the shapes and the PyTorch one-liner.
 */
#ifndef LD_OPS_H
#define LD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* x (n) -> out (n), returns r.  PyTorch: r = rsqrt(mean(x^2) + eps); out = x * r * w
 * RMSNorm rescales a row to unit root-mean-square; unlike LayerNorm it does
 * not subtract the mean, which saves work and works as well. */
float ld_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps);

/* -> inv_freq (head_dim/2).  inv_freq[j] = theta^(-2j/hd), then llama3 scaling:
 * pairs that turn fast keep their speed, slow ones are divided by factor,
 * the band between is blended, so long contexts keep their positions apart. */
void ld_rope_freqs(double *inv_freq, int head_dim, double theta, const struct ld_rope_scaling *s);

/* x (n_heads, head_dim) rotated in place for position pos: each pair
 * (x[2j], x[2j+1]) is multiplied, as a complex number, by e^(i*pos*inv_freq[j]).
 * PyTorch (Meta): torch.view_as_real(torch.view_as_complex(x.view(..., -1, 2)) * freqs_cis) */
void ld_rope(float *x, int n_heads, int head_dim, size_t pos, const double *inv_freq);

/* x (n) -> softmax in place.  PyTorch: x.softmax(-1)
 * Subtracts the max first so exp never overflows; -inf entries become 0. */
void ld_softmax(float *x, size_t n);

/* logits (n) -> ids (k), probs (k): the k largest entries, largest first (the
 * lower id first on a tie; NaN last), and their softmax probabilities over
 * all n entries.  PyTorch: p, ids = logits.softmax(-1).topk(k)
 * The probabilities are those ld_softmax would give, without writing n values. */
void ld_topk_softmax(int32_t *ids, float *probs, const float *logits, size_t n, int k);

/* GQA: the KV head that query head h reads. n_heads/n_kv_heads consecutive
 * query heads share one KV head.  PyTorch (HF): repeat_kv(k, n_heads // n_kv_heads) */
static inline int ld_kv_head(int h, int n_heads, int n_kv_heads)
{
	return h / (n_heads / n_kv_heads);
}

/* x -> x * sigmoid(x).  PyTorch: F.silu(x) */
float ld_silu(float x);

#endif
