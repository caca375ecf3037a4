/* embed.c — the provider plans behind one interface (calls, body, add, finish)
 * and the loop that runs them. A slot stays "in flight" while it waits to be
 * retried, so at most PARALLEL calls are ever outstanding. */
#include "llm/embed.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jscan.h"
#include "llm/bedrock.h"
#include "llm/bedrock_embed.h"
#include "llm/bedrock_error.h"
#include "llm/gemini_map.h"
#include "llm/provider.h"

#define PARALLEL 8

typedef struct plan_ops {
  size_t (*calls)(pier_embed *e);
  int (*body)(pier_embed *e, size_t call, pier_buf *b);
  int (*start)(pier_embed *e, pier_slice body, pier_upstream_opts *uo, pier_upstream_req **out);
  int (*add)(pier_embed *e, size_t call, pier_slice body, pier_upstream_req *ur, char *err, size_t errlen);
  int (*finish)(pier_embed *e, pier_buf *out, char *err, size_t errlen);
  void (*error)(pier_embed *e, int attempt, pier_upstream_req *ur, pier_slice body, pier_llm_error *out);
} plan_ops;

typedef struct slot {
  pier_embed *e;
  size_t call;
  int attempt;
  pier_upstream_req *ur;
  uv_timer_t *timer; /* heap: closed asynchronously */
} slot;

struct pier_embed {
  pier_embed_opts o;
  pier_route route;
  char *model;
  const plan_ops *ops;
  pier_bedrock_embed *bedrock;
  pier_gemini_embed *gemini;
  pier_buf relay;       /* OpenAI-API: the request body, then the answer */
  slot *slots;
  size_t ncalls, next, inflight, done;
  bool finished, cancelled;
};

/* ---- Bedrock ------------------------------------------------------------------ */

static size_t b_calls(pier_embed *e) { return pier_bedrock_embed_calls(e->bedrock); }
static int b_body(pier_embed *e, size_t call, pier_buf *b) { return pier_bedrock_embed_body(e->bedrock, call, b); }
static int b_start(pier_embed *e, pier_slice body, pier_upstream_opts *uo, pier_upstream_req **out) {
  return pier_bedrock_request(e->o.up, uo, &e->route, "invoke", body, out);
}
static int b_add(pier_embed *e, size_t call, pier_slice body, pier_upstream_req *ur, char *err, size_t errlen) {
  return pier_bedrock_embed_add_response(e->bedrock, call, body, pier_upstream_header(ur, "x-amzn-bedrock-input-token-count"),
                                         err, errlen);
}
static int b_finish(pier_embed *e, pier_buf *out, char *err, size_t errlen) {
  return pier_bedrock_embed_finish(e->bedrock, e->model, out, err, errlen);
}
static void b_error(pier_embed *e, int attempt, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)e;
  pier_bedrock_llm_error(ur, body, attempt - 1, out);
}
static const plan_ops bedrock_ops = {b_calls, b_body, b_start, b_add, b_finish, b_error};

/* ---- Gemini -------------------------------------------------------------------- */

static size_t g_calls(pier_embed *e) { return pier_gemini_embed_calls(e->gemini); }
static int g_body(pier_embed *e, size_t call, pier_buf *b) { return pier_gemini_embed_body(e->gemini, call, b); }
static int post(pier_embed *e, const char *url, const char *hname, const char *hvalue, pier_slice body,
                pier_upstream_opts *uo, pier_upstream_req **out) {
  uo->method = "POST";
  uo->url = url;
  int rc = pier_upstream_req_new(e->o.up, uo, out);
  pier_buf line;
  pier_buf_init(&line, 16384);
  if (!rc) rc = pier_upstream_req_header(*out, "Content-Type: application/json");
  if (!rc && hvalue && (rc = pier_buf_appendf(&line, "%s: %s", hname, hvalue)) == 0)
    rc = pier_upstream_req_header(*out, line.ptr);
  if (line.ptr) sodium_memzero(line.ptr, line.len);
  pier_buf_dispose(&line);
  if (!rc) {
    pier_buf b;
    pier_buf_init(&b, 0);
    rc = pier_buf_append_slice(&b, body);
    if (!rc) pier_upstream_req_body(*out, &b);
    pier_buf_dispose(&b);
  }
  return rc;
}
static int g_start(pier_embed *e, pier_slice body, pier_upstream_opts *uo, pier_upstream_req **out) {
  pier_buf url;
  pier_buf_init(&url, 4096);
  int rc = pier_buf_appendf(&url, "%s/v1beta/", e->route.base_url);
  if (!rc) rc = pier_gemini_path(e->route.model_id, PIER_GEMINI_BATCH_EMBED, &url);
  if (!rc) rc = post(e, url.ptr, "x-goog-api-key", e->route.api_key, body, uo, out);
  pier_buf_dispose(&url);
  return rc;
}
static int g_add(pier_embed *e, size_t call, pier_slice body, pier_upstream_req *ur, char *err, size_t errlen) {
  (void)ur;
  return pier_gemini_embed_add_response(e->gemini, call, body, err, errlen);
}
static int g_finish(pier_embed *e, pier_buf *out, char *err, size_t errlen) {
  return pier_gemini_embed_finish(e->gemini, e->model, out, err, errlen);
}
static void g_error(pier_embed *e, int attempt, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)e, (void)attempt;
  pier_gemini_error ge;
  pier_gemini_error_map(pier_upstream_status(ur), body, &ge);
  pier_llm_error_set(out, ge.status, ge.type, pier_gemini_error_code(&ge), ge.retryable, "%s", ge.message);
  out->retry_after_ms = ge.retry_after_ms;
}
static const plan_ops gemini_ops = {g_calls, g_body, g_start, g_add, g_finish, g_error};

/* ---- OpenAI-API relay ------------------------------------------------------------- */

static size_t r_calls(pier_embed *e) { (void)e; return 1; }
static int r_body(pier_embed *e, size_t call, pier_buf *b) {
  (void)call;
  return pier_buf_append_slice(b, pier_buf_slice(&e->relay));
}
static int r_start(pier_embed *e, pier_slice body, pier_upstream_opts *uo, pier_upstream_req **out) {
  char url[600];
  snprintf(url, sizeof url, "%s/embeddings", e->route.base_url);
  pier_buf bearer;
  pier_buf_init(&bearer, 0);
  int rc = e->route.api_key ? pier_buf_appendf(&bearer, "Bearer %s", e->route.api_key) : 0;
  if (!rc) rc = post(e, url, "Authorization", e->route.api_key ? bearer.ptr : NULL, body, uo, out);
  if (bearer.ptr) sodium_memzero(bearer.ptr, bearer.len);
  pier_buf_dispose(&bearer);
  return rc;
}
static int r_add(pier_embed *e, size_t call, pier_slice body, pier_upstream_req *ur, char *err, size_t errlen) {
  (void)call, (void)ur, (void)err, (void)errlen;
  pier_buf_reset(&e->relay);
  pier_slice v;
  if (pier_jscan_find(body, "model", &v) != 0) return pier_buf_append_slice(&e->relay, body);
  int rc = pier_buf_append(&e->relay, body.ptr, (size_t)(v.ptr - body.ptr));
  if (!rc) rc = pier_buf_append_json_str(&e->relay, pier_slice_from(e->model));
  if (!rc) rc = pier_buf_append(&e->relay, v.ptr + v.len, body.len - (size_t)(v.ptr + v.len - body.ptr));
  return rc;
}
static int r_finish(pier_embed *e, pier_buf *out, char *err, size_t errlen) {
  (void)err, (void)errlen;
  return pier_buf_append_slice(out, pier_buf_slice(&e->relay));
}
static void r_error(pier_embed *e, int attempt, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)attempt;
  pier_openai_error_map(&e->route, pier_upstream_status(ur), body, pier_upstream_header(ur, "retry-after"), out);
}
static const plan_ops relay_ops = {r_calls, r_body, r_start, r_add, r_finish, r_error};

typedef struct relay_ctx {
  pier_buf *out;
  const char *model;
  bool first;
} relay_ctx;

static int relay_member(void *arg, pier_slice key, pier_slice value) {
  relay_ctx *r = arg;
  static const char *drop[] = {"jetty", "model_provider", "num_retries", "timeout", "fallbacks", NULL};
  for (int i = 0; drop[i]; i++)
    if (pier_jscan_is(key, drop[i])) return 0;
  int rc = pier_buf_append_cstr(r->out, r->first ? "" : ",");
  r->first = false;
  if (!rc) rc = pier_buf_append_slice(r->out, key);
  if (!rc) rc = pier_buf_putc(r->out, ':');
  if (!rc) rc = pier_jscan_is(key, "model") ? pier_buf_append_json_str(r->out, pier_slice_from(r->model))
                                            : pier_buf_append_slice(r->out, value);
  return rc;
}

/* ---- the run ----------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h) { free(h); }

static void release(pier_embed *e) {
  for (size_t i = 0; e->slots && i < e->ncalls; i++) {
    if (e->slots[i].ur) pier_upstream_cancel(e->slots[i].ur);
    if (e->slots[i].timer) {
      uv_timer_stop(e->slots[i].timer);
      uv_close((uv_handle_t *)e->slots[i].timer, free_handle);
    }
  }
  free(e->slots);
  pier_bedrock_embed_destroy(e->bedrock);
  pier_gemini_embed_destroy(e->gemini);
  pier_buf_dispose(&e->relay);
  pier_route_dispose(&e->route);
  free(e->model);
  free(e);
}

static void done(pier_embed *e, pier_embed_result *res) {
  if (e->finished) return;
  e->finished = true;
  res->calls = (int)e->ncalls;
  if (!e->cancelled && e->o.on_done) e->o.on_done(e->o.arg, res);
  release(e);
}

static void fail(pier_embed *e, const pier_llm_error *err) {
  pier_embed_result res = {.ok = false, .error = *err};
  done(e, &res);
}

static void launch(pier_embed *e);
static void start_slot(slot *s);
static void on_retry(uv_timer_t *t) { start_slot(t->data); }

static bool schedule_retry(slot *s, uint64_t at_least_ms) {
  pier_embed *e = s->e;
  if (s->attempt > e->o.limits.retries) return false;
  if (!s->timer && (s->timer = malloc(sizeof *s->timer))) {
    uv_timer_init(e->o.loop, s->timer);
    s->timer->data = s;
  }
  if (!s->timer) return false;
  uint64_t wait = e->o.limits.retry_base_ms << (s->attempt - 1 < 10 ? s->attempt - 1 : 10);
  if (wait > e->o.limits.retry_max_ms) wait = e->o.limits.retry_max_ms;
  wait = wait / 2 + randombytes_uniform((uint32_t)(wait / 2 + 1));
  if (at_least_ms > wait) wait = at_least_ms > e->o.limits.retry_max_ms ? e->o.limits.retry_max_ms : at_least_ms;
  uv_timer_start(s->timer, on_retry, wait, 0);
  return true;
}

static void on_call_done(pier_upstream_req *r, void *arg, const pier_upstream_result *res) {
  slot *s = arg;
  pier_embed *e = s->e;
  s->ur = NULL;
  pier_llm_error err;
  if (res->fail != PIER_UP_OK) {
    bool retry = res->fail == PIER_UP_CONNECT || res->fail == PIER_UP_RESET || res->fail == PIER_UP_CONNECT_TIMEOUT;
    if (retry && schedule_retry(s, 0)) return;
    bool timeout = res->fail == PIER_UP_TTFB_TIMEOUT || res->fail == PIER_UP_TOTAL_TIMEOUT || res->fail == PIER_UP_CONNECT_TIMEOUT;
    pier_llm_error_set(&err, timeout ? 504 : 502, NULL, timeout ? "upstream_timeout" : "upstream_error", false,
                       "the embeddings call to %s failed: %s", e->route.provider, res->detail ? res->detail : "no answer");
    fail(e, &err);
    return;
  }
  if (res->status < 200 || res->status >= 300) {
    e->ops->error(e, s->attempt, r, res->body, &err);
    if (err.retryable && schedule_retry(s, err.retry_after_ms)) return;
    fail(e, &err);
    return;
  }
  char msg[512];
  if (e->ops->add(e, s->call, res->body, r, msg, sizeof msg) != 0) {
    pier_llm_error_set(&err, 502, "api_error", "upstream_protocol_error", false, "%s", msg);
    fail(e, &err);
    return;
  }
  e->done++;
  e->inflight--;
  launch(e);
}

static void start_slot(slot *s) {
  pier_embed *e = s->e;
  s->attempt++;
  pier_buf body;
  pier_buf_init(&body, 0);
  int rc = e->ops->body(e, s->call, &body);
  pier_upstream_opts uo = {.connect_timeout_ms = e->o.limits.connect_timeout_ms,
                           .ttfb_timeout_ms = e->o.limits.ttfb_timeout_ms,
                           .total_timeout_ms = e->o.limits.total_timeout_ms,
                           .response_bytes_max = e->o.limits.response_bytes_max,
                           .arg = s,
                           .on_done = on_call_done};
  if (!rc) rc = e->ops->start(e, pier_buf_slice(&body), &uo, &s->ur);
  if (!rc && (rc = pier_upstream_req_start(s->ur)) != 0) {
    pier_upstream_cancel(s->ur);
    s->ur = NULL;
  }
  pier_buf_dispose(&body);
  if (rc) {
    pier_llm_error err;
    pier_llm_error_set(&err, 500, NULL, NULL, false, "could not send the embeddings request to %s", e->route.provider);
    fail(e, &err);
  }
}

static void launch(pier_embed *e) {
  while (!e->finished && e->inflight < PARALLEL && e->next < e->ncalls) {
    slot *s = &e->slots[e->next++];
    e->inflight++;
    start_slot(s);
  }
  if (e->finished || e->done < e->ncalls) return;
  pier_buf out;
  pier_buf_init(&out, 0);
  char msg[256];
  pier_embed_result res = {.ok = true};
  if (e->ops->finish(e, &out, msg, sizeof msg) == 0) {
    res.body = pier_buf_slice(&out);
    pier_slice v;
    long long n = 0;
    if (pier_jscan_find(res.body, "usage.prompt_tokens", &v) == 0 && pier_jscan_int(v, &n) == 0) res.prompt_tokens = n;
  } else {
    res.ok = false;
    pier_llm_error_set(&res.error, 502, "api_error", NULL, false, "%s", msg);
  }
  done(e, &res);
  pier_buf_dispose(&out);
}

static int plan(pier_embed *e, pier_llm_error *err) {
  char msg[512] = "";
  int rc = 0;
  switch (e->route.kind) {
  case PIER_PROV_BEDROCK:
    e->ops = &bedrock_ops;
    rc = pier_bedrock_embed_create(e->o.request, e->route.model_id, &e->bedrock, msg, sizeof msg);
    break;
  case PIER_PROV_GEMINI:
    e->ops = &gemini_ops;
    rc = pier_gemini_embed_create(e->o.request, e->route.model_id, &e->gemini, msg, sizeof msg);
    break;
  case PIER_PROV_OPENAI: {
    e->ops = &relay_ops;
    relay_ctx r = {.out = &e->relay, .model = e->route.model_id, .first = true};
    char *printed = e->o.raw_request.len ? NULL : cJSON_PrintUnformatted(e->o.request);
    pier_slice src = printed ? pier_slice_from(printed) : e->o.raw_request;
    rc = pier_buf_putc(&e->relay, '{');
    if (!rc) rc = pier_jscan_members(src, relay_member, &r);
    if (!rc) rc = pier_buf_putc(&e->relay, '}');
    cJSON_free(printed);
    if (rc) snprintf(msg, sizeof msg, "the request body is not a JSON object");
    break;
  }
  default:
    snprintf(msg, sizeof msg, "%s does not serve embeddings; use a Bedrock, Gemini or OpenAI-API embedding model",
             e->route.provider);
    rc = PIER_EINVAL;
  }
  if (rc) pier_llm_error_set(err, rc == PIER_ENOMEM ? 500 : 400, NULL, NULL, false, "%s", msg);
  return rc;
}

int pier_embed_start(const pier_embed_opts *o, pier_embed **out, pier_llm_error *err) {
  pier_embed *e = calloc(1, sizeof *e);
  if (!e) {
    pier_llm_error_set(err, 500, NULL, NULL, false, "out of memory");
    return PIER_ENOMEM;
  }
  e->o = *o;
  pier_buf_init(&e->relay, 0);
  int rc = pier_route_copy(&e->route, o->route);
  if (!rc && !(e->model = strdup(o->model))) rc = PIER_ENOMEM;
  if (rc) pier_llm_error_set(err, 500, NULL, NULL, false, "out of memory");
  if (!rc) rc = plan(e, err);
  if (!rc) {
    e->ncalls = e->ops->calls(e);
    if (!(e->slots = calloc(e->ncalls ? e->ncalls : 1, sizeof *e->slots))) {
      pier_llm_error_set(err, 500, NULL, NULL, false, "out of memory");
      rc = PIER_ENOMEM;
    }
  }
  if (rc) {
    release(e);
    return rc;
  }
  for (size_t i = 0; i < e->ncalls; i++) e->slots[i] = (slot){.e = e, .call = i};
  *out = e;
  launch(e); /* may finish (and call on_done) at once only on a local failure */
  return 0;
}

void pier_embed_cancel(pier_embed *e) {
  if (!e || e->finished) return;
  e->cancelled = true;
  e->finished = true;
  release(e);
}
