/* cli_int.h — private to src/cli: the command table, the per-invocation context,
 * the blocking HTTP client, output and input helpers. Command handlers return a
 * process exit status (PIER_CLI_EXIT_*), not a PIER_E code: for a command line
 * the exit status is the product, and mapping twice would only lose detail. */
#ifndef PIER_CLI_CLI_INT_H
#define PIER_CLI_CLI_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/buf.h"
#include "base/error.h"

enum {
  PIER_CLI_EXIT_OK = 0,
  PIER_CLI_EXIT_FAIL = 1,     /* run not completed; input refused (400/409/422) */
  PIER_CLI_EXIT_USAGE = 2,
  PIER_CLI_EXIT_AUTH = 3,     /* 401/403, or no token at all */
  PIER_CLI_EXIT_NOTFOUND = 4, /* 404 */
  PIER_CLI_EXIT_SERVER = 5,   /* 5xx, connection refused, broken stream */
};

#define PIER_CLI_POS_MAX 64
#define PIER_CLI_GIVEN_MAX 128
#define PIER_CLI_BODY_BYTES_MAX (256u * 1024 * 1024) /* one answer (downloads included) */
#define PIER_CLI_INPUT_BYTES_MAX (64u * 1024 * 1024) /* a file or stdin read whole */
#define PIER_CLI_SECRET_BYTES_MAX (64u * 1024)       /* = the server's env value cap */

/* ---- command table ------------------------------------------------------------ */

typedef struct pier_cli pier_cli;

typedef struct pier_cli_opt {
  const char *name;  /* long name without "--"; NULL ends a table */
  char short_name;   /* 0 = none */
  const char *arg;   /* placeholder of the value ("FILE"); NULL = a flag */
  const char *help;
} pier_cli_opt;

enum { PIER_CLI_OFFLINE = 1 }; /* needs no server/token (login resolves its own) */

typedef struct pier_cli_cmd {
  const char *group;        /* "collections"; NULL ends a table */
  const char *verb;         /* "list", or NULL for a one-word command */
  const char *args;         /* synopsis of the positionals, "COLLECTION/TASK" */
  int min_args, max_args;   /* max -1 = any number */
  const pier_cli_opt *opts; /* may be NULL */
  int (*run)(pier_cli *cli);
  const char *summary;
  const char *help;         /* details and examples; may be NULL */
  unsigned flags;
} pier_cli_cmd;

extern const pier_cli_cmd pier_cli_cmds_config[];
extern const pier_cli_cmd pier_cli_cmds_collections[];
extern const pier_cli_cmd pier_cli_cmds_tasks[];
extern const pier_cli_cmd pier_cli_cmds_run[];
extern const pier_cli_cmd pier_cli_cmds_traj[];
extern const pier_cli_cmd pier_cli_cmds_chat[];
extern const pier_cli_cmd pier_cli_cmds_doctor[];
extern const pier_cli_cmd pier_cli_cmds_complete[];

/* ---- one invocation ------------------------------------------------------------ */

struct pier_cli {
  const pier_cli_cmd *cmd;
  const char *pos[PIER_CLI_POS_MAX]; /* borrowed from argv */
  int npos;
  struct {
    const char *name; /* the option's long name (static) */
    const char *val;  /* borrowed from argv; "" for flags */
  } given[PIER_CLI_GIVEN_MAX];
  int ngiven;
  char url[1024];           /* no trailing slash */
  char *token;              /* owned; wiped on exit; NULL = none */
  char token_source[1100];  /* where the token came from, for hints */
  bool json, tty_in, tty_out, tty_err, color_out, color_err;
  void *curl;               /* CURL*, created on first use */
  void *multi;              /* CURLM* */
};

/* Last value of an option (NULL when absent); flags give "". */
const char *pier_cli_opt_get(const pier_cli *cli, const char *name);
bool pier_cli_flag(const pier_cli *cli, const char *name);
/* Values of a repeatable option in order; returns how many (<= max). */
int pier_cli_opt_all(const pier_cli *cli, const char *name, const char **out, int max);

/* "a/b/c" split into exactly n non-empty parts of at most 255 bytes; a usage
 * error naming `what` otherwise. The C/T plus a separate ID form is joined by
 * the caller first. Returns an exit status. */
typedef struct pier_cli_ref {
  char part[3][256];
} pier_cli_ref;
int pier_cli_parse_ref(pier_cli *cli, const char *ref, int n, const char *what, pier_cli_ref *out);

/* ---- configuration (config.c) ------------------------------------------------- */

/* URL and token from --url/--token, PIER_URL/PIER_TOKEN, the login files, then
 * a local server's admin.token. Returns an exit status. */
int pier_cli_config_resolve(pier_cli *cli);
/* Exit 3 with how to log in when no token was found. */
int pier_cli_need_token(pier_cli *cli);

/* ---- HTTP (client.c) ---------------------------------------------------------- */

typedef struct pier_cli_resp {
  long status;
  pier_buf body;  /* owned; the 2xx body unless streamed to on_data */
  cJSON *json;    /* owned; the body parsed when it is JSON, else NULL */
} pier_cli_resp;

typedef struct pier_cli_req {
  const char *method;
  const char *path;                     /* percent-encoded, from "/" */
  const char *body;                     /* JSON text or NULL */
  size_t body_len;
  void *mime;                           /* curl_mime*, borrowed; or NULL */
  int (*on_data)(void *arg, const char *p, size_t n); /* 2xx bytes go here; non-0 stops */
  void *arg;                            /* on_data's */
  void (*on_tick)(void *tick_arg);      /* about every 100 ms while waiting */
  void *tick_arg;
} pier_cli_req;

void pier_cli_resp_dispose(pier_cli_resp *r);
/* Transport only: 0 once an HTTP answer came back (any status), else prints
 * why the server could not be reached and returns PIER_EIO (or the on_data
 * callback's code). */
int pier_cli_send(pier_cli *cli, const pier_cli_req *rq, pier_cli_resp *out) PIER_WUR;
/* 0 for a 2xx answer; else prints the server's detail (and a hint) on stderr
 * and returns the exit status for its class. */
int pier_cli_check(pier_cli *cli, const pier_cli_resp *r);
/* A JSON call: body (may be NULL) is sent as application/json, the answer is
 * parsed into r->json. Returns an exit status (0 only for 2xx). */
int pier_cli_call(pier_cli *cli, const char *method, const char *path, const cJSON *body, pier_cli_resp *r);
/* Server-Sent Events: `event` is "" for unnamed events; non-0 stops. */
typedef int (*pier_cli_sse_fn)(void *arg, const char *event, const char *data, size_t len);
int pier_cli_stream(pier_cli *cli, const char *method, const char *path, const cJSON *body, pier_cli_sse_fn on_event,
                    void (*on_tick)(void *), void *arg, pier_cli_resp *r);
/* prefix + "/" + each percent-encoded segment (NULL-terminated list) into out. */
int pier_cli_path(char *out, size_t cap, const char *prefix, ...) PIER_WUR __attribute__((sentinel));
/* Exit status for a transport failure or an HTTP status. */
int pier_cli_exit_for_status(long status);
void pier_cli_http_cleanup(pier_cli *cli);

/* ---- output (output.c, table.c) ----------------------------------------------- */

enum { PIER_CLI_BOLD, PIER_CLI_DIM, PIER_CLI_RED, PIER_CLI_GREEN, PIER_CLI_YELLOW, PIER_CLI_CYAN, PIER_CLI_RESET };
/* The escape sequence when colour is on for that stream, else "". */
const char *pier_cli_sgr(const pier_cli *cli, FILE *f, int style);
/* "pier: <message>" on stderr. */
void pier_cli_err(const pier_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "hint: <message>" on stderr, dimmed on a TTY. */
void pier_cli_hint(const pier_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Message + the command's synopsis on stderr; returns PIER_CLI_EXIT_USAGE. */
int pier_cli_usage_error(const pier_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The server's bytes on stdout, newline-terminated (what --json prints). */
int pier_cli_print_raw(const pier_cli_resp *r);
/* Pretty JSON of v on f. */
void pier_cli_print_json(FILE *f, const cJSON *v);
/* Style of a status word: completed green, failed red, running yellow, ... */
int pier_cli_status_style(const char *status);
/* "0.42s", "12.3s", "3m05s", "2h01m". */
void pier_cli_fmt_duration(double seconds, char *out, size_t cap);
/* "2026-06-07T03:05:58.374055Z" -> "5s ago", "3m ago", "2d ago"; "-" if unparsable. */
void pier_cli_fmt_age(const char *iso, char *out, size_t cap);
/* Seconds since the epoch of such a time stamp (fraction kept); -1 if unparsable. */
double pier_cli_iso_seconds(const char *iso);
/* Display width in columns: UTF-8 code points, escape sequences skipped. */
size_t pier_cli_width(const char *s);

typedef struct pier_cli_table {
  int ncols;
  const char *head[8]; /* static */
  char **cells;        /* owned: nrows * ncols copies */
  size_t nrows, cap;
} pier_cli_table;
void pier_cli_table_init(pier_cli_table *t, int ncols, const char *const *head);
int pier_cli_table_row(pier_cli_table *t, const char *const *cells) PIER_WUR;
/* Aligned columns, header bold on a TTY; "No <what>." on stderr when empty. */
void pier_cli_table_print(const pier_cli *cli, const pier_cli_table *t, const char *what);
void pier_cli_table_dispose(pier_cli_table *t);

/* ---- input (prompt.c) ----------------------------------------------------------- */

/* A secret: hidden prompt on a TTY (echo off, restored even on Ctrl-C), else
 * all of stdin with one trailing newline dropped. Never from argv. Empty is
 * PIER_EINVAL; the caller wipes it with pier_cli_wipe. */
int pier_cli_read_secret(const pier_cli *cli, const char *prompt, pier_buf *out) PIER_WUR;
/* A whole file ("-" = stdin) into out, capped at PIER_CLI_INPUT_BYTES_MAX. */
int pier_cli_read_file(const char *path, pier_buf *out) PIER_WUR;
/* One line from stdin without its newline; PIER_ENOTFOUND at end of input. */
int pier_cli_read_line(pier_buf *out) PIER_WUR;
/* Ask on a TTY; false when stdin is not one. */
bool pier_cli_confirm(const pier_cli *cli, const char *question);
/* Zero the bytes, then free them. */
void pier_cli_wipe(pier_buf *b);

/* ---- runs (follow.c) ------------------------------------------------------------ */

/* Follow a run's events until it ends: steps live on stderr (spinner on a
 * TTY), then the final outputs on stdout (--json: the final trajectory).
 * quiet skips the step lines. Exit 0 only for `completed`. */
int pier_cli_follow(pier_cli *cli, const char *coll, const char *task, const char *id, bool quiet);
/* Human view of an ended trajectory's result: the last step's outputs on
 * stdout, the error on stderr (brief: without the reason, already shown in
 * the step lines). Returns the exit status for its status; a run still
 * going prints nothing and gives 0. */
int pier_cli_traj_result(pier_cli *cli, const cJSON *traj, bool brief);
/* One line per step (status, duration, tokens, cost) on f. */
void pier_cli_traj_steps(const pier_cli *cli, FILE *f, const cJSON *traj);
/* Exit status for a trajectory status: 0 for completed, 1 otherwise. */
int pier_cli_status_exit(const char *status);

#endif
