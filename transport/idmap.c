/* idmap.c - the id map (idmap.h). */
#include "transport/idmap.h"

#include <stdlib.h>

#include "acto_error.h"

static size_t slot_of(uint64_t key, size_t cap) {
  /* A multiplicative hash: actor ids differ mostly in their low bits. */
  return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

void *acto__idmap_get(const acto__idmap *m, uint64_t key) {
  if (m->n == 0 || key == 0)
    return NULL;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->slots[i].key == key)
      return m->slots[i].val;
    if (m->slots[i].key == 0)
      return NULL;
  }
}

static void place(acto__idmap_slot *slots, size_t cap, uint64_t key, void *val) {
  size_t i = slot_of(key, cap);
  while (slots[i].key != 0 && slots[i].key != key)
    i = (i + 1) & (cap - 1);
  slots[i].key = key;
  slots[i].val = val;
}

int acto__idmap_put(acto__idmap *m, uint64_t key, void *val) {
  if (key == 0 || !val)
    return ACTO_EINVAL;
  if ((m->n + 1) * 4 > m->cap * 3) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    acto__idmap_slot *s = calloc(cap, sizeof *s);
    if (!s)
      return ACTO_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
      if (m->slots[i].key)
        place(s, cap, m->slots[i].key, m->slots[i].val);
    free(m->slots);
    m->slots = s;
    m->cap = cap;
  }
  if (!acto__idmap_get(m, key))
    m->n++;
  place(m->slots, m->cap, key, val);
  return 0;
}

void *acto__idmap_del(acto__idmap *m, uint64_t key) {
  if (m->n == 0 || key == 0)
    return NULL;
  size_t mask = m->cap - 1, i = slot_of(key, m->cap);
  while (m->slots[i].key != key) {
    if (m->slots[i].key == 0)
      return NULL;
    i = (i + 1) & mask;
  }
  void *val = m->slots[i].val;
  /* Backward shift: move each later entry of the run into the hole when
   * its home slot does not lie (cyclically) between the hole and it. */
  size_t hole = i;
  for (size_t j = (i + 1) & mask; m->slots[j].key != 0; j = (j + 1) & mask) {
    size_t home = slot_of(m->slots[j].key, m->cap);
    int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!between) {
      m->slots[hole] = m->slots[j];
      hole = j;
    }
  }
  m->slots[hole].key = 0;
  m->slots[hole].val = NULL;
  m->n--;
  return val;
}

void acto__idmap_each(const acto__idmap *m, void (*fn)(void *arg, uint64_t key, void *val),
                      void *arg) {
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key)
      fn(arg, m->slots[i].key, m->slots[i].val);
}

void acto__idmap_free(acto__idmap *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}
