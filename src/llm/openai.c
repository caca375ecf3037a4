/* openai.c — OpenAI and every OpenAI-compatible API (OpenRouter, Groq, vLLM,
 * ...). The fast path relays the provider's bytes: the client's body is sent
 * byte for byte except `model` (and pier's own fields), and each answer frame
 * comes back with only `model` rewritten, found with the allocation-free
 * scanner. Consumers that need events (workflows) get them decoded instead. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jscan.h"
#include "base/json.h"
#include "llm/openai_sse.h"
#include "llm/provider.h"
#include "llm/sse.h"

#define TOOLS_MAX 128

typedef struct ostate {
  pier_chat_call *call;
  pier_buf body;
  pier_sse_parser sse;
  bool sse_init, saw_done, saw_finish, started, injected_usage;
  char tool_seen[TOOLS_MAX]; /* tool indexes announced (event mode) */
  pier_buf scratch;
  pier_buf frame; /* one relayed SSE event, reused chunk after chunk */
} ostate;

/* pier's own request fields: never forwarded. */
static const char *drop_keys[] = {"jetty", "model_provider", "mock_response", "fallbacks", "num_retries", "timeout",
                                  "api_key", "api_base", "base_url", NULL};

static bool dropped(pier_slice key) {
  for (int i = 0; drop_keys[i]; i++)
    if (pier_jscan_is(key, drop_keys[i])) return true;
  return false;
}

typedef struct body_ctx {
  pier_buf *out;
  const char *model;
  bool stream, first, has_stream, has_options;
} body_ctx;

static int copy_member(void *arg, pier_slice key, pier_slice value) {
  body_ctx *b = arg;
  if (dropped(key)) return 0;
  int rc = pier_buf_append_cstr(b->out, b->first ? "" : ",");
  b->first = false;
  if (!rc) rc = pier_buf_append_slice(b->out, key);
  if (!rc) rc = pier_buf_putc(b->out, ':');
  if (rc) return rc;
  if (pier_jscan_is(key, "model")) return pier_buf_append_json_str(b->out, pier_slice_from(b->model));
  if (pier_jscan_is(key, "stream")) {
    b->has_stream = true;
    return pier_buf_append_cstr(b->out, b->stream ? "true" : "false");
  }
  if (pier_jscan_is(key, "stream_options")) b->has_options = true;
  return pier_buf_append_slice(b->out, value);
}

/* Byte-for-byte copy of the client's body with model/stream set. */
static int build_raw(ostate *st, pier_slice raw, const char *model, bool stream) {
  body_ctx b = {.out = &st->body, .model = model, .stream = stream, .first = true};
  int rc = pier_buf_putc(&st->body, '{');
  if (!rc) rc = pier_jscan_members(raw, copy_member, &b);
  if (!rc && !b.has_stream && stream) rc = pier_buf_append_cstr(&st->body, b.first ? "\"stream\":true" : ",\"stream\":true");
  if (!rc && stream && !b.has_options) {
    rc = pier_buf_append_cstr(&st->body, ",\"stream_options\":{\"include_usage\":true}");
    st->injected_usage = true;
  }
  if (!rc) rc = pier_buf_putc(&st->body, '}');
  return rc;
}

static int build_json(ostate *st, const cJSON *req, const char *model, bool stream) {
  cJSON *copy = cJSON_Duplicate(req, 1);
  if (!copy) return PIER_ENOMEM;
  for (int i = 0; drop_keys[i]; i++) cJSON_DeleteItemFromObjectCaseSensitive(copy, drop_keys[i]);
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "model");
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "stream");
  cJSON_AddStringToObject(copy, "model", model);
  cJSON_AddBoolToObject(copy, "stream", stream);
  if (stream && !cJSON_GetObjectItemCaseSensitive(copy, "stream_options")) {
    cJSON *so = cJSON_AddObjectToObject(copy, "stream_options");
    cJSON_AddTrueToObject(so, "include_usage");
  }
  int rc = pier_json_append(&st->body, copy);
  cJSON_Delete(copy);
  return rc;
}

static int o_init(pier_chat_call *c, void *stp, pier_llm_error *err) {
  ostate *st = stp;
  st->call = c;
  pier_buf_init(&st->body, 0);
  pier_buf_init(&st->scratch, PIER_CHAT_OUTPUT_BYTES_MAX);
  pier_buf_init(&st->frame, 0);
  const char *model = pier_chat_call_route(c)->model_id;
  bool stream = pier_chat_call_streaming(c);
  pier_slice raw = pier_chat_call_raw_request(c);
  int rc = raw.len ? build_raw(st, raw, model, stream) : build_json(st, pier_chat_call_request(c), model, stream);
  if (rc) pier_llm_error_set(err, rc == PIER_EPROTO ? 400 : 500, NULL, NULL, false, "could not build the request: %s",
                             pier_strerror(rc));
  return rc;
}

static int o_begin(pier_chat_call *c, void *stp, pier_upstream_req **out, pier_llm_error *err) {
  ostate *st = stp;
  const pier_route *r = pier_chat_call_route(c);
  st->saw_done = st->saw_finish = st->started = false;
  memset(st->tool_seen, 0, sizeof st->tool_seen);
  if (st->sse_init) pier_sse_dispose(&st->sse);
  pier_sse_init(&st->sse, 4u << 20);
  st->sse_init = true;
  char url[600];
  snprintf(url, sizeof url, "%s/chat/completions", r->base_url);
  pier_buf bearer;
  pier_buf_init(&bearer, 0);
  if (r->api_key && pier_buf_appendf(&bearer, "Bearer %s", r->api_key) != 0) return PIER_ENOMEM;
  pier_header_kv h[] = {{"Authorization", r->api_key ? bearer.ptr : NULL},
                        {"OpenAI-Organization", r->organization[0] ? r->organization : NULL},
                        {"Accept", pier_chat_call_streaming(c) ? "text/event-stream" : "application/json"}};
  int rc = pier_chat_call_post_json(c, url, h, 3, pier_buf_slice(&st->body), out);
  if (bearer.ptr) sodium_memzero(bearer.ptr, bearer.len);
  pier_buf_dispose(&bearer);
  if (rc) pier_llm_error_set(err, 500, NULL, NULL, false, "could not prepare the request to %s", r->provider);
  return rc;
}

static const char *finish_static(pier_slice tok) {
  static const char *known[] = {"stop", "length", "tool_calls", "content_filter", "function_call", NULL};
  for (int i = 0; known[i]; i++)
    if (pier_jscan_is(tok, known[i])) return known[i];
  return tok.len > 2 && tok.ptr[0] == '"' ? "stop" : NULL;
}

static long long num_at(pier_slice json, const char *path) {
  pier_slice v;
  long long n = 0;
  if (pier_jscan_find(json, path, &v) == 0 && pier_jscan_int(v, &n) == 0) return n;
  return 0;
}

/* Usage object (raw) -> pier_usage. */
static void read_usage(pier_slice u, pier_usage *out) {
  memset(out, 0, sizeof *out);
  out->prompt_tokens = num_at(u, "prompt_tokens");
  out->completion_tokens = num_at(u, "completion_tokens");
  out->total_tokens = num_at(u, "total_tokens");
  out->cache_read_tokens = num_at(u, "prompt_tokens_details.cached_tokens");
  if (!out->total_tokens) out->total_tokens = out->prompt_tokens + out->completion_tokens;
}

/* The parts of a chunk or body pier looks at, found in one pass over the top
 * level and one over choices[0] (a relayed stream is scanned once per chunk,
 * not once per field). Absent parts have ptr NULL; malformed text leaves all
 * absent, and the text is then relayed as it came. */
enum { TOP_ERROR, TOP_CHOICES, TOP_USAGE, TOP_MODEL, TOP_N };
typedef struct oparts {
  pier_slice top[TOP_N], content, finish;
} oparts;

static void split(pier_slice json, const char *message_key, oparts *p) {
  static const char *const top_keys[TOP_N] = {"error", "choices", "usage", "model"};
  p->content = p->finish = pier_slice_make(NULL, 0);
  if (pier_jscan_pick(json, top_keys, TOP_N, p->top) != 0) return;
  pier_slice first, ch[2];
  const char *const choice_keys[2] = {message_key, "finish_reason"};
  if (!p->top[TOP_CHOICES].ptr || pier_jscan_find(p->top[TOP_CHOICES], "0", &first) != 0 ||
      pier_jscan_pick(first, choice_keys, 2, ch) != 0)
    return;
  p->finish = ch[1];
  if (ch[0].ptr && ch[0].ptr[0] == '{' && pier_jscan_find(ch[0], "content", &p->content) != 0)
    p->content = pier_slice_make(NULL, 0);
}

/* Learn text/finish/usage from a chunk or body without building a tree. */
static void note(ostate *st, const oparts *p) {
  if (p->content.ptr && p->content.ptr[0] == '"') {
    pier_buf_reset(&st->scratch);
    if (pier_jscan_unescape(p->content, &st->scratch) == 0) pier_chat_call_note_text(st->call, pier_buf_slice(&st->scratch));
  }
  if (p->finish.ptr && finish_static(p->finish)) {
    pier_chat_call_note_finish(st->call, finish_static(p->finish));
    st->saw_finish = true;
  }
  pier_slice u = p->top[TOP_USAGE];
  if (u.ptr && u.ptr[0] == '{') {
    pier_usage usage;
    read_usage(u, &usage);
    pier_chat_call_note_usage(st->call, &usage);
  }
}

/* json with its top-level "model" value (span v inside json) replaced, appended to out. */
static int rewrite_model(pier_slice json, pier_slice v, const char *model, pier_buf *out) {
  if (model && v.ptr) {
    int rc = pier_buf_append(out, json.ptr, (size_t)(v.ptr - json.ptr));
    if (!rc) rc = pier_buf_append_json_str(out, pier_slice_from(model));
    if (!rc) rc = pier_buf_append(out, v.ptr + v.len, json.len - (size_t)(v.ptr + v.len - json.ptr));
    return rc;
  }
  return pier_buf_append_slice(out, json);
}

/* ---- event mode (workflows): decode into pier_chat_events -------------------- */

static int emit(ostate *st, pier_chat_event ev) { return pier_chat_call_emit(st->call, &ev); }

static int emit_tools(ostate *st, const cJSON *calls, bool whole) {
  int rc = 0, k = 0;
  for (const cJSON *t = calls ? calls->child : NULL; t && !rc; t = t->next, k++) {
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(t, "index");
    int i = cJSON_IsNumber(idx) ? idx->valueint : k;
    if (i < 0 || i >= TOOLS_MAX) return PIER_EPROTO;
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
    const char *id = pier_json_str(t, "id"), *name = pier_json_str(fn, "name"), *args = pier_json_str(fn, "arguments");
    if (!st->tool_seen[i] && (id || name)) {
      st->tool_seen[i] = 1;
      rc = emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_TOOL_START, .tool_index = i,
                                      .tool_id = pier_slice_from(id ? id : ""), .tool_name = pier_slice_from(name ? name : "")});
    }
    if (!rc && args && (args[0] || whole))
      rc = emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_TOOL_ARGS, .tool_index = i,
                                      .text = pier_slice_from(args[0] ? args : "{}")});
  }
  return rc;
}

static int emit_usage(ostate *st, const cJSON *usage) {
  if (!cJSON_IsObject(usage)) return 0;
  char *s = cJSON_PrintUnformatted(usage);
  if (!s) return PIER_ENOMEM;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_USAGE};
  read_usage(pier_slice_from(s), &ev.usage);
  cJSON_free(s);
  return emit(st, ev);
}

/* One chunk (stream) or a whole message (whole = true). */
static int json_events(ostate *st, const cJSON *obj, bool whole) {
  int rc = 0;
  if (!st->started) {
    st->started = true;
    rc = emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_START});
  }
  const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(obj, "choices"), 0);
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, whole ? "message" : "delta");
  const char *s = pier_json_str(d, "reasoning_content");
  if (!rc && s && s[0]) rc = emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_REASONING, .text = pier_slice_from(s)});
  s = pier_json_str(d, "content");
  if (!rc && s && s[0]) rc = emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_TEXT, .text = pier_slice_from(s)});
  if (!rc) rc = emit_tools(st, cJSON_GetObjectItemCaseSensitive(d, "tool_calls"), whole);
  const cJSON *fr = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
  if (!rc && cJSON_IsString(fr)) {
    char tok[64];
    snprintf(tok, sizeof tok, "\"%.40s\"", fr->valuestring);
    st->saw_finish = true;
    rc = emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_FINISH, .finish_reason = finish_static(pier_slice_from(tok))});
  }
  if (!rc) rc = emit_usage(st, cJSON_GetObjectItemCaseSensitive(obj, "usage"));
  return rc;
}

/* ---- streaming ------------------------------------------------------------------- */

static int stream_error(ostate *st, pier_slice data) {
  pier_slice msg, code;
  pier_buf_reset(&st->scratch);
  if ((pier_jscan_find(data, "error.message", &msg) != 0 || pier_jscan_unescape(msg, &st->scratch) != 0) &&
      pier_buf_append_cstr(&st->scratch, "the provider reported an error mid-stream") != 0)
    return PIER_ENOMEM;
  char type[64] = "";
  if (pier_jscan_find(data, "error.code", &code) == 0 || pier_jscan_find(data, "error.type", &code) == 0)
    if (code.len > 2 && code.len < sizeof type && code.ptr[0] == '"') snprintf(type, sizeof type, "%.*s", (int)code.len - 2, code.ptr + 1);
  int status = strstr(type, "rate_limit") ? 429 : 502;
  return emit(st, (pier_chat_event){.kind = PIER_CHAT_EV_ERROR, .http_status = status, .error_type = type,
                                    .text = pier_buf_slice(&st->scratch)});
}

static int on_sse(void *arg, pier_slice event, pier_slice data) {
  (void)event;
  ostate *st = arg;
  if (pier_slice_eq_cstr(pier_slice_trim(data), "[DONE]")) {
    st->saw_done = true;
    return 0;
  }
  oparts p;
  split(data, "delta", &p);
  pier_slice e = p.top[TOP_ERROR];
  if (e.ptr && e.ptr[0] != 'n') return stream_error(st, data);
  if (!pier_chat_call_wants_raw(st->call)) {
    char msg[128];
    cJSON *chunk = pier_json_parse(data, 64, msg, sizeof msg);
    if (!chunk) return PIER_EPROTO;
    int rc = json_events(st, chunk, false);
    cJSON_Delete(chunk);
    return rc;
  }
  note(st, &p);
  /* the usage-only chunk pier asked for on the client's behalf is not relayed */
  if (st->injected_usage && pier_slice_eq_cstr(p.top[TOP_CHOICES], "[]")) return 0;
  pier_buf *frame = &st->frame;
  pier_buf_reset(frame);
  int rc = pier_buf_append_cstr(frame, "data: ");
  if (!rc) rc = rewrite_model(data, p.top[TOP_MODEL], pier_chat_call_relay_model(st->call), frame);
  if (!rc) rc = pier_buf_append_cstr(frame, "\n\n");
  if (!rc) rc = pier_chat_call_raw(st->call, pier_buf_slice(frame));
  return rc;
}

static int o_feed(pier_chat_call *c, void *stp, const char *data, size_t len) {
  (void)c;
  ostate *st = stp;
  return pier_sse_feed(&st->sse, data, len, on_sse, st);
}

static int o_end(pier_chat_call *c, void *stp) {
  (void)c;
  ostate *st = stp;
  return st->saw_done || st->saw_finish ? 0 : PIER_EPROTO;
}

static int o_parse(pier_chat_call *c, void *stp, pier_slice body, pier_llm_error *err) {
  ostate *st = stp;
  if (pier_chat_call_wants_raw(c)) {
    oparts p;
    split(body, "message", &p);
    note(st, &p);
    pier_buf out;
    pier_buf_init(&out, 0);
    int rc = rewrite_model(body, p.top[TOP_MODEL], pier_chat_call_relay_model(c), &out);
    if (!rc) rc = pier_chat_call_raw(c, pier_buf_slice(&out));
    pier_buf_dispose(&out);
    return rc;
  }
  char msg[128];
  cJSON *resp = pier_json_parse(body, 128, msg, sizeof msg);
  if (!resp) {
    pier_llm_error_set(err, 502, "api_error", "upstream_protocol_error", false, "%s answered with invalid JSON: %s",
                       pier_chat_call_route(c)->provider, msg);
    return PIER_EPROTO;
  }
  int rc = json_events(st, resp, true);
  cJSON_Delete(resp);
  return rc;
}

/* An OpenAI-shaped error reply -> pier's error, keeping the provider's words. */
void pier_openai_error_map(const pier_route *r, int status, pier_slice body, pier_slice retry_after, pier_llm_error *out) {
  pier_buf msg;
  pier_buf_init(&msg, 900);
  pier_slice v;
  if (pier_jscan_find(body, "error.message", &v) == 0 || pier_jscan_find(body, "error", &v) == 0 ||
      pier_jscan_find(body, "message", &v) == 0 || pier_jscan_find(body, "detail", &v) == 0) {
    if (v.len && v.ptr[0] == '"' && pier_jscan_unescape(v, &msg) != 0) pier_buf_reset(&msg);
  }
  if (!msg.len && pier_buf_appendf(&msg, "HTTP %d", status) != 0) pier_buf_reset(&msg);
  char code[64] = "";
  if ((pier_jscan_find(body, "error.code", &v) == 0 || pier_jscan_find(body, "error.type", &v) == 0) && v.len > 2 &&
      v.ptr[0] == '"' && v.len < sizeof code)
    snprintf(code, sizeof code, "%.*s", (int)v.len - 2, v.ptr + 1);
  if (strstr(msg.ptr, "maximum context length") || strstr(msg.ptr, "context_length_exceeded") ||
      strstr(msg.ptr, "too many tokens"))
    snprintf(code, sizeof code, "context_length_exceeded");
  int st = status >= 500 && status != 503 && status != 504 ? 502 : status;
  const char *hint = "";
  char hintbuf[200];
  if (status == 401 || status == 403) {
    snprintf(hintbuf, sizeof hintbuf, " Fix: check %s on the collection.", r->key_var[0] ? r->key_var : "the API key");
    hint = hintbuf;
  } else if (status == 404) {
    hint = " Fix: check the model id for this provider.";
  }
  pier_llm_error_set(out, st, NULL, code[0] ? code : NULL, status == 429 || status >= 500, "%s: %s%s", r->provider,
                     msg.ptr ? msg.ptr : "", hint);
  unsigned long long secs;
  if (retry_after.len && pier_slice_to_u64(retry_after, &secs) == 0) out->retry_after_ms = secs > 3600 ? 3600000 : secs * 1000;
  pier_buf_dispose(&msg);
}

static void o_error(pier_chat_call *c, void *stp, pier_upstream_req *ur, pier_slice body, pier_llm_error *out) {
  (void)stp;
  pier_openai_error_map(pier_chat_call_route(c), pier_upstream_status(ur), body, pier_upstream_header(ur, "retry-after"),
                        out);
}

static void o_dispose(void *stp) {
  ostate *st = stp;
  pier_buf_dispose(&st->body);
  pier_buf_dispose(&st->scratch);
  pier_buf_dispose(&st->frame);
  if (st->sse_init) pier_sse_dispose(&st->sse);
}

const pier_provider_ops pier_provider_openai = {
    .name = "openai",
    .state_size = sizeof(ostate),
    .init = o_init,
    .begin = o_begin,
    .feed = o_feed,
    .end = o_end,
    .parse = o_parse,
    .error = o_error,
    .dispose = o_dispose,
};
