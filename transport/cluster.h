/* cluster.h - the door between the links (peer.c, deliver.c) and the
 * cluster layers: membership (cluster.c), global names (global.c),
 * process groups (group.c).  Internal. */
#ifndef ACTO_TRANSPORT_CLUSTER_H
#define ACTO_TRANSPORT_CLUSTER_H

#include "transport/transport.h"
#include "transport/wire.h"

/* deliver.c hands every message of kind 9 and up here.  check: the rules
 * the message alone shows (0, or -1 with *reason: the connection closes
 * as for any bad frame); deliver: acts on a checked message (0, or -2
 * with *reason when a local resource failed).  I/O thread. */
int acto__cluster_check(const acto__conn *c, const acto__wmsg *w, const char **reason);
int acto__cluster_deliver(acto__conn *c, const acto__wmsg *w, const char **reason);

/* peer.c: p came up as node_id (after the INFO exchange: messages may be
 * queued to it), or went down (reason as for the node event hook).  I/O
 * thread, no peer lock held. */
void acto__cluster_peer_up(acto__peer *p, uint64_t node_id);
void acto__cluster_peer_down(acto__peer *p, uint64_t node_id, const char *reason);

/* The node stops: LEAVE to every up peer, written at once.  I/O thread. */
void acto__cluster_leave(acto__node *n);

/* The heartbeat tick: members down too long are forgotten.  I/O thread. */
void acto__cluster_tick(acto__node *n, uint64_t now);

/* outq.c: queues one encoded control message for p if it is up and asks
 * the I/O thread to write it.  Not bounded by out_queue_bytes: the
 * layers send little and bound what they send themselves.  0,
 * ACTO_ENOTCONN (p is not up), ACTO_ENOMEM.  Any thread; p pinned or
 * otherwise kept (peer.c DESIGN: Peers). */
int acto__outq_control(acto__peer *p, const void *bytes, size_t len);
/* The same for nmsgs (>= 1) messages encoded one after the other. */
int acto__outq_control_n(acto__peer *p, const void *bytes, size_t len, uint32_t nmsgs);

#endif /* ACTO_TRANSPORT_CLUSTER_H */
