/* gemini_error.c — a Gemini error (HTTP reply or in-stream {"error":...}
 * chunk) -> the status, OpenAI type, code and message pier tells its client,
 * with the fix. One table of google.rpc status names. Gemini's text is kept
 * (newlines folded, capped, anything shaped like a Google API key masked), so
 * no credential reaches the message. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/gemini_map.h"

#define TEXT_BYTES_MAX 600
#define BODY_PARSE_BYTES_MAX (256u * 1024)
#define RETRY_DELAY_MS_MAX (24ull * 3600 * 1000)
#define KEY_PREFIX "AIza" /* Google API keys: "AIza" + 35 [A-Za-z0-9_-] */
#define KEY_LEN 39

typedef struct status_kind {
  const char *name; /* google.rpc.Code name, as in error.status */
  int http;
} status_kind;

static const status_kind KINDS[] = {
  {"INVALID_ARGUMENT", 400},  {"FAILED_PRECONDITION", 400}, {"OUT_OF_RANGE", 400},
  {"UNAUTHENTICATED", 401},   {"PERMISSION_DENIED", 403},   {"NOT_FOUND", 404},
  {"ABORTED", 409},           {"ALREADY_EXISTS", 409},      {"RESOURCE_EXHAUSTED", 429},
  {"CANCELLED", 499},         {"UNKNOWN", 500},              {"INTERNAL", 500},
  {"UNIMPLEMENTED", 501},     {"UNAVAILABLE", 503},          {"DEADLINE_EXCEEDED", 504},
};

static const status_kind *kind_by_name(const char *name) {
  for (size_t i = 0; name[0] && i < sizeof KINDS / sizeof KINDS[0]; i++)
    if (!strcmp(KINDS[i].name, name)) return &KINDS[i];
  return NULL;
}

/* Parsed essentials of the body. */
typedef struct gerr {
  char status[48];  /* error.status, [A-Z_] only */
  int code;         /* error.code, 0 if none */
  char reason[48];  /* ErrorInfo.reason ("API_KEY_INVALID"), [A-Z_] only */
  uint64_t retry_ms;
  char text[TEXT_BYTES_MAX + 1];
} gerr;

static void copy_upper(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  for (; src && *src && n + 1 < cap; src++)
    if ((*src >= 'A' && *src <= 'Z') || *src == '_' || (*src >= '0' && *src <= '9')) dst[n++] = *src;
  dst[n] = '\0';
}

static size_t utf8_cut(const char *s, size_t n) {
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  return n;
}

static bool key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Gemini's text made safe to show: line breaks folded to spaces, capped, keys masked. */
static void clean_text(const char *in, char *dst, size_t cap) {
  while (*in == ' ' || *in == '\n' || *in == '\r' || *in == '\t') in++;
  size_t n = strlen(in);
  if (n >= cap) n = utf8_cut(in, cap - 1);
  for (size_t i = 0; i < n; i++) dst[i] = (in[i] == '\n' || in[i] == '\r' || in[i] == '\t') ? ' ' : in[i];
  while (n && dst[n - 1] == ' ') n--;
  dst[n] = '\0';
  for (char *p = dst; (p = strstr(p, KEY_PREFIX)) != NULL; p++) {
    size_t k = 4;
    while (k < KEY_LEN && key_char(p[k])) k++;
    if (k == KEY_LEN) memset(p + 4, '*', KEY_LEN - 4), p += KEY_LEN - 1;
  }
}

/* "37s", "1.5s", "0.250s" -> milliseconds; 0 when malformed. */
static uint64_t parse_delay(const char *s) {
  uint64_t ms = 0, frac = 0, scale = 100;
  size_t i = 0;
  for (; s[i] >= '0' && s[i] <= '9' && ms <= RETRY_DELAY_MS_MAX; i++) ms = ms * 10 + (uint64_t)(s[i] - '0') * 1000;
  if (i == 0) return 0;
  if (s[i] == '.')
    for (i++; s[i] >= '0' && s[i] <= '9'; i++, scale /= 10) frac += (uint64_t)(s[i] - '0') * scale;
  if (s[i] != 's' || s[i + 1]) return 0;
  ms += frac;
  return ms > RETRY_DELAY_MS_MAX ? RETRY_DELAY_MS_MAX : ms;
}

/* details[]: ErrorInfo.reason and RetryInfo.retryDelay. */
static void read_details(const cJSON *details, gerr *g) {
  const cJSON *d;
  cJSON_ArrayForEach(d, (cJSON_IsArray(details) ? details : NULL)) {
    const char *type = pier_json_str(d, "@type");
    if (!type) continue;
    if (strstr(type, "google.rpc.ErrorInfo") && !g->reason[0])
      copy_upper(g->reason, sizeof g->reason, pier_json_str(d, "reason"));
    else if (strstr(type, "google.rpc.RetryInfo") && pier_json_str(d, "retryDelay"))
      g->retry_ms = parse_delay(pier_json_str(d, "retryDelay"));
  }
}

/* {"error":{...}} or, from the non-SSE stream, [{"error":{...}}]. */
static void read_body(pier_slice body, gerr *g) {
  char perr[64];
  if (body.len == 0 || body.len > BODY_PARSE_BYTES_MAX) return;
  cJSON *j = pier_json_parse(body, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  const cJSON *top = cJSON_IsArray(j) ? j->child : j;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(top, "error");
  if (cJSON_IsObject(e)) {
    const char *msg = pier_json_str(e, "message");
    double code = pier_json_num(e, "code", 0);
    copy_upper(g->status, sizeof g->status, pier_json_str(e, "status"));
    if (code >= 100 && code <= 599) g->code = (int)code;
    if (msg) clean_text(msg, g->text, sizeof g->text);
    read_details(cJSON_GetObjectItemCaseSensitive(e, "details"), g);
  }
  cJSON_Delete(j);
}

static int client_status(int upstream) {
  if (upstream == 408) return 504;
  if (upstream < 400 || upstream > 599) return 502;
  if (upstream >= 500 && upstream != 503 && upstream != 504) return 502;
  return upstream;
}

static const char *fix_for(const pier_gemini_error *out, const gerr *g, int upstream, bool key_invalid) {
  if (key_invalid)
    return "check GEMINI_API_KEY on the collection: Gemini says the key is not valid (create one in Google AI "
           "Studio)";
  if (!strcmp(out->code, "context_length_exceeded"))
    return "shorten the conversation or pick a model with a larger context window";
  if (!strcmp(g->status, "FAILED_PRECONDITION"))
    return "enable billing for the project of GEMINI_API_KEY in Google AI Studio (the free tier is not offered in "
           "every region)";
  switch (upstream) {
  case 401: return "set GEMINI_API_KEY on the collection to a valid Gemini API key";
  case 403:
    return "make sure the project of GEMINI_API_KEY has the Generative Language API enabled and may use this model";
  case 404: return "check the model id; GET /v1beta/models on the Gemini API lists the models the key can use";
  case 429:
    return "the Gemini quota of the key's project is exhausted; wait and retry, or raise the quota (billing tier) "
           "in Google AI Studio";
  case 500: return "Gemini failed internally; retry, and shorten the input if it is very long";
  case 503: return "the model is overloaded; retry later or use another model";
  case 504: return "Gemini ran out of time; retry with a shorter input or a lower max_tokens";
  default: return NULL;
  }
}

static void write_message(pier_gemini_error *out, const gerr *g, int upstream, const char *fix) {
  size_t cap = sizeof out->message, n;
  if (g->status[0])
    n = (size_t)snprintf(out->message, cap, "%s: %s", g->status, g->text[0] ? g->text : "(Gemini gave no detail)");
  else
    n = (size_t)snprintf(out->message, cap, "Gemini returned HTTP %d: %s", upstream,
                         g->text[0] ? g->text : "(no error detail)");
  if (n >= cap) n = cap - 1;
  if (!fix) return;
  const char *dot = (n && out->message[n - 1] == '.') ? "" : ".";
  char wait[48] = "";
  if (upstream == 429 && g->retry_ms)
    snprintf(wait, sizeof wait, " (Gemini asks to wait %llu ms)", (unsigned long long)g->retry_ms);
  snprintf(out->message + n, cap - n, "%s Fix: %s%s.", dot, fix, wait);
}

void pier_gemini_error_map(int http_status, pier_slice body, pier_gemini_error *out) {
  gerr g;
  memset(&g, 0, sizeof g);
  memset(out, 0, sizeof *out);
  read_body(body, &g);
  const status_kind *k = kind_by_name(g.status);
  int upstream = http_status ? http_status : g.code ? g.code : k ? k->http : 502;
  bool key_invalid = !strcmp(g.reason, "API_KEY_INVALID") || strstr(g.text, "API key not valid") != NULL;
  snprintf(out->code, sizeof out->code, "%s", g.status);
  if (strstr(g.text, "exceeds the maximum number of tokens"))
    snprintf(out->code, sizeof out->code, "context_length_exceeded");
  out->status = key_invalid ? 401 : client_status(upstream);
  out->type = pier_openai_error_type(out->status);
  out->retryable = upstream == 429 || upstream == 500 || upstream == 503 || upstream == 504;
  out->retry_after_ms = g.retry_ms;
  write_message(out, &g, upstream, fix_for(out, &g, upstream, key_invalid));
}
