/* litellm_embeddings.c — embeddings for one text or a list (`input`, alias
 * `texts`) from any provider pier routes to: outputs.embeddings has one vector
 * per input in input order (the provider's `index` decides, not its order).
 * pier_step_embed has no fallbacks of its own, so `fallbacks` are tried here,
 * after any failure of the model before (each attempt is recorded). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "engine/activities/common.h"
#include "engine/activity.h"
#include "llm/route.h"

#define INPUTS_MAX 2048 /* OpenAI's per-request limit; Bedrock calls are split by the runner */

static const char *const input_keys[] = {"input", "texts", NULL};

/* OpenAI's own API has no input_type (a Cohere/Gemini notion) and rejects unknown keys. */
static bool openai_api(pier_step *s, const char *model) {
  pier_env_view view = {.collection = pier_step_env(s), .server = pier_step_server_env(s)};
  pier_route r;
  memset(&r, 0, sizeof r);
  char msg[256];
  bool oa = pier_route_resolve(model, pier_json_str(pier_step_inputs(s), "model_provider"), &view, &r, msg,
                               sizeof msg) == 0 && r.kind == PIER_PROV_OPENAI;
  pier_route_dispose(&r);
  return oa;
}

typedef struct embed_state {
  int n;        /* texts */
  int dims;     /* 0 = the model's default */
  int fallback; /* index into inputs.fallbacks of the next model to try */
  char model[512];
} embed_state;

static void on_result(pier_step *s, void *arg, bool ok, const char *error, const cJSON *result);

/* One call with st->model; when it cannot even start, the step fails. */
static void call(pier_step *s, embed_state *st) {
  const cJSON *in = pier_step_inputs(s);
  const cJSON *input = pier_act_first(in, input_keys, NULL), *it = cJSON_GetObjectItemCaseSensitive(in, "input_type");
  cJSON *req = cJSON_CreateObject();
  cJSON_AddStringToObject(req, "model", st->model);
  cJSON_AddItemToObject(req, "input", cJSON_Duplicate(input, 1));
  if (st->dims > 0) cJSON_AddNumberToObject(req, "dimensions", st->dims);
  if (cJSON_IsString(it) && it->valuestring[0] && !openai_api(s, st->model))
    cJSON_AddStringToObject(req, "input_type", it->valuestring);
  if (pier_step_embed(s, req, on_result, st) != 0) {
    pier_step_set_state(s, NULL);
    free(st);
    pier_step_fail(s, "could not start the embeddings call");
  }
}

static void on_result(pier_step *s, void *arg, bool ok, const char *error, const cJSON *result) {
  embed_state *st = arg;
  int n = st->n;
  pier_step_add_attempt(s, st->model, ok, ok ? NULL : error);
  if (!ok) {
    const cJSON *next = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pier_step_inputs(s), "fallbacks"), st->fallback);
    if (cJSON_IsString(next) && next->valuestring[0]) {
      st->fallback++;
      snprintf(st->model, sizeof st->model, "%s", next->valuestring);
      call(s, st);
      return;
    }
    pier_step_set_state(s, NULL);
    free(st);
    pier_step_fail(s, "%s", error ? error : "the embeddings call failed");
    return;
  }
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(result, "data");
  const cJSON **vec = calloc((size_t)n, sizeof *vec);
  pier_step_set_state(s, NULL);
  if (!vec) {
    free(st);
    pier_step_fail(s, "out of memory");
    return;
  }
  int got = 0, dims = -1;
  const cJSON *d;
  cJSON_ArrayForEach(d, data) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(d, "embedding");
    double idx = pier_json_num(d, "index", got);
    int i = (int)idx;
    if (!cJSON_IsArray(e) || idx != (double)i || i < 0 || i >= n || vec[i]) continue;
    vec[i] = e;
    got++;
    if (dims < 0) dims = cJSON_GetArraySize(e);
  }
  if (got != n) {
    free(vec);
    free(st);
    pier_step_fail(s, "the provider returned %d usable embeddings for %d inputs", got, n);
    return;
  }
  cJSON *out = pier_step_outputs(s), *arr = cJSON_AddArrayToObject(out, "embeddings");
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_Duplicate(vec[i], 1));
  const cJSON *in = pier_step_inputs(s);
  if (cJSON_IsString(pier_act_first(in, input_keys, NULL))) cJSON_AddItemToObject(out, "embedding", cJSON_Duplicate(vec[0], 1));
  free(vec);
  const char *model = pier_json_str(result, "model");
  cJSON_AddStringToObject(out, "model", model ? model : st->model);
  free(st);
  cJSON_AddNumberToObject(out, "dimensions", dims);
  cJSON_AddNumberToObject(out, "count", n);
  const cJSON *usage = cJSON_GetObjectItemCaseSensitive(result, "usage");
  cJSON_AddItemToObject(out, "usage", usage ? cJSON_Duplicate(usage, 1) : cJSON_CreateObject());
  pier_step_done(s);
}

/* input as a string or an array of non-empty strings; n = how many texts. */
static int check_input(const cJSON *v, const char *key, int *n, char *err, size_t errlen) {
  if (cJSON_IsString(v)) {
    *n = 1;
    if (v->valuestring[0]) return 0;
    snprintf(err, errlen, "%s is an empty string; give the text to embed", key);
    return PIER_EINVAL;
  }
  if (!cJSON_IsArray(v)) {
    snprintf(err, errlen, "%s must be a string or an array of strings (got %s); give input or input_path", key,
             pier_json_type_name(v));
    return PIER_EINVAL;
  }
  int i = 0;
  const cJSON *t;
  cJSON_ArrayForEach(t, v) {
    if (!cJSON_IsString(t) || !t->valuestring[0]) {
      snprintf(err, errlen, "%s[%d] must be a non-empty string (got %s)", key, i,
               cJSON_IsString(t) ? "an empty string" : pier_json_type_name(t));
      return PIER_EINVAL;
    }
    i++;
  }
  if (i == 0 || i > INPUTS_MAX) {
    snprintf(err, errlen, "%s must hold 1 to %d texts (got %d)", key, INPUTS_MAX, i);
    return PIER_EINVAL;
  }
  *n = i;
  return 0;
}

static void start(pier_step *s) {
  const cJSON *in = pier_step_inputs(s);
  const char *key, *model = pier_act_str(in, "model");
  const cJSON *input = pier_act_first(in, input_keys, &key);
  char err[512];
  int n = 0, dims = 0;
  if (!model) {
    pier_step_fail(s, "model is required (or model_path pointing at one), e.g. text-embedding-3-small or "
                      "amazon.titan-embed-text-v2:0");
    return;
  }
  if (check_input(input, key, &n, err, sizeof err) ||
      pier_act_int(in, "dimensions", 0, 1, 65536, 0, &dims, err, sizeof err)) {
    pier_step_fail(s, "%s", err);
    return;
  }
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(in, "input_type");
  if (it && !cJSON_IsNull(it) && !cJSON_IsString(it)) {
    pier_step_fail(s, "input_type must be a string such as search_document or search_query (got %s)",
                   pier_json_type_name(it));
    return;
  }
  embed_state *st = calloc(1, sizeof *st);
  if (!st) {
    pier_step_fail(s, "out of memory");
    return;
  }
  st->n = n;
  st->dims = dims;
  snprintf(st->model, sizeof st->model, "%s", model);
  pier_step_set_state(s, st);
  call(s, st);
}

static void cancel(pier_step *s) {
  free(pier_step_state(s));
  pier_step_set_state(s, NULL);
}

const pier_activity pier_act_litellm_embeddings = {
    .name = "litellm_embeddings",
    .category = "ai",
    .description = "Embeddings of one text or a list with any embedding model pier routes to: outputs.embeddings "
                   "(one vector per input, in order).",
    .params_json = "{\"model\":{\"type\":\"string\",\"required\":true,\"description\":\"e.g. text-embedding-3-small, "
                   "amazon.titan-embed-text-v2:0, cohere.embed-english-v3\"},"
                   "\"model_provider\":{\"type\":\"string\"},"
                   "\"input\":{\"type\":[\"string\",\"array\"],\"required\":true,\"description\":\"a text or a list "
                   "of texts (alias: texts)\"},"
                   "\"dimensions\":{\"type\":\"integer\"},\"fallbacks\":{\"type\":\"array\",\"description\":\"models to try "
                   "if this one fails\"},"
                   "\"input_type\":{\"type\":\"string\",\"description\":\"search_document, search_query, ... "
                   "(Cohere, Gemini; not sent to OpenAI-API providers)\"}}",
    .start = start,
    .cancel = cancel,
};
