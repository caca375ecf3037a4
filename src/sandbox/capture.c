/* capture.c — capped output capture (first and last bytes of a stream) and
 * the string vectors the argument builder uses. Invariant: a capture never
 * holds more than head_max + tail_max bytes whatever the command writes. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox_int.h"

/* ---- sb_strv --------------------------------------------------------------- */

void sb_strv_dispose(sb_strv *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

static int strv_take(sb_strv *s, char *str) {
  if (!str) return PIER_ENOMEM;
  if (s->n + 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 32;
    char **v = realloc(s->v, cap * sizeof *v);
    if (!v) {
      free(str);
      return PIER_ENOMEM;
    }
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = str;
  s->v[s->n] = NULL;
  return 0;
}

int sb_strv_push(sb_strv *s, const char *str) { return strv_take(s, strdup(str)); }

int sb_strv_pushn(sb_strv *s, const char *str, size_t len) { return strv_take(s, strndup(str, len)); }

int sb_strv_pushf(sb_strv *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *str = NULL;
  int n = vasprintf(&str, fmt, ap);
  va_end(ap);
  return strv_take(s, n < 0 ? NULL : str);
}

int sb_strv_serialize(const sb_strv *s, pier_buf *out) {
  for (size_t i = 0; i < s->n; i++) {
    int rc = pier_buf_append(out, s->v[i], strlen(s->v[i]) + 1);
    if (rc) return rc;
  }
  return 0;
}

int sb_strv_parse(const char *data, size_t len, sb_strv *out) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\0') continue;
    int rc = sb_strv_pushn(out, data + start, i - start);
    if (rc) return rc;
    start = i + 1;
  }
  return start == len ? 0 : PIER_EINVAL; /* the last argument must be terminated */
}

/* ---- sb_capture ------------------------------------------------------------ */

void sb_capture_init(sb_capture *c, size_t bytes_max) {
  memset(c, 0, sizeof *c);
  c->head_max = bytes_max / 2;
  c->tail_max = bytes_max - c->head_max;
}

void sb_capture_dispose(sb_capture *c) {
  free(c->head);
  free(c->tail);
  c->head = c->tail = NULL;
}

int sb_capture_feed(sb_capture *c, const char *p, size_t n) {
  c->total += n;
  if (c->head_len < c->head_max) {
    if (!c->head && !(c->head = malloc(c->head_max))) return PIER_ENOMEM;
    size_t k = c->head_max - c->head_len;
    if (k > n) k = n;
    memcpy(c->head + c->head_len, p, k);
    c->head_len += k;
    p += k;
    n -= k;
  }
  if (n == 0 || c->tail_max == 0) return 0;
  if (!c->tail && !(c->tail = malloc(c->tail_max))) return PIER_ENOMEM;
  if (n >= c->tail_max) { /* only the last tail_max bytes of this chunk survive */
    memcpy(c->tail, p + n - c->tail_max, c->tail_max);
    c->tail_pos = 0;
    c->tail_len = c->tail_max;
    return 0;
  }
  size_t first = c->tail_max - c->tail_pos;
  if (first > n) first = n;
  memcpy(c->tail + c->tail_pos, p, first);
  memcpy(c->tail, p + first, n - first);
  c->tail_pos = (c->tail_pos + n) % c->tail_max;
  c->tail_len = c->tail_len + n > c->tail_max ? c->tail_max : c->tail_len + n;
  return 0;
}

uint64_t sb_capture_dropped(const sb_capture *c) { return c->total - c->head_len - c->tail_len; }

int sb_capture_render(const sb_capture *c, pier_buf *out) {
  int rc = pier_buf_append(out, c->head ? c->head : "", c->head_len);
  uint64_t dropped = sb_capture_dropped(c);
  if (!rc && dropped) rc = pier_buf_appendf(out, "\n[pier: %llu bytes dropped]\n", (unsigned long long)dropped);
  if (rc || c->tail_len == 0) return rc;
  /* the ring's oldest byte is at tail_pos once it has wrapped */
  size_t start = c->tail_len < c->tail_max ? 0 : c->tail_pos;
  size_t first = c->tail_len < c->tail_max ? c->tail_len : c->tail_max - start;
  rc = pier_buf_append(out, c->tail + start, first);
  if (!rc) rc = pier_buf_append(out, c->tail, c->tail_len - first);
  return rc;
}
