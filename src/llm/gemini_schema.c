/* gemini_schema.c — JSON Schema (OpenAI tool parameters, response_format) ->
 * Gemini's Schema, a whitelisted OpenAPI 3.0 subset (the kept and dropped keys
 * are listed at pier_gemini_schema in gemini_map.h). Invariant: the output
 * holds only keys Gemini accepts, with upper-case types; work is bounded by
 * the parser's depth cap plus a cap on $ref expansions (per branch and total). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "llm/gemini_map.h"

#define PATH_BYTES_MAX 256
#define REFS_TOTAL_MAX 256 /* $ref expansions in one schema: fan-out cannot blow up */
#define TYPES_MAX 8

typedef struct conv_st {
  const cJSON *root;                              /* for $ref resolution */
  const cJSON *stack[PIER_GEMINI_SCHEMA_REFS_MAX]; /* $ref targets open on the current branch */
  int depth;
  int expanded;                                   /* $ref expansions so far */
  char path[PATH_BYTES_MAX];
  size_t path_len;
  char *err;
  size_t errlen;
} conv_st;

static int conv(conv_st *c, const cJSON *in, cJSON **out);

static int bad(conv_st *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(conv_st *c, const char *fmt, ...) {
  int n = snprintf(c->err, c->errlen, "%s: ", c->path);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < c->errlen) vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
  va_end(ap);
  return PIER_EINVAL;
}

/* Append ".key" or "[k]" to the path; returns the length to restore with pop. */
static size_t push(conv_st *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t push(conv_st *c, const char *fmt, ...) {
  size_t old = c->path_len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(c->path + old, sizeof c->path - old, fmt, ap);
  va_end(ap);
  if (n > 0) c->path_len = old + (size_t)n < sizeof c->path ? old + (size_t)n : sizeof c->path - 1;
  return old;
}

static void pop(conv_st *c, size_t old) {
  c->path_len = old;
  c->path[old] = '\0';
}

static const char *gemini_type(const char *t) {
  static const char *const map[][2] = {{"string", "STRING"},   {"number", "NUMBER"}, {"integer", "INTEGER"},
                                       {"boolean", "BOOLEAN"}, {"array", "ARRAY"},   {"object", "OBJECT"},
                                       {"null", "NULL"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(t, map[i][0]) == 0) return map[i][1];
  return NULL;
}

/* Gemini rejects most formats: STRING takes enum / date-time, NUMBER float /
 * double, INTEGER int32 / int64; others are dropped. */
static bool format_ok(const char *type, const char *format) {
  if (!type) return false;
  if (!strcmp(type, "STRING")) return !strcmp(format, "enum") || !strcmp(format, "date-time");
  if (!strcmp(type, "NUMBER")) return !strcmp(format, "float") || !strcmp(format, "double");
  if (!strcmp(type, "INTEGER")) return !strcmp(format, "int32") || !strcmp(format, "int64");
  return false;
}

static bool all_strings(const cJSON *arr) {
  const cJSON *e;
  if (!cJSON_IsArray(arr) || !arr->child) return false;
  cJSON_ArrayForEach(e, arr) if (!cJSON_IsString(e)) return false;
  return true;
}

static int add_dup(cJSON *out, const char *key, const cJSON *v) {
  cJSON *d = cJSON_Duplicate(v, true);
  if (d && cJSON_AddItemToObject(out, key, d)) return 0;
  cJSON_Delete(d);
  return PIER_ENOMEM;
}

/* Move every member of `from` that `to` lacks into `to`; from is consumed. */
static void merge(cJSON *to, cJSON *from) {
  cJSON *item = from->child;
  while (item) {
    cJSON *next = item->next;
    if (!cJSON_GetObjectItemCaseSensitive(to, item->string)) {
      cJSON_DetachItemViaPointer(from, item);
      if (!cJSON_AddItemToObject(to, item->string, item)) cJSON_Delete(item);
    }
    item = next;
  }
  cJSON_Delete(from);
}

/* "type": a string or an array of strings. "null" among several -> nullable;
 * two or more others -> anyOf with one member per type. */
static int conv_type(conv_st *c, const cJSON *t, cJSON *out) {
  const char *types[TYPES_MAX];
  int n = 0;
  bool null = false;
  size_t old = push(c, ".type");
  const cJSON *e = cJSON_IsArray(t) ? t->child : t;
  if (!cJSON_IsString(t) && !cJSON_IsArray(t)) return bad(c, "must be a string or an array of strings");
  for (; e; e = cJSON_IsArray(t) ? e->next : NULL) {
    const char *g = cJSON_IsString(e) ? gemini_type(e->valuestring) : NULL;
    if (!g)
      return bad(c, "unknown JSON Schema type %s%s%s (use string, number, integer, boolean, array, object, null)",
                 cJSON_IsString(e) ? "\"" : "", cJSON_IsString(e) ? e->valuestring : pier_json_type_name(e),
                 cJSON_IsString(e) ? "\"" : "");
    if (!strcmp(g, "NULL")) null = true;
    else if (n < TYPES_MAX) types[n++] = g;
  }
  pop(c, old);
  if (n == 0) return cJSON_AddStringToObject(out, "type", "NULL") ? 0 : PIER_ENOMEM;
  if (null && !cJSON_AddBoolToObject(out, "nullable", true)) return PIER_ENOMEM;
  if (n == 1) return cJSON_AddStringToObject(out, "type", types[0]) ? 0 : PIER_ENOMEM;
  cJSON *any = cJSON_AddArrayToObject(out, "anyOf");
  for (int k = 0; any && k < n; k++) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "type", types[k]) || !cJSON_AddItemToArray(any, m)) {
      cJSON_Delete(m);
      return PIER_ENOMEM;
    }
  }
  return any ? 0 : PIER_ENOMEM;
}

static bool is_null_schema(const cJSON *s) {
  const char *t = pier_json_str(s, "type");
  return t && !strcmp(t, "null") && cJSON_GetArraySize(s) == 1;
}

/* anyOf / oneOf -> anyOf; {"type":"null"} members -> nullable; a single
 * remaining member is merged into the schema itself (pydantic's Optional[X]). */
static int conv_union(conv_st *c, const char *key, const cJSON *arr, cJSON *out) {
  size_t old = push(c, ".%s", key);
  if (!cJSON_IsArray(arr)) return bad(c, "must be an array of schemas");
  cJSON *list = cJSON_CreateArray(), *sub;
  bool null = false;
  int k = 0, rc = list ? 0 : PIER_ENOMEM;
  for (const cJSON *m = arr->child; !rc && m; m = m->next, k++) {
    if (is_null_schema(m)) {
      null = true;
      continue;
    }
    size_t o2 = push(c, "[%d]", k);
    if (!(rc = conv(c, m, &sub)) && !cJSON_AddItemToArray(list, sub)) cJSON_Delete(sub), rc = PIER_ENOMEM;
    pop(c, o2);
  }
  pop(c, old);
  bool add_nullable = null && !cJSON_GetObjectItemCaseSensitive(out, "nullable");
  if (!rc && add_nullable && !cJSON_AddBoolToObject(out, "nullable", true)) rc = PIER_ENOMEM;
  int n = list ? cJSON_GetArraySize(list) : 0;
  if (rc || n == 0 || (n > 1 && cJSON_GetObjectItemCaseSensitive(out, "anyOf"))) {
    cJSON_Delete(list);
    return rc;
  }
  if (n == 1) {
    merge(out, cJSON_DetachItemFromArray(list, 0));
    cJSON_Delete(list);
    return 0;
  }
  if (cJSON_AddItemToObject(out, "anyOf", list)) return 0;
  cJSON_Delete(list);
  return PIER_ENOMEM;
}

static int conv_properties(conv_st *c, const cJSON *props, cJSON *out) {
  if (!cJSON_IsObject(props)) return bad(c, "properties must be an object");
  if (!props->child) return 0;
  cJSON *o = cJSON_AddObjectToObject(out, "properties"), *sub;
  if (!o) return PIER_ENOMEM;
  for (const cJSON *p = props->child; p; p = p->next) {
    size_t old = push(c, ".properties.%s", p->string);
    int rc = conv(c, p, &sub);
    pop(c, old);
    if (rc) return rc;
    if (!cJSON_AddItemToObject(o, p->string, sub)) {
      cJSON_Delete(sub);
      return PIER_ENOMEM;
    }
  }
  return 0;
}

/* required, keeping only names that are properties (Gemini rejects the others). */
static int conv_required(const cJSON *req, cJSON *out) {
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(out, "properties"), *e;
  cJSON *r = NULL;
  cJSON_ArrayForEach(e, (cJSON_IsArray(req) ? req : NULL)) {
    if (!cJSON_IsString(e) || !cJSON_GetObjectItemCaseSensitive(props, e->valuestring)) continue;
    if (!r && !(r = cJSON_AddArrayToObject(out, "required"))) return PIER_ENOMEM;
    if (!cJSON_AddItemToArray(r, cJSON_CreateString(e->valuestring))) return PIER_ENOMEM;
  }
  return 0;
}

/* Scalars copied as they are when of the right JSON type. */
static int conv_scalars(const cJSON *in, cJSON *out) {
  static const char *const strs[] = {"title", "description", "pattern"};
  static const char *const nums[] = {"minimum",   "maximum",   "minItems",      "maxItems",
                                     "minLength", "maxLength", "minProperties", "maxProperties"};
  static const char *const any[] = {"default", "example"};
  const cJSON *v;
  int rc = 0;
  for (size_t i = 0; !rc && i < sizeof strs / sizeof strs[0]; i++)
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(in, strs[i]))) rc = add_dup(out, strs[i], v);
  for (size_t i = 0; !rc && i < sizeof nums / sizeof nums[0]; i++)
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(in, nums[i]))) rc = add_dup(out, nums[i], v);
  for (size_t i = 0; !rc && i < sizeof any / sizeof any[0]; i++)
    if ((v = cJSON_GetObjectItemCaseSensitive(in, any[i]))) rc = add_dup(out, any[i], v);
  if (!rc && cJSON_IsBool(v = cJSON_GetObjectItemCaseSensitive(in, "nullable")) &&
      !cJSON_GetObjectItemCaseSensitive(out, "nullable"))
    rc = add_dup(out, "nullable", v);
  return rc;
}

/* type (given or implied), format, enum / const. */
static int conv_kind(conv_st *c, const cJSON *in, cJSON *out) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "type"), *en = cJSON_GetObjectItemCaseSensitive(in, "enum");
  const cJSON *cst = cJSON_GetObjectItemCaseSensitive(in, "const");
  const char *implied = cJSON_GetObjectItemCaseSensitive(in, "properties") ? "OBJECT"
                        : cJSON_GetObjectItemCaseSensitive(in, "items")    ? "ARRAY"
                        : (all_strings(en) || cJSON_IsString(cst))         ? "STRING"
                                                                            : NULL;
  int rc = t ? conv_type(c, t, out) : 0;
  if (!rc && !t && implied && !cJSON_AddStringToObject(out, "type", implied)) rc = PIER_ENOMEM;
  const char *type = pier_json_str(out, "type"), *format = pier_json_str(in, "format");
  if (!rc && format && format_ok(type, format) && !cJSON_AddStringToObject(out, "format", format)) rc = PIER_ENOMEM;
  if (!rc && all_strings(en)) rc = add_dup(out, "enum", en); /* Gemini enums are strings; others dropped */
  else if (!rc && cJSON_IsString(cst)) {
    cJSON *one = cJSON_AddArrayToObject(out, "enum");
    if (!one || !cJSON_AddItemToArray(one, cJSON_CreateString(cst->valuestring))) rc = PIER_ENOMEM;
  }
  return rc;
}

static int conv_body(conv_st *c, const cJSON *in, cJSON *out) {
  const cJSON *v;
  cJSON *sub;
  int rc;
  if ((rc = conv_kind(c, in, out)) || (rc = conv_scalars(in, out))) return rc;
  if ((v = cJSON_GetObjectItemCaseSensitive(in, "properties")) && (rc = conv_properties(c, v, out))) return rc;
  if ((rc = conv_required(cJSON_GetObjectItemCaseSensitive(in, "required"), out))) return rc;
  v = cJSON_GetObjectItemCaseSensitive(in, "propertyOrdering");
  bool ordering = all_strings(v) && cJSON_GetObjectItemCaseSensitive(out, "properties");
  if (ordering && (rc = add_dup(out, "propertyOrdering", v))) return rc;
  if (cJSON_IsObject(v = cJSON_GetObjectItemCaseSensitive(in, "items"))) { /* tuple items (arrays) are dropped */
    size_t old = push(c, ".items");
    rc = conv(c, v, &sub);
    pop(c, old);
    if (rc) return rc;
    if (!cJSON_AddItemToObject(out, "items", sub)) return cJSON_Delete(sub), PIER_ENOMEM;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(in, "anyOf")) && (rc = conv_union(c, "anyOf", v, out))) return rc;
  if ((v = cJSON_GetObjectItemCaseSensitive(in, "oneOf")) && (rc = conv_union(c, "oneOf", v, out))) return rc;
  v = cJSON_GetObjectItemCaseSensitive(in, "allOf"); /* only the one-member form pydantic writes around a $ref */
  if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 && (rc = conv_union(c, "allOf", v, out))) return rc;
  return 0;
}

/* {"$ref":"#/$defs/X"} (or #/definitions/X): the target converted in place; a
 * description next to the $ref wins over the target's. */
static int conv_ref(conv_st *c, const cJSON *in, const cJSON *ref, cJSON **out) {
  const char *r = cJSON_IsString(ref) ? ref->valuestring : "";
  const char *defs = !strncmp(r, "#/$defs/", 8) ? "$defs" : !strncmp(r, "#/definitions/", 14) ? "definitions" : NULL;
  const cJSON *target = defs ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c->root, defs),
                                                                r + strlen(defs) + 3)
                             : NULL;
  if (!target)
    return bad(c, "$ref \"%.80s\" does not resolve; only local refs like #/$defs/Name are supported", r);
  for (int i = 0; i < c->depth; i++)
    if (c->stack[i] == target) return bad(c, "$ref \"%.80s\" is recursive; Gemini schemas cannot express recursion", r);
  if (c->depth >= PIER_GEMINI_SCHEMA_REFS_MAX || ++c->expanded > REFS_TOTAL_MAX)
    return bad(c, "$ref \"%.80s\": too many nested or repeated $ref expansions", r);
  c->stack[c->depth++] = target;
  int rc = conv(c, target, out);
  c->depth--;
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(in, "description");
  if (!rc && cJSON_IsString(desc)) {
    cJSON *d = cJSON_CreateString(desc->valuestring);
    bool ok = d && (cJSON_GetObjectItemCaseSensitive(*out, "description")
                        ? cJSON_ReplaceItemInObjectCaseSensitive(*out, "description", d)
                        : cJSON_AddItemToObject(*out, "description", d));
    if (!ok) {
      cJSON_Delete(d);
      cJSON_Delete(*out);
      *out = NULL;
      rc = PIER_ENOMEM;
    }
  }
  return rc;
}

static int conv(conv_st *c, const cJSON *in, cJSON **out) {
  *out = NULL;
  if (!cJSON_IsObject(in)) return bad(c, "must be a JSON Schema object, got %s", pier_json_type_name(in));
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(in, "$ref");
  if (ref) return conv_ref(c, in, ref, out);
  cJSON *o = cJSON_CreateObject();
  if (!o) return PIER_ENOMEM;
  int rc = conv_body(c, in, o);
  if (rc) {
    cJSON_Delete(o);
    return rc;
  }
  *out = o;
  return 0;
}

int pier_gemini_schema(const cJSON *json_schema, const char *path, cJSON **out, char *err, size_t errlen) {
  conv_st c = {.root = json_schema, .err = err, .errlen = errlen};
  int n = snprintf(c.path, sizeof c.path, "%s", path && path[0] ? path : "schema");
  c.path_len = n > 0 && (size_t)n < sizeof c.path ? (size_t)n : sizeof c.path - 1;
  return conv(&c, json_schema, out);
}
