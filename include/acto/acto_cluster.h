/* acto_cluster.h - nodes as one cluster: membership (seeds, a full mesh,
 * joined / down / left), cluster-wide names, process groups, remote spawn
 * and supervision across nodes.  ACTORS.md 13.10 tells the whole story;
 * acto_node.h has the node itself (start, connect, stats).
 *
 * Conventions as in acto_actor.h: 0 or a count on success, a negative
 * ACTO_E* code on failure; deadlines in ms (-1 forever, 0 no wait).  Every
 * call needs a started node (ACTO_ENOTCONN otherwise).
 *
 * Reserved message types of the cluster: 0xF0000011..0xF000001F are
 * requests to a node's service, 0xF0000020..0xF000002F notices to actors.
 */
#ifndef ACTO_CLUSTER_H
#define ACTO_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"
#include "acto_node.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- membership (transport/cluster.c) --------------------------------- */

/* ---- global names (transport/global.c) -------------------------------- */

/* ---- process groups (transport/group.c) ------------------------------- */

/* ---- remote spawn and remote children (transport/spawn.c) ------------- */

#ifdef __cplusplus
}
#endif
#endif /* ACTO_CLUSTER_H */
