/* catalog.h — in-memory view of what every request needs before it can do
 * anything: collections by name, API keys by token hash, decrypted environments.
 * Loaded at start-up, updated by handlers after their write commits, so auth and
 * routing never wait for the database. Thread-safe (rwlock); lookups copy out. */
#ifndef PIER_API_CATALOG_H
#define PIER_API_CATALOG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "base/slice.h"
#include "llm/chat.h"
#include "store/store.h"

typedef struct pier_catalog pier_catalog;

typedef struct pier_key_info {
  int64_t id;
  int64_t collection_id; /* 0 = admin */
  bool is_active;
} pier_key_info;

int pier_catalog_create(pier_catalog **out) PIER_WUR;
void pier_catalog_destroy(pier_catalog *c);
/* Fill from the store (blocking; start-up only). */
int pier_catalog_load(pier_catalog *c, pier_store *s) PIER_WUR;

/* Collections. Lookups are case-insensitive; *out strings go to arena a. */
bool pier_catalog_collection_by_name(pier_catalog *c, pier_slice name, pier_arena *a, pier_collection *out);
bool pier_catalog_collection_by_id(pier_catalog *c, int64_t id, pier_arena *a, pier_collection *out);
int pier_catalog_collection_put(pier_catalog *c, const pier_collection *col) PIER_WUR;
void pier_catalog_collection_remove(pier_catalog *c, int64_t id); /* also its keys and env */

/* API keys by sha256 hex of the token. */
bool pier_catalog_key_find(pier_catalog *c, const char hash_hex[65], pier_key_info *out);
int pier_catalog_key_put(pier_catalog *c, const char hash_hex[65], const pier_key_info *k) PIER_WUR;
void pier_catalog_key_update(pier_catalog *c, int64_t id, bool is_active);
void pier_catalog_key_remove(pier_catalog *c, int64_t id);

/* Run tokens: short-lived tokens a runbook step hands to its agent. They live
 * only in memory (a restart invalidates them), are accepted only on the model
 * endpoints, and count the usage of every call made with them. */
typedef struct pier_run_token_info {
  int64_t collection_id;
  char run_id[16];
  char provider[32]; /* model_provider the step asked for, "" = route by model */
  pier_usage usage;
  double cost_usd;
  int api_calls;
} pier_run_token_info;

#define PIER_RUN_TOKEN_PREFIX "pier_run_"
/* token_out receives "pier_run_" + 40 of [a-z0-9] (and NUL). */
int pier_catalog_run_token_issue(pier_catalog *c, int64_t collection_id, const char *run_id, const char *provider,
                                 char token_out[64]) PIER_WUR;
bool pier_catalog_run_token_find(pier_catalog *c, const char hash_hex[65], pier_run_token_info *out);
void pier_catalog_run_token_meter(pier_catalog *c, const char hash_hex[65], const pier_usage *u, double cost_usd);
/* Revoke; the final counts go to out (may be NULL). false if unknown. */
bool pier_catalog_run_token_revoke(pier_catalog *c, const char *token, pier_run_token_info *out);

/* Decrypted environment of a collection, as a JSON object {NAME: value}.
 * env_get returns a deep copy (caller deletes) or NULL when not cached; then
 * the caller loads it and installs it with the generation it saw first, so a
 * load that raced with a change is dropped. */
cJSON *pier_catalog_env_get(pier_catalog *c, int64_t collection_id, uint64_t *gen);
void pier_catalog_env_install(pier_catalog *c, int64_t collection_id, uint64_t gen, cJSON *env /* takes */);
void pier_catalog_env_invalidate(pier_catalog *c, int64_t collection_id);

#endif
