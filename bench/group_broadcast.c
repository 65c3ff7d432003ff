/* group_broadcast.c - the `group_broadcast` benchmark: broadcasts to a
 * process group spread over four nodes, in four OS processes on loopback.
 *
 * The program forks itself three times first thing in main (no thread
 * exists yet): the children run nodes gb1..gb3, the parent gb0.  Every
 * node spawns M/4 members (M = 1,000 x scale) that join the group
 * "bench".  The parent registers its broadcaster under the global name
 * "gb_caster", connects to each child (their ports come over pipes) and
 * waits until it sees all M members.  Then the timed section: the
 * broadcaster sends B = 10,000 x scale messages (an integer and a 16-byte
 * binary) to the group with acto_group_broadcast, 32 per turn; each
 * member checks that it receives them all, in order, intact; the last
 * member of each node to count B sends the broadcaster a DONE (the
 * children's look it up by its global name), with its node's total and
 * peak RSS.  The section ends with the fourth DONE.  A broadcast goes to
 * each other node as one GCAST, fanned out there to its members.
 *
 * msgs = B x M deliveries.  Extra fields: members=M, broadcasts=B,
 * nodes=4, peer_rss_kb (the largest peak RSS of gb1..gb3).
 *
 * Processes: every child dies with the parent (PR_SET_PDEATHSIG) and
 * reports only on stderr; the parent closes each child's control pipe at
 * the end and reaps each by pid (bounded wait); a failure in the parent
 * ends it, which kills the children.
 */
#include "common.h"

#define NODES 4
#define GROUP "bench"
#define CASTER "gb_caster"
#define PER_TURN 32u

enum {
  MSG_CAST = 1, /* the broadcast: payload cast_msg */
  MSG_GO,       /* main -> caster: start */
  MSG_MORE,     /* caster -> itself: the next turn */
  MSG_DONE,     /* a node's last member -> caster: payload done_msg */
};

typedef struct cast_msg {
  uint64_t n;
  uint8_t bin[16];
} cast_msg;

typedef struct done_msg {
  uint64_t node;
  uint64_t delivered; /* messages its members counted */
  int64_t rss_kb;
} done_msg;

static int node_idx;    /* 0: the parent */
static uint8_t key[32]; /* the shared secret */
static int port_p[NODES][2], ctl_p[NODES][2];
static pid_t pids[NODES];
static uint64_t per_node, broadcasts; /* M/4 and B */
static _Atomic uint64_t finished;     /* members of this node done */
static _Atomic uint64_t delivered;    /* casts counted on this node */

/* ---- members (every node) ------------------------------------------------------- */

typedef struct member {
  uint64_t next;
} member;

static int member_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  member *st = state;
  acto_system *sys = acto_ctx_system(ctx);
  BENCH_EXPECT(msg->type == MSG_CAST, "member: unexpected message type %" PRIu32, msg->type);
  const cast_msg *c = msg->data;
  BENCH_EXPECT(msg->size == sizeof *c && c->n == st->next && c->bin[0] == 0x5a &&
                   c->bin[15] == 0xa5,
               "member: cast %" PRIu64 " where %" PRIu64 " was due (or damaged)",
               msg->size == sizeof *c ? c->n : UINT64_MAX, st->next);
  st->next++;
  /* relaxed: a count read after the node's last DONE (a release below). */
  atomic_fetch_add_explicit(&delivered, 1, memory_order_relaxed);
  if (st->next == broadcasts &&
      atomic_fetch_add_explicit(&finished, 1, memory_order_acq_rel) + 1 == per_node) {
    /* acq_rel: the last member sees every other member's counts. */
    done_msg d = {(uint64_t)node_idx, atomic_load_explicit(&delivered, memory_order_relaxed),
                  bench_peak_rss_kb()};
    acto_ref caster;
    BENCH_CHECK(acto_global_whereis(sys, CASTER, &caster));
    BENCH_CHECK(acto_send(sys, caster, MSG_DONE, &d, sizeof d));
  }
  return 0;
}

static const acto_behaviour member_behaviour = {
    .name = "member", .state_size = sizeof(member), .handle = member_handle};

static void start_node(acto_system *sys) {
  acto_node_config nc;
  char name[8];
  memset(&nc, 0, sizeof nc);
  snprintf(name, sizeof name, "gb%d", node_idx);
  nc.name = name;
  nc.key = key;
  nc.key_len = sizeof key;
  nc.listen_host = "127.0.0.1";
  nc.no_listen = node_idx == 0;
  BENCH_CHECK(acto_node_start(sys, &nc));
  for (uint64_t i = 0; i < per_node; i++) {
    acto_ref r;
    BENCH_CHECK(acto_spawn(sys, &member_behaviour, NULL, NULL, &r));
    BENCH_CHECK(acto_group_join(sys, GROUP, r));
  }
}

/* ---- a child node ------------------------------------------------------------------ */

static int child_main(void) {
  acto_system *sys = bench_system(0);
  acto_stats st;
  uint16_t port = 0;
  char c;

  start_node(sys);
  BENCH_CHECK(acto_node_port(sys, &port));
  BENCH_EXPECT(write(port_p[node_idx][1], &port, sizeof port) == (ssize_t)sizeof port,
               "cannot report the port: %s", strerror(errno));
  close(port_p[node_idx][1]);
  for (;;) {
    ssize_t k = read(ctl_p[node_idx][0], &c, 1);
    if (k == 0 || (k < 0 && errno != EINTR))
      break;
  }
  close(ctl_p[node_idx][0]);
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  return 0;
}

/* ---- the broadcaster (the parent) ----------------------------------------------- */

typedef struct caster {
  uint64_t sent, dones, total;
  int64_t peer_rss;
  bench_latch *done;
  uint64_t *total_out;
  int64_t *peer_rss_out;
} caster;

typedef struct caster_args {
  bench_latch *done;
  uint64_t *total_out;
  int64_t *peer_rss_out;
} caster_args;

static int caster_init(acto_ctx *ctx, void *state, const void *arg) {
  caster *st = state;
  const caster_args *a = arg;
  (void)ctx;
  st->done = a->done;
  st->total_out = a->total_out;
  st->peer_rss_out = a->peer_rss_out;
  return 0;
}

static int caster_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  caster *st = state;
  acto_system *sys = acto_ctx_system(ctx);
  switch (msg->type) {
  case MSG_GO:
  case MSG_MORE: {
    cast_msg c;
    memset(&c, 0, sizeof c);
    c.bin[0] = 0x5a;
    c.bin[15] = 0xa5;
    for (unsigned i = 0; i < PER_TURN && st->sent < broadcasts; i++) {
      c.n = st->sent++;
      int copies = BENCH_CHECK(acto_group_broadcast(sys, GROUP, MSG_CAST, &c, sizeof c));
      BENCH_EXPECT((uint64_t)copies == per_node + NODES - 1,
                   "a broadcast made %d copies, not %" PRIu64, copies, per_node + NODES - 1);
    }
    if (st->sent < broadcasts)
      BENCH_CHECK(acto_send(sys, acto_self(ctx), MSG_MORE, NULL, 0));
    return 0;
  }
  case MSG_DONE: {
    done_msg d;
    BENCH_EXPECT(msg->size == sizeof d, "DONE of %zu bytes", msg->size);
    memcpy(&d, msg->data, sizeof d);
    BENCH_EXPECT(d.delivered == per_node * broadcasts,
                 "node %" PRIu64 " counted %" PRIu64 " deliveries, not %" PRIu64, d.node,
                 d.delivered, per_node * broadcasts);
    st->total += d.delivered;
    if (d.node != 0 && d.rss_kb > st->peer_rss)
      st->peer_rss = d.rss_kb;
    if (++st->dones == NODES) {
      *st->total_out = st->total;
      *st->peer_rss_out = st->peer_rss;
      bench_latch_arrive(st->done);
    }
    return 0;
  }
  default:
    bench_fail("caster: unexpected message type %" PRIu32, msg->type);
  }
}

static const acto_behaviour caster_behaviour = {
    .name = "caster", .state_size = sizeof(caster), .init = caster_init, .handle = caster_handle};

static void on_event(void *user, acto_node_event ev, const char *node_name, uint64_t node_id,
                     const char *reason) {
  (void)user;
  (void)node_id;
  if (ev == ACTO_NODE_DOWN)
    bench_fail("node %s went down: %s", node_name, reason);
}

/* Reaps child i (bounded): a child that does not exit in time, or exits
 * non-zero, fails the run. */
static void reap(int i) {
  double deadline = bench_now() + BENCH_PAIR_WAIT_MS / 1000.0;
  int status = 0;
  pid_t r;
  while ((r = waitpid(pids[i], &status, WNOHANG)) == 0 && bench_now() < deadline)
    usleep(1000);
  if (r == 0) {
    kill(pids[i], SIGKILL);
    waitpid(pids[i], &status, 0);
    bench_fail("node gb%d did not exit within %d ms of the end", i, BENCH_PAIR_WAIT_MS);
  }
  BENCH_EXPECT(r == pids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "node gb%d ended badly (see its messages on stderr)", i);
}

int main(int argc, char **argv) {
  size_t got = 0;
  pid_t parent = getpid();
  while (got < sizeof key) {
    ssize_t k = getrandom(key + got, sizeof key - got, 0);
    if (k < 0 && errno != EINTR)
      bench_fail("getrandom: %s", strerror(errno));
    if (k > 0)
      got += (size_t)k;
  }
  for (int i = 1; i < NODES; i++)
    if (pipe2(port_p[i], O_CLOEXEC) != 0 || pipe2(ctl_p[i], O_CLOEXEC) != 0)
      bench_fail("pipe2: %s", strerror(errno));
  fflush(NULL);
  for (int i = 1; i < NODES; i++) {
    pid_t pid = fork();
    if (pid < 0)
      bench_fail("fork: %s", strerror(errno));
    if (pid == 0) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(2);
      if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        _exit(2);
      node_idx = i;
      /* Keep only this child's ends: a write end of a control pipe left
       * open anywhere would keep that child from ever seeing EOF. */
      for (int j = 1; j < NODES; j++) {
        int *fds[4] = {&ctl_p[j][1], &port_p[j][0], j != i ? &ctl_p[j][0] : NULL,
                       j != i ? &port_p[j][1] : NULL};
        for (int k = 0; k < 4; k++)
          if (fds[k] && *fds[k] >= 0) {
            close(*fds[k]);
            *fds[k] = -1;
          }
      }
      break;
    }
    pids[i] = pid;
    close(ctl_p[i][0]);
    close(port_p[i][1]);
    ctl_p[i][0] = port_p[i][1] = -1;
  }
  if (node_idx != 0) {
    /* A child's watchdog fires 10 s after the parent's. */
    char *sargv[4] = {argv[0], argc > 1 ? argv[1] : "1.0", argc > 2 ? argv[2] : "2", NULL};
    char tmo[24];
    long t = argc > 3 ? strtol(argv[3], NULL, 10) : BENCH_DEFAULT_TIMEOUT_S;
    snprintf(tmo, sizeof tmo, "%ld", t > 0 && t <= 86400 - 10 ? t + 10 : t);
    sargv[3] = tmo;
    bench_start("group_broadcast_node", 4, sargv);
  } else {
    bench_start("group_broadcast", argc, argv);
  }
  uint64_t m = bench_scaled(1000, bench_cur.scale);
  per_node = m / NODES ? m / NODES : 1;
  broadcasts = bench_scaled(10000, bench_cur.scale);
  if (broadcasts == 0)
    broadcasts = 1;
  if (node_idx != 0)
    return child_main();

  acto_system *sys = bench_system(0);
  bench_latch done;
  uint64_t total = 0;
  int64_t peer_rss = 0;
  acto_ref caster_ref;
  acto_stats st;

  bench_latch_init(&done, 1);
  caster_args ca = {&done, &total, &peer_rss};
  /* The node first (before any spawn), then the caster and its name,
   * then the members. */
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = "gb0";
  nc.key = key;
  nc.key_len = sizeof key;
  nc.no_listen = 1;
  BENCH_CHECK(acto_node_start(sys, &nc));
  BENCH_CHECK(acto_spawn(sys, &caster_behaviour, &ca, NULL, &caster_ref));
  BENCH_CHECK(acto_global_register(sys, CASTER, caster_ref));
  for (uint64_t i = 0; i < per_node; i++) {
    acto_ref r;
    BENCH_CHECK(acto_spawn(sys, &member_behaviour, NULL, NULL, &r));
    BENCH_CHECK(acto_group_join(sys, GROUP, r));
  }
  for (int i = 1; i < NODES; i++) {
    struct pollfd pfd = {port_p[i][0], POLLIN, 0};
    uint16_t port = 0;
    char name[8];
    int r;
    while ((r = poll(&pfd, 1, BENCH_PAIR_WAIT_MS)) < 0 && errno == EINTR) {
    }
    BENCH_EXPECT(r == 1 && read(port_p[i][0], &port, sizeof port) == (ssize_t)sizeof port &&
                     port != 0,
                 "node gb%d did not report its port", i);
    snprintf(name, sizeof name, "gb%d", i);
    BENCH_CHECK(acto_node_connect(sys, name, "127.0.0.1", port, BENCH_PAIR_WAIT_MS));
  }
  BENCH_CHECK(acto_node_set_event_hook(sys, on_event, NULL));
  double deadline = bench_now() + BENCH_PAIR_WAIT_MS / 1000.0;
  while (BENCH_CHECK(acto_group_members(sys, GROUP, 0, NULL, 0)) < (int)(per_node * NODES)) {
    BENCH_EXPECT(bench_now() < deadline, "only %d of %" PRIu64 " members joined",
                 acto_group_members(sys, GROUP, 0, NULL, 0), per_node * NODES);
    usleep(1000);
  }

  double t0 = bench_now();
  BENCH_CHECK(acto_send(sys, caster_ref, MSG_GO, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;
  BENCH_EXPECT(total == broadcasts * per_node * NODES, "%" PRIu64 " deliveries, not %" PRIu64,
               total, broadcasts * per_node * NODES);

  bench_check_stats(sys, &st);
  BENCH_CHECK(acto_node_set_event_hook(sys, NULL, NULL));
  for (int i = 1; i < NODES; i++)
    close(ctl_p[i][1]);
  for (int i = 1; i < NODES; i++)
    reap(i);
  bench_shutdown(sys);
  bench_latch_destroy(&done);
  bench_report(total, secs,
               " members=%" PRIu64 " broadcasts=%" PRIu64 " nodes=%d peer_rss_kb=%" PRId64,
               per_node * NODES, broadcasts, NODES, peer_rss);
  return 0;
}
