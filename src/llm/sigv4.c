/* sigv4.c — AWS SigV4 signing (botocore's SigV4Auth for non-S3 services) with
 * libsodium HMAC-SHA256. Invariant: the secret and every derived key live only
 * in stack scratch that is sodium_memzero'd before return, and nothing is logged. */
#include "llm/sigv4.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- percent-encoding ------------------------------------------------------ */

static bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int pier_uri_encode(pier_buf *out, pier_slice in, const char *safe) {
  static const char hex[] = "0123456789ABCDEF";
  size_t len0 = out->len;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < in.len; i++) {
    unsigned char c = (unsigned char)in.ptr[i];
    if (is_unreserved(c) || (c && safe && strchr(safe, c))) {
      rc = pier_buf_putc(out, (char)c);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = pier_buf_append(out, esc, 3);
    }
  }
  if (rc) {
    out->len = len0;
    if (out->ptr) out->ptr[len0] = '\0';
  }
  return rc;
}

int pier_sigv4_amz_date(time_t t, char out[PIER_SIGV4_AMZ_DATE_BYTES]) {
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year < 1000 - 1900 || tm.tm_year > 9999 - 1900) return PIER_EINVAL;
  return strftime(out, PIER_SIGV4_AMZ_DATE_BYTES, "%Y%m%dT%H%M%SZ", &tm) == 16 ? 0 : PIER_EINVAL;
}

/* ---- input validation ------------------------------------------------------- */

static bool all_of(pier_slice s, size_t max, bool (*ok)(unsigned char)) {
  if (s.len == 0 || s.len > max) return false;
  for (size_t i = 0; i < s.len; i++)
    if (!ok((unsigned char)s.ptr[i])) return false;
  return true;
}
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static bool is_scope_char(unsigned char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-'; }
/* Access key ids are [A-Z0-9]; be lenient but keep the Credential= field unambiguous. */
static bool is_akid_char(unsigned char c) { return c > ' ' && c < 0x7f && c != '/' && c != ','; }
static bool is_host_char(unsigned char c) { return c > ' ' && c < 0x7f; }
static bool is_tchar(unsigned char c) { /* RFC 9110 token */
  return is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c));
}
/* A header value may hold anything but the bytes that would end the header line. */
static bool value_ok(pier_slice v) {
  for (size_t i = 0; i < v.len; i++)
    if (v.ptr[i] == '\r' || v.ptr[i] == '\n' || v.ptr[i] == '\0') return false;
  return true;
}

static bool amz_date_ok(const char *d) {
  pier_slice s = pier_slice_from(d);
  if (s.len != 16 || d[8] != 'T' || d[15] != 'Z') return false;
  return all_of(pier_slice_make(d, 8), 8, is_digit) && all_of(pier_slice_make(d + 9, 6), 6, is_digit);
}

static int validate(const pier_sigv4_request *req, const pier_sigv4_creds *creds) {
  if (!req->method || !all_of(pier_slice_from(req->method), 16, is_upper)) return PIER_EINVAL;
  if (!req->region || !all_of(pier_slice_from(req->region), 64, is_scope_char)) return PIER_EINVAL;
  if (!req->service || !all_of(pier_slice_from(req->service), 64, is_scope_char)) return PIER_EINVAL;
  if (!req->amz_date || !amz_date_ok(req->amz_date)) return PIER_EINVAL;
  if (!all_of(req->host, 1024, is_host_char)) return PIER_EINVAL;
  if (req->path.len && req->path.ptr[0] != '/') return PIER_EINVAL;
  if (!all_of(creds->access_key_id, 128, is_akid_char)) return PIER_EINVAL;
  if (creds->secret_access_key.len == 0) return PIER_EINVAL;
  if (creds->secret_access_key.len > PIER_SIGV4_SECRET_BYTES_MAX) return PIER_ETOOBIG;
  if (!value_ok(creds->session_token)) return PIER_EINVAL;
  if (req->headers_count > PIER_SIGV4_HEADERS_MAX) return PIER_ETOOBIG;
  for (size_t i = 0; i < req->headers_count; i++) {
    const pier_sigv4_header *h = &req->headers[i];
    if (!all_of(h->name, 256, is_tchar) || !value_ok(h->value)) return PIER_EINVAL;
    if (pier_slice_ieq_cstr(h->name, "host") || pier_slice_ieq_cstr(h->name, "x-amz-date") ||
        pier_slice_ieq_cstr(h->name, "x-amz-security-token") ||
        pier_slice_ieq_cstr(h->name, "authorization"))
      return PIER_EINVAL; /* added by sign() itself, or not signable */
  }
  return 0;
}

/* ---- canonical URI ------------------------------------------------------------ */

/* botocore normalize_url_path + quote(safe='/~'): drop empty and "." segments,
 * ".." pops one, keep a trailing '/', then percent-encode each segment again.
 * Segments are written straight into `b` as "/seg"; popping truncates. */
static int append_canonical_path(pier_buf *b, pier_slice path) {
  size_t base = b->len;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < path.len;) {
    size_t j = i;
    while (j < path.len && path.ptr[j] != '/') j++;
    pier_slice seg = pier_slice_make(path.ptr + i, j - i);
    i = j + 1;
    if (seg.len == 0 || pier_slice_eq_cstr(seg, ".")) continue;
    if (pier_slice_eq_cstr(seg, "..")) {
      while (b->len > base && b->ptr[b->len - 1] != '/') b->len--;
      if (b->len > base) b->len--; /* the '/' that opened the popped segment */
      continue;
    }
    if ((rc = pier_buf_putc(b, '/')) == 0) rc = pier_uri_encode(b, seg, "~");
  }
  bool trailing = path.len > 0 && path.ptr[path.len - 1] == '/';
  if (rc == 0 && (b->len == base || trailing)) rc = pier_buf_putc(b, '/');
  return rc;
}

/* ---- canonical query ---------------------------------------------------------- */

typedef struct qparam {
  pier_slice key, value; /* encoded, pointing into the scratch buffer */
  size_t key_off, value_off;
} qparam;

static int slice_cmp(pier_slice a, pier_slice b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
  return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int qparam_cmp(const void *pa, const void *pb) {
  const qparam *a = pa, *b = pb;
  int c = slice_cmp(a->key, b->key);
  return c ? c : slice_cmp(a->value, b->value);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decode `in`, then re-encode it strictly (RFC 3986, uppercase hex) into
 * `out`, so "%3a" and ":" both sign as "%3A". A bad escape is PIER_EINVAL. */
static int requote(pier_buf *out, pier_slice in) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < in.len; i++) {
    char c = in.ptr[i];
    if (c == '%') {
      int hi = i + 2 < in.len ? hexval(in.ptr[i + 1]) : -1;
      int lo = hi >= 0 ? hexval(in.ptr[i + 2]) : -1;
      if (lo < 0) return PIER_EINVAL;
      c = (char)(hi << 4 | lo);
      i += 2;
    }
    rc = pier_uri_encode(out, pier_slice_make(&c, 1), NULL);
  }
  return rc;
}

static int parse_query(pier_slice q, pier_buf *scratch, qparam *params, size_t *count) {
  size_t n = 0;
  for (size_t i = 0; i < q.len;) {
    size_t j = i;
    while (j < q.len && q.ptr[j] != '&') j++;
    pier_slice pair = pier_slice_make(q.ptr + i, j - i);
    i = j + 1;
    if (pair.len == 0) continue; /* "a=1&&b=2", trailing '&' */
    if (n == PIER_SIGV4_QUERY_PARAMS_MAX) return PIER_ETOOBIG;
    long eq = pier_slice_find(pair, '=');
    size_t klen = eq < 0 ? pair.len : (size_t)eq;
    qparam *p = &params[n++];
    p->key_off = scratch->len;
    int rc = requote(scratch, pier_slice_make(pair.ptr, klen));
    p->key.len = scratch->len - p->key_off;
    p->value_off = scratch->len;
    if (rc == 0 && eq >= 0) rc = requote(scratch, pier_slice_make(pair.ptr + klen + 1, pair.len - klen - 1));
    p->value.len = scratch->len - p->value_off;
    if (rc) return rc;
  }
  for (size_t k = 0; k < n; k++) { /* scratch is final now: offsets -> pointers */
    params[k].key.ptr = scratch->ptr + params[k].key_off;
    params[k].value.ptr = scratch->ptr + params[k].value_off;
  }
  *count = n;
  return 0;
}

/* Sorted by encoded key, then value; "k=v" joined with '&'; "" for no query. */
static int append_canonical_query(pier_buf *b, pier_slice q) {
  if (q.len == 0) return 0; /* Bedrock runtime calls: no query, no scratch */
  qparam *params = calloc(PIER_SIGV4_QUERY_PARAMS_MAX, sizeof *params);
  pier_buf scratch;
  pier_buf_init(&scratch, PIER_SIGV4_CANONICAL_BYTES_MAX);
  size_t n = 0;
  int rc = params ? parse_query(q, &scratch, params, &n) : PIER_ENOMEM;
  if (rc) goto out;
  qsort(params, n, sizeof *params, qparam_cmp);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (i) rc = pier_buf_putc(b, '&');
    if (rc == 0) rc = pier_buf_append_slice(b, params[i].key);
    if (rc == 0) rc = pier_buf_putc(b, '=');
    if (rc == 0) rc = pier_buf_append_slice(b, params[i].value);
  }
out:
  pier_buf_dispose(&scratch);
  free(params);
  return rc;
}

/* ---- canonical headers -------------------------------------------------------- */

typedef struct hdr {
  pier_slice name, value;
  size_t order; /* position in the caller's list: repeated names keep it */
} hdr;

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int hdr_cmp(const void *pa, const void *pb) {
  const hdr *a = pa, *b = pb;
  size_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
  for (size_t i = 0; i < n; i++) {
    int d = lower((unsigned char)a->name.ptr[i]) - lower((unsigned char)b->name.ptr[i]);
    if (d) return d;
  }
  if (a->name.len != b->name.len) return a->name.len < b->name.len ? -1 : 1;
  return (a->order > b->order) - (a->order < b->order);
}

static int append_lower(pier_buf *b, pier_slice s) {
  int rc = pier_buf_append_slice(b, s);
  if (rc == 0)
    for (size_t i = b->len - s.len; i < b->len; i++) b->ptr[i] = (char)lower((unsigned char)b->ptr[i]);
  return rc;
}

/* Trimmed, runs of spaces/tabs collapsed to one space (botocore: ' '.join(v.split())). */
static int append_header_value(pier_buf *b, pier_slice v) {
  v = pier_slice_trim(v);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < v.len; i++) {
    bool ws = v.ptr[i] == ' ' || v.ptr[i] == '\t';
    if (ws && (v.ptr[i - 1] == ' ' || v.ptr[i - 1] == '\t')) continue; /* i > 0: v is trimmed */
    rc = pier_buf_putc(b, ws ? ' ' : v.ptr[i]);
  }
  return rc;
}

/* "name:value\n" per distinct name (repeats joined by ','), then "\n", then the
 * signed-header list, whose position in `b` is returned for the Authorization. */
static int append_canonical_headers(pier_buf *b, const hdr *h, size_t n, size_t *signed_off,
                                    size_t *signed_len) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    bool repeat = i > 0 && pier_slice_ieq(h[i].name, h[i - 1].name);
    if (repeat) {
      rc = pier_buf_putc(b, ',');
    } else {
      if (i > 0) rc = pier_buf_putc(b, '\n');
      if (rc == 0) rc = append_lower(b, h[i].name);
      if (rc == 0) rc = pier_buf_putc(b, ':');
    }
    if (rc == 0) rc = append_header_value(b, h[i].value);
  }
  if (rc == 0) rc = pier_buf_append_cstr(b, "\n\n");
  *signed_off = b->len;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (i > 0 && pier_slice_ieq(h[i].name, h[i - 1].name)) continue;
    if (i > 0) rc = pier_buf_putc(b, ';');
    if (rc == 0) rc = append_lower(b, h[i].name);
  }
  *signed_len = b->len - *signed_off;
  return rc;
}

/* ---- canonical request, keys, signature ---------------------------------------- */

static int build_canonical_request(const pier_sigv4_request *req, const pier_sigv4_creds *creds,
                                   pier_buf *b, size_t *signed_off, size_t *signed_len) {
  hdr h[PIER_SIGV4_HEADERS_MAX + 3];
  size_t n = 0;
  for (size_t i = 0; i < req->headers_count; i++, n++)
    h[n] = (hdr){req->headers[i].name, req->headers[i].value, n};
  h[n] = (hdr){PIER_SLICE_LIT("host"), req->host, n}, n++;
  h[n] = (hdr){PIER_SLICE_LIT("x-amz-date"), pier_slice_from(req->amz_date), n}, n++;
  if (creds->session_token.len)
    h[n] = (hdr){PIER_SLICE_LIT("x-amz-security-token"), creds->session_token, n}, n++;
  qsort(h, n, sizeof h[0], hdr_cmp);

  char body_hash[65];
  if (req->body.len) pier_sha256_hex(req->body.ptr, req->body.len, body_hash);
  else memcpy(body_hash, EMPTY_SHA256, sizeof body_hash);

  int rc = pier_buf_append_cstr(b, req->method);
  if (rc == 0) rc = pier_buf_putc(b, '\n');
  if (rc == 0) rc = append_canonical_path(b, req->path);
  if (rc == 0) rc = pier_buf_putc(b, '\n');
  if (rc == 0) rc = append_canonical_query(b, req->query);
  if (rc == 0) rc = pier_buf_putc(b, '\n');
  if (rc == 0) rc = append_canonical_headers(b, h, n, signed_off, signed_len);
  if (rc == 0) rc = pier_buf_putc(b, '\n');
  if (rc == 0) rc = pier_buf_append(b, body_hash, 64);
  return rc;
}

static void hmac(unsigned char out[32], const void *key, size_t key_len, const void *msg, size_t msg_len) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, key_len);
  crypto_auth_hmacsha256_update(&st, msg, msg_len);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st); /* holds the key's inner/outer pads */
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, yyyymmdd), region), service), "aws4_request") */
static void derive_signing_key(unsigned char k[32], pier_slice secret, const char *date8,
                               const char *region, const char *service) {
  unsigned char ksecret[4 + PIER_SIGV4_SECRET_BYTES_MAX];
  memcpy(ksecret, "AWS4", 4);
  memcpy(ksecret + 4, secret.ptr, secret.len);
  hmac(k, ksecret, 4 + secret.len, date8, 8);
  sodium_memzero(ksecret, sizeof ksecret);
  hmac(k, k, 32, region, strlen(region));
  hmac(k, k, 32, service, strlen(service));
  hmac(k, k, 32, "aws4_request", 12);
}

static int append_string_to_sign(pier_buf *sts, const pier_sigv4_request *req, pier_slice creq) {
  char creq_hash[65];
  pier_sha256_hex(creq.ptr, creq.len, creq_hash);
  return pier_buf_appendf(sts, ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", req->amz_date,
                          req->amz_date, req->region, req->service, creq_hash);
}

int pier_sigv4_sign(const pier_sigv4_request *req, const pier_sigv4_creds *creds,
                    pier_buf *authorization, pier_sigv4_debug *debug) {
  int rc = validate(req, creds);
  if (rc) return rc;
  size_t auth_len0 = authorization->len, signed_off = 0, signed_len = 0;
  pier_buf creq, sts;
  pier_buf_init(&creq, PIER_SIGV4_CANONICAL_BYTES_MAX);
  pier_buf_init(&sts, 1024);
  unsigned char key[32], sig[32];
  char sig_hex[65];
  if ((rc = build_canonical_request(req, creds, &creq, &signed_off, &signed_len))) goto out;
  if ((rc = append_string_to_sign(&sts, req, pier_buf_slice(&creq)))) goto out;

  derive_signing_key(key, creds->secret_access_key, req->amz_date, req->region, req->service);
  hmac(sig, key, sizeof key, sts.ptr, sts.len);
  pier_hex(sig, sizeof sig, sig_hex);

  rc = pier_buf_appendf(authorization,
                        ALGORITHM " Credential=%.*s/%.8s/%s/%s/aws4_request, "
                        "SignedHeaders=%.*s, Signature=%s",
                        (int)creds->access_key_id.len, creds->access_key_id.ptr, req->amz_date, req->region,
                        req->service, (int)signed_len, creq.ptr + signed_off, sig_hex);
  if (rc) goto out;
  if (debug) {
    pier_hex(key, sizeof key, debug->signing_key_hex);
    rc = pier_buf_append_slice(&debug->canonical_request, pier_buf_slice(&creq));
    if (rc == 0) rc = pier_buf_append_slice(&debug->string_to_sign, pier_buf_slice(&sts));
  }
out:
  sodium_memzero(key, sizeof key);
  sodium_memzero(sig, sizeof sig);
  pier_buf_dispose(&creq);
  pier_buf_dispose(&sts);
  if (rc) {
    authorization->len = auth_len0;
    if (authorization->ptr) authorization->ptr[auth_len0] = '\0';
  }
  return rc;
}
