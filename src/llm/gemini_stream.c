/* gemini_stream.c — streamGenerateContent?alt=sse payloads -> pier_chat_events,
 * one `data:` payload at a time. Every payload is a whole
 * GenerateContentResponse (text deltas, whole function calls, finishReason and
 * a cumulative usageMetadata), so the state is a few flags and the latest
 * usage: nothing here grows with the answer. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/gemini_map_int.h"

void pier_gemini_stream_init(pier_gemini_stream *s, const pier_gemini_info *info, pier_chat_on_event on_event,
                             void *arg) {
  (void)info; /* nothing in the stream depends on the request today */
  memset(s, 0, sizeof *s);
  s->on_event = on_event;
  s->arg = arg;
}

/* Deliver one event; a callback error becomes the sticky result. */
static int deliver(pier_gemini_stream *s, pier_chat_event *ev) {
  int rc = s->on_event(s->arg, ev);
  if (rc) s->rc = rc;
  return rc;
}

static int send_start(pier_gemini_stream *s) {
  if (s->started) return 0;
  s->started = true;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_START};
  return deliver(s, &ev);
}

/* End the stream with an ERROR event made from s->error; rc is the sticky result. */
static int fail(pier_gemini_stream *s, int rc) {
  pier_chat_event ev = {.kind = PIER_CHAT_EV_ERROR, .http_status = s->error.status,
                        .error_type = pier_gemini_error_code(&s->error), .text = pier_slice_from(s->error.message)};
  s->rc = rc;
  int crc = s->on_event(s->arg, &ev);
  return crc ? (s->rc = crc) : rc;
}

static int fail_proto(pier_gemini_stream *s, const char *what) {
  pier_gemini_error *e = &s->error;
  memset(e, 0, sizeof *e);
  e->status = 502;
  e->type = "api_error";
  snprintf(e->message, sizeof e->message, "Gemini stream broke the protocol: %s", what);
  return fail(s, PIER_EPROTO);
}

static int fail_blocked(pier_gemini_stream *s, const char *msg) {
  pier_gemini_error *e = &s->error;
  memset(e, 0, sizeof *e);
  e->status = 400;
  e->type = "invalid_request_error";
  snprintf(e->code, sizeof e->code, "content_filter");
  snprintf(e->message, sizeof e->message, "%s", msg);
  return fail(s, PIER_EUPSTREAM);
}

static int send_usage_once(pier_gemini_stream *s) {
  if (s->usage_sent || !s->have_usage) return 0;
  s->usage_sent = true;
  pier_chat_event ev = {.kind = PIER_CHAT_EV_USAGE, .usage = s->usage};
  return deliver(s, &ev);
}

static int on_chunk(pier_gemini_stream *s, const cJSON *p) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(p, "usageMetadata");
  const cJSON *cand = pier_gemini_candidate0(p);
  int rc;
  if (cJSON_IsObject(u)) {
    pier_gemini_usage_read(u, &s->usage); /* cumulative: the latest one wins */
    s->have_usage = true;
  }
  if (cand && !s->finished) {
    if ((rc = send_start(s))) return rc;
    if ((rc = pier_gemini_send_parts(cand, &s->next_tool, s->on_event, s->arg))) return s->rc = rc;
    const char *fr = pier_json_str(cand, "finishReason");
    if (fr && fr[0]) {
      s->finished = true;
      pier_chat_event ev = {.kind = PIER_CHAT_EV_FINISH,
                            .finish_reason = pier_gemini_finish_reason(fr, s->next_tool > 0)};
      if ((rc = deliver(s, &ev))) return rc;
    }
  }
  return s->finished ? send_usage_once(s) : 0;
}

int pier_gemini_stream_on_data(pier_gemini_stream *s, pier_slice data) {
  char perr[64], msg[320];
  if (s->rc) return s->rc;
  data = pier_slice_trim(data);
  if (data.len == 0 || pier_slice_eq_cstr(data, "[DONE]")) return 0;
  if (data.len > PIER_GEMINI_CHUNK_BYTES_MAX) return fail_proto(s, "a data payload is over 8 MiB");
  cJSON *p = pier_json_parse(data, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(p)) {
    cJSON_Delete(p);
    return fail_proto(s, "a data payload is not a JSON object");
  }
  int rc;
  if (cJSON_GetObjectItemCaseSensitive(p, "error")) {
    pier_gemini_error_map(0, data, &s->error);
    rc = fail(s, PIER_EUPSTREAM);
  } else if (pier_gemini_blocked(p, msg, sizeof msg)) {
    rc = fail_blocked(s, msg);
  } else {
    rc = on_chunk(s, p);
  }
  cJSON_Delete(p);
  if (rc && !s->rc) s->rc = rc;
  return rc;
}

int pier_gemini_stream_end(pier_gemini_stream *s) {
  if (s->rc) return s->rc;
  if (!s->finished) return fail_proto(s, "the stream ended before any candidate had a finishReason");
  return send_usage_once(s);
}
