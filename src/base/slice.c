/* slice.c — comparisons and conversions on borrowed byte views. */
#include "base/slice.h"

#include <limits.h>
#include <stdlib.h>

#include "base/error.h"

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

bool pier_slice_eq(pier_slice a, pier_slice b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
bool pier_slice_eq_cstr(pier_slice a, const char *b) {
  return pier_slice_eq(a, pier_slice_from(b));
}
bool pier_slice_ieq(pier_slice a, pier_slice b) {
  if (a.len != b.len) return false;
  for (size_t i = 0; i < a.len; i++)
    if (lower((unsigned char)a.ptr[i]) != lower((unsigned char)b.ptr[i])) return false;
  return true;
}
bool pier_slice_ieq_cstr(pier_slice a, const char *b) {
  return pier_slice_ieq(a, pier_slice_from(b));
}
bool pier_slice_starts_with(pier_slice a, const char *prefix) {
  size_t n = strlen(prefix);
  return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}
bool pier_slice_istarts_with(pier_slice a, const char *prefix) {
  size_t n = strlen(prefix);
  return a.len >= n && pier_slice_ieq(pier_slice_make(a.ptr, n), pier_slice_make(prefix, n));
}
pier_slice pier_slice_trim(pier_slice a) {
  while (a.len && (a.ptr[0] == ' ' || a.ptr[0] == '\t')) a.ptr++, a.len--;
  while (a.len && (a.ptr[a.len - 1] == ' ' || a.ptr[a.len - 1] == '\t')) a.len--;
  return a;
}
int pier_slice_to_u64(pier_slice a, unsigned long long *out) {
  unsigned long long v = 0;
  if (a.len == 0 || a.len > 20) return PIER_EINVAL;
  for (size_t i = 0; i < a.len; i++) {
    unsigned d = (unsigned char)a.ptr[i] - '0';
    if (d > 9) return PIER_EINVAL;
    if (v > (ULLONG_MAX - d) / 10) return PIER_ETOOBIG;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}
long pier_slice_find(pier_slice a, char c) {
  const char *p = a.len ? memchr(a.ptr, c, a.len) : NULL;
  return p ? (long)(p - a.ptr) : -1;
}
char *pier_slice_dup(pier_slice a) {
  char *s = malloc(a.len + 1);
  if (!s) return NULL;
  if (a.len) memcpy(s, a.ptr, a.len);
  s[a.len] = '\0';
  return s;
}
