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

#include "cli.h"
#include "diff.h"
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
	const struct ld_trace *tr = vw_shown(&f->s, &f->tr);
	vw_draw(stdscr, &f->s, tr, &f->ui, &f->view);
	vw_set_view(&f->s, tr, &f->view);
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

/* Screen row y of the last frame's text. */
static const char *row_at(const char *text, int y, char *buf, size_t size)
{
	for (; y > 0 && text; y--)
		if ((text = strchr(text, '\n')))
			text++;
	if (!text)
		return NULL;
	snprintf(buf, size, "%.*s", (int)strcspn(text, "\n"), text);
	return buf;
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
 * The recording line of forward.c is masked ("core/forward.c:N", padded to
 * the number's width) so that
 * editing the forward pass does not churn every file. To regenerate after a
 * deliberate change to the drawing, run with LLAMADBG_UPDATE_GOLDEN=1 and
 * review the diff. */
static void golden(const char *name, const char *text)
{
	static char norm[sizeof ((struct fx *)0)->text];
	size_t o = 0;
	for (const char *p = text; *p && o + 1 < sizeof norm;) {
		if (strncmp(p, "core/forward.c:", 15) == 0) {
			/* N, padded to the digits' width so the columns after it stay put */
			o += (size_t)snprintf(norm + o, sizeof norm - o, "core/forward.c:N");
			p += 15;
			/* the mask keeps the width: a line number with more digits
			 * does not shift the rest of the row */
			for (int d = 0; *p >= '0' && *p <= '9'; d++, p++)
				if (d > 0 && o + 1 < sizeof norm)
					norm[o++] = ' ';
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
	/* 10x5: the message wraps at its spaces instead of being cut */
	t = frame(f, 5, 10);
	SEE(t, "terminal");
	SEE(t, "too small");
	SEE(t, "10x5,");
	SEE(t, "40x12");
	SEE(t, "q quits");
	assert_null(strstr(t, "terminal t\n"));
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
	/* token strings: the visible-space sign as '_', any other non-ASCII
	 * character as one '?' (not "???" from its three bytes) */
	go(f, "tokens");
	char *tok1 = f->tr.token_str[1];
	char odd[] = "\xE2\x90\xA3" "caf\xC3\xA9" "s";
	f->tr.token_str[1] = odd;
	t = frame(f, 24, 80);
	f->tr.token_str[1] = tok1;
	SEE(t, " 1 _caf?s ");
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

/* Replace the fixture's trace by another synthetic one. */
static void use_synth(struct fx *f, const struct vw_synth *o)
{
	struct ld_err err = {""};
	vw_state_free(&f->s);
	ld_trace_free(&f->tr);
	assert_int_equal(vw_synth_trace(&f->tr, o, &err), LD_OK);
	assert_int_equal(vw_state_init(&f->s, &f->tr), 0);
}

/* 32 heads (Llama 3 8B) in the overview: one column of 32 tiles never
 * fits, four columns of 8 do. The tiling search used to stop at the
 * first column count that failed and always said "too many heads". */
static void test_overview_32_heads(void **state)
{
	struct fx *f = *state;
	struct vw_synth o = {1, 64, 32, 8, 2, 32, 64, 17, 0, 3, -1};
	use_synth(f, &o);
	go(f, "layers.0.scores");
	vw_apply(&f->s, &f->tr, VW_A_MODE_OVERVIEW);
	assert_int_equal(f->s.mode, VW_MODE_OVERVIEW);
	static const int sizes[3][2] = {{24, 80}, {48, 160}, {60, 200}};
	for (int k = 0; k < 3; k++) {
		const char *t = frame(f, sizes[k][0], sizes[k][1]);
		if (strstr(t, "too many heads"))
			fail_msg("%dx%d: no tiling found:\n%s", sizes[k][1], sizes[k][0], t);
		/* tiles too narrow for "head 31" are labelled "31" */
		SEE(t, k ? "head 31" : " 31 ");
	}
	go(f, "layers.0.q");
	const char *t = frame(f, 60, 200);
	assert_null(strstr(t, "too many heads"));
	SEE(t, " 31 ");
}

/* Heatmap index labels are wider than a 2-column cell: the selected
 * column's label must stay whole, not be overwritten by its neighbour's
 * ("104" then "105" two columns on read "10105"), and a label at the right
 * edge must not be cut to a different number. */
static void test_heatmap_index_labels(void **state)
{
	struct fx *f = *state;
	char row[1024];
	go(f, "logits"); /* token 17 x vocab 300: index labels at 80x24 */
	vw_apply(&f->s, &f->tr, VW_A_MODE_HEAT);
	frame(f, 24, 80);
	f->s.sel[VW_SLOT_VOCAB] = 104;
	f->s.col0 = 100;
	const char *t = frame(f, 24, 80);
	int px = 80 / 5 + 1;
	assert_non_null(row_at(t, 4, row, sizeof row)); /* under the 4 header lines */
	const char *lab = row + px;
	if (!strstr(lab, " 104 "))
		fail_msg("label row \"%s\" lacks the selected column's \"104\"", row);
	assert_null(strstr(lab, "10105"));
	/* every number on the label row is a visible column's whole index */
	size_t c0 = 100, ncols = f->view.cols;
	for (const char *p = lab; *p;) {
		if (*p < '0' || *p > '9') {
			p++;
			continue;
		}
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (v < c0 || v >= c0 + ncols)
			fail_msg("label row \"%s\": %lu is not a column on screen", row, v);
		p = end;
	}
	/* the row axis name does not run into the first column's label: a
	 * decode step's 1 x 18 scores in a trace without token strings (a
	 * model given as ids) have one-digit row labels */
	go(f, "step.1.layers.0.scores");
	char **ts = f->tr.token_str;
	f->tr.token_str = NULL;
	t = frame(f, 24, 80);
	f->tr.token_str = ts;
	assert_non_null(row_at(t, 4, row, sizeof row));
	if (strstr(row, "qu0") || !strstr(row, "q 0"))
		fail_msg("label row \"%s\": the axis name runs into the labels", row);
	go(f, "logits");
	frame(f, 24, 80);

	/* the last columns: 295 at the right edge is shown whole or not at all */
	vw_apply(&f->s, &f->tr, VW_A_COL_LAST);
	f->s.sel[VW_SLOT_VOCAB] = 299;
	t = frame(f, 24, 80);
	assert_non_null(row_at(t, 4, row, sizeof row));
	SEE(row, "299");
	c0 = 300 - f->view.cols;
	for (const char *p = row + px; *p;) {
		if (*p < '0' || *p > '9') {
			p++;
			continue;
		}
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (v < c0 || v >= 300)
			fail_msg("label row \"%s\": %lu is not a column on screen", row, v);
		p = end;
	}
}

/* The status line names the token the screen shows: a decode step's
 * tensors have one query row, so a selection of token 16 in the prompt
 * is token 0 there (the generated token), not "tok 16" with no string. */
static void test_status_token_in_step(void **state)
{
	struct fx *f = *state;
	go(f, "layers.0.scores");
	for (int i = 0; i < 16; i++)
		vw_apply(&f->s, &f->tr, VW_A_NEXT_TOKEN);
	SEE(frame(f, 24, 80), "tok 16 '");
	vw_apply(&f->s, &f->tr, VW_A_NEXT_STEP);
	assert_string_equal(f->tr.t[f->s.cur].name, "step.1.layers.0.scores");
	char where[256], want[64];
	vw_status_where(&f->s, &f->tr, where, sizeof where);
	snprintf(want, sizeof want, "tok 0 '%s'", vw_token_str(&f->tr, f->tr.n_tokens));
	if (!strstr(where, want))
		fail_msg("status \"%s\" lacks \"%s\"", where, want);
	/* back in the prompt the selection is still token 16 */
	vw_apply(&f->s, &f->tr, VW_A_PREV_STEP);
	vw_status_where(&f->s, &f->tr, where, sizeof where);
	assert_non_null(strstr(where, "tok 16 '"));
}

/* A message too long for the space after the location is moved left over
 * it, but keeps a space between the two ("tok 0no NaN" before). */
static void test_status_message_gap(void **state)
{
	struct fx *f = *state;
	char where[256], row[1024];
	go(f, "layers.0.scores");
	vw_status_where(&f->s, &f->tr, where, sizeof where);
	int len = 80 - (int)strlen(where) + 3; /* overlaps the location */
	char msg[128];
	memset(msg, 'm', (size_t)len);
	memcpy(msg, "MSG", 3);
	msg[len] = '\0';
	vw_set_msg(&f->s, 0, "%s", msg);
	const char *t = frame(f, 24, 80);
	assert_non_null(row_with(t, "MSG", row, sizeof row));
	const char *m = strstr(row, "MSG");
	assert_true(m > row);
	if (m[-1] != ' ')
		fail_msg("status row \"%s\": no space before the message", row);
	SEE(row, msg);
}

/* The help at the smallest size (40 columns): the keys' explanations wrap
 * under themselves instead of being cut ("previous tensor with a NaN or
 * In"). Every word of every key line shows up on some page. */
static void test_help_narrow(void **state)
{
	struct fx *f = *state;
	static char all[64 * 1024];
	size_t o = 0;
	vw_apply(&f->s, &f->tr, VW_A_HELP);
	for (int page = 0; page < 40; page++) {
		const char *t = frame(f, 12, 40);
		o += (size_t)snprintf(all + o, sizeof all - o, "%s", t);
		vw_apply(&f->s, &f->tr, VW_A_PAGE_DOWN);
	}
	SEE(all, "excepted)");          /* "next tensor with a NaN or Inf (the mask's -inf excepted)" */
	SEE(all, "layers.4.scores)");   /* "same point, next layer (layers.3.scores -> layers.4.scores)" */
	SEE(all, "ASCII");              /* "pictures: 256 colours, 8 colours, shades, ASCII" */
	/* each word of each key line, in order, on the screens */
	for (size_t i = 0; i < vw_help_count(); i++) {
		char line[256];
		vw_help_line(i, line, sizeof line);
		for (char *w = strtok(line, " "); w; w = strtok(NULL, " "))
			if (!strstr(all, w))
				fail_msg("help at 40 columns lacks \"%s\" (line %zu)", w, i);
	}
}

/* The help screen lists the model's config by config.json's names, each
 * name next to its value (lessons ask for rms_norm_eps and rope_theta). */
static void test_help_config(void **state)
{
	struct fx *f = *state;
	char want[64];
	vw_apply(&f->s, &f->tr, VW_A_HELP);
	for (int cols = 40; cols <= 120; cols += 80) {
		const char *t = frame(f, 40, cols);
		SEE(t, "model config (config.json):");
		snprintf(want, sizeof want, "rms_norm_eps %g", f->tr.cfg.norm_eps);
		SEE(t, want);
		snprintf(want, sizeof want, "rope_theta %g", f->tr.cfg.rope_theta);
		SEE(t, want);
		snprintf(want, sizeof want, "vocab_size %d", f->tr.cfg.vocab_size);
		SEE(t, want);
		snprintf(want, sizeof want, "num_key_value_heads %d", f->tr.cfg.n_kv_heads);
		SEE(t, want);
	}
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
	/* the times are a benchmark's (`make bench` reports them), not a
	 * test's: this checks that every frame of the walk was drawn */
	print_message("8B-shaped trace, 160x48: %s", rep);
	assert_true(med > 0 && worst >= med);
	free(rep);
	ld_trace_free(&tr);
#endif
}

/* view A --diff B: B is A with one entry of layers.0.q lowered by 0.5. The
 * view opens at that first divergence; the map gives every point's
 * relative error and a '*' on it; w shows A, B, then A-B, whose grid and
 * heatmap are the difference. */
/* A patched trace: the map marks the patched point 'P', the header says so. */
static void test_patched_marks(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ld_trace_add_patch(&f->tr, "layers.0.attn[:,1,:] = zeros (--ablate layers.0.head.1)"), 0);
	long i = ld_trace_find(&f->tr, "layers.0.attn");
	assert_true(i >= 0);
	vw_goto_index(&f->s, &f->tr, (size_t)i);
	char row[512];
	const char *t = frame(f, 24, 100);
	SEE(t, "layers.0.attn (patched)");
	assert_non_null(row_with(t, "    attn ", row, sizeof row));
	assert_non_null(strstr(row, "P"));
	assert_non_null(row_with(t, "    attn_out ", row, sizeof row));
	assert_null(strstr(row, "P"));
}

/* A --bf16-dot trace says, at each product with BF16 weights, that its
 * input was rounded. */
static void test_bf16_dot_header(void **state)
{
	struct fx *f = *state;
	const size_t n = (size_t)f->tr.cfg.n_layers * LD_WM_N;
	f->tr.wtypes = malloc(n * sizeof *f->tr.wtypes);
	assert_non_null(f->tr.wtypes);
	for (size_t i = 0; i < n; i++)
		f->tr.wtypes[i] = LD_BF16;
	go(f, "layers.0.q");
	SEE(frame(f, 24, 120), "wq BF16  core/forward.c:");
	snprintf(f->tr.kernel, sizeof f->tr.kernel, "avx512bf16");
	SEE(frame(f, 24, 120), "wq BF16 x bf16 (--bf16-dot)  core/forward.c:");
	go(f, "layers.0.attn_norm"); /* not a product */
	const char *t = frame(f, 24, 120);
	if (strstr(t, "--bf16-dot"))
		fail_msg("a norm is not a product:\n%s", t);
}

static void test_diff_view(void **state)
{
	struct fx *f = *state;
	struct ld_trace b;
	struct vw_synth o;
	struct ld_err err = {""};
	assert_int_equal(vw_synth_preset(&o, "small"), 0);
	assert_int_equal(vw_synth_trace(&b, &o, &err), LD_OK);
	struct ld_tensor *q = &b.t[ld_trace_find(&b, "layers.0.q")];
	size_t H = q->shape[1], hd = q->shape[2];
	((float *)q->data)[(1 * H + 0) * hd + 3] -= 0.5f; /* a - b = +0.5 */
	struct vw_diff vd;
	struct ld_diff_opts opts = {.rtol = 1e-4};
	assert_int_equal(vw_diff_open(&vd, &f->tr, &b, "a.st", "b.st", &opts, &err), LD_OK);
	assert_int_equal(vd.n_left_out, 0);
	vw_state_free(&f->s);
	assert_int_equal(vw_state_init(&f->s, &vd.tr[VW_DIFF_A]), 0);
	vw_state_set_diff(&f->s, &vd);
	assert_string_equal(vd.tr[VW_DIFF_A].t[f->s.cur].name, "layers.0.q");

	char row[512];
	const char *t = frame(f, 24, 100);
	SEE(t, "layers.0.q");
	SEE(t, "A  rel ");
	SEE(t, "first divergence");
	/* the map: q marked, its neighbours before it agree exactly */
	assert_non_null(row_with(t, "    q ", row, sizeof row));
	assert_non_null(strchr(row, '*'));
	assert_non_null(strstr(row, "e-"));
	assert_non_null(row_with(t, "    attn_norm ", row, sizeof row));
	assert_null(strchr(row, '*'));
	assert_non_null(strstr(row, " 0 "));

	/* w: B, then A-B; the grid's only non-zero cell is the moved one */
	assert_int_equal(vw_key_action(0, 'w'), VW_A_DIFF_NEXT);
	vw_apply(&f->s, vw_shown(&f->s, &f->tr), VW_A_DIFF_NEXT);
	t = frame(f, 24, 100);
	SEE(t, "B  rel ");
	SEE(t, "showing B: b.st");
	vw_apply(&f->s, vw_shown(&f->s, &f->tr), VW_A_DIFF_NEXT);
	t = frame(f, 24, 100);
	SEE(t, "A-B  rel ");
	SEE(t, "min 0 max 0.5");
	assert_non_null(row_at(t, 6, row, sizeof row));  /* token 1 */
	SEE(row, "0.5");
	assert_non_null(row_at(t, 5, row, sizeof row));  /* token 0: no difference */
	assert_null(strstr(row, "0.5"));
	/* the heatmap of the difference: one cell at the top of the scale */
	f->s.palette = VW_PAL_ASCII;
	vw_apply(&f->s, vw_shown(&f->s, &f->tr), VW_A_MODE_HEAT);
	t = frame(f, 24, 100);
	SEE(t, "heatmap");
	assert_non_null(row_at(t, 6, row, sizeof row));
	SEE(row, "@");
	assert_non_null(row_at(t, 5, row, sizeof row));
	assert_null(strchr(row + 34, '@'));
	/* and round again to A */
	vw_apply(&f->s, vw_shown(&f->s, &f->tr), VW_A_DIFF_NEXT);
	t = frame(f, 24, 100);
	SEE(t, "A  rel ");

	f->s.diff = NULL;
	vw_diff_close(&vd);

	/* a point B lacks is left out, and the status line says so */
	strcpy(b.t[ld_trace_find(&b, "layers.1.ffn_up")].name, "layers.1.other");
	assert_int_equal(vw_diff_open(&vd, &f->tr, &b, "a.st", "b.st", &opts, &err), LD_OK);
	assert_int_equal(vd.n_left_out, 2);
	assert_int_equal(vd.tr[VW_DIFF_A].n, f->tr.n - 1);
	vw_state_free(&f->s);
	assert_int_equal(vw_state_init(&f->s, &vd.tr[VW_DIFF_A]), 0);
	vw_state_set_diff(&f->s, &vd);
	SEE(frame(f, 24, 140), "2 points not shown");
	f->s.diff = NULL;
	vw_diff_close(&vd);
	ld_trace_free(&b);
}

/* w on one trace says how to open two. */
/* The logit lens on the demo model and its seed prompt: the lens view's
 * grid at the last position reads "42" at the first layer and from the
 * third on,
 * and the status line names the selected cell's guess, id and probability. */
#define N_SEED 17 /* the seed prompt's tokens in the demo vocabulary */
static void test_lens_view(void **state)
{
	struct fx *f = *state;
	struct ld_trace tr;
	/* a trace without a lens says how to get one */
	assert_int_equal(vw_key_action(0, 'i'), VW_A_MODE_LENS);
	vw_apply(&f->s, &f->tr, VW_A_MODE_LENS);
	assert_int_equal(f->s.mode, VW_MODE_GRID);
	SEE(frame(f, 24, 80), "trace --lens");

	const char *only[] = {"tokens", "layers.*", "logits", "step.*"};
	struct ld_trace_request rq = {
		.model_dir = "../data/demo", .lens_k = 5, .lens_mid = 1, .n_generate = 2,
		.prompt = "the answer to the ultimate question of life, the universe, and everything is ",
		.only = only, .n_only = 4,
	};
	assert_int_equal(ld_cli_trace_run(&rq, &tr), 0);
	ld_trace_free(&f->tr);
	f->tr = tr; /* the fixture's trace from here on (teardown frees it) */
	vw_state_free(&f->s);
	assert_int_equal(vw_state_init(&f->s, &tr), 0);
	vw_apply(&f->s, &tr, VW_A_MODE_LENS);
	assert_int_equal(f->s.mode, VW_MODE_LENS);
	assert_string_equal(tr.t[f->s.cur].name, "layers.0.lens_ids");
	/* to the last position, then down through the layers */
	for (int i = 0; i < 16; i++)
		vw_apply(&f->s, &tr, VW_A_NEXT_HEAD);
	const char *t = frame(f, 24, 80);
	golden("lens-80x24", t);
	SEE(t, "logit lens");
	SEE(t, "L0 lens  tok 16 '");
	SEE(t, "-> '42' id 296 p 0.225");
	/* the last column, layer by layer: 42 at 22%, 11 a hair ahead of it at
	 * layer 1 (15.4% to 15.0%), then 42 at 96% and 99.7% */
	static const char *const top[] = {"42", "11", "42", "42"};
	char row[512];
	for (int l = 0; l < 4; l++) {
		char lab[8];
		snprintf(lab, sizeof lab, "L%d ", l);
		assert_non_null(row_at(t, 5 + l, row, sizeof row));
		size_t n = strlen(row);
		while (n && row[n - 1] == ' ')
			row[--n] = '\0';
		if (!strstr(row, lab) || n < 2 || strcmp(row + n - 2, top[l]) != 0)
			fail_msg("lens row %d does not end with \"%s\": %s", l, top[l], row);
	}
	vw_apply(&f->s, &tr, VW_A_NEXT_POINT); /* j: the next layer */
	vw_apply(&f->s, &tr, VW_A_NEXT_POINT);
	vw_apply(&f->s, &tr, VW_A_NEXT_POINT);
	t = frame(f, 24, 80);
	assert_string_equal(tr.t[f->s.cur].name, "layers.3.lens_ids");
	SEE(t, "L3 lens  tok 16 '");
	SEE(t, "-> '42' id 296 p 0.997");
	golden("lens-160x48", frame(f, 48, 160));
	/* past the last layer: a message, not a move */
	vw_apply(&f->s, &tr, VW_A_NEXT_POINT);
	assert_string_equal(tr.t[f->s.cur].name, "layers.3.lens_ids");
	/* a decode step: one position */
	vw_apply(&f->s, &tr, VW_A_NEXT_STEP);
	t = frame(f, 24, 80);
	assert_string_equal(tr.t[f->s.cur].name, "step.1.layers.3.lens_ids");
	SEE(t, "s1 L3 lens  tok 17 '42'");
	/* the same key again goes back to the values; the source pane has the line */
	vw_apply(&f->s, &tr, VW_A_MODE_LENS);
	assert_int_equal(f->s.mode, VW_MODE_GRID);
	vw_apply(&f->s, &tr, VW_A_MODE_SOURCE);
	SEE(frame(f, 24, 100), "logit_lens(");
	/* after attention: lens_mid, opened from a lens_mid point */
	vw_apply(&f->s, &tr, VW_A_MODE_GRID);
	long m = ld_trace_find(&tr, "layers.2.lens_mid_probs");
	assert_true(m >= 0);
	vw_goto_index(&f->s, &tr, (size_t)m);
	vw_apply(&f->s, &tr, VW_A_MODE_LENS);
	SEE(frame(f, 24, 80), "logit lens after attention");
	assert_string_equal(tr.t[f->s.cur].name, "layers.2.lens_mid_ids");
	/* a hostile trace: ids outside the vocabulary show as numbers, ids
	 * that are not int32 or probs of another shape are not read */
	struct ld_tensor *ids = &tr.t[f->s.cur];
	((int32_t *)ids->data)[(N_SEED - 1) * 5] = 999999;
	((int32_t *)ids->data)[(N_SEED - 2) * 5] = -7;
	t = frame(f, 24, 80);
	SEE(t, "999999");
	ids->dtype = LD_F32;
	SEE(frame(f, 24, 80), "L2 lens mid  tok 16");
	ids->dtype = LD_I32;
	tr.t[f->s.cur + 1].shape[1] = 4;
	t = frame(f, 24, 80);
	SEE(t, "id 999999 p nan");
}

static void test_diff_key_alone(void **state)
{
	struct fx *f = *state;
	vw_apply(&f->s, &f->tr, VW_A_DIFF_NEXT);
	SEE(frame(f, 24, 80), "--diff B");
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
		cmocka_unit_test_setup_teardown(test_overview_32_heads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heatmap_index_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_token_in_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_message_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help_narrow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bf16_dot_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_patched_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_key_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lens_view, setup, teardown),
		cmocka_unit_test(test_frame_time_8b),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
