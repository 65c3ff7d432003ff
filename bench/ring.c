/* ring.c - the `ring` benchmark: one token passed around a ring of actors.
 *
 * R = 1,000 actors (fixed) form a ring; a token, a 64-bit integer starting
 * at H = 10,000,000 x scale, goes around it and each hop decrements it.  The
 * actor that receives 1 signals the main thread, so exactly H messages are
 * delivered.  Only one actor is runnable at a time, so every hop wakes an
 * idle actor: this measures the wake-up path.
 *
 * Setup (not timed): the main thread spawns the R actors and tells each its
 * successor with an ask, as the CAF version does.  msgs = H.  Correctness:
 * the token must end at actor (H - 1) mod R, having taken every hop in
 * order.  Extra field: actors=R.
 */
#include "common.h"

#define RING_ACTORS 1000u

enum {
  MSG_LINK = 1, /* main -> node (ask): payload is the successor's acto_ref */
  MSG_TOKEN,    /* node -> node: payload is the remaining hop count, int64_t */
};

typedef struct node_args {
  uint32_t index;
  bench_latch *done;
  uint32_t *finisher; /* index of the node that received token 1 */
} node_args;

typedef struct node {
  node_args a;
  acto_ref next;
} node;

static int node_init(acto_ctx *ctx, void *state, const void *arg) {
  node *st = state;

  (void)ctx;
  st->a = *(const node_args *)arg;
  return 0;
}

static int node_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  node *st = state;
  int64_t token;

  switch (msg->type) {
  case MSG_TOKEN:
    BENCH_EXPECT(msg->size == sizeof token, "token of %zu bytes", msg->size);
    memcpy(&token, msg->data, sizeof token);
    if (token == 1) {
      *st->a.finisher = st->a.index;
      bench_latch_arrive(st->a.done);
      return 0;
    }
    token--;
    BENCH_CHECK(acto_send(acto_ctx_system(ctx), st->next, MSG_TOKEN, &token, sizeof token));
    return 0;
  case MSG_LINK:
    BENCH_EXPECT(msg->size == sizeof st->next, "link of %zu bytes", msg->size);
    memcpy(&st->next, msg->data, sizeof st->next);
    BENCH_CHECK(acto_reply(ctx, MSG_LINK, NULL, 0));
    return 0;
  default:
    bench_fail("ring node: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour node_behaviour = {
  .name = "ring_node",
  .state_size = sizeof(node),
  .init = node_init,
  .handle = node_handle,
};

int main(int argc, char **argv) {
  bench_start("ring", argc, argv);

  uint64_t hops = bench_scaled(10000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  acto_ref nodes[RING_ACTORS];
  uint32_t finisher = UINT32_MAX;
  bench_latch done;
  acto_stats st;

  bench_latch_init(&done, 1);
  for (uint32_t i = 0; i < RING_ACTORS; i++) {
    node_args na = {i, &done, &finisher};

    BENCH_CHECK(acto_spawn(sys, &node_behaviour, &na, NULL, &nodes[i]));
  }
  for (uint32_t i = 0; i < RING_ACTORS; i++) {
    acto_reply_buf reply;

    BENCH_CHECK(acto_ask(sys, nodes[i], MSG_LINK, &nodes[(i + 1) % RING_ACTORS],
                         sizeof(acto_ref), 10000, &reply));
    acto_reply_release(&reply);
  }

  int64_t token = (int64_t)hops;
  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, nodes[0], MSG_TOKEN, &token, sizeof token));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  BENCH_EXPECT(finisher == (hops - 1) % RING_ACTORS,
               "token ended at node %" PRIu32 ", expected %" PRIu64, finisher,
               (hops - 1) % RING_ACTORS);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  bench_latch_destroy(&done);

  bench_report(hops, secs, " actors=%u", RING_ACTORS);
  return 0;
}
