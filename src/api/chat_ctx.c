/* chat_ctx.c — reading an OpenAI chat request: which collection pays, which
 * model, stream or not, LiteLLM's per-request knobs (num_retries, timeout). */
#include <math.h>
#include <string.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "base/util.h"

bool pier_openai_collection(pier_http_req *req, const cJSON *body, pier_collection *out) {
  pier_auth *a = AUTH(req);
  const cJSON *jetty = cJSON_GetObjectItemCaseSensitive(body, "jetty");
  if (jetty && !cJSON_IsObject(jetty) && !cJSON_IsNull(jetty)) {
    pier_api_error(req, 400, NULL, "jetty must be an object, e.g. {\"collection\": \"acme\"}");
    return false;
  }
  const char *name = cJSON_IsObject(jetty) ? pier_json_str(jetty, "collection") : NULL;
  pier_slice hdr = pier_http_header_get(req, "x-pier-collection"); /* clients that cannot add body fields */
  if (!name && hdr.len) name = pier_arena_strdup(&req->arena, hdr);
  if (!name) {
    if (a->is_admin) {
      pier_api_error(req, 400, NULL, "the admin token has no collection: add \"jetty\": {\"collection\": "
                                     "\"<name>\"} to the request (or the header X-Pier-Collection), or use a "
                                     "collection API key");
      return false;
    }
    name = a->collection;
  }
  return pier_api_collection(req, pier_slice_from(name), out);
}

/* LiteLLM's per-request knobs. false = answered. */
static bool read_limits(pier_http_req *req, cJSON *body, pier_llm_limits *l) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "num_retries");
  if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 20 || v->valuedouble != floor(v->valuedouble)) {
      pier_api_error(req, 400, NULL, "num_retries must be a whole number from 0 to 20");
      return false;
    }
    l->retries = v->valueint;
  }
  v = cJSON_GetObjectItemCaseSensitive(body, "timeout");
  if (v && !cJSON_IsNull(v)) {
    if (!cJSON_IsNumber(v) || v->valuedouble <= 0 || v->valuedouble > 86400) {
      pier_api_error(req, 400, NULL, "timeout must be a number of seconds from 0 to 86400");
      return false;
    }
    l->total_timeout_ms = (uint64_t)(v->valuedouble * 1000);
    if (l->ttfb_timeout_ms > l->total_timeout_ms) l->ttfb_timeout_ms = l->total_timeout_ms;
  }
  return true;
}

pier_chat_ctx *pier_chat_ctx_new(pier_http_req *req, cJSON *body, bool anthropic) {
  pier_chat_ctx *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_api_error(req, 500, NULL, "out of memory");
    return NULL;
  }
  x->req = req;
  x->body = body;
  x->anthropic = anthropic;
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
  if (!cJSON_IsString(model) || !model->valuestring[0]) {
    pier_api_error(req, 400, "invalid_request_error", "model is required: a string such as "
                                                      "\"bedrock/us.anthropic.claude-sonnet-4-6\"");
    return NULL;
  }
  x->model = model->valuestring;
  const cJSON *mp = cJSON_GetObjectItemCaseSensitive(body, "model_provider");
  const cJSON *jetty = cJSON_GetObjectItemCaseSensitive(body, "jetty");
  if (!mp && cJSON_IsObject(jetty)) mp = cJSON_GetObjectItemCaseSensitive(jetty, "model_provider");
  if (mp && !cJSON_IsNull(mp) && !cJSON_IsString(mp)) {
    pier_api_error(req, 400, NULL, "model_provider must be a string such as \"bedrock\"");
    return NULL;
  }
  x->model_provider = cJSON_IsString(mp) ? mp->valuestring : NULL;
  if (!x->model_provider && AUTH(req)->is_run_token) x->model_provider = AUTH(req)->provider; /* the step's choice */
  if (anthropic && cJSON_IsObject(jetty) && pier_json_bool(jetty, "runbook", false)) {
    pier_api_error(req, 400, NULL, "runbook mode (jetty.runbook: true) is served on POST /v1/chat/completions");
    return NULL;
  }
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
  if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
    pier_api_error(req, 400, NULL, "messages is required: a non-empty array of {\"role\", \"content\"}");
    return NULL;
  }
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
  if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream)) {
    pier_api_error(req, 400, NULL, "stream must be true or false");
    return NULL;
  }
  x->stream = cJSON_IsTrue(stream);
  if (!pier_openai_collection(req, body, &x->col)) return NULL;
  pier_app *app = APP(req);
  x->limits = app->cfg.llm;
  x->ka_ms = app->cfg.sse_keepalive_ms;
  if (!read_limits(req, body, &x->limits)) return NULL;
  const cJSON *fb = cJSON_GetObjectItemCaseSensitive(body, "fallbacks");
  if (fb && !cJSON_IsNull(fb)) {
    int n = 0;
    for (const cJSON *f = cJSON_IsArray(fb) ? fb->child : NULL; f; f = f->next, n++)
      if (!cJSON_IsString(f) || !f->valuestring[0]) n = 100;
    if (!cJSON_IsArray(fb) || n > 10) {
      pier_api_error(req, 400, NULL, "fallbacks must be an array of at most 10 model names");
      return NULL;
    }
    x->fallbacks = fb;
    x->next_fallback = fb->child;
  }
  x->answering_model = x->model;
  pier_buf_init(&x->out, 0);
  if (pier_chat_ctx_reset_writers(x, x->model) != 0) {
    pier_api_error(req, 500, NULL, "out of memory");
    return NULL;
  }
  x->on_finish = pier_chat_record;
  x->begun = true;
  return x;
}

int pier_chat_ctx_reset_writers(pier_chat_ctx *x, const char *model) {
  const cJSON *so = cJSON_GetObjectItemCaseSensitive(x->body, "stream_options");
  pier_openai_meta meta = {.model = model, .include_usage = cJSON_IsObject(so) && pier_json_bool(so, "include_usage", false)};
  char id[40];
  memcpy(id, "chatcmpl-", 9);
  pier_random_alnum(id + 9, 24);
  meta.id = id;
  pier_openai_sse_dispose(&x->sse);
  pier_openai_agg_dispose(&x->agg);
  pier_anthropic_sse_dispose(&x->asse);
  pier_anthropic_agg_dispose(&x->aagg);
  memset(&x->sse, 0, sizeof x->sse);
  memset(&x->agg, 0, sizeof x->agg);
  memset(&x->asse, 0, sizeof x->asse);
  memset(&x->aagg, 0, sizeof x->aagg);
  pier_buf_reset(&x->out);
  if (x->anthropic) {
    pier_anthropic_meta am = {.model = model};
    return x->stream ? pier_anthropic_sse_init(&x->asse, &am, &x->out) : pier_anthropic_agg_init(&x->aagg, &am);
  }
  return x->stream ? pier_openai_sse_init(&x->sse, &meta, &x->out) : pier_openai_agg_init(&x->agg, &meta);
}
