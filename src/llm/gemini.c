/* gemini.c — Google Gemini as a chat provider: generateContent and
 * streamGenerateContent?alt=sse with the key in x-goog-api-key; translation in
 * gemini_map.h. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/gemini_map.h"
#include "llm/provider.h"
#include "llm/sse.h"

typedef struct gstate {
  pier_chat_call *call;
  pier_gemini_info info;
  pier_buf body;
  pier_sse_parser sse;
  bool sse_init;
  pier_gemini_stream gs;
} gstate;

static int g_init(pier_chat_call *c, void *stp, pier_llm_error *err) {
  gstate *st = stp;
  st->call = c;
  pier_buf_init(&st->body, 0);
  char msg[512] = "";
  int rc = pier_gemini_build(pier_chat_call_request(c), pier_chat_call_route(c)->model_id, &st->body, &st->info, msg,
                             sizeof msg);
  if (rc) pier_llm_error_set(err, rc == PIER_EINVAL ? 400 : rc == PIER_ETOOBIG ? 413 : 500, NULL, NULL, false,
                             "%s", msg[0] ? msg : pier_strerror(rc));
  return rc;
}

static int g_begin(pier_chat_call *c, void *stp, pier_upstream_req **out, pier_llm_error *err) {
  gstate *st = stp;
  const pier_route *r = pier_chat_call_route(c);
  bool stream = pier_chat_call_streaming(c);
  if (st->sse_init) pier_sse_dispose(&st->sse);
  pier_sse_init(&st->sse, 4u << 20);
  st->sse_init = true;
  pier_gemini_stream_init(&st->gs, &st->info, pier_chat_call_emit, c);
  pier_buf url;
  pier_buf_init(&url, 4096);
  int rc = pier_buf_appendf(&url, "%s/v1beta/", r->base_url);
  if (!rc) rc = pier_gemini_path(r->model_id, stream ? PIER_GEMINI_STREAM : PIER_GEMINI_GENERATE, &url);
  pier_header_kv h[] = {{"x-goog-api-key", r->api_key}};
  if (!rc) rc = pier_chat_call_post_json(c, url.ptr, h, 1, pier_buf_slice(&st->body), out);
  pier_buf_dispose(&url);
  if (rc) pier_llm_error_set(err, 500, NULL, NULL, false, "could not prepare the request to Gemini (%s)", pier_strerror(rc));
  return rc;
}

static int on_sse(void *arg, pier_slice event, pier_slice data) {
  (void)event;
  gstate *st = arg;
  return pier_gemini_stream_on_data(&st->gs, data);
}

static int g_feed(pier_chat_call *c, void *stp, const char *data, size_t len) {
  (void)c;
  gstate *st = stp;
  return pier_sse_feed(&st->sse, data, len, on_sse, st);
}

static int g_end(pier_chat_call *c, void *stp) {
  (void)c;
  gstate *st = stp;
  return pier_gemini_stream_end(&st->gs);
}

static int g_parse(pier_chat_call *c, void *stp, pier_slice body, pier_llm_error *err) {
  gstate *st = stp;
  char msg[256];
  cJSON *resp = pier_json_parse(body, 128, msg, sizeof msg);
  if (!resp) {
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false, "Gemini answered with invalid JSON: %s", msg);
    return PIER_EPROTO;
  }
  int rc = pier_gemini_response_events(resp, &st->info, pier_chat_call_emit, c, msg, sizeof msg);
  cJSON_Delete(resp);
  if (rc == PIER_EPROTO)
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false, "Gemini reply not understood: %s", msg);
  return rc;
}

static void g_error(pier_chat_call *c, void *stp, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)c, (void)stp;
  pier_gemini_error ge;
  pier_gemini_error_map(pier_upstream_status(ur), body, &ge);
  pier_llm_error_set(out, ge.status, ge.type, pier_gemini_error_code(&ge), ge.retryable, "%s", ge.message);
  out->retry_after_ms = ge.retry_after_ms;
}

static void g_dispose(void *stp) {
  gstate *st = stp;
  pier_buf_dispose(&st->body);
  if (st->sse_init) pier_sse_dispose(&st->sse);
}

const pier_provider_ops pier_provider_gemini = {
    .name = "gemini",
    .state_size = sizeof(gstate),
    .init = g_init,
    .begin = g_begin,
    .feed = g_feed,
    .end = g_end,
    .parse = g_parse,
    .error = g_error,
    .dispose = g_dispose,
};
