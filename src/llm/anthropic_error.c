/* anthropic_error.c — one table of Anthropic error types (their status, the
 * status pier answers with, retry, fix) used both ways: mapping Anthropic's
 * errors for pier's clients and writing Anthropic-shaped errors for Claude
 * Code. Anthropic's text is cut to a bound and API keys in it are masked. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/anthropic_int.h"

#define TEXT_BYTES_MAX 480
#define BODY_PARSE_BYTES_MAX (256u * 1024)

typedef struct err_kind {
  const char *type;  /* Anthropic error.type */
  int status;        /* Anthropic's status for it */
  int client;        /* what pier answers with */
  bool retryable;
  const char *fix;   /* NULL = none */
} err_kind;

/* overloaded_error (529) becomes 503: clients know 503 as "retry later", few know 529. */
static const err_kind KINDS[] = {
  {"invalid_request_error", 400, 400, false, NULL},
  {"authentication_error", 401, 401, false,
   "check ANTHROPIC_API_KEY on the collection: the key is missing, mistyped or revoked (keys start with sk-ant-)"},
  {"billing_error", 402, 402, false, "add credit or a payment method for the organisation in the Anthropic console"},
  {"permission_error", 403, 403, false,
   "the ANTHROPIC_API_KEY in use may not use this model or feature; check its workspace in the Anthropic console"},
  {"not_found_error", 404, 404, false,
   "check the model name (e.g. anthropic/claude-sonnet-4-5) and ANTHROPIC_BASE_URL"},
  {"request_too_large", 413, 413, false,
   "Anthropic takes at most 32 MB per request; send fewer or smaller images and documents"},
  {"rate_limit_error", 429, 429, true, "the organisation hit an Anthropic rate limit; slow down or retry later"},
  {"api_error", 500, 502, true, NULL},
  {"timeout_error", 504, 504, true, NULL},
  {"overloaded_error", 529, 503, true, "Anthropic is overloaded right now; retry shortly"},
};
#define NKINDS (sizeof KINDS / sizeof KINDS[0])

static const err_kind *kind_by_type(const char *type) {
  for (size_t i = 0; type && i < NKINDS; i++)
    if (strcmp(KINDS[i].type, type) == 0) return &KINDS[i];
  return NULL;
}

static const err_kind *kind_by_status(int status) {
  for (size_t i = 0; i < NKINDS; i++)
    if (KINDS[i].status == status) return &KINDS[i];
  if (status == 503) return kind_by_type("overloaded_error");
  if (status == 408) return kind_by_type("timeout_error");
  if (status >= 500) return kind_by_type("api_error");
  return status >= 400 ? kind_by_type("invalid_request_error") : NULL;
}

const char *pier_anthropic_error_type(int status) {
  if (status == 422) return "invalid_request_error";
  if (status == 503) return "overloaded_error";
  const err_kind *k = kind_by_status(status);
  return k ? k->type : "api_error";
}

int pier_anthropic_error_body(pier_buf *out, int status, pier_slice message) {
  size_t mark = out->len;
  int rc;
  if ((rc = pier_buf_appendf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                             pier_anthropic_error_type(status))) ||
      (rc = pier_buf_append_json_str(out, message)) || (rc = pier_buf_append_cstr(out, "}}"))) {
    out->len = mark;
    if (out->ptr) out->ptr[mark] = '\0';
  }
  return rc;
}

static bool icontains(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return true;
  return false;
}

static size_t utf8_len(unsigned char c) { return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }

/* Copy at most max bytes of s (valid UTF-8) into dst (cap >= 1) without
 * splitting a sequence, masking "sk-ant-..." keys should a proxy echo one. */
static void copy_text(char *dst, size_t cap, const char *s, size_t max) {
  size_t o = 0, i = 0;
  while (s[i] && i < max) {
    if (strncmp(s + i, "sk-ant-", 7) == 0) {
      if (o + 11 > cap) break;
      memcpy(dst + o, "sk-ant-***", 10);
      o += 10;
      for (i += 7; s[i] && s[i] != ' ' && s[i] != '"' && s[i] != '\''; i++) {}
      continue;
    }
    size_t n = utf8_len((unsigned char)s[i]);
    if (i + n > max || o + n + 1 > cap || strnlen(s + i, n) < n) break;
    memcpy(dst + o, s + i, n);
    o += n, i += n;
  }
  dst[o] = '\0';
}

/* error.type and error.message of a body, when it is Anthropic's JSON. */
static cJSON *parse_body(pier_slice body, const char **type, const char **text) {
  char perr[64];
  *type = *text = NULL;
  if (!body.len || body.len > BODY_PARSE_BYTES_MAX) return NULL;
  cJSON *j = pier_json_parse(body, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  *type = pier_json_str(e, "type");
  *text = pier_json_str(e, "message");
  if (!*text) *text = pier_json_str(j, "message"); /* proxies in front of Anthropic */
  return j;
}

static bool is_context_length(const char *text) {
  return text && (icontains(text, "prompt is too long") || icontains(text, "exceed context limit") ||
                  icontains(text, "context window"));
}

void pier_anthropic_error_map(int http_status, pier_slice body, pier_anthropic_error *out) {
  const char *type, *text;
  cJSON *j = parse_body(body, &type, &text);
  const err_kind *k = kind_by_type(type);
  if (!k) k = kind_by_status(http_status);
  if (!k) k = kind_by_type("api_error");
  memset(out, 0, sizeof *out);
  out->status = k->client;
  if (http_status >= 400 && http_status < 500 && !kind_by_type(type)) out->status = http_status;
  out->retryable = http_status ? (http_status == 429 || http_status == 500 || http_status == 502 ||
                                  http_status == 503 || http_status == 504 || http_status == 529)
                               : k->retryable;
  const char *fix = k->fix;
  snprintf(out->code, sizeof out->code, "%s", type && strlen(type) < sizeof out->code ? type : k->type);
  if (is_context_length(text)) {
    snprintf(out->code, sizeof out->code, "context_length_exceeded");
    out->status = 400;
    fix = "shorten the conversation or lower max_tokens so prompt and answer fit the model's context window";
  }
  out->type = pier_openai_error_type(out->status);
  char t[TEXT_BYTES_MAX + 16];
  copy_text(t, sizeof t, text ? text : "", TEXT_BYTES_MAX);
  int n = t[0] ? snprintf(out->message, sizeof out->message, "Anthropic %.60s: %s", type ? type : k->type, t)
               : snprintf(out->message, sizeof out->message, "Anthropic returned HTTP %d (%s)",
                          http_status ? http_status : k->status, k->type);
  if (fix && n > 0 && (size_t)n < sizeof out->message)
    snprintf(out->message + n, sizeof out->message - (size_t)n, ". Fix: %s", fix);
  cJSON_Delete(j);
}
