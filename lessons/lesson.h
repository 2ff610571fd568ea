/* lesson.h - guided lessons: the file format, the checks, the progress.
 *
 * No curses here: parsing a lesson, checking it against a trace and
 * computing a checkpoint's expected answer are plain functions the runner
 * (lessons/runner.c), `llamadbg lesson` and the tests share. The format is
 * documented in lessons/FORMAT.md.
 *
 * Answers are never written in a lesson file: a check names WHAT to
 * compute ("the shape of layers.0.q", "the key head 2 of layer 2 attends
 * to most from the last token") and ls_expect() computes it from the live
 * trace and its config, so a lesson stays right for any model and prompt.
 */
#ifndef LS_LESSON_H
#define LS_LESSON_H

#include <stddef.h>

#include "status.h"
#include "trace.h"

#define LS_MAX_ARGS 4
#define LS_ARG_LEN 96

/* The kinds of checkpoint; the table in lesson.c gives each its argument
 * count and its description (FORMAT.md lists them). */
enum ls_check_kind {
	LS_CK_NONE = 0,
	LS_CK_SHAPE,        /* shape POINT                 -> "17x8x16" */
	LS_CK_CONFIG,       /* config FIELD                -> a config number */
	LS_CK_HEADS_PER_KV, /* heads_per_kv                -> n_heads / n_kv_heads */
	LS_CK_KV_HEAD_OF,   /* kv_head_of HEAD             -> the KV head query head HEAD reads */
	LS_CK_N_TOKENS,     /* n_tokens                    -> tokens in the prompt pass */
	LS_CK_TOKEN_ID,     /* token_id POS                -> the id at a prompt position */
	LS_CK_ARGMAX_KEY,   /* argmax_key PROBS HEAD QUERY -> key position (or its token) */
	LS_CK_ARGMAX_TOKEN, /* argmax_token LOGITS POS     -> the most likely next token */
	LS_CK_RMS,          /* rms RMS_POINT POS           -> a row's RMSNorm scale (2%) */
	LS_CK_MASKED,       /* masked SCORES HEAD          -> how many -inf the mask wrote */
	LS_CK_WEIGHT_SHAPE, /* weight_shape NAME           -> "out x in" of a weight matrix */
	LS_CK_FFN_HIDDEN,   /* ffn_hidden MULTIPLE_OF MULT -> Meta's FFN width for this dim */
	LS_CK_ROPE_PAIRS,   /* rope_pairs                  -> rotated pairs per head */
	LS_CK_WEIGHT_TYPE,  /* weight_type NAME            -> how the model stored a matrix: "Q5_0" */
	LS_CK_ARGMIN,       /* argmin POINT                -> where a point is smallest: "layers.0.head.7" */
	LS_CK_COUNT
};

struct ls_check {
	enum ls_check_kind kind;
	int nargs;
	char arg[LS_MAX_ARGS][LS_ARG_LEN];
	int line;                  /* where it is written */
};

/* How the view moves when a step opens. */
struct ls_focus {
	int on;                    /* 0: the step leaves the view alone */
	char point[LS_ARG_LEN];    /* a trace point, e.g. "layers.2.probs" */
	long head, token, key;     /* -1: leave; token LS_LAST: the last position */
	int view;                  /* -1: not given (the runner shows the grid); else an
	                              enum vw_mode value (grid, heat, ...) */
	int line;
};
#define LS_LAST (-2L)

struct ls_step {
	char *title;
	char *text;                /* prose, lines joined with '\n' */
	struct ls_focus focus;
	struct ls_check check;     /* kind NONE: no checkpoint */
	char *hint;                /* shown after a wrong answer (required with a check) */
	int line;                  /* the "==" line */
};

struct ls_lesson {
	char *path;                /* as given, used in every error */
	char *name;                /* file name without directory and ".txt", e.g. "01-glance" */
	char *title, *summary;
	char *model;               /* "model: PATH" (relative to the source tree, e.g.
	                              data/demo/model-q4_k_m.gguf), NULL: the demo model */
	struct ls_step *steps;
	size_t n_steps;
};

/* Parse a lesson from text; path names the file in errors, which read
 * "lessons/03-x.txt:12: what is wrong". ls_free accepts a zeroed lesson. */
enum ld_status ls_parse(struct ls_lesson *L, const char *path, const char *text, size_t len,
                        struct ld_err *err);
enum ld_status ls_load(struct ls_lesson *L, const char *path, struct ld_err *err);
void ls_free(struct ls_lesson *L);

/* Every focus names a point in tr and every check is computable on it
 * (the first problem, with file:line, in err). */
enum ld_status ls_validate(const struct ls_lesson *L, const struct ld_trace *tr, struct ld_err *err);

/* A computed answer. */
struct ls_expect {
	enum { LS_ANS_INTS, LS_ANS_REAL, LS_ANS_TOKEN, LS_ANS_WORD } type;
	long ints[LD_MAX_DIMS + 1]; /* INTS: the numbers; TOKEN: ints[0] the id or position */
	int n;
	double real;                /* REAL */
	char text[96];              /* TOKEN: the token's text, "" if unknown; WORD: the word
	                               (and, when n > 0, ints: the same as numbers, "0 7") */
	char show[160];             /* the answer as the runner prints it */
};

/* Compute a check's answer on tr. Errors (a point missing, an index out
 * of range) name the lesson file and line. */
enum ld_status ls_expect(const struct ls_lesson *L, const struct ls_check *c, const struct ld_trace *tr,
                         struct ls_expect *e, struct ld_err *err);

/* Does what the learner typed match? Numbers: the same integers in order
 * ("17x8x16", "[17, 8, 16]"); reals: within 2%; tokens: the text (spaces
 * and quotes around it ignored) or the id / position; words: the word, in
 * any case ("q5_0" is "Q5_0"). */
int ls_answer_ok(const struct ls_expect *e, const char *typed);

/* 1 if a focus or a check of L names a point starting with prefix
 * ("ablation.": the lesson needs the ablation sweep in its trace). */
int ls_mentions(const struct ls_lesson *L, const char *prefix);

/* Name and one-line description of a check kind (for FORMAT.md and errors). */
const char *ls_check_name(enum ls_check_kind k);

/* ---- the lessons directory ---- */

/* The *.txt files of dir, sorted by name (malloc'd array of malloc'd paths). */
enum ld_status ls_list_dir(const char *dir, char ***paths, size_t *n, struct ld_err *err);
void ls_list_free(char **paths, size_t n);

/* Pick a lesson by number (1-based, in sorted order) or by name (exact,
 * or the part after "NN-", or a unique prefix). Returns the index or -1. */
long ls_pick(char *const *paths, size_t n, const char *which);

/* ---- progress, one line per lesson: "NAME STEP DONE PASSED" ---- */

struct ls_progress {
	char name[64];
	size_t step;               /* the step to resume at (0-based) */
	int done;                  /* every step seen to the end */
	unsigned long passed;      /* bit i: step i's check was answered right */
};

/* $XDG_STATE_HOME/llamadbg/lessons, or ~/.local/state/llamadbg/lessons. */
int ls_progress_path(char *buf, size_t size);
/* Read one lesson's progress (zeroed when none). path NULL: the default. */
void ls_progress_get(const char *path, const char *name, struct ls_progress *p);
/* Replace one lesson's line, atomically (directories created). */
enum ld_status ls_progress_put(const char *path, const struct ls_progress *p, struct ld_err *err);

#endif
