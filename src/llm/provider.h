/* provider.h — the adapter contract every provider implements (private to
 * src/llm): build a request, decode a streamed or buffered answer into events,
 * map an error reply. State lives in the call; one attempt may be retried, so
 * `begin` resets per-attempt state. */
#ifndef PIER_LLM_PROVIDER_H
#define PIER_LLM_PROVIDER_H

#include "llm/call.h"

typedef struct pier_provider_ops {
  const char *name;
  size_t state_size;
  /* Once per call, before any attempt: validate and translate the request.
   * PIER_EAGAIN asks the call to inline remote images first, then call again. */
  int (*init)(pier_chat_call *c, void *st, pier_llm_error *err);
  /* Each attempt: method, URL, headers, body (signed now). */
  int (*begin)(pier_chat_call *c, void *st, pier_upstream_req **out, pier_llm_error *err);
  /* Streamed 2xx body bytes. */
  int (*feed)(pier_chat_call *c, void *st, const char *data, size_t len);
  /* End of a streamed 2xx body: PIER_EPROTO if it was cut short. */
  int (*end)(pier_chat_call *c, void *st);
  /* Buffered 2xx body (non-streaming). */
  int (*parse)(pier_chat_call *c, void *st, pier_slice body, pier_llm_error *err);
  /* A non-2xx reply. */
  void (*error)(pier_chat_call *c, void *st, pier_upstream_req *ur, pier_slice body, pier_llm_error *out);
  void (*dispose)(void *st);
} pier_provider_ops;

extern const pier_provider_ops pier_provider_bedrock;
extern const pier_provider_ops pier_provider_openai;
extern const pier_provider_ops pier_provider_gemini;
extern const pier_provider_ops pier_provider_anthropic;
extern const pier_provider_ops pier_provider_anthropic_native; /* /v1/messages -> Anthropic */
extern const pier_provider_ops pier_provider_bedrock_invoke;   /* /v1/messages -> Bedrock InvokeModel */
const char *pier_chat_call_anthropic_version(const pier_chat_call *c);
const char *pier_chat_call_anthropic_beta(const pier_chat_call *c);

/* OpenAI-shaped error reply -> pier's error (shared by OpenAI-API providers). */
void pier_openai_error_map(const pier_route *r, int status, pier_slice body, pier_slice retry_after,
                           pier_llm_error *out);

/* For providers. */
const pier_route *pier_chat_call_route(const pier_chat_call *c);
cJSON *pier_chat_call_request(const pier_chat_call *c);
bool pier_chat_call_streaming(const pier_chat_call *c);
int pier_chat_call_attempt(const pier_chat_call *c); /* 1-based */
pier_upstream *pier_chat_call_upstream(const pier_chat_call *c);
const pier_llm_limits *pier_chat_call_limits(const pier_chat_call *c);
/* Deliver an event to the consumer (ERROR events become the call's error). */
int pier_chat_call_emit(void *call, const pier_chat_event *ev);
/* Raw relay (see pier_chat_call_opts.on_raw). */
bool pier_chat_call_wants_raw(const pier_chat_call *c);
int pier_chat_call_raw(pier_chat_call *c, pier_slice bytes);
pier_slice pier_chat_call_raw_request(const pier_chat_call *c);
const char *pier_chat_call_relay_model(const pier_chat_call *c);
/* What a raw relay learnt on the way (events carry these themselves). */
void pier_chat_call_note_usage(pier_chat_call *c, const pier_usage *u);
void pier_chat_call_note_text(pier_chat_call *c, pier_slice text);
void pier_chat_call_note_finish(pier_chat_call *c, const char *finish_reason);

/* A POST of a JSON body to url with the call's callbacks and the given
 * header (name, value) pairs; values holding secrets are wiped from pier's
 * temporary buffers after use. */
typedef struct pier_header_kv {
  const char *name;
  const char *value; /* NULL: header skipped */
} pier_header_kv;
int pier_chat_call_post_json(pier_chat_call *c, const char *url, const pier_header_kv *headers, size_t n,
                             pier_slice body, pier_upstream_req **out) PIER_WUR;

/* Transfer options with the call's timeouts and callbacks wired in (the
 * provider sets method and url). */
void pier_chat_call_upstream_opts(pier_chat_call *c, pier_upstream_opts *uo);

#endif
