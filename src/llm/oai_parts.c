/* oai_parts.c — see oai_parts.h. */
#include "llm/oai_parts.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "base/limits.h"
#include "base/slice.h"

/* err = the message; PIER_EINVAL. */
static int bad(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return PIER_EINVAL;
}

bool pier_oai_is_remote(const char *url, bool gs) {
  pier_slice s = pier_slice_from(url);
  return pier_slice_istarts_with(s, "http://") || pier_slice_istarts_with(s, "https://") ||
         (gs && pier_slice_istarts_with(s, "gs://"));
}

bool pier_oai_base64_ok(const char *s, bool url_safe) {
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/' || c == '=' || (url_safe && (c == '-' || c == '_'));
    if (!ok) return false;
  }
  return n > 0;
}

cJSON *pier_oai_image_url(const cJSON *part) {
  cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
  return cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
}

const char *pier_oai_part_text(int i, int j, const cJSON *part, char *err, size_t errlen) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
  if (cJSON_IsString(t)) return t->valuestring;
  bad(err, errlen, "messages[%d].content[%d].text must be a string, got %s", i, j, pier_json_type_name(t));
  return NULL;
}

int pier_oai_tool_text(int i, const cJSON *content, pier_buf *out, char *err, size_t errlen) {
  if (cJSON_IsString(content)) return pier_buf_append_cstr(out, content->valuestring);
  if (!content || cJSON_IsNull(content)) return 0;
  if (!cJSON_IsArray(content))
    return bad(err, errlen, "messages[%d].content must be a string or an array of text parts, got %s", i,
               pier_json_type_name(content));
  int j = 0, rc;
  for (const cJSON *part = content->child; part; part = part->next, j++) {
    const char *type = pier_json_str(part, "type");
    if (!type || strcmp(type, "text"))
      return bad(err, errlen, "messages[%d].content[%d]: a tool message takes only text parts", i, j);
    const char *text = pier_oai_part_text(i, j, part, err, errlen);
    if (!text) return PIER_EINVAL;
    if ((rc = pier_buf_append_cstr(out, text))) return rc;
  }
  return 0;
}

int pier_oai_tool_call(int i, int j, const cJSON *call, const char **id, const char **name, cJSON **input, char *err,
                       size_t errlen) {
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
  *id = pier_json_str(call, "id");
  *name = pier_json_str(fn, "name");
  *input = NULL;
  if (!cJSON_IsObject(call)) return bad(err, errlen, "messages[%d].tool_calls[%d] must be an object", i, j);
  if (!*id || !(*id)[0]) return bad(err, errlen, "messages[%d].tool_calls[%d].id must be a non-empty string", i, j);
  if (!*name || !(*name)[0])
    return bad(err, errlen, "messages[%d].tool_calls[%d].function.name must be a non-empty string", i, j);
  if (args && !cJSON_IsNull(args) && !cJSON_IsString(args))
    return bad(err, errlen, "messages[%d].tool_calls[%d].function.arguments must be a JSON string", i, j);
  char perr[64];
  const char *text = cJSON_IsString(args) && args->valuestring[0] ? args->valuestring : "{}";
  cJSON *in = pier_json_parse(pier_slice_from(text), PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(in)) {
    cJSON_Delete(in);
    return bad(err, errlen, "messages[%d].tool_calls[%d].function.arguments must be a JSON object (%s)", i, j,
               in ? "it is not an object" : perr);
  }
  *input = in;
  return 0;
}

int pier_oai_tool_choice(const cJSON *tc, const cJSON *specs, bool (*named)(const cJSON *specs, const char *name),
                         pier_oai_choice *c, const char **name, char *err, size_t errlen) {
  *c = PIER_OAI_CHOICE_UNSET;
  if (!tc) return 0;
  if (cJSON_IsString(tc)) {
    const char *s = tc->valuestring;
    *c = !strcmp(s, "auto")       ? PIER_OAI_CHOICE_AUTO
         : !strcmp(s, "required") ? PIER_OAI_CHOICE_ANY
         : !strcmp(s, "none")     ? PIER_OAI_CHOICE_NONE
                                  : PIER_OAI_CHOICE_UNSET;
    if (*c == PIER_OAI_CHOICE_UNSET)
      return bad(err, errlen, "tool_choice must be \"auto\", \"required\", \"none\" or "
                              "{\"type\":\"function\",\"function\":{\"name\":...}}; got \"%s\"", s);
    if (*c == PIER_OAI_CHOICE_ANY && !specs->child)
      return bad(err, errlen, "tool_choice: \"required\" needs at least one entry in tools");
    return 0;
  }
  *name = pier_json_str(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
  if (!cJSON_IsObject(tc) || !*name)
    return bad(err, errlen, "tool_choice.function.name must be a string naming one of tools");
  if (!named(specs, *name)) return bad(err, errlen, "tool_choice.function.name: no tool named \"%s\" in tools", *name);
  *c = PIER_OAI_CHOICE_TOOL;
  return 0;
}

int pier_oai_json_schema(const cJSON *rf, cJSON **schema, const char **desc, char *err, size_t errlen) {
  *schema = NULL;
  *desc = "Return the final answer as this tool's input.";
  if (!rf) return 0;
  const char *type = pier_json_str(rf, "type");
  if (!cJSON_IsObject(rf) || !type) return bad(err, errlen, "response_format must be an object with a string \"type\"");
  if (!strcmp(type, "text")) return 0;
  if (!strcmp(type, "json_schema")) {
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (!cJSON_IsObject(s)) return bad(err, errlen, "response_format.json_schema.schema must be an object");
    if (pier_json_str(js, "description")) *desc = pier_json_str(js, "description");
    return (*schema = cJSON_Duplicate(s, true)) ? 0 : PIER_ENOMEM;
  }
  if (strcmp(type, "json_object"))
    return bad(err, errlen, "response_format.type must be text, json_object or json_schema; got \"%s\"", type);
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "type", "object") || !cJSON_AddBoolToObject(o, "additionalProperties", true) ||
      !cJSON_AddObjectToObject(o, "properties")) {
    cJSON_Delete(o);
    return PIER_ENOMEM;
  }
  *schema = o;
  return 0;
}
