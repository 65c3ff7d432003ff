/* nametab.c - the chained hash table of nametab.h.  Single-threaded: the
 * owner holds its locks around every call. */
#include "transport/nametab.h"

#include <stdlib.h>
#include <string.h>

#include "acto_error.h"

#define FIRST_BUCKETS 64u

int acto__nametab_init(acto__nametab *t) {
  t->count = 0;
  t->nbuckets = FIRST_BUCKETS;
  t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
  return t->buckets ? 0 : ACTO_ENOMEM;
}

acto__nament **acto__nametab_find(acto__nametab *t, const char *key, size_t len, uint64_t h) {
  acto__nament **pp = &t->buckets[h & (t->nbuckets - 1)];
  while (*pp && ((*pp)->hash != h || (*pp)->len != len || memcmp((*pp)->key, key, len) != 0))
    pp = &(*pp)->next;
  return pp;
}

static void grow(acto__nametab *t) {
  size_t nb = t->nbuckets * 2;
  acto__nament **b = calloc(nb, sizeof *b);
  if (!b)
    return; /* longer chains: slower, still correct */
  for (size_t i = 0; i < t->nbuckets; i++) {
    acto__nament *e = t->buckets[i];
    while (e) {
      acto__nament *next = e->next;
      e->next = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
      e = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
}

void acto__nametab_link(acto__nametab *t, acto__nament *e) {
  acto__nament **b = &t->buckets[e->hash & (t->nbuckets - 1)];
  e->next = *b;
  *b = e;
  if (++t->count > t->nbuckets)
    grow(t);
}

acto__nament *acto__nametab_unlink(acto__nametab *t, acto__nament **pp) {
  acto__nament *e = *pp;
  *pp = e->next;
  e->next = NULL;
  t->count--;
  return e;
}

void acto__nametab_free(acto__nametab *t, void (*free_entry)(acto__nament *e)) {
  for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
    acto__nament *e = t->buckets[i];
    while (e) {
      acto__nament *next = e->next;
      free_entry(e);
      e = next;
    }
  }
  free(t->buckets);
  t->buckets = NULL;
  t->nbuckets = t->count = 0;
}
