/* global_lookup.c - the `global_lookup` benchmark: lookups of cluster-wide
 * names, two nodes in two OS processes on loopback TCP.
 *
 * The program forks itself (bench_pair_start): the child runs the server
 * node, which spawns G = 1,000 x scale actors and registers each under a
 * global name ("svc-<i>"), and one more locally (for the client's
 * connection check).  The parent runs the client node, connects, waits
 * until its own copy of the global table holds all G names (replicated by
 * GREG messages), records each name's ref, and then one actor looks the
 * names up round-robin L = 10,000,000 x scale times with
 * acto_global_whereis, in turns of 100,000, checking each result against
 * the recorded ref.  No lookup touches the network.
 *
 * msgs = L lookups.  Extra fields: names=G, peer_rss_kb (the server's peak
 * RSS, asked over the network after the run).
 */
#include "common.h"

#define SERVER_LOCAL "gl_server"
#define TURN 100000u /* lookups per turn of the looker */

enum {
  MSG_STATS = 1, /* client asks the server's actor: reply is its peak RSS */
  MSG_GO,        /* main -> looker: start */
  MSG_MORE,      /* looker -> itself: the next turn */
};

static char (*names)[24];
static acto_ref *refs;
static uint64_t g_names;

static void name_of(uint64_t i, char out[24]) {
  snprintf(out, 24, "svc-%u", (unsigned)(i % 1000000000u));
}

/* ---- the server ------------------------------------------------------------- */

static int holder_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_STATS) {
    int64_t rss = bench_peak_rss_kb();
    BENCH_CHECK(acto_reply(ctx, MSG_STATS, &rss, sizeof rss));
    return 0;
  }
  bench_fail("holder: unexpected message type %" PRIu32, msg->type);
}

static const acto_behaviour holder_behaviour = {.name = "holder", .handle = holder_handle};

static int server_main(void) {
  acto_system *sys = bench_system(0);
  acto_spawn_opts opts = {.name = SERVER_LOCAL};
  acto_ref ref;
  acto_stats st;
  char name[24];

  bench_pair_node(sys);
  BENCH_CHECK(acto_spawn(sys, &holder_behaviour, NULL, &opts, &ref));
  for (uint64_t i = 0; i < g_names; i++) {
    BENCH_CHECK(acto_spawn(sys, &holder_behaviour, NULL, NULL, &ref));
    name_of(i, name);
    BENCH_CHECK(acto_global_register(sys, name, ref));
  }
  bench_pair_serve(sys);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  return 0;
}

/* ---- the client -------------------------------------------------------------- */

typedef struct looker {
  uint64_t left, next;
  bench_latch *done;
} looker;

static int looker_init(acto_ctx *ctx, void *state, const void *arg) {
  looker *st = state;
  (void)ctx;
  st->done = (bench_latch *)arg;
  return 0;
}

static int looker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  looker *st = state;
  acto_system *sys = acto_ctx_system(ctx);
  acto_ref got;

  if (msg->type == MSG_GO)
    memcpy(&st->left, msg->data, sizeof st->left);
  else if (msg->type != MSG_MORE)
    bench_fail("looker: unexpected message type %" PRIu32, msg->type);
  uint64_t k = st->left < TURN ? st->left : TURN;
  for (uint64_t i = 0; i < k; i++) {
    BENCH_CHECK(acto_global_whereis(sys, names[st->next], &got));
    BENCH_EXPECT(acto_ref_eq(got, refs[st->next]), "%s resolved to another actor", names[st->next]);
    if (++st->next == g_names)
      st->next = 0;
  }
  st->left -= k;
  if (st->left > 0)
    BENCH_CHECK(acto_send(sys, acto_self(ctx), MSG_MORE, NULL, 0));
  else
    bench_latch_arrive(st->done);
  return 0;
}

static const acto_behaviour looker_behaviour = {
    .name = "looker", .state_size = sizeof(looker), .init = looker_init, .handle = looker_handle};

int main(int argc, char **argv) {
  int server = bench_pair_start("global_lookup", "global_lookup_server", argc, argv);
  g_names = bench_scaled(1000, bench_cur.scale);
  if (g_names == 0)
    g_names = 1;
  names = calloc(g_names, sizeof *names);
  refs = calloc(g_names, sizeof *refs);
  BENCH_EXPECT(names && refs, "no memory for %" PRIu64 " names", g_names);
  for (uint64_t i = 0; i < g_names; i++)
    name_of(i, names[i]);
  if (server)
    return server_main();

  uint64_t l = bench_scaled(10000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  bench_latch done;
  acto_ref server_ref, looker_ref;
  acto_reply_buf reply;
  acto_stats st;
  int64_t peer_rss = 0;

  bench_pair_node(sys);
  server_ref = bench_pair_connect(sys, SERVER_LOCAL);
  /* The names arrive by replication: wait for all of them. */
  double deadline = bench_now() + BENCH_PAIR_WAIT_MS / 1000.0;
  while (BENCH_CHECK(acto_global_count(sys)) < (int)g_names) {
    BENCH_EXPECT(bench_now() < deadline, "only %d of %" PRIu64 " global names arrived",
                 acto_global_count(sys), g_names);
    usleep(1000);
  }
  for (uint64_t i = 0; i < g_names; i++) {
    BENCH_CHECK(acto_global_whereis(sys, names[i], &refs[i]));
    BENCH_EXPECT(refs[i].node == server_ref.node, "%s is not on the server", names[i]);
  }
  bench_latch_init(&done, 1);
  BENCH_CHECK(acto_spawn(sys, &looker_behaviour, &done, NULL, &looker_ref));
  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, looker_ref, MSG_GO, &l, sizeof l));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  BENCH_CHECK(acto_ask(sys, server_ref, MSG_STATS, NULL, 0, BENCH_PAIR_WAIT_MS, &reply));
  BENCH_EXPECT(reply.size == sizeof peer_rss, "stats reply has %zu bytes", reply.size);
  memcpy(&peer_rss, reply.data, sizeof peer_rss);
  acto_reply_release(&reply);

  bench_check_stats(sys, &st);
  bench_pair_unwatch(sys);
  bench_shutdown(sys);
  bench_pair_finish();
  bench_latch_destroy(&done);
  bench_report(l, secs, " names=%" PRIu64 " peer_rss_kb=%" PRId64, g_names, peer_rss);
  free(names);
  free(refs);
  return 0;
}
