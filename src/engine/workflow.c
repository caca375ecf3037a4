/* workflow.c — structural validation of workflow JSON. Extra top-level keys
 * (name, version, description) are tolerated, as in Jetty's own files. */
#include "engine/workflow.h"

#include <stdio.h>
#include <string.h>

#include "base/json.h"

#define STEPS_MAX 256

static int bad(char *err, size_t errlen, const char *path, const char *what, const cJSON *got) {
  snprintf(err, errlen, "%s: %s (got %s)", path, what, pier_json_type_name(got));
  return PIER_EINVAL;
}

static int check_step_configs(const cJSON *sc, char *err, size_t errlen) {
  char path[256];
  if (!cJSON_IsObject(sc)) return bad(err, errlen, "workflow.step_configs", "must be an object of step name -> config", sc);
  int n = 0;
  for (const cJSON *s = sc->child; s; s = s->next) {
    if (++n > STEPS_MAX) {
      snprintf(err, errlen, "workflow.step_configs: at most %d steps", STEPS_MAX);
      return PIER_EINVAL;
    }
    snprintf(path, sizeof path, "workflow.step_configs.%.100s", s->string);
    if (!s->string[0]) return bad(err, errlen, "workflow.step_configs", "step names must not be empty", s);
    if (!cJSON_IsObject(s)) return bad(err, errlen, path, "must be an object with an \"activity\"", s);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(s, "activity");
    snprintf(path, sizeof path, "workflow.step_configs.%.100s.activity", s->string);
    if (!cJSON_IsString(act) || !act->valuestring[0])
      return bad(err, errlen, path, "must be a string naming an activity, e.g. \"litellm_chat\"", act);
  }
  return 0;
}

static int check_steps(const cJSON *steps, const cJSON *sc, char *err, size_t errlen) {
  char path[64];
  if (!cJSON_IsArray(steps)) return bad(err, errlen, "workflow.steps", "must be an array of step names", steps);
  int i = 0;
  for (const cJSON *s = steps->child; s; s = s->next, i++) {
    snprintf(path, sizeof path, "workflow.steps[%d]", i);
    if (!cJSON_IsString(s)) return bad(err, errlen, path, "must be a string naming a key of step_configs", s);
    if (!cJSON_GetObjectItemCaseSensitive(sc, s->valuestring)) {
      snprintf(err, errlen, "%s: \"%.100s\" is not a key of workflow.step_configs", path, s->valuestring);
      return PIER_EINVAL;
    }
  }
  if (i == 0) {
    snprintf(err, errlen, "workflow.steps: must name at least one step");
    return PIER_EINVAL;
  }
  return 0;
}

int pier_workflow_validate(const cJSON *wf, char *err, size_t errlen) {
  if (!cJSON_IsObject(wf)) return bad(err, errlen, "workflow", "must be an object with init_params, step_configs and steps", wf);
  const cJSON *ip = cJSON_GetObjectItemCaseSensitive(wf, "init_params");
  if (ip && !cJSON_IsObject(ip)) return bad(err, errlen, "workflow.init_params", "must be an object", ip);
  const cJSON *sc = cJSON_GetObjectItemCaseSensitive(wf, "step_configs");
  if (!sc) return bad(err, errlen, "workflow.step_configs", "is required", sc);
  int rc = check_step_configs(sc, err, errlen);
  if (rc) return rc;
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(wf, "steps");
  if (!steps) return bad(err, errlen, "workflow.steps", "is required", steps);
  return check_steps(steps, sc, err, errlen);
}
