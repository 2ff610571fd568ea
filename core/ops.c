/* ops.c - RMSNorm, RoPE, softmax, SiLU. */
#include "ops.h"

#include <math.h>

float ld_rmsnorm(float *out, const float *x, const float *w, size_t n, double eps)
{
	double ss = 0; /* sum in double: a long row of f32 squares loses digits */
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float r = (float)(1.0 / sqrt(ss / (double)n + eps));
	for (size_t i = 0; i < n; i++)
		out[i] = x[i] * r * w[i];
	return r;
}

void ld_rope_freqs(double *inv_freq, int head_dim, double theta, const struct ld_rope_scaling *s)
{
	const double pi = 3.14159265358979323846;
	for (int j = 0; j < head_dim / 2; j++) {
		double f = pow(theta, -2.0 * j / head_dim);
		if (s && s->enabled) {
			double wavelen = 2 * pi / f;
			double lo_wavelen = s->original_max_position_embeddings / s->low_freq_factor;
			double hi_wavelen = s->original_max_position_embeddings / s->high_freq_factor;
			if (wavelen > lo_wavelen) {
				f = f / s->factor; /* slow pairs: stretched to the longer context */
			} else if (wavelen >= hi_wavelen) {
				/* the band between: a smooth blend of the two */
				double t = (s->original_max_position_embeddings / wavelen - s->low_freq_factor) /
				           (s->high_freq_factor - s->low_freq_factor);
				f = (1 - t) * f / s->factor + t * f;
			} /* fast pairs (wavelen < hi_wavelen) keep their speed */
		}
		if (s && j < s->n_factors)
			f = f / s->factors[j]; /* the stored table (GGUF's rope_freqs.weight) */
		inv_freq[j] = f;
	}
}

void ld_rope(float *x, int n_heads, int head_dim, size_t pos, const double *inv_freq)
{
	for (int j = 0; j < head_dim / 2; j++) {
		double angle = (double)pos * inv_freq[j];
		float c = (float)cos(angle), s = (float)sin(angle);
		for (int h = 0; h < n_heads; h++) {
			float *p = x + (size_t)h * head_dim + 2 * j;
			float a = p[0], b = p[1];
			p[0] = a * c - b * s; /* (a + ib)(c + is) */
			p[1] = a * s + b * c;
		}
	}
}

void ld_softmax(float *x, size_t n)
{
	float max = -INFINITY;
	for (size_t i = 0; i < n; i++)
		if (x[i] > max)
			max = x[i];
	if (max == -INFINITY) { /* nothing visible: leave all-zero weights */
		for (size_t i = 0; i < n; i++)
			x[i] = 0;
		return;
	}
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	float inv = (float)(1.0 / sum);
	for (size_t i = 0; i < n; i++)
		x[i] *= inv;
}

/* Is a a better guess than b? Larger wins; a number beats NaN. */
static int beats(float a, float b)
{
	return a > b || (isnan(b) && !isnan(a));
}

void ld_topk_softmax(int32_t *ids, float *probs, const float *logits, size_t n, int k)
{
	/* Keep the k best so far in order: a new entry moves in only if it beats
	 * the last one kept, so an equal later id never passes an earlier one. */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (kept == (size_t)k && !beats(logits[i], logits[ids[k - 1]]))
			continue;
		size_t j = kept < (size_t)k ? kept++ : (size_t)k - 1;
		for (; j > 0 && beats(logits[i], logits[ids[j - 1]]); j--)
			ids[j] = ids[j - 1];
		ids[j] = (int32_t)i;
	}
	/* The softmax, as ld_softmax computes it: exp(x - max) / sum. */
	float max = -INFINITY;
	for (size_t i = 0; i < n; i++)
		if (logits[i] > max)
			max = logits[i];
	double sum = 0;
	if (max != -INFINITY)
		for (size_t i = 0; i < n; i++)
			sum += expf(logits[i] - max);
	float inv = (float)(1.0 / sum);
	for (size_t j = 0; j < kept; j++)
		probs[j] = max == -INFINITY ? 0 : expf(logits[ids[j]] - max) * inv;
}

float ld_silu(float x)
{
	return x / (1.0f + expf(-x));
}
