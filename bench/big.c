/* big.c - the `big` benchmark: many busy actors talking at random.
 *
 * W = 1,000 actors (fixed); each sends P = 2,000 x scale pings, one at a
 * time, to actors picked at random (never itself) and waits for the pong
 * before its next ping, while answering the pings of the others.  An actor
 * keeps answering after its own P pings are done.  This stresses many
 * runnable actors, random communication and the scheduler's fairness.
 *
 * Targets come from the MINSTD generator with the same seeds as the peers:
 * actor number me (1-based) starts from (me * 7919 + 17) mod (2^31 - 1) and
 * steps seed = seed * 48271 mod (2^31 - 1); r = seed mod (W - 1) + 1, and
 * the target is r, or r + 1 when r >= me.
 *
 * msgs = pings handled + pongs handled = 2 W P.  After the timed section
 * the main thread asks every actor for its counts; the sums must both be
 * W P.  Extra fields: actors=W pings_per_actor=P.
 */
#include "common.h"

#define BIG_ACTORS 1000u
#define MINSTD_M 2147483647u
#define MINSTD_A 48271u

enum {
  MSG_START = 1, /* main -> actor */
  MSG_PING,      /* actor -> actor */
  MSG_PONG,      /* the answer to a ping */
  MSG_COUNTS,    /* main -> actor (ask): reply is uint64_t[2], pings and pongs */
};

typedef struct big_args {
  const acto_ref *peers; /* W refs, filled before any START is sent */
  uint64_t me;           /* 1-based */
  uint64_t pings;        /* P */
  bench_latch *done;
} big_args;

typedef struct big {
  big_args a;
  uint64_t seed;
  uint64_t left;        /* pings still to send (or awaiting their pong) */
  uint64_t handled[2];  /* pings handled, pongs handled */
} big;

static int big_init(acto_ctx *ctx, void *state, const void *arg) {
  big *st = state;

  (void)ctx;
  st->a = *(const big_args *)arg;
  st->seed = (st->a.me * 7919u + 17u) % MINSTD_M;
  st->left = st->a.pings;
  return 0;
}

static void big_send_ping(acto_ctx *ctx, big *st) {
  uint64_t r, target;

  st->seed = st->seed * MINSTD_A % MINSTD_M;
  r = st->seed % (BIG_ACTORS - 1) + 1; /* 1 .. W-1 */
  target = r >= st->a.me ? r + 1 : r;  /* 1 .. W, never me */
  BENCH_CHECK(acto_send(acto_ctx_system(ctx), st->a.peers[target - 1], MSG_PING, NULL, 0));
}

static int big_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  big *st = state;

  switch (msg->type) {
  case MSG_PING:
    st->handled[0]++;
    BENCH_CHECK(acto_send(acto_ctx_system(ctx), msg->sender, MSG_PONG, NULL, 0));
    return 0;
  case MSG_PONG:
    st->handled[1]++;
    BENCH_EXPECT(st->left > 0, "actor %" PRIu64 ": a pong without a ping", st->a.me);
    if (--st->left == 0)
      bench_latch_arrive(st->a.done);
    else
      big_send_ping(ctx, st);
    return 0;
  case MSG_START:
    big_send_ping(ctx, st);
    return 0;
  case MSG_COUNTS:
    BENCH_CHECK(acto_reply(ctx, MSG_COUNTS, st->handled, sizeof st->handled));
    return 0;
  default:
    bench_fail("big: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour big_behaviour = {
  .name = "big",
  .state_size = sizeof(big),
  .init = big_init,
  .handle = big_handle,
};

int main(int argc, char **argv) {
  bench_start("big", argc, argv);

  uint64_t p = bench_scaled(2000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  static acto_ref peers[BIG_ACTORS];
  uint64_t pings = 0, pongs = 0;
  bench_latch done;
  acto_stats st;

  bench_latch_init(&done, BIG_ACTORS);
  for (uint32_t i = 0; i < BIG_ACTORS; i++) {
    big_args ba = {peers, i + 1u, p, &done};

    BENCH_CHECK(acto_spawn(sys, &big_behaviour, &ba, NULL, &peers[i]));
  }

  /* peers[] is complete before the first START; acto_send publishes it. */
  double t0 = bench_now();
  for (uint32_t i = 0; i < BIG_ACTORS; i++)
    BENCH_CHECK(acto_send(sys, peers[i], MSG_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  /* Every ping was answered before its sender got the pong it waited for,
   * so the counts are final now. */
  for (uint32_t i = 0; i < BIG_ACTORS; i++) {
    acto_reply_buf reply;
    uint64_t c[2];

    BENCH_CHECK(acto_ask(sys, peers[i], MSG_COUNTS, NULL, 0, 10000, &reply));
    BENCH_EXPECT(reply.size == sizeof c, "counts reply has %zu bytes", reply.size);
    memcpy(c, reply.data, sizeof c);
    acto_reply_release(&reply);
    pings += c[0];
    pongs += c[1];
  }
  BENCH_EXPECT(pings == BIG_ACTORS * p && pongs == BIG_ACTORS * p,
               "pings handled %" PRIu64 ", pongs handled %" PRIu64 ", expected %" PRIu64 " each",
               pings, pongs, BIG_ACTORS * p);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  bench_latch_destroy(&done);

  bench_report(pings + pongs, secs, " actors=%u pings_per_actor=%" PRIu64, BIG_ACTORS, p);
  return 0;
}
