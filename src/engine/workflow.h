/* workflow.h — the shape of a task's workflow JSON ({init_params, step_configs,
 * steps}) and its validation on write. Errors name the JSON path of the first
 * problem, e.g. "workflow.step_configs.chat.activity: must be a string". */
#ifndef PIER_ENGINE_WORKFLOW_H
#define PIER_ENGINE_WORKFLOW_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "base/error.h"

/* 0 when valid; PIER_EINVAL with a sentence in err otherwise. */
int pier_workflow_validate(const cJSON *wf, char *err, size_t errlen) PIER_WUR;

#endif
