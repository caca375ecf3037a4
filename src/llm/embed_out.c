/* embed_out.c — see embed_out.h. */
#include "llm/embed_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/error.h"
#include "base/json.h"
#include "base/limits.h"

int pier_embed_errf(char *err, size_t errlen, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return rc;
}

int pier_embed_read_inputs(const cJSON *req, size_t max, const char *provider, const char ***texts, size_t *n,
                           char *err, size_t errlen) {
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "input");
  *texts = NULL;
  *n = 0;
  if (!cJSON_IsString(in) && !cJSON_IsArray(in))
    return pier_embed_errf(err, errlen, PIER_EINVAL, "input must be a string or an array of strings, got %s",
                           pier_json_type_name(in));
  size_t count = cJSON_IsString(in) ? 1 : (size_t)cJSON_GetArraySize(in);
  if (count == 0) return pier_embed_errf(err, errlen, PIER_EINVAL, "input must hold at least one string");
  if (count > max)
    return pier_embed_errf(err, errlen, PIER_EINVAL, "input holds %zu strings; at most %zu per request", count, max);
  const char **t = calloc(count, sizeof *t);
  if (!t) return PIER_ENOMEM;
  const cJSON *s = cJSON_IsString(in) ? in : in->child;
  for (size_t k = 0; k < count; k++, s = s->next) {
    int rc = 0;
    if (!cJSON_IsString(s))
      rc = pier_embed_errf(err, errlen, PIER_EINVAL,
                           "input[%zu] must be a string (token-id arrays are not supported for %s models)", k,
                           provider);
    else if (!s->valuestring[0])
      rc = pier_embed_errf(err, errlen, PIER_EINVAL, "input[%zu] is an empty string", k);
    if (rc) {
      free(t);
      return rc;
    }
    t[k] = s->valuestring;
  }
  *texts = t;
  *n = count;
  return 0;
}

int pier_embed_read_format(const cJSON *req, bool *base64, char *err, size_t errlen) {
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(req, "encoding_format");
  *base64 = false;
  if (!fmt || cJSON_IsNull(fmt)) return 0;
  const char *f = cJSON_IsString(fmt) ? fmt->valuestring : "";
  if (strcmp(f, "float") && strcmp(f, "base64"))
    return pier_embed_errf(err, errlen, PIER_EINVAL, "encoding_format must be \"float\" or \"base64\"");
  *base64 = strcmp(f, "base64") == 0;
  return 0;
}

int pier_embed_out_init(pier_embed_out *o, size_t ncalls, size_t out_max, bool base64) {
  *o = (pier_embed_out){.ncalls = ncalls, .out_max = out_max, .base64 = base64};
  if (!(o->parts = calloc(ncalls ? ncalls : 1, sizeof *o->parts)) ||
      !(o->answered = calloc(ncalls ? ncalls : 1, sizeof *o->answered))) {
    free(o->parts);
    o->parts = NULL;
    return PIER_ENOMEM;
  }
  for (size_t c = 0; c < ncalls; c++) pier_buf_init(&o->parts[c], out_max);
  return 0;
}

void pier_embed_out_dispose(pier_embed_out *o) {
  for (size_t c = 0; o->parts && c < o->ncalls; c++) pier_buf_dispose(&o->parts[c]);
  free(o->parts);
  free(o->answered);
  o->parts = NULL;
  o->answered = NULL;
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

int pier_embed_out_entry(const pier_embed_out *o, pier_buf *part, size_t index, const cJSON *vec) {
  size_t dims = 0;
  const cJSON *v;
  if (!cJSON_IsArray(vec) || !vec->child) return PIER_EPROTO;
  cJSON_ArrayForEach(v, vec) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return PIER_EPROTO; /* 1e999 parses to inf */
    dims++;
  }
  int rc = pier_buf_appendf(part, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", part->len ? "," : "",
                            index);
  if (rc) return rc;
  if (o->base64) {
    rc = append_base64(part, vec, dims);
  } else {
    rc = pier_buf_putc(part, '[');
    cJSON_ArrayForEach(v, vec) {
      char num[40];
      int len = snprintf(num, sizeof num, v == vec->child ? "%.9g" : ",%.9g", v->valuedouble);
      if (rc || (rc = pier_buf_append(part, num, (size_t)len))) break;
    }
    if (!rc) rc = pier_buf_putc(part, ']');
  }
  return rc ? rc : pier_buf_putc(part, '}');
}

int pier_embed_out_add(pier_embed_out *o, size_t call, pier_slice body, const char *provider,
                       pier_embed_render_fn render, void *ctx, char *err, size_t errlen) {
  char perr[96];
  if (call >= o->ncalls || o->answered[call])
    return pier_embed_errf(err, errlen, PIER_EINVAL, "embedding call %zu: no such call or already answered", call);
  cJSON *j = pier_json_parse(body, PIER_JSON_DEPTH_MAX, perr, sizeof perr);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return pier_embed_errf(err, errlen, PIER_EPROTO, "%s embedding reply is not a JSON object (%s)", provider,
                           j ? "wrong type" : perr);
  }
  pier_buf *part = &o->parts[call];
  part->max = o->out_max - o->out_bytes;
  int rc = render(ctx, call, j, part, err, errlen);
  if (!rc) {
    o->out_bytes += part->len;
    o->answered[call] = true;
  } else {
    pier_buf_reset(part);
  }
  cJSON_Delete(j);
  return rc;
}

int pier_embed_out_finish(const pier_embed_out *o, const char *model, pier_buf *out, char *err, size_t errlen) {
  size_t mark = out->len;
  for (size_t c = 0; c < o->ncalls; c++)
    if (!o->answered[c]) return pier_embed_errf(err, errlen, PIER_EINVAL, "embedding call %zu has no reply yet", c);
  int rc = pier_buf_append_cstr(out, "{\"object\":\"list\",\"data\":[");
  for (size_t c = 0; !rc && c < o->ncalls; c++) {
    if (c && o->parts[c].len) rc = pier_buf_putc(out, ',');
    if (!rc) rc = pier_buf_append_slice(out, pier_buf_slice(&o->parts[c]));
  }
  if (!rc) rc = pier_buf_append_cstr(out, "],\"model\":");
  if (!rc) rc = pier_buf_append_json_str(out, pier_slice_from(model ? model : ""));
  if (!rc)
    rc = pier_buf_appendf(out, ",\"usage\":{\"prompt_tokens\":%" PRId64 ",\"total_tokens\":%" PRId64 "}}", o->tokens,
                          o->tokens);
  if (rc) {
    if (out->len > mark) out->len = mark, out->ptr[mark] = '\0';
    pier_embed_errf(err, errlen, rc, "%s while writing the embeddings reply", pier_strerror(rc));
  }
  return rc;
}
