/* trace_points.c - lookups into the catalogue of trace_points.h. */
#include "trace_points.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ld_point_info catalogue[LD_PT_COUNT] = {
#define LD_X_INFO(id, name, axes, op, doc) {name, axes, op, doc},
	LD_TRACE_POINTS(LD_X_INFO)
#undef LD_X_INFO
};

const struct ld_point_info *ld_point_info(enum ld_point p)
{
	if ((unsigned)p >= LD_PT_COUNT)
		return NULL;
	return &catalogue[p];
}

int ld_point_per_layer(enum ld_point p)
{
	return (unsigned)p < LD_PT_COUNT && strstr(catalogue[p].name, "{i}") != NULL;
}

int ld_point_lens(enum ld_point p)
{
	switch (p) {
	case LD_PT_LENS_IDS:
	case LD_PT_LENS_PROBS: return 1;
	case LD_PT_LENS_MID_IDS:
	case LD_PT_LENS_MID_PROBS: return 2;
	default: return 0;
	}
}

int ld_point_sweep(enum ld_point p)
{
	return p == LD_PT_ABLATION_HEADS || p == LD_PT_ABLATION_FFN;
}

int ld_point_name(char *buf, size_t size, enum ld_point p, int step, int layer)
{
	const char *pat = catalogue[p].name;
	const char *brace = strstr(pat, "{i}");
	char prefix[32] = "";
	if (step > 0)
		snprintf(prefix, sizeof prefix, "step.%d.", step);
	if (!brace)
		return snprintf(buf, size, "%s%s", prefix, pat);
	return snprintf(buf, size, "%s%.*s%d%s", prefix, (int)(brace - pat), pat, layer, brace + 3);
}

/* Read a non-negative decimal integer; returns the end or NULL. */
static const char *parse_uint(const char *s, int *out)
{
	if (*s < '0' || *s > '9')
		return NULL;
	long v = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s++ - '0');
		if (v > 1000000000L)
			return NULL;
	}
	*out = (int)v;
	return s;
}

int ld_point_parse(const char *name, enum ld_point *p, int *step, int *layer)
{
	int s = 0, l = -1;
	if (strncmp(name, "step.", 5) == 0) {
		const char *rest = parse_uint(name + 5, &s);
		if (!rest || *rest != '.' || s == 0)
			return -1;
		name = rest + 1;
	}
	for (int i = 0; i < LD_PT_COUNT; i++) {
		const char *pat = catalogue[i].name;
		const char *brace = strstr(pat, "{i}");
		if (!brace) {
			if (strcmp(name, pat) != 0)
				continue;
			l = -1;
		} else {
			size_t head = (size_t)(brace - pat);
			if (strncmp(name, pat, head) != 0)
				continue;
			const char *rest = parse_uint(name + head, &l);
			if (!rest || strcmp(rest, brace + 3) != 0)
				continue;
		}
		*p = (enum ld_point)i;
		*step = s;
		*layer = l;
		return 0;
	}
	return -1;
}
