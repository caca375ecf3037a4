/* h_tasks.c — /api/v1/tasks/{c}[/{t}]: list, get, create (201), partial update
 * with PUT (version increments), delete. Workflows are validated on write. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/workflow.h"

typedef struct task_job {
  pier_http_req *req;
  pier_collection col;
  pier_task task;
  pier_slice name;        /* from the path */
  pier_task patch;        /* PUT: fields given in the body */
  unsigned set;           /* PUT: which of them (F_* bits) */
  pier_task *list;
  size_t n;
  int64_t skip, limit;
} task_job;

static cJSON *task_json(const pier_task *t, const pier_collection *col, bool full) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)t->id);
  cJSON_AddStringToObject(o, "name", t->name);
  cJSON *wf = cJSON_Parse(t->workflow_json);
  cJSON_AddItemToObject(o, "workflow", wf ? wf : cJSON_CreateObject());
  cJSON_AddNumberToObject(o, "collection_id", (double)t->collection_id);
  if (!full) cJSON_AddStringToObject(o, "collection_name", col->name);
  cJSON_AddNumberToObject(o, "version", (double)t->version);
  cJSON_AddStringToObject(o, "description", t->description);
  cJSON_AddBoolToObject(o, "has_file_uploads", t->has_file_uploads);
  cJSON_AddStringToObject(o, "entity_type", "task");
  cJSON_AddBoolToObject(o, "is_private", t->is_private);
  cJSON *cm = cJSON_Parse(t->croissant_json);
  cJSON_AddItemToObject(o, "croissant_metadata", cm ? cm : cJSON_CreateNull());
  pier_api_add_time(o, "created_at", t->created_us);
  pier_api_add_time(o, "updated_at", t->updated_us);
  if (full) {
    cJSON_AddItemToObject(o, "environment_variables", cJSON_CreateObject());
    cJSON_AddItemToObject(o, "storage_info", cJSON_CreateObject());
    cJSON_AddStringToObject(o, "storage_provider", "default");
  }
  return o;
}

static task_job *job_for(pier_http_req *req) {
  task_job *j = pier_arena_calloc(&req->arena, sizeof *j);
  if (!j) {
    pier_http_respond_error(req, 500, "out of memory");
    return NULL;
  }
  j->req = req;
  if (req->nparams > 1) j->name = req->params[1];
  return pier_api_collection(req, req->params[0], &j->col) ? j : NULL;
}

static void respond_task(task_job *j, int status) {
  cJSON *o = task_json(&j->task, &j->col, true);
  pier_http_respond_json(j->req, status, o);
  cJSON_Delete(o);
}

static void task_error(task_job *j, int rc) {
  if (rc == PIER_ENOTFOUND)
    pier_http_respond_error(j->req, 404, "Task '%.*s' not found in collection '%s'", (int)j->name.len, j->name.ptr,
                            j->col.name);
  else if (rc == PIER_EEXISTS)
    pier_http_respond_error(j->req, 400, "Task '%s' already exists in collection '%s'", j->task.name, j->col.name);
  else
    pier_api_db_error(j->req, rc, "task");
}

/* ---- list / get ------------------------------------------------------------------ */

static int list_work(pier_db *db, void *arg) {
  task_job *j = arg;
  return db->ops->task_list(db, &j->req->arena, j->col.id, j->skip, j->limit, &j->list, &j->n);
}

static void list_done(void *arg, int rc) {
  task_job *j = arg;
  if (rc) {
    task_error(j, rc);
    return;
  }
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < j->n; i++) cJSON_AddItemToArray(arr, task_json(&j->list[i], &j->col, false));
  pier_http_respond_json(j->req, 200, arr);
  cJSON_Delete(arr);
}

void pier_h_tasks_list(pier_http_req *req) {
  task_job *j = job_for(req);
  if (!j || !pier_api_paging(req, "skip", &j->skip, &j->limit, 100, PIER_LIST_LIMIT_MAX)) return;
  pier_api_db(req, PIER_STORE_READ, list_work, list_done, j);
}

static int get_work(pier_db *db, void *arg) {
  task_job *j = arg;
  return db->ops->task_get(db, &j->req->arena, j->col.id, j->name, &j->task);
}

static void get_done(void *arg, int rc) {
  task_job *j = arg;
  if (rc) task_error(j, rc);
  else respond_task(j, 200);
}

void pier_h_task_get(pier_http_req *req) {
  task_job *j = job_for(req);
  if (j) pier_api_db(req, PIER_STORE_READ, get_work, get_done, j);
}

/* ---- create / update: shared field parsing ----------------------------------------- */

enum { F_NAME = 1, F_WORKFLOW = 2, F_DESC = 4, F_UPLOADS = 8, F_PRIVATE = 16, F_CROISSANT = 32 };

/* Parse body fields into *t, recording which were given in *set; false =
 * answered (422/413). Runs on the loop, before any store work. */
static bool parse_fields(task_job *j, const cJSON *body, bool create, pier_task *t, unsigned *set) {
  pier_http_req *req = j->req;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "name");
  if (v || create) {
    if (!cJSON_IsString(v) || !pier_api_valid_task_name(pier_slice_from(v->valuestring))) {
      pier_http_respond_error(req, 422, "name must be 1 to %d characters of letters, digits, '_', '-' and '.', "
                                        "not starting with '.'", PIER_TASK_NAME_BYTES_MAX);
      return false;
    }
    t->name = v->valuestring;
    *set |= F_NAME;
  }
  v = cJSON_GetObjectItemCaseSensitive(body, "workflow");
  if (v || create) {
    char err[256];
    if (!v)
      snprintf(err, sizeof err, "workflow is required, e.g. {\"init_params\": {}, \"step_configs\": {\"echo\": "
                                "{\"activity\": \"text_echo\", \"text\": \"hi\"}}, \"steps\": [\"echo\"]}");
    if (!v || pier_workflow_validate(v, err, sizeof err) != 0) {
      pier_http_respond_error(req, 422, "%s", err);
      return false;
    }
    char *s = pier_json_print(v);
    if (!s || strlen(s) > PIER_WORKFLOW_BYTES_MAX) {
      free(s);
      pier_http_respond_error(req, 413, "workflow is larger than %d bytes", PIER_WORKFLOW_BYTES_MAX);
      return false;
    }
    t->workflow_json = pier_arena_strdup(&req->arena, pier_slice_from(s));
    free(s);
    *set |= F_WORKFLOW;
  }
  v = cJSON_GetObjectItemCaseSensitive(body, "description");
  if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) > PIER_DESCRIPTION_BYTES_MAX) {
      pier_http_respond_error(req, 422, "description must be a string of at most %d bytes", PIER_DESCRIPTION_BYTES_MAX);
      return false;
    }
    t->description = v->valuestring;
    *set |= F_DESC;
  }
  static const char *bools[] = {"has_file_uploads", "is_private"};
  bool *dst[] = {&t->has_file_uploads, &t->is_private};
  for (int i = 0; i < 2; i++) {
    v = cJSON_GetObjectItemCaseSensitive(body, bools[i]);
    if (!v || cJSON_IsNull(v)) continue;
    if (!cJSON_IsBool(v)) {
      pier_http_respond_error(req, 422, "%s must be true or false", bools[i]);
      return false;
    }
    *dst[i] = cJSON_IsTrue(v);
    *set |= i == 0 ? F_UPLOADS : F_PRIVATE;
  }
  v = cJSON_GetObjectItemCaseSensitive(body, "croissant_metadata");
  if (v) {
    char *s = pier_json_print(v);
    t->croissant_json = s ? pier_arena_strdup(&req->arena, pier_slice_from(s)) : "null";
    free(s);
    *set |= F_CROISSANT;
  }
  return true;
}

static void merge_fields(pier_task *t, const pier_task *p, unsigned set) {
  if (set & F_NAME) t->name = p->name;
  if (set & F_WORKFLOW) t->workflow_json = p->workflow_json;
  if (set & F_DESC) t->description = p->description;
  if (set & F_UPLOADS) t->has_file_uploads = p->has_file_uploads;
  if (set & F_PRIVATE) t->is_private = p->is_private;
  if (set & F_CROISSANT) t->croissant_json = p->croissant_json;
}

static int create_work(pier_db *db, void *arg) {
  task_job *j = arg;
  return db->ops->task_create(db, &j->task);
}

static void create_done(void *arg, int rc) {
  task_job *j = arg;
  if (rc) {
    task_error(j, rc);
    return;
  }
  PIER_LOG(PIER_LOG_INFO, "api", "req=%llu created task %s/%s", (unsigned long long)j->req->id, j->col.name,
           j->task.name);
  respond_task(j, 201);
}

void pier_h_task_create(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  task_job *j = job_for(req);
  if (!j) return;
  j->task.collection_id = j->col.id;
  j->task.description = "";
  j->task.version = 1;
  j->task.is_private = true;
  j->task.croissant_json = "null";
  j->task.created_us = j->task.updated_us = pier_now_us();
  unsigned set = 0;
  if (!parse_fields(j, body, true, &j->task, &set)) return;
  pier_api_db(req, PIER_STORE_WRITE, create_work, create_done, j);
}

static int update_work(pier_db *db, void *arg) {
  task_job *j = arg;
  int rc = db->ops->task_get(db, &j->req->arena, j->col.id, j->name, &j->task);
  if (rc) return rc;
  merge_fields(&j->task, &j->patch, j->set);
  j->task.version++;
  j->task.updated_us = pier_now_us();
  return db->ops->task_update(db, &j->task, j->name);
}

static void update_done(void *arg, int rc) {
  task_job *j = arg;
  if (rc) task_error(j, rc);
  else respond_task(j, 200);
}

void pier_h_task_update(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  task_job *j = job_for(req);
  if (!j) return;
  if (!parse_fields(j, body, false, &j->patch, &j->set)) return;
  pier_api_db(req, PIER_STORE_WRITE, update_work, update_done, j);
}

/* ---- delete ------------------------------------------------------------------------------ */

static int delete_work(pier_db *db, void *arg) {
  task_job *j = arg;
  return db->ops->task_delete(db, j->col.id, j->name);
}

static void delete_done(void *arg, int rc) {
  task_job *j = arg;
  if (rc) {
    task_error(j, rc);
    return;
  }
  static const char body[] = "{\"message\":\"Task deleted successfully\"}";
  pier_http_respond(j->req, 200, "application/json", NULL, body, sizeof body - 1);
}

void pier_h_task_delete(pier_http_req *req) {
  task_job *j = job_for(req);
  if (j) pier_api_db(req, PIER_STORE_WRITE, delete_work, delete_done, j);
}
