/* restart.c - the `restart` benchmark: a supervised worker fails on every
 * message, its one-for-one supervisor restarts it, the next message goes
 * out once the worker is up again.
 *
 * A one-for-one supervisor (intensity 10 x N + 10 per 1000 ms, so that it
 * never gives up) runs one permanent worker, registered under a name.  The
 * worker fails (its handler returns -100) on every `boom`; acto restarts a
 * failed child IN PLACE (acto_supervisor.h): terminate, zeroed state, init
 * again, with the same ref, name, links and mailbox.  The worker's init
 * sends `up` to the driver, whose ref is its init argument (copied by the
 * supervisor).  The driver, an actor, sends the next `boom` when it gets
 * `up`; after N = 100,000 x scale restarts it releases the main thread.
 * This measures the supervision path: the failure report, the
 * supervisor's verdict (intensity window, restart type, strategy), the
 * restart in place and the worker's first message after it.
 *
 * DESIGN: one failure in flight, as in the peers (../shared/bench/peers):
 * msgs = N (the failing `boom` messages), rate = restarts per second.  The
 * `up` messages and the supervisor's own traffic are not counted.  The
 * first `up` (from the first start, inside acto_supervisor_start) is
 * setup: the driver's `go` is queued behind it by the same thread.  After
 * the timed section the run is checked: which_children reports N restarts
 * of a worker that kept its ref; exactly N dead letters, all
 * ACTO_DEAD_FAILED (the failing messages); N failures counted.
 * Extra fields: note=restart_in_place (the peers start a new process or
 * actor each time, acto keeps the actor), restarts=, dead_failed=.
 */
#include "common.h"

enum {
  MSG_GO = 1, /* main -> driver: start the timed section */
  MSG_BOOM,   /* driver -> worker: fail */
  MSG_UP,     /* worker (init) -> driver: running again */
};

#define WORKER_NAME "bench.restart.worker"
#define WORKER_FAILURE (-100)

/* ---- the worker --------------------------------------------------------- */

typedef struct worker {
  acto_ref driver;
} worker;

static int worker_init(acto_ctx *ctx, void *state, const void *arg) {
  worker *st = state;

  memcpy(&st->driver, arg, sizeof st->driver);
  BENCH_CHECK(acto_send(acto_ctx_system(ctx), st->driver, MSG_UP, NULL, 0));
  return 0;
}

static int worker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx;
  (void)state;
  if (msg->type == MSG_BOOM)
    return WORKER_FAILURE;
  bench_fail("worker: unexpected message type %" PRIu32, msg->type);
}

static const acto_behaviour worker_behaviour = {
  .name = "restart_worker",
  .state_size = sizeof(worker),
  .init = worker_init,
  .handle = worker_handle,
};

/* ---- the driver --------------------------------------------------------- */

typedef struct driver_args {
  uint64_t n;
  bench_latch *done;
} driver_args;

typedef struct driver {
  driver_args a;
  acto_ref worker;   /* from the registry at go; every up must come from it */
  int running;
  uint64_t restarts; /* ups since go */
  uint64_t setup_ups;
} driver;

static int driver_init(acto_ctx *ctx, void *state, const void *arg) {
  driver *st = state;

  (void)ctx;
  st->a = *(const driver_args *)arg;
  return 0;
}

static int driver_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  driver *st = state;
  acto_system *sys = acto_ctx_system(ctx);

  switch (msg->type) {
  case MSG_GO:
    BENCH_EXPECT(st->setup_ups == 1, "go after %" PRIu64 " setup ups, expected 1", st->setup_ups);
    BENCH_CHECK(acto_lookup(sys, WORKER_NAME, &st->worker));
    st->running = 1;
    BENCH_CHECK(acto_send(sys, st->worker, MSG_BOOM, NULL, 0));
    return 0;
  case MSG_UP:
    if (!st->running) {
      st->setup_ups++;
      return 0;
    }
    /* Restarted in place: the same actor says it is up again. */
    BENCH_EXPECT(acto_ref_eq(msg->sender, st->worker), "up from an unexpected actor");
    if (++st->restarts == st->a.n) {
      bench_latch_arrive(st->a.done);
      return 0;
    }
    BENCH_CHECK(acto_send(sys, st->worker, MSG_BOOM, NULL, 0));
    return 0;
  default:
    bench_fail("driver: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour driver_behaviour = {
  .name = "restart_driver",
  .state_size = sizeof(driver),
  .init = driver_init,
  .handle = driver_handle,
};

int main(int argc, char **argv) {
  bench_start("restart", argc, argv);

  uint64_t n = bench_scaled(100000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  bench_latch done;
  acto_ref driver_ref, sup;
  acto_stats st;

  bench_latch_init(&done, 1);
  driver_args da = {n, &done};
  BENCH_CHECK(acto_spawn(sys, &driver_behaviour, &da, NULL, &driver_ref));

  uint64_t intensity = 10 * n + 10;
  BENCH_EXPECT(intensity <= UINT32_MAX, "scale too large for the restart intensity");
  acto_child_spec child = {
    .id = "worker",
    .kind = ACTO_WORKER,
    .behaviour = &worker_behaviour,
    .arg = &driver_ref,
    .arg_size = sizeof driver_ref, /* copied: kept for every restart */
    .restart = ACTO_PERMANENT,
    .name = WORKER_NAME,
  };
  acto_sup_spec spec = {
    .strategy = ACTO_ONE_FOR_ONE,
    .intensity = (uint32_t)intensity,
    .period_ms = 1000,
    .children = &child,
    .nchildren = 1,
  };
  BENCH_CHECK(acto_supervisor_start(sys, &spec, NULL, &sup));
  acto_ref worker_ref;
  BENCH_CHECK(acto_lookup(sys, WORKER_NAME, &worker_ref));

  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, driver_ref, MSG_GO, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  /* The supervisor saw every failure and restarted the same actor. */
  acto_child_info info;
  size_t nchildren = 0;
  BENCH_CHECK(acto_supervisor_which_children(sys, sup, &info, 1, &nchildren, 10000));
  BENCH_EXPECT(nchildren == 1, "%zu children, expected 1", nchildren);
  BENCH_EXPECT(info.restarts == n, "%" PRIu32 " restarts, expected %" PRIu64, info.restarts, n);
  BENCH_EXPECT(acto_ref_eq(info.ref, worker_ref), "the worker's ref changed");
  BENCH_EXPECT(info.state == ACTO_CHILD_RUNNING, "the worker is not running (state %d)",
               (int)info.state);
  BENCH_CHECK(acto_get_stats(sys, &st));
  BENCH_EXPECT(st.dead_letters[ACTO_DEAD_FAILED] == n && st.dead_letters_total == n,
               "%" PRIu64 " dead letters (%" PRIu64 " failed), expected %" PRIu64 " failed",
               st.dead_letters_total, st.dead_letters[ACTO_DEAD_FAILED], n);
  BENCH_EXPECT(st.actors_failed == n, "%" PRIu64 " failures counted, expected %" PRIu64,
               st.actors_failed, n);

  BENCH_CHECK(acto_supervisor_stop(sys, sup, 10000));
  BENCH_CHECK(acto_stop(sys, driver_ref));
  bench_shutdown(sys);
  bench_latch_destroy(&done);

  bench_report(n, secs, " note=restart_in_place restarts=%" PRIu32 " dead_failed=%" PRIu64,
               info.restarts, st.dead_letters[ACTO_DEAD_FAILED]);
  return 0;
}
