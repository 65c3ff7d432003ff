/* registry.h - names of actors. */
#ifndef ACTO_REGISTRY_H
#define ACTO_REGISTRY_H

#include <pthread.h>
#include <stddef.h>

#include "acto_actor.h"

typedef struct acto__reg_entry acto__reg_entry;

typedef struct acto__registry {
  pthread_mutex_t mtx;
  acto__reg_entry **buckets;
  size_t nbuckets;
  size_t count;
} acto__registry;

int acto__registry_init(acto__registry *r);
void acto__registry_destroy(acto__registry *r);

#endif /* ACTO_REGISTRY_H */
