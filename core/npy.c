/* npy.c - the .npy reader.
 *
 * A .npy file is: the magic "\x93NUMPY", a major and a minor version byte,
 * the header length (2 bytes little-endian in version 1, 4 bytes in 2 and
 * 3), then the header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (5, 64), }
 * padded with spaces and ended by '\n', then the raw little-endian data in
 * C (row-major) order.
 */
#include "npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void ld_npy_free(struct ld_npy *a)
{
	free(a->f32);
	free(a->i32);
	memset(a, 0, sizeof *a);
}

void ld_npy_shape_str(const size_t *shape, int ndim, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "(");
	for (int d = 0; d < ndim && n < size; d++)
		n += (size_t)snprintf(buf + n, size - n, "%s%zu", d ? ", " : "", shape[d]);
	if (n < size)
		snprintf(buf + n, size - n, ndim == 1 ? ",)" : ")");
}

/* A cursor over the header text. */
struct hdr {
	const char *s, *end;
};

static void skip_spaces(struct hdr *h)
{
	while (h->s < h->end && *h->s == ' ')
		h->s++;
}

static int eat(struct hdr *h, char c)
{
	skip_spaces(h);
	if (h->s < h->end && *h->s == c) {
		h->s++;
		return 1;
	}
	return 0;
}

/* A quoted string 'like this' (no escapes: the three keys and the dtypes
 * need none) into buf. */
static int quoted(struct hdr *h, char *buf, size_t size)
{
	skip_spaces(h);
	if (h->s >= h->end || (*h->s != '\'' && *h->s != '"'))
		return 0;
	char q = *h->s++;
	size_t n = 0;
	while (h->s < h->end && *h->s != q) {
		if (n + 1 >= size || *h->s == '\\')
			return 0;
		buf[n++] = *h->s++;
	}
	if (h->s >= h->end)
		return 0;
	h->s++;
	buf[n] = '\0';
	return 1;
}

static int word(struct hdr *h, const char *w)
{
	skip_spaces(h);
	size_t n = strlen(w);
	if ((size_t)(h->end - h->s) < n || memcmp(h->s, w, n) != 0)
		return 0;
	h->s += n;
	return 1;
}

/* (), (5,), (5, 64), (5, 64,) */
static int shape_tuple(struct hdr *h, struct ld_npy *a)
{
	if (!eat(h, '('))
		return 0;
	int comma = 0; /* after the last size */
	a->ndim = 0;
	for (;;) {
		if (eat(h, ')'))
			break;
		if (h->s >= h->end || *h->s < '0' || *h->s > '9' || a->ndim == LD_MAX_DIMS)
			return 0;
		size_t v = 0;
		while (h->s < h->end && *h->s >= '0' && *h->s <= '9') {
			if (v > (SIZE_MAX - 9) / 10)
				return 0;
			v = v * 10 + (size_t)(*h->s++ - '0');
		}
		a->shape[a->ndim++] = v;
		comma = eat(h, ',');
		if (!comma && !eat(h, ')'))
			return 0;
		if (!comma)
			break;
	}
	/* Python writes a 1-tuple as (5,); (5) is just the number 5. */
	return a->ndim != 1 || comma;
}

#define FAIL(...) ld_fail(err, LD_ERR_FORMAT, __VA_ARGS__)

static enum ld_status parse_header(struct hdr *h, const char *path, struct ld_npy *a, int *fortran,
                                   struct ld_err *err)
{
	int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
	char key[32], descr[16];
	if (!eat(h, '{'))
		return FAIL("%s: .npy header is not a dict (expected '{')", path);
	for (;;) {
		if (eat(h, '}'))
			break;
		if (!quoted(h, key, sizeof key))
			return FAIL("%s: .npy header: expected a quoted key", path);
		if (!eat(h, ':'))
			return FAIL("%s: .npy header: expected ':' after '%s'", path, key);
		if (strcmp(key, "descr") == 0 && !seen_descr) {
			if (!quoted(h, descr, sizeof descr))
				return FAIL("%s: .npy header: 'descr' is not a dtype string", path);
			if (strcmp(descr, "<f4") == 0)
				a->dtype = LD_F32;
			else if (strcmp(descr, "<f2") == 0)
				a->dtype = LD_F16;
			else if (strcmp(descr, "<i4") == 0)
				a->dtype = LD_I32;
			else
				return ld_fail(err, LD_ERR_DTYPE,
				               "%s: .npy dtype '%s' is not supported (expected '<f4', '<f2' or '<i4')",
				               path, descr);
			seen_descr = 1;
		} else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
			if (word(h, "False"))
				*fortran = 0;
			else if (word(h, "True"))
				*fortran = 1;
			else
				return FAIL("%s: .npy header: 'fortran_order' is not True or False", path);
			seen_fortran = 1;
		} else if (strcmp(key, "shape") == 0 && !seen_shape) {
			if (!shape_tuple(h, a))
				return FAIL("%s: .npy header: 'shape' is not a tuple of at most %d sizes", path,
				            LD_MAX_DIMS);
			seen_shape = 1;
		} else {
			return FAIL("%s: .npy header: unexpected or repeated key '%s'", path, key);
		}
		if (eat(h, '}'))
			break;
		if (!eat(h, ','))
			return FAIL("%s: .npy header: expected ',' or '}' after '%s'", path, key);
	}
	skip_spaces(h);
	if (h->s < h->end && *h->s == '\n')
		h->s++;
	if (h->s != h->end)
		return FAIL("%s: .npy header: unexpected text after the dict", path);
	if (!seen_descr || !seen_fortran || !seen_shape)
		return FAIL("%s: .npy header lacks '%s'", path,
		            !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
	return LD_OK;
}

enum ld_status ld_npy_parse(const void *buf, size_t len, const char *path, struct ld_npy *a,
                            struct ld_err *err)
{
	const unsigned char *b = buf;
	memset(a, 0, sizeof *a);
	if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
		return FAIL("%s: not a .npy file (no \\x93NUMPY magic)", path);
	int major = b[6];
	if (major < 1 || major > 3 || b[7] != 0)
		return FAIL("%s: .npy version %d.%d is not supported (expected 1.0, 2.0 or 3.0)", path, major,
		            b[7]);
	size_t pre = major == 1 ? 10 : 12, hlen;
	if (len < pre)
		return FAIL("%s: truncated .npy header", path);
	hlen = major == 1 ? (size_t)b[8] | (size_t)b[9] << 8
	                  : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
	if (hlen > len - pre)
		return FAIL("%s: truncated .npy header (%zu bytes announced, %zu present)", path, hlen,
		            len - pre);
	struct hdr h = {(const char *)b + pre, (const char *)b + pre + hlen};
	int fortran = 0;
	enum ld_status st = parse_header(&h, path, a, &fortran, err);
	if (st != LD_OK)
		return st;
	size_t numel = 1;
	for (int d = 0; d < a->ndim; d++) {
		if (a->shape[d] && numel > SIZE_MAX / 8 / a->shape[d])
			return FAIL("%s: .npy shape is too large", path);
		numel *= a->shape[d];
	}
	/* Fortran order matters only when two or more axes are longer than 1. */
	int long_axes = 0;
	for (int d = 0; d < a->ndim; d++)
		long_axes += a->shape[d] > 1;
	if (fortran && long_axes > 1)
		return FAIL("%s: .npy array is in Fortran order (save it with np.ascontiguousarray)", path);
	size_t item = a->dtype == LD_F16 ? 2 : 4, want = numel * item, have = len - pre - hlen;
	if (have != want)
		return FAIL("%s: .npy data is %zu bytes, its shape needs %zu (%s)", path, have, want,
		            have < want ? "truncated" : "trailing bytes");
	a->numel = numel;
	const unsigned char *data = b + pre + hlen;
	if (a->dtype == LD_I32) {
		a->i32 = malloc(numel ? numel * 4 : 1);
		if (!a->i32)
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
		for (size_t i = 0; i < numel; i++)
			a->i32[i] = (int32_t)((uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
			                      (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24);
		return LD_OK;
	}
	a->f32 = malloc(numel ? numel * sizeof(float) : 1);
	if (!a->f32)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	for (size_t i = 0; i < numel; i++) {
		if (a->dtype == LD_F16) {
			a->f32[i] = ld_f16_to_f32((uint16_t)(data[2 * i] | data[2 * i + 1] << 8));
		} else {
			uint32_t u = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
			             (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24;
			memcpy(&a->f32[i], &u, 4);
		}
	}
	return LD_OK;
}

enum ld_status ld_npy_read(const char *path, struct ld_npy *a, struct ld_err *err)
{
	char *buf;
	size_t len;
	memset(a, 0, sizeof *a);
	enum ld_status st = ld_read_file(path, (size_t)1 << 36, &buf, &len, err);
	if (st != LD_OK)
		return st;
	st = ld_npy_parse(buf, len, path, a, err);
	free(buf);
	return st;
}
