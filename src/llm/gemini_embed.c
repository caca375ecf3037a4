/* gemini_embed.c — OpenAI /v1/embeddings <-> Gemini batchEmbedContents:
 * planning (100 inputs per call), bodies, reply parsing, the OpenAI list.
 * The answer is assembled call by call in llm/embed_out.c. Usage is estimated
 * (Gemini returns no counts). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/embed_out.h"
#include "llm/gemini_map.h"

#define DIMENSIONS_MAX 65536

struct pier_gemini_embed {
  char *model;            /* owned "models/<id>" for every request entry */
  const char **texts;     /* owned array of borrowed strings (from the request) */
  size_t ntexts;
  int dimensions;         /* 0 = model default */
  bool base64;            /* encoding_format "base64" */
  int64_t tokens;         /* estimate, until the answer holds it */
  const char *task_type;  /* static; NULL = model default */
  pier_embed_out out;     /* the answer, call by call; tokens estimated: ceil(code points / 4) per input */
};

/* Code points of a valid UTF-8 string (continuation bytes not counted). */
static size_t code_points(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int read_inputs(pier_gemini_embed *e, const cJSON *req, char *err, size_t errlen) {
  int rc = pier_embed_read_inputs(req, PIER_GEMINI_EMBED_INPUTS_MAX, "Gemini", &e->texts, &e->ntexts, err, errlen);
  for (size_t k = 0; !rc && k < e->ntexts; k++) e->tokens += (int64_t)((code_points(e->texts[k]) + 3) / 4);
  return rc;
}

/* task_type / input_type: a Gemini TaskType (any case) or a Cohere-style alias. */
static int read_task(pier_gemini_embed *e, const cJSON *req, char *err, size_t errlen) {
  static const char *const map[][2] = {
    {"retrieval_query", "RETRIEVAL_QUERY"},       {"retrieval_document", "RETRIEVAL_DOCUMENT"},
    {"semantic_similarity", "SEMANTIC_SIMILARITY"}, {"classification", "CLASSIFICATION"},
    {"clustering", "CLUSTERING"},                 {"question_answering", "QUESTION_ANSWERING"},
    {"fact_verification", "FACT_VERIFICATION"},   {"code_retrieval_query", "CODE_RETRIEVAL_QUERY"},
    {"search_query", "RETRIEVAL_QUERY"},          {"search_document", "RETRIEVAL_DOCUMENT"}};
  const char *key = "task_type";
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(req, key);
  if (!t || cJSON_IsNull(t)) t = cJSON_GetObjectItemCaseSensitive(req, key = "input_type");
  if (!t || cJSON_IsNull(t)) return 0;
  for (size_t i = 0; cJSON_IsString(t) && i < sizeof map / sizeof map[0]; i++)
    if (pier_slice_ieq_cstr(pier_slice_from(t->valuestring), map[i][0])) {
      e->task_type = map[i][1];
      return 0;
    }
  return pier_embed_errf(err, errlen, PIER_EINVAL,
                         "%s must be a Gemini task type (RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, SEMANTIC_SIMILARITY, "
                         "CLASSIFICATION, CLUSTERING, QUESTION_ANSWERING, FACT_VERIFICATION, CODE_RETRIEVAL_QUERY) or "
                         "search_query / search_document",
                         key);
}

static int read_options(pier_gemini_embed *e, const cJSON *req, char *err, size_t errlen) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(req, "dimensions");
  int rc = pier_embed_read_format(req, &e->base64, err, errlen);
  if (rc) return rc;
  if (d && !cJSON_IsNull(d)) {
    if (!cJSON_IsNumber(d) || !(d->valuedouble >= 1 && d->valuedouble <= DIMENSIONS_MAX) ||
        d->valuedouble != (double)(int)d->valuedouble)
      return pier_embed_errf(err, errlen, PIER_EINVAL, "dimensions must be an integer from 1 to %d", DIMENSIONS_MAX);
    e->dimensions = (int)d->valuedouble;
  }
  return read_task(e, req, err, errlen);
}

int pier_gemini_embed_create(const cJSON *req, const char *model_id, pier_gemini_embed **out, char *err,
                             size_t errlen) {
  *out = NULL;
  const char *id = model_id ? model_id : "";
  if (!strncmp(id, "models/", 7)) id += 7;
  if (!id[0])
    return pier_embed_errf(err, errlen, PIER_EINVAL, "model: name a Gemini embedding model, e.g. gemini-embedding-001");
  pier_gemini_embed *e = calloc(1, sizeof *e);
  if (!e) return PIER_ENOMEM;
  int rc = PIER_ENOMEM;
  size_t mlen = strlen(id) + 8;
  if (!(e->model = malloc(mlen))) goto out;
  snprintf(e->model, mlen, "models/%s", id);
  if ((rc = read_inputs(e, req, err, errlen)) || (rc = read_options(e, req, err, errlen))) goto out;
  size_t ncalls = (e->ntexts + PIER_GEMINI_EMBED_BATCH - 1) / PIER_GEMINI_EMBED_BATCH;
  if ((rc = pier_embed_out_init(&e->out, ncalls, PIER_GEMINI_EMBED_OUT_BYTES_MAX, e->base64))) goto out;
  e->out.tokens = e->tokens;
  *out = e;
  return 0;
out:
  pier_gemini_embed_destroy(e);
  return rc;
}

void pier_gemini_embed_destroy(pier_gemini_embed *e) {
  if (!e) return;
  pier_embed_out_dispose(&e->out);
  free(e->texts);
  free(e->model);
  free(e);
}

size_t pier_gemini_embed_calls(const pier_gemini_embed *e) { return e->out.ncalls; }

static void call_range(const pier_gemini_embed *e, size_t call, size_t *first, size_t *n) {
  *first = call * PIER_GEMINI_EMBED_BATCH;
  *n = e->ntexts - *first < PIER_GEMINI_EMBED_BATCH ? e->ntexts - *first : PIER_GEMINI_EMBED_BATCH;
}

/* {"model":..,"content":{"parts":[{"text":..}]},"taskType"?,"outputDimensionality"?} */
static int append_request(const pier_gemini_embed *e, const char *text, pier_buf *body) {
  int rc = pier_buf_append_cstr(body, "{\"model\":");
  if (!rc) rc = pier_buf_append_json_str(body, pier_slice_from(e->model));
  if (!rc) rc = pier_buf_append_cstr(body, ",\"content\":{\"parts\":[{\"text\":");
  if (!rc) rc = pier_buf_append_json_str(body, pier_slice_from(text));
  if (!rc) rc = pier_buf_append_cstr(body, "}]}");
  if (!rc && e->task_type) rc = pier_buf_appendf(body, ",\"taskType\":\"%s\"", e->task_type);
  if (!rc && e->dimensions) rc = pier_buf_appendf(body, ",\"outputDimensionality\":%d", e->dimensions);
  return rc ? rc : pier_buf_putc(body, '}');
}

int pier_gemini_embed_body(const pier_gemini_embed *e, size_t call, pier_buf *body) {
  size_t first, n, mark = body->len;
  if (call >= e->out.ncalls) return PIER_EINVAL;
  call_range(e, call, &first, &n);
  int rc = pier_buf_append_cstr(body, "{\"requests\":[");
  for (size_t k = 0; !rc && k < n; k++)
    if (!(rc = k ? pier_buf_putc(body, ',') : 0)) rc = append_request(e, e->texts[first + k], body);
  if (!rc) rc = pier_buf_append_cstr(body, "]}");
  if (rc && body->len > mark) body->len = mark, body->ptr[mark] = '\0';
  return rc;
}

static int render_reply(void *ctx, size_t call, const cJSON *j, pier_buf *part, char *err, size_t errlen) {
  pier_gemini_embed *e = ctx;
  size_t first, n, k = 0;
  call_range(e, call, &first, &n);
  const cJSON *embs = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
  int rc = cJSON_IsArray(embs) && (size_t)cJSON_GetArraySize(embs) == n ? 0 : PIER_EPROTO;
  for (const cJSON *x = rc ? NULL : embs->child; !rc && x; x = x->next, k++)
    rc = pier_embed_out_entry(&e->out, part, first + k, cJSON_GetObjectItemCaseSensitive(x, "values"));
  if (rc == PIER_EPROTO)
    return pier_embed_errf(err, errlen, rc,
                           "Gemini batchEmbedContents reply for inputs %zu..%zu does not hold %zu embeddings "
                           "with numeric values", first, first + n - 1, n);
  if (rc) pier_embed_errf(err, errlen, rc, "%s while reading the Gemini embedding reply", pier_strerror(rc));
  return rc;
}

int pier_gemini_embed_add_response(pier_gemini_embed *e, size_t call, pier_slice body, char *err, size_t errlen) {
  return pier_embed_out_add(&e->out, call, body, "Gemini", render_reply, e, err, errlen);
}

int pier_gemini_embed_finish(pier_gemini_embed *e, const char *model, pier_buf *out, char *err, size_t errlen) {
  return pier_embed_out_finish(&e->out, model, out, err, errlen);
}
