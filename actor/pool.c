/* pool.c - type-stable actor blocks.
 *
 * DESIGN
 * Actor blocks are carved from 64 KiB slabs per size class (multiples of
 * 64 bytes) and, once freed, go onto the class's free list; they return to
 * the system allocator only when the system is destroyed.  This is what
 * makes a stale actor pointer safe to read (actor.c, acto__actor_acquire):
 * the memory is always an actor block, so a sender can look at its rc and
 * id and back out.  Blocks larger than 4 KiB are allocated one by one but
 * are likewise kept (class 255) on their own list per exact size via the
 * large list, never freed before destroy.  Blocks are NOT zeroed here: a
 * stale reader may be looking at rc while the block is reused, so the
 * caller initialises the fields explicitly (rc with an atomic store).  Slabs also avoid a malloc
 * header per actor (see the spawn benchmark's bytes per actor).
 */
#include <stdlib.h>
#include <string.h>

#include "actor/pool.h"

#define SLAB_BYTES (64 * 1024)
#define LARGE_CLASS 255u

typedef struct large_hdr {
  struct large_hdr *next;
  size_t size;
  int in_use;
  char pad[64 - sizeof(void *) - sizeof(size_t) - sizeof(int)];
} large_hdr;

int acto__pool_init(acto__pool *p) {
  memset(p, 0, sizeof(*p));
  for (unsigned i = 0; i < ACTO__POOL_CLASSES; i++)
    p->cls[i].block = (size_t)(i + 1) * 64;
  return pthread_mutex_init(&p->mtx, NULL) == 0 ? 0 : -1;
}

void acto__pool_destroy(acto__pool *p) {
  for (unsigned i = 0; i < ACTO__POOL_CLASSES; i++) {
    void *s = p->cls[i].slabs;
    while (s) {
      void *next = *(void **)s;
      free(s);
      s = next;
    }
  }
  large_hdr *h = p->large;
  while (h) {
    large_hdr *next = h->next;
    free(h);
    h = next;
  }
  pthread_mutex_destroy(&p->mtx);
}

void *acto__pool_alloc(acto__pool *p, size_t size, unsigned *size_class) {
  if (size > ACTO__POOL_CLASSES * 64) {
    pthread_mutex_lock(&p->mtx);
    for (large_hdr *h = p->large; h; h = h->next) {
      if (!h->in_use && h->size == size) {
        h->in_use = 1;
        pthread_mutex_unlock(&p->mtx);
        *size_class = LARGE_CLASS;
        return h + 1;
      }
    }
    large_hdr *h = malloc(sizeof(large_hdr) + size);
    if (!h) {
      pthread_mutex_unlock(&p->mtx);
      return NULL;
    }
    h->size = size;
    h->in_use = 1;
    h->next = p->large;
    p->large = h;
    p->large_count++;
    pthread_mutex_unlock(&p->mtx);
    *size_class = LARGE_CLASS;
    return h + 1;
  }
  unsigned c = (unsigned)((size + 63) / 64) - 1;
  acto__pool_class *k = &p->cls[c];
  pthread_mutex_lock(&p->mtx);
  if (!k->free) {
    /* A new slab: the first block-sized chunk links the slab list. */
    char *s = aligned_alloc(64, SLAB_BYTES);
    if (!s) {
      pthread_mutex_unlock(&p->mtx);
      return NULL;
    }
    *(void **)s = k->slabs;
    k->slabs = s;
    size_t first = k->block < 64 ? 64 : k->block;
    for (size_t off = first; off + k->block <= SLAB_BYTES; off += k->block) {
      *(void **)(s + off) = k->free;
      k->free = s + off;
    }
  }
  void *b = k->free;
  k->free = *(void **)b;
  pthread_mutex_unlock(&p->mtx);
  *size_class = c;
  return b;
}

void acto__pool_free(acto__pool *p, void *block, unsigned size_class) {
  pthread_mutex_lock(&p->mtx);
  if (size_class == LARGE_CLASS) {
    ((large_hdr *)block - 1)->in_use = 0;
  } else {
    acto__pool_class *k = &p->cls[size_class];
    *(void **)block = k->free;
    k->free = block;
  }
  pthread_mutex_unlock(&p->mtx);
}
