/* h_env.c — /api/v1/collections/{c}/environment. Values are sealed before they
 * reach the database and never leave the server: GET shows names with masked
 * values. PATCH merges key by key (rows per variable), so concurrent PATCHes of
 * different keys both survive. */
#include <sodium.h>
#include <string.h>

#include "api/api.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"

#define MASK "********"

typedef struct env_job {
  pier_http_req *req;
  pier_collection col;
  const cJSON *vars; /* borrowed from the body; NULL for GET */
  pier_env_var *list;
  size_t n;
} env_job;

bool pier_api_env_validate(pier_http_req *req, const cJSON *vars) {
  if (cJSON_IsNull(vars)) return true;
  if (!cJSON_IsObject(vars)) {
    pier_http_respond_error(req, 422, "environment_variables must be an object of NAME: \"value\" (or null)");
    return false;
  }
  int n = 0;
  for (const cJSON *v = vars->child; v; v = v->next) {
    pier_slice name = pier_slice_from(v->string);
    if (!pier_api_valid_env_name(name)) {
      pier_http_respond_error(req, 422,
                              "environment variable name \"%.80s\" is invalid: use letters, digits and '_', "
                              "not starting with a digit, at most %d characters",
                              v->string, PIER_ENV_NAME_BYTES_MAX);
      return false;
    }
    if (!cJSON_IsNull(v) && !cJSON_IsString(v)) {
      pier_http_respond_error(req, 422, "environment_variables.%s must be a string, or null to delete it", v->string);
      return false;
    }
    if (cJSON_IsString(v) && strlen(v->valuestring) > PIER_ENV_VALUE_BYTES_MAX) {
      pier_http_respond_error(req, 422, "environment_variables.%s is longer than %d bytes", v->string,
                              PIER_ENV_VALUE_BYTES_MAX);
      return false;
    }
    if (++n > PIER_ENV_VARS_MAX) {
      pier_http_respond_error(req, 422, "at most %d environment variables per collection", PIER_ENV_VARS_MAX);
      return false;
    }
  }
  return true;
}

int pier_api_env_apply(pier_db *db, const unsigned char *key, int64_t collection_id, const cJSON *vars) {
  if (cJSON_IsNull(vars)) return db->ops->env_clear(db, collection_id);
  pier_buf box;
  pier_buf_init(&box, 0);
  int rc = 0;
  int64_t now = pier_now_us();
  for (const cJSON *v = vars->child; v && !rc; v = v->next) {
    if (cJSON_IsNull(v)) {
      rc = db->ops->env_delete(db, collection_id, pier_slice_from(v->string));
      continue;
    }
    pier_env_var ev = {.name = v->string, .updated_us = now};
    rc = pier_seal(key, v->valuestring, strlen(v->valuestring), ev.nonce, &box);
    if (rc) break;
    ev.box = (const unsigned char *)box.ptr;
    ev.box_len = box.len;
    rc = db->ops->env_put(db, collection_id, &ev);
  }
  if (box.ptr) sodium_memzero(box.ptr, box.cap);
  pier_buf_dispose(&box);
  if (rc) return rc;
  pier_arena a;
  pier_arena_init(&a);
  pier_env_var *list;
  size_t n;
  rc = db->ops->env_list(db, &a, collection_id, &list, &n);
  pier_arena_dispose(&a);
  if (!rc && n > PIER_ENV_VARS_MAX) rc = PIER_ETOOBIG;
  return rc;
}

static int unseal_shown(pier_db *db, env_job *j);

static int list_work(pier_db *db, void *arg) {
  env_job *j = arg;
  int rc = db->ops->env_list(db, &j->req->arena, j->col.id, &j->list, &j->n);
  return rc ? rc : unseal_shown(db, j);
}

/* Settings that are not secrets (regions, endpoints) are shown as they are, so
 * clients can check a configuration; every other value is masked. */
static bool shown(const char *name) {
  static const char *exact[] = {"AWS_REGION", "AWS_REGION_NAME", "AWS_DEFAULT_REGION", "OPENAI_ORGANIZATION", NULL};
  static const char *suffix[] = {"_API_BASE", "_BASE_URL", "_RUNTIME_ENDPOINT", NULL};
  for (int i = 0; exact[i]; i++)
    if (!strcmp(name, exact[i])) return true;
  size_t n = strlen(name);
  for (int i = 0; suffix[i]; i++) {
    size_t m = strlen(suffix[i]);
    if (n > m && !strcmp(name + n - m, suffix[i])) return true;
  }
  return false;
}

/* Unseal the shown ones (on the store thread, where the key may be used). */
static int unseal_shown(pier_db *db, env_job *j) {
  (void)db;
  pier_buf plain;
  pier_buf_init(&plain, PIER_ENV_VALUE_BYTES_MAX);
  for (size_t i = 0; i < j->n; i++) {
    pier_env_var *v = &j->list[i];
    v->box_len = shown(v->name) ? v->box_len : 0;
    if (!v->box_len || pier_unseal(APP(j->req)->master_key, v->box, v->box_len, v->nonce, &plain) != 0) {
      v->box = NULL;
      continue;
    }
    v->box = (const unsigned char *)pier_arena_strdup(&j->req->arena, pier_buf_slice(&plain));
  }
  pier_buf_dispose(&plain);
  return 0;
}

static void respond_env(env_job *j) {
  cJSON *o = pier_api_collection_json(&j->col);
  cJSON *vars = cJSON_AddObjectToObject(o, "environment_variables");
  for (size_t i = 0; i < j->n; i++)
    cJSON_AddStringToObject(vars, j->list[i].name, j->list[i].box ? (const char *)j->list[i].box : MASK);
  pier_http_respond_json(j->req, 200, o);
  cJSON_Delete(o);
}

static void list_done(void *arg, int rc) {
  env_job *j = arg;
  if (rc) pier_api_db_error(j->req, rc, "environment");
  else respond_env(j);
}

static env_job *job_for(pier_http_req *req) {
  env_job *j = pier_arena_calloc(&req->arena, sizeof *j);
  if (!j) {
    pier_http_respond_error(req, 500, "out of memory");
    return NULL;
  }
  j->req = req;
  return pier_api_collection(req, req->params[0], &j->col) ? j : NULL;
}

void pier_h_env_get(pier_http_req *req) {
  env_job *j = job_for(req);
  if (j) pier_api_db(req, PIER_STORE_READ, list_work, list_done, j);
}

static int patch_work(pier_db *db, void *arg) {
  env_job *j = arg;
  int rc = pier_api_env_apply(db, APP(j->req)->master_key, j->col.id, j->vars);
  if (!rc) rc = db->ops->env_list(db, &j->req->arena, j->col.id, &j->list, &j->n);
  return rc ? rc : unseal_shown(db, j);
}

static void patch_done(void *arg, int rc) {
  env_job *j = arg;
  pier_catalog_env_invalidate(APP(j->req)->catalog, j->col.id);
  if (rc == PIER_ETOOBIG) {
    pier_http_respond_error(j->req, 422, "a collection holds at most %d environment variables", PIER_ENV_VARS_MAX);
    return;
  }
  if (rc) {
    pier_api_db_error(j->req, rc, "collection");
    return;
  }
  PIER_LOG(PIER_LOG_INFO, "api", "req=%llu updated the environment of %s", (unsigned long long)j->req->id,
           j->col.name);
  respond_env(j);
}

void pier_h_env_patch(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  env_job *j = job_for(req);
  if (!j) return;
  j->vars = cJSON_GetObjectItemCaseSensitive(body, "environment_variables");
  if (!j->vars) {
    pier_http_respond_error(req, 422, "environment_variables is required: {\"environment_variables\": {\"NAME\": "
                                      "\"value\"}} (null deletes a variable)");
    return;
  }
  if (!pier_api_env_validate(req, j->vars)) return;
  pier_api_db(req, PIER_STORE_WRITE, patch_work, patch_done, j);
}
