/* eventstream.h — application/vnd.amazon.eventstream (Bedrock ConverseStream,
 * InvokeModelWithResponseStream): an incremental decoder that hands over each
 * frame as soon as its last byte arrives, and a one-frame encoder.
 * Invariant: a frame's prelude CRC and declared length are checked against the
 * decoder's cap before a single byte of it is buffered or allocated.
 *
 * Frame (all integers big-endian; bedrock.md §4.1):
 *   u32 total_length | u32 headers_length | u32 prelude_crc = crc32(bytes[0..8))
 *   headers (headers_length bytes) | payload | u32 message_crc = crc32(bytes[0..total-4))
 * Header: u8 name_len, name, u8 type, value (see pier_es_type). */
#ifndef PIER_LLM_EVENTSTREAM_H
#define PIER_LLM_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"
#include "base/slice.h"

#define PIER_ES_PRELUDE_BYTES 12
#define PIER_ES_OVERHEAD_BYTES 16 /* prelude + message CRC */
/* botocore's limits: headers <= 128 KiB, payload <= 24 MiB. */
#define PIER_ES_FRAME_BYTES_DEFAULT ((size_t)24 * 1024 * 1024 + 128 * 1024 + PIER_ES_OVERHEAD_BYTES)
#define PIER_ES_HEADERS_MAX 32           /* per frame; Bedrock sends 3 */
#define PIER_ES_ENCODE_VALUE_BYTES_MAX 32767 /* aws-c-event-stream rejects longer values */

typedef enum pier_es_type {
  PIER_ES_BOOL_TRUE = 0,  /* no value */
  PIER_ES_BOOL_FALSE = 1, /* no value */
  PIER_ES_BYTE = 2,       /* int8 */
  PIER_ES_INT16 = 3,
  PIER_ES_INT32 = 4,
  PIER_ES_INT64 = 5,
  PIER_ES_BYTES = 6,      /* u16 length + bytes */
  PIER_ES_STRING = 7,     /* u16 length + UTF-8 (not validated) */
  PIER_ES_TIMESTAMP = 8,  /* int64 milliseconds since the epoch */
  PIER_ES_UUID = 9,       /* 16 bytes */
} pier_es_type;

typedef struct pier_es_header {
  pier_slice name;   /* borrowed from the frame (decoder) or the caller (encoder) */
  pier_es_type type;
  int64_t num;       /* BOOL_*: 1/0; BYTE, INT16/32/64 (sign-extended), TIMESTAMP */
  pier_slice bytes;  /* BYTES, STRING, UUID (exactly 16 bytes); same lifetime as name */
} pier_es_header;

/* A string header, for building frames to encode. */
static inline pier_es_header pier_es_string_header(pier_slice name, pier_slice value) {
  return (pier_es_header){.name = name, .type = PIER_ES_STRING, .bytes = value};
}

/* One decoded frame. Everything in it is borrowed and valid only during the callback. */
typedef struct pier_es_message {
  const pier_es_header *headers; /* in wire order */
  size_t headers_count;
  pier_slice payload;
} pier_es_message;

/* Called once per complete, CRC-checked frame. Return 0 to go on; anything else
 * stops decoding and becomes the decoder's sticky error (return a PIER_E*). The
 * callback must not feed, finish or dispose the decoder that called it. */
typedef int (*pier_es_on_message)(void *arg, const pier_es_message *msg);

/* Caller's storage; fields are private. */
typedef struct pier_es_decoder {
  pier_buf partial;       /* owned: bytes of the frame in progress (only across feeds) */
  uint32_t frame_len;     /* its checked total_length; 0 while the prelude is incomplete */
  int err;                /* sticky: 0 or the first error */
  pier_es_header headers[PIER_ES_HEADERS_MAX]; /* scratch for the message being delivered */
} pier_es_decoder;

/* frame_bytes_max caps total_length (0 = PIER_ES_FRAME_BYTES_DEFAULT; else >= 16). */
void pier_es_decoder_init(pier_es_decoder *d, size_t frame_bytes_max);
void pier_es_decoder_dispose(pier_es_decoder *d);

/* Consume `len` bytes (borrowed) of a stream, split anywhere. Each frame completed
 * by them is validated and passed to on_message (may be NULL: validate only) before
 * feed returns; an incomplete tail is kept for the next feed. Returns 0, or an
 * error that every later call returns again:
 *   PIER_ECHECKSUM  prelude or message CRC mismatch
 *   PIER_EPROTO     total_length < 16, headers_length > total_length - 16, a header
 *                   running past headers_length, or an unknown header type (> 9)
 *   PIER_ETOOBIG    total_length over the cap, or more than PIER_ES_HEADERS_MAX headers
 *   PIER_ENOMEM, or whatever on_message returned. */
int pier_es_decoder_feed(pier_es_decoder *d, const void *data, size_t len, pier_es_on_message on_message,
                         void *arg) PIER_WUR;

/* At end of stream: 0 if it ended between frames, PIER_EPROTO if it was cut inside
 * one, or the sticky error. */
int pier_es_decoder_finish(pier_es_decoder *d) PIER_WUR;

/* First header named `name` (exact, case-sensitive), or NULL. */
const pier_es_header *pier_es_header_find(const pier_es_message *m, const char *name);
/* Value of the string header `name` (e.g. ":message-type", ":event-type",
 * ":exception-type", ":content-type"); {NULL, 0} if absent or not a string. */
pier_slice pier_es_header_str(const pier_es_message *m, const char *name);

/* Append one frame with these headers (in order) and payload to `out`.
 * PIER_EINVAL for a name over 255 bytes, a type over 9, a UUID not of 16 bytes or a
 * BYTES/STRING value over PIER_ES_ENCODE_VALUE_BYTES_MAX; PIER_ETOOBIG if the frame
 * exceeds 4 GiB or out's cap. On error `out` is left as it was. All inputs borrowed. */
int pier_es_encode(pier_buf *out, const pier_es_header *headers, size_t headers_count,
                   pier_slice payload) PIER_WUR;

#endif
