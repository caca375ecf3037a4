/* anthropic_native.c — serving the Anthropic Messages API without translating:
 * the client's body goes to Anthropic (model rewritten) or to Bedrock
 * InvokeModel[WithResponseStream] (model and stream removed,
 * anthropic_version set), and Anthropic's own bytes come back — thinking
 * signatures, cache_control and betas survive. Usage and text are noted on the
 * way with the allocation-free scanner for metering. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jscan.h"
#include "llm/anthropic_map.h"
#include "llm/bedrock.h"
#include "llm/eventstream.h"
#include "llm/provider.h"
#include "llm/sse.h"

typedef struct nstate {
  pier_chat_call *call;
  pier_buf body;
  pier_sse_parser sse;
  pier_es_decoder es;
  bool sse_init, es_init, saw_stop;
  pier_usage usage;
  pier_buf scratch, frame;
} nstate;

typedef struct body_ctx {
  pier_buf *out;
  const char *model; /* NULL: drop model (Bedrock) */
  bool bedrock, first, has_version;
  const char *beta;
} body_ctx;

static int member(void *arg, pier_slice key, pier_slice value) {
  body_ctx *b = arg;
  if (b->bedrock && (pier_jscan_is(key, "model") || pier_jscan_is(key, "stream"))) return 0;
  if (pier_jscan_is(key, "anthropic_version")) b->has_version = true;
  int rc = pier_buf_append_cstr(b->out, b->first ? "" : ",");
  b->first = false;
  if (!rc) rc = pier_buf_append_slice(b->out, key);
  if (!rc) rc = pier_buf_putc(b->out, ':');
  if (!rc) rc = (!b->bedrock && pier_jscan_is(key, "model")) ? pier_buf_append_json_str(b->out, pier_slice_from(b->model))
                                                             : pier_buf_append_slice(b->out, value);
  return rc;
}

/* The client's body, byte for byte but for the fields the target needs. */
static int build_body(nstate *st, pier_slice raw, const char *model_id, bool bedrock, const char *beta) {
  body_ctx b = {.out = &st->body, .model = model_id, .bedrock = bedrock, .first = true, .beta = beta};
  int rc = pier_buf_putc(&st->body, '{');
  if (!rc) rc = pier_jscan_members(raw, member, &b);
  if (!rc && bedrock && !b.has_version)
    rc = pier_buf_append_cstr(&st->body, b.first ? "\"anthropic_version\":\"bedrock-2023-05-31\""
                                                 : ",\"anthropic_version\":\"bedrock-2023-05-31\"");
  if (!rc && bedrock && beta && beta[0]) { /* the header becomes a body field on Bedrock */
    rc = pier_buf_append_cstr(&st->body, ",\"anthropic_beta\":[");
    for (const char *p = beta; !rc && *p;) {
      const char *comma = strchr(p, ',');
      size_t n = comma ? (size_t)(comma - p) : strlen(p);
      pier_slice item = pier_slice_trim(pier_slice_make(p, n));
      if (item.len) {
        if (st->body.ptr[st->body.len - 1] != '[') rc = pier_buf_putc(&st->body, ',');
        if (!rc) rc = pier_buf_append_json_str(&st->body, item);
      }
      p += n + (comma ? 1 : 0);
    }
    if (!rc) rc = pier_buf_putc(&st->body, ']');
  }
  if (!rc) rc = pier_buf_putc(&st->body, '}');
  return rc;
}

static int n_init_common(pier_chat_call *c, void *stp, pier_llm_error *err, bool bedrock) {
  nstate *st = stp;
  st->call = c;
  pier_buf_init(&st->body, 0);
  pier_buf_init(&st->scratch, PIER_CHAT_OUTPUT_BYTES_MAX);
  pier_buf_init(&st->frame, 0);
  int rc = build_body(st, pier_chat_call_raw_request(c), pier_chat_call_route(c)->model_id, bedrock,
                      pier_chat_call_anthropic_beta(c));
  if (rc) pier_llm_error_set(err, rc == PIER_EPROTO ? 400 : 500, "invalid_request_error", NULL, false,
                             "the request body must be a JSON object");
  return rc;
}

static int n_init(pier_chat_call *c, void *stp, pier_llm_error *err) { return n_init_common(c, stp, err, false); }
static int b_init(pier_chat_call *c, void *stp, pier_llm_error *err) { return n_init_common(c, stp, err, true); }

static void reset(nstate *st) {
  st->saw_stop = false;
  memset(&st->usage, 0, sizeof st->usage);
  if (st->sse_init) pier_sse_dispose(&st->sse);
  pier_sse_init(&st->sse, 8u << 20);
  st->sse_init = true;
  if (st->es_init) pier_es_decoder_dispose(&st->es);
  pier_es_decoder_init(&st->es, 8u << 20);
  st->es_init = true;
}

static int n_begin(pier_chat_call *c, void *stp, pier_upstream_req **out, pier_llm_error *err) {
  nstate *st = stp;
  reset(st);
  const pier_route *r = pier_chat_call_route(c);
  char url[600];
  snprintf(url, sizeof url, "%s/v1/messages", r->base_url);
  const char *ver = pier_chat_call_anthropic_version(c);
  pier_header_kv h[] = {{"x-api-key", r->api_key},
                        {"anthropic-version", ver && ver[0] ? ver : PIER_ANTHROPIC_API_VERSION},
                        {"anthropic-beta", pier_chat_call_anthropic_beta(c)}};
  int rc = pier_chat_call_post_json(c, url, h, 3, pier_buf_slice(&st->body), out);
  if (rc) pier_llm_error_set(err, 500, NULL, NULL, false, "could not prepare the request to Anthropic");
  return rc;
}

static int b_begin(pier_chat_call *c, void *stp, pier_upstream_req **out, pier_llm_error *err) {
  nstate *st = stp;
  reset(st);
  pier_upstream_opts uo;
  pier_chat_call_upstream_opts(c, &uo);
  int rc = pier_bedrock_request(pier_chat_call_upstream(c), &uo, pier_chat_call_route(c),
                                pier_chat_call_streaming(c) ? "invoke-with-response-stream" : "invoke",
                                pier_buf_slice(&st->body), out);
  if (rc) pier_llm_error_set(err, 500, NULL, NULL, false, "could not prepare the Bedrock request");
  return rc;
}

/* ---- metering on the way through ----------------------------------------------------- */

static long long num(pier_slice json, const char *path) {
  pier_slice v;
  long long n = 0;
  return pier_jscan_find(json, path, &v) == 0 && pier_jscan_int(v, &n) == 0 ? n : 0;
}

static void note_usage(nstate *st, pier_slice usage_obj, bool start) {
  if (start) {
    st->usage.cache_creation_tokens = num(usage_obj, "cache_creation_input_tokens");
    st->usage.cache_read_tokens = num(usage_obj, "cache_read_input_tokens");
    st->usage.prompt_tokens = num(usage_obj, "input_tokens") + st->usage.cache_creation_tokens + st->usage.cache_read_tokens;
  }
  long long out = num(usage_obj, "output_tokens");
  if (out) st->usage.completion_tokens = out;
  st->usage.total_tokens = st->usage.prompt_tokens + st->usage.completion_tokens;
  pier_chat_call_note_usage(st->call, &st->usage);
}

static void note_text(nstate *st, pier_slice tok) {
  if (!tok.len || tok.ptr[0] != '"') return;
  pier_buf_reset(&st->scratch);
  if (pier_jscan_unescape(tok, &st->scratch) == 0) pier_chat_call_note_text(st->call, pier_buf_slice(&st->scratch));
}

static void note_stop(nstate *st, pier_slice reason) {
  char r[32];
  if (reason.len < 3 || reason.len > sizeof r || reason.ptr[0] != '"') return;
  snprintf(r, sizeof r, "%.*s", (int)reason.len - 2, reason.ptr + 1);
  pier_chat_call_note_finish(st->call, pier_anthropic_finish_reason(r));
}

/* One Anthropic stream event (JSON): note, then relay as an SSE frame. */
static int on_event_json(nstate *st, pier_slice data) {
  pier_slice type, v;
  if (pier_jscan_find(data, "type", &type) != 0) return PIER_EPROTO;
  if (pier_jscan_is(type, "message_start") && pier_jscan_find(data, "message.usage", &v) == 0) note_usage(st, v, true);
  else if (pier_jscan_is(type, "content_block_delta") && pier_jscan_find(data, "delta.text", &v) == 0) note_text(st, v);
  else if (pier_jscan_is(type, "message_delta")) {
    if (pier_jscan_find(data, "usage", &v) == 0) note_usage(st, v, false);
    if (pier_jscan_find(data, "delta.stop_reason", &v) == 0) note_stop(st, v);
  } else if (pier_jscan_is(type, "message_stop")) st->saw_stop = true;
  pier_buf_reset(&st->frame);
  int rc = pier_buf_append_cstr(&st->frame, "event: ");
  if (!rc) rc = pier_buf_append(&st->frame, type.ptr + 1, type.len - 2);
  if (!rc) rc = pier_buf_append_cstr(&st->frame, "\ndata: ");
  if (!rc) rc = pier_buf_append_slice(&st->frame, data);
  if (!rc) rc = pier_buf_append_cstr(&st->frame, "\n\n");
  if (!rc) rc = pier_chat_call_raw(st->call, pier_buf_slice(&st->frame));
  return rc;
}

static int on_sse(void *arg, pier_slice event, pier_slice data) {
  (void)event;
  return on_event_json(arg, data);
}

static int n_feed(pier_chat_call *c, void *stp, const char *data, size_t len) {
  (void)c;
  nstate *st = stp;
  return pier_sse_feed(&st->sse, data, len, on_sse, st);
}

/* Bedrock: each `chunk` frame carries {"bytes": base64(<one Anthropic event>)}. */
static int on_es(void *arg, const pier_es_message *m) {
  nstate *st = arg;
  pier_slice mt = pier_es_header_str(m, ":message-type");
  if (!pier_slice_eq_cstr(mt, "event")) { /* an exception frame: relay it as Anthropic's error event */
    pier_slice name = pier_es_header_str(m, pier_slice_eq_cstr(mt, "error") ? ":error-code" : ":exception-type");
    pier_buf_reset(&st->scratch);
    int rc = pier_buf_appendf(&st->scratch, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                              pier_slice_istarts_with(name, "throttling") ? "rate_limit_error" : "api_error");
    pier_slice msg;
    if (!rc && pier_jscan_find(m->payload, "message", &msg) == 0) rc = pier_buf_append_slice(&st->scratch, msg);
    else if (!rc) rc = pier_buf_append_json_str(&st->scratch, name);
    if (!rc) rc = pier_buf_append_cstr(&st->scratch, "}}");
    pier_buf copy = st->scratch;
    pier_buf_init(&st->scratch, PIER_CHAT_OUTPUT_BYTES_MAX);
    if (!rc) rc = on_event_json(st, pier_buf_slice(&copy));
    pier_buf_dispose(&copy);
    return rc ? rc : PIER_EUPSTREAM;
  }
  pier_slice b64;
  if (pier_jscan_find(m->payload, "bytes", &b64) != 0 || b64.len < 2) return PIER_EPROTO;
  size_t cap = b64.len, n = 0;
  unsigned char *raw = malloc(cap);
  if (!raw) return PIER_ENOMEM;
  int rc = sodium_base642bin(raw, cap, b64.ptr + 1, b64.len - 2, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL)
               ? PIER_EPROTO
               : on_event_json(st, pier_slice_make((const char *)raw, n));
  free(raw);
  return rc;
}

static int b_feed(pier_chat_call *c, void *stp, const char *data, size_t len) {
  (void)c;
  nstate *st = stp;
  return pier_es_decoder_feed(&st->es, data, len, on_es, st);
}

static int n_end(pier_chat_call *c, void *stp) {
  (void)c;
  return ((nstate *)stp)->saw_stop ? 0 : PIER_EPROTO;
}

/* A whole Messages response: note usage and text, relay with the client's model. */
static int n_parse(pier_chat_call *c, void *stp, pier_slice body, pier_llm_error *err) {
  (void)err;
  nstate *st = stp;
  pier_slice v;
  if (pier_jscan_find(body, "usage", &v) == 0) note_usage(st, v, true);
  if (pier_jscan_find(body, "content.0.text", &v) == 0) note_text(st, v);
  if (pier_jscan_find(body, "stop_reason", &v) == 0) note_stop(st, v);
  pier_buf out;
  pier_buf_init(&out, 0);
  const char *model = pier_chat_call_relay_model(c);
  int rc;
  if (model && pier_jscan_find(body, "model", &v) == 0) {
    rc = pier_buf_append(&out, body.ptr, (size_t)(v.ptr - body.ptr));
    if (!rc) rc = pier_buf_append_json_str(&out, pier_slice_from(model));
    if (!rc) rc = pier_buf_append(&out, v.ptr + v.len, body.len - (size_t)(v.ptr + v.len - body.ptr));
  } else {
    rc = pier_buf_append_slice(&out, body);
  }
  if (!rc) rc = pier_chat_call_raw(c, pier_buf_slice(&out));
  pier_buf_dispose(&out);
  return rc;
}

static void n_error(pier_chat_call *c, void *stp, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)c, (void)stp;
  pier_anthropic_error ae;
  pier_anthropic_error_map(pier_upstream_status(ur), body, &ae);
  pier_llm_error_set(out, ae.status, ae.type, ae.code[0] ? ae.code : NULL, ae.retryable, "%s", ae.message);
}

static void b_error(pier_chat_call *c, void *stp, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)stp;
  pier_bedrock_llm_error(ur, body, pier_chat_call_attempt(c) - 1, out);
}

static void n_dispose(void *stp) {
  nstate *st = stp;
  pier_buf_dispose(&st->body);
  pier_buf_dispose(&st->scratch);
  pier_buf_dispose(&st->frame);
  if (st->sse_init) pier_sse_dispose(&st->sse);
  if (st->es_init) pier_es_decoder_dispose(&st->es);
}

const pier_provider_ops pier_provider_anthropic_native = {
    .name = "anthropic", .state_size = sizeof(nstate), .init = n_init, .begin = n_begin, .feed = n_feed,
    .end = n_end, .parse = n_parse, .error = n_error, .dispose = n_dispose,
};

const pier_provider_ops pier_provider_bedrock_invoke = {
    .name = "bedrock", .state_size = sizeof(nstate), .init = b_init, .begin = b_begin, .feed = b_feed,
    .end = n_end, .parse = n_parse, .error = b_error, .dispose = n_dispose,
};
