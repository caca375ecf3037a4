/* eventstream.c — AWS event stream framing: incremental decode and encode.
 * Invariant: a frame's bytes are copied only when it straddles two feeds, and
 * only after its prelude passed (CRC, 16 <= total_length <= cap), so memory stays
 * bounded by the cap (plus pier_buf's power-of-two rounding) whatever the peer declares. */
#include "llm/eventstream.h"

#include <assert.h>
#include <string.h>
#include <zlib.h>

/* Keep at most this much buffer between frames; a rare big frame's memory is freed. */
#define PARTIAL_KEEP_BYTES (64 * 1024)

static uint32_t get_be(const unsigned char *p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

static void put_be(unsigned char *p, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0; v >>= 8) p[i] = (unsigned char)(v & 0xff);
}

static uint32_t crc(const unsigned char *p, size_t n) {
  return (uint32_t)crc32(0L, p, (uInt)n); /* n < 4 GiB: total_length is a u32 */
}

void pier_es_decoder_init(pier_es_decoder *d, size_t frame_bytes_max) {
  assert(frame_bytes_max == 0 || frame_bytes_max >= PIER_ES_OVERHEAD_BYTES);
  memset(d, 0, sizeof *d);
  pier_buf_init(&d->partial, frame_bytes_max ? frame_bytes_max : PIER_ES_FRAME_BYTES_DEFAULT);
}

void pier_es_decoder_dispose(pier_es_decoder *d) {
  pier_buf_dispose(&d->partial);
  d->frame_len = 0;
}

/* ---- decoding ------------------------------------------------------------------- */

/* Check the 12-byte prelude; on success *total is the frame's length. */
static int check_prelude(const unsigned char *p, size_t cap, uint32_t *total) {
  uint32_t t = get_be(p, 4), h = get_be(p + 4, 4);
  if (crc(p, 8) != get_be(p + 8, 4)) return PIER_ECHECKSUM;
  if (t < PIER_ES_OVERHEAD_BYTES || h > t - PIER_ES_OVERHEAD_BYTES) return PIER_EPROTO;
  if (t > cap) return PIER_ETOOBIG;
  *total = t;
  return 0;
}

/* Value width by type: fixed bytes, or -1 for a u16 length prefix. */
static const int value_width[] = {0, 0, 1, 2, 4, 8, -1, -1, 8, 16};

/* Decode one value of `type` at p[0..avail); *used = bytes taken. */
static int parse_value(pier_es_header *h, const unsigned char *p, size_t avail, size_t *used) {
  int w = value_width[h->type];
  size_t n = (size_t)w;
  if (w < 0) {
    if (avail < 2) return PIER_EPROTO;
    n = get_be(p, 2);
    p += 2, avail -= 2;
  }
  if (n > avail) return PIER_EPROTO;
  *used = n + (w < 0 ? 2 : 0);
  h->num = h->type == PIER_ES_BOOL_TRUE;
  h->bytes = PIER_SLICE_NULL;
  if (w < 0 || h->type == PIER_ES_UUID) {
    h->bytes = pier_slice_make((const char *)p, n);
  } else if (n) {
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++) u = u << 8 | p[i];
    if (n < 8 && (p[0] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    memcpy(&h->num, &u, sizeof u);
  }
  return 0;
}

/* headers := (u8 name_len, name, u8 type, value)*, exactly filling `hs`. */
static int parse_headers(pier_slice hs, pier_es_header *out, size_t *count) {
  const unsigned char *p = (const unsigned char *)hs.ptr;
  size_t i = 0, n = 0;
  while (i < hs.len) {
    if (n == PIER_ES_HEADERS_MAX) return PIER_ETOOBIG;
    pier_es_header *h = &out[n++];
    size_t name_len = p[i++];
    if (name_len >= hs.len - i) return PIER_EPROTO; /* the name and its type byte */
    h->name = pier_slice_make((const char *)p + i, name_len);
    i += name_len;
    if (p[i] > PIER_ES_UUID) return PIER_EPROTO;
    h->type = (pier_es_type)p[i++];
    size_t used;
    int rc = parse_value(h, p + i, hs.len - i, &used);
    if (rc) return rc;
    i += used;
  }
  *count = n;
  return 0;
}

/* `f` is a whole frame whose prelude passed check_prelude. */
static int deliver(pier_es_decoder *d, pier_slice f, pier_es_on_message on_message, void *arg) {
  const unsigned char *p = (const unsigned char *)f.ptr;
  if (crc(p, f.len - 4) != get_be(p + f.len - 4, 4)) return PIER_ECHECKSUM;
  size_t hlen = get_be(p + 4, 4);
  const char *hs = f.ptr + PIER_ES_PRELUDE_BYTES;
  pier_es_message m = {d->headers, 0, pier_slice_make(hs + hlen, f.len - PIER_ES_OVERHEAD_BYTES - hlen)};
  int rc = parse_headers(pier_slice_make(hs, hlen), d->headers, &m.headers_count);
  if (rc == 0 && on_message) rc = on_message(arg, &m);
  return rc;
}

/* Nothing buffered and a whole prelude in hand: deliver straight from the input
 * when the frame is complete, else start buffering it. */
static int feed_direct(pier_es_decoder *d, const unsigned char *p, size_t len, size_t *used,
                       pier_es_on_message on_message, void *arg) {
  uint32_t total;
  int rc = check_prelude(p, d->partial.max, &total);
  if (rc) return rc;
  if (len >= total) {
    *used = total;
    return deliver(d, pier_slice_make((const char *)p, total), on_message, arg);
  }
  d->frame_len = total;
  *used = len;
  return pier_buf_append(&d->partial, p, len);
}

/* A frame (or its prelude) is partly buffered: top it up from the input. */
static int feed_partial(pier_es_decoder *d, const unsigned char *p, size_t len, size_t *used,
                        pier_es_on_message on_message, void *arg) {
  pier_buf *b = &d->partial;
  size_t want = d->frame_len ? d->frame_len : PIER_ES_PRELUDE_BYTES;
  size_t take = want - b->len < len ? want - b->len : len;
  int rc = pier_buf_append(b, p, take);
  *used = take;
  if (rc || b->len < want) return rc;
  if (d->frame_len == 0) return check_prelude((const unsigned char *)b->ptr, b->max, &d->frame_len);
  rc = deliver(d, pier_buf_slice(b), on_message, arg);
  d->frame_len = 0;
  if (b->cap > PARTIAL_KEEP_BYTES) pier_buf_dispose(b);
  else pier_buf_reset(b);
  return rc;
}

int pier_es_decoder_feed(pier_es_decoder *d, const void *data, size_t len, pier_es_on_message on_message,
                         void *arg) {
  const unsigned char *p = data;
  int rc = d->err;
  while (rc == 0 && len > 0) {
    size_t used = 0;
    if (d->partial.len == 0 && len >= PIER_ES_PRELUDE_BYTES)
      rc = feed_direct(d, p, len, &used, on_message, arg);
    else
      rc = feed_partial(d, p, len, &used, on_message, arg);
    p += used, len -= used;
  }
  d->err = rc;
  return rc;
}

int pier_es_decoder_finish(pier_es_decoder *d) {
  if (d->err == 0 && d->partial.len > 0) d->err = PIER_EPROTO; /* stream cut inside a frame */
  return d->err;
}

const pier_es_header *pier_es_header_find(const pier_es_message *m, const char *name) {
  for (size_t i = 0; i < m->headers_count; i++)
    if (pier_slice_eq_cstr(m->headers[i].name, name)) return &m->headers[i];
  return NULL;
}

pier_slice pier_es_header_str(const pier_es_message *m, const char *name) {
  const pier_es_header *h = pier_es_header_find(m, name);
  return h && h->type == PIER_ES_STRING ? h->bytes : PIER_SLICE_NULL;
}

/* ---- encoding -------------------------------------------------------------------- */

static int header_wire_bytes(const pier_es_header *h, size_t *n) {
  if (h->name.len > 255 || (unsigned)h->type > PIER_ES_UUID) return PIER_EINVAL;
  int w = value_width[h->type];
  if (h->type == PIER_ES_UUID && h->bytes.len != 16) return PIER_EINVAL;
  if (w < 0 && h->bytes.len > PIER_ES_ENCODE_VALUE_BYTES_MAX) return PIER_EINVAL;
  *n = 2 + h->name.len + (w < 0 ? 2 + h->bytes.len : (size_t)w);
  return 0;
}

static unsigned char *put_header(unsigned char *w, const pier_es_header *h) {
  *w++ = (unsigned char)h->name.len;
  if (h->name.len) memcpy(w, h->name.ptr, h->name.len);
  w += h->name.len;
  *w++ = (unsigned char)h->type;
  int width = value_width[h->type];
  if (width < 0) {
    put_be(w, h->bytes.len, 2);
    w += 2;
  }
  if (width < 0 || h->type == PIER_ES_UUID) {
    if (h->bytes.len) memcpy(w, h->bytes.ptr, h->bytes.len);
    return w + h->bytes.len;
  }
  uint64_t u;
  memcpy(&u, &h->num, sizeof u); /* two's complement; put_be keeps the low bytes */
  put_be(w, u, (size_t)width);
  return w + width;
}

int pier_es_encode(pier_buf *out, const pier_es_header *headers, size_t headers_count, pier_slice payload) {
  uint64_t hlen = 0;
  for (size_t i = 0; i < headers_count; i++) {
    size_t n;
    int rc = header_wire_bytes(&headers[i], &n);
    if (rc) return rc;
    hlen += n;
    if (hlen > UINT32_MAX) return PIER_ETOOBIG;
  }
  if (payload.len > UINT32_MAX) return PIER_ETOOBIG;
  uint64_t total = PIER_ES_OVERHEAD_BYTES + hlen + payload.len;
  if (total > UINT32_MAX) return PIER_ETOOBIG;
  int rc = pier_buf_reserve(out, (size_t)total);
  if (rc) return rc;

  unsigned char *f = (unsigned char *)out->ptr + out->len, *w = f;
  put_be(w, total, 4);
  put_be(w + 4, hlen, 4);
  put_be(w + 8, crc(f, 8), 4);
  w += PIER_ES_PRELUDE_BYTES;
  for (size_t i = 0; i < headers_count; i++) w = put_header(w, &headers[i]);
  if (payload.len) memcpy(w, payload.ptr, payload.len);
  w += payload.len;
  put_be(w, crc(f, (size_t)total - 4), 4);
  out->len += (size_t)total;
  out->ptr[out->len] = '\0';
  return 0;
}
