/* tok_bench.c - how fast text becomes token ids.
 *
 *   make build/tests/bench/tok_bench
 *   build/tests/bench/tok_bench [TOKENIZER]      (run from the repository root)
 *
 * TOKENIZER is a tokenizer file or model directory; by default the real
 * data/llama3/tokenizer.model (make llama3-tokenizer), else the tiny test
 * vocabulary. Encodes a few MB of English (the licence texts in
 * /usr/share/common-licenses, repeated; generated words if absent) and
 * three hostile 1 MB inputs that are each one long piece or no piece at
 * all, and prints MB/s for each. A quadratic BPE would take minutes on the
 * 1 MB pieces; this one should take well under a second.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tokenizer.h"

#define ENGLISH_BYTES ((size_t)4 << 20)
#define HOSTILE_BYTES ((size_t)1 << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717u;
}

/* Append the regular files of dir to buf (at most cap bytes). */
static size_t read_dir_texts(const char *dir, char *buf, size_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < cap) {
		char path[1024];
		struct stat sb;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		n += fread(buf + n, 1, cap - n, f);
		fclose(f);
	}
	closedir(d);
	return n;
}

/* A few MB of English: real prose if the system has some, repeated. */
static char *english(size_t *len)
{
	char *buf = malloc(ENGLISH_BYTES);
	if (!buf)
		return NULL;
	size_t n = read_dir_texts("/usr/share/common-licenses", buf, ENGLISH_BYTES);
	if (n < 1000) {
		static const char *const words[] = { "the", "of", "and", "a", "to", "in", "is", "you", "that", "it",
		                                     "he", "was", "for", "on", "are", "as", "with", "his", "they",
		                                     "model", "token", "attention", "layer", "42." };
		uint64_t rng = 1;
		n = 0;
		while (n + 16 < ENGLISH_BYTES) {
			const char *w = words[next_random(&rng) % (sizeof words / sizeof words[0])];
			n += (size_t)sprintf(buf + n, "%s%s", n ? " " : "", w);
		}
	}
	for (size_t i = n; i < ENGLISH_BYTES; i++) /* repeat to the full size */
		buf[i] = buf[i % n];
	*len = ENGLISH_BYTES;
	return buf;
}

static int run(const struct ld_tokenizer *tk, const char *name, const char *text, size_t len)
{
	int32_t *ids = NULL;
	size_t n = 0;
	struct ld_err err = { "" };
	double t0 = now();
	enum ld_status st = ld_tok_encode(tk, text, len, 0, &ids, &n, &err);
	double dt = now() - t0;
	if (st) {
		fprintf(stderr, "tok_bench: %s\n", err.msg);
		return 1;
	}
	double mb = (double)len / 1e6;
	printf("tok_bench: %-28s %6.2f MB in %7.3f s = %7.2f MB/s, %zu tokens (%.2f bytes/token)\n", name, mb,
	       dt, mb / dt, n, (double)len / (double)(n ? n : 1));
	free(ids);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : NULL;
	struct stat sb;
	if (!path)
		path = stat("data/llama3/tokenizer.model", &sb) == 0 ? "data/llama3/tokenizer.model"
		                                                     : "tests/data/tok/tiny/tokenizer.model";
	struct ld_tokenizer *tk = NULL;
	struct ld_err err = { "" };
	double t0 = now();
	enum ld_status st = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? ld_tok_load_dir(&tk, path, &err)
	                                                                 : ld_tok_load_file(&tk, path, &err);
	if (st) {
		fprintf(stderr, "tok_bench: %s\n", err.msg);
		return 1;
	}
	printf("tok_bench: loaded %s (%zu ids) in %.3f s\n", ld_tok_path(tk), ld_tok_vocab_size(tk), now() - t0);

	int bad = 0;
	size_t len;
	char *text = english(&len);
	if (!text)
		return 1;
	bad |= run(tk, "English text", text, len);

	/* One piece of a megabyte: random letters, no space anywhere. */
	uint64_t rng = 42;
	for (size_t i = 0; i < HOSTILE_BYTES; i++)
		text[i] = (char)('a' + next_random(&rng) % 26);
	bad |= run(tk, "1 MB random letters, no space", text, HOSTILE_BYTES);
	/* One piece where every pair ties: all the same letter. */
	memset(text, 'a', HOSTILE_BYTES);
	bad |= run(tk, "1 MB of 'a'", text, HOSTILE_BYTES);
	/* Random bytes: mostly not UTF-8, so mostly one-byte pieces. */
	for (size_t i = 0; i < HOSTILE_BYTES; i++)
		text[i] = (char)next_random(&rng);
	bad |= run(tk, "1 MB random bytes", text, HOSTILE_BYTES);

	free(text);
	ld_tok_free(tk);
	return bad;
}
