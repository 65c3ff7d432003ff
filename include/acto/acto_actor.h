/* acto_actor.h - the public API of the local actor runtime: the system,
 * behaviours, spawn, send, ask, stop, timers, the registry, dead letters
 * and statistics.
 *
 * Conventions (see ACTORS.md):
 * - Calls return 0 (or a non-negative count) on success and a negative
 *   ACTO_E* code on failure; acto_strerror() explains it.
 * - Calls that can wait take a deadline in milliseconds: -1 waits forever,
 *   0 does not wait, and ACTO_ETIMEDOUT reports an expired deadline; other
 *   negative values are ACTO_EINVAL, and deadlines too far to represent
 *   saturate (INT64_MAX is as good as -1).  Such calls return
 *   ACTO_EDEADLK on a worker thread and inside any callback.
 * - Each doc comment ends with who may call it ("thread-safe": any thread;
 *   "only inside the actor": from the behaviour callbacks of the actor the
 *   ctx belongs to) and what happens to buffers passed in.
 */
#ifndef ACTO_ACTOR_H
#define ACTO_ACTOR_H

#include <stddef.h>
#include <stdint.h>

#include "acto_error.h"
#include "acto_mailbox.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct acto_system acto_system; /* opaque */
typedef struct acto_ctx acto_ctx;       /* opaque: the running actor */

/* A checked handle to an actor: a slot and a generation (id), and the node
 * the actor lives on (0 without a node; after acto_node_start, the node's
 * id, so that the ref means the same actor on every node).  A ref to an actor that stopped
 * never reaches a newer actor in the same slot: sends fail with
 * ACTO_ESTALE.  Refs are plain values: copy, compare, store them freely. */
typedef struct acto_ref {
  uint64_t id;
  uint64_t node;
} acto_ref;

/* The ref of no actor: a value both C (a compound literal) and C++ (a
 * braced temporary; compound literals are not ISO C++) accept. */
#ifdef __cplusplus
#define ACTO_REF_NONE (acto_ref{0, 0})
#else
#define ACTO_REF_NONE ((acto_ref){0, 0})
#endif
static inline int acto_ref_is_none(acto_ref r) { return r.id == 0 && r.node == 0; }
static inline int acto_ref_eq(acto_ref a, acto_ref b) { return a.id == b.id && a.node == b.node; }

/* Message types at or above ACTO_MSG_RESERVED belong to acto. */
#define ACTO_MSG_RESERVED 0xF0000000u
#define ACTO_MSG_ASK_TIMEOUT 0xF0000001u /* an ask without continuation expired */
/* An ask without continuation failed: the target stopped or failed before
 * replying.  data holds the int32_t status (ACTO_ECLOSED, ACTO_EFAILED). */
#define ACTO_MSG_ASK_FAILED 0xF0000002u

/* acto_msg.flags: the message is a request (sent by acto_ask or
 * acto_ask_async): the handler answers it with acto_reply (or keeps it
 * with acto_reply_later).  Without it, acto_reply returns
 * ACTO_ENOTREQUEST. */
#define ACTO_MSG_FLAG_REQUEST 1u

/* Payloads up to this size travel inside the message block; larger ones
 * are copied into a separate allocation (or handed over, acto_send_ex). */
#define ACTO_INLINE_MAX 128u
/* The largest payload a single message may carry. */
#define ACTO_MSG_MAX_SIZE ((size_t)1 << 30)
#define ACTO_NAME_MAX 255u

/* The read-only view of a message passed to a behaviour.  data and the
 * view itself are borrowed until the handler returns. */
typedef struct acto_msg {
  uint32_t type;     /* user-chosen, below ACTO_MSG_RESERVED */
  uint32_t flags;    /* ACTO_MSG_FLAG_REQUEST: an ask, answer with acto_reply */
  size_t size;       /* payload bytes */
  const void *data;  /* payload (16-byte aligned), NULL when size is 0 */
  acto_ref sender;   /* the sending actor, ACTO_REF_NONE from a plain thread */
  uint64_t ask_id;   /* non-zero on a reply or ask timeout delivered as a
                        message (acto_ask_async without continuation) */
} acto_msg;

/* init's answer "do not start me" (OTP's ignore): not started, and not a
 * failure.  A positive value that no acto call returns. */
#define ACTO_INIT_IGNORE 0x49474E

/* A behaviour: the code of an actor.  acto allocates state_size bytes of
 * zeroed private state per actor (16-byte aligned) and passes it to every
 * callback.
 * - init: runs once in acto_spawn, on the spawning thread, before anyone
 *   can send to the actor (messages it sends to itself are queued).  A
 *   negative return makes acto_spawn fail with ACTO_EINIT (terminate is
 *   not called).  ACTO_INIT_IGNORE makes acto_spawn return ACTO_EIGNORED:
 *   no actor exists, terminate is not called, nothing is reported as a
 *   crash (under a supervisor: ACTORS.md chapter 9).  May be NULL.
 * - handle: runs for each message, never on two threads at once.  0 means
 *   handled; a negative value is a failure: the actor stops with that
 *   reason and the message is reported as a dead letter (ACTO_DEAD_FAILED).
 * - terminate: runs once when the actor stops (stop, failure, shutdown),
 *   with reason 0 for a normal stop.  May be NULL. */
typedef struct acto_behaviour {
  const char *name;
  size_t state_size;
  int (*init)(acto_ctx *ctx, void *state, const void *arg);
  int (*handle)(acto_ctx *ctx, void *state, const acto_msg *msg);
  void (*terminate)(acto_ctx *ctx, void *state, int reason);
  uint64_t flags;       /* ACTO_BEHAVIOUR_* bits; 0: none */
  uint64_t reserved[3]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_behaviour;

/* acto_behaviour.flags.  ACTO_BEHAVIOUR_IO_TURNS: every handle() is short
 * (microseconds) and never blocks, so a turn begun by a message that came
 * from another node may run at once on the node's I/O thread instead of
 * being handed to a worker (ACTORS.md 3.2).  Other bits: ACTO_EINVAL. */
#define ACTO_BEHAVIOUR_IO_TURNS 1u

/* ---- the system ------------------------------------------------------- */

typedef struct acto_config {
  unsigned threads;           /* workers; 0: online CPUs */
  unsigned batch;             /* max messages per actor turn; 0: 64 */
  uint32_t default_capacity;  /* 0: ACTO_MAILBOX_DEFAULT_CAPACITY */
  size_t default_bytes;       /* 0: ACTO_MAILBOX_DEFAULT_BYTES */
  unsigned max_actors;        /* 0: 16,777,216 live actors */
  /* Deterministic mode (for tests and simulations): no worker or timer
   * threads; one worker runs on the thread that calls acto_system_run (or
   * a blocking call such as acto_ask), time is a virtual clock that jumps
   * to the next timer whenever no actor can run, and the scheduler's
   * choices come from `seed`.  The same program with the same seed runs
   * the same way. */
  int deterministic;
  uint64_t seed;
  /* Called on every thread acto starts (workers, the timer thread, a
   * node's I/O and resolver threads): thread_start first thing on it,
   * thread_stop last, with the thread's name ("acto-w0", "acto-timer",
   * "acto-node", "acto-resolve"; borrowed for the call).  For embedding:
   * set a CPU affinity, register with a profiler.  They must not call
   * acto.  NULL: none. */
  void (*thread_start)(void *user, const char *name);
  void (*thread_stop)(void *user, const char *name);
  void *thread_user;
  uint64_t flags;       /* ACTO_CONFIG_* bits; others: ACTO_EINVAL */
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_config;

/* acto_config.flags.  ACTO_CONFIG_NO_METRICS: keep only the counters of
 * acto_stats, not the per-worker ones of acto_metrics_workers beyond them
 * (runnext hits, steals given, busy time): for measuring what metrics
 * cost (ACTORS.md 3.18). */
#define ACTO_CONFIG_NO_METRICS 1u

/* Creates a system and starts its workers and timer thread.  cfg may be
 * NULL for defaults.  Thread-safe; cfg is borrowed until the call returns. */
ACTO_API int acto_system_create(const acto_config *cfg, acto_system **out);

/* Stops every actor (their terminate callbacks run on workers, with
 * reason ACTO_REASON_SHUTDOWN; no supervisor restarts anything from here
 * on), waits for them, joins the workers and the timer thread and frees
 * the system.  For an ordered stop of a tree, acto_supervisor_stop first.
 * Queued messages become dead letters.  Plain threads waiting in acto
 * calls meanwhile (ask, send, supervisor and node calls) are answered
 * ACTO_ECLOSED, and nothing is freed before each has left the library.
 * Must not be called from inside an actor (ACTO_EWRONGTHREAD).  sys is
 * invalid after a 0 return. */
ACTO_API int acto_system_shutdown(acto_system *sys);

/* Deterministic mode: runs actors and fires timers on the calling thread
 * until nothing can run and no timer is due within for_ms of virtual time
 * (then the clock stands at now + for_ms), or, with for_ms -1, until
 * nothing can run and no timer is left (never returns while a periodic
 * timer runs).  Returns the number of messages handled.  ACTO_EINVAL when
 * the system is not deterministic; not from inside an actor. */
ACTO_API int64_t acto_system_run(acto_system *sys, int64_t for_ms);

/* The system's clock in ms: virtual in deterministic mode, monotonic
 * otherwise.  Thread-safe. */
ACTO_API int64_t acto_now_ms(acto_system *sys);

/* A pseudo-random number from the system's seeded generator (deterministic
 * mode: part of the reproducible run; otherwise seeded from the clock).
 * Thread-safe. */
ACTO_API uint64_t acto_random(acto_system *sys);

/* ---- actors ----------------------------------------------------------- */

typedef struct acto_spawn_opts {
  const char *name;       /* register under this name (copied); NULL: none */
  uint32_t capacity;      /* 0: system default */
  size_t max_bytes;       /* 0: system default */
  acto_overflow overflow; /* default ACTO_OVERFLOW_BLOCK */
  /* Non-zero: link the new actor with the spawning actor before anything
   * can happen to it (only inside an actor: ACTO_EWRONGTHREAD else). */
  int link;
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_spawn_opts;

/* Spawns an actor.  init runs before the call returns.  opts may be NULL.
 * Thread-safe; arg is passed to init and borrowed until the call returns. */
ACTO_API int acto_spawn(acto_system *sys, const acto_behaviour *b, const void *arg,
                        const acto_spawn_opts *opts, acto_ref *out);

/* Asks the actor to stop: after the message it is handling, it runs
 * terminate(reason 0); queued user messages become dead letters.
 * Asynchronous (a system message).  ACTO_ESTALE if already gone.
 * Thread-safe. */
ACTO_API int acto_stop(acto_system *sys, acto_ref ref);

/* 1 if the actor is alive, 0 if not (also 0 for an actor on another
 * node: watch it with a monitor).  Thread-safe. */
ACTO_API int acto_alive(acto_system *sys, acto_ref ref);

/* The running actor, the sender of its current message, its system.
 * Only inside the actor. */
ACTO_API acto_ref acto_self(const acto_ctx *ctx);
ACTO_API acto_ref acto_sender(const acto_ctx *ctx);
ACTO_API acto_system *acto_ctx_system(const acto_ctx *ctx);

/* Stops the running actor once the current callback returns.  Only inside
 * the actor. */
ACTO_API int acto_stop_self(acto_ctx *ctx);

/* ---- send ------------------------------------------------------------- */

/* Returned (positive) by a send from inside an actor to a full mailbox with
 * the block policy: the message is parked in order and the sending actor is
 * suspended once its current callback returns; it resumes when all its
 * parked messages are delivered.  A producer should return soon (for
 * example after sending itself a "continue" message). */
#define ACTO_PARKED 1

/* Options of acto_send_ex.  Start from ACTO_SEND_OPTS_INIT: a zeroed
 * struct has deadline_ms 0, which means "do not wait". */
typedef struct acto_send_opts {
  /* Non-zero: a full mailbox returns ACTO_EFULL whatever the target's
   * policy (an override towards failing fast). */
  int fail_fast;
  /* A plain thread blocked on a full mailbox waits at most this long
   * (-1: forever, 0: fail at once with ACTO_ETIMEDOUT; other negative
   * values: ACTO_EINVAL).  Default -1 when opts is NULL; ignored inside
   * actors (they park instead). */
  int64_t deadline_ms;
  /* Non-NULL: the payload is handed over instead of copied.  On every
   * return, success or error, ownership has moved to acto, which frees the
   * payload with this function. */
  void (*free_fn)(void *data);
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_send_opts;

#define ACTO_SEND_OPTS_INIT {0, -1, NULL, {0}}

/* Sends a message: the payload is copied before return (inline up to
 * ACTO_INLINE_MAX bytes).  Returns 0 when queued, ACTO_PARKED (see above),
 * or an error: ACTO_ESTALE (actor gone; counted as a dead letter),
 * ACTO_EFULL (fail policy), ACTO_ETIMEDOUT (plain thread, block policy),
 * ACTO_ETOOBIG, ACTO_EINVAL.  Drop policies return 0 and count a dead
 * letter.  Thread-safe. */
ACTO_API int acto_send(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                       size_t size);

/* acto_send with options (may be NULL).  Thread-safe; see free_fn for the
 * ownership of data. */
ACTO_API int acto_send_ex(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                          size_t size, const acto_send_opts *opts);

/* ---- ask (request-reply) -------------------------------------------- */

/* A reply received by a plain thread; data is owned by the caller and
 * freed with acto_reply_release. */
typedef struct acto_reply_buf {
  uint32_t type;
  size_t size;
  void *data;
} acto_reply_buf;

/* Sends a request and waits for its reply, at most timeout_ms (-1: forever).
 * A reply that arrives later is discarded and counted (ACTO_DEAD_LATE_REPLY).
 * As soon as no reply can come, the call returns instead of waiting for
 * the deadline: ACTO_ENOREPLY (the handler returned without replying or
 * keeping the request), ACTO_ECLOSED (the target, or the actor that kept
 * the request, stopped; or the system is shutting down), ACTO_EFAILED (it
 * failed), ACTO_ENOTCONN (its node went away).  Only from a plain thread
 * (on a worker or inside any callback: ACTO_EDEADLK, use acto_ask_async).
 * Deterministic mode: the deadline is virtual, and ACTO_EDEADLK when
 * nothing can answer any more.  data is copied before return; out->data is
 * owned by the caller. */
ACTO_API int acto_ask(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                      size_t size, int64_t timeout_ms, acto_reply_buf *out);
ACTO_API void acto_reply_release(acto_reply_buf *r);

/* Runs on the asking actor when the reply arrives (status 0, reply set) or
 * the deadline passes (status ACTO_ETIMEDOUT, reply NULL) or no reply can
 * come (ACTO_ENOREPLY, ACTO_ECLOSED, ACTO_EFAILED, ACTO_ENOTCONN, as for
 * acto_ask; reply NULL), or the asking actor's incarnation ends first
 * (ACTO_ECANCELED: it stops, fails, its init fails, or it is restarted in
 * place; this call runs before terminate, on the intact state).  Exactly
 * one call per ask that acto_ask_async accepted; a target already gone is
 * reported by acto_ask_async itself (ACTO_ESTALE). */
typedef void (*acto_reply_fn)(acto_ctx *ctx, void *state, int status, const acto_msg *reply,
                              void *user);

/* Sends a request from inside an actor without blocking its worker.  With
 * fn, the outcome runs fn on this actor; with fn NULL, the reply arrives
 * in handle() as a message whose ask_id is *ask_id_out, or an
 * ACTO_MSG_ASK_TIMEOUT / ACTO_MSG_ASK_FAILED message with that ask_id.
 * Returns 0, ACTO_PARKED (the request waits for room, see acto_send), or
 * an error (then no outcome will be delivered): ACTO_ECLOSED in terminate,
 * where no outcome could run.  timeout_ms must be > 0 (or -1: no
 * deadline).  Only inside the actor; data copied before return. */
ACTO_API int acto_ask_async(acto_ctx *ctx, acto_ref to, uint32_t type, const void *data,
                            size_t size, int64_t timeout_ms, acto_reply_fn fn, void *user,
                            uint64_t *ask_id_out);

/* Replies to the current message, which must be a request (ACTO_ENOTREQUEST)
 * not yet replied to (ACTO_EALREADY).  Only inside the actor; data copied
 * before return. */
ACTO_API int acto_reply(acto_ctx *ctx, uint32_t type, const void *data, size_t size);

/* A request kept for a later answer (acto_reply_later).  A plain value:
 * store it in the actor's state; answer it exactly once. */
typedef struct acto_reply_token {
  uint64_t ask_id;
  acto_ref asker;
  uint32_t flags;
  uint32_t reserved;
} acto_reply_token;

/* Takes the current request out of the handler's hands: returning from
 * the handler no longer answers it, and *tok can be answered later with
 * acto_reply_to, from this actor or any thread (the asker's deadline still
 * applies).  If this actor's incarnation ends first, acto answers it:
 * ACTO_ECLOSED when it stops (after terminate), ACTO_EFAILED when it
 * fails.  ACTO_ENOTREQUEST / ACTO_EALREADY as acto_reply.  Only inside the
 * actor. */
ACTO_API int acto_reply_later(acto_ctx *ctx, acto_reply_token *tok);

/* Answers a kept request: 0 when sent (a reply its asker no longer waits
 * for is discarded and counted late), ACTO_EALREADY when the token was
 * answered already (by an earlier acto_reply_to, or by its keeper's stop
 * or failure) or was never kept.  Thread-safe; data copied before
 * return. */
ACTO_API int acto_reply_to(acto_system *sys, const acto_reply_token *tok, uint32_t type,
                           const void *data, size_t size);

/* ---- timers ----------------------------------------------------------- */

typedef uint64_t acto_timer;

/* Delivers the message to `to` after delay_ms (>= 0; a delay too far to
 * represent saturates: the timer never fires) like any send (the
 * sender is the actor that set the timer, if any).  A full mailbox counts a
 * dead letter (ACTO_DEAD_FULL) instead of blocking.  out may be NULL when
 * the timer will never be cancelled.  Thread-safe; data copied before
 * return. */
ACTO_API int acto_send_after(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                             size_t size, int64_t delay_ms, acto_timer *out);

/* Like acto_send_after, then every period_ms (> 0) until cancelled or the
 * target stops. */
ACTO_API int acto_send_periodic(acto_system *sys, acto_ref to, uint32_t type,
                                const void *data, size_t size, int64_t delay_ms,
                                int64_t period_ms, acto_timer *out);

/* Cancels a timer.  After a 0 return no message of this timer is handled,
 * even one already queued.  ACTO_ENOENT if unknown or already finished.
 * Thread-safe. */
ACTO_API int acto_timer_cancel(acto_system *sys, acto_timer t);

/* ---- registry --------------------------------------------------------- */

/* Names are 1..ACTO_NAME_MAX bytes, copied.  An actor has at most one
 * name (a second acto_register for it returns ACTO_EALREADY); a name held
 * by another live actor gives ACTO_EEXIST.  A name is released when its
 * actor stops: as soon as acto_alive reports the actor gone, lookup fails
 * with ACTO_ENOENT and the name can be registered again.  A name lives on
 * its actor's node: acto_register takes local refs only (ACTO_EINVAL);
 * look up names on other nodes with acto_node_lookup.  Thread-safe. */
ACTO_API int acto_register(acto_system *sys, const char *name, acto_ref ref);
ACTO_API int acto_unregister(acto_system *sys, const char *name);
ACTO_API int acto_lookup(acto_system *sys, const char *name, acto_ref *out);

/* ---- exits, links and monitors -------------------------------------- */

/* Why an actor stopped.  0 is a normal stop; small positive values are
 * acto's; negative values are failures (a callback's negative return, or
 * acto_exit_self with a negative reason).  Other positive values are free
 * for users and count as abnormal. */
#define ACTO_REASON_NORMAL 0       /* acto_stop, acto_stop_self */
#define ACTO_REASON_SHUTDOWN 1     /* stopped by its supervisor or shutdown */
#define ACTO_REASON_KILLED 2       /* acto_kill: untrappable */
#define ACTO_REASON_NOPROC 3       /* the linked/monitored actor did not exist */
#define ACTO_REASON_NOCONNECTION 4 /* its node went away (transport) */

/* Delivered to handle() on the system lane (never refused for capacity). */
#define ACTO_MSG_DOWN 0xF0000003u /* data: acto_down */
#define ACTO_MSG_EXIT 0xF0000004u /* data: acto_exit_signal (trapping actors) */

typedef struct acto_down {
  acto_ref who;     /* the monitored actor */
  uint64_t monitor; /* the id acto_monitor returned */
  int32_t reason;   /* why it stopped (ACTO_REASON_NOPROC: never existed) */
} acto_down;

typedef struct acto_exit_signal {
  acto_ref from;  /* the linked actor that stopped, or the acto_exit caller */
  int32_t reason;
} acto_exit_signal;

/* Monitors `target` from the running actor: exactly one ACTO_MSG_DOWN
 * arrives when it stops, also if it is already gone (reason
 * ACTO_REASON_NOPROC).  Only inside the actor. */
ACTO_API int acto_monitor(acto_ctx *ctx, acto_ref target, uint64_t *monitor_out);

/* Cancels a monitor: no DOWN of it is delivered after this returns (one
 * already queued is discarded).  ACTO_ENOENT if unknown or already fired.
 * Only inside the actor. */
ACTO_API int acto_demonitor(acto_ctx *ctx, uint64_t monitor);

/* Links the running actor with `other`, both ways.  When one stops with a
 * reason other than ACTO_REASON_NORMAL, the other receives an exit
 * signal: a trapping actor gets ACTO_MSG_EXIT, any other stops with the
 * same reason.  Linking to an actor that is gone delivers an exit signal
 * with ACTO_REASON_NOPROC.  Idempotent.  Only inside the actor. */
ACTO_API int acto_link(acto_ctx *ctx, acto_ref other);
ACTO_API int acto_unlink(acto_ctx *ctx, acto_ref other);

/* Makes exit signals arrive as ACTO_MSG_EXIT messages (on != 0) instead of
 * stopping the running actor.  Only inside the actor. */
ACTO_API int acto_trap_exit(acto_ctx *ctx, int on);

/* Sends an exit signal to `target` as if a linked actor had stopped with
 * `reason`: a trapping target gets ACTO_MSG_EXIT; otherwise reason NORMAL
 * is ignored and any other reason stops it.  Thread-safe. */
ACTO_API int acto_exit(acto_system *sys, acto_ref target, int reason);

/* Stops `target` with ACTO_REASON_KILLED whether it traps exits or not,
 * after its current callback (acto cannot interrupt running code); its
 * queued messages become dead letters.  Unlike OTP, terminate still runs
 * (with ACTO_REASON_KILLED): in C it is the actor's destructor.
 * Thread-safe. */
ACTO_API int acto_kill(acto_system *sys, acto_ref target);

/* Stops the running actor with `reason` once the current callback returns.
 * A negative reason is a failure: under a supervisor it is handled like a
 * handler's negative return (acto_supervisor.h).  Only inside the actor. */
ACTO_API int acto_exit_self(acto_ctx *ctx, int reason);

/* Reports every failure: the actor, its behaviour's name, the reason and
 * the type of the message whose handler failed (0: init).  Called on the
 * failing actor's worker; must be quick and thread-safe.  NULL removes it.
 * Thread-safe. */
typedef void (*acto_crash_fn)(void *user, acto_ref actor, const char *behaviour, int reason,
                              uint32_t msg_type);
ACTO_API int acto_set_crash_hook(acto_system *sys, acto_crash_fn fn, void *user);

/* ---- dead letters and statistics ------------------------------------ */

/* Called for every dead letter, on the thread that found it; must be quick
 * and thread-safe.  fn NULL removes the hook.  Thread-safe. */
typedef void (*acto_dead_letter_fn)(void *user, acto_ref to, uint32_t type, size_t size,
                                    acto_dead_reason reason);
ACTO_API int acto_set_dead_letter_hook(acto_system *sys, acto_dead_letter_fn fn, void *user);

typedef struct acto_stats {
  uint64_t dead_letters[ACTO_DEAD_REASON_SLOTS]; /* by acto_dead_reason */
  uint64_t dead_letters_total;
  uint64_t actors_live;
  uint64_t actors_spawned;
  uint64_t actors_stopped;
  uint64_t actors_failed;
  uint64_t messages_handled;
  uint64_t parks;      /* times an actor was suspended at the end of its
                          turn because a send of it was parked */
  uint64_t steals;     /* actors taken from another worker's queue */
  uint64_t worker_sleeps;
  uint64_t no_replies; /* requests whose handler returned without replying
                          (their askers got ACTO_ENOREPLY) */
  uint64_t timers_pending; /* timers armed and not yet fired or cancelled
                              (acto_send_after, periodic, ask deadlines) */
  uint64_t asks_pending;   /* asks sent and not yet answered, timed out
                              or cancelled (actors' and plain threads') */
  uint64_t restarts;       /* children restarted by supervisors */
  uint64_t reserved[5]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_stats;

/* A snapshot of the counters (each read atomically, not all at one
 * instant).  Counters follow events by a moment: messages_handled is
 * published when a turn ends, the actor counters when an actor's
 * finalisation completes (a little after acto_alive turns 0).
 * Thread-safe. */
ACTO_API int acto_get_stats(acto_system *sys, acto_stats *out);

/* ---- log lines ------------------------------------------------------ */

/* What the library has to say that is not an error code: a peer's
 * connection closed and why, a key file refused and which rule, a
 * supervisor spec refused and which rule.  Levels, most severe first; a
 * system produces the lines at or below its level (default
 * ACTO_LOG_INFO). */
typedef enum acto_log_level {
  ACTO_LOG_OFF = -1, /* for acto_set_log_level: no lines at all */
  ACTO_LOG_ERROR = 0,
  ACTO_LOG_WARN = 1,
  ACTO_LOG_INFO = 2,
  ACTO_LOG_DEBUG = 3
} acto_log_level;

/* The longest line text passed to a hook (longer lines are cut). */
#define ACTO_LOG_LINE_MAX 400u

/* Receives each line: component is a short word ("node", "supervisor",
 * "system"), text one line without a newline; both are borrowed until
 * the call returns.  Called on the library thread that produced the line
 * (a worker, the node's I/O thread, a caller's thread): it must be quick,
 * thread-safe and must not block, and must not call back into acto. */
typedef void (*acto_log_fn)(void *user, acto_log_level level, const char *component,
                            const char *text);

/* Installs the log hook of a system; fn NULL restores the default, which
 * writes "acto <component>: <text>" to stderr only when stderr can take
 * the line at once (a pipe nobody reads, a full terminal: the line is
 * dropped and counted, never waited for).  Whatever the hook, repeated
 * lines are folded ("last line repeated N times") and at most 50 lines a
 * second (bursts of 100) are produced; the excess is counted and
 * reported in one line when lines flow again.  Thread-safe. */
ACTO_API int acto_set_log_hook(acto_system *sys, acto_log_fn fn, void *user);

/* Lines less severe than `level` are not produced (ACTO_LOG_OFF: none).
 * ACTO_EINVAL for a level outside ACTO_LOG_OFF..ACTO_LOG_DEBUG.
 * Thread-safe. */
ACTO_API int acto_set_log_level(acto_system *sys, acto_log_level level);

#ifdef __cplusplus
}
#endif
#endif /* ACTO_ACTOR_H */
