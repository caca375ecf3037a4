/* cli_main.c — `pier <command> [<verb>] ...`: finds the command in the tables
 * of the cmd_*.c files, parses options anywhere on the line (GNU style, "--"
 * ends them), prints help, resolves the server and runs the handler. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"

static const pier_cli_opt global_opts[] = {
    {"url", 0, "URL", "pier server (default: login, $PIER_URL, http://127.0.0.1:8080)"},
    {"token", 0, "TOKEN", "API token (visible to other local users: prefer `pier login` or $PIER_TOKEN)"},
    {"json", 0, NULL, "print the server's JSON instead of text"},
    {"no-color", 0, NULL, "no colours (also $NO_COLOR)"},
    {"help", 'h', NULL, "show help"},
    {NULL, 0, NULL, NULL},
};

typedef struct group_info {
  const char *name;
  const char *aliases[3];
  const char *summary;
} group_info;

static const group_info groups[] = {
    {"login", {NULL}, "store the server URL and a token (read from stdin or a hidden prompt)"},
    {"logout", {NULL}, "forget the stored token"},
    {"collections", {"collection", NULL}, "list, create and delete collections"},
    {"api-keys", {"api-key", "keys", NULL}, "create, list and revoke a collection's API keys"},
    {"env", {NULL}, "list, set and unset a collection's environment variables"},
    {"tasks", {"task", NULL}, "list, get, put and delete tasks (workflows)"},
    {"run", {NULL}, "start a run of a task; --follow shows each step live"},
    {"trajectories", {"trajectory", "traj", NULL}, "list runs; show, follow, cancel or download one"},
    {"chat", {NULL}, "chat with a model through /v1/chat/completions (streamed)"},
    {"doctor", {NULL}, "check a collection's provider credentials with one-token calls"},
    {NULL, {NULL}, NULL},
};

static const pier_cli_cmd *const tables[] = {
    pier_cli_cmds_config, pier_cli_cmds_collections, pier_cli_cmds_tasks, pier_cli_cmds_run,
    pier_cli_cmds_traj,   pier_cli_cmds_chat,        pier_cli_cmds_doctor, pier_cli_cmds_complete,
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* ---- lookup ---------------------------------------------------------------------- */

static const group_info *find_group(const char *name) {
  for (const group_info *g = groups; g->name; g++) {
    if (!strcmp(g->name, name)) return g;
    for (int i = 0; g->aliases[i]; i++)
      if (!strcmp(g->aliases[i], name)) return g;
  }
  return NULL;
}

static const pier_cli_cmd *find_cmd(const char *group, const char *verb) {
  for (size_t i = 0; i < NTABLES; i++)
    for (const pier_cli_cmd *c = tables[i]; c->group; c++) {
      if (strcmp(c->group, group)) continue;
      if (!c->verb && !verb) return c;
      if (c->verb && verb && !strcmp(c->verb, verb)) return c;
    }
  return NULL;
}

static bool has_verbs(const char *group) {
  for (size_t i = 0; i < NTABLES; i++)
    for (const pier_cli_cmd *c = tables[i]; c->group; c++)
      if (!strcmp(c->group, group) && c->verb) return true;
  return false;
}

static const pier_cli_opt *find_opt(const pier_cli_opt *opts, const char *name, size_t len, char short_name) {
  for (const pier_cli_opt *o = opts; o && o->name; o++) {
    if (short_name ? o->short_name == short_name : (strlen(o->name) == len && !strncmp(o->name, name, len)))
      return o;
  }
  return NULL;
}

static const pier_cli_opt *lookup_opt(const pier_cli_cmd *cmd, const char *name, size_t len, char short_name) {
  const pier_cli_opt *o = find_opt(cmd ? cmd->opts : NULL, name, len, short_name);
  return o ? o : find_opt(global_opts, name, len, short_name);
}

/* ---- help -------------------------------------------------------------------------- */

static void print_opts(FILE *f, const pier_cli_opt *opts) {
  for (const pier_cli_opt *o = opts; o && o->name; o++) {
    char lhs[64];
    snprintf(lhs, sizeof lhs, "%c%c%s--%s%s%s", o->short_name ? '-' : ' ', o->short_name ? o->short_name : ' ',
             o->short_name ? ", " : "  ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fprintf(f, "  %-26s %s\n", lhs, o->help);
  }
}

static void cmd_synopsis(FILE *f, const pier_cli_cmd *c) {
  fprintf(f, "usage: pier %s%s%s%s%s [options]\n", c->group, c->verb ? " " : "", c->verb ? c->verb : "",
          c->args ? " " : "", c->args ? c->args : "");
}

static void cmd_help(FILE *f, const pier_cli_cmd *c) {
  cmd_synopsis(f, c);
  fprintf(f, "\n%s\n", c->summary);
  if (c->help) fprintf(f, "\n%s", c->help);
  if (c->opts && c->opts->name) {
    fputs("\nOptions:\n", f);
    print_opts(f, c->opts);
  }
  fputs("\nGlobal options:\n", f);
  print_opts(f, global_opts);
}

static void group_help(FILE *f, const group_info *g) {
  fprintf(f, "usage: pier %s <verb> [arguments] [options]\n\n%s\n\nVerbs:\n", g->name, g->summary);
  for (size_t i = 0; i < NTABLES; i++)
    for (const pier_cli_cmd *c = tables[i]; c->group; c++)
      if (!strcmp(c->group, g->name) && c->verb) {
        char lhs[96];
        snprintf(lhs, sizeof lhs, "%s %s", c->verb, c->args ? c->args : "");
        fprintf(f, "  %-40s %s\n", lhs, c->summary);
      }
  fprintf(f, "\nRun 'pier %s <verb> --help' for the options of each.\n", g->name);
}

void pier_cli_usage(FILE *f) {
  for (const group_info *g = groups; g->name; g++) fprintf(f, "  %-14s %s\n", g->name, g->summary);
}

static void top_help(FILE *f) {
  fputs("usage: pier <command> [<verb>] [arguments] [options]\n\nCommands:\n", f);
  pier_cli_usage(f);
  fputs("\nRun 'pier help <command>' or 'pier <command> --help' for details.\n", f);
}

static int help_topic(int argc, char **argv) {
  if (argc < 1) {
    top_help(stdout);
    return PIER_CLI_EXIT_OK;
  }
  const group_info *g = find_group(argv[0]);
  if (!g) {
    fprintf(stderr, "pier: no help for \"%s\": not a command (see 'pier help')\n", argv[0]);
    return PIER_CLI_EXIT_USAGE;
  }
  const pier_cli_cmd *c = has_verbs(g->name) ? (argc > 1 ? find_cmd(g->name, argv[1]) : NULL) : find_cmd(g->name, NULL);
  if (c) cmd_help(stdout, c);
  else group_help(stdout, g);
  return PIER_CLI_EXIT_OK;
}

/* ---- errors ------------------------------------------------------------------------ */

int pier_cli_usage_error(const pier_cli *cli, const char *fmt, ...) {
  va_list ap;
  fputs("pier: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (cli->cmd) {
    cmd_synopsis(stderr, cli->cmd);
    fprintf(stderr, "Run 'pier %s%s%s --help' for more.\n", cli->cmd->group, cli->cmd->verb ? " " : "",
            cli->cmd->verb ? cli->cmd->verb : "");
  }
  return PIER_CLI_EXIT_USAGE;
}

/* ---- options ----------------------------------------------------------------------- */

const char *pier_cli_opt_get(const pier_cli *cli, const char *name) {
  for (int i = cli->ngiven - 1; i >= 0; i--)
    if (!strcmp(cli->given[i].name, name)) return cli->given[i].val;
  return NULL;
}

bool pier_cli_flag(const pier_cli *cli, const char *name) { return pier_cli_opt_get(cli, name) != NULL; }

int pier_cli_opt_all(const pier_cli *cli, const char *name, const char **out, int max) {
  int n = 0;
  for (int i = 0; i < cli->ngiven && n < max; i++)
    if (!strcmp(cli->given[i].name, name)) out[n++] = cli->given[i].val;
  return n;
}

static int add_given(pier_cli *cli, const pier_cli_opt *o, const char *val) {
  if (cli->ngiven >= PIER_CLI_GIVEN_MAX) return pier_cli_usage_error(cli, "too many options");
  cli->given[cli->ngiven].name = o->name;
  cli->given[cli->ngiven].val = val;
  cli->ngiven++;
  return 0;
}

/* One option at argv[*i]; consumes its value. Returns an exit status. */
static int parse_one(pier_cli *cli, int argc, char **argv, int *i) {
  const char *a = argv[*i], *val = NULL;
  const pier_cli_opt *o;
  if (a[1] == '-') {
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    o = lookup_opt(cli->cmd, a + 2, len, 0);
    if (!o) return pier_cli_usage_error(cli, "unknown option --%.*s", (int)len, a + 2);
    if (eq) val = eq + 1;
  } else {
    o = lookup_opt(cli->cmd, NULL, 0, a[1]);
    if (!o || !a[1]) return pier_cli_usage_error(cli, "unknown option %s", a);
    if (a[2]) {
      if (!o->arg) return pier_cli_usage_error(cli, "-%c takes no value (flags are given one at a time)", a[1]);
      val = a + 2;
    }
  }
  if (!o->arg) {
    if (val) return pier_cli_usage_error(cli, "--%s takes no value", o->name);
    return add_given(cli, o, "");
  }
  if (!val) {
    if (*i + 1 >= argc) return pier_cli_usage_error(cli, "--%s needs a value: --%s %s", o->name, o->name, o->arg);
    val = argv[++*i];
  }
  return add_given(cli, o, val);
}

static int parse_args(pier_cli *cli, int argc, char **argv) {
  bool opts_done = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!opts_done && !strcmp(a, "--")) {
      opts_done = true;
      continue;
    }
    if (!opts_done && a[0] == '-' && a[1]) {
      int rc = parse_one(cli, argc, argv, &i);
      if (rc) return rc;
      continue;
    }
    if (cli->npos >= PIER_CLI_POS_MAX) return pier_cli_usage_error(cli, "too many arguments");
    cli->pos[cli->npos++] = a;
  }
  return 0;
}

int pier_cli_parse_ref(pier_cli *cli, const char *ref, int n, const char *what, pier_cli_ref *out) {
  memset(out, 0, sizeof *out);
  const char *p = ref;
  for (int k = 0; k < n; k++) {
    const char *end = k + 1 < n ? strchr(p, '/') : p + strlen(p);
    size_t len = end ? (size_t)(end - p) : 0;
    if (!end || len == 0 || len >= sizeof out->part[k] || (k + 1 == n && strchr(p, '/')))
      return pier_cli_usage_error(cli, "expected %s, got \"%s\"", what, ref);
    memcpy(out->part[k], p, len);
    p = end + 1;
  }
  return 0;
}

/* ---- entry ------------------------------------------------------------------------- */

static void cli_init(pier_cli *cli) {
  memset(cli, 0, sizeof *cli);
  cli->tty_in = isatty(0);
  cli->tty_out = isatty(1);
  cli->tty_err = isatty(2);
  const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
  bool colors = !(nc && *nc) && !(term && !strcmp(term, "dumb"));
  cli->color_out = colors && cli->tty_out;
  cli->color_err = colors && cli->tty_err;
}

static void cli_dispose(pier_cli *cli) {
  pier_cli_http_cleanup(cli);
  if (cli->token) {
    explicit_bzero(cli->token, strlen(cli->token));
    free(cli->token);
  }
}

/* Leading global options (`pier --json collections list`) move behind the
 * command: returns the index of the command word, or argc. */
static int command_index(int argc, char **argv) {
  int i = 0;
  while (i < argc && argv[i][0] == '-' && argv[i][1]) {
    const char *a = argv[i];
    bool takes = (!strcmp(a, "--url") || !strcmp(a, "--token"));
    i += takes ? 2 : 1;
  }
  return i;
}

static int resolve_cmd(pier_cli *cli, const group_info *g, int argc, char **argv, int *consumed) {
  *consumed = 1;
  if (!has_verbs(g->name)) {
    cli->cmd = find_cmd(g->name, NULL);
    return 0;
  }
  const char *verb = argc > 1 ? argv[1] : NULL;
  if (!verb || verb[0] == '-') {
    bool help = verb && (!strcmp(verb, "--help") || !strcmp(verb, "-h"));
    group_help(help ? stdout : stderr, g);
    return help ? -1 : PIER_CLI_EXIT_USAGE;
  }
  cli->cmd = find_cmd(g->name, verb);
  if (!cli->cmd) {
    fprintf(stderr, "pier: \"%s\" is not a verb of \"%s\"\n\n", verb, g->name);
    group_help(stderr, g);
    return PIER_CLI_EXIT_USAGE;
  }
  *consumed = 2;
  return 0;
}

static int dispatch(pier_cli *cli, int argc, char **argv) {
  int ci = command_index(argc, argv);
  if (ci >= argc) {
    top_help(stderr);
    return PIER_CLI_EXIT_USAGE;
  }
  if (!strcmp(argv[ci], "help")) return help_topic(argc - ci - 1, argv + ci + 1);
  const group_info *g = find_group(argv[ci]);
  const pier_cli_cmd *hidden = g ? NULL : find_cmd(argv[ci], NULL);
  if (!g && !hidden) {
    fprintf(stderr, "pier: unknown command \"%s\"; run 'pier help' for the list\n", argv[ci]);
    return PIER_CLI_EXIT_USAGE;
  }
  int consumed = 1, rc = 0;
  if (hidden) cli->cmd = hidden;
  else if ((rc = resolve_cmd(cli, g, argc - ci, argv + ci, &consumed)) != 0) return rc < 0 ? 0 : rc;
  if ((rc = parse_args(cli, ci, argv)) != 0) return rc;
  if ((rc = parse_args(cli, argc - ci - consumed, argv + ci + consumed)) != 0) return rc;
  if (pier_cli_flag(cli, "help")) {
    cmd_help(stdout, cli->cmd);
    return PIER_CLI_EXIT_OK;
  }
  if (cli->npos < cli->cmd->min_args || (cli->cmd->max_args >= 0 && cli->npos > cli->cmd->max_args))
    return pier_cli_usage_error(cli, cli->npos < cli->cmd->min_args ? "missing arguments" : "too many arguments");
  cli->json = pier_cli_flag(cli, "json");
  if (pier_cli_flag(cli, "no-color")) cli->color_out = cli->color_err = false;
  if (!(cli->cmd->flags & PIER_CLI_OFFLINE) && (rc = pier_cli_config_resolve(cli)) != 0) return rc;
  return cli->cmd->run(cli);
}

int pier_cli_main(int argc, char **argv) {
  pier_cli *cli = malloc(sizeof *cli);
  if (!cli) {
    fputs("pier: out of memory\n", stderr);
    return PIER_CLI_EXIT_FAIL;
  }
  cli_init(cli);
  int rc = dispatch(cli, argc, argv);
  cli_dispose(cli);
  free(cli);
  if (fflush(stdout) != 0 && rc == 0) rc = PIER_CLI_EXIT_FAIL;
  return rc;
}
