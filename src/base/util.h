/* util.h — small shared helpers: time stamps, random ids, hashing, hex. */
#ifndef PIER_BASE_UTIL_H
#define PIER_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Wall clock in microseconds since the epoch. */
int64_t pier_now_us(void);
/* Monotonic milliseconds. */
uint64_t pier_mono_ms(void);
/* ISO-8601 UTC with microseconds and Z: "2026-06-07T03:05:58.374055Z" (28 bytes + NUL). */
void pier_iso8601(int64_t us, char out[32]);
/* n random bytes from libsodium. */
void pier_random(void *out, size_t n);
/* Random lowercase [a-z0-9] string of n chars, NUL-terminated (out has n+1). */
void pier_random_alnum(char *out, size_t n);
/* Lowercase hex of n bytes into out (2n+1). */
void pier_hex(const void *in, size_t n, char *out);
/* SHA-256 of bytes, as 64 lowercase hex chars + NUL. */
void pier_sha256_hex(const void *in, size_t n, char out[65]);
/* Parse 2n hex chars into n bytes; PIER_EINVAL on bad input. */
int pier_unhex(const char *hex, size_t hexlen, void *out, size_t n) PIER_WUR;

#endif
