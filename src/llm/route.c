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

static const char *known_providers = "bedrock, openai, anthropic, gemini, openrouter";

int pier_route_resolve(const char *model, const char *model_provider, const pier_env_view *env, pier_route *out,
                       char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!model || !model[0]) {
    snprintf(err, errlen, "model is required, e.g. \"bedrock/us.anthropic.claude-sonnet-4-6\"");
    return PIER_EINVAL;
  }
  int rc;
  if (model_provider && model_provider[0]) {
    if (strcmp(model_provider, "bedrock") == 0 || strcmp(model_provider, "bedrock_converse") == 0) {
      const char *id = starts(model, "bedrock/") ? model + 8 : model;
      rc = resolve_bedrock(id, env, out, err, errlen);
    } else {
      snprintf(err, errlen, "model_provider \"%.40s\" is not supported; use one of: %s", model_provider,
               known_providers);
      rc = PIER_ENOTFOUND;
    }
  } else if (starts(model, "bedrock/")) {
    const char *id = model + 8;
    if (starts(id, "converse/")) id += 9;
    rc = resolve_bedrock(id, env, out, err, errlen);
  } else {
    char prefix[16];
    pier_bedrock_profile_prefix(model, prefix, sizeof prefix);
    if (prefix[0] && has_bedrock_creds(env)) {
      rc = resolve_bedrock(model, env, out, err, errlen);
    } else {
      snprintf(err, errlen,
               "cannot tell which provider serves \"%.200s\": prefix the model with its provider (e.g. "
               "bedrock/%.200s) or set model_provider (one of: %s)%s",
               model, model, known_providers,
               prefix[0] ? "; a bare inference-profile id routes to Bedrock only when the collection has Bedrock "
                           "credentials"
                         : "");
      rc = PIER_EINVAL;
    }
  }
  if (rc) pier_route_dispose(out);
  return rc;
}
