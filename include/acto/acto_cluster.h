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

/* A member's state. */
typedef enum acto_member_state {
  ACTO_MEMBER_JOINING = 1, /* known (a seed, or told of by a member), not up yet */
  ACTO_MEMBER_UP = 2,      /* connected */
  ACTO_MEMBER_DOWN = 3,    /* lost (closed, silent, unreachable); reconnected */
  ACTO_MEMBER_LEFT = 4     /* it stopped its node (acto_node_stop): gone */
} acto_member_state;

typedef struct acto_member {
  char name[ACTO_NODE_NAME_MAX + 1];
  char host[ACTO_NODE_HOST_MAX + 1]; /* where it listens ("" if unknown) */
  uint16_t port;                     /* 0 if it does not listen or is unknown */
  uint8_t state;                     /* acto_member_state */
  uint8_t self;                      /* 1: this node */
  uint32_t incarnation;              /* of the last connection (0: never up) */
  uint64_t node_id;                  /* hash(name) << 32 | incarnation */
  int64_t since_ms;                  /* ms since the last change of state */
  uint64_t reserved[2];
} acto_member;

/* The members this node knows, itself first, then by name: fills up to
 * cap entries of out and returns how many there are (more than cap: call
 * again with room).  out may be NULL with cap 0.  Thread-safe. */
ACTO_API int acto_cluster_members(acto_system *sys, acto_member *out, size_t cap);

/* Member events: JOINED (up: a new connection to it, a new incarnation
 * included), DOWN (lost; it is reconnected) and LEFT (it said so). */
typedef enum acto_member_event {
  ACTO_MEMBER_EV_JOINED = 1,
  ACTO_MEMBER_EV_DOWN = 2,
  ACTO_MEMBER_EV_LEFT = 3
} acto_member_event;

/* The member hook, called on the I/O thread for each event: quick,
 * thread-safe, no blocking acto calls.  fn NULL removes it. */
typedef void (*acto_member_fn)(void *user, acto_member_event ev, const acto_member *m);
ACTO_API int acto_cluster_set_member_hook(acto_system *sys, acto_member_fn fn, void *user);

/* Subscribes a local actor to member events: each arrives as a message of
 * type ACTO_MSG_MEMBER on the system lane (never dropped for a full
 * mailbox), data an acto_member_notice.  Subscribing twice is one
 * subscription; a stopped subscriber is dropped.  ACTO_EINVAL for a
 * remote or null ref.  Thread-safe. */
#define ACTO_MSG_MEMBER 0xF0000020u
typedef struct acto_member_notice {
  uint32_t event; /* acto_member_event */
  uint32_t reserved_;
  acto_member member;
} acto_member_notice;
ACTO_API int acto_cluster_subscribe(acto_system *sys, acto_ref subscriber);
ACTO_API int acto_cluster_unsubscribe(acto_system *sys, acto_ref subscriber);

/* ---- global names (transport/global.c) -------------------------------- */

/* ---- process groups (transport/group.c) ------------------------------- */

/* ---- remote spawn and remote children (transport/spawn.c) ------------- */

#ifdef __cplusplus
}
#endif
#endif /* ACTO_CLUSTER_H */
