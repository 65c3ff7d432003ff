/* test_cluster.c - the cluster sample (samples/cluster): three node
 * processes on loopback that join one cluster through n1, a pool of
 * workers that a supervisor on n1 places on them (remote children), a
 * coordinator that journals its acknowledgements, a client sending
 * numbered items.  Killing a node with SIGKILL (or freezing it with
 * SIGSTOP) makes the supervisor restart its workers on the survivors; a
 * node started again rejoins and gets workers again; a coordinator that
 * fails right after journaling an acknowledgement answers the retry from
 * its journal; no acknowledged item is lost or dispatched again; the
 * launcher leaves no node process behind, however it ends.
 *
 * Each test runs the `cluster` program that the same build made, found
 * next to this test's own executable (or at $ACTO_CLUSTER), as a child
 * process with its output in a temporary file and a deadline, and reads
 * the timeline and the verdict line it prints:
 *
 *   node n3 down detected at +0.7 ms (...)
 *   workers restarted on the survivors at +20.1 ms (2 workers placed by the supervisor: ...)
 *   work resumed at +20.9 ms (...)
 *   n3 rejoined at +824.2 ms (member event JOINED on n1)
 *   acked=2000/2000 lost=0 duplicates=0 redispatched=8 late_results=2 retries=0 wrong=0
 *   double_acks=0
 *
 * Only what the code guarantees is asserted, never a duration beyond
 * scheduling slack: the machine is loaded.
 *
 * The actors are also tested in-process, in a deterministic system (the
 * sample's worker.c, coordinator.c, client.c and placement.c are compiled
 * into this test): messages that do not fit their protocol - a payload
 * that is not the msgpack of its type (raw structs of old, truncated, the
 * 5 bytes that make msgpack-c reserve 6.4 GB), a request sent without
 * ask, an internal message from a stranger - start nothing, corrupt no
 * report and fail nobody; and a coordinator started again on the same
 * journal answers an item from it.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* The sample's actors; node.c (which defines the report) is the program's. */
#include "../samples/cluster/client.c"
#include "../samples/cluster/coordinator.c"
#include "../samples/cluster/placement.c"
#include "../samples/cluster/worker.c"

cluster_report cluster_rep = {.mu = PTHREAD_MUTEX_INITIALIZER};

static char g_prog[PATH_MAX + 16]; /* the cluster program */
static char g_out[64];             /* its output, one file per test process */

static void find_prog(void) { tu_find_program(g_prog, sizeof g_prog, "ACTO_CLUSTER", "cluster"); }

/* ---- running the program ----------------------------------------------------------- */

/* Starts `cluster args...` with stdout and stderr to a fresh g_out. */
static pid_t prog_start(const char *const *args) {
  ck_assert_msg(access(g_prog, X_OK) == 0, "%s is missing: build the cluster target (make cluster)",
                g_prog);
  snprintf(g_out, sizeof g_out, "/tmp/acto_cluster_test.XXXXXX");
  int fd = mkstemp(g_out);
  ck_assert_int_ge(fd, 0);
  char *argv[TU_ARGV_MAX];
  tu_argv(argv, g_prog, args);
  pid_t pid = tu_fork();
  if (pid == 0) {
    if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(126);
    execv(g_prog, argv);
    _exit(127);
  }
  close(fd);
  return pid;
}

static const char *read_out(void) { return tu_read_text(g_out); }

/* Reaps pid within timeout_ms; past it, kills it (its nodes die with it:
 * PR_SET_PDEATHSIG) and fails the test with its output. */
static int prog_reap(pid_t pid, long timeout_ms) {
  return tu_reap_output(pid, timeout_ms, "cluster", read_out);
}

/* Runs the program to its end; asserts its exit status and that no
 * sanitizer reported anything; returns its output. */
static const char *prog_run(const char *const *args, int want_exit) {
  pid_t pid = prog_start(args);
  int st = prog_reap(pid, 60000 * tu_multiplier());
  const char *text = read_out();
  unlink(g_out);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == want_exit,
                "cluster exited with status %#x (want exit %d); output:\n%s", st, want_exit, text);
  ck_assert_msg(!strstr(text, "Sanitizer") && !strstr(text, "runtime error"),
                "a sanitizer reported:\n%s", text);
  return text;
}

/* ---- reading the output -------------------------------------------------------------- */

typedef struct verdict {
  unsigned long long acked, items, lost, duplicates, redispatched, late, retries, wrong,
      double_acks;
} verdict;

static verdict parse_verdict(const char *text) {
  verdict v;
  const char *p = strstr(text, "acked=");
  ck_assert_msg(p, "no verdict line in:\n%s", text);
  ck_assert_msg(sscanf(p,
                       "acked=%llu/%llu lost=%llu duplicates=%llu redispatched=%llu "
                       "late_results=%llu retries=%llu wrong=%llu double_acks=%llu",
                       &v.acked, &v.items, &v.lost, &v.duplicates, &v.redispatched, &v.late,
                       &v.retries, &v.wrong, &v.double_acks) == 9,
                "a malformed verdict line in:\n%s", text);
  return v;
}

/* The offset in ms of a timeline line "<prefix>+X ms". */
static double timeline_ms(const char *text, const char *prefix) {
  const char *p = strstr(text, prefix);
  ck_assert_msg(p, "no \"%s\" line in:\n%s", prefix, text);
  double ms;
  ck_assert_msg(sscanf(p + strlen(prefix), "%lf ms", &ms) == 1, "a malformed \"%s\" line in:\n%s",
                prefix, text);
  return ms;
}

/* The whole line that starts with `prefix` (static copy). */
static const char *line_of(const char *text, const char *prefix) {
  static char line[1024];
  const char *p = strstr(text, prefix);
  ck_assert_msg(p, "no \"%s\" line in:\n%s", prefix, text);
  size_t n = strcspn(p, "\n");
  if (n >= sizeof line)
    n = sizeof line - 1;
  memcpy(line, p, n);
  line[n] = '\0';
  return line;
}

/* The node pids of the "nodes up and connected" line. */
static int node_pids(const char *text, pid_t *pids, int cap) {
  const char *p = strstr(text, "nodes up and connected:");
  const char *eol = p ? strchr(p, '\n') : NULL;
  int n = 0;
  while (eol && n < cap && (p = strstr(p, "(pid ")) && p < eol) {
    pids[n++] = (pid_t)strtol(p + 5, NULL, 10);
    p += 5;
  }
  return n;
}

/* The launcher's temporary journal directory is gone after it ended. */
static void assert_journal_removed(const char *text) {
  const char *p = strstr(text, "the coordinator's journal: ");
  ck_assert_msg(p, "no journal line in:\n%s", text);
  char dir[512];
  ck_assert_int_eq(sscanf(p + strlen("the coordinator's journal: "), "%511s", dir), 1);
  ck_assert_msg(access(dir, F_OK) < 0 && errno == ENOENT, "%s outlived the launcher:\n%s", dir,
                text);
  char *slash = strrchr(dir, '/');
  ck_assert_ptr_nonnull(slash);
  *slash = '\0';
  ck_assert_msg(access(dir, F_OK) < 0 && errno == ENOENT, "%s outlived the launcher:\n%s", dir,
                text);
}

static void assert_gone(const pid_t *pids, int n, const char *text) {
  for (int i = 0; i < n; i++)
    ck_assert_msg(kill(pids[i], 0) < 0 && errno == ESRCH,
                  "node process %d outlived the launcher; output:\n%s", (int)pids[i], text);
}

static void assert_no_item_lost(const verdict *v, unsigned long long items, const char *text) {
  ck_assert_msg(v->items == items && v->acked == items && v->lost == 0,
                "items lost: %llu/%llu acknowledged, lost=%llu; output:\n%s", v->acked, v->items,
                v->lost, text);
  ck_assert_msg(v->wrong == 0 && v->double_acks == 0, "wrong=%llu double_acks=%llu; output:\n%s",
                v->wrong, v->double_acks, text);
  ck_assert_msg(v->duplicates == 0, "acknowledged items dispatched again: %llu; output:\n%s",
                v->duplicates, text);
}

/* A count "(<prefix>N" or "<prefix>N" after the line starting with `line`. */
static unsigned long long count_after(const char *text, const char *line, const char *prefix) {
  const char *l = line_of(text, line);
  const char *p = strstr(l, prefix);
  ck_assert_msg(p, "no \"%s\" in the line \"%s\":\n%s", prefix, l, text);
  return strtoull(p + strlen(prefix), NULL, 10);
}

/* The pool at the end: the count on node `name` (0 when not listed). */
static unsigned pool_at_end(const char *text, const char *name) {
  const char *l = line_of(text, "pool: ");
  const char *p = strstr(l, "at the start; ");
  ck_assert_msg(p, "a malformed pool line:\n%s", text);
  p += strlen("at the start; ");
  char pat[32];
  snprintf(pat, sizeof pat, " on %s", name);
  const char *end = strstr(p, "at the end");
  const char *at = strstr(p, pat);
  if (!at || !end || at > end)
    return 0;
  while (at > p && at[-1] >= '0' && at[-1] <= '9')
    at--; /* "<count> on <name>" */
  return (unsigned)strtoul(at, NULL, 10);
}

/* The nodes' heartbeat timeout where a node is killed with SIGKILL: its
 * death is found through its closed connections, not by this timeout, so
 * it is the library's default (4 s) scaled like every deadline, and a live
 * node kept off the CPU on a loaded machine is not mistaken for a dead
 * one (which would move its workers and change the placement checked). */
static const char *live_hb_timeout(void) {
  static char buf[32];
  snprintf(buf, sizeof buf, "%ld", 4000L * tu_multiplier());
  return buf;
}

/* ---- the tests ------------------------------------------------------------------------- */

START_TEST(a_node_killed_with_sigkill_has_its_workers_restarted_elsewhere_and_loses_no_item) {
  const char *args[] = {"--kill",
                        "n3",
                        "--after-ms",
                        "1500",
                        "--items",
                        "2000",
                        "--heartbeat-timeout-ms",
                        live_hb_timeout(),
                        "--quiet",
                        NULL};
  const char *text = prog_run(args, 0);
  verdict v = parse_verdict(text);
  assert_no_item_lost(&v, 2000, text);
  ck_assert_msg(strstr(text, "verdict: OK"), "%s", text);

  /* The timeline: a killed process's connections are closed by the
   * kernel, so the death is found through them (never by the heartbeat
   * timeout) and no timer is on the path: the bound is scheduling slack.
   * Then the restart by the supervisor and the resumption, both after the
   * kill: a remote spawn each, bounded the same way (the original
   * targets, within 1 s and 5 s, hold on an idle machine). */
  double down = timeline_ms(text, "node n3 down detected at ");
  double restarted = timeline_ms(text, "workers restarted on the survivors at ");
  double resumed = timeline_ms(text, "work resumed at ");
  const char *found = line_of(text, "node n3 down detected at ");
  ck_assert_msg(!strstr(found, "heartbeat timeout"), "found by the heartbeat timeout:\n%s", text);
  ck_assert_msg(down >= 0 && down < TU_SLACK_MS, "down detected at %+.1f ms:\n%s", down, text);
  /* The supervisor's restart and the coordinator's DOWN come from the
   * same loss through different actors: neither is ordered before the
   * other. */
  ck_assert_msg(restarted >= 0 && restarted < 5 * TU_SLACK_MS, "restarted at %+.1f ms:\n%s",
                restarted, text);
  ck_assert_msg(resumed >= 0 && resumed < 5 * TU_SLACK_MS, "resumed at %+.1f ms:\n%s", resumed,
                text);
  /* n3's two workers now run on the survivors: the placement takes the
   * up node with the fewest, n1 then n2 (2 each, ties to the first). */
  ck_assert_msg(strstr(text, "(2 workers placed by the supervisor: 1 on n1, 1 on n2)"), "%s", text);
  ck_assert_msg(strstr(text, "3 on n1, 3 on n2 at the end"), "%s", text);

  pid_t pids[8];
  ck_assert_int_eq(node_pids(text, pids, 8), 3);
  assert_gone(pids, 3, text);
  assert_journal_removed(text);
}
END_TEST

/* The frozen node's test: heartbeats every 100 ms, silence declared after
 * FROZEN_HBT_MS (checked every min(timeout / 8, heartbeat / 2) ms). */
#define FROZEN_HBT_MS 1000
#define FROZEN_TICK_MS 50

START_TEST(a_frozen_node_is_found_by_the_heartbeat_timeout_and_loses_no_item) {
  char hbt[16];
  snprintf(hbt, sizeof hbt, "%d", FROZEN_HBT_MS);
  const char *args[] = {"--kill",
                        "n2",
                        "--signal",
                        "STOP",
                        "--after-ms",
                        "1000",
                        "--items",
                        "2000",
                        "--heartbeat-ms",
                        "100",
                        "--heartbeat-timeout-ms",
                        hbt,
                        "--quiet",
                        NULL};
  const char *text = prog_run(args, 0);
  verdict v = parse_verdict(text);
  assert_no_item_lost(&v, 2000, text);
  /* Silent, not closed: found by the heartbeat timeout.  The node
   * guarantees the DOWN no earlier than a whole timeout after the last
   * frame it read from n2; n2, busy with items, sends at least every
   * heartbeat while it runs, so that frame left it less than half a
   * timeout before the kill unless n2 itself was kept off the CPU that
   * long.  At the latest: the timeout, one check, one more timeout if n1's
   * own check came late (it then blames the silence on itself), and
   * scheduling slack. */
  double down = timeline_ms(text, "node n2 down detected at ");
  const char *found = line_of(text, "node n2 down detected at ");
  ck_assert_msg(strstr(found, "heartbeat timeout"), "not found by the heartbeat timeout:\n%s",
                text);
  ck_assert_msg(down >= FROZEN_HBT_MS / 2 &&
                    down < 2 * FROZEN_HBT_MS + FROZEN_TICK_MS + TU_SLACK_MS,
                "down detected at %+.1f ms:\n%s", down, text);
  (void)timeline_ms(text, "workers restarted on the survivors at ");
  (void)timeline_ms(text, "work resumed at ");
  pid_t pids[8];
  ck_assert_int_eq(node_pids(text, pids, 8), 3);
  assert_gone(pids, 3, text);
}
END_TEST

START_TEST(a_node_killed_and_started_again_rejoins_and_gets_workers_again) {
  /* 6 s of items; n3 is killed 1 s in and started again 0.5 s later, so
   * it rejoins with items still to come (the items are sent at a fixed
   * rate: a slow machine makes the run longer, not shorter). */
  const char *args[] = {"--kill",
                        "n3",
                        "--after-ms",
                        "1000",
                        "--restart-after-ms",
                        "500",
                        "--items",
                        "6000",
                        "--heartbeat-timeout-ms",
                        live_hb_timeout(),
                        "--quiet",
                        NULL};
  const char *text = prog_run(args, 0);
  verdict v = parse_verdict(text);
  assert_no_item_lost(&v, 6000, text);
  /* Lost, restarted on the survivors, then back. */
  double down = timeline_ms(text, "node n3 down detected at ");
  double restarted = timeline_ms(text, "workers restarted on the survivors at ");
  double again = timeline_ms(text, "n3 started again at ");
  double rejoined = timeline_ms(text, "n3 rejoined at ");
  double moved = timeline_ms(text, "n3 got workers again at ");
  double worked = timeline_ms(text, "n3's workers acknowledged items again from ");
  /* Ordered where one event causes the next: the new process exists before
   * it joins; the move follows the join; its workers' acknowledgements
   * count from the join (the move's time is that of its last worker, so
   * the first moved worker may acknowledge before it). */
  ck_assert_msg(down >= 0 && restarted >= 0 && again <= rejoined && rejoined <= moved &&
                    rejoined <= worked,
                "the timeline is out of order:\n%s", text);
  /* Workers moved back to it until it runs its share (6 workers / 3
   * nodes: 2; a worker still being restarted when it rejoined may be
   * placed on it too), its new workers acknowledged items, and the pool
   * at the end (the supervisor's which_children) has all 6, at least 2
   * on n3. */
  ck_assert_uint_ge(count_after(text, "n3 got workers again at ", "("), 1);
  ck_assert_uint_gt(count_after(text, "n3's workers acknowledged items again from ", "ms ("), 0);
  unsigned on1 = pool_at_end(text, "n1"), on2 = pool_at_end(text, "n2"),
           on3 = pool_at_end(text, "n3");
  ck_assert_msg(on3 >= 2 && on1 + on2 + on3 == 6, "the pool at the end: %u, %u, %u:\n%s", on1, on2,
                on3, text);
  ck_assert_msg(strstr(text, "the returned node works again"), "%s", text);
  /* No node process outlives the launcher, the new n3 included. */
  pid_t pids[8];
  ck_assert_int_eq(node_pids(text, pids, 8), 3);
  const char *p = strstr(text, "n3 started again (pid ");
  ck_assert_msg(p, "%s", text);
  pids[3] = (pid_t)strtol(p + strlen("n3 started again (pid "), NULL, 10);
  assert_gone(pids, 4, text);
}
END_TEST

START_TEST(failing_workers_and_a_failing_coordinator_lose_no_item_and_redo_none) {
  /* Workers fail on about one item in 150 (their supervisor restarts
   * them); the coordinator fails once, right after journaling an
   * acknowledgement and before answering it, and is restarted in place;
   * n3 is killed too. */
  const char *args[] = {"--kill",
                        "n3",
                        "--after-ms",
                        "1200",
                        "--items",
                        "2000",
                        "--worker-faults",
                        "150",
                        "--crash-coordinator-ms",
                        "600",
                        "--heartbeat-timeout-ms",
                        live_hb_timeout(),
                        "--quiet",
                        NULL};
  const char *text = prog_run(args, 0);
  verdict v = parse_verdict(text);
  assert_no_item_lost(&v, 2000, text); /* duplicates=0: none dispatched after its ack */
  ck_assert_msg(strstr(text, "coordinator restarted 1 time(s)"), "%s", text);
  ck_assert_msg(strstr(text, "worker failures"), "%s", text);
  (void)timeline_ms(text, "node n3 down detected at ");
  /* The new incarnation read what the first one journaled, and the item
   * the first one journaled without answering was answered from it when
   * the client asked again. */
  ck_assert_uint_gt(count_after(text, "journal: on", "appended, "), 0);
  ck_assert_msg(strstr(text, "its retry was answered from the journal"), "%s", text);
  ck_assert_uint_gt(count_after(text, "acknowledged by workers on:", "; "), 0);
}
END_TEST

START_TEST(without_the_journal_a_failing_coordinator_dispatches_an_acknowledged_item_again) {
  /* The same failure without a journal: the acknowledged set dies with
   * the first incarnation, the client asks again for the item it never
   * got an answer for, and the second incarnation sends it to a worker
   * again - the duplicate the verdict is there to catch. */
  const char *args[] = {"--items",
                        "2000",
                        "--crash-coordinator-ms",
                        "600",
                        "--no-journal",
                        "--heartbeat-timeout-ms",
                        live_hb_timeout(),
                        "--quiet",
                        NULL};
  pid_t pid = prog_start(args);
  int st = prog_reap(pid, 60000 * tu_multiplier());
  const char *text = read_out();
  unlink(g_out);
  ck_assert_msg(WIFEXITED(st), "status %#x:\n%s", st, text);
  verdict v = parse_verdict(text);
  ck_assert_msg(v.acked == 2000 && v.lost == 0 && v.wrong == 0 && v.double_acks == 0, "%s", text);
  /* With no item sent twice before the failure (no client retry of an
   * item in flight: redispatched=0) the failed item's only result was
   * taken by the first incarnation, so the retry must be dispatched
   * again.  Either way the exit status follows the verdict. */
  if (v.redispatched == 0)
    ck_assert_msg(v.duplicates >= 1, "no duplicate without a journal:\n%s", text);
  ck_assert_int_eq(WEXITSTATUS(st), v.duplicates ? 1 : 0);
  ck_assert_msg(strstr(text, v.duplicates ? "verdict: FAILED" : "verdict: OK"), "%s", text);
}
END_TEST

START_TEST(a_launcher_stopped_by_sigterm_leaves_no_node_process) {
  const char *args[] = {"--items", "100000", "--quiet", NULL};
  pid_t pid = prog_start(args);
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  pid_t pids[8];
  int n = 0;
  while ((n = node_pids(read_out(), pids, 8)) < 3 && tu_now_ms() < end)
    tu_sleep_ms(10);
  ck_assert_msg(n == 3, "the nodes did not come up:\n%s", read_out());
  while (!strstr(read_out(), "the coordinator's journal: ") && tu_now_ms() < end)
    tu_sleep_ms(10);
  tu_sleep_ms(300); /* let the work start */
  ck_assert_int_eq(kill(pid, SIGTERM), 0);
  int st = prog_reap(pid, TU_WAIT_MS);
  const char *text = read_out();
  unlink(g_out);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGTERM, "status %#x:\n%s", st, text);
  assert_gone(pids, 3, text);
  /* n1 was killed, and the journal it held open is removed all the same. */
  assert_journal_removed(text);
}
END_TEST

/* ---- the actors, in-process ---------------------------------------------------------- */

static acto_system *det_system(void) { return tu_det_system(8); }

static void run_all(acto_system *sys) { ck_assert_int_ge(acto_system_run(sys, -1), 0); }

static uint64_t spawned(acto_system *sys) { return tu_stats(sys).actors_spawned; }

/* A packed cluster_worker_arg, as the pool's supervisor sends it. */
static acto_spawn_arg worker_arg(uint32_t faults, uint32_t work_ms) {
  static uint8_t bytes[32];
  cluster_worker_arg wa = {faults, work_ms};
  acto_msgpack_buf b;
  ck_assert_ok(acto_msgpack_buf_init(&b));
  ck_assert_ok(cluster_worker_arg_pack(acto_msgpack_buf_packer(&b), &wa));
  ck_assert_uint_le(b.size, sizeof bytes);
  memcpy(bytes, b.data, b.size);
  acto_spawn_arg sa = {bytes, b.size};
  acto_msgpack_buf_free(&b);
  return sa;
}

START_TEST(the_actors_refuse_to_start_without_their_argument) {
  acto_system *sys = det_system();
  acto_ref r;
  ck_assert_rc(acto_spawn(sys, &cluster_worker_behaviour, NULL, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &cluster_coord_behaviour, NULL, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &cluster_client_behaviour, NULL, NULL, &r), ACTO_EINIT);
  /* A worker whose spawn argument is not a packed cluster_worker_arg (the
   * raw struct of old, a truncated array) does not start. */
  uint32_t raw[2] = {0, 5};
  acto_spawn_arg bad = {raw, sizeof raw}, cut = {"\x92\x01", 2}, none = {NULL, 0};
  ck_assert_rc(acto_spawn(sys, &cluster_worker_behaviour, &bad, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &cluster_worker_behaviour, &cut, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &cluster_worker_behaviour, &none, NULL, &r), ACTO_EINIT);
  /* A coordinator whose node name or journal directory is not a string,
   * or that asks for a journal without a directory, does not start. */
  cluster_coord_arg ca = {.items = 10, .nnodes = 1};
  memset(ca.names[0], 'n', sizeof ca.names[0]);
  ck_assert_rc(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &r), ACTO_EINIT);
  snprintf(ca.names[0], sizeof ca.names[0], "n1");
  memset(ca.journal_dir, 'j', sizeof ca.journal_dir);
  ck_assert_rc(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &r), ACTO_EINIT);
  memset(ca.journal_dir, 0, sizeof ca.journal_dir);
  ca.journal = 1;
  ck_assert_rc(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &r), ACTO_EINIT);
  ca.journal = 99;
  ck_assert_rc(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &r), ACTO_EINIT);
  tu_shutdown(sys);
}
END_TEST

/* Stands in for the coordinator: on GO (payload: a cluster_done whose
 * reply_to is a worker's ref) sends it item 7; counts the results. */
enum { PROBE_GO = 100 };
static int g_results;
static cluster_result g_last;
static int probe_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  cluster_done go;
  if (msg->type == PROBE_GO && cluster_done_unpack_msg(msg, &go, NULL) == 0) {
    cluster_item it = {7};
    TU_EXPECT_SENT(cluster_item_send(acto_ctx_system(ctx), go.reply_to, CLUSTER_WORK, &it, NULL));
  } else if (msg->type == CLUSTER_RESULT && cluster_result_unpack_msg(msg, &g_last, NULL) == 0) {
    g_results++;
  }
  return 0;
}
static const acto_behaviour probe = {.name = "probe", .handle = probe_handle};

START_TEST(a_worker_takes_work_that_fits_and_its_own_timer_only) {
  acto_system *sys = det_system();
  acto_spawn_arg sa = worker_arg(0, 5); /* work_ms 5: a timer per item */
  acto_ref w, p;
  ck_assert_ok(acto_spawn(sys, &cluster_worker_behaviour, &sa, NULL, &w));
  ck_assert_ok(acto_spawn(sys, &probe, NULL, NULL, &p));
  /* A CLUSTER_DONE from a stranger would send a result to the probe; a
   * CLUSTER_JOIN from a stranger is ignored too. */
  cluster_done forged = {9, p};
  ck_assert_ok(cluster_done_send(sys, w, CLUSTER_DONE, &forged, NULL));
  ck_assert_ok(acto_send(sys, w, CLUSTER_DONE, NULL, 0));
  ck_assert_ok(acto_send(sys, w, CLUSTER_JOIN, NULL, 0));
  /* Payloads that are not msgpack items: logged and dropped.  The raw
   * struct of old (8 host-order bytes), a str, a truncated array, the 5
   * bytes that would make msgpack-c reserve 6.4 GB, an item whose id is
   * negative. */
  uint64_t raw = 7;
  ck_assert_ok(acto_send(sys, w, CLUSTER_WORK, NULL, 0));
  ck_assert_ok(acto_send(sys, w, CLUSTER_WORK, &raw, sizeof raw));
  ck_assert_ok(acto_send(sys, w, CLUSTER_WORK,
                         "\xa3"
                         "abc",
                         4));
  ck_assert_ok(acto_send(sys, w, CLUSTER_WORK, "\x91", 1));
  ck_assert_ok(acto_send(sys, w, CLUSTER_WORK, "\xdd\x0f\xff\xff\xff", 5));
  ck_assert_ok(acto_send(sys, w, CLUSTER_WORK, "\x91\xff", 2));
  run_all(sys);
  ck_assert_int_eq(g_results, 0);
  cluster_done go = {0, w};
  ck_assert_ok(cluster_done_send(sys, p, PROBE_GO, &go, NULL));
  run_all(sys);
  ck_assert_int_eq(g_results, 1);
  ck_assert_uint_eq(g_last.id, 7);
  ck_assert_uint_eq(g_last.value, cluster_value(7));
  ck_assert_int_eq(acto_alive(sys, w), 1);
  tu_shutdown(sys);
}
END_TEST

/* Asks coordinator k to acknowledge item id; returns the reply's size
 * (0: an empty, malformed-request answer) and the ack in *a. */
static size_t ask_submit(acto_system *sys, acto_ref k, uint64_t id, cluster_ack *a) {
  cluster_item it = {id};
  acto_msgpack_buf b;
  acto_reply_buf rb;
  ck_assert_ok(acto_msgpack_buf_init(&b));
  ck_assert_ok(cluster_item_pack(acto_msgpack_buf_packer(&b), &it));
  ck_assert_ok(acto_msgpack_ask(sys, k, CLUSTER_SUBMIT, &b, 1000, &rb));
  ck_assert_uint_eq(rb.type, CLUSTER_ACK);
  size_t size = rb.size;
  if (size)
    ck_assert_ok(cluster_ack_unpack(rb.data, rb.size, a, NULL));
  acto_reply_release(&rb);
  return size;
}

START_TEST(a_coordinator_ignores_a_strangers_boot_and_a_plain_submit) {
  acto_system *sys = det_system();
  cluster_coord_arg ca = {.items = 10, .nnodes = 1};
  snprintf(ca.names[0], sizeof ca.names[0], "n1");
  acto_ref k;
  ck_assert_ok(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &k));
  run_all(sys);
  uint64_t before = spawned(sys);
  /* From a stranger: BOOT (only the coordinator looks for its workers); a
   * plain SUBMIT would be worked on for nobody; a RESULT that does not
   * fit; an unknown type. */
  cluster_item one = {1};
  ck_assert_ok(acto_send(sys, k, CLUSTER_BOOT, NULL, 0));
  ck_assert_ok(cluster_item_send(sys, k, CLUSTER_SUBMIT, &one, NULL));
  ck_assert_ok(acto_send(sys, k, CLUSTER_RESULT, NULL, 0));
  ck_assert_ok(acto_send(sys, k, CLUSTER_RESULT, "\xdd\x0f\xff\xff\xff", 5));
  ck_assert_ok(acto_send(sys, k, 999, "x", 1));
  run_all(sys);
  ck_assert_uint_eq(spawned(sys), before);
  ck_assert_int_eq(acto_alive(sys, k), 1);
  /* Asked, a SUBMIT that does not fit gets an empty acknowledgement. */
  acto_reply_buf rb;
  uint32_t small = 1; /* a raw host-order integer: not msgpack of an item */
  ck_assert_ok(acto_ask(sys, k, CLUSTER_SUBMIT, &small, sizeof small, 1000, &rb));
  ck_assert_uint_eq(rb.size, 0);
  acto_reply_release(&rb);
  ck_assert_ok(acto_ask(sys, k, CLUSTER_SUBMIT, "\xdd\x0f\xff\xff\xff", 5, 1000, &rb));
  ck_assert_uint_eq(rb.size, 0);
  acto_reply_release(&rb);
  ck_assert_ok(acto_ask(sys, k, CLUSTER_SUBMIT, "\x92\x01\x02", 3, 1000, &rb)); /* 2 fields */
  ck_assert_uint_eq(rb.size, 0);
  acto_reply_release(&rb);
  cluster_ack a;
  ck_assert_uint_eq(ask_submit(sys, k, 0, &a), 0);
  ck_assert_uint_eq(ask_submit(sys, k, 11, &a), 0);
  ck_assert_uint_eq(cluster_rep.from_set, 0);
  ck_assert_uint_eq(cluster_rep.duplicates, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_coordinator_started_again_answers_from_its_journal) {
  acto_system *sys = det_system();
  char top[] = "/tmp/acto_cluster_journal.XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(top));
  cluster_coord_arg ca = {.items = 10, .nnodes = 1, .journal = 1 + ACTO_JOURNAL_SYNC_NONE};
  snprintf(ca.names[0], sizeof ca.names[0], "n1");
  snprintf(ca.journal_dir, sizeof ca.journal_dir, "%s/j", top);
  uint8_t acked[11] = {0};
  cluster_rep.acked = acked;
  acto_ref k;
  ck_assert_ok(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &k));
  /* Item 3's result (there are no workers here: it comes as a worker's
   * would) is journaled and acknowledged; its ask is answered from the
   * set. */
  cluster_result r3 = {3, cluster_value(3)};
  ck_assert_ok(cluster_result_send(sys, k, CLUSTER_RESULT, &r3, NULL));
  run_all(sys);
  ck_assert_uint_eq(cluster_rep.journaled, 1);
  ck_assert_uint_eq(acked[3], 1);
  cluster_ack a;
  ck_assert_uint_gt(ask_submit(sys, k, 3, &a), 0);
  ck_assert_uint_eq(a.id, 3);
  ck_assert_uint_eq(a.value, cluster_value(3));
  ck_assert_uint_eq(cluster_rep.from_set, 1);
  /* A second coordinator cannot open the journal while the first holds
   * it... */
  acto_ref k2;
  ck_assert_rc(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &k2), ACTO_EINIT);
  /* ...and once the first is gone, it replays it: item 3 is answered at
   * once (there is no worker it could have been sent to), and a second
   * result for it is late, not a new acknowledgement. */
  ck_assert_ok(acto_stop(sys, k));
  run_all(sys);
  ck_assert_ok(acto_spawn(sys, &cluster_coord_behaviour, &ca, NULL, &k2));
  run_all(sys);
  ck_assert_uint_eq(cluster_rep.replayed, 1);
  memset(&a, 0, sizeof a);
  ck_assert_uint_gt(ask_submit(sys, k2, 3, &a), 0);
  ck_assert_uint_eq(a.id, 3);
  ck_assert_uint_eq(a.value, cluster_value(3));
  ck_assert_uint_eq(cluster_rep.from_set, 2);
  ck_assert_ok(cluster_result_send(sys, k2, CLUSTER_RESULT, &r3, NULL));
  run_all(sys);
  ck_assert_uint_eq(cluster_rep.late_results, 1);
  ck_assert_uint_eq(cluster_rep.journaled, 1);
  ck_assert_uint_eq(cluster_rep.duplicates, 0);
  tu_shutdown(sys);
  cluster_rep.acked = NULL;
  char p[128];
  snprintf(p, sizeof p, "%s/j/journal.log", top);
  ck_assert_int_eq(unlink(p), 0);
  snprintf(p, sizeof p, "%s/j", top);
  ck_assert_int_eq(rmdir(p), 0);
  ck_assert_int_eq(rmdir(top), 0);
}
END_TEST

START_TEST(the_placement_takes_the_up_node_with_the_fewest_workers) {
  cluster_rep.nnodes = 3;
  for (int i = 0; i < 3; i++)
    snprintf(cluster_rep.names[i], CLUSTER_NAME_MAX, "n%d", i + 1);
  memset(cluster_rep.child_node, -1, sizeof cluster_rep.child_node);
  const char *all[] = {"n1", "n2", "n3"}, *survivors[] = {"n1", "n2"};
  const char *ids[] = {"w1", "w2", "w3", "w4", "w5", "w6"};
  /* First starts: spread in name order, ties to the first. */
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(cluster_place_fewest(NULL, ids[i], all, 3, 0, NULL), i % 3);
  /* n3 is lost: its workers (w3, w6) go to n1 then n2, each counted as
   * a replacement of a worker lost with n3. */
  ck_assert_int_eq(cluster_place_fewest(NULL, "w3", survivors, 2, 0, "n3"), 0);
  ck_assert_int_eq(cluster_place_fewest(NULL, "w6", survivors, 2, 0, "n3"), 1);
  ck_assert_uint_eq(cluster_rep.node[2].replaced, 2);
  ck_assert_uint_eq(cluster_rep.node[2].placed[0], 1);
  ck_assert_uint_eq(cluster_rep.node[2].placed[1], 1);
  /* n3 is back: a worker moved from n1 (restart_child) goes to it, and
   * that is not a replacement. */
  ck_assert_int_eq(cluster_place_fewest(NULL, "w4", all, 3, 0, "n1"), 2);
  ck_assert_uint_eq(cluster_rep.node[2].replaced, 2);
  ck_assert_int_eq(cluster_rep.child_node[3], 2);
  /* Nodes that are not the sample's, or none: nowhere to go. */
  const char *strangers[] = {"x9"};
  ck_assert_int_eq(cluster_place_fewest(NULL, "w1", strangers, 1, 0, NULL), -1);
  ck_assert_int_eq(cluster_place_fewest(NULL, "w1", all, 0, 0, NULL), -1);
  /* A child id that is not the pool's is placed but not tallied. */
  ck_assert_int_ge(cluster_place_fewest(NULL, "spawner", all, 3, 0, NULL), 0);
  ck_assert_int_eq(cluster_place_fewest(NULL, "w99", all, 3, 0, NULL), 2);
  ck_assert_int_eq(cluster_rep.child_node[0], 0);
}
END_TEST

int main(void) {
  find_prog();
  Suite *s = suite_create("cluster");
  TCase *tc = tu_tcase("program", 120);
  tcase_add_test(tc,
                 a_node_killed_with_sigkill_has_its_workers_restarted_elsewhere_and_loses_no_item);
  tu_add_tests(tc, a_frozen_node_is_found_by_the_heartbeat_timeout_and_loses_no_item,
               a_node_killed_and_started_again_rejoins_and_gets_workers_again,
               failing_workers_and_a_failing_coordinator_lose_no_item_and_redo_none,
               without_the_journal_a_failing_coordinator_dispatches_an_acknowledged_item_again,
               a_launcher_stopped_by_sigterm_leaves_no_node_process);
  suite_add_tcase(s, tc);
  tc = tu_tcase("actors", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, the_actors_refuse_to_start_without_their_argument,
               a_worker_takes_work_that_fits_and_its_own_timer_only,
               a_coordinator_ignores_a_strangers_boot_and_a_plain_submit,
               a_coordinator_started_again_answers_from_its_journal,
               the_placement_takes_the_up_node_with_the_fewest_workers);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
