/* litellm_chat.c — one chat completion: prompt (+ system_prompt, or a full
 * messages array) to any provider pier routes to. Outputs text, the parsed JSON
 * when a response_format asked for it, finish_reason, model and usage. */
#include <string.h>

#include "base/json.h"
#include "engine/activity.h"
#include "engine/activities/common.h"

static void start(pier_step *s) {
  char err[512];
  cJSON *req = pier_act_chat_request(s, err, sizeof err);
  if (!req) {
    pier_step_fail(s, "%s", err);
    return;
  }
  if (pier_step_chat(s, req, pier_act_chat_done, NULL) != 0) pier_step_fail(s, "could not start the model call");
}

const pier_activity pier_act_litellm_chat = {
    .name = "litellm_chat",
    .category = "ai",
    .description = "Chat completion with any model pier routes to (Bedrock, OpenAI, Anthropic, Gemini, OpenRouter, "
                   "...): outputs.text.",
    .params_json = PIER_ACT_CHAT_PARAMS,
    .start = start,
};
