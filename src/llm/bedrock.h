/* bedrock.h — one signed request to Bedrock Runtime: URL with the model id
 * percent-encoded, Bearer (Bedrock API key) or SigV4 (signing name "bedrock",
 * X-Amz-Security-Token signed), JSON body. Used by chat and embeddings. */
#ifndef PIER_LLM_BEDROCK_H
#define PIER_LLM_BEDROCK_H

#include "base/slice.h"
#include "llm/call.h"
#include "llm/route.h"
#include "upstream/client.h"

/* op: "converse", "converse-stream", "invoke", "invoke-with-response-stream".
 * uo: transfer options (url is filled here). body: copied. */
int pier_bedrock_request(pier_upstream *up, const pier_upstream_opts *uo, const pier_route *r, const char *op,
                         pier_slice body, pier_upstream_req **out) PIER_WUR;

/* A Bedrock error reply -> pier's error (AWS name kept, fix from Jetty's
 * troubleshooting table, Retry-After honoured). retries: attempts so far - 1. */
void pier_bedrock_llm_error(pier_upstream_req *ur, pier_slice body, int retries, pier_llm_error *out);

#endif
