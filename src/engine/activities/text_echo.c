/* text_echo.c — outputs.text = the `text` input (non-strings as compact JSON).
 * The smallest activity: useful for wiring tests and for passing values on. */
#include <stdlib.h>

#include "engine/activity.h"

static void start(pier_step *s) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(pier_step_inputs(s), "text");
  if (!t) {
    pier_step_fail(s, "text is required (or text_path pointing at one)");
    return;
  }
  if (cJSON_IsString(t)) {
    cJSON_AddStringToObject(pier_step_outputs(s), "text", t->valuestring);
  } else {
    char *j = cJSON_PrintUnformatted(t);
    cJSON_AddStringToObject(pier_step_outputs(s), "text", j ? j : "");
    cJSON_free(j);
  }
  pier_step_done(s);
}

const pier_activity pier_act_text_echo = {
    .name = "text_echo",
    .category = "text",
    .description = "Pass a text through: outputs.text = text.",
    .params_json = "{\"text\":{\"type\":\"string\",\"required\":true,\"description\":\"the text to echo\"}}",
    .start = start,
};
