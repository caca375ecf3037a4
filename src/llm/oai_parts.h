/* oai_parts.h — reading OpenAI chat requests (content parts and tool calls of
 * messages, tool_choice, response_format), shared by the provider request
 * mappings (Converse, Gemini, Anthropic). Errors are written into err naming
 * the field, e.g. "messages[i].content[j]...: what is wrong". */
#ifndef PIER_LLM_OAI_PARTS_H
#define PIER_LLM_OAI_PARTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* An http:// or https:// URL (any case); with gs, gs:// too. */
bool pier_oai_is_remote(const char *url, bool gs);
/* Non-empty standard base64 text; with url_safe, '-' and '_' are allowed too. */
bool pier_oai_base64_ok(const char *s, bool url_safe);
/* The url node of an image_url part: {"image_url":{"url":..}} or {"image_url":".."}. */
cJSON *pier_oai_image_url(const cJSON *part);
/* A text part's text; NULL with err set when it is not a string. */
const char *pier_oai_part_text(int i, int j, const cJSON *part, char *err, size_t errlen);
/* A tool message's content (a string or text parts) joined into out;
 * PIER_EINVAL with err set when it holds anything else. */
int pier_oai_tool_text(int i, const cJSON *content, pier_buf *out, char *err, size_t errlen);

/* messages[i].tool_calls[j]: an object with a non-empty id and function.name,
 * and function.arguments a JSON string holding an object ("" or absent: {}),
 * parsed into *input (owned by the caller on success). */
int pier_oai_tool_call(int i, int j, const cJSON *call, const char **id, const char **name, cJSON **input, char *err,
                       size_t errlen);

/* tool_choice: "auto" | "required" | "none" | {"type":"function","function":{"name"}}. */
typedef enum pier_oai_choice {
  PIER_OAI_CHOICE_UNSET, PIER_OAI_CHOICE_AUTO, PIER_OAI_CHOICE_ANY, PIER_OAI_CHOICE_NONE, PIER_OAI_CHOICE_TOOL
} pier_oai_choice;
/* tc: the request's tool_choice (NULL when absent or null); specs: the tools as
 * the provider takes them; named(specs, name): a tool of that name exists. */
int pier_oai_tool_choice(const cJSON *tc, const cJSON *specs, bool (*named)(const cJSON *specs, const char *name),
                         pier_oai_choice *c, const char **name, char *err, size_t errlen);

/* response_format (NULL when absent or null): *schema stays NULL for none and
 * "text"; for json_object / json_schema it becomes the schema (owned) of the
 * tool that carries a JSON-mode answer, and *desc its description. */
int pier_oai_json_schema(const cJSON *rf, cJSON **schema, const char **desc, char *err, size_t errlen);

#endif
