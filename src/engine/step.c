/* step.c — the step object activities work with, and redaction of secrets
 * from what the trajectory records. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "engine/engine_int.h"

pier_step *pier_step_new(pier_run *r, const char *name, const pier_activity *act, cJSON *inputs) {
  pier_step *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->run = r;
  s->name = strdup(name);
  s->act = act;
  s->inputs = inputs;
  s->outputs = cJSON_CreateObject();
  s->started_us = pier_now_us();
  pier_buf_init(&s->progress, PIER_STEP_PROGRESS_MAX);
  return s;
}

void pier_step_free(pier_step *s) {
  if (!s) return;
  cJSON_Delete(s->inputs);
  cJSON_Delete(s->outputs);
  cJSON_Delete(s->attempts);
  free(s->goto_step);
  pier_buf_dispose(&s->progress);
  free(s->name);
  free(s);
}

void pier_step_cancel_ops(pier_step *s) {
  while (s->ops) {
    pier_op *op = s->ops;
    s->ops = op->next;
    op->next = NULL;
    op->cancel(op);
  }
}

void pier_step_op_add(pier_step *s, pier_op *op) {
  op->next = s->ops;
  s->ops = op;
}

void pier_step_op_remove(pier_step *s, pier_op *op) {
  for (pier_op **p = &s->ops; *p; p = &(*p)->next)
    if (*p == op) {
      *p = op->next;
      op->next = NULL;
      return;
    }
}

const cJSON *pier_step_inputs(const pier_step *s) { return s->inputs; }
cJSON *pier_step_outputs(pier_step *s) { return s->outputs; }
const char *pier_step_name(const pier_step *s) { return s->name; }
const char *pier_step_run_id(const pier_step *s) { return s->run->id; }
bool pier_step_run_resumed(const pier_step *s) { return s->run->restored; }
const char *pier_step_collection(const pier_step *s) { return s->run->collection; }
int64_t pier_step_collection_id(const pier_step *s) { return s->run->collection_id; }
const char *pier_step_task(const pier_step *s) { return s->run->task; }
const cJSON *pier_step_env(const pier_step *s) { return s->run->env; }
const cJSON *pier_step_server_env(const pier_step *s) { return s->run->e->cfg.server_env; }
pier_executor *pier_step_executor(pier_step *s) { return s->run->ex; }
pier_engine *pier_step_engine(pier_step *s) { return s->run->e; }
const pier_llm_limits *pier_step_limits(const pier_step *s) { return &s->run->e->cfg.llm; }
const char *pier_step_data_dir(const pier_step *s) { return s->run->e->cfg.data_dir; }
const pier_engine_config *pier_step_engine_config(const pier_step *s) { return &s->run->e->cfg; }
const cJSON *pier_step_config(const pier_step *s) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(s->run->doc, "steps");
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(steps, s->name), "config");
}

bool pier_step_stopping(const pier_step *s) {
  pier_engine *e = s->run->e;
  pthread_mutex_lock(&e->lock); /* set under the lock by the main thread */
  bool stopping = e->shutting_down;
  pthread_mutex_unlock(&e->lock);
  return stopping;
}

void *pier_step_state(pier_step *s) { return s->state; }
void pier_step_set_state(pier_step *s, void *state) { s->state = state; }
bool pier_step_cancelled(const pier_step *s) { return s->cancelled; }

void pier_step_add_usage(pier_step *s, const char *model, const pier_usage *u) {
  s->usage.prompt_tokens += u->prompt_tokens;
  s->usage.completion_tokens += u->completion_tokens;
  s->usage.total_tokens += u->total_tokens ? u->total_tokens : u->prompt_tokens + u->completion_tokens;
  s->usage.cache_read_tokens += u->cache_read_tokens;
  s->usage.cache_creation_tokens += u->cache_creation_tokens;
  s->cost_usd += pier_price_cost(model, u);
  s->api_calls++;
}

void pier_step_progress(pier_step *s, pier_slice text) {
  if (s->ended || s->cancelled || !text.len) return;
  /* an agent's output may print what its environment holds: the collection's
   * secret values never reach a watcher */
  char *raw = s->run->env ? pier_slice_dup(text) : NULL, *clean = raw ? pier_redact_str(raw, s->run->env) : NULL;
  if (clean) text = pier_slice_from(clean);
  (void)!pier_buf_append(&s->progress, text.ptr, text.len); /* past the cap: live only */
  pier_run_notify_progress(s->run, s->name, text);
  free(clean);
  free(raw);
}

void pier_step_set_usage(pier_step *s, const pier_usage *u, double cost_usd, int api_calls) {
  s->usage = *u;
  s->cost_usd = cost_usd;
  s->api_calls = api_calls;
}

void pier_step_usage_json(const pier_step *s, cJSON *u) {
  cJSON_AddNumberToObject(u, "prompt_tokens", (double)s->usage.prompt_tokens);
  cJSON_AddNumberToObject(u, "completion_tokens", (double)s->usage.completion_tokens);
  cJSON_AddNumberToObject(u, "total_tokens", (double)s->usage.total_tokens);
  cJSON_AddNumberToObject(u, "cache_read_tokens", (double)s->usage.cache_read_tokens);
  cJSON_AddNumberToObject(u, "cache_creation_tokens", (double)s->usage.cache_creation_tokens);
  cJSON_AddNumberToObject(u, "cost_usd", s->cost_usd);
  cJSON_AddNumberToObject(u, "api_calls", s->api_calls);
}

void pier_step_add_attempt(pier_step *s, const char *model, bool ok, const char *error) {
  if (!s->attempts) s->attempts = cJSON_CreateArray();
  cJSON *a = cJSON_CreateObject();
  cJSON_AddStringToObject(a, "model", model);
  cJSON_AddStringToObject(a, "status", ok ? "ok" : "failed");
  if (error) cJSON_AddStringToObject(a, "error", error);
  cJSON_AddItemToArray(s->attempts, a);
}

int pier_step_goto(pier_step *s, const char *step_name) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(s->run->doc, "total_steps");
  int n = cJSON_GetArraySize(steps);
  for (int i = s->run->step_index + 1; i < n; i++) {
    if (strcmp(cJSON_GetArrayItem(steps, i)->valuestring, step_name) != 0) continue;
    free(s->goto_step);
    s->goto_step = strdup(step_name);
    return s->goto_step ? 0 : PIER_ENOMEM;
  }
  return PIER_ENOTFOUND;
}

void pier_step_done(pier_step *s) {
  if (s->ended || s->cancelled) return;
  s->ended = true;
  pier_step_cancel_ops(s); /* nothing may call back into a finished step */
  pier_run_step_ended(s->run, s, "completed", NULL);
}

void pier_step_fail(pier_step *s, const char *fmt, ...) {
  if (s->ended || s->cancelled) return;
  /* While the server stops, failures caused by the stop (children and calls
   * cut short) are not the step's: leave it running; it resumes after restart. */
  if (pier_step_stopping(s)) return;
  s->ended = true;
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pier_step_cancel_ops(s);
  pier_run_step_ended(s->run, s, "failed", msg);
}

/* ---- redaction ------------------------------------------------------------------- */

#define SECRET_MIN 6 /* shorter values (regions, flags) are not treated as secrets */

static char *redact_str(const char *in, const cJSON *env) {
  char *out = NULL;
  const char *cur = in;
  for (const cJSON *v = env ? env->child : NULL; v; v = v->next) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) < SECRET_MIN || !strstr(cur, v->valuestring)) continue;
    pier_buf b;
    pier_buf_init(&b, 0);
    size_t n = strlen(v->valuestring);
    for (const char *p = cur, *hit; (hit = strstr(p, v->valuestring)); p = hit + n) {
      if (pier_buf_append(&b, p, (size_t)(hit - p)) || pier_buf_append_cstr(&b, "[REDACTED]")) break;
      if (!strstr(hit + n, v->valuestring) && pier_buf_append_cstr(&b, hit + n)) break;
    }
    free(out);
    out = pier_buf_detach(&b, NULL);
    cur = out;
  }
  return out;
}

char *pier_redact_str(const char *in, const cJSON *env) { return redact_str(in, env); }

static void redact_in_place(cJSON *v, const cJSON *env) {
  if (cJSON_IsString(v)) {
    char *r = redact_str(v->valuestring, env);
    if (r) {
      cJSON_SetValuestring(v, r);
      free(r);
    }
    return;
  }
  for (cJSON *c = v ? v->child : NULL; c; c = c->next) redact_in_place(c, env);
}

cJSON *pier_redact(const cJSON *v, const cJSON *env) {
  cJSON *copy = cJSON_Duplicate(v, 1);
  if (copy && env) redact_in_place(copy, env);
  return copy;
}
