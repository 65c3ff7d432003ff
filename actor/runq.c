/* runq.c - the per-worker run queue (see runq.h).
 *
 * DESIGN
 * A FIFO linked through acto__actor.rq_next under a one-byte lock.  The
 * owner pushes at the tail and pops at the head; a thief takes half the
 * queue from the head in one critical section.  A queue holding a single
 * actor is left to its owner unless the owner is parked, or has stayed in
 * one turn for 0.5 ms (a long turn must not starve it; scheduler.c, "Lone
 * actors"): the owner will normally run it within a turn, and moving it
 * would split a producer from its consumer across cores (a cross-core
 * hand-off costs ~850 ns here, a local one ~17 ns).  len is kept beside the
 * list so that parking workers and thieves can look without the lock; it
 * is seq_cst because the parking protocol (scheduler.c) orders "len went
 * up" against "sleepers went up".
 */
#include "actor/actor_internal.h"

void acto__runq_init(acto__runq *q) {
  atomic_init(&q->lock, 0);
  atomic_init(&q->owner_parked, 0);
  atomic_init(&q->len, 0);
  q->head = q->tail = NULL;
}

void acto__runq_push(acto__runq *q, acto__actor *a) {
  a->rq_next = NULL;
  acto__spin_lock(&q->lock);
  if (q->tail)
    q->tail->rq_next = a;
  else
    q->head = a;
  q->tail = a;
  atomic_fetch_add_explicit(&q->len, 1, memory_order_seq_cst);
  acto__spin_unlock(&q->lock);
}

acto__actor *acto__runq_pop(acto__runq *q) {
  if (atomic_load_explicit(&q->len, memory_order_relaxed) == 0)
    return NULL;
  acto__spin_lock(&q->lock);
  acto__actor *a = q->head;
  if (a) {
    q->head = a->rq_next;
    if (!q->head)
      q->tail = NULL;
    atomic_fetch_sub_explicit(&q->len, 1, memory_order_relaxed);
  }
  acto__spin_unlock(&q->lock);
  return a;
}

acto__actor *acto__runq_steal(acto__runq *victim, acto__runq *q, int lone_ok) {
  size_t len = atomic_load_explicit(&victim->len, memory_order_relaxed);
  int parked = lone_ok || atomic_load_explicit(&victim->owner_parked, memory_order_relaxed);
  if (len == 0 || (len < 2 && !parked))
    return NULL;
  acto__spin_lock(&victim->lock);
  size_t n = atomic_load_explicit(&victim->len, memory_order_relaxed);
  size_t take = parked ? (n + 1) / 2 : n / 2;
  acto__actor *first = NULL, *last = NULL;
  if (take > 0) {
    first = victim->head;
    last = first;
    for (size_t i = 1; i < take; i++)
      last = last->rq_next;
    victim->head = last->rq_next;
    if (!victim->head)
      victim->tail = NULL;
    atomic_fetch_sub_explicit(&victim->len, take, memory_order_relaxed);
    last->rq_next = NULL;
  }
  acto__spin_unlock(&victim->lock);
  if (!first)
    return NULL;
  acto__actor *rest = first->rq_next;
  while (rest) {
    acto__actor *next = rest->rq_next;
    acto__runq_push(q, rest);
    rest = next;
  }
  first->rq_next = NULL;
  return first;
}
