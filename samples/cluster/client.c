/* client.c - the cluster sample's client: sends the numbered items
 * 1..items to the coordinator at a steady rate and counts each one
 * acknowledged once.
 *
 * DESIGN
 * A periodic tick (every 5 ms) sends as many items as the rate allows
 * since the start, with at most `window` in flight.  Each item is an ask
 * (acto_ask_async) with a deadline; a failed or timed-out ask puts the id
 * in a retry queue that goes before new ids, and the same id is asked
 * again: the coordinator answers a retry of an acknowledged id from its
 * set, so asking twice never makes two acknowledgements.  An
 * acknowledgement is checked (the id and cluster_value(id)) and recorded
 * once per id in cluster_rep: its time, the node that computed it.  A
 * second acknowledgement for an id would be counted in dup_acks; with one
 * ask per id in flight there is none.  When every id is acknowledged the
 * client stops its timer and wakes the node's main thread.  An
 * acknowledgement that does not fit is treated like a failed ask (the id
 * is asked again); one of the right size for another id or value is
 * counted as wrong, never as acknowledged.  Items and acknowledgements
 * are msgpack (cluster.h); an acknowledgement that does not unpack is
 * logged and treated like a failed ask.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

#define CLIENT_TICK_MS 5

typedef struct client {
  cluster_client_arg a;
  acto_system *sys;
  acto_ref coord;
  uint8_t *acked;  /* [items + 1] */
  uint32_t *retry; /* a ring of ids, capacity items */
  uint32_t rhead, rlen;
  uint32_t next;   /* the next new id */
  uint32_t inflight;
  uint64_t sent, nacked;
  int64_t t0_us;
  acto_timer tick;
} client;

static void retry_push(client *c, uint32_t id) {
  c->retry[(c->rhead + c->rlen) % c->a.items] = id;
  c->rlen++;
}

static void on_ack(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)ctx;
  client *c = state;
  uint32_t id = (uint32_t)(uintptr_t)user;
  c->inflight--;
  cluster_ack a;
  acto_msgpack_result bad;
  if (status != 0 || reply->size == 0 || cluster_ack_unpack_msg(reply, &a, &bad) != 0) {
    if (status == 0 && reply->size > 0) cluster_bad_payload("client", reply, &bad);
    retry_push(c, id); /* timed out, coordinator restarted, ...: ask again */
    pthread_mutex_lock(&cluster_rep.mu);
    cluster_rep.retries++;
    pthread_mutex_unlock(&cluster_rep.mu);
    return;
  }
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  if (a.id != id || a.value != cluster_value(id)) {
    cluster_rep.wrong++;
  } else if (c->acked[id]) {
    cluster_rep.dup_acks++;
  } else {
    c->acked[id] = 1;
    c->nacked++;
    cluster_rep.nacked++;
    cluster_rep.ack_us[id] = now;
    if (a.node >= 0 && a.node < CLUSTER_MAX_NODES) cluster_rep.acked_on[a.node]++;
  }
  if (c->nacked == c->a.items && !cluster_rep.done) {
    cluster_rep.done = 1;
    (void)acto_timer_cancel(c->sys, c->tick);
  }
  pthread_mutex_unlock(&cluster_rep.mu);
}

static void send_some(client *c, acto_ctx *ctx) {
  int64_t elapsed = cluster_now_us() - c->t0_us;
  uint64_t allowed = (uint64_t)c->a.rate * (uint64_t)elapsed / 1000000u + 1;
  uint64_t sent = 0;
  while (c->sent < allowed && c->inflight < c->a.window) {
    uint32_t id;
    if (c->rlen) {
      id = c->retry[c->rhead];
      c->rhead = (c->rhead + 1) % c->a.items;
      c->rlen--;
    } else if (c->next <= c->a.items) {
      id = c->next++;
    } else {
      break;
    }
    cluster_item it = {id};
    acto_msgpack_buf b;
    int rc = acto_msgpack_buf_init(&b);
    if (rc == 0) rc = cluster_item_pack(acto_msgpack_buf_packer(&b), &it);
    if (rc == 0)
      rc = acto_msgpack_ask_async(ctx, c->coord, CLUSTER_SUBMIT, &b, c->a.ask_timeout_ms, on_ack,
                                  (void *)(uintptr_t)id, NULL);
    else
      acto_msgpack_buf_free(&b);
    if (rc < 0) {
      /* The coordinator was replaced by a new actor: find it again. */
      if (rc == ACTO_ESTALE) (void)acto_lookup(c->sys, CLUSTER_COORDINATOR, &c->coord);
      retry_push(c, id);
      break;
    }
    c->inflight++;
    c->sent++;
    sent++;
    if (rc == ACTO_PARKED) break;
  }
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.sent += sent;
  pthread_mutex_unlock(&cluster_rep.mu);
}

static int client_init(acto_ctx *ctx, void *state, const void *arg) {
  client *c = state;
  if (!arg) return ACTO_EINVAL;
  memcpy(&c->a, arg, sizeof c->a);
  c->sys = acto_ctx_system(ctx);
  if (c->a.items == 0 || c->a.rate == 0 || c->a.window == 0) return ACTO_EINVAL;
  if (acto_lookup(c->sys, CLUSTER_COORDINATOR, &c->coord) < 0) return ACTO_ENOENT;
  c->acked = calloc((size_t)c->a.items + 1, 1);
  c->retry = calloc(c->a.items, sizeof *c->retry);
  if (!c->acked || !c->retry) {
    free(c->acked);
    free(c->retry);
    return ACTO_ENOMEM;
  }
  c->next = 1;
  c->t0_us = cluster_now_us();
  int rc = acto_send_periodic(c->sys, acto_self(ctx), CLUSTER_TICK, NULL, 0, 0, CLIENT_TICK_MS,
                              &c->tick);
  if (rc < 0) {
    free(c->acked);
    free(c->retry);
  }
  return rc;
}

static int client_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  if (msg->type == CLUSTER_TICK) send_some(state, ctx);
  return 0;
}

static void client_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  client *c = state;
  (void)acto_timer_cancel(c->sys, c->tick);
  free(c->acked);
  free(c->retry);
}

const acto_behaviour cluster_client_behaviour = {.name = "cluster.client",
                                                 .state_size = sizeof(client),
                                                 .init = client_init,
                                                 .handle = client_handle,
                                                 .terminate = client_terminate};
