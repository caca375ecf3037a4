/* anthropic_resp.c — a Messages reply -> pier_chat_events, and through the
 * OpenAI aggregator a `chat.completion`. The stop_reason and usage tables live
 * here so the reply and stream paths cannot drift apart. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/anthropic_int.h"
#include "llm/reply.h"

const char *pier_anthropic_finish_reason(const char *stop_reason) {
  static const char *const map[][2] = {
    {"end_turn", "stop"},       {"stop_sequence", "stop"},   {"pause_turn", "stop"},
    {"max_tokens", "length"},   {"model_context_window_exceeded", "length"},
    {"tool_use", "tool_calls"}, {"refusal", "content_filter"}};
  return pier_reply_finish(map, sizeof map / sizeof map[0], stop_reason);
}

const char *pier_anthropic_finish_for(const char *stop_reason, bool json_mode, int real_tools) {
  const char *f = pier_anthropic_finish_reason(stop_reason);
  return pier_reply_finish_json(f, json_mode, real_tools);
}

void pier_anthropic_usage_read(const cJSON *usage, pier_usage *out) {
  memset(out, 0, sizeof *out);
  out->cache_read_tokens = pier_reply_count(usage, "cache_read_input_tokens");
  out->cache_creation_tokens = pier_reply_count(usage, "cache_creation_input_tokens");
  out->prompt_tokens = pier_reply_count(usage, "input_tokens") + out->cache_read_tokens + out->cache_creation_tokens;
  out->completion_tokens = pier_reply_count(usage, "output_tokens");
  out->total_tokens = out->prompt_tokens + out->completion_tokens;
}

typedef struct walk {
  pier_chat_on_event on_event;
  void *arg;
  bool json_mode;
  const cJSON *json_input; /* input of the json_tool_call block in JSON mode, else NULL */
  int tools;               /* OpenAI index of the next tool call */
} walk;

static bool is_json_tool(const walk *w, const cJSON *block) {
  const char *type = pier_json_str(block, "type"), *name = pier_json_str(block, "name");
  return w->json_mode && type && strcmp(type, "tool_use") == 0 && name && strcmp(name, PIER_ANTHROPIC_JSON_TOOL) == 0;
}

/* TOOL_START + one TOOL_ARGS with the compact JSON of the input. */
static int send_tool(walk *w, const cJSON *use) {
  return pier_reply_tool(w->on_event, w->arg, w->tools++, pier_json_str(use, "id"), pier_json_str(use, "name"),
                         cJSON_GetObjectItemCaseSensitive(use, "input"));
}

/* text, thinking, tool_use; redacted_thinking and server-side blocks
 * (server_tool_use, web_search_tool_result, ...) carry nothing OpenAI has. */
static int send_block(walk *w, const cJSON *block) {
  const char *type = pier_json_str(block, "type");
  if (!type) return 0;
  if (strcmp(type, "tool_use") == 0) return is_json_tool(w, block) ? 0 : send_tool(w, block);
  if (strcmp(type, "thinking") == 0)
    return pier_reply_text(w->on_event, w->arg, PIER_CHAT_EV_REASONING, pier_json_str(block, "thinking"));
  /* in JSON mode the tool input is the answer; stray text around it is not */
  if (strcmp(type, "text") == 0)
    return w->json_input ? 0 : pier_reply_text(w->on_event, w->arg, PIER_CHAT_EV_TEXT, pier_json_str(block, "text"));
  return 0;
}

/* A 200 reply that is an error object: one ERROR event. */
static int send_error(const cJSON *resp, pier_chat_on_event on_event, void *arg, char *err, size_t errlen) {
  pier_anthropic_error e;
  char *body = cJSON_PrintUnformatted(resp);
  if (!body) return PIER_ENOMEM;
  pier_anthropic_error_map(0, pier_slice_from(body), &e);
  cJSON_free(body);
  snprintf(err, errlen, "%s", e.message);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = e.status, .error_type = e.code[0] ? e.code : NULL,
                        .text = pier_slice_from(e.message)};
  int rc = on_event(arg, &ev);
  return rc ? rc : PIER_EUPSTREAM;
}

int pier_anthropic_response_events(const cJSON *resp, const pier_anthropic_info *info, pier_chat_on_event on_event,
                                   void *arg, char *err, size_t errlen) {
  const char *type = pier_json_str(resp, "type");
  if (type && strcmp(type, "error") == 0) return send_error(resp, on_event, arg, err, errlen);
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(resp, "content"), *block;
  if (!cJSON_IsArray(content)) {
    snprintf(err, errlen, "the Anthropic reply has no content array");
    return PIER_EPROTO;
  }
  walk w = {.on_event = on_event, .arg = arg, .json_mode = info && info->json_mode};
  cJSON_ArrayForEach(block, content) if (!w.json_input && is_json_tool(&w, block))
    w.json_input = cJSON_GetObjectItemCaseSensitive(block, "input");
  pier_chat_event ev = {.kind = PIER_CHAT_EV_START};
  int rc = on_event(arg, &ev);
  for (block = content->child; !rc && block; block = block->next) rc = send_block(&w, block);
  if (!rc && w.json_input) rc = pier_reply_json(on_event, arg, w.json_input);
  if (rc) return rc;
  ev.kind = PIER_CHAT_EV_FINISH;
  ev.finish_reason = pier_anthropic_finish_for(pier_json_str(resp, "stop_reason"), w.json_mode, w.tools);
  if ((rc = on_event(arg, &ev))) return rc;
  pier_chat_event uev = {.kind = PIER_CHAT_EV_USAGE};
  pier_anthropic_usage_read(cJSON_GetObjectItemCaseSensitive(resp, "usage"), &uev.usage);
  return on_event(arg, &uev);
}

typedef struct reply_ctx {
  const cJSON *resp;
  const pier_anthropic_info *info;
} reply_ctx;

static int reply_events(const void *ctx, pier_chat_on_event on_event, void *arg, char *err, size_t errlen) {
  const reply_ctx *c = ctx;
  return pier_anthropic_response_events(c->resp, c->info, on_event, arg, err, errlen);
}

int pier_anthropic_response(const cJSON *resp, const pier_anthropic_info *info, const pier_openai_meta *meta,
                            pier_buf *out, char *err, size_t errlen) {
  reply_ctx c = {resp, info};
  return pier_reply_completion(reply_events, &c, meta, false, out, err, errlen);
}
