/* worker.c - the workers of the cluster sample.
 *
 * The behaviour is registered on every node as CLUSTER_WORKER_BEHAVIOUR
 * (acto_behaviour_register), so the pool's supervisor on n1 can start a
 * worker on any node by a remote spawn; init gets the spec's argument
 * bytes, a packed cluster_worker_arg.  A new worker sends itself
 * CLUSTER_JOIN and, on it, joins the process group CLUSTER_GROUP, where
 * the coordinator finds it (joining from a message rather than from init
 * lets init only check its argument).
 *
 * A worker answers each CLUSTER_WORK item with a CLUSTER_RESULT sent back
 * to the item's sender.  An item takes work_ms: the worker sets a timer
 * (CLUSTER_DONE, carrying the item and whom to answer) instead of holding
 * its thread, so it works on many items at once, as a worker waiting on a
 * database or a remote service would, and a node killed mid-run takes
 * the items in its timers with it.  With faults set a worker fails on
 * about one item in `faults` (its handler returns -1): the item is lost
 * with it, its supervisor restarts it (where the placement says), and the
 * coordinator's monitor sees the failure and sends its items again.
 *
 * What does not fit is ignored: a CLUSTER_WORK that is not a cluster_item
 * (logged, as every payload that does not unpack), a CLUSTER_DONE or
 * CLUSTER_JOIN that is not the worker's own (its timer's messages come
 * from the worker itself; from anyone else a DONE would make it send a
 * result wherever the message says), any other type.  init refuses a
 * missing argument or one that does not unpack (ACTO_EINVAL).
 */
#include <string.h>

#include <acto/acto_cluster.h>

#include "cluster.h"

typedef struct worker_state {
  cluster_worker_arg a;
  uint64_t done;
} worker_state;

static int worker_init(acto_ctx *ctx, void *state, const void *arg) {
  worker_state *w = state;
  const acto_spawn_arg *sa = arg;
  if (!sa || !sa->data || cluster_worker_arg_unpack(sa->data, sa->size, &w->a, NULL) != 0)
    return ACTO_EINVAL;
  return acto_send(acto_ctx_system(ctx), acto_self(ctx), CLUSTER_JOIN, NULL, 0) < 0 ? ACTO_EINIT
                                                                                    : 0;
}

static int finish(worker_state *w, acto_system *sys, const cluster_done *p) {
  if (w->a.faults && acto_random(sys) % w->a.faults == 0)
    return -1; /* an injected fault */
  cluster_result r = {p->id, cluster_value(p->id)};
  w->done++;
  /* 0 or ACTO_PARKED; an error means the coordinator is gone: it sends
   * the item again when the client retries it. */
  (void)cluster_result_send(sys, p->reply_to, CLUSTER_RESULT, &r, NULL);
  return 0;
}

static int worker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  worker_state *w = state;
  acto_system *sys = acto_ctx_system(ctx);
  acto_msgpack_result bad;
  cluster_done p;
  int own = acto_ref_eq(msg->sender, acto_self(ctx));
  if (msg->type == CLUSTER_WORK) {
    cluster_item it;
    if (cluster_item_unpack_msg(msg, &it, &bad) != 0) {
      cluster_bad_payload("worker", msg, &bad);
      return 0;
    }
    p.id = it.id;
    p.reply_to = msg->sender;
    if (w->a.work_ms == 0)
      return finish(w, sys, &p);
    return cluster_send_after(sys, acto_self(ctx), CLUSTER_DONE, cluster_done_schema(), &p,
                              w->a.work_ms);
  }
  if (msg->type == CLUSTER_DONE && own) {
    if (cluster_done_unpack_msg(msg, &p, &bad) != 0) {
      cluster_bad_payload("worker", msg, &bad);
      return 0;
    }
    return finish(w, sys, &p);
  }
  if (msg->type == CLUSTER_JOIN && own) {
    int rc = acto_group_join(sys, CLUSTER_GROUP, acto_self(ctx));
    /* Without a node (an in-process test) there is no group to join. */
    if (rc < 0 && rc != ACTO_ENOTCONN)
      return -1; /* unseen by the coordinator: restart */
  }
  return 0;
}

const acto_behaviour cluster_worker_behaviour = {.name = "cluster.worker",
                                                 .state_size = sizeof(worker_state),
                                                 .init = worker_init,
                                                 .handle = worker_handle};
