/* main.c - llamadbg: one binary, git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
	{"trace", ld_cmd_trace, "run a model on tokens and save every intermediate tensor"},
	{"ls", ld_cmd_ls, "list a trace's tensors with shapes and statistics"},
	{"dump", ld_cmd_dump, "write tensors of a trace to .npy, .csv or .txt files"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: llamadbg COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`llamadbg COMMAND --help` describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
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
