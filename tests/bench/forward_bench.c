/* forward_bench.c - time ld_forward in one process: the first pass (which
 * also maps the weights' pages in) and the median and fastest of later
 * passes, with every point recorded, with none, and with only the logit
 * lens (trace --lens: one more output projection per layer, its cost said
 * against the pass that records nothing). The later passes are
 * what llama.cpp's "eval time" measures; `llamadbg trace` adds process
 * start, page mapping, writing the file and unmapping. On a shared machine
 * the fastest pass is the one least slowed by neighbours.
 *
 * Last, it says how much of the weights the kernel mapped in 2 MB pages
 * (util.c asks for them): a file cached earlier in 4 KB pieces is read by
 * the matmuls through 4 KB pages, and runs slower, until it is evicted.
 *
 *   forward_bench MODEL GFLOP [REPEAT [TOKENS [MODES]]]
 *
 * MODEL is anything `llamadbg trace -m` takes: a model directory or a
 * .gguf file (its block types are decoded inside the matmul). TOKENS
 * (default 17) repeats the seed prompt's ids to that length, for long
 * prompts (GFLOP is then the caller's count for that length). MODES is a
 * comma-separated choice of all, none and lens (default all three), for
 * passes too long to time every way.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forward.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* From /proc/self/smaps: the resident kB of this process's mappings of
 * dir (a file) or of files under it, and how many of them are mapped in 2 MB pages. Returns 0
 * if smaps cannot be read (not Linux). */
static int weight_pages(const char *dir, unsigned long long *rss_kb, unsigned long long *pmd_kb)
{
	char real[PATH_MAX], line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f || !realpath(dir, real)) {
		if (f)
			fclose(f);
		return 0;
	}
	size_t n = strlen(real);
	int ours = 0;
	unsigned long long kb;
	*rss_kb = *pmd_kb = 0;
	while (fgets(line, sizeof line, f)) {
		char *path = strchr(line, '/');
		if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) /* a mapping's first line */
			ours = path && strncmp(path, real, n) == 0 && (path[n] == '/' || path[n] == '\n');
		else if (ours && sscanf(line, "Rss: %llu kB", &kb) == 1)
			*rss_kb += kb;
		else if (ours && sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1)
			*pmd_kb += kb;
	}
	fclose(f);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: forward_bench MODEL GFLOP [REPEAT [TOKENS [MODES]]]\n");
		return 1;
	}
	const double gflop = atof(argv[2]);
	const int repeat = argc > 3 ? atoi(argv[3]) : 5;
	if (repeat < 1) {
		fprintf(stderr, "forward_bench: REPEAT must be a positive count\n");
		return 1;
	}
	/* The seed prompt's 17 Llama 3 token ids. */
	const int32_t seed[17] = {128000, 1820, 4320, 311, 279, 17139, 3488, 315, 2324,
	                          11,     279,  15861, 11, 323, 4395,  374,  220};
	const long n_ids = argc > 4 ? atol(argv[4]) : 17;
	int32_t *ids = n_ids > 0 ? malloc((size_t)n_ids * sizeof *ids) : NULL;
	if (!ids) {
		fprintf(stderr, "forward_bench: TOKENS must be a positive count\n");
		return 1;
	}
	for (long i = 0; i < n_ids; i++)
		ids[i] = seed[i % 17];
	struct ld_model m;
	struct ld_err err = {{0}};
	if (ld_model_load(&m, argv[1], &err) != LD_OK) {
		fprintf(stderr, "forward_bench: %s\n", err.msg);
		return 1;
	}
	const char *none[] = {"none"}, *lens[] = {"layers.*.lens_*"};
	const struct ld_forward_opts modes[3] = {
		{0}, {.only = none, .n_only = 1}, {.only = lens, .n_only = 1, .lens_k = 5}};
	const char *names[3] = {"all", "none", "lens"};
	int want[3] = {1, 1, 1};
	if (argc > 5) {
		char *list = strdup(argv[5]);
		want[0] = want[1] = want[2] = 0;
		for (char *s = list ? strtok(list, ",") : NULL; s; s = strtok(NULL, ",")) {
			int k = 0;
			while (k < 3 && strcmp(s, names[k]) != 0)
				k++;
			if (k == 3) {
				fprintf(stderr, "forward_bench: MODES: unknown mode '%s' (all, none or lens)\n", s);
				return 1;
			}
			want[k] = 1;
		}
		free(list);
	}
	double *t = calloc((size_t)repeat + 1, sizeof *t), med_none = 0;
	for (int k = 0; k < 3 && t; k++) {
		if (!want[k])
			continue;
		for (int i = 0; i <= repeat; i++) {
			struct ld_trace tr;
			ld_trace_init(&tr);
			double a = now();
			if (ld_forward(&m, ids, (size_t)n_ids, &modes[k], &tr, &err) != LD_OK) {
				fprintf(stderr, "forward_bench: %s\n", err.msg);
				return 1;
			}
			t[i] = now() - a;
			ld_trace_free(&tr);
		}
		double first = t[0];
		qsort(t + 1, (size_t)repeat, sizeof *t, cmp_double);
		double med = t[1 + repeat / 2], best = t[1];
		if (k == 2) {
			/* 2 * tokens * dim * vocab per layer */
			const struct ld_config *c = &m.cfg;
			double extra = 2.0 * (double)n_ids * c->dim * (double)c->vocab_size * c->n_layers / 1e9;
			if (med_none > 0)
				printf("in-process forward, logit lens (--lens, %d output projections more)  median %.3f s"
				       "  +%.3f s (+%.0f%%) over none  %.1f GFLOP/s  best %.3f s\n",
				       c->n_layers, med, med - med_none, 100 * (med - med_none) / med_none,
				       (gflop + extra) / med, best);
			else
				printf("in-process forward, logit lens (--lens, %d output projections more)  median %.3f s"
				       "  %.1f GFLOP/s  best %.3f s\n",
				       c->n_layers, med, (gflop + extra) / med, best);
			continue;
		}
		if (k == 1)
			med_none = med;
		printf("in-process forward, record %-4s  first %.3f s  median %.3f s  %.1f GFLOP/s  "
		       "%.1f%% of 197  best %.3f s\n",
		       names[k], first, med, gflop / med, 100 * gflop / med / 197, best);
	}
	unsigned long long rss, pmd;
	if (weight_pages(argv[1], &rss, &pmd) && rss > 0) {
		printf("weights in 2 MB pages: %.0f of %.0f MB mapped (%.0f%%)\n", pmd / 1024.0,
		       rss / 1024.0, 100.0 * (double)pmd / (double)rss);
		if (rss > 64 * 1024 && pmd < rss * 9 / 10) /* small files cannot have 2 MB pages */
			printf("  (the rest was cached in small pieces before this run; to have it re-read\n"
			       "   in 2 MB pages, drop it from the page cache: dd if=FILE iflag=nocache count=0)\n");
	}
	free(t);
	free(ids);
	ld_model_free(&m);
	return 0;
}
