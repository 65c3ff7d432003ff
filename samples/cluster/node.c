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
 *   seed n1:<port> | seed -     @ready        (every member is up)
 *   journal <dir>               (home node: the journal's temporary directory)
 *   run                         @started <t>  (home node: work begins)
 *   killed <name> <t> <signo>   the report, then exit (home node)
 *   restarted <name> <t>
 *   (end of input: stop)
 *
 * Every node creates its acto system and node (acto_node_start before the
 * first spawn, ephemeral port on 127.0.0.1, the key from the launcher so
 * it never appears on a command line) with n1 as its seed (n1 itself has
 * none): the cluster's membership connects every node to every other.
 * It registers the worker behaviour by name (acto_behaviour_register), so
 * the pool's supervisor can spawn workers on it, and waits until it sees
 * every member up.  A node started again after a kill is a new
 * incarnation and joins the same way.  The home node (the first, n1) then
 * starts a supervisor over the coordinator, a supervisor over the pool's
 * remote children (placement.c picks their nodes), and the client; it
 * prints node events and progress as they come, moves workers to a node
 * that rejoined (cluster_rebalance, from this plain thread: it waits for
 * the supervisor), and prints the report once every item is acknowledged
 * and what was to happen to the killed node has happened.  Times are
 * CLOCK_MONOTONIC, shared by every process of the host, so the launcher's
 * kill time is the origin of the timeline.
 *
 * Exit status: 0 when the promises held (every item acknowledged, each
 * once, with the right result; no acknowledged item dispatched again; a
 * node brought back runs workers that acknowledged items), 1 when one did
 * not, 2 when the run could not be made.  A node other than the home node
 * exits 0 at the end of its input.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <acto/acto_cluster.h>
#include <acto/acto_supervisor.h>

#include "cluster.h"

cluster_report cluster_rep = {.mu = PTHREAD_MUTEX_INITIALIZER};

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
    if (lb->len == sizeof lb->buf)
      return -1; /* a line too long */
    int64_t left = (end - cluster_now_us()) / 1000;
    if (left < 0)
      return 0;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno != EINTR)
      return -1;
    if (r <= 0)
      continue;
    ssize_t got = read(fd, lb->buf + lb->len, sizeof lb->buf - lb->len);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (got <= 0)
      return -1;
    lb->len += (size_t)got;
  }
}

static int parse_key(const char *hex, uint8_t *key, size_t cap, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2 || n / 2 > cap || n / 2 < 32)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      return -1;
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

/* A node that joins again after it was down (a new incarnation): the
 * timeline's "rejoined", and the signal to move workers to it. */
static void on_member(void *user, acto_member_event ev, const acto_member *m) {
  uint32_t *was_down = user;
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  int i = cluster_node_index(m->name);
  if (i >= 0 && ev != ACTO_MEMBER_EV_JOINED)
    *was_down |= 1u << i;
  if (i >= 0 && ev == ACTO_MEMBER_EV_JOINED && (*was_down & (1u << i)) &&
      !cluster_rep.node[i].rejoined_us)
    cluster_rep.node[i].rejoined_us = now;
  pthread_mutex_unlock(&cluster_rep.mu);
}

/* Members up now, this node included. */
static uint32_t members_up(acto_system *sys) {
  acto_member m[CLUSTER_MAX_NODES + 8];
  int n = acto_cluster_members(sys, m, sizeof m / sizeof m[0]);
  uint32_t up = 0;
  for (int i = 0; i < n && i < (int)(sizeof m / sizeof m[0]); i++)
    up += m[i].self || m[i].state == ACTO_MEMBER_UP;
  return up;
}

/* ---- the report ------------------------------------------------------------------- */

typedef struct run {
  const cluster_opts *o;
  int self;
  int64_t started_us;
  int killed; /* the node the launcher killed, or -1 */
  int64_t killed_us;
  int killed_sig;
  int rebalanced;                       /* the returned node was given workers (tried) */
  int64_t done_us;                      /* when the client finished */
  uint32_t end_pool[CLUSTER_MAX_NODES]; /* the supervisor's children at the end */
  int end_pool_ok;
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
    if (!counts[j])
      continue;
    int n =
        snprintf(buf + at, cap - at, "%s%u on %s", at ? ", " : "", counts[j], cluster_rep.names[j]);
    if (n < 0 || (size_t)n >= cap - at)
      break;
    at += (size_t)n;
  }
  if (!at)
    snprintf(buf, cap, "none");
}

/* The timeline around the kill, printed by the home node (report lock held). */
static void print_timeline(const run *r, const int64_t *sorted, uint64_t nsorted) {
  const cluster_node_rep *k = &cluster_rep.node[r->killed];
  const char *kname = cluster_rep.names[r->killed];
  int64_t t0 = r->killed_us;
  printf("timeline (ms from the moment %s was %s):\n", kname,
         r->killed_sig == SIGSTOP   ? "frozen with SIGSTOP"
         : r->killed_sig == SIGKILL ? "killed with SIGKILL"
                                    : "seen gone by the launcher");
  int64_t detect = k->detect_us ? k->detect_us : k->hook_down_us;
  if (detect) {
    printf("  node %s down detected at %+.1f ms (", kname, ms_from(detect, t0));
    if (k->detect_us)
      printf("the coordinator's first DOWN with NOCONNECTION");
    if (k->detect_us && k->hook_down_us)
      printf("; ");
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
    printf("  workers restarted on the survivors at %+.1f ms (%u worker%s placed by the "
           "supervisor: %s)\n",
           ms_from(k->replaced_us, t0), k->replaced, k->replaced == 1 ? "" : "s", where);
  } else {
    printf("  workers restarted on the survivors: %u of %u lost workers placed\n", k->replaced,
           k->lost);
  }
  /* Work resumed: the first acknowledgement of an item the dead node held. */
  if (k->redisp_ack_us)
    printf("  work resumed at %+.1f ms (first acknowledgement of an item it held, sent again, on "
           "%s; %u item%s re-dispatched)\n",
           ms_from(k->redisp_ack_us, t0),
           k->redisp_ack_node >= 0 ? cluster_rep.names[k->redisp_ack_node] : "?", k->redispatched,
           k->redispatched == 1 ? "" : "s");
  else
    printf("  work resumed: no item %s held was acknowledged after the kill (%u re-dispatched)\n",
           kname, k->redispatched);
  if (r->o->restart_after_ms) {
    if (k->restarted_us)
      printf("  %s started again at %+.1f ms (a new incarnation, seed n1)\n", kname,
             ms_from(k->restarted_us, t0));
    if (k->rejoined_us)
      printf("  %s rejoined at %+.1f ms (member event JOINED on %s)\n", kname,
             ms_from(k->rejoined_us, t0), cluster_rep.names[r->self]);
    else
      printf("  %s rejoined: not seen\n", kname);
    if (k->moved) {
      char from[256];
      list_placement(from, sizeof from, k->moved_from, cluster_rep.nnodes);
      printf("  %s got workers again at %+.1f ms (%u moved to it: from %s)\n", kname,
             ms_from(k->moved_us, t0), k->moved, from);
    } else {
      printf("  %s got workers again: no worker was moved to it\n", kname);
    }
    if (k->back_ack_us)
      printf("  %s's workers acknowledged items again from %+.1f ms (%" PRIu64 " items)\n", kname,
             ms_from(k->back_ack_us, t0), k->back_acked);
    else
      printf("  %s's workers acknowledged no item after its return\n", kname);
  }
  /* The client's view: how long acknowledgements paused. */
  int64_t first_after = 0, gap_before = 0, gap_after = 0;
  for (uint64_t i = 0; i < nsorted && !first_after; i++)
    if (sorted[i] > t0)
      first_after = sorted[i];
  for (uint64_t i = 1; i < nsorted; i++) {
    int64_t g = sorted[i] - sorted[i - 1];
    if (sorted[i] <= t0 && sorted[i - 1] >= cluster_rep.pool_ready_us) {
      if (g > gap_before)
        gap_before = g;
    } else if (sorted[i] > t0 && sorted[i - 1] < t0 + 2000000) {
      if (g > gap_after)
        gap_after = g;
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
    if (cluster_rep.ack_us[id])
      sorted[nsorted++] = cluster_rep.ack_us[id];
  if (sorted)
    qsort(sorted, nsorted, sizeof *sorted, cmp_i64);
  printf("\n");
  if (r->killed >= 0 && sorted)
    print_timeline(r, sorted, nsorted);
  else
    printf("no node was killed (try --kill n3)\n");
  char a[256], b[256];
  uint32_t initial[CLUSTER_MAX_NODES];
  for (uint32_t j = 0; j < cluster_rep.nnodes; j++)
    initial[j] = cluster_rep.node[j].initial;
  list_placement(a, sizeof a, initial, cluster_rep.nnodes);
  if (r->end_pool_ok)
    list_placement(b, sizeof b, r->end_pool, cluster_rep.nnodes);
  else
    snprintf(b, sizeof b, "unknown");
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
  printf("\njournal: %s", r->o->no_journal ? "none (--no-journal)" : "on");
  if (!r->o->no_journal)
    printf(", %" PRIu64 " records appended, %" PRIu64 " replayed by restarts",
           cluster_rep.journaled, cluster_rep.replayed);
  if (cluster_rep.crash_item)
    printf("; item %u was %s and the coordinator failed before answering it: %s",
           cluster_rep.crash_item, r->o->no_journal ? "acknowledged" : "journaled",
           !cluster_rep.ack_us[cluster_rep.crash_item] ? "not answered"
           : r->o->no_journal                          ? "its retry was answered"
                                                       : "its retry was answered from the journal");
  uint64_t redisp = cluster_rep.failed_redispatched + cluster_rep.moved_redispatched +
                    cluster_rep.retry_redispatched;
  for (uint32_t j = 0; j < cluster_rep.nnodes; j++)
    redisp += cluster_rep.node[j].redispatched;
  uint64_t lost = n - cluster_rep.nacked;
  int back_ok = 1;
  if (r->o->restart_after_ms && r->killed >= 0) {
    const cluster_node_rep *k = &cluster_rep.node[r->killed];
    back_ok = k->rejoined_us && k->back_acked > 0 && r->end_pool_ok && r->end_pool[r->killed] > 0;
  }
  int ok = lost == 0 && cluster_rep.wrong == 0 && cluster_rep.dup_acks == 0 &&
           cluster_rep.duplicates == 0 && back_ok;
  printf("\nacked=%" PRIu64 "/%u lost=%" PRIu64 " duplicates=%" PRIu64 " redispatched=%" PRIu64
         " late_results=%" PRIu64 " retries=%" PRIu64 " wrong=%" PRIu64 " double_acks=%" PRIu64
         "\n",
         cluster_rep.nacked, n, lost, cluster_rep.duplicates, redisp, cluster_rep.late_results,
         cluster_rep.retries, cluster_rep.wrong, cluster_rep.dup_acks);
  if (ok)
    printf("verdict: OK, no item lost, none dispatched again after its acknowledgement%s\n",
           r->o->restart_after_ms ? ", the returned node works again" : "");
  else
    printf("verdict: FAILED%s%s%s\n",
           lost || cluster_rep.wrong || cluster_rep.dup_acks ? " (items lost or wrong)" : "",
           cluster_rep.duplicates ? " (acknowledged items dispatched again)" : "",
           back_ok ? "" : " (the returned node got no work)");
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
     * after the node joined); reconnections are. */
    if (e->up && !(was_down & bit))
      continue;
    if (!e->up)
      was_down |= bit;
    printf("[%+9.1f ms] %s: node %s is %s (%s)\n", ms_from(e->at_us, r->started_us),
           cluster_rep.names[r->self], e->node >= 0 ? cluster_rep.names[e->node] : "?",
           e->up ? "up" : "down", e->reason);
  }
  if (!r->o->quiet && now >= *next_progress) {
    *next_progress += 1000000;
    printf("[%+9.1f ms] acked %" PRIu64 "/%u, pool:", ms_from(now, r->started_us),
           cluster_rep.nacked, cluster_rep.items);
    for (uint32_t j = 0; j < cluster_rep.nnodes; j++)
      printf(" %s %u", cluster_rep.names[j], cluster_rep.node[j].workers);
    printf("\n");
  }
  pthread_mutex_unlock(&cluster_rep.mu);
}

/* How long the report waits, after the client finished, for what was to
 * happen to the killed node: its workers placed elsewhere, its return. */
#define CLUSTER_GRACE_US 15000000

/* Every item acknowledged and, when a node was to be killed, its workers
 * replaced and, when it was to come back, work done on it again (or given
 * up on CLUSTER_GRACE_US after the client finished). */
static int finished(run *r) {
  pthread_mutex_lock(&cluster_rep.mu);
  int done = cluster_rep.done;
  int64_t now = cluster_now_us();
  if (done && !r->done_us)
    r->done_us = now;
  if (done && r->o->kill) {
    if (r->killed < 0) {
      done = 0; /* the kill is still to come */
    } else {
      const cluster_node_rep *k = &cluster_rep.node[r->killed];
      int replaced = k->lost > 0 && k->replaced >= k->lost;
      int back = !r->o->restart_after_ms || k->back_acked > 0;
      done = (replaced && back) || now > r->done_us + CLUSTER_GRACE_US;
    }
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  return done;
}

/* The pool's children per node, from the supervisor. */
static int end_pool(acto_system *sys, acto_ref sup, uint32_t *counts) {
  acto_child_info info[CLUSTER_MAX_WORKERS];
  size_t n = 0;
  memset(counts, 0, CLUSTER_MAX_NODES * sizeof *counts);
  if (acto_supervisor_which_children(sys, sup, info, CLUSTER_MAX_WORKERS, &n, 10000) < 0)
    return -1;
  for (size_t i = 0; i < n && i < CLUSTER_MAX_WORKERS; i++) {
    char name[ACTO_NODE_NAME_MAX + 1];
    int j = info[i].state == ACTO_CHILD_RUNNING &&
                    acto_node_name(sys, info[i].node, name, sizeof name) == 0
                ? cluster_node_index(name)
                : -1;
    if (j >= 0)
      counts[j]++;
  }
  return 0;
}

/* The pool's supervisor: one remote child per worker, "w1".."wK", placed
 * by cluster_place_fewest.  The workers fail on purpose with
 * --worker-faults and each lost node costs a restart per worker, so the
 * intensity is generous; a start with no node to go to (none can happen:
 * n1 is always up) would be tried again after the backoff. */
static int start_pool(acto_system *sys, const cluster_opts *o, acto_ref *sup) {
  static acto_child_remote rem = {.behaviour = CLUSTER_WORKER_BEHAVIOUR,
                                  .place = cluster_place_fewest};
  static char ids[CLUSTER_MAX_WORKERS][16];
  static acto_child_spec kids[CLUSTER_MAX_WORKERS];
  uint8_t arg[32];
  cluster_worker_arg wa = {o->faults, o->work_ms};
  acto_msgpack_buf b;
  int rc = acto_msgpack_buf_init(&b);
  if (rc == 0)
    rc = cluster_worker_arg_pack(acto_msgpack_buf_packer(&b), &wa);
  if (rc == 0 && b.size > sizeof arg)
    rc = ACTO_ETOOBIG;
  size_t arg_size = b.size;
  if (rc == 0)
    memcpy(arg, b.data, b.size);
  acto_msgpack_buf_free(&b);
  if (rc < 0)
    return rc;
  uint32_t k = o->per_node * o->nnodes; /* at most CLUSTER_MAX_WORKERS (main.c) */
  if (k > CLUSTER_MAX_WORKERS)
    return ACTO_EINVAL;
  for (uint32_t i = 0; i < k; i++) {
    snprintf(ids[i], sizeof ids[i], "w%u", i + 1);
    kids[i] = (acto_child_spec){.id = ids[i],
                                .kind = ACTO_WORKER,
                                .remote = &rem,
                                .arg = arg,
                                .arg_size = arg_size,
                                .restart = ACTO_PERMANENT};
  }
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE,
                        .intensity = 1000,
                        .period_ms = 10000,
                        .backoff_min_ms = 10,
                        .backoff_max_ms = 200,
                        .children = kids,
                        .nchildren = k};
  return acto_supervisor_start(sys, &spec, "cluster.pool", sup);
}

/* The home node's run: the coordinator, the pool, the client, the log,
 * the moves to a returned node, the report. */
static int home(acto_system *sys, const cluster_opts *o, int self, linebuf *lb) {
  char line[512], journal_dir[CLUSTER_PATH_MAX] = "";
  int rc;
  do { /* "journal <dir>": the temporary directory the launcher made */
    rc = read_line(0, lb, line, sizeof line, 60000);
    if (rc == 1 && strncmp(line, "journal ", 8) == 0 && strlen(line + 8) < sizeof journal_dir)
      memcpy(journal_dir, line + 8, strlen(line + 8) + 1);
  } while (rc == 1 && strcmp(line, "run") != 0);
  if (rc != 1)
    return 2;

  cluster_coord_arg ca;
  memset(&ca, 0, sizeof ca);
  ca.items = o->items;
  ca.nnodes = o->nnodes;
  ca.journal = o->no_journal ? 0 : 1 + (uint32_t)o->journal_sync;
  snprintf(ca.journal_dir, sizeof ca.journal_dir, "%s",
           o->journal_dir ? o->journal_dir : journal_dir);
  memcpy(ca.names, cluster_rep.names, sizeof ca.names);
  uint32_t cap = 4 * o->window + 256;
  acto_child_spec kid = {.id = "coordinator",
                         .kind = ACTO_WORKER,
                         .behaviour = &cluster_coord_behaviour,
                         .arg = &ca,
                         .arg_size = sizeof ca,
                         .restart = ACTO_PERMANENT,
                         .name = CLUSTER_COORDINATOR,
                         .capacity = cap > ACTO_MAILBOX_DEFAULT_CAPACITY ? cap : 0};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE,
                        .intensity = 5,
                        .period_ms = 10000,
                        .children = &kid,
                        .nchildren = 1};
  acto_ref coord_sup, pool_sup, client, coord;
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.items = o->items;
  cluster_rep.pool_size = o->per_node * o->nnodes;
  cluster_rep.ack_us = calloc((size_t)o->items + 1, sizeof *cluster_rep.ack_us);
  cluster_rep.acked = calloc((size_t)o->items + 1, 1);
  memset(cluster_rep.child_node, -1, sizeof cluster_rep.child_node);
  pthread_mutex_unlock(&cluster_rep.mu);
  if (!cluster_rep.ack_us || !cluster_rep.acked)
    return 2;
  if ((rc = acto_supervisor_start(sys, &spec, "cluster.coord", &coord_sup)) < 0 ||
      (rc = acto_lookup(sys, CLUSTER_COORDINATOR, &coord)) < 0) {
    fprintf(stderr, "cluster: %s: the coordinator: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  if ((rc = start_pool(sys, o, &pool_sup)) < 0) {
    fprintf(stderr, "cluster: %s: the pool: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  /* The client's deadline: well past an item's round trip. */
  cluster_client_arg cla = {o->items, o->rate, o->window, 1000 + 2 * o->work_ms};
  if ((rc = acto_spawn(sys, &cluster_client_behaviour, &cla, NULL, &client)) < 0) {
    fprintf(stderr, "cluster: %s: the client: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  run r = {.o = o, .self = self, .started_us = cluster_now_us(), .killed = -1};
  printf("@started %" PRId64 "\n", r.started_us);
  printf("[%+9.1f ms] %s: pool of %u workers (remote children of a supervisor on %s) on %u "
         "nodes; client sends %u items at %u/s, %u ms of work each; journal %s\n",
         0.0, o->node, o->per_node * o->nnodes, o->node, o->nnodes, o->items, o->rate, o->work_ms,
         o->no_journal ? "off" : "on");

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
    if (r.killed >= 0 && !r.rebalanced) {
      pthread_mutex_lock(&cluster_rep.mu);
      int64_t back = cluster_rep.node[r.killed].rejoined_us;
      pthread_mutex_unlock(&cluster_rep.mu);
      if (back) {
        r.rebalanced = 1;
        int moved = cluster_rebalance(sys, pool_sup, r.killed, members_up(sys));
        printf("[%+9.1f ms] %s: %s rejoined; ", ms_from(cluster_now_us(), r.started_us), o->node,
               cluster_rep.names[r.killed]);
        if (moved >= 0)
          printf("moved %d worker%s to it\n", moved, moved == 1 ? "" : "s");
        else
          printf("moving workers to it failed: %s\n", acto_strerror(moved));
      }
    }
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
    } else if (rc == 1 && sscanf(line, "restarted %16s %lld", name, &t) == 2) {
      int i = cluster_node_index(name);
      pthread_mutex_lock(&cluster_rep.mu);
      if (i >= 0)
        cluster_rep.node[i].restarted_us = t;
      pthread_mutex_unlock(&cluster_rep.mu);
    }
  }
  live_log(&r, &printed, &next_progress);
  r.end_pool_ok = end_pool(sys, pool_sup, r.end_pool) == 0;
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
  char line[512], seed_line[512];
  uint8_t key[64];
  size_t key_len = 0;
  if (read_line(0, &lb, line, sizeof line, 10000) != 1 || strncmp(line, "key ", 4) != 0 ||
      parse_key(line + 4, key, sizeof key, &key_len) < 0) {
    fprintf(stderr, "cluster: %s: no key from the launcher\n", o->node);
    return 2;
  }
  /* "seed n1:<port>", or "seed -" for n1, which others join through. */
  char seed_name[CLUSTER_NAME_MAX + 1];
  unsigned seed_port = 0;
  acto_node_seed seed = {0};
  if (read_line(0, &lb, seed_line, sizeof seed_line, 10000) != 1 ||
      (strcmp(seed_line, "seed -") != 0 &&
       (sscanf(seed_line, "seed %16[^:]:%u", seed_name, &seed_port) != 2 || seed_port == 0 ||
        seed_port > 65535))) {
    fprintf(stderr, "cluster: %s: no seed from the launcher\n", o->node);
    return 2;
  }
  seed = (acto_node_seed){seed_name, "127.0.0.1", (uint16_t)seed_port};

  acto_system *sys = NULL;
  acto_config cfg = {.threads = o->threads};
  int rc = acto_system_create(&cfg, &sys);
  if (rc < 0) {
    fprintf(stderr, "cluster: %s: acto_system_create: %s\n", o->node, acto_strerror(rc));
    return 2;
  }
  /* acto's own lines (connections opened and closed) only with --verbose. */
  if (!o->verbose)
    acto_set_log_level(sys, ACTO_LOG_OFF);
  acto_node_config nc = {.name = o->node,
                         .key = key,
                         .key_len = key_len,
                         .listen_host = "127.0.0.1",
                         .listen_port = 0,
                         .heartbeat_ms = o->heartbeat_ms,
                         .heartbeat_timeout_ms = o->heartbeat_timeout_ms,
                         .seeds = seed_port ? &seed : NULL,
                         .nseeds = seed_port ? 1 : 0};
  int status = 2;
  uint16_t port = 0;
  static uint32_t was_down;
  const char *step = "acto_node_start";
  if ((rc = acto_node_start(sys, &nc)) < 0 ||
      (step = "event hook", rc = acto_node_set_event_hook(sys, on_node_event, NULL)) < 0 ||
      (step = "member hook", rc = acto_cluster_set_member_hook(sys, on_member, &was_down)) < 0 ||
      (step = "acto_behaviour_register",
       rc = acto_behaviour_register(sys, CLUSTER_WORKER_BEHAVIOUR, &cluster_worker_behaviour)) <
          0 ||
      (step = "acto_node_port", rc = acto_node_port(sys, &port)) < 0) {
    fprintf(stderr, "cluster: %s: %s: %s\n", o->node, step, acto_strerror(rc));
    goto out;
  }
  printf("@port %u\n", port);

  /* The membership connects every node to every other: wait for all. */
  int64_t end = cluster_now_us() + 30000000;
  while (members_up(sys) < o->nnodes) {
    if (cluster_now_us() > end) {
      fprintf(stderr, "cluster: %s: only %u of %u members up\n", o->node, members_up(sys),
              o->nnodes);
      goto out;
    }
    usleep(1000);
  }
  printf("@ready\n");

  if (self == 0) {
    status = home(sys, o, self, &lb);
  } else {
    while ((rc = read_line(0, &lb, line, sizeof line, 1000)) >= 0)
      if (rc == 1 && strcmp(line, "quit") == 0)
        break;
    status = 0;
  }
out:
  fflush(stdout);
  rc = acto_system_shutdown(sys);
  if (rc < 0)
    fprintf(stderr, "cluster: %s: shutdown: %s\n", o->node, acto_strerror(rc));
  pthread_mutex_lock(&cluster_rep.mu);
  free(cluster_rep.ack_us);
  free(cluster_rep.acked);
  cluster_rep.ack_us = NULL;
  cluster_rep.acked = NULL;
  pthread_mutex_unlock(&cluster_rep.mu);
  return status;
}
