/* cli.h — the `pier` command line (every subcommand but the server-side ones):
 * a client of pier's HTTP API. main.c hands it argv after the program name. */
#ifndef PIER_CLI_CLI_H
#define PIER_CLI_CLI_H

#include <stdio.h>

/* argv[0] is the command ("collections", "run", "help", ...). Returns the
 * process exit status: 0 ok, 1 run failed / refused, 2 usage, 3 auth,
 * 4 not found, 5 server or connection failure. */
int pier_cli_main(int argc, char **argv);

/* The client commands with one-line summaries, for `pier help`. */
void pier_cli_usage(FILE *f);

#endif
