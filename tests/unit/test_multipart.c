/* test_multipart.c — the streaming form parser against exact client bytes, split at
 * every position, with hostile file data, bad headers and every cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/multipart.h"
#include "base/buf.h"

/* What curl 7.88.1 sent for
 *   curl -F 'init_params={"a":1}' -F files=@x.txt http://.../api/v1/run/c/t
 * with x.txt = "hello\n" (captured from the wire). */
static const char CURL_CT[] = "multipart/form-data; boundary=------------------------ee3bf11066cd01c2";
static const char CURL_BODY[] =
    "--------------------------ee3bf11066cd01c2\r\n"
    "Content-Disposition: form-data; name=\"init_params\"\r\n"
    "\r\n"
    "{\"a\":1}\r\n"
    "--------------------------ee3bf11066cd01c2\r\n"
    "Content-Disposition: form-data; name=\"files\"; filename=\"x.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\n\r\n"
    "--------------------------ee3bf11066cd01c2--\r\n";
static const char CURL_EVENTS[] = "<0 init_params|-|text/plain>{\"a\":1}</><1 files|x.txt|text/plain>hello\n</>";

/* ---- a recorder of callback events ---- */

typedef struct rec {
  pier_buf t;      /* transcript: <index name|filename|type>data</> ... */
  int reject_file; /* on_part_begin returns this for file parts */
  int reject_data; /* on_part_data returns this */
  size_t empty_data_calls;
  size_t data_bytes;
} rec;

static int on_begin(void *ud, const pier_multipart_part *pt) {
  rec *r = ud;
  assert_non_null(pt->name.ptr);
  assert_int_equal(pt->name.ptr[pt->name.len], '\0');
  if (pt->filename.ptr) assert_int_equal(pt->filename.ptr[pt->filename.len], '\0');
  assert_int_equal(pier_buf_appendf(&r->t, "<%zu %.*s|%.*s|%.*s>", pt->index, (int)pt->name.len, pt->name.ptr,
                                    pt->filename.ptr ? (int)pt->filename.len : 1,
                                    pt->filename.ptr ? pt->filename.ptr : "-", (int)pt->content_type.len,
                                    pt->content_type.ptr),
                   0);
  return pt->filename.ptr ? r->reject_file : 0;
}

static int on_data(void *ud, pier_slice d) {
  rec *r = ud;
  if (d.len == 0) r->empty_data_calls++;
  r->data_bytes += d.len;
  assert_int_equal(pier_buf_append_slice(&r->t, d), 0);
  return r->reject_data;
}

static int on_end(void *ud) {
  rec *r = ud;
  assert_int_equal(pier_buf_append_cstr(&r->t, "</>"), 0);
  return 0;
}

static const pier_multipart_callbacks CBS = {on_begin, on_data, on_end};

typedef struct result {
  int rc; /* first failure of feed/finish, or 0 */
  char msg[256];
  pier_buf t;
  size_t parts;
} result;

/* Parse body fed in chunks ending at the given cut offsets (ascending), then finish. */
static result parse_cuts(const char *boundary, const char *body, size_t len, const size_t *cuts, size_t ncuts,
                         const pier_multipart_limits *lim, rec *r_in) {
  rec local = {0};
  rec *r = r_in ? r_in : &local;
  pier_buf_init(&r->t, 0);
  pier_multipart *p = NULL;
  assert_int_equal(pier_multipart_create(pier_slice_from(boundary), lim, &CBS, r, &p), 0);
  result res = {0};
  size_t at = 0;
  for (size_t k = 0; k <= ncuts && !res.rc; k++) {
    size_t end = k < ncuts ? cuts[k] : len;
    res.rc = pier_multipart_feed(p, body + at, end - at);
    at = end;
  }
  if (!res.rc) res.rc = pier_multipart_finish(p);
  else assert_int_equal(pier_multipart_finish(p), res.rc); /* sticky */
  snprintf(res.msg, sizeof(res.msg), "%s", pier_multipart_error(p));
  assert_int_equal(res.rc == 0, res.msg[0] == '\0');
  res.parts = pier_multipart_parts(p);
  assert_int_equal(r->empty_data_calls, 0);
  res.t = r->t;
  pier_multipart_destroy(p);
  return res;
}

static result parse_whole(const char *boundary, const char *body, size_t len, const pier_multipart_limits *lim) {
  return parse_cuts(boundary, body, len, NULL, 0, lim, NULL);
}

static void assert_transcript(const result *res, const char *want, size_t want_len) {
  if (res->t.len != want_len || (want_len && memcmp(res->t.ptr, want, want_len) != 0))
    fail_msg("transcript differs: got %zu bytes \"%.*s\", want %zu", res->t.len, (int)res->t.len,
             res->t.ptr ? res->t.ptr : "", want_len);
}

static void expect_ok(const char *boundary, const char *body, size_t len, const char *events, size_t events_len) {
  result res = parse_whole(boundary, body, len, NULL);
  if (res.rc) fail_msg("rc %d: %s", res.rc, res.msg);
  assert_transcript(&res, events, events_len);
  pier_buf_dispose(&res.t);
}

static void expect_fail(const char *boundary, const char *body, const pier_multipart_limits *lim, int code,
                        const char *msg) {
  result res = parse_whole(boundary, body, strlen(body), lim);
  assert_int_equal(res.rc, code);
  assert_string_equal(res.msg, msg);
  pier_buf_dispose(&res.t);
}

/* The same events for the whole body, one byte at a time, and every two- and
 * (when small) three-piece split. */
static void expect_split_invariant(const char *boundary, const char *body, size_t len, const char *events,
                                   size_t events_len, bool three_way) {
  expect_ok(boundary, body, len, events, events_len);
  size_t *ones = malloc(len * sizeof(size_t));
  for (size_t i = 0; i < len; i++) ones[i] = i;
  result res = parse_cuts(boundary, body, len, ones, len, NULL, NULL);
  assert_int_equal(res.rc, 0);
  assert_transcript(&res, events, events_len);
  pier_buf_dispose(&res.t);
  free(ones);
  for (size_t a = 0; a <= len; a++) {
    for (size_t b = three_way ? a : len; b <= len; b++) {
      size_t cuts[2] = {a, b};
      res = parse_cuts(boundary, body, len, cuts, 2, NULL, NULL);
      if (res.rc) fail_msg("cuts %zu,%zu: %s", a, b, res.msg);
      assert_transcript(&res, events, events_len);
      pier_buf_dispose(&res.t);
    }
  }
}

/* ---- tests ---- */

static void test_curl_exact_bytes(void **state) {
  (void)state;
  pier_slice b;
  assert_int_equal(pier_multipart_boundary(pier_slice_from(CURL_CT), &b), 0);
  assert_true(pier_slice_eq_cstr(b, "------------------------ee3bf11066cd01c2"));
  char boundary[80];
  snprintf(boundary, sizeof(boundary), "%.*s", (int)b.len, b.ptr);
  result res = parse_whole(boundary, CURL_BODY, sizeof(CURL_BODY) - 1, NULL);
  assert_int_equal(res.rc, 0);
  assert_int_equal(res.parts, 2);
  assert_transcript(&res, CURL_EVENTS, sizeof(CURL_EVENTS) - 1);
  pier_buf_dispose(&res.t);
}

static void test_curl_every_split(void **state) {
  (void)state;
  expect_split_invariant("------------------------ee3bf11066cd01c2", CURL_BODY, sizeof(CURL_BODY) - 1, CURL_EVENTS,
                         sizeof(CURL_EVENTS) - 1, true);
}

/* File data full of near-misses: CRLF--, partial boundaries, the boundary without
 * its CRLF, a CR right before the real delimiter, and every byte value. */
static void build_hostile(pier_buf *body, pier_buf *events) {
  static const char nasty[] = "\r\n--\r\n--X\r\n--Xy\r\n--XY\r\n-\r\r\n--Xy\n--XyZ\r--XyZ\r\n -XyZ\r\n\r\n--\r";
  pier_buf data;
  pier_buf_init(&data, 0);
  assert_int_equal(pier_buf_append(&data, nasty, sizeof(nasty) - 1), 0);
  for (int c = 0; c < 256; c++) assert_int_equal(pier_buf_putc(&data, (char)c), 0);
  assert_int_equal(pier_buf_append_cstr(&data, "\r\n--Xy"), 0); /* ends with a partial delimiter */
  assert_int_equal(pier_buf_append_cstr(body, "--XyZ\r\nContent-Disposition: form-data; name=\"files\"; "
                                              "filename=\"bin.dat\"\r\nContent-Type: application/octet-stream\r\n\r\n"),
                   0);
  assert_int_equal(pier_buf_append(body, data.ptr, data.len), 0);
  assert_int_equal(pier_buf_append_cstr(body, "\r\n--XyZ--\r\n"), 0);
  assert_int_equal(pier_buf_append_cstr(events, "<0 files|bin.dat|application/octet-stream>"), 0);
  assert_int_equal(pier_buf_append(events, data.ptr, data.len), 0);
  assert_int_equal(pier_buf_append_cstr(events, "</>"), 0);
  pier_buf_dispose(&data);
}

static void test_binary_near_misses(void **state) {
  (void)state;
  pier_buf body, events;
  pier_buf_init(&body, 0);
  pier_buf_init(&events, 0);
  build_hostile(&body, &events);
  expect_split_invariant("XyZ", body.ptr, body.len, events.ptr, events.len, false);
  pier_buf_dispose(&body);
  pier_buf_dispose(&events);
}

static void test_small_body_three_way_splits(void **state) {
  (void)state;
  static const char body[] = "pre\r\n--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--X\r\r\n--XyZ  \t\r\n"
                             "content-disposition: form-data; name=\"b\"; filename=\"\"\r\n\r\n\r\n--XyZ--epi";
  static const char events[] = "<0 a|-|text/plain>\r\n--X\r</><1 b||application/octet-stream></>";
  expect_split_invariant("XyZ", body, sizeof(body) - 1, events, sizeof(events) - 1, true);
}

static void test_empty_parts(void **state) {
  (void)state;
  static const char body[] = "--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"empty.bin\"\r\n"
                             "Content-Type: application/octet-stream\r\n\r\n\r\n"
                             "--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\r\n--B--\r\n";
  static const char events[] = "<0 files|empty.bin|application/octet-stream></><1 note|-|text/plain></>";
  expect_ok("B", body, sizeof(body) - 1, events, sizeof(events) - 1);
  /* a form without fields */
  expect_ok("B", "--B--\r\n", 7, "", 0);
}

static void test_preamble_epilogue_padding(void **state) {
  (void)state;
  static const char body[] = "This is --B the preamble.\r\n-B\r\r\n--B \t\r\n"
                             "Content-Disposition: form-data; name=\"x\"\r\nContent-Transfer-Encoding: 8bit\r\n"
                             "\r\nv\r\n--B--\r\nepilogue\r\n--B\r\nignored";
  expect_ok("B", body, sizeof(body) - 1, "<0 x|-|text/plain>v</>", 22);
}

static void test_missing_boundaries(void **state) {
  (void)state;
  expect_fail("B", "", NULL, PIER_EPROTO, "the form data is empty");
  expect_fail("B", "just text", NULL, PIER_EPROTO, "missing opening boundary: no \"--B\" line in the body");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz", NULL, PIER_EPROTO,
              "missing closing boundary: the body ended inside part 1 (\"a\")");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n--B", NULL, PIER_EPROTO,
              "missing closing boundary: the body ended after \"--B\"");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n--", NULL, PIER_EPROTO,
              "missing closing boundary: the body ended inside part 1 (\"a\")");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n--B\r\n", NULL, PIER_EPROTO,
              "missing closing boundary: the body ended in the headers of part 2");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n--B-", NULL, PIER_EPROTO,
              "missing closing boundary: the body ended after \"--B\"");
}

static void test_missing_final_boundary_keeps_data(void **state) {
  (void)state;
  static const char body[] = "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz\r\n-";
  result res = parse_whole("B", body, sizeof(body) - 1, NULL);
  assert_int_equal(res.rc, PIER_EPROTO);
  assert_transcript(&res, "<0 a|-|text/plain>xyz", 21); /* held-back "\r\n-" never emitted, no end */
  pier_buf_dispose(&res.t);
}

#define PART(h) "--B\r\n" h "\r\n\r\nv\r\n--B--\r\n"

static void test_bad_headers(void **state) {
  (void)state;
  expect_fail("B", "--B\r\nContent-Type: text/plain\r\n\r\nv\r\n--B--", NULL, PIER_EPROTO,
              "part 1 has no Content-Disposition header");
  expect_fail("B",
              "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n"
              "--B\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nv\r\n--B--",
              NULL, PIER_EPROTO, "part 2 has no Content-Disposition name");
  expect_fail("B", PART("Content-Disposition: form-data; name=\"\""), NULL, PIER_EPROTO, "part 1 has an empty name");
  expect_fail("B", PART("Content-Disposition: attachment; name=\"a\""), NULL, PIER_EPROTO,
              "part 1: Content-Disposition is \"attachment\", expected form-data");
  expect_fail("B", PART("Content-Disposition: form-data; name=\"a\"; name=\"b\""), NULL, PIER_EPROTO,
              "part 1: Content-Disposition has two name parameters");
  expect_fail("B", PART("Content-Disposition: form-data; filename=a; filename=b; name=x"), NULL, PIER_EPROTO,
              "part 1: Content-Disposition has two filename parameters");
  expect_fail("B", PART("Content-Disposition: form-data; name=\"a"), NULL, PIER_EPROTO,
              "part 1: unterminated quoted string in Content-Disposition");
  expect_fail("B", PART("Content-Disposition: form-data; name"), NULL, PIER_EPROTO,
              "part 1: malformed Content-Disposition header");
  expect_fail("B", PART("Content-Disposition: form-data name=\"a\""), NULL, PIER_EPROTO,
              "part 1: Content-Disposition is \"form-data name=\"a\"\", expected form-data");
  expect_fail("B", PART("Content-Disposition: form-data; name=\"a\" x"), NULL, PIER_EPROTO,
              "part 1: malformed Content-Disposition header");
  expect_fail("B", PART("Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b"), NULL,
              PIER_EPROTO, "part 1 has two Content-Disposition headers");
  expect_fail("B", PART("Content-Disposition: form-data; name=a\r\nContent-Type: a/b\r\ncontent-type: c/d"), NULL,
              PIER_EPROTO, "part 1 has two Content-Type headers");
  expect_fail("B", PART("Content-Disposition: form-data; name=a\r\n folded"), NULL, PIER_EPROTO,
              "part 1: folded header lines are not supported");
  expect_fail("B", PART("Content-Disposition: form-data; name=a\r\nNo colon here"), NULL, PIER_EPROTO,
              "part 1: malformed header line");
  expect_fail("B", PART("Content-Disposition : form-data; name=a"), NULL, PIER_EPROTO, "part 1: malformed header line");
  expect_fail("B", PART(": form-data; name=a"), NULL, PIER_EPROTO, "part 1: malformed header line");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=a\n\nv\r\n--B--", NULL, PIER_EPROTO,
              "part 1: header lines must end with CRLF");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=a\rX\r\n\r\nv\r\n--B--", NULL, PIER_EPROTO,
              "part 1: CR without LF in the headers");
  expect_fail("B", PART("Content-Disposition: form-data; name=\"a\x01\""), NULL, PIER_EPROTO,
              "part 1: control byte in the headers");
  expect_fail("B", PART("Content-Disposition: form-data; name=\"\xff\xfe\""), NULL, PIER_EPROTO,
              "part 1: the name or filename is not valid UTF-8");
}

static void test_bad_delimiter_lines(void **state) {
  (void)state;
  expect_fail("B", "--BX\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--B--", NULL, PIER_EPROTO,
              "the first boundary line must end with CRLF");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--BX\r\n--B--", NULL, PIER_EPROTO,
              "the boundary after part 1 must be followed by CRLF or \"--\"");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--B-x", NULL, PIER_EPROTO,
              "the boundary after part 1 must be followed by CRLF or \"--\"");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--B \rx", NULL, PIER_EPROTO,
              "the boundary after part 1 must be followed by CRLF or \"--\"");
}

static void test_quoted_names_and_filenames(void **state) {
  (void)state;
  /* backslash escapes a tspecial only; curl writes a quote as %22 and keeps backslashes */
  static const char body[] =
      "--B\r\ncontent-disposition: FORM-DATA; NAME=\"x\"; FileName=\"a\\\"b\\\\c.txt\"; filename*=UTF-8''z\r\n\r\n1\r\n"
      "--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a%22b\\c.txt\"\r\n\r\n2\r\n"
      "--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"C:\\dev\\x.txt\"\r\n\r\n3\r\n"
      "--B\r\nContent-Disposition:form-data;name=plain;filename=f.txt  ;  \r\nContent-Type:  image/png \r\n\r\n4\r\n"
      "--B\r\nContent-Disposition: form-data; name=\"caf\xc3\xa9 \\;x\"; filename=\"\xe6\x96\x87.pdf\"\r\n\r\n5\r\n"
      "--B--\r\n";
  static const char events[] = "<0 x|a\"b\\c.txt|application/octet-stream>1</>"
                               "<1 files|a%22b\\c.txt|application/octet-stream>2</>"
                               "<2 files|C:\\dev\\x.txt|application/octet-stream>3</>"
                               "<3 plain|f.txt|image/png>4</>"
                               "<4 caf\xc3\xa9 ;x|\xe6\x96\x87.pdf|application/octet-stream>5</>";
  expect_ok("B", body, sizeof(body) - 1, events, sizeof(events) - 1);
}

static void test_cap_parts(void **state) {
  (void)state;
  pier_multipart_limits lim = {.parts_max = 2};
  static const char two[] = "--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                            "--B\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n--B--";
  result res = parse_whole("B", two, sizeof(two) - 1, &lim);
  assert_int_equal(res.rc, 0);
  pier_buf_dispose(&res.t);
  expect_fail("B",
              "--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
              "--B\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n"
              "--B\r\nContent-Disposition: form-data; name=c\r\n\r\n3\r\n--B--",
              &lim, PIER_ETOOBIG, "more than 2 parts");
}

static void test_cap_field_default(void **state) {
  (void)state;
  /* default 4 MiB for a field: stream 4 MiB + 1 and be stopped at the excess byte */
  pier_multipart *p;
  rec r = {0};
  pier_buf_init(&r.t, 0);
  assert_int_equal(pier_multipart_create(PIER_SLICE_LIT("B"), NULL, &CBS, &r, &p), 0);
  static const char head[] = "--B\r\nContent-Disposition: form-data; name=\"init_params\"\r\n\r\n";
  assert_int_equal(pier_multipart_feed(p, head, sizeof(head) - 1), 0);
  char chunk[4096];
  memset(chunk, 'a', sizeof(chunk));
  for (size_t i = 0; i < PIER_MULTIPART_FIELD_BYTES_MAX / sizeof(chunk); i++)
    assert_int_equal(pier_multipart_feed(p, chunk, sizeof(chunk)), 0);
  assert_int_equal(pier_multipart_feed(p, "\r\n--B--", 7), 0); /* exactly at the cap is fine */
  assert_int_equal(pier_multipart_finish(p), 0);
  pier_multipart_destroy(p);
  pier_buf_dispose(&r.t);

  r = (rec){0};
  pier_buf_init(&r.t, 0);
  assert_int_equal(pier_multipart_create(PIER_SLICE_LIT("B"), NULL, &CBS, &r, &p), 0);
  assert_int_equal(pier_multipart_feed(p, head, sizeof(head) - 1), 0);
  for (size_t i = 0; i < PIER_MULTIPART_FIELD_BYTES_MAX / sizeof(chunk); i++)
    assert_int_equal(pier_multipart_feed(p, chunk, sizeof(chunk)), 0);
  assert_int_equal(pier_multipart_feed(p, "a", 1), PIER_ETOOBIG);
  assert_string_equal(pier_multipart_error(p), "field \"init_params\" is larger than 4194304 bytes");
  assert_int_equal(pier_multipart_feed(p, "\r\n--B--", 7), PIER_ETOOBIG); /* sticky */
  assert_int_equal(pier_multipart_finish(p), PIER_ETOOBIG);
  pier_multipart_destroy(p);
  pier_buf_dispose(&r.t);
}

static void test_cap_file_total_headers(void **state) {
  (void)state;
  pier_multipart_limits lim = {.file_bytes_max = 3, .field_bytes_max = 2};
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.txt\"\r\n\r\nabcd\r\n--B--",
              &lim, PIER_ETOOBIG, "file \"x.txt\" (field \"files\") is larger than 3 bytes");
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc\r\n--B--", &lim, PIER_ETOOBIG,
              "field \"f\" is larger than 2 bytes");
  /* held-back delimiter bytes count when they turn out to be data */
  expect_fail("B", "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nab\r\n-x\r\n--B--", &lim, PIER_ETOOBIG,
              "field \"f\" is larger than 2 bytes");
  static const char ok[] = "--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x\"\r\n\r\nabc\r\n--B--";
  result res = parse_whole("B", ok, sizeof(ok) - 1, &lim);
  assert_int_equal(res.rc, 0);
  pier_buf_dispose(&res.t);

  pier_multipart_limits tot = {.total_bytes_max = sizeof(ok) - 2};
  expect_fail("B", ok, &tot, PIER_ETOOBIG, "the form data is larger than 76 bytes");
  tot.total_bytes_max = sizeof(ok) - 1;
  res = parse_whole("B", ok, sizeof(ok) - 1, &tot);
  assert_int_equal(res.rc, 0);
  pier_buf_dispose(&res.t);

  pier_multipart_limits hb = {.header_bytes_max = 40};
  expect_fail("B", PART("Content-Disposition: form-data; name=\"abcdefgh\""), &hb, PIER_ETOOBIG,
              "the headers of part 1 are larger than 40 bytes");
  pier_multipart_limits hn = {.headers_max = 2};
  expect_fail("B", PART("Content-Disposition: form-data; name=a\r\nX-A: 1\r\nX-B: 2"), &hn, PIER_ETOOBIG,
              "part 1 has more than 2 header lines");
}

static void test_callback_rejects(void **state) {
  (void)state;
  rec r = {.reject_file = PIER_EFORBIDDEN};
  result res = parse_cuts("------------------------ee3bf11066cd01c2", CURL_BODY, sizeof(CURL_BODY) - 1, NULL, 0, NULL,
                          &r);
  assert_int_equal(res.rc, PIER_EFORBIDDEN);
  assert_string_equal(res.msg, "part 2 was rejected: forbidden");
  pier_buf_dispose(&res.t);
  r = (rec){.reject_data = PIER_EIO};
  res = parse_cuts("------------------------ee3bf11066cd01c2", CURL_BODY, sizeof(CURL_BODY) - 1, NULL, 0, NULL, &r);
  assert_int_equal(res.rc, PIER_EIO);
  assert_string_equal(res.msg, "part 1 was rejected: input/output error");
  pier_buf_dispose(&res.t);
}

static void test_null_callbacks(void **state) {
  (void)state;
  pier_multipart *p;
  assert_int_equal(pier_multipart_create(PIER_SLICE_LIT("------------------------ee3bf11066cd01c2"), NULL, NULL,
                                         NULL, &p),
                   0);
  assert_int_equal(pier_multipart_feed(p, CURL_BODY, sizeof(CURL_BODY) - 1), 0);
  assert_int_equal(pier_multipart_finish(p), 0);
  assert_int_equal(pier_multipart_parts(p), 2);
  assert_string_equal(pier_multipart_error(p), "");
  pier_multipart_destroy(p);
  pier_multipart_destroy(NULL);
  p = (pier_multipart *)1;
  assert_int_equal(pier_multipart_create(PIER_SLICE_LIT(""), NULL, NULL, NULL, &p), PIER_EINVAL);
  assert_null(p);
  assert_int_equal(pier_multipart_create(PIER_SLICE_LIT("a\rb"), NULL, NULL, NULL, &p), PIER_EINVAL);
}

/* A large file streams through: after each chunk nearly all of it has been handed out. */
typedef struct counter {
  size_t bytes, calls;
} counter;
static int count_data(void *ud, pier_slice d) {
  counter *c = ud;
  c->bytes += d.len;
  c->calls++;
  return 0;
}

static void test_large_file_streams(void **state) {
  (void)state;
  counter c = {0};
  pier_multipart_callbacks cb = {NULL, count_data, NULL};
  pier_multipart *p;
  assert_int_equal(pier_multipart_create(PIER_SLICE_LIT("------------------------ee3bf11066cd01c2"), NULL, &cb, &c, &p),
                   0);
  static const char head[] = "--------------------------ee3bf11066cd01c2\r\n"
                             "Content-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n\r\n";
  assert_int_equal(pier_multipart_feed(p, head, sizeof(head) - 1), 0);
  static char chunk[65536];
  for (size_t i = 0; i < sizeof(chunk); i++) chunk[i] = (char)(i * 131 % 251); /* contains \r, \n, '-' */
  chunk[sizeof(chunk) - 1] = '\r'; /* every chunk ends in a possible delimiter start */
  size_t fed = 0;
  for (int i = 0; i < 1600; i++) { /* 100 MiB */
    assert_int_equal(pier_multipart_feed(p, chunk, sizeof(chunk)), 0);
    fed += sizeof(chunk);
    assert_true(c.bytes + 74 >= fed); /* at most one partial delimiter is held back */
  }
  static const char tail[] = "\r\n--------------------------ee3bf11066cd01c2--\r\n";
  assert_int_equal(pier_multipart_feed(p, tail, sizeof(tail) - 1), 0);
  assert_int_equal(pier_multipart_finish(p), 0);
  assert_int_equal(c.bytes, fed);
  pier_multipart_destroy(p);
}

static void expect_boundary(const char *ct, const char *want) {
  pier_slice b = PIER_SLICE_NULL;
  int rc = pier_multipart_boundary(pier_slice_from(ct), &b);
  if (!want) {
    if (rc != PIER_EINVAL) fail_msg("accepted: %s", ct);
    return;
  }
  if (rc) fail_msg("rejected: %s", ct);
  if (!pier_slice_eq_cstr(b, want)) fail_msg("%s: got %.*s", ct, (int)b.len, b.ptr);
}

static void test_boundary_extraction(void **state) {
  (void)state;
  expect_boundary("multipart/form-data; boundary=abc", "abc");
  expect_boundary("multipart/form-data;boundary=abc", "abc");
  expect_boundary("Multipart/Form-Data; BOUNDARY=abc", "abc");
  expect_boundary("multipart/form-data; boundary=\"a b:c\"", "a b:c");
  expect_boundary("multipart/form-data; charset=utf-8; boundary=abc ; x=y", "abc");
  expect_boundary("multipart/form-data; boundary = abc;", "abc");
  expect_boundary("  multipart/form-data  ;  boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
                  "----WebKitFormBoundary7MA4YWxkTrZu0gW");
  expect_boundary("multipart/form-data; boundary==_Part_0_1.2", "=_Part_0_1.2");
  expect_boundary("multipart/form-data; x=\"q;boundary=no\"; boundary=yes", "yes");
  expect_boundary("multipart/form-data; boundary="
                  "1234567890123456789012345678901234567890123456789012345678901234567890",
                  "1234567890123456789012345678901234567890123456789012345678901234567890");
  expect_boundary("multipart/form-data; boundary="
                  "12345678901234567890123456789012345678901234567890123456789012345678901",
                  NULL);
  expect_boundary("multipart/form-data", NULL);
  expect_boundary("multipart/form-data;", NULL);
  expect_boundary("multipart/form-data; boundary=", NULL);
  expect_boundary("multipart/form-data; boundary=\"\"", NULL);
  expect_boundary("multipart/form-data; boundary=a; boundary=b", NULL);
  expect_boundary("multipart/form-data; boundary=\"a\\\"b\"", NULL);
  expect_boundary("multipart/form-data; boundary=\"abc", NULL);
  expect_boundary("multipart/form-data; boundary=\"abc \"", NULL);
  expect_boundary("multipart/form-data; boundary", NULL);
  expect_boundary("multipart/form-data; boundary=a b", NULL);
  expect_boundary("multipart/mixed; boundary=abc", NULL);
  expect_boundary("application/json", NULL);
  expect_boundary("multipart/form-data-x; boundary=abc", NULL);
  expect_boundary("", NULL);
  pier_slice b;
  assert_int_equal(pier_multipart_boundary(PIER_SLICE_NULL, &b), PIER_EINVAL);
  /* untrusted bytes: a NUL does not end the value early */
  assert_int_equal(pier_multipart_boundary(pier_slice_make("multipart/form-data; boundary=ab\0c", 33), &b),
                   PIER_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_curl_exact_bytes),
      cmocka_unit_test(test_curl_every_split),
      cmocka_unit_test(test_binary_near_misses),
      cmocka_unit_test(test_small_body_three_way_splits),
      cmocka_unit_test(test_empty_parts),
      cmocka_unit_test(test_preamble_epilogue_padding),
      cmocka_unit_test(test_missing_boundaries),
      cmocka_unit_test(test_missing_final_boundary_keeps_data),
      cmocka_unit_test(test_bad_headers),
      cmocka_unit_test(test_bad_delimiter_lines),
      cmocka_unit_test(test_quoted_names_and_filenames),
      cmocka_unit_test(test_cap_parts),
      cmocka_unit_test(test_cap_field_default),
      cmocka_unit_test(test_cap_file_total_headers),
      cmocka_unit_test(test_callback_rejects),
      cmocka_unit_test(test_null_callbacks),
      cmocka_unit_test(test_large_file_streams),
      cmocka_unit_test(test_boundary_extraction),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
