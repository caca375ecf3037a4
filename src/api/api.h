/* api.h — helpers shared by the REST handlers (private to src/api). Each helper
 * that can fail answers the request itself and tells the caller to stop. */
#ifndef PIER_API_API_H
#define PIER_API_API_H

#include <cjson/cJSON.h>

#include "api/app.h"
#include "http/router.h"

#define APP(req) ((pier_app *)(req)->app)
#define AUTH(req) ((pier_auth *)(req)->auth)

/* Route flags. */
enum {
  PIER_ROUTE_PUBLIC = 1u << 0, /* no token needed */
  PIER_ROUTE_ADMIN = 1u << 1,  /* admin token only */
  PIER_ROUTE_SCOPED = 1u << 2, /* params[0] is a collection name the token must own */
  PIER_ROUTE_OPENAI = 1u << 3, /* errors are OpenAI-shaped: {"error": {...}} */
  PIER_ROUTE_ANTHROPIC = 1u << 4, /* errors are Anthropic-shaped: {"type":"error","error":{...}} */
  PIER_ROUTE_MODEL = 1u << 5,  /* a model endpoint: run tokens are accepted here (only here) */
};

/* Answer with an error in the route's dialect: {"detail": "..."} for the Jetty
 * API, {"error": {"message", "type", "code", "param"}} on OpenAI routes (and on
 * unknown paths under /v1/). code may be NULL. */
void pier_api_error(pier_http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse the body as a JSON object. NULL = already answered (400/415/422).
 * The tree is freed with the request. */
cJSON *pier_api_body_object(pier_http_req *req);
/* Resolve a collection name the caller may use: 403 for another collection's
 * key, 404 if unknown. false = already answered. */
bool pier_api_collection(pier_http_req *req, pier_slice name, pier_collection *out);
/* Submit a store job for this request; on failure answers 503. */
void pier_api_db(pier_http_req *req, int kind, pier_store_work_fn work, pier_store_done_fn done, void *arg);
/* Answer with a store error code mapped to a status. */
void pier_api_db_error(pier_http_req *req, int rc, const char *what);
/* Names: collection 1..64 of [A-Za-z0-9_-]; task 1..128 of [A-Za-z0-9_.-];
 * env var [A-Za-z_][A-Za-z0-9_]* up to 128. */
bool pier_api_valid_collection_name(pier_slice s);
bool pier_api_valid_task_name(pier_slice s);
bool pier_api_valid_env_name(pier_slice s);
/* Add "created_at"-style ISO timestamp. */
void pier_api_add_time(cJSON *obj, const char *key, int64_t us);
/* Parse ?skip=&limit= with bounds; false = already answered (422). */
bool pier_api_paging(pier_http_req *req, const char *skip_name, int64_t *skip, int64_t *limit, int64_t limit_def,
                     int64_t limit_max);

/* A heap timer on the request's loop (SSE keep-alives, run-sync limits):
 * NULL when out of memory (the caller goes on without it). Stop and close it
 * with pier_api_timer_close, which sets *t to NULL; closing is asynchronous. */
uv_timer_t *pier_api_timer_start(pier_http_req *req, uv_timer_cb cb, void *data, uint64_t timeout_ms,
                                 uint64_t repeat_ms);
void pier_api_timer_close(uv_timer_t **t);

/* Free a cJSON tree with the request's arena (pier_arena_defer_call). false =
 * out of memory: the tree was freed and a 500 answered. */
bool pier_api_defer_json(pier_http_req *req, cJSON *tree);

/* Handlers, one file per resource. */
void pier_h_health(pier_http_req *req);
void pier_h_collections_list(pier_http_req *req);
void pier_h_collection_get(pier_http_req *req);
void pier_h_collection_create(pier_http_req *req);
void pier_h_collection_delete(pier_http_req *req);
void pier_h_env_get(pier_http_req *req);
void pier_h_env_patch(pier_http_req *req);
void pier_h_tasks_list(pier_http_req *req);
void pier_h_task_get(pier_http_req *req);
void pier_h_task_create(pier_http_req *req);
void pier_h_task_update(pier_http_req *req);
void pier_h_task_delete(pier_http_req *req);
void pier_h_key_create(pier_http_req *req);
void pier_h_keys_list(pier_http_req *req);
void pier_h_key_get(pier_http_req *req);
void pier_h_key_update(pier_http_req *req);
void pier_h_key_delete(pier_http_req *req);

void pier_h_run(pier_http_req *req);
void pier_h_trajectory_get(pier_http_req *req);
void pier_h_trajectories_list(pier_http_req *req);
void pier_h_trajectory_stats(pier_http_req *req);
void pier_h_trajectory_label(pier_http_req *req);
void pier_h_trajectory_statuses(pier_http_req *req);
void pier_h_trajectory_events(pier_http_req *req);
void pier_h_file_get(pier_http_req *req);
void pier_h_files_list(pier_http_req *req);
void pier_h_step_templates(pier_http_req *req);
void pier_h_step_template(pier_http_req *req);
void pier_h_run_sync(pier_http_req *req);

/* Shared JSON shapes. */
cJSON *pier_api_collection_json(const pier_collection *c);



/* h_env.c: validate an environment_variables map ({NAME: "value"|null} or null);
 * false = already answered (422). */
bool pier_api_env_validate(pier_http_req *req, const cJSON *vars);
/* Apply a validated map inside a write job: seal and upsert strings, delete
 * nulls, clear all when vars is JSON null. PIER_ETOOBIG if the collection would
 * hold more than PIER_ENV_VARS_MAX variables. */
int pier_api_env_apply(pier_db *db, const unsigned char *key, int64_t collection_id, const cJSON *vars) PIER_WUR;
/* env_load.c: the collection's decrypted environment ({NAME: value}, caller
 * owns it) — cached, or loaded on a store thread. cb may run before this
 * returns. rc != 0 when it could not be read (env is then NULL). */
typedef void (*pier_api_env_cb)(pier_http_req *req, cJSON *env, int rc, void *arg);
void pier_api_env_load(pier_http_req *req, int64_t collection_id, pier_api_env_cb cb, void *arg);

/* The engine's environment hook (see pier_env_load_fn). */
void pier_api_env_load_for_engine(void *ctx, pier_executor *ex, int64_t collection_id, pier_env_loaded_fn cb,
                                  void *arg);

/* The loop's state. */
static inline pier_loop_ctx *pier_api_loop(pier_http_req *req) { return pier_http_loop_data(req->loop); }

#endif
