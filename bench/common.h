/* bench/common.h — shared by the bench's C tools (latency.c, loadgen.c): fatal
 * errors, body files, the one request a client repeats, and sorting for
 * percentiles. Define BENCH_PROG (the tool's name) before including it. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void die(const char *msg) {
  fprintf(stderr, BENCH_PROG ": %s\n", msg);
  exit(2);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("cannot read a body file");
  fclose(f);
  b[n] = '\0';
  *len = (size_t)n;
  return b;
}

/* The bytes of one request to url = http://IP:PORT/PATH (numeric IPv4: the
 * benchmark is local), its address in *addr. With a body file: Content-Type
 * and Content-Length headers and the body. */
static char *build_request(const char *url, const char *method, const char *content_type, const char *body_file,
                           const char *const *headers, int nheaders, struct sockaddr_in *addr, size_t *len) {
  if (strncmp(url, "http://", 7) != 0) die("URL must start with http://");
  const char *hp = url + 7, *slash = strchr(hp, '/'), *colon = strchr(hp, ':');
  if (!slash || !colon || colon > slash) die("URL must be http://IP:PORT/path");
  char host[64];
  size_t hl = (size_t)(colon - hp);
  if (hl >= sizeof host) die("host too long");
  memcpy(host, hp, hl);
  host[hl] = '\0';
  if (uv_ip4_addr(host, atoi(colon + 1), addr) != 0) die("bad address");
  size_t blen = 0;
  char *body = body_file ? slurp(body_file, &blen) : NULL;
  if (body_file && !body) die("cannot open a body file");
  size_t cap = strlen(url) + strlen(method) + strlen(content_type) + blen + 1024;
  for (int i = 0; i < nheaders; i++) cap += strlen(headers[i]) + 2;
  char *req = malloc(cap);
  if (!req) die("out of memory");
  int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %.*s\r\n", method, slash, (int)(slash - hp), hp);
  if (body) n += snprintf(req + n, cap - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, blen);
  for (int i = 0; i < nheaders; i++) n += snprintf(req + n, cap - (size_t)n, "%s\r\n", headers[i]);
  n += snprintf(req + n, cap - (size_t)n, "\r\n");
  if (blen) memcpy(req + n, body, blen);
  *len = (size_t)n + blen;
  free(body);
  return req;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#endif
