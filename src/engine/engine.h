/* engine.h — workflow runs: submit (persisted first), execute steps in order on
 * an event loop, persist after every step, resume unfinished runs after a
 * restart, queue async runs under a concurrency limit, and let any loop wait
 * for or watch a run. A run lives on one executor (loop); everything touching
 * it is posted to that loop. */
#ifndef PIER_ENGINE_ENGINE_H
#define PIER_ENGINE_ENGINE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"
#include "base/mailbox.h"
#include "base/seal.h"
#include "llm/call.h"
#include "store/store.h"
#include "upstream/client.h"

typedef struct pier_engine pier_engine;
typedef struct pier_run pier_run;
typedef struct pier_watch pier_watch;

/* One event loop the engine may run on (registered by its owner at loop start). */
typedef struct pier_executor {
  uv_loop_t *loop;
  pier_mailbox *mailbox;
  pier_upstream *up;
  int index;
} pier_executor;

typedef struct pier_engine_config {
  const char *data_dir;          /* files live in <data_dir>/files */
  const unsigned char *master_key; /* seals secret_params at rest */
  const cJSON *server_env;       /* provider fallback variables */
  pier_llm_limits llm;
  int max_concurrent_runs;       /* async runs executing at once */
  int webhook_retries;
  uint64_t webhook_retry_base_ms;
  /* runbook sandboxes reach the gateway at 127.0.0.1:gateway_port (shared
   * network) or through gateway_socket (isolated network, via `pier bridge`) */
  int gateway_port;
  const char *gateway_socket;
  const char *pier_binary;
  /* Run tokens for agents (provided by the API layer): issue one scoped to a
   * run; revoke it and get what was metered. */
  void *token_ctx;
  int (*token_issue)(void *ctx, int64_t collection_id, const char *run_id, const char *provider, char out[64]);
  void (*token_revoke)(void *ctx, const char *token, pier_usage *usage, double *cost_usd, int *api_calls);
} pier_engine_config;

/* Loads a collection's decrypted environment (NULL + rc on failure); cb runs on
 * ex's loop and owns env. Provided by the API layer. */
typedef void (*pier_env_loaded_fn)(void *arg, cJSON *env, int rc);
typedef void (*pier_env_load_fn)(void *ctx, pier_executor *ex, int64_t collection_id, pier_env_loaded_fn cb, void *arg);

int pier_engine_create(pier_store *store, const pier_engine_config *cfg, pier_env_load_fn env_load, void *env_ctx,
                       pier_engine **out) PIER_WUR;
void pier_engine_destroy(pier_engine *e);
void pier_engine_add_executor(pier_engine *e, pier_executor *ex);
/* Called on ex's loop before it stops: runs there are paused (state is durable). */
void pier_engine_remove_executor(pier_engine *e, pier_executor *ex);
/* Re-queue pending runs and resume running ones (blocking read; start-up). */
int pier_engine_resume(pier_engine *e) PIER_WUR;
/* No new steps start; waiters are released (they answer 202). */
void pier_engine_shutdown(pier_engine *e);

typedef struct pier_run_spec {
  int64_t collection_id;
  const char *collection;   /* name */
  const char *task;
  const cJSON *workflow;    /* borrowed; validated */
  const cJSON *init_params; /* borrowed: merged params (task defaults + run's) */
  const cJSON *secret_params; /* borrowed, may be NULL: env overlay, never stored in the doc */
  const char *webhook_url, *webhook_secret; /* may be NULL */
  bool queued;              /* async: wait for a slot; else start at once */
  const char *author;
  const char *parent_id;    /* child of list_emit_await */
  const char *parent_step;  /* ... started by this step of the parent */
  int parent_item;          /* ... for this item of it */
} pier_run_spec;

/* Create the run and persist it; on_created(arg, rc, id) runs on ex's loop once
 * the first state is durable (id = 8 hex). The run starts right after (or
 * waits in the queue). */
typedef void (*pier_run_created_fn)(void *arg, int rc, const char *id);
int pier_engine_submit(pier_engine *e, pier_executor *ex, const pier_run_spec *spec, pier_run_created_fn cb,
                       void *arg) PIER_WUR;

/* Watch a run from a loop. on_event gets SSE-ready step events ("event: ...\n
 * data: {...}\n\n"); on_end gets the final trajectory JSON after it is durable
 * (or NULL when the engine shuts down first). Both on ex's loop; on_end once.
 * PIER_ENOTFOUND when the run is not active. */
typedef struct pier_watch_cbs {
  void (*on_event)(void *arg, const char *frame, size_t len);
  void (*on_end)(void *arg, const char *doc, size_t len);
  void *arg;
} pier_watch_cbs;
int pier_engine_watch(pier_engine *e, pier_executor *ex, const char *run_id, const pier_watch_cbs *cbs,
                      pier_watch **out) PIER_WUR;
/* Stop receiving (on ex's loop); no callback after this. */
void pier_watch_close(pier_watch *w);

/* Cancel an active run of that collection and task (task NULL: any task of
 * the collection); its in-flight model calls are aborted. PIER_ENOTFOUND when
 * no such run is executing. */
int pier_engine_cancel(pier_engine *e, const char *run_id, int64_t collection_id, const char *task);
/* The gateway's TCP port, known once the server has bound it. */
void pier_engine_set_gateway(pier_engine *e, int port);
/* Runs executing / waiting (metrics, tests). */
void pier_engine_counts(pier_engine *e, int *running, int *queued);

#endif
