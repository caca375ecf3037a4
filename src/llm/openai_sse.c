/* openai_sse.c — OpenAI chunk/completion/error bytes from pier_chat_events.
 * Invariant: a frame is appended whole or not at all (a failed append rolls
 * `out` back to where the frame began), so a capped buffer never holds half a
 * `data:` line. */
#include "llm/openai_sse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define TOOL_ID_BYTES_MAX 1024 /* tool call id or name echoed back */
#define ERROR_MESSAGE_BYTES_MAX 4096

struct pier_openai_agg_tool {
  int index;  /* OpenAI tool_calls[].index */
  char *id;   /* owned */
  char *name; /* owned */
  pier_buf args;
};

/* Roll `b` back to `mark` after a failed frame; passes rc through. */
static int rollback(pier_buf *b, size_t mark, int rc) {
  if (rc && b->len > mark) {
    b->len = mark;
    b->ptr[mark] = '\0';
  }
  return rc;
}

const char *pier_openai_error_type(int status) {
  switch (status) {
  case 400: case 413: case 422: return "invalid_request_error";
  case 401: return "authentication_error";
  case 403: return "permission_error";
  case 404: return "not_found_error";
  case 408: case 504: return "timeout_error";
  case 429: return "rate_limit_error";
  default: return "api_error";
  }
}

int pier_openai_error_body(pier_buf *out, int status, const char *type, const char *code,
                           pier_slice message) {
  size_t mark = out->len;
  int rc;
  if (!type) type = pier_openai_error_type(status);
  if ((rc = pier_buf_append_cstr(out, "{\"error\":{\"message\":")) ||
      (rc = pier_buf_append_json_str(out, message)) ||
      (rc = pier_buf_append_cstr(out, ",\"type\":")) ||
      (rc = pier_buf_append_json_str(out, pier_slice_from(type))) ||
      (rc = pier_buf_append_cstr(out, ",\"code\":")))
    return rollback(out, mark, rc);
  rc = code ? pier_buf_append_json_str(out, pier_slice_from(code)) : pier_buf_append_cstr(out, "null");
  if (!rc) rc = pier_buf_append_cstr(out, ",\"param\":null}}");
  return rollback(out, mark, rc);
}

int pier_openai_usage_append(pier_buf *out, const pier_usage *u) {
  return pier_buf_appendf(out,
                          "{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%" PRId64
                          ",\"total_tokens\":%" PRId64 ",\"prompt_tokens_details\":{\"cached_tokens\":%" PRId64
                          "},\"cache_creation_input_tokens\":%" PRId64 ",\"cache_read_input_tokens\":%" PRId64 "}",
                          u->prompt_tokens, u->completion_tokens, u->total_tokens, u->cache_read_tokens,
                          u->cache_creation_tokens, u->cache_read_tokens);
}

/* `{"id":..,"object":<object>,"created":..,"model":..` — the members every
 * chunk or completion starts with. */
static int meta_head(pier_buf *b, const pier_openai_meta *m, const char *object) {
  char gen[40];
  const char *id = m->id;
  if (!m->model) return PIER_EINVAL;
  size_t model_len = strlen(m->model);
  if (model_len > PIER_OPENAI_MODEL_BYTES_MAX) return PIER_ETOOBIG;
  if (!id) {
    memcpy(gen, "chatcmpl-", 9);
    pier_random_alnum(gen + 9, 24);
    id = gen;
  }
  int64_t created = m->created ? m->created : pier_now_us() / 1000000;
  int rc;
  if ((rc = pier_buf_append_cstr(b, "{\"id\":")) || (rc = pier_buf_append_json_str(b, pier_slice_from(id))) ||
      (rc = pier_buf_appendf(b, ",\"object\":\"%s\",\"created\":%" PRId64 ",\"model\":", object, created)) ||
      (rc = pier_buf_append_json_str(b, pier_slice_make(m->model, model_len))))
    return rc;
  return 0;
}

/* ---- SSE writer --------------------------------------------------------- */

int pier_openai_sse_init(pier_openai_sse *w, const pier_openai_meta *meta, pier_buf *out) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->include_usage = meta->include_usage;
  pier_buf_init(&w->prefix, 0);
  int rc = meta_head(&w->prefix, meta, "chat.completion.chunk");
  if (rc) pier_buf_dispose(&w->prefix);
  return rc;
}

void pier_openai_sse_dispose(pier_openai_sse *w) { pier_buf_dispose(&w->prefix); }

/* `data: {<prefix>,"choices":[{"index":0,"delta":{` */
static int chunk_begin(pier_openai_sse *w) {
  int rc;
  if ((rc = pier_buf_append_cstr(w->out, "data: ")) ||
      (rc = pier_buf_append_slice(w->out, pier_buf_slice(&w->prefix))))
    return rc;
  return pier_buf_append_cstr(w->out, ",\"choices\":[{\"index\":0,\"delta\":{");
}

/* `},"finish_reason":null|"x"}][,"usage":null]}\n\n` */
static int chunk_end(pier_openai_sse *w, const char *finish) {
  int rc = pier_buf_append_cstr(w->out, "},\"finish_reason\":");
  if (!rc) rc = finish ? pier_buf_append_json_str(w->out, pier_slice_from(finish)) : pier_buf_append_cstr(w->out, "null");
  if (!rc) rc = pier_buf_append_cstr(w->out, "}]");
  if (!rc && w->include_usage) rc = pier_buf_append_cstr(w->out, ",\"usage\":null");
  if (!rc) rc = pier_buf_append_cstr(w->out, "}\n\n");
  return rc;
}

/* One delta chunk: `delta` members are raw JSON `head` then, when val.ptr is
 * set, a JSON string and raw `tail`. */
static int write_delta(pier_openai_sse *w, const char *head, pier_slice val, const char *tail) {
  size_t mark = w->out->len;
  int rc;
  if ((rc = chunk_begin(w)) || (rc = pier_buf_append_cstr(w->out, head))) return rollback(w->out, mark, rc);
  if (val.ptr && ((rc = pier_buf_append_json_str(w->out, val)) || (rc = pier_buf_append_cstr(w->out, tail))))
    return rollback(w->out, mark, rc);
  return rollback(w->out, mark, chunk_end(w, NULL));
}

static int write_role(pier_openai_sse *w) {
  if (w->started) return 0;
  int rc = write_delta(w, "\"role\":\"assistant\",\"content\":\"\"", PIER_SLICE_NULL, NULL);
  if (!rc) w->started = true;
  return rc;
}

static int write_tool_start(pier_openai_sse *w, const pier_chat_event *ev) {
  size_t mark = w->out->len;
  pier_buf *o = w->out;
  int rc;
  if ((rc = chunk_begin(w)) ||
      (rc = pier_buf_appendf(o, "\"tool_calls\":[{\"index\":%d,\"id\":", ev->tool_index)) ||
      (rc = pier_buf_append_json_str(o, ev->tool_id)) ||
      (rc = pier_buf_append_cstr(o, ",\"type\":\"function\",\"function\":{\"name\":")) ||
      (rc = pier_buf_append_json_str(o, ev->tool_name)) ||
      (rc = pier_buf_append_cstr(o, ",\"arguments\":\"\"}}]")) || (rc = chunk_end(w, NULL)))
    return rollback(o, mark, rc);
  return 0;
}

static int write_tool_args(pier_openai_sse *w, const pier_chat_event *ev) {
  char head[64];
  snprintf(head, sizeof head, "\"tool_calls\":[{\"index\":%d,\"function\":{\"arguments\":", ev->tool_index);
  return write_delta(w, head, ev->text.ptr ? ev->text : PIER_SLICE_LIT(""), "}}]");
}

static int write_usage(pier_openai_sse *w) {
  size_t mark = w->out->len;
  int rc;
  if ((rc = pier_buf_append_cstr(w->out, "data: ")) ||
      (rc = pier_buf_append_slice(w->out, pier_buf_slice(&w->prefix))) ||
      (rc = pier_buf_append_cstr(w->out, ",\"choices\":[],\"usage\":")) ||
      (rc = pier_openai_usage_append(w->out, &w->usage)) || (rc = pier_buf_append_cstr(w->out, "}\n\n")))
    return rollback(w->out, mark, rc);
  w->usage_pending = false;
  return 0;
}

static int write_finish(pier_openai_sse *w, const char *reason) {
  size_t mark = w->out->len;
  int rc;
  if ((rc = chunk_begin(w)) || (rc = chunk_end(w, reason ? reason : "stop"))) return rollback(w->out, mark, rc);
  w->finished = true;
  return w->usage_pending ? write_usage(w) : 0;
}

static int write_error(pier_openai_sse *w, const pier_chat_event *ev) {
  size_t mark = w->out->len;
  int rc;
  if ((rc = pier_buf_append_cstr(w->out, "data: ")) ||
      (rc = pier_openai_error_body(w->out, ev->http_status, NULL, ev->error_type, ev->text)) ||
      (rc = pier_buf_append_cstr(w->out, "\n\n")))
    return rollback(w->out, mark, rc);
  return 0;
}

int pier_openai_sse_on_event(void *arg, const pier_chat_event *ev) {
  pier_openai_sse *w = arg;
  int rc = 0;
  if (ev->kind != PIER_CHAT_EV_ERROR && ev->kind != PIER_CHAT_EV_USAGE && (rc = write_role(w))) return rc;
  switch (ev->kind) {
  case PIER_CHAT_EV_START: return 0;
  case PIER_CHAT_EV_TEXT:
    return ev->text.len ? write_delta(w, "\"content\":", ev->text, "") : 0;
  case PIER_CHAT_EV_REASONING:
    return ev->text.len ? write_delta(w, "\"reasoning_content\":", ev->text, "") : 0;
  case PIER_CHAT_EV_TOOL_START: return write_tool_start(w, ev);
  case PIER_CHAT_EV_TOOL_ARGS: return write_tool_args(w, ev);
  case PIER_CHAT_EV_FINISH: return write_finish(w, ev->finish_reason);
  case PIER_CHAT_EV_USAGE:
    if (!w->include_usage) return 0;
    w->usage = ev->usage;
    w->usage_pending = true;
    return w->finished ? write_usage(w) : 0;
  case PIER_CHAT_EV_ERROR: return write_error(w, ev);
  }
  return 0;
}

int pier_openai_sse_done(pier_openai_sse *w) {
  int rc;
  if (w->done) return 0;
  if (w->usage_pending && (rc = write_usage(w))) return rc;
  if ((rc = pier_buf_append_cstr(w->out, "data: [DONE]\n\n"))) return rc;
  w->done = true;
  return 0;
}

/* ---- aggregator --------------------------------------------------------- */

int pier_openai_agg_init(pier_openai_agg *a, const pier_openai_meta *meta) {
  memset(a, 0, sizeof *a);
  pier_buf_init(&a->head, 0);
  pier_buf_init(&a->text, PIER_OPENAI_AGG_TEXT_BYTES_MAX);
  pier_buf_init(&a->reasoning, PIER_OPENAI_AGG_TEXT_BYTES_MAX);
  pier_buf_init(&a->error_message, ERROR_MESSAGE_BYTES_MAX);
  int rc = meta_head(&a->head, meta, "chat.completion");
  if (rc) pier_openai_agg_dispose(a);
  return rc;
}

void pier_openai_agg_dispose(pier_openai_agg *a) {
  for (int i = 0; i < a->ntools; i++) {
    free(a->tools[i].id);
    free(a->tools[i].name);
    pier_buf_dispose(&a->tools[i].args);
  }
  free(a->tools);
  a->tools = NULL;
  a->ntools = 0;
  pier_buf_dispose(&a->head);
  pier_buf_dispose(&a->text);
  pier_buf_dispose(&a->reasoning);
  pier_buf_dispose(&a->error_message);
}

static pier_openai_agg_tool *agg_tool(pier_openai_agg *a, int index) {
  for (int i = 0; i < a->ntools; i++)
    if (a->tools[i].index == index) return &a->tools[i];
  return NULL;
}

static int agg_tool_start(pier_openai_agg *a, const pier_chat_event *ev) {
  if (agg_tool(a, ev->tool_index)) return PIER_EPROTO;
  if (a->ntools >= PIER_OPENAI_AGG_TOOLS_MAX) return PIER_ETOOBIG;
  if (ev->tool_id.len > TOOL_ID_BYTES_MAX || ev->tool_name.len > TOOL_ID_BYTES_MAX) return PIER_ETOOBIG;
  pier_openai_agg_tool *tools = realloc(a->tools, sizeof *tools * (size_t)(a->ntools + 1));
  if (!tools) return PIER_ENOMEM;
  a->tools = tools;
  pier_openai_agg_tool *t = &tools[a->ntools];
  t->index = ev->tool_index;
  t->id = pier_slice_dup(ev->tool_id);
  t->name = pier_slice_dup(ev->tool_name);
  pier_buf_init(&t->args, PIER_OPENAI_AGG_ARGS_BYTES_MAX);
  a->ntools++; /* counted before the NULL check so dispose frees what was made */
  return t->id && t->name ? 0 : PIER_ENOMEM;
}

static int agg_error(pier_openai_agg *a, const pier_chat_event *ev) {
  a->error_status = ev->http_status ? ev->http_status : 502;
  snprintf(a->error_type, sizeof a->error_type, "%s", ev->error_type ? ev->error_type : "");
  pier_buf_reset(&a->error_message);
  size_t n = ev->text.len < ERROR_MESSAGE_BYTES_MAX ? ev->text.len : ERROR_MESSAGE_BYTES_MAX;
  return pier_buf_append(&a->error_message, ev->text.ptr, n);
}

int pier_openai_agg_on_event(void *arg, const pier_chat_event *ev) {
  pier_openai_agg *a = arg;
  pier_openai_agg_tool *t;
  switch (ev->kind) {
  case PIER_CHAT_EV_START: return 0;
  case PIER_CHAT_EV_TEXT: return pier_buf_append_slice(&a->text, ev->text);
  case PIER_CHAT_EV_REASONING: return pier_buf_append_slice(&a->reasoning, ev->text);
  case PIER_CHAT_EV_TOOL_START: return agg_tool_start(a, ev);
  case PIER_CHAT_EV_TOOL_ARGS:
    if (!(t = agg_tool(a, ev->tool_index))) return PIER_EPROTO;
    return pier_buf_append_slice(&t->args, ev->text);
  case PIER_CHAT_EV_FINISH: a->finish_reason = ev->finish_reason; return 0;
  case PIER_CHAT_EV_USAGE: a->usage = ev->usage; return 0;
  case PIER_CHAT_EV_ERROR: return agg_error(a, ev);
  }
  return 0;
}

/* `,"tool_calls":[{"id","type":"function","function":{"name","arguments"}},...]` */
static int agg_write_tools(const pier_openai_agg *a, pier_buf *out) {
  int rc = pier_buf_append_cstr(out, ",\"tool_calls\":[");
  for (int i = 0; !rc && i < a->ntools; i++) {
    const pier_openai_agg_tool *t = &a->tools[i];
    if ((rc = pier_buf_append_cstr(out, i ? ",{\"id\":" : "{\"id\":")) ||
        (rc = pier_buf_append_json_str(out, pier_slice_from(t->id))) ||
        (rc = pier_buf_append_cstr(out, ",\"type\":\"function\",\"function\":{\"name\":")) ||
        (rc = pier_buf_append_json_str(out, pier_slice_from(t->name))) ||
        (rc = pier_buf_append_cstr(out, ",\"arguments\":")))
      break;
    rc = pier_buf_append_json_str(out, t->args.len ? pier_buf_slice(&t->args) : PIER_SLICE_LIT("{}"));
    if (!rc) rc = pier_buf_append_cstr(out, "}}");
  }
  return rc ? rc : pier_buf_putc(out, ']');
}

static int agg_write_message(const pier_openai_agg *a, pier_buf *out) {
  int rc = pier_buf_append_cstr(out, "{\"role\":\"assistant\",\"content\":");
  if (rc) return rc;
  rc = (a->text.len || !a->ntools) ? pier_buf_append_json_str(out, pier_buf_slice(&a->text))
                                   : pier_buf_append_cstr(out, "null");
  if (!rc && a->reasoning.len &&
      !(rc = pier_buf_append_cstr(out, ",\"reasoning_content\":")))
    rc = pier_buf_append_json_str(out, pier_buf_slice(&a->reasoning));
  if (!rc && a->ntools) rc = agg_write_tools(a, out);
  return rc ? rc : pier_buf_putc(out, '}');
}

int pier_openai_agg_finish(pier_openai_agg *a, pier_buf *out) {
  size_t mark = out->len;
  int rc;
  if (a->error_status) {
    rc = pier_openai_error_body(out, a->error_status, NULL, a->error_type[0] ? a->error_type : NULL,
                                pier_buf_slice(&a->error_message));
    return rc ? rc : PIER_EUPSTREAM;
  }
  const char *finish = a->finish_reason ? a->finish_reason : a->ntools ? "tool_calls" : "stop";
  if ((rc = pier_buf_append_slice(out, pier_buf_slice(&a->head))) ||
      (rc = pier_buf_append_cstr(out, ",\"choices\":[{\"index\":0,\"message\":")) ||
      (rc = agg_write_message(a, out)) ||
      (rc = pier_buf_append_cstr(out, ",\"finish_reason\":")) ||
      (rc = pier_buf_append_json_str(out, pier_slice_from(finish))) ||
      (rc = pier_buf_append_cstr(out, "}],\"usage\":")) ||
      (rc = pier_openai_usage_append(out, &a->usage)) || (rc = pier_buf_putc(out, '}')))
    return rollback(out, mark, rc);
  return 0;
}
