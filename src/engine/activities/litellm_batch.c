/* litellm_batch.c — one chat completion per prompt (`prompts`, alias `items`)
 * with at most max_concurrency calls in flight. Results stay in input order
 * whatever order the answers come in: outputs.results[i] is {text, usage} or
 * {error}, outputs.texts[i] the text or null. A failed prompt does not fail
 * the step unless fail_fast (then the calls in flight are cancelled) or every
 * prompt failed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"

#define PROMPTS_MAX 1000
#define CONCURRENCY_MAX 50

typedef struct batch {
  pier_act_fan fan;
  const cJSON **prompts; /* borrowed from the inputs */
  cJSON **results;       /* owned, one per prompt, NULL until it ends */
  int completed, failed;
  bool fail_fast;
  int first_failed;      /* -1 */
  char first_error[700];
} batch;

static void batch_free(batch *b) {
  if (!b) return;
  for (int i = 0; b->results && i < b->fan.n; i++) cJSON_Delete(b->results[i]);
  free(b->results);
  free(b->prompts);
  free(b);
}

static void cancel(pier_step *s) {
  batch_free(pier_step_state(s));
  pier_step_set_state(s, NULL);
}

static void finish(pier_step *s, batch *b) {
  cJSON *out = pier_step_outputs(s), *results = cJSON_AddArrayToObject(out, "results");
  cJSON *texts = cJSON_AddArrayToObject(out, "texts");
  for (int i = 0; i < b->fan.n; i++) {
    cJSON *r = b->results[i];
    b->results[i] = NULL;
    const char *t = pier_json_str(r, "text");
    cJSON_AddItemToArray(texts, t ? cJSON_CreateString(t) : cJSON_CreateNull());
    cJSON_AddItemToArray(results, r ? r : cJSON_CreateNull());
  }
  cJSON_AddNumberToObject(out, "completed", b->completed);
  cJSON_AddNumberToObject(out, "failed", b->failed);
  char msg[900];
  bool abort = b->fan.abort, all_failed = b->fan.n > 0 && b->failed == b->fan.n;
  if (abort)
    snprintf(msg, sizeof msg, "prompts[%d] failed and fail_fast is on (the calls in flight were cancelled): %s",
             b->first_failed, b->first_error);
  else if (all_failed)
    snprintf(msg, sizeof msg, "all %d prompts failed; prompts[%d]: %s", b->fan.n, b->first_failed, b->first_error);
  pier_step_set_state(s, NULL);
  batch_free(b);
  if (abort || all_failed) pier_step_fail(s, "%s", msg);
  else pier_step_done(s);
}

/* The outcome of prompt i (result taken; error instead when it failed). */
static void record(batch *b, int i, cJSON *result, const char *error) {
  if (error) {
    result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "error", error);
    b->failed++;
    if (b->first_failed < 0) {
      b->first_failed = i;
      snprintf(b->first_error, sizeof b->first_error, "%s", error);
    }
    if (b->fail_fast) b->fan.abort = true;
  } else {
    b->completed++;
  }
  b->results[i] = result;
}

static void ended(pier_step *s, batch *b, int i, cJSON *result, const char *error) {
  record(b, i, result, error);
  pier_act_fan_ended(&b->fan);
  if (pier_act_fan_next(&b->fan, s)) finish(s, b);
}

static void on_answer(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion) {
  batch *b = pier_step_state(s);
  int i = (int)(intptr_t)arg;
  if (!completion) {
    ended(s, b, i, NULL, res->error.message[0] ? res->error.message : "the model call failed");
    return;
  }
  const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0);
  const char *text = pier_json_str(cJSON_GetObjectItemCaseSensitive(choice, "message"), "content");
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(completion, "usage");
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "text", text ? text : "");
  cJSON_AddItemToObject(r, "usage", usage ? cJSON_Duplicate(usage, 1) : cJSON_CreateObject());
  ended(s, b, i, r, NULL);
}

static int launch(pier_step *s, int i) {
  batch *b = pier_step_state(s);
  char err[512];
  cJSON *req = pier_act_chat_request_with(s, cJSON_CreateString(b->prompts[i]->valuestring), err, sizeof err);
  if (!req || pier_step_chat(s, req, on_answer, (void *)(intptr_t)i) != 0) {
    record(b, i, NULL, req ? "could not start the model call" : err);
    return -1;
  }
  return 0;
}

/* prompts/items: an array of strings, at most PROMPTS_MAX. */
static int read_prompts(const cJSON *in, batch *b, char *err, size_t errlen) {
  static const char *const keys[] = {"prompts", "items", NULL};
  const char *key;
  const cJSON *p = pier_act_first(in, keys, &key);
  int n = cJSON_GetArraySize(p);
  if (!cJSON_IsArray(p) || n > PROMPTS_MAX) {
    char got[48];
    if (cJSON_IsArray(p)) snprintf(got, sizeof got, "%d", n);
    else snprintf(got, sizeof got, "%s", pier_json_type_name(p));
    snprintf(err, errlen, "prompts must be an array of at most %d strings (got %s); give prompts or prompts_path",
             PROMPTS_MAX, got);
    return PIER_EINVAL;
  }
  b->fan.n = n;
  b->prompts = calloc((size_t)n + 1, sizeof *b->prompts);
  b->results = calloc((size_t)n + 1, sizeof *b->results);
  if (!b->prompts || !b->results) {
    snprintf(err, errlen, "out of memory");
    return PIER_ENOMEM;
  }
  int i = 0;
  for (const cJSON *e = p->child; e; e = e->next, i++) {
    if (!cJSON_IsString(e)) {
      snprintf(err, errlen, "%s[%d] must be a string (got %s)", key, i, pier_json_type_name(e));
      return PIER_EINVAL;
    }
    b->prompts[i] = e;
  }
  return 0;
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  char err[512];
  batch *b = calloc(1, sizeof *b);
  if (!b) {
    pier_step_fail(s, "out of memory");
    return;
  }
  b->first_failed = -1;
  b->fan.launch = launch;
  int rc = read_prompts(in, b, err, sizeof err);
  if (!rc) rc = pier_act_int(in, "max_concurrency", 5, 1, 1000000, CONCURRENCY_MAX, &b->fan.max, err, sizeof err);
  if (!rc) rc = pier_act_bool(in, "fail_fast", false, &b->fail_fast, err, sizeof err);
  if (!rc && !pier_act_str(in, "model")) rc = PIER_EINVAL, snprintf(err, sizeof err, "model is required (or model_path pointing at one)");
  if (rc) {
    batch_free(b);
    pier_step_fail(s, "%s", err);
    return;
  }
  pier_step_set_state(s, b);
  if (pier_act_fan_next(&b->fan, s)) finish(s, b);
}

const pier_activity pier_act_litellm_batch = {
    .name = "litellm_batch",
    .category = "ai",
    .description = "One chat completion per prompt, several at once: outputs.results[i] = {text, usage} or {error}, "
                   "in input order.",
    .params_json = "{" PIER_ACT_CHAT_PARAMS_BODY
                   ",\"prompts\":{\"type\":\"array\",\"required\":true,\"description\":\"the user messages, one call "
                   "each (alias: items)\"},"
                   "\"max_concurrency\":{\"type\":\"integer\",\"description\":\"calls in flight (default 5, at most "
                   "50)\"},"
                   "\"fail_fast\":{\"type\":\"boolean\",\"description\":\"fail the step at the first failed prompt "
                   "and cancel the rest (default false)\"}}",
    .start = start,
    .cancel = cancel,
};
