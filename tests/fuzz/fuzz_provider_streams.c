/* fuzz_provider_streams.c — libFuzzer harness for the streamed answers of the
 * Anthropic and Gemini APIs (untrusted upstream bytes): SSE parsing, the
 * provider's stream decoder and the OpenAI aggregator behind it; and of
 * Bedrock's ConverseStream decoder, fed frames cut from the input at NUL bytes
 * as "type\0name\0payload\0" records (frame decoding has fuzz_eventstream).
 * The first input byte picks the provider and how the rest is cut into reads.
 * Invariants: no crash, leak or out-of-bounds read; whatever the aggregator
 * writes is one JSON object (a chat.completion or an error body). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "llm/anthropic_map.h"
#include "llm/gemini_map.h"
#include "llm/openai_sse.h"
#include "llm/sse.h"

#include "llm/converse.h"

typedef struct ctx {
  bool gemini;
  pier_anthropic_stream a;
  pier_gemini_stream g;
} ctx;

static int on_sse(void *arg, pier_slice event, pier_slice data) {
  ctx *c = arg;
  return c->gemini ? pier_gemini_stream_on_data(&c->g, data) : pier_anthropic_stream_on_event(&c->a, event, data);
}

/* The next NUL-terminated field of [*p, end), or the rest. */
static pier_slice field(const char **p, const char *end) {
  const char *s = *p, *z = memchr(s, '\0', (size_t)(end - s));
  *p = z ? z + 1 : end;
  return pier_slice_make(s, (size_t)((z ? z : end) - s));
}

static void converse(const char *bytes, size_t len, bool json_mode) {
  pier_openai_agg agg;
  pier_openai_meta meta = {.id = "chatcmpl-fuzz", .model = "m", .created = 1};
  if (pier_openai_agg_init(&agg, &meta) != 0) abort();
  pier_converse_info info = {.stream = true, .json_mode = json_mode};
  pier_converse_stream s;
  pier_converse_stream_init(&s, &info, pier_openai_agg_on_event, &agg);
  const char *p = bytes, *end = bytes + len;
  int rc = 0;
  while (p < end && !rc) {
    pier_slice type = field(&p, end), name = field(&p, end), payload = field(&p, end);
    rc = pier_converse_stream_on_frame(&s, type, name, payload);
  }
  pier_buf out;
  pier_buf_init(&out, 1 << 22);
  (void)pier_openai_agg_finish(&agg, &out);
  if (out.len) {
    cJSON *j = cJSON_ParseWithLength(out.ptr, out.len);
    if (!cJSON_IsObject(j)) abort();
    cJSON_Delete(j);
  }
  pier_buf_dispose(&out);
  pier_openai_agg_dispose(&agg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned mode = data[0];
  if ((mode & 0xC0) == 0xC0) {
    converse((const char *)data + 1, size - 1, mode & 2);
    return 0;
  }
  const char *bytes = (const char *)data + 1;
  size_t len = size - 1;
  pier_openai_agg agg;
  pier_openai_meta meta = {.id = "chatcmpl-fuzz", .model = "m", .created = 1};
  if (pier_openai_agg_init(&agg, &meta) != 0) abort();
  ctx c = {.gemini = mode & 1};
  pier_anthropic_info ai = {.stream = true, .json_mode = (mode & 2) != 0};
  pier_gemini_info gi = {.stream = true};
  if (c.gemini) pier_gemini_stream_init(&c.g, &gi, pier_openai_agg_on_event, &agg);
  else pier_anthropic_stream_init(&c.a, &ai, pier_openai_agg_on_event, &agg);
  pier_sse_parser sse;
  pier_sse_init(&sse, 1 << 16);
  size_t step = 1 + (mode >> 2) * 7; /* reads of 1..442 bytes */
  int rc = 0;
  for (size_t off = 0; off < len && !rc; off += step)
    rc = pier_sse_feed(&sse, bytes + off, len - off < step ? len - off : step, on_sse, &c);
  if (!rc) rc = c.gemini ? pier_gemini_stream_end(&c.g) : pier_anthropic_stream_end(&c.a);
  pier_buf out;
  pier_buf_init(&out, 1 << 22);
  int frc = pier_openai_agg_finish(&agg, &out);
  if (out.len) {
    cJSON *j = cJSON_ParseWithLength(out.ptr, out.len);
    if (!cJSON_IsObject(j)) abort();
    cJSON_Delete(j);
  }
  (void)frc;
  pier_buf_dispose(&out);
  pier_sse_dispose(&sse);
  pier_openai_agg_dispose(&agg);
  return 0;
}
