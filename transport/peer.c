/* peer.c - the peer directory: a peer is a node known by name, in a slot
 * of a fixed table; lookup by hash and by name, pins, recycling, the
 * relations (links, monitors, asks) that fire when a peer goes down, and
 * the up and down transitions.
 *
 * DESIGN
 * Peers.  A peer is a node known by name.  Peer structs are type-stable:
 * each sits in one slot of a fixed array of max_peers until the system is
 * destroyed, and a slot can pass from one name to another.  Slots:
 *   FREE    beyond npeers, never used.  peer_get appends one (under
 *           dir_mtx, published by a release store of npeers) ->
 *   KNOWN   a name and its hash.  The peer is *idle* when it is DOWN, was
 *           not added by acto_node_connect (explicit peers keep their
 *           slot for the life of the node) and nothing refers to it: no
 *           pin, no relation (link, monitor, ask), nothing queued or
 *           parked, no thread waiting for room, no connection wanted.
 *   KNOWN -> KNOWN under another name: only peer_get, when the table is
 *           full and a new name needs a slot, recycles the peer idle the
 *           longest (or an idle peer whose name has the new name's hash),
 *           holding dir_mtx and then the peer's mutex.  Nothing else ever
 *           changes a peer's name or hash.
 * Who may keep a pointer to a peer: anyone holding its mutex; across a
 * release of the mutex only the holder of a pin (pins: a conn whose peer
 * it is, from c->peer's assignment to conn_free; a thread inside a node
 * call; peer_get returns its peer pinned), a thread counted in
 * thread_waiters, or code that checks the identity again when it locks
 * again (peer_relock).  Lookup by node id is lock-free: peer_by_hash picks
 * a candidate slot and peer_lock re-checks hash (and name) under the
 * mutex.  A message that came from a peer (MF_REMOTE) keeps its pointer
 * without a pin: it only reads live_epoch and compares it with the epoch
 * it arrived under.  epoch counts the connections of the struct and is
 * never reset, not by a recycle either, so a message from a name whose
 * slot was recycled never matches a live epoch again (it is orphaned, as
 * it must be: its connection is down).  Lock order: dir_mtx, then a
 * peer's mtx.  Per peer, under its mutex:
 *   state   DOWN -> CONNECTING (a connect was started, or an inbound
 *           handshake is under way) -> UP (INFO received) -> DOWN ...
 *   inc     the incarnation of the current connection (UP) or of the last
 *           one (DOWN; 0 if never connected).
 *   epoch   counts the peer's connections; live_epoch is the epoch while UP
 *           and 0 otherwise.  It is atomic because the scheduler reads it
 *           for every message that came from the network: a message that
 *           arrived over a connection that has gone down is never handled
 *           (its sender's watchers may already have their DOWN), even if
 *           the same incarnation reconnects later (a healed partition).
 *   batch   encoded messages not yet framed; `out` holds sealed frames not
 *           yet written.  Both count against out_queue_bytes.
 *   ovf     sends that found the queue full: parked actors' messages in
 *           order (a parked actor's later sends queue behind its earlier
 *           ones, as locally), resumed by the I/O thread once the queue is
 *           below half.
 *   busy    targets the peer said are busy (BUSY, until ROOM or down),
 *           each with the parked sends to it in order; ROOM moves them
 *           behind ovf (the flow control: DESIGN "Flow" in area.c).
 *   rel     links and monitors between local actors and actors on this
 *           peer, and asks waiting on it: when the peer goes down each
 *           local end gets EXIT / DOWN with ACTO_REASON_NOCONNECTION or its
 *           ask fails with ACTO_ENOTCONN.
 * Frames are sealed (MAC, implicit sequence number) under the peer mutex,
 * in the order they enter `out`, which is the order they are written.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "actor/remote.h"
#include "transport/transport.h"

uint32_t acto__peer_name_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)s[i];
    h *= 16777619u;
  }
  return h ? h : 1u;
}

/* A peer's hash.  relaxed: a lock-free reader only picks a candidate
 * (acto__peer_lock re-checks under the mutex); everyone else holds a mutex or a
 * pin, under which the hash does not change. */
uint32_t acto__peer_hash(acto__peer *p) {
  return atomic_load_explicit(&p->hash, memory_order_relaxed);
}

static void fire_hook(acto__node *n, acto_node_event ev, acto__peer *p, uint32_t inc,
                      const char *reason) {
  pthread_mutex_lock(&n->hook_mtx);
  acto_node_event_fn fn = n->hook;
  void *user = n->hook_user;
  pthread_mutex_unlock(&n->hook_mtx);
  if (fn)
    fn(user, ev, p->name, ((uint64_t)acto__peer_hash(p) << 32) | inc, reason);
}

/* The peer in the slot whose hash is h, or NULL: only a candidate, whose
 * identity may change before the caller locks it (use acto__peer_lock). */
static acto__peer *peer_by_hash(acto__node *n, uint32_t h) {
  /* acquire: pairs with the release store that published the entry. */
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++)
    if (acto__peer_hash(n->peers[i]) == h)
      return n->peers[i];
  return NULL;
}

/* The peer of hash h (and of that name, when name is not NULL), returned
 * with its mutex held; NULL if no such peer is known. */
acto__peer *acto__peer_lock(acto__node *n, uint32_t h, const char *name) {
  acto__peer *p = peer_by_hash(n, h);
  if (!p)
    return NULL;
  pthread_mutex_lock(&p->mtx);
  if (acto__peer_hash(p) != h || (name && strcmp(p->name, name) != 0)) {
    pthread_mutex_unlock(&p->mtx);
    return NULL; /* recycled meanwhile: the name is no longer known */
  }
  return p;
}

/* Locks p again if it still has hash h (1), or leaves it unlocked (0). */
int acto__peer_relock(acto__peer *p, uint32_t h) {
  pthread_mutex_lock(&p->mtx);
  if (acto__peer_hash(p) == h)
    return 1;
  pthread_mutex_unlock(&p->mtx);
  return 0;
}

/* Releases a pin (see DESIGN: Peers); the _locked form with p->mtx held. */
void acto__peer_unpin_locked(acto__peer *p) {
  if (--p->pins == 0)
    p->idle_ns = acto__transport_now_ns();
}

void acto__peer_unpin(acto__peer *p) {
  pthread_mutex_lock(&p->mtx);
  acto__peer_unpin_locked(p);
  pthread_mutex_unlock(&p->mtx);
}

/* Idle: its slot may go to another name.  Caller holds p->mtx. */
static int peer_idle_locked(const acto__peer *p) {
  return p->state == P_DOWN && !p->explicit_peer && !p->member && p->pins == 0 && p->nrels == 0 &&
         p->batch_n == 0 && acto__buf_unread(&p->out) == 0 && p->ovf_head == NULL &&
         p->thread_waiters == 0 && !p->connect_req;
}

/* Gives the idle peer p the name `name` (hash h), as new.  Caller holds
 * dir_mtx and p->mtx.  epoch and attempts keep counting (DESIGN). */
static void peer_recycle_locked(acto__node *n, acto__peer *p, const char *name, uint32_t h) {
  atomic_store_explicit(&p->hash, h, memory_order_relaxed); /* readers re-check under mtx */
  snprintf(p->name, sizeof p->name, "%s", name);
  p->inc = 0;
  p->pending_inc = 0;
  p->has_addr = 0;
  p->host[0] = 0;
  p->port = 0;
  p->resolved = 0; /* resolving: the answer finds another identity (addr.c) */
  p->member = 0;
  p->left_inc = 0;
  p->member_since_ns = 0;
  memset(&p->addr, 0, sizeof p->addr);
  p->connect_req = 0;
  p->last_error = 0;
  p->direct_ok = 0;
  p->last_write_ns = p->progress_ns = 0;
  p->next_reconnect_ns = 0;
  p->backoff_ms = n->rc_min_ms;
}

/* Finds or adds the peer `name` and returns it pinned (release with
 * acto__peer_unpin).  When the table is full, the name idle the longest gives
 * its slot.  NULL with *err: ACTO_ELIMIT when all max_peers names are
 * busy, ACTO_EEXIST when a busy peer has another name with the same hash
 * (the two nodes could not be told apart by id) or the hash is our own,
 * ACTO_ENOMEM. */
acto__peer *acto__peer_get(acto__node *n, const char *name, int *err) {
  uint32_t h = acto__peer_name_hash(name, strlen(name));
  if (h == n->hash) {
    *err = ACTO_EEXIST; /* our own name (or its hash) */
    return NULL;
  }
  pthread_mutex_lock(&n->dir_mtx);
  /* Under dir_mtx no peer changes its identity: the hashes and names read
   * here are stable. */
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_relaxed);
  acto__peer *p = NULL;
  for (unsigned i = 0; i < cnt && !p; i++)
    if (acto__peer_hash(n->peers[i]) == h)
      p = n->peers[i];
  if (p) {
    pthread_mutex_lock(&p->mtx);
    int same = strcmp(p->name, name) == 0;
    if (!same && !peer_idle_locked(p)) {
      pthread_mutex_unlock(&p->mtx);
      pthread_mutex_unlock(&n->dir_mtx);
      *err = ACTO_EEXIST;
      return NULL;
    }
    if (!same)
      peer_recycle_locked(n, p, name, h); /* the idle twin is forgotten */
    p->pins++;
    pthread_mutex_unlock(&p->mtx);
    pthread_mutex_unlock(&n->dir_mtx);
    return p;
  }
  if (cnt < n->max_peers) {
    p = calloc(1, sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&n->dir_mtx);
      *err = ACTO_ENOMEM;
      return NULL;
    }
    p->node = n;
    atomic_init(&p->hash, h);
    snprintf(p->name, sizeof p->name, "%s", name);
    pthread_mutex_init(&p->mtx, NULL);
    acto__clock_cond_init(&p->cv);
    p->backoff_ms = n->rc_min_ms;
    p->pins = 1;
    n->peers[cnt] = p;
    /* release: the peer is initialised before lock-free readers see it. */
    atomic_store_explicit(&n->npeers, cnt + 1, memory_order_release);
    pthread_mutex_unlock(&n->dir_mtx);
    return p;
  }
  /* Full: recycle the peer idle the longest.  A candidate can turn busy
   * between the scan and the recycle (a sender wants a connection): then
   * scan again; each retry means another thread used a peer. */
  for (unsigned tries = 0; tries <= cnt; tries++) {
    acto__peer *victim = NULL;
    uint64_t oldest = UINT64_MAX;
    for (unsigned i = 0; i < cnt; i++) {
      acto__peer *q = n->peers[i];
      pthread_mutex_lock(&q->mtx);
      if (peer_idle_locked(q) && q->idle_ns < oldest) {
        victim = q;
        oldest = q->idle_ns;
      }
      pthread_mutex_unlock(&q->mtx);
    }
    if (!victim)
      break;
    pthread_mutex_lock(&victim->mtx);
    if (peer_idle_locked(victim)) {
      peer_recycle_locked(n, victim, name, h);
      victim->pins++;
      pthread_mutex_unlock(&victim->mtx);
      pthread_mutex_unlock(&n->dir_mtx);
      return victim;
    }
    pthread_mutex_unlock(&victim->mtx);
  }
  pthread_mutex_unlock(&n->dir_mtx);
  *err = ACTO_ELIMIT;
  return NULL;
}

int acto__peer_rel_add(acto__peer *p, uint8_t kind, uint8_t future, uint64_t local, uint64_t remote,
                       uint64_t id) {
  if (p->nrels == p->caprels) {
    size_t nc = p->caprels ? p->caprels * 2 : 8;
    acto__rel *nv = realloc(p->rels, nc * sizeof *nv);
    if (!nv)
      return ACTO_ENOMEM;
    p->rels = nv;
    p->caprels = nc;
  }
  p->rels[p->nrels++] = (acto__rel){kind, future, local, remote, id};
  return 0;
}

/* Removes the first relation matching (kind, local, remote or id). */
void acto__peer_rel_del(acto__peer *p, uint8_t kind, uint64_t local, uint64_t remote, uint64_t id) {
  for (size_t i = 0; i < p->nrels; i++) {
    acto__rel *r = &p->rels[i];
    if (r->kind != kind)
      continue;
    int match = kind == R_LINK  ? (r->local == local && r->remote == remote)
                : kind == R_MON ? (r->local == local && r->id == id)
                                : (r->id == id);
    if (match) {
      *r = p->rels[--p->nrels];
      return;
    }
  }
}

/* The peer of conn c goes down (or an attempt failed).  Fires the
 * relations, drops the queue, wakes waiters, plans a reconnection. */
void acto__peer_down(acto__peer *p, const char *reason, int err, int was_up) {
  acto__node *n = p->node;
  acto_system *sys = n->sys;
  acto__ovf *parkers = NULL;
  pthread_mutex_lock(&p->mtx);
  uint32_t inc = p->inc;
  uint32_t pend = p->pending_inc;
  if (was_up) {
    /* Counted before the state says down: whoever sees the peer down
     * (acto_node_id) sees it counted too. */
    ST_ADD(n, disconnects, 1);
    atomic_fetch_sub_explicit(&n->st.peers_up, 1, memory_order_relaxed);
  }
  p->state = P_DOWN;
  p->active = NULL;
  p->direct_ok = 0;
  if (was_up)
    p->member_since_ns = acto__transport_now_ns();
  if (!was_up && pend)
    p->inc = pend; /* the incarnation we tried to reach is unreachable */
  if (!was_up)
    p->addr_try++; /* a name with several addresses: the next one (addr.c) */
  atomic_store_explicit(&p->origin.live_epoch, 0, memory_order_release);
  uint32_t dropped = acto__outq_drop_locked(p, &parkers);
  p->flush_pending = 0;
  p->last_error = err;
  p->attempts++;
  acto__rel *rels = p->rels;
  size_t nrels = p->nrels;
  p->rels = NULL;
  p->nrels = p->caprels = 0;
  pthread_cond_broadcast(&p->cv);
  uint64_t rnode = ((uint64_t)acto__peer_hash(p) << 32) | p->inc;
  pthread_mutex_unlock(&p->mtx);
  acto__outq_resume_parkers(parkers);
  acto__outq_dead_n(sys, dropped);
  for (size_t i = 0; i < nrels; i++) {
    acto__rel *r = &rels[i];
    acto_ref local = {r->local, n->id};
    acto_ref remote = {r->remote, rnode};
    switch (r->kind) {
    case R_LINK:
      acto__link_signal(sys, local, ACTO__KIND_EXIT, ACTO__MF_LINKED, remote,
                        ACTO_REASON_NOCONNECTION, 0);
      break;
    case R_MON:
      acto__link_signal(sys, local, ACTO__KIND_DOWN, 0, remote, ACTO_REASON_NOCONNECTION, r->id);
      break;
    case R_ASK:
      if (r->future)
        acto__ask_future_complete(sys, r->id,
                                  acto__system_closing(sys) ? ACTO_ECLOSED : ACTO_ENOTCONN, NULL);
      else
        acto__link_signal(sys, local, ACTO__KIND_REPLY, 0, remote, ACTO_ENOTCONN, r->id);
      break;
    }
  }
  free(rels);
  if (was_up) {
    fire_hook(n, ACTO_NODE_DOWN, p, inc, reason);
    if (n->on_peer_down)
      n->on_peer_down(p, ((uint64_t)acto__peer_hash(p) << 32) | inc, reason);
  }
  uint64_t jitter = 0;
  RAND_bytes((unsigned char *)&jitter, sizeof jitter);
  pthread_mutex_lock(&p->mtx);
  if ((p->explicit_peer || p->member) && p->has_addr &&
      !atomic_load_explicit(&n->stopping, memory_order_acquire)) {
    /* Next attempt after the backoff plus up to half of it (jitter). */
    int64_t b = p->backoff_ms;
    p->next_reconnect_ns = acto__transport_now_ns() + (uint64_t)b * 1000000ull +
                           (jitter % ((uint64_t)b * 500000ull + 1));
    p->backoff_ms = b * 2 > n->rc_max_ms ? n->rc_max_ms : b * 2;
  }
  pthread_mutex_unlock(&p->mtx);
}

void acto__peer_set_addr_locked(acto__peer *p, const char *host, uint16_t port) {
  if (!p->has_addr || p->port != port || strcmp(p->host, host) != 0) {
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    p->resolved = 0;
  }
  p->has_addr = 1;
}

int acto__peer_id_up(acto__node *n, const char *name, uint64_t *out) {
  if (strcmp(name, n->name) == 0) {
    *out = n->id;
    return 0;
  }
  acto__peer *p = acto__peer_lock(n, acto__peer_name_hash(name, strlen(name)), name);
  if (!p)
    return ACTO_ENOENT;
  int up = p->state == P_UP;
  uint64_t id = ((uint64_t)acto__peer_hash(p) << 32) | p->inc;
  pthread_mutex_unlock(&p->mtx);
  if (!up)
    return ACTO_ENOTCONN;
  *out = id;
  return 0;
}

void acto__peer_up(acto__conn *c) {
  acto__peer *p = c->peer;
  acto__node *n = c->node;
  pthread_mutex_lock(&p->mtx);
  uint32_t dropped = 0;
  acto__ovf *parkers = NULL;
  if (p->pending_inc && p->pending_inc != p->inc) {
    /* Messages queued for an incarnation that is not the one answering. */
    dropped = acto__outq_drop_locked(p, &parkers);
  }
  p->pending_inc = 0;
  p->state = P_UP;
  p->active = c;
  p->connect_req = 0;
  p->last_error = 0;
  p->attempts++;
  p->backoff_ms = n->rc_min_ms;
  p->progress_ns = acto__transport_now_ns();
  if (++p->epoch == 0)
    p->epoch = 1;
  atomic_store_explicit(&p->origin.live_epoch, p->epoch, memory_order_release);
  if (c->peer_port && !c->outbound && (!p->has_addr || !p->explicit_peer)) {
    /* Where it listens now: the address it connected from, the port its
     * INFO gave (what the members are told, cluster.c).  A new
     * incarnation may listen elsewhere than the last; an address the
     * program gave (acto_node_connect, a seed) is kept as given. */
    char host[INET6_ADDRSTRLEN];
    uint16_t ignored;
    acto__addr_format(&c->remote, host, sizeof host, &ignored);
    acto__peer_set_addr_locked(p, host, (uint16_t)c->peer_port);
  }
  p->member_since_ns = acto__transport_now_ns();
  c->state = C_UP;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mtx);
  acto__outq_resume_parkers(parkers);
  acto__outq_dead_n(n->sys, dropped);
  ST_ADD(n, connects, 1);
  ST_ADD(n, peers_up, 1);
  fire_hook(n, ACTO_NODE_UP, p, p->inc, "connected");
  if (n->on_peer_up)
    n->on_peer_up(p, ((uint64_t)acto__peer_hash(p) << 32) | p->inc);
}
