/* call.c — attempts, retries and event delivery for one model call. The
 * retry decision is made only while nothing has been delivered: once the
 * consumer has seen an event, the first error is final. */
#include "llm/call.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "llm/converse.h"
#include "llm/openai_sse.h"
#include "llm/provider.h"

#define ERRBODY_MAX (64 * 1024)
#define IMAGES_MAX 32

struct pier_chat_call {
  pier_chat_call_opts o;
  pier_route route;
  const pier_provider_ops *prov;
  void *st;
  pier_upstream_req *ur;
  uv_timer_t timer;
  int attempt;
  bool delivered, cancelled, done, error_mode, saw_error;
  bool starting, start_failed, skip_init;
  int feed_rc; /* the provider's decoder failed on the body */ /* failures inside start are returned, not reported */
  int status;
  pier_buf errbody;
  pier_llm_error err;   /* error of the current attempt */
  pier_usage usage;
  pier_buf output;
  const char *finish_reason;
  uint64_t start_ms;
  int64_t ttft_ms;
  /* remote image inlining */
  cJSON *images[IMAGES_MAX];
  size_t nimages, image_next;
};

void pier_llm_limits_default(pier_llm_limits *l) {
  l->connect_timeout_ms = 10000;
  l->ttfb_timeout_ms = 300000;
  l->idle_timeout_ms = 120000;
  l->total_timeout_ms = 900000;
  l->retries = 3;
  l->retry_base_ms = 500;
  l->retry_max_ms = 30000;
  l->response_bytes_max = 32u * 1024 * 1024;
  l->image_bytes_max = PIER_CONVERSE_IMAGE_BYTES_MAX;
}

void pier_llm_error_set(pier_llm_error *e, int status, const char *type, const char *code, bool retryable,
                        const char *fmt, ...) {
  memset(e, 0, sizeof *e);
  e->status = status;
  snprintf(e->type, sizeof e->type, "%s", type ? type : pier_openai_error_type(status));
  snprintf(e->code, sizeof e->code, "%s", code ? code : "");
  e->retryable = retryable;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
}

const pier_route *pier_chat_call_route(const pier_chat_call *c) { return &c->route; }
cJSON *pier_chat_call_request(const pier_chat_call *c) { return c->o.request; }
bool pier_chat_call_streaming(const pier_chat_call *c) { return c->o.stream; }
int pier_chat_call_attempt(const pier_chat_call *c) { return c->attempt; }
pier_upstream *pier_chat_call_upstream(const pier_chat_call *c) { return c->o.up; }
const pier_llm_limits *pier_chat_call_limits(const pier_chat_call *c) { return &c->o.limits; }

const char *pier_chat_call_anthropic_version(const pier_chat_call *c) { return c->o.anthropic_version; }
const char *pier_chat_call_anthropic_beta(const pier_chat_call *c) { return c->o.anthropic_beta; }

static const pier_provider_ops *provider_for(const pier_chat_call_opts *o) {
  pier_provider_kind k = o->route->kind;
  if (o->anthropic_api) {
    if (k == PIER_PROV_ANTHROPIC) return &pier_provider_anthropic_native;
    if (k == PIER_PROV_BEDROCK) return &pier_provider_bedrock_invoke;
    return NULL;
  }
  switch (k) {
  case PIER_PROV_BEDROCK: return &pier_provider_bedrock;
  case PIER_PROV_OPENAI: return &pier_provider_openai;
  case PIER_PROV_GEMINI: return &pier_provider_gemini;
  case PIER_PROV_ANTHROPIC: return &pier_provider_anthropic;
  default: return NULL;
  }
}

/* ---- lifecycle ------------------------------------------------------------- */

static void call_free(uv_handle_t *h) {
  pier_chat_call *c = h->data;
  if (c->prov && c->prov->dispose) c->prov->dispose(c->st);
  free(c->st);
  pier_buf_dispose(&c->errbody);
  pier_buf_dispose(&c->output);
  pier_route_dispose(&c->route);
  free(c);
}

static void call_release(pier_chat_call *c) {
  if (c->ur) {
    pier_upstream_cancel(c->ur);
    c->ur = NULL;
  }
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, call_free);
}

static void finish(pier_chat_call *c, bool ok) {
  if (c->done) return;
  if (c->starting) { /* pier_chat_call_start returns the error itself */
    c->start_failed = true;
    return;
  }
  c->done = true;
  pier_chat_result res = {.ok = ok, .usage = c->usage, .attempts = c->attempt, .delivered = c->delivered,
                          .latency_ms = (int64_t)(uv_now(c->o.loop) - c->start_ms), .ttft_ms = c->ttft_ms,
                          .finish_reason = c->finish_reason, .output = pier_buf_slice(&c->output)};
  if (!ok) res.error = c->err;
  if (!c->cancelled && c->o.on_done) c->o.on_done(c->o.arg, &res);
  call_release(c);
}

void pier_chat_call_cancel(pier_chat_call *c) {
  if (!c || c->cancelled) return;
  c->cancelled = true;
  if (!c->done) {
    c->done = true;
    call_release(c);
  }
}

/* ---- events ------------------------------------------------------------------ */

int pier_chat_call_emit(void *arg, const pier_chat_event *ev) {
  pier_chat_call *c = arg;
  if (c->cancelled) return PIER_ECANCELLED;
  if (ev->kind == PIER_CHAT_EV_ERROR) {
    int st = ev->http_status ? ev->http_status : 502;
    bool retry = st == 429 || st == 424 || st >= 500;
    pier_llm_error_set(&c->err, st, NULL, ev->error_type, retry, "%.*s", (int)ev->text.len, ev->text.ptr);
    c->saw_error = true;
    return PIER_EUPSTREAM;
  }
  if (ev->kind == PIER_CHAT_EV_USAGE) c->usage = ev->usage;
  else if (ev->kind == PIER_CHAT_EV_TEXT) pier_chat_call_note_text(c, ev->text);
  else if (ev->kind == PIER_CHAT_EV_FINISH) c->finish_reason = ev->finish_reason;
  if (!c->delivered) {
    c->delivered = true;
    c->ttft_ms = (int64_t)(uv_now(c->o.loop) - c->start_ms);
  }
  return c->o.on_event ? c->o.on_event(c->o.arg, ev) : 0;
}

bool pier_chat_call_wants_raw(const pier_chat_call *c) { return c->o.on_raw != NULL; }
pier_slice pier_chat_call_raw_request(const pier_chat_call *c) { return c->o.raw_request; }
const char *pier_chat_call_relay_model(const pier_chat_call *c) { return c->o.relay_model; }
void pier_chat_call_note_usage(pier_chat_call *c, const pier_usage *u) { c->usage = *u; }
void pier_chat_call_note_finish(pier_chat_call *c, const char *r) { c->finish_reason = r; }

void pier_chat_call_note_text(pier_chat_call *c, pier_slice text) {
  size_t room = PIER_CHAT_OUTPUT_BYTES_MAX - c->output.len;
  if (room && pier_buf_append(&c->output, text.ptr, text.len < room ? text.len : room) != 0) return;
}

int pier_chat_call_raw(pier_chat_call *c, pier_slice bytes) {
  if (c->cancelled) return PIER_ECANCELLED;
  if (!c->delivered) {
    c->delivered = true;
    c->ttft_ms = (int64_t)(uv_now(c->o.loop) - c->start_ms);
  }
  return c->o.on_raw(c->o.arg, bytes);
}

/* ---- attempts ------------------------------------------------------------------ */

static void attempt(pier_chat_call *c);

static void on_retry_timer(uv_timer_t *t) { attempt(t->data); }

static uint64_t backoff_ms(pier_chat_call *c) {
  const pier_llm_limits *l = &c->o.limits;
  uint64_t cap = l->retry_base_ms << (c->attempt - 1 < 16 ? c->attempt - 1 : 16);
  if (cap > l->retry_max_ms) cap = l->retry_max_ms;
  uint64_t wait = cap / 2 + (cap > 1 ? randombytes_uniform((uint32_t)(cap / 2 + 1)) : 0); /* half jitter */
  if (c->err.retry_after_ms > wait) wait = c->err.retry_after_ms;
  return wait > l->retry_max_ms ? l->retry_max_ms : wait;
}

/* The current attempt failed with c->err. Retry or give up. */
static void attempt_failed(pier_chat_call *c) {
  c->ur = NULL;
  if (c->cancelled) return;
  if (c->err.retryable && !c->delivered && c->attempt <= c->o.limits.retries) {
    uint64_t wait = backoff_ms(c);
    PIER_LOG(PIER_LOG_INFO, "llm", "%s %s: attempt %d failed (%s), retrying in %llu ms", c->route.provider,
             c->route.model_id, c->attempt, c->err.code[0] ? c->err.code : c->err.type, (unsigned long long)wait);
    uv_timer_start(&c->timer, on_retry_timer, wait, 0);
    return;
  }
  finish(c, false);
}

static void transport_error(pier_chat_call *c, const pier_upstream_result *res) {
  const char *who = c->route.provider;
  const pier_llm_limits *l = &c->o.limits;
  switch (res->fail) {
  case PIER_UP_CONNECT:
    pier_llm_error_set(&c->err, 502, "api_error", "upstream_connect_error", true,
                       "could not connect to %s at %s: %s", who, c->route.base_url, res->detail ? res->detail : "");
    break;
  case PIER_UP_CONNECT_TIMEOUT:
    pier_llm_error_set(&c->err, 504, "timeout_error", "upstream_connect_timeout", true,
                       "could not connect to %s at %s within %llu ms", who, c->route.base_url,
                       (unsigned long long)l->connect_timeout_ms);
    break;
  case PIER_UP_TTFB_TIMEOUT:
    pier_llm_error_set(&c->err, 504, "timeout_error", "upstream_ttfb_timeout", false,
                       "%s sent no response within %llu ms (time to first byte); raise --upstream-ttfb-timeout-ms "
                       "if the model needs longer", who, (unsigned long long)l->ttfb_timeout_ms);
    break;
  case PIER_UP_IDLE_TIMEOUT:
    pier_llm_error_set(&c->err, 504, "timeout_error", "upstream_idle_timeout", false,
                       "%s stopped sending for %llu ms in the middle of the answer", who,
                       (unsigned long long)l->idle_timeout_ms);
    break;
  case PIER_UP_TOTAL_TIMEOUT:
    pier_llm_error_set(&c->err, 504, "timeout_error", "upstream_timeout", false,
                       "%s did not finish within %llu ms", who, (unsigned long long)l->total_timeout_ms);
    break;
  case PIER_UP_RESET:
    pier_llm_error_set(&c->err, 502, "api_error", "upstream_connection_reset", true,
                       "the connection to %s was dropped before the answer was complete", who);
    break;
  case PIER_UP_TOO_BIG:
    pier_llm_error_set(&c->err, 502, "api_error", "upstream_response_too_large", false,
                       "%s sent a response larger than %zu bytes", who, l->response_bytes_max);
    break;
  default:
    pier_llm_error_set(&c->err, 502, "api_error", "upstream_error", false, "the call to %s failed: %s", who,
                       res->detail ? res->detail : "unknown error");
  }
}

static int on_up_headers(pier_upstream_req *r, void *arg) {
  pier_chat_call *c = arg;
  c->status = pier_upstream_status(r);
  c->error_mode = c->status < 200 || c->status >= 300;
  return 0;
}

static int on_up_data(pier_upstream_req *r, void *arg, const char *data, size_t len) {
  (void)r;
  pier_chat_call *c = arg;
  if (c->error_mode) {
    if (c->errbody.len + len <= ERRBODY_MAX && pier_buf_append(&c->errbody, data, len) != 0) return 0;
    return 0;
  }
  int rc = c->prov->feed(c, c->st, data, len);
  if (!rc && c->delivered && !c->cancelled && c->o.on_flush) rc = c->o.on_flush(c->o.arg);
  if (rc && rc != PIER_ECANCELLED && !c->saw_error) c->feed_rc = rc;
  return rc;
}

static void on_up_done(pier_upstream_req *r, void *arg, const pier_upstream_result *res) {
  pier_chat_call *c = arg;
  c->ur = NULL;
  bool streaming = c->o.stream;
  if (c->saw_error) { /* an in-stream error event; c->err is set */
    attempt_failed(c);
    return;
  }
  if (c->feed_rc) { /* the answer could not be decoded */
    pier_llm_error_set(&c->err, 502, "api_error", "upstream_protocol_error", !c->delivered,
                       "%s sent a stream pier could not decode (%s)", c->route.provider, pier_strerror(c->feed_rc));
    attempt_failed(c);
    return;
  }
  if (res->fail != PIER_UP_OK && !(res->fail == PIER_UP_ABORTED && c->error_mode)) {
    transport_error(c, res);
    attempt_failed(c);
    return;
  }
  int status = res->status;
  if (status < 200 || status >= 300) {
    pier_slice body = streaming ? pier_buf_slice(&c->errbody) : res->body;
    c->prov->error(c, c->st, r, body, &c->err);
    attempt_failed(c);
    return;
  }
  int rc = streaming ? c->prov->end(c, c->st) : c->prov->parse(c, c->st, res->body, &c->err);
  if (c->saw_error) {
    attempt_failed(c);
    return;
  }
  if (rc) {
    if (streaming || !c->err.status)
      pier_llm_error_set(&c->err, 502, "api_error", "upstream_protocol_error", !c->delivered,
                         "%s ended the answer early or sent something pier could not decode (%s)", c->route.provider,
                         pier_strerror(rc));
    attempt_failed(c);
    return;
  }
  finish(c, true);
}

void pier_chat_call_upstream_opts(pier_chat_call *c, pier_upstream_opts *uo) {
  const pier_llm_limits *l = &c->o.limits;
  *uo = (pier_upstream_opts){
      .method = "POST",
      .connect_timeout_ms = l->connect_timeout_ms,
      .ttfb_timeout_ms = l->ttfb_timeout_ms,
      .idle_timeout_ms = c->o.stream ? l->idle_timeout_ms : 0,
      .total_timeout_ms = l->total_timeout_ms,
      .response_bytes_max = l->response_bytes_max,
      .stream = c->o.stream,
      .arg = c,
      .on_headers = on_up_headers,
      .on_data = on_up_data,
      .on_done = on_up_done,
  };
}

int pier_chat_call_post_json(pier_chat_call *c, const char *url, const pier_header_kv *headers, size_t n,
                             pier_slice body, pier_upstream_req **out) {
  pier_upstream_opts uo;
  pier_chat_call_upstream_opts(c, &uo);
  uo.url = url;
  pier_upstream_req *ur;
  int rc = pier_upstream_req_new(c->o.up, &uo, &ur);
  if (rc) return rc;
  pier_buf line;
  pier_buf_init(&line, 16384);
  rc = pier_upstream_req_header(ur, "Content-Type: application/json");
  for (size_t i = 0; !rc && i < n; i++) {
    if (!headers[i].value) continue;
    pier_buf_reset(&line);
    rc = pier_buf_appendf(&line, "%s: %s", headers[i].name, headers[i].value);
    if (!rc) rc = pier_upstream_req_header(ur, line.ptr);
    sodium_memzero(line.ptr, line.len);
  }
  pier_buf_dispose(&line);
  if (!rc) {
    pier_buf b;
    pier_buf_init(&b, 0);
    rc = pier_buf_append_slice(&b, body);
    if (!rc) pier_upstream_req_body(ur, &b);
    pier_buf_dispose(&b);
  }
  if (rc) {
    pier_upstream_cancel(ur);
    return rc;
  }
  *out = ur;
  return 0;
}

static void attempt(pier_chat_call *c) {
  c->attempt++;
  c->error_mode = c->saw_error = false;
  c->feed_rc = 0;
  c->status = 0;
  pier_buf_reset(&c->errbody);
  memset(&c->err, 0, sizeof c->err);
  pier_upstream_req *ur = NULL;
  int rc = c->prov->begin(c, c->st, &ur, &c->err);
  if (!rc) rc = pier_upstream_req_start(ur);
  if (rc) {
    if (ur) pier_upstream_cancel(ur);
    if (!c->err.status)
      pier_llm_error_set(&c->err, 500, "api_error", NULL, false, "could not send the request to %s: %s",
                         c->route.provider, pier_strerror(rc));
    finish(c, false);
    return;
  }
  c->ur = ur;
}

/* ---- remote images ----------------------------------------------------------------- */

static void fetch_next_image(pier_chat_call *c);

static void on_image_done(pier_upstream_req *r, void *arg, const pier_upstream_result *res) {
  pier_chat_call *c = arg;
  c->ur = NULL;
  cJSON *node = c->images[c->image_next];
  char url[256];
  snprintf(url, sizeof url, "%.200s", cJSON_IsString(node) ? node->valuestring : "");
  int rc = PIER_EIO;
  if (res->fail == PIER_UP_OK && res->status == 200)
    rc = pier_converse_image_set_data(node, pier_upstream_header(r, "content-type"), res->body);
  if (rc) {
    bool big = res->fail == PIER_UP_TOO_BIG || rc == PIER_ETOOBIG;
    pier_llm_error_set(&c->err, big ? 413 : 400, "invalid_request_error", "image_fetch_failed", false,
                       "could not use the image at %s: %s", url,
                       big                      ? "it is larger than Bedrock's 3.75 MB limit"
                       : res->fail != PIER_UP_OK ? (res->detail ? res->detail : "fetch failed")
                       : res->status != 200     ? "the server did not answer 200"
                                                : "it is not a png, jpeg, gif or webp image");
    finish(c, false);
    return;
  }
  c->image_next++;
  fetch_next_image(c);
}

static void fetch_next_image(pier_chat_call *c) {
  if (c->image_next >= c->nimages) {
    int rc = c->prov->init(c, c->st, &c->err);
    if (rc) {
      finish(c, false);
      return;
    }
    attempt(c);
    return;
  }
  const pier_llm_limits *l = &c->o.limits;
  pier_upstream_opts uo = {.method = "GET", .url = c->images[c->image_next]->valuestring,
                           .connect_timeout_ms = l->connect_timeout_ms, .total_timeout_ms = 30000,
                           .response_bytes_max = l->image_bytes_max + 1, .arg = c, .on_done = on_image_done};
  pier_upstream_req *ur;
  if (pier_upstream_req_new(c->o.up, &uo, &ur) != 0 || pier_upstream_req_start(ur) != 0) {
    pier_llm_error_set(&c->err, 500, "api_error", NULL, false, "could not start fetching an image");
    finish(c, false);
    return;
  }
  c->ur = ur;
}

/* ---- start ----------------------------------------------------------------------------- */

int pier_chat_call_start(const pier_chat_call_opts *o, pier_chat_call **out, pier_llm_error *err) {
  const pier_provider_ops *prov = provider_for(o);
  if (!prov) {
    pier_llm_error_set(err, 400, "invalid_request_error", "unsupported_provider", false,
                       "provider %s is not supported by this server", o->route->provider);
    return PIER_EINVAL;
  }
  pier_chat_call *c = calloc(1, sizeof *c);
  if (!c || !(c->st = calloc(1, prov->state_size ? prov->state_size : 1))) {
    free(c);
    pier_llm_error_set(err, 500, "api_error", NULL, false, "out of memory");
    return PIER_ENOMEM;
  }
  c->o = *o;
  c->prov = prov;
  c->ttft_ms = -1;
  pier_buf_init(&c->errbody, ERRBODY_MAX);
  pier_buf_init(&c->output, PIER_CHAT_OUTPUT_BYTES_MAX);
  uv_timer_init(o->loop, &c->timer);
  c->timer.data = c;
  c->start_ms = uv_now(o->loop);
  int rc = pier_route_copy(&c->route, o->route);
  if (!rc) rc = prov->init(c, c->st, err);
  if (rc == PIER_EAGAIN) { /* remote images to inline first */
    c->nimages = pier_converse_remote_images(o->request, c->images, IMAGES_MAX);
    rc = 0;
    if (c->nimages > IMAGES_MAX) {
      pier_llm_error_set(err, 400, "invalid_request_error", NULL, false, "at most %d image URLs per request",
                         IMAGES_MAX);
      rc = PIER_EINVAL;
    }
  } else if (!rc) {
    c->image_next = c->nimages = 0;
    c->skip_init = true;
  }
  if (!rc) {
    c->starting = true;
    if (c->skip_init) attempt(c);
    else fetch_next_image(c);
    c->starting = false;
    if (c->start_failed) {
      *err = c->err;
      rc = err->status >= 500 ? PIER_EIO : PIER_EINVAL;
    }
  }
  if (rc) {
    if (!err->status) pier_llm_error_set(err, 500, "api_error", NULL, false, "%s", pier_strerror(rc));
    if (c->ur) pier_upstream_cancel(c->ur);
    c->ur = NULL;
    c->done = true;
    call_release(c);
    return rc;
  }
  *out = c;
  return 0;
}
