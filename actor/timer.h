/* timer.h - the timer thread: one-shot and periodic sends, ask deadlines. */
#ifndef ACTO_TIMER_H
#define ACTO_TIMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"
#include "mailbox/message.h"

typedef struct acto__timer_rec acto__timer_rec;

typedef struct acto__timers {
  acto_system *sys;
  pthread_mutex_t mtx;
  pthread_cond_t cv;
  pthread_t thread;
  int started;
  int stop;
  acto__timer_rec **heap; /* min-heap by due time */
  size_t n, cap;
  acto__timer_rec **buckets; /* id -> record */
  size_t nbuckets, count;
  uint64_t next_id;
} acto__timers;

int acto__timers_init(acto__timers *t, acto_system *sys);
/* Timers registered: armed, and neither cancelled nor done (a one-shot
 * timer is done once its message was handled; a periodic one, never). */
uint64_t acto__timers_pending(acto__timers *t);
int acto__timers_start(acto__timers *t);
void acto__timers_stop(acto__timers *t);
void acto__timers_destroy(acto__timers *t);

/* An ask deadline: after ms, push an ASK_TIMEOUT system message for
 * req_id to `to`.  Returns the timer id (0 on allocation failure). */
uint64_t acto__timer_ask_deadline(acto_system *sys, acto_ref to, uint64_t req_id, int64_t ms);
int acto__timer_cancel_id(acto_system *sys, uint64_t id);
/* acto_send_after for the runtime's own reserved types (msgtypes.h). */
int acto__timer_send_after(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                           size_t size, int64_t delay_ms, acto_timer *out);

/* Deterministic mode (no timer thread): the earliest due time (0 when no
 * timer will ever fire: none, or only saturated ones), and firing
 * everything due at `now` on the calling thread. */
int acto__timers_next_due(acto__timers *t, uint64_t *due);
void acto__timers_fire_due(acto__timers *t, uint64_t now);

/* Whether timer message m (ACTO__MF_TIMER) may still be handled: 0 once
 * its timer was cancelled; a one-shot timer is consumed by this call.
 * (The message's reference on the record is dropped by acto__msg_free,
 * through the record's acto__msg_hold.) */
int acto__timer_msg_live(const acto__msg *m);

#endif /* ACTO_TIMER_H */
