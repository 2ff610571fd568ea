/* trace_size.c - the bytes a trace request will record, and whether they fit. */
#include "trace_size.h"

#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "trace.h"
#include "util.h"

/* Length of one axis, by its catalogue name. "dim" is the head dim on a
 * per-head tensor and the model dim otherwise. */
static size_t axis_len(const char *axis, size_t len, int per_head, const struct ld_config *c, size_t T,
                       size_t S)
{
#define IS(name) (len == sizeof name - 1 && memcmp(axis, name, len) == 0)
	if (IS("layer"))
		return (size_t)c->n_layers;
	if (IS("token") || IS("query"))
		return T;
	if (IS("key"))
		return S;
	if (IS("head"))
		return (size_t)c->n_heads;
	if (IS("kv_head"))
		return (size_t)c->n_kv_heads;
	if (IS("dim"))
		return per_head ? (size_t)c->head_dim : (size_t)c->dim;
	if (IS("ffn"))
		return (size_t)c->ffn_dim;
	if (IS("vocab"))
		return (size_t)c->vocab_size;
	if (IS("label"))
		return (size_t)c->n_labels;
	if (IS("pair"))
		return (size_t)c->head_dim / 2;
	return 0;
#undef IS
}

int ld_point_shape(enum ld_point p, const struct ld_config *c, size_t T, size_t S, size_t *shape)
{
	const struct ld_point_info *info = ld_point_info(p);
	if (!info)
		return 0;
	int per_head = strstr(info->axes, "head") != NULL, ndim = 0;
	for (const char *a = info->axes; *a && ndim < 4;) {
		size_t len = strcspn(a, ",");
		shape[ndim++] = axis_len(a, len, per_head, c, T, S);
		a += len + (a[len] == ',');
	}
	return ndim;
}

size_t ld_point_numel(enum ld_point p, const struct ld_config *c, size_t T, size_t S)
{
	const struct ld_point_info *info = ld_point_info(p);
	if (!info)
		return 0;
	const char *axes = info->axes;
	int per_head = strstr(axes, "head") != NULL;
	size_t n = 1;
	for (const char *a = axes; *a;) {
		size_t len = strcspn(a, ",");
		size_t k = axis_len(a, len, per_head, c, T, S);
		n = k && n > SIZE_MAX / k ? SIZE_MAX : n * k;
		a += len + (a[len] == ',');
	}
	return n;
}

/* Is point p recorded by this model at all (logits or a classifier's score)? */
static int model_has(enum ld_point p, const struct ld_config *c)
{
	if (p == LD_PT_LOGITS)
		return c->n_labels == 0;
	if (p == LD_PT_SCORE)
		return c->n_labels > 0;
	if (ld_point_lens(p))
		return c->n_labels == 0;
	return !ld_point_sweep(p); /* the sweep's further passes add their own */
}

static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

struct ld_trace_cost ld_trace_cost(const struct ld_config *c, size_t n_tokens,
                                   const struct ld_forward_opts *o)
{
	struct ld_trace_cost cost = {0, LD_PT_TOKENS, 0, 0, 0};
	size_t per_kind[LD_PT_COUNT] = {0};
	/* Every generated token but the last is fed back: a decode step each. */
	int steps = o && o->n_generate > 1 ? o->n_generate - 1 : 0;
	for (int step = 0; step <= steps; step++) {
		size_t T = step ? 1 : n_tokens, S = n_tokens + (size_t)step;
		for (int p = 0; p < LD_PT_COUNT; p++) {
			if (!model_has(p, c) || (step && p == LD_PT_ROPE_FREQS)) /* the model's, once */
				continue;
			int lens = ld_point_lens(p); /* only on request: K guesses per token */
			if (lens && (!o || o->lens_k <= 0 || (lens == 2 && !o->lens_mid)))
				continue;
			size_t numel = lens ? T * (size_t)o->lens_k : ld_point_numel(p, c, T, S);
			size_t bytes = numel > SIZE_MAX / 4 ? SIZE_MAX : numel * 4; /* f32 or i32 */
			int layers = ld_point_per_layer(p) ? c->n_layers : 1;
			for (int i = 0; i < layers; i++) {
				char name[96];
				ld_point_name(name, sizeof name, p, step, i);
				if (ld_forward_wants(o, name)) {
					per_kind[p] = add_sat(per_kind[p], bytes);
					cost.points++;
					cost.header = add_sat(cost.header, ld_trace_point_header(name, (enum ld_point)p));
				}
			}
		}
	}
	for (int p = 0; p < LD_PT_COUNT; p++) {
		cost.bytes = add_sat(cost.bytes, per_kind[p]);
		if (per_kind[p] > cost.largest_bytes) {
			cost.largest_bytes = per_kind[p];
			cost.largest = p;
		}
	}
	return cost;
}

/* "34.2 GB", "812 MB", "4.0 KB", with more digits when a and b would
 * otherwise print the same. */
static void human2(char *abuf, char *bbuf, size_t size, size_t a, size_t b)
{
	for (int digits = 1; digits <= 4; digits++) {
		size_t v[2] = {a, b};
		char *out[2] = {abuf, bbuf};
		for (int k = 0; k < 2; k++) {
			double x = (double)v[k];
			if (x >= 1e9)
				snprintf(out[k], size, "%.*f GB", digits, x / 1e9);
			else if (x >= 1e6)
				snprintf(out[k], size, "%.*f MB", digits - 1, x / 1e6);
			else
				snprintf(out[k], size, "%.*f KB", digits, x / 1e3);
		}
		if (strcmp(abuf, bbuf) != 0)
			return;
	}
}

/* "layers.{i}.scores" -> "layers.*.scores", the form --only takes. */
static void as_glob(char *buf, size_t size, const char *pattern)
{
	const char *brace = strstr(pattern, "{i}");
	if (brace)
		snprintf(buf, size, "%.*s*%s", (int)(brace - pattern), pattern, brace + 3);
	else
		snprintf(buf, size, "%s", pattern);
}

enum ld_status ld_trace_fits(const struct ld_trace_cost *cost, size_t n_tokens, size_t memory,
                             size_t disk, const char *disk_path, struct ld_err *err)
{
	char need[32], have[32], big[32], unused[32], glob[96];
	const char *room;
	if (cost->bytes > memory) {
		human2(need, have, sizeof need, cost->bytes, memory);
		room = "of memory available";
	} else if (cost->bytes > disk) {
		human2(need, have, sizeof need, cost->bytes, disk);
		room = "free where it is written:";
	} else {
		return LD_OK;
	}
	human2(big, unused, sizeof big, cost->largest_bytes, 0);
	as_glob(glob, sizeof glob, ld_point_info(cost->largest)->name);
	return ld_fail(err, LD_ERR_RANGE,
	               "a trace of %zu tokens would record %s (%s of it %s), more than the %s %s%s%s; "
	               "record less with --only, e.g. --only 'layers.0.*' or --only '*resid_out'",
	               n_tokens, need, big, glob, have, room, cost->bytes > memory ? "" : " ",
	               cost->bytes > memory ? "" : disk_path);
}

/* "12345", "512M", "2G" -> bytes; 0 on a malformed value. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s)
		return 0;
	unsigned shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > (SIZE_MAX >> shift))
		return 0;
	return (size_t)v << shift;
}

size_t ld_memory_available(void)
{
	const char *env = getenv("LLAMADBG_MEMORY");
	if (env && *env) {
		size_t v = parse_size(env);
		if (v)
			return v;
	}
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return SIZE_MAX;
	char line[256];
	size_t kb = 0;
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = sscanf(line, "MemAvailable: %zu kB", &kb) == 1;
	fclose(f);
	if (!found || kb >= SIZE_MAX / 1024)
		return SIZE_MAX;
	/* and what this process keeps for its next pass (util.h's pool) */
	size_t kept = ld_pool_bytes();
	return kb * 1024 > SIZE_MAX - kept ? SIZE_MAX : kb * 1024 + kept;
}

size_t ld_disk_available(const char *path)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	struct statvfs sv;
	if (statvfs(dirname(copy), &sv) != 0)
		return SIZE_MAX;
	unsigned long long free_bytes = (unsigned long long)sv.f_bavail * sv.f_frsize;
	return free_bytes > SIZE_MAX ? SIZE_MAX : (size_t)free_bytes;
}
