/* test_path.c — path expressions, templates and `_path` config resolution:
 * exact values and the exact error sentences a workflow author would read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "engine/path.h"

static const char CTX[] =
    "{\"init_params\": {\"prompt\": \"Hello\", \"model\": \"gpt-4o-mini\","
    "  \"file_paths\": [\"acme/t/0000/a.pdf\", \"acme/t/0000/b.png\"], \"n\": 3, \"flag\": true,"
    "  \"nothing\": null, \"weird.key\": \"w\", \"my key\": \"mk\", \"a-b\": 1, \"q\\\"k\": \"quote\","
    "  \"tricky\": \"{{init_params.model}}\"},"
    " \"step1\": {\"inputs\": {\"prompt\": \"Hello\"}, \"outputs\": {\"text\": \"Hi there\", \"usage\": "
    "{\"total_tokens\": 12}}},"
    " \"x\": {\"outputs\": {\"items\": [{\"id\": 1, \"name\": \"a\", \"tags\": [\"t1\", \"t2\"]},"
    "  {\"id\": 2, \"name\": \"b\", \"tags\": [\"t3\"]}, {\"id\": 3, \"name\": \"c\", \"tags\": []}],"
    "  \"matrix\": [[1, 2], [3, 4]], \"empty\": [], \"obj\": {}, \"mixed\": [{\"id\": 1}, {\"name\": \"z\"}]}}}";

static cJSON *parse(const char *s) {
  char err[128];
  cJSON *v = pier_json_parse(pier_slice_from(s), 64, err, sizeof(err));
  if (!v) fail_msg("bad test JSON: %s", err);
  return v;
}

static int setup(void **state) {
  *state = parse(CTX);
  return 0;
}

static int teardown(void **state) {
  cJSON_Delete(*state);
  return 0;
}

/* Evaluate and compare the compact JSON of the result. */
static void check_value(const cJSON *ctx, const char *expr, const char *json) {
  char err[512];
  cJSON *out = NULL;
  int rc = pier_path_eval(ctx, pier_slice_from(expr), &out, err, sizeof(err));
  if (rc) fail_msg("%s: rc %d: %s", expr, rc, err);
  char *got = cJSON_PrintUnformatted(out);
  assert_string_equal(got, json);
  cJSON_free(got);
  cJSON_Delete(out);
}

/* The result equals the node reached by hand (a deep copy of it). */
static void check_same(const cJSON *ctx, const char *expr, const cJSON *node) {
  char *want = cJSON_PrintUnformatted(node);
  check_value(ctx, expr, want);
  cJSON_free(want);
}

static void check_error(const cJSON *ctx, const char *expr, int code, const char *message) {
  char err[512];
  cJSON *out = (cJSON *)1;
  int rc = pier_path_eval(ctx, pier_slice_from(expr), &out, err, sizeof(err));
  assert_int_equal(rc, code);
  assert_null(out);
  assert_string_equal(err, message);
}

static void test_eval_values(void **state) {
  const cJSON *ctx = *state;
  check_value(ctx, "init_params.prompt", "\"Hello\"");
  check_value(ctx, "  init_params.model \n", "\"gpt-4o-mini\"");
  check_value(ctx, "init_params.file_paths[0]", "\"acme/t/0000/a.pdf\"");
  check_value(ctx, "init_params.file_paths", "[\"acme/t/0000/a.pdf\",\"acme/t/0000/b.png\"]");
  check_value(ctx, "step1.outputs.usage", "{\"total_tokens\":12}");
  check_value(ctx, "step1.inputs.prompt", "\"Hello\"");
  check_value(ctx, "x.outputs.items[0].name", "\"a\"");
  check_value(ctx, "x.outputs.matrix[1][0]", "3");
  check_value(ctx, "init_params.n", "3");
  check_value(ctx, "init_params.flag", "true");
  check_value(ctx, "init_params.nothing", "null");
  check_value(ctx, "init_params.a-b", "1");
  check_value(ctx, "x.outputs.obj", "{}");
  check_same(ctx, "init_params", cJSON_GetObjectItem(ctx, "init_params"));
}

static void test_eval_quoted_keys(void **state) {
  const cJSON *ctx = *state;
  check_value(ctx, "init_params[\"weird.key\"]", "\"w\"");
  check_value(ctx, "init_params['weird.key']", "\"w\"");
  check_value(ctx, "init_params[\"my key\"]", "\"mk\"");
  check_value(ctx, "init_params[\"q\\\"k\"]", "\"quote\"");
  check_value(ctx, "init_params[\"file_paths\"][1]", "\"acme/t/0000/b.png\"");
  check_value(ctx, "x[\"outputs\"].items[2][\"id\"]", "3");
}

static void test_eval_fan_out(void **state) {
  const cJSON *ctx = *state;
  check_value(ctx, "x.outputs.items[*].id", "[1,2,3]");
  check_value(ctx, "x.outputs.items[*].name", "[\"a\",\"b\",\"c\"]");
  /* one array level per [*], never flattened */
  check_value(ctx, "x.outputs.items[*].tags[*]", "[[\"t1\",\"t2\"],[\"t3\"],[]]");
  check_value(ctx, "x.outputs.items[*].tags", "[[\"t1\",\"t2\"],[\"t3\"],[]]");
  check_value(ctx, "x.outputs.matrix[*][0]", "[1,3]");
  check_value(ctx, "x.outputs.matrix[*][*]", "[[1,2],[3,4]]");
  check_value(ctx, "x.outputs.empty[*]", "[]");
  check_value(ctx, "x.outputs.empty[*].id", "[]");
  const cJSON *outputs = cJSON_GetObjectItem(cJSON_GetObjectItem(ctx, "x"), "outputs");
  check_same(ctx, "x.outputs.items[*]", cJSON_GetObjectItem(outputs, "items"));
}

static void test_eval_result_is_a_copy(void **state) {
  cJSON *ctx = *state;
  cJSON *out = NULL;
  assert_int_equal(pier_path_eval(ctx, pier_slice_from("step1.outputs"), &out, NULL, 0), 0);
  cJSON_ReplaceItemInObject(out, "text", cJSON_CreateString("changed"));
  cJSON_Delete(out);
  check_value(ctx, "step1.outputs.text", "\"Hi there\"");
}

static void test_eval_not_found_messages(void **state) {
  const cJSON *ctx = *state;
  check_error(ctx, "step1.outputs.txt", PIER_ENOTFOUND,
               "path \"step1.outputs.txt\" not found: \"step1.outputs\" has keys text, usage");
  check_error(ctx, "x.outputs.items[5].id", PIER_ENOTFOUND,
               "path \"x.outputs.items[5].id\" not found: index 5 out of range: \"x.outputs.items\" has 3 elements");
  check_error(ctx, "init_params.prompt[0]", PIER_ENOTFOUND,
               "path \"init_params.prompt[0]\" not found: \"init_params.prompt\" is a string, cannot index [0]");
  check_error(ctx, "stepX.outputs.text", PIER_ENOTFOUND,
               "path \"stepX.outputs.text\" not found: the context has keys init_params, step1, x");
  check_error(ctx, "x.outputs.obj.a", PIER_ENOTFOUND,
               "path \"x.outputs.obj.a\" not found: \"x.outputs.obj\" is an empty object");
  check_error(ctx, "x.outputs.empty[0]", PIER_ENOTFOUND,
               "path \"x.outputs.empty[0]\" not found: index 0 out of range: \"x.outputs.empty\" is an empty array");
  check_error(ctx, "step1.outputs.usage.total_tokens[0]", PIER_ENOTFOUND,
               "path \"step1.outputs.usage.total_tokens[0]\" not found: \"step1.outputs.usage.total_tokens\" "
               "is a number, cannot index [0]");
  check_error(ctx, "init_params.n.x", PIER_ENOTFOUND,
               "path \"init_params.n.x\" not found: \"init_params.n\" is a number, cannot look up key \"x\"");
  check_error(ctx, "init_params.nothing[*]", PIER_ENOTFOUND,
               "path \"init_params.nothing[*]\" not found: \"init_params.nothing\" is null, cannot fan out [*]");
  check_error(ctx, "step1.outputs[*]", PIER_ENOTFOUND,
               "path \"step1.outputs[*]\" not found: \"step1.outputs\" is an object, cannot fan out [*]");
  check_error(ctx, "x.outputs.matrix[0][2]", PIER_ENOTFOUND,
               "path \"x.outputs.matrix[0][2]\" not found: index 2 out of range: \"x.outputs.matrix[0]\" has 2 "
               "elements");
  check_error(ctx, "init_params[\"weird.key\"].a", PIER_ENOTFOUND,
               "path \"init_params[\"weird.key\"].a\" not found: \"init_params[\"weird.key\"]\" is a string, "
               "cannot look up key \"a\"");
}

static void test_eval_fan_out_names_the_element(void **state) {
  const cJSON *ctx = *state;
  check_error(ctx, "x.outputs.mixed[*].id", PIER_ENOTFOUND,
               "path \"x.outputs.mixed[*].id\" not found: \"x.outputs.mixed[1]\" has keys name");
  check_error(ctx, "x.outputs.items[*].tags[0]", PIER_ENOTFOUND,
               "path \"x.outputs.items[*].tags[0]\" not found: index 0 out of range: \"x.outputs.items[2].tags\" "
               "is an empty array");
  check_error(ctx, "x.outputs.matrix[*][*].a", PIER_ENOTFOUND,
               "path \"x.outputs.matrix[*][*].a\" not found: \"x.outputs.matrix[0][0]\" is a number, "
               "cannot look up key \"a\"");
  check_error(ctx, "x.outputs.items[*].tags[*].z", PIER_ENOTFOUND,
               "path \"x.outputs.items[*].tags[*].z\" not found: \"x.outputs.items[0].tags[0]\" is a string, "
               "cannot look up key \"z\"");
}

static void test_eval_many_keys_are_summarised(void **state) {
  (void)state;
  cJSON *ctx = cJSON_CreateObject();
  cJSON *ns = cJSON_AddObjectToObject(ctx, "ns");
  char key[16];
  for (int i = 0; i < 20; i++) {
    snprintf(key, sizeof(key), "k%02d", i);
    cJSON_AddNumberToObject(ns, key, i);
  }
  check_error(ctx, "ns.zz", PIER_ENOTFOUND,
               "path \"ns.zz\" not found: \"ns\" has keys k00, k01, k02, k03, k04, k05, k06, k07, k08, k09, "
               "k10, k11, k12, k13, k14, k15, ... (4 more)");
  cJSON_Delete(ctx);
}

static void test_eval_syntax_errors(void **state) {
  const cJSON *ctx = *state;
  check_error(ctx, "a..b", PIER_EINVAL, "invalid path \"a..b\": empty key at byte 2");
  check_error(ctx, "a[", PIER_EINVAL, "invalid path \"a[\": unclosed \"[\" at byte 1");
  check_error(ctx, "a[0", PIER_EINVAL, "invalid path \"a[0\": unclosed \"[\" at byte 1");
  check_error(ctx, "a[*", PIER_EINVAL, "invalid path \"a[*\": unclosed \"[\" at byte 1");
  check_error(ctx, "a[x]", PIER_EINVAL,
               "invalid path \"a[x]\": expected an index, \"*\" or a quoted key inside [] at byte 2");
  check_error(ctx, "a[]", PIER_EINVAL,
               "invalid path \"a[]\": expected an index, \"*\" or a quoted key inside [] at byte 2");
  check_error(ctx, "a[-1]", PIER_EINVAL, "invalid path \"a[-1]\": negative index (indexes start at 0) at byte 2");
  check_error(ctx, "a[1x]", PIER_EINVAL, "invalid path \"a[1x]\": expected \"]\" at byte 3");
  check_error(ctx, "a[ 1]", PIER_EINVAL,
               "invalid path \"a[ 1]\": expected an index, \"*\" or a quoted key inside [] at byte 2");
  check_error(ctx, "a[99999999999]", PIER_EINVAL, "invalid path \"a[99999999999]\": index too large at byte 2");
  check_error(ctx, "a[\"x]", PIER_EINVAL, "invalid path \"a[\"x]\": unterminated quoted key at byte 2");
  check_error(ctx, "a[\"x\"", PIER_EINVAL, "invalid path \"a[\"x\"\": unclosed \"[\" at byte 1");
  check_error(ctx, "a[\"x\"x]", PIER_EINVAL, "invalid path \"a[\"x\"x]\": expected \"]\" at byte 5");
  check_error(ctx, "", PIER_EINVAL, "empty path expression");
  check_error(ctx, " \t\n", PIER_EINVAL, "empty path expression");
  check_error(ctx, ".a", PIER_EINVAL, "invalid path \".a\": empty key at byte 0");
  check_error(ctx, "a.", PIER_EINVAL, "invalid path \"a.\": empty key at byte 2");
  check_error(ctx, "[0]", PIER_EINVAL, "invalid path \"[0]\": empty key at byte 0");
  check_error(ctx, "a.[0]", PIER_EINVAL, "invalid path \"a.[0]\": empty key at byte 2");
  check_error(ctx, "a]", PIER_EINVAL, "invalid path \"a]\": unexpected \"]\" at byte 1");
  check_error(ctx, "a[0]b", PIER_EINVAL, "invalid path \"a[0]b\": unexpected \"b\" at byte 4");
  check_error(ctx, "a b", PIER_EINVAL,
               "invalid path \"a b\": unexpected space (quote such keys: a[\"my key\"]) at byte 1");
  check_error(ctx, "a\"b", PIER_EINVAL,
               "invalid path \"a\"b\": unexpected quote (quoted keys go in brackets: a[\"key\"]) at byte 1");
  check_error(ctx, "a.\x01", PIER_EINVAL, "invalid path \"a.\\x01\": control byte at byte 2");
}

static void test_eval_caps(void **state) {
  const cJSON *ctx = *state;
  char expr[PIER_PATH_EXPR_BYTES_MAX + 2];
  memset(expr, 'a', sizeof(expr) - 1);
  expr[sizeof(expr) - 1] = '\0';
  check_error(ctx, expr, PIER_ETOOBIG, "path expression of 1025 bytes is longer than 1024 bytes");
  expr[sizeof(expr) - 2] = '\0'; /* exactly at the cap: parsed, then simply not found */
  cJSON *out = NULL;
  assert_int_equal(pier_path_eval(ctx, pier_slice_from(expr), &out, NULL, 0), PIER_ENOTFOUND);
}

static void test_eval_step_cap(void **state) {
  (void)state;
  char expr[256] = "a";
  for (int i = 1; i < PIER_PATH_STEPS_MAX; i++) strcat(expr, "[0]");
  char err[256];
  assert_int_equal(pier_path_check(pier_slice_from(expr), err, sizeof(err)), 0);
  strcat(expr, "[0]");
  assert_int_equal(pier_path_check(pier_slice_from(expr), err, sizeof(err)), PIER_ETOOBIG);
  assert_non_null(strstr(err, "more than 64 steps"));
}

static void test_eval_fan_out_cap(void **state) {
  (void)state;
  cJSON *ctx = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(ctx, "big");
  for (int i = 0; i < PIER_PATH_FANOUT_MAX; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
  cJSON *out = NULL;
  assert_int_equal(pier_path_eval(ctx, pier_slice_from("big[*]"), &out, NULL, 0), 0);
  assert_int_equal(cJSON_GetArraySize(out), PIER_PATH_FANOUT_MAX);
  cJSON_Delete(out);
  cJSON_AddItemToArray(arr, cJSON_CreateNumber(0));
  check_error(ctx, "big[*]", PIER_ETOOBIG, "path \"big[*]\": [*] produced more than 100000 elements");
  cJSON_Delete(ctx);
  /* nested fan-outs count every element they produce */
  ctx = cJSON_CreateObject();
  arr = cJSON_AddArrayToObject(ctx, "m");
  for (int i = 0; i < 400; i++) {
    cJSON *row = cJSON_CreateArray();
    for (int j = 0; j < 400; j++) cJSON_AddItemToArray(row, cJSON_CreateTrue());
    cJSON_AddItemToArray(arr, row);
  }
  check_error(ctx, "m[*][*]", PIER_ETOOBIG, "path \"m[*][*]\": [*] produced more than 100000 elements");
  cJSON_Delete(ctx);
}

/* Many references to one 1 MiB string: copying them all would exceed the byte budget. */
static cJSON *ctx_with_big_strings(char **blob, int count) {
  *blob = malloc((1u << 20) + 1);
  memset(*blob, 'b', 1u << 20);
  (*blob)[1u << 20] = '\0';
  cJSON *ctx = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(ctx, "big");
  for (int i = 0; i < count; i++) cJSON_AddItemToArray(arr, cJSON_CreateStringReference(*blob));
  cJSON_AddItemToObject(ctx, "one", cJSON_CreateStringReference(*blob));
  return ctx;
}

static void test_eval_byte_budget(void **state) {
  (void)state;
  char *blob;
  cJSON *ctx = ctx_with_big_strings(&blob, 70);
  check_error(ctx, "big[*]", PIER_ETOOBIG, "path \"big[*]\": the value is larger than 67108864 bytes");
  check_error(ctx, "big", PIER_ETOOBIG, "path \"big\": the value is larger than 67108864 bytes");
  cJSON *out = NULL;
  assert_int_equal(pier_path_eval(ctx, pier_slice_from("big[3]"), &out, NULL, 0), 0);
  assert_int_equal(strlen(out->valuestring), 1u << 20);
  cJSON_Delete(out);
  cJSON_Delete(ctx);
  free(blob);
}

static void test_eval_bad_context_and_tiny_err(void **state) {
  (void)state;
  cJSON *arr = cJSON_CreateArray();
  cJSON *out = NULL;
  char err[8];
  assert_int_equal(pier_path_eval(arr, pier_slice_from("a"), &out, err, sizeof(err)), PIER_EINVAL);
  assert_int_equal(strlen(err), 7); /* truncated, terminated */
  assert_int_equal(pier_path_eval(NULL, pier_slice_from("a"), &out, NULL, 0), PIER_EINVAL);
  assert_int_equal(pier_path_eval(arr, PIER_SLICE_NULL, &out, NULL, 0), PIER_EINVAL);
  cJSON_Delete(arr);
}

/* An expression is bytes, not a C string: a NUL inside must not end it early. */
static void test_eval_slice_not_cstring(void **state) {
  const cJSON *ctx = *state;
  cJSON *out = NULL;
  char err[256];
  assert_int_equal(pier_path_eval(ctx, pier_slice_make("init_params.promptXYZ", 18), &out, err, sizeof(err)), 0);
  assert_string_equal(out->valuestring, "Hello");
  cJSON_Delete(out);
  assert_int_equal(pier_path_eval(ctx, pier_slice_make("init_params\0.x", 14), &out, err, sizeof(err)),
                   PIER_EINVAL);
  assert_string_equal(err, "invalid path \"init_params\\x00.x\": control byte at byte 11");
}

/* ---- templates ---- */

static void check_render(const cJSON *ctx, const char *tmpl, const char *want) {
  pier_buf b;
  pier_buf_init(&b, 0);
  char err[512];
  int rc = pier_template_render(ctx, pier_slice_from(tmpl), &b, err, sizeof(err));
  if (rc) fail_msg("%s: rc %d: %s", tmpl, rc, err);
  assert_string_equal(b.ptr ? b.ptr : "", want);
  pier_buf_dispose(&b);
}

static void check_render_error(const cJSON *ctx, const char *tmpl, int code, const char *message) {
  pier_buf b;
  pier_buf_init(&b, 0);
  char err[512];
  assert_int_equal(pier_template_render(ctx, pier_slice_from(tmpl), &b, err, sizeof(err)), code);
  assert_string_equal(err, message);
  pier_buf_dispose(&b);
}

static void test_template_render(void **state) {
  const cJSON *ctx = *state;
  check_render(ctx, "Say {{ init_params.prompt }} to {{step1.outputs.text}}!", "Say Hello to Hi there!");
  check_render(ctx, "{{init_params.n}} {{init_params.flag}} {{ init_params.nothing }}", "3 true null");
  check_render(ctx, "u={{step1.outputs.usage}} f={{init_params.file_paths}}",
                "u={\"total_tokens\":12} f=[\"acme/t/0000/a.pdf\",\"acme/t/0000/b.png\"]");
  check_render(ctx, "{{x.outputs.items[*].id}}", "[1,2,3]");
  check_render(ctx, "{{init_params[\"weird.key\"]}}", "w");
  check_render(ctx, "no templates { here } }}", "no templates { here } }}");
  check_render(ctx, "", "");
  check_render(ctx, "{", "{");
  check_render(ctx, "{{\tinit_params.prompt\n}}", "Hello");
  /* one pass: a value that looks like a template is inserted as is */
  check_render(ctx, "[{{init_params.tricky}}]", "[{{init_params.model}}]");
}

static void test_template_errors(void **state) {
  const cJSON *ctx = *state;
  check_render_error(ctx, "abc {{ init_params.prompt", PIER_EINVAL, "unclosed \"{{\" at byte 4");
  check_render_error(ctx, "ok {{init_params.prompt}} {{x}", PIER_EINVAL, "unclosed \"{{\" at byte 26");
  check_render_error(ctx, "{{}}", PIER_EINVAL, "empty \"{{}}\" at byte 0");
  check_render_error(ctx, "a {{  }}", PIER_EINVAL, "empty \"{{}}\" at byte 2");
  check_render_error(ctx, "{{ step1.outputs.txt }}", PIER_ENOTFOUND,
                      "path \"step1.outputs.txt\" not found: \"step1.outputs\" has keys text, usage");
  check_render_error(ctx, "{{ a..b }}", PIER_EINVAL, "invalid path \"a..b\": empty key at byte 2");
}

static void test_template_appends_and_respects_cap(void **state) {
  const cJSON *ctx = *state;
  pier_buf b;
  pier_buf_init(&b, 12);
  assert_int_equal(pier_buf_append_cstr(&b, ">"), 0);
  assert_int_equal(pier_template_render(ctx, pier_slice_from("{{init_params.prompt}}!"), &b, NULL, 0), 0);
  assert_string_equal(b.ptr, ">Hello!");
  char err[128];
  assert_int_equal(pier_template_render(ctx, pier_slice_from("{{step1.outputs.text}}"), &b, err, sizeof(err)),
                   PIER_ETOOBIG);
  assert_string_equal(err, "the rendered text is larger than 12 bytes");
  pier_buf_dispose(&b);
}

static void check_vars(const cJSON *vars, const char *tmpl, const char *want) {
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_template_render_vars(vars, pier_slice_from(tmpl), &b), 0);
  assert_string_equal(b.ptr ? b.ptr : "", want);
  pier_buf_dispose(&b);
}

static void test_template_vars(void **state) {
  (void)state;
  cJSON *vars = parse("{\"name\": \"Ada\", \"secrets\": {\"KEY\": \"k\"}, \"n\": 2, \"list\": [1, \"x\"],"
                      " \"a.b\": \"dotted\", \"results_dir\": \"/app/results\"}");
  check_vars(vars, "Hello {{name}} and {{ name }}!", "Hello Ada and Ada!");
  check_vars(vars, "{{unknown}} stays, {{ unknown }} too", "{{unknown}} stays, {{ unknown }} too");
  check_vars(vars, "{{secrets.KEY}} {{secrets.NOPE}}", "k {{secrets.NOPE}}");
  check_vars(vars, "{{n}} {{list}} {{list[1]}}", "2 [1,\"x\"] x");
  check_vars(vars, "{{a.b}}", "dotted");
  check_vars(vars, "save to {{results_dir}}/out.md", "save to /app/results/out.md");
  check_vars(vars, "{{}} {{ }} {{ bad..path }}", "{{}} {{ }} {{ bad..path }}");
  check_vars(vars, "tail {{ name", "tail {{ name");
  check_vars(vars, "${{ github.token }}", "${{ github.token }}");
  check_vars(vars, "", "");
  check_vars(NULL, "{{name}}", "{{name}}");
  cJSON_Delete(vars);
}

/* ---- config resolution ---- */

static void check_resolved(const cJSON *ctx, const char *config, const char *want) {
  cJSON *cfg = parse(config);
  char *before = cJSON_PrintUnformatted(cfg);
  cJSON *out = NULL;
  char err[512];
  int rc = pier_path_resolve_config(cfg, ctx, &out, err, sizeof(err));
  if (rc) fail_msg("%s: rc %d: %s", config, rc, err);
  char *got = cJSON_PrintUnformatted(out);
  assert_string_equal(got, want);
  char *after = cJSON_PrintUnformatted(cfg);
  assert_string_equal(before, after); /* the config is only read */
  cJSON_free(got);
  cJSON_free(before);
  cJSON_free(after);
  cJSON_Delete(out);
  cJSON_Delete(cfg);
}

static void check_resolve_error(const cJSON *ctx, const char *config, int code, const char *message) {
  cJSON *cfg = parse(config);
  cJSON *out = (cJSON *)1;
  char err[512];
  assert_int_equal(pier_path_resolve_config(cfg, ctx, &out, err, sizeof(err)), code);
  assert_null(out);
  assert_string_equal(err, message);
  cJSON_Delete(cfg);
}

static void test_resolve_jetty_example(void **state) {
  check_resolved(*state,
                  "{\"activity\": \"litellm_chat\", \"model_path\": \"init_params.model\","
                  " \"prompt_path\": \"init_params.prompt\", \"temperature\": 0.7}",
                  "{\"activity\":\"litellm_chat\",\"model\":\"gpt-4o-mini\",\"prompt\":\"Hello\",\"temperature\":0.7}");
}

static void test_resolve_path_wins_over_literal(void **state) {
  check_resolved(*state, "{\"prompt\": \"literal\", \"prompt_path\": \"init_params.prompt\"}",
                  "{\"prompt\":\"Hello\"}");
  check_resolved(*state, "{\"prompt_path\": \"init_params.prompt\", \"prompt\": \"literal\"}",
                  "{\"prompt\":\"Hello\"}");
}

static void test_resolve_storage_path_keys(void **state) {
  const cJSON *ctx = *state;
  /* literal storage keys stay literal */
  check_resolved(ctx,
                  "{\"image_path\": \"acme/t/0000/x.png\", \"file_path\": \"acme/t/0000/y.pdf\","
                  " \"storage_path\": \"s\", \"output_path\": \"o\"}",
                  "{\"image_path\":\"acme/t/0000/x.png\",\"file_path\":\"acme/t/0000/y.pdf\",\"storage_path\":\"s\","
                  "\"output_path\":\"o\"}");
  /* one _path removed: image_path_path is the expression for image_path */
  check_resolved(ctx, "{\"image_path_path\": \"init_params.file_paths[1]\"}", "{\"image_path\":\"acme/t/0000/b.png\"}");
  check_resolved(ctx, "{\"image_path\": \"old.png\", \"image_path_path\": \"init_params.file_paths[1]\"}",
                  "{\"image_path\":\"acme/t/0000/b.png\"}");
  check_resolved(ctx, "{\"file_path_path\": \"init_params.file_paths[0]\"}", "{\"file_path\":\"acme/t/0000/a.pdf\"}");
  check_resolved(ctx, "{\"files_path\": \"init_params.file_paths\"}",
                  "{\"files\":[\"acme/t/0000/a.pdf\",\"acme/t/0000/b.png\"]}");
  /* a literal storage key can still be a template */
  check_resolved(ctx, "{\"image_path\": \"acme/t/{{init_params.n}}.png\"}", "{\"image_path\":\"acme/t/3.png\"}");
}

static void test_resolve_expr_key_rule(void **state) {
  (void)state;
  static const struct {
    const char *key, *target; /* target NULL: literal key */
  } cases[] = {
      {"prompt_path", "prompt"},       {"model_path", "model"},
      {"items_path", "items"},         {"image_path", NULL},
      {"image_path_path", "image_path"}, {"file_path", NULL},
      {"file_path_path", "file_path"}, {"storage_path", NULL},
      {"output_path", NULL},           {"output_path_path", "output_path"},
      {"files_path", "files"},         {"_path", NULL},
      {"path", NULL},                  {"prompt", NULL},
      {"x_path", "x"},                 {"prompt_PATH", NULL},
      {"image_path_path_path", "image_path_path"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pier_slice t = PIER_SLICE_NULL;
    bool is = pier_path_expr_key(pier_slice_from(cases[i].key), &t);
    if (is != (cases[i].target != NULL)) fail_msg("%s", cases[i].key);
    if (is) assert_true(pier_slice_eq_cstr(t, cases[i].target));
  }
}

static void test_resolve_arrays_of_paths(void **state) {
  const cJSON *ctx = *state;
  check_resolved(ctx, "{\"items_path\": [\"step1.outputs.text\", \"init_params.n\", \"x.outputs.items[*].id\"]}",
                  "{\"items\":[\"Hi there\",3,[1,2,3]]}");
  check_resolved(ctx, "{\"items_path\": \"x.outputs.items[*].name\"}", "{\"items\":[\"a\",\"b\",\"c\"]}");
  check_resolved(ctx, "{\"items_path\": []}", "{\"items\":[]}");
}

static void test_resolve_nested(void **state) {
  const cJSON *ctx = *state;
  check_resolved(ctx, "{\"activity\": \"replicate_run\", \"input\": {\"prompt_path\": \"init_params.prompt\","
                       " \"width\": 512, \"deep\": {\"n_path\": \"init_params.n\"}}}",
                  "{\"activity\":\"replicate_run\",\"input\":{\"prompt\":\"Hello\",\"width\":512,\"deep\":{\"n\":3}}}");
  check_resolved(ctx, "{\"messages\": [{\"role\": \"user\", \"content_path\": \"init_params.prompt\"}, 7, [\"{{init_params.n}}\"]]}",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"},7,[\"3\"]]}");
  check_resolved(ctx, "{\"user_prompt_params\": {\"topic_path\": \"init_params.prompt\"}, \"activity_x\": 1}",
                  "{\"user_prompt_params\":{\"topic\":\"Hello\"},\"activity_x\":1}");
  /* a nested "activity" is plain data */
  check_resolved(ctx, "{\"input\": {\"activity_path\": \"init_params.model\"}}", "{\"input\":{\"activity\":\"gpt-4o-mini\"}}");
}

static void test_resolve_templates_and_literals(void **state) {
  const cJSON *ctx = *state;
  check_resolved(ctx,
                  "{\"system_prompt\": \"About {{ init_params.prompt }}: {{step1.outputs.usage}}\", \"list\": "
                  "[\"{{init_params.n}}\", 5, true, null], \"plain\": \"no braces\"}",
                  "{\"system_prompt\":\"About Hello: {\\\"total_tokens\\\":12}\",\"list\":[\"3\",5,true,null],"
                  "\"plain\":\"no braces\"}");
  /* evaluated values are not rendered again */
  check_resolved(ctx, "{\"text_path\": \"init_params.tricky\"}", "{\"text\":\"{{init_params.model}}\"}");
  /* non-string `_path` values are literal keys */
  check_resolved(ctx, "{\"weird_path\": 3, \"obj_path\": {\"a\": 1}, \"mixed_path\": [\"init_params.n\", 1]}",
                  "{\"weird_path\":3,\"obj_path\":{\"a\":1},\"mixed_path\":[\"init_params.n\",1]}");
  /* the top-level activity is copied verbatim */
  check_resolved(ctx, "{\"activity\": \"{{not a template}}\"}", "{\"activity\":\"{{not a template}}\"}");
  check_resolved(ctx, "{}", "{}");
}

static void test_resolve_errors(void **state) {
  (void)state;
  cJSON *ctx = parse("{\"init_params\": {\"prompt\": \"p\", \"model\": \"m\"}}");
  check_resolve_error(ctx, "{\"input\": {\"prompt_path\": \"init_params.promt\"}}", PIER_ENOTFOUND,
                       "input.prompt_path: path \"init_params.promt\" not found: \"init_params\" has keys prompt, model");
  check_resolve_error(ctx, "{\"items_path\": [\"init_params.prompt\", \"nope\"]}", PIER_ENOTFOUND,
                       "items_path[1]: path \"nope\" not found: the context has keys init_params");
  check_resolve_error(ctx, "{\"list\": [1, {\"a\": \"{{ x\"}]}", PIER_EINVAL, "list[1].a: unclosed \"{{\" at byte 0");
  check_resolve_error(ctx, "{\"p\": \"{{init_params.x}}\"}", PIER_ENOTFOUND,
                       "p: path \"init_params.x\" not found: \"init_params\" has keys prompt, model");
  check_resolve_error(ctx, "{\"model_path\": \"a..b\"}", PIER_EINVAL,
                       "model_path: invalid path \"a..b\": empty key at byte 2");
  check_resolve_error(ctx, "{\"activity\": \"x\", \"activity_path\": \"init_params.model\"}", PIER_EINVAL,
                       "activity_path: the activity cannot be a path expression; name it with \"activity\"");
  cJSON *out = (cJSON *)1;
  char err[128];
  cJSON *arr = cJSON_CreateArray();
  assert_int_equal(pier_path_resolve_config(arr, ctx, &out, err, sizeof(err)), PIER_EINVAL);
  assert_string_equal(err, "the step config is an array, not an object");
  assert_null(out);
  cJSON_Delete(arr);
  cJSON_Delete(ctx);
}

static void test_resolve_byte_budget(void **state) {
  (void)state;
  char *blob;
  cJSON *ctx = ctx_with_big_strings(&blob, 1);
  cJSON *cfg = cJSON_CreateObject();
  char key[32];
  for (int i = 0; i < 70; i++) {
    snprintf(key, sizeof(key), "k%d_path", i);
    cJSON_AddStringToObject(cfg, key, "one");
  }
  cJSON *out = (cJSON *)1;
  char err[256];
  assert_int_equal(pier_path_resolve_config(cfg, ctx, &out, err, sizeof(err)), PIER_ETOOBIG);
  assert_null(out);
  assert_string_equal(err, "k63_path: path \"one\": the value is larger than 67108864 bytes");
  cJSON_Delete(cfg);
  /* the same through templates */
  cfg = cJSON_CreateObject();
  for (int i = 0; i < 70; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    cJSON_AddStringToObject(cfg, key, "{{one}}");
  }
  assert_int_equal(pier_path_resolve_config(cfg, ctx, &out, err, sizeof(err)), PIER_ETOOBIG);
  assert_string_equal(err, "k63: the resolved config is larger than 67108864 bytes");
  cJSON_Delete(cfg);
  cJSON_Delete(ctx);
  free(blob);
}

/* A wide config with many `X`/`X_path` pairs resolves (sorted lookup, not quadratic). */
static void test_resolve_wide_config(void **state) {
  const cJSON *ctx = *state;
  cJSON *cfg = cJSON_CreateObject();
  char key[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    cJSON_AddStringToObject(cfg, key, "literal");
    snprintf(key, sizeof(key), "k%d_path", i);
    cJSON_AddStringToObject(cfg, key, "init_params.n");
  }
  cJSON *out = NULL;
  assert_int_equal(pier_path_resolve_config(cfg, ctx, &out, NULL, 0), 0);
  assert_int_equal(cJSON_GetArraySize(out), 20000);
  assert_int_equal(cJSON_GetObjectItem(out, "k19999")->valueint, 3);
  cJSON_Delete(out);
  cJSON_Delete(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_eval_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eval_quoted_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eval_fan_out, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eval_result_is_a_copy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eval_not_found_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eval_fan_out_names_the_element, setup, teardown),
      cmocka_unit_test(test_eval_many_keys_are_summarised),
      cmocka_unit_test_setup_teardown(test_eval_syntax_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eval_caps, setup, teardown),
      cmocka_unit_test(test_eval_step_cap),
      cmocka_unit_test(test_eval_fan_out_cap),
      cmocka_unit_test(test_eval_byte_budget),
      cmocka_unit_test(test_eval_bad_context_and_tiny_err),
      cmocka_unit_test_setup_teardown(test_eval_slice_not_cstring, setup, teardown),
      cmocka_unit_test_setup_teardown(test_template_render, setup, teardown),
      cmocka_unit_test_setup_teardown(test_template_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_template_appends_and_respects_cap, setup, teardown),
      cmocka_unit_test(test_template_vars),
      cmocka_unit_test_setup_teardown(test_resolve_jetty_example, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolve_path_wins_over_literal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolve_storage_path_keys, setup, teardown),
      cmocka_unit_test(test_resolve_expr_key_rule),
      cmocka_unit_test_setup_teardown(test_resolve_arrays_of_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolve_nested, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolve_templates_and_literals, setup, teardown),
      cmocka_unit_test(test_resolve_errors),
      cmocka_unit_test(test_resolve_byte_budget),
      cmocka_unit_test_setup_teardown(test_resolve_wide_config, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
