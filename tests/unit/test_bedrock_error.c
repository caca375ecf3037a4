/* test_bedrock_error.c — every AWS error pier meets -> status, OpenAI type,
 * retry flag and the exact message with its fix; and no credential survives
 * into a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/json.h"
#include "llm/bedrock_error.h"

typedef struct want {
  int status;
  const char *type;
  bool retryable;
  const char *name;
  const char *message;
} want;

static void check(int http, const char *header, const char *body, int retries, want w) {
  pier_bedrock_error e;
  pier_bedrock_error_map(http, pier_slice_from(header), pier_slice_from(body), retries, &e);
  assert_int_equal(e.status, w.status);
  assert_string_equal(e.type, w.type);
  assert_int_equal(e.retryable, w.retryable);
  assert_string_equal(e.name, w.name);
  if (strcmp(e.message, w.message)) fail_msg("message\n  got:  %s\n  want: %s", e.message, w.message);
  assert_true(pier_utf8_valid(pier_slice_from(e.message)));
  if (w.name[0]) assert_string_equal(pier_bedrock_error_code(&e), w.name);
  else assert_null(pier_bedrock_error_code(&e));
}

#define CORAL ":http://internal.amazon.com/coral/com.amazon.bedrock/"

static void test_validation(void **state) {
  (void)state;
  check(400, "ValidationException" CORAL,
        "{\"message\":\"Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand throughput "
        "isn\xe2\x80\x99t supported. Retry your request with the ID or ARN of an inference profile that contains this "
        "model.\"}",
        0,
        (want){400, "invalid_request_error", false, "ValidationException",
               "ValidationException: Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand "
               "throughput isn\xe2\x80\x99t supported. Retry your request with the ID or ARN of an inference profile "
               "that contains this model. Fix: switch to the us. / eu. / apac. inference-profile id for that model "
               "(e.g. us.anthropic.claude-sonnet-4-6); the prefix must match AWS_REGION."});
  check(400, "ValidationException" CORAL, "{\"message\":\"Malformed input request: #: extraneous key [x]\"}", 0,
        (want){400, "invalid_request_error", false, "ValidationException",
               "ValidationException: Malformed input request: #: extraneous key [x]"});
  /* no header: the name comes from the body's __type */
  check(400, "", "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"message\":\"bad\"}", 0,
        (want){400, "invalid_request_error", false, "ValidationException", "ValidationException: bad"});
  check(400, "", "{\"code\":\"ServiceQuotaExceededException\",\"message\":\"too many\"}", 0,
        (want){400, "invalid_request_error", false, "ServiceQuotaExceededException",
               "ServiceQuotaExceededException: too many. Fix: a Bedrock service quota of the AWS account is "
               "exhausted; request an increase in the Service Quotas console."});
}

static void test_access_and_auth(void **state) {
  (void)state;
  check(403, "AccessDeniedException" CORAL,
        "{\"Message\":\"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: bedrock:InvokeModel on "
        "resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6\"}",
        0,
        (want){403, "permission_error", false, "AccessDeniedException",
               "AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
               "bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
               "us.anthropic.claude-sonnet-4-6. Fix: request access to the model in the Bedrock console under Model "
               "access and make sure the IAM principal is allowed bedrock:InvokeModel on it, then retry."});
  check(403, "AccessDeniedException" CORAL, "", 0,
        (want){403, "permission_error", false, "AccessDeniedException",
               "AccessDeniedException: (AWS gave no detail). Fix: request access to the model in the Bedrock console "
               "under Model access and make sure the IAM principal is allowed bedrock:InvokeModel on it, then "
               "retry."});
  check(403, "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        "{\"message\":\"The security token included in the request is expired\"}", 0,
        (want){403, "authentication_error", false, "ExpiredTokenException",
               "ExpiredTokenException: The security token included in the request is expired. Fix: rotate "
               "AWS_BEARER_TOKEN_BEDROCK (or refresh AWS_SESSION_TOKEN) on the collection."});
  check(403, "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        "{\"message\":\"The security token included in the request is invalid.\"}", 0,
        (want){403, "authentication_error", false, "UnrecognizedClientException",
               "UnrecognizedClientException: The security token included in the request is invalid. Fix: check "
               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if set) on the collection."});
  /* Bedrock API key rejected: no error-type header at all, capital-M Message */
  check(403, "", "{\"Message\":\"Authentication failed: Please make sure your API Key is valid.\"}", 0,
        (want){403, "authentication_error", false, "",
               "Bedrock returned HTTP 403: Authentication failed: Please make sure your API Key is valid. Fix: check "
               "AWS_BEARER_TOKEN_BEDROCK on the collection: the Bedrock API key is invalid, expired or revoked."});
  check(403, "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        "{\"message\":\"Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z (20150830T125100Z - "
        "5 min.)\"}",
        0,
        (want){403, "authentication_error", false, "InvalidSignatureException",
               "InvalidSignatureException: Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z "
               "(20150830T125100Z - 5 min.). Fix: the clock of the pier host is more than 5 minutes off; sync it "
               "(NTP)."});
}

/* InvalidSignatureException quotes the canonical request, signed headers and
 * all: the session token must not reach the message, nor the access key id. */
static void test_no_credentials_in_messages(void **state) {
  (void)state;
  const char *body =
    "{\"message\":\"The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Credential=AKIAIOSFODNN7EXAMPLE/20150830. Consult the service "
    "documentation for details.\\n\\nThe Canonical String for this request should have been\\n'POST\\n/model/x/"
    "converse\\n\\ncontent-type:application/json\\nx-amz-security-token:FQoGZXIvYXdzSECRETTOKEN\\n'\"}";
  pier_bedrock_error e;
  pier_bedrock_error_map(403, PIER_SLICE_LIT("InvalidSignatureException:http://x/"), pier_slice_from(body), 0, &e);
  assert_null(strstr(e.message, "SECRETTOKEN"));
  assert_null(strstr(e.message, "Canonical"));
  assert_null(strstr(e.message, "AKIAIOSFODNN7EXAMPLE"));
  assert_string_equal(e.message,
                      "InvalidSignatureException: The request signature we calculated does not match the signature "
                      "you provided. Check your AWS Secret Access Key and signing method. "
                      "Credential=AKIA****************/20150830. Consult the service documentation for details. Fix: "
                      "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if set) on the "
                      "collection.");
  /* same on one line (no newline before the canonical string) */
  pier_bedrock_error_map(403, PIER_SLICE_LIT("InvalidSignatureException"),
                         PIER_SLICE_LIT("{\"message\":\"mismatch. The Canonical String for this request should have "
                                        "been 'x-amz-security-token:s3cr3tT0k'\"}"),
                         0, &e);
  assert_null(strstr(e.message, "s3cr3tT0k"));
  /* a temporary key id is masked too */
  pier_bedrock_error_map(403, PIER_SLICE_LIT("X"), PIER_SLICE_LIT("{\"message\":\"key ASIAABCDEFGHIJKLMNOP used\"}"),
                         0, &e);
  assert_string_equal(e.message, "X: key ASIA**************** used");
}

static void test_throttling_and_retryable(void **state) {
  (void)state;
  check(429, "ThrottlingException" CORAL, "{\"message\":\"Too many tokens, please wait before trying again.\"}", 3,
        (want){429, "rate_limit_error", true, "ThrottlingException",
               "ThrottlingException: Too many tokens, please wait before trying again. Fix: the AWS account's Bedrock "
               "quota for this model is exceeded (pier retried 3 times); wait and retry, or request a quota increase "
               "in the Service Quotas console."});
  check(429, "ModelNotReadyException" CORAL, "{\"message\":\"not ready\"}", 0,
        (want){429, "rate_limit_error", true, "ModelNotReadyException",
               "ModelNotReadyException: not ready. Fix: the model is still being prepared; retry shortly."});
  check(503, "ServiceUnavailableException" CORAL, "{\"message\":\"Bedrock is unable to process your request.\"}", 0,
        (want){503, "api_error", true, "ServiceUnavailableException",
               "ServiceUnavailableException: Bedrock is unable to process your request."});
  check(500, "InternalServerException" CORAL, "{\"message\":\"oops\"}", 0,
        (want){502, "api_error", true, "InternalServerException", "InternalServerException: oops"});
  check(424, "ModelErrorException" CORAL, "{\"message\":\"model failed\",\"originalStatusCode\":400}", 0,
        (want){424, "api_error", false, "ModelErrorException",
               "ModelErrorException: model failed (model said: HTTP 400)"});
  check(408, "ModelTimeoutException" CORAL, "{\"message\":\"slow\"}", 0,
        (want){504, "timeout_error", false, "ModelTimeoutException", "ModelTimeoutException: slow"});
  check(404, "ResourceNotFoundException" CORAL, "{\"message\":\"Model not found\"}", 0,
        (want){404, "not_found_error", false, "ResourceNotFoundException",
               "ResourceNotFoundException: Model not found. Fix: check the model id and that the model is offered "
               "in AWS_REGION."});
  /* a proxy's HTML page: no name, no detail, still retryable */
  check(502, "", "<html><body>Bad Gateway</body></html>", 0,
        (want){502, "api_error", true, "", "Bedrock returned HTTP 502: (no error detail)"});
  /* in-stream exceptions: lowerCamel name, status from the name */
  check(0, "modelStreamErrorException", "{\"message\":\"boom\",\"originalMessage\":\"overloaded\"}", 0,
        (want){424, "api_error", true, "ModelStreamErrorException",
               "ModelStreamErrorException: boom (model said: overloaded)"});
  check(0, "somethingNew", "{}", 0, (want){502, "api_error", true, "SomethingNew", "SomethingNew: (AWS gave no detail)"});
}

static void test_long_text_is_cut_on_a_character(void **state) {
  (void)state;
  char body[2100];
  int n = snprintf(body, sizeof body, "{\"message\":\"");
  for (int i = 0; i < 500; i++) n += snprintf(body + n, sizeof body - (size_t)n, "\xc3\xa9"); /* é x 500 */
  snprintf(body + n, sizeof body - (size_t)n, "\"}");
  pier_bedrock_error e;
  pier_bedrock_error_map(400, PIER_SLICE_LIT("ValidationException"), pier_slice_from(body), 0, &e);
  assert_true(pier_utf8_valid(pier_slice_from(e.message)));
  assert_int_equal(strlen(e.message), strlen("ValidationException: ") + 480);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_validation),
    cmocka_unit_test(test_access_and_auth),
    cmocka_unit_test(test_no_credentials_in_messages),
    cmocka_unit_test(test_throttling_and_retryable),
    cmocka_unit_test(test_long_text_is_cut_on_a_character),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
