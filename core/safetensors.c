/* safetensors.c - a strict safetensors reader and an atomic writer.
 *
 * A model file comes from the internet: every number in the header is
 * checked before it is used to compute an address.
 */
#include "safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "util.h"

#define MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

static int cmp_offset(const void *a, const void *b)
{
	const struct ld_st_tensor *x = a, *y = b;
	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Parse one tensor entry; fills t (name already set). */
static enum ld_status parse_entry(struct ld_st_tensor *t, json_t *v, size_t data_len,
                                  const char *path, struct ld_err *err)
{
	if (!json_is_object(v))
		return ld_fail(err, LD_ERR_FORMAT, "%s: tensor %s: entry is not an object", path, t->name);
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
	       *off = json_object_get(v, "data_offsets");
	if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off) || json_array_size(off) != 2)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: tensor %s: expected \"dtype\", \"shape\" and two \"data_offsets\"", path,
		               t->name);
	t->dtype = ld_dtype_parse(json_string_value(dt));
	if (t->dtype == LD_DTYPE_INVALID)
		return ld_fail(err, LD_ERR_DTYPE, "%s: tensor %s: unknown dtype \"%s\"", path, t->name,
		               json_string_value(dt));
	if (json_array_size(sh) > LD_ST_MAX_DIMS)
		return ld_fail(err, LD_ERR_SHAPE, "%s: tensor %s: %zu dimensions, at most %d supported", path,
		               t->name, json_array_size(sh), LD_ST_MAX_DIMS);
	t->ndim = (int)json_array_size(sh);
	size_t numel = 1;
	for (int i = 0; i < t->ndim; i++) {
		json_t *d = json_array_get(sh, (size_t)i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return ld_fail(err, LD_ERR_SHAPE, "%s: tensor %s: shape holds a non-integer or negative size",
			               path, t->name);
		t->shape[i] = (size_t)json_integer_value(d);
		if (t->shape[i] && numel > SIZE_MAX / t->shape[i])
			return ld_fail(err, LD_ERR_SHAPE, "%s: tensor %s: shape overflows", path, t->name);
		numel *= t->shape[i];
	}
	size_t esz = ld_dtype_size(t->dtype);
	if (numel > SIZE_MAX / esz)
		return ld_fail(err, LD_ERR_SHAPE, "%s: tensor %s: shape overflows", path, t->name);
	json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
	if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
	    json_integer_value(e) < json_integer_value(b))
		return ld_fail(err, LD_ERR_FORMAT, "%s: tensor %s: bad data_offsets", path, t->name);
	size_t begin = (size_t)json_integer_value(b), end = (size_t)json_integer_value(e);
	if (end > data_len)
		return ld_fail(err, LD_ERR_RANGE,
		               "%s: tensor %s: data_offsets [%zu, %zu] run past the end of the data (%zu bytes)",
		               path, t->name, begin, end, data_len);
	if (end - begin != numel * esz)
		return ld_fail(err, LD_ERR_SHAPE,
		               "%s: tensor %s: %zu bytes between data_offsets, shape and dtype need %zu", path,
		               t->name, end - begin, numel * esz);
	t->offset = begin;
	t->nbytes = end - begin;
	return LD_OK;
}

static enum ld_status parse_meta(struct ld_st_file *f, json_t *m, struct ld_err *err)
{
	if (!json_is_object(m))
		return ld_fail(err, LD_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
	size_t n = json_object_size(m);
	f->meta_keys = calloc(n + 1, sizeof *f->meta_keys);
	f->meta_vals = calloc(n + 1, sizeof *f->meta_vals);
	if (!f->meta_keys || !f->meta_vals)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", f->path);
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v) {
		if (!json_is_string(v))
			return ld_fail(err, LD_ERR_FORMAT, "%s: __metadata__ value \"%s\" is not a string", f->path, k);
		f->meta_keys[f->n_meta] = strdup(k);
		f->meta_vals[f->n_meta] = strdup(json_string_value(v));
		if (!f->meta_keys[f->n_meta] || !f->meta_vals[f->n_meta])
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", f->path);
		f->n_meta++;
	}
	return LD_OK;
}

enum ld_status ld_st_open(struct ld_st_file *f, const char *path, struct ld_err *err)
{
	enum ld_status st;
	json_t *root = NULL;
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	if ((st = ld_map_file(path, &f->map, &f->map_len, err)) != LD_OK)
		goto out;
	if (f->map_len < 8) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors header", path,
		             f->map_len);
		goto out;
	}
	const unsigned char *p = f->map;
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | p[i];
	if (hlen > MAX_HEADER || hlen > f->map_len - 8) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
		             path, (unsigned long long)hlen, f->map_len);
		goto out;
	}
	json_error_t jerr;
	root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: malformed JSON header: %s (at byte %d)", path, jerr.text,
		             jerr.position);
		goto out;
	}
	if (!json_is_object(root)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: JSON header is not an object", path);
		goto out;
	}
	size_t data_start = 8 + (size_t)hlen, data_len = f->map_len - data_start;
	f->t = calloc(json_object_size(root) + 1, sizeof *f->t);
	if (!f->t) {
		st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (strcmp(key, "__metadata__") == 0) {
			if ((st = parse_meta(f, val, err)) != LD_OK)
				goto out;
			continue;
		}
		struct ld_st_tensor *t = &f->t[f->n++];
		if (!(t->name = strdup(key))) {
			st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
			goto out;
		}
		if ((st = parse_entry(t, val, data_len, path, err)) != LD_OK)
			goto out;
		t->data = p + data_start + t->offset;
	}
	qsort(f->t, f->n, sizeof *f->t, cmp_offset);
	for (size_t i = 1; i < f->n; i++) {
		const struct ld_st_tensor *a = &f->t[i - 1], *b = &f->t[i];
		if (b->offset < a->offset + a->nbytes) {
			st = ld_fail(err, LD_ERR_RANGE, "%s: tensors %s and %s overlap in the data buffer", path,
			             a->name, b->name);
			goto out;
		}
	}
	st = LD_OK;
out:
	json_decref(root);
	if (st != LD_OK)
		ld_st_close(f);
	return st;
}

void ld_st_close(struct ld_st_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->t[i].name);
	free(f->t);
	for (size_t i = 0; i < f->n_meta; i++) {
		free(f->meta_keys[i]);
		free(f->meta_vals[i]);
	}
	free(f->meta_keys);
	free(f->meta_vals);
	ld_unmap_file(f->map, f->map_len);
	free(f->path);
	memset(f, 0, sizeof *f);
}

const struct ld_st_tensor *ld_st_find(const struct ld_st_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}

const char *ld_st_meta(const struct ld_st_file *f, const char *key)
{
	for (size_t i = 0; i < f->n_meta; i++)
		if (strcmp(f->meta_keys[i], key) == 0)
			return f->meta_vals[i];
	return NULL;
}

/* For the duplicate check: tensor names in order. */
static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum ld_status ld_st_header(const char *path, const struct ld_st_out *t, size_t n,
                            const char *const *meta_keys, const char *const *meta_vals,
                            size_t n_meta, char **text, struct ld_err *err)
{
	*text = NULL;
	/* Readers refuse a header with a name twice (or a tensor called
	 * __metadata__), so it is never written. */
	const char **names = malloc((n + 1) * sizeof *names);
	if (!names)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	for (size_t i = 0; i < n; i++)
		names[i] = t[i].name;
	names[n] = "__metadata__";
	qsort(names, n + 1, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], names[i + 1]) == 0) {
			enum ld_status st = ld_fail(err, LD_ERR_USAGE, "%s: two tensors named \"%s\"", path, names[i]);
			free(names);
			return st;
		}
	free(names);

	/* {"__metadata__":{"key":"value",...},"name":{"dtype":"F32","shape":[..],
	 * "data_offsets":[begin,end]},...}, in the order given */
	struct ld_jsonw b = {0};
	char num[64];
	ld_jsonw_raw(&b, "{", 1);
	if (n_meta) {
		ld_jsonw_cstr(&b, "\"__metadata__\":{");
		for (size_t i = 0; i < n_meta; i++) {
			if (i)
				ld_jsonw_raw(&b, ",", 1);
			ld_jsonw_string(&b, meta_keys[i], strlen(meta_keys[i]));
			ld_jsonw_raw(&b, ":", 1);
			ld_jsonw_string(&b, meta_vals[i], strlen(meta_vals[i]));
		}
		ld_jsonw_raw(&b, "}", 1);
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		if (i || n_meta)
			ld_jsonw_raw(&b, ",", 1);
		ld_jsonw_string(&b, t[i].name, strlen(t[i].name));
		ld_jsonw_cstr(&b, ":{\"dtype\":");
		ld_jsonw_string(&b, ld_dtype_name(t[i].dtype), strlen(ld_dtype_name(t[i].dtype)));
		ld_jsonw_cstr(&b, ",\"shape\":[");
		for (int d = 0; d < t[i].ndim; d++) {
			snprintf(num, sizeof num, d ? ",%zu" : "%zu", t[i].shape[d]);
			ld_jsonw_cstr(&b, num);
		}
		snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
		ld_jsonw_cstr(&b, num);
		off += t[i].nbytes;
	}
	ld_jsonw_raw(&b, "}", 1);
	if (!(*text = ld_jsonw_take(&b)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	return LD_OK;
}

enum ld_status ld_st_write(const char *path, const struct ld_st_out *t, size_t n,
                           const char *const *meta_keys, const char *const *meta_vals,
                           size_t n_meta, int force, struct ld_err *err)
{
	char *text = NULL;
	struct ld_atomic a = {.fd = -1};
	enum ld_status st = ld_st_header(path, t, n, meta_keys, meta_vals, n_meta, &text, err);
	if (st != LD_OK)
		return st;
	/* Pad the header with spaces so the data starts 8-byte aligned. */
	size_t hlen = strlen(text), padded = (hlen + 8 + 7) / 8 * 8 - 8;
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	static const char spaces[8] = "        ";
	if ((st = ld_atomic_open(&a, path, force, err)) != LD_OK)
		goto out;
	if ((st = ld_atomic_write(&a, len8, 8, err)) != LD_OK ||
	    (st = ld_atomic_write(&a, text, hlen, err)) != LD_OK ||
	    (st = ld_atomic_write(&a, spaces, padded - hlen, err)) != LD_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((st = ld_atomic_write(&a, t[i].data, t[i].nbytes, err)) != LD_OK)
			goto out;
	st = ld_atomic_commit(&a, err);
out:
	if (st != LD_OK)
		ld_atomic_abort(&a);
	free(text);
	return st;
}
