/* ask.c - request-reply with deadlines: the ask lifecycle.
 *
 * DESIGN
 * Every ask gets a system-unique id.  The request is an ordinary user
 * message flagged REQUEST; acto_reply answers the message being handled.
 * The rule is that every request gets exactly one answer, and as soon as
 * it is known that no real one can come:
 *   replied        acto_reply, or acto_reply_to of a kept token;
 *   ENOREPLY       the handler returned without replying and without
 *                  acto_reply_later (scheduler.c);
 *   ECLOSED        the target stopped (or is stopping) first, the request
 *                  was discarded unhandled, or the system shut down;
 *   EFAILED        the handler, or the keeper of a kept request, failed;
 *   ENOTCONN       the target's node went away;
 *   ETIMEDOUT      the asker's deadline passed first (the asker's side).
 * Answers that come after the one that counted are late: discarded and
 * counted (ACTO_DEAD_LATE_REPLY).
 *
 * Plain threads.  A plain thread waits on a future (on its stack)
 * registered in the system's future table.  Exactly one party removes a
 * future from the table - the replier, the failure path, shutdown, or the
 * waiter when its deadline passes - and only the remover completes it.  A
 * waiter that fails to remove its own future waits for the completion that
 * is on its way, so the future never outlives its stack frame in anyone's
 * hands.  A waiting thread is counted in the system (system.c's
 * wait_enter / wait_leave): shutdown completes every future still in the
 * table with ECLOSED and frees nothing before every waiter has left.
 *
 * Actors.  An actor keeps a small table of its pending asks (allocated on
 * first use).  Replies travel on its system lane as REPLY blocks; the
 * deadline is a timer that pushes an ASK_TIMEOUT block.  Whichever arrives
 * first removes the entry and produces the one outcome; the other finds no
 * entry (a late reply is counted, a stale timeout ignored).  When the
 * asking actor's incarnation ends (stop, failure, restart in place,
 * suspend) its pending entries are cancelled: a continuation runs once
 * with ECANCELED, before terminate, so that what its `user` pointer holds
 * can be released; a message-style ask ends with its actor, as every
 * message to it does.  In terminate (and while cancelling) a new ask is
 * refused with ECLOSED: it could have no outcome.
 *
 * Deadlines.  An actor's asks do not get a timer each: the actor has one
 * armed "sweep", a timer for the earliest deadline it has pending, and
 * each entry keeps its own deadline.  A new ask arms a new sweep only when
 * its deadline comes before the armed one's (the old timer is cancelled);
 * a reply removes its entry and touches no timer.  When the sweep fires
 * (an ASK_TIMEOUT block whose req_id is SWEEP_BIT | its generation), every
 * entry whose deadline has passed times out, earliest first, and the sweep
 * is armed for the next deadline; a sweep of an older generation is stale
 * and ignored.  Before, every ask added a record to the timer heap and
 * every reply removed it, both under the timer thread's one mutex: with
 * asks on two workers, that mutex was contended on every round trip
 * (futex sleeps and wakes were 40% of an ask-heavy run in perf) and set
 * the latency tail (bench/ask: p99 270 us; after, 35 us, and 4.5x the
 * rate).  Chained asks with equal timeouts now touch the timer heap once
 * per timeout period, not twice per ask.
 *
 * Kept requests.  acto_reply_later moves the request into the system's kept
 * table, keyed by (asker, ask id) and linked on its keeper's list, under
 * the future table's mutex.  acto_reply_to removes the entry and answers;
 * a token whose entry is gone was answered already (ACTO_EALREADY).  When
 * the keeper's incarnation ends, whatever it still keeps is answered at
 * once: ECLOSED when it stops, EFAILED when it fails.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/clock.h"
#include "actor/msgtypes.h"

struct acto__future {
  uint64_t id;
  pthread_mutex_t mtx;
  pthread_cond_t cv;
  int done;
  int status;
  acto__msg *reply;
  acto__future *next;
};

struct acto__kept {
  uint64_t ask_id;
  acto_ref asker;
  uint16_t flags;                     /* ACTO__MF_FUTURE */
  acto__kept *hnext;                  /* bucket chain */
  acto__kept *knext, **kprev;         /* the keeper's list */
  acto__actor_ext *keeper;            /* whose list (its nkept) */
};

typedef struct ask_entry {
  uint64_t id;
  acto_reply_fn fn;
  void *user;
  uint64_t due; /* ns on the system clock; ACTO__NEVER: no deadline */
} ask_entry;

/* One actor's pending asks and its one sweep timer (see "Deadlines" in
 * the file comment).  Touched only by the thread running the actor. */
struct acto__ask_table {
  size_t n, cap;
  ask_entry *e;
  uint64_t armed_due;   /* when the armed sweep fires; ACTO__NEVER: none armed */
  uint64_t armed_timer; /* its timer id (0: none) */
  uint64_t gen;         /* the armed sweep's generation; older sweeps are stale */
  int need_arm;         /* a re-arm failed (no memory): try again (rearm_if_needed) */
};

/* A sweep's req_id: this bit, and the generation it was armed with (ask
 * ids count up from 1 and never reach it). */
#define SWEEP_BIT ((uint64_t)1 << 63)

int acto__ask_futures_init(acto__futures *f) {
  memset(f, 0, sizeof *f);
  f->nkept_buckets = 64;
  f->kept = calloc(f->nkept_buckets, sizeof *f->kept);
  if (!f->kept)
    return -1;
  if (pthread_mutex_init(&f->mtx, NULL) != 0) {
    free(f->kept);
    return -1;
  }
  return 0;
}

void acto__ask_futures_destroy(acto__futures *f) {
  /* Every keeper has closed: the kept table is empty. */
  free(f->kept);
  pthread_mutex_destroy(&f->mtx);
}

static acto__future *future_take(acto__futures *fs, uint64_t id) {
  pthread_mutex_lock(&fs->mtx);
  acto__future **pp = &fs->buckets[id % ACTO__FUTURE_BUCKETS];
  while (*pp && (*pp)->id != id)
    pp = &(*pp)->next;
  acto__future *f = *pp;
  if (f)
    *pp = f->next;
  pthread_mutex_unlock(&fs->mtx);
  return f;
}

static void future_complete(acto__future *f, int status, acto__msg *reply) {
  pthread_mutex_lock(&f->mtx);
  f->status = status;
  f->reply = reply;
  f->done = 1;
  pthread_cond_signal(&f->cv);
  pthread_mutex_unlock(&f->mtx);
}

static void future_wait_done(acto__future *f) {
  pthread_mutex_lock(&f->mtx);
  while (!f->done)
    pthread_cond_wait(&f->cv, &f->mtx);
  pthread_mutex_unlock(&f->mtx);
}

static int future_done(void *arg) {
  acto__future *f = arg;
  pthread_mutex_lock(&f->mtx);
  int d = f->done;
  pthread_mutex_unlock(&f->mtx);
  return d;
}

size_t acto__ask_futures_close(acto_system *sys) {
  acto__futures *fs = &sys->futures;
  size_t n = 0;
  for (;;) {
    acto__future *f = NULL;
    pthread_mutex_lock(&fs->mtx);
    for (size_t b = 0; b < ACTO__FUTURE_BUCKETS && !f; b++) {
      f = fs->buckets[b];
      if (f)
        fs->buckets[b] = f->next;
    }
    pthread_mutex_unlock(&fs->mtx);
    if (!f)
      return n;
    future_complete(f, ACTO_ECLOSED, NULL);
    n++;
  }
}

static int valid_payload(uint32_t type, const void *data, size_t size) {
  /* ACTO_MSG_NODE_LOOKUP: the one reserved request a user may send (to a
   * node service, acto_node.h). */
  return (type < ACTO_MSG_RESERVED || type == ACTO_MSG_NODE_LOOKUP) && size <= ACTO_MSG_MAX_SIZE &&
         (size == 0 || data);
}

int acto_ask(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
             int64_t timeout_ms, acto_reply_buf *out) {
  if (!sys || !out || !valid_payload(type, data, size) || timeout_ms < -1)
    return ACTO_EINVAL;
  return acto__ask_sync(sys, to, type, data, size, timeout_ms, out);
}

int acto__ask_sync(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_buf *out) {
  if (!sys || !out || size > ACTO_MSG_MAX_SIZE || (size > 0 && !data) || timeout_ms < -1)
    return ACTO_EINVAL;
  out->type = 0;
  out->size = 0;
  out->data = NULL;
  if (acto__in_callback())
    return ACTO_EDEADLK; /* before the copy: the common refusal costs nothing */
  acto__msg *m = acto__msg_new(type, data, size, NULL);
  if (!m)
    return ACTO_ENOMEM;
  return acto__ask_sync_msg(sys, to, m, timeout_ms, out);
}

int acto__ask_sync_msg(acto_system *sys, acto_ref to, acto__msg *m, int64_t timeout_ms,
                       acto_reply_buf *out) {
  if (!sys || !out || timeout_ms < -1) {
    acto__msg_free(m);
    return ACTO_EINVAL;
  }
  out->type = 0;
  out->size = 0;
  out->data = NULL;
  if (acto__in_callback()) {
    acto__msg_free(m);
    return ACTO_EDEADLK;
  }
  if (acto__system_validate_ref(sys, to) != 0) {
    acto__msg_free(m);
    return ACTO_ESTALE;
  }
  int r = acto__system_wait_enter(sys);
  if (r != 0) {
    acto__msg_free(m);
    return r;
  }
  uint64_t deadline = acto__deadline_after(acto__clock_now_ns(), timeout_ms);
  atomic_fetch_add_explicit(&sys->asks_plain, 1, memory_order_relaxed); /* acto_stats */
  acto__future f;
  memset(&f, 0, sizeof(f));
  f.id = atomic_fetch_add_explicit(&sys->next_ask_id, 1, memory_order_relaxed) + 1;
  pthread_mutex_init(&f.mtx, NULL);
  acto__clock_cond_init(&f.cv);
  m->flags = ACTO__MF_REQUEST | ACTO__MF_FUTURE;
  m->pub.flags = ACTO_MSG_FLAG_REQUEST;
  m->req_id = f.id;
  pthread_mutex_lock(&sys->futures.mtx);
  acto__future **b = &sys->futures.buckets[f.id % ACTO__FUTURE_BUCKETS];
  f.next = *b;
  *b = &f;
  pthread_mutex_unlock(&sys->futures.mtx);

  r = acto__send_msg(sys, to, m, 0, timeout_ms, 0);
  int result;
  if (r < 0) {
    if (!future_take(&sys->futures, f.id))
      future_wait_done(&f); /* a failure notice is completing it */
    if (f.reply)
      acto__msg_free(f.reply);
    result = r;
  } else {
    int verdict = 0; /* deterministic mode: why the wait ended */
    if (sys->det) {
      /* This thread drives the system until the answer is in. */
      verdict = acto__sched_det_wait(sys, future_done, &f, timeout_ms);
    } else {
      pthread_mutex_lock(&f.mtx);
      while (!f.done && acto__clock_wait(&f.cv, &f.mtx, deadline) == 0)
        ;
      pthread_mutex_unlock(&f.mtx);
    }
    if (!future_done(&f)) {
      if (future_take(&sys->futures, f.id)) {
        f.status = verdict ? verdict : ACTO_ETIMEDOUT;
        f.reply = NULL;
        if (!acto__ref_local(sys, to))
          acto__remote_ask_forget(sys, to.node, f.id);
      } else {
        future_wait_done(&f);
      }
    }
    result = f.status;
    if (result == 0 && f.reply) {
      acto__msg *rm = f.reply;
      out->type = rm->pub.type;
      out->size = rm->pub.size;
      if (rm->pub.size > 0) {
        out->data = malloc(rm->pub.size);
        if (out->data)
          memcpy(out->data, rm->pub.data, rm->pub.size);
        else
          result = ACTO_ENOMEM;
      }
    }
    if (f.reply)
      acto__msg_free(f.reply);
  }
  pthread_cond_destroy(&f.cv);
  pthread_mutex_destroy(&f.mtx);
  atomic_fetch_sub_explicit(&sys->asks_plain, 1, memory_order_relaxed);
  acto__system_wait_leave(sys);
  return result;
}

void acto_reply_release(acto_reply_buf *r) {
  if (!r)
    return;
  free(r->data);
  r->data = NULL;
  r->size = 0;
}

int acto__ask_future_complete(acto_system *sys, uint64_t id, int status, acto__msg *reply) {
  acto__future *f = future_take(&sys->futures, id);
  if (f) {
    future_complete(f, status, reply);
    return 0;
  }
  if (reply) {
    reply->target_id = 0;
    acto__send_dead_letter(sys, reply, ACTO_DEAD_LATE_REPLY);
  }
  return ACTO_ENOENT;
}

/* Routes a reply (or a failure status with reply == NULL) to the asker of
 * a request (the fields of req it reads: flags, req_id, pub.sender). */
static void route_reply(acto_system *sys, const acto__msg *req, int status, acto__msg *reply) {
  /* An asker on another node (a plain thread there when FUTURE) gets a
   * REPLY block through the transport, like a local actor asker. */
  int remote = !acto_ref_is_none(req->pub.sender) && !acto__ref_local(sys, req->pub.sender);
  if (!remote && (req->flags & ACTO__MF_FUTURE)) {
    acto__ask_future_complete(sys, req->req_id, status, reply);
    return;
  }
  if (!remote && acto_ref_is_none(req->pub.sender)) {
    if (reply)
      acto__msg_free(reply);
    return;
  }
  if (!reply && !(reply = acto__msg_new(0, NULL, 0, NULL)))
    return;
  reply->kind = ACTO__KIND_REPLY;
  reply->status = status;
  reply->req_id = req->req_id;
  if (remote)
    reply->flags = (uint16_t)(req->flags & ACTO__MF_FUTURE);
  if (acto__send_system(sys, req->pub.sender, reply) != 0) {
    /* The asker is gone (or its node is): a reply is counted - late when
     * its asker stopped first - a failure notice is dropped. */
    reply->target_id = req->pub.sender.id;
    if (status == 0) {
      reply->kind = ACTO__KIND_USER;
      reply->flags = 0;
      acto__send_dead_letter_to(sys, reply, req->pub.sender,
                                remote ? ACTO_DEAD_NOCONNECTION : ACTO_DEAD_LATE_REPLY);
    } else {
      acto__msg_free(reply);
    }
  }
}

void acto__ask_request_failed(acto_system *sys, acto__msg *m, int status) {
  m->flags |= ACTO__MF_REPLIED;
  route_reply(sys, m, status, NULL);
}

/* The unanswered request the running actor is handling, or why not. */
static int current_request(acto_ctx *ctx, acto__msg **req) {
  if (acto__tls_ctx != ctx)
    return ACTO_EWRONGTHREAD;
  *req = ctx->cur;
  if (!*req || !((*req)->flags & ACTO__MF_REQUEST))
    return ACTO_ENOTREQUEST;
  if ((*req)->flags & ACTO__MF_REPLIED)
    return ACTO_EALREADY;
  return 0;
}

int acto_reply(acto_ctx *ctx, uint32_t type, const void *data, size_t size) {
  if (!ctx || !valid_payload(type, data, size))
    return ACTO_EINVAL;
  acto__msg *req;
  int r = current_request(ctx, &req);
  if (r)
    return r;
  acto__msg *rm = acto__msg_new(type, data, size, NULL);
  if (!rm)
    return ACTO_ENOMEM;
  return acto__ask_reply_msg(ctx, rm);
}

int acto__ask_reply_msg(acto_ctx *ctx, acto__msg *rm) {
  acto__msg *req;
  int r = ctx ? current_request(ctx, &req) : ACTO_EINVAL;
  if (r) {
    acto__msg_free(rm);
    return r;
  }
  rm->pub.sender = acto__actor_ref(ctx->self);
  req->flags |= ACTO__MF_REPLIED;
  route_reply(ctx->sys, req, 0, rm);
  return 0;
}

/* Answers the request being handled with a failure status instead of a
 * reply (a node service's refusal: spawn.c). */
int acto__ask_reply_status(acto_ctx *ctx, int status) {
  acto__msg *req;
  int r = ctx ? current_request(ctx, &req) : ACTO_EINVAL;
  if (r)
    return r;
  if (status >= 0)
    return ACTO_EINVAL;
  req->flags |= ACTO__MF_REPLIED;
  route_reply(ctx->sys, req, status, NULL);
  return 0;
}

/* ---- kept requests ------------------------------------------------------------ */

static size_t kept_hash(acto_ref asker, uint64_t ask_id, size_t nb) {
  uint64_t h = ask_id * 0x9e3779b97f4a7c15ull ^ asker.id * 0xbf58476d1ce4e5b9ull ^ asker.node;
  return (size_t)((h ^ (h >> 29)) & (nb - 1));
}

/* Doubles the bucket array (mtx held); on failure the chains just grow. */
static void kept_grow(acto__futures *fs) {
  size_t nb = fs->nkept_buckets * 2;
  acto__kept **b = calloc(nb, sizeof *b);
  if (!b)
    return;
  for (size_t i = 0; i < fs->nkept_buckets; i++) {
    acto__kept *k = fs->kept[i];
    while (k) {
      acto__kept *next = k->hnext;
      size_t j = kept_hash(k->asker, k->ask_id, nb);
      k->hnext = b[j];
      b[j] = k;
      k = next;
    }
  }
  free(fs->kept);
  fs->kept = b;
  fs->nkept_buckets = nb;
}

/* Unlinks k from its bucket and its keeper's list (mtx held). */
static void kept_unlink(acto__futures *fs, acto__kept *k) {
  acto__kept **pp = &fs->kept[kept_hash(k->asker, k->ask_id, fs->nkept_buckets)];
  while (*pp != k)
    pp = &(*pp)->hnext;
  *pp = k->hnext;
  *k->kprev = k->knext;
  if (k->knext)
    k->knext->kprev = k->kprev;
  atomic_fetch_sub_explicit(&k->keeper->nkept, 1, memory_order_relaxed);
  fs->nkept--;
}

int acto_reply_later(acto_ctx *ctx, acto_reply_token *tok) {
  if (!ctx || !tok)
    return ACTO_EINVAL;
  acto__msg *req;
  int r = current_request(ctx, &req);
  if (r)
    return r;
  acto__actor_ext *ext = acto__actor_ext_get(ctx->self);
  acto__kept *k = ext ? malloc(sizeof *k) : NULL;
  if (!k)
    return ACTO_ENOMEM;
  k->ask_id = req->req_id;
  k->asker = req->pub.sender;
  k->flags = (uint16_t)(req->flags & ACTO__MF_FUTURE);
  acto__futures *fs = &ctx->sys->futures;
  pthread_mutex_lock(&fs->mtx);
  if (fs->nkept >= 2 * fs->nkept_buckets)
    kept_grow(fs);
  size_t j = kept_hash(k->asker, k->ask_id, fs->nkept_buckets);
  k->hnext = fs->kept[j];
  fs->kept[j] = k;
  k->knext = ext->kept;
  k->kprev = &ext->kept;
  if (ext->kept)
    ext->kept->kprev = &k->knext;
  ext->kept = k;
  k->keeper = ext;
  /* relaxed: the count is a hint for the keeper's own thread (see
   * acto__actor_ext.nkept); the list itself is read under mtx. */
  atomic_fetch_add_explicit(&ext->nkept, 1, memory_order_relaxed);
  fs->nkept++;
  pthread_mutex_unlock(&fs->mtx);
  req->flags |= ACTO__MF_REPLIED;
  tok->ask_id = req->req_id;
  tok->asker = req->pub.sender;
  tok->flags = req->flags & ACTO__MF_FUTURE;
  tok->reserved = 0;
  return 0;
}

/* Takes the kept entry of a token out of the table, or NULL if it was
 * answered already. */
static acto__kept *kept_take(acto_system *sys, const acto_reply_token *tok) {
  acto__futures *fs = &sys->futures;
  pthread_mutex_lock(&fs->mtx);
  acto__kept *k = fs->kept[kept_hash(tok->asker, tok->ask_id, fs->nkept_buckets)];
  while (k && !(k->ask_id == tok->ask_id && acto_ref_eq(k->asker, tok->asker)))
    k = k->hnext;
  if (k)
    kept_unlink(fs, k);
  pthread_mutex_unlock(&fs->mtx);
  return k;
}

/* A stand-in for the request a kept entry answers: route_reply reads only
 * these fields. */
static void kept_request(const acto__kept *k, acto__msg *req) {
  memset(req, 0, sizeof *req);
  req->flags = (uint16_t)(ACTO__MF_REQUEST | k->flags);
  req->req_id = k->ask_id;
  req->pub.sender = k->asker;
}

int acto_reply_to(acto_system *sys, const acto_reply_token *tok, uint32_t type, const void *data,
                  size_t size) {
  if (!sys || !tok || tok->ask_id == 0 || !valid_payload(type, data, size))
    return ACTO_EINVAL;
  acto__msg *rm = acto__msg_new(type, data, size, NULL);
  if (!rm)
    return ACTO_ENOMEM;
  return acto__ask_reply_to_msg(sys, tok, rm);
}

int acto__ask_reply_to_msg(acto_system *sys, const acto_reply_token *tok, acto__msg *rm) {
  if (!sys || !tok || tok->ask_id == 0) {
    acto__msg_free(rm);
    return ACTO_EINVAL;
  }
  acto__kept *k = kept_take(sys, tok);
  if (!k) {
    /* Answered already: by an earlier acto_reply_to, or by its keeper's
     * stop or failure. */
    acto__msg_free(rm);
    return ACTO_EALREADY;
  }
  acto_ctx *ctx = acto__tls_ctx;
  if (ctx && ctx->sys == sys && ctx->self)
    rm->pub.sender = acto__actor_ref(ctx->self);
  acto__msg req;
  kept_request(k, &req);
  free(k);
  route_reply(sys, &req, 0, rm);
  return 0;
}

void acto__ask_kept_close(acto_system *sys, acto__actor *a, int status) {
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  /* Keeps nothing: the usual stop, failure or restart takes no lock. */
  if (!ext || atomic_load_explicit(&ext->nkept, memory_order_relaxed) == 0)
    return;
  acto__futures *fs = &sys->futures;
  for (;;) {
    pthread_mutex_lock(&fs->mtx);
    acto__kept *k = ext->kept;
    if (k)
      kept_unlink(fs, k);
    pthread_mutex_unlock(&fs->mtx);
    if (!k)
      return;
    acto__msg req;
    kept_request(k, &req);
    free(k);
    route_reply(sys, &req, status, NULL);
  }
}

/* ---- asks of actors ------------------------------------------------------------ */

/* Counts asks begun (sent) and ended (done) for acto_stats.asks_pending:
 * on the worker running the asker (its own counter: a load and a store),
 * or the system's (an RMW) off the workers. */
static void ask_count(acto_ctx *ctx, int sent, uint64_t k) {
  acto__worker *w = ctx->worker;
  if (!w) {
    atomic_fetch_add_explicit(sent ? &ctx->sys->asks_sent : &ctx->sys->asks_done, k,
                              memory_order_relaxed);
    return;
  }
  _Atomic uint64_t *c = sent ? &w->asks_sent : &w->asks_done;
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + k,
                        memory_order_relaxed);
}

static ask_entry *table_find(struct acto__ask_table *t, uint64_t id) {
  if (!t)
    return NULL;
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].id == id)
      return &t->e[i];
  return NULL;
}

static void table_remove(struct acto__ask_table *t, ask_entry *e) {
  *e = t->e[--t->n];
}

int acto_ask_async(acto_ctx *ctx, acto_ref to, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_fn fn, void *user, uint64_t *ask_id_out) {
  if (!ctx || !ctx->self || !valid_payload(type, data, size) ||
      (timeout_ms <= 0 && timeout_ms != -1))
    return ACTO_EINVAL;
  if (acto__tls_ctx != ctx)
    return ACTO_EWRONGTHREAD;
  acto__msg *m = acto__msg_new(type, data, size, NULL);
  if (!m)
    return ACTO_ENOMEM;
  return acto__ask_async_msg(ctx, to, m, timeout_ms, fn, user, ask_id_out);
}

/* Every refusal frees m, so that a handed-over payload is freed on every
 * return (acto__ask_async_msg's contract). */
static int refuse(acto__msg *m, int rc) {
  acto__msg_free(m);
  return rc;
}

/* Arms the sweep for due when it would fire before the one armed.  The
 * timer fires at or after due: its delay is rounded up to whole ms from a
 * clock read after the entry's due was computed. */
static int arm_sweep(acto_system *sys, acto__actor *a, struct acto__ask_table *t, uint64_t due) {
  if (due == ACTO__NEVER || due >= t->armed_due)
    return 0;
  uint64_t now = acto__system_now_ns(sys);
  int64_t ms = due > now ? (int64_t)((due - now + 999999u) / 1000000u) : 0;
  uint64_t gen = (t->gen + 1) & ~SWEEP_BIT;
  uint64_t id = acto__timer_ask_deadline(sys, acto__actor_ref(a), SWEEP_BIT | gen, ms);
  if (!id)
    return ACTO_ENOMEM;
  if (t->armed_timer)
    acto__timer_cancel_id(sys, t->armed_timer); /* ENOENT if it fired: its sweep is stale */
  t->gen = gen;
  t->armed_timer = id;
  t->armed_due = due;
  return 0;
}

/* The earliest deadline of the pending asks (ACTO__NEVER: none). */
static uint64_t earliest_due(const struct acto__ask_table *t) {
  uint64_t d = ACTO__NEVER;
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].due < d)
      d = t->e[i].due;
  return d;
}

/* After a re-arm failed for want of memory, every later ask and outcome
 * of the actor tries again, so a pending deadline is never forgotten. */
static void rearm_if_needed(acto_system *sys, acto__actor *a, struct acto__ask_table *t) {
  if (t->need_arm && arm_sweep(sys, a, t, earliest_due(t)) == 0)
    t->need_arm = 0;
}

int acto__ask_async_msg(acto_ctx *ctx, acto_ref to, acto__msg *m, int64_t timeout_ms,
                        acto_reply_fn fn, void *user, uint64_t *ask_id_out) {
  if (!ctx || !ctx->self || (timeout_ms <= 0 && timeout_ms != -1))
    return refuse(m, ACTO_EINVAL);
  if (acto__tls_ctx != ctx)
    return refuse(m, ACTO_EWRONGTHREAD);
  if (ctx->phase == ACTO__PHASE_CLOSING)
    return refuse(m, ACTO_ECLOSED); /* terminate: no outcome could ever run */
  acto_system *sys = ctx->sys;
  acto__actor *a = ctx->self;
  if (acto__system_validate_ref(sys, to) != 0)
    return refuse(m, ACTO_ESTALE);
  acto__actor_ext *ext = acto__actor_ext_get(a);
  if (!ext)
    return refuse(m, ACTO_ENOMEM);
  if (!ext->asks) {
    ext->asks = calloc(1, sizeof(struct acto__ask_table));
    if (!ext->asks)
      return refuse(m, ACTO_ENOMEM);
    ext->asks->armed_due = ACTO__NEVER;
  }
  struct acto__ask_table *t = ext->asks;
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 4;
    ask_entry *ne = realloc(t->e, nc * sizeof(ask_entry));
    if (!ne)
      return refuse(m, ACTO_ENOMEM);
    t->e = ne;
    t->cap = nc;
  }
  rearm_if_needed(sys, a, t);
  uint64_t due =
      timeout_ms > 0 ? acto__deadline_after(acto__system_now_ns(sys), timeout_ms) : ACTO__NEVER;
  if (arm_sweep(sys, a, t, due) != 0)
    return refuse(m, ACTO_ENOMEM);
  uint64_t id = atomic_fetch_add_explicit(&sys->next_ask_id, 1, memory_order_relaxed) + 1;
  m->flags = ACTO__MF_REQUEST;
  m->pub.flags = ACTO_MSG_FLAG_REQUEST;
  m->req_id = id;
  m->pub.sender = acto__actor_ref(a);
  ask_entry *e = &t->e[t->n++];
  e->id = id;
  e->fn = fn;
  e->user = user;
  e->due = due;
  int r = acto__send_msg(sys, to, m, 0, -1, 0);
  if (r < 0) {
    /* The sweep stays armed: firing early for nobody is harmless. */
    ask_entry *again = table_find(t, id);
    if (again)
      table_remove(t, again);
    return r;
  }
  ask_count(ctx, 1, 1);
  if (ask_id_out)
    *ask_id_out = id;
  return r;
}

/* Runs the one outcome of an ask: its continuation, or handle() with the
 * reply, ACTO_MSG_ASK_TIMEOUT or ACTO_MSG_ASK_FAILED.  m is the message
 * that brought it (a reply or a sweep); the caller frees it. */
static void outcome(acto_ctx *ctx, acto__actor *a, const ask_entry *entry, int status,
                    acto__msg *m) {
  ask_count(ctx, 0, 1);
  ctx->cur = m;
  ctx->cur_type = m->pub.type;
  if (entry->fn) {
    entry->fn(ctx, a->state, status, status == 0 ? &m->pub : NULL, entry->user);
  } else {
    int32_t st = status;
    acto_msg view = m->pub;
    view.ask_id = entry->id;
    if (status == ACTO_ETIMEDOUT) {
      view.type = ACTO_MSG_ASK_TIMEOUT;
      view.size = 0;
      view.data = NULL;
    } else if (status != 0) {
      view.type = ACTO_MSG_ASK_FAILED;
      view.size = sizeof st;
      view.data = &st;
    }
    int r = a->b->handle(ctx, a->state, &view);
    if (r < 0 && !a->failed) {
      a->failed = 1;
      a->stop_reason = r;
      a->fail_type = view.type;
    }
  }
  ctx->cur = NULL;
}

/* Runs the continuations of entries taken out of the table with
 * ACTO_ECANCELED, the last first.  In the closing phase, so that no
 * continuation can ask again (and the array stays as it is). */
static void cancel_entries(acto_ctx *ctx, acto__actor *a, const ask_entry *e, size_t n) {
  ask_count(ctx, 0, n);
  uint8_t phase = ctx->phase;
  ctx->phase = ACTO__PHASE_CLOSING;
  acto__msg *cur = ctx->cur;
  ctx->cur = NULL;
  while (n > 0) {
    n--;
    if (e[n].fn)
      e[n].fn(ctx, a->state, ACTO_ECANCELED, NULL, e[n].user);
  }
  ctx->cur = cur;
  ctx->phase = phase;
}

static int due_order(const void *x, const void *y) {
  const ask_entry *p = x, *q = y;
  if (p->due != q->due)
    return p->due < q->due ? -1 : 1;
  return p->id < q->id ? -1 : p->id > q->id;
}

/* The armed sweep fired: every ask whose deadline has passed times out,
 * earliest deadline first, and the sweep is armed again for the rest. */
static void sweep(acto_ctx *ctx, acto__actor *a, struct acto__ask_table *t, acto__msg *m) {
  acto_system *sys = ctx->sys;
  /* A stale sweep: one replaced or cancelled after it fired. */
  if (!t || (m->req_id & ~SWEEP_BIT) != t->gen)
    return;
  t->armed_timer = 0; /* fired: its record is finished (timer.c) */
  t->armed_due = ACTO__NEVER;
  uint64_t now = acto__system_now_ns(sys);
  size_t k = 0;
  for (size_t i = 0; i < t->n; i++)
    k += t->e[i].due <= now;
  ask_entry *due = k ? malloc(k * sizeof *due) : NULL;
  size_t nd = 0;
  if (due) {
    for (size_t i = 0; i < t->n;) {
      if (t->e[i].due <= now) {
        due[nd++] = t->e[i];
        table_remove(t, &t->e[i]);
      } else {
        i++;
      }
    }
    qsort(due, nd, sizeof *due, due_order);
  }
  /* Armed before the outcomes run, so that their new asks compare with
   * it.  Without memory for the list, the earliest one times out now and
   * the sweep is armed again at once for the next (ms 0). */
  t->need_arm = 1;
  rearm_if_needed(sys, a, t);
  if (due) {
    size_t i = 0;
    while (i < nd && !a->failed)
      outcome(ctx, a, &due[i++], ACTO_ETIMEDOUT, m);
    /* An outcome that failed the actor ends its incarnation: the asks not
     * yet reported go back to the table and are cancelled with the others
     * (acto__ask_cancel_all).  The outcomes before may have asked again
     * and taken the room these left: grow the table first.  Without
     * memory for it, they are cancelled here, as cancel_all would. */
    size_t rest = nd - i;
    if (rest > 0 && t->n + rest > t->cap) {
      ask_entry *ne = realloc(t->e, (t->n + rest) * sizeof *ne);
      if (ne) {
        t->e = ne;
        t->cap = t->n + rest;
      } else {
        cancel_entries(ctx, a, &due[i], rest);
        i = nd;
      }
    }
    for (; i < nd; i++)
      t->e[t->n++] = due[i];
    free(due);
  } else if (k) {
    size_t f = 0;
    for (size_t i = 1; i < t->n; i++)
      if (due_order(&t->e[i], &t->e[f]) < 0)
        f = i;
    ask_entry first = t->e[f];
    table_remove(t, &t->e[f]);
    outcome(ctx, a, &first, ACTO_ETIMEDOUT, m);
  }
}

void acto__ask_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m) {
  acto_system *sys = ctx->sys;
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  struct acto__ask_table *t = ext ? ext->asks : NULL;
  if (m->kind == ACTO__KIND_ASK_TIMEOUT && (m->req_id & SWEEP_BIT)) {
    sweep(ctx, a, t, m);
    acto__msg_free(m);
    return;
  }
  ask_entry *e = table_find(t, m->req_id);
  if (!e) {
    if (m->kind == ACTO__KIND_REPLY && m->status == 0) {
      m->kind = ACTO__KIND_USER; /* counted like a user message */
      acto__send_dead_letter(sys, m, ACTO_DEAD_LATE_REPLY);
    } else {
      acto__msg_free(m);
    }
    return;
  }
  ask_entry entry = *e;
  table_remove(t, e);
  rearm_if_needed(sys, a, t);
  outcome(ctx, a, &entry, m->kind == ACTO__KIND_ASK_TIMEOUT ? ACTO_ETIMEDOUT : m->status, m);
  acto__msg_free(m);
}

/* Cancels the armed sweep; one already fired is made stale. */
static void disarm(acto_system *sys, struct acto__ask_table *t) {
  if (t->armed_timer)
    acto__timer_cancel_id(sys, t->armed_timer);
  t->armed_timer = 0;
  t->armed_due = ACTO__NEVER;
  t->gen = (t->gen + 1) & ~SWEEP_BIT;
  t->need_arm = 0;
}

void acto__ask_cancel_all(acto_ctx *ctx, acto__actor *a) {
  acto_system *sys = ctx->sys;
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  struct acto__ask_table *t = ext ? ext->asks : NULL;
  if (!t)
    return;
  disarm(sys, t);
  size_t n = t->n;
  t->n = 0;
  cancel_entries(ctx, a, t->e, n);
}

void acto__ask_table_free(acto_system *sys, acto__actor *a) {
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  if (!ext || !ext->asks)
    return;
  struct acto__ask_table *t = ext->asks;
  disarm(sys, t);
  /* Entries nobody will answer now (none after acto__ask_cancel_all). */
  atomic_fetch_add_explicit(&sys->asks_done, t->n, memory_order_relaxed);
  free(t->e);
  free(t);
  ext->asks = NULL;
}
