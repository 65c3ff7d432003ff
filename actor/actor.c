/* actor.c - an actor's life: spawn (with a synchronous init), references
 * held by senders, stop, finalisation and destruction; the ctx calls.
 *
 * DESIGN
 * Lifetime.  rc counts the references that keep an actor block from being
 * recycled: one held by the live actor, plus one per sender between its
 * lookup and the end of its push.  acto__actor_acquire takes a reference
 * only if rc is non-zero (blocks are type-stable, pool.c) and then checks
 * that the block still carries the ref's id and is not closed.
 *
 * Stop.  An actor stops only on its own turn (after stop, stop_self, a
 * failure or shutdown): finalize runs terminate, closes the mailbox (new
 * sends fail with ACTO_ESTALE), removes the ref from the table, releases
 * the name, turns parked sends into dead letters and drops the live
 * reference.  The turn never releases its count unit, so nobody schedules
 * the actor again.  Whoever drops the last reference destroys it: the
 * remaining queued messages become dead letters (ACTO_DEAD_CLOSED) and the
 * block returns to the pool.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/reserved.h"
#include "actor/child.h"

_Thread_local acto__worker *acto__tls_worker;
_Thread_local acto_ctx *acto__tls_ctx;

acto__actor *acto__actor_acquire(acto_system *sys, acto_ref ref) {
  if (!acto__ref_local(sys, ref))
    return NULL;
  return acto__actor_acquire_id(sys, ref.id);
}

acto__actor *acto__actor_acquire_id(acto_system *sys, uint64_t id) {
  if (id == 0)
    return NULL;
  acto__actor *a = acto__table_get(&sys->table, id);
  if (!a)
    return NULL;
  uint32_t r = atomic_load_explicit(&a->rc, memory_order_relaxed);
  do {
    if (r == 0)
      return NULL;
    /* acquire: pairs with the release store of rc in spawn, so the id and
     * mailbox written before publication are visible. */
  } while (!atomic_compare_exchange_weak_explicit(&a->rc, &r, r + 1, memory_order_acquire,
                                                  memory_order_relaxed));
  if (a->id != id || atomic_load_explicit(&a->mb.closed, memory_order_acquire)) {
    acto__actor_release(a);
    return NULL;
  }
  return a;
}

static void actor_destroy(acto__actor *a) {
  acto_system *sys = a->sys;
  acto__msg *m;
  /* No reference is left, so no push is in flight: the queues are
   * consistent and pop drains them completely. */
  acto_ref self = acto__actor_ref(a);
  while ((m = (acto__msg *)acto__mpscq_pop(&a->mb.sys, &a->mb.sys_tail)) != NULL) {
    switch (m->kind) {
    case ACTO__KIND_REPLY:
      acto__send_dead_letter(sys, m, ACTO_DEAD_LATE_REPLY);
      continue;
    case ACTO__KIND_LINK:
    case ACTO__KIND_MONITOR:
      /* Asked before the close, never seen: answer with the real reason. */
      acto__link_answer_late(sys, m, self, a->stop_reason);
      break;
    case ACTO__KIND_NOTIFY:
      /* A child waiting for this (dead) supervisor's verdict. */
      if (m->pub.type == ACTO__MSG_CHILD_FAILED || m->pub.type == ACTO__MSG_CHILD_SUSPENDED)
        acto__child_stop(sys, m->pub.sender, ACTO_REASON_SHUTDOWN);
      break;
    default:
      break;
    }
    acto__msg_free(m);
  }
  while ((m = (acto__msg *)acto__mpscq_pop(&a->mb.user, &a->mb.user_tail)) != NULL)
    acto__send_dead_letter(sys, m, ACTO_DEAD_CLOSED);
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  if (ext) {
    acto__link_ext_free(ext);
    atomic_store_explicit(&a->ext, NULL, memory_order_relaxed);
  }
  acto__pool_free(&sys->pool, a, a->size_class);
  pthread_mutex_lock(&sys->life_mtx);
  uint64_t left = atomic_fetch_sub_explicit(&sys->live, 1, memory_order_relaxed) - 1;
  if (left == 0)
    pthread_cond_broadcast(&sys->life_cv);
  pthread_mutex_unlock(&sys->life_mtx);
}

void acto__actor_release(acto__actor *a) {
  /* acq_rel: the last releaser must see every push made by the others. */
  if (atomic_fetch_sub_explicit(&a->rc, 1, memory_order_acq_rel) == 1)
    actor_destroy(a);
}

uint64_t acto__actor_id(const acto__actor *a) { return a->id; }

acto__actor_ext *acto__actor_ext_get(acto__actor *a) {
  acto__actor_ext *e = acto__actor_ext_peek(a);
  if (e)
    return e;
  acto__actor_ext *fresh = calloc(1, sizeof(acto__actor_ext));
  if (!fresh)
    return NULL;
  /* acq_rel: publishes the zeroed ext; on failure, acquires the winner's. */
  if (atomic_compare_exchange_strong_explicit(&a->ext, &e, fresh, memory_order_acq_rel,
                                              memory_order_acquire))
    return fresh;
  free(fresh);
  return e;
}

/* Closes the actor; run_terminate is 0 when init failed.  The
 * incarnation's end, in order: its pending asks are cancelled (their
 * continuations run with ACTO_ECANCELED on the intact state), terminate
 * runs (it may still answer requests it kept), and what it still keeps is
 * answered (ECLOSED, or EFAILED after a failure). */
static void actor_close(acto__actor *a, int run_terminate, acto__worker *w) {
  acto_system *sys = a->sys;
  acto_ctx ctx = {sys, a, w, NULL, 0, NULL, ACTO__PHASE_CLOSING};
  acto_ctx *saved = acto__tls_ctx;
  acto__tls_ctx = &ctx;
  acto__ask_cancel_all(&ctx, a);
  if (run_terminate && !a->terminated && a->b->terminate)
    a->b->terminate(&ctx, a->state, a->stop_reason);
  acto__tls_ctx = saved;
  if (ctx.held)
    acto__actor_release(ctx.held);
  acto__ask_kept_close(sys, a, a->stop_reason < 0 ? ACTO_EFAILED : ACTO_ECLOSED);
  a->alive = 0;
  /* seq_cst: a parker checks closed under park_lock; senders that check it
   * after their acquire fail from here on. */
  atomic_store_explicit(&a->mb.closed, 1, memory_order_seq_cst);
  acto__table_remove(&sys->table, a->id);
  acto__registry_drop_actor(sys, a);
  acto__ask_table_free(sys, a);
  acto__send_close_parked(a);
  acto__link_on_close(a, a->stop_reason);
  acto__monitor_on_close(a, a->stop_reason);
  atomic_fetch_add_explicit(&sys->stopped, 1, memory_order_relaxed);
  acto__actor_release(a);
}

void acto__actor_finalize(acto__actor *a, acto__worker *w) { actor_close(a, 1, w); }

static int valid_overflow(int p) {
  return p == ACTO_OVERFLOW_BLOCK || p == ACTO_OVERFLOW_FAIL || p == ACTO_OVERFLOW_DROP_NEWEST ||
         p == ACTO_OVERFLOW_DROP_OLDEST;
}

/* parent: the spawning actor's ctx when the child is supervised by it;
 * hold: keep the init unit (the supervisor releases or closes it, child.c). */
static int spawn_impl(acto_system *sys, const acto_behaviour *b, const void *arg,
                      const acto_spawn_opts *opts, acto_ctx *parent, int hold, acto_ref *out) {
  if (!sys || !b || !b->handle || !out || !ACTO__RESERVED_CLEAR(b) ||
      (b->flags & ~(uint64_t)ACTO_BEHAVIOUR_IO_TURNS) != 0 ||
      (opts && !ACTO__RESERVED_CLEAR(opts)))
    return ACTO_EINVAL;
  acto_ctx *linker = NULL;
  if (parent || (opts && opts->link)) {
    linker = parent ? parent : acto__tls_ctx;
    if (!linker || linker->sys != sys || !linker->self || acto__tls_ctx != linker)
      return ACTO_EWRONGTHREAD;
  }
  if (b->state_size > ((size_t)1 << 30))
    return ACTO_EINVAL;
  uint32_t cap = sys->cfg.default_capacity;
  size_t bytes = sys->cfg.default_bytes;
  acto_overflow pol = ACTO_OVERFLOW_BLOCK;
  const char *name = NULL;
  if (opts) {
    if (opts->capacity > ACTO_MAILBOX_MAX_CAPACITY || !valid_overflow((int)opts->overflow))
      return ACTO_EINVAL;
    if (opts->capacity)
      cap = opts->capacity;
    if (opts->max_bytes)
      bytes = opts->max_bytes;
    pol = opts->overflow;
    name = opts->name;
    if (name && (name[0] == '\0' || strnlen(name, ACTO_NAME_MAX + 1) > ACTO_NAME_MAX))
      return ACTO_EINVAL;
  }
  if (atomic_load_explicit(&sys->shutting_down, memory_order_seq_cst))
    return ACTO_ESHUTDOWN;

  unsigned cls;
  acto__actor *a = acto__pool_alloc(&sys->pool, sizeof(acto__actor) + b->state_size, &cls);
  if (!a)
    return ACTO_ENOMEM;
  /* Initialise field by field: a stale sender may be reading rc (pool.c). */
  acto__mailbox_init(&a->mb, cap, bytes, pol);
  /* The init turn holds a system unit: the actor cannot be scheduled until
   * init has returned, whatever is sent to it meanwhile. */
  atomic_store_explicit(&a->mb.count, ACTO__MB_SYS_UNIT, memory_order_relaxed);
  atomic_store_explicit(&a->park, 0, memory_order_relaxed);
  a->sys = sys;
  a->b = b;
  a->rq_next = NULL;
  a->carry = 0;
  atomic_store_explicit(&a->ext, NULL, memory_order_relaxed);
  a->stop_reason = 0;
  a->fail_type = 0;
  a->stop_requested = 0;
  a->failed = 0;
  a->alive = 0;
  a->size_class = (uint8_t)cls;
  a->trap_exit = 0;
  a->terminated = 0;
  a->suspend_req = 0;
  memset(a->state, 0, b->state_size);

  int err = 0;
  uint64_t id = acto__table_insert(&sys->table, a, &err);
  if (id == 0) {
    acto__pool_free(&sys->pool, a, cls);
    return err;
  }
  a->id = id;
  pthread_mutex_lock(&sys->life_mtx);
  atomic_fetch_add_explicit(&sys->live, 1, memory_order_relaxed);
  pthread_mutex_unlock(&sys->life_mtx);
  /* release: publishes every field above to acquiring senders. */
  atomic_store_explicit(&a->rc, 1, memory_order_release);
  acto_ref ref = {id, atomic_load_explicit(&sys->node_id, memory_order_relaxed)};

  int rc = 0;
  if (parent) {
    acto__actor_ext *e = acto__actor_ext_get(a);
    if (!e)
      rc = ACTO_ENOMEM;
    else {
      e->parent = acto__actor_ref(parent->self);
      e->init_arg = arg;
    }
  }
  if (rc == 0 && name)
    rc = acto_register(sys, name, ref);
  /* seq_cst: pairs with shutdown setting the flag and then walking the
   * table; either it sees this actor or this spawn sees the flag. */
  if (rc == 0 && atomic_load_explicit(&sys->shutting_down, memory_order_seq_cst))
    rc = ACTO_ESHUTDOWN;
  if (rc == 0 && b->init) {
    acto_ctx ctx = {sys,  a, acto__tls_worker && acto__tls_worker->sys == sys ? acto__tls_worker : NULL,
                    NULL, 0, NULL, ACTO__PHASE_INIT};
    acto_ctx *saved = acto__tls_ctx;
    acto__tls_ctx = &ctx;
    int r = b->init(&ctx, a->state, arg);
    acto__tls_ctx = saved;
    if (ctx.held)
      acto__actor_release(ctx.held);
    if (r == ACTO_INIT_IGNORE && !a->failed) {
      rc = ACTO_EIGNORED; /* not started, not a failure: no crash report */
    } else {
      if (r >= 0 && a->failed) /* acto_exit_self with a negative reason */
        r = a->stop_reason;
      if (r < 0) {
        rc = ACTO_EINIT;
        a->stop_reason = r;
        a->failed = 0;
        acto__system_report_crash(sys, a, r, 0);
      }
    }
  }
  /* Links are made after init, before the actor can run: both sets belong
   * to this thread now (the linker is the running actor). */
  if (rc == 0 && linker &&
      (acto__link_add(a, acto__actor_ref(linker->self)) != 0 ||
       acto__link_add(linker->self, ref) != 0))
    rc = ACTO_ENOMEM;
  if (rc != 0) {
    actor_close(a, 0, NULL);
    return rc;
  }
  a->alive = 1;
  atomic_fetch_add_explicit(&sys->spawned, 1, memory_order_relaxed);
  *out = ref;
  if (a->stop_requested) {
    /* stop_self / exit_self during init: stop on the first turn, with
     * the reason given. */
    a->stop_requested = 0;
    acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
    if (m) {
      m->kind = ACTO__KIND_STOP;
      m->status = a->stop_reason;
      acto__mailbox_push_system(&a->mb, m);
    }
  }
  if (hold)
    return 0;
  if (acto__mailbox_release(&a->mb, ACTO__MB_SYS_UNIT, 0) != 0)
    acto__sched_schedule(sys, a);
  return 0;
}

int acto_spawn(acto_system *sys, const acto_behaviour *b, const void *arg,
               const acto_spawn_opts *opts, acto_ref *out) {
  return spawn_impl(sys, b, arg, opts, NULL, 0, out);
}

int acto__actor_spawn_child(acto_ctx *ctx, const acto_behaviour *b, const void *arg,
                            const acto_spawn_opts *opts, int hold, acto_ref *out) {
  if (!ctx)
    return ACTO_EINVAL;
  return spawn_impl(ctx->sys, b, arg, opts, ctx, hold, out);
}

int acto_stop(acto_system *sys, acto_ref ref) {
  if (!sys)
    return ACTO_EINVAL;
  acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
  if (!m)
    return ACTO_ENOMEM;
  m->kind = ACTO__KIND_STOP;
  int r = acto__send_system(sys, ref, m);
  if (r != 0)
    acto__msg_free(m);
  return r;
}

int acto_alive(acto_system *sys, acto_ref ref) {
  if (!sys)
    return 0;
  acto__actor *a = acto__actor_acquire(sys, ref);
  if (!a)
    return 0;
  acto__actor_release(a);
  return 1;
}

acto_ref acto_self(const acto_ctx *ctx) {
  return ctx && ctx->self ? acto__actor_ref(ctx->self) : ACTO_REF_NONE;
}

acto_ref acto_sender(const acto_ctx *ctx) {
  return ctx && ctx->cur ? ctx->cur->pub.sender : ACTO_REF_NONE;
}

acto_system *acto_ctx_system(const acto_ctx *ctx) { return ctx ? ctx->sys : NULL; }

int acto_stop_self(acto_ctx *ctx) {
  if (!ctx || !ctx->self)
    return ACTO_EINVAL;
  if (acto__tls_ctx != ctx)
    return ACTO_EWRONGTHREAD;
  ctx->self->stop_requested = 1;
  return 0;
}
