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
#include "common.h"

#define RECEIVER_NAME "receiver"
#define BIN_BYTES 16u

enum {
  MSG_SETUP = 1, /* main asks the receiver: payload uint64_t N; empty reply */
  MSG_START,     /* main -> sender */
  MSG_CONT,      /* sender -> itself: send the next burst */
  MSG_DATA,      /* sender -> receiver: payload item */
  MSG_ACK,       /* receiver -> sender: payload ack */
  MSG_RSS,       /* main asks the receiver: reply int64_t peak RSS in kB */
};

/* One message of the stream: an integer and a 16-byte binary. */
typedef struct item {
  uint64_t seq;
  uint8_t bin[BIN_BYTES];
} item;

/* The receiver's answer to the last message. */
typedef struct ack {
  uint64_t count; /* data messages handled */
  uint64_t bad;   /* of which out of order or with a damaged binary */
} ack;

static const uint8_t the_bin[BIN_BYTES] = {'0', '1', '2', '3', '4', '5', '6', '7',
                                           '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

/* ---- the server: the receiver ----------------------------------------- */

typedef struct receiver {
  uint64_t n;     /* the stream's length (MSG_SETUP) */
  uint64_t count; /* data messages handled */
  uint64_t bad;
} receiver;

static int receiver_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  receiver *st = state;
  item it;
  int64_t rss;

  switch (msg->type) {
  case MSG_DATA:
    if (msg->size != sizeof it) {
      st->bad++;
    } else {
      memcpy(&it, msg->data, sizeof it);
      if (it.seq != st->count || memcmp(it.bin, the_bin, BIN_BYTES) != 0)
        st->bad++;
    }
    st->count++;
    if (msg->size == sizeof it && it.seq + 1 == st->n) {
      ack a = {st->count, st->bad};

      BENCH_CHECK(acto_send(acto_ctx_system(ctx), msg->sender, MSG_ACK, &a, sizeof a));
    }
    return 0;
  case MSG_SETUP:
    BENCH_EXPECT(msg->size == sizeof st->n, "setup message of %zu bytes", msg->size);
    memcpy(&st->n, msg->data, sizeof st->n);
    st->count = st->bad = 0;
    BENCH_CHECK(acto_reply(ctx, MSG_SETUP, NULL, 0));
    return 0;
  case MSG_RSS:
    rss = bench_peak_rss_kb();
    BENCH_CHECK(acto_reply(ctx, MSG_RSS, &rss, sizeof rss));
    return 0;
  default:
    bench_fail("receiver: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour receiver_behaviour = {
  .name = "receiver",
  .state_size = sizeof(receiver),
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

/* ---- the client: the sender ------------------------------------------- */

typedef struct sender_args {
  acto_ref receiver;
  uint64_t n;
  bench_latch *done;
  ack *ack_out; /* written just before the latch is signalled */
} sender_args;

typedef struct sender {
  sender_args a;
  uint64_t sent;
  item it; /* the next message; only seq changes */
} sender;

static int sender_init(acto_ctx *ctx, void *state, const void *arg) {
  sender *st = state;

  (void)ctx;
  st->a = *(const sender_args *)arg;
  memcpy(st->it.bin, the_bin, BIN_BYTES);
  return 0;
}

/* Sends the next burst: at most BENCH_BURST messages, fewer when a send
 * parks.  Returns 1 when the sender must yield (more to send, or parked). */
static int send_burst(acto_ctx *ctx, sender *st) {
  acto_system *sys = acto_ctx_system(ctx);
  uint64_t end = st->a.n - st->sent < BENCH_BURST ? st->a.n : st->sent + BENCH_BURST;

  while (st->sent < end) {
    st->it.seq = st->sent++;
    if (BENCH_CHECK(acto_send(sys, st->a.receiver, MSG_DATA, &st->it, sizeof st->it)) ==
        ACTO_PARKED)
      return 1;
  }
  return st->sent < st->a.n;
}

static int sender_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  sender *st = state;

  switch (msg->type) {
  case MSG_START:
  case MSG_CONT:
    if (send_burst(ctx, st))
      BENCH_CHECK(acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_CONT, NULL, 0));
    return 0;
  case MSG_ACK:
    BENCH_EXPECT(msg->size == sizeof *st->a.ack_out, "ack of %zu bytes", msg->size);
    memcpy(st->a.ack_out, msg->data, sizeof *st->a.ack_out);
    bench_latch_arrive(st->a.done);
    return 0;
  default:
    bench_fail("sender: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour sender_behaviour = {
  .name = "sender",
  .state_size = sizeof(sender),
  .init = sender_init,
  .handle = sender_handle,
};

int main(int argc, char **argv) {
  if (bench_pair_start("remote_stream", "remote_stream_server", argc, argv))
    return server_main();

  uint64_t n = bench_scaled(2000000, bench_cur.scale);
  acto_system *sys = bench_system(0);
  acto_ref receiver_ref, sender_ref;
  acto_reply_buf reply;
  acto_node_stats ns;
  ack got = {0, 0};
  int64_t peer_rss = -1;
  bench_latch done;
  acto_stats st;

  bench_pair_node(sys);
  receiver_ref = bench_pair_connect(sys, RECEIVER_NAME);
  BENCH_CHECK(acto_ask(sys, receiver_ref, MSG_SETUP, &n, sizeof n, BENCH_PAIR_WAIT_MS, &reply));
  acto_reply_release(&reply);
  bench_latch_init(&done, 1);
  sender_args sa = {receiver_ref, n, &done, &got};
  BENCH_CHECK(acto_spawn(sys, &sender_behaviour, &sa, NULL, &sender_ref));

  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, sender_ref, MSG_START, NULL, 0));
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
               n, BIN_BYTES, peer_rss, ns.frames_out, ns.parks);
  return 0;
}
