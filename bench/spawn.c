/* spawn.c - the `spawn` benchmark: actor creation cost and per-actor memory.
 *
 * A parent actor spawns A = 1,000,000 x scale child actors and sends each
 * one `hello`; every child answers `ready` to the sender of its hello (the
 * parent) and then stays alive, idle.  The timed section ends when the
 * parent has all A replies.  With every child still alive, the main thread
 * reads VmRSS; bytes_per_actor = (VmRSS alive - VmRSS before) / A, where
 * "before" is read after the system and the parent exist, just before the
 * first child is spawned.
 *
 * DESIGN: the parent is an actor, so both the hello and the reply are
 * delivered to a handler, as in the peers (msgs = 2A).  It spawns in bursts
 * of BENCH_BURST children per turn and sends itself `cont` between bursts,
 * so that the replies are handled while spawning goes on.  Its mailbox
 * capacity is raised to hold all A replies at once, so that no child ever
 * parks on it.  A child has no state (state_size 0): the parent's ref is
 * the sender of the hello.  The parent keeps no list of refs, since acto
 * refs are plain values and acto_system_shutdown stops every actor.
 *
 * Extra fields: actors=A bytes_per_actor= actors_per_s= rss_before_kb=
 * rss_alive_kb= rss_peak_before_shutdown_kb= parent=actor.  rss_kb is the
 * peak of the whole process, shutdown included, as in the peers.
 */
#include "common.h"

enum {
  MSG_START = 1, /* main -> parent */
  MSG_CONT,      /* parent -> itself: spawn the next burst */
  MSG_HELLO,     /* parent -> child */
  MSG_READY,     /* child -> parent */
};

/* ---- the children ------------------------------------------------------- */

static int child_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  BENCH_EXPECT(msg->type == MSG_HELLO, "child: unexpected message type %" PRIu32, msg->type);
  BENCH_CHECK(acto_send(acto_ctx_system(ctx), acto_sender(ctx), MSG_READY, NULL, 0));
  return 0;
}

static const acto_behaviour child_behaviour = {
  .name = "child",
  .state_size = 0,
  .handle = child_handle,
};

/* ---- the parent --------------------------------------------------------- */

typedef struct parent_args {
  uint64_t children;
  bench_latch *done;
} parent_args;

typedef struct parent {
  parent_args a;
  uint64_t spawned;
  uint64_t replies;
} parent;

static int parent_init(acto_ctx *ctx, void *state, const void *arg) {
  parent *st = state;

  (void)ctx;
  st->a = *(const parent_args *)arg;
  return 0;
}

static int parent_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  parent *st = state;
  acto_system *sys = acto_ctx_system(ctx);

  switch (msg->type) {
  case MSG_START:
  case MSG_CONT:
    for (unsigned k = 0; k < BENCH_BURST && st->spawned < st->a.children; k++) {
      acto_ref child;

      BENCH_CHECK(acto_spawn(sys, &child_behaviour, NULL, NULL, &child));
      BENCH_CHECK(acto_send(sys, child, MSG_HELLO, NULL, 0));
      st->spawned++;
    }
    if (st->spawned < st->a.children)
      BENCH_CHECK(acto_send(sys, acto_self(ctx), MSG_CONT, NULL, 0));
    return 0;
  case MSG_READY:
    if (++st->replies == st->a.children)
      bench_latch_arrive(st->a.done);
    BENCH_EXPECT(st->replies <= st->a.children, "more replies than children");
    return 0;
  default:
    bench_fail("parent: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour parent_behaviour = {
  .name = "parent",
  .state_size = sizeof(parent),
  .init = parent_init,
  .handle = parent_handle,
};

int main(int argc, char **argv) {
  bench_start("spawn", argc, argv);

  uint64_t a = bench_scaled(1000000, bench_cur.scale);
  /* The default limit is 16,777,216 live actors; raise it only beyond. */
  unsigned max_actors = a + 16 > 16777216u ? (unsigned)(a + 16) : 0;
  acto_system *sys = bench_system(max_actors);
  acto_spawn_opts popts = {0};
  acto_ref parent_ref;
  bench_latch done;
  acto_stats st;

  bench_latch_init(&done, 1);
  /* Room for every reply at once, plus the parent's own cont messages. */
  popts.capacity = a + 2 * BENCH_BURST < ACTO_MAILBOX_MAX_CAPACITY
                       ? (uint32_t)(a + 2 * BENCH_BURST)
                       : ACTO_MAILBOX_MAX_CAPACITY;
  parent_args pa = {a, &done};
  BENCH_CHECK(acto_spawn(sys, &parent_behaviour, &pa, &popts, &parent_ref));

  long before = bench_vmrss_kb();
  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, parent_ref, MSG_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;
  long alive = bench_vmrss_kb();

  BENCH_EXPECT(before > 0 && alive > 0, "cannot read VmRSS from /proc/self/status");
  bench_check_stats(sys, &st);
  /* rss_kb (the process peak, as in the peers) is read after the shutdown,
   * which may itself raise it; this is the peak before it. */
  long peak_alive = bench_peak_rss_kb();
  BENCH_EXPECT(st.actors_live >= a + 1, "only %" PRIu64 " actors alive, expected %" PRIu64,
               st.actors_live, a + 1);
  bench_shutdown(sys);
  bench_latch_destroy(&done);

  long bytes_per_actor = (alive - before) * 1024 / (long)a;
  bench_report(2 * a, secs,
               " actors=%" PRIu64 " bytes_per_actor=%ld actors_per_s=%.1f rss_before_kb=%ld"
               " rss_alive_kb=%ld rss_peak_before_shutdown_kb=%ld parent=actor",
               a, bytes_per_actor, (double)a / secs, before, alive, peak_alive);
  return 0;
}
