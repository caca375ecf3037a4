/* util.c — request helpers for handlers: JSON bodies, collection resolution
 * with scope, store submission, validation of names, paging. */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/util.h"
#include "llm/anthropic_map.h"
#include "llm/openai_sse.h"

static void delete_json(void *p) { cJSON_Delete(p); }

void pier_api_error(pier_http_req *req, int status, const char *code, const char *fmt, ...) {
  const pier_http_route *rt = req->route;
  bool openai = rt ? (rt->flags & PIER_ROUTE_OPENAI) != 0 : pier_slice_starts_with(req->path, "/v1/");
  bool anthropic = rt && (rt->flags & PIER_ROUTE_ANTHROPIC);
  char msg[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pier_utf8_sanitize(msg);
  if (anthropic) {
    pier_buf b;
    pier_buf_init(&b, 0);
    if (pier_anthropic_error_body(&b, status, pier_slice_from(msg)) == 0)
      pier_http_respond_buf(req, status, "application/json", status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL, &b);
    else
      pier_http_respond_error(req, 500, "out of memory");
    pier_buf_dispose(&b);
    return;
  }
  if (!openai) {
    pier_http_respond_error(req, status, "%s", msg);
    return;
  }
  pier_buf b;
  pier_buf_init(&b, 0);
  if (pier_openai_error_body(&b, status, NULL, code, pier_slice_from(msg)) != 0) {
    pier_buf_dispose(&b);
    pier_http_respond_error(req, 500, "out of memory");
    return;
  }
  pier_http_respond_buf(req, status, "application/json", status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL, &b);
}

cJSON *pier_api_body_object(pier_http_req *req) {
  pier_slice ct = pier_http_header_get(req, "content-type");
  /* Lenient like curl users expect: `curl -d '{...}'` labels JSON as a form. */
  if (pier_slice_istarts_with(ct, "multipart/")) {
    pier_api_error(req, 415, NULL, "send the body as JSON with Content-Type: application/json (got %.*s)",
                            (int)(ct.len > 100 ? 100 : ct.len), ct.ptr);
    return NULL;
  }
  char err[160];
  cJSON *v = pier_json_parse(pier_buf_slice(&req->body), PIER_JSON_DEPTH_MAX, err, sizeof err);
  if (!v) {
    pier_api_error(req, 400, NULL, "%s", err);
    return NULL;
  }
  if (!pier_api_defer_json(req, v)) return NULL;
  if (!cJSON_IsObject(v)) {
    pier_api_error(req, 422, NULL, "the body must be a JSON object, not %s", pier_json_type_name(v));
    return NULL;
  }
  return v;
}

bool pier_api_collection(pier_http_req *req, pier_slice name, pier_collection *out) {
  pier_auth *a = AUTH(req);
  if (a && !a->is_admin && !pier_slice_ieq_cstr(name, a->collection)) {
    pier_api_error(req, 403, NULL, "API key not valid for this collection");
    return false;
  }
  if (!pier_catalog_collection_by_name(APP(req)->catalog, name, &req->arena, out)) {
    pier_api_error(req, 404, NULL, "Collection '%.*s' not found", (int)(name.len > 64 ? 64 : name.len),
                            name.ptr);
    return false;
  }
  return true;
}

void pier_api_db(pier_http_req *req, int kind, pier_store_work_fn work, pier_store_done_fn done, void *arg) {
  int rc = pier_store_submit(APP(req)->store, kind, pier_http_loop_mailbox(req->loop), work, done, arg);
  if (rc) pier_api_error(req, 503, NULL, "the store is not accepting work (%s); retry shortly", pier_strerror(rc));
}

void pier_api_db_error(pier_http_req *req, int rc, const char *what) {
  switch (rc) {
  case PIER_ENOTFOUND: pier_api_error(req, 404, NULL, "%s not found", what); break;
  case PIER_EEXISTS: pier_api_error(req, 400, NULL, "%s already exists", what); break;
  case PIER_ECANCELLED: pier_api_error(req, 503, NULL, "the server is shutting down; retry shortly"); break;
  default: pier_api_error(req, 500, NULL, "database error while handling %s", what);
  }
}

static bool valid_chars(pier_slice s, size_t max, const char *extra) {
  if (s.len == 0 || s.len > max) return false;
  for (size_t i = 0; i < s.len; i++) {
    char c = s.ptr[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr(extra, c));
    if (!ok) return false;
  }
  return true;
}

bool pier_api_valid_collection_name(pier_slice s) { return valid_chars(s, PIER_NAME_BYTES_MAX, "_-"); }
bool pier_api_valid_task_name(pier_slice s) {
  if (!valid_chars(s, PIER_TASK_NAME_BYTES_MAX, "_-.")) return false;
  for (size_t i = 0; i < s.len; i++) /* "." and ".." would name directories */
    if (s.ptr[i] != '.') return s.ptr[0] != '.';
  return false;
}
bool pier_api_valid_env_name(pier_slice s) {
  return valid_chars(s, PIER_ENV_NAME_BYTES_MAX, "_") && !(s.ptr[0] >= '0' && s.ptr[0] <= '9');
}

void pier_api_add_time(cJSON *obj, const char *key, int64_t us) {
  char ts[32];
  pier_iso8601(us, ts);
  cJSON_AddStringToObject(obj, key, ts);
}

static bool query_num(pier_http_req *req, const char *name, int64_t lo, int64_t hi, int64_t *out) {
  pier_slice v;
  if (!pier_http_query_get(req, name, &v)) return true;
  unsigned long long n;
  if (pier_slice_to_u64(v, &n) != 0 || (int64_t)n < lo || (int64_t)n > hi) {
    pier_api_error(req, 422, NULL, "query parameter %s must be a whole number from %lld to %lld", name,
                            (long long)lo, (long long)hi);
    return false;
  }
  *out = (int64_t)n;
  return true;
}

bool pier_api_paging(pier_http_req *req, const char *skip_name, int64_t *skip, int64_t *limit, int64_t limit_def,
                     int64_t limit_max) {
  *skip = 0;
  *limit = limit_def;
  return query_num(req, skip_name, 0, INT32_MAX, skip) && query_num(req, "limit", 1, limit_max, limit);
}

cJSON *pier_api_collection_json(const pier_collection *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)c->id);
  cJSON_AddStringToObject(o, "name", c->name);
  cJSON_AddStringToObject(o, "description", c->description ? c->description : "");
  cJSON_AddNullToObject(o, "auth_org_id");
  cJSON_AddNullToObject(o, "owner_identifier");
  cJSON_AddStringToObject(o, "storage_provider", "default");
  cJSON_AddItemToObject(o, "storage_info", cJSON_CreateObject());
  pier_api_add_time(o, "created_at", c->created_us);
  return o;
}

void pier_h_health(pier_http_req *req) {
  static const char body[] = "{\"status\":\"ok\",\"service\":\"pier\"}";
  pier_http_respond(req, 200, "application/json", NULL, body, sizeof body - 1);
}

static void free_timer(uv_handle_t *h) { free(h); }

uv_timer_t *pier_api_timer_start(pier_http_req *req, uv_timer_cb cb, void *data, uint64_t timeout_ms,
                                 uint64_t repeat_ms) {
  uv_timer_t *t = malloc(sizeof *t);
  if (!t) return NULL;
  uv_timer_init(pier_http_loop_uv(req->loop), t);
  t->data = data;
  uv_timer_start(t, cb, timeout_ms, repeat_ms);
  return t;
}

void pier_api_timer_close(uv_timer_t **t) {
  if (!*t) return;
  uv_timer_stop(*t);
  uv_close((uv_handle_t *)*t, free_timer);
  *t = NULL;
}

bool pier_api_defer_json(pier_http_req *req, cJSON *tree) {
  if (pier_arena_defer_call(&req->arena, delete_json, tree) == 0) return true;
  cJSON_Delete(tree);
  pier_api_error(req, 500, NULL, "out of memory");
  return false;
}
