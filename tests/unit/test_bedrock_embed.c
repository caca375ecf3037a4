/* test_bedrock_embed.c — OpenAI embeddings <-> Bedrock InvokeModel for Titan
 * and Cohere: the exact bodies sent, the exact OpenAI reply assembled (single
 * quotes in literals stand for double quotes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "llm/bedrock_embed.h"

static char *q(const char *s) {
  char *r = strdup(s);
  for (char *p = r; *p; p++)
    if (*p == '\'') *p = '"';
  return r;
}

static cJSON *J(const char *sq) {
  char *s = q(sq), err[128];
  cJSON *j = pier_json_parse(pier_slice_from(s), 64, err, sizeof err);
  if (!j) fail_msg("bad test JSON (%s): %s", err, s);
  free(s);
  return j;
}

static void str_eq(const char *got, const char *want_sq) {
  char *want = q(want_sq);
  if (strcmp(got ? got : "", want)) fail_msg("differs\n  got:  %s\n  want: %s", got ? got : "", want);
  free(want);
}

static cJSON *kept[64];
static int nkept;

static int free_kept(void **state) {
  (void)state;
  while (nkept) cJSON_Delete(kept[--nkept]);
  return 0;
}

static pier_bedrock_embed *plan(const char *req_sq, const char *model, size_t want_calls) {
  cJSON *req = J(req_sq);
  pier_bedrock_embed *e = NULL;
  char err[256];
  int rc = pier_bedrock_embed_create(req, model, &e, err, sizeof err);
  if (rc) fail_msg("create failed: %s", err);
  assert_int_equal(pier_bedrock_embed_calls(e), want_calls);
  assert_true(nkept < 64);
  kept[nkept++] = req; /* the request must outlive the plan; freed by the group teardown */
  return e;
}

static void body_eq(const pier_bedrock_embed *e, size_t call, const char *want_sq) {
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_bedrock_embed_body(e, call, &b), 0);
  str_eq(b.ptr, want_sq);
  pier_buf_dispose(&b);
}

static void answer(pier_bedrock_embed *e, size_t call, const char *resp_sq, const char *tokens_header) {
  char *r = q(resp_sq), err[256];
  int rc = pier_bedrock_embed_add_response(e, call, pier_slice_from(r), pier_slice_from(tokens_header), err,
                                           sizeof err);
  if (rc) fail_msg("add_response(%zu) failed: %s", call, err);
  free(r);
}

static void finish_eq(pier_bedrock_embed *e, const char *model, const char *want_sq) {
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[256];
  int rc = pier_bedrock_embed_finish(e, model, &out, err, sizeof err);
  if (rc) fail_msg("finish failed: %s", err);
  str_eq(out.ptr, want_sq);
  pier_buf_dispose(&out);
}

static void test_family_of(void **state) {
  (void)state;
  static const struct { const char *id; int family; } ok[] = {
    {"amazon.titan-embed-text-v2:0", PIER_BEDROCK_EMBED_TITAN_V2},
    {"us.amazon.titan-embed-text-v2:0", PIER_BEDROCK_EMBED_TITAN_V2},
    {"amazon.titan-embed-text-v1", PIER_BEDROCK_EMBED_TITAN_V1},
    {"amazon.titan-embed-g1-text-02", PIER_BEDROCK_EMBED_TITAN_V1},
    {"cohere.embed-english-v3", PIER_BEDROCK_EMBED_COHERE_V3},
    {"eu.cohere.embed-multilingual-v3", PIER_BEDROCK_EMBED_COHERE_V3},
    {"cohere.embed-v4:0", PIER_BEDROCK_EMBED_COHERE_V4},
    {"global.cohere.embed-v4:0", PIER_BEDROCK_EMBED_COHERE_V4},
    {"apac.cohere.embed-v4:0", PIER_BEDROCK_EMBED_COHERE_V4},
    {"arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0", PIER_BEDROCK_EMBED_TITAN_V2},
  };
  pier_bedrock_embed_family f;
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    assert_int_equal(pier_bedrock_embed_family_of(ok[i].id, &f), 0);
    assert_int_equal(f, ok[i].family);
  }
  assert_int_equal(pier_bedrock_embed_family_of("amazon.titan-embed-image-v1", &f), PIER_ENOTFOUND);
  assert_int_equal(pier_bedrock_embed_family_of("us.anthropic.claude-sonnet-4-6", &f), PIER_ENOTFOUND);
  assert_int_equal(pier_bedrock_embed_family_of("xx.amazon.titan-embed-text-v2:0", &f), PIER_ENOTFOUND);
  assert_int_equal(pier_bedrock_embed_family_of(NULL, &f), PIER_ENOTFOUND);
}

static void test_titan_v2_array_out_of_order(void **state) {
  (void)state;
  pier_bedrock_embed *e = plan("{'input':['hello','wor\\'ld'],'dimensions':256,'model':'x'}",
                               "amazon.titan-embed-text-v2:0", 2);
  body_eq(e, 0, "{'inputText':'hello','dimensions':256}");
  body_eq(e, 1, "{'inputText':'wor\\'ld','dimensions':256}");
  /* replies in reverse order; floats printed so a float32 survives */
  answer(e, 1, "{'embedding':[0.5,-1e-7,3],'inputTextTokenCount':4,'embeddingsByType':{'float':[0.5,-1e-7,3]}}", "");
  answer(e, 0, "{'embedding':[0.1,0.0123456789012,-0.33333334],'inputTextTokenCount':2}", "99");
  finish_eq(e, "bedrock/amazon.titan-embed-text-v2:0",
            "{'object':'list','data':[{'object':'embedding','index':0,'embedding':[0.1,0.0123456789,-0.33333334]},"
            "{'object':'embedding','index':1,'embedding':[0.5,-1e-07,3]}],"
            "'model':'bedrock/amazon.titan-embed-text-v2:0','usage':{'prompt_tokens':6,'total_tokens':6}}");
  pier_bedrock_embed_destroy(e);
}

static void test_titan_v1_string_and_base64(void **state) {
  (void)state;
  pier_bedrock_embed *e = plan("{'input':'hi','encoding_format':'base64'}", "amazon.titan-embed-text-v1", 1);
  body_eq(e, 0, "{'inputText':'hi'}");
  answer(e, 0, "{'embedding':[1.0,-2.0],'inputTextTokenCount':1}", "");
  /* float32 little-endian 00 00 80 3f | 00 00 00 c0 */
  finish_eq(e, "t1",
            "{'object':'list','data':[{'object':'embedding','index':0,'embedding':'AACAPwAAAMA='}],"
            "'model':'t1','usage':{'prompt_tokens':1,'total_tokens':1}}");
  pier_bedrock_embed_destroy(e);
}

static void test_cohere_v3_batches_of_96(void **state) {
  (void)state;
  pier_buf req;
  pier_buf_init(&req, 0);
  assert_int_equal(pier_buf_append_cstr(&req, "{'input':["), 0);
  for (int i = 0; i < 100; i++) assert_int_equal(pier_buf_appendf(&req, "%s't%d'", i ? "," : "", i), 0);
  assert_int_equal(pier_buf_append_cstr(&req, "],'input_type':'search_query'}"), 0);
  pier_bedrock_embed *e = plan(req.ptr, "us.cohere.embed-english-v3", 2);
  pier_buf_dispose(&req);
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_bedrock_embed_body(e, 0, &b), 0);
  assert_int_equal(strncmp(b.ptr, "{\"texts\":[\"t0\",\"t1\",", 20), 0);
  assert_non_null(strstr(b.ptr, "\"t95\"],\"input_type\":\"search_query\"}"));
  assert_null(strstr(b.ptr, "\"t96\""));
  pier_buf_dispose(&b);
  body_eq(e, 1, "{'texts':['t96','t97','t98','t99'],'input_type':'search_query'}");
  assert_int_equal(pier_bedrock_embed_body(e, 2, &b), PIER_EINVAL);
  /* the big batch first in float form, then the small one by type */
  pier_buf big;
  pier_buf_init(&big, 0);
  assert_int_equal(pier_buf_append_cstr(&big, "{'id':'x','response_type':'embeddings_floats','embeddings':["), 0);
  for (int i = 0; i < 96; i++) assert_int_equal(pier_buf_appendf(&big, "%s[%d]", i ? "," : "", i), 0);
  assert_int_equal(pier_buf_append_cstr(&big, "],'texts':[]}"), 0);
  answer(e, 0, big.ptr, "800");
  pier_buf_dispose(&big);
  answer(e, 1, "{'response_type':'embeddings_by_type','embeddings':{'float':[[96],[97],[98],[99.5]]}}", " 12 ");
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[128];
  assert_int_equal(pier_bedrock_embed_finish(e, "c", &out, err, sizeof err), 0);
  cJSON *j = pier_json_parse(pier_buf_slice(&out), 64, err, sizeof err);
  assert_non_null(j);
  cJSON *data = cJSON_GetObjectItem(j, "data");
  assert_int_equal(cJSON_GetArraySize(data), 100);
  for (int i = 0; i < 100; i++) {
    cJSON *d = cJSON_GetArrayItem(data, i);
    assert_int_equal(cJSON_GetObjectItem(d, "index")->valueint, i);
    assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "embedding"), 0)->valuedouble == (i == 99 ? 99.5 : i));
  }
  assert_non_null(strstr(out.ptr, "],\"model\":\"c\",\"usage\":{\"prompt_tokens\":812,\"total_tokens\":812}}"));
  cJSON_Delete(j);
  pier_buf_dispose(&out);
  pier_bedrock_embed_destroy(e);
}

static void test_cohere_defaults_and_v4_dimension(void **state) {
  (void)state;
  pier_bedrock_embed *e = plan("{'input':'doc'}", "cohere.embed-multilingual-v3", 1);
  body_eq(e, 0, "{'texts':['doc'],'input_type':'search_document'}");
  answer(e, 0, "{'embeddings':[[0.25]]}", "");
  finish_eq(e, "m",
            "{'object':'list','data':[{'object':'embedding','index':0,'embedding':[0.25]}],'model':'m',"
            "'usage':{'prompt_tokens':0,'total_tokens':0}}");
  pier_bedrock_embed_destroy(e);
  e = plan("{'input':['a'],'dimensions':512,'input_type':'clustering'}", "cohere.embed-v4:0", 1);
  body_eq(e, 0, "{'texts':['a'],'input_type':'clustering','output_dimension':512}");
  pier_bedrock_embed_destroy(e);
}

static void expect_create_error(const char *req_sq, const char *model, int want_rc, const char *want) {
  cJSON *req = J(req_sq);
  pier_bedrock_embed *e = (pier_bedrock_embed *)1;
  char err[512] = "";
  assert_int_equal(pier_bedrock_embed_create(req, model, &e, err, sizeof err), want_rc);
  assert_null(e);
  if (strcmp(err, want)) fail_msg("error\n  got:  %s\n  want: %s", err, want);
  cJSON_Delete(req);
}

static void test_request_errors(void **state) {
  (void)state;
  const char *t2 = "amazon.titan-embed-text-v2:0";
  expect_create_error("{'input':'x'}", "us.anthropic.claude-sonnet-4-6", PIER_ENOTFOUND,
                      "model \"us.anthropic.claude-sonnet-4-6\" is not a Bedrock embedding model pier supports; use "
                      "amazon.titan-embed-text-v2:0, amazon.titan-embed-text-v1, cohere.embed-english-v3, "
                      "cohere.embed-multilingual-v3 or cohere.embed-v4:0");
  expect_create_error("{}", t2, PIER_EINVAL, "input must be a string or an array of strings, got missing");
  expect_create_error("{'input':[]}", t2, PIER_EINVAL, "input must hold at least one string");
  expect_create_error("{'input':[[1,2]]}", t2, PIER_EINVAL,
                      "input[0] must be a string (token-id arrays are not supported for Bedrock models)");
  expect_create_error("{'input':['a','']}", t2, PIER_EINVAL, "input[1] is an empty string");
  expect_create_error("{'input':''}", t2, PIER_EINVAL, "input[0] is an empty string");
  expect_create_error("{'input':'a','dimensions':300}", t2, PIER_EINVAL,
                      "dimensions must be 256, 512 or 1024 for this model");
  expect_create_error("{'input':'a','dimensions':1024}", "amazon.titan-embed-text-v1", PIER_EINVAL,
                      "dimensions must be 1536 for this model");
  expect_create_error("{'input':'a','dimensions':'big'}", "cohere.embed-english-v3", PIER_EINVAL,
                      "dimensions must be 1024 for this model");
  expect_create_error("{'input':'a','encoding_format':'int8'}", t2, PIER_EINVAL,
                      "encoding_format must be \"float\" or \"base64\"");
  expect_create_error("{'input':'a','input_type':'query'}", "cohere.embed-english-v3", PIER_EINVAL,
                      "input_type must be search_document, search_query, classification or clustering");
  pier_buf big;
  pier_buf_init(&big, 0);
  assert_int_equal(pier_buf_append_cstr(&big, "{'input':["), 0);
  for (int i = 0; i <= PIER_BEDROCK_EMBED_INPUTS_MAX; i++) assert_int_equal(pier_buf_append_cstr(&big, i ? ",'a'" : "'a'"), 0);
  assert_int_equal(pier_buf_append_cstr(&big, "]}"), 0);
  expect_create_error(big.ptr, t2, PIER_EINVAL, "input holds 2049 strings; at most 2048 per request");
  pier_buf_dispose(&big);
  /* accepted as-is: dimensions that match, explicit float, null options */
  pier_bedrock_embed *e = plan("{'input':'a','dimensions':1536,'encoding_format':'float','input_type':null}",
                               "amazon.titan-embed-text-v1", 1);
  pier_bedrock_embed_destroy(e);
  pier_bedrock_embed_destroy(NULL);
}

static void expect_reply_error(pier_bedrock_embed *e, size_t call, const char *resp_sq, int want_rc,
                               const char *want) {
  char *r = q(resp_sq), err[256] = "";
  assert_int_equal(pier_bedrock_embed_add_response(e, call, pier_slice_from(r), PIER_SLICE_NULL, err, sizeof err),
                   want_rc);
  if (strcmp(err, want)) fail_msg("error\n  got:  %s\n  want: %s", err, want);
  free(r);
}

static void test_reply_errors(void **state) {
  (void)state;
  pier_bedrock_embed *e = plan("{'input':['a','b']}", "amazon.titan-embed-text-v2:0", 2);
  expect_reply_error(e, 0, "{'message':'nope'}", PIER_EPROTO,
                     "Bedrock embedding reply for input 0 has no 1 numeric vector(s)");
  expect_reply_error(e, 0, "{'embedding':['x']}", PIER_EPROTO,
                     "Bedrock embedding reply for input 0 has no 1 numeric vector(s)");
  expect_reply_error(e, 0, "{'embedding':[1e999]}", PIER_EPROTO,
                     "Bedrock embedding reply for input 0 has no 1 numeric vector(s)");
  expect_reply_error(e, 0, "[1]", PIER_EPROTO, "Bedrock embedding reply is not a JSON object (wrong type)");
  expect_reply_error(e, 0, "{", PIER_EPROTO, "Bedrock embedding reply is not a JSON object (invalid JSON at byte 0)");
  expect_reply_error(e, 2, "{}", PIER_EINVAL, "embedding call 2: no such call or already answered");
  answer(e, 0, "{'embedding':[1]}", "");
  expect_reply_error(e, 0, "{'embedding':[1]}", PIER_EINVAL, "embedding call 0: no such call or already answered");
  pier_buf out;
  pier_buf_init(&out, 0);
  char err[128];
  assert_int_equal(pier_bedrock_embed_finish(e, "m", &out, err, sizeof err), PIER_EINVAL);
  assert_string_equal(err, "embedding call 1 has no reply yet");
  assert_int_equal(out.len, 0);
  pier_buf_dispose(&out);
  pier_bedrock_embed_destroy(e);
  e = plan("{'input':['a','b']}", "cohere.embed-english-v3", 1);
  expect_reply_error(e, 0, "{'embeddings':[[1]]}", PIER_EPROTO,
                     "Bedrock embedding reply for input 0 and following has no 2 numeric vector(s)");
  answer(e, 0, "{'embeddings':[[1],[2]]}", "x"); /* a garbled token header counts as 0 */
  finish_eq(e, "m",
            "{'object':'list','data':[{'object':'embedding','index':0,'embedding':[1]},{'object':'embedding',"
            "'index':1,'embedding':[2]}],'model':'m','usage':{'prompt_tokens':0,'total_tokens':0}}");
  pier_bedrock_embed_destroy(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_family_of),
    cmocka_unit_test(test_titan_v2_array_out_of_order),
    cmocka_unit_test(test_titan_v1_string_and_base64),
    cmocka_unit_test(test_cohere_v3_batches_of_96),
    cmocka_unit_test(test_cohere_defaults_and_v4_dimension),
    cmocka_unit_test(test_request_errors),
    cmocka_unit_test(test_reply_errors),
  };
  return cmocka_run_group_tests(tests, NULL, free_kept);
}
