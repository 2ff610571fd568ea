/* vw_state.h - the viewer as a pure state machine (no curses).
 *
 * Everything the screen shows is a function of (state, trace, terminal
 * size). A key becomes an action (vw_keys.h); vw_apply() turns the action
 * into a new state and returns flags saying what the loop must do next
 * (redraw, quit, write a dump). Tests drive it directly.
 */
#ifndef VW_STATE_H
#define VW_STATE_H

#include <stddef.h>

#include "trace.h"
#include "vw_sources.h"
#include "vw_tensor.h"

enum vw_mode {
	VW_MODE_GRID = 0,  /* numbers over two axes */
	VW_MODE_HEAT,      /* the same 2-D slice as a heatmap */
	VW_MODE_OVERVIEW,  /* every head of the layer side by side */
	VW_MODE_SOURCE,    /* the core/ lines that recorded the tensor */
	VW_MODE_LENS,      /* logit lens: every layer's top guess at every position */
	VW_MODE_HELP,      /* keys (from the binding table) and the point's doc */
	VW_MODE_COUNT
};

/* Colour schemes for pictures; AUTO takes the best the terminal has. */
enum vw_palette {
	VW_PAL_AUTO = 0,
	VW_PAL_256,    /* 256-colour ramp */
	VW_PAL_8,      /* 8 colours */
	VW_PAL_SHADE,  /* shaded block glyphs, no colour */
	VW_PAL_ASCII,  /* " .:-=+*#%@" */
	VW_PAL_COUNT
};

#define VW_ACTIONS(X)                                                       \
	X(NONE)                                                             \
	X(QUIT)                                                             \
	X(NEXT_POINT) X(PREV_POINT) X(FIRST_POINT) X(LAST_POINT)            \
	X(NEXT_LAYER) X(PREV_LAYER) X(NEXT_STEP) X(PREV_STEP)               \
	X(NEXT_HEAD) X(PREV_HEAD) X(NEXT_TOKEN) X(PREV_TOKEN)               \
	X(NEXT_FIXED) X(PREV_FIXED)                                         \
	X(SCROLL_DOWN) X(SCROLL_UP) X(PAGE_DOWN) X(PAGE_UP)                 \
	X(SCROLL_RIGHT) X(SCROLL_LEFT) X(COL_FIRST) X(COL_LAST)             \
	X(ROW_FIRST) X(ROW_LAST)                                            \
	X(ROW_AXIS) X(COL_AXIS) X(SWAP_AXES) X(ROW_MAX)                     \
	X(MODE_GRID) X(MODE_HEAT) X(MODE_OVERVIEW) X(MODE_SOURCE) X(HELP)   \
	X(MODE_LENS)                                                        \
	X(CLOSE)                                                            \
	X(HIST_BACK) X(HIST_FWD)                                            \
	X(SEARCH_NEXT) X(SEARCH_PREV)                                       \
	X(GOTO)                                                             \
	X(PROMPT_COMPLETE) X(PROMPT_ENTER) X(PROMPT_CANCEL)                 \
	X(PROMPT_BS) X(PROMPT_KILL)                                         \
	X(DUMP_TENSOR) X(DUMP_SLICE)                                        \
	X(PALETTE) X(REDRAW) X(DIFF_NEXT)                                   \
	X(LESSON_NEXT) X(LESSON_PREV) X(LESSON_FOCUS) X(LESSON_TEXT_DOWN) X(LESSON_TEXT_UP)

enum vw_action {
#define VW_X_ENUM(a) VW_A_##a,
	VW_ACTIONS(VW_X_ENUM)
#undef VW_X_ENUM
	VW_A_COUNT
};

/* vw_apply() result flags. */
enum {
	VW_F_REDRAW = 1u << 0,      /* the screen changed */
	VW_F_QUIT = 1u << 1,        /* leave the loop */
	VW_F_DUMP_TENSOR = 1u << 2, /* the loop should write the current tensor */
	VW_F_DUMP_SLICE = 1u << 3,  /* ... the current 2-D slice */
	VW_F_CLEAR = 1u << 4,       /* repaint from scratch (^L) */
};

#define VW_HIST 256
#define VW_PROMPT 96
#define VW_MSG 256
#define VW_SRC_CACHE 8

/* The 2-D slice on screen: element (r, c) is data[base + r*rstride + c*cstride]. */
struct vw_slice {
	const struct ld_tensor *t;
	long idx;              /* index of t in the trace */
	struct vw_axes ax;
	int row_axis, col_axis;/* col_axis -1: a single column (1-D tensor) */
	size_t fixed[LD_MAX_DIMS]; /* index on every axis that is not shown */
	size_t nrows, ncols;
	size_t base, rstride, cstride;
};

/* `view A --diff B`: three traces with the same points in the same order
 * (those both traces have, with equal shapes), so an index means the same
 * point in each. Built by vw_diff_open (diffview.c). */
enum { VW_DIFF_A = 0, VW_DIFF_B, VW_DIFF_AB, VW_DIFF_N };
struct vw_diff {
	struct ld_trace tr[VW_DIFF_N]; /* A, B (views into the opened traces), A - B */
	const char *label[2];          /* A's and B's file names */
	double *rel;                   /* per point: max|a-b| / max|b| over finite entries */
	unsigned char *differs;        /* per point: past the tolerance (or the mask differs) */
	long first;                    /* index of the first divergence, -1: none */
	size_t n_left_out;             /* points not shown: in one trace only, or shapes differ */
};

struct vw_state {
	size_t cur;               /* index of the current tensor in the trace */
	enum vw_mode mode;
	enum vw_mode back_mode;   /* where help returns to */
	enum vw_palette palette;

	/* the two displayed axes of the current tensor (col -1: 1-D) */
	int row_axis, col_axis;
	/* selections: head (query-head space), token (query position), key, ... */
	size_t sel[VW_SLOT_COUNT];
	size_t row0, col0;        /* scroll offsets of the grid / heatmap */
	size_t src_top;           /* first line shown in the source pane; see src_auto */
	int src_auto;             /* 1: centre the recording line */
	size_t help_top;

	/* what the last frame could show (vw_set_view) */
	size_t view_rows, view_cols;
	size_t page_lines, total_lines;

	/* back/forward history of visited tensor indices */
	size_t hist[VW_HIST];
	size_t hist_len, hist_pos;

	/* goto prompt */
	int prompt_on;
	char prompt[VW_PROMPT];

	/* one-line message for the status line (cleared by the next action) */
	char msg[VW_MSG];
	int msg_err;

	/* per-tensor stats, computed once on first visit */
	struct ld_stats *stats;
	unsigned char *have_stats;
	size_t n;                 /* the trace's tensor count when initialised */

	/* source files read from disk when not embedded */
	struct vw_srcfile src_cache[VW_SRC_CACHE];
	size_t n_src_cache;
	const struct vw_srcfile *src; /* file of the current tensor's src, or NULL */
	long src_line;                /* its 1-based line, 0 if none */

	/* a diff of two traces (NULL: one trace), and which one is on screen */
	const struct vw_diff *diff;
	int diff_which;               /* VW_DIFF_A, _B or _AB */
};

/* 0 on success, -1 if out of memory or the trace is empty. Starts at the
 * first tensor (the prompt's tokens). */
int vw_state_init(struct vw_state *s, const struct ld_trace *tr);

/* Compare a with b (core/diff.c) and keep what the viewer shows of it.
 * label_a/label_b must outlive vd. vw_diff_close accepts a zeroed one. */
struct ld_diff_opts;
enum ld_status vw_diff_open(struct vw_diff *vd, const struct ld_trace *a, const struct ld_trace *b,
                            const char *label_a, const char *label_b, const struct ld_diff_opts *o,
                            struct ld_err *err);
void vw_diff_close(struct vw_diff *vd);

/* The state shows a diff: start on A, at the first divergence if any; the
 * status line says how many points are not shown. */
void vw_state_set_diff(struct vw_state *s, const struct vw_diff *vd);

/* The trace on screen: tr, or in a diff the one diff_which picks. */
const struct ld_trace *vw_shown(const struct vw_state *s, const struct ld_trace *tr);
void vw_state_free(struct vw_state *s);

unsigned vw_apply(struct vw_state *s, const struct ld_trace *tr, enum vw_action a);

/* A printable character typed into the goto prompt. */
unsigned vw_prompt_char(struct vw_state *s, const struct ld_trace *tr, int ch);

/* Show tensor idx as a lesson step asks: its default axes, the given
 * selections (-1 leaves one as it is), and a mode (-1: keep). */
unsigned vw_focus(struct vw_state *s, const struct ld_trace *tr, size_t idx, int mode, long head, long token,
                  long key);

/* Jump to a tensor by index (recorded in history). */
unsigned vw_goto_index(struct vw_state *s, const struct ld_trace *tr, size_t idx);

/* The logit lens cell of a layer in a step: the index of its lens_ids and
 * lens_probs tensors (lens_mid_* if mid), or -1 when the trace lacks them or
 * they are not what a lens is (int32 ids and float32 probs, the same
 * [token, rank] shape, rank >= 1). */
struct vw_lens_cell {
	long ids, probs;
};
struct vw_lens_cell vw_lens_at(const struct ld_trace *tr, int mid, int step, int layer);

/* The top guess of a lens cell at token t: its id (-1 if none) and probability. */
long vw_lens_top(const struct ld_trace *tr, struct vw_lens_cell c, size_t t, double *prob);

/* The lens view's family (1: after attention) for the current point. */
int vw_lens_mid(const struct ld_tensor *t);

/* What the last frame could show, reported by the drawing code so paging
 * and clamping follow the terminal size. */
struct vw_view {
	size_t rows, cols;    /* data cells of the grid / heatmap */
	size_t page_lines;    /* text lines of the source or help pane */
	size_t total_lines;   /* lines the source or help text has */
};
void vw_set_view(struct vw_state *s, const struct ld_trace *tr, const struct vw_view *v);

void vw_set_msg(struct vw_state *s, int is_err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The slice the main pane shows of tensor idx with the current selections
 * (rows/cols from the state when idx is current, else the default axes). */
void vw_slice_of(const struct vw_state *s, const struct ld_trace *tr, size_t idx,
                 struct vw_slice *sl);
static inline double vw_slice_get(const struct vw_slice *sl, size_t r, size_t c)
{
	return vw_get(sl->t, sl->base + r * sl->rstride + c * sl->cstride);
}

/* Is element (r, c) of the slice a -inf the causal mask put there (a key
 * after the query, in a scores tensor)? Any other -inf is a bug to see. */
int vw_slice_masked(const struct vw_slice *sl, size_t r, size_t c);

/* Index on axis d of tensor t given the selections (kv_head from head). */
size_t vw_sel_index(const struct vw_state *s, const struct ld_trace *tr, const struct ld_tensor *t,
                    const struct vw_axes *ax, int d);

/* The tensor the main pane shows: the current one, or in the overview of a
 * tensor without heads, its layer's probs. */
size_t vw_view_target(const struct vw_state *s, const struct ld_trace *tr);

/* Stats of tensor idx if computed (always true for the current tensor). */
const struct ld_stats *vw_stats_of(const struct vw_state *s, size_t idx);

/* Heads in the model (cfg, else the current tensor's head axis), and the
 * number of query heads per KV head. */
size_t vw_n_heads(const struct ld_trace *tr, const struct ld_tensor *t);
size_t vw_kv_group(const struct ld_trace *tr);

/* Default displayed axes of a tensor: columns the last axis, rows the
 * first axis that is neither the columns nor a head. */
void vw_default_axes(const struct ld_tensor *t, int *row_axis, int *col_axis);

/* Goto completion: the matches of a typed name (absolute, else relative to
 * the current layer/step). Returns the count; fills up to max indices. */
size_t vw_complete(const struct vw_state *s, const struct ld_trace *tr, const char *text,
                   size_t *out, size_t max);

const char *vw_action_name(enum vw_action a);

#endif
