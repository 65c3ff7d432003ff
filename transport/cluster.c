/* cluster.c - membership: seeds, a full mesh, joined / down / left; and
 * the door through which the other cluster layers (global names,
 * global.c; process groups, group.c) hear of peers going up and down and
 * receive their wire messages (kinds 9 and up, ACTORS.md 13.5).
 *
 * DESIGN
 * Members.  Every node a node knows of is a peer (peer.c); a member is a
 * peer that is a seed or an explicit peer (acto_node_connect), was told
 * of by a member (MEMBER), or is up.  Its state, as acto_cluster_members
 * shows it, is derived under the peer's mutex:
 *   JOINING  known, never up (inc 0)  -> UP (a connection: INFO seen)
 *   UP       -> DOWN (the connection closed, went silent, was refused)
 *            -> LEFT (it sent LEAVE, then closed: left_inc == inc)
 *   DOWN     -> UP (a reconnection; a new incarnation is a new JOINED)
 *   LEFT     -> UP (a new incarnation came back by itself)
 * A member learned by gossip (`member`) is reconnected with backoff as an
 * explicit peer is, until it leaves or has been down for FORGET (then it
 * is an ordinary idle peer again and drops out of the list).
 * Gossip.  When a peer p comes up (the I/O thread, acto__cluster_peer_up):
 *   - p is told every other up member that listens (MEMBER each), and
 *   - every other up member is told of p (if p listens).
 * A node told of a member it is not connected to connects at once (the
 * tie-break of simultaneous connections, conn.c, keeps one).  So a node
 * that knows one seed reaches every node the seed reaches: a full mesh,
 * in two round trips of the slowest link.  Gossip is event driven only:
 * nothing is sent while the membership does not change.
 * Leaving.  acto_node_stop queues LEAVE to every up peer and writes it
 * before closing: the peer records left_inc, and the close that follows
 * is reported "left", not "down".
 * Notices.  The member hook runs on the I/O thread; each subscriber gets
 * an acto_member_notice on its system lane (never dropped for a full
 * mailbox).  A subscriber that no longer exists is dropped at the first
 * notice that cannot reach it.  hook_mtx guards the hook and the list; it
 * is never held while calling out (the list is copied).
 *
 * Thread ownership: wire messages, up, down and leave run on the I/O
 * thread; acto_cluster_* calls on any thread.  Lock order: dir_mtx, a
 * peer's mtx, hook_mtx (never two peers at once).
 */
#include "transport/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acto_error.h"
#include "actor/remote.h"
#include "transport/global.h"

#define FORGET_MIN_NS (60ull * 1000000000ull)

static uint64_t forget_ns(const acto__node *n) {
  uint64_t f = 10 * n->hb_timeout_ns;
  return f > FORGET_MIN_NS ? f : FORGET_MIN_NS;
}

/* ---- the member list -------------------------------------------------------- */

static int listed_locked(const acto__node *n, const acto__peer *p, uint64_t now) {
  if (p->state == P_UP || p->member || p->explicit_peer)
    return 1;
  /* Up once, lately (one that does not listen, or one that left). */
  return p->inc && now - p->member_since_ns < forget_ns(n);
}

static void describe_locked(const acto__node *n, acto__peer *p, uint64_t now, acto_member *m) {
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "%s", p->name);
  if (p->has_addr) {
    snprintf(m->host, sizeof m->host, "%s", p->host);
    m->port = p->port;
  }
  m->incarnation = p->inc;
  m->node_id = p->inc ? ((uint64_t)acto__peer_hash(p) << 32) | p->inc : 0;
  if (p->state == P_UP)
    m->state = ACTO_MEMBER_UP;
  else if (p->left_inc && p->left_inc == p->inc)
    m->state = ACTO_MEMBER_LEFT;
  else if (p->inc)
    m->state = ACTO_MEMBER_DOWN;
  else
    m->state = ACTO_MEMBER_JOINING;
  m->since_ms = p->member_since_ns && now > p->member_since_ns
                    ? (int64_t)((now - p->member_since_ns) / 1000000u)
                    : 0;
  (void)n;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const acto_member *)a)->name, ((const acto_member *)b)->name);
}

int acto_cluster_members(acto_system *sys, acto_member *out, size_t cap) {
  if (!sys || (!out && cap))
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  acto_member *all = calloc((size_t)cnt + 1, sizeof *all);
  if (!all)
    return ACTO_ENOMEM;
  uint64_t now = acto__transport_now_ns();
  acto_member *self = &all[0];
  snprintf(self->name, sizeof self->name, "%s", n->name);
  if (n->port) {
    snprintf(self->host, sizeof self->host, "%s", n->listen_host);
    self->port = n->port;
  }
  self->state = ACTO_MEMBER_UP;
  self->self = 1;
  self->incarnation = n->inc;
  self->node_id = n->id;
  size_t k = 1;
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    if (listed_locked(n, p, now))
      describe_locked(n, p, now, &all[k++]);
    pthread_mutex_unlock(&p->mtx);
  }
  qsort(all + 1, k - 1, sizeof *all, by_name);
  if (out && cap)
    memcpy(out, all, (k < cap ? k : cap) * sizeof *all);
  free(all);
  return (int)k;
}

/* ---- notices ---------------------------------------------------------------- */

int acto_cluster_set_member_hook(acto_system *sys, acto_member_fn fn, void *user) {
  if (!sys)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  pthread_mutex_lock(&n->hook_mtx);
  n->member_hook = fn;
  n->member_hook_user = fn ? user : NULL;
  pthread_mutex_unlock(&n->hook_mtx);
  return 0;
}

static int sub_find(const acto__node *n, acto_ref r) {
  for (size_t i = 0; i < n->nsubs; i++)
    if (acto_ref_eq(n->subs[i], r))
      return (int)i;
  return -1;
}

int acto_cluster_subscribe(acto_system *sys, acto_ref subscriber) {
  if (!sys)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  if (acto_ref_is_none(subscriber) || subscriber.node != n->id)
    return ACTO_EINVAL; /* a local actor only: notices are this node's view */
  int r = 0;
  pthread_mutex_lock(&n->hook_mtx);
  if (sub_find(n, subscriber) < 0) {
    if (n->nsubs == n->capsubs) {
      size_t nc = n->capsubs ? 2 * n->capsubs : 4;
      acto_ref *v = realloc(n->subs, nc * sizeof *v);
      if (!v)
        r = ACTO_ENOMEM;
      else
        n->subs = v, n->capsubs = nc;
    }
    if (r == 0)
      n->subs[n->nsubs++] = subscriber;
  }
  pthread_mutex_unlock(&n->hook_mtx);
  return r;
}

int acto_cluster_unsubscribe(acto_system *sys, acto_ref subscriber) {
  if (!sys)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  pthread_mutex_lock(&n->hook_mtx);
  int i = sub_find(n, subscriber);
  if (i >= 0)
    n->subs[i] = n->subs[--n->nsubs];
  pthread_mutex_unlock(&n->hook_mtx);
  return i >= 0 ? 0 : ACTO_ENOENT;
}

/* Reports one member event to the hook and the subscribers.  I/O thread,
 * no lock held. */
static void notify(acto__node *n, acto_member_event ev, const acto_member *m) {
  pthread_mutex_lock(&n->hook_mtx);
  acto_member_fn fn = n->member_hook;
  void *user = n->member_hook_user;
  size_t ns = n->nsubs;
  acto_ref *subs = ns ? malloc(ns * sizeof *subs) : NULL;
  if (subs)
    memcpy(subs, n->subs, ns * sizeof *subs);
  else
    ns = 0;
  pthread_mutex_unlock(&n->hook_mtx);
  if (fn)
    fn(user, ev, m);
  acto_member_notice note;
  memset(&note, 0, sizeof note);
  note.event = (uint32_t)ev;
  note.member = *m;
  for (size_t i = 0; i < ns; i++) {
    acto__msg *msg = acto__msg_new(ACTO_MSG_MEMBER, &note, sizeof note, NULL);
    if (!msg)
      continue; /* out of memory: this notice is lost, the list stays right */
    msg->kind = ACTO__KIND_NOTIFY;
    int r = acto__send_system(n->sys, subs[i], msg);
    if (r != 0) {
      acto__msg_free(msg);
      if (r != ACTO_ENOMEM)
        (void)acto_cluster_unsubscribe(n->sys, subs[i]); /* it is gone */
    }
  }
  free(subs);
}

static void notify_peer(acto__peer *p, acto_member_event ev) {
  acto__node *n = p->node;
  acto_member m;
  pthread_mutex_lock(&p->mtx);
  describe_locked(n, p, acto__transport_now_ns(), &m);
  pthread_mutex_unlock(&p->mtx);
  if (ev == ACTO_MEMBER_EV_DOWN && m.state == ACTO_MEMBER_UP)
    m.state = ACTO_MEMBER_DOWN; /* it came back meanwhile: say what happened */
  notify(n, ev, &m);
}

/* ---- gossip ----------------------------------------------------------------- */

/* Encodes MEMBER for p into b if p is up and listens.  Caller holds
 * p->mtx. */
static int member_msg_locked(acto__peer *p, acto__buf *b) {
  if (p->state != P_UP || !p->has_addr || p->port == 0)
    return 0;
  uint64_t id = ((uint64_t)acto__peer_hash(p) << 32) | p->inc;
  return acto__wire_member(b, id, p->port, p->name, strlen(p->name), p->host, strlen(p->host)) == 0;
}

static void gossip_up(acto__node *n, acto__peer *np) {
  acto__buf about_np = {0}, to_np = {0};
  uint32_t nto = 0;
  pthread_mutex_lock(&np->mtx);
  int np_listens = member_msg_locked(np, &about_np);
  pthread_mutex_unlock(&np->mtx);
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *q = n->peers[i];
    if (q == np)
      continue;
    pthread_mutex_lock(&q->mtx);
    int up = q->state == P_UP;
    if (up)
      nto += (uint32_t)member_msg_locked(q, &to_np);
    if (up && np_listens && q->active &&
        acto__buf_append(&q->batch, about_np.p, about_np.len) == 0) {
      acto__outq_added_locked(q);
      acto__outq_kick_locked(q);
    }
    pthread_mutex_unlock(&q->mtx);
  }
  if (nto)
    (void)acto__outq_control_n(np, to_np.p, to_np.len, nto);
  acto__buf_free(&about_np);
  acto__buf_free(&to_np);
}

/* A member told us of node `name` (id, where it listens). */
static void learn(acto__node *n, const char *name, uint64_t id, const char *host, uint16_t port) {
  if (strcmp(name, n->name) == 0)
    return;
  int err = 0;
  acto__peer *p = acto__conn_peer_ready(n, name, &err);
  if (!p)
    return; /* no slot (max_peers), or a hash clash: it stays unknown here */
  pthread_mutex_lock(&p->mtx);
  uint32_t inc = (uint32_t)id;
  int go = p->state == P_DOWN && !(p->left_inc && p->left_inc == inc) && !p->resolving;
  if (p->state == P_DOWN && !(p->left_inc && p->left_inc == inc)) {
    if (!p->explicit_peer || !p->has_addr)
      acto__peer_set_addr_locked(p, host, port);
    if (!p->member && !p->explicit_peer)
      p->member_since_ns = acto__transport_now_ns();
    p->member = 1;
    p->next_reconnect_ns = 0;
  }
  pthread_mutex_unlock(&p->mtx);
  if (go)
    acto__conn_start_connect(p);
  acto__peer_unpin(p);
}

void acto__cluster_leave(acto__node *n) {
  acto__buf b = {0};
  if (acto__wire_leave(&b, n->id) != 0)
    return;
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    acto__conn *c = p->state == P_UP ? p->active : NULL;
    pthread_mutex_unlock(&p->mtx);
    if (c && acto__outq_control(p, b.p, b.len) == 0)
      acto__conn_try_write(c); /* now: the close comes right after */
  }
  acto__buf_free(&b);
}

/* ---- the door --------------------------------------------------------------- */

static int name_ok(const uint8_t *s, size_t len) {
  if (len == 0 || len > ACTO_NODE_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '@' || c == '-'))
      return 0;
  }
  return 1;
}

int acto__cluster_check(const acto__conn *c, const acto__wmsg *w, const char **reason) {
  switch (w->kind) {
  case ACTO__W_MEMBER:
    if (!name_ok(w->payload, w->payload_len)) {
      *reason = "MEMBER name is not a node name";
      return -1;
    }
    if ((uint32_t)(w->f[0] >> 32) !=
            acto__peer_name_hash((const char *)w->payload, w->payload_len) ||
        (uint32_t)w->f[0] == 0) {
      *reason = "MEMBER node id does not belong to its name";
      return -1;
    }
    if (w->f[1] == 0 || w->f[1] > 65535) {
      *reason = "MEMBER port out of range";
      return -1;
    }
    if (acto__addr_host_problem((const char *)w->payload2, w->payload2_len)) {
      *reason = "MEMBER host is not a host";
      return -1;
    }
    return 0;
  case ACTO__W_LEAVE:
    if (w->f[0] != (((uint64_t)acto__peer_hash(c->peer) << 32) | c->peer->inc)) {
      *reason = "LEAVE of another node";
      return -1;
    }
    return 0;
  case ACTO__W_GREG:
  case ACTO__W_GUNREG:
    return acto__global_check(w, reason);
  case ACTO__W_JOIN:
  case ACTO__W_PART:
  case ACTO__W_GCAST:
    return acto__group_check(w, reason);
  default:
    *reason = "unknown message kind";
    return -1;
  }
}

int acto__cluster_deliver(acto__conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  switch (w->kind) {
  case ACTO__W_MEMBER: {
    char name[ACTO_NODE_NAME_MAX + 1], host[ACTO__HOST_MAX + 1];
    memcpy(name, w->payload, w->payload_len);
    name[w->payload_len] = 0;
    memcpy(host, w->payload2, w->payload2_len);
    host[w->payload2_len] = 0;
    learn(n, name, w->f[0], host, (uint16_t)w->f[1]);
    return 0;
  }
  case ACTO__W_LEAVE: {
    acto__peer *p = c->peer;
    pthread_mutex_lock(&p->mtx);
    p->left_inc = p->inc;
    pthread_mutex_unlock(&p->mtx);
    return 0;
  }
  case ACTO__W_GREG:
  case ACTO__W_GUNREG:
    return acto__global_deliver(c, w, reason);
  case ACTO__W_JOIN:
  case ACTO__W_PART:
  case ACTO__W_GCAST:
    return acto__group_deliver(c, w, reason);
  default: /* acto__cluster_check let nothing else through */
    return 0;
  }
}

void acto__cluster_peer_up(acto__peer *p, uint64_t node_id) {
  (void)node_id;
  acto__node *n = p->node;
  pthread_mutex_lock(&p->mtx);
  if (p->left_inc && p->left_inc != p->inc)
    p->left_inc = 0; /* a new incarnation of a node that had left */
  if (p->has_addr && p->port)
    p->member = 1; /* a node that listens: a member, reconnected when lost */
  pthread_mutex_unlock(&p->mtx);
  gossip_up(n, p);
  notify_peer(p, ACTO_MEMBER_EV_JOINED);
  acto__global_peer_up(p);
  acto__group_peer_up(p);
}

void acto__cluster_peer_down(acto__peer *p, uint64_t node_id, const char *reason) {
  (void)reason;
  pthread_mutex_lock(&p->mtx);
  int left = p->left_inc && p->left_inc == (uint32_t)node_id;
  if (left)
    p->member = 0; /* gone: not reconnected (an explicit peer still is) */
  pthread_mutex_unlock(&p->mtx);
  /* Its names and group members go first: whoever hears of the member
   * event finds the tables without them already. */
  acto__global_peer_down(p, node_id);
  acto__group_peer_down(p, node_id);
  notify_peer(p, left ? ACTO_MEMBER_EV_LEFT : ACTO_MEMBER_EV_DOWN);
}

void acto__cluster_tick(acto__node *n, uint64_t now) {
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    if (p->member && !p->explicit_peer && p->state == P_DOWN &&
        now - p->member_since_ns > forget_ns(n))
      p->member = 0; /* down too long: forgotten (a new MEMBER brings it back) */
    pthread_mutex_unlock(&p->mtx);
  }
}
