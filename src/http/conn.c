/* conn.c — one HTTP/1.1 connection: read, parse with llhttp, dispatch one
 * request at a time (pipelined requests wait in `pending` and are answered in
 * order), write responses. The parser pauses on every message_complete; the
 * request is handed to the application outside the parser's callbacks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "http/server_int.h"

#define PENDING_MAX (1024 * 1024) /* pipelined bytes buffered while handling */
#define LINGER_MS 2000

typedef struct wreq {
  uv_write_t w;
  pier_http_conn *conn;
  size_t len;
  char *body; /* owned, may be NULL */
  char head[]; /* header bytes (or chunk framing) */
} wreq;

static void conn_drive(pier_http_conn *c);
static void req_free(pier_http_req *r);

/* ---- lifecycle ---------------------------------------------------------- */

static void conn_unref(pier_http_conn *c) {
  if (--c->refs > 0) return;
  pier_http_loop *l = c->loop;
  if (c->prev) c->prev->next = c->next;
  else l->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  l->nconns--;
  pier_buf_dispose(&c->pending);
  pier_buf_dispose(&c->url);
  pier_buf_dispose(&c->hfield);
  pier_buf_dispose(&c->hvalue);
  if (c->req && !c->handling) req_free(c->req);
  free(c);
  if (l->stopping && l->nconns == 0) uv_async_send(&l->stop_async); /* let the loop finish */
}

static void on_handle_closed(uv_handle_t *h) { conn_unref(h->data); }

void pier_http_conn_close(pier_http_conn *c) {
  if (c->closed) return;
  c->closed = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  if (c->handling && c->req && !c->req->aborted) {
    pier_http_req *r = c->req;
    r->aborted = true;
    if (r->on_abort) r->on_abort(r, r->abort_arg);
  }
}

void pier_http_conn_stop_idle(pier_http_conn *c) {
  c->closing = true;
  if (!c->handling && !c->in_request && c->write_pending == 0) pier_http_conn_close(c);
}

static void on_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void timer_arm(pier_http_conn *c, uint64_t ms) { uv_timer_start(&c->timer, on_timer, ms, 0); }

static void read_resume(pier_http_conn *c) {
  if (c->closing && !c->lingering) return;
  if (!c->reading && !c->closed && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = true;
}

void pier_http_conn_accept(pier_http_loop *l, uv_stream_t *server, bool is_unix) {
  pier_http_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->loop = l;
  if (is_unix) uv_pipe_init(&l->uv, &c->pipe, 0);
  else uv_tcp_init(&l->uv, &c->tcp);
  uv_timer_init(&l->uv, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->refs = 2;
  c->next = l->conns;
  if (l->conns) l->conns->prev = c;
  l->conns = c;
  l->nconns++;
  pier_buf_init(&c->pending, 0);
  pier_buf_init(&c->url, PIER_HTTP_URL_BYTES_MAX);
  pier_buf_init(&c->hfield, PIER_HTTP_HEADER_BYTES_MAX);
  pier_buf_init(&c->hvalue, PIER_HTTP_HEADER_BYTES_MAX);
  extern const llhttp_settings_t pier_http_parser_settings;
  llhttp_init(&c->parser, HTTP_REQUEST, &pier_http_parser_settings);
  c->parser.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    pier_http_conn_close(c);
    return;
  }
  if (!is_unix) uv_tcp_nodelay(&c->tcp, 1);
  timer_arm(c, l->srv->cfg.keepalive_timeout_ms);
  read_resume(c);
}

/* ---- writing -------------------------------------------------------------- */

static void on_written(uv_write_t *w, int status) {
  wreq *wr = (wreq *)w;
  pier_http_conn *c = wr->conn;
  c->write_pending -= wr->len;
  free(wr->body);
  free(wr);
  if (c->closed) return;
  if (status < 0) {
    pier_http_conn_close(c);
    return;
  }
  if (c->write_pending == 0) {
    if (c->closing && !c->handling) {
      pier_http_conn_close(c);
      return;
    }
    pier_http_req *r = c->req;
    if (c->handling && r && r->phase == 1 && r->on_drain) r->on_drain(r, r->drain_arg);
  }
}

/* Queue head (copied) followed by body (ownership taken). */
static int conn_write(pier_http_conn *c, const char *head, size_t hlen, char *body, size_t blen) {
  if (c->closed) {
    free(body);
    return PIER_ECANCELLED;
  }
  wreq *wr = malloc(sizeof *wr + hlen);
  if (!wr) {
    free(body);
    return PIER_ENOMEM;
  }
  memcpy(wr->head, head, hlen);
  wr->conn = c;
  wr->body = body;
  wr->len = hlen + blen;
  uv_buf_t bufs[2] = {uv_buf_init(wr->head, (unsigned)hlen), uv_buf_init(body, (unsigned)blen)};
  c->write_pending += wr->len;
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, blen ? 2 : 1, on_written) != 0) {
    c->write_pending -= wr->len;
    free(body);
    free(wr);
    pier_http_conn_close(c);
    return PIER_EIO;
  }
  return 0;
}

static void on_shutdown(uv_shutdown_t *sd, int status) {
  (void)status;
  free(sd);
}

/* After an error answer: stop sending, drain what the client still sends for a
 * moment so it can read our answer instead of a reset, then close. */
static void conn_linger_close(pier_http_conn *c) {
  if (c->closed || c->lingering) return;
  c->lingering = true;
  c->closing = true;
  uv_shutdown_t *sd = malloc(sizeof *sd);
  if (!sd || uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    free(sd);
    pier_http_conn_close(c);
    return;
  }
  timer_arm(c, LINGER_MS);
  read_resume(c);
}

/* RFC 9110 IMF-fixdate, cached per second per loop. */
static const char *http_date(pier_http_loop *l) {
  time_t now = time(NULL);
  if (now != l->date_secs) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(l->date, sizeof l->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    l->date_secs = now;
  }
  return l->date;
}

static int build_head(pier_buf *h, pier_http_req *r, int status, const char *ctype, const char *extra,
                      long long content_length) {
  bool no_body = status == 204 || status == 304 || status < 200;
  int rc = pier_buf_appendf(h, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, pier_http_status_text(status),
                            http_date(r->conn->loop));
  if (!rc && ctype && !no_body) rc = pier_buf_appendf(h, "Content-Type: %s\r\n", ctype);
  if (!rc && content_length >= 0 && !no_body) rc = pier_buf_appendf(h, "Content-Length: %lld\r\n", content_length);
  if (!rc && content_length < 0) rc = pier_buf_append_cstr(h, "Transfer-Encoding: chunked\r\n");
  if (!rc && !r->keep_alive) rc = pier_buf_append_cstr(h, "Connection: close\r\n");
  if (!rc && extra) rc = pier_buf_append_cstr(h, extra);
  if (!rc) rc = pier_buf_append(h, "\r\n", 2);
  return rc;
}

static void req_end(pier_http_req *r);

static void respond_owned(pier_http_req *r, int status, const char *ctype, const char *extra, char *body,
                          size_t len) {
  if (r->phase != 0) { /* programmer error: double response */
    free(body);
    PIER_LOG(PIER_LOG_ERROR, "http", "req=%llu responded twice", (unsigned long long)r->id);
    return;
  }
  pier_http_conn *c = r->conn;
  if (r->aborted || c->closed) {
    free(body);
    req_end(r);
    return;
  }
  if (c->loop->stopping) r->keep_alive = false;
  pier_buf h;
  pier_buf_init(&h, 0);
  if (build_head(&h, r, status, ctype, extra, (long long)len) == 0) {
    if (r->method == PIER_HTTP_HEAD) {
      free(body);
      body = NULL, len = 0;
    }
    (void)conn_write(c, h.ptr, h.len, body, len);
  } else {
    free(body);
  }
  pier_buf_dispose(&h);
  PIER_LOG(PIER_LOG_DEBUG, "http", "req=%llu %.*s %.*s -> %d", (unsigned long long)r->id,
           (int)r->method_name.len, r->method_name.ptr, (int)r->path.len, r->path.ptr, status);
  req_end(r);
}

void pier_http_respond(pier_http_req *r, int status, const char *ctype, const char *extra, const void *body,
                       size_t len) {
  char *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (copy) memcpy(copy, body, len);
    else len = 0, status = 500;
  }
  respond_owned(r, status, ctype, extra, copy, len);
}

void pier_http_respond_buf(pier_http_req *r, int status, const char *ctype, const char *extra, pier_buf *body) {
  size_t len;
  char *p = pier_buf_detach(body, &len);
  respond_owned(r, status, ctype, extra, p, len);
}

int pier_http_stream_begin(pier_http_req *r, int status, const char *ctype, const char *extra) {
  if (r->phase != 0) return PIER_EINVAL;
  r->phase = 1;
  pier_http_conn *c = r->conn;
  if (r->aborted || c->closed) return PIER_ECANCELLED;
  pier_buf h;
  pier_buf_init(&h, 0);
  int rc = build_head(&h, r, status, ctype, extra, -1);
  if (!rc) rc = conn_write(c, h.ptr, h.len, NULL, 0);
  pier_buf_dispose(&h);
  return rc;
}

int pier_http_stream_write(pier_http_req *r, const void *data, size_t len) {
  if (r->phase != 1) return PIER_EINVAL;
  if (r->aborted || r->conn->closed) return PIER_ECANCELLED;
  if (len == 0) return 0;
  char *copy = malloc(len + 2);
  if (!copy) return PIER_ENOMEM;
  memcpy(copy, data, len);
  memcpy(copy + len, "\r\n", 2);
  char head[24];
  int n = snprintf(head, sizeof head, "%zx\r\n", len);
  return conn_write(r->conn, head, (size_t)n, copy, len + 2);
}

size_t pier_http_stream_pending(const pier_http_req *r) { return r->conn->write_pending; }

void pier_http_stream_end(pier_http_req *r) {
  if (r->phase == 1 && !r->aborted && !r->conn->closed) (void)conn_write(r->conn, "0\r\n\r\n", 5, NULL, 0);
  r->phase = 0; /* req_end expects a live request */
  req_end(r);
}

/* ---- request end ------------------------------------------------------------ */

static void req_free(pier_http_req *r) {
  pier_buf_dispose(&r->body);
  pier_arena_dispose(&r->arena);
  free(r);
}

void pier_http_loop_reap(pier_http_loop *l) {
  while (l->dead) {
    pier_http_req *r = l->dead;
    l->dead = r->dead_next;
    req_free(r);
  }
  uv_check_stop(&l->reaper);
}

static void on_reap(uv_check_t *h) { pier_http_loop_reap(h->data); }

/* The request leaves its connection now and is freed at the end of this loop
 * iteration, after the callback that ended it has returned. */
static void req_retire(pier_http_req *r) {
  pier_http_loop *l = r->conn->loop;
  r->conn = NULL;
  r->dead_next = l->dead;
  l->dead = r;
  if (!uv_is_active((uv_handle_t *)&l->reaper)) uv_check_start(&l->reaper, on_reap);
}

static void req_end(pier_http_req *r) {
  pier_http_conn *c = r->conn;
  r->phase = 2;
  c->handling = false;
  c->req = NULL;
  bool keep = r->keep_alive;
  req_retire(r);
  if (c->closed) {
    conn_unref(c); /* the ref the handled request held */
    return;
  }
  conn_unref(c);
  if (!keep || c->closing || c->loop->stopping) {
    c->closing = true;
    if (c->write_pending == 0) pier_http_conn_close(c);
    return;
  }
  llhttp_resume(&c->parser);
  timer_arm(c, c->loop->srv->cfg.keepalive_timeout_ms);
  read_resume(c);
  if (!c->in_drive) conn_drive(c);
  if (!c->closed && c->in_request) timer_arm(c, c->loop->srv->cfg.request_timeout_ms);
}

/* ---- reading and parsing -------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  pier_http_conn *c = h->data;
  *buf = uv_buf_init(c->loop->readbuf, sizeof c->loop->readbuf);
}

static void error_response(pier_http_conn *c, int status, const char *detail) {
  pier_buf b;
  pier_buf_init(&b, 0);
  pier_buf h;
  pier_buf_init(&h, 0);
  if (pier_buf_append_cstr(&b, "{\"detail\":") == 0 && pier_buf_append_json_str(&b, pier_slice_from(detail)) == 0 &&
      pier_buf_putc(&b, '}') == 0 &&
      pier_buf_appendf(&h, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n",
                       status, pier_http_status_text(status), b.len) == 0) {
    size_t len;
    char *body = pier_buf_detach(&b, &len);
    (void)conn_write(c, h.ptr, h.len, body, len);
  }
  pier_buf_dispose(&b);
  pier_buf_dispose(&h);
  c->in_request = false;
  conn_linger_close(c);
}

static void parse_error(pier_http_conn *c, llhttp_errno_t err) {
  char detail[256];
  int status = c->error_status ? c->error_status : 400;
  if (status == 413)
    snprintf(detail, sizeof detail, "request body is larger than %zu bytes", c->loop->srv->cfg.body_bytes_max);
  else if (status == 414)
    snprintf(detail, sizeof detail, "request URL is longer than %d bytes", PIER_HTTP_URL_BYTES_MAX);
  else if (status == 431)
    snprintf(detail, sizeof detail, "request headers are larger than %d bytes or more than %d headers",
             PIER_HTTP_HEADER_BYTES_MAX, PIER_HTTP_HEADERS_COUNT_MAX);
  else if (status == 417)
    snprintf(detail, sizeof detail, "unsupported Expect header; only 100-continue is supported");
  else if (c->error_reason)
    snprintf(detail, sizeof detail, "malformed HTTP request: %s", c->error_reason);
  else
    snprintf(detail, sizeof detail, "malformed HTTP request: %s", llhttp_get_error_reason(&c->parser)
                                                                    ? llhttp_get_error_reason(&c->parser)
                                                                    : llhttp_errno_name(err));
  PIER_LOG(PIER_LOG_DEBUG, "http", "parse error %d: %s", status, detail);
  error_response(c, status, detail);
}

static void dispatch(pier_http_conn *c) {
  pier_http_req *r = c->req;
  pier_http_server *s = c->loop->srv;
  c->in_request = false;
  c->handling = true;
  c->refs++; /* held by the request until req_end */
  uv_timer_stop(&c->timer);
  r->keep_alive = llhttp_should_keep_alive(&c->parser) && !c->closing;
  r->id = atomic_fetch_add(&s->next_req_id, 1) + 1;
  r->loop = c->loop;
  r->app = s->cfg.app;
  r->start_ms = uv_now(&c->loop->uv);
  s->cfg.on_request(r);
}

static void conn_drive(pier_http_conn *c) {
  c->in_drive = true;
  while (!c->closed && !c->handling && !c->lingering && c->pending.len > 0) {
    llhttp_errno_t err = llhttp_execute(&c->parser, c->pending.ptr, c->pending.len);
    if (err == HPE_OK) {
      pier_buf_reset(&c->pending);
      break;
    }
    if (err == HPE_PAUSED) {
      size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - c->pending.ptr);
      pier_buf_consume(&c->pending, used);
      dispatch(c);
      continue;
    }
    parse_error(c, err);
    break;
  }
  c->in_drive = false;
  if (!c->closed && c->handling && c->pending.len > PENDING_MAX) {
    uv_read_stop((uv_stream_t *)&c->tcp); /* resumed when the request ends */
    c->reading = false;
  }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  pier_http_conn *c = s->data;
  if (n == 0) return;
  if (n < 0) {
    /* A client may half-close after sending its request (shutdown(SHUT_WR)):
     * a short request still gets its answer. Requests that registered an
     * abort hook (model calls, streams) treat EOF as the client leaving, as
     * nginx does, so the upstream call is cancelled at once. */
    if (n == UV_EOF && c->handling && c->req && !c->req->on_abort && !c->closing) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->reading = false;
      c->closing = true;
      return;
    }
    pier_http_conn_close(c);
    return;
  }
  if (c->lingering) return; /* discard */
  if (!c->handling) timer_arm(c, c->loop->srv->cfg.request_timeout_ms); /* progress resets it */
  if (pier_buf_append(&c->pending, buf->base, (size_t)n) != 0) {
    error_response(c, 413, "request too large");
    return;
  }
  if (!c->handling) conn_drive(c);
}

static void on_timer(uv_timer_t *t) {
  pier_http_conn *c = t->data;
  if (c->lingering || c->handling) {
    if (c->lingering) pier_http_conn_close(c);
    return;
  }
  if (c->in_request || c->pending.len) {
    error_response(c, 408, "request not received in time; the client stalled mid-request");
    return;
  }
  pier_http_conn_close(c); /* idle keep-alive connection */
}
