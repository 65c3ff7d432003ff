/* agent.h - the "agent": a test actor that makes link and monitor calls
 * for the test thread (test_link.c, test_monitor.c).
 *
 * What an agent does.  acto_link, acto_monitor, acto_trap_exit and their
 * kin work only inside an actor, so a test cannot call them itself.  An
 * agent calls them on its behalf: each command (a CMD_* message carrying
 * an ag_cmd) is one call made inside the agent's handler, and its outcome
 * - the return code, and the monitor id or the spawned child's ref - is
 * appended to the agent's record as an ag_res.  The record also keeps
 * every ACTO_MSG_EXIT and ACTO_MSG_DOWN the agent handles, in order, the
 * plain AG_MSG_FILL messages it counted, and its terminate reason.  By
 * default a signal is only recorded; ag_on_signal makes the agent fail or
 * exit_self when one arrives, and init_exit_self makes init call
 * acto_exit_self.  CMD_HOLD keeps the agent inside its handler until the
 * test opens the record's gate (threaded systems only: in a deterministic
 * system the test thread is the worker and would wait for itself).
 *
 * How tests drive it.  ag_spawn() starts an agent that records into a
 * static `agent`; ag_call() sends one command and waits for its ag_res;
 * ag_post() sends one without waiting (for commands that stop the agent);
 * ck_assert_agent_reaches() waits until a count of the record (nres,
 * nexits, ndowns, nfill, terminated) reaches a value and
 * ck_assert_agent_is() asserts that it is exactly one.  An "observer"
 * agent that monitors the others tells how each stopped:
 * ck_assert_stopped_with() checks its DOWN and the agent's own terminate
 * reason, which must agree.
 *
 * DESIGN.  The same calls serve both kinds of system; the record knows
 * its system.  On a threaded one (tu_system) the test waits on the
 * record's condition variable with a deadline, as elsewhere (testutil.h).
 * On a deterministic one (tu_det_system) there is nothing to wait for: a
 * wait first runs the system on the test thread until nothing can run
 * (tu_settle), then reads the record once, and a count that is short then
 * stays short.  So ck_assert_agent_is() after tu_quiesce() is a guarantee
 * that nothing else happens, where a threaded test can only sleep a
 * while and look.  Records are shared with worker threads: every field an
 * agent writes is read under the record's mutex, except after shutdown.
 *
 * The races.  Both suites also race a call (link, monitor) against the end
 * of its target, round after round with worker threads: a "racer" actor
 * makes the call and counts the signal it brings by reason (ag_race), and
 * ag_race_rounds drives the rounds and checks that each brought exactly
 * one signal, with the target's reason or NOPROC.
 */
#ifndef ACTO_TESTS_AGENT_H
#define ACTO_TESTS_AGENT_H

#include "testutil.h"

/* ---- commands and outcomes ------------------------------------------------ */

enum {
  CMD_PING = 1,         /* nothing: the agent still handles messages */
  CMD_MONITOR,          /* acto_monitor(cmd.ref); cmd.arg 1: no place for the id */
  CMD_DEMONITOR,        /* acto_demonitor(cmd.arg) */
  CMD_LINK,             /* acto_link(cmd.ref) */
  CMD_UNLINK,           /* acto_unlink(cmd.ref) */
  CMD_TRAP,             /* acto_trap_exit(cmd.arg) */
  CMD_FAIL,             /* the handler returns cmd.arg */
  CMD_EXIT_SELF,        /* acto_exit_self(cmd.arg) */
  CMD_EXIT_OTHER,       /* acto_exit(cmd.ref, cmd.arg) */
  CMD_SPAWN_LINKED,     /* spawn an agent recording into cmd.ptr, with opts.link = 1 */
  CMD_SPAWN_BAD_LINKED, /* spawn ag_bad_init_behaviour with opts.link = 1 */
  CMD_HOLD,             /* wait for the agent's gate */
  CMD_HOLD_DEMONITOR,   /* wait for the agent's gate, then acto_demonitor(cmd.arg) */
  AG_MSG_FILL,          /* not a command: counted in nfill, no outcome */
};

typedef struct ag_cmd {
  acto_ref ref;
  int64_t arg;
  void *ptr;
} ag_cmd;

/* The outcome of one command. */
typedef struct ag_res {
  uint32_t type;
  int rc;
  uint64_t id;  /* CMD_MONITOR: the monitor id */
  acto_ref ref; /* CMD_SPAWN_*: the child */
} ag_res;

/* What the agent does when an EXIT or DOWN arrives (ag_on_signal). */
enum {
  AG_ON_RECORD = 0, /* record it and return 0 */
  AG_ON_FAIL,       /* record it and return signal_reason */
  AG_ON_EXIT_SELF,  /* record it and call acto_exit_self(signal_reason) */
};

#define AG_LOG 64

typedef struct agent {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  acto_system *sys; /* set before the agent runs */
  acto_ref self;
  int nres; /* commands run */
  ag_res res[AG_LOG];
  int nexits; /* ACTO_MSG_EXIT handled */
  acto_exit_signal exits[AG_LOG];
  int ndowns; /* ACTO_MSG_DOWN handled */
  acto_down downs[AG_LOG];
  acto_ref down_sender[AG_LOG];
  int bad_size; /* EXIT or DOWN with a wrong payload size */
  int nfill;    /* AG_MSG_FILL handled */
  int terminated;
  int term_reason; /* -9999 until terminate runs */
  tu_gate gate;
  tu_counter entered; /* CMD_HOLD or CMD_HOLD_DEMONITOR entered */
  /* Set before the agent runs: */
  int init_exit_self; /* non-zero: init calls acto_exit_self(init_exit_reason) */
  int init_exit_reason;
  int on_signal; /* AG_ON_* */
  int signal_reason;
} agent;

typedef struct agent_state {
  agent *g;
} agent_state;

/* Clears the record of an agent about to run in sys. */
static inline void ag_init(agent *g, acto_system *sys) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
  tu_cond_init(&g->cv);
  tu_gate_init(&g->gate);
  tu_counter_init(&g->entered);
  g->sys = sys;
  g->term_reason = -9999;
}

static inline void ag_add_res(agent *g, ag_res r) {
  pthread_mutex_lock(&g->mu);
  if (g->nres < AG_LOG) g->res[g->nres] = r;
  g->nres++;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* ---- an actor whose init fails --------------------------------------------- */

/* Its init records its ref in *arg and fails with -13. */
static inline int ag_bad_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)state;
  acto_ref *self = (acto_ref *)arg;
  *self = acto_self(ctx);
  return -13;
}

static inline int ag_never_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  TU_EXPECT(0, "an actor whose init failed handled a message");
  return 0;
}

static const acto_behaviour ag_bad_init_behaviour = {
    .name = "bad_init", .init = ag_bad_init, .handle = ag_never_handle};

/* ---- the behaviour ---------------------------------------------------------- */

static const acto_behaviour agent_behaviour;

static inline int ag_b_init(acto_ctx *ctx, void *state, const void *arg) {
  agent_state *s = state;
  s->g = (agent *)arg;
  pthread_mutex_lock(&s->g->mu);
  s->g->self = acto_self(ctx);
  int exit_self = s->g->init_exit_self, reason = s->g->init_exit_reason;
  pthread_mutex_unlock(&s->g->mu);
  if (exit_self) TU_EXPECT_RC(acto_exit_self(ctx, reason), 0);
  return 0;
}

/* Records an EXIT or DOWN and does what on_signal says. */
static inline int ag_signal(acto_ctx *ctx, agent *g, const acto_msg *msg) {
  pthread_mutex_lock(&g->mu);
  if (msg->type == ACTO_MSG_EXIT) {
    acto_exit_signal e;
    memset(&e, 0, sizeof e);
    if (msg->size == sizeof e && msg->data) memcpy(&e, msg->data, sizeof e);
    else g->bad_size++;
    if (g->nexits < AG_LOG) g->exits[g->nexits] = e;
    g->nexits++;
  } else {
    acto_down d;
    memset(&d, 0, sizeof d);
    if (msg->size == sizeof d && msg->data) memcpy(&d, msg->data, sizeof d);
    else g->bad_size++;
    if (g->ndowns < AG_LOG) {
      g->downs[g->ndowns] = d;
      g->down_sender[g->ndowns] = msg->sender;
    }
    g->ndowns++;
  }
  int on = g->on_signal, reason = g->signal_reason;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
  if (on == AG_ON_FAIL) return reason;
  if (on == AG_ON_EXIT_SELF) TU_EXPECT_RC(acto_exit_self(ctx, reason), 0);
  return 0;
}

static inline int ag_b_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  agent *g = ((agent_state *)state)->g;
  if (msg->type == ACTO_MSG_EXIT || msg->type == ACTO_MSG_DOWN) return ag_signal(ctx, g, msg);
  TU_EXPECT(msg->type < ACTO_MSG_RESERVED, "agent got unexpected reserved type 0x%x", msg->type);
  if (msg->type == AG_MSG_FILL) {
    pthread_mutex_lock(&g->mu);
    g->nfill++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return 0;
  }
  ag_cmd c;
  memset(&c, 0, sizeof c);
  if (msg->size == sizeof c) memcpy(&c, msg->data, sizeof c);
  ag_res r = {msg->type, 0, 0, ACTO_REF_NONE};
  acto_spawn_opts linked = {.link = 1};
  switch (msg->type) {
  case CMD_PING:
    break;
  case CMD_MONITOR:
    r.rc = acto_monitor(ctx, c.ref, c.arg == 1 ? NULL : &r.id);
    break;
  case CMD_DEMONITOR:
    r.rc = acto_demonitor(ctx, (uint64_t)c.arg);
    break;
  case CMD_LINK:
    r.rc = acto_link(ctx, c.ref);
    break;
  case CMD_UNLINK:
    r.rc = acto_unlink(ctx, c.ref);
    break;
  case CMD_TRAP:
    r.rc = acto_trap_exit(ctx, (int)c.arg);
    break;
  case CMD_FAIL:
    ag_add_res(g, r);
    return (int)c.arg;
  case CMD_EXIT_SELF:
    r.rc = acto_exit_self(ctx, (int)c.arg);
    break;
  case CMD_EXIT_OTHER:
    r.rc = acto_exit(acto_ctx_system(ctx), c.ref, (int)c.arg);
    break;
  case CMD_SPAWN_LINKED: {
    agent *child = c.ptr;
    ag_init(child, acto_ctx_system(ctx));
    r.rc = acto_spawn(acto_ctx_system(ctx), &agent_behaviour, child, &linked, &r.ref);
    break;
  }
  case CMD_SPAWN_BAD_LINKED: {
    acto_ref seen = ACTO_REF_NONE;
    r.rc = acto_spawn(acto_ctx_system(ctx), &ag_bad_init_behaviour, &seen, &linked, &r.ref);
    break;
  }
  case CMD_HOLD:
  case CMD_HOLD_DEMONITOR:
    tu_counter_add(&g->entered, 1);
    TU_EXPECT(tu_gate_wait(&g->gate, TU_WAIT_MS), "agent gate never opened");
    if (msg->type == CMD_HOLD_DEMONITOR) r.rc = acto_demonitor(ctx, (uint64_t)c.arg);
    break;
  default:
    TU_EXPECT(0, "agent got unknown command %u", msg->type);
  }
  ag_add_res(g, r);
  return 0;
}

static inline void ag_b_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  agent *g = ((agent_state *)state)->g;
  pthread_mutex_lock(&g->mu);
  g->terminated++;
  g->term_reason = reason;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static const acto_behaviour agent_behaviour = {.name = "agent", .state_size = sizeof(agent_state),
                                               .init = ag_b_init, .handle = ag_b_handle,
                                               .terminate = ag_b_terminate};

/* ---- driving an agent from the test thread -------------------------------- */

/* The deterministic system of the agent suites: TU_SEED, else seed 1 (what
 * they assert must hold whatever the seed). */
static inline acto_system *ag_det_system(void) { return tu_det_system(tu_seed(1)); }

static inline acto_ref ag_spawn_opts(acto_system *sys, agent *g, const acto_spawn_opts *opts) {
  ag_init(g, sys);
  acto_ref r = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &agent_behaviour, g, opts, &r));
  ck_assert(!acto_ref_is_none(r));
  return r;
}

static inline acto_ref ag_spawn(acto_system *sys, agent *g) {
  return ag_spawn_opts(sys, g, NULL);
}

/* Chooses what the agent does when an EXIT or DOWN arrives. */
static inline void ag_on_signal(agent *g, int on, int reason) {
  pthread_mutex_lock(&g->mu);
  g->on_signal = on;
  g->signal_reason = reason;
  pthread_mutex_unlock(&g->mu);
}

/* Copies size bytes of the record at field into out, under its lock. */
static inline void ag_read(agent *g, void *out, const void *field, size_t size) {
  pthread_mutex_lock(&g->mu);
  memcpy(out, field, size);
  pthread_mutex_unlock(&g->mu);
}

static inline int ag_get(agent *g, const int *field) {
  int v;
  ag_read(g, &v, field, sizeof v);
  return v;
}

static inline int ag_term_reason(agent *g) { return ag_get(g, &g->term_reason); }

/* 1 once *field >= n, 0 at the deadline (threaded) or once the system has
 * settled short of n (deterministic). */
static inline int ag_wait(agent *g, const int *field, int n, long timeout_ms) {
  if (tu_is_det(g->sys)) {
    tu_settle(g->sys);
    return ag_get(g, field) >= n;
  }
  struct timespec dl = tu_deadline(timeout_ms);
  pthread_mutex_lock(&g->mu);
  while (*field < n) {
    if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) break;
  }
  int ok = *field >= n;
  pthread_mutex_unlock(&g->mu);
  return ok;
}

#define ck_assert_agent_reaches(g, field, n)                                              \
  do {                                                                                    \
    int ag_n_ = (n);                                                                      \
    ck_assert_msg(ag_wait((g), &(g)->field, ag_n_, TU_WAIT_MS),                           \
                  "%s->%s is %d, expected >= %d within %ld ms (callbacks: %s)", #g, #field, \
                  ag_get((g), &(g)->field), ag_n_, (long)TU_WAIT_MS, tu_expect_summary());  \
  } while (0)

/* Asserts that *field is exactly n now (a deterministic system is settled
 * first). */
#define ck_assert_agent_is(g, field, n)                                                    \
  do {                                                                                     \
    tu_settle((g)->sys);                                                                   \
    ck_assert_msg(ag_get((g), &(g)->field) == (n), "%s->%s is %d, expected %d", #g, #field, \
                  ag_get((g), &(g)->field), (int)(n));                                     \
  } while (0)

/* Runs one command on the agent and waits for its outcome. */
static inline ag_res ag_call_ex(acto_system *sys, acto_ref to, agent *g, uint32_t type,
                                acto_ref ref, int64_t arg, void *ptr) {
  int before = ag_get(g, &g->nres);
  ck_assert_msg(before < AG_LOG, "agent log full");
  ag_cmd c = {ref, arg, ptr};
  ck_assert_ok(acto_send(sys, to, type, &c, sizeof c));
  ck_assert_agent_reaches(g, nres, before + 1);
  ag_res r;
  ag_read(g, &r, &g->res[before], sizeof r);
  ck_assert_uint_eq(r.type, type);
  return r;
}

static inline ag_res ag_call(acto_system *sys, acto_ref to, agent *g, uint32_t type,
                             acto_ref ref, int64_t arg) {
  return ag_call_ex(sys, to, g, type, ref, arg, NULL);
}

/* Sends a command without waiting (for commands that stop or hold the
 * agent). */
static inline void ag_post(acto_system *sys, acto_ref to, uint32_t type, int64_t arg) {
  ag_cmd c = {ACTO_REF_NONE, arg, NULL};
  ck_assert_ok(acto_send(sys, to, type, &c, sizeof c));
}

/* The i-th outcome (i < nres). */
static inline ag_res ag_result(agent *g, int i) {
  ag_res r;
  ag_read(g, &r, &g->res[i], sizeof r);
  return r;
}

static inline void ag_link(acto_system *sys, acto_ref a, agent *g, acto_ref other) {
  ck_assert_rc(ag_call(sys, a, g, CMD_LINK, other, 0).rc, 0);
}

static inline void ag_trap(acto_system *sys, acto_ref a, agent *g, int on) {
  ck_assert_rc(ag_call(sys, a, g, CMD_TRAP, ACTO_REF_NONE, on).rc, 0);
}

/* Monitors target from the agent; asserts success; returns the id. */
static inline uint64_t ag_monitor(acto_system *sys, acto_ref w, agent *g, acto_ref target) {
  ag_res r = ag_call(sys, w, g, CMD_MONITOR, target, 0);
  ck_assert_rc(r.rc, 0);
  ck_assert_msg(r.id != 0, "acto_monitor returned monitor id 0");
  return r.id;
}

static inline acto_down ag_down(agent *g, int i) {
  acto_down d;
  ag_read(g, &d, &g->downs[i], sizeof d);
  return d;
}

static inline acto_exit_signal ag_exit(agent *g, int i) {
  acto_exit_signal e;
  ag_read(g, &e, &g->exits[i], sizeof e);
  return e;
}

/* ---- assertions -------------------------------------------------------------- */

static inline void ag_assert_down(agent *g, int i, acto_ref who, uint64_t monitor, int reason) {
  acto_down d = ag_down(g, i);
  ck_assert_int_eq(ag_get(g, &g->bad_size), 0);
  ck_assert_msg(acto_ref_eq(d.who, who), "DOWN %d: who is {%" PRIu64 ",%" PRIu64
                "}, expected {%" PRIu64 ",%" PRIu64 "}", i, d.who.id, d.who.node, who.id,
                who.node);
  ck_assert_msg(d.monitor == monitor, "DOWN %d: monitor is %" PRIu64 ", expected %" PRIu64, i,
                d.monitor, monitor);
  ck_assert_msg(d.reason == reason, "DOWN %d: reason is %d, expected %d", i, (int)d.reason,
                reason);
}

static inline void ag_assert_exit(agent *g, int i, acto_ref from, int reason) {
  acto_exit_signal e = ag_exit(g, i);
  ck_assert_int_eq(ag_get(g, &g->bad_size), 0);
  ck_assert_msg(acto_ref_eq(e.from, from), "EXIT %d: from is {%" PRIu64 ",%" PRIu64
                "}, expected {%" PRIu64 ",%" PRIu64 "}", i, e.from.id, e.from.node, from.id,
                from.node);
  ck_assert_msg(e.reason == reason, "EXIT %d: reason is %d, expected %d", i, (int)e.reason,
                reason);
}

/* The agent is alive and still handles messages. */
static inline void ag_assert_running(acto_system *sys, acto_ref a, agent *g) {
  ck_assert_int_eq(acto_alive(sys, a), 1);
  ck_assert_rc(ag_call(sys, a, g, CMD_PING, ACTO_REF_NONE, 0).rc, 0);
  ck_assert_agent_is(g, terminated, 0);
}

/* The reason in the first DOWN about who, -9999 if there is none. */
static inline int ag_down_reason(agent *o, acto_ref who) {
  int reason = -9999;
  pthread_mutex_lock(&o->mu);
  int n = o->ndowns < AG_LOG ? o->ndowns : AG_LOG;
  for (int i = 0; i < n && reason == -9999; i++)
    if (acto_ref_eq(o->downs[i].who, who)) reason = o->downs[i].reason;
  pthread_mutex_unlock(&o->mu);
  return reason;
}

/* Waits for the observer's DOWN about who and returns its reason. */
static inline int ag_observed_reason(agent *o, acto_ref who) {
  tu_settle(o->sys);
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    int reason = ag_down_reason(o, who);
    if (reason != -9999) return reason;
    ck_assert_msg(!tu_is_det(o->sys) && tu_now_ms() < end,
                  "observer got no DOWN for actor %" PRIu64 " (callbacks: %s)", who.id,
                  tu_expect_summary());
    pthread_mutex_lock(&o->mu);
    struct timespec dl = tu_deadline(10);
    pthread_cond_timedwait(&o->cv, &o->mu, &dl);
    pthread_mutex_unlock(&o->mu);
  }
}

/* Asserts that the agent stopped with reason, seen by terminate and by the
 * observer's DOWN. */
#define ck_assert_stopped_with(sys, obs, ref, g, reason)                                     \
  do {                                                                                       \
    int want_ = (reason);                                                                    \
    int seen_ = ag_observed_reason((obs), (ref));                                            \
    ck_assert_msg(seen_ == want_, "%s stopped with reason %d (DOWN), expected %d", #ref,      \
                  seen_, want_);                                                             \
    ck_assert_agent_reaches((g), terminated, 1);                                             \
    ck_assert_msg(ag_get((g), &(g)->term_reason) == want_,                                   \
                  "%s stopped with reason %d (terminate), expected %d", #ref,                \
                  ag_get((g), &(g)->term_reason), want_);                                    \
    ck_assert_becomes_dead((sys), (ref));                                                    \
  } while (0)

/* ---- a call racing with its target's end (threaded systems) ----------------- */

/* Threaded tests only: long enough for a wrongly delivered signal to show
 * up.  A deterministic test runs its system to quiescence instead
 * (tu_quiesce), after which nothing can show up any more. */
#define QUIET_MS 50

/* What a race's "racer" actor saw: one signal (EXIT or DOWN) a round, about
 * that round's target, counted by its reason. */
typedef struct ag_race {
  tu_counter trapped; /* CMD_TRAP done */
  tu_counter signals;
  atomic_int ended;  /* the target's own reason: the call came first */
  atomic_int noproc; /* ACTO_REASON_NOPROC: the end came first */
  atomic_int other;  /* anything else: a bug */
  _Atomic uint64_t target; /* this round's target's id */
} ag_race;

static inline void ag_race_init(ag_race *r) {
  tu_counter_init(&r->trapped);
  tu_counter_init(&r->signals);
  atomic_store(&r->ended, 0);
  atomic_store(&r->noproc, 0);
  atomic_store(&r->other, 0);
  atomic_store(&r->target, 0);
}

/* For the racer's handler: counts a signal whose reason is reason, where
 * the target ends with reason own. */
static inline void ag_race_count(ag_race *r, int reason, int own) {
  if (reason == own) atomic_fetch_add(&r->ended, 1);
  else if (reason == ACTO_REASON_NOPROC) atomic_fetch_add(&r->noproc, 1);
  else atomic_fetch_add(&r->other, 1);
  tu_counter_add(&r->signals, 1);
}

/* The racer: an actor that makes the call of a race on command and counts
 * the signal each call brings, into the ag_race given as its spawn arg.
 * CMD_TRAP traps exits; CMD_LINK and CMD_MONITOR link to / monitor
 * cmd.ref.  Exactly one call is pending when its signal arrives, and the
 * signal names the round's target (and, for a DOWN, the monitor made). */
typedef struct ag_racer_state {
  ag_race *r;
  int own;      /* the reason the targets end with */
  uint64_t id;  /* the last monitor id */
  int pending;  /* calls without a signal yet */
} ag_racer_state;

/* The racer's spawn arg (init copies it). */
typedef struct ag_racer_arg {
  ag_race *r;
  int own;
} ag_racer_arg;

static inline int ag_racer_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  ag_racer_state *s = state;
  const ag_racer_arg *a = arg;
  s->r = a->r;
  s->own = a->own;
  return 0;
}

static inline int ag_racer_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  ag_racer_state *s = state;
  if (msg->type == ACTO_MSG_EXIT || msg->type == ACTO_MSG_DOWN) {
    acto_exit_signal e;
    acto_down d;
    size_t want = msg->type == ACTO_MSG_EXIT ? sizeof e : sizeof d;
    TU_EXPECT(msg->size == want, "signal 0x%x of size %zu", msg->type, msg->size);
    if (msg->size != want) return 0;
    acto_ref from;
    int reason;
    if (msg->type == ACTO_MSG_EXIT) {
      memcpy(&e, msg->data, sizeof e);
      from = e.from;
      reason = e.reason;
    } else {
      memcpy(&d, msg->data, sizeof d);
      TU_EXPECT(d.monitor == s->id, "DOWN monitor %" PRIu64 ", expected %" PRIu64, d.monitor,
                s->id);
      from = d.who;
      reason = d.reason;
    }
    TU_EXPECT(s->pending == 1, "signal 0x%x with %d calls pending", msg->type, s->pending);
    TU_EXPECT(from.id == atomic_load(&s->r->target), "signal 0x%x from the wrong actor",
              msg->type);
    s->pending--;
    ag_race_count(s->r, reason, s->own);
    return 0;
  }
  TU_EXPECT(msg->type < ACTO_MSG_RESERVED, "racer got type 0x%x", msg->type);
  ag_cmd c;
  memset(&c, 0, sizeof c);
  if (msg->size == sizeof c) memcpy(&c, msg->data, sizeof c);
  if (msg->type == CMD_TRAP) {
    TU_EXPECT_RC(acto_trap_exit(ctx, 1), 0);
    tu_counter_add(&s->r->trapped, 1);
  } else if (msg->type == CMD_LINK) {
    TU_EXPECT_RC(acto_link(ctx, c.ref), 0);
    s->pending++;
  } else if (msg->type == CMD_MONITOR) {
    TU_EXPECT_RC(acto_monitor(ctx, c.ref, &s->id), 0);
    s->pending++;
  }
  return 0;
}

static const acto_behaviour ag_racer_behaviour = {
    .name = "racer", .state_size = sizeof(ag_racer_state), .init = ag_racer_init,
    .handle = ag_racer_handle};

/* Spawns a racer counting into r; its targets end with reason own. */
static inline acto_ref ag_spawn_racer(acto_system *sys, ag_race *r, int own) {
  ag_racer_arg a = {r, own};
  acto_ref ref = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &ag_racer_behaviour, &a, NULL, &ref));
  return ref;
}

/* Runs rounds rounds of one race.  Each spawns a target with behaviour
 * tb; then this thread sends the racer `type` with the target's ref (the
 * racer makes its call on its worker) and ends the target with end(sys,
 * t), in alternating order with a random head start for the second; then
 * it waits for the racer's signal about the target and for the target to
 * be gone.  At the end, after QUIET_MS, there was exactly one signal a
 * round, each with the target's reason or NOPROC. */
static inline void ag_race_rounds(acto_system *sys, ag_race *r, acto_ref racer, uint32_t type,
                                  const acto_behaviour *tb,
                                  int (*end)(acto_system *sys, acto_ref t), int rounds) {
  unsigned seed = (unsigned)tu_now_ns();
  for (int i = 0; i < rounds; i++) {
    acto_ref t = ACTO_REF_NONE;
    ck_assert_ok(acto_spawn(sys, tb, NULL, NULL, &t));
    atomic_store(&r->target, t.id);
    ag_cmd c = {t, 0, NULL};
    int spin = (int)(rand_r(&seed) % 30000);
    if (i % 2) ck_assert_ok(acto_send(sys, racer, type, &c, sizeof c));
    else ck_assert_ok(end(sys, t));
    for (volatile int k = 0; k < spin; k++) {
    }
    if (i % 2) ck_assert_ok(end(sys, t));
    else ck_assert_ok(acto_send(sys, racer, type, &c, sizeof c));
    ck_assert_msg(tu_counter_wait_ge(&r->signals, i + 1, TU_WAIT_MS),
                  "round %d: no signal (%ld so far; callbacks: %s)", i,
                  tu_counter_get(&r->signals), tu_expect_summary());
    ck_assert_becomes_dead(sys, t);
  }
  tu_sleep_ms(QUIET_MS);
  ck_assert_int_eq(tu_counter_get(&r->signals), rounds);
  ck_assert_int_eq(atomic_load(&r->other), 0);
  ck_assert_int_eq(atomic_load(&r->ended) + atomic_load(&r->noproc), rounds);
}

#endif /* ACTO_TESTS_AGENT_H */
