/* turn.c - an actor's turn: up to `batch` messages handled on a worker,
 * system lane first, each dispatched by kind, with the mailbox's count
 * units released as the handlers return.  scheduler.c decides which actor
 * runs where; this file decides what running it means.
 *
 * DESIGN
 * A turn.  At most `batch` messages, system lane first.  The count unit of
 * each message is released only after its handler returned, so the
 * actor's count word stays non-zero - and nobody else schedules it -
 * during the whole turn (mailbox.c).  After the last release that brings
 * the word to zero the worker must not touch the actor again.  A stopping
 * actor keeps its unit forever; a suspended one keeps it in `carry` and
 * releases it at the start of its next turn.
 */
#include <stdlib.h>

#include "actor/actor_internal.h"
#include "actor/ask.h"
#include "actor/timer.h"

void acto__turn_deliver(acto_ctx *ctx, acto__actor *a, acto__msg *m, uint32_t type,
                        const void *data, size_t size) {
  acto_msg view = m->pub;
  view.type = type;
  view.flags = 0;
  view.data = data;
  view.size = size;
  view.ask_id = 0;
  ctx->cur = m;
  ctx->cur_type = type;
  int r = a->b->handle(ctx, a->state, &view);
  ctx->cur = NULL;
  if (r < 0 && !a->failed) {
    a->failed = 1;
    a->stop_reason = r;
    a->fail_type = type;
  }
}

/* Handles one message (and frees it).  Returns nothing: the outcome is in
 * the actor's stop/failed flags. */
static void dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m) {
  acto_system *sys = ctx->sys;
  switch (m->kind) {
  case ACTO__KIND_USER: {
    if ((m->flags & ACTO__MF_TIMER) && !acto__timer_msg_live(m)) {
      acto__msg_free(m);
      return;
    }
    if ((m->flags & ACTO__MF_REMOTE) && acto__remote_orphaned(m)) {
      acto__send_dead_letter(sys, m, ACTO_DEAD_NOCONNECTION);
      return;
    }
    ctx->cur = m;
    ctx->cur_type = m->pub.type;
    int r = a->b->handle(ctx, a->state, &m->pub);
    ctx->cur = NULL;
    if (r < 0 && !a->failed) {
      a->failed = 1;
      a->stop_reason = r;
      a->fail_type = m->pub.type;
    }
    if (a->failed) {
      acto__send_dead_letter(sys, m, ACTO_DEAD_FAILED);
      return;
    }
    if ((m->flags & ACTO__MF_REQUEST) && !(m->flags & ACTO__MF_REPLIED)) {
      /* The handler returned without replying and without keeping it
       * (acto_reply_later): no reply can come now.  Its asker learns it at
       * once instead of waiting out its deadline. */
      if (a->stop_requested) {
        acto__ask_request_failed(sys, m, ACTO_ECLOSED);
      } else {
        atomic_fetch_add_explicit(&sys->noreply, 1, memory_order_relaxed);
        acto__ask_request_failed(sys, m, ACTO_ENOREPLY);
      }
    }
    acto__msg_free(m);
    return;
  }
  case ACTO__KIND_STOP:
    a->stop_requested = 1;
    a->stop_reason = m->status; /* NORMAL (acto_stop) or SHUTDOWN (system) */
    acto__msg_free(m);
    return;
  case ACTO__KIND_REPLY:
  case ACTO__KIND_ASK_TIMEOUT:
    acto__ask_dispatch(ctx, a, m);
    return;
  default:
    if (!acto__link_dispatch(ctx, a, m) && !acto__monitor_dispatch(ctx, a, m))
      acto__child_dispatch(ctx, a, m);
    acto__msg_free(m);
    return;
  }
}

/* After a user unit was released: deliver parked sends now that there may
 * be room.  If the release left the actor idle, it may run elsewhere at
 * any moment, so take a reference first (type-stable blocks make the
 * attempt safe). */
static void after_user_release(acto_system *sys, acto__actor *a, acto_ref self, uint64_t left) {
  if (!atomic_load_explicit(&a->mb.has_parked, memory_order_seq_cst))
    return;
  if (left != 0) {
    acto__send_drain_parked(a);
    return;
  }
  acto__actor *again = acto__actor_acquire(sys, self);
  if (again) {
    acto__send_drain_parked(again);
    acto__actor_release(again);
  }
}

/* Releases count units (and payload bytes) of handled messages; returns
 * the count word after it.  Zero: the actor is idle, no longer ours. */
static uint64_t release_units(acto_system *sys, acto__actor *a, acto_ref self, uint64_t units,
                              size_t bytes) {
  uint64_t left = acto__mailbox_release(&a->mb, units, bytes);
  if (units & ACTO__MB_USER_MASK)
    after_user_release(sys, a, self, left);
  return left;
}

/* Releases the units of the messages handled since the last release
 * (user units minus those producers took over) and their bytes. */
static uint64_t release_group(acto_system *sys, acto__actor *a, acto_ref self, unsigned *user_acc,
                              uint64_t *sys_acc, size_t *accb) {
  uint64_t user =
      a->mb.policy == ACTO_OVERFLOW_BLOCK ? *user_acc : acto__mailbox_take_handled(&a->mb);
  uint64_t units = user + *sys_acc;
  size_t bytes = *accb;
  *user_acc = 0;
  *sys_acc = 0;
  *accb = 0;
  if (units == 0) {
    if (bytes)
      atomic_fetch_sub_explicit(&a->mb.bytes, bytes, memory_order_relaxed);
    /* Every unit was taken over: the actor still has messages queued. */
    return 1;
  }
  return release_units(sys, a, self, units, bytes);
}

/* Units are released in groups: a message's slot frees after its handler
 * returned, at the latest RELEASE_GROUP messages later (or when the queue
 * looks empty, or at the end of the turn).  Fewer writes to the count
 * word, which producers on other cores are writing too. */
#define RELEASE_GROUP 16
#define RELEASE_EXACT_BELOW 64

int acto__turn_run(acto__worker *w, acto__actor *a) {
  int more = 0;
  acto_system *sys = w->sys;
  atomic_store_explicit(&w->turns, atomic_load_explicit(&w->turns, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  acto_ref self = acto__ref_of(sys, a);
  acto_ctx ctx = {sys, a, w, NULL, 0, NULL, ACTO__PHASE_HANDLE};
  a->home = w->idx < 255 ? (uint8_t)(w->idx + 1) : 0;
  if (a->carry) {
    /* Resumed after a suspension: release the units kept since then. */
    uint64_t units = a->carry;
    a->carry = 0;
    if (release_units(sys, a, self, units, 0) == 0)
      return 0;
  }
  acto__tls_ctx = &ctx;
  unsigned batch = sys->cfg.batch;
  uint64_t handled = 0;
  uint64_t sys_acc = 0;  /* system units of handled messages, unreleased */
  unsigned user_acc = 0; /* user messages handled since the last release */
  size_t accb = 0;       /* and their payload bytes */
  unsigned n = 0;
  /* Block-policy mailboxes have no take-over (mailbox.c): a small one
   * releases every message at once so its bound stays exact; a large one
   * may hold back up to RELEASE_GROUP - 1 handled slots (documented). */
  unsigned group = (a->mb.policy == ACTO_OVERFLOW_BLOCK && a->mb.capacity < RELEASE_EXACT_BELOW)
                       ? 1
                       : RELEASE_GROUP;
  for (;;) {
    acto__msg *m = acto__mailbox_pop(&a->mb);
    if (!m) {
      if (user_acc || sys_acc) {
        uint64_t left = release_group(sys, a, self, &user_acc, &sys_acc, &accb);
        if (left == 0)
          break; /* idle: the actor is no longer ours */
        continue;
      }
      /* The count says a message is there: its producer is between its
       * exchange and its link.  Wait a moment, then come back later. */
      for (int i = 0; i < 64 && !m; i++) {
        acto__cpu_relax();
        m = acto__mailbox_pop(&a->mb);
      }
      if (!m) {
        acto__runq_push(&w->q, a);
        break;
      }
    }
    int user = m->kind == ACTO__KIND_USER;
    size_t bytes = user ? m->pub.size : 0;
    dispatch(&ctx, a, m);
    handled++;
    if (user) {
      /* Only senders of fail and drop policies take slots over (see
       * mailbox.c); for block-policy mailboxes the count stays local. */
      if (a->mb.policy != ACTO_OVERFLOW_BLOCK)
        acto__mailbox_handled(&a->mb);
      user_acc++;
      accb += bytes;
    } else {
      sys_acc += ACTO__MB_SYS_UNIT;
    }
    if (a->stop_requested || a->failed || a->suspend_req) {
      if (a->failed)
        acto__system_report_crash(sys, a, a->stop_reason, a->fail_type);
      if (ctx.held)
        acto__actor_release(ctx.held);
      acto__tls_ctx = NULL;
      if (a->failed || a->suspend_req) {
        /* A supervised child waits for its supervisor's verdict, holding
         * its units (child.c); others stop. */
        uint64_t units =
            (a->mb.policy == ACTO_OVERFLOW_BLOCK ? user_acc : acto__mailbox_take_handled(&a->mb)) +
            sys_acc;
        if (accb)
          atomic_fetch_sub_explicit(&a->mb.bytes, accb, memory_order_relaxed);
        if (acto__child_suspend(w, a, units))
          goto out;
      }
      /* The units are never released: nobody schedules a stopped actor. */
      acto__actor_finalize(a, w);
      goto out;
    }
    if (atomic_load_explicit(&a->park, memory_order_relaxed) != 0) {
      /* Everything the resumed turn reads (carry, bytes) is written before
       * the SUSPENDED bit is published: from the fetch_or on, the worker
       * that delivers the last parked send may run this actor.  The units
       * of this turn are kept (carry) so that nobody schedules it. */
      a->carry =
          (a->mb.policy == ACTO_OVERFLOW_BLOCK ? user_acc : acto__mailbox_take_handled(&a->mb)) +
          sys_acc;
      if (accb)
        atomic_fetch_sub_explicit(&a->mb.bytes, accb, memory_order_relaxed);
      user_acc = 0;
      sys_acc = 0;
      accb = 0;
      /* acq_rel: release pairs with acto__send_unpark's fetch_sub. */
      uint32_t old = atomic_fetch_or_explicit(&a->park, ACTO__PARK_SUSPENDED, memory_order_acq_rel);
      if ((old & ~ACTO__PARK_SUSPENDED) != 0) {
        atomic_fetch_add_explicit(&sys->parks, 1, memory_order_relaxed);
        break; /* suspended: a is no longer ours */
      }
      atomic_fetch_and_explicit(&a->park, ~ACTO__PARK_SUSPENDED, memory_order_relaxed);
      uint64_t units = a->carry;
      a->carry = 0;
      if (release_units(sys, a, self, units, 0) == 0)
        break;
    }
    if (++n >= batch) {
      /* Batch used up: if messages remain, the scheduler queues a again. */
      more = release_group(sys, a, self, &user_acc, &sys_acc, &accb) != 0;
      break;
    }
    if (user_acc >= group || sys_acc >= RELEASE_GROUP * ACTO__MB_SYS_UNIT) {
      if (release_group(sys, a, self, &user_acc, &sys_acc, &accb) == 0)
        break;
    }
  }
  if (ctx.held)
    acto__actor_release(ctx.held);
  acto__tls_ctx = NULL;
out:
  atomic_store_explicit(&w->handled,
                        atomic_load_explicit(&w->handled, memory_order_relaxed) + handled,
                        memory_order_relaxed);
  return more;
}
