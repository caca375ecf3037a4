/* bedrock_embed.c — embeddings request planning, per-family InvokeModel bodies
 * and reply parsing. Each call's rendered `data` entries are kept apart until
 * finish so replies may arrive in any order; floats are printed with %.9g so a
 * float32 survives the round trip. */
#include "llm/bedrock_embed.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/json.h"
#include "base/limits.h"

struct pier_bedrock_embed {
  pier_bedrock_embed_family family;
  const char **texts; /* owned array of borrowed strings (from the request) */
  size_t ntexts;
  int dimensions;         /* 0 = model default */
  bool base64;            /* encoding_format "base64" */
  const char *input_type; /* Cohere; static or borrowed */
  size_t ncalls;
  pier_buf *parts;        /* owned, one per call: its rendered data entries */
  bool *answered;         /* owned, one per call */
  int64_t tokens;
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

/* input: a string or an array of non-empty strings -> e->texts. */
static int read_inputs(pier_bedrock_embed *e, const cJSON *req, char *err, size_t errlen) {
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
  size_t n = cJSON_IsString(in) ? 1 : cJSON_IsArray(in) ? (size_t)cJSON_GetArraySize(in) : 0;
  if (!cJSON_IsString(in) && !cJSON_IsArray(in))
    return bad(err, errlen, PIER_EINVAL, "input must be a string or an array of strings, got %s",
               pier_json_type_name(in));
  if (n == 0) return bad(err, errlen, PIER_EINVAL, "input must hold at least one string");
  if (n > PIER_BEDROCK_EMBED_INPUTS_MAX)
    return bad(err, errlen, PIER_EINVAL, "input holds %zu strings; at most %d per request", n,
               PIER_BEDROCK_EMBED_INPUTS_MAX);
  if (!(e->texts = calloc(n, sizeof *e->texts))) return PIER_ENOMEM;
  const cJSON *s = cJSON_IsString(in) ? in : in->child;
  for (size_t k = 0; k < n; k++, s = s->next) {
    if (!cJSON_IsString(s))
      return bad(err, errlen, PIER_EINVAL,
                 "input[%zu] must be a string (token-id arrays are not supported for Bedrock models)", k);
    if (!s->valuestring[0]) return bad(err, errlen, PIER_EINVAL, "input[%zu] is an empty string", k);
    e->texts[k] = s->valuestring;
  }
  e->ntexts = n;
  return 0;
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
  return bad(err, errlen, PIER_EINVAL, "dimensions must be %s for this model", by_family[e->family].list);
}

static int read_options(pier_bedrock_embed *e, const cJSON *req, char *err, size_t errlen) {
  static const char *const types[] = {"search_document", "search_query", "classification", "clustering"};
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(req, "encoding_format");
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(req, "input_type");
  if (fmt && !cJSON_IsNull(fmt)) {
    const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
    if (strcmp(f, "float") && strcmp(f, "base64"))
      return bad(err, errlen, PIER_EINVAL, "encoding_format must be \"float\" or \"base64\"");
    e->base64 = strcmp(f, "base64") == 0;
  }
  e->input_type = types[0];
  if (!it || cJSON_IsNull(it)) return 0;
  for (size_t i = 0; cJSON_IsString(it) && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(it->valuestring, types[i]) == 0) {
      e->input_type = types[i];
      return 0;
    }
  return bad(err, errlen, PIER_EINVAL,
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
    rc = bad(err, errlen, PIER_ENOTFOUND,
             "model \"%s\" is not a Bedrock embedding model pier supports; use amazon.titan-embed-text-v2:0, "
             "amazon.titan-embed-text-v1, cohere.embed-english-v3, cohere.embed-multilingual-v3 or cohere.embed-v4:0",
             model_id ? model_id : "");
    goto out;
  }
  if ((rc = read_inputs(e, req, err, errlen)) || (rc = read_dimensions(e, req, err, errlen)) ||
      (rc = read_options(e, req, err, errlen)))
    goto out;
  size_t batch = is_titan(e) ? 1 : PIER_BEDROCK_EMBED_COHERE_BATCH;
  e->ncalls = (e->ntexts + batch - 1) / batch;
  rc = PIER_ENOMEM;
  if (!(e->parts = calloc(e->ncalls, sizeof *e->parts)) || !(e->answered = calloc(e->ncalls, sizeof *e->answered)))
    goto out;
  for (size_t c = 0; c < e->ncalls; c++) pier_buf_init(&e->parts[c], PIER_BEDROCK_EMBED_OUT_BYTES_MAX);
  *out = e;
  return 0;
out:
  pier_bedrock_embed_destroy(e);
  return rc;
}

void pier_bedrock_embed_destroy(pier_bedrock_embed *e) {
  if (!e) return;
  for (size_t c = 0; e->parts && c < e->ncalls; c++) pier_buf_dispose(&e->parts[c]);
  free(e->parts);
  free(e->answered);
  free(e->texts);
  free(e);
}

size_t pier_bedrock_embed_calls(const pier_bedrock_embed *e) { return e->ncalls; }

/* First input index and count of a call. */
static void call_range(const pier_bedrock_embed *e, size_t call, size_t *first, size_t *n) {
  size_t batch = is_titan(e) ? 1 : PIER_BEDROCK_EMBED_COHERE_BATCH;
  *first = call * batch;
  *n = e->ntexts - *first < batch ? e->ntexts - *first : batch;
}

int pier_bedrock_embed_body(const pier_bedrock_embed *e, size_t call, pier_buf *body) {
  size_t first, n, mark = body->len;
  int rc;
  if (call >= e->ncalls) return PIER_EINVAL;
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
    rc = pier_buf_appendf(out, "\"%s\"", b64);
  }
  free(raw);
  free(b64);
  return rc;
}

/* `{"object":"embedding","index":i,"embedding":...}` (with a leading comma
 * unless first); vec must be a non-empty array of numbers. */
static int append_entry(pier_bedrock_embed *e, pier_buf *out, size_t index, const cJSON *vec) {
  size_t dims = 0;
  const cJSON *v;
  if (!cJSON_IsArray(vec) || !vec->child) return PIER_EPROTO;
  cJSON_ArrayForEach(v, vec) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return PIER_EPROTO; /* 1e999 parses to inf */
    dims++;
  }
  int rc = pier_buf_appendf(out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", out->len ? "," : "",
                            index);
  if (rc) return rc;
  if (e->base64) {
    rc = append_base64(out, vec, dims);
  } else {
    rc = pier_buf_putc(out, '[');
    cJSON_ArrayForEach(v, vec) {
      char num[40];
      int len = snprintf(num, sizeof num, v == vec->child ? "%.9g" : ",%.9g", v->valuedouble);
      if (rc || (rc = pier_buf_append(out, num, (size_t)len))) break;
    }
    if (!rc) rc = pier_buf_putc(out, ']');
  }
  return rc ? rc : pier_buf_putc(out, '}');
}

/* Vectors of a reply: Titan's `embedding`; Cohere's `embeddings` as [[..]] or {"float":[[..]]}. */
static const cJSON *reply_vectors(const pier_bedrock_embed *e, const cJSON *j) {
  if (is_titan(e)) return cJSON_GetObjectItemCaseSensitive(j, "embedding");
  const cJSON *embs = cJSON_GetObjectItemCaseSensitive(j, "embeddings");
  return cJSON_IsObject(embs) ? cJSON_GetObjectItemCaseSensitive(embs, "float") : embs;
}

static int render_reply(pier_bedrock_embed *e, size_t call, const cJSON *j, char *err, size_t errlen) {
  size_t first, n;
  call_range(e, call, &first, &n);
  const cJSON *vecs = reply_vectors(e, j);
  pier_buf *part = &e->parts[call];
  int rc = 0;
  if (is_titan(e)) {
    rc = append_entry(e, part, first, vecs);
  } else if (!cJSON_IsArray(vecs) || (size_t)cJSON_GetArraySize(vecs) != n) {
    rc = PIER_EPROTO;
  } else {
    size_t k = 0;
    for (const cJSON *v = vecs->child; !rc && v; v = v->next, k++) rc = append_entry(e, part, first + k, v);
  }
  if (rc == PIER_EPROTO)
    return bad(err, errlen, rc, "Bedrock embedding reply for input %zu%s has no %zu numeric vector(s)", first,
               n > 1 ? " and following" : "", n);
  if (rc) bad(err, errlen, rc, "%s while reading the Bedrock embedding reply", pier_strerror(rc));
  return rc;
}

int pier_bedrock_embed_add_response(pier_bedrock_embed *e, size_t call, pier_slice body, pier_slice input_tokens,
                                    char *err, size_t errlen) {
  char perr[96];
  if (call >= e->ncalls || e->answered[call])
    return bad(err, errlen, PIER_EINVAL, "embedding call %zu: no such call or already answered", call);
  cJSON *j = pier_json_parse(body, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return bad(err, errlen, PIER_EPROTO, "Bedrock embedding reply is not a JSON object (%s)", j ? "wrong type" : perr);
  }
  pier_buf *part = &e->parts[call];
  part->max = PIER_BEDROCK_EMBED_OUT_BYTES_MAX - e->out_bytes;
  int rc = render_reply(e, call, j, err, errlen);
  if (!rc) {
    unsigned long long t = 0;
    double titan = pier_json_num(j, "inputTextTokenCount", 0);
    if (is_titan(e)) e->tokens += titan > 0 && titan < 1e12 ? (int64_t)titan : 0;
    else if (pier_slice_to_u64(pier_slice_trim(input_tokens), &t) == 0 && t < 1000000000000ull) e->tokens += (int64_t)t;
    e->out_bytes += part->len;
    e->answered[call] = true;
  } else {
    pier_buf_reset(part);
  }
  cJSON_Delete(j);
  return rc;
}

int pier_bedrock_embed_finish(pier_bedrock_embed *e, const char *model, pier_buf *out, char *err,
                              size_t errlen) {
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
