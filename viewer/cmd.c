/* cmd.c - `llamadbg view`: open a saved trace (or a synthetic one) and run
 * the viewer, or time its frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewer.h"

static const char view_usage[] =
	"usage: llamadbg view FILE\n"
	"       llamadbg view --synth tiny|small|8b\n"
	"       llamadbg view --bench [--keys KEYS] [--size LINESxCOLS] FILE|--synth NAME\n";

static int fail(const char *msg)
{
	fprintf(stderr, "llamadbg: %s\n", msg);
	return 1;
}

int ld_cmd_view(int argc, char **argv)
{
	const char *file = NULL, *synth = NULL, *keys = NULL;
	int bench = 0, lines = 24, cols = 80;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(view_usage, stdout);
			return 0;
		} else if (strcmp(a, "--bench") == 0) {
			bench = 1;
		} else if (strcmp(a, "--synth") == 0 && i + 1 < argc) {
			synth = argv[++i];
		} else if (strcmp(a, "--keys") == 0 && i + 1 < argc) {
			keys = argv[++i];
		} else if (strcmp(a, "--size") == 0 && i + 1 < argc) {
			if (sscanf(argv[++i], "%dx%d", &lines, &cols) != 2 || lines < 1 || cols < 1 || lines > 1000 ||
			    cols > 1000) {
				fprintf(stderr, "llamadbg: view --size: \"%s\" is not LINESxCOLS (e.g. 48x160)\n", argv[i]);
				return 2;
			}
		} else if (strcmp(a, "-m") == 0 || strcmp(a, "-p") == 0) {
			fprintf(stderr, "llamadbg: view %s: tracing a model is done by the main program, "
			                "which then opens the viewer\n", a);
			return 2;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "llamadbg: view: unknown option \"%s\"\n%s", a, view_usage);
			return 2;
		} else if (!file) {
			file = a;
		} else {
			fprintf(stderr, "llamadbg: view: one trace file, not \"%s\" too\n%s", a, view_usage);
			return 2;
		}
	}
	if (!file == !synth) {
		fputs(view_usage, stderr);
		return 2;
	}

	struct ld_trace tr;
	struct ld_err err = {""};
	enum ld_status st;
	ld_trace_init(&tr);
	if (synth) {
		struct vw_synth o;
		if (vw_synth_preset(&o, synth) != 0) {
			fprintf(stderr, "llamadbg: view --synth: \"%s\" is not a preset (tiny, small or 8b)\n", synth);
			return 2;
		}
		st = vw_synth_trace(&tr, &o, &err);
	} else {
		st = ld_trace_open(&tr, file, &err);
	}
	if (st != LD_OK)
		return fail(err.msg);
	if (bench)
		st = ld_view_bench(&tr, keys, lines, cols, stdout, &err);
	else
		st = ld_view_trace(&tr, &err);
	ld_trace_free(&tr);
	return st == LD_OK ? 0 : fail(err.msg);
}
