/* util.c — time, randomness and hashing on top of libsodium and libc. */
#include "base/util.h"

#include <sodium.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

int64_t pier_now_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

uint64_t pier_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void pier_iso8601(int64_t us, char out[32]) {
  if (us < 0) us = 0;
  time_t secs = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  unsigned year = (unsigned)(tm.tm_year + 1900) % 10000u;
  snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%06uZ", year, (unsigned)(tm.tm_mon + 1) % 100u,
           (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
           (unsigned)tm.tm_sec % 100u, (unsigned)(us % 1000000));
}

void pier_random(void *out, size_t n) { randombytes_buf(out, n); }

/* One randombytes_buf for the whole id (not one syscall per character):
 * bytes below 252 = 7 * 36 map uniformly with % 36; the rare others are
 * drawn again. */
void pier_random_alnum(char *out, size_t n) {
  static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char raw[64];
  size_t i = 0;
  while (i < n) {
    size_t want = n - i < sizeof raw ? n - i : sizeof raw;
    randombytes_buf(raw, want);
    for (size_t k = 0; k < want; k++)
      if (raw[k] < 252) out[i++] = set[raw[k] % 36];
  }
  sodium_memzero(raw, sizeof raw);
  out[n] = '\0';
}

void pier_hex(const void *in, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  const unsigned char *p = in;
  for (size_t i = 0; i < n; i++) out[2 * i] = hx[p[i] >> 4], out[2 * i + 1] = hx[p[i] & 15];
  out[2 * n] = '\0';
}

void pier_sha256_hex(const void *in, size_t n, char out[65]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, in, n);
  pier_hex(h, sizeof h, out);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int pier_unhex(const char *hex, size_t hexlen, void *out, size_t n) {
  if (hexlen != 2 * n) return PIER_EINVAL;
  unsigned char *o = out;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return PIER_EINVAL;
    o[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}
