/* node.c - one node process of the cluster sample (`cluster --node NAME`,
 * started by the launcher in main.c).
 *
 * DESIGN
 * The launcher talks to a node over its stdin and stdout, one line at a
 * time; lines the node writes for the launcher start with '@', any other
 * line is for the user and is passed on.
 *
 *   launcher -> node            node -> launcher
 *   key <hex>                   @port <listening port>
 *   peers n1:<port> n2:<port>   @ready        (connected to every peer)
 *   run                         @started <t>  (home node: work begins)
 *   killed <name> <t> <signo>   the report, then exit (home node)
 *   (end of input: stop)
 *
 * Every node creates its acto system and node (acto_node_start before the
 * first spawn, ephemeral port on 127.0.0.1, the key from the launcher so
 * it never appears on a command line), starts a supervisor over its
 * spawner, reports its port, connects to the peers after it in the list
 * (the others connect to it) and waits until all of them are up.  The
 * home node (the first, n1) then starts a second supervisor over the
 * coordinator, and the client; it prints node events and progress as
 * they come, and the report once every item is acknowledged and, when a
 * node is to be killed, its workers have been replaced.  Times are
 * CLOCK_MONOTONIC, shared by every process of the host, so the launcher's
 * kill time is the origin of the timeline.
 *
 * Exit status: 0 when no item was lost (every one acknowledged, each once,
 * with the right result), 1 when one was, 2 when the run could not be
 * made.  A node other than the home node exits 0 at the end of its input.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"

cluster_report cluster_rep = {.mu = PTHREAD_MUTEX_INITIALIZER};

int cluster_node_index(const char *name) {
  for (uint32_t i = 0; i < cluster_rep.nnodes; i++)
    if (strcmp(cluster_rep.names[i], name) == 0) return (int)i;
  return -1;
}

/* ---- the control channel ----------------------------------------------------- */

typedef struct linebuf {
  char buf[4096];
  size_t len;
} linebuf;

/* One line (without its newline) from fd within timeout_ms: 1, 0 on
 * timeout, -1 at the end of input or on an error. */
static int read_line(int fd, linebuf *lb, char *out, size_t cap, int64_t timeout_ms) {
  int64_t end = cluster_now_us() + timeout_ms * 1000;
  for (;;) {
    char *nl = memchr(lb->buf, '\n', lb->len);
    if (nl) {
      size_t n = (size_t)(nl - lb->buf);
      size_t k = n < cap - 1 ? n : cap - 1;
      memcpy(out, lb->buf, k);
      out[k] = '\0';
      memmove(lb->buf, nl + 1, lb->len - n - 1);
      lb->len -= n + 1;
      return 1;
    }
    if (lb->len == sizeof lb->buf) return -1; /* a line too long */
    int64_t left = (end - cluster_now_us()) / 1000;
    if (left < 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno != EINTR) return -1;
    if (r <= 0) continue;
    ssize_t got = read(fd, lb->buf + lb->len, sizeof lb->buf - lb->len);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return -1;
    lb->len += (size_t)got;
  }
}

static int parse_key(const char *hex, uint8_t *key, size_t cap, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2 || n / 2 > cap || n / 2 < 32) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
    key[i] = (uint8_t)v;
  }
  *len = n / 2;
  return 0;
}

/* ---- node events ---------------------------------------------------------------- */

static void on_node_event(void *user, acto_node_event ev, const char *name, uint64_t id,
                          const char *reason) {
  (void)user, (void)id;
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  int i = cluster_node_index(name);
  if (ev == ACTO_NODE_DOWN && i >= 0 && !cluster_rep.node[i].hook_down_us) {
    cluster_rep.node[i].hook_down_us = now;
    snprintf(cluster_rep.node[i].hook_reason, sizeof cluster_rep.node[i].hook_reason, "%s",
             reason ? reason : "");
  }
  if (cluster_rep.nevents < CLUSTER_EVENTS) {
    cluster_event *e = &cluster_rep.events[cluster_rep.nevents++];
    e->at_us = now;
    e->node = i;
    e->up = ev == ACTO_NODE_UP;
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
  }
  pthread_mutex_unlock(&cluster_rep.mu);
}

/* ---- the report ------------------------------------------------------------------- */

typedef struct run {
  const cluster_opts *o;
  int self;
  int64_t started_us;
  int killed;           /* the node the launcher killed, or -1 */
  int64_t killed_us;
  int killed_sig;
} run;

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static double ms_from(int64_t t, int64_t origin) { return (double)(t - origin) / 1000.0; }

static void list_placement(char *buf, size_t cap, const uint32_t *counts, uint32_t nnodes) {
  size_t at = 0;
  buf[0] = '\0';
  for (uint32_t j = 0; j < nnodes; j++) {
    if (!counts[j]) continue;
    int n = snprintf(buf + at, cap - at, "%s%u on %s", at ? ", " : "", counts[j],
                     cluster_rep.names[j]);
    if (n < 0 || (size_t)n >= cap - at) break;
    at += (size_t)n;
  }
}

/* The timeline around the kill, printed by the home node (report lock held). */
static void print_timeline(const run *r, const int64_t *sorted, uint64_t nsorted) {
  const cluster_node_rep *k = &cluster_rep.node[r->killed];
  const char *kname = cluster_rep.names[r->killed];
  int64_t t0 = r->killed_us;
  printf("timeline (ms from the moment %s was %s):\n", kname,
         r->killed_sig == SIGSTOP ? "frozen with SIGSTOP"
         : r->killed_sig == SIGKILL ? "killed with SIGKILL"
                                    : "seen gone by the launcher");
  int64_t detect = k->detect_us ? k->detect_us : k->hook_down_us;
  if (detect) {
    printf("  node %s down detected at %+.1f ms (", kname, ms_from(detect, t0));
    if (k->detect_us) printf("the coordinator's first DOWN with NOCONNECTION");
    if (k->detect_us && k->hook_down_us) printf("; ");
    if (k->hook_down_us)
      printf("%s's node event at %+.1f ms: %s", cluster_rep.names[r->self],
             ms_from(k->hook_down_us, t0), k->hook_reason);
    printf(")\n");
  } else {
    printf("  node %s down: not detected\n", kname);
  }
  if (k->lost && k->replaced >= k->lost) {
    char where[256];
    list_placement(where, sizeof where, k->placed, cluster_rep.nnodes);
    printf("  workers restarted at %+.1f ms (%u worker%s: %s)\n", ms_from(k->replaced_us, t0),
           k->replaced, k->replaced == 1 ? "" : "s", where);
  } else {
    printf("  workers restarted: %u of %u lost workers replaced\n", k->replaced, k->lost);
  }
  /* Work resumed: the first acknowledgement of an item the dead node held
   * or of an item computed by one of its replacements. */
  int64_t resumed = 0;
  const char *how = "";
  int by = -1;
  if (k->redisp_ack_us && (!k->repl_ack_us || k->redisp_ack_us <= k->repl_ack_us)) {
    resumed = k->redisp_ack_us, by = k->redisp_ack_node;
    how = "an item it held, sent again";
  } else if (k->repl_ack_us) {
    resumed = k->repl_ack_us, by = k->repl_ack_node;
    how = "an item computed by a replacement";
  }
  int64_t first_after = 0;
  for (uint64_t i = 0; i < nsorted && !first_after; i++)
    if (sorted[i] > t0) first_after = sorted[i];
  if (resumed) {
    printf("  work resumed at %+.1f ms (first acknowledgement of %s, on %s; %u item%s "
           "re-dispatched)\n",
           ms_from(resumed, t0), how, by >= 0 ? cluster_rep.names[by] : "?", k->redispatched,
           k->redispatched == 1 ? "" : "s");
  } else {
    printf("  work resumed: no item of %s's share was acknowledged after the kill\n", kname);
  }
  /* The client's view: how long acknowledgements paused. */
  int64_t gap_before = 0, gap_after = 0;
  for (uint64_t i = 1; i < nsorted; i++) {
    int64_t g = sorted[i] - sorted[i - 1];
    if (sorted[i] <= t0 && sorted[i - 1] >= cluster_rep.pool_ready_us) {
      if (g > gap_before) gap_before = g;
    } else if (sorted[i] > t0 && sorted[i - 1] < t0 + 2000000) {
      if (g > gap_after) gap_after = g;
    }
  }
  printf("client: first acknowledgement after the kill at %+.1f ms; longest pause between "
         "acknowledgements %.1f ms before the kill, %.1f ms in the 2 s after it\n",
         first_after ? ms_from(first_after, t0) : 0.0, (double)gap_before / 1000.0,
         (double)gap_after / 1000.0);
}

static int report(const run *r) {
  pthread_mutex_lock(&cluster_rep.mu);
  uint32_t n = cluster_rep.items;
  int64_t *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
  uint64_t nsorted = 0;
  for (uint32_t id = 1; sorted && id <= n; id++)
    if (cluster_rep.ack_us[id]) sorted[nsorted++] = cluster_rep.ack_us[id];
  if (sorted) qsort(sorted, nsorted, sizeof *sorted, cmp_i64);
  printf("\n");
  if (r->killed >= 0 && sorted) print_timeline(r, sorted, nsorted);
  else printf("no node was killed (try --kill n3)\n");
  uint32_t initial[CLUSTER_MAX_NODES], now[CLUSTER_MAX_NODES];
  for (uint32_t j = 0; j < cluster_rep.nnodes; j++) {
    initial[j] = cluster_rep.node[j].initial;
    now[j] = cluster_rep.node[j].workers;
  }
  char a[256], b[256];
  list_placement(a, sizeof a, initial, cluster_rep.nnodes);
  list_placement(b, sizeof b, now, cluster_rep.nnodes);
  printf("pool: %s at the start; %s at the end", a, b);
  if (cluster_rep.worker_failures)
    printf("; %" PRIu64 " worker failures", cluster_rep.worker_failures);
  if (cluster_rep.coord_starts > 1)
    printf("; coordinator restarted %" PRIu64 " time(s)", cluster_rep.coord_starts - 1);
  printf("\nacknowledged by workers on:");
  for (uint32_t j = 0; j < cluster_rep.nnodes; j++)
    printf(" %s %" PRIu64, cluster_rep.names[j], cluster_rep.acked_on[j]);
  if (cluster_rep.from_set)
    printf("; %" PRIu64 " retries answered from the acknowledged set", cluster_rep.from_set);
  uint64_t redisp = cluster_rep.failed_redispatched;
  for (uint32_t j = 0; j < cluster_rep.nnodes; j++) redisp += cluster_rep.node[j].redispatched;
  uint64_t lost = n - cluster_rep.acked;
  int ok = lost == 0 && cluster_rep.wrong == 0 && cluster_rep.dup_acks == 0;
  printf("\nacked=%" PRIu64 "/%u lost=%" PRIu64 " duplicates=%" PRIu64 " redispatched=%" PRIu64
         " retries=%" PRIu64 " wrong=%" PRIu64 " double_acks=%" PRIu64 "\n",
         cluster_rep.acked, n, lost, cluster_rep.duplicates, redisp, cluster_rep.retries,
         cluster_rep.wrong, cluster_rep.dup_acks);
  printf("verdict: %s\n", ok ? "OK, no acknowledged item lost" : "FAILED");
  pthread_mutex_unlock(&cluster_rep.mu);
  free(sorted);
  return ok ? 0 : 1;
}

/* ---- the live log (home node) ------------------------------------------------------ */

/* Prints the node events not printed yet and, every second, the progress. */
static void live_log(const run *r, uint32_t *printed, int64_t *next_progress) {
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  static uint32_t was_down; /* a bit per node: a down event was printed */
  for (; *printed < cluster_rep.nevents; (*printed)++) {
    const cluster_event *e = &cluster_rep.events[*printed];
    uint32_t bit = e->node >= 0 ? 1u << e->node : 0;
    /* The initial connections are not news (their hook may run a moment
     * after acto_node_connect returned); reconnections are. */
    if (e->up && !(was_down & bit)) continue;
    if (!e->up) was_down |= bit;
    printf("[%+9.1f ms] %s: node %s is %s (%s)\n", ms_from(e->at_us, r->started_us),
           cluster_rep.names[r->self], e->node >= 0 ? cluster_rep.names[e->node] : "?",
           e->up ? "up" : "down", e->reason);
  }
  if (!r->o->quiet && now >= *next_progress) {
    *next_progress += 1000000;
    printf("[%+9.1f ms] acked %" PRIu64 "/%u, pool:", ms_from(now, r->started_us),
           cluster_rep.acked, cluster_rep.items);
    for (uint32_t j = 0; j < cluster_rep.nnodes; j++)
      printf(" %s %u", cluster_rep.names[j], cluster_rep.node[j].workers);
    printf("\n");
  }
  pthread_mutex_unlock(&cluster_rep.mu);
}

/* Every item acknowledged and, when a node was to be killed, its workers
 * replaced (or given up on after 5 s). */
static int finished(const run *r) {
  pthread_mutex_lock(&cluster_rep.mu);
  int done = cluster_rep.done;
  if (done && r->o->kill) {
    if (r->killed < 0) {
      done = 0; /* the kill is still to come */
    } else {
      const cluster_node_rep *k = &cluster_rep.node[r->killed];
      int replaced = k->lost > 0 && k->replaced >= k->lost;
      done = replaced || cluster_now_us() > r->killed_us + 5000000;
    }
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  return done;
}

/* The home node's run: the pool, the client, the log, the report. */
static int home(acto_system *sys, const cluster_opts *o, int self, linebuf *lb) {
  char line[512];
  int rc;
  do {
    rc = read_line(0, lb, line, sizeof line, 60000);
  } while (rc == 1 && strcmp(line, "run") != 0);
  if (rc != 1) return 2;

  cluster_coord_arg ca;
  memset(&ca, 0, sizeof ca);
  ca.items = o->items;
  ca.per_node = o->per_node;
  ca.nnodes = o->nnodes;
  ca.self = (uint32_t)self;
  memcpy(ca.names, cluster_rep.names, sizeof ca.names);
  uint32_t cap = 4 * o->window + 256;
  acto_child_spec kid = {.id = "coordinator", .kind = ACTO_WORKER,
                         .behaviour = &cluster_coord_behaviour, .arg = &ca,
                         .arg_size = sizeof ca, .restart = ACTO_PERMANENT,
                         .name = CLUSTER_COORDINATOR,
                         .capacity = cap > ACTO_MAILBOX_DEFAULT_CAPACITY ? cap : 0};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000,
                        .children = &kid, .nchildren = 1};
  acto_ref pool_sup, client, coord;
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.items = o->items;
  cluster_rep.ack_us = calloc((size_t)o->items + 1, sizeof *cluster_rep.ack_us);
  pthread_mutex_unlock(&cluster_rep.mu);
  if (!cluster_rep.ack_us) return 2;
  if ((rc = acto_supervisor_start(sys, &spec, "cluster.pool", &pool_sup)) < 0 ||
      (rc = acto_lookup(sys, CLUSTER_COORDINATOR, &coord)) < 0) {
    fprintf(stderr, "cluster: %s: the pool: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  /* The client's deadline: well past an item's round trip. */
  cluster_client_arg cla = {o->items, o->rate, o->window, 1000 + 2 * o->work_ms};
  if ((rc = acto_spawn(sys, &cluster_client_behaviour, &cla, NULL, &client)) < 0) {
    fprintf(stderr, "cluster: %s: the client: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  run r = {o, self, cluster_now_us(), -1, 0, 0};
  printf("@started %" PRId64 "\n", r.started_us);
  printf("[%+9.1f ms] %s: pool of %u workers per node on %u nodes; client sends %u items at "
         "%u/s, %u ms of work each\n",
         0.0, o->node, o->per_node, o->nnodes, o->items, o->rate, o->work_ms);

  uint32_t printed = 0;
  int64_t next_progress = r.started_us + 1000000;
  int64_t deadline = r.started_us + o->timeout_ms * 1000;
  int crashed = o->crash_coord_ms <= 0;
  while (!finished(&r)) {
    if (cluster_now_us() > deadline) {
      printf("cluster: %s: deadline of %" PRId64 " ms reached\n", o->node, o->timeout_ms);
      break;
    }
    if (!crashed && cluster_now_us() >= r.started_us + o->crash_coord_ms * 1000) {
      crashed = 1;
      printf("[%+9.1f ms] %s: making the coordinator fail\n",
             ms_from(cluster_now_us(), r.started_us), o->node);
      (void)acto_send(sys, coord, CLUSTER_CRASH, NULL, 0);
    }
    live_log(&r, &printed, &next_progress);
    rc = read_line(0, lb, line, sizeof line, 10);
    if (rc < 0) {
      fprintf(stderr, "cluster: %s: the launcher is gone\n", o->node);
      return 2;
    }
    char name[CLUSTER_NAME_MAX + 1];
    long long t;
    int sig;
    if (rc == 1 && sscanf(line, "killed %16s %lld %d", name, &t, &sig) == 3) {
      r.killed = cluster_node_index(name);
      r.killed_us = t;
      r.killed_sig = sig;
    }
  }
  live_log(&r, &printed, &next_progress);
  return report(&r);
}

int cluster_node_main(const cluster_opts *o) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  cluster_rep.nnodes = o->nnodes;
  for (uint32_t i = 0; i < o->nnodes; i++)
    snprintf(cluster_rep.names[i], CLUSTER_NAME_MAX, "n%u", i + 1);
  int self = cluster_node_index(o->node);
  if (self < 0) {
    fprintf(stderr, "cluster: unknown node name %s (n1..n%u)\n", o->node, o->nnodes);
    return 2;
  }
  linebuf lb = {.len = 0};
  char line[512];
  uint8_t key[64];
  size_t key_len = 0;
  if (read_line(0, &lb, line, sizeof line, 10000) != 1 || strncmp(line, "key ", 4) != 0 ||
      parse_key(line + 4, key, sizeof key, &key_len) < 0) {
    fprintf(stderr, "cluster: %s: no key from the launcher\n", o->node);
    return 2;
  }

  acto_system *sys = NULL;
  acto_config cfg = {.threads = o->threads};
  int rc = acto_system_create(&cfg, &sys);
  if (rc < 0) {
    fprintf(stderr, "cluster: %s: acto_system_create: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  /* acto's own lines (connections opened and closed) only with --verbose. */
  if (!o->verbose) acto_set_log_level(sys, ACTO_LOG_OFF);
  acto_node_config nc = {.name = o->node, .key = key, .key_len = key_len,
                         .listen_host = "127.0.0.1", .listen_port = 0,
                         .heartbeat_ms = o->heartbeat_ms,
                         .heartbeat_timeout_ms = o->heartbeat_timeout_ms};
  int status = 2;
  uint16_t port = 0;
  acto_ref node_sup;
  cluster_spawner_arg sa = {o->faults, o->work_ms};
  acto_child_spec kid = {.id = "spawner", .kind = ACTO_WORKER,
                         .behaviour = &cluster_spawner_behaviour, .arg = &sa,
                         .arg_size = sizeof sa, .restart = ACTO_PERMANENT,
                         .name = CLUSTER_SPAWNER};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000,
                        .children = &kid, .nchildren = 1};
  const char *step = "acto_node_start";
  if ((rc = acto_node_start(sys, &nc)) < 0 ||
      (step = "event hook", rc = acto_node_set_event_hook(sys, on_node_event, NULL)) < 0 ||
      (step = "the node's supervisor",
       rc = acto_supervisor_start(sys, &spec, "cluster.node", &node_sup)) < 0 ||
      (step = "acto_node_port", rc = acto_node_port(sys, &port)) < 0) {
    fprintf(stderr, "cluster: %s: %s: %s\n", o->node, step, acto_strerror(rc));
    goto out;
  }
  printf("@port %u\n", port);

  /* Connect to the peers after this one; wait for all of them. */
  if (read_line(0, &lb, line, sizeof line, 10000) != 1 || strncmp(line, "peers ", 6) != 0) {
    fprintf(stderr, "cluster: %s: no peer list from the launcher\n", o->node);
    goto out;
  }
  char *save = NULL;
  for (char *tok = strtok_r(line + 6, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char name[CLUSTER_NAME_MAX + 1];
    unsigned p;
    if (sscanf(tok, "%16[^:]:%u", name, &p) != 2) continue;
    int i = cluster_node_index(name);
    if (i <= self) continue;
    if ((rc = acto_node_connect(sys, name, "127.0.0.1", (uint16_t)p, 5000)) < 0) {
      fprintf(stderr, "cluster: %s: connect to %s: %s\n", o->node, name, acto_strerror(rc));
      goto out;
    }
  }
  int64_t end = cluster_now_us() + 5000000;
  for (uint32_t i = 0; i < o->nnodes; i++) {
    uint64_t id;
    while ((int)i != self && acto_node_id(sys, cluster_rep.names[i], &id) < 0) {
      if (cluster_now_us() > end) {
        fprintf(stderr, "cluster: %s: %s did not connect\n", o->node, cluster_rep.names[i]);
        goto out;
      }
      usleep(1000);
    }
  }
  printf("@ready\n");

  if (self == 0) {
    status = home(sys, o, self, &lb);
  } else {
    while ((rc = read_line(0, &lb, line, sizeof line, 1000)) >= 0)
      if (rc == 1 && strcmp(line, "quit") == 0) break;
    status = 0;
  }
out:
  fflush(stdout);
  rc = acto_system_shutdown(sys);
  if (rc < 0) fprintf(stderr, "cluster: %s: shutdown: %s\n", o->node, acto_strerror(rc));
  pthread_mutex_lock(&cluster_rep.mu);
  free(cluster_rep.ack_us);
  cluster_rep.ack_us = NULL;
  pthread_mutex_unlock(&cluster_rep.mu);
  return status;
}
