/* catalog.c — rwlock-protected maps. Keys of the collection maps are lowercase
 * names and decimal ids; key entries are found by token hash. */
#include "api/catalog.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/map.h"
#include "base/util.h"

typedef struct coll_entry {
  pier_collection c; /* name/description heap-owned */
  cJSON *env;        /* NULL until loaded */
  uint64_t env_gen;
} coll_entry;

typedef struct key_entry {
  pier_key_info k;
  char hash[65];
} key_entry;

struct pier_catalog {
  pthread_rwlock_t lock;
  pier_map run_tokens; /* hash -> pier_run_token_info* (owner) */
  pier_map by_name; /* lowercase name -> coll_entry* (owner) */
  pier_map by_id;   /* "id" -> coll_entry* (borrowed) */
  pier_map keys;    /* hash -> key_entry* (owner) */
};

static void free_coll(void *p) {
  coll_entry *e = p;
  free((char *)e->c.name);
  free((char *)e->c.description);
  cJSON_Delete(e->env);
  free(e);
}

int pier_catalog_create(pier_catalog **out) {
  pier_catalog *c = calloc(1, sizeof *c);
  if (!c) return PIER_ENOMEM;
  pthread_rwlock_init(&c->lock, NULL);
  pier_map_init(&c->by_name);
  pier_map_init(&c->by_id);
  pier_map_init(&c->keys);
  pier_map_init(&c->run_tokens);
  *out = c;
  return 0;
}

void pier_catalog_destroy(pier_catalog *c) {
  if (!c) return;
  pier_map_dispose(&c->by_id, NULL);
  pier_map_dispose(&c->by_name, free_coll);
  pier_map_dispose(&c->keys, free);
  pier_map_dispose(&c->run_tokens, free);
  pthread_rwlock_destroy(&c->lock);
  free(c);
}

static pier_slice lower_key(pier_slice name, char *buf, size_t cap) {
  size_t n = name.len < cap ? name.len : cap;
  for (size_t i = 0; i < n; i++) buf[i] = (char)tolower((unsigned char)name.ptr[i]);
  return pier_slice_make(buf, n);
}

static pier_slice id_key(int64_t id, char buf[24]) {
  int n = snprintf(buf, 24, "%lld", (long long)id);
  return pier_slice_make(buf, (size_t)n);
}

static void copy_out(const coll_entry *e, pier_arena *a, pier_collection *out) {
  out->id = e->c.id;
  out->created_us = e->c.created_us;
  out->name = pier_arena_strdup(a, pier_slice_from(e->c.name));
  out->description = pier_arena_strdup(a, pier_slice_from(e->c.description));
}

bool pier_catalog_collection_by_name(pier_catalog *c, pier_slice name, pier_arena *a, pier_collection *out) {
  char buf[PIER_NAME_BYTES_MAX + 1];
  if (name.len > PIER_NAME_BYTES_MAX) return false;
  pthread_rwlock_rdlock(&c->lock);
  coll_entry *e = pier_map_get(&c->by_name, lower_key(name, buf, sizeof buf));
  if (e) copy_out(e, a, out);
  pthread_rwlock_unlock(&c->lock);
  return e != NULL;
}

bool pier_catalog_collection_by_id(pier_catalog *c, int64_t id, pier_arena *a, pier_collection *out) {
  char buf[24];
  pthread_rwlock_rdlock(&c->lock);
  coll_entry *e = pier_map_get(&c->by_id, id_key(id, buf));
  if (e) copy_out(e, a, out);
  pthread_rwlock_unlock(&c->lock);
  return e != NULL;
}

int pier_catalog_collection_put(pier_catalog *c, const pier_collection *col) {
  coll_entry *e = calloc(1, sizeof *e);
  if (!e) return PIER_ENOMEM;
  e->c = *col;
  e->c.name = strdup(col->name);
  e->c.description = strdup(col->description ? col->description : "");
  if (!e->c.name || !e->c.description) {
    free_coll(e);
    return PIER_ENOMEM;
  }
  char nb[PIER_NAME_BYTES_MAX + 1], ib[24];
  void *old = NULL;
  pthread_rwlock_wrlock(&c->lock);
  int rc = pier_map_put(&c->by_name, lower_key(pier_slice_from(e->c.name), nb, sizeof nb), e, &old);
  if (!rc) rc = pier_map_put(&c->by_id, id_key(e->c.id, ib), e, NULL);
  if (!rc && old && ((coll_entry *)old)->c.id != e->c.id) pier_map_del(&c->by_id, id_key(((coll_entry *)old)->c.id, ib));
  pthread_rwlock_unlock(&c->lock);
  if (old) free_coll(old);
  if (rc) free_coll(e);
  return rc;
}

void pier_catalog_collection_remove(pier_catalog *c, int64_t id) {
  char ib[24], nb[PIER_NAME_BYTES_MAX + 1];
  pthread_rwlock_wrlock(&c->lock);
  coll_entry *e = pier_map_del(&c->by_id, id_key(id, ib));
  if (e) pier_map_del(&c->by_name, lower_key(pier_slice_from(e->c.name), nb, sizeof nb));
  size_t it = 0;
  pier_slice k;
  void *v;
  while (pier_map_next(&c->keys, &it, &k, &v)) {
    key_entry *ke = v;
    if (ke->k.collection_id == id) {
      pier_map_del(&c->keys, k); /* tombstoning keeps the iteration valid */
      free(ke);
    }
  }
  pthread_rwlock_unlock(&c->lock);
  if (e) free_coll(e);
}

bool pier_catalog_key_find(pier_catalog *c, const char hash_hex[65], pier_key_info *out) {
  pthread_rwlock_rdlock(&c->lock);
  key_entry *e = pier_map_get(&c->keys, pier_slice_make(hash_hex, 64));
  if (e) *out = e->k;
  pthread_rwlock_unlock(&c->lock);
  return e != NULL;
}

int pier_catalog_key_put(pier_catalog *c, const char hash_hex[65], const pier_key_info *k) {
  key_entry *e = calloc(1, sizeof *e);
  if (!e) return PIER_ENOMEM;
  e->k = *k;
  memcpy(e->hash, hash_hex, 65);
  void *old = NULL;
  pthread_rwlock_wrlock(&c->lock);
  int rc = pier_map_put(&c->keys, pier_slice_make(e->hash, 64), e, &old);
  pthread_rwlock_unlock(&c->lock);
  free(old);
  if (rc) free(e);
  return rc;
}

static key_entry *key_by_id(pier_catalog *c, int64_t id) {
  size_t it = 0;
  void *v;
  while (pier_map_next(&c->keys, &it, NULL, &v))
    if (((key_entry *)v)->k.id == id) return v;
  return NULL;
}

void pier_catalog_key_update(pier_catalog *c, int64_t id, bool is_active) {
  pthread_rwlock_wrlock(&c->lock);
  key_entry *e = key_by_id(c, id);
  if (e) e->k.is_active = is_active;
  pthread_rwlock_unlock(&c->lock);
}

void pier_catalog_key_remove(pier_catalog *c, int64_t id) {
  pthread_rwlock_wrlock(&c->lock);
  key_entry *e = key_by_id(c, id);
  if (e) pier_map_del(&c->keys, pier_slice_make(e->hash, 64));
  pthread_rwlock_unlock(&c->lock);
  free(e);
}

int pier_catalog_run_token_issue(pier_catalog *c, int64_t collection_id, const char *run_id, const char *provider,
                                 char token_out[64]) {
  pier_run_token_info *t = calloc(1, sizeof *t);
  if (!t) return PIER_ENOMEM;
  t->collection_id = collection_id;
  snprintf(t->run_id, sizeof t->run_id, "%s", run_id);
  snprintf(t->provider, sizeof t->provider, "%s", provider ? provider : "");
  size_t pl = strlen(PIER_RUN_TOKEN_PREFIX);
  memcpy(token_out, PIER_RUN_TOKEN_PREFIX, pl);
  pier_random_alnum(token_out + pl, 40);
  char hash[65];
  pier_sha256_hex(token_out, strlen(token_out), hash);
  pthread_rwlock_wrlock(&c->lock);
  int rc = pier_map_put(&c->run_tokens, pier_slice_make(hash, 64), t, NULL);
  pthread_rwlock_unlock(&c->lock);
  if (rc) free(t);
  return rc;
}

bool pier_catalog_run_token_find(pier_catalog *c, const char hash_hex[65], pier_run_token_info *out) {
  pthread_rwlock_rdlock(&c->lock);
  pier_run_token_info *t = pier_map_get(&c->run_tokens, pier_slice_make(hash_hex, 64));
  if (t && out) *out = *t;
  pthread_rwlock_unlock(&c->lock);
  return t != NULL;
}

void pier_catalog_run_token_meter(pier_catalog *c, const char hash_hex[65], const pier_usage *u, double cost_usd) {
  pthread_rwlock_wrlock(&c->lock);
  pier_run_token_info *t = pier_map_get(&c->run_tokens, pier_slice_make(hash_hex, 64));
  if (t) {
    t->usage.prompt_tokens += u->prompt_tokens;
    t->usage.completion_tokens += u->completion_tokens;
    t->usage.total_tokens += u->total_tokens ? u->total_tokens : u->prompt_tokens + u->completion_tokens;
    t->usage.cache_read_tokens += u->cache_read_tokens;
    t->usage.cache_creation_tokens += u->cache_creation_tokens;
    t->cost_usd += cost_usd;
    t->api_calls++;
  }
  pthread_rwlock_unlock(&c->lock);
}

bool pier_catalog_run_token_revoke(pier_catalog *c, const char *token, pier_run_token_info *out) {
  char hash[65];
  pier_sha256_hex(token, strlen(token), hash);
  pthread_rwlock_wrlock(&c->lock);
  pier_run_token_info *t = pier_map_del(&c->run_tokens, pier_slice_make(hash, 64));
  pthread_rwlock_unlock(&c->lock);
  if (t && out) *out = *t;
  free(t);
  return t != NULL;
}

cJSON *pier_catalog_env_get(pier_catalog *c, int64_t collection_id, uint64_t *gen) {
  char ib[24];
  cJSON *copy = NULL;
  pthread_rwlock_rdlock(&c->lock);
  coll_entry *e = pier_map_get(&c->by_id, id_key(collection_id, ib));
  if (e) {
    if (gen) *gen = e->env_gen;
    if (e->env) copy = cJSON_Duplicate(e->env, true);
  }
  pthread_rwlock_unlock(&c->lock);
  return copy;
}

void pier_catalog_env_install(pier_catalog *c, int64_t collection_id, uint64_t gen, cJSON *env) {
  char ib[24];
  pthread_rwlock_wrlock(&c->lock);
  coll_entry *e = pier_map_get(&c->by_id, id_key(collection_id, ib));
  if (e && e->env_gen == gen) {
    cJSON_Delete(e->env);
    e->env = env;
    env = NULL;
  }
  pthread_rwlock_unlock(&c->lock);
  cJSON_Delete(env);
}

void pier_catalog_env_invalidate(pier_catalog *c, int64_t collection_id) {
  char ib[24];
  cJSON *old = NULL;
  pthread_rwlock_wrlock(&c->lock);
  coll_entry *e = pier_map_get(&c->by_id, id_key(collection_id, ib));
  if (e) {
    old = e->env;
    e->env = NULL;
    e->env_gen++;
  }
  pthread_rwlock_unlock(&c->lock);
  cJSON_Delete(old);
}

/* ---- start-up load ------------------------------------------------------------ */

typedef struct load_ctx {
  pier_catalog *cat;
  pier_arena arena;
} load_ctx;

static int load_work(pier_db *db, void *arg) {
  load_ctx *lc = arg;
  pier_collection *cols;
  pier_api_key *keys;
  size_t ncols, nkeys;
  int rc = db->ops->collection_list(db, &lc->arena, &cols, &ncols);
  if (!rc) rc = db->ops->key_list(db, &lc->arena, 0, true, &keys, &nkeys);
  for (size_t i = 0; !rc && i < ncols; i++) rc = pier_catalog_collection_put(lc->cat, &cols[i]);
  for (size_t i = 0; !rc && i < nkeys; i++) {
    pier_key_info ki = {.id = keys[i].id, .collection_id = keys[i].collection_id, .is_active = keys[i].is_active};
    rc = pier_catalog_key_put(lc->cat, keys[i].key_hash, &ki);
  }
  return rc;
}

int pier_catalog_load(pier_catalog *c, pier_store *s) {
  load_ctx lc = {.cat = c};
  pier_arena_init(&lc.arena);
  int rc = pier_store_run_sync(s, PIER_STORE_READ, load_work, &lc);
  pier_arena_dispose(&lc.arena);
  return rc;
}
