/* main.c - llamadbg: one binary, git-style subcommands.
 *
 * The table below is the only list of commands: dispatch and
 * `llamadbg --help` both read it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"trace", ld_cmd_trace, "run a model on a prompt and save every intermediate tensor"},
	{"view", ld_cmd_view, "step through a trace (or trace a model first) in the terminal"},
	{"diff", ld_cmd_diff, "compare two traces point by point and name the first that diverges"},
	{"ls", ld_cmd_ls, "list a trace's tensors with shapes and statistics"},
	{"dump", ld_cmd_dump, "write tensors of a trace to .npy, .csv or .txt files"},
	{"info", ld_cmd_info, "describe a model directory: format, config, parameters, memory"},
	{"ls-model", ld_cmd_info, "the same as info"},
	{"tokenize", ld_cmd_tokenize, "show how a model's tokenizer splits a text"},
	{"lesson", ld_cmd_lesson, "guided lessons on the demo model's live tensors (lesson N opens one)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: llamadbg [COMMAND [ARGS]]\n\n"
	           "  (none)     trace the seed prompt on the demo model and open the viewer\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`llamadbg COMMAND --help` describes a command; `--` ends a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return ld_cli_run_default();
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
