/* multipart.h — streaming multipart/form-data parser (RFC 7578 over RFC 2046).
 * Bytes may arrive split anywhere; part data is handed out as it streams and never
 * buffered whole. Every count and size is capped; the first error is sticky. */
#ifndef PIER_HTTP_MULTIPART_H
#define PIER_HTTP_MULTIPART_H

#include <stddef.h>

#include "base/error.h"
#include "base/slice.h"

/* Defaults (kept here until they move to base/limits.h). */
#define PIER_MULTIPART_BOUNDARY_BYTES_MAX 70 /* RFC 2046 */
#define PIER_MULTIPART_PARTS_MAX 64
#define PIER_MULTIPART_FIELD_BYTES_MAX (4u * 1024 * 1024)
#define PIER_MULTIPART_FILE_BYTES_MAX (256u * 1024 * 1024)
#define PIER_MULTIPART_TOTAL_BYTES_MAX (512u * 1024 * 1024)
#define PIER_MULTIPART_HEADER_BYTES_MAX (8 * 1024) /* one part's header block */
#define PIER_MULTIPART_HEADERS_MAX 16              /* header lines in one part */

typedef struct pier_multipart_limits {
  size_t parts_max;        /* parts in the body */
  size_t field_bytes_max;  /* data of a part without filename */
  size_t file_bytes_max;   /* data of a part with a filename */
  size_t total_bytes_max;  /* everything fed, preamble and epilogue included */
                           /* (a zero field takes the default) */
  size_t header_bytes_max; /* one part's header block, CRLFs included */
  size_t headers_max;      /* header lines in one part */
} pier_multipart_limits;

/* What on_part_begin learns about a part. All borrowed, valid until on_part_end
 * (or until the parser fails). Strings are NUL-terminated, valid UTF-8, without
 * control bytes. In quoted values a backslash escapes only a tspecial (`\"` -> `"`,
 * `\\` -> `\`) and is kept before anything else ("C:\dir\a.txt" stays as is);
 * percent-escapes (`%22`, how browsers and curl write a quote) are left as they
 * are; `filename*=` is ignored. */
typedef struct pier_multipart_part {
  size_t index;           /* 0-based */
  pier_slice name;        /* the form field name; never empty */
  pier_slice filename;    /* ptr NULL when there is no filename parameter; a part
                             WITH one (even filename="") is a file part */
  pier_slice content_type; /* trimmed header value; when absent "text/plain" for a
                              field and "application/octet-stream" for a file */
} pier_multipart_part;

/* Callbacks return 0 to go on, or a negative PIER_E* to stop: the parser then
 * fails with that code and "part N was rejected: <strerror>". on_part_data gets
 * the part's bytes in order, in pieces of any size (never empty); on_part_end
 * runs once the part's closing delimiter is seen. Any callback may be NULL. */
typedef struct pier_multipart_callbacks {
  int (*on_part_begin)(void *ud, const pier_multipart_part *part);
  int (*on_part_data)(void *ud, pier_slice data);
  int (*on_part_end)(void *ud);
} pier_multipart_callbacks;

typedef struct pier_multipart pier_multipart;

/* Boundary from a Content-Type value, e.g. `multipart/form-data; boundary=xyz`
 * or `Multipart/Form-Data; charset=utf-8; BOUNDARY="a b"`: the media type is
 * matched case-insensitively, the parameter name too, the value may be quoted.
 * *boundary points into content_type (borrowed). PIER_EINVAL when the type is
 * not multipart/form-data, the parameter is missing, repeated, empty, longer
 * than 70 bytes, or holds a control byte, quote or backslash. */
int pier_multipart_boundary(pier_slice content_type, pier_slice *boundary) PIER_WUR;

void pier_multipart_limits_default(pier_multipart_limits *lim);

/* boundary is copied; lim NULL means the defaults; cb is copied; ud is passed
 * to every callback. PIER_EINVAL for a boundary pier_multipart_boundary would
 * reject. *out is owned by the caller (pier_multipart_destroy). */
int pier_multipart_create(pier_slice boundary, const pier_multipart_limits *lim,
                          const pier_multipart_callbacks *cb, void *ud, pier_multipart **out) PIER_WUR;
void pier_multipart_destroy(pier_multipart *p); /* NULL is a no-op */

/* Feed the next len bytes of the body. Returns 0, or the sticky error: once a
 * call failed every later call returns the same code without looking at data.
 * Codes: PIER_EPROTO malformed body, PIER_ETOOBIG a limit, PIER_ENOMEM, or what
 * a callback returned. Bytes after the closing delimiter are an epilogue and
 * are ignored (still counted in total_bytes_max). */
int pier_multipart_feed(pier_multipart *p, const void *data, size_t len) PIER_WUR;

/* End of body. 0 when the closing delimiter `--boundary--` was seen, else
 * PIER_EPROTO ("missing closing boundary ...") or the sticky error. */
int pier_multipart_finish(pier_multipart *p) PIER_WUR;

/* Human sentence for the sticky error, e.g. `field "init_params" is larger than
 * 4194304 bytes`; "" while there is none. Owned by p. */
const char *pier_multipart_error(const pier_multipart *p);

/* Number of parts begun so far. */
size_t pier_multipart_parts(const pier_multipart *p);

#endif
