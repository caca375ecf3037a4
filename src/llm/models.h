/* models.h — the static model catalogue behind GET /v1/models: per provider,
 * the ids a client can pass as `model` (with the provider prefix). */
#ifndef PIER_LLM_MODELS_H
#define PIER_LLM_MODELS_H

#include <stddef.h>

#include "llm/route.h"

typedef struct pier_model_info {
  const char *id;       /* e.g. "bedrock/us.anthropic.claude-sonnet-4-6" */
  const char *owned_by; /* provider name */
} pier_model_info;

/* Models of one provider (NULL-terminated array). */
const pier_model_info *pier_models_of(const char *provider);
/* Whether the environment holds credentials for the provider. */
int pier_models_has_creds(const char *provider, const pier_env_view *env);

#endif
