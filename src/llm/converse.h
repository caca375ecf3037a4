/* converse.h — OpenAI Chat Completions <-> Bedrock Converse / ConverseStream.
 * Pure translation, no I/O: a cJSON request in, Converse body bytes out; a
 * Converse reply or decoded event-stream frames in, pier_chat_events out.
 * Every user-facing error names the JSON path at fault ("messages[2].content[1]..."). */
#ifndef PIER_LLM_CONVERSE_H
#define PIER_LLM_CONVERSE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"
#include "llm/bedrock_error.h"
#include "llm/chat.h"
#include "llm/openai_sse.h"

/* Synthetic tool that carries response_format (LiteLLM's RESPONSE_FORMAT_TOOL_NAME). */
#define PIER_CONVERSE_JSON_TOOL "json_tool_call"
#define PIER_CONVERSE_IMAGE_BYTES_MAX 3932160u   /* Bedrock: 3.75 MB per image */
#define PIER_CONVERSE_STREAM_TOOLS_MAX 64        /* tool blocks open at once in one stream */
#define PIER_CONVERSE_EVENT_BYTES_MAX (1u << 20) /* one event-stream payload */

/* What the request builder learnt and the response side needs. Plain values. */
typedef struct pier_converse_info {
  bool stream;        /* "stream": true */
  bool include_usage; /* stream_options.include_usage */
  bool json_mode;     /* response_format became the forced json_tool_call: its input is the content */
  bool thinking;      /* Anthropic extended thinking was requested */
} pier_converse_info;

/* ---- request ------------------------------------------------------------ */

/* Translate an OpenAI chat request into a Converse (or ConverseStream) body,
 * appended compactly to body_out. openai_req: borrowed. model_id: the Bedrock
 * model id after routing (e.g. "us.anthropic.claude-sonnet-4-6"), borrowed; it
 * only selects family quirks (Anthropic thinking, Nova topK). info: filled.
 * Returns 0; PIER_EINVAL with err = "<json path>: <what is wrong>";
 * PIER_EAGAIN when an http(s) image URL is still in the request (fetch them with
 * pier_converse_remote_images + pier_converse_image_set_data, then call again);
 * PIER_ETOOBIG when body_out's cap is hit; PIER_ENOMEM. body_out is unchanged
 * on failure. */
int pier_converse_build(const cJSON *openai_req, const char *model_id, pier_buf *body_out,
                        pier_converse_info *info, char *err, size_t errlen) PIER_WUR;

/* The http(s) image URLs of messages[].content[] parts, in order: nodes[k] is
 * the (borrowed) cJSON string node holding the k-th URL inside openai_req, for
 * k < nodes_max. Returns how many there are in total. */
size_t pier_converse_remote_images(cJSON *openai_req, cJSON **nodes, size_t nodes_max);

/* Replace a URL node's value with `data:<mime>;base64,<bytes>`. The image type
 * is sniffed from the bytes (png, jpeg, gif, webp), else taken from
 * content_type (e.g. the fetch's Content-Type header). PIER_EINVAL for an
 * unsupported or empty image, PIER_ETOOBIG over PIER_CONVERSE_IMAGE_BYTES_MAX. */
int pier_converse_image_set_data(cJSON *url_node, pier_slice content_type, pier_slice bytes) PIER_WUR;

/* ---- response ----------------------------------------------------------- */

/* Converse stopReason -> OpenAI finish_reason (static string): end_turn,
 * stop_sequence -> stop; max_tokens, model_context_window_exceeded -> length;
 * tool_use -> tool_calls; guardrail_intervened, content_filtered ->
 * content_filter; anything else (or NULL) -> stop. */
const char *pier_converse_finish_reason(const char *stop_reason);

/* Walk a parsed Converse reply (borrowed) and emit START, TEXT / REASONING /
 * TOOL_START+TOOL_ARGS per block (arguments = compact JSON of the input),
 * FINISH, USAGE. In JSON mode the json_tool_call input is the only TEXT and
 * finish is "stop". PIER_EPROTO (err says why) when the reply has no
 * output.message.content; a callback's error is returned as is. */
int pier_converse_response_events(const cJSON *resp, const pier_converse_info *info, pier_chat_on_event on_event,
                                  void *arg, char *err, size_t errlen) PIER_WUR;

/* The same, aggregated: append the OpenAI `chat.completion` JSON for a
 * Converse reply to out (meta gives id, model, created). */
int pier_converse_response(const cJSON *resp, const pier_converse_info *info, const pier_openai_meta *meta,
                           pier_buf *out, char *err, size_t errlen) PIER_WUR;

/* ---- stream ------------------------------------------------------------- */

typedef struct pier_converse_stream_block {
  long long block_index; /* contentBlockIndex; -1 = free slot */
  int tool_index;        /* OpenAI tool_calls index */
  bool json;             /* the synthetic json_tool_call: fragments go out as TEXT */
  bool got_input;
} pier_converse_stream_block;

/* Caller's storage, no heap: state of one ConverseStream answer. */
typedef struct pier_converse_stream {
  pier_chat_on_event on_event; /* borrowed */
  void *arg;
  bool json_mode;
  bool started;     /* START emitted */
  int next_tool;    /* OpenAI index of the next tool call */
  int real_tools;   /* tool calls emitted, json_tool_call excluded */
  int rc;           /* sticky: once negative every frame returns it */
  pier_converse_stream_block blocks[PIER_CONVERSE_STREAM_TOOLS_MAX];
  pier_bedrock_error error; /* last error; an ERROR event borrows its strings */
} pier_converse_stream;

void pier_converse_stream_init(pier_converse_stream *s, const pier_converse_info *info, pier_chat_on_event on_event,
                               void *arg);

/* Feed one decoded event-stream frame. message_type: `:message-type`
 * ("event" | "exception" | "error"); name: `:event-type`, `:exception-type` or
 * `:error-code`; payload: the frame payload (for "error" frames, the
 * `:error-message` header value). All borrowed for the call.
 * Returns 0 to go on. A negative return ends the stream and is sticky:
 * PIER_EUPSTREAM after an exception/error frame and PIER_EPROTO after a
 * malformed event (an ERROR event was emitted for both), or the callback's own
 * error passed through (no ERROR event). */
int pier_converse_stream_on_frame(pier_converse_stream *s, pier_slice message_type, pier_slice name,
                                  pier_slice payload) PIER_WUR;

#endif
