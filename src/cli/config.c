/* config.c — where the CLI's server and token come from, and `pier login` /
 * `pier logout`. Invariant: a stored token is only sent to the URL it was
 * stored for, and a local server's admin.token only to a loopback URL; the
 * config directory is 0700 and its files 0600, written atomically. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/cli_int.h"

#define DEFAULT_URL "http://127.0.0.1:8080"

/* $XDG_CONFIG_HOME/pier, else ~/.config/pier. */
static int config_dir(char *out, size_t cap) {
  const char *xdg = getenv("XDG_CONFIG_HOME");
  int n;
  if (xdg && xdg[0] == '/') {
    n = snprintf(out, cap, "%s/pier", xdg);
  } else {
    const char *home = getenv("HOME");
    if (!home || !*home) {
      struct passwd *pw = getpwuid(getuid());
      home = pw ? pw->pw_dir : NULL;
    }
    if (!home) return PIER_ENOTFOUND;
    n = snprintf(out, cap, "%s/.config/pier", home);
  }
  return n > 0 && (size_t)n < cap ? 0 : PIER_ETOOBIG;
}

/* First line of a small file, trimmed; NULL when unreadable or empty. */
static char *read_first_line(const char *path) {
  pier_buf b;
  pier_buf_init(&b, 64 * 1024);
  char *line = NULL;
  if (pier_cli_read_file(path, &b) == 0 && b.len) {
    size_t n = strcspn(b.ptr, "\r\n");
    pier_slice s = pier_slice_trim(pier_slice_make(b.ptr, n));
    if (s.len) line = pier_slice_dup(s);
  }
  pier_cli_wipe(&b);
  return line;
}

/* "host:8080/" -> "http://host:8080". PIER_EINVAL for another scheme. */
static int normalize_url(const char *in, char *out, size_t cap) {
  const char *scheme = strstr(in, "://") ? "" : "http://";
  if (!*scheme && strncmp(in, "http://", 7) && strncmp(in, "https://", 8)) return PIER_EINVAL;
  int n = snprintf(out, cap, "%s%s", scheme, in);
  if (n <= 0 || (size_t)n >= cap) return PIER_ETOOBIG;
  while (n > 0 && out[n - 1] == '/') out[--n] = '\0';
  return strlen(out) > strlen("http://") ? 0 : PIER_EINVAL;
}

static bool is_loopback(const char *url) {
  const char *h = strstr(url, "://");
  h = h ? h + 3 : url;
  static const char *hosts[] = {"127.0.0.1", "localhost", "[::1]", NULL};
  for (int i = 0; hosts[i]; i++) {
    size_t n = strlen(hosts[i]);
    if (!strncmp(h, hosts[i], n) && (h[n] == '\0' || h[n] == ':' || h[n] == '/')) return true;
  }
  return false;
}

/* The URL saved by `pier login`, normalized, or "" when none. */
static void stored_url(const char *dir, char *out, size_t cap) {
  char path[1100];
  out[0] = '\0';
  snprintf(path, sizeof path, "%s/config.json", dir);
  pier_buf b;
  pier_buf_init(&b, 64 * 1024);
  if (pier_cli_read_file(path, &b) == 0) {
    cJSON *c = pier_json_parse(pier_buf_slice(&b), 8, NULL, 0);
    const char *u = pier_json_str(c, "url");
    if (u && normalize_url(u, out, cap) != 0) out[0] = '\0';
    cJSON_Delete(c);
  }
  pier_buf_dispose(&b);
}

static void set_token(pier_cli *cli, char *token, const char *source) {
  cli->token = token;
  snprintf(cli->token_source, sizeof cli->token_source, "%s", source);
}

int pier_cli_config_resolve(pier_cli *cli) {
  char dir[1024] = "", saved[1024] = "";
  if (config_dir(dir, sizeof dir) == 0) stored_url(dir, saved, sizeof saved);
  const char *url = pier_cli_opt_get(cli, "url");
  const char *env_url = getenv("PIER_URL");
  if (!url) url = env_url && *env_url ? env_url : saved[0] ? saved : DEFAULT_URL;
  if (normalize_url(url, cli->url, sizeof cli->url) != 0)
    return pier_cli_usage_error(cli, "the server URL must look like http://host:port (got \"%s\")", url);
  const char *flag = pier_cli_opt_get(cli, "token"), *env_tok = getenv("PIER_TOKEN");
  if (flag && *flag) {
    set_token(cli, strdup(flag), "--token");
  } else if (env_tok && *env_tok) {
    set_token(cli, strdup(env_tok), "$PIER_TOKEN");
  } else if (dir[0] && !strcmp(cli->url, saved[0] ? saved : DEFAULT_URL)) {
    char path[1100];
    snprintf(path, sizeof path, "%s/token", dir);
    char *t = read_first_line(path);
    if (t) set_token(cli, t, path);
  }
  if (!cli->token && is_loopback(cli->url)) {
    const char *dd = getenv("PIER_DATA_DIR");
    char path[1100];
    snprintf(path, sizeof path, "%s/admin.token", dd && *dd ? dd : "./pier-data");
    char *t = read_first_line(path);
    if (t) set_token(cli, t, path);
  }
  if ((flag || env_tok) && !cli->token) return pier_cli_usage_error(cli, "the token given is empty");
  return 0;
}

int pier_cli_need_token(pier_cli *cli) {
  if (cli->token) return 0;
  pier_cli_err(cli, "no token for %s", cli->url);
  pier_cli_hint(cli, "run 'pier login', set $PIER_TOKEN, or run next to a server's pier-data/admin.token "
                     "($PIER_DATA_DIR)");
  return PIER_CLI_EXIT_AUTH;
}

/* ---- login / logout ---------------------------------------------------------------- */

static int ensure_dir(const char *dir) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) { /* parents with the default mode, ours 0700 */
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return PIER_EIO;
    *p = '/';
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return PIER_EIO;
  return chmod(dir, 0700) == 0 ? 0 : PIER_EIO;
}

/* Write via a 0600 temporary file and rename, so a reader never sees half. */
static int write_private(const char *dir, const char *name, const char *data, size_t len) {
  char path[1100], tmp[1120];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, name, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return PIER_EIO;
  int rc = fchmod(fd, 0600) == 0 ? 0 : PIER_EIO;
  for (size_t off = 0; !rc && off < len;) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) rc = PIER_EIO;
    else off += (size_t)n;
  }
  if (!rc && fsync(fd) != 0) rc = PIER_EIO;
  if (close(fd) != 0) rc = PIER_EIO;
  if (!rc && rename(tmp, path) != 0) rc = PIER_EIO;
  if (rc) unlink(tmp);
  return rc;
}

static int save_login(pier_cli *cli, const char *dir) {
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "url", cli->url);
  char *conf = cJSON_Print(c);
  cJSON_Delete(c);
  pier_buf tok;
  pier_buf_init(&tok, 0);
  int rc = conf && pier_buf_appendf(&tok, "%s\n", cli->token) == 0 ? 0 : PIER_ENOMEM;
  if (!rc) rc = ensure_dir(dir);
  if (!rc) rc = write_private(dir, "token", tok.ptr, tok.len);
  if (!rc) rc = write_private(dir, "config.json", conf, strlen(conf));
  pier_cli_wipe(&tok);
  free(conf);
  return rc;
}

/* Only tokens that fit in a header line; surrounding space is trimmed. */
static int take_token(pier_cli *cli, pier_buf *in) {
  pier_slice s = pier_slice_trim(pier_buf_slice(in));
  while (s.len && (s.ptr[s.len - 1] == '\n' || s.ptr[s.len - 1] == '\r')) s.len--;
  for (size_t i = 0; i < s.len; i++)
    if ((unsigned char)s.ptr[i] <= ' ' || s.ptr[i] == 0x7f) return PIER_EINVAL;
  if (!s.len) return PIER_EINVAL;
  cli->token = pier_slice_dup(s);
  snprintf(cli->token_source, sizeof cli->token_source, "login");
  return cli->token ? 0 : PIER_ENOMEM;
}

static int verify_login(pier_cli *cli) {
  pier_cli_resp r;
  int rc = pier_cli_call(cli, "GET", "/api/v1/collections/", NULL, &r);
  if (rc == 0) {
    int n = cJSON_IsArray(r.json) ? cJSON_GetArraySize(r.json) : 0;
    fprintf(stderr, "Logged in to %s (%d collection%s visible).\n", cli->url, n, n == 1 ? "" : "s");
  } else if (rc == PIER_CLI_EXIT_SERVER) {
    pier_cli_hint(cli, "nothing was saved; check --url, or save anyway with --no-verify");
  } else {
    pier_cli_hint(cli, "nothing was saved: the server refused this token");
  }
  pier_cli_resp_dispose(&r);
  return rc;
}

static int cmd_login(pier_cli *cli) {
  int rc = pier_cli_config_resolve(cli);
  if (rc) return rc;
  if (cli->token) {
    explicit_bzero(cli->token, strlen(cli->token));
    free(cli->token);
    cli->token = NULL;
  }
  char dir[1024];
  if (config_dir(dir, sizeof dir) != 0) {
    pier_cli_err(cli, "cannot tell where to store the login: set $HOME or $XDG_CONFIG_HOME");
    return PIER_CLI_EXIT_FAIL;
  }
  pier_buf in;
  pier_buf_init(&in, PIER_CLI_SECRET_BYTES_MAX);
  char prompt[1200];
  snprintf(prompt, sizeof prompt, "Token for %s (input hidden): ", cli->url);
  rc = pier_cli_read_secret(cli, prompt, &in);
  if (rc == 0) rc = take_token(cli, &in);
  pier_cli_wipe(&in);
  if (rc) {
    pier_cli_err(cli, "no token read: pipe it on stdin (pier login < token-file) or type it at the prompt");
    return PIER_CLI_EXIT_USAGE;
  }
  if (!pier_cli_flag(cli, "no-verify") && (rc = verify_login(cli)) != 0) return rc;
  if (save_login(cli, dir) != 0) {
    pier_cli_err(cli, "could not write %s/token: %s", dir, strerror(errno));
    return PIER_CLI_EXIT_FAIL;
  }
  fprintf(stderr, "Token saved in %s/token; URL in %s/config.json.\n", dir, dir);
  return PIER_CLI_EXIT_OK;
}

static int cmd_logout(pier_cli *cli) {
  char dir[1024], path[1100];
  if (config_dir(dir, sizeof dir) != 0) return PIER_CLI_EXIT_OK;
  snprintf(path, sizeof path, "%s/token", dir);
  if (unlink(path) != 0 && errno != ENOENT) {
    pier_cli_err(cli, "could not remove %s: %s", path, strerror(errno));
    return PIER_CLI_EXIT_FAIL;
  }
  fprintf(stderr, "Logged out: %s removed.\n", path);
  return PIER_CLI_EXIT_OK;
}

static const pier_cli_opt login_opts[] = {
    {"no-verify", 0, NULL, "save without checking the token against the server"},
    {NULL, 0, NULL, NULL},
};

const pier_cli_cmd pier_cli_cmds_config[] = {
    {"login", NULL, NULL, 0, 0, login_opts, cmd_login,
     "Store the server URL and a token in ~/.config/pier/ (or $XDG_CONFIG_HOME/pier/).",
     "The token is read from stdin when it is not a terminal, else from a prompt that\n"
     "does not echo; never from the command line. It is checked against the server\n"
     "(GET /api/v1/collections/) before it is saved. The directory is created 0700,\n"
     "the files `token` and `config.json` 0600. A stored token is only sent to the URL\n"
     "it was stored for.\n"
     "\nExamples:\n"
     "  pier login --url http://pier.internal:8080\n"
     "  pier login < pier-data/admin.token\n",
     PIER_CLI_OFFLINE},
    {"logout", NULL, NULL, 0, 0, NULL, cmd_logout, "Remove the stored token.", NULL, PIER_CLI_OFFLINE},
    {NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0},
};
