/* bedrock.c — Bedrock Runtime as a chat provider (Converse / ConverseStream)
 * and the request signer shared with embeddings. The Converse body is built
 * once per call; each attempt signs it afresh (X-Amz-Date changes). */
#include "llm/bedrock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/log.h"
#include "llm/converse.h"
#include "llm/eventstream.h"
#include "llm/provider.h"
#include "llm/sigv4.h"

/* Split "https://host:port/prefix" into host ("host:port") and path prefix. */
static int split_base(const char *base, char *host, size_t hcap, const char **prefix) {
  const char *p = strstr(base, "://");
  if (!p) return PIER_EINVAL;
  p += 3;
  const char *slash = strchr(p, '/');
  size_t hl = slash ? (size_t)(slash - p) : strlen(p);
  if (hl == 0 || hl >= hcap) return PIER_EINVAL;
  memcpy(host, p, hl);
  host[hl] = '\0';
  *prefix = slash ? slash : "";
  return 0;
}

static int add_header(pier_upstream_req *ur, const char *name, const char *value) {
  char line[4200];
  int n = snprintf(line, sizeof line, "%s: %s", name, value);
  if (n < 0 || (size_t)n >= sizeof line) return PIER_ETOOBIG;
  return pier_upstream_req_header(ur, line);
}

static int sign(pier_upstream_req *ur, const pier_route *r, const char *host, pier_slice path, pier_slice body) {
  char date[PIER_SIGV4_AMZ_DATE_BYTES];
  int rc = pier_sigv4_amz_date(time(NULL), date);
  if (rc) return rc;
  pier_sigv4_header ct = {PIER_SLICE_LIT("Content-Type"), PIER_SLICE_LIT("application/json")};
  pier_sigv4_request sr = {.method = "POST", .path = path, .query = PIER_SLICE_NULL, .host = pier_slice_from(host),
                           .headers = &ct, .headers_count = 1, .body = body, .region = r->region,
                           .service = "bedrock", .amz_date = date};
  pier_sigv4_creds cr = {.access_key_id = pier_slice_from(r->access_key_id),
                         .secret_access_key = pier_slice_from(r->secret_key),
                         .session_token = r->session_token ? pier_slice_from(r->session_token) : PIER_SLICE_NULL};
  pier_buf auth;
  pier_buf_init(&auth, 8192);
  rc = pier_sigv4_sign(&sr, &cr, &auth, NULL);
  if (!rc) rc = add_header(ur, "X-Amz-Date", date);
  if (!rc && r->session_token) rc = add_header(ur, "X-Amz-Security-Token", r->session_token);
  if (!rc) rc = add_header(ur, "Authorization", auth.ptr);
  pier_buf_dispose(&auth);
  return rc;
}

int pier_bedrock_request(pier_upstream *up, const pier_upstream_opts *uo_in, const pier_route *r, const char *op,
                         pier_slice body, pier_upstream_req **out) {
  char host[300];
  const char *prefix;
  if (split_base(r->base_url, host, sizeof host, &prefix) != 0) return PIER_EINVAL;
  pier_buf path, url;
  pier_buf_init(&path, 4096);
  pier_buf_init(&url, 8192);
  int rc = pier_buf_append_cstr(&path, prefix);
  if (!rc) rc = pier_buf_append_cstr(&path, "/model/");
  if (!rc) rc = pier_uri_encode(&path, pier_slice_from(r->model_id), NULL);
  if (!rc) rc = pier_buf_appendf(&path, "/%s", op);
  if (!rc) rc = pier_buf_appendf(&url, "%.*s%s", (int)(strlen(r->base_url) - strlen(prefix)), r->base_url, path.ptr);
  pier_upstream_req *ur = NULL;
  if (!rc) {
    pier_upstream_opts uo = *uo_in;
    uo.method = "POST";
    uo.url = url.ptr;
    rc = pier_upstream_req_new(up, &uo, &ur);
  }
  bool es = strstr(op, "stream") != NULL;
  if (!rc) rc = add_header(ur, "Content-Type", "application/json");
  if (!rc) rc = add_header(ur, es ? "X-Amzn-Bedrock-Accept" : "Accept",
                           es && strcmp(op, "converse-stream") == 0 ? "application/vnd.amazon.eventstream"
                                                                    : "application/json");
  if (!rc && r->auth == PIER_BEDROCK_AUTH_BEARER) {
    char *line = NULL;
    size_t n = strlen(r->api_key) + 32;
    if (!(line = malloc(n))) rc = PIER_ENOMEM;
    else {
      snprintf(line, n, "Authorization: Bearer %s", r->api_key);
      rc = pier_upstream_req_header(ur, line);
      memset(line, 0, n);
      free(line);
    }
  } else if (!rc) {
    rc = sign(ur, r, host, pier_buf_slice(&path), body);
  }
  if (!rc) {
    pier_buf b;
    pier_buf_init(&b, 0);
    rc = pier_buf_append_slice(&b, body);
    if (!rc) pier_upstream_req_body(ur, &b);
    pier_buf_dispose(&b);
  }
  pier_buf_dispose(&path);
  pier_buf_dispose(&url);
  if (rc) {
    if (ur) pier_upstream_cancel(ur);
    return rc;
  }
  *out = ur;
  return 0;
}

/* ---- chat provider ------------------------------------------------------------- */

typedef struct bstate {
  pier_chat_call *call;
  pier_converse_info info;
  pier_buf body;
  pier_es_decoder es;
  bool es_init;
  pier_converse_stream cs;
  bool saw_finish;
} bstate;

static int b_init(pier_chat_call *c, void *stp, pier_llm_error *err) {
  bstate *st = stp;
  st->call = c;
  pier_buf_init(&st->body, 0);
  char msg[512] = "";
  int rc = pier_converse_build(pier_chat_call_request(c), pier_chat_call_route(c)->model_id, &st->body, &st->info,
                               msg, sizeof msg);
  if (rc == PIER_EAGAIN) return rc;
  if (rc == PIER_EINVAL) {
    pier_llm_error_set(err, 400, "invalid_request_error", NULL, false, "%s", msg);
    return rc;
  }
  if (rc) pier_llm_error_set(err, rc == PIER_ETOOBIG ? 413 : 500, NULL, NULL, false, "could not build the Bedrock request: %s",
                             msg[0] ? msg : pier_strerror(rc));
  return rc;
}

static int on_cs_event(void *arg, const pier_chat_event *ev) {
  bstate *st = arg;
  if (ev->kind == PIER_CHAT_EV_FINISH) st->saw_finish = true;
  return pier_chat_call_emit(st->call, ev);
}

static int b_begin(pier_chat_call *c, void *stp, pier_upstream_req **out, pier_llm_error *err) {
  bstate *st = stp;
  bool stream = pier_chat_call_streaming(c);
  st->saw_finish = false;
  if (stream) {
    if (st->es_init) pier_es_decoder_dispose(&st->es);
    pier_es_decoder_init(&st->es, PIER_CONVERSE_EVENT_BYTES_MAX + 4096);
    st->es_init = true;
    pier_converse_stream_init(&st->cs, &st->info, on_cs_event, st);
  }
  pier_upstream_opts uo;
  pier_chat_call_upstream_opts(c, &uo);
  int rc = pier_bedrock_request(pier_chat_call_upstream(c), &uo, pier_chat_call_route(c),
                                stream ? "converse-stream" : "converse", pier_buf_slice(&st->body), out);
  if (rc)
    pier_llm_error_set(err, rc == PIER_EINVAL ? 400 : 500, NULL, NULL, false,
                       "could not prepare the Bedrock request (%s); check AWS_BEDROCK_RUNTIME_ENDPOINT and the "
                       "credentials' format", pier_strerror(rc));
  return rc;
}

static int on_es_message(void *arg, const pier_es_message *m) {
  bstate *st = arg;
  pier_slice mt = pier_es_header_str(m, ":message-type");
  pier_slice name, payload = m->payload;
  if (pier_slice_eq_cstr(mt, "exception")) {
    name = pier_es_header_str(m, ":exception-type");
  } else if (pier_slice_eq_cstr(mt, "error")) {
    name = pier_es_header_str(m, ":error-code");
    payload = pier_es_header_str(m, ":error-message");
  } else {
    name = pier_es_header_str(m, ":event-type");
  }
  return pier_converse_stream_on_frame(&st->cs, mt, name, payload);
}

static int b_feed(pier_chat_call *c, void *stp, const char *data, size_t len) {
  (void)c;
  bstate *st = stp;
  return pier_es_decoder_feed(&st->es, data, len, on_es_message, st);
}

static int b_end(pier_chat_call *c, void *stp) {
  (void)c;
  bstate *st = stp;
  int rc = pier_es_decoder_finish(&st->es);
  if (!rc && !st->saw_finish) rc = PIER_EPROTO;
  return rc;
}

static int b_parse(pier_chat_call *c, void *stp, pier_slice body, pier_llm_error *err) {
  bstate *st = stp;
  char msg[256];
  cJSON *resp = pier_json_parse(body, 128, msg, sizeof msg);
  if (!resp) {
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false,
                       "Bedrock answered with something that is not a Converse reply: %s", msg);
    return PIER_EPROTO;
  }
  int rc = pier_converse_response_events(resp, &st->info, pier_chat_call_emit, c, msg, sizeof msg);
  cJSON_Delete(resp);
  if (rc == PIER_EPROTO)
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false, "Bedrock reply not understood: %s",
                       msg);
  return rc;
}

void pier_bedrock_llm_error(pier_upstream_req *ur, pier_slice body, int retries, pier_llm_error *out) {
  pier_bedrock_error be;
  pier_bedrock_error_map(pier_upstream_status(ur), pier_upstream_header(ur, "x-amzn-errortype"), body, retries, &be);
  pier_llm_error_set(out, be.status, be.type, pier_bedrock_error_code(&be), be.retryable, "%s", be.message);
  unsigned long long secs;
  pier_slice ra = pier_upstream_header(ur, "retry-after");
  if (ra.len && pier_slice_to_u64(ra, &secs) == 0) out->retry_after_ms = secs > 3600 ? 3600000 : secs * 1000;
}

static void b_error(pier_chat_call *c, void *stp, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)stp;
  pier_bedrock_llm_error(ur, body, pier_chat_call_attempt(c) - 1, out);
}

static void b_dispose(void *stp) {
  bstate *st = stp;
  pier_buf_dispose(&st->body);
  if (st->es_init) pier_es_decoder_dispose(&st->es);
}

const pier_provider_ops pier_provider_bedrock = {
    .name = "bedrock",
    .state_size = sizeof(bstate),
    .init = b_init,
    .begin = b_begin,
    .feed = b_feed,
    .end = b_end,
    .parse = b_parse,
    .error = b_error,
    .dispose = b_dispose,
};
