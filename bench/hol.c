/* hol.c - the `hol` benchmark (cluster workloads, WORKLOADS.md): head-of-
 * line blocking.  One full mailbox must not slow the link for others.
 *
 * Two nodes, as in remote_stream.c (the program forks the server).  On the
 * server: F ("fast", default mailbox: 1,024 messages, block policy), S
 * ("stuck", capacity 16, block policy) and a controller C.  The client,
 * after an untimed warm-up stream of N/4 to F:
 *   phase 1: streams N messages (an integer and a 16-byte binary, as in
 *            remote_stream) to F; F acknowledges the last; three times,
 *            rate r1 from the median time.
 *   phase 2: first sends S_MSGS = 1,000 messages to S from an actor (S's
 *            handler blocks in the first until released: its mailbox
 *            fills, the rest wait), then streams N messages to F, three
 *            times; rate r2 from the median time.
 *   then asks C to release S, and waits until S acknowledges its 1,000th
 *            message, which it checks arrived in order, none lost or
 *            duplicated: s_ok.
 * RESULT: msgs = N (phase 2), secs = its median time, rate = r2; extra fields
 * ratio=r2/r1, s_ok=true|false, r1=, and the node counters busy (BUSY
 * received by the client) and busy_parks (its sends that waited on a busy
 * target).  S's handler holds one server worker, so this needs at least 2
 * threads (with 1, F cannot run until S is released).
 */
#include <semaphore.h>

#include "stream.h"

#define F_NAME "fast"
#define S_NAME "stuck"
#define C_NAME "control"
#define S_MSGS 1000u
#define S_CAPACITY 16u

enum {
  MSG_RELEASE = STREAM_NEXT, /* ask C: let S go */
  MSG_RSS,                   /* ask C: reply int64_t peak RSS in kB */
};

/* ---- the server ---------------------------------------------------------- */

static sem_t release_s; /* S waits on it in its first message */

typedef struct receiver {
  stream_rx rx; /* first: stream_rx_handle's state */
  int stuck;    /* S: block in the first data message */
} receiver;

static int receiver_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  ((receiver *)state)->stuck = arg != NULL;
  return 0;
}

static int receiver_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  receiver *st = state;

  if (msg->type == STREAM_DATA && st->stuck) {
    st->stuck = 0;
    while (sem_wait(&release_s) != 0 && errno == EINTR) {
    }
  }
  if (!stream_rx_handle(ctx, &st->rx, msg))
    bench_fail("receiver: unexpected message type %" PRIu32, msg->type);
  return 0;
}

static const acto_behaviour receiver_behaviour = {
    .name = "receiver",
    .state_size = sizeof(receiver),
    .init = receiver_init,
    .handle = receiver_handle,
};

static int control_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  int64_t rss;

  (void)state;
  switch (msg->type) {
  case MSG_RELEASE:
    sem_post(&release_s);
    return acto_reply(ctx, MSG_RELEASE, NULL, 0);
  case MSG_RSS:
    rss = bench_peak_rss_kb();
    return acto_reply(ctx, MSG_RSS, &rss, sizeof rss);
  default:
    bench_fail("control: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour control_behaviour = {.name = "control", .handle = control_handle};

static int server_main(void) {
  acto_system *sys = bench_system(0);
  acto_spawn_opts fo = {.name = F_NAME};
  acto_spawn_opts so = {.name = S_NAME, .capacity = S_CAPACITY, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_spawn_opts co = {.name = C_NAME};
  acto_ref ref;
  acto_stats st;

  sem_init(&release_s, 0, 0);
  bench_pair_node(sys);
  BENCH_CHECK(acto_spawn(sys, &receiver_behaviour, NULL, &fo, &ref));
  BENCH_CHECK(acto_spawn(sys, &receiver_behaviour, "stuck", &so, &ref));
  BENCH_CHECK(acto_spawn(sys, &control_behaviour, NULL, &co, &ref));
  bench_pair_serve(sys);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  return 0;
}

/* ---- the client ----------------------------------------------------------- */

/* Each phase streams ROUNDS times and keeps the median time, so that one
 * disturbed stream on a shared machine does not decide the ratio. */
#define ROUNDS 3

static double median3(const double t[3]) {
  double a = t[0], b = t[1], c = t[2];
  if (a > b) {
    double x = a;
    a = b;
    b = x;
  }
  return c < a ? a : c > b ? b : c;
}

static void setup(acto_system *sys, acto_ref to, uint64_t n) {
  acto_reply_buf reply;

  BENCH_CHECK(acto_ask(sys, to, STREAM_SETUP, &n, sizeof n, BENCH_PAIR_WAIT_MS, &reply));
  acto_reply_release(&reply);
}

/* Streams n messages to F from a new sender actor; returns the seconds
 * until F's acknowledgement, which must count n, none bad. */
static double stream_to_f(acto_system *sys, acto_ref f, uint64_t n) {
  bench_latch done;
  stream_ack got = {0, 0};
  acto_ref s;

  setup(sys, f, n);
  bench_latch_init(&done, 1);
  stream_tx_args sa = {f, n, &done, &got};
  BENCH_CHECK(acto_spawn(sys, &stream_tx_behaviour, &sa, NULL, &s));
  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, s, STREAM_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;
  BENCH_EXPECT(got.count == n && got.bad == 0,
               "F counted %" PRIu64 " messages (expected %" PRIu64 "), %" PRIu64 " bad", got.count,
               n, got.bad);
  bench_latch_destroy(&done);
  return secs;
}

int main(int argc, char **argv) {
  if (bench_pair_start("hol", "hol_server", argc, argv))
    return server_main();
  BENCH_EXPECT(bench_cur.threads >= 2, "hol needs at least 2 threads (S holds one)");

  uint64_t n = bench_scaled(1000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  acto_node_stats ns;
  acto_reply_buf reply;
  acto_stats st;

  bench_pair_node(sys);
  acto_ref f = bench_pair_connect(sys, F_NAME);
  acto_ref s, c, ps;
  BENCH_CHECK(acto_node_lookup(sys, BENCH_SERVER_NODE, S_NAME, BENCH_PAIR_WAIT_MS, &s));
  BENCH_CHECK(acto_node_lookup(sys, BENCH_SERVER_NODE, C_NAME, BENCH_PAIR_WAIT_MS, &c));

  /* Warm-up (untimed): buffers, caches and the connection reach their
   * steady state, so that phase 1 is not measured cold. */
  (void)stream_to_f(sys, f, n / 4 + 1);

  /* Phase 1: S idle; the median of ROUNDS streams. */
  double t1s[ROUNDS], t2s[ROUNDS];
  for (int i = 0; i < ROUNDS; i++)
    t1s[i] = stream_to_f(sys, f, n);
  double t1 = median3(t1s);

  /* Phase 2: S stuck with S_MSGS sent to it first, then the stream to F. */
  bench_latch s_done;
  stream_ack s_got = {0, 0};
  setup(sys, s, S_MSGS);
  bench_latch_init(&s_done, 1);
  stream_tx_args sa = {s, S_MSGS, &s_done, &s_got};
  BENCH_CHECK(acto_spawn(sys, &stream_tx_behaviour, &sa, NULL, &ps));
  BENCH_CHECK(acto_send(sys, ps, STREAM_START, NULL, 0));
  for (int i = 0; i < ROUNDS; i++)
    t2s[i] = stream_to_f(sys, f, n);
  double t2 = median3(t2s);

  /* Release S: its S_MSGS must all arrive, in order, once. */
  BENCH_CHECK(acto_ask(sys, c, MSG_RELEASE, NULL, 0, BENCH_PAIR_WAIT_MS, &reply));
  acto_reply_release(&reply);
  bench_latch_wait(&s_done);
  int s_ok = s_got.count == S_MSGS && s_got.bad == 0;

  int64_t peer_rss = -1;
  BENCH_CHECK(acto_ask(sys, c, MSG_RSS, NULL, 0, BENCH_PAIR_WAIT_MS, &reply));
  BENCH_EXPECT(reply.size == sizeof peer_rss, "rss reply has %zu bytes", reply.size);
  memcpy(&peer_rss, reply.data, sizeof peer_rss);
  acto_reply_release(&reply);
  BENCH_CHECK(acto_node_get_stats(sys, &ns));
  bench_check_stats(sys, &st);
  bench_pair_unwatch(sys);
  bench_shutdown(sys);
  bench_pair_finish();
  bench_latch_destroy(&s_done);

  double r1 = (double)n / t1, r2 = (double)n / t2;
  bench_report(n, t2,
               " ratio=%.3f s_ok=%s r1=%.0f s_msgs=%u s_count=%" PRIu64 " peer_rss_kb=%" PRId64
               " busy=%" PRIu64 " busy_parks=%" PRIu64,
               r2 / r1, s_ok ? "true" : "false", r1, S_MSGS, s_got.count, peer_rss,
               ns.busy_received, ns.busy_parks);
  return s_ok ? 0 : 1;
}
