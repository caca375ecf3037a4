/* h_models.c — GET /v1/models: the models the caller's collection can reach,
 * i.e. the catalogue of every provider it has credentials for. */
#include <string.h>
#include <time.h>

#include "api/chat_int.h"
#include "llm/models.h"

static const char *providers[] = {"bedrock", "openai", "anthropic", "gemini", "openrouter", NULL};

typedef struct models_ctx {
  pier_http_req *req;
} models_ctx;

static void on_env(pier_http_req *req, cJSON *env, int rc, void *arg) {
  (void)arg;
  if (rc) {
    pier_api_error(req, 500, NULL, "could not read the collection's environment");
    return;
  }
  pier_env_view view = {.collection = env, .server = APP(req)->server_env};
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "object", "list");
  cJSON *data = cJSON_AddArrayToObject(out, "data");
  for (int p = 0; providers[p]; p++) {
    if (!pier_models_has_creds(providers[p], &view)) continue;
    for (const pier_model_info *m = pier_models_of(providers[p]); m && m->id; m++) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "id", m->id);
      cJSON_AddStringToObject(o, "object", "model");
      cJSON_AddNumberToObject(o, "created", 1735689600); /* catalogue date: 2025-01-01 */
      cJSON_AddStringToObject(o, "owned_by", m->owned_by);
      cJSON_AddItemToArray(data, o);
    }
  }
  cJSON_Delete(env);
  pier_http_respond_json(req, 200, out);
  cJSON_Delete(out);
}

void pier_h_models(pier_http_req *req) {
  cJSON *q = cJSON_CreateObject();
  pier_slice coll;
  if (pier_http_query_get(req, "collection", &coll)) {
    cJSON *j = cJSON_AddObjectToObject(q, "jetty");
    cJSON_AddItemToObject(j, "collection", cJSON_CreateStringReference(pier_arena_strdup(&req->arena, coll)));
  }
  pier_collection col;
  bool ok = pier_openai_collection(req, q, &col);
  cJSON_Delete(q);
  if (ok) pier_api_env_load(req, col.id, on_env, NULL);
}
