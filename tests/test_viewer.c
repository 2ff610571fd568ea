/* test_viewer.c - the viewer without a screen: the state machine action by
 * action, number formatting, the key table, dumps, embedded sources. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curses.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "viewer.h"
#include "vw_dump.h"
#include "vw_keys.h"
#include "vw_sources.h"
#include "vw_state.h"

/* A synthetic model: 5 layers, 4 heads sharing 2 KV heads, 6 tokens, 2
 * decode steps; one NaN in layers.3.ffn_act when nan is set. */
static void make_trace(struct ld_trace *tr, int nan)
{
	struct vw_synth o;
	struct ld_err err = {""};
	assert_int_equal(vw_synth_preset(&o, "tiny"), 0);
	o.n_layers = 5;
	o.nan_layer = nan ? 3 : -1;
	assert_int_equal(vw_synth_trace(tr, &o, &err), LD_OK);
}

static size_t idx(const struct ld_trace *tr, const char *name)
{
	long i = ld_trace_find(tr, name);
	if (i < 0)
		fail_msg("no tensor %s in the test trace", name);
	return (size_t)i;
}

static const char *cur_name(const struct vw_state *s, const struct ld_trace *tr)
{
	return tr->t[s->cur].name;
}

static void type(struct vw_state *s, const struct ld_trace *tr, const char *text)
{
	for (; *text; text++)
		assert_int_not_equal(vw_prompt_char(s, tr, *text), 0);
}

struct fx {
	struct ld_trace tr;
	struct vw_state s;
};

static int setup(void **state, int nan)
{
	struct fx *f = calloc(1, sizeof *f);
	make_trace(&f->tr, nan);
	assert_int_equal(vw_state_init(&f->s, &f->tr), 0);
	*state = f;
	return 0;
}
static int setup_plain(void **state) { return setup(state, 0); }
static int setup_nan(void **state) { return setup(state, 1); }
static int teardown(void **state)
{
	struct fx *f = *state;
	vw_state_free(&f->s);
	ld_trace_free(&f->tr);
	free(f);
	return 0;
}

static void test_start(void **state)
{
	struct fx *f = *state;
	assert_string_equal(cur_name(&f->s, &f->tr), "tokens");
	assert_int_equal(f->s.mode, VW_MODE_GRID);
	assert_non_null(vw_stats_of(&f->s, 0));
}

static void test_step_points(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	assert_true(vw_apply(s, &f->tr, VW_A_PREV_POINT) & VW_F_REDRAW);
	assert_int_equal(s->cur, 0);
	assert_non_null(strstr(s->msg, "first"));
	vw_apply(s, &f->tr, VW_A_NEXT_POINT);
	assert_string_equal(cur_name(s, &f->tr), "rope_freqs");
	vw_apply(s, &f->tr, VW_A_NEXT_POINT);
	vw_apply(s, &f->tr, VW_A_NEXT_POINT);
	assert_string_equal(cur_name(s, &f->tr), "layers.0.attn_rms");
	vw_apply(s, &f->tr, VW_A_PREV_POINT);
	assert_string_equal(cur_name(s, &f->tr), "embed");
	/* across the end of the prompt pass into the first decode step */
	vw_goto_index(s, &f->tr, idx(&f->tr, "logits"));
	vw_apply(s, &f->tr, VW_A_NEXT_POINT);
	assert_string_equal(cur_name(s, &f->tr), "step.1.tokens");
	vw_apply(s, &f->tr, VW_A_LAST_POINT);
	assert_string_equal(cur_name(s, &f->tr), "step.2.logits");
	vw_apply(s, &f->tr, VW_A_NEXT_POINT);
	assert_string_equal(cur_name(s, &f->tr), "step.2.logits");
	assert_non_null(strstr(s->msg, "last"));
	assert_int_equal(vw_apply(s, &f->tr, VW_A_QUIT) & VW_F_QUIT, VW_F_QUIT);
}

static void test_step_layers(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	vw_goto_index(s, &f->tr, idx(&f->tr, "layers.3.scores"));
	vw_apply(s, &f->tr, VW_A_NEXT_LAYER);
	assert_string_equal(cur_name(s, &f->tr), "layers.4.scores");
	vw_apply(s, &f->tr, VW_A_NEXT_LAYER); /* the last layer: stays */
	assert_string_equal(cur_name(s, &f->tr), "layers.4.scores");
	assert_non_null(strstr(s->msg, "no layer 5"));
	vw_apply(s, &f->tr, VW_A_PREV_LAYER);
	vw_apply(s, &f->tr, VW_A_PREV_LAYER);
	assert_string_equal(cur_name(s, &f->tr), "layers.2.scores");
	/* in a decode step, layers stay in that step */
	vw_goto_index(s, &f->tr, idx(&f->tr, "step.1.layers.0.ffn_up"));
	vw_apply(s, &f->tr, VW_A_NEXT_LAYER);
	assert_string_equal(cur_name(s, &f->tr), "step.1.layers.1.ffn_up");
	/* outside the layers there is no next layer */
	vw_goto_index(s, &f->tr, idx(&f->tr, "embed"));
	vw_apply(s, &f->tr, VW_A_NEXT_LAYER);
	assert_string_equal(cur_name(s, &f->tr), "embed");
	assert_non_null(strstr(s->msg, "not inside a layer"));
}

static void test_step_decode(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	vw_goto_index(s, &f->tr, idx(&f->tr, "layers.1.probs"));
	vw_apply(s, &f->tr, VW_A_NEXT_STEP);
	assert_string_equal(cur_name(s, &f->tr), "step.1.layers.1.probs");
	vw_apply(s, &f->tr, VW_A_NEXT_STEP);
	assert_string_equal(cur_name(s, &f->tr), "step.2.layers.1.probs");
	/* the decode step's scores: 1 query x 8 keys (6 prompt + 2 steps) */
	assert_int_equal(f->tr.t[s->cur].shape[1], 1);
	assert_int_equal(f->tr.t[s->cur].shape[2], 8);
	vw_apply(s, &f->tr, VW_A_NEXT_STEP);
	assert_string_equal(cur_name(s, &f->tr), "step.2.layers.1.probs");
	vw_apply(s, &f->tr, VW_A_PREV_STEP);
	vw_apply(s, &f->tr, VW_A_PREV_STEP);
	assert_string_equal(cur_name(s, &f->tr), "layers.1.probs");
	/* before the prompt pass: no "step -1" */
	vw_apply(s, &f->tr, VW_A_PREV_STEP);
	assert_string_equal(cur_name(s, &f->tr), "layers.1.probs");
	assert_non_null(strstr(s->msg, "prompt pass"));
	assert_null(strstr(s->msg, "-1"));
	/* rope_freqs exists only in the prompt pass */
	vw_goto_index(s, &f->tr, idx(&f->tr, "rope_freqs"));
	vw_apply(s, &f->tr, VW_A_NEXT_STEP);
	assert_string_equal(cur_name(s, &f->tr), "rope_freqs");
}

static void test_heads(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	struct vw_slice sl;
	vw_goto_index(s, &f->tr, idx(&f->tr, "layers.0.q"));
	for (int i = 0; i < 6; i++)
		vw_apply(s, &f->tr, VW_A_NEXT_HEAD);
	assert_int_equal(s->sel[VW_SLOT_HEAD], 3); /* 4 heads: clamps at 3 */
	assert_non_null(strstr(s->msg, "last"));
	vw_slice_of(s, &f->tr, s->cur, &sl);
	assert_int_equal(sl.row_axis, 0); /* token */
	assert_int_equal(sl.col_axis, 2); /* dim */
	assert_int_equal(sl.fixed[1], 3);
	assert_int_equal(sl.base, 3 * 4); /* (t=0, h=3, d=0) */
	/* K has 2 KV heads: head 3 shows kv head 1 (GQA group of 2) */
	vw_apply(s, &f->tr, VW_A_NEXT_POINT);
	assert_string_equal(cur_name(s, &f->tr), "layers.0.k");
	vw_slice_of(s, &f->tr, s->cur, &sl);
	assert_int_equal(sl.fixed[1], 1);
	vw_apply(s, &f->tr, VW_A_PREV_HEAD); /* on K a step is a KV head */
	assert_int_equal(s->sel[VW_SLOT_HEAD], 0);
	vw_apply(s, &f->tr, VW_A_PREV_HEAD);
	assert_int_equal(s->sel[VW_SLOT_HEAD], 0);
	assert_non_null(strstr(s->msg, "first"));
	vw_apply(s, &f->tr, VW_A_NEXT_HEAD);
	assert_int_equal(s->sel[VW_SLOT_HEAD], 2);
	vw_apply(s, &f->tr, VW_A_NEXT_HEAD);
	assert_int_equal(s->sel[VW_SLOT_HEAD], 2);
	/* the head stays selected on the scores: the grid is that head's */
	vw_goto_index(s, &f->tr, idx(&f->tr, "layers.0.scores"));
	vw_slice_of(s, &f->tr, s->cur, &sl);
	assert_int_equal(sl.row_axis, 1);
	assert_int_equal(sl.col_axis, 2);
	assert_int_equal(sl.fixed[0], 2);
	assert_int_equal(sl.base, 2 * 6 * 6);
}

static void test_tokens(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	vw_goto_index(s, &f->tr, idx(&f->tr, "layers.0.q"));
	for (int i = 0; i < 9; i++)
		vw_apply(s, &f->tr, VW_A_NEXT_TOKEN);
	assert_int_equal(s->sel[VW_SLOT_TOKEN], 5);
	assert_non_null(strstr(s->msg, "last"));
	for (int i = 0; i < 9; i++)
		vw_apply(s, &f->tr, VW_A_PREV_TOKEN);
	assert_int_equal(s->sel[VW_SLOT_TOKEN], 0);
	assert_non_null(strstr(s->msg, "first"));
	/* the selected row stays on screen: 2 visible rows */
	struct vw_view v = {2, 4, 10, 0};
	vw_set_view(s, &f->tr, &v);
	for (int i = 0; i < 4; i++)
		vw_apply(s, &f->tr, VW_A_NEXT_TOKEN);
	assert_int_equal(s->row0, 3);
	/* a decode step has one token: stepping stays, index clamps */
	vw_goto_index(s, &f->tr, idx(&f->tr, "step.1.layers.0.q"));
	vw_apply(s, &f->tr, VW_A_NEXT_TOKEN);
	assert_int_equal(s->sel[VW_SLOT_TOKEN], 0);
}

static void test_goto(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	vw_apply(s, tr, VW_A_GOTO);
	assert_true(s->prompt_on);
	type(s, tr, "layers.1.sc");
	vw_apply(s, tr, VW_A_PROMPT_COMPLETE);
	assert_string_equal(s->prompt, "layers.1.scores");
	vw_apply(s, tr, VW_A_PROMPT_ENTER);
	assert_false(s->prompt_on);
	assert_string_equal(cur_name(s, tr), "layers.1.scores");

	/* a short name is read in the current layer */
	vw_apply(s, tr, VW_A_GOTO);
	type(s, tr, "ffn_a");
	vw_apply(s, tr, VW_A_PROMPT_COMPLETE);
	assert_string_equal(s->prompt, "layers.1.ffn_act");
	vw_apply(s, tr, VW_A_PROMPT_ENTER);
	assert_string_equal(cur_name(s, tr), "layers.1.ffn_act");

	/* several matches complete to their common prefix */
	vw_apply(s, tr, VW_A_GOTO);
	type(s, tr, "layers.2.ffn_");
	size_t out[8];
	assert_int_equal(vw_complete(s, tr, s->prompt, out, 8), 6);
	vw_apply(s, tr, VW_A_PROMPT_COMPLETE);
	assert_string_equal(s->prompt, "layers.2.ffn_");
	assert_non_null(strstr(s->msg, "6 matches"));
	vw_apply(s, tr, VW_A_PROMPT_ENTER); /* ambiguous: the prompt stays */
	assert_true(s->prompt_on);
	vw_apply(s, tr, VW_A_PROMPT_KILL);
	type(s, tr, "zzz");
	vw_apply(s, tr, VW_A_PROMPT_ENTER);
	assert_true(s->prompt_on);
	assert_true(s->msg_err);
	vw_apply(s, tr, VW_A_PROMPT_BS);
	assert_string_equal(s->prompt, "zz");
	vw_apply(s, tr, VW_A_PROMPT_CANCEL);
	assert_false(s->prompt_on);
	assert_string_equal(cur_name(s, tr), "layers.1.ffn_act");

	/* a layer number keeps the point kind */
	vw_apply(s, tr, VW_A_GOTO);
	type(s, tr, "4");
	vw_apply(s, tr, VW_A_PROMPT_ENTER);
	assert_string_equal(cur_name(s, tr), "layers.4.ffn_act");

	/* the same kind in every layer: the next one after here */
	vw_goto_index(s, tr, idx(tr, "embed"));
	vw_apply(s, tr, VW_A_GOTO);
	type(s, tr, "probs");
	vw_apply(s, tr, VW_A_PROMPT_ENTER);
	assert_string_equal(cur_name(s, tr), "layers.0.probs");

	/* keys typed in the prompt are text, not commands */
	vw_apply(s, tr, VW_A_GOTO);
	assert_int_equal(vw_apply(s, tr, VW_A_NEXT_POINT), 0);
	assert_string_equal(cur_name(s, tr), "layers.0.probs");
	vw_apply(s, tr, VW_A_PROMPT_CANCEL);
}

static void test_nan_search(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	/* the masked -inf of every scores tensor before it does not count */
	vw_apply(s, tr, VW_A_SEARCH_NEXT);
	assert_string_equal(cur_name(s, tr), "layers.3.ffn_act");
	assert_true(s->msg_err);
	assert_non_null(strstr(s->msg, "1 NaN"));
	/* the selection lands on the bad element: token 0, ffn 7 */
	assert_int_equal(s->sel[VW_SLOT_TOKEN], 0);
	assert_int_equal(s->sel[VW_SLOT_FFN], 7);
	vw_apply(s, tr, VW_A_SEARCH_NEXT);
	assert_string_equal(cur_name(s, tr), "layers.3.ffn_act");
	assert_non_null(strstr(s->msg, "no NaN or Inf after"));
	vw_apply(s, tr, VW_A_LAST_POINT);
	vw_apply(s, tr, VW_A_SEARCH_PREV);
	assert_string_equal(cur_name(s, tr), "layers.3.ffn_act");
}

static void test_nan_search_none(void **state)
{
	struct fx *f = *state;
	vw_apply(&f->s, &f->tr, VW_A_SEARCH_NEXT);
	assert_int_equal(f->s.cur, 0);
	assert_non_null(strstr(f->s.msg, "no NaN or Inf"));
}

static void test_history(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	vw_apply(s, tr, VW_A_HIST_BACK);
	assert_non_null(strstr(s->msg, "no earlier"));
	vw_apply(s, tr, VW_A_NEXT_POINT);                 /* 1 */
	vw_apply(s, tr, VW_A_NEXT_POINT);                 /* 2 */
	vw_goto_index(s, tr, idx(tr, "layers.2.probs"));  /* jump */
	vw_apply(s, tr, VW_A_HIST_BACK);
	assert_int_equal(s->cur, 2);
	vw_apply(s, tr, VW_A_HIST_BACK);
	assert_int_equal(s->cur, 1);
	vw_apply(s, tr, VW_A_HIST_FWD);
	vw_apply(s, tr, VW_A_HIST_FWD);
	assert_string_equal(cur_name(s, tr), "layers.2.probs");
	vw_apply(s, tr, VW_A_HIST_FWD);
	assert_non_null(strstr(s->msg, "no later"));
	/* a new visit drops the forward part */
	vw_apply(s, tr, VW_A_HIST_BACK);
	vw_apply(s, tr, VW_A_HIST_BACK);
	vw_apply(s, tr, VW_A_NEXT_LAYER); /* rope_freqs: not in a layer */
	vw_apply(s, tr, VW_A_NEXT_POINT); /* embed */
	vw_apply(s, tr, VW_A_HIST_FWD);
	assert_string_equal(cur_name(s, tr), "embed");
	vw_apply(s, tr, VW_A_HIST_BACK);
	assert_string_equal(cur_name(s, tr), "rope_freqs");
}

static void test_axes_and_scroll(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	struct vw_slice sl;
	vw_goto_index(s, tr, idx(tr, "layers.0.scores"));
	vw_apply(s, tr, VW_A_SWAP_AXES);
	assert_int_equal(s->row_axis, 2);
	assert_int_equal(s->col_axis, 1);
	vw_apply(s, tr, VW_A_ROW_AXIS); /* key -> head (query is the columns) */
	assert_int_equal(s->row_axis, 0);
	vw_slice_of(s, tr, s->cur, &sl);
	assert_int_equal(sl.nrows, 4);
	assert_int_equal(sl.ncols, 6);
	/* the same kind in the next layer keeps the chosen axes */
	vw_apply(s, tr, VW_A_NEXT_LAYER);
	assert_int_equal(s->row_axis, 0);
	assert_int_equal(s->col_axis, 1);
	/* another kind starts from its default */
	vw_apply(s, tr, VW_A_NEXT_POINT);
	vw_apply(s, tr, VW_A_NEXT_POINT);
	assert_string_equal(cur_name(s, tr), "layers.1.attn");
	assert_int_equal(s->row_axis, 0);
	assert_int_equal(s->col_axis, 2);
	/* scrolling clamps to what the last frame could show */
	vw_goto_index(s, tr, idx(tr, "logits")); /* 6 x 64 */
	struct vw_view v = {4, 5, 10, 0};
	vw_set_view(s, tr, &v);
	vw_apply(s, tr, VW_A_PAGE_DOWN);
	assert_int_equal(s->row0, 2);
	vw_apply(s, tr, VW_A_SCROLL_RIGHT);
	assert_int_equal(s->col0, 4);
	vw_apply(s, tr, VW_A_COL_LAST);
	assert_int_equal(s->col0, 64 - 5);
	vw_apply(s, tr, VW_A_COL_FIRST);
	assert_int_equal(s->col0, 0);
	/* H and L: first and last rows (6 rows, 4 on screen) */
	vw_apply(s, tr, VW_A_ROW_LAST);
	assert_int_equal(s->row0, 6 - 4);
	vw_apply(s, tr, VW_A_ROW_FIRST);
	assert_int_equal(s->row0, 0);
	assert_int_equal(vw_key_action(0, 'H'), VW_A_ROW_FIRST);
	assert_int_equal(vw_key_action(0, 'L'), VW_A_ROW_LAST);
	/* M: the largest logit of the selected token's row */
	vw_apply(s, tr, VW_A_ROW_MAX);
	const struct ld_tensor *t = &tr->t[s->cur];
	size_t best = 0;
	for (size_t c = 1; c < 64; c++)
		if (vw_get(t, c) > vw_get(t, best))
			best = c;
	assert_int_equal(s->sel[VW_SLOT_VOCAB], best);
	assert_true(s->col0 <= best && best < s->col0 + 5);
	/* a and A on a 2-D tensor: no other axis to show; the window stays
	 * where it was (it jumped back to row 0, column 0) and a message says
	 * why nothing changed */
	vw_apply(s, tr, VW_A_COL_LAST);
	vw_apply(s, tr, VW_A_PAGE_DOWN);
	size_t r0 = s->row0, c0 = s->col0;
	assert_true(c0 > 0 && r0 > 0);
	vw_apply(s, tr, VW_A_ROW_AXIS);
	assert_int_equal(s->row_axis, 0);
	assert_int_equal(s->col_axis, 1);
	assert_int_equal(s->row0, r0);
	assert_int_equal(s->col0, c0);
	assert_non_null(strstr(s->msg, "x swaps"));
	vw_apply(s, tr, VW_A_COL_AXIS);
	assert_int_equal(s->col_axis, 1);
	assert_int_equal(s->col0, c0);
	assert_non_null(strstr(s->msg, "x swaps"));
}

static void test_mask(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	struct vw_slice sl;
	vw_goto_index(s, &f->tr, idx(&f->tr, "layers.0.scores"));
	vw_slice_of(s, &f->tr, s->cur, &sl);
	assert_false(vw_slice_masked(&sl, 1, 1)); /* query 1 sees key 1 */
	assert_true(vw_slice_masked(&sl, 1, 2));  /* but not key 2 */
	vw_apply(s, &f->tr, VW_A_SWAP_AXES);      /* rows are keys now */
	vw_slice_of(s, &f->tr, s->cur, &sl);
	assert_true(vw_slice_masked(&sl, 2, 1));
	assert_false(vw_slice_masked(&sl, 1, 2));
	/* in a decode step the one query sees every key */
	vw_goto_index(s, &f->tr, idx(&f->tr, "step.2.layers.0.scores"));
	vw_slice_of(s, &f->tr, s->cur, &sl);
	for (size_t k = 0; k < sl.ncols; k++)
		assert_false(vw_slice_masked(&sl, 0, k));
}

static void test_modes(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	vw_goto_index(s, tr, idx(tr, "layers.0.attn_out"));
	vw_apply(s, tr, VW_A_MODE_OVERVIEW); /* no heads: the layer's probs */
	assert_int_equal(s->mode, VW_MODE_OVERVIEW);
	assert_string_equal(tr->t[vw_view_target(s, tr)].name, "layers.0.probs");
	assert_non_null(vw_stats_of(s, vw_view_target(s, tr)));
	vw_apply(s, tr, VW_A_MODE_OVERVIEW); /* again: back to the values */
	assert_int_equal(s->mode, VW_MODE_GRID);
	vw_goto_index(s, tr, idx(tr, "embed"));
	vw_apply(s, tr, VW_A_MODE_OVERVIEW); /* no heads, no layer */
	assert_int_equal(s->mode, VW_MODE_GRID);
	vw_apply(s, tr, VW_A_MODE_HEAT);
	assert_int_equal(s->mode, VW_MODE_HEAT);
	vw_apply(s, tr, VW_A_HELP);
	assert_int_equal(s->mode, VW_MODE_HELP);
	vw_apply(s, tr, VW_A_HELP);
	assert_int_equal(s->mode, VW_MODE_HEAT);
	vw_apply(s, tr, VW_A_CLOSE);
	assert_int_equal(s->mode, VW_MODE_GRID);
	vw_apply(s, tr, VW_A_PALETTE);
	assert_int_equal(s->palette, VW_PAL_256);
	assert_true(vw_apply(s, tr, VW_A_DUMP_SLICE) & VW_F_DUMP_SLICE);
	assert_true(vw_apply(s, tr, VW_A_DUMP_TENSOR) & VW_F_DUMP_TENSOR);
}

static void test_source_state(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	vw_goto_index(s, tr, idx(tr, "layers.0.scores"));
	vw_apply(s, tr, VW_A_MODE_SOURCE);
	assert_int_equal(s->mode, VW_MODE_SOURCE);
	assert_non_null(s->src); /* embedded, or ../core from tests/ */
	assert_true(s->src_line >= 1 && (size_t)s->src_line <= s->src->n_lines);
	assert_non_null(strstr(s->src->lines[s->src_line - 1], "SCORES"));
	struct vw_view v = {0, 0, 10, s->src->n_lines};
	vw_set_view(s, tr, &v);
	vw_apply(s, tr, VW_A_PAGE_DOWN);
	assert_false(s->src_auto);
	assert_true(s->src_top > 0);
}

/* ---- formatting ---------------------------------------------------------------- */

static void test_fmt_num(void **state)
{
	char b[32];
	(void)state;
	vw_fmt_num(b, sizeof b, 8, 0.0);
	assert_string_equal(b, "0");
	vw_fmt_num(b, sizeof b, 8, -INFINITY);
	assert_string_equal(b, "-inf");
	vw_fmt_num(b, sizeof b, 8, INFINITY);
	assert_string_equal(b, "+inf");
	vw_fmt_num(b, sizeof b, 8, NAN);
	assert_string_equal(b, "nan");
	vw_fmt_num(b, sizeof b, 8, 1234.5678);
	assert_string_equal(b, "1234.568");
	vw_fmt_num(b, sizeof b, 8, -0.5);
	assert_string_equal(b, "-0.50000");
	vw_fmt_num(b, sizeof b, 8, 0.0000125);
	assert_string_equal(b, "1.250e-5");
	vw_fmt_num(b, sizeof b, 8, 123456789.0);
	assert_string_equal(b, "1.2346e8");
	vw_fmt_num(b, sizeof b, 3, 123456789.0);
	assert_string_equal(b, "1e8");
	vw_fmt_num(b, sizeof b, 2, 123456789.0);
	assert_string_equal(b, "##");
	vw_fmt_num(b, sizeof b, 8, 9.9999999);
	assert_true(strlen(b) <= 8);
	assert_float_equal(atof(b), 10.0, 1e-4);

	struct ld_stats st = {.min = -3.8, .max = 3.1};
	assert_int_equal(vw_grid_decimals(&st, 8), 5);
	st.max = 55;
	assert_int_equal(vw_grid_decimals(&st, 8), 4);
	st.min = 0, st.max = 1e-4;
	assert_int_equal(vw_grid_decimals(&st, 8), -1);
	vw_fmt_cell(b, sizeof b, 8, 5, -0.95512);
	assert_string_equal(b, "-0.95512");
	vw_fmt_cell(b, sizeof b, 8, 5, -INFINITY);
	assert_string_equal(b, "-inf");
	vw_fmt_cell(b, sizeof b, 8, 5, 123456789.0); /* an outlier: exponent */
	assert_string_equal(b, "1.2346e8");
	/* a value that is not zero never reads as zero: rope_freqs' smallest
	 * speed (1.3e-6) among values up to 1 printed as "0.00000" */
	vw_fmt_cell(b, sizeof b, 8, 5, 1.3e-6);
	assert_true(strlen(b) <= 8);
	assert_float_equal(atof(b), 1.3e-6, 1e-9);
	vw_fmt_cell(b, sizeof b, 8, 5, -2.5e-7);
	assert_true(strlen(b) <= 8);
	assert_float_equal(atof(b), -2.5e-7, 1e-10);
	vw_fmt_cell(b, sizeof b, 8, 5, 0.0);
	assert_string_equal(b, "0.00000");
	vw_fmt_cell(b, sizeof b, 8, 5, 0.000004); /* rounds to 0.00000 too */
	assert_float_equal(atof(b), 4e-6, 1e-10);
	vw_fmt_cell(b, sizeof b, 8, 5, 0.000006); /* rounds up to a digit: kept */
	assert_string_equal(b, "0.00001");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(vw_short_name("layers.12.scores"), "scores");
	assert_string_equal(vw_short_name("step.3.layers.0.q_rope"), "q_rope");
	assert_string_equal(vw_short_name("step.2.logits"), "logits");
	assert_string_equal(vw_short_name("embed"), "embed");
	assert_int_equal(vw_prefix_len("layers.3.q"), 9);
}

/* ---- the key table ----------------------------------------------------------------- */

static void test_keys(void **state)
{
	(void)state;
	assert_int_equal(vw_key_action(0, 'q'), VW_A_QUIT);
	assert_int_equal(vw_key_action(0, 'j'), VW_A_NEXT_POINT);
	assert_int_equal(vw_key_action(0, KEY_DOWN), VW_A_NEXT_POINT);
	assert_int_equal(vw_key_action(0, KEY_UP), VW_A_PREV_POINT);
	assert_int_equal(vw_key_action(0, 'J'), VW_A_NEXT_LAYER);
	assert_int_equal(vw_key_action(0, 'l'), VW_A_NEXT_HEAD);
	assert_int_equal(vw_key_action(0, KEY_LEFT), VW_A_PREV_HEAD);
	assert_int_equal(vw_key_action(1, 'q'), VW_A_NONE); /* text in the prompt */
	assert_int_equal(vw_key_action(1, '\t'), VW_A_PROMPT_COMPLETE);
	assert_int_equal(vw_key_action(1, '\r'), VW_A_PROMPT_ENTER);
	/* one action per key and mode */
	for (size_t i = 0; i < vw_n_bindings; i++)
		for (size_t j = i + 1; j < vw_n_bindings; j++)
			if (vw_bindings[i].key == vw_bindings[j].key && (vw_bindings[i].modes & vw_bindings[j].modes))
				fail_msg("key %d bound twice (entries %zu and %zu)", vw_bindings[i].key, i, j);
	/* every action the user can take has a key, and help text once */
	for (int a = VW_A_QUIT; a < VW_A_COUNT; a++) {
		int keys = 0, helps = 0;
		for (size_t i = 0; i < vw_n_bindings; i++)
			if ((int)vw_bindings[i].action == a) {
				keys++;
				helps += vw_bindings[i].help != NULL;
			}
		if (keys == 0 || helps != 1)
			fail_msg("action %s: %d keys, %d help texts", vw_action_name((enum vw_action)a), keys, helps);
	}
	/* the help screen is generated from the table */
	char line[256];
	int found_quit = 0, found_step = 0;
	for (size_t i = 0; vw_help_line(i, line, sizeof line); i++) {
		if (strstr(line, "q Q") && strstr(line, "quit"))
			found_quit = 1;
		if (strstr(line, "j Down") && strstr(line, "next point"))
			found_step = 1;
	}
	assert_true(found_quit);
	assert_true(found_step);
	assert_true(vw_help_count() > 40);
}

/* ---- dumps -------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	b[*len] = '\0';
	fclose(f);
	return b;
}

/* Check a .npy file: v1.0 magic, header padded to 64, the dict, the data. */
static void check_npy(const char *path, const char *shape, const float *want, size_t n)
{
	size_t len;
	char *b = slurp(path, &len);
	assert_non_null(b);
	assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
	size_t hlen = (unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
	assert_int_equal((10 + hlen) % 64, 0);
	assert_int_equal(b[10 + hlen - 1], '\n');
	char *hdr = strndup(b + 10, hlen);
	assert_non_null(strstr(hdr, "'descr': '<f4'"));
	assert_non_null(strstr(hdr, "'fortran_order': False"));
	if (!strstr(hdr, shape))
		fail_msg("%s: header %s has no %s", path, hdr, shape);
	assert_int_equal(len, 10 + hlen + n * 4);
	assert_memory_equal(b + 10 + hlen, want, n * 4);
	free(hdr);
	free(b);
}

static void test_dump(void **state)
{
	struct fx *f = *state;
	struct vw_state *s = &f->s;
	const struct ld_trace *tr = &f->tr;
	char dir[] = "/tmp/vwdumpXXXXXX", msg[VW_MSG], path[256];
	assert_non_null(mkdtemp(dir));
	vw_goto_index(s, tr, idx(tr, "layers.0.scores"));
	vw_apply(s, tr, VW_A_NEXT_HEAD); /* head 1 */

	assert_int_equal(vw_dump(s, tr, 0, dir, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "layers.0.scores.head1.npy"));
	snprintf(path, sizeof path, "%s/layers.0.scores.head1.npy", dir);
	const float *all = tr->t[s->cur].data;
	check_npy(path, "(6, 6", all + 36, 36);
	struct stat st1;
	assert_int_equal(stat(path, &st1), 0);
	/* the CSV holds the same numbers, -inf spelled as NumPy reads it */
	size_t len;
	snprintf(path, sizeof path, "%s/layers.0.scores.head1.csv", dir);
	char *csv = slurp(path, &len);
	assert_non_null(csv);
	assert_non_null(strstr(csv, "-inf"));
	free(csv);

	/* a second dump never replaces the first */
	assert_int_equal(vw_dump(s, tr, 0, dir, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "layers.0.scores.head1-1.npy"));
	snprintf(path, sizeof path, "%s/layers.0.scores.head1.npy", dir);
	check_npy(path, "(6, 6", all + 36, 36);
	snprintf(path, sizeof path, "%s/layers.0.scores.head1-1.csv", dir);
	assert_int_equal(access(path, F_OK), 0);

	/* the whole tensor */
	assert_int_equal(vw_dump(s, tr, 1, dir, msg, sizeof msg), 0);
	snprintf(path, sizeof path, "%s/layers.0.scores.npy", dir);
	check_npy(path, "(4, 6, 6", all, 4 * 36);

	/* a swapped slice is written as shown (key x query) */
	vw_apply(s, tr, VW_A_SWAP_AXES);
	assert_int_equal(vw_dump(s, tr, 0, dir, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "layers.0.scores.head1.T.npy"));
	float tr_want[36];
	for (int k = 0; k < 6; k++)
		for (int q = 0; q < 6; q++)
			tr_want[k * 6 + q] = all[36 + q * 6 + k];
	snprintf(path, sizeof path, "%s/layers.0.scores.head1.T.npy", dir);
	check_npy(path, "(6, 6", tr_want, 36);

	/* the overview of a tensor without heads shows its layer's probs:
	 * that is what d and D write, not the attn_out behind it */
	vw_goto_index(s, tr, idx(tr, "layers.0.attn_out"));
	vw_apply(s, tr, VW_A_MODE_OVERVIEW);
	assert_int_equal(s->mode, VW_MODE_OVERVIEW);
	assert_int_equal(vw_dump(s, tr, 0, dir, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "layers.0.probs.head1.npy"));
	snprintf(path, sizeof path, "%s/layers.0.probs.head1.npy", dir);
	check_npy(path, "(6, 6", (const float *)tr->t[idx(tr, "layers.0.probs")].data + 36, 36);
	assert_int_equal(vw_dump(s, tr, 1, dir, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "layers.0.probs.npy"));
	vw_apply(s, tr, VW_A_MODE_GRID);

	/* a write error is a message, not a crash */
	snprintf(path, sizeof path, "%s/missing/dir", dir);
	assert_int_equal(vw_dump(s, tr, 0, path, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "missing"));

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- sources --------------------------------------------------------------------------- */

static void test_sources(void **state)
{
	char path[64];
	long line;
	(void)state;
	assert_int_equal(vw_src_split("core/forward.c:212", path, sizeof path, &line), 0);
	assert_string_equal(path, "core/forward.c");
	assert_int_equal(line, 212);
	assert_int_equal(vw_src_split("core/forward.c", path, sizeof path, &line), -1);
	assert_int_equal(vw_src_split("core/forward.c:x", path, sizeof path, &line), -1);
	assert_int_equal(vw_src_split(":3", path, sizeof path, &line), -1);
	struct vw_srcfile f;
	assert_int_equal(vw_source_load(&f, "core/trace.h"), 0); /* ../core from tests/ */
	assert_true(f.n_lines > 20);
	assert_non_null(strstr(f.lines[0], "trace.h"));
	vw_source_free(&f);
	assert_int_equal(vw_source_load(&f, "core/no-such-file.c"), -1);
	/* when the build embeds the sources, they match the files */
	const struct vw_srcfile *e = vw_source_embedded("core/trace.h");
	if (vw_source_n_embedded() > 0) {
		assert_non_null(e);
		assert_non_null(strstr(e->lines[0], "trace.h"));
	}
}

/* ---- the entry point refuses a non-terminal -------------------------------------------------- */

static void test_needs_tty(void **state)
{
	struct fx *f = *state;
	struct ld_err err = {""};
	int saved = dup(STDIN_FILENO), null = open("/dev/null", O_RDONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, STDIN_FILENO);
	enum ld_status st = ld_view_trace(&f->tr, &err);
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(null);
	assert_int_equal(st, LD_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not a terminal"));
	assert_null(strchr(err.msg, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_step_points, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_step_layers, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_step_decode, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_heads, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_goto, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_nan_search, setup_nan, teardown),
		cmocka_unit_test_setup_teardown(test_nan_search_none, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_history, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_axes_and_scroll, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_mask, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_source_state, setup_plain, teardown),
		cmocka_unit_test(test_fmt_num),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_keys),
		cmocka_unit_test_setup_teardown(test_dump, setup_plain, teardown),
		cmocka_unit_test(test_sources),
		cmocka_unit_test_setup_teardown(test_needs_tty, setup_plain, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
