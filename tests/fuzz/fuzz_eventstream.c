/* fuzz_eventstream.c — libFuzzer harness for the event stream decoder. Input:
 * byte 0-1 split position (top bit: repair the CRCs first, so mutations reach the
 * header parser), byte 2 frame cap and chunk size, then the stream.
 * Oracles: a split feed delivers exactly what one feed delivers, with the same
 * verdict; and every delivered message re-encodes to its frame's exact bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"
#include "llm/eventstream.h"

typedef struct seen {
  const uint8_t *stream; /* whole-feed run only: the frames are consecutive from here */
  size_t stream_len, cursor;
  size_t count;
  uint64_t digest; /* FNV-1a over every delivered header and payload */
  pier_buf scratch;
} seen;

static void mix(seen *s, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) s->digest = (s->digest ^ b[i]) * 1099511628211ull;
}

static void check_reencodes(seen *s, const pier_es_message *m) {
  if (!s->stream) return;
  if (s->stream_len - s->cursor < 4) abort(); /* a message came from bytes we never fed */
  const uint8_t *f = s->stream + s->cursor;
  size_t total = (size_t)f[0] << 24 | (size_t)f[1] << 16 | (size_t)f[2] << 8 | f[3];
  if (total > s->stream_len - s->cursor) abort();
  pier_buf_reset(&s->scratch);
  int rc = pier_es_encode(&s->scratch, m->headers, m->headers_count, m->payload);
  /* The encoder refuses values over 32767 bytes that the wire (u16) allows. */
  if (rc == 0 && (s->scratch.len != total || memcmp(s->scratch.ptr, f, total) != 0)) abort();
  if (rc != 0 && rc != PIER_EINVAL) abort();
  s->cursor += total;
}

static int on_message(void *arg, const pier_es_message *m) {
  seen *s = arg;
  s->count++;
  for (size_t i = 0; i < m->headers_count; i++) {
    const pier_es_header *h = &m->headers[i];
    mix(s, h->name.ptr, h->name.len);
    mix(s, &h->type, sizeof h->type);
    mix(s, &h->num, sizeof h->num);
    mix(s, h->bytes.ptr, h->bytes.len);
  }
  mix(s, m->payload.ptr, m->payload.len);
  pier_slice t = pier_es_header_str(m, ":event-type");
  mix(s, t.ptr, t.len);
  check_reencodes(s, m);
  return 0;
}

/* Feed data[0..cut) in one go, then the rest in chunks of `chunk` bytes. */
static int run(const uint8_t *data, size_t len, size_t cut, size_t chunk, size_t cap, seen *s) {
  pier_es_decoder d;
  pier_es_decoder_init(&d, cap);
  int rc = pier_es_decoder_feed(&d, data, cut, on_message, s);
  for (size_t at = cut; rc == 0 && at < len; at += chunk) {
    size_t n = len - at < chunk ? len - at : chunk;
    rc = pier_es_decoder_feed(&d, data + at, n, on_message, s);
  }
  if (rc == 0) rc = pier_es_decoder_finish(&d);
  if (rc != 0 && pier_es_decoder_feed(&d, data, len, on_message, s) != rc) abort(); /* sticky */
  pier_es_decoder_dispose(&d);
  return rc;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Walk the frames as declared and give each a correct prelude and message CRC. */
static void repair_crcs(uint8_t *b, size_t len) {
  for (size_t at = 0; len - at >= PIER_ES_PRELUDE_BYTES;) {
    put32(b + at + 8, (uint32_t)crc32(0, b + at, 8));
    size_t total = be32(b + at);
    if (total < PIER_ES_OVERHEAD_BYTES || total > len - at) return;
    put32(b + at + total - 4, (uint32_t)crc32(0, b + at, (uInt)(total - 4)));
    at += total;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t split = (size_t)(data[0] & 0x7f) << 8 | data[1];
  int repair = data[0] & 0x80;
  size_t cap = PIER_ES_OVERHEAD_BYTES + (size_t)data[2] * 64; /* 16 B .. 16 KiB */
  size_t chunk = 1 + (data[2] & 15);
  data += 3, size -= 3;
  split %= size + 1;
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  if (size) memcpy(copy, data, size);
  if (repair) repair_crcs(copy, size);
  data = copy;

  seen whole = {.stream = data, .stream_len = size, .digest = 14695981039346656037ull};
  seen parts = {.digest = 14695981039346656037ull};
  pier_buf_init(&whole.scratch, 0);
  pier_buf_init(&parts.scratch, 0);
  int rc_whole = run(data, size, size, 1, cap, &whole);
  int rc_parts = run(data, size, split, chunk, cap, &parts);
  if (rc_whole != rc_parts || whole.count != parts.count || whole.digest != parts.digest) abort();
  pier_buf_dispose(&whole.scratch);
  pier_buf_dispose(&parts.scratch);
  free(copy);
  return 0;
}
