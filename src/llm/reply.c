/* reply.c — see reply.h. */
#include "llm/reply.h"

#include <stdio.h>
#include <string.h>

#include "base/json.h"

#define TOKENS_MAX 1e15 /* counts above this are garbage; clamp rather than overflow int64 */

int pier_reply_text(pier_chat_on_event on_event, void *arg, pier_chat_ev_kind kind, const char *text) {
  if (!text || !text[0]) return 0;
  pier_chat_event ev = {.kind = kind, .text = pier_slice_from(text)};
  return on_event(arg, &ev);
}

int pier_reply_tool(pier_chat_on_event on_event, void *arg, int index, const char *id, const char *name,
                    const cJSON *input) {
  char *args = input ? cJSON_PrintUnformatted(input) : NULL;
  if (input && !args) return PIER_ENOMEM;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_TOOL_START, .tool_index = index,
                        .tool_id = pier_slice_from(id ? id : ""), .tool_name = pier_slice_from(name ? name : "")};
  int rc = on_event(arg, &ev);
  if (!rc) {
    ev.kind = PIER_CHAT_EV_TOOL_ARGS;
    ev.text = pier_slice_from(args ? args : "{}");
    rc = on_event(arg, &ev);
  }
  cJSON_free(args);
  return rc;
}

int pier_reply_json(pier_chat_on_event on_event, void *arg, const cJSON *value) {
  char *s = cJSON_PrintUnformatted(value);
  if (!s) return PIER_ENOMEM;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_TEXT, .text = pier_slice_from(s)};
  int rc = on_event(arg, &ev);
  cJSON_free(s);
  return rc;
}

int64_t pier_reply_count(const cJSON *usage, const char *key) {
  double d = pier_json_num(usage, key, 0);
  return d > 0 ? (int64_t)(d < TOKENS_MAX ? d : TOKENS_MAX) : 0;
}

const char *pier_reply_finish(const char *const (*map)[2], size_t n, const char *reason) {
  for (size_t i = 0; reason && i < n; i++)
    if (strcmp(reason, map[i][0]) == 0) return map[i][1];
  return "stop";
}

const char *pier_reply_finish_json(const char *finish, bool json_mode, int real_tools) {
  return (json_mode && real_tools == 0 && strcmp(finish, "tool_calls") == 0) ? "stop" : finish;
}

int pier_reply_completion(pier_reply_events_fn events, const void *ctx, const pier_openai_meta *meta,
                          bool finish_on_upstream, pier_buf *out, char *err, size_t errlen) {
  pier_openai_agg agg;
  int rc = pier_openai_agg_init(&agg, meta);
  if (rc) {
    snprintf(err, errlen, "%s while preparing the chat completion", pier_strerror(rc));
    return rc;
  }
  rc = events(ctx, pier_openai_agg_on_event, &agg, err, errlen);
  if (!rc || (finish_on_upstream && rc == PIER_EUPSTREAM)) {
    int frc = pier_openai_agg_finish(&agg, out);
    if (frc) rc = frc;
  }
  if (rc && rc != PIER_EPROTO && rc != PIER_EUPSTREAM)
    snprintf(err, errlen, "%s while writing the chat completion", pier_strerror(rc));
  pier_openai_agg_dispose(&agg);
  return rc;
}
