/* conn.c - connections: accepting, connecting, reading and the frame
 * loop, writing, pausing a connection whose delivery parked, closing and
 * reaping; the loop's flush and wake events.
 *
 * DESIGN
 * Connections.  A conn goes TCP-connecting (outbound) -> HANDSHAKE
 * (pre-auth frames, auth.c) -> WAIT_INFO (authenticated; our INFO sent,
 * theirs awaited) -> UP (the peer's active conn) -> closed.  Only the
 * active conn of an UP peer carries messages.  Simultaneous connects
 * between two nodes are settled when the inbound one authenticates: the
 * connection opened by the node with the smaller name wins on both sides,
 * and the loser is dropped before it carries anything.  A second
 * connection from a node already UP is a duplicate (refused) if the
 * incarnation is the same, and proof of a restart otherwise (the old
 * incarnation goes down first).
 *
 * Encryption (acto_node_config.encryption, ACTORS.md 13.4).  A conn of a
 * node with encryption on has a TLS session (c->tls, tls.c) and one more
 * state: TCP-connecting -> TLS (the TLS 1.3 handshake; at most half the
 * handshake timeout) -> HANDSHAKE -> WAIT_INFO -> UP, everything after TLS
 * inside it.  Reading: recv() fills the loop's ciphertext buffer (n->rx),
 * the session decrypts it into c->in and the frame loop runs on the
 * plaintext unchanged (a pause leaves decrypted bytes in c->in as it
 * leaves received ones on a plain conn).  Writing: every write of the
 * socket, plain or not, is acto__tls_send, which encrypts the sealed
 * frames a chunk at a time and sends the records in the order they were
 * made.  Who calls into a session, and under which locks:
 *   I/O thread  the handshake and SSL_read (t->mtx only), the writes of
 *               try_write (c->wbuf with t->mtx only; the peer's out under
 *               p->mtx, then t->mtx), the close_notify at close;
 *   a worker    the direct write of outq.c: p->mtx, then t->mtx, and only
 *               to the conn it finds as p->active with direct_ok.
 * t->mtx is a leaf (lock order: p->mtx, then t->mtx; nothing is locked
 * under it), held for every SSL call and every send of the ciphertext.
 * direct_ok is set only after the loop wrote everything, the session's
 * ciphertext included, so INFO and the frames queued before UP leave
 * first.  conn_close clears p->active under p->mtx (peer_down) before it
 * sends the close_notify, so the goodbye and the free come after the last
 * worker write.  An end of stream closes the conn whether or not a
 * close_notify came first (PITFALLS, libevent 6: no "dirty shutdown" is
 * ever treated as clean or ignored); a record cut short is never
 * decrypted, so nothing of it is delivered.  A node with encryption off
 * that receives a TLS record where the peer's first handshake frame
 * belongs, and a node with it on whose first bytes from the peer are not
 * a TLS record, refuse the connection (handshakes_refused, one warning
 * that names the reason) and answer with a fatal protocol_version alert,
 * so that the other side logs why as well.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "actor/remote.h"
#include "transport/auth.h"
#include "transport/frame.h"
#include "transport/transport.h"

static void conn_process(acto__conn *c);
static void plain_meets_tls(acto__conn *c, uint8_t first);
static void tls_in(acto__conn *c, const uint8_t *d, size_t k);
static int tls_step(acto__conn *c);
static void start_auth(acto__conn *c);

/* One log line about a connection (log.c: rate-limited, never blocks this
 * thread).  An unauthenticated peer is named by its address. */
static void conn_log(acto__node *n, acto_log_level level, const char *peer,
                     const struct sockaddr_storage *addr, const char *what, const char *reason) {
  if (!acto__log_on(n->sys, level))
    return;
  char who[ACTO__AUTH_NAME_MAX + 64];
  if (peer) {
    snprintf(who, sizeof who, "%s", peer);
  } else {
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (addr)
      acto__addr_format(addr, ip, sizeof ip, &port);
    snprintf(who, sizeof who,
             addr && addr->ss_family == AF_INET6 ? "[%s]:%u (unauthenticated)"
                                                 : "%s:%u (unauthenticated)",
             ip, (unsigned)port);
  }
  acto__log(n->sys, level, "node", "%s: %s %s: %s", n->name, what, who, reason);
}

/* Writes from buf until EAGAIN, through the TLS session when there is one
 * (which first sends the ciphertext it still holds, possibly of frames a
 * worker's direct write encrypted).  Returns 0, 1 when bytes remain, or -1
 * on a socket error. */
static int write_buf(acto__conn *c, acto__buf *b) {
  uint64_t sent = 0;
  int r = acto__tls_send(c->tls, c->fd, b, &sent);
  if (sent)
    ST_ADD(c->node, bytes_out, sent);
  return r;
}

/* Writes what is pending on c (its own buffer first, then, if it is the
 * peer's active conn, the peer's frames).  I/O thread. */
void acto__conn_try_write(acto__conn *c) {
  if (c->state == C_CLOSED || c->state == C_TCP)
    return;
  int r = write_buf(c, &c->wbuf);
  if (r < 0) {
    acto__conn_close(c, "write failed (peer closed or reset)", 0);
    return;
  }
  int more = r;
  acto__ovf *resumed = NULL;
  acto__peer *p = c->peer;
  if (!more && c->state == C_UP && p) {
    pthread_mutex_lock(&p->mtx);
    p->flush_pending = 0;
    if (p->active == c) {
      int sr = acto__outq_seal_locked(p);
      if (sr < 0) {
        pthread_mutex_unlock(&p->mtx);
        acto__conn_close(c, "cannot seal a frame", 0);
        return;
      }
      size_t before = acto__buf_unread(&p->out);
      r = write_buf(c, &p->out);
      p->last_write_ns = acto__transport_now_ns();
      if (acto__buf_unread(&p->out) < before)
        p->progress_ns = p->last_write_ns;
      if (acto__buf_unread(&p->out) == 0)
        p->out_msgs = 0;
      if (r >= 0) {
        more = r;
        resumed = acto__outq_drain_ovf_locked(p);
        if (resumed && p->batch_n) {
          if (acto__outq_seal_locked(p) == 0 && !more) {
            r = write_buf(c, &p->out);
            more = r > 0;
            if (acto__buf_unread(&p->out) == 0)
              p->out_msgs = 0;
          }
        }
        if (p->thread_waiters)
          pthread_cond_broadcast(&p->cv);
      }
      p->direct_ok = r == 0 && !more;
    }
    int resume = c->out_paused && acto__outq_bytes_locked(p) <= c->node->out_bytes / 2;
    pthread_mutex_unlock(&p->mtx);
    acto__outq_resume_parkers(resumed);
    if (r < 0) {
      acto__conn_close(c, "write failed (peer closed or reset)", 0);
      return;
    }
    if (resume) {
      c->out_paused = 0;
      if (!c->area_paused) {
        event_add(c->rev, NULL);
        conn_process(c);
        if (c->state == C_CLOSED)
          return;
      }
    }
  }
  if (more)
    event_add(c->wev, NULL);
  else
    event_del(c->wev);
}

/* Sends one pre-UP frame on c: payload, sealed if authenticated. */
int acto__conn_send_frame(acto__conn *c, const uint8_t *payload, size_t len, int sealed) {
  uint8_t hdr[ACTO__FRAME_HEADER];
  uint32_t cap = sealed ? c->node->cap : ACTO__FRAME_CAP_PREAUTH;
  size_t tl = sealed ? ACTO__FRAME_TAG_LEN : 0;
  if (acto__frame_header_write(hdr, len, tl, cap) < 0)
    return ACTO_EINVAL;
  uint8_t tag[ACTO__FRAME_TAG_LEN];
  if (sealed && acto__auth_seal(&c->auth, payload, len, tag) < 0)
    return ACTO_EIO;
  if (acto__buf_append(&c->wbuf, hdr, sizeof hdr) || acto__buf_append(&c->wbuf, payload, len) ||
      (sealed && acto__buf_append(&c->wbuf, tag, tl)))
    return ACTO_ENOMEM;
  ST_ADD(c->node, frames_out, 1);
  acto__conn_try_write(c);
  return 0;
}

static void conn_unlink(acto__conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    c->node->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->next = c->prev = NULL;
}

static void conn_free(acto__conn *c) {
  if (c->peer)
    acto__peer_unpin(c->peer);
  if (c->tls) {
    acto__tls_clear(c->tls);
    free(c->tls);
  }
  if (c->rev)
    event_free(c->rev);
  if (c->wev)
    event_free(c->wev);
  if (c->fd >= 0)
    close(c->fd);
  acto__auth_clear(&c->auth);
  acto__buf_free(&c->in);
  acto__buf_free(&c->wbuf);
  free(c);
}

void acto__conn_close(acto__conn *c, const char *reason, int bad_frame) {
  if (c->state == C_CLOSED)
    return;
  acto__node *n = c->node;
  int prev = c->state;
  c->state = C_CLOSED;
  if (c->rev)
    event_del(c->rev);
  if (c->wev)
    event_del(c->wev);
  if (prev == C_TCP || prev == C_TLS || prev == C_HANDSHAKE || prev == C_WAIT_INFO)
    n->pending_hs--;
  if (bad_frame)
    ST_ADD(n, bad_frames, 1);
  acto__peer *p = c->peer;
  int refused = bad_frame || c->auth.state == ACTO__AUTH_S_FAILED;
  conn_log(n, refused ? ACTO_LOG_WARN : ACTO_LOG_INFO, p ? p->name : NULL, &c->remote,
           c->outbound ? "closed connection to" : "closed connection from", reason);
  if (p) {
    if (prev == C_UP && p->active == c) {
      acto__peer_down(p, reason, ACTO_ENOTCONN, 1);
    } else if (c->outbound && p->connecting == c) {
      p->connecting = NULL;
      int err = ((prev == C_TLS || prev == C_HANDSHAKE) && c->auth.state == ACTO__AUTH_S_FAILED)
                    ? ACTO_EAUTH
                    : ACTO_ENOTCONN;
      pthread_mutex_lock(&p->mtx);
      int up = p->state == P_UP;
      pthread_mutex_unlock(&p->mtx);
      if (!up)
        acto__peer_down(p, reason, err, 0);
    } else if (!c->outbound && prev != C_UP) {
      pthread_mutex_lock(&p->mtx);
      if (p->state == P_CONNECTING && !p->connecting) {
        /* An inbound handshake that failed: back to down, nothing fired. */
        p->state = P_DOWN;
        p->attempts++;
        pthread_cond_broadcast(&p->cv);
      }
      pthread_mutex_unlock(&p->mtx);
    }
  }
  /* Messages waiting for full mailboxes: taken back as dead letters. */
  acto__area_close(c);
  /* No worker writes to c any more (it is not, or no longer, its peer's
   * active conn): our close_notify, or the alert of a refused handshake,
   * is the socket's last word, sent if it fits. */
  if (c->tls)
    acto__tls_goodbye(c->tls, c->fd);
  conn_unlink(c);
  c->next = n->dead;
  n->dead = c;
  event_active(n->reap_ev, EV_READ, 0);
}

/* Frees closed conns, and the waiting lines (area.c) whose verdict came
 * (all: every one).  I/O thread (or the stopping thread after the loop).
 * Returns 1 while zombie lines remain. */
int acto__conn_reap(acto__node *n, int all) {
  while (n->dead) {
    acto__conn *c = n->dead;
    n->dead = c->next;
    conn_free(c);
  }
  return acto__area_reap(n, all);
}

void acto__conn_on_reap(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__conn_reap(arg, 0);
}

/* Processes every complete frame in c->in. */
static int out_full(acto__conn *c) {
  acto__peer *p = c->peer;
  if (c->state != C_UP || !p)
    return 0;
  pthread_mutex_lock(&p->mtx);
  int full = acto__outq_bytes_locked(p) > c->node->out_bytes;
  pthread_mutex_unlock(&p->mtx);
  return full;
}

static void conn_process(acto__conn *c) {
  while (c->state != C_CLOSED && !c->area_paused) {
    if (!c->out_paused && out_full(c)) {
      c->out_paused = 1;
      event_del(c->rev);
    }
    if (c->out_paused)
      return;
    int authed = c->state == C_WAIT_INFO || c->state == C_UP;
    uint32_t cap = authed ? c->node->cap : ACTO__FRAME_CAP_PREAUTH;
    acto__frame f;
    const uint8_t *base = c->in.p + c->in.off;
    int r =
        acto__frame_read(base, acto__buf_unread(&c->in), cap, authed ? ACTO__FRAME_TAG_LEN : 0, &f);
    if (r == ACTO__FRAME_NEED_MORE)
      return;
    if (r < 0) {
      if (!authed && !c->tls && acto__tls_is_record_start(base, acto__buf_unread(&c->in))) {
        plain_meets_tls(c, base[0]);
        return;
      }
      acto__conn_close(c, f.reason ? f.reason : "bad frame", 1);
      return;
    }
    const char *reason = NULL;
    int pr;
    if (!authed) {
      pr = c->node->on_handshake(c, base + f.payload_off, f.payload_len, &reason);
    } else {
      /* The tag is checked before any byte of the payload is read. */
      if (acto__auth_open(&c->auth, base + f.payload_off, f.payload_len, base + f.tag_off) != 0) {
        acto__conn_close(
            c, acto__auth_reason(&c->auth) ? acto__auth_reason(&c->auth) : "bad frame tag", 1);
        return;
      }
      pr = c->node->on_batch(c, base + f.payload_off, f.payload_len, &reason);
    }
    if (pr < 0) {
      /* A refused handshake is counted as such (handshakes_refused), not
       * as a bad frame as well; nor is a local failure (-2). */
      acto__conn_close(c, reason ? reason : "protocol error", authed && pr == -1);
      return;
    }
    if (c->state == C_CLOSED)
      return;
    acto__buf_consume(&c->in, f.consumed);
    if (authed && acto__area_full(c)) {
      /* The waiting area is over its bound (a sender that ignores BUSY):
       * stop reading until it drains below half (area.c, DESIGN: Flow). */
      c->area_paused = 1;
      ST_ADD(c->node, area_pauses, 1);
      event_del(c->rev);
      return;
    }
  }
}

/* ---- encryption ----------------------------------------------------------- */

/* The client's first acto handshake frame (HELLO), once TCP, and TLS when
 * it is on, are up.  May close c. */
static void start_auth(acto__conn *c) {
  uint8_t out[ACTO__AUTH_MSG_MAX];
  int len = acto__auth_start(&c->auth, out, sizeof out);
  if (len < 0 || acto__conn_send_frame(c, out, (size_t)len, 0) != 0)
    acto__conn_close(c, "cannot start the handshake", 0);
}

/* The TLS handshake was refused, by the peer (an alert) or by us: counted
 * and logged like a refused acto handshake (acto_node_connect answers
 * ACTO_EAUTH), with OpenSSL's own words when it has some.  The alert, if
 * any, leaves with the close (acto__tls_goodbye). */
static void tls_refused(acto__conn *c) {
  acto__tls *t = c->tls;
  const char *why = t->reason ? t->reason : "TLS handshake failed";
  if (t->detail[0]) {
    snprintf(c->why, sizeof c->why, "%s (OpenSSL: %s)", why, t->detail);
    why = c->why;
  }
  ST_ADD(c->node, refused, 1);
  c->auth.state = ACTO__AUTH_S_FAILED;
  acto__conn_close(c, why, 0);
}

/* One step of the TLS handshake with what was fed; sends our flight; on
 * DONE the acto handshake starts inside TLS.  0, or -1 when c closed. */
static int tls_step(acto__conn *c) {
  int r = acto__tls_handshake(c->tls);
  if (r == ACTO_ENOMEM) {
    acto__conn_close(c, "out of memory for the TLS handshake", 0);
    return -1;
  }
  if (r < 0) {
    tls_refused(c);
    return -1;
  }
  acto__conn_try_write(c); /* the ClientHello, or the server's flight */
  if (c->state == C_CLOSED)
    return -1;
  if (r == ACTO__TLS_DONE) {
    c->state = C_HANDSHAKE;
    if (c->outbound)
      start_auth(c);
  }
  return c->state == C_CLOSED ? -1 : 0;
}

/* k bytes of ciphertext from the socket: the handshake while C_TLS, then
 * plaintext into c->in and the frame loop, unchanged. */
static void tls_in(acto__conn *c, const uint8_t *d, size_t k) {
  if (c->state == C_TLS && !c->tls_rx && !acto__tls_is_record_start(d, k)) {
    c->tls_rx = 1;
    acto__tls_refuse(c->tls, d[0] == 0 ? "the peer sent an acto frame in clear: it has encryption "
                                         "off and this node has it on "
                                         "(acto_node_config.encryption)"
                                       : "the peer sent bytes that are not TLS to a node with "
                                         "encryption on");
    tls_refused(c);
    return;
  }
  c->tls_rx = 1;
  int r = acto__tls_feed(c->tls, d, k);
  if (r != 0) {
    acto__conn_close(c, "out of memory for TLS input", 0);
    return;
  }
  if (c->state == C_TLS && (tls_step(c) != 0 || c->state == C_TLS))
    return;
  int want_write = 0;
  long got = acto__tls_read(c->tls, &c->in, &want_write);
  if (got == ACTO_EPROTO) {
    /* A record that does not verify: tampering or a broken peer. */
    acto__tls *t = c->tls;
    snprintf(c->why, sizeof c->why, "%s (OpenSSL: %s)", t->reason ? t->reason : "TLS error",
             t->detail[0] ? t->detail : "no detail");
    acto__conn_close(c, c->why, 1);
    return;
  }
  if (got == ACTO_ENOMEM) {
    acto__conn_close(c, "out of memory for TLS input", 0);
    return;
  }
  if (want_write) {
    acto__conn_try_write(c);
    if (c->state == C_CLOSED)
      return;
  }
  if (acto__buf_unread(&c->in) > 0)
    conn_process(c);
  if (got == ACTO_ECLOSED && c->state != C_CLOSED)
    acto__conn_close(c, "the peer closed the TLS session (close_notify)", 0);
}

/* A node with encryption off got TLS where the peer's first handshake
 * frame belongs: refused, answering a ClientHello with the alert so that
 * the TLS side logs why as well. */
static void plain_meets_tls(acto__conn *c, uint8_t first) {
  if (first == 22) { /* a handshake record: a ClientHello */
    if (acto__buf_append(&c->wbuf, acto__tls_alert_protocol_version, ACTO__TLS_ALERT_LEN) == 0)
      acto__conn_try_write(c);
    if (c->state == C_CLOSED)
      return;
  }
  ST_ADD(c->node, refused, 1);
  c->auth.state = ACTO__AUTH_S_FAILED;
  acto__conn_close(c,
                   first == 22 ? "the peer speaks TLS: it has encryption on and this node has it "
                                 "off (acto_node_config.encryption)"
                               : "the peer answered with TLS: it has encryption on and this node "
                                 "has it off (acto_node_config.encryption)",
                   0);
}

static void read_some(acto__conn *c);

/* A read, with the delivery of what it brought bracketed for I/O turns
 * (actor/scheduler.c): one actor it made runnable may have its turn here
 * once the reading is done, and then the loop polls for a while (node.c,
 * io_main).  n outlives c (which the read may close). */
static void on_read(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__conn *c = arg;
  acto_system *sys = c->node->sys;
  acto__node *n = c->node;
  acto__sched_io_begin(sys);
  read_some(c);
  if (acto__sched_io_end(sys))
    n->poll_until_ns = acto__transport_now_ns() + ACTO__IO_POLL_NS;
}

static void read_some(acto__conn *c) {
  size_t budget = READ_BUDGET;
  while (budget > 0 && c->state != C_CLOSED && !c->area_paused && !c->out_paused) {
    /* Plain: straight into the frame buffer; TLS: into the loop's
     * ciphertext buffer, from which the session decrypts into it. */
    uint8_t *dst = c->node->rx;
    size_t room = READ_CHUNK;
    if (!c->tls) {
      if (acto__buf_reserve(&c->in, READ_CHUNK) != 0) {
        acto__conn_close(c, "out of memory for the input buffer", 0);
        return;
      }
      dst = c->in.p + c->in.len;
      room = c->in.cap - c->in.len;
    }
    ssize_t k = recv(c->fd, dst, room, 0);
    if (k > 0) {
      ST_ADD(c->node, bytes_in, (uint64_t)k);
      c->t_rx = acto__transport_now_ns();
      budget = budget > (size_t)k ? budget - (size_t)k : 0;
      if (c->tls) {
        tls_in(c, dst, (size_t)k);
      } else {
        c->in.len += (size_t)k;
        conn_process(c);
        /* A short read emptied the socket: the event is level-triggered
         * and comes again for more, so the recv that would only say
         * EAGAIN is saved (one system call per message in a
         * request-reply).  TLS may hold decrypted bytes: it reads on. */
        if ((size_t)k < room)
          return;
      }
      continue;
    }
    if (k == 0) {
      /* An end of stream without a close_notify (a peer killed, a reset
       * path, a truncation) closes like any other: nothing after it is
       * believed, and what was not a whole frame is dropped. */
      acto__conn_close(c,
                       c->state == C_TLS ? "connection closed by the peer during the TLS handshake"
                       : c->tls          ? "connection closed by the peer (no TLS close_notify)"
                                         : "connection closed by the peer",
                       0);
      return;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return;
    acto__conn_close(c, "connection reset", 0);
    return;
  }
}

static void on_write(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__conn *c = arg;
  if (c->state == C_TCP) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err != 0) {
      acto__conn_close(c, "connect failed", 0);
      return;
    }
    event_add(c->rev, NULL);
    if (c->tls) {
      /* The ClientHello first; the acto handshake once TLS is done. */
      c->state = C_TLS;
      tls_step(c);
      return;
    }
    c->state = C_HANDSHAKE;
    start_auth(c);
    return;
  }
  acto__conn_try_write(c);
}

static acto__conn *conn_new(acto__node *n, int fd, int outbound) {
  acto__conn *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->node = n;
  c->fd = fd;
  c->outbound = outbound;
  c->rev = event_new(n->base, fd, EV_READ | EV_PERSIST, on_read, c);
  c->wev = event_new(n->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
  if (!c->rev || !c->wev ||
      acto__auth_init(&c->auth, outbound ? ACTO__AUTH_CLIENT : ACTO__AUTH_SERVER, n->name, &n->key,
                      NULL) != 0) {
    if (c->rev)
      event_free(c->rev);
    if (c->wev)
      event_free(c->wev);
    free(c);
    return NULL;
  }
  if (n->tls_on) {
    c->tls = calloc(1, sizeof *c->tls);
    if (!c->tls || acto__tls_init(c->tls, &n->tls, outbound) != 0) {
      free(c->tls);
      acto__auth_clear(&c->auth);
      event_free(c->rev);
      event_free(c->wev);
      free(c);
      return NULL;
    }
  }
  c->t_start = c->t_rx = c->t_ping = acto__transport_now_ns();
  c->next = n->conns;
  if (n->conns)
    n->conns->prev = c;
  n->conns = c;
  n->pending_hs++;
  return c;
}

void acto__conn_on_accept(evutil_socket_t lfd, short ev, void *arg) {
  (void)ev;
  acto__node *n = arg;
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    if (n->pending_hs >= n->max_pending) {
      ST_ADD(n, refused, 1);
      conn_log(n, ACTO_LOG_WARN, NULL, &sa, "refused connection from",
               "too many pending handshakes");
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    acto__conn *c = conn_new(n, fd, 0);
    if (!c) {
      close(fd);
      continue;
    }
    c->remote = sa;
    c->state = c->tls ? C_TLS : C_HANDSHAKE;
    event_add(c->rev, NULL);
  }
}

void acto__conn_start_connect(acto__peer *p) {
  acto__node *n = p->node;
  if (p->connecting || atomic_load_explicit(&n->stopping, memory_order_acquire))
    return;
  pthread_mutex_lock(&p->mtx);
  if (p->state != P_DOWN || !p->has_addr || p->resolving) {
    pthread_mutex_unlock(&p->mtx);
    return;
  }
  if (!p->resolved && acto__addr_numeric(p->host, p->port, &p->addr, &p->addr_len) == 0)
    p->resolved = 1;
  if (!p->resolved) {
    /* A DNS name: resolved on the resolver thread, which calls back here
     * (addr.c DESIGN). */
    p->connect_req = 0;
    pthread_mutex_unlock(&p->mtx);
    if (acto__addr_resolve(p) != 0)
      acto__peer_down(p, "cannot resolve the host (out of memory)", ACTO_ENOMEM, 0);
    return;
  }
  p->state = P_CONNECTING;
  p->connect_req = 0;
  p->pins++; /* the outbound conn's, below */
  struct sockaddr_storage sa = p->addr;
  socklen_t salen = p->addr_len;
  struct sockaddr_storage num;
  socklen_t numlen;
  if (acto__addr_numeric(p->host, p->port, &num, &numlen) != 0)
    p->resolved = 0; /* a name: resolved again before the next attempt */
  pthread_mutex_unlock(&p->mtx);
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  acto__conn *c = fd >= 0 ? conn_new(n, fd, 1) : NULL;
  if (!c) {
    if (fd >= 0)
      close(fd);
    acto__peer_down(p, "cannot create a socket", ACTO_ENOTCONN, 0);
    acto__peer_unpin(p);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->peer = p;
  c->remote = sa;
  c->state = C_TCP;
  p->connecting = c;
  if (connect(fd, (struct sockaddr *)&sa, salen) != 0 && errno != EINPROGRESS) {
    acto__conn_close(c, "connect failed", 0);
    return;
  }
  event_add(c->wev, NULL);
}

/* The resolver's answer for p (addr.c DESIGN), with the request's pin. */
void acto__conn_on_resolved(acto__peer *p, uint32_t hash, const char *host, int ok,
                            const struct sockaddr_storage *ss, socklen_t len) {
  pthread_mutex_lock(&p->mtx);
  p->resolving = 0;
  int same = acto__peer_hash(p) == hash && strcmp(p->host, host) == 0;
  if (same && ok) {
    p->addr = *ss;
    p->addr_len = len;
    p->resolved = 1;
  }
  int want = same && p->state == P_DOWN;
  pthread_mutex_unlock(&p->mtx);
  if (want && ok)
    acto__conn_start_connect(p);
  else if (want)
    acto__peer_down(p, "cannot resolve the host", ACTO_ENOTCONN, 0);
  acto__peer_unpin(p);
}

/* A sender asked for a write (or a connection). */
static void on_flush(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__peer *p = arg;
  pthread_mutex_lock(&p->mtx);
  acto__conn *a = p->active;
  int want_connect = p->state == P_DOWN && p->connect_req;
  if (!a)
    p->flush_pending = 0;
  pthread_mutex_unlock(&p->mtx);
  if (a)
    acto__conn_try_write(a);
  else if (want_connect)
    acto__conn_start_connect(p);
}

/* A worker resolved a waiting line's parked head (area.c): move the
 * lines on, read again where the area's bound had stopped reading. */
void acto__conn_on_wake(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__node *n = arg;
  if (!atomic_exchange_explicit(&n->area_fired, 0, memory_order_acquire))
    return;
  for (acto__conn *c = n->conns; c; c = c->next) {
    if (c->state == C_CLOSED || !acto__area_wake(c))
      continue;
    c->area_paused = 0;
    conn_process(c);
    if (c->state != C_CLOSED && !c->area_paused && !c->out_paused)
      event_add(c->rev, NULL);
  }
  acto__conn_reap(n, 0);
}

/* Gets (or adds) a peer, pinned like acto__peer_get, and makes sure its flush
 * event exists.  The event is created under dir_mtx so that exactly one is
 * made (a recycled peer keeps its own). */
acto__peer *acto__conn_peer_ready(acto__node *n, const char *name, int *err) {
  acto__peer *p = acto__peer_get(n, name, err);
  if (!p)
    return NULL;
  pthread_mutex_lock(&n->dir_mtx);
  if (!p->flush_ev)
    p->flush_ev = event_new(n->base, -1, 0, on_flush, p);
  int ok = p->flush_ev != NULL;
  pthread_mutex_unlock(&n->dir_mtx);
  if (!ok) {
    acto__peer_unpin(p);
    *err = ACTO_ENOMEM;
    return NULL;
  }
  return p;
}
