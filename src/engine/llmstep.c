/* llmstep.c — what activities use to reach the outside: chat completions and
 * embeddings (routing, fallbacks, usage and cost recorded on the step), stored
 * files (read off the loop) and child runs. Each is an op on the step so that
 * cancelling the step aborts it; an op's callback never runs after cancel. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "engine/engine_int.h"
#include "llm/embed.h"
#include "llm/openai_sse.h"

/* ---- chat --------------------------------------------------------------------- */

typedef struct chat_op {
  pier_op op;
  pier_step *s;
  cJSON *req;
  const cJSON *models; /* fallbacks array (in step inputs) */
  const cJSON *next_fallback;
  char model[512];     /* the model string of this attempt */
  pier_route route;
  pier_chat_call *call;
  pier_openai_agg agg;
  pier_step_chat_cb cb;
  void *arg;
} chat_op;

static void chat_free(chat_op *c) {
  pier_openai_agg_dispose(&c->agg);
  pier_route_dispose(&c->route);
  cJSON_Delete(c->req);
  free(c);
}

static void chat_cancel(pier_op *op) {
  chat_op *c = (chat_op *)op;
  pier_chat_call_cancel(c->call);
  chat_free(c);
}

static int chat_attempt(chat_op *c, pier_llm_error *err);

static void chat_deliver(chat_op *c, const pier_chat_result *res, const cJSON *completion) {
  pier_step_op_remove(c->s, &c->op);
  c->cb(c->s, c->arg, res, completion);
  chat_free(c);
}

static void chat_done(void *arg, const pier_chat_result *res) {
  chat_op *c = arg;
  c->call = NULL;
  pier_step *s = c->s;
  if (res->ok) {
    pier_buf out;
    pier_buf_init(&out, 0);
    cJSON *completion = NULL;
    if (pier_openai_agg_finish(&c->agg, &out) == 0) completion = cJSON_ParseWithLength(out.ptr, out.len);
    pier_buf_dispose(&out);
    pier_step_add_usage(s, c->route.model_id, &res->usage);
    pier_step_add_attempt(s, c->model, true, NULL);
    chat_deliver(c, res, completion);
    cJSON_Delete(completion);
    return;
  }
  pier_step_add_attempt(s, c->model, false, res->error.message);
  bool fallback = c->next_fallback && !res->delivered &&
                  (res->error.retryable || strcmp(res->error.code, "context_length_exceeded") == 0);
  if (fallback) {
    snprintf(c->model, sizeof c->model, "%s", c->next_fallback->valuestring);
    c->next_fallback = c->next_fallback->next;
    pier_llm_error e;
    if (chat_attempt(c, &e) == 0) return;
    pier_chat_result r2 = *res;
    r2.error = e;
    chat_deliver(c, &r2, NULL);
    return;
  }
  chat_deliver(c, res, NULL);
}

static int chat_attempt(chat_op *c, pier_llm_error *err) {
  pier_step *s = c->s;
  pier_env_view view = {.collection = pier_step_env(s), .server = pier_step_server_env(s)};
  const char *provider = pier_json_str(pier_step_inputs(s), "model_provider");
  char msg[1200];
  pier_route_dispose(&c->route);
  int rc = pier_route_resolve(c->model, provider, &view, &c->route, msg, sizeof msg);
  if (rc) {
    pier_llm_error_set(err, 400, NULL, rc == PIER_EAUTH ? "missing_credentials" : "invalid_model", false, "%s", msg);
    return rc;
  }
  cJSON_ReplaceItemInObjectCaseSensitive(c->req, "model", cJSON_CreateString(c->model));
  pier_openai_agg_dispose(&c->agg);
  pier_openai_meta meta = {.model = c->model};
  if ((rc = pier_openai_agg_init(&c->agg, &meta)) != 0) {
    pier_llm_error_set(err, 500, NULL, NULL, false, "out of memory");
    return rc;
  }
  pier_executor *ex = pier_step_executor(s);
  pier_chat_call_opts o = {.up = ex->up, .loop = ex->loop, .route = &c->route, .request = c->req, .stream = false,
                           .limits = *pier_step_limits(s), .on_event = pier_openai_agg_on_event, .arg = &c->agg,
                           .on_done = chat_done};
  o.arg = c;
  o.on_event = NULL; /* events go to the aggregator through chat_event */
  extern int pier_llmstep_chat_event(void *arg, const pier_chat_event *ev);
  o.on_event = pier_llmstep_chat_event;
  return pier_chat_call_start(&o, &c->call, err);
}

int pier_llmstep_chat_event(void *arg, const pier_chat_event *ev) {
  chat_op *c = arg;
  return pier_openai_agg_on_event(&c->agg, ev);
}

int pier_step_chat(pier_step *s, cJSON *req, pier_step_chat_cb cb, void *arg) {
  chat_op *c = calloc(1, sizeof *c);
  const char *model = pier_json_str(req, "model");
  if (!c || !model) {
    free(c);
    cJSON_Delete(req);
    return model ? PIER_ENOMEM : PIER_EINVAL;
  }
  c->op.cancel = chat_cancel;
  c->s = s;
  c->req = req;
  c->cb = cb;
  c->arg = arg;
  snprintf(c->model, sizeof c->model, "%s", model);
  const cJSON *fb = cJSON_GetObjectItemCaseSensitive(pier_step_inputs(s), "fallbacks");
  for (const cJSON *f = cJSON_IsArray(fb) ? fb->child : NULL; f; f = f->next)
    if (!cJSON_IsString(f)) fb = NULL;
  c->next_fallback = cJSON_IsArray(fb) ? fb->child : NULL;
  pier_step_op_add(s, &c->op);
  pier_llm_error e;
  if (chat_attempt(c, &e) != 0) {
    pier_chat_result res = {.ok = false, .error = e};
    pier_step_add_attempt(s, c->model, false, e.message);
    chat_deliver(c, &res, NULL);
  }
  return 0;
}

/* ---- embeddings --------------------------------------------------------------------- */

typedef struct embed_op {
  pier_op op;
  pier_step *s;
  cJSON *req;
  pier_route route;
  pier_embed *job;
  char model[512];
  pier_step_embed_cb cb;
  void *arg;
} embed_op;

static void embed_free(embed_op *m) {
  pier_route_dispose(&m->route);
  cJSON_Delete(m->req);
  free(m);
}

static void embed_cancel(pier_op *op) {
  embed_op *m = (embed_op *)op;
  pier_embed_cancel(m->job);
  embed_free(m);
}

static void embed_done(void *arg, const pier_embed_result *res) {
  embed_op *m = arg;
  m->job = NULL;
  pier_step *s = m->s;
  pier_step_op_remove(s, &m->op);
  cJSON *result = res->ok ? cJSON_ParseWithLength(res->body.ptr, res->body.len) : NULL;
  if (res->ok) {
    pier_usage u = {.prompt_tokens = res->prompt_tokens, .total_tokens = res->prompt_tokens};
    pier_step_add_usage(s, m->route.model_id, &u);
    s->api_calls += res->calls - 1; /* add_usage counted one */
  }
  m->cb(s, m->arg, res->ok && result, res->ok ? (result ? NULL : "the embeddings answer was not JSON") : res->error.message,
        result);
  cJSON_Delete(result);
  embed_free(m);
}

int pier_step_embed(pier_step *s, cJSON *req, pier_step_embed_cb cb, void *arg) {
  embed_op *m = calloc(1, sizeof *m);
  const char *model = pier_json_str(req, "model");
  if (!m || !model) {
    free(m);
    cJSON_Delete(req);
    return model ? PIER_ENOMEM : PIER_EINVAL;
  }
  m->op.cancel = embed_cancel;
  m->s = s;
  m->req = req;
  m->cb = cb;
  m->arg = arg;
  snprintf(m->model, sizeof m->model, "%s", model);
  pier_env_view view = {.collection = pier_step_env(s), .server = pier_step_server_env(s)};
  char msg[1200];
  pier_llm_error e;
  int rc = pier_route_resolve(m->model, pier_json_str(pier_step_inputs(s), "model_provider"), &view, &m->route, msg,
                              sizeof msg);
  if (rc) {
    pier_llm_error_set(&e, 400, NULL, NULL, false, "%s", msg);
  } else {
    pier_executor *ex = pier_step_executor(s);
    pier_embed_opts o = {.up = ex->up, .loop = ex->loop, .route = &m->route, .request = m->req, .model = m->model,
                         .limits = *pier_step_limits(s), .on_done = embed_done, .arg = m};
    pier_step_op_add(s, &m->op);
    rc = pier_embed_start(&o, &m->job, &e);
    if (rc) pier_step_op_remove(s, &m->op);
  }
  if (rc) {
    cb(s, arg, false, e.message, NULL);
    embed_free(m);
  }
  return 0;
}

/* ---- stored files --------------------------------------------------------------------- */

typedef struct file_op {
  pier_op op;
  pier_step *s;
  uv_work_t work;
  char *path;
  size_t max;
  pier_buf data;
  int rc;
  bool cancelled;
  pier_step_file_cb cb;
  void *arg;
} file_op;

static void file_read(uv_work_t *w) {
  file_op *f = w->data;
  int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    f->rc = PIER_ENOTFOUND;
    return;
  }
  char chunk[65536];
  ssize_t n;
  while ((n = read(fd, chunk, sizeof chunk)) > 0)
    if ((f->rc = pier_buf_append(&f->data, chunk, (size_t)n)) != 0) break;
  if (n < 0) f->rc = PIER_EIO;
  close(fd);
}

static const char *content_type_of(const char *path) {
  const char *dot = strrchr(path, '.');
  static const char *map[][2] = {{".png", "image/png"},   {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},
                                 {".gif", "image/gif"},   {".webp", "image/webp"},     {".pdf", "application/pdf"},
                                 {".json", "application/json"}, {".txt", "text/plain"}, {".md", "text/markdown"},
                                 {".csv", "text/csv"},    {".html", "text/html"},      {NULL, NULL}};
  for (int i = 0; dot && map[i][0]; i++)
    if (strcasecmp(dot, map[i][0]) == 0) return map[i][1];
  return "application/octet-stream";
}

static void file_after(uv_work_t *w, int status) {
  file_op *f = w->data;
  if (!f->cancelled) {
    pier_step_op_remove(f->s, &f->op);
    f->cb(f->s, f->arg, status ? PIER_ECANCELLED : f->rc, pier_buf_slice(&f->data), content_type_of(f->path));
  }
  pier_buf_dispose(&f->data);
  free(f->path);
  free(f);
}

static void file_cancel(pier_op *op) { ((file_op *)op)->cancelled = true; /* freed by file_after */ }

/* A storage path is "{collection}/..." with no "..", no empty segment. */
static bool safe_storage_path(const char *p, const char *collection) {
  size_t n = strlen(collection);
  if (strncmp(p, collection, n) != 0 || p[n] != '/') return false;
  for (const char *seg = p; *seg;) {
    const char *slash = strchr(seg, '/');
    size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
    if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) return false;
    seg += len + (slash ? 1 : 0);
  }
  return true;
}

bool pier_step_storage_path_ok(const pier_step *s, const char *storage_path) {
  return safe_storage_path(storage_path, pier_step_collection(s));
}

int pier_step_read_file(pier_step *s, const char *storage_path, size_t max_bytes, pier_step_file_cb cb, void *arg) {
  if (!safe_storage_path(storage_path, pier_step_collection(s))) return PIER_EINVAL;
  file_op *f = calloc(1, sizeof *f);
  if (!f) return PIER_ENOMEM;
  size_t n = strlen(pier_step_data_dir(s)) + strlen(storage_path) + 16;
  f->path = malloc(n);
  if (!f->path) {
    free(f);
    return PIER_ENOMEM;
  }
  snprintf(f->path, n, "%s/files/%s", pier_step_data_dir(s), storage_path);
  f->op.cancel = file_cancel;
  f->s = s;
  f->max = max_bytes;
  pier_buf_init(&f->data, max_bytes);
  f->cb = cb;
  f->arg = arg;
  f->work.data = f;
  pier_step_op_add(s, &f->op);
  if (uv_queue_work(pier_step_executor(s)->loop, &f->work, file_read, file_after) != 0) {
    pier_step_op_remove(s, &f->op);
    free(f->path);
    free(f);
    return PIER_EIO;
  }
  return 0;
}

/* ---- child runs (list_emit_await) ------------------------------------------------------- */

typedef struct child_op {
  pier_op op;
  pier_step *s;
  pier_engine *e;
  pier_executor *ex;
  int64_t collection_id;
  char *collection, *task, *parent, *parent_step;
  int item;
  cJSON *params;
  pier_arena arena;
  pier_task t;
  const char *stored_doc; /* adopted child that had ended: its stored trajectory */
  pier_watch *watch;
  char run_id[16];
  int pending; /* store job / submit callback still to come */
  bool cancelled;
  pier_step_child_cb cb;
  void *arg;
} child_op;

static void child_free(child_op *c) {
  pier_watch_close(c->watch);
  cJSON_Delete(c->params);
  pier_arena_dispose(&c->arena);
  free(c->collection);
  free(c->task);
  free(c->parent);
  free(c->parent_step);
  free(c);
}

static void child_finish(child_op *c, const cJSON *doc, const char *error) {
  if (c->cancelled) return;
  pier_step_op_remove(c->s, &c->op);
  c->cancelled = true; /* nothing else may call back */
  c->cb(c->s, c->arg, c->run_id[0] ? c->run_id : NULL, doc, error);
  if (!c->pending) child_free(c);
}

static void child_cancel(pier_op *op) {
  child_op *c = (child_op *)op;
  c->cancelled = true;
  if (c->run_id[0]) pier_engine_cancel(c->e, c->run_id, c->collection_id, NULL); /* ENOTFOUND: already over */
  pier_watch_close(c->watch);
  c->watch = NULL;
  if (!c->pending) child_free(c);
}

static void child_end(void *arg, const char *doc, size_t len) {
  child_op *c = arg;
  cJSON *d = doc ? cJSON_ParseWithLength(doc, len) : NULL;
  child_finish(c, d, d ? NULL : "the child run did not finish (the server is shutting down)");
  cJSON_Delete(d);
}

static void child_created(void *arg, int rc, const char *id) {
  child_op *c = arg;
  c->pending--;
  if (c->cancelled) {
    if (!rc) pier_engine_cancel(c->e, id, c->collection_id, NULL);
    if (!c->pending) child_free(c);
    return;
  }
  snprintf(c->run_id, sizeof c->run_id, "%s", id);
  if (rc) {
    child_finish(c, NULL, "the child run could not be stored");
    return;
  }
  pier_watch_cbs cbs = {.on_end = child_end, .arg = c};
  if (pier_engine_watch(c->e, c->ex, id, &cbs, &c->watch) != 0) child_finish(c, NULL, "the child run vanished");
}

static int task_work(pier_db *db, void *arg) {
  child_op *c = arg;
  return db->ops->task_get(db, &c->arena, c->collection_id, pier_slice_from(c->task), &c->t);
}

static void task_done(void *arg, int rc) {
  child_op *c = arg;
  c->pending--;
  if (c->cancelled) {
    if (!c->pending) child_free(c);
    return;
  }
  char msg[300];
  cJSON *wf = rc ? NULL : cJSON_Parse(c->t.workflow_json);
  if (!wf) {
    snprintf(msg, sizeof msg, "child task \"%s\" %s in collection \"%s\"", c->task,
             rc == PIER_ENOTFOUND ? "does not exist" : "could not be read", c->collection);
    child_finish(c, NULL, msg);
    return;
  }
  cJSON *merged = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(wf, "init_params"), 1);
  if (!cJSON_IsObject(merged)) {
    cJSON_Delete(merged);
    merged = cJSON_CreateObject();
  }
  for (cJSON *p = c->params ? c->params->child : NULL; p; p = p->next) {
    cJSON_DeleteItemFromObjectCaseSensitive(merged, p->string);
    cJSON_AddItemToObject(merged, p->string, cJSON_Duplicate(p, 1));
  }
  pier_run_spec spec = {.collection_id = c->collection_id, .collection = c->collection, .task = c->task,
                        .workflow = wf, .init_params = merged, .parent_id = c->parent, .author = "list_emit_await",
                        .parent_step = c->parent_step, .parent_item = c->item};
  c->pending++;
  if (pier_engine_submit(c->e, c->ex, &spec, child_created, c) != 0) {
    c->pending--;
    child_finish(c, NULL, "the child run could not be started");
  }
  cJSON_Delete(merged);
  cJSON_Delete(wf);
}

static child_op *child_new(pier_step *s, const char *task, pier_step_child_cb cb, void *arg) {
  child_op *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->op.cancel = child_cancel;
  c->s = s;
  c->e = pier_step_engine(s);
  c->ex = pier_step_executor(s);
  c->collection_id = pier_step_collection_id(s);
  c->collection = strdup(pier_step_collection(s));
  c->task = strdup(task);
  c->parent = strdup(pier_step_run_id(s));
  c->parent_step = strdup(pier_step_name(s));
  c->cb = cb;
  c->arg = arg;
  pier_arena_init(&c->arena);
  if (!c->collection || !c->task || !c->parent || !c->parent_step) {
    child_free(c);
    return NULL;
  }
  return c;
}

int pier_step_run_child(pier_step *s, const char *task, int item, const cJSON *init_params, pier_step_child_cb cb,
                        void *arg) {
  child_op *c = child_new(s, task, cb, arg);
  if (!c) return PIER_ENOMEM;
  c->item = item;
  c->params = init_params ? cJSON_Duplicate(init_params, 1) : NULL;
  pier_step_op_add(s, &c->op);
  c->pending++;
  if (pier_store_submit(c->e->store, PIER_STORE_READ, c->ex->mailbox, task_work, task_done, c) != 0) {
    pier_step_op_remove(s, &c->op);
    child_free(c);
    return PIER_EIO;
  }
  return 0;
}

/* An adopted child that is no longer active: its stored trajectory. */
static int stored_child_work(pier_db *db, void *arg) {
  child_op *c = arg;
  pier_traj t;
  int rc = db->ops->traj_get(db, &c->arena, c->collection_id, pier_slice_from(c->task), pier_slice_from(c->run_id), &t);
  if (!rc) c->stored_doc = t.doc;
  return rc;
}

static void stored_child_done(void *arg, int rc) {
  child_op *c = arg;
  c->pending--;
  if (c->cancelled) {
    if (!c->pending) child_free(c);
    return;
  }
  cJSON *doc = rc ? NULL : cJSON_Parse(c->stored_doc);
  const char *status = doc ? pier_json_str(doc, "status") : NULL;
  if (status && (!strcmp(status, "pending") || !strcmp(status, "running"))) {
    /* stored as unfinished, yet not among the active runs: it could not be resumed */
    child_finish(c, NULL, "the child run was not resumed after the restart (see the server log)");
  } else {
    child_finish(c, doc, doc ? NULL : "the child run's trajectory could not be read");
  }
  cJSON_Delete(doc);
}

int pier_step_adopt_child(pier_step *s, const char *task, const char *run_id, pier_step_child_cb cb, void *arg) {
  child_op *c = child_new(s, task, cb, arg);
  if (!c) return PIER_ENOMEM;
  snprintf(c->run_id, sizeof c->run_id, "%s", run_id);
  pier_step_op_add(s, &c->op);
  pier_watch_cbs cbs = {.on_end = child_end, .arg = c};
  int rc = pier_engine_watch(c->e, c->ex, c->run_id, &cbs, &c->watch);
  if (rc == PIER_ENOTFOUND) { /* it ended before the restart */
    c->pending++;
    rc = pier_store_submit(c->e->store, PIER_STORE_READ, c->ex->mailbox, stored_child_work, stored_child_done, c);
    if (rc) c->pending--;
  }
  if (rc) {
    pier_step_op_remove(s, &c->op);
    child_free(c);
  }
  return rc;
}

typedef struct kids_op {
  pier_op op;
  pier_step *s;
  int64_t collection_id;
  char task[256], parent[16];
  char *step;
  int64_t since_us; /* the parent run's creation: its children are younger */
  pier_arena arena;
  pier_traj_child *kids;
  size_t n;
  bool cancelled;
  pier_step_kids_cb cb;
  void *arg;
} kids_op;

static int kids_work(pier_db *db, void *arg) {
  kids_op *k = arg;
  return db->ops->traj_children(db, &k->arena, k->collection_id, pier_slice_from(k->task), k->parent, k->step,
                                k->since_us, &k->kids, &k->n);
}

static void kids_done(void *arg, int rc) {
  kids_op *k = arg;
  if (!k->cancelled) {
    pier_step_op_remove(k->s, &k->op);
    k->cb(k->s, k->arg, rc, rc ? NULL : k->kids, rc ? 0 : k->n);
  }
  pier_arena_dispose(&k->arena);
  free(k->step);
  free(k);
}

static void kids_cancel(pier_op *op) { ((kids_op *)op)->cancelled = true; /* freed by kids_done */ }

int pier_step_find_children(pier_step *s, const char *task, pier_step_kids_cb cb, void *arg) {
  kids_op *k = calloc(1, sizeof *k);
  if (!k) return PIER_ENOMEM;
  *k = (kids_op){.op.cancel = kids_cancel, .s = s, .collection_id = pier_step_collection_id(s), .cb = cb, .arg = arg,
                 .since_us = s->run->created_us};
  k->step = strdup(pier_step_name(s));
  if (!k->step || snprintf(k->task, sizeof k->task, "%s", task) >= (int)sizeof k->task ||
      snprintf(k->parent, sizeof k->parent, "%s", pier_step_run_id(s)) >= (int)sizeof k->parent) {
    int rc = k->step ? PIER_EINVAL : PIER_ENOMEM;
    free(k->step);
    free(k);
    return rc;
  }
  pier_arena_init(&k->arena);
  pier_step_op_add(s, &k->op);
  if (pier_store_submit(pier_step_engine(s)->store, PIER_STORE_READ, pier_step_executor(s)->mailbox, kids_work,
                        kids_done, k) != 0) {
    pier_step_op_remove(s, &k->op);
    pier_arena_dispose(&k->arena);
    free(k->step);
    free(k);
    return PIER_EIO;
  }
  return 0;
}

/* ---- file records -------------------------------------------------------------------------- */

typedef struct rec_op {
  pier_op op;
  pier_step *s;
  pier_file_rec *recs; /* copies, with their strings, in the same allocation */
  size_t n;
  bool cancelled;
  pier_step_done_cb cb;
  void *arg;
} rec_op;

static int rec_work(pier_db *db, void *arg) {
  rec_op *r = arg;
  int rc = 0;
  for (size_t i = 0; !rc && i < r->n; i++) rc = db->ops->file_put(db, &r->recs[i]);
  return rc;
}

static void rec_done(void *arg, int rc) {
  rec_op *r = arg;
  if (!r->cancelled) {
    pier_step_op_remove(r->s, &r->op);
    r->cb(r->s, r->arg, rc);
  }
  free(r);
}

static void rec_cancel(pier_op *op) { ((rec_op *)op)->cancelled = true; /* freed by rec_done */ }

int pier_step_record_files(pier_step *s, const pier_file_rec *recs, size_t n, pier_step_done_cb cb, void *arg) {
  size_t size = sizeof(rec_op) + n * sizeof(pier_file_rec);
  for (size_t i = 0; i < n; i++) size += strlen(recs[i].path) + strlen(recs[i].content_type) + 2;
  rec_op *r = calloc(1, size);
  if (!r) return PIER_ENOMEM;
  *r = (rec_op){.op.cancel = rec_cancel, .s = s, .recs = (pier_file_rec *)(r + 1), .n = n, .cb = cb, .arg = arg};
  char *str = (char *)(r->recs + n);
  for (size_t i = 0; i < n; i++) {
    r->recs[i] = recs[i];
    size_t pl = strlen(recs[i].path) + 1, cl = strlen(recs[i].content_type) + 1;
    r->recs[i].path = memcpy(str, recs[i].path, pl);
    r->recs[i].content_type = memcpy(str + pl, recs[i].content_type, cl);
    str += pl + cl;
  }
  pier_step_op_add(s, &r->op);
  if (pier_store_submit(pier_step_engine(s)->store, PIER_STORE_WRITE, pier_step_executor(s)->mailbox, rec_work,
                        rec_done, r) != 0) {
    pier_step_op_remove(s, &r->op);
    free(r);
    return PIER_EIO;
  }
  return 0;
}

/* ---- blocking work off the loop ---------------------------------------------------------- */

typedef struct work_op {
  pier_op op;
  pier_step *s;
  uv_work_t work;
  bool cancelled;
  void (*fn)(void *arg);
  pier_step_after_cb after;
  void *arg;
} work_op;

static void work_run(uv_work_t *w) {
  work_op *o = w->data;
  o->fn(o->arg);
}

static void work_after(uv_work_t *w, int status) {
  work_op *o = w->data;
  if (!o->cancelled) pier_step_op_remove(o->s, &o->op);
  o->after(o->cancelled ? NULL : o->s, o->arg, status == 0 && !o->cancelled);
  free(o);
}

static void work_cancel(pier_op *op) { ((work_op *)op)->cancelled = true; /* work_after still runs, step NULL */ }

int pier_step_work(pier_step *s, void (*fn)(void *arg), pier_step_after_cb after, void *arg) {
  work_op *o = calloc(1, sizeof *o);
  if (!o) return PIER_ENOMEM;
  *o = (work_op){.op.cancel = work_cancel, .s = s, .fn = fn, .after = after, .arg = arg};
  o->work.data = o;
  pier_step_op_add(s, &o->op);
  if (uv_queue_work(pier_step_executor(s)->loop, &o->work, work_run, work_after) != 0) {
    pier_step_op_remove(s, &o->op);
    free(o);
    return PIER_EIO;
  }
  return 0;
}
