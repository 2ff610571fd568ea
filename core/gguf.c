/* gguf.c - read and validate a GGUF file in place (layout in gguf.h). */
#include "gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- tensor types --------------------------------------------------------- */

/* ggml's tensor type numbers: the ones llamadbg reads map to a dtype, the
 * others are named so that the error says what the file holds. */
static const struct {
	uint32_t num;
	const char *name;
	enum ld_dtype dtype; /* LD_DTYPE_INVALID: not read */
} ggml_types[] = {
	{0, "F32", LD_F32},      {1, "F16", LD_F16},      {2, "Q4_0", LD_Q4_0},
	{3, "Q4_1", LD_Q4_1},    {6, "Q5_0", LD_Q5_0},    {7, "Q5_1", LD_Q5_1},
	{8, "Q8_0", LD_Q8_0},    {9, "Q8_1", 0},          {10, "Q2_K", LD_Q2_K},
	{11, "Q3_K", LD_Q3_K},   {12, "Q4_K", LD_Q4_K},   {13, "Q5_K", LD_Q5_K},
	{14, "Q6_K", LD_Q6_K},   {15, "Q8_K", 0},         {16, "IQ2_XXS", 0},
	{17, "IQ2_XS", 0},       {18, "IQ3_XXS", 0},      {19, "IQ1_S", 0},
	{20, "IQ4_NL", 0},       {21, "IQ3_S", 0},        {22, "IQ2_S", 0},
	{23, "IQ4_XS", 0},       {24, "I8", 0},           {25, "I16", 0},
	{26, "I32", 0},          {27, "I64", 0},          {28, "F64", 0},
	{29, "IQ1_M", 0},        {30, "BF16", LD_BF16},   {34, "TQ1_0", 0},
	{35, "TQ2_0", 0},        {39, "MXFP4", 0},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

const char *ld_gguf_ggml_type_name(uint32_t type)
{
	for (size_t i = 0; i < N_GGML_TYPES; i++)
		if (ggml_types[i].num == type)
			return ggml_types[i].name;
	return NULL;
}

static enum ld_dtype ggml_dtype(uint32_t type)
{
	for (size_t i = 0; i < N_GGML_TYPES; i++)
		if (ggml_types[i].num == type)
			return ggml_types[i].dtype;
	return LD_DTYPE_INVALID;
}

/* ---- metadata value types ------------------------------------------------ */

size_t ld_gguf_type_size(enum ld_gguf_type t)
{
	switch (t) {
	case LD_GGUF_U8: case LD_GGUF_I8: case LD_GGUF_BOOL: return 1;
	case LD_GGUF_U16: case LD_GGUF_I16: return 2;
	case LD_GGUF_U32: case LD_GGUF_I32: case LD_GGUF_F32: return 4;
	case LD_GGUF_U64: case LD_GGUF_I64: case LD_GGUF_F64: return 8;
	default: return 0;
	}
}

const char *ld_gguf_type_name(enum ld_gguf_type t)
{
	static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
	                                    "bool", "string", "array", "u64", "i64", "f64"};
	return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static int is_int_type(enum ld_gguf_type t)
{
	return t == LD_GGUF_U8 || t == LD_GGUF_I8 || t == LD_GGUF_U16 || t == LD_GGUF_I16 ||
	       t == LD_GGUF_U32 || t == LD_GGUF_I32 || t == LD_GGUF_U64 || t == LD_GGUF_I64;
}

/* Decode one fixed-size little-endian value at p into its three widenings. */
static void decode_scalar(enum ld_gguf_type t, const unsigned char *p, uint64_t *u, int64_t *i,
                          double *f)
{
	uint64_t raw = 0;
	size_t n = ld_gguf_type_size(t);
	for (size_t k = 0; k < n; k++)
		raw |= (uint64_t)p[k] << (8 * k);
	*u = raw;
	*i = (int64_t)raw;
	switch (t) {
	case LD_GGUF_I8: *i = (int8_t)raw; break;
	case LD_GGUF_I16: *i = (int16_t)raw; break;
	case LD_GGUF_I32: *i = (int32_t)raw; break;
	case LD_GGUF_I64: memcpy(i, &raw, 8); break;
	default: break;
	}
	if (t == LD_GGUF_F32) {
		uint32_t b = (uint32_t)raw;
		float v;
		memcpy(&v, &b, 4);
		*f = v;
	} else if (t == LD_GGUF_F64) {
		memcpy(f, &raw, 8);
	} else if (t == LD_GGUF_I8 || t == LD_GGUF_I16 || t == LD_GGUF_I32 || t == LD_GGUF_I64) {
		*f = (double)*i;
	} else {
		*f = (double)raw;
		if (t == LD_GGUF_BOOL)
			*u = raw != 0;
		/* an unsigned value too large for int64 keeps i negative: callers
		 * that range-check i see it as out of range */
	}
}

/* ---- the reader ------------------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t len, pos;
	const char *path;
	struct ld_err *err;
};

static enum ld_status need(struct rd *r, size_t n)
{
	if (n > r->len - r->pos)
		return ld_fail(r->err, LD_ERR_FORMAT, "%s: truncated (needs %zu bytes at offset %zu, the file has %zu)",
		               r->path, n, r->pos, r->len);
	return LD_OK;
}

static enum ld_status rd_u32(struct rd *r, uint32_t *v)
{
	if (need(r, 4))
		return LD_ERR_FORMAT;
	*v = (uint32_t)r->p[r->pos] | (uint32_t)r->p[r->pos + 1] << 8 | (uint32_t)r->p[r->pos + 2] << 16 |
	     (uint32_t)r->p[r->pos + 3] << 24;
	r->pos += 4;
	return LD_OK;
}

static enum ld_status rd_u64(struct rd *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (rd_u32(r, &lo) || rd_u32(r, &hi))
		return LD_ERR_FORMAT;
	*v = (uint64_t)hi << 32 | lo;
	return LD_OK;
}

/* A string: u64 length and the bytes, which must be inside the file. */
static enum ld_status rd_str(struct rd *r, struct ld_gguf_str *s, const char *what)
{
	uint64_t n;
	size_t at = r->pos;
	if (rd_u64(r, &n))
		return LD_ERR_FORMAT;
	if (n > r->len - r->pos)
		return ld_fail(r->err, LD_ERR_FORMAT,
		               "%s: %s at offset %zu has a string length (%" PRIu64 ") past the end of the file (%zu bytes)",
		               r->path, what, at, n, r->len);
	s->p = (const char *)r->p + r->pos;
	s->len = (size_t)n;
	r->pos += (size_t)n;
	return LD_OK;
}

/* A NUL-terminated copy of a name (key or tensor), which must not be
 * empty or hold a NUL byte. */
static enum ld_status name_copy(struct rd *r, const struct ld_gguf_str *s, const char *what,
                                size_t at, char **out)
{
	if (s->len == 0 || memchr(s->p, '\0', s->len))
		return ld_fail(r->err, LD_ERR_FORMAT, "%s: %s at offset %zu is %s", r->path, what, at,
		               s->len ? "a name with a NUL byte in it" : "empty");
	if (!(*out = malloc(s->len + 1)))
		return ld_fail(r->err, LD_ERR_NOMEM, "%s: out of memory", r->path);
	memcpy(*out, s->p, s->len);
	(*out)[s->len] = '\0';
	return LD_OK;
}

/* Skip (and check) one value of type t; depth counts the arrays around it. */
static enum ld_status skip_value(struct rd *r, uint32_t t, int depth, const char *key)
{
	if (t == LD_GGUF_STRING) {
		struct ld_gguf_str s;
		return rd_str(r, &s, "a string value");
	}
	if (t == LD_GGUF_ARRAY) {
		uint32_t et;
		uint64_t n;
		if (depth >= LD_GGUF_MAX_DEPTH)
			return ld_fail(r->err, LD_ERR_FORMAT,
			               "%s: arrays nested too deep (key `%s`: more than %d levels)", r->path, key,
			               LD_GGUF_MAX_DEPTH);
		if (rd_u32(r, &et) || rd_u64(r, &n))
			return LD_ERR_FORMAT;
		size_t esz = ld_gguf_type_size((enum ld_gguf_type)et);
		if (esz) {
			if (n > (r->len - r->pos) / esz)
				return ld_fail(r->err, LD_ERR_FORMAT,
				               "%s: key `%s`: an array of %" PRIu64 " %s values runs past the end of the file",
				               r->path, key, n, ld_gguf_type_name((enum ld_gguf_type)et));
			r->pos += (size_t)n * esz;
			return LD_OK;
		}
		if (et != LD_GGUF_STRING && et != LD_GGUF_ARRAY)
			return ld_fail(r->err, LD_ERR_FORMAT, "%s: key `%s`: unknown array element type %u", r->path,
			               key, et);
		/* strings take 8 bytes at least, arrays 12: a count the file cannot
		 * hold is refused before it is walked */
		if (n > (r->len - r->pos) / 8)
			return ld_fail(r->err, LD_ERR_FORMAT,
			               "%s: key `%s`: an array of %" PRIu64 " %ss runs past the end of the file", r->path,
			               key, n, ld_gguf_type_name((enum ld_gguf_type)et));
		for (uint64_t k = 0; k < n; k++)
			if (skip_value(r, et, depth + 1, key))
				return LD_ERR_FORMAT;
		return LD_OK;
	}
	size_t esz = ld_gguf_type_size((enum ld_gguf_type)t);
	if (!esz)
		return ld_fail(r->err, LD_ERR_FORMAT, "%s: key `%s` has unknown value type %u", r->path, key, t);
	if (need(r, esz))
		return LD_ERR_FORMAT;
	r->pos += esz;
	return LD_OK;
}

static enum ld_status read_kv(struct rd *r, struct ld_gguf_kv *kv)
{
	struct ld_gguf_str key;
	size_t at = r->pos;
	uint32_t t;
	enum ld_status st;
	if ((st = rd_str(r, &key, "a metadata key")) || (st = name_copy(r, &key, "a metadata key", at, &kv->key)))
		return st;
	if (rd_u32(r, &t))
		return LD_ERR_FORMAT;
	kv->type = (enum ld_gguf_type)t;
	size_t start = r->pos;
	if (t == LD_GGUF_ARRAY) {
		uint32_t et;
		uint64_t n;
		if (rd_u32(r, &et) || rd_u64(r, &n))
			return LD_ERR_FORMAT;
		kv->elem = (enum ld_gguf_type)et;
		kv->n = (size_t)n;
		kv->elems = r->p + r->pos;
		r->pos = start;
		return skip_value(r, t, 0, kv->key);
	}
	if (t == LD_GGUF_STRING)
		return rd_str(r, &kv->s, "a string value");
	if (skip_value(r, t, 0, kv->key))
		return LD_ERR_FORMAT;
	decode_scalar(kv->type, r->p + start, &kv->u, &kv->i, &kv->f);
	return LD_OK;
}

static enum ld_status read_tensor(struct rd *r, struct ld_gguf_tensor *t)
{
	struct ld_gguf_str name;
	size_t at = r->pos;
	uint32_t nd, type;
	enum ld_status st;
	if ((st = rd_str(r, &name, "a tensor name")) || (st = name_copy(r, &name, "a tensor name", at, &t->name)))
		return st;
	if (rd_u32(r, &nd))
		return LD_ERR_FORMAT;
	if (nd < 1 || nd > LD_GGUF_MAX_DIMS)
		return ld_fail(r->err, LD_ERR_FORMAT, "%s: tensor %s has %u dimensions (1 to %d allowed)", r->path,
		               t->name, nd, LD_GGUF_MAX_DIMS);
	t->ndim = (int)nd;
	uint64_t numel = 1;
	int overflow = 0;
	for (uint32_t d = 0; d < nd; d++) {
		if (rd_u64(r, &t->ne[d]))
			return LD_ERR_FORMAT;
		if (t->ne[d] == 0)
			return ld_fail(r->err, LD_ERR_FORMAT, "%s: tensor %s has a dimension of size 0", r->path, t->name);
		if (t->ne[d] > (uint64_t)SIZE_MAX / numel)
			overflow = 1;
		else
			numel *= t->ne[d];
	}
	if (rd_u32(r, &type) || rd_u64(r, &t->offset))
		return LD_ERR_FORMAT;
	if (overflow)
		return ld_fail(r->err, LD_ERR_FORMAT, "%s: tensor %s: its size overflows (dims %" PRIu64 " x %" PRIu64 "%s)",
		               r->path, t->name, t->ne[0], nd > 1 ? t->ne[1] : 1, nd > 2 ? " x ..." : "");
	t->ggml_type = type;
	t->dtype = ggml_dtype(type);
	if (t->dtype == LD_DTYPE_INVALID) {
		const char *tn = ld_gguf_ggml_type_name(type);
		if (tn)
			return ld_fail(r->err, LD_ERR_DTYPE,
			               "%s: tensor %s has type %s (%u), which llamadbg does not read "
			               "(it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K)",
			               r->path, t->name, tn, type);
		return ld_fail(r->err, LD_ERR_DTYPE, "%s: tensor %s has unknown type %u", r->path, t->name, type);
	}
	size_t bv, bb;
	ld_dtype_block(t->dtype, &bv, &bb);
	if (t->ne[0] % bv)
		return ld_fail(r->err, LD_ERR_FORMAT,
		               "%s: tensor %s: rows of %" PRIu64 " values are not a whole number of %s blocks (%zu)",
		               r->path, t->name, t->ne[0], ld_dtype_name(t->dtype), bv);
	if (numel / bv > SIZE_MAX / bb)
		return ld_fail(r->err, LD_ERR_FORMAT, "%s: tensor %s: its size overflows", r->path, t->name);
	t->nbytes = (size_t)(numel / bv * bb);
	return LD_OK;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
	const struct ld_gguf_tensor *t = ctx;
	return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static int cmp_offset(const void *a, const void *b, void *ctx)
{
	const struct ld_gguf_tensor *t = ctx;
	uint64_t x = t[*(const size_t *)a].offset, y = t[*(const size_t *)b].offset;
	return (x > y) - (x < y);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp((*(struct ld_gguf_kv *const *)a)->key, (*(struct ld_gguf_kv *const *)b)->key);
}

static enum ld_status parse(struct ld_gguf *g, struct ld_err *err)
{
	struct rd r = {.p = g->map, .len = g->map_len, .path = g->path, .err = err};
	uint32_t magic;
	uint64_t n_tensors, n_kv;

	if (g->map_len < 4 || memcmp(g->map, "GGUF", 4) != 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: not a GGUF file (it does not start with \"GGUF\")", g->path);
	if (rd_u32(&r, &magic) || rd_u32(&r, &g->version))
		return LD_ERR_FORMAT;
	if (g->version != 2 && g->version != 3)
		return ld_fail(err, LD_ERR_FORMAT, "%s: GGUF version %u not supported (2 and 3 are)", g->path,
		               g->version);
	if (rd_u64(&r, &n_tensors) || rd_u64(&r, &n_kv))
		return LD_ERR_FORMAT;
	/* The smallest key/value is 13 bytes (a 1-byte key, its type, a u8);
	 * the smallest tensor description 33. */
	if (n_kv > (r.len - r.pos) / 13)
		return ld_fail(err, LD_ERR_FORMAT, "%s: metadata count %" PRIu64 " too large for the file (%zu bytes)",
		               g->path, n_kv, r.len);
	if (n_tensors > (r.len - r.pos) / 33)
		return ld_fail(err, LD_ERR_FORMAT, "%s: tensor count %" PRIu64 " too large for the file (%zu bytes)",
		               g->path, n_tensors, r.len);

	if (n_kv && !(g->kv = calloc((size_t)n_kv, sizeof *g->kv)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", g->path);
	for (size_t k = 0; k < n_kv; k++) {
		g->n_kv = k + 1; /* so that close frees what was read */
		enum ld_status st = read_kv(&r, &g->kv[k]);
		if (st != LD_OK)
			return st;
	}

	/* No key twice: sorted pointers, neighbours compared. */
	if (g->n_kv > 1) {
		struct ld_gguf_kv **sorted = malloc(g->n_kv * sizeof *sorted);
		if (!sorted)
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", g->path);
		for (size_t k = 0; k < g->n_kv; k++)
			sorted[k] = &g->kv[k];
		qsort(sorted, g->n_kv, sizeof *sorted, cmp_key);
		for (size_t k = 1; k < g->n_kv; k++)
			if (strcmp(sorted[k - 1]->key, sorted[k]->key) == 0) {
				ld_fail(err, LD_ERR_FORMAT, "%s: duplicate metadata key `%s`", g->path, sorted[k]->key);
				free(sorted);
				return LD_ERR_FORMAT;
			}
		free(sorted);
	}

	g->alignment = 32;
	const struct ld_gguf_kv *al = ld_gguf_find_kv(g, "general.alignment");
	if (al) {
		if (!is_int_type(al->type) || al->i <= 0 || al->i > (1 << 30) || (al->i & (al->i - 1)))
			return ld_fail(err, LD_ERR_FORMAT, "%s: general.alignment must be a power of two, not %s", g->path,
			               is_int_type(al->type) ? "that" : ld_gguf_type_name(al->type));
		g->alignment = (size_t)al->i;
	}

	if (n_tensors && !(g->t = calloc((size_t)n_tensors, sizeof *g->t)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", g->path);
	for (size_t k = 0; k < n_tensors; k++) {
		g->n_tensors = k + 1;
		enum ld_status st = read_tensor(&r, &g->t[k]);
		if (st != LD_OK)
			return st;
	}

	/* The data section: after the descriptions, at the next multiple of
	 * the alignment (the file may end there when it has no tensors). */
	size_t pad = (g->alignment - r.pos % g->alignment) % g->alignment;
	g->data_start = r.pos + pad;
	if (g->n_tensors && g->data_start > r.len)
		return ld_fail(err, LD_ERR_FORMAT, "%s: truncated (the data section would start at %zu, past the end at %zu)",
		               g->path, g->data_start, r.len);
	size_t data_len = g->n_tensors ? r.len - g->data_start : 0;
	for (size_t k = 0; k < g->n_tensors; k++) {
		struct ld_gguf_tensor *t = &g->t[k];
		if (t->offset % g->alignment)
			return ld_fail(err, LD_ERR_FORMAT,
			               "%s: tensor %s: offset %" PRIu64 " is not a multiple of the alignment (%zu)", g->path,
			               t->name, t->offset, g->alignment);
		if (t->offset > data_len || t->nbytes > data_len - t->offset)
			return ld_fail(err, LD_ERR_FORMAT,
			               "%s: tensor %s: its data (%zu bytes at offset %" PRIu64
			               " of the data section) ends past the end of the file (%zu bytes)",
			               g->path, t->name, t->nbytes, t->offset, r.len);
		t->data = g->map + g->data_start + t->offset;
	}

	/* No name twice, and no two tensors sharing bytes. */
	if (g->n_tensors) {
		size_t *ix = malloc(g->n_tensors * sizeof *ix);
		if (!ix)
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", g->path);
		for (size_t k = 0; k < g->n_tensors; k++)
			ix[k] = k;
		qsort_r(ix, g->n_tensors, sizeof *ix, cmp_offset, g->t);
		for (size_t k = 1; k < g->n_tensors; k++) {
			const struct ld_gguf_tensor *a = &g->t[ix[k - 1]], *b = &g->t[ix[k]];
			if (a->offset + a->nbytes > b->offset) {
				ld_fail(err, LD_ERR_FORMAT, "%s: tensors %s and %s overlap in the data section", g->path,
				        a->name, b->name);
				free(ix);
				return LD_ERR_FORMAT;
			}
		}
		qsort_r(ix, g->n_tensors, sizeof *ix, cmp_name, g->t);
		for (size_t k = 1; k < g->n_tensors; k++)
			if (strcmp(g->t[ix[k - 1]].name, g->t[ix[k]].name) == 0) {
				ld_fail(err, LD_ERR_FORMAT, "%s: duplicate tensor `%s`", g->path, g->t[ix[k]].name);
				free(ix);
				return LD_ERR_FORMAT;
			}
		g->by_name = ix;
	}
	return LD_OK;
}

enum ld_status ld_gguf_open_mem(struct ld_gguf *g, const void *buf, size_t len, const char *name,
                                struct ld_err *err)
{
	memset(g, 0, sizeof *g);
	if (!(g->path = strdup(name)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory");
	g->map = buf;
	g->map_len = len;
	enum ld_status st = parse(g, err);
	if (st != LD_OK) {
		g->map = NULL; /* not ours to unmap */
		ld_gguf_close(g);
	}
	return st;
}

enum ld_status ld_gguf_open(struct ld_gguf *g, const char *path, struct ld_err *err)
{
	void *map;
	size_t len;
	memset(g, 0, sizeof *g);
	enum ld_status st = ld_map_file(path, &map, &len, err);
	if (st != LD_OK)
		return st;
	if ((st = ld_gguf_open_mem(g, map, len, path, err)) != LD_OK) {
		ld_unmap_file(map, len);
		return st;
	}
	return LD_OK;
}

void ld_gguf_close(struct ld_gguf *g)
{
	for (size_t k = 0; k < g->n_kv; k++)
		free(g->kv[k].key);
	for (size_t k = 0; k < g->n_tensors; k++)
		free(g->t[k].name);
	free(g->kv);
	free(g->t);
	free(g->by_name);
	if (g->map)
		ld_unmap_file((void *)g->map, g->map_len);
	free(g->path);
	memset(g, 0, sizeof *g);
}

int ld_gguf_sniff(const char *path)
{
	FILE *f = fopen(path, "rb");
	char head[4];
	int yes = f && fread(head, 1, 4, f) == 4 && memcmp(head, "GGUF", 4) == 0;
	if (f)
		fclose(f);
	return yes;
}

/* ---- lookups ----------------------------------------------------------------- */

const struct ld_gguf_kv *ld_gguf_find_kv(const struct ld_gguf *g, const char *key)
{
	for (size_t k = 0; k < g->n_kv; k++)
		if (strcmp(g->kv[k].key, key) == 0)
			return &g->kv[k];
	return NULL;
}

const struct ld_gguf_tensor *ld_gguf_find_tensor(const struct ld_gguf *g, const char *name)
{
	size_t lo = 0, hi = g->n_tensors;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g->t[g->by_name[mid]].name, name);
		if (c == 0)
			return &g->t[g->by_name[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void ld_gguf_iter_init(struct ld_gguf_iter *it, const struct ld_gguf_kv *kv)
{
	int ok = kv->type == LD_GGUF_ARRAY && kv->elem == LD_GGUF_STRING;
	it->p = ok ? kv->elems : NULL;
	it->left = ok ? kv->n : 0;
}

int ld_gguf_next_str(struct ld_gguf_iter *it, struct ld_gguf_str *out)
{
	if (it->left == 0)
		return 0;
	uint64_t n = 0;
	for (int k = 0; k < 8; k++)
		n |= (uint64_t)it->p[k] << (8 * k);
	out->p = (const char *)it->p + 8;
	out->len = (size_t)n; /* inside the file: checked when it was opened */
	it->p += 8 + out->len;
	it->left--;
	return 1;
}

double ld_gguf_array_f(const struct ld_gguf_kv *kv, size_t i)
{
	uint64_t u;
	int64_t s;
	double f;
	decode_scalar(kv->elem, kv->elems + i * ld_gguf_type_size(kv->elem), &u, &s, &f);
	return f;
}

int64_t ld_gguf_array_i(const struct ld_gguf_kv *kv, size_t i)
{
	uint64_t u;
	int64_t s;
	double f;
	decode_scalar(kv->elem, kv->elems + i * ld_gguf_type_size(kv->elem), &u, &s, &f);
	return s;
}

enum ld_status ld_gguf_get_int(const struct ld_gguf *g, const char *key, int64_t lo, int64_t hi,
                               int64_t *out, struct ld_err *err)
{
	const struct ld_gguf_kv *kv = ld_gguf_find_kv(g, key);
	if (!kv)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing key `%s`", g->path, key);
	if (!is_int_type(kv->type))
		return ld_fail(err, LD_ERR_FORMAT, "%s: key `%s` is a %s, expected an integer", g->path, key,
		               ld_gguf_type_name(kv->type));
	int big = (kv->type == LD_GGUF_U64 && kv->u > INT64_MAX);
	if (big || kv->i < lo || kv->i > hi)
		return ld_fail(err, LD_ERR_RANGE, "%s: key `%s` = %s%" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
		               g->path, key, big ? "more than " : "", big ? INT64_MAX : kv->i, lo, hi);
	*out = kv->i;
	return LD_OK;
}

enum ld_status ld_gguf_get_num(const struct ld_gguf *g, const char *key, double *out,
                               struct ld_err *err)
{
	const struct ld_gguf_kv *kv = ld_gguf_find_kv(g, key);
	if (!kv)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing key `%s`", g->path, key);
	if (!ld_gguf_type_size(kv->type) || kv->type == LD_GGUF_BOOL)
		return ld_fail(err, LD_ERR_FORMAT, "%s: key `%s` is a %s, expected a number", g->path, key,
		               ld_gguf_type_name(kv->type));
	*out = kv->f;
	return LD_OK;
}

enum ld_status ld_gguf_get_str(const struct ld_gguf *g, const char *key, struct ld_gguf_str *out,
                               struct ld_err *err)
{
	const struct ld_gguf_kv *kv = ld_gguf_find_kv(g, key);
	if (!kv)
		return ld_fail(err, LD_ERR_FORMAT, "%s: missing key `%s`", g->path, key);
	if (kv->type != LD_GGUF_STRING)
		return ld_fail(err, LD_ERR_FORMAT, "%s: key `%s` is a %s, expected a string", g->path, key,
		               ld_gguf_type_name(kv->type));
	*out = kv->s;
	return LD_OK;
}
