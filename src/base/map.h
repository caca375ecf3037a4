/* map.h — string-keyed open-addressing hash map; keys are copied and owned by
 * the map, values are borrowed pointers. Not thread-safe: callers lock. */
#ifndef PIER_BASE_MAP_H
#define PIER_BASE_MAP_H

#include <stddef.h>

#include "base/error.h"
#include "base/slice.h"

typedef struct pier_map_entry {
  char *key; /* owned; NULL = empty slot; (char*)1 = tombstone */
  size_t klen;
  void *value;
} pier_map_entry;

typedef struct pier_map {
  pier_map_entry *slots;
  size_t cap, count, used; /* used = count + tombstones */
} pier_map;

void pier_map_init(pier_map *m);
/* Frees keys; calls free_value on each value when non-NULL. */
void pier_map_dispose(pier_map *m, void (*free_value)(void *));
void *pier_map_get(const pier_map *m, pier_slice key);
/* Insert or replace; the previous value (or NULL) goes to *old when old != NULL. */
int pier_map_put(pier_map *m, pier_slice key, void *value, void **old) PIER_WUR;
/* Remove; returns the value or NULL. */
void *pier_map_del(pier_map *m, pier_slice key);
/* Iterate: i from 0; returns false at the end. */
int pier_map_next(const pier_map *m, size_t *i, pier_slice *key, void **value);

#endif
