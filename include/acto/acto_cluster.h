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

/* A cluster-wide name for a local actor, replicated to every node this
 * node is connected to: a lookup reads this node's copy of the table (no
 * network round trip).  Names are 1..ACTO_NAME_MAX bytes without NUL,
 * copied; they are apart from acto_register's node-local names.  An actor
 * may hold several global names.  A name leaves the table everywhere when
 * its actor stops, when it is unregistered, and when its node goes down or
 * leaves (at once, on each node that sees that node down).
 *
 * Conflicts (ACTORS.md 13.10, "Global names"): every registration carries
 * a stamp (a Lamport clock of the cluster); when two nodes hold the same
 * name (registered on both sides of a partition, or at the same moment),
 * every node keeps the registration with the lower stamp, ties broken by
 * the node name that sorts first (bytewise), and the losing actor is told
 * once with ACTO_MSG_GLOBAL_LOST. */

/* The notice to an actor that lost its global name in a conflict (system
 * lane, so it is never refused for capacity).  data: acto_global_lost. */
#define ACTO_MSG_GLOBAL_LOST 0xF0000020u

typedef struct acto_global_lost {
  acto_ref winner;              /* the actor that keeps the name */
  uint32_t name_len;            /* bytes of name, without its NUL */
  uint32_t pad_;                /* 0 */
  char name[ACTO_NAME_MAX + 1]; /* the name, NUL-terminated */
} acto_global_lost;

/* Registers local actor ref under the global name.  0; ACTO_EINVAL (a
 * NULL or bad name, a ref of another node: one log line says which);
 * ACTO_ESTALE (ref is not a live actor); ACTO_EEXIST (the name is held,
 * here or by any node this node knows, also by ref itself);
 * ACTO_ENOTCONN (no node started, or it stopped); ACTO_ELIMIT (the table
 * holds 1,048,576 names); ACTO_ENOMEM.  Thread-safe; the name is copied
 * before return. */
ACTO_API int acto_global_register(acto_system *sys, const char *name, acto_ref ref);
/* Drops a global name this node registered.  0; ACTO_EINVAL; ACTO_ENOENT
 * (unknown here, or held by another node: only its own node drops it,
 * with a log line then); ACTO_ENOTCONN.  Thread-safe. */
ACTO_API int acto_global_unregister(acto_system *sys, const char *name);
/* The actor holding global name, from this node's table: 0 and *out;
 * ACTO_ENOENT (unknown); ACTO_EINVAL; ACTO_ENOTCONN.  Never waits, never
 * touches the network.  Thread-safe. */
ACTO_API int acto_global_whereis(acto_system *sys, const char *name, acto_ref *out);
/* How many global names this node's table holds (its own and its
 * peers'), or ACTO_EINVAL / ACTO_ENOTCONN.  Thread-safe. */
ACTO_API int acto_global_count(acto_system *sys);

/* ---- process groups (transport/group.c) ------------------------------- */

/* Named groups of actors across the cluster, as Erlang's pg: an actor
 * joins and leaves groups (many, each any number of times: joins are
 * counted, and the actor stays a member until it has left as often as it
 * joined), membership is replicated to every node this node is connected
 * to, and a broadcast sends one copy of a message to each node that has
 * members, whose node hands it to each of its members.  A member leaves
 * every group when it stops, and the members of a node that goes down or
 * leaves are gone at once on the others.  Group names are 1..ACTO_NAME_MAX
 * bytes without NUL (a separate space from global names). */

/* The notice a subscriber receives when a member joins or leaves a group
 * (system lane).  data: acto_group_notice. */
#define ACTO_MSG_GROUP_CHANGE 0xF0000021u

enum { ACTO_GROUP_JOINED = 1, ACTO_GROUP_LEFT = 2 };

typedef struct acto_group_notice {
  acto_ref member;               /* who joined or left */
  uint32_t event;                /* ACTO_GROUP_JOINED or ACTO_GROUP_LEFT */
  uint32_t group_len;            /* bytes of group, without its NUL */
  char group[ACTO_NAME_MAX + 1]; /* the group, NUL-terminated */
} acto_group_notice;

/* acto_group_members' flags: only the members on this node. */
#define ACTO_GROUP_LOCAL 1u

/* Local actor ref joins group (once more, if it is a member already).  0;
 * ACTO_EINVAL (a bad group name, a ref of another node); ACTO_ESTALE;
 * ACTO_ENOTCONN; ACTO_ELIMIT (the groups hold 1,048,576 members, local
 * and remote); ACTO_ENOMEM.  Thread-safe; the name is copied. */
ACTO_API int acto_group_join(acto_system *sys, const char *group, acto_ref ref);
/* Undoes one join of local actor ref.  0; ACTO_ENOENT (ref is not a
 * member); ACTO_EINVAL; ACTO_ENOTCONN.  Thread-safe. */
ACTO_API int acto_group_leave(acto_system *sys, const char *group, acto_ref ref);
/* The members of group as this node knows them (flags 0: every node's;
 * ACTO_GROUP_LOCAL: this node's), each once: writes up to cap refs to out
 * (out may be NULL when cap is 0) and returns how many members there are
 * (more than cap: the list was cut).  ACTO_EINVAL; ACTO_ENOTCONN.  An
 * unknown group has 0 members.  Thread-safe. */
ACTO_API int acto_group_members(acto_system *sys, const char *group, unsigned flags, acto_ref *out,
                                size_t cap);
/* Local actor subscriber receives ACTO_MSG_GROUP_CHANGE for every member
 * that joins or leaves group from now on (on any node, as this node
 * learns of it; not for the members already there: read them with
 * acto_group_members after subscribing).  A subscription ends with
 * acto_group_unsubscribe or when the subscriber stops.  0; ACTO_EEXIST
 * (subscribed already); ACTO_EINVAL; ACTO_ESTALE; ACTO_ENOTCONN;
 * ACTO_ENOMEM.  Thread-safe. */
ACTO_API int acto_group_subscribe(acto_system *sys, const char *group, acto_ref subscriber);
/* Ends a subscription.  0; ACTO_ENOENT; ACTO_EINVAL; ACTO_ENOTCONN. */
ACTO_API int acto_group_unsubscribe(acto_system *sys, const char *group, acto_ref subscriber);
/* Sends a user message (type < ACTO_MSG_RESERVED, data copied) to every
 * member of group: each local member gets it as by acto_send, and each
 * other node with members gets one copy on the wire (GCAST), which that
 * node hands to each of its members.  The sender is the calling actor, if
 * any.  Returns the number of copies sent (local members plus nodes), 0
 * for a group without members; ACTO_EINVAL (bad group, reserved type,
 * size above ACTO_MSG_MAX_SIZE, data NULL with size); ACTO_ENOTCONN.
 * A copy that cannot be sent (a full fail-policy mailbox, a node gone
 * meanwhile) is a dead letter, not an error.  An actor that sends to a
 * full peer queue is parked as by acto_send (the call still returns the
 * count).  Thread-safe. */
ACTO_API int acto_group_broadcast(acto_system *sys, const char *group, uint32_t type,
                                  const void *data, size_t size);

/* ---- remote spawn and remote children (transport/spawn.c) ------------- */

#ifdef __cplusplus
}
#endif
#endif /* ACTO_CLUSTER_H */
