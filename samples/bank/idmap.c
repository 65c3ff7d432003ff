/* idmap.c - a hash map from 64-bit ids (never 0) to 64-bit values, with
 * open addressing and linear probing; no removal.  The accounts use it for
 * the operation ids they applied, the coordinators for their transfers,
 * check.c for everything it cross-references. */
#include <stdlib.h>

#include "bank.h"

static size_t idmap_slot(uint64_t key, size_t cap) {
  key ^= key >> 33; /* the splitmix64 finaliser: ids are sequential */
  key *= UINT64_C(0xff51afd7ed558ccd);
  key ^= key >> 33;
  key *= UINT64_C(0xc4ceb9fe1a85ec53);
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

static int idmap_grow(bank_map *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  uint64_t *keys = calloc(cap, sizeof *keys), *vals = malloc(cap * sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return ACTO_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t s = idmap_slot(m->keys[i], cap);
    while (keys[s]) s = (s + 1) & (cap - 1);
    keys[s] = m->keys[i];
    vals[s] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

int bank_map_put(bank_map *m, uint64_t key, uint64_t val) {
  if (key == 0) return ACTO_EINVAL;
  if ((m->n + 1) * 4 > m->cap * 3) { /* load factor 3/4 */
    int rc = idmap_grow(m);
    if (rc < 0) return rc;
  }
  size_t s = idmap_slot(key, m->cap);
  while (m->keys[s]) {
    if (m->keys[s] == key) return 1;
    s = (s + 1) & (m->cap - 1);
  }
  m->keys[s] = key;
  m->vals[s] = val;
  m->n++;
  return 0;
}

int bank_map_get(const bank_map *m, uint64_t key, uint64_t *val) {
  if (key == 0 || m->cap == 0) return 0;
  size_t s = idmap_slot(key, m->cap);
  while (m->keys[s]) {
    if (m->keys[s] == key) {
      if (val) *val = m->vals[s];
      return 1;
    }
    s = (s + 1) & (m->cap - 1);
  }
  return 0;
}

void bank_map_free(bank_map *m) {
  free(m->keys);
  free(m->vals);
  m->keys = m->vals = NULL;
  m->cap = m->n = 0;
}
