/* route.c — model routing. Order: explicit model_provider, then a LiteLLM
 * prefix ("bedrock/..."), then a bare inference-profile id when Bedrock
 * credentials exist, then well-known names; otherwise a 400 that says how to
 * name the provider. */
#include "llm/route.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *geo_prefixes[] = {"us-gov", "global", "apac", "us", "eu", "jp", "au", "ca", NULL};

const char *pier_env_get(const pier_env_view *env, const char *name) {
  const cJSON *srcs[2] = {env ? env->collection : NULL, env ? env->server : NULL};
  for (int i = 0; i < 2; i++) {
    const cJSON *v = srcs[i] ? cJSON_GetObjectItemCaseSensitive(srcs[i], name) : NULL;
    if (cJSON_IsString(v) && v->valuestring[0]) return v->valuestring;
  }
  return NULL;
}

static void wipe_free(char **p) {
  if (!*p) return;
  sodium_memzero(*p, strlen(*p));
  free(*p);
  *p = NULL;
}

void pier_route_dispose(pier_route *r) {
  wipe_free(&r->api_key);
  wipe_free(&r->access_key_id);
  wipe_free(&r->secret_key);
  wipe_free(&r->session_token);
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (!src) return 0;
  *dst = strdup(src);
  return *dst ? 0 : PIER_ENOMEM;
}

int pier_route_copy(pier_route *dst, const pier_route *src) {
  *dst = *src;
  dst->api_key = dst->access_key_id = dst->secret_key = dst->session_token = NULL;
  if (dup_opt(&dst->api_key, src->api_key) || dup_opt(&dst->access_key_id, src->access_key_id) ||
      dup_opt(&dst->secret_key, src->secret_key) || dup_opt(&dst->session_token, src->session_token)) {
    pier_route_dispose(dst);
    return PIER_ENOMEM;
  }
  return 0;
}

void pier_bedrock_profile_prefix(const char *model_id, char *out, size_t cap) {
  out[0] = '\0';
  for (int i = 0; geo_prefixes[i]; i++) {
    size_t n = strlen(geo_prefixes[i]);
    if (strncmp(model_id, geo_prefixes[i], n) == 0 && model_id[n] == '.') {
      snprintf(out, cap, "%s", geo_prefixes[i]);
      return;
    }
  }
}

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

bool pier_bedrock_region_in_pool(const char *prefix, const char *region) {
  if (!prefix[0] || strcmp(prefix, "global") == 0) return true;
  if (strcmp(prefix, "us") == 0) return starts(region, "us-") && !starts(region, "us-gov-");
  if (strcmp(prefix, "us-gov") == 0) return starts(region, "us-gov-");
  if (strcmp(prefix, "eu") == 0) return starts(region, "eu-");
  if (strcmp(prefix, "apac") == 0) return starts(region, "ap-");
  if (strcmp(prefix, "jp") == 0) return strcmp(region, "ap-northeast-1") == 0 || strcmp(region, "ap-northeast-3") == 0;
  if (strcmp(prefix, "au") == 0) return strcmp(region, "ap-southeast-2") == 0 || strcmp(region, "ap-southeast-4") == 0;
  if (strcmp(prefix, "ca") == 0) return starts(region, "ca-");
  return true;
}

/* Foundation models that Bedrock serves only through an inference profile. */
bool pier_bedrock_needs_profile(const char *id) {
  static const char *need[] = {"anthropic.claude-sonnet-4", "anthropic.claude-opus-4", "anthropic.claude-haiku-4",
                               "anthropic.claude-3-7-sonnet", "meta.llama3-2-", "meta.llama3-3-", "meta.llama4-",
                               "amazon.nova-premier", "deepseek.r1", NULL};
  for (int i = 0; need[i]; i++)
    if (starts(id, need[i])) return true;
  return false;
}

static bool has_bedrock_creds(const pier_env_view *env) {
  return pier_env_get(env, "AWS_BEARER_TOKEN_BEDROCK") ||
         (pier_env_get(env, "AWS_ACCESS_KEY_ID") && pier_env_get(env, "AWS_SECRET_ACCESS_KEY"));
}

static int bedrock_creds(pier_route *r, const pier_env_view *env, char *err, size_t errlen) {
  const char *bearer = pier_env_get(env, "AWS_BEARER_TOKEN_BEDROCK");
  const char *akid = pier_env_get(env, "AWS_ACCESS_KEY_ID");
  const char *secret = pier_env_get(env, "AWS_SECRET_ACCESS_KEY");
  if (bearer) {
    r->auth = PIER_BEDROCK_AUTH_BEARER;
    snprintf(r->key_var, sizeof r->key_var, "AWS_BEARER_TOKEN_BEDROCK");
    return dup_opt(&r->api_key, bearer);
  }
  if (akid && secret) {
    r->auth = PIER_BEDROCK_AUTH_SIGV4;
    snprintf(r->key_var, sizeof r->key_var, "AWS_ACCESS_KEY_ID");
    if (dup_opt(&r->access_key_id, akid) || dup_opt(&r->secret_key, secret) ||
        dup_opt(&r->session_token, pier_env_get(env, "AWS_SESSION_TOKEN")))
      return PIER_ENOMEM;
    return 0;
  }
  snprintf(err, errlen,
           "no AWS Bedrock credentials are configured for this collection: set AWS_BEARER_TOKEN_BEDROCK (a Bedrock "
           "API key), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, with AWS_REGION, via PATCH "
           "/api/v1/collections/{collection}/environment%s",
           akid ? " (AWS_SECRET_ACCESS_KEY is missing)" : secret ? " (AWS_ACCESS_KEY_ID is missing)" : "");
  return PIER_EAUTH;
}

static int resolve_bedrock(const char *model_id, const pier_env_view *env, pier_route *r, char *err, size_t errlen) {
  r->kind = PIER_PROV_BEDROCK;
  snprintf(r->provider, sizeof r->provider, "bedrock");
  if (!model_id[0] || strlen(model_id) >= sizeof r->model_id) {
    snprintf(err, errlen, "model: give a Bedrock model id, e.g. bedrock/us.anthropic.claude-sonnet-4-6");
    return PIER_EINVAL;
  }
  snprintf(r->model_id, sizeof r->model_id, "%s", model_id);
  int rc = bedrock_creds(r, env, err, errlen);
  if (rc) return rc;
  const char *region = pier_env_get(env, "AWS_REGION_NAME");
  if (!region) region = pier_env_get(env, "AWS_REGION");
  if (!region) region = pier_env_get(env, "AWS_DEFAULT_REGION");
  if (!region) {
    snprintf(err, errlen, "no AWS region is configured: set AWS_REGION on the collection (e.g. us-east-1 for us.* "
                          "inference profiles)");
    return PIER_EAUTH;
  }
  if (strlen(region) >= sizeof r->region || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region)) {
    snprintf(err, errlen, "AWS_REGION is not a valid region name (expected something like us-east-1)");
    return PIER_EINVAL;
  }
  snprintf(r->region, sizeof r->region, "%s", region);
  char prefix[16];
  pier_bedrock_profile_prefix(model_id, prefix, sizeof prefix);
  if (prefix[0] && !pier_bedrock_region_in_pool(prefix, region)) {
    snprintf(err, errlen,
             "the inference profile %s belongs to the \"%s.\" pool but AWS_REGION is %s: set AWS_REGION to a region "
             "in the same pool (e.g. %s), or use the profile id for your region's pool",
             model_id, prefix, region,
             !strcmp(prefix, "eu") ? "eu-central-1" : !strcmp(prefix, "apac") ? "ap-southeast-1"
             : !strcmp(prefix, "jp") ? "ap-northeast-1" : !strcmp(prefix, "au") ? "ap-southeast-2"
             : !strcmp(prefix, "us-gov") ? "us-gov-west-1" : !strcmp(prefix, "ca") ? "ca-central-1" : "us-east-1");
    return PIER_EINVAL;
  }
  if (!prefix[0] && pier_bedrock_needs_profile(model_id)) {
    snprintf(err, errlen,
             "%s is a foundation-model id that Bedrock serves only through an inference profile (on-demand "
             "throughput isn't supported): use the cross-region profile id, e.g. us.%s, eu.%s or apac.%s",
             model_id, model_id, model_id, model_id);
    return PIER_EINVAL;
  }
  const char *ep = pier_env_get(env, "AWS_BEDROCK_RUNTIME_ENDPOINT");
  if (ep) snprintf(r->base_url, sizeof r->base_url, "%s", ep);
  else snprintf(r->base_url, sizeof r->base_url, "https://bedrock-runtime.%s.amazonaws.com", region);
  size_t n = strlen(r->base_url);
  while (n && r->base_url[n - 1] == '/') r->base_url[--n] = '\0';
  if (!starts(r->base_url, "http://") && !starts(r->base_url, "https://")) {
    snprintf(err, errlen, "AWS_BEDROCK_RUNTIME_ENDPOINT must be an http:// or https:// URL");
    return PIER_EINVAL;
  }
  return 0;
}

/* OpenAI-API providers (and the two native ones), by LiteLLM prefix. */
typedef struct provider_def {
  const char *name;
  pier_provider_kind kind;
  const char *key_vars[3];   /* first set wins */
  const char *base_vars[3];
  const char *default_base;  /* NULL: the base variable is required */
  bool key_optional;         /* self-hosted servers often need none */
} provider_def;

static const provider_def providers[] = {
    {"openai", PIER_PROV_OPENAI, {"OPENAI_API_KEY"}, {"OPENAI_BASE_URL", "OPENAI_API_BASE"}, "https://api.openai.com/v1", false},
    {"openrouter", PIER_PROV_OPENAI, {"OPENROUTER_API_KEY"}, {"OPENROUTER_API_BASE", "OPENROUTER_BASE_URL"}, "https://openrouter.ai/api/v1", false},
    {"groq", PIER_PROV_OPENAI, {"GROQ_API_KEY"}, {"GROQ_API_BASE", "GROQ_BASE_URL"}, "https://api.groq.com/openai/v1", false},
    {"mistral", PIER_PROV_OPENAI, {"MISTRAL_API_KEY"}, {"MISTRAL_API_BASE", "MISTRAL_BASE_URL"}, "https://api.mistral.ai/v1", false},
    {"together_ai", PIER_PROV_OPENAI, {"TOGETHERAI_API_KEY", "TOGETHER_API_KEY"}, {"TOGETHERAI_API_BASE", "TOGETHER_API_BASE"}, "https://api.together.xyz/v1", false},
    {"deepseek", PIER_PROV_OPENAI, {"DEEPSEEK_API_KEY"}, {"DEEPSEEK_API_BASE", "DEEPSEEK_BASE_URL"}, "https://api.deepseek.com/v1", false},
    {"fireworks_ai", PIER_PROV_OPENAI, {"FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"}, {"FIREWORKS_AI_API_BASE", "FIREWORKS_API_BASE"}, "https://api.fireworks.ai/inference/v1", false},
    {"xai", PIER_PROV_OPENAI, {"XAI_API_KEY"}, {"XAI_API_BASE", "XAI_BASE_URL"}, "https://api.x.ai/v1", false},
    {"hosted_vllm", PIER_PROV_OPENAI, {"HOSTED_VLLM_API_KEY"}, {"HOSTED_VLLM_API_BASE"}, NULL, true},
    {"ollama", PIER_PROV_OPENAI, {"OLLAMA_API_KEY"}, {"OLLAMA_API_BASE", "OLLAMA_BASE_URL"}, "http://localhost:11434/v1", true},
    {"anthropic", PIER_PROV_ANTHROPIC, {"ANTHROPIC_API_KEY"}, {"ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"}, "https://api.anthropic.com", false},
    {"gemini", PIER_PROV_GEMINI, {"GEMINI_API_KEY", "GOOGLE_API_KEY"}, {"GEMINI_API_BASE", "GEMINI_BASE_URL"}, "https://generativelanguage.googleapis.com", false},
};
#define NPROVIDERS (sizeof providers / sizeof providers[0])

static const char *known_providers =
    "bedrock, openai, anthropic, gemini (google), openrouter, groq, mistral, together_ai, deepseek, fireworks_ai, "
    "xai, hosted_vllm, ollama";

static const provider_def *find_provider(const char *name, size_t len) {
  if (len == 6 && strncmp(name, "google", 6) == 0) return find_provider("gemini", 6);
  for (size_t i = 0; i < NPROVIDERS; i++)
    if (strlen(providers[i].name) == len && strncmp(providers[i].name, name, len) == 0) return &providers[i];
  return NULL;
}

static int resolve_api(const provider_def *d, const char *model_id, const pier_env_view *env, pier_route *r, char *err,
                       size_t errlen) {
  r->kind = d->kind;
  snprintf(r->provider, sizeof r->provider, "%s", d->name);
  if (!model_id[0] || strlen(model_id) >= sizeof r->model_id) {
    snprintf(err, errlen, "model: give the %s model id after the prefix, e.g. %s/<model>", d->name, d->name);
    return PIER_EINVAL;
  }
  snprintf(r->model_id, sizeof r->model_id, "%s", model_id);
  const char *base = NULL;
  for (int i = 0; i < 3 && d->base_vars[i] && !base; i++) base = pier_env_get(env, d->base_vars[i]);
  bool custom_base = base != NULL;
  if (!base) base = d->default_base;
  if (!base) {
    snprintf(err, errlen, "%s needs a base URL: set %s on the collection (e.g. http://vllm-host:8000/v1)", d->name,
             d->base_vars[0]);
    return PIER_EAUTH;
  }
  if (!starts(base, "http://") && !starts(base, "https://")) {
    snprintf(err, errlen, "%s must be an http:// or https:// URL", d->base_vars[0]);
    return PIER_EINVAL;
  }
  snprintf(r->base_url, sizeof r->base_url, "%s", base);
  size_t n = strlen(r->base_url);
  while (n && r->base_url[n - 1] == '/') r->base_url[--n] = '\0';
  const char *key = NULL;
  for (int i = 0; i < 3 && d->key_vars[i] && !key; i++) {
    key = pier_env_get(env, d->key_vars[i]);
    if (key) snprintf(r->key_var, sizeof r->key_var, "%s", d->key_vars[i]);
  }
  if (!key) snprintf(r->key_var, sizeof r->key_var, "%s", d->key_vars[0]);
  if (!key && !d->key_optional && !(custom_base && d->kind == PIER_PROV_OPENAI)) {
    snprintf(err, errlen, "no %s credentials are configured for this collection: set %s via PATCH "
                          "/api/v1/collections/{collection}/environment", d->name, d->key_vars[0]);
    return PIER_EAUTH;
  }
  if (d->kind == PIER_PROV_OPENAI && strcmp(d->name, "openai") == 0) {
    const char *org = pier_env_get(env, "OPENAI_ORGANIZATION");
    if (org && strlen(org) < sizeof r->organization) snprintf(r->organization, sizeof r->organization, "%s", org);
  }
  return dup_opt(&r->api_key, key);
}

/* Rule 4 of DESIGN.md §2.3: names everyone knows. */
static const provider_def *well_known(const char *model) {
  if (starts(model, "gpt-") || starts(model, "chatgpt-") || starts(model, "text-embedding-") ||
      ((model[0] == 'o') && (model[1] == '1' || model[1] == '3' || model[1] == '4') && (model[2] == '\0' || model[2] == '-')))
    return find_provider("openai", 6);
  if (starts(model, "claude-")) return find_provider("anthropic", 9);
  if (starts(model, "gemini-") || starts(model, "text-embedding-004") || starts(model, "gemini-embedding"))
    return find_provider("gemini", 6);
  return NULL;
}

static int resolve_named(const char *prov, const char *model, const pier_env_view *env, pier_route *out, char *err,
                         size_t errlen) {
  size_t pl = strlen(prov);
  const char *id = (strncmp(model, prov, pl) == 0 && model[pl] == '/') ? model + pl + 1 : model;
  if (strcmp(prov, "bedrock") == 0 || strcmp(prov, "bedrock_converse") == 0) {
    if (starts(id, "bedrock/")) id += 8;
    if (starts(id, "converse/")) id += 9;
    return resolve_bedrock(id, env, out, err, errlen);
  }
  const provider_def *d = find_provider(prov, pl);
  if (!d) {
    snprintf(err, errlen, "model_provider \"%.40s\" is not supported; use one of: %s", prov, known_providers);
    return PIER_ENOTFOUND;
  }
  if (strcmp(prov, "google") == 0 && starts(id, "gemini/")) id += 7;
  return resolve_api(d, id, env, out, err, errlen);
}

int pier_route_resolve(const char *model, const char *model_provider, const pier_env_view *env, pier_route *out,
                       char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!model || !model[0]) {
    snprintf(err, errlen, "model is required, e.g. \"bedrock/us.anthropic.claude-sonnet-4-6\"");
    return PIER_EINVAL;
  }
  int rc;
  const char *slash = strchr(model, '/');
  char prefix[16];
  pier_bedrock_profile_prefix(model, prefix, sizeof prefix);
  const provider_def *wk = well_known(model);
  if (model_provider && model_provider[0]) {
    rc = resolve_named(model_provider, model, env, out, err, errlen);
  } else if (slash && (strncmp(model, "bedrock/", 8) == 0 || find_provider(model, (size_t)(slash - model)))) {
    char p[32];
    snprintf(p, sizeof p, "%.*s", (int)(slash - model), model);
    rc = resolve_named(p, model, env, out, err, errlen);
  } else if (slash && !starts(model, "arn:")) {
    snprintf(err, errlen, "unknown provider prefix \"%.*s/\"; known prefixes: %s (or set model_provider)",
             (int)(slash - model > 40 ? 40 : slash - model), model, known_providers);
    rc = PIER_ENOTFOUND;
  } else if ((prefix[0] || starts(model, "arn:aws")) && has_bedrock_creds(env)) {
    rc = resolve_bedrock(model, env, out, err, errlen);
  } else if (wk) {
    rc = resolve_api(wk, model, env, out, err, errlen);
  } else {
    snprintf(err, errlen,
             "cannot tell which provider serves \"%.200s\": prefix the model with its provider (e.g. bedrock/%.200s "
             "or openai/%.200s) or set model_provider (one of: %s)%s",
             model, model, model, known_providers,
             prefix[0] ? "; a bare inference-profile id routes to Bedrock only when the collection has Bedrock "
                         "credentials"
                       : "");
    rc = PIER_EINVAL;
  }
  if (rc) pier_route_dispose(out);
  return rc;
}
