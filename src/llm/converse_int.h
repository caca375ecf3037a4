/* converse_int.h — shared by converse*.c only (not a public contract): the
 * request builder's state, and usage/finish mapping so the reply and stream
 * paths cannot drift apart. */
#ifndef PIER_LLM_CONVERSE_INT_H
#define PIER_LLM_CONVERSE_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "llm/chat.h"
#include "llm/converse.h"
#include "llm/turns.h"

/* State of one pier_converse_build call. */
typedef struct pier_converse_build_st {
  const cJSON *req;         /* borrowed OpenAI request */
  const char *model_id;     /* borrowed; "" when unknown */
  pier_converse_info *info; /* borrowed out-parameter */
  cJSON *body;              /* owned Converse body under construction */
  cJSON *messages;          /* in body */
  cJSON *system;            /* in body; NULL until the first system block */
  pier_turns turns;         /* over messages */
  bool history_tools;       /* a toolUse or toolResult block was written */
  cJSON *used_tools;        /* owned array of tool names used in the history */
  char *err;
  size_t errlen;
} pier_converse_build_st;

/* Write "<path>: <what>" into b->err; returns PIER_EINVAL. */
int pier_converse_bad(pier_converse_build_st *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* inferenceConfig, toolConfig, additionalModelRequestFields (converse_params.c). */
int pier_converse_add_params(pier_converse_build_st *b) PIER_WUR;

/* Converse TokenUsage -> pier_usage (prompt = input + cacheRead + cacheWrite,
 * total = prompt + completion). Missing or negative counts read as 0. */
void pier_converse_usage_read(const cJSON *usage, pier_usage *out);

/* finish_reason for stopReason; in JSON mode a tool_use stop with no real tool
 * call is the answer itself, i.e. "stop". */
const char *pier_converse_finish_for(const char *stop_reason, bool json_mode, int real_tools);

#endif
