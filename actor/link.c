/* link.c - exit signals and links.
 *
 * DESIGN
 * Every signal between actors (exit, link, unlink, and monitor's DOWN in
 * monitor.c) is a block on the target's system lane, so it is never
 * refused for capacity and is handled before user messages, on the
 * target's own turn.  Each actor's link set therefore belongs to the
 * thread running it and needs no lock: acto_link adds the other actor to
 * the caller's set and asks the other, by a LINK signal, to add the
 * caller to its own.  When an actor stops it sends an EXIT signal marked
 * LINKED to every linked actor; one that has unlinked meanwhile (the
 * sender is no longer in its set) ignores it, as in OTP.
 *
 * Receiving an exit signal: an untrappable one (acto_kill) stops the actor
 * with ACTO_REASON_KILLED; otherwise a trapping actor gets ACTO_MSG_EXIT,
 * a NORMAL reason is ignored, and any other reason stops the actor with
 * that reason (so failures propagate along links).  A request that finds
 * its target gone is answered at once: linking to a dead actor delivers
 * EXIT(NOPROC), and a LINK still queued when an actor is destroyed is
 * answered with the actor's real reason.
 *
 * Signals carry refs (id + node), not pointers, so the transport carries
 * them between nodes unchanged: a remote ref's signal becomes a SIGNAL
 * frame (transport/node.c, ACTORS.md 13.5), and a link or monitor across
 * nodes fires with ACTO_REASON_NOCONNECTION when the peer goes down.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"

int acto__link_signal(acto_system *sys, acto_ref to, uint16_t kind, uint16_t flags, acto_ref from,
                      int32_t status, uint64_t id) {
  acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
  if (!m)
    return ACTO_ENOMEM;
  m->kind = kind;
  m->flags = flags;
  m->pub.sender = from;
  m->status = status;
  m->req_id = id;
  int r = acto__send_system(sys, to, m);
  if (r != 0)
    acto__msg_free(m);
  return r;
}

static int refs_find(const acto_ref *v, uint32_t n, acto_ref r) {
  for (uint32_t i = 0; i < n; i++)
    if (acto_ref_eq(v[i], r))
      return (int)i;
  return -1;
}

int acto__link_add(acto__actor *a, acto_ref other) {
  acto__actor_ext *e = acto__actor_ext_get(a);
  if (!e)
    return ACTO_ENOMEM;
  if (refs_find(e->links, e->nlinks, other) >= 0)
    return 0;
  if (e->nlinks == e->caplinks) {
    uint32_t nc = e->caplinks ? e->caplinks * 2 : 4;
    acto_ref *nv = realloc(e->links, nc * sizeof(*nv));
    if (!nv)
      return ACTO_ENOMEM;
    e->links = nv;
    e->caplinks = nc;
  }
  e->links[e->nlinks++] = other;
  return 0;
}

/* Removes other from a's links; 1 if it was there. */
static int link_remove(acto__actor *a, acto_ref other) {
  acto__actor_ext *e = acto__actor_ext_peek(a);
  if (!e)
    return 0;
  int i = refs_find(e->links, e->nlinks, other);
  if (i < 0)
    return 0;
  e->links[i] = e->links[--e->nlinks];
  return 1;
}

/* The running actor's ctx, checked: ACTO_EINVAL / ACTO_EWRONGTHREAD. */
static int check_ctx(acto_ctx *ctx) {
  if (!ctx || !ctx->self)
    return ACTO_EINVAL;
  if (acto__tls_ctx != ctx)
    return ACTO_EWRONGTHREAD;
  return 0;
}

int acto_link(acto_ctx *ctx, acto_ref other) {
  int r = check_ctx(ctx);
  if (r)
    return r;
  acto__actor *a = ctx->self;
  acto_ref self = acto__actor_ref(a);
  if (acto_ref_eq(other, self))
    return ACTO_EINVAL;
  acto__actor_ext *e = acto__actor_ext_get(a);
  if (!e)
    return ACTO_ENOMEM;
  if (refs_find(e->links, e->nlinks, other) >= 0)
    return 0;
  if ((r = acto__link_add(a, other)) != 0)
    return r;
  r = acto__link_signal(ctx->sys, other, ACTO__KIND_LINK, 0, self, 0, 0);
  if (r == ACTO_ESTALE || r == ACTO_ENOTCONN) {
    /* Gone already (or its node is): the link fires at once, as an exit
     * signal to self. */
    link_remove(a, other);
    return acto__link_signal(ctx->sys, self, ACTO__KIND_EXIT, 0, other,
                             r == ACTO_ESTALE ? ACTO_REASON_NOPROC : ACTO_REASON_NOCONNECTION, 0);
  }
  if (r != 0)
    link_remove(a, other);
  return r;
}

int acto_unlink(acto_ctx *ctx, acto_ref other) {
  int r = check_ctx(ctx);
  if (r)
    return r;
  if (!link_remove(ctx->self, other))
    return 0;
  r = acto__link_signal(ctx->sys, other, ACTO__KIND_UNLINK, 0, acto__actor_ref(ctx->self), 0, 0);
  return r == ACTO_ESTALE || r == ACTO_ENOTCONN ? 0 : r;
}

int acto_trap_exit(acto_ctx *ctx, int on) {
  int r = check_ctx(ctx);
  if (r)
    return r;
  ctx->self->trap_exit = on ? 1 : 0;
  return 0;
}

/* An exit signal from the calling actor (or from nobody: a plain thread). */
static int exit_signal(acto_system *sys, acto_ref target, uint16_t flags, int reason) {
  if (!sys)
    return ACTO_EINVAL;
  if (acto__system_validate_ref(sys, target) != 0)
    return ACTO_ESTALE;
  acto_ctx *ctx = acto__tls_ctx;
  acto_ref from = (ctx && ctx->sys == sys && ctx->self) ? acto__actor_ref(ctx->self) : ACTO_REF_NONE;
  return acto__link_signal(sys, target, ACTO__KIND_EXIT, flags, from, reason, 0);
}

int acto_exit(acto_system *sys, acto_ref target, int reason) {
  return exit_signal(sys, target, 0, reason);
}

int acto_kill(acto_system *sys, acto_ref target) {
  return exit_signal(sys, target, ACTO__MF_UNTRAPPABLE, ACTO_REASON_KILLED);
}

int acto_exit_self(acto_ctx *ctx, int reason) {
  int r = check_ctx(ctx);
  if (r)
    return r;
  acto__actor *a = ctx->self;
  a->stop_reason = reason;
  if (reason < 0) {
    a->failed = 1;
    a->fail_type = ctx->cur ? ctx->cur_type : 0;
  } else {
    a->stop_requested = 1;
  }
  return 0;
}

int acto__link_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m) {
  acto_ref from = m->pub.sender;
  switch (m->kind) {
  case ACTO__KIND_LINK:
    if (acto__link_add(a, from) != 0)
      /* Cannot record it: make it fire now rather than never. */
      acto__link_signal(ctx->sys, from, ACTO__KIND_EXIT, ACTO__MF_LINKED, acto__actor_ref(a),
                        ACTO_REASON_NOPROC, 0);
    return 1;
  case ACTO__KIND_UNLINK:
    link_remove(a, from);
    return 1;
  case ACTO__KIND_EXIT: {
    if ((m->flags & ACTO__MF_LINKED) && !link_remove(a, from))
      return 1; /* unlinked meanwhile */
    int reason = m->status;
    if (m->flags & ACTO__MF_UNTRAPPABLE) {
      /* A kill: untrappable, and the queue is not finished.  terminate
       * still runs: in C it is the destructor (files, memory), and there
       * is no garbage collector to do its work. */
      a->stop_requested = 1;
      a->stop_reason = ACTO_REASON_KILLED;
    } else if (a->trap_exit) {
      acto_exit_signal es = {from, reason};
      acto__turn_deliver(ctx, a, m, ACTO_MSG_EXIT, &es, sizeof es);
    } else if (reason != ACTO_REASON_NORMAL) {
      a->stop_requested = 1;
      a->stop_reason = reason;
    }
    return 1;
  }
  default:
    return 0;
  }
}

void acto__link_on_close(acto__actor *a, int reason) {
  acto__actor_ext *e = acto__actor_ext_peek(a);
  if (!e)
    return;
  acto_ref self = acto__actor_ref(a);
  for (uint32_t i = 0; i < e->nlinks; i++)
    acto__link_signal(a->sys, e->links[i], ACTO__KIND_EXIT, ACTO__MF_LINKED, self, reason, 0);
  e->nlinks = 0;
}

void acto__link_answer_late(acto_system *sys, acto__msg *m, acto_ref self, int reason) {
  if (m->kind == ACTO__KIND_LINK)
    acto__link_signal(sys, m->pub.sender, ACTO__KIND_EXIT, ACTO__MF_LINKED, self, reason, 0);
  else if (m->kind == ACTO__KIND_MONITOR)
    acto__link_signal(sys, m->pub.sender, ACTO__KIND_DOWN, 0, self, reason, m->req_id);
}

void acto__link_ext_free(acto__actor_ext *e) {
  if (!e)
    return;
  free(e->name);
  free(e->links);
  free(e->mons);
  free(e->watchers);
  free(e);
}
