/* acto_metrics.h - what the scheduler's threads are doing: one row of
 * counters per worker (ACTORS.md 3.18).  The system-wide counters are in
 * acto_stats (acto_actor.h).
 */
#ifndef ACTO_METRICS_H
#define ACTO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* acto_worker_metrics.kind */
#define ACTO_WORKER_THREAD 0u /* a worker thread, "acto-w<index>" */
#define ACTO_WORKER_IO 1u     /* the node's I/O thread, for its I/O turns */

/* One worker's counters, each read atomically (not all at one instant).
 * Counters only grow; queue_depth is a snapshot.  With
 * ACTO_CONFIG_NO_METRICS, runnext_hits, steals_given and busy_ns stay 0. */
typedef struct acto_worker_metrics {
  uint32_t index;         /* 0 .. threads-1; threads for the I/O row */
  uint32_t kind;          /* ACTO_WORKER_THREAD or ACTO_WORKER_IO */
  uint64_t turns;         /* actor turns run */
  uint64_t messages;      /* messages handled (user and system) */
  uint64_t parks;         /* times it went to sleep for want of work */
  uint64_t steals_taken;  /* times it took actors from another's queue */
  uint64_t steals_given;  /* times another worker took actors from it */
  uint64_t runnext_hits;  /* turns taken from its run-next slot */
  uint64_t busy_ns;       /* time awake: turns and the search for work
                             (spinning included), not asleep */
  uint64_t queue_depth;   /* actors waiting in its queues now */
  uint64_t reserved[4];   /* zero: room to grow (ACTORS.md "Versions") */
} acto_worker_metrics;

/* Fills out[0 .. cap-1] with the rows of the system's workers (index
 * order), then, if a node runs, the row of its I/O thread, and returns
 * how many rows there are (which may exceed cap: call with out NULL and
 * cap 0 to size the array).  ACTO_EINVAL if sys is NULL or out is NULL
 * with cap > 0.  Thread-safe. */
ACTO_API int acto_metrics_workers(acto_system *sys, acto_worker_metrics *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* ACTO_METRICS_H */
