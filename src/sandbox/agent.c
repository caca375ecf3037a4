/* agent.c — the coding agents a runbook can run: where each is installed
 * (<data-dir>/agents/<name>/, bound read-only at /opt/pier/agents/<name>) and
 * `pier agent install` (npm). Invariant: a resolved command is a path inside
 * the sandbox, and a missing agent's error always carries the install command. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox_int.h"

typedef struct agent_def {
  const char *name, *package, *cmd;
} agent_def;

static const agent_def AGENTS[] = {
    {"claude-code", "@anthropic-ai/claude-code", "claude"},
    {"codex", "@openai/codex", "codex"},
    {"gemini-cli", "@google/gemini-cli", "gemini"},
};
#define NAGENTS (sizeof AGENTS / sizeof AGENTS[0])

static const agent_def *find_agent(const char *name) {
  for (size_t i = 0; name && i < NAGENTS; i++)
    if (strcmp(AGENTS[i].name, name) == 0) return &AGENTS[i];
  return NULL;
}

static bool executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

int pier_agent_command(const char *data_dir, const char *agent, char *cmd, size_t cap, char *err, size_t errlen) {
  const agent_def *a = find_agent(agent);
  if (!a) {
    snprintf(err, errlen, "unknown agent \"%.64s\"; known agents: claude-code, codex, gemini-cli",
             agent ? agent : "");
    return PIER_EINVAL;
  }
  static const char *const subdirs[] = {"bin", "node_modules/.bin"};
  for (size_t i = 0; i < 2; i++) {
    char host[PATH_MAX];
    snprintf(host, sizeof host, "%s/agents/%s/%s/%s", data_dir, a->name, subdirs[i], a->cmd);
    if (!executable(host)) continue;
    if ((size_t)snprintf(cmd, cap, "%s/%s/%s/%s", PIER_SANDBOX_AGENTS_DIR, a->name, subdirs[i], a->cmd) >= cap)
      return PIER_ETOOBIG;
    return 0;
  }
  snprintf(err, errlen, "agent \"%s\" is not installed on this server; install it with: pier agent install %s --data-dir %s",
           a->name, a->name, data_dir);
  return PIER_ENOTFOUND;
}

static int mkdir_mode(const char *path, mode_t mode) {
  if (mkdir(path, mode) != 0 && errno != EEXIST) return PIER_EIO;
  return chmod(path, mode) == 0 ? 0 : PIER_EIO;
}

/* npm install --prefix DIR PACKAGE, in the foreground, output to the terminal. */
static int run_npm(const char *dir, const char *pkg) {
  char *argv[] = {"npm", "install", "--prefix", (char *)dir, "--no-audit", "--no-fund", "--no-update-notifier",
                  "--omit=dev", (char *)pkg, NULL};
  pid_t pid = fork();
  if (pid < 0) return PIER_EIO;
  if (pid == 0) {
    umask(022); /* the sandbox's uid must be able to read what npm writes */
    execvp("npm", argv);
    fprintf(stderr, "pier agent: cannot run npm: %s (install Node.js and npm)\n", strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return PIER_EIO;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : PIER_EUPSTREAM;
}

static int install(const char *data_dir, const char *name, const char *version) {
  const agent_def *a = find_agent(name);
  if (!a) {
    fprintf(stderr, "pier agent: unknown agent \"%s\"; known agents: claude-code, codex, gemini-cli\n", name);
    return 2;
  }
  char dir[PATH_MAX], pkg[256];
  snprintf(pkg, sizeof pkg, "%s@%s", a->package, version ? version : "latest");
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "pier agent: cannot create %s: %s\n", data_dir, strerror(errno));
    return 1;
  }
  snprintf(dir, sizeof dir, "%s/agents", data_dir);
  int rc = mkdir_mode(dir, 0755);
  snprintf(dir, sizeof dir, "%s/agents/%s", data_dir, a->name);
  if (!rc) rc = mkdir_mode(dir, 0755);
  if (rc) {
    fprintf(stderr, "pier agent: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  fprintf(stderr, "pier agent: installing %s into %s\n", pkg, dir);
  if (run_npm(dir, pkg)) {
    fprintf(stderr, "pier agent: npm install %s failed (see npm's output above)\n", pkg);
    return 1;
  }
  char cmd[PATH_MAX], err[512];
  if (pier_agent_command(data_dir, a->name, cmd, sizeof cmd, err, sizeof err)) {
    fprintf(stderr, "pier agent: npm finished but %s has no \"%s\" command\n", pkg, a->cmd);
    return 1;
  }
  printf("installed %s; inside the sandbox it runs as %s\n", a->name, cmd);
  return 0;
}

static int list(const char *data_dir) {
  for (size_t i = 0; i < NAGENTS; i++) {
    char cmd[PATH_MAX], err[512];
    bool ok = pier_agent_command(data_dir, AGENTS[i].name, cmd, sizeof cmd, err, sizeof err) == 0;
    printf("%-12s %-28s %s\n", AGENTS[i].name, AGENTS[i].package, ok ? cmd : "(not installed)");
  }
  return 0;
}

static void usage(FILE *f) {
  fputs("usage: pier agent install claude-code|codex|gemini-cli [--version V] [--data-dir DIR]\n"
        "       pier agent list [--data-dir DIR]\n",
        f);
}

int sb_agent_main(int argc, char **argv) {
  const char *data_flag = NULL, *version = NULL, *pos[2] = {NULL, NULL};
  int npos = 0;
  for (int i = 0; i < argc; i++) {
    if ((strcmp(argv[i], "--data-dir") == 0 || strcmp(argv[i], "--version") == 0) && i + 1 < argc) {
      *(argv[i][2] == 'd' ? &data_flag : &version) = argv[i + 1];
      i++;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] != '-' && npos < 2) {
      pos[npos++] = argv[i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  const char *data_dir = sb_default_data_dir(data_flag);
  if (npos == 2 && strcmp(pos[0], "install") == 0) return install(data_dir, pos[1], version);
  if (npos == 1 && strcmp(pos[0], "list") == 0) return list(data_dir);
  usage(stderr);
  return 2;
}
