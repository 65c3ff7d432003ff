/* registry.h - names of actors. */
#ifndef ACTO_REGISTRY_H
#define ACTO_REGISTRY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"

typedef struct acto__reg_entry acto__reg_entry;

#define ACTO__EXIT_SLOTS 2 /* acto__actor_watch's layers (remote.h) */

typedef struct acto__registry {
  pthread_mutex_t mtx;
  acto__reg_entry **buckets;
  size_t nbuckets;
  size_t count;
  /* What acto__actor_watch calls per slot; under mtx. */
  void (*exit_fn[ACTO__EXIT_SLOTS])(acto_system *sys, acto_ref ref);
} acto__registry;

/* FNV-1a, 64 bits, of a name's n bytes: the registry's buckets, and the
 * cluster's name tables (transport/nametab.h). */
uint64_t acto__name_hash(const char *s, size_t n);

int acto__registry_init(acto__registry *r);
void acto__registry_destroy(acto__registry *r);

#endif /* ACTO_REGISTRY_H */
