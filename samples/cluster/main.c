/* main.c - the cluster sample's program: its options and the launcher.
 *
 * `cluster [options]` is the launcher: it starts the node processes n1..nN
 * (this same program with --node NAME, see node.c) on 127.0.0.1 with
 * ephemeral ports, hands them a fresh random key and n1's port as their
 * seed, tells the home node n1 to run, kills a node on schedule (--kill
 * NAME --after-ms T, with SIGKILL or, --signal STOP, SIGSTOP), starts it
 * again as a new process (--restart-after-ms T), passes on what n1 prints
 * (the live log, the timeline, the verdict) and exits with n1's status:
 * 0 when the promises held.
 *
 * DESIGN
 * The launcher is not an acto node; it only manages processes.  Each node
 * is a child whose stdin and stdout are pipes to the launcher; a node also
 * asks the kernel to kill it when the launcher dies (PR_SET_PDEATHSIG), and
 * stops by itself at the end of its stdin.  On every way out - the end of
 * the run, an error, SIGINT or SIGTERM, the deadline - the launcher closes
 * the nodes' stdin, waits up to 3 s for them, kills the ones left with
 * SIGKILL and reaps each child by its pid.  A node that dies without the
 * launcher killing it (kill -9 by hand) is noticed by the end of its
 * stdout and reported to n1 as a kill at that moment.
 *
 * The coordinator's journal lives in a temporary directory that the
 * launcher makes (unless --journal-dir names one to keep) and removes on
 * every way out, after n1 is reaped: n1 itself may be killed there.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <acto/acto_journal.h>

#include "cluster.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: cluster [options]\n"
          "Starts N node processes on 127.0.0.1 that join one cluster through n1, has a\n"
          "supervisor on n1 place a pool of workers on them (remote children) and a client\n"
          "on n1 send numbered work items to a coordinator that journals what it\n"
          "acknowledged.  Killing a node makes the supervisor restart its workers on the\n"
          "others; a node started again gets workers again.  Prints a timeline and a\n"
          "verdict; exits 0 when no item was lost or dispatched again after its\n"
          "acknowledgement (and a returned node worked again).\n"
          "\n"
          "  --kill NAME              kill node NAME (n2..nN) during the run\n"
          "  --after-ms T             ... T ms after the work started (default 2000)\n"
          "  --signal KILL|STOP       ... with SIGKILL (default) or SIGSTOP (a silent node,\n"
          "                           found by the heartbeat timeout)\n"
          "  --restart-after-ms T     start the killed node again T ms after the kill (a\n"
          "                           new incarnation, which rejoins through its seed)\n"
          "  --items N                work items (default 5000)\n"
          "  --rate R                 items sent per second (default 1000)\n"
          "  --window W               items in flight at most (default 64)\n"
          "  --work-ms M              how long a worker takes per item (default 20)\n"
          "  --nodes N                node processes, 2..%d (default 3)\n"
          "  --workers-per-node K     the pool's initial size per node (default 2)\n"
          "  --worker-faults F        a worker fails on about 1 item in F (default 0: never)\n"
          "  --crash-coordinator-ms T make the coordinator fail T ms after the start (right\n"
          "                           after journaling an acknowledgement, before answering)\n"
          "  --journal-dir DIR        the coordinator's journal (kept; default: a temporary\n"
          "                           directory, removed at the end)\n"
          "  --journal-sync none|batch|each  when a record reaches the disk (default none:\n"
          "                           it survives the coordinator's and n1's crashes)\n"
          "  --no-journal             keep the acknowledged set in memory only\n"
          "  --heartbeat-ms H         (default 100)\n"
          "  --heartbeat-timeout-ms D (default 400)\n"
          "  --threads T              acto worker threads per node (default 2)\n"
          "  --timeout-ms T           give up after T ms (default: items/rate + 30 s)\n"
          "  --quiet                  no progress lines\n"
          "  --verbose                the nodes' connection logs (acto's log lines)\n"
          "\n"
          "Example: cluster --kill n3 --after-ms 1500 --restart-after-ms 1000 --items 5000\n",
          CLUSTER_MAX_NODES);
}

/* ---- options ------------------------------------------------------------------- */

static int num(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static int parse(int argc, char **argv, cluster_opts *o) {
  static const struct option longopts[] = {{"node", required_argument, NULL, 'N'},
                                           {"nodes", required_argument, NULL, 'n'},
                                           {"workers-per-node", required_argument, NULL, 'w'},
                                           {"items", required_argument, NULL, 'i'},
                                           {"rate", required_argument, NULL, 'r'},
                                           {"window", required_argument, NULL, 'W'},
                                           {"work-ms", required_argument, NULL, 'm'},
                                           {"kill", required_argument, NULL, 'k'},
                                           {"after-ms", required_argument, NULL, 'a'},
                                           {"signal", required_argument, NULL, 's'},
                                           {"worker-faults", required_argument, NULL, 'f'},
                                           {"crash-coordinator-ms", required_argument, NULL, 'c'},
                                           {"timeout-ms", required_argument, NULL, 't'},
                                           {"heartbeat-ms", required_argument, NULL, 'b'},
                                           {"heartbeat-timeout-ms", required_argument, NULL, 'B'},
                                           {"threads", required_argument, NULL, 'T'},
                                           {"restart-after-ms", required_argument, NULL, 'R'},
                                           {"journal-dir", required_argument, NULL, 'J'},
                                           {"journal-sync", required_argument, NULL, 'S'},
                                           {"no-journal", no_argument, NULL, 'j'},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {"verbose", no_argument, NULL, 'v'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->nnodes = 3, o->per_node = 2, o->items = 5000, o->rate = 1000, o->window = 64;
  o->threads = 2, o->work_ms = 20, o->after_ms = 2000;
  o->heartbeat_ms = 100, o->heartbeat_timeout_ms = 400;
  o->sig = SIGKILL;
  o->journal_sync = ACTO_JOURNAL_SYNC_NONE;
  int c;
  int64_t v = 0;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case 'N':
      o->node = optarg;
      break;
    case 'n':
      bad = num(optarg, 2, CLUSTER_MAX_NODES, &v);
      o->nnodes = (uint32_t)v;
      break;
    case 'w':
      bad = num(optarg, 1, 16, &v);
      o->per_node = (uint32_t)v;
      break;
    case 'i':
      bad = num(optarg, 1, CLUSTER_MAX_ITEMS, &v);
      o->items = (uint32_t)v;
      break;
    case 'r':
      bad = num(optarg, 1, 1000000, &v);
      o->rate = (uint32_t)v;
      break;
    case 'W':
      bad = num(optarg, 1, 100000, &v);
      o->window = (uint32_t)v;
      break;
    case 'm':
      bad = num(optarg, 0, 60000, &v);
      o->work_ms = (uint32_t)v;
      break;
    case 'k':
      o->kill = optarg;
      break;
    case 'a':
      bad = num(optarg, 0, 3600000, &o->after_ms);
      break;
    case 's':
      if (strcmp(optarg, "KILL") == 0 || strcmp(optarg, "SIGKILL") == 0)
        o->sig = SIGKILL;
      else if (strcmp(optarg, "STOP") == 0 || strcmp(optarg, "SIGSTOP") == 0)
        o->sig = SIGSTOP;
      else
        bad = 1;
      break;
    case 'f':
      bad = num(optarg, 0, 1000000000, &v);
      o->faults = (uint32_t)v;
      break;
    case 'c':
      bad = num(optarg, 1, 3600000, &o->crash_coord_ms);
      break;
    case 't':
      bad = num(optarg, 1, 86400000, &o->timeout_ms);
      break;
    case 'b':
      bad = num(optarg, 1, 60000, &o->heartbeat_ms);
      break;
    case 'B':
      bad = num(optarg, 1, 600000, &o->heartbeat_timeout_ms);
      break;
    case 'T':
      bad = num(optarg, 1, 64, &v);
      o->threads = (unsigned)v;
      break;
    case 'R':
      bad = num(optarg, 1, 3600000, &o->restart_after_ms);
      break;
    case 'J':
      o->journal_dir = optarg;
      bad = !*optarg || strlen(optarg) >= CLUSTER_PATH_MAX;
      break;
    case 'S':
      if (strcmp(optarg, "none") == 0)
        o->journal_sync = ACTO_JOURNAL_SYNC_NONE;
      else if (strcmp(optarg, "batch") == 0)
        o->journal_sync = ACTO_JOURNAL_SYNC_BATCH;
      else if (strcmp(optarg, "each") == 0)
        o->journal_sync = ACTO_JOURNAL_SYNC_EACH;
      else
        bad = 1;
      break;
    case 'j':
      o->no_journal = 1;
      break;
    case 'q':
      o->quiet = 1;
      break;
    case 'v':
      o->verbose = 1;
      break;
    case 'h':
      usage(stdout);
      exit(0);
    default:
      fprintf(stderr, "cluster: unknown option %s\n", argv[optind - 1]);
      return -1;
    }
    if (bad) {
      fprintf(stderr, "cluster: bad value for %s\n", argv[optind - 1]);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "cluster: unexpected argument %s\n", argv[optind]);
    return -1;
  }
  if (o->per_node * o->nnodes > CLUSTER_MAX_WORKERS) {
    fprintf(stderr, "cluster: at most %d workers in all\n", CLUSTER_MAX_WORKERS);
    return -1;
  }
  if (o->kill) {
    char *end;
    unsigned long k = o->kill[0] == 'n' ? strtoul(o->kill + 1, &end, 10) : 0;
    if (k < 2 || k > o->nnodes || *end) {
      fprintf(stderr, "cluster: --kill takes n2..n%u (n1 runs the coordinator and client)\n",
              o->nnodes);
      return -1;
    }
  }
  if (o->restart_after_ms && !o->kill) {
    fprintf(stderr, "cluster: --restart-after-ms needs --kill\n");
    return -1;
  }
  if (o->no_journal && o->journal_dir) {
    fprintf(stderr, "cluster: --no-journal and --journal-dir exclude each other\n");
    return -1;
  }
  if (!o->timeout_ms)
    o->timeout_ms = (int64_t)o->items * 1000 / o->rate + o->after_ms + o->restart_after_ms + 30000;
  return 0;
}

/* ---- the launcher ------------------------------------------------------------------- */

typedef struct child {
  char name[CLUSTER_NAME_MAX];
  pid_t pid;   /* 0: not started or reaped */
  int in, out; /* its stdin (we write), its stdout (we read); -1 closed */
  char buf[4096];
  size_t len;
  unsigned port;
  int ready, gone, status;
} child;

static child kids[CLUSTER_MAX_NODES];
static uint32_t nkids;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cluster: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
}

static void send_line(child *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_line(child *k, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (k->in < 0 || n <= 0 || (size_t)n >= sizeof line)
    return;
  const char *p = line;
  while (n > 0) { /* EPIPE (the node died) is ignored: SIGPIPE is */
    ssize_t w = write(k->in, p, (size_t)n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    p += w, n -= (int)w;
  }
}

static int start_child(child *k, const char *exe, int argc, char **argv) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0)
    return -1;
  if (pipe2(out, O_CLOEXEC) < 0) {
    close(in[0]), close(in[1]);
    return -1;
  }
  char *args[64];
  int n = 0;
  args[n++] = (char *)exe;
  args[n++] = "--node";
  args[n++] = k->name;
  for (int i = 1; i < argc && n < 63; i++)
    args[n++] = argv[i];
  args[n] = NULL;
  pid_t parent = getpid();
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return -1;
  }
  if (pid == 0) {
    /* Die with the launcher, whatever kills it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
      _exit(126);
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
      _exit(126);
    signal(SIGINT, SIG_IGN); /* ^C goes to the launcher, which stops the nodes */
    execv(exe, args);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  k->pid = pid;
  k->in = in[1];
  k->out = out[0];
  return 0;
}

/* Reaps child k if it has exited (block: wait for it).  1 when reaped. */
static int reap(child *k, int block) {
  if (!k->pid)
    return 1;
  int st;
  pid_t r;
  while ((r = waitpid(k->pid, &st, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r != k->pid)
    return 0;
  k->status = st;
  k->pid = 0;
  return 1;
}

/* Every exit path: end the nodes' input, give them 3 s, kill the rest,
 * reap all of them by pid. */
static void stop_all(int kill_now) {
  for (uint32_t i = 0; i < nkids; i++) {
    if (kids[i].in >= 0)
      close(kids[i].in);
    kids[i].in = -1;
    if (kill_now && kids[i].pid)
      kill(kids[i].pid, SIGKILL);
  }
  int64_t end = cluster_now_us() + 3000000;
  for (;;) {
    int left = 0;
    for (uint32_t i = 0; i < nkids; i++)
      left += !reap(&kids[i], 0);
    if (!left || cluster_now_us() > end)
      break;
    usleep(5000);
  }
  for (uint32_t i = 0; i < nkids; i++) {
    if (kids[i].pid) {
      kill(kids[i].pid, SIGKILL);
      reap(&kids[i], 1);
    }
    if (kids[i].out >= 0)
      close(kids[i].out);
    kids[i].out = -1;
  }
}

typedef void (*line_fn)(child *k, const char *line, void *user);

/* Reads what the children wrote within timeout_ms and hands over each
 * complete line.  A child whose stdout ends is marked gone.  Returns -1
 * when a stop signal arrived. */
static int pump(int timeout_ms, line_fn fn, void *user) {
  struct pollfd p[CLUSTER_MAX_NODES];
  int idx[CLUSTER_MAX_NODES], n = 0;
  for (uint32_t i = 0; i < nkids; i++)
    if (kids[i].out >= 0)
      p[n] = (struct pollfd){kids[i].out, POLLIN, 0}, idx[n++] = (int)i;
  int r = poll(p, (nfds_t)n, timeout_ms);
  if (stop_signal)
    return -1;
  if (r <= 0)
    return 0;
  for (int j = 0; j < n; j++) {
    if (!p[j].revents)
      continue;
    child *k = &kids[idx[j]];
    for (;;) {
      if (k->len == sizeof k->buf)
        k->len = 0; /* a runaway line: drop it */
      ssize_t got = read(k->out, k->buf + k->len, sizeof k->buf - k->len);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0 && errno == EAGAIN)
        break;
      if (got <= 0) {
        close(k->out);
        k->out = -1;
        k->gone = 1;
        break;
      }
      k->len += (size_t)got;
      char *nl;
      while ((nl = memchr(k->buf, '\n', k->len))) {
        *nl = '\0';
        fn(k, k->buf, user);
        size_t used = (size_t)(nl - k->buf) + 1;
        memmove(k->buf, nl + 1, k->len - used);
        k->len -= used;
      }
    }
  }
  return 0;
}

/* The journal's temporary directory: <tmp>/acto_cluster.XXXXXX/journal. */
static char tmp_top[256], tmp_journal[300];

static const char *make_journal_dir(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmp_top, sizeof tmp_top, "%s/acto_cluster.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmp_top)) {
    tmp_top[0] = '\0';
    return NULL;
  }
  snprintf(tmp_journal, sizeof tmp_journal, "%s/journal", tmp_top);
  return tmp_journal;
}

static void remove_journal_dir(void) {
  if (!tmp_top[0])
    return;
  const char *files[] = {"journal.log", "journal.snap", "journal.log.tmp", "journal.snap.tmp"};
  char p[400];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", tmp_journal, files[i]);
    (void)unlink(p);
  }
  (void)rmdir(tmp_journal);
  (void)rmdir(tmp_top);
  tmp_top[0] = '\0';
}

typedef struct launch {
  const cluster_opts *o;
  int64_t started_us; /* from n1's @started */
} launch;

static void on_line(child *k, const char *line, void *user) {
  launch *l = user;
  unsigned port;
  long long t;
  if (sscanf(line, "@port %u", &port) == 1)
    k->port = port;
  else if (strcmp(line, "@ready") == 0)
    k->ready = 1;
  else if (sscanf(line, "@started %lld", &t) == 1)
    l->started_us = t;
  else if (line[0] != '@') {
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }
}

/* Waits until pred holds for every node (or fails: -1). */
static int wait_all(launch *l, int (*pred)(const child *), int64_t timeout_ms, const char *what) {
  int64_t end = cluster_now_us() + timeout_ms * 1000;
  for (;;) {
    uint32_t ok = 0;
    for (uint32_t i = 0; i < nkids; i++) {
      if (kids[i].gone) {
        say("node %s exited while %s", kids[i].name, what);
        return -1;
      }
      ok += (uint32_t)pred(&kids[i]);
    }
    if (ok == nkids)
      return 0;
    if (cluster_now_us() > end) {
      say("timed out %s", what);
      return -1;
    }
    if (pump(20, on_line, l) < 0)
      return -1;
  }
}

static int is_ready(const child *k) { return k->ready; }

static int launcher(const cluster_opts *o, int argc, char **argv) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    perror("cluster: /proc/self/exe");
    return 2;
  }
  exe[n] = '\0';
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  uint8_t key[32];
  char hex[sizeof key * 2 + 1];
  if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
    perror("cluster: getrandom");
    return 2;
  }
  for (size_t i = 0; i < sizeof key; i++)
    snprintf(hex + 2 * i, 3, "%02x", key[i]);

  launch l = {o, 0};
  int status = 2;
  nkids = o->nnodes;
  for (uint32_t i = 0; i < nkids; i++) {
    snprintf(kids[i].name, sizeof kids[i].name, "n%u", i + 1);
    kids[i].in = kids[i].out = -1;
  }
  /* n1 first: the others join the cluster through it (their seed). */
  if (start_child(&kids[0], exe, argc, argv) < 0) {
    perror("cluster: starting a node");
    goto out;
  }
  send_line(&kids[0], "key %s\nseed -\n", hex);
  while (!kids[0].port) {
    if (kids[0].gone) {
      say("node n1 exited while starting");
      goto out;
    }
    if (pump(20, on_line, &l) < 0)
      goto out;
  }
  for (uint32_t i = 1; i < nkids; i++) {
    if (start_child(&kids[i], exe, argc, argv) < 0) {
      perror("cluster: starting a node");
      goto out;
    }
    send_line(&kids[i], "key %s\nseed n1:%u\n", hex, kids[0].port);
  }
  if (wait_all(&l, is_ready, 30000, "waiting for the nodes to join") < 0)
    goto out;
  printf("cluster: %u nodes up and connected:", nkids);
  for (uint32_t i = 0; i < nkids; i++)
    printf("%s %s 127.0.0.1:%u (pid %d)", i ? "," : "", kids[i].name, kids[i].port,
           (int)kids[i].pid);
  printf("\n");

  child *home = &kids[0], *victim = NULL;
  for (uint32_t i = 0; o->kill && i < nkids; i++)
    if (strcmp(kids[i].name, o->kill) == 0)
      victim = &kids[i];
  if (!o->no_journal && !o->journal_dir) {
    const char *dir = make_journal_dir();
    if (!dir || strlen(dir) >= CLUSTER_PATH_MAX) {
      say("cannot make a temporary directory for the journal: %s", strerror(errno));
      goto out;
    }
    send_line(home, "journal %s\n", dir);
    say("the coordinator's journal: %s (removed at the end)", dir);
  }
  send_line(home, "run\n");
  int64_t end = cluster_now_us() + 10000000;
  while (!l.started_us && !home->gone && cluster_now_us() < end)
    if (pump(20, on_line, &l) < 0)
      goto out;
  if (!l.started_us) {
    say("n1 did not start the work");
    goto out;
  }
  int64_t kill_at = victim ? l.started_us + o->after_ms * 1000 : 0;
  int64_t restart_at = 0;
  int64_t deadline = l.started_us + (o->timeout_ms + 10000) * 1000;
  int killed = 0, restarted = 0;
  while (!home->gone) {
    int64_t now = cluster_now_us();
    if (now > deadline) {
      say("n1 did not finish in time");
      goto out;
    }
    if (victim && !killed && now >= kill_at) {
      killed = 1;
      int64_t t = cluster_now_us();
      kill(victim->pid, o->sig);
      send_line(home, "killed %s %" PRId64 " %d\n", victim->name, t, o->sig);
      printf("[%+9.1f ms] cluster: %s %s (pid %d)\n", (double)(t - l.started_us) / 1000.0,
             o->sig == SIGKILL ? "kill -9" : "kill -STOP", victim->name, (int)victim->pid);
      fflush(stdout);
      if (o->restart_after_ms)
        restart_at = t + o->restart_after_ms * 1000;
    }
    if (restart_at && !restarted && now >= restart_at) {
      /* The old process goes for good (a frozen one is killed now), and a
       * new one with the same name joins through its seed: a new
       * incarnation. */
      restarted = 1;
      if (victim->pid)
        kill(victim->pid, SIGKILL);
      reap(victim, 1);
      if (victim->in >= 0)
        close(victim->in);
      if (victim->out >= 0)
        close(victim->out);
      victim->in = victim->out = -1;
      victim->len = 0;
      victim->port = 0;
      victim->ready = victim->gone = 0;
      int64_t t = cluster_now_us(); /* before it exists: it cannot join earlier */
      if (start_child(victim, exe, argc, argv) < 0) {
        perror("cluster: starting a node again");
        goto out;
      }
      send_line(victim, "key %s\nseed n1:%u\n", hex, kids[0].port);
      send_line(home, "restarted %s %" PRId64 "\n", victim->name, t);
      printf("[%+9.1f ms] cluster: %s started again (pid %d)\n",
             (double)(t - l.started_us) / 1000.0, victim->name, (int)victim->pid);
      fflush(stdout);
    }
    int64_t wait_ms = 50;
    int64_t next = victim && !killed ? kill_at : restart_at && !restarted ? restart_at : 0;
    if (next && (next - now) / 1000 < wait_ms)
      wait_ms = (next - now) / 1000;
    if (pump((int)(wait_ms > 0 ? wait_ms : 0), on_line, &l) < 0)
      goto out;
    for (uint32_t i = 1; i < nkids; i++) {
      child *k = &kids[i];
      if (k->gone == 1 && !(killed && k == victim)) { /* killed by someone else */
        k->gone = 2;
        int64_t t = cluster_now_us();
        printf("[%+9.1f ms] cluster: %s (pid %d) is gone\n", (double)(t - l.started_us) / 1000.0,
               k->name, (int)k->pid);
        fflush(stdout);
        send_line(home, "killed %s %" PRId64 " 0\n", k->name, t);
      }
    }
  }
  reap(home, 1);
  if (killed && o->sig == SIGSTOP && !restarted && victim->pid)
    kill(victim->pid, SIGKILL);
  if (WIFEXITED(home->status))
    status = WEXITSTATUS(home->status);
  else
    say("n1 ended with status %#x", home->status);
out:
  if (stop_signal)
    say("stopped by signal %d", (int)stop_signal);
  stop_all(stop_signal != 0);
  remove_journal_dir(); /* after every node is reaped */
  if (stop_signal)
    status = 128 + stop_signal;
  return status;
}

int main(int argc, char **argv) {
  cluster_opts o;
  if (parse(argc, argv, &o) < 0) {
    usage(stderr);
    return 2;
  }
  if (o.node)
    return cluster_node_main(&o);
  return launcher(&o, argc, argv);
}
