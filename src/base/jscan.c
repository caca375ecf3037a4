/* jscan.c — a skip-value scanner over JSON text. Depth is bounded (64) so a
 * hostile document cannot recurse us into the ground. */
#include "base/jscan.h"

#include <string.h>

#define DEPTH_MAX 64

static size_t ws(pier_slice s, size_t i) {
  while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t' || s.ptr[i] == '\n' || s.ptr[i] == '\r')) i++;
  return i;
}

/* End index (exclusive) of the string token starting at i (a '"'), or 0. */
static size_t skip_string(pier_slice s, size_t i) {
  for (i++; i < s.len; i++) {
    if (s.ptr[i] == '\\') i++;
    else if (s.ptr[i] == '"') return i + 1;
  }
  return 0;
}

static bool ends_scalar(char c) {
  return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* End index (exclusive) of the value starting at i, or 0 if malformed. */
static size_t skip_value(pier_slice s, size_t i, int depth) {
  if (i >= s.len || depth > DEPTH_MAX) return 0;
  char c = s.ptr[i];
  if (c == '"') return skip_string(s, i);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    i = ws(s, i + 1);
    if (i < s.len && s.ptr[i] == close) return i + 1;
    for (;;) {
      if (c == '{') {
        if (i >= s.len || s.ptr[i] != '"' || !(i = skip_string(s, i))) return 0;
        i = ws(s, i);
        if (i >= s.len || s.ptr[i] != ':') return 0;
        i = ws(s, i + 1);
      }
      if (!(i = skip_value(s, i, depth + 1))) return 0;
      i = ws(s, i);
      if (i >= s.len) return 0;
      if (s.ptr[i] == close) return i + 1;
      if (s.ptr[i] != ',') return 0;
      i = ws(s, i + 1);
    }
  }
  size_t start = i;
  while (i < s.len && !ends_scalar(s.ptr[i])) i++;
  return i > start ? i : 0;
}

int pier_jscan_members(pier_slice obj, pier_jscan_member_cb cb, void *arg) {
  size_t i = ws(obj, 0);
  if (i >= obj.len || obj.ptr[i] != '{') return PIER_EPROTO;
  i = ws(obj, i + 1);
  if (i < obj.len && obj.ptr[i] == '}') return 0;
  for (;;) {
    size_t ks = i, ke;
    if (i >= obj.len || obj.ptr[i] != '"' || !(ke = skip_string(obj, i))) return PIER_EPROTO;
    i = ws(obj, ke);
    if (i >= obj.len || obj.ptr[i] != ':') return PIER_EPROTO;
    size_t vs = ws(obj, i + 1), ve = skip_value(obj, vs, 1);
    if (!ve) return PIER_EPROTO;
    int rc = cb(arg, pier_slice_make(obj.ptr + ks, ke - ks), pier_slice_make(obj.ptr + vs, ve - vs));
    if (rc) return rc;
    i = ws(obj, ve);
    if (i >= obj.len) return PIER_EPROTO;
    if (obj.ptr[i] == '}') return 0;
    if (obj.ptr[i] != ',') return PIER_EPROTO;
    i = ws(obj, i + 1);
  }
}

typedef struct pick {
  const char *const *keys;
  size_t n;
  pier_slice *out;
} pick;

static int pick_member(void *arg, pier_slice key, pier_slice value) {
  pick *p = arg;
  for (size_t i = 0; i < p->n; i++)
    if (!p->out[i].ptr && pier_jscan_is(key, p->keys[i])) p->out[i] = value;
  return 0;
}

int pier_jscan_pick(pier_slice obj, const char *const *keys, size_t n, pier_slice *out) {
  for (size_t i = 0; i < n; i++) out[i] = pier_slice_make(NULL, 0);
  pick p = {keys, n, out};
  int rc = pier_jscan_members(obj, pick_member, &p);
  if (rc)
    for (size_t i = 0; i < n; i++) out[i] = pier_slice_make(NULL, 0);
  return rc;
}

bool pier_jscan_is(pier_slice tok, const char *s) {
  size_t n = strlen(s);
  return tok.len == n + 2 && tok.ptr[0] == '"' && memcmp(tok.ptr + 1, s, n) == 0 && tok.ptr[n + 1] == '"';
}

/* Step into `cur` by one path segment. */
static int step(pier_slice *cur, pier_slice seg) {
  size_t i = ws(*cur, 0);
  if (i >= cur->len) return PIER_EPROTO;
  if (cur->ptr[i] == '[') {
    unsigned long long want;
    if (pier_slice_to_u64(seg, &want) != 0) return PIER_ENOTFOUND;
    i = ws(*cur, i + 1);
    if (i < cur->len && cur->ptr[i] == ']') return PIER_ENOTFOUND;
    for (unsigned long long k = 0;; k++) {
      size_t e = skip_value(*cur, i, 1);
      if (!e) return PIER_EPROTO;
      if (k == want) {
        *cur = pier_slice_make(cur->ptr + i, e - i);
        return 0;
      }
      i = ws(*cur, e);
      if (i >= cur->len || cur->ptr[i] != ',') return i < cur->len && cur->ptr[i] == ']' ? PIER_ENOTFOUND : PIER_EPROTO;
      i = ws(*cur, i + 1);
    }
  }
  if (cur->ptr[i] != '{') return PIER_ENOTFOUND;
  i = ws(*cur, i + 1);
  if (i < cur->len && cur->ptr[i] == '}') return PIER_ENOTFOUND;
  for (;;) {
    size_t ks = i, ke;
    if (i >= cur->len || cur->ptr[i] != '"' || !(ke = skip_string(*cur, i))) return PIER_EPROTO;
    i = ws(*cur, ke);
    if (i >= cur->len || cur->ptr[i] != ':') return PIER_EPROTO;
    size_t vs = ws(*cur, i + 1), ve = skip_value(*cur, vs, 1);
    if (!ve) return PIER_EPROTO;
    if (ke - ks == seg.len + 2 && memcmp(cur->ptr + ks + 1, seg.ptr, seg.len) == 0) {
      *cur = pier_slice_make(cur->ptr + vs, ve - vs);
      return 0;
    }
    i = ws(*cur, ve);
    if (i >= cur->len) return PIER_EPROTO;
    if (cur->ptr[i] == '}') return PIER_ENOTFOUND;
    if (cur->ptr[i] != ',') return PIER_EPROTO;
    i = ws(*cur, i + 1);
  }
}

int pier_jscan_find(pier_slice json, const char *path, pier_slice *out) {
  pier_slice cur = json;
  const char *p = path;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    int rc = step(&cur, pier_slice_make(p, n));
    if (rc) return rc;
    p += n + (dot ? 1 : 0);
  }
  size_t i = ws(cur, 0), e = skip_value(cur, i, 0);
  if (!e) return PIER_EPROTO;
  *out = pier_slice_make(cur.ptr + i, e - i);
  return 0;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int u4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexv(p[k]);
    if (h < 0) return PIER_EPROTO;
    v = v << 4 | (unsigned)h;
  }
  *out = v;
  return 0;
}

static int put_utf8(pier_buf *b, unsigned cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) u[0] = (char)cp, n = 1;
  else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), n = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)), u[2] = (char)(0x80 | (cp & 63)), n = 3;
  else
    u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63)), u[2] = (char)(0x80 | ((cp >> 6) & 63)),
    u[3] = (char)(0x80 | (cp & 63)), n = 4;
  return pier_buf_append(b, u, n);
}

int pier_jscan_unescape(pier_slice t, pier_buf *out) {
  if (t.len < 2 || t.ptr[0] != '"' || t.ptr[t.len - 1] != '"') return PIER_EPROTO;
  size_t i = 1, run = 1, end = t.len - 1;
  int rc = 0;
  while (i < end && !rc) {
    if (t.ptr[i] != '\\') {
      i++;
      continue;
    }
    if ((rc = pier_buf_append(out, t.ptr + run, i - run))) break;
    if (i + 1 >= end) return PIER_EPROTO;
    char e = t.ptr[i + 1];
    const char *map = e ? strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e) : NULL;
    if (e == 'u') {
      unsigned cp;
      if (i + 6 > end || u4(t.ptr + i + 2, &cp)) return PIER_EPROTO;
      i += 6;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= end && t.ptr[i] == '\\' && t.ptr[i + 1] == 'u') {
        unsigned lo;
        if (u4(t.ptr + i + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
      }
      rc = put_utf8(out, cp >= 0xD800 && cp < 0xE000 ? 0xFFFD : cp);
    } else if (map && ((map - "\"\"\\\\//b\bf\fn\nr\rt\t") % 2 == 0)) {
      rc = pier_buf_putc(out, map[1]);
      i += 2;
    } else {
      return PIER_EPROTO;
    }
    run = i;
  }
  if (!rc) rc = pier_buf_append(out, t.ptr + run, end - run);
  return rc;
}

int pier_jscan_int(pier_slice t, long long *out) {
  bool neg = t.len && t.ptr[0] == '-';
  unsigned long long v;
  pier_slice digits = neg ? pier_slice_make(t.ptr + 1, t.len - 1) : t;
  if (pier_slice_to_u64(digits, &v) != 0 || v > (unsigned long long)9007199254740992LL) return PIER_EPROTO;
  *out = neg ? -(long long)v : (long long)v;
  return 0;
}
