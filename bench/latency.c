/* latency.c — the benchmark's C client (libuv + llhttp). Two modes:
 *
 * Paired latency: C clients, each with one keep-alive connection to target A
 * (the mock, direct) and one to target B (pier). A client sends one request,
 * waits for the whole response, then sends the next, alternating A,B,B,A,...
 * so both targets see the same load, the same moment and the same client cost.
 * Reports median/p90/p99 of each target's latency and of the per-pair
 * difference B - A (the latency pier adds), plus time to first body byte.
 *
 * Hold: open N streaming requests to target B at once, keep them open until the
 * upstream ends them, and sample VmRSS of the given pids while they are open. */
#define _GNU_SOURCE
#include <llhttp.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BENCH_PROG "latency"
#include "common.h"

#define HEADERS_MAX 16
#define PIDS_MAX 4

typedef struct target {
  const char *name;
  const char *url;
  const char *body_file;
  const char *headers[HEADERS_MAX];
  int nheaders;
  struct sockaddr_in addr;
  char *req; /* the whole request, built once */
  size_t req_len;
} target;

struct client;

typedef struct hconn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  llhttp_t parser;
  struct client *cl;
  int ti;
  bool connected, got_body, done;
  uint64_t t_send, t_first;
} hconn;

typedef struct client {
  hconn conn[2];
  int nconnected;
  long pair;
  int step;
  double lat[2], ttfb[2];
} client;

static struct {
  target t[2];
  int concurrency;
  long pairs, warmup;
  int hold;
  int hold_timeout_s;
  int pids[PIDS_MAX];
  int npids;
  bool json;
} opt = {.concurrency = 1, .pairs = 10000, .warmup = 500, .hold_timeout_s = 120};

static uv_loop_t *loop;
static long pairs_started, pairs_done;
static double *lat_a, *lat_b, *diff, *ttfb_a, *ttfb_b;
static long errors, bad_status;
static uint64_t t_begin, t_end;
static int clients_done;

/* hold mode */
static long h_started, h_done, h_failed;
static long rss_idle[PIDS_MAX], rss_open[PIDS_MAX], rss_peak[PIDS_MAX], rss_after[PIDS_MAX];
static bool h_measured;
static uint64_t h_all_open_at;
static uv_timer_t h_timer;
static uint64_t h_start_ms;

/* ---- set-up ------------------------------------------------------------------------------- */

static void build_target(target *t) {
  t->req = build_request(t->url, "POST", "application/json", t->body_file, t->headers, t->nheaders, &t->addr,
                         &t->req_len);
}

/* ---- statistics ------------------------------------------------------------------------------ */

typedef struct stats {
  double p50, p90, p99, mean, min, max;
} stats;

static stats summarize(double *v, long n) {
  stats s = {0};
  if (n == 0) return s;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += v[i];
#define PCT(p) v[(long)((p) / 100.0 * (double)(n - 1) + 0.5)]
  s.p50 = PCT(50);
  s.p90 = PCT(90);
  s.p99 = PCT(99);
#undef PCT
  s.mean = sum / (double)n;
  s.min = v[0];
  s.max = v[n - 1];
  return s;
}

static void print_stats(const char *label, stats s) {
  if (opt.json)
    printf("\"%s\":{\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"min_us\":%.1f,\"max_us\":%.1f}",
           label, s.p50, s.p90, s.p99, s.mean, s.min, s.max);
  else
    printf("%-22s p50 %9.1f us  p90 %9.1f us  p99 %9.1f us  mean %9.1f us  min %8.1f  max %9.1f\n", label, s.p50,
           s.p90, s.p99, s.mean, s.min, s.max);
}

static void report(void) {
  long n = opt.pairs;
  double secs = (double)(t_end - t_begin) / 1e9;
  char la[80], lb[80], ld[80], lfa[80], lfb[80];
  snprintf(la, sizeof la, "%s", opt.t[0].name);
  snprintf(lb, sizeof lb, "%s", opt.t[1].name);
  snprintf(ld, sizeof ld, "added(%s-%s)", opt.t[1].name, opt.t[0].name);
  snprintf(lfa, sizeof lfa, "ttfb_%s", opt.t[0].name);
  snprintf(lfb, sizeof lfb, "ttfb_%s", opt.t[1].name);
  /* median of pairwise differences and difference of medians, both reported */
  stats sa = summarize(lat_a, n), sb = summarize(lat_b, n), sd = summarize(diff, n);
  stats fa = summarize(ttfb_a, n), fb = summarize(ttfb_b, n);
  if (opt.json) {
    printf("{\"concurrency\":%d,\"pairs\":%ld,\"seconds\":%.3f,\"requests_per_s\":%.1f,\"errors\":%ld,"
           "\"bad_status\":%ld,",
           opt.concurrency, n, secs, 2.0 * (double)n / secs, errors, bad_status);
    print_stats(la, sa), putchar(',');
    print_stats(lb, sb), putchar(',');
    print_stats("added", sd), putchar(',');
    print_stats(lfa, fa), putchar(',');
    print_stats(lfb, fb);
    printf(",\"added_p50_of_medians_us\":%.1f}\n", sb.p50 - sa.p50);
  } else {
    printf("concurrency %d, %ld pairs (%ld requests) in %.2f s = %.0f req/s (both targets), errors %ld, non-200 %ld\n",
           opt.concurrency, n, 2 * n, secs, 2.0 * (double)n / secs, errors, bad_status);
    print_stats(la, sa);
    print_stats(lb, sb);
    print_stats(ld, sd);
    print_stats(lfa, fa);
    print_stats(lfb, fb);
    printf("difference of medians: %.1f us\n", sb.p50 - sa.p50);
  }
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

static void send_req(hconn *h) {
  target *t = &opt.t[h->ti];
  h->got_body = false;
  h->done = false;
  h->t_send = uv_hrtime();
  uv_buf_t b = uv_buf_init(t->req, (unsigned)t->req_len);
  int n = uv_try_write((uv_stream_t *)&h->tcp, &b, 1);
  if (n == (int)t->req_len) return;
  if (n < 0 && n != UV_EAGAIN) die("write failed");
  if (n < 0) n = 0;
  uv_write_t *w = malloc(sizeof *w);
  b = uv_buf_init(t->req + n, (unsigned)(t->req_len - (size_t)n));
  if (!w || uv_write(w, (uv_stream_t *)&h->tcp, &b, 1, free_write) != 0) die("write failed");
}

static void next_pair(client *c);

static void pair_step_done(client *c) {
  if (c->step == 0) {
    c->step = 1;
    send_req(&c->conn[(c->pair & 1) ? 0 : 1]);
    return;
  }
  if (c->pair >= opt.warmup) {
    long i = c->pair - opt.warmup;
    lat_a[i] = c->lat[0];
    lat_b[i] = c->lat[1];
    diff[i] = c->lat[1] - c->lat[0];
    ttfb_a[i] = c->ttfb[0];
    ttfb_b[i] = c->ttfb[1];
  }
  if (++pairs_done == opt.warmup) t_begin = uv_hrtime();
  next_pair(c);
}

static void next_pair(client *c) {
  if (pairs_started >= opt.warmup + opt.pairs) {
    if (++clients_done == opt.concurrency) {
      t_end = uv_hrtime();
      uv_stop(loop);
    }
    return;
  }
  c->pair = pairs_started++;
  c->step = 0;
  /* ABBA order: even pairs A first, odd pairs B first */
  send_req(&c->conn[(c->pair & 1) ? 1 : 0]);
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  (void)at;
  hconn *h = p->data;
  if (!h->got_body && len) {
    h->got_body = true;
    h->t_first = uv_hrtime();
  }
  return 0;
}

static void hold_on_complete(hconn *h, bool ok);

static int on_message_complete(llhttp_t *p) {
  hconn *h = p->data;
  uint64_t now = uv_hrtime();
  if (p->status_code != 200) bad_status++;
  h->done = true;
  if (opt.hold) {
    hold_on_complete(h, p->status_code == 200);
    return HPE_PAUSED;
  }
  client *c = h->cl;
  c->lat[h->ti] = (double)(now - h->t_send) / 1e3;
  c->ttfb[h->ti] = h->got_body ? (double)(h->t_first - h->t_send) / 1e3 : c->lat[h->ti];
  pair_step_done(c);
  return 0;
}

static const llhttp_settings_t settings = {.on_body = on_body, .on_message_complete = on_message_complete};

static void on_close_free(uv_handle_t *h) { (void)h; }

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  hconn *h = s->data;
  if (n < 0) {
    if (opt.hold) {
      if (!h->done) hold_on_complete(h, false);
      uv_close((uv_handle_t *)&h->tcp, on_close_free);
      return;
    }
    fprintf(stderr, "latency: %s closed the connection (%s)\n", opt.t[h->ti].name, uv_strerror((int)n));
    errors++;
    exit(1);
  }
  if (n == 0) return;
  llhttp_errno_t e = llhttp_execute(&h->parser, buf->base, (size_t)n);
  if (e == HPE_PAUSED && opt.hold) {
    uv_read_stop(s);
    uv_close((uv_handle_t *)&h->tcp, on_close_free);
    return;
  }
  if (e != HPE_OK) {
    fprintf(stderr, "latency: bad response from %s: %s\n", opt.t[h->ti].name, llhttp_errno_name(e));
    exit(1);
  }
}

static void on_connect(uv_connect_t *r, int status) {
  hconn *h = r->data;
  if (status < 0) {
    if (opt.hold) {
      hold_on_complete(h, false);
      return;
    }
    fprintf(stderr, "latency: connect to %s: %s\n", opt.t[h->ti].name, uv_strerror(status));
    exit(1);
  }
  h->connected = true;
  uv_tcp_nodelay(&h->tcp, 1);
  uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read);
  if (opt.hold) {
    send_req(h);
    return;
  }
  if (++h->cl->nconnected == 2) next_pair(h->cl);
}

static void conn_open(hconn *h, client *c, int ti) {
  h->cl = c;
  h->ti = ti;
  uv_tcp_init(loop, &h->tcp);
  h->tcp.data = h;
  h->creq.data = h;
  llhttp_init(&h->parser, HTTP_RESPONSE, &settings);
  h->parser.data = h;
  if (uv_tcp_connect(&h->creq, &h->tcp, (const struct sockaddr *)&opt.t[ti].addr, on_connect) != 0)
    die("connect failed");
}

/* ---- hold mode -------------------------------------------------------------------------------- */

static long vmrss_kb(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static void hold_finish(void) {
  for (int i = 0; i < opt.npids; i++) rss_after[i] = vmrss_kb(opt.pids[i]);
  uv_stop(loop);
}

static void hold_on_complete(hconn *h, bool ok) {
  if (h->got_body) h_started--; /* counted as open until now */
  h->got_body = false;
  if (ok) h_done++;
  else h_failed++;
  if (h_done + h_failed == opt.hold) hold_finish();
}

static int hold_on_body(llhttp_t *p, const char *at, size_t len) {
  (void)at;
  hconn *h = p->data;
  if (!h->got_body && len) {
    h->got_body = true;
    h_started++;
  }
  return 0;
}

static void on_hold_tick(uv_timer_t *t) {
  (void)t;
  for (int i = 0; i < opt.npids; i++) {
    long kb = vmrss_kb(opt.pids[i]);
    if (kb > rss_peak[i]) rss_peak[i] = kb;
  }
  uint64_t now = uv_now(loop);
  if (!h_measured && h_started == opt.hold) {
    if (!h_all_open_at) h_all_open_at = now;
    /* all open: keep the max over one second, then report */
    for (int i = 0; i < opt.npids; i++) {
      long kb = vmrss_kb(opt.pids[i]);
      if (kb > rss_open[i]) rss_open[i] = kb;
    }
    if (now - h_all_open_at >= 1000) {
      h_measured = true;
      fprintf(stderr, "latency: all %d streams open\n", opt.hold);
    }
  }
  if (now - h_start_ms > (uint64_t)opt.hold_timeout_s * 1000) {
    fprintf(stderr, "latency: hold timeout: %ld open, %ld done, %ld failed\n", h_started, h_done, h_failed);
    hold_finish();
  }
}

static void run_hold(void) {
  static llhttp_settings_t hs;
  hs = settings;
  hs.on_body = hold_on_body;
  for (int i = 0; i < opt.npids; i++) rss_idle[i] = rss_peak[i] = vmrss_kb(opt.pids[i]);
  hconn *hc = calloc((size_t)opt.hold, sizeof *hc);
  if (!hc) die("out of memory");
  for (int i = 0; i < opt.hold; i++) {
    conn_open(&hc[i], NULL, 1);
    llhttp_init(&hc[i].parser, HTTP_RESPONSE, &hs);
    hc[i].parser.data = &hc[i];
  }
  uv_timer_init(loop, &h_timer);
  uv_timer_start(&h_timer, on_hold_tick, 100, 100);
  uv_update_time(loop);
  h_start_ms = uv_now(loop);
  uint64_t t0 = uv_hrtime();
  uv_run(loop, UV_RUN_DEFAULT);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  if (opt.json) {
    printf("{\"streams\":%d,\"completed\":%ld,\"failed\":%ld,\"all_open\":%s,\"seconds\":%.1f", opt.hold, h_done,
           h_failed, h_measured ? "true" : "false", secs);
    for (int i = 0; i < opt.npids; i++)
      printf(",\"pid%d\":{\"rss_idle_kb\":%ld,\"rss_all_open_kb\":%ld,\"rss_peak_kb\":%ld,\"rss_after_kb\":%ld}", i,
             rss_idle[i], rss_open[i], rss_peak[i], rss_after[i]);
    printf("}\n");
  } else {
    printf("%d streams: %ld completed, %ld failed, all open at once: %s, %.1f s\n", opt.hold, h_done, h_failed,
           h_measured ? "yes" : "no", secs);
    for (int i = 0; i < opt.npids; i++)
      printf("pid %d: VmRSS idle %ld kB, all open %ld kB, peak %ld kB, after %ld kB\n", opt.pids[i], rss_idle[i],
             rss_open[i], rss_peak[i], rss_after[i]);
  }
}

/* ---- main ---------------------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: latency [options]\n"
          "  --a-url URL --a-body FILE [--a-header 'K: V']... [--a-name NAME]   target A (e.g. the mock)\n"
          "  --b-url URL --b-body FILE [--b-header 'K: V']... [--b-name NAME]   target B (e.g. pier)\n"
          "  -c N          concurrent clients, each with one connection per target (default 1)\n"
          "  -n N          measured request pairs (default 10000)\n"
          "  -w N          warm-up pairs, not measured (default 500)\n"
          "  --hold N      instead: open N requests to target B at once and keep them open\n"
          "  --pid PID     (hold) sample VmRSS of this process; repeatable\n"
          "  --timeout S   (hold) give up after S seconds (default 120)\n"
          "  --json        one JSON line instead of the table\n");
  exit(2);
}

int main(int argc, char **argv) {
  opt.t[0].name = "direct";
  opt.t[1].name = "pier";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) {
      opt.json = true;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) usage();
    target *t = (a[0] == '-' && a[1] == '-' && (a[2] == 'a' || a[2] == 'b') && a[3] == '-') ? &opt.t[a[2] == 'b'] : NULL;
    if (t && strcmp(a + 4, "url") == 0) t->url = v;
    else if (t && strcmp(a + 4, "body") == 0) t->body_file = v;
    else if (t && strcmp(a + 4, "name") == 0) t->name = v;
    else if (t && strcmp(a + 4, "header") == 0) {
      if (t->nheaders == HEADERS_MAX) usage();
      t->headers[t->nheaders++] = v;
    } else if (strcmp(a, "-c") == 0) opt.concurrency = atoi(v);
    else if (strcmp(a, "-n") == 0) opt.pairs = atol(v);
    else if (strcmp(a, "-w") == 0) opt.warmup = atol(v);
    else if (strcmp(a, "--hold") == 0) opt.hold = atoi(v);
    else if (strcmp(a, "--timeout") == 0) opt.hold_timeout_s = atoi(v);
    else if (strcmp(a, "--pid") == 0) {
      if (opt.npids == PIDS_MAX) usage();
      opt.pids[opt.npids++] = atoi(v);
    } else usage();
  }
  if (!opt.t[1].url || (!opt.hold && !opt.t[0].url) || opt.concurrency < 1 || opt.pairs < 1 || opt.warmup < 0)
    usage();
  loop = uv_default_loop();
  build_target(&opt.t[1]);
  if (opt.hold) {
    run_hold();
    return h_failed ? 1 : 0;
  }
  build_target(&opt.t[0]);
  lat_a = calloc((size_t)opt.pairs, sizeof(double));
  lat_b = calloc((size_t)opt.pairs, sizeof(double));
  diff = calloc((size_t)opt.pairs, sizeof(double));
  ttfb_a = calloc((size_t)opt.pairs, sizeof(double));
  ttfb_b = calloc((size_t)opt.pairs, sizeof(double));
  client *cl = calloc((size_t)opt.concurrency, sizeof *cl);
  if (!lat_a || !lat_b || !diff || !ttfb_a || !ttfb_b || !cl) die("out of memory");
  if (opt.warmup == 0) t_begin = uv_hrtime();
  for (int i = 0; i < opt.concurrency; i++) {
    conn_open(&cl[i].conn[0], &cl[i], 0);
    conn_open(&cl[i].conn[1], &cl[i], 1);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  report();
  return bad_status ? 1 : 0;
}
