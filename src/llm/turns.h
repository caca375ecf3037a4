/* turns.h — the conversation turns of a provider request built from OpenAI
 * messages, in the shape Converse, Gemini and Anthropic all want: blocks of
 * consecutive messages of one role merged into one turn, a conversation that
 * opens with the assistant preceded by a placeholder user turn, and tool
 * results kept ahead of the other blocks of their user turn. */
#ifndef PIER_LLM_TURNS_H
#define PIER_LLM_TURNS_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "base/error.h"

/* What differs between the providers. */
typedef struct pier_turns_shape {
  const char *items_key;      /* the blocks of a turn: "content" or "parts" */
  const char *assistant_role; /* "assistant" or "model" */
  bool items_first;           /* write {"<items_key>":[..],"role":..} instead of role first */
  bool (*is_result)(const cJSON *block); /* a tool result block */
  cJSON *(*placeholder)(void);           /* the text block of a placeholder user turn; NULL on OOM */
} pier_turns_shape;

typedef struct pier_turns {
  const pier_turns_shape *shape;
  cJSON *list;       /* borrowed: the request's array of turns */
  cJSON *turn;       /* the blocks of the last turn; NULL before the first */
  bool turn_is_user;
} pier_turns;

/* Add block (ownership taken; NULL means out of memory) to the current turn of
 * that role, opening a new turn when the role changes. */
int pier_turns_add(pier_turns *t, bool user, cJSON *block) PIER_WUR;

#endif
