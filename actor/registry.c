/* registry.c - names for actors.
 *
 * DESIGN
 * A chained hash table under one mutex (registration is not a hot path;
 * lookups are short).  An actor has at most one name, kept in its ext so
 * that finalisation can release it; register and finalisation both hold
 * the registry mutex while they look at the actor's closed flag and name,
 * so a name is never left behind by an actor that stopped concurrently.
 * A name whose actor is no longer alive counts as released at once (lookup
 * and register check liveness), so that it is free as soon as
 * acto_alive says the actor is gone, not only after finalisation.
 * Watches of an actor's end (acto__actor_watch, for the cluster layers
 * outside actor/) live here for the same reason: watch and finalisation
 * both look at the closed flag and the actor's watch bits under the
 * registry mutex, so an actor is either refused (ESTALE) or its watcher
 * is called exactly once; the calls happen after the mutex is released.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"

struct acto__reg_entry {
  acto__reg_entry *next;
  acto_ref ref;
  size_t len;
  char name[];
};

uint64_t acto__name_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

int acto__registry_init(acto__registry *r) {
  r->nbuckets = 64;
  r->count = 0;
  for (unsigned i = 0; i < ACTO__EXIT_SLOTS; i++)
    r->exit_fn[i] = NULL;
  r->buckets = calloc(r->nbuckets, sizeof(*r->buckets));
  if (!r->buckets)
    return -1;
  return pthread_mutex_init(&r->mtx, NULL) == 0 ? 0 : -1;
}

void acto__registry_destroy(acto__registry *r) {
  for (size_t i = 0; i < r->nbuckets; i++) {
    acto__reg_entry *e = r->buckets[i];
    while (e) {
      acto__reg_entry *next = e->next;
      free(e);
      e = next;
    }
  }
  free(r->buckets);
  pthread_mutex_destroy(&r->mtx);
}

static int valid_name(const char *name, size_t *len) {
  if (!name)
    return 0;
  size_t n = strnlen(name, ACTO_NAME_MAX + 1);
  if (n == 0 || n > ACTO_NAME_MAX)
    return 0;
  *len = n;
  return 1;
}

static acto__reg_entry **find(acto__registry *r, const char *name, size_t len) {
  acto__reg_entry **pp = &r->buckets[acto__name_hash(name, len) % r->nbuckets];
  while (*pp && ((*pp)->len != len || memcmp((*pp)->name, name, len) != 0))
    pp = &(*pp)->next;
  return pp;
}

static void grow(acto__registry *r) {
  size_t nb = r->nbuckets * 2;
  acto__reg_entry **b = calloc(nb, sizeof(*b));
  if (!b)
    return; /* stay at the current size: slower, still correct */
  for (size_t i = 0; i < r->nbuckets; i++) {
    acto__reg_entry *e = r->buckets[i];
    while (e) {
      acto__reg_entry *next = e->next;
      size_t k = acto__name_hash(e->name, e->len) % nb;
      e->next = b[k];
      b[k] = e;
      e = next;
    }
  }
  free(r->buckets);
  r->buckets = b;
  r->nbuckets = nb;
}

/* Whether name can be taken: unused, or still held by an actor that has
 * already stopped (its finalisation drops the entry a moment later; the
 * name counts as released as soon as the actor is no longer alive).
 * Caller holds r->mtx. */
static int name_free(acto_system *sys, acto__registry *r, const char *name, size_t len) {
  acto__reg_entry **pp = find(r, name, len);
  acto__reg_entry *e = *pp;
  if (!e)
    return 1;
  acto__actor *a = acto__actor_acquire(sys, e->ref);
  if (a) {
    acto__actor_release(a);
    return 0;
  }
  *pp = e->next;
  r->count--;
  free(e);
  return 1;
}

int acto_register(acto_system *sys, const char *name, acto_ref ref) {
  size_t len;
  if (!sys || !valid_name(name, &len))
    return ACTO_EINVAL;
  if (acto__system_validate_ref(sys, ref) != 0)
    return ACTO_ESTALE;
  if (!acto__ref_local(sys, ref))
    return ACTO_EINVAL; /* names are registered on the actor's own node */
  acto__registry *r = &sys->registry;
  acto__actor *a = acto__actor_acquire(sys, ref);
  if (!a)
    return ACTO_ESTALE;
  int rc = 0;
  pthread_mutex_lock(&r->mtx);
  if (atomic_load_explicit(&a->mb.closed, memory_order_seq_cst)) {
    rc = ACTO_ESTALE;
  } else if (acto__actor_ext_peek(a) && acto__actor_ext_peek(a)->name) {
    rc = ACTO_EALREADY; /* one name per actor */
  } else if (!name_free(sys, r, name, len)) {
    rc = ACTO_EEXIST;
  } else {
    acto__reg_entry *e = malloc(sizeof(*e) + len + 1);
    acto__actor_ext *ext = acto__actor_ext_get(a);
    char *copy = malloc(len + 1);
    if (!e || !ext || !copy) {
      free(e);
      free(copy);
      rc = ACTO_ENOMEM;
    } else {
      memcpy(e->name, name, len);
      e->name[len] = '\0';
      memcpy(copy, name, len + 1);
      e->len = len;
      e->ref = ref;
      acto__reg_entry **b = &r->buckets[acto__name_hash(name, len) % r->nbuckets];
      e->next = *b;
      *b = e;
      ext->name = copy;
      if (++r->count > r->nbuckets * 2)
        grow(r);
    }
  }
  pthread_mutex_unlock(&r->mtx);
  acto__actor_release(a);
  return rc;
}

int acto_unregister(acto_system *sys, const char *name) {
  size_t len;
  if (!sys || !valid_name(name, &len))
    return ACTO_EINVAL;
  acto__registry *r = &sys->registry;
  pthread_mutex_lock(&r->mtx);
  acto__reg_entry **pp = find(r, name, len);
  acto__reg_entry *e = *pp;
  if (!e) {
    pthread_mutex_unlock(&r->mtx);
    return ACTO_ENOENT;
  }
  *pp = e->next;
  r->count--;
  acto__actor *a = acto__actor_acquire(sys, e->ref);
  if (a) {
    acto__actor_ext *ext = acto__actor_ext_peek(a);
    if (ext && ext->name) {
      free(ext->name);
      ext->name = NULL;
    }
    acto__actor_release(a);
  }
  pthread_mutex_unlock(&r->mtx);
  free(e);
  return 0;
}

int acto_lookup(acto_system *sys, const char *name, acto_ref *out) {
  size_t len;
  if (!sys || !out || !valid_name(name, &len))
    return ACTO_EINVAL;
  acto__registry *r = &sys->registry;
  pthread_mutex_lock(&r->mtx);
  int rc = name_free(sys, r, name, len) ? ACTO_ENOENT : 0;
  if (rc == 0)
    *out = (*find(r, name, len))->ref;
  pthread_mutex_unlock(&r->mtx);
  return rc;
}

int acto__actor_watch(acto_system *sys, acto_ref ref, unsigned slot, acto__exit_fn fn) {
  if (!sys || slot >= ACTO__EXIT_SLOTS || !fn || !acto__ref_local(sys, ref))
    return ACTO_EINVAL;
  acto__actor *a = acto__actor_acquire(sys, ref);
  if (!a)
    return ACTO_ESTALE;
  acto__registry *r = &sys->registry;
  int rc = 0;
  pthread_mutex_lock(&r->mtx);
  acto__actor_ext *ext = NULL;
  if (atomic_load_explicit(&a->mb.closed, memory_order_seq_cst)) {
    rc = ACTO_ESTALE; /* seq_cst: as acto_register's check (actor_close's store) */
  } else if (!(ext = acto__actor_ext_get(a))) {
    rc = ACTO_ENOMEM;
  } else {
    r->exit_fn[slot] = fn;
    ext->exit_watch |= (uint8_t)(1u << slot);
  }
  pthread_mutex_unlock(&r->mtx);
  acto__actor_release(a);
  return rc;
}

void acto__registry_drop_actor(acto_system *sys, acto__actor *a) {
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  if (!ext)
    return;
  acto__registry *r = &sys->registry;
  acto__reg_entry *e = NULL;
  acto__exit_fn fns[ACTO__EXIT_SLOTS] = {0};
  pthread_mutex_lock(&r->mtx);
  for (unsigned i = 0; i < ACTO__EXIT_SLOTS; i++)
    if (ext->exit_watch & (1u << i))
      fns[i] = r->exit_fn[i];
  ext->exit_watch = 0;
  char *name = ext->name;
  ext->name = NULL;
  if (name) {
    acto__reg_entry **pp = find(r, name, strlen(name));
    e = *pp;
    if (e && acto_ref_eq(e->ref, acto__actor_ref(a))) {
      *pp = e->next;
      r->count--;
    } else {
      e = NULL;
    }
  }
  pthread_mutex_unlock(&r->mtx);
  free(name);
  free(e);
  for (unsigned i = 0; i < ACTO__EXIT_SLOTS; i++)
    if (fns[i])
      fns[i](sys, acto__actor_ref(a));
}
