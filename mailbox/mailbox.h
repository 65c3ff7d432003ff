/* mailbox.h - the bounded MPSC mailbox of one actor: a user lane with a
 * capacity and a byte budget, a system lane that is never refused, and the
 * list of messages parked by senders waiting for room.
 *
 * Thread ownership: reserve/push/push_system/parked list from any thread;
 * pop/done only from the thread running the actor (the consumer).
 */
#ifndef ACTO_MAILBOX_INTERNAL_H
#define ACTO_MAILBOX_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "acto_mailbox.h"
#include "mailbox/message.h"
#include "mailbox/mpscq.h"
#include "mailbox/spin.h"

/* The count word: user messages (queued or being handled) in the low 32
 * bits, system messages in the high 32 bits.  Zero means the actor is idle
 * and not scheduled; the push that moves it from zero schedules the actor,
 * so exactly one party ever schedules it. */
#define ACTO__MB_USER_UNIT ((uint64_t)1)
#define ACTO__MB_SYS_UNIT ((uint64_t)1 << 32)
#define ACTO__MB_USER_MASK ((uint64_t)0xffffffffu)

/* Layout: the first 48 bytes are what senders write (count, bytes, the
 * tails) and read (the bounds, closed); the consumer's fields follow.
 * The actor puts 16 bytes of sender-read fields before it, so that the
 * senders' cache line holds nothing the consumer writes per message and a
 * consumer on another core does not bounce it on every message.  Actor
 * blocks are 64-byte aligned (actor/pool.c). */
typedef struct acto__mailbox {
  /* Senders (any thread). */
  _Atomic uint64_t count; /* see ACTO__MB_* */
  _Atomic size_t bytes;   /* payload bytes of counted user messages */
  acto__mpscq_tail user_tail;
  acto__mpscq_tail sys_tail;
  uint32_t capacity;
  uint8_t policy; /* acto_overflow */
  _Atomic uint8_t closed;
  _Atomic uint8_t has_parked; /* parked list non-empty */
  acto__spin park_lock;       /* guards parked_head/parked_tail */
  size_t max_bytes;
  /* The consumer (the thread running the actor). */
  acto__mpscq_head user;
  acto__mpscq_head sys;
  /* User messages whose handler returned but whose unit the consumer has
   * not yet released (it releases in groups).  A fail- or drop-policy
   * sender that finds the mailbox full takes one over instead, so the
   * capacity stays exact: it counts messages queued or being handled. */
  _Atomic uint32_t handled;
  acto__spin pop_lock; /* drop_oldest only: senders may pop */
  /* Parkers and the consumer, under park_lock (rare path). */
  acto__msg *parked_head, *parked_tail; /* FIFO of waiting sends */
} acto__mailbox;

/* What the layout comment above claims: senders' fields fill 48 bytes. */
_Static_assert(offsetof(acto__mailbox, user) == 48,
               "the mailbox's sender part is its first 48 bytes");

enum { ACTO__MB_OK = 0, ACTO__MB_FULL = 1 };

void acto__mailbox_init(acto__mailbox *mb, uint32_t capacity, size_t max_bytes,
                        acto_overflow policy);

/* Reserves room for one user message of `size` bytes.  ACTO__MB_OK with
 * *was_empty set when this reservation moved the count from zero (the
 * caller must then schedule the actor after pushing); ACTO__MB_FULL when
 * the capacity or the byte budget is used up.  take_over: when full, take
 * over the unit of a handled message not yet released (mailbox.c). */
int acto__mailbox_reserve(acto__mailbox *mb, size_t size, int take_over, int *was_empty);

/* Links a message whose room was reserved. */
void acto__mailbox_push_reserved(acto__mailbox *mb, acto__msg *m);

/* Pushes onto the system lane (never refused).  Returns 1 when the actor
 * was idle (the caller schedules it). */
int acto__mailbox_push_system(acto__mailbox *mb, acto__msg *m);

/* drop_oldest: with the mailbox full, removes the oldest queued user
 * message and puts m in its place (the reservation passes from one to the
 * other).  Returns the removed block (a dead letter for the caller), or
 * NULL when nothing could be removed (m was not queued). */
acto__msg *acto__mailbox_swap_oldest(acto__mailbox *mb, acto__msg *m);

/* Consumer: the next message, system lane first.  NULL when nothing is
 * linked yet (see mpscq.h). */
acto__msg *acto__mailbox_pop(acto__mailbox *mb);

/* Consumer: a user message's handler returned; its unit becomes
 * releasable (and can be taken over by a producer). */
static inline void acto__mailbox_handled(acto__mailbox *mb) {
  atomic_fetch_add_explicit(&mb->handled, 1, memory_order_relaxed);
}

/* Consumer: the user units to release now (those no producer took over). */
static inline uint64_t acto__mailbox_take_handled(acto__mailbox *mb) {
  return atomic_exchange_explicit(&mb->handled, 0, memory_order_relaxed);
}

/* Consumer: releases the count unit(s) (and bytes) of handled messages.
 * Returns the count word after the release: zero means the actor is now
 * idle and the caller must not touch it again. */
uint64_t acto__mailbox_release(acto__mailbox *mb, uint64_t units, size_t bytes);

/* The payload bytes a message counts against the budget. */
static inline size_t acto__mailbox_msg_bytes(const acto__msg *m) { return m->pub.size; }

/* Parked list (senders waiting for room).  Callers hold park_lock. */
void acto__mailbox_park_append(acto__mailbox *mb, acto__msg *m);
acto__msg *acto__mailbox_park_peek(acto__mailbox *mb);
void acto__mailbox_park_take(acto__mailbox *mb); /* removes the head */
int acto__mailbox_park_remove(acto__mailbox *mb, acto__msg *m); /* 1 if found */
int acto__mailbox_park_find(const acto__mailbox *mb, const acto__msg *m); /* 1 if parked */

#endif /* ACTO_MAILBOX_INTERNAL_H */
