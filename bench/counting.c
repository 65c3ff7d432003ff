/* counting.c - the `counting` benchmark: one producer, one counter.
 *
 * A producer actor sends N = 10,000,000 x scale payload-less `inc` messages
 * to a counter actor as fast as the counter's mailbox lets it, then asks the
 * counter for its total (acto_ask_async with a continuation) and checks
 * that it equals N.  This measures raw mailbox throughput and, because the
 * counter keeps the default bounded mailbox (1,024 messages, block policy),
 * backpressure: peak RSS stays small however large N is.
 *
 * DESIGN: the producer never loops over the whole stream in one handler.
 * Each turn it sends at most BENCH_BURST messages and stops early when a
 * send returns ACTO_PARKED; then it sends itself `cont` and returns, and acto
 * suspends it until its parked message is delivered.  The ask is made in a
 * turn in which no send parked, so every inc is in the counter's mailbox
 * before the get.
 *
 * msgs = N inc + 1 get + 1 reply = N + 2, as in the peers; the producer's
 * own `cont` messages are control flow and are reported apart (conts=).
 * Extra fields: count_ok=true, conts=, parks= (acto_stats.parks), steals=
 * and worker_sleeps= (acto_stats).
 */
#include "common.h"

enum {
  MSG_START = 1, /* main -> producer */
  MSG_CONT,      /* producer -> itself: send the next burst */
  MSG_INC,       /* producer -> counter */
  MSG_GET,       /* producer -> counter (ask): reply carries the uint64_t total */
};

/* What the producer leaves for the main thread; written before the latch
 * is signalled, read after it. */
typedef struct outcome {
  uint64_t total; /* the counter's answer */
  uint64_t conts; /* cont messages the producer sent itself */
} outcome;

/* ---- the counter -------------------------------------------------------- */

typedef struct counter {
  uint64_t count;
} counter;

static int counter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  counter *st = state;

  switch (msg->type) {
  case MSG_INC:
    st->count++;
    return 0;
  case MSG_GET:
    BENCH_CHECK(acto_reply(ctx, MSG_GET, &st->count, sizeof st->count));
    return 0;
  default:
    bench_fail("counter: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour counter_behaviour = {
  .name = "counter",
  .state_size = sizeof(counter),
  .handle = counter_handle,
};

/* ---- the producer ------------------------------------------------------- */

typedef struct producer_args {
  acto_ref counter;
  uint64_t n;
  bench_latch *done;
  outcome *out;
} producer_args;

typedef struct producer {
  producer_args a;
  uint64_t sent;
  uint64_t conts;
} producer;

static int producer_init(acto_ctx *ctx, void *state, const void *arg) {
  producer *st = state;

  (void)ctx;
  st->a = *(const producer_args *)arg;
  return 0;
}

/* The reply to the get: runs on the producer. */
static void producer_got_total(acto_ctx *ctx, void *state, int status, const acto_msg *reply,
                               void *user) {
  producer *st = state;

  (void)ctx;
  (void)user;
  BENCH_EXPECT(status == 0, "get failed: %s (%s)", acto_err_name(status), acto_strerror(status));
  BENCH_EXPECT(reply != NULL && reply->size == sizeof st->a.out->total,
               "get reply of the wrong size");
  memcpy(&st->a.out->total, reply->data, sizeof st->a.out->total);
  st->a.out->conts = st->conts;
  bench_latch_arrive(st->a.done);
}

static int producer_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  producer *st = state;
  int parked = 0;
  uint64_t ask_id;

  switch (msg->type) {
  case MSG_START:
  case MSG_CONT:
    if (st->sent < st->a.n)
      st->sent += bench_send_burst(ctx, st->a.counter, MSG_INC, st->a.n - st->sent, &parked);
    if (st->sent < st->a.n || parked) {
      st->conts++;
      BENCH_CHECK(acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_CONT, NULL, 0));
    } else {
      BENCH_CHECK(acto_ask_async(ctx, st->a.counter, MSG_GET, NULL, 0, -1, producer_got_total,
                                 NULL, &ask_id));
    }
    return 0;
  default:
    bench_fail("producer: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour producer_behaviour = {
  .name = "producer",
  .state_size = sizeof(producer),
  .init = producer_init,
  .handle = producer_handle,
};

int main(int argc, char **argv) {
  bench_start("counting", argc, argv);

  uint64_t n = bench_scaled(10000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  outcome out = {0, 0};
  bench_latch done;
  acto_ref counter_ref, producer_ref;
  acto_stats st;

  bench_latch_init(&done, 1);
  /* The counter keeps the default mailbox: bounded, block policy. */
  BENCH_CHECK(acto_spawn(sys, &counter_behaviour, NULL, NULL, &counter_ref));
  producer_args pa = {counter_ref, n, &done, &out};
  BENCH_CHECK(acto_spawn(sys, &producer_behaviour, &pa, NULL, &producer_ref));

  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, producer_ref, MSG_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  BENCH_EXPECT(out.total == n, "counter total %" PRIu64 " != %" PRIu64, out.total, n);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  bench_latch_destroy(&done);

  bench_report(n + 2, secs,
               " count_ok=true conts=%" PRIu64 " parks=%" PRIu64 " steals=%" PRIu64
               " worker_sleeps=%" PRIu64,
               out.conts, st.parks, st.steals, st.worker_sleeps);
  return 0;
}
