/* node.h - what the actor layer calls in the transport (transport/node.c)
 * for refs whose node is not this one.
 *
 * A node id is (FNV-1a 32 of the node name) << 32 | incarnation, where the
 * incarnation is the system's: a random non-zero 32-bit number drawn when
 * the system was created (actor/system.c), distinct among the systems of
 * one process.
 * Ids are therefore global: any node that knows the name can route a ref,
 * and a ref to a previous incarnation of a node never reaches the new one.
 */
#ifndef ACTO_NODE_INTERNAL_H
#define ACTO_NODE_INTERNAL_H

#include <stdint.h>

#include "acto_actor.h"

struct acto__msg;
struct acto__node;
struct acto__peer;

/* The actor id of a node's service (answers ACTO_MSG_NODE_LOOKUP). */
#define ACTO__NODE_SERVICE_ID UINT64_MAX

/* Sends user message m (a request when flagged) to the remote ref `to`.
 * Always consumes m.  Returns 0, ACTO_PARKED (an actor sender parked on
 * the peer's full outgoing queue), ACTO_EFULL (fail_fast), ACTO_ETIMEDOUT
 * (plain thread past its deadline), ACTO_ENOTCONN (node unknown or down;
 * a dead letter is counted), ACTO_ESTALE (an old incarnation), or
 * ACTO_ETOOBIG (larger than a frame). */
int acto__node_send_user(acto_system *sys, acto_ref to, struct acto__msg *m, int fail_fast,
                         int64_t deadline_ms);

/* Sends system-lane block m (STOP, EXIT, DOWN, LINK, UNLINK, MONITOR,
 * DEMONITOR, REPLY) to the remote ref `to`.  Consumes m on 0 only;
 * otherwise ACTO_ENOTCONN or ACTO_ESTALE and the caller still owns m. */
int acto__node_send_system(acto_system *sys, acto_ref to, struct acto__msg *m);

/* A plain thread's ask to a remote ref: remember it so that the peer going
 * down completes it at once with ACTO_ENOTCONN; forget it when the waiter
 * gave up. */
void acto__node_ask_forget(acto_system *sys, uint64_t node, uint64_t ask_id);

/* A user message that arrived from another node, about to be handled:
 * 1 if its sender's node incarnation has gone down since (then it is a
 * dead letter: nothing from a downed incarnation is delivered). */
int acto__node_msg_orphaned(const struct acto__msg *m);

/* Stops the node, if any (acto_system_shutdown, first). */
void acto__node_shutdown(acto_system *sys);
/* Frees it (acto_system_shutdown, last: no message refers to a peer). */
void acto__node_destroy(acto_system *sys);

#endif /* ACTO_NODE_INTERNAL_H */
