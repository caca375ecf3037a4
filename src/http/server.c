/* server.c — listeners, loop threads, shutdown, and the small request/response
 * helpers. One SO_REUSEPORT socket per loop thread, all bound on the main
 * thread first so the real port is known before anything runs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "http/server_int.h"

/* host (numeric or a name) -> socket address. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *slen) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%d", port);
  if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res) return PIER_EINVAL;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *slen = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static int port_of(const struct sockaddr_storage *ss) {
  return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                        : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void set_port(struct sockaddr_storage *ss, int port) {
  if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* One socket; reuseport for the per-loop listeners, plain for the probe. */
static int open_bound(const struct sockaddr_storage *ss, socklen_t slen, bool reuseport, int *fd_out) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return PIER_EIO;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)ss, slen) != 0 || (reuseport && listen(fd, 1024) != 0)) {
    int e = errno;
    close(fd);
    return e == EADDRINUSE ? PIER_EEXISTS : PIER_EIO;
  }
  *fd_out = fd;
  return 0;
}

/* Bind every loop's SO_REUSEPORT socket to one port. A plain probe socket
 * first: SO_REUSEPORT would otherwise let us share a port another server
 * (even another pier) is already listening on. Port 0 takes the probe's port. */
static int bind_all(pier_http_server *s, const char *host, int port) {
  struct sockaddr_storage ss;
  socklen_t slen;
  memset(&ss, 0, sizeof ss);
  int rc = resolve(host, port, &ss, &slen), probe = -1;
  if (!rc) rc = open_bound(&ss, slen, false, &probe);
  if (rc) return rc;
  struct sockaddr_storage got;
  socklen_t glen = sizeof got;
  getsockname(probe, (struct sockaddr *)&got, &glen);
  set_port(&ss, port_of(&got));
  close(probe);
  for (int i = 0; i < s->nloops && !rc; i++) rc = open_bound(&ss, slen, true, &s->loops[i].listen_fd);
  s->port = port_of(&ss);
  return rc;
}

int pier_http_server_create(const pier_http_config *cfg, pier_http_server **out) {
  pier_http_server *s = calloc(1, sizeof *s);
  if (!s) return PIER_ENOMEM;
  s->cfg = *cfg;
  if (s->cfg.threads < 1) s->cfg.threads = 1;
  if (!s->cfg.body_bytes_max) s->cfg.body_bytes_max = PIER_HTTP_BODY_BYTES_DEFAULT;
  if (!s->cfg.request_timeout_ms) s->cfg.request_timeout_ms = PIER_HTTP_REQUEST_TIMEOUT_MS_DEFAULT;
  if (!s->cfg.keepalive_timeout_ms) s->cfg.keepalive_timeout_ms = PIER_HTTP_KEEPALIVE_TIMEOUT_MS;
  if (!s->cfg.shutdown_grace_ms) s->cfg.shutdown_grace_ms = PIER_HTTP_SHUTDOWN_GRACE_MS;
  s->nloops = s->cfg.threads;
  s->loops = calloc((size_t)s->nloops, sizeof *s->loops);
  if (!s->loops) {
    free(s);
    return PIER_ENOMEM;
  }
  for (int i = 0; i < s->nloops; i++) {
    s->loops[i].listen_fd = -1;
    s->loops[i].srv = s;
    s->loops[i].index = i;
  }
  int rc = bind_all(s, cfg->host, cfg->port);
  if (rc) {
    pier_http_server_destroy(s);
    return rc;
  }
  *out = s;
  return 0;
}

int pier_http_server_port(const pier_http_server *s) { return s->port; }

static void on_connection(uv_stream_t *server, int status) {
  pier_http_loop *l = server->data;
  if (status < 0 || l->stopping) return;
  pier_http_conn_accept(l, server, false);
}

static void on_unix_connection(uv_stream_t *server, int status) {
  pier_http_loop *l = server->data;
  if (status < 0 || l->stopping) return;
  pier_http_conn_accept(l, server, true);
}

/* The Unix socket (replaced if stale) on loop 0. */
static void listen_unix(pier_http_loop *l) {
  const char *path = l->srv->cfg.unix_path;
  if (!path || l->index != 0) return;
  unlink(path);
  if (uv_pipe_init(&l->uv, &l->unix_listener, 0) || uv_pipe_bind(&l->unix_listener, path) ||
      uv_listen((uv_stream_t *)&l->unix_listener, 256, on_unix_connection)) {
    PIER_LOG(PIER_LOG_ERROR, "http", "cannot listen on %s", path);
    return;
  }
  /* sandboxes run under their own uid; the socket sits in the 0700 data dir,
   * so only pier and the sandboxes it mounts the socket into can reach it */
  chmod(path, 0666);
  l->unix_listener.data = l;
  l->unix_open = true;
}

static void loop_finish(pier_http_loop *l);

static void on_drain_check(uv_timer_t *t) { loop_finish(t->data); }

/* Last connection gone: app stop hook, then wait for promised mail (store
 * completions), then close. */
static void loop_finish(pier_http_loop *l) {
  if (!l->stopping || l->nconns > 0) return;
  if (!l->stop_hook_done) {
    l->stop_hook_done = true;
    if (l->srv->cfg.on_loop_stop) l->srv->cfg.on_loop_stop(l);
  }
  if (pier_mailbox_promised(&l->mailbox) > 0) {
    uv_timer_start(&l->grace_timer, on_drain_check, 2, 0);
    return;
  }
  if (l->srv->cfg.on_loop_close) l->srv->cfg.on_loop_close(l);
  pier_http_loop_reap(l);
  uv_close((uv_handle_t *)&l->reaper, NULL);
  pier_mailbox_close(&l->mailbox);
  uv_close((uv_handle_t *)&l->stop_async, NULL);
  uv_close((uv_handle_t *)&l->grace_timer, NULL);
}

static void on_grace(uv_timer_t *t) {
  pier_http_loop *l = t->data;
  if (l->stop_hook_done) { /* draining promised mail */
    loop_finish(l);
    return;
  }
  PIER_LOG(PIER_LOG_WARN, "http", "loop %d: shutdown grace over, closing %d connection(s)", l->index, l->nconns);
  for (pier_http_conn *c = l->conns; c; c = c->next) pier_http_conn_close(c);
}

static void on_stop(uv_async_t *a) {
  pier_http_loop *l = a->data;
  if (!l->stopping) {
    l->stopping = true;
    if (l->listener_open) {
      l->listener_open = false;
      uv_close((uv_handle_t *)&l->listener, NULL);
    }
    if (l->unix_open) {
      l->unix_open = false;
      uv_close((uv_handle_t *)&l->unix_listener, NULL);
      unlink(l->srv->cfg.unix_path);
    }
    pier_http_conn *next;
    for (pier_http_conn *c = l->conns; c; c = next) {
      next = c->next;
      pier_http_conn_stop_idle(c);
    }
    uv_timer_start(&l->grace_timer, on_grace, l->srv->cfg.shutdown_grace_ms, 0);
    uv_unref((uv_handle_t *)&l->grace_timer);
  }
  loop_finish(l);
}

static void loop_main(void *arg) {
  pier_http_loop *l = arg;
  uv_loop_t *uv = &l->uv;
  if (uv_tcp_init(uv, &l->listener) || uv_tcp_open(&l->listener, l->listen_fd) ||
      uv_listen((uv_stream_t *)&l->listener, 1024, on_connection)) {
    PIER_LOG(PIER_LOG_ERROR, "http", "loop %d: cannot listen", l->index);
    uv_sem_post(&l->srv->ready);
    return;
  }
  l->listen_fd = -1; /* owned by the handle now */
  l->listener_open = true;
  l->listener.data = l;
  listen_unix(l);
  if (l->srv->cfg.on_loop_start && l->srv->cfg.on_loop_start(l) != 0) {
    PIER_LOG(PIER_LOG_ERROR, "http", "loop %d: start hook failed", l->index);
  }
  uv_sem_post(&l->srv->ready);
  uv_run(uv, UV_RUN_DEFAULT);
  uv_loop_close(uv);
}

int pier_http_server_start(pier_http_server *s) {
  for (int i = 0; i < s->nloops; i++) {
    pier_http_loop *l = &s->loops[i];
    if (uv_loop_init(&l->uv)) return PIER_EIO;
    if (pier_mailbox_init(&l->mailbox, &l->uv)) return PIER_EIO;
    uv_async_init(&l->uv, &l->stop_async, on_stop);
    l->stop_async.data = l;
    uv_timer_init(&l->uv, &l->grace_timer);
    l->grace_timer.data = l;
    uv_check_init(&l->uv, &l->reaper);
    l->reaper.data = l;
  }
  if (uv_sem_init(&s->ready, 0)) return PIER_EIO;
  int n = 0;
  for (int i = 0; i < s->nloops; i++, n++)
    if (uv_thread_create(&s->loops[i].thread, loop_main, &s->loops[i])) break;
  for (int i = 0; i < n; i++) uv_sem_wait(&s->ready); /* every loop is set up before we return */
  uv_sem_destroy(&s->ready);
  s->started = true;
  return n == s->nloops ? 0 : PIER_EIO;
}

void pier_http_server_stop(pier_http_server *s) {
  if (!s->started) return;
  for (int i = 0; i < s->nloops; i++) uv_async_send(&s->loops[i].stop_async);
  for (int i = 0; i < s->nloops; i++) uv_thread_join(&s->loops[i].thread);
  s->started = false;
}

void pier_http_server_destroy(pier_http_server *s) {
  if (!s) return;
  for (int i = 0; i < s->nloops; i++)
    if (s->loops[i].listen_fd >= 0) close(s->loops[i].listen_fd);
  free(s->loops);
  free(s);
}

uv_loop_t *pier_http_loop_uv(pier_http_loop *l) { return &l->uv; }
pier_mailbox *pier_http_loop_mailbox(pier_http_loop *l) { return &l->mailbox; }
void *pier_http_loop_data(pier_http_loop *l) { return l->data; }
void pier_http_loop_set_data(pier_http_loop *l, void *data) { l->data = data; }
int pier_http_loop_index(const pier_http_loop *l) { return l->index; }
void *pier_http_loop_app(pier_http_loop *l) { return l->srv->cfg.app; }
bool pier_http_loop_stopping(const pier_http_loop *l) { return l->stopping; }

/* ---- request helpers ---------------------------------------------------------- */

pier_slice pier_http_header_get(const pier_http_req *req, const char *lname) {
  for (int i = 0; i < req->nheaders; i++)
    if (pier_slice_eq_cstr(req->headers[i].name, lname)) return req->headers[i].value;
  return PIER_SLICE_NULL;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int pier_http_pct_decode(pier_arena *a, pier_slice in, bool plus_is_space, pier_slice *out) {
  char *o = pier_arena_alloc(a, in.len + 1);
  if (!o) return PIER_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < in.len; i++) {
    char ch = in.ptr[i];
    if (ch == '%') {
      if (in.len - i < 3) return PIER_EINVAL;
      int hi = hexv(in.ptr[i + 1]), lo = hexv(in.ptr[i + 2]);
      if (hi < 0 || lo < 0) return PIER_EINVAL;
      o[n++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      o[n++] = (plus_is_space && ch == '+') ? ' ' : ch;
    }
  }
  o[n] = '\0';
  *out = pier_slice_make(o, n);
  return 0;
}

bool pier_http_query_get(pier_http_req *req, const char *name, pier_slice *out) {
  pier_slice q = req->query;
  size_t nlen = strlen(name);
  while (q.len) {
    long amp = pier_slice_find(q, '&');
    pier_slice pair = pier_slice_make(q.ptr, amp >= 0 ? (size_t)amp : q.len);
    q = amp >= 0 ? pier_slice_make(q.ptr + amp + 1, q.len - (size_t)amp - 1) : PIER_SLICE_NULL;
    long eq = pier_slice_find(pair, '=');
    pier_slice k = pier_slice_make(pair.ptr, eq >= 0 ? (size_t)eq : pair.len);
    if (k.len != nlen || memcmp(k.ptr, name, nlen) != 0) continue;
    pier_slice v = eq >= 0 ? pier_slice_make(pair.ptr + eq + 1, pair.len - (size_t)eq - 1) : PIER_SLICE_NULL;
    if (pier_http_pct_decode(&req->arena, v, true, out) != 0) *out = v;
    return true;
  }
  return false;
}

void pier_http_respond_json(pier_http_req *req, int status, const cJSON *v) {
  char *s = cJSON_PrintUnformatted(v);
  if (!s) {
    pier_http_respond_error(req, 500, "out of memory while encoding the response");
    return;
  }
  pier_http_respond(req, status, "application/json", NULL, s, strlen(s));
  cJSON_free(s);
}

void pier_http_respond_error(pier_http_req *req, int status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pier_utf8_sanitize(msg); /* details quote user input: keep the body valid JSON */
  pier_buf b;
  pier_buf_init(&b, 0);
  const char *extra = status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL;
  if (pier_buf_append_cstr(&b, "{\"detail\":") || pier_buf_append_json_str(&b, pier_slice_from(msg)) ||
      pier_buf_putc(&b, '}')) {
    pier_buf_dispose(&b);
    pier_http_respond(req, 500, "application/json", NULL, "{\"detail\":\"out of memory\"}", 26);
    return;
  }
  pier_http_respond_buf(req, status, "application/json", extra, &b);
}

void pier_http_respond_empty(pier_http_req *req, int status) {
  pier_http_respond(req, status, NULL, NULL, NULL, 0);
}

const char *pier_http_status_text(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Entity";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 499: return "Client Closed Request";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Unknown";
  }
}
