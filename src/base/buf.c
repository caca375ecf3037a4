/* buf.c — capped growable buffers. Growth doubles; the cap is checked before
 * any allocation so a peer's declared length never sizes memory. */
#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pier_buf_init(pier_buf *b, size_t max) {
  b->ptr = NULL;
  b->len = b->cap = 0;
  b->max = max ? max : SIZE_MAX / 2;
}

void pier_buf_dispose(pier_buf *b) {
  free(b->ptr);
  b->ptr = NULL;
  b->len = b->cap = 0;
}

void pier_buf_reset(pier_buf *b) {
  b->len = 0;
  if (b->ptr) b->ptr[0] = '\0';
}

int pier_buf_reserve(pier_buf *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra) return PIER_ETOOBIG;
  size_t need = b->len + extra + 1; /* +1 for the NUL */
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 4 ? need : cap * 2;
  char *p = realloc(b->ptr, cap);
  if (!p) return PIER_ENOMEM;
  b->ptr = p;
  b->cap = cap;
  return 0;
}

int pier_buf_append(pier_buf *b, const void *p, size_t n) {
  int rc = pier_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->ptr + b->len, p, n);
  b->len += n;
  b->ptr[b->len] = '\0';
  return 0;
}

int pier_buf_append_slice(pier_buf *b, pier_slice s) { return pier_buf_append(b, s.ptr, s.len); }
int pier_buf_append_cstr(pier_buf *b, const char *s) { return pier_buf_append(b, s, strlen(s)); }
int pier_buf_putc(pier_buf *b, char c) { return pier_buf_append(b, &c, 1); }

/* Formats once into the spare capacity (grown to at least 256 bytes first);
 * only an output that did not fit is formatted a second time. */
int pier_buf_vappendf(pier_buf *b, const char *fmt, va_list ap) {
  size_t spare = b->cap > b->len ? b->cap - b->len : 0;
  if (spare < 256 && b->max - b->len >= 255) {
    int rc = pier_buf_reserve(b, 255);
    if (rc) return rc;
    spare = b->cap - b->len;
  }
  va_list ap2;
  va_copy(ap2, ap);
  int n = spare ? vsnprintf(b->ptr + b->len, spare, fmt, ap2) : vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    if (b->ptr) b->ptr[b->len] = '\0';
    return PIER_EINVAL;
  }
  if ((size_t)n < spare) {
    if ((size_t)n > b->max - b->len) { /* fitted the allocation but not the cap */
      b->ptr[b->len] = '\0';
      return PIER_ETOOBIG;
    }
    b->len += (size_t)n;
    return 0;
  }
  int rc = pier_buf_reserve(b, (size_t)n);
  if (rc) {
    if (b->ptr) b->ptr[b->len] = '\0';
    return rc;
  }
  vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int pier_buf_appendf(pier_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = pier_buf_vappendf(b, fmt, ap);
  va_end(ap);
  return rc;
}

int pier_buf_append_json_str(pier_buf *b, pier_slice s) {
  int rc = pier_buf_append_json_str_open(b, s);
  return rc ? rc : pier_buf_putc(b, '"');
}

int pier_buf_append_json_str_open(pier_buf *b, pier_slice s) {
  static const char hex[] = "0123456789abcdef";
  int rc = pier_buf_reserve(b, s.len + 2);
  if (rc) return rc;
  b->ptr[b->len++] = '"';
  size_t run = 0; /* bytes copied verbatim in one go */
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if ((rc = pier_buf_append(b, s.ptr + run, i - run))) return rc;
    run = i + 1;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t n = 2;
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    default:
      esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
      n = 6;
    }
    if ((rc = pier_buf_append(b, esc, n))) return rc;
  }
  return pier_buf_append(b, s.ptr + run, s.len - run);
}

void pier_buf_consume(pier_buf *b, size_t n) {
  if (n >= b->len) {
    pier_buf_reset(b);
    return;
  }
  memmove(b->ptr, b->ptr + n, b->len - n);
  b->len -= n;
  b->ptr[b->len] = '\0';
}

char *pier_buf_detach(pier_buf *b, size_t *len_out) {
  char *p = b->ptr;
  if (len_out) *len_out = b->len;
  if (!p) p = calloc(1, 1);
  b->ptr = NULL;
  b->len = b->cap = 0;
  return p;
}
