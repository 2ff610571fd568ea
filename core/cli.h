/* cli.h - the llamadbg subcommands. Each takes argv with argv[0] the
 * subcommand name and returns the process exit status. Unlike the engine,
 * these print: results on stdout, one error line on stderr. */
#ifndef LD_CLI_H
#define LD_CLI_H

int ld_cmd_trace(int argc, char **argv);
int ld_cmd_ls(int argc, char **argv);
int ld_cmd_dump(int argc, char **argv);

/* Print "llamadbg: <msg>" on stderr; returns 1 (the exit status). */
int ld_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
