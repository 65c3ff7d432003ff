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
#define ACTO_MSG_GLOBAL_LOST 0xF0000022u

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
/* The name of a group, as acto_group_which writes it (NUL-terminated). */
typedef struct acto_group_name {
  char name[ACTO_NAME_MAX + 1];
} acto_group_name;

/* The groups that have members (on any node, as this node knows them)
 * and whose name starts with prefix (NULL or "": every group), in no
 * particular order, as Erlang's pg:which_groups: writes up to cap names
 * to out (out may be NULL when cap is 0) and returns how many there are
 * (more than cap: the list was cut).  Cost: one pass over this node's
 * table under its read lock (every group, with or without the prefix),
 * so a caller that lists often should keep its groups few or filter by
 * a prefix of its own.  ACTO_EINVAL (prefix over ACTO_NAME_MAX bytes,
 * out NULL with cap); ACTO_ENOTCONN.  Thread-safe. */
ACTO_API int acto_group_which(acto_system *sys, const char *prefix, acto_group_name *out,
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

/* Behaviours a node lets other nodes spawn, by name (ACTORS.md 13.10
 * "Remote spawn").  The registry is per system.  name: 1..ACTO_NAME_MAX
 * bytes (copied); b: a behaviour with handle and zero reserved words,
 * borrowed until the system is shut down (a spawn may be under way when
 * it is unregistered).  ACTO_EEXIST: the name is registered already (to
 * replace a behaviour, unregister it first); ACTO_EINVAL; ACTO_ENOTCONN:
 * no node runs.  The first registration starts the node's spawner, a
 * system actor on which every remote spawn's init runs (never on the
 * node's I/O thread).  Thread-safe. */
ACTO_API int acto_behaviour_register(acto_system *sys, const char *name, const acto_behaviour *b);
/* ACTO_ENOENT when the name is not registered.  Thread-safe. */
ACTO_API int acto_behaviour_unregister(acto_system *sys, const char *name);

/* What init's `arg` points to in an actor started by a remote spawn: the
 * argument bytes the spawner sent (data NULL when size is 0).  Borrowed
 * until init returns: copy what the actor keeps. */
typedef struct acto_spawn_arg {
  const void *data;
  size_t size;
} acto_spawn_arg;

/* The node service's request type of a remote spawn, and of its answer
 * (ACTORS.md 13.5, "Messages"). */
#define ACTO_MSG_NODE_SPAWN 0xF0000011u

/* Spawns an actor of the behaviour registered as `behaviour` on the node
 * `node_name` (this node's own name spawns here, through the spawner too)
 * with arg_len bytes of arg (copied; init gets an acto_spawn_arg), and
 * waits up to timeout_ms for the answer: 0 and *out, the new actor's ref.
 * opts may be NULL; of it, name (registered on the target node),
 * capacity, max_bytes and overflow apply; link must be 0 (ACTO_EINVAL).
 * Errors: ACTO_ENOENT (no behaviour of that name there), ACTO_EINIT (its
 * init failed), ACTO_EIGNORED (its init answered ACTO_INIT_IGNORE),
 * ACTO_EEXIST (opts->name is taken there), ACTO_ENOTCONN (no node runs
 * here, or node_name is unknown or not up; no connection is made on
 * demand), ACTO_ETIMEDOUT (no answer in time: the actor may still start
 * there), ACTO_ETOOBIG (the request does not fit a frame), ACTO_EINVAL
 * (an argument: NULL sys or out, a bad node name, a behaviour name empty
 * or over ACTO_NAME_MAX, arg NULL with arg_len > 0, a bad option or
 * deadline), ACTO_EDEADLK (not from a plain thread: use
 * acto_spawn_remote_async).  Thread-safe; arg, opts and the strings are
 * borrowed until the call returns. */
ACTO_API int acto_spawn_remote(acto_system *sys, const char *node_name, const char *behaviour,
                               const void *arg, size_t arg_len, const acto_spawn_opts *opts,
                               int64_t timeout_ms, acto_ref *out);

/* The same from inside an actor, without blocking its worker: an ask of
 * the target node's service (acto_ask_async's rules: timeout_ms > 0 or -1,
 * the outcome through fn, or with fn NULL as a message whose ask_id is
 * *ask_id_out).  Read the outcome with acto_spawn_remote_result.  Errors
 * known at once are returned (then no outcome comes): those of
 * acto_spawn_remote that need no answer, and ACTO_EWRONGTHREAD outside
 * the actor.  Only inside the actor; arg, opts and strings copied before
 * return. */
ACTO_API int acto_spawn_remote_async(acto_ctx *ctx, const char *node_name, const char *behaviour,
                                     const void *arg, size_t arg_len, const acto_spawn_opts *opts,
                                     int64_t timeout_ms, acto_reply_fn fn, void *user,
                                     uint64_t *ask_id_out);

/* Reads the outcome of acto_spawn_remote_async: a continuation's (status,
 * reply), or (0, msg) for the message that arrived in handle() (the reply,
 * or an ACTO_MSG_ASK_TIMEOUT / ACTO_MSG_ASK_FAILED for it).  0 and *out;
 * a negative status as it is (the errors of acto_spawn_remote); for a
 * message, ACTO_ETIMEDOUT or the failure it carries; ACTO_EPROTO for an
 * answer that is not a spawn's; ACTO_EINVAL for out NULL, or reply NULL
 * with status 0.  Thread-safe; reply is borrowed until the call returns. */
ACTO_API int acto_spawn_remote_result(int status, const acto_msg *reply, acto_ref *out);

/* The name of the node with id node_id (this node, or a peer this node
 * knows, up or not, in that incarnation) into buf (cap bytes, NUL
 * included).  ACTO_ENOENT: unknown; ACTO_ELIMIT: cap too small;
 * ACTO_ENOTCONN: no node runs.  Thread-safe. */
ACTO_API int acto_node_name(acto_system *sys, uint64_t node_id, char *buf, size_t cap);

/* Placement of a remote child (acto_child_remote.place): nodes are the
 * names of the nodes up now, this node's own included (nodes[self]),
 * sorted by name (n >= 1); previous is the node the child ran on last
 * (NULL at its first start).  Returns the index of the node to start it
 * on, or -1 for none (the start fails: ACTORS.md 13.10).  Runs on the
 * supervisor's worker: quick, no blocking calls.  The arrays are
 * borrowed until it returns. */
typedef int (*acto_place_fn)(void *user, const char *child_id, const char *const *nodes, size_t n,
                             size_t self, const char *previous);

/* Two placements.  spread: the first node after `previous` in name order
 * (wrapping), or at the first start one chosen by a hash of child_id, so
 * that siblings spread over the nodes; this node counts like any other.
 * elsewhere: the same among the nodes other than this one (-1 when no
 * other is up).  user is unused. */
ACTO_API int acto_place_spread(void *user, const char *child_id, const char *const *nodes, size_t n,
                               size_t self, const char *previous);
ACTO_API int acto_place_elsewhere(void *user, const char *child_id, const char *const *nodes,
                                  size_t n, size_t self, const char *previous);

/* A supervisor child that runs on another node (acto_child_spec.remote;
 * acto_supervisor.h and ACTORS.md 13.10 "Remote children of a
 * supervisor").  It is started by a remote spawn of `behaviour` with the
 * spec's arg bytes, name, capacity and overflow, on `node` while that is
 * up, else on the node `place` picks (when both are NULL nothing can
 * start it).  Copied by the supervisor (the strings too); place_user is
 * passed as it is. */
typedef struct acto_child_remote {
  const char *behaviour; /* the name registered on the target nodes */
  const char *node;      /* a preferred node, or NULL */
  acto_place_fn place;   /* NULL: `node` only */
  void *place_user;
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_child_remote;

#ifdef __cplusplus
}
#endif
#endif /* ACTO_CLUSTER_H */
