/* converse_response.c — a Converse reply -> pier_chat_events, and through the
 * aggregator an OpenAI `chat.completion`. Streaming and non-streaming answers
 * thus share one serialiser; the stopReason and usage tables live here too. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/converse_int.h"
#include "llm/reply.h"

const char *pier_converse_finish_reason(const char *stop_reason) {
  static const char *const map[][2] = {
    {"end_turn", "stop"},          {"stop_sequence", "stop"},           {"max_tokens", "length"},
    {"tool_use", "tool_calls"},    {"guardrail_intervened", "content_filter"},
    {"content_filtered", "content_filter"}, {"model_context_window_exceeded", "length"}};
  return pier_reply_finish(map, sizeof map / sizeof map[0], stop_reason);
}

const char *pier_converse_finish_for(const char *stop_reason, bool json_mode, int real_tools) {
  const char *f = pier_converse_finish_reason(stop_reason);
  return pier_reply_finish_json(f, json_mode, real_tools);
}

void pier_converse_usage_read(const cJSON *usage, pier_usage *out) {
  memset(out, 0, sizeof *out);
  out->cache_read_tokens = pier_reply_count(usage, "cacheReadInputTokens");
  out->cache_creation_tokens = pier_reply_count(usage, "cacheWriteInputTokens");
  out->prompt_tokens = pier_reply_count(usage, "inputTokens") + out->cache_read_tokens + out->cache_creation_tokens;
  out->completion_tokens = pier_reply_count(usage, "outputTokens");
  out->total_tokens = out->prompt_tokens + out->completion_tokens;
}

typedef struct walk {
  pier_chat_on_event on_event;
  void *arg;
  const pier_converse_info *info;
  const cJSON *json_input; /* input of the json_tool_call block in JSON mode, else NULL */
  int tools;               /* OpenAI index of the next tool call */
} walk;

static bool is_json_tool(const walk *w, const cJSON *use) {
  const char *name = pier_json_str(use, "name");
  return w->info->json_mode && name && strcmp(name, PIER_CONVERSE_JSON_TOOL) == 0;
}

/* TOOL_START + one TOOL_ARGS with the compact JSON of the input. */
static int send_tool(walk *w, const cJSON *use) {
  return pier_reply_tool(w->on_event, w->arg, w->tools++, pier_json_str(use, "toolUseId"), pier_json_str(use, "name"),
                         cJSON_GetObjectItemCaseSensitive(use, "input"));
}

static int send_block(walk *w, const cJSON *block) {
  const cJSON *use = cJSON_GetObjectItemCaseSensitive(block, "toolUse");
  const cJSON *rc_block = cJSON_GetObjectItemCaseSensitive(block, "reasoningContent");
  if (cJSON_IsObject(use)) return is_json_tool(w, use) ? 0 : send_tool(w, use);
  if (rc_block)
    return pier_reply_text(w->on_event, w->arg, PIER_CHAT_EV_REASONING,
                           pier_json_str(cJSON_GetObjectItemCaseSensitive(rc_block, "reasoningText"), "text"));
  /* in JSON mode the tool input is the answer; stray text around it is not */
  return w->json_input ? 0 : pier_reply_text(w->on_event, w->arg, PIER_CHAT_EV_TEXT, pier_json_str(block, "text"));
}

int pier_converse_response_events(const cJSON *resp, const pier_converse_info *info, pier_chat_on_event on_event,
                                  void *arg, char *err, size_t errlen) {
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "output"), "message");
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content"), *block;
  if (!cJSON_IsArray(content)) {
    snprintf(err, errlen, "the Bedrock Converse reply has no output.message.content array");
    return PIER_EPROTO;
  }
  walk w = {.on_event = on_event, .arg = arg, .info = info};
  cJSON_ArrayForEach(block, content) {
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(block, "toolUse");
    if (cJSON_IsObject(use) && is_json_tool(&w, use) && !w.json_input)
      w.json_input = cJSON_GetObjectItemCaseSensitive(use, "input");
  }
  pier_chat_event ev = {.kind = PIER_CHAT_EV_START};
  int rc = on_event(arg, &ev);
  for (block = content->child; !rc && block; block = block->next) rc = send_block(&w, block);
  if (!rc && w.json_input) rc = pier_reply_json(on_event, arg, w.json_input);
  if (rc) return rc;
  ev.kind = PIER_CHAT_EV_FINISH;
  ev.finish_reason = pier_converse_finish_for(pier_json_str(resp, "stopReason"), info->json_mode, w.tools);
  if ((rc = on_event(arg, &ev))) return rc;
  pier_chat_event uev = {.kind = PIER_CHAT_EV_USAGE};
  pier_converse_usage_read(cJSON_GetObjectItemCaseSensitive(resp, "usage"), &uev.usage);
  return on_event(arg, &uev);
}

typedef struct reply_ctx {
  const cJSON *resp;
  const pier_converse_info *info;
} reply_ctx;

static int reply_events(const void *ctx, pier_chat_on_event on_event, void *arg, char *err, size_t errlen) {
  const reply_ctx *c = ctx;
  return pier_converse_response_events(c->resp, c->info, on_event, arg, err, errlen);
}

int pier_converse_response(const cJSON *resp, const pier_converse_info *info, const pier_openai_meta *meta,
                           pier_buf *out, char *err, size_t errlen) {
  reply_ctx c = {resp, info};
  return pier_reply_completion(reply_events, &c, meta, false, out, err, errlen);
}
