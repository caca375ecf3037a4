/* models.c — the catalogue. Bedrock lists the inference profiles of Jetty's
 * Bedrock page plus the embedding models pier supports. */
#include "llm/models.h"

#include <string.h>

static const pier_model_info bedrock[] = {
    {"bedrock/us.anthropic.claude-sonnet-4-6", "bedrock"},
    {"bedrock/us.anthropic.claude-opus-4-7", "bedrock"},
    {"bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock"},
    {"bedrock/us.meta.llama3-1-70b-instruct-v1:0", "bedrock"},
    {"bedrock/us.mistral.mistral-large-2407-v1:0", "bedrock"},
    {"bedrock/eu.anthropic.claude-sonnet-4-6", "bedrock"},
    {"bedrock/global.anthropic.claude-sonnet-4-6", "bedrock"},
    {"bedrock/amazon.titan-embed-text-v2:0", "bedrock"},
    {"bedrock/cohere.embed-english-v3", "bedrock"},
    {"bedrock/cohere.embed-multilingual-v3", "bedrock"},
    {NULL, NULL},
};

const pier_model_info *pier_models_of(const char *provider) {
  if (strcmp(provider, "bedrock") == 0) return bedrock;
  return NULL;
}

int pier_models_has_creds(const char *provider, const pier_env_view *env) {
  if (strcmp(provider, "bedrock") == 0)
    return pier_env_get(env, "AWS_BEARER_TOKEN_BEDROCK") ||
           (pier_env_get(env, "AWS_ACCESS_KEY_ID") && pier_env_get(env, "AWS_SECRET_ACCESS_KEY"));
  return 0;
}
