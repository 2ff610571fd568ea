/* cli_view.c - `llamadbg view`, `llamadbg lesson` and `llamadbg` alone:
 * the commands that open the terminal viewer, on a saved trace, a
 * synthetic one, or a model traced first. */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diff.h"
#include "lesson.h"
#include "util.h"
#include "viewer.h"

/* The seed articles' prompt: 17 tokens with Llama 3's tokenizer. */
#define DEFAULT_PROMPT "the answer to the ultimate question of life, the universe, and everything is "

static const char view_usage[] =
	"usage: llamadbg view TRACE_FILE [--diff OTHER_TRACE [--rtol R] [--atol A]]\n"
	"       llamadbg view -m MODEL_DIR (-p TEXT | -p - | -f FILE | -t ID,...) [-n N] [--only GLOB]...\n"
	"                     [--lens[=K]] [--lens-mid] [--bf16-dot]\n"
	"                     [--patch POINT=FILE.npy | --patch-from TRACE:POINT | --ablate WHAT]... (see trace --help)\n"
	"       llamadbg view --synth tiny|small|8b\n"
	"       llamadbg view --bench [--keys KEYS] [--size LINESxCOLS] TRACE_FILE|--synth NAME\n";

/* Trace in memory, then step through it. */
static int view_request(const struct ld_trace_request *rq)
{
	struct ld_trace tr;
	struct ld_err err = {{0}};
	if (ld_cli_trace_run(rq, &tr) != 0)
		return 1;
	enum ld_status st = ld_view_trace(&tr, &err);
	ld_trace_free(&tr);
	return st == LD_OK ? 0 : ld_cli_error("%s", err.msg);
}

/* `view -m DIR ...`: the trace options, then the viewer. */
static int view_model(int argc, char **argv)
{
	struct ld_trace_request rq;
	int rc = ld_cli_trace_args(argc, argv, &rq, view_usage);
	if (rc == 0)
		rc = view_request(&rq);
	ld_cli_trace_request_free(&rq);
	return rc < 0 ? 0 : rc;
}

/* Options of the saved-trace form. */
struct view_args {
	const char *file, *synth, *keys;
	const char *diff;          /* --diff: the second trace (B) */
	double rtol, atol;         /* its tolerance, as in `llamadbg diff` */
	int bench, lines, cols;
};

/* Returns 0 to go on, -1 after --help, 2 after a usage error. */
static int view_parse(int argc, char **argv, struct view_args *a)
{
	static const struct option opts[] = {
		{"bench", no_argument, 0, 'b'}, {"synth", required_argument, 0, 's'},
		{"keys", required_argument, 0, 'k'}, {"size", required_argument, 0, 'z'},
		{"diff", required_argument, 0, 'd'}, {"rtol", required_argument, 0, 'r'},
		{"atol", required_argument, 0, 'a'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	*a = (struct view_args){.lines = 24, .cols = 80, .rtol = 1e-4};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': a->bench = 1; break;
		case 's': a->synth = optarg; break;
		case 'k': a->keys = optarg; break;
		case 'd': a->diff = optarg; break;
		case 'r':
		case 'a':
			if (ld_cli_parse_tol(c == 'r' ? "view --rtol" : "view --atol", optarg, c == 'r' ? &a->rtol : &a->atol))
				return 2;
			break;
		case 'z':
			if (sscanf(optarg, "%dx%d", &a->lines, &a->cols) != 2 || a->lines < 1 || a->cols < 1 ||
			    a->lines > 1000 || a->cols > 1000) {
				fprintf(stderr, "llamadbg: view --size: \"%s\" is not LINESxCOLS (e.g. 48x160)\n", optarg);
				return 2;
			}
			break;
		case 'h': fputs(view_usage, stdout); return -1;
		default:
			fprintf(stderr, "llamadbg: view: unknown option or missing value \"%s\"\n%s",
			        argv[optind - 1], view_usage);
			return 2;
		}
	}
	opterr = 1;
	if (optind < argc)
		a->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "llamadbg: view: one trace file, not \"%s\" too\n%s", argv[optind], view_usage);
		return 2;
	}
	if (!a->file == !a->synth) {
		fputs(view_usage, stderr);
		return 2;
	}
	if (a->diff && (!a->file || a->bench)) {
		fprintf(stderr, "llamadbg: view --diff: compares two trace files (view A --diff B)\n");
		return 2;
	}
	return 0;
}

/* `view A --diff B`: both opened, compared, shown side by side. */
static int view_diff(const struct view_args *a)
{
	struct ld_trace ta, tb;
	struct ld_err err = {""};
	struct ld_diff_opts o = {.rtol = a->rtol, .atol = a->atol};
	int rc = 1;
	ld_trace_init(&ta);
	ld_trace_init(&tb);
	if (ld_trace_open(&ta, a->file, &err) != LD_OK || ld_trace_open(&tb, a->diff, &err) != LD_OK)
		ld_cli_error("%s", err.msg);
	else if (ld_view_diff(&ta, &tb, a->file, a->diff, &o, &err) != LD_OK)
		ld_cli_error("%s", err.msg);
	else
		rc = 0;
	ld_trace_free(&ta);
	ld_trace_free(&tb);
	return rc;
}

int ld_cmd_view(int argc, char **argv)
{
	/* -m (before any `--`) means trace a model first. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-m") == 0 || strncmp(argv[i], "--model", 7) == 0)
			return view_model(argc, argv);
	struct view_args a;
	int rc = view_parse(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (a.diff)
		return view_diff(&a);

	struct ld_trace tr;
	struct ld_err err = {""};
	enum ld_status st;
	ld_trace_init(&tr);
	if (a.synth) {
		struct vw_synth o;
		if (vw_synth_preset(&o, a.synth) != 0) {
			fprintf(stderr, "llamadbg: view --synth: \"%s\" is not a preset (tiny, small or 8b)\n", a.synth);
			return 2;
		}
		st = vw_synth_trace(&tr, &o, &err);
	} else {
		st = ld_trace_open(&tr, a.file, &err);
	}
	if (st != LD_OK)
		return ld_cli_error("%s", err.msg);
	if (a.bench)
		st = ld_view_bench(&tr, a.keys, a.lines, a.cols, stdout, &err);
	else
		st = ld_view_trace(&tr, &err);
	ld_trace_free(&tr);
	return st == LD_OK ? 0 : ld_cli_error("%s", err.msg);
}

/* A bundled directory: `here` relative to the working directory if probe
 * (a file inside it) exists there, else relative to the binary
 * (build/llamadbg -> ../here, an install's ../share/llamadbg/NAME). */
static char *find_bundled(const char *here, const char *installed, const char *probe)
{
	char path[PATH_MAX + 64], exe[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", here, probe);
	if (ld_path_exists(path))
		return strdup(here);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	const char *dir = dirname(exe);
	const char *tries[] = {here, installed};
	for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
		snprintf(path, sizeof path, "%s/../%s/%s", dir, tries[i], probe);
		if (ld_path_exists(path)) {
			snprintf(path, sizeof path, "%s/../%s", dir, tries[i]);
			return strdup(path);
		}
	}
	return NULL;
}

static char *find_demo(void)
{
	return find_bundled("data/demo", "share/llamadbg/demo", "config.json");
}

int ld_cli_run_default(void)
{
	char *demo = find_demo();
	if (!demo)
		return ld_cli_error("data/demo: the demo model was not found (run from the source tree, "
		                    "or use `llamadbg view -m MODEL_DIR -p TEXT`)");
	const char *only[1] = {0};
	/* with the logit lens: `i` shows each layer's guess (a few kB more) */
	struct ld_trace_request rq = {.model_dir = demo, .prompt = DEFAULT_PROMPT, .n_generate = 3,
	                              .only = only, .lens_k = 5};
	int rc = view_request(&rq);
	free(demo);
	return rc;
}

static char *find_lessons(void)
{
	const char *env = getenv("LLAMADBG_LESSONS");
	if (env && *env)
		return strdup(env);
	return find_bundled("lessons", "share/llamadbg/lessons", "01-glance.txt");
}

/* The model a lesson runs on when no -m is given: its "model:" line
 * (a path in the source tree: lessons_dir/../PATH, or the bundled demo
 * directory for data/demo/...), else the demo model. NULL after printing
 * why. */
static char *find_lesson_model(const char *lessons_dir, const char *lesson_path)
{
	struct ls_lesson L = {0};
	struct ld_err err = {{0}};
	if (ls_load(&L, lesson_path, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		return NULL;
	}
	if (!L.model) {
		ls_free(&L);
		char *demo = find_demo();
		if (!demo)
			ld_cli_error("data/demo: the demo model was not found (run from the source tree)");
		return demo;
	}
	char path[PATH_MAX + 128];
	char *found = NULL;
	snprintf(path, sizeof path, "%s/../%s", lessons_dir, L.model);
	if (ld_path_exists(path)) {
		found = strdup(path);
	} else if (strncmp(L.model, "data/demo/", 10) == 0) {
		char *demo = find_demo();
		if (demo) {
			snprintf(path, sizeof path, "%s/%s", demo, L.model + 10);
			if (ld_path_exists(path))
				found = strdup(path);
			free(demo);
		}
	}
	if (!found)
		ld_cli_error("%s: model %s was not found (run from the source tree, or give -m MODEL)",
		             lesson_path, L.model);
	ls_free(&L);
	return found;
}

/* Does the lesson look at the ablation sweep (ablation.* points)? Then its
 * trace runs one (trace --ablation-sweep). */
static int lesson_wants_sweep(const char *lesson_path)
{
	struct ls_lesson L = {0};
	struct ld_err err = {{0}};
	if (ls_load(&L, lesson_path, &err) != LD_OK)
		return 0; /* the runner reports it */
	int yes = ls_mentions(&L, "ablation.");
	ls_free(&L);
	return yes;
}

static const char lesson_usage[] =
	"usage: llamadbg lesson          list the lessons and your progress\n"
	"       llamadbg lesson N|NAME   open one on the demo model's seed-prompt trace\n"
	"       llamadbg lesson N|NAME -m MODEL [-p TEXT | -f FILE | -t ID,...] [-n N]\n"
	"                                the same on your own model (a directory or a .gguf)\n";
static const char lesson_help[] =
	"With -m the lesson runs on a trace of MODEL (the seed prompt unless -p, -f or -t\n"
	"says otherwise): every checkpoint's answer is computed from that trace, so the\n"
	"questions are the lesson's and the numbers are your model's. A lesson that looks\n"
	"at a layer your model does not have says so.\n"
	"Progress is kept in $XDG_STATE_HOME/llamadbg/lessons (default ~/.local/state).\n";

/* `llamadbg lesson [N|NAME] [-m MODEL ...]`: list, or open one on the seed
 * prompt's trace of the demo model (or of MODEL). */
int ld_cmd_lesson(int argc, char **argv)
{
	/* The lesson's name, then trace options (as `trace` takes them). */
	int name_at = 0, rc;
	for (int i = 1; i < argc && !name_at; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(lesson_usage, stdout);
			fputs(lesson_help, stdout);
			return 0;
		}
		if (argv[i][0] != '-')
			name_at = i;
		else if (strcmp(argv[i], "--") == 0)
			name_at = i + 1 < argc ? i + 1 : 0;
		else if (i == 1)
			break; /* options before the name: let the parser below complain */
	}
	int has_opts = argc > 2 || (argc == 2 && !name_at);
	if (!has_opts) {
		int first;
		rc = ld_cli_positional(argc, argv, lesson_usage, lesson_help, 0, 1, &first);
		if (rc != 0)
			return rc < 0 ? 0 : rc;
	}
	if (has_opts && name_at != 1 && !(name_at == 2 && strcmp(argv[1], "--") == 0)) {
		fputs(lesson_usage, stderr);
		return 1;
	}
	char *dir = find_lessons();
	if (!dir)
		return ld_cli_error("lessons: the lessons directory was not found (run from the source tree)");
	if (!name_at) {
		rc = ld_lesson_list(dir, stdout);
		free(dir);
		return rc;
	}
	char *path = ld_lesson_find(dir, argv[name_at]);
	if (!path) {
		free(dir);
		return 1;
	}
	/* the lesson's own model unless -m says otherwise */
	int has_model = 0;
	for (int i = name_at + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		has_model |= strncmp(argv[i], "--model", 7) == 0 ||
		             (strncmp(argv[i], "-m", 2) == 0 && argv[i][2] != '-');
	char *demo = has_model ? NULL : find_lesson_model(dir, path);
	free(dir);
	if (!has_model && !demo) {
		free(path);
		return 1;
	}

	struct ld_trace_request rq = {0};
	const char *only[1] = {0};
	if (argc > name_at + 1) {
		/* argv without the name: "lesson -m MODEL ..." */
		char **av = calloc((size_t)argc + 5, sizeof *av);
		if (!av) {
			free(path);
			free(demo);
			return ld_cli_error("out of memory");
		}
		int n = 0, has_source = 0;
		av[n++] = argv[0];
		for (int i = name_at + 1; i < argc; i++) {
			has_source |= strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "-t") == 0;
			if (strncmp(argv[i], "-o", 2) == 0 || strncmp(argv[i], "--output", 8) == 0) {
				free(av);
				free(path);
				free(demo);
				return ld_cli_error("lesson: -o is for `trace`; a lesson keeps its trace in memory");
			}
			av[n++] = argv[i];
		}
		if (!has_source) {
			av[n++] = "-p";
			av[n++] = DEFAULT_PROMPT;
		}
		if (demo) {
			av[n++] = "-m";
			av[n++] = demo;
		}
		rc = ld_cli_trace_args(n, av, &rq, lesson_usage);
		free(av);
		if (rc != 0) {
			ld_cli_trace_request_free(&rq);
			free(path);
			free(demo);
			return rc < 0 ? 0 : rc;
		}
		if (!rq.n_generate)
			rq.n_generate = 3;
		if (!rq.lens_k)
			rq.lens_k = 5;
	} else {
		/* with the logit lens: `i` shows each layer's guess (a few kB more) */
		rq = (struct ld_trace_request){.model_dir = demo, .prompt = DEFAULT_PROMPT, .n_generate = 3,
		                               .only = only, .lens_k = 5};
	}
	rq.ablation_sweep = lesson_wants_sweep(path);
	struct ld_trace tr;
	rc = ld_cli_trace_run(&rq, &tr);
	if (rc == 0) {
		struct ld_err err = {{0}};
		if (ld_lesson_run(&tr, path, NULL, &err) != LD_OK)
			rc = ld_cli_error("%s", err.msg);
		ld_trace_free(&tr);
	}
	if (argc > name_at + 1)
		ld_cli_trace_request_free(&rq);
	free(demo);
	free(path);
	return rc;
}
