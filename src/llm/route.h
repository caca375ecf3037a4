/* route.h — resolve(model, model_provider, env) -> provider, provider model id,
 * credentials, region, endpoint (DESIGN.md §2.3). Checks what can be checked
 * locally before any network call and fails with the fix in the message. The
 * route owns copies of the credentials it carries; dispose wipes them. */
#ifndef PIER_LLM_ROUTE_H
#define PIER_LLM_ROUTE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "base/error.h"

typedef enum pier_provider_kind {
  PIER_PROV_NONE = 0,
  PIER_PROV_BEDROCK,
  PIER_PROV_OPENAI,      /* OpenAI and every OpenAI-compatible API */
  PIER_PROV_ANTHROPIC,
  PIER_PROV_GEMINI,
} pier_provider_kind;

typedef enum pier_bedrock_auth { PIER_BEDROCK_AUTH_NONE, PIER_BEDROCK_AUTH_BEARER, PIER_BEDROCK_AUTH_SIGV4 } pier_bedrock_auth;

typedef struct pier_route {
  pier_provider_kind kind;
  char provider[32];      /* "bedrock", "openai", "openrouter", ... */
  char model_id[512];     /* the provider's model id (prefix stripped) */
  char base_url[512];     /* endpoint without trailing slash */
  char region[64];        /* bedrock */
  pier_bedrock_auth auth; /* bedrock */
  char *api_key;          /* bearer token / provider key (owned, wiped) */
  char *access_key_id;    /* owned, wiped */
  char *secret_key;       /* owned, wiped */
  char *session_token;    /* owned, wiped; may be NULL */
  char key_var[48];       /* the env var the key came from, for error hints */
  char organization[128]; /* OpenAI-Organization, when set */
} pier_route;

/* Where credentials come from: the collection's environment first, then the
 * server's own (both {NAME: "value"} objects, either may be NULL). */
typedef struct pier_env_view {
  const cJSON *collection;
  const cJSON *server;
} pier_env_view;

/* Value of an env var (non-empty), or NULL. */
const char *pier_env_get(const pier_env_view *env, const char *name);

/* On failure returns PIER_EINVAL (400: the request names no usable provider or
 * a bad model id), PIER_EAUTH (400: credentials missing; err says which
 * variables to set) or PIER_ENOTFOUND (unknown provider prefix); err holds the
 * sentence for the client. */
int pier_route_resolve(const char *model, const char *model_provider, const pier_env_view *env, pier_route *out,
                       char *err, size_t errlen) PIER_WUR;
void pier_route_dispose(pier_route *r);
/* Deep copy (credentials duplicated). */
int pier_route_copy(pier_route *dst, const pier_route *src) PIER_WUR;

/* Bedrock checks, exposed for tests: the inference-profile prefix ("us", "eu",
 * ...) of a model id or "" (prefix_out has >= 16 bytes); whether a region is
 * inside that prefix's pool; whether a bare foundation id needs a profile. */
void pier_bedrock_profile_prefix(const char *model_id, char *prefix_out, size_t cap);
bool pier_bedrock_region_in_pool(const char *prefix, const char *region);
bool pier_bedrock_needs_profile(const char *model_id);

#endif
