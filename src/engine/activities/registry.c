/* registry.c — every activity pier can run, by name (Jetty's step templates).
 * Adding an activity = one file under activities/ plus one line here. */
#include <string.h>

#include "engine/activity.h"

extern const pier_activity pier_act_litellm_chat, pier_act_text_echo, pier_act_litellm_vision,
    pier_act_litellm_embeddings, pier_act_litellm_function_call, pier_act_litellm_batch, pier_act_text_template,
    pier_act_simple_judge, pier_act_conditional_branch, pier_act_conditional_step, pier_act_list_emit_await, pier_act_runbook;

static const pier_activity *const all[] = {
    &pier_act_litellm_chat,
    &pier_act_litellm_vision,
    &pier_act_litellm_embeddings,
    &pier_act_litellm_function_call,
    &pier_act_litellm_batch,
    &pier_act_simple_judge,
    &pier_act_text_echo,
    &pier_act_text_template,
    &pier_act_conditional_branch,
    &pier_act_conditional_step,
    &pier_act_list_emit_await,
    &pier_act_runbook,
    NULL,
};

const pier_activity *pier_activity_find(const char *name) {
  for (int i = 0; all[i]; i++)
    if (strcmp(all[i]->name, name) == 0) return all[i];
  return NULL;
}

const pier_activity *const *pier_activity_all(void) { return all; }
