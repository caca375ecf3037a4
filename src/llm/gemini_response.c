/* gemini_response.c — a GenerateContentResponse -> pier_chat_events, and
 * through the aggregator an OpenAI `chat.completion`. The part walker, the
 * finishReason table and usage mapping live here and serve the stream decoder
 * too, so streamed and buffered answers cannot drift apart. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/util.h"
#include "llm/gemini_map_int.h"
#include "llm/reply.h"

#define CALL_ID_RANDOM 24   /* "call_" + 24 [a-z0-9], like OpenAI's own ids */
#define GEMINI_ID_BYTES_MAX 256

const char *pier_gemini_finish_reason(const char *finish_reason, bool tool_calls) {
  static const char *const filtered[] = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                                         "IMAGE_SAFETY"};
  if (finish_reason && !strcmp(finish_reason, "MAX_TOKENS")) return "length";
  for (size_t i = 0; finish_reason && i < sizeof filtered / sizeof filtered[0]; i++)
    if (!strcmp(finish_reason, filtered[i])) return "content_filter";
  return tool_calls ? "tool_calls" : "stop";
}

void pier_gemini_usage_read(const cJSON *usage_metadata, pier_usage *out) {
  const cJSON *u = usage_metadata;
  memset(out, 0, sizeof *out);
  out->prompt_tokens = pier_reply_count(u, "promptTokenCount") + pier_reply_count(u, "toolUsePromptTokenCount");
  out->completion_tokens = pier_reply_count(u, "candidatesTokenCount") + pier_reply_count(u, "thoughtsTokenCount");
  out->cache_read_tokens = pier_reply_count(u, "cachedContentTokenCount");
  out->total_tokens = pier_reply_count(u, "totalTokenCount");
  if (out->total_tokens == 0) out->total_tokens = out->prompt_tokens + out->completion_tokens;
}

const cJSON *pier_gemini_candidate0(const cJSON *resp) {
  const cJSON *cands = cJSON_GetObjectItemCaseSensitive(resp, "candidates"), *c;
  cJSON_ArrayForEach(c, (cJSON_IsArray(cands) ? cands : NULL))
    if (cJSON_IsObject(c) && pier_json_num(c, "index", 0) == 0) return c;
  return NULL;
}

/* "call_<random>" or Gemini's own id, then the thought signature when the
 * whole id still fits the aggregator's cap. */
static void call_id(const cJSON *part, const cJSON *fc, char *id, size_t cap) {
  const char *given = pier_json_str(fc, "id"), *sig = pier_json_str(part, "thoughtSignature");
  if (given && given[0] && strlen(given) <= GEMINI_ID_BYTES_MAX) {
    snprintf(id, cap, "%s", given);
  } else {
    char rnd[CALL_ID_RANDOM + 1];
    pier_random_alnum(rnd, CALL_ID_RANDOM);
    snprintf(id, cap, "call_%s", rnd);
  }
  size_t n = strlen(id);
  if (sig && sig[0] && n + strlen(PIER_GEMINI_THOUGHT_SEP) + strlen(sig) < cap)
    snprintf(id + n, cap - n, "%s%s", PIER_GEMINI_THOUGHT_SEP, sig);
}

static int send_call(const cJSON *part, int index, pier_chat_on_event on_event, void *arg) {
  const cJSON *fc = cJSON_GetObjectItemCaseSensitive(part, "functionCall");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "args");
  const char *name = pier_json_str(fc, "name");
  char id[PIER_GEMINI_TOOL_ID_BYTES_MAX + 1];
  char *json = args && !cJSON_IsNull(args) ? cJSON_PrintUnformatted(args) : NULL;
  if (args && !cJSON_IsNull(args) && !json) return PIER_ENOMEM;
  call_id(part, fc, id, sizeof id);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_TOOL_START, .tool_index = index, .tool_id = pier_slice_from(id),
                        .tool_name = pier_slice_from(name ? name : "")};
  int rc = on_event(arg, &ev);
  if (!rc) {
    ev.kind = PIER_CHAT_EV_TOOL_ARGS;
    ev.text = pier_slice_from(json ? json : "{}");
    rc = on_event(arg, &ev);
  }
  cJSON_free(json);
  return rc;
}

int pier_gemini_send_parts(const cJSON *candidate, int *next_tool, pier_chat_on_event on_event, void *arg) {
  const cJSON *parts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(candidate, "content"),
                                                        "parts"), *p;
  int rc = 0;
  cJSON_ArrayForEach(p, (cJSON_IsArray(parts) ? parts : NULL)) {
    const char *text = pier_json_str(p, "text");
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(p, "functionCall"))) {
      rc = send_call(p, (*next_tool)++, on_event, arg);
    } else if (text && text[0]) { /* executableCode, inlineData and other parts have no OpenAI form here */
      pier_chat_event ev = {.kind = pier_json_bool(p, "thought", false) ? PIER_CHAT_EV_REASONING : PIER_CHAT_EV_TEXT,
                            .text = pier_slice_from(text)};
      rc = on_event(arg, &ev);
    }
    if (rc) return rc;
  }
  return 0;
}

bool pier_gemini_blocked(const cJSON *resp, char *msg, size_t msglen) {
  const cJSON *fb = cJSON_GetObjectItemCaseSensitive(resp, "promptFeedback");
  const char *reason = pier_json_str(fb, "blockReason"), *why = pier_json_str(fb, "blockReasonMessage");
  if (pier_gemini_candidate0(resp) || !reason) return false;
  snprintf(msg, msglen,
           "Gemini blocked the prompt (promptFeedback.blockReason %.40s%s%.200s); rephrase the request or remove "
           "the content its safety filters flagged",
           reason, why && why[0] ? ": " : "", why && why[0] ? why : "");
  return true;
}

int pier_gemini_response_events(const cJSON *resp, const pier_gemini_info *info, pier_chat_on_event on_event,
                                void *arg, char *err, size_t errlen) {
  char msg[320];
  (void)info; /* JSON mode and thinking need no special decoding for Gemini */
  if (pier_gemini_blocked(resp, msg, sizeof msg)) {
    snprintf(err, errlen, "%s", msg);
    pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = 400, .error_type = "content_filter",
                          .text = pier_slice_from(msg)};
    int rc = on_event(arg, &ev);
    return rc ? rc : PIER_EUPSTREAM;
  }
  const cJSON *cand = pier_gemini_candidate0(resp);
  if (!cand) {
    snprintf(err, errlen, "the Gemini reply has no candidates[0] and no promptFeedback.blockReason");
    return PIER_EPROTO;
  }
  int tools = 0, rc;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_START};
  if ((rc = on_event(arg, &ev)) || (rc = pier_gemini_send_parts(cand, &tools, on_event, arg))) return rc;
  ev.kind = PIER_CHAT_EV_FINISH;
  ev.finish_reason = pier_gemini_finish_reason(pier_json_str(cand, "finishReason"), tools > 0);
  if ((rc = on_event(arg, &ev))) return rc;
  pier_chat_event uev = {.kind = PIER_CHAT_EV_USAGE};
  pier_gemini_usage_read(cJSON_GetObjectItemCaseSensitive(resp, "usageMetadata"), &uev.usage);
  return on_event(arg, &uev);
}

typedef struct reply_ctx {
  const cJSON *resp;
  const pier_gemini_info *info;
} reply_ctx;

static int reply_events(const void *ctx, pier_chat_on_event on_event, void *arg, char *err, size_t errlen) {
  const reply_ctx *c = ctx;
  return pier_gemini_response_events(c->resp, c->info, on_event, arg, err, errlen);
}

/* After a blocked prompt (PIER_EUPSTREAM) the aggregator still writes the error body. */
int pier_gemini_response(const cJSON *resp, const pier_gemini_info *info, const pier_openai_meta *meta,
                         pier_buf *out, char *err, size_t errlen) {
  reply_ctx c = {resp, info};
  return pier_reply_completion(reply_events, &c, meta, true, out, err, errlen);
}
