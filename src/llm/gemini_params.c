/* gemini_params.c — the non-contents half of a generateContent body:
 * generationConfig (sampling, limits, stop, JSON mode, thinking), tools
 * (one functionDeclarations entry) and toolConfig. Invariants: temperature is
 * within 0..2 and topP within 0..1, stopSequences holds 1..5 non-empty
 * strings, toolConfig only appears next to declared tools. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/gemini_map_int.h"

#define SEED_MAX 2147483647.0

/* The request member `key`, NULL when absent or JSON null. */
static const cJSON *opt(const pier_gemini_build_st *b, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->req, key);
  return cJSON_IsNull(v) ? NULL : v;
}

/* 0 absent, 1 read into *out, PIER_EINVAL when not a number. */
static int get_num(pier_gemini_build_st *b, const char *key, double *out) {
  const cJSON *v = opt(b, key);
  if (!v) return 0;
  if (!cJSON_IsNumber(v)) return pier_gemini_bad(b, "%s must be a number, got %s", key, pier_json_type_name(v));
  *out = v->valuedouble;
  return 1;
}

/* Like get_num for an integer in lo..hi. */
static int get_int(pier_gemini_build_st *b, const char *key, long long lo, long long hi, long long *out) {
  double d = 0;
  int got = get_num(b, key, &d);
  if (got <= 0) return got;
  if (!(d >= (double)lo && d <= (double)hi) || (double)(long long)d != d)
    return pier_gemini_bad(b, "%s must be an integer from %lld to %lld", key, lo, hi);
  *out = (long long)d;
  return 1;
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* stop: a string or an array of at most 5 strings; empty ones dropped. */
static int add_stop(pier_gemini_build_st *b, cJSON *gc) {
  const cJSON *stop = opt(b, "stop"), *s;
  if (!stop) return 0;
  if (!cJSON_IsString(stop) && !cJSON_IsArray(stop))
    return pier_gemini_bad(b, "stop must be a string or an array of strings, got %s", pier_json_type_name(stop));
  int n = 0, k = 0;
  cJSON_ArrayForEach(s, (cJSON_IsArray(stop) ? stop : NULL)) {
    if (!cJSON_IsString(s)) return pier_gemini_bad(b, "stop[%d] must be a string, got %s", k, pier_json_type_name(s));
    k++;
    n += s->valuestring[0] != '\0';
  }
  if (n > PIER_GEMINI_STOP_SEQUENCES_MAX)
    return pier_gemini_bad(b, "stop: Gemini takes at most %d stop sequences, got %d", PIER_GEMINI_STOP_SEQUENCES_MAX,
                           n);
  if (cJSON_IsString(stop)) n = stop->valuestring[0] != '\0';
  if (n == 0) return 0;
  cJSON *seqs = cJSON_AddArrayToObject(gc, "stopSequences");
  if (!seqs) return PIER_ENOMEM;
  for (s = cJSON_IsArray(stop) ? stop->child : stop; s; s = cJSON_IsArray(stop) ? s->next : NULL)
    if (s->valuestring[0] && !cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring))) return PIER_ENOMEM;
  return 0;
}

/* temperature, top_p, top_k, max_completion_tokens | max_tokens, seed,
 * presence_penalty, frequency_penalty. */
static int add_sampling(pier_gemini_build_st *b, cJSON *gc) {
  static const struct { const char *from, *to; } pass[] = {{"presence_penalty", "presencePenalty"},
                                                           {"frequency_penalty", "frequencyPenalty"}};
  double d = 0;
  long long n = 0;
  int got;
  if ((got = get_num(b, "temperature", &d)) < 0) return got;
  if (got && !cJSON_AddNumberToObject(gc, "temperature", clamp(d, 0, 2))) return PIER_ENOMEM;
  if ((got = get_num(b, "top_p", &d)) < 0) return got;
  if (got && !cJSON_AddNumberToObject(gc, "topP", clamp(d, 0, 1))) return PIER_ENOMEM;
  if ((got = get_int(b, "top_k", 1, INT32_MAX, &n)) < 0) return got;
  if (got && !cJSON_AddNumberToObject(gc, "topK", (double)n)) return PIER_ENOMEM;
  if ((got = get_int(b, "max_completion_tokens", 1, INT32_MAX, &n)) < 0) return got;
  if (!got && (got = get_int(b, "max_tokens", 1, INT32_MAX, &n)) < 0) return got;
  if (got && !cJSON_AddNumberToObject(gc, "maxOutputTokens", (double)n)) return PIER_ENOMEM;
  if ((got = get_int(b, "seed", -(long long)SEED_MAX - 1, (long long)SEED_MAX, &n)) < 0) return got;
  if (got && !cJSON_AddNumberToObject(gc, "seed", (double)n)) return PIER_ENOMEM;
  for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
    if ((got = get_num(b, pass[i].from, &d)) < 0) return got;
    if (got && !cJSON_AddNumberToObject(gc, pass[i].to, d)) return PIER_ENOMEM;
  }
  return 0;
}

/* response_format: json_object -> responseMimeType; json_schema -> + responseSchema. */
static int add_response_format(pier_gemini_build_st *b, cJSON *gc) {
  const cJSON *rf = opt(b, "response_format");
  if (!rf) return 0;
  const char *type = pier_json_str(rf, "type");
  if (!cJSON_IsObject(rf) || !type)
    return pier_gemini_bad(b, "response_format must be an object with a string \"type\"");
  if (!strcmp(type, "text")) return 0;
  if (strcmp(type, "json_object") && strcmp(type, "json_schema"))
    return pier_gemini_bad(b, "response_format.type must be text, json_object or json_schema; got \"%s\"", type);
  b->info->json_mode = true;
  if (!cJSON_AddStringToObject(gc, "responseMimeType", "application/json")) return PIER_ENOMEM;
  if (!strcmp(type, "json_object")) return 0;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
  if (!cJSON_IsObject(s)) return pier_gemini_bad(b, "response_format.json_schema.schema must be an object");
  cJSON *schema = NULL;
  int rc = pier_gemini_schema(s, "response_format.json_schema.schema", &schema, b->err, b->errlen);
  if (rc) return rc;
  const char *t = pier_json_str(schema, "type");
  if (t && !strcmp(t, "OBJECT") && !cJSON_GetObjectItemCaseSensitive(schema, "properties")) {
    cJSON_Delete(schema); /* Gemini rejects an OBJECT without properties: plain JSON mode it is */
    return 0;
  }
  if (cJSON_AddItemToObject(gc, "responseSchema", schema)) return 0;
  cJSON_Delete(schema);
  return PIER_ENOMEM;
}

/* reasoning_effort, or thinking {"type":"enabled","budget_tokens":N} ->
 * thinkingConfig {thinkingBudget, includeThoughts}. Budgets sit inside every
 * 2.5 model's range (Pro 128.., Flash-Lite 512.., Flash ..24576); "none" turns
 * thinking off (budget 0; Pro models refuse that and Gemini says so). */
static int add_thinking(pier_gemini_build_st *b, cJSON *gc) {
  static const struct { const char *effort; int budget; } efforts[] = {
    {"none", 0}, {"minimal", 512}, {"low", 1024}, {"medium", 8192}, {"high", 24576}};
  const cJSON *thinking = opt(b, "thinking"), *effort = opt(b, "reasoning_effort");
  long long budget = -1;
  if (thinking && !cJSON_IsObject(thinking)) return pier_gemini_bad(b, "thinking must be an object");
  if (effort && !cJSON_IsString(effort)) return pier_gemini_bad(b, "reasoning_effort must be a string");
  if (effort) {
    for (size_t i = 0; budget < 0 && i < sizeof efforts / sizeof efforts[0]; i++)
      if (!strcmp(effort->valuestring, efforts[i].effort)) budget = efforts[i].budget;
    if (budget < 0)
      return pier_gemini_bad(b, "reasoning_effort must be one of none, minimal, low, medium, high; got \"%s\"",
                             effort->valuestring);
  } else if (thinking) {
    const char *type = pier_json_str(thinking, "type");
    double bt = pier_json_num(thinking, "budget_tokens", 1024);
    if (!type || strcmp(type, "enabled")) return 0;
    if (!(bt >= 0 && bt <= INT32_MAX) || (double)(long long)bt != bt)
      return pier_gemini_bad(b, "thinking.budget_tokens must be a non-negative integer");
    budget = (long long)bt;
  } else {
    return 0;
  }
  cJSON *tc = cJSON_AddObjectToObject(gc, "thinkingConfig");
  if (!tc || !cJSON_AddNumberToObject(tc, "thinkingBudget", (double)budget)) return PIER_ENOMEM;
  if (budget > 0 && !cJSON_AddBoolToObject(tc, "includeThoughts", true)) return PIER_ENOMEM;
  b->info->thinking = budget > 0;
  return 0;
}

static int add_generation(pier_gemini_build_st *b) {
  cJSON *gc = cJSON_CreateObject();
  int rc = gc ? 0 : PIER_ENOMEM;
  if (!rc && !(rc = add_sampling(b, gc)) && !(rc = add_stop(b, gc)) && !(rc = add_response_format(b, gc)))
    rc = add_thinking(b, gc);
  if (!rc && gc->child) {
    if (cJSON_AddItemToObject(b->body, "generationConfig", gc)) return 0;
    rc = PIER_ENOMEM;
  }
  cJSON_Delete(gc);
  return rc;
}

/* ---- tools --------------------------------------------------------------- */

/* Gemini's rule for function names: [A-Za-z_][A-Za-z0-9_.:-]{0,63}. */
static bool name_ok(const char *n) {
  size_t len = 0;
  if (!((n[0] >= 'A' && n[0] <= 'Z') || (n[0] >= 'a' && n[0] <= 'z') || n[0] == '_')) return false;
  for (; n[len]; len++) {
    char c = n[len];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-';
    if (!ok || len >= 64) return false;
  }
  return true;
}

/* tools[k] = {"type":"function","function":{"name","description","parameters"}}
 * -> a FunctionDeclaration. Parameters that convert to an OBJECT without
 * properties are left out (Gemini rejects them; "no parameters" means the same). */
static int add_declaration(pier_gemini_build_st *b, int k, const cJSON *tool, cJSON *decls) {
  const char *type = pier_json_str(tool, "type");
  const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
  if (!cJSON_IsObject(tool)) return pier_gemini_bad(b, "tools[%d] must be an object", k);
  if (type && strcmp(type, "function"))
    return pier_gemini_bad(b, "tools[%d].type: only \"function\" tools are supported, got \"%s\"", k, type);
  if (!cJSON_IsObject(fn)) return pier_gemini_bad(b, "tools[%d].function must be an object", k);
  const char *name = pier_json_str(fn, "name");
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(fn, "description");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
  if (!name || !name[0]) return pier_gemini_bad(b, "tools[%d].function.name must be a non-empty string", k);
  if (!name_ok(name))
    return pier_gemini_bad(b, "tools[%d].function.name: \"%.80s\" is not a valid Gemini function name (start with "
                              "a letter or _, then letters, digits, _ . : -, at most 64 characters)", k, name);
  if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc))
    return pier_gemini_bad(b, "tools[%d].function.description must be a string", k);
  if (params && !cJSON_IsNull(params) && !cJSON_IsObject(params))
    return pier_gemini_bad(b, "tools[%d].function.parameters must be a JSON Schema object, got %s", k,
                           pier_json_type_name(params));
  cJSON *schema = NULL, *d = NULL;
  char path[64];
  snprintf(path, sizeof path, "tools[%d].function.parameters", k);
  int rc = cJSON_IsObject(params) ? pier_gemini_schema(params, path, &schema, b->err, b->errlen) : 0;
  if (rc) return rc;
  const char *t = pier_json_str(schema, "type");
  if (schema && t && !strcmp(t, "OBJECT") && !cJSON_GetObjectItemCaseSensitive(schema, "properties"))
    cJSON_Delete(schema), schema = NULL;
  rc = PIER_ENOMEM;
  if (!(d = cJSON_CreateObject()) || !cJSON_AddStringToObject(d, "name", name) ||
      (cJSON_IsString(desc) && desc->valuestring[0] && !cJSON_AddStringToObject(d, "description", desc->valuestring)))
    goto out;
  if (schema && !cJSON_AddItemToObject(d, "parameters", schema)) goto out;
  schema = NULL;
  if (!cJSON_AddItemToArray(decls, d)) goto out;
  return 0;
out:
  cJSON_Delete(schema);
  cJSON_Delete(d);
  return rc;
}

static bool declared(const cJSON *decls, const char *name) {
  const cJSON *d;
  cJSON_ArrayForEach(d, decls) {
    const char *n = pier_json_str(d, "name");
    if (n && !strcmp(n, name)) return true;
  }
  return false;
}

/* tool_choice -> toolConfig.functionCallingConfig: "auto" AUTO, "required" ANY,
 * "none" NONE, {"type":"function","function":{"name"}} ANY + allowedFunctionNames. */
static int add_tool_config(pier_gemini_build_st *b, const cJSON *decls) {
  const cJSON *tc = opt(b, "tool_choice");
  const char *mode = NULL, *only = NULL;
  if (!tc) return 0;
  if (cJSON_IsString(tc)) {
    const char *s = tc->valuestring;
    mode = !strcmp(s, "auto") ? "AUTO" : !strcmp(s, "required") ? "ANY" : !strcmp(s, "none") ? "NONE" : NULL;
    if (!mode)
      return pier_gemini_bad(b, "tool_choice must be \"auto\", \"required\", \"none\" or "
                                "{\"type\":\"function\",\"function\":{\"name\":...}}; got \"%s\"", s);
  } else {
    only = pier_json_str(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
    if (!cJSON_IsObject(tc) || !only)
      return pier_gemini_bad(b, "tool_choice.function.name must be a string naming one of tools");
    if (!declared(decls, only))
      return pier_gemini_bad(b, "tool_choice.function.name: no tool named \"%s\" in tools", only);
    mode = "ANY";
  }
  if (!decls || !decls->child) {
    if (!strcmp(mode, "ANY")) return pier_gemini_bad(b, "tool_choice: \"required\" needs at least one entry in tools");
    return 0; /* auto / none without tools: nothing to configure */
  }
  cJSON *fcc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(b->body, "toolConfig"), "functionCallingConfig");
  if (!fcc || !cJSON_AddStringToObject(fcc, "mode", mode)) return PIER_ENOMEM;
  if (!only) return 0;
  cJSON *names = cJSON_AddArrayToObject(fcc, "allowedFunctionNames");
  return names && cJSON_AddItemToArray(names, cJSON_CreateString(only)) ? 0 : PIER_ENOMEM;
}

static int add_tools(pier_gemini_build_st *b) {
  const cJSON *tools = opt(b, "tools"), *t;
  cJSON *decls = NULL;
  int k = 0, rc;
  if (tools && !cJSON_IsArray(tools)) return pier_gemini_bad(b, "tools must be an array");
  if (tools && tools->child) {
    cJSON *list = cJSON_AddArrayToObject(b->body, "tools"), *entry = cJSON_CreateObject();
    if (!list || !entry || !(decls = cJSON_AddArrayToObject(entry, "functionDeclarations")) ||
        !cJSON_AddItemToArray(list, entry)) {
      cJSON_Delete(entry); /* not attached */
      return PIER_ENOMEM;
    }
    cJSON_ArrayForEach(t, tools) if ((rc = add_declaration(b, k++, t, decls))) return rc;
  }
  return add_tool_config(b, decls);
}

int pier_gemini_add_params(pier_gemini_build_st *b) {
  const cJSON *so = opt(b, "stream_options"), *n = opt(b, "n");
  if (n && !(cJSON_IsNumber(n) && n->valuedouble == 1))
    return pier_gemini_bad(b, "n: pier decodes one Gemini candidate, so n must be 1 (or left out)");
  b->info->stream = cJSON_IsTrue(opt(b, "stream"));
  b->info->include_usage = cJSON_IsObject(so) && pier_json_bool(so, "include_usage", false);
  int rc = add_generation(b);
  return rc ? rc : add_tools(b);
}
