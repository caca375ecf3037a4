/* client.c — blocking HTTP for the CLI: one libcurl easy handle (kept alive
 * between calls) driven by a multi handle so long waits can tick a spinner.
 * Every answer is capped; error bodies become one line with the server's
 * `detail` (Jetty) or `error.message` (OpenAI) and an exit status per class. */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "cli/cli_int.h"
#include "llm/sse.h"

#define CONNECT_TIMEOUT_MS 10000L
#define TICK_MS 100

typedef struct xfer {
  pier_cli *cli;
  const pier_cli_req *rq;
  pier_cli_resp *resp;
  bool streaming; /* decided at the first byte: a 2xx goes to on_data */
  bool decided;
  int cb_rc;      /* on_data's stop code */
} xfer;

void pier_cli_resp_dispose(pier_cli_resp *r) {
  pier_buf_dispose(&r->body);
  cJSON_Delete(r->json);
  r->json = NULL;
}

void pier_cli_http_cleanup(pier_cli *cli) {
  if (cli->multi) curl_multi_cleanup(cli->multi);
  if (cli->curl) curl_easy_cleanup(cli->curl);
  cli->multi = cli->curl = NULL;
}

static size_t on_write(char *p, size_t size, size_t n, void *arg) {
  xfer *x = arg;
  size_t len = size * n;
  if (!x->decided) {
    curl_easy_getinfo(x->cli->curl, CURLINFO_RESPONSE_CODE, &x->resp->status);
    x->streaming = x->rq->on_data && x->resp->status >= 200 && x->resp->status < 300;
    x->decided = true;
  }
  if (x->streaming) {
    x->cb_rc = x->rq->on_data(x->rq->arg, p, len);
    return x->cb_rc ? 0 : len;
  }
  return pier_buf_append(&x->resp->body, p, len) == 0 ? len : 0;
}

static int setup(pier_cli *cli, const pier_cli_req *rq, xfer *x, struct curl_slist **hdrs) {
  CURL *c = cli->curl;
  char url[4096];
  int n = snprintf(url, sizeof url, "%s%s", cli->url, rq->path);
  if (n <= 0 || (size_t)n >= sizeof url) return PIER_ETOOBIG;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "pier-cli");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (rq->mime) {
    curl_easy_setopt(c, CURLOPT_MIMEPOST, rq->mime);
  } else if (rq->body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
  }
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
  if (!strcmp(rq->method, "GET")) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  *hdrs = curl_slist_append(*hdrs, "Accept: application/json, text/event-stream");
  *hdrs = curl_slist_append(*hdrs, "Expect:");
  if (cli->token) {
    pier_buf auth;
    pier_buf_init(&auth, 0);
    if (pier_buf_appendf(&auth, "Authorization: Bearer %s", cli->token) == 0) *hdrs = curl_slist_append(*hdrs, auth.ptr);
    pier_cli_wipe(&auth);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
  return 0;
}

static CURLcode perform(pier_cli *cli, const pier_cli_req *rq) {
  CURLM *m = cli->multi;
  if (curl_multi_add_handle(m, cli->curl) != CURLM_OK) return CURLE_FAILED_INIT;
  int running = 1;
  CURLcode res = CURLE_OK;
  while (running) {
    if (curl_multi_perform(m, &running) != CURLM_OK) {
      res = CURLE_FAILED_INIT;
      break;
    }
    if (running) {
      curl_multi_poll(m, NULL, 0, TICK_MS, NULL);
      if (rq->on_tick) rq->on_tick(rq->tick_arg);
    }
  }
  int left;
  for (CURLMsg *msg; (msg = curl_multi_info_read(m, &left));)
    if (msg->msg == CURLMSG_DONE) res = msg->data.result;
  curl_multi_remove_handle(m, cli->curl);
  return res;
}

static void transport_error(pier_cli *cli, CURLcode res, const char *detail) {
  if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST) {
    pier_cli_err(cli, "cannot reach the pier server at %s: %s", cli->url, detail[0] ? detail : curl_easy_strerror(res));
    pier_cli_hint(cli, "is `pier serve` running there? Point the CLI elsewhere with --url or $PIER_URL");
  } else {
    pier_cli_err(cli, "request to %s failed: %s", cli->url, detail[0] ? detail : curl_easy_strerror(res));
  }
}

int pier_cli_send(pier_cli *cli, const pier_cli_req *rq, pier_cli_resp *out) {
  memset(out, 0, sizeof *out);
  pier_buf_init(&out->body, PIER_CLI_BODY_BYTES_MAX);
  if (!cli->curl && !(cli->curl = curl_easy_init())) return PIER_ENOMEM;
  if (!cli->multi && !(cli->multi = curl_multi_init())) return PIER_ENOMEM;
  xfer x = {.cli = cli, .rq = rq, .resp = out};
  struct curl_slist *hdrs = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  int rc = setup(cli, rq, &x, &hdrs);
  if (rc) {
    curl_slist_free_all(hdrs);
    pier_cli_err(cli, "request path too long");
    return rc;
  }
  curl_easy_setopt(cli->curl, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode res = perform(cli, rq);
  curl_slist_free_all(hdrs);
  curl_easy_getinfo(cli->curl, CURLINFO_RESPONSE_CODE, &out->status);
  if (x.cb_rc) return x.cb_rc;
  if (res != CURLE_OK) {
    if (res == CURLE_WRITE_ERROR && !x.streaming) snprintf(errbuf, sizeof errbuf, "the answer is too large");
    transport_error(cli, res, errbuf);
    return PIER_EIO;
  }
  if (out->body.len) out->json = pier_json_parse(pier_buf_slice(&out->body), PIER_JSON_DEPTH_MAX, NULL, 0);
  return 0;
}

int pier_cli_exit_for_status(long status) {
  if (status >= 200 && status < 300) return PIER_CLI_EXIT_OK;
  if (status == 401 || status == 403) return PIER_CLI_EXIT_AUTH;
  if (status == 404) return PIER_CLI_EXIT_NOTFOUND;
  if (status >= 500 || status == 0) return PIER_CLI_EXIT_SERVER;
  return PIER_CLI_EXIT_FAIL;
}

/* The human sentence in an error body: detail (string or FastAPI list),
 * error.message, error, message. */
static const char *error_text(const cJSON *j, char *scratch, size_t cap) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "detail");
  if (cJSON_IsString(d)) return d->valuestring;
  if (cJSON_IsArray(d) && cJSON_GetArraySize(d) > 0) {
    const cJSON *e = cJSON_GetArrayItem(d, 0);
    const char *msg = pier_json_str(e, "msg");
    if (msg) {
      snprintf(scratch, cap, "%s", msg);
      return scratch;
    }
  }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (cJSON_IsString(e)) return e->valuestring;
  if (pier_json_str(e, "message")) return pier_json_str(e, "message");
  return pier_json_str(j, "message");
}

int pier_cli_check(pier_cli *cli, const pier_cli_resp *r) {
  int code = pier_cli_exit_for_status(r->status);
  if (code == 0) return 0;
  char scratch[512];
  const char *msg = r->json ? error_text(r->json, scratch, sizeof scratch) : NULL;
  if (msg) {
    pier_cli_err(cli, "%s (HTTP %ld)", msg, r->status);
  } else {
    pier_slice b = pier_buf_slice(&r->body);
    pier_cli_err(cli, "the server answered HTTP %ld%s%.*s", r->status, b.len ? ": " : "", (int)(b.len > 300 ? 300 : b.len),
                 b.ptr);
  }
  if (r->status == 401)
    pier_cli_hint(cli, "the token (from %s) was refused; run 'pier login' or set $PIER_TOKEN",
                  cli->token ? cli->token_source : "nowhere");
  return code;
}

int pier_cli_call(pier_cli *cli, const char *method, const char *path, const cJSON *body, pier_cli_resp *r) {
  memset(r, 0, sizeof *r);
  int rc = pier_cli_need_token(cli);
  if (rc) return rc;
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  if (body && !text) return PIER_CLI_EXIT_FAIL;
  pier_cli_req rq = {.method = method, .path = path, .body = text, .body_len = text ? strlen(text) : 0};
  rc = pier_cli_send(cli, &rq, r);
  if (text) {
    explicit_bzero(text, strlen(text)); /* may hold an env value */
    cJSON_free(text);
  }
  if (rc) return PIER_CLI_EXIT_SERVER;
  return pier_cli_check(cli, r);
}

/* ---- Server-Sent Events ------------------------------------------------------------- */

typedef struct sse_ctx {
  pier_sse_parser p;
  pier_cli_sse_fn fn;
  void *arg;
} sse_ctx;

static int sse_event(void *arg, pier_slice event, pier_slice data) {
  sse_ctx *s = arg;
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)event.len, event.ptr);
  return s->fn(s->arg, name, data.ptr ? data.ptr : "", data.len);
}

static int sse_data(void *arg, const char *p, size_t n) {
  sse_ctx *s = arg;
  int rc = pier_sse_feed(&s->p, p, n, sse_event, s);
  return rc;
}

int pier_cli_stream(pier_cli *cli, const char *method, const char *path, const cJSON *body, pier_cli_sse_fn on_event,
                    void (*on_tick)(void *), void *arg, pier_cli_resp *r) {
  memset(r, 0, sizeof *r);
  int rc = pier_cli_need_token(cli);
  if (rc) return rc;
  char *text = body ? cJSON_PrintUnformatted(body) : NULL;
  sse_ctx s = {.fn = on_event, .arg = arg};
  pier_sse_init(&s.p, 16u * 1024 * 1024);
  pier_cli_req rq = {.method = method, .path = path, .body = text, .body_len = text ? strlen(text) : 0,
                     .on_data = sse_data, .arg = &s, .on_tick = on_tick, .tick_arg = arg};
  rc = pier_cli_send(cli, &rq, r);
  pier_sse_dispose(&s.p);
  cJSON_free(text);
  if (rc == PIER_EIO || rc == PIER_ENOMEM) return PIER_CLI_EXIT_SERVER;
  if (rc > 0) return rc; /* a handler's own exit status */
  if (rc == PIER_ETOOBIG) {
    pier_cli_err(cli, "an event of the stream is larger than 16 MiB");
    return PIER_CLI_EXIT_SERVER;
  }
  return pier_cli_check(cli, r);
}

/* ---- paths --------------------------------------------------------------------------- */

static int append_seg(pier_buf *b, const char *seg) {
  static const char hex[] = "0123456789ABCDEF";
  int rc = pier_buf_putc(b, '/');
  for (const unsigned char *p = (const unsigned char *)seg; !rc && *p; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr("-._~", *p);
    if (plain) rc = pier_buf_putc(b, (char)*p);
    else rc = pier_buf_appendf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
  }
  return rc;
}

int pier_cli_path(char *out, size_t cap, const char *prefix, ...) {
  pier_buf b;
  pier_buf_init(&b, cap - 1);
  int rc = pier_buf_append_cstr(&b, prefix);
  va_list ap;
  va_start(ap, prefix);
  for (const char *seg; !rc && (seg = va_arg(ap, const char *));) rc = append_seg(&b, seg);
  va_end(ap);
  if (!rc) memcpy(out, b.ptr, b.len + 1);
  pier_buf_dispose(&b);
  return rc;
}
