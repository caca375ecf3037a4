/* anthropic_int.h — shared by anthropic_*.c only (not a public contract): the
 * request builder's state and the small helpers both translation directions
 * use, so the two sides of one mapping live next to each other. */
#ifndef PIER_LLM_ANTHROPIC_INT_H
#define PIER_LLM_ANTHROPIC_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "llm/anthropic_map.h"
#include "llm/turns.h"

/* State of one pier_anthropic_build call. */
typedef struct pier_anthropic_build_st {
  const cJSON *req;          /* borrowed OpenAI request */
  pier_anthropic_info *info; /* borrowed out-parameter */
  bool bedrock;              /* InvokeModel flavour */
  cJSON *messages;           /* owned array under construction */
  cJSON *system;             /* owned array of text blocks; NULL until the first */
  pier_turns turns;          /* over messages */
  bool history_tools;        /* a tool_use or tool_result block was written */
  cJSON *used_tools;         /* owned array of tool names used in the history */
  char *err;
  size_t errlen;
} pier_anthropic_build_st;

/* Write "<path>: <what>" into b->err; returns PIER_EINVAL. */
int pier_anthropic_bad(pier_anthropic_build_st *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* messages + system (anthropic_req.c). */
int pier_anthropic_add_messages(pier_anthropic_build_st *b) PIER_WUR;
/* max_tokens, sampling, stop, thinking, tools, tool_choice, metadata, stream
 * added to body (anthropic_params.c). */
int pier_anthropic_add_params(pier_anthropic_build_st *b, cJSON *body) PIER_WUR;

/* The member `key` of o, NULL when absent or JSON null. */
const cJSON *pier_anthropic_opt(const cJSON *o, const char *key);

/* Content block kinds of the stream decoder, SSE writer and aggregator. */
enum { PIER_ANT_BLK_NONE, PIER_ANT_BLK_TEXT, PIER_ANT_BLK_THINKING, PIER_ANT_BLK_TOOL, PIER_ANT_BLK_JSON,
       PIER_ANT_BLK_OTHER };

/* finish_reason in JSON mode: a tool_use stop with no real tool call is the
 * answer itself, i.e. "stop". */
const char *pier_anthropic_finish_for(const char *stop_reason, bool json_mode, int real_tools);

/* `"id":..,"type":"message","role":"assistant","model":..` for a meta. */
int pier_anthropic_meta_head(pier_buf *b, const pier_anthropic_meta *m) PIER_WUR;

#endif
