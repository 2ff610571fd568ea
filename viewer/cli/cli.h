/* cli.h - the llamadbg command line: the subcommands and what they share.
 *
 * The front end sits above both the engine (core/) and the viewer: main.c
 * holds the one table of subcommands, the cli_*.c files parse options and
 * print. Each command takes argv with argv[0] the subcommand name and
 * returns the process exit status. Unlike the engine, these print: results
 * on stdout, one error line on stderr. `--` ends the options of every
 * command, so an argument may start with '-'. */
#ifndef LD_CLI_H
#define LD_CLI_H

#include <stddef.h>

#include "trace.h"

int ld_cmd_trace(int argc, char **argv);
int ld_cmd_ls(int argc, char **argv);
int ld_cmd_dump(int argc, char **argv);
int ld_cmd_info(int argc, char **argv);
int ld_cmd_tokenize(int argc, char **argv);
int ld_cmd_view(int argc, char **argv);
int ld_cmd_lesson(int argc, char **argv);
int ld_cmd_diff(int argc, char **argv);

/* --rtol/--atol VALUE: a finite number >= 0. Returns 0, or 2 after one
 * error line naming opt. */
int ld_cli_parse_tol(const char *opt, const char *s, double *v);

/* `llamadbg` alone: the demo model on the seed prompt, in the viewer. */
int ld_cli_run_default(void);

/* Commands that take only --help and positional arguments: parse argv
 * (`--` ends the options). Returns 0 with *first the index of the first
 * positional argument, -1 after printing usage and help (NULL: none) for
 * --help, 1 after one
 * error line for a bad option, or usage for a count outside
 * [min_pos, max_pos]. */
int ld_cli_positional(int argc, char **argv, const char *usage, const char *help, int min_pos, int max_pos,
                      int *first);

struct ld_trace;
/* A sequence classifier's trace: print the class logits at the last token
 * with their label names (nothing for a causal LM). */
void ld_cli_print_classes(const struct ld_trace *tr);

/* What to trace: shared by `trace`, `view -m` and the default run. */
struct ld_trace_request {
	const char *model_dir;   /* -m */
	const char *ids;         /* -t "128000,1820,..." */
	const char *prompt;      /* -p TEXT, or "-" for stdin */
	const char *prompt_file; /* -f FILE */
	int n_generate;          /* -n */
	const char **only;       /* --only GLOB... (malloc'd array, caller frees) */
	size_t n_only;
	int no_bos, allow_special, force;
	int lens_k, lens_mid;    /* --lens[=K], --lens-mid */
	int times;               /* --times: each phase's wall time on stderr */
	int bf16_dot;            /* --bf16-dot: the avx512bf16 matmul kernel (matmul.h) */
	int ablation_sweep;      /* --ablation-sweep (core/ablation.h) */
	const char *out_path;    /* -o (trace only) */
	int to_file;             /* 1: the trace is written to out_path as the pass
	                            records it (trace); 0: held in memory (view, lesson) */
	/* --patch POINT=FILE.npy, --patch-from TRACE:POINT, --ablate WHAT, in
	 * the order given: kind 'p', 'f' or 'a' and the argument */
	char *patch_kind;        /* malloc'd, like only */
	const char **patch_arg;
	size_t n_patch;
};

/* Free what ld_cli_trace_args allocated. */
void ld_cli_trace_request_free(struct ld_trace_request *rq);
/* --times: seconds since the previous call (the first call starts the
 * clock), printed as "time: PHASE 0.123 s" on stderr when rq->times. */
void ld_cli_phase(const struct ld_trace_request *rq, const char *phase);

/* Parse trace options (argv[0] is the command). Returns 0 to go on, -1
 * after printing --help, 1 after printing usage or an error. */
int ld_cli_trace_args(int argc, char **argv, struct ld_trace_request *rq, const char *usage);

/* Load, tokenize and run: fills tr (ld_trace_free it). Prints one error
 * line and returns 1 on failure. */
int ld_cli_trace_run(const struct ld_trace_request *rq, struct ld_trace *tr);

/* s as valid UTF-8 text: invalid bytes become \xNN (malloc'd). */
char *ld_cli_printable(const char *s, size_t n);

/* Print "llamadbg: <msg>" on stderr; returns 1 (the exit status). */
int ld_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
