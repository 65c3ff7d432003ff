/* actor_internal.h - the internal types of the runtime: actor, worker,
 * system, and the functions the actor/ files call in each other.
 *
 * Thread ownership is written beside each field group.
 */
#ifndef ACTO_ACTOR_INTERNAL_H
#define ACTO_ACTOR_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"
#include "actor/remote.h"
#include "actor/runq.h"
#include "mailbox/mailbox.h"
#include "mailbox/message.h"

/* ---- actor ---------------------------------------------------------------
 * Actor blocks are type-stable (actor/pool.c): once allocated they stay
 * actor blocks until the system is destroyed, so a thread holding a stale
 * pointer can always read rc and id safely and then back out. */

/* park word: number of this actor's sends parked on full mailboxes, plus
 * the SUSPENDED bit once its turn ended with parked sends outstanding. */
#define ACTO__PARK_SUSPENDED ((uint32_t)1 << 31)

typedef struct acto__mon {
  uint64_t id;
  acto_ref ref; /* the target (monitors held) or the watcher (watchers) */
} acto__mon;

typedef struct acto__actor_ext {
  char *name;                 /* registered name (registry mutex), or NULL */
  /* Watchers of its end outside actor/ (acto__actor_watch): a bit per
   * slot of the registry's exit table; registry mutex. */
  uint8_t exit_watch;
  /* The rest belongs to the thread running the actor. */
  struct acto__ask_table *asks; /* pending asks of this actor */
  acto_ref *links;
  uint32_t nlinks, caplinks;
  acto__mon *mons; /* monitors this actor holds */
  uint32_t nmons, capmons;
  acto__mon *watchers; /* monitors on this actor */
  uint32_t nwatchers, capwatchers;
  acto_ref parent;      /* its supervisor (child.c), or none */
  const void *init_arg; /* init's argument for restarts in place */
  /* Requests it kept (acto_reply_later) and has not answered; under the
   * system's future table mutex (ask.c). */
  struct acto__kept *kept;
  /* How many are on that list: changed under the same mutex, read without
   * it by the actor's own thread (acto__ask_kept_close) to skip the lock
   * when it keeps nothing, the common case.  Only that thread adds, so a
   * 0 it reads is never stale; a stale non-zero only costs the lock. */
  _Atomic uint32_t nkept;
} acto__actor_ext;

typedef struct acto__actor {
  /* Read by every sender: on the senders' cache line with the mailbox's
   * first 48 bytes (see mailbox.h). */
  uint64_t id;             /* the ref id; written before publication */
  /* Any thread: references held by senders in flight, plus one held by
   * the live actor itself.  The block is recycled when it reaches zero. */
  _Atomic uint32_t rc;
  _Atomic uint32_t park;   /* see ACTO__PARK_SUSPENDED */
  acto__mailbox mb;
  acto_system *sys;
  const acto_behaviour *b;
  struct acto__actor *rq_next; /* run-queue link (runq lock) */
  /* Owned by the thread running the actor. */
  uint64_t carry;          /* count units still held from a suspended turn */
  /* Lazily allocated rare-path state; installed by CAS because the
   * registry (any thread) and the actor itself may both create it.  Its
   * name is guarded by the registry mutex, its asks by the owner. */
  _Atomic(acto__actor_ext *) ext;
  int32_t stop_reason;
  uint32_t fail_type;      /* type of the message whose handler failed */
  uint8_t stop_requested;
  uint8_t failed;
  uint8_t alive;           /* init done and not yet finalized */
  uint8_t size_class;
  uint8_t trap_exit;
  uint8_t terminated;      /* terminate already ran (supervised suspend) */
  uint8_t suspend_req;     /* a SUSPEND command asks to await a verdict */
  uint8_t home;            /* 1 + the worker of its last turn (0: none or >= 255);
                              written in its turns, read by whoever resumes it
                              after a parked send (ordered by the park word) */
  alignas(16) unsigned char state[];
} acto__actor;

/* The first cache line of an actor block (64-byte aligned, pool.c) is the
 * senders': id, rc, park, then the mailbox's 48 sender bytes. */
_Static_assert(offsetof(acto__actor, mb) == 16, "16 bytes of sender-read fields first");
_Static_assert(offsetof(acto__actor, mb) + offsetof(acto__mailbox, user) == 64,
               "the senders' fields fill the first cache line exactly");

/* ---- worker ------------------------------------------------------------- */

typedef struct acto__worker {
  acto_system *sys;
  pthread_t thread;
  unsigned idx;
  acto__runq q;
  /* Actors resumed here after their parked sends were delivered: bound to
   * this worker, never stolen but from a worker stuck in one turn
   * (scheduler.c, "Resumed parkers"). */
  acto__runq bound;
  /* Owner only. */
  unsigned bound_turn; /* find_work: the bound queue's turn next */
  /* Owner writes (exchange); a thief may take it (CAS) only from a worker
   * stuck in one long turn (scheduler.c). */
  _Atomic(acto__actor *) runnext;
  unsigned runnext_streak;
  uint64_t rng;
  /* Written by the owner, read by acto_get_stats (relaxed). */
  _Atomic uint64_t handled;
  _Atomic uint64_t steals;
  _Atomic uint64_t sleeps;
  /* Turns begun (owner writes, thieves read): a thief takes a lone queued
   * actor only from a worker stuck in one turn for its whole spin. */
  _Atomic uint64_t turns;
  /* Metrics (metrics.c; not kept with ACTO_CONFIG_NO_METRICS but for
   * the asks): owner writes, readers load relaxed; steals_given is added
   * to by thieves.  busy_since: when it last woke (0 while asleep). */
  _Atomic uint64_t runnext_hits;
  _Atomic uint64_t steals_given;
  _Atomic uint64_t busy_ns;
  _Atomic uint64_t busy_since;
  _Atomic uint64_t asks_sent; /* by actors running here (ask.c) */
  _Atomic uint64_t asks_done;
  /* Owner only, while idle: each worker's turn counter as last seen, and
   * when it was seen to move (scheduler.c, "Lone actors"). */
  uint64_t seen_turns[64];
  uint64_t seen_at[64];
  char pad[64];
} acto__worker;

/* The context of the actor a worker is running (acto_ctx is opaque). */
struct acto_ctx {
  acto_system *sys;
  acto__actor *self;
  acto__worker *worker; /* NULL during init on a plain thread */
  acto__msg *cur;       /* the message being handled, or NULL */
  uint32_t cur_type;    /* the type handle() sees for it (signals differ) */
  /* The last send target of this callback or turn, with a reference held
   * until the turn ends: repeated sends to one target skip the lookup and
   * the contended reference count.  Released when the ctx goes away. */
  struct acto__actor *held;
  /* Which callback runs: handle (a turn), init, or the incarnation's end
   * (terminate, cancelled continuations), where acto_ask_async is refused. */
  uint8_t phase;
};

enum { ACTO__PHASE_HANDLE = 0, ACTO__PHASE_INIT = 1, ACTO__PHASE_CLOSING = 2 };

/* ---- system ------------------------------------------------------------- */

#include "actor/pool.h"
#include "actor/table.h"
#include "actor/timer.h"
#include "actor/registry.h"
#include "actor/ask.h"
#include "actor/log.h"

struct acto_system {
  acto_config cfg;
  unsigned nworkers;
  acto__worker *workers;
  acto__msgcache **msgcaches; /* one per worker (message.c) */

  /* Parking: idle workers sleep on park_cv; see scheduler.c. */
  pthread_mutex_t park_mtx;
  pthread_cond_t park_cv;
  _Atomic int sleepers;
  _Atomic int spinners;
  _Atomic int workers_stop;
  _Atomic unsigned inject_rr;
  /* Turns on the node's I/O thread (scheduler.c, "I/O turns"): the I/O
   * thread's worker is workers[nworkers]; the behaviours that had a turn
   * there longer than IO_TURN_MAX_NS (I/O thread only). */
  struct acto__io_watch {
    const acto_behaviour *b;
    uint32_t slow;      /* its turns over IO_TURN_MAX_NS */
    uint8_t retired;    /* its turns run on workers for good */
    uint64_t since;     /* the I/O worker's turn count at its first one */
  } io_watch[16];
  unsigned io_nwatch;
  int io_off;           /* io_watch overflowed: no more I/O turns */

  acto__table table;
  acto__pool pool;
  acto__timers timers;
  acto__registry registry;
  acto__futures futures;
  _Atomic uint64_t next_ask_id;

  /* Deterministic mode (scheduler.c): virtual time and the seeded
   * generator; vnow is written only by the driving thread. */
  int det;
  _Atomic uint64_t vnow_ns;
  _Atomic uint64_t rng;

  /* Lifecycle.  closing is set first by acto_system_shutdown: calls that
   * would wait are refused (ACTO_ECLOSED) from then on, and `waiting`
   * counts the plain threads inside one (system.c); nothing is freed
   * before it is back to zero. */
  _Atomic int closing;
  _Atomic uint64_t waiting;
  _Atomic int shutting_down;
  _Atomic uint64_t live;
  pthread_mutex_t life_mtx;
  pthread_cond_t life_cv;

  /* Statistics (relaxed counters). */
  _Atomic uint64_t dead[ACTO_DEAD_REASON_COUNT];
  _Atomic uint64_t spawned, stopped, failed, parks, noreply;
  _Atomic uint64_t restarts;
  /* Asks begun and ended off the workers (ask.c): by actors whose init
   * runs on a plain thread, and the dropped entries of a freed table;
   * asks_plain counts plain threads waiting in acto_ask. */
  _Atomic uint64_t asks_sent, asks_done, asks_plain;
  int metrics; /* !(cfg.flags & ACTO_CONFIG_NO_METRICS) */

  /* Log lines (log.c): the hook, the level, the rate limit. */
  acto__logstate log;

  /* Hooks, read under hook_mtx. */
  pthread_mutex_t hook_mtx;
  acto_dead_letter_fn dead_fn;
  void *dead_user;
  acto_crash_fn crash_fn;
  void *crash_user;
  _Atomic uint64_t next_monitor_id;

  /* The identity every ref of this system carries in its node field:
   * 0 << 32 | a random incarnation, distinct among the systems alive in
   * this process (system.c); after acto_node_start, the node's id (the
   * name's hash << 32 | the same incarnation).  acto_node_start refuses
   * once an actor was spawned, so every ref handed out carries one value.
   * A ref with any other node field is another system's: remote if it
   * names a node, refused (ACTO_ESTALE) otherwise. */
  _Atomic uint64_t node_id;
  _Atomic(acto__remote *) remote; /* the transport (remote.c), or NULL */
};

/* The worker and context of the calling thread (NULL on plain threads). */
extern _Thread_local acto__worker *acto__tls_worker;
extern _Thread_local acto_ctx *acto__tls_ctx;

/* 1 on a worker thread (of any system) or inside any callback (init on a
 * plain thread included): a call that would wait returns ACTO_EDEADLK. */
static inline int acto__in_callback(void) { return acto__tls_worker != NULL || acto__tls_ctx != NULL; }

/* ---- functions shared between actor/ files ------------------------------ */
/* (Those a transport may call too are declared in remote.h.) */

/* actor.c */
acto__actor *acto__actor_acquire(acto_system *sys, acto_ref ref);
/* acto__actor_acquire for a ref already known to be local: by its id. */
acto__actor *acto__actor_acquire_id(acto_system *sys, uint64_t id);
void acto__actor_finalize(acto__actor *a, acto__worker *w);
acto__actor_ext *acto__actor_ext_get(acto__actor *a);
static inline acto__actor_ext *acto__actor_ext_peek(acto__actor *a) {
  /* acquire: pairs with the CAS that installed it. */
  return atomic_load_explicit(&a->ext, memory_order_acquire);
}
/* The ref of an actor: node is this node's id (0 without a node). */
static inline acto_ref acto__actor_ref(const acto__actor *a) {
  return (acto_ref){a->id, atomic_load_explicit(&a->sys->node_id, memory_order_relaxed)};
}
/* 1 if the ref names an actor of this system (its identity, above). */
static inline int acto__ref_local(acto_system *sys, acto_ref r) {
  return r.node == atomic_load_explicit(&sys->node_id, memory_order_relaxed);
}
/* acto__actor_ref when the system is at hand (one load less). */
static inline acto_ref acto__ref_of(acto_system *sys, const acto__actor *a) {
  return (acto_ref){a->id, atomic_load_explicit(&sys->node_id, memory_order_relaxed)};
}

/* system.c: the system's clock (virtual in deterministic mode). */
uint64_t acto__system_now_ns(acto_system *sys);

/* system.c: a thread acto starts names itself and calls the embedder's
 * hooks (acto_config.thread_start/stop) with these. */
void acto__thread_begin(acto_system *sys, const char *name);
void acto__thread_end(acto_system *sys, const char *name);
/* supervisor/: a child was restarted. */
void acto__system_count_restart(acto_system *sys);

/* scheduler.c */
/* Deterministic mode: runs the single worker on the calling thread until
 * done(arg) says so, or nothing can run and no timer is due by
 * vdeadline_ns (UINT64_MAX: any timer).  Returns messages handled. */
int64_t acto__sched_det_run(acto_system *sys, int (*done)(void *), void *arg, uint64_t vdeadline_ns);
/* Deterministic mode: a plain thread's wait for done(arg), at most
 * timeout_ms of virtual time (-1: none), driving the system meanwhile.  0
 * when done; ACTO_ETIMEDOUT when the virtual deadline passed (the clock
 * then stands at it); ACTO_EDEADLK when nothing can end the wait any more
 * (no actor can run, no timer is left). */
int acto__sched_det_wait(acto_system *sys, int (*done)(void *), void *arg, int64_t timeout_ms);
void acto__sched_schedule(acto_system *sys, acto__actor *a);
/* Schedules an actor resumed after its parked sends were delivered: on the
 * queue of the worker it last ran on (scheduler.c, "Resumed parkers"). */
void acto__sched_resume(acto_system *sys, acto__actor *a);
int acto__sched_start(acto_system *sys);
void acto__sched_stop(acto_system *sys);

/* send.c */
int acto__send_msg(acto_system *sys, acto_ref to, acto__msg *m, int fail_fast,
                   int64_t deadline_ms, int from_timer);
void acto__send_drain_parked(acto__actor *t);
void acto__send_close_parked(acto__actor *t);

/* system.c */
/* 0 if ref can be addressed: a local id, or a remote one while a node
 * runs; ACTO_ESTALE otherwise. */
int acto__system_validate_ref(acto_system *sys, acto_ref ref);

/* system.c: calls the crash hook. */
void acto__system_report_crash(acto_system *sys, acto__actor *a, int reason, uint32_t msg_type);

/* turn.c: runs handle() for a system-lane block m as a message of
 * `type` with the given payload (borrowed), recording a failure like a
 * user message's. */
void acto__turn_deliver(acto_ctx *ctx, acto__actor *a, acto__msg *m, uint32_t type,
                        const void *data, size_t size);
/* turn.c: runs one turn of actor a on worker w (DESIGN in turn.c).  1:
 * a used its whole batch and has messages left; it is still the caller's,
 * to queue again.  0: a is no longer the caller's (it may already run
 * elsewhere). */
int acto__turn_run(acto__worker *w, acto__actor *a);

/* link.c and monitor.c */
int acto__link_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m);    /* 1 if handled */
int acto__monitor_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m); /* 1 if handled */
void acto__link_on_close(acto__actor *a, int reason);
void acto__monitor_on_close(acto__actor *a, int reason);
int acto__link_add(acto__actor *a, acto_ref other); /* owner thread */
/* Drops every monitor the actor holds (a restart in place). */
void acto__monitor_drop_held(acto__actor *a);
void acto__link_ext_free(acto__actor_ext *ext);

/* child.c (the child side of supervision) */
int acto__child_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m); /* 1 if handled */
/* After a failure or SUSPEND: parks the actor awaiting its supervisor's
 * verdict.  Returns 1 if it did (the actor is no longer the caller's),
 * 0 if the actor has no supervisor to ask (the caller finalises it). */
int acto__child_suspend(acto__worker *w, acto__actor *a, uint64_t units);

/* registry.c: releases the actor's name, if any (it is stopping). */
void acto__registry_drop_actor(acto_system *sys, acto__actor *a);

#endif /* ACTO_ACTOR_INTERNAL_H */
