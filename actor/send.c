/* send.c - the send paths: validation, the overflow policies, parked sends
 * (backpressure without holding a worker), the system lane, dead letters.
 *
 * DESIGN: parked sends (the block policy)
 * A send that finds a block-policy mailbox full does not wait on the
 * sending thread when the sender is an actor.  The message goes onto the
 * target's parked list (FIFO, under the target's park_lock) with a pointer
 * to the sender, the sender's park word goes up by one, and the call
 * returns ACTO_PARKED.  When the sender's current callback returns, its
 * turn ends with fetch_or(SUSPENDED): if parked sends are outstanding the
 * actor is suspended - it keeps its mailbox count unit (carry) so nobody
 * schedules it, and its worker moves on.  Whoever delivers its last parked
 * message (fetch_sub that sees SUSPENDED|1) clears the word and schedules
 * it.  Each parked message is delivered by a drain: the target's consumer
 * drains after every user message it finishes, and a parker drains right
 * after appending.  No delivery is lost because the consumer releases its
 * unit and then loads has_parked, while a parker stores has_parked and
 * then reserves; both are seq_cst, so one of them sees the other.
 * While an actor has parked sends outstanding, all its block-policy sends
 * go through the parked list, which keeps per-pair order.  A plain thread
 * parks the same way but waits on its own condvar until delivery, the
 * deadline, or the target closing.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/reserved.h"
#include "actor/clock.h"


void acto__send_dead_letter(acto_system *sys, acto__msg *m, acto_dead_reason why) {
  uint64_t node = atomic_load_explicit(&sys->node_id, memory_order_relaxed);
  acto__send_dead_letter_to(sys, m, (acto_ref){m->target_id, node}, why);
}

void acto__send_dead_letter_to(acto_system *sys, acto__msg *m, acto_ref to, acto_dead_reason why) {
  if (m->kind == ACTO__KIND_USER) {
    acto__system_count_dead(sys, to, m->pub.type, m->pub.size, why);
    if ((m->flags & ACTO__MF_REQUEST) && !(m->flags & ACTO__MF_REPLIED))
      acto__ask_request_failed(sys, m, why == ACTO_DEAD_FAILED ? ACTO_EFAILED : ACTO_ECLOSED);
  } else if (why == ACTO_DEAD_LATE_REPLY) {
    acto__system_count_dead(sys, to, m->pub.type, m->pub.size, why);
  }
  acto__msg_free(m);
}

void acto__send_refused_to(acto_system *sys, acto__msg *m, acto_ref to, acto_dead_reason why) {
  m->target_id = to.id;
  if (m->flags & ACTO__MF_REQUEST)
    m->flags |= ACTO__MF_REPLIED; /* the sender's error return is the answer */
  acto__send_dead_letter_to(sys, m, to, why);
}

void acto__send_unpark(acto__actor *p) {
  /* acq_rel: orders the delivery before the parker's next turn. */
  uint32_t old = atomic_fetch_sub_explicit(&p->park, 1, memory_order_acq_rel);
  if (old == (ACTO__PARK_SUSPENDED | 1u)) {
    /* The parker's turn has ended and this was its last parked send: it
     * is ours to resume.  Nobody else writes park while it is suspended. */
    atomic_store_explicit(&p->park, 0, memory_order_relaxed);
    acto__sched_resume(p->sys, p);
  }
}

void acto__send_park(acto__actor *sender) {
  /* relaxed: only the sender's own thread raises its park word while it
   * runs; the acq_rel of acto__send_unpark orders the resolution. */
  atomic_fetch_add_explicit(&sender->park, 1, memory_order_relaxed);
}

int acto__send_parked(const acto__actor *sender) {
  /* relaxed: read by the sender's own thread, the only one that raises it;
   * a stale non-zero only makes a send queue behind one just resolved. */
  return atomic_load_explicit(&sender->park, memory_order_relaxed) != 0;
}

static void twaiter_resolve(acto__twaiter *tw, int state) {
  if (tw->notify) {
    tw->state = state;
    tw->notify(tw, state);
    return;
  }
  pthread_mutex_lock(&tw->mtx);
  tw->state = state;
  pthread_cond_signal(&tw->cv);
  pthread_mutex_unlock(&tw->mtx);
}

static void deliver_parked(acto__msg *m) {
  acto__actor *p = m->parker;
  acto__twaiter *tw = m->twaiter;
  m->parker = NULL;
  m->twaiter = NULL;
  if (p)
    acto__send_unpark(p);
  else if (tw)
    twaiter_resolve(tw, 1);
}

/* Moves parked messages into the mailbox while there is room.  Caller
 * holds t->mb.park_lock. */
static void drain_locked(acto__actor *t) {
  acto__msg *m;
  while ((m = acto__mailbox_park_peek(&t->mb)) != NULL) {
    int was_empty = 0;
    if (acto__mailbox_reserve(&t->mb, m->pub.size, 0, &was_empty) != ACTO__MB_OK)
      break;
    acto__mailbox_park_take(&t->mb);
    acto__actor *p = m->parker;
    acto__twaiter *tw = m->twaiter;
    m->parker = NULL;
    m->twaiter = NULL;
    acto__mailbox_push_reserved(&t->mb, m); /* m may be freed from here on */
    if (was_empty)
      acto__sched_schedule(t->sys, t);
    acto__msg tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.parker = p;
    tmp.twaiter = tw;
    deliver_parked(&tmp);
  }
}

void acto__send_drain_parked(acto__actor *t) {
  acto__spin_lock(&t->mb.park_lock);
  drain_locked(t);
  acto__spin_unlock(&t->mb.park_lock);
}

void acto__send_close_parked(acto__actor *t) {
  acto__spin_lock(&t->mb.park_lock);
  acto__msg *m;
  while ((m = acto__mailbox_park_peek(&t->mb)) != NULL) {
    acto__mailbox_park_take(&t->mb);
    acto__actor *p = m->parker;
    acto__twaiter *tw = m->twaiter;
    m->parker = NULL;
    m->twaiter = NULL;
    acto__send_dead_letter(t->sys, m, ACTO_DEAD_CLOSED);
    if (p)
      acto__send_unpark(p);
    else if (tw)
      twaiter_resolve(tw, 2);
  }
  acto__spin_unlock(&t->mb.park_lock);
}

/* Appends m to t's parked list and drains.  Returns 1 if m is still
 * parked, 0 if it was delivered at once, ACTO_ESTALE if t closed (m is
 * then a dead letter). */
static int park_and_drain(acto__actor *t, acto__msg *m) {
  acto__spin_lock(&t->mb.park_lock);
  if (atomic_load_explicit(&t->mb.closed, memory_order_seq_cst)) {
    acto__spin_unlock(&t->mb.park_lock);
    return ACTO_ESTALE;
  }
  acto__mailbox_park_append(&t->mb, m);
  drain_locked(t);
  /* m was appended last, so it is still parked iff the list is not empty. */
  int still = acto__mailbox_park_peek(&t->mb) != NULL;
  acto__spin_unlock(&t->mb.park_lock);
  return still;
}

static int send_park_actor(acto_system *sys, acto__actor *t, acto__msg *m, acto__actor *self) {
  m->parker = self;
  atomic_fetch_add_explicit(&self->park, 1, memory_order_relaxed);
  int r = park_and_drain(t, m);
  if (r < 0) {
    m->parker = NULL;
    atomic_fetch_sub_explicit(&self->park, 1, memory_order_relaxed);
    acto__send_dead_letter(sys, m, ACTO_DEAD_STALE);
    return ACTO_ESTALE;
  }
  if (r == 1)
    return ACTO_PARKED;
  return 0;
}

static int twaiter_done(void *arg) {
  acto__twaiter *tw = arg;
  pthread_mutex_lock(&tw->mtx);
  int d = tw->state != 0;
  pthread_mutex_unlock(&tw->mtx);
  return d;
}

static int send_wait_thread(acto_system *sys, acto__actor *t, acto__msg *m, int64_t deadline_ms) {
  if (deadline_ms == 0) {
    acto__msg_free(m);
    return ACTO_ETIMEDOUT;
  }
  int entered = acto__system_wait_enter(sys);
  if (entered != 0) {
    acto__msg_free(m);
    return entered;
  }
  uint64_t deadline = acto__deadline_after(acto__clock_now_ns(), deadline_ms);
  int verdict = ACTO_ETIMEDOUT; /* deterministic mode: why the wait ended */
  acto__twaiter tw;
  memset(&tw, 0, sizeof tw);
  pthread_mutex_init(&tw.mtx, NULL);
  acto__clock_cond_init(&tw.cv);
  tw.state = 0;
  m->twaiter = &tw;
  int r = park_and_drain(t, m);
  int result;
  if (r < 0) {
    m->twaiter = NULL;
    acto__send_dead_letter(sys, m, ACTO_DEAD_STALE);
    result = ACTO_ESTALE;
  } else {
    if (sys->det) {
      /* Deterministic mode: run the system (this thread is its worker)
       * until the message is delivered, the virtual deadline passed, or
       * nothing can make room any more (a deadlock). */
      int w = acto__sched_det_wait(sys, twaiter_done, &tw, deadline_ms);
      if (w != 0)
        verdict = w;
      deadline = 0; /* below: no real waiting */
    }
    pthread_mutex_lock(&tw.mtx);
    while (tw.state == 0 && acto__clock_wait(&tw.cv, &tw.mtx, deadline) == 0)
      ;
    int state = tw.state;
    pthread_mutex_unlock(&tw.mtx);
    if (state == 0) {
      /* Timed out: take the message back unless a drain or the closing
       * target got to it first, in which case its verdict is on its way. */
      acto__spin_lock(&t->mb.park_lock);
      int removed = acto__mailbox_park_remove(&t->mb, m);
      acto__spin_unlock(&t->mb.park_lock);
      if (removed) {
        acto__msg_free(m);
        state = -1;
      } else {
        pthread_mutex_lock(&tw.mtx);
        while (tw.state == 0)
          pthread_cond_wait(&tw.cv, &tw.mtx);
        state = tw.state;
        pthread_mutex_unlock(&tw.mtx);
      }
    }
    result = state == 1 ? 0 : state == 2 ? ACTO_ECLOSED : verdict;
  }
  pthread_cond_destroy(&tw.cv);
  pthread_mutex_destroy(&tw.mtx);
  acto__system_wait_leave(sys);
  return result;
}

/* A full drop-policy mailbox: m, or the oldest queued message in its
 * place, becomes a dead letter. */
static void drop_for_room(acto_system *sys, acto__actor *t, acto__msg *m, int policy) {
  if (policy == ACTO_OVERFLOW_DROP_OLDEST) {
    acto__msg *old = acto__mailbox_swap_oldest(&t->mb, m);
    if (old) {
      acto__send_dead_letter(sys, old, ACTO_DEAD_DROP_OLDEST);
      return;
    }
    /* nothing queued to drop (all being handled): drop this one */
  }
  acto__send_dead_letter(sys, m, ACTO_DEAD_DROP_NEWEST);
}

/* The target of a send, with a reference: inside an actor the reference
 * is kept in ctx->held until the turn ends (so a burst of sends to one
 * target takes it once); elsewhere *own is set and the caller releases. */
static acto__actor *target_get(acto_system *sys, uint64_t to_id, acto_ctx *ctx, int *own) {
  *own = 0;
  if (ctx) {
    acto__actor *h = ctx->held;
    if (h && h->id == to_id) { /* to is local: acto__send_msg checked */
      if (!atomic_load_explicit(&h->mb.closed, memory_order_acquire))
        return h;
      ctx->held = NULL;
      acto__actor_release(h);
      return NULL;
    }
  }
  acto__actor *t = acto__actor_acquire_id(sys, to_id);
  if (!t)
    return NULL;
  if (ctx) {
    if (ctx->held)
      acto__actor_release(ctx->held);
    ctx->held = t;
  } else {
    *own = 1;
  }
  return t;
}

/* Out of line and with the ref in scalars: keeps the local path free of
 * the struct copy that a call taking acto_ref made gcc emit (a 16-byte
 * reload of two 8-byte stores: a store-forwarding stall on every send). */
__attribute__((noinline, cold)) static int send_remote(acto_system *sys, uint64_t id,
                                                       uint64_t node, acto__msg *m,
                                                       int fail_fast, int64_t deadline_ms) {
  return acto__remote_send_user(sys, (acto_ref){id, node}, m, fail_fast, deadline_ms);
}

int acto__send_msg(acto_system *sys, acto_ref to, acto__msg *m, int fail_fast,
                   int64_t deadline_ms, int from_timer) {
  m->target_id = to.id;
  if (__builtin_expect(to.node != atomic_load_explicit(&sys->node_id, memory_order_relaxed), 0))
    return send_remote(sys, to.id, to.node, m, fail_fast, deadline_ms);
  acto_ctx *ctx = acto__tls_ctx;
  if (ctx && ctx->sys != sys)
    ctx = NULL;
  int own;
  acto__actor *t = target_get(sys, to.id, ctx, &own);
  if (!t) {
    acto__send_dead_letter(sys, m, ACTO_DEAD_STALE);
    return ACTO_ESTALE;
  }
  int r = 0;
  acto__actor *self = (ctx && ctx->worker) ? ctx->self : NULL;
  int policy = t->mb.policy;
  if (fail_fast)
    policy = ACTO_OVERFLOW_FAIL;
  if (m->pub.size > t->mb.max_bytes) {
    acto__msg_free(m);
    r = ACTO_ETOOBIG;
  } else if (policy == ACTO_OVERFLOW_BLOCK && self && self != t && !from_timer &&
             atomic_load_explicit(&self->park, memory_order_relaxed) != 0) {
    /* Keep order behind this actor's earlier parked sends. */
    r = send_park_actor(sys, t, m, self);
  } else {
    int was_empty = 0;
    /* Take over handled-but-unreleased slots where the mailbox's consumer
     * tracks them (fail and drop mailboxes, mailbox.c). */
    if (acto__mailbox_reserve(&t->mb, m->pub.size, t->mb.policy != ACTO_OVERFLOW_BLOCK,
                              &was_empty) == ACTO__MB_OK) {
      acto__mailbox_push_reserved(&t->mb, m);
      if (was_empty)
        acto__sched_schedule(sys, t);
    } else if (from_timer) {
      acto__send_dead_letter(sys, m, ACTO_DEAD_FULL);
      r = ACTO_EFULL;
    } else {
      switch (policy) {
      case ACTO_OVERFLOW_FAIL:
        acto__msg_free(m);
        r = ACTO_EFULL;
        break;
      case ACTO_OVERFLOW_DROP_NEWEST:
      case ACTO_OVERFLOW_DROP_OLDEST:
        drop_for_room(sys, t, m, policy);
        break;
      default: /* block */
        if (self == t && self) {
          /* Room in its own mailbox appears only when this actor's turn
           * releases it: waiting would never end. */
          acto__msg_free(m);
          r = ACTO_EFULL;
        } else if (self) {
          r = send_park_actor(sys, t, m, self);
        } else if (ctx || acto__in_callback()) {
          /* Inside init on a plain thread, or a callback of another
           * system: waiting would block an actor (maybe on itself). */
          r = send_wait_thread(sys, t, m, 0);
        } else {
          r = send_wait_thread(sys, t, m, deadline_ms);
        }
        break;
      }
    }
  }
  if (own)
    acto__actor_release(t);
  return r;
}

int acto__send_system(acto_system *sys, acto_ref to, acto__msg *m) {
  if (!acto__ref_local(sys, to)) {
    /* Another system's ref: only one that names another node goes out
     * (acto__system_validate_ref); id 0 there is a plain thread, only as
     * an ask's reply target. */
    uint64_t self = atomic_load_explicit(&sys->node_id, memory_order_relaxed);
    if ((to.node >> 32) == 0 || (to.node >> 32) == (self >> 32))
      return ACTO_ESTALE;
    return to.id == 0 && !(m->kind == ACTO__KIND_REPLY && (m->flags & ACTO__MF_FUTURE))
               ? ACTO_ESTALE
               : acto__remote_send_system(sys, to, m);
  }
  acto__actor *t = acto__actor_acquire(sys, to);
  if (!t)
    return ACTO_ESTALE;
  m->target_id = to.id;
  if (acto__mailbox_push_system(&t->mb, m))
    acto__sched_schedule(sys, t);
  acto__actor_release(t);
  return 0;
}

/* The body of acto__send_from_node for a target t the caller holds a
 * reference to: 1 when m parked, 0 otherwise.  Changes no reference. */
static int from_node(acto_system *sys, acto__actor *t, acto__msg *m, acto__twaiter *tw) {
  int was_empty = 0;
  if (m->pub.size > t->mb.max_bytes) {
    acto__send_dead_letter(sys, m, ACTO_DEAD_FULL);
    return 0;
  }
  if (acto__mailbox_reserve(&t->mb, m->pub.size, t->mb.policy != ACTO_OVERFLOW_BLOCK,
                            &was_empty) == ACTO__MB_OK) {
    acto__mailbox_push_reserved(&t->mb, m);
    if (was_empty)
      acto__sched_schedule(sys, t);
    return 0;
  }
  switch (t->mb.policy) {
  case ACTO_OVERFLOW_FAIL:
    acto__send_dead_letter(sys, m, ACTO_DEAD_FULL);
    return 0;
  case ACTO_OVERFLOW_DROP_NEWEST:
  case ACTO_OVERFLOW_DROP_OLDEST:
    drop_for_room(sys, t, m, t->mb.policy);
    return 0;
  default: {
    /* Block: park like a plain thread, but be notified instead of
     * waiting (the transport's waiting area holds what follows). */
    tw->state = 0;
    m->twaiter = tw;
    int r = park_and_drain(t, m);
    if (r < 0) {
      m->twaiter = NULL;
      acto__send_dead_letter(sys, m, ACTO_DEAD_STALE);
      return 0;
    }
    return r == 1;
  }
  }
}

int acto__send_from_node(acto_system *sys, acto_ref to, acto__msg *m, acto__twaiter *tw,
                         acto__actor **held) {
  m->target_id = to.id;
  *held = NULL;
  acto__actor *t = acto__actor_acquire(sys, to);
  if (!t) {
    acto__send_dead_letter(sys, m, ACTO_DEAD_STALE);
    return 0;
  }
  int parked = from_node(sys, t, m, tw);
  if (parked)
    *held = t;
  else
    acto__actor_release(t);
  return parked;
}

acto__actor *acto__send_node_target(acto_system *sys, uint64_t id) {
  return acto__actor_acquire_id(sys, id);
}

int acto__send_from_node_held(acto_system *sys, acto__actor *t, acto__msg *m, acto__twaiter *tw,
                              acto__actor **held) {
  m->target_id = t->id;
  *held = NULL;
  int parked = from_node(sys, t, m, tw);
  if (parked) {
    /* The parked message's own reference, beside the caller's: relaxed,
     * as the caller's reference keeps rc above 0 (no resurrection). */
    atomic_fetch_add_explicit(&t->rc, 1, memory_order_relaxed);
    *held = t;
  }
  return parked;
}

int acto__send_node_cancel(acto_system *sys, acto__actor *t, acto__msg *m, acto__twaiter *tw) {
  acto__spin_lock(&t->mb.park_lock);
  /* m is only a name here: if its verdict came, the block may be freed
   * and reused.  A block found in the list is live; it is ours only if it
   * still waits for our tw. */
  int removed = acto__mailbox_park_find(&t->mb, m) && m->twaiter == tw &&
                acto__mailbox_park_remove(&t->mb, m);
  acto__spin_unlock(&t->mb.park_lock);
  if (removed) {
    m->twaiter = NULL;
    acto__send_dead_letter(sys, m, ACTO_DEAD_NOCONNECTION);
  }
  acto__actor_release(t);
  return removed;
}

int acto_send_ex(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                 const acto_send_opts *opts) {
  void (*free_fn)(void *) = opts ? opts->free_fn : NULL;
  int err = 0;
  if (!sys || type >= ACTO_MSG_RESERVED || size > ACTO_MSG_MAX_SIZE || (size > 0 && !data) ||
      (opts && (opts->deadline_ms < -1 || !ACTO__RESERVED_CLEAR(opts))))
    err = ACTO_EINVAL;
  else if (acto__system_validate_ref(sys, to) != 0)
    err = ACTO_ESTALE;
  if (err) {
    if (free_fn && data)
      free_fn((void *)data);
    if (err == ACTO_ESTALE)
      acto__system_count_dead(sys, to, type, size, ACTO_DEAD_STALE);
    return err;
  }
  acto__msg *m = acto__msg_new(type, data, size, free_fn);
  if (!m) {
    if (free_fn && data)
      free_fn((void *)data);
    return ACTO_ENOMEM;
  }
  acto_ctx *ctx = acto__tls_ctx;
  if (ctx && ctx->sys == sys && ctx->self)
    m->pub.sender = acto__ref_of(sys, ctx->self);
  return acto__send_msg(sys, to, m, opts ? opts->fail_fast : 0, opts ? opts->deadline_ms : -1, 0);
}

int acto_send(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size) {
  return acto_send_ex(sys, to, type, data, size, NULL);
}
