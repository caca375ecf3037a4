/* test_jscan.c — allocation-free JSON scanning: find by path, members,
 * unescape, malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/jscan.h"

static const char chunk[] =
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Hi \\\"there\\\" \\u00e9\\ud83d\\ude00\"},\"finish_reason\":null}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}";

static void find_paths(void **state) {
  pier_slice s = pier_slice_from(chunk), v;
  assert_int_equal(pier_jscan_find(s, "model", &v), 0);
  assert_true(pier_jscan_is(v, "gpt-4o"));
  assert_int_equal(pier_jscan_find(s, "choices.0.finish_reason", &v), 0);
  assert_true(pier_slice_eq_cstr(v, "null"));
  assert_int_equal(pier_jscan_find(s, "choices.1", &v), PIER_ENOTFOUND);
  assert_int_equal(pier_jscan_find(s, "choices.0.delta.nope", &v), PIER_ENOTFOUND);
  long long n;
  assert_int_equal(pier_jscan_find(s, "usage.prompt_tokens", &v), 0);
  assert_int_equal(pier_jscan_int(v, &n), 0);
  assert_int_equal(n, 12);
  assert_int_equal(pier_jscan_find(s, "choices.0.delta.content", &v), 0);
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_jscan_unescape(v, &b), 0);
  assert_string_equal(b.ptr, "Hi \"there\" \xc3\xa9\xf0\x9f\x98\x80");
  pier_buf_dispose(&b);
}

static int count_members(void *arg, pier_slice k, pier_slice v) {
  (*(int *)arg)++;
  return 0;
}

static void members_and_malformed(void **state) {
  int n = 0;
  assert_int_equal(pier_jscan_members(pier_slice_from(chunk), count_members, &n), 0);
  assert_int_equal(n, 5);
  n = 0;
  assert_int_equal(pier_jscan_members(pier_slice_from("{ }"), count_members, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(pier_jscan_members(pier_slice_from("{\"a\":1,}"), count_members, &n), PIER_EPROTO);
  assert_int_equal(pier_jscan_members(pier_slice_from("{\"a\" 1}"), count_members, &n), PIER_EPROTO);
  pier_slice v;
  assert_int_equal(pier_jscan_find(pier_slice_from("{\"a\":[1,2"), "a.1", &v), PIER_EPROTO);
  assert_int_equal(pier_jscan_find(pier_slice_from("{\"a\":\"unterminated}"), "a", &v), PIER_EPROTO);
  char deep[300];
  memset(deep, '[', 200);
  deep[200] = '\0';
  assert_int_equal(pier_jscan_find(pier_slice_from(deep), "", &v), PIER_EPROTO);
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_jscan_unescape(pier_slice_from("\"bad\\x\""), &b), PIER_EPROTO);
  assert_int_equal(pier_jscan_unescape(pier_slice_from("\"\\u12\""), &b), PIER_EPROTO);
  pier_buf_dispose(&b);
}

static void pick_in_one_pass(void **state) {
  (void)state;
  static const char *const keys[] = {"error", "choices", "usage", "model", "missing"};
  pier_slice out[5];
  pier_slice s = pier_slice_from("{\"id\":\"x\", \"model\" : \"m1\",\"choices\":[{\"delta\":{}}],"
                                 "\"usage\":{\"a\":[1,{\"b\":null}]},\"model\":\"dup\",\"error\":null}");
  assert_int_equal(pier_jscan_pick(s, keys, 5, out), 0);
  assert_true(pier_slice_eq_cstr(out[0], "null"));
  assert_true(pier_slice_eq_cstr(out[1], "[{\"delta\":{}}]"));
  assert_true(pier_slice_eq_cstr(out[2], "{\"a\":[1,{\"b\":null}]}"));
  assert_true(pier_slice_eq_cstr(out[3], "\"m1\"")); /* the first of repeated keys */
  assert_null(out[4].ptr);
  assert_int_equal(out[4].len, 0);
  /* malformed after a found key: nothing is reported */
  assert_int_equal(pier_jscan_pick(pier_slice_from("{\"model\":\"m\",\"usage\":{"), keys, 5, out), PIER_EPROTO);
  for (int i = 0; i < 5; i++) assert_null(out[i].ptr);
  assert_int_equal(pier_jscan_pick(pier_slice_from("[1]"), keys, 5, out), PIER_EPROTO);
  assert_int_equal(pier_jscan_pick(pier_slice_from("{}"), keys, 5, out), 0);
  assert_null(out[3].ptr);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(find_paths), cmocka_unit_test(members_and_malformed),
                                     cmocka_unit_test(pick_in_one_pass)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
