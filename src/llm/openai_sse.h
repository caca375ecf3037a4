/* openai_sse.h — pier_chat_events -> OpenAI Chat Completions bytes: the SSE
 * writer (`chat.completion.chunk` frames), the aggregator (one `chat.completion`
 * object) and the OpenAI error body. Output is built by appending to a pier_buf,
 * never through a cJSON tree; every accumulating buffer is capped. */
#ifndef PIER_LLM_OPENAI_SSE_H
#define PIER_LLM_OPENAI_SSE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"
#include "llm/chat.h"

#define PIER_OPENAI_AGG_TEXT_BYTES_MAX (16u * 1024 * 1024) /* content, and reasoning, each */
#define PIER_OPENAI_AGG_ARGS_BYTES_MAX (4u * 1024 * 1024)  /* arguments of one tool call */
#define PIER_OPENAI_AGG_TOOLS_MAX 128                      /* tool calls in one answer */
#define PIER_OPENAI_MODEL_BYTES_MAX 2048                   /* model string echoed back */

/* What every chunk / completion repeats. All borrowed for the duration of the
 * _init call only (the writer and aggregator keep their own copies). */
typedef struct pier_openai_meta {
  const char *id;     /* "chatcmpl-..."; NULL = generate "chatcmpl-" + 24 random [a-z0-9] */
  const char *model;  /* the model string the client asked for; required */
  int64_t created;    /* unix seconds; 0 = now */
  bool include_usage; /* stream_options.include_usage (SSE writer only) */
} pier_openai_meta;

/* OpenAI error `type` for an HTTP status: 400 invalid_request_error,
 * 401 authentication_error, 403 permission_error, 404 not_found_error,
 * 408/504 timeout_error, 429 rate_limit_error, anything else api_error. */
const char *pier_openai_error_type(int status);

/* Append `{"error":{"message":..,"type":..,"code":..|null,"param":null}}`.
 * type NULL = pier_openai_error_type(status); code NULL = JSON null. */
int pier_openai_error_body(pier_buf *out, int status, const char *type, const char *code,
                           pier_slice message) PIER_WUR;

/* Append the usage object shared by completions and the stream's usage chunk:
 * {"prompt_tokens","completion_tokens","total_tokens","prompt_tokens_details":
 * {"cached_tokens"},"cache_creation_input_tokens","cache_read_input_tokens"}. */
int pier_openai_usage_append(pier_buf *out, const pier_usage *u) PIER_WUR;

/* ---- SSE writer --------------------------------------------------------- */

/* Caller's storage. Frames are appended to `out` (borrowed; the caller drains
 * it to the socket between events). Order on the wire: role chunk, deltas,
 * finish chunk, usage chunk (only with include_usage), then [DONE] from
 * pier_openai_sse_done. An ERROR event writes `data: {"error":...}`. */
typedef struct pier_openai_sse {
  pier_buf *out;       /* borrowed */
  pier_buf prefix;     /* owned: `{"id":..,"object":"chat.completion.chunk","created":..,"model":..` */
  bool include_usage;
  bool started;        /* role chunk written */
  bool finished;       /* finish chunk written */
  bool usage_pending;  /* USAGE seen before FINISH: written right after it */
  bool done;           /* [DONE] written */
  pier_usage usage;
} pier_openai_sse;

int pier_openai_sse_init(pier_openai_sse *w, const pier_openai_meta *meta, pier_buf *out) PIER_WUR;
void pier_openai_sse_dispose(pier_openai_sse *w);
/* A pier_chat_on_event: arg is the pier_openai_sse. Returns PIER_ETOOBIG /
 * PIER_ENOMEM when `out` cannot take the frame. */
int pier_openai_sse_on_event(void *arg, const pier_chat_event *ev) PIER_WUR;
/* Pending usage chunk (if any) then `data: [DONE]\n\n`; idempotent. */
int pier_openai_sse_done(pier_openai_sse *w) PIER_WUR;

/* ---- aggregator --------------------------------------------------------- */

typedef struct pier_openai_agg_tool pier_openai_agg_tool; /* private */

/* Caller's storage: consumes the same events, yields one `chat.completion`. */
typedef struct pier_openai_agg {
  pier_buf head;      /* owned: `{"id":..,"object":"chat.completion","created":..,"model":..` */
  pier_buf text;      /* owned: concatenated TEXT */
  pier_buf reasoning; /* owned: concatenated REASONING */
  pier_openai_agg_tool *tools; /* owned; ntools used */
  int ntools;
  const char *finish_reason; /* static; NULL until FINISH */
  pier_usage usage;
  /* set by an ERROR event */
  int error_status;   /* 0 = no error */
  char error_type[64];
  pier_buf error_message; /* owned */
} pier_openai_agg;

int pier_openai_agg_init(pier_openai_agg *a, const pier_openai_meta *meta) PIER_WUR;
void pier_openai_agg_dispose(pier_openai_agg *a);
/* A pier_chat_on_event: arg is the pier_openai_agg. PIER_ETOOBIG past a cap,
 * PIER_EPROTO for TOOL_ARGS of an unknown tool_index. */
int pier_openai_agg_on_event(void *arg, const pier_chat_event *ev) PIER_WUR;
/* Append the complete `chat.completion` JSON to out. After an ERROR event,
 * appends the OpenAI error body instead and returns PIER_EUPSTREAM (the status
 * to send is a->error_status). content is null when there is no text but there
 * are tool calls; finish_reason defaults to "tool_calls"/"stop". */
int pier_openai_agg_finish(pier_openai_agg *a, pier_buf *out) PIER_WUR;

#endif
