/* anthropic_stream.c — Messages API SSE events -> pier_chat_events, one event
 * at a time. Grammar: message_start, then per block content_block_start,
 * content_block_delta*, content_block_stop; message_delta (stop_reason,
 * usage); message_stop; ping and error anywhere. Block state is keyed by the
 * block's `index` in a fixed table and fragments pass straight through:
 * nothing here grows with the answer. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/anthropic_int.h"

void pier_anthropic_stream_init(pier_anthropic_stream *s, const pier_anthropic_info *info,
                                pier_chat_on_event on_event, void *arg) {
  memset(s, 0, sizeof *s);
  s->on_event = on_event;
  s->arg = arg;
  s->json_mode = info && info->json_mode;
  for (int i = 0; i < PIER_ANTHROPIC_STREAM_BLOCKS_MAX; i++) s->blocks[i].index = -1;
}

/* Deliver one event; a callback error becomes the sticky result. */
static int deliver(pier_anthropic_stream *s, pier_chat_event *ev) {
  int rc = s->on_event(s->arg, ev);
  if (rc) s->rc = rc;
  return rc;
}

static int send_start(pier_anthropic_stream *s) {
  if (s->started) return 0;
  s->started = true;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_START};
  return deliver(s, &ev);
}

static int send_text(pier_anthropic_stream *s, pier_chat_ev_kind kind, int tool_index, const char *text) {
  int rc = send_start(s);
  if (rc || !text || !text[0]) return rc;
  pier_chat_event ev = {.kind = kind, .tool_index = tool_index, .text = pier_slice_from(text)};
  return deliver(s, &ev);
}

/* End the stream with an ERROR event for an `error` event's data. */
static int fail_error(pier_anthropic_stream *s, pier_slice data) {
  pier_anthropic_error_map(0, data, &s->error);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = s->error.status,
                        .error_type = s->error.code[0] ? s->error.code : NULL,
                        .text = pier_slice_from(s->error.message)};
  s->rc = PIER_EUPSTREAM;
  int crc = s->on_event(s->arg, &ev);
  return crc ? (s->rc = crc) : PIER_EUPSTREAM;
}

/* End the stream with a 502 for an event that breaks the protocol. */
static int fail_proto(pier_anthropic_stream *s, const char *what, long long index) {
  pier_anthropic_error *e = &s->error;
  memset(e, 0, sizeof *e);
  e->status = 502;
  e->type = "api_error";
  int n = snprintf(e->message, sizeof e->message, "Anthropic stream broke the Messages streaming protocol: %s", what);
  if (index >= 0 && n > 0 && (size_t)n < sizeof e->message)
    snprintf(e->message + n, sizeof e->message - (size_t)n, " (content block %lld)", index);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = 502, .text = pier_slice_from(e->message)};
  s->rc = PIER_EPROTO;
  int crc = s->on_event(s->arg, &ev);
  return crc ? (s->rc = crc) : PIER_EPROTO;
}

static pier_anthropic_stream_block *block_find(pier_anthropic_stream *s, long long index) {
  for (int i = 0; i < PIER_ANTHROPIC_STREAM_BLOCKS_MAX; i++)
    if (s->blocks[i].index == index) return &s->blocks[i];
  return NULL;
}

/* `index` of an event, or -1 when absent / not a small non-negative integer. */
static long long block_index(const cJSON *p) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "index");
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e9)) return -1;
  return (long long)v->valuedouble;
}

/* Usage members present in j override the running totals (message_delta's
 * counts are cumulative). */
static void usage_merge(pier_usage *u, const cJSON *j) {
  pier_usage n;
  if (!cJSON_IsObject(j)) return;
  pier_anthropic_usage_read(j, &n);
  int64_t input = u->prompt_tokens - u->cache_read_tokens - u->cache_creation_tokens;
  if (cJSON_GetObjectItemCaseSensitive(j, "input_tokens"))
    input = n.prompt_tokens - n.cache_read_tokens - n.cache_creation_tokens;
  if (cJSON_GetObjectItemCaseSensitive(j, "cache_read_input_tokens")) u->cache_read_tokens = n.cache_read_tokens;
  if (cJSON_GetObjectItemCaseSensitive(j, "cache_creation_input_tokens"))
    u->cache_creation_tokens = n.cache_creation_tokens;
  if (cJSON_GetObjectItemCaseSensitive(j, "output_tokens")) u->completion_tokens = n.completion_tokens;
  u->prompt_tokens = input + u->cache_read_tokens + u->cache_creation_tokens;
  u->total_tokens = u->prompt_tokens + u->completion_tokens;
}

/* A tool_use start: TOOL_START (or, in JSON mode, the json_tool_call whose
 * input streams out as the answer text). */
static int tool_start(pier_anthropic_stream *s, pier_anthropic_stream_block *blk, const cJSON *cb) {
  const char *id = pier_json_str(cb, "id"), *name = pier_json_str(cb, "name");
  if (!id || !name) return fail_proto(s, "tool_use start without id or name", blk->index);
  if (s->json_mode && strcmp(name, PIER_ANTHROPIC_JSON_TOOL) == 0) {
    blk->kind = PIER_ANT_BLK_JSON;
    return 0;
  }
  blk->kind = PIER_ANT_BLK_TOOL;
  blk->tool_index = s->next_tool++;
  s->real_tools++;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_TOOL_START, .tool_index = blk->tool_index,
                        .tool_id = pier_slice_from(id), .tool_name = pier_slice_from(name)};
  return deliver(s, &ev);
}

static int on_block_start(pier_anthropic_stream *s, const cJSON *p) {
  long long idx = block_index(p);
  const cJSON *cb = cJSON_GetObjectItemCaseSensitive(p, "content_block");
  const char *type = pier_json_str(cb, "type");
  if (idx < 0 || !type) return fail_proto(s, "content_block_start without index or content_block.type", idx);
  if (strcmp(type, "text") == 0) return send_text(s, PIER_CHAT_EV_TEXT, 0, pier_json_str(cb, "text"));
  if (strcmp(type, "thinking") == 0) return send_text(s, PIER_CHAT_EV_REASONING, 0, pier_json_str(cb, "thinking"));
  /* tool_use, and blocks OpenAI has no place for (server_tool_use, redacted_thinking, ...) */
  if (block_find(s, idx)) return fail_proto(s, "second content_block_start for one block", idx);
  pier_anthropic_stream_block *blk = block_find(s, -1);
  if (!blk) return fail_proto(s, "too many content blocks open at once", idx);
  int rc = send_start(s);
  if (rc) return rc;
  *blk = (pier_anthropic_stream_block){.index = idx, .kind = PIER_ANT_BLK_OTHER};
  return strcmp(type, "tool_use") == 0 ? tool_start(s, blk, cb) : 0;
}

static int tool_fragment(pier_anthropic_stream *s, pier_anthropic_stream_block *blk, const char *frag) {
  if (blk->kind == PIER_ANT_BLK_OTHER) return 0;
  if (frag[0]) blk->got_input = true;
  return send_text(s, blk->kind == PIER_ANT_BLK_JSON ? PIER_CHAT_EV_TEXT : PIER_CHAT_EV_TOOL_ARGS, blk->tool_index,
                   frag);
}

static int on_block_delta(pier_anthropic_stream *s, const cJSON *p) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "delta");
  const char *type = pier_json_str(d, "type");
  if (!type) return fail_proto(s, "content_block_delta without delta.type", block_index(p));
  if (strcmp(type, "text_delta") == 0) return send_text(s, PIER_CHAT_EV_TEXT, 0, pier_json_str(d, "text"));
  if (strcmp(type, "thinking_delta") == 0) return send_text(s, PIER_CHAT_EV_REASONING, 0, pier_json_str(d, "thinking"));
  if (strcmp(type, "input_json_delta") != 0) return 0; /* signature_delta, citations_delta: nothing to carry */
  long long idx = block_index(p);
  pier_anthropic_stream_block *blk = idx < 0 ? NULL : block_find(s, idx);
  if (!blk) return fail_proto(s, "input_json_delta for a block that had no tool_use start", idx);
  const char *frag = pier_json_str(d, "partial_json");
  return tool_fragment(s, blk, frag ? frag : "");
}

static int on_block_stop(pier_anthropic_stream *s, const cJSON *p) {
  long long idx = block_index(p);
  pier_anthropic_stream_block *blk = idx < 0 ? NULL : block_find(s, idx);
  if (!blk) return 0; /* a text or thinking block */
  int rc = blk->got_input || blk->kind != PIER_ANT_BLK_TOOL ? 0 : tool_fragment(s, blk, "{}");
  blk->index = -1; /* indices are unique per message: the slot can be reused */
  return rc;
}

static int send_finish(pier_anthropic_stream *s) {
  int rc = send_start(s);
  if (rc || s->finished) return rc;
  s->finished = true;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_FINISH,
                        .finish_reason = s->stop_reason ? s->stop_reason
                                         : s->real_tools ? "tool_calls" : "stop"};
  return deliver(s, &ev);
}

static int on_message_delta(pier_anthropic_stream *s, const cJSON *p) {
  const char *stop = pier_json_str(cJSON_GetObjectItemCaseSensitive(p, "delta"), "stop_reason");
  usage_merge(&s->usage, cJSON_GetObjectItemCaseSensitive(p, "usage"));
  if (stop) s->stop_reason = pier_anthropic_finish_for(stop, s->json_mode, s->real_tools);
  return stop ? send_finish(s) : 0;
}

static int on_message_stop(pier_anthropic_stream *s) {
  int rc = send_finish(s);
  if (rc) return rc;
  s->stopped = true;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_USAGE, .usage = s->usage};
  return deliver(s, &ev);
}

static int dispatch(pier_anthropic_stream *s, pier_slice name, const cJSON *p) {
  if (pier_slice_eq_cstr(name, "message_start")) {
    usage_merge(&s->usage, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "message"), "usage"));
    return send_start(s);
  }
  if (pier_slice_eq_cstr(name, "content_block_start")) return on_block_start(s, p);
  if (pier_slice_eq_cstr(name, "content_block_delta")) return on_block_delta(s, p);
  if (pier_slice_eq_cstr(name, "content_block_stop")) return on_block_stop(s, p);
  if (pier_slice_eq_cstr(name, "message_delta")) return on_message_delta(s, p);
  if (pier_slice_eq_cstr(name, "message_stop")) return on_message_stop(s);
  return 0; /* ping, and event types added later */
}

int pier_anthropic_stream_on_event(pier_anthropic_stream *s, pier_slice event_name, pier_slice data) {
  char perr[64];
  if (s->rc) return s->rc;
  if (pier_slice_eq_cstr(event_name, "ping")) return 0;
  if (pier_slice_eq_cstr(event_name, "error")) return fail_error(s, data);
  if (data.len > PIER_ANTHROPIC_EVENT_BYTES_MAX) return fail_proto(s, "event data over 1 MiB", -1);
  cJSON *p = pier_json_parse(data, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  const char *type = pier_json_str(p, "type");
  if (!cJSON_IsObject(p) || (!event_name.len && !type)) {
    cJSON_Delete(p);
    return fail_proto(s, "event data is not a JSON object with a type", -1);
  }
  int rc;
  if (!event_name.len && strcmp(type, "error") == 0)
    rc = fail_error(s, data);
  else
    rc = dispatch(s, event_name.len ? event_name : pier_slice_from(type), p);
  cJSON_Delete(p);
  if (rc && !s->rc) s->rc = rc;
  return rc;
}

int pier_anthropic_stream_end(pier_anthropic_stream *s) {
  if (s->rc) return s->rc;
  if (s->stopped) return 0;
  return fail_proto(s, "the stream ended before message_stop", -1);
}
