/* test_node_procs.c - nodes as separate processes (tools/acto_node), on
 * 127.0.0.1 with port 0, always reaped by pid (and killed with the test if
 * it dies: PR_SET_PDEATHSIG): remote send and ask, order, monitors when a
 * node is killed (SIGKILL: found through the closed connection, never by
 * the heartbeat timeout) or stopped (SIGSTOP: found by the heartbeat
 * timeout, not before the peer was silent that long), reconnection to a
 * restarted node (a new incarnation), a wrong key; and, through the fault
 * proxy (tools/faultproxy): a partition (blackhole), a reset link, a slow
 * (throttled) link.
 *
 * What is asserted is what the node guarantees, whatever the load: which
 * mechanism found a peer down, lower bounds on detection, and upper bounds
 * derived from the configured heartbeat timeout plus scheduling slack that
 * scales with CK_TIMEOUT_MULTIPLIER (TU_SLACK_MS).  Detection latencies are
 * printed; their targets are bench/'s business.  Tests about anything but
 * failure detection give both sides a heartbeat timeout scaled the same
 * way, so that a loaded machine is not mistaken for a dead peer.
 *
 * The test process is a node itself (an in-process system) and watches
 * the child nodes' actors from an actor of its own.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "nodeproc.h"

static const char *KEYHEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *BADHEX = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
static uint8_t KEY[32];

#define HB_MS 100
#define HB_TIMEOUT_MS 400
/* The node checks heartbeats every min(timeout / 8, heartbeat / 2) ms. */
#define HB_TICK_MS (HB_TIMEOUT_MS / 8 < HB_MS / 2 ? HB_TIMEOUT_MS / 8 : HB_MS / 2)
/* A heartbeat timeout for links that must stay up: the library's default
 * (4 s), scaled like every other deadline, since a process kept off the
 * CPU, or a node busy working through a burst of messages on a starved
 * CPU, does not ping in time. */
#define HB_TIMEOUT_LIVE_MS (4000L * tu_multiplier())
/* A heartbeat timeout that cannot expire while a test waits (TU_WAIT_MS):
 * a DOWN seen under it was found through the connection closing. */
#define HB_TIMEOUT_NEVER_MS (4 * TU_WAIT_MS)

static char g_prog[PATH_MAX];

static void find_prog(void) {
  tu_find_program(g_prog, sizeof g_prog, "ACTO_NODE_PROG", "acto_node");
}

/* Encryption of this test's nodes, this process's and the children's
 * (ACTO_NODE_ENCRYPT_TLS_PSK: acto_node --encryption tls).  Set at the
 * start of a test (each runs in a process of its own). */
static uint32_t g_enc = ACTO_NODE_ENCRYPT_NONE;

typedef struct child {
  pid_t pid;
  uint16_t port;
  uint64_t node;
} child;

/* Starts acto_node NAME with the key, reads its READY line.  On failure
 * (no READY line: the port is taken, say) the child is reaped and, with
 * may_fail, a child with pid 0 is returned; otherwise the test fails. */
static child node_try_start(const char *name, const char *keyhex, uint16_t port, bool may_fail) {
  ck_assert_msg(access(g_prog, X_OK) == 0, "%s is missing: build the acto_node target", g_prog);
  char portbuf[16], hb[16], to[24];
  snprintf(portbuf, sizeof portbuf, "%u", port);
  snprintf(hb, sizeof hb, "%d", HB_MS);
  /* The child's view of this process: it must not drop us while we are
   * merely slow (this process's own timeout is what the tests probe). */
  snprintf(to, sizeof to, "%ld", (long)HB_TIMEOUT_LIVE_MS);
  char *enc = g_enc == ACTO_NODE_ENCRYPT_TLS_PSK ? "tls" : "none";
  char *argv[] = {g_prog, "--name", (char *)name, "--key-hex", (char *)keyhex, "--port", portbuf,
                  "--heartbeat-ms", hb, "--timeout-ms", to, "--log-level", "off", "--encryption",
                  enc, NULL};
  char line[128];
  pid_t pid = np_start(argv, line, sizeof line); /* dies with this process */
  child c = {pid, 0, 0};
  unsigned p = 0;
  unsigned long long id = 0;
  if (sscanf(line, "READY port=%u node=%llx", &p, &id) != 2) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_msg(may_fail, "acto_node %s did not start: '%s'", name, line);
    return (child){0, 0, 0};
  }
  c.port = (uint16_t)p;
  c.node = id;
  return c;
}

static child node_start(const char *name, const char *keyhex, uint16_t port) {
  return node_try_start(name, keyhex, port, false);
}

/* Starts a node on a given port that was in use a moment ago.  Its old
 * owner is gone, but until the kernel lets go of it (or while another
 * process briefly holds it) the bind may fail: retry until the deadline. */
static child node_start_on(const char *name, const char *keyhex, uint16_t port) {
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    child c = node_try_start(name, keyhex, port, tu_now_ms() < end);
    if (c.pid > 0)
      return c;
    tu_sleep_ms(50);
  }
}

static void node_reap(child *c, int sig) {
  if (c->pid <= 0)
    return;
  if (sig)
    kill(c->pid, sig);
  int st;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (waitpid(c->pid, &st, WNOHANG) == 0) {
    if (tu_now_ms() > end) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &st, 0);
      break;
    }
    tu_sleep_ms(5);
  }
  c->pid = 0;
}

/* Every test keeps its children here so the teardown reaps them even
 * when an assertion failed. */
static child kids[4];
static child proxy; /* the fault proxy, when a test starts one */

static void setup(void) {
  tu_setup();
  find_prog();
  for (int i = 0; i < 32; i++) {
    unsigned v;
    sscanf(KEYHEX + 2 * i, "%2x", &v);
    KEY[i] = (uint8_t)v;
  }
  memset(kids, 0, sizeof kids);
  memset(&proxy, 0, sizeof proxy);
}

static void teardown(void) {
  if (proxy.pid > 0)
    node_reap(&proxy, SIGKILL);
  for (int i = 0; i < 4; i++) {
    if (kids[i].pid > 0) {
      kill(kids[i].pid, SIGCONT);
      node_reap(&kids[i], SIGKILL);
    }
  }
  tu_teardown();
}

static acto_system *me_with(int64_t hb_timeout_ms, size_t out_queue) {
  acto_config c = {0};
  c.threads = 2;
  acto_system *s = tu_system_cfg(&c);
  acto_node_config nc = {0};
  nc.name = "tester";
  nc.key = KEY;
  nc.key_len = 32;
  nc.heartbeat_ms = HB_MS;
  nc.heartbeat_timeout_ms = hb_timeout_ms;
  nc.handshake_timeout_ms = 2000 * tu_multiplier(); /* the default, scaled */
  nc.out_queue_bytes = out_queue;
  nc.reconnect_min_ms = 20;
  nc.reconnect_max_ms = 200;
  nc.encryption = g_enc;
  ck_assert_ok(acto_node_start(s, &nc));
  return s;
}

/* This process's node for tests whose links must stay up. */
static acto_system *me(void) { return me_with(HB_TIMEOUT_LIVE_MS, 0); }

/* ---- a watcher actor: monitors what it is told to, timestamps DOWNs ---------- */

enum { W_WATCH = 1 };
static tu_counter downs;
static _Atomic int64_t down_at_ns;
static _Atomic int down_reason;

static int watcher_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  if (m->type == W_WATCH) {
    acto_ref t;
    memcpy(&t, m->data, sizeof t);
    uint64_t id;
    TU_EXPECT_RC(acto_monitor(ctx, t, &id), 0);
    return acto_reply(ctx, W_WATCH, NULL, 0);
  }
  if (m->type == ACTO_MSG_DOWN) {
    const acto_down *d = m->data;
    atomic_store(&down_at_ns, tu_now_ns());
    atomic_store(&down_reason, d->reason);
    tu_counter_add(&downs, 1);
  }
  return 0;
}
static const acto_behaviour WATCHER = {.name = "watcher", .handle = watcher_handle};

static acto_ref watch(acto_system *s, acto_ref w, acto_ref target) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, w, W_WATCH, &target, sizeof target, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  /* The MONITOR signal travels before any later message of this node to
   * the target's node; a round trip makes sure it arrived. */
  ck_assert_ok(acto_ask(s, target, 1, "sync", 4, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  return w;
}

/* ---- the fault proxy (tools/faultproxy) between this node and a child ---------- */

static int proxy_control;

/* Starts faultproxy in front of `target_port`; returns its listen port. */
static uint16_t proxy_start(uint16_t target_port) {
  char px[PATH_MAX], target[64];
  size_t dl = strlen(g_prog) - strlen("acto_node");
  ck_assert_uint_lt(dl + 12, sizeof px);
  memcpy(px, g_prog, dl);
  memcpy(px + dl, "faultproxy", 11);
  snprintf(target, sizeof target, "127.0.0.1:%u", target_port);
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  char *argv[] = {px, "--listen", "127.0.0.1:0", "--target", target, NULL};
  pid_t pid = tu_fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(px, argv);
    _exit(127);
  }
  close(fds[1]);
  proxy.pid = pid;
  char line[256];
  size_t len = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (len < sizeof line - 1 && tu_now_ms() < end) {
    ssize_t k = read(fds[0], line + len, 1);
    if (k <= 0)
      break;
    if (line[len++] == '\n')
      break;
  }
  close(fds[0]);
  line[len] = 0;
  int lp = 0, cp = 0;
  ck_assert_msg(sscanf(line, "faultproxy listen=127.0.0.1:%d control=127.0.0.1:%d", &lp, &cp) ==
                    2,
                "faultproxy: '%s'", line);
  proxy_control = cp;
  return (uint16_t)lp;
}

/* Sends one control command and checks the "ok" answer. */
static void proxy_cmd(const char *cmd) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)proxy_control);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  char buf[256];
  int n = snprintf(buf, sizeof buf, "%s\n", cmd);
  ck_assert_int_eq(write(fd, buf, (size_t)n), n);
  ssize_t k = read(fd, buf, sizeof buf - 1);
  close(fd);
  ck_assert_int_gt(k, 0);
  buf[k] = 0;
  ck_assert_msg(strncmp(buf, "ok", 2) == 0, "faultproxy '%s': %s", cmd, buf);
}

static uint64_t echo_count(acto_system *s, acto_ref echo) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, echo, 99, NULL, 0, TU_WAIT_MS, &rb));
  uint64_t v = 0;
  ck_assert_uint_eq(rb.size, sizeof v);
  memcpy(&v, rb.data, sizeof v);
  acto_reply_release(&rb);
  return v;
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(remote_send_and_ask_keep_order_across_processes) {
  kids[0] = node_start("n1", KEYHEX, 0);
  acto_system *s = me();
  ck_assert_ok(acto_node_connect(s, "n1", "127.0.0.1", kids[0].port, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "n1", "echo", TU_WAIT_MS, &echo));
  ck_assert_uint_eq(echo.node, kids[0].node);
  long n = TU_N(20000, 5000, 2000);
  /* Interleave plain sends with asks: every ask's reply proves that all
   * earlier messages of this thread arrived (one connection, FIFO), and
   * the echo's payload proves the data. */
  for (long i = 0; i < n; i++) {
    uint64_t v = (uint64_t)i;
    ck_assert_ok(acto_send(s, echo, 2, &v, sizeof v));
    if (i % 1000 == 999) {
      acto_reply_buf rb;
      ck_assert_ok(acto_ask(s, echo, 3, &v, sizeof v, TU_WAIT_MS, &rb));
      ck_assert_uint_eq(rb.size, sizeof v);
      ck_assert_mem_eq(rb.data, &v, sizeof v);
      acto_reply_release(&rb);
    }
  }
  acto_ref fail;
  ck_assert_ok(acto_node_lookup(s, "n1", "fail", TU_WAIT_MS, &fail));
  acto_reply_buf rb;
  ck_assert_rc(acto_ask(s, fail, 1, NULL, 0, TU_WAIT_MS, &rb), ACTO_EFAILED);
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
}
END_TEST

static int pred_name_gone(void *arg) {
  acto_system **s = arg;
  acto_ref r;
  return acto_node_lookup(*s, "tool", "fail", TU_WAIT_MS, &r) == ACTO_ENOENT;
}

/* tools/acto_node does what ACTORS.md ("A node to talk to") says: the
 * READY line, echo's answers and its count of plain messages (of any
 * type, 99 included), fail's reason, and the usage exit. */
START_TEST(the_acto_node_tool_behaves_as_documented) {
  kids[0] = node_start("tool", KEYHEX, 0);
  uint32_t h = 2166136261u;
  for (const char *c = "tool"; *c; c++)
    h = (h ^ (uint8_t)*c) * 16777619u;
  ck_assert_uint_eq(kids[0].node >> 32, h);
  ck_assert_uint_ne((uint32_t)kids[0].node, 0);
  acto_system *s = me();
  ck_assert_ok(acto_node_connect(s, "tool", "127.0.0.1", kids[0].port, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "tool", "echo", TU_WAIT_MS, &echo));
  ck_assert_ok(acto_send(s, echo, 5, "a", 1));
  ck_assert_ok(acto_send(s, echo, 99, NULL, 0)); /* a plain 99 is counted too */
  ck_assert_ok(acto_send(s, echo, 7, "b", 1));
  ck_assert_uint_eq(echo_count(s, echo), 3);
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, echo, 5, "hello", 5, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.type, 5);
  ck_assert_uint_eq(rb.size, 5);
  ck_assert_mem_eq(rb.data, "hello", 5);
  acto_reply_release(&rb);
  /* fail: DOWN with reason -77 to a monitor, ACTO_EFAILED to an ask. */
  tu_counter_init(&downs);
  acto_ref w, fail;
  ck_assert_ok(acto_spawn(s, &WATCHER, NULL, NULL, &w));
  ck_assert_ok(acto_node_lookup(s, "tool", "fail", TU_WAIT_MS, &fail));
  ck_assert_ok(acto_ask(s, w, W_WATCH, &fail, sizeof fail, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  ck_assert_rc(acto_ask(s, fail, 1, NULL, 0, TU_WAIT_MS, &rb), ACTO_EFAILED);
  ck_assert_counter_reaches(&downs, 1);
  ck_assert_int_eq(atomic_load(&down_reason), -77);
  ck_assert(tu_wait_until(pred_name_gone, &s, TU_WAIT_MS));
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
  /* A usage error: exit 2. */
  char *argv[] = {g_prog, "--name", NULL};
  pid_t pid = tu_fork();
  if (pid == 0) {
    int nul = open("/dev/null", O_WRONLY);
    dup2(nul, 2);
    execv(g_prog, argv);
    _exit(127);
  }
  int st = tu_reap(pid, TU_WAIT_MS, "acto_node --name");
  ck_assert(WIFEXITED(st));
  ck_assert_int_eq(WEXITSTATUS(st), 2);
}
END_TEST

/* A killed process's sockets are closed by the kernel, and the node sees
 * that at once: no timer is on that path.  This process runs with a
 * heartbeat timeout that cannot expire while it waits for the DOWN, so a
 * DOWN at all proves the closed connection found the death; the node's
 * stats confirm no heartbeat timeout fired.  The delays are printed (the
 * plain build measured p50 0.46 ms, p99 6.4 ms); the hard bound is only
 * scheduling slack, since the design puts no timer between the kill and
 * the DOWN. */
/* rounds times: a node process is killed; the watcher's DOWN comes
 * through the closed connection, within the slack. */
static void sigkill_rounds(int rounds) {
  acto_system *s = me_with(HB_TIMEOUT_NEVER_MS, 0);
  acto_ref w;
  ck_assert_ok(acto_spawn(s, &WATCHER, NULL, NULL, &w));
  int64_t delays[32];
  for (int i = 0; i < rounds; i++) {
    tu_counter_init(&downs);
    kids[0] = node_start("victim", KEYHEX, 0);
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    int rc;
    while ((rc = acto_node_connect(s, "victim", "127.0.0.1", kids[0].port, TU_WAIT_MS)) != 0 &&
           tu_now_ms() < deadline)
      tu_sleep_ms(10);
    ck_assert_ok(rc);
    acto_ref echo;
    ck_assert_ok(acto_node_lookup(s, "victim", "echo", TU_WAIT_MS, &echo));
    watch(s, w, echo);
    int64_t t0 = tu_now_ns();
    kill(kids[0].pid, SIGKILL);
    ck_assert_counter_reaches(&downs, 1);
    delays[i] = (atomic_load(&down_at_ns) - t0) / 1000;
    ck_assert_int_eq(atomic_load(&down_reason), ACTO_REASON_NOCONNECTION);
    ck_assert_int_ge(delays[i], 0);
    ck_assert_int_le(delays[i], TU_SLACK_MS * 1000);
    node_reap(&kids[0], 0);
  }
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_eq(st.heartbeat_timeouts, 0);
  /* nearest-rank p99, for the record */
  for (int i = 0; i < rounds; i++)
    for (int j = i + 1; j < rounds; j++)
      if (delays[j] < delays[i]) {
        int64_t t = delays[i];
        delays[i] = delays[j];
        delays[j] = t;
      }
  int idx = (99 * rounds + 99) / 100 - 1;
  fprintf(stderr, "SIGKILL -> DOWN%s: p50 %lld us, p99 %lld us over %d kills\n",
          g_enc ? " (encrypted)" : "", (long long)delays[rounds / 2], (long long)delays[idx],
          rounds);
  tu_shutdown(s);
}

START_TEST(sigkill_of_a_node_fires_monitors_through_the_closed_connection) {
  sigkill_rounds(TU_N(20, 10, 6));
}
END_TEST

/* With encryption on, a killed peer is an end of stream with no TLS
 * close_notify (PITFALLS, libevent 6): the same DOWN, as quickly. */
START_TEST(sigkill_of_an_encrypted_node_fires_monitors_at_the_unexpected_eof) {
  g_enc = ACTO_NODE_ENCRYPT_TLS_PSK;
  sigkill_rounds(TU_N(10, 5, 3));
}
END_TEST

/* The latest a silent peer is declared down, from the moment it fell
 * silent: the timeout, plus one check interval, plus one more timeout if
 * a check of this node itself came more than half a timeout late (the node
 * then blames the silence on itself and gives the peer a new period),
 * plus the slack for reading what was in flight and delivering the DOWN. */
#define SILENT_DOWN_BOUND_MS (2 * HB_TIMEOUT_MS + HB_TICK_MS + TU_SLACK_MS)

/* A stopped process keeps its sockets open: only the heartbeat timeout
 * finds it.  The node guarantees the DOWN comes no earlier than a whole
 * timeout after the last frame it read from the peer, which was read after
 * `t_before_sync` (watch() ends with a round trip to the child); and no
 * later than SILENT_DOWN_BOUND_MS after the child was stopped. */
START_TEST(sigstop_of_a_node_fires_monitors_by_the_heartbeat_timeout) {
  acto_system *s = me_with(HB_TIMEOUT_MS, 0);
  acto_ref w;
  ck_assert_ok(acto_spawn(s, &WATCHER, NULL, NULL, &w));
  tu_counter_init(&downs);
  kids[0] = node_start("sleeper", KEYHEX, 0);
  ck_assert_ok(acto_node_connect(s, "sleeper", "127.0.0.1", kids[0].port, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "sleeper", "echo", TU_WAIT_MS, &echo));
  int64_t t_before_sync = tu_now_ns();
  watch(s, w, echo);
  int64_t t0 = tu_now_ns();
  kill(kids[0].pid, SIGSTOP);
  ck_assert_counter_reaches(&downs, 1);
  int64_t down_ns = atomic_load(&down_at_ns);
  int64_t delay_ms = (down_ns - t0) / 1000000;
  fprintf(stderr, "SIGSTOP -> DOWN: %lld ms (heartbeat timeout %d ms)\n", (long long)delay_ms,
          HB_TIMEOUT_MS);
  ck_assert_int_eq(atomic_load(&down_reason), ACTO_REASON_NOCONNECTION);
  /* not before a whole timeout of silence (both clocks are CLOCK_MONOTONIC) */
  ck_assert_int_ge(down_ns - t_before_sync, (int64_t)HB_TIMEOUT_MS * 1000000);
  ck_assert_int_le(delay_ms, SILENT_DOWN_BOUND_MS);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_eq(st.heartbeat_timeouts, 1);
  kill(kids[0].pid, SIGCONT);
  tu_shutdown(s);
  node_reap(&kids[0], SIGKILL);
}
END_TEST

START_TEST(a_restarted_node_process_is_reconnected_as_a_new_incarnation) {
  acto_system *s = me();
  kids[0] = node_start("phoenix", KEYHEX, 0);
  uint16_t port = kids[0].port;
  uint64_t first = kids[0].node;
  ck_assert_ok(acto_node_connect(s, "phoenix", "127.0.0.1", port, TU_WAIT_MS));
  acto_ref old;
  ck_assert_ok(acto_node_lookup(s, "phoenix", "echo", TU_WAIT_MS, &old));
  node_reap(&kids[0], SIGKILL);
  kids[0] = node_start_on("phoenix", KEYHEX, port); /* same port: reconnect finds it */
  ck_assert_uint_ne(kids[0].node, first);
  ck_assert_uint_eq(kids[0].node >> 32, first >> 32);
  /* The explicit peer is reconnected with backoff, by itself. */
  uint64_t id = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while ((acto_node_id(s, "phoenix", &id) != 0 || id != kids[0].node) && tu_now_ms() < end)
    tu_sleep_ms(10);
  ck_assert_uint_eq(id, kids[0].node);
  acto_reply_buf rb;
  ck_assert_rc(acto_ask(s, old, 1, "x", 1, TU_WAIT_MS, &rb), ACTO_ESTALE);
  acto_ref fresh;
  ck_assert_ok(acto_node_lookup(s, "phoenix", "echo", TU_WAIT_MS, &fresh));
  ck_assert_uint_eq(fresh.node, kids[0].node);
  ck_assert_ok(acto_ask(s, fresh, 1, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
}
END_TEST

START_TEST(a_node_with_a_wrong_key_is_refused) {
  kids[0] = node_start("stranger", BADHEX, 0);
  acto_system *s = me();
  ck_assert_rc(acto_node_connect(s, "stranger", "127.0.0.1", kids[0].port, TU_WAIT_MS),
               ACTO_EAUTH);
  acto_ref r;
  ck_assert_rc(acto_node_lookup(s, "stranger", "echo", TU_WAIT_MS, &r), ACTO_EAUTH);
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
}
END_TEST

START_TEST(a_partition_fires_monitors_by_heartbeat_timeout_and_heals_after) {
  kids[0] = node_start("island", KEYHEX, 0);
  uint16_t via = proxy_start(kids[0].port);
  acto_system *s = me_with(HB_TIMEOUT_MS, 0);
  acto_ref w;
  ck_assert_ok(acto_spawn(s, &WATCHER, NULL, NULL, &w));
  tu_counter_init(&downs);
  ck_assert_ok(acto_node_connect(s, "island", "127.0.0.1", via, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "island", "echo", TU_WAIT_MS, &echo));
  int64_t t_before_sync = tu_now_ns();
  watch(s, w, echo);
  int64_t t0 = tu_now_ns();
  proxy_cmd("mode blackhole both");
  ck_assert_counter_reaches(&downs, 1);
  int64_t down_ns = atomic_load(&down_at_ns);
  int64_t ms = (down_ns - t0) / 1000000;
  /* not before a whole timeout of silence (see the SIGSTOP test) */
  ck_assert_int_ge(down_ns - t_before_sync, (int64_t)HB_TIMEOUT_MS * 1000000);
  fprintf(stderr, "partition -> DOWN: %lld ms\n", (long long)ms);
  ck_assert_int_eq(atomic_load(&down_reason), ACTO_REASON_NOCONNECTION);
  /* Silent from the moment the proxy answered: the heartbeat bound. */
  ck_assert_int_le(ms, SILENT_DOWN_BOUND_MS);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_eq(st.heartbeat_timeouts, 1);
  /* Healed: the same incarnation is reconnected (by backoff) and works. */
  proxy_cmd("mode pass both");
  acto_reply_buf rb;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  int rc;
  while ((rc = acto_ask(s, echo, 1, "x", 1, 500, &rb)) != 0 && tu_now_ms() < end)
    tu_sleep_ms(20);
  ck_assert_ok(rc);
  acto_reply_release(&rb);
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
  node_reap(&proxy, SIGKILL);
}
END_TEST

/* A reset is seen at once: with a heartbeat timeout that cannot expire
 * while the test waits, only the reset can explain the DOWN, and the stats
 * show no heartbeat timeout. */
START_TEST(a_reset_link_fires_monitors_at_once) {
  kids[0] = node_start("flaky", KEYHEX, 0);
  uint16_t via = proxy_start(kids[0].port);
  acto_system *s = me_with(HB_TIMEOUT_NEVER_MS, 0);
  acto_ref w;
  ck_assert_ok(acto_spawn(s, &WATCHER, NULL, NULL, &w));
  tu_counter_init(&downs);
  ck_assert_ok(acto_node_connect(s, "flaky", "127.0.0.1", via, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "flaky", "echo", TU_WAIT_MS, &echo));
  watch(s, w, echo);
  int64_t t0 = tu_now_ns();
  proxy_cmd("mode reset both");
  ck_assert_counter_reaches(&downs, 1);
  int64_t ms = (atomic_load(&down_at_ns) - t0) / 1000000;
  fprintf(stderr, "reset -> DOWN: %lld ms\n", (long long)ms);
  ck_assert_int_eq(atomic_load(&down_reason), ACTO_REASON_NOCONNECTION);
  ck_assert_int_le(ms, TU_SLACK_MS); /* no timer on the path: slack only */
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_eq(st.heartbeat_timeouts, 0); /* the reset, not the timeout */
  proxy_cmd("mode pass both");
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
  node_reap(&proxy, SIGKILL);
}
END_TEST

START_TEST(a_slow_link_keeps_order_and_loses_nothing) {
  kids[0] = node_start("far", KEYHEX, 0);
  uint16_t via = proxy_start(kids[0].port);
  /* slow is not dead; a tiny queue */
  acto_system *s = me_with(4000 * tu_multiplier(), 16 * 1024);
  ck_assert_ok(acto_node_connect(s, "far", "127.0.0.1", via, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "far", "echo", TU_WAIT_MS, &echo));
  proxy_cmd("mode throttle 500kB/s both");
  proxy_cmd("mode fragment 100 up");
  static char blob[1024];
  int n = TU_N(200, 100, 60);
  int64_t t0 = tu_now_ms();
  for (int i = 0; i < n; i++)
    ck_assert_ok(acto_send(s, echo, 2, blob, sizeof blob));
  uint64_t got = echo_count(s, echo); /* FIFO: all of them are in before */
  fprintf(stderr, "slow link: %d KiB and a round trip in %lld ms\n", n,
          (long long)(tu_now_ms() - t0));
  ck_assert_uint_eq(got, (uint64_t)n);
  proxy_cmd("mode pass both");
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
  node_reap(&proxy, SIGKILL);
}
END_TEST

/* Sends to a remote ref from inside an actor until a send is parked on
 * the full outgoing queue.  The queue drains into the socket whenever the
 * kernel grows its send buffer, so a single send may still find room: each
 * send returns 0 (queued) or ACTO_PARKED, and a sender that keeps sending
 * to a receiver that does not read is parked after a bounded number. */
static _Atomic int parked_rc = 1000;
static _Atomic int pusher_queued = 0;
static int pusher_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  acto_ref to;
  if (m->size != sizeof to)
    return ACTO_EINVAL;
  memcpy(&to, m->data, sizeof to);
  static char big[64 * 1024];
  for (int i = 0; i < 4000; i++) {
    int r = acto_send(acto_ctx_system(ctx), to, 2, big, sizeof big);
    if (r != 0) {
      atomic_store(&parked_rc, r);
      return 0;
    }
    atomic_fetch_add(&pusher_queued, 1);
  }
  atomic_store(&parked_rc, 0); /* never parked: the assertion below fails */
  return 0;
}
static const acto_behaviour PUSHER = {.name = "pusher", .handle = pusher_handle};

START_TEST(a_stopped_receiver_fills_the_queue_senders_wait_and_then_all_arrive) {
  kids[0] = node_start("frozen", KEYHEX, 0);
  acto_system *s = me_with(20000 * tu_multiplier(), 256 * 1024);
  ck_assert_ok(acto_node_connect(s, "frozen", "127.0.0.1", kids[0].port, TU_WAIT_MS));
  acto_ref echo;
  ck_assert_ok(acto_node_lookup(s, "frozen", "echo", TU_WAIT_MS, &echo));
  kill(kids[0].pid, SIGSTOP);
  static char big[64 * 1024];
  /* What the code guarantees, whatever the timing: a send to a receiver
   * that does not read is queued (0) until socket buffers and the 256 KiB
   * queue are full, and from then on a plain thread's send with a deadline
   * times out, a fail_fast send fails with ACTO_EFULL and an actor's send
   * is parked.  The queue may drain a little between two sends (the
   * kernel grows its socket buffers), so each kind of sender keeps sending
   * until it meets the full queue, within a bound no buffer reaches. */
  int accepted = 0, timed_out = 0;
  for (int i = 0; i < 4000 && !timed_out; i++) {
    acto_send_opts o = ACTO_SEND_OPTS_INIT;
    o.deadline_ms = 100;
    int r = acto_send_ex(s, echo, 2, big, sizeof big, &o);
    if (r == ACTO_ETIMEDOUT)
      timed_out = 1;
    else {
      ck_assert_ok(r);
      accepted++;
    }
  }
  ck_assert_msg(timed_out, "the queue never filled (%d x 64 KiB accepted)", accepted);
  int full = 0;
  for (int i = 0; i < 4000 && !full; i++) {
    acto_send_opts ff = ACTO_SEND_OPTS_INIT;
    ff.fail_fast = 1;
    int r = acto_send_ex(s, echo, 2, big, sizeof big, &ff);
    if (r == ACTO_EFULL)
      full = 1;
    else {
      ck_assert_ok(r);
      accepted++;
    }
  }
  ck_assert_msg(full, "fail_fast sends never met a full queue");
  acto_ref pusher;
  ck_assert_ok(acto_spawn(s, &PUSHER, NULL, NULL, &pusher));
  ck_assert_ok(acto_send(s, pusher, 1, &echo, sizeof echo));
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (atomic_load(&parked_rc) == 1000 && tu_now_ms() < end)
    tu_sleep_ms(5);
  ck_assert_int_eq(atomic_load(&parked_rc), ACTO_PARKED);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_ge(st.parks, 1);
  kill(kids[0].pid, SIGCONT);
  /* Everything accepted arrives, the parked one included, in order. */
  ck_assert_uint_eq(echo_count(s, echo),
                    (uint64_t)accepted + (uint64_t)atomic_load(&pusher_queued) + 1);
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
}
END_TEST

/* ---- remote spawn and remote children across processes ------------------------- */

/* A node that does not answer: the link through the proxy stays up (a
 * heartbeat timeout far longer than the wait) while the proxy drops every
 * byte, so the spawn request goes nowhere and its deadline passes. */
START_TEST(a_remote_spawn_over_a_blackholed_link_times_out) {
  kids[0] = node_start("far", KEYHEX, 0);
  uint16_t via = proxy_start(kids[0].port);
  acto_system *s = me();
  ck_assert_ok(acto_node_connect(s, "far", "127.0.0.1", via, TU_WAIT_MS));
  acto_ref r;
  ck_assert_ok(acto_spawn_remote(s, "far", "echo", NULL, 0, NULL, TU_WAIT_MS, &r));
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, r, 1, "x", 1, TU_WAIT_MS, &rb)); /* it is an echo there */
  ck_assert_uint_eq(rb.size, 1);
  acto_reply_release(&rb);
  proxy_cmd("mode blackhole both");
  ck_assert_rc(acto_spawn_remote(s, "far", "echo", NULL, 0, NULL, 300, &r), ACTO_ETIMEDOUT);
  uint64_t id;
  ck_assert_ok(acto_node_id(s, "far", &id)); /* still up: only the answer was missing */
  /* Healed (the dropped bytes break the stream: the link is made again). */
  proxy_cmd("mode pass both");
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  int rc;
  while ((rc = acto_spawn_remote(s, "far", "echo", NULL, 0, NULL, 500, &r)) != 0 &&
         tu_now_ms() < end)
    tu_sleep_ms(20);
  ck_assert_ok(rc);
  tu_shutdown(s);
  node_reap(&kids[0], SIGTERM);
  node_reap(&proxy, SIGKILL);
}
END_TEST

typedef struct child_on {
  acto_system *sys;
  acto_ref sup;
  uint64_t node;
  uint32_t restarts;
  acto_child_info info;
} child_on;

static int pred_child_on(void *arg) {
  child_on *w = arg;
  size_t n = 0;
  return acto_supervisor_which_children(w->sys, w->sup, &w->info, 1, &n, TU_WAIT_MS) == 0 &&
         n == 1 && w->info.state == ACTO_CHILD_RUNNING && w->info.node == w->node &&
         w->info.restarts == w->restarts;
}

/* The real thing: the node process that runs a supervised child dies
 * (SIGKILL), and the child runs again on another process. */
START_TEST(a_remote_child_on_a_killed_node_process_restarts_on_another) {
  kids[0] = node_start("pb", KEYHEX, 0);
  kids[1] = node_start("pc", KEYHEX, 0);
  acto_system *s = me();
  ck_assert_ok(acto_node_connect(s, "pb", "127.0.0.1", kids[0].port, TU_WAIT_MS));
  ck_assert_ok(acto_node_connect(s, "pc", "127.0.0.1", kids[1].port, TU_WAIT_MS));
  child_on w = {.sys = s};
  ck_assert_ok(acto_node_id(s, "pb", &w.node));
  acto_child_remote rem = {.behaviour = "echo", .node = "pb", .place = acto_place_elsewhere};
  acto_child_spec kid = {.id = "e", .kind = ACTO_WORKER, .remote = &rem, .restart = ACTO_PERMANENT};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE,
                        .intensity = 5,
                        .period_ms = 60000,
                        .children = &kid,
                        .nchildren = 1};
  ck_assert_ok(acto_supervisor_start(s, &spec, NULL, &w.sup));
  ck_assert(tu_wait_until(pred_child_on, &w, TU_WAIT_MS));
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, w.info.ref, 1, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  node_reap(&kids[0], SIGKILL);
  ck_assert_ok(acto_node_id(s, "pc", &w.node));
  w.restarts = 1;
  ck_assert_msg(tu_wait_until(pred_child_on, &w, TU_WAIT_MS),
                "not restarted on pc (state %d, restarts %u)", (int)w.info.state, w.info.restarts);
  ck_assert_ok(acto_ask(s, w.info.ref, 1, "y", 1, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, 1);
  acto_reply_release(&rb);
  ck_assert_ok(acto_supervisor_stop(s, w.sup, TU_WAIT_MS));
  tu_shutdown(s);
  node_reap(&kids[1], SIGTERM);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node_procs");
  TCase *tc = tu_tcase("procs", 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tu_add_tests(tc, remote_send_and_ask_keep_order_across_processes,
               the_acto_node_tool_behaves_as_documented,
               sigkill_of_a_node_fires_monitors_through_the_closed_connection,
               sigkill_of_an_encrypted_node_fires_monitors_at_the_unexpected_eof,
               sigstop_of_a_node_fires_monitors_by_the_heartbeat_timeout,
               a_restarted_node_process_is_reconnected_as_a_new_incarnation,
               a_node_with_a_wrong_key_is_refused,
               a_partition_fires_monitors_by_heartbeat_timeout_and_heals_after,
               a_reset_link_fires_monitors_at_once, a_slow_link_keeps_order_and_loses_nothing,
               a_stopped_receiver_fills_the_queue_senders_wait_and_then_all_arrive,
               a_remote_spawn_over_a_blackholed_link_times_out,
               a_remote_child_on_a_killed_node_process_restarts_on_another);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
