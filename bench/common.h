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
 * a broken run never waits for a shutdown that may itself be broken; only
 * the first failure reports, and a two-node run's server process is killed
 * and reaped first (see "two-node runs" at the end).  The
 * main thread waits for the end of a timed section on a bench_latch (a
 * mutex, a condition variable and a counter) that the last actor signals.
 * Only the public API of acto is used.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h> /* isfinite, a macro: no libm needed */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <acto/acto.h>

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

/* The server process of a two-node run (0: none; see "two-node runs"
 * below).  bench_fail and the watchdog kill and reap it before they end
 * the process, so that no run leaves a server behind.  Whoever exchanges
 * it to 0 reaps it, exactly once; relaxed is enough, since the exchange
 * only decides who that is. */
static _Atomic int bench_child_pid = 0;

/* Set by the first failure (bench_fail or the watchdog): only the first
 * one reports and ends the process.  A second failure on another thread
 * (for example a server node that goes down because the first one killed
 * it) waits for the first to finish.  Relaxed: the exchange only decides
 * who goes first. */
static _Atomic int bench_failing = 0;

/* Kills (SIGKILL) and reaps the server process, if any.  Thread-safe and
 * async-signal-safe. */
static inline void bench_child_kill(void) {
  int pid = atomic_exchange_explicit(&bench_child_pid, 0, memory_order_relaxed);

  if (pid > 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
}

/* Reports a failure and ends the process with status 2.  The RESULT_FAILED
 * line goes to stdout (where the runner collects results), the reason also
 * to stderr.  Callable from any thread, including inside an actor. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void bench_fail(const char *fmt, ...) {
  char why[512];
  va_list ap;

  if (atomic_exchange_explicit(&bench_failing, 1, memory_order_relaxed) != 0)
    for (;;)
      pause(); /* the first failure ends the process */
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  /* The reason may contain spaces; it is the last field of the line. */
  printf("RESULT_FAILED workload=%s impl=acto threads=%u reason=%s\n", bench_cur.workload,
         bench_cur.threads, why);
  fflush(stdout);
  fprintf(stderr, "bench_%s: FAILED: %s\n", bench_cur.workload, why);
  fflush(stderr);
  bench_child_kill();
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
  if (atomic_exchange_explicit(&bench_failing, 1, memory_order_relaxed) != 0) {
    /* A failure is being reported: give it a moment, then end anyway. */
    ts.tv_sec = 5;
    ts.tv_nsec = 0;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    bench_child_kill();
    _exit(3);
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
  bench_child_kill();
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
  /* ACTO_BENCH_NO_METRICS=1: what the per-worker metrics cost (ACTORS.md
   * 3.18) is measured against this. */
  const char *nm = getenv("ACTO_BENCH_NO_METRICS");
  if (nm != NULL && strcmp(nm, "1") == 0)
    cfg.flags = ACTO_CONFIG_NO_METRICS;
  BENCH_CHECK(acto_system_create(&cfg, &sys));
  BENCH_EXPECT(sys != NULL, "acto_system_create returned 0 but no system");
  /* Connections closing at teardown are expected here: warnings only. */
  BENCH_CHECK(acto_set_log_level(sys, ACTO_LOG_WARN));
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

/* ---- two-node runs ------------------------------------------------------ */

/* The remote workloads run two nodes in two OS processes on loopback: the
 * program forks itself first thing in main, while it has no other thread,
 * and the child runs the server node.  The client (the parent) measures
 * and prints the RESULT line; the server's stdout goes to stderr, so that
 * a failure there is visible but only the parent reports on stdout.
 *
 * DESIGN: two pipes join the processes.  The server writes its real port
 * (it binds 127.0.0.1 port 0) on the port pipe once its actor is
 * registered; the client reads it and connects.  The server's main thread
 * then blocks reading the control pipe; the client closes its end when it
 * is done (or dies, which closes it too), and the server shuts its system
 * down and exits 0, or 2 after a failed check.  Both nodes share a random
 * 32-byte key generated before the fork.  The client always reaps the
 * server by pid: bench_pair_finish on success, bench_child_kill from
 * bench_fail and the watchdog otherwise; the server also asks the kernel
 * for SIGKILL when its parent dies (PR_SET_PDEATHSIG).  With ACTO_BENCH_TLS=1
 * in the environment (inherited by the server) both nodes encrypt their
 * link (ACTO_NODE_ENCRYPT_TLS_PSK) and the workload is reported as
 * "<workload>_tls": bench/run.sh runs remote_stream_tls that way. */

#define BENCH_SERVER_NODE "bench_server"
#define BENCH_CLIENT_NODE "bench_client"
#define BENCH_PAIR_WAIT_MS 20000 /* setup and teardown steps, each */

/* Set by bench_pair_start; read-only afterwards (the fds are the main
 * thread's). */
typedef struct bench_pair {
  int server;      /* 1 in the server process */
  int tls;         /* ACTO_BENCH_TLS=1: both nodes encrypt (names end in _tls) */
  int port_fd;     /* server: write end; client: read end */
  int ctl_fd;      /* server: read end; client: write end (-1 once closed) */
  uint8_t key[32]; /* the shared secret of both nodes */
} bench_pair;

static bench_pair bench_pair_cur = {0, 0, -1, -1, {0}};

/* Forks the server process and calls bench_start in both: call first in
 * main, before any thread exists.  Returns 1 in the server process, 0 in
 * the client.  The server runs with the workload name "<workload>_server"
 * (for its messages on stderr). */
static inline int bench_pair_start(const char *workload, const char *server_name, int argc,
                                   char **argv) {
  int port_p[2], ctl_p[2];
  size_t got = 0;
  pid_t parent = getpid(), pid;
  static char wname[64], sname[64];
  const char *tls = getenv("ACTO_BENCH_TLS");

  /* Encryption on: the same program, reported as "<workload>_tls". */
  if (tls != NULL && strcmp(tls, "1") == 0) {
    bench_pair_cur.tls = 1;
    snprintf(wname, sizeof wname, "%s_tls", workload);
    snprintf(sname, sizeof sname, "%s_tls", server_name);
    workload = wname;
    server_name = sname;
  }

  bench_cur.workload = workload;
  while (got < sizeof bench_pair_cur.key) {
    ssize_t k = getrandom(bench_pair_cur.key + got, sizeof bench_pair_cur.key - got, 0);

    if (k < 0 && errno != EINTR)
      bench_fail("getrandom: %s", strerror(errno));
    if (k > 0)
      got += (size_t)k;
  }
  if (pipe2(port_p, O_CLOEXEC) != 0 || pipe2(ctl_p, O_CLOEXEC) != 0)
    bench_fail("pipe2: %s", strerror(errno));
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    bench_fail("fork: %s", strerror(errno));
  if (pid == 0) {
    /* The server: die with the client, and report only on stderr. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
      _exit(2);
    if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
      _exit(2);
    close(port_p[0]);
    close(ctl_p[1]);
    bench_pair_cur.server = 1;
    bench_pair_cur.port_fd = port_p[1];
    bench_pair_cur.ctl_fd = ctl_p[0];
    /* The server's watchdog fires 10 s after the client's, so that a
     * timeout is reported by the client, which kills the server. */
    char *sargv[4] = {argv[0], argc > 1 ? argv[1] : "1.0", argc > 2 ? argv[2] : "2", NULL};
    char tmo[24];
    long t = argc > 3 ? strtol(argv[3], NULL, 10) : BENCH_DEFAULT_TIMEOUT_S;
    snprintf(tmo, sizeof tmo, "%ld", t > 0 && t <= 86400 - 10 ? t + 10 : t);
    sargv[3] = tmo;
    bench_start(server_name, 4, sargv);
    return 1;
  }
  atomic_store_explicit(&bench_child_pid, (int)pid, memory_order_relaxed);
  close(port_p[1]);
  close(ctl_p[0]);
  bench_pair_cur.port_fd = port_p[0];
  bench_pair_cur.ctl_fd = ctl_p[1];
  bench_start(workload, argc, argv);
  return 0;
}

/* Starts this process's node (before the first spawn): the server listens
 * on 127.0.0.1, port 0; the client only connects out. */
static inline void bench_pair_node(acto_system *sys) {
  acto_node_config nc;

  memset(&nc, 0, sizeof nc);
  nc.name = bench_pair_cur.server ? BENCH_SERVER_NODE : BENCH_CLIENT_NODE;
  nc.key = bench_pair_cur.key;
  nc.key_len = sizeof bench_pair_cur.key;
  nc.listen_host = "127.0.0.1";
  nc.listen_port = 0;
  nc.no_listen = !bench_pair_cur.server;
  nc.encryption = bench_pair_cur.tls ? ACTO_NODE_ENCRYPT_TLS_PSK : ACTO_NODE_ENCRYPT_NONE;
  BENCH_CHECK(acto_node_start(sys, &nc));
}

/* Server: reports the real port to the client, then blocks until the
 * client closes the control pipe (done, or dead).  Main thread only. */
static inline void bench_pair_serve(acto_system *sys) {
  uint16_t port = 0;
  char c;

  BENCH_CHECK(acto_node_port(sys, &port));
  BENCH_EXPECT(write(bench_pair_cur.port_fd, &port, sizeof port) == (ssize_t)sizeof port,
               "cannot report the port to the client: %s", strerror(errno));
  close(bench_pair_cur.port_fd);
  for (;;) {
    ssize_t k = read(bench_pair_cur.ctl_fd, &c, 1);

    if (k == 0 || (k < 0 && errno != EINTR))
      break;
  }
  close(bench_pair_cur.ctl_fd);
}

/* Client, node events: the server going down during the run fails it at
 * once rather than at the watchdog.  Runs on the I/O thread. */
static inline void bench_pair_on_event(void *user, acto_node_event ev, const char *node_name,
                                       uint64_t node_id, const char *reason) {
  (void)user;
  (void)node_id;
  if (ev == ACTO_NODE_DOWN)
    bench_fail("node %s went down: %s", node_name, reason);
}

/* Client: waits for the server's port, connects to its node and looks up
 * the actor registered there as `name`.  Main thread only. */
static inline acto_ref bench_pair_connect(acto_system *sys, const char *name) {
  struct pollfd pfd = {bench_pair_cur.port_fd, POLLIN, 0};
  uint16_t port = 0;
  acto_ref ref = ACTO_REF_NONE;
  ssize_t k;
  int r;

  while ((r = poll(&pfd, 1, BENCH_PAIR_WAIT_MS)) < 0 && errno == EINTR) {
  }
  BENCH_EXPECT(r == 1, "the server did not report its port within %d ms", BENCH_PAIR_WAIT_MS);
  while ((k = read(bench_pair_cur.port_fd, &port, sizeof port)) < 0 && errno == EINTR) {
  }
  BENCH_EXPECT(k == (ssize_t)sizeof port && port != 0,
               "the server exited before it reported its port");
  close(bench_pair_cur.port_fd);
  BENCH_CHECK(acto_node_connect(sys, BENCH_SERVER_NODE, "127.0.0.1", port, BENCH_PAIR_WAIT_MS));
  BENCH_CHECK(acto_node_set_event_hook(sys, bench_pair_on_event, NULL));
  BENCH_CHECK(acto_node_lookup(sys, BENCH_SERVER_NODE, name, BENCH_PAIR_WAIT_MS, &ref));
  BENCH_EXPECT(ref.node != 0, "lookup of %s returned a local ref", name);
  return ref;
}

/* Client, at the end: stops watching for node-down (call before shutting
 * the client's system down). */
static inline void bench_pair_unwatch(acto_system *sys) {
  BENCH_CHECK(acto_node_set_event_hook(sys, NULL, NULL));
}

/* Client, at the end: closes the control pipe, waits (bounded) for the
 * server to exit and reaps it; a server that exits non-zero, or not in
 * time, fails the run.  Main thread only. */
static inline void bench_pair_finish(void) {
  int pid = atomic_load_explicit(&bench_child_pid, memory_order_relaxed);
  double deadline = bench_now() + BENCH_PAIR_WAIT_MS / 1000.0;
  int status = 0, exited = 0;
  siginfo_t si;

  close(bench_pair_cur.ctl_fd);
  bench_pair_cur.ctl_fd = -1;
  if (pid <= 0)
    return;
  /* Watch for the exit without reaping (WNOWAIT), so that the pid stays
   * ours until the exchange below decides who reaps it. */
  while (bench_now() < deadline) {
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
      exited = 1;
      break;
    }
    usleep(1000);
  }
  if (!exited)
    bench_fail("the server did not exit within %d ms of the end", BENCH_PAIR_WAIT_MS);
  if (atomic_exchange_explicit(&bench_child_pid, 0, memory_order_relaxed) != pid)
    return; /* bench_fail on another thread is reaping it */
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  BENCH_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "the server process ended with %s %d (see its messages on stderr)",
               WIFEXITED(status) ? "status" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Latency percentiles: bench/hist.h. */

#endif /* BENCH_COMMON_H */
