/* oai_parts.c — see oai_parts.h. */
#include "llm/oai_parts.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/json.h"
#include "base/slice.h"

bool pier_oai_is_remote(const char *url, bool gs) {
  pier_slice s = pier_slice_from(url);
  return pier_slice_istarts_with(s, "http://") ||
         pier_slice_istarts_with(s, "https://") ||
         (gs && pier_slice_istarts_with(s, "gs://"));
}

bool pier_oai_base64_ok(const char *s, bool url_safe) {
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=' ||
              (url_safe && (c == '-' || c == '_'));
    if (!ok)
      return false;
  }
  return n > 0;
}

cJSON *pier_oai_image_url(const cJSON *part) {
  cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
  return cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
}

const char *pier_oai_part_text(int i, int j, const cJSON *part, char *err,
                               size_t errlen) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
  if (cJSON_IsString(t))
    return t->valuestring;
  snprintf(err, errlen,
           "messages[%d].content[%d].text must be a string, got %s", i, j,
           pier_json_type_name(t));
  return NULL;
}

int pier_oai_tool_text(int i, const cJSON *content, pier_buf *out, char *err,
                       size_t errlen) {
  if (cJSON_IsString(content))
    return pier_buf_append_cstr(out, content->valuestring);
  if (!content || cJSON_IsNull(content))
    return 0;
  if (!cJSON_IsArray(content)) {
    snprintf(err, errlen,
             "messages[%d].content must be a string or an array of text parts, "
             "got %s",
             i, pier_json_type_name(content));
    return PIER_EINVAL;
  }
  int j = 0, rc;
  for (const cJSON *part = content->child; part; part = part->next, j++) {
    const char *type = pier_json_str(part, "type");
    if (!type || strcmp(type, "text")) {
      snprintf(err, errlen,
               "messages[%d].content[%d]: a tool message takes only text parts",
               i, j);
      return PIER_EINVAL;
    }
    const char *text = pier_oai_part_text(i, j, part, err, errlen);
    if (!text)
      return PIER_EINVAL;
    if ((rc = pier_buf_append_cstr(out, text)))
      return rc;
  }
  return 0;
}
