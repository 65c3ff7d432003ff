/* fanin.c - the `fanin` benchmark: many producers, one collector.
 *
 * S = 8 producer actors (fixed) each send N = 1,000,000 x scale
 * payload-less messages to one collector actor, all at once.  This measures
 * contention of several producers on one mailbox; the collector keeps the
 * default bounded mailbox (1,024 messages, block policy), so producers are
 * parked and resumed as it fills and drains.
 *
 * DESIGN: producers send in bursts as in counting.c (at most BENCH_BURST
 * per turn, stop at the first ACTO_PARKED, then a `cont` to themselves).
 * Producer i sends messages of type MSG_DATA + i, so the collector counts
 * per producer at no cost; it signals the main thread when the total
 * reaches S x N.
 *
 * msgs = S x N.  Correctness: every producer's count must be exactly N.
 * Extra fields: producers=S per_producer=N conts= parks=, and the
 * scheduler's steals= and worker_sleeps= (acto_stats): many steals mean
 * actors moved between cores during the run.
 */
#include "common.h"

#define FANIN_PRODUCERS 8u

enum {
  MSG_START = 1, /* main -> producer */
  MSG_CONT,      /* producer -> itself: send the next burst */
  MSG_COUNTS,    /* main -> collector (ask): reply is uint64_t[S] */
  MSG_DATA,      /* producer i -> collector: type MSG_DATA + i */
};

/* ---- the collector ------------------------------------------------------ */

typedef struct collector_args {
  uint64_t total;
  bench_latch *done;
} collector_args;

typedef struct collector {
  collector_args a;
  uint64_t count;
  uint64_t per[FANIN_PRODUCERS];
} collector;

static int collector_init(acto_ctx *ctx, void *state, const void *arg) {
  collector *st = state;

  (void)ctx;
  st->a = *(const collector_args *)arg;
  return 0;
}

static int collector_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  collector *st = state;

  if (msg->type >= MSG_DATA && msg->type < MSG_DATA + FANIN_PRODUCERS) {
    st->per[msg->type - MSG_DATA]++;
    if (++st->count == st->a.total)
      bench_latch_arrive(st->a.done);
    return 0;
  }
  if (msg->type == MSG_COUNTS) {
    BENCH_CHECK(acto_reply(ctx, MSG_COUNTS, st->per, sizeof st->per));
    return 0;
  }
  bench_fail("collector: unexpected message type %" PRIu32, msg->type);
}

static const acto_behaviour collector_behaviour = {
  .name = "collector",
  .state_size = sizeof(collector),
  .init = collector_init,
  .handle = collector_handle,
};

/* ---- the producers ------------------------------------------------------ */

typedef struct producer_args {
  acto_ref collector;
  uint32_t type; /* MSG_DATA + index */
  uint64_t n;
  uint64_t *conts_out; /* written once, after the last burst */
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

static int producer_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  producer *st = state;
  int parked;

  switch (msg->type) {
  case MSG_START:
  case MSG_CONT:
    st->sent += bench_send_burst(ctx, st->a.collector, st->a.type, st->a.n - st->sent, &parked);
    if (st->sent < st->a.n) {
      st->conts++;
      BENCH_CHECK(acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_CONT, NULL, 0));
    } else {
      /* Read by the main thread after acto_system_shutdown, which joins
       * the workers. */
      *st->a.conts_out = st->conts;
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
  bench_start("fanin", argc, argv);

  uint64_t n = bench_scaled(1000000, bench_cur.scale);
  uint64_t total = FANIN_PRODUCERS * n;
  acto_system *sys = bench_system(0);
  acto_ref coll_ref, prod[FANIN_PRODUCERS];
  uint64_t conts[FANIN_PRODUCERS] = {0};
  uint64_t per[FANIN_PRODUCERS];
  bench_latch done;
  acto_reply_buf reply;
  acto_stats st;

  bench_latch_init(&done, 1);
  collector_args ca = {total, &done};
  BENCH_CHECK(acto_spawn(sys, &collector_behaviour, &ca, NULL, &coll_ref));
  for (uint32_t i = 0; i < FANIN_PRODUCERS; i++) {
    producer_args pa = {coll_ref, MSG_DATA + i, n, &conts[i]};

    BENCH_CHECK(acto_spawn(sys, &producer_behaviour, &pa, NULL, &prod[i]));
  }

  double t0 = bench_now();
  for (uint32_t i = 0; i < FANIN_PRODUCERS; i++)
    BENCH_CHECK(acto_send(sys, prod[i], MSG_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  BENCH_CHECK(acto_ask(sys, coll_ref, MSG_COUNTS, NULL, 0, 10000, &reply));
  BENCH_EXPECT(reply.size == sizeof per, "counts reply has %zu bytes", reply.size);
  memcpy(per, reply.data, sizeof per);
  acto_reply_release(&reply);
  uint64_t got = 0, all_conts = 0;
  for (uint32_t i = 0; i < FANIN_PRODUCERS; i++) {
    BENCH_EXPECT(per[i] == n, "producer %" PRIu32 " delivered %" PRIu64 " of %" PRIu64, i, per[i],
                 n);
    got += per[i];
  }
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  bench_latch_destroy(&done);
  /* A producer may still be in its last handler when the collector counts
   * its last message; the shutdown joined the workers, so now the counts of
   * conts are final. */
  for (uint32_t i = 0; i < FANIN_PRODUCERS; i++)
    all_conts += conts[i];

  bench_report(got, secs,
               " producers=%u per_producer=%" PRIu64 " conts=%" PRIu64 " parks=%" PRIu64
               " steals=%" PRIu64 " worker_sleeps=%" PRIu64,
               FANIN_PRODUCERS, n, all_conts, st.parks, st.steals, st.worker_sleeps);
  return 0;
}
