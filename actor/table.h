/* table.h - the actor table: slot index + generation -> actor block. */
#ifndef ACTO_TABLE_H
#define ACTO_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define ACTO__TABLE_CHUNK_BITS 16
#define ACTO__TABLE_CHUNK (1u << ACTO__TABLE_CHUNK_BITS)
#define ACTO__TABLE_MAX_CHUNKS 256 /* 16,777,216 slots */

struct acto__actor;

typedef struct acto__slot {
  _Atomic(struct acto__actor *) actor;
  uint32_t gen;       /* table mutex */
  uint32_t next_free; /* table mutex; index + 1, 0 ends the list */
} acto__slot;

typedef struct acto__table {
  pthread_mutex_t mtx;
  _Atomic(acto__slot *) chunks[ACTO__TABLE_MAX_CHUNKS];
  uint32_t nslots;    /* slots handed out so far (mtx) */
  uint32_t free_head; /* index + 1 of the first free slot (mtx) */
  uint32_t max_slots;
} acto__table;

int acto__table_init(acto__table *t, uint32_t max_slots);
void acto__table_destroy(acto__table *t);
/* Assigns a slot and returns the new id (generation << 32 | index), or 0
 * when the table is full (ACTO_ELIMIT) or out of memory. */
uint64_t acto__table_insert(acto__table *t, struct acto__actor *a, int *err);
/* Clears the slot of id (if it still holds a) and frees it for reuse. */
void acto__table_remove(acto__table *t, uint64_t id);
/* The block in id's slot, or NULL; the caller checks the id. */
struct acto__actor *acto__table_get(acto__table *t, uint64_t id);
/* Calls fn for each occupied slot with index in [*from, *from + n), under
 * the table mutex; advances *from.  Returns the number of calls, or -1
 * when *from was already past the last slot. */
long acto__table_each(acto__table *t, uint32_t *from, uint32_t n,
                      void (*fn)(struct acto__actor *, void *), void *arg);

#endif /* ACTO_TABLE_H */
