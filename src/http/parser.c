/* parser.c — llhttp callbacks that fill a pier_http_req, enforcing the URL,
 * header and body caps of limits.h as bytes arrive (never after). */
#include <stdlib.h>
#include <string.h>

#include "http/server_int.h"

static pier_http_conn *C(llhttp_t *p) { return p->data; }

static int fail(llhttp_t *p, int status, const char *reason) {
  C(p)->error_status = status;
  C(p)->error_reason = reason;
  llhttp_set_error_reason(p, reason);
  return HPE_USER;
}

static int on_message_begin(llhttp_t *p) {
  pier_http_conn *c = C(p);
  pier_http_req *r = calloc(1, sizeof *r);
  if (!r) return fail(p, 500, "out of memory");
  pier_arena_init(&r->arena);
  pier_buf_init(&r->body, c->loop->srv->cfg.body_bytes_max);
  r->headers = pier_arena_alloc(&r->arena, sizeof(pier_http_header) * PIER_HTTP_HEADERS_COUNT_MAX);
  if (!r->headers) {
    free(r);
    return fail(p, 500, "out of memory");
  }
  r->conn = c;
  c->req = r;
  c->in_request = true;
  c->header_bytes = 0;
  c->error_status = 0;
  c->error_reason = NULL;
  pier_buf_reset(&c->url);
  pier_buf_reset(&c->hfield);
  pier_buf_reset(&c->hvalue);
  return 0;
}

static int count(llhttp_t *p, size_t n) {
  pier_http_conn *c = C(p);
  c->header_bytes += n;
  return c->header_bytes > PIER_HTTP_HEADER_BYTES_MAX ? fail(p, 431, "headers too large") : 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  if (pier_buf_append(&C(p)->url, at, n) != 0) return fail(p, 414, "URL too long");
  return count(p, n);
}

static int on_url_complete(llhttp_t *p) {
  pier_http_conn *c = C(p);
  pier_http_req *r = c->req;
  pier_slice u = pier_buf_slice(&c->url);
  /* absolute-form (RFC 9112 §3.2.2): "http://host[:port]/path?q" -> "/path?q" */
  if (pier_slice_istarts_with(u, "http://") || pier_slice_istarts_with(u, "https://")) {
    size_t skip = u.ptr[4] == ':' ? 7 : 8;
    pier_slice rest = pier_slice_make(u.ptr + skip, u.len - skip);
    long slash = pier_slice_find(rest, '/');
    u = slash >= 0 ? pier_slice_make(rest.ptr + slash, rest.len - (size_t)slash) : PIER_SLICE_LIT("/");
  }
  char *copy = pier_arena_strdup(&r->arena, u);
  if (!copy) return fail(p, 500, "out of memory");
  long q = pier_slice_find(u, '?');
  long h = pier_slice_find(u, '#');
  size_t end = h >= 0 ? (size_t)h : u.len;
  if (q >= 0 && (size_t)q < end) {
    r->path = pier_slice_make(copy, (size_t)q);
    r->query = pier_slice_make(copy + q + 1, end - (size_t)q - 1);
  } else {
    r->path = pier_slice_make(copy, end);
  }
  if (r->path.len == 0 || r->path.ptr[0] != '/')
    return fail(p, 400, "the request target must be a path starting with \"/\" (or an absolute http:// URL)");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  if (pier_buf_append(&C(p)->hfield, at, n) != 0) return fail(p, 431, "header too large");
  return count(p, n);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  if (pier_buf_append(&C(p)->hvalue, at, n) != 0) return fail(p, 431, "header too large");
  return count(p, n);
}

static int on_header_value_complete(llhttp_t *p) {
  pier_http_conn *c = C(p);
  pier_http_req *r = c->req;
  if (r->nheaders >= PIER_HTTP_HEADERS_COUNT_MAX) return fail(p, 431, "too many headers");
  char *name = pier_arena_strdup(&r->arena, pier_buf_slice(&c->hfield));
  char *value = pier_arena_strdup(&r->arena, pier_buf_slice(&c->hvalue));
  if (!name || !value) return fail(p, 500, "out of memory");
  for (char *s = name; *s; s++)
    if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
  r->headers[r->nheaders].name = pier_slice_make(name, c->hfield.len);
  r->headers[r->nheaders].value = pier_slice_trim(pier_slice_make(value, c->hvalue.len));
  r->nheaders++;
  pier_buf_reset(&c->hfield);
  pier_buf_reset(&c->hvalue);
  return 0;
}

static const char *continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

static void on_continue_written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static int on_headers_complete(llhttp_t *p) {
  pier_http_conn *c = C(p);
  pier_http_req *r = c->req;
  size_t max = c->loop->srv->cfg.body_bytes_max;
  r->method = llhttp_get_method(p);
  r->method_name = pier_slice_from(llhttp_method_name((llhttp_method_t)r->method));
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > max) return fail(p, 413, "body too large");
  pier_slice expect = pier_http_header_get(r, "expect");
  if (expect.len) {
    if (!pier_slice_ieq_cstr(expect, "100-continue")) return fail(p, 417, "unsupported expectation");
    if (p->http_major == 1 && p->http_minor >= 1) {
      uv_write_t *w = malloc(sizeof *w);
      uv_buf_t b = uv_buf_init((char *)continue_line, (unsigned)strlen(continue_line));
      if (!w || uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_continue_written) != 0) free(w);
    }
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  if (pier_buf_append(&C(p)->req->body, at, n) != 0) return fail(p, 413, "body too large");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED; /* hand the request over outside llhttp_execute */
}

const llhttp_settings_t pier_http_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};
