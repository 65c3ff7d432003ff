/* ask.c - request-reply with deadlines.
 *
 * DESIGN
 * Every ask gets a system-unique id.  The request is an ordinary user
 * message flagged REQUEST; acto_reply answers the message being handled.
 * - A plain thread waits on a future (on its stack) registered in the
 *   system's future table.  Exactly one party removes a future from the
 *   table - the replier, the failure path, or the waiter when its deadline
 *   passes - and only the remover completes it.  A waiter that fails to
 *   remove its own future waits for the completion that is on its way, so
 *   the future never outlives its stack frame in anyone's hands.  A reply
 *   that finds no future is late: discarded and counted.
 * - An actor keeps a small table of pending asks (allocated on first use).
 *   Replies travel on its system lane as REPLY blocks; the deadline is a
 *   timer that pushes an ASK_TIMEOUT block.  Whichever arrives first
 *   removes the entry and produces the one outcome; the other finds no
 *   entry (a late reply is counted, a stale timeout ignored).
 * - A request discarded unanswered (target stopped, failed, or gone)
 *   completes its ask at once with ACTO_ECLOSED / ACTO_EFAILED instead of
 *   letting it run into its deadline.
 */
#include <stdlib.h>
#include <string.h>

#include "actor/actor_internal.h"
#include "actor/clock.h"
#include "acto_node.h"
#include "transport/node.h"

struct acto__future {
  uint64_t id;
  pthread_mutex_t mtx;
  pthread_cond_t cv;
  int done;
  int status;
  acto__msg *reply;
  acto__future *next;
};

typedef struct ask_entry {
  uint64_t id;
  acto_reply_fn fn;
  void *user;
  uint64_t timer;
} ask_entry;

struct acto__ask_table {
  size_t n, cap;
  ask_entry *e;
};

int acto__futures_init(acto__futures *f) {
  memset(f->buckets, 0, sizeof(f->buckets));
  return pthread_mutex_init(&f->mtx, NULL) == 0 ? 0 : -1;
}

void acto__futures_destroy(acto__futures *f) { pthread_mutex_destroy(&f->mtx); }

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
  if (!out || size > ACTO_MSG_MAX_SIZE || (size > 0 && !data) || timeout_ms < -1)
    return ACTO_EINVAL;
  if (acto__tls_worker && acto__tls_worker->sys == sys)
    return ACTO_EDEADLK;
  if (acto__system_validate_ref(sys, to) != 0)
    return ACTO_ESTALE;
  out->type = 0;
  out->size = 0;
  out->data = NULL;
  acto__future f;
  memset(&f, 0, sizeof(f));
  f.id = atomic_fetch_add_explicit(&sys->next_ask_id, 1, memory_order_relaxed) + 1;
  pthread_mutex_init(&f.mtx, NULL);
  acto__clock_cond_init(&f.cv);
  acto__msg *m = acto__msg_new(type, data, size, NULL);
  if (!m) {
    pthread_cond_destroy(&f.cv);
    pthread_mutex_destroy(&f.mtx);
    return ACTO_ENOMEM;
  }
  m->flags = ACTO__MF_REQUEST | ACTO__MF_FUTURE;
  m->req_id = f.id;
  pthread_mutex_lock(&sys->futures.mtx);
  acto__future **b = &sys->futures.buckets[f.id % ACTO__FUTURE_BUCKETS];
  f.next = *b;
  *b = &f;
  pthread_mutex_unlock(&sys->futures.mtx);

  uint64_t start = acto__clock_now_ns();
  int r = acto__send_msg(sys, to, m, 0, timeout_ms, 0);
  int result;
  if (r >= 0 && sys->det) {
    /* Deterministic mode: this thread is the worker; run the system until
     * the answer is in or the virtual deadline has passed. */
    uint64_t end = timeout_ms < 0 ? UINT64_MAX
                                  : acto__now_ns(sys) + (uint64_t)timeout_ms * 1000000ull;
    acto__sched_det_run(sys, future_done, &f, end);
    if (!future_done(&f) && timeout_ms >= 0 && acto__now_ns(sys) < end)
      atomic_store_explicit(&sys->vnow_ns, end, memory_order_relaxed);
  }
  if (r < 0) {
    if (!future_take(&sys->futures, f.id))
      future_wait_done(&f); /* a failure notice is completing it */
    if (f.reply)
      acto__msg_free(f.reply);
    result = r;
  } else {
    struct timespec ts;
    if (timeout_ms >= 0) {
      int64_t spent = (int64_t)((acto__clock_now_ns() - start) / 1000000u);
      acto__clock_deadline(&ts, timeout_ms > spent ? timeout_ms - spent : 0);
    }
    pthread_mutex_lock(&f.mtx);
    while (!f.done) {
      if (timeout_ms < 0)
        pthread_cond_wait(&f.cv, &f.mtx);
      else if (pthread_cond_timedwait(&f.cv, &f.mtx, &ts) != 0)
        break;
    }
    int done = f.done;
    pthread_mutex_unlock(&f.mtx);
    if (!done) {
      if (future_take(&sys->futures, f.id)) {
        f.status = ACTO_ETIMEDOUT;
        f.reply = NULL;
        if (!acto__ref_local(sys, to))
          acto__node_ask_forget(sys, to.node, f.id);
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
    acto__dead_letter(sys, reply, ACTO_DEAD_LATE_REPLY);
  }
  return ACTO_ENOENT;
}

/* Routes a reply (or a failure status with reply == NULL) for request m. */
static void route_reply(acto_system *sys, acto__msg *req, int status, acto__msg *reply) {
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
    reply->target_id = req->pub.sender.id;
    if (status == 0)
      acto__dead_letter_to(sys, reply, req->pub.sender,
                           remote ? ACTO_DEAD_NOCONNECTION : ACTO_DEAD_STALE);
    else
      acto__msg_free(reply);
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
  rm->pub.sender = acto__actor_ref(ctx->self);
  req->flags |= ACTO__MF_REPLIED;
  route_reply(ctx->sys, req, 0, rm);
  return 0;
}

int acto_reply_later(acto_ctx *ctx, acto_reply_token *tok) {
  if (!ctx || !tok)
    return ACTO_EINVAL;
  acto__msg *req;
  int r = current_request(ctx, &req);
  if (r)
    return r;
  req->flags |= ACTO__MF_REPLIED;
  tok->ask_id = req->req_id;
  tok->asker = req->pub.sender;
  tok->flags = req->flags & ACTO__MF_FUTURE;
  tok->reserved = 0;
  return 0;
}

int acto_reply_to(acto_system *sys, const acto_reply_token *tok, uint32_t type, const void *data,
                  size_t size) {
  if (!sys || !tok || tok->ask_id == 0 || !valid_payload(type, data, size))
    return ACTO_EINVAL;
  acto__msg *rm = acto__msg_new(type, data, size, NULL);
  if (!rm)
    return ACTO_ENOMEM;
  acto_ctx *ctx = acto__tls_ctx;
  if (ctx && ctx->sys == sys && ctx->self)
    rm->pub.sender = acto__actor_ref(ctx->self);
  /* A stand-in for the request: route_reply reads only these fields. */
  acto__msg req;
  memset(&req, 0, sizeof req);
  req.flags = (uint16_t)(ACTO__MF_REQUEST | (tok->flags & ACTO__MF_FUTURE));
  req.req_id = tok->ask_id;
  req.pub.sender = tok->asker;
  route_reply(sys, &req, 0, rm);
  return 0;
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
  acto_system *sys = ctx->sys;
  acto__actor *a = ctx->self;
  if (acto__system_validate_ref(sys, to) != 0)
    return ACTO_ESTALE;
  acto__actor_ext *ext = acto__actor_ext_get(a);
  if (!ext)
    return ACTO_ENOMEM;
  if (!ext->asks) {
    ext->asks = calloc(1, sizeof(struct acto__ask_table));
    if (!ext->asks)
      return ACTO_ENOMEM;
  }
  struct acto__ask_table *t = ext->asks;
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 4;
    ask_entry *ne = realloc(t->e, nc * sizeof(ask_entry));
    if (!ne)
      return ACTO_ENOMEM;
    t->e = ne;
    t->cap = nc;
  }
  acto__msg *m = acto__msg_new(type, data, size, NULL);
  if (!m)
    return ACTO_ENOMEM;
  uint64_t id = atomic_fetch_add_explicit(&sys->next_ask_id, 1, memory_order_relaxed) + 1;
  m->flags = ACTO__MF_REQUEST;
  m->req_id = id;
  m->pub.sender = acto__actor_ref(a);
  uint64_t timer = 0;
  if (timeout_ms > 0) {
    timer = acto__timer_ask_deadline(sys, acto__actor_ref(a), id, timeout_ms);
    if (!timer) {
      acto__msg_free(m);
      return ACTO_ENOMEM;
    }
  }
  ask_entry *e = &t->e[t->n++];
  e->id = id;
  e->fn = fn;
  e->user = user;
  e->timer = timer;
  int r = acto__send_msg(sys, to, m, 0, -1, 0);
  if (r < 0) {
    ask_entry *again = table_find(t, id);
    if (again) {
      if (again->timer)
        acto__timer_cancel_id(sys, again->timer);
      table_remove(t, again);
    }
    return r;
  }
  if (ask_id_out)
    *ask_id_out = id;
  return r;
}

void acto__ask_dispatch(acto_ctx *ctx, acto__actor *a, acto__msg *m) {
  acto_system *sys = ctx->sys;
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  struct acto__ask_table *t = ext ? ext->asks : NULL;
  ask_entry *e = table_find(t, m->req_id);
  if (!e) {
    if (m->kind == ACTO__KIND_REPLY && m->status == 0) {
      m->kind = ACTO__KIND_USER; /* counted like a user message */
      acto__dead_letter(sys, m, ACTO_DEAD_LATE_REPLY);
    } else {
      acto__msg_free(m);
    }
    return;
  }
  ask_entry entry = *e;
  table_remove(t, e);
  int status = m->kind == ACTO__KIND_ASK_TIMEOUT ? ACTO_ETIMEDOUT : m->status;
  if (m->kind == ACTO__KIND_REPLY && entry.timer)
    acto__timer_cancel_id(sys, entry.timer);
  ctx->cur = m;
  ctx->cur_type = m->pub.type;
  if (entry.fn) {
    entry.fn(ctx, a->state, status, status == 0 ? &m->pub : NULL, entry.user);
  } else {
    int32_t st = status;
    acto_msg view = m->pub;
    view.ask_id = entry.id;
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
    if (r < 0) {
      a->failed = 1;
      a->stop_reason = r;
    }
  }
  ctx->cur = NULL;
  acto__msg_free(m);
}

void acto__ask_table_free(acto_system *sys, acto__actor *a) {
  acto__actor_ext *ext = acto__actor_ext_peek(a);
  if (!ext || !ext->asks)
    return;
  struct acto__ask_table *t = ext->asks;
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].timer)
      acto__timer_cancel_id(sys, t->e[i].timer);
  free(t->e);
  free(t);
  ext->asks = NULL;
}
