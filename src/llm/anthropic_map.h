/* anthropic_map.h — OpenAI Chat Completions <-> Anthropic Messages, both ways.
 * Pier calling Anthropic (or Claude on Bedrock InvokeModel): OpenAI request ->
 * Messages body, Messages reply / SSE events -> pier_chat_events, error replies
 * -> what pier tells its client. Pier serving the Messages API (Claude Code):
 * Messages request -> OpenAI request, pier_chat_events -> Messages SSE bytes or
 * one Message object. Pure translation, no I/O; every user-facing error names
 * the JSON path at fault; nothing here grows with the answer without a cap. */
#ifndef PIER_LLM_ANTHROPIC_MAP_H
#define PIER_LLM_ANTHROPIC_MAP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"
#include "llm/chat.h"
#include "llm/openai_sse.h"

/* Synthetic tool that carries response_format (same name as the Converse module's). */
#define PIER_ANTHROPIC_JSON_TOOL "json_tool_call"
/* `anthropic-version` header value for api.anthropic.com. */
#define PIER_ANTHROPIC_API_VERSION "2023-06-01"
/* `anthropic_version` body member of a Bedrock InvokeModel Claude body. */
#define PIER_ANTHROPIC_BEDROCK_VERSION "bedrock-2023-05-31"
/* max_tokens when the OpenAI request gives neither max_tokens nor
 * max_completion_tokens: Anthropic requires one, and every Claude model since
 * 3.0 can emit 4096 tokens, so this never exceeds a model's output limit. */
#define PIER_ANTHROPIC_MAX_TOKENS_DEFAULT 4096
#define PIER_ANTHROPIC_STREAM_BLOCKS_MAX 64        /* content blocks open at once in one stream */
#define PIER_ANTHROPIC_EVENT_BYTES_MAX (1u << 20)  /* one SSE event's data */
#define PIER_ANTHROPIC_AGG_BYTES_MAX (16u * 1024 * 1024) /* one aggregated Message's content */
#define PIER_ANTHROPIC_AGG_BLOCKS_MAX 256          /* content blocks in one aggregated Message */

/* What the request builder learnt and the response side needs. Plain values. */
typedef struct pier_anthropic_info {
  bool stream;        /* "stream": true */
  bool include_usage; /* stream_options.include_usage */
  bool json_mode;     /* response_format became the forced json_tool_call: its input is the content */
  bool thinking;      /* extended thinking was requested */
} pier_anthropic_info;

/* ==== Direction 1: OpenAI request -> Anthropic Messages body ============== */

/* Translate an OpenAI chat request (borrowed) into a Messages API body for
 * POST /v1/messages, appended compactly to body_out. model_id: the Anthropic
 * model name after routing (e.g. "claude-sonnet-4-5"), borrowed, required.
 * Mapping: system/developer messages -> `system` (a string when it is one
 * plain text, else text blocks keeping cache_control); same-role turns merged;
 * image_url data URLs -> base64 image blocks, http(s) URLs -> url image
 * blocks; file parts with a PDF data URL -> document blocks; tool_calls ->
 * tool_use; tool messages -> tool_result blocks leading their user turn;
 * tools/tool_choice/parallel_tool_calls; max_completion_tokens or max_tokens
 * (default PIER_ANTHROPIC_MAX_TOKENS_DEFAULT, raised above a thinking budget);
 * stop, temperature and top_p (clamped to 0..1), top_k (all three dropped while
 * thinking is on, as Anthropic requires); response_format -> forced
 * json_tool_call; reasoning_effort (none/minimal/low/medium/high -> 0/1024/
 * 1024/2048/4096) or an Anthropic `thinking` object; user -> metadata.user_id.
 * Returns 0; PIER_EINVAL with err = "<json path>: <what is wrong>";
 * PIER_ETOOBIG when body_out's cap is hit; PIER_ENOMEM. body_out is unchanged
 * on failure. */
int pier_anthropic_build(const cJSON *openai_req, const char *model_id, pier_buf *body_out,
                         pier_anthropic_info *info, char *err, size_t errlen) PIER_WUR;

/* The same body for Bedrock InvokeModel / InvokeModelWithResponseStream
 * (bedrock.md §4.4): `"anthropic_version":"bedrock-2023-05-31"` instead of
 * `model` (the model goes in the URL path; model_id may be NULL), and no
 * `stream` (the operation decides; info->stream says which to call) nor
 * `metadata`. Bedrock takes no URL images: an http(s) image URL gives
 * PIER_EAGAIN (fetch them with pier_converse_remote_images +
 * pier_converse_image_set_data from converse.h, then call again). */
int pier_anthropic_build_bedrock(const cJSON *openai_req, const char *model_id, pier_buf *body_out,
                                 pier_anthropic_info *info, char *err, size_t errlen) PIER_WUR;

/* ==== Direction 2: Anthropic reply / stream -> pier_chat_events ============ */

/* stop_reason -> OpenAI finish_reason (static): end_turn, stop_sequence,
 * pause_turn -> stop; max_tokens, model_context_window_exceeded -> length;
 * tool_use -> tool_calls; refusal -> content_filter; else (or NULL) -> stop. */
const char *pier_anthropic_finish_reason(const char *stop_reason);

/* Anthropic usage object -> pier_usage: prompt = input_tokens +
 * cache_creation_input_tokens + cache_read_input_tokens, completion =
 * output_tokens, total = both. Missing or negative counts read as 0. */
void pier_anthropic_usage_read(const cJSON *usage, pier_usage *out);

/* Walk a parsed Messages reply (borrowed) and emit START, then per content
 * block TEXT (text), REASONING (thinking), TOOL_START + one TOOL_ARGS with the
 * compact JSON input (tool_use, OpenAI index 0..n), then FINISH and USAGE.
 * In JSON mode the json_tool_call input is the only TEXT and finish is "stop".
 * A reply of type "error" emits one ERROR event and returns PIER_EUPSTREAM.
 * PIER_EPROTO (err says why) without a content array; a callback's error is
 * returned as is. */
int pier_anthropic_response_events(const cJSON *resp, const pier_anthropic_info *info,
                                   pier_chat_on_event on_event, void *arg, char *err, size_t errlen) PIER_WUR;

/* The same, aggregated into an OpenAI `chat.completion` appended to out
 * (meta gives id, model, created). For a reply of type "error" nothing is
 * appended and PIER_EUPSTREAM returns with err = the mapped message. */
int pier_anthropic_response(const cJSON *resp, const pier_anthropic_info *info, const pier_openai_meta *meta,
                            pier_buf *out, char *err, size_t errlen) PIER_WUR;

/* An Anthropic error (non-2xx reply or in-stream `error` event) as pier tells
 * its client. Never echoes a credential. */
typedef struct pier_anthropic_error {
  int status;         /* for pier's client: 4xx kept, overloaded_error/529/503 -> 503,
                         504/timeout_error -> 504, other 5xx/api_error -> 502 */
  const char *type;   /* static OpenAI error type (pier_openai_error_type of status) */
  char code[64];      /* Anthropic's error.type ("overloaded_error"), or
                         "context_length_exceeded" for "prompt is too long"; "" unknown */
  bool retryable;     /* Anthropic status 429, 500, 502, 503, 504, 529; in a stream
                         (status 0): rate_limit_error, api_error, overloaded_error, timeout_error */
  char message[1024]; /* "Anthropic <type>: <Anthropic's text>[. Fix: <hint>]", valid UTF-8 */
} pier_anthropic_error;

/* http_status: Anthropic's status, or 0 for an in-stream error event. body:
 * the reply body / event data ({"type":"error","error":{"type","message"}});
 * may be empty or not JSON (a proxy's HTML page). */
void pier_anthropic_error_map(int http_status, pier_slice body, pier_anthropic_error *out);

/* Caller's storage, no heap: state of one streamed Messages answer. */
typedef struct pier_anthropic_stream_block {
  long long index; /* Anthropic content block index; -1 = free slot */
  int tool_index;  /* OpenAI tool_calls index (tool blocks) */
  unsigned char kind;
  bool got_input;
} pier_anthropic_stream_block;

typedef struct pier_anthropic_stream {
  pier_chat_on_event on_event; /* borrowed */
  void *arg;
  bool json_mode;
  bool started;    /* START emitted */
  bool finished;   /* FINISH emitted */
  bool stopped;    /* message_stop seen */
  int next_tool;   /* OpenAI index of the next tool call */
  int real_tools;  /* tool calls emitted, json_tool_call excluded */
  int rc;          /* sticky: once negative every event returns it */
  const char *stop_reason; /* static finish_reason from message_delta; NULL until then */
  pier_usage usage; /* input side from message_start, output from message_delta */
  pier_anthropic_stream_block blocks[PIER_ANTHROPIC_STREAM_BLOCKS_MAX];
  pier_anthropic_error error; /* last error; an ERROR event borrows its strings */
} pier_anthropic_stream;

void pier_anthropic_stream_init(pier_anthropic_stream *s, const pier_anthropic_info *info,
                                pier_chat_on_event on_event, void *arg);

/* Feed one SSE event as the SSE parser delivers it (both borrowed for the
 * call). event_name may be empty (Bedrock InvokeModelWithResponseStream chunks
 * carry only the JSON): the data's "type" names the event then. Emits START at
 * message_start, TEXT / REASONING per delta, TOOL_START at a tool_use
 * content_block_start, TOOL_ARGS per input_json_delta ("{}" for a tool that got
 * none), FINISH at message_delta, USAGE at message_stop; ping and unknown
 * events are ignored. Returns 0 to go on. Negative ends the stream and is
 * sticky: PIER_EUPSTREAM after an `error` event and PIER_EPROTO after a
 * malformed one (an ERROR event was emitted for both), or the callback's own
 * error passed through. */
int pier_anthropic_stream_on_event(pier_anthropic_stream *s, pier_slice event_name, pier_slice data) PIER_WUR;

/* Call at the end of the byte stream: 0 when message_stop came (or the
 * stream already failed: its sticky code is returned); otherwise emits an
 * ERROR 502 "the stream ended before message_stop" and returns PIER_EPROTO. */
int pier_anthropic_stream_end(pier_anthropic_stream *s) PIER_WUR;

/* ==== Direction 3: pier serving the Messages API (Claude Code) ============ */

/* Validate an Anthropic Messages request (borrowed) the way Anthropic does and
 * translate it into pier's OpenAI form; *openai_req_out is a new tree the
 * caller owns (cJSON_Delete). system (string or text blocks, cache_control
 * kept on parts) -> one system message; tool_result blocks -> tool messages
 * (is_error and cache_control carried as extension members) ahead of the rest
 * of their user turn, images inside a tool_result following them in a user
 * message; tool_use -> assistant tool_calls; signed thinking blocks ->
 * assistant thinking_blocks (unsigned ones dropped: no upstream accepts them);
 * tools (custom only; server tools such as web_search are skipped) ->
 * function tools; tool_choice, disable_parallel_tool_use ->
 * parallel_tool_calls:false; stop_sequences -> stop; max_tokens, temperature,
 * top_p, top_k, thinking copied; stream -> stream + include_usage;
 * metadata.user_id -> user. Returns 0; PIER_EINVAL with err an Anthropic-style
 * message ("messages.1.role: Input should be 'user' or 'assistant'"); PIER_ENOMEM. */
int pier_anthropic_to_openai(const cJSON *anthropic_req, cJSON **openai_req_out, char *err,
                             size_t errlen) PIER_WUR;

/* Anthropic error.type for an HTTP status pier answers with: 400/422
 * invalid_request_error, 401 authentication_error, 402 billing_error, 403
 * permission_error, 404 not_found_error, 413 request_too_large, 429
 * rate_limit_error, 503/529 overloaded_error, 504 timeout_error, else api_error. */
const char *pier_anthropic_error_type(int status);

/* Append `{"type":"error","error":{"type":<for status>,"message":...}}`. */
int pier_anthropic_error_body(pier_buf *out, int status, pier_slice message) PIER_WUR;

/* finish_reason -> stop_reason (static): stop -> end_turn, length ->
 * max_tokens, tool_calls -> tool_use, content_filter -> refusal, else end_turn. */
const char *pier_anthropic_stop_reason(const char *finish_reason);

/* What every message_start / Message repeats. Borrowed for _init only. */
typedef struct pier_anthropic_meta {
  const char *id;       /* "msg_..."; NULL = "msg_" + 24 random [a-z0-9] */
  const char *model;    /* the model string the client asked for; required */
  int64_t input_tokens; /* message_start's input_tokens when known up front, else 0 */
} pier_anthropic_meta;

/* SSE writer. Caller's storage; frames go to `out` (borrowed; the caller
 * drains it between events), each appended whole or not at all. Wire order:
 * message_start, then per block content_block_start, deltas (text_delta,
 * thinking_delta, input_json_delta), content_block_stop, with indices 0..n in
 * arrival order; message_delta (stop_reason, usage) once FINISH and USAGE have
 * both come (or at _done); message_stop from _done. An ERROR event writes
 * `event: error` and ends the stream. */
typedef struct pier_anthropic_sse {
  pier_buf *out;        /* borrowed */
  pier_buf head;        /* owned: `"id":..,"type":"message","role":"assistant","model":..` */
  int64_t input_tokens; /* from meta, until USAGE */
  int open_kind;        /* kind of the open block; 0 = none */
  int open_index;       /* its Anthropic index */
  int open_tool;        /* its OpenAI tool index (tool blocks) */
  int next_index;       /* Anthropic index of the next block */
  int tools;            /* tool blocks written */
  const char *finish;   /* static finish_reason from FINISH; NULL until then */
  pier_usage usage;
  bool have_usage;
  bool started;         /* message_start written */
  bool delta_written;   /* message_delta written */
  bool done;            /* message_stop or error written: nothing more goes out */
} pier_anthropic_sse;

int pier_anthropic_sse_init(pier_anthropic_sse *w, const pier_anthropic_meta *meta, pier_buf *out) PIER_WUR;
void pier_anthropic_sse_dispose(pier_anthropic_sse *w);
/* A pier_chat_on_event (arg: the writer). PIER_ETOOBIG / PIER_ENOMEM when
 * `out` cannot take the frame; PIER_EPROTO for TOOL_ARGS that do not belong to
 * the open tool block (Anthropic cannot reopen a closed block). */
int pier_anthropic_sse_on_event(void *arg, const pier_chat_event *ev) PIER_WUR;
/* `event: ping` keep-alive (ignored by clients); nothing once done. */
int pier_anthropic_sse_ping(pier_anthropic_sse *w) PIER_WUR;
/* Close the open block, message_delta if not yet written, message_stop;
 * idempotent, and a no-op after an error event. */
int pier_anthropic_sse_done(pier_anthropic_sse *w) PIER_WUR;

/* Aggregator: the same events -> one Messages API `message` object. */
typedef struct pier_anthropic_agg {
  pier_buf head;       /* owned: as in the writer */
  pier_buf content;    /* owned: rendered closed blocks, comma separated */
  pier_buf cur;        /* owned: text / thinking / arguments of the open block */
  pier_buf cur_id;     /* owned: tool id of the open tool block */
  pier_buf cur_name;   /* owned: its name */
  int cur_kind;        /* 0 = none */
  int cur_tool;        /* OpenAI index of the open tool block */
  int nblocks;
  int tools;           /* tool_use blocks */
  int64_t input_tokens;
  const char *finish;  /* static; NULL until FINISH */
  pier_usage usage;
  bool have_usage;
  int error_status;    /* set by an ERROR event; 0 = none */
  char error_type[64];
  pier_buf error_message; /* owned */
} pier_anthropic_agg;

int pier_anthropic_agg_init(pier_anthropic_agg *a, const pier_anthropic_meta *meta) PIER_WUR;
void pier_anthropic_agg_dispose(pier_anthropic_agg *a);
/* A pier_chat_on_event (arg: the aggregator). PIER_ETOOBIG past a cap,
 * PIER_EPROTO for TOOL_ARGS of a tool that is not the open block. */
int pier_anthropic_agg_on_event(void *arg, const pier_chat_event *ev) PIER_WUR;
/* Append the `message` JSON to out. After an ERROR event appends the Anthropic
 * error body instead and returns PIER_EUPSTREAM (send a->error_status). A tool
 * whose arguments are not a JSON object also ends as a 502 error body
 * (PIER_EUPSTREAM). stop_reason defaults to tool_use / end_turn. */
int pier_anthropic_agg_finish(pier_anthropic_agg *a, pier_buf *out) PIER_WUR;

#endif
