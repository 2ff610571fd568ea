/* fuzz_lesson.c - the lesson file parser, then every focus and check of a
 * lesson that parsed, computed on a synthetic trace as the runner would. */
#include "fuzzlib.h"
#include "lesson.h"
#include "trace.h"
#include "viewer.h"

static struct ld_trace synth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vw_synth o;
	struct ld_err err = {{0}};
	/* The seed prompt's 17 tokens, 8 heads on 2, 4 layers, 3 decode steps: what the
	 * bundled lessons point at, so that seeds pass and mutants get far. */
	if (vw_synth_preset(&o, "small") != 0)
		fz_fail("no synthetic preset \"small\"");
	o.n_layers = 4;
	o.n_steps = 3;
	if (vw_synth_trace(&synth, &o, &err) != LD_OK)
		fz_fail("the synthetic trace: %s", err.msg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_lesson L = {0};
	struct ld_err err = {{0}};
	enum ld_status st = ls_parse(&L, "lessons/99-fuzz.txt", (const char *)data, size, &err);
	fz_check_error(st, &err, "ls_parse");
	if (st == LD_OK) {
		fz_check_error(ls_validate(&L, &synth, &err), &err, "ls_validate");
		for (size_t i = 0; i < L.n_steps; i++) {
			const struct ls_check *c = &L.steps[i].check;
			struct ls_expect e;
			if (c->kind == LS_CK_NONE)
				continue;
			st = ls_expect(&L, c, &synth, &e, &err);
			fz_check_error(st, &err, "ls_expect");
			if (st == LD_OK)
				(void)ls_answer_ok(&e, e.show);
		}
	}
	ls_free(&L);
	return 0;
}
