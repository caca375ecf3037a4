/* call.h — one model call on an event loop: build the provider request, send
 * it through the loop's upstream client, decode the answer into normalised
 * events, retry with backoff while nothing has been delivered, and report
 * once. Errors reach the consumer only through on_done, never as events. */
#ifndef PIER_LLM_CALL_H
#define PIER_LLM_CALL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"
#include "llm/chat.h"
#include "llm/route.h"
#include "upstream/client.h"

typedef struct pier_chat_call pier_chat_call;

typedef struct pier_llm_error {
  int status;          /* HTTP status for our client */
  char type[48];       /* OpenAI error type */
  char code[64];       /* provider error name or pier's code; "" = null */
  char message[1200];  /* what went wrong and how to fix it; never a secret */
  bool retryable;
  uint64_t retry_after_ms; /* from Retry-After, 0 if none */
} pier_llm_error;

typedef struct pier_llm_limits {
  uint64_t connect_timeout_ms;
  uint64_t ttfb_timeout_ms;
  uint64_t idle_timeout_ms;
  uint64_t total_timeout_ms;
  int retries;             /* extra attempts after the first */
  uint64_t retry_base_ms;  /* first backoff; doubles, full jitter */
  uint64_t retry_max_ms;   /* cap on one wait (also caps Retry-After) */
  size_t response_bytes_max;
  size_t image_bytes_max;  /* remote images fetched for inlining */
} pier_llm_limits;

#define PIER_CHAT_OUTPUT_BYTES_MAX (64 * 1024) /* answer text kept for recording */

typedef struct pier_chat_result {
  bool ok;
  const char *finish_reason; /* static, NULL if none seen */
  pier_slice output;         /* answer text (capped), valid during on_done */
  pier_llm_error error; /* when !ok */
  pier_usage usage;
  int attempts;
  bool delivered;       /* some event reached the consumer */
  int64_t latency_ms;   /* from start to done */
  int64_t ttft_ms;      /* to the first delivered event, -1 if none */
} pier_chat_result;

typedef struct pier_chat_call_opts {
  pier_upstream *up;        /* the loop's client; borrowed */
  uv_loop_t *loop;
  const pier_route *route;  /* copied */
  cJSON *request;           /* OpenAI request; borrowed until on_done/cancel (remote
                               image URLs in it may be replaced by data URLs) */
  bool stream;              /* use the provider's streaming API */
  pier_llm_limits limits;
  pier_chat_on_event on_event; /* events as they arrive */
  /* Optional: called after each chunk from upstream has been turned into
   * events, so a caller that buffers events writes once per chunk, not once
   * per event. Non-zero aborts like on_event. */
  int (*on_flush)(void *arg);
  /* Optional fast path for OpenAI-API providers: the provider's own bytes
   * (SSE frames or the JSON body) with only `model` rewritten to relay_model,
   * instead of events. raw_request is the client's body, used byte for byte. */
  int (*on_raw)(void *arg, pier_slice bytes);
  pier_slice raw_request;
  const char *relay_model;
  /* The request and the answer are Anthropic Messages API bytes (serving
   * /v1/messages): only Anthropic and Claude-on-Bedrock routes; needs on_raw,
   * raw_request; anthropic_beta is forwarded. */
  bool anthropic_api;
  const char *anthropic_version, *anthropic_beta;
  void *arg;
  void (*on_done)(void *arg, const pier_chat_result *res); /* exactly once unless cancelled */
} pier_chat_call_opts;

/* Starts the call. A request the provider cannot express (bad messages, ...)
 * fails here with err filled (status 400) and nothing started. */
int pier_chat_call_start(const pier_chat_call_opts *o, pier_chat_call **out, pier_llm_error *err) PIER_WUR;
/* No more callbacks; the upstream transfer is aborted at once. */
void pier_chat_call_cancel(pier_chat_call *c);

/* Sensible defaults (tests and flags override). */
void pier_llm_limits_default(pier_llm_limits *l);
/* Fill an error with printf-style message. */
void pier_llm_error_set(pier_llm_error *e, int status, const char *type, const char *code, bool retryable,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
