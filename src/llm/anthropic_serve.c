/* anthropic_serve.c — an Anthropic Messages request (what Claude Code sends to
 * pier) -> pier's OpenAI chat request. Validation errors read like Anthropic's
 * own ("messages.1.content.0.tool_use_id: Field required") so a Messages API
 * client shows them unchanged. Invariant: everything Anthropic-only that an
 * OpenAI-side builder can use again (cache_control, is_error, signed thinking)
 * is carried as an extension member, so Anthropic -> OpenAI -> Anthropic keeps it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/anthropic_int.h"

typedef struct conv {
  const cJSON *req; /* borrowed Anthropic request */
  cJSON *out;       /* owned OpenAI request */
  cJSON *msgs;      /* out.messages */
  char *err;
  size_t errlen;
} conv;

static int bad(conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(conv *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, c->errlen, fmt, ap);
  va_end(ap);
  return PIER_EINVAL;
}

static const char *type_of(const cJSON *block) { return pier_json_str(block, "type"); }

/* Attach v (ownership taken) as o[key]; false on OOM (v freed). */
static bool put(cJSON *o, const char *key, cJSON *v) {
  if (v && cJSON_AddItemToObject(o, key, v)) return true;
  cJSON_Delete(v);
  return false;
}

static bool push(cJSON *arr, cJSON *v) {
  if (v && cJSON_AddItemToArray(arr, v)) return true;
  cJSON_Delete(v);
  return false;
}

/* Copy block.cache_control (an object) onto o. */
static bool keep_cache(cJSON *o, const cJSON *block) {
  const cJSON *cc = cJSON_GetObjectItemCaseSensitive(block, "cache_control");
  return !cJSON_IsObject(cc) || put(o, "cache_control", cJSON_Duplicate(cc, true));
}

static cJSON *text_part(const char *text, const cJSON *block) {
  cJSON *p = cJSON_CreateObject();
  if (p && cJSON_AddStringToObject(p, "type", "text") && cJSON_AddStringToObject(p, "text", text) &&
      keep_cache(p, block))
    return p;
  cJSON_Delete(p);
  return NULL;
}

/* "data:<media_type>;base64,<data>" as a new cJSON string. */
static cJSON *data_url(const char *media_type, const char *data) {
  pier_buf b;
  pier_buf_init(&b, 0);
  cJSON *s = NULL;
  if (!pier_buf_appendf(&b, "data:%s;base64,", media_type) && !pier_buf_append_cstr(&b, data))
    s = cJSON_CreateString(b.ptr);
  pier_buf_dispose(&b);
  return s;
}

/* {"type":"base64","media_type","data"} / {"type":"url","url"} -> a new URL string. */
static int source_url(conv *c, const char *path, const cJSON *block, cJSON **url) {
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(block, "source");
  const char *st = type_of(src);
  if (!cJSON_IsObject(src) || !st) return bad(c, "%s.source: Field required", path);
  if (strcmp(st, "base64") == 0) {
    const char *mt = pier_json_str(src, "media_type"), *data = pier_json_str(src, "data");
    if (!mt) return bad(c, "%s.source.media_type: Field required", path);
    if (!data) return bad(c, "%s.source.data: Field required", path);
    return (*url = data_url(mt, data)) ? 0 : PIER_ENOMEM;
  }
  if (strcmp(st, "url") == 0) {
    const char *u = pier_json_str(src, "url");
    if (!u) return bad(c, "%s.source.url: Field required", path);
    return (*url = cJSON_CreateString(u)) ? 0 : PIER_ENOMEM;
  }
  return bad(c, "%s.source.type: source type '%s' is not supported by this gateway (use 'base64' or 'url')", path, st);
}

/* {"type":<type>,<key>:{<inner>:url}} plus the block's cache_control; takes url. */
static cJSON *url_part(const char *type, const char *key, const char *inner, cJSON *url, const cJSON *block) {
  cJSON *p = cJSON_CreateObject();
  bool ok = p && cJSON_AddStringToObject(p, "type", type);
  cJSON *holder = ok ? cJSON_AddObjectToObject(p, key) : NULL;
  ok = put(holder, inner, url) && ok && keep_cache(p, block); /* put frees url when holder is NULL */
  if (ok) return p;
  cJSON_Delete(p);
  return NULL;
}

/* image block -> {"type":"image_url","image_url":{"url"}}. */
static int image_part(conv *c, const char *path, const cJSON *block, cJSON **out) {
  cJSON *url = NULL;
  int rc = source_url(c, path, block, &url);
  if (rc) return rc;
  return (*out = url_part("image_url", "image_url", "url", url, block)) ? 0 : PIER_ENOMEM;
}

/* document block: a base64 PDF -> {"type":"file","file":{"file_data"}}; a
 * plain-text source -> a text part. */
static int document_part(conv *c, const char *path, const cJSON *block, cJSON **out) {
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(block, "source");
  const char *st = type_of(src), *mt = pier_json_str(src, "media_type");
  if (st && strcmp(st, "text") == 0) {
    const char *data = pier_json_str(src, "data");
    if (!data) return bad(c, "%s.source.data: Field required", path);
    return (*out = text_part(data, block)) ? 0 : PIER_ENOMEM;
  }
  if (!st || strcmp(st, "base64") || !mt || strcmp(mt, "application/pdf"))
    return bad(c, "%s.source: only base64 PDF and plain-text documents are supported by this gateway", path);
  cJSON *url = NULL;
  int rc = source_url(c, path, block, &url);
  if (rc) return rc;
  return (*out = url_part("file", "file", "file_data", url, block)) ? 0 : PIER_ENOMEM;
}

/* text / image / document block -> a new OpenAI content part; *out NULL for
 * an empty text (Anthropic rejects those; dropping them is kinder). 1 when the
 * block is of another type (the caller decides). */
static int media_or_text(conv *c, const char *path, const cJSON *block, cJSON **out) {
  const char *type = type_of(block);
  *out = NULL;
  if (strcmp(type, "text") == 0) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(block, "text");
    if (!cJSON_IsString(t)) return bad(c, "%s.text: Field required", path);
    return !t->valuestring[0] || (*out = text_part(t->valuestring, block)) ? 0 : PIER_ENOMEM;
  }
  if (strcmp(type, "image") == 0) return image_part(c, path, block, out);
  if (strcmp(type, "document") == 0) return document_part(c, path, block, out);
  return 1;
}

static int tag_error(conv *c, const char *path, const char *type, const char *expected) {
  return bad(c, "%s.type: Input tag '%s' found using 'type' does not match any of the expected tags: %s", path, type,
             expected);
}

/* A block must be an object with a string type. */
static int check_block(conv *c, const char *path, const cJSON *block) {
  if (!cJSON_IsObject(block)) return bad(c, "%s: Input should be a valid dictionary", path);
  if (!type_of(block)) return bad(c, "%s.type: Field required", path);
  return 0;
}

/* ---- user turns ---------------------------------------------------------------- */

/* tool_result.content -> the tool message's content; images and documents go
 * to media (they follow in a user message: OpenAI tool messages are text). */
static int result_content(conv *c, const char *path, const cJSON *content, cJSON *msg, cJSON *media) {
  if (!content || cJSON_IsNull(content)) return cJSON_AddStringToObject(msg, "content", "") ? 0 : PIER_ENOMEM;
  if (cJSON_IsString(content)) return cJSON_AddStringToObject(msg, "content", content->valuestring) ? 0 : PIER_ENOMEM;
  if (!cJSON_IsArray(content)) return bad(c, "%s.content: Input should be a valid string or list", path);
  cJSON *parts = cJSON_AddArrayToObject(msg, "content");
  if (!parts) return PIER_ENOMEM;
  int k = 0, rc;
  for (const cJSON *b = content->child; b; b = b->next, k++) {
    char sub[96];
    cJSON *part;
    snprintf(sub, sizeof sub, "%s.content.%d", path, k);
    if ((rc = check_block(c, sub, b))) return rc;
    if ((rc = media_or_text(c, sub, b, &part)) == 1)
      return tag_error(c, sub, type_of(b), "'text', 'image', 'document'");
    if (rc) return rc;
    if (part && !push(strcmp(type_of(b), "text") == 0 ? parts : media, part)) return PIER_ENOMEM;
  }
  return 0;
}

static int tool_message(conv *c, const char *path, const cJSON *block, cJSON *media) {
  const char *id = pier_json_str(block, "tool_use_id");
  if (!id) return bad(c, "%s.tool_use_id: Field required", path);
  cJSON *msg = cJSON_CreateObject();
  if (!push(c->msgs, msg) || !cJSON_AddStringToObject(msg, "role", "tool") ||
      !cJSON_AddStringToObject(msg, "tool_call_id", id))
    return PIER_ENOMEM;
  int rc = result_content(c, path, cJSON_GetObjectItemCaseSensitive(block, "content"), msg, media);
  if (rc) return rc;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(block, "is_error")) && !cJSON_AddTrueToObject(msg, "is_error"))
    return PIER_ENOMEM;
  return keep_cache(msg, block) ? 0 : PIER_ENOMEM;
}

/* The user message after a turn's tool messages: the tool results' media,
 * then the turn's own parts. Takes ownership of both arrays. */
static int user_message(conv *c, cJSON *media, cJSON *parts) {
  int rc = 0;
  while (!rc && parts->child)
    if (!cJSON_AddItemToArray(media, cJSON_DetachItemViaPointer(parts, parts->child))) rc = PIER_ENOMEM;
  cJSON_Delete(parts);
  if (rc || !media->child) {
    cJSON_Delete(media);
    return rc;
  }
  cJSON *msg = cJSON_CreateObject();
  if (!push(c->msgs, msg) || !cJSON_AddStringToObject(msg, "role", "user")) {
    cJSON_Delete(media);
    return PIER_ENOMEM;
  }
  return put(msg, "content", media) ? 0 : PIER_ENOMEM;
}

/* A user turn: tool_result blocks become tool messages, in order, ahead of
 * one user message with everything else. */
static int user_blocks(conv *c, int i, const cJSON *content) {
  cJSON *media = cJSON_CreateArray(), *parts = cJSON_CreateArray();
  int j = 0, rc = media && parts ? 0 : PIER_ENOMEM;
  for (const cJSON *b = content->child; !rc && b; b = b->next, j++) {
    char path[64];
    cJSON *part;
    snprintf(path, sizeof path, "messages.%d.content.%d", i, j);
    if ((rc = check_block(c, path, b))) break;
    if (strcmp(type_of(b), "tool_result") == 0) rc = tool_message(c, path, b, media);
    else if ((rc = media_or_text(c, path, b, &part)) == 1)
      rc = tag_error(c, path, type_of(b), "'text', 'image', 'document', 'tool_result'");
    else if (!rc && part && !push(parts, part)) rc = PIER_ENOMEM;
  }
  if (rc) {
    cJSON_Delete(media);
    cJSON_Delete(parts);
    return rc;
  }
  return user_message(c, media, parts);
}

/* ---- assistant turns -------------------------------------------------------------- */

/* tool_use -> {"id","type":"function","function":{"name","arguments"}} in calls. */
static int tool_call(conv *c, const char *path, const cJSON *block, cJSON *calls) {
  const char *id = pier_json_str(block, "id"), *name = pier_json_str(block, "name");
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(block, "input");
  if (!id) return bad(c, "%s.id: Field required", path);
  if (!name) return bad(c, "%s.name: Field required", path);
  if (!cJSON_IsObject(input)) return bad(c, "%s.input: Input should be a valid dictionary", path);
  cJSON *call = cJSON_CreateObject(), *fn;
  if (!push(calls, call) || !cJSON_AddStringToObject(call, "id", id) ||
      !cJSON_AddStringToObject(call, "type", "function") || !(fn = cJSON_AddObjectToObject(call, "function")) ||
      !cJSON_AddStringToObject(fn, "name", name))
    return PIER_ENOMEM;
  char *args = cJSON_PrintUnformatted(input);
  bool ok = args && cJSON_AddStringToObject(fn, "arguments", args);
  cJSON_free(args);
  return ok ? 0 : PIER_ENOMEM;
}

/* thinking (signed) / redacted_thinking -> a thinking_blocks entry, copied as is. */
static int thinking_block(const cJSON *block, cJSON *thinking) {
  const char *sig = pier_json_str(block, "signature");
  if (strcmp(type_of(block), "thinking") == 0 && (!sig || !sig[0])) return 0; /* no upstream accepts it unsigned */
  cJSON *t = cJSON_Duplicate(block, true);
  if (t) cJSON_DeleteItemFromObjectCaseSensitive(t, "cache_control");
  return push(thinking, t) ? 0 : PIER_ENOMEM;
}

static int assistant_block(conv *c, const char *path, const cJSON *b, cJSON *texts, cJSON *calls, cJSON *thinking) {
  int rc = check_block(c, path, b);
  if (rc) return rc;
  const char *type = type_of(b);
  if (strcmp(type, "text") == 0) {
    const char *t = pier_json_str(b, "text");
    if (!t) return bad(c, "%s.text: Field required", path);
    return !t[0] || push(texts, text_part(t, b)) ? 0 : PIER_ENOMEM;
  }
  if (strcmp(type, "tool_use") == 0) return tool_call(c, path, b, calls);
  if (strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0) return thinking_block(b, thinking);
  return tag_error(c, path, type, "'text', 'tool_use', 'thinking', 'redacted_thinking'");
}

/* Assistant turn -> {"role":"assistant","content","tool_calls"?,"thinking_blocks"?};
 * content is a string for one plain text, parts for several or cached ones,
 * null beside tool calls, else "". */
static int assistant_blocks(conv *c, int i, const cJSON *content) {
  cJSON *msg = cJSON_CreateObject();
  if (!push(c->msgs, msg) || !cJSON_AddStringToObject(msg, "role", "assistant")) return PIER_ENOMEM;
  cJSON *texts = cJSON_AddArrayToObject(msg, "content"), *calls = cJSON_AddArrayToObject(msg, "tool_calls");
  cJSON *thinking = cJSON_AddArrayToObject(msg, "thinking_blocks");
  if (!texts || !calls || !thinking) return PIER_ENOMEM;
  int j = 0, rc;
  for (const cJSON *b = content->child; b; b = b->next, j++) {
    char path[64];
    snprintf(path, sizeof path, "messages.%d.content.%d", i, j);
    if ((rc = assistant_block(c, path, b, texts, calls, thinking))) return rc;
  }
  bool has_calls = calls->child != NULL;
  if (!has_calls) cJSON_DeleteItemFromObjectCaseSensitive(msg, "tool_calls");
  if (!thinking->child) cJSON_DeleteItemFromObjectCaseSensitive(msg, "thinking_blocks");
  const cJSON *only = texts->child;
  cJSON *repl = NULL;
  if (!only) repl = has_calls ? cJSON_CreateNull() : cJSON_CreateString("");
  else if (!only->next && !cJSON_GetObjectItemCaseSensitive(only, "cache_control"))
    repl = cJSON_CreateString(pier_json_str(only, "text"));
  else return 0;
  if (repl && cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", repl)) return 0;
  cJSON_Delete(repl);
  return PIER_ENOMEM;
}

static int conv_message(conv *c, int i, const cJSON *m) {
  if (!cJSON_IsObject(m)) return bad(c, "messages.%d: Input should be a valid dictionary", i);
  const char *role = pier_json_str(m, "role");
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
  if (!role) return bad(c, "messages.%d.role: Field required", i);
  bool user = strcmp(role, "user") == 0;
  if (!user && strcmp(role, "assistant")) return bad(c, "messages.%d.role: Input should be 'user' or 'assistant'", i);
  if (!content) return bad(c, "messages.%d.content: Field required", i);
  if (cJSON_IsString(content)) {
    cJSON *msg = cJSON_CreateObject();
    return push(c->msgs, msg) && cJSON_AddStringToObject(msg, "role", role) &&
           cJSON_AddStringToObject(msg, "content", content->valuestring) ? 0 : PIER_ENOMEM;
  }
  if (!cJSON_IsArray(content)) return bad(c, "messages.%d.content: Input should be a valid string or list", i);
  return user ? user_blocks(c, i, content) : assistant_blocks(c, i, content);
}

/* ---- system, tools, parameters ------------------------------------------------------ */

/* system: a string or text blocks -> the first message, role system. */
static int conv_system(conv *c) {
  const cJSON *sys = pier_anthropic_opt(c->req, "system");
  cJSON *content;
  if (!sys) return 0;
  if (cJSON_IsString(sys)) {
    if (!sys->valuestring[0]) return 0;
    content = cJSON_CreateString(sys->valuestring);
  } else if (cJSON_IsArray(sys)) {
    content = cJSON_CreateArray();
    int k = 0, rc;
    for (const cJSON *b = sys->child; content && b; b = b->next, k++) {
      char path[32];
      snprintf(path, sizeof path, "system.%d", k);
      const char *text = pier_json_str(b, "text");
      rc = check_block(c, path, b);
      if (!rc && strcmp(type_of(b), "text")) rc = tag_error(c, path, type_of(b), "'text'");
      if (!rc && !text) rc = bad(c, "%s.text: Field required", path);
      if (!rc && text[0] && !push(content, text_part(text, b))) rc = PIER_ENOMEM;
      if (rc) {
        cJSON_Delete(content);
        return rc;
      }
    }
    if (content && !content->child) {
      cJSON_Delete(content);
      return 0;
    }
  } else {
    return bad(c, "system: Input should be a valid string or list");
  }
  cJSON *msg = cJSON_CreateObject();
  if (!push(c->msgs, msg) || !cJSON_AddStringToObject(msg, "role", "system")) {
    cJSON_Delete(content);
    return PIER_ENOMEM;
  }
  return put(msg, "content", content) ? 0 : PIER_ENOMEM;
}

/* tools[k]: a custom tool -> an OpenAI function tool. Server tools
 * (web_search_*, bash_*, text_editor_*, ...) run at Anthropic only: skipped. */
static int conv_tool(conv *c, int k, const cJSON *t, cJSON *tools) {
  if (!cJSON_IsObject(t)) return bad(c, "tools.%d: Input should be a valid dictionary", k);
  const char *type = pier_json_str(t, "type"), *name = pier_json_str(t, "name");
  const cJSON *desc = pier_anthropic_opt(t, "description");
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
  if (type && strcmp(type, "custom")) return 0;
  if (!name) return bad(c, "tools.%d.name: Field required", k);
  if (!cJSON_IsObject(schema)) return bad(c, "tools.%d.input_schema: Field required (a JSON Schema object)", k);
  if (desc && !cJSON_IsString(desc)) return bad(c, "tools.%d.description: Input should be a valid string", k);
  cJSON *tool = cJSON_CreateObject(), *fn;
  if (!push(tools, tool) || !cJSON_AddStringToObject(tool, "type", "function") ||
      !(fn = cJSON_AddObjectToObject(tool, "function")) || !cJSON_AddStringToObject(fn, "name", name) ||
      (desc && !cJSON_AddStringToObject(fn, "description", desc->valuestring)) ||
      !put(fn, "parameters", cJSON_Duplicate(schema, true)) || !keep_cache(tool, t))
    return PIER_ENOMEM;
  return 0;
}

static int conv_tools(conv *c) {
  const cJSON *tools = pier_anthropic_opt(c->req, "tools"), *t;
  if (!tools) return 0;
  if (!cJSON_IsArray(tools)) return bad(c, "tools: Input should be a valid list");
  cJSON *out = cJSON_AddArrayToObject(c->out, "tools");
  int k = 0, rc;
  if (!out) return PIER_ENOMEM;
  cJSON_ArrayForEach(t, tools) if ((rc = conv_tool(c, k++, t, out))) return rc;
  if (!out->child) cJSON_DeleteItemFromObjectCaseSensitive(c->out, "tools");
  return 0;
}

/* {"type":"auto"|"any"|"none"|"tool","name"?,"disable_parallel_tool_use"?}. */
static int conv_choice(conv *c) {
  const cJSON *tc = pier_anthropic_opt(c->req, "tool_choice");
  if (!tc) return 0;
  if (!cJSON_IsObject(tc)) return bad(c, "tool_choice: Input should be a valid dictionary");
  const char *type = type_of(tc), *name = pier_json_str(tc, "name");
  static const char *const map[][2] = {{"auto", "auto"}, {"any", "required"}, {"none", "none"}};
  if (!type) return bad(c, "tool_choice.type: Field required");
  bool ok = false;
  for (size_t i = 0; i < sizeof map / sizeof map[0] && !ok; i++)
    if (strcmp(type, map[i][0]) == 0) {
      if (!cJSON_AddStringToObject(c->out, "tool_choice", map[i][1])) return PIER_ENOMEM;
      ok = true;
    }
  if (!ok && strcmp(type, "tool") == 0) {
    cJSON *o = cJSON_AddObjectToObject(c->out, "tool_choice"), *fn;
    if (!name) return bad(c, "tool_choice.name: Field required");
    if (!o || !cJSON_AddStringToObject(o, "type", "function") || !(fn = cJSON_AddObjectToObject(o, "function")) ||
        !cJSON_AddStringToObject(fn, "name", name))
      return PIER_ENOMEM;
    ok = true;
  }
  if (!ok) return tag_error(c, "tool_choice", type, "'auto', 'any', 'tool', 'none'");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use")) &&
      !cJSON_AddFalseToObject(c->out, "parallel_tool_calls"))
    return PIER_ENOMEM;
  return 0;
}

/* A number member in lo..hi copied under out_key; integer when asked. */
static int conv_num(conv *c, const char *key, const char *out_key, double lo, double hi, bool integer) {
  const cJSON *v = pier_anthropic_opt(c->req, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v) || (integer && (double)(long long)v->valuedouble != v->valuedouble))
    return bad(c, "%s: Input should be a valid %s", key, integer ? "integer" : "number");
  if (v->valuedouble < lo) return bad(c, "%s: Input should be greater than or equal to %g", key, lo);
  if (v->valuedouble > hi) return bad(c, "%s: Input should be less than or equal to %g", key, hi);
  return cJSON_AddNumberToObject(c->out, out_key, v->valuedouble) ? 0 : PIER_ENOMEM;
}

static int conv_stop(conv *c) {
  const cJSON *stop = pier_anthropic_opt(c->req, "stop_sequences"), *s;
  if (!stop) return 0;
  if (!cJSON_IsArray(stop)) return bad(c, "stop_sequences: Input should be a valid list");
  int k = 0;
  cJSON_ArrayForEach(s, stop) {
    if (!cJSON_IsString(s)) return bad(c, "stop_sequences.%d: Input should be a valid string", k);
    k++;
  }
  return k == 0 || put(c->out, "stop", cJSON_Duplicate(stop, true)) ? 0 : PIER_ENOMEM;
}

/* stream (+ include_usage: the Messages stream always reports usage),
 * metadata.user_id -> user, thinking copied. */
static int conv_misc(conv *c) {
  const cJSON *stream = pier_anthropic_opt(c->req, "stream"), *md = pier_anthropic_opt(c->req, "metadata");
  const cJSON *thinking = pier_anthropic_opt(c->req, "thinking");
  if (stream && !cJSON_IsBool(stream)) return bad(c, "stream: Input should be a valid boolean");
  if (md && !cJSON_IsObject(md)) return bad(c, "metadata: Input should be a valid dictionary");
  if (thinking && !cJSON_IsObject(thinking)) return bad(c, "thinking: Input should be a valid dictionary");
  const cJSON *uid = pier_anthropic_opt(md, "user_id");
  if (uid && !cJSON_IsString(uid)) return bad(c, "metadata.user_id: Input should be a valid string");
  if (cJSON_IsTrue(stream)) {
    cJSON *so;
    if (!cJSON_AddTrueToObject(c->out, "stream") || !(so = cJSON_AddObjectToObject(c->out, "stream_options")) ||
        !cJSON_AddTrueToObject(so, "include_usage"))
      return PIER_ENOMEM;
  }
  if (uid && !cJSON_AddStringToObject(c->out, "user", uid->valuestring)) return PIER_ENOMEM;
  return !thinking || put(c->out, "thinking", cJSON_Duplicate(thinking, true)) ? 0 : PIER_ENOMEM;
}

/* The members Anthropic requires, checked before any work. */
static int check_required(conv *c) {
  const cJSON *r = c->req, *msgs = cJSON_GetObjectItemCaseSensitive(r, "messages");
  const cJSON *max = cJSON_GetObjectItemCaseSensitive(r, "max_tokens");
  if (!cJSON_IsObject(r)) return bad(c, "the request body must be a JSON object");
  if (!pier_json_str(r, "model")) return bad(c, "model: Field required");
  if (!max || cJSON_IsNull(max)) return bad(c, "max_tokens: Field required");
  if (!msgs || cJSON_IsNull(msgs)) return bad(c, "messages: Field required");
  if (!cJSON_IsArray(msgs)) return bad(c, "messages: Input should be a valid list");
  if (!msgs->child) return bad(c, "messages: at least one message is required");
  return 0;
}

static int convert(conv *c) {
  const cJSON *m;
  int i = 0, rc;
  if ((rc = check_required(c))) return rc;
  if (!(c->out = cJSON_CreateObject()) || !cJSON_AddStringToObject(c->out, "model", pier_json_str(c->req, "model")) ||
      !(c->msgs = cJSON_AddArrayToObject(c->out, "messages")))
    return PIER_ENOMEM;
  if ((rc = conv_system(c))) return rc;
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(c->req, "messages");
  cJSON_ArrayForEach(m, msgs) if ((rc = conv_message(c, i++, m))) return rc;
  if ((rc = conv_num(c, "max_tokens", "max_tokens", 1, 2147483647.0, true)) ||
      (rc = conv_num(c, "temperature", "temperature", 0, 1, false)) ||
      (rc = conv_num(c, "top_p", "top_p", 0, 1, false)) ||
      (rc = conv_num(c, "top_k", "top_k", 0, 2147483647.0, true)) || (rc = conv_stop(c)) ||
      (rc = conv_tools(c)) || (rc = conv_choice(c)) || (rc = conv_misc(c)))
    return rc;
  return 0;
}

int pier_anthropic_to_openai(const cJSON *anthropic_req, cJSON **openai_req_out, char *err, size_t errlen) {
  conv c = {.req = anthropic_req, .err = err, .errlen = errlen};
  if (errlen) err[0] = '\0';
  *openai_req_out = NULL;
  int rc = convert(&c);
  if (rc) {
    cJSON_Delete(c.out);
    if (rc == PIER_ENOMEM) snprintf(err, errlen, "out of memory while translating the Messages request");
    return rc;
  }
  *openai_req_out = c.out;
  return 0;
}
