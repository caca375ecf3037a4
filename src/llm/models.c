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

static const pier_model_info openai[] = {
    {"openai/gpt-5", "openai"},           {"openai/gpt-5-mini", "openai"},   {"openai/gpt-4.1", "openai"},
    {"openai/gpt-4.1-mini", "openai"},    {"openai/gpt-4o", "openai"},       {"openai/gpt-4o-mini", "openai"},
    {"openai/o3", "openai"},              {"openai/o4-mini", "openai"},      {"openai/text-embedding-3-small", "openai"},
    {"openai/text-embedding-3-large", "openai"}, {NULL, NULL},
};
static const pier_model_info anthropic[] = {
    {"anthropic/claude-sonnet-4-6", "anthropic"}, {"anthropic/claude-opus-4-7", "anthropic"},
    {"anthropic/claude-haiku-4-5", "anthropic"},  {NULL, NULL},
};
static const pier_model_info gemini[] = {
    {"gemini/gemini-2.5-pro", "gemini"}, {"gemini/gemini-2.5-flash", "gemini"},
    {"gemini/gemini-2.5-flash-lite", "gemini"}, {"gemini/gemini-embedding-001", "gemini"}, {NULL, NULL},
};
static const pier_model_info openrouter[] = {
    {"openrouter/anthropic/claude-sonnet-4.6", "openrouter"}, {"openrouter/openai/gpt-5", "openrouter"},
    {"openrouter/google/gemini-2.5-pro", "openrouter"},       {"openrouter/meta-llama/llama-3.3-70b-instruct", "openrouter"},
    {NULL, NULL},
};

const pier_model_info *pier_models_of(const char *provider) {
  if (strcmp(provider, "bedrock") == 0) return bedrock;
  if (strcmp(provider, "openai") == 0) return openai;
  if (strcmp(provider, "anthropic") == 0) return anthropic;
  if (strcmp(provider, "gemini") == 0) return gemini;
  if (strcmp(provider, "openrouter") == 0) return openrouter;
  return NULL;
}

int pier_models_has_creds(const char *provider, const pier_env_view *env) {
  if (strcmp(provider, "bedrock") == 0)
    return pier_env_get(env, "AWS_BEARER_TOKEN_BEDROCK") ||
           (pier_env_get(env, "AWS_ACCESS_KEY_ID") && pier_env_get(env, "AWS_SECRET_ACCESS_KEY"));
  if (strcmp(provider, "openai") == 0) return pier_env_get(env, "OPENAI_API_KEY") != NULL;
  if (strcmp(provider, "anthropic") == 0) return pier_env_get(env, "ANTHROPIC_API_KEY") != NULL;
  if (strcmp(provider, "gemini") == 0) return pier_env_get(env, "GEMINI_API_KEY") || pier_env_get(env, "GOOGLE_API_KEY");
  if (strcmp(provider, "openrouter") == 0) return pier_env_get(env, "OPENROUTER_API_KEY") != NULL;
  return 0;
}
