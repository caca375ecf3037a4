/* arena.c — chunked bump allocator; big requests get a chunk of their own. */
#include "base/arena.h"

#include "base/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096

struct pier_arena_chunk {
  pier_arena_chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

struct pier_arena_defer {
  pier_arena_defer *next;
  void (*fn)(void *);
  void *ptr;
};

void pier_arena_init(pier_arena *a) {
  a->head = NULL;
  a->defers = NULL;
  a->used_total = 0;
}

int pier_arena_defer_call(pier_arena *a, void (*fn)(void *), void *ptr) {
  pier_arena_defer *d = pier_arena_alloc(a, sizeof *d);
  if (!d) return PIER_ENOMEM;
  d->fn = fn;
  d->ptr = ptr;
  d->next = a->defers;
  a->defers = d;
  return 0;
}

void pier_arena_dispose(pier_arena *a) {
  for (pier_arena_defer *d = a->defers; d; d = d->next) d->fn(d->ptr);
  a->defers = NULL;
  pier_arena_chunk *c = a->head;
  while (c) {
    pier_arena_chunk *n = c->next;
    free(c);
    c = n;
  }
  a->head = NULL;
  a->used_total = 0;
}

void *pier_arena_alloc(pier_arena *a, size_t n) {
  if (n > SIZE_MAX / 2) return NULL;
  n = (n + 15) & ~(size_t)15;
  pier_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK ? n : CHUNK;
    pier_arena_chunk *nc = malloc(sizeof *nc + cap);
    if (!nc) return NULL;
    nc->used = 0;
    nc->cap = cap;
    if (c && n > CHUNK) { /* keep bumping into the current chunk */
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = c;
      a->head = nc;
    }
    c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  a->used_total += n;
  return p;
}

void *pier_arena_calloc(pier_arena *a, size_t n) {
  void *p = pier_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

char *pier_arena_strdup(pier_arena *a, pier_slice s) {
  char *p = pier_arena_alloc(a, s.len + 1);
  if (!p) return NULL;
  if (s.len) memcpy(p, s.ptr, s.len);
  p[s.len] = '\0';
  return p;
}

char *pier_arena_printf(pier_arena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = n < 0 ? NULL : pier_arena_alloc(a, (size_t)n + 1);
  if (p) vsnprintf(p, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return p;
}
