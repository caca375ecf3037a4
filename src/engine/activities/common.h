/* common.h — pieces shared by the litellm_* activities: building an OpenAI
 * request from step inputs and writing a completion into the outputs. */
#ifndef PIER_ENGINE_ACTIVITIES_COMMON_H
#define PIER_ENGINE_ACTIVITIES_COMMON_H

#include <cjson/cJSON.h>

#include "engine/activity.h"

/* Parameters every chat-like activity accepts (step-templates JSON, without braces). */
#define PIER_ACT_CHAT_PARAMS_BODY                                                                                  \
  "\"model\":{\"type\":\"string\",\"required\":true,\"description\":\"e.g. us.anthropic.claude-sonnet-4-6, "      \
  "gpt-4o-mini, bedrock/...\"},"                                                                                \
  "\"model_provider\":{\"type\":\"string\",\"description\":\"bedrock, openai, anthropic, gemini, openrouter, ...\"}," \
  "\"prompt\":{\"type\":\"string\",\"description\":\"the user message\"},"                                      \
  "\"system_prompt\":{\"type\":\"string\"},"                                                                      \
  "\"messages\":{\"type\":\"array\",\"description\":\"a full OpenAI messages array instead of prompt\"},"        \
  "\"temperature\":{\"type\":\"number\"},\"max_tokens\":{\"type\":\"integer\"},\"top_p\":{\"type\":\"number\"},"  \
  "\"stop\":{\"type\":\"array\"},\"response_format\":{\"type\":\"object\",\"description\":\"OpenAI json_object / "  \
  "json_schema\"},\"fallbacks\":{\"type\":\"array\",\"description\":\"models to try if this one fails\"}"
#define PIER_ACT_CHAT_PARAMS "{" PIER_ACT_CHAT_PARAMS_BODY "}"

/* An OpenAI chat request from the step inputs: model, messages (or
 * system_prompt + prompt), and the passthrough knobs. NULL with err set. */
cJSON *pier_act_chat_request(pier_step *s, char *err, size_t errlen);
/* As above with a given user content (string or content-part array, taken). */
cJSON *pier_act_chat_request_with(pier_step *s, cJSON *user_content, char *err, size_t errlen);
/* outputs.text / content / finish_reason / model / usage (+ json, tool_calls). */
void pier_act_put_completion(pier_step *s, const cJSON *completion, const pier_chat_result *res);

#endif
