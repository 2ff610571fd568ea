/* test_pth.c - the torch.save reader (core/pth.c): real files from torch,
 * and hostile or broken ones built here byte by byte. Each bad file gets
 * one clear error naming it, never a crash (make asan runs this too), and
 * a pickle that tries to run something never runs it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pth.h"
#include "util.h"
#include "testlib.h"


/* ---- a byte buffer */

struct buf {
	unsigned char *b;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->b = realloc(b->b, b->cap);
		assert_non_null(b->b);
	}
	memcpy(b->b + b->n, p, n);
	b->n += n;
}
static void put8(struct buf *b, unsigned v) { unsigned char c = (unsigned char)v; put(b, &c, 1); }
static void put16(struct buf *b, unsigned v) { put8(b, v & 0xff); put8(b, v >> 8 & 0xff); }
static void put32(struct buf *b, uint32_t v) { put16(b, v & 0xffff); put16(b, v >> 16); }
static void put64(struct buf *b, uint64_t v) { put32(b, (uint32_t)v); put32(b, (uint32_t)(v >> 32)); }

/* ---- a zip writer, laid out like torch.save's: 64-byte aligned records */

struct rec {
	const char *name;
	const void *data;
	size_t len;
	unsigned method; /* 0 stored; 8 claims deflate */
};

static void write_zip(const char *path, const struct rec *r, size_t n, int zip64)
{
	struct buf z = {0}, cd = {0};
	for (size_t i = 0; i < n; i++) {
		size_t off = z.n, nl = strlen(r[i].name);
		size_t pad = (64 - (off + 30 + nl + 4) % 64) % 64 + 4; /* an "FB" extra field */
		uint32_t crc = ld_crc32(r[i].data, r[i].len);
		put32(&z, 0x04034b50);
		put16(&z, 20), put16(&z, 0), put16(&z, r[i].method), put32(&z, 0);
		put32(&z, crc), put32(&z, (uint32_t)r[i].len), put32(&z, (uint32_t)r[i].len);
		put16(&z, (unsigned)nl), put16(&z, (unsigned)pad);
		put(&z, r[i].name, nl);
		put16(&z, 0x4246), put16(&z, (unsigned)pad - 4);
		for (size_t k = 0; k < pad - 4; k++)
			put8(&z, 'Z');
		put(&z, r[i].data, r[i].len);

		put32(&cd, 0x02014b50);
		put16(&cd, 45), put16(&cd, 45), put16(&cd, 0), put16(&cd, r[i].method), put32(&cd, 0);
		put32(&cd, crc);
		put32(&cd, zip64 ? 0xffffffffu : (uint32_t)r[i].len);
		put32(&cd, zip64 ? 0xffffffffu : (uint32_t)r[i].len);
		put16(&cd, (unsigned)nl), put16(&cd, zip64 ? 28 : 0), put16(&cd, 0);
		put16(&cd, 0), put16(&cd, 0), put32(&cd, 0);
		put32(&cd, zip64 ? 0xffffffffu : (uint32_t)off);
		put(&cd, r[i].name, nl);
		if (zip64) {
			put16(&cd, 1), put16(&cd, 24);
			put64(&cd, r[i].len), put64(&cd, r[i].len), put64(&cd, off);
		}
	}
	size_t cd_off = z.n;
	put(&z, cd.b, cd.n);
	if (zip64) {
		size_t e64 = z.n;
		put32(&z, 0x06064b50), put64(&z, 44), put16(&z, 45), put16(&z, 45), put32(&z, 0), put32(&z, 0);
		put64(&z, n), put64(&z, n), put64(&z, cd.n), put64(&z, cd_off);
		put32(&z, 0x07064b50), put32(&z, 0), put64(&z, e64), put32(&z, 1);
	}
	put32(&z, 0x06054b50), put16(&z, 0), put16(&z, 0);
	put16(&z, zip64 ? 0xffff : (unsigned)n), put16(&z, zip64 ? 0xffff : (unsigned)n);
	put32(&z, zip64 ? 0xffffffffu : (uint32_t)cd.n), put32(&z, zip64 ? 0xffffffffu : (uint32_t)cd_off);
	put16(&z, 0);
	tl_write_bytes(path, z.b, z.n);
	free(z.b);
	free(cd.b);
}

/* ---- a pickle writer */

static void op(struct buf *p, unsigned c) { put8(p, c); }
static void ustr(struct buf *p, const char *s)
{
	op(p, 'X');
	put32(p, (uint32_t)strlen(s));
	put(p, s, strlen(s));
}
static void global(struct buf *p, const char *module, const char *name)
{
	op(p, 'c');
	put(p, module, strlen(module));
	op(p, '\n');
	put(p, name, strlen(name));
	op(p, '\n');
}
static void pint(struct buf *p, long v)
{
	if (v >= 0 && v < 256) {
		op(p, 'K'), put8(p, (unsigned)v);
	} else {
		op(p, 'J'), put32(p, (uint32_t)v);
	}
}

/* One tensor of a state dict, as torch.save pickles it. */
struct tspec {
	const char *cls;        /* "BFloat16Storage", ... */
	const char *key;        /* storage key */
	long numel;             /* the storage's elements, as the pickle claims */
	long offset;            /* storage offset */
	int ndim;
	long size[4], stride[4];
};

static const struct tspec good_t = {"BFloat16Storage", "0", 6, 0, 2, {2, 3}, {3, 1}};

/* {name: tensor} as an OrderedDict, memoised the way torch.save does it. */
static void pickle_dict(struct buf *p, const char *name, const struct tspec *t)
{
	op(p, 0x80), op(p, 2);
	global(p, "collections", "OrderedDict");
	op(p, 'q'), op(p, 0);
	op(p, ')'), op(p, 'R');
	op(p, '(');
	ustr(p, name);
	global(p, "torch._utils", "_rebuild_tensor_v2");
	op(p, '(');
	op(p, '(');
	ustr(p, "storage");
	global(p, "torch", t->cls);
	ustr(p, t->key);
	ustr(p, "cpu");
	pint(p, t->numel);
	op(p, 't');
	op(p, 'Q');
	pint(p, t->offset);
	op(p, '(');
	for (int d = 0; d < t->ndim; d++)
		pint(p, t->size[d]);
	op(p, 't');
	op(p, '(');
	for (int d = 0; d < t->ndim; d++)
		pint(p, t->stride[d]);
	op(p, 't');
	op(p, 0x89);
	op(p, 'h'), op(p, 0); /* BINGET 0: OrderedDict again */
	op(p, ')'), op(p, 'R');
	op(p, 't');
	op(p, 'R');
	op(p, 'u');
	op(p, '.');
}

static const uint16_t storage0[6] = {0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0, 0x40c0}; /* 1..6 bf16 */

/* archive/data.pkl + archive/data/0 (+ version), written to name. */
static char *write_pth(const char *name, const void *pkl, size_t pkl_len, unsigned pkl_method,
                       int zip64)
{
	char *path = tl_tmp_path(name);
	struct rec r[] = {
		{"archive/data.pkl", pkl, pkl_len, pkl_method},
		{"archive/data/0", storage0, sizeof storage0, 0},
		{"archive/version", "3\n", 2, 0},
	};
	write_zip(path, r, 3, zip64);
	return path;
}

static enum ld_status open_pickle(struct buf *p, struct ld_err *err)
{
	char *path = write_pth("t.pth", p->b, p->n, 0, 0);
	struct ld_pth_file f;
	enum ld_status st = ld_pth_open(&f, path, err);
	if (st == LD_OK)
		ld_pth_close(&f);
	free(p->b);
	memset(p, 0, sizeof *p);
	return st;
}

static enum ld_status open_spec(const struct tspec *t, struct ld_err *err)
{
	struct buf p = {0};
	pickle_dict(&p, "w", t);
	return open_pickle(&p, err);
}

/* ---- files torch itself wrote */

static void test_real_torch_file(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_pth_file f;
	const char *path = "data/meta/f32_scaled/one/consolidated.00.pth";
	if (ld_pth_open(&f, path, &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(f.n, 1 + 2 * 9 + 2); /* embeddings, 2 layers of 9, norm, output */
	const struct ld_pth_tensor *t = ld_pth_find(&f, "layers.1.attention.wk.weight");
	assert_non_null(t);
	assert_int_equal(t->dtype, LD_F32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 16);
	assert_int_equal(t->shape[1], 32);
	assert_int_equal(t->nbytes, 16 * 32 * 4);
	/* A view straight into the mapping, not a copy. */
	assert_true((const char *)t->data > (const char *)f.map &&
	            (const char *)t->data + t->nbytes <= (const char *)f.map + f.map_len);
	/* The two gains of a layer share one storage: offsets 0 and dim. */
	const struct ld_pth_tensor *a = ld_pth_find(&f, "layers.0.attention_norm.weight"),
	                           *b = ld_pth_find(&f, "layers.0.ffn_norm.weight");
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_equal((const char *)a->data + 32 * 4, b->data);
	assert_null(ld_pth_find(&f, "rope.freqs"));
	ld_pth_close(&f);

	assert_int_equal(ld_pth_open(&f, "data/meta/bf16_plain/two/original/consolidated.01.pth", &err), LD_OK);
	t = ld_pth_find(&f, "layers.0.attention.wo.weight"); /* row-parallel: half the columns */
	assert_int_equal(t->dtype, LD_BF16);
	assert_int_equal(t->shape[0], 32);
	assert_int_equal(t->shape[1], 16);
	ld_pth_close(&f);
}

/* The writer here, stored and zip64: values read back in place. */
static void test_built_file_and_zip64(void **state)
{
	(void)state;
	for (int zip64 = 0; zip64 <= 1; zip64++) {
		struct ld_err err = {{0}};
		struct buf p = {0};
		pickle_dict(&p, "w", &good_t);
		char *path = write_pth(zip64 ? "z64.pth" : "z32.pth", p.b, p.n, 0, zip64);
		free(p.b);
		struct ld_pth_file f;
		if (ld_pth_open(&f, path, &err) != LD_OK)
			fail_msg("zip64=%d: %s", zip64, err.msg);
		assert_int_equal(f.n, 1);
		assert_string_equal(f.t[0].name, "w");
		assert_int_equal(f.t[0].dtype, LD_BF16);
		assert_int_equal(f.t[0].shape[1], 3);
		assert_int_equal(((uintptr_t)f.t[0].data - (uintptr_t)f.map) % 64, 0);
		assert_memory_equal(f.t[0].data, storage0, sizeof storage0);
		ld_pth_close(&f);
	}
	/* A view at an offset: the last 3 elements as (3,). */
	struct ld_err err = {{0}};
	struct tspec t = {"BFloat16Storage", "0", 6, 3, 1, {3}, {1}};
	struct buf p = {0};
	pickle_dict(&p, "tail", &t);
	char *path = write_pth("view.pth", p.b, p.n, 0, 0);
	free(p.b);
	struct ld_pth_file f;
	assert_int_equal(ld_pth_open(&f, path, &err), LD_OK);
	assert_memory_equal(f.t[0].data, storage0 + 3, 6);
	ld_pth_close(&f);
}

/* ---- the archive */

static void test_not_a_zip(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_pth_file f;
	/* torch.save before 1.6: a bare pickle starting with the magic number. */
	static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
	                                       0x6a, 0xa8, 0x50, 0x19, 0x2e};
	tl_write_bytes(tl_tmp_path("legacy.pth"), legacy, sizeof legacy);
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("legacy.pth"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "legacy.pth: a legacy torch.save file");
	tl_write_bytes(tl_tmp_path("text.pth"), "hello, world\n", 13);
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("text.pth"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "text.pth: not a zip archive");
	tl_write_bytes(tl_tmp_path("empty.pth"), "", 0);
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("empty.pth"), &err), LD_ERR_FORMAT);
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("missing.pth"), &err), LD_ERR_IO);
	assert_msg_has(err, "missing.pth");
}

/* Cut a real file anywhere: always one error, never a crash. */
static void test_truncated_zip(void **state)
{
	(void)state;
	char *text;
	size_t len;
	struct ld_err err = {{0}};
	assert_int_equal(ld_read_file("data/meta/bf16_plain/two/original/consolidated.00.pth", 1 << 24, &text,
	                              &len, &err), LD_OK);
	char *path = tl_tmp_path("cut.pth");
	for (size_t cut = 0; cut < len; cut += cut < 4096 ? 97 : 1999) {
		struct ld_pth_file f;
		tl_write_bytes(path, text, cut);
		enum ld_status st = ld_pth_open(&f, path, &err);
		if (st == LD_OK)
			fail_msg("a file cut to %zu of %zu bytes opened", cut, len);
		assert_msg_has(err, "cut.pth");
	}
	/* Cut just before the end record: the message says what is missing. */
	struct ld_pth_file f;
	tl_write_bytes(path, text, len - 10);
	assert_int_equal(ld_pth_open(&f, path, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "no zip end-of-central-directory record (truncated");
	free(text);
}

static void test_compressed_record(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct buf p = {0};
	pickle_dict(&p, "w", &good_t);
	char *path = write_pth("deflated.pth", p.b, p.n, 8, 0);
	free(p.b);
	struct ld_pth_file f;
	assert_int_equal(ld_pth_open(&f, path, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "deflated.pth: zip record archive/data.pkl is compressed (method 8)");
	/* A compressed storage is refused the same way. */
	p = (struct buf){0};
	pickle_dict(&p, "w", &good_t);
	struct rec r[] = {{"archive/data.pkl", p.b, p.n, 0}, {"archive/data/0", storage0, sizeof storage0, 8}};
	write_zip(tl_tmp_path("deflated2.pth"), r, 2, 0);
	free(p.b);
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("deflated2.pth"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "archive/data/0 is compressed");
}

static void test_big_endian(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct buf p = {0};
	pickle_dict(&p, "w", &good_t);
	struct rec r[] = {{"archive/data.pkl", p.b, p.n, 0},
	                  {"archive/byteorder", "big", 3, 0},
	                  {"archive/data/0", storage0, sizeof storage0, 0}};
	write_zip(tl_tmp_path("big.pth"), r, 3, 0);
	free(p.b);
	struct ld_pth_file f;
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("big.pth"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "big.pth: byteorder is not \"little\"");
}

static void test_damaged_pickle_crc(void **state)
{
	(void)state;
	char *text;
	size_t len;
	struct ld_err err = {{0}};
	assert_int_equal(ld_read_file("data/meta/f32_scaled/one/consolidated.00.pth", 1 << 24, &text, &len,
	                              &err), LD_OK);
	text[64 + 40] ^= 0x20; /* inside data.pkl, which torch puts first, at byte 64 */
	tl_write_bytes(tl_tmp_path("crc.pth"), text, len);
	free(text);
	struct ld_pth_file f;
	assert_int_equal(ld_pth_open(&f, tl_tmp_path("crc.pth"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "crc.pth: data.pkl fails its CRC-32 check");
}

/* ---- the pickle: nothing runs */

static void test_forbidden_globals(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	char marker[300];
	snprintf(marker, sizeof marker, "%s/pwned", tl_tmpdir());
	char cmd[400];
	snprintf(cmd, sizeof cmd, "touch %s", marker);
	/* os.system("touch .../pwned"): the classic pickle exploit. */
	struct buf p = {0};
	op(&p, 0x80), op(&p, 2);
	global(&p, "os", "system");
	ustr(&p, cmd);
	op(&p, 0x85), op(&p, 'R'), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "t.pth: data.pkl byte 2: refusing global os.system");
	assert_msg_has(err, "nothing was executed");
	assert_false(ld_path_exists(marker));
	/* builtins.eval, posix.system, a torch function that is not a storage. */
	const char *bad[][2] = {{"builtins", "eval"}, {"posix", "system"}, {"torch", "load"},
	                        {"collections", "OrderedDict\x01"}, {"torch._utils", "_rebuild_parameter"}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		op(&p, 0x80), op(&p, 2);
		global(&p, bad[i][0], bad[i][1]);
		op(&p, ')'), op(&p, 'R'), op(&p, '.');
		assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
		assert_msg_has(err, "refusing global");
	}
	/* A storage class for a dtype we do not read. */
	struct tspec t = good_t;
	t.cls = "LongStorage";
	assert_int_equal(open_spec(&t, &err), LD_ERR_DTYPE);
	assert_msg_has(err, "torch.LongStorage tensors are not supported");
	/* REDUCE of something that is not callable here: a storage class. */
	op(&p, 0x80), op(&p, 2);
	global(&p, "torch", "FloatStorage");
	op(&p, ')'), op(&p, 'R'), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "REDUCE calls something");
}

static void test_unknown_opcodes(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	/* STACK_GLOBAL, INST, OBJ, NEWOBJ, FRAME, BINFLOAT, EMPTY_LIST: none is in a state dict. */
	const unsigned ops[] = {0x93, 'i', 'o', 0x81, 0x95, 'G', ']'};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct buf p = {0};
		op(&p, 0x80), op(&p, 2), op(&p, '}'), op(&p, ops[i]), op(&p, '.');
		assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
		assert_msg_has(err, "data.pkl byte 3: opcode 0x");
		assert_msg_has(err, "is not one torch.save writes");
	}
	struct buf p = {0};
	op(&p, 0x80), op(&p, 4), op(&p, '}'), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "pickle protocol 4; torch.save writes protocol 2");
}

static void test_truncated_and_underflow(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct buf p = {0};
	/* Every prefix of a good pickle fails cleanly. */
	pickle_dict(&p, "w", &good_t);
	size_t n = p.n;
	unsigned char *whole = malloc(n);
	memcpy(whole, p.b, n);
	free(p.b);
	for (size_t cut = 0; cut < n; cut++) {
		p = (struct buf){0};
		put(&p, whole, cut);
		if (open_pickle(&p, &err) == LD_OK)
			fail_msg("a pickle cut to %zu of %zu bytes loaded", cut, n);
	}
	free(whole);
	p = (struct buf){0};
	op(&p, 0x80), op(&p, 2), op(&p, '}');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "ends without STOP");
	op(&p, 0x80), op(&p, 2), op(&p, 'X'), put32(&p, 0xfffffff0u), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "ends inside an opcode");
	/* Pops with nothing there: SETITEM, REDUCE, BUILD, STOP, TUPLE without MARK. */
	const unsigned ops[] = {'s', 'R', 'b', '.', 0x86};
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		op(&p, 0x80), op(&p, 2), op(&p, ops[i]), op(&p, '.');
		assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
		assert_msg_has(err, "stack underflow");
	}
	/* A MARK fences off what is below it. */
	op(&p, 0x80), op(&p, 2), op(&p, '}'), op(&p, '('), op(&p, 'N'), op(&p, 's'), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "stack underflow");
	op(&p, 0x80), op(&p, 2), op(&p, 't'), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "no MARK");
}

static void test_memo(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct buf p = {0};
	op(&p, 0x80), op(&p, 2), op(&p, '}'), op(&p, 'h'), op(&p, 5), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "memo index 5 was never stored");
	op(&p, 0x80), op(&p, 2), op(&p, '}'), op(&p, 'r'), put32(&p, 0xffffffffu), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_RANGE);
	assert_msg_has(err, "memo index 4294967295 is out of range");
	op(&p, 0x80), op(&p, 2), op(&p, 'j'), put32(&p, 0x7fffffffu), op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "was never stored");
}

/* Deep nesting and long runs: bounded, no recursion, no crash. */
static void test_bombs(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct buf p = {0};
	/* 200000 nested 1-tuples: ((((...),),),) */
	op(&p, 0x80), op(&p, 2), op(&p, ')');
	for (int i = 0; i < 200000; i++)
		op(&p, 0x85);
	op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "holds no dict");
	/* A dict holding itself, then read back through the memo many times. */
	op(&p, 0x80), op(&p, 2), op(&p, '}'), op(&p, 'q'), op(&p, 0);
	for (int i = 0; i < 1000; i++)
		op(&p, 'K'), op(&p, (unsigned)i & 0xff), op(&p, 'h'), op(&p, 0), op(&p, 's');
	op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_OK); /* no tensors: an empty state dict */
	/* More MARKs than the interpreter keeps. */
	op(&p, 0x80), op(&p, 2);
	for (int i = 0; i < (1 << 20) + 10; i++)
		op(&p, '(');
	op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_RANGE);
	assert_msg_has(err, "MARKs");
	/* More values than the stack keeps. */
	op(&p, 0x80), op(&p, 2);
	for (int i = 0; i < (1 << 20) + 10; i++)
		op(&p, 'N');
	op(&p, '.');
	assert_int_equal(open_pickle(&p, &err), LD_ERR_RANGE);
	assert_msg_has(err, "stack grew past");
}

/* ---- tensors: storage, offset, stride */

static void test_storage_key_missing(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct tspec t = good_t;
	t.key = "7";
	assert_int_equal(open_spec(&t, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "t.pth: data.pkl byte");
	assert_msg_has(err, "storage key \"7\" does not exist (no record archive/data/7");
	t.key = "../../etc/passwd";
	assert_int_equal(open_spec(&t, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "does not exist");
	/* The pickle claims more elements than the record holds. */
	t = good_t;
	t.numel = 600;
	assert_int_equal(open_spec(&t, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "storage \"0\" has 12 bytes, the pickle says 600 elements of BF16");
}

static void test_offset_past_storage(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct tspec t = good_t;
	t.offset = 1; /* 1 + 6 elements > 6 */
	assert_int_equal(open_spec(&t, &err), LD_ERR_RANGE);
	assert_msg_has(err, "tensor at storage offset 1 with 6 elements runs past the end of its storage (6");
	t.offset = 100000;
	assert_int_equal(open_spec(&t, &err), LD_ERR_RANGE);
	t.offset = -1;
	assert_int_equal(open_spec(&t, &err), LD_ERR_RANGE);
	/* Sizes whose product overflows must not wrap around into "fits". */
	t = (struct tspec){"BFloat16Storage", "0", 6, 0, 3, {65536, 65536, 65536}, {0, 0, 1}};
	t.stride[1] = 65536;
	t.stride[0] = 0; /* contiguity fails first or the bound does: either way an error */
	assert_int_not_equal(open_spec(&t, &err), LD_OK);
	t = (struct tspec){"BFloat16Storage", "0", 6, 0, 2, {2147483647, 2147483647}, {2147483647, 1}};
	assert_int_not_equal(open_spec(&t, &err), LD_OK);
	t = (struct tspec){"BFloat16Storage", "0", 6, 0, 2, {-2, 3}, {3, 1}};
	assert_int_equal(open_spec(&t, &err), LD_ERR_SHAPE);
}

static void test_non_contiguous_stride(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct tspec t = good_t;
	t.stride[0] = 1, t.stride[1] = 2; /* a transpose */
	assert_int_equal(open_spec(&t, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "tensor of size (2, 3) has stride (1, 2), not contiguous");
	t = good_t;
	t.stride[0] = 4; /* rows with gaps */
	assert_int_equal(open_spec(&t, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "not contiguous");
	/* A size-1 dimension may carry any stride, as in torch. */
	t = (struct tspec){"BFloat16Storage", "0", 6, 0, 3, {1, 2, 3}, {99, 3, 1}};
	assert_int_equal(open_spec(&t, &err), LD_OK);
}

/* Flip bytes all over a small good file: errors, but never a crash. */
static void test_mutations(void **state)
{
	(void)state;
	struct buf p = {0};
	pickle_dict(&p, "w", &good_t);
	char *path = write_pth("mut.pth", p.b, p.n, 0, 1);
	free(p.b);
	char *text;
	size_t len;
	struct ld_err err = {{0}};
	assert_int_equal(ld_read_file(path, 1 << 20, &text, &len, &err), LD_OK);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	int opened = 0;
	for (size_t i = 0; i < len; i++) {
		static const unsigned char flips[] = {0xff, 0x80};
		for (size_t k = 0; k < sizeof flips; k++) {
			char c = (char)(text[i] ^ flips[k]);
			assert_int_equal(pwrite(fd, &c, 1, (off_t)i), 1);
			struct ld_pth_file f;
			if (ld_pth_open(&f, path, &err) == LD_OK) {
				opened++; /* zip padding, a storage byte (no CRC check there), ...: fine */
				for (size_t t = 0; t < f.n; t++)
					assert_true((const char *)f.t[t].data + f.t[t].nbytes <=
					            (const char *)f.map + f.map_len);
				ld_pth_close(&f);
			} else {
				assert_msg_has(err, "mut.pth");
			}
		}
		assert_int_equal(pwrite(fd, text + i, 1, (off_t)i), 1);
	}
	close(fd);
	assert_true(opened > 0 && (size_t)opened < 2 * len);
	free(text);
}

/* The CRC that checks data.pkl, on the standard check input. */
static void test_crc32_check_value(void **state)
{
	(void)state;
	assert_int_equal(ld_crc32((const unsigned char *)"123456789", 9), 0xcbf43926u);
	assert_int_equal(ld_crc32((const unsigned char *)"", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_check_value),
		cmocka_unit_test(test_real_torch_file),
		cmocka_unit_test(test_built_file_and_zip64),
		cmocka_unit_test(test_not_a_zip),
		cmocka_unit_test(test_truncated_zip),
		cmocka_unit_test(test_compressed_record),
		cmocka_unit_test(test_damaged_pickle_crc),
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_forbidden_globals),
		cmocka_unit_test(test_unknown_opcodes),
		cmocka_unit_test(test_truncated_and_underflow),
		cmocka_unit_test(test_memo),
		cmocka_unit_test(test_bombs),
		cmocka_unit_test(test_storage_key_missing),
		cmocka_unit_test(test_offset_past_storage),
		cmocka_unit_test(test_non_contiguous_stride),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, tl_setup_tmpdir, tl_teardown_tmpdir);
}
