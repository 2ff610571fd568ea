/* cli_tokenize.c - `llamadbg tokenize`: see how text becomes token ids.
 *
 *   llamadbg tokenize -m MODEL [--ids] [--no-bos] [--allow-special] TEXT
 *   llamadbg tokenize -m MODEL ... -f FILE       (the file's bytes, as they are)
 *   llamadbg tokenize -m MODEL ... -             (standard input)
 *   llamadbg tokenize -m MODEL ... -- -TEXT      (`--` ends the options)
 *   llamadbg tokenize --convert tokenizer.json -o tokenizer.model [--force]
 *
 * MODEL is a model directory or a tokenizer file. The default output is one
 * token per line, "id<TAB>display form"; --ids prints only the ids on one
 * line. Errors are one line on stderr, "llamadbg: FILE: what was wrong",
 * and exit status 1.
 */
#include "cli.h"
#include "tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define USAGE \
	"usage: llamadbg tokenize -m MODEL_DIR [--ids] [--no-bos] [--allow-special] [-f FILE] [--] TEXT|-\n" \
	"       llamadbg tokenize --convert tokenizer.json -o tokenizer.model [--force]\n"

struct tok_args {
	const char *model;      /* -m: model directory or tokenizer file */
	const char *text;       /* TEXT, "-" for standard input */
	const char *file;       /* -f: read the text from this file */
	const char *convert;    /* --convert: tokenizer file to convert */
	const char *output;     /* -o: where the converted file goes */
	int ids_only, no_bos, allow_special, force;
};

static int fail(const char *msg)
{
	fprintf(stderr, "llamadbg: %s\n", msg);
	return 1;
}

static int usage_error(const char *what)
{
	fprintf(stderr, "llamadbg: tokenize: %s (try llamadbg tokenize --help)\n", what);
	return 1;
}

/* Read all of f; the prompt is taken byte for byte, newlines included. */
static int read_all(FILE *f, const char *name, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (!b)
		return -1;
	for (;;) {
		if (n == cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -1;
			}
			b = nb;
			cap *= 2;
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "llamadbg: %s: read error: %s\n", name, strerror(errno));
		free(b);
		return -1;
	}
	*buf = b;
	*len = n;
	return 0;
}

static int parse_args(int argc, char **argv, struct tok_args *a)
{
	int options = 1; /* `--` ends them: a text may start with '-' */
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (options && strcmp(s, "--") == 0) {
			options = 0;
			continue;
		}
		if (!options) {
			if (a->text)
				return usage_error("more than one TEXT (quote the text)");
			a->text = s;
			continue;
		}
		/* Options that take a value: the value is the next argument. */
		const char **slot = NULL;
		if (strcmp(s, "-m") == 0 || strcmp(s, "--model") == 0)
			slot = &a->model;
		else if (strcmp(s, "-f") == 0 || strcmp(s, "--file") == 0)
			slot = &a->file;
		else if (strcmp(s, "-p") == 0 || strcmp(s, "--prompt") == 0)
			slot = &a->text;
		else if (strcmp(s, "--convert") == 0)
			slot = &a->convert;
		else if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0)
			slot = &a->output;
		if (slot) {
			if (i + 1 == argc) {
				char msg[128];
				snprintf(msg, sizeof msg, "%s needs a value", s);
				return usage_error(msg);
			}
			*slot = argv[++i];
			continue;
		}
		if (strcmp(s, "--ids") == 0)
			a->ids_only = 1;
		else if (strcmp(s, "--no-bos") == 0)
			a->no_bos = 1;
		else if (strcmp(s, "--allow-special") == 0)
			a->allow_special = 1;
		else if (strcmp(s, "--force") == 0)
			a->force = 1;
		else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			fputs(USAGE, stdout);
			return -1;
		} else if (s[0] == '-' && s[1] != 0) {
			char msg[256];
			snprintf(msg, sizeof msg, "unknown option %.200s", s);
			return usage_error(msg);
		} else if (a->text) {
			return usage_error("more than one TEXT (quote the text)");
		} else {
			a->text = s;
		}
	}
	return 0;
}

/* --convert: tokenizer.json (or any tokenizer file) -> tiktoken lines. */
static int convert(const struct tok_args *a)
{
	if (!a->output)
		return usage_error("--convert needs -o OUTPUT");
	struct ld_err err = { "" };
	struct ld_tokenizer *tk = NULL;
	if (ld_tok_load_file(&tk, a->convert, &err))
		return fail(err.msg);
	enum ld_status st = ld_tok_write_tiktoken(tk, a->output, a->force, &err);
	ld_tok_free(tk);
	if (st == LD_ERR_EXISTS) {
		fprintf(stderr, "llamadbg: %s (--force replaces it)\n", err.msg);
		return 1;
	}
	return st ? fail(err.msg) : 0;
}

static int print_tokens(const struct ld_tokenizer *tk, const int32_t *ids, size_t n, int ids_only)
{
	for (size_t i = 0; i < n; i++) {
		if (ids_only) {
			printf(i ? " %d" : "%d", ids[i]);
			continue;
		}
		char *d = ld_tok_display(tk, ids[i]);
		if (!d)
			return fail("out of memory");
		printf("%d\t%s\n", ids[i], d);
		free(d);
	}
	if (ids_only)
		putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "llamadbg: standard output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int ld_cmd_tokenize(int argc, char **argv)
{
	struct tok_args a = { 0 };
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (a.convert)
		return convert(&a);
	if (!a.model)
		return usage_error("missing -m MODEL_DIR");
	if (a.file && a.text)
		return usage_error("give the text or -f FILE, not both");
	if (!a.file && !a.text)
		return usage_error("missing TEXT (or -f FILE, or - for standard input)");

	/* The text, as bytes: from the command line, a file or stdin. */
	char *buf = NULL;
	size_t len = 0;
	const char *text = a.text;
	if (a.file || strcmp(a.text, "-") == 0) {
		FILE *f = a.file ? fopen(a.file, "rb") : stdin;
		const char *name = a.file ? a.file : "standard input";
		if (!f) {
			fprintf(stderr, "llamadbg: %s: %s\n", name, strerror(errno));
			return 1;
		}
		int r = read_all(f, name, &buf, &len);
		if (a.file)
			fclose(f);
		if (r)
			return 1;
		text = buf;
	} else {
		len = strlen(text);
	}

	struct ld_err err = { "" };
	struct ld_tokenizer *tk = NULL;
	struct stat sb;
	enum ld_status st = stat(a.model, &sb) == 0 && S_ISREG(sb.st_mode)
	                    ? ld_tok_load_file(&tk, a.model, &err)
	                    : ld_tok_load_dir(&tk, a.model, &err);
	int32_t *ids = NULL;
	size_t n = 0;
	if (!st) {
		unsigned flags = (a.no_bos ? 0 : LD_TOK_BOS) | (a.allow_special ? LD_TOK_ALLOW_SPECIAL : 0);
		st = ld_tok_encode(tk, text, len, flags, &ids, &n, &err);
	}
	rc = st ? fail(err.msg) : print_tokens(tk, ids, n, a.ids_only);
	free(ids);
	ld_tok_free(tk);
	free(buf);
	return rc;
}
