/* test_supervision_model.c - the supervision-policy modeller
 * (samples/supervision): its parser, its runs on real acto supervisors in
 * deterministic mode, its reports and its command line.
 *
 * The sample's parser, simulation and reports are compiled into this test
 * (model.c, sim.c and report.c are included below; main.c is not), so the
 * tests can check exact numbers in the result structures.  The command
 * line is tested by running the `supervision` program that the build puts
 * next to this test binary, as a child process: exit codes, messages,
 * byte-identical output, files written.
 *
 * What is specified: the same seed gives the same report, byte for byte,
 * and a different seed different faults; explicit fault schedules give
 * exactly the failures, restarts, escalations and unavailable time that
 * OTP semantics (and acto's restart backoff) predict, for each strategy;
 * an exceeded intensity escalates and kills the root; a day of simulated
 * time takes well under a second; bad models fail with "file:line:" and
 * exit status 2, never a crash; the DOT output is well-formed with one
 * node per child; the worker and the watcher ignore messages that are not
 * theirs (a fault, an exit or a second root from a stranger).
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "../samples/supervision/model.c"
#include "../samples/supervision/report.c"
#include "../samples/supervision/sim.c"

/* ---- helpers --------------------------------------------------------------------- */

/* The repository root, from this file's path (CMake compiles it by its
 * absolute path). */
static const char *src_root(void) {
  static char root[1024];
  if (!root[0]) {
    snprintf(root, sizeof root, "%s", __FILE__);
    char *t = strstr(root, "tests/test_supervision_model.c");
    if (t)
      *t = '\0';
    else
      snprintf(root, sizeof root, "./");
  }
  return root;
}

static void model_path(const char *name, char *buf, size_t n) {
  snprintf(buf, n, "%ssamples/supervision/models/%s", src_root(), name);
}

/* Parses text; fails the test with the parser's message on error. */
static void parse_ok(const char *text, model *m) {
  char err[MODEL_ERR_MAX] = "";
  int rc = model_parse(text, strlen(text), "test.txt", m, err, sizeof err);
  ck_assert_msg(rc == 0, "parse failed: %s", err);
}

/* Runs policy p of the model with its own seed and duration. */
static void run_ok(const model *m, int p, sim_result *r) {
  char err[MODEL_ERR_MAX] = "";
  int rc = sim_run(m, p, m->seed, m->duration_ms, NULL, r, err, sizeof err);
  ck_assert_msg(rc == 0, "sim_run failed: %s", err);
}

static const sim_node_result *node(const model *m, const sim_result *r, const char *id) {
  int i = model_find_node(m, id);
  ck_assert_msg(i >= 0, "no node %s", id);
  return &r->nodes[i];
}

#define ck_assert_counts(m, r, id, f, rs, e)                                                  \
  do {                                                                                        \
    const sim_node_result *x_ = node((m), (r), (id));                                          \
    ck_assert_msg(x_->failures == (f) && x_->restarts == (rs) && x_->escalations == (e),      \
                  "%s: failures/restarts/escalations %u/%u/%u, expected %u/%u/%u", (id),      \
                  x_->failures, x_->restarts, x_->escalations, (unsigned)(f), (unsigned)(rs), \
                  (unsigned)(e));                                                             \
  } while (0)

#define ck_assert_unavailable(m, r, id, ms)                                             \
  do {                                                                                  \
    const sim_node_result *x_ = node((m), (r), (id));                                    \
    ck_assert_msg(x_->unavailable_ms == (int64_t)(ms), "%s: unavailable %lld ms, expected %lld", \
                  (id), (long long)x_->unavailable_ms, (long long)(ms));                \
  } while (0)

/* The `supervision` program next to this test binary. */
static const char *program(void) {
  static char path[4096];
  if (!path[0]) {
    char self[4000];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_msg(n > 0, "readlink /proc/self/exe failed");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    ck_assert(slash != NULL);
    *slash = '\0';
    snprintf(path, sizeof path, "%s/supervision", self);
  }
  ck_assert_msg(access(path, X_OK) == 0, "%s is missing: build the 'supervision' target", path);
  return path;
}

typedef struct prog_out {
  int status;   /* exit status, or 128 + signal */
  char *out, *err;
  size_t nout, nerr;
} prog_out;

static char *slurp(int fd, size_t *n) {
  size_t cap = 4096, len = 0;
  char *b = malloc(cap + 1);
  ck_assert(b != NULL);
  lseek(fd, 0, SEEK_SET);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      b = realloc(b, cap + 1);
      ck_assert(b != NULL);
    }
    ssize_t k = read(fd, b + len, cap - len);
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  b[len] = '\0';
  *n = len;
  return b;
}

/* Runs the program with argv (NULL-terminated, without argv[0]); env_path,
 * if not NULL, replaces PATH. */
static prog_out run_prog(const char *const *args, const char *env_path) {
  const char *prog = program();
  char fo[] = "/tmp/test_supervision_out_XXXXXX", fe[] = "/tmp/test_supervision_err_XXXXXX";
  int o = mkstemp(fo), e = mkstemp(fe);
  ck_assert(o >= 0 && e >= 0);
  unlink(fo);
  unlink(fe);
  char *argv[TU_ARGV_MAX];
  tu_argv(argv, prog, args);
  pid_t pid = tu_fork();
  if (pid == 0) {
    dup2(o, 1);
    dup2(e, 2);
    if (env_path)
      setenv("PATH", env_path, 1);
    execv(prog, (char *const *)argv);
    _exit(126);
  }
  /* Reaped by pid within a deadline: a program that hangs is killed, not
   * left behind. */
  int st = tu_reap(pid, TU_WAIT_MS, "supervision");
  prog_out r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(o, &r.nout);
  r.err = slurp(e, &r.nerr);
  close(o);
  close(e);
  return r;
}

static void prog_free(prog_out *r) {
  free(r->out);
  free(r->err);
}

/* Is prog an executable in a directory of PATH? */
static int on_path_test(const char *prog) {
  const char *p = getenv("PATH");
  char dir[4096];
  while (p && *p) {
    size_t len = strcspn(p, ":");
    snprintf(dir, sizeof dir, "%.*s/%s", (int)len, p, prog);
    if (len > 0 && access(dir, X_OK) == 0)
      return 1;
    p += len + (p[len] == ':');
  }
  return 0;
}

/* Writes text to a fresh temporary file; returns its path (static). */
static const char *temp_model(const char *text, size_t len) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/test_supervision_model_XXXXXX");
  int fd = mkstemp(path);
  ck_assert(fd >= 0);
  ck_assert(write(fd, text, len) == (ssize_t)len);
  close(fd);
  return path;
}

/* ---- determinism -------------------------------------------------------------- */

START_TEST(the_same_seed_gives_a_byte_identical_report) {
  char path[1200];
  model_path("web.txt", path, sizeof path);
  const char *args[] = {path, NULL};
  prog_out a = run_prog(args, NULL), b = run_prog(args, NULL);
  ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
  ck_assert_int_eq(b.status, 0);
  ck_assert_msg(a.nout > 500, "a short report: %s", a.out);
  ck_assert_msg(a.nout == b.nout && memcmp(a.out, b.out, a.nout) == 0,
                "two runs with the same seed differ:\n%s\n----\n%s", a.out, b.out);
  /* The same holds for the results themselves, and for the JSON. */
  const char *jargs[] = {path, "--json", NULL};
  prog_out c = run_prog(jargs, NULL), d = run_prog(jargs, NULL);
  ck_assert_int_eq(c.status, 0);
  ck_assert(c.nout == d.nout && memcmp(c.out, d.out, c.nout) == 0);
  prog_free(&a);
  prog_free(&b);
  prog_free(&c);
  prog_free(&d);
}
END_TEST

START_TEST(the_same_seed_gives_the_same_results_in_process) {
  char path[1200], err[MODEL_ERR_MAX];
  model_path("escalation.txt", path, sizeof path);
  model m;
  ck_assert_msg(model_load(path, &m, err, sizeof err) == 0, "%s", err);
  for (size_t p = 0; p < m.npolicies; p++) {
    sim_result a, b;
    run_ok(&m, (int)p, &a);
    run_ok(&m, (int)p, &b);
    ck_assert_int_eq(a.root_survived, b.root_survived);
    ck_assert_int_eq(a.root_down_ms, b.root_down_ms);
    ck_assert_int_eq(a.messages, b.messages);
    ck_assert(memcmp(a.nodes, b.nodes, m.nnodes * sizeof *a.nodes) == 0);
    sim_result_free(&a);
    sim_result_free(&b);
  }
  model_free(&m);
}
END_TEST

START_TEST(a_different_seed_draws_different_faults) {
  char path[1200];
  model_path("web.txt", path, sizeof path);
  const char *a42[] = {path, "--seed", "42", NULL}, *a43[] = {path, "--seed", "43", NULL};
  prog_out a = run_prog(a42, NULL), b = run_prog(a43, NULL);
  ck_assert_int_eq(a.status, 0);
  ck_assert_int_eq(b.status, 0);
  ck_assert_msg(strstr(a.out, "seed 42") && strstr(b.out, "seed 43"), "the seed is not reported");
  ck_assert_msg(a.nout != b.nout || memcmp(a.out, b.out, a.nout) != 0,
                "seeds 42 and 43 gave the same report");
  prog_free(&a);
  prog_free(&b);
  /* The fault times themselves: a worker with rate=3/h over a day. */
  model m;
  char err[MODEL_ERR_MAX];
  ck_assert(model_load(path, &m, err, sizeof err) == 0);
  const model_node *cache = &m.nodes[model_find_node(&m, "cache")];
  int64_t *t1, *t2, *t3;
  long n1 = sim_fault_times(cache, 42, m.duration_ms, &t1);
  long n2 = sim_fault_times(cache, 43, m.duration_ms, &t2);
  long n3 = sim_fault_times(cache, 42, m.duration_ms, &t3);
  ck_assert(n1 > 30 && n2 > 30); /* about 72 expected */
  ck_assert(n1 == n3 && memcmp(t1, t3, (size_t)n1 * sizeof *t1) == 0);
  ck_assert(n1 != n2 || memcmp(t1, t2, (size_t)n1 * sizeof *t1) != 0);
  for (long i = 1; i < n1; i++)
    ck_assert(t1[i - 1] <= t1[i] && t1[i] < m.duration_ms);
  free(t1);
  free(t2);
  free(t3);
  model_free(&m);
}
END_TEST

START_TEST(every_policy_meets_the_same_faults) {
  char path[1200], err[MODEL_ERR_MAX];
  model_path("web.txt", path, sizeof path);
  model m;
  ck_assert(model_load(path, &m, err, sizeof err) == 0);
  ck_assert_int_eq(m.npolicies, 3);
  for (size_t i = 0; i < m.nnodes; i++) {
    if (m.nodes[i].kind != MODEL_WORKER)
      continue;
    int64_t *t;
    long n = sim_fault_times(&m.nodes[i], m.seed, m.duration_ms, &t);
    free(t);
    for (size_t p = 0; p < m.npolicies; p++) {
      sim_result r;
      run_ok(&m, (int)p, &r);
      /* Every fault either failed the worker or found it down. */
      ck_assert_msg(r.nodes[i].failures + r.nodes[i].absorbed == (uint32_t)n,
                    "%s under %s: %u failures + %u absorbed != %ld faults", m.nodes[i].id,
                    m.policies[p].name, r.nodes[i].failures, r.nodes[i].absorbed, n);
      sim_result_free(&r);
    }
  }
  model_free(&m);
}
END_TEST

/* ---- exact counts from explicit schedules ---------------------------------------------- */

static const char *two_workers =
    "duration 1h\n"
    "supervisor root one_for_one intensity=10 period=1m\n"
    "  worker a permanent schedule=10m,20m,30m startup=2s\n"
    "  worker b permanent startup=1s\n"
    "policy one_for_one\n"
    "policy one_for_all\n"
    "  root one_for_all\n";

START_TEST(one_for_one_restarts_only_the_failed_child) {
  model m;
  parse_ok(two_workers, &m);
  sim_result r;
  run_ok(&m, model_find_policy(&m, "one_for_one"), &r);
  ck_assert(r.root_survived);
  ck_assert_counts(&m, &r, "a", 3, 3, 0);
  ck_assert_counts(&m, &r, "b", 0, 0, 0);
  ck_assert_counts(&m, &r, "root", 0, 0, 0);
  /* a: 2 s to start, then 2 s after each of 3 restarts; b: its first start. */
  ck_assert_unavailable(&m, &r, "a", 8000);
  ck_assert_unavailable(&m, &r, "b", 1000);
  /* root: some worker down - both at the start (2 s), then a alone. */
  ck_assert_unavailable(&m, &r, "root", 8000);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

START_TEST(one_for_all_restarts_every_sibling) {
  model m;
  parse_ok(two_workers, &m);
  sim_result r;
  run_ok(&m, model_find_policy(&m, "one_for_all"), &r);
  ck_assert(r.root_survived);
  ck_assert_counts(&m, &r, "a", 3, 3, 0);
  ck_assert_counts(&m, &r, "b", 0, 3, 0);
  ck_assert_unavailable(&m, &r, "a", 8000);
  ck_assert_unavailable(&m, &r, "b", 4000);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

START_TEST(rest_for_one_restarts_the_child_and_those_after_it) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root rest_for_one intensity=10 period=1m\n"
           "  worker first\n"
           "  worker middle schedule=5m,15m\n"
           "  worker last startup=3s\n",
           &m);
  sim_result r;
  run_ok(&m, 0, &r);
  ck_assert_str_eq(m.policies[0].name, "base");
  ck_assert_counts(&m, &r, "first", 0, 0, 0);
  ck_assert_counts(&m, &r, "middle", 2, 2, 0);
  ck_assert_counts(&m, &r, "last", 0, 2, 0);
  ck_assert_unavailable(&m, &r, "first", 0);
  ck_assert_unavailable(&m, &r, "last", 9000);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

START_TEST(an_exceeded_intensity_escalates_and_the_root_does_not_survive) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root one_for_one intensity=2 period=1m\n"
           "  worker a schedule=10m,10m10s,10m20s\n"
           "  worker b\n",
           &m);
  sim_result r;
  run_ok(&m, 0, &r);
  ck_assert(!r.root_survived);
  ck_assert_int_eq(r.root_reason, ACTO_EMAXRESTARTS);
  ck_assert_int_eq(r.root_down_ms, 620000);
  /* Two restarts allowed; the third failure is the one that escalates. */
  ck_assert_counts(&m, &r, "a", 3, 2, 1);
  ck_assert_counts(&m, &r, "b", 0, 0, 0);
  ck_assert_counts(&m, &r, "root", 1, 0, 1);
  /* Down from the give-up to the end of the hour. */
  ck_assert_unavailable(&m, &r, "a", 3600000 - 620000);
  ck_assert_unavailable(&m, &r, "b", 3600000 - 620000);
  sim_result_free(&r);
  model_free(&m);

  /* The report says so. */
  const char *text = "duration 1h\n"
                     "supervisor root one_for_one intensity=2 period=1m\n"
                     "  worker a schedule=10m,10m10s,10m20s\n";
  const char *args[] = {temp_model(text, strlen(text)), NULL};
  prog_out o = run_prog(args, NULL);
  unlink(args[0]);
  ck_assert_int_eq(o.status, 0);
  ck_assert_msg(strstr(o.out, "root survived: no, gave up at 10m20s"), "%s", o.out);
  prog_free(&o);
}
END_TEST

START_TEST(a_nested_supervisor_that_gives_up_fails_to_its_parent) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root one_for_one intensity=5 period=1h\n"
           "  supervisor sub one_for_one intensity=1 period=1m\n"
           "    worker w schedule=5m,5m1s\n"
           "    worker v\n"
           "  worker x\n",
           &m);
  sim_result r;
  run_ok(&m, 0, &r);
  ck_assert(r.root_survived);
  /* w: restarted in place once, then started afresh by the restarted sub. */
  ck_assert_counts(&m, &r, "w", 2, 2, 1);
  ck_assert_counts(&m, &r, "v", 0, 1, 0);
  ck_assert_counts(&m, &r, "sub", 1, 1, 0);
  ck_assert_counts(&m, &r, "x", 0, 0, 0);
  ck_assert_counts(&m, &r, "root", 0, 0, 0);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

/* A group restart restarts a nested supervisor in place; its old children
 * may still be stopping when its new ones start (the order depends on the
 * seed).  Whatever the order, the books follow the latest incarnation. */
START_TEST(a_group_restart_of_a_nested_supervisor_keeps_the_books_right_for_any_seed) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root one_for_all intensity=10 period=1m\n"
           "  supervisor sub one_for_one intensity=10 period=1m\n"
           "    worker leaf\n"
           "    worker slow startup=2s\n"
           "  worker flaky schedule=10m,30m\n",
           &m);
  for (uint64_t seed = 1; seed <= 40; seed++) {
    sim_result r;
    char err[MODEL_ERR_MAX];
    ck_assert_msg(sim_run(&m, 0, seed, m.duration_ms, NULL, &r, err, sizeof err) == 0, "%s", err);
    ck_assert(r.root_survived);
    ck_assert_counts(&m, &r, "flaky", 2, 2, 0);
    ck_assert_counts(&m, &r, "sub", 0, 2, 0);
    ck_assert_counts(&m, &r, "leaf", 0, 2, 0);
    ck_assert_counts(&m, &r, "slow", 0, 2, 0);
    ck_assert_unavailable(&m, &r, "leaf", 0);
    ck_assert_unavailable(&m, &r, "slow", 6000);
    ck_assert_unavailable(&m, &r, "root", 6000);
    sim_result_free(&r);
  }
  model_free(&m);
}
END_TEST

START_TEST(backoff_delays_each_restart_within_the_period) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root one_for_one intensity=10 period=1m backoff=1s..4s\n"
           "  worker a schedule=10m,10m30s,10m40s\n"
           "policy each\n"
           "policy group\n"
           "  root one_for_all\n",
           &m);
  for (int p = 0; p < 2; p++) {
    sim_result r;
    run_ok(&m, p, &r);
    ck_assert_counts(&m, &r, "a", 3, 3, 0);
    /* 1 s, 2 s, then 4 s: the n-th restart within the period. */
    ck_assert_unavailable(&m, &r, "a", 7000);
    sim_result_free(&r);
  }
  model_free(&m);
}
END_TEST

START_TEST(faults_that_arrive_while_a_child_is_down_are_absorbed) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root one_for_one intensity=10 period=1m backoff=10s\n"
           "  worker a schedule=10m,10m5s,10m20s\n",
           &m);
  sim_result r;
  run_ok(&m, 0, &r);
  const sim_node_result *a = node(&m, &r, "a");
  ck_assert_uint_eq(a->failures, 2);
  ck_assert_uint_eq(a->absorbed, 1);
  ck_assert_uint_eq(a->restarts, 2);
  ck_assert_unavailable(&m, &r, "a", 20000);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

START_TEST(restart_types_exits_and_auto_shutdown_follow_otp) {
  model m;
  parse_ok("duration 1h\n"
           "supervisor root one_for_one intensity=10 period=1m\n"
           "  worker perm permanent exits=20m\n"
           "  worker trans transient exits=25m schedule=5m\n"
           "  worker temp temporary schedule=10m\n"
           "policy stop_on_any\n"
           "  root auto_shutdown=any\n"
           "  trans significant\n"
           "policy keep_going\n",
           &m);
  sim_result r;
  run_ok(&m, model_find_policy(&m, "keep_going"), &r);
  ck_assert(r.root_survived);
  ck_assert_uint_eq(node(&m, &r, "perm")->exits, 1);
  ck_assert_counts(&m, &r, "perm", 0, 1, 0);  /* a normal exit: restarted */
  ck_assert_counts(&m, &r, "trans", 1, 1, 0); /* a failure: restarted */
  ck_assert_uint_eq(node(&m, &r, "trans")->exits, 1); /* ... a normal exit: not */
  ck_assert_unavailable(&m, &r, "trans", 35 * 60000);
  ck_assert_counts(&m, &r, "temp", 1, 0, 0);  /* never restarted */
  ck_assert_unavailable(&m, &r, "temp", 50 * 60000);
  sim_result_free(&r);

  run_ok(&m, model_find_policy(&m, "stop_on_any"), &r);
  ck_assert(!r.root_survived);
  ck_assert_int_eq(r.root_reason, ACTO_REASON_SHUTDOWN);
  ck_assert_int_eq(r.root_down_ms, 25 * 60000);
  ck_assert_unavailable(&m, &r, "perm", 35 * 60000);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

START_TEST(a_burst_is_a_fault_every_interval) {
  model m;
  parse_ok("supervisor root\n  worker w burst=1h+10s/1s,2h+3s/2s schedule=5m\n", &m);
  const model_node *w = &m.nodes[1];
  /* 5m; 1h, 1h+1s, ..., 1h+9s; 2h, 2h+2s. */
  ck_assert_uint_eq(w->nschedule, 13);
  ck_assert_int_eq(w->schedule[0], 300000);
  ck_assert_int_eq(w->schedule[1], 3600000);
  ck_assert_int_eq(w->schedule[10], 3600000 + 9000);
  ck_assert_int_eq(w->schedule[11], 7200000);
  ck_assert_int_eq(w->schedule[12], 7202000);
  model_free(&m);
  /* ... and the same instant twice is two faults back to back. */
  parse_ok("duration 1h\nsupervisor root intensity=5\n  worker w schedule=10m,10m\n", &m);
  sim_result r;
  run_ok(&m, 0, &r);
  ck_assert_counts(&m, &r, "w", 2, 2, 0);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

/* ---- speed ------------------------------------------------------------------------- */

/* CPU time of the calling thread, in ms.  The simulation is one thread of
 * deterministic work: its CPU time does not depend on how many other
 * processes share the machine, while its wall time does (a CPU hog on a
 * 2-core machine easily doubles it).  The targets below bound the work;
 * bench/ is where wall-clock speed is measured. */
static int64_t thread_cpu_ms(void) {
  struct timespec ts;
  ck_assert_int_eq(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(a_day_of_simulated_time_takes_well_under_a_second) {
  char path[1200], err[MODEL_ERR_MAX];
  model_path("web.txt", path, sizeof path);
  model m;
  ck_assert(model_load(path, &m, err, sizeof err) == 0);
  ck_assert_int_eq(m.duration_ms, 24LL * 3600 * 1000);
  int64_t t0 = thread_cpu_ms();
  for (size_t p = 0; p < m.npolicies; p++) {
    sim_result r;
    run_ok(&m, (int)p, &r);
    ck_assert(r.messages > 100);
    sim_result_free(&r);
  }
  int64_t plain = thread_cpu_ms() - t0;
  ck_assert_msg(plain < 1000 * tu_multiplier() * (TU_SANITIZED ? 5 : 1),
                "three simulated days took %lld ms of CPU", (long long)plain);
  /* A busy week: a fault a minute for seven days (about 10,000 failures). */
  model_free(&m);
  parse_ok("duration 7d\nsupervisor root one_for_all intensity=100 period=1m\n"
           "  worker busy rate=1/m startup=100ms\n  worker calm startup=1s\n",
           &m);
  t0 = thread_cpu_ms();
  sim_result r;
  run_ok(&m, 0, &r);
  int64_t week = thread_cpu_ms() - t0;
  ck_assert(r.root_survived);
  ck_assert_msg(node(&m, &r, "busy")->failures > 9000, "%u failures",
                node(&m, &r, "busy")->failures);
  ck_assert_msg(week < 3000 * tu_multiplier() * (TU_SANITIZED ? 5 : 1),
                "a busy simulated week took %lld ms of CPU", (long long)week);
  if (getenv("SM_VERBOSE"))
    fprintf(stderr, "CPU: three simulated days %lld ms, a busy week %lld ms\n", (long long)plain,
            (long long)week);
  sim_result_free(&r);
  model_free(&m);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------------- */

typedef struct bad_case {
  const char *text;
  int line;
  const char *says;
} bad_case;

static const bad_case bad_cases[] = {
    {"", 1, "no supervision tree"},
    {"# only a comment\n", 1, "no supervision tree"},
    {"worker a\n", 1, "indented under a supervisor"},
    {"supervisor root\n  worker a\n supervisor b\n", 3, "inconsistent indentation"},
    {"supervisor root\n  worker a\n    worker b\n", 3, "only a supervisor has children"},
    {"supervisor root\n\tworker a\n", 2, "tab in the indentation"},
    {"supervisor root\n  worker a\n  worker a\n", 3, "duplicate id 'a' (first on line 2)"},
    {"supervisor root\nsupervisor other\n", 2, "second top-level supervisor"},
    {"supervisor root one_for_some\n", 1, "unknown word 'one_for_some'"},
    {"supervisor root simple_one_for_one\n", 1, "not supported"},
    {"supervisor root intensity=0\n", 1, "intensity=0"},
    {"supervisor root intensity=-3\n", 1, "intensity=-3"},
    {"supervisor root period=5 \n", 1, "period=5: not a duration"},
    {"supervisor root backoff=5s..1s\n", 1, "minimum is larger"},
    {"supervisor root jitter=150%\n", 1, "jitter=150%"},
    {"supervisor root permanent\n", 1, "has no parent"},
    {"supervisor root\n  worker a rate=fast\n", 2, "rate=fast"},
    {"supervisor root\n  worker a rate=1/0s\n", 2, "must be positive"},
    {"supervisor root\n  worker a schedule=10m,,20m\n", 2, "empty"},
    {"supervisor root\n  worker a schedule=ten\n", 2, "'ten' is not a time"},
    {"supervisor root\n  worker a burst=1h/1s\n", 2, "AT+LENGTH/EVERY"},
    {"supervisor root\n  worker a one_for_all\n", 2, "is a worker"},
    {"supervisor root\n  worker a colour=red\n", 2, "unknown setting 'colour'"},
    {"supervisor root\n  worker a rate=1000/s\n", 2, "faults in the simulated time"},
    {"supervisor root\n  worker !bad\n", 2, "not a valid id"},
    {"supervisor root\n  worker\n", 2, "needs an id"},
    {"duration forever\nsupervisor root\n", 1, "duration forever"},
    {"seed -1\nsupervisor root\n", 1, "seed -1"},
    {"supervisor root\npolicy p\n  nobody one_for_all\n", 3, "no node named 'nobody'"},
    {"supervisor root\n  worker a\npolicy p\n  a rate=1/h\n", 4, "fault model"},
    {"supervisor root\npolicy p\npolicy p\n", 3, "duplicate policy 'p'"},
    {"policy p\nsupervisor root\n", 1, "after the tree"},
    {"supervisor root\n  worker a\nfrobnicate\n", 3, "unknown directive 'frobnicate'"},
    {"title x\n  worker a\n", 2, "outside the tree"},
    {"supervisor root\n  worker a\x01\n", 2, "control character"},
    /* What acto_supervisor_start refuses, said with the line. */
    {"supervisor root\n  worker a transient significant\n", 2,
     "'a' is significant but its supervisor 'root' has auto_shutdown=never"},
    {"supervisor root auto_shutdown=any\n  worker a significant\n", 2,
     "'a' is significant and permanent"},
    {"supervisor root\n  worker a transient\npolicy p\n  a significant\n", 3,
     "policy p: 'a' is significant but its supervisor"},
};

START_TEST(malformed_models_give_line_numbered_errors) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    model m;
    char err[MODEL_ERR_MAX] = "";
    int rc = model_parse(c->text, strlen(c->text), "bad.txt", &m, err, sizeof err);
    ck_assert_msg(rc == -1, "case %zu parsed: %s", i, c->text);
    char want[32];
    snprintf(want, sizeof want, "bad.txt:%d: ", c->line);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %zu: '%s' does not start with '%s'",
                  i, err, want);
    ck_assert_msg(strstr(err, c->says) != NULL, "case %zu: '%s' does not say '%s'", i, err,
                  c->says);
    ck_assert(m.nodes == NULL && m.policies == NULL);
  }
  /* A NUL byte and an overlong line. */
  model m;
  char err[MODEL_ERR_MAX];
  const char nul[] = "supervisor root\n  worker a\0\n";
  ck_assert_int_eq(model_parse(nul, sizeof nul - 1, "bad.txt", &m, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "bad.txt:2: a NUL byte"), "%s", err);
  char *longl = malloc(MODEL_LINE_MAX + 100);
  ck_assert(longl != NULL);
  memset(longl, 'x', MODEL_LINE_MAX + 99);
  memcpy(longl, "supervisor root\n# ", 18);
  ck_assert_int_eq(model_parse(longl, MODEL_LINE_MAX + 99, "bad.txt", &m, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "bad.txt:2: the line is longer"), "%s", err);
  free(longl);
}
END_TEST

START_TEST(the_program_rejects_bad_models_with_status_2_and_the_line) {
  const char *text = "supervisor root one_for_one\n  worker a rate=1/h\n  worker b rate=sometimes\n";
  const char *args[] = {temp_model(text, strlen(text)), NULL};
  prog_out o = run_prog(args, NULL);
  ck_assert_msg(o.status == 2, "exit status %d", o.status);
  char want[128];
  snprintf(want, sizeof want, "%s:3: rate=sometimes", args[0]);
  ck_assert_msg(strstr(o.err, want) != NULL, "stderr: %s", o.err);
  ck_assert_int_eq(o.nout, 0);
  unlink(args[0]);
  prog_free(&o);

  const char *missing[] = {"/nonexistent/model.txt", NULL};
  o = run_prog(missing, NULL);
  ck_assert_int_eq(o.status, 2);
  ck_assert(strstr(o.err, "No such file") != NULL);
  prog_free(&o);

  char path[1200];
  model_path("web.txt", path, sizeof path);
  const char *nopolicy[] = {path, "--policy", "nope", NULL};
  o = run_prog(nopolicy, NULL);
  ck_assert_int_eq(o.status, 2);
  ck_assert_msg(strstr(o.err, "no policy 'nope'") && strstr(o.err, "one_for_all"), "%s", o.err);
  prog_free(&o);

  const char *badopt[] = {path, "--frobnicate", NULL};
  o = run_prog(badopt, NULL);
  ck_assert_int_eq(o.status, 2);
  prog_free(&o);

  const char *badseed[] = {path, "--seed", "x1", NULL};
  o = run_prog(badseed, NULL);
  ck_assert_int_eq(o.status, 2);
  prog_free(&o);

  const char *noargs[] = {NULL};
  o = run_prog(noargs, NULL);
  ck_assert_int_eq(o.status, 2);
  ck_assert(strstr(o.err, "usage") != NULL);
  prog_free(&o);
}
END_TEST

/* Mutations of a valid model: every one parses or fails with a line
 * number, and one that parses runs; none crashes (the test's process
 * would die). */
START_TEST(mangled_models_never_crash_the_parser) {
  char path[1200], err[MODEL_ERR_MAX];
  model_path("escalation.txt", path, sizeof path);
  FILE *f = fopen(path, "rb");
  ck_assert(f != NULL);
  char base[8192];
  size_t n = fread(base, 1, sizeof base, f);
  fclose(f);
  ck_assert(n > 100 && n < sizeof base);
  static const char junk[] = " \t\n#=.,+/%-0123456789hmsdxyz\x7f\x80\xff";
  uint64_t x = 12345;
  char buf[8192];
  int errors = 0, oks = 0, sims = 0;
  for (int iter = 0; iter < TU_N(3000, 600, 300); iter++) {
    memcpy(buf, base, n);
    size_t len = n;
    int edits = 1 + (int)(splitmix64(&x) % 4);
    for (int e = 0; e < edits && len > 1; e++) {
      size_t at = (size_t)(splitmix64(&x) % len);
      switch (splitmix64(&x) % 3) {
      case 0: /* replace */
        buf[at] = junk[splitmix64(&x) % (sizeof junk - 1)];
        break;
      case 1: /* delete */
        memmove(buf + at, buf + at + 1, len - at - 1);
        len--;
        break;
      default: /* truncate */
        len = at + 1;
      }
    }
    model m;
    err[0] = '\0';
    if (model_parse(buf, len, "m.txt", &m, err, sizeof err) == 0) {
      oks++;
      /* A model that parses runs (briefly), whatever it became. */
      double faults = 0;
      for (size_t i = 0; i < m.nnodes; i++)
        faults += model_expected_faults(&m.nodes[i], 4 * 3600 * 1000);
      if (faults < 5000 && iter % 4 == 0) {
        sim_result r;
        int rc = sim_run(&m, (int)(iter % m.npolicies), m.seed, 4 * 3600 * 1000, NULL, &r, err,
                         sizeof err);
        ck_assert_msg(rc == 0, "a parsed model failed to run: %s", err);
        sims++;
        sim_result_free(&r);
      }
      model_free(&m);
    } else {
      errors++;
      ck_assert_msg(strncmp(err, "m.txt:", 6) == 0 && err[6] >= '1' && err[6] <= '9',
                    "no line number: %s", err);
    }
  }
  ck_assert(errors > 0 && oks > 0 && sims > 0);
}
END_TEST

/* ---- DOT ---------------------------------------------------------------------------- */

/* Checks a DOT text: balanced braces and quotes, one node statement per
 * model node, one edge per child. */
static void check_dot(const model *m, const char *dot) {
  int depth = 0, quoted = 0;
  for (const char *c = dot; *c; c++) {
    if (*c == '\\' && quoted && c[1]) {
      c++;
      continue;
    }
    if (*c == '"')
      quoted = !quoted;
    else if (!quoted && *c == '{')
      depth++;
    else if (!quoted && *c == '}')
      ck_assert_msg(--depth >= 0, "unbalanced braces:\n%s", dot);
  }
  ck_assert_msg(depth == 0 && !quoted, "unbalanced braces or quotes:\n%s", dot);
  ck_assert(strncmp(dot, "digraph supervision {\n", 22) == 0);
  size_t nodes = 0, edges = 0;
  for (size_t i = 0; i < m->nnodes; i++) {
    char decl[96];
    snprintf(decl, sizeof decl, "\n  \"%s\" [", m->nodes[i].id);
    const char *at = strstr(dot, decl);
    ck_assert_msg(at != NULL, "no node statement for %s", m->nodes[i].id);
    ck_assert_msg(strstr(at + 1, decl) == NULL, "two node statements for %s", m->nodes[i].id);
    nodes++;
  }
  for (const char *c = dot; (c = strstr(c, "\" -> \"")) != NULL; c += 4)
    edges++; /* "parent" -> "child" (a title may contain " -> ") */
  ck_assert_uint_eq(nodes, m->nnodes);
  ck_assert_uint_eq(edges, m->nnodes - 1);
  size_t stmts = 0; /* lines  "id" [...];  that are not edges */
  for (const char *c = dot; (c = strstr(c, "\n  \"")) != NULL; c += 4) {
    const char *eol = strchr(c + 1, '\n'), *arrow = strstr(c, " -> ");
    if (!arrow || (eol && arrow > eol))
      stmts++;
  }
  ck_assert_uint_eq(stmts, m->nnodes);
}

START_TEST(the_dot_output_is_well_formed_with_one_node_per_child) {
  const char *models[] = {"web.txt", "pipeline.txt", "escalation.txt"};
  for (size_t k = 0; k < 3; k++) {
    char path[1200], err[MODEL_ERR_MAX];
    model_path(models[k], path, sizeof path);
    model m;
    ck_assert(model_load(path, &m, err, sizeof err) == 0);
    sim_result r;
    run_ok(&m, 0, &r);
    for (int with = 0; with < 2; with++) {
      char *text = NULL;
      size_t len = 0;
      FILE *f = open_memstream(&text, &len);
      ck_assert(f != NULL);
      report_dot(f, &m, 0, with ? &r : NULL);
      fclose(f);
      check_dot(&m, text);
      free(text);
    }
    sim_result_free(&r);
    model_free(&m);
  }
}
END_TEST

START_TEST(the_program_writes_dot_and_skips_svg_without_graphviz) {
  char path[1200], dot[64] = "/tmp/test_supervision_dot_XXXXXX", svg[80];
  model_path("escalation.txt", path, sizeof path);
  int fd = mkstemp(dot);
  ck_assert(fd >= 0);
  close(fd);
  snprintf(svg, sizeof svg, "%s.svg", dot);
  unlink(svg);
  /* An empty directory as PATH: no dot anywhere. */
  char empty[] = "/tmp/test_supervision_path_XXXXXX";
  ck_assert(mkdtemp(empty) != NULL);
  const char *args[] = {path, "--policy", "backoff", "--dot", dot, "--svg", svg, NULL};
  prog_out o = run_prog(args, empty);
  ck_assert_msg(o.status == 0, "status %d: %s", o.status, o.err);
  ck_assert_msg(strstr(o.err, "not on PATH") != NULL, "stderr: %s", o.err);
  ck_assert(access(svg, F_OK) != 0);
  rmdir(empty);
  FILE *f = fopen(dot, "r");
  ck_assert(f != NULL);
  char text[16384];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  unlink(dot);
  model m;
  char err[MODEL_ERR_MAX];
  ck_assert(model_load(path, &m, err, sizeof err) == 0);
  check_dot(&m, text);
  ck_assert_msg(strstr(text, "policy backoff") && strstr(text, "backoff 2s..1m"), "%s", text);
  model_free(&m);
  prog_free(&o);
}
END_TEST

START_TEST(the_program_renders_svg_when_graphviz_is_installed) {
  if (!on_path_test("dot")) {
    fprintf(stderr, "note: dot is not on PATH; the SVG rendering is not tested\n");
    return;
  }
  char path[1200], svg[64] = "/tmp/test_supervision_svg_XXXXXX";
  model_path("pipeline.txt", path, sizeof path);
  int fd = mkstemp(svg);
  ck_assert(fd >= 0);
  close(fd);
  const char *args[] = {path, "--svg", svg, NULL};
  prog_out o = run_prog(args, NULL);
  ck_assert_msg(o.status == 0, "status %d: %s", o.status, o.err);
  FILE *f = fopen(svg, "r");
  ck_assert(f != NULL);
  char text[4096];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  unlink(svg);
  ck_assert_msg(strstr(text, "<svg") != NULL, "not an SVG: %.200s", text);
  prog_free(&o);
}
END_TEST

START_TEST(the_json_report_names_every_node_of_every_policy) {
  char path[1200];
  model_path("pipeline.txt", path, sizeof path);
  const char *args[] = {path, "--json", NULL};
  prog_out o = run_prog(args, NULL);
  ck_assert_int_eq(o.status, 0);
  int depth = 0;
  for (const char *c = o.out; *c; c++) {
    depth += (*c == '{' || *c == '[') - (*c == '}' || *c == ']');
    ck_assert(depth >= 0);
  }
  ck_assert_int_eq(depth, 0);
  size_t ids = 0;
  for (const char *c = o.out; (c = strstr(c, "\"id\": ")) != NULL; c++)
    ids++;
  ck_assert_uint_eq(ids, 3 * 5); /* three policies, five nodes */
  ck_assert(strstr(o.out, "\"root_survived\": true") != NULL);
  prog_free(&o);
}
END_TEST

START_TEST(durations_parse_and_print_back) {
  static const struct { const char *s; int64_t ms; const char *back; } cases[] = {
      {"0", 0, "0ms"},          {"250ms", 250, "250ms"},   {"1.5s", 1500, "1.5s"},
      {"2.345s", 2345, "2.345s"}, {"90s", 90000, "1m30s"}, {"1h30m", 5400000, "1h30m"},
      {"1.5h", 5400000, "1h30m"}, {"2d", 172800000, "2d"}, {"10m20s", 620000, "10m20s"},
      {"3min", 180000, "3m"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t ms = -1;
    ck_assert_msg(model_parse_duration(cases[i].s, &ms) == 0, "%s", cases[i].s);
    ck_assert_int_eq(ms, cases[i].ms);
    char buf[32];
    model_format_duration(ms, buf, sizeof buf);
    ck_assert_str_eq(buf, cases[i].back);
  }
  static const char *bad[] = {"", "5", "h", "1x", "1.h5", "-1s", "1 s", "1mm", "1e3s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t ms;
    ck_assert_msg(model_parse_duration(bad[i], &ms) != 0, "'%s' parsed", bad[i]);
  }
}
END_TEST

/* ---- messages that do not fit ---------------------------------------------------------- */

/* The books of a run of `two_workers` without its tree: the tests spawn the
 * sample's worker and watcher directly, in a deterministic system. */
typedef struct hand_run {
  model m;
  sim_state r;
} hand_run;

static void hand_run_open(hand_run *h) {
  parse_ok(two_workers, &h->m);
  memset(&h->r, 0, sizeof h->r);
  h->r.m = &h->m;
  h->r.conf = h->m.base;
  h->r.live = calloc(h->m.nnodes, sizeof *h->r.live);
  ck_assert_ptr_nonnull(h->r.live);
  for (size_t i = 0; i < h->m.nnodes; i++) {
    sim_live *lv = &h->r.live[i];
    lv->run = &h->r;
    lv->idx = (int)i;
    if (h->m.nodes[i].kind != MODEL_WORKER)
      continue;
    long k = sim_fault_times(&h->m.nodes[i], h->m.seed, h->m.duration_ms, &lv->faults);
    ck_assert_int_ge(k, 0);
    lv->nfaults = (size_t)k;
    lv->down = 1;
    for (int p = h->m.nodes[i].parent; p >= 0; p = h->m.nodes[p].parent)
      h->r.live[p].down_below++;
  }
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.deterministic = 1;
  cfg.seed = 1;
  h->r.sys = tu_system_cfg(&cfg);
  h->r.t0 = acto_now_ms(h->r.sys);
}

static void hand_run_close(hand_run *h) {
  tu_shutdown(h->r.sys);
  for (size_t i = 0; i < h->m.nnodes; i++)
    free(h->r.live[i].faults);
  free(h->r.live);
  model_free(&h->m);
}

static int stray_idle_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  return 0;
}
static const acto_behaviour stray_idle = {.name = "idle", .handle = stray_idle_handle};

START_TEST(the_worker_and_the_watcher_refuse_to_start_without_their_argument) {
  hand_run h;
  hand_run_open(&h);
  acto_ref r;
  ck_assert_rc(acto_spawn(h.r.sys, &worker_behaviour, NULL, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(h.r.sys, &watcher_behaviour, NULL, NULL, &r), ACTO_EINIT);
  hand_run_close(&h);
}
END_TEST

START_TEST(a_worker_takes_its_timers_messages_only_from_itself) {
  hand_run h;
  hand_run_open(&h);
  acto_system *sys = h.r.sys;
  sim_live *lv = &h.r.live[model_find_node(&h.m, "a")]; /* startup=2s, faults at 10m, 20m, 30m */
  acto_ref w;
  ck_assert_ok(acto_spawn(sys, &worker_behaviour, lv, NULL, &w));
  uint32_t inc = lv->incarnation;
  ck_assert_uint_eq(inc, 1);
  /* From a stranger, with the right incarnation: a READY would make it
   * available before its startup time is over... */
  ck_assert_ok(acto_send(sys, w, MSG_READY, &inc, sizeof inc));
  ck_assert_int_ge(acto_system_run(sys, 1000), 0);
  ck_assert_int_eq(lv->down, 1);
  /* ...a FAULT or an EXIT would stop it at a time the model never set. */
  ck_assert_ok(acto_send(sys, w, MSG_FAULT, &inc, sizeof inc));
  ck_assert_ok(acto_send(sys, w, MSG_EXIT, &inc, sizeof inc));
  ck_assert_ok(acto_send(sys, w, MSG_FAULT, NULL, 0));
  ck_assert_ok(acto_send(sys, w, MSG_WATCH, &inc, sizeof inc));
  ck_assert_int_ge(acto_system_run(sys, 5 * 60 * 1000), 0);
  ck_assert_int_eq(acto_alive(sys, w), 1);
  ck_assert_uint_eq(lv->delivered, 0);
  ck_assert_int_eq(lv->down, 0); /* its own READY came at 2 s */
  /* Its own timer's FAULT, at 10 min, does fail it (nothing restarts it here). */
  ck_assert_int_ge(acto_system_run(sys, -1), 0);
  ck_assert_int_eq(acto_alive(sys, w), 0);
  ck_assert_uint_eq(lv->delivered, 1);
  ck_assert_int_eq(h.r.error, 0);
  hand_run_close(&h);
}
END_TEST

START_TEST(the_watcher_watches_one_root_and_counts_only_its_down) {
  hand_run h;
  hand_run_open(&h);
  acto_system *sys = h.r.sys;
  acto_ref w, root, other;
  ck_assert_ok(acto_spawn(sys, &watcher_behaviour, &h.r, NULL, &w));
  ck_assert_ok(acto_spawn(sys, &stray_idle, NULL, NULL, &root));
  ck_assert_ok(acto_spawn(sys, &stray_idle, NULL, NULL, &other));
  ck_assert_ok(acto_send(sys, w, MSG_WATCH, &root, sizeof root));
  ck_assert_ok(acto_send(sys, w, MSG_WATCH, &other, sizeof other)); /* a second root: ignored */
  ck_assert_ok(acto_send(sys, w, MSG_WATCH, "x", 1));
  ck_assert_ok(acto_send(sys, w, MSG_FAULT, NULL, 0));
  ck_assert_int_ge(acto_system_run(sys, -1), 0);
  ck_assert_ok(acto_stop(sys, other));
  ck_assert_int_ge(acto_system_run(sys, -1), 0);
  ck_assert_int_eq(h.r.root_down, 0);
  ck_assert_ok(acto_kill(sys, root));
  ck_assert_int_ge(acto_system_run(sys, -1), 0);
  ck_assert_int_eq(h.r.root_down, 1);
  ck_assert_int_eq(h.r.root_reason, ACTO_REASON_KILLED);
  ck_assert_int_eq(h.r.error, 0);
  hand_run_close(&h);
}
END_TEST

int main(void) {
  Suite *s = suite_create("supervision_model");
  TCase *tc = tu_tcase("determinism", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, the_same_seed_gives_a_byte_identical_report,
               the_same_seed_gives_the_same_results_in_process,
               a_different_seed_draws_different_faults, every_policy_meets_the_same_faults);
  suite_add_tcase(s, tc);
  tc = tu_tcase("semantics", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, one_for_one_restarts_only_the_failed_child, one_for_all_restarts_every_sibling,
               rest_for_one_restarts_the_child_and_those_after_it,
               an_exceeded_intensity_escalates_and_the_root_does_not_survive,
               a_nested_supervisor_that_gives_up_fails_to_its_parent,
               a_group_restart_of_a_nested_supervisor_keeps_the_books_right_for_any_seed,
               backoff_delays_each_restart_within_the_period,
               faults_that_arrive_while_a_child_is_down_are_absorbed,
               restart_types_exits_and_auto_shutdown_follow_otp, a_burst_is_a_fault_every_interval);
  suite_add_tcase(s, tc);
  tc = tu_tcase("speed", TU_TCASE_TIMEOUT);
  tcase_add_test(tc, a_day_of_simulated_time_takes_well_under_a_second);
  suite_add_tcase(s, tc);
  tc = tu_tcase("input", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, malformed_models_give_line_numbered_errors,
               the_program_rejects_bad_models_with_status_2_and_the_line,
               mangled_models_never_crash_the_parser, durations_parse_and_print_back,
               the_worker_and_the_watcher_refuse_to_start_without_their_argument,
               a_worker_takes_its_timers_messages_only_from_itself,
               the_watcher_watches_one_root_and_counts_only_its_down);
  suite_add_tcase(s, tc);
  tc = tu_tcase("output", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, the_dot_output_is_well_formed_with_one_node_per_child,
               the_program_writes_dot_and_skips_svg_without_graphviz,
               the_program_renders_svg_when_graphviz_is_installed,
               the_json_report_names_every_node_of_every_policy);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
