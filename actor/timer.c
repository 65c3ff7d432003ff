/* timer.c - the timer thread: send-after, periodic sends, cancellation,
 * and the deadlines of actors' asks.
 *
 * DESIGN
 * One thread sleeps on a condvar until the earliest due time of a binary
 * min-heap, then sends what is due (outside the lock) into the targets'
 * mailboxes like any send, except that a full mailbox counts a dead letter
 * (ACTO_DEAD_FULL) instead of blocking the timer thread.  A periodic timer
 * is re-armed from the time it fired, skipping missed periods.
 *
 * Records are reference counted: one reference while the timer is
 * registered (in the id table), one per message in flight.  Cancellation
 * marks the record and unregisters it; a message of a cancelled timer that
 * is already queued is discarded when its turn comes (the consumer checks
 * acto__timer_msg_live), so after a successful cancel nothing of that timer
 * is handled.  A one-shot timer stays registered until its message is
 * about to be handled (or is discarded), so it can be cancelled up to that
 * moment and not after: cancel and dispatch race for one mutex.  A
 * periodic timer whose target is gone cancels itself.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/clock.h"

struct acto__timer_rec {
  acto__msg_hold hold; /* first: a message's reference on the record */
  uint64_t id;
  uint64_t due;
  uint64_t period; /* 0: one-shot */
  acto_ref to;
  acto_ref sender;
  uint32_t type;
  int ask; /* an ask deadline: push ASK_TIMEOUT(req_id) */
  uint64_t req_id;
  void *data;
  size_t size;
  _Atomic uint32_t refs;
  _Atomic int cancelled;
  int registered; /* in the id table (owner mtx) */
  size_t hidx;    /* heap index, SIZE_MAX when not in the heap (owner mtx) */
  acto__timer_rec *hnext;
  acto__timers *owner;
};

#define NOT_IN_HEAP ((size_t)-1)

static void table_unlink(acto__timers *t, acto__timer_rec *r);

static void rec_free(acto__timer_rec *r) {
  free(r->data);
  free(r);
}

/* Drops a reference: a message's (its hold) or the table's. */
static void rec_unref(acto__timer_rec *r) {
  if (r->period == 0 && !r->ask) {
    /* A one-shot timer's message is done with: the timer has finished. */
    acto__timers *t = r->owner;
    int drop = 0;
    pthread_mutex_lock(&t->mtx);
    if (r->registered) {
      acto__timer_rec **pp = &t->buckets[r->id % t->nbuckets];
      while (*pp != r)
        pp = &(*pp)->hnext;
      *pp = r->hnext;
      r->registered = 0;
      t->count--;
      drop = 1;
    }
    pthread_mutex_unlock(&t->mtx);
    if (drop && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
      rec_free(r);
      return;
    }
  }
  /* acq_rel: the last holder frees the record after every other use. */
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
    rec_free(r);
}

static void rec_hold_drop(acto__msg_hold *h) { rec_unref((acto__timer_rec *)h); }

int acto__timer_msg_live(const acto__msg *m) {
  acto__timer_rec *r = (acto__timer_rec *)m->held; /* hold is its first member */
  if (r->period != 0)
    return !atomic_load_explicit(&r->cancelled, memory_order_acquire);
  /* A one-shot timer is consumed when its message is about to be handled:
   * from here on cancel answers ACTO_ENOENT; before, cancel wins. */
  acto__timers *t = r->owner;
  int live = 0, drop = 0;
  pthread_mutex_lock(&t->mtx);
  if (!atomic_load_explicit(&r->cancelled, memory_order_relaxed)) {
    live = 1;
    if (r->registered) {
      table_unlink(t, r);
      drop = 1;
    }
  }
  pthread_mutex_unlock(&t->mtx);
  if (drop)
    atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel); /* m still holds one */
  return live;
}

/* ---- heap (owner mtx) ---------------------------------------------------- */

static void heap_set(acto__timers *t, size_t i, acto__timer_rec *r) {
  t->heap[i] = r;
  r->hidx = i;
}

static void heap_up(acto__timers *t, size_t i) {
  acto__timer_rec *r = t->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (t->heap[p]->due <= r->due)
      break;
    heap_set(t, i, t->heap[p]);
    i = p;
  }
  heap_set(t, i, r);
}

static void heap_down(acto__timers *t, size_t i) {
  acto__timer_rec *r = t->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= t->n)
      break;
    if (c + 1 < t->n && t->heap[c + 1]->due < t->heap[c]->due)
      c++;
    if (r->due <= t->heap[c]->due)
      break;
    heap_set(t, i, t->heap[c]);
    i = c;
  }
  heap_set(t, i, r);
}

static int heap_push(acto__timers *t, acto__timer_rec *r) {
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 64;
    acto__timer_rec **nh = realloc(t->heap, nc * sizeof(*nh));
    if (!nh)
      return -1;
    t->heap = nh;
    t->cap = nc;
  }
  heap_set(t, t->n++, r);
  heap_up(t, t->n - 1);
  return 0;
}

static void heap_remove(acto__timers *t, acto__timer_rec *r) {
  size_t i = r->hidx;
  r->hidx = NOT_IN_HEAP;
  t->n--;
  if (i == t->n)
    return;
  acto__timer_rec *moved = t->heap[t->n];
  heap_set(t, i, moved);
  heap_up(t, i);
  heap_down(t, moved->hidx);
}

/* ---- id table (owner mtx) ------------------------------------------------ */

static int table_grow(acto__timers *t) {
  size_t nb = t->nbuckets * 2;
  acto__timer_rec **b = calloc(nb, sizeof(*b));
  if (!b)
    return -1;
  for (size_t i = 0; i < t->nbuckets; i++) {
    acto__timer_rec *r = t->buckets[i];
    while (r) {
      acto__timer_rec *next = r->hnext;
      r->hnext = b[r->id % nb];
      b[r->id % nb] = r;
      r = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
  return 0;
}

static acto__timer_rec *table_find(acto__timers *t, uint64_t id) {
  acto__timer_rec *r = t->buckets[id % t->nbuckets];
  while (r && r->id != id)
    r = r->hnext;
  return r;
}

static void table_unlink(acto__timers *t, acto__timer_rec *r) {
  acto__timer_rec **pp = &t->buckets[r->id % t->nbuckets];
  while (*pp != r)
    pp = &(*pp)->hnext;
  *pp = r->hnext;
  r->registered = 0;
  t->count--;
}

/* ---- the thread ------------------------------------------------------------ */

static void fire(acto__timers *t, acto__timer_rec *r) {
  acto_system *sys = t->sys;
  if (r->ask) {
    acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
    if (m) {
      m->kind = ACTO__KIND_ASK_TIMEOUT;
      m->req_id = r->req_id;
      if (acto__send_system(sys, r->to, m) != 0)
        acto__msg_free(m);
    }
    acto__timer_cancel_id(sys, r->id); /* finished */
    rec_unref(r);
    return;
  }
  acto__msg *m = acto__msg_new(r->type, r->data, r->size, NULL);
  if (!m) {
    rec_unref(r);
    return;
  }
  m->flags = ACTO__MF_TIMER;
  m->held = &r->hold; /* the reference taken by the caller moves to m */
  m->pub.sender = r->sender;
  /* r may be freed once m is (a one-shot timer ends with its message). */
  uint64_t id = r->id;
  int periodic = r->period != 0;
  int rc = acto__send_msg(sys, r->to, m, 1, 0, 1);
  if (rc == ACTO_ESTALE && periodic)
    acto__timer_cancel_id(sys, id); /* the target is gone for good */
}

/* Takes the earliest record if it is due at `now` (re-arming a periodic
 * one) with a reference for the firing; caller holds t->mtx. */
static acto__timer_rec *take_due(acto__timers *t, uint64_t now) {
  if (t->n == 0 || t->heap[0]->due > now)
    return NULL;
  acto__timer_rec *r = t->heap[0];
  heap_remove(t, r);
  if (r->period) {
    /* Saturating: a period too long to represent never comes round. */
    r->due = acto__sat_add(r->due, r->period);
    if (r->due <= now)
      r->due = acto__sat_add(now, r->period);
    heap_push(t, r); /* cannot fail: the slot was just freed */
  }
  atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
  return r;
}

int acto__timers_next_due(acto__timers *t, uint64_t *due) {
  pthread_mutex_lock(&t->mtx);
  /* A timer saturated at ACTO__NEVER never fires: it is not "due". */
  int any = t->n > 0 && t->heap[0]->due != ACTO__NEVER;
  if (any)
    *due = t->heap[0]->due;
  pthread_mutex_unlock(&t->mtx);
  return any;
}

void acto__timers_fire_due(acto__timers *t, uint64_t now) {
  pthread_mutex_lock(&t->mtx);
  acto__timer_rec *r;
  while ((r = take_due(t, now)) != NULL) {
    pthread_mutex_unlock(&t->mtx);
    fire(t, r);
    pthread_mutex_lock(&t->mtx);
  }
  pthread_mutex_unlock(&t->mtx);
}

uint64_t acto__timers_pending(acto__timers *t) {
  pthread_mutex_lock(&t->mtx);
  uint64_t n = t->count; /* registered: armed, neither cancelled nor done */
  pthread_mutex_unlock(&t->mtx);
  return n;
}

static void *timer_main(void *arg) {
  acto__timers *t = arg;
  acto__thread_begin(t->sys, "acto-timer");
  pthread_mutex_lock(&t->mtx);
  while (!t->stop) {
    acto__timer_rec *r = take_due(t, acto__clock_now_ns());
    if (r) {
      pthread_mutex_unlock(&t->mtx);
      fire(t, r);
      pthread_mutex_lock(&t->mtx);
      continue;
    }
    acto__clock_wait(&t->cv, &t->mtx, t->n == 0 ? ACTO__NEVER : t->heap[0]->due);
  }
  pthread_mutex_unlock(&t->mtx);
  acto__thread_end(t->sys, "acto-timer");
  return NULL;
}

int acto__timers_init(acto__timers *t, acto_system *sys) {
  memset(t, 0, sizeof(*t));
  t->sys = sys;
  t->nbuckets = 64;
  t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
  if (!t->buckets)
    return -1;
  if (pthread_mutex_init(&t->mtx, NULL) != 0 || acto__clock_cond_init(&t->cv) != 0) {
    free(t->buckets);
    return -1;
  }
  return 0;
}

int acto__timers_start(acto__timers *t) {
  if (t->sys->det)
    return 0; /* the driving thread fires timers (scheduler.c) */
  if (pthread_create(&t->thread, NULL, timer_main, t) != 0)
    return -1;
  t->started = 1;
  return 0;
}

void acto__timers_stop(acto__timers *t) {
  if (!t->started)
    return;
  pthread_mutex_lock(&t->mtx);
  t->stop = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mtx);
  pthread_join(t->thread, NULL);
  t->started = 0;
}

void acto__timers_destroy(acto__timers *t) {
  /* Every message is gone by now; drop the registrations. */
  for (size_t i = 0; i < t->nbuckets; i++) {
    acto__timer_rec *r = t->buckets[i];
    while (r) {
      acto__timer_rec *next = r->hnext;
      rec_free(r);
      r = next;
    }
  }
  free(t->buckets);
  free(t->heap);
  pthread_cond_destroy(&t->cv);
  pthread_mutex_destroy(&t->mtx);
}

static uint64_t timer_add(acto_system *sys, acto__timer_rec *r, int64_t delay_ms) {
  acto__timers *t = &sys->timers;
  r->owner = t;
  r->hidx = NOT_IN_HEAP;
  atomic_init(&r->refs, 1);
  atomic_init(&r->cancelled, 0);
  pthread_mutex_lock(&t->mtx);
  if (t->count >= t->nbuckets && table_grow(t) != 0) {
    pthread_mutex_unlock(&t->mtx);
    return 0;
  }
  r->id = ++t->next_id;
  r->due = acto__deadline_after(acto__system_now_ns(sys), delay_ms); /* saturates */
  if (heap_push(t, r) != 0) {
    pthread_mutex_unlock(&t->mtx);
    return 0;
  }
  r->hnext = t->buckets[r->id % t->nbuckets];
  t->buckets[r->id % t->nbuckets] = r;
  r->registered = 1;
  t->count++;
  if (t->heap[0] == r)
    pthread_cond_signal(&t->cv);
  uint64_t id = r->id;
  pthread_mutex_unlock(&t->mtx);
  return id;
}

uint64_t acto__timer_ask_deadline(acto_system *sys, acto_ref to, uint64_t req_id, int64_t ms) {
  acto__timer_rec *r = calloc(1, sizeof(*r));
  if (!r)
    return 0;
  r->hold.drop = rec_hold_drop;
  r->to = to;
  r->ask = 1;
  r->req_id = req_id;
  uint64_t id = timer_add(sys, r, ms);
  if (!id)
    free(r);
  return id;
}

int acto__timer_cancel_id(acto_system *sys, uint64_t id) {
  acto__timers *t = &sys->timers;
  pthread_mutex_lock(&t->mtx);
  acto__timer_rec *r = table_find(t, id);
  if (!r) {
    pthread_mutex_unlock(&t->mtx);
    return ACTO_ENOENT;
  }
  table_unlink(t, r);
  if (r->hidx != NOT_IN_HEAP)
    heap_remove(t, r);
  /* release: pairs with the acquire in acto__timer_msg_live. */
  atomic_store_explicit(&r->cancelled, 1, memory_order_release);
  pthread_mutex_unlock(&t->mtx);
  if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
    rec_free(r);
  return 0;
}

static int timer_new(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                     int64_t delay_ms, int64_t period_ms, acto_timer *out) {
  if (!sys || size > ACTO_MSG_MAX_SIZE || (size > 0 && !data) || delay_ms < 0 || period_ms < 0)
    return ACTO_EINVAL;
  if (acto__system_validate_ref(sys, to) != 0)
    return ACTO_ESTALE;
  if (atomic_load_explicit(&sys->shutting_down, memory_order_relaxed))
    return ACTO_ESHUTDOWN;
  acto__timer_rec *r = calloc(1, sizeof(*r));
  if (!r)
    return ACTO_ENOMEM;
  r->hold.drop = rec_hold_drop;
  if (size > 0) {
    r->data = malloc(size);
    if (!r->data) {
      free(r);
      return ACTO_ENOMEM;
    }
    memcpy(r->data, data, size);
  }
  r->size = size;
  r->to = to;
  r->type = type;
  r->period = acto__deadline_after(0, period_ms); /* saturates */
  acto_ctx *ctx = acto__tls_ctx;
  if (ctx && ctx->sys == sys && ctx->self)
    r->sender = acto__actor_ref(ctx->self);
  uint64_t id = timer_add(sys, r, delay_ms);
  if (!id) {
    rec_free(r);
    return ACTO_ENOMEM;
  }
  if (out)
    *out = id;
  return 0;
}

int acto_send_after(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                    int64_t delay_ms, acto_timer *out) {
  if (type >= ACTO_MSG_RESERVED)
    return ACTO_EINVAL;
  return timer_new(sys, to, type, data, size, delay_ms, 0, out);
}

int acto__timer_send_after(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                           size_t size, int64_t delay_ms, acto_timer *out) {
  return timer_new(sys, to, type, data, size, delay_ms, 0, out);
}

int acto_send_periodic(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                       size_t size, int64_t delay_ms, int64_t period_ms, acto_timer *out) {
  if (period_ms <= 0 || type >= ACTO_MSG_RESERVED)
    return ACTO_EINVAL;
  return timer_new(sys, to, type, data, size, delay_ms, period_ms, out);
}

int acto_timer_cancel(acto_system *sys, acto_timer t) {
  if (!sys || t == 0)
    return t == 0 && sys ? ACTO_ENOENT : ACTO_EINVAL;
  return acto__timer_cancel_id(sys, t);
}
