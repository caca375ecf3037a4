/* h_runs.c — POST /api/v1/run/{c}/{t} (async: answers once the run is stored)
 * and POST /api/v1/run-sync/{c}/{t} (answers with the whole trajectory once the
 * run has ended and its final state is durable, or 202 after the run-sync
 * limit while the run goes on). Invariant: ctx lives in the request arena;
 * answering is always the last thing done with it. */
#include <stdlib.h>
#include <string.h>

#include "api/runs_int.h"
#include "base/jscan.h"
#include "base/json.h"
#include "base/log.h"

typedef struct run_ctx {
  pier_http_req *req;
  pier_collection col;
  pier_slice task_name;
  run_form form;
  pier_arena *arena;
  pier_task task;
  cJSON *workflow, *init;
  bool sync;
  pier_watch *watch;
  uv_timer_t *timer; /* heap: closed asynchronously */
  char id[16];
  char *workflow_id;
} run_ctx;

static void release(run_ctx *x) {
  pier_watch_close(x->watch);
  x->watch = NULL;
  pier_api_timer_close(&x->timer);
  cJSON_Delete(x->workflow);
  cJSON_Delete(x->init);
  x->workflow = x->init = NULL;
}

/* The envelope's own keys: the trajectory's members of the same name are not repeated. */
static int copy_member(void *arg, pier_slice key, pier_slice value) {
  static const char *const own[] = {"message", "workflow_id", "trajectory_id", "result", "trajectory", "metadata",
                                    NULL};
  for (int i = 0; own[i]; i++)
    if (pier_jscan_is(key, own[i])) return 0;
  pier_buf *b = arg;
  int rc = pier_buf_putc(b, ',');
  if (!rc) rc = pier_buf_append_slice(b, key);
  if (!rc) rc = pier_buf_putc(b, ':');
  if (!rc) rc = pier_buf_append_slice(b, value);
  return rc;
}

/* {"message", "workflow_id", "trajectory_id", "result", <the trajectory's fields>
 * (or "status"), "trajectory", "metadata"}: older clients read .steps at the top
 * level. Written around the stored document's text, which is not parsed again. */
static void answer(run_ctx *x, int status, const char *message, const char *doc, size_t len) {
  pier_http_req *req = x->req;
  pier_buf b;
  pier_buf_init(&b, 0);
  int rc = pier_buf_reserve(&b, 2 * len + 256);
  if (!rc) rc = pier_buf_append_cstr(&b, "{\"message\":");
  if (!rc) rc = pier_buf_append_json_str(&b, pier_slice_from(message));
  if (!rc) rc = pier_buf_append_cstr(&b, ",\"workflow_id\":");
  if (!rc) rc = pier_buf_append_json_str(&b, pier_slice_from(x->workflow_id ? x->workflow_id : ""));
  if (!rc) rc = pier_buf_appendf(&b, ",\"trajectory_id\":\"%s\",\"result\":{}", x->id);
  pier_slice d = pier_slice_make(doc, doc ? len : 0);
  if (!rc && doc) rc = pier_jscan_members(d, copy_member, &b);
  if (!rc && !doc) rc = pier_buf_appendf(&b, ",\"status\":\"%s\"", status == 202 ? "running" : "pending");
  if (!rc) rc = pier_buf_append_cstr(&b, ",\"trajectory\":");
  if (!rc) rc = doc ? pier_buf_append_slice(&b, d) : pier_buf_append_cstr(&b, "{}");
  if (!rc) rc = pier_buf_append_cstr(&b, ",\"metadata\":\"\"}");
  release(x);
  if (rc) pier_http_respond_error(req, 500, "could not encode the reply");
  else pier_http_respond_buf(req, status, "application/json", NULL, &b);
  pier_buf_dispose(&b);
}

static void fail(run_ctx *x, int status, const char *msg) {
  pier_http_req *req = x->req;
  release(x);
  pier_http_respond_error(req, status, "%s", msg);
}

static void on_end(void *arg, const char *doc, size_t len) {
  run_ctx *x = arg;
  if (!doc) { /* the server is shutting down: the run resumes after the restart */
    answer(x, 202, "Workflow still running; it resumes when the server restarts", NULL, 0);
    return;
  }
  answer(x, 200, "Workflow completed", doc, len);
}

static void on_sync_timeout(uv_timer_t *t) {
  run_ctx *x = t->data;
  answer(x, 202, "Workflow still running; poll GET /api/v1/db/trajectory/{collection}/{task}/{trajectory_id}", NULL, 0);
}

static void on_abort(pier_http_req *req, void *arg) {
  (void)req;
  run_ctx *x = arg;
  if (!x->watch) return; /* a store job or upload is in flight: it ends the request */
  release(x);
  pier_http_respond_empty(x->req, 499);
}

static void on_created(void *arg, int rc, const char *id) {
  run_ctx *x = arg;
  pier_http_req *req = x->req;
  snprintf(x->id, sizeof x->id, "%s", id);
  x->workflow_id = pier_arena_printf(x->arena, "%s-%s--%s", x->col.name, x->task.name, id);
  for (char *p = x->workflow_id; p && *p; p++)
    if (*p == '/') *p = '-';
  if (rc) {
    fail(x, 500, "the run could not be stored; retry");
    return;
  }
  PIER_LOG(PIER_LOG_INFO, "runs", "req=%llu run=%s %s/%s %s", (unsigned long long)req->id, id, x->col.name,
           x->task.name, x->sync ? "sync" : "queued");
  if (!x->sync || req->aborted) {
    if (req->aborted) {
      release(x);
      pier_http_respond_empty(req, 499);
      return;
    }
    answer(x, 200, "Workflow started", NULL, 0);
    return;
  }
  pier_watch_cbs cbs = {.on_end = on_end, .arg = x};
  if (pier_engine_watch(APP(req)->engine, &pier_api_loop(req)->ex, id, &cbs, &x->watch) != 0) {
    fail(x, 500, "the run ended before it could be watched; read it with GET /api/v1/db/trajectory/...");
    return;
  }
  req->on_abort = on_abort;
  req->abort_arg = x;
  x->timer = pier_api_timer_start(req, on_sync_timeout, x, APP(req)->cfg.run_sync_timeout_ms, 0);
}

static void submit(run_ctx *x) {
  pier_http_req *req = x->req;
  pier_run_spec spec = {.collection_id = x->col.id, .collection = x->col.name, .task = x->task.name,
                        .workflow = x->workflow, .init_params = x->init, .secret_params = x->form.secret_params,
                        .webhook_url = x->form.webhook_url, .webhook_secret = x->form.webhook_secret,
                        .queued = !x->sync, .author = AUTH(req)->is_admin ? "admin" : "api-key"};
  if (pier_engine_submit(APP(req)->engine, &pier_api_loop(req)->ex, &spec, on_created, x) != 0)
    fail(x, 500, "could not start the run");
}

static void on_files(pier_http_req *req, void *arg, int rc) {
  (void)req;
  run_ctx *x = arg;
  if (rc) {
    fail(x, 500, "could not store the uploaded files");
    return;
  }
  cJSON *paths = cJSON_GetObjectItemCaseSensitive(x->init, "file_paths");
  if (!cJSON_IsArray(paths)) {
    cJSON_DeleteItemFromObjectCaseSensitive(x->init, "file_paths");
    paths = cJSON_AddArrayToObject(x->init, "file_paths");
  }
  for (int i = 0; i < x->form.nfiles; i++) cJSON_AddItemToArray(paths, cJSON_CreateString(x->form.files[i].path));
  submit(x);
}

static int task_work(pier_db *db, void *arg) {
  run_ctx *x = arg;
  return db->ops->task_get(db, x->arena, x->col.id, x->task_name, &x->task);
}

static void task_done(void *arg, int rc) {
  run_ctx *x = arg;
  if (rc == PIER_ENOTFOUND) {
    char msg[300];
    snprintf(msg, sizeof msg, "Task '%.*s' not found in collection '%s'", (int)x->task_name.len, x->task_name.ptr,
             x->col.name);
    fail(x, 404, msg);
    return;
  }
  if (rc || !(x->workflow = cJSON_Parse(x->task.workflow_json))) {
    fail(x, 500, "could not read the task");
    return;
  }
  /* init_params: the run's shallow-merged over the task's own */
  const cJSON *defaults = cJSON_GetObjectItemCaseSensitive(x->workflow, "init_params");
  x->init = cJSON_IsObject(defaults) ? cJSON_Duplicate(defaults, 1) : cJSON_CreateObject();
  for (cJSON *p = x->form.init_params ? x->form.init_params->child : NULL; p; p = p->next) {
    cJSON_DeleteItemFromObjectCaseSensitive(x->init, p->string);
    cJSON_AddItemToObject(x->init, p->string, cJSON_Duplicate(p, 1));
  }
  if (x->form.nfiles) pier_runs_store_files(x->req, &x->form, x->col.name, x->col.id, x->task.name, on_files, x);
  else submit(x);
}

static void start(pier_http_req *req, bool sync) {
  run_ctx *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_http_respond_error(req, 500, "out of memory");
    return;
  }
  x->req = req;
  x->arena = &req->arena;
  x->sync = sync;
  x->task_name = req->params[1];
  if (!pier_api_collection(req, req->params[0], &x->col)) return;
  if (!pier_runs_parse_form(req, &x->form)) return;
  pier_api_db(req, PIER_STORE_READ, task_work, task_done, x);
}

void pier_h_run(pier_http_req *req) { start(req, false); }
void pier_h_run_sync(pier_http_req *req) { start(req, true); }
