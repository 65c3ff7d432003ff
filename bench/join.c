/* join.c - the `join` benchmark (WORKLOADS.md, cluster workloads): K node
 * processes started at once, each told only the first node's address (a
 * seed); how long until every one of them is connected to every other.
 *
 * The program is a coordinator that holds no node: it reserves a port for
 * the first node, then starts K copies of itself (`--member i ...`, fork
 * and exec, each dying with the coordinator).  Each member notes the wall
 * clock (CLOCK_REALTIME) first thing in main, starts a system and a node
 * (the first on the reserved port with no seed, the others with the first
 * as their only seed), polls its peers_up until it is K - 1 (every 200 us)
 * and notes the wall clock again.  Then it measures what the mesh costs
 * it at rest for JOIN_STEADY_MS (default 1000): bytes sent per second
 * (heartbeats, nothing else runs), and its RSS; it writes one line to the
 * coordinator and waits to be told to stop (its control pipe closes),
 * which it does with acto_system_shutdown (so the others see it leave).
 *
 * secs runs from the latest start to the latest full mesh, as in the
 * Erlang peer; msgs = K (K - 1) connections (each node's view of each
 * other).  rss_kb is the first node's peak RSS, peer_rss_kb the largest of
 * the others'.  Extra fields: nodes=K, mesh_first_s (the earliest full
 * mesh after the latest start, negative if before), hb_bytes_per_s (bytes
 * one node sends per second at rest, the mean over the nodes),
 * start_spread_s (latest start - earliest start).
 *
 * K is 16 whatever the scale (as in the Erlang peer); JOIN_NODES overrides
 * it (2..200) for the scaling measurements of ACTORS.md 13.10.
 */
#include "cluster.h"

#define JOIN_DEFAULT_NODES 16
#define JOIN_MAX_NODES 200

/* ---- a member ------------------------------------------------------------ */

/* argv: self --member idx nodes port keyhex threads steady_ms result_fd ctl_fd */
static int member_main(char **argv) {
  int64_t start = bench_wall_ns();
  int idx = atoi(argv[2]), k = atoi(argv[3]);
  uint16_t port = (uint16_t)atoi(argv[4]);
  const char *keyhex = argv[5];
  unsigned threads = (unsigned)atoi(argv[6]);
  long steady_ms = atol(argv[7]);
  int res_fd = atoi(argv[8]), ctl_fd = atoi(argv[9]);
  char name[32];
  snprintf(name, sizeof name, "join%d", idx);
  bench_cur.workload = idx == 0 ? "join" : "join_member";
  bench_cur.threads = threads;
  uint8_t key[32];
  bench_key_parse(keyhex, key);

  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = threads;
  acto_system *sys;
  BENCH_CHECK(acto_system_create(&cfg, &sys));
  acto_set_log_level(sys, ACTO_LOG_OFF);
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = name;
  nc.key = key;
  nc.key_len = sizeof key;
  nc.listen_host = "127.0.0.1";
  nc.listen_port = idx == 0 ? port : 0;
  nc.max_peers = (unsigned)k + 8;
  acto_node_seed seed = {"join0", "127.0.0.1", port};
  if (idx > 0) {
    nc.seeds = &seed;
    nc.nseeds = 1;
  }
  BENCH_CHECK(acto_node_start(sys, &nc));
  acto_node_stats st;
  int64_t deadline = bench_wall_ns() + 60ll * 1000000000;
  for (;;) {
    BENCH_CHECK(acto_node_get_stats(sys, &st));
    if (st.peers_up >= (uint64_t)(k - 1))
      break;
    BENCH_EXPECT(bench_wall_ns() < deadline, "%s: no full mesh after 60 s (%" PRIu64 " of %d up)",
                 name, st.peers_up, k - 1);
    usleep(200);
  }
  int64_t meshed = bench_wall_ns();
  /* At rest: what the mesh costs this node (heartbeats only). */
  BENCH_CHECK(acto_node_get_stats(sys, &st));
  uint64_t b0 = st.bytes_out;
  double t0 = bench_now();
  usleep((useconds_t)(steady_ms * 1000));
  BENCH_CHECK(acto_node_get_stats(sys, &st));
  double dt = bench_now() - t0;
  double bps = dt > 0 ? (double)(st.bytes_out - b0) / dt : 0;
  BENCH_EXPECT(st.peers_up == (uint64_t)(k - 1), "%s: the mesh lost a link at rest (%" PRIu64 ")",
               name, st.peers_up);
  char line[160];
  int n = snprintf(line, sizeof line, "%d %" PRId64 " %" PRId64 " %ld %.1f\n", idx, start, meshed,
                   bench_peak_rss_kb(), bps);
  BENCH_EXPECT(write(res_fd, line, (size_t)n) == n, "%s: cannot report", name);
  close(res_fd);
  char c;
  while (read(ctl_fd, &c, 1) > 0 || errno == EINTR) {
  }
  acto_system_shutdown(sys);
  return 0;
}

/* ---- the coordinator --------------------------------------------------------- */

typedef struct rec {
  int64_t start, meshed;
  long rss_kb;
  double bps;
  int seen;
} rec;

static pid_t g_pids[JOIN_MAX_NODES];
static int g_npids;

static void kill_members(void) {
  for (int i = 0; i < g_npids; i++)
    if (g_pids[i] > 0) {
      kill(g_pids[i], SIGKILL);
      waitpid(g_pids[i], NULL, 0);
      g_pids[i] = 0;
    }
}

int main(int argc, char **argv) {
  if (argc == 10 && strcmp(argv[1], "--member") == 0)
    return member_main(argv);
  bench_start("join", argc, argv);
  int k = JOIN_DEFAULT_NODES;
  const char *env = getenv("JOIN_NODES");
  if (env) {
    k = atoi(env);
    BENCH_EXPECT(k >= 2 && k <= JOIN_MAX_NODES, "JOIN_NODES=%s: 2 to %d", env, JOIN_MAX_NODES);
  }
  long steady_ms = getenv("JOIN_STEADY_MS") ? atol(getenv("JOIN_STEADY_MS")) : 1000;
  /* The first node's port: bound here, released just before it starts. */
  uint16_t port = bench_reserve_port();
  char keyhex[65];
  bench_key_hex(keyhex);
  int res[2];
  BENCH_EXPECT(pipe(res) == 0, "pipe: %s", strerror(errno));
  int ctl[JOIN_MAX_NODES];
  char sidx[16], sk[16], sport[16], sthr[16], ssteady[24], sres[16], sctl[16];
  snprintf(sk, sizeof sk, "%d", k);
  snprintf(sport, sizeof sport, "%u", (unsigned)port);
  snprintf(sthr, sizeof sthr, "%u", bench_cur.threads);
  snprintf(ssteady, sizeof ssteady, "%ld", steady_ms);
  snprintf(sres, sizeof sres, "%d", res[1]);
  pid_t parent = getpid();
  fflush(NULL);
  for (int i = 0; i < k; i++) {
    int cp[2];
    BENCH_EXPECT(pipe(cp) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    BENCH_EXPECT(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(2);
      dup2(STDERR_FILENO, STDOUT_FILENO); /* only the coordinator reports */
      close(res[0]);
      close(cp[1]);
      for (int j = 0; j < i; j++)
        close(ctl[j]);
      snprintf(sidx, sizeof sidx, "%d", i);
      snprintf(sctl, sizeof sctl, "%d", cp[0]);
      char *av[] = {argv[0], "--member", sidx, sk, sport, keyhex, sthr, ssteady, sres, sctl, NULL};
      execv("/proc/self/exe", av);
      _exit(127);
    }
    close(cp[0]);
    ctl[i] = cp[1];
    g_pids[g_npids++] = pid;
  }
  close(res[1]);
  rec *r = calloc(JOIN_MAX_NODES, sizeof *r);
  BENCH_EXPECT(r != NULL, "out of memory");
  FILE *f = fdopen(res[0], "r");
  char line[256];
  int got = 0;
  while (got < k && f && fgets(line, sizeof line, f)) {
    int idx;
    long long st, me;
    long rss;
    double bps;
    if (sscanf(line, "%d %lld %lld %ld %lf", &idx, &st, &me, &rss, &bps) == 5 && idx >= 0 &&
        idx < k && !r[idx].seen) {
      r[idx] = (rec){st, me, rss, bps, 1};
      got++;
    }
  }
  if (got < k) {
    kill_members();
    bench_fail("only %d of %d members reported a full mesh", got, k);
  }
  for (int i = 0; i < k; i++)
    close(ctl[i]); /* members shut down */
  for (int i = 0; i < g_npids; i++) {
    int stt = 0;
    waitpid(g_pids[i], &stt, 0);
    g_pids[i] = 0;
    BENCH_EXPECT(WIFEXITED(stt) && WEXITSTATUS(stt) == 0, "member %d ended with status %d", i, stt);
  }
  int64_t smax = r[0].start, smin = r[0].start, mmax = r[0].meshed, mmin = r[0].meshed;
  long peer_rss = 0;
  double bps = 0;
  for (int i = 0; i < k; i++) {
    smax = r[i].start > smax ? r[i].start : smax;
    smin = r[i].start < smin ? r[i].start : smin;
    mmax = r[i].meshed > mmax ? r[i].meshed : mmax;
    mmin = r[i].meshed < mmin ? r[i].meshed : mmin;
    if (i > 0 && r[i].rss_kb > peer_rss)
      peer_rss = r[i].rss_kb;
    bps += r[i].bps / k;
  }
  double secs = (double)(mmax - smax) / 1e9;
  if (secs < 0)
    secs = 0;
  uint64_t msgs = (uint64_t)k * (uint64_t)(k - 1);
  printf("RESULT workload=join impl=acto threads=%u msgs=%" PRIu64
         " secs=%.6f rate=%.1f rss_kb=%ld nodes=%d mesh_first_s=%.6f start_spread_s=%.6f"
         " hb_bytes_per_s=%.1f peer_rss_kb=%ld\n",
         bench_cur.threads, msgs, secs, secs > 0 ? (double)msgs / secs : 0.0, r[0].rss_kb, k,
         (double)(mmin - smax) / 1e9, (double)(smax - smin) / 1e9, bps, peer_rss);
  fflush(stdout);
  free(r);
  return 0;
}
