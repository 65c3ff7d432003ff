/* test_scheduler.c - the scheduler through the public API: fairness of the
 * run-next slot, work stealing, small batches, many actors.
 *
 * What a test may count on is the scheduler's design, not the OS's: a
 * steal is forced by holding the victim's worker in a handler until
 * another worker has run one of its actors, never by hoping the idle
 * worker gets a CPU soon enough; waits scale with CK_TIMEOUT_MULTIPLIER.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <acto/acto.h>
#include "testutil.h"

#define SCALE_DIV TU_N(1, 1, 10)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int signalled;

static void signal_main(void) {
  pthread_mutex_lock(&mu);
  signalled++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Waits until `signalled` reaches n or `secs` (scaled like every deadline)
 * pass; returns the count. */
static int wait_signals(int n, int secs) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += secs * tu_multiplier();
  pthread_mutex_lock(&mu);
  while (signalled < n && pthread_cond_timedwait(&cv, &mu, &ts) == 0)
    ;
  int got = signalled;
  pthread_mutex_unlock(&mu);
  return got;
}

/* ---- a ping-pong pair does not starve a third actor on one worker -------- */

enum { T_PEER = 1, T_BALL = 2, T_POKE = 3, T_BUSY = 4, T_SPAWN_BUSY = 5, T_COUNT = 6 };

static _Atomic long balls;

static int pp_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  acto_ref *peer = state;
  if (m->type == T_PEER) {
    memcpy(peer, m->data, sizeof *peer);
    return 0;
  }
  atomic_fetch_add(&balls, 1);
  int r = acto_send(acto_ctx_system(ctx), *peer, T_BALL, NULL, 0);
  return r < 0 ? r : 0;
}
static const acto_behaviour pp_b = {
    .name = "pp", .state_size = sizeof(acto_ref), .handle = pp_handle};

static int poke_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  if (m->type == T_POKE)
    signal_main();
  return 0;
}
static const acto_behaviour poke_b = {.name = "poke", .handle = poke_handle};

START_TEST(scheduler_talking_pair_does_not_starve_others_on_one_worker) {
  acto_system *sys;
  acto_config cfg = {.threads = 1};
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);
  acto_ref a, b, c;
  ck_assert_int_eq(acto_spawn(sys, &pp_b, NULL, NULL, &a), 0);
  ck_assert_int_eq(acto_spawn(sys, &pp_b, NULL, NULL, &b), 0);
  ck_assert_int_eq(acto_spawn(sys, &poke_b, NULL, NULL, &c), 0);
  ck_assert_int_eq(acto_send(sys, a, T_PEER, &b, sizeof b), 0);
  ck_assert_int_eq(acto_send(sys, b, T_PEER, &a, sizeof a), 0);
  ck_assert_int_eq(acto_send(sys, a, T_BALL, NULL, 0), 0);
  /* The pair now bounces forever on the only worker. */
  while (atomic_load(&balls) < 1000)
    sched_yield();
  long before = atomic_load(&balls);
  for (int i = 1; i <= 20; i++) {
    ck_assert_int_eq(acto_send(sys, c, T_POKE, NULL, 0), 0);
    ck_assert_int_eq(wait_signals(i, 10), i);
  }
  /* ... and the pair is still running (the pokes may all have been handled
   * in one turn of the poked actor, so give the pair a moment). */
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (atomic_load(&balls) <= before && tu_now_ms() < end)
    tu_sleep_ms(10);
  ck_assert_int_gt(atomic_load(&balls), before);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

/* ---- work stealing -------------------------------------------------------- */

static void spin_us(long us) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do
    clock_gettime(CLOCK_MONOTONIC, &t);
  while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* The first busy child to run holds its worker until a second one has
 * started: every child was made runnable on the parent's worker, so the
 * second can only run on the other worker, taken from that queue (or the
 * first was).  A steal is then certain, whenever each worker gets a CPU;
 * the design bounds how long the holder waits: the idle worker is woken
 * by the sends and wakes every 50 ms anyway. */
static _Atomic int g_busy_started;

static int busy_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  if (m->type == T_BUSY) {
    if (atomic_fetch_add(&g_busy_started, 1) == 0) {
      int64_t end = tu_now_ms() + TU_WAIT_MS;
      while (atomic_load(&g_busy_started) < 2 && tu_now_ms() < end)
        tu_sleep_ms(1); /* leaves the CPU to the thief */
    }
    spin_us(500);
    signal_main();
  }
  return 0;
}
static const acto_behaviour busy_b = {.name = "busy", .handle = busy_handle};

#define BUSY_N 200

static int parent_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  if (m->type != T_SPAWN_BUSY)
    return 0;
  acto_system *sys = acto_ctx_system(ctx);
  /* All children become runnable on this worker; the other must steal. */
  for (int i = 0; i < BUSY_N; i++) {
    acto_ref child;
    int r = acto_spawn(sys, &busy_b, NULL, NULL, &child);
    if (r < 0)
      return r;
    r = acto_send(sys, child, T_BUSY, NULL, 0);
    if (r < 0)
      return r;
  }
  return 0;
}
static const acto_behaviour parent_b = {.name = "parent", .handle = parent_handle};

START_TEST(scheduler_idle_worker_steals_from_a_busy_one) {
  acto_system *sys;
  acto_config cfg = {.threads = 2};
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);
  acto_ref p;
  ck_assert_int_eq(acto_spawn(sys, &parent_b, NULL, NULL, &p), 0);
  ck_assert_int_eq(acto_send(sys, p, T_SPAWN_BUSY, NULL, 0), 0);
  ck_assert_int_eq(wait_signals(BUSY_N, 60), BUSY_N);
  ck_assert_int_ge(atomic_load(&g_busy_started), 2);
  acto_stats st;
  ck_assert_int_eq(acto_get_stats(sys, &st), 0);
  ck_assert_uint_gt(st.steals, 0);
  ck_assert_uint_eq(st.actors_live, BUSY_N + 1);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

/* ---- an actor woken into run-next is not stuck behind a long handler ---- */

static _Atomic int g_woken_ran;
static _Atomic int g_woken_ran_while_held; /* seen by the waker before it returned */

static int woken_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  (void)m;
  atomic_store(&g_woken_ran, 1);
  return 0;
}
static const acto_behaviour woken_b = {.name = "woken", .handle = woken_handle};

static int waker_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  acto_ref target;
  memcpy(&target, m->data, sizeof target);
  /* The send wakes `target` into this worker's run-next slot; then this
   * handler blocks its worker until target has run (at most TU_WAIT_MS). */
  if (acto_send(acto_ctx_system(ctx), target, T_POKE, NULL, 0) != 0)
    return -1;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (!atomic_load(&g_woken_ran) && tu_now_ms() < end)
    tu_sleep_ms(1);
  atomic_store(&g_woken_ran_while_held, atomic_load(&g_woken_ran));
  signal_main();
  return 0;
}
static const acto_behaviour waker_b = {.name = "waker", .handle = waker_handle};

START_TEST(scheduler_actor_woken_behind_a_long_handler_runs_on_another_worker) {
  acto_system *sys;
  acto_config cfg = {.threads = 2};
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);
  acto_ref waker, woken;
  ck_assert_int_eq(acto_spawn(sys, &waker_b, NULL, NULL, &waker), 0);
  ck_assert_int_eq(acto_spawn(sys, &woken_b, NULL, NULL, &woken), 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ck_assert_int_eq(acto_send(sys, waker, T_SPAWN_BUSY, &woken, sizeof woken), 0);
  ck_assert_int_eq(wait_signals(1, 30), 1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  /* The other worker took it from the blocked worker's run-next slot: it
   * ran while the waker still held its worker. */
  ck_assert_int_eq(atomic_load(&g_woken_ran_while_held), 1);
  /* The design bounds the wait by the idle worker's 50 ms wake-ups; the
   * rest is scheduling slack. */
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  ck_assert_msg(ms < 50 + TU_SLACK_MS, "the woken actor waited %ld ms behind the blocked handler",
                ms);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

/* ---- batch size 1, capacity 1: the stress configuration still delivers --- */

typedef struct counter {
  long n;
  long expect;
} counter;

static int count_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  ((counter *)state)->expect = *(const long *)arg;
  return 0;
}

static int count_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  counter *c = state;
  if (m->type != T_COUNT)
    return 0;
  long v;
  memcpy(&v, m->data, sizeof v);
  if (v != c->n)
    return -100; /* out of order: fail loudly */
  if (++c->n == c->expect)
    signal_main();
  return 0;
}
static const acto_behaviour count_b = {
    .name = "count", .state_size = sizeof(counter), .init = count_init, .handle = count_handle};

START_TEST(scheduler_batch_one_capacity_one_keeps_order_from_a_thread) {
  acto_system *sys;
  acto_config cfg = {.threads = 2, .batch = 1, .default_capacity = 1};
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);
  long n = 20000 / SCALE_DIV;
  acto_ref c;
  ck_assert_int_eq(acto_spawn(sys, &count_b, &n, NULL, &c), 0);
  for (long i = 0; i < n; i++) {
    int r = acto_send(sys, c, T_COUNT, &i, sizeof i);
    if (r != 0)
      ck_abort_msg("send %ld returned %s", i, acto_err_name(r));
  }
  ck_assert_int_eq(wait_signals(1, 60), 1);
  acto_stats st;
  ck_assert_int_eq(acto_get_stats(sys, &st), 0);
  ck_assert_uint_eq(st.actors_failed, 0);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

/* ---- many actors: spawn, one message each, shutdown frees all ----------- */

START_TEST(scheduler_hundred_thousand_actors_each_handle_one_message) {
  acto_system *sys;
  acto_config cfg = {.threads = 2};
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);
  int n = 100000 / SCALE_DIV;
  for (int i = 0; i < n; i++) {
    acto_ref r;
    if (acto_spawn(sys, &poke_b, NULL, NULL, &r) != 0 || acto_send(sys, r, T_POKE, NULL, 0) != 0)
      ck_abort_msg("spawn/send %d failed", i);
  }
  ck_assert_int_eq(wait_signals(n, 60), n);
  /* The handled counter is published when a turn ends, just after the
   * last handler signalled: poll it, with a deadline. */
  acto_stats st;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    ck_assert_int_eq(acto_get_stats(sys, &st), 0);
    if (st.messages_handled >= (uint64_t)n || tu_now_ms() >= end)
      break;
    tu_sleep_ms(2);
  }
  ck_assert_uint_eq(st.actors_live, (uint64_t)n);
  ck_assert_uint_eq(st.messages_handled, (uint64_t)n);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

/* ---- a resumed producer is not stuck behind its consumer's long turn ---- */

/* P sends C (capacity 1, block) two messages: the second parks P, which
 * then sends itself T_COUNT.  C's first handler returns, its release
 * delivers P's parked message and resumes P in C's worker's bound queue;
 * C's second handler then holds that worker until P has run again (at
 * most TU_WAIT_MS).  P must run on the other worker meanwhile. */
static _Atomic int g_resumed_ran;
static _Atomic int g_resumed_ran_while_held;
static _Atomic int g_producer_parked;

static int slow_consumer_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  long *n = state;
  if (++*n < 2)
    return 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (!atomic_load(&g_resumed_ran) && tu_now_ms() < end)
    tu_sleep_ms(1);
  atomic_store(&g_resumed_ran_while_held, atomic_load(&g_resumed_ran));
  (void)m;
  signal_main();
  return 0;
}
static const acto_behaviour slow_consumer_b = {
    .name = "slow_consumer", .state_size = sizeof(long), .handle = slow_consumer_handle};

static int parking_producer_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  acto_system *sys = acto_ctx_system(ctx);
  if (m->type == T_COUNT) {
    atomic_store(&g_resumed_ran, 1);
    return 0;
  }
  acto_ref c;
  memcpy(&c, m->data, sizeof c);
  if (acto_send(sys, c, T_BALL, NULL, 0) != 0)
    return -1;
  if (acto_send(sys, c, T_BALL, NULL, 0) != ACTO_PARKED)
    return -1;
  atomic_store(&g_producer_parked, 1);
  return acto_send(sys, acto_self(ctx), T_COUNT, NULL, 0) == 0 ? 0 : -1;
}
static const acto_behaviour parking_producer_b = {.name = "parking_producer",
                                                  .handle = parking_producer_handle};

START_TEST(scheduler_resumed_producer_runs_while_its_consumer_holds_the_worker) {
  acto_system *sys;
  acto_config cfg = {.threads = 2};
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);
  acto_spawn_opts o = {.capacity = 1, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_ref c, p;
  ck_assert_int_eq(acto_spawn(sys, &slow_consumer_b, NULL, &o, &c), 0);
  ck_assert_int_eq(acto_spawn(sys, &parking_producer_b, NULL, NULL, &p), 0);
  ck_assert_int_eq(acto_send(sys, p, T_PEER, &c, sizeof c), 0);
  ck_assert_int_eq(wait_signals(1, 30), 1);
  ck_assert_int_eq(atomic_load(&g_producer_parked), 1);
  /* The other worker took P from the held worker's bound queue: it ran
   * while C still held its worker. */
  ck_assert_int_eq(atomic_load(&g_resumed_ran_while_held), 1);
  acto_stats st;
  ck_assert_int_eq(acto_get_stats(sys, &st), 0);
  ck_assert_uint_eq(st.actors_failed, 0);
  ck_assert_uint_ge(st.parks, 1);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

static void reset(void) {
  signalled = 0;
  atomic_store(&g_woken_ran, 0);
  atomic_store(&g_woken_ran_while_held, 0);
  atomic_store(&g_busy_started, 0);
  atomic_store(&balls, 0);
  atomic_store(&g_resumed_ran, 0);
  atomic_store(&g_resumed_ran_while_held, 0);
  atomic_store(&g_producer_parked, 0);
}

static Suite *scheduler_suite(void) {
  Suite *s = suite_create("scheduler");
  TCase *tc = tcase_create("scheduler");
  tcase_add_checked_fixture(tc, reset, NULL);
  tcase_set_timeout(tc, 120);
  tu_add_tests(tc, scheduler_talking_pair_does_not_starve_others_on_one_worker,
               scheduler_idle_worker_steals_from_a_busy_one,
               scheduler_actor_woken_behind_a_long_handler_runs_on_another_worker,
               scheduler_resumed_producer_runs_while_its_consumer_holds_the_worker,
               scheduler_batch_one_capacity_one_keeps_order_from_a_thread,
               scheduler_hundred_thousand_actors_each_handle_one_message);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run(scheduler_suite()); }
