/* handshake.c - a connection before it carries messages: pre-auth frames
 * go to auth.c; once authenticated, simultaneous connects are settled and
 * INFO is exchanged, after which the peer is up (peer.c).  DESIGN: conn.c
 * (Connections).
 */
#include <string.h>

#include "actor/remote.h"
#include "transport/auth.h"
#include "transport/transport.h"
#include "transport/wire.h"

int acto__handshake_info(acto__conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  acto__peer *p = c->peer;
  uint64_t id = w->f[0];
  c->peer_port = (uint32_t)w->f[1];
  uint32_t inc = (uint32_t)id;
  pthread_mutex_lock(&p->mtx);
  int up = p->state == P_UP;
  uint32_t cur = p->inc;
  pthread_mutex_unlock(&p->mtx);
  if (up && p->active && p->active != c) {
    if (cur == inc) {
      *reason = "duplicate connection from a node already up";
      return -1;
    }
    acto__conn_close(p->active, "the node restarted (new incarnation)", 0);
  }
  pthread_mutex_lock(&p->mtx);
  p->inc = inc;
  pthread_mutex_unlock(&p->mtx);
  if (p->connecting == c)
    p->connecting = NULL;
  n->pending_hs--;
  acto__peer_up(c);
  acto__conn_try_write(c); /* what was queued while the peer was down */
  return 0;
}

/* Handles one pre-auth frame payload (a handshake message). */
int acto__handshake_feed(acto__conn *c, const uint8_t *pl, size_t len, const char **reason) {
  acto__node *n = c->node;
  uint8_t out[ACTO__AUTH_MSG_MAX];
  size_t out_len = 0;
  int r = acto__auth_feed(&c->auth, pl, len, out, sizeof out, &out_len);
  if (r < 0) {
    *reason = acto__auth_reason(&c->auth) ? acto__auth_reason(&c->auth) : "handshake failed";
    ST_ADD(n, refused, 1);
    return -1;
  }
  if (out_len > 0 && acto__conn_send_frame(c, out, out_len, 0) != 0) {
    *reason = "cannot send a handshake frame";
    return -1;
  }
  if (r != ACTO__AUTH_DONE)
    return 0;
  const char *pname = acto__auth_peer_name(&c->auth);
  if (c->outbound) {
    if (strcmp(pname, c->peer->name) != 0) {
      *reason = "the peer authenticated under another name";
      c->auth.state = ACTO__AUTH_S_FAILED;
      ST_ADD(n, refused, 1);
      return -1;
    }
  } else {
    int err = 0;
    acto__peer *p = acto__conn_peer_ready(n, pname, &err);
    if (!p) {
      *reason = err == ACTO_ELIMIT   ? "too many peers (every max_peers slot is in use)"
                : err == ACTO_EEXIST ? "node name collides with a known node"
                                     : "out of memory for a peer";
      ST_ADD(n, refused, 1);
      return -1;
    }
    c->peer = p;
    /* Simultaneous connect: the connection opened by the smaller name
     * wins on both sides. */
    if (p->connecting) {
      if (strcmp(pname, n->name) < 0) {
        acto__conn *mine = p->connecting;
        p->connecting = NULL;
        mine->peer = NULL;   /* superseded: its close fires nothing */
        acto__peer_unpin(p); /* mine's pin (c keeps its own) */
        acto__conn_close(mine, "simultaneous connect: the peer's connection wins", 0);
      } else {
        *reason = "simultaneous connect: our connection wins";
        return -1;
      }
    }
    pthread_mutex_lock(&p->mtx);
    if (p->state == P_DOWN)
      p->state = P_CONNECTING;
    pthread_mutex_unlock(&p->mtx);
  }
  /* Authenticated: send INFO as the first sealed frame. */
  c->state = C_WAIT_INFO;
  acto__buf tmp = {0};
  uint8_t prefix[6];
  size_t k = acto__wire_batch_prefix(prefix, 1);
  int e = acto__buf_append(&tmp, prefix, k);
  if (e == 0)
    e = acto__wire_info(&tmp, n->id, n->port, n->cap, (uint32_t)(n->hb_timeout_ns / 1000000u));
  if (e == 0)
    e = acto__conn_send_frame(c, tmp.p, tmp.len, 1);
  acto__buf_free(&tmp);
  if (e != 0) {
    *reason = "cannot send INFO";
    return -1;
  }
  return 0;
}
