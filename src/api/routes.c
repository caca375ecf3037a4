/* routes.c — the route table and the request entry point: route, then
 * authenticate (Bearer token -> admin or collection key, constant-time
 * comparison of SHA-256 hashes), then scope-check, then the handler. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/chat_int.h"
#include "base/log.h"
#include "base/util.h"

static const pier_http_route routes[] = {
    {PIER_HTTP_GET, "/api/v1/health", pier_h_health, PIER_ROUTE_PUBLIC},
    {PIER_HTTP_GET, "/health", pier_h_health, PIER_ROUTE_PUBLIC},

    {PIER_HTTP_GET, "/api/v1/collections", pier_h_collections_list, 0},
    {PIER_HTTP_POST, "/api/v1/collections", pier_h_collection_create, PIER_ROUTE_ADMIN},
    {PIER_HTTP_GET, "/api/v1/collections/{c}/environment", pier_h_env_get, PIER_ROUTE_SCOPED},
    {PIER_HTTP_PATCH, "/api/v1/collections/{c}/environment", pier_h_env_patch, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/collections/{c}", pier_h_collection_get, PIER_ROUTE_SCOPED},
    {PIER_HTTP_DELETE, "/api/v1/collections/{c}", pier_h_collection_delete, PIER_ROUTE_SCOPED | PIER_ROUTE_ADMIN},

    {PIER_HTTP_GET, "/api/v1/tasks/{c}", pier_h_tasks_list, PIER_ROUTE_SCOPED},
    {PIER_HTTP_POST, "/api/v1/tasks/{c}", pier_h_task_create, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/tasks/{c}/{t}", pier_h_task_get, PIER_ROUTE_SCOPED},
    {PIER_HTTP_PUT, "/api/v1/tasks/{c}/{t}", pier_h_task_update, PIER_ROUTE_SCOPED},
    {PIER_HTTP_DELETE, "/api/v1/tasks/{c}/{t}", pier_h_task_delete, PIER_ROUTE_SCOPED},

    {PIER_HTTP_POST, "/api/v1/run/{c}/{t}", pier_h_run, PIER_ROUTE_SCOPED},
    {PIER_HTTP_POST, "/api/v1/run-sync/{c}/{t}", pier_h_run_sync, PIER_ROUTE_SCOPED},

    {PIER_HTTP_GET, "/api/v1/db/trajectory/{c}/{t}/{id}/events", pier_h_trajectory_events, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/db/trajectory/{c}/{t}/{id}", pier_h_trajectory_get, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/trajectory/{c}/{t}/{id}", pier_h_trajectory_get, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/db/trajectories/{c}/{t}", pier_h_trajectories_list, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/db/stats/{c}/{t}", pier_h_trajectory_stats, PIER_ROUTE_SCOPED},
    {PIER_HTTP_POST, "/api/v1/trajectory/{c}/{t}/statuses", pier_h_trajectory_statuses, PIER_ROUTE_SCOPED},
    {PIER_HTTP_POST, "/api/v1/trajectory/{c}/{t}/{id}/labels", pier_h_trajectory_label, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/file/{path*}", pier_h_file_get, 0},
    {PIER_HTTP_GET, "/api/v1/list-files", pier_h_files_list, 0},
    {PIER_HTTP_GET, "/api/v1/step-templates", pier_h_step_templates, PIER_ROUTE_PUBLIC},
    {PIER_HTTP_GET, "/api/v1/step-templates/{activity}", pier_h_step_template, PIER_ROUTE_PUBLIC},

    {PIER_HTTP_POST, "/v1/chat/completions", pier_h_chat_completions, PIER_ROUTE_OPENAI | PIER_ROUTE_MODEL},
    {PIER_HTTP_POST, "/chat/completions", pier_h_chat_completions, PIER_ROUTE_OPENAI | PIER_ROUTE_MODEL},
    {PIER_HTTP_POST, "/v1/embeddings", pier_h_embeddings, PIER_ROUTE_OPENAI | PIER_ROUTE_MODEL},
    {PIER_HTTP_GET, "/v1/models", pier_h_models, PIER_ROUTE_OPENAI | PIER_ROUTE_MODEL},
    {PIER_HTTP_GET, "/models", pier_h_models, PIER_ROUTE_OPENAI | PIER_ROUTE_MODEL},
    {PIER_HTTP_POST, "/embeddings", pier_h_embeddings, PIER_ROUTE_OPENAI | PIER_ROUTE_MODEL},
    {PIER_HTTP_POST, "/v1/messages/count_tokens", pier_h_count_tokens, PIER_ROUTE_ANTHROPIC | PIER_ROUTE_MODEL},
    {PIER_HTTP_POST, "/v1/messages", pier_h_messages, PIER_ROUTE_ANTHROPIC | PIER_ROUTE_MODEL},

    {PIER_HTTP_POST, "/api/v1/api-keys", pier_h_key_create, 0},
    {PIER_HTTP_GET, "/api/v1/api-keys/collection/{c}", pier_h_keys_list, PIER_ROUTE_SCOPED},
    {PIER_HTTP_GET, "/api/v1/api-keys/{id}", pier_h_key_get, 0},
    {PIER_HTTP_PUT, "/api/v1/api-keys/{id}", pier_h_key_update, 0},
    {PIER_HTTP_DELETE, "/api/v1/api-keys/{id}", pier_h_key_delete, 0},
};

static void unauthorized(pier_http_req *req, const char *detail) {
  pier_api_error(req, 401, NULL, "%s", detail);
}

/* Returns false when it has answered the request. */
/* A run token (runbook agents): valid only while its step runs, only on the
 * model endpoints. */
static bool run_token_auth(pier_http_req *req, pier_auth *a, const char *hash) {
  pier_run_token_info info;
  if (!pier_catalog_run_token_find(APP(req)->catalog, hash, &info)) {
    unauthorized(req, "this run token is no longer valid (its runbook step has ended)");
    return false;
  }
  const pier_http_route *rt = req->route;
  if (!(rt->flags & PIER_ROUTE_MODEL)) {
    unauthorized(req, "a run token is accepted only on the model endpoints (/v1/messages, /v1/chat/completions, ...)");
    return false;
  }
  pier_collection col;
  if (!pier_catalog_collection_by_id(APP(req)->catalog, info.collection_id, &req->arena, &col)) {
    unauthorized(req, "Invalid or inactive API key");
    return false;
  }
  a->is_run_token = true;
  memcpy(a->token_hash, hash, 65);
  a->provider = info.provider[0] ? pier_arena_strdup(&req->arena, pier_slice_from(info.provider)) : NULL;
  a->collection_id = col.id;
  a->collection = col.name;
  req->auth = a;
  return true;
}

static bool authenticate(pier_http_req *req) {
  pier_app *app = APP(req);
  pier_slice h = pier_http_header_get(req, "authorization");
  pier_slice tok;
  pier_slice xkey = pier_http_header_get(req, "x-api-key"); /* Anthropic clients (Claude Code) */
  if (!h.len && xkey.len) {
    tok = pier_slice_trim(xkey);
  } else if (!h.len) {
    unauthorized(req, "Not authenticated: send the header Authorization: Bearer <token>");
    return false;
  } else if (!pier_slice_istarts_with(h, "bearer ")) {
    unauthorized(req, "Authorization must use the Bearer scheme: Authorization: Bearer <token>");
    return false;
  } else {
    tok = pier_slice_trim(pier_slice_make(h.ptr + 7, h.len - 7));
  }
  if (tok.len == 0 || tok.len > 4096) {
    unauthorized(req, "Invalid API key format");
    return false;
  }
  char hash[65];
  pier_sha256_hex(tok.ptr, tok.len, hash);
  pier_auth *a = pier_arena_calloc(&req->arena, sizeof *a);
  if (!a) {
    pier_api_error(req, 500, NULL, "out of memory");
    return false;
  }
  if (sodium_memcmp(hash, app->admin_hash, 64) == 0) {
    a->is_admin = true;
    req->auth = a;
    return true;
  }
  if (pier_slice_starts_with(tok, PIER_RUN_TOKEN_PREFIX)) return run_token_auth(req, a, hash);
  pier_key_info ki;
  if (!pier_catalog_key_find(app->catalog, hash, &ki) || !ki.is_active) {
    bool mlc = pier_slice_starts_with(tok, "mlc_");
    unauthorized(req, mlc && tok.len != 36 ? "Invalid API key format"
                      : mlc               ? "Invalid or inactive API key"
                                          : "Invalid API key or JWT token");
    return false;
  }
  pier_collection col;
  if (ki.collection_id == 0) {
    a->is_admin = true;
  } else if (pier_catalog_collection_by_id(app->catalog, ki.collection_id, &req->arena, &col)) {
    a->collection_id = col.id;
    a->collection = col.name;
  } else {
    unauthorized(req, "Invalid or inactive API key");
    return false;
  }
  a->key_id = ki.id;
  req->auth = a;
  return true;
}

void pier_api_on_request(pier_http_req *req) {
  const pier_http_route *rt = NULL;
  char allow[64];
  int rc = pier_router_match(routes, sizeof routes / sizeof routes[0], req, &rt, allow, sizeof allow);
  if (rc == PIER_ENOTFOUND) {
    pier_api_error(req, 404, NULL, "Not Found: no route for %.*s %.*s", (int)req->method_name.len,
                            req->method_name.ptr, (int)(req->path.len > 200 ? 200 : req->path.len), req->path.ptr);
    return;
  }
  if (rc == PIER_EINVAL) {
    char extra[96];
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    char body[160];
    int n = snprintf(body, sizeof body, "{\"detail\":\"Method Not Allowed: use %s\"}", allow);
    pier_http_respond(req, 405, "application/json", extra, body, (size_t)n);
    return;
  }
  if (rc) {
    pier_api_error(req, 400, NULL, "malformed percent-escape in the URL path");
    return;
  }
  req->route = (void *)rt;
  if (!(rt->flags & PIER_ROUTE_PUBLIC)) {
    if (!authenticate(req)) return;
    pier_auth *a = AUTH(req);
    if ((rt->flags & PIER_ROUTE_SCOPED) && !a->is_admin && !pier_slice_ieq_cstr(req->params[0], a->collection)) {
      pier_api_error(req, 403, NULL, "API key not valid for this collection");
      return;
    }
    if ((rt->flags & PIER_ROUTE_ADMIN) && !a->is_admin) {
      pier_api_error(req, 403, NULL, "this operation needs the admin token; collection API keys cannot do it");
      return;
    }
  }
  rt->handler(req);
}
