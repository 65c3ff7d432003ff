/* global.h - cluster-wide names (global.c) and process groups (group.c):
 * what the node (node.c) and the cluster door (cluster.c) call in them.
 * Internal. */
#ifndef ACTO_TRANSPORT_GLOBAL_H
#define ACTO_TRANSPORT_GLOBAL_H

#include "transport/transport.h"
#include "transport/wire.h"

/* The slots of acto__actor_watch (actor/remote.h) the two layers use. */
enum { ACTO__WATCH_GLOBAL = 0, ACTO__WATCH_GROUP = 1 };

/* 1 if name[0..len) is a valid global or group name: 1..ACTO_NAME_MAX
 * bytes, no NUL. */
int acto__global_name_ok(const void *name, size_t len);

/* global.c.  init: at acto_node_start, before the I/O thread runs (0 or
 * ACTO_ENOMEM); free: when the node is freed.  check and deliver: GREG
 * and GUNREG, as acto__cluster_check / _deliver (I/O thread).  peer_up:
 * sends p our own names; peer_down: drops the names of node_id's node
 * (I/O thread, no lock held). */
int acto__global_init(acto__node *n);
void acto__global_free(acto__node *n);
int acto__global_check(const acto__wmsg *w, const char **reason);
int acto__global_deliver(acto__conn *c, const acto__wmsg *w, const char **reason);
void acto__global_peer_up(acto__peer *p);
void acto__global_peer_down(acto__peer *p, uint64_t node_id);

/* group.c: the same for JOIN, PART and GCAST. */
int acto__group_init(acto__node *n);
void acto__group_free(acto__node *n);
int acto__group_check(const acto__wmsg *w, const char **reason);
int acto__group_deliver(acto__conn *c, const acto__wmsg *w, const char **reason);
void acto__group_peer_up(acto__peer *p);
void acto__group_peer_down(acto__peer *p, uint64_t node_id);

#endif /* ACTO_TRANSPORT_GLOBAL_H */
