/* detect.c - the `detect` benchmark (acto only): how fast a cluster sees a
 * member die.  K node processes (default 8) form a full mesh through one
 * seed (as in `join`).  Then, R times (default 20 x scale, at least 5),
 * the coordinator picks a member other than the seed, kills it, and
 * notes the wall clock (CLOCK_REALTIME) just before the signal; every
 * other member notes when its member hook reports the victim down and
 * tells the coordinator.  The victim is then started again (a new
 * incarnation) and every member must see it join before the next round.
 *
 *   phase 1, SIGKILL: the kernel closes the victim's sockets, so peers
 *     learn it from the connection (target: p99 <= 100 ms);
 *   phase 2, SIGSTOP: the victim's sockets stay open and silent, so peers
 *     learn it from the heartbeat timeout, DETECT_TIMEOUT_MS (default
 *     1000, heartbeat every timeout / 4); the victim is then SIGKILLed.
 *     Target: the worst detection <= 1.25 x the timeout.
 *
 * RESULT: msgs = detections measured (both phases), rate = detections per
 * second of the whole run; kill_p50_ms, kill_p99_ms, kill_max_ms;
 * stop_p50_ms, stop_max_ms, stop_max_ratio (max / timeout), timeout_ms,
 * nodes, rounds.  Every detection must come: a member that never reports
 * a victim down fails the run (the watchdog, or the 30 s wait per round).
 */
#include "cluster.h"

#include <limits.h>

#define MAX_NODES 64

/* ---- a member: reports every member event on the result pipe ----------------- */

static int g_res_fd = -1;
static char g_name[32];

static void on_member(void *user, acto_member_event ev, const acto_member *m) {
  (void)user;
  char line[160];
  int n = snprintf(line, sizeof line, "%c %s %016" PRIx64 " %" PRId64 " %s\n",
                   ev == ACTO_MEMBER_EV_JOINED ? 'J'
                   : ev == ACTO_MEMBER_EV_DOWN ? 'D'
                                               : 'L',
                   m->name, m->node_id, bench_wall_ns(), g_name);
  /* One write of less than PIPE_BUF bytes: never interleaved with another
   * member's. */
  if (write(g_res_fd, line, (size_t)n) != n)
    _exit(3);
}

/* argv: self --member idx port keyhex threads timeout_ms result_fd */
static int member_main(char **argv) {
  int idx = atoi(argv[2]);
  uint16_t port = (uint16_t)atoi(argv[3]);
  const char *keyhex = argv[4];
  unsigned threads = (unsigned)atoi(argv[5]);
  int64_t tmo = atoll(argv[6]);
  g_res_fd = atoi(argv[7]);
  char name[32];
  snprintf(name, sizeof name, "det%d", idx);
  snprintf(g_name, sizeof g_name, "%s", name);
  bench_cur.workload = "detect_member";
  uint8_t key[32];
  bench_key_parse(keyhex, key);
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = threads;
  acto_system *sys;
  BENCH_CHECK(acto_system_create(&cfg, &sys));
  acto_set_log_level(sys, getenv("DETECT_VERBOSE") ? ACTO_LOG_INFO : ACTO_LOG_OFF);
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = name;
  nc.key = key;
  nc.key_len = sizeof key;
  nc.listen_host = "127.0.0.1";
  nc.listen_port = idx == 0 ? port : 0;
  nc.heartbeat_ms = tmo / 4;
  nc.heartbeat_timeout_ms = tmo;
  nc.reconnect_max_ms = 200;
  acto_node_seed seed = {"det0", "127.0.0.1", port};
  if (idx > 0) {
    nc.seeds = &seed;
    nc.nseeds = 1;
  }
  BENCH_CHECK(acto_node_start(sys, &nc));
  BENCH_CHECK(acto_cluster_set_member_hook(sys, on_member, NULL));
  for (;;)
    pause(); /* until killed: the coordinator ends every member with SIGKILL */
}

/* ---- the coordinator ----------------------------------------------------------- */

static pid_t g_pid[MAX_NODES];
static int g_k;
static char g_self[PATH_MAX];
static char g_port[16], g_key[65], g_thr[16], g_tmo[24], g_res[16];

static void kill_all(void) {
  for (int i = 0; i < g_k; i++)
    if (g_pid[i] > 0) {
      kill(g_pid[i], SIGKILL);
      waitpid(g_pid[i], NULL, 0);
      g_pid[i] = 0;
    }
}

static void start_member(int i) {
  char sidx[16];
  snprintf(sidx, sizeof sidx, "%d", i);
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    kill_all();
    bench_fail("fork: %s", strerror(errno));
  }
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
      _exit(2);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    char *av[] = {g_self, "--member", sidx, g_port, g_key, g_thr, g_tmo, g_res, NULL};
    execv("/proc/self/exe", av);
    _exit(127);
  }
  g_pid[i] = pid;
}

/* Events from the members, read line by line from the result pipe. */
static FILE *g_in;

typedef struct event {
  char kind;
  char name[80];
  uint64_t id;
  int64_t ts;
} event;

static int next_event(event *e, int64_t deadline_ns) {
  char line[200];
  int fd = fileno(g_in);
  while (bench_wall_ns() < deadline_ns) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0)
      continue;
    if (!fgets(line, sizeof line, g_in))
      return 0;
    if (getenv("DETECT_VERBOSE"))
      fprintf(stderr, "detect: %s", line);
    if (sscanf(line, "%c %79s %" SCNx64 " %" SCNd64, &e->kind, e->name, &e->id, &e->ts) == 4)
      return 1;
  }
  return 0;
}

/* Waits until all others (k - 1 members) saw `name` (id: 0 any) as kind;
 * their times go to out (if any).  The stream is unbuffered by member, so
 * events of other kinds meanwhile are skipped. */
static void await_all(char kind, const char *name, uint64_t id, int64_t *out, int *nout) {
  int got = 0;
  int64_t deadline = bench_wall_ns() + 30ll * 1000000000;
  while (got < g_k - 1) {
    event e;
    if (!next_event(&e, deadline)) {
      kill_all();
      bench_fail("only %d of %d members saw %s %c within 30 s", got, g_k - 1, name, kind);
    }
    if (e.kind == kind && strcmp(e.name, name) == 0 && (id == 0 || e.id == id)) {
      if (out)
        out[(*nout)++] = e.ts;
      got++;
    }
  }
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static double q_ms(const int64_t *v, int n, double q) {
  int i = (int)(q * n + 0.999999) - 1; /* nearest rank */
  if (i < 0)
    i = 0;
  if (i >= n)
    i = n - 1;
  return (double)v[i] / 1e6;
}

/* One phase: rounds of sig on a victim; the delays (ns) into lat. */
static int phase(int sig, int rounds, int64_t *lat, uint64_t *ids) {
  int n = 0;
  for (int r = 0; r < rounds; r++) {
    int v = 1 + r % (g_k - 1);
    char name[32];
    snprintf(name, sizeof name, "det%d", v);
    int64_t t[MAX_NODES];
    int nt = 0;
    int64_t t0 = bench_wall_ns();
    kill(g_pid[v], sig);
    await_all('D', name, ids[v], t, &nt);
    for (int i = 0; i < nt; i++)
      lat[n++] = t[i] - t0;
    kill(g_pid[v], SIGKILL);
    waitpid(g_pid[v], NULL, 0);
    start_member(v);
    /* Every other member sees the new incarnation join; its id is the
     * one the next round's DOWN must carry. */
    int64_t deadline = bench_wall_ns() + 30ll * 1000000000;
    int got = 0;
    uint64_t nid = 0;
    while (got < g_k - 1) {
      event e;
      if (!next_event(&e, deadline)) {
        kill_all();
        bench_fail("the restarted %s did not rejoin every member within 30 s", name);
      }
      if (e.kind == 'J' && strcmp(e.name, name) == 0 && e.id != ids[v]) {
        if (nid && e.id != nid)
          continue;
        nid = e.id;
        got++;
      }
    }
    ids[v] = nid;
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc == 8 && strcmp(argv[1], "--member") == 0)
    return member_main(argv);
  bench_start("detect", argc, argv);
  g_k = getenv("DETECT_NODES") ? atoi(getenv("DETECT_NODES")) : 8;
  BENCH_EXPECT(g_k >= 3 && g_k <= MAX_NODES, "DETECT_NODES: 3 to %d", MAX_NODES);
  long tmo = getenv("DETECT_TIMEOUT_MS") ? atol(getenv("DETECT_TIMEOUT_MS")) : 1000;
  BENCH_EXPECT(tmo >= 40, "DETECT_TIMEOUT_MS: at least 40");
  int rounds = (int)bench_scaled(20, bench_cur.scale);
  if (rounds < 5)
    rounds = 5;
  snprintf(g_self, sizeof g_self, "%s", argv[0]);
  snprintf(g_port, sizeof g_port, "%u", (unsigned)bench_reserve_port());
  bench_key_hex(g_key);
  snprintf(g_thr, sizeof g_thr, "%u", bench_cur.threads);
  snprintf(g_tmo, sizeof g_tmo, "%ld", tmo);
  int res[2];
  BENCH_EXPECT(pipe(res) == 0, "pipe: %s", strerror(errno));
  snprintf(g_res, sizeof g_res, "%d", res[1]);
  /* res[1] stays open here: members started again later inherit it. */
  for (int i = 0; i < g_k; i++)
    start_member(i);
  g_in = fdopen(res[0], "r");
  setvbuf(g_in, NULL, _IONBF, 0); /* poll() must see what fgets has not read */
  /* The mesh: every member saw every other join. */
  uint64_t ids[MAX_NODES] = {0};
  int joined = 0;
  int64_t deadline = bench_wall_ns() + 60ll * 1000000000;
  int want = g_k * (g_k - 1);
  while (joined < want) {
    event e;
    if (!next_event(&e, deadline)) {
      kill_all();
      bench_fail("no full mesh of %d within 60 s (%d of %d joins)", g_k, joined, want);
    }
    int v;
    if (e.kind == 'J' && sscanf(e.name, "det%d", &v) == 1 && v >= 0 && v < g_k) {
      ids[v] = e.id;
      joined++;
    }
  }
  double t_start = bench_now();
  int64_t *kl = calloc((size_t)rounds * MAX_NODES, sizeof *kl);
  int64_t *sl2 = calloc((size_t)rounds * MAX_NODES, sizeof *sl2);
  BENCH_EXPECT(kl && sl2, "out of memory");
  int nk = phase(SIGKILL, rounds, kl, ids);
  int ns = phase(SIGSTOP, rounds / 2 > 3 ? rounds / 2 : 3, sl2, ids);
  double secs = bench_now() - t_start;
  kill_all();
  qsort(kl, (size_t)nk, sizeof *kl, cmp_i64);
  qsort(sl2, (size_t)ns, sizeof *sl2, cmp_i64);
  printf("RESULT workload=detect impl=acto threads=%u msgs=%d secs=%.6f rate=%.1f rss_kb=%ld"
         " nodes=%d rounds=%d kill_p50_ms=%.2f kill_p99_ms=%.2f kill_max_ms=%.2f"
         " stop_p50_ms=%.1f stop_max_ms=%.1f stop_max_ratio=%.3f timeout_ms=%ld\n",
         bench_cur.threads, nk + ns, secs, (nk + ns) / secs, bench_peak_rss_kb(), g_k, rounds,
         q_ms(kl, nk, 0.5), q_ms(kl, nk, 0.99), q_ms(kl, nk, 1.0), q_ms(sl2, ns, 0.5),
         q_ms(sl2, ns, 1.0), q_ms(sl2, ns, 1.0) / (double)tmo, tmo);
  fflush(stdout);
  free(kl);
  free(sl2);
  return 0;
}
