/* fuzz_multipart.c — libFuzzer harness for the multipart parser and boundary extraction.
 * Oracle: the events and the verdict are the same however the body is split.
 * Input: limits byte, split-pattern byte, body (boundary "XyZ"); the whole input is
 * also tried as a Content-Type value. Seeds: a curl body with "XyZ" as boundary. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "http/multipart.h"

typedef struct rec {
  pier_buf t;
  size_t open; /* parts begun and not ended */
} rec;

static int on_begin(void *ud, const pier_multipart_part *pt) {
  rec *r = ud;
  if (pt->name.len == 0 || pt->name.ptr[pt->name.len] != '\0' || !pier_utf8_valid(pt->name)) abort();
  if (pt->filename.ptr && (pt->filename.ptr[pt->filename.len] != '\0' || !pier_utf8_valid(pt->filename))) abort();
  if (memchr(pt->name.ptr, '\0', pt->name.len) || r->open) abort();
  r->open++;
  if (pier_buf_appendf(&r->t, "<%zu %s|%s|%.*s>", pt->index, pt->name.ptr, pt->filename.ptr ? pt->filename.ptr : "-",
                       (int)pt->content_type.len, pt->content_type.ptr))
    return PIER_ENOMEM;
  return 0;
}

static int on_data(void *ud, pier_slice d) {
  rec *r = ud;
  if (d.len == 0 || r->open != 1) abort();
  return pier_buf_append_slice(&r->t, d);
}

static int on_end(void *ud) {
  rec *r = ud;
  if (r->open != 1) abort();
  r->open = 0;
  return pier_buf_append_cstr(&r->t, "</>");
}

typedef struct outcome {
  int rc;
  char msg[256];
  pier_buf t;
} outcome;

/* Feed body in pieces whose sizes cycle through sizes[] (0 = everything at once). */
static outcome run(const char *body, size_t len, const pier_multipart_limits *lim, const uint8_t *sizes, size_t n) {
  static const pier_multipart_callbacks cb = {on_begin, on_data, on_end};
  rec r = {0};
  pier_buf_init(&r.t, 1 << 20);
  pier_multipart *p;
  if (pier_multipart_create(PIER_SLICE_LIT("XyZ"), lim, &cb, &r, &p)) abort();
  outcome o = {0};
  size_t at = 0, k = 0;
  while (at < len && !o.rc) {
    size_t step = n ? (size_t)sizes[k++ % n] + 1 : len;
    if (step > len - at) step = len - at;
    o.rc = pier_multipart_feed(p, body + at, step);
    at += step;
  }
  int fin = pier_multipart_finish(p);
  if (o.rc && fin != o.rc) abort(); /* sticky */
  o.rc = fin;
  memcpy(o.msg, pier_multipart_error(p), strlen(pier_multipart_error(p)) + 1);
  if ((o.rc == 0) != (o.msg[0] == '\0')) abort();
  o.t = r.t;
  pier_multipart_destroy(p);
  return o;
}

static void limits_from(uint8_t b, pier_multipart_limits *lim) {
  memset(lim, 0, sizeof(*lim)); /* zero = default */
  if (b & 1) lim->parts_max = (b >> 1 & 3) + 1;
  if (b & 8) lim->field_bytes_max = (b >> 4) + 1;
  if (b & 16) lim->file_bytes_max = (b >> 5) + 1;
  if (b & 64) lim->header_bytes_max = 48;
  if (b & 128) lim->headers_max = 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  pier_slice bnd;
  pier_slice whole = pier_slice_make((const char *)data, size);
  if (pier_multipart_boundary(whole, &bnd) == 0 &&
      (bnd.len == 0 || bnd.len > 70 || bnd.ptr < whole.ptr || bnd.ptr + bnd.len > whole.ptr + whole.len))
    abort();
  pier_multipart_limits lim;
  limits_from(data[0], &lim);
  uint8_t sizes[4] = {data[1] & 7, data[1] >> 3 & 7, data[1] >> 6, 0};
  const char *body = (const char *)data + 2;
  size_t len = size - 2;
  outcome a = run(body, len, &lim, NULL, 0);
  outcome b = run(body, len, &lim, sizes, 3);
  outcome c = run(body, len, &lim, &sizes[3], 1); /* one byte at a time */
  if (a.rc != b.rc || a.rc != c.rc || strcmp(a.msg, b.msg) || strcmp(a.msg, c.msg)) abort();
  bool same = a.t.len == b.t.len && a.t.len == c.t.len &&
              (a.t.len == 0 || (memcmp(a.t.ptr, b.t.ptr, a.t.len) == 0 && memcmp(a.t.ptr, c.t.ptr, a.t.len) == 0));
  if (!a.rc && !same)
    abort();
  pier_buf_dispose(&a.t);
  pier_buf_dispose(&b.t);
  pier_buf_dispose(&c.t);
  return 0;
}
