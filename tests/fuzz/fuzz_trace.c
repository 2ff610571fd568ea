/* fuzz_trace.c - a saved trace is input too: what `ls`, `dump` and the
 * viewer open. Lying shapes, offsets past the end, metadata of the wrong
 * type must give one line; a trace that opens is summarised as `ls` does
 * and then toured in the viewer on a headless screen, large and tiny. */
#include <stdio.h>
#include <unistd.h>

#include "fuzzlib.h"
#include "trace.h"
#include "viewer.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!(devnull = fopen("/dev/null", "w")))
		fz_fail("cannot open /dev/null");
	return 0;
}

/* What `ls` computes for each point. */
static void summarise(const struct ld_trace *tr)
{
	for (size_t i = 0; i < tr->n; i++) {
		struct ld_stats s;
		char shape[128];
		ld_tensor_stats(&tr->t[i], &s);
		ld_tensor_shape_str(&tr->t[i], shape, sizeof shape);
		if (ld_trace_find(tr, tr->t[i].name) < 0)
			fz_fail("point %s is listed but not found by name", tr->t[i].name);
	}
	for (size_t i = 0; i < tr->n_generated; i++)
		(void)ld_trace_vocab_str(tr, tr->generated[i]);
	for (size_t i = 0; i < tr->n_tokens; i++)
		(void)ld_trace_vocab_str(tr, tr->tokens[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_file(data, size, path, sizeof path);
	struct ld_trace tr;
	struct ld_err err = {{0}};
	enum ld_status st = ld_trace_open(&tr, path, &err);
	fz_check_error(st, &err, "ld_trace_open");
	if (st == LD_OK) {
		summarise(&tr);
		/* Points, a heatmap, head, layer and token moves, the overview,
		 * turned axes, the row maximum, the last point, a NaN search,
		 * the logit lens view and its moves. */
		static const char tour[] = "jjmltJoxMLGnijlk}i";
		fz_check_error(ld_view_bench(&tr, tour, 24, 80, devnull, &err), &err, "the viewer");
		fz_check_error(ld_view_bench(&tr, tour, 5, 10, devnull, &err), &err, "the viewer (10x5)");
		ld_trace_free(&tr);
	}
	close(fd);
	return 0;
}
