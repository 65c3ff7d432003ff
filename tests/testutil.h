/* testutil.h - shared helpers for the acto test suites.
 *
 * Every suite is a Check program: main() builds one Suite and runs it with
 * tu_run(); Check forks each test into its own process, so globals start
 * fresh in every test.  The helpers here are all header-only and static.
 *
 * DESIGN.  Tests wait on conditions, never on the clock: counters and
 * gates are a mutex and a condition variable on CLOCK_MONOTONIC, and every
 * wait takes a deadline (TU_WAIT_MS, scaled by CK_TIMEOUT_MULTIPLIER so
 * that sanitizer builds get the same slack as Check's own timeouts).  A
 * wait that misses its deadline fails the test with a message instead of
 * hanging it.  Counters that the library exposes only through
 * acto_get_stats() or acto_alive() are polled with a deadline
 * (tu_wait_until), the one place where a test loops on a short sleep.
 * A deterministic system (tu_det_system) has no workers to wait for: the
 * waits on library state run it first (tu_settle), and tu_quiesce runs
 * it until nothing is left, so that "nothing else happens" is checked
 * for certain instead of by sleeping.
 *
 * Code that runs inside actors (on worker threads) never calls ck_assert:
 * it records the first broken expectation with TU_EXPECT, and the test's
 * checked teardown (tu_teardown) fails the test if anything was recorded.
 *
 * Heavy loops are scaled down under the sanitizers with TU_N(plain, asan,
 * tsan); gcc defines __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__.
 */
#ifndef ACTO_TESTUTIL_H
#define ACTO_TESTUTIL_H

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <acto/acto.h>

/* ---- build flavour ------------------------------------------------------ */

#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#else
#define TU_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#else
#define TU_ASAN 0
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#undef TU_TSAN
#define TU_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#undef TU_ASAN
#define TU_ASAN 1
#endif
#endif
#define TU_SANITIZED (TU_TSAN || TU_ASAN)

/* A loop count for this build: plain, ASan+UBSan, TSan. */
#define TU_N(plain, asan, tsan) (TU_TSAN ? (tsan) : TU_ASAN ? (asan) : (plain))

/* Check multiplies tcase timeouts by CK_TIMEOUT_MULTIPLIER; our own waits
 * follow the same factor. */
static inline long tu_multiplier(void) {
  const char *s = getenv("CK_TIMEOUT_MULTIPLIER");
  long m = s ? strtol(s, NULL, 10) : 1;
  return m >= 1 ? m : 1;
}

/* How long a test waits for something that should happen "soon". */
#define TU_WAIT_MS (10000L * tu_multiplier())
/* How long to wait for something the library should do at once (a bound
 * that keeps a failing test from eating the time budget). */
#define TU_SHORT_WAIT_MS (2000L * tu_multiplier())
/* The tcase timeout (seconds, before Check's multiplier). */
#define TU_TCASE_TIMEOUT 30
/* Scheduling slack for the few hard upper bounds on a latency: the design
 * bounds the delay (a heartbeat timeout, "at once" with no timer on the
 * path), but on a loaded machine (2 cores, a CPU hog, sanitizers) any
 * thread on that path may wait this long for a CPU.  Latency targets
 * themselves are measured by bench/, not here. */
#define TU_SLACK_MS (1000L * tu_multiplier())

/* ---- time ---------------------------------------------------------------- */

static inline int64_t tu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t tu_now_ms(void) { return tu_now_ns() / 1000000; }

/* Sleeps; only to let something that must NOT happen have its chance. */
static inline void tu_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static inline struct timespec tu_deadline(long timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static inline void tu_cond_init(pthread_cond_t *cv) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &a);
  pthread_condattr_destroy(&a);
}

/* ---- error-code assertions ------------------------------------------------ */

static inline const char *tu_name(int rc) {
  if (rc == ACTO_PARKED) return "ACTO_PARKED";
  const char *s = acto_err_name(rc);
  return s ? s : "(null)";
}

/* Asserts that expr returns exactly want, naming both codes on failure. */
#define ck_assert_rc(expr, want)                                                     \
  do {                                                                               \
    int tu_rc_ = (int)(expr);                                                        \
    int tu_want_ = (int)(want);                                                      \
    ck_assert_msg(tu_rc_ == tu_want_, "%s returned %d (%s), expected %d (%s)", #expr, \
                  tu_rc_, tu_name(tu_rc_), tu_want_, tu_name(tu_want_));             \
  } while (0)

#define ck_assert_ok(expr) ck_assert_rc(expr, 0)

/* Check's ck_assert records its location through a pipe on every call;
 * inside loops of thousands use this, which costs nothing until it fails. */
#define TU_HOT_ASSERT(cond)                                                \
  do {                                                                     \
    if (!(cond)) ck_abort_msg("assertion failed: %s", #cond);              \
  } while (0)

/* ---- expectations recorded off the test thread ------------------------------ */

static pthread_mutex_t tu_expect_mu = PTHREAD_MUTEX_INITIALIZER;
static char tu_expect_first[512];
static atomic_long tu_expect_failures;

static inline void tu_expect_fail(const char *file, int line, const char *fmt, ...) {
  pthread_mutex_lock(&tu_expect_mu);
  if (atomic_fetch_add(&tu_expect_failures, 1) == 0) {
    int n = snprintf(tu_expect_first, sizeof tu_expect_first, "%s:%d: ", file, line);
    if (n < 0) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tu_expect_first + n, sizeof tu_expect_first - (size_t)n, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&tu_expect_mu);
}

/* For callbacks on worker threads: records a failure instead of exiting. */
#define TU_EXPECT(cond, ...)                                         \
  do {                                                               \
    if (!(cond)) tu_expect_fail(__FILE__, __LINE__, __VA_ARGS__);    \
  } while (0)

/* Like ck_assert_rc, for callbacks. */
#define TU_EXPECT_RC(expr, want)                                                       \
  do {                                                                                 \
    int tu_rc_ = (int)(expr);                                                          \
    int tu_want_ = (int)(want);                                                        \
    TU_EXPECT(tu_rc_ == tu_want_, "%s returned %d (%s), expected %d (%s)", #expr, tu_rc_, \
              tu_name(tu_rc_), tu_want_, tu_name(tu_want_));                           \
  } while (0)

/* A send from inside an actor succeeds with 0 or ACTO_PARKED. */
#define TU_EXPECT_SENT(expr)                                                             \
  do {                                                                                   \
    int tu_rc_ = (int)(expr);                                                            \
    TU_EXPECT(tu_rc_ == 0 || tu_rc_ == ACTO_PARKED, "%s returned %d (%s)", #expr, tu_rc_, \
              tu_name(tu_rc_));                                                          \
  } while (0)

/* The first failure recorded by TU_EXPECT, or "none" (for messages). */
static inline const char *tu_expect_summary(void) {
  static char copy[sizeof tu_expect_first];
  pthread_mutex_lock(&tu_expect_mu);
  if (atomic_load(&tu_expect_failures) == 0) snprintf(copy, sizeof copy, "none");
  else memcpy(copy, tu_expect_first, sizeof copy);
  pthread_mutex_unlock(&tu_expect_mu);
  return copy;
}

static inline void tu_assert_no_expect_failures(void) {
  pthread_mutex_lock(&tu_expect_mu);
  long n = atomic_load(&tu_expect_failures);
  char first[sizeof tu_expect_first];
  memcpy(first, tu_expect_first, sizeof first);
  pthread_mutex_unlock(&tu_expect_mu);
  ck_assert_msg(n == 0, "%ld expectation(s) failed inside callbacks; first: %s", n, first);
}

/* Checked fixture for every tcase. */
static inline void tu_setup(void) {
  atomic_store(&tu_expect_failures, 0);
  tu_expect_first[0] = '\0';
}

static inline void tu_teardown(void) { tu_assert_no_expect_failures(); }

/* ---- a counter one can wait on ---------------------------------------------- */

typedef struct tu_counter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long value;
} tu_counter;

static inline void tu_counter_init(tu_counter *c) {
  pthread_mutex_init(&c->mu, NULL);
  tu_cond_init(&c->cv);
  c->value = 0;
}

static inline long tu_counter_add(tu_counter *c, long d) {
  pthread_mutex_lock(&c->mu);
  long v = (c->value += d);
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return v;
}

static inline long tu_counter_get(tu_counter *c) {
  pthread_mutex_lock(&c->mu);
  long v = c->value;
  pthread_mutex_unlock(&c->mu);
  return v;
}

/* 1 once value >= target, 0 if the deadline passed first. */
static inline int tu_counter_wait_ge(tu_counter *c, long target, long timeout_ms) {
  struct timespec dl = tu_deadline(timeout_ms);
  int reached;
  pthread_mutex_lock(&c->mu);
  while (c->value < target) {
    if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) break;
  }
  reached = c->value >= target;
  pthread_mutex_unlock(&c->mu);
  return reached;
}

/* 1 once value >= target, 0 if it stood still for stall_ms first: for a
 * stream whose speed depends on the machine's load, where only its end
 * (and no progress at all) is what the code guarantees. */
static inline int tu_counter_wait_progress(tu_counter *c, long target, long stall_ms) {
  long last = tu_counter_get(c);
  for (;;) {
    if (tu_counter_wait_ge(c, target, stall_ms))
      return 1;
    long now = tu_counter_get(c);
    if (now == last)
      return 0;
    last = now;
  }
}

#define ck_assert_counter_progresses_to(c, target)                                        \
  do {                                                                                    \
    long tu_t_ = (long)(target);                                                          \
    ck_assert_msg(tu_counter_wait_progress((c), tu_t_, TU_WAIT_MS),                       \
                  "%s stopped at %ld, expected >= %ld (no progress for %ld ms; "          \
                  "callbacks: %s)",                                                       \
                  #c, tu_counter_get(c), tu_t_, (long)TU_WAIT_MS, tu_expect_summary());  \
  } while (0)

#define ck_assert_counter_reaches(c, target)                                              \
  do {                                                                                    \
    long tu_t_ = (long)(target);                                                          \
    ck_assert_msg(tu_counter_wait_ge((c), tu_t_, TU_WAIT_MS), "%s stayed at %ld, expected " \
                  ">= %ld within %ld ms (callbacks: %s)", #c, tu_counter_get(c), tu_t_, \
                  (long)TU_WAIT_MS, tu_expect_summary());                                 \
  } while (0)

/* ---- a gate: closed until opened, once ---------------------------------------- */

typedef struct tu_gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
} tu_gate;

static inline void tu_gate_init(tu_gate *g) {
  pthread_mutex_init(&g->mu, NULL);
  tu_cond_init(&g->cv);
  g->open = 0;
}

static inline void tu_gate_open(tu_gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static inline int tu_gate_is_open(tu_gate *g) {
  pthread_mutex_lock(&g->mu);
  int o = g->open;
  pthread_mutex_unlock(&g->mu);
  return o;
}

/* 1 once open, 0 if the deadline passed first. */
static inline int tu_gate_wait(tu_gate *g, long timeout_ms) {
  struct timespec dl = tu_deadline(timeout_ms);
  pthread_mutex_lock(&g->mu);
  while (!g->open) {
    if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT) break;
  }
  int o = g->open;
  pthread_mutex_unlock(&g->mu);
  return o;
}

/* ---- polling with a deadline (for library state without a signal) ----------- */

static inline int tu_wait_until(int (*pred)(void *), void *arg, long timeout_ms) {
  int64_t end = tu_now_ms() + timeout_ms;
  for (;;) {
    if (pred(arg)) return 1;
    if (tu_now_ms() >= end) return pred(arg);
    tu_sleep_ms(1);
  }
}

typedef struct tu_alive_arg {
  acto_system *sys;
  acto_ref ref;
} tu_alive_arg;

static inline void tu_settle(acto_system *sys);

/* The predicates below settle a deterministic system before each look. */
static inline int tu_pred_dead(void *p) {
  tu_alive_arg *a = p;
  tu_settle(a->sys);
  return acto_alive(a->sys, a->ref) == 0;
}

/* Waits until acto_alive(ref) reports 0. */
#define ck_assert_becomes_dead(sys, ref)                                              \
  do {                                                                                \
    tu_alive_arg tu_a_ = {(sys), (ref)};                                              \
    ck_assert_msg(tu_wait_until(tu_pred_dead, &tu_a_, TU_WAIT_MS),                    \
                  "actor %s still alive after %ld ms", #ref, (long)TU_WAIT_MS);        \
  } while (0)

/* ---- the system ---------------------------------------------------------------- */

/* Test systems log nothing (connections closing at the end of a case are
 * expected) unless TU_LOG=1; a test about log lines installs its own hook
 * and level. */
static inline acto_system *tu_system_cfg(const acto_config *cfg) {
  acto_system *sys = NULL;
  ck_assert_ok(acto_system_create(cfg, &sys));
  ck_assert_ptr_nonnull(sys);
  const char *v = getenv("TU_LOG");
  if (!v || strcmp(v, "1") != 0)
    ck_assert_ok(acto_set_log_level(sys, ACTO_LOG_OFF));
  return sys;
}

static inline acto_system *tu_system(unsigned threads) {
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = threads;
  return tu_system_cfg(&cfg);
}

/* ---- deterministic systems ------------------------------------------------------ */

/* The deterministic system of this test, if tu_det_system made one (each
 * test is its own process, and one such system at a time is enough). */
static acto_system *tu_det_sys;

/* A deterministic system (ACTORS.md 3.15): no threads of its own, a
 * virtual clock, scheduling choices drawn from seed.  The test thread is
 * its only worker: actors run when the test calls tu_quiesce or
 * acto_system_run, or when a wait below settles the system first. */
static inline acto_system *tu_det_system(uint64_t seed) {
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.deterministic = 1;
  cfg.seed = seed;
  acto_system *sys = tu_system_cfg(&cfg);
  tu_det_sys = sys;
  return sys;
}

/* TU_SEED from the environment, else dflt: for suites whose outcomes must
 * not depend on the seed, so that any seed can be tried by hand. */
static inline uint64_t tu_seed(uint64_t dflt) {
  const char *s = getenv("TU_SEED");
  return s ? strtoull(s, NULL, 0) : dflt;
}

static inline int tu_is_det(acto_system *sys) { return sys != NULL && sys == tu_det_sys; }

/* Runs a deterministic system until nothing can run and no timer is left:
 * what has not happened by then never will, so the assertion after it is
 * a guarantee (a threaded test can only sleep a while and look). */
static inline void tu_quiesce(acto_system *sys) {
  ck_assert_msg(tu_is_det(sys), "tu_quiesce needs a system made by tu_det_system");
  int64_t n = acto_system_run(sys, -1);
  ck_assert_msg(n >= 0, "acto_system_run returned %" PRId64 " (%s)", n, tu_name((int)n));
}

/* Before a wait: a deterministic system runs what can run now (its clock
 * stays where it is); a threaded one is left to its workers. */
static inline void tu_settle(acto_system *sys) {
  if (!tu_is_det(sys)) return;
  int64_t n = acto_system_run(sys, 0);
  ck_assert_msg(n >= 0, "acto_system_run returned %" PRId64 " (%s)", n, tu_name((int)n));
}

static inline acto_stats tu_stats(acto_system *sys) {
  acto_stats st;
  memset(&st, 0xab, sizeof st);
  ck_assert_ok(acto_get_stats(sys, &st));
  return st;
}

typedef struct tu_stat_arg {
  acto_system *sys;
  acto_dead_reason reason; /* dead_letters[reason] */
  uint64_t want;
} tu_stat_arg;

static inline int tu_pred_dead_stat(void *p) {
  tu_stat_arg *a = p;
  acto_stats st;
  tu_settle(a->sys);
  if (acto_get_stats(a->sys, &st) != 0) return 0;
  return st.dead_letters[a->reason] >= a->want;
}

/* Waits until stats dead_letters[reason] >= want, then asserts it is
 * exactly want. */
#define ck_assert_dead_stat(sys, reason, want)                                          \
  do {                                                                                  \
    tu_stat_arg tu_s_ = {(sys), (reason), (uint64_t)(want)};                            \
    tu_wait_until(tu_pred_dead_stat, &tu_s_, TU_WAIT_MS);                               \
    acto_stats tu_st_ = tu_stats(sys);                                                  \
    ck_assert_msg(tu_st_.dead_letters[(reason)] == (uint64_t)(want),                    \
                  "dead_letters[%s] is %" PRIu64 ", expected %" PRIu64, #reason,        \
                  tu_st_.dead_letters[(reason)], (uint64_t)(want));                     \
  } while (0)

/* The stats counters are a loose snapshot ("each read atomically, not all
 * at one instant"): a stopped actor may leave actors_live a moment after
 * acto_alive() reports 0.  So counters that follow a stop are awaited. */
typedef struct tu_field_arg {
  acto_system *sys;
  size_t off;
  uint64_t want;
} tu_field_arg;

static inline uint64_t tu_stat_field(acto_system *sys, size_t off) {
  acto_stats st;
  memset(&st, 0, sizeof st);
  if (acto_get_stats(sys, &st) != 0) return UINT64_MAX;
  uint64_t v;
  memcpy(&v, (const char *)&st + off, sizeof v);
  return v;
}

static inline int tu_pred_field(void *p) {
  tu_field_arg *a = p;
  tu_settle(a->sys);
  return tu_stat_field(a->sys, a->off) == a->want;
}

/* Waits until stats.field == want. */
#define ck_assert_stat_becomes(sys, field, want)                                          \
  do {                                                                                    \
    tu_field_arg tu_f_ = {(sys), offsetof(acto_stats, field), (uint64_t)(want)};          \
    ck_assert_msg(tu_wait_until(tu_pred_field, &tu_f_, TU_WAIT_MS),                       \
                  "stats." #field " is %" PRIu64 ", expected %" PRIu64,                   \
                  tu_stat_field((sys), offsetof(acto_stats, field)), (uint64_t)(want));   \
  } while (0)

static inline void tu_shutdown(acto_system *sys) {
  ck_assert_ok(acto_system_shutdown(sys));
  if (sys == tu_det_sys) tu_det_sys = NULL;
}

/* ---- a dead-letter recorder (acto_set_dead_letter_hook) ---------------------- */

#define TU_DEAD_LOG 8192

typedef struct tu_dead_rec {
  acto_ref to;
  uint32_t type;
  size_t size;
  acto_dead_reason reason;
} tu_dead_rec;

typedef struct tu_dead {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long count[ACTO_DEAD_REASON_COUNT];
  long bad_reason; /* calls with a reason outside the enum */
  int n;
  tu_dead_rec log[TU_DEAD_LOG];
} tu_dead;

static inline void tu_dead_init(tu_dead *d) {
  memset(d, 0, sizeof *d);
  pthread_mutex_init(&d->mu, NULL);
  tu_cond_init(&d->cv);
}

static inline void tu_dead_hook(void *user, acto_ref to, uint32_t type, size_t size,
                                acto_dead_reason reason) {
  tu_dead *d = user;
  pthread_mutex_lock(&d->mu);
  if ((int)reason < 0 || (int)reason >= ACTO_DEAD_REASON_COUNT) {
    d->bad_reason++;
  } else {
    d->count[reason]++;
  }
  if (d->n < TU_DEAD_LOG) d->log[d->n++] = (tu_dead_rec){to, type, size, reason};
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

static inline long tu_dead_count(tu_dead *d, acto_dead_reason reason) {
  pthread_mutex_lock(&d->mu);
  long v = d->count[reason];
  pthread_mutex_unlock(&d->mu);
  return v;
}

static inline int tu_dead_wait(tu_dead *d, acto_dead_reason reason, long n, long timeout_ms) {
  struct timespec dl = tu_deadline(timeout_ms);
  pthread_mutex_lock(&d->mu);
  while (d->count[reason] < n) {
    if (pthread_cond_timedwait(&d->cv, &d->mu, &dl) == ETIMEDOUT) break;
  }
  int ok = d->count[reason] >= n;
  pthread_mutex_unlock(&d->mu);
  return ok;
}

#define ck_assert_dead_hook_reaches(d, reason, n)                                        \
  do {                                                                                   \
    ck_assert_msg(tu_dead_wait((d), (reason), (n), TU_WAIT_MS),                          \
                  "dead-letter hook saw %ld x %s, expected >= %ld", tu_dead_count((d), (reason)), \
                  #reason, (long)(n));                                                   \
  } while (0)

/* How many logged dead letters match (to, type, reason). */
static inline int tu_dead_matches(tu_dead *d, acto_ref to, uint32_t type, acto_dead_reason reason) {
  int m = 0;
  pthread_mutex_lock(&d->mu);
  for (int i = 0; i < d->n; i++) {
    if (acto_ref_eq(d->log[i].to, to) && d->log[i].type == type && d->log[i].reason == reason)
      m++;
  }
  pthread_mutex_unlock(&d->mu);
  return m;
}

/* ---- a crash recorder (acto_set_crash_hook) -------------------------------------- */

#define TU_CRASH_LOG 64

typedef struct tu_crash_rec {
  acto_ref actor;
  char behaviour[32];
  int reason;
  uint32_t msg_type;
} tu_crash_rec;

typedef struct tu_crashes {
  pthread_mutex_t mu;
  int n; /* calls (those past TU_CRASH_LOG are counted, not kept) */
  tu_crash_rec rec[TU_CRASH_LOG];
} tu_crashes;

static inline void tu_crashes_init(tu_crashes *c) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
}

/* The crash hook: user is the tu_crashes it records into. */
static inline void tu_crash_hook(void *user, acto_ref actor, const char *behaviour, int reason,
                                 uint32_t msg_type) {
  tu_crashes *c = user;
  pthread_mutex_lock(&c->mu);
  if (c->n < TU_CRASH_LOG) {
    tu_crash_rec *r = &c->rec[c->n];
    r->actor = actor;
    snprintf(r->behaviour, sizeof r->behaviour, "%s", behaviour ? behaviour : "(null)");
    r->reason = reason;
    r->msg_type = msg_type;
  }
  c->n++;
  pthread_mutex_unlock(&c->mu);
}

static inline int tu_crash_count(tu_crashes *c) {
  pthread_mutex_lock(&c->mu);
  int n = c->n;
  pthread_mutex_unlock(&c->mu);
  return n;
}

/* A copy of the i-th record (i < TU_CRASH_LOG). */
static inline tu_crash_rec tu_crash_at(tu_crashes *c, int i) {
  pthread_mutex_lock(&c->mu);
  tu_crash_rec r = c->rec[i];
  pthread_mutex_unlock(&c->mu);
  return r;
}

/* ---- the probe: an actor that records what it receives -------------------------- */

/* A message of this type makes the probe signal `entered` and then hold its
 * worker until the probe's gate opens: the deterministic way to keep one
 * message "being handled" while a test fills the mailbox behind it. */
#define TU_MSG_GATE 0x7000u
#define TU_PROBE_MAX 4096

typedef struct tu_rec {
  uint32_t type;
  uint64_t value; /* the first 8 (or 4) payload bytes, 0 when shorter */
  size_t size;
  acto_ref sender;
  acto_ref ctx_sender; /* acto_sender(ctx) */
  uint64_t ask_id;
  int64_t at_ns;       /* CLOCK_MONOTONIC when handled */
  int data_null;       /* msg->data == NULL */
  int data_aligned;    /* msg->data 16-byte aligned (or NULL) */
} tu_rec;

typedef struct tu_probe {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n; /* messages handled (all types, gate included) */
  tu_rec rec[TU_PROBE_MAX];
  tu_gate gate;
  tu_counter entered;    /* TU_MSG_GATE messages entered */
  tu_counter terminated; /* terminate calls */
  int term_reason;
  acto_ref self;
} tu_probe;

typedef struct tu_probe_state {
  tu_probe *p;
} tu_probe_state;

static inline void tu_probe_init(tu_probe *p) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  tu_cond_init(&p->cv);
  tu_gate_init(&p->gate);
  tu_counter_init(&p->entered);
  tu_counter_init(&p->terminated);
}

static inline int tu_probe_b_init(acto_ctx *ctx, void *state, const void *arg) {
  tu_probe_state *s = state;
  s->p = (tu_probe *)arg;
  pthread_mutex_lock(&s->p->mu);
  s->p->self = acto_self(ctx);
  pthread_mutex_unlock(&s->p->mu);
  return 0;
}

static inline int tu_probe_b_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  tu_probe *p = ((tu_probe_state *)state)->p;
  tu_rec r;
  memset(&r, 0, sizeof r);
  r.type = msg->type;
  r.size = msg->size;
  if (msg->size >= 8) memcpy(&r.value, msg->data, 8);
  else if (msg->size >= 4) {
    uint32_t v;
    memcpy(&v, msg->data, 4);
    r.value = v;
  }
  r.sender = msg->sender;
  r.ctx_sender = acto_sender(ctx);
  r.ask_id = msg->ask_id;
  r.at_ns = tu_now_ns();
  r.data_null = msg->data == NULL;
  r.data_aligned = ((uintptr_t)msg->data % 16) == 0;
  pthread_mutex_lock(&p->mu);
  if (p->n < TU_PROBE_MAX) p->rec[p->n] = r;
  p->n++;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (msg->type == TU_MSG_GATE) {
    tu_counter_add(&p->entered, 1);
    TU_EXPECT(tu_gate_wait(&p->gate, TU_WAIT_MS), "probe gate never opened");
  }
  return 0;
}

static inline void tu_probe_b_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  tu_probe *p = ((tu_probe_state *)state)->p;
  pthread_mutex_lock(&p->mu);
  p->term_reason = reason;
  pthread_mutex_unlock(&p->mu);
  tu_counter_add(&p->terminated, 1);
}

static const acto_behaviour tu_probe_behaviour = {
    .name = "tu_probe",
    .state_size = sizeof(tu_probe_state),
    .init = tu_probe_b_init,
    .handle = tu_probe_b_handle,
    .terminate = tu_probe_b_terminate,
};

static inline acto_ref tu_spawn_probe(acto_system *sys, tu_probe *p, const acto_spawn_opts *opts) {
  acto_ref r = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &tu_probe_behaviour, p, opts, &r));
  ck_assert(!acto_ref_is_none(r));
  return r;
}

static inline int tu_probe_count(tu_probe *p) {
  pthread_mutex_lock(&p->mu);
  int n = p->n;
  pthread_mutex_unlock(&p->mu);
  return n;
}

/* 1 once the probe has handled >= n messages, 0 at the deadline. */
static inline int tu_probe_wait(tu_probe *p, int n, long timeout_ms) {
  struct timespec dl = tu_deadline(timeout_ms);
  pthread_mutex_lock(&p->mu);
  while (p->n < n) {
    if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) break;
  }
  int ok = p->n >= n;
  pthread_mutex_unlock(&p->mu);
  return ok;
}

#define ck_assert_probe_reaches(p, count)                                               \
  do {                                                                                  \
    int tu_c_ = (count);                                                                \
    ck_assert_msg(tu_probe_wait((p), tu_c_, TU_WAIT_MS),                                \
                  "probe %s handled %d messages, expected >= %d (callbacks: %s)", #p, \
                  tu_probe_count(p), tu_c_, tu_expect_summary());                       \
  } while (0)

/* A copy of the i-th record (call after the probe is quiet). */
static inline tu_rec tu_probe_rec(tu_probe *p, int i) {
  pthread_mutex_lock(&p->mu);
  tu_rec r = p->rec[i];
  pthread_mutex_unlock(&p->mu);
  return r;
}

/* Sends a message carrying a 64-bit value from a plain thread. */
static inline int tu_send_u64(acto_system *sys, acto_ref to, uint32_t type, uint64_t v) {
  return acto_send(sys, to, type, &v, sizeof v);
}

/* Sends TU_MSG_GATE and waits until the probe is inside its handler. */
static inline void tu_probe_hold(acto_system *sys, acto_ref to, tu_probe *p) {
  long before = tu_counter_get(&p->entered);
  ck_assert_ok(acto_send(sys, to, TU_MSG_GATE, NULL, 0));
  ck_assert_counter_reaches(&p->entered, before + 1);
}

/* ---- running a suite ----------------------------------------------------------- */

static inline TCase *tu_tcase(const char *name, int timeout_s) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
  tcase_set_timeout(tc, timeout_s);
  return tc;
}

/* Adds the tests to tc in the order given: tu_add_tests(tc, a, b, c). */
#define tu_add_tests(tc, ...)                                                                      \
  tu_add_tests_((tc), (const TTest *const[]){__VA_ARGS__},                                         \
                sizeof((const TTest *const[]){__VA_ARGS__}) / sizeof(const TTest *))
static inline void tu_add_tests_(TCase *tc, const TTest *const *tests, size_t n) {
  for (size_t i = 0; i < n; i++)
    tcase_add_test(tc, tests[i]);
}

static inline int tu_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}


/* ---- child programs ------------------------------------------------------ */

/* The program `name` built next to this test's executable, or $env when
 * set (for running a test by hand against another build). */
static inline void tu_find_program(char *out, size_t size, const char *env, const char *name) {
  const char *e = env ? getenv(env) : NULL;
  if (e) {
    snprintf(out, size, "%s", e);
    return;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    snprintf(out, size, "./%s", name);
    return;
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash)
    *slash = '\0';
  size_t dl = strlen(self), nl = strlen(name);
  if (dl + nl + 2 > size) {
    snprintf(out, size, "./%s", name);
    return;
  }
  memcpy(out, self, dl);
  out[dl] = '/';
  memcpy(out + dl + 1, name, nl + 1);
}

/* The first 64 KiB of the file at path (a child's output, say), as a
 * string in a static buffer that the next call overwrites; "" if there is
 * no such file. */
static inline char *tu_read_text(const char *path) {
  static char buf[1 << 16];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  return buf;
}

#define TU_ARGV_MAX 32

/* Fills argv (room for TU_ARGV_MAX pointers) with prog, the NULL-terminated
 * args (at most TU_ARGV_MAX - 2 of them) and a NULL, for execv. */
static inline void tu_argv(char **argv, const char *prog, const char *const *args) {
  int n = 0;
  argv[n++] = (char *)prog;
  for (; args[n - 1] && n < TU_ARGV_MAX - 1; n++) argv[n] = (char *)args[n - 1];
  argv[n] = NULL;
}

/* fork() after flushing stdio, so that the child does not write the
 * parent's buffered output a second time; fails the test if fork fails. */
static inline pid_t tu_fork(void) {
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  return pid;
}

/* Reaps pid within timeout_ms and returns its wait status; past the
 * deadline it kills the child, reaps it and fails the test, naming it and
 * adding what output() returns (the child's output, say) unless NULL. */
static inline int tu_reap_output(pid_t pid, long timeout_ms, const char *what,
                                 const char *(*output)(void)) {
  int st;
  int64_t end = tu_now_ms() + timeout_ms;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return st;
    ck_assert_msg(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
    if (tu_now_ms() > end) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      ck_abort_msg("%s (pid %d) did not finish within %ld ms%s%s", what, (int)pid, timeout_ms,
                   output ? "; output:\n" : "", output ? output() : "");
    }
    tu_sleep_ms(5);
  }
}

static inline int tu_reap(pid_t pid, long timeout_ms, const char *what) {
  return tu_reap_output(pid, timeout_ms, what, NULL);
}

/* ---- a port where nothing listens ------------------------------------------ */

/* Resident set size in kB (Linux), -1 if unknown. */
static inline long tu_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
      break;
  fclose(f);
  return kb;
}

/* A loopback port that refuses every connection for as long as *fd is
 * open: a socket bound to it, never listening.  A port that was merely
 * free a moment ago may be taken by any other process (tests run in
 * parallel); a bound one cannot.  Close *fd when done. */
static inline uint16_t tu_refusing_port(int *fd) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_msg(s >= 0, "socket: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ck_assert_msg(bind(s, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  *fd = s;
  return ntohs(a.sin_port);
}

#endif /* ACTO_TESTUTIL_H */
