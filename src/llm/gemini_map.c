/* gemini_map.c — OpenAI chat request -> Gemini generateContent body (contents,
 * systemInstruction, media parts, function calls and responses) and the method
 * path. Invariants of the output: roles alternate and start with "user", no
 * empty text part, functionResponse parts lead their user turn. Generation
 * config and tools are in gemini_params.c. */
#include "llm/gemini_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/gemini_map_int.h"
#include "llm/oai_parts.h"

#define PLACEHOLDER_TEXT "." /* stands in for the user turn a leading model turn needs */
#define MIME_BYTES_MAX 127

int pier_gemini_bad(pier_gemini_build_st *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->err, b->errlen, fmt, ap);
  va_end(ap);
  return PIER_EINVAL;
}

cJSON *pier_gemini_wrap(const char *key, cJSON *value) {
  cJSON *o = value ? cJSON_CreateObject() : NULL;
  if (!o || !cJSON_AddItemToObject(o, key, value)) {
    cJSON_Delete(o);
    cJSON_Delete(value);
    return NULL;
  }
  return o;
}

static bool is_null(const cJSON *v) { return !v || cJSON_IsNull(v); }

static bool has_key(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k) != NULL; }

static cJSON *text_part(const char *text) { return pier_gemini_wrap("text", cJSON_CreateString(text)); }

/* ---- method path --------------------------------------------------------- */

static bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int pier_gemini_path(const char *model_id, pier_gemini_method method, pier_buf *out) {
  static const char *const suffix[] = {[PIER_GEMINI_GENERATE] = ":generateContent",
                                       [PIER_GEMINI_STREAM] = ":streamGenerateContent?alt=sse",
                                       [PIER_GEMINI_BATCH_EMBED] = ":batchEmbedContents"};
  pier_slice id = pier_slice_from(model_id);
  const char *collection = "models/";
  if (pier_slice_starts_with(id, "models/")) {
    id.ptr += 7, id.len -= 7;
  } else if (pier_slice_starts_with(id, "tunedModels/")) {
    id.ptr += 12, id.len -= 12;
    collection = "tunedModels/";
  }
  if (id.len == 0 || (unsigned)method > PIER_GEMINI_BATCH_EMBED) return PIER_EINVAL;
  size_t mark = out->len;
  int rc = pier_buf_append_cstr(out, collection);
  for (size_t i = 0; !rc && i < id.len; i++) {
    unsigned char c = (unsigned char)id.ptr[i];
    rc = unreserved(c) ? pier_buf_putc(out, (char)c) : pier_buf_appendf(out, "%%%02X", c);
  }
  if (!rc) rc = pier_buf_append_cstr(out, suffix[method]);
  if (rc && out->len > mark) out->len = mark, out->ptr[mark] = '\0';
  return rc;
}

/* gemini-<major>...: true for major >= 3 (strict thought-signature checks). */
static bool is_gemini3_plus(const char *model_id) {
  const char *p = model_id;
  if (strncmp(p, "models/", 7) == 0) p += 7;
  if (strncmp(p, "gemini-", 7) != 0) return false;
  p += 7;
  int major = 0, digits = 0;
  for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++) major = major * 10 + (*p - '0');
  return digits > 0 && major >= 3;
}

/* ---- turns --------------------------------------------------------------- */

static bool is_function_response(const cJSON *part) { return has_key(part, "functionResponse"); }
static cJSON *placeholder(void) { return text_part(PLACEHOLDER_TEXT); }

static const pier_turns_shape TURNS = {.items_key = "parts", .assistant_role = "model",
                                       .is_result = is_function_response, .placeholder = placeholder};

enum dest { TO_SYSTEM, TO_USER, TO_MODEL };

static int emit(pier_gemini_build_st *b, enum dest d, cJSON *part) {
  if (d != TO_SYSTEM) return pier_turns_add(&b->turns, d == TO_USER, part);
  if (!part) return PIER_ENOMEM;
  if (!b->system) {
    cJSON *si = cJSON_AddObjectToObject(b->body, "systemInstruction");
    if (!si || !(b->system = cJSON_AddArrayToObject(si, "parts"))) {
      cJSON_Delete(part);
      return PIER_ENOMEM;
    }
  }
  if (cJSON_AddItemToArray(b->system, part)) return 0;
  cJSON_Delete(part);
  return PIER_ENOMEM;
}

/* ---- media --------------------------------------------------------------- */

/* Mime type for a URL from its extension (query and fragment ignored). */
static const char *guess_mime(const char *url) {
  static const char *const map[][2] = {
    {"png", "image/png"},   {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},  {"gif", "image/gif"},
    {"webp", "image/webp"}, {"heic", "image/heic"},     {"heif", "image/heif"},  {"pdf", "application/pdf"},
    {"txt", "text/plain"},  {"mp3", "audio/mp3"},       {"wav", "audio/wav"},    {"ogg", "audio/ogg"},
    {"flac", "audio/flac"}, {"mp4", "video/mp4"},       {"mov", "video/mov"},    {"webm", "video/webm"}};
  size_t end = strcspn(url, "?#"), dot = end;
  while (dot > 0 && url[dot - 1] != '.' && url[dot - 1] != '/') dot--;
  if (dot == 0 || url[dot - 1] != '.') return "image/jpeg";
  pier_slice ext = pier_slice_make(url + dot, end - dot);
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (pier_slice_ieq_cstr(ext, map[i][0])) return map[i][1];
  return "image/jpeg";
}

/* {"inlineData":{"mimeType","data"}}; data is referenced, not copied: the
 * OpenAI request outlives the body tree. */
static cJSON *inline_part(const char *mime, const char *data) {
  cJSON *d = cJSON_CreateObject(), *ref = cJSON_CreateStringReference(data);
  if (!d || !ref || !cJSON_AddStringToObject(d, "mimeType", mime) || !cJSON_AddItemToObject(d, "data", ref)) {
    cJSON_Delete(d);
    cJSON_Delete(ref); /* not attached on any failing path; a reference frees nothing it points to */
    return NULL;
  }
  return pier_gemini_wrap("inlineData", d);
}

static cJSON *file_part(const char *mime, const char *uri) {
  cJSON *d = cJSON_CreateObject();
  if (d && (!cJSON_AddStringToObject(d, "mimeType", mime) || !cJSON_AddStringToObject(d, "fileUri", uri)))
    cJSON_Delete(d), d = NULL;
  return pier_gemini_wrap("fileData", d);
}

/* data:<mime>[;param]*;base64,<data> -> inlineData. def_mime stands in for an
 * empty mime (NULL = the mime is required). */
static int data_url_part(pier_gemini_build_st *b, const char *path, const char *url, const char *def_mime,
                         cJSON **out) {
  const char *comma = strchr(url, ',');
  if (!pier_slice_istarts_with(pier_slice_from(url), "data:") || !comma)
    return pier_gemini_bad(b, "%s must be an http(s) URL or a data URL like data:image/png;base64,...", path);
  pier_slice meta = pier_slice_make(url + 5, (size_t)(comma - url - 5));
  if (meta.len < 7 || !pier_slice_ieq_cstr(pier_slice_make(meta.ptr + meta.len - 7, 7), ";base64"))
    return pier_gemini_bad(b, "%s: only base64 data URLs are supported (data:image/png;base64,...)", path);
  meta.len -= 7;
  long semi = pier_slice_find(meta, ';');
  if (semi >= 0) meta.len = (size_t)semi;
  meta = pier_slice_trim(meta);
  char mime[MIME_BYTES_MAX + 1];
  if (meta.len == 0 && !def_mime) return pier_gemini_bad(b, "%s: the data URL names no media type", path);
  if (meta.len && (meta.len > MIME_BYTES_MAX || pier_slice_find(meta, '/') < 0))
    return pier_gemini_bad(b, "%s: \"%.*s\" is not a media type like image/png", path,
                           (int)(meta.len > 64 ? 64 : meta.len), meta.ptr);
  snprintf(mime, sizeof mime, "%.*s", (int)meta.len, meta.ptr);
  if (!pier_oai_base64_ok(comma + 1, true))
    return pier_gemini_bad(b, "%s: the data after the comma is not valid base64", path);
  *out = inline_part(meta.len ? mime : def_mime, comma + 1);
  return *out ? 0 : PIER_ENOMEM;
}

/* image_url: data URL -> inlineData; http(s)/gs URL -> fileData (mime from
 * image_url.format when it is a media type, else from the extension). */
static int image_part(pier_gemini_build_st *b, int i, int j, const cJSON *part, cJSON **out) {
  const cJSON *u = pier_oai_image_url(part);
  const char *format = pier_json_str(cJSON_GetObjectItemCaseSensitive(part, "image_url"), "format");
  char path[80];
  snprintf(path, sizeof path, "messages[%d].content[%d].image_url.url", i, j);
  if (!cJSON_IsString(u) || !u->valuestring[0])
    return pier_gemini_bad(b, "%s must be a non-empty string, got %s", path,
                           cJSON_IsString(u) ? "an empty string" : pier_json_type_name(u));
  if (!pier_oai_is_remote(u->valuestring, true)) return data_url_part(b, path, u->valuestring, "image/jpeg", out);
  bool fmt_ok = format && strchr(format, '/') && strlen(format) <= MIME_BYTES_MAX;
  *out = file_part(fmt_ok ? format : guess_mime(u->valuestring), u->valuestring);
  return *out ? 0 : PIER_ENOMEM;
}

/* input_audio: {"data": base64, "format": "wav" | "mp3" | ...} -> inlineData audio/<format>. */
static int audio_part(pier_gemini_build_st *b, int i, int j, const cJSON *part, cJSON **out) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(part, "input_audio");
  const char *data = pier_json_str(a, "data"), *fmt = pier_json_str(a, "format");
  if (!data || !pier_oai_base64_ok(data, true))
    return pier_gemini_bad(b, "messages[%d].content[%d].input_audio.data must be base64 audio", i, j);
  if (!fmt || !fmt[0] || strlen(fmt) > 32 || strchr(fmt, '/'))
    return pier_gemini_bad(b, "messages[%d].content[%d].input_audio.format must name the audio format (wav, mp3)",
                           i, j);
  char mime[48];
  snprintf(mime, sizeof mime, "audio/%s", fmt);
  *out = inline_part(mime, data);
  return *out ? 0 : PIER_ENOMEM;
}

/* file: {"file_data": data URL} -> inlineData, {"file_id": URI} -> fileData. */
static int file_content_part(pier_gemini_build_st *b, int i, int j, const cJSON *part, cJSON **out) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(part, "file");
  const char *data = pier_json_str(f, "file_data"), *id = pier_json_str(f, "file_id");
  const char *format = pier_json_str(f, "format");
  char path[80];
  snprintf(path, sizeof path, "messages[%d].content[%d].file.file_data", i, j);
  if (data && data[0]) return data_url_part(b, path, data, NULL, out);
  if (!id || !pier_oai_is_remote(id, true))
    return pier_gemini_bad(b, "messages[%d].content[%d].file needs file_data (a base64 data URL) or file_id "
                              "(an https:// or gs:// file URI)", i, j);
  bool fmt_ok = format && strchr(format, '/') && strlen(format) <= MIME_BYTES_MAX;
  *out = file_part(fmt_ok ? format : guess_mime(id), id);
  return *out ? 0 : PIER_ENOMEM;
}

/* ---- content ------------------------------------------------------------- */

static int add_part(pier_gemini_build_st *b, enum dest d, int i, int j, const cJSON *part) {
  const char *type = pier_json_str(part, "type");
  cJSON *p = NULL;
  int rc;
  if (!cJSON_IsObject(part) || !type)
    return pier_gemini_bad(b, "messages[%d].content[%d] must be an object with a string \"type\"", i, j);
  if (strcmp(type, "text") == 0) {
    const char *text = pier_oai_part_text(i, j, part, b->err, b->errlen);
    if (!text) return PIER_EINVAL;
    return text[0] ? emit(b, d, text_part(text)) : 0;
  }
  bool media = !strcmp(type, "image_url") || !strcmp(type, "input_audio") || !strcmp(type, "file");
  if (!media)
    return pier_gemini_bad(b, "messages[%d].content[%d].type: part type \"%s\" is not supported for Gemini "
                              "(use text, image_url, input_audio or file)", i, j, type);
  if (d != TO_USER)
    return pier_gemini_bad(b, "messages[%d].content[%d]: %s parts are only allowed in user messages", i, j, type);
  if (strcmp(type, "image_url") == 0) rc = image_part(b, i, j, part, &p);
  else if (strcmp(type, "input_audio") == 0) rc = audio_part(b, i, j, part, &p);
  else rc = file_content_part(b, i, j, part, &p);
  return rc ? rc : emit(b, d, p);
}

/* messages[i].content: a string or an array of parts; null only if allowed. */
static int add_content(pier_gemini_build_st *b, enum dest d, int i, const cJSON *content, bool null_ok) {
  if (is_null(content) && null_ok) return 0;
  if (cJSON_IsString(content)) return content->valuestring[0] ? emit(b, d, text_part(content->valuestring)) : 0;
  if (!cJSON_IsArray(content))
    return pier_gemini_bad(b, "messages[%d].content must be a string or an array of content parts, got %s", i,
                           pier_json_type_name(content));
  int j = 0, rc;
  for (const cJSON *part = content->child; part; part = part->next, j++)
    if ((rc = add_part(b, d, i, j, part))) return rc;
  return 0;
}

/* ---- function calls and responses --------------------------------------- */

/* The response object: the tool output itself when it is a JSON object, else {"content": text}. */
static cJSON *response_object(pier_buf *text) {
  char perr[16];
  cJSON *j = text->len ? pier_json_parse(pier_buf_slice(text), PIER_JSON_DEPTH_MAX, perr, sizeof perr) : NULL;
  if (cJSON_IsObject(j)) return j;
  cJSON_Delete(j);
  return pier_gemini_wrap("content", cJSON_CreateString(text->len ? text->ptr : ""));
}

static int add_function_response(pier_gemini_build_st *b, int i, const cJSON *m) {
  const char *id = pier_json_str(m, "tool_call_id");
  const char *name = id ? pier_json_str(b->call_names, id) : NULL;
  if (!name) name = pier_json_str(m, "name");
  if (!id || !id[0])
    return pier_gemini_bad(b, "messages[%d].tool_call_id is required: the id of the assistant tool call this "
                              "tool message answers", i);
  if (!name || !name[0])
    return pier_gemini_bad(b, "messages[%d].tool_call_id: no earlier assistant tool call has id \"%.64s\"; Gemini "
                              "needs the function name of every tool result", i, id);
  pier_buf text;
  pier_buf_init(&text, 0);
  int rc = pier_oai_tool_text(i, cJSON_GetObjectItemCaseSensitive(m, "content"), &text, b->err, b->errlen);
  cJSON *fr = NULL, *resp = rc ? NULL : response_object(&text);
  if (rc) goto out;
  rc = PIER_ENOMEM;
  if (!resp || !(fr = cJSON_CreateObject()) || !cJSON_AddStringToObject(fr, "name", name) ||
      !cJSON_AddItemToObject(fr, "response", resp))
    goto out;
  resp = NULL; /* owned by fr now */
  rc = pier_turns_add(&b->turns, true, pier_gemini_wrap("functionResponse", fr));
  fr = NULL;
out:
  cJSON_Delete(resp);
  cJSON_Delete(fr);
  pier_buf_dispose(&text);
  return rc;
}

/* The thought signature a client handed back for a tool call: in the id after
 * PIER_GEMINI_THOUGHT_SEP, or extra_content.google.thought_signature (the
 * shape of Gemini's own OpenAI-compatible API). NULL when none. */
static const char *call_signature(const cJSON *call, const char *id) {
  const char *sep = strstr(id, PIER_GEMINI_THOUGHT_SEP);
  if (sep && sep[strlen(PIER_GEMINI_THOUGHT_SEP)]) return sep + strlen(PIER_GEMINI_THOUGHT_SEP);
  const cJSON *google = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(call, "extra_content"),
                                                         "google");
  const char *sig = pier_json_str(google, "thought_signature");
  return sig && sig[0] ? sig : NULL;
}

/* Remember id -> name (a repeated id takes the latest name). */
static int note_call(pier_gemini_build_st *b, const char *id, const char *name) {
  cJSON *n = cJSON_CreateString(name);
  bool ok = n && (has_key(b->call_names, id) ? cJSON_ReplaceItemInObjectCaseSensitive(b->call_names, id, n)
                                             : cJSON_AddItemToObject(b->call_names, id, n));
  if (!ok) cJSON_Delete(n);
  return ok ? 0 : PIER_ENOMEM;
}

/* tool_calls[j] -> {"functionCall":{"name","args"},"thoughtSignature"?}; arguments must parse to an object. */
static int add_function_call(pier_gemini_build_st *b, int i, int j, const cJSON *call) {
  const char *id, *name;
  cJSON *input;
  int rc = pier_oai_tool_call(i, j, call, &id, &name, &input, b->err, b->errlen);
  if (rc) return rc;
  cJSON *fc = cJSON_CreateObject();
  if (!fc || !cJSON_AddStringToObject(fc, "name", name) || !cJSON_AddItemToObject(fc, "args", input)) {
    cJSON_Delete(fc); /* input is not attached on any of these paths */
    cJSON_Delete(input);
    return PIER_ENOMEM;
  }
  cJSON *part = pier_gemini_wrap("functionCall", fc);
  const char *sig = call_signature(call, id);
  if (!sig && j == 0 && is_gemini3_plus(b->model_id)) sig = PIER_GEMINI_SIGNATURE_SKIP;
  rc = part ? 0 : PIER_ENOMEM;
  if (!rc && sig && !cJSON_AddStringToObject(part, "thoughtSignature", sig)) rc = PIER_ENOMEM;
  if (!rc) rc = note_call(b, id, name);
  if (rc) {
    cJSON_Delete(part);
    return rc;
  }
  return pier_turns_add(&b->turns, false, part);
}

static int add_assistant(pier_gemini_build_st *b, int i, const cJSON *m) {
  const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *call;
  int rc;
  if (!is_null(calls) && !cJSON_IsArray(calls))
    return pier_gemini_bad(b, "messages[%d].tool_calls must be an array, got %s", i, pier_json_type_name(calls));
  if ((rc = add_content(b, TO_MODEL, i, cJSON_GetObjectItemCaseSensitive(m, "content"), true))) return rc;
  int j = 0;
  cJSON_ArrayForEach(call, (cJSON_IsArray(calls) ? calls : NULL)) {
    if ((rc = add_function_call(b, i, j++, call))) return rc;
  }
  return 0;
}

static int add_message(pier_gemini_build_st *b, int i, const cJSON *m) {
  if (!cJSON_IsObject(m))
    return pier_gemini_bad(b, "messages[%d] must be an object, got %s", i, pier_json_type_name(m));
  const char *role = pier_json_str(m, "role");
  const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
  if (!role) return pier_gemini_bad(b, "messages[%d].role must be a string", i);
  if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
    return add_content(b, TO_SYSTEM, i, content, false);
  if (strcmp(role, "user") == 0) return add_content(b, TO_USER, i, content, false);
  if (strcmp(role, "assistant") == 0) return add_assistant(b, i, m);
  if (strcmp(role, "tool") == 0) return add_function_response(b, i, m);
  return pier_gemini_bad(b, "messages[%d].role: unknown role \"%s\" (expected system, user, assistant or tool)", i,
                         role);
}

static int add_messages(pier_gemini_build_st *b) {
  const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(b->req, "messages"), *m;
  if (!cJSON_IsArray(msgs) || !msgs->child)
    return pier_gemini_bad(b, "messages must be a non-empty array of chat messages");
  if (!(b->contents = cJSON_AddArrayToObject(b->body, "contents"))) return PIER_ENOMEM;
  b->turns = (pier_turns){.shape = &TURNS, .list = b->contents};
  int i = 0, rc;
  cJSON_ArrayForEach(m, msgs) if ((rc = add_message(b, i++, m))) return rc;
  if (!b->contents->child)
    return pier_gemini_bad(b, "messages: no user or assistant message has any content; Gemini needs at least one");
  return 0;
}

int pier_gemini_build(const cJSON *openai_req, const char *model_id, pier_buf *body_out, pier_gemini_info *info,
                      char *err, size_t errlen) {
  pier_gemini_build_st b = {.req = openai_req, .model_id = model_id ? model_id : "", .info = info, .err = err,
                            .errlen = errlen};
  int rc = PIER_ENOMEM;
  memset(info, 0, sizeof *info);
  if (errlen) err[0] = '\0';
  if (!cJSON_IsObject(openai_req)) return pier_gemini_bad(&b, "the request body must be a JSON object");
  if (!(b.body = cJSON_CreateObject()) || !(b.call_names = cJSON_CreateObject())) goto out;
  if ((rc = add_messages(&b)) || (rc = pier_gemini_add_params(&b))) goto out;
  rc = pier_json_append(body_out, b.body);
out:
  cJSON_Delete(b.body);
  cJSON_Delete(b.call_names);
  if (rc == PIER_ENOMEM || rc == PIER_ETOOBIG)
    snprintf(err, errlen, "%s while building the Gemini request", pier_strerror(rc));
  return rc;
}
