/* cluster.h - the cluster sample: node processes on loopback that join one
 * cluster by seeds, a pool of workers placed on them by a supervisor with
 * remote children, a coordinator that journals what it acknowledged, and
 * a client whose every work item is acknowledged exactly once, even when
 * a node is killed (and brought back) or the coordinator fails
 * (`cluster --help`; ACTORS.md 13.7).
 *
 * The pieces, one file each:
 *   main.c         options and the launcher: starts the node processes,
 *                  kills one on schedule, starts it again, reaps them all
 *   node.c         a node process: its acto system and node (joined by
 *                  seeds), the control channel to the launcher, the home
 *                  node's supervisors, the final report
 *   placement.c    where workers run: the placement function of the
 *                  pool's remote children, and the move of workers to a
 *                  node that came back
 *   worker.c       the workers (a behaviour registered by name on every
 *                  node, spawned there by the pool's supervisor on n1)
 *   coordinator.c  the pool's coordinator: dispatch, failover, journal
 *   client.c       the client: numbered items at a steady rate, retries
 *
 * DESIGN
 * Who restarts what.  The pool's supervisor on n1 has one remote child
 * per worker (acto_child_remote, behaviour CLUSTER_WORKER_BEHAVIOUR).  A
 * worker that fails, or whose node goes down (ACTO_REASON_NOCONNECTION),
 * is restarted by that supervisor on the node its placement function
 * picks among those up: the one running the fewest of the pool's workers.
 * A node that comes back (a new incarnation that rejoins through its
 * seed) is given workers by the home node's main thread, which moves
 * some from the busiest nodes with terminate_child + restart_child (the
 * placement then picks the returned node).  The coordinator places
 * nothing: it learns the workers from the process group CLUSTER_GROUP,
 * which every worker joins, and monitors each one.
 *
 * Delivery.  The client asks the coordinator with an item id and retries
 * the same id after a failed or timed-out ask.  The coordinator keeps the
 * request (acto_reply_later), sends the item to a worker and, when a
 * worker's result arrives, appends it to its journal and only then
 * answers.  The items a worker held when its DOWN arrived are sent again
 * to another worker.  Dispatch is at least once (a worker lost after
 * computing but before its result reached n1 has worked for nothing);
 * an item acknowledged is never dispatched again, also across a restart
 * of the coordinator, which replays its journal (ACTORS.md 13.7 says
 * exactly what this relies on).
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
#define CLUSTER_NAME_MAX 16    /* node names: "n1" ... "n8" */
#define CLUSTER_MAX_WORKERS 64 /* the pool, over all nodes */
#define CLUSTER_MAX_ITEMS 1000000u
#define CLUSTER_PATH_MAX 200                      /* the journal's directory */
#define CLUSTER_WORKER_BEHAVIOUR "cluster.worker" /* registered on every node */
#define CLUSTER_GROUP "cluster.workers"           /* the process group of the workers */
#define CLUSTER_COORDINATOR "cluster.coordinator" /* registered on n1 */

/* ---- messages -------------------------------------------------------------- */

/* Every payload is msgpack, declared once with ACTO_MSGPACK_STRUCT
 * (acto_msgpack.h): an array of the fields in order, refs as [id, node],
 * so nodes built by different compilers or for different machines read
 * each other.  Each handler unpacks with the type's _unpack_msg, which
 * checks the field count, every type and range; a payload that does not
 * fit is logged (cluster_bad_payload) and dropped.  The workers' spawn
 * argument and the journal's records are msgpack too. */
enum cluster_msg {
  CLUSTER_WORK = 3,   /* coordinator -> worker: cluster_item */
  CLUSTER_RESULT = 4, /* worker -> coordinator: cluster_result */
  CLUSTER_SUBMIT = 5, /* ask the coordinator: cluster_item; reply CLUSTER_ACK */
  CLUSTER_ACK = 6,    /* cluster_ack; empty: a malformed request */
  CLUSTER_BOOT = 7,   /* the coordinator to itself: find the workers (no payload) */
  CLUSTER_TICK = 9,   /* the client's timer (no payload) */
  CLUSTER_CRASH = 10, /* makes the coordinator fail after journaling its next
                         acknowledgement, before answering it (restarted in place) */
  CLUSTER_DONE = 11,  /* a worker to itself when an item's work time is over:
                         cluster_done */
  CLUSTER_JOIN = 12   /* a worker to itself: join CLUSTER_GROUP (no payload) */
};

/* The workers' spawn argument (the spec's arg bytes, sent with the remote
 * spawn): how often a worker fails, how long an item takes. */
#define CLUSTER_WORKER_ARG_FIELDS(F) F(u32, faults) F(u32, work_ms)
ACTO_MSGPACK_STRUCT(cluster_worker_arg, CLUSTER_WORKER_ARG_FIELDS)

#define CLUSTER_ITEM_FIELDS(F) F(u64, id)
ACTO_MSGPACK_STRUCT(cluster_item, CLUSTER_ITEM_FIELDS)

#define CLUSTER_RESULT_FIELDS(F) F(u64, id) F(u64, value) /* value: cluster_value(id) */
ACTO_MSGPACK_STRUCT(cluster_result, CLUSTER_RESULT_FIELDS)

/* node: the index of the node whose worker computed it */
#define CLUSTER_ACK_FIELDS(F) F(u64, id) F(u64, value) F(i32, node)
ACTO_MSGPACK_STRUCT(cluster_ack, CLUSTER_ACK_FIELDS)

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
    fprintf(stderr, "cluster: %s: dropped a message of type %u (%zu bytes): %s [%lu so far]\n", who,
            msg->type, msg->size, r->detail, n);
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

/* worker.c.  init's argument: an acto_spawn_arg holding a packed
 * cluster_worker_arg (it is started by a remote spawn). */
extern const acto_behaviour cluster_worker_behaviour;

/* coordinator.c.  Its init argument, copied by its supervisor. */
typedef struct cluster_coord_arg {
  uint32_t items; /* ids 1..items */
  uint32_t nnodes;
  uint32_t journal; /* 0: no journal (--no-journal), else 1 + acto_journal_sync_mode */
  char journal_dir[CLUSTER_PATH_MAX];
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
 * by the coordinator, the client, the placement function and the node
 * hooks (under mu), read by the node's main thread.  It lives outside the
 * actors' state so that it survives a restart of the coordinator: that is
 * what makes `duplicates` an independent check of the journal (acked[]
 * remembers what any incarnation acknowledged).  Times are
 * cluster_now_us(), 0 when the event did not happen. */
typedef struct cluster_node_rep {
  int64_t hook_down_us; /* the first node-down event after it was up */
  char hook_reason[64];
  int64_t detect_us;                  /* the coordinator's first DOWN (NOCONNECTION) */
  uint32_t workers;                   /* the pool's workers there now (the coordinator's view) */
  uint32_t initial;                   /* ... when the pool was first complete */
  uint32_t lost;                      /* workers lost there with their node (NOCONNECTION) */
  uint32_t replaced;                  /* of those, placed elsewhere by the supervisor */
  uint32_t placed[CLUSTER_MAX_NODES]; /* ... on each node */
  int64_t replaced_us;                /* when the last of them was placed */
  uint32_t redispatched;              /* items its workers held, sent again */
  int64_t redisp_ack_us;              /* the first of those acknowledged */
  int redisp_ack_node;
  /* Its return (a new incarnation, --restart-after-ms). */
  int64_t restarted_us; /* the launcher started it again */
  int64_t rejoined_us;  /* the member event JOINED on n1 after it was down */
  int64_t moved_us;     /* workers moved to it (the last move answered) */
  uint32_t moved;
  uint32_t moved_from[CLUSTER_MAX_NODES];
  int64_t back_ack_us; /* the first item acknowledged by its workers after */
  uint64_t back_acked; /* items its workers acknowledged after it rejoined */
} cluster_node_rep;

typedef struct cluster_event {
  int64_t at_us;
  int node; /* index, -1 for a node outside the cluster */
  int up;
  char reason[48];
} cluster_event;

#define CLUSTER_EVENTS 64

typedef struct cluster_report {
  pthread_mutex_t mu;
  uint32_t nnodes;
  char names[CLUSTER_MAX_NODES][CLUSTER_NAME_MAX];
  cluster_node_rep node[CLUSTER_MAX_NODES];
  int64_t pool_ready_us; /* the pool was first complete */
  uint32_t pool_size;
  /* The placement function's tally: the node index each child ("w1" ..)
   * was last placed on, -1 none (placement.c). */
  int8_t child_node[CLUSTER_MAX_WORKERS];
  /* The coordinator, over all its incarnations. */
  uint8_t *acked;               /* [items + 1]: journaled and acknowledged */
  uint64_t duplicates;          /* items dispatched to a worker after they were acknowledged */
  uint64_t late_results;        /* results for an item acknowledged already */
  uint64_t from_set;            /* retries answered from the acknowledged set */
  uint64_t replayed;            /* acknowledged items read back from the journal */
  uint64_t journaled;           /* records appended */
  uint64_t worker_failures;     /* DOWNs other than NOCONNECTION and moves */
  uint64_t failed_redispatched; /* items their workers held, sent again */
  uint64_t moved_redispatched;  /* items held by workers moved away, sent again */
  uint64_t retry_redispatched;  /* items sent again because the client retried */
  uint64_t coord_starts;        /* coordinator incarnations */
  uint32_t crash_item;          /* journaled, then the coordinator failed before answering */
  /* The client. */
  uint32_t items;
  int64_t *ack_us; /* [items + 1]: when each id was acknowledged */
  uint64_t nacked, dup_acks, wrong, retries, sent;
  uint64_t acked_on[CLUSTER_MAX_NODES]; /* by the node of the worker */
  int done;                             /* every item acknowledged */
  /* Node events as the hook saw them, for the live log (the first
   * CLUSTER_EVENTS). */
  uint32_t nevents;
  cluster_event events[CLUSTER_EVENTS];
} cluster_report;

extern cluster_report cluster_rep;

/* The index of a node name in cluster_rep.names, or -1. */
int cluster_node_index(const char *name);
/* The index of the node a ref lives on (by its node id's name), or -1. */
int cluster_ref_node(acto_system *sys, acto_ref ref);

/* ---- placement (placement.c) ------------------------------------------------- */

/* The pool's placement function (acto_place_fn): the up node running the
 * fewest of the pool's workers, ties to the first by name.  user unused. */
int cluster_place_fewest(void *user, const char *child_id, const char *const *nodes, size_t n,
                         size_t self, const char *previous);

/* Moves workers of the pool's supervisor `sup` to node index `to` until it
 * runs its share (pool / up nodes, rounded down), taking them from the
 * busiest nodes.  Plain thread only (it waits for the supervisor).
 * Returns the number moved, or a negative ACTO_E* code. */
int cluster_rebalance(acto_system *sys, acto_ref sup, int to, uint32_t nup);

/* ---- the programs ------------------------------------------------------------ */

typedef struct cluster_opts {
  const char *node; /* --node NAME: run as that node process */
  uint32_t nnodes, per_node, items, rate, window, faults, work_ms;
  unsigned threads;
  int64_t after_ms, crash_coord_ms, timeout_ms, restart_after_ms;
  int64_t heartbeat_ms, heartbeat_timeout_ms;
  const char *kill;        /* the node to kill (launcher), expected killed (n1) */
  int sig;                 /* SIGKILL or SIGSTOP */
  const char *journal_dir; /* --journal-dir: kept; NULL: a temporary one */
  int no_journal;
  int journal_sync; /* acto_journal_sync_mode */
  int verbose, quiet;
} cluster_opts;

/* node.c: the body of a node process.  Returns the exit status. */
int cluster_node_main(const cluster_opts *o);

#endif /* CLUSTER_H */
