/* h_events.c — GET /api/v1/db/trajectory/{c}/{t}/{id}/events: a run's step
 * events as Server-Sent Events until it ends (beyond Jetty: no polling). A run
 * that is not executing gets its stored state as one final `end` event. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/json.h"

#define SSE_HEADERS "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"

typedef struct ev_ctx {
  pier_http_req *req;
  pier_collection col;
  pier_slice task, id;
  pier_traj t;
  pier_watch *watch;
  uv_timer_t *ka;
  uint64_t last_ms;
} ev_ctx;

static void close_stream(ev_ctx *x) {
  pier_http_req *req = x->req;
  pier_watch_close(x->watch);
  x->watch = NULL;
  pier_api_timer_close(&x->ka);
  pier_http_stream_end(req);
}

static void write_frame(ev_ctx *x, const char *frame, size_t len) {
  if (pier_http_stream_write(x->req, frame, len) == 0) x->last_ms = uv_now(pier_http_loop_uv(x->req->loop));
}

static void write_end(ev_ctx *x, const char *doc, size_t len) {
  pier_buf b;
  pier_buf_init(&b, 0);
  if (pier_buf_append_cstr(&b, "event: end\ndata: ") == 0 && pier_buf_append(&b, doc, len) == 0 &&
      pier_buf_append_cstr(&b, "\n\n") == 0)
    write_frame(x, b.ptr, b.len);
  pier_buf_dispose(&b);
}

static void on_event(void *arg, const char *frame, size_t len) { write_frame(arg, frame, len); }

static void on_end(void *arg, const char *doc, size_t len) {
  ev_ctx *x = arg;
  if (doc) write_end(x, doc, len);
  else write_frame(x, "event: shutdown\ndata: {}\n\n", 26);
  close_stream(x);
}

static void on_ka(uv_timer_t *t) {
  ev_ctx *x = t->data;
  if (uv_now(t->loop) - x->last_ms >= APP(x->req)->cfg.sse_keepalive_ms) write_frame(x, ": keep-alive\n\n", 14);
}

static void on_abort(pier_http_req *req, void *arg) {
  (void)req;
  close_stream(arg);
}

static int get_work(pier_db *db, void *arg) {
  ev_ctx *x = arg;
  return db->ops->traj_get(db, &x->req->arena, x->col.id, x->task, x->id, &x->t);
}

static void got_stored(void *arg, int rc) {
  ev_ctx *x = arg;
  if (rc == PIER_ENOTFOUND) {
    pier_http_respond_error(x->req, 404, "Trajectory '%.*s' not found", (int)x->id.len, x->id.ptr);
    return;
  }
  if (rc) {
    pier_api_db_error(x->req, rc, "trajectory");
    return;
  }
  if (pier_http_stream_begin(x->req, 200, "text/event-stream; charset=utf-8", SSE_HEADERS) == 0) {
    const char *st = x->t.status;
    if (strcmp(st, "pending") && strcmp(st, "running")) {
      write_end(x, x->t.doc, strlen(x->t.doc));
      close_stream(x);
      return;
    }
  }
  /* stored as active: watch it (it may be queued or just resuming) */
  char id[16];
  snprintf(id, sizeof id, "%.*s", (int)(x->id.len < 15 ? x->id.len : 15), x->id.ptr);
  pier_watch_cbs cbs = {.on_event = on_event, .on_end = on_end, .arg = x};
  if (pier_engine_watch(APP(x->req)->engine, &pier_api_loop(x->req)->ex, id, &cbs, &x->watch) != 0) {
    write_end(x, x->t.doc, strlen(x->t.doc)); /* not executing in this process */
    close_stream(x);
    return;
  }
  char snap[64];
  int n = snprintf(snap, sizeof snap, "event: status\ndata: {\"status\":\"%s\"}\n\n", x->t.status);
  write_frame(x, snap, (size_t)n);
  x->req->on_abort = on_abort;
  x->req->abort_arg = x;
  uint64_t ka = APP(x->req)->cfg.sse_keepalive_ms;
  x->ka = pier_api_timer_start(x->req, on_ka, x, ka, ka);
}

void pier_h_trajectory_events(pier_http_req *req) {
  ev_ctx *x = pier_arena_calloc(&req->arena, sizeof *x);
  if (!x) {
    pier_http_respond_error(req, 500, "out of memory");
    return;
  }
  x->req = req;
  x->task = req->params[1];
  x->id = req->params[2];
  if (!pier_api_collection(req, req->params[0], &x->col)) return;
  pier_api_db(req, PIER_STORE_READ, get_work, got_stored, x);
}
