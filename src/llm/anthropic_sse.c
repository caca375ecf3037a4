/* anthropic_sse.c — pier_chat_events -> Messages API bytes: the SSE writer
 * (`event: <name>\ndata: <json>\n\n` frames) and the aggregator (one
 * `message` object), for pier serving Claude Code. Output is appended to a
 * pier_buf, never built as a cJSON tree per token. Invariant: a group of
 * frames for one event is appended whole or not at all, and the writer's
 * state changes only after its bytes are in. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "base/util.h"
#include "llm/anthropic_int.h"

#define TOOL_ID_BYTES_MAX 1024 /* tool call id or name echoed back */
#define ERROR_MESSAGE_BYTES_MAX 4096

static int rollback(pier_buf *b, size_t mark, int rc) {
  if (rc && b->len > mark) {
    b->len = mark;
    b->ptr[mark] = '\0';
  }
  return rc;
}

const char *pier_anthropic_stop_reason(const char *finish_reason) {
  static const char *const map[][2] = {
    {"stop", "end_turn"}, {"length", "max_tokens"}, {"tool_calls", "tool_use"}, {"content_filter", "refusal"}};
  for (size_t i = 0; finish_reason && i < sizeof map / sizeof map[0]; i++)
    if (strcmp(finish_reason, map[i][0]) == 0) return map[i][1];
  return "end_turn";
}

int pier_anthropic_meta_head(pier_buf *b, const pier_anthropic_meta *m) {
  char gen[32];
  const char *id = m->id;
  if (!m->model) return PIER_EINVAL;
  size_t model_len = strlen(m->model);
  if (model_len > PIER_OPENAI_MODEL_BYTES_MAX) return PIER_ETOOBIG;
  if (!id) {
    memcpy(gen, "msg_", 4);
    pier_random_alnum(gen + 4, 24);
    id = gen;
  }
  int rc;
  if ((rc = pier_buf_append_cstr(b, "\"id\":")) || (rc = pier_buf_append_json_str(b, pier_slice_from(id))) ||
      (rc = pier_buf_append_cstr(b, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":")))
    return rc;
  return pier_buf_append_json_str(b, pier_slice_make(m->model, model_len));
}

/* {"input_tokens","cache_creation_input_tokens","cache_read_input_tokens","output_tokens"};
 * Anthropic's input_tokens leaves the cached tokens out. */
static int usage_append(pier_buf *b, const pier_usage *u, bool have, int64_t input_fallback) {
  int64_t input = have ? u->prompt_tokens - u->cache_read_tokens - u->cache_creation_tokens : input_fallback;
  return pier_buf_appendf(b,
                          "{\"input_tokens\":%" PRId64 ",\"cache_creation_input_tokens\":%" PRId64
                          ",\"cache_read_input_tokens\":%" PRId64 ",\"output_tokens\":%" PRId64 "}",
                          input < 0 ? 0 : input, have ? u->cache_creation_tokens : 0,
                          have ? u->cache_read_tokens : 0, have ? u->completion_tokens : 0);
}

static int kind_of(pier_chat_ev_kind k) {
  return k == PIER_CHAT_EV_TEXT ? PIER_ANT_BLK_TEXT : k == PIER_CHAT_EV_REASONING ? PIER_ANT_BLK_THINKING
                                                                                   : PIER_ANT_BLK_TOOL;
}

/* ---- SSE writer ------------------------------------------------------------ */

int pier_anthropic_sse_init(pier_anthropic_sse *w, const pier_anthropic_meta *meta, pier_buf *out) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->input_tokens = meta->input_tokens;
  pier_buf_init(&w->head, 0);
  int rc = pier_anthropic_meta_head(&w->head, meta);
  if (rc) pier_buf_dispose(&w->head);
  return rc;
}

void pier_anthropic_sse_dispose(pier_anthropic_sse *w) { pier_buf_dispose(&w->head); }

/* `event: <name>\ndata: {"type":"<name>"` — the frame's JSON is closed by the caller. */
static int frame(pier_anthropic_sse *w, const char *name) {
  return pier_buf_appendf(w->out, "event: %s\ndata: {\"type\":\"%s\"", name, name);
}

static int write_start(pier_anthropic_sse *w) {
  if (w->started) return 0;
  size_t mark = w->out->len;
  int rc;
  if ((rc = frame(w, "message_start")) || (rc = pier_buf_append_cstr(w->out, ",\"message\":{")) ||
      (rc = pier_buf_append_slice(w->out, pier_buf_slice(&w->head))) ||
      (rc = pier_buf_append_cstr(w->out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":")) ||
      (rc = usage_append(w->out, &w->usage, false, w->input_tokens)) || (rc = pier_buf_append_cstr(w->out, "}}\n\n")))
    return rollback(w->out, mark, rc);
  w->started = true;
  return 0;
}

static int append_stop(pier_anthropic_sse *w) {
  int rc = frame(w, "content_block_stop");
  return rc ? rc : pier_buf_appendf(w->out, ",\"index\":%d}\n\n", w->open_index);
}

/* content_block_start for a new block at next_index. */
static int append_block_start(pier_anthropic_sse *w, int kind, const pier_chat_event *ev) {
  int rc = frame(w, "content_block_start");
  if (!rc) rc = pier_buf_appendf(w->out, ",\"index\":%d,\"content_block\":", w->next_index);
  if (rc) return rc;
  if (kind == PIER_ANT_BLK_TEXT) return pier_buf_append_cstr(w->out, "{\"type\":\"text\",\"text\":\"\"}}\n\n");
  if (kind == PIER_ANT_BLK_THINKING)
    return pier_buf_append_cstr(w->out, "{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n");
  if ((rc = pier_buf_append_cstr(w->out, "{\"type\":\"tool_use\",\"id\":")) ||
      (rc = pier_buf_append_json_str(w->out, ev->tool_id)) || (rc = pier_buf_append_cstr(w->out, ",\"name\":")) ||
      (rc = pier_buf_append_json_str(w->out, ev->tool_name)))
    return rc;
  return pier_buf_append_cstr(w->out, ",\"input\":{}}}\n\n");
}

static int append_delta(pier_anthropic_sse *w, int kind, int index, pier_slice text) {
  static const char *const heads[] = {"", "\"text_delta\",\"text\":", "\"thinking_delta\",\"thinking\":",
                                      "\"input_json_delta\",\"partial_json\":"};
  int rc = frame(w, "content_block_delta");
  if (!rc) rc = pier_buf_appendf(w->out, ",\"index\":%d,\"delta\":{\"type\":%s", index, heads[kind]);
  if (!rc) rc = pier_buf_append_json_str(w->out, text);
  return rc ? rc : pier_buf_append_cstr(w->out, "}}\n\n");
}

/* Close the open block (if any) and open one of `kind`; state committed by the caller. */
static int append_switch(pier_anthropic_sse *w, int kind, const pier_chat_event *ev) {
  int rc = w->open_kind ? append_stop(w) : 0;
  return rc ? rc : append_block_start(w, kind, ev);
}

static void commit_open(pier_anthropic_sse *w, int kind, int tool) {
  w->open_kind = kind;
  w->open_index = w->next_index++;
  w->open_tool = tool;
  if (kind == PIER_ANT_BLK_TOOL) w->tools++;
}

/* TEXT / REASONING: a delta, in a new block when the open one is of another kind. */
static int write_text(pier_anthropic_sse *w, const pier_chat_event *ev) {
  int kind = kind_of(ev->kind), rc;
  if (!ev->text.len) return 0;
  size_t mark = w->out->len;
  bool open = w->open_kind != kind;
  if (open && (rc = append_switch(w, kind, ev))) return rollback(w->out, mark, rc);
  if ((rc = append_delta(w, kind, open ? w->next_index : w->open_index, ev->text))) return rollback(w->out, mark, rc);
  if (open) commit_open(w, kind, 0);
  return 0;
}

static int write_tool_start(pier_anthropic_sse *w, const pier_chat_event *ev) {
  size_t mark = w->out->len;
  int rc = append_switch(w, PIER_ANT_BLK_TOOL, ev);
  if (rc) return rollback(w->out, mark, rc);
  commit_open(w, PIER_ANT_BLK_TOOL, ev->tool_index);
  return 0;
}

static int write_tool_args(pier_anthropic_sse *w, const pier_chat_event *ev) {
  if (w->open_kind != PIER_ANT_BLK_TOOL || w->open_tool != ev->tool_index) return PIER_EPROTO;
  if (!ev->text.len) return 0;
  size_t mark = w->out->len;
  return rollback(w->out, mark, append_delta(w, PIER_ANT_BLK_TOOL, w->open_index, ev->text));
}

static int close_block(pier_anthropic_sse *w) {
  if (!w->open_kind) return 0;
  size_t mark = w->out->len;
  int rc = append_stop(w);
  if (rc) return rollback(w->out, mark, rc);
  w->open_kind = 0;
  return 0;
}

static int write_message_delta(pier_anthropic_sse *w) {
  const char *stop = w->finish ? pier_anthropic_stop_reason(w->finish) : w->tools ? "tool_use" : "end_turn";
  size_t mark = w->out->len;
  int rc;
  if ((rc = frame(w, "message_delta")) ||
      (rc = pier_buf_appendf(w->out, ",\"delta\":{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":", stop)) ||
      (rc = usage_append(w->out, &w->usage, w->have_usage, w->input_tokens)) ||
      (rc = pier_buf_append_cstr(w->out, "}\n\n")))
    return rollback(w->out, mark, rc);
  w->delta_written = true;
  return 0;
}

static int write_error(pier_anthropic_sse *w, const pier_chat_event *ev) {
  const char *type = pier_anthropic_error_type(ev->http_status ? ev->http_status : 502);
  size_t mark = w->out->len;
  int rc;
  if ((rc = frame(w, "error")) ||
      (rc = pier_buf_appendf(w->out, ",\"error\":{\"type\":\"%s\",\"message\":", type)) ||
      (rc = pier_buf_append_json_str(w->out, ev->text)) || (rc = pier_buf_append_cstr(w->out, "}}\n\n")))
    return rollback(w->out, mark, rc);
  w->done = true;
  return 0;
}

int pier_anthropic_sse_on_event(void *arg, const pier_chat_event *ev) {
  pier_anthropic_sse *w = arg;
  int rc;
  if (w->done) return 0;
  if (ev->kind == PIER_CHAT_EV_ERROR) return write_error(w, ev);
  if ((rc = write_start(w))) return rc;
  switch (ev->kind) {
  case PIER_CHAT_EV_TEXT:
  case PIER_CHAT_EV_REASONING: return write_text(w, ev);
  case PIER_CHAT_EV_TOOL_START: return write_tool_start(w, ev);
  case PIER_CHAT_EV_TOOL_ARGS: return write_tool_args(w, ev);
  case PIER_CHAT_EV_FINISH:
    if ((rc = close_block(w))) return rc;
    w->finish = ev->finish_reason;
    return w->have_usage && !w->delta_written ? write_message_delta(w) : 0;
  case PIER_CHAT_EV_USAGE:
    if (w->delta_written) return 0;
    w->usage = ev->usage;
    w->have_usage = true;
    return w->finish ? write_message_delta(w) : 0;
  default: return 0; /* START: message_start is written above */
  }
}

int pier_anthropic_sse_ping(pier_anthropic_sse *w) {
  if (w->done) return 0;
  int rc = write_start(w);
  return rc ? rc : pier_buf_append_cstr(w->out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

int pier_anthropic_sse_done(pier_anthropic_sse *w) {
  int rc;
  if (w->done) return 0;
  if ((rc = write_start(w)) || (rc = close_block(w))) return rc;
  if (!w->delta_written && (rc = write_message_delta(w))) return rc;
  if ((rc = pier_buf_append_cstr(w->out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))) return rc;
  w->done = true;
  return 0;
}

/* ---- aggregator --------------------------------------------------------------- */

int pier_anthropic_agg_init(pier_anthropic_agg *a, const pier_anthropic_meta *meta) {
  memset(a, 0, sizeof *a);
  a->input_tokens = meta->input_tokens;
  pier_buf_init(&a->head, 0);
  pier_buf_init(&a->content, PIER_ANTHROPIC_AGG_BYTES_MAX);
  pier_buf_init(&a->cur, PIER_ANTHROPIC_AGG_BYTES_MAX);
  pier_buf_init(&a->cur_id, TOOL_ID_BYTES_MAX);
  pier_buf_init(&a->cur_name, TOOL_ID_BYTES_MAX);
  pier_buf_init(&a->error_message, ERROR_MESSAGE_BYTES_MAX);
  int rc = pier_anthropic_meta_head(&a->head, meta);
  if (rc) pier_anthropic_agg_dispose(a);
  return rc;
}

void pier_anthropic_agg_dispose(pier_anthropic_agg *a) {
  pier_buf_dispose(&a->head);
  pier_buf_dispose(&a->content);
  pier_buf_dispose(&a->cur);
  pier_buf_dispose(&a->cur_id);
  pier_buf_dispose(&a->cur_name);
  pier_buf_dispose(&a->error_message);
}

static void agg_fail(pier_anthropic_agg *a, int status, const char *type, pier_slice message) {
  a->error_status = status;
  snprintf(a->error_type, sizeof a->error_type, "%s", type ? type : "");
  pier_buf_reset(&a->error_message);
  size_t n = message.len < ERROR_MESSAGE_BYTES_MAX ? message.len : ERROR_MESSAGE_BYTES_MAX;
  if (pier_buf_append(&a->error_message, message.ptr, n)) pier_buf_reset(&a->error_message);
}

/* `{"type":"tool_use","id","name","input":<arguments, compact>}`; arguments
 * that are not a JSON object turn the answer into a 502. */
static int render_tool(pier_anthropic_agg *a, pier_buf *o) {
  char perr[64];
  const char *args = a->cur.len ? a->cur.ptr : "{}";
  cJSON *input = pier_json_parse(pier_slice_from(args), PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  int rc = 0;
  if (!cJSON_IsObject(input))
    agg_fail(a, 502, NULL, PIER_SLICE_LIT("the model's tool call arguments are not a JSON object"));
  else if ((rc = pier_buf_append_cstr(o, "{\"type\":\"tool_use\",\"id\":")) ||
           (rc = pier_buf_append_json_str(o, pier_buf_slice(&a->cur_id))) ||
           (rc = pier_buf_append_cstr(o, ",\"name\":")) ||
           (rc = pier_buf_append_json_str(o, pier_buf_slice(&a->cur_name))) ||
           (rc = pier_buf_append_cstr(o, ",\"input\":")) || (rc = pier_json_append(o, input)))
    ;
  else
    rc = pier_buf_putc(o, '}');
  cJSON_Delete(input);
  return rc;
}

/* Render the open block into content and close it. */
static int agg_close(pier_anthropic_agg *a) {
  pier_buf *o = &a->content;
  size_t mark = o->len;
  int rc = 0;
  if (!a->cur_kind) return 0;
  if (a->nblocks >= PIER_ANTHROPIC_AGG_BLOCKS_MAX) return PIER_ETOOBIG;
  if (a->nblocks && (rc = pier_buf_putc(o, ','))) return rc;
  if (a->cur_kind == PIER_ANT_BLK_TOOL) {
    rc = render_tool(a, o);
  } else {
    bool text = a->cur_kind == PIER_ANT_BLK_TEXT;
    const char *head = text ? "{\"type\":\"text\",\"text\":" : "{\"type\":\"thinking\",\"thinking\":";
    if (!(rc = pier_buf_append_cstr(o, head)) && !(rc = pier_buf_append_json_str(o, pier_buf_slice(&a->cur))))
      rc = pier_buf_append_cstr(o, text ? "}" : ",\"signature\":\"\"}");
  }
  if (rc) return rollback(o, mark, rc);
  a->nblocks++;
  a->cur_kind = 0;
  pier_buf_reset(&a->cur);
  return 0;
}

static int agg_tool_start(pier_anthropic_agg *a, const pier_chat_event *ev) {
  int rc = agg_close(a);
  if (rc) return rc;
  pier_buf_reset(&a->cur_id);
  pier_buf_reset(&a->cur_name);
  if ((rc = pier_buf_append_slice(&a->cur_id, ev->tool_id)) ||
      (rc = pier_buf_append_slice(&a->cur_name, ev->tool_name)))
    return rc;
  a->cur_kind = PIER_ANT_BLK_TOOL;
  a->cur_tool = ev->tool_index;
  a->tools++;
  return 0;
}

int pier_anthropic_agg_on_event(void *arg, const pier_chat_event *ev) {
  pier_anthropic_agg *a = arg;
  int rc;
  switch (ev->kind) {
  case PIER_CHAT_EV_TEXT:
  case PIER_CHAT_EV_REASONING:
    if (!ev->text.len) return 0;
    if (a->cur_kind != kind_of(ev->kind) && (rc = agg_close(a))) return rc;
    a->cur_kind = kind_of(ev->kind);
    return pier_buf_append_slice(&a->cur, ev->text);
  case PIER_CHAT_EV_TOOL_START: return agg_tool_start(a, ev);
  case PIER_CHAT_EV_TOOL_ARGS:
    if (a->cur_kind != PIER_ANT_BLK_TOOL || a->cur_tool != ev->tool_index) return PIER_EPROTO;
    return pier_buf_append_slice(&a->cur, ev->text);
  case PIER_CHAT_EV_FINISH: a->finish = ev->finish_reason; return agg_close(a);
  case PIER_CHAT_EV_USAGE: a->usage = ev->usage, a->have_usage = true; return 0;
  case PIER_CHAT_EV_ERROR:
    agg_fail(a, ev->http_status ? ev->http_status : 502, ev->error_type, ev->text);
    return 0;
  default: return 0;
  }
}

int pier_anthropic_agg_finish(pier_anthropic_agg *a, pier_buf *out) {
  size_t mark = out->len;
  int rc = agg_close(a);
  if (rc) return rc;
  if (a->error_status) {
    rc = pier_anthropic_error_body(out, a->error_status, pier_buf_slice(&a->error_message));
    return rc ? rc : PIER_EUPSTREAM;
  }
  const char *stop = a->finish ? pier_anthropic_stop_reason(a->finish) : a->tools ? "tool_use" : "end_turn";
  if ((rc = pier_buf_putc(out, '{')) || (rc = pier_buf_append_slice(out, pier_buf_slice(&a->head))) ||
      (rc = pier_buf_append_cstr(out, ",\"content\":[")) ||
      (rc = pier_buf_append_slice(out, pier_buf_slice(&a->content))) ||
      (rc = pier_buf_appendf(out, "],\"stop_reason\":\"%s\",\"stop_sequence\":null,\"usage\":", stop)) ||
      (rc = usage_append(out, &a->usage, a->have_usage, a->input_tokens)) || (rc = pier_buf_putc(out, '}')))
    return rollback(out, mark, rc);
  return 0;
}
