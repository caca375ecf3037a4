/* h_embeddings.c — POST /v1/embeddings on Bedrock (Titan Text Embeddings v1/v2,
 * Cohere Embed v3/v4) through InvokeModel. The calls of one request run in
 * parallel (bounded), each retried on throttling/5xx with backoff; results are
 * assembled in input order. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "base/log.h"
#include "llm/bedrock.h"
#include "llm/bedrock_embed.h"
#include "llm/bedrock_error.h"

#define PARALLEL 8

typedef struct emb_ctx emb_ctx;

typedef struct emb_slot {
  emb_ctx *x;
  size_t call;
  int attempt;
  pier_upstream_req *ur;
  uv_timer_t *timer; /* heap: closed asynchronously */
} emb_slot;

struct emb_ctx {
  pier_http_req *req;
  cJSON *body;
  pier_collection col;
  const char *model;
  pier_route route;
  pier_bedrock_embed *plan;
  pier_llm_limits limits;
  emb_slot *slots;
  size_t ncalls, next, inflight, done;
  bool failed, ended, waiting_env, aborted;
};

static void free_handle(uv_handle_t *h) { free(h); }

static void emb_end(emb_ctx *x) {
  if (x->ended) return;
  x->ended = true;
  for (size_t i = 0; x->slots && i < x->ncalls; i++) {
    if (x->slots[i].ur) pier_upstream_cancel(x->slots[i].ur);
    x->slots[i].ur = NULL;
    if (x->slots[i].timer) {
      uv_timer_stop(x->slots[i].timer);
      uv_close((uv_handle_t *)x->slots[i].timer, free_handle);
      x->slots[i].timer = NULL;
    }
  }
  free(x->slots);
  x->slots = NULL;
  pier_bedrock_embed_destroy(x->plan);
  x->plan = NULL;
  pier_route_dispose(&x->route);
  if (x->req->aborted) pier_http_respond_empty(x->req, 499);
}

static void fail(emb_ctx *x, int status, const char *type, const char *code, const char *msg) {
  if (x->failed || x->ended) return;
  x->failed = true;
  pier_buf b;
  pier_buf_init(&b, 0);
  if (pier_openai_error_body(&b, status, type, code, pier_slice_from(msg)) == 0)
    pier_http_respond_buf(x->req, status, "application/json", NULL, &b);
  else
    pier_http_respond_error(x->req, 500, "out of memory");
  pier_buf_dispose(&b);
  emb_end(x);
}

static void launch(emb_ctx *x);
static void start_slot(emb_slot *s);

static void on_retry(uv_timer_t *t) { start_slot(t->data); }

static void on_call_done(pier_upstream_req *r, void *arg, const pier_upstream_result *res) {
  emb_slot *s = arg;
  emb_ctx *x = s->x;
  s->ur = NULL;
  char err[512];
  if (res->fail != PIER_UP_OK) {
    bool retry = res->fail == PIER_UP_CONNECT || res->fail == PIER_UP_RESET || res->fail == PIER_UP_CONNECT_TIMEOUT;
    if (retry && s->attempt <= x->limits.retries) goto again;
    snprintf(err, sizeof err, "the embeddings call to Bedrock failed: %s", res->detail ? res->detail : "no answer");
    fail(x, res->fail == PIER_UP_TTFB_TIMEOUT || res->fail == PIER_UP_TOTAL_TIMEOUT ? 504 : 502, NULL, NULL, err);
    return;
  }
  if (res->status != 200) {
    pier_bedrock_error be;
    pier_bedrock_error_map(res->status, pier_upstream_header(r, "x-amzn-errortype"), res->body, s->attempt - 1, &be);
    if (be.retryable && s->attempt <= x->limits.retries) goto again;
    fail(x, be.status, be.type, pier_bedrock_error_code(&be), be.message);
    return;
  }
  if (pier_bedrock_embed_add_response(x->plan, s->call, res->body, pier_upstream_header(r, "x-amzn-bedrock-input-token-count"),
                                      err, sizeof err) != 0) {
    fail(x, 502, "api_error", "upstream_protocol_error", err);
    return;
  }
  x->done++;
  x->inflight--;
  launch(x);
  return;
again: /* the slot stays in flight while it waits */
  if (!s->timer && (s->timer = malloc(sizeof *s->timer))) {
    uv_timer_init(pier_http_loop_uv(x->req->loop), s->timer);
    s->timer->data = s;
  }
  if (!s->timer) {
    fail(x, 500, NULL, NULL, "out of memory");
    return;
  }
  uint64_t wait = x->limits.retry_base_ms << (s->attempt - 1 < 10 ? s->attempt - 1 : 10);
  if (wait > x->limits.retry_max_ms) wait = x->limits.retry_max_ms;
  uv_timer_start(s->timer, on_retry, wait / 2 + randombytes_uniform((uint32_t)(wait / 2 + 1)), 0);
}

static void start_slot(emb_slot *s) {
  emb_ctx *x = s->x;
  s->attempt++;
  pier_buf body;
  pier_buf_init(&body, 0);
  int rc = pier_bedrock_embed_body(x->plan, s->call, &body);
  pier_upstream_opts uo = {.connect_timeout_ms = x->limits.connect_timeout_ms,
                           .ttfb_timeout_ms = x->limits.ttfb_timeout_ms,
                           .total_timeout_ms = x->limits.total_timeout_ms,
                           .response_bytes_max = x->limits.response_bytes_max,
                           .arg = s,
                           .on_done = on_call_done};
  if (!rc) rc = pier_bedrock_request(pier_api_loop(x->req)->up, &uo, &x->route, "invoke", pier_buf_slice(&body), &s->ur);
  if (!rc && (rc = pier_upstream_req_start(s->ur)) != 0) {
    pier_upstream_cancel(s->ur);
    s->ur = NULL;
  }
  pier_buf_dispose(&body);
  if (rc) fail(x, 500, NULL, NULL, "could not send the embeddings request to Bedrock");
}

static void launch(emb_ctx *x) {
  if (x->ended) return;
  while (x->inflight < PARALLEL && x->next < x->ncalls) {
    emb_slot *s = &x->slots[x->next++];
    x->inflight++;
    start_slot(s);
    if (x->ended) return;
  }
  if (x->done < x->ncalls) return;
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[256];
  if (pier_bedrock_embed_finish(x->plan, x->model, &out, err, sizeof err) == 0) {
    pier_http_respond_buf(x->req, 200, "application/json", NULL, &out);
    x->failed = true; /* answered */
  } else {
    fail(x, 502, "api_error", NULL, err);
  }
  pier_buf_dispose(&out);
  emb_end(x);
}

static void on_env(pier_http_req *req, cJSON *env, int rc, void *arg) {
  emb_ctx *x = arg;
  x->waiting_env = false;
  if (req->aborted || rc) {
    cJSON_Delete(env);
    if (!req->aborted) fail(x, 500, NULL, NULL, "could not read the collection's environment");
    else emb_end(x);
    return;
  }
  pier_env_view view = {.collection = env, .server = APP(req)->server_env};
  char err[1200];
  const char *mp = pier_json_str(x->body, "model_provider");
  rc = pier_route_resolve(x->model, mp, &view, &x->route, err, sizeof err);
  cJSON_Delete(env);
  if (rc) {
    fail(x, 400, NULL, rc == PIER_EAUTH ? "missing_credentials" : "invalid_model", err);
    return;
  }
  if (x->route.kind != PIER_PROV_BEDROCK) {
    fail(x, 400, NULL, "unsupported_provider", "embeddings are served for Bedrock models on this server");
    return;
  }
  if (pier_bedrock_embed_create(x->body, x->route.model_id, &x->plan, err, sizeof err) != 0) {
    fail(x, 400, NULL, NULL, err);
    return;
  }
  x->ncalls = pier_bedrock_embed_calls(x->plan);
  x->slots = calloc(x->ncalls ? x->ncalls : 1, sizeof *x->slots);
  if (!x->slots) {
    fail(x, 500, NULL, NULL, "out of memory");
    return;
  }
  for (size_t i = 0; i < x->ncalls; i++) x->slots[i] = (emb_slot){.x = x, .call = i};
  launch(x);
}

static void on_abort(pier_http_req *req, void *arg) {
  (void)req;
  emb_ctx *x = arg;
  x->aborted = true;
  if (!x->waiting_env) emb_end(x);
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
  x->limits = APP(req)->cfg.llm;
  req->on_abort = on_abort;
  req->abort_arg = x;
  x->waiting_env = true;
  pier_api_env_load(req, x->col.id, on_env, x);
}
