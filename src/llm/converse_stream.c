/* converse_stream.c — ConverseStream frames -> pier_chat_events, one frame at a
 * time. Tool state is keyed by contentBlockIndex (not arrival order) in a fixed
 * table of open tool blocks, and fragments pass straight through: nothing here
 * grows with the answer. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/converse_int.h"

void pier_converse_stream_init(pier_converse_stream *s, const pier_converse_info *info, pier_chat_on_event on_event,
                               void *arg) {
  memset(s, 0, sizeof *s);
  s->on_event = on_event;
  s->arg = arg;
  s->json_mode = info && info->json_mode;
  for (int i = 0; i < PIER_CONVERSE_STREAM_TOOLS_MAX; i++) s->blocks[i].block_index = -1;
}

/* Deliver one event; a callback error becomes the sticky result. */
static int deliver(pier_converse_stream *s, pier_chat_event *ev) {
  int rc = s->on_event(s->arg, ev);
  if (rc) s->rc = rc;
  return rc;
}

static int send_start(pier_converse_stream *s) {
  if (s->started) return 0;
  s->started = true;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_START};
  return deliver(s, &ev);
}

static int send_text(pier_converse_stream *s, pier_chat_ev_kind kind, int tool_index, pier_slice text) {
  int rc = send_start(s);
  if (rc || text.len == 0) return rc;
  pier_chat_event ev = {.kind = kind, .tool_index = tool_index, .text = text};
  return deliver(s, &ev);
}

/* End the stream with an ERROR event built from an AWS error name + JSON body. */
static int fail_aws(pier_converse_stream *s, pier_slice name, pier_slice body, int rc) {
  pier_bedrock_error_map(0, name, body, 0, &s->error);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = s->error.status,
                        .error_type = pier_bedrock_error_code(&s->error),
                        .text = pier_slice_from(s->error.message)};
  s->rc = rc;
  int crc = s->on_event(s->arg, &ev);
  return crc ? (s->rc = crc) : rc;
}

/* End the stream with a 502 for a frame that breaks the protocol. */
static int fail_proto(pier_converse_stream *s, const char *what, long long block) {
  pier_bedrock_error *e = &s->error;
  memset(e, 0, sizeof *e);
  e->status = 502;
  e->type = "api_error";
  int n = snprintf(e->message, sizeof e->message, "Bedrock stream broke the ConverseStream protocol: %s", what);
  if (block >= 0 && n > 0 && (size_t)n < sizeof e->message)
    snprintf(e->message + n, sizeof e->message - (size_t)n, " (contentBlockIndex %lld)", block);
  pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = 502, .text = pier_slice_from(e->message)};
  s->rc = PIER_EPROTO;
  int crc = s->on_event(s->arg, &ev);
  return crc ? (s->rc = crc) : PIER_EPROTO;
}

static pier_converse_stream_block *block_find(pier_converse_stream *s, long long index) {
  for (int i = 0; i < PIER_CONVERSE_STREAM_TOOLS_MAX; i++)
    if (s->blocks[i].block_index == index) return &s->blocks[i];
  return NULL;
}

/* contentBlockIndex of a payload, or -1 when absent / not a small non-negative integer. */
static long long block_index(const cJSON *p) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "contentBlockIndex");
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e9)) return -1;
  return (long long)v->valuedouble;
}

static int on_block_start(pier_converse_stream *s, const cJSON *p) {
  long long idx = block_index(p);
  const cJSON *use = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "start"), "toolUse");
  if (!use) return 0; /* text blocks usually have no start; other starts carry nothing we map */
  const char *id = pier_json_str(use, "toolUseId"), *name = pier_json_str(use, "name");
  if (idx < 0 || !id || !name) return fail_proto(s, "toolUse start without contentBlockIndex, toolUseId or name", idx);
  if (block_find(s, idx)) return fail_proto(s, "second contentBlockStart for one block", idx);
  pier_converse_stream_block *blk = block_find(s, -1);
  if (!blk) return fail_proto(s, "too many tool blocks open at once", idx);
  int rc = send_start(s);
  if (rc) return rc;
  *blk = (pier_converse_stream_block){.block_index = idx};
  if (s->json_mode && strcmp(name, PIER_CONVERSE_JSON_TOOL) == 0) {
    blk->json = true;
    return 0;
  }
  blk->tool_index = s->next_tool++;
  s->real_tools++;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_TOOL_START, .tool_index = blk->tool_index,
                        .tool_id = pier_slice_from(id), .tool_name = pier_slice_from(name)};
  return deliver(s, &ev);
}

static int tool_fragment(pier_converse_stream *s, pier_converse_stream_block *blk, pier_slice frag) {
  if (frag.len) blk->got_input = true;
  return send_text(s, blk->json ? PIER_CHAT_EV_TEXT : PIER_CHAT_EV_TOOL_ARGS, blk->tool_index, frag);
}

static int on_block_delta(pier_converse_stream *s, const cJSON *p) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "delta");
  const char *text = pier_json_str(d, "text");
  if (text) return send_text(s, PIER_CHAT_EV_TEXT, 0, pier_slice_from(text));
  const cJSON *use = cJSON_GetObjectItemCaseSensitive(d, "toolUse");
  if (use) {
    const char *frag = pier_json_str(use, "input");
    long long idx = block_index(p);
    pier_converse_stream_block *blk = idx < 0 ? NULL : block_find(s, idx);
    if (!blk) return fail_proto(s, "toolUse delta for a block that had no toolUse start", idx);
    return tool_fragment(s, blk, pier_slice_from(frag ? frag : ""));
  }
  const cJSON *rc = cJSON_GetObjectItemCaseSensitive(d, "reasoningContent");
  const char *thought = pier_json_str(rc, "text"); /* signature / redactedContent: no event for them */
  return thought ? send_text(s, PIER_CHAT_EV_REASONING, 0, pier_slice_from(thought)) : 0;
}

static int on_block_stop(pier_converse_stream *s, const cJSON *p) {
  long long idx = block_index(p);
  pier_converse_stream_block *blk = idx < 0 ? NULL : block_find(s, idx);
  if (!blk) return 0; /* a text or reasoning block */
  int rc = blk->got_input ? 0 : tool_fragment(s, blk, PIER_SLICE_LIT("{}"));
  blk->block_index = -1; /* indices are unique per message: the slot can be reused */
  return rc;
}

static int on_event(pier_converse_stream *s, pier_slice name, const cJSON *p) {
  pier_chat_event ev = {.kind = PIER_CHAT_EV_FINISH};
  if (pier_slice_eq_cstr(name, "messageStart")) return send_start(s);
  if (pier_slice_eq_cstr(name, "contentBlockStart")) return on_block_start(s, p);
  if (pier_slice_eq_cstr(name, "contentBlockDelta")) return on_block_delta(s, p);
  if (pier_slice_eq_cstr(name, "contentBlockStop")) return on_block_stop(s, p);
  if (pier_slice_eq_cstr(name, "messageStop")) {
    int rc = send_start(s);
    if (rc) return rc;
    ev.finish_reason = pier_converse_finish_for(pier_json_str(p, "stopReason"), s->json_mode, s->real_tools);
    return deliver(s, &ev);
  }
  if (pier_slice_eq_cstr(name, "metadata")) {
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(p, "usage");
    if (!cJSON_IsObject(u)) return 0;
    ev.kind = PIER_CHAT_EV_USAGE;
    pier_converse_usage_read(u, &ev.usage);
    return deliver(s, &ev);
  }
  return 0; /* event types added later are not errors */
}

/* An "error" frame carries its text in a header: wrap it as {"message":...}. */
static int on_error_frame(pier_converse_stream *s, pier_slice code, pier_slice text) {
  pier_buf body;
  pier_buf_init(&body, PIER_CONVERSE_EVENT_BYTES_MAX + 64);
  int rc = pier_buf_append_cstr(&body, "{\"message\":");
  if (!rc) rc = pier_buf_append_json_str(&body, pier_utf8_valid(text) ? text : PIER_SLICE_LIT(""));
  if (!rc) rc = pier_buf_putc(&body, '}');
  rc = fail_aws(s, code, rc ? PIER_SLICE_NULL : pier_buf_slice(&body), PIER_EUPSTREAM);
  pier_buf_dispose(&body);
  return rc;
}

int pier_converse_stream_on_frame(pier_converse_stream *s, pier_slice message_type, pier_slice name,
                                  pier_slice payload) {
  char perr[64];
  if (s->rc) return s->rc;
  if (pier_slice_eq_cstr(message_type, "exception")) return fail_aws(s, name, payload, PIER_EUPSTREAM);
  if (pier_slice_eq_cstr(message_type, "error")) return on_error_frame(s, name, payload);
  if (!pier_slice_eq_cstr(message_type, "event")) return 0;
  if (payload.len > PIER_CONVERSE_EVENT_BYTES_MAX) return fail_proto(s, "event payload over 1 MiB", -1);
  cJSON *p = pier_json_parse(payload, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(p)) {
    cJSON_Delete(p);
    return fail_proto(s, "event payload is not a JSON object", -1);
  }
  int rc = on_event(s, name, p);
  cJSON_Delete(p);
  if (rc && !s->rc) s->rc = rc;
  return rc;
}
