/* json.h — cJSON with pier's guards: bounded depth, UTF-8 validated, typed getters.
 * cJSON itself is the parser; these helpers add the checks untrusted input needs. */
#ifndef PIER_BASE_JSON_H
#define PIER_BASE_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

/* Parse untrusted bytes. On failure returns NULL and writes a human sentence
 * (e.g. "invalid JSON at byte 12") into err (size errlen). Checks: valid UTF-8,
 * nesting <= depth_max, one value with only whitespace around it. Caller owns
 * the result (cJSON_Delete). */
cJSON *pier_json_parse(pier_slice s, int depth_max, char *err, size_t errlen);

/* Replace every byte that is not part of well-formed UTF-8 with '?', in
 * place (e.g. a message cut in the middle of a character by snprintf). */
void pier_utf8_sanitize(char *s);

/* true when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool pier_utf8_valid(pier_slice s);

/* Typed getters on an object; NULL/def when absent or of another type. */
const char *pier_json_str(const cJSON *obj, const char *key);
bool pier_json_bool(const cJSON *obj, const char *key, bool def);
double pier_json_num(const cJSON *obj, const char *key, double def);

/* Serialize compactly into a heap string (caller frees) — NULL on OOM. */
char *pier_json_print(const cJSON *v);
/* Append the compact serialization of v to b. */
int pier_json_append(pier_buf *b, const cJSON *v) PIER_WUR;

/* Insert item (ownership taken on success) at index `at` of arr. Debian 12's
 * cJSON 1.7.15 fails cJSON_InsertItemInArray for any index but 0 and the end,
 * so this appends and rotates the later items behind it (no allocation). */
bool pier_json_insert_at(cJSON *arr, int at, cJSON *item);

/* Type names for error messages: "a string", "an object", ... */
const char *pier_json_type_name(const cJSON *v);

#endif
