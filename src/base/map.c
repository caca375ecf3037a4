/* map.c — linear probing with tombstones, FNV-1a hashing, resize at 70%. */
#include "base/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOMB ((char *)1)

static uint64_t hash(pier_slice k) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < k.len; i++) h = (h ^ (unsigned char)k.ptr[i]) * 1099511628211ULL;
  return h;
}

void pier_map_init(pier_map *m) { memset(m, 0, sizeof *m); }

void pier_map_dispose(pier_map *m, void (*free_value)(void *)) {
  for (size_t i = 0; i < m->cap; i++) {
    pier_map_entry *e = &m->slots[i];
    if (e->key && e->key != TOMB) {
      free(e->key);
      if (free_value) free_value(e->value);
    }
  }
  free(m->slots);
  memset(m, 0, sizeof *m);
}

static pier_map_entry *find(const pier_map *m, pier_slice k, pier_map_entry **tomb) {
  if (!m->cap) return NULL;
  size_t i = hash(k) & (m->cap - 1);
  for (;;) {
    pier_map_entry *e = &m->slots[i];
    if (!e->key) return NULL;
    if (e->key == TOMB) {
      if (tomb && !*tomb) *tomb = e;
    } else if (e->klen == k.len && memcmp(e->key, k.ptr, k.len) == 0) {
      return e;
    }
    i = (i + 1) & (m->cap - 1);
  }
}

static int grow(pier_map *m) {
  size_t ncap = m->cap ? m->cap * 2 : 16;
  pier_map_entry *old = m->slots;
  size_t ocap = m->cap;
  m->slots = calloc(ncap, sizeof *m->slots);
  if (!m->slots) {
    m->slots = old;
    return PIER_ENOMEM;
  }
  m->cap = ncap;
  m->count = m->used = 0;
  for (size_t i = 0; i < ocap; i++) {
    if (!old[i].key || old[i].key == TOMB) continue;
    size_t j = hash(pier_slice_make(old[i].key, old[i].klen)) & (ncap - 1);
    while (m->slots[j].key) j = (j + 1) & (ncap - 1);
    m->slots[j] = old[i];
    m->count++, m->used++;
  }
  free(old);
  return 0;
}

void *pier_map_get(const pier_map *m, pier_slice key) {
  pier_map_entry *e = find(m, key, NULL);
  return e ? e->value : NULL;
}

int pier_map_put(pier_map *m, pier_slice key, void *value, void **old) {
  if (old) *old = NULL;
  pier_map_entry *e = find(m, key, NULL);
  if (e) {
    if (old) *old = e->value;
    e->value = value;
    return 0;
  }
  if ((m->used + 1) * 10 >= m->cap * 7) {
    int rc = grow(m);
    if (rc) return rc;
  }
  pier_map_entry *tomb = NULL;
  find(m, key, &tomb);
  char *k = malloc(key.len + 1);
  if (!k) return PIER_ENOMEM;
  memcpy(k, key.ptr, key.len);
  k[key.len] = '\0';
  if (!tomb) {
    size_t i = hash(key) & (m->cap - 1);
    while (m->slots[i].key) i = (i + 1) & (m->cap - 1);
    tomb = &m->slots[i];
    m->used++;
  }
  tomb->key = k;
  tomb->klen = key.len;
  tomb->value = value;
  m->count++;
  return 0;
}

void *pier_map_del(pier_map *m, pier_slice key) {
  pier_map_entry *e = find(m, key, NULL);
  if (!e) return NULL;
  void *v = e->value;
  free(e->key);
  e->key = TOMB;
  e->value = NULL;
  m->count--;
  return v;
}

int pier_map_next(const pier_map *m, size_t *i, pier_slice *key, void **value) {
  while (*i < m->cap) {
    pier_map_entry *e = &m->slots[(*i)++];
    if (e->key && e->key != TOMB) {
      if (key) *key = pier_slice_make(e->key, e->klen);
      if (value) *value = e->value;
      return 1;
    }
  }
  return 0;
}
