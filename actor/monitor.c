/* monitor.c - monitors: one DOWN message when the monitored actor stops.
 *
 * DESIGN
 * The watcher records (id, target) in its own set and sends the target a
 * MONITOR signal; the target records (id, watcher) in its watcher set.
 * When the target stops it sends DOWN(id, reason) to each watcher.  The
 * watcher delivers a DOWN only if the id is still in its set, so after
 * acto_demonitor returns no DOWN of that monitor is handled, even one
 * already queued (the DEMONITOR signal merely lets the target forget the
 * entry).  Monitoring an actor that is gone, or whose MONITOR signal is
 * still queued when it is destroyed, produces DOWN(ACTO_REASON_NOPROC) or
 * DOWN(real reason) respectively: exactly one DOWN per monitor, always.
 * Both sets belong to the thread running their actor; no locks.
 */
#include <stdlib.h>

#include "actor/actor_internal.h"

static int mons_add(acto__mon **v, uint32_t *n, uint32_t *cap, uint64_t id, acto_ref ref) {
  if (*n == *cap) {
    uint32_t nc = *cap ? *cap * 2 : 4;
    acto__mon *nv = realloc(*v, nc * sizeof(*nv));
    if (!nv)
      return ACTO_ENOMEM;
    *v = nv;
    *cap = nc;
  }
  (*v)[(*n)++] = (acto__mon){id, ref};
  return 0;
}

/* Removes the entry with id; returns 1 and its ref if found. */
static int mons_take(acto__mon *v, uint32_t *n, uint64_t id, acto_ref *ref) {
  for (uint32_t i = 0; i < *n; i++) {
    if (v[i].id == id) {
      if (ref)
        *ref = v[i].ref;
      v[i] = v[--*n];
      return 1;
    }
  }
  return 0;
}

int acto_monitor(acto_ctx *ctx, acto_ref target, uint64_t *monitor_out) {
  if (!ctx || !ctx->self || !monitor_out)
    return ACTO_EINVAL;
  if (acto__tls_ctx != ctx)
    return ACTO_EWRONGTHREAD;
  acto__actor *a = ctx->self;
  acto__actor_ext *e = acto__actor_ext_get(a);
  if (!e)
    return ACTO_ENOMEM;
  uint64_t id = atomic_fetch_add_explicit(&ctx->sys->next_monitor_id, 1, memory_order_relaxed) + 1;
  int r = mons_add(&e->mons, &e->nmons, &e->capmons, id, target);
  if (r)
    return r;
  acto_ref self = acto__actor_ref(a);
  r = acto__system_validate_ref(ctx->sys, target) != 0
          ? ACTO_ESTALE
          : acto__link_signal(ctx->sys, target, ACTO__KIND_MONITOR, 0, self, 0, id);
  if (r == ACTO_ESTALE || r == ACTO_ENOTCONN)
    /* Gone already (or its node is): its DOWN is due at once. */
    r = acto__link_signal(ctx->sys, self, ACTO__KIND_DOWN, 0, target,
                          r == ACTO_ESTALE ? ACTO_REASON_NOPROC : ACTO_REASON_NOCONNECTION, id);
  if (r != 0) {
    mons_take(e->mons, &e->nmons, id, NULL);
    return r;
  }
  *monitor_out = id;
  return 0;
}

int acto_demonitor(acto_ctx *ctx, uint64_t monitor) {
  if (!ctx || !ctx->self)
    return ACTO_EINVAL;
  if (acto__tls_ctx != ctx)
    return ACTO_EWRONGTHREAD;
  acto__actor *a = ctx->self;
  acto__actor_ext *e = acto__actor_ext_peek(a);
  acto_ref target;
  if (!e || !mons_take(e->mons, &e->nmons, monitor, &target))
    return ACTO_ENOENT;
  acto__link_signal(ctx->sys, target, ACTO__KIND_DEMONITOR, 0, acto__actor_ref(a), 0, monitor);
  return 0;
}

int acto__monitor_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m) {
  switch (m->kind) {
  case ACTO__KIND_MONITOR: {
    acto__actor_ext *e = acto__actor_ext_get(a);
    if (!e || mons_add(&e->watchers, &e->nwatchers, &e->capwatchers, m->req_id, m->pub.sender) != 0)
      /* Cannot record it: fire now rather than never. */
      acto__link_signal(ctx->sys, m->pub.sender, ACTO__KIND_DOWN, 0, acto__actor_ref(a),
                        ACTO_REASON_NOPROC, m->req_id);
    return 1;
  }
  case ACTO__KIND_DEMONITOR: {
    acto__actor_ext *e = acto__actor_ext_peek(a);
    if (e)
      mons_take(e->watchers, &e->nwatchers, m->req_id, NULL);
    return 1;
  }
  case ACTO__KIND_DOWN: {
    acto__actor_ext *e = acto__actor_ext_peek(a);
    if (!e || !mons_take(e->mons, &e->nmons, m->req_id, NULL))
      return 1; /* demonitored */
    acto_down d = {m->pub.sender, m->req_id, m->status};
    acto__turn_deliver(ctx, a, m, ACTO_MSG_DOWN, &d, sizeof d);
    return 1;
  }
  default:
    return 0;
  }
}

void acto__monitor_on_close(acto__actor *a, int reason) {
  acto__actor_ext *e = acto__actor_ext_peek(a);
  if (!e)
    return;
  acto_ref self = acto__actor_ref(a);
  for (uint32_t i = 0; i < e->nwatchers; i++)
    acto__link_signal(a->sys, e->watchers[i].ref, ACTO__KIND_DOWN, 0, self, reason,
                      e->watchers[i].id);
  e->nwatchers = 0;
}

void acto__monitor_drop_held(acto__actor *a) {
  acto__actor_ext *e = acto__actor_ext_peek(a);
  if (!e)
    return;
  acto_ref self = acto__actor_ref(a);
  for (uint32_t i = 0; i < e->nmons; i++)
    acto__link_signal(a->sys, e->mons[i].ref, ACTO__KIND_DEMONITOR, 0, self, 0, e->mons[i].id);
  e->nmons = 0;
}
