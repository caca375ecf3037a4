/* h_embeddings.c — POST /v1/embeddings: OpenAI's embeddings API for every
 * provider that has one (Bedrock, Gemini, OpenAI-API providers); see llm/embed.h. */
#include <stdio.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "llm/embed.h"

typedef struct emb_ctx {
  pier_http_req *req;
  cJSON *body;
  pier_collection col;
  const char *model;
  pier_embed *job;
  bool waiting_env, ended;
} emb_ctx;

static void respond_error(pier_http_req *req, const pier_llm_error *e) {
  pier_buf b;
  pier_buf_init(&b, 0);
  char extra[64] = "";
  if (e->status == 429 && e->retry_after_ms)
    snprintf(extra, sizeof extra, "Retry-After: %llu\r\n", (unsigned long long)((e->retry_after_ms + 999) / 1000));
  if (pier_openai_error_body(&b, e->status, e->type[0] ? e->type : NULL, e->code[0] ? e->code : NULL,
                             pier_slice_from(e->message)) == 0)
    pier_http_respond_buf(req, e->status, "application/json", extra[0] ? extra : NULL, &b);
  else
    pier_http_respond_error(req, 500, "out of memory");
  pier_buf_dispose(&b);
}

static void on_done(void *arg, const pier_embed_result *res) {
  emb_ctx *x = arg;
  x->job = NULL;
  x->ended = true;
  if (res->ok) pier_http_respond(x->req, 200, "application/json", NULL, res->body.ptr, res->body.len);
  else respond_error(x->req, &res->error);
}

static void on_env(pier_http_req *req, cJSON *env, int rc, void *arg) {
  emb_ctx *x = arg;
  x->waiting_env = false;
  if (req->aborted || rc) {
    cJSON_Delete(env);
    if (req->aborted) pier_http_respond_empty(req, 499);
    else pier_api_error(req, 500, NULL, "could not read the collection's environment");
    return;
  }
  pier_env_view view = {.collection = env, .server = APP(req)->server_env};
  pier_route route;
  char err[1200];
  rc = pier_route_resolve(x->model, pier_json_str(x->body, "model_provider"), &view, &route, err, sizeof err);
  cJSON_Delete(env);
  if (rc) {
    pier_api_error(req, 400, rc == PIER_EAUTH ? "missing_credentials" : "invalid_model", "%s", err);
    return;
  }
  pier_embed_opts o = {.up = pier_api_loop(req)->up, .loop = pier_http_loop_uv(req->loop), .route = &route,
                       .request = x->body, .raw_request = pier_buf_slice(&req->body), .model = x->model,
                       .limits = APP(req)->cfg.llm, .on_done = on_done, .arg = x};
  pier_llm_error e;
  rc = pier_embed_start(&o, &x->job, &e);
  pier_route_dispose(&route);
  if (rc) respond_error(req, &e);
}

static void on_abort(pier_http_req *req, void *arg) {
  emb_ctx *x = arg;
  if (x->waiting_env || x->ended) return; /* on_env / on_done ends the request */
  pier_embed_cancel(x->job);
  x->job = NULL;
  x->ended = true;
  pier_http_respond_empty(req, 499);
}

void pier_h_embeddings(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  emb_ctx *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_api_error(req, 500, NULL, "out of memory");
    return;
  }
  x->req = req;
  x->body = body;
  x->model = pier_json_str(body, "model");
  if (!x->model || !x->model[0]) {
    pier_api_error(req, 400, NULL, "model is required, e.g. \"bedrock/amazon.titan-embed-text-v2:0\"");
    return;
  }
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(body, "input");
  if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
    pier_api_error(req, 400, NULL, "input is required: a string or an array of strings");
    return;
  }
  if (!pier_openai_collection(req, body, &x->col)) return;
  req->on_abort = on_abort;
  req->abort_arg = x;
  x->waiting_env = true;
  pier_api_env_load(req, x->col.id, on_env, x);
}
