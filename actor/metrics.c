/* metrics.c - acto_metrics_workers: one row of counters per worker, and
 * one for the node's I/O thread when a node runs.
 *
 * DESIGN
 * Every counter has one writer, the worker itself (a relaxed load and
 * store, no RMW on the hot path: scheduler.c's count()), except
 * steals_given, which thieves add to with an RMW (steals are rare next to
 * turns).  Readers load each counter relaxed: a row is not one instant,
 * and counters only grow.  Busy time is kept at the edges of sleep, not
 * per turn: a worker notes when it woke (busy_since) and adds the time
 * awake to busy_ns when it parks, so a turn costs no clock read; a
 * reader adds the time since busy_since for a worker that is awake now.
 * The I/O row's busy time is the time its I/O turns took.
 */
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/clock.h"
#include "acto_metrics.h"

static uint64_t load(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static void row(acto__worker *w, uint32_t kind, uint64_t now, acto_worker_metrics *m) {
  memset(m, 0, sizeof *m);
  m->index = w->idx;
  m->kind = kind;
  m->turns = load(&w->turns);
  m->messages = load(&w->handled);
  m->parks = load(&w->sleeps);
  m->steals_taken = load(&w->steals);
  m->steals_given = load(&w->steals_given);
  m->runnext_hits = load(&w->runnext_hits);
  m->busy_ns = load(&w->busy_ns);
  uint64_t since = load(&w->busy_since);
  if (since && now > since)
    m->busy_ns += now - since;
  m->queue_depth = atomic_load_explicit(&w->q.len, memory_order_relaxed) +
                   atomic_load_explicit(&w->bound.len, memory_order_relaxed) +
                   (atomic_load_explicit(&w->runnext, memory_order_relaxed) != NULL);
}

int acto_metrics_workers(acto_system *sys, acto_worker_metrics *out, size_t cap) {
  if (!sys || (!out && cap))
    return ACTO_EINVAL;
  int node = atomic_load_explicit(&sys->remote, memory_order_acquire) != NULL;
  size_t n = sys->nworkers + (node ? 1u : 0u);
  uint64_t now = acto__clock_now_ns();
  for (size_t i = 0; i < n && i < cap; i++)
    row(&sys->workers[i], i < sys->nworkers ? ACTO_WORKER_THREAD : ACTO_WORKER_IO, now, &out[i]);
  return (int)n;
}
