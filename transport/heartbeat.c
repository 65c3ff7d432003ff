/* heartbeat.c - the I/O thread's periodic tick: PINGs on quiet links, a
 * peer that went silent or stopped reading goes down, handshakes that take
 * too long are dropped, explicit peers reconnect with backoff.
 */

#include <event2/event.h>

#include "actor/remote.h"
#include "transport/cluster.h"
#include "transport/transport.h"
#include "transport/wire.h"

/* Heartbeats, handshake timeouts, reconnections. */
void acto__heartbeat_tick(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__node *n = arg;
  uint64_t t = acto__transport_now_ns();
  /* This process itself was not running for a while (SIGSTOP, a paused
   * VM): the silence was ours, not the peers'.  Give them a new period. */
  int we_slept = n->last_tick_ns && t - n->last_tick_ns > n->hb_timeout_ns / 2;
  n->last_tick_ns = t;
  acto__conn *c = n->conns;
  while (c) {
    acto__conn *next = c->next;
    if (c->state == C_TCP || c->state == C_TLS || c->state == C_HANDSHAKE ||
        c->state == C_WAIT_INFO) {
      if (t - c->t_start > n->hs_timeout_ns) {
        ST_ADD(n, refused, 1);
        acto__conn_close(c, "handshake timeout", 0);
      } else if (c->state == C_TLS && t - c->t_start > n->tls_timeout_ns) {
        /* The TLS handshake has its own, shorter, bound: a peer that
         * stalls it cannot hold a pending slot for the whole timeout. */
        ST_ADD(n, refused, 1);
        acto__conn_close(c, "TLS handshake timeout", 0);
      }
    } else if (c->state == C_UP) {
      if (we_slept)
        c->t_rx = t;
      acto__peer *pp = c->peer;
      pthread_mutex_lock(&pp->mtx);
      int stuck = acto__buf_unread(&pp->out) > 0 && t - pp->progress_ns > n->hb_timeout_ns;
      pthread_mutex_unlock(&pp->mtx);
      if (we_slept)
        stuck = 0;
      if (!c->area_paused && !c->out_paused && t - c->t_rx > n->hb_timeout_ns) {
        ST_ADD(n, hb_timeouts, 1);
        acto__conn_close(c, "heartbeat timeout: the peer is silent", 0);
      } else if (stuck) {
        /* Our frames have not moved for a whole timeout: the peer (or
         * the path to it) does not read. */
        ST_ADD(n, hb_timeouts, 1);
        acto__conn_close(c, "heartbeat timeout: the peer does not read", 0);
      } else if (t - c->t_ping >= n->hb_ns) {
        /* A PING every heartbeat_ms whatever else we send: a peer that
         * only answers PINGs is heard from at least that often (ACTORS.md
         * "Failure detection"). */
        acto__peer *p = c->peer;
        acto__buf tmp = {0};
        c->t_ping = t;
        if (acto__wire_ping(&tmp, ACTO__W_PING, t) == 0) {
          pthread_mutex_lock(&p->mtx);
          if (p->active == c && acto__buf_append(&p->batch, tmp.p, tmp.len) == 0)
            acto__outq_added_locked(p);
          pthread_mutex_unlock(&p->mtx);
          acto__conn_try_write(c);
        }
        acto__buf_free(&tmp);
      }
    }
    c = next;
  }
  acto__cluster_tick(n, t);
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    int down = p->state == P_DOWN;
    int want = down && !p->resolving &&
               (p->connect_req ||
                ((p->explicit_peer || p->member) && p->has_addr && t >= p->next_reconnect_ns));
    pthread_mutex_unlock(&p->mtx);
    if (want)
      acto__conn_start_connect(p);
  }
}
