/* supervisor.c - the supervisor behaviour: starting children, deciding
 * restarts, intensity, backoff, ordered group restarts and shutdown,
 * introspection.
 *
 * DESIGN
 * A supervisor is an ordinary actor that traps exits.  It learns about its
 * children in two ways: a child that FAILS stays alive, parked, and sends
 * ACTO__MSG_CHILD_FAILED (actor/child.c) - the supervisor answers with a
 * verdict (restart in place, or stop); a child that STOPS is gone, and its
 * link delivers ACTO_MSG_EXIT - the supervisor starts a new actor from the
 * spec if the restart type says so.  Both paths go through child_down(),
 * which applies the restart type, the intensity window and the strategy.
 *
 * Everything that waits (ordered group restarts, ordered shutdown, backoff,
 * shutdown timeouts, terminate_child) is a step of a small state machine
 * driven by messages, so the supervisor never blocks its worker:
 * - group restart (one-for-all, rest-for-one): phase 0 walks the group in
 *   reverse start order, asking each running worker to terminate and wait
 *   (SUSPEND -> CHILD_SUSPENDED) and shutting each nested supervisor down
 *   in order (its EXIT ends the wait); phase 1 walks it in start order,
 *   restarting each in place (VERDICT -> CHILD_STARTED) or starting a new
 *   actor for one that is gone.  Queued messages of every child survive.
 * - shutdown: children in reverse start order, each with an exit signal
 *   SHUTDOWN and a timer of its shutdown time, after which it is killed;
 *   the next child only when the previous one's EXIT arrived.  Dynamic
 *   (simple-one-for-one) children are stopped all at once, as in OTP.
 *   After the last child the supervisor stops with the shutdown reason;
 *   when it gave up (intensity) that reason is ACTO_EMAXRESTARTS, a
 *   failure, which its own supervisor sees as CHILD_FAILED and treats as
 *   OTP's `shutdown` for the restart type (child_down).
 * - terminate_child: the caller's request is kept (acto_reply_later) until
 *   the child's EXIT; several callers may wait for one child.
 * Starting: the children started in the supervisor's init are held (they
 * cannot run) until every one has started, so that a failing start can
 * stop them synchronously, in reverse order, without waiting (see the
 * DESIGN note above sup_init).
 * Children by hand (static supervisors, as OTP): a terminated child keeps
 * its spec, stopped with no ref (ST_DEAD), and so does a transient one that
 * ended or one whose init answered ACTO_INIT_IGNORE; restart_child starts
 * it again, delete_child removes the spec, add_child appends a new one.
 * Auto-shutdown counts only a significant child that ended by itself
 * (self_end), never one the supervisor stopped.
 * Remote children (cs.remote): started with acto_spawn_remote_async on
 * the node acto__spawn_place picks (ST_SPAWNING until spawn_done has the
 * answer; nothing waits), then linked, so that their end, their node's
 * loss included (ACTO_REASON_NOCONNECTION), arrives as an EXIT like a
 * local child's that stopped.  They are never restarted in place: every
 * restart spawns a new actor, so a group restart stops them (as nested
 * supervisors) and phase 1 waits for each spawn's answer in turn.  In
 * init they are not asked yet (a sibling that fails would leave them
 * orphaned): a SUP_T_SPAWN message to itself starts each one afterwards.
 * A spawn that fails is a failed start (retry_later).  A child stopped
 * while its spawn is under way is STOPPING with spawning set: a spawn
 * that succeeds is stopped at once, one that fails ends it.  An answer
 * that finds no child waiting for it (removed meanwhile) stops the actor
 * it names.  Cancelled asks (the supervisor ends) leave nothing to do:
 * the answer, if it comes, is a late reply and that actor runs on, the
 * one orphan this design allows.
 * Intensity: the times of the restarts within the last period_ms are kept
 * (at most `intensity` of them; 0 allows none); a restart that would make
 * one more fails the supervisor.  Times come from the system clock
 * (acto__system_now_ns), so the deterministic mode's virtual clock drives them
 * too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acto_supervisor.h"
#include "actor/actor_internal.h"
#include "actor/child.h"
#include "actor/clock.h"
#include "actor/reserved.h"
#include "transport/spawn_internal.h"

/* Requests (asked by the acto_supervisor_* calls) and timer messages:
 * reserved types (actor/msgtypes.h), which no user message can have, sent
 * with the runtime's internal ask and timer calls. */
#define SUP_REQ_WHICH ACTO__MSG_SUP_WHICH
#define SUP_REQ_COUNT ACTO__MSG_SUP_COUNT
#define SUP_REQ_START_CHILD ACTO__MSG_SUP_START_CHILD
#define SUP_REQ_TERMINATE_CHILD ACTO__MSG_SUP_TERMINATE_CHILD
#define SUP_REQ_TERMINATE_ID ACTO__MSG_SUP_TERMINATE_ID
#define SUP_REQ_RESTART_CHILD ACTO__MSG_SUP_RESTART_CHILD
#define SUP_REQ_DELETE_CHILD ACTO__MSG_SUP_DELETE_CHILD
#define SUP_REQ_ADD_CHILD ACTO__MSG_SUP_ADD_CHILD
#define SUP_T_KILL ACTO__MSG_SUP_T_KILL
#define SUP_T_RESTART ACTO__MSG_SUP_T_RESTART
#define SUP_T_GROUP ACTO__MSG_SUP_T_GROUP
#define SUP_T_SPAWN ACTO__MSG_SUP_T_SPAWN

enum {
  ST_RUNNING,
  ST_WAIT_VERDICT,
  ST_SUSPENDING,
  ST_SUSPENDED,
  ST_RESTARTING,
  ST_STOPPING,
  ST_DEAD,
  ST_SPAWNING /* a remote child being started (DESIGN: Remote children) */
};
enum { OP_NONE, OP_GROUP, OP_SHUTDOWN };

typedef struct sup_child {
  acto_child_spec cs; /* strings and arg point into the spec copy or own_* */
  char *own_id;
  void *own_arg;
  acto_sup_spec *own_spec; /* add_child: a one-child spec copy that cs points into */
  uint64_t serial;
  acto_ref ref;
  int st;
  uint32_t restarts;
  acto_timer timer;
  int removing; /* forget it once it is gone */
  /* It ended by itself and is not restarted; its stop is under way.  Only
   * such an ending counts for auto_shutdown (OTP), not a stop the
   * supervisor made (terminate_child, a group restart, shutdown). */
  int self_end;
  /* terminate_child callers waiting for it to be gone. */
  acto_reply_token *waiters;
  uint32_t nwaiters, capwaiters;
  /* The group restart (op_gen) during which terminate_child stopped it:
   * that restart does not start it again. */
  uint64_t term_gen;
  /* Started during the supervisor's init and not yet released: it cannot
   * run (acto__actor_spawn_child's hold). */
  int held;
  int ignoring; /* a restart in place was answered ACTO_INIT_IGNORE; it stops */
  /* A remote child (cs.remote, DESIGN: Remote children): the node it runs
   * on or ran on last (empty before its first start) and that node's id;
   * spawning: a remote spawn is under way (spawn_done gets its answer;
   * ST_SPAWNING without it: the first start, deferred past init); started:
   * it ran once (its next start is a restart); req: a restart_child (1) or
   * add_child (2) request kept until the spawn's answer. */
  char node[ACTO_NODE_NAME_MAX + 1];
  uint64_t node_id;
  int spawning;
  int started;
  int req;
  acto_reply_token req_tok;
} sup_child;

typedef struct sup {
  acto_sup_spec *spec;
  sup_child *c;
  size_t n, cap;
  uint64_t *hist; /* ring of restart times (ns) within the period */
  uint32_t hist_head, hist_n, hist_cap;
  int op;
  size_t op_lo, op_i;
  int op_phase;
  int op_reason;
  uint64_t op_gen;
  uint64_t serial_seq;
  uint32_t rng;
  acto_ref self;
  int in_init; /* children started now are held */
} sup;

/* The answer to start_child, restart_child and add_child. */
typedef struct start_reply {
  int32_t status;
  acto_ref ref;
} start_reply;

/* ---- spec copies ----------------------------------------------------------- */

static void spec_free(acto_sup_spec *s);

static char *dup_str(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static void remote_free(const acto_child_remote *r) {
  if (!r)
    return;
  free((char *)r->behaviour);
  free((char *)r->node);
  free((acto_child_remote *)r);
}

/* A copy of a remote child's description, its strings too. */
static acto_child_remote *remote_copy(const acto_child_remote *r) {
  acto_child_remote *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  *d = *r;
  d->behaviour = dup_str(r->behaviour);
  d->node = dup_str(r->node);
  if (!d->behaviour || (r->node && !d->node)) {
    remote_free(d);
    return NULL;
  }
  return d;
}

/* ---- spec checks ------------------------------------------------------------
 * A spec that breaks a rule is refused with ACTO_EINVAL and one log line
 * (level ERROR, component "supervisor") that names where (the path of
 * child ids down to the offending one) and the rule, in OTP's terms where
 * OTP has the same rule. */

#define SPEC_MAX_DEPTH 32
#define SPEC_MAX_CHILDREN 100000

typedef struct spec_err {
  char where[160]; /* "child \"inner\" > child \"c2\"", or "the spec" */
  const char *rule;
} spec_err;

static void where_push(spec_err *e, size_t *len, size_t i, const char *id) {
  size_t cap = sizeof e->where;
  if (*len >= cap - 1)
    return;
  int n = id && id[0] ? snprintf(e->where + *len, cap - *len, "%schild \"%.40s\"", *len ? " > " : "", id)
                      : snprintf(e->where + *len, cap - *len, "%schild #%zu", *len ? " > " : "", i);
  if (n > 0)
    *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

static int spec_check(const acto_sup_spec *s, int depth, spec_err *e, size_t len);

/* The rules of one child of a supervisor whose spec is `parent`; depth:
 * the parent's nesting level. */
static int child_check(const acto_child_spec *c, size_t i, const acto_sup_spec *parent, int depth,
                       spec_err *e, size_t len) {
  if (!c->id || !c->id[0])
    e->rule = "a child needs a non-empty id";
  else if (!ACTO__RESERVED_CLEAR(c))
    e->rule = "reserved words are not zero (built against a newer acto, or not initialised)";
  else if (c->behaviour && !ACTO__RESERVED_CLEAR(c->behaviour))
    e->rule = "the behaviour's reserved words are not zero";
  else if ((unsigned)c->restart > ACTO_TEMPORARY)
    e->rule = "restart is not ACTO_PERMANENT, ACTO_TRANSIENT or ACTO_TEMPORARY";
  else if ((unsigned)c->overflow > ACTO_OVERFLOW_DROP_OLDEST)
    e->rule = "overflow is not an acto_overflow policy";
  else if (c->capacity > ACTO_MAILBOX_MAX_CAPACITY)
    e->rule = "capacity is above ACTO_MAILBOX_MAX_CAPACITY";
  else if (c->shutdown_ms < ACTO_SHUTDOWN_INFINITY)
    e->rule = "shutdown_ms must be > 0 or one of ACTO_SHUTDOWN_DEFAULT, _BRUTAL, _INFINITY";
  else if (c->arg_size > 0 && !c->arg)
    e->rule = "arg_size > 0 with a NULL arg";
  else if (c->kind != ACTO_WORKER && c->kind != ACTO_SUPERVISOR)
    e->rule = "kind is not ACTO_WORKER or ACTO_SUPERVISOR";
  else if (c->remote && c->kind != ACTO_WORKER)
    e->rule = "a remote child (remote) must be an ACTO_WORKER";
  else if (c->remote && !ACTO__RESERVED_CLEAR(c->remote))
    e->rule = "remote's reserved words are not zero";
  else if (c->remote && (!c->remote->behaviour || !c->remote->behaviour[0] ||
                         strnlen(c->remote->behaviour, ACTO_NAME_MAX + 1) > ACTO_NAME_MAX))
    e->rule = "a remote child needs remote->behaviour, a registered name of 1 to 255 bytes";
  else if (c->remote && !c->remote->node && !c->remote->place)
    e->rule = "a remote child needs remote->node, remote->place or both";
  else if (c->remote && c->remote->node && !acto__spawn_node_name_ok(c->remote->node))
    e->rule = "remote->node is not a node name (1 to 64 bytes of [A-Za-z0-9._@-])";
  else if (c->remote && c->behaviour)
    e->rule = "a remote child has no local behaviour (behaviour must be NULL)";
  else if (c->remote && c->arg && c->arg_size == 0)
    e->rule = "a remote child's argument is bytes (arg_size > 0): a pointer cannot cross nodes";
  else if (c->remote && parent->strategy == ACTO_SIMPLE_ONE_FOR_ONE)
    e->rule = "a simple_one_for_one template cannot be remote";
  else if (c->kind == ACTO_WORKER && !c->remote && (!c->behaviour || !c->behaviour->handle))
    e->rule = "a worker needs a behaviour with a handle callback";
  else if (c->kind == ACTO_SUPERVISOR && !c->sup)
    e->rule = "an ACTO_SUPERVISOR child needs its nested spec (sup)";
  /* OTP's bad_combination rules: auto-shutdown counts only children that
   * may end for good, and only where auto-shutdown is on. */
  else if (c->significant && c->restart == ACTO_PERMANENT)
    e->rule = "a significant child must be transient or temporary, not permanent";
  else if (c->significant && parent->auto_shutdown == ACTO_AUTO_SHUTDOWN_NEVER)
    e->rule = "a significant child needs auto_shutdown ANY_SIGNIFICANT or ALL_SIGNIFICANT in its "
              "supervisor (auto_shutdown is NEVER)";
  if (e->rule) {
    where_push(e, &len, i, c->id);
    return -1;
  }
  if (c->kind == ACTO_SUPERVISOR) {
    size_t l = len;
    where_push(e, &l, i, c->id);
    return spec_check(c->sup, depth + 1, e, l);
  }
  return 0;
}

/* 0 if the spec (nested at depth) follows every rule; -1 with e set. */
static int spec_check(const acto_sup_spec *s, int depth, spec_err *e, size_t len) {
  if (depth > SPEC_MAX_DEPTH)
    e->rule = "supervisors nest deeper than 32 levels";
  else if (!ACTO__RESERVED_CLEAR(s))
    e->rule = "reserved words are not zero (built against a newer acto, or not initialised)";
  else if ((unsigned)s->strategy > ACTO_SIMPLE_ONE_FOR_ONE)
    e->rule = "strategy is not an acto_strategy";
  else if ((unsigned)s->auto_shutdown > ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT)
    e->rule = "auto_shutdown is not an acto_auto_shutdown";
  else if (s->jitter_pct > 100)
    e->rule = "jitter_pct is above 100";
  else if (s->nchildren > 0 && !s->children)
    e->rule = "nchildren > 0 with a NULL children array";
  else if (s->nchildren > SPEC_MAX_CHILDREN)
    e->rule = "more than 100000 children";
  else if (s->strategy == ACTO_SIMPLE_ONE_FOR_ONE && s->nchildren != 1)
    e->rule = "simple_one_for_one takes exactly one child spec, the template";
  else if (s->strategy == ACTO_SIMPLE_ONE_FOR_ONE && s->auto_shutdown != ACTO_AUTO_SHUTDOWN_NEVER)
    e->rule = "simple_one_for_one allows no auto_shutdown (it must be NEVER)";
  if (e->rule) {
    if (len == 0)
      snprintf(e->where, sizeof e->where, "the spec");
    return -1;
  }
  for (size_t i = 0; i < s->nchildren; i++) {
    const acto_child_spec *c = &s->children[i];
    if (child_check(c, i, s, depth, e, len) != 0)
      return -1;
    for (size_t k = 0; k < i; k++) {
      if (strcmp(s->children[k].id, c->id) == 0) {
        e->rule = "duplicate child id (ids are unique among siblings)";
        where_push(e, &len, i, c->id);
        return -1;
      }
    }
  }
  return 0;
}

static void spec_refused(acto_system *sys, const spec_err *e) {
  acto__log(sys, ACTO_LOG_ERROR, "supervisor", "spec refused: %s: %s", e->where, e->rule);
}

/* 1 if the top-level spec is valid; otherwise logs the rule and 0. */
static int spec_valid(acto_system *sys, const acto_sup_spec *s) {
  spec_err e;
  memset(&e, 0, sizeof e);
  if (!s) {
    e.rule = "no spec";
    snprintf(e.where, sizeof e.where, "the spec");
  } else if (spec_check(s, 0, &e, 0) == 0) {
    return 1;
  }
  spec_refused(sys, &e);
  return 0;
}

static acto_sup_spec *spec_copy(const acto_sup_spec *s) {
  acto_sup_spec *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  *d = *s;
  d->children = NULL;
  d->nchildren = 0;
  if (s->nchildren == 0)
    return d;
  acto_child_spec *cs = calloc(s->nchildren, sizeof(*cs));
  if (!cs) {
    free(d);
    return NULL;
  }
  d->children = cs;
  for (size_t i = 0; i < s->nchildren; i++) {
    const acto_child_spec *c = &s->children[i];
    cs[i] = *c;
    cs[i].id = dup_str(c->id);
    cs[i].name = dup_str(c->name);
    cs[i].sup = NULL;
    if (c->arg_size > 0) {
      void *a = malloc(c->arg_size);
      if (a)
        memcpy(a, c->arg, c->arg_size);
      cs[i].arg = a;
    }
    if (c->kind == ACTO_SUPERVISOR)
      cs[i].sup = spec_copy(c->sup);
    cs[i].remote = c->remote ? remote_copy(c->remote) : NULL;
    d->nchildren = i + 1;
    if (!cs[i].id || (c->name && !cs[i].name) || (c->arg_size > 0 && !cs[i].arg) ||
        (c->kind == ACTO_SUPERVISOR && !cs[i].sup) || (c->remote && !cs[i].remote)) {
      spec_free(d);
      return NULL;
    }
  }
  return d;
}

static void spec_free(acto_sup_spec *s) {
  if (!s)
    return;
  acto_child_spec *cs = (acto_child_spec *)s->children;
  for (size_t i = 0; i < s->nchildren; i++) {
    free((char *)cs[i].id);
    free((char *)cs[i].name);
    if (cs[i].arg_size > 0)
      free((void *)cs[i].arg);
    spec_free((acto_sup_spec *)cs[i].sup);
    remote_free(cs[i].remote);
  }
  free(cs);
  free(s);
}

/* ---- flat child specs (acto_supervisor_add_child) ----------------------------
 * The calling thread writes the child spec, nested specs included, into
 * the request's payload: the supervisor must not read the caller's
 * memory, which the caller may free as soon as its call returns (a
 * deadline can pass while the request is still queued).  Pointers that
 * stay pointers (behaviour, on_event, event_user, arg with arg_size 0)
 * are written as their values: the supervisor runs in the same process.
 * Strings are written with their NUL.  The reader rebuilds a view that
 * points into the payload, which spec_copy then copies. */

typedef struct flat_w {
  uint8_t *buf; /* NULL: only measure */
  size_t len;
} flat_w;

static void fw(flat_w *w, const void *p, size_t n) {
  if (w->buf && n)
    memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void fw_u64(flat_w *w, uint64_t v) { fw(w, &v, sizeof v); }

static void fw_str(flat_w *w, const char *str) {
  uint64_t n = str ? strlen(str) + 1 : 0; /* 0: NULL */
  fw_u64(w, n);
  fw(w, str, (size_t)n);
}

static void flat_sup(flat_w *w, const acto_sup_spec *sp);

static void flat_child(flat_w *w, const acto_child_spec *c) {
  fw_str(w, c->id);
  fw_str(w, c->name);
  fw_u64(w, (uint64_t)c->kind);
  fw_u64(w, (uint64_t)c->restart);
  fw_u64(w, (uint64_t)(int64_t)c->shutdown_ms);
  fw_u64(w, (uint64_t)c->significant);
  fw_u64(w, c->capacity);
  fw_u64(w, (uint64_t)c->overflow);
  fw(w, &c->behaviour, sizeof c->behaviour);
  fw_u64(w, c->remote ? 1 : 0);
  if (c->remote) {
    fw_str(w, c->remote->behaviour);
    fw_str(w, c->remote->node);
    fw(w, &c->remote->place, sizeof c->remote->place);
    fw(w, &c->remote->place_user, sizeof c->remote->place_user);
  }
  fw_u64(w, c->arg_size);
  if (c->arg_size > 0)
    fw(w, c->arg, c->arg_size);
  else
    fw(w, &c->arg, sizeof c->arg);
  if (c->kind == ACTO_SUPERVISOR)
    flat_sup(w, c->sup);
}

static void flat_sup(flat_w *w, const acto_sup_spec *sp) {
  fw_u64(w, (uint64_t)sp->strategy);
  fw_u64(w, sp->intensity);
  fw_u64(w, sp->period_ms);
  fw_u64(w, sp->backoff_min_ms);
  fw_u64(w, sp->backoff_max_ms);
  fw_u64(w, sp->jitter_pct);
  fw_u64(w, (uint64_t)sp->auto_shutdown);
  fw(w, &sp->on_event, sizeof sp->on_event);
  fw(w, &sp->event_user, sizeof sp->event_user);
  fw_u64(w, sp->nchildren);
  for (size_t i = 0; i < sp->nchildren; i++)
    flat_child(w, &sp->children[i]);
}

typedef struct flat_r {
  const uint8_t *p;
  size_t left;
  int bad;
} flat_r;

static const void *fr(flat_r *r, size_t n) {
  if (r->bad || n > r->left) {
    r->bad = 1;
    return NULL;
  }
  const void *q = r->p;
  r->p += n;
  r->left -= n;
  return q;
}

static uint64_t fr_u64(flat_r *r) {
  uint64_t v = 0;
  const void *q = fr(r, sizeof v);
  if (q)
    memcpy(&v, q, sizeof v);
  return v;
}

static const char *fr_str(flat_r *r) {
  uint64_t n = fr_u64(r);
  if (n == 0)
    return NULL;
  const char *str = fr(r, n > r->left ? r->left + 1 : (size_t)n);
  if (str && str[n - 1] != '\0')
    r->bad = 1;
  return str;
}

/* The view's arrays (not the strings, which point into the payload). */
static void view_free_sup(acto_sup_spec *sp) {
  if (!sp)
    return;
  acto_child_spec *cs = (acto_child_spec *)sp->children;
  for (size_t i = 0; cs && i < sp->nchildren; i++) {
    view_free_sup((acto_sup_spec *)cs[i].sup);
    free((acto_child_remote *)cs[i].remote);
  }
  free(cs);
  free(sp);
}

static acto_sup_spec *unflat_sup(flat_r *r, int depth);

static void unflat_child(flat_r *r, acto_child_spec *c, int depth) {
  memset(c, 0, sizeof *c);
  c->id = fr_str(r);
  c->name = fr_str(r);
  c->kind = (acto_child_kind)fr_u64(r);
  c->restart = (acto_restart)fr_u64(r);
  c->shutdown_ms = (int32_t)(int64_t)fr_u64(r);
  c->significant = (int)fr_u64(r);
  c->capacity = (uint32_t)fr_u64(r);
  c->overflow = (acto_overflow)fr_u64(r);
  const void *q = fr(r, sizeof c->behaviour);
  if (q)
    memcpy(&c->behaviour, q, sizeof c->behaviour);
  if (fr_u64(r) == 1) {
    /* A view: its strings point into the payload; view_free frees it. */
    acto_child_remote *rv = calloc(1, sizeof *rv);
    if (!rv) {
      r->bad = 1;
      return;
    }
    c->remote = rv;
    rv->behaviour = fr_str(r);
    rv->node = fr_str(r);
    if ((q = fr(r, sizeof rv->place)) != NULL)
      memcpy(&rv->place, q, sizeof rv->place);
    if ((q = fr(r, sizeof rv->place_user)) != NULL)
      memcpy(&rv->place_user, q, sizeof rv->place_user);
  }
  c->arg_size = (size_t)fr_u64(r);
  if (c->arg_size > 0) {
    c->arg = fr(r, c->arg_size);
  } else if ((q = fr(r, sizeof c->arg)) != NULL) {
    memcpy(&c->arg, q, sizeof c->arg);
  }
  if (!r->bad && c->kind == ACTO_SUPERVISOR)
    c->sup = unflat_sup(r, depth + 1);
}

static acto_sup_spec *unflat_sup(flat_r *r, int depth) {
  if (depth > SPEC_MAX_DEPTH + 1) {
    r->bad = 1;
    return NULL;
  }
  acto_sup_spec *sp = calloc(1, sizeof *sp);
  if (!sp) {
    r->bad = 1;
    return NULL;
  }
  sp->strategy = (acto_strategy)fr_u64(r);
  sp->intensity = (uint32_t)fr_u64(r);
  sp->period_ms = (uint32_t)fr_u64(r);
  sp->backoff_min_ms = (uint32_t)fr_u64(r);
  sp->backoff_max_ms = (uint32_t)fr_u64(r);
  sp->jitter_pct = (uint32_t)fr_u64(r);
  sp->auto_shutdown = (acto_auto_shutdown)fr_u64(r);
  const void *q = fr(r, sizeof sp->on_event);
  if (q)
    memcpy(&sp->on_event, q, sizeof sp->on_event);
  if ((q = fr(r, sizeof sp->event_user)) != NULL)
    memcpy(&sp->event_user, q, sizeof sp->event_user);
  uint64_t n = fr_u64(r);
  if (r->bad || n > SPEC_MAX_CHILDREN) {
    r->bad = 1;
    return sp;
  }
  acto_child_spec *cs = n ? calloc((size_t)n, sizeof *cs) : NULL;
  if (n && !cs) {
    r->bad = 1;
    return sp;
  }
  sp->children = cs;
  for (uint64_t i = 0; i < n && !r->bad; i++) {
    unflat_child(r, &cs[i], depth);
    sp->nchildren = (size_t)i + 1;
  }
  return sp;
}

/* ---- helpers --------------------------------------------------------------- */

static uint64_t now_ns(acto_ctx *ctx) { return acto__system_now_ns(acto_ctx_system(ctx)); }

static void event(acto_ctx *ctx, sup *s, const sup_child *c, acto_sup_event ev, int reason) {
  /* ctx is NULL when a parent's init tears a held nested tree down. */
  if (ev == ACTO_SUP_CHILD_RESTARTED && ctx)
    acto__system_count_restart(acto_ctx_system(ctx));
  if (s->spec->on_event)
    s->spec->on_event(s->spec->event_user, s->self, c ? c->cs.id : "", ev, reason);
}

static sup_child *find_ref(sup *s, acto_ref r) {
  if (acto_ref_is_none(r))
    return NULL;
  for (size_t i = 0; i < s->n; i++)
    if (acto_ref_eq(s->c[i].ref, r))
      return &s->c[i];
  return NULL;
}

static sup_child *find_serial(sup *s, uint64_t serial) {
  for (size_t i = 0; i < s->n; i++)
    if (s->c[i].serial == serial)
      return &s->c[i];
  return NULL;
}

static sup_child *add_child(sup *s, const acto_child_spec *cs) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    sup_child *nv = realloc(s->c, nc * sizeof(*nv));
    if (!nv)
      return NULL;
    s->c = nv;
    s->cap = nc;
  }
  sup_child *c = &s->c[s->n++];
  memset(c, 0, sizeof(*c));
  c->cs = *cs;
  c->serial = ++s->serial_seq;
  c->st = ST_DEAD;
  return c;
}

/* Answers every terminate_child waiting for c. */
static void answer_waiters(acto_system *sys, sup_child *c, int32_t status) {
  for (uint32_t i = 0; i < c->nwaiters; i++)
    acto_reply_to(sys, &c->waiters[i], 0, &status, sizeof status);
  c->nwaiters = 0;
}

static int add_waiter(acto_ctx *ctx, sup_child *c) {
  if (c->nwaiters == c->capwaiters) {
    uint32_t cap = c->capwaiters ? c->capwaiters * 2 : 2;
    acto_reply_token *v = realloc(c->waiters, cap * sizeof *v);
    if (!v)
      return ACTO_ENOMEM;
    c->waiters = v;
    c->capwaiters = cap;
  }
  int r = acto_reply_later(ctx, &c->waiters[c->nwaiters]);
  if (r == 0)
    c->nwaiters++;
  return r;
}

static void remove_child(sup *s, sup_child *c) {
  free(c->own_id);
  free(c->own_arg);
  free(c->waiters);
  spec_free(c->own_spec);
  size_t i = (size_t)(c - s->c);
  memmove(&s->c[i], &s->c[i + 1], (s->n - i - 1) * sizeof(*c));
  s->n--;
  /* Keep the position of a walk in progress on the same child. */
  if (s->op != OP_NONE && i < s->op_i)
    s->op_i--;
  if (s->op != OP_NONE && i < s->op_lo)
    s->op_lo--;
}

static int32_t shutdown_ms_of(const sup_child *c) {
  if (c->cs.shutdown_ms != ACTO_SHUTDOWN_DEFAULT)
    return c->cs.shutdown_ms;
  return c->cs.kind == ACTO_SUPERVISOR ? ACTO_SHUTDOWN_INFINITY : 5000;
}

static void set_timer(acto_ctx *ctx, uint32_t type, uint64_t data, int64_t ms, acto_timer *t);

/* start_fresh's answer for a remote child whose start is under way: its
 * outcome comes later (spawn_done).  Positive: no acto code. */
#define START_PENDING 1
/* How long a remote start may wait for its answer before it fails. */
#define SPAWN_TIMEOUT_MS 10000

static void spawn_done(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user);

/* Starts remote child c: asks the node the placement picks to spawn it.
 * START_PENDING, or why it could not be asked (ACTO_ENOTCONN: no node to
 * place it on). */
static int start_remote(acto_ctx *ctx, sup *s, sup_child *c) {
  (void)s;
  acto_system *sys = acto_ctx_system(ctx);
  char node[ACTO_NODE_NAME_MAX + 1];
  int r = acto__spawn_place(sys, c->cs.remote, c->cs.id, c->node[0] ? c->node : NULL, node);
  if (r != 0) {
    acto__log(sys, ACTO_LOG_WARN, "supervisor", "remote child \"%s\": no node to start it on (%s)",
              c->cs.id, acto_err_name(r));
    return r;
  }
  acto_spawn_opts o;
  memset(&o, 0, sizeof o);
  o.name = c->cs.name;
  o.capacity = c->cs.capacity;
  o.overflow = c->cs.overflow;
  r = acto_spawn_remote_async(ctx, node, c->cs.remote->behaviour, c->cs.arg, c->cs.arg_size, &o,
                              SPAWN_TIMEOUT_MS, spawn_done, (void *)(uintptr_t)c->serial, NULL);
  if (r < 0) {
    acto__log(sys, ACTO_LOG_WARN, "supervisor", "remote child \"%s\": spawn on node %s: %s",
              c->cs.id, node, acto_err_name(r));
    return r;
  }
  memcpy(c->node, node, sizeof node);
  c->ref = ACTO_REF_NONE;
  c->st = ST_SPAWNING;
  c->spawning = 1;
  return START_PENDING;
}

static int start_fresh(acto_ctx *ctx, sup *s, sup_child *c) {
  if (c->cs.remote) {
    if (!s->in_init)
      return start_remote(ctx, s, c);
    /* In init: after it (a failing sibling would leave an orphan there). */
    c->st = ST_SPAWNING;
    c->spawning = 0;
    set_timer(ctx, SUP_T_SPAWN, c->serial, 0, &c->timer);
    return START_PENDING;
  }
  acto_spawn_opts o = {.name = c->cs.name, .capacity = c->cs.capacity, .overflow = c->cs.overflow};
  acto_ref ref;
  int r;
  if (c->cs.kind == ACTO_SUPERVISOR)
    r = acto__actor_spawn_child(ctx, acto_supervisor_behaviour(), c->cs.sup, &o, s->in_init, &ref);
  else
    r = acto__actor_spawn_child(ctx, c->cs.behaviour, c->cs.arg, &o, s->in_init, &ref);
  if (r != 0)
    return r;
  c->ref = ref;
  c->st = ST_RUNNING;
  c->held = s->in_init;
  return 0;
}

/* A start that init answered with ACTO_INIT_IGNORE: not running and not a
 * failure (no restart is tried).  As in OTP, a temporary or dynamic child
 * is forgotten, any other is kept, stopped with no ref.  1 if c was
 * removed. */
static int child_ignored(acto_ctx *ctx, sup *s, sup_child *c) {
  c->st = ST_DEAD;
  c->ref = ACTO_REF_NONE;
  c->held = 0;
  event(ctx, s, c, ACTO_SUP_CHILD_IGNORED, 0);
  if (c->cs.restart == ACTO_TEMPORARY || s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE) {
    remove_child(s, c);
    return 1;
  }
  return 0;
}

static void cancel_timer(acto_ctx *ctx, sup_child *c) {
  if (c->timer) {
    acto_timer_cancel(acto_ctx_system(ctx), c->timer);
    c->timer = 0;
  }
}

static void set_timer(acto_ctx *ctx, uint32_t type, uint64_t data, int64_t ms, acto_timer *t) {
  acto__timer_send_after(acto_ctx_system(ctx), acto_self(ctx), type, &data, sizeof data, ms, t);
}

/* Records a restart; 0 if it exceeds the intensity (the supervisor gives
 * up).  Intensity 0 allows none: the first restart gives up (OTP). */
static int intensity_ok(acto_ctx *ctx, sup *s) {
  uint64_t now = now_ns(ctx);
  uint64_t period = (uint64_t)s->spec->period_ms * 1000000ull;
  /* The ring holds the restart times still inside the window, oldest at
   * head: drop those that left it, then there is room or not.  Intensity
   * 0 allows none: the first restart gives up (OTP's MaxR = 0). */
  while (s->hist_n > 0 && now - s->hist[s->hist_head] >= period) {
    s->hist_head = (s->hist_head + 1) % s->hist_cap;
    s->hist_n--;
  }
  if (s->hist_n >= s->spec->intensity)
    return 0;
  if (s->hist_n == s->hist_cap) {
    /* The ring grows with the restarts actually inside one period, never
     * past intensity.  It used to be sized to intensity up front: with a
     * large intensity (the soak's 1,000,000: 8 MB) the ring's head walked
     * through the lazily zeroed allocation and touched a new page every
     * 512 restarts, so RSS grew for as long as restarts went on.  Out of
     * memory here counts as too many restarts: the supervisor gives up
     * rather than restart without counting. */
    uint64_t nc = s->hist_cap ? (uint64_t)s->hist_cap * 2 : 16; /* allocated at the first */
    if (nc > s->spec->intensity)
      nc = s->spec->intensity;
    uint64_t *nh = nc <= SIZE_MAX / sizeof(*nh) ? malloc((size_t)nc * sizeof(*nh)) : NULL;
    if (!nh)
      return 0;
    for (uint32_t i = 0; i < s->hist_n; i++)
      nh[i] = s->hist[(s->hist_head + i) % s->hist_cap];
    free(s->hist);
    s->hist = nh;
    s->hist_cap = (uint32_t)nc;
    s->hist_head = 0;
  }
  s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = now;
  s->hist_n++;
  return 1;
}

/* The backoff before the current restart (after intensity_ok recorded it). */
static int64_t backoff_ms(sup *s) {
  const acto_sup_spec *sp = s->spec;
  if (sp->backoff_min_ms == 0)
    return 0;
  uint64_t d = sp->backoff_min_ms;
  for (uint32_t i = 1; i < s->hist_n && d < sp->backoff_max_ms; i++)
    d *= 2;
  if (sp->backoff_max_ms && d > sp->backoff_max_ms)
    d = sp->backoff_max_ms;
  if (sp->jitter_pct) {
    s->rng = s->rng * 1103515245u + 12345u;
    int64_t span = (int64_t)d * sp->jitter_pct / 100;
    int64_t off = span ? (int64_t)(s->rng >> 8) % (2 * span + 1) - span : 0;
    d = (uint64_t)((int64_t)d + off);
  }
  return (int64_t)d;
}

static void shutdown_step(acto_ctx *ctx, sup *s);
static void group_step(acto_ctx *ctx, sup *s);
static void child_down(acto_ctx *ctx, sup *s, sup_child *c, int reason, int alive);
static void retry_later(acto_ctx *ctx, sup *s, sup_child *c);

/* Asks a child to stop within its shutdown time. */
/* A remote child whose first start is still deferred (nothing asked
 * yet): it simply does not start.  1 if c was such a child (now DEAD). */
static int drop_deferred(acto_ctx *ctx, sup_child *c) {
  if (c->st != ST_SPAWNING || c->spawning)
    return 0;
  cancel_timer(ctx, c);
  c->st = ST_DEAD;
  return 1;
}

static void stop_child(acto_ctx *ctx, sup *s, sup_child *c) {
  (void)s;
  acto_system *sys = acto_ctx_system(ctx);
  if (drop_deferred(ctx, c))
    return;
  cancel_timer(ctx, c);
  switch (c->st) {
  case ST_SPAWNING:
    break; /* its answer finds it STOPPING (spawn_done) */
  case ST_WAIT_VERDICT:
  case ST_SUSPENDED:
    acto__child_stop(sys, c->ref, ACTO_REASON_SHUTDOWN);
    break;
  case ST_DEAD:
  case ST_STOPPING:
    return;
  default: {
    int32_t ms = shutdown_ms_of(c);
    if (ms == ACTO_SHUTDOWN_BRUTAL) {
      acto_kill(sys, c->ref);
    } else {
      acto_exit(sys, c->ref, ACTO_REASON_SHUTDOWN);
      if (ms > 0)
        set_timer(ctx, SUP_T_KILL, c->serial, ms, &c->timer);
    }
  }
  }
  c->st = ST_STOPPING;
}

static void begin_shutdown(acto_ctx *ctx, sup *s, int reason) {
  if (s->op == OP_SHUTDOWN)
    return;
  s->op = OP_SHUTDOWN;
  s->op_reason = reason;
  s->op_i = s->n;
  event(ctx, s, NULL, ACTO_SUP_SHUTDOWN, reason);
  if (s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE)
    for (size_t i = 0; i < s->n; i++)
      stop_child(ctx, s, &s->c[i]);
  shutdown_step(ctx, s);
}

static void shutdown_step(acto_ctx *ctx, sup *s) {
  if (s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE) {
    for (size_t i = 0; i < s->n; i++)
      if (s->c[i].st != ST_DEAD)
        return;
  } else {
    while (s->op_i > 0) {
      sup_child *c = &s->c[s->op_i - 1];
      if (c->st == ST_DEAD || drop_deferred(ctx, c)) {
        s->op_i--;
        continue;
      }
      if (c->st != ST_STOPPING)
        stop_child(ctx, s, c);
      return; /* wait for its EXIT */
    }
  }
  s->op = OP_NONE;
  acto_exit_self(ctx, s->op_reason);
}

static void begin_group(acto_ctx *ctx, sup *s, size_t lo) {
  s->op = OP_GROUP;
  s->op_lo = lo;
  s->op_phase = 0;
  s->op_i = s->n;
  s->op_gen++;
  group_step(ctx, s);
}

static void group_step(acto_ctx *ctx, sup *s) {
  acto_system *sys = acto_ctx_system(ctx);
  if (s->op_phase == 0) {
    while (s->op_i > s->op_lo) {
      sup_child *c = &s->c[s->op_i - 1];
      drop_deferred(ctx, c);
      if ((c->st == ST_RUNNING || c->st == ST_SPAWNING) && c->cs.remote) {
        /* A remote child cannot be suspended in place: it is stopped and
         * started afresh (on the node the placement picks then). */
        stop_child(ctx, s, c);
        return; /* wait for its EXIT (or its spawn's answer) */
      }
      if ((c->st == ST_RUNNING || c->st == ST_RESTARTING) && c->cs.kind == ACTO_SUPERVISOR) {
        /* A nested supervisor is shut down in order and started afresh:
         * suspending it in place would not wait for its own children, and
         * old and new grandchildren would overlap. */
        stop_child(ctx, s, c);
        return; /* wait for its EXIT */
      }
      if (c->st == ST_RUNNING || c->st == ST_RESTARTING) {
        acto__child_suspend_cmd(sys, c->ref);
        c->st = ST_SUSPENDING;
        return; /* wait for CHILD_SUSPENDED */
      }
      if (c->st == ST_SUSPENDING || c->st == ST_STOPPING)
        return;
      s->op_i--;
    }
    s->op_phase = 1;
    s->op_i = s->op_lo;
    int64_t d = backoff_ms(s);
    if (d > 0) {
      acto_timer t;
      s->op_phase = 2;
      set_timer(ctx, SUP_T_GROUP, s->op_gen, d, &t);
      return;
    }
  }
  if (s->op_phase == 2)
    return; /* waiting for the backoff timer */
  for (;;) {
    /* One child at a time, in start order: the one restarted last (just
     * before op_i; removals before it keep it there) must have answered
     * (CHILD_STARTED, or IGNORED) before the next one starts, whatever
     * else (a temporary sibling's EXIT) calls this meanwhile. */
    if (s->op_i > s->op_lo &&
        (s->c[s->op_i - 1].st == ST_RESTARTING || s->c[s->op_i - 1].st == ST_SPAWNING))
      return;
    if (s->op_i >= s->n)
      break;
    sup_child *c = &s->c[s->op_i];
    if (c->st == ST_RESTARTING || c->st == ST_SPAWNING)
      return; /* wait for CHILD_STARTED (or the spawn's answer) */
    s->op_i++;
    if (c->cs.restart == ACTO_TEMPORARY && c->st != ST_RUNNING) {
      /* Temporary children are not restarted: they go. */
      c->removing = 1;
      if (c->st == ST_DEAD)
        remove_child(s, c);
      else
        stop_child(ctx, s, c);
      continue;
    }
    if (c->st == ST_SUSPENDED || c->st == ST_WAIT_VERDICT) {
      acto__child_restart(sys, c->ref);
      c->restarts++;
      c->st = ST_RESTARTING;
      return;
    }
    if (c->st == ST_DEAD && c->term_gen != s->op_gen) {
      int r = start_fresh(ctx, s, c);
      if (r == START_PENDING) {
        c->restarts++;
        return; /* spawn_done goes on */
      } else if (r == 0) {
        c->restarts++;
        event(ctx, s, c, ACTO_SUP_CHILD_RESTARTED, 0);
      } else if (r == ACTO_EIGNORED) {
        child_ignored(ctx, s, c);
      } else {
        /* Finish the group without it; it is retried on its own. */
        retry_later(ctx, s, c);
        if (s->op != OP_GROUP)
          return; /* that retry made it give up: the shutdown goes on */
      }
    }
  }
  s->op = OP_NONE;
}

/* A new actor for a child that is gone could not start (its init failed,
 * or its name is still held by the old one that is stopping): try again
 * a little later, through a message, counting against the intensity like
 * any restart (OTP's try_again_restart). */
#define RETRY_MS 10

static void retry_later(acto_ctx *ctx, sup *s, sup_child *c) {
  event(ctx, s, c, ACTO_SUP_CHILD_FAILED, ACTO_ECHILD);
  if (!intensity_ok(ctx, s)) {
    event(ctx, s, c, ACTO_SUP_GAVE_UP, ACTO_ECHILD);
    begin_shutdown(ctx, s, ACTO_EMAXRESTARTS);
    return;
  }
  int64_t d = backoff_ms(s);
  set_timer(ctx, SUP_T_RESTART, c->serial, d > RETRY_MS ? d : RETRY_MS, &c->timer);
}

static void restart_one(acto_ctx *ctx, sup *s, sup_child *c) {
  if (c->st == ST_WAIT_VERDICT) {
    acto__child_restart(acto_ctx_system(ctx), c->ref);
    c->st = ST_RUNNING; /* CHILD_STARTED, or CHILD_FAILED if init fails */
    return;
  }
  int r = start_fresh(ctx, s, c);
  if (r == START_PENDING)
    return; /* spawn_done reports it */
  if (r == 0)
    event(ctx, s, c, ACTO_SUP_CHILD_RESTARTED, 0);
  else if (r == ACTO_EIGNORED)
    child_ignored(ctx, s, c);
  else
    retry_later(ctx, s, c);
}

static void check_auto_shutdown(acto_ctx *ctx, sup *s, int significant) {
  if (!significant || s->op == OP_SHUTDOWN)
    return;
  if (s->spec->auto_shutdown == ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT) {
    begin_shutdown(ctx, s, ACTO_REASON_SHUTDOWN);
  } else if (s->spec->auto_shutdown == ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT) {
    for (size_t i = 0; i < s->n; i++)
      if (s->c[i].cs.significant && s->c[i].st != ST_DEAD)
        return;
    begin_shutdown(ctx, s, ACTO_REASON_SHUTDOWN);
  }
}

/* A child failed (alive: parked, awaiting a verdict) or is gone. */
static void child_down(acto_ctx *ctx, sup *s, sup_child *c, int reason, int alive) {
  acto_system *sys = acto_ctx_system(ctx);
  if (!alive) {
    c->ref = ACTO_REF_NONE;
    c->st = ST_DEAD;
  } else {
    c->st = ST_WAIT_VERDICT;
  }
  cancel_timer(ctx, c);
  if (s->op == OP_SHUTDOWN) {
    if (alive)
      stop_child(ctx, s, c);
    shutdown_step(ctx, s);
    return;
  }
  /* A supervisor that gave up ends with ACTO_EMAXRESTARTS, which links,
   * monitors and the crash hook see; for the restart type it counts as
   * OTP's `shutdown`, the reason an OTP supervisor gives up with: a
   * permanent child is restarted, a transient or temporary one is not. */
  int abnormal = reason != ACTO_REASON_NORMAL && reason != ACTO_REASON_SHUTDOWN &&
                 reason != ACTO_EMAXRESTARTS;
  int restart = c->cs.restart == ACTO_PERMANENT || (c->cs.restart == ACTO_TRANSIENT && abnormal);
  /* The whole system is stopping: nothing is restarted. */
  if (atomic_load_explicit(&sys->shutting_down, memory_order_relaxed))
    restart = 0;
  if (!restart || c->removing) {
    int significant = c->cs.significant;
    if (alive) {
      c->removing |= c->cs.restart == ACTO_TEMPORARY ||
                     s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE;
      c->self_end = 1;
      acto__child_stop(sys, c->ref, reason);
      c->st = ST_STOPPING;
      return; /* its EXIT finishes the job */
    }
    answer_waiters(sys, c, 0);
    if (c->cs.restart == ACTO_TEMPORARY || s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE ||
        c->removing)
      remove_child(s, c);
    check_auto_shutdown(ctx, s, significant);
    if (s->op == OP_GROUP)
      group_step(ctx, s);
    return;
  }
  if (!intensity_ok(ctx, s)) {
    event(ctx, s, c, ACTO_SUP_GAVE_UP, reason);
    begin_shutdown(ctx, s, ACTO_EMAXRESTARTS);
    return;
  }
  switch (s->spec->strategy) {
  case ACTO_ONE_FOR_ALL:
    begin_group(ctx, s, 0);
    return;
  case ACTO_REST_FOR_ONE:
    begin_group(ctx, s, (size_t)(c - s->c));
    return;
  default: {
    c->restarts++; /* group strategies count each child as it restarts */
    int64_t d = backoff_ms(s);
    if (d > 0)
      set_timer(ctx, SUP_T_RESTART, c->serial, d, &c->timer);
    else
      restart_one(ctx, s, c);
    return;
  }
  }
}

/* ---- events ---------------------------------------------------------------- */

static void on_exit_msg(acto_ctx *ctx, sup *s, const acto_exit_signal *es) {
  sup_child *c = find_ref(s, es->from);
  if (!c) {
    /* The parent (or a plain thread) tells the supervisor to stop; exits
     * from anyone else are ignored, as in OTP. */
    acto__actor_ext *e = acto__actor_ext_peek(ctx->self);
    int from_parent = e && acto_ref_eq(e->parent, es->from);
    if (acto_ref_is_none(es->from) || from_parent)
      begin_shutdown(ctx, s, es->reason == ACTO_REASON_NORMAL ? ACTO_REASON_SHUTDOWN : es->reason);
    return;
  }
  if (c->st == ST_STOPPING) {
    cancel_timer(ctx, c);
    c->st = ST_DEAD;
    c->ref = ACTO_REF_NONE;
    if (!c->ignoring) /* CHILD_IGNORED was its event */
      event(ctx, s, c, ACTO_SUP_CHILD_STOPPED, es->reason);
    c->ignoring = 0;
    answer_waiters(acto_ctx_system(ctx), c, 0);
    int significant = c->cs.significant && c->self_end;
    c->self_end = 0;
    if (c->removing || (s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE && s->op != OP_SHUTDOWN))
      remove_child(s, c);
    if (s->op == OP_SHUTDOWN)
      shutdown_step(ctx, s);
    else {
      check_auto_shutdown(ctx, s, significant);
      if (s->op == OP_GROUP)
        group_step(ctx, s);
    }
    return;
  }
  event(ctx, s, c, ACTO_SUP_CHILD_EXITED, es->reason);
  child_down(ctx, s, c, es->reason, 0);
}

static void on_child_event(acto_ctx *ctx, sup *s, uint32_t type, const acto__child_event *ev) {
  acto_system *sys = acto_ctx_system(ctx);
  sup_child *c = find_ref(s, ev->child);
  if (!c) {
    /* Not (or no longer) ours: never leave a child waiting (one that
     * started or was ignored waits for nothing). */
    if (type == ACTO__MSG_CHILD_FAILED || type == ACTO__MSG_CHILD_SUSPENDED)
      acto__child_stop(sys, ev->child, ACTO_REASON_SHUTDOWN);
    return;
  }
  switch (type) {
  case ACTO__MSG_CHILD_FAILED:
    event(ctx, s, c, ACTO_SUP_CHILD_FAILED, ev->reason);
    if (c->st == ST_STOPPING) {
      acto__child_stop(sys, c->ref, ACTO_REASON_SHUTDOWN);
      return;
    }
    child_down(ctx, s, c, ev->reason, 1);
    return;
  case ACTO__MSG_CHILD_SUSPENDED:
    if (c->st == ST_STOPPING) {
      acto__child_stop(sys, c->ref, ACTO_REASON_SHUTDOWN);
      return;
    }
    c->st = ST_SUSPENDED;
    if (s->op == OP_GROUP && s->op_phase == 0) {
      s->op_i--;
      group_step(ctx, s);
    }
    return;
  case ACTO__MSG_CHILD_STARTED:
    event(ctx, s, c, ACTO_SUP_CHILD_RESTARTED, 0);
    if (c->st == ST_RESTARTING) {
      c->st = ST_RUNNING;
      if (s->op == OP_GROUP)
        group_step(ctx, s);
    }
    return;
  case ACTO__MSG_CHILD_IGNORED: {
    /* Restarted in place, its init answered ignore: it is stopping by
     * itself; its EXIT makes it stopped (or forgotten, if dynamic). */
    int restarting = c->st == ST_RESTARTING;
    event(ctx, s, c, ACTO_SUP_CHILD_IGNORED, 0);
    if (c->st != ST_STOPPING) {
      c->st = ST_STOPPING;
      c->ignoring = 1;
    }
    if (restarting && s->op == OP_GROUP)
      group_step(ctx, s);
    return;
  }
  default:
    return;
  }
}

/* ---- remote children -----------------------------------------------------------
 * The answer to a remote child's spawn (start_remote), on the supervisor:
 * the continuation of acto_spawn_remote_async, user the child's serial. */

static void answer_req(acto_ctx *ctx, sup *s, sup_child *c, int32_t status) {
  if (!c->req)
    return;
  start_reply rep = {status, status == 0 ? c->ref : ACTO_REF_NONE};
  acto_reply_to(acto_ctx_system(ctx), &c->req_tok, 0, &rep, sizeof rep);
  int was_add = c->req == 2;
  c->req = 0;
  if (status != 0 && was_add)
    remove_child(s, c); /* add_child keeps no spec of a child that failed (OTP) */
}

static void spawn_done(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  sup *s = state;
  acto_system *sys = acto_ctx_system(ctx);
  if (status == ACTO_ECANCELED)
    return; /* the supervisor's incarnation ends: its terminate stops what it knows */
  acto_ref ref = ACTO_REF_NONE;
  int r = acto_spawn_remote_result(status, reply, &ref);
  sup_child *c = find_serial(s, (uint64_t)(uintptr_t)user);
  if (!c || !c->spawning) {
    if (r == 0) /* forgotten meanwhile: it must not run unsupervised */
      acto_exit(sys, ref, ACTO_REASON_SHUTDOWN);
    return;
  }
  c->spawning = 0;
  if (r == 0 && (r = acto_link(ctx, ref)) != 0)
    acto_exit(sys, ref, ACTO_REASON_SHUTDOWN);
  if (r == 0) {
    c->ref = ref;
    c->node_id = ref.node;
    if (c->st == ST_STOPPING) {
      /* Stopped while it was being started: stop it now; its EXIT
       * finishes the stop as for any child. */
      c->st = ST_RUNNING;
      stop_child(ctx, s, c);
      return;
    }
    c->st = ST_RUNNING;
    acto__log(sys, ACTO_LOG_INFO, "supervisor", "remote child \"%s\" runs on node %s", c->cs.id,
              c->node);
    event(ctx, s, c, c->started && !c->req ? ACTO_SUP_CHILD_RESTARTED : ACTO_SUP_CHILD_STARTED, 0);
    c->started = 1;
    answer_req(ctx, s, c, 0);
    if (s->op == OP_GROUP)
      group_step(ctx, s);
    return;
  }
  acto__log(sys, ACTO_LOG_WARN, "supervisor", "remote child \"%s\": spawn on node %s: %s", c->cs.id,
            c->node, acto_err_name(r));
  c->ref = ACTO_REF_NONE;
  int stopping = c->st == ST_STOPPING;
  c->st = ST_DEAD;
  if (stopping) {
    /* As its EXIT would have (on_exit_msg). */
    answer_waiters(sys, c, 0);
    answer_req(ctx, s, c, ACTO_ESHUTDOWN);
    if (c->removing)
      remove_child(s, c);
    if (s->op == OP_SHUTDOWN)
      shutdown_step(ctx, s);
    else if (s->op == OP_GROUP)
      group_step(ctx, s);
    return;
  }
  if (c->req) {
    /* restart_child, add_child: the caller hears it; no retry. */
    answer_req(ctx, s, c, ACTO_ECHILD); /* as a local start that failed */
    return;
  }
  if (r == ACTO_EIGNORED) {
    child_ignored(ctx, s, c);
  } else {
    retry_later(ctx, s, c); /* a failed start: counts toward intensity */
  }
  if (s->op == OP_GROUP)
    group_step(ctx, s);
}

static void on_timer(acto_ctx *ctx, sup *s, uint32_t type, uint64_t data) {
  if (type == SUP_T_GROUP) {
    if (s->op == OP_GROUP && s->op_gen == data && s->op_phase == 2) {
      s->op_phase = 1;
      group_step(ctx, s);
    }
    return;
  }
  sup_child *c = find_serial(s, data);
  if (!c)
    return;
  c->timer = 0;
  if (type == SUP_T_SPAWN) {
    /* The first start of a remote child, deferred past init. */
    if (c->st == ST_SPAWNING && !c->spawning) {
      c->st = ST_DEAD;
      int r = start_remote(ctx, s, c);
      if (r != START_PENDING)
        retry_later(ctx, s, c); /* a failed start */
    }
  } else if (type == SUP_T_KILL) {
    if (c->st == ST_STOPPING && !acto_ref_is_none(c->ref))
      acto_kill(acto_ctx_system(ctx), c->ref);
  } else if (type == SUP_T_RESTART) {
    if ((c->st == ST_WAIT_VERDICT || c->st == ST_DEAD) && s->op == OP_NONE)
      restart_one(ctx, s, c);
  }
}

static acto_child_state public_state(int st) {
  switch (st) {
  case ST_RUNNING:
    return ACTO_CHILD_RUNNING;
  case ST_STOPPING:
    return ACTO_CHILD_STOPPING;
  case ST_DEAD:
    return ACTO_CHILD_STOPPED;
  default:
    return ACTO_CHILD_RESTARTING;
  }
}

static void reply_status(acto_ctx *ctx, int32_t st) { acto_reply(ctx, 0, &st, sizeof st); }

/* The NUL-terminated id a request carries, or NULL. */
static const char *req_id(const acto_msg *m) {
  if (m->size < 2 || ((const char *)m->data)[m->size - 1] != '\0')
    return NULL;
  return m->data;
}

static sup_child *find_id(sup *s, const char *id) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->c[i].cs.id, id) == 0)
      return &s->c[i];
  return NULL;
}

/* terminate_child: stops c within its shutdown time and answers when it
 * is gone (0); a child that is not running is answered at once.  A
 * static child keeps its spec (stopped, no ref) unless it is temporary;
 * a dynamic one is forgotten. */
static void terminate_one(acto_ctx *ctx, sup *s, sup_child *c) {
  c->removing |= c->cs.restart == ACTO_TEMPORARY || s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE;
  if (s->op == OP_GROUP)
    c->term_gen = s->op_gen;
  drop_deferred(ctx, c); /* a remote first start not yet asked: it does not happen */
  if (c->st == ST_DEAD) {
    cancel_timer(ctx, c); /* a restart it was waiting for */
    if (c->removing)
      remove_child(s, c);
    reply_status(ctx, 0);
    return;
  }
  if (add_waiter(ctx, c) != 0) {
    reply_status(ctx, ACTO_ENOMEM);
    return;
  }
  if (c->st != ST_STOPPING)
    stop_child(ctx, s, c);
}

/* 1 if c is stopped and nothing will start it by itself: not running,
 * restarting, stopping, waiting for a restart (backoff, retry), nor about
 * to be started by the group restart in progress.  restart_child and
 * delete_child need that (OTP: otherwise running or restarting). */
static int at_rest(const sup *s, const sup_child *c) {
  if (c->st != ST_DEAD || c->timer)
    return 0;
  size_t i = (size_t)(c - s->c);
  if (s->op != OP_GROUP || i < s->op_lo || c->term_gen == s->op_gen)
    return 1;
  return s->op_phase == 1 && i < s->op_i; /* the walk passed it */
}

/* add_child: the payload is a flat child spec (above). */
static void on_add_child(acto_ctx *ctx, sup *s, const acto_msg *m) {
  acto_system *sys = acto_ctx_system(ctx);
  start_reply rep = {0, ACTO_REF_NONE};
  flat_r r = {m->data, m->size, 0};
  acto_child_spec view;
  unflat_child(&r, &view, 0);
  acto_sup_spec wrap;
  memset(&wrap, 0, sizeof wrap);
  wrap.children = &view;
  wrap.nchildren = 1;
  spec_err e;
  memset(&e, 0, sizeof e);
  acto_sup_spec *own = NULL;
  if (r.bad || r.left != 0) {
    rep.status = ACTO_EINVAL; /* not from acto_supervisor_add_child */
  } else if (s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE) {
    rep.status = ACTO_EINVAL; /* OTP: start_child takes extra arguments there */
  } else if (s->op == OP_SHUTDOWN) {
    rep.status = ACTO_ESHUTDOWN;
  } else if (child_check(&view, s->n, s->spec, 0, &e, 0) != 0) {
    /* The rules of a start spec, with this supervisor's settings. */
    spec_refused(sys, &e);
    rep.status = ACTO_EINVAL;
  } else if (find_id(s, view.id)) {
    e.rule = "duplicate child id (ids are unique among siblings)";
    size_t len = 0;
    where_push(&e, &len, 0, view.id);
    spec_refused(sys, &e);
    rep.status = ACTO_EEXIST;
  } else if (!(own = spec_copy(&wrap))) {
    rep.status = ACTO_ENOMEM;
  }
  if (view.kind == ACTO_SUPERVISOR)
    view_free_sup((acto_sup_spec *)view.sup);
  free((acto_child_remote *)view.remote);
  sup_child *c = own ? add_child(s, &own->children[0]) : NULL;
  if (own && !c) {
    spec_free(own);
    rep.status = ACTO_ENOMEM;
  }
  if (c) {
    /* At the end of the start order, like OTP's start_child. */
    c->own_spec = own;
    int rc = start_fresh(ctx, s, c);
    if (rc == START_PENDING) {
      /* A remote child: the answer waits for its spawn's (spawn_done). */
      if (acto_reply_later(ctx, &c->req_tok) == 0) {
        c->req = 2;
        return;
      }
      rep.status = 0; /* cannot keep the request: it starts, unannounced */
    } else if (rc == 0) {
      rep.ref = c->ref;
      event(ctx, s, c, ACTO_SUP_CHILD_STARTED, 0);
    } else if (rc == ACTO_EIGNORED) {
      child_ignored(ctx, s, c); /* kept stopped; a temporary one is not kept */
    } else {
      remove_child(s, c); /* OTP discards the spec of a child that failed */
      rep.status = rc == ACTO_EINIT ? ACTO_ECHILD : rc;
    }
  }
  acto_reply(ctx, 0, &rep, sizeof rep);
}

static void on_request(acto_ctx *ctx, sup *s, const acto_msg *m) {
  switch (m->type) {
  case SUP_REQ_WHICH: {
    size_t n = s->n ? s->n : 1;
    acto_child_info *v = calloc(n, sizeof(*v));
    if (!v) {
      acto_reply(ctx, 0, NULL, 0);
      return;
    }
    for (size_t i = 0; i < s->n; i++) {
      const sup_child *c = &s->c[i];
      strncpy(v[i].id, c->cs.id, sizeof v[i].id - 1);
      v[i].ref = c->ref;
      v[i].kind = c->cs.kind;
      v[i].restart = c->cs.restart;
      v[i].state = public_state(c->st);
      v[i].restarts = c->restarts;
      v[i].node = c->cs.remote ? c->node_id : 0;
    }
    acto_reply(ctx, 0, v, s->n * sizeof(*v));
    free(v);
    return;
  }
  case SUP_REQ_COUNT: {
    acto_child_counts k = {0};
    k.specs = s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE ? 1 : s->n;
    for (size_t i = 0; i < s->n; i++) {
      if (s->c[i].st == ST_RUNNING)
        k.active++;
      if (s->c[i].cs.kind == ACTO_SUPERVISOR)
        k.supervisors++;
      else
        k.workers++;
    }
    acto_reply(ctx, 0, &k, sizeof k);
    return;
  }
  case SUP_REQ_START_CHILD: {
    start_reply rep = {ACTO_EINVAL, ACTO_REF_NONE};
    if (s->spec->strategy != ACTO_SIMPLE_ONE_FOR_ONE || s->op == OP_SHUTDOWN) {
      rep.status = s->op == OP_SHUTDOWN ? ACTO_ESHUTDOWN : ACTO_EINVAL;
      acto_reply(ctx, 0, &rep, sizeof rep);
      return;
    }
    sup_child *c = add_child(s, &s->spec->children[0]);
    if (!c) {
      rep.status = ACTO_ENOMEM;
      acto_reply(ctx, 0, &rep, sizeof rep);
      return;
    }
    c->cs.name = NULL; /* one template, many children: no shared name */
    if (m->size > 0) {
      c->own_arg = malloc(m->size);
      if (!c->own_arg) {
        remove_child(s, c);
        rep.status = ACTO_ENOMEM;
        acto_reply(ctx, 0, &rep, sizeof rep);
        return;
      }
      memcpy(c->own_arg, m->data, m->size);
      c->cs.arg = c->own_arg;
      c->cs.arg_size = m->size;
    }
    rep.status = start_fresh(ctx, s, c);
    if (rep.status == 0) {
      rep.ref = c->ref;
      event(ctx, s, c, ACTO_SUP_CHILD_STARTED, 0);
    } else if (rep.status == ACTO_EIGNORED) {
      child_ignored(ctx, s, c); /* OTP's {ok, undefined}: 0, no ref */
      rep.status = 0;
    } else {
      rep.status = ACTO_ECHILD;
      remove_child(s, c);
    }
    acto_reply(ctx, 0, &rep, sizeof rep);
    return;
  }
  case SUP_REQ_TERMINATE_CHILD: {
    acto_ref r;
    if (m->size != sizeof r) {
      reply_status(ctx, ACTO_EINVAL);
      return;
    }
    memcpy(&r, m->data, sizeof r);
    sup_child *c = find_ref(s, r);
    if (!c) {
      /* A ref that names no live actor of this system is not running:
       * nothing to do (OTP answers ok for a dead pid the same way; a
       * supervisor keeps no record of the refs its children had). */
      acto_system *sys = acto_ctx_system(ctx);
      int gone = !acto_ref_is_none(r) && acto__ref_local(sys, r) && !acto_alive(sys, r);
      reply_status(ctx, gone ? 0 : ACTO_ENOENT);
      return;
    }
    terminate_one(ctx, s, c);
    return;
  }
  case SUP_REQ_TERMINATE_ID: {
    const char *id = req_id(m);
    if (!id || s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE) {
      reply_status(ctx, ACTO_EINVAL); /* dynamic children have no ids of their own */
      return;
    }
    sup_child *c = find_id(s, id);
    if (!c) {
      reply_status(ctx, ACTO_ENOENT);
      return;
    }
    terminate_one(ctx, s, c);
    return;
  }
  case SUP_REQ_RESTART_CHILD: {
    start_reply rep = {0, ACTO_REF_NONE};
    const char *id = req_id(m);
    sup_child *c = NULL;
    if (!id || s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE)
      rep.status = ACTO_EINVAL;
    else if (s->op == OP_SHUTDOWN)
      rep.status = ACTO_ESHUTDOWN;
    else if (!(c = find_id(s, id)))
      rep.status = ACTO_ENOENT;
    else if (!at_rest(s, c))
      rep.status = ACTO_ERUNNING;
    else {
      /* Not a restart the supervisor makes: no intensity, no count. */
      int r = start_fresh(ctx, s, c);
      if (r == START_PENDING) {
        if (acto_reply_later(ctx, &c->req_tok) == 0) {
          c->req = 1; /* answered with the spawn's outcome (spawn_done) */
          return;
        }
      } else if (r == 0) {
        rep.ref = c->ref;
        event(ctx, s, c, ACTO_SUP_CHILD_STARTED, 0);
      } else if (r == ACTO_EIGNORED) {
        child_ignored(ctx, s, c);
      } else {
        rep.status = r == ACTO_EINIT ? ACTO_ECHILD : r; /* it stays stopped */
      }
    }
    acto_reply(ctx, 0, &rep, sizeof rep);
    return;
  }
  case SUP_REQ_DELETE_CHILD: {
    const char *id = req_id(m);
    sup_child *c = NULL;
    int32_t st = 0;
    if (!id || s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE)
      st = ACTO_EINVAL;
    else if (!(c = find_id(s, id)))
      st = ACTO_ENOENT;
    else if (!at_rest(s, c))
      st = ACTO_ERUNNING;
    else
      remove_child(s, c);
    reply_status(ctx, st);
    return;
  }
  case SUP_REQ_ADD_CHILD:
    on_add_child(ctx, s, m);
    return;
  default:
    acto_reply(ctx, 0, NULL, 0); /* an unknown request gets an empty answer */
    return;
  }
}

/* ---- the behaviour ----------------------------------------------------------- */

static void sup_free(sup *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->c[i].own_id);
    free(s->c[i].own_arg);
    free(s->c[i].waiters);
    spec_free(s->c[i].own_spec);
  }
  free(s->c);
  free(s->hist);
  spec_free(s->spec);
  memset(s, 0, sizeof(*s));
}

/* ---- the start: children held until the supervisor's init is done ------------
 *
 * DESIGN
 * OTP's supervisor starts its children one by one in its init; when one
 * fails to start, it terminates those already started in reverse start
 * order, each completely (it waits for each to be gone), and only then
 * does start_link return the error.  Our init must give the same
 * guarantee without ever waiting: it runs on the thread that spawns the
 * supervisor, a plain thread for acto_supervisor_start but a worker when
 * a running parent starts a nested supervisor, and a worker must not
 * block waiting for another actor.
 *
 * So the children started during init are held (acto__actor_spawn_child's
 * hold): each keeps the unit its own init turn held, so nothing can
 * schedule it, whatever is sent to it; messages queue up.  No worker can
 * be running them, so if a later child fails to start, the init's own
 * thread stops the started ones itself, synchronously, in reverse start
 * order: it runs each one's terminate (ACTO_REASON_SHUTDOWN) and closes
 * it (acto__child_close_held), and each is completely gone before the
 * previous one is touched and before init returns ACTO_ECHILD.  When
 * every child started, init releases them, in start order; a child with
 * queued messages is scheduled then.
 *
 * A nested supervisor started during its parent's init (on the same
 * thread, below the parent's init on the stack) keeps its own children
 * held after its init succeeded: its parent may still fail, and must then
 * be able to stop the whole subtree synchronously, deepest first (the
 * nested supervisor's children in reverse order, then it).  The
 * outermost init releases (or stops) the subtree; a nested supervisor
 * started by a running parent (a restart, start_child, add_child) is the
 * outermost of its own start.  The thread-local frame below is how an
 * init knows that its parent's init is running under it.  While a
 * subtree is held, the thread that holds it reaches into the held
 * nested supervisors' state: nobody else can, since none of them can
 * run.
 *
 * Why not the ordered shutdown of the running supervisor (exit signal,
 * wait for EXIT, next child)?  Because that takes turns of the
 * supervisor, and a supervisor whose init fails never gets one: init's
 * failure closes it at once and the start must report the outcome when
 * init returns.  Sending exit signals from init and returning (what this
 * file did before) left the children running on workers after
 * acto_supervisor_start had returned, stopped in no particular order.
 *
 * The cost: a child cannot handle a message before all its siblings have
 * started, which OTP does not promise either way, and a child's init
 * cannot wait for a sibling (no init can wait for anything). */

typedef struct init_frame {
  acto_ref self; /* the supervisor whose init runs */
  struct init_frame *up;
} init_frame;

static _Thread_local init_frame *tls_init;

/* The state of a held nested supervisor, with a reference (release it). */
static sup *held_sup(acto_system *sys, acto_ref r, acto__actor **out) {
  acto__actor *a = acto__actor_acquire(sys, r);
  if (!a)
    return NULL;
  if (a->b != acto_supervisor_behaviour()) {
    acto__actor_release(a);
    return NULL;
  }
  *out = a;
  return (sup *)(void *)a->state;
}

/* Stops every held child of s, in reverse start order, on this thread;
 * a held nested supervisor's own subtree first. */
static void stop_held(acto_system *sys, sup *s) {
  for (size_t i = s->n; i > 0; i--) {
    sup_child *c = &s->c[i - 1];
    if (!c->held)
      continue;
    acto__actor *a;
    sup *in = c->cs.kind == ACTO_SUPERVISOR ? held_sup(sys, c->ref, &a) : NULL;
    if (in) {
      event(NULL, in, NULL, ACTO_SUP_SHUTDOWN, ACTO_REASON_SHUTDOWN);
      stop_held(sys, in);
      acto__actor_release(a);
    }
    acto__child_close_held(sys, c->ref, ACTO_REASON_SHUTDOWN);
    c->held = 0;
    c->st = ST_DEAD;
    c->ref = ACTO_REF_NONE;
    event(NULL, s, c, ACTO_SUP_CHILD_STOPPED, ACTO_REASON_SHUTDOWN);
  }
}

/* Lets every held child of s run, in start order; a held nested
 * supervisor's own subtree first. */
static void release_held(acto_system *sys, sup *s) {
  for (size_t i = 0; i < s->n; i++) {
    sup_child *c = &s->c[i];
    if (!c->held)
      continue;
    acto__actor *a;
    sup *in = c->cs.kind == ACTO_SUPERVISOR ? held_sup(sys, c->ref, &a) : NULL;
    if (in) {
      release_held(sys, in);
      acto__actor_release(a);
    }
    c->held = 0;
    acto__child_release(sys, c->ref);
  }
}

static int sup_init(acto_ctx *ctx, void *state, const void *arg) {
  sup *s = state;
  acto_system *sys = acto_ctx_system(ctx);
  const acto_sup_spec *spec = arg;
  if (!spec_valid(sys, spec))
    return ACTO_EINVAL;
  s->spec = spec_copy(spec);
  if (!s->spec)
    return ACTO_ENOMEM;
  /* intensity 0 stays 0: no restart at all (OTP); period 0 is 5 s. */
  if (s->spec->period_ms == 0)
    s->spec->period_ms = 5000;
  s->self = acto_self(ctx);
  s->rng = (uint32_t)s->self.id ^ 0x9e3779b9u;
  acto_trap_exit(ctx, 1);
  if (s->spec->strategy == ACTO_SIMPLE_ONE_FOR_ONE)
    return 0;
  /* Under the init of this supervisor's own parent, on this thread? */
  acto__actor_ext *e = acto__actor_ext_peek(ctx->self);
  int nested = tls_init && e && acto_ref_eq(tls_init->self, e->parent);
  init_frame frame = {s->self, tls_init};
  tls_init = &frame;
  s->in_init = 1;
  int rc = 0;
  for (size_t i = 0; i < s->spec->nchildren && rc == 0; i++) {
    sup_child *c = add_child(s, &s->spec->children[i]);
    int r = c ? start_fresh(ctx, s, c) : ACTO_ENOMEM;
    if (r == START_PENDING)
      continue; /* a remote child: started after init */
    if (r == ACTO_EIGNORED)
      child_ignored(ctx, s, c);
    else if (r != 0)
      rc = ACTO_ECHILD;
    else
      event(ctx, s, c, ACTO_SUP_CHILD_STARTED, 0);
  }
  s->in_init = 0;
  tls_init = frame.up;
  if (rc != 0) {
    stop_held(sys, s);
    sup_free(s);
    return rc;
  }
  if (!nested)
    release_held(sys, s);
  return 0;
}

static int sup_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  sup *s = state;
  switch (m->type) {
  case ACTO_MSG_EXIT:
    if (m->size == sizeof(acto_exit_signal))
      on_exit_msg(ctx, s, m->data);
    return 0;
  case ACTO__MSG_CHILD_FAILED:
  case ACTO__MSG_CHILD_SUSPENDED:
  case ACTO__MSG_CHILD_STARTED:
  case ACTO__MSG_CHILD_IGNORED:
    if (m->size == sizeof(acto__child_event))
      on_child_event(ctx, s, m->type, m->data);
    return 0;
  case SUP_T_KILL:
  case SUP_T_RESTART:
  case SUP_T_GROUP:
  case SUP_T_SPAWN: {
    if (!acto_ref_eq(m->sender, acto_self(ctx)) || m->size != sizeof(uint64_t))
      return 0;
    uint64_t d;
    memcpy(&d, m->data, sizeof d);
    on_timer(ctx, s, m->type, d);
    return 0;
  }
  default:
    if (m->type >= SUP_REQ_WHICH && m->type <= SUP_REQ_TERMINATE_ID)
      on_request(ctx, s, m);
    return 0;
  }
}

static void sup_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)reason;
  sup *s = state;
  acto_system *sys = acto_ctx_system(ctx);
  /* Stopped without an ordered shutdown (acto_stop, system shutdown, a
   * failure of its own): children must not outlive it. */
  for (size_t i = s->n; i > 0; i--) {
    sup_child *c = &s->c[i - 1];
    if (c->st == ST_WAIT_VERDICT || c->st == ST_SUSPENDED)
      acto__child_stop(sys, c->ref, ACTO_REASON_SHUTDOWN);
    else if (c->st != ST_DEAD && !acto_ref_is_none(c->ref))
      acto_exit(sys, c->ref, ACTO_REASON_SHUTDOWN); /* across the wire for a remote one */
    if (c->req) {
      start_reply rep = {ACTO_ECLOSED, ACTO_REF_NONE};
      acto_reply_to(sys, &c->req_tok, 0, &rep, sizeof rep);
      c->req = 0;
    }
    /* Stopped without an ordered shutdown: the waiters learn that the
     * supervisor is gone, not that the child is. */
    answer_waiters(sys, c, ACTO_ECLOSED);
  }
  sup_free(s);
}

static const acto_behaviour sup_behaviour = {
    .name = "acto.supervisor",
    .state_size = sizeof(sup),
    .init = sup_init,
    .handle = sup_handle,
    .terminate = sup_terminate,
};

const acto_behaviour *acto_supervisor_behaviour(void) { return &sup_behaviour; }

/* ---- the plain-thread API ---------------------------------------------------- */

int acto_supervisor_start(acto_system *sys, const acto_sup_spec *spec, const char *name,
                          acto_ref *out) {
  if (!sys || !out || !spec)
    return ACTO_EINVAL;
  if (!spec_valid(sys, spec))
    return ACTO_EINVAL;
  acto_spawn_opts o = {.name = name};
  int r = acto_spawn(sys, &sup_behaviour, spec, &o, out);
  return r == ACTO_EINIT ? ACTO_ECHILD : r;
}

typedef struct gone_arg {
  acto_system *sys;
  acto_ref ref;
} gone_arg;

static int is_gone(void *p) {
  gone_arg *g = p;
  return !acto_alive(g->sys, g->ref);
}

/* Waits until the actor is gone (a plain thread).  Deterministic mode:
 * the deadline is virtual, and a wait nothing can end any more (no actor
 * can run, no timer is left) is a deadlock. */
static int wait_gone(acto_system *sys, acto_ref ref, int64_t timeout_ms) {
  gone_arg g = {sys, ref};
  if (sys->det)
    return acto__sched_det_wait(sys, is_gone, &g, timeout_ms);
  int r = acto__system_wait_enter(sys);
  if (r != 0)
    return r;
  uint64_t deadline = acto__deadline_after(acto__clock_now_ns(), timeout_ms);
  long sleep_us = 100;
  while (!is_gone(&g)) {
    if (acto__system_closing(sys)) {
      r = ACTO_ECLOSED;
      break;
    }
    if (acto__clock_now_ns() >= deadline) {
      r = ACTO_ETIMEDOUT;
      break;
    }
    struct timespec ts = {0, sleep_us * 1000};
    nanosleep(&ts, NULL);
    if (sleep_us < 5000)
      sleep_us *= 2;
  }
  acto__system_wait_leave(sys);
  return r;
}

/* The rule of every call that waits: only from a plain thread (never
 * inside a callback, where waiting would block a worker or the actor's
 * own spawn), and a deadline of -1 (forever), 0 (do not wait) or more. */
static int plain_call(acto_system *sys, int64_t timeout_ms) {
  if (!sys || timeout_ms < -1)
    return ACTO_EINVAL;
  if (acto__in_callback())
    return ACTO_EDEADLK;
  return 0;
}

int acto_supervisor_stop(acto_system *sys, acto_ref sup, int64_t timeout_ms) {
  int pc = plain_call(sys, timeout_ms);
  if (pc != 0)
    return pc;
  int r = acto_exit(sys, sup, ACTO_REASON_SHUTDOWN);
  if (r != 0)
    return r;
  return wait_gone(sys, sup, timeout_ms);
}

/* Asks a supervisor: ACTO_EINVAL at once when `sup` is a live actor that
 * is not a supervisor (it would never understand the request), the
 * ask's own codes otherwise. */
static int sup_ask(acto_system *sys, acto_ref sup, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_buf *rb) {
  int pc = plain_call(sys, timeout_ms);
  if (pc != 0)
    return pc;
  if (!acto__ref_local(sys, sup)) /* supervisors are local */
    return acto__system_validate_ref(sys, sup) != 0 ? ACTO_ESTALE : ACTO_EINVAL;
  acto__actor *a = acto__actor_acquire(sys, sup);
  if (!a)
    return ACTO_ESTALE;
  int ok = a->b == &sup_behaviour;
  acto__actor_release(a);
  if (!ok)
    return ACTO_EINVAL;
  return acto__ask_sync(sys, sup, type, data, size, timeout_ms, rb);
}

/* start_child, restart_child, add_child: a status and a ref. */
static int start_answer(acto_system *sys, acto_ref sup, uint32_t type, const void *data,
                        size_t size, int64_t timeout_ms, acto_ref *child) {
  acto_reply_buf rb;
  int r = sup_ask(sys, sup, type, data, size, timeout_ms, &rb);
  if (r != 0)
    return r;
  start_reply rep;
  if (rb.size != sizeof rep) {
    acto_reply_release(&rb);
    return ACTO_EINVAL;
  }
  memcpy(&rep, rb.data, sizeof rep);
  acto_reply_release(&rb);
  if (rep.status == 0)
    *child = rep.ref;
  return rep.status;
}

int acto_supervisor_start_child(acto_system *sys, acto_ref sup, const void *arg, size_t arg_size,
                                int64_t timeout_ms, acto_ref *child) {
  if (!sys || !child || (arg_size > 0 && !arg))
    return ACTO_EINVAL;
  return start_answer(sys, sup, SUP_REQ_START_CHILD, arg, arg_size, timeout_ms, child);
}

/* An ask whose answer is one int32_t status. */
static int sup_ask_status(acto_system *sys, acto_ref sup, uint32_t type, const void *data,
                          size_t size, int64_t timeout_ms) {
  acto_reply_buf rb;
  int r = sup_ask(sys, sup, type, data, size, timeout_ms, &rb);
  if (r != 0)
    return r;
  int32_t st = ACTO_EINVAL;
  if (rb.size == sizeof st)
    memcpy(&st, rb.data, sizeof st);
  acto_reply_release(&rb);
  return st;
}

/* A child id for a request: non-empty, NUL included in the size. */
static int id_arg(const char *id, size_t *size) {
  if (!id || !id[0])
    return ACTO_EINVAL;
  *size = strnlen(id, 4096) + 1;
  return *size > 4096 ? ACTO_EINVAL : 0;
}

int acto_supervisor_terminate_child(acto_system *sys, acto_ref sup, acto_ref child,
                                    int64_t timeout_ms) {
  return sup_ask_status(sys, sup, SUP_REQ_TERMINATE_CHILD, &child, sizeof child, timeout_ms);
}

/* terminate_child_id, delete_child: a child id in, one status out. */
static int sup_ask_id_status(acto_system *sys, acto_ref sup, uint32_t type, const char *id,
                             int64_t timeout_ms) {
  size_t n;
  if (id_arg(id, &n) != 0)
    return ACTO_EINVAL;
  return sup_ask_status(sys, sup, type, id, n, timeout_ms);
}

int acto_supervisor_terminate_child_id(acto_system *sys, acto_ref sup, const char *id,
                                       int64_t timeout_ms) {
  return sup_ask_id_status(sys, sup, SUP_REQ_TERMINATE_ID, id, timeout_ms);
}

int acto_supervisor_restart_child(acto_system *sys, acto_ref sup, const char *id,
                                  int64_t timeout_ms, acto_ref *child) {
  size_t n;
  if (!child || id_arg(id, &n) != 0)
    return ACTO_EINVAL;
  return start_answer(sys, sup, SUP_REQ_RESTART_CHILD, id, n, timeout_ms, child);
}

int acto_supervisor_delete_child(acto_system *sys, acto_ref sup, const char *id,
                                 int64_t timeout_ms) {
  return sup_ask_id_status(sys, sup, SUP_REQ_DELETE_CHILD, id, timeout_ms);
}

int acto_supervisor_add_child(acto_system *sys, acto_ref sup, const acto_child_spec *spec,
                              int64_t timeout_ms, acto_ref *child) {
  if (!sys || !spec || !child)
    return ACTO_EINVAL;
  /* The shape is checked here, before the spec is read to be written
   * into the request (a NULL id or nested spec must not be followed);
   * the supervisor checks it again with its own settings (significant,
   * auto_shutdown) and its children's ids. */
  acto_sup_spec shape;
  memset(&shape, 0, sizeof shape);
  shape.auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
  spec_err e;
  memset(&e, 0, sizeof e);
  if (child_check(spec, 0, &shape, 0, &e, 0) != 0) {
    spec_refused(sys, &e);
    return ACTO_EINVAL;
  }
  flat_w w = {NULL, 0};
  flat_child(&w, spec);
  if (w.len > ACTO_MSG_MAX_SIZE)
    return ACTO_EINVAL;
  w.buf = malloc(w.len);
  if (!w.buf)
    return ACTO_ENOMEM;
  size_t len = w.len;
  w.len = 0;
  flat_child(&w, spec);
  int r = start_answer(sys, sup, SUP_REQ_ADD_CHILD, w.buf, len, timeout_ms, child);
  free(w.buf);
  return r;
}

int acto_supervisor_which_children(acto_system *sys, acto_ref sup, acto_child_info *out,
                                   size_t cap, size_t *n, int64_t timeout_ms) {
  if (!sys || !n || (cap > 0 && !out))
    return ACTO_EINVAL;
  acto_reply_buf rb;
  int r = sup_ask(sys, sup, SUP_REQ_WHICH, NULL, 0, timeout_ms, &rb);
  if (r != 0)
    return r;
  size_t k = rb.size / sizeof(acto_child_info);
  *n = k;
  if (k > cap)
    k = cap;
  if (k > 0)
    memcpy(out, rb.data, k * sizeof(acto_child_info));
  acto_reply_release(&rb);
  return 0;
}

int acto_supervisor_count_children(acto_system *sys, acto_ref sup, acto_child_counts *out,
                                   int64_t timeout_ms) {
  if (!sys || !out)
    return ACTO_EINVAL;
  acto_reply_buf rb;
  int r = sup_ask(sys, sup, SUP_REQ_COUNT, NULL, 0, timeout_ms, &rb);
  if (r != 0)
    return r;
  if (rb.size != sizeof *out) {
    acto_reply_release(&rb);
    return ACTO_EINVAL;
  }
  memcpy(out, rb.data, sizeof *out);
  acto_reply_release(&rb);
  return 0;
}
