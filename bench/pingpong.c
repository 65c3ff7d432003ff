/* pingpong.c - the `pingpong` benchmark: two actors, one message in flight.
 *
 * The pinger sends `ping` to the ponger, which answers `pong` to the sender
 * of the ping; the pinger sends the next ping when the pong arrives, N
 * round trips in all (N = 1,000,000 x scale).  It measures the cost of one
 * message: enqueue, schedule, dequeue, dispatch.
 *
 * msgs = pings handled + pongs handled = 2N.  The pinger counts its pongs;
 * the ponger's count is read with an ask after the timed section, and both
 * must equal N.  Extra field: round_trips=N.
 */
#include "common.h"

enum {
  MSG_START = 1, /* main -> pinger: begin the round trips */
  MSG_PING,      /* pinger -> ponger */
  MSG_PONG,      /* ponger -> pinger */
  MSG_COUNT,     /* main asks the ponger how many pings it handled */
};

/* ---- the ponger --------------------------------------------------------- */

typedef struct ponger {
  uint64_t pings; /* pings handled */
} ponger;

static int ponger_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  ponger *st = state;

  switch (msg->type) {
  case MSG_PING:
    st->pings++;
    BENCH_CHECK(acto_send(acto_ctx_system(ctx), msg->sender, MSG_PONG, NULL, 0));
    return 0;
  case MSG_COUNT:
    BENCH_CHECK(acto_reply(ctx, MSG_COUNT, &st->pings, sizeof st->pings));
    return 0;
  default:
    bench_fail("ponger: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour ponger_behaviour = {
  .name = "ponger",
  .state_size = sizeof(ponger),
  .handle = ponger_handle,
};

/* ---- the pinger --------------------------------------------------------- */

typedef struct pinger_args {
  acto_ref ponger;
  uint64_t round_trips;
  bench_latch *done;
  uint64_t *pongs_out; /* written once, just before the latch is signalled */
} pinger_args;

typedef struct pinger {
  pinger_args a;
  uint64_t pongs; /* pongs handled */
} pinger;

static int pinger_init(acto_ctx *ctx, void *state, const void *arg) {
  pinger *st = state;

  (void)ctx;
  st->a = *(const pinger_args *)arg;
  return 0;
}

static int pinger_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  pinger *st = state;

  switch (msg->type) {
  case MSG_START:
    BENCH_CHECK(acto_send(acto_ctx_system(ctx), st->a.ponger, MSG_PING, NULL, 0));
    return 0;
  case MSG_PONG:
    if (++st->pongs == st->a.round_trips) {
      *st->a.pongs_out = st->pongs;
      bench_latch_arrive(st->a.done);
    } else {
      BENCH_CHECK(acto_send(acto_ctx_system(ctx), st->a.ponger, MSG_PING, NULL, 0));
    }
    return 0;
  default:
    bench_fail("pinger: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour pinger_behaviour = {
  .name = "pinger",
  .state_size = sizeof(pinger),
  .init = pinger_init,
  .handle = pinger_handle,
};

int main(int argc, char **argv) {
  bench_start("pingpong", argc, argv);

  uint64_t n = bench_scaled(1000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  bench_latch done;
  uint64_t pongs = 0, pings = 0;
  acto_ref pong_ref, ping_ref;
  acto_reply_buf reply;
  acto_stats st;

  bench_latch_init(&done, 1);
  BENCH_CHECK(acto_spawn(sys, &ponger_behaviour, NULL, NULL, &pong_ref));
  pinger_args pa = {pong_ref, n, &done, &pongs};
  BENCH_CHECK(acto_spawn(sys, &pinger_behaviour, &pa, NULL, &ping_ref));

  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, ping_ref, MSG_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  /* The ponger handled its last ping before the last pong was sent, so the
   * count it reports now is final. */
  BENCH_CHECK(acto_ask(sys, pong_ref, MSG_COUNT, NULL, 0, 10000, &reply));
  BENCH_EXPECT(reply.size == sizeof pings, "count reply has %zu bytes", reply.size);
  memcpy(&pings, reply.data, sizeof pings);
  acto_reply_release(&reply);
  BENCH_EXPECT(pings == n && pongs == n,
               "pings handled %" PRIu64 ", pongs handled %" PRIu64 ", expected %" PRIu64 " each",
               pings, pongs, n);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  bench_latch_destroy(&done);

  bench_report(pings + pongs, secs, " round_trips=%" PRIu64, n);
  return 0;
}
