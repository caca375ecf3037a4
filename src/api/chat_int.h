/* chat_int.h — state of one OpenAI-API request (chat completions), shared by
 * h_chat.c and the request parsing in chat_ctx.c. Lives in the request arena. */
#ifndef PIER_API_CHAT_INT_H
#define PIER_API_CHAT_INT_H

#include "api/api.h"
#include "llm/anthropic_map.h"
#include "llm/call.h"
#include "llm/openai_sse.h"
#include "llm/route.h"

typedef struct pier_chat_ctx pier_chat_ctx;

struct pier_chat_ctx {
  pier_http_req *req;
  cJSON *body;              /* the request (owned by the request arena) */
  pier_collection col;      /* whose credentials pay */
  const char *model;        /* as the client wrote it */
  const char *model_provider;
  bool stream;
  pier_llm_limits limits;
  pier_route route;
  pier_chat_call *call;
  bool anthropic;           /* the client speaks the Anthropic Messages API (/v1/messages) */
  cJSON *anthropic_body;    /* that request as sent (owned by the request arena) */
  pier_openai_sse sse;      /* stream */
  pier_openai_agg agg;      /* non-stream */
  pier_anthropic_sse asse;  /* stream, Anthropic dialect */
  pier_anthropic_agg aagg;  /* non-stream, Anthropic dialect */
  pier_buf out;             /* SSE bytes not yet written */
  uv_timer_t *ka;           /* keep-alive comments (heap: closed asynchronously) */
  uint64_t ka_ms, last_write_ms;
  bool begun, started, in_cb, aborted, ended;
  bool waiting_env;         /* a store job holds the request: do not end it */
  bool raw;                 /* relaying an OpenAI-API provider's own bytes */
  cJSON *env;               /* decrypted environment, kept for fallbacks (owned) */
  const cJSON *fallbacks;   /* LiteLLM's "fallbacks": [model, ...] (in body) */
  const cJSON *next_fallback;
  const char *answering_model; /* the model string of the current attempt */
  int attempts_total;
  /* Called with the result before the response is finished (recording). */
  void (*on_finish)(pier_chat_ctx *x, const pier_chat_result *res);
};

/* Validate the body, find the collection (collection key, or admin +
 * jetty.collection), set model/stream/limits and the writers. NULL = answered. */
pier_chat_ctx *pier_chat_ctx_new(pier_http_req *req, cJSON *body, bool anthropic);
/* Runbook mode (jetty.runbook: true, h_runbook_chat.c): true when it took the
 * request (answered or answering), false for a plain chat request. */
bool pier_runbook_chat(pier_http_req *req, cJSON *body);
void pier_chat_finish(pier_chat_ctx *x, const pier_chat_result *res);
/* (Re)initialise the SSE writer / aggregator for `model` (fallbacks). */
int pier_chat_ctx_reset_writers(pier_chat_ctx *x, const char *model) PIER_WUR;

/* The collection an OpenAI-API request bills: the key's own, or for the admin
 * token the one named in jetty.collection. false = answered. */
bool pier_openai_collection(pier_http_req *req, const cJSON *body, pier_collection *out);

/* Record the call as a trajectory (chat_record.c); queued, never waited for. */
void pier_chat_record(pier_chat_ctx *x, const pier_chat_result *res);

void pier_h_chat_completions(pier_http_req *req);
void pier_h_messages(pier_http_req *req);
void pier_h_count_tokens(pier_http_req *req);
/* Shared by both dialects: start the call for the context (env loaded). */
void pier_chat_begin(pier_chat_ctx *x);
void pier_h_embeddings(pier_http_req *req);
void pier_h_models(pier_http_req *req);

#endif
