/* placement.c - where the cluster sample's workers run: the placement
 * function of the pool's remote children, and the move of workers to a
 * node that came back.
 *
 * DESIGN
 * The placement function runs on the pool supervisor's worker each time
 * it starts a child (first start, restart after a failure or a lost node,
 * restart_child).  It must not wait, so it cannot ask the supervisor
 * where the children run; it keeps its own tally instead, in cluster_rep
 * (child "wK" -> the node it was last placed on).  A node's count is the
 * number of other children last placed on it, counted only for nodes up
 * now: the children of a lost node are all being restarted, and each
 * overwrites its entry when it is placed.  The tally can be off for a
 * moment (a placement whose spawn then fails), never for long: the next
 * try places the child again.
 *
 * A node that comes back gets no worker by itself: nothing fails.  The
 * home node's main thread (node.c) calls cluster_rebalance when the
 * member event says the node joined again: it reads which_children (the
 * supervisor's truth: node ids of the running children), and while the
 * returned node runs less than its share it terminates a child of the
 * busiest node (terminate_child_id) and starts it again (restart_child):
 * the placement then picks the returned node, which has the fewest.  The
 * coordinator sees a moved worker's DOWN and sends its items again.
 */
#include <string.h>
#include <unistd.h>

#include <acto/acto_cluster.h>
#include <acto/acto_supervisor.h>

#include "cluster.h"

#define CLUSTER_SUP_TIMEOUT_MS 10000

/* "w7" -> 6; -1 for anything else. */
static int child_index(const char *id) {
  if (!id || id[0] != 'w')
    return -1;
  int k = 0;
  for (const char *p = id + 1; *p; p++) {
    if (*p < '0' || *p > '9' || k > CLUSTER_MAX_WORKERS)
      return -1;
    k = k * 10 + (*p - '0');
  }
  return k >= 1 && k <= CLUSTER_MAX_WORKERS ? k - 1 : -1;
}

int cluster_place_fewest(void *user, const char *child_id, const char *const *nodes, size_t n,
                         size_t self, const char *previous) {
  (void)user, (void)self;
  int me = child_index(child_id), best = -1;
  uint32_t count[CLUSTER_MAX_NODES] = {0};
  int idx[CLUSTER_MAX_NODES]; /* nodes[i] -> our node index, -1 unknown */
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  for (size_t i = 0; i < n && i < CLUSTER_MAX_NODES; i++)
    idx[i] = cluster_node_index(nodes[i]);
  for (int k = 0; k < CLUSTER_MAX_WORKERS; k++)
    if (k != me && cluster_rep.child_node[k] >= 0)
      count[cluster_rep.child_node[k]]++;
  uint32_t best_count = 0;
  for (size_t i = 0; i < n && i < CLUSTER_MAX_NODES; i++) {
    if (idx[i] < 0)
      continue; /* not one of the sample's nodes */
    if (best < 0 || count[idx[i]] < best_count)
      best = (int)i, best_count = count[idx[i]];
  }
  if (best >= 0 && me >= 0) {
    int to = idx[best];
    cluster_rep.child_node[me] = (int8_t)to;
    /* A child whose previous node is not up any more was lost with it:
     * the timeline's "placed on the survivors". */
    int prev = previous ? cluster_node_index(previous) : -1;
    int prev_up = 0;
    for (size_t i = 0; i < n && i < CLUSTER_MAX_NODES; i++)
      prev_up |= idx[i] == prev;
    if (prev >= 0 && !prev_up) {
      cluster_node_rep *lost = &cluster_rep.node[prev];
      lost->replaced++;
      lost->placed[to]++;
      lost->replaced_us = now;
    }
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  return best;
}

int cluster_node_index(const char *name) {
  for (uint32_t i = 0; i < cluster_rep.nnodes; i++)
    if (strcmp(cluster_rep.names[i], name) == 0)
      return (int)i;
  return -1;
}

int cluster_ref_node(acto_system *sys, acto_ref ref) {
  char name[ACTO_NODE_NAME_MAX + 1];
  if (acto_ref_is_none(ref) || acto_node_name(sys, ref.node, name, sizeof name) < 0)
    return -1;
  return cluster_node_index(name);
}

int cluster_rebalance(acto_system *sys, acto_ref sup, int to, uint32_t nup) {
  acto_child_info info[CLUSTER_MAX_WORKERS];
  int moved = 0;
  if (to < 0 || to >= CLUSTER_MAX_NODES || nup == 0)
    return ACTO_EINVAL;
  for (;;) {
    size_t n = 0;
    int rc = acto_supervisor_which_children(sys, sup, info, CLUSTER_MAX_WORKERS, &n,
                                            CLUSTER_SUP_TIMEOUT_MS);
    if (rc < 0)
      return rc;
    if (n > CLUSTER_MAX_WORKERS)
      n = CLUSTER_MAX_WORKERS;
    uint32_t count[CLUSTER_MAX_NODES] = {0};
    int where[CLUSTER_MAX_WORKERS];
    for (size_t i = 0; i < n; i++) {
      where[i] = -1;
      if (info[i].state != ACTO_CHILD_RUNNING)
        continue;
      char name[ACTO_NODE_NAME_MAX + 1];
      if (acto_node_name(sys, info[i].node, name, sizeof name) == 0)
        where[i] = cluster_node_index(name);
      if (where[i] >= 0)
        count[where[i]]++;
    }
    uint32_t share = (uint32_t)n / nup;
    if (count[to] >= share)
      return moved;
    /* The busiest node other than `to`, and its last child in start order. */
    int from = -1;
    for (int j = 0; j < CLUSTER_MAX_NODES; j++)
      if (j != to && (from < 0 || count[j] > count[from]))
        from = j;
    if (from < 0 || count[from] <= count[to] + 1)
      return moved; /* nothing to gain */
    int pick = -1;
    for (size_t i = 0; i < n; i++)
      if (where[i] == from)
        pick = (int)i;
    if (pick < 0)
      return moved;
    if ((rc = acto_supervisor_terminate_child_id(sys, sup, info[pick].id, CLUSTER_SUP_TIMEOUT_MS)) <
        0)
      return rc;
    /* Started again at once, where the placement says.  A start can fail
     * (ACTO_ECHILD) when the returned node has not registered the
     * behaviour yet (it does so right after its node starts, and it may
     * be seen up a moment before): try again for a while rather than
     * leave the child stopped. */
    acto_ref ref = ACTO_REF_NONE;
    for (int tries = 0;; tries++) {
      rc = acto_supervisor_restart_child(sys, sup, info[pick].id, CLUSTER_SUP_TIMEOUT_MS, &ref);
      if (rc != ACTO_ECHILD || tries == 100)
        break;
      usleep(20000);
    }
    if (rc < 0)
      return rc;
    int now_on = cluster_ref_node(sys, ref);
    pthread_mutex_lock(&cluster_rep.mu);
    if (now_on == to) {
      cluster_rep.node[to].moved++;
      cluster_rep.node[to].moved_from[from]++;
      cluster_rep.node[to].moved_us = cluster_now_us();
    }
    pthread_mutex_unlock(&cluster_rep.mu);
    if (now_on != to)
      return moved; /* the placement chose otherwise: stop */
    moved++;
  }
}
