/* scheduler.c - the workers: where runnable actors come from, parking idle
 * workers, and deterministic mode.  An actor's turn is turn.c's.
 *
 * DESIGN
 * Where work comes from.  A worker takes, in order: its run-next slot, its
 * own run queue, then steals half of another worker's queue (a lone actor,
 * and the run-next slot itself, only from a worker that has stayed inside
 * one turn for LONE_WAIT_NS: see "Lone actors").  An actor made
 * runnable by a send from inside a turn goes into the sending worker's
 * run-next slot (the previous occupant moves to the queue tail), so a pair
 * of actors talking to each other stays on one core and never pays for a
 * cross-core hand-off.  Run-next cannot starve the queue: after 8
 * consecutive run-next turns the worker takes from its queue first.  The
 * streak sets the latency tail when many request-reply chains share a
 * worker: each chain runs a streak, then waits for every other chain's, so
 * a round trip's worst wait grows with the streak (bench/ask, 16 chains on
 * 2 workers, one sitting: p99 72 us with 16, 43 with 8, 28 with 4, 20 with
 * 2, at the same rate; the median rose from 0.6 to 0.8 us at 4 and to
 * 4.6 us at 2).  Each streak's end costs a queue push and a colder actor,
 * though: bench/big (1,000 chains) lost 1% at 16, 2-6% at 8 and 4-10% at 4
 * against the same runs at 16 before issue 12.  8 halves the tail for
 * little of that (Tokio's LIFO slot stops at 3 polls, for the tail).  A
 * pair alone on a worker (pingpong) never ends a streak: the queue is
 * empty.
 * Actors made runnable by plain threads (and timers) go round-robin into
 * the workers' queues.
 *
 * Resumed parkers.  An actor whose parked sends were all delivered is
 * resumed by whoever delivered the last one: usually the target's worker,
 * draining after a release.  It goes to that worker's bound queue, which
 * the worker serves in turn with its queue (after its run-next streak) and
 * which thieves leave alone unless the worker has stayed in one turn for
 * LONE_WAIT_NS.  A parked sender waits on a consumer that is slower than
 * its producers: running them on another core does not make the consumer
 * faster, and makes every message a cache-line transfer between cores.
 * Measured (bench/fanin, 8 producers, one collector, 2 workers): when the
 * resumed producer went to the resumer's run-next slot and could be
 * stolen, the idle worker stole producers back and runs flipped between
 * ~15 M/s and ~3 M/s (~200,000 steals); sent back to the worker they last
 * ran on, they stayed spread over both cores, at ~3.3 M/s on a host where
 * a line transfer is slow and ~11-16 M/s where it is fast; bound to the
 * collector's worker, 20-26 M/s on both, with the second worker idle.
 * bench/counting (one producer) resumes on its consumer's core as before.
 * The cost: producers that do much work of their own per message share
 * the consumer's core while they keep finding its mailbox full.  A
 * resume from a thread that is not a worker goes to the queue of the
 * worker the actor last ran on (acto__actor.home) and wakes a sleeper.
 *
 * Lone actors.  An actor alone in a worker's queue (or in its run-next
 * slot) is that worker's: it will run it after the current turn, on the
 * core where its messages are warm.  A thief takes it only when the owner
 * has stayed in one turn for LONE_WAIT_NS (0.5 ms), so that a long handler
 * cannot hold it up for long (see Parking for the bound).  The thief tells a long
 * turn by the owner's turn counter: it notes the counter and the time when
 * it saw it move (watch_turns), and takes the lone actor once the counter
 * has stood still for LONE_WAIT_NS.  Before, the rule was "still for the
 * thief's whole spin" (64 rounds, ~40 us, set by how long a pause
 * instruction takes): shorter than one burst of a producer's turn
 * (bench/counting sends up to 1,024 messages a turn), so the idle worker
 * kept taking the consumer away from its producer; each such steal put the
 * pair on two cores for a while, where every message costs a cache-line
 * transfer.  counting ran at 10-11 M/s with 2 workers against 20-26 M/s
 * with 1, with ~6,000 steals a run; with the time rule it steals none
 * and runs at 28 M/s.
 *
 * Parking.  A worker that found nothing spins briefly (spinners), then
 * takes park_mtx, announces itself in `sleepers`, looks once more for
 * work (its own queues, or elsewhere a queue of two or more, or anything
 * behind a parked owner: work_for) and only then waits on park_cv.  A producer that pushed
 * into a queue wakes one sleeper when nobody spins, except a worker that
 * pushed onto its own queue leaving one actor there (wake_if_stealable):
 * that one is its own to run, no thief may take it yet, and the wake would
 * cost a futex call on the busy worker's time for nothing.  sleepers,
 * spinners and the queues' len are seq_cst, so either the producer sees
 * the sleeper or the sleeper's last look sees the work: no lost wake-up.
 * A sleeper that saw a lone actor elsewhere wakes when that actor may be
 * taken (LONE_WAIT_NS after its worker's turn counter last moved), looks,
 * and sleeps again if the counter moved; otherwise it wakes every PARK_MS
 * (50 ms).  A worker woken by its timeout looks once and parks again
 * without spinning: its spin would take CPU from the busy ones.  (Waking
 * every 0.5 ms whenever another worker was busy cost group_broadcast,
 * whose 4 processes keep 12 threads on 2 cores, a quarter of its rate.)
 * So an actor left alone behind a long turn waits about 0.5 to 1 ms when
 * an idle worker had seen it, and at most 50 ms when it came after every
 * idle worker had gone to sleep.  An idle system does nothing else.
 *
 * I/O turns.  A message from another node is read and delivered by the
 * node's I/O thread.  Handed to a worker, its turn costs that thread a
 * wake-up and the worker a second core's view of the actor: measured on
 * bench/remote_pingpong (2 processes, 2 workers each, 2 cores), the time
 * from the read to the reply's send was 10-24 us, against 13-17 us when
 * the I/O thread ran the turn itself, and the spinning workers it woke
 * took the cores the other process's I/O thread needed.  So a behaviour
 * may say, with ACTO_BEHAVIOUR_IO_TURNS, that its handlers are short and
 * never block; then, between acto__sched_io_begin and _end (around one
 * read of one connection), the first such actor that a delivery makes
 * runnable is not queued: it waits in the run-next slot of an extra
 * worker, workers[nworkers], that only the I/O thread uses and no thief
 * sees, and acto__sched_io_end runs one turn of it there, with that
 * worker as acto__tls_worker (calls that may not block on a worker are
 * refused there too).  Whatever else becomes runnable meanwhile (other
 * deliveries, the actor's own local sends, its next turn if its batch
 * ran out) goes round-robin to the real workers when the turn ends, so
 * nothing waits behind the I/O thread.  Not by default: a handler that
 * blocks there (bench/hol's stuck actor waits for a release that must
 * come over the network) stops the node's reads and heartbeats.  A
 * behaviour with IO_SLOW_STRIKES (3) turns there over IO_TURN_MAX_NS
 * (1 ms), at least 1 in 20 of the I/O turns since the first of the three,
 * is logged once and runs on workers from then on (io_watch;
 * if more than 16 behaviours are ever slow there, no more I/O turns).
 * Not at the first slow turn: a turn of a few microseconds is stretched
 * past 1 ms whenever the thread loses its core, which on a loaded 2-core
 * host happened to about 1 turn in 300 (and the first turn of bench's
 * ponger once took 1.9 ms on a quiet one); a handler that is slow by
 * nature is slow every time and goes at its third turn.  A handler that
 * blocks for good (waiting for what only the network brings) is not
 * saved by any count: hence the flag.
 *
 * Deterministic mode.  No threads: acto__sched_det_run drives worker 0
 * on the calling thread, and when no actor can run it moves the virtual
 * clock to the earliest timer and fires what is due.  The one choice the
 * scheduler has (run-next slot or queue head) is drawn from the seed.
 */
#include <stdlib.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "actor/actor_internal.h"
#include "actor/clock.h"

#define RUNNEXT_STREAK_MAX 8
#define SPIN_ROUNDS 64
#define PARK_MS 50
/* A lone actor is taken from a worker that has stayed in one turn this
 * long (see "Lone actors" in the file comment). */
#define LONE_WAIT_NS 500000u

/* A turn on the I/O thread longer than this retires its behaviour from
 * I/O turns (see "I/O turns" in the file comment). */
#define IO_TURN_MAX_NS 1000000u
#define IO_SLOW_STRIKES 3u

/* The I/O thread, between acto__sched_io_begin and _end. */
static _Thread_local acto_system *io_sys;

static void wake_one(acto_system *sys) {
  if (atomic_load_explicit(&sys->sleepers, memory_order_seq_cst) > 0 &&
      atomic_load_explicit(&sys->spinners, memory_order_seq_cst) == 0) {
    pthread_mutex_lock(&sys->park_mtx);
    pthread_cond_signal(&sys->park_cv);
    pthread_mutex_unlock(&sys->park_mtx);
  }
}

/* After this worker pushed onto its own queue: a lone actor there is this
 * worker's to run next, and no thief may take it before LONE_WAIT_NS
 * (see Parking for when a sleeping thief looks again): waking one would
 * only cost a futex call on this worker's time.  Two or more can be
 * stolen: wake. */
static void wake_if_stealable(acto__worker *w) {
  if (atomic_load_explicit(&w->q.len, memory_order_seq_cst) >= 2)
    wake_one(w->sys);
}

/* Runs a's turn (turn.c); an actor that used its whole batch and still has
 * messages goes to the tail of this worker's queue. */
static void run_turn(acto__worker *w, acto__actor *a) {
  if (acto__turn_run(w, a)) {
    acto__runq_push(&w->q, a);
    wake_if_stealable(w);
  }
}

/* On the I/O thread inside a delivery: keeps a for acto__sched_io_end if
 * its behaviour asks for I/O turns and none is kept yet.  The I/O worker's
 * run-next slot is the I/O thread's alone (no thief looks at it). */
static int io_keep(acto_system *sys, acto__actor *a) {
  acto__worker *io = &sys->workers[sys->nworkers];
  if (!(a->b->flags & ACTO_BEHAVIOUR_IO_TURNS) || sys->io_off ||
      atomic_load_explicit(&io->runnext, memory_order_relaxed) != NULL)
    return 0;
  for (unsigned k = 0; k < sys->io_nwatch; k++)
    if (sys->io_watch[k].b == a->b && sys->io_watch[k].retired)
      return 0;
  atomic_store_explicit(&io->runnext, a, memory_order_relaxed);
  return 1;
}

void acto__sched_schedule(acto_system *sys, acto__actor *a) {
  acto__worker *w = acto__tls_worker;
  if (w && w->sys == sys) {
    /* acq_rel: publishes a to a thief that may take the slot (find_work),
     * and acquires the displaced actor. */
    acto__actor *old = atomic_exchange_explicit(&w->runnext, a, memory_order_acq_rel);
    if (old) {
      acto__runq_push(&w->q, old);
      wake_if_stealable(w);
    }
    return;
  }
  if (io_sys == sys && io_keep(sys, a))
    return;
  unsigned i = atomic_fetch_add_explicit(&sys->inject_rr, 1, memory_order_relaxed) % sys->nworkers;
  acto__runq_push(&sys->workers[i].q, a);
  wake_one(sys);
}

/* See "Resumed parkers" in the file comment. */
void acto__sched_resume(acto_system *sys, acto__actor *a) {
  acto__worker *w = acto__tls_worker;
  if (sys->det) {
    acto__sched_schedule(sys, a);
    return;
  }
  if (w && w->sys == sys) {
    /* This worker is running (it is us), so it will look at its bound
     * queue before it parks: no wake-up is needed, and no thief may take
     * a bound actor anyway. */
    acto__runq_push(&w->bound, a);
    return;
  }
  unsigned home = a->home;
  if (home == 0 || home > sys->nworkers) {
    acto__sched_schedule(sys, a); /* not from a worker: round-robin */
    return;
  }
  acto__runq_push(&sys->workers[home - 1].q, a);
  wake_one(sys);
}

#define MAX_SNAPSHOT 64
_Static_assert(sizeof(((acto__worker *)0)->seen_turns) == MAX_SNAPSHOT * sizeof(uint64_t),
               "a note per worker for the first MAX_SNAPSHOT workers");

/* Adds one to a counter of w's that only w's thread writes (a plain
 * load and store: readers load it relaxed), when metrics are kept. */
static inline void count(acto__worker *w, _Atomic uint64_t *c) {
  if (w->sys->metrics)
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Busy time (metrics.c): w woke at `at` (waking) or goes to sleep at
 * `at`.  Owner only. */
static void busy_mark(acto__worker *w, uint64_t at, int waking) {
  if (!w->sys->metrics)
    return;
  if (waking) {
    atomic_store_explicit(&w->busy_since, at, memory_order_relaxed);
    return;
  }
  uint64_t since = atomic_load_explicit(&w->busy_since, memory_order_relaxed);
  if (since && at > since)
    atomic_store_explicit(&w->busy_ns,
                          atomic_load_explicit(&w->busy_ns, memory_order_relaxed) + (at - since),
                          memory_order_relaxed);
  atomic_store_explicit(&w->busy_since, 0, memory_order_relaxed);
}

/* Takes w's run-next actor (the owner, or a thief): NULL if it is empty
 * or another party took it first. */
static acto__actor *take_runnext(acto__worker *w) {
  acto__actor *a = atomic_load_explicit(&w->runnext, memory_order_relaxed);
  /* acq_rel: pairs with the exchange in acto__sched_schedule. */
  while (a && !atomic_compare_exchange_weak_explicit(&w->runnext, &a, NULL, memory_order_acq_rel,
                                                     memory_order_relaxed))
    ;
  return a;
}

/* stuck: NULL, or a flag per worker (the first MAX_SNAPSHOT): that worker
 * has been in one turn for LONE_WAIT_NS and loses even a lone queued
 * actor, and its run-next actor. */
static acto__actor *find_work(acto__worker *w, const uint8_t *stuck) {
  acto__actor *a = atomic_load_explicit(&w->runnext, memory_order_relaxed);
  if (a && w->sys->det && atomic_load_explicit(&w->q.len, memory_order_relaxed) > 0 &&
      (acto_random(w->sys) & 1)) {
    /* Deterministic mode: the choice between run-next and the queue is
     * the seed's, so different seeds explore different interleavings. */
    w->runnext_streak = RUNNEXT_STREAK_MAX;
  }
  if (a && (w->runnext_streak < RUNNEXT_STREAK_MAX ||
            (atomic_load_explicit(&w->q.len, memory_order_relaxed) == 0 &&
             atomic_load_explicit(&w->bound.len, memory_order_relaxed) == 0))) {
    a = take_runnext(w);
    if (a) {
      w->runnext_streak++;
      count(w, &w->runnext_hits);
      return a;
    }
  }
  w->runnext_streak = 0;
  /* The queue and the bound queue take turns, so neither starves. */
  w->bound_turn = !w->bound_turn;
  a = acto__runq_pop(w->bound_turn ? &w->bound : &w->q);
  if (a)
    return a;
  a = acto__runq_pop(w->bound_turn ? &w->q : &w->bound);
  if (a)
    return a;
  a = take_runnext(w);
  if (a) {
    count(w, &w->runnext_hits);
    return a;
  }
  acto_system *sys = w->sys;
  unsigned n = sys->nworkers;
  if (n > 1) {
    w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
    unsigned start = (unsigned)(w->rng >> 33) % n;
    for (unsigned k = 0; k < n; k++) {
      acto__worker *v = &sys->workers[(start + k) % n];
      if (v == w)
        continue;
      unsigned vi = (start + k) % n;
      int lone_ok = stuck && vi < MAX_SNAPSHOT && stuck[vi] &&
                    atomic_load_explicit(&v->turns, memory_order_relaxed) == w->seen_turns[vi];
      a = acto__runq_steal(&v->q, &w->q, lone_ok);
      /* A worker stuck in one long turn cannot run its run-next actor or
       * its bound ones either: take them rather than let them wait. */
      if (!a && lone_ok)
        a = take_runnext(v);
      if (!a && lone_ok)
        a = acto__runq_steal(&v->bound, &w->q, 1);
      if (a) {
        atomic_store_explicit(&w->steals, atomic_load_explicit(&w->steals, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        if (sys->metrics) /* v's line, written by every thief: an RMW */
          atomic_fetch_add_explicit(&v->steals_given, 1, memory_order_relaxed);
        return a;
      }
    }
  }
  return NULL;
}


/* Notes, for each other worker, when its turn counter was last seen to
 * move by this worker when idle (w->seen_turns, w->seen_at).  A counter
 * that still has the value noted has not moved since, whatever this
 * worker did meanwhile, so the notes stay true across its busy spells. */
static void watch_turns(acto__worker *w, uint64_t now) {
  acto_system *sys = w->sys;
  for (unsigned i = 0; i < sys->nworkers && i < MAX_SNAPSHOT; i++) {
    uint64_t t = atomic_load_explicit(&sys->workers[i].turns, memory_order_relaxed);
    if (t != w->seen_turns[i]) {
      w->seen_turns[i] = t;
      w->seen_at[i] = now;
    }
  }
}

/* Whether another worker has an actor a thief may not take yet (alone in
 * its queue, or in its run-next slot): sets stuck[] for those whose turn
 * has lasted LONE_WAIT_NS, and *wake_at to when the next one will have.
 * Returns 1 if any is stuck now. */
static int lone_work(acto__worker *w, uint64_t now, uint8_t *stuck, uint64_t *wake_at) {
  acto_system *sys = w->sys;
  int any = 0;
  for (unsigned i = 0; i < sys->nworkers && i < MAX_SNAPSHOT; i++) {
    acto__worker *v = &sys->workers[i];
    stuck[i] = 0;
    if (v == w || (atomic_load_explicit(&v->q.len, memory_order_relaxed) == 0 &&
                   atomic_load_explicit(&v->bound.len, memory_order_relaxed) == 0 &&
                   atomic_load_explicit(&v->runnext, memory_order_relaxed) == NULL))
      continue;
    uint64_t due = w->seen_at[i] + LONE_WAIT_NS;
    if (now >= due) {
      stuck[i] = 1;
      any = 1;
    } else if (due < *wake_at) {
      *wake_at = due;
    }
  }
  return any;
}

/* Whether w may not sleep: its own queues hold an actor (pushed by a
 * thread that is not a worker after w last looked), or another queue holds
 * work w may take at once (two actors or more, or any behind a parked
 * owner). */
static int work_for(acto__worker *w) {
  acto_system *sys = w->sys;
  if (atomic_load_explicit(&w->q.len, memory_order_seq_cst) > 0 ||
      atomic_load_explicit(&w->bound.len, memory_order_seq_cst) > 0)
    return 1;
  for (unsigned i = 0; i < sys->nworkers; i++) {
    size_t len = atomic_load_explicit(&sys->workers[i].q.len, memory_order_seq_cst);
    if (len >= 2 ||
        (len == 1 && atomic_load_explicit(&sys->workers[i].q.owner_parked, memory_order_relaxed)))
      return 1;
  }
  return 0;
}

static void *worker_main(void *arg) {
  acto__worker *w = arg;
  acto_system *sys = w->sys;
  acto__tls_worker = w;
  acto__tls_msgcache = sys->msgcaches[w->idx];
  char name[16];
  snprintf(name, sizeof name, "acto-w%u", w->idx);
  acto__thread_begin(sys, name);
  busy_mark(w, acto__clock_now_ns(), 1);
  int looked = 0; /* woken by the park timeout, not by work: look, don't spin */
  for (;;) {
    acto__actor *a = find_work(w, NULL);
    if (a) {
      run_turn(w, a);
      continue;
    }
    if (!looked) {
      atomic_fetch_add_explicit(&sys->spinners, 1, memory_order_seq_cst);
      /* With a node running, the node's I/O thread needs this CPU to hand
       * us the next message: spin politely (yield) instead of hogging it. */
      int yield = atomic_load_explicit(&sys->remote, memory_order_relaxed) != NULL;
      for (int i = 0; i < SPIN_ROUNDS && !a; i++) {
        if (yield && (i & 7) == 7)
          sched_yield();
        else
          for (int k = 0; k < 16; k++)
            acto__cpu_relax();
        a = find_work(w, NULL);
      }
      atomic_fetch_sub_explicit(&sys->spinners, 1, memory_order_seq_cst);
    }
    looked = 0;
    uint64_t now = acto__clock_now_ns();
    watch_turns(w, now);
    uint8_t stuck[MAX_SNAPSHOT];
    uint64_t wake_at = ACTO__NEVER;
    if (!a && lone_work(w, now, stuck, &wake_at))
      a = find_work(w, stuck); /* an actor waiting behind a long turn */
    if (a) {
      run_turn(w, a);
      continue;
    }
    pthread_mutex_lock(&sys->park_mtx);
    if (atomic_load_explicit(&sys->workers_stop, memory_order_relaxed)) {
      pthread_mutex_unlock(&sys->park_mtx);
      break;
    }
    atomic_fetch_add_explicit(&sys->sleepers, 1, memory_order_seq_cst);
    if (!work_for(w)) {
      acto__msgcache_flush(acto__tls_msgcache);
      /* seq_cst: a producer that pushes after this sees the flag and a
       * woken thief may take the lone actor it left here. */
      atomic_store_explicit(&w->q.owner_parked, 1, memory_order_seq_cst);
      atomic_store_explicit(&w->sleeps, atomic_load_explicit(&w->sleeps, memory_order_relaxed) + 1,
                            memory_order_relaxed);
      /* Until woken, or until a lone actor seen elsewhere may be taken,
       * or at most PARK_MS: a worker stuck in one long turn wakes nobody,
       * and an actor made runnable there later waits for this look (~20
       * wake-ups a second per idle worker: no measurable CPU). */
      uint64_t park_end = acto__sat_add(now, (uint64_t)PARK_MS * 1000000u);
      busy_mark(w, now, 0);
      looked = acto__clock_wait(&sys->park_cv, &sys->park_mtx,
                                wake_at < park_end ? wake_at : park_end) != 0;
      if (sys->metrics)
        busy_mark(w, acto__clock_now_ns(), 1);
      atomic_store_explicit(&w->q.owner_parked, 0, memory_order_relaxed);
    }
    atomic_fetch_sub_explicit(&sys->sleepers, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&sys->park_mtx);
  }
  busy_mark(w, acto__clock_now_ns(), 0);
  acto__msgcache_flush(acto__tls_msgcache);
  acto__tls_msgcache = NULL;
  acto__tls_worker = NULL;
  acto__thread_end(sys, name);
  return NULL;
}

int64_t acto__sched_det_run(acto_system *sys, int (*done)(void *), void *arg, uint64_t vdeadline_ns) {
  acto__worker *w = &sys->workers[0];
  acto__worker *saved_w = acto__tls_worker;
  acto__msgcache *saved_c = acto__tls_msgcache;
  acto__tls_worker = w;
  acto__tls_msgcache = sys->msgcaches[0];
  uint64_t before = atomic_load_explicit(&w->handled, memory_order_relaxed);
  for (;;) {
    if (done && done(arg))
      break;
    acto__actor *a = find_work(w, NULL);
    if (a) {
      run_turn(w, a);
      continue;
    }
    /* Idle: jump the virtual clock to the next timer, if one is due in
     * time. */
    uint64_t due;
    if (!acto__timers_next_due(&sys->timers, &due) || due > vdeadline_ns)
      break;
    if (due > atomic_load_explicit(&sys->vnow_ns, memory_order_relaxed))
      atomic_store_explicit(&sys->vnow_ns, due, memory_order_relaxed);
    acto__timers_fire_due(&sys->timers, atomic_load_explicit(&sys->vnow_ns, memory_order_relaxed));
  }
  acto__tls_worker = saved_w;
  acto__tls_msgcache = saved_c;
  return (int64_t)(atomic_load_explicit(&w->handled, memory_order_relaxed) - before);
}

int acto__sched_det_wait(acto_system *sys, int (*done)(void *), void *arg, int64_t timeout_ms) {
  uint64_t end = acto__deadline_after(acto__system_now_ns(sys), timeout_ms);
  acto__sched_det_run(sys, done, arg, end);
  if (done(arg))
    return 0;
  uint64_t due;
  if (!acto__timers_next_due(&sys->timers, &due))
    return ACTO_EDEADLK; /* no actor can run, no timer is left */
  if (end != ACTO__NEVER && acto__system_now_ns(sys) < end)
    atomic_store_explicit(&sys->vnow_ns, end, memory_order_relaxed);
  return ACTO_ETIMEDOUT;
}

void acto__sched_io_begin(acto_system *sys) {
  if (!sys->det)
    io_sys = sys;
}

/* Moves every actor in the I/O worker's slot and queues to the real
 * workers: called with acto__tls_worker and io_sys cleared, so
 * acto__sched_schedule injects each one round-robin and wakes a sleeper,
 * as for any thread that is not a worker. */
static void io_hand_over(acto_system *sys, acto__worker *io) {
  acto__actor *a = atomic_exchange_explicit(&io->runnext, NULL, memory_order_relaxed);
  if (a)
    acto__sched_schedule(sys, a);
  while ((a = acto__runq_pop(&io->q)) || (a = acto__runq_pop(&io->bound)))
    acto__sched_schedule(sys, a);
}

/* A turn of b on the I/O thread took `took` ns, over IO_TURN_MAX_NS:
 * counts it, and retires b when the strikes say it is slow by nature. */
static void io_slow_turn(acto_system *sys, acto__worker *io, const acto_behaviour *b,
                         uint64_t took) {
  uint64_t turns = atomic_load_explicit(&io->turns, memory_order_relaxed);
  struct acto__io_watch *e = NULL;
  for (unsigned k = 0; k < sys->io_nwatch && !e; k++)
    if (sys->io_watch[k].b == b)
      e = &sys->io_watch[k];
  if (!e) {
    if (sys->io_nwatch == sizeof sys->io_watch / sizeof sys->io_watch[0]) {
      sys->io_off = 1;
      acto__log(sys, ACTO_LOG_WARN, "scheduler",
                "more than %u behaviours were slow on the node's I/O thread: "
                "no more turns run there",
                (unsigned)(sizeof sys->io_watch / sizeof sys->io_watch[0]));
      return;
    }
    e = &sys->io_watch[sys->io_nwatch++];
    e->b = b;
    e->since = turns - 1; /* this turn included */
  }
  e->slow++;
  if ((uint64_t)e->slow * 20u < turns - e->since) {
    /* The earlier strikes are too sparse to count: start again here. */
    e->since = turns - 1;
    e->slow = 1;
  }
  if (e->retired || e->slow < IO_SLOW_STRIKES)
    return;
  e->retired = 1;
  acto__log(sys, ACTO_LOG_WARN, "scheduler",
            "behaviour %s: %u turns on the node's I/O thread took over %u us (the last "
            "%llu us): its turns run on workers from now on",
            b->name ? b->name : "(unnamed)", e->slow, IO_TURN_MAX_NS / 1000u,
            (unsigned long long)(took / 1000u));
}

int acto__sched_io_end(acto_system *sys) {
  if (io_sys != sys)
    return 0;
  io_sys = NULL;
  acto__worker *io = &sys->workers[sys->nworkers];
  acto__actor *a = atomic_exchange_explicit(&io->runnext, NULL, memory_order_relaxed);
  if (!a)
    return 0;
  /* a is ours until its turn ends: read what the check needs now. */
  const acto_behaviour *b = a->b;
  acto__worker *saved = acto__tls_worker;
  acto__tls_worker = io;
  io->runnext_streak = 0;
  uint64_t t0 = acto__clock_now_ns();
  if (acto__turn_run(io, a))
    acto__runq_push(&io->q, a); /* its batch ran out: a worker goes on */
  uint64_t took = acto__clock_now_ns() - t0;
  if (sys->metrics) /* the I/O row's busy time: its turns */
    atomic_store_explicit(&io->busy_ns,
                          atomic_load_explicit(&io->busy_ns, memory_order_relaxed) + took,
                          memory_order_relaxed);
  acto__tls_worker = saved;
  io_hand_over(sys, io);
  if (took > IO_TURN_MAX_NS)
    io_slow_turn(sys, io, b, took);
  return 1;
}

int acto__sched_start(acto_system *sys) {
  sys->msgcaches = acto__msgcache_create(sys->nworkers);
  if (!sys->msgcaches)
    return ACTO_ENOMEM;
  /* workers[nworkers] is the I/O thread's ("I/O turns"): no thread. */
  for (unsigned i = 0; i <= sys->nworkers; i++) {
    acto__worker *w = &sys->workers[i];
    w->sys = sys;
    w->idx = i;
    w->rng = 0x9e3779b97f4a7c15ull * (i + 1);
    acto__runq_init(&w->q);
    acto__runq_init(&w->bound);
  }
  if (sys->det)
    return 0; /* the driving thread is the worker */
  for (unsigned i = 0; i < sys->nworkers; i++) {
    if (pthread_create(&sys->workers[i].thread, NULL, worker_main, &sys->workers[i]) != 0) {
      atomic_store_explicit(&sys->workers_stop, 1, memory_order_seq_cst); /* as in acto__sched_stop */
      pthread_mutex_lock(&sys->park_mtx);
      pthread_cond_broadcast(&sys->park_cv);
      pthread_mutex_unlock(&sys->park_mtx);
      for (unsigned j = 0; j < i; j++)
        pthread_join(sys->workers[j].thread, NULL);
      acto__msgcache_destroy(sys->msgcaches, sys->nworkers);
      return ACTO_ENOMEM;
    }
  }
  return 0;
}

void acto__sched_stop(acto_system *sys) {
  if (sys->det) {
    acto__msgcache_destroy(sys->msgcaches, sys->nworkers);
    sys->msgcaches = NULL;
    return;
  }
  atomic_store_explicit(&sys->workers_stop, 1, memory_order_seq_cst);
  pthread_mutex_lock(&sys->park_mtx);
  pthread_cond_broadcast(&sys->park_cv);
  pthread_mutex_unlock(&sys->park_mtx);
  for (unsigned i = 0; i < sys->nworkers; i++)
    pthread_join(sys->workers[i].thread, NULL);
  /* Every actor is gone, so every block is back in some cache. */
  acto__msgcache_destroy(sys->msgcaches, sys->nworkers);
  sys->msgcaches = NULL;
}
