/* sse.h — incremental text/event-stream parser (WHATWG event-stream rules):
 * lines end in CR, LF or CRLF; "event:" and "data:" fields (data lines joined
 * with \n); comments (":...") and other fields ignored; an event is dispatched
 * at a blank line. Bytes may be split anywhere; every buffer is capped. */
#ifndef PIER_LLM_SSE_H
#define PIER_LLM_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

/* event is "" when the stream gave none (i.e. "message"). Both borrowed for
 * the call. Non-zero stops the parser (sticky). */
typedef int (*pier_sse_on_event)(void *arg, pier_slice event, pier_slice data);

typedef struct pier_sse_parser {
  pier_buf line;   /* the current line (without its terminator) */
  pier_buf data;   /* data of the current event */
  char event[64];
  size_t event_len;
  bool has_data;
  bool skip_lf;    /* last byte was CR: a following LF belongs to it */
  int err;         /* sticky */
} pier_sse_parser;

/* event_bytes_max caps one line and one event's data (0 = 1 MiB). */
void pier_sse_init(pier_sse_parser *p, size_t event_bytes_max);
void pier_sse_dispose(pier_sse_parser *p);
/* PIER_ETOOBIG past the cap, or the callback's value; sticky. */
int pier_sse_feed(pier_sse_parser *p, const char *bytes, size_t len, pier_sse_on_event cb, void *arg) PIER_WUR;

#endif
