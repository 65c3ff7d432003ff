/* runq.h - a worker's run queue: a FIFO of runnable actors, linked through
 * the actor, guarded by a one-byte lock; the owner pushes and pops at the
 * ends, thieves take up to half from the head.
 */
#ifndef ACTO_RUNQ_H
#define ACTO_RUNQ_H

#include <stdatomic.h>
#include <stddef.h>

#include "mailbox/spin.h"

struct acto__actor;

typedef struct acto__runq {
  acto__spin lock;
  _Atomic int owner_parked; /* the owning worker sleeps: take even a lone actor */
  _Atomic size_t len; /* readable without the lock (parking, stealing) */
  struct acto__actor *head, *tail;
} acto__runq;

void acto__runq_init(acto__runq *q);
void acto__runq_push(acto__runq *q, struct acto__actor *a);
struct acto__actor *acto__runq_pop(acto__runq *q);
/* Moves half of victim's actors into q and returns the first of them to
 * run now (not put in q), or NULL.  A lone actor is left to its worker
 * (it keeps a producer and its consumer on one core) unless that worker
 * is parked or lone_ok says its worker has stayed in one turn too long. */
struct acto__actor *acto__runq_steal(acto__runq *victim, acto__runq *q, int lone_ok);

#endif /* ACTO_RUNQ_H */
