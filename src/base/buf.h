/* buf.h — growable byte buffer with a hard cap. Every size that comes from input
 * goes through one of these; appends past `max` fail with PIER_ETOOBIG and leave
 * the contents unchanged. The data is always NUL-terminated for convenience. */
#ifndef PIER_BASE_BUF_H
#define PIER_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base/error.h"
#include "base/slice.h"

typedef struct pier_buf {
  char *ptr;  /* owned; NULL until the first append */
  size_t len;
  size_t cap;
  size_t max; /* hard cap on len; 0 = SIZE_MAX/2 */
} pier_buf;

void pier_buf_init(pier_buf *b, size_t max);
void pier_buf_dispose(pier_buf *b);
void pier_buf_reset(pier_buf *b); /* len = 0, memory kept */
int pier_buf_reserve(pier_buf *b, size_t extra) PIER_WUR;
int pier_buf_append(pier_buf *b, const void *p, size_t n) PIER_WUR;
int pier_buf_append_slice(pier_buf *b, pier_slice s) PIER_WUR;
int pier_buf_append_cstr(pier_buf *b, const char *s) PIER_WUR;
int pier_buf_putc(pier_buf *b, char c) PIER_WUR;
int pier_buf_appendf(pier_buf *b, const char *fmt, ...) PIER_WUR __attribute__((format(printf, 2, 3)));
int pier_buf_vappendf(pier_buf *b, const char *fmt, va_list ap) PIER_WUR __attribute__((format(printf, 2, 0)));
/* Append s as a JSON string literal (with quotes), escaping as RFC 8259 requires. */
int pier_buf_append_json_str(pier_buf *b, pier_slice s) PIER_WUR;
/* The same without the closing quote (the caller appends more, then '"'). */
int pier_buf_append_json_str_open(pier_buf *b, pier_slice s) PIER_WUR;
/* Drop the first n bytes. */
void pier_buf_consume(pier_buf *b, size_t n);
/* Hand the memory to the caller (who frees it); the buffer is left empty. */
char *pier_buf_detach(pier_buf *b, size_t *len_out);
static inline pier_slice pier_buf_slice(const pier_buf *b) {
  return (pier_slice){b->ptr ? b->ptr : "", b->len};
}

#endif
