/* message.c - allocation and release of message blocks.
 *
 * DESIGN
 * Copied payloads live in the same allocation as the header; handed-over
 * payloads are referenced and freed with their free function.
 * Small blocks are recycled through per-worker caches so that the hot path
 * does not call malloc: a block remembers the cache it came from; the
 * owner frees it onto its local list (LIFO, capped), any other worker
 * collects it in a per-owner batch and gives the batch back with one CAS
 * onto the owner's return stack, and the owner takes the whole stack with
 * one exchange when its local list runs dry.  The return stack only ever
 * sees pushes and take-all, so it has no ABA problem.
 */
#include <stdlib.h>
#include <string.h>

#include "mailbox/message.h"

#define LOCAL_CAP 8192u
#define POOL_BLOCK (sizeof(acto__msg) + ACTO_INLINE_MAX)

_Thread_local acto__msgcache *acto__tls_msgcache;

static inline acto__msg *link_next(acto__msg *m) {
  return (acto__msg *)atomic_load_explicit(&m->node.next, memory_order_relaxed);
}
static inline void link_set(acto__msg *m, acto__msg *next) {
  atomic_store_explicit(&m->node.next, (acto__mpscq_node *)next, memory_order_relaxed);
}

static void remote_push(acto__msgcache *owner, acto__msg *head, acto__msg *tail) {
  acto__msg *old = atomic_load_explicit(&owner->remote, memory_order_relaxed);
  do {
    link_set(tail, old);
    /* release: the owner sees the chain's links after its exchange. */
  } while (!atomic_compare_exchange_weak_explicit(&owner->remote, &old, head,
                                                  memory_order_release, memory_order_relaxed));
}

static acto__msg *block_get(size_t payload) {
  acto__msgcache *c = acto__tls_msgcache;
  acto__msg *m;
  if (c && payload <= ACTO_INLINE_MAX) {
    if (!c->local) {
      /* acquire: pairs with the release in remote_push. */
      c->local = atomic_exchange_explicit(&c->remote, NULL, memory_order_acquire);
      c->nlocal = 0;
    }
    m = c->local;
    if (m) {
      c->local = link_next(m);
      if (c->nlocal)
        c->nlocal--;
    } else {
      m = malloc(POOL_BLOCK);
      if (!m)
        return NULL;
    }
    memset(m, 0, sizeof(*m));
    m->cache = c;
    return m;
  }
  m = malloc(sizeof(acto__msg) + payload);
  if (m)
    memset(m, 0, sizeof(*m));
  return m;
}

static void block_put(acto__msg *m) {
  acto__msgcache *owner = m->cache;
  if (!owner) {
    free(m);
    return;
  }
  acto__msgcache *me = acto__tls_msgcache;
  if (me == owner) {
    if (me->nlocal >= LOCAL_CAP) {
      free(m);
      return;
    }
    link_set(m, me->local);
    me->local = m;
    me->nlocal++;
  } else if (me && me->all == owner->all) {
    acto__msg_chain *ch = &me->pending[owner->idx];
    link_set(m, ch->head);
    if (!ch->head)
      ch->tail = m;
    ch->head = m;
    if (++ch->n >= ACTO__MSG_BATCH) {
      remote_push(owner, ch->head, ch->tail);
      ch->head = ch->tail = NULL;
      ch->n = 0;
    }
  } else {
    remote_push(owner, m, m);
  }
}

acto__msg *acto__msg_new(uint32_t type, const void *data, size_t size, void (*free_fn)(void *)) {
  acto__msg *m = block_get(free_fn ? 0 : size);
  if (!m)
    return NULL;
  m->pub.type = type;
  m->pub.size = size;
  if (size == 0) {
    m->pub.data = NULL;
  } else if (free_fn) {
    m->pub.data = data;
    m->free_fn = free_fn;
  } else {
    memcpy(m->inline_data, data, size);
    m->pub.data = m->inline_data;
  }
  return m;
}

void acto__msg_free(acto__msg *m) {
  if (m->free_fn)
    m->free_fn((void *)m->pub.data);
  if ((m->flags & ACTO__MF_TIMER) && m->held)
    m->held->drop(m->held);
  block_put(m);
}

acto__msgcache **acto__msgcache_create(unsigned n) {
  acto__msgcache **all = calloc(n, sizeof(*all));
  if (!all)
    return NULL;
  for (unsigned i = 0; i < n; i++) {
    all[i] = calloc(1, sizeof(acto__msgcache));
    if (all[i])
      all[i]->pending = calloc(n, sizeof(acto__msg_chain));
    if (!all[i] || !all[i]->pending) {
      acto__msgcache_destroy(all, n);
      return NULL;
    }
    all[i]->all = all;
    all[i]->nall = n;
    all[i]->idx = i;
    atomic_init(&all[i]->remote, NULL);
  }
  return all;
}

void acto__msgcache_flush(acto__msgcache *c) {
  for (unsigned i = 0; i < c->nall; i++) {
    acto__msg_chain *ch = &c->pending[i];
    if (ch->head) {
      remote_push(c->all[i], ch->head, ch->tail);
      ch->head = ch->tail = NULL;
      ch->n = 0;
    }
  }
}

static void free_list(acto__msg *m) {
  while (m) {
    acto__msg *next = link_next(m);
    free(m);
    m = next;
  }
}

void acto__msgcache_destroy(acto__msgcache **all, unsigned n) {
  if (!all)
    return;
  for (unsigned i = 0; i < n; i++) {
    if (!all[i])
      continue;
    free_list(all[i]->local);
    free_list(atomic_load_explicit(&all[i]->remote, memory_order_acquire));
    if (all[i]->pending)
      for (unsigned k = 0; k < n; k++)
        free_list(all[i]->pending[k].head);
    free(all[i]->pending);
    free(all[i]);
  }
  free(all);
}
