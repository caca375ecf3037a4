/* sse.c — line splitter + field handling for text/event-stream. */
#include "llm/sse.h"

#include <string.h>

void pier_sse_init(pier_sse_parser *p, size_t max) {
  memset(p, 0, sizeof *p);
  if (!max) max = 1u << 20;
  pier_buf_init(&p->line, max);
  pier_buf_init(&p->data, max);
}

void pier_sse_dispose(pier_sse_parser *p) {
  pier_buf_dispose(&p->line);
  pier_buf_dispose(&p->data);
}

static int dispatch(pier_sse_parser *p, pier_sse_on_event cb, void *arg) {
  int rc = 0;
  if (p->has_data) rc = cb(arg, pier_slice_make(p->event, p->event_len), pier_buf_slice(&p->data));
  pier_buf_reset(&p->data);
  p->has_data = false;
  p->event_len = 0;
  return rc;
}

static int field(pier_sse_parser *p, pier_slice line, pier_sse_on_event cb, void *arg) {
  if (line.len == 0) return dispatch(p, cb, arg);
  if (line.ptr[0] == ':') return 0; /* comment / keep-alive */
  long colon = pier_slice_find(line, ':');
  pier_slice name = pier_slice_make(line.ptr, colon >= 0 ? (size_t)colon : line.len);
  pier_slice value = colon >= 0 ? pier_slice_make(line.ptr + colon + 1, line.len - (size_t)colon - 1) : PIER_SLICE_NULL;
  if (value.len && value.ptr[0] == ' ') value.ptr++, value.len--;
  if (pier_slice_eq_cstr(name, "data")) {
    int rc = 0;
    if (p->has_data) rc = pier_buf_putc(&p->data, '\n');
    if (!rc) rc = pier_buf_append_slice(&p->data, value);
    p->has_data = true;
    return rc;
  }
  if (pier_slice_eq_cstr(name, "event")) {
    p->event_len = value.len < sizeof p->event ? value.len : sizeof p->event - 1;
    memcpy(p->event, value.ptr, p->event_len);
  }
  return 0;
}

int pier_sse_feed(pier_sse_parser *p, const char *bytes, size_t len, pier_sse_on_event cb, void *arg) {
  if (p->err) return p->err;
  size_t i = 0;
  while (i < len && !p->err) {
    if (p->skip_lf) {
      p->skip_lf = false;
      if (bytes[i] == '\n') {
        i++;
        continue;
      }
    }
    const char *cr = memchr(bytes + i, '\r', len - i);
    const char *lf = memchr(bytes + i, '\n', len - i);
    const char *eol = !cr ? lf : !lf ? cr : (cr < lf ? cr : lf);
    if (!eol) {
      p->err = pier_buf_append(&p->line, bytes + i, len - i);
      break;
    }
    size_t n = (size_t)(eol - (bytes + i));
    pier_slice line;
    if (p->line.len) {
      if ((p->err = pier_buf_append(&p->line, bytes + i, n))) break;
      line = pier_buf_slice(&p->line);
    } else {
      line = pier_slice_make(bytes + i, n);
    }
    p->err = field(p, line, cb, arg);
    pier_buf_reset(&p->line);
    if (*eol == '\r') p->skip_lf = true;
    i += n + 1;
  }
  return p->err;
}
