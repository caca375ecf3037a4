/* multipart.c — incremental multipart/form-data parser, one byte-exact state machine.
 * Invariant: part data is emitted as soon as it cannot be the start of the delimiter
 * "\r\n--boundary"; only a partial delimiter match (at most 74 bytes) is held back. */
#include "http/multipart.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"

/* Grammar (RFC 2046 §5.1.1, RFC 7578):
 *   body      = preamble? "--" boundary padding CRLF part *(CRLF "--" boundary padding CRLF part)
 *               CRLF "--" boundary "--" epilogue?
 *   part      = *(header CRLF) CRLF data
 *   padding   = *(SP / HTAB)
 * The stream is treated as if it began with CRLF, so the first boundary line
 * matches the same delimiter as every later one. A boundary holds no CR, so on a
 * mismatch the held-back bytes can never contain the start of a new match. */

enum { S_PREAMBLE, S_TAIL, S_HEADERS, S_DATA, S_EPILOGUE, S_FAILED };
enum { T_START, T_DASH, T_PAD, T_CR }; /* after "\r\n--boundary" */

struct pier_multipart {
  pier_multipart_limits lim;
  pier_multipart_callbacks cb;
  void *ud;
  char delim[4 + PIER_MULTIPART_BOUNDARY_BYTES_MAX]; /* "\r\n--" boundary */
  size_t delim_len;
  int state, tail;
  size_t match;      /* delimiter bytes matched and held back */
  size_t parts;      /* parts begun */
  bool in_part;      /* between on_part_begin and on_part_end */
  size_t part_bytes; /* data bytes of the current part */
  size_t total;      /* bytes fed */
  /* current part's headers */
  pier_buf line;
  size_t hdr_bytes, hdr_lines;
  pier_buf name, filename, ctype;
  bool has_disp, has_name, has_filename, has_ctype;
  int err;
  char errmsg[256];
};

__attribute__((format(printf, 3, 4))) static int fail(pier_multipart *p, int code, const char *fmt, ...) {
  if (p->err) return p->err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
  va_end(ap);
  p->err = code;
  p->state = S_FAILED;
  return code;
}

static int rejected(pier_multipart *p, int rc) {
  if (rc > 0) rc = PIER_EINVAL;
  return fail(p, rc, "part %zu was rejected: %s", p->parts, pier_strerror(rc));
}

static int oom(pier_multipart *p) { return fail(p, PIER_ENOMEM, "out of memory"); }

/* ---- small cursor over header bytes ---- */

typedef struct cur {
  const char *p;
  size_t n, i;
} cur;

static bool at_end(const cur *c) { return c->i >= c->n; }
static char peek(const cur *c) { return c->i < c->n ? c->p[c->i] : '\0'; }
static void skip_ows(cur *c) {
  while (c->i < c->n && (c->p[c->i] == ' ' || c->p[c->i] == '\t')) c->i++;
}
static bool is_stop(char ch, const char *stops, size_t nstops) { return memchr(stops, ch, nstops) != NULL; }

/* Bytes up to one of stops (or the end), trimmed of spaces. */
static pier_slice take_until(cur *c, const char *stops) {
  size_t start = c->i, nstops = strlen(stops);
  while (c->i < c->n && !is_stop(c->p[c->i], stops, nstops)) c->i++;
  return pier_slice_trim(pier_slice_make(c->p + start, c->i - start));
}

static bool tspecial(char ch) { return ch && memchr("()<>@,;:\\\"/[]?=", ch, 15); }

/* quoted-string at c (on the opening quote): unescaped into out when out is not
 * NULL; *raw gets the bytes between the quotes. PIER_EPROTO if unterminated.
 * A backslash escapes only a tspecial (`\"`, `\\`); before anything else it is
 * a literal backslash — browsers and curl (7.88 checked) never escape (they write `"` as
 * %22) and old MSIE sent raw paths like "C:\dir\a.txt" (Go's mime does the same). */
static int take_quoted(cur *c, pier_buf *out, pier_slice *raw) {
  size_t start = ++c->i;
  while (c->i < c->n && c->p[c->i] != '"') {
    if (c->p[c->i] == '\\' && c->i + 1 < c->n && tspecial(c->p[c->i + 1])) c->i++;
    if (out && pier_buf_putc(out, c->p[c->i])) return PIER_ENOMEM;
    c->i++;
  }
  if (c->i >= c->n) return PIER_EPROTO;
  *raw = pier_slice_make(c->p + start, c->i - start);
  c->i++;
  return 0;
}

/* ---- boundary ---- */

static bool boundary_ok(pier_slice b) {
  if (b.len == 0 || b.len > PIER_MULTIPART_BOUNDARY_BYTES_MAX || b.ptr[b.len - 1] == ' ') return false;
  for (size_t i = 0; i < b.len; i++) {
    unsigned char ch = (unsigned char)b.ptr[i];
    if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\') return false;
  }
  return true;
}

/* One `; name=value` parameter; *value is raw (quotes stripped, no escapes allowed). */
static int take_param(cur *c, pier_slice *name, pier_slice *value) {
  *name = take_until(c, "=;");
  if (peek(c) != '=' || name->len == 0) return PIER_EINVAL;
  c->i++;
  skip_ows(c);
  if (peek(c) == '"') {
    size_t open = c->i;
    if (take_quoted(c, NULL, value)) return PIER_EINVAL;
    if (memchr(c->p + open, '\\', c->i - open)) return PIER_EINVAL;
  } else {
    *value = take_until(c, "; \t");
  }
  skip_ows(c);
  return 0;
}

int pier_multipart_boundary(pier_slice ct, pier_slice *boundary) {
  cur c = {ct.ptr, ct.ptr ? ct.len : 0, 0};
  if (!pier_slice_ieq_cstr(take_until(&c, ";"), "multipart/form-data")) return PIER_EINVAL;
  pier_slice found = PIER_SLICE_NULL;
  while (!at_end(&c)) {
    if (peek(&c) != ';') return PIER_EINVAL;
    c.i++;
    skip_ows(&c);
    if (at_end(&c)) break;
    pier_slice name, value;
    if (take_param(&c, &name, &value)) return PIER_EINVAL;
    if (!pier_slice_ieq_cstr(name, "boundary")) continue;
    if (found.ptr) return PIER_EINVAL;
    found = value;
  }
  if (!found.ptr || !boundary_ok(found)) return PIER_EINVAL;
  *boundary = found;
  return 0;
}

/* ---- lifecycle ---- */

void pier_multipart_limits_default(pier_multipart_limits *lim) {
  lim->parts_max = PIER_MULTIPART_PARTS_MAX;
  lim->field_bytes_max = PIER_MULTIPART_FIELD_BYTES_MAX;
  lim->file_bytes_max = PIER_MULTIPART_FILE_BYTES_MAX;
  lim->total_bytes_max = PIER_MULTIPART_TOTAL_BYTES_MAX;
  lim->header_bytes_max = PIER_MULTIPART_HEADER_BYTES_MAX;
  lim->headers_max = PIER_MULTIPART_HEADERS_MAX;
}

/* A zero limit means the default. */
static void fill_defaults(pier_multipart_limits *l) {
  pier_multipart_limits d;
  pier_multipart_limits_default(&d);
  if (!l->parts_max) l->parts_max = d.parts_max;
  if (!l->field_bytes_max) l->field_bytes_max = d.field_bytes_max;
  if (!l->file_bytes_max) l->file_bytes_max = d.file_bytes_max;
  if (!l->total_bytes_max) l->total_bytes_max = d.total_bytes_max;
  if (!l->header_bytes_max) l->header_bytes_max = d.header_bytes_max;
  if (!l->headers_max) l->headers_max = d.headers_max;
}

int pier_multipart_create(pier_slice boundary, const pier_multipart_limits *lim, const pier_multipart_callbacks *cb,
                          void *ud, pier_multipart **out) {
  *out = NULL;
  if (!boundary_ok(boundary)) return PIER_EINVAL;
  pier_multipart *p = calloc(1, sizeof(*p));
  if (!p) return PIER_ENOMEM;
  if (lim) p->lim = *lim;
  else pier_multipart_limits_default(&p->lim);
  fill_defaults(&p->lim);
  if (cb) p->cb = *cb;
  p->ud = ud;
  memcpy(p->delim, "\r\n--", 4);
  memcpy(p->delim + 4, boundary.ptr, boundary.len);
  p->delim_len = 4 + boundary.len;
  p->state = S_PREAMBLE;
  p->match = 2; /* the virtual CRLF before the first boundary */
  size_t hmax = p->lim.header_bytes_max;
  pier_buf_init(&p->line, hmax);
  pier_buf_init(&p->name, hmax);
  pier_buf_init(&p->filename, hmax);
  pier_buf_init(&p->ctype, hmax);
  *out = p;
  return 0;
}

void pier_multipart_destroy(pier_multipart *p) {
  if (!p) return;
  pier_buf_dispose(&p->line);
  pier_buf_dispose(&p->name);
  pier_buf_dispose(&p->filename);
  pier_buf_dispose(&p->ctype);
  free(p);
}

const char *pier_multipart_error(const pier_multipart *p) { return p->errmsg; }
size_t pier_multipart_parts(const pier_multipart *p) { return p->parts; }

/* ---- part data ---- */

static int too_big(pier_multipart *p, size_t max) {
  if (p->has_filename)
    return fail(p, PIER_ETOOBIG, "file \"%s\" (field \"%s\") is larger than %zu bytes", pier_buf_slice(&p->filename).ptr,
                pier_buf_slice(&p->name).ptr, max);
  return fail(p, PIER_ETOOBIG, "field \"%s\" is larger than %zu bytes", pier_buf_slice(&p->name).ptr, max);
}

static int emit(pier_multipart *p, const char *d, size_t n) {
  size_t max = p->has_filename ? p->lim.file_bytes_max : p->lim.field_bytes_max;
  if (n > max - p->part_bytes) return too_big(p, max);
  p->part_bytes += n;
  int rc = p->cb.on_part_data ? p->cb.on_part_data(p->ud, pier_slice_make(d, n)) : 0;
  return rc ? rejected(p, rc) : 0;
}

static void delimiter_seen(pier_multipart *p) {
  p->state = S_TAIL;
  p->tail = T_START;
  p->match = 0;
}

/* Emit everything that cannot be part of the delimiter. Bytes of this feed go out
 * in as few calls as possible: a false start inside s simply stays in the run;
 * only held bytes from an earlier feed (ext) are emitted from the delimiter copy. */
static size_t on_data(pier_multipart *p, const char *s, size_t len, size_t i) {
  size_t run = i;        /* first byte of s not yet emitted */
  size_t ext = p->match; /* held bytes that came from earlier feeds */
  while (i < len) {
    if (p->match == 0) {
      const char *cr = memchr(s + i, '\r', len - i);
      if (!cr) break;
      i = (size_t)(cr - s) + 1;
      p->match = 1;
    } else if (s[i] == p->delim[p->match]) {
      i++;
      if (++p->match < p->delim_len) continue;
      size_t end = i - (p->delim_len - ext);
      if (end > run && emit(p, s + run, end - run)) return len;
      delimiter_seen(p);
      return i;
    } else { /* a false start: the held bytes were data; s[i] is looked at again */
      if (ext && emit(p, p->delim, ext)) return len;
      ext = 0;
      p->match = 0;
    }
  }
  size_t keep = p->match - ext; /* the tail of s that may start the delimiter */
  if (len - keep > run) emit(p, s + run, len - keep - run);
  return len;
}

static size_t on_preamble(pier_multipart *p, const char *s, size_t len, size_t i) {
  for (; i < len; i++) {
    if (s[i] != p->delim[p->match]) {
      p->match = s[i] == '\r';
      continue;
    }
    if (++p->match == p->delim_len) {
      delimiter_seen(p);
      return i + 1;
    }
  }
  return i;
}

/* ---- delimiter line ---- */

static int end_part(pier_multipart *p) {
  if (!p->in_part) return 0;
  p->in_part = false;
  int rc = p->cb.on_part_end ? p->cb.on_part_end(p->ud) : 0;
  return rc ? rejected(p, rc) : 0;
}

static int start_headers(pier_multipart *p) {
  if (p->parts >= p->lim.parts_max) return fail(p, PIER_ETOOBIG, "more than %zu parts", p->lim.parts_max);
  pier_buf_reset(&p->line);
  pier_buf_reset(&p->name);
  pier_buf_reset(&p->filename);
  pier_buf_reset(&p->ctype);
  p->hdr_bytes = p->hdr_lines = 0;
  p->has_disp = p->has_name = p->has_filename = p->has_ctype = false;
  p->state = S_HEADERS;
  return 0;
}

static int bad_tail(pier_multipart *p) {
  if (p->in_part)
    return fail(p, PIER_EPROTO, "the boundary after part %zu must be followed by CRLF or \"--\"", p->parts);
  return fail(p, PIER_EPROTO, "the first boundary line must end with CRLF");
}

/* After "\r\n--boundary": "--" closes the body, padding CRLF opens the next part. */
static size_t on_tail(pier_multipart *p, const char *s, size_t len, size_t i) {
  for (; i < len; i++) {
    char c = s[i];
    if (p->tail == T_START && c == '-') {
      p->tail = T_DASH;
    } else if (p->tail == T_DASH) {
      if (c != '-') return bad_tail(p), len;
      if (!end_part(p)) p->state = S_EPILOGUE;
      return i + 1;
    } else if (p->tail == T_CR) {
      if (c != '\n') return bad_tail(p), len;
      if (!end_part(p)) start_headers(p);
      return i + 1;
    } else if (c == ' ' || c == '\t') {
      p->tail = T_PAD;
    } else if (c == '\r') {
      p->tail = T_CR;
    } else {
      return bad_tail(p), len;
    }
  }
  return i;
}

/* ---- part headers ---- */

static bool token_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && memchr("!#$%&'*+-.^_`|~", c, 15));
}

static int bad_disposition(pier_multipart *p) {
  return fail(p, PIER_EPROTO, "part %zu: malformed Content-Disposition header", p->parts + 1);
}

/* One `; param=value` of Content-Disposition; only name and filename are kept. */
static int disposition_param(pier_multipart *p, cur *c) {
  size_t no = p->parts + 1;
  pier_slice pname = take_until(c, "=;");
  if (peek(c) != '=' || pname.len == 0) return bad_disposition(p);
  c->i++;
  skip_ows(c);
  pier_buf *dst = NULL;
  bool *seen = NULL;
  if (pier_slice_ieq_cstr(pname, "name")) dst = &p->name, seen = &p->has_name;
  else if (pier_slice_ieq_cstr(pname, "filename")) dst = &p->filename, seen = &p->has_filename;
  if (seen && *seen)
    return fail(p, PIER_EPROTO, "part %zu: Content-Disposition has two %s parameters", no,
                dst == &p->name ? "name" : "filename");
  if (seen) *seen = true;
  pier_slice raw;
  if (peek(c) == '"') {
    int rc = take_quoted(c, dst, &raw);
    if (rc == PIER_ENOMEM) return oom(p);
    if (rc) return fail(p, PIER_EPROTO, "part %zu: unterminated quoted string in Content-Disposition", no);
  } else {
    raw = take_until(c, ";");
    if (dst && pier_buf_append_slice(dst, raw)) return oom(p);
  }
  skip_ows(c);
  return 0;
}

static int disposition(pier_multipart *p, pier_slice v) {
  size_t no = p->parts + 1;
  if (p->has_disp) return fail(p, PIER_EPROTO, "part %zu has two Content-Disposition headers", no);
  p->has_disp = true;
  cur c = {v.ptr, v.len, 0};
  pier_slice type = take_until(&c, ";");
  if (!pier_slice_ieq_cstr(type, "form-data"))
    return fail(p, PIER_EPROTO, "part %zu: Content-Disposition is \"%.*s\", expected form-data", no, (int)type.len,
                type.ptr);
  while (!at_end(&c)) {
    if (peek(&c) != ';') return bad_disposition(p);
    c.i++;
    skip_ows(&c);
    if (at_end(&c)) break;
    int rc = disposition_param(p, &c);
    if (rc) return rc;
  }
  return 0;
}

static int header_line(pier_multipart *p, pier_slice line) {
  size_t no = p->parts + 1;
  if (++p->hdr_lines > p->lim.headers_max)
    return fail(p, PIER_ETOOBIG, "part %zu has more than %zu header lines", no, p->lim.headers_max);
  if (line.ptr[0] == ' ' || line.ptr[0] == '\t')
    return fail(p, PIER_EPROTO, "part %zu: folded header lines are not supported", no);
  size_t colon = 0;
  while (colon < line.len && token_byte((unsigned char)line.ptr[colon])) colon++;
  if (colon == 0 || colon == line.len || line.ptr[colon] != ':')
    return fail(p, PIER_EPROTO, "part %zu: malformed header line", no);
  pier_slice name = pier_slice_make(line.ptr, colon);
  pier_slice value = pier_slice_trim(pier_slice_make(line.ptr + colon + 1, line.len - colon - 1));
  if (pier_slice_ieq_cstr(name, "Content-Disposition")) return disposition(p, value);
  if (!pier_slice_ieq_cstr(name, "Content-Type")) return 0; /* others (Content-Transfer-Encoding...) ignored */
  if (p->has_ctype) return fail(p, PIER_EPROTO, "part %zu has two Content-Type headers", no);
  p->has_ctype = true;
  return pier_buf_append_slice(&p->ctype, value) ? oom(p) : 0;
}

static int begin_part(pier_multipart *p) {
  size_t no = p->parts + 1;
  if (!p->has_disp) return fail(p, PIER_EPROTO, "part %zu has no Content-Disposition header", no);
  if (!p->has_name) return fail(p, PIER_EPROTO, "part %zu has no Content-Disposition name", no);
  if (p->name.len == 0) return fail(p, PIER_EPROTO, "part %zu has an empty name", no);
  pier_slice name = pier_buf_slice(&p->name), filename = pier_buf_slice(&p->filename);
  if (!pier_utf8_valid(name) || !pier_utf8_valid(filename))
    return fail(p, PIER_EPROTO, "part %zu: the name or filename is not valid UTF-8", no);
  pier_multipart_part part = {p->parts, name, p->has_filename ? filename : PIER_SLICE_NULL,
                              pier_buf_slice(&p->ctype)};
  if (part.content_type.len == 0)
    part.content_type = p->has_filename ? PIER_SLICE_LIT("application/octet-stream") : PIER_SLICE_LIT("text/plain");
  p->parts++;
  p->in_part = true;
  p->part_bytes = 0;
  p->state = S_DATA;
  p->match = 0;
  int rc = p->cb.on_part_begin ? p->cb.on_part_begin(p->ud, &part) : 0;
  return rc ? rejected(p, rc) : 0;
}

/* Header bytes are collected one line at a time; an empty line ends the block. */
static size_t on_headers(pier_multipart *p, const char *s, size_t len, size_t i) {
  size_t no = p->parts + 1;
  for (; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (p->line.len && p->line.ptr[p->line.len - 1] == '\r') {
      if (c != '\n') return fail(p, PIER_EPROTO, "part %zu: CR without LF in the headers", no), len;
      p->line.ptr[--p->line.len] = '\0';
      if (p->line.len == 0) return begin_part(p), i + 1;
      if (header_line(p, pier_buf_slice(&p->line))) return len;
      pier_buf_reset(&p->line);
      continue;
    }
    if (c == '\n') return fail(p, PIER_EPROTO, "part %zu: header lines must end with CRLF", no), len;
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
      return fail(p, PIER_EPROTO, "part %zu: control byte in the headers", no), len;
    if (++p->hdr_bytes > p->lim.header_bytes_max)
      return fail(p, PIER_ETOOBIG, "the headers of part %zu are larger than %zu bytes", no, p->lim.header_bytes_max),
             len;
    if (pier_buf_putc(&p->line, (char)c)) return oom(p), len;
  }
  return i;
}

/* ---- driving ---- */

int pier_multipart_feed(pier_multipart *p, const void *data, size_t len) {
  if (p->err) return p->err;
  if (len > p->lim.total_bytes_max - p->total)
    return fail(p, PIER_ETOOBIG, "the form data is larger than %zu bytes", p->lim.total_bytes_max);
  p->total += len;
  const char *s = data;
  size_t i = 0;
  while (i < len && !p->err) {
    switch (p->state) {
    case S_PREAMBLE: i = on_preamble(p, s, len, i); break;
    case S_TAIL: i = on_tail(p, s, len, i); break;
    case S_HEADERS: i = on_headers(p, s, len, i); break;
    case S_DATA: i = on_data(p, s, len, i); break;
    default: i = len; break; /* epilogue */
    }
  }
  return p->err;
}

int pier_multipart_finish(pier_multipart *p) {
  if (p->err) return p->err;
  const char *b = p->delim + 4;
  int blen = (int)(p->delim_len - 4);
  switch (p->state) {
  case S_EPILOGUE: return 0;
  case S_PREAMBLE:
    if (p->total == 0) return fail(p, PIER_EPROTO, "the form data is empty");
    return fail(p, PIER_EPROTO, "missing opening boundary: no \"--%.*s\" line in the body", blen, b);
  case S_HEADERS:
    return fail(p, PIER_EPROTO, "missing closing boundary: the body ended in the headers of part %zu", p->parts + 1);
  case S_DATA:
    return fail(p, PIER_EPROTO, "missing closing boundary: the body ended inside part %zu (\"%s\")", p->parts,
                pier_buf_slice(&p->name).ptr);
  default:
    return fail(p, PIER_EPROTO, "missing closing boundary: the body ended after \"--%.*s\"", blen, b);
  }
}
