/* embed.h — one OpenAI /v1/embeddings request on an event loop, whatever the
 * provider: Bedrock (Titan, Cohere via InvokeModel), Gemini (batchEmbedContents)
 * or an OpenAI-API provider (relayed, model rewritten). Calls run in parallel
 * (bounded), each retried on throttling/5xx/resets; the answer is assembled in
 * input order. */
#ifndef PIER_LLM_EMBED_H
#define PIER_LLM_EMBED_H

#include <cjson/cJSON.h>

#include "llm/call.h"

typedef struct pier_embed pier_embed;

typedef struct pier_embed_result {
  bool ok;
  pier_llm_error error;  /* when !ok */
  pier_slice body;       /* the OpenAI answer JSON; valid during on_done */
  int64_t prompt_tokens;
  int calls;
} pier_embed_result;

typedef struct pier_embed_opts {
  pier_upstream *up;
  uv_loop_t *loop;
  const pier_route *route;  /* copied */
  const cJSON *request;     /* borrowed until on_done/cancel */
  pier_slice raw_request;   /* the client's bytes (OpenAI-API relay); may be empty */
  const char *model;        /* the model as the client named it (copied) */
  pier_llm_limits limits;
  void (*on_done)(void *arg, const pier_embed_result *res); /* exactly once unless cancelled */
  void *arg;
} pier_embed_opts;

/* Bad input fails here (err filled, nothing started). */
int pier_embed_start(const pier_embed_opts *o, pier_embed **out, pier_llm_error *err) PIER_WUR;
void pier_embed_cancel(pier_embed *e);

#endif
