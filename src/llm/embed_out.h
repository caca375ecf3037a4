/* embed_out.h — an OpenAI /v1/embeddings answer assembled from several
 * provider calls (batches of the request's inputs). Each call's rendered `data`
 * entries are kept apart until finish, so replies may arrive in any order;
 * floats are printed with %.9g so a float32 survives the round trip, or as
 * base64 of little-endian float32 the way OpenAI encodes them. Shared by the
 * Bedrock and Gemini embedding mappings. */
#ifndef PIER_LLM_EMBED_OUT_H
#define PIER_LLM_EMBED_OUT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/slice.h"

/* Write the message into err (when errlen > 0) and return rc. */
int pier_embed_errf(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The request's input: a string or 1..max non-empty strings (borrowed into an
 * owned *texts array). provider names who cannot take token-id arrays. */
int pier_embed_read_inputs(const cJSON *req, size_t max, const char *provider, const char ***texts, size_t *n,
                           char *err, size_t errlen) PIER_WUR;
/* encoding_format: absent, "float" or "base64". */
int pier_embed_read_format(const cJSON *req, bool *base64, char *err, size_t errlen) PIER_WUR;

typedef struct pier_embed_out {
  size_t ncalls;
  pier_buf *parts;  /* one per call: its rendered data entries */
  bool *answered;   /* one per call */
  size_t out_bytes; /* sum of parts[].len, held under out_max */
  size_t out_max;
  bool base64;
  int64_t tokens;   /* prompt tokens, added by the caller */
} pier_embed_out;

int pier_embed_out_init(pier_embed_out *o, size_t ncalls, size_t out_max, bool base64) PIER_WUR;
void pier_embed_out_dispose(pier_embed_out *o);

/* Append `{"object":"embedding","index":i,"embedding":...}` to part (comma-led
 * unless first); PIER_EPROTO unless vec is a non-empty array of finite numbers. */
int pier_embed_out_entry(const pier_embed_out *o, pier_buf *part, size_t index, const cJSON *vec) PIER_WUR;

/* A call's reply: parsed, then render(ctx, call, reply, part, err) writes its
 * entries with pier_embed_out_entry. On success the call is answered; on
 * failure its part is emptied and err explains (provider names the source). */
typedef int (*pier_embed_render_fn)(void *ctx, size_t call, const cJSON *reply, pier_buf *part, char *err,
                                    size_t errlen);
int pier_embed_out_add(pier_embed_out *o, size_t call, pier_slice body, const char *provider,
                       pier_embed_render_fn render, void *ctx, char *err, size_t errlen) PIER_WUR;

/* {"object":"list","data":[...],"model":..,"usage":{..}} once every call is answered. */
int pier_embed_out_finish(const pier_embed_out *o, const char *model, pier_buf *out, char *err,
                          size_t errlen) PIER_WUR;

#endif
