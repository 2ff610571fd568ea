/* tensor.c - reading, counting and formatting trace tensors for the viewer. */
#include "vw_tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
	const char *name;
	enum vw_slot slot;
	int kv;
} axis_slots[] = {
	{"token", VW_SLOT_TOKEN, 0}, {"query", VW_SLOT_TOKEN, 0}, {"key", VW_SLOT_KEY, 0},
	{"head", VW_SLOT_HEAD, 0},   {"kv_head", VW_SLOT_HEAD, 1}, {"dim", VW_SLOT_DIM, 0},
	{"pair", VW_SLOT_DIM, 0},    {"ffn", VW_SLOT_FFN, 0},     {"vocab", VW_SLOT_VOCAB, 0},
};

void vw_axes_parse(const struct ld_tensor *t, struct vw_axes *ax)
{
	memset(ax, 0, sizeof *ax);
	ax->n = t->ndim < 0 ? 0 : t->ndim > LD_MAX_DIMS ? LD_MAX_DIMS : t->ndim;
	const char *p = t->axes;
	for (int d = 0; d < ax->n; d++) {
		size_t len = 0;
		if (p && *p) {
			len = strcspn(p, ",");
			size_t keep = len < sizeof ax->name[d] - 1 ? len : sizeof ax->name[d] - 1;
			memcpy(ax->name[d], p, keep);
			ax->name[d][keep] = '\0';
			p += len;
			if (*p == ',')
				p++;
		}
		if (len == 0)
			snprintf(ax->name[d], sizeof ax->name[d], "d%d", d);
		ax->slot[d] = VW_SLOT_OTHER;
		for (size_t k = 0; k < sizeof axis_slots / sizeof axis_slots[0]; k++)
			if (strcmp(ax->name[d], axis_slots[k].name) == 0) {
				ax->slot[d] = axis_slots[k].slot;
				ax->kv[d] = axis_slots[k].kv;
			}
	}
}

int vw_axes_find(const struct vw_axes *ax, enum vw_slot slot)
{
	for (int d = 0; d < ax->n; d++)
		if (ax->slot[d] == slot)
			return d;
	return -1;
}

size_t vw_masked_count(const struct ld_tensor *t)
{
	if (t->point != LD_PT_SCORES || t->ndim != 3)
		return 0;
	size_t h = t->shape[0], q = t->shape[1];
	return h * (q * (q - (q > 0)) / 2);
}

int vw_stats_bad(const struct ld_tensor *t, const struct ld_stats *s)
{
	return s->n_nan > 0 || s->n_posinf > 0 || s->n_neginf > vw_masked_count(t);
}

/* Skip "word.<digits>." once; return the new position or s unchanged. */
static const char *skip_indexed(const char *s, const char *word)
{
	size_t n = strlen(word);
	if (strncmp(s, word, n) != 0 || s[n] != '.')
		return s;
	const char *p = s + n + 1;
	if (*p < '0' || *p > '9')
		return s;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '.' ? p + 1 : s;
}

size_t vw_prefix_len(const char *name)
{
	const char *p = skip_indexed(name, "step");
	p = skip_indexed(p, "layers");
	return (size_t)(p - name);
}

const char *vw_short_name(const char *name)
{
	return name + vw_prefix_len(name);
}

/* Significant digits shown by a formatted number: digits from the first
 * non-zero one, the exponent excluded. */
static int sig_digits(const char *s)
{
	int n = 0, started = 0;
	for (; *s && *s != 'e'; s++) {
		if (*s >= '1' && *s <= '9')
			started = 1;
		if (started && *s >= '0' && *s <= '9')
			n++;
	}
	return n;
}

/* "%.{p}e" with the exponent shortened: 1.5e-05 -> 1.5e-5, 2e+10 -> 2e10. */
static int fmt_exp(char *out, size_t size, int p, double v)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%.*e", p, v);
	char *e = strchr(tmp, 'e');
	if (!e)
		return snprintf(out, size, "%s", tmp);
	char *q = e + 1;
	int neg = *q == '-';
	if (*q == '-' || *q == '+')
		q++;
	while (*q == '0' && q[1])
		q++;
	*e = '\0';
	return snprintf(out, size, "%se%s%s", tmp, neg ? "-" : "", q);
}

int vw_fmt_num(char *buf, size_t size, int width, double v)
{
	if (size == 0)
		return 0;
	if (width < 1)
		width = 1;
	if ((size_t)width >= size)
		width = (int)size - 1;
	const char *special = NULL;
	if (isnan(v))
		special = "nan";
	else if (isinf(v))
		special = v > 0 ? (width >= 4 ? "+inf" : "inf") : "-inf";
	if (special || v == 0) {
		if (!special)
			special = "0";
		if ((int)strlen(special) > width)
			goto hashes;
		return snprintf(buf, size, "%s", special);
	}

	char fixed[64] = "", expo[64] = "";
	int fixed_sig = -1, expo_sig = -1;
	double a = fabs(v);
	int neg = v < 0;
	int intd = a < 1 ? 1 : (int)floor(log10(a)) + 1;
	int room = width - neg - intd;
	if (room >= 0 && intd <= 20) {
		int dec = room >= 2 ? room - 1 : 0;
		/* no more than 7 significant digits: the rest of a float32 is noise */
		int lead0 = a < 1 ? (int)-floor(log10(a)) - 1 : 0;
		int sig = a < 1 ? dec - lead0 : intd + dec;
		if (sig > 7)
			dec -= sig - 7;
		if (dec < 0)
			dec = 0;
		int len = snprintf(fixed, sizeof fixed, "%.*f", dec, v);
		if (len > width && dec > 0) /* 9.99 rounded up to 10.0 */
			len = snprintf(fixed, sizeof fixed, "%.*f", dec - 1, v);
		if (len <= width)
			fixed_sig = sig_digits(fixed);
	}
	for (int p = 6; p >= 0; p--) {
		int len = fmt_exp(expo, sizeof expo, p, v);
		if (len <= width) {
			expo_sig = p + 1;
			break;
		}
	}
	if (fixed_sig >= 1 && fixed_sig >= expo_sig)
		return snprintf(buf, size, "%s", fixed);
	if (expo_sig >= 1)
		return snprintf(buf, size, "%s", expo);
	if (fixed_sig >= 0)
		return snprintf(buf, size, "%s", fixed);
hashes:
	for (int i = 0; i < width; i++)
		buf[i] = '#';
	buf[width] = '\0';
	return width;
}

int vw_grid_decimals(const struct ld_stats *st, int width)
{
	double m = fabs(st->min) > fabs(st->max) ? fabs(st->min) : fabs(st->max);
	if (!(m < 1e6) || (m < 1e-3 && m != 0))
		return -1;
	int intd = m < 1 ? 1 : (int)floor(log10(m)) + 1;
	int dec = width - 2 - intd; /* sign and point */
	if (dec > 6)
		dec = 6;
	return dec >= 1 ? dec : -1;
}

int vw_fmt_cell(char *buf, size_t size, int width, int dec, double v)
{
	if (dec >= 0 && isfinite(v)) {
		int n = snprintf(buf, size, "%.*f", dec, v);
		/* a value that is not zero never reads as one: rope_freqs' 1.3e-6
		 * at 5 decimals would print "0.00000" */
		if (n > 0 && n <= width && (v == 0 || strpbrk(buf, "123456789")))
			return n;
	}
	return vw_fmt_num(buf, size, width, v);
}

const char *vw_token_str(const struct ld_trace *tr, size_t pos)
{
	if (!tr->token_str || pos >= tr->n_tokens + tr->n_generated)
		return NULL;
	return tr->token_str[pos];
}

size_t vw_axis_pos(const struct ld_trace *tr, const struct ld_tensor *t, enum vw_slot slot, size_t i)
{
	/* decode step s feeds the s-th generated token, at position n_tokens+s-1 */
	if (slot == VW_SLOT_TOKEN && t->step > 0)
		return tr->n_tokens + (size_t)t->step - 1 + i;
	return i;
}
