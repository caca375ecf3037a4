/* converse.c — OpenAI chat request -> Converse body (messages, system, images).
 * Invariants of the output: roles alternate starting with user, no empty text
 * block, tool results lead their user turn, toolConfig whenever the history has
 * tool blocks. Tools, inference and model fields are in converse_params.c. */
#include "llm/converse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/converse_int.h"
#include "llm/oai_parts.h"

#define PLACEHOLDER_TEXT ". " /* stands in for a missing user turn or empty tool result */

int pier_converse_bad(pier_converse_build_st *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->err, b->errlen, fmt, ap);
  va_end(ap);
  return PIER_EINVAL;
}

static bool is_null(const cJSON *v) { return !v || cJSON_IsNull(v); }

static bool has_key(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k) != NULL; }

/* {"<key>": <value>} — takes ownership of value; NULL on OOM (value freed). */
static cJSON *wrap(const char *key, cJSON *value) {
  cJSON *o = value ? cJSON_CreateObject() : NULL;
  if (!o || !cJSON_AddItemToObject(o, key, value)) {
    cJSON_Delete(o);
    cJSON_Delete(value);
    return NULL;
  }
  return o;
}

static cJSON *text_block(const char *text) { return wrap("text", cJSON_CreateString(text)); }

static bool is_tool_result(const cJSON *block) { return has_key(block, "toolResult"); }
static cJSON *placeholder(void) { return text_block(PLACEHOLDER_TEXT); }

/* Converse writes each turn {"content":[...],"role":...}. */
static const pier_turns_shape TURNS = {.items_key = "content", .assistant_role = "assistant", .items_first = true,
                                       .is_result = is_tool_result, .placeholder = placeholder};

enum dest { TO_SYSTEM, TO_USER, TO_ASSISTANT };

static int emit(pier_converse_build_st *b, enum dest d, cJSON *block) {
  if (d != TO_SYSTEM) return pier_turns_add(&b->turns, d == TO_USER, block);
  if (!block) return PIER_ENOMEM;
  if (!b->system && (!(b->system = cJSON_AddArrayToObject(b->body, "system")))) {
    cJSON_Delete(block);
    return PIER_ENOMEM;
  }
  if (cJSON_AddItemToArray(b->system, block)) return 0;
  cJSON_Delete(block);
  return PIER_ENOMEM;
}

/* ---- images -------------------------------------------------------------- */

/* Converse image format for a mime type ("" = unspecified -> jpeg); NULL if unsupported. */
static const char *image_format(pier_slice mime) {
  static const char *const map[][2] = {{"", "jpeg"},          {"image/png", "png"},   {"image/jpeg", "jpeg"},
                                       {"image/jpg", "jpeg"}, {"image/gif", "gif"},   {"image/webp", "webp"}};
  mime = pier_slice_trim(mime);
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (pier_slice_ieq_cstr(mime, map[i][0])) return map[i][1];
  return NULL;
}

/* data:image/png;base64,XXXX -> {"image":{"format":"png","source":{"bytes":"XXXX"}}}.
 * The bytes are referenced, not copied: openai_req outlives the body tree. */
static int image_block(pier_converse_build_st *b, int i, int j, const cJSON *part) {
  const cJSON *u = pier_oai_image_url(part);
  char path[80];
  snprintf(path, sizeof path, "messages[%d].content[%d].image_url.url", i, j);
  if (!cJSON_IsString(u) || !u->valuestring[0])
    return pier_converse_bad(b, "%s must be a non-empty string, got %s", path,
                             cJSON_IsString(u) ? "an empty string" : pier_json_type_name(u));
  const char *url = u->valuestring;
  if (pier_oai_is_remote(url, false)) {
    snprintf(b->err, b->errlen, "%s: remote image URL was not fetched before the Bedrock call", path);
    return PIER_EAGAIN;
  }
  const char *comma = strchr(url, ',');
  pier_slice s = pier_slice_from(url);
  if (!pier_slice_istarts_with(s, "data:") || !comma)
    return pier_converse_bad(b, "%s must be an http(s) URL or a data URL like data:image/png;base64,...", path);
  pier_slice meta = pier_slice_make(url + 5, (size_t)(comma - url - 5));
  if (meta.len < 7 || !pier_slice_ieq_cstr(pier_slice_make(meta.ptr + meta.len - 7, 7), ";base64"))
    return pier_converse_bad(b, "%s: only base64 data URLs are supported (data:image/png;base64,...)", path);
  meta.len -= 7;
  long semi = pier_slice_find(meta, ';');
  if (semi >= 0) meta.len = (size_t)semi;
  const char *format = image_format(meta);
  if (!format)
    return pier_converse_bad(b, "%s: image type \"%.*s\" is not supported; Bedrock takes png, jpeg, gif or webp",
                             path, (int)meta.len, meta.ptr);
  if (!pier_oai_base64_ok(comma + 1, false))
    return pier_converse_bad(b, "%s: the data after the comma is not valid base64", path);
  cJSON *img = cJSON_CreateObject();
  cJSON *src = wrap("bytes", cJSON_CreateStringReference(comma + 1));
  if (!img || !cJSON_AddStringToObject(img, "format", format) || !src || !cJSON_AddItemToObject(img, "source", src)) {
    cJSON_Delete(img);
    cJSON_Delete(src);
    return PIER_ENOMEM;
  }
  return pier_turns_add(&b->turns, true, wrap("image", img));
}

size_t pier_converse_remote_images(cJSON *openai_req, cJSON **nodes, size_t nodes_max) {
  size_t n = 0;
  cJSON *msgs = cJSON_GetObjectItemCaseSensitive(openai_req, "messages"), *m, *part;
  cJSON_ArrayForEach(m, (cJSON_IsArray(msgs) ? msgs : NULL)) {
    cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    cJSON_ArrayForEach(part, (cJSON_IsArray(content) ? content : NULL)) {
      cJSON *u = pier_oai_image_url(part);
      if (!cJSON_IsString(u) || !pier_oai_is_remote(u->valuestring, false)) continue;
      if (n < nodes_max) nodes[n] = u;
      n++;
    }
  }
  return n;
}

static const char *sniff_image(pier_slice b) {
  const unsigned char *p = (const unsigned char *)b.ptr;
  if (b.len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
  if (b.len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "image/jpeg";
  if (b.len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "image/gif";
  if (b.len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "image/webp";
  return NULL;
}

int pier_converse_image_set_data(cJSON *url_node, pier_slice content_type, pier_slice bytes) {
  if (!cJSON_IsString(url_node) || bytes.len == 0) return PIER_EINVAL;
  if (bytes.len > PIER_CONVERSE_IMAGE_BYTES_MAX) return PIER_ETOOBIG;
  const char *mime = sniff_image(bytes);
  if (!mime) {
    long semi = pier_slice_find(content_type, ';');
    if (semi >= 0) content_type.len = (size_t)semi;
    const char *f = content_type.len ? image_format(content_type) : NULL;
    if (!f) return PIER_EINVAL;
    mime = strcmp(f, "jpeg") == 0 ? "image/jpeg" : strcmp(f, "png") == 0 ? "image/png"
         : strcmp(f, "gif") == 0 ? "image/gif" : "image/webp";
  }
  size_t head = strlen("data:;base64,") + strlen(mime);
  size_t b64 = sodium_base64_ENCODED_LEN(bytes.len, sodium_base64_VARIANT_ORIGINAL);
  char *s = malloc(head + b64);
  if (!s) return PIER_ENOMEM;
  snprintf(s, head + 1, "data:%s;base64,", mime);
  sodium_bin2base64(s + head, b64, (const unsigned char *)bytes.ptr, bytes.len, sodium_base64_VARIANT_ORIGINAL);
  int rc = cJSON_SetValuestring(url_node, s) ? 0 : PIER_ENOMEM;
  free(s);
  return rc;
}

/* ---- content ------------------------------------------------------------- */

static int add_part(pier_converse_build_st *b, enum dest d, int i, int j, const cJSON *part) {
  const char *type = pier_json_str(part, "type");
  int rc = 0;
  if (!cJSON_IsObject(part) || !type)
    return pier_converse_bad(b, "messages[%d].content[%d] must be an object with a string \"type\"", i, j);
  if (strcmp(type, "text") == 0) {
    const char *text = pier_oai_part_text(i, j, part, b->err, b->errlen);
    if (!text) return PIER_EINVAL;
    if (text[0]) rc = emit(b, d, text_block(text));
  } else if (strcmp(type, "image_url") == 0) {
    if (d != TO_USER)
      return pier_converse_bad(b, "messages[%d].content[%d]: image parts are only allowed in user messages", i, j);
    rc = image_block(b, i, j, part);
  } else {
    return pier_converse_bad(b,
                             "messages[%d].content[%d].type: part type \"%s\" is not supported for Bedrock "
                             "(use text or image_url)",
                             i, j, type);
  }
  if (!rc && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(part, "cache_control")))
    rc = emit(b, d, wrap("cachePoint", wrap("type", cJSON_CreateString("default"))));
  return rc;
}

/* messages[i].content: a string or an array of parts; null only if allowed. */
static int add_content(pier_converse_build_st *b, enum dest d, int i, const cJSON *content, bool null_ok) {
  if (is_null(content) && null_ok) return 0;
  if (cJSON_IsString(content)) return content->valuestring[0] ? emit(b, d, text_block(content->valuestring)) : 0;
  if (!cJSON_IsArray(content))
    return pier_converse_bad(b, "messages[%d].content must be a string or an array of content parts, got %s", i,
                             pier_json_type_name(content));
  int j = 0, rc;
  for (const cJSON *part = content->child; part; part = part->next, j++)
    if ((rc = add_part(b, d, i, j, part))) return rc;
  return 0;
}

/* ---- tool turns ---------------------------------------------------------- */

static int add_tool_result(pier_converse_build_st *b, int i, const cJSON *m) {
  const char *id = pier_json_str(m, "tool_call_id");
  if (!id || !id[0])
    return pier_converse_bad(b, "messages[%d].tool_call_id is required: the id of the assistant tool call this "
                                "tool message answers", i);
  pier_buf text;
  pier_buf_init(&text, 0);
  int rc = pier_oai_tool_text(i, cJSON_GetObjectItemCaseSensitive(m, "content"), &text, b->err, b->errlen);
  cJSON *res = NULL, *content = NULL;
  if (rc) goto out;
  rc = PIER_ENOMEM;
  if (!(res = cJSON_CreateObject()) || !cJSON_AddStringToObject(res, "toolUseId", id) ||
      !(content = cJSON_AddArrayToObject(res, "content")) ||
      !cJSON_AddItemToArray(content, text_block(text.len ? text.ptr : PLACEHOLDER_TEXT)))
    goto out;
  b->history_tools = true;
  rc = pier_turns_add(&b->turns, true, wrap("toolResult", res));
  res = NULL;
out:
  cJSON_Delete(res);
  pier_buf_dispose(&text);
  return rc;
}

static int note_tool_name(pier_converse_build_st *b, const char *name) {
  const cJSON *n;
  cJSON_ArrayForEach(n, b->used_tools) if (strcmp(n->valuestring, name) == 0) return 0;
  return cJSON_AddItemToArray(b->used_tools, cJSON_CreateString(name)) ? 0 : PIER_ENOMEM;
}

/* tool_calls[j] -> {"toolUse":{"toolUseId","name","input"}}; arguments must parse to an object. */
static int add_tool_use(pier_converse_build_st *b, int i, int j, const cJSON *call) {
  const char *id, *name;
  cJSON *input;
  int rc = pier_oai_tool_call(i, j, call, &id, &name, &input, b->err, b->errlen);
  if (rc) return rc;
  cJSON *use = cJSON_CreateObject();
  if (!use || !cJSON_AddItemToObject(use, "input", input)) {
    cJSON_Delete(use);
    cJSON_Delete(input);
    return PIER_ENOMEM;
  }
  rc = PIER_ENOMEM;
  if (!cJSON_AddStringToObject(use, "toolUseId", id) || !cJSON_AddStringToObject(use, "name", name) ||
      (rc = note_tool_name(b, name))) {
    cJSON_Delete(use);
    return rc;
  }
  b->history_tools = true;
  return pier_turns_add(&b->turns, false, wrap("toolUse", use));
}

/* thinking_blocks (as returned by LiteLLM) -> reasoningContent, so a signed
 * thinking turn can be replayed to Anthropic models. */
static int add_thinking(pier_converse_build_st *b, const cJSON *blocks) {
  const cJSON *t;
  cJSON_ArrayForEach(t, (cJSON_IsArray(blocks) ? blocks : NULL)) {
    const char *type = pier_json_str(t, "type"), *text = pier_json_str(t, "thinking");
    const char *sig = pier_json_str(t, "signature"), *data = pier_json_str(t, "data");
    cJSON *rc_block = NULL;
    if (type && strcmp(type, "thinking") == 0 && text) {
      cJSON *rt = cJSON_CreateObject();
      if (rt && (!cJSON_AddStringToObject(rt, "text", text) || (sig && !cJSON_AddStringToObject(rt, "signature", sig))))
        cJSON_Delete(rt), rt = NULL;
      rc_block = wrap("reasoningText", rt);
    } else if (type && strcmp(type, "redacted_thinking") == 0 && data) {
      rc_block = wrap("redactedContent", cJSON_CreateString(data));
    } else {
      continue;
    }
    int rc = pier_turns_add(&b->turns, false, wrap("reasoningContent", rc_block));
    if (rc) return rc;
  }
  return 0;
}

static int add_assistant(pier_converse_build_st *b, int i, const cJSON *m) {
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *call;
  int rc;
  if (!is_null(calls) && !cJSON_IsArray(calls))
    return pier_converse_bad(b, "messages[%d].tool_calls must be an array, got %s", i, pier_json_type_name(calls));
  if ((rc = add_thinking(b, cJSON_GetObjectItemCaseSensitive(m, "thinking_blocks"))) ||
      (rc = add_content(b, TO_ASSISTANT, i, cJSON_GetObjectItemCaseSensitive(m, "content"), true)))
    return rc;
  int j = 0;
  cJSON_ArrayForEach(call, (cJSON_IsArray(calls) ? calls : NULL)) {
    if ((rc = add_tool_use(b, i, j++, call))) return rc;
  }
  return 0;
}

static int add_message(pier_converse_build_st *b, int i, const cJSON *m) {
  if (!cJSON_IsObject(m))
    return pier_converse_bad(b, "messages[%d] must be an object, got %s", i, pier_json_type_name(m));
  const char *role = pier_json_str(m, "role");
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
  if (!role) return pier_converse_bad(b, "messages[%d].role must be a string", i);
  if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
    return add_content(b, TO_SYSTEM, i, content, false);
  if (strcmp(role, "user") == 0) return add_content(b, TO_USER, i, content, false);
  if (strcmp(role, "assistant") == 0) return add_assistant(b, i, m);
  if (strcmp(role, "tool") == 0) return add_tool_result(b, i, m);
  return pier_converse_bad(b, "messages[%d].role: unknown role \"%s\" (expected system, user, assistant or tool)",
                           i, role);
}

static int add_messages(pier_converse_build_st *b) {
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(b->req, "messages"), *m;
  if (!cJSON_IsArray(msgs) || !msgs->child)
    return pier_converse_bad(b, "messages must be a non-empty array of chat messages");
  if (!(b->messages = cJSON_AddArrayToObject(b->body, "messages"))) return PIER_ENOMEM;
  b->turns = (pier_turns){.shape = &TURNS, .list = b->messages};
  int i = 0, rc;
  cJSON_ArrayForEach(m, msgs) if ((rc = add_message(b, i++, m))) return rc;
  if (!b->messages->child)
    return pier_converse_bad(b, "messages: no user or assistant message has any content; Bedrock needs at least one");
  return 0;
}

int pier_converse_build(const cJSON *openai_req, const char *model_id, pier_buf *body_out,
                        pier_converse_info *info, char *err, size_t errlen) {
  pier_converse_build_st b = {.req = openai_req, .model_id = model_id ? model_id : "", .info = info,
                              .err = err, .errlen = errlen};
  int rc = PIER_ENOMEM;
  memset(info, 0, sizeof *info);
  if (errlen) err[0] = '\0';
  if (!cJSON_IsObject(openai_req)) return pier_converse_bad(&b, "the request body must be a JSON object");
  if (!(b.body = cJSON_CreateObject()) || !(b.used_tools = cJSON_CreateArray())) goto out;
  if ((rc = add_messages(&b)) || (rc = pier_converse_add_params(&b))) goto out;
  rc = pier_json_append(body_out, b.body);
out:
  cJSON_Delete(b.body);
  cJSON_Delete(b.used_tools);
  if (rc == PIER_ENOMEM || rc == PIER_ETOOBIG)
    snprintf(err, errlen, "%s while building the Bedrock request", pier_strerror(rc));
  return rc;
}
