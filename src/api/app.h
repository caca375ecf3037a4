/* app.h — the server application: configuration, store, catalog and secrets,
 * shared by every loop thread (read-only after start-up, or internally locked).
 * There is no global: handlers reach it through req->app. */
#ifndef PIER_API_APP_H
#define PIER_API_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "api/catalog.h"
#include "engine/engine.h"
#include "llm/call.h"
#include "upstream/client.h"
#include "base/seal.h"
#include "http/server.h"
#include "store/store.h"

typedef struct pier_config {
  char listen_host[256];
  int listen_port;
  char data_dir[1024];
  int threads;
  int log_level;
  size_t body_bytes_max;
  uint64_t request_timeout_ms;
  pier_llm_limits llm;       /* upstream timeouts, retries */
  uint64_t sse_keepalive_ms; /* comment line on idle streams */
  bool record_chat;          /* model calls become `_chat` trajectories */
  uint64_t run_sync_timeout_ms; /* run-sync answers 202 after this */
  int max_concurrent_runs;      /* async runs executing at once */
} pier_config;

/* Per event-loop state (pier_http_loop_data). */
typedef struct pier_loop_ctx {
  pier_upstream *up;
  pier_executor ex; /* this loop, as the workflow engine sees it */
} pier_loop_ctx;

typedef struct pier_app {
  pier_config cfg;
  pier_store *store;
  pier_catalog *catalog;
  unsigned char master_key[PIER_SEAL_KEY_BYTES];
  char admin_hash[65]; /* sha256 hex of the admin token */
  pier_http_server *http;
  cJSON *server_env; /* provider variables from pier's own environment (fallback) */
  pier_engine *engine;
  char gateway_socket[1100]; /* <data-dir>/gateway.sock, for sandboxes */
  uv_loop_t main_loop; /* signals only */
  uv_signal_t sigterm, sigint;
} pier_app;

/* Authentication result attached to req->auth. */
typedef struct pier_auth {
  bool is_admin;
  bool is_run_token;        /* a runbook step's token: model endpoints only */
  char token_hash[65];      /* run tokens: for metering */
  const char *provider;     /* run tokens: the step's model_provider, or NULL */
  int64_t key_id;
  int64_t collection_id;    /* 0 for the admin token */
  const char *collection;   /* name, in the request arena; NULL for admin */
} pier_auth;

/* serve.c */
int pier_serve_main(int argc, char **argv);
/* config.c: parse `pier serve` flags (each with a PIER_* twin). On error writes
 * a sentence to err and returns PIER_EINVAL; PIER_EAGAIN after printing --help. */
int pier_config_parse(pier_config *cfg, int argc, char **argv, char *err, size_t errlen) PIER_WUR;

/* routes.c: the request entry point installed in the HTTP server. */
void pier_api_on_request(pier_http_req *req);

#endif
