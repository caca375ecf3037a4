/* arena.h — bump allocator for one request or one step: many small allocations,
 * one free at the end. Nothing allocated here outlives its owner. */
#ifndef PIER_BASE_ARENA_H
#define PIER_BASE_ARENA_H

#include <stddef.h>

#include "base/slice.h"

typedef struct pier_arena_chunk pier_arena_chunk;
typedef struct pier_arena_defer pier_arena_defer;
typedef struct pier_arena {
  pier_arena_chunk *head;
  pier_arena_defer *defers; /* run in reverse order at dispose */
  size_t used_total;
} pier_arena;

void pier_arena_init(pier_arena *a);
void pier_arena_dispose(pier_arena *a);
/* 16-byte aligned; NULL on OOM. */
void *pier_arena_alloc(pier_arena *a, size_t n);
void *pier_arena_calloc(pier_arena *a, size_t n);
/* NUL-terminated copy of a slice. */
char *pier_arena_strdup(pier_arena *a, pier_slice s);
/* Run fn(ptr) when the arena is disposed (e.g. cJSON_Delete of a parsed body).
 * Returns PIER_ENOMEM (and runs nothing) when the record cannot be allocated. */
int pier_arena_defer_call(pier_arena *a, void (*fn)(void *), void *ptr);
char *pier_arena_printf(pier_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
