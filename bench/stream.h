/* stream.h - the stream of remote_stream (WORKLOADS.md), shared by the
 * workloads that run it (remote_stream.c, hol.c): its message, the
 * receiver's checks and acknowledgement, and the sending actor.
 *
 * A stream of N messages, each a uint64_t sequence number and a 16-byte
 * binary.  The receiver checks every message (in order, binary intact)
 * and acknowledges only the last, with its count and the number of bad
 * ones.  The sender is an actor: each turn it sends at most BENCH_BURST
 * messages and stops early when a send returns ACTO_PARKED (the outgoing
 * queue is full, or the target is busy: the message is queued in order
 * and the sender is suspended until it has gone); then it sends itself
 * STREAM_CONT and returns.
 */
#ifndef BENCH_STREAM_H
#define BENCH_STREAM_H

#include "common.h"

#define STREAM_BIN_BYTES 16u

/* Message types; a workload numbers its own from STREAM_NEXT on. */
enum {
  STREAM_SETUP = 1, /* main asks the receiver: payload uint64_t N; empty reply */
  STREAM_START,     /* main -> sender */
  STREAM_CONT,      /* sender -> itself: send the next burst */
  STREAM_DATA,      /* sender -> receiver: payload stream_item */
  STREAM_ACK,       /* receiver -> sender: payload stream_ack */
  STREAM_NEXT,
};

/* One message of the stream: an integer and a 16-byte binary. */
typedef struct stream_item {
  uint64_t seq;
  uint8_t bin[STREAM_BIN_BYTES];
} stream_item;

/* The receiver's answer to the last message. */
typedef struct stream_ack {
  uint64_t count; /* data messages handled */
  uint64_t bad;   /* of which out of order or with a damaged binary */
} stream_ack;

static const uint8_t stream_bin[STREAM_BIN_BYTES] = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                     '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

/* ---- the receiver's side -------------------------------------------------- */

typedef struct stream_rx {
  uint64_t n;     /* the stream's length (STREAM_SETUP) */
  uint64_t count; /* data messages handled */
  uint64_t bad;
} stream_rx;

/* Handles STREAM_SETUP (answered) and STREAM_DATA (checked, the last
 * acknowledged to its sender).  Returns 1 if msg was one of them. */
static inline int stream_rx_handle(acto_ctx *ctx, stream_rx *st, const acto_msg *msg) {
  stream_item it;

  switch (msg->type) {
  case STREAM_DATA:
    if (msg->size != sizeof it) {
      st->bad++;
    } else {
      memcpy(&it, msg->data, sizeof it);
      if (it.seq != st->count || memcmp(it.bin, stream_bin, STREAM_BIN_BYTES) != 0)
        st->bad++;
    }
    st->count++;
    if (msg->size == sizeof it && it.seq + 1 == st->n) {
      stream_ack a = {st->count, st->bad};

      BENCH_CHECK(acto_send(acto_ctx_system(ctx), msg->sender, STREAM_ACK, &a, sizeof a));
    }
    return 1;
  case STREAM_SETUP:
    BENCH_EXPECT(msg->size == sizeof st->n, "setup message of %zu bytes", msg->size);
    memcpy(&st->n, msg->data, sizeof st->n);
    st->count = st->bad = 0;
    BENCH_CHECK(acto_reply(ctx, STREAM_SETUP, NULL, 0));
    return 1;
  default:
    return 0;
  }
}

/* ---- the sender ----------------------------------------------------------- */

typedef struct stream_tx_args {
  acto_ref to;
  uint64_t n;
  bench_latch *done;
  stream_ack *ack_out; /* written just before the latch is signalled */
} stream_tx_args;

typedef struct stream_tx {
  stream_tx_args a;
  uint64_t sent;
  stream_item it; /* the next message; only seq changes */
} stream_tx;

static inline int stream_tx_init(acto_ctx *ctx, void *state, const void *arg) {
  stream_tx *st = state;

  (void)ctx;
  st->a = *(const stream_tx_args *)arg;
  memcpy(st->it.bin, stream_bin, STREAM_BIN_BYTES);
  return 0;
}

/* Sends the next burst: at most BENCH_BURST messages, fewer when a send
 * parks.  Returns 1 when the sender must yield (more to send, or parked). */
static inline int stream_tx_burst(acto_ctx *ctx, stream_tx *st) {
  acto_system *sys = acto_ctx_system(ctx);
  uint64_t end = st->a.n - st->sent < BENCH_BURST ? st->a.n : st->sent + BENCH_BURST;

  while (st->sent < end) {
    st->it.seq = st->sent++;
    if (BENCH_CHECK(acto_send(sys, st->a.to, STREAM_DATA, &st->it, sizeof st->it)) == ACTO_PARKED)
      return 1;
  }
  return st->sent < st->a.n;
}

static inline int stream_tx_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  stream_tx *st = state;

  switch (msg->type) {
  case STREAM_START:
  case STREAM_CONT:
    if (stream_tx_burst(ctx, st))
      BENCH_CHECK(acto_send(acto_ctx_system(ctx), acto_self(ctx), STREAM_CONT, NULL, 0));
    return 0;
  case STREAM_ACK:
    BENCH_EXPECT(msg->size == sizeof *st->a.ack_out, "ack of %zu bytes", msg->size);
    memcpy(st->a.ack_out, msg->data, sizeof *st->a.ack_out);
    bench_latch_arrive(st->a.done);
    return 0;
  default:
    bench_fail("sender: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour stream_tx_behaviour = {
    .name = "sender",
    .state_size = sizeof(stream_tx),
    .init = stream_tx_init,
    .handle = stream_tx_handle,
};

#endif /* BENCH_STREAM_H */
