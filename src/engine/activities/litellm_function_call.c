/* litellm_function_call.c — a chat completion with tools: `tools` (OpenAI
 * shape; legacy `functions` + `function_call` converted) and `tool_choice`
 * (also a bare tool name). Outputs tool_calls in OpenAI's shape ([] when the
 * model answered in text), text, and for the first call function_name and
 * arguments (parsed; null when there is no call or they are not JSON, with the
 * raw string in arguments_raw), plus litellm_chat's content/finish_reason/model/usage. */
#include <string.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"

#define TOOLS_MAX 128

static void on_answer(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion) {
  (void)arg;
  if (!completion) {
    pier_act_chat_done(s, arg, res, NULL);
    return;
  }
  pier_act_put_completion(s, completion, res);
  cJSON *out = pier_step_outputs(s);
  cJSON *calls = cJSON_GetObjectItemCaseSensitive(out, "tool_calls");
  if (!cJSON_IsArray(calls)) {
    cJSON_DeleteItemFromObjectCaseSensitive(out, "tool_calls");
    calls = cJSON_AddArrayToObject(out, "tool_calls");
  }
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(calls, 0), "function");
  const char *name = pier_json_str(fn, "name"), *args = pier_json_str(fn, "arguments");
  cJSON *parsed = args ? cJSON_Parse(args) : NULL;
  if (name) cJSON_AddStringToObject(out, "function_name", name);
  else cJSON_AddNullToObject(out, "function_name");
  cJSON_AddItemToObject(out, "arguments", parsed ? parsed : cJSON_CreateNull());
  if (args) cJSON_AddStringToObject(out, "arguments_raw", args);
  else cJSON_AddNullToObject(out, "arguments_raw");
  pier_step_done(s);
}

/* One tools[] entry: {"type":"function","function":{"name":..}}; the bare
 * function object ({"name","description","parameters"}) is wrapped. */
static cJSON *tool_of(const cJSON *t, const char *key, int i, char *err, size_t errlen) {
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
  const char *type = pier_json_str(t, "type");
  if (!cJSON_IsObject(t)) {
    snprintf(err, errlen, "%s[%d] must be an object (got %s)", key, i, pier_json_type_name(t));
    return NULL;
  }
  if (!fn && !type) fn = t; /* legacy functions[] entry or a bare function */
  else if (type && strcmp(type, "function") != 0) {
    snprintf(err, errlen, "%s[%d].type must be \"function\" (got \"%.40s\")", key, i, type);
    return NULL;
  }
  const char *name = pier_json_str(fn, "name");
  if (!cJSON_IsObject(fn) || !name || !name[0]) {
    snprintf(err, errlen, "%s[%d] needs a function name: {\"type\": \"function\", \"function\": {\"name\": "
             "\"get_weather\", \"parameters\": {...}}}", key, i);
    return NULL;
  }
  if (fn == t) {
    cJSON *w = cJSON_CreateObject();
    cJSON_AddStringToObject(w, "type", "function");
    cJSON_AddItemToObject(w, "function", cJSON_Duplicate(fn, 1));
    return w;
  }
  return cJSON_Duplicate(t, 1);
}

static cJSON *tools_of(const cJSON *in, char *err, size_t errlen) {
  const char *key;
  static const char *const keys[] = {"tools", "functions", NULL};
  const cJSON *src = pier_act_first(in, keys, &key);
  int n = cJSON_GetArraySize(src);
  if (!cJSON_IsArray(src) || n == 0 || n > TOOLS_MAX) {
    char got[48];
    if (!cJSON_IsArray(src)) snprintf(got, sizeof got, "%s", pier_json_type_name(src));
    else snprintf(got, sizeof got, "%d tools", n);
    snprintf(err, errlen, "tools must be an array of 1 to %d OpenAI tools, e.g. [{\"type\": \"function\", "
             "\"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}], or legacy "
             "functions (got %s)", TOOLS_MAX, got);
    return NULL;
  }
  cJSON *tools = cJSON_CreateArray();
  int i = 0;
  for (const cJSON *t = src->child; t; t = t->next, i++) {
    cJSON *one = tool_of(t, key, i, err, errlen);
    if (!one) {
      cJSON_Delete(tools);
      return NULL;
    }
    cJSON_AddItemToArray(tools, one);
  }
  return tools;
}

static bool has_tool(const cJSON *tools, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, tools) {
    const char *n = pier_json_str(cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
    if (n && !strcmp(n, name)) return true;
  }
  return false;
}

/* tool_choice (or legacy function_call): auto | none | required | a tool name |
 * {"type":"function","function":{"name":..}} | legacy {"name":..}. NULL = absent. */
static int choice_of(const cJSON *in, const cJSON *tools, cJSON **out, char *err, size_t errlen) {
  static const char *const keys[] = {"tool_choice", "function_call", NULL};
  const char *key;
  const cJSON *c = pier_act_first(in, keys, &key);
  const char *name = NULL;
  *out = NULL;
  if (!c) return 0;
  if (cJSON_IsString(c)) {
    if (!strcmp(c->valuestring, "auto") || !strcmp(c->valuestring, "none") || !strcmp(c->valuestring, "required")) {
      *out = cJSON_CreateString(c->valuestring);
      return 0;
    }
    name = c->valuestring;
  } else if (cJSON_IsObject(c)) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
    name = pier_json_str(fn ? fn : c, "name");
  }
  if (!name || !has_tool(tools, name)) {
    snprintf(err, errlen, "%s must be \"auto\", \"none\", \"required\" or the name of one of the tools "
             "(got %s%.100s%s)", key, name ? "\"" : pier_json_type_name(c), name ? name : "", name ? "\"" : "");
    return PIER_EINVAL;
  }
  *out = cJSON_CreateObject();
  cJSON_AddStringToObject(*out, "type", "function");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(*out, "function"), "name", name);
  return 0;
}

static void start(pier_step *s) {
  char err[512];
  const cJSON *in = pier_step_inputs(s);
  cJSON *tools = tools_of(in, err, sizeof err), *choice = NULL;
  if (!tools || choice_of(in, tools, &choice, err, sizeof err)) {
    cJSON_Delete(tools);
    pier_step_fail(s, "%s", err);
    return;
  }
  cJSON *req = pier_act_chat_request(s, err, sizeof err);
  if (!req) {
    cJSON_Delete(tools);
    cJSON_Delete(choice);
    pier_step_fail(s, "%s", err);
    return;
  }
  cJSON_DeleteItemFromObjectCaseSensitive(req, "tools");
  cJSON_DeleteItemFromObjectCaseSensitive(req, "tool_choice");
  cJSON_AddItemToObject(req, "tools", tools);
  if (choice) cJSON_AddItemToObject(req, "tool_choice", choice);
  if (pier_step_chat(s, req, on_answer, NULL) != 0) pier_step_fail(s, "could not start the model call");
}

const pier_activity pier_act_litellm_function_call = {
    .name = "litellm_function_call",
    .category = "ai",
    .description = "Chat completion with tools (function calling): outputs.tool_calls, outputs.function_name and "
                   "outputs.arguments of the first call, outputs.text.",
    .params_json = "{" PIER_ACT_CHAT_PARAMS_BODY
                   ",\"tools\":{\"type\":\"array\",\"required\":true,\"description\":\"OpenAI tools "
                   "[{type: function, function: {name, description, parameters}}] (legacy: functions)\"},"
                   "\"tool_choice\":{\"type\":[\"string\",\"object\"],\"description\":\"auto, none, required, a "
                   "tool name or {type: function, function: {name}} (legacy: function_call)\"},"
                   "\"parallel_tool_calls\":{\"type\":\"boolean\"}}",
    .start = start,
};
