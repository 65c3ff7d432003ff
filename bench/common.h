/* common.h - helpers shared by the acto benchmark programs in bench/.
 *
 * Every program is run as `bench_<name> [scale] [threads] [timeout_s]` and
 * prints exactly one line on stdout, in the format of WORKLOADS.md:
 *
 *   RESULT workload=<name> impl=acto threads=<n> msgs=<count> secs=<wall>
 *          rate=<msgs/s> rss_kb=<peak> [key=value ...]
 *
 * or, when anything goes wrong (an error code, a wrong count, a lost
 * message, the watchdog), one line starting with RESULT_FAILED and a
 * non-zero exit status.
 *
 * DESIGN: the helpers are static functions in this header because each
 * program is a single translation unit that CMake links against the static
 * library; there is nothing to share at link time.  A failure anywhere, on
 * the main thread or inside an actor on a worker, goes through bench_fail(),
 * which prints the RESULT_FAILED line and ends the process with _exit(), so
 * a broken run never waits for a shutdown that may itself be broken.  The
 * main thread waits for the end of a timed section on a bench_latch (a
 * mutex, a condition variable and a counter) that the last actor signals.
 * Only the public API of acto is used.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <math.h> /* isfinite, a macro: no libm needed */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "acto.h"

/* The default watchdog limit, in seconds (run.sh passes its own). */
#define BENCH_DEFAULT_TIMEOUT_S 240
/* The most messages a producer sends in one turn before it yields by
 * sending itself a "continue" message (see bench_send_burst). */
#define BENCH_BURST 1024u

/* What this run is: set once by bench_start() on the main thread, before
 * any other thread exists, and only read afterwards. */
typedef struct bench_run {
  const char *workload;
  double scale;
  unsigned threads;
  unsigned timeout_s;
} bench_run;

static bench_run bench_cur = {"unknown", 1.0, 2, BENCH_DEFAULT_TIMEOUT_S};

/* Reports a failure and ends the process with status 2.  The RESULT_FAILED
 * line goes to stdout (where the runner collects results), the reason also
 * to stderr.  Callable from any thread, including inside an actor. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void bench_fail(const char *fmt, ...) {
  char why[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  /* The reason may contain spaces; it is the last field of the line. */
  printf("RESULT_FAILED workload=%s impl=acto threads=%u reason=%s\n", bench_cur.workload,
         bench_cur.threads, why);
  fflush(stdout);
  fprintf(stderr, "bench_%s: FAILED: %s\n", bench_cur.workload, why);
  fflush(stderr);
  _exit(2);
}

/* Checks the return value of an acto call: a negative code is a failure.
 * Evaluates to the (non-negative) value otherwise, so that ACTO_PARKED can
 * still be told apart from 0. */
#define BENCH_CHECK(call)                                                          \
  __extension__({                                                                  \
    int bench_rc_ = (call);                                                        \
    if (bench_rc_ < 0)                                                             \
      bench_fail("%s:%d: %s returned %s (%s)", __FILE__, __LINE__, #call,          \
                 acto_err_name(bench_rc_), acto_strerror(bench_rc_));              \
    bench_rc_;                                                                     \
  })

/* Checks a condition that must hold for the run to be correct. */
#define BENCH_EXPECT(cond, ...)                                                    \
  do {                                                                             \
    if (!(cond))                                                                   \
      bench_fail(__VA_ARGS__);                                                     \
  } while (0)

/* ---- time and memory ---------------------------------------------------- */

/* Seconds on CLOCK_MONOTONIC.  Thread-safe. */
static inline double bench_now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set size of the process in kB (ru_maxrss).  Thread-safe. */
static inline long bench_peak_rss_kb(void) {
  struct rusage ru;

  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return ru.ru_maxrss;
}

/* Current resident set size in kB (VmRSS in /proc/self/status), or -1.
 * Thread-safe. */
static inline long bench_vmrss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtol(line + 6, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kb;
}

/* ---- arguments, watchdog, system ---------------------------------------- */

/* A default size multiplied by the scale, rounded, at least 1. */
static inline uint64_t bench_scaled(double def, double scale) {
  double v = def * scale + 0.5;

  return v < 1.0 ? 1 : (uint64_t)v;
}

static inline void *bench_watchdog_main(void *arg) {
  unsigned secs = (unsigned)(uintptr_t)arg;
  struct timespec ts = {(time_t)secs, 0};
  char line[256];
  int len;

  /* Sleep the whole limit; an interrupted sleep resumes with the rest. */
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  len = snprintf(line, sizeof line,
                 "RESULT_FAILED workload=%s impl=acto threads=%u reason=watchdog timeout "
                 "after %u s\n",
                 bench_cur.workload, bench_cur.threads, secs);
  /* write(2) rather than stdio: the main thread may hold the stdout lock. */
  if (len > 0 && write(STDOUT_FILENO, line, (size_t)len) < 0) {
    /* Nothing more can be done; the exit status still says it. */
  }
  len = snprintf(line, sizeof line, "bench_%s: watchdog timeout after %u s\n",
                 bench_cur.workload, secs);
  if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
  }
  _exit(3);
  return NULL;
}

/* Parses `[scale] [threads] [timeout_s]` (defaults 1.0, 2, 240), records
 * the workload name and starts the watchdog thread, which ends the process
 * with status 3 after timeout_s seconds.  Call first in main. */
static inline void bench_start(const char *workload, int argc, char **argv) {
  pthread_t tid;
  char *end;

  bench_cur.workload = workload;
  if (argc > 1) {
    bench_cur.scale = strtod(argv[1], &end);
    if (*end != '\0' || !(bench_cur.scale > 0) || !isfinite(bench_cur.scale))
      bench_fail("bad scale '%s' (usage: bench_%s [scale] [threads] [timeout_s])", argv[1],
                 workload);
  }
  if (argc > 2) {
    long t = strtol(argv[2], &end, 10);

    if (*end != '\0' || t < 1 || t > 1024)
      bench_fail("bad threads '%s' (usage: bench_%s [scale] [threads] [timeout_s])", argv[2],
                 workload);
    bench_cur.threads = (unsigned)t;
  }
  if (argc > 3) {
    long s = strtol(argv[3], &end, 10);

    if (*end != '\0' || s < 1 || s > 86400)
      bench_fail("bad timeout '%s' (usage: bench_%s [scale] [threads] [timeout_s])", argv[3],
                 workload);
    bench_cur.timeout_s = (unsigned)s;
  }
  if (pthread_create(&tid, NULL, bench_watchdog_main, (void *)(uintptr_t)bench_cur.timeout_s) != 0)
    bench_fail("cannot start the watchdog thread");
  pthread_detach(tid);
}

/* Creates a system with bench_cur.threads workers; max_actors 0 keeps the
 * default limit. */
static inline acto_system *bench_system(unsigned max_actors) {
  acto_config cfg;
  acto_system *sys = NULL;

  memset(&cfg, 0, sizeof cfg);
  cfg.threads = bench_cur.threads;
  cfg.max_actors = max_actors;
  BENCH_CHECK(acto_system_create(&cfg, &sys));
  BENCH_EXPECT(sys != NULL, "acto_system_create returned 0 but no system");
  return sys;
}

/* Checks that no message became a dead letter: every benchmark here
 * delivers all it sends, so a dead letter means a lost message.  Call
 * before acto_system_shutdown (which turns queued messages into dead
 * letters).  Fills *st for further fields. */
static inline void bench_check_stats(acto_system *sys, acto_stats *st) {
  BENCH_CHECK(acto_get_stats(sys, st));
  BENCH_EXPECT(st->dead_letters_total == 0,
               "%" PRIu64 " dead letters (stale %" PRIu64 ", closed %" PRIu64 ", full %" PRIu64
               ", failed %" PRIu64 ")",
               st->dead_letters_total, st->dead_letters[ACTO_DEAD_STALE],
               st->dead_letters[ACTO_DEAD_CLOSED], st->dead_letters[ACTO_DEAD_FULL],
               st->dead_letters[ACTO_DEAD_FAILED]);
  BENCH_EXPECT(st->actors_failed == 0, "%" PRIu64 " actors failed", st->actors_failed);
}

/* Shuts the system down; a failing shutdown fails the run. */
static inline void bench_shutdown(acto_system *sys) {
  BENCH_CHECK(acto_system_shutdown(sys));
}

/* Prints the RESULT line.  extra_fmt formats further " key=value" fields
 * (each with a leading space) and may be "".  Main thread only, at the end. */
__attribute__((format(printf, 3, 4)))
static inline void bench_report(uint64_t msgs, double secs, const char *extra_fmt, ...) {
  char extra[512];
  va_list ap;

  va_start(ap, extra_fmt);
  vsnprintf(extra, sizeof extra, extra_fmt, ap);
  va_end(ap);
  printf("RESULT workload=%s impl=acto threads=%u msgs=%" PRIu64
         " secs=%.6f rate=%.1f rss_kb=%ld%s\n",
         bench_cur.workload, bench_cur.threads, msgs, secs, secs > 0 ? (double)msgs / secs : 0.0,
         bench_peak_rss_kb(), extra);
  fflush(stdout);
}

/* ---- waiting for actors ------------------------------------------------- */

/* A count-down latch: actors call bench_latch_arrive() (thread-safe, from
 * any handler), the main thread waits until `target` arrivals. */
typedef struct bench_latch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t count;
  uint64_t target;
} bench_latch;

static inline void bench_latch_init(bench_latch *l, uint64_t target) {
  BENCH_EXPECT(pthread_mutex_init(&l->mu, NULL) == 0, "pthread_mutex_init failed");
  BENCH_EXPECT(pthread_cond_init(&l->cv, NULL) == 0, "pthread_cond_init failed");
  l->count = 0;
  l->target = target;
}

static inline void bench_latch_arrive(bench_latch *l) {
  pthread_mutex_lock(&l->mu);
  if (++l->count >= l->target)
    pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

/* Waits for all arrivals; the watchdog bounds the wait.  The mutex makes
 * everything the arriving actors did before arriving visible to the
 * caller. */
static inline void bench_latch_wait(bench_latch *l) {
  pthread_mutex_lock(&l->mu);
  while (l->count < l->target)
    pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
}

static inline void bench_latch_destroy(bench_latch *l) {
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
}

/* ---- producers ---------------------------------------------------------- */

/* Sends payload-less messages of `type` to `to` from inside an actor: at
 * most `max` of them and at most BENCH_BURST, stopping after the first send
 * that returns ACTO_PARKED (the target's mailbox is full: that message is
 * queued, and this actor is suspended once its handler returns).  Returns
 * how many were sent (parked ones included) and sets *parked.  The caller
 * then returns from its handler after sending itself a "continue" message,
 * so that one turn never runs a whole stream.  Only inside the actor. */
static inline uint64_t bench_send_burst(acto_ctx *ctx, acto_ref to, uint32_t type,
                                        uint64_t max, int *parked) {
  acto_system *sys = acto_ctx_system(ctx);
  uint64_t limit = max < BENCH_BURST ? max : BENCH_BURST;
  uint64_t sent = 0;

  *parked = 0;
  while (sent < limit) {
    int rc = BENCH_CHECK(acto_send(sys, to, type, NULL, 0));

    sent++;
    if (rc == ACTO_PARKED) {
      *parked = 1;
      break;
    }
  }
  return sent;
}

#endif /* BENCH_COMMON_H */
