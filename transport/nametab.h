/* nametab.h - a chained hash table keyed by a byte string: the tables of
 * global names (global.c) and of process groups (group.c).  Intrusive: an
 * entry embeds an acto__nament as its first member, whose key points into
 * the entry (its name).  The table only links and finds; its owner
 * allocates, frees and locks (both owners: a mutex for writers and a
 * rwlock around each change, DESIGN in global.c and group.c).  Internal.
 */
#ifndef ACTO_TRANSPORT_NAMETAB_H
#define ACTO_TRANSPORT_NAMETAB_H

#include <stddef.h>
#include <stdint.h>

#include "actor/registry.h"

typedef struct acto__nament {
  struct acto__nament *next;
  uint64_t hash; /* acto__name_hash(key, len), actor/registry.h */
  size_t len;
  const char *key; /* len bytes, owned by the entry */
} acto__nament;

typedef struct acto__nametab {
  acto__nament **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
} acto__nametab;

/* 0 or ACTO_ENOMEM. */
int acto__nametab_init(acto__nametab *t);
/* The link that holds the entry of key (h its hash), or the empty link
 * at the end of its chain: *result is the entry or NULL. */
acto__nament **acto__nametab_find(acto__nametab *t, const char *key, size_t len, uint64_t h);
/* Links e (key, len and hash set; not in the table); grows the table
 * past one entry per bucket (when memory allows: else the chains grow). */
void acto__nametab_link(acto__nametab *t, acto__nament *e);
/* Unlinks the entry *pp (a link found by find or a walk) and returns it. */
acto__nament *acto__nametab_unlink(acto__nametab *t, acto__nament **pp);
/* Frees the buckets; each entry is first given to free_entry. */
void acto__nametab_free(acto__nametab *t, void (*free_entry)(acto__nament *e));

#endif /* ACTO_TRANSPORT_NAMETAB_H */
