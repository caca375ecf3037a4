/* slice.h — a borrowed view of bytes {ptr, len}; wire data is always a slice,
 * never a NUL-terminated string, so nothing here calls strlen on it. */
#ifndef PIER_BASE_SLICE_H
#define PIER_BASE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct pier_slice {
  const char *ptr; /* borrowed */
  size_t len;
} pier_slice;

#define PIER_SLICE_LIT(s) ((pier_slice){(s), sizeof(s) - 1})
#define PIER_SLICE_NULL ((pier_slice){NULL, 0})

static inline pier_slice pier_slice_from(const char *cstr) {
  return (pier_slice){cstr, cstr ? strlen(cstr) : 0};
}
static inline pier_slice pier_slice_make(const char *p, size_t n) {
  return (pier_slice){p, n};
}
bool pier_slice_eq(pier_slice a, pier_slice b);
bool pier_slice_eq_cstr(pier_slice a, const char *b);
bool pier_slice_ieq(pier_slice a, pier_slice b);  /* ASCII case-insensitive */
bool pier_slice_ieq_cstr(pier_slice a, const char *b);
bool pier_slice_starts_with(pier_slice a, const char *prefix);
bool pier_slice_istarts_with(pier_slice a, const char *prefix);
pier_slice pier_slice_trim(pier_slice a); /* spaces and tabs at both ends */
/* Parse an unsigned decimal with overflow check; whole slice must be digits. */
int pier_slice_to_u64(pier_slice a, unsigned long long *out);
/* Index of byte c in a, or -1. */
long pier_slice_find(pier_slice a, char c);
/* Copy into a fresh NUL-terminated heap string; caller owns it (NULL on OOM). */
char *pier_slice_dup(pier_slice a);

#endif
