/* system.c - creating and shutting down a system; dead-letter accounting
 * and the hook; statistics.
 *
 * DESIGN: shutdown
 * 1. Set shutting_down: spawns and timers are refused from here on (a
 *    spawn racing with it re-checks the flag after inserting itself into
 *    the table, so the walk below either sees it or it backs out).
 * 2. Send stop to every actor in the table.  Stops travel on the system
 *    lane, so full mailboxes do not matter; a stopping actor's parked
 *    senders are resumed with their messages as dead letters, so chains of
 *    suspended producers unwind.
 * 3. Wait until no actor is live (each is destroyed when its last
 *    reference goes), then stop the timer thread and the workers, and
 *    free what is left.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "actor/actor_internal.h"
#include "actor/reserved.h"
#include "actor/clock.h"

int acto__system_validate_ref(acto_system *sys, acto_ref ref) {
  if (ref.id == 0)
    return ACTO_ESTALE;
  if (acto__ref_local(sys, ref))
    return 0;
  /* Another system's ref: addressable only if it names another node (a
   * hash part, not this node's: that would be an earlier incarnation of
   * this node, or a system without a node) and this system runs one. */
  uint64_t self = atomic_load_explicit(&sys->node_id, memory_order_relaxed);
  if ((ref.node >> 32) == 0 || (ref.node >> 32) == (self >> 32))
    return ACTO_ESTALE;
  return acto__remote_of(sys) ? 0 : ACTO_ESTALE;
}

/* ---- identity ------------------------------------------------------------------
 * Each system draws a random non-zero 32-bit incarnation, distinct from
 * every other system alive in this process (a short list under a global
 * mutex), so that a ref of one system is refused by every other one, node
 * or no node.  It does not use the seeded generator: deterministic runs
 * stay the same. */

static pthread_mutex_t incs_mtx = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *incs;
static size_t nincs, capincs;

static uint32_t random32(void) {
  uint32_t v = 0;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
    static _Atomic uint64_t salt;
    uint64_t z = acto__clock_now_ns() ^ ((uint64_t)getpid() << 32) ^
                 atomic_fetch_add_explicit(&salt, 0x9e3779b97f4a7c15ull, memory_order_relaxed);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    v = (uint32_t)(z ^ (z >> 31));
  }
  return v;
}

/* A fresh incarnation, or 0 when out of memory. */
static uint32_t incarnation_take(void) {
  pthread_mutex_lock(&incs_mtx);
  if (nincs == capincs) {
    size_t nc = capincs ? capincs * 2 : 8;
    uint32_t *nv = realloc(incs, nc * sizeof *nv);
    if (!nv) {
      pthread_mutex_unlock(&incs_mtx);
      return 0;
    }
    incs = nv;
    capincs = nc;
  }
  uint32_t v;
  for (;;) {
    v = random32();
    int taken = v == 0;
    for (size_t i = 0; i < nincs && !taken; i++)
      taken = incs[i] == v;
    if (!taken)
      break;
  }
  incs[nincs++] = v;
  pthread_mutex_unlock(&incs_mtx);
  return v;
}

static void incarnation_give(uint32_t v) {
  pthread_mutex_lock(&incs_mtx);
  for (size_t i = 0; i < nincs; i++)
    if (incs[i] == v) {
      incs[i] = incs[--nincs];
      break;
    }
  if (nincs == 0) {
    free(incs);
    incs = NULL;
    capincs = 0;
  }
  pthread_mutex_unlock(&incs_mtx);
}

void acto__system_count_dead(acto_system *sys, acto_ref to, uint32_t type, size_t size,
                             acto_dead_reason why) {
  atomic_fetch_add_explicit(&sys->dead[why], 1, memory_order_relaxed);
  pthread_mutex_lock(&sys->hook_mtx);
  acto_dead_letter_fn fn = sys->dead_fn;
  void *user = sys->dead_user;
  pthread_mutex_unlock(&sys->hook_mtx);
  if (fn)
    fn(user, to, type, size, why);
}

void acto__system_report_crash(acto_system *sys, acto__actor *a, int reason, uint32_t msg_type) {
  atomic_fetch_add_explicit(&sys->failed, 1, memory_order_relaxed);
  pthread_mutex_lock(&sys->hook_mtx);
  acto_crash_fn fn = sys->crash_fn;
  void *user = sys->crash_user;
  pthread_mutex_unlock(&sys->hook_mtx);
  if (fn)
    fn(user, acto__actor_ref(a), a->b->name ? a->b->name : "", reason, msg_type);
}

int acto_set_crash_hook(acto_system *sys, acto_crash_fn fn, void *user) {
  if (!sys)
    return ACTO_EINVAL;
  pthread_mutex_lock(&sys->hook_mtx);
  sys->crash_fn = fn;
  sys->crash_user = fn ? user : NULL;
  pthread_mutex_unlock(&sys->hook_mtx);
  return 0;
}

int acto_set_dead_letter_hook(acto_system *sys, acto_dead_letter_fn fn, void *user) {
  if (!sys)
    return ACTO_EINVAL;
  pthread_mutex_lock(&sys->hook_mtx);
  sys->dead_fn = fn;
  sys->dead_user = fn ? user : NULL;
  pthread_mutex_unlock(&sys->hook_mtx);
  return 0;
}

int acto__system_wait_enter(acto_system *sys) {
  /* seq_cst, with shutdown's store of closing and load of waiting: either
   * shutdown sees this thread counted (and waits for it), or this thread
   * sees closing (and does not wait). */
  atomic_fetch_add_explicit(&sys->waiting, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&sys->closing, memory_order_seq_cst)) {
    acto__system_wait_leave(sys);
    return ACTO_ECLOSED;
  }
  return 0;
}

int acto__system_closing(acto_system *sys) {
  return atomic_load_explicit(&sys->closing, memory_order_seq_cst);
}

uint64_t acto__system_node_id(acto_system *sys) {
  return atomic_load_explicit(&sys->node_id, memory_order_relaxed);
}

int acto__system_caller(acto_system *sys, acto__actor **self) {
  acto_ctx *ctx = acto__tls_ctx;
  *self = (ctx && ctx->sys == sys && ctx->worker) ? ctx->self : NULL;
  if (acto__tls_worker && acto__tls_worker->sys == sys)
    return ACTO_EWRONGTHREAD;
  return acto__in_callback() ? ACTO_EDEADLK : 0;
}

void acto__system_wait_leave(acto_system *sys) {
  if (atomic_load_explicit(&sys->closing, memory_order_seq_cst)) {
    /* Shutdown frees the system only after it saw waiting at zero under
     * life_mtx: decrementing under it keeps sys valid until the unlock. */
    pthread_mutex_lock(&sys->life_mtx);
    atomic_fetch_sub_explicit(&sys->waiting, 1, memory_order_seq_cst);
    pthread_cond_broadcast(&sys->life_cv);
    pthread_mutex_unlock(&sys->life_mtx);
    return;
  }
  /* Not closing when looked at: once the count drops, this thread does not
   * touch sys again, so a shutdown that starts meanwhile may free it. */
  atomic_fetch_sub_explicit(&sys->waiting, 1, memory_order_seq_cst);
}

uint64_t acto__system_now_ns(acto_system *sys) {
  if (sys->det)
    return atomic_load_explicit(&sys->vnow_ns, memory_order_relaxed);
  return acto__clock_now_ns();
}

int64_t acto_now_ms(acto_system *sys) {
  if (!sys)
    return ACTO_EINVAL;
  return (int64_t)(acto__system_now_ns(sys) / 1000000u);
}

uint64_t acto_random(acto_system *sys) {
  if (!sys)
    return 0;
  /* splitmix64 over an atomic counter: thread-safe, and reproducible when
   * a single thread draws (deterministic mode). */
  uint64_t z = atomic_fetch_add_explicit(&sys->rng, 0x9e3779b97f4a7c15ull, memory_order_relaxed) +
               0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t acto_system_run(acto_system *sys, int64_t for_ms) {
  if (!sys || !sys->det || for_ms < -1)
    return ACTO_EINVAL;
  if (acto__tls_worker || (acto__tls_ctx && acto__tls_ctx->sys == sys))
    return ACTO_EWRONGTHREAD;
  uint64_t end = acto__deadline_after(atomic_load_explicit(&sys->vnow_ns, memory_order_relaxed),
                                      for_ms);
  int64_t n = acto__sched_det_run(sys, NULL, NULL, end);
  if (for_ms >= 0 && atomic_load_explicit(&sys->vnow_ns, memory_order_relaxed) < end)
    atomic_store_explicit(&sys->vnow_ns, end, memory_order_relaxed);
  return n;
}

int acto_system_create(const acto_config *cfg, acto_system **out) {
  if (!out)
    return ACTO_EINVAL;
  acto_config c = {0};
  if (cfg)
    c = *cfg;
  if (!ACTO__RESERVED_CLEAR(&c) || (c.flags & ~(uint64_t)ACTO_CONFIG_NO_METRICS) != 0)
    return ACTO_EINVAL;
  if (c.threads > 1024 || c.batch > 1000000 || c.default_capacity > ACTO_MAILBOX_MAX_CAPACITY ||
      c.max_actors > ACTO__TABLE_MAX_CHUNKS * ACTO__TABLE_CHUNK)
    return ACTO_EINVAL;
  if (c.deterministic)
    c.threads = 1;
  if (c.threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c.threads = n > 0 ? (unsigned)n : 1;
  }
  if (c.batch == 0)
    c.batch = 64;
  if (c.default_capacity == 0)
    c.default_capacity = ACTO_MAILBOX_DEFAULT_CAPACITY;
  if (c.default_bytes == 0)
    c.default_bytes = ACTO_MAILBOX_DEFAULT_BYTES;
  if (c.max_actors == 0)
    c.max_actors = ACTO__TABLE_MAX_CHUNKS * ACTO__TABLE_CHUNK;

  acto_system *sys = calloc(1, sizeof(*sys));
  if (!sys)
    return ACTO_ENOMEM;
  sys->cfg = c;
  sys->metrics = !(c.flags & ACTO_CONFIG_NO_METRICS);
  sys->nworkers = c.threads;
  uint32_t inc = incarnation_take();
  if (!inc)
    goto fail_sys;
  atomic_init(&sys->node_id, inc);
  sys->det = c.deterministic != 0;
  atomic_init(&sys->vnow_ns, 0);
  atomic_init(&sys->rng, c.deterministic ? c.seed : acto__clock_now_ns() ^ (uintptr_t)sys);
  /* One more than the threads: the node's I/O thread's (scheduler.c,
   * "I/O turns"). */
  sys->workers = aligned_alloc(64, ((sizeof(acto__worker) * (c.threads + 1) + 63) / 64) * 64);
  if (!sys->workers)
    goto fail_inc;
  memset(sys->workers, 0, sizeof(acto__worker) * (c.threads + 1));
  if (pthread_mutex_init(&sys->park_mtx, NULL) != 0)
    goto fail_workers;
  if (acto__clock_cond_init(&sys->park_cv) != 0) /* CLOCK_MONOTONIC waits */
    goto fail_park_mtx;
  if (pthread_mutex_init(&sys->life_mtx, NULL) != 0)
    goto fail_park_cv;
  if (pthread_cond_init(&sys->life_cv, NULL) != 0)
    goto fail_life_mtx;
  if (pthread_mutex_init(&sys->hook_mtx, NULL) != 0)
    goto fail_life_cv;
  if (acto__log_init(&sys->log) != 0)
    goto fail_hook_mtx;
  if (acto__table_init(&sys->table, c.max_actors) != 0)
    goto fail_log;
  if (acto__pool_init(&sys->pool) != 0)
    goto fail_table;
  if (acto__registry_init(&sys->registry) != 0)
    goto fail_pool;
  if (acto__ask_futures_init(&sys->futures) != 0)
    goto fail_registry;
  if (acto__timers_init(&sys->timers, sys) != 0)
    goto fail_futures;
  if (acto__timers_start(&sys->timers) != 0)
    goto fail_timers;
  if (acto__sched_start(sys) != 0)
    goto fail_timer_thread;
  *out = sys;
  return 0;

fail_timer_thread:
  acto__timers_stop(&sys->timers);
fail_timers:
  acto__timers_destroy(&sys->timers);
fail_futures:
  acto__ask_futures_destroy(&sys->futures);
fail_registry:
  acto__registry_destroy(&sys->registry);
fail_pool:
  acto__pool_destroy(&sys->pool);
fail_table:
  acto__table_destroy(&sys->table);
fail_log:
  acto__log_destroy(&sys->log);
fail_hook_mtx:
  pthread_mutex_destroy(&sys->hook_mtx);
fail_life_cv:
  pthread_cond_destroy(&sys->life_cv);
fail_life_mtx:
  pthread_mutex_destroy(&sys->life_mtx);
fail_park_cv:
  pthread_cond_destroy(&sys->park_cv);
fail_park_mtx:
  pthread_mutex_destroy(&sys->park_mtx);
fail_workers:
  free(sys->workers);
fail_inc:
  incarnation_give(inc);
fail_sys:
  free(sys);
  return ACTO_ENOMEM;
}

#define SHUTDOWN_CHUNK 16384u

/* Waits on life_cv (held) for at most ms milliseconds. */
static void wait_ms(acto_system *sys, long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += ms * 1000000L;
  ts.tv_sec += ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  pthread_cond_timedwait(&sys->life_cv, &sys->life_mtx, &ts);
}

static void stop_one(acto__actor *a, void *arg) {
  acto_system *sys = arg;
  acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
  if (!m)
    return; /* it will be retried by the next sweep */
  m->kind = ACTO__KIND_STOP;
  m->status = ACTO_REASON_SHUTDOWN;
  if (acto__send_system(sys, acto__actor_ref(a), m) != 0)
    acto__msg_free(m);
}

int acto_system_shutdown(acto_system *sys) {
  if (!sys)
    return ACTO_EINVAL;
  if (acto__tls_worker && acto__tls_worker->sys == sys)
    return ACTO_EWRONGTHREAD;
  if (acto__tls_ctx && acto__tls_ctx->sys == sys)
    return ACTO_EWRONGTHREAD; /* inside init */
  /* From here on no call waits: a plain thread that would is answered
   * ACTO_ECLOSED at once (acto__system_wait_enter), and those already
   * waiting are answered as what they wait for goes away (below). */
  atomic_store_explicit(&sys->closing, 1, memory_order_seq_cst);
  /* The node goes first: peers see this node down, nothing arrives from
   * the network for actors that are being stopped, and threads waiting
   * on a peer's queue or connection are woken (ACTO_ECLOSED). */
  acto__remote_shutdown(sys);
  atomic_store_explicit(&sys->shutting_down, 1, memory_order_seq_cst);
  if (sys->det) {
    /* No threads to wait for: stop everything and run until it is gone. */
    uint32_t from = 0;
    while (atomic_load_explicit(&sys->live, memory_order_relaxed) > 0) {
      from = 0;
      while (acto__table_each(&sys->table, &from, SHUTDOWN_CHUNK, stop_one, sys) >= 0)
        acto__sched_det_run(sys, NULL, NULL, atomic_load_explicit(&sys->vnow_ns, memory_order_relaxed));
      acto__sched_det_run(sys, NULL, NULL, UINT64_MAX);
    }
    goto stopped;
  }
  /* Sweep until every actor is gone; each sweep stops what the previous
   * one could not reach (an allocation failure, a slot published late).
   * A sweep goes in chunks and lets each chunk drain a little before the
   * next, so that a million actors do not hold a million stop messages at
   * once. */
  pthread_mutex_lock(&sys->life_mtx);
  while (atomic_load_explicit(&sys->live, memory_order_relaxed) > 0) {
    uint32_t from = 0;
    for (;;) {
      uint64_t before = atomic_load_explicit(&sys->live, memory_order_relaxed);
      pthread_mutex_unlock(&sys->life_mtx);
      long sent = acto__table_each(&sys->table, &from, SHUTDOWN_CHUNK, stop_one, sys);
      pthread_mutex_lock(&sys->life_mtx);
      if (sent < 0)
        break;
      /* Up to 50 ms for three quarters of this chunk to be gone. */
      uint64_t goal = before > (uint64_t)sent * 3 / 4 ? before - (uint64_t)sent * 3 / 4 : 0;
      for (int i = 0; i < 10 && atomic_load_explicit(&sys->live, memory_order_relaxed) > goal; i++)
        wait_ms(sys, 5);
    }
    if (atomic_load_explicit(&sys->live, memory_order_relaxed) > 0)
      wait_ms(sys, 1000);
  }
  pthread_mutex_unlock(&sys->life_mtx);
stopped:
  /* Every actor is gone: their kept requests were answered, the requests
   * in their mailboxes failed, the threads parked on their mailboxes were
   * resumed.  An ask still waiting (a reply token held by a plain thread
   * that will never answer, say) is answered ECLOSED; then nothing is
   * freed before every waiting thread has left the library. */
  pthread_mutex_lock(&sys->life_mtx);
  for (;;) {
    pthread_mutex_unlock(&sys->life_mtx);
    acto__ask_futures_close(sys);
    pthread_mutex_lock(&sys->life_mtx);
    if (atomic_load_explicit(&sys->waiting, memory_order_seq_cst) == 0)
      break;
    wait_ms(sys, 10);
  }
  pthread_mutex_unlock(&sys->life_mtx);
  acto__timers_stop(&sys->timers);
  acto__sched_stop(sys);
  acto__timers_destroy(&sys->timers);
  acto__remote_destroy(sys);
  acto__ask_futures_destroy(&sys->futures);
  acto__registry_destroy(&sys->registry);
  acto__pool_destroy(&sys->pool);
  acto__table_destroy(&sys->table);
  acto__log_destroy(&sys->log);
  pthread_mutex_destroy(&sys->hook_mtx);
  pthread_cond_destroy(&sys->life_cv);
  pthread_mutex_destroy(&sys->life_mtx);
  pthread_cond_destroy(&sys->park_cv);
  pthread_mutex_destroy(&sys->park_mtx);
  incarnation_give((uint32_t)atomic_load_explicit(&sys->node_id, memory_order_relaxed));
  free(sys->workers);
  free(sys);
  return 0;
}

void acto__thread_begin(acto_system *sys, const char *name) {
  (void)pthread_setname_np(pthread_self(), name); /* for debuggers, top -H, perf */
  if (sys->cfg.thread_start)
    sys->cfg.thread_start(sys->cfg.thread_user, name);
}

void acto__thread_end(acto_system *sys, const char *name) {
  if (sys->cfg.thread_stop)
    sys->cfg.thread_stop(sys->cfg.thread_user, name);
}

void acto__system_count_restart(acto_system *sys) {
  atomic_fetch_add_explicit(&sys->restarts, 1, memory_order_relaxed);
}

int acto_get_stats(acto_system *sys, acto_stats *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < ACTO_DEAD_REASON_COUNT; i++) {
    out->dead_letters[i] = atomic_load_explicit(&sys->dead[i], memory_order_relaxed);
    out->dead_letters_total += out->dead_letters[i];
  }
  out->actors_live = atomic_load_explicit(&sys->live, memory_order_relaxed);
  out->actors_spawned = atomic_load_explicit(&sys->spawned, memory_order_relaxed);
  out->actors_stopped = atomic_load_explicit(&sys->stopped, memory_order_relaxed);
  out->actors_failed = atomic_load_explicit(&sys->failed, memory_order_relaxed);
  out->parks = atomic_load_explicit(&sys->parks, memory_order_relaxed);
  out->no_replies = atomic_load_explicit(&sys->noreply, memory_order_relaxed);
  uint64_t sent = atomic_load_explicit(&sys->asks_sent, memory_order_relaxed);
  uint64_t done = atomic_load_explicit(&sys->asks_done, memory_order_relaxed);
  for (unsigned i = 0; i <= sys->nworkers; i++) { /* [nworkers]: the I/O thread's turns */
    acto__worker *w = &sys->workers[i];
    out->messages_handled += atomic_load_explicit(&w->handled, memory_order_relaxed);
    out->steals += atomic_load_explicit(&w->steals, memory_order_relaxed);
    out->worker_sleeps += atomic_load_explicit(&w->sleeps, memory_order_relaxed);
    sent += atomic_load_explicit(&w->asks_sent, memory_order_relaxed);
    done += atomic_load_explicit(&w->asks_done, memory_order_relaxed);
  }
  /* The counters are read one after another: an ask that ended between
   * two reads may be counted done and not sent. */
  out->asks_pending = (sent > done ? sent - done : 0) +
                      atomic_load_explicit(&sys->asks_plain, memory_order_relaxed);
  out->timers_pending = acto__timers_pending(&sys->timers);
  out->restarts = atomic_load_explicit(&sys->restarts, memory_order_relaxed);
  return 0;
}
