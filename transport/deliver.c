/* deliver.c - the door into actor/: an authenticated frame's batch is
 * checked whole, then each message is delivered by kind (user messages
 * into mailboxes, replies to asks, system signals, the node service's
 * lookups, and its spawns, which go to spawn.c).
 *
 * DESIGN
 * Delivery.  A frame is checked whole (every message parsed and held to
 * the rules of its kind) before any message of it is delivered: a
 * refused frame closes the connection having delivered nothing.  Per
 * sender-receiver pair order holds because one peer has
 * one active connection and one FIFO queue, and the receiving I/O thread
 * delivers in order: a message for a full mailbox waits in the target's
 * line, and the target's later messages wait behind it (area.c, DESIGN:
 * Flow), while messages for other targets go on.  At
 * most once: nothing is retransmitted; what is queued when a connection
 * fails becomes dead letters (ACTO_DEAD_NOCONNECTION).

 */
#include <stdio.h>
#include <string.h>

#include "actor/remote.h"
#include "transport/cluster.h"
#include "transport/frame.h"
#include "transport/spawn_internal.h"
#include "codec/prescan.h"
#include "transport/transport.h"
#include "transport/wire.h"

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static int check_msg(const acto__conn *c, const acto__wmsg *w, int first_of_conn,
                     const char **reason);

/* Delivers one decoded message from peer p (conn c), which check_msg
 * accepted.  Returns 0, or -2 when a local resource failed (reason set). */
static int deliver(acto__conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  acto_system *sys = n->sys;
  acto__peer *p = c->peer;
  uint64_t pnode = ((uint64_t)acto__peer_hash(p) << 32) | p->inc;
  switch (w->kind) {
  case ACTO__W_PING: {
    acto__buf tmp = {0};
    if (acto__wire_ping(&tmp, ACTO__W_PONG, w->f[0]) == 0) {
      pthread_mutex_lock(&p->mtx);
      if (acto__buf_append(&p->batch, tmp.p, tmp.len) == 0) {
        acto__outq_added_locked(p);
        acto__outq_kick_locked(p);
      }
      pthread_mutex_unlock(&p->mtx);
    }
    acto__buf_free(&tmp);
    return 0;
  }
  case ACTO__W_PONG:
    return 0;
  case ACTO__W_SEND: {
    uint64_t to = w->f[0], from = w->f[1], ask_id = w->f[4];
    uint32_t flags = (uint32_t)w->f[3];
    uint32_t type = (uint32_t)w->f[2];
    if (to == ACTO__REMOTE_SERVICE_ID) {
      /* The node service: answers lookups itself. */
      if (!(flags & ACTO__WF_REQUEST))
        return 0;
      if (type == ACTO_MSG_NODE_SPAWN)
        return acto__spawn_service(c, w, reason); /* spawn.c: off this thread */
      acto_ref found = ACTO_REF_NONE;
      char name[ACTO_NAME_MAX + 1];
      int ok = w->payload_len >= 1 && w->payload_len <= ACTO_NAME_MAX;
      if (ok) {
        memcpy(name, w->payload, w->payload_len);
        name[w->payload_len] = 0;
        ok = strlen(name) == w->payload_len && acto_lookup(sys, name, &found) == 0;
      }
      uint8_t ref16[16]; /* id, node: little-endian u64s (ACTORS.md) */
      if (ok) {
        put_le64(ref16, found.id);
        put_le64(ref16 + 8, found.node);
      }
      acto__msg *rm =
          acto__msg_new(ACTO_MSG_NODE_LOOKUP, ok ? ref16 : NULL, ok ? sizeof ref16 : 0, NULL);
      if (!rm)
        return 0;
      rm->kind = ACTO__KIND_REPLY;
      rm->req_id = ask_id;
      rm->flags = (flags & ACTO__WF_FUTURE) ? ACTO__MF_FUTURE : 0;
      if (acto__route_send_system(&n->remote, (acto_ref){from, pnode}, rm) != 0)
        acto__msg_free(rm);
      return 0;
    }
    acto__msg *m = acto__msg_new(type, w->payload, w->payload_len, NULL);
    if (!m) {
      *reason = "out of memory for a message";
      return -2;
    }
    m->flags = ACTO__MF_REMOTE;
    m->origin = &p->origin; /* peers are type-stable: it outlives m */
    m->epoch = p->epoch;    /* the loop is the only writer */
    if (flags & ACTO__WF_REQUEST) {
      m->flags |= ACTO__MF_REQUEST;
      m->pub.flags = ACTO_MSG_FLAG_REQUEST;
      m->req_id = ask_id;
      if (flags & ACTO__WF_FUTURE)
        m->flags |= ACTO__MF_FUTURE;
    }
    if (from || (flags & ACTO__WF_FUTURE))
      m->pub.sender = (acto_ref){from, pnode};
    int r = acto__area_deliver(c, to, m, reason);
    if (r == 1) {
      /* BUSY was queued: it goes out now, not after this read's whole
       * budget, so that the sender stops sooner (what it sends until
       * BUSY reaches it lands in the waiting area). */
      acto__conn_try_write(c);
      if (c->state == C_CLOSED) {
        *reason = "write failed (peer closed or reset)";
        return -2;
      }
      r = 0;
    }
    return r;
  }
  case ACTO__W_BUSY:
  case ACTO__W_ROOM: {
    acto__ovf *resumed = NULL;
    int r = 0;
    pthread_mutex_lock(&p->mtx);
    if (w->kind == ACTO__W_BUSY) {
      ST_ADD(n, busy_in, 1);
      r = acto__outq_busy_locked(p, w->f[0]);
    } else {
      resumed = acto__outq_room_locked(p, w->f[0]);
    }
    pthread_mutex_unlock(&p->mtx);
    acto__outq_resume_parkers(resumed);
    if (r != 0) {
      *reason = "out of memory for a busy target";
      return -2;
    }
    return 0;
  }
  case ACTO__W_REPLY: {
    uint64_t to = w->f[0], ask_id = w->f[1], from = w->f[4];
    uint32_t flags = (uint32_t)w->f[2];
    pthread_mutex_lock(&p->mtx);
    acto__peer_rel_del(p, R_ASK, 0, 0, ask_id);
    pthread_mutex_unlock(&p->mtx);
    acto__msg *m = NULL;
    if (w->status == 0) {
      m = acto__msg_new((uint32_t)w->f[3], w->payload, w->payload_len, NULL);
      if (!m)
        return 0;
      if (from)
        m->pub.sender = (acto_ref){from, pnode};
    }
    if (flags & ACTO__WF_FUTURE) {
      acto__ask_future_complete(sys, ask_id, (int)w->status, m);
      return 0;
    }
    if (!m && !(m = acto__msg_new(0, NULL, 0, NULL)))
      return 0;
    m->kind = ACTO__KIND_REPLY;
    m->status = (int32_t)w->status;
    m->req_id = ask_id;
    if (acto__send_system(sys, (acto_ref){to, n->id}, m) != 0) {
      m->target_id = to;
      if (w->status == 0) {
        m->kind = ACTO__KIND_USER;
        acto__send_dead_letter(sys, m, ACTO_DEAD_LATE_REPLY);
      } else {
        acto__msg_free(m);
      }
    }
    return 0;
  }
  case ACTO__W_SIGNAL: {
    uint64_t sig = w->f[0], to = w->f[1], from = w->f[2], id = w->f[4];
    uint32_t fl = (uint32_t)w->f[3];
    acto_ref local = {to, n->id};
    acto_ref remote = from ? (acto_ref){from, pnode} : ACTO_REF_NONE;
    pthread_mutex_lock(&p->mtx);
    switch (sig) {
    case ACTO__WS_LINK:
      acto__peer_rel_add(p, R_LINK, 0, to, from, 0);
      break;
    case ACTO__WS_UNLINK:
      acto__peer_rel_del(p, R_LINK, to, from, 0);
      break;
    case ACTO__WS_EXIT:
      if (fl & ACTO__WSF_LINKED)
        acto__peer_rel_del(p, R_LINK, to, from, 0);
      break;
    case ACTO__WS_DOWN:
      acto__peer_rel_del(p, R_MON, to, 0, id);
      break;
    default:
      break;
    }
    pthread_mutex_unlock(&p->mtx);
    acto__msg *m = acto__msg_new(0, NULL, 0, NULL);
    if (!m)
      return 0;
    /* A wire SIGNAL kind is the runtime's block kind (wire.h). */
    _Static_assert((int)ACTO__WS_STOP == (int)ACTO__KIND_STOP &&
                       (int)ACTO__WS_EXIT == (int)ACTO__KIND_EXIT &&
                       (int)ACTO__WS_DOWN == (int)ACTO__KIND_DOWN &&
                       (int)ACTO__WS_LINK == (int)ACTO__KIND_LINK &&
                       (int)ACTO__WS_UNLINK == (int)ACTO__KIND_UNLINK &&
                       (int)ACTO__WS_MONITOR == (int)ACTO__KIND_MONITOR &&
                       (int)ACTO__WS_DEMONITOR == (int)ACTO__KIND_DEMONITOR,
                   "SIGNAL kinds are block kinds");
    m->kind = (uint16_t)sig;
    m->flags = (uint16_t)(((fl & ACTO__WSF_LINKED) ? ACTO__MF_LINKED : 0) |
                          ((fl & ACTO__WSF_UNTRAPPABLE) ? ACTO__MF_UNTRAPPABLE : 0));
    m->pub.sender = remote;
    m->status = (int32_t)w->status;
    m->req_id = id;
    if (acto__send_system(sys, local, m) != 0) {
      /* The target is gone: a LINK or MONITOR is answered at once. */
      if (sig == ACTO__WS_LINK || sig == ACTO__WS_MONITOR)
        acto__link_answer_late(sys, m, local, ACTO_REASON_NOPROC);
      if (sig == ACTO__WS_LINK) {
        pthread_mutex_lock(&p->mtx);
        acto__peer_rel_del(p, R_LINK, to, from, 0);
        pthread_mutex_unlock(&p->mtx);
      }
      acto__msg_free(m);
    }
    return 0;
  }
  default: /* kinds 9 and up, which check_msg let through */
    return acto__cluster_deliver(c, w, reason);
  }
}

/* The rules of one message that only the message and the connection
 * state show (ACTORS.md "Messages"): the kinds and flags, field widths,
 * reserved types, INFO first and only first.  first_of_conn: this is the
 * first message since the handshake (the peer's INFO is due).  Returns 0,
 * or -1 with *reason. */
static int check_msg(const acto__conn *c, const acto__wmsg *w, int first_of_conn,
                     const char **reason) {
  if (first_of_conn) {
    if (w->kind != ACTO__W_INFO) {
      *reason = "the first message is not INFO";
      return -1;
    }
    uint64_t id = w->f[0];
    if ((uint32_t)(id >> 32) != acto__peer_hash(c->peer) || (uint32_t)id == 0) {
      *reason = "INFO node id does not belong to the authenticated name";
      return -1;
    }
    if (w->f[1] > 65535 || w->f[2] < 64 || w->f[2] > ACTO__FRAME_CAP_MAX) {
      *reason = "INFO field out of range";
      return -1;
    }
    if (w->f[2] != c->node->cap) {
      /* One side would send frames up to its cap that the other refuses;
       * both refuse, so neither ever counts the link as up. */
      *reason = "frame caps differ (give every node the same frame_cap)";
      return -1;
    }
    return 0;
  }
  switch (w->kind) {
  case ACTO__W_INFO:
    *reason = c->state == C_UP ? "INFO after the connection is up" : "INFO twice";
    return -1;
  case ACTO__W_PING:
  case ACTO__W_PONG:
    return 0;
  case ACTO__W_BUSY:
  case ACTO__W_ROOM:
    if (w->f[0] == 0 || w->f[0] == ACTO__REMOTE_SERVICE_ID) {
      *reason = "BUSY or ROOM without a target";
      return -1;
    }
    return 0;
  case ACTO__W_SEND: {
    uint64_t to = w->f[0], type = w->f[2], flags = w->f[3], ask_id = w->f[4];
    if (type > 0xffffffffu || (flags & ~(uint64_t)(ACTO__WF_REQUEST | ACTO__WF_FUTURE)) ||
        ((flags & ACTO__WF_REQUEST) && ask_id == 0) || flags == ACTO__WF_FUTURE) {
      *reason = "SEND field out of range";
      return -1;
    }
    if (type >= ACTO_MSG_RESERVED &&
        !(to == ACTO__REMOTE_SERVICE_ID &&
          (type == ACTO_MSG_NODE_LOOKUP || type == ACTO_MSG_NODE_SPAWN))) {
      *reason = "SEND of a reserved message type";
      return -1;
    }
    return 0;
  }
  case ACTO__W_REPLY:
    if (w->f[3] > 0xffffffffu || (w->f[2] & ~(uint64_t)ACTO__WF_FUTURE) || w->f[1] == 0 ||
        w->status > 0) {
      *reason = "REPLY field out of range";
      return -1;
    }
    return 0;
  case ACTO__W_SIGNAL: {
    uint64_t sig = w->f[0], from = w->f[2], fl = w->f[3];
    if ((fl & ~(uint64_t)(ACTO__WSF_LINKED | ACTO__WSF_UNTRAPPABLE)) ||
        !(sig == ACTO__WS_STOP || sig == ACTO__WS_EXIT || sig == ACTO__WS_DOWN ||
          sig == ACTO__WS_LINK || sig == ACTO__WS_UNLINK || sig == ACTO__WS_MONITOR ||
          sig == ACTO__WS_DEMONITOR)) {
      *reason = "SIGNAL of an unknown kind or flags";
      return -1;
    }
    if (from == 0 && sig != ACTO__WS_STOP && sig != ACTO__WS_EXIT) {
      *reason = "SIGNAL without a sender";
      return -1;
    }
    return 0;
  }
  default:
    return acto__cluster_check(c, w, reason);
  }
}

/* Processes one complete authenticated frame payload: checked whole
 * first (every message parsed and held to check_msg before the first one
 * is delivered, so a refused frame delivers nothing), then delivered in
 * order; a message for a full mailbox waits in the area (area.c) and
 * the frame goes on.  Returns 0, -1 for a bad frame, -2 for a local
 * failure (reason set either way). */
int acto__deliver_batch(acto__conn *c, const uint8_t *pl, size_t len, const char **reason) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  acto__prescan_result res;
  int r = acto__prescan_decode(pl, len, 2, ACTO__PRESCAN_KIND, &u, &res);
  if (r != 0) {
    msgpack_unpacked_destroy(&u);
    snprintf(c->why, sizeof c->why, "%s",
             res.detail[0] ? res.detail
             : res.reason  ? res.reason
                           : "malformed msgpack");
    *reason = c->why;
    return -1;
  }
  const msgpack_object *root = &u.data;
  if (root->via.array.ptr[0].via.u64 != ACTO__WIRE_BATCH || root->via.array.size < 2) {
    msgpack_unpacked_destroy(&u);
    *reason = "frame is not a batch of at least one message";
    return -1;
  }
  size_t nmsg = root->via.array.size;
  acto__wmsg w;
  int wait_info = c->state == C_WAIT_INFO;
  for (size_t i = 1; i < nmsg; i++) {
    if (acto__wire_parse(&root->via.array.ptr[i], &w, reason) != 0 ||
        check_msg(c, &w, wait_info && i == 1, reason) != 0) {
      msgpack_unpacked_destroy(&u);
      return -1;
    }
  }
  ST_ADD(c->node, frames_in, 1);
  int rc = 0;
  for (size_t i = 1; i < nmsg; i++) {
    if (acto__wire_parse(&root->via.array.ptr[i], &w, reason) != 0) {
      rc = -1; /* checked above: cannot happen */
      break;
    }
    ST_ADD(c->node, msgs_in, 1);
    if (c->state == C_WAIT_INFO) {
      /* i == 1: the INFO check_msg required. */
      if (acto__handshake_info(c, &w, reason) != 0) {
        rc = -1;
        break;
      }
      continue;
    }
    int d = deliver(c, &w, reason);
    if (d < 0) {
      rc = d;
      break;
    }
  }
  acto__area_frame_end(c);
  msgpack_unpacked_destroy(&u);
  return rc;
}
