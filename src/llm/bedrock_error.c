/* bedrock_error.c — one table of AWS error names (status, OpenAI type, retry,
 * fix). AWS text is cut before anything that may quote signed headers (the
 * canonical request of InvalidSignatureException carries x-amz-security-token)
 * and access key ids are masked, so no credential reaches the message. */
#include "llm/bedrock_error.h"

#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/openai_sse.h"

#define AWS_TEXT_BYTES_MAX 480
#define BODY_PARSE_BYTES_MAX (256u * 1024)

typedef struct err_kind {
  const char *name;
  int status; /* AWS's status for it */
  const char *type;
  bool retryable;
  const char *fix; /* NULL = none */
} err_kind;

static const err_kind KINDS[] = {
  {"ValidationException", 400, "invalid_request_error", false, NULL},
  {"ServiceQuotaExceededException", 400, "invalid_request_error", false,
   "a Bedrock service quota of the AWS account is exhausted; request an increase in the Service Quotas console"},
  {"AccessDeniedException", 403, "permission_error", false,
   "request access to the model in the Bedrock console under Model access and make sure the IAM principal is "
   "allowed bedrock:InvokeModel on it, then retry"},
  {"ExpiredTokenException", 403, "authentication_error", false,
   "rotate AWS_BEARER_TOKEN_BEDROCK (or refresh AWS_SESSION_TOKEN) on the collection"},
  {"UnrecognizedClientException", 403, "authentication_error", false,
   "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if set) on the collection"},
  {"InvalidSignatureException", 403, "authentication_error", false,
   "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if set) on the collection"},
  {"ResourceNotFoundException", 404, "not_found_error", false,
   "check the model id and that the model is offered in AWS_REGION"},
  {"ModelTimeoutException", 408, "timeout_error", false, NULL},
  {"ModelErrorException", 424, "api_error", false, NULL},
  {"ModelStreamErrorException", 424, "api_error", true, NULL},
  {"ThrottlingException", 429, "rate_limit_error", true, NULL}, /* fix written by throttling_fix */
  {"ModelNotReadyException", 429, "rate_limit_error", true, "the model is still being prepared; retry shortly"},
  {"InternalServerException", 500, "api_error", true, NULL},
  {"ServiceUnavailableException", 503, "api_error", true, NULL},
};

/* Fixes keyed on the AWS text (name NULL = any name). Checked before KINDS. */
typedef struct err_text_fix {
  const char *name;
  const char *needle;
  const char *type; /* NULL = keep */
  const char *fix;
} err_text_fix;

static const err_text_fix TEXT_FIXES[] = {
  {"ValidationException", "on-demand throughput", NULL,
   "switch to the us. / eu. / apac. inference-profile id for that model (e.g. us.anthropic.claude-sonnet-4-6); "
   "the prefix must match AWS_REGION"},
  {NULL, "Please make sure your API Key is valid", "authentication_error",
   "check AWS_BEARER_TOKEN_BEDROCK on the collection: the Bedrock API key is invalid, expired or revoked"},
  {"InvalidSignatureException", "Signature expired", NULL,
   "the clock of the pier host is more than 5 minutes off; sync it (NTP)"},
};

static const err_kind *kind_of(const char *name) {
  for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
    if (strcmp(KINDS[i].name, name) == 0) return &KINDS[i];
  return NULL;
}

/* `Name:http://internal.amazon.com/...` or `aws.x#Name` -> "Name", capitalised. */
static void set_name(pier_bedrock_error *out, pier_slice s) {
  long colon = pier_slice_find(s, ':');
  if (colon >= 0) s.len = (size_t)colon;
  for (size_t i = s.len; i > 0; i--)
    if (s.ptr[i - 1] == '#') {
      s.ptr += i, s.len -= i;
      break;
    }
  s = pier_slice_trim(s);
  size_t n = 0;
  for (size_t i = 0; i < s.len && n + 1 < sizeof out->name; i++) {
    char c = s.ptr[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.')
      out->name[n++] = c;
  }
  out->name[n] = '\0';
  if (out->name[0] >= 'a' && out->name[0] <= 'z') out->name[0] = (char)(out->name[0] - 32);
}

/* Length of the longest prefix of s[0..n) that ends on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t n) {
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return n;
}

/* AWS text made safe to show: first line only, cut before a quoted canonical
 * request, at most AWS_TEXT_BYTES_MAX bytes, access key ids masked. */
static void clean_text(const char *in, char *dst, size_t dstlen) {
  size_t n = strcspn(in, "\r\n");
  const char *canon = strstr(in, "The Canonical String");
  if (canon && (size_t)(canon - in) < n) n = (size_t)(canon - in);
  while (n && (in[n - 1] == ' ' || in[n - 1] == '\t')) n--;
  if (n > AWS_TEXT_BYTES_MAX) n = utf8_cut(in, AWS_TEXT_BYTES_MAX);
  if (n >= dstlen) n = utf8_cut(in, dstlen - 1);
  memcpy(dst, in, n);
  dst[n] = '\0';
  for (char *p = dst; (p = strchr(p, 'A')) != NULL; p++) {
    if (strncmp(p, "AKIA", 4) && strncmp(p, "ASIA", 4)) continue;
    size_t k = 4; /* the NUL stops this loop: it is neither a letter nor a digit */
    while (k < 20 && ((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= '0' && p[k] <= '9'))) k++;
    if (k == 20) memset(p + 4, '*', 16), p += 19;
  }
}

/* From the JSON body: the AWS text into text, and a name when none is known. */
static void read_body(pier_bedrock_error *out, pier_slice body, char *text, size_t textlen) {
  char perr[64];
  text[0] = '\0';
  if (body.len == 0 || body.len > BODY_PARSE_BYTES_MAX) return;
  cJSON *j = pier_json_parse(body, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return;
  }
  const char *msg = pier_json_str(j, "message");
  if (!msg) msg = pier_json_str(j, "Message");
  if (msg) clean_text(msg, text, textlen);
  const char *orig = pier_json_str(j, "originalMessage");
  double ostatus = pier_json_num(j, "originalStatusCode", 0);
  if (orig || ostatus > 0) {
    char o[AWS_TEXT_BYTES_MAX + 1];
    clean_text(orig ? orig : "", o, sizeof o);
    size_t at = strlen(text);
    if (ostatus > 0)
      snprintf(text + at, textlen - at, "%s(model said: HTTP %d%s%s)", at ? " " : "", (int)ostatus, o[0] ? " " : "",
               o);
    else
      snprintf(text + at, textlen - at, "%s(model said: %s)", at ? " " : "", o);
  }
  if (!out->name[0]) {
    const char *t = pier_json_str(j, "__type");
    if (!t) t = pier_json_str(j, "code");
    if (!t) t = pier_json_str(j, "Code");
    if (t) set_name(out, pier_slice_from(t));
  }
  cJSON_Delete(j);
}

static int client_status(int aws) {
  if (aws == 408) return 504;
  if (aws < 400 || aws > 599) return 502;
  if (aws >= 500 && aws != 503) return 502;
  return aws;
}

static const char *fix_for(pier_bedrock_error *out, const err_kind *k, const char *text) {
  for (size_t i = 0; i < sizeof TEXT_FIXES / sizeof TEXT_FIXES[0]; i++) {
    const err_text_fix *f = &TEXT_FIXES[i];
    if ((f->name && strcmp(f->name, out->name)) || !strstr(text, f->needle)) continue;
    if (f->type) out->type = f->type;
    return f->fix;
  }
  return k ? k->fix : NULL;
}

static void write_message(pier_bedrock_error *out, int aws_status, const char *text, const char *fix,
                          int retries) {
  size_t cap = sizeof out->message, n;
  if (out->name[0])
    n = (size_t)snprintf(out->message, cap, "%s: %s", out->name, text[0] ? text : "(AWS gave no detail)");
  else
    n = (size_t)snprintf(out->message, cap, "Bedrock returned HTTP %d: %s", aws_status,
                         text[0] ? text : "(no error detail)");
  if (n >= cap) n = cap - 1;
  const char *dot = (n && out->message[n - 1] == '.') ? "" : ".";
  if (strcmp(out->name, "ThrottlingException") == 0) {
    char tries[48] = "";
    if (retries > 0) snprintf(tries, sizeof tries, " (pier retried %d times)", retries);
    snprintf(out->message + n, cap - n,
             "%s Fix: the AWS account's Bedrock quota for this model is exceeded%s; wait and retry, or request "
             "a quota increase in the Service Quotas console.",
             dot, tries);
  } else if (fix) {
    snprintf(out->message + n, cap - n, "%s Fix: %s.", dot, fix);
  }
}

void pier_bedrock_error_map(int http_status, pier_slice error_type, pier_slice body, int retries,
                            pier_bedrock_error *out) {
  char text[AWS_TEXT_BYTES_MAX + 160];
  memset(out, 0, sizeof *out);
  set_name(out, error_type);
  read_body(out, body, text, sizeof text);
  const err_kind *k = out->name[0] ? kind_of(out->name) : NULL;
  int aws = http_status ? http_status : k ? k->status : 502;
  out->status = client_status(aws);
  out->type = k ? k->type : pier_openai_error_type(out->status);
  out->retryable = (k && k->retryable) || aws == 429 || aws >= 500;
  const char *fix = fix_for(out, k, text);
  write_message(out, aws, text, fix, retries);
}
