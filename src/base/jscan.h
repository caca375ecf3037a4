/* jscan.h — allocation-free scanning of JSON text: find a value's byte span by
 * path, iterate an object's members, unescape a string. For hot paths (relaying
 * a provider's stream chunk by chunk) where building a cJSON tree per chunk
 * would be an allocation storm. Input is untrusted: every function is bounded
 * and fails cleanly on malformed text. */
#ifndef PIER_BASE_JSCAN_H
#define PIER_BASE_JSCAN_H

#include <stdbool.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

/* Span of the value at `path` ("choices.0.delta.content": object keys and
 * array indexes separated by dots). The span is the raw JSON text of the value
 * (a string keeps its quotes). PIER_ENOTFOUND when absent, PIER_EPROTO when the
 * text is malformed on the way. */
int pier_jscan_find(pier_slice json, const char *path, pier_slice *out) PIER_WUR;

/* Call cb for each member of the object `obj` (raw text): key is the raw
 * string token (with quotes), value the raw value text. Non-zero from cb stops
 * and is returned. PIER_EPROTO on malformed text. */
typedef int (*pier_jscan_member_cb)(void *arg, pier_slice key, pier_slice value);
int pier_jscan_members(pier_slice obj, pier_jscan_member_cb cb, void *arg) PIER_WUR;

/* One pass over the object `obj`: out[i] becomes the raw value of the member
 * named keys[i] (the first one, if repeated), or {NULL, 0} when absent. On
 * malformed text every out[i] is {NULL, 0} and PIER_EPROTO is returned. Cheaper
 * than n pier_jscan_find calls, each of which walks the object again. */
int pier_jscan_pick(pier_slice obj, const char *const *keys, size_t n, pier_slice *out) PIER_WUR;

/* Append the decoded value of a JSON string token (with quotes) to out;
 * PIER_EPROTO if it is not a valid string token. */
int pier_jscan_unescape(pier_slice token, pier_buf *out) PIER_WUR;

/* true when the token is the string literal `s` (no escapes inside). */
bool pier_jscan_is(pier_slice token, const char *s);

/* Parse a JSON number token as int64 (integral values only). */
int pier_jscan_int(pier_slice token, long long *out) PIER_WUR;

#endif
