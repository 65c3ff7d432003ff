/* idmap.h - a map from non-zero 64-bit ids (actor ids) to pointers: open
 * addressing with linear probing, deletion by backward shift, grown at
 * 3/4 load.  The flow control keeps its busy targets in one (outq.c, the
 * sender's side; area.c, the receiver's).
 *
 * Thread ownership: none of its own; the owner's lock or thread guards a
 * map.  Memory: the map owns its slot array, never the values.
 */
#ifndef ACTO_IDMAP_H
#define ACTO_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct acto__idmap_slot {
  uint64_t key; /* 0: empty */
  void *val;
} acto__idmap_slot;

typedef struct acto__idmap {
  acto__idmap_slot *slots;
  size_t cap; /* 0 or a power of two */
  size_t n;
} acto__idmap;

/* The value of key, or NULL. */
void *acto__idmap_get(const acto__idmap *m, uint64_t key);
/* Sets key (non-zero) to val (non-NULL).  0 or ACTO_ENOMEM (m unchanged). */
int acto__idmap_put(acto__idmap *m, uint64_t key, void *val);
/* Removes key; returns its value or NULL. */
void *acto__idmap_del(acto__idmap *m, uint64_t key);
/* Calls fn for every entry (fn must not change m). */
void acto__idmap_each(const acto__idmap *m, void (*fn)(void *arg, uint64_t key, void *val),
                      void *arg);
/* Frees the slot array; m is empty and reusable. */
void acto__idmap_free(acto__idmap *m);

#endif /* ACTO_IDMAP_H */
