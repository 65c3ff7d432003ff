/* cluster.h - the cluster sample: a pool of workers spread over three node
 * processes on loopback, kept at full size by a coordinator that places
 * replacements for lost workers on surviving nodes, and a client whose
 * every work item is acknowledged exactly once, even when a node is killed
 * with SIGKILL (`cluster --help`; the design is described below).
 *
 * The pieces, one file each:
 *   main.c         options and the launcher: starts the node processes,
 *                  wires them up, kills one on schedule, reaps them all
 *   node.c         a node process: its acto system and node, the control
 *                  channel to the launcher, supervisors, the final report
 *   worker.c       the spawner service (one per node) and the workers
 *   coordinator.c  the pool's coordinator: placement, dispatch, failover
 *   client.c       the client: numbered items at a steady rate, retries
 *
 * DESIGN
 * Two kinds of restart.  acto's supervisors are local: they restart
 * children in their own process (in place, keeping the ref).  Each node
 * runs a supervisor over its spawner, and the home node (n1) another over
 * the coordinator.  A worker on a node that died cannot be restarted by
 * anything on that node; the coordinator monitors every worker, and a
 * DOWN - ACTO_REASON_NOCONNECTION when the node went away, a negative
 * reason when the worker failed - makes it ask a surviving node's spawner
 * for a replacement.  Placement across nodes is the coordinator's job,
 * with monitors; local restarts are the supervisors' job.
 *
 * Delivery.  The client asks the coordinator with an item id and retries
 * the same id after a failed or timed-out ask.  The coordinator keeps the
 * request (acto_reply_later), sends the item to a worker and answers the
 * client only when a worker's result arrived; the items a worker held when
 * its DOWN arrived are sent again to another worker.  Processing is at
 * least once (a worker killed after computing but before its result left
 * its node has done the work for nothing), acknowledgement exactly once:
 * the coordinator keeps the set of acknowledged ids and their results,
 * answers a retried id from it, and counts a second result for an
 * acknowledged id as a duplicate instead of acknowledging it again.
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <acto/acto.h>
#include <acto/acto_msgpack.h>

#define CLUSTER_MAX_NODES 8
#define CLUSTER_NAME_MAX 16                 /* node names: "n1" ... "n8" */
#define CLUSTER_MAX_WORKERS 64              /* the pool, over all nodes */
#define CLUSTER_MAX_ITEMS 1000000u
#define CLUSTER_SPAWNER "cluster.spawner"   /* registered on every node */
#define CLUSTER_COORDINATOR "cluster.coordinator" /* registered on n1 */

/* ---- messages -------------------------------------------------------------- */

/* Every payload is msgpack, declared once with ACTO_MSGPACK_STRUCT
 * (acto_msgpack.h): an array of the fields in order, refs as [id, node],
 * so nodes built by different compilers or for different machines read
 * each other.  Each handler unpacks with the type's _unpack_msg, which
 * checks the field count, every type and range; a payload that does not
 * fit is logged (cluster_bad_payload) and dropped. */
enum cluster_msg {
  CLUSTER_SPAWN = 1,   /* ask a spawner (no payload); reply CLUSTER_SPAWNED */
  CLUSTER_SPAWNED = 2, /* cluster_spawned; empty: no worker could start */
  CLUSTER_WORK = 3,    /* coordinator -> worker: cluster_item */
  CLUSTER_RESULT = 4,  /* worker -> coordinator: cluster_result */
  CLUSTER_SUBMIT = 5,  /* ask the coordinator: cluster_item; reply CLUSTER_ACK */
  CLUSTER_ACK = 6,     /* cluster_ack; empty: a malformed request */
  CLUSTER_BOOT = 7,    /* the coordinator to itself: build the pool (no payload) */
  CLUSTER_RESPAWN = 8, /* the coordinator to itself, later: cluster_respawn */
  CLUSTER_TICK = 9,    /* the client's timer (no payload) */
  CLUSTER_CRASH = 10,  /* makes the coordinator fail (restarted in place) */
  CLUSTER_DONE = 11    /* a worker to itself when an item's work time is over:
                          cluster_done */
};

#define CLUSTER_ITEM_FIELDS(F) F(u64, id)
ACTO_MSGPACK_STRUCT(cluster_item, CLUSTER_ITEM_FIELDS)

#define CLUSTER_RESULT_FIELDS(F) F(u64, id) F(u64, value) /* value: cluster_value(id) */
ACTO_MSGPACK_STRUCT(cluster_result, CLUSTER_RESULT_FIELDS)

/* node: the index of the node whose worker computed it */
#define CLUSTER_ACK_FIELDS(F) F(u64, id) F(u64, value) F(i32, node)
ACTO_MSGPACK_STRUCT(cluster_ack, CLUSTER_ACK_FIELDS)

#define CLUSTER_SPAWNED_FIELDS(F) F(ref, worker)
ACTO_MSGPACK_STRUCT(cluster_spawned, CLUSTER_SPAWNED_FIELDS)

/* for_node: a replacement for a worker lost on node index + 1, or 0 */
#define CLUSTER_RESPAWN_FIELDS(F) F(u32, for_node)
ACTO_MSGPACK_STRUCT(cluster_respawn, CLUSTER_RESPAWN_FIELDS)

/* An item being worked on, and whom to answer. */
#define CLUSTER_DONE_FIELDS(F) F(u64, id) F(ref, reply_to)
ACTO_MSGPACK_STRUCT(cluster_done, CLUSTER_DONE_FIELDS)

/* Logs a payload that did not unpack and drops it: the first
 * CLUSTER_BAD_LOGGED lines of a process, then every 1000th (a peer that
 * sends garbage cannot flood the log).  Thread-safe. */
#define CLUSTER_BAD_LOGGED 20
static inline void cluster_bad_payload(const char *who, const acto_msg *msg,
                                       const acto_msgpack_result *r) {
  static _Atomic unsigned long seen;
  unsigned long n = atomic_fetch_add_explicit(&seen, 1, memory_order_relaxed) + 1;
  if (n <= CLUSTER_BAD_LOGGED || n % 1000 == 0)
    fprintf(stderr, "cluster: %s: dropped a message of type %u (%zu bytes): %s [%lu so far]\n",
            who, msg->type, msg->size, r->detail, n);
}

/* Packs *v (of the type whose schema is s) into a stack buffer and sends
 * it after delay_ms with acto_send_after, which copies it: the timers'
 * messages. */
static inline int cluster_send_after(acto_system *sys, acto_ref to, uint32_t type,
                                     const acto_msgpack_schema *s, const void *v,
                                     int64_t delay_ms) {
  acto_msgpack_buf b;
  int rc = acto_msgpack_buf_init(&b);
  if (rc == 0)
    rc = acto_msgpack_struct_pack(acto_msgpack_buf_packer(&b), s, v);
  if (rc == 0)
    rc = acto_send_after(sys, to, type, b.data, b.size, delay_ms, NULL);
  acto_msgpack_buf_free(&b);
  return rc;
}

/* The work: a small computation whose answer the client can check. */
static inline uint64_t cluster_value(uint64_t id) {
  uint64_t z = id;
  for (int i = 0; i < 200; i++) { /* splitmix64 rounds */
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
  }
  return z;
}

/* CLOCK_MONOTONIC in microseconds: one clock for every process of the
 * host, so the launcher's kill time and the nodes' event times compare. */
static inline int64_t cluster_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- behaviours ---------------------------------------------------------- */

/* worker.c.  The spawner's init argument: how often its workers fail. */
typedef struct cluster_spawner_arg {
  uint32_t faults;  /* a worker fails on about one item in `faults` (0: never) */
  uint32_t work_ms; /* how long an item takes */
} cluster_spawner_arg;
extern const acto_behaviour cluster_spawner_behaviour;
extern const acto_behaviour cluster_worker_behaviour;

/* coordinator.c.  Its init argument, copied by its supervisor. */
typedef struct cluster_coord_arg {
  uint32_t items;    /* ids 1..items */
  uint32_t per_node; /* workers per node at the start */
  uint32_t nnodes;
  uint32_t self;     /* this node's index */
  char names[CLUSTER_MAX_NODES][CLUSTER_NAME_MAX];
} cluster_coord_arg;
extern const acto_behaviour cluster_coord_behaviour;

/* client.c. */
typedef struct cluster_client_arg {
  uint32_t items;
  uint32_t rate;   /* new items per second */
  uint32_t window; /* items in flight at most */
  uint32_t ask_timeout_ms;
} cluster_client_arg;
extern const acto_behaviour cluster_client_behaviour;

/* ---- the report (home node only) -------------------------------------------- */

/* What the actors of the home node observed, for the final report: written
 * by the coordinator, the client and the node event hook (under mu), read
 * by the node's main thread.  It lives outside the actors' state so that
 * it survives a restart of the coordinator.  Times are cluster_now_us(),
 * 0 when the event did not happen. */
typedef struct cluster_node_rep {
  int64_t hook_down_us;   /* the first node-down event after it was up */
  char hook_reason[64];
  int64_t detect_us;      /* the coordinator's first DOWN (NOCONNECTION) */
  uint32_t workers;       /* the pool's workers there now */
  uint32_t initial;       /* ... when the pool was first complete */
  uint32_t lost;          /* workers lost there with their node (NOCONNECTION) */
  uint32_t replaced;      /* replacements started for them */
  uint32_t placed[CLUSTER_MAX_NODES]; /* ... on each node */
  int64_t replaced_us;    /* when the last replacement was monitored */
  uint32_t redispatched;  /* items its workers held, sent again */
  int64_t redisp_ack_us;  /* the first of those acknowledged */
  int redisp_ack_node;
  int64_t repl_ack_us;    /* the first result of a replacement */
  int repl_ack_node;
} cluster_node_rep;

typedef struct cluster_event {
  int64_t at_us;
  int node;     /* index, -1 for a node outside the cluster */
  int up;
  char reason[48];
} cluster_event;

#define CLUSTER_EVENTS 64

typedef struct cluster_report {
  pthread_mutex_t mu;
  uint32_t nnodes;
  char names[CLUSTER_MAX_NODES][CLUSTER_NAME_MAX];
  cluster_node_rep node[CLUSTER_MAX_NODES];
  int64_t pool_ready_us;   /* the pool was first complete */
  uint64_t duplicates;     /* results for an already acknowledged id */
  uint64_t from_set;       /* retries answered from the acknowledged set */
  uint64_t worker_failures; /* DOWNs other than NOCONNECTION */
  uint64_t failed_redispatched; /* items their workers held, sent again */
  uint64_t coord_starts;   /* coordinator incarnations */
  /* The client. */
  uint32_t items;
  int64_t *ack_us;         /* [items + 1]: when each id was acknowledged */
  uint64_t acked, dup_acks, wrong, retries, sent;
  uint64_t acked_on[CLUSTER_MAX_NODES]; /* by the node of the worker */
  int done;               /* every item acknowledged */
  /* Node events as the hook saw them, for the live log (the first
   * CLUSTER_EVENTS). */
  uint32_t nevents;
  cluster_event events[CLUSTER_EVENTS];
} cluster_report;

extern cluster_report cluster_rep;

/* The index of a node name in cluster_rep.names, or -1. */
int cluster_node_index(const char *name);

/* ---- the programs ------------------------------------------------------------ */

typedef struct cluster_opts {
  const char *node;     /* --node NAME: run as that node process */
  uint32_t nnodes, per_node, items, rate, window, faults, work_ms;
  unsigned threads;
  int64_t after_ms, crash_coord_ms, timeout_ms;
  int64_t heartbeat_ms, heartbeat_timeout_ms;
  const char *kill;     /* the node to kill (launcher), expected killed (n1) */
  int sig;              /* SIGKILL or SIGSTOP */
  int verbose, quiet;
} cluster_opts;

/* node.c: the body of a node process.  Returns the exit status. */
int cluster_node_main(const cluster_opts *o);

#endif /* CLUSTER_H */
