/* worker.c - the spawner service and the workers of the cluster sample.
 *
 * Every node runs one spawner, registered as CLUSTER_SPAWNER under the
 * node's supervisor.  Asked with CLUSTER_SPAWN (from any node: the
 * coordinator finds it with ACTO_MSG_NODE_LOOKUP), it starts a worker on
 * its own node and answers with the worker's ref, which carries the node
 * id and so works from wherever the reply lands.
 *
 * A worker answers each CLUSTER_WORK item with a CLUSTER_RESULT sent back
 * to the item's sender.  An item takes work_ms: the worker sets a timer
 * (CLUSTER_DONE, carrying the item and whom to answer) instead of holding
 * its thread, so it works on many items at once, as a worker waiting on a
 * database or a remote service would, and a node killed mid-run takes
 * the items in its timers with it.  With faults set a worker fails on
 * about one item in `faults` (its handler returns -1): the item becomes a
 * dead letter, the worker stops, and the coordinator's monitor sees the
 * failure.  Workers
 * are not supervised on their node: the coordinator decides where their
 * replacements run.
 *
 * What does not fit is ignored: a CLUSTER_WORK that is not a cluster_item
 * (logged, as every payload that does not unpack), a CLUSTER_DONE that is
 * not the worker's own (its timer's messages come
 * from the worker itself; from anyone else one would make it send a
 * result wherever the message says), a CLUSTER_SPAWN sent without ask (a
 * worker started for nobody would be monitored by nobody), any other
 * type.  Both inits refuse a missing argument (ACTO_EINVAL).
 */
#include <string.h>

#include "cluster.h"

typedef struct worker_state {
  cluster_spawner_arg a;
  uint64_t done;
} worker_state;

static int worker_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  worker_state *w = state;
  if (!arg) return ACTO_EINVAL;
  memcpy(&w->a, arg, sizeof w->a);
  return 0;
}

static int finish(worker_state *w, acto_system *sys, const cluster_done *p) {
  if (w->a.faults && acto_random(sys) % w->a.faults == 0) return -1; /* an injected fault */
  cluster_result r = {p->id, cluster_value(p->id)};
  w->done++;
  /* 0 or ACTO_PARKED; an error means the coordinator is gone: its next
   * incarnation sends the item again. */
  (void)cluster_result_send(sys, p->reply_to, CLUSTER_RESULT, &r, NULL);
  return 0;
}

static int worker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  worker_state *w = state;
  acto_system *sys = acto_ctx_system(ctx);
  acto_msgpack_result bad;
  cluster_done p;
  if (msg->type == CLUSTER_WORK) {
    cluster_item it;
    if (cluster_item_unpack_msg(msg, &it, &bad) != 0) {
      cluster_bad_payload("worker", msg, &bad);
      return 0;
    }
    p.id = it.id;
    p.reply_to = msg->sender;
    if (w->a.work_ms == 0) return finish(w, sys, &p);
    return cluster_send_after(sys, acto_self(ctx), CLUSTER_DONE, cluster_done_schema(), &p,
                              w->a.work_ms);
  }
  if (msg->type == CLUSTER_DONE && acto_ref_eq(msg->sender, acto_self(ctx))) {
    if (cluster_done_unpack_msg(msg, &p, &bad) != 0) {
      cluster_bad_payload("worker", msg, &bad);
      return 0;
    }
    return finish(w, sys, &p);
  }
  return 0;
}

const acto_behaviour cluster_worker_behaviour = {.name = "cluster.worker",
                                                 .state_size = sizeof(worker_state),
                                                 .init = worker_init,
                                                 .handle = worker_handle};

typedef struct spawner_state {
  cluster_spawner_arg arg;
  uint64_t spawned;
} spawner_state;

static int spawner_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  spawner_state *s = state;
  if (!arg) return ACTO_EINVAL;
  memcpy(&s->arg, arg, sizeof s->arg);
  return 0;
}

static int spawner_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  spawner_state *s = state;
  if (msg->type != CLUSTER_SPAWN || !(msg->flags & ACTO_MSG_FLAG_REQUEST)) return 0;
  acto_ref ref = ACTO_REF_NONE;
  int rc = acto_spawn(acto_ctx_system(ctx), &cluster_worker_behaviour, &s->arg, NULL, &ref);
  cluster_spawned sp = {ref};
  if (rc < 0 || cluster_spawned_reply(ctx, CLUSTER_SPAWNED, &sp) < 0) {
    /* an empty reply: the coordinator places the worker elsewhere */
    if (rc >= 0) (void)acto_stop(acto_ctx_system(ctx), ref);
    (void)acto_reply(ctx, CLUSTER_SPAWNED, NULL, 0);
    return 0;
  }
  s->spawned++;
  return 0;
}

const acto_behaviour cluster_spawner_behaviour = {.name = "cluster.spawner",
                                                  .state_size = sizeof(spawner_state),
                                                  .init = spawner_init,
                                                  .handle = spawner_handle};
