/* anthropic.c — Anthropic's Messages API as a chat provider (x-api-key,
 * anthropic-version); translation in anthropic_map.h. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/anthropic_map.h"
#include "llm/provider.h"
#include "llm/sse.h"

typedef struct astate {
  pier_chat_call *call;
  pier_anthropic_info info;
  pier_buf body;
  pier_sse_parser sse;
  bool sse_init;
  pier_anthropic_stream as;
} astate;

static int a_init(pier_chat_call *c, void *stp, pier_llm_error *err) {
  astate *st = stp;
  st->call = c;
  pier_buf_init(&st->body, 0);
  char msg[512] = "";
  int rc = pier_anthropic_build(pier_chat_call_request(c), pier_chat_call_route(c)->model_id, &st->body, &st->info,
                                msg, sizeof msg);
  if (rc) pier_llm_error_set(err, rc == PIER_EINVAL ? 400 : rc == PIER_ETOOBIG ? 413 : 500, NULL, NULL, false, "%s",
                             msg[0] ? msg : pier_strerror(rc));
  return rc;
}

static int a_begin(pier_chat_call *c, void *stp, pier_upstream_req **out, pier_llm_error *err) {
  astate *st = stp;
  const pier_route *r = pier_chat_call_route(c);
  if (st->sse_init) pier_sse_dispose(&st->sse);
  pier_sse_init(&st->sse, 4u << 20);
  st->sse_init = true;
  pier_anthropic_stream_init(&st->as, &st->info, pier_chat_call_emit, c);
  char url[600];
  snprintf(url, sizeof url, "%s/v1/messages", r->base_url);
  pier_header_kv h[] = {{"x-api-key", r->api_key},
                        {"anthropic-version", PIER_ANTHROPIC_API_VERSION},
                        {"Accept", pier_chat_call_streaming(c) ? "text/event-stream" : "application/json"}};
  int rc = pier_chat_call_post_json(c, url, h, 3, pier_buf_slice(&st->body), out);
  if (rc) pier_llm_error_set(err, 500, NULL, NULL, false, "could not prepare the request to Anthropic (%s)", pier_strerror(rc));
  return rc;
}

static int on_sse(void *arg, pier_slice event, pier_slice data) {
  astate *st = arg;
  return pier_anthropic_stream_on_event(&st->as, event, data);
}

static int a_feed(pier_chat_call *c, void *stp, const char *data, size_t len) {
  (void)c;
  astate *st = stp;
  return pier_sse_feed(&st->sse, data, len, on_sse, st);
}

static int a_end(pier_chat_call *c, void *stp) {
  (void)c;
  astate *st = stp;
  return pier_anthropic_stream_end(&st->as);
}

static int a_parse(pier_chat_call *c, void *stp, pier_slice body, pier_llm_error *err) {
  astate *st = stp;
  char msg[256];
  cJSON *resp = pier_json_parse(body, 128, msg, sizeof msg);
  if (!resp) {
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false, "Anthropic answered with invalid JSON: %s", msg);
    return PIER_EPROTO;
  }
  int rc = pier_anthropic_response_events(resp, &st->info, pier_chat_call_emit, c, msg, sizeof msg);
  cJSON_Delete(resp);
  if (rc == PIER_EPROTO)
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false, "Anthropic reply not understood: %s", msg);
  return rc;
}

static void a_error(pier_chat_call *c, void *stp, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)c, (void)stp;
  pier_anthropic_error ae;
  pier_anthropic_error_map(pier_upstream_status(ur), body, &ae);
  pier_llm_error_set(out, ae.status, ae.type, ae.code[0] ? ae.code : NULL, ae.retryable, "%s", ae.message);
  unsigned long long secs;
  pier_slice ra = pier_upstream_header(ur, "retry-after");
  if (ra.len && pier_slice_to_u64(ra, &secs) == 0) out->retry_after_ms = secs > 3600 ? 3600000 : secs * 1000;
}

static void a_dispose(void *stp) {
  astate *st = stp;
  pier_buf_dispose(&st->body);
  if (st->sse_init) pier_sse_dispose(&st->sse);
}

const pier_provider_ops pier_provider_anthropic = {
    .name = "anthropic",
    .state_size = sizeof(astate),
    .init = a_init,
    .begin = a_begin,
    .feed = a_feed,
    .end = a_end,
    .parse = a_parse,
    .error = a_error,
    .dispose = a_dispose,
};
