/* vw_draw.h - drawing one frame of the viewer.
 *
 * Drawing reads the state (const) and the trace and only draws: into a
 * window, finished with wnoutrefresh(); the loop calls doupdate() once per
 * frame. Nothing here reads keys or owns the terminal.
 */
#ifndef VW_DRAW_H
#define VW_DRAW_H

#include <curses.h>
#include <signal.h>

#include "status.h"

#include "vw_state.h"

#define VW_MIN_COLS 40
#define VW_MIN_LINES 12

/* What the terminal can show, decided once after newterm(). */
struct vw_ui {
	int colors; /* 0: monochrome (no colours or NO_COLOR set), 8 or 256 */
	int utf8;   /* the locale is UTF-8: block glyphs and the middle dot */
};

/* Start colours from the colour table unless NO_COLOR is set or the
 * terminal has none; find out whether glyphs can be shown. */
void vw_ui_setup(struct vw_ui *ui);

/* Draw a whole frame into w and report what fitted (for paging). */
void vw_draw(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
             struct vw_view *out);

/* The palette a picture uses: the state's choice, within what ui has. */
enum vw_palette vw_effective_palette(const struct vw_state *s, const struct vw_ui *ui);

/* The text of the status line's left part ("L3 scores  h2/8  t5 ...'"). */
void vw_status_where(const struct vw_state *s, const struct ld_trace *tr, char *buf, size_t size);

/* The terminal, owned by a loop (view.c, lessons/runner.c): newterm on
 * stdin/stdout with cbreak and keypad, endwin on every way out (atexit and
 * crash signals too). vw_term_close accepts a zeroed one. */
#define VW_N_CRASH 5
struct vw_term {
	SCREEN *scr;
	struct sigaction old[VW_N_CRASH];
};
enum ld_status vw_term_open(struct vw_term *vt, const char *who, struct ld_err *err);
void vw_term_close(struct vw_term *vt);

/* The next key, waiting for one; KEY_RESIZE comes as a key (lay out
 * again). -1 when stdin is gone: a hangup gives ERR forever, and the
 * loop must end rather than spin. */
int vw_read_key(void);

#endif
