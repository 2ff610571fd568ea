/* test_viewer_screen.c - headless screens: newterm on /dev/null, resize,
 * draw one frame, read the lines back with mvwinnstr and check what a
 * learner would see. Also the frame time on an 8B-shaped trace. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curses.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewer.h"
#include "vw_draw.h"
#include "vw_keys.h"
#include "vw_state.h"

/* The seed prompt's shape: 17 tokens, 8 heads sharing 2 KV heads. */
static void make_trace(struct ld_trace *tr)
{
	struct vw_synth o;
	struct ld_err err = {""};
	assert_int_equal(vw_synth_preset(&o, "small"), 0);
	assert_int_equal(vw_synth_trace(tr, &o, &err), LD_OK);
}

struct fx {
	struct ld_trace tr;
	struct vw_state s;
	FILE *out, *in;
	SCREEN *scr;
	struct vw_ui ui;
	struct vw_view view;
	char text[200 * 256];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	make_trace(&f->tr);
	assert_int_equal(vw_state_init(&f->s, &f->tr), 0);
	f->out = fopen("/dev/null", "w");
	f->in = fopen("/dev/null", "r");
	assert_non_null(f->out);
	assert_non_null(f->in);
	f->scr = newterm("xterm-256color", f->out, f->in);
	assert_non_null(f->scr);
	set_term(f->scr);
	vw_ui_setup(&f->ui);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	endwin();
	delscreen(f->scr);
	fclose(f->out);
	fclose(f->in);
	vw_state_free(&f->s);
	ld_trace_free(&f->tr);
	free(f);
	return 0;
}

/* Resize, draw a frame, and keep the screen's text, one line per row. */
static const char *frame(struct fx *f, int lines, int cols)
{
	resizeterm(lines, cols);
	vw_draw(stdscr, &f->s, &f->tr, &f->ui, &f->view);
	vw_set_view(&f->s, &f->tr, &f->view);
	doupdate();
	size_t o = 0;
	for (int y = 0; y < LINES; y++) {
		char line[1024];
		int n = mvwinnstr(stdscr, y, 0, line, (int)sizeof line - 1);
		if (n < 0)
			n = 0;
		line[n] = '\0';
		o += (size_t)snprintf(f->text + o, sizeof f->text - o, "%s\n", line);
	}
	return f->text;
}

/* The screen row holding needle, or NULL. */
static const char *row_with(const char *text, const char *needle, char *buf, size_t size)
{
	const char *p = strstr(text, needle);
	if (!p)
		return NULL;
	const char *a = p, *b = p;
	while (a > text && a[-1] != '\n')
		a--;
	while (*b && *b != '\n')
		b++;
	snprintf(buf, size, "%.*s", (int)(b - a), a);
	return buf;
}

/* Golden screens: the whole frame, compared with tests/data/screens/NAME.txt.
 * The recording line of forward.c is masked ("core/forward.c:N") so that
 * editing the forward pass does not churn every file. To regenerate after a
 * deliberate change to the drawing, run with LLAMADBG_UPDATE_GOLDEN=1 and
 * review the diff. */
static void golden(const char *name, const char *text)
{
	static char norm[sizeof ((struct fx *)0)->text];
	size_t o = 0;
	for (const char *p = text; *p && o + 1 < sizeof norm;) {
		if (strncmp(p, "core/forward.c:", 15) == 0) {
			o += (size_t)snprintf(norm + o, sizeof norm - o, "core/forward.c:N");
			p += 15;
			while (*p >= '0' && *p <= '9')
				p++;
			continue;
		}
		norm[o++] = *p++;
	}
	norm[o] = '\0';
	char path[256];
	snprintf(path, sizeof path, "data/screens/%s.txt", name);
	const char *update = getenv("LLAMADBG_UPDATE_GOLDEN");
	if (update && *update == '1') {
		FILE *w = fopen(path, "w");
		assert_non_null(w);
		fputs(norm, w);
		assert_int_equal(fclose(w), 0);
		return;
	}
	FILE *r = fopen(path, "r");
	if (!r)
		fail_msg("%s is missing (LLAMADBG_UPDATE_GOLDEN=1 writes it); the screen:\n%s", path, norm);
	static char want[sizeof norm];
	size_t n = fread(want, 1, sizeof want - 1, r);
	fclose(r);
	want[n] = '\0';
	if (strcmp(want, norm) != 0) {
		const char *a = want, *b = norm;
		int line = 1;
		while (*a && *a == *b) {
			line += *a == '\n';
			a++, b++;
		}
		fail_msg("%s differs from the screen at line %d; the screen:\n%s", path, line, norm);
	}
}

#define SEE(text, needle)                                                                 \
	do {                                                                              \
		if (!strstr((text), (needle)))                                            \
			fail_msg("screen lacks \"%s\":\n%s", (needle), (text));           \
	} while (0)

static void go(struct fx *f, const char *name)
{
	long i = ld_trace_find(&f->tr, name);
	assert_true(i >= 0);
	vw_goto_index(&f->s, &f->tr, (size_t)i);
}

static void test_start_screen(void **state)
{
	struct fx *f = *state;
	static const int sizes[2][2] = {{24, 80}, {48, 160}};
	for (int k = 0; k < 2; k++) {
		const char *t = frame(f, sizes[k][0], sizes[k][1]);
		SEE(t, "tokens  tokens = tokenize(prompt)");
		SEE(t, "token 17  int32  core/forward.c:");
		SEE(t, "<|begin_of");
		SEE(t, "\u00b7universe");       /* a leading space shown as a dot */
		SEE(t, "128000");               /* the first token id */
		SEE(t, "+ layer 0");            /* the model map, layers folded */
		SEE(t, "- prompt");             /* grouped by pass: prompt, step 1 */
		SEE(t, "+ step 1");
		SEE(t, "j/k step");             /* the keys that matter now */
		SEE(t, "no NaN/Inf");
		golden(k ? "start-160x48" : "start-80x24", t);
	}
}

static void test_scores_heatmap(void **state)
{
	struct fx *f = *state;
	char row[1024];
	go(f, "layers.0.scores");
	vw_apply(&f->s, &f->tr, VW_A_MODE_HEAT);
	/* 80x24: all 17 query rows and 17 key columns fit */
	const char *t = frame(f, 24, 80);
	SEE(t, "layers.0.scores");
	SEE(t, "head 8 x query 17 x key 17");
	SEE(t, "heatmap  query x key  at head 0/8");
	SEE(t, "-inf (masked)");
	SEE(t, "-inf 1088 (mask)");          /* 8 heads x 17*16/2 */
	assert_int_equal(f->view.rows, 17);
	assert_true(f->view.cols >= 17);
	/* query 0 sees only key 0: 16 mask marks on its row */
	assert_non_null(row_with(t, "<|begin_of", row, sizeof row));
	int dots = 0;
	for (const char *p = row; (p = strstr(p, "\u00b7")); p += 2)
		dots++;
	assert_int_equal(dots, 16);
	/* the last query sees every key: no mark */
	assert_non_null(row_with(t, "16 \u00b7", row, sizeof row));
	assert_null(strstr(strstr(row, "16 \u00b7") + 4, "\u00b7"));
	golden("scores-heatmap-80x24", t);

	/* 160x48: the key labels are token strings, read downwards */
	t = frame(f, 48, 160);
	SEE(t, "-inf (masked)");
	golden("scores-heatmap-160x48", t);
	int px = 160 / 5 > 24 ? 25 : 160 / 5 + 1, lw = 2 + 1 + 10 + 1;
	char word[16] = "";
	for (int k = 0; k < 8; k++) {
		char c[8];
		mvwinnstr(stdscr, 4 + k, px + lw + 11 * 2, c, 1);
		word[k] = c[0];
	}
	assert_string_equal(word, "universe");
}

static void test_q_rope_grid(void **state)
{
	struct fx *f = *state;
	go(f, "layers.0.q_rope");
	static const int sizes[2][2] = {{24, 80}, {48, 160}};
	for (int k = 0; k < 2; k++) {
		const char *t = frame(f, sizes[k][0], sizes[k][1]);
		SEE(t, "layers.0.q_rope  q_rope = rope(q, pos)");
		SEE(t, "token 17 x head 8 x dim 16  float32");
		SEE(t, "values  token x dim  at head 0/8");
		/* element (token 2, head 0, dim 1) as the grid formats it */
		const struct ld_tensor *q = &f->tr.t[f->s.cur];
		const struct ld_stats *st = vw_stats_of(&f->s, f->s.cur);
		char num[32], row[1024];
		vw_fmt_cell(num, sizeof num, 8, vw_grid_decimals(st, 8), vw_get(q, 2 * 8 * 16 + 1));
		assert_non_null(row_with(t, "2 \u00b7answer", row, sizeof row));
		if (!strstr(row, num))
			fail_msg("row \"%s\" lacks %s", row, num);
		golden(k ? "q_rope-160x48" : "q_rope-80x24", t);
	}
	/* the next head: same grid, head 1 */
	vw_apply(&f->s, &f->tr, VW_A_NEXT_HEAD);
	SEE(frame(f, 24, 80), "at head 1/8");
	SEE(f->text, "head 1/8 kv 0");
}

static void test_scores_grid(void **state)
{
	struct fx *f = *state;
	char row[1024];
	go(f, "layers.1.scores");
	const char *t = frame(f, 24, 80);
	SEE(t, "values  query x key  at head 0/8");
	assert_non_null(row_with(t, "0 <|begin_of", row, sizeof row));
	assert_non_null(strstr(row, "-inf"));
	/* a 1-D tensor shows one column of values */
	go(f, "layers.0.attn_rms");
	SEE(frame(f, 24, 80), "values  token x value");
}

static void test_source_pane(void **state)
{
	struct fx *f = *state;
	go(f, "layers.0.probs");
	vw_apply(&f->s, &f->tr, VW_A_MODE_SOURCE);
	assert_non_null(f->s.src);
	static const int sizes[2][2] = {{24, 80}, {48, 160}};
	for (int k = 0; k < 2; k++) {
		const char *t = frame(f, sizes[k][0], sizes[k][1]);
		char mark[32], row[1024];
		snprintf(mark, sizeof mark, ">%5ld  ", f->s.src_line);
		SEE(t, "source  core/forward.c:");
		assert_non_null(row_with(t, mark, row, sizeof row));
		assert_non_null(strstr(row, "PROBS"));
		/* no golden file: the pane shows forward.c itself, which changes */
	}
}

static void test_help_screen(void **state)
{
	struct fx *f = *state;
	go(f, "layers.0.scores");
	vw_apply(&f->s, &f->tr, VW_A_HELP);
	const char *t = frame(f, 24, 80);
	SEE(t, "llamadbg help");
	SEE(t, "layers.0.scores: scores = q_rope @ k_rope.T");  /* the catalogue's text */
	SEE(t, "How well each query matches each key");
	SEE(t, "j Down");
	SEE(t, "next point");
	golden("help-80x24", t);
	t = frame(f, 48, 160);
	SEE(t, "same point, next layer");
	golden("help-160x48", t);
	/* the rest is a page away */
	for (int i = 0; i < 5 && !strstr(t, "In the goto prompt"); i++) {
		vw_apply(&f->s, &f->tr, VW_A_PAGE_DOWN);
		t = frame(f, 48, 160);
	}
	SEE(t, "In the goto prompt");
	SEE(t, "q Q");
}

static void test_small_terminals(void **state)
{
	struct fx *f = *state;
	go(f, "layers.0.scores");
	/* 40x12 is the smallest full UI */
	const char *t = frame(f, 12, 40);
	SEE(t, "layers.0.scores");
	SEE(t, "query 17 x key 17");
	SEE(t, "L0 scores");
	assert_int_equal(f->view.cols, 2);
	vw_apply(&f->s, &f->tr, VW_A_SCROLL_RIGHT);
	SEE(frame(f, 12, 40), "-inf");
	assert_null(strstr(t, "too small"));
	vw_apply(&f->s, &f->tr, VW_A_MODE_HEAT);
	SEE(frame(f, 12, 40), "heatmap");
	/* smaller ones get a message and the state lives on */
	static const int small[3][2] = {{8, 20}, {11, 40}, {12, 39}};
	for (int k = 0; k < 3; k++) {
		t = frame(f, small[k][0], small[k][1]);
		SEE(t, "too small");
		SEE(t, "need 40x12");
	}
	golden("too-small-20x8", frame(f, 8, 20));
	SEE(f->text, "20x8");
	SEE(frame(f, 24, 80), "heatmap  query x key");
}

static void test_overview(void **state)
{
	struct fx *f = *state;
	go(f, "layers.1.attn_out"); /* no heads: the layer's probs */
	vw_apply(&f->s, &f->tr, VW_A_MODE_OVERVIEW);
	const char *t = frame(f, 48, 160);
	SEE(t, "layers.1.probs");
	SEE(t, "all heads  query x key");
	for (int h = 0; h < 8; h++) {
		char lab[32];
		snprintf(lab, sizeof lab, "head %d", h);
		SEE(t, lab);
	}
	SEE(frame(f, 24, 80), "head 7");
}

static void test_palettes(void **state)
{
	struct fx *f = *state;
	go(f, "layers.0.scores");
	vw_apply(&f->s, &f->tr, VW_A_MODE_HEAT);
	assert_int_equal(vw_effective_palette(&f->s, &f->ui), VW_PAL_256);
	/* ASCII terminal: ramp characters and '.' for the mask */
	f->ui.utf8 = 0;
	f->s.palette = VW_PAL_SHADE;
	assert_int_equal(vw_effective_palette(&f->s, &f->ui), VW_PAL_ASCII);
	const char *t = frame(f, 24, 80);
	SEE(t, ". . . .");
	go(f, "layers.0.probs"); /* query 0 gives key 0 all its weight */
	t = frame(f, 24, 80);
	SEE(t, "0 <|begin_of @@  ");
	go(f, "layers.0.scores");
	/* NO_COLOR: no colour pairs, shaded glyphs */
	setenv("NO_COLOR", "1", 1);
	vw_ui_setup(&f->ui);
	unsetenv("NO_COLOR");
	assert_int_equal(f->ui.colors, 0);
	f->s.palette = VW_PAL_AUTO;
	assert_int_equal(vw_effective_palette(&f->s, &f->ui), VW_PAL_SHADE);
	t = frame(f, 24, 80);
	SEE(t, "\u2588\u2588");
	/* 8 colours */
	f->ui.colors = 8;
	assert_int_equal(vw_effective_palette(&f->s, &f->ui), VW_PAL_8);
	SEE(frame(f, 24, 80), "-inf (masked)");
}

static void test_prompt_and_messages(void **state)
{
	struct fx *f = *state;
	vw_apply(&f->s, &f->tr, VW_A_GOTO);
	vw_prompt_char(&f->s, &f->tr, 'l');
	vw_prompt_char(&f->s, &f->tr, 'o');
	SEE(frame(f, 24, 80), "goto: lo_");
	SEE(f->text, "-> logits");
	vw_apply(&f->s, &f->tr, VW_A_PROMPT_CANCEL);
	vw_apply(&f->s, &f->tr, VW_A_PREV_POINT);
	SEE(frame(f, 24, 80), "tokens is the first point");
}

static void test_resize(void **state)
{
	struct fx *f = *state;
	go(f, "logits");
	frame(f, 24, 80);
	size_t cols80 = f->view.cols;
	frame(f, 48, 160);
	assert_true(f->view.cols > cols80);
	assert_true(f->view.rows >= 17);
	frame(f, 12, 40);
	assert_true(f->view.cols >= 1 && f->view.cols < cols80);
}

/* Key-to-frame time on the shapes of Llama 3 8B with 17 tokens (about
 * 160 MB of tensors). Skipped under the sanitizers, which time themselves. */
static void test_frame_time_8b(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();
#else
	struct vw_synth o;
	struct ld_trace tr;
	struct ld_err err = {""};
	assert_int_equal(vw_synth_preset(&o, "8b"), 0);
	assert_int_equal(vw_synth_trace(&tr, &o, &err), LD_OK);
	char *rep = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&rep, &len);
	assert_int_equal(ld_view_bench(&tr, NULL, 48, 160, m, &err), LD_OK);
	fclose(m);
	double med = 0, worst = 0;
	const char *p = strstr(rep, "median");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "median %lf ms worst %lf ms", &med, &worst), 2);
	print_message("8B-shaped trace, 160x48: %s", rep);
	assert_true(med < 16.0);
	assert_true(worst < 100.0);
	free(rep);
	ld_trace_free(&tr);
#endif
}

int main(void)
{
	/* The screens are those of a UTF-8, colour terminal, whatever the
	 * environment running the tests says; the tests set NO_COLOR themselves. */
	setlocale(LC_CTYPE, "C.UTF-8");
	unsetenv("NO_COLOR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_screen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scores_heatmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_q_rope_grid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scores_grid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_pane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help_screen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_terminals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overview, setup, teardown),
		cmocka_unit_test_setup_teardown(test_palettes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prompt_and_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
		cmocka_unit_test(test_frame_time_8b),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
