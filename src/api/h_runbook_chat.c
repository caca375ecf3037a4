/* h_runbook_chat.c — runbook mode of POST /v1/chat/completions (Jetty's
 * `jetty.runbook: true`, reference §8.2): the system message is the runbook,
 * the top-level model the agent's model. The task (jetty.task, default
 * "runbook") is created with the canonical runbook workflow when missing, the
 * run starts at once, and the answer is
 *   - stream:false: 200 chat.completion with the agent's text and
 *     jetty_metadata once the run ends within timeout_hint (default 1200 s),
 *     else 202 with the workflow_id while the run goes on;
 *   - stream:true: chat.completion.chunk frames carrying the agent's live
 *     progress (step_progress events), SSE keep-alives, jetty_metadata on the
 *     first and the last chunk, then [DONE].
 * A client that goes away does not stop the run (read it by its trajectory id
 * or cancel it). Invariant: ctx lives in the request arena; answering or
 * ending the stream is the last thing done with it. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

#define DEFAULT_TASK "runbook"
#define HINT_DEFAULT_S 1200
#define INSTRUCTION_MAX (1024 * 1024)
#define SSE_HEADERS "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"

typedef struct rb_chat {
  pier_http_req *req;
  cJSON *body;
  const cJSON *jetty;
  pier_collection col;
  const char *task_name;
  cJSON *params; /* init_params of this run (freed with the request arena) */
  pier_task task;
  cJSON *workflow, *init;
  bool stream, include_usage;
  double hint_s;
  cJSON *labels; /* borrowed from body */
  char id[16];
  char *workflow_id, *chat_id;
  int64_t created_s;
  pier_watch *watch;
  uv_timer_t *timer; /* timeout_hint (non-stream) or keep-alive (stream); heap, closed async */
  uint64_t last_ms;
  bool ended;
} rb_chat;

static void release(rb_chat *x) {
  pier_watch_close(x->watch);
  x->watch = NULL;
  pier_api_timer_close(&x->timer);
  cJSON_Delete(x->workflow);
  cJSON_Delete(x->init);
  x->workflow = x->init = NULL;
}

static void fail(rb_chat *x, int status, const char *msg) {
  release(x);
  pier_api_error(x->req, status, NULL, "%s", msg);
}

/* ---- reading the request ------------------------------------------------------------------- */

/* The text of a message's content: a string, or the text parts of an array. */
static int content_text(const cJSON *content, pier_buf *out) {
  if (cJSON_IsString(content)) return pier_buf_append_cstr(out, content->valuestring);
  int rc = 0;
  for (const cJSON *p = cJSON_IsArray(content) ? content->child : NULL; p && !rc; p = p->next) {
    const char *t = pier_json_str(p, "text");
    if (t) rc = pier_buf_appendf(out, "%s%s", out->len ? "\n" : "", t);
  }
  return rc;
}

/* The runbook: the system message(s), then what the user said ("Execute the
 * runbook." and the like) after a blank line. */
static char *instruction(rb_chat *x, char *err, size_t errlen) {
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(x->body, "messages");
  pier_buf sys, user;
  pier_buf_init(&sys, INSTRUCTION_MAX);
  pier_buf_init(&user, INSTRUCTION_MAX);
  int rc = 0;
  for (const cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m && !rc; m = m->next) {
    const char *role = pier_json_str(m, "role");
    pier_buf *to = role && (!strcmp(role, "system") || !strcmp(role, "developer")) ? &sys
                   : role && !strcmp(role, "user")                                 ? &user
                                                                                   : NULL;
    if (!to) continue;
    if (to->len) rc = pier_buf_append_cstr(to, "\n\n");
    if (!rc) rc = content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), to);
  }
  if (!rc && sys.len && user.len) rc = pier_buf_appendf(&sys, "\n\n%.*s", (int)user.len, user.ptr);
  char *out = NULL;
  if (rc) {
    snprintf(err, errlen, rc == PIER_ETOOBIG ? "the runbook is larger than 1 MiB" : "out of memory");
  } else if (!sys.len && !user.len) {
    snprintf(err, errlen, "runbook mode needs the runbook as the system message (messages[0]) and a short user "
                          "message such as \"Execute the runbook.\"");
  } else {
    out = sys.len ? pier_buf_detach(&sys, NULL) : pier_buf_detach(&user, NULL);
  }
  pier_buf_dispose(&sys);
  pier_buf_dispose(&user);
  return out;
}

static bool type_ok(const cJSON *v, int type) { return !v || cJSON_IsNull(v) || (v->type & 0xFF) == type; }

/* init_params for the run from the jetty block; NULL with err set. */
static cJSON *run_params(rb_chat *x, char *err, size_t errlen) {
  const cJSON *j = x->jetty;
  static const struct {
    const char *key, *as;
    int type;
  } fields[] = {
      {"agent", "agent", cJSON_String},           {"model_provider", "model_provider", cJSON_String},
      {"snapshot", "snapshot", cJSON_String},     {"image", "snapshot", cJSON_String},
      {"template_variables", "vars", cJSON_Object}, {"cpus", "cpus", cJSON_Number},
      {"memory", "memory", cJSON_String},         {"network_enabled", "network_enabled", cJSON_True},
      {"agent_env", "agent_env", cJSON_Object},   {"timeout_sec", "timeout_sec", cJSON_Number},
      {"timeout", "timeout_sec", cJSON_Number},   {"primary_outputs", "primary_outputs", cJSON_Array},
  };
  cJSON *p = cJSON_CreateObject();
  for (size_t i = 0; p && i < sizeof fields / sizeof *fields; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[i].key);
    if (!v || cJSON_IsNull(v) || cJSON_GetObjectItemCaseSensitive(p, fields[i].as)) continue;
    bool ok = fields[i].type == cJSON_True ? cJSON_IsBool(v) : type_ok(v, fields[i].type);
    if (!ok && fields[i].type == cJSON_String && !strcmp(fields[i].key, "memory")) ok = cJSON_IsNumber(v);
    if (!ok) {
      static const char *const names[] = {[cJSON_String] = "a string", [cJSON_Object] = "an object",
                                          [cJSON_Number] = "a number", [cJSON_True] = "true or false",
                                          [cJSON_Array] = "an array"};
      snprintf(err, errlen, "jetty.%s must be %s", fields[i].key, names[fields[i].type]);
      cJSON_Delete(p);
      return NULL;
    }
    cJSON_AddItemToObject(p, fields[i].as, cJSON_Duplicate(v, 1));
  }
  if (!p) return NULL;
  cJSON_AddStringToObject(p, "model", pier_json_str(x->body, "model"));
  /* file_paths: storage paths; Jetty's `file-…` ids (from an upload API pier
   * does not have) are dropped as Jetty drops them */
  cJSON *paths = cJSON_AddArrayToObject(p, "file_paths");
  static const char *const lists[] = {"file_paths", "files", NULL};
  for (int l = 0; lists[l]; l++) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, lists[l]);
    if (!arr || cJSON_IsNull(arr)) continue;
    if (!cJSON_IsArray(arr)) {
      snprintf(err, errlen, "jetty.%s must be an array of storage paths", lists[l]);
      cJSON_Delete(p);
      return NULL;
    }
    for (const cJSON *f = arr->child; f; f = f->next) {
      if (!cJSON_IsString(f)) {
        snprintf(err, errlen, "jetty.%s must be an array of storage paths (strings)", lists[l]);
        cJSON_Delete(p);
        return NULL;
      }
      if (strncmp(f->valuestring, "file-", 5) != 0) cJSON_AddItemToArray(paths, cJSON_CreateString(f->valuestring));
    }
  }
  char *text = instruction(x, err, errlen);
  if (!text) {
    cJSON_Delete(p);
    return NULL;
  }
  cJSON_AddStringToObject(p, "instruction", text);
  free(text);
  return p;
}

/* The canonical stored runbook task (reference §6.2), every knob a path into
 * init_params so each request's jetty block can set it. */
static const char CANONICAL[] =
    "{\"init_params\":{\"agent\":\"claude-code\",\"model\":\"claude-sonnet-4-6\",\"model_provider\":\"\","
    "\"snapshot\":\"python312-uv\",\"instruction\":\"\",\"vars\":{},\"file_paths\":[],\"cpus\":4,"
    "\"memory\":\"8G\",\"timeout_sec\":1200,\"network_enabled\":true,\"agent_env\":{},\"primary_outputs\":[]},"
    "\"step_configs\":{\"run\":{\"activity\":\"runbook\",\"agent_path\":\"init_params.agent\","
    "\"model_path\":\"init_params.model\",\"model_provider_path\":\"init_params.model_provider\","
    "\"snapshot_path\":\"init_params.snapshot\",\"instruction_path\":\"init_params.instruction\","
    "\"template_variables_path\":\"init_params.vars\",\"files_path\":\"init_params.file_paths\","
    "\"cpus_path\":\"init_params.cpus\",\"memory_path\":\"init_params.memory\","
    "\"timeout_sec_path\":\"init_params.timeout_sec\",\"network_enabled_path\":\"init_params.network_enabled\","
    "\"agent_env_path\":\"init_params.agent_env\",\"primary_outputs_path\":\"init_params.primary_outputs\"}},"
    "\"steps\":[\"run\"]}";

/* ---- the answer ------------------------------------------------------------------------------ */

/* The step whose outputs answer: the last runbook step of the run, else the last step. */
static const cJSON *answer_step(const cJSON *doc) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(doc, "steps"), *last = NULL, *rb = NULL;
  for (const cJSON *s = cJSON_IsObject(steps) ? steps->child : NULL; s; s = s->next) {
    last = s;
    const char *act = pier_json_str(s, "activity");
    if (act && !strcmp(act, "runbook")) rb = s;
  }
  return rb ? rb : last;
}

static cJSON *metadata(rb_chat *x, const char *status, const cJSON *doc) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "mode", "runbook");
  cJSON_AddStringToObject(m, "status", status);
  cJSON_AddStringToObject(m, "trajectory_id", x->id);
  cJSON_AddStringToObject(m, "workflow_id", x->workflow_id);
  cJSON_AddStringToObject(m, "collection", x->col.name);
  cJSON_AddStringToObject(m, "task", x->task.name);
  if (!doc) return m;
  const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "error");
  if (cJSON_IsString(err)) cJSON_AddStringToObject(m, "error", err->valuestring);
  const cJSON *out = cJSON_GetObjectItemCaseSensitive(answer_step(doc), "outputs");
  cJSON *files = cJSON_AddArrayToObject(m, "files");
  const cJSON *rf = cJSON_GetObjectItemCaseSensitive(out, "results_files");
  for (const cJSON *f = cJSON_IsArray(rf) ? rf->child : NULL; f; f = f->next)
    cJSON_AddItemToArray(files, cJSON_Duplicate(f, 1));
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(out, "usage");
  if (cJSON_IsObject(u)) cJSON_AddItemToObject(m, "usage", cJSON_Duplicate(u, 1));
  return m;
}

static cJSON *openai_usage(const cJSON *doc) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(answer_step(doc), "outputs"),
                                                    "usage");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "prompt_tokens", pier_json_num(u, "prompt_tokens", 0));
  cJSON_AddNumberToObject(o, "completion_tokens", pier_json_num(u, "completion_tokens", 0));
  cJSON_AddNumberToObject(o, "total_tokens", pier_json_num(u, "total_tokens", 0));
  return o;
}

/* The agent's final text; for a run that did not complete, what went wrong. */
static const char *final_text(const cJSON *doc, char *buf, size_t cap) {
  const char *status = pier_json_str(doc, "status");
  const char *text = pier_json_str(cJSON_GetObjectItemCaseSensitive(answer_step(doc), "outputs"), "text");
  if (status && !strcmp(status, "completed")) return text ? text : "";
  const char *err = pier_json_str(doc, "error");
  snprintf(buf, cap, "The runbook run %s: %s", status ? status : "ended", err ? err : "no error recorded");
  return buf;
}

/* {id, object, created, model} and a first choice {index: 0} (NULL: no choice). */
static cJSON *completion(rb_chat *x, const char *id, const char *object, cJSON **choice) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", id);
  cJSON_AddStringToObject(o, "object", object);
  cJSON_AddNumberToObject(o, "created", (double)x->created_s);
  cJSON_AddStringToObject(o, "model", pier_json_str(x->body, "model"));
  cJSON *choices = cJSON_AddArrayToObject(o, "choices");
  if (choice) {
    *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(*choice, "index", 0);
    cJSON_AddItemToArray(choices, *choice);
  }
  return o;
}

static void answer_done(rb_chat *x, const char *doc_json, size_t len) {
  pier_http_req *req = x->req;
  cJSON *doc = cJSON_ParseWithLength(doc_json, len);
  const char *status = doc ? pier_json_str(doc, "status") : NULL;
  char buf[1400];
  cJSON *choice;
  cJSON *o = completion(x, x->chat_id, "chat.completion", &choice);
  cJSON *msg = cJSON_AddObjectToObject(choice, "message");
  cJSON_AddStringToObject(msg, "role", "assistant");
  cJSON_AddStringToObject(msg, "content", doc ? final_text(doc, buf, sizeof buf) : "");
  cJSON_AddStringToObject(choice, "finish_reason", "stop");
  cJSON_AddItemToObject(o, "usage", openai_usage(doc));
  cJSON_AddItemToObject(o, "jetty_metadata", metadata(x, status ? status : "unknown", doc));
  cJSON_Delete(doc);
  release(x);
  pier_http_respond_json(req, 200, o);
  cJSON_Delete(o);
}

static void answer_running(rb_chat *x, const char *note) {
  pier_http_req *req = x->req;
  char *id = pier_arena_printf(&req->arena, "chatcmpl-%s", x->workflow_id);
  cJSON *o = completion(x, id ? id : x->chat_id, "chat.completion", NULL);
  cJSON *m = metadata(x, "running", NULL);
  cJSON_AddStringToObject(m, "message", note);
  cJSON_AddItemToObject(o, "jetty_metadata", m);
  release(x);
  pier_http_respond_json(req, 202, o);
  cJSON_Delete(o);
}

/* ---- streaming --------------------------------------------------------------------------------- */

static void write_frame(rb_chat *x, const char *data, size_t len) {
  if (pier_http_stream_write(x->req, data, len) == 0) x->last_ms = uv_now(pier_http_loop_uv(x->req->loop));
}

/* data: {chunk}\n\n with delta {content} (NULL: {}), finish_reason, extra fields (taken). */
static void write_chunk(rb_chat *x, const char *role, const char *content, const char *finish, cJSON *meta,
                        cJSON *usage) {
  cJSON *choice;
  cJSON *o = completion(x, x->chat_id, "chat.completion.chunk", &choice);
  cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
  if (role) cJSON_AddStringToObject(delta, "role", role);
  if (content) cJSON_AddStringToObject(delta, "content", content);
  if (finish) cJSON_AddStringToObject(choice, "finish_reason", finish);
  else cJSON_AddNullToObject(choice, "finish_reason");
  if (usage) cJSON_AddItemToObject(o, "usage", usage);
  if (meta) cJSON_AddItemToObject(o, "jetty_metadata", meta);
  char *json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!json) return;
  pier_buf b;
  pier_buf_init(&b, 0);
  if (pier_buf_appendf(&b, "data: %s\n\n", json) == 0) write_frame(x, b.ptr, b.len);
  pier_buf_dispose(&b);
  cJSON_free(json);
}

static void end_stream(rb_chat *x) {
  if (x->ended) return;
  x->ended = true;
  write_frame(x, "data: [DONE]\n\n", 14);
  pier_http_req *req = x->req;
  release(x);
  pier_http_stream_end(req);
}

/* Engine events ("event: NAME\ndata: {...}\n\n") -> content chunks. */
static void on_event(void *arg, const char *frame, size_t len) {
  rb_chat *x = arg;
  const char *data = memmem(frame, len, "\ndata: ", 7);
  if (!data) return;
  data += 7;
  size_t n = len - (size_t)(data - frame);
  while (n && (data[n - 1] == '\n')) n--;
  cJSON *ev = cJSON_ParseWithLength(data, n);
  const char *name = pier_json_str(ev, "event");
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(ev, "step");
  char buf[1400];
  if (name && !strcmp(name, "step_progress")) {
    const char *text = pier_json_str(ev, "text");
    if (text) write_chunk(x, NULL, text, NULL, NULL, NULL);
  } else if (name && !strcmp(name, "step_failed")) {
    snprintf(buf, sizeof buf, "Step %s failed: %s\n", pier_json_str(step, "key") ? pier_json_str(step, "key") : "?",
             pier_json_str(step, "error") ? pier_json_str(step, "error") : "");
    write_chunk(x, NULL, buf, NULL, NULL, NULL);
  }
  cJSON_Delete(ev);
}

static void on_stream_end(void *arg, const char *doc_json, size_t len) {
  rb_chat *x = arg;
  if (!doc_json) {
    write_chunk(x, NULL, NULL, "stop", metadata(x, "running", NULL), NULL);
    end_stream(x);
    return;
  }
  cJSON *doc = cJSON_ParseWithLength(doc_json, len);
  const char *status = doc ? pier_json_str(doc, "status") : NULL;
  if (status && strcmp(status, "completed")) {
    char buf[1400];
    char *line = pier_arena_printf(&x->req->arena, "%s\n", final_text(doc, buf, sizeof buf));
    if (line) write_chunk(x, NULL, line, NULL, NULL, NULL);
  }
  cJSON *meta = metadata(x, status ? status : "unknown", doc);
  const char *text = pier_json_str(cJSON_GetObjectItemCaseSensitive(answer_step(doc), "outputs"), "text");
  if (text) cJSON_AddStringToObject(meta, "result", text);
  write_chunk(x, NULL, NULL, "stop", meta, x->include_usage ? openai_usage(doc) : NULL);
  cJSON_Delete(doc);
  end_stream(x);
}

static void on_keepalive(uv_timer_t *t) {
  rb_chat *x = t->data;
  if (uv_now(t->loop) - x->last_ms >= APP(x->req)->cfg.sse_keepalive_ms) write_frame(x, ": keep-alive\n\n", 14);
}

/* ---- the run ----------------------------------------------------------------------------------- */

static void on_end(void *arg, const char *doc, size_t len) {
  rb_chat *x = arg;
  if (!doc) {
    answer_running(x, "the server is stopping; the run resumes when it restarts");
    return;
  }
  answer_done(x, doc, len);
}

static void on_hint(uv_timer_t *t) {
  answer_running(t->data, "still running after timeout_hint; poll GET /api/v1/db/trajectory/{collection}/{task}/"
                          "{trajectory_id} or stream it from .../events");
}

static void on_abort(pier_http_req *req, void *arg) {
  (void)req;
  rb_chat *x = arg;
  if (!x->watch || x->ended) return;
  x->ended = true; /* the run goes on; nobody is listening */
  release(x);
  if (x->stream) pier_http_stream_end(x->req);
  else pier_http_respond_empty(x->req, 499);
}

/* The run's labels, stored off the loop. The job owns its copies: the request
 * (and its arena) may be answered and freed before the store gets to it. */
typedef struct label_job {
  char id[16];
  cJSON *labels;
} label_job;

static int label_work(pier_db *db, void *arg) {
  label_job *j = arg;
  int rc = 0;
  for (const cJSON *l = j->labels->child; l && !rc; l = l->next) {
    pier_label lab = {.key = pier_json_str(l, "key"), .value = pier_json_str(l, "value"), .author = "runbook",
                      .created_us = pier_now_us()};
    rc = db->ops->label_add(db, j->id, &lab);
  }
  return rc;
}

static void label_done(void *arg, int rc) {
  label_job *j = arg;
  if (rc) PIER_LOG(PIER_LOG_WARN, "runbook", "run=%s: could not store its labels", j->id);
  cJSON_Delete(j->labels);
  free(j);
}

static void store_labels(rb_chat *x) {
  label_job *j = calloc(1, sizeof *j);
  if (j) {
    snprintf(j->id, sizeof j->id, "%s", x->id);
    j->labels = cJSON_Duplicate(x->labels, 1);
  }
  if (j && j->labels &&
      pier_store_submit(APP(x->req)->store, PIER_STORE_WRITE, pier_http_loop_mailbox(x->req->loop), label_work,
                        label_done, j) == 0)
    return;
  PIER_LOG(PIER_LOG_WARN, "runbook", "run=%s: could not store its labels", x->id);
  if (j) cJSON_Delete(j->labels);
  free(j);
}

static void on_created(void *arg, int rc, const char *id) {
  rb_chat *x = arg;
  pier_http_req *req = x->req;
  if (rc) {
    fail(x, 500, "the run could not be stored; retry");
    return;
  }
  snprintf(x->id, sizeof x->id, "%s", id);
  x->workflow_id = pier_arena_printf(&req->arena, "%s-%s--%s", x->col.name, x->task.name, id);
  x->chat_id = pier_arena_printf(&req->arena, "chatcmpl-%s", id);
  if (!x->workflow_id || !x->chat_id) {
    fail(x, 500, "out of memory");
    return;
  }
  PIER_LOG(PIER_LOG_INFO, "runs", "req=%llu run=%s %s/%s runbook chat%s", (unsigned long long)req->id, id,
           x->col.name, x->task.name, x->stream ? " (stream)" : "");
  if (x->labels) store_labels(x);
  if (req->aborted) { /* the client left while the run was being stored: it goes on, unwatched */
    release(x);
    pier_http_respond_empty(req, 499);
    return;
  }
  pier_watch_cbs cbs = {.on_event = x->stream ? on_event : NULL, .on_end = x->stream ? on_stream_end : on_end,
                        .arg = x};
  if (x->stream && pier_http_stream_begin(req, 200, "text/event-stream; charset=utf-8", SSE_HEADERS) != 0) {
    release(x);
    return;
  }
  if (x->stream) write_chunk(x, "assistant", "", NULL, metadata(x, "running", NULL), NULL);
  if (pier_engine_watch(APP(req)->engine, &pier_api_loop(req)->ex, id, &cbs, &x->watch) != 0) {
    x->watch = NULL; /* over already (or the server stops): answer from the stored state */
    if (x->stream) {
      write_chunk(x, NULL, NULL, "stop", metadata(x, "unknown", NULL), NULL);
      end_stream(x);
    } else {
      answer_running(x, "the run is not executing here; read it with GET /api/v1/db/trajectory/...");
    }
    return;
  }
  req->on_abort = on_abort;
  req->abort_arg = x;
  uint64_t ka = APP(req)->cfg.sse_keepalive_ms;
  x->timer = x->stream ? pier_api_timer_start(req, on_keepalive, x, ka, ka)
                       : pier_api_timer_start(req, on_hint, x, (uint64_t)(x->hint_s * 1000), 0);
}

static int task_work(pier_db *db, void *arg) {
  rb_chat *x = arg;
  pier_slice name = pier_slice_from(x->task_name);
  int rc = db->ops->task_get(db, &x->req->arena, x->col.id, name, &x->task);
  if (rc != PIER_ENOTFOUND) return rc;
  int64_t now = pier_now_us();
  x->task = (pier_task){.collection_id = x->col.id, .name = x->task_name, .workflow_json = CANONICAL,
                        .description = "runbook mode of /v1/chat/completions (created on first use)", .version = 1,
                        .is_private = true, .croissant_json = "null", .created_us = now, .updated_us = now};
  rc = db->ops->task_create(db, &x->task);
  if (rc == PIER_EEXISTS) rc = db->ops->task_get(db, &x->req->arena, x->col.id, name, &x->task); /* a race */
  return rc;
}

static void task_done(void *arg, int rc) {
  rb_chat *x = arg;
  pier_http_req *req = x->req;
  if (rc || !(x->workflow = cJSON_Parse(x->task.workflow_json))) {
    fail(x, 500, "could not read or create the runbook task");
    return;
  }
  const cJSON *defaults = cJSON_GetObjectItemCaseSensitive(x->workflow, "init_params");
  x->init = cJSON_IsObject(defaults) ? cJSON_Duplicate(defaults, 1) : cJSON_CreateObject();
  for (cJSON *p = x->params->child; p; p = p->next) {
    cJSON_DeleteItemFromObjectCaseSensitive(x->init, p->string);
    cJSON_AddItemToObject(x->init, p->string, cJSON_Duplicate(p, 1));
  }
  const char *hook = pier_json_str(x->jetty, "webhook_url");
  pier_run_spec spec = {.collection_id = x->col.id, .collection = x->col.name, .task = x->task.name,
                        .workflow = x->workflow, .init_params = x->init, .webhook_url = hook,
                        .author = AUTH(req)->is_admin ? "admin" : "api-key"};
  if (pier_engine_submit(APP(req)->engine, &pier_api_loop(req)->ex, &spec, on_created, x) != 0)
    fail(x, 500, "could not start the run");
}

bool pier_runbook_chat(pier_http_req *req, cJSON *body) {
  const cJSON *jetty = cJSON_GetObjectItemCaseSensitive(body, "jetty");
  if (!cJSON_IsObject(jetty) || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jetty, "runbook"))) return false;
  if (AUTH(req)->is_run_token) {
    pier_api_error(req, 403, NULL, "a runbook's run token cannot start runbooks; it reaches models only");
    return true;
  }
  rb_chat *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_api_error(req, 500, NULL, "out of memory");
    return true;
  }
  x->req = req;
  x->body = body;
  x->jetty = jetty;
  x->created_s = (int64_t)time(NULL);
  const char *model = pier_json_str(body, "model");
  if (!model || !model[0]) {
    pier_api_error(req, 400, NULL, "model is required: the agent's model, e.g. \"us.anthropic.claude-sonnet-4-6\"");
    return true;
  }
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
  if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
    pier_api_error(req, 400, NULL, "stream must be true or false");
    return true;
  }
  x->stream = cJSON_IsTrue(stream);
  x->include_usage = pier_json_bool(cJSON_GetObjectItemCaseSensitive(body, "stream_options"), "include_usage", false);
  const cJSON *hint = cJSON_GetObjectItemCaseSensitive(jetty, "timeout_hint");
  x->hint_s = HINT_DEFAULT_S;
  if (hint && !cJSON_IsNull(hint)) {
    if (!cJSON_IsNumber(hint) || !(hint->valuedouble >= 0 && hint->valuedouble <= 86400)) {
      pier_api_error(req, 400, NULL, "jetty.timeout_hint must be a number of seconds from 0 to 86400");
      return true;
    }
    x->hint_s = hint->valuedouble;
  }
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(jetty, "labels");
  if (labels && !cJSON_IsNull(labels)) {
    int n = 0;
    for (const cJSON *l = cJSON_IsArray(labels) ? labels->child : NULL; l; l = l->next, n++)
      if (!pier_json_str(l, "key") || !pier_json_str(l, "value") || strlen(pier_json_str(l, "key")) > 128 ||
          strlen(pier_json_str(l, "value")) > 1024)
        n = 1000;
    if (!cJSON_IsArray(labels) || n > 50) {
      pier_api_error(req, 400, NULL, "jetty.labels must be an array of at most 50 {\"key\", \"value\"} strings");
      return true;
    }
    x->labels = (cJSON *)labels;
  }
  const char *task = pier_json_str(jetty, "task");
  x->task_name = task ? task : DEFAULT_TASK;
  if (!pier_api_valid_task_name(pier_slice_from(x->task_name))) {
    pier_api_error(req, 400, NULL, "jetty.task must be 1-128 of [A-Za-z0-9_.-]");
    return true;
  }
  if (!pier_openai_collection(req, body, &x->col)) return true;
  char err[300];
  if (!(x->params = run_params(x, err, sizeof err))) {
    pier_api_error(req, 400, NULL, "%s", err);
    return true;
  }
  if (!pier_api_defer_json(req, x->params)) return true;
  pier_api_db(req, PIER_STORE_WRITE, task_work, task_done, x);
  return true;
}
