/* common.c — request building and output writing shared by litellm_*. */
#include "engine/activities/common.h"

#include <string.h>

#include "base/json.h"

static const char *passthrough[] = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "stop",
                                    "response_format", "tools", "tool_choice", "parallel_tool_calls", "seed",
                                    "reasoning_effort", "top_k", "presence_penalty", "frequency_penalty", NULL};

cJSON *pier_act_chat_request_with(pier_step *s, cJSON *user, char *err, size_t errlen) {
  const cJSON *in = pier_step_inputs(s);
  const char *model = pier_json_str(in, "model");
  if (!model || !model[0]) {
    cJSON_Delete(user);
    snprintf(err, errlen, "model is required (or model_path pointing at one)");
    return NULL;
  }
  cJSON *req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "model", model);
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(in, "messages");
  if (cJSON_IsArray(msgs) && !user) {
    cJSON_AddItemToObject(req, "messages", cJSON_Duplicate(msgs, 1));
  } else {
    cJSON *arr = cJSON_AddArrayToObject(req, "messages");
    const char *sys = pier_json_str(in, "system_prompt");
    if (sys && sys[0]) {
      cJSON *m = cJSON_CreateObject();
      cJSON_AddStringToObject(m, "role", "system");
      cJSON_AddStringToObject(m, "content", sys);
      cJSON_AddItemToArray(arr, m);
    }
    if (!user) {
      const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "prompt");
      if (!cJSON_IsString(p)) {
        cJSON_Delete(req);
        snprintf(err, errlen, "prompt must be one string (got %s); give prompt or prompt_path, or a messages array",
                 pier_json_type_name(p));
        return NULL;
      }
      user = cJSON_CreateString(p->valuestring);
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddItemToObject(m, "content", user);
    cJSON_AddItemToArray(arr, m);
  }
  for (int i = 0; passthrough[i]; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, passthrough[i]);
    if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(req, passthrough[i], cJSON_Duplicate(v, 1));
  }
  return req;
}

cJSON *pier_act_chat_request(pier_step *s, char *err, size_t errlen) { return pier_act_chat_request_with(s, NULL, err, errlen); }

void pier_act_put_completion(pier_step *s, const cJSON *completion, const pier_chat_result *res) {
  cJSON *out = pier_step_outputs(s);
  const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0);
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
  const char *text = pier_json_str(msg, "content");
  cJSON_AddStringToObject(out, "text", text ? text : "");
  cJSON_AddStringToObject(out, "content", text ? text : "");
  const cJSON *rf = cJSON_GetObjectItemCaseSensitive(pier_step_inputs(s), "response_format");
  if (rf && text) {
    cJSON *j = cJSON_Parse(text);
    if (j) cJSON_AddItemToObject(out, "json", j);
  }
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
  if (cJSON_IsArray(tc)) cJSON_AddItemToObject(out, "tool_calls", cJSON_Duplicate(tc, 1));
  const char *fr = pier_json_str(choice, "finish_reason");
  cJSON_AddStringToObject(out, "finish_reason", fr ? fr : (res && res->finish_reason ? res->finish_reason : "stop"));
  const char *model = pier_json_str(completion, "model");
  if (model) cJSON_AddStringToObject(out, "model", model);
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(completion, "usage");
  if (usage) cJSON_AddItemToObject(out, "usage", cJSON_Duplicate(usage, 1));
}
