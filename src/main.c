/* main.c — argv -> subcommand; nothing else. Server-side commands run here;
 * every other word goes to the client CLI (src/cli). */
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"

#define PIER_VERSION "0.1.0"

/* Commands that run in this process rather than talking to a server. Add new
 * ones (bridge, snapshot, agent, ...) here. */
static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} local_cmds[] = {
    {"serve", pier_serve_main, "run the server (pier serve --help)"},
};
#define NLOCAL (sizeof local_cmds / sizeof local_cmds[0])

static void usage(FILE *f) {
  fputs("usage: pier <command> [<verb>] [arguments] [options]\n\nServer:\n", f);
  for (size_t i = 0; i < NLOCAL; i++) fprintf(f, "  %-14s %s\n", local_cmds[i].name, local_cmds[i].summary);
  fputs("  snapshot       import and list sandbox root filesystems (pier snapshot --help)\n"
        "  agent          install coding agents for runbooks (pier agent --help)\n"
        "  bridge         forward a TCP port to a Unix socket (used inside runbook sandboxes)\n"
        "  version        print the version\n\nClient (talks to a pier server):\n",
        f);
  pier_cli_usage(f);
  fputs("\nRun 'pier help <command>' or 'pier <command> --help' for details.\n", f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (pier_sandbox_cli_handles(cmd)) return pier_sandbox_cli_main(cmd, argc - 2, argv + 2);
  for (size_t i = 0; i < NLOCAL; i++) {
    if (strcmp(cmd, local_cmds[i].name) == 0) return local_cmds[i].run(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 && argc > 2 && strcmp(argv[2], local_cmds[i].name) == 0) {
      char help[] = "--help", *args[] = {help, NULL};
      return local_cmds[i].run(1, args);
    }
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("pier %s\n", PIER_VERSION);
    return 0;
  }
  if ((strcmp(cmd, "help") == 0 && argc == 2) || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  return pier_cli_main(argc - 1, argv + 1);
}
