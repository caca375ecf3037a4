/* simple_judge.c — an LLM judge: each item (`item` or `items`) is scored
 * against `instruction` as a scale (scale_range [min,max], default [1,5]),
 * one of `categories` (also score_range given as a list), or binary yes/no.
 * The model is asked for strict JSON ({"score": .., "explanation": ..},
 * response_format json_object); an answer that does not fit the judge type
 * gets one corrective turn, then the item fails. An item that is a storage
 * path of an image (.png .jpg .jpeg .gif .webp) is judged as a vision request.
 * Outputs results[] {item_index, score, explanation, raw_result} (+ error),
 * average_score (scale), judge_type; with one item also score, explanation
 * and, binary, judgment "yes"|"no". The step fails only when no item could be
 * judged. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"

#define ITEMS_MAX 1000
#define CATEGORIES_MAX 100
#define CONCURRENCY_MAX 50

enum judge_type { SCALE, CATEGORICAL, BINARY };
static const char *const type_names[] = {"scale", "categorical", "binary"};

typedef struct jitem {
  char *text;        /* owned: the item as text (non-strings as compact JSON) */
  const char *image; /* storage path when the item is an image (in the inputs) */
  char *image_url;   /* owned data URL once read */
  char *answer;      /* owned: raw answer of the first attempt */
  char why[300];     /* why the first answer did not fit */
  int attempts;
} jitem;

typedef struct judge {
  pier_act_fan fan;
  jitem *items;
  cJSON **results; /* owned, one per item */
  enum judge_type type;
  double lo, hi;
  cJSON *categories; /* owned array of strings */
  bool explain;
  char *system;      /* owned system prompt */
  char spec[600];    /* what "score" must be, for prompts */
  int judged, failed, first_failed;
  char first_error[700];
} judge;

static void judge_free(judge *j) {
  if (!j) return;
  for (int i = 0; j->items && i < j->fan.n; i++) {
    free(j->items[i].text);
    free(j->items[i].image_url);
    free(j->items[i].answer);
  }
  for (int i = 0; j->results && i < j->fan.n; i++) cJSON_Delete(j->results[i]);
  free(j->items);
  free(j->results);
  cJSON_Delete(j->categories);
  free(j->system);
  free(j);
}

static void cancel(pier_step *s) {
  judge_free(pier_step_state(s));
  pier_step_set_state(s, NULL);
}

/* ---- the answer ------------------------------------------------------------------------ */

/* The JSON object in an answer: the whole text, a ```json fence, or the outermost {...}. */
static cJSON *parse_answer(const char *text) {
  cJSON *v = cJSON_Parse(text);
  if (cJSON_IsObject(v)) return v;
  cJSON_Delete(v);
  const char *a = strchr(text, '{'), *b = strrchr(text, '}');
  if (!a || !b || b < a) return NULL;
  v = cJSON_ParseWithLength(a, (size_t)(b - a + 1));
  if (cJSON_IsObject(v)) return v;
  cJSON_Delete(v);
  return NULL;
}

static bool parse_number(const char *s, double *out) {
  char *end;
  while (*s == ' ') s++;
  double d = strtod(s, &end);
  while (*end == ' ') end++;
  if (end == s || *end || !isfinite(d)) return false;
  *out = d;
  return true;
}

static pier_slice trimmed(const char *s) {
  pier_slice t = pier_slice_from(s);
  while (t.len && (t.ptr[0] == ' ' || t.ptr[0] == '\n' || t.ptr[0] == '\t')) t.ptr++, t.len--;
  while (t.len && (t.ptr[t.len - 1] == ' ' || t.ptr[t.len - 1] == '\n' || t.ptr[t.len - 1] == '\t' ||
                   t.ptr[t.len - 1] == '.'))
    t.len--;
  return t;
}

/* The score of a parsed answer, checked against the judge type; NULL with why set. */
static cJSON *check_score(const judge *j, const cJSON *ans, char *why, size_t cap) {
  static const char *const keys[] = {"score", "judgment", "label", "category", "answer", NULL};
  const cJSON *sc = pier_act_first(ans, keys, NULL);
  if (!sc) {
    snprintf(why, cap, "the JSON object has no \"score\"");
    return NULL;
  }
  char text[128];
  if (cJSON_IsString(sc)) snprintf(text, sizeof text, "%s", sc->valuestring);
  else if (cJSON_IsNumber(sc)) snprintf(text, sizeof text, "%.17g", sc->valuedouble);
  else if (cJSON_IsBool(sc)) snprintf(text, sizeof text, "%s", cJSON_IsTrue(sc) ? "true" : "false");
  else {
    snprintf(why, cap, "\"score\" is %s", pier_json_type_name(sc));
    return NULL;
  }
  if (j->type == SCALE) {
    double d;
    if (!parse_number(text, &d)) {
      snprintf(why, cap, "\"score\" \"%.60s\" is not a number", text);
      return NULL;
    }
    if (d < j->lo || d > j->hi) {
      snprintf(why, cap, "\"score\" %g is outside %g..%g", d, j->lo, j->hi);
      return NULL;
    }
    return cJSON_CreateNumber(d);
  }
  pier_slice t = trimmed(text);
  if (j->type == BINARY) {
    if (pier_slice_ieq_cstr(t, "yes") || pier_slice_ieq_cstr(t, "true")) return cJSON_CreateString("yes");
    if (pier_slice_ieq_cstr(t, "no") || pier_slice_ieq_cstr(t, "false")) return cJSON_CreateString("no");
    snprintf(why, cap, "\"score\" \"%.60s\" is neither \"yes\" nor \"no\"", text);
    return NULL;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, j->categories) {
    if (pier_slice_ieq_cstr(t, c->valuestring)) return cJSON_CreateString(c->valuestring);
  }
  snprintf(why, cap, "\"score\" \"%.60s\" is not one of the categories", text);
  return NULL;
}

/* ---- the calls -------------------------------------------------------------------------- */

static void on_answer(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion);

static cJSON *message(const char *role, cJSON *content) {
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "role", role);
  cJSON_AddItemToObject(m, "content", content);
  return m;
}

static cJSON *user_content(const jitem *it, const char *instruction) {
  pier_buf b;
  pier_buf_init(&b, 0);
  int rc = it->image_url ? pier_buf_appendf(&b, "Instruction:\n%s\n\nThe item to judge is the attached image.", instruction)
                         : pier_buf_appendf(&b, "Instruction:\n%s\n\nItem to judge:\n%s", instruction, it->text);
  cJSON *text = cJSON_CreateString(rc ? "" : b.ptr);
  pier_buf_dispose(&b);
  if (!it->image_url) return text;
  cJSON *parts = cJSON_CreateArray(), *t = cJSON_CreateObject(), *img = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "type", "text");
  cJSON_AddItemToObject(t, "text", text);
  cJSON_AddItemToArray(parts, t);
  cJSON_AddStringToObject(img, "type", "image_url");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(img, "image_url"), "url", it->image_url);
  cJSON_AddItemToArray(parts, img);
  return parts;
}

/* The model call for item i: the question, and after an invalid first answer,
 * that answer and a correction. */
static int ask(pier_step *s, judge *j, int i) {
  const cJSON *in = pier_step_inputs(s);
  jitem *it = &j->items[i];
  static const char *const knobs[] = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "seed",
                                      "reasoning_effort", NULL};
  cJSON *req = cJSON_CreateObject(), *msgs;
  cJSON_AddStringToObject(req, "model", pier_json_str(in, "model"));
  msgs = cJSON_AddArrayToObject(req, "messages");
  cJSON_AddItemToArray(msgs, message("system", cJSON_CreateString(j->system)));
  cJSON_AddItemToArray(msgs, message("user", user_content(it, pier_json_str(in, "instruction"))));
  if (it->answer) {
    char fix[1200];
    snprintf(fix, sizeof fix, "Your answer was not valid: %s. Reply again with only the JSON object, where \"score\" "
             "is %s.", it->why, j->spec);
    cJSON_AddItemToArray(msgs, message("assistant", cJSON_CreateString(it->answer[0] ? it->answer : "(empty)")));
    cJSON_AddItemToArray(msgs, message("user", cJSON_CreateString(fix)));
  }
  cJSON_AddStringToObject(cJSON_AddObjectToObject(req, "response_format"), "type", "json_object");
  for (int k = 0; knobs[k]; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, knobs[k]);
    if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(req, knobs[k], cJSON_Duplicate(v, 1));
  }
  it->attempts++;
  return pier_step_chat(s, req, on_answer, (void *)(intptr_t)i);
}

static void finish(pier_step *s, judge *j);

/* Item i is over: result taken (NULL on failure with error set). */
static void record(judge *j, int i, cJSON *score, const char *explanation, const char *raw, const char *error) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddNumberToObject(r, "item_index", i);
  cJSON_AddItemToObject(r, "score", score ? score : cJSON_CreateNull());
  if (explanation) cJSON_AddStringToObject(r, "explanation", explanation);
  else cJSON_AddNullToObject(r, "explanation");
  if (raw) cJSON_AddStringToObject(r, "raw_result", raw);
  else cJSON_AddNullToObject(r, "raw_result");
  if (error) {
    cJSON_AddStringToObject(r, "error", error);
    j->failed++;
    if (j->first_failed < 0) {
      j->first_failed = i;
      snprintf(j->first_error, sizeof j->first_error, "%s", error);
    }
  } else {
    j->judged++;
  }
  j->results[i] = r;
}

static void ended(pier_step *s, judge *j, int i, cJSON *score, const char *explanation, const char *raw,
                  const char *error) {
  record(j, i, score, explanation, raw, error);
  pier_act_fan_ended(&j->fan);
  if (pier_act_fan_next(&j->fan, s)) finish(s, j);
}

static void on_answer(pier_step *s, void *arg, const pier_chat_result *res, const cJSON *completion) {
  judge *j = pier_step_state(s);
  int i = (int)(intptr_t)arg;
  jitem *it = &j->items[i];
  if (!completion) {
    ended(s, j, i, NULL, NULL, NULL, res->error.message[0] ? res->error.message : "the model call failed");
    return;
  }
  const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0);
  const char *raw = pier_json_str(cJSON_GetObjectItemCaseSensitive(choice, "message"), "content");
  if (!raw) raw = "";
  char why[300];
  cJSON *ans = parse_answer(raw), *score = NULL;
  if (!ans) snprintf(why, sizeof why, "it is not a JSON object");
  else score = check_score(j, ans, why, sizeof why);
  if (score) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ans, "explanation");
    char *printed = e && !cJSON_IsString(e) && !cJSON_IsNull(e) ? cJSON_PrintUnformatted(e) : NULL;
    const char *expl = cJSON_IsString(e) ? e->valuestring : printed ? printed : (j->explain ? "" : NULL);
    ended(s, j, i, score, expl, raw, NULL);
    cJSON_free(printed);
    cJSON_Delete(ans);
    return;
  }
  cJSON_Delete(ans);
  if (it->attempts < 2) {
    free(it->answer);
    it->answer = strdup(raw);
    snprintf(it->why, sizeof it->why, "%s", why);
    if (it->answer && ask(s, j, i) == 0) return;
    snprintf(why, sizeof why, "could not start the model call");
  }
  char err[500];
  snprintf(err, sizeof err, "the judge's answer did not fit after %d attempts: %s", it->attempts, why);
  ended(s, j, i, NULL, NULL, raw, err);
}

static void on_image(pier_step *s, void *arg, int rc, pier_slice bytes, const char *content_type) {
  judge *j = pier_step_state(s);
  int i = (int)(intptr_t)arg;
  jitem *it = &j->items[i];
  char err[700], why[300];
  if (rc) {
    pier_act_read_error(s, rc, "image item", it->image, err, sizeof err);
    ended(s, j, i, NULL, NULL, NULL, err);
    return;
  }
  if (!(it->image_url = pier_act_image_data_url(bytes, content_type, why, sizeof why))) {
    snprintf(err, sizeof err, "image item \"%.300s\" %s", it->image, why);
    ended(s, j, i, NULL, NULL, NULL, err);
    return;
  }
  if (ask(s, j, i) != 0) ended(s, j, i, NULL, NULL, NULL, "could not start the model call");
}

static int launch(pier_step *s, int i) {
  judge *j = pier_step_state(s);
  jitem *it = &j->items[i];
  char err[700];
  int rc = it->image ? pier_step_read_file(s, it->image, PIER_ACT_IMAGE_BYTES_MAX, on_image, (void *)(intptr_t)i)
                     : ask(s, j, i);
  if (rc) {
    if (it->image) pier_act_read_error(s, rc, "image item", it->image, err, sizeof err);
    else snprintf(err, sizeof err, "could not start the model call");
    record(j, i, NULL, NULL, NULL, err);
  }
  return rc;
}

static void finish(pier_step *s, judge *j) {
  cJSON *out = pier_step_outputs(s), *results = cJSON_AddArrayToObject(out, "results");
  double sum = 0;
  int n = j->fan.n;
  for (int i = 0; i < n; i++) {
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j->results[i], "score");
    if (cJSON_IsNumber(sc)) sum += sc->valuedouble;
    cJSON_AddItemToArray(results, j->results[i]);
    j->results[i] = NULL;
  }
  cJSON_AddStringToObject(out, "judge_type", type_names[j->type]);
  if (j->type == SCALE) {
    if (j->judged) cJSON_AddNumberToObject(out, "average_score", sum / j->judged);
    else cJSON_AddNullToObject(out, "average_score");
  }
  if (n == 1) {
    const cJSON *r = cJSON_GetArrayItem(results, 0);
    cJSON_AddItemToObject(out, "score", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "score"), 1));
    cJSON_AddItemToObject(out, "explanation", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "explanation"), 1));
    if (j->type == BINARY) cJSON_AddItemToObject(out, "judgment", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r, "score"), 1));
  }
  cJSON_AddNumberToObject(out, "judged", j->judged);
  cJSON_AddNumberToObject(out, "failed", j->failed);
  char msg[900];
  bool all_failed = j->judged == 0;
  if (all_failed)
  {
    if (n == 1) snprintf(msg, sizeof msg, "the item could not be judged: %s", j->first_error);
    else snprintf(msg, sizeof msg, "no item could be judged; items[%d]: %s", j->first_failed, j->first_error);
  }
  pier_step_set_state(s, NULL);
  judge_free(j);
  if (all_failed) pier_step_fail(s, "%s", msg);
  else pier_step_done(s);
}

/* ---- configuration ------------------------------------------------------------------------ */

static int read_type(const cJSON *in, judge *j, char *err, size_t errlen) {
  const char *t = pier_act_str(in, "judge_type");
  const cJSON *sr = cJSON_GetObjectItemCaseSensitive(in, "score_range");
  bool has_cats = cJSON_GetObjectItemCaseSensitive(in, "categories") || cJSON_IsArray(sr);
  if (!t) j->type = has_cats ? CATEGORICAL : SCALE;
  else if (!strcasecmp(t, "scale") || !strcasecmp(t, "score") || !strcasecmp(t, "numeric")) j->type = SCALE;
  else if (!strcasecmp(t, "categorical") || !strcasecmp(t, "category") || !strcasecmp(t, "categories")) j->type = CATEGORICAL;
  else if (!strcasecmp(t, "binary") || !strcasecmp(t, "boolean") || !strcasecmp(t, "yes_no")) j->type = BINARY;
  else {
    snprintf(err, errlen, "judge_type must be \"scale\", \"categorical\" or \"binary\" (got \"%.60s\")", t);
    return PIER_EINVAL;
  }
  return 0;
}

static int read_range(const cJSON *in, judge *j, char *err, size_t errlen) {
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(in, "scale_range");
  const char *key = "scale_range";
  if (!r || cJSON_IsNull(r)) {
    const cJSON *sr = cJSON_GetObjectItemCaseSensitive(in, "score_range");
    if (cJSON_IsObject(sr)) r = sr, key = "score_range";
  }
  j->lo = 1, j->hi = 5;
  if (!r || cJSON_IsNull(r)) return 0;
  const cJSON *a = cJSON_IsArray(r) ? cJSON_GetArrayItem(r, 0) : cJSON_GetObjectItemCaseSensitive(r, "min");
  const cJSON *b = cJSON_IsArray(r) ? cJSON_GetArrayItem(r, 1) : cJSON_GetObjectItemCaseSensitive(r, "max");
  if ((cJSON_IsArray(r) && cJSON_GetArraySize(r) != 2) || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
      a->valuedouble >= b->valuedouble) {
    snprintf(err, errlen, "%s must be [min, max] (or {\"min\": .., \"max\": ..}) with min < max, e.g. [1, 5]", key);
    return PIER_EINVAL;
  }
  j->lo = a->valuedouble, j->hi = b->valuedouble;
  return 0;
}

static int read_categories(const cJSON *in, judge *j, char *err, size_t errlen) {
  const char *key = "categories";
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(in, key);
  if (!c || cJSON_IsNull(c)) c = cJSON_GetObjectItemCaseSensitive(in, key = "score_range");
  int n = cJSON_GetArraySize(c);
  if (!cJSON_IsArray(c) || n < 2 || n > CATEGORIES_MAX) {
    snprintf(err, errlen, "categorical judging needs categories: an array of 2 to %d labels, e.g. [\"good\", "
             "\"bad\"] (got %s)", CATEGORIES_MAX, cJSON_IsArray(c) ? "too few or too many" : pier_json_type_name(c));
    return PIER_EINVAL;
  }
  j->categories = cJSON_CreateArray();
  int i = 0;
  for (const cJSON *e = c->child; e; e = e->next, i++) {
    char num[64];
    if (cJSON_IsNumber(e)) snprintf(num, sizeof num, "%g", e->valuedouble);
    if (!(cJSON_IsString(e) && e->valuestring[0]) && !cJSON_IsNumber(e)) {
      snprintf(err, errlen, "%s[%d] must be a non-empty string (got %s)", key, i, pier_json_type_name(e));
      return PIER_EINVAL;
    }
    cJSON_AddItemToArray(j->categories, cJSON_CreateString(cJSON_IsString(e) ? e->valuestring : num));
  }
  return 0;
}

static int build_prompt(judge *j) {
  size_t len = 0;
  if (j->type == SCALE) {
    snprintf(j->spec, sizeof j->spec, "a number from %g to %g", j->lo, j->hi);
  } else if (j->type == BINARY) {
    snprintf(j->spec, sizeof j->spec, "\"yes\" or \"no\"");
  } else {
    len = (size_t)snprintf(j->spec, sizeof j->spec, "exactly one of");
    const cJSON *c;
    cJSON_ArrayForEach(c, j->categories) {
      if (len >= sizeof j->spec) break;
      len += (size_t)snprintf(j->spec + len, sizeof j->spec - len, "%s \"%s\"", c == j->categories->child ? "" : ",",
                              c->valuestring);
    }
  }
  pier_buf b;
  pier_buf_init(&b, 0);
  int rc = pier_buf_appendf(&b, "You are a strict, impartial judge. Evaluate the item against the instruction. "
                                "Reply with one JSON object and nothing else: {\"score\": <%s>%s}.",
                            j->spec, j->explain ? ", \"explanation\": \"<one or two sentences>\"" : "");
  j->system = rc ? NULL : pier_buf_detach(&b, NULL);
  pier_buf_dispose(&b);
  return j->system ? 0 : PIER_ENOMEM;
}

/* items (or item): strings verbatim, other values as compact JSON; a string that
 * is a storage path of an image becomes a vision item. */
static int read_items(pier_step *s, const cJSON *in, judge *j, char *err, size_t errlen) {
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(in, "items"), *one = NULL;
  if (!items || cJSON_IsNull(items)) {
    one = cJSON_GetObjectItemCaseSensitive(in, "item");
    if (!one || cJSON_IsNull(one)) {
      snprintf(err, errlen, "item or items is required: the text(s) to judge, e.g. item_path: \"chat.outputs.text\"%s",
               cJSON_GetObjectItemCaseSensitive(in, "content") ? " (content is not read; rename it to item)" : "");
      return PIER_EINVAL;
    }
  } else if (!cJSON_IsArray(items) || cJSON_GetArraySize(items) == 0 || cJSON_GetArraySize(items) > ITEMS_MAX) {
    snprintf(err, errlen, "items must be an array of 1 to %d values to judge (got %s)", ITEMS_MAX,
             cJSON_IsArray(items) ? "an array of the wrong size" : pier_json_type_name(items));
    return PIER_EINVAL;
  }
  int n = one ? 1 : cJSON_GetArraySize(items);
  j->fan.n = n;
  j->items = calloc((size_t)n, sizeof *j->items);
  j->results = calloc((size_t)n, sizeof *j->results);
  if (!j->items || !j->results) return PIER_ENOMEM;
  const char *col = pier_step_collection(s);
  size_t cl = strlen(col);
  int i = 0;
  for (const cJSON *e = one ? one : items->child; e && i < n; e = e->next, i++) {
    jitem *it = &j->items[i];
    it->text = cJSON_IsString(e) ? strdup(e->valuestring) : cJSON_PrintUnformatted(e);
    if (!it->text) return PIER_ENOMEM;
    if (cJSON_IsString(e) && !strncmp(e->valuestring, col, cl) && e->valuestring[cl] == '/' &&
        !strpbrk(e->valuestring, " \t\n") && pier_act_image_name(e->valuestring))
      it->image = e->valuestring;
  }
  return 0;
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  char err[600];
  judge *j = calloc(1, sizeof *j);
  if (!j) {
    pier_step_fail(s, "out of memory");
    return;
  }
  j->first_failed = -1;
  j->fan.launch = launch;
  int rc = 0;
  if (!pier_act_str(in, "instruction"))
    rc = PIER_EINVAL, snprintf(err, sizeof err, "instruction is required: what to judge the item on%s",
                               cJSON_GetObjectItemCaseSensitive(in, "criteria") ? " (criteria is not read; rename it to "
                                                                                  "instruction)" : "");
  else if (!pier_act_str(in, "model"))
    rc = PIER_EINVAL, snprintf(err, sizeof err, "model is required (or model_path pointing at one)");
  if (!rc) rc = read_items(s, in, j, err, sizeof err);
  if (!rc) rc = read_type(in, j, err, sizeof err);
  if (!rc) rc = j->type == SCALE ? read_range(in, j, err, sizeof err)
                : j->type == CATEGORICAL ? read_categories(in, j, err, sizeof err) : 0;
  if (!rc) {
    static const char *const ek[] = {"with_explanation", "explanation_required", NULL};
    const char *key;
    pier_act_first(in, ek, &key);
    rc = pier_act_bool(in, key, true, &j->explain, err, sizeof err);
  }
  if (!rc) rc = pier_act_int(in, "max_concurrency", 5, 1, 1000000, CONCURRENCY_MAX, &j->fan.max, err, sizeof err);
  if (!rc && (rc = build_prompt(j)) != 0) snprintf(err, sizeof err, "out of memory");
  if (rc == PIER_ENOMEM) snprintf(err, sizeof err, "out of memory");
  if (rc) {
    judge_free(j);
    pier_step_fail(s, "%s", err);
    return;
  }
  pier_step_set_state(s, j);
  if (pier_act_fan_next(&j->fan, s)) finish(s, j);
}

const pier_activity pier_act_simple_judge = {
    .name = "simple_judge",
    .category = "ai",
    .description = "An LLM judge: score items against an instruction on a scale, as categories or yes/no: "
                   "outputs.results[], outputs.average_score, outputs.judgment.",
    .params_json =
        "{\"item\":{\"type\":\"string\",\"description\":\"the text to judge, or a storage path of an image (item_path)\"},"
        "\"items\":{\"type\":\"array\",\"description\":\"several items to judge\"},"
        "\"instruction\":{\"type\":\"string\",\"required\":true,\"description\":\"what to judge the item on\"},"
        "\"model\":{\"type\":\"string\",\"required\":true},\"model_provider\":{\"type\":\"string\"},"
        "\"judge_type\":{\"type\":\"string\",\"description\":\"scale (default), categorical or binary\"},"
        "\"scale_range\":{\"type\":\"array\",\"description\":\"[min, max], default [1, 5]\"},"
        "\"categories\":{\"type\":\"array\",\"description\":\"labels for categorical (also score_range as a list)\"},"
        "\"with_explanation\":{\"type\":\"boolean\",\"description\":\"ask for an explanation (default true; also "
        "explanation_required)\"},"
        "\"temperature\":{\"type\":\"number\"},\"max_tokens\":{\"type\":\"integer\"},"
        "\"max_concurrency\":{\"type\":\"integer\",\"description\":\"items judged at once (default 5, at most 50)\"},"
        "\"fallbacks\":{\"type\":\"array\"}}",
    .start = start,
    .cancel = cancel,
};
