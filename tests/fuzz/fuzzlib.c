/* fuzzlib.c - memory files and the one-line-error check for the harnesses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzzlib.h"
#include "pth.h"
#include "tokenizer.h"

#ifndef LD_SRCDIR
#define LD_SRCDIR "."
#endif

void fz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

int fz_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
	int fd = memfd_create("llamadbg-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		fz_fail("memfd_create failed");
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, data + done, size - done);
		if (n <= 0)
			fz_fail("writing %zu bytes to a memfd failed", size);
		done += (size_t)n;
	}
	snprintf(path, path_size, "/proc/self/fd/%d", fd);
	return fd;
}

void fz_check_error(enum ld_status st, const struct ld_err *err, const char *what)
{
	if (st == LD_OK)
		return;
	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "%s: %s\n", what, err->msg);
	size_t n = strnlen(err->msg, sizeof err->msg);
	if (n == 0)
		fz_fail("%s failed (status %d) with an empty message", what, (int)st);
	if (n == sizeof err->msg)
		fz_fail("%s: the error message is not terminated", what);
	if (memchr(err->msg, '\n', n))
		fz_fail("%s: the error message has more than one line: %s", what, err->msg);
}

const char *fz_source_path(const char *rel)
{
	static char buf[4096];
	snprintf(buf, sizeof buf, "%s/%s", LD_SRCDIR, rel);
	return buf;
}

void fz_tokenizer_file(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_file(data, size, path, sizeof path);
	struct ld_tokenizer *tk = NULL;
	struct ld_err err = {{0}};
	enum ld_status st = ld_tok_load_file(&tk, path, &err);
	fz_check_error(st, &err, "ld_tok_load_file");
	close(fd);
	if (st != LD_OK) {
		if (tk)
			fz_fail("ld_tok_load_file failed but returned a tokenizer");
		return;
	}
	/* A text the vocabulary can spell: its first tokens, run together. */
	char text[512];
	size_t len = 0, tlen;
	for (int32_t id = 0; id < 32; id++) {
		const uint8_t *b = ld_tok_bytes(tk, id, &tlen);
		if (b && tlen <= sizeof text - len) {
			memcpy(text + len, b, tlen);
			len += tlen;
		}
	}
	int32_t *ids = NULL;
	size_t n = 0;
	st = ld_tok_encode(tk, text, len, LD_TOK_BOS | LD_TOK_ALLOW_SPECIAL, &ids, &n, &err);
	fz_check_error(st, &err, "ld_tok_encode");
	if (st == LD_OK) {
		char *out = NULL;
		size_t out_len = 0;
		st = ld_tok_decode(tk, ids, n, &out, &out_len, &err);
		fz_check_error(st, &err, "ld_tok_decode");
		free(out);
	}
	free(ids);
	size_t v = ld_tok_vocab_size(tk);
	for (size_t i = 0; i < v && i < 300; i++)
		free(ld_tok_display(tk, (int32_t)i));
	ld_tok_free(tk);
}

void fz_pth_file(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_file(data, size, path, sizeof path);
	struct ld_pth_file f;
	struct ld_err err = {{0}};
	enum ld_status st = ld_pth_open(&f, path, &err);
	fz_check_error(st, &err, "ld_pth_open");
	close(fd);
	if (st != LD_OK)
		return;
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < f.n; i++) {
		const struct ld_pth_tensor *t = &f.t[i];
		if (ld_pth_find(&f, t->name) == NULL)
			fz_fail("tensor %s is listed but not found by name", t->name);
		const unsigned char *p = t->data;
		if (t->nbytes)
			sink ^= p[0] ^ p[t->nbytes - 1];
	}
	(void)sink;
	ld_pth_close(&f);
}
