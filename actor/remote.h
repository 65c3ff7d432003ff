/* remote.h - the port between the runtime (actor/) and a transport
 * (transport/): refs whose node is not this one.  Internal (not installed).
 *
 * actor/ owns this port and never includes a transport header.  It has
 * two doors:
 *
 *  - Out of actor/: a transport installs a table of operations
 *    (acto__remote_ops) with acto__remote_attach; the runtime reaches a
 *    remote ref only through the acto__remote_* calls of remote.c, which
 *    call those operations, or answer as if the node were down when none
 *    is installed.  The local send path tests "remote?" first and leaves
 *    through a cold out-of-line call (send.c), so the port costs the local
 *    path nothing.
 *    A message that came from the network carries its origin
 *    (acto__origin, below), which the turn checks inline before the
 *    handler runs, without a call into the transport.
 *
 *  - Into actor/: the calls below the ops table are everything a
 *    transport may call in the runtime.  They are defined where they
 *    belong (send.c, link.c, ask.c, system.c, actor.c), as child.h's are
 *    for the supervisor.  A transport includes this header only; it brings
 *    the runtime's utilities a transport needs (clock.h, log.h and
 *    reserved.h) and the message block of mailbox/.
 *
 * A node id is (FNV-1a 32 of the node name) << 32 | incarnation, where the
 * incarnation is the system's: a random non-zero 32-bit number drawn when
 * the system was created (system.c), distinct among the systems of one
 * process.  Ids are therefore global: any node that knows the name can
 * route a ref, and a ref to a previous incarnation of a node never reaches
 * the new one.
 */
#ifndef ACTO_REMOTE_H
#define ACTO_REMOTE_H

#include <stdatomic.h>
#include <stdint.h>

#include "acto_actor.h"
#include "actor/clock.h"
#include "actor/log.h"
#include "actor/reserved.h"
#include "mailbox/message.h"

typedef struct acto__actor acto__actor; /* opaque to a transport */
typedef struct acto__remote acto__remote;

/* The actor id of a node's service (answers ACTO_MSG_NODE_LOOKUP). */
#define ACTO__REMOTE_SERVICE_ID UINT64_MAX

/* ---- out of actor/: what a transport installs ---------------------------- */

typedef struct acto__remote_ops {
  /* User message m (a request when flagged) for remote ref `to`.  Always
   * consumes m.  0, ACTO_PARKED (an actor sender parked on the peer's full
   * outgoing queue), ACTO_EFULL (fail_fast), ACTO_ETIMEDOUT (plain thread
   * past its deadline), ACTO_ENOTCONN (node unknown or down; a dead letter
   * is counted), ACTO_ESTALE (an old incarnation), ACTO_ETOOBIG. */
  int (*send_user)(acto__remote *r, acto_ref to, acto__msg *m, int fail_fast,
                   int64_t deadline_ms);
  /* System-lane block m (STOP, EXIT, DOWN, LINK, UNLINK, MONITOR,
   * DEMONITOR, REPLY) for remote ref `to`.  Consumes m on 0 only;
   * otherwise ACTO_ENOTCONN or ACTO_ESTALE and the caller still owns m. */
  int (*send_system)(acto__remote *r, acto_ref to, acto__msg *m);
  /* A plain thread's ask to node `node` gave up: forget it. */
  void (*ask_forget)(acto__remote *r, uint64_t node, uint64_t ask_id);
  /* acto_system_shutdown, first: stop (peers see this node down, waiting
   * threads are woken).  Then, last, when no message refers to the
   * transport any more: free it. */
  void (*shutdown)(acto__remote *r);
  void (*destroy)(acto__remote *r);
} acto__remote_ops;

/* Where a remote user message came from (ACTO__MF_REMOTE): the transport
 * keeps one per peer and stamps each message with origin and epoch on
 * arrival.  live_epoch is the epoch of the peer's connection while it is
 * up and 0 otherwise; epochs are never reused.  A message whose epoch is
 * no longer live arrived over a connection that has gone down since: it
 * is never handled (its sender's watchers may have their DOWN already),
 * even if the same incarnation has reconnected meanwhile. */
typedef struct acto__origin {
  _Atomic uint32_t live_epoch;
} acto__origin;

/* 1 if remote user message m is an orphan (a dead letter): checked by the
 * turn just before its handler would run.  acquire: pairs with the
 * transport's release stores of live_epoch. */
static inline int acto__remote_orphaned(const acto__msg *m) {
  return atomic_load_explicit(&m->origin->live_epoch, memory_order_acquire) != m->epoch;
}

/* The transport's handle: the first member of its own state. */
struct acto__remote {
  const acto__remote_ops *ops;
};

/* remote.c.  0 if a transport may be installed on sys now; else as
 * acto__remote_attach refuses. */
int acto__remote_check(acto_system *sys, const char **why);
/* Installs r on sys, which then carries the node id
 * name_hash << 32 | its incarnation.  0; ACTO_EINVAL in deterministic
 * mode; ACTO_EALREADY when a transport is installed already or an actor
 * was spawned (refs handed out would not carry the node id).  *why (may
 * be NULL) says which, for the caller's log line. */
int acto__remote_attach(acto_system *sys, acto__remote *r, uint32_t name_hash,
                        const char **why);
/* Undoes a 0 acto__remote_attach whose transport failed to start. */
void acto__remote_detach(acto_system *sys, acto__remote *r);
/* The installed transport, or NULL. */
acto__remote *acto__remote_of(acto_system *sys);

/* ---- the runtime's side of the door (remote.c) --------------------------- */

/* The ops above for sys's transport; as a node that is down when none is
 * installed (send_user: a NOCONNECTION dead letter and ACTO_ENOTCONN). */
int acto__remote_send_user(acto_system *sys, acto_ref to, acto__msg *m, int fail_fast,
                           int64_t deadline_ms);
int acto__remote_send_system(acto_system *sys, acto_ref to, acto__msg *m);
void acto__remote_ask_forget(acto_system *sys, uint64_t node, uint64_t ask_id);
void acto__remote_shutdown(acto_system *sys);
void acto__remote_destroy(acto_system *sys);

/* ---- into actor/: what a transport may call ------------------------------ */

/* system.c.  The node id every local ref carries. */
uint64_t acto__system_node_id(acto_system *sys);
/* A plain thread is about to wait inside a call (ask, a blocked send, a
 * supervisor or node call): 0, or ACTO_ECLOSED once the system is closing
 * (then it must not wait).  Every 0 is paired with one leave. */
int acto__system_wait_enter(acto_system *sys);
void acto__system_wait_leave(acto_system *sys);
/* 1 once acto_system_shutdown has begun (waits end with ACTO_ECLOSED). */
int acto__system_closing(acto_system *sys);
/* Who calls: the actor whose callback runs on a worker of sys (*self,
 * else NULL), and whether the caller may block: 0 on a plain thread
 * outside every callback, ACTO_EDEADLK inside any callback (of any
 * system) or on any worker, ACTO_EWRONGTHREAD on a worker of sys. */
int acto__system_caller(acto_system *sys, acto__actor **self);
void acto__system_count_dead(acto_system *sys, acto_ref to, uint32_t type, size_t size,
                             acto_dead_reason why);

/* actor.c.  Drops a reference (acto__send_from_node's *held). */
void acto__actor_release(acto__actor *a);
/* actor.c.  The id of actor a (the id half of its ref). */
uint64_t acto__actor_id(const acto__actor *a);

/* send.c */
/* The transport delivers message m (from another node) to local `to`
 * without ever blocking: 0 when queued or disposed of (a dead letter,
 * requests answered), 1 when parked on a full block-policy mailbox: tw
 * (notify set) is called once it is delivered or the target closed, and
 * until then *held keeps a reference to the target for
 * acto__send_node_cancel. */
int acto__send_from_node(acto_system *sys, acto_ref to, acto__msg *m, acto__twaiter *tw,
                         acto__actor **held);
/* The same for many messages to one target: acto__send_node_target takes
 * a reference to local actor `id` (NULL: gone; then each message is a
 * stale dead letter, as acto__send_from_node makes it), and
 * acto__send_from_node_held delivers m to it without taking or dropping
 * that reference (*held gets a reference of its own when m parks).  The
 * caller drops its reference with acto__actor_release. */
acto__actor *acto__send_node_target(acto_system *sys, uint64_t id);
int acto__send_from_node_held(acto_system *sys, acto__actor *t, acto__msg *m, acto__twaiter *tw,
                              acto__actor **held);
/* Takes a parked message back (its connection closes): 1 if it was still
 * parked waiting for tw (then freed as a dead letter), 0 if its verdict
 * is on the way or came (m may then be freed: it is only compared).
 * Releases *held in both cases. */
int acto__send_node_cancel(acto_system *sys, acto__actor *held, acto__msg *m, acto__twaiter *tw);
/* An actor's send parks outside the mailboxes (on a transport's queue):
 * its park word rises by one; acto__send_unpark resolves it (the actor is
 * rescheduled if it was the last).  acto__send_parked: 1 while any of the
 * actor's sends is parked (a new one must queue behind them). */
void acto__send_park(acto__actor *sender);
int acto__send_parked(const acto__actor *sender);
void acto__send_unpark(acto__actor *parker);
int acto__send_system(acto_system *sys, acto_ref to, acto__msg *m);
/* Counts m as a dead letter of a local target (its target_id) and frees
 * it; a request among them gets its failure answer.  _to: the target is
 * given in full (a remote one). */
void acto__send_dead_letter(acto_system *sys, acto__msg *m, acto_dead_reason why);
void acto__send_dead_letter_to(acto_system *sys, acto__msg *m, acto_ref to, acto_dead_reason why);
/* A send to remote ref `to` refused before it left (no transport, node
 * unknown or down, an old incarnation): m counts as a dead letter and is
 * freed, and a request in it gets no answer message, because the sender's
 * error return is its answer. */
void acto__send_refused_to(acto_system *sys, acto__msg *m, acto_ref to, acto_dead_reason why);

/* registry.c.  Watches local actor ref's end for a layer outside actor/
 * (the cluster's global names and groups): fn(sys, ref) is called once,
 * on the thread that finalises the actor, after its mailbox closed and
 * with no lock of actor/ held.  slot (0..ACTO__EXIT_SLOTS-1) names the
 * layer; each slot has one fn for the whole system, and watching an
 * actor twice in one slot still calls fn once.  0, ACTO_ESTALE (not a
 * live local actor: fn will not be called), ACTO_EINVAL, ACTO_ENOMEM. */
typedef void (*acto__exit_fn)(acto_system *sys, acto_ref ref);
int acto__actor_watch(acto_system *sys, acto_ref ref, unsigned slot, acto__exit_fn fn);

/* link.c */
/* Sends a system-lane signal of `kind` to `to`, local or remote. */
int acto__link_signal(acto_system *sys, acto_ref to, uint16_t kind, uint16_t flags, acto_ref from,
                      int32_t status, uint64_t id);
/* A LINK/MONITOR request that found its target gone: answered as by a
 * target that stopped with `reason`. */
void acto__link_answer_late(acto_system *sys, acto__msg *m, acto_ref self, int reason);

/* ask.c.  Completes a plain thread's ask `id` with status and reply
 * (consumed; NULL for a failure).  ACTO_ENOENT when no one waits any more
 * (a reply is then counted as late). */
int acto__ask_future_complete(acto_system *sys, uint64_t id, int status, acto__msg *reply);
/* The runtime's own requests, for a node's services (spawn.c; ask.h has
 * them with the rest): acto_ask and acto_ask_async without the check that
 * the type is a user type, a reply of a block already made, and an answer
 * with a failure status (< 0) to the request being handled. */
int acto__ask_sync(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_buf *out);
int acto__ask_async_msg(acto_ctx *ctx, acto_ref to, acto__msg *m, int64_t timeout_ms,
                        acto_reply_fn fn, void *user, uint64_t *ask_id_out);
int acto__ask_reply_msg(acto_ctx *ctx, acto__msg *rm);
int acto__ask_reply_status(acto_ctx *ctx, int status);

/* system.c: a thread the transport starts names itself and calls the
 * embedder's hooks (acto_config.thread_start/stop) with these. */
void acto__thread_begin(acto_system *sys, const char *name);
void acto__thread_end(acto_system *sys, const char *name);

/* scheduler.c, "I/O turns": the node's I/O thread brackets the delivery
 * of what it read with these.  Between them, an idle actor whose behaviour
 * has ACTO_BEHAVIOUR_IO_TURNS, made runnable by a delivery, is kept for
 * the I/O thread (the first one only); acto__sched_io_end runs its turn
 * there, then hands anything else that became runnable to the workers. */
void acto__sched_io_begin(acto_system *sys);
/* Returns 1 when it ran a turn on the I/O thread, else 0. */
int acto__sched_io_end(acto_system *sys);

#endif /* ACTO_REMOTE_H */
