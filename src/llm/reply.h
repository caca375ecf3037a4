/* reply.h — what every provider's reply walk shares when it turns a whole
 * answer into pier_chat_events and, through the OpenAI aggregator, into a
 * `chat.completion`: events for text, tool calls and JSON-mode answers, token
 * counts, finish_reason tables. */
#ifndef PIER_LLM_REPLY_H
#define PIER_LLM_REPLY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "llm/chat.h"
#include "llm/openai_sse.h"

/* One event of `kind` with text; nothing for NULL or "". */
int pier_reply_text(pier_chat_on_event on_event, void *arg, pier_chat_ev_kind kind, const char *text) PIER_WUR;
/* TOOL_START, then one TOOL_ARGS with the compact JSON of input ("{}" without). */
int pier_reply_tool(pier_chat_on_event on_event, void *arg, int index, const char *id, const char *name,
                    const cJSON *input) PIER_WUR;
/* A TEXT event with the compact JSON of value (JSON mode: the tool input is the answer). */
int pier_reply_json(pier_chat_on_event on_event, void *arg, const cJSON *value) PIER_WUR;

/* usage[key] as a token count: 0 when absent or not positive, clamped far
 * below int64 overflow. */
int64_t pier_reply_count(const cJSON *usage, const char *key);

/* reason looked up in map (n rows of {provider reason, OpenAI finish_reason}); "stop" when absent. */
const char *pier_reply_finish(const char *const (*map)[2], size_t n, const char *reason);
/* In JSON mode a "tool_calls" finish with no real tool call is the answer: "stop". */
const char *pier_reply_finish_json(const char *finish, bool json_mode, int real_tools);

/* The chat.completion for a reply: events(ctx, ...) through the aggregator into
 * out. With finish_on_upstream, a PIER_EUPSTREAM from events still lets the
 * aggregator write its error body. err explains any failure. */
typedef int (*pier_reply_events_fn)(const void *ctx, pier_chat_on_event on_event, void *arg, char *err, size_t errlen);
int pier_reply_completion(pier_reply_events_fn events, const void *ctx, const pier_openai_meta *meta,
                          bool finish_on_upstream, pier_buf *out, char *err, size_t errlen) PIER_WUR;

#endif
