/* h_collections.c — /api/v1/collections: list, get, create (with optional
 * environment), delete (cascades to tasks, keys, env, trajectories). */
#include <string.h>

#include "api/api.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"

typedef struct coll_job {
  pier_http_req *req;
  pier_collection col;
  pier_collection *list;
  size_t n;
  int64_t skip, limit;
  const cJSON *env; /* borrowed from the request body */
} coll_job;

static coll_job *job_new(pier_http_req *req) {
  coll_job *j = pier_arena_calloc(&req->arena, sizeof *j);
  if (!j) pier_http_respond_error(req, 500, "out of memory");
  else j->req = req;
  return j;
}

/* ---- list ------------------------------------------------------------------- */

static int list_work(pier_db *db, void *arg) {
  coll_job *j = arg;
  return db->ops->collection_list(db, &j->req->arena, &j->list, &j->n);
}

static void list_done(void *arg, int rc) {
  coll_job *j = arg;
  if (rc) {
    pier_api_db_error(j->req, rc, "collections");
    return;
  }
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = (size_t)j->skip; i < j->n && (int64_t)(i - (size_t)j->skip) < j->limit; i++)
    cJSON_AddItemToArray(arr, pier_api_collection_json(&j->list[i]));
  pier_http_respond_json(j->req, 200, arr);
  cJSON_Delete(arr);
}

void pier_h_collections_list(pier_http_req *req) {
  coll_job *j = job_new(req);
  if (!j || !pier_api_paging(req, "skip", &j->skip, &j->limit, 100, 1000)) return;
  pier_auth *a = AUTH(req);
  if (!a->is_admin) { /* a collection key sees exactly its own collection */
    pier_collection c;
    cJSON *arr = cJSON_CreateArray();
    if (j->skip == 0 && pier_catalog_collection_by_id(APP(req)->catalog, a->collection_id, &req->arena, &c))
      cJSON_AddItemToArray(arr, pier_api_collection_json(&c));
    pier_http_respond_json(req, 200, arr);
    cJSON_Delete(arr);
    return;
  }
  pier_api_db(req, PIER_STORE_READ, list_work, list_done, j);
}

/* ---- get ---------------------------------------------------------------------- */

void pier_h_collection_get(pier_http_req *req) {
  pier_collection c;
  if (!pier_api_collection(req, req->params[0], &c)) return;
  cJSON *o = pier_api_collection_json(&c);
  pier_http_respond_json(req, 200, o);
  cJSON_Delete(o);
}

/* ---- create ---------------------------------------------------------------------- */

static int create_work(pier_db *db, void *arg) {
  coll_job *j = arg;
  int rc = db->ops->collection_create(db, &j->col);
  if (!rc && j->env) rc = pier_api_env_apply(db, APP(j->req)->master_key, j->col.id, j->env);
  return rc;
}

static void create_done(void *arg, int rc) {
  coll_job *j = arg;
  pier_http_req *req = j->req;
  if (rc == PIER_EEXISTS) {
    pier_http_respond_error(req, 400, "Collection already exists");
    return;
  }
  if (rc == PIER_ETOOBIG) {
    pier_http_respond_error(req, 422, "a collection holds at most %d environment variables", PIER_ENV_VARS_MAX);
    return;
  }
  if (rc) {
    pier_api_db_error(req, rc, "collection");
    return;
  }
  if (pier_catalog_collection_put(APP(req)->catalog, &j->col) != 0)
    PIER_LOG(PIER_LOG_ERROR, "api", "req=%llu collection cache update failed", (unsigned long long)req->id);
  PIER_LOG(PIER_LOG_INFO, "api", "req=%llu created collection %s", (unsigned long long)req->id, j->col.name);
  cJSON *o = pier_api_collection_json(&j->col);
  pier_http_respond_json(req, 200, o);
  cJSON_Delete(o);
}

void pier_h_collection_create(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  coll_job *j = job_new(req);
  if (!j) return;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
  if (!cJSON_IsString(name)) {
    pier_http_respond_error(req, 422, "name is required and must be a string");
    return;
  }
  if (!pier_api_valid_collection_name(pier_slice_from(name->valuestring))) {
    pier_http_respond_error(req, 422,
                            "name must be 1 to %d characters of letters, digits, '_' and '-' (got \"%.80s\")",
                            PIER_NAME_BYTES_MAX, name->valuestring);
    return;
  }
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(body, "description");
  if (desc && !cJSON_IsNull(desc) && (!cJSON_IsString(desc) || strlen(desc->valuestring) > PIER_DESCRIPTION_BYTES_MAX)) {
    pier_http_respond_error(req, 422, "description must be a string of at most %d bytes", PIER_DESCRIPTION_BYTES_MAX);
    return;
  }
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(body, "environment_variables");
  if (env && !cJSON_IsNull(env)) {
    if (!pier_api_env_validate(req, env)) return;
    j->env = env;
  }
  j->col.name = name->valuestring;
  j->col.description = cJSON_IsString(desc) ? desc->valuestring : "";
  j->col.created_us = pier_now_us();
  pier_api_db(req, PIER_STORE_WRITE, create_work, create_done, j);
}

/* ---- delete ------------------------------------------------------------------------ */

static int delete_work(pier_db *db, void *arg) {
  coll_job *j = arg;
  return db->ops->collection_delete(db, j->col.id);
}

static void delete_done(void *arg, int rc) {
  coll_job *j = arg;
  if (rc == 0 || rc == PIER_ENOTFOUND) pier_catalog_collection_remove(APP(j->req)->catalog, j->col.id);
  if (rc) {
    pier_api_db_error(j->req, rc, "collection");
    return;
  }
  PIER_LOG(PIER_LOG_INFO, "api", "req=%llu deleted collection %s", (unsigned long long)j->req->id, j->col.name);
  pier_http_respond_empty(j->req, 204);
}

void pier_h_collection_delete(pier_http_req *req) {
  coll_job *j = job_new(req);
  if (!j || !pier_api_collection(req, req->params[0], &j->col)) return;
  pier_api_db(req, PIER_STORE_WRITE, delete_work, delete_done, j);
}
