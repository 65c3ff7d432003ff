/* mpscq.h - an intrusive multi-producer single-consumer queue.
 *
 * The algorithm alone, without capacity or policy (that is mailbox.c).
 * Nodes are embedded as the first member of the queued objects.
 * Thread ownership: acto__mpscq_push from any thread; acto__mpscq_pop only
 * from the one consumer (or under a lock that all consumers share).
 */
#ifndef ACTO_MPSCQ_H
#define ACTO_MPSCQ_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct acto__mpscq_node {
  _Atomic(struct acto__mpscq_node *) next;
} acto__mpscq_node;

/* The two ends live apart so that an owner can put them on different
 * cache lines: the tail is written by producers, the head and the stub by
 * the consumer. */
typedef struct acto__mpscq_tail {
  _Atomic(acto__mpscq_node *) tail;
} acto__mpscq_tail;

typedef struct acto__mpscq_head {
  acto__mpscq_node *head;
  acto__mpscq_node stub;
} acto__mpscq_head;

void acto__mpscq_init(acto__mpscq_head *h, acto__mpscq_tail *t);

/* Appends n.  One atomic exchange; wait-free.  Returns nothing: emptiness
 * is tracked by the caller's counter (mailbox.c), not by the queue. */
void acto__mpscq_push(acto__mpscq_tail *t, acto__mpscq_node *n);

/* Removes the oldest node, or returns NULL when the queue is empty or a
 * producer is between its exchange and its link (the caller's counter
 * tells the two apart and retries). */
acto__mpscq_node *acto__mpscq_pop(acto__mpscq_head *h, acto__mpscq_tail *t);

#endif /* ACTO_MPSCQ_H */
