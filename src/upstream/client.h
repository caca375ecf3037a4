/* client.h — outbound HTTP(S) on the event loop: one libcurl multi handle per
 * loop, driven by curl_multi_socket_action from uv_poll/uv_timer, so a model
 * call is a transfer, never a blocked thread. Connections are reused per host by
 * the multi's connection cache. Callbacks run on the loop thread. */
#ifndef PIER_UPSTREAM_CLIENT_H
#define PIER_UPSTREAM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

typedef struct pier_upstream pier_upstream;         /* per loop */
typedef struct pier_upstream_req pier_upstream_req; /* one transfer */

/* Why a transfer ended (besides a complete HTTP response). */
typedef enum pier_upstream_fail {
  PIER_UP_OK = 0,
  PIER_UP_CONNECT,      /* could not connect (refused, DNS, TLS) */
  PIER_UP_CONNECT_TIMEOUT,
  PIER_UP_TTFB_TIMEOUT, /* no response header in time */
  PIER_UP_IDLE_TIMEOUT, /* gap between body chunks too long */
  PIER_UP_TOTAL_TIMEOUT,
  PIER_UP_RESET,        /* connection dropped mid-response */
  PIER_UP_TOO_BIG,      /* buffered response over its cap */
  PIER_UP_ABORTED,      /* a callback asked to stop */
  PIER_UP_OTHER,
} pier_upstream_fail;

typedef struct pier_upstream_result {
  pier_upstream_fail fail;
  int status;             /* HTTP status, 0 if none */
  pier_slice body;        /* buffered body (when not streaming); valid during on_done */
  const char *detail;     /* curl's message for failures; never contains secrets */
} pier_upstream_result;

typedef struct pier_upstream_opts {
  const char *method;      /* "POST" */
  const char *url;         /* copied */
  uint64_t connect_timeout_ms;
  uint64_t ttfb_timeout_ms;
  uint64_t idle_timeout_ms;
  uint64_t total_timeout_ms;
  size_t response_bytes_max; /* cap for the buffered body / a header block */
  bool stream;             /* deliver the body through on_data instead of buffering */
  void *arg;
  /* After the response headers: return 0 to go on, non-zero to stop (fail =
   * ABORTED). Status and headers are available from the req. */
  int (*on_headers)(pier_upstream_req *r, void *arg);
  /* Streamed body bytes (only when stream is set); non-zero stops. */
  int (*on_data)(pier_upstream_req *r, void *arg, const char *data, size_t len);
  /* Exactly once, unless the request was cancelled. The req is freed after. */
  void (*on_done)(pier_upstream_req *r, void *arg, const pier_upstream_result *res);
} pier_upstream_opts;

int pier_upstream_create(uv_loop_t *loop, pier_upstream **out) PIER_WUR;
/* Cancels every transfer still running (no callbacks), then frees. */
void pier_upstream_destroy(pier_upstream *u);

/* Create a transfer; add headers and body, then start it. */
int pier_upstream_req_new(pier_upstream *u, const pier_upstream_opts *o, pier_upstream_req **out) PIER_WUR;
/* "Name: value" (copied). Header values must not contain CR/LF. */
int pier_upstream_req_header(pier_upstream_req *r, const char *line) PIER_WUR;
/* Takes the buffer's memory. */
void pier_upstream_req_body(pier_upstream_req *r, pier_buf *body);
int pier_upstream_req_start(pier_upstream_req *r) PIER_WUR;
/* Stop and free now; no further callbacks. Safe from inside this request's own
 * callbacks (then the free is deferred). */
void pier_upstream_cancel(pier_upstream_req *r);

int pier_upstream_status(const pier_upstream_req *r);
/* Response header by lowercase name (last occurrence), or an empty slice. */
pier_slice pier_upstream_header(const pier_upstream_req *r, const char *lname);
/* The number of transfers in flight on this loop (for tests and metrics). */
int pier_upstream_active(const pier_upstream *u);

#endif
