/* json.c — guarded cJSON parsing. The depth pre-scan runs before cJSON so a
 * hostile document of nested brackets never recurses deeply. */
#include "base/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pier_utf8_valid(pier_slice s) {
  const unsigned char *p = (const unsigned char *)s.ptr;
  size_t i = 0, n = s.len;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) { i++; continue; }
    size_t need;
    unsigned min, cp;
    if ((c & 0xE0) == 0xC0) need = 1, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) need = 2, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) need = 3, min = 0x10000, cp = c & 0x07;
    else return false;
    if (n - i - 1 < need) return false;
    for (size_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += need + 1;
  }
  return true;
}

/* Max bracket depth outside strings (stops counting once over the cap); sets
 * *nul when a string holds \u0000, which C strings would silently cut. */
static int depth_of(pier_slice s, int cap, bool *nul) {
  int depth = 0, maxd = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.len; i++) {
    char c = s.ptr[i];
    if (in_str) {
      if (c == '\\') {
        if (i + 5 < s.len && s.ptr[i + 1] == 'u' && memcmp(s.ptr + i + 2, "0000", 4) == 0) *nul = true;
        i++;
      } else if (c == '"') {
        in_str = false;
      }
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') {
      if (++depth > maxd) maxd = depth;
      if (maxd > cap) return maxd;
    } else if (c == '}' || c == ']') depth--;
  }
  return maxd;
}

cJSON *pier_json_parse(pier_slice s, int depth_max, char *err, size_t errlen) {
  if (s.len == 0) {
    snprintf(err, errlen, "the body is empty; send a JSON document");
    return NULL;
  }
  if (!pier_utf8_valid(s)) {
    snprintf(err, errlen, "the body is not valid UTF-8");
    return NULL;
  }
  bool nul = false;
  if (depth_of(s, depth_max, &nul) > depth_max) {
    snprintf(err, errlen, "JSON nesting deeper than %d levels", depth_max);
    return NULL;
  }
  if (nul || memchr(s.ptr, '\0', s.len)) {
    snprintf(err, errlen, "JSON strings must not contain the NUL character (\\u0000)");
    return NULL;
  }
  const char *end = NULL;
  cJSON *v = cJSON_ParseWithLengthOpts(s.ptr, s.len, &end, false);
  if (!v) {
    size_t at = end && end >= s.ptr ? (size_t)(end - s.ptr) : 0;
    snprintf(err, errlen, "invalid JSON at byte %zu", at);
    return NULL;
  }
  size_t at = (size_t)(end - s.ptr);
  while (at < s.len && (s.ptr[at] == ' ' || s.ptr[at] == '\n' || s.ptr[at] == '\r' || s.ptr[at] == '\t' ||
                        s.ptr[at] == '\0'))
    at++;
  if (at != s.len) {
    cJSON_Delete(v);
    snprintf(err, errlen, "invalid JSON: unexpected data after the value at byte %zu", at);
    return NULL;
  }
  return v;
}

const char *pier_json_str(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool pier_json_bool(const cJSON *obj, const char *key, bool def) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

double pier_json_num(const cJSON *obj, const char *key, double def) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? v->valuedouble : def;
}

char *pier_json_print(const cJSON *v) { return cJSON_PrintUnformatted(v); }

int pier_json_append(pier_buf *b, const cJSON *v) {
  char *s = cJSON_PrintUnformatted(v);
  if (!s) return PIER_ENOMEM;
  int rc = pier_buf_append_cstr(b, s);
  cJSON_free(s);
  return rc;
}

const char *pier_json_type_name(const cJSON *v) {
  if (!v) return "missing";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "invalid";
}

bool pier_json_insert_at(cJSON *arr, int at, cJSON *item) {
  int n = cJSON_GetArraySize(arr);
  if (!cJSON_AddItemToArray(arr, item)) return false;
  for (int k = at; k < n; k++) cJSON_AddItemToArray(arr, cJSON_DetachItemFromArray(arr, at));
  return true;
}

void pier_utf8_sanitize(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p) {
    size_t n = 0;
    while (p[n] && p[n] < 0x80) n++;
    p += n;
    if (!*p) break;
    size_t len = (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 1;
    size_t have = 0;
    while (have < len && p[have]) have++;
    if (len == 1 || have < len || !pier_utf8_valid(pier_slice_make((const char *)p, len))) {
      *p++ = '?';
      continue;
    }
    p += len;
  }
}
