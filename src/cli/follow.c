/* follow.c — a run as it happens, from GET .../{id}/events (SSE: status,
 * step_started, step_progress, step_completed, step_failed, run_ended, end): one line per
 * step on stderr (and a runbook agent's progress under it) (a live spinner line on a terminal), then the outputs on
 * stdout. Invariant: every step of the final trajectory is shown exactly once,
 * even the ones that ended before the stream was attached. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "cli/cli_int.h"

#define PATH_CAP 2048
#define NAME_COL 12

static const char *const spinner[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};

typedef struct follow_ctx {
  pier_cli *cli;
  bool quiet, live;    /* live: stderr is a terminal, spinner allowed */
  char running[256];   /* the step in flight, "" = none */
  char activity[64];
  uint64_t started_ms;
  unsigned frame;
  bool line_open;      /* a spinner line is on screen */
  cJSON *order;        /* total_steps: final lines are printed in this order */
  cJSON *pending;      /* name -> record of steps ended but not printed yet */
  cJSON *shown;        /* names of steps whose final line is printed */
  pier_buf end_doc;    /* data of the `end` event: the final trajectory */
  bool ended, shutdown;
} follow_ctx;

/* Live progress of a step (a runbook agent's messages and tool calls): each
 * line indented under the step, on stderr; not with --quiet. */
static void clear_line(follow_ctx *x);
static void draw_spinner(follow_ctx *x);

static void on_progress(follow_ctx *x, const char *text) {
  if (x->quiet || !text || !text[0]) return;
  clear_line(x);
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    int n = nl ? (int)(nl - p) : (int)strlen(p);
    if (n) fprintf(stderr, "    %s%.*s%s\n", pier_cli_sgr(x->cli, stderr, PIER_CLI_DIM), n, p,
                   pier_cli_sgr(x->cli, stderr, PIER_CLI_RESET));
    p += n + (nl ? 1 : 0);
  }
  if (x->live && x->running[0]) draw_spinner(x);
  fflush(stderr);
}

/* ---- one step's line ------------------------------------------------------------------------ */

static void usage_text(const cJSON *rec, char *out, size_t cap) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(rec, "usage");
  double in = pier_json_num(u, "prompt_tokens", 0), outp = pier_json_num(u, "completion_tokens", 0);
  double cost = pier_json_num(u, "cost_usd", 0);
  int n = 0;
  out[0] = '\0';
  if (in > 0 || outp > 0) n = snprintf(out, cap, "  tokens %.0f→%.0f", in, outp);
  if (cost > 0 && n >= 0 && (size_t)n < cap) snprintf(out + n, cap - (size_t)n, "  $%.6f", cost);
}

static void step_line(const pier_cli *cli, FILE *f, const char *name, const cJSON *rec) {
  const char *st = pier_json_str(rec, "status");
  const char *act = pier_json_str(rec, "activity");
  bool ok = st && !strcmp(st, "completed");
  const char *mark = ok ? "✓" : st && !strcmp(st, "skipped") ? "-" : st && !strcmp(st, "running") ? "•" : "✗";
  char dur[32] = "", usage[96];
  double secs = pier_json_num(rec, "duration_seconds", -1);
  if (secs >= 0) pier_cli_fmt_duration(secs, dur, sizeof dur);
  usage_text(rec, usage, sizeof usage);
  int style = pier_cli_status_style(st);
  fprintf(f, "%s%s %-*s%s %-14s %s%-9s%s %7s%s\n", pier_cli_sgr(cli, f, style), mark, NAME_COL, name,
          pier_cli_sgr(cli, f, PIER_CLI_RESET), act ? act : "", pier_cli_sgr(cli, f, style), st ? st : "?",
          pier_cli_sgr(cli, f, PIER_CLI_RESET), dur, usage);
  const char *err = pier_json_str(rec, "error");
  if (err && !ok) fprintf(f, "  %s%s%s\n", pier_cli_sgr(cli, f, PIER_CLI_RED), err, pier_cli_sgr(cli, f, PIER_CLI_RESET));
}

void pier_cli_traj_steps(const pier_cli *cli, FILE *f, const cJSON *traj) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(traj, "steps");
  const cJSON *order = cJSON_GetObjectItemCaseSensitive(traj, "total_steps"), *n;
  cJSON_ArrayForEach(n, order) {
    const cJSON *rec = cJSON_IsString(n) ? cJSON_GetObjectItemCaseSensitive(steps, n->valuestring) : NULL;
    if (rec) step_line(cli, f, n->valuestring, rec);
  }
}

/* ---- the result -------------------------------------------------------------------------------- */

/* The outputs of the last step that has any. */
static const cJSON *final_outputs(const cJSON *traj) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(traj, "steps");
  const cJSON *order = cJSON_GetObjectItemCaseSensitive(traj, "total_steps");
  for (int i = cJSON_GetArraySize(order) - 1; i >= 0; i--) {
    const cJSON *n = cJSON_GetArrayItem(order, i);
    const cJSON *rec = cJSON_IsString(n) ? cJSON_GetObjectItemCaseSensitive(steps, n->valuestring) : NULL;
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(rec, "outputs");
    if (cJSON_IsObject(out) && out->child) return out;
  }
  return NULL;
}

int pier_cli_traj_result(pier_cli *cli, const cJSON *traj, bool brief) {
  const char *st = pier_json_str(traj, "status");
  if (st && (!strcmp(st, "pending") || !strcmp(st, "running"))) return PIER_CLI_EXIT_OK; /* nothing yet */
  const cJSON *out = final_outputs(traj);
  const char *text = pier_json_str(out, "text");
  if (text) {
    size_t n = strlen(text);
    fwrite(text, 1, n, stdout);
    if (!n || text[n - 1] != '\n') fputc('\n', stdout);
  } else if (out && pier_cli_status_exit(st) == 0) {
    pier_cli_print_json(stdout, out);
  }
  const char *err = brief ? NULL : pier_json_str(traj, "error");
  if (pier_cli_status_exit(st) != 0)
    pier_cli_err(cli, "run %s %s%s%s", pier_json_str(traj, "trajectory_id") ? pier_json_str(traj, "trajectory_id") : "",
                 st ? st : "ended without a status", err ? ": " : "", err ? err : "");
  return pier_cli_status_exit(st);
}

/* ---- live view ------------------------------------------------------------------------------- */

static void clear_line(follow_ctx *x) {
  if (!x->line_open) return;
  fputs("\r\033[K", stderr);
  x->line_open = false;
}

static void draw_spinner(follow_ctx *x) {
  if (!x->live || !x->running[0]) return;
  char el[32];
  pier_cli_fmt_duration((double)(pier_mono_ms() - x->started_ms) / 1000.0, el, sizeof el);
  fprintf(stderr, "\r\033[K%s%s %-*s%s %-14s %s%-9s%s %7s", pier_cli_sgr(x->cli, stderr, PIER_CLI_YELLOW),
          spinner[x->frame++ % 10], NAME_COL, x->running, pier_cli_sgr(x->cli, stderr, PIER_CLI_RESET), x->activity,
          pier_cli_sgr(x->cli, stderr, PIER_CLI_YELLOW), "running", pier_cli_sgr(x->cli, stderr, PIER_CLI_RESET), el);
  fflush(stderr);
  x->line_open = true;
}

static void on_tick(void *arg) { draw_spinner(arg); }

static bool was_shown(const follow_ctx *x, const char *name) {
  const cJSON *n;
  cJSON_ArrayForEach(n, x->shown) if (!strcmp(n->valuestring, name)) return true;
  return false;
}

static void print_final(follow_ctx *x, const char *name, const cJSON *rec) {
  cJSON_AddItemToArray(x->shown, cJSON_CreateString(name));
  if (x->quiet) return;
  clear_line(x);
  step_line(x->cli, stderr, name, rec);
  fflush(stderr);
}

/* Print the pending final lines that are next in order; a step that ended
 * unseen (before the stream attached) holds the later ones back until the
 * final document brings its record. */
static void flush_pending(follow_ctx *x) {
  const cJSON *n;
  cJSON_ArrayForEach(n, x->order) {
    if (!cJSON_IsString(n) || was_shown(x, n->valuestring)) continue;
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(x->pending, n->valuestring);
    if (!rec) break;
    print_final(x, n->valuestring, rec);
  }
  for (cJSON *p = x->pending->child; p; p = p->next) /* steps outside total_steps */
    if (!was_shown(x, p->string) && !cJSON_GetArrayItem(x->order, 0)) print_final(x, p->string, p);
  if (x->live && x->running[0]) draw_spinner(x);
}

static void step_ended(follow_ctx *x, const char *name, const cJSON *rec) {
  if (was_shown(x, name) || cJSON_GetObjectItemCaseSensitive(x->pending, name)) return;
  cJSON_AddItemToObject(x->pending, name, cJSON_Duplicate(rec, 1));
}

/* true when every step before `name` has its final line printed. */
static bool earlier_shown(const follow_ctx *x, const char *name) {
  const cJSON *n;
  cJSON_ArrayForEach(n, x->order) {
    if (!cJSON_IsString(n) || !strcmp(n->valuestring, name)) return true;
    if (!was_shown(x, n->valuestring)) return false;
  }
  return true;
}

/* A step in flight: from its step_started event, or found running in the
 * document read before the stream attached (then its clock started earlier). */
static void on_step_started(follow_ctx *x, const cJSON *step) {
  const char *name = pier_json_str(step, "key"), *act = pier_json_str(step, "activity");
  if (!name || !strcmp(x->running, name)) return;
  snprintf(x->running, sizeof x->running, "%s", name);
  snprintf(x->activity, sizeof x->activity, "%s", act ? act : "");
  x->started_ms = pier_mono_ms();
  double created = pier_cli_iso_seconds(pier_json_str(step, "created"));
  double ago_ms = created > 0 ? (double)pier_now_us() / 1000.0 - created * 1000.0 : 0;
  if (ago_ms > 0 && ago_ms < (double)x->started_ms) x->started_ms -= (uint64_t)ago_ms;
  if (x->quiet) return;
  if (x->live) draw_spinner(x);
  else if (earlier_shown(x, name)) fprintf(stderr, "• %-*s %-14s %s\n", NAME_COL, name, x->activity, "running");
  fflush(stderr);
}

/* The step an active run is on when we attach: the stream only tells what
 * happens next, and the stored document may not record a step until it ends,
 * so it is the first step in order that has not ended. */
static void in_flight(follow_ctx *x, const cJSON *doc) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(doc, "steps"), *n;
  cJSON_ArrayForEach(n, x->order) {
    if (!cJSON_IsString(n) || was_shown(x, n->valuestring) ||
        cJSON_GetObjectItemCaseSensitive(x->pending, n->valuestring))
      continue;
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(steps, n->valuestring);
    cJSON *guess = rec ? NULL : cJSON_CreateObject();
    if (guess) {
      const cJSON *conf = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "step_configs"),
                                                           n->valuestring);
      cJSON_AddStringToObject(guess, "key", n->valuestring);
      if (pier_json_str(conf, "activity")) cJSON_AddStringToObject(guess, "activity", pier_json_str(conf, "activity"));
    }
    on_step_started(x, rec ? rec : guess);
    cJSON_Delete(guess);
    return;
  }
}

/* Every ended step of a trajectory document into pending, then print. */
static void take_doc(follow_ctx *x, const cJSON *doc) {
  const cJSON *order = cJSON_GetObjectItemCaseSensitive(doc, "total_steps");
  if (cJSON_IsArray(order) && cJSON_GetArraySize(order) >= cJSON_GetArraySize(x->order)) {
    cJSON_Delete(x->order);
    x->order = cJSON_Duplicate(order, 1);
  }
  const cJSON *rec;
  cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(doc, "steps")) {
    const char *st = pier_json_str(rec, "status");
    if (st && strcmp(st, "running") && strcmp(st, "pending")) step_ended(x, rec->string, rec);
  }
  flush_pending(x);
  const char *st = pier_json_str(doc, "status");
  if (st && (!strcmp(st, "pending") || !strcmp(st, "running"))) in_flight(x, doc);
}

static int on_event(void *arg, const char *event, const char *data, size_t len) {
  follow_ctx *x = arg;
  if (!strcmp(event, "end")) {
    x->ended = true;
    return pier_buf_append(&x->end_doc, data, len) == 0 ? 0 : PIER_CLI_EXIT_FAIL;
  }
  if (!strcmp(event, "shutdown")) {
    x->shutdown = true;
    return 0;
  }
  cJSON *d = pier_json_parse(pier_slice_make(data, len), 64, NULL, 0);
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(d, "step");
  const char *name = pier_json_str(step, "key");
  if (!strcmp(event, "step_started")) {
    on_step_started(x, step);
  } else if (!strcmp(event, "step_progress")) {
    on_progress(x, pier_json_str(d, "text"));
  } else if ((!strcmp(event, "step_completed") || !strcmp(event, "step_failed")) && name) {
    if (!strcmp(x->running, name)) x->running[0] = '\0';
    step_ended(x, name, step);
    flush_pending(x);
  }
  cJSON_Delete(d);
  return 0;
}

static void summary(follow_ctx *x, const cJSON *doc) {
  const char *st = pier_json_str(doc, "status");
  double t0 = pier_cli_iso_seconds(pier_json_str(doc, "created")), t1 = pier_cli_iso_seconds(pier_json_str(doc, "ended"));
  char dur[32] = "";
  if (t0 > 0 && t1 >= t0) pier_cli_fmt_duration(t1 - t0, dur, sizeof dur);
  int style = pier_cli_status_style(st);
  fprintf(stderr, "%srun %s %s%s%s%s\n", pier_cli_sgr(x->cli, stderr, style), pier_json_str(doc, "trajectory_id"),
          st ? st : "ended", dur[0] ? " in " : "", dur, pier_cli_sgr(x->cli, stderr, PIER_CLI_RESET));
}

/* The end: the last step lines, a summary, then the outputs. doc_raw is the
 * final trajectory's JSON text. */
static int conclude(follow_ctx *x, pier_slice doc_raw) {
  cJSON *doc = pier_json_parse(doc_raw, 128, NULL, 0);
  if (!doc) {
    pier_cli_err(x->cli, "the final trajectory is not valid JSON");
    return PIER_CLI_EXIT_SERVER;
  }
  x->running[0] = '\0';
  take_doc(x, doc);
  clear_line(x);
  int rc;
  if (x->cli->json) {
    fwrite(doc_raw.ptr, 1, doc_raw.len, stdout);
    fputc('\n', stdout);
    rc = pier_cli_status_exit(pier_json_str(doc, "status"));
  } else {
    if (!x->quiet) summary(x, doc);
    rc = pier_cli_traj_result(x->cli, doc, !x->quiet);
  }
  cJSON_Delete(doc);
  return rc;
}

static int finish(follow_ctx *x, const char *ref) {
  clear_line(x);
  if (!x->ended) {
    if (x->shutdown) pier_cli_err(x->cli, "the server is shutting down; the run resumes when it restarts");
    else pier_cli_err(x->cli, "the event stream ended before the run did");
    pier_cli_hint(x->cli, "follow it again with: pier trajectory follow %s", ref);
    return PIER_CLI_EXIT_SERVER;
  }
  return conclude(x, pier_buf_slice(&x->end_doc));
}

static bool is_active(const char *status) { return status && (!strcmp(status, "pending") || !strcmp(status, "running")); }

int pier_cli_follow(pier_cli *cli, const char *coll, const char *task, const char *id, bool quiet) {
  char path[PATH_CAP], ref[1024];
  if (pier_cli_path(path, sizeof path, "/api/v1/db/trajectory", coll, task, id, NULL) != 0)
    return pier_cli_usage_error(cli, "names too long");
  snprintf(ref, sizeof ref, "%s/%s/%s", coll, task, id);
  follow_ctx x = {.cli = cli, .quiet = quiet, .live = cli->tty_err && !quiet, .shown = cJSON_CreateArray(),
                  .order = cJSON_CreateArray(), .pending = cJSON_CreateObject()};
  pier_buf_init(&x.end_doc, PIER_CLI_BODY_BYTES_MAX);
  pier_cli_resp r;
  /* what already happened, in order; an ended run needs no stream */
  int rc = pier_cli_call(cli, "GET", path, NULL, &r);
  if (!rc && !is_active(pier_json_str(r.json, "status"))) {
    rc = conclude(&x, pier_buf_slice(&r.body));
  } else if (!rc) {
    take_doc(&x, r.json);
    pier_cli_resp_dispose(&r);
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "/events");
    rc = pier_cli_stream(cli, "GET", path, NULL, on_event, on_tick, &x, &r);
    if (rc == 0) rc = finish(&x, ref);
    else clear_line(&x);
  }
  pier_cli_resp_dispose(&r);
  pier_buf_dispose(&x.end_doc);
  cJSON_Delete(x.shown);
  cJSON_Delete(x.order);
  cJSON_Delete(x.pending);
  return rc;
}
