/* pth.c - torch.save checkpoints: a zip reader and a pickle interpreter
 * that executes nothing.
 *
 * The file comes from the internet. Every number read from it is checked
 * before it is used as a size or an address; the interpreter keeps all its
 * objects in one list (freed together, so shared and even cyclic
 * references are harmless), never recurses, and caps its stack, memo and
 * object count, so no pickle can make it crash, loop or eat the memory.
 */
#include "pth.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_PICKLE  (256u << 20) /* a state dict's data.pkl is kilobytes */
#define MAX_OBJECTS (1u << 22)   /* a 405B shard needs ~20000 */
#define MAX_STACK   (1u << 20)
#define MAX_MEMO    (1u << 22)
#define MAX_LINE    256          /* GLOBAL module / name lines */

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ------------------------------------------------------------------ zip */

/* One record of the central directory. */
struct zrec {
	const char *name;        /* in the mapping, not NUL-terminated */
	size_t name_len;
	uint64_t local;          /* offset of its local header */
	uint64_t size, csize;    /* uncompressed and compressed bytes */
	unsigned method, flags;
	uint32_t crc;
};

struct zip {
	const char *path;
	const unsigned char *p;  /* the mapping */
	size_t len;
	struct zrec *rec;
	size_t n;
};

#define SIG_LOCAL   0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD    0x06054b50u
#define SIG_EOCD64  0x06064b50u
#define SIG_LOC64   0x07064b50u

/* Values 0xffff / 0xffffffff in the classic records mean "see zip64". */
static enum ld_status zip_open(struct zip *z, struct ld_err *err)
{
	const unsigned char *p = z->p;
	size_t len = z->len, eocd = SIZE_MAX;
	if (len < 22)
		return ld_fail(err, LD_ERR_FORMAT, "%s: %zu bytes, too short for a zip archive", z->path, len);
	/* The end record is the last 22 bytes, plus a comment of up to 64 KB. */
	for (size_t i = len - 22 + 1, stop = len > 22 + 65535 ? len - 22 - 65535 : 0; i-- > stop;)
		if (rd32(p + i) == SIG_EOCD && i + 22 + rd16(p + i + 20) <= len) {
			eocd = i;
			break;
		}
	if (eocd == SIZE_MAX)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: no zip end-of-central-directory record (truncated or not a zip archive)",
		               z->path);
	const unsigned char *e = p + eocd;
	if (rd16(e + 4) != 0 || rd16(e + 6) != 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: a multi-part zip archive is not supported", z->path);
	uint64_t n = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
	if (eocd >= 20 && rd32(e - 20) == SIG_LOC64) {
		/* zip64: the locator points at the 64-bit end record. */
		uint64_t off = rd64(e - 20 + 8);
		if (off > eocd - 20 || eocd - 20 - off < 56 || rd32(p + off) != SIG_EOCD64)
			return ld_fail(err, LD_ERR_FORMAT, "%s: the zip64 end record is missing or misplaced",
			               z->path);
		const unsigned char *e64 = p + off;
		n = rd64(e64 + 32);
		cd_size = rd64(e64 + 40);
		cd_off = rd64(e64 + 48);
	} else if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
		return ld_fail(err, LD_ERR_FORMAT, "%s: the zip needs a zip64 end record and has none", z->path);
	}
	if (cd_off > eocd || cd_size > eocd - cd_off)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: the zip central directory (%llu bytes at %llu) lies outside the file",
		               z->path, (unsigned long long)cd_size, (unsigned long long)cd_off);
	if (n > cd_size / 46)
		return ld_fail(err, LD_ERR_FORMAT, "%s: %llu zip records cannot fit in %llu bytes", z->path,
		               (unsigned long long)n, (unsigned long long)cd_size);
	if (!(z->rec = calloc((size_t)n + 1, sizeof *z->rec)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", z->path);

	size_t pos = (size_t)cd_off, end = (size_t)(cd_off + cd_size);
	for (z->n = 0; z->n < n; z->n++) {
		struct zrec *r = &z->rec[z->n];
		if (end - pos < 46 || rd32(p + pos) != SIG_CENTRAL)
			return ld_fail(err, LD_ERR_FORMAT, "%s: zip central directory record %zu is damaged",
			               z->path, z->n);
		const unsigned char *c = p + pos;
		size_t nl = rd16(c + 28), xl = rd16(c + 30), cl = rd16(c + 32);
		if (end - pos - 46 < nl + xl + cl)
			return ld_fail(err, LD_ERR_FORMAT, "%s: zip central directory record %zu runs past its end",
			               z->path, z->n);
		r->flags = rd16(c + 8);
		r->method = rd16(c + 10);
		r->crc = rd32(c + 16);
		r->csize = rd32(c + 20);
		r->size = rd32(c + 24);
		r->local = rd32(c + 42);
		r->name = (const char *)c + 46;
		r->name_len = nl;
		/* zip64 extra field: 8-byte values for the saturated ones, in order. */
		const unsigned char *x = c + 46 + nl, *xend = x + xl;
		while (xend - x >= 4) {
			unsigned id = rd16(x), sz = rd16(x + 2);
			if ((size_t)(xend - x - 4) < sz)
				break;
			if (id == 0x0001) {
				const unsigned char *v = x + 4, *vend = v + sz;
				uint64_t *fields[] = {&r->size, &r->csize, &r->local};
				for (int k = 0; k < 3; k++)
					if (*fields[k] == 0xffffffffu) {
						if (vend - v < 8)
							return ld_fail(err, LD_ERR_FORMAT,
							               "%s: zip record %.*s: zip64 field too short", z->path,
							               (int)nl, r->name);
						*fields[k] = rd64(v);
						v += 8;
					}
			}
			x += 4 + sz;
		}
		pos += 46 + nl + xl + cl;
	}
	return LD_OK;
}

static const struct zrec *zip_find(const struct zip *z, const char *name, size_t len)
{
	for (size_t i = 0; i < z->n; i++)
		if (z->rec[i].name_len == len && memcmp(z->rec[i].name, name, len) == 0)
			return &z->rec[i];
	return NULL;
}

/* Where a record's bytes are: stored (not compressed), inside the file. */
static enum ld_status zip_data(const struct zip *z, const struct zrec *r, const unsigned char **data,
                               struct ld_err *err)
{
	int nl = (int)r->name_len;
	if (r->method != 0)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: zip record %.*s is compressed (method %u); torch.save stores records "
		               "uncompressed so they can be mapped: re-save it with torch.save",
		               z->path, nl, r->name, r->method);
	if (r->flags & 1)
		return ld_fail(err, LD_ERR_FORMAT, "%s: zip record %.*s is encrypted", z->path, nl, r->name);
	if (r->csize != r->size)
		return ld_fail(err, LD_ERR_FORMAT, "%s: zip record %.*s is stored but its sizes differ (%llu, %llu)",
		               z->path, nl, r->name, (unsigned long long)r->csize, (unsigned long long)r->size);
	if (r->local > z->len || z->len - r->local < 30 || rd32(z->p + r->local) != SIG_LOCAL)
		return ld_fail(err, LD_ERR_FORMAT, "%s: zip record %.*s: no local header at byte %llu", z->path,
		               nl, r->name, (unsigned long long)r->local);
	const unsigned char *l = z->p + r->local;
	size_t start = (size_t)r->local + 30 + rd16(l + 26) + rd16(l + 28);
	if (start <= z->len && (rd16(l + 26) != r->name_len || memcmp(l + 30, r->name, r->name_len) != 0))
		return ld_fail(err, LD_ERR_FORMAT, "%s: zip record %.*s: the local header names another file",
		               z->path, nl, r->name);
	if (start > z->len || r->size > z->len - start)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: zip record %.*s (%llu bytes at %zu) runs past the end of the file "
		               "(%zu bytes): truncated?",
		               z->path, nl, r->name, (unsigned long long)r->size, start, z->len);
	*data = z->p + start;
	return LD_OK;
}

/* CRC-32 (zip's polynomial), for the pickle only: the storages can be
 * gigabytes and are not read at load. */
uint32_t ld_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

/* --------------------------------------------------------------- pickle */

enum pk_kind { PK_NONE, PK_BOOL, PK_INT, PK_STR, PK_TUPLE, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR };
enum pk_global { G_ORDERED_DICT, G_REBUILD_TENSOR, G_STORAGE };

struct pk_obj {
	enum pk_kind kind;
	int64_t i;                 /* BOOL, INT; GLOBAL: enum pk_global */
	const char *s;             /* STR: UTF-8 bytes inside the pickle, not NUL-terminated */
	size_t len;                /* STR: bytes */
	struct pk_obj **items;     /* TUPLE: n items; DICT: n/2 (key, value) pairs */
	size_t n, cap;
	enum ld_dtype dtype;       /* GLOBAL storage class, STORAGE, TENSOR */
	const unsigned char *data; /* STORAGE: its first byte; TENSOR: its first element */
	size_t numel;              /* STORAGE: elements it holds; TENSOR: elements viewed */
	int ndim;                  /* TENSOR */
	size_t shape[LD_PTH_MAX_DIMS];
};

struct pk {
	const char *path;
	const unsigned char *p;    /* data.pkl */
	size_t len, pos, op;       /* op: where the current opcode started */
	const struct zip *z;
	const char *prefix;        /* "<prefix>/data.pkl": storages are "<prefix>/data/<key>" */
	size_t prefix_len;
	struct pk_obj **objs;      /* every object made, freed together */
	size_t n_objs, cap_objs;
	struct pk_obj **stack;
	size_t sp, cap_stack;
	size_t *marks;             /* stack depths at each MARK */
	size_t n_marks, cap_marks;
	struct pk_obj **memo;      /* BINPUT / BINGET slots */
	size_t n_memo;
	enum ld_status st;         /* the first failure */
	struct ld_err *err;
};

static enum ld_status pk_fail(struct pk *k, enum ld_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum ld_status pk_fail(struct pk *k, enum ld_status st, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return k->st = ld_fail(k->err, st, "%s: data.pkl byte %zu: %s", k->path, k->op, msg);
}

/* p, an array of *cap elements of sz bytes, reallocated (doubling) to hold
 * at least need; NULL when out of memory, and p is then unchanged. */
static void *grow(void *p, size_t *cap, size_t need, size_t sz)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(p, c * sz);
	if (q)
		*cap = c;
	return q;
}

static struct pk_obj *pk_new(struct pk *k, enum pk_kind kind)
{
	if (k->n_objs >= MAX_OBJECTS) {
		pk_fail(k, LD_ERR_RANGE, "more than %u objects: not a state dict (a pickle bomb?)", MAX_OBJECTS);
		return NULL;
	}
	struct pk_obj *o = calloc(1, sizeof *o);
	struct pk_obj **objs = grow(k->objs, &k->cap_objs, k->n_objs + 1, sizeof *k->objs);
	if (!o || !objs) {
		free(o);
		pk_fail(k, LD_ERR_NOMEM, "out of memory");
		return NULL;
	}
	k->objs = objs;
	o->kind = kind;
	k->objs[k->n_objs++] = o;
	return o;
}

static int pk_push(struct pk *k, struct pk_obj *o)
{
	if (!o)
		return -1;
	if (k->sp >= MAX_STACK) {
		pk_fail(k, LD_ERR_RANGE, "the stack grew past %u entries (a pickle bomb?)", MAX_STACK);
		return -1;
	}
	struct pk_obj **stack = grow(k->stack, &k->cap_stack, k->sp + 1, sizeof *k->stack);
	if (!stack) {
		pk_fail(k, LD_ERR_NOMEM, "out of memory");
		return -1;
	}
	k->stack = stack;
	k->stack[k->sp++] = o;
	return 0;
}

/* Pop one value that must not cross the innermost MARK. */
static struct pk_obj *pk_pop(struct pk *k)
{
	size_t floor = k->n_marks ? k->marks[k->n_marks - 1] : 0;
	if (k->sp <= floor) {
		pk_fail(k, LD_ERR_FORMAT, "stack underflow (a truncated or hand-made pickle)");
		return NULL;
	}
	return k->stack[--k->sp];
}

/* The top value, which must not be below the innermost MARK. */
static struct pk_obj *pk_top(struct pk *k)
{
	size_t floor = k->n_marks ? k->marks[k->n_marks - 1] : 0;
	if (k->sp <= floor) {
		pk_fail(k, LD_ERR_FORMAT, "stack underflow (a truncated or hand-made pickle)");
		return NULL;
	}
	return k->stack[k->sp - 1];
}

/* Pop back to the innermost MARK; the items are stack[*from .. sp). */
static int pk_pop_mark(struct pk *k, size_t *from)
{
	if (!k->n_marks) {
		pk_fail(k, LD_ERR_FORMAT, "no MARK on the stack");
		return -1;
	}
	*from = k->marks[--k->n_marks];
	return 0;
}

static int pk_need(struct pk *k, size_t n)
{
	if (k->len - k->pos < n) {
		pk_fail(k, LD_ERR_FORMAT, "the pickle ends inside an opcode (truncated?)");
		return -1;
	}
	return 0;
}

static struct pk_obj *pk_tuple(struct pk *k, struct pk_obj **items, size_t n)
{
	struct pk_obj *t = pk_new(k, PK_TUPLE);
	if (!t || !n)
		return t;
	if (!(t->items = malloc(n * sizeof *t->items))) {
		pk_fail(k, LD_ERR_NOMEM, "out of memory");
		return NULL;
	}
	memcpy(t->items, items, n * sizeof *items);
	t->n = n;
	return t;
}

static int pk_is_str(const struct pk_obj *o, const char *s)
{
	return o->kind == PK_STR && o->len == strlen(s) && memcmp(o->s, s, o->len) == 0;
}

/* GLOBAL "module\nname\n": only what a state dict needs is recognised. */
static struct pk_obj *pk_global(struct pk *k)
{
	const char *line[2];
	size_t len[2];
	for (int i = 0; i < 2; i++) {
		const unsigned char *nl = memchr(k->p + k->pos, '\n', k->len - k->pos);
		if (!nl || (size_t)(nl - (k->p + k->pos)) > MAX_LINE) {
			pk_fail(k, LD_ERR_FORMAT, "GLOBAL without a short newline-terminated name");
			return NULL;
		}
		line[i] = (const char *)k->p + k->pos;
		len[i] = (size_t)(nl - (k->p + k->pos));
		k->pos += len[i] + 1;
	}
	static const struct {
		const char *module, *name;
		enum pk_global g;
		enum ld_dtype dtype;
	} allowed[] = {
		{"collections", "OrderedDict", G_ORDERED_DICT, LD_DTYPE_INVALID},
		{"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR, LD_DTYPE_INVALID},
		{"torch", "BFloat16Storage", G_STORAGE, LD_BF16},
		{"torch", "HalfStorage", G_STORAGE, LD_F16},
		{"torch", "FloatStorage", G_STORAGE, LD_F32},
	};
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		if (len[0] == strlen(allowed[i].module) && memcmp(line[0], allowed[i].module, len[0]) == 0 &&
		    len[1] == strlen(allowed[i].name) && memcmp(line[1], allowed[i].name, len[1]) == 0) {
			struct pk_obj *o = pk_new(k, PK_GLOBAL);
			if (o) {
				o->i = allowed[i].g;
				o->dtype = allowed[i].dtype;
			}
			return o;
		}
	/* Print the name safely: it may hold anything. */
	char shown[2][64];
	for (int i = 0; i < 2; i++) {
		size_t n = len[i] < sizeof shown[i] - 1 ? len[i] : sizeof shown[i] - 1;
		for (size_t j = 0; j < n; j++)
			shown[i][j] = line[i][j] >= 0x20 && line[i][j] < 0x7f ? line[i][j] : '?';
		shown[i][n] = '\0';
	}
	if (strcmp(shown[0], "torch") == 0 && strstr(shown[1], "Storage"))
		pk_fail(k, LD_ERR_DTYPE, "torch.%s tensors are not supported (BFloat16, Half or Float only)",
		        shown[1]);
	else
		pk_fail(k, LD_ERR_FORMAT,
		        "refusing global %s.%s: a state dict needs only collections.OrderedDict, "
		        "torch._utils._rebuild_tensor_v2 and torch.*Storage (nothing was executed)",
		        shown[0], shown[1]);
	return NULL;
}

/* BINPERSID ('storage', torch.XStorage, key, location, numel): find the
 * record <prefix>/data/<key> and check it holds numel elements. */
static struct pk_obj *pk_storage(struct pk *k, const struct pk_obj *pid)
{
	if (pid->kind != PK_TUPLE || pid->n != 5 || !pk_is_str(pid->items[0], "storage") ||
	    pid->items[1]->kind != PK_GLOBAL || pid->items[1]->i != G_STORAGE ||
	    pid->items[2]->kind != PK_STR || pid->items[3]->kind != PK_STR || pid->items[4]->kind != PK_INT) {
		pk_fail(k, LD_ERR_FORMAT,
		        "persistent id is not ('storage', torch.XStorage, key, location, numel)");
		return NULL;
	}
	const struct pk_obj *key = pid->items[2];
	if (key->len > 64) {
		pk_fail(k, LD_ERR_FORMAT, "a storage key of %zu bytes (torch uses short numbers)", key->len);
		return NULL;
	}
	char name[512];
	int n = snprintf(name, sizeof name, "%.*s/data/%.*s", (int)k->prefix_len, k->prefix, (int)key->len,
	                 key->s);
	const struct zrec *r = zip_find(k->z, name, (size_t)n);
	if (!r) {
		pk_fail(k, LD_ERR_FORMAT, "storage key \"%.*s\" does not exist (no record %s in the zip)",
		        (int)key->len, key->s, name);
		return NULL;
	}
	struct pk_obj *s = pk_new(k, PK_STORAGE);
	if (!s || (k->st = zip_data(k->z, r, &s->data, k->err)) != LD_OK)
		return NULL;
	s->dtype = pid->items[1]->dtype;
	size_t esz = ld_dtype_size(s->dtype);
	int64_t numel = pid->items[4]->i;
	if (numel < 0 || (uint64_t)numel > r->size / esz || (uint64_t)numel * esz != r->size) {
		pk_fail(k, LD_ERR_FORMAT, "storage \"%.*s\" has %llu bytes, the pickle says %lld elements of %s",
		        (int)key->len, key->s, (unsigned long long)r->size, (long long)numel,
		        ld_dtype_name(s->dtype));
		return NULL;
	}
	if ((size_t)(s->data - k->z->p) % esz != 0) {
		pk_fail(k, LD_ERR_FORMAT, "storage \"%.*s\" is not aligned to its %zu-byte elements",
		        (int)key->len, key->s, esz);
		return NULL;
	}
	s->numel = (size_t)numel;
	return s;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]):
 * a contiguous view inside the storage. */
static struct pk_obj *pk_tensor(struct pk *k, const struct pk_obj *args)
{
	if (args->kind != PK_TUPLE || (args->n != 6 && args->n != 7) || args->items[0]->kind != PK_STORAGE ||
	    args->items[1]->kind != PK_INT || args->items[2]->kind != PK_TUPLE ||
	    args->items[3]->kind != PK_TUPLE) {
		pk_fail(k, LD_ERR_FORMAT,
		        "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, hooks)");
		return NULL;
	}
	const struct pk_obj *st = args->items[0], *size = args->items[2], *stride = args->items[3];
	int64_t offset = args->items[1]->i;
	if (size->n > LD_PTH_MAX_DIMS || stride->n != size->n) {
		pk_fail(k, LD_ERR_SHAPE, "tensor with %zu sizes and %zu strides (at most %d dimensions)", size->n,
		        stride->n, LD_PTH_MAX_DIMS);
		return NULL;
	}
	struct pk_obj *t = pk_new(k, PK_TENSOR);
	if (!t)
		return NULL;
	t->dtype = st->dtype;
	t->ndim = (int)size->n;
	int empty = 0;
	for (size_t d = 0; d < size->n; d++) {
		if (size->items[d]->kind != PK_INT || size->items[d]->i < 0 || stride->items[d]->kind != PK_INT) {
			pk_fail(k, LD_ERR_SHAPE, "tensor size or stride %zu is not a non-negative integer", d);
			return NULL;
		}
		t->shape[d] = (size_t)size->items[d]->i;
		empty |= t->shape[d] == 0;
	}
	/* Elements viewed, saturating at SIZE_MAX (the storage bound catches it). */
	t->numel = empty ? 0 : 1;
	for (size_t d = 0; d < size->n && !empty; d++)
		t->numel = t->numel > SIZE_MAX / t->shape[d] ? SIZE_MAX : t->numel * t->shape[d];
	/* Contiguous (row-major) means stride[d] = product of the later sizes;
	 * a dimension of size 1 may carry any stride, as in torch. */
	size_t want = 1;
	for (size_t d = size->n; d-- > 0;) {
		if (t->shape[d] != 1 && (stride->items[d]->i < 0 || (uint64_t)stride->items[d]->i != want)) {
			char sz[160] = "", sd[160] = "";
			for (size_t j = 0; j < size->n; j++) {
				snprintf(sz + strlen(sz), sizeof sz - strlen(sz), "%s%lld", j ? ", " : "",
				         (long long)size->items[j]->i);
				snprintf(sd + strlen(sd), sizeof sd - strlen(sd), "%s%lld", j ? ", " : "",
				         (long long)stride->items[j]->i);
			}
			pk_fail(k, LD_ERR_FORMAT,
			        "tensor of size (%s) has stride (%s), not contiguous: only contiguous tensors "
			        "can be viewed in place (save t.contiguous())",
			        sz, sd);
			return NULL;
		}
		if (t->shape[d] && want > SIZE_MAX / t->shape[d])
			want = SIZE_MAX;
		else
			want *= t->shape[d];
	}
	if (offset < 0 || (uint64_t)offset > st->numel || t->numel > st->numel - (size_t)offset) {
		pk_fail(k, LD_ERR_RANGE,
		        "tensor at storage offset %lld with %s%zu elements runs past the end of its storage "
		        "(%zu elements)",
		        (long long)offset, t->numel == SIZE_MAX ? "more than " : "",
		        t->numel == SIZE_MAX ? st->numel : t->numel, st->numel);
		return NULL;
	}
	size_t esz = ld_dtype_size(t->dtype);
	t->data = st->data + (size_t)offset * esz;
	return t;
}

/* REDUCE: "call" one of the two callables the interpreter knows. */
static struct pk_obj *pk_reduce(struct pk *k, const struct pk_obj *fn, const struct pk_obj *args)
{
	if (fn->kind == PK_GLOBAL && fn->i == G_ORDERED_DICT) {
		if (args->kind != PK_TUPLE || args->n != 0) {
			pk_fail(k, LD_ERR_FORMAT, "OrderedDict called with arguments");
			return NULL;
		}
		return pk_new(k, PK_DICT);
	}
	if (fn->kind == PK_GLOBAL && fn->i == G_REBUILD_TENSOR)
		return pk_tensor(k, args);
	pk_fail(k, LD_ERR_FORMAT, "REDUCE calls something that is not OrderedDict or _rebuild_tensor_v2");
	return NULL;
}

static int pk_dict_add(struct pk *k, struct pk_obj *d, struct pk_obj *key, struct pk_obj *val)
{
	if (d->kind != PK_DICT) {
		pk_fail(k, LD_ERR_FORMAT, "SETITEM on something that is not a dict");
		return -1;
	}
	struct pk_obj **items = grow(d->items, &d->cap, d->n + 2, sizeof *d->items);
	if (!items) {
		pk_fail(k, LD_ERR_NOMEM, "out of memory");
		return -1;
	}
	d->items = items;
	d->items[d->n++] = key;
	d->items[d->n++] = val;
	return 0;
}

static int pk_memo_put(struct pk *k, size_t idx)
{
	struct pk_obj *top = pk_top(k);
	if (!top)
		return -1;
	if (idx >= MAX_MEMO) {
		pk_fail(k, LD_ERR_RANGE, "memo index %zu is out of range (at most %u)", idx, MAX_MEMO - 1);
		return -1;
	}
	if (idx >= k->n_memo) {
		size_t n = k->n_memo, cap = n;
		struct pk_obj **memo = grow(k->memo, &cap, idx + 1, sizeof *k->memo);
		if (!memo) {
			pk_fail(k, LD_ERR_NOMEM, "out of memory");
			return -1;
		}
		memset(memo + n, 0, (cap - n) * sizeof *memo);
		k->memo = memo;
		k->n_memo = cap;
	}
	k->memo[idx] = top;
	return 0;
}

static int pk_memo_get(struct pk *k, size_t idx)
{
	if (idx >= k->n_memo || !k->memo[idx]) {
		pk_fail(k, LD_ERR_FORMAT, "memo index %zu was never stored", idx);
		return -1;
	}
	return pk_push(k, k->memo[idx]);
}

/* Run the pickle to STOP; *out is the value it built. */
static enum ld_status pk_run(struct pk *k, struct pk_obj **out)
{
	struct pk_obj *a, *b, *c;
	size_t from;
	for (;;) {
		k->op = k->pos;
		if (k->pos >= k->len)
			return pk_fail(k, LD_ERR_FORMAT, "the pickle ends without STOP (truncated?)");
		unsigned op = k->p[k->pos++];
		int bad = 0;
		switch (op) {
		case 0x80: /* PROTO */
			if ((bad = pk_need(k, 1)) != 0)
				break;
			if (k->p[k->pos] != 2)
				return pk_fail(k, LD_ERR_FORMAT, "pickle protocol %u; torch.save writes protocol 2",
				               k->p[k->pos]);
			k->pos++;
			break;
		case 'c': /* GLOBAL */
			bad = pk_push(k, pk_global(k));
			break;
		case '}': /* EMPTY_DICT */
			bad = pk_push(k, pk_new(k, PK_DICT));
			break;
		case ')': /* EMPTY_TUPLE */
			bad = pk_push(k, pk_new(k, PK_TUPLE));
			break;
		case '(': { /* MARK */
			if (k->n_marks >= MAX_STACK)
				return pk_fail(k, LD_ERR_RANGE, "more than %u MARKs (a pickle bomb?)", MAX_STACK);
			size_t *marks = grow(k->marks, &k->cap_marks, k->n_marks + 1, sizeof *k->marks);
			if (!marks)
				return pk_fail(k, LD_ERR_NOMEM, "out of memory");
			k->marks = marks;
			k->marks[k->n_marks++] = k->sp;
			break;
		}
		case 'X': { /* BINUNICODE: u32 length, UTF-8 bytes */
			if ((bad = pk_need(k, 4)) != 0)
				break;
			size_t n = rd32(k->p + k->pos);
			k->pos += 4;
			if ((bad = pk_need(k, n)) != 0)
				break;
			if ((a = pk_new(k, PK_STR)) != NULL) {
				a->s = (const char *)k->p + k->pos;
				a->len = n;
			}
			k->pos += n;
			bad = pk_push(k, a);
			break;
		}
		case 'K': /* BININT1 */
		case 'M': /* BININT2 */
		case 'J': /* BININT (signed 32-bit) */
		case 0x8a: { /* LONG1: n bytes, little-endian two's complement */
			size_t n = op == 'K' ? 1 : op == 'M' ? 2 : 4;
			if (op == 0x8a) {
				if ((bad = pk_need(k, 1)) != 0)
					break;
				n = k->p[k->pos++];
				if (n > 8)
					return pk_fail(k, LD_ERR_RANGE, "LONG1 of %zu bytes does not fit 64 bits", n);
			}
			if ((bad = pk_need(k, n)) != 0)
				break;
			uint64_t v = 0;
			for (size_t i = 0; i < n; i++)
				v |= (uint64_t)k->p[k->pos + i] << (8 * i);
			if ((op == 'J' || op == 0x8a) && n > 0 && n < 8 && (v >> (8 * n - 1)) & 1)
				v |= ~0ull << (8 * n); /* sign-extend */
			k->pos += n;
			if ((a = pk_new(k, PK_INT)) != NULL)
				memcpy(&a->i, &v, sizeof v);
			bad = pk_push(k, a);
			break;
		}
		case 't': /* TUPLE: everything since the MARK */
			if ((bad = pk_pop_mark(k, &from)) != 0)
				break;
			/* An empty tuple may come before anything was ever pushed. */
			a = pk_tuple(k, k->sp > from ? k->stack + from : NULL, k->sp - from);
			k->sp = from;
			bad = pk_push(k, a);
			break;
		case 0x85: /* TUPLE1 */
		case 0x86: /* TUPLE2 */
		case 0x87: { /* TUPLE3 */
			size_t n = op - 0x84;
			struct pk_obj *items[3];
			for (size_t i = n; i-- > 0 && !bad;)
				bad = !(items[i] = pk_pop(k));
			if (!bad)
				bad = pk_push(k, pk_tuple(k, items, n));
			break;
		}
		case 'Q': /* BINPERSID */
			if (!(a = pk_pop(k)))
				return k->st;
			bad = pk_push(k, pk_storage(k, a));
			break;
		case 'R': /* REDUCE */
			if (!(b = pk_pop(k)) || !(a = pk_pop(k)))
				return k->st;
			bad = pk_push(k, pk_reduce(k, a, b));
			break;
		case 0x88: /* NEWTRUE */
		case 0x89: /* NEWFALSE */
			if ((a = pk_new(k, PK_BOOL)) != NULL)
				a->i = op == 0x88;
			bad = pk_push(k, a);
			break;
		case 'N': /* NONE */
			bad = pk_push(k, pk_new(k, PK_NONE));
			break;
		case 'q': /* BINPUT */
		case 'h': /* BINGET */
			if ((bad = pk_need(k, 1)) != 0)
				break;
			from = k->p[k->pos++];
			bad = op == 'q' ? pk_memo_put(k, from) : pk_memo_get(k, from);
			break;
		case 'r': /* LONG_BINPUT */
		case 'j': /* LONG_BINGET */
			if ((bad = pk_need(k, 4)) != 0)
				break;
			from = rd32(k->p + k->pos);
			k->pos += 4;
			bad = op == 'r' ? pk_memo_put(k, from) : pk_memo_get(k, from);
			break;
		case 's': /* SETITEM */
			if (!(c = pk_pop(k)) || !(b = pk_pop(k)) || !(a = pk_pop(k)))
				return k->st;
			bad = pk_dict_add(k, a, b, c) || pk_push(k, a);
			break;
		case 'u': /* SETITEMS: key, value pairs since the MARK */
			if ((bad = pk_pop_mark(k, &from)) != 0)
				break;
			if ((k->sp - from) % 2 != 0)
				return pk_fail(k, LD_ERR_FORMAT, "SETITEMS with an odd number of items");
			if (from == 0 || (k->n_marks && from <= k->marks[k->n_marks - 1]))
				return pk_fail(k, LD_ERR_FORMAT, "stack underflow (SETITEMS without a dict)");
			for (size_t i = from; i < k->sp && !bad; i += 2)
				bad = pk_dict_add(k, k->stack[from - 1], k->stack[i], k->stack[i + 1]);
			k->sp = from;
			break;
		case 'b': /* BUILD: sets attributes (an OrderedDict's _metadata); ignored */
			if (!pk_pop(k) || !pk_top(k))
				return k->st;
			break;
		case '.': /* STOP */
			if (!(*out = pk_pop(k)))
				return k->st;
			return LD_OK;
		default: {
			char shown[8] = "";
			if (op >= 0x20 && op < 0x7f)
				snprintf(shown, sizeof shown, " ('%c')", op);
			return pk_fail(k, LD_ERR_FORMAT,
			               "opcode 0x%02x%s is not one torch.save writes for a state dict; "
			               "refusing to go on",
			               op, shown);
		}
		}
		if (bad)
			return k->st;
	}
}

static void pk_free(struct pk *k)
{
	for (size_t i = 0; i < k->n_objs; i++) {
		free(k->objs[i]->items);
		free(k->objs[i]);
	}
	free(k->objs);
	free(k->stack);
	free(k->marks);
	free(k->memo);
}

/* -------------------------------------------------------------- the file */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No key twice: the names sorted, neighbours compared (a scan per tensor
 * would make a hostile pickle of 100000 keys take minutes). */
static enum ld_status no_duplicates(const struct ld_pth_file *f, struct ld_err *err)
{
	char **names = malloc((f->n + 1) * sizeof *names);
	if (!names)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", f->path);
	for (size_t i = 0; i < f->n; i++)
		names[i] = f->t[i].name;
	qsort(names, f->n, sizeof *names, by_name);
	enum ld_status st = LD_OK;
	for (size_t i = 1; i < f->n && st == LD_OK; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			st = ld_fail(err, LD_ERR_FORMAT, "%s: tensor %s appears twice", f->path, names[i]);
	free(names);
	return st;
}

/* Copy the tensors of the state dict into f->t. */
static enum ld_status collect(struct ld_pth_file *f, const struct pk_obj *root, struct ld_err *err)
{
	if (root->kind != PK_DICT)
		return ld_fail(err, LD_ERR_FORMAT, "%s: data.pkl holds no dict: not a state dict", f->path);
	if (!(f->t = calloc(root->n / 2 + 1, sizeof *f->t)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", f->path);
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		const struct pk_obj *key = root->items[i], *v = root->items[i + 1];
		if (v->kind != PK_TENSOR)
			continue;
		if (key->kind != PK_STR || key->len == 0 || key->len > 255 || memchr(key->s, '\0', key->len))
			return ld_fail(err, LD_ERR_FORMAT, "%s: a tensor's key is not a short string", f->path);
		struct ld_pth_tensor *t = &f->t[f->n];
		if (!(t->name = strndup(key->s, key->len)))
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", f->path);
		f->n++;
		t->dtype = v->dtype;
		t->ndim = v->ndim;
		memcpy(t->shape, v->shape, sizeof t->shape);
		t->data = v->data;
		t->nbytes = v->numel * ld_dtype_size(v->dtype);
	}
	return no_duplicates(f, err);
}

enum ld_status ld_pth_open(struct ld_pth_file *f, const char *path, struct ld_err *err)
{
	enum ld_status st;
	struct zip z = {.path = path};
	struct pk k = {.path = path, .err = err};
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path)))
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	if ((st = ld_map_file(path, &f->map, &f->map_len, err)) != LD_OK)
		goto out;
	z.p = f->map;
	z.len = f->map_len;
	if (z.len >= 2 && z.p[0] == 0x80 && z.p[1] <= 5) {
		st = ld_fail(err, LD_ERR_FORMAT,
		             "%s: a legacy torch.save file (a bare pickle, before torch 1.6), not the zip "
		             "format: load it and torch.save it again with a recent torch",
		             path);
		goto out;
	}
	if (z.len < 4 || rd32(z.p) != SIG_LOCAL) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: not a zip archive, so not a torch.save checkpoint", path);
		goto out;
	}
	if ((st = zip_open(&z, err)) != LD_OK)
		goto out;

	/* Exactly one <prefix>/data.pkl. */
	const struct zrec *pkl = NULL;
	for (size_t i = 0; i < z.n; i++) {
		const struct zrec *r = &z.rec[i];
		if (r->name_len >= 9 && memcmp(r->name + r->name_len - 9, "/data.pkl", 9) == 0) {
			if (pkl) {
				st = ld_fail(err, LD_ERR_FORMAT, "%s: two data.pkl records (%.*s and %.*s)", path,
				             (int)pkl->name_len, pkl->name, (int)r->name_len, r->name);
				goto out;
			}
			pkl = r;
		}
	}
	if (!pkl) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: no <name>/data.pkl record: not a torch.save checkpoint", path);
		goto out;
	}
	k.prefix = pkl->name;
	k.prefix_len = pkl->name_len - 9;
	char bo_name[300];
	int bo_len = snprintf(bo_name, sizeof bo_name, "%.*s/byteorder", (int)k.prefix_len, k.prefix);
	const struct zrec *bo = zip_find(&z, bo_name, (size_t)bo_len);
	const unsigned char *bo_data;
	if (bo && (st = zip_data(&z, bo, &bo_data, err)) != LD_OK)
		goto out;
	if (bo && !(bo->size == 6 && memcmp(bo_data, "little", 6) == 0)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: byteorder is not \"little\"", path);
		goto out;
	}
	if ((st = zip_data(&z, pkl, &k.p, err)) != LD_OK)
		goto out;
	if (pkl->size > MAX_PICKLE) {
		st = ld_fail(err, LD_ERR_RANGE, "%s: data.pkl is %llu bytes, too large for a state dict", path,
		             (unsigned long long)pkl->size);
		goto out;
	}
	k.len = (size_t)pkl->size;
	if (ld_crc32(k.p, k.len) != pkl->crc) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: data.pkl fails its CRC-32 check (a damaged file)", path);
		goto out;
	}
	k.z = &z;
	struct pk_obj *root = NULL;
	if ((st = pk_run(&k, &root)) != LD_OK)
		goto out;
	st = collect(f, root, err);
out:
	pk_free(&k);
	free(z.rec);
	if (st != LD_OK)
		ld_pth_close(f);
	return st;
}

void ld_pth_close(struct ld_pth_file *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->t[i].name);
	free(f->t);
	ld_unmap_file(f->map, f->map_len);
	free(f->path);
	memset(f, 0, sizeof *f);
}

const struct ld_pth_tensor *ld_pth_find(const struct ld_pth_file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}
