/* converse_params.c — the non-message half of a Converse body: inferenceConfig,
 * toolConfig (tools, tool_choice, response_format as json_tool_call) and
 * additionalModelRequestFields. Invariants: toolConfig.tools is never empty,
 * temperature/topP are within 0..1, a forced toolChoice never meets thinking. */
#include <stdint.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/converse_int.h"
#include "llm/oai_parts.h"

#define DEFAULT_ANSWER_TOKENS 1024 /* room left for the answer when thinking needs maxTokens raised */

/* The request member `key`, NULL when absent or JSON null. */
static const cJSON *opt(const pier_converse_build_st *b, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->req, key);
  return cJSON_IsNull(v) ? NULL : v;
}

/* 0 absent, 1 read into *out, PIER_EINVAL when not a number. */
static int get_num(pier_converse_build_st *b, const char *key, double *out) {
  const cJSON *v = opt(b, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v)) return pier_converse_bad(b, "%s must be a number, got %s", key, pier_json_type_name(v));
  *out = v->valuedouble;
  return 1;
}

/* Like get_num for an integer in lo..hi. */
static int get_int(pier_converse_build_st *b, const char *key, long long lo, long long hi, long long *out) {
  double d;
  int got = get_num(b, key, &d);
  if (got <= 0) return got;
  if (!(d >= (double)lo && d <= (double)hi) || (double)(long long)d != d)
    return pier_converse_bad(b, "%s must be an integer from %lld to %lld", key, lo, hi);
  *out = (long long)d;
  return 1;
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static bool is_anthropic(const pier_converse_build_st *b) { return strstr(b->model_id, "anthropic.") != NULL; }
static bool is_nova(const pier_converse_build_st *b) { return strstr(b->model_id, "amazon.nova") != NULL; }

/* thinking (Anthropic shape) or reasoning_effort -> additionalModelRequestFields.thinking
 * for Anthropic models; other families ignore both. *budget = 0 when off. */
static int add_reasoning(pier_converse_build_st *b, cJSON *extra, long long *budget) {
  static const struct { const char *effort; int budget; } efforts[] = {
    {"none", 0}, {"minimal", 1024}, {"low", 1024}, {"medium", 2048}, {"high", 4096}};
  const cJSON *thinking = opt(b, "thinking"), *effort = opt(b, "reasoning_effort");
  *budget = 0;
  if (thinking && !cJSON_IsObject(thinking)) return pier_converse_bad(b, "thinking must be an object");
  if (effort && !cJSON_IsString(effort)) return pier_converse_bad(b, "reasoning_effort must be a string");
  if (!is_anthropic(b)) return 0;
  if (thinking) {
    const char *type = pier_json_str(thinking, "type");
    if (!type || strcmp(type, "enabled")) return 0;
    *budget = (long long)pier_json_num(thinking, "budget_tokens", 1024);
    return cJSON_AddItemToObject(extra, "thinking", cJSON_Duplicate(thinking, true)) ? 0 : PIER_ENOMEM;
  }
  if (!effort) return 0;
  for (size_t i = 0; i < sizeof efforts / sizeof efforts[0]; i++) {
    if (strcmp(effort->valuestring, efforts[i].effort)) continue;
    if (!(*budget = efforts[i].budget)) return 0;
    cJSON *t = cJSON_AddObjectToObject(extra, "thinking");
    if (!t || !cJSON_AddStringToObject(t, "type", "enabled") ||
        !cJSON_AddNumberToObject(t, "budget_tokens", (double)*budget))
      return PIER_ENOMEM;
    return 0;
  }
  return pier_converse_bad(b, "reasoning_effort must be one of none, minimal, low, medium, high; got \"%s\"",
                           effort->valuestring);
}

/* stop: a string or an array of strings; empty ones dropped. */
static int add_stop(pier_converse_build_st *b, cJSON *ic) {
  const cJSON *stop = opt(b, "stop"), *s;
  if (!stop) return 0;
  if (!cJSON_IsString(stop) && !cJSON_IsArray(stop))
    return pier_converse_bad(b, "stop must be a string or an array of strings, got %s", pier_json_type_name(stop));
  cJSON *seqs = cJSON_CreateArray();
  if (!seqs) return PIER_ENOMEM;
  int k = 0;
  cJSON_ArrayForEach(s, (cJSON_IsArray(stop) ? stop : NULL)) {
    if (!cJSON_IsString(s)) {
      cJSON_Delete(seqs);
      return pier_converse_bad(b, "stop[%d] must be a string, got %s", k, pier_json_type_name(s));
    }
    k++;
    if (s->valuestring[0] && !cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring))) goto nomem;
  }
  if (cJSON_IsString(stop) && stop->valuestring[0] &&
      !cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring)))
    goto nomem;
  if (!seqs->child) {
    cJSON_Delete(seqs);
    return 0;
  }
  if (cJSON_AddItemToObject(ic, "stopSequences", seqs)) return 0;
nomem:
  cJSON_Delete(seqs);
  return PIER_ENOMEM;
}

/* Anthropic thinking needs maxTokens > budget and rejects temperature/top_p/top_k
 * changes, so those are dropped while it is on. */
static int add_inference(pier_converse_build_st *b, long long budget) {
  long long max = 0;
  double t, p;
  int rc, got_t, got_p;
  if ((rc = get_int(b, "max_completion_tokens", 1, INT32_MAX, &max)) < 0) return rc;
  if (!rc && (rc = get_int(b, "max_tokens", 1, INT32_MAX, &max)) < 0) return rc;
  if ((got_t = get_num(b, "temperature", &t)) < 0) return got_t;
  if ((got_p = get_num(b, "top_p", &p)) < 0) return got_p;
  if (budget > 0 && max <= budget) max = budget + (max ? max : DEFAULT_ANSWER_TOKENS);
  cJSON *ic = cJSON_CreateObject();
  if (!ic) return PIER_ENOMEM;
  rc = PIER_ENOMEM;
  if ((max && !cJSON_AddNumberToObject(ic, "maxTokens", (double)max)) ||
      (got_t && !budget && !cJSON_AddNumberToObject(ic, "temperature", clamp01(t))) ||
      (got_p && !budget && !cJSON_AddNumberToObject(ic, "topP", clamp01(p))) || (rc = add_stop(b, ic)) ||
      !ic->child)
    goto out; /* rc is 0 when there was simply nothing to say */
  if (cJSON_AddItemToObject(b->body, "inferenceConfig", ic)) return 0;
  rc = PIER_ENOMEM;
out:
  cJSON_Delete(ic);
  return rc;
}

/* top_k -> additionalModelRequestFields: {"top_k":k}, or {"inferenceConfig":{"topK":k}} for Nova. */
static int add_top_k(pier_converse_build_st *b, cJSON *extra, long long budget) {
  long long k;
  int rc = get_int(b, "top_k", 0, INT32_MAX, &k);
  if (rc <= 0 || budget) return rc;
  if (!is_nova(b)) return cJSON_AddNumberToObject(extra, "top_k", (double)k) ? 0 : PIER_ENOMEM;
  cJSON *ic = cJSON_AddObjectToObject(extra, "inferenceConfig");
  return ic && cJSON_AddNumberToObject(ic, "topK", (double)k) ? 0 : PIER_ENOMEM;
}

/* {"toolSpec":{"name","description"?,"inputSchema":{"json":schema}}}; takes
 * ownership of schema (NULL = empty object schema). Adds it to specs. */
static int spec_add(cJSON *specs, const char *name, const char *description, cJSON *schema) {
  if (!schema && (schema = cJSON_CreateObject()) &&
      (!cJSON_AddStringToObject(schema, "type", "object") || !cJSON_AddObjectToObject(schema, "properties")))
    cJSON_Delete(schema), schema = NULL;
  cJSON *ts = cJSON_CreateObject(), *spec = cJSON_AddObjectToObject(ts, "toolSpec");
  cJSON *is = cJSON_AddObjectToObject(spec, "inputSchema");
  bool ok = is && schema && cJSON_AddItemToObject(is, "json", schema);
  if (!ok) cJSON_Delete(schema); /* not attached */
  ok = ok && cJSON_AddStringToObject(spec, "name", name) &&
       (!description || !description[0] || cJSON_AddStringToObject(spec, "description", description)) &&
       cJSON_AddItemToArray(specs, ts);
  if (ok) return 0;
  cJSON_Delete(ts);
  return PIER_ENOMEM;
}

/* tools[k] = {"type":"function","function":{"name","description","parameters"}}. */
static int add_user_tool(pier_converse_build_st *b, int k, const cJSON *tool, cJSON *specs) {
  const char *type = pier_json_str(tool, "type");
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
  if (!cJSON_IsObject(tool)) return pier_converse_bad(b, "tools[%d] must be an object", k);
  if (type && strcmp(type, "function"))
    return pier_converse_bad(b, "tools[%d].type: only \"function\" tools are supported, got \"%s\"", k, type);
  if (!cJSON_IsObject(fn)) return pier_converse_bad(b, "tools[%d].function must be an object", k);
  const char *name = pier_json_str(fn, "name");
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
  if (!name || !name[0]) return pier_converse_bad(b, "tools[%d].function.name must be a non-empty string", k);
  if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc))
    return pier_converse_bad(b, "tools[%d].function.description must be a string", k);
  if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params))
    return pier_converse_bad(b, "tools[%d].function.parameters must be a JSON Schema object, got %s", k,
                             pier_json_type_name(params));
  cJSON *schema = cJSON_IsObject(params) ? cJSON_Duplicate(params, true) : NULL;
  if (cJSON_IsObject(params) && !schema) return PIER_ENOMEM;
  return spec_add(specs, name, cJSON_IsString(desc) ? desc->valuestring : NULL, schema);
}

static bool spec_named(const cJSON *specs, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, specs) {
    const char *n = pier_json_str(cJSON_GetObjectItemCaseSensitive(t, "toolSpec"), "name");
    if (n && strcmp(n, name) == 0) return true;
  }
  return false;
}

static int read_choice(pier_converse_build_st *b, const cJSON *specs, pier_oai_choice *c, const char **name) {
  return pier_oai_tool_choice(opt(b, "tool_choice"), specs, spec_named, c, name, b->err, b->errlen);
}

/* response_format json_object / json_schema -> the synthetic json_tool_call. */
static int add_json_tool(pier_converse_build_st *b, cJSON *specs) {
  cJSON *schema;
  const char *desc;
  int rc = pier_oai_json_schema(opt(b, "response_format"), &schema, &desc, b->err, b->errlen);
  if (rc || !schema) return rc;
  b->info->json_mode = true;
  return spec_add(specs, PIER_CONVERSE_JSON_TOOL, desc, schema);
}

/* Tools the history needs when the request declares none: one minimal spec per
 * name used (Bedrock rejects toolUse/toolResult blocks without toolConfig). */
static int add_history_tools(pier_converse_build_st *b, cJSON *specs) {
  const cJSON *n;
  int rc;
  if (!b->used_tools->child) return spec_add(specs, "dummy_tool", NULL, NULL);
  cJSON_ArrayForEach(n, b->used_tools) if ((rc = spec_add(specs, n->valuestring, NULL, NULL))) return rc;
  return 0;
}

/* The member of toolChoice for an auto / any / tool choice. */
static int add_choice(cJSON *tc, pier_oai_choice c, const char *name) {
  if (c == PIER_OAI_CHOICE_AUTO) return cJSON_AddObjectToObject(tc, "auto") ? 0 : PIER_ENOMEM;
  if (c == PIER_OAI_CHOICE_ANY) return cJSON_AddObjectToObject(tc, "any") ? 0 : PIER_ENOMEM;
  if (c != PIER_OAI_CHOICE_TOOL) return 0;
  cJSON *t = cJSON_AddObjectToObject(tc, "tool");
  return t && cJSON_AddStringToObject(t, "name", name) ? 0 : PIER_ENOMEM;
}

static int add_tools(pier_converse_build_st *b, bool thinking) {
  const cJSON *tools = opt(b, "tools"), *t;
  pier_oai_choice c;
  const char *name = NULL;
  int k = 0, rc;
  if (tools && !cJSON_IsArray(tools)) return pier_converse_bad(b, "tools must be an array");
  cJSON *cfg = cJSON_CreateObject(), *specs = cJSON_AddArrayToObject(cfg, "tools");
  if (!specs) goto nomem;
  cJSON_ArrayForEach(t, tools) if ((rc = add_user_tool(b, k++, t, specs))) goto out;
  if ((rc = read_choice(b, specs, &c, &name))) goto out;
  if (c == PIER_OAI_CHOICE_NONE) /* Converse has no "none": drop the tools unless the history needs them */
    while (specs->child && !b->history_tools) cJSON_Delete(cJSON_DetachItemFromArray(specs, 0));
  bool user_tools = specs->child != NULL;
  if ((rc = add_json_tool(b, specs))) goto out;
  if (b->info->json_mode && !user_tools) c = PIER_OAI_CHOICE_TOOL, name = PIER_CONVERSE_JSON_TOOL;
  if (thinking && (c == PIER_OAI_CHOICE_ANY || c == PIER_OAI_CHOICE_TOOL))
    c = PIER_OAI_CHOICE_AUTO; /* Anthropic rejects forced tools */
  if (!specs->child && b->history_tools && (rc = add_history_tools(b, specs))) goto out;
  if (!specs->child) goto out; /* rc == 0: no toolConfig */
  if (c == PIER_OAI_CHOICE_AUTO || c == PIER_OAI_CHOICE_ANY || c == PIER_OAI_CHOICE_TOOL) {
    cJSON *tc = cJSON_AddObjectToObject(cfg, "toolChoice");
    if (!tc) goto nomem;
    if ((rc = add_choice(tc, c, name))) goto out;
  }
  if (cJSON_AddItemToObject(b->body, "toolConfig", cfg)) return 0;
nomem:
  rc = PIER_ENOMEM;
out:
  cJSON_Delete(cfg);
  return rc;
}

int pier_converse_add_params(pier_converse_build_st *b) {
  const cJSON *so = opt(b, "stream_options");
  long long budget = 0;
  int rc;
  const cJSON *n = opt(b, "n");
  if (n && !(cJSON_IsNumber(n) && n->valuedouble == 1))
    return pier_converse_bad(b, "n: Bedrock returns a single choice, so n must be 1 (or left out)");
  b->info->stream = cJSON_IsTrue(opt(b, "stream"));
  b->info->include_usage = cJSON_IsObject(so) && pier_json_bool(so, "include_usage", false);
  cJSON *extra = cJSON_CreateObject();
  if (!extra) return PIER_ENOMEM;
  if ((rc = add_reasoning(b, extra, &budget)) || (rc = add_top_k(b, extra, budget)) ||
      (rc = add_inference(b, budget)) || (rc = add_tools(b, budget > 0)))
    goto out;
  b->info->thinking = budget > 0;
  if (!extra->child) goto out; /* rc == 0 */
  if (cJSON_AddItemToObject(b->body, "additionalModelRequestFields", extra)) return 0;
  rc = PIER_ENOMEM;
out:
  cJSON_Delete(extra);
  return rc;
}
