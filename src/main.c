/* main.c — argv -> subcommand; nothing else. */
#include <stdio.h>
#include <string.h>

#include "api/app.h"

#define PIER_VERSION "0.1.0"

static void usage(FILE *f) {
  fputs("usage: pier <command> [options]\n"
        "\n"
        "  serve      run the server (pier serve --help)\n"
        "  version    print the version\n",
        f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "serve") == 0) return pier_serve_main(argc - 2, argv + 2);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("pier %s\n", PIER_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "pier: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return 2;
}
