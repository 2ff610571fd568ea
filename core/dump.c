/* dump.c - tensors to .npy (NumPy v1.0), .csv and .txt files. */
#include "dump.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int ld_dump_fmt_parse(const char *s)
{
	if (strcmp(s, "npy") == 0)
		return LD_DUMP_NPY;
	if (strcmp(s, "csv") == 0)
		return LD_DUMP_CSV;
	if (strcmp(s, "txt") == 0)
		return LD_DUMP_TXT;
	return -1;
}

const char *ld_dump_fmt_ext(enum ld_dump_fmt f)
{
	return f == LD_DUMP_NPY ? "npy" : f == LD_DUMP_CSV ? "csv" : "txt";
}

struct ld_dump_view ld_dump_view_of(const struct ld_tensor *t)
{
	return (struct ld_dump_view){t->name, t->axes, t->dtype, t->ndim, t->shape, t->data};
}

static size_t view_numel(const struct ld_dump_view *v)
{
	size_t n = 1;
	for (int d = 0; d < v->ndim; d++)
		n *= v->shape[d];
	return n;
}

/* A growable text buffer, flushed to the atomic file when large. */
struct out {
	struct ld_atomic *a;
	char buf[1 << 16];
	size_t len;
	enum ld_status st;
	struct ld_err *err;
};

static void out_flush(struct out *o)
{
	if (o->st == LD_OK && o->len)
		o->st = ld_atomic_write(o->a, o->buf, o->len, o->err);
	o->len = 0;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	if (sizeof o->buf - o->len < 256)
		out_flush(o);
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		o->len += (size_t)w < sizeof o->buf - o->len ? (size_t)w : sizeof o->buf - o->len - 1;
}

/* One value as text: %.9g round-trips a float32; nan/inf as NumPy spells them. */
static void out_value(struct out *o, const struct ld_dump_view *v, size_t i)
{
	if (v->dtype == LD_I32) {
		int32_t x;
		memcpy(&x, (const char *)v->data + 4 * i, 4);
		out_printf(o, "%d", (int)x);
		return;
	}
	float f;
	memcpy(&f, (const char *)v->data + 4 * i, 4);
	if (isnan(f))
		out_printf(o, "nan");
	else if (isinf(f))
		out_printf(o, f > 0 ? "inf" : "-inf");
	else
		out_printf(o, "%.9g", (double)f);
}

/* The i-th comma-separated axis name, or "dimN". */
static void axis_name(char *buf, size_t size, const char *axes, int i)
{
	const char *p = axes ? axes : "";
	for (int k = 0; k < i && p; k++) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	size_t n = p ? strcspn(p, ",") : 0;
	if (n == 0)
		snprintf(buf, size, "dim%d", i);
	else
		snprintf(buf, size, "%.*s", (int)n, p);
}

static void write_npy(struct out *o, const struct ld_dump_view *v)
{
	char dict[256];
	int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
	                 v->dtype == LD_I32 ? "<i4" : "<f4");
	for (int d = 0; d < v->ndim; d++)
		n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu,%s", v->shape[d],
		              d + 1 < v->ndim ? " " : "");
	n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
	/* magic(6) + version(2) + u16 length + dict, padded with spaces and a
	 * final newline to a multiple of 64 bytes. */
	size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
	size_t hlen = total - 10;
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
	                         (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
	memcpy(o->buf, pre, 10);
	memcpy(o->buf + 10, dict, (size_t)n);
	memset(o->buf + 10 + n, ' ', hlen - (size_t)n - 1);
	o->buf[total - 1] = '\n';
	o->len = total;
	out_flush(o);
	if (o->st == LD_OK)
		o->st = ld_atomic_write(o->a, v->data, view_numel(v) * 4, o->err);
}

/* CSV: one row per index of the leading axes, the last axis across. */
static void write_csv(struct out *o, const struct ld_dump_view *v)
{
	char ax[64];
	int lead = v->ndim - 1;
	size_t cols = v->shape[v->ndim - 1], rows = view_numel(v) / (cols ? cols : 1);
	if (v->ndim == 1) { /* a vector: one row per element */
		axis_name(ax, sizeof ax, v->axes, 0);
		out_printf(o, "%s,value\n", ax);
		for (size_t i = 0; i < cols; i++) {
			out_printf(o, "%zu,", i);
			out_value(o, v, i);
			out_printf(o, "\n");
		}
		return;
	}
	for (int d = 0; d < lead; d++) {
		axis_name(ax, sizeof ax, v->axes, d);
		out_printf(o, "%s,", ax);
	}
	axis_name(ax, sizeof ax, v->axes, lead);
	for (size_t c = 0; c < cols; c++)
		out_printf(o, "%s%s%zu", c ? "," : "", ax, c);
	out_printf(o, "\n");
	for (size_t r = 0; r < rows; r++) {
		size_t rem = r, idx[LD_MAX_DIMS] = {0};
		for (int d = lead - 1; d >= 0; d--) {
			idx[d] = rem % v->shape[d];
			rem /= v->shape[d];
		}
		for (int d = 0; d < lead; d++)
			out_printf(o, "%zu,", idx[d]);
		for (size_t c = 0; c < cols; c++) {
			if (c)
				out_printf(o, ",");
			out_value(o, v, r * cols + c);
		}
		out_printf(o, "\n");
	}
}

/* Text: a header with the shape, then the last axis across, one line per
 * leading index, a blank line between 2-D slices. */
static void write_txt(struct out *o, const struct ld_dump_view *v)
{
	char ax[64];
	out_printf(o, "# %s: ", v->name);
	for (int d = 0; d < v->ndim; d++) {
		axis_name(ax, sizeof ax, v->axes, d);
		out_printf(o, "%s%s %zu", d ? " x " : "", ax, v->shape[d]);
	}
	out_printf(o, " (%s)\n", v->dtype == LD_I32 ? "int32" : "float32");
	size_t cols = v->shape[v->ndim - 1], rows = view_numel(v) / (cols ? cols : 1);
	size_t slice_rows = v->ndim >= 2 ? v->shape[v->ndim - 2] : rows;
	for (size_t r = 0; r < rows; r++) {
		if (v->ndim > 2 && r > 0 && r % slice_rows == 0)
			out_printf(o, "\n");
		for (size_t c = 0; c < cols; c++) {
			if (c)
				out_printf(o, " ");
			out_value(o, v, r * cols + c);
		}
		out_printf(o, "\n");
	}
}

enum ld_status ld_dump_write(const char *path, enum ld_dump_fmt fmt, const struct ld_dump_view *v,
                             int force, struct ld_err *err)
{
	struct ld_atomic a;
	enum ld_status st;
	if (v->ndim < 1 || v->ndim > LD_MAX_DIMS || (v->dtype != LD_F32 && v->dtype != LD_I32))
		return ld_fail(err, LD_ERR_USAGE, "%s: cannot dump a %d-D %s tensor", path, v->ndim,
		               ld_dtype_name(v->dtype));
	struct out *o = calloc(1, sizeof *o);
	if (!o)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	if ((st = ld_atomic_open(&a, path, force, err)) != LD_OK) {
		free(o);
		return st;
	}
	o->a = &a;
	o->err = err;
	o->st = LD_OK;
	if (fmt == LD_DUMP_NPY)
		write_npy(o, v);
	else if (fmt == LD_DUMP_CSV)
		write_csv(o, v);
	else
		write_txt(o, v);
	out_flush(o);
	st = o->st;
	free(o);
	if (st != LD_OK) {
		ld_atomic_abort(&a);
		return st;
	}
	return ld_atomic_commit(&a, err);
}
