/* chat_record.c — every /v1/chat/completions call becomes a one-step
 * trajectory under task `_chat` (or jetty.task): model, messages (large
 * base64 cut out, secret values redacted), the answer, finish_reason, usage,
 * cost and latency. Written off the request path: the write is queued and
 * nothing waits for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#define STRING_KEEP_MAX (32 * 1024)

extern cJSON *pier_redact(const cJSON *v, const cJSON *env);
extern double pier_price_cost(const char *model, const pier_usage *u);

typedef struct record_job {
  pier_traj t;
  char *doc;
  char task[160];
} record_job;

/* data: URLs are replaced by a note of their size; strings over 32 KiB keep
 * their first 32 KiB, ending in a note of how much was cut. */
static void shrink(cJSON *v) {
  if (cJSON_IsString(v)) {
    size_t n = strlen(v->valuestring);
    char note[96];
    if (n > 5 && strncmp(v->valuestring, "data:", 5) == 0 && strstr(v->valuestring, ";base64,")) {
      const char *comma = strchr(v->valuestring, ',');
      snprintf(note, sizeof note, "%.*s[%zu bytes of base64 redacted]", (int)(comma - v->valuestring + 1),
               v->valuestring, n - (size_t)(comma - v->valuestring + 1));
      cJSON_SetValuestring(v, note);
    } else if (n > STRING_KEEP_MAX) { /* keep the head, say what was cut */
      int k = snprintf(note, sizeof note, "...[%zu more bytes not recorded]", n - STRING_KEEP_MAX);
      size_t keep = STRING_KEEP_MAX - (size_t)k;
      while (keep && ((unsigned char)v->valuestring[keep] & 0xC0) == 0x80) keep--; /* whole characters */
      memcpy(v->valuestring + keep, note, (size_t)k + 1);
    }
    return;
  }
  for (cJSON *c = v ? v->child : NULL; c; c = c->next) shrink(c);
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
  cJSON_free(j->doc);
  free(j);
}

static cJSON *step_record(pier_chat_ctx *x, const pier_chat_result *res, int64_t start_us, int64_t end_us) {
  cJSON *st = cJSON_CreateObject();
  cJSON_AddStringToObject(st, "activity", "completion");
  cJSON_AddStringToObject(st, "key", "completion");
  cJSON_AddStringToObject(st, "status", res->ok ? "completed" : "failed");
  cJSON *in = cJSON_AddObjectToObject(st, "inputs");
  cJSON_AddStringToObject(in, "model", x->model);
  cJSON *msgs = pier_redact(cJSON_GetObjectItemCaseSensitive(x->body, "messages"), x->env);
  shrink(msgs);
  cJSON_AddItemToObject(in, "messages", msgs ? msgs : cJSON_CreateArray());
  static const char *params[] = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "stop", "tools",
                                 "tool_choice", "response_format", "model_provider", "fallbacks", NULL};
  for (int i = 0; params[i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->body, params[i]);
    if (v) cJSON_AddItemToObject(in, params[i], cJSON_Duplicate(v, 1));
  }
  cJSON_AddBoolToObject(in, "stream", x->stream);
  cJSON *out = cJSON_AddObjectToObject(st, "outputs");
  char *text = pier_slice_dup(res->output);
  cJSON_AddStringToObject(out, "text", text ? text : "");
  free(text);
  cJSON_AddItemToObject(out, "finish_reason", res->finish_reason ? cJSON_CreateString(res->finish_reason) : cJSON_CreateNull());
  cJSON_AddStringToObject(out, "provider", x->route.provider[0] ? x->route.provider : "mock");
  cJSON_AddStringToObject(out, "model", x->answering_model ? x->answering_model : x->model);
  cJSON_AddItemToObject(st, "error", res->ok ? cJSON_CreateNull() : cJSON_CreateString(res->error.message));
  cJSON *u = cJSON_AddObjectToObject(st, "usage");
  cJSON_AddNumberToObject(u, "prompt_tokens", (double)res->usage.prompt_tokens);
  cJSON_AddNumberToObject(u, "completion_tokens", (double)res->usage.completion_tokens);
  cJSON_AddNumberToObject(u, "total_tokens", (double)res->usage.total_tokens);
  cJSON_AddNumberToObject(u, "cost_usd", pier_price_cost(x->route.model_id[0] ? x->route.model_id : x->model, &res->usage));
  cJSON_AddNumberToObject(u, "api_calls", res->attempts);
  cJSON_AddNumberToObject(st, "latency_ms", (double)res->latency_ms);
  if (res->ttft_ms >= 0) cJSON_AddNumberToObject(st, "time_to_first_token_ms", (double)res->ttft_ms);
  pier_api_add_time(st, "created", start_us);
  pier_api_add_time(st, "ended", end_us);
  cJSON_AddNumberToObject(st, "duration_seconds", (double)(end_us - start_us) / 1e6);
  return st;
}

void pier_chat_record(pier_chat_ctx *x, const pier_chat_result *res) {
  pier_http_req *req = x->req;
  if (AUTH(req)->is_run_token && (res->usage.total_tokens || res->usage.prompt_tokens)) /* metered by pier */
    pier_catalog_run_token_meter(APP(req)->catalog, AUTH(req)->token_hash, &res->usage,
                                 pier_price_cost(x->route.model_id[0] ? x->route.model_id : x->model, &res->usage));
  const cJSON *jetty = cJSON_GetObjectItemCaseSensitive(x->body, "jetty");
  const char *task = cJSON_IsObject(jetty) ? pier_json_str(jetty, "task") : NULL;
  if (!task || !pier_api_valid_task_name(pier_slice_from(task))) task = "_chat";
  record_job *j = calloc(1, sizeof *j);
  if (!j) return;
  int64_t end_us = pier_now_us(), start_us = end_us - res->latency_ms * 1000;
  unsigned char raw[4];
  pier_random(raw, sizeof raw);
  pier_hex(raw, sizeof raw, j->t.id);
  snprintf(j->task, sizeof j->task, "%s", task);
  cJSON *d = cJSON_CreateObject();
  char buf[400];
  snprintf(buf, sizeof buf, "%s/%s", x->col.name, task);
  cJSON_AddStringToObject(d, "name", buf);
  cJSON_AddStringToObject(d, "trajectory_id", j->t.id);
  cJSON_AddStringToObject(d, "collection", x->col.name);
  cJSON_AddStringToObject(d, "task", task);
  snprintf(buf, sizeof buf, "%s/%s/0000", x->col.name, task);
  cJSON_AddStringToObject(d, "storage_path", buf);
  cJSON_AddStringToObject(d, "status", res->ok ? "completed" : "failed");
  pier_api_add_time(d, "created", start_us);
  pier_api_add_time(d, "updated", end_us);
  cJSON_AddStringToObject(d, "author", AUTH(req)->is_admin ? "admin" : "api-key");
  cJSON_AddItemToObject(d, "init_params", cJSON_CreateObject());
  cJSON *steps = cJSON_AddObjectToObject(d, "steps");
  cJSON_AddItemToObject(steps, "completion", step_record(x, res, start_us, end_us));
  cJSON *total = cJSON_AddArrayToObject(d, "total_steps");
  cJSON_AddItemToArray(total, cJSON_CreateString("completion"));
  cJSON *done = cJSON_AddArrayToObject(d, "completed_steps");
  if (res->ok) cJSON_AddItemToArray(done, cJSON_CreateString("completion"));
  cJSON_AddItemToObject(d, "labels", cJSON_CreateArray());
  cJSON_AddItemToObject(d, "error", res->ok ? cJSON_CreateNull() : cJSON_CreateString(res->error.message));
  j->doc = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  j->t.collection_id = x->col.id;
  j->t.task = j->task;
  j->t.status = res->ok ? "completed" : "failed";
  j->t.doc = j->doc;
  j->t.created_us = start_us;
  j->t.updated_us = end_us;
  j->t.duration_s = (double)res->latency_ms / 1e3;
  j->t.create = true;
  if (!j->doc || pier_store_submit(APP(req)->store, PIER_STORE_WRITE, pier_http_loop_mailbox(req->loop), record_work,
                                   record_done, j) != 0) {
    cJSON_free(j->doc);
    free(j);
  }
}
