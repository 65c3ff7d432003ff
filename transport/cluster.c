/* cluster.c - the cluster layers above the links: the door through which
 * membership (this file), global names (global.c) and process groups
 * (group.c) hear of peers going up and down and receive their wire
 * messages (kinds 9 and up, ACTORS.md 13.5).
 *
 * Thread ownership: every function here runs on the I/O thread.
 */
#include "transport/cluster.h"

#include <string.h>

#include "acto_error.h"
#include "transport/global.h"

int acto__cluster_check(const acto__conn *c, const acto__wmsg *w, const char **reason) {
  (void)c;
  switch (w->kind) {
  case ACTO__W_GREG:
  case ACTO__W_GUNREG:
    return acto__global_check(w, reason);
  case ACTO__W_JOIN:
  case ACTO__W_PART:
  case ACTO__W_GCAST:
    return acto__group_check(w, reason);
  default:
    *reason = "unknown message kind";
    return -1;
  }
}

int acto__cluster_deliver(acto__conn *c, const acto__wmsg *w, const char **reason) {
  switch (w->kind) {
  case ACTO__W_GREG:
  case ACTO__W_GUNREG:
    return acto__global_deliver(c, w, reason);
  case ACTO__W_JOIN:
  case ACTO__W_PART:
  case ACTO__W_GCAST:
    return acto__group_deliver(c, w, reason);
  default: /* acto__cluster_check let nothing else through */
    return 0;
  }
}

void acto__cluster_peer_up(acto__peer *p, uint64_t node_id) {
  (void)node_id;
  acto__global_peer_up(p);
  acto__group_peer_up(p);
}

void acto__cluster_peer_down(acto__peer *p, uint64_t node_id, const char *reason) {
  (void)reason;
  acto__global_peer_down(p, node_id);
  acto__group_peer_down(p, node_id);
}
