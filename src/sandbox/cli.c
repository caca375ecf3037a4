/* cli.c — the sandbox's subcommands: snapshot, agent, bridge, sandbox-exec
 * (internal) and sandbox-run (run.c). Invariant: every subcommand returns a
 * process exit status and says what went wrong on stderr. */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox_int.h"

const char *sb_default_data_dir(const char *flag) {
  if (flag && *flag) return flag;
  const char *env = getenv("PIER_DATA_DIR");
  return env && *env ? env : "./pier-data";
}

bool pier_sandbox_cli_handles(const char *cmd) {
  static const char *const cmds[] = {"snapshot", "agent", "bridge", "sandbox-exec", "sandbox-run", NULL};
  for (int i = 0; cmd && cmds[i]; i++)
    if (strcmp(cmd, cmds[i]) == 0) return true;
  return false;
}

int pier_sandbox_cli_main(const char *cmd, int argc, char **argv) {
  if (strcmp(cmd, "snapshot") == 0) return sb_snapshot_main(argc, argv);
  if (strcmp(cmd, "agent") == 0) return sb_agent_main(argc, argv);
  if (strcmp(cmd, "bridge") == 0) return sb_bridge_main(argc, argv);
  if (strcmp(cmd, "sandbox-exec") == 0) return sb_exec_main(argc, argv);
  if (strcmp(cmd, "sandbox-run") == 0) return sb_run_main(argc, argv);
  fprintf(stderr, "pier: unknown command \"%s\"\n", cmd);
  return 2;
}

/* ---- pier snapshot ---------------------------------------------------------- */

static int snapshot_list(const char *data_dir) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/snapshots", data_dir);
  printf("%-24s %s\n", PIER_SNAPSHOT_HOST, "(built-in: the host's /usr, read-only)");
  struct dirent **list = NULL;
  int n = scandir(dir, &list, NULL, alphasort);
  for (int i = 0; i < n; i++) {
    const char *name = list[i]->d_name;
    if (pier_snapshot_name_valid(name)) printf("%-24s %s/%s\n", name, dir, name);
    free(list[i]);
  }
  free(list);
  return 0;
}

static void snapshot_usage(FILE *f) {
  fputs("usage: pier snapshot import NAME DIR|TARBALL [--data-dir DIR]\n"
        "       pier snapshot list [--data-dir DIR]\n"
        "       pier snapshot remove NAME [--data-dir DIR]\n"
        "NAME: lowercase letters, digits, '.', '_', '-' (e.g. python312-uv). TARBALL: .tar or .tar.gz,\n"
        "e.g. from `docker export`. Devices and fifos are skipped; setuid bits are dropped.\n",
        f);
}

int sb_snapshot_main(int argc, char **argv) {
  const char *data_flag = NULL, *pos[3] = {NULL, NULL, NULL};
  int npos = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--data-dir") == 0 && i + 1 < argc) data_flag = argv[++i];
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      snapshot_usage(stdout);
      return 0;
    } else if (argv[i][0] != '-' && npos < 3) pos[npos++] = argv[i];
    else {
      snapshot_usage(stderr);
      return 2;
    }
  }
  const char *dd = sb_default_data_dir(data_flag);
  char err[1024] = "";
  if (npos == 1 && strcmp(pos[0], "list") == 0) return snapshot_list(dd);
  if (npos == 2 && strcmp(pos[0], "remove") == 0) {
    if (pier_snapshot_remove(dd, pos[1], err, sizeof err)) {
      fprintf(stderr, "pier snapshot: %s\n", err);
      return 1;
    }
    printf("removed snapshot %s\n", pos[1]);
    return 0;
  }
  if (npos == 3 && strcmp(pos[0], "import") == 0) {
    pier_snapshot_stats st = {0};
    if (pier_snapshot_import(dd, pos[1], pos[2], &st, err, sizeof err)) {
      fprintf(stderr, "pier snapshot: %s\n", err);
      return 1;
    }
    printf("imported snapshot %s: %llu files, %llu directories, %llu symlinks, %llu hard links, %llu bytes",
           pos[1], (unsigned long long)st.files, (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
           (unsigned long long)st.hardlinks, (unsigned long long)st.bytes);
    if (st.skipped) printf("; skipped %llu devices/fifos/sockets", (unsigned long long)st.skipped);
    putchar('\n');
    return 0;
  }
  snapshot_usage(stderr);
  return 2;
}
