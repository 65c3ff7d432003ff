/* table.c - the actor table.
 *
 * DESIGN
 * Slots live in chunks of 65,536 that are allocated on demand and never
 * move, so a lookup is two loads without a lock.  A ref's id is the slot's
 * generation in the high 32 bits and its index in the low 32; the
 * generation starts at 1 and grows each time the slot is reused, so id 0
 * is never valid and an old ref never names a newer actor.  Inserting and
 * removing take the mutex (spawn and stop, not the send path).  A lookup
 * returns whatever block the slot holds; the caller (actor.c) then checks
 * the block's own id after taking a reference.
 */
#include <stdlib.h>

#include "acto_error.h"
#include "actor/table.h"

int acto__table_init(acto__table *t, uint32_t max_slots) {
  for (unsigned i = 0; i < ACTO__TABLE_MAX_CHUNKS; i++)
    atomic_init(&t->chunks[i], NULL);
  t->nslots = 0;
  t->free_head = 0;
  t->max_slots = max_slots;
  return pthread_mutex_init(&t->mtx, NULL) == 0 ? 0 : -1;
}

void acto__table_destroy(acto__table *t) {
  for (unsigned i = 0; i < ACTO__TABLE_MAX_CHUNKS; i++)
    free(atomic_load_explicit(&t->chunks[i], memory_order_relaxed));
  pthread_mutex_destroy(&t->mtx);
}

static acto__slot *slot_at(acto__table *t, uint32_t idx) {
  /* acquire: pairs with the release that published the chunk. */
  acto__slot *c = atomic_load_explicit(&t->chunks[idx >> ACTO__TABLE_CHUNK_BITS],
                                       memory_order_acquire);
  return c ? &c[idx & (ACTO__TABLE_CHUNK - 1)] : NULL;
}

uint64_t acto__table_insert(acto__table *t, struct acto__actor *a, int *err) {
  pthread_mutex_lock(&t->mtx);
  uint32_t idx;
  acto__slot *s;
  if (t->free_head) {
    idx = t->free_head - 1;
    s = slot_at(t, idx);
    t->free_head = s->next_free;
  } else {
    if (t->nslots >= t->max_slots) {
      pthread_mutex_unlock(&t->mtx);
      *err = ACTO_ELIMIT;
      return 0;
    }
    idx = t->nslots;
    unsigned ci = idx >> ACTO__TABLE_CHUNK_BITS;
    if (!atomic_load_explicit(&t->chunks[ci], memory_order_relaxed)) {
      acto__slot *c = calloc(ACTO__TABLE_CHUNK, sizeof(acto__slot));
      if (!c) {
        pthread_mutex_unlock(&t->mtx);
        *err = ACTO_ENOMEM;
        return 0;
      }
      /* release: lock-free readers see the zeroed slots. */
      atomic_store_explicit(&t->chunks[ci], c, memory_order_release);
    }
    t->nslots++;
    s = slot_at(t, idx);
  }
  s->gen++;
  if (s->gen == 0)
    s->gen = 1;
  uint64_t id = ((uint64_t)s->gen << 32) | idx;
  s->next_free = 0;
  /* release: the block was initialised (its id stored) before this. */
  atomic_store_explicit(&s->actor, a, memory_order_release);
  pthread_mutex_unlock(&t->mtx);
  return id;
}

void acto__table_remove(acto__table *t, uint64_t id) {
  uint32_t idx = (uint32_t)id;
  pthread_mutex_lock(&t->mtx);
  acto__slot *s = idx < t->nslots ? slot_at(t, idx) : NULL;
  if (s && s->gen == (uint32_t)(id >> 32)) {
    atomic_store_explicit(&s->actor, NULL, memory_order_release);
    s->next_free = t->free_head;
    t->free_head = idx + 1;
  }
  pthread_mutex_unlock(&t->mtx);
}

struct acto__actor *acto__table_get(acto__table *t, uint64_t id) {
  uint32_t idx = (uint32_t)id;
  if (idx >= ACTO__TABLE_MAX_CHUNKS * ACTO__TABLE_CHUNK)
    return NULL;
  acto__slot *s = slot_at(t, idx);
  if (!s)
    return NULL;
  /* acquire: pairs with the release in insert. */
  return atomic_load_explicit(&s->actor, memory_order_acquire);
}

long acto__table_each(acto__table *t, uint32_t *from, uint32_t n,
                      void (*fn)(struct acto__actor *, void *), void *arg) {
  pthread_mutex_lock(&t->mtx);
  if (*from >= t->nslots) {
    pthread_mutex_unlock(&t->mtx);
    return -1;
  }
  uint32_t end = t->nslots - *from < n ? t->nslots : *from + n;
  long calls = 0;
  for (uint32_t i = *from; i < end; i++) {
    struct acto__actor *a = atomic_load_explicit(&slot_at(t, i)->actor, memory_order_relaxed);
    if (a) {
      fn(a, arg);
      calls++;
    }
  }
  *from = end;
  pthread_mutex_unlock(&t->mtx);
  return calls;
}
