/* bedrock_embed.h — OpenAI /v1/embeddings <-> Bedrock InvokeModel for Titan
 * Text Embeddings (v1, v2) and Cohere Embed (v3 english/multilingual, v4).
 * No I/O: the caller runs the calls this plans (in any order, even in parallel)
 * and feeds each reply back; results are assembled in input order. */
#ifndef PIER_LLM_BEDROCK_EMBED_H
#define PIER_LLM_BEDROCK_EMBED_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

#define PIER_BEDROCK_EMBED_INPUTS_MAX 2048             /* OpenAI's own limit per request */
#define PIER_BEDROCK_EMBED_COHERE_BATCH 96             /* Cohere: texts per call */
#define PIER_BEDROCK_EMBED_OUT_BYTES_MAX (64u << 20)   /* rendered embeddings of one request */

typedef enum pier_bedrock_embed_family {
  PIER_BEDROCK_EMBED_TITAN_V1,  /* amazon.titan-embed-text-v1, amazon.titan-embed-g1-text-02 */
  PIER_BEDROCK_EMBED_TITAN_V2,  /* amazon.titan-embed-text-v2:0 */
  PIER_BEDROCK_EMBED_COHERE_V3, /* cohere.embed-english-v3, cohere.embed-multilingual-v3 */
  PIER_BEDROCK_EMBED_COHERE_V4, /* cohere.embed-v4* */
} pier_bedrock_embed_family;

typedef struct pier_bedrock_embed pier_bedrock_embed;

/* Family of a Bedrock model id; a geo prefix (us., eu., apac., ...) and an ARN
 * path are ignored. PIER_ENOTFOUND for anything else. */
int pier_bedrock_embed_family_of(const char *model_id, pier_bedrock_embed_family *out) PIER_WUR;

/* Plan the calls for an OpenAI embeddings request (`input` string or array of
 * strings, `dimensions`, `encoding_format` float|base64, `input_type` for
 * Cohere, default search_document). req is borrowed and must outlive *out.
 * PIER_EINVAL / PIER_ENOTFOUND with err = a sentence naming the field. */
int pier_bedrock_embed_create(const cJSON *req, const char *model_id, pier_bedrock_embed **out, char *err,
                              size_t errlen) PIER_WUR;
void pier_bedrock_embed_destroy(pier_bedrock_embed *e); /* NULL is a no-op */

/* How many InvokeModel calls (Titan: one per input; Cohere: one per 96). */
size_t pier_bedrock_embed_calls(const pier_bedrock_embed *e);

/* Append the JSON body of call number `call` to body. */
int pier_bedrock_embed_body(const pier_bedrock_embed *e, size_t call, pier_buf *body) PIER_WUR;

/* Feed the reply body of call `call`. input_tokens: the value of the
 * x-amzn-bedrock-input-token-count header (used for Cohere; may be empty).
 * PIER_EPROTO (err says why) for a reply of the wrong shape, PIER_ETOOBIG past
 * PIER_BEDROCK_EMBED_OUT_BYTES_MAX, PIER_EINVAL for a bad call number or a
 * second reply for one call. */
int pier_bedrock_embed_add_response(pier_bedrock_embed *e, size_t call, pier_slice body, pier_slice input_tokens,
                                    char *err, size_t errlen) PIER_WUR;

/* Append `{"object":"list","data":[{"object":"embedding","index":i,"embedding":
 * [...] | "<base64 float32 LE>"}],"model":..,"usage":{"prompt_tokens","total_tokens"}}`.
 * model: the string the client asked for. PIER_EINVAL if a call has no reply. */
int pier_bedrock_embed_finish(pier_bedrock_embed *e, const char *model, pier_buf *out, char *err,
                              size_t errlen) PIER_WUR;

#endif
