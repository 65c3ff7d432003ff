/* test_supervisor.c - supervision trees: strategies, restart types,
 * restart in place, intensity, backoff, ordered shutdown, nested trees,
 * simple-one-for-one, auto shutdown, invalid specs and clean teardown.
 *
 * Each test is a specification of one promise of acto_supervisor.h, in
 * the spirit of OTP's supervisor_SUITE, through the public API only.
 *
 * DESIGN.  Almost every test runs in the deterministic mode
 * (acto_config.deterministic): one worker on the test thread, a virtual
 * clock, scheduling choices drawn from a printed seed (SV_SEED overrides
 * it).  The test drives the system with acto_system_run; the blocking
 * calls (which_children, stop, start_child) drive it themselves.  What
 * happens is recorded in two logs of short tokens with their virtual
 * time: the workers' callbacks ("init(c1)", "term(c2,-3)", ...) and the
 * supervisors' on_event hook ("fail(c2,-3)", "restart(c2,0)", ...).  A
 * test compares the logs, as strings, with the expected ones, so a
 * failure shows the whole sequence.  A few tests, and the strategy table
 * once more, run with two worker threads: the supervision protocol is a
 * sequence of messages, so the logs must come out the same.  Storms
 * (section 11) send random endings to random children at random moments,
 * over many seeds and with threads, and check only invariants: every
 * instance that init started is terminated exactly once, the stop
 * completes, no actor is left, only expected dead letters.
 *
 * Every test ends by stopping its tree and checking that no actor is
 * left (stats.actors_live == 0), then shuts the system down.  Tests run
 * in their own process (Check's fork mode).
 */
#include "testutil.h"

/* ---- the seed ----------------------------------------------------------- */

static uint64_t sv_seed(void) {
  const char *s = getenv("SV_SEED");
  return s ? strtoull(s, NULL, 0) : 0x5eedu;
}

/* ---- logs: tokens with their (virtual) time -------------------------------- */

#define SV_LOG_MAX 4096
#define SV_TOK 64

typedef struct sv_tok {
  char s[SV_TOK];
  int64_t t;
} sv_tok;

typedef struct sv_log {
  pthread_mutex_t mu;
  int n; /* tokens added (those past SV_LOG_MAX are counted, not kept) */
  sv_tok tok[SV_LOG_MAX];
} sv_log;

static sv_log g_wlog; /* worker callbacks */
static sv_log g_elog; /* supervisor events (on_event) */
static sv_log g_xlog; /* the watcher: exit signals and DOWNs it received */
static acto_system *g_sys;

__attribute__((format(printf, 3, 4)))
static void log_add(sv_log *l, int64_t t, const char *fmt, ...) {
  pthread_mutex_lock(&l->mu);
  if (l->n < SV_LOG_MAX) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->tok[l->n].s, SV_TOK, fmt, ap);
    va_end(ap);
    l->tok[l->n].t = t;
  }
  l->n++;
  pthread_mutex_unlock(&l->mu);
}

static void log_clear(sv_log *l) {
  pthread_mutex_lock(&l->mu);
  l->n = 0;
  pthread_mutex_unlock(&l->mu);
}

static int log_count(sv_log *l) {
  pthread_mutex_lock(&l->mu);
  int n = l->n;
  pthread_mutex_unlock(&l->mu);
  return n;
}

/* The tokens joined by single spaces (into a static buffer per log). */
static const char *log_str(sv_log *l) {
  static char bufs[3][SV_LOG_MAX * 4];
  char *b = l == &g_wlog ? bufs[0] : l == &g_elog ? bufs[1] : bufs[2];
  size_t cap = sizeof bufs[0], len = 0;
  b[0] = '\0';
  pthread_mutex_lock(&l->mu);
  int n = l->n < SV_LOG_MAX ? l->n : SV_LOG_MAX;
  for (int i = 0; i < n && len + SV_TOK + 2 < cap; i++)
    len += (size_t)snprintf(b + len, cap - len, "%s%s", i ? " " : "", l->tok[i].s);
  pthread_mutex_unlock(&l->mu);
  return b;
}

/* The time of the k-th (0-based) token equal to s, or -1. */
static int64_t log_time(sv_log *l, const char *s, int k) {
  int64_t t = -1;
  pthread_mutex_lock(&l->mu);
  int n = l->n < SV_LOG_MAX ? l->n : SV_LOG_MAX;
  for (int i = 0; i < n; i++) {
    if (strcmp(l->tok[i].s, s) == 0 && k-- == 0) {
      t = l->tok[i].t;
      break;
    }
  }
  pthread_mutex_unlock(&l->mu);
  return t;
}

/* How many tokens equal s. */
static int log_matches(sv_log *l, const char *s) {
  int m = 0;
  pthread_mutex_lock(&l->mu);
  int n = l->n < SV_LOG_MAX ? l->n : SV_LOG_MAX;
  for (int i = 0; i < n; i++)
    m += strcmp(l->tok[i].s, s) == 0;
  pthread_mutex_unlock(&l->mu);
  return m;
}

static int tok_count(const char *s) {
  int n = 0, in = 0;
  for (; *s; s++) {
    if (*s != ' ' && !in) n++;
    in = *s != ' ';
  }
  return n;
}

#define ck_assert_log(l, want)                                                            \
  do {                                                                                    \
    const char *tu_got_ = log_str(l);                                                     \
    ck_assert_msg(strcmp(tu_got_, (want)) == 0, "%s (seed %#llx)\n  got:  %s\n  want: %s", \
                  #l, (unsigned long long)g_seed, tu_got_, (want));                       \
  } while (0)

static uint64_t g_seed;

/* For a detail that a separate test pins down: either sequence passes. */
#define ck_assert_log_either(l, want1, want2)                                             \
  do {                                                                                    \
    const char *tu_got_ = log_str(l);                                                     \
    ck_assert_msg(strcmp(tu_got_, (want1)) == 0 || strcmp(tu_got_, (want2)) == 0,         \
                  "%s (seed %#llx)\n  got:  %s\n  want: %s\n    or: %s", #l,             \
                  (unsigned long long)g_seed, tu_got_, (want1), (want2));                 \
  } while (0)

/* ---- the supervisors' event hook ------------------------------------------- */

static const char *ev_name(acto_sup_event ev) {
  switch (ev) {
  case ACTO_SUP_CHILD_STARTED: return "start";
  case ACTO_SUP_CHILD_FAILED: return "fail";
  case ACTO_SUP_CHILD_EXITED: return "exit";
  case ACTO_SUP_CHILD_RESTARTED: return "restart";
  case ACTO_SUP_CHILD_STOPPED: return "stop";
  case ACTO_SUP_GAVE_UP: return "giveup";
  case ACTO_SUP_SHUTDOWN: return "shutdown";
  case ACTO_SUP_CHILD_IGNORED: return "ignore";
  }
  return "?";
}

/* user: NULL, or a tag ("out", "in") that prefixes the token. */
static void on_event(void *user, acto_ref sup, const char *child_id, acto_sup_event ev,
                     int reason) {
  (void)sup;
  int64_t t = acto_now_ms(g_sys);
  if (user)
    log_add(&g_elog, t, "%s:%s(%s,%d)", (const char *)user, ev_name(ev), child_id, reason);
  else
    log_add(&g_elog, t, "%s(%s,%d)", ev_name(ev), child_id, reason);
}

/* ---- the worker ------------------------------------------------------------ */

enum {
  MSG_STOP = 1,  /* acto_stop_self: reason NORMAL */
  MSG_SHUTDOWN,  /* acto_exit_self(SHUTDOWN) */
  MSG_FAIL,      /* the handler returns -3 */
  MSG_EXIT_FAIL, /* acto_exit_self(-4) */
  MSG_RECORD,    /* payload uint64_t: logged with the state's record count */
  MSG_GATE_FAIL, /* wait for g_gate, then fail with -3 (threaded tests) */
  MSG_PING,      /* a request: replies */
  MSG_CALL,      /* the caller actor: try the plain-thread API */
};

#define W_TRAP 1    /* traps exits and ignores them */
#define W_SELFREC 2 /* init sends itself MSG_RECORD 0 */

typedef struct wargs {
  char id[16];
  int flags;
} wargs;

typedef struct wstate {
  wargs a;
  int records;
} wstate;

/* init of the child with this id fails the next `times` times (-1: always). */
static struct {
  char id[16];
  atomic_int times;
} g_initfail, g_initignore; /* ... or answers ACTO_INIT_IGNORE */

static tu_gate g_gate;
static tu_counter g_entered;

static int w_init(acto_ctx *ctx, void *state, const void *arg) {
  wstate *s = state;
  const wargs *a = arg;
  int64_t t = acto_now_ms(acto_ctx_system(ctx));
  TU_EXPECT(a != NULL, "worker init without argument");
  if (!a) return -1;
  TU_EXPECT(s->records == 0 && s->a.id[0] == '\0', "worker %s: state not zeroed", a->id);
  s->a = *a;
  if (strcmp(g_initignore.id, a->id) == 0) {
    int k = atomic_load(&g_initignore.times);
    if (k != 0) {
      if (k > 0) atomic_fetch_sub(&g_initignore.times, 1);
      log_add(&g_wlog, t, "initignore(%s)", a->id);
      return ACTO_INIT_IGNORE;
    }
  }
  if (strcmp(g_initfail.id, a->id) == 0) {
    int k = atomic_load(&g_initfail.times);
    if (k != 0) {
      if (k > 0) atomic_fetch_sub(&g_initfail.times, 1);
      log_add(&g_wlog, t, "initfail(%s)", a->id);
      return -7;
    }
  }
  if (a->flags & W_TRAP) TU_EXPECT_RC(acto_trap_exit(ctx, 1), 0);
  if (a->flags & W_SELFREC) {
    uint64_t v = 0;
    TU_EXPECT_RC(acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_RECORD, &v, sizeof v), 0);
  }
  log_add(&g_wlog, t, "init(%s)", a->id);
  return 0;
}

static int w_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  wstate *s = state;
  int64_t t = acto_now_ms(acto_ctx_system(ctx));
  switch (m->type) {
  case MSG_STOP:
    TU_EXPECT_RC(acto_stop_self(ctx), 0);
    return 0;
  case MSG_SHUTDOWN:
    TU_EXPECT_RC(acto_exit_self(ctx, ACTO_REASON_SHUTDOWN), 0);
    return 0;
  case MSG_FAIL:
    return -3;
  case MSG_EXIT_FAIL:
    TU_EXPECT_RC(acto_exit_self(ctx, -4), 0);
    return 0;
  case MSG_RECORD: {
    uint64_t v = 0;
    if (m->size == sizeof v) memcpy(&v, m->data, sizeof v);
    s->records++;
    log_add(&g_wlog, t, "rec(%s,%llu,%d)", s->a.id, (unsigned long long)v, s->records);
    return 0;
  }
  case MSG_GATE_FAIL:
    tu_counter_add(&g_entered, 1);
    TU_EXPECT(tu_gate_wait(&g_gate, TU_WAIT_MS), "worker gate never opened");
    return -3;
  case MSG_PING:
    TU_EXPECT_RC(acto_reply(ctx, MSG_PING, NULL, 0), 0);
    return 0;
  case ACTO_MSG_EXIT: {
    acto_exit_signal es;
    memset(&es, 0, sizeof es);
    if (m->size == sizeof es) memcpy(&es, m->data, sizeof es);
    log_add(&g_wlog, t, "trap(%s,%d)", s->a.id, (int)es.reason);
    return 0;
  }
  default:
    TU_EXPECT(0, "worker %s: unexpected message type %#x", s->a.id, m->type);
    return 0;
  }
}

static void w_terminate(acto_ctx *ctx, void *state, int reason) {
  wstate *s = state;
  log_add(&g_wlog, acto_now_ms(acto_ctx_system(ctx)), "term(%s,%d)", s->a.id, reason);
}

static const acto_behaviour worker_b = {
    .name = "sv_worker",
    .state_size = sizeof(wstate),
    .init = w_init,
    .handle = w_handle,
    .terminate = w_terminate,
};

/* A worker spec: its argument (id and flags) lives in a static pool, and
 * the supervisor copies it (arg_size > 0). */
static wargs g_args[256];
static int g_nargs;

static acto_child_spec worker(const char *id, acto_restart restart, int flags) {
  ck_assert_int_lt(g_nargs, 256);
  wargs *a = &g_args[g_nargs++];
  snprintf(a->id, sizeof a->id, "%s", id);
  a->flags = flags;
  acto_child_spec c;
  memset(&c, 0, sizeof c);
  c.id = id;
  c.kind = ACTO_WORKER;
  c.behaviour = &worker_b;
  c.arg = a;
  c.arg_size = sizeof *a;
  c.restart = restart;
  return c;
}

static acto_child_spec subsup(const char *id, const acto_sup_spec *sp) {
  acto_child_spec c;
  memset(&c, 0, sizeof c);
  c.id = id;
  c.kind = ACTO_SUPERVISOR;
  c.sup = sp;
  c.restart = ACTO_PERMANENT;
  return c;
}

static acto_sup_spec sup_spec(acto_strategy st, const acto_child_spec *c, size_t n,
                              uint32_t intensity, uint32_t period_ms) {
  acto_sup_spec s;
  memset(&s, 0, sizeof s);
  s.strategy = st;
  s.intensity = intensity;
  s.period_ms = period_ms;
  s.children = c;
  s.nchildren = n;
  s.on_event = on_event;
  return s;
}

/* simple_one_for_one (section 8). */
static acto_sup_spec simple_spec(acto_child_spec *tmpl, acto_restart restart);
static acto_ref start_dyn(acto_system *sys, acto_ref sup, const char *id);

/* ---- the watcher: monitors and links from inside an actor ------------------- */

enum { W_MONITOR = 100, W_LINK };

static int watcher_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  int64_t t = acto_now_ms(acto_ctx_system(ctx));
  acto_ref r = ACTO_REF_NONE;
  if (m->type < ACTO_MSG_RESERVED && m->size == sizeof r) memcpy(&r, m->data, sizeof r);
  switch (m->type) {
  case W_MONITOR: {
    uint64_t id = 0;
    TU_EXPECT_RC(acto_monitor(ctx, r, &id), 0);
    return 0;
  }
  case W_LINK:
    TU_EXPECT_RC(acto_trap_exit(ctx, 1), 0);
    TU_EXPECT_RC(acto_link(ctx, r), 0);
    return 0;
  case ACTO_MSG_DOWN: {
    acto_down d;
    memset(&d, 0, sizeof d);
    if (m->size == sizeof d) memcpy(&d, m->data, sizeof d);
    log_add(&g_xlog, t, "down(%d)", (int)d.reason);
    return 0;
  }
  case ACTO_MSG_EXIT: {
    acto_exit_signal es;
    memset(&es, 0, sizeof es);
    if (m->size == sizeof es) memcpy(&es, m->data, sizeof es);
    log_add(&g_xlog, t, "exit(%d)", (int)es.reason);
    return 0;
  }
  default:
    TU_EXPECT(0, "watcher: unexpected message type %#x", m->type);
    return 0;
  }
}

static const acto_behaviour watcher_b = {
    .name = "sv_watcher",
    .state_size = 8,
    .handle = watcher_handle,
};

/* ---- crash hook ------------------------------------------------------------------ */

static tu_crashes g_crash = {.mu = PTHREAD_MUTEX_INITIALIZER};

static tu_dead g_dead;
static atomic_long g_tiny_inits, g_tiny_terms; /* the tiny worker's calls */
static int g_det; /* the current system is deterministic */

/* ---- systems, running, introspection ---------------------------------------------- */

static void sv_reset(void) {
  pthread_mutex_init(&g_wlog.mu, NULL);
  pthread_mutex_init(&g_elog.mu, NULL);
  pthread_mutex_init(&g_xlog.mu, NULL);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  log_clear(&g_xlog);
  g_initfail.id[0] = '\0';
  atomic_store(&g_initfail.times, 0);
  g_initignore.id[0] = '\0';
  atomic_store(&g_initignore.times, 0);
  g_nargs = 0;
  tu_crashes_init(&g_crash);
  tu_gate_init(&g_gate);
  tu_counter_init(&g_entered);
  tu_dead_init(&g_dead);
  atomic_store(&g_tiny_inits, 0);
  atomic_store(&g_tiny_terms, 0);
}

static acto_system *install(acto_system *sys) {
  g_sys = sys;
  ck_assert_ok(acto_set_crash_hook(sys, tu_crash_hook, &g_crash));
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &g_dead));
  return sys;
}

static acto_system *det_system_seed(uint64_t seed) {
  sv_reset();
  g_seed = seed;
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.deterministic = 1;
  cfg.seed = seed;
  g_det = 1;
  return install(tu_system_cfg(&cfg));
}

static acto_system *det_system(void) { return det_system_seed(sv_seed()); }

static acto_system *thr_system(unsigned threads) {
  sv_reset();
  g_seed = 0;
  g_det = 0;
  return install(tu_system(threads));
}

static int is_det(acto_system *sys) {
  (void)sys;
  return g_det;
}

/* Deterministic mode: runs for ms of virtual time (0: what can run now). */
static void run_for(acto_system *sys, int64_t ms) {
  int64_t n = acto_system_run(sys, ms);
  ck_assert_msg(n >= 0, "acto_system_run returned %lld", (long long)n);
}

static void send0(acto_system *sys, acto_ref to, uint32_t type) {
  ck_assert_ok(acto_send(sys, to, type, NULL, 0));
}

static void send_rec(acto_system *sys, acto_ref to, uint64_t v) {
  ck_assert_ok(acto_send(sys, to, MSG_RECORD, &v, sizeof v));
}

static acto_ref start_sup(acto_system *sys, const acto_sup_spec *sp, const char *name) {
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_ok(acto_supervisor_start(sys, sp, name, &sup));
  ck_assert(!acto_ref_is_none(sup));
  return sup;
}

#define SV_MAXC 16

typedef struct sv_which {
  size_t n;
  acto_child_info c[SV_MAXC];
} sv_which;

static sv_which which(acto_system *sys, acto_ref sup) {
  sv_which w;
  memset(&w, 0, sizeof w);
  ck_assert_ok(acto_supervisor_which_children(sys, sup, w.c, SV_MAXC, &w.n, TU_WAIT_MS));
  return w;
}

static const acto_child_info *child_of(const sv_which *w, const char *id) {
  for (size_t i = 0; i < w->n && i < SV_MAXC; i++)
    if (strcmp(w->c[i].id, id) == 0) return &w->c[i];
  return NULL;
}

static acto_ref ref_of(acto_system *sys, acto_ref sup, const char *id) {
  sv_which w = which(sys, sup);
  const acto_child_info *c = child_of(&w, id);
  ck_assert_msg(c != NULL, "no child %s", id);
  return c->ref;
}

static void assert_no_actors(acto_system *sys) {
  if (is_det(sys)) {
    run_for(sys, 0);
    acto_stats st = tu_stats(sys);
    ck_assert_msg(st.actors_live == 0, "%llu actors left (seed %#llx)",
                  (unsigned long long)st.actors_live, (unsigned long long)g_seed);
  } else {
    ck_assert_stat_becomes(sys, actors_live, 0);
  }
}

/* Stops the tree, checks that nothing is left and shuts the system down. */
static void teardown_tree(acto_system *sys, acto_ref sup) {
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  assert_no_actors(sys);
  tu_shutdown(sys);
}

/* Spawns the watcher and makes it monitor (and, with link, link to) r. */
static acto_ref watch(acto_system *sys, acto_ref r, int link) {
  acto_ref w = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &watcher_b, NULL, NULL, &w));
  ck_assert_ok(acto_send(sys, w, W_MONITOR, &r, sizeof r));
  if (link) ck_assert_ok(acto_send(sys, w, W_LINK, &r, sizeof r));
  return w;
}

/* Threaded tests: waits until the log has at least n tokens. */
typedef struct log_wait {
  sv_log *l;
  int n;
} log_wait;

static int pred_log(void *p) {
  log_wait *w = p;
  return log_count(w->l) >= w->n;
}

typedef struct match_wait {
  sv_log *l;
  const char *tok;
  int n;
} match_wait;

static int pred_match(void *p) {
  match_wait *w = p;
  return log_matches(w->l, w->tok) >= w->n;
}

#define ck_assert_log_matches_reach(l, tok, count)                                         \
  do {                                                                                     \
    match_wait tu_m_ = {(l), (tok), (count)};                                              \
    ck_assert_msg(tu_wait_until(pred_match, &tu_m_, TU_WAIT_MS), "%s: %d x %s, want >= %d: " \
                  "%s", #l, log_matches((l), (tok)), (tok), (count), log_str(l));          \
  } while (0)

#define ck_assert_log_reaches(l, count)                                                   \
  do {                                                                                    \
    log_wait tu_w_ = {(l), (count)};                                                      \
    ck_assert_msg(tu_wait_until(pred_log, &tu_w_, TU_WAIT_MS), "%s has %d tokens, want " \
                  ">= %d: %s", #l, log_count(l), (count), log_str(l));                    \
  } while (0)

/* ==== 1. the strategy table ================================================== */

enum { END_NORMAL, END_SHUTDOWN, END_FAIL };

/* How the middle of three children ends, and what follows.  refs: for c1,
 * c2, c3 after the event: 'S' running with the same ref, 'N' running with
 * a new ref, '0' kept but stopped (no ref), 'x' removed. */
typedef struct strat_row {
  acto_strategy strategy;
  acto_restart restart; /* c2's; c1 and c3 are permanent */
  int end;
  const char *wlog; /* worker callbacks after the event */
  const char *elog; /* on_event after the event */
  const char *refs;
  int c2_restarts; /* -1: removed */
} strat_row;

#define OFO ACTO_ONE_FOR_ONE
#define OFA ACTO_ONE_FOR_ALL
#define RFO ACTO_REST_FOR_ONE
#define PERM ACTO_PERMANENT
#define TRANS ACTO_TRANSIENT
#define TEMP ACTO_TEMPORARY

/* One-for-one restarts the child alone.  One-for-all terminates the
 * running siblings in reverse start order (terminate SHUTDOWN) and
 * restarts all in start order; rest-for-one does that for the child and
 * those started after it.  A failed child's terminate runs (with its
 * failure reason) at its restart in place; a stopped one's already ran. */
static const strat_row ROWS[27] = {
    {OFO, PERM, END_NORMAL, "term(c2,0) init(c2)", "exit(c2,0) restart(c2,0)", "SNS", 1},
    {OFO, PERM, END_SHUTDOWN, "term(c2,1) init(c2)", "exit(c2,1) restart(c2,0)", "SNS", 1},
    {OFO, PERM, END_FAIL, "term(c2,-3) init(c2)", "fail(c2,-3) restart(c2,0)", "SSS", 1},
    {OFO, TRANS, END_NORMAL, "term(c2,0)", "exit(c2,0)", "S0S", 0},
    {OFO, TRANS, END_SHUTDOWN, "term(c2,1)", "exit(c2,1)", "S0S", 0},
    {OFO, TRANS, END_FAIL, "term(c2,-3) init(c2)", "fail(c2,-3) restart(c2,0)", "SSS", 1},
    {OFO, TEMP, END_NORMAL, "term(c2,0)", "exit(c2,0)", "SxS", -1},
    {OFO, TEMP, END_SHUTDOWN, "term(c2,1)", "exit(c2,1)", "SxS", -1},
    {OFO, TEMP, END_FAIL, "term(c2,-3)", "fail(c2,-3) stop(c2,-3)", "SxS", -1},

    {OFA, PERM, END_NORMAL, "term(c2,0) term(c3,1) term(c1,1) init(c1) init(c2) init(c3)",
     "exit(c2,0) restart(c1,0) restart(c2,0) restart(c3,0)", "SNS", 1},
    {OFA, PERM, END_SHUTDOWN, "term(c2,1) term(c3,1) term(c1,1) init(c1) init(c2) init(c3)",
     "exit(c2,1) restart(c1,0) restart(c2,0) restart(c3,0)", "SNS", 1},
    {OFA, PERM, END_FAIL, "term(c3,1) term(c1,1) init(c1) term(c2,-3) init(c2) init(c3)",
     "fail(c2,-3) restart(c1,0) restart(c2,0) restart(c3,0)", "SSS", 1},
    {OFA, TRANS, END_NORMAL, "term(c2,0)", "exit(c2,0)", "S0S", 0},
    {OFA, TRANS, END_SHUTDOWN, "term(c2,1)", "exit(c2,1)", "S0S", 0},
    {OFA, TRANS, END_FAIL, "term(c3,1) term(c1,1) init(c1) term(c2,-3) init(c2) init(c3)",
     "fail(c2,-3) restart(c1,0) restart(c2,0) restart(c3,0)", "SSS", 1},
    {OFA, TEMP, END_NORMAL, "term(c2,0)", "exit(c2,0)", "SxS", -1},
    {OFA, TEMP, END_SHUTDOWN, "term(c2,1)", "exit(c2,1)", "SxS", -1},
    {OFA, TEMP, END_FAIL, "term(c2,-3)", "fail(c2,-3) stop(c2,-3)", "SxS", -1},

    {RFO, PERM, END_NORMAL, "term(c2,0) term(c3,1) init(c2) init(c3)",
     "exit(c2,0) restart(c2,0) restart(c3,0)", "SNS", 1},
    {RFO, PERM, END_SHUTDOWN, "term(c2,1) term(c3,1) init(c2) init(c3)",
     "exit(c2,1) restart(c2,0) restart(c3,0)", "SNS", 1},
    {RFO, PERM, END_FAIL, "term(c3,1) term(c2,-3) init(c2) init(c3)",
     "fail(c2,-3) restart(c2,0) restart(c3,0)", "SSS", 1},
    {RFO, TRANS, END_NORMAL, "term(c2,0)", "exit(c2,0)", "S0S", 0},
    {RFO, TRANS, END_SHUTDOWN, "term(c2,1)", "exit(c2,1)", "S0S", 0},
    {RFO, TRANS, END_FAIL, "term(c3,1) term(c2,-3) init(c2) init(c3)",
     "fail(c2,-3) restart(c2,0) restart(c3,0)", "SSS", 1},
    {RFO, TEMP, END_NORMAL, "term(c2,0)", "exit(c2,0)", "SxS", -1},
    {RFO, TEMP, END_SHUTDOWN, "term(c2,1)", "exit(c2,1)", "SxS", -1},
    {RFO, TEMP, END_FAIL, "term(c2,-3)", "fail(c2,-3) stop(c2,-3)", "SxS", -1},
};

static const char *strat_name(acto_strategy s) {
  static const char *n[] = {"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"};
  return (unsigned)s < 4 ? n[s] : "?";
}

static const char *restart_name(acto_restart r) {
  static const char *n[] = {"permanent", "transient", "temporary"};
  return (unsigned)r < 3 ? n[r] : "?";
}

static const char *end_name(int e) {
  static const char *n[] = {"normal stop", "exit SHUTDOWN", "failure -3"};
  return n[e];
}

/* Threaded rows: the children's states that which_children must show. */
typedef struct states_wait {
  acto_system *sys;
  acto_ref sup;
  const char *refs;
} states_wait;

static int pred_states(void *p) {
  states_wait *s = p;
  sv_which w;
  memset(&w, 0, sizeof w);
  if (acto_supervisor_which_children(s->sys, s->sup, w.c, SV_MAXC, &w.n, TU_SHORT_WAIT_MS) != 0)
    return 0;
  static const char *ids[3] = {"c1", "c2", "c3"};
  for (int i = 0; i < 3; i++) {
    const acto_child_info *c = child_of(&w, ids[i]);
    char e = s->refs[i];
    if (e == 'x' ? c != NULL
                 : !c || c->state != (e == '0' ? ACTO_CHILD_STOPPED : ACTO_CHILD_RUNNING))
      return 0;
  }
  return 1;
}

static void run_strategy_row(int i, acto_system *sys) {
  const strat_row *r = &ROWS[i];
  int det = is_det(sys);
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", r->restart, 0),
                           worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(r->strategy, cs, 3, 10, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  if (det) run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(c1) init(c2) init(c3)");
  ck_assert_log(&g_elog, "start(c1,0) start(c2,0) start(c3,0)");
  sv_which before = which(sys, sup);
  ck_assert_uint_eq(before.n, 3);
  log_clear(&g_wlog);
  log_clear(&g_elog);

  static const uint32_t end_msg[] = {MSG_STOP, MSG_SHUTDOWN, MSG_FAIL};
  send0(sys, before.c[1].ref, end_msg[r->end]);
  if (det) {
    run_for(sys, 0);
  } else {
    ck_assert_log_reaches(&g_wlog, tok_count(r->wlog));
    ck_assert_log_reaches(&g_elog, tok_count(r->elog));
    states_wait sw = {sys, sup, r->refs};
    ck_assert_msg(tu_wait_until(pred_states, &sw, TU_WAIT_MS), "row %d: states never became %s",
                  i, r->refs);
    tu_sleep_ms(20); /* let anything unexpected show */
  }
  char what[128];
  snprintf(what, sizeof what, "row %d: %s, c2 %s, %s", i, strat_name(r->strategy),
           restart_name(r->restart), end_name(r->end));
  const char *wl = log_str(&g_wlog);
  ck_assert_msg(strcmp(wl, r->wlog) == 0, "%s (seed %#llx): callbacks\n  got:  %s\n  want: %s",
      what, (unsigned long long)g_seed, wl, r->wlog);
  const char *el = log_str(&g_elog);
  ck_assert_msg(strcmp(el, r->elog) == 0, "%s (seed %#llx): events\n  got:  %s\n  want: %s",
      what, (unsigned long long)g_seed, el, r->elog);

  sv_which after = which(sys, sup);
  size_t want_n = 0, want_active = 0;
  for (int k = 0; k < 3; k++) {
    char e = r->refs[k];
    const acto_child_info *c = child_of(&after, before.c[k].id);
    if (e == 'x') {
      ck_assert_msg(c == NULL, "%s: %s should be removed", what, before.c[k].id);
      continue;
    }
    want_n++;
    ck_assert_msg(c != NULL, "%s: %s missing", what, before.c[k].id);
    ck_assert_int_eq(c->kind, ACTO_WORKER);
    if (e == '0') {
      ck_assert_msg(c->state == ACTO_CHILD_STOPPED && acto_ref_is_none(c->ref),
                    "%s: %s should be stopped without ref (state %d)", what, c->id, c->state);
      continue;
    }
    want_active++;
    ck_assert_msg(c->state == ACTO_CHILD_RUNNING, "%s: %s state %d", what, c->id, c->state);
    ck_assert_int_eq(acto_alive(sys, c->ref), 1);
    int same = acto_ref_eq(c->ref, before.c[k].ref);
    ck_assert_msg(e == 'S' ? same : !same, "%s: %s should keep %s ref", what, c->id,
                  e == 'S' ? "its" : "a new");
    if (e == 'N') ck_assert_int_eq(acto_alive(sys, before.c[k].ref), 0);
  }
  ck_assert_uint_eq(after.n, want_n);
  const acto_child_info *c2 = child_of(&after, "c2");
  if (r->c2_restarts >= 0) ck_assert_uint_eq(c2->restarts, (unsigned)r->c2_restarts);
  if (r->strategy == OFO) { /* the siblings were not touched */
    ck_assert_uint_eq(child_of(&after, "c1")->restarts, 0);
    ck_assert_uint_eq(child_of(&after, "c3")->restarts, 0);
  }
  acto_child_counts k;
  memset(&k, 0xff, sizeof k);
  ck_assert_ok(acto_supervisor_count_children(sys, sup, &k, TU_WAIT_MS));
  ck_assert_uint_eq(k.specs, want_n);
  ck_assert_uint_eq(k.active, want_active);
  ck_assert_uint_eq(k.workers, want_n);
  ck_assert_uint_eq(k.supervisors, 0);
  /* The failing message, and only it, is a dead letter. */
  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_FAILED), r->end == END_FAIL);

  /* Orderly shutdown: the remaining children in reverse start order. */
  log_clear(&g_wlog);
  teardown_tree(sys, sup);
  const char *want_down = r->refs[1] == 'S' || r->refs[1] == 'N'
                              ? "term(c3,1) term(c2,1) term(c1,1)"
                              : "term(c3,1) term(c1,1)";
  ck_assert_log(&g_wlog, want_down);
}

START_TEST(each_strategy_restart_type_and_ending_restarts_the_right_children_in_order) {
  /* Three seeds: the protocol must not depend on the scheduler's choices. */
  for (uint64_t k = 0; k < 3; k++) run_strategy_row(_i, det_system_seed(sv_seed() + k));
}
END_TEST

START_TEST(each_strategy_row_gives_the_same_sequence_with_two_worker_threads) {
  run_strategy_row(_i, thr_system(2));
}
END_TEST

/* ==== 2. starting ========================================================== */

START_TEST(start_runs_children_in_order_and_which_children_describes_them) {
  acto_system *sys = det_system();
  acto_child_spec in[1] = {worker("b1", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFO, in, 1, 1, 1000);
  acto_child_spec cs[3] = {worker("c1", PERM, 0), subsup("inner", &isp),
                           worker("c3", TRANS, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 1, 1000);
  acto_ref sup = start_sup(sys, &sp, "sv.top");
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(c1) init(b1) init(c3)");
  ck_assert_log(&g_elog, "start(c1,0) start(b1,0) start(inner,0) start(c3,0)");
  acto_ref named = ACTO_REF_NONE;
  ck_assert_ok(acto_lookup(sys, "sv.top", &named));
  ck_assert(acto_ref_eq(named, sup));

  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 3);
  ck_assert_str_eq(w.c[0].id, "c1");
  ck_assert_str_eq(w.c[1].id, "inner");
  ck_assert_str_eq(w.c[2].id, "c3");
  ck_assert_int_eq(w.c[1].kind, ACTO_SUPERVISOR);
  ck_assert_int_eq(w.c[2].restart, ACTO_TRANSIENT);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(w.c[i].state, ACTO_CHILD_RUNNING);
    ck_assert_uint_eq(w.c[i].restarts, 0);
    ck_assert_int_eq(acto_alive(sys, w.c[i].ref), 1);
  }
  sv_which iw = which(sys, w.c[1].ref);
  ck_assert_uint_eq(iw.n, 1);
  ck_assert_str_eq(iw.c[0].id, "b1");

  /* A smaller buffer gets the first entries; n still counts them all. */
  acto_child_info two[3];
  memset(two, 0x5a, sizeof two);
  size_t n = 0;
  ck_assert_ok(acto_supervisor_which_children(sys, sup, two, 2, &n, TU_WAIT_MS));
  ck_assert_uint_eq(n, 3);
  ck_assert_str_eq(two[1].id, "inner");
  ck_assert_int_eq(((unsigned char *)&two[2])[0], 0x5a);
  ck_assert_ok(acto_supervisor_which_children(sys, sup, NULL, 0, &n, TU_WAIT_MS));
  ck_assert_uint_eq(n, 3);

  acto_child_counts k;
  ck_assert_ok(acto_supervisor_count_children(sys, sup, &k, TU_WAIT_MS));
  ck_assert_uint_eq(k.specs, 3);
  ck_assert_uint_eq(k.active, 3);
  ck_assert_uint_eq(k.supervisors, 1);
  ck_assert_uint_eq(k.workers, 2);
  ck_assert_uint_eq(tu_stats(sys).actors_live, 5);
  teardown_tree(sys, sup);
}
END_TEST

/* Invalid specs: each row breaks one rule, and the refusal's log line
 * names where (the path of child ids) and the rule. */
static acto_sup_spec g_bad_nested; /* for the nested rows */
static acto_child_spec g_bad_nested_cs[2];

typedef struct bad_row {
  const char *where; /* expected in the log line */
  const char *rule;  /* ... and this part of the rule */
} bad_row;

static const bad_row BAD_ROWS[] = {
    {"child \"c1\"", "duplicate child id"},
    {"the spec", "exactly one child spec"},
    {"the spec", "exactly one child spec"},
    {"child \"c2\"", "behaviour with a handle"},
    {"child \"c2\"", "behaviour with a handle"},
    {"the spec", "strategy"},
    {"child \"c2\"", "restart is not"},
    {"the spec", "auto_shutdown is not"},
    {"child \"c2\"", "kind is not"},
    {"child \"c2\"", "overflow"},
    {"child #1", "non-empty id"},
    {"child #1", "non-empty id"},
    {"the spec", "jitter_pct"},
    {"the spec", "NULL children"},
    {"child \"c2\"", "shutdown_ms"},
    {"child \"c2\"", "NULL arg"},
    {"child \"c2\"", "nested spec"},
    {"child \"c2\"", "exactly one child spec"},
    /* OTP's combinations: refused at start. */
    {"the spec", "simple_one_for_one allows no auto_shutdown"},
    {"child \"c2\"", "significant child must be transient or temporary"},
    {"child \"c2\"", "significant child needs auto_shutdown"},
    {"child \"c2\" > child \"n2\"", "significant child needs auto_shutdown"},
    {"child \"c2\" > child \"n2\"", "significant child must be transient or temporary"},
};

#define N_BAD_SPECS ((int)(sizeof BAD_ROWS / sizeof BAD_ROWS[0]))

static void make_bad_spec(int i, acto_sup_spec *sp, acto_child_spec *cs) {
  static const acto_behaviour no_handle = {.name = "no_handle", .state_size = 8};
  cs[0] = worker("c1", PERM, 0);
  cs[1] = worker("c2", PERM, 0);
  *sp = sup_spec(OFO, cs, 2, 1, 1000);
  switch (i) {
  case 0: cs[1].id = "c1"; break;                                /* duplicate ids */
  case 1: sp->strategy = ACTO_SIMPLE_ONE_FOR_ONE; break;         /* simple, 2 children */
  case 2: sp->strategy = ACTO_SIMPLE_ONE_FOR_ONE; sp->nchildren = 0; break;
  case 3: cs[1].behaviour = NULL; break;                         /* NULL behaviour */
  case 4: cs[1].behaviour = &no_handle; break;                   /* no handle */
  case 5: sp->strategy = (acto_strategy)7; break;                /* bad enums */
  case 6: cs[1].restart = (acto_restart)3; break;
  case 7: sp->auto_shutdown = (acto_auto_shutdown)3; break;
  case 8: cs[1].kind = (acto_child_kind)2; break;
  case 9: cs[1].overflow = (acto_overflow)9; break;
  case 10: cs[1].id = NULL; break;                               /* ids */
  case 11: cs[1].id = ""; break;
  case 12: sp->jitter_pct = 101; break;
  case 13: sp->children = NULL; break;                           /* n > 0, no array */
  case 14: cs[1].shutdown_ms = -3; break;
  case 15: cs[1].arg = NULL; break;                              /* arg_size > 0, no arg */
  case 16: cs[1].kind = ACTO_SUPERVISOR; cs[1].sup = NULL; break; /* nested: no spec */
  case 17:                                                       /* nested: invalid spec */
    g_bad_nested = sup_spec(OFO, cs, 2, 1, 1000);
    g_bad_nested.strategy = ACTO_SIMPLE_ONE_FOR_ONE;
    cs[1] = subsup("c2", &g_bad_nested);
    break;
  case 18: /* auto_shutdown on simple_one_for_one */
    sp->strategy = ACTO_SIMPLE_ONE_FOR_ONE;
    sp->nchildren = 1;
    cs[0].restart = TRANS;
    sp->auto_shutdown = ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT;
    break;
  case 19: /* a permanent significant child */
    sp->auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
    cs[1].significant = 1;
    break;
  case 20: /* a significant child under auto_shutdown never */
    cs[1].restart = TRANS;
    cs[1].significant = 1;
    break;
  case 21: /* the same, in a nested spec */
  case 22:
    g_bad_nested_cs[0] = worker("n1", PERM, 0);
    g_bad_nested_cs[1] = worker("n2", i == 21 ? TEMP : PERM, 0);
    g_bad_nested_cs[1].significant = 1;
    g_bad_nested = sup_spec(OFO, g_bad_nested_cs, 2, 1, 1000);
    if (i == 22) g_bad_nested.auto_shutdown = ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT;
    cs[1] = subsup("c2", &g_bad_nested);
    break;
  default: break;
  }
}

/* The log lines of the system (a hook that keeps them). */
static struct {
  pthread_mutex_t mu;
  int n;
  char line[8][ACTO_LOG_LINE_MAX + 64];
} g_lines = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

static void line_hook(void *user, acto_log_level level, const char *component, const char *text) {
  (void)user;
  pthread_mutex_lock(&g_lines.mu);
  if (g_lines.n < 8)
    snprintf(g_lines.line[g_lines.n], sizeof g_lines.line[0], "%d %s: %s", (int)level, component,
             text);
  g_lines.n++;
  pthread_mutex_unlock(&g_lines.mu);
}

static void keep_lines(acto_system *sys) {
  pthread_mutex_lock(&g_lines.mu);
  g_lines.n = 0;
  pthread_mutex_unlock(&g_lines.mu);
  ck_assert_ok(acto_set_log_hook(sys, line_hook, NULL));
  ck_assert_ok(acto_set_log_level(sys, ACTO_LOG_INFO));
}

/* Exactly one line was logged: an ERROR of "supervisor" with each needle. */
static void assert_one_refusal(const char *what, const char *n1, const char *n2) {
  pthread_mutex_lock(&g_lines.mu);
  int n = g_lines.n;
  char l[sizeof g_lines.line[0]];
  snprintf(l, sizeof l, "%s", n > 0 ? g_lines.line[0] : "");
  pthread_mutex_unlock(&g_lines.mu);
  ck_assert_msg(n == 1, "%s: %d log lines, want 1 (first: %s)", what, n, l);
  ck_assert_msg(strncmp(l, "0 supervisor: spec refused: ", 28) == 0, "%s: line %s", what, l);
  ck_assert_msg(strstr(l, n1) != NULL, "%s: line '%s' lacks '%s'", what, l, n1);
  ck_assert_msg(!n2 || strstr(l, n2) != NULL, "%s: line '%s' lacks '%s'", what, l, n2);
}

START_TEST(start_rejects_an_invalid_spec_with_einval_and_leaves_no_actor) {
  acto_system *sys = det_system();
  keep_lines(sys);
  acto_child_spec cs[2];
  acto_sup_spec sp;
  make_bad_spec(_i, &sp, cs);
  acto_ref sup = ACTO_REF_NONE;
  int rc = acto_supervisor_start(sys, &sp, NULL, &sup);
  ck_assert_msg(rc == ACTO_EINVAL, "bad spec %d: acto_supervisor_start returned %s", _i,
                tu_name(rc));
  char what[32];
  snprintf(what, sizeof what, "bad spec %d", _i);
  assert_one_refusal(what, BAD_ROWS[_i].where, BAD_ROWS[_i].rule);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "");
  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  ck_assert_uint_eq(tu_stats(sys).actors_spawned, 0);
  tu_shutdown(sys);
}
END_TEST

/* The same rules hold for a spec run with acto_spawn and the behaviour. */
START_TEST(spawning_the_behaviour_with_an_invalid_spec_fails_init_and_logs_the_rule) {
  acto_system *sys = det_system();
  keep_lines(sys);
  acto_child_spec cs[2];
  acto_sup_spec sp;
  make_bad_spec(20, &sp, cs);
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_rc(acto_spawn(sys, acto_supervisor_behaviour(), &sp, NULL, &sup), ACTO_EINIT);
  assert_one_refusal("spawn", "child \"c2\"", "auto_shutdown");
  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(start_with_null_arguments_returns_einval) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 1, 1000);
  acto_ref sup;
  ck_assert_rc(acto_supervisor_start(NULL, &sp, NULL, &sup), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_start(sys, NULL, NULL, &sup), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_start(sys, &sp, NULL, NULL), ACTO_EINVAL);
  size_t n;
  ck_assert_rc(acto_supervisor_which_children(sys, ACTO_REF_NONE, NULL, 0, NULL, 0), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_count_children(sys, ACTO_REF_NONE, NULL, 0), ACTO_EINVAL);
  /* A supervisor that is gone is stale. */
  sup = start_sup(sys, &sp, NULL);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_rc(acto_supervisor_which_children(sys, sup, NULL, 0, &n, 0), ACTO_ESTALE);
  ck_assert_rc(acto_supervisor_stop(sys, sup, 0), ACTO_ESTALE);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(start_with_a_failing_child_init_returns_echild_and_leaves_no_actor) {
  acto_system *sys = det_system();
  snprintf(g_initfail.id, sizeof g_initfail.id, "c2");
  atomic_store(&g_initfail.times, 1);
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start(sys, &sp, "sv.failing", &sup), ACTO_ECHILD);
  /* c1 was started, then stopped before the call returned; c3 never
   * started. */
  ck_assert_log(&g_wlog, "init(c1) initfail(c2) term(c1,1)");
  ck_assert_log(&g_elog, "start(c1,0) stop(c1,1)");
  acto_ref r;
  ck_assert_rc(acto_lookup(sys, "sv.failing", &r), ACTO_ENOENT);
  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(c1) initfail(c2) term(c1,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* OTP: when a child fails to start, those already started are terminated
 * in reverse start order, each completely, before start_link returns the
 * error.  The children started so far never ran: what their inits sent
 * themselves was never handled (it becomes dead letters).  With two
 * worker threads the log must be the same at the moment the call
 * returns: nothing of it depends on timing. */
static void failing_third_child(acto_system *sys) {
  snprintf(g_initfail.id, sizeof g_initfail.id, "c3");
  atomic_store(&g_initfail.times, 1);
  acto_child_spec cs[4] = {worker("c1", PERM, W_SELFREC), worker("c2", TRANS, W_SELFREC),
                           worker("c3", PERM, 0), worker("c4", PERM, 0)};
  cs[1].name = "sv.c2";
  acto_sup_spec sp = sup_spec(OFO, cs, 4, 5, 1000);
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start(sys, &sp, "sv.failing", &sup), ACTO_ECHILD);
  ck_assert_log(&g_wlog, "init(c1) init(c2) initfail(c3) term(c2,1) term(c1,1)");
  ck_assert_log(&g_elog, "start(c1,0) start(c2,0) stop(c2,1) stop(c1,1)");
  acto_ref r;
  ck_assert_rc(acto_lookup(sys, "sv.c2", &r), ACTO_ENOENT);
  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  if (is_det(sys)) run_for(sys, 0);
  else tu_sleep_ms(20); /* let anything unexpected show */
  ck_assert_log(&g_wlog, "init(c1) init(c2) initfail(c3) term(c2,1) term(c1,1)");
  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_CLOSED), 2);
  assert_no_actors(sys);
  tu_shutdown(sys);
}

START_TEST(a_failing_third_child_stops_the_first_two_in_reverse_order_before_start_returns) {
  failing_third_child(det_system());
}
END_TEST

START_TEST(a_failing_third_child_stops_the_others_in_reverse_order_with_two_worker_threads) {
  failing_third_child(thr_system(2));
}
END_TEST

/* The children started by a successful start were held until the last
 * one started, then released: what they sent themselves is handled. */
START_TEST(children_run_once_every_child_has_started) {
  acto_system *sys = det_system();
  acto_child_spec in[1] = {worker("b1", PERM, W_SELFREC)};
  acto_sup_spec isp = sup_spec(OFO, in, 1, 5, 1000);
  acto_child_spec cs[3] = {worker("c1", PERM, W_SELFREC), subsup("inner", &isp),
                           worker("c3", PERM, W_SELFREC)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  ck_assert_log(&g_wlog, "init(c1) init(b1) init(c3)");
  run_for(sys, 0);
  ck_assert_int_eq(log_count(&g_wlog), 6);
  ck_assert_int_eq(log_matches(&g_wlog, "rec(c1,0,1)") + log_matches(&g_wlog, "rec(b1,0,1)") +
                       log_matches(&g_wlog, "rec(c3,0,1)"),
                   3);
  teardown_tree(sys, sup);
}
END_TEST

/* Nested: the whole started subtree is stopped, deepest first, before
 * the top start returns; the nested supervisor's own events report it. */
START_TEST(a_failing_child_after_a_nested_supervisor_stops_its_subtree_first) {
  acto_system *sys = det_system();
  snprintf(g_initfail.id, sizeof g_initfail.id, "c3");
  atomic_store(&g_initfail.times, 1);
  acto_child_spec in[2] = {worker("b1", PERM, W_SELFREC), worker("b2", PERM, W_SELFREC)};
  acto_sup_spec isp = sup_spec(OFO, in, 2, 5, 1000);
  isp.event_user = "in";
  acto_child_spec out[3] = {worker("c1", PERM, 0), subsup("inner", &isp), worker("c3", PERM, 0)};
  acto_sup_spec osp = sup_spec(OFO, out, 3, 5, 1000);
  osp.event_user = "out";
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start(sys, &osp, NULL, &sup), ACTO_ECHILD);
  ck_assert_log(&g_wlog, "init(c1) init(b1) init(b2) initfail(c3) term(b2,1) term(b1,1) term(c1,1)");
  ck_assert_log(&g_elog, "out:start(c1,0) in:start(b1,0) in:start(b2,0) out:start(inner,0) "
                         "in:shutdown(,1) in:stop(b2,1) in:stop(b1,1) out:stop(inner,1) "
                         "out:stop(c1,1)");
  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  run_for(sys, 0);
  ck_assert_int_eq(log_count(&g_wlog), 7);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_nested_supervisor_whose_third_child_fails_stops_the_first_two_in_reverse_order) {
  acto_system *sys = det_system();
  snprintf(g_initfail.id, sizeof g_initfail.id, "b3");
  atomic_store(&g_initfail.times, 1);
  acto_child_spec in[3] = {worker("b1", PERM, 0), worker("b2", PERM, 0), worker("b3", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFO, in, 3, 5, 1000);
  isp.event_user = "in";
  acto_child_spec out[3] = {worker("c1", PERM, 0), subsup("inner", &isp), worker("c3", PERM, 0)};
  acto_sup_spec osp = sup_spec(OFO, out, 3, 5, 1000);
  osp.event_user = "out";
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start(sys, &osp, NULL, &sup), ACTO_ECHILD);
  ck_assert_log(&g_wlog, "init(c1) init(b1) init(b2) initfail(b3) term(b2,1) term(b1,1) term(c1,1)");
  ck_assert_log(&g_elog, "out:start(c1,0) in:start(b1,0) in:start(b2,0) in:stop(b2,1) "
                         "in:stop(b1,1) out:stop(c1,1)");
  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  tu_shutdown(sys);
}
END_TEST

/* A nested supervisor started by a running parent (here from a
 * simple_one_for_one template): its init runs on the parent's worker,
 * which must not wait; the started children are stopped on that worker,
 * in reverse order, before start_child returns ACTO_ECHILD. */
static void nested_started_by_a_running_parent(acto_system *sys) {
  snprintf(g_initfail.id, sizeof g_initfail.id, "b3");
  atomic_store(&g_initfail.times, 1);
  acto_child_spec in[3] = {worker("b1", PERM, W_SELFREC), worker("b2", PERM, W_SELFREC),
                           worker("b3", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFO, in, 3, 5, 1000);
  isp.event_user = "in";
  acto_child_spec t = subsup("inner", &isp);
  acto_sup_spec osp = sup_spec(ACTO_SIMPLE_ONE_FOR_ONE, &t, 1, 5, 1000);
  osp.event_user = "out";
  acto_ref sup = start_sup(sys, &osp, NULL);
  acto_ref c = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &c), ACTO_ECHILD);
  ck_assert_log(&g_wlog, "init(b1) init(b2) initfail(b3) term(b2,1) term(b1,1)");
  ck_assert_log(&g_elog, "in:start(b1,0) in:start(b2,0) in:stop(b2,1) in:stop(b1,1)");
  ck_assert_uint_eq(which(sys, sup).n, 0);
  /* The second try starts the whole subtree. */
  log_clear(&g_wlog);
  ck_assert_ok(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &c));
  if (is_det(sys)) run_for(sys, 0);
  ck_assert_log_matches_reach(&g_wlog, "rec(b1,0,1)", 1);
  ck_assert_log_matches_reach(&g_wlog, "rec(b2,0,1)", 1);
  ck_assert_int_eq(log_matches(&g_wlog, "init(b3)"), 1);
  teardown_tree(sys, sup);
}

START_TEST(a_nested_supervisor_started_by_a_running_parent_stops_its_children_in_reverse_order) {
  nested_started_by_a_running_parent(det_system());
}
END_TEST

START_TEST(a_nested_supervisor_started_by_a_running_parent_with_two_worker_threads) {
  nested_started_by_a_running_parent(thr_system(2));
}
END_TEST

/* ---- init answers ignore (OTP's ignore) ---- */

static void ignore_next(const char *id, int times) {
  snprintf(g_initignore.id, sizeof g_initignore.id, "%s", id);
  atomic_store(&g_initignore.times, times);
}

START_TEST(a_child_whose_init_answers_ignore_is_kept_stopped_and_the_start_succeeds) {
  acto_system *sys = det_system();
  ignore_next("c2", 1);
  acto_child_spec cs[4] = {worker("c1", PERM, 0), worker("c2", TRANS, 0), worker("c3", PERM, 0),
                           worker("c4", TEMP, 0)};
  cs[1].name = "sv.c2";
  acto_sup_spec sp = sup_spec(OFO, cs, 4, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(c1) initignore(c2) init(c3) init(c4)");
  ck_assert_log(&g_elog, "start(c1,0) ignore(c2,0) start(c3,0) start(c4,0)");
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 4);
  ck_assert_int_eq(w.c[1].state, ACTO_CHILD_STOPPED);
  ck_assert(acto_ref_is_none(w.c[1].ref));
  acto_ref r;
  ck_assert_rc(acto_lookup(sys, "sv.c2", &r), ACTO_ENOENT);
  ck_assert_uint_eq(tu_stats(sys).actors_live, 4);
  ck_assert_int_eq(tu_crash_count(&g_crash), 0); /* not a failure */
  run_for(sys, 10000);
  ck_assert_int_eq(log_matches(&g_wlog, "init(c2)"), 0); /* and not restarted */
  teardown_tree(sys, sup);

  /* A temporary child that answers ignore is not kept (OTP). */
  sys = det_system();
  ignore_next("c4", 1);
  acto_child_spec ts[2] = {worker("c1", PERM, 0), worker("c4", TEMP, 0)};
  sp = sup_spec(OFO, ts, 2, 5, 1000);
  sup = start_sup(sys, &sp, NULL);
  w = which(sys, sup);
  ck_assert_uint_eq(w.n, 1);
  ck_assert_str_eq(w.c[0].id, "c1");
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(simple_start_child_whose_init_answers_ignore_returns_0_and_no_ref) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, PERM);
  acto_ref sup = start_sup(sys, &sp, NULL);
  ignore_next("d1", 1);
  wargs a;
  memset(&a, 0, sizeof a);
  snprintf(a.id, sizeof a.id, "d1");
  acto_ref c = sup; /* overwritten */
  ck_assert_ok(acto_supervisor_start_child(sys, sup, &a, sizeof a, TU_WAIT_MS, &c));
  ck_assert(acto_ref_is_none(c));
  ck_assert_uint_eq(which(sys, sup).n, 0);
  ck_assert_log(&g_elog, "ignore(dyn,0)");
  ck_assert_uint_eq(tu_stats(sys).actors_live, 1);
  start_dyn(sys, sup, "d1");
  ck_assert_uint_eq(which(sys, sup).n, 1);
  teardown_tree(sys, sup);
}
END_TEST

/* A restart whose init answers ignore: the child is not running and is
 * not restarted again; it is kept stopped.  In place (after a failure)
 * the actor goes with ACTO_REASON_NORMAL and without terminate; a new
 * actor (after a stop) is simply not created. */
START_TEST(a_restart_whose_init_answers_ignore_leaves_the_child_stopped) {
  for (int k = 0; k < 2; k++) {
    acto_system *sys = det_system();
    acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
    acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
    acto_ref sup = start_sup(sys, &sp, NULL);
    acto_ref c1 = ref_of(sys, sup, "c1");
    acto_ref w = watch(sys, c1, 0);
    run_for(sys, 0);
    log_clear(&g_wlog);
    log_clear(&g_elog);
    ignore_next("c1", 1);
    send0(sys, c1, k == 0 ? MSG_FAIL : MSG_STOP);
    send_rec(sys, c1, 9); /* behind it: never handled */
    run_for(sys, 1000);
    if (k == 0) {
      ck_assert_log(&g_wlog, "term(c1,-3) initignore(c1)");
      ck_assert_log(&g_elog, "fail(c1,-3) ignore(c1,0)");
      ck_assert_log(&g_xlog, "down(0)");
    } else {
      ck_assert_log(&g_wlog, "term(c1,0) initignore(c1)");
      ck_assert_log(&g_elog, "exit(c1,0) ignore(c1,0)");
    }
    ck_assert_int_eq(acto_alive(sys, c1), 0);
    sv_which sw = which(sys, sup);
    ck_assert_int_eq(sw.c[0].state, ACTO_CHILD_STOPPED);
    ck_assert(acto_ref_is_none(sw.c[0].ref));
    ck_assert_int_eq(sw.c[1].state, ACTO_CHILD_RUNNING);
    ck_assert_int_eq(tu_crash_count(&g_crash), k == 0 ? 1 : 0); /* the failure, not the ignore */
    ck_assert_ok(acto_stop(sys, w));
    teardown_tree(sys, sup);
  }
}
END_TEST

START_TEST(a_group_restart_goes_on_when_one_init_answers_ignore) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  ignore_next("c1", 1);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "term(c3,1) term(c1,1) initignore(c1) term(c2,-3) init(c2) init(c3)");
  ck_assert_log(&g_elog, "fail(c2,-3) ignore(c1,0) restart(c2,0) restart(c3,0)");
  sv_which w = which(sys, sup);
  ck_assert_int_eq(w.c[0].state, ACTO_CHILD_STOPPED);
  ck_assert_int_eq(w.c[1].state, ACTO_CHILD_RUNNING);
  ck_assert_int_eq(w.c[2].state, ACTO_CHILD_RUNNING);
  teardown_tree(sys, sup);
}
END_TEST

/* ==== 3. restart in place =================================================== */

START_TEST(restart_in_place_keeps_ref_name_queue_and_dead_letters_the_failed_message) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  cs[0].name = "sv.c1";
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  log_clear(&g_wlog);
  /* Queued together: the failure leaves 1 and 2 in the mailbox. */
  send_rec(sys, c1, 0);
  send0(sys, c1, MSG_FAIL);
  send_rec(sys, c1, 1);
  send_rec(sys, c1, 2);
  run_for(sys, 0);
  /* rec's count restarts from 1: the state is fresh. */
  ck_assert_log(&g_wlog, "rec(c1,0,1) term(c1,-3) init(c1) rec(c1,1,1) rec(c1,2,2)");
  ck_assert(acto_ref_eq(ref_of(sys, sup, "c1"), c1));
  acto_ref named;
  ck_assert_ok(acto_lookup(sys, "sv.c1", &named));
  ck_assert(acto_ref_eq(named, c1));
  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_FAILED), 1);
  ck_assert_int_eq(tu_dead_matches(&g_dead, c1, MSG_FAIL, ACTO_DEAD_FAILED), 1);
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 1);
  ck_assert_int_eq(tu_crash_count(&g_crash), 1);
  ck_assert(acto_ref_eq(tu_crash_at(&g_crash, 0).actor, c1));
  ck_assert_str_eq(tu_crash_at(&g_crash, 0).behaviour, "sv_worker");
  ck_assert_int_eq(tu_crash_at(&g_crash, 0).reason, -3);
  ck_assert_uint_eq(tu_crash_at(&g_crash, 0).msg_type, MSG_FAIL);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(restart_in_place_of_a_child_blocked_in_a_handler_keeps_the_messages_behind_it) {
  acto_system *sys = thr_system(2);
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  log_clear(&g_wlog);
  send_rec(sys, c1, 0);
  send0(sys, c1, MSG_GATE_FAIL);
  ck_assert_counter_reaches(&g_entered, 1);
  send_rec(sys, c1, 1); /* queued while the handler is blocked */
  send_rec(sys, c1, 2);
  tu_gate_open(&g_gate);
  ck_assert_log_reaches(&g_wlog, 5);
  ck_assert_log(&g_wlog, "rec(c1,0,1) term(c1,-3) init(c1) rec(c1,1,1) rec(c1,2,2)");
  ck_assert(acto_ref_eq(ref_of(sys, sup, "c1"), c1));
  ck_assert_dead_hook_reaches(&g_dead, ACTO_DEAD_FAILED, 1);
  ck_assert_int_eq(tu_dead_matches(&g_dead, c1, MSG_GATE_FAIL, ACTO_DEAD_FAILED), 1);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(exit_self_with_a_negative_reason_is_a_failure_restarted_in_place) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", TRANS, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  send0(sys, c1, MSG_EXIT_FAIL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "term(c1,-4) init(c1)");
  ck_assert_log(&g_elog, "fail(c1,-4) restart(c1,0)");
  ck_assert(acto_ref_eq(ref_of(sys, sup, "c1"), c1));
  ck_assert_int_eq(tu_dead_matches(&g_dead, c1, MSG_EXIT_FAIL, ACTO_DEAD_FAILED), 1);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(a_stopped_permanent_child_is_replaced_by_a_new_actor_and_its_name_moves) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  cs[0].name = "sv.c1";
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref old = ref_of(sys, sup, "c1");
  send_rec(sys, old, 7);
  send0(sys, old, MSG_STOP);
  send_rec(sys, old, 8); /* queued behind the stop: a dead letter, not carried over */
  run_for(sys, 0);
  acto_ref fresh = ref_of(sys, sup, "c1");
  ck_assert(!acto_ref_eq(fresh, old));
  ck_assert_int_eq(acto_alive(sys, old), 0);
  acto_ref named;
  ck_assert_ok(acto_lookup(sys, "sv.c1", &named));
  ck_assert(acto_ref_eq(named, fresh));
  ck_assert_log(&g_wlog, "init(c1) rec(c1,7,1) term(c1,0) init(c1)");
  ck_assert_int_eq(tu_dead_matches(&g_dead, old, MSG_RECORD, ACTO_DEAD_CLOSED), 1);
  ck_assert_rc(acto_send(sys, old, MSG_RECORD, NULL, 0), ACTO_ESTALE);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(links_and_monitors_on_a_child_survive_its_restart_in_place) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  acto_ref w = watch(sys, c1, 1);
  run_for(sys, 0);
  send0(sys, c1, MSG_FAIL);
  run_for(sys, 0);
  ck_assert_log(&g_xlog, ""); /* no exit signal, no DOWN: the actor never stopped */
  ck_assert(acto_ref_eq(ref_of(sys, sup, "c1"), c1));
  /* The link and the monitor still fire when it really stops. */
  send0(sys, c1, MSG_STOP);
  run_for(sys, 0);
  ck_assert_log(&g_xlog, "exit(0) down(0)");
  ck_assert_ok(acto_stop(sys, w));
  teardown_tree(sys, sup);
}
END_TEST

/* ==== 4. group restarts ======================================================= */

START_TEST(group_restart_drops_temporary_siblings_and_restarts_transient_ones) {
  acto_system *sys = det_system();
  acto_child_spec cs[4] = {worker("c1", TRANS, 0), worker("c2", PERM, 0), worker("c3", TEMP, 0),
                           worker("c4", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 4, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  sv_which before = which(sys, sup);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  send0(sys, before.c[1].ref, MSG_FAIL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "term(c4,1) term(c3,1) term(c1,1) init(c1) term(c2,-3) init(c2) init(c4)");
  sv_which after = which(sys, sup);
  ck_assert_uint_eq(after.n, 3);
  ck_assert_ptr_null(child_of(&after, "c3"));
  ck_assert_int_eq(acto_alive(sys, before.c[2].ref), 0);
  ck_assert(acto_ref_eq(child_of(&after, "c1")->ref, before.c[0].ref));
  ck_assert(acto_ref_eq(child_of(&after, "c4")->ref, before.c[3].ref));
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(group_restart_counts_a_restart_for_every_restarted_sibling) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(RFO, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 0);
  sv_which w = which(sys, sup);
  /* c2 failed and c3 was restarted with it; c1 was not touched. */
  ck_assert_uint_eq(w.c[0].restarts, 0);
  ck_assert_uint_eq(w.c[1].restarts, 1);
  ck_assert_msg(w.c[2].restarts == 1, "c3 was terminated and initialised again, but "
                "which_children says restarts=%u", w.c[2].restarts);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(group_restart_loses_no_queued_message_of_a_sibling) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2"), c3 = ref_of(sys, sup, "c3");
  send0(sys, c2, MSG_FAIL);
  for (uint64_t v = 1; v <= 20; v++) send_rec(sys, c3, v);
  run_for(sys, 0);
  /* Some records run before c3 is suspended, the rest after its restart;
   * every one exactly once, in order. */
  int seen = 0;
  char tok[SV_TOK];
  for (uint64_t v = 1; v <= 20; v++) {
    int hits = 0;
    for (int n = 1; n <= 20; n++) {
      snprintf(tok, sizeof tok, "rec(c3,%llu,%d)", (unsigned long long)v, n);
      hits += log_matches(&g_wlog, tok);
    }
    seen += hits == 1;
  }
  ck_assert_msg(seen == 20, "%d of 20 records handled exactly once: %s", seen, log_str(&g_wlog));
  ck_assert_int_eq(log_matches(&g_wlog, "init(c3)"), 2);
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 1);
  teardown_tree(sys, sup);
}
END_TEST


/* A temporary sibling that goes during a group restart must not let the
 * next child start before the one being restarted has finished its init. */
static void group_with_a_temporary(acto_system *sys) {
  acto_child_spec cs[4] = {worker("c1", PERM, 0), worker("c2", TEMP, 0), worker("c3", PERM, 0),
                           worker("c4", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 4, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  if (is_det(sys)) run_for(sys, 0);
  log_clear(&g_wlog);
  send0(sys, ref_of(sys, sup, "c1"), MSG_FAIL);
  if (is_det(sys)) run_for(sys, 0);
  else ck_assert_log_reaches(&g_wlog, 7);
  /* c2 goes (its terminate already ran when it was suspended). */
  ck_assert_log(&g_wlog, "term(c4,1) term(c3,1) term(c2,1) term(c1,-3) init(c1) init(c3) init(c4)");
  ck_assert_uint_eq(which(sys, sup).n, 3);
  teardown_tree(sys, sup);
}

START_TEST(a_group_restart_starts_children_in_order_while_a_temporary_sibling_goes) {
  for (uint64_t k = 0; k < 8; k++) group_with_a_temporary(det_system_seed(sv_seed() + k));
  group_with_a_temporary(thr_system(2));
}
END_TEST

START_TEST(a_killed_nested_supervisor_with_named_children_is_replaced_and_its_names_move) {
  acto_system *sys = det_system();
  acto_child_spec in[2] = {worker("b1", PERM, 0), worker("b2", PERM, 0)};
  in[0].name = "sv.b1";
  acto_sup_spec isp = sup_spec(OFO, in, 2, 5, 1000);
  isp.event_user = "in";
  acto_child_spec out[1] = {subsup("inner", &isp)};
  acto_sup_spec osp = sup_spec(OFO, out, 1, 3, 1000);
  osp.event_user = "out";
  acto_ref top = start_sup(sys, &osp, NULL);
  acto_ref inner = ref_of(sys, top, "inner");
  acto_ref old_b1 = ref_of(sys, inner, "b1");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  /* Killed: no ordered shutdown; its children get exit signals and go
   * on their own.  The parent starts a new inner supervisor, whose b1
   * wants the name the old b1 may still hold. */
  ck_assert_ok(acto_kill(sys, inner));
  run_for(sys, 1000);
  ck_assert_msg(acto_alive(sys, top), "the top supervisor gave up: %s", log_str(&g_elog));
  acto_ref new_inner = ref_of(sys, top, "inner");
  ck_assert(!acto_ref_eq(new_inner, inner));
  ck_assert_int_eq(acto_alive(sys, new_inner), 1);
  acto_ref new_b1 = ref_of(sys, new_inner, "b1");
  ck_assert(!acto_ref_eq(new_b1, old_b1));
  acto_ref named;
  ck_assert_ok(acto_lookup(sys, "sv.b1", &named));
  ck_assert(acto_ref_eq(named, new_b1));
  ck_assert_int_eq(log_matches(&g_wlog, "term(b1,1)"), 1);
  ck_assert_int_eq(log_matches(&g_wlog, "term(b2,1)"), 1);
  teardown_tree(sys, top);
}
END_TEST

/* ==== 5. intensity ============================================================ */

START_TEST(four_failures_within_one_second_make_the_supervisor_give_up_with_emaxrestarts) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 3, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2");
  acto_ref w = watch(sys, sup, 0);
  run_for(sys, 0);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  for (int i = 0; i < 4; i++) {
    send0(sys, c2, MSG_FAIL); /* the same ref each time: restarted in place */
    run_for(sys, 100);
  }
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  /* Three restarts; the fourth failure stops the children in reverse
   * start order and the supervisor fails with ACTO_EMAXRESTARTS. */
  /* (c2's last reason: see the next test.) */
  ck_assert_log_either(
      &g_elog,
      "fail(c2,-3) restart(c2,0) fail(c2,-3) restart(c2,0) fail(c2,-3) restart(c2,0) "
      "fail(c2,-3) giveup(c2,-3) shutdown(,-19) stop(c3,1) stop(c2,-3) stop(c1,1)",
      "fail(c2,-3) restart(c2,0) fail(c2,-3) restart(c2,0) fail(c2,-3) restart(c2,0) "
      "fail(c2,-3) giveup(c2,-3) shutdown(,-19) stop(c3,1) stop(c2,1) stop(c1,1)");
  ck_assert_log_either(&g_wlog,
                       "term(c2,-3) init(c2) term(c2,-3) init(c2) term(c2,-3) init(c2) "
                       "term(c3,1) term(c2,-3) term(c1,1)",
                       "term(c2,-3) init(c2) term(c2,-3) init(c2) term(c2,-3) init(c2) "
                       "term(c3,1) term(c2,1) term(c1,1)");
  ck_assert_log(&g_xlog, "down(-19)");
  ck_assert_int_eq(log_time(&g_xlog, "down(-19)", 0), 300);
  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_FAILED), 4);
  ck_assert_ok(acto_stop(sys, w));
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_failed_child_stopped_by_a_giving_up_supervisor_terminates_with_its_own_reason) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 1, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  send0(sys, c1, MSG_FAIL);
  run_for(sys, 0);
  log_clear(&g_wlog);
  send0(sys, c1, MSG_FAIL); /* the second within the period: give up */
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  /* The child failed with -3; its terminate, deferred until the verdict,
   * must still see -3 (as it does when it is restarted in place). */
  ck_assert_log(&g_wlog, "term(c1,-3)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(failures_spread_beyond_the_period_never_trip_the_intensity) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 3, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  for (int i = 0; i < 12; i++) {
    send0(sys, c1, MSG_FAIL);
    run_for(sys, 600);
  }
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_int_eq(log_matches(&g_elog, "restart(c1,0)"), 12);
  ck_assert_int_eq(log_matches(&g_elog, "giveup(c1,-3)"), 0);
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.c[0].restarts, 12);
  ck_assert(acto_ref_eq(w.c[0].ref, c1));
  /* Once the window has emptied, three in quick succession fit; the
   * fourth does not. */
  run_for(sys, 1000);
  for (int i = 0; i < 3; i++) {
    send0(sys, c1, MSG_FAIL);
    run_for(sys, 10);
  }
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  send0(sys, c1, MSG_FAIL);
  run_for(sys, 10);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(restarts_of_different_children_share_one_intensity_window) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 3, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  sv_which w = which(sys, sup);
  for (int i = 0; i < 3; i++) {
    send0(sys, w.c[i].ref, MSG_FAIL);
    run_for(sys, 100);
  }
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  send0(sys, w.c[0].ref, MSG_FAIL);
  run_for(sys, 100);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_int_eq(log_matches(&g_elog, "giveup(c1,-3)"), 1);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* period_ms 0 means 5 s (OTP's default period); intensity is taken as
 * written, so this spec allows one restart in 5 s. */
START_TEST(a_zero_period_means_five_seconds) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 1, 0);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  send0(sys, c1, MSG_FAIL);
  run_for(sys, 5000); /* out of the window */
  send0(sys, c1, MSG_FAIL);
  run_for(sys, 4900);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  send0(sys, c1, MSG_FAIL); /* 4.9 s after the last restart */
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_int_eq(log_matches(&g_elog, "restart(c1,0)"), 2);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* Intensity 0 means no restart at all: the first restart the supervisor
 * would make exceeds it, and it gives up (OTP's MaxR = 0).  A child that
 * needs no restart (transient, normal stop) does not count. */
START_TEST(intensity_zero_means_the_first_restart_gives_up) {
  static const uint32_t how[] = {MSG_FAIL, MSG_STOP, MSG_STOP};
  for (int k = 0; k < 3; k++) {
    acto_system *sys = det_system();
    acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", k == 2 ? TRANS : PERM, 0)};
    acto_sup_spec sp = sup_spec(OFO, cs, 2, 0, 0);
    acto_ref sup = start_sup(sys, &sp, NULL);
    acto_ref w = watch(sys, sup, 0);
    run_for(sys, 0);
    log_clear(&g_wlog);
    log_clear(&g_elog);
    send0(sys, ref_of(sys, sup, "c2"), how[k]);
    run_for(sys, 0);
    if (k == 2) { /* transient, normal: nothing to restart */
      ck_assert_int_eq(acto_alive(sys, sup), 1);
      ck_assert_log(&g_elog, "exit(c2,0)");
      ck_assert_ok(acto_stop(sys, w));
      teardown_tree(sys, sup);
      continue;
    }
    ck_assert_int_eq(acto_alive(sys, sup), 0);
    ck_assert_int_eq(log_matches(&g_elog, "restart(c2,0)"), 0);
    ck_assert_int_eq(log_matches(&g_wlog, "init(c2)"), 0);
    ck_assert_int_eq(log_matches(&g_elog, k == 0 ? "giveup(c2,-3)" : "giveup(c2,0)"), 1);
    ck_assert_log(&g_xlog, "down(-19)");
    ck_assert_ok(acto_stop(sys, w));
    assert_no_actors(sys);
    tu_shutdown(sys);
  }
}
END_TEST


START_TEST(a_nested_supervisor_that_gives_up_is_seen_failing_by_its_parent_and_restarted) {
  acto_system *sys = det_system();
  acto_child_spec in[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFO, in, 3, 3, 1000);
  isp.event_user = "in";
  acto_child_spec out[2] = {worker("a", PERM, 0), subsup("inner", &isp)};
  acto_sup_spec osp = sup_spec(OFO, out, 2, 5, 10000);
  osp.event_user = "out";
  acto_ref top = start_sup(sys, &osp, NULL);
  acto_ref inner = ref_of(sys, top, "inner");
  acto_ref c2 = ref_of(sys, inner, "c2");
  acto_ref old_c1 = ref_of(sys, inner, "c1");
  run_for(sys, 0);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  for (int i = 0; i < 4; i++) {
    send0(sys, c2, MSG_FAIL);
    run_for(sys, 100);
  }
  ck_assert_log_either(&g_elog,
                       "in:fail(c2,-3) in:restart(c2,0) in:fail(c2,-3) in:restart(c2,0) "
                       "in:fail(c2,-3) in:restart(c2,0) in:fail(c2,-3) in:giveup(c2,-3) "
                       "in:shutdown(,-19) in:stop(c3,1) in:stop(c2,-3) in:stop(c1,1) "
                       "out:fail(inner,-19) in:start(c1,0) in:start(c2,0) in:start(c3,0) "
                       "out:restart(inner,0)",
                       "in:fail(c2,-3) in:restart(c2,0) in:fail(c2,-3) in:restart(c2,0) "
                       "in:fail(c2,-3) in:restart(c2,0) in:fail(c2,-3) in:giveup(c2,-3) "
                       "in:shutdown(,-19) in:stop(c3,1) in:stop(c2,1) in:stop(c1,1) "
                       "out:fail(inner,-19) in:start(c1,0) in:start(c2,0) in:start(c3,0) "
                       "out:restart(inner,0)");
  /* The inner supervisor was restarted in place: same ref, new children. */
  sv_which ow = which(sys, top);
  ck_assert(acto_ref_eq(child_of(&ow, "inner")->ref, inner));
  ck_assert_uint_eq(child_of(&ow, "inner")->restarts, 1);
  ck_assert_int_eq(child_of(&ow, "inner")->state, ACTO_CHILD_RUNNING);
  sv_which iw = which(sys, inner);
  ck_assert_uint_eq(iw.n, 3);
  ck_assert(!acto_ref_eq(child_of(&iw, "c1")->ref, old_c1));
  ck_assert_int_eq(acto_alive(sys, old_c1), 0);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(iw.c[i].state, ACTO_CHILD_RUNNING);
    ck_assert_uint_eq(iw.c[i].restarts, 0);
  }
  ck_assert_int_eq(log_matches(&g_wlog, "term(a,1)"), 0); /* a untouched */
  /* The fresh inner tree supervises as before. */
  log_clear(&g_elog);
  send0(sys, child_of(&iw, "c3")->ref, MSG_FAIL);
  run_for(sys, 0);
  ck_assert_log(&g_elog, "in:fail(c3,-3) in:restart(c3,0)");
  teardown_tree(sys, top);
}
END_TEST

/* Giving up is OTP's `shutdown` for the parent's restart decision: a
 * permanent nested supervisor is restarted (above), a transient or
 * temporary one is not; monitors still see ACTO_EMAXRESTARTS, and a
 * significant transient one that gives up shuts its parent down. */
START_TEST(a_transient_or_temporary_nested_supervisor_that_gives_up_is_not_restarted) {
  for (int k = 0; k < 3; k++) {
    acto_system *sys = det_system();
    acto_child_spec in[1] = {worker("c1", PERM, 0)};
    acto_sup_spec isp = sup_spec(OFO, in, 1, 1, 1000);
    isp.event_user = "in";
    acto_child_spec out[2] = {worker("a", PERM, 0), subsup("inner", &isp)};
    out[1].restart = k == 0 ? TEMP : TRANS;
    out[1].significant = k == 2;
    acto_sup_spec osp = sup_spec(OFO, out, 2, 5, 10000);
    osp.event_user = "out";
    if (k == 2) osp.auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
    acto_ref top = start_sup(sys, &osp, NULL);
    acto_ref inner = ref_of(sys, top, "inner");
    acto_ref c1 = ref_of(sys, inner, "c1");
    acto_ref w = watch(sys, inner, 0);
    run_for(sys, 0);
    log_clear(&g_wlog);
    log_clear(&g_elog);
    send0(sys, c1, MSG_FAIL);
    run_for(sys, 100);
    send0(sys, c1, MSG_FAIL); /* the second within the period: inner gives up */
    run_for(sys, 100);
    ck_assert_int_eq(acto_alive(sys, inner), 0);
    ck_assert_log(&g_xlog, "down(-19)");
    ck_assert_int_eq(log_matches(&g_elog, "in:start(c1,0)"), 0); /* never started again */
    ck_assert_int_eq(log_matches(&g_elog, "out:fail(inner,-19)"), 1);
    ck_assert_int_eq(log_matches(&g_elog, "out:restart(inner,0)"), 0);
    ck_assert_int_eq(log_matches(&g_elog, "out:stop(inner,-19)"), 1);
    if (k == 2) { /* significant: the parent shuts down, in order */
      ck_assert_int_eq(acto_alive(sys, top), 0);
      ck_assert_int_eq(log_matches(&g_elog, "out:shutdown(,1)"), 1);
      ck_assert_int_eq(log_matches(&g_wlog, "term(a,1)"), 1);
      ck_assert_ok(acto_stop(sys, w));
      assert_no_actors(sys);
      tu_shutdown(sys);
      continue;
    }
    ck_assert_int_eq(acto_alive(sys, top), 1);
    sv_which ow = which(sys, top);
    if (k == 0) { /* temporary: forgotten */
      ck_assert_uint_eq(ow.n, 1);
      ck_assert_ptr_null(child_of(&ow, "inner"));
    } else { /* transient: kept, stopped */
      ck_assert_uint_eq(ow.n, 2);
      ck_assert_int_eq(child_of(&ow, "inner")->state, ACTO_CHILD_STOPPED);
      ck_assert(acto_ref_is_none(child_of(&ow, "inner")->ref));
    }
    ck_assert_int_eq(log_matches(&g_wlog, "term(a,1)"), 0); /* a untouched */
    ck_assert_ok(acto_stop(sys, w));
    teardown_tree(sys, top);
  }
}
END_TEST

START_TEST(a_child_whose_init_keeps_failing_on_restart_exhausts_the_intensity) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 3, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref w = watch(sys, sup, 0);
  run_for(sys, 0);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  snprintf(g_initfail.id, sizeof g_initfail.id, "c2");
  atomic_store(&g_initfail.times, -1);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 100);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  /* 1 failure + 3 failed inits = 4 failures; terminate is not run after
   * an init that failed. */
  ck_assert_log(&g_wlog, "term(c2,-3) initfail(c2) initfail(c2) initfail(c2) term(c1,1)");
  ck_assert_log_either(&g_elog,
                       "fail(c2,-3) fail(c2,-7) fail(c2,-7) fail(c2,-7) giveup(c2,-7) "
                       "shutdown(,-19) stop(c2,-7) stop(c1,1)",
                       "fail(c2,-3) fail(c2,-7) fail(c2,-7) fail(c2,-7) giveup(c2,-7) "
                       "shutdown(,-19) stop(c2,1) stop(c1,1)");
  ck_assert_log(&g_xlog, "down(-19)");
  ck_assert_ok(acto_stop(sys, w));
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* ==== 6. backoff ============================================================== */

/* Fails c1 `n` times, each in a quiet system, and writes the delay between
 * each failure and its restart (virtual ms) into d[]. */
static void measure_backoff(acto_system *sys, acto_ref c1, int n, int64_t *d) {
  int base = log_matches(&g_elog, "fail(c1,-3)");
  for (int i = 0; i < n; i++) {
    send0(sys, c1, MSG_FAIL);
    run_for(sys, 3000);
    int64_t f = log_time(&g_elog, "fail(c1,-3)", base + i);
    int64_t r = log_time(&g_elog, "restart(c1,0)", base + i);
    d[i] = f >= 0 && r >= 0 ? r - f : -1;
  }
}

START_TEST(restarts_back_off_exponentially_up_to_the_maximum) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 100, 600000);
  sp.backoff_min_ms = 100;
  sp.backoff_max_ms = 1000;
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  /* While it waits, the child is RESTARTING and messages to it queue up. */
  send0(sys, c1, MSG_FAIL);
  run_for(sys, 50);
  sv_which w = which(sys, sup);
  ck_assert_int_eq(w.c[0].state, ACTO_CHILD_RESTARTING);
  send_rec(sys, c1, 5);
  run_for(sys, 40);
  ck_assert_int_eq(log_matches(&g_wlog, "rec(c1,5,1)"), 0);
  run_for(sys, 3000);
  ck_assert_int_eq(log_matches(&g_wlog, "rec(c1,5,1)"), 1);
  ck_assert_int_eq(log_time(&g_wlog, "rec(c1,5,1)", 0), 100);

  int64_t d[7];
  measure_backoff(sys, c1, 7, d);
  char got[128];
  snprintf(got, sizeof got, "%lld %lld %lld %lld %lld %lld %lld", (long long)d[0],
           (long long)d[1], (long long)d[2], (long long)d[3], (long long)d[4], (long long)d[5],
           (long long)d[6]);
  /* The first restart (above) waited 100; these are the 2nd to the 8th. */
  ck_assert_str_eq(got, "200 400 800 1000 1000 1000 1000");
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(a_stopped_child_also_waits_for_its_backoff) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 100, 600000);
  sp.backoff_min_ms = 250;
  sp.backoff_max_ms = 1000;
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  int64_t t0 = acto_now_ms(sys);
  send0(sys, c1, MSG_STOP);
  run_for(sys, 100);
  ck_assert_int_eq(which(sys, sup).c[0].state, ACTO_CHILD_STOPPED);
  run_for(sys, 1000);
  ck_assert_int_eq(log_time(&g_elog, "restart(c1,0)", 0) - t0, 250);
  ck_assert_int_eq(log_time(&g_wlog, "init(c1)", 1) - t0, 250);
  ck_assert(!acto_ref_eq(ref_of(sys, sup, "c1"), c1));
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(a_group_restart_waits_for_the_backoff_after_terminating_the_group) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 3, 100, 600000);
  sp.backoff_min_ms = 300;
  sp.backoff_max_ms = 1000;
  acto_ref sup = start_sup(sys, &sp, NULL);
  run_for(sys, 1000);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 2000);
  ck_assert_log(&g_wlog, "term(c3,1) term(c1,1) init(c1) term(c2,-3) init(c2) init(c3)");
  ck_assert_int_eq(log_time(&g_wlog, "term(c3,1)", 0), 1000);
  ck_assert_int_eq(log_time(&g_wlog, "term(c1,1)", 0), 1000);
  ck_assert_int_eq(log_time(&g_wlog, "init(c1)", 0), 1300);
  ck_assert_int_eq(log_time(&g_wlog, "init(c3)", 0), 1300);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(jittered_backoff_stays_within_the_percentage) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 100, 600000);
  sp.backoff_min_ms = 100;
  sp.backoff_max_ms = 1000;
  sp.jitter_pct = 20;
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  enum { N = 20 };
  int64_t d[N];
  measure_backoff(sys, c1, N, d);
  int bad = -1, off_nominal = 0;
  for (int i = 0; i < N; i++) {
    int64_t nominal = i >= 4 ? 1000 : 100 << i;
    if (d[i] < nominal * 80 / 100 || d[i] > nominal * 120 / 100) bad = i;
    off_nominal += d[i] != nominal;
  }
  ck_assert_msg(bad < 0, "restart %d waited %lld ms", bad, bad >= 0 ? (long long)d[bad] : 0LL);
  ck_assert_msg(off_nominal > N / 2, "jitter changed only %d of %d delays", off_nominal, N);
  teardown_tree(sys, sup);
}
END_TEST

/* ==== 7. shutdown ============================================================= */

START_TEST(supervisor_stop_terminates_children_in_reverse_start_order_with_shutdown) {
  acto_system *sys = det_system();
  acto_child_spec cs[4] = {worker("c1", PERM, 0), worker("c2", TRANS, 0), worker("c3", TEMP, 0),
                           worker("c4", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 4, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref w = watch(sys, sup, 0);
  run_for(sys, 0);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  int64_t t0 = acto_now_ms(sys);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(acto_now_ms(sys), t0); /* nobody waited */
  ck_assert_log(&g_wlog, "term(c4,1) term(c3,1) term(c2,1) term(c1,1)");
  ck_assert_log(&g_elog, "shutdown(,1) stop(c4,1) stop(c3,1) stop(c2,1) stop(c1,1)");
  run_for(sys, 0);
  ck_assert_log(&g_xlog, "down(1)");
  ck_assert_rc(acto_supervisor_stop(sys, sup, 0), ACTO_ESTALE);
  ck_assert_ok(acto_stop(sys, w));
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_child_that_ignores_shutdown_is_killed_after_its_shutdown_time) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, W_TRAP),
                           worker("c3", PERM, 0)};
  cs[1].shutdown_ms = 300;
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  run_for(sys, 1000);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  /* Exactly the shutdown time passed, all of it waiting for c2. */
  ck_assert_int_eq(acto_now_ms(sys), 1300);
  ck_assert_log(&g_wlog, "term(c3,1) trap(c2,1) term(c2,2) term(c1,1)");
  ck_assert_int_eq(log_time(&g_wlog, "term(c3,1)", 0), 1000);
  ck_assert_int_eq(log_time(&g_wlog, "term(c2,2)", 0), 1300);
  ck_assert_int_eq(log_time(&g_wlog, "term(c1,1)", 0), 1300);
  ck_assert_log(&g_elog, "shutdown(,1) stop(c3,1) stop(c2,2) stop(c1,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_child_that_stops_in_time_cancels_its_kill_timer) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
  cs[1].shutdown_ms = 300;
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_wlog);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(acto_now_ms(sys), 0);
  ck_assert_log(&g_wlog, "term(c2,1) term(c1,1)");
  run_for(sys, -1); /* the cancelled timers fire nothing */
  ck_assert_log(&g_wlog, "term(c2,1) term(c1,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(brutal_shutdown_kills_the_child_at_once_with_reason_killed) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, W_TRAP),
                           worker("c3", PERM, 0)};
  cs[1].shutdown_ms = ACTO_SHUTDOWN_BRUTAL;
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(acto_now_ms(sys), 0);
  /* acto_supervisor.h: ACTO_SHUTDOWN_BRUTAL kills at once, without the
   * exit signal the trapping c2 would ignore and without waiting (virtual
   * time stays 0); its terminate, the C destructor, runs with KILLED. */
  ck_assert_log(&g_wlog, "term(c3,1) term(c2,2) term(c1,1)");
  ck_assert_log(&g_elog, "shutdown(,1) stop(c3,1) stop(c2,2) stop(c1,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(infinity_shutdown_waits_for_the_child_as_long_as_it_takes) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, W_TRAP)};
  cs[1].shutdown_ms = ACTO_SHUTDOWN_INFINITY;
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2");
  log_clear(&g_wlog);
  /* Deterministic mode: nothing can end this wait (the child traps the
   * exit, no timer is left), so the stop reports the deadlock at once
   * instead of a virtual timeout. */
  ck_assert_rc(acto_supervisor_stop(sys, sup, 60000), ACTO_EDEADLK);
  run_for(sys, 600000);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_log(&g_wlog, "trap(c2,1)");
  ck_assert_int_eq(which(sys, sup).c[1].state, ACTO_CHILD_STOPPING);
  /* Once the child goes, the shutdown goes on. */
  send0(sys, c2, MSG_STOP);
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_log(&g_wlog, "trap(c2,1) term(c2,0) term(c1,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(nested_supervisors_shut_down_their_subtree_first) {
  acto_system *sys = det_system();
  acto_child_spec in[2] = {worker("b1", PERM, 0), worker("b2", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFO, in, 2, 5, 1000);
  isp.event_user = "in";
  acto_child_spec out[3] = {worker("a", PERM, 0), subsup("inner", &isp), worker("c", PERM, 0)};
  acto_sup_spec osp = sup_spec(OFO, out, 3, 5, 1000);
  osp.event_user = "out";
  acto_ref top = start_sup(sys, &osp, NULL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(a) init(b1) init(b2) init(c)");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  ck_assert_ok(acto_supervisor_stop(sys, top, TU_WAIT_MS));
  ck_assert_log(&g_wlog, "term(c,1) term(b2,1) term(b1,1) term(a,1)");
  ck_assert_log(&g_elog,
                "out:shutdown(,1) out:stop(c,1) in:shutdown(,1) in:stop(b2,1) in:stop(b1,1) "
                "out:stop(inner,1) out:stop(a,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

static acto_ref g_call_target;
static acto_child_spec g_call_spec;

/* Every waiting supervisor call, from inside a callback: EDEADLK. */
static void call_all(acto_ctx *ctx, const char *where) {
  acto_system *sys = acto_ctx_system(ctx);
  size_t n = 0;
  acto_child_info ci;
  acto_child_counts k;
  acto_ref r;
  int rc[] = {
      acto_supervisor_stop(sys, g_call_target, 0),
      acto_supervisor_which_children(sys, g_call_target, &ci, 1, &n, 0),
      acto_supervisor_count_children(sys, g_call_target, &k, -1),
      acto_supervisor_start_child(sys, g_call_target, NULL, 0, 0, &r),
      acto_supervisor_terminate_child(sys, g_call_target, g_call_target, -1),
      acto_supervisor_terminate_child_id(sys, g_call_target, "c1", 0),
      acto_supervisor_restart_child(sys, g_call_target, "c1", 0, &r),
      acto_supervisor_delete_child(sys, g_call_target, "c1", -1),
      acto_supervisor_add_child(sys, g_call_target, &g_call_spec, 0, &r),
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++)
    if (rc[i] != ACTO_EDEADLK) bad = (int)i + 1;
  log_add(&g_xlog, 0, "%s=%s", where, bad ? tu_name(rc[bad - 1]) : "ACTO_EDEADLK");
}

static int caller_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)state, (void)arg;
  call_all(ctx, "init");
  return 0;
}

static int caller_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  if (m->type == MSG_CALL) call_all(ctx, "handle");
  return 0;
}

static void caller_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)state, (void)reason;
  call_all(ctx, "terminate");
}

static const acto_behaviour caller_b = {.name = "sv_caller", .state_size = 8,
                                        .init = caller_init, .handle = caller_handle,
                                        .terminate = caller_terminate};

START_TEST(plain_thread_calls_from_inside_an_actor_return_edeadlk) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  g_call_target = sup;
  g_call_spec = worker("c9", PERM, 0);
  acto_ref caller;
  /* init runs on this (plain) thread, inside acto_spawn: still a callback. */
  ck_assert_ok(acto_spawn(sys, &caller_b, NULL, NULL, &caller));
  send0(sys, caller, MSG_CALL);
  run_for(sys, 0);
  ck_assert_ok(acto_stop(sys, caller));
  run_for(sys, 0);
  ck_assert_log(&g_xlog, "init=ACTO_EDEADLK handle=ACTO_EDEADLK terminate=ACTO_EDEADLK");
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_uint_eq(which(sys, sup).n, 1);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(system_shutdown_with_a_live_tree_terminates_every_child_once) {
  acto_system *sys = det_system();
  acto_child_spec in[1] = {worker("b1", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFA, in, 1, 5, 1000);
  acto_child_spec cs[3] = {worker("c1", PERM, 0), subsup("inner", &isp), worker("c3", TRANS, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  start_sup(sys, &sp, NULL);
  run_for(sys, 0);
  log_clear(&g_wlog);
  tu_shutdown(sys);
  /* Every child terminated exactly once, and nothing was started again. */
  ck_assert_int_eq(log_matches(&g_wlog, "init(c1)") + log_matches(&g_wlog, "init(b1)") +
                       log_matches(&g_wlog, "init(c3)"),
                   0);
  const char *ids[] = {"c1", "b1", "c3"};
  for (int i = 0; i < 3; i++) {
    char t0[32], t1[32];
    snprintf(t0, sizeof t0, "term(%s,0)", ids[i]);
    snprintf(t1, sizeof t1, "term(%s,1)", ids[i]);
    ck_assert_msg(log_matches(&g_wlog, t0) + log_matches(&g_wlog, t1) == 1,
                  "%s not terminated exactly once: %s", ids[i], log_str(&g_wlog));
  }
}
END_TEST

/* ==== 8. simple_one_for_one ===================================================== */

static acto_sup_spec simple_spec(acto_child_spec *tmpl, acto_restart restart) {
  *tmpl = worker("dyn", restart, 0);
  return sup_spec(ACTO_SIMPLE_ONE_FOR_ONE, tmpl, 1, 5, 1000);
}

static acto_ref start_dyn(acto_system *sys, acto_ref sup, const char *id) {
  wargs a;
  memset(&a, 0, sizeof a);
  snprintf(a.id, sizeof a.id, "%s", id);
  acto_ref c = ACTO_REF_NONE;
  ck_assert_ok(acto_supervisor_start_child(sys, sup, &a, sizeof a, TU_WAIT_MS, &c));
  ck_assert(!acto_ref_is_none(c));
  return c;
}

START_TEST(simple_start_child_passes_its_argument_and_children_are_listed_and_counted) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, PERM);
  acto_ref sup = start_sup(sys, &sp, NULL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, ""); /* no child until asked */
  ck_assert_uint_eq(which(sys, sup).n, 0);
  acto_ref d[3] = {start_dyn(sys, sup, "d1"), start_dyn(sys, sup, "d2"),
                   start_dyn(sys, sup, "d3")};
  /* Without an argument, the template's. */
  acto_ref d4 = ACTO_REF_NONE;
  ck_assert_ok(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &d4));
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(d1) init(d2) init(d3) init(dyn)");
  ck_assert_log(&g_elog, "start(dyn,0) start(dyn,0) start(dyn,0) start(dyn,0)");
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 4);
  for (int i = 0; i < 3; i++) {
    ck_assert(acto_ref_eq(w.c[i].ref, d[i]));
    ck_assert_str_eq(w.c[i].id, "dyn");
    ck_assert_int_eq(w.c[i].state, ACTO_CHILD_RUNNING);
  }
  acto_child_counts k;
  ck_assert_ok(acto_supervisor_count_children(sys, sup, &k, TU_WAIT_MS));
  ck_assert_uint_eq(k.specs, 1);
  ck_assert_uint_eq(k.active, 4);
  ck_assert_uint_eq(k.workers, 4);
  ck_assert_uint_eq(k.supervisors, 0);
  log_clear(&g_wlog);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  /* Dynamic children are stopped all at once; each with SHUTDOWN. */
  ck_assert_int_eq(log_count(&g_wlog), 4);
  ck_assert_int_eq(log_matches(&g_wlog, "term(d1,1)") + log_matches(&g_wlog, "term(d2,1)") +
                       log_matches(&g_wlog, "term(d3,1)") + log_matches(&g_wlog, "term(dyn,1)"),
                   4);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(simple_terminate_child_returns_when_it_is_gone_and_it_is_not_restarted) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, PERM);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref d1 = start_dyn(sys, sup, "d1");
  acto_ref d2 = start_dyn(sys, sup, "d2");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  ck_assert_ok(acto_supervisor_terminate_child(sys, sup, d1, TU_WAIT_MS));
  ck_assert_int_eq(acto_alive(sys, d1), 0);
  ck_assert_log(&g_wlog, "term(d1,1)");
  run_for(sys, 10000);
  ck_assert_log(&g_wlog, "term(d1,1)"); /* not restarted */
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 1);
  ck_assert(acto_ref_eq(w.c[0].ref, d2));
  /* Already terminated: 0, as OTP's ok; nothing happens. */
  ck_assert_ok(acto_supervisor_terminate_child(sys, sup, d1, TU_WAIT_MS));
  ck_assert_log(&g_wlog, "term(d1,1)");
  /* Not a child: no ref, a live actor that is not its child, itself. */
  ck_assert_rc(acto_supervisor_terminate_child(sys, sup, ACTO_REF_NONE, TU_WAIT_MS), ACTO_ENOENT);
  acto_ref other = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &watcher_b, NULL, NULL, &other));
  ck_assert_rc(acto_supervisor_terminate_child(sys, sup, other, TU_WAIT_MS), ACTO_ENOENT);
  ck_assert_rc(acto_supervisor_terminate_child(sys, sup, sup, TU_WAIT_MS), ACTO_ENOENT);
  ck_assert_int_eq(acto_alive(sys, other), 1);
  /* By id: a dynamic child has none of its own. */
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, "dyn", TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_ok(acto_stop(sys, other));
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(terminate_child_works_for_a_static_child_and_it_stays_stopped) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", TRANS, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  ck_assert_ok(acto_supervisor_terminate_child(sys, sup, c1, TU_WAIT_MS));
  ck_assert_int_eq(acto_alive(sys, c1), 0);
  run_for(sys, 1000);
  ck_assert_log(&g_wlog, "term(c1,1)");
  ck_assert_log(&g_elog, "stop(c1,1)");
  /* OTP keeps a terminated static child's spec: stopped, no ref. */
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 3);
  ck_assert_str_eq(w.c[0].id, "c1");
  ck_assert_int_eq(w.c[0].state, ACTO_CHILD_STOPPED);
  ck_assert(acto_ref_is_none(w.c[0].ref));
  acto_child_counts k;
  ck_assert_ok(acto_supervisor_count_children(sys, sup, &k, TU_WAIT_MS));
  ck_assert_uint_eq(k.specs, 3);
  ck_assert_uint_eq(k.active, 2);
  /* Terminating it again, by its old ref or by id: 0, nothing happens. */
  ck_assert_ok(acto_supervisor_terminate_child(sys, sup, c1, TU_WAIT_MS));
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS));
  /* By id, a running child. */
  acto_ref c2 = ref_of(sys, sup, "c2");
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c2", TU_WAIT_MS));
  ck_assert_int_eq(acto_alive(sys, c2), 0);
  ck_assert_log(&g_wlog, "term(c1,1) term(c2,1)");
  /* Unknown ids and bad arguments. */
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, "nobody", TU_WAIT_MS), ACTO_ENOENT);
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, "", TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, NULL, TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_terminate_child_id(NULL, sup, "c3", TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, "c3", -5), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_terminate_child(sys, sup, ref_of(sys, sup, "c3"), -2), ACTO_EINVAL);
  ck_assert_int_eq(which(sys, sup).c[2].state, ACTO_CHILD_RUNNING);
  run_for(sys, 1000);
  ck_assert_log(&g_wlog, "term(c1,1) term(c2,1)"); /* neither came back */
  /* The ordered stop skips the stopped ones. */
  log_clear(&g_wlog);
  teardown_tree(sys, sup);
  ck_assert_log(&g_wlog, "term(c3,1)");
}
END_TEST

/* A temporary static child is forgotten once terminated (OTP). */
START_TEST(terminate_child_of_a_temporary_static_child_forgets_it) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", TEMP, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS));
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 1);
  ck_assert_str_eq(w.c[0].id, "c2");
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS), ACTO_ENOENT);
  teardown_tree(sys, sup);
}
END_TEST

/* Two plain threads terminate the same slow child: both return when it
 * is gone, and it is terminated once. */
typedef struct term_arg {
  acto_system *sys;
  acto_ref sup, child;
  int rc;
} term_arg;

static void *term_thread(void *p) {
  term_arg *a = p;
  a->rc = acto_supervisor_terminate_child(a->sys, a->sup, a->child, TU_WAIT_MS);
  return NULL;
}

START_TEST(two_threads_terminating_one_child_both_return_when_it_is_gone) {
  acto_system *sys = thr_system(2);
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, W_TRAP)};
  cs[1].shutdown_ms = 200; /* it traps the exit signal: killed after 200 ms */
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2");
  term_arg a[2] = {{sys, sup, c2, 1}, {sys, sup, c2, 1}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, term_thread, &a[i]), 0);
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_join(t[i], NULL), 0);
  for (int i = 0; i < 2; i++) {
    ck_assert_rc(a[i].rc, 0);
  }
  ck_assert_int_eq(acto_alive(sys, c2), 0);
  ck_assert_int_eq(log_matches(&g_wlog, "term(c2,2)"), 1);
  ck_assert_int_eq(which(sys, sup).c[1].state, ACTO_CHILD_STOPPED);
  teardown_tree(sys, sup);
}
END_TEST

/* A child terminated during a group restart is not started again by that
 * restart (a later group restart would, as in OTP). */
START_TEST(a_child_terminated_during_a_group_restart_stays_stopped) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 3, 100, 600000);
  sp.backoff_min_ms = 1000;
  sp.backoff_max_ms = 1000;
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_wlog);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 100); /* the group is terminated; the restart waits for the backoff */
  ck_assert_log(&g_wlog, "term(c3,1) term(c1,1)");
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c3", TU_WAIT_MS));
  run_for(sys, 2000);
  ck_assert_log(&g_wlog, "term(c3,1) term(c1,1) init(c1) term(c2,-3) init(c2)");
  ck_assert_int_eq(which(sys, sup).c[2].state, ACTO_CHILD_STOPPED);
  /* The next group restart starts it again, as OTP's does. */
  log_clear(&g_wlog);
  send0(sys, ref_of(sys, sup, "c1"), MSG_FAIL);
  run_for(sys, 5000);
  ck_assert_log(&g_wlog, "term(c2,1) term(c1,-3) init(c1) init(c2) init(c3)");
  ck_assert_int_eq(which(sys, sup).c[2].state, ACTO_CHILD_RUNNING);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(simple_failing_permanent_child_is_restarted_in_place) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, PERM);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref d1 = start_dyn(sys, sup, "d1");
  acto_ref d2 = start_dyn(sys, sup, "d2");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  send0(sys, d2, MSG_FAIL);
  send_rec(sys, d2, 1);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "term(d2,-3) init(d2) rec(d2,1,1)");
  ck_assert_log(&g_elog, "fail(dyn,-3) restart(dyn,0)");
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 2);
  ck_assert(acto_ref_eq(w.c[0].ref, d1));
  ck_assert(acto_ref_eq(w.c[1].ref, d2));
  ck_assert_uint_eq(w.c[1].restarts, 1);
  /* A permanent dynamic child that stops is started again from its own
   * argument, with a new ref. */
  log_clear(&g_wlog);
  send0(sys, d1, MSG_STOP);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "term(d1,0) init(d1)");
  w = which(sys, sup);
  ck_assert_uint_eq(w.n, 2);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(simple_transient_and_temporary_children_that_end_are_forgotten) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, TRANS);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref d1 = start_dyn(sys, sup, "d1");
  acto_ref d2 = start_dyn(sys, sup, "d2");
  send0(sys, d1, MSG_STOP); /* transient, normal: forgotten */
  send0(sys, d2, MSG_FAIL); /* transient, failure: restarted */
  run_for(sys, 0);
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 1);
  ck_assert(acto_ref_eq(w.c[0].ref, d2));
  teardown_tree(sys, sup);

  sys = det_system();
  sp = simple_spec(&t, TEMP);
  sup = start_sup(sys, &sp, NULL);
  d1 = start_dyn(sys, sup, "d1");
  d2 = start_dyn(sys, sup, "d2");
  log_clear(&g_wlog);
  send0(sys, d1, MSG_FAIL); /* temporary: never restarted */
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "term(d1,-3)");
  w = which(sys, sup);
  ck_assert_uint_eq(w.n, 1);
  ck_assert(acto_ref_eq(w.c[0].ref, d2));
  teardown_tree(sys, sup);
}
END_TEST

/* The supervisor calls on an actor that is not a supervisor return
 * ACTO_EINVAL at once, even with no deadline, and the actor never sees a
 * request it could not understand. */
START_TEST(calls_on_an_actor_that_is_not_a_supervisor_return_einval_at_once) {
  static tu_probe p;
  tu_probe_init(&p);
  acto_system *sys = tu_system(2);
  acto_ref a = tu_spawn_probe(sys, &p, NULL);
  acto_child_counts k;
  acto_child_info info[2];
  size_t n;
  acto_ref c;
  ck_assert_rc(acto_supervisor_count_children(sys, a, &k, -1), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_which_children(sys, a, info, 2, &n, -1), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_start_child(sys, a, NULL, 0, -1, &c), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_terminate_child(sys, a, a, -1), ACTO_EINVAL);
  ck_assert_ok(acto_send(sys, a, 7, NULL, 0));
  ck_assert_probe_reaches(&p, 1);
  ck_assert_uint_eq(tu_probe_rec(&p, 0).type, 7);
  ck_assert_int_eq(acto_alive(sys, a), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(start_child_on_a_static_supervisor_returns_einval) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &c), ACTO_EINVAL);
  ck_assert(acto_ref_is_none(c));
  ck_assert_rc(acto_supervisor_start_child(sys, sup, NULL, 4, TU_WAIT_MS, &c), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, NULL), ACTO_EINVAL);
  ck_assert_uint_eq(which(sys, sup).n, 1);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(simple_start_child_whose_init_fails_returns_echild) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, PERM);
  acto_ref sup = start_sup(sys, &sp, NULL);
  snprintf(g_initfail.id, sizeof g_initfail.id, "d1");
  atomic_store(&g_initfail.times, 1);
  wargs a;
  memset(&a, 0, sizeof a);
  snprintf(a.id, sizeof a.id, "d1");
  acto_ref c = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start_child(sys, sup, &a, sizeof a, TU_WAIT_MS, &c), ACTO_ECHILD);
  ck_assert_uint_eq(which(sys, sup).n, 0);
  ck_assert_uint_eq(tu_stats(sys).actors_live, 1);
  start_dyn(sys, sup, "d1"); /* the second try works */
  ck_assert_uint_eq(which(sys, sup).n, 1);
  teardown_tree(sys, sup);
}
END_TEST

/* A small worker for the 10,000 children: counts, logs nothing. */

static int tiny_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx, (void)state, (void)arg;
  atomic_fetch_add(&g_tiny_inits, 1);
  return 0;
}

static int tiny_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx, (void)state, (void)m;
  return 0;
}

static void tiny_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)state;
  if (reason == ACTO_REASON_SHUTDOWN) atomic_fetch_add(&g_tiny_terms, 1);
}

static const acto_behaviour tiny_b = {.name = "sv_tiny", .state_size = 16, .init = tiny_init,
                                      .handle = tiny_handle, .terminate = tiny_terminate};

START_TEST(ten_thousand_temporary_children_are_all_gone_after_the_supervisor_stops) {
  const long n = TU_N(10000, 2000, 1000);
  acto_system *sys = det_system();
  uint64_t baseline = tu_stats(sys).actors_live;
  acto_child_spec t;
  memset(&t, 0, sizeof t);
  t.id = "tiny";
  t.behaviour = &tiny_b;
  t.restart = TEMP;
  acto_sup_spec sp = sup_spec(ACTO_SIMPLE_ONE_FOR_ONE, &t, 1, 5, 1000);
  sp.on_event = NULL;
  acto_ref sup = start_sup(sys, &sp, NULL);
  long failed = 0;
  acto_ref first = ACTO_REF_NONE, last = ACTO_REF_NONE;
  for (long i = 0; i < n; i++) {
    acto_ref c = ACTO_REF_NONE;
    failed += acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &c) != 0;
    if (i == 0) first = c;
    last = c;
  }
  ck_assert_int_eq(failed, 0);
  ck_assert_int_eq(atomic_load(&g_tiny_inits), n);
  acto_child_counts k;
  ck_assert_ok(acto_supervisor_count_children(sys, sup, &k, TU_WAIT_MS));
  ck_assert_uint_eq(k.active, (size_t)n);
  ck_assert_uint_eq(tu_stats(sys).actors_live, baseline + 1 + (uint64_t)n);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(atomic_load(&g_tiny_terms), n);
  ck_assert_int_eq(acto_alive(sys, first), 0);
  ck_assert_int_eq(acto_alive(sys, last), 0);
  run_for(sys, 0);
  ck_assert_uint_eq(tu_stats(sys).actors_live, baseline);
  tu_shutdown(sys);
}
END_TEST

START_TEST(many_temporary_children_with_two_worker_threads_are_all_gone_after_stop) {
  const long n = TU_N(2000, 500, 200);
  acto_system *sys = thr_system(2);
  acto_child_spec t;
  memset(&t, 0, sizeof t);
  t.id = "tiny";
  t.behaviour = &tiny_b;
  t.restart = TEMP;
  acto_sup_spec sp = sup_spec(ACTO_SIMPLE_ONE_FOR_ONE, &t, 1, 5, 1000);
  sp.on_event = NULL;
  acto_ref sup = start_sup(sys, &sp, NULL);
  long failed = 0;
  for (long i = 0; i < n; i++) {
    acto_ref c;
    failed += acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &c) != 0;
  }
  ck_assert_int_eq(failed, 0);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(atomic_load(&g_tiny_terms), n);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* ==== 8b. children by hand: restart_child, delete_child, add_child ======== */

/* OTP's child_adm: a terminated static child is restarted or deleted by
 * id; running children are neither. */
START_TEST(restart_child_and_delete_child_manage_a_terminated_static_child) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", TRANS, 0)};
  cs[0].name = "sv.c1";
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref old = ref_of(sys, sup, "c1");
  acto_ref r = ACTO_REF_NONE;
  log_clear(&g_wlog);
  log_clear(&g_elog);
  /* Running: neither restarted nor deleted. */
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r), ACTO_ERUNNING);
  ck_assert_rc(acto_supervisor_delete_child(sys, sup, "c1", TU_WAIT_MS), ACTO_ERUNNING);
  ck_assert(acto_ref_is_none(r));
  /* Terminated: kept; restart_child starts a new actor (the name moves). */
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS));
  ck_assert_ok(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r));
  ck_assert(!acto_ref_is_none(r) && !acto_ref_eq(r, old));
  ck_assert_int_eq(acto_alive(sys, r), 1);
  acto_ref named;
  ck_assert_ok(acto_lookup(sys, "sv.c1", &named));
  ck_assert(acto_ref_eq(named, r));
  sv_which w = which(sys, sup);
  ck_assert(acto_ref_eq(w.c[0].ref, r));
  ck_assert_int_eq(w.c[0].state, ACTO_CHILD_RUNNING);
  ck_assert_uint_eq(w.c[0].restarts, 0); /* not a restart the supervisor made */
  ck_assert_log(&g_wlog, "term(c1,1) init(c1)");
  ck_assert_log(&g_elog, "stop(c1,1) start(c1,0)");
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r), ACTO_ERUNNING);
  /* Terminated again, then deleted: gone for every call. */
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS));
  ck_assert_ok(acto_supervisor_delete_child(sys, sup, "c1", TU_WAIT_MS));
  w = which(sys, sup);
  ck_assert_uint_eq(w.n, 1);
  ck_assert_str_eq(w.c[0].id, "c2");
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r), ACTO_ENOENT);
  ck_assert_rc(acto_supervisor_delete_child(sys, sup, "c1", TU_WAIT_MS), ACTO_ENOENT);
  ck_assert_rc(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS), ACTO_ENOENT);
  /* A transient child that ended normally is kept stopped too. */
  send0(sys, ref_of(sys, sup, "c2"), MSG_STOP);
  run_for(sys, 0);
  ck_assert_ok(acto_supervisor_restart_child(sys, sup, "c2", TU_WAIT_MS, &r));
  ck_assert_int_eq(which(sys, sup).c[0].state, ACTO_CHILD_RUNNING);
  /* Bad arguments. */
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "", TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c2", TU_WAIT_MS, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c2", -7, &r), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_delete_child(sys, sup, NULL, TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_delete_child(NULL, sup, "c2", TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_delete_child(sys, sup, "c2", -3), ACTO_EINVAL);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(restart_child_of_a_child_waiting_for_its_restart_returns_erunning) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 60000);
  sp.backoff_min_ms = 1000;
  sp.backoff_max_ms = 1000;
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref r = ACTO_REF_NONE;
  for (int k = 0; k < 2; k++) { /* failed (parked), then stopped (gone) */
    send0(sys, ref_of(sys, sup, "c2"), k == 0 ? MSG_FAIL : MSG_STOP);
    run_for(sys, 100);
    ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c2", TU_WAIT_MS, &r), ACTO_ERUNNING);
    ck_assert_rc(acto_supervisor_delete_child(sys, sup, "c2", TU_WAIT_MS), ACTO_ERUNNING);
    run_for(sys, 2000);
    ck_assert_int_eq(which(sys, sup).c[1].state, ACTO_CHILD_RUNNING);
  }
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(restart_child_whose_init_fails_or_ignores_leaves_it_stopped) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS));
  acto_ref r = sup;
  snprintf(g_initfail.id, sizeof g_initfail.id, "c1");
  atomic_store(&g_initfail.times, 1);
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r), ACTO_ECHILD);
  ck_assert(acto_ref_eq(r, sup)); /* untouched */
  ck_assert_int_eq(which(sys, sup).c[0].state, ACTO_CHILD_STOPPED);
  ignore_next("c1", 1);
  ck_assert_ok(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r));
  ck_assert(acto_ref_is_none(r));
  ck_assert_int_eq(which(sys, sup).c[0].state, ACTO_CHILD_STOPPED);
  ck_assert_ok(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r));
  ck_assert_int_eq(acto_alive(sys, r), 1);
  run_for(sys, 1000);
  ck_assert_int_eq(acto_alive(sys, sup), 1); /* none of it counted as a failure */
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(children_by_hand_on_simple_one_for_one_return_einval) {
  acto_system *sys = det_system();
  acto_child_spec t;
  acto_sup_spec sp = simple_spec(&t, PERM);
  acto_ref sup = start_sup(sys, &sp, NULL);
  start_dyn(sys, sup, "d1");
  acto_ref r;
  acto_child_spec extra = worker("x", PERM, 0);
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "dyn", TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_delete_child(sys, sup, "dyn", TU_WAIT_MS), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &extra, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_uint_eq(which(sys, sup).n, 1);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(restart_child_during_the_shutdown_returns_eshutdown) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, W_TRAP)};
  cs[1].shutdown_ms = ACTO_SHUTDOWN_INFINITY;
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2");
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c1", TU_WAIT_MS));
  /* c2 holds the shutdown up; nothing but a kill ends it (deterministic
   * mode reports that at once). */
  ck_assert_rc(acto_supervisor_stop(sys, sup, 1000), ACTO_EDEADLK);
  acto_ref r;
  ck_assert_rc(acto_supervisor_restart_child(sys, sup, "c1", TU_WAIT_MS, &r), ACTO_ESHUTDOWN);
  acto_child_spec extra = worker("x", PERM, 0);
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &extra, TU_WAIT_MS, &r), ACTO_ESHUTDOWN);
  ck_assert_ok(acto_kill(sys, c2));
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* OTP's start_child(Sup, ChildSpec): checked like a start spec, started
 * at the end of the start order, its spec copied. */
START_TEST(add_child_starts_a_new_spec_at_the_end_of_the_start_order) {
  acto_system *sys = det_system();
  keep_lines(sys);
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  /* The spec, its argument and its name live in memory that is wiped as
   * soon as the call returns. */
  struct {
    wargs a;
    char id[8], name[16];
    acto_child_spec c;
  } tmp;
  memset(&tmp, 0, sizeof tmp);
  snprintf(tmp.a.id, sizeof tmp.a.id, "c2");
  snprintf(tmp.id, sizeof tmp.id, "c2");
  snprintf(tmp.name, sizeof tmp.name, "sv.c2");
  tmp.c.id = tmp.id;
  tmp.c.name = tmp.name;
  tmp.c.kind = ACTO_WORKER;
  tmp.c.behaviour = &worker_b;
  tmp.c.arg = &tmp.a;
  tmp.c.arg_size = sizeof tmp.a;
  tmp.c.restart = PERM;
  acto_ref c2 = ACTO_REF_NONE;
  ck_assert_ok(acto_supervisor_add_child(sys, sup, &tmp.c, TU_WAIT_MS, &c2));
  memset(&tmp, 0x5a, sizeof tmp);
  ck_assert_int_eq(acto_alive(sys, c2), 1);
  ck_assert_log(&g_elog, "start(c2,0)");
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 2);
  ck_assert_str_eq(w.c[1].id, "c2");
  ck_assert(acto_ref_eq(w.c[1].ref, c2));
  acto_ref named;
  ck_assert_ok(acto_lookup(sys, "sv.c2", &named));
  ck_assert(acto_ref_eq(named, c2));
  /* Supervised like the others: restarted in place with its argument. */
  send0(sys, c2, MSG_FAIL);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(c2) term(c2,-3) init(c2)");
  /* A second child with the same id is refused, running or stopped. */
  acto_child_spec dup = worker("c2", PERM, 0);
  acto_ref r = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &dup, TU_WAIT_MS, &r), ACTO_EEXIST);
  assert_one_refusal("duplicate", "child \"c2\"", "duplicate child id");
  ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c2", TU_WAIT_MS));
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &dup, TU_WAIT_MS, &r), ACTO_EEXIST);
  ck_assert_ok(acto_supervisor_restart_child(sys, sup, "c2", TU_WAIT_MS, &r));
  /* Shutdown: reverse start order, the added child first. */
  log_clear(&g_wlog);
  teardown_tree(sys, sup);
  ck_assert_log(&g_wlog, "term(c2,1) term(c1,1)");
}
END_TEST

START_TEST(add_child_checks_the_spec_like_a_start_spec_and_logs_the_rule) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref r = ACTO_REF_NONE;
  struct {
    const char *what, *where, *rule;
  } rows[] = {
      {"no behaviour", "child \"x\"", "behaviour with a handle"},
      {"no id", "child #0", "non-empty id"},
      {"permanent significant", "child \"x\"", "transient or temporary"},
      {"significant under never", "child \"x\"", "needs auto_shutdown"},
      {"nested without spec", "child \"x\"", "nested spec"},
      {"nested duplicate", "child \"x\" > child \"n1\"", "duplicate child id"},
  };
  acto_child_spec nested_cs[2] = {worker("n1", PERM, 0), worker("n1", PERM, 0)};
  acto_sup_spec nested = sup_spec(OFO, nested_cs, 2, 5, 1000);
  for (int i = 0; i < 6; i++) {
    acto_child_spec c = worker("x", PERM, 0);
    switch (i) {
    case 0: c.behaviour = NULL; break;
    case 1: c.id = NULL; break;
    case 2: c.significant = 1; break;
    case 3: c.restart = TRANS; c.significant = 1; break;
    case 4: c = subsup("x", NULL); break;
    default: c = subsup("x", &nested); break;
    }
    keep_lines(sys);
    ck_assert_rc(acto_supervisor_add_child(sys, sup, &c, TU_WAIT_MS, &r), ACTO_EINVAL);
    assert_one_refusal(rows[i].what, rows[i].where, rows[i].rule);
  }
  ck_assert_rc(acto_supervisor_add_child(sys, sup, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  acto_child_spec ok = worker("x", PERM, 0);
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &ok, TU_WAIT_MS, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &ok, -9, &r), ACTO_EINVAL);
  ck_assert(acto_ref_is_none(r));
  ck_assert_uint_eq(which(sys, sup).n, 1);
  ck_assert_log(&g_wlog, "init(c1)");
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(add_child_whose_init_fails_is_not_kept_and_one_that_ignores_is) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref r = sup;
  snprintf(g_initfail.id, sizeof g_initfail.id, "c2");
  atomic_store(&g_initfail.times, 1);
  acto_child_spec c2 = worker("c2", PERM, 0);
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &c2, TU_WAIT_MS, &r), ACTO_ECHILD);
  ck_assert_uint_eq(which(sys, sup).n, 1);
  ignore_next("c2", 1);
  ck_assert_ok(acto_supervisor_add_child(sys, sup, &c2, TU_WAIT_MS, &r));
  ck_assert(acto_ref_is_none(r));
  sv_which w = which(sys, sup);
  ck_assert_uint_eq(w.n, 2);
  ck_assert_int_eq(w.c[1].state, ACTO_CHILD_STOPPED);
  ignore_next("c3", 1);
  acto_child_spec c3 = worker("c3", TEMP, 0);
  ck_assert_ok(acto_supervisor_add_child(sys, sup, &c3, TU_WAIT_MS, &r));
  ck_assert_uint_eq(which(sys, sup).n, 2); /* a temporary one is not kept */
  ck_assert_ok(acto_supervisor_restart_child(sys, sup, "c2", TU_WAIT_MS, &r));
  ck_assert_int_eq(acto_alive(sys, r), 1);
  teardown_tree(sys, sup);
}
END_TEST

/* A nested supervisor added by hand: its subtree starts (held until it
 * has), and its failing start stops what it started, in reverse order,
 * before the call returns. */
START_TEST(add_child_of_a_nested_supervisor_starts_or_stops_its_whole_subtree) {
  acto_system *sys = det_system();
  acto_child_spec cs[1] = {worker("c1", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_child_spec in[3] = {worker("b1", PERM, W_SELFREC), worker("b2", PERM, 0),
                           worker("b3", PERM, 0)};
  acto_sup_spec isp = sup_spec(OFO, in, 3, 5, 1000);
  isp.event_user = "in";
  acto_child_spec inner = subsup("inner", &isp);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  snprintf(g_initfail.id, sizeof g_initfail.id, "b3");
  atomic_store(&g_initfail.times, 1);
  acto_ref r = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_add_child(sys, sup, &inner, TU_WAIT_MS, &r), ACTO_ECHILD);
  ck_assert_log(&g_wlog, "init(b1) init(b2) initfail(b3) term(b2,1) term(b1,1)");
  ck_assert_uint_eq(which(sys, sup).n, 1);
  log_clear(&g_wlog);
  ck_assert_ok(acto_supervisor_add_child(sys, sup, &inner, TU_WAIT_MS, &r));
  memset(in, 0, sizeof in); /* copied: the caller's spec may go */
  memset(&isp, 0, sizeof isp);
  run_for(sys, 0);
  ck_assert_log(&g_wlog, "init(b1) init(b2) init(b3) rec(b1,0,1)");
  sv_which iw = which(sys, r);
  ck_assert_uint_eq(iw.n, 3);
  ck_assert_str_eq(iw.c[2].id, "b3");
  log_clear(&g_wlog);
  teardown_tree(sys, sup);
  ck_assert_log(&g_wlog, "term(b3,1) term(b2,1) term(b1,1) term(c1,1)");
}
END_TEST

/* ==== 9. auto shutdown ============================================================ */

START_TEST(any_significant_child_that_stops_shuts_the_supervisor_down) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", TRANS, 0), worker("c3", PERM, 0)};
  cs[1].significant = 1;
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  sp.auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref w = watch(sys, sup, 0);
  run_for(sys, 0);
  /* A failure is restarted (transient): no shutdown. */
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  log_clear(&g_wlog);
  log_clear(&g_elog);
  send0(sys, ref_of(sys, sup, "c2"), MSG_STOP);
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_log(&g_wlog, "term(c2,0) term(c3,1) term(c1,1)");
  ck_assert_log(&g_elog, "exit(c2,0) shutdown(,1) stop(c3,1) stop(c1,1)");
  ck_assert_log(&g_xlog, "down(1)");
  ck_assert_ok(acto_stop(sys, w));
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(all_significant_children_must_stop_before_the_supervisor_shuts_down) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", TRANS, 0), worker("c2", TRANS, 0), worker("c3", PERM, 0)};
  cs[0].significant = 1;
  cs[1].significant = 1;
  acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
  sp.auto_shutdown = ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT;
  acto_ref sup = start_sup(sys, &sp, NULL);
  send0(sys, ref_of(sys, sup, "c1"), MSG_SHUTDOWN);
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  log_clear(&g_wlog);
  send0(sys, ref_of(sys, sup, "c2"), MSG_STOP);
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_log(&g_wlog, "term(c2,0) term(c3,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST


/* Only a significant child that ends by itself counts (OTP): stopping
 * one with terminate_child, or in a group restart, does not shut the
 * supervisor down. */
START_TEST(terminate_child_of_a_significant_child_does_not_shut_the_supervisor_down) {
  for (int k = 0; k < 2; k++) {
    acto_system *sys = det_system();
    acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", TRANS, 0), worker("c3", TEMP, 0)};
    cs[1].significant = 1;
    cs[2].significant = 1;
    acto_sup_spec sp = sup_spec(OFO, cs, 3, 5, 1000);
    sp.auto_shutdown = k == 0 ? ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT : ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT;
    acto_ref sup = start_sup(sys, &sp, NULL);
    ck_assert_ok(acto_supervisor_terminate_child(sys, sup, ref_of(sys, sup, "c2"), TU_WAIT_MS));
    ck_assert_ok(acto_supervisor_terminate_child(sys, sup, ref_of(sys, sup, "c3"), TU_WAIT_MS));
    run_for(sys, 1000);
    ck_assert_msg(acto_alive(sys, sup), "auto_shutdown %d: the supervisor stopped: %s", k,
                  log_str(&g_elog));
    ck_assert_int_eq(log_matches(&g_elog, "shutdown(,1)"), 0);
    teardown_tree(sys, sup);
  }
}
END_TEST

START_TEST(a_significant_temporary_child_that_fails_shuts_the_supervisor_down) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", TEMP, 0)};
  cs[1].significant = 1;
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  sp.auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_elog);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL); /* temporary: not restarted, it ends */
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_log(&g_elog, "fail(c2,-3) stop(c2,-3) shutdown(,1) stop(c1,1)");
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_group_restart_that_stops_a_significant_temporary_sibling_does_not_shut_down) {
  acto_system *sys = det_system();
  acto_child_spec cs[3] = {worker("c1", PERM, 0), worker("c2", PERM, 0), worker("c3", TEMP, 0)};
  cs[2].significant = 1;
  acto_sup_spec sp = sup_spec(OFA, cs, 3, 5, 1000);
  sp.auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
  acto_ref sup = start_sup(sys, &sp, NULL);
  log_clear(&g_wlog);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 0);
  ck_assert_msg(acto_alive(sys, sup), "stopped: %s", log_str(&g_elog));
  ck_assert_log(&g_wlog, "term(c3,1) term(c1,1) init(c1) term(c2,-3) init(c2)");
  ck_assert_uint_eq(which(sys, sup).n, 2);
  teardown_tree(sys, sup);
}
END_TEST

/* ==== 10. threaded =============================================================== */

START_TEST(threaded_supervisor_gives_up_and_a_monitor_sees_emaxrestarts) {
  acto_system *sys = thr_system(2);
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFA, cs, 2, 3, 60000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2");
  acto_ref w = watch(sys, sup, 0);
  for (int i = 0; i < 3; i++) {
    send0(sys, c2, MSG_FAIL);
    ck_assert_log_matches_reach(&g_elog, "restart(c2,0)", i + 1);
  }
  send0(sys, c2, MSG_FAIL);
  ck_assert_log_reaches(&g_xlog, 1);
  ck_assert_log(&g_xlog, "down(-19)");
  ck_assert_becomes_dead(sys, sup);
  ck_assert_int_eq(log_matches(&g_elog, "giveup(c2,-3)"), 1);
  ck_assert_ok(acto_stop(sys, w));
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST


/* ==== 11. signals from outside, and races ========================================= */

/* A child stopped from outside is gone: it is replaced by a new actor if
 * its restart type says so (here transient: not after NORMAL/SHUTDOWN). */
typedef struct ext_row {
  const char *how;
  int reason;         /* the child's stop reason */
  int restarted;
} ext_row;

static const ext_row EXT_ROWS[] = {
    {"acto_stop", ACTO_REASON_NORMAL, 0},
    {"acto_exit(SHUTDOWN)", ACTO_REASON_SHUTDOWN, 0},
    {"acto_kill", ACTO_REASON_KILLED, 1},
    {"acto_exit(-9)", -9, 1},
    {"acto_exit(77)", 77, 1},
};

START_TEST(a_child_stopped_from_outside_is_replaced_by_a_new_actor_if_its_type_says_so) {
  const ext_row *r = &EXT_ROWS[_i];
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", TRANS, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c1 = ref_of(sys, sup, "c1");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  switch (_i) {
  case 0: ck_assert_ok(acto_stop(sys, c1)); break;
  case 1: ck_assert_ok(acto_exit(sys, c1, ACTO_REASON_SHUTDOWN)); break;
  case 2: ck_assert_ok(acto_kill(sys, c1)); break;
  case 3: ck_assert_ok(acto_exit(sys, c1, -9)); break;
  default: ck_assert_ok(acto_exit(sys, c1, 77)); break;
  }
  run_for(sys, 0);
  char wl[128], el[128];
  snprintf(wl, sizeof wl, r->restarted ? "term(c1,%d) init(c1)" : "term(c1,%d)", r->reason);
  snprintf(el, sizeof el, r->restarted ? "exit(c1,%d) restart(c1,0)" : "exit(c1,%d)", r->reason);
  ck_assert_msg(strcmp(log_str(&g_wlog), wl) == 0, "%s: callbacks %s, want %s", r->how,
                log_str(&g_wlog), wl);
  ck_assert_msg(strcmp(log_str(&g_elog), el) == 0, "%s: events %s, want %s", r->how,
                log_str(&g_elog), el);
  ck_assert_int_eq(acto_alive(sys, c1), 0);
  sv_which w = which(sys, sup);
  ck_assert_int_eq(w.c[0].state, r->restarted ? ACTO_CHILD_RUNNING : ACTO_CHILD_STOPPED);
  ck_assert_int_eq(acto_ref_is_none(w.c[0].ref), !r->restarted);
  ck_assert_int_eq(tu_stats(sys).dead_letters_total, 0);
  teardown_tree(sys, sup);
}
END_TEST

START_TEST(stopping_the_supervisor_during_a_backoff_stops_the_waiting_child_for_good) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 60000);
  sp.backoff_min_ms = 1000;
  sp.backoff_max_ms = 1000;
  acto_ref sup = start_sup(sys, &sp, NULL);
  send0(sys, ref_of(sys, sup, "c2"), MSG_FAIL);
  run_for(sys, 100);
  log_clear(&g_wlog);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_int_eq(acto_now_ms(sys), 100);
  /* c2's terminate: see a_failed_child_stopped_by_a_giving_up_supervisor... */
  ck_assert_log_either(&g_wlog, "term(c2,-3) term(c1,1)", "term(c2,1) term(c1,1)");
  run_for(sys, 5000); /* the backoff timer fires into nothing */
  ck_assert_int_eq(log_count(&g_wlog), 2);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(terminate_child_during_its_backoff_stops_it_and_cancels_the_restart) {
  for (int k = 0; k < 2; k++) {
    acto_system *sys = det_system();
    acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, 0)};
    acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 60000);
    sp.backoff_min_ms = 1000;
    sp.backoff_max_ms = 1000;
    acto_ref sup = start_sup(sys, &sp, NULL);
    acto_ref c2 = ref_of(sys, sup, "c2");
    /* k 0: failed (parked, same ref); k 1: stopped (gone, no ref). */
    send0(sys, c2, k == 0 ? MSG_FAIL : MSG_STOP);
    run_for(sys, 100);
    ck_assert_int_eq(which(sys, sup).c[1].state,
                     k == 0 ? ACTO_CHILD_RESTARTING : ACTO_CHILD_STOPPED);
    log_clear(&g_wlog);
    if (k == 0)
      ck_assert_ok(acto_supervisor_terminate_child(sys, sup, c2, TU_WAIT_MS));
    else
      ck_assert_ok(acto_supervisor_terminate_child_id(sys, sup, "c2", TU_WAIT_MS));
    ck_assert_int_eq(acto_alive(sys, c2), 0);
    run_for(sys, 5000);
    ck_assert_int_eq(log_matches(&g_wlog, "init(c2)"), 0);
    sv_which w = which(sys, sup);
    ck_assert_uint_eq(w.n, 2);
    ck_assert_int_eq(w.c[1].state, ACTO_CHILD_STOPPED);
    teardown_tree(sys, sup);
  }
}
END_TEST

START_TEST(a_child_that_fails_while_being_shut_down_does_not_delay_the_shutdown) {
  acto_system *sys = det_system();
  acto_child_spec cs[2] = {worker("c1", PERM, 0), worker("c2", PERM, W_TRAP)};
  cs[1].shutdown_ms = 5000;
  acto_sup_spec sp = sup_spec(OFO, cs, 2, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref c2 = ref_of(sys, sup, "c2");
  log_clear(&g_wlog);
  log_clear(&g_elog);
  /* c2 traps the SHUTDOWN exit signal, then fails on the next message. */
  ck_assert_ok(acto_exit(sys, sup, ACTO_REASON_SHUTDOWN));
  send0(sys, c2, MSG_FAIL);
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_int_eq(acto_now_ms(sys), 0);
  ck_assert_int_eq(log_matches(&g_wlog, "init(c2)"), 0); /* not restarted */
  ck_assert_int_eq(log_matches(&g_wlog, "term(c1,1)"), 1);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(start_child_during_shutdown_returns_eshutdown) {
  acto_system *sys = det_system();
  acto_child_spec t = worker("dyn", PERM, W_TRAP);
  t.shutdown_ms = ACTO_SHUTDOWN_INFINITY;
  acto_sup_spec sp = sup_spec(ACTO_SIMPLE_ONE_FOR_ONE, &t, 1, 5, 1000);
  acto_ref sup = start_sup(sys, &sp, NULL);
  acto_ref d1 = ACTO_REF_NONE; /* the template's argument: it traps */
  ck_assert_ok(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &d1));
  ck_assert_rc(acto_supervisor_stop(sys, sup, 1000), ACTO_EDEADLK); /* only a kill ends it */
  acto_ref c = ACTO_REF_NONE;
  ck_assert_rc(acto_supervisor_start_child(sys, sup, NULL, 0, TU_WAIT_MS, &c), ACTO_ESHUTDOWN);
  ck_assert_ok(acto_kill(sys, d1));
  run_for(sys, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  assert_no_actors(sys);
  tu_shutdown(sys);
}
END_TEST

/* ---- storms: random endings, random timing, then stop; invariants only --- */

/* Every instance of a child that init started is terminated exactly once. */
static void assert_balanced(const char *what) {
  static const char *ids[] = {"c1", "c2", "c3", "c4"};
  for (int i = 0; i < 4; i++) {
    int inits = 0, terms = 0;
    char pi[32], pt[32];
    snprintf(pi, sizeof pi, "init(%s)", ids[i]);
    snprintf(pt, sizeof pt, "term(%s,", ids[i]);
    pthread_mutex_lock(&g_wlog.mu);
    ck_assert_msg(g_wlog.n < SV_LOG_MAX, "%s: log overflow", what);
    for (int k = 0; k < g_wlog.n; k++) {
      inits += strcmp(g_wlog.tok[k].s, pi) == 0;
      terms += strncmp(g_wlog.tok[k].s, pt, strlen(pt)) == 0;
    }
    pthread_mutex_unlock(&g_wlog.mu);
    ck_assert_msg(inits == terms, "%s: %s started %d times, terminated %d times: %s", what,
                  ids[i], inits, terms, log_str(&g_wlog));
  }
}

static uint64_t g_rng;

static uint32_t rnd(uint32_t n) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33) % n;
}

static const uint32_t STORM_MSGS[] = {MSG_FAIL, MSG_STOP, MSG_SHUTDOWN, MSG_EXIT_FAIL, MSG_RECORD};

/* One storm: 4 children of mixed restart types, `rounds` random endings
 * sent to the current refs at random moments, then an ordered stop. */
static void storm(acto_system *sys, acto_strategy st, uint64_t seed, int rounds,
                  uint32_t intensity, uint32_t backoff) {
  int det = is_det(sys);
  g_rng = seed;
  acto_child_spec cs[4] = {worker("c1", PERM, 0), worker("c2", TRANS, 0), worker("c3", PERM, 0),
                           worker("c4", TRANS, 0)};
  acto_sup_spec sp = sup_spec(st, cs, 4, intensity, 1000);
  sp.backoff_min_ms = backoff;
  sp.backoff_max_ms = backoff * 4;
  acto_ref sup = start_sup(sys, &sp, NULL);
  for (int i = 0; i < rounds && acto_alive(sys, sup); i++) {
    sv_which w;
    memset(&w, 0, sizeof w);
    if (acto_supervisor_which_children(sys, sup, w.c, SV_MAXC, &w.n, TU_WAIT_MS) != 0) break;
    int sends = 1 + (int)rnd(3);
    for (int k = 0; k < sends && w.n > 0; k++) {
      acto_ref to = w.c[rnd((uint32_t)w.n)].ref;
      uint32_t type = STORM_MSGS[rnd(5)];
      uint64_t v = (uint64_t)i;
      int rc = type == MSG_RECORD ? acto_send(sys, to, type, &v, sizeof v)
                                  : acto_send(sys, to, type, NULL, 0);
      ck_assert_msg(rc == 0 || rc == ACTO_ESTALE, "send: %s", tu_name(rc));
    }
    if (det)
      run_for(sys, rnd(4) == 0 ? 0 : (int64_t)rnd(300));
    else if (rnd(2))
      tu_sleep_ms(rnd(3));
  }
  int rc = acto_supervisor_stop(sys, sup, TU_WAIT_MS);
  char what[96];
  snprintf(what, sizeof what, "storm %s seed %#llx", strat_name(st), (unsigned long long)seed);
  ck_assert_msg(rc == 0 || rc == ACTO_ESTALE, "%s: stop returned %s", what, tu_name(rc));
  if (det) run_for(sys, -1);
  ck_assert_msg(acto_alive(sys, sup) == 0, "%s: supervisor still alive", what);
  if (getenv("SV_VERBOSE"))
    fprintf(stderr, "%s: %d callbacks, %d events, %d restarts, %d give-ups\n", what,
            log_count(&g_wlog), log_count(&g_elog),
            log_matches(&g_elog, "restart(c1,0)") + log_matches(&g_elog, "restart(c2,0)") +
                log_matches(&g_elog, "restart(c3,0)") + log_matches(&g_elog, "restart(c4,0)"),
            log_matches(&g_elog, "shutdown(,-19)"));
  assert_no_actors(sys);
  tu_assert_no_expect_failures();
  acto_stats stt = tu_stats(sys);
  /* Only failing messages and messages queued to stopped actors are lost. */
  ck_assert_msg(stt.dead_letters_total == stt.dead_letters[ACTO_DEAD_FAILED] +
                                              stt.dead_letters[ACTO_DEAD_CLOSED] +
                                              stt.dead_letters[ACTO_DEAD_STALE],
                "%s: unexpected dead letters", what);
  tu_shutdown(sys);
  assert_balanced(what);
}

START_TEST(random_endings_at_random_moments_leave_every_tree_consistent) {
  /* _i: strategy (3) x {roomy intensity, tight intensity, with backoff}. */
  acto_strategy st = (acto_strategy)(_i % 3);
  int variant = _i / 3;
  int seeds = TU_N(40, 15, 10);
  for (int k = 0; k < seeds; k++) {
    uint64_t seed = sv_seed() * 1000003u + (uint64_t)k * 7919u + (uint64_t)_i;
    acto_system *sys = det_system_seed(seed);
    storm(sys, st, seed, 30, variant == 1 ? 4 : 1000, variant == 2 ? 50 : 0);
  }
}
END_TEST

START_TEST(random_endings_with_two_worker_threads_leave_every_tree_consistent) {
  acto_strategy st = (acto_strategy)(_i % 3);
  int variant = _i / 3;
  int runs = TU_N(4, 2, 2);
  for (int k = 0; k < runs; k++) {
    uint64_t seed = sv_seed() + (uint64_t)k * 31u + (uint64_t)_i;
    storm(thr_system(2), st, seed, TU_N(60, 30, 20), variant == 1 ? 4 : 100000,
          variant == 2 ? 2 : 0);
  }
}
END_TEST

/* ---- the suite ------------------------------------------------------------------ */

int main(void) {
  fprintf(stderr, "test_supervisor: seed %#llx (SV_SEED=<n> overrides)\n",
          (unsigned long long)sv_seed());
  Suite *s = suite_create("supervisor");
  TCase *tc = tu_tcase("strategies", TU_TCASE_TIMEOUT);
  tcase_add_loop_test(
      tc, each_strategy_restart_type_and_ending_restarts_the_right_children_in_order, 0, 27);
  tcase_add_loop_test(tc, each_strategy_row_gives_the_same_sequence_with_two_worker_threads, 0, 27);
  suite_add_tcase(s, tc);

  tc = tu_tcase("start", TU_TCASE_TIMEOUT);
  tcase_add_test(tc, start_runs_children_in_order_and_which_children_describes_them);
  tcase_add_loop_test(tc, start_rejects_an_invalid_spec_with_einval_and_leaves_no_actor, 0,
                      N_BAD_SPECS);
  tu_add_tests(tc, spawning_the_behaviour_with_an_invalid_spec_fails_init_and_logs_the_rule,
               start_with_null_arguments_returns_einval,
               start_with_a_failing_child_init_returns_echild_and_leaves_no_actor,
               a_failing_third_child_stops_the_first_two_in_reverse_order_before_start_returns,
               a_failing_third_child_stops_the_others_in_reverse_order_with_two_worker_threads,
               children_run_once_every_child_has_started,
               a_failing_child_after_a_nested_supervisor_stops_its_subtree_first,
               a_nested_supervisor_whose_third_child_fails_stops_the_first_two_in_reverse_order,
               a_nested_supervisor_started_by_a_running_parent_stops_its_children_in_reverse_order,
               a_nested_supervisor_started_by_a_running_parent_with_two_worker_threads,
               a_child_whose_init_answers_ignore_is_kept_stopped_and_the_start_succeeds,
               simple_start_child_whose_init_answers_ignore_returns_0_and_no_ref,
               a_restart_whose_init_answers_ignore_leaves_the_child_stopped,
               a_group_restart_goes_on_when_one_init_answers_ignore);
  suite_add_tcase(s, tc);

  tc = tu_tcase("restart", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, restart_in_place_keeps_ref_name_queue_and_dead_letters_the_failed_message,
               restart_in_place_of_a_child_blocked_in_a_handler_keeps_the_messages_behind_it,
               exit_self_with_a_negative_reason_is_a_failure_restarted_in_place,
               a_stopped_permanent_child_is_replaced_by_a_new_actor_and_its_name_moves,
               links_and_monitors_on_a_child_survive_its_restart_in_place,
               group_restart_drops_temporary_siblings_and_restarts_transient_ones,
               group_restart_counts_a_restart_for_every_restarted_sibling,
               group_restart_loses_no_queued_message_of_a_sibling,
               a_killed_nested_supervisor_with_named_children_is_replaced_and_its_names_move,
               a_group_restart_starts_children_in_order_while_a_temporary_sibling_goes);
  suite_add_tcase(s, tc);

  tc = tu_tcase("intensity", TU_TCASE_TIMEOUT);
  tcase_add_test(tc, four_failures_within_one_second_make_the_supervisor_give_up_with_emaxrestarts);
  tcase_add_test(
      tc, a_failed_child_stopped_by_a_giving_up_supervisor_terminates_with_its_own_reason);
  tu_add_tests(tc, failures_spread_beyond_the_period_never_trip_the_intensity,
               restarts_of_different_children_share_one_intensity_window,
               a_zero_period_means_five_seconds, intensity_zero_means_the_first_restart_gives_up,
               a_nested_supervisor_that_gives_up_is_seen_failing_by_its_parent_and_restarted,
               a_transient_or_temporary_nested_supervisor_that_gives_up_is_not_restarted,
               a_child_whose_init_keeps_failing_on_restart_exhausts_the_intensity,
               threaded_supervisor_gives_up_and_a_monitor_sees_emaxrestarts);
  suite_add_tcase(s, tc);

  tc = tu_tcase("backoff", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, restarts_back_off_exponentially_up_to_the_maximum,
               a_stopped_child_also_waits_for_its_backoff,
               a_group_restart_waits_for_the_backoff_after_terminating_the_group,
               jittered_backoff_stays_within_the_percentage);
  suite_add_tcase(s, tc);

  tc = tu_tcase("shutdown", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, supervisor_stop_terminates_children_in_reverse_start_order_with_shutdown,
               a_child_that_ignores_shutdown_is_killed_after_its_shutdown_time,
               a_child_that_stops_in_time_cancels_its_kill_timer,
               brutal_shutdown_kills_the_child_at_once_with_reason_killed,
               infinity_shutdown_waits_for_the_child_as_long_as_it_takes,
               nested_supervisors_shut_down_their_subtree_first,
               plain_thread_calls_from_inside_an_actor_return_edeadlk,
               system_shutdown_with_a_live_tree_terminates_every_child_once);
  suite_add_tcase(s, tc);

  tc = tu_tcase("simple_one_for_one", 60);
  tu_add_tests(tc, simple_start_child_passes_its_argument_and_children_are_listed_and_counted,
               simple_terminate_child_returns_when_it_is_gone_and_it_is_not_restarted,
               terminate_child_works_for_a_static_child_and_it_stays_stopped,
               terminate_child_of_a_temporary_static_child_forgets_it,
               two_threads_terminating_one_child_both_return_when_it_is_gone,
               a_child_terminated_during_a_group_restart_stays_stopped,
               simple_failing_permanent_child_is_restarted_in_place,
               simple_transient_and_temporary_children_that_end_are_forgotten,
               start_child_on_a_static_supervisor_returns_einval,
               calls_on_an_actor_that_is_not_a_supervisor_return_einval_at_once,
               simple_start_child_whose_init_fails_returns_echild,
               ten_thousand_temporary_children_are_all_gone_after_the_supervisor_stops,
               many_temporary_children_with_two_worker_threads_are_all_gone_after_stop);
  suite_add_tcase(s, tc);

  tc = tu_tcase("races", 60);
  tcase_add_loop_test(
      tc, a_child_stopped_from_outside_is_replaced_by_a_new_actor_if_its_type_says_so, 0, 5);
  tu_add_tests(tc, stopping_the_supervisor_during_a_backoff_stops_the_waiting_child_for_good,
               terminate_child_during_its_backoff_stops_it_and_cancels_the_restart,
               a_child_that_fails_while_being_shut_down_does_not_delay_the_shutdown,
               start_child_during_shutdown_returns_eshutdown);
  tcase_add_loop_test(tc, random_endings_at_random_moments_leave_every_tree_consistent, 0, 9);
  tcase_add_loop_test(tc, random_endings_with_two_worker_threads_leave_every_tree_consistent, 0, 9);
  suite_add_tcase(s, tc);

  tc = tu_tcase("children_by_hand", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, restart_child_and_delete_child_manage_a_terminated_static_child,
               restart_child_of_a_child_waiting_for_its_restart_returns_erunning,
               restart_child_whose_init_fails_or_ignores_leaves_it_stopped,
               children_by_hand_on_simple_one_for_one_return_einval,
               restart_child_during_the_shutdown_returns_eshutdown,
               add_child_starts_a_new_spec_at_the_end_of_the_start_order,
               add_child_checks_the_spec_like_a_start_spec_and_logs_the_rule,
               add_child_whose_init_fails_is_not_kept_and_one_that_ignores_is,
               add_child_of_a_nested_supervisor_starts_or_stops_its_whole_subtree);
  suite_add_tcase(s, tc);

  tc = tu_tcase("auto_shutdown", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, any_significant_child_that_stops_shuts_the_supervisor_down,
               all_significant_children_must_stop_before_the_supervisor_shuts_down,
               terminate_child_of_a_significant_child_does_not_shut_the_supervisor_down,
               a_significant_temporary_child_that_fails_shuts_the_supervisor_down,
               a_group_restart_that_stops_a_significant_temporary_sibling_does_not_shut_down);
  suite_add_tcase(s, tc);

  return tu_run(s);
}
