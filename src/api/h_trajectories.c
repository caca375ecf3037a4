/* h_trajectories.c — reading runs: one trajectory (with its labels), pages of
 * them, counts by status, status changes (cancel aborts a running run), labels.
 * The stored document is the truth; labels live in their own table and are
 * merged in on the way out. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

typedef struct traj_job {
  pier_http_req *req;
  pier_collection col;
  pier_slice task, id;
  pier_traj t;
  pier_traj *list;
  size_t n;
  int64_t total, page, limit;
  pier_label **labels; /* per trajectory */
  size_t *nlabels;
  pier_traj_stats stats;
  cJSON *changes;      /* statuses: {"id": "status"} (body) */
  cJSON *result;       /* statuses: per id outcome */
  pier_label label;
} traj_job;

static traj_job *job_for(pier_http_req *req) {
  traj_job *j = pier_arena_calloc(&req->arena, sizeof *j);
  if (!j) {
    pier_http_respond_error(req, 500, "out of memory");
    return NULL;
  }
  j->req = req;
  j->task = req->params[1];
  if (req->nparams > 2) j->id = req->params[2];
  return pier_api_collection(req, req->params[0], &j->col) ? j : NULL;
}

/* The document with its labels merged in (caller deletes). */
static cJSON *doc_with_labels(const pier_traj *t, const pier_label *labels, size_t n) {
  cJSON *doc = cJSON_Parse(t->doc);
  if (!doc) return NULL;
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "labels");
  if (!cJSON_IsArray(arr)) {
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "labels");
    arr = cJSON_AddArrayToObject(doc, "labels");
  }
  for (size_t i = 0; i < n; i++) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "key", labels[i].key);
    cJSON_AddStringToObject(l, "value", labels[i].value);
    cJSON_AddStringToObject(l, "author", labels[i].author);
    pier_api_add_time(l, "created", labels[i].created_us);
    cJSON_AddItemToArray(arr, l);
  }
  return doc;
}

/* ---- one ------------------------------------------------------------------------ */

static int get_work(pier_db *db, void *arg) {
  traj_job *j = arg;
  j->labels = pier_arena_calloc(&j->req->arena, sizeof *j->labels);
  j->nlabels = pier_arena_calloc(&j->req->arena, sizeof *j->nlabels);
  if (!j->labels || !j->nlabels) return PIER_ENOMEM;
  int rc = db->ops->traj_get(db, &j->req->arena, j->col.id, j->task, j->id, &j->t);
  if (!rc) rc = db->ops->label_list(db, &j->req->arena, j->t.id, &j->labels[0], &j->nlabels[0]);
  return rc;
}

static void get_done(void *arg, int rc) {
  traj_job *j = arg;
  if (rc == PIER_ENOTFOUND) {
    pier_http_respond_error(j->req, 404, "Trajectory '%.*s' not found in %s/%.*s", (int)j->id.len, j->id.ptr,
                            j->col.name, (int)j->task.len, j->task.ptr);
    return;
  }
  cJSON *doc = rc ? NULL : doc_with_labels(&j->t, j->labels[0], j->nlabels[0]);
  if (!doc) {
    pier_api_db_error(j->req, rc ? rc : PIER_ENOMEM, "trajectory");
    return;
  }
  pier_http_respond_json(j->req, 200, doc);
  cJSON_Delete(doc);
}

void pier_h_trajectory_get(pier_http_req *req) {
  traj_job *j = job_for(req);
  if (j) pier_api_db(req, PIER_STORE_READ, get_work, get_done, j);
}

/* ---- pages -------------------------------------------------------------------------- */

static int list_work(pier_db *db, void *arg) {
  traj_job *j = arg;
  int rc = db->ops->traj_list(db, &j->req->arena, j->col.id, j->task, (j->page - 1) * j->limit, j->limit, &j->list,
                              &j->n, &j->total);
  if (rc || !j->n) return rc;
  j->labels = pier_arena_calloc(&j->req->arena, j->n * sizeof *j->labels);
  j->nlabels = pier_arena_calloc(&j->req->arena, j->n * sizeof *j->nlabels);
  if (!j->labels || !j->nlabels) return PIER_ENOMEM;
  for (size_t i = 0; !rc && i < j->n; i++)
    rc = db->ops->label_list(db, &j->req->arena, j->list[i].id, &j->labels[i], &j->nlabels[i]);
  return rc;
}

static void list_done(void *arg, int rc) {
  traj_job *j = arg;
  if (rc) {
    pier_api_db_error(j->req, rc, "trajectories");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(o, "trajectories");
  for (size_t i = 0; i < j->n; i++) {
    cJSON *d = doc_with_labels(&j->list[i], j->labels[i], j->nlabels[i]);
    if (d) cJSON_AddItemToArray(arr, d);
  }
  cJSON_AddNumberToObject(o, "total", (double)j->total);
  cJSON_AddNumberToObject(o, "page", (double)j->page);
  cJSON_AddNumberToObject(o, "limit", (double)j->limit);
  cJSON_AddBoolToObject(o, "has_more", j->page * j->limit < j->total);
  pier_http_respond_json(j->req, 200, o);
  cJSON_Delete(o);
}

void pier_h_trajectories_list(pier_http_req *req) {
  traj_job *j = job_for(req);
  if (!j) return;
  int64_t skip_unused;
  if (!pier_api_paging(req, "skip", &skip_unused, &j->limit, 10, 100)) return;
  j->page = 1;
  pier_slice p;
  unsigned long long page;
  if (pier_http_query_get(req, "page", &p)) {
    if (pier_slice_to_u64(p, &page) != 0 || page < 1 || page > 1000000) {
      pier_http_respond_error(req, 422, "query parameter page must be a whole number from 1 to 1000000");
      return;
    }
    j->page = (int64_t)page;
  }
  pier_api_db(req, PIER_STORE_READ, list_work, list_done, j);
}

/* ---- stats ------------------------------------------------------------------------- */

static int stats_work(pier_db *db, void *arg) {
  traj_job *j = arg;
  return db->ops->traj_stats(db, j->col.id, j->task, &j->stats);
}

static void stats_done(void *arg, int rc) {
  traj_job *j = arg;
  if (rc) {
    pier_api_db_error(j->req, rc, "statistics");
    return;
  }
  pier_traj_stats *s = &j->stats;
  cJSON *o = cJSON_CreateObject();
  char name[300];
  snprintf(name, sizeof name, "%s/%.*s", j->col.name, (int)j->task.len, j->task.ptr);
  cJSON_AddStringToObject(o, "name", name);
  cJSON_AddNumberToObject(o, "total", (double)s->total);
  cJSON *by = cJSON_AddObjectToObject(o, "by_status");
  const char *names[] = {"pending", "running", "completed", "failed", "cancelled", "archived"};
  int64_t vals[] = {s->pending, s->running, s->completed, s->failed, s->cancelled, s->archived};
  for (int i = 0; i < 6; i++) {
    cJSON_AddNumberToObject(by, names[i], (double)vals[i]);
    cJSON_AddNumberToObject(o, names[i], (double)vals[i]);
  }
  cJSON_AddNumberToObject(o, "mean_duration_seconds", s->mean_duration_s);
  pier_http_respond_json(j->req, 200, o);
  cJSON_Delete(o);
}

void pier_h_trajectory_stats(pier_http_req *req) {
  traj_job *j = job_for(req);
  if (j) pier_api_db(req, PIER_STORE_READ, stats_work, stats_done, j);
}

/* ---- labels ---------------------------------------------------------------------------- */

static int label_work(pier_db *db, void *arg) {
  traj_job *j = arg;
  int rc = db->ops->traj_get(db, &j->req->arena, j->col.id, j->task, j->id, &j->t);
  if (!rc) rc = db->ops->label_add(db, j->t.id, &j->label);
  return rc;
}

static void label_done(void *arg, int rc) {
  traj_job *j = arg;
  if (rc == PIER_ENOTFOUND) {
    pier_http_respond_error(j->req, 404, "Trajectory '%.*s' not found", (int)j->id.len, j->id.ptr);
    return;
  }
  if (rc) {
    pier_api_db_error(j->req, rc, "label");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "key", j->label.key);
  cJSON_AddStringToObject(o, "value", j->label.value);
  cJSON_AddStringToObject(o, "author", j->label.author);
  pier_api_add_time(o, "created", j->label.created_us);
  cJSON_AddStringToObject(o, "trajectory_id", j->t.id);
  pier_http_respond_json(j->req, 200, o);
  cJSON_Delete(o);
}

void pier_h_trajectory_label(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  traj_job *j = job_for(req);
  if (!j) return;
  static const char *fields[] = {"key", "value", "author"};
  const char **dst[] = {&j->label.key, &j->label.value, &j->label.author};
  for (int i = 0; i < 3; i++) {
    const char *v = pier_json_str(body, fields[i]);
    if (!v || !v[0] || strlen(v) > 4096) {
      pier_http_respond_error(req, 422, "%s is required: a non-empty string of at most 4096 bytes (labels are "
                                        "{key, value, author}; values are always strings)", fields[i]);
      return;
    }
    *dst[i] = v;
  }
  j->label.created_us = pier_now_us();
  pier_api_db(req, PIER_STORE_WRITE, label_work, label_done, j);
}

/* ---- status changes ------------------------------------------------------------------------ */

static bool valid_status(const char *s) {
  static const char *ok[] = {"pending", "completed", "failed", "cancelled", "archived", NULL};
  for (int i = 0; ok[i]; i++)
    if (!strcmp(s, ok[i])) return true;
  return false;
}

/* Stored runs that are not executing here: rewrite the status in their document. */
static int statuses_work(pier_db *db, void *arg) {
  traj_job *j = arg;
  for (cJSON *c = j->changes->child; c; c = c->next) {
    cJSON *res = cJSON_GetObjectItemCaseSensitive(j->result, c->string);
    if (!cJSON_IsString(res) || strcmp(res->valuestring, "pending-store") != 0) continue;
    pier_traj t;
    int rc = db->ops->traj_get(db, &j->req->arena, j->col.id, j->task, pier_slice_from(c->string), &t);
    const char *outcome = rc == PIER_ENOTFOUND ? "not found" : rc ? "error" : NULL;
    /* cancelling is for runs that have not ended; an ended run keeps its status */
    bool over = !outcome && strcmp(t.status, "pending") && strcmp(t.status, "running");
    if (over && !strcmp(c->valuestring, "cancelled")) {
      char *msg = !strcmp(t.status, "cancelled") ? "cancelled" /* idempotent */
                  : pier_arena_printf(&j->req->arena, "not cancelled: already %s", t.status);
      cJSON_ReplaceItemInObjectCaseSensitive(j->result, c->string, cJSON_CreateString(msg ? msg : "not cancelled"));
      continue;
    }
    cJSON *doc = outcome ? NULL : cJSON_Parse(t.doc);
    if (doc) {
      cJSON_ReplaceItemInObjectCaseSensitive(doc, "status", cJSON_CreateString(c->valuestring));
      char *s = cJSON_PrintUnformatted(doc);
      t.doc = s;
      t.status = c->valuestring;
      t.updated_us = pier_now_us();
      t.secrets_box = NULL; /* keep what is stored */
      rc = s ? db->ops->traj_put(db, &t) : PIER_ENOMEM;
      outcome = rc ? "error" : c->valuestring;
      cJSON_free(s);
      cJSON_Delete(doc);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(j->result, c->string, cJSON_CreateString(outcome ? outcome : "error"));
  }
  return 0;
}

static void statuses_done(void *arg, int rc) {
  traj_job *j = arg;
  if (rc) {
    pier_api_db_error(j->req, rc, "statuses");
    cJSON_Delete(j->result);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "results", j->result);
  pier_http_respond_json(j->req, 200, o);
  cJSON_Delete(o);
}

void pier_h_trajectory_statuses(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  traj_job *j = job_for(req);
  if (!j) return;
  if (!body->child) {
    pier_http_respond_error(req, 422, "send {\"<trajectory_id>\": \"cancelled\", ...}");
    return;
  }
  j->changes = body;
  j->result = cJSON_CreateObject();
  bool store = false;
  for (cJSON *c = body->child; c; c = c->next) {
    if (!cJSON_IsString(c) || !valid_status(c->valuestring)) {
      cJSON_Delete(j->result);
      pier_http_respond_error(req, 422, "status of %.40s must be one of pending, completed, failed, cancelled, archived",
                              c->string);
      return;
    }
    /* a run executing now is cancelled by the engine (its model calls are aborted) */
    char task[256];
    snprintf(task, sizeof task, "%.*s", (int)j->task.len, j->task.ptr);
    bool live = !strcmp(c->valuestring, "cancelled") &&
                pier_engine_cancel(APP(req)->engine, c->string, j->col.id, task) == 0;
    cJSON_AddStringToObject(j->result, c->string, live ? "cancelled" : "pending-store");
    store |= !live;
  }
  if (!store) {
    statuses_done(j, 0);
    return;
  }
  pier_api_db(req, PIER_STORE_WRITE, statuses_work, statuses_done, j);
}
