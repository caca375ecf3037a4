/* h_messages.c — POST /v1/messages: the Anthropic Messages API, for Claude
 * Code and other Anthropic clients (in runbook sandboxes, through a run token).
 * Claude on Anthropic or on Bedrock (InvokeModel) is relayed natively; any
 * other model is translated to OpenAI form, called, and written back as
 * Anthropic SSE / JSON. POST /v1/messages/count_tokens estimates locally. */
#include <math.h>
#include <string.h>

#include "api/chat_int.h"
#include "base/json.h"
#include "llm/anthropic_map.h"

void pier_h_messages(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  char err[512];
  cJSON *oreq = NULL;
  if (pier_anthropic_to_openai(body, &oreq, err, sizeof err) != 0) {
    pier_api_error(req, 400, "invalid_request_error", "%s", err);
    return;
  }
  if (!pier_api_defer_json(req, oreq)) return;
  pier_chat_ctx *x = pier_chat_ctx_new(req, oreq, true);
  if (!x) return;
  x->anthropic_body = body;
  pier_chat_begin(x);
}

/* Characters of every text in a JSON value (strings only). */
static size_t text_chars(const cJSON *v) {
  if (cJSON_IsString(v)) return strlen(v->valuestring);
  size_t n = 0;
  for (const cJSON *c = v ? v->child : NULL; c; c = c->next)
    if (!(c->string && (!strcmp(c->string, "type") || !strcmp(c->string, "role")))) n += text_chars(c);
  return n;
}

/* An estimate (about 4 characters per token), answered locally so a client's
 * context bookkeeping never costs a provider call. */
void pier_h_count_tokens(pier_http_req *req) {
  cJSON *body = pier_api_body_object(req);
  if (!body) return;
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
  if (!cJSON_IsArray(msgs)) {
    pier_api_error(req, 400, "invalid_request_error", "messages: Field required");
    return;
  }
  size_t chars = text_chars(msgs) + text_chars(cJSON_GetObjectItemCaseSensitive(body, "system")) +
                 text_chars(cJSON_GetObjectItemCaseSensitive(body, "tools"));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "input_tokens", (double)((chars + 3) / 4 + 3 * (size_t)cJSON_GetArraySize(msgs)));
  pier_http_respond_json(req, 200, o);
  cJSON_Delete(o);
}
