/* fuzz_chat_map.c — libFuzzer harness for the OpenAI -> provider request
 * mappings (Converse, Gemini, Anthropic on its API and on Bedrock): a client's
 * /v1/chat/completions body is untrusted. Invariants: each mapping either
 * succeeds with a body that is valid JSON, or fails with a message (and no
 * body bytes); nothing crashes, leaks or reads out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "llm/anthropic_map.h"
#include "llm/converse.h"
#include "llm/gemini_map.h"

static const char *const MODELS[] = {"us.anthropic.claude-sonnet-4-6", "gemini-3-pro-preview", "claude-sonnet-4-6",
                                     "us.meta.llama3-1-70b-instruct-v1:0"};

static void check(int rc, pier_buf *body, const char *err) {
  if (rc == 0) {
    cJSON *j = cJSON_ParseWithLength(body->ptr, body->len);
    if (!cJSON_IsObject(j)) abort(); /* a mapping wrote something that is not a JSON object */
    cJSON_Delete(j);
  } else if (rc == PIER_EINVAL && !err[0]) {
    abort(); /* a refusal must say why */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *model = MODELS[data[0] % (sizeof MODELS / sizeof MODELS[0])];
  char perr[64];
  cJSON *req = pier_json_parse(pier_slice_make((const char *)data + 1, size - 1), 64, perr, sizeof perr);
  if (!req) return 0;
  char err[512];
  pier_buf body;
  pier_buf_init(&body, 1 << 22);
  {
    pier_converse_info info;
    err[0] = '\0';
    check(pier_converse_build(req, model, &body, &info, err, sizeof err), &body, err);
    pier_buf_reset(&body);
  }
  {
    pier_gemini_info info;
    err[0] = '\0';
    check(pier_gemini_build(req, model, &body, &info, err, sizeof err), &body, err);
    pier_buf_reset(&body);
  }
  {
    pier_anthropic_info info;
    err[0] = '\0';
    check(pier_anthropic_build(req, model, &body, &info, err, sizeof err), &body, err);
    pier_buf_reset(&body);
    err[0] = '\0';
    check(pier_anthropic_build_bedrock(req, model, &body, &info, err, sizeof err), &body, err);
  }
  pier_buf_dispose(&body);
  cJSON_Delete(req);
  return 0;
}
