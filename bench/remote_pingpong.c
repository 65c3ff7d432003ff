/* remote_pingpong.c - the `remote_pingpong` benchmark: pingpong between
 * two nodes, in two OS processes, over loopback TCP.
 *
 * The program forks itself (bench_pair_start, before any thread exists):
 * the child runs the server node, which registers a ponger as "ponger";
 * the parent runs the client node, connects, looks the ponger up and runs
 * a pinger actor that sends `ping` to the remote ponger, which answers
 * `pong` with acto_send to the ping's sender; the pinger sends the next
 * ping when the pong arrives.  1,000 warm-up round trips are not timed;
 * then N = 100,000 x scale round trips are, each one timed by the pinger
 * from its send of the ping to the handling of the pong.  p50, p99 and
 * p999 are nearest-rank over all N round trips, as in the peers, read from
 * bench/hist.h (within 0.8%, never under the true value); max is exact.
 *
 * msgs = pings handled + pongs handled in the timed section = 2N.  The
 * pinger counts its pongs; after the run the client asks the ponger (over
 * the network) for the pings it handled, which must be warm-up + N, and
 * for the server's peak RSS.  Both behaviours ask for I/O turns
 * (ACTO_BEHAVIOUR_IO_TURNS: a ping or pong is handled on the node's I/O
 * thread that read it); ACTO_BENCH_IO_TURNS=0 runs them on workers and
 * reports the workload as remote_pingpong_noio.  Extra fields: round_trips=N, p50_us, p99_us,
 * p999_us, max_us, peer_rss_kb (the server's peak RSS).
 */
#include "common.h"
#include "hist.h"

#define WARMUP_ROUND_TRIPS 1000u
#define PONGER_NAME "ponger"

enum {
  MSG_START = 1, /* main -> pinger: payload start_args */
  MSG_PING,      /* pinger -> ponger */
  MSG_PONG,      /* ponger -> pinger */
  MSG_STATS,     /* main asks the ponger: reply carries server_stats */
};

/* The answer to MSG_STATS. */
typedef struct server_stats {
  uint64_t pings;  /* pings the ponger handled */
  int64_t rss_kb;  /* the server's peak RSS */
} server_stats;

/* ---- the server: the ponger ------------------------------------------- */

typedef struct ponger {
  uint64_t pings;
} ponger;

static int ponger_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  ponger *st = state;
  server_stats ss;

  switch (msg->type) {
  case MSG_PING:
    st->pings++;
    BENCH_CHECK(acto_send(acto_ctx_system(ctx), msg->sender, MSG_PONG, NULL, 0));
    return 0;
  case MSG_STATS:
    ss.pings = st->pings;
    ss.rss_kb = bench_peak_rss_kb();
    BENCH_CHECK(acto_reply(ctx, MSG_STATS, &ss, sizeof ss));
    return 0;
  default:
    bench_fail("ponger: unexpected message type %" PRIu32, msg->type);
  }
}

/* Not const: main clears ACTO_BEHAVIOUR_IO_TURNS for ACTO_BENCH_IO_TURNS=0. */
static acto_behaviour ponger_behaviour = {
  .name = "ponger",
  .state_size = sizeof(ponger),
  .handle = ponger_handle,
  .flags = ACTO_BEHAVIOUR_IO_TURNS,
};

/* Runs the server process to its end: 0 after a clean run. */
static int server_main(void) {
  acto_system *sys = bench_system(0);
  acto_spawn_opts opts = {.name = PONGER_NAME};
  acto_ref ref;
  acto_stats st;

  bench_pair_node(sys);
  BENCH_CHECK(acto_spawn(sys, &ponger_behaviour, NULL, &opts, &ref));
  bench_pair_serve(sys);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  return 0;
}

/* ---- the client: the pinger ------------------------------------------- */

typedef struct start_args {
  uint64_t round_trips;
  int record; /* non-zero: store each round trip's latency */
} start_args;

typedef struct pinger_args {
  acto_ref ponger;
  bench_hist *lat;     /* the timed round trips, in ns */
  bench_latch *done;
  uint64_t *pongs_out; /* written just before the latch is signalled */
} pinger_args;

typedef struct pinger {
  pinger_args a;
  uint64_t left;    /* round trips still to make in this phase */
  int record;
  uint64_t pongs;   /* pongs handled while recording */
  uint64_t sent_ns; /* when the ping in flight was sent */
} pinger;

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pinger_init(acto_ctx *ctx, void *state, const void *arg) {
  pinger *st = state;

  (void)ctx;
  st->a = *(const pinger_args *)arg;
  return 0;
}

static void ping(acto_ctx *ctx, pinger *st) {
  st->sent_ns = now_ns();
  BENCH_CHECK(acto_send(acto_ctx_system(ctx), st->a.ponger, MSG_PING, NULL, 0));
}

static int pinger_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  pinger *st = state;
  start_args sa;

  switch (msg->type) {
  case MSG_START:
    BENCH_EXPECT(msg->size == sizeof sa, "start message of %zu bytes", msg->size);
    memcpy(&sa, msg->data, sizeof sa);
    st->left = sa.round_trips;
    st->record = sa.record;
    ping(ctx, st);
    return 0;
  case MSG_PONG: {
    uint64_t t = now_ns();

    BENCH_EXPECT(st->left > 0, "a pong with no ping in flight");
    if (st->record) {
      bench_hist_record(st->a.lat, t - st->sent_ns);
      st->pongs++;
    }
    if (--st->left == 0) {
      *st->a.pongs_out = st->pongs;
      bench_latch_arrive(st->a.done);
    } else
      ping(ctx, st);
    return 0;
  }
  default:
    bench_fail("pinger: unexpected message type %" PRIu32, msg->type);
  }
}

static acto_behaviour pinger_behaviour = {
  .name = "pinger",
  .state_size = sizeof(pinger),
  .init = pinger_init,
  .handle = pinger_handle,
  .flags = ACTO_BEHAVIOUR_IO_TURNS,
};

/* Runs `round_trips` round trips (recording them or not) and waits for
 * the last pong.  Returns the wall time. */
static double phase(acto_system *sys, acto_ref pinger_ref, uint64_t round_trips, int record,
                    bench_latch *done) {
  start_args sa = {round_trips, record};
  double t0;

  pthread_mutex_lock(&done->mu);
  done->count = 0; /* the pinger arrives only once per phase */
  pthread_mutex_unlock(&done->mu);
  t0 = bench_now();
  BENCH_CHECK(acto_send(sys, pinger_ref, MSG_START, &sa, sizeof sa));
  bench_latch_wait(done);
  return bench_now() - t0;
}

int main(int argc, char **argv) {
  /* Both handlers are short and never block: they ask for I/O turns
   * (ACTORS.md 3.2).  ACTO_BENCH_IO_TURNS=0 measures them on workers, as
   * "remote_pingpong_noio". */
  const char *io = getenv("ACTO_BENCH_IO_TURNS");
  int noio = io != NULL && strcmp(io, "0") == 0;
  if (noio) {
    ponger_behaviour.flags = 0;
    pinger_behaviour.flags = 0;
  }
  if (bench_pair_start(noio ? "remote_pingpong_noio" : "remote_pingpong",
                       noio ? "remote_pingpong_noio_server" : "remote_pingpong_server", argc, argv))
    return server_main();

  uint64_t n = bench_scaled(100000, bench_cur.scale);
  bench_hist *lat = malloc(sizeof *lat);
  acto_system *sys;
  acto_ref ponger_ref, pinger_ref;
  acto_reply_buf reply;
  server_stats ss;
  bench_latch done;
  uint64_t pongs = 0;
  acto_stats st;

  BENCH_EXPECT(lat != NULL, "no memory for the latency histogram");
  bench_hist_init(lat);
  sys = bench_system(0);
  bench_pair_node(sys);
  ponger_ref = bench_pair_connect(sys, PONGER_NAME);
  bench_latch_init(&done, 1);
  pinger_args pa = {ponger_ref, lat, &done, &pongs};
  BENCH_CHECK(acto_spawn(sys, &pinger_behaviour, &pa, NULL, &pinger_ref));

  phase(sys, pinger_ref, WARMUP_ROUND_TRIPS, 0, &done);
  double secs = phase(sys, pinger_ref, n, 1, &done);

  /* The ponger handled the last ping before it sent the last pong. */
  BENCH_CHECK(acto_ask(sys, ponger_ref, MSG_STATS, NULL, 0, BENCH_PAIR_WAIT_MS, &reply));
  BENCH_EXPECT(reply.size == sizeof ss, "stats reply has %zu bytes", reply.size);
  memcpy(&ss, reply.data, sizeof ss);
  acto_reply_release(&reply);

  /* The latch's mutex made the pinger's writes (pongs, lat) visible. */
  BENCH_EXPECT(ss.pings == n + WARMUP_ROUND_TRIPS && pongs == n,
               "ponger handled %" PRIu64 " pings (expected %" PRIu64 "), pinger %" PRIu64
               " timed pongs (expected %" PRIu64 ")",
               ss.pings, n + WARMUP_ROUND_TRIPS, pongs, n);
  BENCH_EXPECT(lat->n == n, "%" PRIu64 " round trips timed, expected %" PRIu64, lat->n, n);
  double p50 = bench_hist_quantile_us(lat, 0.50), p99 = bench_hist_quantile_us(lat, 0.99);
  double p999 = bench_hist_quantile_us(lat, 0.999), pmax = (double)lat->max / 1000.0;

  bench_check_stats(sys, &st);
  bench_pair_unwatch(sys);
  bench_shutdown(sys);
  bench_pair_finish();
  bench_latch_destroy(&done);
  free(lat);

  bench_report(2 * n, secs,
               " round_trips=%" PRIu64 " p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
               " peer_rss_kb=%" PRId64,
               n, p50, p99, p999, pmax, ss.rss_kb);
  return 0;
}
