/* server.h — HTTP/1.1 server on N libuv loops (one thread each, SO_REUSEPORT
 * listeners) with llhttp. A request lives on one loop from accept to last byte;
 * every request ends with exactly one respond/stream_end call by its handler,
 * even when the client has gone away (then the call only frees it). */
#ifndef PIER_HTTP_SERVER_H
#define PIER_HTTP_SERVER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/limits.h"
#include "base/mailbox.h"
#include "base/slice.h"

typedef struct pier_http_server pier_http_server;
typedef struct pier_http_loop pier_http_loop;
typedef struct pier_http_req pier_http_req;
typedef struct pier_http_conn pier_http_conn; /* private */

typedef struct pier_http_header {
  pier_slice name;  /* lowercased, in the request arena */
  pier_slice value; /* in the request arena */
} pier_http_header;

enum { PIER_HTTP_GET = 1, PIER_HTTP_HEAD = 2, PIER_HTTP_POST = 3, PIER_HTTP_PUT = 4, PIER_HTTP_DELETE = 0,
       PIER_HTTP_PATCH = 28, PIER_HTTP_OPTIONS = 6 }; /* = llhttp_method_t values */

struct pier_http_req {
  pier_arena arena;      /* dies with the request */
  int method;            /* llhttp_method_t */
  pier_slice method_name;
  pier_slice path;       /* raw (still percent-encoded), without the query */
  pier_slice query;      /* after '?', may be empty */
  pier_http_header *headers;
  int nheaders;
  pier_buf body;         /* whole body (capped) */
  pier_slice params[PIER_HTTP_ROUTE_PARAMS_MAX]; /* route params, percent-decoded */
  int nparams;
  uint64_t id;           /* unique per process, for logs */
  uint64_t start_ms;
  pier_http_loop *loop;
  void *app;             /* server config's app pointer */
  void *auth;            /* set by the application's auth step; borrowed */
  void *route;           /* set by the application's router; borrowed */
  bool aborted;          /* client went away; responses are discarded */
  /* Called at most once, on the loop, when the client disconnects while the
   * request is still being handled. The handler must still end the request. */
  void (*on_abort)(pier_http_req *req, void *arg);
  void *abort_arg;
  /* Called when queued response bytes drop to zero during streaming (for
   * back-pressure). */
  void (*on_drain)(pier_http_req *req, void *arg);
  void *drain_arg;
  pier_http_conn *conn;  /* private */
  int phase;             /* private: 0 handling, 1 streaming, 2 ended */
  bool keep_alive;       /* private */
  pier_http_req *dead_next; /* private: the loop's list of ended requests */
};

typedef struct pier_http_config {
  const char *host;          /* e.g. "127.0.0.1" */
  int port;                  /* 0 = pick a free port */
  const char *unix_path;     /* also listen here (loop 0), or NULL */
  int threads;
  size_t body_bytes_max;
  uint64_t request_timeout_ms;
  uint64_t keepalive_timeout_ms;
  uint64_t shutdown_grace_ms;
  void *app;
  /* Called on the loop thread once per complete request. */
  void (*on_request)(pier_http_req *req);
  /* Per-loop set-up/tear-down on the loop's own thread (e.g. libcurl multi).
   * on_loop_stop runs when the last connection is gone; the loop then keeps
   * running until every mail promised to its mailbox has arrived, and calls
   * on_loop_close just before it closes its handles. */
  int (*on_loop_start)(pier_http_loop *loop);
  void (*on_loop_stop)(pier_http_loop *loop);
  void (*on_loop_close)(pier_http_loop *loop);
} pier_http_config;

/* Bind the listeners (so the real port is known) but do not run yet. */
int pier_http_server_create(const pier_http_config *cfg, pier_http_server **out) PIER_WUR;
/* Bound address, e.g. "127.0.0.1" and 43121. */
int pier_http_server_port(const pier_http_server *s);
/* Start the loop threads. */
int pier_http_server_start(pier_http_server *s) PIER_WUR;
/* Ask every loop to stop accepting, finish in-flight requests (up to the grace
 * period) and exit; then join the threads. Any thread. */
void pier_http_server_stop(pier_http_server *s);
void pier_http_server_destroy(pier_http_server *s);

/* Per-loop accessors (loop thread only). */
uv_loop_t *pier_http_loop_uv(pier_http_loop *l);
pier_mailbox *pier_http_loop_mailbox(pier_http_loop *l);
void *pier_http_loop_data(pier_http_loop *l);
void pier_http_loop_set_data(pier_http_loop *l, void *data);
int pier_http_loop_index(const pier_http_loop *l);
void *pier_http_loop_app(pier_http_loop *l);
bool pier_http_loop_stopping(const pier_http_loop *l);

/* Request accessors. */
pier_slice pier_http_header_get(const pier_http_req *req, const char *lname);
/* Query parameter (percent-decoded into the arena); false when absent. */
bool pier_http_query_get(pier_http_req *req, const char *name, pier_slice *out);

/* Complete responses. `extra_headers` is NULL or "Name: value\r\n..." lines. */
void pier_http_respond(pier_http_req *req, int status, const char *content_type, const char *extra_headers,
                       const void *body, size_t len);
void pier_http_respond_json(pier_http_req *req, int status, const cJSON *v);
/* Takes the buffer's memory (no copy). */
void pier_http_respond_buf(pier_http_req *req, int status, const char *content_type, const char *extra_headers,
                           pier_buf *body);
/* {"detail": "..."} */
void pier_http_respond_error(pier_http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 204 No Content. */
void pier_http_respond_empty(pier_http_req *req, int status);

/* Streaming (chunked transfer encoding). Writes return PIER_ECANCELLED once
 * the client is gone; stream_end must still be called. */
int pier_http_stream_begin(pier_http_req *req, int status, const char *content_type,
                           const char *extra_headers) PIER_WUR;
int pier_http_stream_write(pier_http_req *req, const void *data, size_t len) PIER_WUR;
/* Bytes written by the handler but not yet taken by the kernel. */
size_t pier_http_stream_pending(const pier_http_req *req);
void pier_http_stream_end(pier_http_req *req);

const char *pier_http_status_text(int status);
/* Decode %XX and (when plus_is_space) '+' into the arena. Returns PIER_EINVAL
 * on a malformed escape. */
int pier_http_pct_decode(pier_arena *a, pier_slice in, bool plus_is_space, pier_slice *out) PIER_WUR;

#endif
