/* h_chat.c — POST /v1/chat/completions (and /chat/completions): the OpenAI
 * Chat Completions API in front of every provider. Streams are written as
 * chat.completion.chunk SSE frames the moment each upstream event arrives; the
 * HTTP status is committed only at the first event, so a failure before any
 * output still gets its real status and an OpenAI-shaped error body.
 * Invariant: the context lives in the request arena, so every terminal path
 * releases the context first and answers last (answering frees the arena). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/chat_int.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "llm/openai_sse.h"

#define SSE_HEADERS "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"

/* Release everything the context holds; the request itself is untouched. */
static void chat_cleanup(pier_chat_ctx *x) {
  if (x->ended) return;
  x->ended = true;
  pier_api_timer_close(&x->ka);
  pier_openai_sse_dispose(&x->sse);
  pier_openai_agg_dispose(&x->agg);
  pier_anthropic_sse_dispose(&x->asse);
  pier_anthropic_agg_dispose(&x->aagg);
  pier_buf_dispose(&x->out);
  pier_route_dispose(&x->route);
  cJSON_Delete(x->env);
  x->env = NULL;
}

/* ---- terminal answers (each ends the request; x is gone afterwards) ---------- */

static void reply_buf(pier_chat_ctx *x, int status, const char *extra, pier_buf *body) {
  pier_http_req *req = x->req;
  chat_cleanup(x);
  pier_http_respond_buf(req, status, "application/json", extra, body);
}

/* The error body in the client's dialect. */
static int error_body(pier_chat_ctx *x, pier_buf *b, const pier_llm_error *e) {
  if (x->anthropic) return pier_anthropic_error_body(b, e->status, pier_slice_from(e->message));
  return pier_openai_error_body(b, e->status, e->type[0] ? e->type : NULL, e->code[0] ? e->code : NULL,
                                pier_slice_from(e->message));
}

static void reply_error(pier_chat_ctx *x, const pier_llm_error *e) {
  pier_buf b;
  pier_buf_init(&b, 0);
  char extra[64] = "";
  if (e->status == 429 && e->retry_after_ms)
    snprintf(extra, sizeof extra, "Retry-After: %llu\r\n", (unsigned long long)((e->retry_after_ms + 999) / 1000));
  if (error_body(x, &b, e) != 0) {
    pier_buf_dispose(&b);
    pier_llm_error oom;
    pier_llm_error_set(&oom, 500, NULL, NULL, false, "out of memory");
    reply_error(x, &oom);
    return;
  }
  reply_buf(x, e->status, extra[0] ? extra : NULL, &b);
  pier_buf_dispose(&b);
}

static void reply_fail(pier_chat_ctx *x, int status, const char *code, const char *msg) {
  pier_llm_error e;
  pier_llm_error_set(&e, status, NULL, code, false, "%s", msg);
  reply_error(x, &e);
}

/* The stream's last bytes are already queued: close it. */
static void stream_close(pier_chat_ctx *x) {
  pier_http_req *req = x->req;
  chat_cleanup(x);
  pier_http_stream_end(req);
}

/* The client is gone: release and end (nothing is sent). */
static void abandon(pier_chat_ctx *x) {
  pier_http_req *req = x->req;
  bool started = x->started;
  chat_cleanup(x);
  if (started) pier_http_stream_end(req);
  else pier_http_respond_empty(req, 499);
}

/* ---- streaming output ------------------------------------------------------------- */

static void on_keepalive(uv_timer_t *t) {
  pier_chat_ctx *x = t->data;
  if (uv_now(t->loop) - x->last_write_ms < x->ka_ms || x->req->aborted) return;
  static const char ping[] = ": keep-alive\n\n";
  if (pier_http_stream_write(x->req, ping, sizeof ping - 1) == 0) x->last_write_ms = uv_now(t->loop);
}

static int flush(pier_chat_ctx *x) {
  if (x->out.len == 0) return 0;
  pier_http_req *req = x->req;
  int rc = 0;
  if (!x->started) {
    x->started = true;
    rc = pier_http_stream_begin(req, 200, "text/event-stream; charset=utf-8", SSE_HEADERS);
    if (!rc && x->ka_ms) x->ka = pier_api_timer_start(req, on_keepalive, x, x->ka_ms, x->ka_ms);
  }
  if (!rc) rc = pier_http_stream_write(req, x->out.ptr, x->out.len);
  x->last_write_ms = uv_now(pier_http_loop_uv(req->loop));
  pier_buf_reset(&x->out);
  return rc;
}

/* Write what a callback produced; if the client vanished meanwhile (the write
 * failed and on_abort ran inside it), end here. */
static int after_write(pier_chat_ctx *x, int rc) {
  x->in_cb = false;
  if (x->aborted) {
    abandon(x);
    return PIER_ECANCELLED;
  }
  return rc;
}

static int on_event(void *arg, const pier_chat_event *ev) {
  pier_chat_ctx *x = arg;
  if (!x->stream) return x->anthropic ? pier_anthropic_agg_on_event(&x->aagg, ev) : pier_openai_agg_on_event(&x->agg, ev);
  /* formatted into x->out; written by on_flush once per upstream chunk, or
   * by finish_stream */
  return x->anthropic ? pier_anthropic_sse_on_event(&x->asse, ev) : pier_openai_sse_on_event(&x->sse, ev);
}

static int on_flush(void *arg) {
  pier_chat_ctx *x = arg;
  if (!x->stream || !x->out.len) return 0;
  x->in_cb = true;
  return after_write(x, flush(x));
}

static int on_raw(void *arg, pier_slice bytes) {
  pier_chat_ctx *x = arg;
  if (pier_buf_append_slice(&x->out, bytes) != 0) return PIER_ENOMEM;
  if (!x->stream) return 0; /* the whole body: answered at on_done */
  x->in_cb = true;
  return after_write(x, flush(x));
}

/* ---- the end of a call --------------------------------------------------------------- */

static bool try_fallback(pier_chat_ctx *x, const pier_chat_result *res);

static void finish_stream(pier_chat_ctx *x, const pier_chat_result *res) {
  int rc;
  if (!res->ok) { /* the stream already began: the error travels in it */
    pier_buf body;
    pier_buf_init(&body, 0);
    rc = error_body(x, &body, &res->error);
    if (!rc) rc = pier_buf_append_cstr(&x->out, x->anthropic ? "event: error\ndata: " : "data: ");
    if (!rc) rc = pier_buf_append_slice(&x->out, pier_buf_slice(&body));
    if (!rc) rc = pier_buf_append_cstr(&x->out, x->anthropic ? "\n\n" : "\n\ndata: [DONE]\n\n");
    pier_buf_dispose(&body);
  } else if (x->raw) {
    rc = x->anthropic ? 0 : pier_buf_append_cstr(&x->out, "data: [DONE]\n\n");
  } else {
    rc = x->anthropic ? pier_anthropic_sse_done(&x->asse) : pier_openai_sse_done(&x->sse);
  }
  x->in_cb = true;
  if (!rc) rc = flush(x);
  if (after_write(x, rc) == PIER_ECANCELLED) return;
  stream_close(x);
}

void pier_chat_finish(pier_chat_ctx *x, const pier_chat_result *res) {
  x->call = NULL;
  if (!res->ok && try_fallback(x, res)) return;
  if (x->on_finish) x->on_finish(x, res);
  if (x->aborted) {
    abandon(x);
    return;
  }
  /* events already formatted for the client commit the stream even when the
   * upstream broke in the same chunk, before they were written: the answer
   * then does not depend on how the upstream's bytes were split */
  if (x->stream && (x->started || x->out.len || res->ok)) {
    finish_stream(x, res);
    return;
  }
  if (!res->ok) {
    reply_error(x, &res->error);
    return;
  }
  if (x->raw) {
    pier_buf body = x->out;
    pier_buf_init(&x->out, 0);
    reply_buf(x, 200, NULL, &body);
    pier_buf_dispose(&body);
    return;
  }
  pier_buf body;
  pier_buf_init(&body, 0);
  int rc = x->anthropic ? pier_anthropic_agg_finish(&x->aagg, &body) : pier_openai_agg_finish(&x->agg, &body);
  if (rc == 0) reply_buf(x, 200, NULL, &body);
  else reply_fail(x, 500, NULL, "could not encode the answer");
  pier_buf_dispose(&body);
}

static void on_done(void *arg, const pier_chat_result *res) { pier_chat_finish(arg, res); }

static void on_abort(pier_http_req *req, void *arg) {
  pier_chat_ctx *x = arg;
  x->aborted = true;
  if (x->call) {
    pier_chat_call_cancel(x->call);
    x->call = NULL;
    PIER_LOG(PIER_LOG_INFO, "chat", "req=%llu client went away; upstream call cancelled", (unsigned long long)req->id);
  }
  if (!x->in_cb && x->begun && !x->waiting_env && !x->ended) abandon(x);
}

/* ---- starting -------------------------------------------------------------------------- */

/* mock_response (LiteLLM's testing feature): the answer without any network. */
static void mock_reply(pier_chat_ctx *x, const char *text) {
  size_t len = strlen(text), step = len / 3 + 1;
  pier_chat_result res = {.ok = true, .finish_reason = "stop", .output = pier_slice_make(text, len)};
  res.usage.completion_tokens = res.usage.total_tokens = (int64_t)(len + 3) / 4;
  pier_chat_event evs[8];
  int n = 0;
  evs[n++] = (pier_chat_event){.kind = PIER_CHAT_EV_START};
  for (size_t off = 0; off < len && n < 6; off += step)
    evs[n++] = (pier_chat_event){.kind = PIER_CHAT_EV_TEXT,
                                 .text = pier_slice_make(text + off, len - off < step ? len - off : step)};
  evs[n++] = (pier_chat_event){.kind = PIER_CHAT_EV_FINISH, .finish_reason = "stop"};
  evs[n++] = (pier_chat_event){.kind = PIER_CHAT_EV_USAGE, .usage = res.usage};
  for (int i = 0; i < n; i++) {
    int rc = on_event(x, &evs[i]); /* formats into x->out; nothing is written yet */
    if (rc) {
      res.ok = false;
      pier_llm_error_set(&res.error, 500, "api_error", NULL, false, "could not encode the mock answer");
      break;
    }
  }
  pier_chat_finish(x, &res);
}

/* Resolve `model` and start a call for it. false = x has been answered. */
static bool start_model(pier_chat_ctx *x, const char *model) {
  pier_http_req *req = x->req;
  pier_env_view view = {.collection = x->env, .server = APP(req)->server_env};
  char err[1200];
  pier_route_dispose(&x->route);
  int rc = pier_route_resolve(model, x->model_provider, &view, &x->route, err, sizeof err);
  if (rc) {
    reply_fail(x, 400, rc == PIER_EAUTH ? "missing_credentials" : "invalid_model", err);
    return false;
  }
  x->answering_model = model;
  /* relay the provider's own bytes when it speaks the client's dialect */
  bool claude_on_bedrock = x->route.kind == PIER_PROV_BEDROCK && strstr(x->route.model_id, "anthropic.");
  x->raw = x->anthropic ? (x->route.kind == PIER_PROV_ANTHROPIC || claude_on_bedrock) : x->route.kind == PIER_PROV_OPENAI;
  pier_chat_call_opts o = {.up = pier_api_loop(req)->up, .loop = pier_http_loop_uv(req->loop), .route = &x->route,
                           .request = x->body, .stream = x->stream, .limits = x->limits, .on_event = on_event,
                           .on_flush = on_flush, .arg = x, .on_done = on_done};
  if (x->raw) {
    o.on_raw = on_raw;
    o.raw_request = pier_buf_slice(&req->body);
    o.relay_model = model;
    o.anthropic_api = x->anthropic;
    pier_slice ver = pier_http_header_get(req, "anthropic-version"), beta = pier_http_header_get(req, "anthropic-beta");
    o.anthropic_version = ver.len ? pier_arena_strdup(&req->arena, ver) : NULL;
    o.anthropic_beta = beta.len ? pier_arena_strdup(&req->arena, beta) : NULL;
  }
  pier_llm_error e;
  if (pier_chat_call_start(&o, &x->call, &e) != 0) {
    reply_error(x, &e);
    return false;
  }
  return true;
}

/* LiteLLM's fallbacks: on a retryable failure (after retries) or a context
 * window error, with nothing sent yet, try the next model in the list. */
static bool try_fallback(pier_chat_ctx *x, const pier_chat_result *res) {
  if (res->delivered || x->aborted || !x->next_fallback) return false;
  if (!res->error.retryable && strcmp(res->error.code, "context_length_exceeded") != 0) return false;
  const cJSON *next = x->next_fallback;
  x->next_fallback = next->next;
  PIER_LOG(PIER_LOG_INFO, "chat", "req=%llu %s failed (%s); falling back to %s", (unsigned long long)x->req->id,
           x->answering_model, res->error.code[0] ? res->error.code : res->error.type, next->valuestring);
  if (pier_chat_ctx_reset_writers(x, next->valuestring) != 0) reply_fail(x, 500, NULL, "out of memory");
  else start_model(x, next->valuestring);
  return true;
}

static void on_env(pier_http_req *req, cJSON *env, int rc, void *arg) {
  pier_chat_ctx *x = arg;
  x->waiting_env = false;
  if (req->aborted) {
    cJSON_Delete(env);
    abandon(x);
    return;
  }
  if (rc) {
    char msg[160];
    snprintf(msg, sizeof msg, "could not read the collection's environment (%s)", pier_strerror(rc));
    reply_fail(x, 500, NULL, msg);
    return;
  }
  x->env = env;
  start_model(x, x->model);
}

void pier_chat_begin(pier_chat_ctx *x) {
  pier_http_req *req = x->req;
  req->on_abort = on_abort;
  req->abort_arg = x;
  const char *mock = pier_json_str(x->body, "mock_response");
  if (mock) {
    mock_reply(x, mock);
    return;
  }
  x->waiting_env = true;
  pier_api_env_load(req, x->col.id, on_env, x);
}

void pier_h_chat_completions(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body || pier_runbook_chat(req, body)) return;
  pier_chat_ctx *x = pier_chat_ctx_new(req, body, false);
  if (x) pier_chat_begin(x);
}
