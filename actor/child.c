/* child.c - the child side of supervision: failing or suspending without
 * stopping, and the verdicts that follow.
 *
 * DESIGN
 * A supervised actor that fails (a callback returned a negative value, or
 * acto_exit_self with a negative reason) does not stop.  Its turn ends
 * like a suspension (actor/send.c): it keeps its mailbox count units in
 * `carry`, so nobody schedules it and its mailbox keeps filling up to its
 * bound; the message that failed is a dead letter (ACTO_DEAD_FAILED).  As
 * the very last act of the turn it sends ACTO__MSG_CHILD_FAILED to its
 * supervisor, so when the supervisor reads that event the child is
 * certainly parked, and the supervisor - the only party that may - pushes
 * a VERDICT and schedules the child itself.  A restart in place runs
 * terminate (with the failure reason), zeroes the state and runs init with
 * the original argument; the ref, the name, the links and the queued
 * messages stay.  Stopping it finalises it as usual.
 *
 * A restart in place whose init answers ACTO_INIT_IGNORE tells the
 * supervisor (CHILD_IGNORED) and then stops with ACTO_REASON_NORMAL,
 * without terminate (its init did not complete).
 *
 * A SUSPEND command does the same for a healthy child at its next message
 * boundary, after running terminate with ACTO_REASON_SHUTDOWN: one-for-all
 * and rest-for-one use it to terminate siblings in reverse start order and
 * restart them in start order without losing their queued messages.
 *
 * If the supervisor is gone when the event is sent, the child stops with
 * its reason instead; an event still queued when a supervisor is destroyed
 * stops its child with ACTO_REASON_SHUTDOWN (actor.c), so no child waits
 * forever for a verdict.
 */
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/child.h"

static int notify(acto_system *sys, acto__actor *a, acto_ref to, uint32_t type, int reason,
                  uint32_t msg_type) {
  acto__child_event ev = {acto__actor_ref(a), reason, msg_type};
  acto__msg *m = acto__msg_new(type, &ev, sizeof ev, NULL);
  if (!m)
    return ACTO_ENOMEM;
  m->kind = ACTO__KIND_NOTIFY;
  m->pub.sender = ev.child;
  int r = acto__send_system(sys, to, m);
  if (r != 0)
    acto__msg_free(m);
  return r;
}

int acto__child_suspend(acto__worker *w, acto__actor *a, uint64_t units) {
  (void)w;
  acto__actor_ext *e = acto__actor_ext_peek(a);
  if (!e || acto_ref_is_none(e->parent))
    return 0;
  uint32_t type = a->failed ? ACTO__MSG_CHILD_FAILED : ACTO__MSG_CHILD_SUSPENDED;
  int failed = a->failed;
  /* What the failed incarnation kept can never be answered by it: its
   * askers learn it now, not after the supervisor's verdict. */
  if (failed)
    acto__ask_kept_close(a->sys, a, ACTO_EFAILED);
  a->carry = units;
  a->failed = 0;
  a->suspend_req = 0;
  /* The last act of the turn: from here on the supervisor owns the next
   * step, and the actor is no longer ours. */
  if (notify(a->sys, a, e->parent, type, a->stop_reason, a->fail_type) == 0)
    return 1;
  a->carry = 0;
  a->failed = (uint8_t)failed;
  return 0;
}

int acto__child_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m) {
  switch (m->kind) {
  case ACTO__KIND_SUSPEND: {
    /* This incarnation ends here (it is restarted in place later). */
    uint8_t phase = ctx->phase;
    ctx->phase = ACTO__PHASE_CLOSING;
    acto__ask_cancel_all(ctx, a);
    if (!a->terminated && a->b->terminate)
      a->b->terminate(ctx, a->state, ACTO_REASON_SHUTDOWN);
    ctx->phase = phase;
    acto__ask_kept_close(ctx->sys, a, ACTO_ECLOSED);
    a->terminated = 1;
    a->suspend_req = 1;
    a->stop_reason = ACTO_REASON_SHUTDOWN;
    return 1;
  }
  case ACTO__KIND_VERDICT: {
    if (!(m->flags & ACTO__MF_RESTART)) {
      /* A failed child stops with its own failure reason, whatever the
       * supervisor's (links and monitors must see why it died). */
      a->stop_requested = 1;
      if (a->stop_reason >= 0)
        a->stop_reason = m->status;
      return 1;
    }
    /* What the old incarnation asked for belongs to it: its pending asks
     * are cancelled (their continuations run now with ACTO_ECANCELED, on
     * the old state, never on the new one; late replies are counted as
     * such), what it kept is answered, and its monitors are dropped.
     * Links, name, timers addressed to the ref and queued messages stay. */
    uint8_t phase = ctx->phase;
    ctx->phase = ACTO__PHASE_CLOSING;
    acto__ask_cancel_all(ctx, a);
    if (!a->terminated && a->b->terminate)
      a->b->terminate(ctx, a->state, a->stop_reason);
    acto__ask_kept_close(ctx->sys, a, ACTO_ECLOSED);
    acto__monitor_drop_held(a);
    memset(a->state, 0, a->b->state_size);
    a->terminated = 0;
    a->stop_reason = 0;
    acto__actor_ext *e = acto__actor_ext_peek(a);
    ctx->phase = ACTO__PHASE_INIT;
    int r = a->b->init ? a->b->init(ctx, a->state, e ? e->init_arg : NULL) : 0;
    ctx->phase = phase;
    if (r == ACTO_INIT_IGNORE && !a->failed) {
      /* Not started again, not a failure: the actor goes (there is
       * nothing to terminate), and its supervisor, told first, keeps the
       * child stopped. */
      a->terminated = 1;
      a->stop_requested = 1;
      a->stop_reason = ACTO_REASON_NORMAL;
      if (e)
        notify(ctx->sys, a, e->parent, ACTO__MSG_CHILD_IGNORED, 0, 0);
    } else if (r < 0) {
      a->failed = 1;
      a->stop_reason = r;
      a->fail_type = 0;
      a->terminated = 1; /* nothing to terminate: init did not complete */
    } else if (e) {
      notify(ctx->sys, a, e->parent, ACTO__MSG_CHILD_STARTED, 0, 0);
    }
    return 1;
  }
  case ACTO__KIND_NOTIFY:
    acto__turn_deliver(ctx, a, m, m->pub.type, m->pub.data, m->pub.size);
    return 1;
  default:
    return 0;
  }
}

/* Pushes a verdict to a child that awaits one and schedules it: its
 * count units are held, so the push alone would not. */
static int verdict(acto_system *sys, acto_ref child, uint16_t flags, int reason) {
  acto__actor *c = acto__actor_acquire(sys, child);
  if (!c)
    return ACTO_ESTALE;
  acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
  if (!m) {
    acto__actor_release(c);
    return ACTO_ENOMEM;
  }
  m->kind = ACTO__KIND_VERDICT;
  m->flags = flags;
  m->status = reason;
  m->target_id = child.id;
  acto__mailbox_push_system(&c->mb, m);
  acto__sched_schedule(sys, c);
  acto__actor_release(c);
  return 0;
}

int acto__child_restart(acto_system *sys, acto_ref child) {
  return verdict(sys, child, ACTO__MF_RESTART, 0);
}

int acto__child_stop(acto_system *sys, acto_ref child, int reason) {
  return verdict(sys, child, 0, reason);
}

int acto__child_suspend_cmd(acto_system *sys, acto_ref child) {
  return acto__link_signal(sys, child, ACTO__KIND_SUSPEND, 0, ACTO_REF_NONE, 0, 0);
}

int acto__child_release(acto_system *sys, acto_ref child) {
  acto__actor *c = acto__actor_acquire(sys, child);
  if (!c)
    return ACTO_ESTALE;
  /* What spawn_impl does for a child it does not hold. */
  if (acto__mailbox_release(&c->mb, ACTO__MB_SYS_UNIT, 0) != 0)
    acto__sched_schedule(sys, c);
  acto__actor_release(c);
  return 0;
}

int acto__child_close_held(acto_system *sys, acto_ref child, int reason) {
  acto__actor *c = acto__actor_acquire(sys, child);
  if (!c)
    return ACTO_ESTALE;
  /* Held: no worker runs it, so this thread may finalise it.  Its unit
   * is never released, as for any actor that stopped. */
  c->stop_reason = reason;
  acto__actor_finalize(c, acto__tls_worker && acto__tls_worker->sys == sys ? acto__tls_worker : NULL);
  acto__actor_release(c);
  return 0;
}
