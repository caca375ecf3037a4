/* bedrock_embed.c — embeddings request planning, per-family InvokeModel bodies
 * and reply parsing. The OpenAI answer is assembled call by call in
 * llm/embed_out.c. */
#include "llm/bedrock_embed.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "llm/embed_out.h"

struct pier_bedrock_embed {
  pier_bedrock_embed_family family;
  const char **texts; /* owned array of borrowed strings (from the request) */
  size_t ntexts;
  int dimensions;         /* 0 = model default */
  bool base64;            /* encoding_format "base64" */
  const char *input_type; /* Cohere; static or borrowed */
  pier_embed_out out;     /* the answer, call by call */
  pier_slice input_tokens; /* of the reply being rendered (Cohere's header) */
};

int pier_bedrock_embed_family_of(const char *model_id, pier_bedrock_embed_family *out) {
  static const char *const geos[] = {"us.", "eu.", "apac.", "jp.", "au.", "us-gov.", "global.", "ca."};
  static const struct { const char *prefix; pier_bedrock_embed_family f; } models[] = {
    {"amazon.titan-embed-text-v2", PIER_BEDROCK_EMBED_TITAN_V2},
    {"amazon.titan-embed-text-v1", PIER_BEDROCK_EMBED_TITAN_V1},
    {"amazon.titan-embed-g1-text-02", PIER_BEDROCK_EMBED_TITAN_V1},
    {"cohere.embed-english-v3", PIER_BEDROCK_EMBED_COHERE_V3},
    {"cohere.embed-multilingual-v3", PIER_BEDROCK_EMBED_COHERE_V3},
    {"cohere.embed-v4", PIER_BEDROCK_EMBED_COHERE_V4}};
  if (!model_id) return PIER_ENOTFOUND;
  const char *slash = strrchr(model_id, '/');
  pier_slice id = pier_slice_from(slash ? slash + 1 : model_id);
  for (size_t i = 0; i < sizeof geos / sizeof geos[0]; i++)
    if (pier_slice_starts_with(id, geos[i])) {
      id.ptr += strlen(geos[i]);
      id.len -= strlen(geos[i]);
      break;
    }
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
    if (pier_slice_starts_with(id, models[i].prefix)) {
      *out = models[i].f;
      return 0;
    }
  return PIER_ENOTFOUND;
}

/* dimensions against what the family accepts. */
static int read_dimensions(pier_bedrock_embed *e, const cJSON *req, char *err, size_t errlen) {
  static const int titan2[] = {256, 512, 1024}, titan1[] = {1536}, cohere3[] = {1024},
                   cohere4[] = {256, 512, 1024, 1536};
  static const struct { const int *ok; size_t n; const char *list; } by_family[] = {
    [PIER_BEDROCK_EMBED_TITAN_V1] = {titan1, 1, "1536"},
    [PIER_BEDROCK_EMBED_TITAN_V2] = {titan2, 3, "256, 512 or 1024"},
    [PIER_BEDROCK_EMBED_COHERE_V3] = {cohere3, 1, "1024"},
    [PIER_BEDROCK_EMBED_COHERE_V4] = {cohere4, 4, "256, 512, 1024 or 1536"}};
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(req, "dimensions");
  if (!d || cJSON_IsNull(d)) return 0;
  for (size_t i = 0; cJSON_IsNumber(d) && i < by_family[e->family].n; i++)
    if (d->valuedouble == by_family[e->family].ok[i]) {
      e->dimensions = by_family[e->family].ok[i];
      return 0;
    }
  return pier_embed_errf(err, errlen, PIER_EINVAL, "dimensions must be %s for this model", by_family[e->family].list);
}

static int read_options(pier_bedrock_embed *e, const cJSON *req, char *err, size_t errlen) {
  static const char *const types[] = {"search_document", "search_query", "classification", "clustering"};
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(req, "input_type");
  int rc = pier_embed_read_format(req, &e->base64, err, errlen);
  if (rc) return rc;
  e->input_type = types[0];
  if (!it || cJSON_IsNull(it)) return 0;
  for (size_t i = 0; cJSON_IsString(it) && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(it->valuestring, types[i]) == 0) {
      e->input_type = types[i];
      return 0;
    }
  return pier_embed_errf(err, errlen, PIER_EINVAL,
                         "input_type must be search_document, search_query, classification or clustering");
}

static bool is_titan(const pier_bedrock_embed *e) {
  return e->family == PIER_BEDROCK_EMBED_TITAN_V1 || e->family == PIER_BEDROCK_EMBED_TITAN_V2;
}

int pier_bedrock_embed_create(const cJSON *req, const char *model_id, pier_bedrock_embed **out, char *err,
                              size_t errlen) {
  *out = NULL;
  pier_bedrock_embed *e = calloc(1, sizeof *e);
  if (!e) return PIER_ENOMEM;
  int rc = pier_bedrock_embed_family_of(model_id, &e->family);
  if (rc) {
    rc = pier_embed_errf(err, errlen, PIER_ENOTFOUND,
                         "model \"%s\" is not a Bedrock embedding model pier supports; use "
                         "amazon.titan-embed-text-v2:0, amazon.titan-embed-text-v1, cohere.embed-english-v3, "
                         "cohere.embed-multilingual-v3 or cohere.embed-v4:0",
                         model_id ? model_id : "");
    goto out;
  }
  if ((rc = pier_embed_read_inputs(req, PIER_BEDROCK_EMBED_INPUTS_MAX, "Bedrock", &e->texts, &e->ntexts, err,
                                   errlen)) ||
      (rc = read_dimensions(e, req, err, errlen)) || (rc = read_options(e, req, err, errlen)))
    goto out;
  size_t batch = is_titan(e) ? 1 : PIER_BEDROCK_EMBED_COHERE_BATCH;
  if ((rc = pier_embed_out_init(&e->out, (e->ntexts + batch - 1) / batch, PIER_BEDROCK_EMBED_OUT_BYTES_MAX, e->base64)))
    goto out;
  *out = e;
  return 0;
out:
  pier_bedrock_embed_destroy(e);
  return rc;
}

void pier_bedrock_embed_destroy(pier_bedrock_embed *e) {
  if (!e) return;
  pier_embed_out_dispose(&e->out);
  free(e->texts);
  free(e);
}

size_t pier_bedrock_embed_calls(const pier_bedrock_embed *e) { return e->out.ncalls; }

/* First input index and count of a call. */
static void call_range(const pier_bedrock_embed *e, size_t call, size_t *first, size_t *n) {
  size_t batch = is_titan(e) ? 1 : PIER_BEDROCK_EMBED_COHERE_BATCH;
  *first = call * batch;
  *n = e->ntexts - *first < batch ? e->ntexts - *first : batch;
}

int pier_bedrock_embed_body(const pier_bedrock_embed *e, size_t call, pier_buf *body) {
  size_t first, n, mark = body->len;
  int rc;
  if (call >= e->out.ncalls) return PIER_EINVAL;
  call_range(e, call, &first, &n);
  if (is_titan(e)) {
    if (!(rc = pier_buf_append_cstr(body, "{\"inputText\":")) &&
        !(rc = pier_buf_append_json_str(body, pier_slice_from(e->texts[first]))) && e->dimensions)
      rc = pier_buf_appendf(body, ",\"dimensions\":%d", e->dimensions);
  } else {
    rc = pier_buf_append_cstr(body, "{\"texts\":[");
    for (size_t k = 0; !rc && k < n; k++)
      if (!(rc = k ? pier_buf_putc(body, ',') : 0))
        rc = pier_buf_append_json_str(body, pier_slice_from(e->texts[first + k]));
    if (!rc) rc = pier_buf_appendf(body, "],\"input_type\":\"%s\"", e->input_type);
    if (!rc && e->dimensions && e->family == PIER_BEDROCK_EMBED_COHERE_V4)
      rc = pier_buf_appendf(body, ",\"output_dimension\":%d", e->dimensions);
  }
  if (!rc) rc = pier_buf_putc(body, '}');
  if (rc && body->len > mark) body->len = mark, body->ptr[mark] = '\0';
  return rc;
}

/* Vectors of a reply: Titan's `embedding`; Cohere's `embeddings` as [[..]] or {"float":[[..]]}. */
static const cJSON *reply_vectors(const pier_bedrock_embed *e, const cJSON *j) {
  if (is_titan(e)) return cJSON_GetObjectItemCaseSensitive(j, "embedding");
  const cJSON *embs = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
  return cJSON_IsObject(embs) ? cJSON_GetObjectItemCaseSensitive(embs, "float") : embs;
}

static int render_reply(void *ctx, size_t call, const cJSON *j, pier_buf *part, char *err, size_t errlen) {
  pier_bedrock_embed *e = ctx;
  size_t first, n;
  call_range(e, call, &first, &n);
  const cJSON *vecs = reply_vectors(e, j);
  int rc = 0;
  if (is_titan(e)) {
    rc = pier_embed_out_entry(&e->out, part, first, vecs);
  } else if (!cJSON_IsArray(vecs) || (size_t)cJSON_GetArraySize(vecs) != n) {
    rc = PIER_EPROTO;
  } else {
    size_t k = 0;
    for (const cJSON *v = vecs->child; !rc && v; v = v->next, k++)
      rc = pier_embed_out_entry(&e->out, part, first + k, v);
  }
  if (rc == PIER_EPROTO)
    return pier_embed_errf(err, errlen, rc, "Bedrock embedding reply for input %zu%s has no %zu numeric vector(s)",
                           first, n > 1 ? " and following" : "", n);
  if (rc) return pier_embed_errf(err, errlen, rc, "%s while reading the Bedrock embedding reply", pier_strerror(rc));
  unsigned long long t = 0;
  double titan = pier_json_num(j, "inputTextTokenCount", 0);
  if (is_titan(e)) e->out.tokens += titan > 0 && titan < 1e12 ? (int64_t)titan : 0;
  else if (pier_slice_to_u64(pier_slice_trim(e->input_tokens), &t) == 0 && t < 1000000000000ull)
    e->out.tokens += (int64_t)t;
  return 0;
}

int pier_bedrock_embed_add_response(pier_bedrock_embed *e, size_t call, pier_slice body, pier_slice input_tokens,
                                    char *err, size_t errlen) {
  e->input_tokens = input_tokens;
  return pier_embed_out_add(&e->out, call, body, "Bedrock", render_reply, e, err, errlen);
}

int pier_bedrock_embed_finish(pier_bedrock_embed *e, const char *model, pier_buf *out, char *err,
                              size_t errlen) {
  return pier_embed_out_finish(&e->out, model, out, err, errlen);
}
