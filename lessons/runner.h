/* runner.h - a lesson in the viewer: the text pane beside the live tensor
 * view. The runner's state is plain data; lr_key() feeds it a key, and
 * lr_draw() draws a frame from it (const), so tests can drive both
 * headless. Only ld_lesson_run() owns the terminal. */
#ifndef LS_RUNNER_H
#define LS_RUNNER_H

#include <curses.h>

#include "lesson.h"
#include "vw_draw.h"
#include "vw_state.h"

#define LR_ANSWER 64
#define LR_FEEDBACK 512

struct lr_state {
	const struct ls_lesson *L;
	const char *progress_path;    /* NULL: $XDG_STATE_HOME/llamadbg/lessons */
	struct ls_progress prog;      /* saved on every change */
	size_t step;                  /* the step on screen */
	int answering;                /* 1: keys go to the answer line */
	char answer[LR_ANSWER];
	char feedback[LR_FEEDBACK];   /* "Right: ...", "Not ...: hint", save errors */
	int fb_bad;                   /* the feedback is a wrong answer or an error */
	int scroll;                   /* prose lines scrolled off the pane's top (e / y) */
};

/* Start (or resume from saved progress) and focus the view on the step. */
void lr_init(struct lr_state *r, const struct ls_lesson *L, const char *progress_path, struct vw_state *s,
             const struct ld_trace *tr);

/* One key: lesson keys (the VW_KM_LESSON bindings), the answer line, or
 * else the viewer's own keys. Returns vw_apply-style flags. */
unsigned lr_key(struct lr_state *r, struct vw_state *s, const struct ld_trace *tr, int ch);

/* Width of the text pane for a terminal cols wide, beside the viewer. */
int lr_pane_width(int cols);

/* A frame's layout: the lesson pane at the top left, pane_lines x
 * pane_cols (0 x 0: too small, the viewer's small-terminal message shows),
 * and the viewer at (vy, vx), vlines x vcols (0 lines: not shown). */
struct lr_layout {
	int pane_lines, pane_cols;
	int vy, vx, vlines, vcols;
};
struct lr_layout lr_layout(int lines, int cols);

/* A whole frame into w, laid out by lr_layout: the text pane and the viewer. */
void lr_draw(WINDOW *w, const struct lr_state *r, const struct vw_state *s, const struct ld_trace *tr,
             const struct vw_ui *ui, struct vw_view *out);

#endif
