/* chat_record.c — every /v1/chat/completions call becomes a one-step
 * trajectory under task `_chat` (or jetty.task): model, messages (large
 * base64 cut out, secret values redacted), the answer, finish_reason, usage,
 * cost and latency. Written off the request path: the write is queued and
 * nothing waits for it. */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#define STRING_KEEP_MAX (32 * 1024)

extern char *pier_redact_str(const char *in, const cJSON *env);
extern double pier_price_cost(const char *model, const pier_usage *u);

/* Records refused because the store's writer was too far behind: counted, and
 * logged at most once a minute. */
static atomic_uint_fast64_t dropped;
static atomic_int_fast64_t dropped_logged_ms;

static void pier_chat_record_dropped(void) {
  uint64_t n = atomic_fetch_add(&dropped, 1) + 1;
  int64_t now = (int64_t)pier_mono_ms(), last = atomic_load(&dropped_logged_ms);
  if (now - last >= 60000 && atomic_compare_exchange_strong(&dropped_logged_ms, &last, now))
    PIER_LOG(PIER_LOG_WARN, "chat", "the store is behind: %llu chat trajectories not recorded so far",
             (unsigned long long)n);
}

typedef struct record_job {
  pier_traj t;
  char *doc;
  char task[160];
} record_job;

/* ---- a direct JSON writer (no cJSON tree, no cJSON_Print: this runs on the
 * request's loop for every call) ------------------------------------------------ */

typedef struct jw {
  pier_buf b;
  const cJSON *env; /* secret values to redact, or NULL */
  int rc;
} jw;

static void raw(jw *w, const char *s) {
  if (!w->rc) w->rc = pier_buf_append_cstr(&w->b, s);
}

static void str(jw *w, const char *s, size_t n) {
  if (!w->rc) w->rc = pier_buf_append_json_str(&w->b, pier_slice_make(s, n));
}

/* ,"k": — k is one of our own literal names or a request's key; literal
 * names need no escaping, so only keys with a byte to escape take the slow way. */
static void key(jw *w, const char *k) {
  if (w->rc) return;
  size_t n = strlen(k);
  bool plain = true;
  for (size_t i = 0; i < n && plain; i++) plain = (unsigned char)k[i] >= 0x20 && k[i] != '"' && k[i] != '\\';
  bool comma = w->b.len && w->b.ptr[w->b.len - 1] != '{' && w->b.ptr[w->b.len - 1] != '[';
  if (!plain) {
    if (comma) raw(w, ",");
    str(w, k, n);
    raw(w, ":");
    return;
  }
  if ((w->rc = pier_buf_reserve(&w->b, n + 4))) return;
  char *p = w->b.ptr + w->b.len;
  if (comma) *p++ = ',';
  *p++ = '"';
  memcpy(p, k, n);
  p += n;
  *p++ = '"';
  *p++ = ':';
  *p = '\0';
  w->b.len = (size_t)(p - w->b.ptr);
}

static void num(jw *w, double v) {
  char tmp[40];
  if (!isfinite(v)) /* JSON has no NaN or infinities */
    snprintf(tmp, sizeof tmp, "null");
  else if (fabs(v) < 9007199254740992.0 && v == floor(v)) /* exact integers, tested before any cast */
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  else
    snprintf(tmp, sizeof tmp, "%.17g", v);
  raw(w, tmp);
}

static void kstr(jw *w, const char *k, const char *v) {
  key(w, k);
  if (v) str(w, v, strlen(v));
  else raw(w, "null");
}

static void knum(jw *w, const char *k, double v) {
  key(w, k);
  num(w, v);
}

static void ktime(jw *w, const char *k, int64_t us) {
  char iso[32];
  pier_iso8601(us, iso);
  kstr(w, k, iso);
}

/* A string as recorded: secret values redacted; a data: URL replaced by a note
 * of its size; over 32 KiB, the head and a note of how much was cut. */
static void recorded_str(jw *w, const char *s) {
  char note[96];
  size_t n = strlen(s);
  if (n > 5 && strncmp(s, "data:", 5) == 0 && strstr(s, ";base64,")) { /* dropped: only its head is redacted */
    const char *comma = strchr(s, ',');
    snprintf(note, sizeof note, "%.*s[%zu bytes of base64 redacted]", (int)(comma - s + 1), s,
             n - (size_t)(comma - s + 1));
    char *clean = w->env ? pier_redact_str(note, w->env) : NULL;
    str(w, clean ? clean : note, strlen(clean ? clean : note));
    free(clean);
    return;
  }
  char *clean = w->env ? pier_redact_str(s, w->env) : NULL;
  const char *v = clean ? clean : s;
  n = strlen(v);
  if (n > STRING_KEEP_MAX) { /* keep the head (whole characters), say what was cut */
    int k = snprintf(note, sizeof note, "...[%zu more bytes not recorded]", n - STRING_KEEP_MAX);
    size_t keep = STRING_KEEP_MAX - (size_t)k;
    while (keep && ((unsigned char)v[keep] & 0xC0) == 0x80) keep--;
    if (!w->rc) w->rc = pier_buf_append_json_str_open(&w->b, pier_slice_make(v, keep));
    if (!w->rc) w->rc = pier_buf_append(&w->b, note, (size_t)k);
    raw(w, "\"");
  } else {
    str(w, v, n);
  }
  free(clean);
}

static void value(jw *w, const cJSON *v, int depth) {
  if (depth > 64) { /* parsed requests are depth-capped already */
    raw(w, "null");
    return;
  }
  if (cJSON_IsString(v)) {
    recorded_str(w, v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    num(w, v->valuedouble);
  } else if (cJSON_IsBool(v)) {
    raw(w, cJSON_IsTrue(v) ? "true" : "false");
  } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
    bool obj = cJSON_IsObject(v);
    raw(w, obj ? "{" : "[");
    for (const cJSON *c = v->child; c; c = c->next) {
      if (obj) key(w, c->string ? c->string : "");
      else if (c != v->child) raw(w, ",");
      value(w, c, depth + 1);
    }
    raw(w, obj ? "}" : "]");
  } else {
    raw(w, "null");
  }
}

static void kvalue(jw *w, const char *k, const cJSON *v) {
  key(w, k);
  value(w, v, 0);
}

/* Insert only; on an id already taken (by any collection) draw another and
 * patch the 8 hex digits in place — ids have a fixed width. */
static int record_work(pier_db *db, void *arg) {
  record_job *j = arg;
  int rc = PIER_EEXISTS;
  for (int tries = 0; rc == PIER_EEXISTS && tries < 8; tries++) {
    if (tries) {
      unsigned char raw[4];
      char id[9];
      pier_random(raw, sizeof raw);
      pier_hex(raw, sizeof raw, id);
      char *at = strstr(j->doc, "\"trajectory_id\":\"");
      if (at) memcpy(at + 17, id, 8);
      memcpy(j->t.id, id, 9);
    }
    rc = db->ops->traj_put(db, &j->t);
  }
  return rc;
}

static void record_done(void *arg, int rc) {
  record_job *j = arg;
  if (rc) PIER_LOG(PIER_LOG_WARN, "chat", "could not record chat trajectory %s: %s", j->t.id, pier_strerror(rc));
  free(j->doc);
  free(j);
}

static void step_record(jw *w, pier_chat_ctx *x, const pier_chat_result *res, int64_t start_us, int64_t end_us) {
  raw(w, "{");
  kstr(w, "activity", "completion");
  kstr(w, "key", "completion");
  kstr(w, "status", res->ok ? "completed" : "failed");
  key(w, "inputs");
  raw(w, "{");
  kstr(w, "model", x->model);
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(x->body, "messages");
  key(w, "messages");
  if (msgs) value(w, msgs, 0);
  else raw(w, "[]");
  static const char *params[] = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "stop", "tools",
                                 "tool_choice", "response_format", "model_provider", "fallbacks", NULL};
  for (int i = 0; params[i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->body, params[i]);
    if (v) kvalue(w, params[i], v);
  }
  key(w, "stream");
  raw(w, x->stream ? "true" : "false");
  raw(w, "}");
  key(w, "outputs");
  raw(w, "{");
  key(w, "text");
  str(w, res->output.ptr ? res->output.ptr : "", res->output.len);
  kstr(w, "finish_reason", res->finish_reason);
  kstr(w, "provider", x->route.provider[0] ? x->route.provider : "mock");
  kstr(w, "model", x->answering_model ? x->answering_model : x->model);
  raw(w, "}");
  kstr(w, "error", res->ok ? NULL : res->error.message);
  key(w, "usage");
  raw(w, "{");
  knum(w, "prompt_tokens", (double)res->usage.prompt_tokens);
  knum(w, "completion_tokens", (double)res->usage.completion_tokens);
  knum(w, "total_tokens", (double)res->usage.total_tokens);
  knum(w, "cost_usd", pier_price_cost(x->route.model_id[0] ? x->route.model_id : x->model, &res->usage));
  knum(w, "api_calls", res->attempts);
  raw(w, "}");
  knum(w, "latency_ms", (double)res->latency_ms);
  if (res->ttft_ms >= 0) knum(w, "time_to_first_token_ms", (double)res->ttft_ms);
  ktime(w, "created", start_us);
  ktime(w, "ended", end_us);
  knum(w, "duration_seconds", (double)(end_us - start_us) / 1e6);
  raw(w, "}");
}

void pier_chat_record(pier_chat_ctx *x, const pier_chat_result *res) {
  pier_http_req *req = x->req;
  if (AUTH(req)->is_run_token && (res->usage.total_tokens || res->usage.prompt_tokens)) /* metered by pier */
    pier_catalog_run_token_meter(APP(req)->catalog, AUTH(req)->token_hash, &res->usage,
                                 pier_price_cost(x->route.model_id[0] ? x->route.model_id : x->model, &res->usage));
  if (!APP(req)->cfg.record_chat) return;
  const cJSON *jetty = cJSON_GetObjectItemCaseSensitive(x->body, "jetty");
  const char *task = cJSON_IsObject(jetty) ? pier_json_str(jetty, "task") : NULL;
  if (!task || !pier_api_valid_task_name(pier_slice_from(task))) task = "_chat";
  record_job *j = calloc(1, sizeof *j);
  if (!j) return;
  int64_t end_us = pier_now_us(), start_us = end_us - res->latency_ms * 1000;
  unsigned char rnd[4];
  pier_random(rnd, sizeof rnd);
  pier_hex(rnd, sizeof rnd, j->t.id);
  snprintf(j->task, sizeof j->task, "%s", task);
  jw w = {.env = x->env};
  pier_buf_init(&w.b, 0);
  w.rc = pier_buf_reserve(&w.b, 2048 + pier_buf_slice(&req->body).len);
  raw(&w, "{");
  key(&w, "name");
  if (!w.rc) w.rc = pier_buf_appendf(&w.b, "\"%s/%s\"", x->col.name, task); /* both validated names */
  kstr(&w, "trajectory_id", j->t.id);
  kstr(&w, "collection", x->col.name);
  kstr(&w, "task", task);
  key(&w, "storage_path");
  if (!w.rc) w.rc = pier_buf_appendf(&w.b, "\"%s/%s/0000\"", x->col.name, task);
  kstr(&w, "status", res->ok ? "completed" : "failed");
  ktime(&w, "created", start_us);
  ktime(&w, "updated", end_us);
  kstr(&w, "author", AUTH(req)->is_admin ? "admin" : "api-key");
  key(&w, "init_params");
  raw(&w, "{}");
  key(&w, "steps");
  raw(&w, "{");
  key(&w, "completion");
  step_record(&w, x, res, start_us, end_us);
  raw(&w, "}");
  key(&w, "total_steps");
  raw(&w, "[\"completion\"]");
  key(&w, "completed_steps");
  raw(&w, res->ok ? "[\"completion\"]" : "[]");
  key(&w, "labels");
  raw(&w, "[]");
  kstr(&w, "error", res->ok ? NULL : res->error.message);
  raw(&w, "}");
  if (w.rc) {
    pier_buf_dispose(&w.b);
    free(j);
    return;
  }
  j->doc = pier_buf_detach(&w.b, NULL);
  j->t.collection_id = x->col.id;
  j->t.task = j->task;
  j->t.status = res->ok ? "completed" : "failed";
  j->t.doc = j->doc;
  j->t.created_us = start_us;
  j->t.updated_us = end_us;
  j->t.duration_s = (double)res->latency_ms / 1e3;
  j->t.create = true;
  int rc = pier_store_submit(APP(req)->store, PIER_STORE_WRITE_OPTIONAL, pier_http_loop_mailbox(req->loop),
                             record_work, record_done, j);
  if (rc) {
    if (rc == PIER_EBUSY) pier_chat_record_dropped();
    free(j->doc);
    free(j);
  }
}
