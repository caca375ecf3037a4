/* loadgen.c — closed-loop HTTP/1.1 load generator for the workflow benchmark
 * (libuv + llhttp, one thread). C keep-alive connections each send one request,
 * wait for the whole response, and send the next, until either exactly N
 * requests have been sent (-n) or D seconds have passed (-d; requests in flight
 * at the deadline are completed and counted). Every request is the same bytes,
 * built once: method, path, Host, Content-Type, Content-Length, the --header
 * lines and the body file.
 *
 * Reports (one JSON line with --json): requests, seconds (first send to last
 * completion), requests/s, latency p50/p90/p99/max, replies by status (200, 202,
 * other), connection errors, and the wall-clock time of the first send and the
 * last completion (CLOCK_REALTIME, for end-to-end rates measured elsewhere).
 * With -w W the first W completed requests are warm-up: not in the latency
 * percentiles, and the clock for requests/s starts after them. Exit status 1 if
 * any reply was not the expected status (--expect, default 200) or a
 * connection failed. */
#define _GNU_SOURCE
#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define BENCH_PROG "loadgen"
#include "common.h"

#define HEADERS_MAX 16

typedef struct hconn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  llhttp_t parser;
  uint64_t t_send;
  bool busy;
} hconn;

static struct {
  const char *url, *body_file, *method, *content_type;
  const char *headers[HEADERS_MAX];
  int nheaders;
  int conns;
  long count;   /* -n: total requests (including warm-up), or 0 */
  double secs;  /* -d: duration after warm-up, or 0 */
  long warmup;  /* -w */
  int expect;   /* expected status */
  bool json;
} opt = {.method = "POST", .content_type = "application/json", .conns = 1, .expect = 200};

static uv_loop_t *loop;
static struct sockaddr_in addr;
static char *req;
static size_t req_len;
static hconn *hc;

static long sent, completed, measured;
static long st200, st202, st_other, st_expected, conn_errors;
static double *lat;
static long lat_cap;
static uint64_t t_warm_end, t_first_send, t_last_done;
static struct timespec wall_first_send, wall_last_done;
static int open_conns;
static uv_timer_t deadline_timer;
static bool stopping;


/* ---- statistics ---------------------------------------------------------------------------- */

static double pct(double p) {
  if (measured == 0) return 0;
  return lat[(long)(p / 100.0 * (double)(measured - 1) + 0.5)];
}

static void report(void) {
  qsort(lat, (size_t)measured, sizeof *lat, cmp_double);
  uint64_t t0 = opt.warmup ? t_warm_end : t_first_send;
  double secs = t_last_done > t0 ? (double)(t_last_done - t0) / 1e9 : 0;
  double rps = secs > 0 ? (double)measured / secs : 0;
  double wf = (double)wall_first_send.tv_sec + (double)wall_first_send.tv_nsec / 1e9;
  double wl = (double)wall_last_done.tv_sec + (double)wall_last_done.tv_nsec / 1e9;
  if (opt.json)
    printf("{\"connections\":%d,\"requests\":%ld,\"warmup\":%ld,\"seconds\":%.4f,\"rps\":%.1f,\"p50_us\":%.0f,"
           "\"p90_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"status_200\":%ld,\"status_202\":%ld,"
           "\"status_other\":%ld,\"conn_errors\":%ld,\"wall_first_send\":%.6f,\"wall_last_done\":%.6f}\n",
           opt.conns, measured, completed - measured, secs, rps, pct(50), pct(90), pct(99), pct(100), st200, st202,
           st_other, conn_errors, wf, wl);
  else
    printf("%d connections: %ld requests (+%ld warm-up) in %.3f s = %.1f req/s; latency p50 %.0f us, p90 %.0f us, "
           "p99 %.0f us, max %.0f us; status 200: %ld, 202: %ld, other: %ld; connection errors %ld\n",
           opt.conns, measured, completed - measured, secs, rps, pct(50), pct(90), pct(99), pct(100), st200, st202,
           st_other, conn_errors);
}

/* ---- connections ----------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  static char rbuf[1 << 16];
  *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void free_write(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void on_closed(uv_handle_t *h) {
  (void)h;
  if (--open_conns == 0) {
    uv_close((uv_handle_t *)&deadline_timer, NULL);
  }
}

static void conn_finish(hconn *h) {
  if (!uv_is_closing((uv_handle_t *)&h->tcp)) uv_close((uv_handle_t *)&h->tcp, on_closed);
}

static bool may_send(void) {
  if (stopping) return false;
  if (opt.count) return sent < opt.count;
  return true;
}

static void send_req(hconn *h) {
  if (!may_send()) {
    conn_finish(h);
    return;
  }
  sent++;
  h->busy = true;
  h->t_send = uv_hrtime();
  if (sent == 1) {
    t_first_send = h->t_send;
    clock_gettime(CLOCK_REALTIME, &wall_first_send);
  }
  uv_buf_t b = uv_buf_init(req, (unsigned)req_len);
  int n = uv_try_write((uv_stream_t *)&h->tcp, &b, 1);
  if (n == (int)req_len) return;
  if (n < 0 && n != UV_EAGAIN) die("write failed");
  if (n < 0) n = 0;
  uv_write_t *w = malloc(sizeof *w);
  b = uv_buf_init(req + n, (unsigned)(req_len - (size_t)n));
  if (!w || uv_write(w, (uv_stream_t *)&h->tcp, &b, 1, free_write) != 0) die("write failed");
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  stopping = true;
  for (int i = 0; i < opt.conns; i++)
    if (!hc[i].busy) conn_finish(&hc[i]);
}

static int on_message_complete(llhttp_t *p) {
  hconn *h = p->data;
  uint64_t now = uv_hrtime();
  int s = p->status_code;
  h->busy = false;
  if (s == 200) st200++;
  else if (s == 202) st202++;
  else st_other++;
  if (s == opt.expect) st_expected++;
  completed++;
  t_last_done = now;
  clock_gettime(CLOCK_REALTIME, &wall_last_done);
  if (completed > opt.warmup) {
    if (measured == lat_cap) {
      lat_cap = lat_cap ? lat_cap * 2 : 65536;
      lat = realloc(lat, (size_t)lat_cap * sizeof *lat);
      if (!lat) die("out of memory");
    }
    lat[measured++] = (double)(now - h->t_send) / 1e3;
  } else if (completed == opt.warmup) {
    t_warm_end = now;
    if (opt.secs > 0) {
      uv_update_time(loop);
      uv_timer_start(&deadline_timer, on_deadline, (uint64_t)(opt.secs * 1000), 0);
    }
  }
  send_req(h);
  return 0;
}

static const llhttp_settings_t settings = {.on_message_complete = on_message_complete};

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hconn *h = s->data;
  if (n < 0) {
    if (h->busy) {
      fprintf(stderr, "loadgen: connection closed with a request in flight (%s)\n", uv_strerror((int)n));
      conn_errors++;
      h->busy = false;
    }
    conn_finish(h);
    return;
  }
  if (n == 0) return;
  llhttp_errno_t e = llhttp_execute(&h->parser, buf->base, (size_t)n);
  if (e != HPE_OK) {
    fprintf(stderr, "loadgen: bad response: %s\n", llhttp_errno_name(e));
    conn_errors++;
    conn_finish(h);
  }
}

static void on_connect(uv_connect_t *r, int status) {
  hconn *h = r->data;
  if (status < 0) {
    fprintf(stderr, "loadgen: connect: %s\n", uv_strerror(status));
    conn_errors++;
    conn_finish(h);
    return;
  }
  uv_tcp_nodelay(&h->tcp, 1);
  uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read);
  send_req(h);
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --url http://IP:PORT/path [options]\n"
          "  --body FILE            request body (default: none)\n"
          "  --content-type TYPE    (default application/json)\n"
          "  --header 'K: V'        extra header; repeatable\n"
          "  --method M             (default POST)\n"
          "  -c N                   connections (default 1)\n"
          "  -n N                   send exactly N requests in all (warm-up included)\n"
          "  -d S                   or: run S seconds after the warm-up\n"
          "  -w N                   warm-up requests, not measured (default 0)\n"
          "  --expect CODE          expected status (default 200); others make the exit status 1\n"
          "  --json                 one JSON line\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) {
      opt.json = true;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) usage();
    if (strcmp(a, "--url") == 0) opt.url = v;
    else if (strcmp(a, "--body") == 0) opt.body_file = v;
    else if (strcmp(a, "--content-type") == 0) opt.content_type = v;
    else if (strcmp(a, "--method") == 0) opt.method = v;
    else if (strcmp(a, "--header") == 0) {
      if (opt.nheaders == HEADERS_MAX) usage();
      opt.headers[opt.nheaders++] = v;
    } else if (strcmp(a, "-c") == 0) opt.conns = atoi(v);
    else if (strcmp(a, "-n") == 0) opt.count = atol(v);
    else if (strcmp(a, "-d") == 0) opt.secs = atof(v);
    else if (strcmp(a, "-w") == 0) opt.warmup = atol(v);
    else if (strcmp(a, "--expect") == 0) opt.expect = atoi(v);
    else usage();
  }
  if (!opt.url || opt.conns < 1 || (opt.count <= 0) == (opt.secs <= 0) || opt.warmup < 0) usage();
  if (opt.count && opt.warmup >= opt.count) usage();
  loop = uv_default_loop();
  req = build_request(opt.url, opt.method, opt.content_type, opt.body_file, opt.headers, opt.nheaders, &addr,
                      &req_len);
  uv_timer_init(loop, &deadline_timer);
  if (opt.secs > 0 && opt.warmup == 0) uv_timer_start(&deadline_timer, on_deadline, (uint64_t)(opt.secs * 1000), 0);
  hc = calloc((size_t)opt.conns, sizeof *hc);
  if (!hc) die("out of memory");
  for (int i = 0; i < opt.conns; i++) {
    hconn *h = &hc[i];
    uv_tcp_init(loop, &h->tcp);
    h->tcp.data = h;
    h->creq.data = h;
    llhttp_init(&h->parser, HTTP_RESPONSE, &settings);
    h->parser.data = h;
    open_conns++;
    if (uv_tcp_connect(&h->creq, &h->tcp, (const struct sockaddr *)&addr, on_connect) != 0) die("connect failed");
  }
  uv_run(loop, UV_RUN_DEFAULT);
  report();
  return (st_expected != completed || conn_errors) ? 1 : 0;
}
