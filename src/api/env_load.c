/* env_load.c — a collection's decrypted environment for model calls: from the
 * catalog when cached, else read and unsealed on a store thread, then cached.
 * Values live only in memory; they never reach a log or a response. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/log.h"

typedef struct load_job {
  pier_app *app;
  pier_http_req *req;      /* NULL for the engine */
  int64_t collection_id;
  uint64_t gen;
  cJSON *env;
  pier_api_env_cb cb;      /* request callback ... */
  pier_env_loaded_fn ecb;  /* ... or the engine's */
  void *arg;
} load_job;

static int load_work(pier_db *db, void *arg) {
  load_job *j = arg;
  pier_arena a;
  pier_arena_init(&a);
  pier_env_var *vars;
  size_t n;
  int rc = db->ops->env_list(db, &a, j->collection_id, &vars, &n);
  j->env = rc ? NULL : cJSON_CreateObject();
  pier_buf plain;
  pier_buf_init(&plain, 0);
  for (size_t i = 0; !rc && i < n; i++) {
    rc = pier_unseal(j->app->master_key, vars[i].box, vars[i].box_len, vars[i].nonce, &plain);
    if (rc) {
      PIER_LOG(PIER_LOG_ERROR, "api", "environment variable %s of collection %lld does not decrypt: wrong "
                                      "master key?", vars[i].name, (long long)j->collection_id);
      break;
    }
    if (!cJSON_AddStringToObject(j->env, vars[i].name, plain.ptr)) rc = PIER_ENOMEM;
    sodium_memzero(plain.ptr, plain.len);
  }
  pier_buf_dispose(&plain);
  pier_arena_dispose(&a);
  if (rc) {
    cJSON_Delete(j->env);
    j->env = NULL;
  }
  return rc;
}

/* A request's job lives in its arena: the callback may answer and free the
 * request, so nothing of j is read after it. */
static void load_done(void *arg, int rc) {
  load_job *j = arg;
  if (!rc) pier_catalog_env_install(j->app->catalog, j->collection_id, j->gen, cJSON_Duplicate(j->env, 1));
  if (j->ecb) {
    j->ecb(j->arg, j->env, rc);
    free(j); /* the engine's jobs are on the heap */
    return;
  }
  j->cb(j->req, j->env, rc, j->arg);
}

/* The engine's hook: the same, for a run instead of a request. */
void pier_api_env_load_for_engine(void *ctx, pier_executor *ex, int64_t collection_id, pier_env_loaded_fn cb,
                                  void *arg) {
  pier_app *app = ctx;
  uint64_t gen = 0;
  cJSON *env = pier_catalog_env_get(app->catalog, collection_id, &gen);
  if (env) {
    cb(arg, env, 0);
    return;
  }
  load_job *j = calloc(1, sizeof *j);
  if (!j) {
    cb(arg, NULL, PIER_ENOMEM);
    return;
  }
  *j = (load_job){.app = app, .collection_id = collection_id, .gen = gen, .ecb = cb, .arg = arg};
  if (pier_store_submit(app->store, PIER_STORE_READ, ex->mailbox, load_work, load_done, j) != 0) {
    free(j);
    cb(arg, NULL, PIER_ECANCELLED);
  }
}

void pier_api_env_load(pier_http_req *req, int64_t collection_id, pier_api_env_cb cb, void *arg) {
  uint64_t gen = 0;
  cJSON *env = pier_catalog_env_get(APP(req)->catalog, collection_id, &gen);
  if (env) {
    cb(req, env, 0, arg);
    return;
  }
  load_job *j = pier_arena_calloc(&req->arena, sizeof *j);
  if (!j) {
    cb(req, NULL, PIER_ENOMEM, arg);
    return;
  }
  *j = (load_job){.app = APP(req), .req = req, .collection_id = collection_id, .gen = gen, .cb = cb, .arg = arg};
  int rc = pier_store_submit(APP(req)->store, PIER_STORE_READ, pier_http_loop_mailbox(req->loop), load_work,
                             load_done, j);
  if (rc) cb(req, NULL, rc, arg);
}
