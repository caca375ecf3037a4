/* conditional_branch.c (older name conditional_step) — evaluate `condition`
 * and continue at `true_step` or `false_step` (a step later in `steps`; the
 * steps in between are recorded "skipped"); an omitted target means "go on
 * with the next step". Outputs condition (bool) and next_step (the target, or
 * null when going on).
 *
 * Truthiness of a value (condition_path resolves before start()):
 *   false: false, null, 0, "", [], {}, and the strings "false", "no", "0",
 *          "off", "none", "null" (any case, surrounding spaces ignored)
 *   true:  everything else ("yes", "true", "ok", 1, -2.5, [0], {"a":1}, ...)
 * A missing condition is an error, not false: a typo in condition_path fails
 * during resolution, and a step without any condition is a mistake.
 *
 * The engine only jumps forward and then runs every step after the target in
 * order: with steps [branch, on_true, on_false, end] and true_step on_true,
 * on_false runs too. To make two branches exclusive, end the first one with
 * another conditional_branch (condition true) whose true_step jumps past the
 * second, e.g. [branch, on_true, join, on_false, end] with join -> end. */
#include <string.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"

static bool truthy(const cJSON *v) {
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  if (cJSON_IsNull(v)) return false;
  if (cJSON_IsNumber(v)) return v->valuedouble != 0;
  if (cJSON_IsArray(v) || cJSON_IsObject(v)) return v->child != NULL;
  if (!cJSON_IsString(v)) return false;
  static const char *const falsy[] = {"", "false", "no", "0", "off", "none", "null", NULL};
  pier_slice t = pier_slice_from(v->valuestring);
  while (t.len && (t.ptr[0] == ' ' || t.ptr[0] == '\t' || t.ptr[0] == '\n' || t.ptr[0] == '\r')) t.ptr++, t.len--;
  while (t.len && (t.ptr[t.len - 1] == ' ' || t.ptr[t.len - 1] == '\t' || t.ptr[t.len - 1] == '\n' ||
                   t.ptr[t.len - 1] == '\r'))
    t.len--;
  for (int i = 0; falsy[i]; i++)
    if (pier_slice_ieq_cstr(t, falsy[i])) return false;
  return true;
}

/* A target key: absent, null or "" = none; else a step name. */
static int target_of(const cJSON *in, const char *key, const char **out, char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);
  *out = NULL;
  if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0])) return 0;
  if (!cJSON_IsString(v)) {
    snprintf(err, errlen, "%s must be the name of a later step (got %s)", key, pier_json_type_name(v));
    return PIER_EINVAL;
  }
  *out = v->valuestring;
  return 0;
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(in, "condition");
  const char *on_true, *on_false;
  char err[400];
  if (!c) {
    pier_step_fail(s, "condition is required: a value or condition_path pointing at one (e.g. "
                      "\"judge.outputs.judgment\")");
    return;
  }
  if (target_of(in, "true_step", &on_true, err, sizeof err) || target_of(in, "false_step", &on_false, err, sizeof err)) {
    pier_step_fail(s, "%s", err);
    return;
  }
  bool cond = truthy(c);
  const char *target = cond ? on_true : on_false;
  if (target && !strcmp(target, pier_step_name(s))) {
    pier_step_fail(s, "%s \"%s\" is this step itself; a branch can only jump forward", cond ? "true_step" : "false_step",
                   target);
    return;
  }
  int rc = target ? pier_step_goto(s, target) : 0;
  if (rc) {
    pier_step_fail(s, "%s \"%.200s\" is not a step after \"%s\" in this workflow's steps (a branch can only jump "
                      "forward)", cond ? "true_step" : "false_step", target, pier_step_name(s));
    return;
  }
  cJSON *out = pier_step_outputs(s);
  cJSON_AddBoolToObject(out, "condition", cond);
  if (target) cJSON_AddStringToObject(out, "next_step", target);
  else cJSON_AddNullToObject(out, "next_step");
  pier_step_done(s);
}

#define PARAMS                                                                                                   \
  "{\"condition\":{\"type\":\"any\",\"required\":true,\"description\":\"usually condition_path; false, null, 0, "  \
  "\\\"\\\", [], {}, \\\"false\\\", \\\"no\\\", \\\"0\\\", \\\"off\\\", \\\"none\\\", \\\"null\\\" are false\"},"   \
  "\"true_step\":{\"type\":\"string\",\"description\":\"a later step to continue at when true (omit: next step)\"}," \
  "\"false_step\":{\"type\":\"string\",\"description\":\"a later step to continue at when false (omit: next "      \
  "step)\"}}"

const pier_activity pier_act_conditional_branch = {
    .name = "conditional_branch",
    .category = "control",
    .description = "Continue at true_step or false_step depending on condition; skipped steps are recorded.",
    .params_json = PARAMS,
    .start = start,
};

const pier_activity pier_act_conditional_step = {
    .name = "conditional_step",
    .category = "control",
    .description = "Older name of conditional_branch.",
    .params_json = PARAMS,
    .start = start,
};
