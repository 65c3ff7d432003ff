/* mpscq.c - the intrusive MPSC queue (Vyukov's algorithm with a stub node,
 * the same family as libponyrt's messageq).
 *
 * DESIGN
 * A push is one atomic exchange on tail followed by a release store that
 * links the previous tail to the new node.  Between those two steps the
 * queue is "inconsistent": the node is in the chain from tail's point of
 * view but not reachable from head.  pop() then returns NULL although a
 * node exists; the caller knows from its own counter that a message was
 * reserved and simply tries again a little later.  The stub node lets the
 * consumer take the last real node without racing producers: when head is
 * the only node left, the consumer re-pushes the stub behind it first.
 *
 * Memory orders: the exchange is acq_rel so that a producer sees the
 * previous tail's node fully initialised (its next reset) and publishes its
 * own node's contents; the store of prev->next is release and pairs with
 * the acquire load of next in pop, which makes the message's payload
 * visible to the consumer.
 */
#include "mailbox/mpscq.h"

void acto__mpscq_init(acto__mpscq_head *h, acto__mpscq_tail *t) {
  atomic_init(&h->stub.next, NULL);
  h->head = &h->stub;
  atomic_init(&t->tail, &h->stub);
}

void acto__mpscq_push(acto__mpscq_tail *t, acto__mpscq_node *n) {
  atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
  /* acq_rel: release publishes n (and the payload written before the
   * push); acquire pairs with the previous producer's release. */
  acto__mpscq_node *prev = atomic_exchange_explicit(&t->tail, n, memory_order_acq_rel);
  /* release: pairs with the acquire load of next in pop. */
  atomic_store_explicit(&prev->next, n, memory_order_release);
}

acto__mpscq_node *acto__mpscq_pop(acto__mpscq_head *h, acto__mpscq_tail *t) {
  acto__mpscq_node *head = h->head;
  acto__mpscq_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
  if (head == &h->stub) {
    if (next == NULL)
      return NULL;
    h->head = next;
    head = next;
    next = atomic_load_explicit(&next->next, memory_order_acquire);
  }
  if (next != NULL) {
    h->head = next;
    return head;
  }
  /* head is the last linked node.  If a producer already exchanged tail
   * past it, the link is in flight: report empty for now. */
  acto__mpscq_node *tail = atomic_load_explicit(&t->tail, memory_order_acquire);
  if (tail != head)
    return NULL;
  acto__mpscq_push(t, &h->stub);
  next = atomic_load_explicit(&head->next, memory_order_acquire);
  if (next != NULL) {
    h->head = next;
    return head;
  }
  return NULL;
}
