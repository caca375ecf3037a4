/* h_keys.c — /api/v1/api-keys: collection API keys. The token (mlc_ + 32 of
 * [a-z0-9]) is shown once at creation; only its SHA-256 is stored. A collection
 * key manages only its own collection's keys; the admin token manages all. */
#include <sodium.h>
#include <string.h>

#include "api/api.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"

typedef struct key_job {
  pier_http_req *req;
  pier_api_key key;
  pier_collection col;
  int64_t scope;          /* 0 = admin, else the caller's collection id */
  const cJSON *name;      /* PUT */
  const cJSON *is_active; /* PUT */
  bool del;
  pier_api_key *list;
  size_t n;
  char token[40];
} key_job;

static cJSON *key_json(const pier_api_key *k, const char *collection_name) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)k->id);
  if (k->collection_id) cJSON_AddNumberToObject(o, "collection_id", (double)k->collection_id);
  else cJSON_AddNullToObject(o, "collection_id");
  if (collection_name) cJSON_AddStringToObject(o, "collection_name", collection_name);
  else cJSON_AddNullToObject(o, "collection_name");
  cJSON_AddStringToObject(o, "name", k->name);
  cJSON_AddStringToObject(o, "key_prefix", k->key_prefix);
  pier_api_add_time(o, "created_at", k->created_us);
  cJSON_AddNullToObject(o, "created_by_agent_id");
  cJSON_AddBoolToObject(o, "is_active", k->is_active);
  return o;
}

static key_job *job_new(pier_http_req *req) {
  key_job *j = pier_arena_calloc(&req->arena, sizeof *j);
  if (!j) {
    pier_http_respond_error(req, 500, "out of memory");
    return NULL;
  }
  j->req = req;
  j->scope = AUTH(req)->is_admin ? 0 : AUTH(req)->collection_id;
  return j;
}

static void respond_key(key_job *j, int status) {
  pier_collection c;
  const char *cname = NULL;
  if (j->key.collection_id && pier_catalog_collection_by_id(APP(j->req)->catalog, j->key.collection_id,
                                                            &j->req->arena, &c))
    cname = c.name;
  cJSON *o = key_json(&j->key, cname);
  if (j->token[0]) cJSON_AddStringToObject(o, "api_key", j->token);
  pier_http_respond_json(j->req, status, o);
  cJSON_Delete(o);
}

/* ---- create -------------------------------------------------------------------- */

static int create_work(pier_db *db, void *arg) {
  key_job *j = arg;
  return db->ops->key_create(db, &j->key);
}

static void create_done(void *arg, int rc) {
  key_job *j = arg;
  if (rc) {
    sodium_memzero(j->token, sizeof j->token);
    pier_api_db_error(j->req, rc, "API key");
    return;
  }
  pier_key_info ki = {.id = j->key.id, .collection_id = j->key.collection_id, .is_active = true};
  if (pier_catalog_key_put(APP(j->req)->catalog, j->key.key_hash, &ki) != 0) {
    pier_http_respond_error(j->req, 500, "out of memory");
    return;
  }
  PIER_LOG(PIER_LOG_INFO, "api", "req=%llu created API key %lld (%s) for %s", (unsigned long long)j->req->id,
           (long long)j->key.id, j->key.key_prefix, j->col.name);
  respond_key(j, 200);
  sodium_memzero(j->token, sizeof j->token);
}

void pier_h_key_create(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  key_job *j = job_new(req);
  if (!j) return;
  const char *name = pier_json_str(body, "name");
  const char *cname = pier_json_str(body, "collection_name");
  if (!name || !*name || strlen(name) > 128) {
    pier_http_respond_error(req, 422, "name is required: a string of 1 to 128 characters");
    return;
  }
  if (!cname) {
    pier_http_respond_error(req, 422, "collection_name is required: the collection the key will be bound to");
    return;
  }
  if (!pier_api_collection(req, pier_slice_from(cname), &j->col)) return;
  memcpy(j->token, "mlc_", 4);
  pier_random_alnum(j->token + 4, 32);
  j->key.collection_id = j->col.id;
  j->key.name = name;
  memcpy(j->key.key_prefix, j->token, 8);
  j->key.key_prefix[8] = '\0';
  pier_sha256_hex(j->token, 36, j->key.key_hash);
  j->key.is_active = true;
  j->key.created_us = pier_now_us();
  pier_api_db(req, PIER_STORE_WRITE, create_work, create_done, j);
}

/* ---- list ------------------------------------------------------------------------- */

static int list_work(pier_db *db, void *arg) {
  key_job *j = arg;
  return db->ops->key_list(db, &j->req->arena, j->col.id, false, &j->list, &j->n);
}

static void list_done(void *arg, int rc) {
  key_job *j = arg;
  if (rc) {
    pier_api_db_error(j->req, rc, "API keys");
    return;
  }
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < j->n; i++) cJSON_AddItemToArray(arr, key_json(&j->list[i], j->col.name));
  pier_http_respond_json(j->req, 200, arr);
  cJSON_Delete(arr);
}

void pier_h_keys_list(pier_http_req *req) {
  key_job *j = job_new(req);
  if (j && pier_api_collection(req, req->params[0], &j->col)) pier_api_db(req, PIER_STORE_READ, list_work, list_done, j);
}

/* ---- get / update / delete by id ---------------------------------------------------- */

static bool parse_id(pier_http_req *req, key_job *j) {
  unsigned long long id;
  if (pier_slice_to_u64(req->params[0], &id) != 0 || id == 0 || id > INT64_MAX) {
    pier_http_respond_error(req, 422, "API key id must be a positive whole number");
    return false;
  }
  j->key.id = (int64_t)id;
  return true;
}

static int by_id_work(pier_db *db, void *arg) {
  key_job *j = arg;
  int rc = db->ops->key_get(db, &j->req->arena, j->key.id, &j->key);
  if (rc) return rc;
  if (j->scope && j->key.collection_id != j->scope) return PIER_ENOTFOUND; /* not yours: not found */
  if (j->del) return db->ops->key_delete(db, j->key.id);
  if (j->name) j->key.name = j->name->valuestring;
  if (j->is_active) j->key.is_active = cJSON_IsTrue(j->is_active);
  if (j->name || j->is_active) return db->ops->key_update(db, &j->key);
  return 0;
}

static void by_id_done(void *arg, int rc) {
  key_job *j = arg;
  if (rc) {
    pier_api_db_error(j->req, rc, "API key");
    return;
  }
  if (j->del) {
    pier_catalog_key_remove(APP(j->req)->catalog, j->key.id);
    static const char body[] = "{\"message\":\"API key deleted successfully\"}";
    pier_http_respond(j->req, 200, "application/json", NULL, body, sizeof body - 1);
    return;
  }
  if (j->is_active) pier_catalog_key_update(APP(j->req)->catalog, j->key.id, j->key.is_active);
  respond_key(j, 200);
}

void pier_h_key_get(pier_http_req *req) {
  key_job *j = job_new(req);
  if (j && parse_id(req, j)) pier_api_db(req, PIER_STORE_READ, by_id_work, by_id_done, j);
}

void pier_h_key_update(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  key_job *j = job_new(req);
  if (!j || !parse_id(req, j)) return;
  j->name = cJSON_GetObjectItemCaseSensitive(body, "name");
  j->is_active = cJSON_GetObjectItemCaseSensitive(body, "is_active");
  if (j->name && (!cJSON_IsString(j->name) || !j->name->valuestring[0] || strlen(j->name->valuestring) > 128)) {
    pier_http_respond_error(req, 422, "name must be a string of 1 to 128 characters");
    return;
  }
  if (j->is_active && !cJSON_IsBool(j->is_active)) {
    pier_http_respond_error(req, 422, "is_active must be true or false");
    return;
  }
  pier_api_db(req, PIER_STORE_WRITE, by_id_work, by_id_done, j);
}

void pier_h_key_delete(pier_http_req *req) {
  key_job *j = job_new(req);
  if (!j || !parse_id(req, j)) return;
  j->del = true;
  pier_api_db(req, PIER_STORE_WRITE, by_id_work, by_id_done, j);
}
