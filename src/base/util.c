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

static void digits(char *p, unsigned v, int n) {
  for (int i = n - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

/* Without gmtime_r and printf (this runs several times per request): days to
 * a civil date with Howard Hinnant's days_from_civil inverse. */
void pier_iso8601(int64_t us, char out[32]) {
  if (us < 0) us = 0;
  int64_t secs = us / 1000000, days = secs / 86400, rem = secs % 86400;
  int64_t z = days + 719468, era = z / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
  digits(out, (unsigned)(y % 10000), 4);
  out[4] = '-';
  digits(out + 5, m, 2);
  out[7] = '-';
  digits(out + 8, d, 2);
  out[10] = 'T';
  digits(out + 11, (unsigned)(rem / 3600), 2);
  out[13] = ':';
  digits(out + 14, (unsigned)(rem / 60 % 60), 2);
  out[16] = ':';
  digits(out + 17, (unsigned)(rem % 60), 2);
  out[19] = '.';
  digits(out + 20, (unsigned)(us % 1000000), 6);
  out[26] = 'Z';
  out[27] = '\0';
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
