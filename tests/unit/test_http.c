/* test_http.c — the HTTP glue in-process: a server on 127.0.0.1:0 with test
 * handlers, driven by blocking sockets. Pipelining order, chunked bodies,
 * 100-continue, limits, async answers, streaming, abort on disconnect. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/server.h"

static atomic_int aborted;

typedef struct later {
  uv_timer_t t;
  pier_http_req *req;
  int step;
} later;

static void later_closed(uv_handle_t *h) { free(h->data); }

static void later_fire(uv_timer_t *t) {
  later *l = t->data;
  pier_http_req *req = l->req;
  if (pier_slice_eq_cstr(req->path, "/stream")) {
    char chunk[32];
    int n = snprintf(chunk, sizeof chunk, "part%d;", l->step);
    assert_int_equal(pier_http_stream_write(req, chunk, (size_t)n), 0);
    if (++l->step < 3) return; /* repeating timer */
    pier_http_stream_end(req);
  } else {
    pier_http_respond(req, 200, "text/plain", NULL, "late", 4);
  }
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, later_closed);
}

static void on_abort(pier_http_req *req, void *arg) {
  (void)arg;
  atomic_fetch_add(&aborted, 1);
  pier_http_respond(req, 499, NULL, NULL, NULL, 0); /* ends it; the bytes go nowhere */
}

static void on_request(pier_http_req *req) {
  if (pier_slice_eq_cstr(req->path, "/echo")) {
    pier_http_respond(req, 200, "text/plain", "X-Test: 1\r\n", req->body.ptr, req->body.len);
  } else if (pier_slice_eq_cstr(req->path, "/later") || pier_slice_eq_cstr(req->path, "/stream")) {
    later *l = calloc(1, sizeof *l);
    l->req = req;
    uv_timer_init(pier_http_loop_uv(req->loop), &l->t);
    l->t.data = l;
    if (pier_slice_eq_cstr(req->path, "/stream"))
      assert_int_equal(pier_http_stream_begin(req, 200, "text/event-stream", NULL), 0);
    uv_timer_start(&l->t, later_fire, 30, 10);
  } else if (pier_slice_eq_cstr(req->path, "/hang")) {
    req->on_abort = on_abort;
  } else {
    pier_http_respond_error(req, 404, "no %.*s", (int)req->path.len, req->path.ptr);
  }
}

static pier_http_server *srv;

static int setup(void **state) {
  pier_http_config cfg = {.host = "127.0.0.1", .port = 0, .threads = 2, .body_bytes_max = 1024,
                          .request_timeout_ms = 300, .on_request = on_request};
  if (pier_http_server_create(&cfg, &srv) != 0) return -1;
  return pier_http_server_start(srv);
}

static int teardown(void **state) {
  pier_http_server_stop(srv);
  pier_http_server_destroy(srv);
  return 0;
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pier_http_server_port(srv))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Read until `want` bytes containing `until` appear, the peer closes or times out. */
static size_t rd(int fd, char *buf, size_t cap, const char *until) {
  size_t n = 0;
  while (n < cap - 1) {
    ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
    buf[n] = '\0';
    if (until && strstr(buf, until)) break;
  }
  buf[n] = '\0';
  return n;
}

static void send_all(int fd, const char *s) { assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s)); }

static void pipelined_in_order(void **state) {
  int fd = dial();
  send_all(fd, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
               "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[4096];
  rd(fd, buf, sizeof buf, "no /missing\"}");
  char *a = strstr(buf, "late"), *b = strstr(buf, "abc"), *c = strstr(buf, "404 Not Found");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_true(a < b && b < c);
  assert_non_null(strstr(buf, "X-Test: 1\r\n"));
  close(fd);
}

static void chunked_body_and_continue(void **state) {
  int fd = dial();
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
  char buf[4096];
  rd(fd, buf, sizeof buf, "\r\n\r\n");
  assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(fd, "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n");
  rd(fd, buf, sizeof buf, "hello");
  assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(buf, "Content-Length: 5\r\n"));
  assert_non_null(strstr(buf, "\r\n\r\nhello"));
  close(fd);
}

static void limits(void **state) {
  char buf[4096];
  int fd = dial();
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
  rd(fd, buf, sizeof buf, "}");
  assert_non_null(strstr(buf, "HTTP/1.1 413 "));
  assert_non_null(strstr(buf, "{\"detail\":\"request body is larger than 1024 bytes\"}"));
  close(fd);
  fd = dial();
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  char big[1200];
  memset(big, 'a', sizeof big);
  char head[16];
  snprintf(head, sizeof head, "%zx\r\n", sizeof big);
  send_all(fd, head);
  send(fd, big, sizeof big, 0);
  rd(fd, buf, sizeof buf, "}");
  assert_non_null(strstr(buf, "HTTP/1.1 413 "));
  close(fd);
  fd = dial();
  send_all(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n");
  static char hdr[70000];
  memset(hdr, 0, sizeof hdr);
  strcpy(hdr, "X-Big: ");
  memset(hdr + 7, 'b', 66000);
  strcat(hdr, "\r\n\r\n");
  send(fd, hdr, strlen(hdr), MSG_NOSIGNAL);
  rd(fd, buf, sizeof buf, "}");
  assert_non_null(strstr(buf, "HTTP/1.1 431 "));
  close(fd);
}

static void stall_gets_408(void **state) {
  int fd = dial();
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  char buf[4096];
  rd(fd, buf, sizeof buf, "}");
  assert_non_null(strstr(buf, "HTTP/1.1 408 Request Timeout\r\n"));
  assert_non_null(strstr(buf, "Connection: close\r\n"));
  close(fd);
}

static void garbage_closes_only_that_connection(void **state) {
  int good = dial();
  int bad = dial();
  send_all(bad, "\x01\x02 NOT HTTP\r\n\r\n");
  char buf[4096];
  rd(bad, buf, sizeof buf, "}");
  assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request"));
  assert_true(recv(bad, buf, sizeof buf, 0) <= 0); /* closed */
  close(bad);
  send_all(good, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
  rd(good, buf, sizeof buf, "\r\n\r\nok");
  assert_non_null(strstr(buf, "200 OK"));
  close(good);
}

static void streaming_chunks(void **state) {
  int fd = dial();
  send_all(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  char buf[4096];
  rd(fd, buf, sizeof buf, "0\r\n\r\n");
  assert_non_null(strstr(buf, "Transfer-Encoding: chunked\r\n"));
  assert_non_null(strstr(buf, "\r\n\r\n6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n"));
  close(fd);
}

static void disconnect_aborts(void **state) {
  atomic_store(&aborted, 0);
  int fd = dial();
  send_all(fd, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
  usleep(50000); /* let the request reach its handler */
  close(fd);
  for (int i = 0; i < 200 && atomic_load(&aborted) == 0; i++) usleep(10000);
  assert_int_equal(atomic_load(&aborted), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pipelined_in_order), cmocka_unit_test(chunked_body_and_continue),
      cmocka_unit_test(limits),             cmocka_unit_test(stall_gets_408),
      cmocka_unit_test(garbage_closes_only_that_connection), cmocka_unit_test(streaming_chunks),
      cmocka_unit_test(disconnect_aborts),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
