/* gemini_map.h — OpenAI Chat Completions / Embeddings <-> Google Gemini API
 * (generativelanguage v1beta: generateContent, streamGenerateContent?alt=sse,
 * batchEmbedContents). Pure translation, no I/O, like converse.h: cJSON in,
 * body bytes or pier_chat_events out. Every user-facing error names the JSON
 * path at fault ("messages[2].content[1]..."). Auth is the caller's business
 * (header x-goog-api-key: $GEMINI_API_KEY). */
#ifndef PIER_LLM_GEMINI_MAP_H
#define PIER_LLM_GEMINI_MAP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"
#include "llm/chat.h"
#include "llm/openai_sse.h"

#define PIER_GEMINI_STOP_SEQUENCES_MAX 5        /* Gemini's own limit on stopSequences */
#define PIER_GEMINI_SCHEMA_REFS_MAX 16          /* nested $ref expansions in one schema branch */
#define PIER_GEMINI_CHUNK_BYTES_MAX (8u << 20)  /* one SSE data payload / one reply (inline images) */
#define PIER_GEMINI_TOOL_ID_BYTES_MAX 1024      /* = the OpenAI aggregator's cap on a tool call id */
/* A Gemini thought signature rides in the OpenAI tool call id as
 * "call_<24 random>__thought__<signature>" so a client replaying the history
 * hands it back (Gemini 3 rejects function calls without it). */
#define PIER_GEMINI_THOUGHT_SEP "__thought__"
/* What pier sends for a function call in the history that lost its signature
 * (Gemini documents this value as "skip validation"; gemini-3+ only). */
#define PIER_GEMINI_SIGNATURE_SKIP "skip_thought_signature_validator"

/* What the request builder learnt and the response side needs. Plain values. */
typedef struct pier_gemini_info {
  bool stream;        /* "stream": true */
  bool include_usage; /* stream_options.include_usage */
  bool json_mode;     /* responseMimeType application/json was set */
  bool thinking;      /* thinkingConfig.includeThoughts was set: expect thought parts */
} pier_gemini_info;

/* ---- request ------------------------------------------------------------ */

/* Translate an OpenAI chat request into a generateContent body (the same body
 * serves streamGenerateContent), appended compactly to body_out.
 * openai_req: borrowed. model_id: the Gemini model id after routing
 * ("gemini-2.5-flash", "models/gemini-2.5-pro"), borrowed; it only selects
 * quirks (gemini-3+: a function call without signature gets
 * PIER_GEMINI_SIGNATURE_SKIP). info: filled.
 * Mapping: system/developer -> systemInstruction; user -> "user", assistant ->
 * "model", tool -> a "user" turn of functionResponse parts (the name comes
 * from the assistant tool call with that id, else the message's "name");
 * consecutive turns of one role are merged, a leading model turn gets a "."
 * user turn before it. generationConfig: temperature (clamped to 0..2),
 * top_p -> topP (clamped to 0..1), top_k -> topK, max_completion_tokens (else
 * max_tokens) -> maxOutputTokens, stop -> stopSequences (at most 5), seed,
 * presence/frequency_penalty; n must be 1 (one candidate is decoded);
 * response_format json_object / json_schema -> responseMimeType
 * application/json (+ responseSchema via pier_gemini_schema); reasoning_effort
 * none/minimal/low/medium/high -> thinkingConfig.thinkingBudget
 * 0/512/1024/8192/24576 (+ includeThoughts when > 0), or Anthropic-style
 * thinking.budget_tokens. tools -> one functionDeclarations entry; tool_choice
 * auto/required/none/{function} -> functionCallingConfig AUTO/ANY/NONE/ANY +
 * allowedFunctionNames. Ignored: parallel_tool_calls, user, logprobs.
 * Returns 0; PIER_EINVAL with err = "<json path>: <what is wrong>";
 * PIER_ETOOBIG when body_out's cap is hit; PIER_ENOMEM. body_out is unchanged
 * on failure. */
int pier_gemini_build(const cJSON *openai_req, const char *model_id, pier_buf *body_out, pier_gemini_info *info,
                      char *err, size_t errlen) PIER_WUR;

/* Convert one JSON Schema (borrowed) into Gemini's OpenAPI-subset Schema;
 * *out is a new tree the caller owns. Kept: type (upper-cased; ["x","null"]
 * becomes nullable), format, title, description, nullable, enum (strings
 * only), properties, required (only names that are properties),
 * propertyOrdering, items, minItems, maxItems, minLength, maxLength, pattern,
 * minimum, maximum, minProperties, maxProperties, default, example, anyOf
 * (oneOf becomes anyOf; a {"type":"null"} member becomes nullable). const
 * becomes a one-value enum; local $ref ("#/$defs/X", "#/definitions/X") is
 * inlined. Dropped (Gemini rejects them): additionalProperties, $schema,
 * strict, $id, $comment, $defs, definitions, examples, allOf, not,
 * if/then/else, patternProperties, exclusiveMinimum/Maximum, multipleOf,
 * unevaluated*, dependent*, contentEncoding, readOnly, writeOnly, deprecated,
 * and anything else not listed as kept. path names the schema in errors
 * ("tools[0].function.parameters"). PIER_EINVAL (err says where) for an
 * unknown type, a dangling or recursive $ref, or a non-object schema. */
int pier_gemini_schema(const cJSON *json_schema, const char *path, cJSON **out, char *err, size_t errlen) PIER_WUR;

typedef enum pier_gemini_method {
  PIER_GEMINI_GENERATE,    /* models/{m}:generateContent */
  PIER_GEMINI_STREAM,      /* models/{m}:streamGenerateContent?alt=sse */
  PIER_GEMINI_BATCH_EMBED, /* models/{m}:batchEmbedContents */
} pier_gemini_method;

/* Append the method path (relative to "<base>/v1beta/") for model_id: a
 * leading "models/" is not doubled, "tunedModels/x" stays a tuned model, and
 * every byte outside [A-Za-z0-9._~-] of the id is percent-encoded.
 * PIER_EINVAL for an empty id; out unchanged on failure. */
int pier_gemini_path(const char *model_id, pier_gemini_method method, pier_buf *out) PIER_WUR;

/* ---- response ----------------------------------------------------------- */

/* Candidate.finishReason -> OpenAI finish_reason (static string): STOP ->
 * stop (tool_calls when the answer has function calls); MAX_TOKENS -> length;
 * SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY ->
 * content_filter; anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL,
 * NULL, new values) -> stop. */
const char *pier_gemini_finish_reason(const char *finish_reason, bool tool_calls);

/* usageMetadata -> pier_usage: prompt = promptTokenCount (it already counts
 * cachedContentTokenCount) + toolUsePromptTokenCount, completion =
 * candidatesTokenCount + thoughtsTokenCount, total = totalTokenCount (else
 * prompt + completion), cache_read = cachedContentTokenCount. Missing or
 * negative counts read as 0. */
void pier_gemini_usage_read(const cJSON *usage_metadata, pier_usage *out);

/* Walk a parsed GenerateContentResponse (borrowed), candidate 0 only: START,
 * then per part TEXT / REASONING (thought: true) / TOOL_START + TOOL_ARGS
 * (id = functionCall.id, else "call_" + 24 random [a-z0-9], with the part's
 * thoughtSignature appended after PIER_GEMINI_THOUGHT_SEP when the whole id
 * fits PIER_GEMINI_TOOL_ID_BYTES_MAX; arguments = compact JSON of args),
 * FINISH, USAGE. A prompt blocked with promptFeedback.blockReason: one ERROR
 * event (400, error_type "content_filter") and PIER_EUPSTREAM, err = the same
 * sentence. PIER_EPROTO (err says why) for a reply with neither candidates nor
 * a block reason. A callback's error is returned as is. */
int pier_gemini_response_events(const cJSON *resp, const pier_gemini_info *info, pier_chat_on_event on_event,
                                void *arg, char *err, size_t errlen) PIER_WUR;

/* The same, aggregated: append the OpenAI `chat.completion` JSON for a reply
 * to out (meta gives id, model, created). A blocked prompt appends the OpenAI
 * error body instead and returns PIER_EUPSTREAM (status 400). */
int pier_gemini_response(const cJSON *resp, const pier_gemini_info *info, const pier_openai_meta *meta,
                         pier_buf *out, char *err, size_t errlen) PIER_WUR;

/* ---- errors ------------------------------------------------------------- */

typedef struct pier_gemini_error {
  int status;              /* for pier's client: 4xx kept (API_KEY_INVALID -> 401, 408 -> 504),
                              503 and 504 kept, other 5xx and non-HTTP -> 502 */
  const char *type;        /* static OpenAI error type */
  char code[48];           /* Gemini status ("RESOURCE_EXHAUSTED"), "context_length_exceeded", or "" */
  bool retryable;          /* Gemini said 429, 500, 503 or 504 */
  uint64_t retry_after_ms; /* RetryInfo.retryDelay of the body, 0 if none */
  char message[1024];      /* "<STATUS>: <Gemini text>. Fix: <hint>." NUL-terminated UTF-8, no key */
} pier_gemini_error;

/* http_status: Gemini's status, or 0 for an in-stream error chunk (the status
 * then comes from error.code / error.status). body: the reply body or the
 * chunk, `{"error":{"code","message","status","details"}}`; may be empty or
 * not JSON. Never fails. For API_KEY_INVALID, 401 and 403 the fix names
 * GEMINI_API_KEY; a prompt over the context window gets code
 * context_length_exceeded. */
void pier_gemini_error_map(int http_status, pier_slice body, pier_gemini_error *out);

static inline const char *pier_gemini_error_code(const pier_gemini_error *e) {
  return e->code[0] ? e->code : (const char *)0;
}

/* ---- stream ------------------------------------------------------------- */

/* Caller's storage, no heap, nothing that grows with the answer: state of one
 * streamGenerateContent?alt=sse answer. Each `data:` payload is a whole
 * GenerateContentResponse; function calls arrive whole, never split. */
typedef struct pier_gemini_stream {
  pier_chat_on_event on_event; /* borrowed */
  void *arg;
  bool started;       /* START emitted */
  bool finished;      /* FINISH emitted */
  bool usage_sent;    /* USAGE emitted */
  bool have_usage;    /* usage holds the last usageMetadata */
  int next_tool;      /* OpenAI index of the next tool call */
  int rc;             /* sticky: once negative every call returns it */
  pier_usage usage;
  pier_gemini_error error; /* last error; an ERROR event borrows its strings */
} pier_gemini_stream;

void pier_gemini_stream_init(pier_gemini_stream *s, const pier_gemini_info *info, pier_chat_on_event on_event,
                             void *arg);

/* Feed one SSE `data:` payload (borrowed for the call). START once; TEXT /
 * REASONING deltas; TOOL_START + TOOL_ARGS per functionCall; FINISH with the
 * first finishReason, then USAGE from the latest usageMetadata. Returns 0 to
 * go on. A negative return ends the stream and is sticky: PIER_EUPSTREAM after
 * an {"error":...} chunk or a blocked prompt, PIER_EPROTO after a payload that
 * is not a JSON object (an ERROR event was emitted for all three), or the
 * callback's own error passed through (no ERROR event). */
int pier_gemini_stream_on_data(pier_gemini_stream *s, pier_slice data) PIER_WUR;

/* End of the body. A stream that never said finishReason was cut short:
 * ERROR event (502) and PIER_EPROTO. Otherwise emits USAGE if it is still
 * owed and returns 0 (or the sticky error). */
int pier_gemini_stream_end(pier_gemini_stream *s) PIER_WUR;

/* ---- embeddings --------------------------------------------------------- */

#define PIER_GEMINI_EMBED_INPUTS_MAX 2048           /* OpenAI's own limit per request */
#define PIER_GEMINI_EMBED_BATCH 100                 /* batchEmbedContents: requests per call */
#define PIER_GEMINI_EMBED_OUT_BYTES_MAX (64u << 20) /* rendered embeddings of one request */

typedef struct pier_gemini_embed pier_gemini_embed;

/* Plan the batchEmbedContents calls for an OpenAI embeddings request:
 * `input` a string or an array of non-empty strings; `dimensions` ->
 * outputDimensionality; `task_type` or `input_type` -> taskType (Gemini names
 * such as RETRIEVAL_QUERY, any case, or search_query / search_document /
 * classification / clustering); `encoding_format` float|base64. req and
 * model_id are borrowed; req must outlive *out. PIER_EINVAL with err = a
 * sentence naming the field. */
int pier_gemini_embed_create(const cJSON *req, const char *model_id, pier_gemini_embed **out, char *err,
                             size_t errlen) PIER_WUR;
void pier_gemini_embed_destroy(pier_gemini_embed *e); /* NULL is a no-op */

/* How many batchEmbedContents calls (one per 100 inputs). Their path is
 * pier_gemini_path(model_id, PIER_GEMINI_BATCH_EMBED). */
size_t pier_gemini_embed_calls(const pier_gemini_embed *e);

/* Append the JSON body of call number `call` to body (unchanged on failure). */
int pier_gemini_embed_body(const pier_gemini_embed *e, size_t call, pier_buf *body) PIER_WUR;

/* Feed the reply body of call `call`: {"embeddings":[{"values":[...]}, ...]}
 * with one entry per input of the call. PIER_EPROTO (err says why) for a reply
 * of the wrong shape, PIER_ETOOBIG past PIER_GEMINI_EMBED_OUT_BYTES_MAX,
 * PIER_EINVAL for a bad call number or a second reply for one call. */
int pier_gemini_embed_add_response(pier_gemini_embed *e, size_t call, pier_slice body, char *err,
                                   size_t errlen) PIER_WUR;

/* Append `{"object":"list","data":[{"object":"embedding","index":i,"embedding":
 * [...] | "<base64 float32 LE>"}],"model":..,"usage":{"prompt_tokens","total_tokens"}}`.
 * Gemini reports no token counts: usage is an estimate, ceil(code points / 4)
 * per input, summed. model: the string the client asked for. PIER_EINVAL if a
 * call has no reply. */
int pier_gemini_embed_finish(pier_gemini_embed *e, const char *model, pier_buf *out, char *err,
                             size_t errlen) PIER_WUR;

#endif
