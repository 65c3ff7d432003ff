/* pool.h - type-stable storage for actor blocks, by size class. */
#ifndef ACTO_POOL_H
#define ACTO_POOL_H

#include <pthread.h>
#include <stddef.h>

#define ACTO__POOL_CLASSES 64 /* block sizes 64 .. 4096 in steps of 64 */

struct acto__actor;

typedef struct acto__pool_class {
  void *free;  /* free blocks, linked through their first word */
  void *slabs; /* slabs, linked through their first word */
  size_t block;
} acto__pool_class;

typedef struct acto__pool {
  pthread_mutex_t mtx;
  acto__pool_class cls[ACTO__POOL_CLASSES];
  void *large;  /* blocks bigger than the largest class, linked */
  size_t large_count;
} acto__pool;

int acto__pool_init(acto__pool *p);
void acto__pool_destroy(acto__pool *p);
/* A block (not zeroed: see pool.c) of at least `size` bytes; NULL on allocation failure. */
void *acto__pool_alloc(acto__pool *p, size_t size, unsigned *size_class);
void acto__pool_free(acto__pool *p, void *block, unsigned size_class);

#endif /* ACTO_POOL_H */
