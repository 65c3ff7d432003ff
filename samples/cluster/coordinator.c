/* coordinator.c - the pool's coordinator: builds a pool of workers spread
 * over the nodes, dispatches the client's items to them, and keeps the
 * pool whole when workers or whole nodes are lost.
 *
 * DESIGN
 * Placement.  At boot the coordinator finds each node's spawner (locally
 * with acto_lookup, remotely by asking the node's service with
 * ACTO_MSG_NODE_LOOKUP) and asks every spawner for per_node workers.  It
 * monitors each worker.  A DOWN removes the worker; with reason
 * ACTO_REASON_NOCONNECTION its node is marked down and never chosen again.
 * The replacement is asked of the up node with the fewest workers (those
 * being started count), so a lost node's workers spread over the rest.
 * A spawn that fails (node unreachable, spawner restarting) is tried again
 * 50 ms later, on whichever node is then the best.
 *
 * Items.  Each id is NEW, QUEUED (waiting for a worker), SENT (to one
 * worker, whose slot it records) or ACKED (its result kept).  A SUBMIT
 * keeps the client's request (acto_reply_later; a retry replaces the kept
 * token, whose asker has given up) and queues a NEW item; an ACKED one is
 * answered at once from the kept result, and a SENT one is sent again (the
 * client waited past its deadline: its result may have been lost).  Items go to the live worker
 * with the fewest items in flight.  A RESULT acknowledges the item if it
 * is not ACKED yet (whoever computed it: a result from a worker the item
 * was taken away from is as good as any) and is counted as a duplicate
 * otherwise.  A worker's DOWN puts every item SENT to it back in the
 * queue, in front of nothing: at-least-once processing.  DOWN travels on
 * the system lane and may overtake results already queued, which is one
 * way a duplicate arises; a result that never left a killed node is the
 * other (it cannot be counted: the item is "re-dispatched").
 *
 * Failure.  The coordinator runs under a supervisor on its node.  When it
 * fails it is restarted in place: terminate stops the workers it knew
 * (their results would find an empty item table), init boots a new pool,
 * and the client's requests kept by the old state time out and are asked
 * again.  Its acknowledged set goes with the old state, so a retried item
 * may be processed again; the client still acknowledges it once.
 *
 * What does not fit.  Every payload is msgpack (cluster.h) and is
 * unpacked with its type's checks before it is used (one that does not
 * unpack is logged and dropped), and every id and node index is checked
 * before it is used.  A SUBMIT is a request
 * (its answer is the acknowledgement): one sent without ask is ignored,
 * one that does not fit is answered with an empty CLUSTER_ACK.  BOOT and
 * RESPAWN come from the coordinator itself (RESPAWN by a timer, whose
 * messages come from the actor that set it): from anyone else they would
 * grow the pool past its size, so they are ignored, like a RESULT that
 * does not fit, a reply to one of its asks that is not a ref, and any
 * unknown type.  CLUSTER_CRASH is chaos and means it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

#define COORD_SPAWN_TIMEOUT_MS 2000
#define COORD_LOOKUP_TIMEOUT_MS 2000
#define COORD_RESPAWN_MS 50

enum { IT_NEW = 0, IT_QUEUED = 1, IT_SENT = 2, IT_ACKED = 3 };

typedef struct item {
  acto_reply_token tok; /* the client's request, when has_tok */
  uint64_t value;       /* ACKED: the result */
  int16_t worker;       /* SENT: the slot */
  uint8_t state;
  uint8_t has_tok;
  int8_t lost_from;     /* node index + 1 of a lost worker that held it, or 0 */
  int8_t node;          /* ACKED: the node that computed it */
} item;

typedef struct wslot {
  acto_ref ref;
  uint64_t mon;
  uint32_t inflight;
  int8_t node;
  int8_t for_node; /* a replacement for a worker lost on node index + 1, or 0 */
  uint8_t used;
  uint8_t live;    /* may be sent items */
} wslot;

typedef struct cnode {
  acto_ref spawner;
  uint32_t workers; /* live and being started */
  uint8_t up;
} cnode;

typedef struct coord {
  cluster_coord_arg a;
  acto_system *sys;
  item *items;     /* [items + 1] */
  uint32_t *queue; /* a ring of ids, capacity items */
  uint32_t qhead, qlen;
  wslot w[CLUSTER_MAX_WORKERS];
  cnode n[CLUSTER_MAX_NODES];
  uint32_t target, live, rr;
  int complete;    /* the pool reached its target once */
} coord;

static void spawn_on(coord *c, acto_ctx *ctx, int node, int for_node);

/* ---- the pool ------------------------------------------------------------------ */

/* The up node with the fewest workers, or -1. */
static int pick_node(const coord *c) {
  int best = -1;
  for (uint32_t i = 0; i < c->a.nnodes; i++) {
    if (!c->n[i].up || acto_ref_is_none(c->n[i].spawner)) continue;
    if (best < 0 || c->n[i].workers < c->n[best].workers) best = (int)i;
  }
  return best;
}

static void respawn_later(coord *c, acto_ctx *ctx, int for_node) {
  cluster_respawn r = {(uint32_t)for_node};
  (void)cluster_send_after(c->sys, acto_self(ctx), CLUSTER_RESPAWN, cluster_respawn_schema(), &r,
                           COORD_RESPAWN_MS);
}

static void drain(coord *c, acto_ctx *ctx);

static void add_worker(coord *c, acto_ctx *ctx, acto_ref ref, int node, int for_node) {
  wslot *w = NULL;
  for (int i = 0; i < CLUSTER_MAX_WORKERS && !w; i++)
    if (!c->w[i].used) w = &c->w[i];
  if (!w) {
    (void)acto_stop(c->sys, ref);
    return;
  }
  memset(w, 0, sizeof *w);
  w->ref = ref;
  w->node = (int8_t)node;
  w->for_node = (int8_t)for_node;
  w->used = w->live = 1;
  /* A worker that is already gone gives a DOWN (NOPROC) like any other;
   * one that cannot be monitored is not kept. */
  if (acto_monitor(ctx, ref, &w->mon) < 0) {
    w->used = w->live = 0;
    (void)acto_stop(c->sys, ref);
    respawn_later(c, ctx, for_node);
    return;
  }
  c->n[node].workers++;
  c->live++;
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.node[node].workers++;
  if (for_node) {
    cluster_node_rep *lost = &cluster_rep.node[for_node - 1];
    lost->replaced++;
    lost->placed[node]++;
    lost->replaced_us = now;
  }
  if (!c->complete && c->live == c->target) {
    c->complete = 1;
    if (!cluster_rep.pool_ready_us) {
      cluster_rep.pool_ready_us = now;
      for (uint32_t i = 0; i < c->a.nnodes; i++)
        cluster_rep.node[i].initial = cluster_rep.node[i].workers;
    }
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  drain(c, ctx);
}

static void on_spawned(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  coord *c = state;
  int node = (int)((uintptr_t)user & 0xff), for_node = (int)((uintptr_t)user >> 8);
  c->n[node].workers--;
  cluster_spawned sp;
  acto_msgpack_result bad;
  if (status == 0 && reply->size > 0) {
    if (cluster_spawned_unpack_msg(reply, &sp, &bad) == 0) {
      add_worker(c, ctx, sp.worker, node, for_node);
      return;
    }
    cluster_bad_payload("coordinator", reply, &bad);
  }
  if (status == ACTO_ENOTCONN) c->n[node].up = 0;
  respawn_later(c, ctx, for_node);
}

/* Asks `node`'s spawner for a worker (a replacement for one lost on node
 * for_node - 1 when for_node > 0); node < 0: none is up, try later. */
static void spawn_on(coord *c, acto_ctx *ctx, int node, int for_node) {
  if (node < 0) {
    respawn_later(c, ctx, for_node);
    return;
  }
  void *user = (void *)(uintptr_t)((unsigned)node | ((unsigned)for_node << 8));
  int rc = acto_ask_async(ctx, c->n[node].spawner, CLUSTER_SPAWN, NULL, 0,
                          COORD_SPAWN_TIMEOUT_MS, on_spawned, user, NULL);
  if (rc < 0) {
    if (rc == ACTO_ENOTCONN || rc == ACTO_ESTALE) c->n[node].up = 0;
    respawn_later(c, ctx, for_node);
    return;
  }
  c->n[node].workers++;
}

static void on_lookup(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  coord *c = state;
  int node = (int)(uintptr_t)user;
  /* The node service's answer: the ref as two little-endian u64s. */
  if (status == 0 && acto_node_lookup_result(reply->data, reply->size, &c->n[node].spawner) == 0) {
    c->n[node].up = 1;
    for (uint32_t k = 0; k < c->a.per_node; k++) spawn_on(c, ctx, node, 0);
    return;
  }
  /* The node is unreachable or runs no spawner: its share goes elsewhere. */
  fprintf(stderr, "cluster: no spawner on %s (%s): its workers go elsewhere\n",
          c->a.names[node], status ? acto_strerror(status) : "not registered");
  c->n[node].up = 0;
  for (uint32_t k = 0; k < c->a.per_node; k++) respawn_later(c, ctx, 0);
}

static void boot(coord *c, acto_ctx *ctx) {
  for (uint32_t i = 0; i < c->a.nnodes; i++) {
    if (i == c->a.self) {
      if (acto_lookup(c->sys, CLUSTER_SPAWNER, &c->n[i].spawner) == 0) {
        c->n[i].up = 1;
        for (uint32_t k = 0; k < c->a.per_node; k++) spawn_on(c, ctx, (int)i, 0);
        continue;
      }
    } else {
      acto_ref svc;
      if (acto_node_service(c->sys, c->a.names[i], &svc) == 0 &&
          acto_ask_async(ctx, svc, ACTO_MSG_NODE_LOOKUP, CLUSTER_SPAWNER,
                         strlen(CLUSTER_SPAWNER), COORD_LOOKUP_TIMEOUT_MS, on_lookup,
                         (void *)(uintptr_t)i, NULL) >= 0)
        continue;
    }
    fprintf(stderr, "cluster: %s is not reachable: its workers go elsewhere\n", c->a.names[i]);
    for (uint32_t k = 0; k < c->a.per_node; k++) respawn_later(c, ctx, 0);
  }
}

/* ---- items ------------------------------------------------------------------- */

static void enqueue(coord *c, uint32_t id) {
  c->items[id].state = IT_QUEUED;
  c->queue[(c->qhead + c->qlen) % c->a.items] = id;
  c->qlen++;
}

/* Sends item id to the live worker with the fewest items in flight.
 * Returns 1 when sent, 0 when no worker is live, ACTO_PARKED when sent
 * and this actor will pause. */
static int dispatch(coord *c, uint32_t id) {
  for (;;) {
    int best = -1;
    for (uint32_t k = 0; k < CLUSTER_MAX_WORKERS; k++) {
      uint32_t i = (c->rr + k) % CLUSTER_MAX_WORKERS;
      if (c->w[i].live && (best < 0 || c->w[i].inflight < c->w[best].inflight)) best = (int)i;
    }
    if (best < 0) return 0;
    c->rr = (uint32_t)best + 1;
    cluster_item it = {id};
    int rc = cluster_item_send(c->sys, c->w[best].ref, CLUSTER_WORK, &it, NULL);
    if (rc < 0) { /* gone: its DOWN is on the way; try another */
      c->w[best].live = 0;
      continue;
    }
    c->items[id].state = IT_SENT;
    c->items[id].worker = (int16_t)best;
    c->w[best].inflight++;
    return rc == ACTO_PARKED ? ACTO_PARKED : 1;
  }
}

static void drain(coord *c, acto_ctx *ctx) {
  (void)ctx;
  while (c->qlen) {
    uint32_t id = c->queue[c->qhead];
    if (c->items[id].state == IT_QUEUED) {
      int rc = dispatch(c, id);
      if (rc == 0) return; /* no worker: wait for one */
      if (rc == ACTO_PARKED) {
        c->qhead = (c->qhead + 1) % c->a.items;
        c->qlen--;
        return; /* the next result resumes draining */
      }
    }
    c->qhead = (c->qhead + 1) % c->a.items;
    c->qlen--;
  }
}

static int worker_down(coord *c, acto_ctx *ctx, const acto_down *d) {
  int s = -1;
  for (int i = 0; i < CLUSTER_MAX_WORKERS && s < 0; i++)
    if (c->w[i].used && c->w[i].mon == d->monitor) s = i;
  if (s < 0) return 0;
  wslot *w = &c->w[s];
  int node = w->node;
  w->used = w->live = 0;
  c->n[node].workers--;
  c->live--;
  /* A node lost: its items and its replacement are accounted to it (the
   * timeline).  A worker that failed is replaced just the same. */
  int gone = d->reason == ACTO_REASON_NOCONNECTION;
  uint32_t again = 0;
  for (uint32_t id = 1; id <= c->a.items; id++) {
    item *it = &c->items[id];
    if (it->state == IT_SENT && it->worker == s) {
      if (gone) it->lost_from = (int8_t)(node + 1);
      enqueue(c, id);
      again++;
    }
  }
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_node_rep *r = &cluster_rep.node[node];
  r->workers--;
  if (gone) {
    r->lost++;
    r->redispatched += again;
    if (!r->detect_us) r->detect_us = now;
  } else {
    cluster_rep.worker_failures++;
    cluster_rep.failed_redispatched += again;
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  if (gone) c->n[node].up = 0;
  spawn_on(c, ctx, pick_node(c), gone ? node + 1 : 0);
  drain(c, ctx);
  return 0;
}

static int submit(coord *c, acto_ctx *ctx, const acto_msg *msg) {
  cluster_item in;
  acto_msgpack_result bad;
  if (!(msg->flags & ACTO_MSG_FLAG_REQUEST)) return 0; /* nobody to acknowledge */
  int rc = cluster_item_unpack_msg(msg, &in, &bad);
  if (rc != 0) cluster_bad_payload("coordinator", msg, &bad);
  if (rc != 0 || in.id == 0 || in.id > c->a.items) {
    (void)acto_reply(ctx, CLUSTER_ACK, NULL, 0); /* empty: a malformed request */
    return 0;
  }
  uint32_t id = (uint32_t)in.id;
  item *it = &c->items[id];
  if (it->state == IT_ACKED) {
    cluster_ack a = {id, it->value, it->node};
    (void)cluster_ack_reply(ctx, CLUSTER_ACK, &a);
    pthread_mutex_lock(&cluster_rep.mu);
    cluster_rep.from_set++;
    pthread_mutex_unlock(&cluster_rep.mu);
    return 0;
  }
  if (acto_reply_later(ctx, &it->tok) == 0) it->has_tok = 1;
  if (it->state == IT_SENT) {
    /* The client gave up waiting: its result may be lost (a timer dropped
     * by a full mailbox, a message gone with a connection), so send it
     * again; whichever result comes first acknowledges it. */
    c->w[it->worker].inflight--;
    it->state = IT_NEW;
  }
  if (it->state == IT_NEW) {
    enqueue(c, id);
    drain(c, ctx);
  }
  return 0;
}

/* The node a ref lives on, by its spawner's node id; -1 if unknown. */
static int node_of(const coord *c, acto_ref ref) {
  for (uint32_t i = 0; i < c->a.nnodes; i++)
    if (!acto_ref_is_none(c->n[i].spawner) && c->n[i].spawner.node == ref.node) return (int)i;
  return -1;
}

static int result(coord *c, acto_ctx *ctx, const acto_msg *msg) {
  cluster_result r;
  acto_msgpack_result bad;
  if (cluster_result_unpack_msg(msg, &r, &bad) != 0) {
    cluster_bad_payload("coordinator", msg, &bad);
    return 0;
  }
  if (r.id == 0 || r.id > c->a.items) return 0;
  item *it = &c->items[r.id];
  if (it->state == IT_ACKED) {
    pthread_mutex_lock(&cluster_rep.mu);
    cluster_rep.duplicates++;
    pthread_mutex_unlock(&cluster_rep.mu);
    return 0;
  }
  if (it->state == IT_SENT) c->w[it->worker].inflight--;
  int s = -1;
  for (int i = 0; i < CLUSTER_MAX_WORKERS && s < 0; i++)
    if (c->w[i].used && acto_ref_eq(c->w[i].ref, msg->sender)) s = i;
  int node = s >= 0 ? c->w[s].node : node_of(c, msg->sender);
  it->state = IT_ACKED;
  it->value = r.value;
  it->node = (int8_t)node;
  int64_t now = cluster_now_us();
  if (it->lost_from || (s >= 0 && c->w[s].for_node)) {
    pthread_mutex_lock(&cluster_rep.mu);
    if (it->lost_from) {
      cluster_node_rep *lost = &cluster_rep.node[it->lost_from - 1];
      if (!lost->redisp_ack_us) lost->redisp_ack_us = now, lost->redisp_ack_node = node;
    }
    if (s >= 0 && c->w[s].for_node) {
      cluster_node_rep *lost = &cluster_rep.node[c->w[s].for_node - 1];
      if (!lost->repl_ack_us) lost->repl_ack_us = now, lost->repl_ack_node = node;
    }
    pthread_mutex_unlock(&cluster_rep.mu);
  }
  if (it->has_tok) {
    cluster_ack a = {r.id, r.value, node};
    acto_msgpack_buf b;
    if (acto_msgpack_buf_init(&b) == 0 && cluster_ack_pack(acto_msgpack_buf_packer(&b), &a) == 0)
      (void)acto_msgpack_reply_to(c->sys, &it->tok, CLUSTER_ACK, &b);
    else
      acto_msgpack_buf_free(&b);
    it->has_tok = 0;
  }
  drain(c, ctx);
  return 0;
}

/* ---- the behaviour ---------------------------------------------------------- */

static int coord_init(acto_ctx *ctx, void *state, const void *arg) {
  coord *c = state;
  if (!arg) return ACTO_EINVAL;
  memcpy(&c->a, arg, sizeof c->a);
  c->sys = acto_ctx_system(ctx);
  c->target = c->a.per_node * c->a.nnodes;
  if (c->a.items == 0 || c->a.items > CLUSTER_MAX_ITEMS || c->a.per_node > CLUSTER_MAX_WORKERS ||
      c->target > CLUSTER_MAX_WORKERS || c->a.nnodes > CLUSTER_MAX_NODES ||
      c->a.self >= c->a.nnodes)
    return ACTO_EINVAL;
  for (uint32_t i = 0; i < c->a.nnodes; i++) /* the names are strings */
    if (!memchr(c->a.names[i], '\0', sizeof c->a.names[i])) return ACTO_EINVAL;
  c->items = calloc((size_t)c->a.items + 1, sizeof *c->items);
  c->queue = calloc(c->a.items, sizeof *c->queue);
  if (!c->items || !c->queue) {
    free(c->items);
    free(c->queue);
    return ACTO_ENOMEM;
  }
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.coord_starts++;
  pthread_mutex_unlock(&cluster_rep.mu);
  return acto_send(c->sys, acto_self(ctx), CLUSTER_BOOT, NULL, 0) < 0 ? ACTO_EINIT : 0;
}

static int coord_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  coord *c = state;
  if ((msg->type == CLUSTER_BOOT || msg->type == CLUSTER_RESPAWN) &&
      !acto_ref_eq(msg->sender, acto_self(ctx)))
    return 0; /* only the coordinator builds its pool */
  switch (msg->type) {
  case CLUSTER_BOOT:
    boot(c, ctx);
    return 0;
  case CLUSTER_SUBMIT:
    return submit(c, ctx, msg);
  case CLUSTER_RESULT:
    return result(c, ctx, msg);
  case ACTO_MSG_DOWN:
    if (msg->size != sizeof(acto_down)) return 0;
    acto_down d;
    memcpy(&d, msg->data, sizeof d);
    return worker_down(c, ctx, &d);
  case CLUSTER_RESPAWN: { /* payload: cluster_respawn, for_node 0..nnodes */
    cluster_respawn rs;
    acto_msgpack_result bad;
    if (cluster_respawn_unpack_msg(msg, &rs, &bad) != 0) {
      cluster_bad_payload("coordinator", msg, &bad);
      return 0;
    }
    uint32_t f = rs.for_node;
    if (f > c->a.nnodes) return 0;
    /* This node never goes away; its spawner may have been replaced. */
    cnode *self = &c->n[c->a.self];
    if (!self->up && acto_lookup(c->sys, CLUSTER_SPAWNER, &self->spawner) == 0) self->up = 1;
    spawn_on(c, ctx, pick_node(c), (int)f);
    return 0;
  }
  case CLUSTER_CRASH:
    fprintf(stderr, "cluster: the coordinator fails (CLUSTER_CRASH)\n");
    return -1;
  default:
    return 0;
  }
}

static void coord_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  coord *c = state;
  pthread_mutex_lock(&cluster_rep.mu);
  for (int i = 0; i < CLUSTER_MAX_WORKERS; i++) {
    if (!c->w[i].used) continue;
    cluster_rep.node[c->w[i].node].workers--;
    /* On a restart the next incarnation builds its own pool; at shutdown
     * the node is stopped already and the workers go with their systems. */
    if (reason != ACTO_REASON_SHUTDOWN) (void)acto_stop(c->sys, c->w[i].ref);
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  free(c->items);
  free(c->queue);
}

const acto_behaviour cluster_coord_behaviour = {.name = "cluster.coordinator",
                                                .state_size = sizeof(coord),
                                                .init = coord_init,
                                                .handle = coord_handle,
                                                .terminate = coord_terminate};
