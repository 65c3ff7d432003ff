/* remote_stream.c - the `remote_stream` benchmark: a stream of small
 * messages from one node to an actor on another, over loopback TCP.
 *
 * The program forks itself (bench_pair_start, before any thread exists):
 * the child runs the server node, which registers a receiver as
 * "receiver"; the parent runs the client node, connects, looks the
 * receiver up and tells it the stream's length N = 2,000,000 x scale (an
 * ask, before the timed section).  A sender actor then streams N messages
 * to the remote receiver, each carrying a uint64_t sequence number and a
 * 16-byte binary (24 bytes of payload).  The receiver checks every
 * message (sequence in order, binary intact) and acknowledges only the
 * last one, with its count and the number of bad messages; the timed
 * section ends when the ack is handled.
 *
 * DESIGN: the sender is an actor, as in counting.c: each turn it sends at
 * most BENCH_BURST messages and stops early when a send returns
 * ACTO_PARKED (the node's outgoing queue for the server is full: the
 * message is queued in order and the sender is suspended until the I/O
 * thread has written enough); then it sends itself `cont` and returns.
 * Both nodes keep their defaults (the receiver's mailbox is bounded, 1,024
 * messages, block policy: when it is full the receiving node says BUSY
 * and the sender parks until ROOM, ACTORS.md 13.2 "Flow control per
 * target").
 *
 * msgs = N data messages + 1 ack = N + 1, as in the peers.  Extra fields:
 * stream_msgs=N, payload_bytes=16, peer_rss_kb (the server's peak RSS),
 * note=sender_actor, and from the client node's counters frames (frames
 * sent) and parks (sends parked on the full outgoing queue).
 */
#include "stream.h"

#define RECEIVER_NAME "receiver"

enum {
  MSG_RSS = STREAM_NEXT, /* main asks the receiver: reply int64_t peak RSS in kB */
};

/* ---- the server: the receiver ----------------------------------------- */

static int receiver_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  int64_t rss;

  if (stream_rx_handle(ctx, state, msg))
    return 0;
  if (msg->type != MSG_RSS)
    bench_fail("receiver: unexpected message type %" PRIu32, msg->type);
  rss = bench_peak_rss_kb();
  BENCH_CHECK(acto_reply(ctx, MSG_RSS, &rss, sizeof rss));
  return 0;
}

static const acto_behaviour receiver_behaviour = {
  .name = "receiver",
  .state_size = sizeof(stream_rx),
  .handle = receiver_handle,
};

/* Runs the server process to its end: 0 after a clean run. */
static int server_main(void) {
  acto_system *sys = bench_system(0);
  acto_spawn_opts opts = {.name = RECEIVER_NAME};
  acto_ref ref;
  acto_stats st;

  bench_pair_node(sys);
  BENCH_CHECK(acto_spawn(sys, &receiver_behaviour, NULL, &opts, &ref));
  bench_pair_serve(sys);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  return 0;
}

/* ---- the client: the sender (stream.h) --------------------------------- */

int main(int argc, char **argv) {
  if (bench_pair_start("remote_stream", "remote_stream_server", argc, argv))
    return server_main();

  uint64_t n = bench_scaled(2000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  acto_ref receiver_ref, sender_ref;
  acto_reply_buf reply;
  acto_node_stats ns;
  stream_ack got = {0, 0};
  int64_t peer_rss = -1;
  bench_latch done;
  acto_stats st;

  bench_pair_node(sys);
  receiver_ref = bench_pair_connect(sys, RECEIVER_NAME);
  BENCH_CHECK(acto_ask(sys, receiver_ref, STREAM_SETUP, &n, sizeof n, BENCH_PAIR_WAIT_MS, &reply));
  acto_reply_release(&reply);
  bench_latch_init(&done, 1);
  stream_tx_args sa = {receiver_ref, n, &done, &got};
  BENCH_CHECK(acto_spawn(sys, &stream_tx_behaviour, &sa, NULL, &sender_ref));

  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, sender_ref, STREAM_START, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  BENCH_EXPECT(got.count == n && got.bad == 0,
               "the receiver counted %" PRIu64 " messages (expected %" PRIu64 "), %" PRIu64
               " out of order or damaged",
               got.count, n, got.bad);
  BENCH_CHECK(acto_ask(sys, receiver_ref, MSG_RSS, NULL, 0, BENCH_PAIR_WAIT_MS, &reply));
  BENCH_EXPECT(reply.size == sizeof peer_rss, "rss reply has %zu bytes", reply.size);
  memcpy(&peer_rss, reply.data, sizeof peer_rss);
  acto_reply_release(&reply);
  BENCH_CHECK(acto_node_get_stats(sys, &ns));
  bench_check_stats(sys, &st);
  bench_pair_unwatch(sys);
  bench_shutdown(sys);
  bench_pair_finish();
  bench_latch_destroy(&done);

  bench_report(n + 1, secs,
               " stream_msgs=%" PRIu64 " payload_bytes=%u peer_rss_kb=%" PRId64
               " note=sender_actor frames=%" PRIu64 " parks=%" PRIu64,
               n, STREAM_BIN_BYTES, peer_rss, ns.frames_out, ns.parks);
  return 0;
}
