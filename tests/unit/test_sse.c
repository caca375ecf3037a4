/* test_sse.c — event-stream parsing: fields, multi-line data, comments, CR/LF
 * variants, every split position, caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "llm/sse.h"

static char got[4096];

static int collect(void *arg, pier_slice ev, pier_slice data) {
  (void)arg;
  size_t n = strlen(got);
  snprintf(got + n, sizeof got - n, "[%.*s|%.*s]", (int)ev.len, ev.ptr, (int)data.len, data.ptr);
  return 0;
}

static const char stream[] = ": keep-alive\n\nevent: message_start\ndata: {\"a\":1}\n\n"
                             "data: line1\r\ndata: line2\r\n\r\nid: 7\nretry: 10\ndata:x\n\ndata: [DONE]\n\n";
static const char expect[] = "[message_start|{\"a\":1}][|line1\nline2][|x][|[DONE]]";

static void whole_and_split(void **state) {
  size_t len = strlen(stream);
  for (size_t cut = 0; cut <= len; cut++) {
    pier_sse_parser p;
    pier_sse_init(&p, 0);
    got[0] = '\0';
    assert_int_equal(pier_sse_feed(&p, stream, cut, collect, NULL), 0);
    assert_int_equal(pier_sse_feed(&p, stream + cut, len - cut, collect, NULL), 0);
    assert_string_equal(got, expect);
    pier_sse_dispose(&p);
  }
  pier_sse_parser p;
  pier_sse_init(&p, 0);
  got[0] = '\0';
  for (size_t i = 0; i < len; i++) assert_int_equal(pier_sse_feed(&p, stream + i, 1, collect, NULL), 0);
  assert_string_equal(got, expect);
  pier_sse_dispose(&p);
}

static void cr_only_and_no_data(void **state) {
  pier_sse_parser p;
  pier_sse_init(&p, 0);
  got[0] = '\0';
  const char *s = "event: ping\r\rdata: a\rdata: b\r\r";
  assert_int_equal(pier_sse_feed(&p, s, strlen(s), collect, NULL), 0);
  assert_string_equal(got, "[|a\nb]"); /* an event without data is not dispatched */
  pier_sse_dispose(&p);
}

static void caps(void **state) {
  pier_sse_parser p;
  pier_sse_init(&p, 16);
  got[0] = '\0';
  const char *s = "data: 0123456789abcdefghij\n\n";
  assert_int_equal(pier_sse_feed(&p, s, 10, collect, NULL), 0);
  assert_int_equal(pier_sse_feed(&p, s + 10, strlen(s) - 10, collect, NULL), PIER_ETOOBIG);
  assert_int_equal(pier_sse_feed(&p, "\n", 1, collect, NULL), PIER_ETOOBIG); /* sticky */
  pier_sse_dispose(&p);
}

static int stop_cb(void *arg, pier_slice ev, pier_slice data) { return PIER_ECANCELLED; }

static void callback_stops(void **state) {
  pier_sse_parser p;
  pier_sse_init(&p, 0);
  assert_int_equal(pier_sse_feed(&p, "data: a\n\ndata: b\n\n", 18, stop_cb, NULL), PIER_ECANCELLED);
  pier_sse_dispose(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(whole_and_split), cmocka_unit_test(cr_only_and_no_data),
                                     cmocka_unit_test(caps), cmocka_unit_test(callback_stops)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
