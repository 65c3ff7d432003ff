/* outq.c - a peer's outgoing queue (all under the peer's mutex): encoded
 * messages gather in a batch, are sealed into frames in `out` and written
 * directly by the sending thread when the connection is idle, or by the
 * I/O thread; sends that find the queue over its bound park (actors),
 * wait (plain threads) or fail (fail_fast), and so do sends to a target
 * the peer said is busy (the sender's side of the flow control: DESIGN
 * "Flow" in area.c).  DESIGN: peer.c (Peers) for batch, out and ovf;
 * transport.h beside acto__peer.active for the direct-write rule.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "actor/remote.h"
#include "transport/auth.h"
#include "transport/cluster.h"
#include "transport/frame.h"
#include "transport/idmap.h"
#include "transport/tls.h"
#include "transport/transport.h"
#include "transport/wire.h"

size_t acto__outq_bytes_locked(acto__peer *p) { return p->batch.len + acto__buf_unread(&p->out); }

/* Frames the open batch into `out`, sealed by the active conn.  Caller
 * holds p->mtx; the peer is UP.  On failure (no memory, seal error) the
 * batch is dropped as dead letters and the connection will be closed by
 * the caller noticing the error. */
int acto__outq_seal_locked(acto__peer *p) {
  if (p->batch_n == 0 || !p->active)
    return 0;
  acto__conn *c = p->active;
  uint8_t prefix[6];
  size_t k = acto__wire_batch_prefix(prefix, p->batch_n);
  size_t plen = k + p->batch.len;
  uint8_t hdr[ACTO__FRAME_HEADER];
  int r = acto__frame_header_write(hdr, plen, ACTO__FRAME_TAG_LEN, p->node->cap);
  if (r < 0)
    return r;
  if (acto__buf_reserve(&p->out, ACTO__FRAME_HEADER + plen + ACTO__FRAME_TAG_LEN) != 0)
    return ACTO_ENOMEM;
  uint8_t *w = p->out.p + p->out.len;
  memcpy(w, hdr, ACTO__FRAME_HEADER);
  memcpy(w + ACTO__FRAME_HEADER, prefix, k);
  memcpy(w + ACTO__FRAME_HEADER + k, p->batch.p, p->batch.len);
  r = acto__auth_seal(&c->auth, w + ACTO__FRAME_HEADER, plen, w + ACTO__FRAME_HEADER + plen);
  if (r < 0)
    return r;
  p->out.len += ACTO__FRAME_HEADER + plen + ACTO__FRAME_TAG_LEN;
  p->out_msgs += p->batch_n;
  ST_ADD(p->node, frames_out, 1);
  ST_ADD(p->node, msgs_out, p->batch_n);
  p->batch.len = 0;
  p->batch_n = 0;
  return 0;
}

/* Appends one encoded message (already in p->batch from `mark` on) and
 * keeps batches under BATCH_TARGET.  Caller holds p->mtx. */
void acto__outq_added_locked(acto__peer *p) {
  p->batch_n++;
  if (p->state == P_UP && p->batch.len >= BATCH_TARGET)
    (void)acto__outq_seal_locked(p);
}

/* Asks the I/O thread to write (or connect).  Caller holds p->mtx. */
void acto__outq_kick_locked(acto__peer *p) {
  if (!p->flush_pending) {
    p->flush_pending = 1;
    event_active(p->flush_ev, EV_WRITE, 0);
  }
}

/* A sender's write: at once, on the sender's thread, when the link is
 * idle (nothing else pending, and no write for DIRECT_IDLE_NS: a lone message,
 * as in a request-reply, pays no thread hand-off); otherwise the I/O
 * thread is asked, and what accumulates until it runs goes out as one
 * frame.  All writes to the active conn's socket happen under p->mtx, and
 * the loop closes the socket only after clearing p->active under it.
 * Caller holds p->mtx. */
#define DIRECT_IDLE_NS 20000u
void acto__outq_flush_locked(acto__peer *p) {
  if (p->state == P_UP && p->active && p->direct_ok && !p->flush_pending && p->batch_n == 1 &&
      acto__buf_unread(&p->out) == 0) {
    uint64_t t = acto__transport_now_ns();
    if (t - p->last_write_ns > DIRECT_IDLE_NS && acto__outq_seal_locked(p) == 0) {
      p->last_write_ns = t;
      /* Through the conn's TLS session when encryption is on: its own
       * mutex, taken inside p->mtx, keeps the I/O thread's SSL_read out
       * meanwhile (conn.c DESIGN: Encryption). */
      uint64_t sent = 0;
      int r = acto__tls_send(p->active->tls, p->active->fd, &p->out, &sent);
      if (sent > 0) {
        ST_ADD(p->node, bytes_out, sent);
        p->progress_ns = t;
      }
      if (acto__buf_unread(&p->out) == 0)
        p->out_msgs = 0;
      if (r == 0)
        return;
      /* The rest (or an error, which the loop's write meets too). */
    }
  }
  acto__outq_kick_locked(p);
}

/* Counts n messages as dead letters of reason NOCONNECTION. */
void acto__outq_dead_n(acto_system *sys, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    acto__system_count_dead(sys, ACTO_REF_NONE, 0, 0, ACTO_DEAD_NOCONNECTION);
}

/* Clears everything queued for the peer (it went down), busy targets'
 * parked sends included.  Caller holds p->mtx; parkers are collected in
 * *parkers (resumed by the caller without the lock).  Returns the
 * messages dropped. */
uint32_t acto__outq_drop_locked(acto__peer *p, acto__ovf **parkers) {
  uint32_t n = p->batch_n + p->out_msgs;
  p->batch.len = 0;
  p->batch_n = 0;
  p->out.len = p->out.off = 0;
  p->out_msgs = 0;
  /* Busy targets' lines go first: they would have gone behind ovf, but
   * order no longer matters for what is dropped. */
  for (size_t i = 0; i < p->busy.cap; i++) {
    acto__busy *b = p->busy.slots[i].val;
    if (!b)
      continue;
    if (b->tail) {
      b->tail->next = p->ovf_head;
      if (!p->ovf_head)
        p->ovf_tail = b->tail;
      p->ovf_head = b->head;
    }
    free(b);
  }
  acto__idmap_free(&p->busy);
  *parkers = p->ovf_head;
  for (acto__ovf *o = p->ovf_head; o; o = o->next)
    n += o->nmsgs;
  p->ovf_head = p->ovf_tail = NULL;
  p->pending_inc = 0;
  return n;
}

void acto__outq_resume_parkers(acto__ovf *o) {
  while (o) {
    acto__ovf *next = o->next;
    if (o->parker)
      acto__send_unpark(o->parker);
    free(o);
    o = next;
  }
}

/* Moves parked sends into the batch while the queue is below half.
 * Caller holds p->mtx; returns the chain of resolved entries. */
acto__ovf *acto__outq_drain_ovf_locked(acto__peer *p) {
  acto__ovf *done = NULL, **tail = &done;
  while (p->ovf_head &&
         acto__outq_bytes_locked(p) + p->ovf_head->len <= p->node->out_bytes / 2 + 1) {
    acto__ovf *o = p->ovf_head;
    if (acto__buf_append(&p->batch, o->bytes, o->len) != 0)
      break;
    p->ovf_head = o->next;
    if (!p->ovf_head)
      p->ovf_tail = NULL;
    p->batch_n += o->nmsgs - 1;
    acto__outq_added_locked(p);
    o->next = NULL;
    *tail = o;
    tail = &o->next;
  }
  return done;
}

/* BUSY(target) came from the peer: sends to target park, wait or fail
 * from now on (DESIGN: Flow, area.c).  Caller holds p->mtx.  Returns 0 or
 * ACTO_ENOMEM (the caller closes the connection: a BUSY it cannot honour
 * would let the peer's waiting area overflow). */
int acto__outq_busy_locked(acto__peer *p, uint64_t target) {
  if (acto__idmap_get(&p->busy, target))
    return 0;
  acto__busy *b = calloc(1, sizeof *b);
  if (!b || acto__idmap_put(&p->busy, target, b) != 0) {
    free(b);
    return ACTO_ENOMEM;
  }
  /* Sends to target still parked for room in the queue move to its line,
   * in order: they would only add to what waits at the peer. */
  acto__ovf **pp = &p->ovf_head, *last = NULL;
  while (*pp) {
    acto__ovf *o = *pp;
    if (o->target != target) {
      last = o;
      pp = &o->next;
      continue;
    }
    *pp = o->next;
    o->next = NULL;
    if (b->tail)
      b->tail->next = o;
    else
      b->head = o;
    b->tail = o;
  }
  p->ovf_tail = last;
  return 0;
}

/* ROOM(target) came: the sends parked on target go behind whatever waits
 * for the queue (ovf), in order, and move into the batch as room allows.
 * Caller holds p->mtx; returns the chain of resolved entries (resume them
 * without the lock, acto__outq_resume_parkers). */
acto__ovf *acto__outq_room_locked(acto__peer *p, uint64_t target) {
  acto__busy *b = acto__idmap_del(&p->busy, target);
  if (!b)
    return NULL;
  if (b->head) {
    if (p->ovf_tail)
      p->ovf_tail->next = b->head;
    else
      p->ovf_head = b->head;
    p->ovf_tail = b->tail;
  }
  free(b);
  acto__ovf *done = acto__outq_drain_ovf_locked(p);
  if (p->batch_n)
    acto__outq_kick_locked(p);
  if (p->thread_waiters)
    pthread_cond_broadcast(&p->cv);
  return done;
}

/* Whether a send of len bytes to target must wait: target is busy, sends
 * are parked before it, or the queue has no room. */
static int must_wait_locked(acto__peer *p, uint64_t target, size_t len) {
  return (p->busy.n && acto__idmap_get(&p->busy, target)) || p->ovf_head != NULL ||
         acto__outq_bytes_locked(p) + len > p->node->out_bytes;
}

/* Appends already-encoded bytes for target (or parks them) under the
 * queue bound and the flow control.  Caller holds p->mtx, which is
 * released on return. */
int acto__outq_append_unlock(acto_system *sys, acto__peer *p, acto__buf *tmp, uint32_t nmsgs,
                             uint64_t target, int fail_fast, int64_t deadline_ms) {
  acto__node *n = p->node;
  acto__actor *self;
  int may_wait = acto__system_caller(sys, &self) == 0;
  size_t len = tmp->len;
  acto__busy *busy = p->busy.n ? acto__idmap_get(&p->busy, target) : NULL;
  int must_queue = busy != NULL || p->ovf_head != NULL || (self && acto__send_parked(self));
  if (!must_queue && acto__outq_bytes_locked(p) + len <= n->out_bytes) {
    int r = acto__buf_append(&p->batch, tmp->p, len);
    if (r == 0) {
      p->batch_n += nmsgs - 1;
      acto__outq_added_locked(p);
      acto__outq_flush_locked(p);
    }
    pthread_mutex_unlock(&p->mtx);
    return r;
  }
  if (busy)
    ST_ADD(n, busy_parks, 1);
  if (fail_fast) {
    pthread_mutex_unlock(&p->mtx);
    return ACTO_EFULL;
  }
  if (self) {
    acto__ovf *o = malloc(sizeof *o + len);
    if (!o) {
      pthread_mutex_unlock(&p->mtx);
      return ACTO_ENOMEM;
    }
    o->next = NULL;
    o->parker = self;
    o->target = target;
    o->nmsgs = nmsgs;
    o->len = len;
    memcpy(o->bytes, tmp->p, len);
    acto__send_park(self);
    /* A busy target's line, or the queue's. */
    acto__ovf **head = busy ? &busy->head : &p->ovf_head;
    acto__ovf **tail = busy ? &busy->tail : &p->ovf_tail;
    if (*tail)
      (*tail)->next = o;
    else
      *head = o;
    *tail = o;
    ST_ADD(n, parks, 1);
    if (!busy)
      acto__outq_kick_locked(p);
    pthread_mutex_unlock(&p->mtx);
    return ACTO_PARKED;
  }
  /* A plain thread waits for room (or the peer going down); inside a
   * callback (init on a plain thread, another system's actor) it must not
   * wait. */
  if (!may_wait || deadline_ms == 0) {
    pthread_mutex_unlock(&p->mtx);
    return ACTO_ETIMEDOUT;
  }
  int r = acto__system_wait_enter(sys);
  if (r != 0) {
    pthread_mutex_unlock(&p->mtx);
    return r;
  }
  uint64_t deadline = acto__deadline_after(acto__transport_now_ns(), deadline_ms);
  uint64_t attempts = p->attempts;
  int state = p->state;
  p->thread_waiters++;
  while (must_wait_locked(p, target, len)) {
    if (acto__system_closing(sys)) {
      r = ACTO_ECLOSED;
      break;
    }
    if (p->state != state && p->state != P_UP) {
      r = ACTO_ENOTCONN;
      break;
    }
    if (p->attempts != attempts && p->state != P_UP) {
      r = ACTO_ENOTCONN;
      break;
    }
    if (acto__clock_wait(&p->cv, &p->mtx, deadline) != 0) {
      r = ACTO_ETIMEDOUT;
      break;
    }
  }
  p->thread_waiters--;
  if (r == 0) {
    r = acto__buf_append(&p->batch, tmp->p, len);
    if (r == 0) {
      p->batch_n += nmsgs - 1;
      acto__outq_added_locked(p);
      acto__outq_flush_locked(p);
    }
  }
  pthread_mutex_unlock(&p->mtx);
  acto__system_wait_leave(sys);
  return r;
}

int acto__outq_control(acto__peer *p, const void *bytes, size_t len) {
  return acto__outq_control_n(p, bytes, len, 1);
}

int acto__outq_control_n(acto__peer *p, const void *bytes, size_t len, uint32_t nmsgs) {
  int rc = ACTO_ENOTCONN;
  pthread_mutex_lock(&p->mtx);
  if (p->state == P_UP && p->active) {
    rc = acto__buf_append(&p->batch, bytes, len) == 0 ? 0 : ACTO_ENOMEM;
    if (rc == 0) {
      /* Counted one by one: a batch holds whole messages, and its prefix
       * says how many (outq_added_locked may seal between two). */
      p->batch_n += nmsgs - 1;
      acto__outq_added_locked(p);
      acto__outq_kick_locked(p);
    }
  }
  pthread_mutex_unlock(&p->mtx);
  return rc;
}
