/* view.c - the viewer's loop: the only place that owns the terminal.
 *
 * key -> action (binding table) -> vw_apply (state) -> side effects the
 * flags ask for (dumps) -> draw (const state) -> one doupdate().
 *
 * The terminal comes back on every way out: the normal return, exit()
 * anywhere (atexit), and crashes (a handler that calls endwin and re-raises).
 * Resize arrives as KEY_RESIZE from ncurses' own SIGWINCH handling; nothing
 * is drawn from a signal handler.
 */
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "viewer.h"
#include "vw_draw.h"
#include "vw_dump.h"
#include "vw_keys.h"
#include "vw_state.h"

/* Whether endwin() is still owed. Process-wide by nature: atexit and
 * signal handlers cannot be given a context. */
static volatile sig_atomic_t term_active;

static void restore_terminal(void)
{
	if (term_active) {
		term_active = 0;
		endwin();
	}
}

static const int crash_signals[VW_N_CRASH] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define N_CRASH VW_N_CRASH

static void on_crash(int sig)
{
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One frame: draw, tell the state what fitted, push it out. */
static void frame(struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui)
{
	struct vw_view v;
	vw_draw(stdscr, s, tr, ui, &v);
	vw_set_view(s, tr, &v);
	doupdate();
}

/* Feed one key; returns the flags. Dumps happen here: the state machine
 * only asks for them. */
static unsigned handle_key(struct vw_state *s, const struct ld_trace *tr, int ch)
{
	enum vw_action a = vw_key_action(s->prompt_on, ch);
	unsigned f;
	if (a == VW_A_NONE && s->prompt_on)
		f = vw_prompt_char(s, tr, ch);
	else
		f = vw_apply(s, tr, a);
	if (f & (VW_F_DUMP_TENSOR | VW_F_DUMP_SLICE)) {
		char msg[VW_MSG];
		int rc = vw_dump(s, tr, (f & VW_F_DUMP_TENSOR) != 0, ".", msg, sizeof msg);
		vw_set_msg(s, rc != 0, "%s", msg);
	}
	if (f & VW_F_CLEAR)
		clearok(curscr, TRUE);
	return f;
}

enum ld_status vw_term_open(struct vw_term *vt, const char *who, struct ld_err *err)
{
	memset(vt, 0, sizeof *vt);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return ld_fail(err, LD_ERR_USAGE,
		               "%s: standard %s is not a terminal; the viewer needs one "
		               "(in scripts use `llamadbg ls` or `llamadbg dump`)",
		               who, !isatty(STDIN_FILENO) ? "input" : "output");
	const char *term = getenv("TERM");
	if (!term || !*term)
		return ld_fail(err, LD_ERR_USAGE, "%s: TERM is not set; the viewer needs a terminal type", who);
	/* only the character type: numbers keep their C formatting */
	setlocale(LC_CTYPE, "");
	vt->scr = newterm(NULL, stdout, stdin);
	if (!vt->scr)
		return ld_fail(err, LD_ERR_USAGE, "%s: cannot use terminal type \"%s\"", who, term);
	set_term(vt->scr);
	term_active = 1;
	static int registered;
	if (!registered && atexit(restore_terminal) == 0)
		registered = 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_crash;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_CRASH; i++)
		sigaction(crash_signals[i], &sa, &vt->old[i]);

	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	return LD_OK;
}

void vw_term_close(struct vw_term *vt)
{
	if (!vt->scr)
		return;
	restore_terminal();
	delscreen(vt->scr);
	for (size_t i = 0; i < N_CRASH; i++)
		sigaction(crash_signals[i], &vt->old[i], NULL);
	vt->scr = NULL;
}

int vw_read_key(void)
{
	for (int errors = 0; errors < 100; errors++) {
		int ch = wgetch(stdscr);
		if (ch != ERR)
			return ch;
	}
	return -1;
}

/* The loop, on one trace or (vd not NULL) on a diff's three. */
static enum ld_status run(const struct ld_trace *tr, const struct vw_diff *vd, struct ld_err *err)
{
	if (!tr || tr->n == 0)
		return ld_fail(err, LD_ERR_USAGE, "view: the trace has no tensors");
	struct vw_state s;
	struct vw_term vt;
	enum ld_status st = vw_term_open(&vt, "view", err);
	if (st != LD_OK)
		return st;
	if (vw_state_init(&s, tr) != 0) {
		vw_term_close(&vt);
		return ld_fail(err, LD_ERR_NOMEM, "view: out of memory");
	}
	if (vd)
		vw_state_set_diff(&s, vd);
	struct vw_ui ui;
	vw_ui_setup(&ui);

	for (;;) {
		frame(&s, vw_shown(&s, tr), &ui);
		int ch = vw_read_key();
		if (ch < 0)
			break;
		if (ch == KEY_RESIZE)
			continue; /* LINES and COLS are new; the next frame lays out again */
		if (handle_key(&s, vw_shown(&s, tr), ch) & VW_F_QUIT)
			break;
	}

	vw_term_close(&vt);
	vw_state_free(&s);
	return LD_OK;
}

enum ld_status ld_view_trace(struct ld_trace *tr, struct ld_err *err)
{
	return run(tr, NULL, err);
}

enum ld_status ld_view_diff(const struct ld_trace *a, const struct ld_trace *b, const char *label_a,
                            const char *label_b, const struct ld_diff_opts *o, struct ld_err *err)
{
	struct vw_diff vd;
	enum ld_status st = vw_diff_open(&vd, a, b, label_a, label_b, o, err);
	if (st != LD_OK)
		return st;
	st = run(&vd.tr[VW_DIFF_A], &vd, err);
	vw_diff_close(&vd);
	return st;
}

/* ---- frame-time benchmark on a headless screen ------------------------------ */

/* A tour: every point of layer 0, the heatmap and heads, the layers, the
 * source pane, help, then the logits (the widest tensor). */
static const char default_tour[] =
	"jjjjjjjjjjjjjmlllllllooohhhvv"
	"JJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJKKKK"
	"sjjkksvttttTTT??"
	"GM>>>>><<<<<$0mmvv"
	"jkjkjkjkjk";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

enum ld_status ld_view_bench(struct ld_trace *tr, const char *keys, int lines, int cols, FILE *report,
                             struct ld_err *err)
{
	if (!tr || tr->n == 0)
		return ld_fail(err, LD_ERR_USAGE, "bench: the trace has no tensors");
	if (!keys)
		keys = default_tour;
	size_t nk = strlen(keys);
	double *ms = calloc(nk + 1, sizeof *ms);
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	struct vw_state s;
	int have_state = 0;
	SCREEN *scr = NULL;
	enum ld_status st = LD_OK;
	if (!ms || !out || !in) {
		st = ld_fail(err, LD_ERR_IO, "bench: cannot open /dev/null: %s", strerror(errno));
		goto out;
	}
	if (vw_state_init(&s, tr) != 0) {
		st = ld_fail(err, LD_ERR_NOMEM, "bench: out of memory");
		goto out;
	}
	have_state = 1;
	scr = newterm("xterm-256color", out, in);
	if (!scr) {
		st = ld_fail(err, LD_ERR_USAGE, "bench: no terminfo entry for xterm-256color");
		goto out;
	}
	set_term(scr);
	resizeterm(lines, cols);
	struct vw_ui ui;
	vw_ui_setup(&ui);
	double t0 = now_ms();
	frame(&s, tr, &ui);
	double first = now_ms() - t0;
	size_t n = 0;
	for (size_t i = 0; i < nk; i++) {
		t0 = now_ms();
		unsigned f = handle_key(&s, tr, (unsigned char)keys[i]);
		if (f & VW_F_QUIT)
			break;
		frame(&s, tr, &ui);
		ms[n++] = now_ms() - t0;
	}
	endwin();
	qsort(ms, n, sizeof *ms, cmp_double);
	fprintf(report, "frames %zu  median %.3f ms  worst %.3f ms  first %.3f ms  (%dx%d, %zu tensors)\n", n,
	        n ? ms[n / 2] : 0.0, n ? ms[n - 1] : 0.0, first, cols, lines, tr->n);
out:
	if (scr)
		delscreen(scr);
	if (have_state)
		vw_state_free(&s);
	if (out)
		fclose(out);
	if (in)
		fclose(in);
	free(ms);
	return st;
}
