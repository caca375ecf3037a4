/* client.c — libcurl multi on libuv (curl_multi_socket_action). Our own timer
 * per transfer covers time-to-first-byte and the idle gap between body chunks;
 * curl covers connect and total time. User callbacks may cancel their own
 * transfer: we then fail the curl callback and free once curl lets go. */
#include "upstream/client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define EASY_POOL_MAX 64
#define HEADER_BLOCK_MAX (64 * 1024)

struct pier_upstream {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  pier_upstream_req *reqs;
  int active;
  CURL *pool[EASY_POOL_MAX];
  int npool;
  bool proxy_env; /* some *_proxy variable is set: let curl read them per transfer */
};

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  pier_upstream *u;
} sock_ctx;

struct pier_upstream_req {
  pier_upstream *u;
  pier_upstream_req *prev, *next;
  CURL *easy;
  struct curl_slist *headers;
  pier_upstream_opts o;
  char *url;
  pier_buf body;  /* request body */
  pier_buf resp;  /* buffered response body */
  pier_buf hdrs;  /* response header block, lowercased names */
  uv_timer_t timer;
  int status;
  pier_upstream_fail fail; /* set by our timers/callbacks before curl finishes */
  bool started, headers_done, in_cb, cancelled, finished;
  char errbuf[CURL_ERROR_SIZE];
};

/* ---- loop glue ------------------------------------------------------------------- */

static void check_done(pier_upstream *u);

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_ctx *sc = p->data;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(sc->u->multi, sc->fd, flags, &running);
  check_done(sc->u);
}

static void free_sock(uv_handle_t *h) { free(h->data); }

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)e;
  pier_upstream *u = userp;
  sock_ctx *sc = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sc) {
      uv_poll_stop(&sc->poll);
      uv_close((uv_handle_t *)&sc->poll, free_sock);
      curl_multi_assign(u->multi, s, NULL);
    }
    return 0;
  }
  if (!sc) {
    sc = calloc(1, sizeof *sc);
    if (!sc) return -1;
    sc->fd = s;
    sc->u = u;
    if (uv_poll_init_socket(u->loop, &sc->poll, s) != 0) {
      free(sc);
      return -1;
    }
    sc->poll.data = sc;
    curl_multi_assign(u->multi, s, sc);
  }
  int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
  uv_poll_start(&sc->poll, ev, on_poll);
  return 0;
}

static void on_multi_timer(uv_timer_t *t) {
  pier_upstream *u = t->data;
  int running;
  curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(u);
}

static int on_timer_set(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  pier_upstream *u = userp;
  if (timeout_ms < 0) uv_timer_stop(&u->timer);
  else uv_timer_start(&u->timer, on_multi_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

int pier_upstream_create(uv_loop_t *loop, pier_upstream **out) {
  pier_upstream *u = calloc(1, sizeof *u);
  if (!u) return PIER_ENOMEM;
  u->loop = loop;
  static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                           NULL};
  for (int i = 0; proxy_vars[i]; i++)
    if (getenv(proxy_vars[i])) u->proxy_env = true;
  u->multi = curl_multi_init();
  if (!u->multi) {
    free(u);
    return PIER_ENOMEM;
  }
  uv_timer_init(loop, &u->timer);
  u->timer.data = u;
  curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
  curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
  curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
  curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 256L);
  *out = u;
  return 0;
}

static void free_upstream(uv_handle_t *h) { free(h->data); }

void pier_upstream_destroy(pier_upstream *u) {
  if (!u) return;
  while (u->reqs) pier_upstream_cancel(u->reqs);
  for (int i = 0; i < u->npool; i++) curl_easy_cleanup(u->pool[i]);
  curl_multi_cleanup(u->multi); /* closes sockets: CURL_POLL_REMOVE for each */
  uv_close((uv_handle_t *)&u->timer, free_upstream);
}

int pier_upstream_active(const pier_upstream *u) { return u->active; }

/* ---- requests ------------------------------------------------------------------------ */

static void req_free_cb(uv_handle_t *h) {
  pier_upstream_req *r = h->data;
  pier_buf_dispose(&r->body);
  pier_buf_dispose(&r->resp);
  pier_buf_dispose(&r->hdrs);
  free(r->url);
  free(r);
}

/* Detach from curl and the list, then free (the timer close is asynchronous). */
static void req_release(pier_upstream_req *r) {
  pier_upstream *u = r->u;
  uv_timer_stop(&r->timer);
  if (r->easy) {
    if (r->started) curl_multi_remove_handle(u->multi, r->easy);
    if (u->npool < EASY_POOL_MAX) {
      curl_easy_reset(r->easy);
      u->pool[u->npool++] = r->easy;
    } else {
      curl_easy_cleanup(r->easy);
    }
    r->easy = NULL;
  }
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  if (r->started) u->active--;
  if (r->prev) r->prev->next = r->next;
  else if (u->reqs == r) u->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
  uv_close((uv_handle_t *)&r->timer, req_free_cb);
}

static void finish(pier_upstream_req *r, pier_upstream_fail fail, const char *detail) {
  if (r->finished) return;
  r->finished = true;
  uv_timer_stop(&r->timer);
  if (!r->cancelled && r->o.on_done) {
    pier_upstream_result res = {.fail = fail, .status = r->status, .body = pier_buf_slice(&r->resp),
                                .detail = detail};
    r->in_cb = true;
    r->o.on_done(r, r->o.arg, &res);
    r->in_cb = false;
  }
  req_release(r);
}

static pier_upstream_fail map_curl(pier_upstream_req *r, CURLcode rc) {
  if (r->fail != PIER_UP_OK) return r->fail;
  switch (rc) {
  case CURLE_OK: return PIER_UP_OK;
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION: return PIER_UP_CONNECT;
  case CURLE_OPERATION_TIMEDOUT: {
    /* pre-transfer time is set once a connection (new or reused) is ready;
     * connect time alone reads 0 on a reused connection */
    curl_off_t ready_us = 0;
    curl_easy_getinfo(r->easy, CURLINFO_PRETRANSFER_TIME_T, &ready_us);
    return ready_us == 0 ? PIER_UP_CONNECT_TIMEOUT : PIER_UP_TOTAL_TIMEOUT;
  }
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP2: return PIER_UP_RESET;
  case CURLE_WRITE_ERROR: return PIER_UP_ABORTED;
  default: return PIER_UP_OTHER;
  }
}

static void check_done(pier_upstream *u) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(u->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    pier_upstream_req *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (!r) continue;
    CURLcode rc = m->data.result;
    pier_upstream_fail f = map_curl(r, rc);
    finish(r, f, f == PIER_UP_OK ? NULL : r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
  }
}

static void on_req_timer(uv_timer_t *t) {
  pier_upstream_req *r = t->data;
  pier_upstream_fail f = r->headers_done ? PIER_UP_IDLE_TIMEOUT : PIER_UP_TTFB_TIMEOUT;
  finish(r, f, f == PIER_UP_IDLE_TIMEOUT ? "no data from upstream within the idle timeout"
                                         : "no response headers from upstream within the time-to-first-byte timeout");
}

static int deliver_headers(pier_upstream_req *r) {
  long code = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  r->status = (int)code;
  r->headers_done = true;
  if (r->o.idle_timeout_ms) uv_timer_start(&r->timer, on_req_timer, r->o.idle_timeout_ms, 0);
  else uv_timer_stop(&r->timer);
  if (!r->o.on_headers) return 0;
  r->in_cb = true;
  int rc = r->o.on_headers(r, r->o.arg);
  r->in_cb = false;
  return rc || r->cancelled;
}

static size_t on_header_line(char *p, size_t sz, size_t n, void *ud) {
  pier_upstream_req *r = ud;
  size_t len = sz * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new header block (after 1xx) */
    pier_buf_reset(&r->hdrs);
    return len;
  }
  if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 100 && code < 200) return len;
    if (deliver_headers(r)) {
      r->fail = r->fail ? r->fail : PIER_UP_ABORTED;
      return 0;
    }
    return len;
  }
  if (r->hdrs.len + len > HEADER_BLOCK_MAX) return len; /* ignore the excess, keep what we have */
  size_t start = r->hdrs.len;
  if (pier_buf_append(&r->hdrs, p, len) != 0) return 0;
  for (size_t i = start; i < r->hdrs.len && r->hdrs.ptr[i] != ':'; i++)
    if (r->hdrs.ptr[i] >= 'A' && r->hdrs.ptr[i] <= 'Z') r->hdrs.ptr[i] = (char)(r->hdrs.ptr[i] + 32);
  return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  pier_upstream_req *r = ud;
  size_t len = sz * n;
  if (r->cancelled) return 0;
  if (r->o.idle_timeout_ms) uv_timer_start(&r->timer, on_req_timer, r->o.idle_timeout_ms, 0);
  if (!r->o.stream) {
    if (pier_buf_append(&r->resp, p, len) != 0) {
      r->fail = PIER_UP_TOO_BIG;
      return 0;
    }
    return len;
  }
  r->in_cb = true;
  int rc = r->o.on_data(r, r->o.arg, p, len);
  r->in_cb = false;
  if (rc || r->cancelled) {
    if (!r->fail) r->fail = PIER_UP_ABORTED;
    return 0;
  }
  return len;
}

int pier_upstream_req_new(pier_upstream *u, const pier_upstream_opts *o, pier_upstream_req **out) {
  pier_upstream_req *r = calloc(1, sizeof *r);
  if (!r) return PIER_ENOMEM;
  r->u = u;
  r->o = *o;
  r->url = strdup(o->url);
  r->easy = u->npool ? u->pool[--u->npool] : curl_easy_init();
  pier_buf_init(&r->body, 0);
  pier_buf_init(&r->resp, o->response_bytes_max ? o->response_bytes_max : 16u * 1024 * 1024);
  pier_buf_init(&r->hdrs, HEADER_BLOCK_MAX);
  uv_timer_init(u->loop, &r->timer);
  r->timer.data = r;
  r->next = u->reqs;
  if (u->reqs) u->reqs->prev = r;
  u->reqs = r;
  if (!r->url || !r->easy) {
    req_release(r);
    return PIER_ENOMEM;
  }
  *out = r;
  return 0;
}

int pier_upstream_req_header(pier_upstream_req *r, const char *line) {
  if (strpbrk(line, "\r\n")) return PIER_EINVAL;
  struct curl_slist *l = curl_slist_append(r->headers, line);
  if (!l) return PIER_ENOMEM;
  r->headers = l;
  return 0;
}

void pier_upstream_req_body(pier_upstream_req *r, pier_buf *body) {
  pier_buf_dispose(&r->body);
  r->body = *body;
  pier_buf_init(body, body->max);
}

int pier_upstream_req_start(pier_upstream_req *r) {
  CURL *e = r->easy;
  int rc = pier_upstream_req_header(r, "Expect:"); /* no 100-continue round trip */
  if (rc) return rc;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header_line);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!r->u->proxy_env) curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no proxy: skip curl's getenv per transfer */
  if (r->o.connect_timeout_ms) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)r->o.connect_timeout_ms);
  if (r->o.total_timeout_ms) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->o.total_timeout_ms);
  const char *m = r->o.method ? r->o.method : "GET";
  if (strcmp(m, "GET") != 0 || r->body.len) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.ptr ? r->body.ptr : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    if (strcmp(m, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
  }
  if (r->o.ttfb_timeout_ms) uv_timer_start(&r->timer, on_req_timer, r->o.ttfb_timeout_ms, 0);
  if (curl_multi_add_handle(r->u->multi, e) != CURLM_OK) return PIER_EIO;
  r->started = true;
  r->u->active++;
  return 0;
}

void pier_upstream_cancel(pier_upstream_req *r) {
  if (!r || r->cancelled) return;
  r->cancelled = true;
  if (r->in_cb) return; /* the curl callback fails; check_done/finish releases it */
  if (!r->finished) {
    r->finished = true;
    req_release(r);
  }
}

int pier_upstream_status(const pier_upstream_req *r) { return r->status; }

pier_slice pier_upstream_header(const pier_upstream_req *r, const char *lname) {
  size_t nl = strlen(lname);
  pier_slice found = PIER_SLICE_NULL;
  pier_slice all = pier_buf_slice(&r->hdrs);
  while (all.len) {
    long eol = pier_slice_find(all, '\n');
    pier_slice line = pier_slice_make(all.ptr, eol >= 0 ? (size_t)eol : all.len);
    all = eol >= 0 ? pier_slice_make(all.ptr + eol + 1, all.len - (size_t)eol - 1) : PIER_SLICE_NULL;
    if (line.len > nl && memcmp(line.ptr, lname, nl) == 0 && line.ptr[nl] == ':') {
      pier_slice v = pier_slice_make(line.ptr + nl + 1, line.len - nl - 1);
      while (v.len && (v.ptr[v.len - 1] == '\r')) v.len--;
      found = pier_slice_trim(v);
    }
  }
  return found;
}
