/* test_eventstream.c — the event stream codec against the byte vectors of
 * bedrock.md §4.2: exact decoded fields, byte-exact re-encoding, splits at every
 * position, and each malformed-frame error with nothing delivered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/util.h"
#include "llm/eventstream.h"

/* ---- vectors (bedrock.md §4.2) ------------------------------------------------------ */

static const char HEX_EMPTY[] = "000000100000000005c248eb7d98c8ff";
static const char HEX_FOO[] = "0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936";
static const char HEX_CT[] =
    "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e"
    "7b27666f6f273a27626172277d8d9c08b1";
static const char HEX_DELTA[] =
    "0000009f00000057c37babff0b3a6576656e742d747970650700116"
    "36f6e74656e74426c6f636b44656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a73"
    "6f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c"
    "2264656c7461223a7b2274657874223a224869227d2c2270223a2261626364227df2ace5ff";
static const char HEX_THROTTLE[] =
    "000000b2000000613590d5d30f3a657863657074696f6e2d747970650700137468726f74746c696e67457863657074"
    "696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74"
    "797065070009657863657074696f6e7b226d657373616765223a22546f6f206d616e792072657175657374732c2070"
    "6c656173652077616974206265666f726520747279696e6720616761696e2e227de8ffb26a";

/* What each vector decodes to, rendered by render() below. */
static const char WANT_EMPTY[] = "|\n";
static const char WANT_FOO[] = "|{'foo':'bar'}\n";
static const char WANT_CT[] = "content-type=s:application/json|{'foo':'bar'}\n";
static const char WANT_DELTA[] =
    ":event-type=s:contentBlockDelta :content-type=s:application/json :message-type=s:event"
    "|{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcd\"}\n";
static const char WANT_THROTTLE[] =
    ":exception-type=s:throttlingException :content-type=s:application/json :message-type=s:exception"
    "|{\"message\":\"Too many requests, please wait before trying again.\"}\n";

typedef struct vector {
  const char *hex, *want;
} vector;
static const vector vectors[] = {
    {HEX_EMPTY, WANT_EMPTY}, {HEX_FOO, WANT_FOO}, {HEX_CT, WANT_CT},
    {HEX_DELTA, WANT_DELTA}, {HEX_THROTTLE, WANT_THROTTLE},
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

/* Decoded bytes of a hex vector; caller frees. */
static unsigned char *unhex(const char *hex, size_t *n) {
  *n = strlen(hex) / 2;
  unsigned char *b = malloc(*n ? *n : 1);
  assert_non_null(b);
  assert_int_equal(pier_unhex(hex, 2 * *n, b, *n), 0);
  return b;
}

/* ---- recording what the decoder delivers ------------------------------------------------ */

/* Each message as one line: "name=<t>:<value> ...|payload\n" with t = s (string),
 * i (integer kinds, bool, timestamp) or x (bytes/uuid, hex). */
typedef struct rec {
  pier_buf out;
  size_t count;
  int fail_at; /* 1-based message index whose callback returns PIER_ECANCELLED; 0 = never */
} rec;

static void render_header(pier_buf *b, const pier_es_header *h) {
  int rc = pier_buf_appendf(b, "%.*s=", (int)h->name.len, h->name.ptr);
  if (h->type == PIER_ES_STRING) {
    rc |= pier_buf_appendf(b, "s:%.*s", (int)h->bytes.len, h->bytes.ptr);
  } else if (h->type == PIER_ES_BYTES || h->type == PIER_ES_UUID) {
    char hx[2 * 64 + 1];
    assert_true(h->bytes.len <= 64);
    pier_hex(h->bytes.ptr, h->bytes.len, hx);
    rc |= pier_buf_appendf(b, "x%d:%s", (int)h->type, hx);
  } else {
    rc |= pier_buf_appendf(b, "i%d:%" PRId64, (int)h->type, h->num);
  }
  assert_int_equal(rc, 0);
}

static int on_message(void *arg, const pier_es_message *m) {
  rec *r = arg;
  r->count++;
  for (size_t i = 0; i < m->headers_count; i++) {
    if (i) assert_int_equal(pier_buf_putc(&r->out, ' '), 0);
    render_header(&r->out, &m->headers[i]);
  }
  assert_int_equal(pier_buf_appendf(&r->out, "|%.*s\n", (int)m->payload.len, m->payload.ptr), 0);
  return (int)r->count == r->fail_at ? PIER_ECANCELLED : 0;
}

static void rec_init(rec *r) {
  memset(r, 0, sizeof *r);
  pier_buf_init(&r->out, 0);
}

/* Feed `b` cut at the given positions (ascending, within 0..n), then finish. */
static int feed_split(pier_es_decoder *d, const unsigned char *b, size_t n, const size_t *cuts, size_t ncuts,
                      rec *r) {
  size_t at = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : n;
    int rc = pier_es_decoder_feed(d, b + at, end - at, on_message, r);
    if (rc) return rc;
    at = end;
  }
  return pier_es_decoder_finish(d);
}

/* Decode `b` in one feed with a fresh decoder; returns the error, fills r. */
static int decode_all(const unsigned char *b, size_t n, size_t cap, rec *r) {
  pier_es_decoder d;
  pier_es_decoder_init(&d, cap);
  int rc = feed_split(&d, b, n, NULL, 0, r);
  pier_es_decoder_dispose(&d);
  return rc;
}

/* ---- decoding the vectors ------------------------------------------------------------------ */

static void test_decode_vectors(void **state) {
  (void)state;
  for (size_t v = 0; v < NVECTORS; v++) {
    size_t n;
    unsigned char *b = unhex(vectors[v].hex, &n);
    rec r;
    rec_init(&r);
    assert_int_equal(decode_all(b, n, 0, &r), 0);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.out.ptr, vectors[v].want);
    pier_buf_dispose(&r.out);
    free(b);
  }
}

typedef struct named {
  char message_type[32], event_type[32], exception_type[32], content_type[32];
  int missing_is_null;
} named;

static void copy_str(char dst[32], pier_slice s) {
  assert_true(s.len < 32);
  memcpy(dst, s.ptr ? s.ptr : "(null)", s.ptr ? s.len : 6);
  dst[s.ptr ? s.len : 6] = '\0';
}

static int on_named(void *arg, const pier_es_message *m) {
  named *x = arg;
  copy_str(x->message_type, pier_es_header_str(m, ":message-type"));
  copy_str(x->event_type, pier_es_header_str(m, ":event-type"));
  copy_str(x->exception_type, pier_es_header_str(m, ":exception-type"));
  copy_str(x->content_type, pier_es_header_str(m, ":content-type"));
  x->missing_is_null = pier_es_header_find(m, ":nope") == NULL;
  return 0;
}

static named decode_named(const char *hex) {
  size_t n;
  unsigned char *b = unhex(hex, &n);
  named x;
  memset(&x, 0, sizeof x);
  pier_es_decoder d;
  pier_es_decoder_init(&d, 0);
  assert_int_equal(pier_es_decoder_feed(&d, b, n, on_named, &x), 0);
  pier_es_decoder_dispose(&d);
  free(b);
  return x;
}

static void test_header_lookup_by_name(void **state) {
  (void)state;
  named x = decode_named(HEX_DELTA);
  assert_string_equal(x.message_type, "event");
  assert_string_equal(x.event_type, "contentBlockDelta");
  assert_string_equal(x.exception_type, "(null)");
  assert_string_equal(x.content_type, "application/json");
  assert_true(x.missing_is_null);
  x = decode_named(HEX_THROTTLE);
  assert_string_equal(x.message_type, "exception");
  assert_string_equal(x.event_type, "(null)");
  assert_string_equal(x.exception_type, "throttlingException");
  x = decode_named(HEX_CT); /* "content-type" without the colon is a different name */
  assert_string_equal(x.content_type, "(null)");
}

/* ---- encoding the vectors ---------------------------------------------------------------- */

static void encode_is(const char *hex, const pier_es_header *h, size_t nh, pier_slice payload) {
  size_t n;
  unsigned char *want = unhex(hex, &n);
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_buf_append_cstr(&out, "prefix"), 0); /* encode appends */
  assert_int_equal(pier_es_encode(&out, h, nh, payload), 0);
  assert_int_equal(out.len, 6 + n);
  assert_memory_equal(out.ptr, "prefix", 6);
  assert_memory_equal(out.ptr + 6, want, n);
  pier_buf_dispose(&out);
  free(want);
}

#define STR_HEADER(n, v) pier_es_string_header(PIER_SLICE_LIT(n), PIER_SLICE_LIT(v))

static void test_encode_vectors(void **state) {
  (void)state;
  encode_is(HEX_EMPTY, NULL, 0, PIER_SLICE_NULL);
  encode_is(HEX_FOO, NULL, 0, PIER_SLICE_LIT("{'foo':'bar'}"));
  pier_es_header ct = STR_HEADER("content-type", "application/json");
  encode_is(HEX_CT, &ct, 1, PIER_SLICE_LIT("{'foo':'bar'}"));
  pier_es_header delta[] = {STR_HEADER(":event-type", "contentBlockDelta"),
                            STR_HEADER(":content-type", "application/json"),
                            STR_HEADER(":message-type", "event")};
  encode_is(HEX_DELTA, delta, 3,
            PIER_SLICE_LIT("{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},\"p\":\"abcd\"}"));
  pier_es_header exc[] = {STR_HEADER(":exception-type", "throttlingException"),
                          STR_HEADER(":content-type", "application/json"),
                          STR_HEADER(":message-type", "exception")};
  encode_is(HEX_THROTTLE, exc, 3,
            PIER_SLICE_LIT("{\"message\":\"Too many requests, please wait before trying again.\"}"));
}

/* ---- splitting ------------------------------------------------------------------------------ */

static void test_split_at_every_position(void **state) {
  (void)state;
  for (size_t v = 0; v < NVECTORS; v++) {
    size_t n;
    unsigned char *b = unhex(vectors[v].hex, &n);
    for (size_t cut = 0; cut <= n; cut++) {
      pier_es_decoder d;
      pier_es_decoder_init(&d, 0);
      rec r;
      rec_init(&r);
      assert_int_equal(feed_split(&d, b, n, &cut, 1, &r), 0);
      assert_int_equal(r.count, 1);
      assert_string_equal(r.out.ptr, vectors[v].want);
      pier_buf_dispose(&r.out);
      pier_es_decoder_dispose(&d);
    }
    free(b);
  }
}

static void test_one_byte_at_a_time(void **state) {
  (void)state;
  for (size_t v = 0; v < NVECTORS; v++) {
    size_t n;
    unsigned char *b = unhex(vectors[v].hex, &n);
    pier_es_decoder d;
    pier_es_decoder_init(&d, 0);
    rec r;
    rec_init(&r);
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(r.count, 0); /* delivered only when the last byte arrives */
      assert_int_equal(pier_es_decoder_feed(&d, b + i, 1, on_message, &r), 0);
    }
    assert_int_equal(r.count, 1);
    assert_string_equal(r.out.ptr, vectors[v].want);
    assert_int_equal(pier_es_decoder_finish(&d), 0);
    pier_buf_dispose(&r.out);
    pier_es_decoder_dispose(&d);
    free(b);
  }
}

/* All five vectors back to back: one feed, and every three-piece split of the stream. */
static void test_several_frames_in_one_feed(void **state) {
  (void)state;
  pier_buf stream, want;
  pier_buf_init(&stream, 0);
  pier_buf_init(&want, 0);
  for (size_t v = 0; v < NVECTORS; v++) {
    size_t n;
    unsigned char *b = unhex(vectors[v].hex, &n);
    assert_int_equal(pier_buf_append(&stream, b, n), 0);
    assert_int_equal(pier_buf_append_cstr(&want, vectors[v].want), 0);
    free(b);
  }
  const unsigned char *s = (const unsigned char *)stream.ptr;
  rec r;
  rec_init(&r);
  assert_int_equal(decode_all(s, stream.len, 0, &r), 0);
  assert_int_equal(r.count, NVECTORS);
  assert_string_equal(r.out.ptr, want.ptr);
  pier_buf_dispose(&r.out);

  for (size_t i = 0; i <= stream.len; i += 1) {
    for (size_t j = i; j <= stream.len; j += 1) {
      size_t cuts[2] = {i, j};
      pier_es_decoder d;
      pier_es_decoder_init(&d, 0);
      rec_init(&r);
      assert_int_equal(feed_split(&d, s, stream.len, cuts, 2, &r), 0);
      assert_int_equal(r.count, NVECTORS);
      assert_int_equal(r.out.len, want.len);
      assert_memory_equal(r.out.ptr, want.ptr, want.len);
      pier_buf_dispose(&r.out);
      pier_es_decoder_dispose(&d);
    }
  }
  pier_buf_dispose(&stream);
  pier_buf_dispose(&want);
}

/* ---- malformed frames ---------------------------------------------------------------------- */

/* A frame from raw header bytes and a payload, with correct CRCs, built independently
 * of pier_es_encode; `total_adj` changes the declared total_length (CRC kept valid). */
static size_t make_frame(unsigned char *f, size_t fmax, const void *hdrs, size_t hlen, const char *payload,
                         int64_t total_adj) {
  size_t plen = strlen(payload), n = 16 + hlen + plen;
  assert_true(n <= fmax);
  uint32_t total = (uint32_t)((int64_t)n + total_adj);
  const unsigned char pre[8] = {total >> 24, total >> 16 & 255, total >> 8 & 255, total & 255,
                                0, 0, hlen >> 8 & 255, hlen & 255};
  memcpy(f, pre, 8);
  uint32_t c = (uint32_t)crc32(0, f, 8);
  for (int i = 0; i < 4; i++) f[8 + i] = (unsigned char)(c >> (24 - 8 * i));
  if (hlen) memcpy(f + 12, hdrs, hlen);
  memcpy(f + 12 + hlen, payload, plen);
  c = (uint32_t)crc32(0, f, (uInt)(n - 4));
  for (int i = 0; i < 4; i++) f[n - 4 + i] = (unsigned char)(c >> (24 - 8 * i));
  return n;
}

/* Decoding fails with `want`, delivers nothing, and the error sticks. */
static void decode_fails(const unsigned char *b, size_t n, size_t cap, int want) {
  size_t vn;
  unsigned char *valid = unhex(HEX_FOO, &vn);
  pier_es_decoder d;
  pier_es_decoder_init(&d, cap);
  rec r;
  rec_init(&r);
  assert_int_equal(pier_es_decoder_feed(&d, b, n, on_message, &r), want);
  assert_int_equal(pier_es_decoder_feed(&d, valid, vn, on_message, &r), want);
  assert_int_equal(pier_es_decoder_finish(&d), want);
  assert_int_equal(r.count, 0);
  pier_es_decoder_dispose(&d);
  free(valid);

  for (size_t cut = 0; cut <= n; cut++) { /* same verdict whatever the split */
    pier_es_decoder_init(&d, cap);
    assert_int_equal(feed_split(&d, b, n, &cut, 1, &r), want);
    assert_int_equal(r.count, 0);
    pier_es_decoder_dispose(&d);
  }
  pier_buf_dispose(&r.out);
}

static void test_corrupted_crcs(void **state) {
  (void)state;
  for (size_t v = 0; v < NVECTORS; v++) {
    size_t n;
    unsigned char *b = unhex(vectors[v].hex, &n);
    for (size_t i = 0; i < n; i++) { /* any flipped bit is caught by one of the CRCs */
      b[i] ^= 0x01;
      rec r;
      rec_init(&r);
      int rc = decode_all(b, n, 0, &r);
      assert_int_equal(rc, PIER_ECHECKSUM);
      assert_int_equal(r.count, 0);
      pier_buf_dispose(&r.out);
      b[i] ^= 0x01;
    }
    b[9] ^= 0x80; /* prelude CRC */
    decode_fails(b, n, 0, PIER_ECHECKSUM);
    b[9] ^= 0x80;
    b[n - 1] ^= 0x80; /* message CRC */
    decode_fails(b, n, 0, PIER_ECHECKSUM);
    b[n - 1] ^= 0x80;
    if (n > 16) {
      b[n - 5] ^= 0x20; /* last payload byte, covered by the message CRC only */
      decode_fails(b, n, 0, PIER_ECHECKSUM);
      b[n - 5] ^= 0x20;
    }
    free(b);
  }
}

static void test_oversize_rejected_before_buffering(void **state) {
  (void)state;
  unsigned char f[64];
  size_t n = make_frame(f, sizeof f, NULL, 0, "0123456789abcdefghij", 0); /* 36 bytes */
  decode_fails(f, n, 35, PIER_ETOOBIG);
  rec r;
  rec_init(&r);
  assert_int_equal(decode_all(f, n, 36, &r), 0); /* exactly the cap is fine */
  assert_int_equal(r.count, 1);
  pier_buf_dispose(&r.out);
  rec_init(&r);

  /* A prelude claiming 4 GiB - 1: refused on its 12th byte, nothing allocated. */
  unsigned char pre[12] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  uint32_t c = (uint32_t)crc32(0, pre, 8);
  for (int i = 0; i < 4; i++) pre[8 + i] = (unsigned char)(c >> (24 - 8 * i));
  pier_es_decoder d;
  pier_es_decoder_init(&d, 0);
  assert_int_equal(pier_es_decoder_feed(&d, pre, 12, on_message, &r), PIER_ETOOBIG);
  assert_null(d.partial.ptr);
  pier_es_decoder_dispose(&d);
  pier_es_decoder_init(&d, 0); /* byte by byte: only the 11 prelude bytes were held */
  for (int i = 0; i < 11; i++) assert_int_equal(pier_es_decoder_feed(&d, pre + i, 1, on_message, &r), 0);
  assert_int_equal(pier_es_decoder_feed(&d, pre + 11, 1, on_message, &r), PIER_ETOOBIG);
  assert_true(d.partial.len <= 12 && d.partial.cap <= 64);
  pier_es_decoder_dispose(&d);
  assert_int_equal(r.count, 0);
  pier_buf_dispose(&r.out);
}

static void test_bad_lengths(void **state) {
  (void)state;
  unsigned char f[64];
  size_t n = make_frame(f, sizeof f, NULL, 0, "", -1); /* total_length 15 */
  decode_fails(f, n, 0, PIER_EPROTO);
  n = make_frame(f, sizeof f, NULL, 0, "", -16); /* total_length 0 */
  decode_fails(f, n, 0, PIER_EPROTO);
  /* headers_length 5 > total_length - 16 = 4: build with 5 header bytes, then shrink total by 1 */
  n = make_frame(f, sizeof f, "\x01x\x00\x00\x00", 5, "", -1);
  decode_fails(f, n, 0, PIER_EPROTO);
}

static void test_truncated_headers(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    size_t len;
  } cases[] = {
      {"\x05" "ab", 3},                  /* name runs past headers_length */
      {"\x02" "ab", 3},                  /* no type byte */
      {"\x01" "a\x07", 3},               /* string without its length */
      {"\x01" "a\x07\x00", 4},           /* half a length */
      {"\x01" "a\x07\x00\x05" "abc", 7}, /* string shorter than its length */
      {"\x01" "a\x04\x00\x00\x01", 6},   /* int32 of 3 bytes */
      {"\x01" "a\x09" "0123456789abcde", 18}, /* uuid of 15 bytes */
      {"\x01" "a\x00\x01", 4},           /* a complete bool, then half a header */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned char f[64];
    size_t n = make_frame(f, sizeof f, cases[i].bytes, cases[i].len, "{}", 0);
    decode_fails(f, n, 0, PIER_EPROTO);
  }
}

static void test_bad_header_type(void **state) {
  (void)state;
  unsigned char f[64];
  size_t n = make_frame(f, sizeof f, "\x01" "a\x0a", 3, "{}", 0); /* type 10 */
  decode_fails(f, n, 0, PIER_EPROTO);
  n = make_frame(f, sizeof f, "\x01" "a\x00\x01" "b\xff", 6, "{}", 0);
  decode_fails(f, n, 0, PIER_EPROTO);
}

static void test_too_many_headers(void **state) {
  (void)state;
  unsigned char hdrs[2 * (PIER_ES_HEADERS_MAX + 1)], f[256];
  for (size_t i = 0; i < PIER_ES_HEADERS_MAX + 1; i++) hdrs[2 * i] = 0, hdrs[2 * i + 1] = 0; /* "" = true */
  size_t n = make_frame(f, sizeof f, hdrs, sizeof hdrs, "", 0);
  decode_fails(f, n, 0, PIER_ETOOBIG);
  n = make_frame(f, sizeof f, hdrs, sizeof hdrs - 2, "", 0); /* exactly the max is fine */
  rec r;
  rec_init(&r);
  assert_int_equal(decode_all(f, n, 0, &r), 0);
  assert_int_equal(r.count, 1);
  pier_buf_dispose(&r.out);
}

/* ---- every header type ------------------------------------------------------------------- */

static void test_all_header_types_decode(void **state) {
  (void)state;
  static const unsigned char hdrs[] = {
      1, 't', 0,                          /* true */
      1, 'f', 1,                          /* false */
      1, 'b', 2, 0x80,                    /* int8 -128 */
      1, 's', 3, 0xff, 0xfe,              /* int16 -2 */
      1, 'i', 4, 0x7f, 0xff, 0xff, 0xff,  /* int32 max */
      1, 'l', 5, 0x80, 0, 0, 0, 0, 0, 0, 0, /* int64 min */
      1, 'y', 6, 0, 3, 0x00, 0xff, 0x10,    /* bytes */
      1, 'S', 7, 0, 0,                      /* empty string */
      1, 'T', 8, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* 1700000000000 ms */
      1, 'u', 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  };
  static const char want[] = "t=i0:1 f=i1:0 b=i2:-128 s=i3:-2 i=i4:2147483647 l=i5:-9223372036854775808 "
                             "y=x6:00ff10 S=s: T=i8:1700000000000 u=x9:000102030405060708090a0b0c0d0e0f|p\n";
  unsigned char f[128];
  size_t n = make_frame(f, sizeof f, hdrs, sizeof hdrs, "p", 0);
  rec r;
  rec_init(&r);
  assert_int_equal(decode_all(f, n, 0, &r), 0);
  assert_string_equal(r.out.ptr, want);
  pier_buf_dispose(&r.out);

  /* The encoder writes the same bytes for the same typed headers. */
  static const unsigned char uuid[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const pier_es_header h[] = {
      {PIER_SLICE_LIT("t"), PIER_ES_BOOL_TRUE, 0, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("f"), PIER_ES_BOOL_FALSE, 0, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("b"), PIER_ES_BYTE, -128, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("s"), PIER_ES_INT16, -2, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("i"), PIER_ES_INT32, 2147483647, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("l"), PIER_ES_INT64, INT64_MIN, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("y"), PIER_ES_BYTES, 0, {"\x00\xff\x10", 3}},
      {PIER_SLICE_LIT("S"), PIER_ES_STRING, 0, PIER_SLICE_LIT("")},
      {PIER_SLICE_LIT("T"), PIER_ES_TIMESTAMP, 1700000000000, PIER_SLICE_NULL},
      {PIER_SLICE_LIT("u"), PIER_ES_UUID, 0, {(const char *)uuid, 16}},
  };
  pier_buf out;
  pier_buf_init(&out, 0);
  assert_int_equal(pier_es_encode(&out, h, sizeof h / sizeof h[0], PIER_SLICE_LIT("p")), 0);
  assert_int_equal(out.len, n);
  assert_memory_equal(out.ptr, f, n);
  pier_buf_dispose(&out);
}

/* ---- callback control, end of stream, memory --------------------------------------------- */

static void test_callback_error_stops_and_sticks(void **state) {
  (void)state;
  size_t n1, n2;
  unsigned char *a = unhex(HEX_DELTA, &n1), *b = unhex(HEX_THROTTLE, &n2);
  unsigned char both[512];
  memcpy(both, a, n1);
  memcpy(both + n1, b, n2);
  pier_es_decoder d;
  pier_es_decoder_init(&d, 0);
  rec r;
  rec_init(&r);
  r.fail_at = 1;
  assert_int_equal(pier_es_decoder_feed(&d, both, n1 + n2, on_message, &r), PIER_ECANCELLED);
  assert_int_equal(r.count, 1);
  assert_int_equal(pier_es_decoder_feed(&d, b, n2, on_message, &r), PIER_ECANCELLED);
  assert_int_equal(r.count, 1);
  pier_es_decoder_dispose(&d);
  pier_buf_dispose(&r.out);
  free(a);
  free(b);
}

static void test_finish_reports_truncated_stream(void **state) {
  (void)state;
  size_t n;
  unsigned char *b = unhex(HEX_DELTA, &n);
  for (size_t cut = 0; cut < n; cut++) {
    pier_es_decoder d;
    pier_es_decoder_init(&d, 0);
    rec r;
    rec_init(&r);
    assert_int_equal(pier_es_decoder_feed(&d, b, cut, on_message, &r), 0);
    assert_int_equal(pier_es_decoder_finish(&d), cut ? PIER_EPROTO : 0);
    assert_int_equal(r.count, 0);
    pier_es_decoder_dispose(&d);
    pier_buf_dispose(&r.out);
  }
  free(b);
}

static void test_big_split_frame_memory_released(void **state) {
  (void)state;
  size_t plen = 200 * 1024;
  char *payload = malloc(plen);
  assert_non_null(payload);
  memset(payload, 'x', plen);
  pier_es_header h = STR_HEADER(":event-type", "chunk");
  pier_buf frame;
  pier_buf_init(&frame, 0);
  assert_int_equal(pier_es_encode(&frame, &h, 1, pier_slice_make(payload, plen)), 0);
  pier_es_decoder d;
  pier_es_decoder_init(&d, 0);
  rec r;
  rec_init(&r);
  assert_int_equal(pier_es_decoder_feed(&d, frame.ptr, 1000, on_message, &r), 0);
  assert_int_equal(pier_es_decoder_feed(&d, frame.ptr + 1000, frame.len - 1000, on_message, &r), 0);
  assert_int_equal(r.count, 1);
  assert_int_equal(r.out.len, strlen(":event-type=s:chunk|") + plen + 1);
  assert_null(d.partial.ptr); /* the 200 KiB scratch is not kept between frames */
  assert_int_equal(pier_es_decoder_finish(&d), 0);
  pier_es_decoder_dispose(&d);
  pier_buf_dispose(&r.out);
  pier_buf_dispose(&frame);
  free(payload);
}

/* ---- encoder errors -------------------------------------------------------------------------- */

static void test_encode_rejects(void **state) {
  (void)state;
  char name[256];
  memset(name, 'n', sizeof name);
  pier_buf out;
  pier_buf_init(&out, 64);
  assert_int_equal(pier_buf_append_cstr(&out, "keep"), 0);
  pier_es_header h = pier_es_string_header(pier_slice_make(name, 256), PIER_SLICE_LIT("v"));
  assert_int_equal(pier_es_encode(&out, &h, 1, PIER_SLICE_NULL), PIER_EINVAL);
  h = (pier_es_header){PIER_SLICE_LIT("u"), PIER_ES_UUID, 0, PIER_SLICE_LIT("short")};
  assert_int_equal(pier_es_encode(&out, &h, 1, PIER_SLICE_NULL), PIER_EINVAL);
  h = (pier_es_header){PIER_SLICE_LIT("x"), (pier_es_type)10, 0, PIER_SLICE_NULL};
  assert_int_equal(pier_es_encode(&out, &h, 1, PIER_SLICE_NULL), PIER_EINVAL);
  h = pier_es_string_header(PIER_SLICE_LIT("s"), pier_slice_make(name, PIER_ES_ENCODE_VALUE_BYTES_MAX + 1));
  assert_int_equal(pier_es_encode(&out, &h, 1, PIER_SLICE_NULL), PIER_EINVAL);
  /* 16 + 60 bytes does not fit in a 64-byte buffer that already holds 4 */
  assert_int_equal(pier_es_encode(&out, NULL, 0, pier_slice_make(name, 60)), PIER_ETOOBIG);
  assert_int_equal(out.len, 4);
  assert_string_equal(out.ptr, "keep");
  pier_buf_dispose(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_vectors),
      cmocka_unit_test(test_header_lookup_by_name),
      cmocka_unit_test(test_encode_vectors),
      cmocka_unit_test(test_split_at_every_position),
      cmocka_unit_test(test_one_byte_at_a_time),
      cmocka_unit_test(test_several_frames_in_one_feed),
      cmocka_unit_test(test_corrupted_crcs),
      cmocka_unit_test(test_oversize_rejected_before_buffering),
      cmocka_unit_test(test_bad_lengths),
      cmocka_unit_test(test_truncated_headers),
      cmocka_unit_test(test_bad_header_type),
      cmocka_unit_test(test_too_many_headers),
      cmocka_unit_test(test_all_header_types_decode),
      cmocka_unit_test(test_callback_error_stops_and_sticks),
      cmocka_unit_test(test_finish_reports_truncated_stream),
      cmocka_unit_test(test_big_split_frame_memory_released),
      cmocka_unit_test(test_encode_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
