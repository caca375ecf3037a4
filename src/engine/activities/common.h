/* common.h — pieces shared by the activities: building an OpenAI request from
 * step inputs, writing a completion into the outputs, typed input knobs, image
 * data URLs and a bounded fan-out for activities that run many items. */
#ifndef PIER_ENGINE_ACTIVITIES_COMMON_H
#define PIER_ENGINE_ACTIVITIES_COMMON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"
#include "engine/activity.h"

/* Parameters every chat-like activity accepts (step-templates JSON, without braces). */
#define PIER_ACT_CHAT_PARAMS_BODY                                                                                  \
  "\"model\":{\"type\":\"string\",\"required\":true,\"description\":\"e.g. us.anthropic.claude-sonnet-4-6, "      \
  "gpt-4o-mini, bedrock/...\"},"                                                                                \
  "\"model_provider\":{\"type\":\"string\",\"description\":\"bedrock, openai, anthropic, gemini, openrouter, ...\"}," \
  "\"prompt\":{\"type\":\"string\",\"description\":\"the user message\"},"                                      \
  "\"system_prompt\":{\"type\":\"string\"},"                                                                      \
  "\"messages\":{\"type\":\"array\",\"description\":\"a full OpenAI messages array instead of prompt\"},"        \
  "\"temperature\":{\"type\":\"number\"},\"max_tokens\":{\"type\":\"integer\"},\"top_p\":{\"type\":\"number\"},"  \
  "\"stop\":{\"type\":\"array\"},\"response_format\":{\"type\":\"object\",\"description\":\"OpenAI json_object / "  \
  "json_schema\"},\"fallbacks\":{\"type\":\"array\",\"description\":\"models to try if this one fails\"}"
#define PIER_ACT_CHAT_PARAMS "{" PIER_ACT_CHAT_PARAMS_BODY "}"

/* An OpenAI chat request from the step inputs: model, messages (or
 * system_prompt + prompt), and the passthrough knobs. NULL with err set. */
cJSON *pier_act_chat_request(pier_step *s, char *err, size_t errlen);
/* As above with a given user content (string or content-part array, taken). */
cJSON *pier_act_chat_request_with(pier_step *s, cJSON *user_content, char *err, size_t errlen);
/* outputs.text / content / finish_reason / model / usage (+ json, tool_calls). */
void pier_act_put_completion(pier_step *s, const cJSON *completion, const pier_chat_result *res);
/* The end of a one-call activity (a pier_step_chat_cb): the completion's
 * outputs and done, or the call's error. */
void pier_act_chat_done(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion);

/* ---- inputs ------------------------------------------------------------------------- */

/* An optional integer knob: absent or null -> def; a number or a decimal string
 * (form fields arrive as strings) within [min, max]; clamped to cap when cap > 0.
 * PIER_EINVAL with "<key> must be an integer from <min> to <max> (got ...)". */
int pier_act_int(const cJSON *in, const char *key, int def, int min, int max, int cap, int *out, char *err,
                 size_t errlen) PIER_WUR;
/* An optional boolean knob: true/false, 1/0, "true"/"false"/"yes"/"no"/"1"/"0". */
int pier_act_bool(const cJSON *in, const char *key, bool def, bool *out, char *err, size_t errlen) PIER_WUR;
/* The first of keys (NULL-terminated) present and not null in in, or NULL;
 * *which names it. For aliases: input/texts, prompts/items, ... */
const cJSON *pier_act_first(const cJSON *in, const char *const *keys, const char **which);
/* A non-empty string value or NULL. */
const char *pier_act_str(const cJSON *in, const char *key);

/* The step's config as written in the workflow, before `_path` resolution and
 * `{{ }}` rendering (borrowed, valid during the step). Lets an activity tell a
 * literal value from one a path produced (list_emit_await's "items_path is
 * required"). Reads the trajectory's step record: see the note in common.c. */
const cJSON *pier_act_raw_config(pier_step *s);

/* True once the server is shutting down: results that only say "the server
 * is stopping" (a child run's watch released without a document) must not end
 * the step, or a run that would resume after the restart is failed instead.
 * Reads engine state directly, like pier_act_raw_config. */
bool pier_act_stopping(pier_step *s);

/* ---- images ------------------------------------------------------------------------- */

#define PIER_ACT_IMAGE_BYTES_MAX 3932160u /* 3.75 MB: Bedrock's per-image limit, applied everywhere */

/* True for a name ending in .png .jpg .jpeg .gif .webp (any case). */
bool pier_act_image_name(const char *path);
/* "data:<type>;base64,..." (caller frees) for image bytes. The type comes from
 * the bytes' signature (PNG, JPEG, GIF, WebP), else from content_type when it
 * starts with "image/"; anything else is refused: NULL with err set. */
char *pier_act_image_data_url(pier_slice bytes, const char *content_type, char *err, size_t errlen);
/* Why pier_step_read_file / its callback failed, for messages about `what`
 * (e.g. `image_path "acme/t/0000/x.png"`). */
void pier_act_read_error(pier_step *s, int rc, const char *what, const char *path, char *err, size_t errlen);

/* ---- bounded fan-out ---------------------------------------------------------------- */

/* Runs n items with at most max in flight. launch starts item i and returns 0,
 * or returns non-zero having recorded the item's failure itself; its
 * completion may come back synchronously from inside launch. Every completion
 * calls pier_act_fan_ended and then, when pier_act_fan_next returns true, ends
 * the step (exactly once: completions arriving inside launch return false).
 * Setting abort stops new starts and ends the step at the next chance, which
 * must then be pier_step_fail: it cancels what is still in flight, while
 * pier_step_done would leave those ops running against a freed step. */
typedef struct pier_act_fan {
  int n, max;
  int next;    /* next item to start */
  int running; /* started, not ended */
  bool pumping, abort;
  int (*launch)(pier_step *s, int i);
} pier_act_fan;

/* Start what may start; true when the step must end now (all items ended, or abort). */
bool pier_act_fan_next(pier_act_fan *f, pier_step *s);
static inline void pier_act_fan_ended(pier_act_fan *f) { f->running--; }

#endif
