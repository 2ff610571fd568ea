/* viewer.h - the ncurses viewer's entry points. The command line
 * (viewer/cli/) opens a trace, saved, synthetic or traced from a model,
 * and calls ld_view_trace() or ld_view_bench() on it.
 */
#ifndef LD_VIEWER_H
#define LD_VIEWER_H

#include <stdio.h>

#include "status.h"
#include "trace.h"

/* Run the viewer on a trace until the user quits. Needs stdin and stdout
 * to be a terminal (else LD_ERR_USAGE with one clear line in err). The
 * terminal is restored on every way out, crashes included. */
enum ld_status ld_view_trace(struct ld_trace *tr, struct ld_err *err);

/* The viewer on two traces (core/diff.c compares them with o): the points
 * both have with equal shapes; w switches between A, B and A-B; the point
 * list shows each point's relative error and marks the first divergence,
 * where the view starts. */
struct ld_diff_opts;
enum ld_status ld_view_diff(const struct ld_trace *a, const struct ld_trace *b, const char *label_a,
                            const char *label_b, const struct ld_diff_opts *o, struct ld_err *err);

/* Guided lessons (lessons/): open one lesson file on a trace, in the
 * terminal, resuming and saving progress at progress_path (NULL: under
 * $XDG_STATE_HOME/llamadbg/). A malformed lesson, or one whose points the
 * trace lacks, fails with "lessons/03-x.txt:12: what is wrong". */
enum ld_status ld_lesson_run(struct ld_trace *tr, const char *lesson_path, const char *progress_path,
                             struct ld_err *err);

/* Print the lessons of dir, one a line: number, name, title, summary and
 * progress. Returns the exit status (errors on stderr). */
int ld_lesson_list(const char *dir, FILE *out);

/* The lesson of dir picked by number or name (malloc'd path), or NULL
 * after printing one error line. */
char *ld_lesson_find(const char *dir, const char *which);

/* Replay keys (one character each; the binding table's letters) against a
 * headless lines x cols screen; write "frames N median X ms worst Y ms" to
 * report. NULL keys: a default tour of the trace. */
enum ld_status ld_view_bench(struct ld_trace *tr, const char *keys, int lines, int cols, FILE *report,
                             struct ld_err *err);

/* A synthetic trace with every catalogue point, shaped like a model:
 * random values, a real causal mask and softmax, token strings. For tests,
 * the benchmark and trying the viewer without a model. */
struct vw_synth {
	int n_layers, dim, n_heads, n_kv_heads, head_dim, ffn_dim, vocab;
	int n_tokens;   /* prompt length */
	int n_steps;    /* decode steps recorded after the prompt */
	unsigned seed;
	int nan_layer;  /* put one NaN into layers.{nan_layer}.ffn_act; -1: none */
};
/* Presets: "tiny" (2 layers, 4 heads on 2 KV heads, 6 tokens, 2 decode
 * steps), "small" (2 layers, 8 heads on 2, the seed prompt's 17 tokens, 1
 * decode step), "8b" (Llama 3 8B shapes, 17 tokens, about 160 MB).
 * Returns 0, or -1 for an unknown name. */
int vw_synth_preset(struct vw_synth *o, const char *name);
enum ld_status vw_synth_trace(struct ld_trace *tr, const struct vw_synth *o, struct ld_err *err);

#endif
