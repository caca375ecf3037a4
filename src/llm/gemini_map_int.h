/* gemini_map_int.h — shared by gemini_*.c only (not a public contract): the
 * request builder's state and the helpers that the request, reply and stream
 * halves must agree on (tool ids, events). */
#ifndef PIER_LLM_GEMINI_MAP_INT_H
#define PIER_LLM_GEMINI_MAP_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "llm/chat.h"
#include "llm/gemini_map.h"
#include "llm/turns.h"

/* State of one pier_gemini_build call. */
typedef struct pier_gemini_build_st {
  const cJSON *req;       /* borrowed OpenAI request */
  const char *model_id;   /* borrowed; "" when unknown */
  pier_gemini_info *info; /* borrowed out-parameter */
  cJSON *body;            /* owned body under construction */
  cJSON *contents;        /* in body */
  cJSON *system;          /* parts array of systemInstruction; NULL until the first system text */
  pier_turns turns;       /* over contents */
  cJSON *call_names;      /* owned {tool_call_id: function name} from assistant tool_calls */
  char *err;
  size_t errlen;
} pier_gemini_build_st;

/* Write "<path>: <what>" into b->err; returns PIER_EINVAL. */
int pier_gemini_bad(pier_gemini_build_st *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* generationConfig, tools, toolConfig (gemini_params.c). */
int pier_gemini_add_params(pier_gemini_build_st *b) PIER_WUR;

/* {"<key>": value}; takes ownership of value; NULL on OOM (value freed). */
cJSON *pier_gemini_wrap(const char *key, cJSON *value);

/* The candidate with index 0 (a missing index reads as 0), or NULL. */
const cJSON *pier_gemini_candidate0(const cJSON *resp);

/* Emit the events of a candidate's content.parts: TEXT / REASONING per text
 * part, TOOL_START + TOOL_ARGS per functionCall (OpenAI index *next_tool,
 * then incremented; id rules in gemini_map.h); other parts are skipped. */
int pier_gemini_send_parts(const cJSON *candidate, int *next_tool, pier_chat_on_event on_event, void *arg) PIER_WUR;

/* The text of a prompt-blocked reply ("Gemini blocked the prompt ..."), or
 * false when resp is not one (it has candidates or no blockReason). */
bool pier_gemini_blocked(const cJSON *resp, char *msg, size_t msglen);

#endif
