/* route.c - the door from actor/: the operations the node installs as
 * the runtime's port (actor/remote.h).  A remote send finds the target's
 * peer (connecting on demand), encodes the message and hands it to the
 * peer's outgoing queue (outq.c); relations that must fire when the peer
 * goes down are recorded on the peer (peer.c).
 */
#include "actor/remote.h"
#include "transport/transport.h"
#include "transport/wire.h"

/* Resolves the peer of a remote ref and checks its incarnation.  Returns
 * the peer locked, or NULL with *err. */
static acto__peer *peer_for(acto_system *sys, acto_ref to, int *err) {
  acto__node *n = acto__transport_node(sys);
  if (!n || atomic_load_explicit(&n->stopping, memory_order_acquire)) {
    *err = ACTO_ENOTCONN;
    return NULL;
  }
  uint32_t inc = (uint32_t)to.node;
  acto__peer *p = inc ? acto__peer_lock(n, (uint32_t)(to.node >> 32), NULL) : NULL;
  if (!p) {
    *err = ACTO_ENOTCONN;
    return NULL;
  }
  if (p->state == P_UP) {
    if (p->inc != inc) {
      pthread_mutex_unlock(&p->mtx);
      *err = ACTO_ESTALE; /* an older (or unknown) incarnation */
      return NULL;
    }
    return p;
  }
  /* Not up: queue and connect on demand, for one incarnation at a time
   * (messages for another one would be dropped at INFO anyway). */
  if (p->pending_inc && p->pending_inc != inc) {
    pthread_mutex_unlock(&p->mtx);
    *err = ACTO_ESTALE;
    return NULL;
  }
  if (!p->has_addr && p->state == P_DOWN) {
    pthread_mutex_unlock(&p->mtx);
    *err = ACTO_ENOTCONN; /* known name, but no address to connect to */
    return NULL;
  }
  p->pending_inc = inc;
  if (p->state == P_DOWN)
    p->connect_req = 1;
  return p;
}

int acto__route_send_user(acto__remote *port, acto_ref to, acto__msg *m, int fail_fast,
                          int64_t deadline_ms) {
  acto_system *sys = ((acto__node *)port)->sys;
  int err = 0;
  acto__peer *p = peer_for(sys, to, &err);
  if (!p) {
    acto__send_refused_to(sys, m, to,
                          err == ACTO_ESTALE ? ACTO_DEAD_STALE : ACTO_DEAD_NOCONNECTION);
    return err;
  }
  acto__node *n = p->node;
  acto__buf tmp = {0};
  uint32_t wflags = 0;
  if (m->flags & ACTO__MF_REQUEST)
    wflags |= ACTO__WF_REQUEST;
  if (m->flags & ACTO__MF_FUTURE)
    wflags |= ACTO__WF_FUTURE;
  int r = acto__wire_send(&tmp, to.id, m->pub.sender.id, m->pub.type, wflags, m->req_id,
                          m->pub.data, m->pub.size);
  if (r == 0 && tmp.len + 64 > n->cap)
    r = ACTO_ETOOBIG;
  if (r == 0 && (m->flags & ACTO__MF_REQUEST))
    r = acto__peer_rel_add(p, R_ASK, (m->flags & ACTO__MF_FUTURE) ? 1 : 0, m->pub.sender.id, to.id,
                           m->req_id);
  if (r != 0) {
    pthread_mutex_unlock(&p->mtx);
    acto__buf_free(&tmp);
    acto__msg_free(m);
    return r;
  }
  uint64_t ask_id = (m->flags & ACTO__MF_REQUEST) ? m->req_id : 0;
  acto__msg_free(m);
  uint32_t h = acto__peer_hash(p);
  r = acto__outq_append_unlock(sys, p, &tmp, 1, to.id, fail_fast, deadline_ms);
  acto__buf_free(&tmp);
  if (r < 0 && ask_id && acto__peer_relock(p, h)) {
    acto__peer_rel_del(p, R_ASK, 0, 0, ask_id);
    pthread_mutex_unlock(&p->mtx);
  }
  return r;
}

int acto__route_send_system(acto__remote *port, acto_ref to, acto__msg *m) {
  acto_system *sys = ((acto__node *)port)->sys;
  int err = 0;
  acto__peer *p = peer_for(sys, to, &err);
  if (!p)
    return err;
  acto__buf tmp = {0};
  int r;
  uint64_t from = m->pub.sender.id;
  if (m->kind == ACTO__KIND_REPLY) {
    uint32_t fl = (m->flags & ACTO__MF_FUTURE) ? ACTO__WF_FUTURE : 0;
    r = acto__wire_reply(&tmp, to.id, m->req_id, fl, m->status, m->pub.type, from, m->pub.data,
                         m->pub.size);
    if (r == 0 && tmp.len + 64 > p->node->cap) {
      /* Too big for a frame: the asker learns that it failed. */
      tmp.len = 0;
      r = acto__wire_reply(&tmp, to.id, m->req_id, fl, ACTO_ETOOBIG, 0, from, NULL, 0);
    }
  } else {
    uint32_t fl = 0;
    if (m->flags & ACTO__MF_LINKED)
      fl |= ACTO__WSF_LINKED;
    if (m->flags & ACTO__MF_UNTRAPPABLE)
      fl |= ACTO__WSF_UNTRAPPABLE;
    switch (m->kind) {
    case ACTO__KIND_STOP:
    case ACTO__KIND_EXIT:
    case ACTO__KIND_DOWN:
    case ACTO__KIND_LINK:
    case ACTO__KIND_UNLINK:
    case ACTO__KIND_MONITOR:
    case ACTO__KIND_DEMONITOR:
      break;
    default:
      pthread_mutex_unlock(&p->mtx);
      return ACTO_EINVAL; /* supervision commands stay local */
    }
    r = acto__wire_signal(&tmp, m->kind, to.id, from, fl, m->status, m->req_id);
    if (r == 0) {
      /* Keep the relations that must fire when the peer goes down. */
      switch (m->kind) {
      case ACTO__KIND_LINK:
        r = acto__peer_rel_add(p, R_LINK, 0, from, to.id, 0);
        break;
      case ACTO__KIND_MONITOR:
        r = acto__peer_rel_add(p, R_MON, 0, from, to.id, m->req_id);
        break;
      case ACTO__KIND_UNLINK:
        acto__peer_rel_del(p, R_LINK, from, to.id, 0);
        break;
      case ACTO__KIND_EXIT:
        if (m->flags & ACTO__MF_LINKED)
          acto__peer_rel_del(p, R_LINK, from, to.id, 0);
        break;
      case ACTO__KIND_DEMONITOR:
        acto__peer_rel_del(p, R_MON, from, 0, m->req_id);
        break;
      default:
        break;
      }
    }
  }
  if (r != 0) {
    pthread_mutex_unlock(&p->mtx);
    acto__buf_free(&tmp);
    return r;
  }
  /* Signals are never refused for room (like the system lane): they go
   * straight into the batch, bounded only by memory. */
  r = acto__buf_append(&p->batch, tmp.p, tmp.len);
  if (r == 0) {
    acto__outq_added_locked(p);
    acto__outq_flush_locked(p);
  }
  pthread_mutex_unlock(&p->mtx);
  acto__buf_free(&tmp);
  if (r == 0)
    acto__msg_free(m);
  return r;
}

void acto__route_ask_forget(acto__remote *port, uint64_t node, uint64_t ask_id) {
  acto__node *n = (acto__node *)port;
  acto__peer *p = acto__peer_lock(n, (uint32_t)(node >> 32), NULL);
  if (!p)
    return;
  acto__peer_rel_del(p, R_ASK, 0, 0, ask_id);
  pthread_mutex_unlock(&p->mtx);
}
