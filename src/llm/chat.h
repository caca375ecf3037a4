/* chat.h — pier's normalised chat stream events (DESIGN.md §2.4).
 * Inside pier a chat request/response is OpenAI Chat Completions JSON; a
 * streamed answer is a sequence of these events, produced by each provider's
 * incremental decoder and consumed by the OpenAI SSE writer, the workflow
 * engine and the trajectory recorder alike. */
#ifndef PIER_LLM_CHAT_H
#define PIER_LLM_CHAT_H

#include <stdint.h>

#include "base/slice.h"

typedef enum pier_chat_ev_kind {
  PIER_CHAT_EV_START,      /* message begins (role assistant); id may be set */
  PIER_CHAT_EV_TEXT,       /* text delta in `text` */
  PIER_CHAT_EV_REASONING,  /* reasoning/thinking delta in `text` */
  PIER_CHAT_EV_TOOL_START, /* new tool call: tool_index (OpenAI 0..n), tool_id, tool_name */
  PIER_CHAT_EV_TOOL_ARGS,  /* fragment of the JSON arguments of tool_index in `text` */
  PIER_CHAT_EV_FINISH,     /* finish_reason: stop|length|tool_calls|content_filter */
  PIER_CHAT_EV_USAGE,      /* token usage in `usage` */
  PIER_CHAT_EV_ERROR,      /* upstream error: http_status, error_type (e.g. "ThrottlingException"), text = message */
} pier_chat_ev_kind;

typedef struct pier_usage {
  int64_t prompt_tokens;     /* includes cache read + cache write tokens (LiteLLM convention) */
  int64_t completion_tokens;
  int64_t total_tokens;
  int64_t cache_read_tokens;     /* prompt_tokens_details.cached_tokens */
  int64_t cache_creation_tokens; /* cache_creation_input_tokens */
} pier_usage;

typedef struct pier_chat_event {
  pier_chat_ev_kind kind;
  int tool_index;             /* TOOL_START / TOOL_ARGS */
  pier_slice text;            /* borrowed: valid only during the callback */
  pier_slice tool_id;         /* TOOL_START */
  pier_slice tool_name;       /* TOOL_START */
  const char *finish_reason;  /* FINISH; static string */
  pier_usage usage;           /* USAGE */
  int http_status;            /* ERROR: status to report (e.g. 429, 502) */
  const char *error_type;     /* ERROR: provider error name; borrowed */
} pier_chat_event;

/* Consumer callback. Returns 0 to continue, negative PIER_E* to stop decoding. */
typedef int (*pier_chat_on_event)(void *arg, const pier_chat_event *ev);

#endif
