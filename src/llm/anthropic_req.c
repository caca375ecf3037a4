/* anthropic_req.c — OpenAI chat messages -> Anthropic `messages` and `system`.
 * Invariants of the output: roles alternate starting with user, no empty text
 * block, tool_result blocks lead their user turn, and a turn that is a single
 * plain text block is written as a string. Parameters are in anthropic_params.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/anthropic_int.h"
#include "llm/oai_parts.h"

#define PLACEHOLDER_TEXT "." /* stands in for a missing leading user turn */

int pier_anthropic_bad(pier_anthropic_build_st *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->err, b->errlen, fmt, ap);
  va_end(ap);
  return PIER_EINVAL;
}

const cJSON *pier_anthropic_opt(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNull(v) ? NULL : v;
}

static bool is_type(const cJSON *block, const char *type) {
  const char *t = pier_json_str(block, "type");
  return t && strcmp(t, type) == 0;
}

/* {"type":<type>} or NULL on OOM. */
static cJSON *typed(const char *type) {
  cJSON *o = cJSON_CreateObject();
  if (o && !cJSON_AddStringToObject(o, "type", type)) cJSON_Delete(o), o = NULL;
  return o;
}

static cJSON *text_block(const char *text) {
  cJSON *o = typed("text");
  if (o && !cJSON_AddStringToObject(o, "text", text)) cJSON_Delete(o), o = NULL;
  return o;
}

/* Copy part.cache_control (when an object) onto block. Frees block on OOM. */
static cJSON *with_cache(cJSON *block, const cJSON *part) {
  const cJSON *cc = cJSON_GetObjectItemCaseSensitive(part, "cache_control");
  if (!block || !cJSON_IsObject(cc)) return block;
  cJSON *dup = cJSON_Duplicate(cc, true);
  if (dup && cJSON_AddItemToObject(block, "cache_control", dup)) return block;
  cJSON_Delete(dup);
  cJSON_Delete(block);
  return NULL;
}

/* ---- turns ---------------------------------------------------------------- */

static bool is_tool_result(const cJSON *block) { return is_type(block, "tool_result"); }
static cJSON *placeholder(void) { return text_block(PLACEHOLDER_TEXT); }

static const pier_turns_shape TURNS = {.items_key = "content", .assistant_role = "assistant",
                                       .is_result = is_tool_result, .placeholder = placeholder};

enum dest { TO_SYSTEM, TO_USER, TO_ASSISTANT, TO_TOOL };

static int emit(pier_anthropic_build_st *b, enum dest d, cJSON *block) {
  if (d != TO_SYSTEM) return pier_turns_add(&b->turns, d == TO_USER, block);
  if (!block) return PIER_ENOMEM;
  if (!b->system && !(b->system = cJSON_CreateArray())) {
    cJSON_Delete(block);
    return PIER_ENOMEM;
  }
  if (cJSON_AddItemToArray(b->system, block)) return 0;
  cJSON_Delete(block);
  return PIER_ENOMEM;
}

/* ---- images and documents --------------------------------------------------- */

/* data:<mime>[;param]*;base64,<data> -> mime (params cut) and the data. */
static const char *data_url_split(const char *url, pier_slice *mime) {
  const char *comma = strchr(url, ',');
  if (!pier_slice_istarts_with(pier_slice_from(url), "data:") || !comma) return NULL;
  pier_slice meta = pier_slice_make(url + 5, (size_t)(comma - url - 5));
  if (meta.len < 7 || !pier_slice_ieq_cstr(pier_slice_make(meta.ptr + meta.len - 7, 7), ";base64")) return NULL;
  meta.len -= 7;
  long semi = pier_slice_find(meta, ';');
  if (semi >= 0) meta.len = (size_t)semi;
  *mime = pier_slice_trim(meta);
  return comma + 1;
}

/* Anthropic media_type for an image mime ("" = sniff the base64); NULL if unsupported. */
static const char *image_media_type(pier_slice mime, const char *data) {
  static const char *const map[][2] = {{"image/png", "image/png"}, {"image/jpeg", "image/jpeg"},
                                       {"image/jpg", "image/jpeg"}, {"image/gif", "image/gif"},
                                       {"image/webp", "image/webp"}};
  static const char *const sniff[][2] = {{"iVBORw0KGgo", "image/png"}, {"/9j/", "image/jpeg"},
                                         {"R0lGOD", "image/gif"}, {"UklGR", "image/webp"}};
  for (size_t i = 0; mime.len && i < sizeof map / sizeof map[0]; i++)
    if (pier_slice_ieq_cstr(mime, map[i][0])) return map[i][1];
  for (size_t i = 0; !mime.len && i < sizeof sniff / sizeof sniff[0]; i++)
    if (strncmp(data, sniff[i][0], strlen(sniff[i][0])) == 0) return sniff[i][1];
  return NULL;
}

/* {"type":<type>,"source":{"type":"base64","media_type":..,"data":..}}; the
 * data is referenced, not copied: the request outlives the body tree. */
static cJSON *base64_block(const char *type, const char *media_type, const char *data) {
  cJSON *blk = typed(type), *src = typed("base64");
  if (!blk || !src || !cJSON_AddStringToObject(src, "media_type", media_type) ||
      !cJSON_AddItemToObject(src, "data", cJSON_CreateStringReference(data)) ||
      !cJSON_AddItemToObject(blk, "source", src)) {
    cJSON_Delete(blk);
    cJSON_Delete(src);
    return NULL;
  }
  return blk;
}

static int image_block(pier_anthropic_build_st *b, const char *path, const cJSON *part, cJSON **out) {
  const cJSON *u = pier_oai_image_url(part);
  if (!cJSON_IsString(u) || !u->valuestring[0])
    return pier_anthropic_bad(b, "%s.image_url.url must be a non-empty string, got %s", path,
                              cJSON_IsString(u) ? "an empty string" : pier_json_type_name(u));
  const char *url = u->valuestring;
  if (pier_oai_is_remote(url, false)) {
    if (b->bedrock) {
      snprintf(b->err, b->errlen, "%s.image_url.url: remote image URL was not fetched before the Bedrock call", path);
      return PIER_EAGAIN;
    }
    cJSON *src = typed("url");
    if (!src || !cJSON_AddStringToObject(src, "url", url) || !(*out = typed("image")) ||
        !cJSON_AddItemToObject(*out, "source", src)) {
      cJSON_Delete(src);
      return PIER_ENOMEM;
    }
    return 0;
  }
  pier_slice mime;
  const char *data = data_url_split(url, &mime);
  if (!data)
    return pier_anthropic_bad(b, "%s.image_url.url must be an http(s) URL or a base64 data URL like "
                                 "data:image/png;base64,...", path);
  if (!pier_oai_base64_ok(data, false))
    return pier_anthropic_bad(b, "%s.image_url.url: the data after the comma is not valid base64", path);
  const char *media = image_media_type(mime, data);
  if (!media)
    return pier_anthropic_bad(b, "%s.image_url.url: image type \"%.*s\" is not supported; Anthropic takes png, jpeg, "
                                 "gif or webp", path, (int)mime.len, mime.ptr);
  return (*out = base64_block("image", media, data)) ? 0 : PIER_ENOMEM;
}

/* {"type":"file","file":{"file_data":"data:application/pdf;base64,..."}} -> a document block. */
static int file_block(pier_anthropic_build_st *b, const char *path, const cJSON *part, cJSON **out) {
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(part, "file");
  const char *fd = pier_json_str(file, "file_data");
  if (!fd)
    return pier_anthropic_bad(b, "%s.file.file_data must be a data URL (data:application/pdf;base64,...); file_id "
                                 "references are not supported for Anthropic", path);
  pier_slice mime;
  const char *data = data_url_split(fd, &mime);
  if (!data || !pier_oai_base64_ok(data, false))
    return pier_anthropic_bad(b, "%s.file.file_data must be a base64 data URL", path);
  if (!pier_slice_ieq_cstr(mime, "application/pdf"))
    return pier_anthropic_bad(b, "%s.file.file_data: only PDF documents are supported, got \"%.*s\"", path,
                              (int)mime.len, mime.ptr);
  return (*out = base64_block("document", "application/pdf", data)) ? 0 : PIER_ENOMEM;
}

/* ---- content parts ---------------------------------------------------------- */

/* One OpenAI content part -> one Anthropic block in *out (NULL = nothing, for
 * an empty text). Images and files only where d allows them. */
static int part_block(pier_anthropic_build_st *b, enum dest d, const char *path, const cJSON *part, cJSON **out) {
  const char *type = pier_json_str(part, "type");
  int rc = 0;
  *out = NULL;
  if (!cJSON_IsObject(part) || !type) return pier_anthropic_bad(b, "%s must be an object with a string \"type\"", path);
  if (strcmp(type, "text") == 0) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
    if (!cJSON_IsString(t))
      return pier_anthropic_bad(b, "%s.text must be a string, got %s", path, pier_json_type_name(t));
    if (!t->valuestring[0]) return 0; /* Anthropic rejects empty text blocks */
    if (!(*out = text_block(t->valuestring))) return PIER_ENOMEM;
  } else if (strcmp(type, "image_url") == 0 || strcmp(type, "file") == 0) {
    if (d != TO_USER && d != TO_TOOL)
      return pier_anthropic_bad(b, "%s: %s parts are only allowed in user and tool messages", path, type);
    rc = type[0] == 'i' ? image_block(b, path, part, out) : file_block(b, path, part, out);
    if (rc) return rc;
  } else {
    return pier_anthropic_bad(b, "%s.type: part type \"%s\" is not supported for Anthropic (use text, image_url or "
                                 "file)", path, type);
  }
  return (*out = with_cache(*out, part)) ? 0 : PIER_ENOMEM;
}

/* messages[i].content: a string or an array of parts; null only if allowed. */
static int add_content(pier_anthropic_build_st *b, enum dest d, int i, const cJSON *content, bool null_ok) {
  if (!content || cJSON_IsNull(content)) {
    if (null_ok) return 0;
    return pier_anthropic_bad(b, "messages[%d].content is required", i);
  }
  if (cJSON_IsString(content)) return content->valuestring[0] ? emit(b, d, text_block(content->valuestring)) : 0;
  if (!cJSON_IsArray(content))
    return pier_anthropic_bad(b, "messages[%d].content must be a string or an array of content parts, got %s", i,
                              pier_json_type_name(content));
  int j = 0, rc;
  for (const cJSON *part = content->child; part; part = part->next, j++) {
    char path[64];
    cJSON *blk;
    snprintf(path, sizeof path, "messages[%d].content[%d]", i, j);
    if ((rc = part_block(b, d, path, part, &blk))) return rc;
    if (blk && (rc = emit(b, d, blk))) return rc;
  }
  return 0;
}

/* ---- tool turns --------------------------------------------------------------- */

/* A tool message's content -> tool_result.content: a string stays a string,
 * parts become blocks (text, image, document); nothing when empty. */
static int tool_content(pier_anthropic_build_st *b, int i, const cJSON *content, cJSON *res) {
  if (!content || cJSON_IsNull(content)) return 0;
  if (cJSON_IsString(content))
    return !content->valuestring[0] || cJSON_AddStringToObject(res, "content", content->valuestring) ? 0 : PIER_ENOMEM;
  if (!cJSON_IsArray(content))
    return pier_anthropic_bad(b, "messages[%d].content must be a string or an array of content parts, got %s", i,
                              pier_json_type_name(content));
  cJSON *blocks = cJSON_AddArrayToObject(res, "content");
  if (!blocks) return PIER_ENOMEM;
  int j = 0, rc;
  for (const cJSON *part = content->child; part; part = part->next, j++) {
    char path[64];
    cJSON *blk;
    snprintf(path, sizeof path, "messages[%d].content[%d]", i, j);
    if ((rc = part_block(b, TO_TOOL, path, part, &blk))) return rc;
    if (blk && !cJSON_AddItemToArray(blocks, blk)) {
      cJSON_Delete(blk);
      return PIER_ENOMEM;
    }
  }
  if (!blocks->child) cJSON_DeleteItemFromObjectCaseSensitive(res, "content");
  return 0;
}

static int add_tool_result(pier_anthropic_build_st *b, int i, const cJSON *m) {
  const char *id = pier_json_str(m, "tool_call_id");
  if (!id || !id[0])
    return pier_anthropic_bad(b, "messages[%d].tool_call_id is required: the id of the assistant tool call this "
                                 "tool message answers", i);
  cJSON *res = typed("tool_result");
  int rc = PIER_ENOMEM;
  if (!res || !cJSON_AddStringToObject(res, "tool_use_id", id)) goto out;
  if ((rc = tool_content(b, i, cJSON_GetObjectItemCaseSensitive(m, "content"), res))) goto out;
  rc = PIER_ENOMEM;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "is_error")) && !cJSON_AddTrueToObject(res, "is_error"))
    goto out;
  if (!(res = with_cache(res, m))) goto out;
  b->history_tools = true;
  return pier_turns_add(&b->turns, true, res);
out:
  cJSON_Delete(res);
  return rc;
}

static int note_tool_name(pier_anthropic_build_st *b, const char *name) {
  const cJSON *n;
  cJSON_ArrayForEach(n, b->used_tools) if (strcmp(n->valuestring, name) == 0) return 0;
  return cJSON_AddItemToArray(b->used_tools, cJSON_CreateString(name)) ? 0 : PIER_ENOMEM;
}

/* tool_calls[j] -> {"type":"tool_use","id","name","input"}; arguments must parse to an object. */
static int add_tool_use(pier_anthropic_build_st *b, int i, int j, const cJSON *call) {
  const char *id, *name;
  cJSON *input;
  int rc = pier_oai_tool_call(i, j, call, &id, &name, &input, b->err, b->errlen);
  if (rc) return rc;
  cJSON *use = typed("tool_use");
  if (!use || !cJSON_AddStringToObject(use, "id", id) || !cJSON_AddStringToObject(use, "name", name) ||
      !cJSON_AddItemToObject(use, "input", input)) {
    cJSON_Delete(use);
    cJSON_Delete(input); /* never attached on this path */
    return PIER_ENOMEM;
  }
  if ((rc = note_tool_name(b, name))) {
    cJSON_Delete(use);
    return rc;
  }
  b->history_tools = true;
  return pier_turns_add(&b->turns, false, use);
}

/* thinking_blocks (LiteLLM's field) -> signed thinking / redacted_thinking
 * blocks; Anthropic rejects a thinking block without its signature. */
static int add_thinking(pier_anthropic_build_st *b, const cJSON *blocks) {
  const cJSON *t;
  cJSON_ArrayForEach(t, (cJSON_IsArray(blocks) ? blocks : NULL)) {
    const char *text = pier_json_str(t, "thinking"), *sig = pier_json_str(t, "signature");
    const char *data = pier_json_str(t, "data");
    cJSON *blk = NULL;
    if (is_type(t, "thinking") && text && sig && sig[0]) {
      if ((blk = typed("thinking")) &&
          (!cJSON_AddStringToObject(blk, "thinking", text) || !cJSON_AddStringToObject(blk, "signature", sig)))
        cJSON_Delete(blk), blk = NULL;
    } else if (is_type(t, "redacted_thinking") && data) {
      if ((blk = typed("redacted_thinking")) && !cJSON_AddStringToObject(blk, "data", data))
        cJSON_Delete(blk), blk = NULL;
    } else {
      continue;
    }
    int rc = pier_turns_add(&b->turns, false, blk);
    if (rc) return rc;
  }
  return 0;
}

static int add_assistant(pier_anthropic_build_st *b, int i, const cJSON *m) {
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *call;
  int rc;
  if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls))
    return pier_anthropic_bad(b, "messages[%d].tool_calls must be an array, got %s", i, pier_json_type_name(calls));
  if ((rc = add_thinking(b, cJSON_GetObjectItemCaseSensitive(m, "thinking_blocks"))) ||
      (rc = add_content(b, TO_ASSISTANT, i, cJSON_GetObjectItemCaseSensitive(m, "content"), true)))
    return rc;
  int j = 0;
  cJSON_ArrayForEach(call, (cJSON_IsArray(calls) ? calls : NULL)) if ((rc = add_tool_use(b, i, j++, call))) return rc;
  return 0;
}

static int add_message(pier_anthropic_build_st *b, int i, const cJSON *m) {
  if (!cJSON_IsObject(m))
    return pier_anthropic_bad(b, "messages[%d] must be an object, got %s", i, pier_json_type_name(m));
  const char *role = pier_json_str(m, "role");
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
  if (!role) return pier_anthropic_bad(b, "messages[%d].role must be a string", i);
  if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
    return add_content(b, TO_SYSTEM, i, content, false);
  if (strcmp(role, "user") == 0) return add_content(b, TO_USER, i, content, false);
  if (strcmp(role, "assistant") == 0) return add_assistant(b, i, m);
  if (strcmp(role, "tool") == 0) return add_tool_result(b, i, m);
  return pier_anthropic_bad(b, "messages[%d].role: unknown role \"%s\" (expected system, user, assistant or tool)", i,
                            role);
}

/* A content array that is one text block without cache_control becomes its
 * string: what a person would write, and what Anthropic treats the same. */
static void compact(cJSON *holder, const char *key) {
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(holder, key);
  const cJSON *only = cJSON_IsArray(arr) ? arr->child : NULL;
  if (!only || only->next || !is_type(only, "text") || cJSON_GetArraySize(only) != 2) return;
  cJSON *s = cJSON_CreateString(pier_json_str(only, "text"));
  if (s && !cJSON_ReplaceItemInObjectCaseSensitive(holder, key, s)) cJSON_Delete(s);
  /* on OOM the block form stays: equally valid */
}

int pier_anthropic_add_messages(pier_anthropic_build_st *b) {
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(b->req, "messages"), *m;
  if (!cJSON_IsArray(msgs) || !msgs->child)
    return pier_anthropic_bad(b, "messages must be a non-empty array of chat messages");
  int i = 0, rc;
  b->turns = (pier_turns){.shape = &TURNS, .list = b->messages};
  cJSON_ArrayForEach(m, msgs) if ((rc = add_message(b, i++, m))) return rc;
  if (!b->messages->child)
    return pier_anthropic_bad(b,
                              "messages: no user or assistant message has any content; Anthropic needs at least one");
  cJSON *turn;
  cJSON_ArrayForEach(turn, b->messages) compact(turn, "content");
  return 0;
}
