/* gemini_embed.c — OpenAI /v1/embeddings <-> Gemini batchEmbedContents:
 * planning (100 inputs per call), bodies, reply parsing, the OpenAI list.
 * Each call's rendered `data` entries are kept apart until finish so replies
 * may arrive in any order; floats are printed with %.9g so a float32 survives
 * the round trip. Usage is estimated (Gemini returns no counts). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/gemini_map.h"

#define DIMENSIONS_MAX 65536

struct pier_gemini_embed {
  char *model;            /* owned "models/<id>" for every request entry */
  const char **texts;     /* owned array of borrowed strings (from the request) */
  size_t ntexts;
  int dimensions;         /* 0 = model default */
  bool base64;            /* encoding_format "base64" */
  const char *task_type;  /* static; NULL = model default */
  size_t ncalls;
  pier_buf *parts;        /* owned, one per call: its rendered data entries */
  bool *answered;         /* owned, one per call */
  int64_t tokens;         /* estimate: ceil(code points / 4) per input */
  size_t out_bytes;       /* sum of parts[].len, held under the cap */
};

static int bad(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(char *err, size_t errlen, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return rc;
}

/* Code points of a valid UTF-8 string (continuation bytes not counted). */
static size_t code_points(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static int read_inputs(pier_gemini_embed *e, const cJSON *req, char *err, size_t errlen) {
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
  if (!cJSON_IsString(in) && !cJSON_IsArray(in))
    return bad(err, errlen, PIER_EINVAL, "input must be a string or an array of strings, got %s",
               pier_json_type_name(in));
  size_t n = cJSON_IsString(in) ? 1 : (size_t)cJSON_GetArraySize(in);
  if (n == 0) return bad(err, errlen, PIER_EINVAL, "input must hold at least one string");
  if (n > PIER_GEMINI_EMBED_INPUTS_MAX)
    return bad(err, errlen, PIER_EINVAL, "input holds %zu strings; at most %d per request", n,
               PIER_GEMINI_EMBED_INPUTS_MAX);
  if (!(e->texts = calloc(n, sizeof *e->texts))) return PIER_ENOMEM;
  const cJSON *s = cJSON_IsString(in) ? in : in->child;
  for (size_t k = 0; k < n; k++, s = s->next) {
    if (!cJSON_IsString(s))
      return bad(err, errlen, PIER_EINVAL,
                 "input[%zu] must be a string (token-id arrays are not supported for Gemini models)", k);
    if (!s->valuestring[0]) return bad(err, errlen, PIER_EINVAL, "input[%zu] is an empty string", k);
    e->texts[k] = s->valuestring;
    e->tokens += (int64_t)((code_points(s->valuestring) + 3) / 4);
  }
  e->ntexts = n;
  return 0;
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
  return bad(err, errlen, PIER_EINVAL,
             "%s must be a Gemini task type (RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, SEMANTIC_SIMILARITY, "
             "CLASSIFICATION, CLUSTERING, QUESTION_ANSWERING, FACT_VERIFICATION, CODE_RETRIEVAL_QUERY) or "
             "search_query / search_document",
             key);
}

static int read_options(pier_gemini_embed *e, const cJSON *req, char *err, size_t errlen) {
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(req, "encoding_format");
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(req, "dimensions");
  if (fmt && !cJSON_IsNull(fmt)) {
    const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
    if (strcmp(f, "float") && strcmp(f, "base64"))
      return bad(err, errlen, PIER_EINVAL, "encoding_format must be \"float\" or \"base64\"");
    e->base64 = strcmp(f, "base64") == 0;
  }
  if (d && !cJSON_IsNull(d)) {
    if (!cJSON_IsNumber(d) || !(d->valuedouble >= 1 && d->valuedouble <= DIMENSIONS_MAX) ||
        d->valuedouble != (double)(int)d->valuedouble)
      return bad(err, errlen, PIER_EINVAL, "dimensions must be an integer from 1 to %d", DIMENSIONS_MAX);
    e->dimensions = (int)d->valuedouble;
  }
  return read_task(e, req, err, errlen);
}

int pier_gemini_embed_create(const cJSON *req, const char *model_id, pier_gemini_embed **out, char *err,
                             size_t errlen) {
  *out = NULL;
  const char *id = model_id ? model_id : "";
  if (!strncmp(id, "models/", 7)) id += 7;
  if (!id[0]) return bad(err, errlen, PIER_EINVAL, "model: name a Gemini embedding model, e.g. gemini-embedding-001");
  pier_gemini_embed *e = calloc(1, sizeof *e);
  if (!e) return PIER_ENOMEM;
  int rc = PIER_ENOMEM;
  size_t mlen = strlen(id) + 8;
  if (!(e->model = malloc(mlen))) goto out;
  snprintf(e->model, mlen, "models/%s", id);
  if ((rc = read_inputs(e, req, err, errlen)) || (rc = read_options(e, req, err, errlen))) goto out;
  e->ncalls = (e->ntexts + PIER_GEMINI_EMBED_BATCH - 1) / PIER_GEMINI_EMBED_BATCH;
  rc = PIER_ENOMEM;
  if (!(e->parts = calloc(e->ncalls, sizeof *e->parts)) || !(e->answered = calloc(e->ncalls, sizeof *e->answered)))
    goto out;
  for (size_t c = 0; c < e->ncalls; c++) pier_buf_init(&e->parts[c], PIER_GEMINI_EMBED_OUT_BYTES_MAX);
  *out = e;
  return 0;
out:
  pier_gemini_embed_destroy(e);
  return rc;
}

void pier_gemini_embed_destroy(pier_gemini_embed *e) {
  if (!e) return;
  for (size_t c = 0; e->parts && c < e->ncalls; c++) pier_buf_dispose(&e->parts[c]);
  free(e->parts);
  free(e->answered);
  free(e->texts);
  free(e->model);
  free(e);
}

size_t pier_gemini_embed_calls(const pier_gemini_embed *e) { return e->ncalls; }

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
  if (call >= e->ncalls) return PIER_EINVAL;
  call_range(e, call, &first, &n);
  int rc = pier_buf_append_cstr(body, "{\"requests\":[");
  for (size_t k = 0; !rc && k < n; k++)
    if (!(rc = k ? pier_buf_putc(body, ',') : 0)) rc = append_request(e, e->texts[first + k], body);
  if (!rc) rc = pier_buf_append_cstr(body, "]}");
  if (rc && body->len > mark) body->len = mark, body->ptr[mark] = '\0';
  return rc;
}

/* The vector as base64 of little-endian float32, the way OpenAI encodes it. */
static int append_base64(pier_buf *out, const cJSON *vec, size_t dims) {
  unsigned char *raw = malloc(dims * 4 + 1);
  size_t b64len = sodium_base64_ENCODED_LEN(dims * 4, sodium_base64_VARIANT_ORIGINAL);
  char *b64 = malloc(b64len);
  int rc = PIER_ENOMEM;
  if (raw && b64) {
    size_t k = 0;
    for (const cJSON *v = vec->child; v; v = v->next, k++) {
      float f = (float)v->valuedouble;
      uint32_t u;
      memcpy(&u, &f, 4);
      for (int byte = 0; byte < 4; byte++) raw[k * 4 + (size_t)byte] = (unsigned char)(u >> (8 * byte));
    }
    sodium_bin2base64(b64, b64len, raw, dims * 4, sodium_base64_VARIANT_ORIGINAL);
    if (!(rc = pier_buf_putc(out, '"')) && !(rc = pier_buf_append_cstr(out, b64))) rc = pier_buf_putc(out, '"');
  }
  free(raw);
  free(b64);
  return rc;
}

/* `{"object":"embedding","index":i,"embedding":...}` (comma-led unless first);
 * values must be a non-empty array of finite numbers. */
static int append_entry(const pier_gemini_embed *e, pier_buf *out, size_t index, const cJSON *values) {
  size_t dims = 0;
  const cJSON *v;
  if (!cJSON_IsArray(values) || !values->child) return PIER_EPROTO;
  cJSON_ArrayForEach(v, values) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return PIER_EPROTO;
    dims++;
  }
  int rc = pier_buf_appendf(out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", out->len ? "," : "",
                            index);
  if (rc) return rc;
  if (e->base64) {
    rc = append_base64(out, values, dims);
  } else {
    rc = pier_buf_putc(out, '[');
    cJSON_ArrayForEach(v, values) {
      char num[40];
      int len = snprintf(num, sizeof num, v == values->child ? "%.9g" : ",%.9g", v->valuedouble);
      if (rc || (rc = pier_buf_append(out, num, (size_t)len))) break;
    }
    if (!rc) rc = pier_buf_putc(out, ']');
  }
  return rc ? rc : pier_buf_putc(out, '}');
}

static int render_reply(pier_gemini_embed *e, size_t call, const cJSON *j, char *err, size_t errlen) {
  size_t first, n, k = 0;
  call_range(e, call, &first, &n);
  const cJSON *embs = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
  int rc = cJSON_IsArray(embs) && (size_t)cJSON_GetArraySize(embs) == n ? 0 : PIER_EPROTO;
  for (const cJSON *x = rc ? NULL : embs->child; !rc && x; x = x->next, k++)
    rc = append_entry(e, &e->parts[call], first + k, cJSON_GetObjectItemCaseSensitive(x, "values"));
  if (rc == PIER_EPROTO)
    return bad(err, errlen, rc, "Gemini batchEmbedContents reply for inputs %zu..%zu does not hold %zu embeddings "
                                "with numeric values", first, first + n - 1, n);
  if (rc) bad(err, errlen, rc, "%s while reading the Gemini embedding reply", pier_strerror(rc));
  return rc;
}

int pier_gemini_embed_add_response(pier_gemini_embed *e, size_t call, pier_slice body, char *err, size_t errlen) {
  char perr[96];
  if (call >= e->ncalls || e->answered[call])
    return bad(err, errlen, PIER_EINVAL, "embedding call %zu: no such call or already answered", call);
  cJSON *j = pier_json_parse(body, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return bad(err, errlen, PIER_EPROTO, "Gemini embedding reply is not a JSON object (%s)", j ? "wrong type" : perr);
  }
  pier_buf *part = &e->parts[call];
  part->max = PIER_GEMINI_EMBED_OUT_BYTES_MAX - e->out_bytes;
  int rc = render_reply(e, call, j, err, errlen);
  if (!rc) {
    e->out_bytes += part->len;
    e->answered[call] = true;
  } else {
    pier_buf_reset(part);
  }
  cJSON_Delete(j);
  return rc;
}

int pier_gemini_embed_finish(pier_gemini_embed *e, const char *model, pier_buf *out, char *err, size_t errlen) {
  size_t mark = out->len;
  for (size_t c = 0; c < e->ncalls; c++)
    if (!e->answered[c]) return bad(err, errlen, PIER_EINVAL, "embedding call %zu has no reply yet", c);
  int rc = pier_buf_append_cstr(out, "{\"object\":\"list\",\"data\":[");
  for (size_t c = 0; !rc && c < e->ncalls; c++) {
    if (c && e->parts[c].len) rc = pier_buf_putc(out, ',');
    if (!rc) rc = pier_buf_append_slice(out, pier_buf_slice(&e->parts[c]));
  }
  if (!rc) rc = pier_buf_append_cstr(out, "],\"model\":");
  if (!rc) rc = pier_buf_append_json_str(out, pier_slice_from(model ? model : ""));
  if (!rc)
    rc = pier_buf_appendf(out, ",\"usage\":{\"prompt_tokens\":%" PRId64 ",\"total_tokens\":%" PRId64 "}}", e->tokens,
                          e->tokens);
  if (rc) {
    if (out->len > mark) out->len = mark, out->ptr[mark] = '\0';
    bad(err, errlen, rc, "%s while writing the embeddings reply", pier_strerror(rc));
  }
  return rc;
}
