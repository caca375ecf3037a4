/* run.c — one workflow run: the trajectory document, persistence after every
 * step, step sequencing and the end of the run. Everything here runs on the
 * run's loop; the document is only ever touched there. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/engine_int.h"
#include "engine/path.h"

static void next_step(pier_run *r);
static void finish(pier_run *r, const char *status, const char *error);

pier_run *pier_run_new(pier_engine *e, pier_executor *ex) {
  pier_run *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->e = e;
  r->ex = ex;
  atomic_init(&r->refs, 1);
  unsigned char raw[4];
  pier_random(raw, sizeof raw);
  pier_hex(raw, sizeof raw, r->id);
  pier_buf_init(&r->secrets_box, 0);
  return r;
}

void pier_run_free(pier_run *r) {
  if (r->step) pier_step_free(r->step);
  cJSON_Delete(r->doc);
  if (r->secrets) cJSON_Delete(r->secrets);
  cJSON_Delete(r->env);
  free(r->collection);
  free(r->task);
  free(r->parent_id);
  free(r->author);
  free(r->webhook_url);
  if (r->webhook_secret) sodium_memzero(r->webhook_secret, strlen(r->webhook_secret));
  free(r->webhook_secret);
  free(r->final_doc);
  pier_buf_dispose(&r->secrets_box);
  free(r);
}

static void set_str(cJSON *doc, const char *key, const char *v) {
  cJSON *n = v ? cJSON_CreateString(v) : cJSON_CreateNull();
  if (cJSON_GetObjectItemCaseSensitive(doc, key)) cJSON_ReplaceItemInObjectCaseSensitive(doc, key, n);
  else cJSON_AddItemToObject(doc, key, n);
}

static void set_time(cJSON *doc, const char *key, int64_t us) {
  char ts[32];
  pier_iso8601(us, ts);
  set_str(doc, key, ts);
}

static cJSON *dup_or(const cJSON *v, cJSON *(*make)(void)) { return v ? cJSON_Duplicate(v, 1) : make(); }

int pier_run_doc_init(pier_run *r, const pier_run_spec *s) {
  r->collection_id = s->collection_id;
  r->collection = strdup(s->collection);
  r->task = strdup(s->task);
  r->author = strdup(s->author ? s->author : "api");
  r->parent_id = s->parent_id ? strdup(s->parent_id) : NULL;
  r->webhook_url = s->webhook_url ? strdup(s->webhook_url) : NULL;
  r->webhook_secret = s->webhook_secret ? strdup(s->webhook_secret) : NULL;
  r->secrets = s->secret_params ? cJSON_Duplicate(s->secret_params, 1) : NULL;
  r->queued = s->queued;
  r->created_us = pier_now_us();
  cJSON *d = r->doc = cJSON_CreateObject();
  if (!r->collection || !r->task || !r->author || !d) return PIER_ENOMEM;
  char buf[600];
  snprintf(buf, sizeof buf, "%s/%s", s->collection, s->task);
  cJSON_AddStringToObject(d, "name", buf);
  cJSON_AddStringToObject(d, "trajectory_id", r->id);
  cJSON_AddStringToObject(d, "collection", s->collection);
  cJSON_AddStringToObject(d, "task", s->task);
  snprintf(buf, sizeof buf, "%s/%s/0000", s->collection, s->task);
  cJSON_AddStringToObject(d, "storage_path", buf);
  cJSON_AddStringToObject(d, "status", s->queued ? "pending" : "running");
  set_time(d, "created", r->created_us);
  set_time(d, "updated", r->created_us);
  cJSON_AddStringToObject(d, "author", r->author);
  cJSON_AddNullToObject(d, "metadata_uri");
  cJSON_AddNullToObject(d, "org_id");
  cJSON_AddItemToObject(d, "init_params", dup_or(s->init_params, cJSON_CreateObject));
  cJSON_AddItemToObject(d, "step_configs", dup_or(cJSON_GetObjectItemCaseSensitive(s->workflow, "step_configs"), cJSON_CreateObject));
  cJSON_AddItemToObject(d, "steps", cJSON_CreateObject());
  cJSON_AddItemToObject(d, "total_steps", dup_or(cJSON_GetObjectItemCaseSensitive(s->workflow, "steps"), cJSON_CreateArray));
  cJSON_AddItemToObject(d, "completed_steps", cJSON_CreateArray());
  cJSON_AddItemToObject(d, "labels", cJSON_CreateArray());
  cJSON_AddNullToObject(d, "error");
  cJSON_AddNullToObject(d, "triggered_by_routine_id");
  set_str(d, "webhook_url", s->webhook_url);
  if (s->parent_id) cJSON_AddStringToObject(d, "parent_trajectory_id", s->parent_id);
  if (s->parent_id && s->parent_step) { /* lets a resumed parent find this run again */
    cJSON_AddStringToObject(d, "parent_step", s->parent_step);
    cJSON_AddNumberToObject(d, "parent_item", s->parent_item);
  }
  return 0;
}

/* secret_params and the webhook secret, sealed together in their own column. */
int pier_run_seal_secrets(pier_run *r) {
  cJSON *box = cJSON_CreateObject();
  if (r->secrets) cJSON_AddItemReferenceToObject(box, "secret_params", r->secrets);
  if (r->webhook_secret) cJSON_AddStringToObject(box, "webhook_secret", r->webhook_secret);
  char *s = cJSON_PrintUnformatted(box);
  cJSON_Delete(box);
  if (!s) return PIER_ENOMEM;
  int rc = pier_seal(r->e->cfg.master_key, s, strlen(s), r->secrets_nonce, &r->secrets_box);
  sodium_memzero(s, strlen(s));
  cJSON_free(s);
  return rc;
}

/* ---- persistence ------------------------------------------------------------- */

typedef struct save_job {
  pier_run *r;
  pier_traj t;
  char *doc;
  char status[16]; /* copied: the document may change while the write is queued */
} save_job;

static int save_work(pier_db *db, void *arg) {
  save_job *j = arg;
  return db->ops->traj_put(db, &j->t);
}

static void save_done(void *arg, int rc) {
  save_job *j = arg;
  pier_run *r = j->r;
  if (!rc && j->t.create) r->stored = true;
  cJSON_free(j->doc);
  free(j);
  r->saving = false;
  void (*then)(pier_run *, int) = r->after_save;
  r->after_save = NULL;
  if (rc) PIER_LOG(PIER_LOG_ERROR, "engine", "run=%s could not be saved: %s", r->id, pier_strerror(rc));
  if (then) then(r, rc);
  pier_run_unref(r);
}

static double duration_of(const pier_run *r) {
  const char *st = pier_json_str(r->doc, "status");
  if (!st || !strcmp(st, "pending") || !strcmp(st, "running")) return -1;
  return (double)(pier_now_us() - r->created_us) / 1e6;
}

void pier_run_persist(pier_run *r, void (*then)(pier_run *r, int rc)) {
  save_job *j = calloc(1, sizeof *j);
  int64_t now = pier_now_us();
  set_time(r->doc, "updated", now);
  if (j) j->doc = cJSON_PrintUnformatted(r->doc);
  if (!j || !j->doc) {
    free(j);
    if (then) then(r, PIER_ENOMEM);
    return;
  }
  j->r = r;
  const char *st = pier_json_str(r->doc, "status");
  snprintf(j->status, sizeof j->status, "%s", st ? st : "running");
  j->t = (pier_traj){.collection_id = r->collection_id, .task = r->task, .status = j->status,
                     .doc = j->doc, .created_us = r->created_us, .updated_us = now, .duration_s = duration_of(r),
                     .create = !r->stored};
  snprintf(j->t.id, sizeof j->t.id, "%s", r->id);
  if (r->secrets_box.len) {
    j->t.secrets_box = (const unsigned char *)r->secrets_box.ptr;
    j->t.secrets_len = r->secrets_box.len;
    memcpy(j->t.secrets_nonce, r->secrets_nonce, sizeof j->t.secrets_nonce);
  }
  r->after_save = then;
  r->saving = true;
  pier_run_ref(r);
  if (pier_store_submit(r->e->store, PIER_STORE_WRITE, r->ex->mailbox, save_work, save_done, j) != 0) {
    r->saving = false;
    r->after_save = NULL;
    cJSON_free(j->doc);
    free(j);
    pier_run_unref(r);
    if (then) then(r, PIER_ECANCELLED);
  }
}

/* ---- start ---------------------------------------------------------------------- */

static void after_running_saved(pier_run *r, int rc) {
  (void)rc; /* a failed save is logged; the next one carries the state */
  next_step(r);
}

static void on_env(void *arg, cJSON *env, int rc) {
  pier_run *r = arg;
  if (r->state == RUN_ENDED) { /* cancelled while loading */
    cJSON_Delete(env);
    pier_run_unref(r);
    return;
  }
  if (rc) {
    finish(r, "failed", "could not read the collection's environment");
    pier_run_unref(r);
    return;
  }
  r->env = env ? env : cJSON_CreateObject();
  for (const cJSON *v = r->secrets ? r->secrets->child : NULL; v; v = v->next) /* secret_params overlay */
    if (cJSON_IsString(v)) {
      cJSON_DeleteItemFromObjectCaseSensitive(r->env, v->string);
      cJSON_AddStringToObject(r->env, v->string, v->valuestring);
    }
  r->started_ms = uv_now(r->ex->loop);
  const char *st = pier_json_str(r->doc, "status");
  if (st && strcmp(st, "running") != 0) { /* readers see "running" from now on */
    set_str(r->doc, "status", "running");
    pier_run_notify(r, "run_started", NULL);
    r->state = RUN_SAVING;
    pier_run_persist(r, after_running_saved);
  } else {
    next_step(r);
  }
  pier_run_unref(r);
}

void pier_run_start(pier_run *r) {
  if (r->state != RUN_QUEUED && r->state != RUN_STARTING) return;
  if (r->cancel_requested) {
    finish(r, "cancelled", "cancelled before it started");
    return;
  }
  r->state = RUN_STARTING;
  r->paused = false;
  pier_run_ref(r);
  r->e->env_load(r->e->env_ctx, r->ex, r->collection_id, on_env, r);
}

/* ---- steps ------------------------------------------------------------------------ */

static cJSON *steps_obj(pier_run *r) { return cJSON_GetObjectItemCaseSensitive(r->doc, "steps"); }

static const char *step_status(pier_run *r, const char *name) {
  return pier_json_str(cJSON_GetObjectItemCaseSensitive(steps_obj(r), name), "status");
}

/* The context path expressions see: init_params, earlier steps, env. */
static cJSON *build_ctx(pier_run *r) {
  cJSON *ctx = cJSON_CreateObject();
  cJSON_AddItemReferenceToObject(ctx, "init_params", cJSON_GetObjectItemCaseSensitive(r->doc, "init_params"));
  for (cJSON *s = steps_obj(r)->child; s; s = s->next)
    if (!cJSON_GetObjectItemCaseSensitive(ctx, s->string)) cJSON_AddItemReferenceToObject(ctx, s->string, s);
  if (r->env) cJSON_AddItemReferenceToObject(ctx, "env", r->env);
  return ctx;
}

static void step_record_start(pier_run *r, const char *name, const cJSON *config, const cJSON *inputs) {
  cJSON *rec = cJSON_CreateObject();
  cJSON_AddStringToObject(rec, "activity", pier_json_str(config, "activity") ? pier_json_str(config, "activity") : "");
  cJSON_AddStringToObject(rec, "key", name);
  cJSON_AddStringToObject(rec, "status", "running");
  cJSON_AddItemToObject(rec, "inputs", inputs ? (cJSON *)inputs : cJSON_CreateObject());
  cJSON_AddItemToObject(rec, "outputs", cJSON_CreateObject());
  cJSON_AddNullToObject(rec, "error");
  cJSON_AddItemToObject(rec, "depends_on", cJSON_CreateArray());
  set_time(rec, "created", pier_now_us());
  cJSON_AddNullToObject(rec, "ended");
  cJSON_AddNullToObject(rec, "duration_seconds");
  cJSON_AddStringToObject(rec, "author", r->author);
  cJSON_AddItemToObject(rec, "origin", cJSON_CreateObject());
  cJSON_AddItemToObject(rec, "config", cJSON_Duplicate(config, 1));
  cJSON *steps = steps_obj(r);
  cJSON_DeleteItemFromObjectCaseSensitive(steps, name);
  cJSON_AddItemToObject(steps, name, rec);
}

/* Secret values (env + secret_params) replaced in a copy of the inputs. */
extern cJSON *pier_redact(const cJSON *v, const cJSON *env);

static void run_step_at(pier_run *r, const char *name) {
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->doc, "step_configs"), name);
  const char *act_name = pier_json_str(config, "activity");
  const pier_activity *act = act_name ? pier_activity_find(act_name) : NULL;
  char err[1024];
  cJSON *ctx = build_ctx(r), *resolved = NULL;
  int rc = config ? pier_path_resolve_config(config, ctx, &resolved, err, sizeof err) : PIER_EINVAL;
  cJSON_Delete(ctx);
  if (!config) snprintf(err, sizeof err, "step \"%s\" has no entry in step_configs", name);
  else if (!rc && !act) rc = PIER_ENOTFOUND, snprintf(err, sizeof err, "unknown activity \"%s\"; see GET /api/v1/step-templates", act_name ? act_name : "");
  cJSON *empty = config ? NULL : cJSON_CreateObject();
  step_record_start(r, name, config ? config : empty, rc ? NULL : pier_redact(resolved, r->env));
  cJSON_Delete(empty);
  pier_run_notify(r, "step_started", cJSON_GetObjectItemCaseSensitive(steps_obj(r), name));
  r->state = RUN_STEP;
  if (rc) {
    cJSON_Delete(resolved);
    r->step = pier_step_new(r, name, NULL, cJSON_CreateObject());
    pier_step_fail(r->step, "%s", err);
    return;
  }
  r->step = pier_step_new(r, name, act, resolved);
  act->start(r->step);
}

static const cJSON *total_steps(pier_run *r) { return cJSON_GetObjectItemCaseSensitive(r->doc, "total_steps"); }

static void next_step(pier_run *r) {
  if (r->cancel_requested) {
    finish(r, "cancelled", "cancelled");
    return;
  }
  if (r->e->shutting_down || r->paused) return; /* the durable state resumes at the next start */
  const cJSON *steps = total_steps(r);
  int n = cJSON_GetArraySize(steps);
  while (r->step_index < n) {
    const char *name = cJSON_GetArrayItem(steps, r->step_index)->valuestring;
    const char *st = step_status(r, name);
    if (st && (!strcmp(st, "completed") || !strcmp(st, "skipped"))) {
      r->step_index++;
      continue;
    }
    run_step_at(r, name);
    return;
  }
  finish(r, "completed", NULL);
}

/* ---- end of a step ------------------------------------------------------------------ */

static void after_step_saved(pier_run *r, int rc) {
  if (rc) {
    finish(r, "failed", "the run's state could not be stored");
    return;
  }
  next_step(r);
}

static void usage_json(cJSON *rec, const pier_step *s) {
  cJSON *u = cJSON_CreateObject();
  pier_step_usage_json(s, u);
  if (!cJSON_ReplaceItemInObjectCaseSensitive(rec, "usage", u)) cJSON_AddItemToObject(rec, "usage", u);
}

/* Mark the steps between the current one and `target` skipped; returns the
 * target's index or -1. */
static int skip_to(pier_run *r, const char *target) {
  const cJSON *steps = total_steps(r);
  int n = cJSON_GetArraySize(steps), t = -1;
  for (int i = r->step_index + 1; i < n && t < 0; i++)
    if (!strcmp(cJSON_GetArrayItem(steps, i)->valuestring, target)) t = i;
  for (int i = r->step_index + 1; t >= 0 && i < t; i++) {
    const char *name = cJSON_GetArrayItem(steps, i)->valuestring;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "key", name);
    cJSON_AddStringToObject(rec, "status", "skipped");
    cJSON_DeleteItemFromObjectCaseSensitive(steps_obj(r), name);
    cJSON_AddItemToObject(steps_obj(r), name, rec);
  }
  return t;
}

void pier_run_step_ended(pier_run *r, pier_step *s, const char *status, const char *error) {
  cJSON *rec = cJSON_GetObjectItemCaseSensitive(steps_obj(r), s->name);
  int64_t now = pier_now_us();
  set_str(rec, "status", status);
  cJSON *outputs = pier_redact(s->outputs, r->env); /* what the trajectory keeps */
  cJSON_ReplaceItemInObjectCaseSensitive(rec, "outputs", outputs ? outputs : cJSON_CreateObject());
  char *clean = error ? pier_redact_str(error, r->env) : NULL;
  if (clean) error = clean;
  set_str(rec, "error", error);
  set_time(rec, "ended", now);
  cJSON_ReplaceItemInObjectCaseSensitive(rec, "duration_seconds", cJSON_CreateNumber((double)(now - s->started_us) / 1e6));
  usage_json(rec, s);
  if (s->attempts) { /* model names and errors may quote a secret too */
    cJSON *attempts = pier_redact(s->attempts, r->env);
    if (attempts) cJSON_AddItemToObject(rec, "attempts", attempts);
  }
  bool ok = !strcmp(status, "completed");
  if (ok) cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(r->doc, "completed_steps"), cJSON_CreateString(s->name));
  pier_run_notify(r, ok ? "step_completed" : "step_failed", rec);
  char *target = s->goto_step ? strdup(s->goto_step) : NULL;
  char name[256];
  snprintf(name, sizeof name, "%s", s->name);
  pier_step_free(s);
  r->step = NULL;
  if (!ok) {
    char msg[1400];
    snprintf(msg, sizeof msg, "step \"%s\" %s: %s", name, status, error ? error : "no detail");
    free(clean);
    free(target);
    finish(r, !strcmp(status, "cancelled") ? "cancelled" : "failed", msg);
    return;
  }
  free(clean);
  int t = target ? skip_to(r, target) : -1;
  free(target);
  r->step_index = t >= 0 ? t : r->step_index + 1;
  r->state = RUN_SAVING;
  pier_run_persist(r, after_step_saved);
}

/* ---- end of the run ---------------------------------------------------------------------- */

static void after_final_save(pier_run *r, int rc) {
  (void)rc; /* the document is what it is; a failed save is logged */
  r->final_doc = cJSON_PrintUnformatted(r->doc);
  r->final_len = r->final_doc ? strlen(r->final_doc) : 0;
  PIER_LOG(PIER_LOG_INFO, "engine", "run=%s %s/%s %s in %.3f s", r->id, r->collection, r->task,
           pier_json_str(r->doc, "status"), (double)(pier_now_us() - r->created_us) / 1e6);
  pier_run_end_watchers(r);
  if (r->webhook_url && !r->paused) pier_webhook_send(r);
  pier_engine_forget(r->e, r);
}

static void finish(pier_run *r, const char *status, const char *error) {
  if (r->state == RUN_ENDED) return;
  r->state = RUN_ENDED;
  set_str(r->doc, "status", status);
  char *clean = error ? pier_redact_str(error, r->env) : NULL;
  set_str(r->doc, "error", clean ? clean : error);
  free(clean);
  set_time(r->doc, "ended", pier_now_us());
  pier_run_notify(r, "run_ended", NULL);
  pier_run_persist(r, after_final_save);
}

void pier_run_cancel_here(pier_run *r) {
  if (r->state == RUN_ENDED) return;
  r->cancel_requested = true;
  if (r->state == RUN_STEP && r->step) {
    pier_step *s = r->step;
    s->cancelled = true;
    pier_step_cancel_ops(s);
    if (s->act && s->act->cancel) s->act->cancel(s);
    if (!s->ended) {
      s->ended = true;
      pier_run_step_ended(r, s, "cancelled", "cancelled by a status change to \"cancelled\"");
    }
    return;
  }
  if (r->state == RUN_QUEUED || r->state == RUN_STARTING) finish(r, "cancelled", "cancelled before it started");
  /* RUN_SAVING: next_step sees cancel_requested */
}

void pier_run_pause(pier_run *r) {
  if (r->state == RUN_ENDED) return;
  r->paused = true;
  if (r->step) {
    pier_step *s = r->step;
    s->cancelled = true;
    pier_step_cancel_ops(s);
    if (s->act && s->act->cancel) s->act->cancel(s);
    pier_step_free(s);
    r->step = NULL;
  }
  pier_run_drop_watchers(r);
  r->state = RUN_ENDED; /* on this process; the stored state says running */
  pier_engine_forget(r->e, r);
}

/* ---- restore after a restart ------------------------------------------------------------- */

int pier_run_restore(pier_engine *e, const pier_traj *t, pier_run **out) {
  pier_run *r = pier_run_new(e, NULL);
  if (!r) return PIER_ENOMEM;
  char err[128];
  r->doc = pier_json_parse(pier_slice_from(t->doc), 256, err, sizeof err);
  const char *coll = r->doc ? pier_json_str(r->doc, "collection") : NULL;
  if (!coll) {
    PIER_LOG(PIER_LOG_ERROR, "engine", "run=%s has an unreadable stored state; leaving it", t->id);
    pier_run_unref(r);
    return PIER_EINVAL;
  }
  snprintf(r->id, sizeof r->id, "%s", t->id);
  r->collection_id = t->collection_id;
  r->collection = strdup(coll);
  r->task = strdup(t->task);
  r->author = strdup(pier_json_str(r->doc, "author") ? pier_json_str(r->doc, "author") : "api");
  const char *wh = pier_json_str(r->doc, "webhook_url");
  r->webhook_url = wh ? strdup(wh) : NULL;
  r->parent_id = pier_json_str(r->doc, "parent_trajectory_id") ? strdup(pier_json_str(r->doc, "parent_trajectory_id")) : NULL;
  r->created_us = t->created_us;
  if (t->secrets_box) {
    pier_buf plain;
    pier_buf_init(&plain, 0);
    if (pier_unseal(e->cfg.master_key, t->secrets_box, t->secrets_len, t->secrets_nonce, &plain) == 0) {
      cJSON *box = cJSON_ParseWithLength(plain.ptr, plain.len);
      cJSON *sp = cJSON_DetachItemFromObjectCaseSensitive(box, "secret_params");
      r->secrets = cJSON_IsObject(sp) ? sp : (cJSON_Delete(sp), NULL);
      const char *ws = pier_json_str(box, "webhook_secret");
      r->webhook_secret = ws ? strdup(ws) : NULL;
      cJSON_Delete(box);
      if (pier_buf_append(&r->secrets_box, t->secrets_box, t->secrets_len) == 0)
        memcpy(r->secrets_nonce, t->secrets_nonce, sizeof r->secrets_nonce);
    }
    sodium_memzero(plain.ptr ? plain.ptr : err, plain.ptr ? plain.len : 0);
    pier_buf_dispose(&plain);
  }
  r->state = RUN_QUEUED;
  r->stored = true; /* later saves update the stored row */
  r->restored = true;
  *out = r;
  return 0;
}
