/* anthropic_params.c — the non-message half of a Messages body (max_tokens,
 * sampling, stop_sequences, thinking, tools, tool_choice, metadata, stream)
 * and the two build entry points. Invariants: max_tokens is always set and
 * above any thinking budget, temperature/top_p are within 0..1, a forced
 * tool_choice never meets thinking, tool_choice never appears without tools. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/anthropic_int.h"
#include "llm/oai_parts.h"

static const cJSON *opt(const pier_anthropic_build_st *b, const char *key) { return pier_anthropic_opt(b->req, key); }

/* 0 absent, 1 read into *out, PIER_EINVAL when not a number. */
static int get_num(pier_anthropic_build_st *b, const char *key, double *out) {
  const cJSON *v = opt(b, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v)) return pier_anthropic_bad(b, "%s must be a number, got %s", key, pier_json_type_name(v));
  *out = v->valuedouble;
  return 1;
}

/* Like get_num for an integer in lo..hi. */
static int get_int(pier_anthropic_build_st *b, const char *key, long long lo, long long hi, long long *out) {
  double d;
  int got = get_num(b, key, &d);
  if (got <= 0) return got;
  if (!(d >= (double)lo && d <= (double)hi) || (double)(long long)d != d)
    return pier_anthropic_bad(b, "%s must be an integer from %lld to %lld", key, lo, hi);
  *out = (long long)d;
  return 1;
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* An Anthropic `thinking` object (copied) or reasoning_effort -> body.thinking.
 * *on: thinking is enabled (any type but "disabled"); *budget: its
 * budget_tokens, 0 when unknown. */
static int add_thinking(pier_anthropic_build_st *b, cJSON *body, bool *on, long long *budget) {
  static const struct { const char *effort; int budget; } efforts[] = {
    {"none", 0}, {"minimal", 1024}, {"low", 1024}, {"medium", 2048}, {"high", 4096}};
  const cJSON *thinking = opt(b, "thinking"), *effort = opt(b, "reasoning_effort");
  *on = false, *budget = 0;
  if (thinking && !cJSON_IsObject(thinking)) return pier_anthropic_bad(b, "thinking must be an object");
  if (effort && !cJSON_IsString(effort)) return pier_anthropic_bad(b, "reasoning_effort must be a string");
  if (thinking) {
    const char *type = pier_json_str(thinking, "type");
    if (!type) return pier_anthropic_bad(b, "thinking.type must be a string such as \"enabled\"");
    *on = strcmp(type, "disabled") != 0;
    if (strcmp(type, "enabled") == 0) *budget = (long long)pier_json_num(thinking, "budget_tokens", 0);
    return cJSON_AddItemToObject(body, "thinking", cJSON_Duplicate(thinking, true)) ? 0 : PIER_ENOMEM;
  }
  if (!effort) return 0;
  for (size_t i = 0; i < sizeof efforts / sizeof efforts[0]; i++) {
    if (strcmp(effort->valuestring, efforts[i].effort)) continue;
    if (!(*budget = efforts[i].budget)) return 0;
    *on = true;
    cJSON *t = cJSON_AddObjectToObject(body, "thinking");
    return t && cJSON_AddStringToObject(t, "type", "enabled") &&
           cJSON_AddNumberToObject(t, "budget_tokens", (double)*budget) ? 0 : PIER_ENOMEM;
  }
  return pier_anthropic_bad(b, "reasoning_effort must be one of none, minimal, low, medium, high; got \"%s\"",
                            effort->valuestring);
}

/* max_completion_tokens, else max_tokens, else the default; Anthropic wants it
 * above the thinking budget, so a smaller one is read as room for the answer. */
static int add_max_tokens(pier_anthropic_build_st *b, cJSON *body, long long budget) {
  long long max = 0;
  int rc;
  if ((rc = get_int(b, "max_completion_tokens", 1, INT32_MAX, &max)) < 0) return rc;
  if (!rc && (rc = get_int(b, "max_tokens", 1, INT32_MAX, &max)) < 0) return rc;
  if (!max) max = PIER_ANTHROPIC_MAX_TOKENS_DEFAULT;
  if (budget > 0 && max <= budget) max += budget;
  return cJSON_AddNumberToObject(body, "max_tokens", (double)max) ? 0 : PIER_ENOMEM;
}

/* temperature, top_p, top_k; Anthropic rejects changes to them while thinking. */
static int add_sampling(pier_anthropic_build_st *b, cJSON *body, bool thinking) {
  double t, p;
  long long k;
  int got_t, got_p, got_k;
  if ((got_t = get_num(b, "temperature", &t)) < 0) return got_t;
  if ((got_p = get_num(b, "top_p", &p)) < 0) return got_p;
  if ((got_k = get_int(b, "top_k", 0, INT32_MAX, &k)) < 0) return got_k;
  if (thinking) return 0;
  if ((got_t && !cJSON_AddNumberToObject(body, "temperature", clamp01(t))) ||
      (got_p && !cJSON_AddNumberToObject(body, "top_p", clamp01(p))) ||
      (got_k && !cJSON_AddNumberToObject(body, "top_k", (double)k)))
    return PIER_ENOMEM;
  return 0;
}

/* stop: a string or an array of strings -> stop_sequences; empty ones dropped. */
static int add_stop(pier_anthropic_build_st *b, cJSON *body) {
  const cJSON *stop = opt(b, "stop"), *s;
  if (!stop) return 0;
  if (!cJSON_IsString(stop) && !cJSON_IsArray(stop))
    return pier_anthropic_bad(b, "stop must be a string or an array of strings, got %s", pier_json_type_name(stop));
  int k = 0;
  cJSON_ArrayForEach(s, (cJSON_IsArray(stop) ? stop : NULL)) {
    if (!cJSON_IsString(s))
      return pier_anthropic_bad(b, "stop[%d] must be a string, got %s", k, pier_json_type_name(s));
    k++;
  }
  cJSON *seqs = cJSON_CreateArray();
  if (!seqs) return PIER_ENOMEM;
  bool ok = true;
  if (cJSON_IsString(stop))
    ok = !stop->valuestring[0] || cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
  cJSON_ArrayForEach(s, (cJSON_IsArray(stop) ? stop : NULL))
    ok = ok && (!s->valuestring[0] || cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring)));
  if (ok && (!seqs->child || cJSON_AddItemToObject(body, "stop_sequences", seqs))) {
    if (!seqs->child) cJSON_Delete(seqs);
    return 0;
  }
  cJSON_Delete(seqs);
  return PIER_ENOMEM;
}

/* ---- tools ------------------------------------------------------------------ */

/* {"name","description"?,"input_schema","cache_control"?}; takes ownership of
 * schema (NULL = empty object schema). Adds it to specs. */
static int spec_add(cJSON *specs, const char *name, const char *description, cJSON *schema, const cJSON *cache) {
  if (!schema && (schema = cJSON_CreateObject()) &&
      (!cJSON_AddStringToObject(schema, "type", "object") || !cJSON_AddObjectToObject(schema, "properties")))
    cJSON_Delete(schema), schema = NULL;
  cJSON *spec = cJSON_CreateObject();
  bool ok = spec && schema && cJSON_AddStringToObject(spec, "name", name) &&
            (!description || !description[0] || cJSON_AddStringToObject(spec, "description", description)) &&
            cJSON_AddItemToObject(spec, "input_schema", schema);
  if (!ok) cJSON_Delete(schema); /* not attached */
  ok = ok && (!cJSON_IsObject(cache) || cJSON_AddItemToObject(spec, "cache_control", cJSON_Duplicate(cache, true))) &&
       cJSON_AddItemToArray(specs, spec);
  if (ok) return 0;
  cJSON_Delete(spec);
  return PIER_ENOMEM;
}

/* tools[k] = {"type":"function","function":{"name","description","parameters"}}. */
static int add_user_tool(pier_anthropic_build_st *b, int k, const cJSON *tool, cJSON *specs) {
  const char *type = pier_json_str(tool, "type");
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
  if (!cJSON_IsObject(tool)) return pier_anthropic_bad(b, "tools[%d] must be an object", k);
  if (type && strcmp(type, "function"))
    return pier_anthropic_bad(b, "tools[%d].type: only \"function\" tools are supported, got \"%s\"", k, type);
  if (!cJSON_IsObject(fn)) return pier_anthropic_bad(b, "tools[%d].function must be an object", k);
  const char *name = pier_json_str(fn, "name");
  const cJSON *desc = pier_anthropic_opt(fn, "description"), *params = pier_anthropic_opt(fn, "parameters");
  if (!name || !name[0]) return pier_anthropic_bad(b, "tools[%d].function.name must be a non-empty string", k);
  if (desc && !cJSON_IsString(desc)) return pier_anthropic_bad(b, "tools[%d].function.description must be a string", k);
  if (params && !cJSON_IsObject(params))
    return pier_anthropic_bad(b, "tools[%d].function.parameters must be a JSON Schema object, got %s", k,
                              pier_json_type_name(params));
  cJSON *schema = params ? cJSON_Duplicate(params, true) : NULL;
  if (params && !schema) return PIER_ENOMEM;
  const cJSON *cache = cJSON_GetObjectItemCaseSensitive(tool, "cache_control");
  if (!cache) cache = cJSON_GetObjectItemCaseSensitive(fn, "cache_control");
  return spec_add(specs, name, desc ? desc->valuestring : NULL, schema, cache);
}

static bool spec_named(const cJSON *specs, const char *name) {
  const cJSON *t;
  cJSON_ArrayForEach(t, specs) {
    const char *n = pier_json_str(t, "name");
    if (n && strcmp(n, name) == 0) return true;
  }
  return false;
}

static int read_choice(pier_anthropic_build_st *b, const cJSON *specs, pier_oai_choice *c, const char **name) {
  return pier_oai_tool_choice(opt(b, "tool_choice"), specs, spec_named, c, name, b->err, b->errlen);
}

/* response_format json_object / json_schema -> the synthetic json_tool_call. */
static int add_json_tool(pier_anthropic_build_st *b, cJSON *specs) {
  cJSON *schema;
  const char *desc;
  int rc = pier_oai_json_schema(opt(b, "response_format"), &schema, &desc, b->err, b->errlen);
  if (rc || !schema) return rc;
  b->info->json_mode = true;
  return spec_add(specs, PIER_ANTHROPIC_JSON_TOOL, desc, schema, NULL);
}

/* Tools the history needs when the request declares none: one minimal spec per
 * name used (Anthropic rejects tool_use/tool_result blocks without tools). */
static int add_history_tools(pier_anthropic_build_st *b, cJSON *specs) {
  const cJSON *n;
  int rc;
  if (!b->used_tools->child) return spec_add(specs, "dummy_tool", NULL, NULL, NULL);
  cJSON_ArrayForEach(n, b->used_tools) if ((rc = spec_add(specs, n->valuestring, NULL, NULL, NULL))) return rc;
  return 0;
}

/* {"type":"auto"|"any"|"none"|"tool","name"?,"disable_parallel_tool_use"?}. */
static int add_choice(cJSON *body, pier_oai_choice c, const char *name, bool no_parallel) {
  static const char *const types[] = {"auto", "auto", "any", "none", "tool"};
  cJSON *tc = cJSON_AddObjectToObject(body, "tool_choice");
  if (!tc || !cJSON_AddStringToObject(tc, "type", types[c])) return PIER_ENOMEM;
  if (c == PIER_OAI_CHOICE_TOOL && !cJSON_AddStringToObject(tc, "name", name)) return PIER_ENOMEM;
  if (no_parallel && c != PIER_OAI_CHOICE_NONE && !cJSON_AddTrueToObject(tc, "disable_parallel_tool_use"))
    return PIER_ENOMEM;
  return 0;
}

static int add_tools(pier_anthropic_build_st *b, cJSON *body, bool thinking) {
  const cJSON *tools = opt(b, "tools"), *t, *par = opt(b, "parallel_tool_calls");
  pier_oai_choice c;
  const char *name = NULL;
  int k = 0, rc;
  if (tools && !cJSON_IsArray(tools)) return pier_anthropic_bad(b, "tools must be an array");
  if (par && !cJSON_IsBool(par)) return pier_anthropic_bad(b, "parallel_tool_calls must be a boolean");
  cJSON *specs = cJSON_CreateArray();
  if (!specs) return PIER_ENOMEM;
  cJSON_ArrayForEach(t, tools) if ((rc = add_user_tool(b, k++, t, specs))) goto out;
  if ((rc = read_choice(b, specs, &c, &name))) goto out;
  bool user_tools = specs->child != NULL;
  if ((rc = add_json_tool(b, specs))) goto out;
  if (b->info->json_mode && !user_tools) c = PIER_OAI_CHOICE_TOOL, name = PIER_ANTHROPIC_JSON_TOOL;
  if (thinking && (c == PIER_OAI_CHOICE_ANY || c == PIER_OAI_CHOICE_TOOL))
    c = PIER_OAI_CHOICE_AUTO; /* Anthropic rejects forced tools */
  if (!specs->child && b->history_tools) {
    if ((rc = add_history_tools(b, specs))) goto out;
    c = PIER_OAI_CHOICE_NONE; /* declared only so the history is accepted: not to be called */
  }
  if (!specs->child) goto out; /* rc == 0: no tools, no tool_choice */
  bool no_parallel = par && cJSON_IsFalse(par);
  if (c == PIER_OAI_CHOICE_UNSET && no_parallel) c = PIER_OAI_CHOICE_AUTO;
  if (!cJSON_AddItemToObject(body, "tools", specs)) goto nomem;
  specs = NULL;
  return c == PIER_OAI_CHOICE_UNSET ? 0 : add_choice(body, c, name, no_parallel);
nomem:
  rc = PIER_ENOMEM;
out:
  cJSON_Delete(specs);
  return rc;
}

int pier_anthropic_add_params(pier_anthropic_build_st *b, cJSON *body) {
  const cJSON *so = opt(b, "stream_options"), *n = opt(b, "n"), *user = opt(b, "user");
  bool thinking;
  long long budget;
  int rc;
  if (n && !(cJSON_IsNumber(n) && n->valuedouble == 1))
    return pier_anthropic_bad(b, "n: Anthropic returns a single choice, so n must be 1 (or left out)");
  if (user && !cJSON_IsString(user)) return pier_anthropic_bad(b, "user must be a string");
  b->info->stream = cJSON_IsTrue(opt(b, "stream"));
  b->info->include_usage = cJSON_IsObject(so) && pier_json_bool(so, "include_usage", false);
  cJSON *think = cJSON_CreateObject(); /* holds "thinking" until its place in the body */
  if (!think) return PIER_ENOMEM;
  if ((rc = add_thinking(b, think, &thinking, &budget)) || (rc = add_max_tokens(b, body, budget)) ||
      (rc = add_sampling(b, body, thinking)) || (rc = add_stop(b, body)) || (rc = add_tools(b, body, thinking)))
    goto out;
  b->info->thinking = thinking;
  rc = PIER_ENOMEM;
  if (think->child && !cJSON_AddItemToObject(body, "thinking", cJSON_DetachItemViaPointer(think, think->child)))
    goto out;
  if (!b->bedrock && user && user->valuestring[0]) {
    cJSON *md = cJSON_AddObjectToObject(body, "metadata");
    if (!md || !cJSON_AddStringToObject(md, "user_id", user->valuestring)) goto out;
  }
  rc = !b->bedrock && b->info->stream && !cJSON_AddTrueToObject(body, "stream") ? PIER_ENOMEM : 0;
out:
  cJSON_Delete(think);
  return rc;
}

/* ---- entry points ------------------------------------------------------------- */

/* model / anthropic_version, system, messages, then the parameters. */
static int assemble(pier_anthropic_build_st *b, const char *model_id, cJSON *body) {
  int rc;
  if (b->bedrock ? !cJSON_AddStringToObject(body, "anthropic_version", PIER_ANTHROPIC_BEDROCK_VERSION)
                 : !cJSON_AddStringToObject(body, "model", model_id))
    return PIER_ENOMEM;
  if ((rc = pier_anthropic_add_messages(b))) return rc;
  if (b->system) {
    if (!cJSON_AddItemToObject(body, "system", b->system)) return PIER_ENOMEM;
    b->system = NULL;
    cJSON *only = cJSON_GetObjectItemCaseSensitive(body, "system")->child;
    if (!only->next && cJSON_GetArraySize(only) == 2) { /* one plain text block: a string */
      cJSON *s = cJSON_CreateString(pier_json_str(only, "text"));
      if (s && !cJSON_ReplaceItemInObjectCaseSensitive(body, "system", s)) cJSON_Delete(s);
    }
  }
  if (!cJSON_AddItemToObject(body, "messages", b->messages)) return PIER_ENOMEM;
  b->messages = NULL;
  return pier_anthropic_add_params(b, body);
}

static int build(const cJSON *req, const char *model_id, bool bedrock, pier_buf *body_out, pier_anthropic_info *info,
                 char *err, size_t errlen) {
  pier_anthropic_build_st b = {.req = req, .info = info, .bedrock = bedrock, .err = err, .errlen = errlen};
  cJSON *body = NULL;
  int rc = PIER_ENOMEM;
  memset(info, 0, sizeof *info);
  if (errlen) err[0] = '\0';
  if (!cJSON_IsObject(req)) return pier_anthropic_bad(&b, "the request body must be a JSON object");
  if (!bedrock && (!model_id || !model_id[0]))
    return pier_anthropic_bad(&b, "model: no Anthropic model name to send; name one like anthropic/claude-sonnet-4-5");
  if (!(body = cJSON_CreateObject()) || !(b.messages = cJSON_CreateArray()) || !(b.used_tools = cJSON_CreateArray()))
    goto out;
  if ((rc = assemble(&b, model_id, body))) goto out;
  rc = pier_json_append(body_out, body);
out:
  cJSON_Delete(body);
  cJSON_Delete(b.messages);
  cJSON_Delete(b.system);
  cJSON_Delete(b.used_tools);
  if (rc == PIER_ENOMEM || rc == PIER_ETOOBIG)
    snprintf(err, errlen, "%s while building the Anthropic request", pier_strerror(rc));
  return rc;
}

int pier_anthropic_build(const cJSON *openai_req, const char *model_id, pier_buf *body_out, pier_anthropic_info *info,
                         char *err, size_t errlen) {
  return build(openai_req, model_id, false, body_out, info, err, errlen);
}

int pier_anthropic_build_bedrock(const cJSON *openai_req, const char *model_id, pier_buf *body_out,
                                 pier_anthropic_info *info, char *err, size_t errlen) {
  return build(openai_req, model_id, true, body_out, info, err, errlen);
}
