/* test_oai_parts.c — the OpenAI content-part readers shared by the provider
 * request mappings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "llm/oai_parts.h"

static cJSON *parse(const char *s) {
  cJSON *j = cJSON_Parse(s);
  assert_non_null(j);
  return j;
}

static void urls_and_base64(void **state) {
  (void)state;
  assert_true(pier_oai_is_remote("HTTPS://x/y.png", false));
  assert_true(pier_oai_is_remote("http://x", false));
  assert_false(pier_oai_is_remote("gs://b/o", false));
  assert_true(pier_oai_is_remote("gs://b/o", true));
  assert_false(pier_oai_is_remote("data:image/png;base64,AAAA", true));
  assert_true(pier_oai_base64_ok("QUJD+/==", false));
  assert_false(pier_oai_base64_ok("QUJD-_", false));
  assert_true(pier_oai_base64_ok("QUJD-_", true));
  assert_false(pier_oai_base64_ok("", true));
  assert_false(pier_oai_base64_ok("QU JD", true));
  cJSON *a = parse("{\"type\":\"image_url\",\"image_url\":{\"url\":\"u1\"}}");
  cJSON *b = parse("{\"type\":\"image_url\",\"image_url\":\"u2\"}");
  assert_string_equal(pier_oai_image_url(a)->valuestring, "u1");
  assert_string_equal(pier_oai_image_url(b)->valuestring, "u2");
  cJSON_Delete(a);
  cJSON_Delete(b);
}

static void tool_text_joins_text_parts_and_names_what_is_wrong(void **state) {
  (void)state;
  char err[200] = "";
  pier_buf out;
  pier_buf_init(&out, 1024);
  cJSON *c = parse("[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]");
  assert_int_equal(pier_oai_tool_text(3, c, &out, err, sizeof err), 0);
  assert_string_equal(out.ptr, "ab");
  cJSON_Delete(c);
  c = parse("[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":\"x\"}]");
  assert_int_equal(pier_oai_tool_text(3, c, &out, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "messages[3].content[1]: a tool message takes only text parts");
  cJSON_Delete(c);
  c = parse("[{\"type\":\"text\",\"text\":7}]");
  assert_int_equal(pier_oai_tool_text(0, c, &out, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "messages[0].content[0].text must be a string, got a number");
  cJSON_Delete(c);
  c = parse("{\"x\":1}");
  assert_int_equal(pier_oai_tool_text(2, c, &out, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "messages[2].content must be a string or an array of text parts, got an object");
  cJSON_Delete(c);
  pier_buf_reset(&out);
  assert_int_equal(pier_oai_tool_text(2, NULL, &out, err, sizeof err), 0);
  assert_int_equal(out.len, 0);
  pier_buf_dispose(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(urls_and_base64),
                                     cmocka_unit_test(tool_text_joins_text_parts_and_names_what_is_wrong)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
