/* sources.c - the core/ sources for the source pane: embedded, else disk. */
#include "vw_sources.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* core_sources.inc is generated at build time by viewer/embed_sources.sh
 * (see the Makefile); a build without it still works, reading from disk. */
#if defined(__has_include)
#if __has_include("core_sources.inc")
#include "core_sources.inc"
#define VW_HAVE_EMBEDDED 1
#endif
#endif

static const struct vw_srcfile embedded[] = {
#ifdef VW_HAVE_EMBEDDED
#define VW_EMBED(path, lines, n) {path, n, lines, NULL, NULL},
	VW_EMBEDDED_FILES
#undef VW_EMBED
#endif
	{NULL, 0, NULL, NULL, NULL},
};

size_t vw_source_n_embedded(void)
{
	return sizeof embedded / sizeof embedded[0] - 1;
}

const struct vw_srcfile *vw_source_embedded(const char *path)
{
	for (size_t i = 0; i < vw_source_n_embedded(); i++)
		if (strcmp(embedded[i].path, path) == 0)
			return &embedded[i];
	return NULL;
}

int vw_src_split(const char *src, char *path, size_t size, long *line)
{
	const char *colon = src ? strrchr(src, ':') : NULL;
	if (!colon || colon == src || (size_t)(colon - src) >= size)
		return -1;
	char *end;
	long n = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || n < 1)
		return -1;
	memcpy(path, src, (size_t)(colon - src));
	path[colon - src] = '\0';
	*line = n;
	return 0;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 14, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n < cap)
			break;
		if (cap > (64u << 20)) { /* not a source file */
			free(buf);
			buf = NULL;
			break;
		}
		char *nb = realloc(buf, cap * 2 + 1);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int vw_source_load(struct vw_srcfile *f, const char *path)
{
	memset(f, 0, sizeof *f);
	char cand[3][PATH_MAX];
	int nc = 0;
	snprintf(cand[nc++], sizeof cand[0], "%s", path);
	snprintf(cand[nc++], sizeof cand[0], "../%s", path);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(cand[nc++], sizeof cand[0], "%.*s/../%s", PATH_MAX / 2, exe, path);
		}
	}
	char *text = NULL;
	size_t len = 0;
	for (int i = 0; i < nc && !text; i++)
		text = read_all(cand[i], &len);
	if (!text)
		return -1;
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (len && text[len - 1] != '\n')
		lines++;
	const char **arr = malloc((lines + 1) * sizeof *arr);
	char *p = strdup(path);
	if (!arr || !p) {
		free(arr);
		free(p);
		free(text);
		return -1;
	}
	size_t k = 0;
	char *s = text;
	while (k < lines) {
		char *nl = strchr(s, '\n');
		arr[k++] = s;
		if (!nl)
			break;
		*nl = '\0';
		if (nl > s && nl[-1] == '\r')
			nl[-1] = '\0';
		s = nl + 1;
	}
	f->path = p;
	f->n_lines = k;
	f->lines = arr;
	f->owned_text = text;
	f->owned_lines = arr;
	return 0;
}

void vw_source_free(struct vw_srcfile *f)
{
	if (f->owned_text) {
		free(f->owned_text);
		free(f->owned_lines);
		free((char *)f->path);
	}
	memset(f, 0, sizeof *f);
}
