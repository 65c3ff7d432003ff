/* mailbox.c - capacity accounting, the two lanes, the overflow primitives
 * and the parked-sender list of one actor's mailbox.
 *
 * DESIGN
 * One 64-bit count word carries both the bound and the scheduling signal.
 * Its low half counts user messages that are queued or being handled, its
 * high half system messages.  A producer reserves room with a CAS that
 * refuses to raise the user half past the capacity, so the bound holds
 * exactly and is never exceeded even transiently; the byte budget is a
 * second counter reserved first (fetch_add, undone on failure) so that an
 * undo never touches the count word.  The reservation that finds the word
 * at zero is the one that schedules the actor: the consumer releases a
 * message's unit only after its handler returned, so the word stays
 * non-zero for as long as the actor runs or is queued to run.
 *
 * States of the count word (C = capacity):
 *   0                 idle: not queued, not running; the next reserve
 *                     schedules.
 *   u in 1..C (+sys)  scheduled or running; reserve succeeds while u < C.
 *   u == C            full: user reservations fail, system pushes pass.
 * Only the consumer moves the word down (release); producers move it up.
 *
 * Grouped release.  The consumer releases units in groups to write the
 * shared word less often.  To keep the capacity exact, a handled message
 * whose unit is not yet released is counted in `handled`, and a producer
 * that finds the word at the capacity takes one of those units over (CAS
 * on `handled`, the word unchanged) instead of failing; the consumer then
 * releases only the units nobody took (exchange on `handled`).  This is
 * done for fail and drop mailboxes, where "full" is an answer the sender
 * sees.  A block-policy mailbox does not track `handled` (its consumer
 * counts locally, saving an atomic per message in the streaming case): a
 * sender that finds it full parks and is delivered at the next group
 * release.  Such mailboxes release every message at once below capacity
 * 64 (exact bound); from 64 up, up to 15 handled slots may be held back
 * until 16 are handled, the queue looks empty, or the turn ends, so a
 * fail-fast send may see ACTO_EFULL that early (documented in ACTORS.md).  The
 * byte budget is released with the group: it may refuse a send for up to
 * one group's handled bytes (a soft memory bound, documented).
 *
 * Memory orders: the reserve CAS and the release fetch_sub are seq_cst
 * because the parked-sender protocol (actor/send.c) relies on a store-load
 * order between "count went down, then look at has_parked" and "set
 * has_parked, then try to reserve".
 */
#include "mailbox/mailbox.h"

void acto__mailbox_init(acto__mailbox *mb, uint32_t capacity, size_t max_bytes,
                        acto_overflow policy) {
  atomic_init(&mb->count, 0);
  atomic_init(&mb->bytes, 0);
  atomic_init(&mb->handled, 0);
  acto__mpscq_init(&mb->user, &mb->user_tail);
  acto__mpscq_init(&mb->sys, &mb->sys_tail);
  mb->capacity = capacity;
  mb->policy = (uint8_t)policy;
  atomic_init(&mb->closed, 0);
  atomic_init(&mb->has_parked, 0);
  atomic_init(&mb->park_lock, 0);
  atomic_init(&mb->pop_lock, 0);
  mb->max_bytes = max_bytes;
  mb->parked_head = mb->parked_tail = NULL;
}

int acto__mailbox_reserve(acto__mailbox *mb, size_t size, int take_over, int *was_empty) {
  if (size > 0) {
    size_t b = atomic_fetch_add_explicit(&mb->bytes, size, memory_order_relaxed);
    if (b + size > mb->max_bytes) {
      atomic_fetch_sub_explicit(&mb->bytes, size, memory_order_relaxed);
      return ACTO__MB_FULL;
    }
  }
  uint64_t c = atomic_load_explicit(&mb->count, memory_order_relaxed);
  for (;;) {
    if ((c & ACTO__MB_USER_MASK) >= mb->capacity) {
      /* Full, unless a handled message's unit is still unreleased: take
       * it over (the count stays as it is; the actor is running, so there
       * is nobody to schedule). */
      uint32_t h = take_over ? atomic_load_explicit(&mb->handled, memory_order_relaxed) : 0;
      while (h > 0) {
        if (atomic_compare_exchange_weak_explicit(&mb->handled, &h, h - 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
          *was_empty = 0;
          return ACTO__MB_OK;
        }
      }
      if (size > 0)
        atomic_fetch_sub_explicit(&mb->bytes, size, memory_order_relaxed);
      return ACTO__MB_FULL;
    }
    /* seq_cst: see the file comment (parked-sender protocol). */
    if (atomic_compare_exchange_weak_explicit(&mb->count, &c, c + ACTO__MB_USER_UNIT,
                                              memory_order_seq_cst, memory_order_relaxed))
      break;
  }
  *was_empty = (c == 0);
  return ACTO__MB_OK;
}

void acto__mailbox_push_reserved(acto__mailbox *mb, acto__msg *m) {
  acto__mpscq_push(&mb->user_tail, &m->node);
}

int acto__mailbox_push_system(acto__mailbox *mb, acto__msg *m) {
  /* The unit is counted before the node is linked, so the consumer never
   * releases a unit it was not given (see mpscq.h on in-flight links). */
  uint64_t c = atomic_fetch_add_explicit(&mb->count, ACTO__MB_SYS_UNIT, memory_order_seq_cst);
  acto__mpscq_push(&mb->sys_tail, &m->node);
  return c == 0;
}

acto__msg *acto__mailbox_swap_oldest(acto__mailbox *mb, acto__msg *m) {
  acto__spin_lock(&mb->pop_lock);
  acto__msg *old = (acto__msg *)acto__mpscq_pop(&mb->user, &mb->user_tail);
  if (old != NULL) {
    atomic_fetch_sub_explicit(&mb->bytes, old->pub.size, memory_order_relaxed);
    atomic_fetch_add_explicit(&mb->bytes, m->pub.size, memory_order_relaxed);
    acto__mpscq_push(&mb->user_tail, &m->node);
  }
  acto__spin_unlock(&mb->pop_lock);
  return old;
}

acto__msg *acto__mailbox_pop(acto__mailbox *mb) {
  acto__mpscq_node *n = acto__mpscq_pop(&mb->sys, &mb->sys_tail);
  if (n != NULL)
    return (acto__msg *)n;
  if (mb->policy == ACTO_OVERFLOW_DROP_OLDEST) {
    acto__spin_lock(&mb->pop_lock);
    n = acto__mpscq_pop(&mb->user, &mb->user_tail);
    acto__spin_unlock(&mb->pop_lock);
  } else {
    n = acto__mpscq_pop(&mb->user, &mb->user_tail);
  }
  return (acto__msg *)n;
}

uint64_t acto__mailbox_release(acto__mailbox *mb, uint64_t units, size_t bytes) {
  if (bytes > 0)
    atomic_fetch_sub_explicit(&mb->bytes, bytes, memory_order_relaxed);
  /* seq_cst: see the file comment; also releases everything this turn did
   * to the next worker that schedules the actor (it acquires via its own
   * RMW on the same word). */
  return atomic_fetch_sub_explicit(&mb->count, units, memory_order_seq_cst) - units;
}

void acto__mailbox_park_append(acto__mailbox *mb, acto__msg *m) {
  atomic_store_explicit(&m->node.next, NULL, memory_order_relaxed);
  if (mb->parked_tail)
    atomic_store_explicit(&mb->parked_tail->node.next, &m->node, memory_order_relaxed);
  else
    mb->parked_head = m;
  mb->parked_tail = m;
  /* seq_cst: store-load pair with acto__mailbox_release (file comment). */
  atomic_store_explicit(&mb->has_parked, 1, memory_order_seq_cst);
}

acto__msg *acto__mailbox_park_peek(acto__mailbox *mb) { return mb->parked_head; }

void acto__mailbox_park_take(acto__mailbox *mb) {
  acto__msg *h = mb->parked_head;
  mb->parked_head = (acto__msg *)atomic_load_explicit(&h->node.next, memory_order_relaxed);
  if (mb->parked_head == NULL) {
    mb->parked_tail = NULL;
    atomic_store_explicit(&mb->has_parked, 0, memory_order_relaxed);
  }
}

int acto__mailbox_park_find(const acto__mailbox *mb, const acto__msg *m) {
  const acto__msg *cur = mb->parked_head;
  while (cur && cur != m)
    cur = (const acto__msg *)atomic_load_explicit(&cur->node.next, memory_order_relaxed);
  return cur != NULL;
}

int acto__mailbox_park_remove(acto__mailbox *mb, acto__msg *m) {
  acto__msg *prev = NULL, *cur = mb->parked_head;
  while (cur && cur != m) {
    prev = cur;
    cur = (acto__msg *)atomic_load_explicit(&cur->node.next, memory_order_relaxed);
  }
  if (!cur)
    return 0;
  acto__msg *next = (acto__msg *)atomic_load_explicit(&cur->node.next, memory_order_relaxed);
  if (prev)
    atomic_store_explicit(&prev->node.next, next ? &next->node : NULL, memory_order_relaxed);
  else
    mb->parked_head = next;
  if (mb->parked_tail == cur)
    mb->parked_tail = prev;
  if (mb->parked_head == NULL)
    atomic_store_explicit(&mb->has_parked, 0, memory_order_relaxed);
  return 1;
}
