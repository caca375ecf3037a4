/* test_sigv4.c — SigV4 against the AWS test suite (bedrock.md §2.2.1), the worked
 * Bedrock examples (§2.2.2) and extra cases cross-checked with botocore 1.43.11
 * (SigV4Auth with the clock pinned): every expected string here is byte-exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "base/buf.h"
#include "llm/sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE "20150830T123600Z"
#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BEDROCK_HOST "bedrock-runtime.us-east-1.amazonaws.com"
#define CONVERSE_BODY                                                        \
  "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]," \
  "\"inferenceConfig\":{\"maxTokens\":64}}"

typedef struct signed_out {
  pier_buf auth;
  pier_sigv4_debug dbg;
} signed_out;

static void out_init(signed_out *o) {
  pier_buf_init(&o->auth, 0);
  pier_buf_init(&o->dbg.canonical_request, 0);
  pier_buf_init(&o->dbg.string_to_sign, 0);
}
static void out_dispose(signed_out *o) {
  pier_buf_dispose(&o->auth);
  pier_buf_dispose(&o->dbg.canonical_request);
  pier_buf_dispose(&o->dbg.string_to_sign);
}

static pier_sigv4_creds creds_example(const char *token) {
  return (pier_sigv4_creds){PIER_SLICE_LIT(AKID), PIER_SLICE_LIT(SECRET), pier_slice_from(token)};
}

/* The AWS test-suite request: host example.amazonaws.com, service "service". */
static pier_sigv4_request suite_request(const char *method, const char *path) {
  return (pier_sigv4_request){.method = method, .path = pier_slice_from(path),
                              .host = PIER_SLICE_LIT("example.amazonaws.com"),
                              .region = "us-east-1", .service = "service", .amz_date = DATE};
}

static const pier_sigv4_header json_ct[] = {
    {PIER_SLICE_LIT("Content-Type"), PIER_SLICE_LIT("application/json")}};

static pier_sigv4_request bedrock_request(const char *path) {
  return (pier_sigv4_request){.method = "POST", .path = pier_slice_from(path),
                              .host = PIER_SLICE_LIT(BEDROCK_HOST),
                              .headers = json_ct, .headers_count = 1,
                              .body = PIER_SLICE_LIT(CONVERSE_BODY),
                              .region = "us-east-1", .service = "bedrock", .amz_date = DATE};
}

static void sign_ok(const pier_sigv4_request *req, const char *token, signed_out *o) {
  pier_sigv4_creds c = creds_example(token);
  assert_int_equal(pier_sigv4_sign(req, &c, &o->auth, &o->dbg), 0);
}

/* Last 64 chars of the Authorization value are the signature. */
static const char *signature_of(const signed_out *o) {
  assert_true(o->auth.len > 64);
  return o->auth.ptr + o->auth.len - 64;
}

/* ---- pier_uri_encode ------------------------------------------------------------ */

static void encode_is(const char *in, size_t in_len, const char *safe, const char *want) {
  pier_buf b;
  pier_buf_init(&b, 0);
  assert_int_equal(pier_uri_encode(&b, pier_slice_make(in, in_len), safe), 0);
  assert_true(pier_slice_eq_cstr(pier_buf_slice(&b), want));
  assert_int_equal(pier_buf_slice(&b).ptr[b.len], '\0');
  pier_buf_dispose(&b);
}

static void test_uri_encode_model_ids(void **state) {
  (void)state;
  encode_is("us.anthropic.claude-haiku-4-5-20251001-v1:0", 43, "",
            "us.anthropic.claude-haiku-4-5-20251001-v1%3A0");
  const char *arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def456";
  encode_is(arn, strlen(arn), NULL,
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123def456");
}

static void test_uri_encode_sets(void **state) {
  (void)state;
  const char *unreserved = "ABCXYZabcxyz0189-._~";
  encode_is(unreserved, strlen(unreserved), "", unreserved);
  encode_is("a b/c%d+e", 9, "", "a%20b%2Fc%25d%2Be");
  encode_is("a b/c~", 6, "/~", "a%20b/c~");
  encode_is("\xc3\xa9\xff", 3, "", "%C3%A9%FF"); /* bytes, uppercase hex */
  encode_is("a\0b", 3, "", "a%00b");           /* NUL is data, not a terminator */
  encode_is("", 0, "", "");
}

static void test_uri_encode_appends_and_caps(void **state) {
  (void)state;
  pier_buf b;
  pier_buf_init(&b, 8);
  assert_int_equal(pier_buf_append_cstr(&b, "/m/"), 0);
  assert_int_equal(pier_uri_encode(&b, PIER_SLICE_LIT("a:"), ""), 0);
  assert_string_equal(b.ptr, "/m/a%3A");
  /* Past the cap: error, and the buffer is exactly as before. */
  assert_int_equal(pier_uri_encode(&b, PIER_SLICE_LIT("::"), ""), PIER_ETOOBIG);
  assert_int_equal(b.len, 7);
  assert_string_equal(b.ptr, "/m/a%3A");
  pier_buf_dispose(&b);
}

static void test_amz_date(void **state) {
  (void)state;
  char d[PIER_SIGV4_AMZ_DATE_BYTES];
  assert_int_equal(pier_sigv4_amz_date((time_t)1440938160, d), 0);
  assert_string_equal(d, DATE);
  assert_int_equal(pier_sigv4_amz_date((time_t)0, d), 0);
  assert_string_equal(d, "19700101T000000Z");
}

/* ---- AWS test suite (bedrock.md §2.2.1) ---------------------------------------------- */

static void test_post_vanilla(void **state) {
  (void)state;
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = suite_request("POST", "/");
  sign_ok(&req, NULL, &o);
  assert_string_equal(o.dbg.canonical_request.ptr,
                      "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:" DATE "\n\n"
                      "host;x-amz-date\n" EMPTY_HASH);
  assert_string_equal(o.dbg.string_to_sign.ptr,
                      "AWS4-HMAC-SHA256\n" DATE "\n20150830/us-east-1/service/aws4_request\n"
                      "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
  assert_string_equal(o.auth.ptr,
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                      "SignedHeaders=host;x-amz-date, "
                      "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  out_dispose(&o);
}

static void test_get_vanilla_with_session_token(void **state) {
  (void)state;
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = suite_request("GET", "/");
  sign_ok(&req, "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267", &o);
  assert_non_null(strstr(o.auth.ptr, "SignedHeaders=host;x-amz-date;x-amz-security-token, "));
  assert_string_equal(signature_of(&o), "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
  out_dispose(&o);
}

static void test_normalize_path_get_space(void **state) {
  (void)state;
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = suite_request("GET", "/example space/");
  sign_ok(&req, NULL, &o);
  assert_true(pier_slice_starts_with(pier_buf_slice(&o.dbg.canonical_request), "GET\n/example%20space/\n\n"));
  assert_string_equal(signature_of(&o), "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
  out_dispose(&o);
}

/* ---- Bedrock (bedrock.md §2.2.2) ------------------------------------------------------ */

static void test_bedrock_converse(void **state) {
  (void)state;
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = bedrock_request("/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse");
  sign_ok(&req, NULL, &o);
  assert_string_equal(o.dbg.canonical_request.ptr,
                      "POST\n"
                      "/model/us.anthropic.claude-haiku-4-5-20251001-v1%253A0/converse\n"
                      "\n"
                      "content-type:application/json\n"
                      "host:" BEDROCK_HOST "\n"
                      "x-amz-date:" DATE "\n"
                      "\n"
                      "content-type;host;x-amz-date\n"
                      "f5b802cc64a01910fd197a46e9e959f3a5795f7728fa5710fb28f1ec3019f545");
  assert_string_equal(o.dbg.string_to_sign.ptr,
                      "AWS4-HMAC-SHA256\n" DATE "\n20150830/us-east-1/bedrock/aws4_request\n"
                      "3ff91cbf5dbe8afb81b8712b32d6f19234ba883f37f020fa0ca37f6c9346a858");
  assert_string_equal(o.dbg.signing_key_hex,
                      "90e694a0eeb93605dc6a1e798b98fe0e790776a911d2494317b06246c599ba53");
  assert_string_equal(o.auth.ptr,
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date, "
                      "Signature=c570ff35f9f2cfb793a08e63a1f4b54138a86f9a25ec6cd58a6642488af6945c");
  out_dispose(&o);
}

static void test_bedrock_converse_session_token(void **state) {
  (void)state;
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = bedrock_request("/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse");
  sign_ok(&req, "FQoGZXIvYXdzEXAMPLETOKEN", &o);
  assert_non_null(strstr(o.dbg.canonical_request.ptr,
                         "x-amz-date:" DATE "\nx-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN\n\n"));
  assert_string_equal(o.auth.ptr,
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
                      "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                      "Signature=915afa673c802cfe48a608bd7358da9c676c7b8721c33814eb4a229a0f43acfb");
  out_dispose(&o);
}

static void test_bedrock_arn_converse_stream_uri(void **state) {
  (void)state;
  /* Build the wire path the way the adapter will: encode the modelId with safe "". */
  pier_buf path;
  pier_buf_init(&path, 0);
  assert_int_equal(pier_buf_append_cstr(&path, "/model/"), 0);
  pier_slice arn = PIER_SLICE_LIT("arn:aws:bedrock:us-east-1:123456789012:"
                                  "application-inference-profile/abc123def456");
  assert_int_equal(pier_uri_encode(&path, arn, ""), 0);
  assert_int_equal(pier_buf_append_cstr(&path, "/converse-stream"), 0);
  assert_string_equal(path.ptr, "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
                                "application-inference-profile%2Fabc123def456/converse-stream");
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = bedrock_request(path.ptr);
  sign_ok(&req, NULL, &o);
  assert_true(pier_slice_starts_with(
      pier_buf_slice(&o.dbg.canonical_request),
      "POST\n/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012"
      "%253Aapplication-inference-profile%252Fabc123def456/converse-stream\n\n"));
  out_dispose(&o);
  pier_buf_dispose(&path);
}

/* ---- canonicalisation details, expected values from botocore ---------------------------- */

static void test_dot_and_empty_segments(void **state) {
  (void)state;
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = suite_request("GET", "/a/./b/../c//d/");
  sign_ok(&req, NULL, &o);
  assert_true(pier_slice_starts_with(pier_buf_slice(&o.dbg.canonical_request), "GET\n/a/c/d/\n\n"));
  assert_string_equal(signature_of(&o), "07fc47830311f547240f25f97c1565bd7a705059e39e5d0c3e0c5287c2c4bcfc");
  out_dispose(&o);

  out_init(&o); /* popping past the root stays at "/" (same signature as get-vanilla) */
  req = suite_request("GET", "/../..");
  sign_ok(&req, NULL, &o);
  assert_true(pier_slice_starts_with(pier_buf_slice(&o.dbg.canonical_request), "GET\n/\n\n"));
  assert_string_equal(signature_of(&o), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  out_dispose(&o);

  out_init(&o); /* an empty path signs as "/" */
  req = suite_request("GET", "");
  sign_ok(&req, NULL, &o);
  assert_string_equal(signature_of(&o), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  out_dispose(&o);
}

static void test_query_sorted_and_encoded(void **state) {
  (void)state;
  /* botocore signs "?b=2&a=1&a=0&c&d=x%3Ay&e=~" with this canonical query and signature. */
  static const char want_prefix[] = "GET\n/\na=0&a=1&b=2&c=&d=x%3Ay&e=~\nhost:";
  static const char want_sig[] = "1bb920b0ea99a32c4449fb5334104b71d83ac0ff10aca093101ec1e52a0e81b9";
  static const char *const queries[] = {
      "b=2&a=1&a=0&c&d=x%3Ay&e=~",
      /* Same parameters as AWS decodes them: lowercase hex, escaped unreserved '~',
       * a raw ':' and empty pairs all canonicalise identically (decode, then encode). */
      "d=x%3ay&&b=2&a=0&a=1&c=&e=%7E&",
      "e=%7e&d=x:y&c=&b=%32&a=1&a=0",
  };
  for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
    signed_out o;
    out_init(&o);
    pier_sigv4_request req = suite_request("GET", "/");
    req.query = pier_slice_from(queries[i]);
    sign_ok(&req, NULL, &o);
    assert_true(pier_slice_starts_with(pier_buf_slice(&o.dbg.canonical_request), want_prefix));
    assert_string_equal(signature_of(&o), want_sig);
    out_dispose(&o);
  }
}

static void test_header_values_collapsed_and_repeats_joined(void **state) {
  (void)state;
  const pier_sigv4_header h[] = {
      {PIER_SLICE_LIT("My-Header1"), PIER_SLICE_LIT("  a   b\tc  ")},
      {PIER_SLICE_LIT("X-Dup"), PIER_SLICE_LIT("1")},
      {PIER_SLICE_LIT("x-dup"), PIER_SLICE_LIT("2")},
      {PIER_SLICE_LIT("Content-Type"), PIER_SLICE_LIT("application/json")},
  };
  signed_out o;
  out_init(&o);
  pier_sigv4_request req = suite_request("POST", "/");
  req.headers = h, req.headers_count = 4, req.body = PIER_SLICE_LIT("{}");
  sign_ok(&req, NULL, &o);
  assert_string_equal(o.dbg.canonical_request.ptr,
                      "POST\n/\n\ncontent-type:application/json\nhost:example.amazonaws.com\n"
                      "my-header1:a b c\n"
                      "x-amz-date:" DATE "\nx-dup:1,2\n\ncontent-type;host;my-header1;x-amz-date;x-dup\n"
                      "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  assert_string_equal(o.auth.ptr,
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                      "SignedHeaders=content-type;host;my-header1;x-amz-date;x-dup, "
                      "Signature=354e2d6019181e1d545a1745fbe2634afafc976bb2db92582fe75fa979fc053c");
  out_dispose(&o);
}

/* ---- rejected input ---------------------------------------------------------------------- */

static void sign_fails(const pier_sigv4_request *req, const pier_sigv4_creds *c, int want) {
  pier_buf auth;
  pier_buf_init(&auth, 0);
  assert_int_equal(pier_buf_append_cstr(&auth, "keep"), 0);
  assert_int_equal(pier_sigv4_sign(req, c, &auth, NULL), want);
  assert_string_equal(auth.ptr, "keep"); /* untouched on error */
  pier_buf_dispose(&auth);
}

static void test_rejects_bad_input(void **state) {
  (void)state;
  pier_sigv4_creds c = creds_example(NULL);
  pier_sigv4_request req = suite_request("GET", "/");
  pier_sigv4_header h = {PIER_SLICE_LIT("X-Evil"), PIER_SLICE_LIT("a\r\nHost: other")};
  req.headers = &h, req.headers_count = 1;
  sign_fails(&req, &c, PIER_EINVAL); /* header injection */
  h = (pier_sigv4_header){PIER_SLICE_LIT("Host"), PIER_SLICE_LIT("other")};
  sign_fails(&req, &c, PIER_EINVAL); /* host is signed from req->host only */
  h = (pier_sigv4_header){PIER_SLICE_LIT("X-Amz-Security-Token"), PIER_SLICE_LIT("t")};
  sign_fails(&req, &c, PIER_EINVAL);
  h = (pier_sigv4_header){PIER_SLICE_LIT("Bad Name"), PIER_SLICE_LIT("v")};
  sign_fails(&req, &c, PIER_EINVAL);
  req.headers_count = PIER_SIGV4_HEADERS_MAX + 1;
  sign_fails(&req, &c, PIER_ETOOBIG);

  req = suite_request("GET", "/");
  req.amz_date = "2015-08-30T12:36:00Z";
  sign_fails(&req, &c, PIER_EINVAL);
  req = suite_request("GET", "/");
  req.region = "us-east-1/evil";
  sign_fails(&req, &c, PIER_EINVAL);
  req = suite_request("GET", "relative");
  sign_fails(&req, &c, PIER_EINVAL);
  req = suite_request("GET", "/");
  req.query = PIER_SLICE_LIT("a=%zz");
  sign_fails(&req, &c, PIER_EINVAL);
  req.query = PIER_SLICE_LIT("a=%4");
  sign_fails(&req, &c, PIER_EINVAL);

  req = suite_request("GET", "/");
  pier_sigv4_creds bad = c;
  bad.access_key_id = PIER_SLICE_LIT("AKID/../x");
  sign_fails(&req, &bad, PIER_EINVAL);
  bad = c, bad.secret_access_key = PIER_SLICE_NULL;
  sign_fails(&req, &bad, PIER_EINVAL);
  bad = c, bad.session_token = PIER_SLICE_LIT("tok\nx");
  sign_fails(&req, &bad, PIER_EINVAL);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uri_encode_model_ids),
      cmocka_unit_test(test_uri_encode_sets),
      cmocka_unit_test(test_uri_encode_appends_and_caps),
      cmocka_unit_test(test_amz_date),
      cmocka_unit_test(test_post_vanilla),
      cmocka_unit_test(test_get_vanilla_with_session_token),
      cmocka_unit_test(test_normalize_path_get_space),
      cmocka_unit_test(test_bedrock_converse),
      cmocka_unit_test(test_bedrock_converse_session_token),
      cmocka_unit_test(test_bedrock_arn_converse_stream_uri),
      cmocka_unit_test(test_dot_and_empty_segments),
      cmocka_unit_test(test_query_sorted_and_encoded),
      cmocka_unit_test(test_header_values_collapsed_and_repeats_joined),
      cmocka_unit_test(test_rejects_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
