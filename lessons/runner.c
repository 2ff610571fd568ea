/* runner.c - a lesson in the terminal: prose on the left, the live trace
 * on the right, checkpoints answered on a line under the prose. */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viewer.h"
#include "vw_dump.h"
#include "vw_keys.h"

/* ---- state ------------------------------------------------------------------------------------ */

static void save(struct lr_state *r)
{
	struct ld_err err = {{0}};
	r->prog.step = r->step;
	if (ls_progress_put(r->progress_path, &r->prog, &err) != LD_OK) {
		snprintf(r->feedback, sizeof r->feedback, "progress not saved: %.400s", err.msg);
		r->fb_bad = 1;
	}
}

/* Move the view where the step says. */
static void focus(const struct lr_state *r, struct vw_state *s, const struct ld_trace *tr)
{
	const struct ls_focus *f = &r->L->steps[r->step].focus;
	if (!f->on)
		return;
	long idx = ld_trace_find(tr, f->point);
	if (idx < 0) {
		vw_set_msg(s, 1, "%s:%d: the trace has no point \"%s\"", r->L->path, f->line, f->point);
		return;
	}
	long token = f->token;
	if (token == LS_LAST) {
		const struct ld_tensor *t = &tr->t[idx];
		/* the last query of this tensor (a decode step has one) */
		size_t n = strncmp(t->axes, "token", 5) == 0 ? t->shape[0]
		           : strstr(t->axes, "query") && t->ndim > 1 ? t->shape[1] : tr->n_tokens;
		token = n ? (long)n - 1 : 0;
	}
	/* a key the learner selected in an earlier step (M) would scroll the
	 * columns to it; the step's view starts at key 0 unless it names one */
	long key = f->key == -1 ? 0 : f->key;
	/* likewise the display: the values, unless the step names another (a
	 * heatmap from an earlier step would hide the numbers it asks for) */
	int view = f->view >= 0 ? f->view : VW_MODE_GRID;
	vw_focus(s, tr, (size_t)idx, view, f->head, token, key);
}

static void go_step(struct lr_state *r, struct vw_state *s, const struct ld_trace *tr, size_t step)
{
	r->step = step;
	r->answering = 0;
	r->answer[0] = '\0';
	r->feedback[0] = '\0';
	r->fb_bad = 0;
	r->scroll = 0;
	focus(r, s, tr);
	save(r);
}

void lr_init(struct lr_state *r, const struct ls_lesson *L, const char *progress_path, struct vw_state *s,
             const struct ld_trace *tr)
{
	memset(r, 0, sizeof *r);
	r->L = L;
	r->progress_path = progress_path;
	ls_progress_get(progress_path, L->name, &r->prog);
	size_t step = r->prog.step < L->n_steps && !r->prog.done ? r->prog.step : 0;
	r->step = step;
	focus(r, s, tr);
	if (step > 0)
		snprintf(r->feedback, sizeof r->feedback, "Welcome back: resuming at step %zu.", step + 1);
}

static int passed(const struct lr_state *r, size_t step)
{
	return (r->prog.passed >> step) & 1u;
}

static void submit(struct lr_state *r, const struct ld_trace *tr)
{
	const struct ls_step *st = &r->L->steps[r->step];
	struct ls_expect e;
	struct ld_err err = {{0}};
	if (ls_expect(r->L, &st->check, tr, &e, &err) != LD_OK) {
		snprintf(r->feedback, sizeof r->feedback, "%.400s", err.msg);
		r->fb_bad = 1;
		r->answering = 0;
		return;
	}
	if (ls_answer_ok(&e, r->answer)) {
		r->prog.passed |= 1ul << r->step;
		r->answering = 0;
		snprintf(r->feedback, sizeof r->feedback, "Right: %s. Enter goes on.", e.show);
		r->fb_bad = 0;
		save(r);
	} else {
		/* the answer line closes: hints send the learner to the viewer's
		 * keys (t, M, ...), which the line would take as typing */
		snprintf(r->feedback, sizeof r->feedback, "Not \"%s\". Hint: %s (Enter: answer again)",
		         r->answer, st->hint);
		r->fb_bad = 1;
		r->answer[0] = '\0';
		r->answering = 0;
	}
}

static unsigned answer_key(struct lr_state *r, const struct ld_trace *tr, int ch)
{
	size_t n = strlen(r->answer);
	switch (vw_key_action_in(VW_KM_PROMPT, ch)) {
	case VW_A_PROMPT_ENTER:
		if (n)
			submit(r, tr);
		return VW_F_REDRAW;
	case VW_A_PROMPT_CANCEL:
		r->answering = 0;
		r->answer[0] = '\0';
		return VW_F_REDRAW;
	case VW_A_PROMPT_BS:
		/* a whole UTF-8 character */
		while (n > 0 && ((unsigned char)r->answer[n - 1] & 0xC0) == 0x80)
			n--;
		if (n > 0)
			n--;
		r->answer[n] = '\0';
		return VW_F_REDRAW;
	case VW_A_PROMPT_KILL:
		r->answer[0] = '\0';
		return VW_F_REDRAW;
	default:
		break;
	}
	if (ch >= 32 && ch < 256 && ch != 127 && n + 1 < sizeof r->answer) {
		r->answer[n] = (char)ch;
		r->answer[n + 1] = '\0';
	}
	return VW_F_REDRAW;
}

/* Where the prose goes in a pane (see geom() below). */
struct pane_geom {
	int y0, rows, total, maxskip, need;
};
static struct pane_geom geom(const struct lr_state *r, int lines, int width);

unsigned lr_key(struct lr_state *r, struct vw_state *s, const struct ld_trace *tr, int ch)
{
	if (r->answering)
		return answer_key(r, tr, ch);
	enum vw_action a = s->prompt_on ? VW_A_NONE : vw_key_action_in(VW_KM_LESSON, ch);
	const struct ls_step *st = &r->L->steps[r->step];
	switch (a) {
	case VW_A_LESSON_NEXT:
		if (st->check.kind && !passed(r, r->step)) {
			r->answering = 1;
			r->answer[0] = '\0';
			if (!r->fb_bad) /* a miss's hint stays up while the learner tries again */
				r->feedback[0] = '\0';
		} else if (r->step + 1 < r->L->n_steps) {
			go_step(r, s, tr, r->step + 1);
		} else {
			r->prog.done = 1;
			save(r);
			if (!r->fb_bad)
				snprintf(r->feedback, sizeof r->feedback,
				         "Lesson complete. q quits; `llamadbg lesson` lists the next one.");
		}
		return VW_F_REDRAW;
	case VW_A_LESSON_PREV:
		if (r->step > 0)
			go_step(r, s, tr, r->step - 1);
		return VW_F_REDRAW;
	case VW_A_LESSON_FOCUS:
		focus(r, s, tr);
		return VW_F_REDRAW;
	case VW_A_LESSON_TEXT_DOWN: {
		/* the text pane; the limit is the terminal's (LINES x COLS) */
		struct lr_layout lay = lr_layout(LINES, COLS);
		int most = lay.pane_lines > 0 ? geom(r, lay.pane_lines, lay.pane_cols).maxskip : 1 << 20;
		if (r->scroll < most)
			r->scroll++;
		else
			r->scroll = most;
		return VW_F_REDRAW;
	}
	case VW_A_LESSON_TEXT_UP:
		if (r->scroll > 0)
			r->scroll--;
		return VW_F_REDRAW;
	default:
		break;
	}
	/* the viewer's keys, as in view.c */
	a = vw_key_action(s->prompt_on, ch);
	unsigned f = (a == VW_A_NONE && s->prompt_on) ? vw_prompt_char(s, tr, ch) : vw_apply(s, tr, a);
	if (f & (VW_F_DUMP_TENSOR | VW_F_DUMP_SLICE)) {
		char msg[VW_MSG];
		int rc = vw_dump(s, tr, (f & VW_F_DUMP_TENSOR) != 0, ".", msg, sizeof msg);
		vw_set_msg(s, rc != 0, "%s", msg);
	}
	return f;
}

/* ---- drawing ---------------------------------------------------------------------------------- */

int lr_pane_width(int cols)
{
	int w = cols * 2 / 5;
	if (w < 30)
		w = 30;
	if (w > 64)
		w = 64;
	return w;
}

enum { LR_MIN_LINES = 8, LR_MIN_COLS = 30 }; /* the least the lesson pane is drawn in */

/* Where the lesson pane and the viewer go on a lines x cols screen: side by
 * side when both fit; on a narrow screen the lesson above the viewer; on a
 * small one the lesson alone, its last row saying what size shows both. */
struct lr_layout lr_layout(int lines, int cols)
{
	struct lr_layout L = {0};
	int pw = lr_pane_width(cols);
	if (lines >= VW_MIN_LINES && cols - pw - 1 >= VW_MIN_COLS) {
		L.pane_lines = lines, L.pane_cols = pw;
		L.vy = 0, L.vx = pw + 1, L.vlines = lines, L.vcols = cols - pw - 1;
	} else if (cols >= VW_MIN_COLS && lines >= LR_MIN_LINES + 1 + VW_MIN_LINES) {
		int vl = lines / 2 > VW_MIN_LINES ? lines / 2 : VW_MIN_LINES;
		L.pane_lines = lines - vl - 1, L.pane_cols = cols;
		L.vy = lines - vl, L.vx = 0, L.vlines = vl, L.vcols = cols;
	} else if (cols >= LR_MIN_COLS && lines >= LR_MIN_LINES + 1) {
		L.pane_lines = lines - 1, L.pane_cols = cols; /* the last row: the note */
	}
	return L;
}

/* Write s word-wrapped into width columns from line *y (stopping at
 * ymax); continuation lines keep the first line's indent. Lines above
 * row top are counted but not drawn, and w NULL only counts. */
static void wrap(WINDOW *w, int *y, int ymax, int x, int width, attr_t a, const char *s, int top)
{
	size_t indent = strspn(s, " ");
	if (!*s) {
		++*y;
		return;
	}
	const char *p = s;
	int first = 1;
	while (*p && *y < ymax) {
		int avail = width - (first ? 0 : (int)indent);
		if (avail < 8)
			avail = width;
		size_t n = strlen(p);
		size_t cut = n;
		if ((int)n > avail) {
			cut = (size_t)avail;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = (size_t)avail;
		}
		if (w && *y >= top) {
			wattrset(w, a);
			mvwaddnstr(w, *y, x + (first ? 0 : (int)indent), p, (int)cut);
		}
		++*y;
		p += cut;
		while (*p == ' ')
			p++;
		first = 0;
	}
}

/* The prose of the step from row y (rows < top and >= ymax not drawn):
 * consecutive unindented lines are one paragraph, filled to the pane's
 * width; a blank line separates paragraphs; an indented line (code, a
 * table) is kept as it is and wrapped on its own. */
static void prose(WINDOW *w, const struct ls_step *st, int *y, int top, int ymax, int x, int tw)
{
	const char *p = st->text;
	char para[4096];
	size_t n_para = 0;
	para[0] = '\0';
	for (;;) {
		size_t n = strcspn(p, "\n");
		int plain = n > 0 && p[0] != ' ';
		if ((!plain || !*p) && n_para) {
			wrap(w, y, ymax, x, tw, A_NORMAL, para, top);
			n_para = 0;
			para[0] = '\0';
		}
		if (!*p || *y >= ymax)
			break;
		if (plain) {
			int k = snprintf(para + n_para, sizeof para - n_para, "%s%.*s", n_para ? " " : "", (int)n, p);
			if (k > 0)
				n_para = n_para + (size_t)k < sizeof para ? n_para + (size_t)k : sizeof para - 1;
		} else {
			char line[1024];
			snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
			wrap(w, y, ymax, x, tw, A_NORMAL, line, top);
		}
		p += n;
		if (*p == '\n')
			p++;
	}
}

/* Where the prose goes in a pane lines x width: its first row y0, rows
 * rows for it, total rows it needs, the most it can scroll, and need rows
 * for the checkpoint and feedback under it. */

static struct pane_geom geom(const struct lr_state *r, int lines, int width)
{
	const struct ls_lesson *L = r->L;
	const struct ls_step *st = &L->steps[r->step];
	struct pane_geom g = {0};
	int tw = width - 2, ymax = lines - 1, y = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s  (%zu/%zu)", L->title, r->step + 1, L->n_steps);
	wrap(NULL, &y, ymax, 1, tw, 0, buf, 0);
	y++;
	wrap(NULL, &y, ymax, 1, tw, 0, st->title, 0);
	y++;
	g.y0 = y;
	int t = 0;
	prose(NULL, st, &t, 0, 1 << 20, 1, tw);
	g.total = t;
	g.need = 2 + (r->feedback[0] ? 1 + (int)strlen(r->feedback) / (tw > 0 ? tw : 1) + 1 : 0);
	int reserve = st->check.kind ? g.need : r->feedback[0] ? g.need - 2 : 0;
	g.rows = ymax - g.y0 - reserve;
	if (g.total > g.rows) {
		g.rows--; /* the "more" line */
		if (g.rows < 1)
			g.rows = 1;
		g.maxskip = g.total - g.rows;
	} else {
		g.rows = g.total;
	}
	return g;
}

/* Blank rows [y, ymax) of the pane, width columns from the left edge, and
 * nothing else: the viewer's pane to the right shares the window and keeps
 * what it drew (wclrtobot would erase it too). */
static void clear_rows(WINDOW *w, int y, int ymax, int width)
{
	for (; y < ymax; y++)
		mvwhline(w, y, 0, ' ', width);
}

static void draw_pane(WINDOW *w, const struct lr_state *r, int lines, int width)
{
	const struct ls_lesson *L = r->L;
	const struct ls_step *st = &L->steps[r->step];
	int y = 0, x = 1, tw = width - 2, ymax = lines - 1;
	char buf[256];
	snprintf(buf, sizeof buf, "%s  (%zu/%zu)", L->title, r->step + 1, L->n_steps);
	wrap(w, &y, ymax, x, tw, A_BOLD | A_REVERSE, buf, 0);
	y++;
	wrap(w, &y, ymax, x, tw, A_BOLD, st->title, 0);
	y++;
	/* the prose, scrolled by r->scroll when it does not fit */
	struct pane_geom g = geom(r, lines, width);
	int skip = r->scroll < g.maxskip ? r->scroll : g.maxskip;
	if (skip < 0)
		skip = 0;
	int end = g.y0 + g.rows < ymax ? g.y0 + g.rows : ymax;
	y = g.y0 - skip;
	prose(w, st, &y, g.y0, end, x, tw);
	y = end;
	if (g.maxskip > 0 && y < ymax) {
		const char *more = r->answering          ? "-- more: Esc, then e / y scroll --"
		                   : skip >= g.maxskip ? "-- end: y scrolls up --"
		                   : skip              ? "-- more: e down, y up --"
		                                       : "-- more: e scrolls down --";
		wrap(w, &y, ymax, x, tw, A_BOLD, more, 0);
	}
	/* the checkpoint and the feedback, kept at the bottom when space is short */
	char fb[LR_FEEDBACK + 32];
	int need = g.need;
	if (st->check.kind) {
		if (y + need > ymax)
			y = ymax - need > 0 ? ymax - need : 0;
		clear_rows(w, y, ymax, width);
		y++;
		if (r->answering)
			snprintf(fb, sizeof fb, "answer> %s_", r->answer);
		else if ((r->prog.passed >> r->step) & 1u)
			snprintf(fb, sizeof fb, "[checkpoint passed]");
		else
			snprintf(fb, sizeof fb, "[checkpoint: Enter, type the answer, Enter]");
		wrap(w, &y, ymax, x, tw, A_BOLD, fb, 0);
	} else if (r->feedback[0] && y + need > ymax) {
		y = ymax - need + 2 > 0 ? ymax - need + 2 : 0;
		clear_rows(w, y, ymax, width);
	}
	if (r->feedback[0])
		wrap(w, &y, ymax, x, tw, r->fb_bad ? A_BOLD | A_UNDERLINE : A_BOLD, r->feedback, 0);
	wattrset(w, A_REVERSE);
	mvwhline(w, lines - 1, 0, ' ', width);
	mvwaddnstr(w, lines - 1, x,
	           r->answering ? "Enter check  Esc stop answering"
	           : g.maxskip > 0 ? "Enter next  p back  e/y scroll  r refocus  ? keys  q quit"
	                           : "Enter next  p back  r refocus  ? keys  q quit",
	           tw);
	wattrset(w, A_NORMAL);
}

void lr_draw(WINDOW *w, const struct lr_state *r, const struct vw_state *s, const struct ld_trace *tr,
             const struct vw_ui *ui, struct vw_view *out)
{
	int lines, cols;
	getmaxyx(w, lines, cols);
	werase(w);
	struct lr_layout L = lr_layout(lines, cols);
	if (L.pane_lines == 0) {
		/* too small for the lesson too: the viewer's small-terminal message */
		vw_draw(w, s, tr, ui, out);
		return;
	}
	if (L.vlines > 0) {
		WINDOW *right = derwin(w, L.vlines, L.vcols, L.vy, L.vx);
		if (right) {
			vw_draw(right, s, tr, ui, out);
			delwin(right);
		}
	} else {
		/* the viewer is not drawn: its page sizes stay as they were */
		*out = (struct vw_view){s->view_rows, s->view_cols, s->page_lines, s->total_lines};
	}
	draw_pane(w, r, L.pane_lines, L.pane_cols);
	wattrset(w, A_NORMAL);
	if (L.vx > 0) {
		mvwvline(w, 0, L.pane_cols, ACS_VLINE, lines);
	} else if (L.vy > 0) {
		mvwhline(w, L.pane_lines, 0, ACS_HLINE, cols);
	} else {
		/* the lesson alone: the smallest terminal that shows the tensors */
		int need = VW_MIN_COLS;
		while (need - lr_pane_width(need) - 1 < VW_MIN_COLS)
			need++;
		char note[96];
		snprintf(note, sizeof note, "tensors hidden: need %dx%d (or %dx%d)",
		         VW_MIN_COLS, LR_MIN_LINES + 1 + VW_MIN_LINES, need, VW_MIN_LINES);
		mvwaddnstr(w, lines - 1, 1, note, cols - 2);
	}
	touchwin(w);
	wnoutrefresh(w);
}

/* ---- the loop --------------------------------------------------------------------------------- */

enum ld_status ld_lesson_run(struct ld_trace *tr, const char *lesson_path, const char *progress_path,
                             struct ld_err *err)
{
	struct ls_lesson L;
	enum ld_status st = ls_load(&L, lesson_path, err);
	if (st != LD_OK)
		return st;
	if ((st = ls_validate(&L, tr, err)) != LD_OK) {
		ls_free(&L);
		return st;
	}
	struct vw_term vt;
	if ((st = vw_term_open(&vt, "lesson", err)) != LD_OK) {
		ls_free(&L);
		return st;
	}
	struct vw_state s;
	if (vw_state_init(&s, tr) != 0) {
		vw_term_close(&vt);
		ls_free(&L);
		return ld_fail(err, LD_ERR_NOMEM, "lesson: out of memory");
	}
	struct vw_ui ui;
	vw_ui_setup(&ui);
	struct lr_state r;
	lr_init(&r, &L, progress_path, &s, tr);
	for (;;) {
		struct vw_view v;
		lr_draw(stdscr, &r, &s, tr, &ui, &v);
		vw_set_view(&s, tr, &v);
		doupdate();
		int ch = vw_read_key();
		if (ch < 0)
			break;
		if (ch == KEY_RESIZE)
			continue;
		unsigned f = lr_key(&r, &s, tr, ch);
		if (f & VW_F_CLEAR)
			clearok(curscr, TRUE);
		if (f & VW_F_QUIT)
			break;
	}
	vw_term_close(&vt);
	vw_state_free(&s);
	ls_free(&L);
	return LD_OK;
}

/* ---- listing ---------------------------------------------------------------------------------- */

int ld_lesson_list(const char *dir, FILE *out)
{
	char **paths;
	size_t n;
	struct ld_err err = {{0}};
	if (ls_list_dir(dir, &paths, &n, &err) != LD_OK) {
		fprintf(stderr, "llamadbg: %s\n", err.msg);
		return 1;
	}
	int rc = 0;
	fprintf(out, "Lessons (llamadbg lesson N opens one on the demo model):\n\n");
	for (size_t i = 0; i < n; i++) {
		struct ls_lesson L;
		if (ls_load(&L, paths[i], &err) != LD_OK) {
			fprintf(stderr, "llamadbg: %s\n", err.msg);
			rc = 1;
			continue;
		}
		struct ls_progress p;
		ls_progress_get(NULL, L.name, &p);
		char prog[64] = "";
		if (p.done)
			snprintf(prog, sizeof prog, "[done]");
		else if (p.step > 0 || p.passed)
			snprintf(prog, sizeof prog, "[step %zu/%zu]", p.step + 1, L.n_steps);
		fprintf(out, "%3zu  %-22s %-8s %s\n     %s\n", i + 1, L.name, prog, L.title, L.summary);
		ls_free(&L);
	}
	if (n == 0)
		fprintf(out, "  (no lessons in %s)\n", dir);
	ls_list_free(paths, n);
	return rc;
}

char *ld_lesson_find(const char *dir, const char *which)
{
	char **paths;
	size_t n;
	struct ld_err err = {{0}};
	if (ls_list_dir(dir, &paths, &n, &err) != LD_OK) {
		fprintf(stderr, "llamadbg: %s\n", err.msg);
		return NULL;
	}
	long i = ls_pick(paths, n, which);
	char *p = i >= 0 ? strdup(paths[i]) : NULL;
	if (i < 0)
		fprintf(stderr, "llamadbg: lesson \"%s\": no such lesson in %s (`llamadbg lesson` lists them)\n", which,
		        dir);
	ls_list_free(paths, n);
	return p;
}
