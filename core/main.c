/* main.c - llamadbg: one binary, git-style subcommands. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tokenizer.h"
#include "util.h"
#include "viewer.h"

/* The seed articles' prompt: 17 tokens with Llama 3's tokenizer. */
#define DEFAULT_PROMPT "the answer to the ultimate question of life, the universe, and everything is "

static const char view_usage[] =
	"usage: llamadbg view TRACE_FILE\n"
	"       llamadbg view -m MODEL_DIR (-p TEXT | -p - | -f FILE | -t ID,...) [-n N] [--only GLOB]...\n";

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

static int cmd_view(int argc, char **argv)
{
	int from_model = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-m") == 0 || strncmp(argv[i], "--model", 7) == 0)
			from_model = 1;
	if (!from_model)
		return ld_cmd_view(argc, argv);
	struct ld_trace_request rq;
	int rc = ld_cli_trace_args(argc, argv, &rq, view_usage);
	if (rc == 0)
		rc = view_request(&rq);
	free(rq.only);
	return rc < 0 ? 0 : rc;
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

/* `llamadbg` alone: the demo model on the seed prompt, in the viewer. */
static int run_default(void)
{
	char *demo = find_demo();
	if (!demo)
		return ld_cli_error("data/demo: the demo model was not found (run from the source tree, "
		                    "or use `llamadbg view -m MODEL_DIR -p TEXT`)");
	const char *only[1] = {0};
	struct ld_trace_request rq = {.model_dir = demo, .prompt = DEFAULT_PROMPT, .n_generate = 3,
	                              .only = only};
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

/* `llamadbg lesson [N|NAME]`: list, or open one on the seed prompt's trace. */
static int cmd_lesson(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		FILE *f = argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
		fprintf(f, "usage: llamadbg lesson          list the lessons and your progress\n"
		           "       llamadbg lesson N|NAME   open one on the demo model's seed-prompt trace\n"
		           "Progress is kept in $XDG_STATE_HOME/llamadbg/lessons (default ~/.local/state).\n");
		return f == stdout ? 0 : 1;
	}
	char *dir = find_lessons();
	if (!dir)
		return ld_cli_error("lessons: the lessons directory was not found (run from the source tree)");
	if (argc == 1) {
		int rc = ld_lesson_list(dir, stdout);
		free(dir);
		return rc;
	}
	char *path = ld_lesson_find(dir, argv[1]);
	free(dir);
	if (!path)
		return 1;
	char *demo = find_demo();
	if (!demo) {
		free(path);
		return ld_cli_error("data/demo: the demo model was not found (run from the source tree)");
	}
	const char *only[1] = {0};
	struct ld_trace_request rq = {.model_dir = demo, .prompt = DEFAULT_PROMPT, .n_generate = 3,
	                              .only = only};
	struct ld_trace tr;
	int rc = ld_cli_trace_run(&rq, &tr);
	if (rc == 0) {
		struct ld_err err = {{0}};
		if (ld_lesson_run(&tr, path, NULL, &err) != LD_OK)
			rc = ld_cli_error("%s", err.msg);
		ld_trace_free(&tr);
	}
	free(demo);
	free(path);
	return rc;
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"trace", ld_cmd_trace, "run a model on a prompt and save every intermediate tensor"},
	{"view", cmd_view, "step through a trace (or trace a model first) in the terminal"},
	{"ls", ld_cmd_ls, "list a trace's tensors with shapes and statistics"},
	{"dump", ld_cmd_dump, "write tensors of a trace to .npy, .csv or .txt files"},
	{"info", ld_cmd_info, "describe a model directory: format, config, parameters, memory"},
	{"ls-model", ld_cmd_info, "the same as info"},
	{"tokenize", ld_cmd_tokenize, "show how a model's tokenizer splits a text"},
	{"lesson", cmd_lesson, "guided lessons on the demo model's live tensors (lesson N opens one)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: llamadbg [COMMAND [ARGS]]\n\n"
	           "  (none)     trace the seed prompt on the demo model and open the viewer\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`llamadbg COMMAND --help` describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return run_default();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "llamadbg: unknown command \"%s\" (see llamadbg --help)\n", argv[1]);
	return 1;
}
