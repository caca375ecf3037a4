/* oai_parts.h — reading the content parts of OpenAI chat messages, shared by
 * the provider request mappings (Converse, Gemini, Anthropic). Errors are
 * written into err as "messages[i].content[j]...: what is wrong". */
#ifndef PIER_LLM_OAI_PARTS_H
#define PIER_LLM_OAI_PARTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* An http:// or https:// URL (any case); with gs, gs:// too. */
bool pier_oai_is_remote(const char *url, bool gs);
/* Non-empty standard base64 text; with url_safe, '-' and '_' are allowed too.
 */
bool pier_oai_base64_ok(const char *s, bool url_safe);
/* The url node of an image_url part: {"image_url":{"url":..}} or
 * {"image_url":".."}. */
cJSON *pier_oai_image_url(const cJSON *part);
/* A text part's text; NULL with err set when it is not a string. */
const char *pier_oai_part_text(int i, int j, const cJSON *part, char *err,
                               size_t errlen);
/* A tool message's content (a string or text parts) joined into out;
 * PIER_EINVAL with err set when it holds anything else. */
int pier_oai_tool_text(int i, const cJSON *content, pier_buf *out, char *err,
                       size_t errlen);

#endif
