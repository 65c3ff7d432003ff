/* acto_supervisor.h - supervision trees: child specs, strategies, restart
 * intensity and backoff, ordered shutdown, introspection.
 *
 * A supervisor is an actor (so trees nest) that starts its children in
 * order, restarts them according to its strategy when they fail or stop,
 * gives up - stopping its children and ending with ACTO_EMAXRESTARTS, which
 * its own supervisor treats as OTP's `shutdown` (a permanent supervisor
 * child is restarted, a transient or temporary one is not) - when restarts
 * come faster than its intensity allows, and stops its children in
 * reverse start order when it is shut down.
 * The semantics follow OTP's supervisor; ACTORS.md has the details.
 *
 * Failure and restart.  A supervised child fails when a callback returns
 * a negative value or calls acto_exit_self with a negative reason.  It is
 * then restarted IN PLACE: terminate runs with the failure reason, the
 * state is zeroed, init runs again with the same argument, and the ref,
 * the registered name, the links, timers addressed to it and the queued
 * messages all stay; the message whose handler failed is reported as a
 * dead letter (ACTO_DEAD_FAILED) and never retried.  The old
 * incarnation's pending asks are cancelled (a continuation runs once with
 * ACTO_ECANCELED on the old state, never on the new one; later replies are
 * late-reply dead letters), the requests it kept are answered
 * (ACTO_EFAILED) and the monitors it held are dropped.  A child that
 * stops (normal stop, exit signal, kill) is gone; if its restart type
 * says so, a new actor is started from its spec, with a new ref (the name
 * moves to it).
 *
 * A child whose init returns ACTO_INIT_IGNORE (OTP's ignore) is not
 * started and has not failed: it is kept with no ref, stopped (a
 * temporary or dynamic one is not kept), and nothing restarts it but
 * acto_supervisor_restart_child or a later group restart.  ACTORS.md
 * chapter 9 has the table.
 *
 * Remote children (acto_child_spec.remote; ACTORS.md 9.7 and 13.10).  A
 * worker may run on another node: the supervisor starts it with a remote
 * spawn by behaviour name on the node the spec names or its placement
 * picks, links to it, and never blocks its worker waiting for the answer.
 * It is never restarted in place: when it fails, stops or its node goes
 * down (reason ACTO_REASON_NOCONNECTION, an abnormal end), the strategy
 * and intensity apply as to any child and a new actor is spawned, on the
 * node the placement picks among those up then.  A remote start that
 * fails (no node up, no such behaviour, init failed, no answer within
 * 10 s) counts as a failed start: retried like a local init that failed,
 * each try counting toward the intensity.  Remote children start after
 * acto_supervisor_start has returned (a failing one does not make it
 * fail), and are stopped, in order, with an exit signal across the wire.
 */
#ifndef ACTO_SUPERVISOR_H
#define ACTO_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum acto_strategy {
  ACTO_ONE_FOR_ONE = 0,        /* restart the child that failed */
  ACTO_ONE_FOR_ALL = 1,        /* restart all children */
  ACTO_REST_FOR_ONE = 2,       /* restart it and those started after it */
  ACTO_SIMPLE_ONE_FOR_ONE = 3  /* dynamic children of one spec */
} acto_strategy;

typedef enum acto_restart {
  ACTO_PERMANENT = 0, /* always restarted */
  ACTO_TRANSIENT = 1, /* restarted unless it ended NORMAL, SHUTDOWN or EMAXRESTARTS */
  ACTO_TEMPORARY = 2  /* never restarted */
} acto_restart;

typedef enum acto_child_kind { ACTO_WORKER = 0, ACTO_SUPERVISOR = 1 } acto_child_kind;

/* acto_child_spec.shutdown_ms: how long a child may take to stop before it
 * is killed.  0 means "use the default": 5000 ms for workers, infinity
 * for supervisors. */
#define ACTO_SHUTDOWN_DEFAULT 0
/* Kill at once (acto_kill): no exit signal to trap, no waiting; the child
 * stops at its next message boundary and its terminate runs with
 * ACTO_REASON_KILLED (the C destructor; there is no graceful phase). */
#define ACTO_SHUTDOWN_BRUTAL (-1)
#define ACTO_SHUTDOWN_INFINITY (-2) /* wait as long as it takes */

typedef struct acto_sup_spec acto_sup_spec;
struct acto_child_remote; /* acto_cluster.h */

typedef struct acto_child_spec {
  const char *id;                  /* unique among siblings (copied) */
  acto_child_kind kind;
  const acto_behaviour *behaviour; /* ACTO_WORKER: must outlive the tree */
  const acto_sup_spec *sup;        /* ACTO_SUPERVISOR: nested spec (copied) */
  /* init's argument: arg_size bytes copied by the supervisor and kept for
   * restarts; with arg_size 0 the pointer itself is passed and must stay
   * valid for the supervisor's life. */
  const void *arg;
  size_t arg_size;
  acto_restart restart;
  int32_t shutdown_ms;   /* > 0, or ACTO_SHUTDOWN_* */
  int significant;       /* counts for auto_shutdown */
  const char *name;      /* register the child under this name (copied) */
  uint32_t capacity;     /* its mailbox (0: default) */
  acto_overflow overflow;
  /* Non-NULL: the child runs on another node (acto_cluster.h, ACTORS.md
   * 13.10): a worker started by a remote spawn of remote->behaviour with
   * arg_size bytes of arg; behaviour is then NULL, and arg_size 0 means
   * no argument (arg NULL).  Copied.  (A reserved word: the union keeps
   * the struct's size and layout.) */
  union {
    const struct acto_child_remote *remote;
    uint64_t remote_word_; /* on a 32-bit target, its other bytes: zero */
  };
  uint64_t reserved[3]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_child_spec;

/* Auto shutdown counts only a significant child that ends by itself and
 * is not restarted, never one the supervisor stops (terminate_child, a
 * group restart); the supervisor then stops with ACTO_REASON_SHUTDOWN. */
typedef enum acto_auto_shutdown {
  ACTO_AUTO_SHUTDOWN_NEVER = 0,
  ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT = 1, /* stop when one significant child stops */
  ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT = 2  /* ... when all of them have */
} acto_auto_shutdown;

/* Events reported to acto_sup_spec.on_event, on the supervisor's worker. */
typedef enum acto_sup_event {
  ACTO_SUP_CHILD_STARTED = 0,   /* started (first start, restart_child, add_child) */
  ACTO_SUP_CHILD_FAILED = 1,    /* failed (reason < 0) */
  ACTO_SUP_CHILD_EXITED = 2,    /* stopped on its own (reason) */
  ACTO_SUP_CHILD_RESTARTED = 3, /* running again */
  ACTO_SUP_CHILD_STOPPED = 4,   /* stopped by the supervisor (shutdown) */
  ACTO_SUP_GAVE_UP = 5,         /* intensity exceeded (child = the last one) */
  ACTO_SUP_SHUTDOWN = 6,        /* the supervisor stops (reason) */
  ACTO_SUP_CHILD_IGNORED = 7    /* its init answered ACTO_INIT_IGNORE: not running */
} acto_sup_event;

typedef void (*acto_sup_event_fn)(void *user, acto_ref sup, const char *child_id,
                                  acto_sup_event event, int reason);

struct acto_sup_spec {
  acto_strategy strategy;
  /* At most `intensity` restarts within `period_ms` (0: 5000 ms); one
   * more and the supervisor gives up.  intensity 0 means NO restart: the
   * first restart the supervisor would make gives up (OTP's MaxR = 0),
   * so a zeroed spec never restarts anything; say how many you allow. */
  uint32_t intensity;
  uint32_t period_ms;
  /* Restart backoff (not in OTP): the n-th restart within the period waits
   * min(backoff_max_ms, backoff_min_ms * 2^(n-1)) ms, +/- jitter_pct %.
   * backoff_min_ms 0: restart at once. */
  uint32_t backoff_min_ms;
  uint32_t backoff_max_ms;
  uint32_t jitter_pct;
  acto_auto_shutdown auto_shutdown;
  const acto_child_spec *children; /* in start order; SIMPLE: the template */
  size_t nchildren;
  acto_sup_event_fn on_event; /* optional */
  void *event_user;
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
};

/* The rules of a spec.  acto_supervisor_start (and a nested spec, and
 * acto_supervisor_add_child) refuses a spec that breaks one with
 * ACTO_EINVAL and one log line (level ACTO_LOG_ERROR, component
 * "supervisor") naming the child and the rule:
 * - reserved words zero (spec, children, behaviours); enums in range;
 *   jitter_pct <= 100; children non-NULL when
 *   nchildren > 0; at most 100000 children; nesting at most 32 deep;
 * - every child: a non-empty id, unique among its siblings; a worker has a
 *   behaviour with handle, or remote set and behaviour NULL; a supervisor
 *   child has its nested spec; arg non-NULL when arg_size > 0;
 *   shutdown_ms > 0 or ACTO_SHUTDOWN_*;
 * - a remote child: a worker; remote's reserved words zero; a behaviour
 *   name of 1 to 255 bytes; node (a node name) or place or both; arg NULL
 *   when arg_size is 0; not the template of a simple_one_for_one;
 * - simple_one_for_one: exactly one child spec (the template), and
 *   auto_shutdown NEVER;
 * - a significant child is transient or temporary (never permanent), and
 *   its supervisor's auto_shutdown is ANY_ or ALL_SIGNIFICANT (not NEVER).
 * The last two are OTP's own rules. */

/* Starts a supervisor (top-level, or a child of the calling actor with
 * link semantics left to the caller) and its children, in order, each
 * child's init on the calling thread.  No child runs (handles a message)
 * before every child has started: what is sent to them meanwhile is
 * queued.  A child whose init fails makes the start fail with ACTO_ECHILD,
 * and the children already started are stopped first, in reverse start
 * order, each completely (its terminate has run with ACTO_REASON_SHUTDOWN
 * and it is closed) before the previous one, all before this returns, as
 * OTP does; a nested supervisor's subtree is stopped deepest first.  They
 * never ran, so what was queued for them becomes dead letters.  The spec
 * is copied.  name may be NULL.  Thread-safe (not from inside the
 * supervisor itself). */
ACTO_API int acto_supervisor_start(acto_system *sys, const acto_sup_spec *spec, const char *name,
                                   acto_ref *out);

/* The behaviour of a supervisor, to run one yourself (arg: the spec). */
ACTO_API const acto_behaviour *acto_supervisor_behaviour(void);

/* Stops a supervisor in order (children in reverse start order, each
 * within its shutdown time) and waits up to timeout_ms for it to be gone.
 * Only from a plain thread (ACTO_EDEADLK inside an actor). */
ACTO_API int acto_supervisor_stop(acto_system *sys, acto_ref sup, int64_t timeout_ms);

/* SIMPLE_ONE_FOR_ONE: starts a child from the template with init argument
 * arg (arg_size bytes, copied; 0: the template's) and stores its ref in
 * *child.  ACTO_ECHILD: its init failed; 0 with ACTO_REF_NONE: its init
 * answered ACTO_INIT_IGNORE (OTP's {ok, undefined}), and nothing is added;
 * ACTO_EINVAL on a static supervisor (acto_supervisor_add_child adds a
 * spec there); ACTO_ESHUTDOWN while it shuts down.  Plain thread only. */
ACTO_API int acto_supervisor_start_child(acto_system *sys, acto_ref sup, const void *arg,
                                         size_t arg_size, int64_t timeout_ms, acto_ref *child);

/* The calls below (and stop, start_child, which_children,
 * count_children) wait for the supervisor's answer: only from a plain
 * thread (ACTO_EDEADLK inside any actor callback), with a deadline of -1
 * (forever), 0 (do not wait) or more ms (other negatives: ACTO_EINVAL);
 * ACTO_ETIMEDOUT when it passes.  On an actor that is not a supervisor
 * they return ACTO_EINVAL at once, on one that is gone ACTO_ESTALE. */

/* Stops one child within its shutdown time and returns when it is gone
 * (0).  It is not restarted: a static child keeps its spec, stopped and
 * with no ref, until acto_supervisor_restart_child (or a group restart
 * that covers it, as in OTP) starts it again or delete_child removes it;
 * a temporary or dynamic (simple_one_for_one) child is forgotten.  A
 * child that is already not running answers 0 at once: for this by-ref
 * call, any ref of this system that names no live actor (the supervisor
 * keeps no record of its children's old refs; OTP answers the same for a
 * dead pid).  ACTO_ENOENT: `child` is ACTO_REF_NONE, a live actor that is
 * not a child of `sup`, or a ref of another system.  ACTO_ECLOSED: the
 * supervisor itself was stopped (acto_stop, system shutdown) before the
 * child was gone. */
ACTO_API int acto_supervisor_terminate_child(acto_system *sys, acto_ref sup, acto_ref child,
                                             int64_t timeout_ms);

/* The same by child id (static supervisors: one_for_one, one_for_all,
 * rest_for_one).  0 also for a known child that is not running (stopped,
 * or waiting for a restart, which is cancelled); ACTO_ENOENT for an id the
 * supervisor does not know; ACTO_EINVAL for a simple_one_for_one
 * supervisor (its children have no ids of their own) or an empty id.  id
 * is borrowed until the call returns. */
ACTO_API int acto_supervisor_terminate_child_id(acto_system *sys, acto_ref sup, const char *id,
                                                int64_t timeout_ms);

/* Static supervisors (one_for_one, one_for_all, rest_for_one) manage
 * their children's specs at run time, as OTP's restart_child,
 * delete_child and start_child(Sup, ChildSpec) do.  On a
 * simple_one_for_one supervisor each returns ACTO_EINVAL. */

/* Starts a child that is kept stopped (terminated, ignored, or a transient
 * child that ended) from its spec, as a new actor, and stores its ref in
 * *child.  It is not a restart the supervisor makes: no intensity is
 * charged and its restart count stays.  ACTO_ENOENT: no child with this
 * id; ACTO_ERUNNING: it is running, restarting (failed and waiting, or
 * about to be started by a group restart) or stopping; ACTO_ESHUTDOWN:
 * the supervisor is shutting down; ACTO_ECHILD: its init failed (it stays
 * stopped); 0 with ACTO_REF_NONE: its init answered ACTO_INIT_IGNORE (it
 * stays stopped).  id is borrowed until the call returns. */
ACTO_API int acto_supervisor_restart_child(acto_system *sys, acto_ref sup, const char *id,
                                           int64_t timeout_ms, acto_ref *child);

/* Removes the spec of a child that is kept stopped (see restart_child).
 * ACTO_ENOENT: no child with this id; ACTO_ERUNNING: it is running,
 * restarting or stopping (terminate it first). */
ACTO_API int acto_supervisor_delete_child(acto_system *sys, acto_ref sup, const char *id,
                                          int64_t timeout_ms);

/* Adds a child spec to a running static supervisor and starts it at the
 * end of the start order (it is stopped first at shutdown).  The spec is
 * checked like a start spec, with this supervisor's auto_shutdown, and
 * copied before the call returns (a nested spec too; arg as in a start
 * spec).  ACTO_EINVAL: the spec breaks a rule (logged, as at start);
 * ACTO_EEXIST: a child with this id exists, running or not (logged);
 * ACTO_ESHUTDOWN: the supervisor is shutting down; ACTO_ECHILD: its init
 * failed, and the spec is not kept; 0 with ACTO_REF_NONE in *child: its
 * init answered ACTO_INIT_IGNORE, and the spec is kept, stopped (not for a
 * temporary child).  On success *child is the new child's ref. */
ACTO_API int acto_supervisor_add_child(acto_system *sys, acto_ref sup,
                                       const acto_child_spec *spec, int64_t timeout_ms,
                                       acto_ref *child);

typedef enum acto_child_state {
  ACTO_CHILD_RUNNING = 0,
  ACTO_CHILD_RESTARTING = 1, /* failed; waiting for its restart (or backoff) */
  ACTO_CHILD_STOPPING = 2,
  ACTO_CHILD_STOPPED = 3     /* not running and not to be restarted */
} acto_child_state;

typedef struct acto_child_info {
  char id[64];        /* truncated copy of the spec id */
  acto_ref ref;       /* current ref (ACTO_REF_NONE when not running) */
  acto_child_kind kind;
  acto_restart restart;
  acto_child_state state;
  uint32_t restarts;  /* restarts of this child so far */
  /* The node it runs on (a remote child: where it runs, or ran last while
   * it is not running; acto_node_name gives the name), 0 for a local
   * child.  (A reserved word.) */
  uint64_t node;
  uint64_t reserved[1]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_child_info;

/* Fills up to cap entries in start order; *n gets the number of children.
 * Plain thread only. */
ACTO_API int acto_supervisor_which_children(acto_system *sys, acto_ref sup, acto_child_info *out,
                                            size_t cap, size_t *n, int64_t timeout_ms);

typedef struct acto_child_counts {
  size_t specs, active, supervisors, workers;
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_child_counts;

ACTO_API int acto_supervisor_count_children(acto_system *sys, acto_ref sup,
                                            acto_child_counts *out, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* ACTO_SUPERVISOR_H */
