/* node.c - a node: the listener, connections, handshake, the outgoing
 * queues, delivery of what arrives, heartbeats, node-down, reconnection.
 *
 * DESIGN
 * Threads.  One I/O thread runs a libevent loop and owns every socket,
 * every connection struct (conn) and each connection's receive side
 * (buffer, auth recv state).  It never runs behaviour code: what arrives
 * is pushed into mailboxes (acto__send_from_node never blocks; a full
 * block-policy mailbox pauses that connection's reading until the message
 * is delivered, so TCP pushes back on the sender).  Worker and plain
 * threads that send to a remote ref only touch the target's peer, under
 * the peer's mutex.
 *
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
 *   rel     links and monitors between local actors and actors on this
 *           peer, and asks waiting on it: when the peer goes down each
 *           local end gets EXIT / DOWN with ACTO_REASON_NOCONNECTION or its
 *           ask fails with ACTO_ENOTCONN.
 * Frames are sealed (MAC, implicit sequence number) under the peer mutex,
 * in the order they enter `out`, which is the order they are written.
 *
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
 * Delivery.  A frame is checked whole (every message parsed and held to
 * the rules of its kind) before any message of it is delivered: a
 * refused frame closes the connection having delivered nothing.  Per
 * sender-receiver pair order holds because one peer has
 * one active connection and one FIFO queue, and the receiving I/O thread
 * delivers in order (pausing rather than skipping on a full mailbox; a
 * paused frame resumes after the parked message, unchecked again).  At
 * most once: nothing is retransmitted; what is queued when a connection
 * fails becomes dead letters (ACTO_DEAD_NOCONNECTION).
 */
#include "acto_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/rand.h>

#include "actor/remote.h"
#include "transport/auth.h"
#include "transport/frame.h"
#include "transport/prescan.h"
#include "transport/wire.h"

#define BATCH_TARGET (64u * 1024u) /* close a batch at this size */
#define READ_CHUNK (64u * 1024u)
#define READ_BUDGET (256u * 1024u) /* bytes per read callback (fairness) */

enum { P_DOWN = 0, P_CONNECTING = 1, P_UP = 2 };
enum { C_TCP = 1, C_HANDSHAKE, C_WAIT_INFO, C_UP, C_CLOSED };
enum { R_LINK = 1, R_MON = 2, R_ASK = 3 };

typedef struct rel {
  uint8_t kind;
  uint8_t future; /* R_ASK: a plain thread's ask */
  uint64_t local; /* local actor id (0: a plain thread's ask) */
  uint64_t remote;
  uint64_t id; /* monitor id or ask id */
} rel;

typedef struct ovf {
  struct ovf *next;
  acto__actor *parker;
  uint32_t nmsgs;
  size_t len;
  uint8_t bytes[];
} ovf;

struct conn;

typedef struct acto__peer {
  struct acto__node *node;
  /* The identity: changed only by a recycle (peer_get, under dir_mtx and
   * mtx); read under either mutex or with a pin (DESIGN: Peers).  hash is
   * atomic for peer_by_hash's lock-free scan. */
  _Atomic uint32_t hash;
  char name[ACTO__AUTH_NAME_MAX + 1];
  pthread_mutex_t mtx;
  pthread_cond_t cv; /* state changes and room in the queue */
  /* Under mtx. */
  uint32_t pins;    /* holders of a pointer across a release of mtx */
  uint64_t idle_ns; /* when the last pin was released (LRU of recycles) */
  int state;
  uint32_t inc;
  uint32_t pending_inc; /* the incarnation queued messages are for (0: any) */
  int has_addr;
  struct sockaddr_in addr;
  int explicit_peer; /* added by acto_node_connect: reconnect with backoff */
  int connect_req;   /* a sender wants a connection */
  int last_error;    /* why the last attempt failed (for connect waiters) */
  uint64_t attempts; /* connection attempts finished (up or failed) */
  acto__buf batch;
  uint32_t batch_n;
  acto__buf out;
  uint32_t out_msgs; /* messages inside the sealed frames of out */
  ovf *ovf_head, *ovf_tail;
  uint32_t thread_waiters;
  int flush_pending;
  int direct_ok;          /* the active conn has nothing pending to write */
  uint64_t last_write_ns; /* the last write to the active conn */
  uint64_t progress_ns;   /* the last write that moved bytes (or UP) */
  struct conn *active;
  rel *rels;
  size_t nrels, caprels;
  uint32_t epoch;
  uint64_t next_reconnect_ns; /* backoff of an explicit peer */
  int64_t backoff_ms;
  /* Any thread. */
  _Atomic uint32_t live_epoch;
  /* I/O thread only. */
  struct conn *connecting; /* our outbound conn before UP */
  struct event *flush_ev;
} acto__peer;

typedef struct conn {
  struct acto__node *node;
  acto__peer *peer; /* outbound: from the start; inbound: after auth */
  int fd;
  int outbound;
  int state;
  struct event *rev, *wev;
  acto__auth auth;
  acto__buf in;
  acto__buf wbuf; /* pre-UP output (handshake frames, INFO) */
  uint64_t t_start, t_rx; /* connection opened; the last byte received */
  uint64_t t_ping;        /* our last PING (the start before the first) */
  struct sockaddr_in remote;
  uint32_t peer_port; /* from INFO */
  char why[160];      /* the detail of a refused payload, for the log */
  /* A delivery parked on a full mailbox: reading pauses until tw fires.
   * resume_at: messages of the frame at the head of `in` already handled
   * (0: none; the frame's tag was checked). paused 2: closed while the
   * verdict on the parked message was still on its way (a zombie). */
  int paused;
  size_t resume_at;
  /* Reading stopped because our queue to this peer is over its bound (the
   * peer sends but does not read: its PINGs and asks would make us queue
   * PONGs and replies without end).  Resumed below half. */
  int out_paused;
  acto__twaiter tw;
  _Atomic int tw_fired;
  acto__actor *held;
  acto__msg *parked;
  struct conn *next, *prev;
} conn;

typedef struct acto__node {
  acto__remote remote; /* first: the runtime holds the node by it (actor/remote.h) */
  acto_system *sys;
  char name[ACTO__AUTH_NAME_MAX + 1];
  uint32_t hash, inc;
  uint64_t id;
  acto__auth_key key;
  uint32_t cap;
  uint64_t hb_ns, hb_timeout_ns, hs_timeout_ns;
  unsigned max_pending, max_peers;
  size_t out_bytes;
  int64_t rc_min_ms, rc_max_ms;
  uint16_t port;
  struct event_base *base;
  pthread_t thread;
  int lfd;
  struct event *lev, *tick_ev, *wake_ev, *stop_ev;
  conn *conns; /* I/O thread */
  conn *dead;  /* closed, freed by reap() (zombies once their tw fired) */
  struct event *reap_ev;
  unsigned pending_hs;
  acto__peer **peers;
  _Atomic unsigned npeers;
  pthread_mutex_t dir_mtx; /* appends to peers */
  _Atomic int stopping;
  int stopped;
  uint64_t last_tick_ns; /* I/O thread */
  pthread_mutex_t hook_mtx;
  acto_node_event_fn hook;
  void *hook_user;
  struct {
    _Atomic uint64_t peers_up, connects, disconnects, refused, frames_in, frames_out, msgs_in,
        msgs_out, bytes_in, bytes_out, bad_frames, hb_timeouts, parks;
  } st;
} acto__node;

#define ST_ADD(n, f, v) atomic_fetch_add_explicit(&(n)->st.f, (v), memory_order_relaxed)

static void conn_close(conn *c, const char *reason, int bad_frame);
static void conn_try_write(conn *c);
static void tw_notify(acto__twaiter *tw, int state);
static void conn_process(conn *c);
static acto__peer *peer_ready(acto__node *n, const char *name, int *err);
static void start_connect(acto__peer *p);

/* ---- small helpers ----------------------------------------------------------- */

static uint32_t name_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)s[i];
    h *= 16777619u;
  }
  return h ? h : 1u;
}

#define NAME_RULE "a node name is 1 to 64 bytes of A-Z a-z 0-9 . _ @ -"

/* NULL if s is a valid node name, else what is wrong with it (in buf). */
static const char *name_problem(const char *s, char *buf, size_t size) {
  if (!s)
    return "no node name (NULL)";
  size_t n = strnlen(s, ACTO__AUTH_NAME_MAX + 1);
  if (n == 0)
    return "an empty node name";
  if (n > ACTO__AUTH_NAME_MAX) {
    snprintf(buf, size, "the node name \"%.64s...\" is longer than 64 bytes", s);
    return buf;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '@' || c == '-')) {
      snprintf(buf, size, "the node name \"%s\" has the byte 0x%02x at %zu", s, (unsigned)(uint8_t)c,
               i);
      return buf;
    }
  }
  return NULL;
}

/* A public call refuses its arguments: one line (ACTO_LOG_ERROR, "node")
 * that says which rule, when the code alone does not; returns code. */
__attribute__((format(printf, 4, 5))) static int refuse(acto_system *sys, int code,
                                                        const char *call, const char *fmt,
                                                        ...) {
  if (sys && acto__log_on(sys, ACTO_LOG_ERROR)) {
    char text[ACTO_LOG_LINE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    acto__log(sys, ACTO_LOG_ERROR, "node", "%s: %s (%s)", call, text, acto_err_name(code));
  }
  return code;
}

/* Checks a node name argument of `call`: 0 or ACTO_EINVAL with a line. */
static int check_name(acto_system *sys, const char *call, const char *name) {
  char buf[128];
  const char *bad = name_problem(name, buf, sizeof buf);
  return bad ? refuse(sys, ACTO_EINVAL, call, "%s: " NAME_RULE, bad) : 0;
}

static uint64_t now_ns(void) { return acto__clock_now_ns(); }

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const void *q) {
  const uint8_t *p = q;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* One log line about a connection (log.c: rate-limited, never blocks this
 * thread).  An unauthenticated peer is named by its address. */
static void node_log(acto__node *n, acto_log_level level, const char *peer,
                     const struct sockaddr_in *addr, const char *what, const char *reason) {
  if (!acto__log_on(n->sys, level))
    return;
  char who[ACTO__AUTH_NAME_MAX + 64];
  if (peer) {
    snprintf(who, sizeof who, "%s", peer);
  } else {
    char ip[INET_ADDRSTRLEN] = "?";
    if (addr)
      inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof ip);
    snprintf(who, sizeof who, "%s:%u (unauthenticated)", ip,
             addr ? (unsigned)ntohs(addr->sin_port) : 0u);
  }
  acto__log(n->sys, level, "node", "%s: %s %s: %s", n->name, what, who, reason);
}

/* A peer's hash.  relaxed: a lock-free reader only picks a candidate
 * (peer_lock re-checks under the mutex); everyone else holds a mutex or a
 * pin, under which the hash does not change. */
static uint32_t peer_hash(acto__peer *p) {
  return atomic_load_explicit(&p->hash, memory_order_relaxed);
}

static void fire_hook(acto__node *n, acto_node_event ev, acto__peer *p, uint32_t inc,
                      const char *reason) {
  pthread_mutex_lock(&n->hook_mtx);
  acto_node_event_fn fn = n->hook;
  void *user = n->hook_user;
  pthread_mutex_unlock(&n->hook_mtx);
  if (fn)
    fn(user, ev, p->name, ((uint64_t)peer_hash(p) << 32) | inc, reason);
}

static acto__node *node_of(acto_system *sys) {
  /* The port is the node's first member. */
  return (acto__node *)acto__remote_of(sys);
}

/* ---- peers ------------------------------------------------------------------ */

/* The peer in the slot whose hash is h, or NULL: only a candidate, whose
 * identity may change before the caller locks it (use peer_lock). */
static acto__peer *peer_by_hash(acto__node *n, uint32_t h) {
  /* acquire: pairs with the release store that published the entry. */
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++)
    if (peer_hash(n->peers[i]) == h)
      return n->peers[i];
  return NULL;
}

/* The peer of hash h (and of that name, when name is not NULL), returned
 * with its mutex held; NULL if no such peer is known. */
static acto__peer *peer_lock(acto__node *n, uint32_t h, const char *name) {
  acto__peer *p = peer_by_hash(n, h);
  if (!p)
    return NULL;
  pthread_mutex_lock(&p->mtx);
  if (peer_hash(p) != h || (name && strcmp(p->name, name) != 0)) {
    pthread_mutex_unlock(&p->mtx);
    return NULL; /* recycled meanwhile: the name is no longer known */
  }
  return p;
}

/* Locks p again if it still has hash h (1), or leaves it unlocked (0). */
static int peer_relock(acto__peer *p, uint32_t h) {
  pthread_mutex_lock(&p->mtx);
  if (peer_hash(p) == h)
    return 1;
  pthread_mutex_unlock(&p->mtx);
  return 0;
}

/* Releases a pin (see DESIGN: Peers); the _locked form with p->mtx held. */
static void peer_unpin_locked(acto__peer *p) {
  if (--p->pins == 0)
    p->idle_ns = now_ns();
}

static void peer_unpin(acto__peer *p) {
  pthread_mutex_lock(&p->mtx);
  peer_unpin_locked(p);
  pthread_mutex_unlock(&p->mtx);
}

/* Idle: its slot may go to another name.  Caller holds p->mtx. */
static int peer_idle_locked(const acto__peer *p) {
  return p->state == P_DOWN && !p->explicit_peer && p->pins == 0 && p->nrels == 0 &&
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
  memset(&p->addr, 0, sizeof p->addr);
  p->connect_req = 0;
  p->last_error = 0;
  p->direct_ok = 0;
  p->last_write_ns = p->progress_ns = 0;
  p->next_reconnect_ns = 0;
  p->backoff_ms = n->rc_min_ms;
}

/* Finds or adds the peer `name` and returns it pinned (release with
 * peer_unpin).  When the table is full, the name idle the longest gives
 * its slot.  NULL with *err: ACTO_ELIMIT when all max_peers names are
 * busy, ACTO_EEXIST when a busy peer has another name with the same hash
 * (the two nodes could not be told apart by id) or the hash is our own,
 * ACTO_ENOMEM. */
static acto__peer *peer_get(acto__node *n, const char *name, int *err) {
  uint32_t h = name_hash(name, strlen(name));
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
    if (peer_hash(n->peers[i]) == h)
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

static int rel_add(acto__peer *p, uint8_t kind, uint8_t future, uint64_t local, uint64_t remote,
                   uint64_t id) {
  if (p->nrels == p->caprels) {
    size_t nc = p->caprels ? p->caprels * 2 : 8;
    rel *nv = realloc(p->rels, nc * sizeof *nv);
    if (!nv)
      return ACTO_ENOMEM;
    p->rels = nv;
    p->caprels = nc;
  }
  p->rels[p->nrels++] = (rel){kind, future, local, remote, id};
  return 0;
}

/* Removes the first relation matching (kind, local, remote or id). */
static void rel_del(acto__peer *p, uint8_t kind, uint64_t local, uint64_t remote, uint64_t id) {
  for (size_t i = 0; i < p->nrels; i++) {
    rel *r = &p->rels[i];
    if (r->kind != kind)
      continue;
    int match = kind == R_LINK ? (r->local == local && r->remote == remote)
                               : kind == R_MON ? (r->local == local && r->id == id)
                                               : (r->id == id);
    if (match) {
      *r = p->rels[--p->nrels];
      return;
    }
  }
}

/* ---- the outgoing queue (under p->mtx) -------------------------------------- */

static size_t queued_locked(acto__peer *p) {
  return p->batch.len + acto__buf_unread(&p->out);
}

/* Frames the open batch into `out`, sealed by the active conn.  Caller
 * holds p->mtx; the peer is UP.  On failure (no memory, seal error) the
 * batch is dropped as dead letters and the connection will be closed by
 * the caller noticing the error. */
static int seal_batch_locked(acto__peer *p) {
  if (p->batch_n == 0 || !p->active)
    return 0;
  conn *c = p->active;
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
static void batch_added_locked(acto__peer *p) {
  p->batch_n++;
  if (p->state == P_UP && p->batch.len >= BATCH_TARGET)
    (void)seal_batch_locked(p);
}

/* Asks the I/O thread to write (or connect).  Caller holds p->mtx. */
static void kick_locked(acto__peer *p) {
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
static void flush_locked(acto__peer *p) {
  if (p->state == P_UP && p->active && p->direct_ok && !p->flush_pending && p->batch_n == 1 &&
      acto__buf_unread(&p->out) == 0) {
    uint64_t t = now_ns();
    if (t - p->last_write_ns > DIRECT_IDLE_NS && seal_batch_locked(p) == 0) {
      p->last_write_ns = t;
      ssize_t k = send(p->active->fd, p->out.p + p->out.off, acto__buf_unread(&p->out),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        acto__buf_consume(&p->out, (size_t)k);
        ST_ADD(p->node, bytes_out, (uint64_t)k);
        p->progress_ns = t;
      }
      if (acto__buf_unread(&p->out) == 0) {
        p->out_msgs = 0;
        return;
      }
    }
  }
  kick_locked(p);
}

/* Counts n messages as dead letters of reason NOCONNECTION. */
static void dead_n(acto_system *sys, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    acto__system_count_dead(sys, ACTO_REF_NONE, 0, 0, ACTO_DEAD_NOCONNECTION);
}

/* Clears everything queued for the peer (it went down).  Caller holds
 * p->mtx; parkers are collected in *parkers (resumed by the caller
 * without the lock).  Returns the messages dropped. */
static uint32_t drop_queue_locked(acto__peer *p, ovf **parkers) {
  uint32_t n = p->batch_n + p->out_msgs;
  p->batch.len = 0;
  p->batch_n = 0;
  p->out.len = p->out.off = 0;
  p->out_msgs = 0;
  *parkers = p->ovf_head;
  for (ovf *o = p->ovf_head; o; o = o->next)
    n += o->nmsgs;
  p->ovf_head = p->ovf_tail = NULL;
  p->pending_inc = 0;
  return n;
}

static void resume_parkers(ovf *o) {
  while (o) {
    ovf *next = o->next;
    if (o->parker)
      acto__send_unpark(o->parker);
    free(o);
    o = next;
  }
}

/* Moves parked sends into the batch while the queue is below half.
 * Caller holds p->mtx; returns the chain of resolved entries. */
static ovf *drain_ovf_locked(acto__peer *p) {
  ovf *done = NULL, **tail = &done;
  while (p->ovf_head && queued_locked(p) + p->ovf_head->len <= p->node->out_bytes / 2 + 1) {
    ovf *o = p->ovf_head;
    if (acto__buf_append(&p->batch, o->bytes, o->len) != 0)
      break;
    p->ovf_head = o->next;
    if (!p->ovf_head)
      p->ovf_tail = NULL;
    p->batch_n += o->nmsgs - 1;
    batch_added_locked(p);
    o->next = NULL;
    *tail = o;
    tail = &o->next;
  }
  return done;
}

/* ---- sending (any thread) -------------------------------------------------- */

/* Resolves the peer of a remote ref and checks its incarnation.  Returns
 * the peer locked, or NULL with *err. */
static acto__peer *peer_for(acto_system *sys, acto_ref to, int *err) {
  acto__node *n = node_of(sys);
  if (!n || atomic_load_explicit(&n->stopping, memory_order_acquire)) {
    *err = ACTO_ENOTCONN;
    return NULL;
  }
  uint32_t inc = (uint32_t)to.node;
  acto__peer *p = inc ? peer_lock(n, (uint32_t)(to.node >> 32), NULL) : NULL;
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

/* Appends already-encoded bytes (or parks them) under the queue bound.
 * Caller holds p->mtx, which is released on return. */
static int enqueue_unlock(acto_system *sys, acto__peer *p, acto__buf *tmp, uint32_t nmsgs,
                          int fail_fast, int64_t deadline_ms) {
  acto__node *n = p->node;
  acto__actor *self;
  int may_wait = acto__system_caller(sys, &self) == 0;
  size_t len = tmp->len;
  int must_queue = p->ovf_head != NULL || (self && acto__send_parked(self));
  if (!must_queue && queued_locked(p) + len <= n->out_bytes) {
    int r = acto__buf_append(&p->batch, tmp->p, len);
    if (r == 0) {
      p->batch_n += nmsgs - 1;
      batch_added_locked(p);
      flush_locked(p);
    }
    pthread_mutex_unlock(&p->mtx);
    return r;
  }
  if (fail_fast) {
    pthread_mutex_unlock(&p->mtx);
    return ACTO_EFULL;
  }
  if (self) {
    ovf *o = malloc(sizeof *o + len);
    if (!o) {
      pthread_mutex_unlock(&p->mtx);
      return ACTO_ENOMEM;
    }
    o->next = NULL;
    o->parker = self;
    o->nmsgs = nmsgs;
    o->len = len;
    memcpy(o->bytes, tmp->p, len);
    acto__send_park(self);
    if (p->ovf_tail)
      p->ovf_tail->next = o;
    else
      p->ovf_head = o;
    p->ovf_tail = o;
    ST_ADD(n, parks, 1);
    kick_locked(p);
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
  uint64_t deadline = acto__deadline_after(now_ns(), deadline_ms);
  uint64_t attempts = p->attempts;
  int state = p->state;
  p->thread_waiters++;
  while (p->ovf_head != NULL || queued_locked(p) + len > n->out_bytes) {
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
      batch_added_locked(p);
      flush_locked(p);
    }
  }
  pthread_mutex_unlock(&p->mtx);
  acto__system_wait_leave(sys);
  return r;
}

static int port_send_user(acto__remote *port, acto_ref to, acto__msg *m, int fail_fast,
                          int64_t deadline_ms) {
  acto_system *sys = ((acto__node *)port)->sys;
  int err = 0;
  acto__peer *p = peer_for(sys, to, &err);
  if (!p) {
    m->target_id = to.id;
    if ((m->flags & ACTO__MF_REQUEST) && !(m->flags & ACTO__MF_REPLIED))
      m->flags |= ACTO__MF_REPLIED; /* the error return is the answer */
    acto__send_dead_letter_to(sys, m, to,
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
    r = rel_add(p, R_ASK, (m->flags & ACTO__MF_FUTURE) ? 1 : 0, m->pub.sender.id, to.id,
                m->req_id);
  if (r != 0) {
    pthread_mutex_unlock(&p->mtx);
    acto__buf_free(&tmp);
    acto__msg_free(m);
    return r;
  }
  uint64_t ask_id = (m->flags & ACTO__MF_REQUEST) ? m->req_id : 0;
  acto__msg_free(m);
  uint32_t h = peer_hash(p);
  r = enqueue_unlock(sys, p, &tmp, 1, fail_fast, deadline_ms);
  acto__buf_free(&tmp);
  if (r < 0 && ask_id && peer_relock(p, h)) {
    rel_del(p, R_ASK, 0, 0, ask_id);
    pthread_mutex_unlock(&p->mtx);
  }
  return r;
}

static int port_send_system(acto__remote *port, acto_ref to, acto__msg *m) {
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
        r = rel_add(p, R_LINK, 0, from, to.id, 0);
        break;
      case ACTO__KIND_MONITOR:
        r = rel_add(p, R_MON, 0, from, to.id, m->req_id);
        break;
      case ACTO__KIND_UNLINK:
        rel_del(p, R_LINK, from, to.id, 0);
        break;
      case ACTO__KIND_EXIT:
        if (m->flags & ACTO__MF_LINKED)
          rel_del(p, R_LINK, from, to.id, 0);
        break;
      case ACTO__KIND_DEMONITOR:
        rel_del(p, R_MON, from, 0, m->req_id);
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
    batch_added_locked(p);
    flush_locked(p);
  }
  pthread_mutex_unlock(&p->mtx);
  acto__buf_free(&tmp);
  if (r == 0)
    acto__msg_free(m);
  return r;
}

static void port_ask_forget(acto__remote *port, uint64_t node, uint64_t ask_id) {
  acto__node *n = (acto__node *)port;
  acto__peer *p = peer_lock(n, (uint32_t)(node >> 32), NULL);
  if (!p)
    return;
  rel_del(p, R_ASK, 0, 0, ask_id);
  pthread_mutex_unlock(&p->mtx);
}

static int port_msg_orphaned(acto__remote *port, const acto__msg *m) {
  (void)port;
  /* The epoch of the connection it came over is kept in status (unused
   * by user messages); the peer outlives every message. */
  return atomic_load_explicit(&m->peer->live_epoch, memory_order_acquire) != (uint32_t)m->status;
}

/* ---- the I/O thread: writing ------------------------------------------------ */

/* Writes from buf until EAGAIN.  Returns 0, 1 when bytes remain, or -1 on
 * a socket error. */
static int write_buf(conn *c, acto__buf *b) {
  while (acto__buf_unread(b) > 0) {
    ssize_t k = send(c->fd, b->p + b->off, acto__buf_unread(b), MSG_NOSIGNAL);
    if (k > 0) {
      acto__buf_consume(b, (size_t)k);
      ST_ADD(c->node, bytes_out, (uint64_t)k);
      continue;
    }
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 1;
    return -1;
  }
  return 0;
}

/* Writes what is pending on c (its own buffer first, then, if it is the
 * peer's active conn, the peer's frames).  I/O thread. */
static void conn_try_write(conn *c) {
  if (c->state == C_CLOSED || c->state == C_TCP)
    return;
  int r = write_buf(c, &c->wbuf);
  if (r < 0) {
    conn_close(c, "write failed (peer closed or reset)", 0);
    return;
  }
  int more = r;
  ovf *resumed = NULL;
  acto__peer *p = c->peer;
  if (!more && c->state == C_UP && p) {
    pthread_mutex_lock(&p->mtx);
    p->flush_pending = 0;
    if (p->active == c) {
      int sr = seal_batch_locked(p);
      if (sr < 0) {
        pthread_mutex_unlock(&p->mtx);
        conn_close(c, "cannot seal a frame", 0);
        return;
      }
      size_t before = acto__buf_unread(&p->out);
      r = write_buf(c, &p->out);
      p->last_write_ns = now_ns();
      if (acto__buf_unread(&p->out) < before)
        p->progress_ns = p->last_write_ns;
      if (acto__buf_unread(&p->out) == 0)
        p->out_msgs = 0;
      if (r >= 0) {
        more = r;
        resumed = drain_ovf_locked(p);
        if (resumed && p->batch_n) {
          if (seal_batch_locked(p) == 0 && !more) {
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
    int resume = c->out_paused && queued_locked(p) <= c->node->out_bytes / 2;
    pthread_mutex_unlock(&p->mtx);
    resume_parkers(resumed);
    if (r < 0) {
      conn_close(c, "write failed (peer closed or reset)", 0);
      return;
    }
    if (resume) {
      c->out_paused = 0;
      if (!c->paused) {
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
static int conn_send_frame(conn *c, const uint8_t *payload, size_t len, int sealed) {
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
  conn_try_write(c);
  return 0;
}

/* ---- the I/O thread: peer state ---------------------------------------------- */

/* The peer of conn c goes down (or an attempt failed).  Fires the
 * relations, drops the queue, wakes waiters, plans a reconnection. */
static void peer_down(acto__peer *p, const char *reason, int err, int was_up) {
  acto__node *n = p->node;
  acto_system *sys = n->sys;
  ovf *parkers = NULL;
  pthread_mutex_lock(&p->mtx);
  uint32_t inc = p->inc;
  uint32_t pend = p->pending_inc;
  p->state = P_DOWN;
  p->active = NULL;
  p->direct_ok = 0;
  if (!was_up && pend)
    p->inc = pend; /* the incarnation we tried to reach is unreachable */
  atomic_store_explicit(&p->live_epoch, 0, memory_order_release);
  uint32_t dropped = drop_queue_locked(p, &parkers);
  p->flush_pending = 0;
  p->last_error = err;
  p->attempts++;
  rel *rels = p->rels;
  size_t nrels = p->nrels;
  p->rels = NULL;
  p->nrels = p->caprels = 0;
  pthread_cond_broadcast(&p->cv);
  uint64_t rnode = ((uint64_t)peer_hash(p) << 32) | p->inc;
  pthread_mutex_unlock(&p->mtx);
  resume_parkers(parkers);
  dead_n(sys, dropped);
  for (size_t i = 0; i < nrels; i++) {
    rel *r = &rels[i];
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
    ST_ADD(n, disconnects, 1);
    atomic_fetch_sub_explicit(&n->st.peers_up, 1, memory_order_relaxed);
    fire_hook(n, ACTO_NODE_DOWN, p, inc, reason);
  }
  uint64_t jitter = 0;
  RAND_bytes((unsigned char *)&jitter, sizeof jitter);
  pthread_mutex_lock(&p->mtx);
  if (p->explicit_peer && p->has_addr && !atomic_load_explicit(&n->stopping, memory_order_acquire)) {
    /* Next attempt after the backoff plus up to half of it (jitter). */
    int64_t b = p->backoff_ms;
    p->next_reconnect_ns = now_ns() + (uint64_t)b * 1000000ull +
                           (jitter % ((uint64_t)b * 500000ull + 1));
    p->backoff_ms = b * 2 > n->rc_max_ms ? n->rc_max_ms : b * 2;
  }
  pthread_mutex_unlock(&p->mtx);
}

static void peer_up(conn *c) {
  acto__peer *p = c->peer;
  acto__node *n = c->node;
  pthread_mutex_lock(&p->mtx);
  uint32_t dropped = 0;
  ovf *parkers = NULL;
  if (p->pending_inc && p->pending_inc != p->inc) {
    /* Messages queued for an incarnation that is not the one answering. */
    dropped = drop_queue_locked(p, &parkers);
  }
  p->pending_inc = 0;
  p->state = P_UP;
  p->active = c;
  p->connect_req = 0;
  p->last_error = 0;
  p->attempts++;
  p->backoff_ms = n->rc_min_ms;
  p->progress_ns = now_ns();
  if (++p->epoch == 0)
    p->epoch = 1;
  atomic_store_explicit(&p->live_epoch, p->epoch, memory_order_release);
  if (c->peer_port && !p->has_addr) {
    p->addr = c->remote;
    p->addr.sin_port = htons((uint16_t)c->peer_port);
    p->has_addr = 1;
  }
  c->state = C_UP;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mtx);
  resume_parkers(parkers);
  dead_n(n->sys, dropped);
  ST_ADD(n, connects, 1);
  ST_ADD(n, peers_up, 1);
  fire_hook(n, ACTO_NODE_UP, p, p->inc, "connected");
  conn_try_write(c);
}

/* ---- the I/O thread: connections ---------------------------------------------- */

static void conn_unlink(conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    c->node->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->next = c->prev = NULL;
}

static void conn_free(conn *c) {
  if (c->peer)
    peer_unpin(c->peer);
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

static void conn_close(conn *c, const char *reason, int bad_frame) {
  if (c->state == C_CLOSED)
    return;
  acto__node *n = c->node;
  int prev = c->state;
  c->state = C_CLOSED;
  if (c->rev)
    event_del(c->rev);
  if (c->wev)
    event_del(c->wev);
  if (prev == C_TCP || prev == C_HANDSHAKE || prev == C_WAIT_INFO)
    n->pending_hs--;
  if (bad_frame)
    ST_ADD(n, bad_frames, 1);
  acto__peer *p = c->peer;
  int refused = bad_frame || c->auth.state == ACTO__AUTH_S_FAILED;
  node_log(n, refused ? ACTO_LOG_WARN : ACTO_LOG_INFO, p ? p->name : NULL, &c->remote,
           c->outbound ? "closed connection to" : "closed connection from", reason);
  if (p) {
    if (prev == C_UP && p->active == c) {
      peer_down(p, reason, ACTO_ENOTCONN, 1);
    } else if (c->outbound && p->connecting == c) {
      p->connecting = NULL;
      int err = (prev == C_HANDSHAKE && c->auth.state == ACTO__AUTH_S_FAILED) ? ACTO_EAUTH
                                                                             : ACTO_ENOTCONN;
      pthread_mutex_lock(&p->mtx);
      int up = p->state == P_UP;
      pthread_mutex_unlock(&p->mtx);
      if (!up)
        peer_down(p, reason, err, 0);
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
  if (c->paused && c->held) {
    /* A delivery is parked on a full mailbox: take it back, or, if its
     * verdict is already on the way, keep the conn (its tw) until then. */
    int removed = acto__send_node_cancel(n->sys, c->held, c->parked);
    c->held = NULL;
    c->parked = NULL;
    c->paused = removed ? 0 : 2;
  }
  conn_unlink(c);
  c->next = n->dead;
  n->dead = c;
  event_active(n->reap_ev, EV_READ, 0);
}

/* Frees closed conns; a zombie only once its parked message's verdict
 * came (tw fired).  I/O thread (or the stopping thread after the loop). */
static void reap(acto__node *n, int all) {
  conn **pp = &n->dead;
  while (*pp) {
    conn *c = *pp;
    if (c->paused == 2 && !all && !atomic_load_explicit(&c->tw_fired, memory_order_acquire)) {
      pp = &c->next;
      continue;
    }
    *pp = c->next;
    conn_free(c);
  }
}

static void on_reap(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  reap(arg, 0);
}

/* Delivers one decoded message from peer p (conn c), which check_msg
 * accepted.  Returns 1 when the connection must pause (a full mailbox), 0
 * otherwise, -2 when a local resource failed (reason set). */
static int deliver(conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  acto_system *sys = n->sys;
  acto__peer *p = c->peer;
  uint64_t pnode = ((uint64_t)peer_hash(p) << 32) | p->inc;
  switch (w->kind) {
  case ACTO__W_PING: {
    acto__buf tmp = {0};
    if (acto__wire_ping(&tmp, ACTO__W_PONG, w->f[0]) == 0) {
      pthread_mutex_lock(&p->mtx);
      if (acto__buf_append(&p->batch, tmp.p, tmp.len) == 0) {
        batch_added_locked(p);
        kick_locked(p);
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
      acto__msg *rm = acto__msg_new(ACTO_MSG_NODE_LOOKUP, ok ? ref16 : NULL, ok ? sizeof ref16 : 0,
                                    NULL);
      if (!rm)
        return 0;
      rm->kind = ACTO__KIND_REPLY;
      rm->req_id = ask_id;
      rm->flags = (flags & ACTO__WF_FUTURE) ? ACTO__MF_FUTURE : 0;
      if (port_send_system(&n->remote, (acto_ref){from, pnode}, rm) != 0)
        acto__msg_free(rm);
      return 0;
    }
    acto__msg *m = acto__msg_new(type, w->payload, w->payload_len, NULL);
    if (!m) {
      *reason = "out of memory for a message";
      return -2;
    }
    m->flags = ACTO__MF_REMOTE;
    m->peer = p;
    m->status = (int32_t)p->epoch; /* the loop is the only writer */
    if (flags & ACTO__WF_REQUEST) {
      m->flags |= ACTO__MF_REQUEST;
      m->pub.flags = ACTO_MSG_FLAG_REQUEST;
      m->req_id = ask_id;
      if (flags & ACTO__WF_FUTURE)
        m->flags |= ACTO__MF_FUTURE;
    }
    if (from || (flags & ACTO__WF_FUTURE))
      m->pub.sender = (acto_ref){from, pnode};
    c->parked = m;
    atomic_store_explicit(&c->tw_fired, 0, memory_order_relaxed);
    int r = acto__send_from_node(sys, (acto_ref){to, n->id}, m, &c->tw, &c->held);
    if (r == 1)
      return 1;
    c->parked = NULL;
    return 0;
  }
  case ACTO__W_REPLY: {
    uint64_t to = w->f[0], ask_id = w->f[1], from = w->f[4];
    uint32_t flags = (uint32_t)w->f[2];
    pthread_mutex_lock(&p->mtx);
    rel_del(p, R_ASK, 0, 0, ask_id);
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
      rel_add(p, R_LINK, 0, to, from, 0);
      break;
    case ACTO__WS_UNLINK:
      rel_del(p, R_LINK, to, from, 0);
      break;
    case ACTO__WS_EXIT:
      if (fl & ACTO__WSF_LINKED)
        rel_del(p, R_LINK, to, from, 0);
      break;
    case ACTO__WS_DOWN:
      rel_del(p, R_MON, to, 0, id);
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
        rel_del(p, R_LINK, to, from, 0);
        pthread_mutex_unlock(&p->mtx);
      }
      acto__msg_free(m);
    }
    return 0;
  }
  default: /* check_msg let nothing else through */
    return 0;
  }
}

static int handle_info(conn *c, const acto__wmsg *w, const char **reason) {
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
    conn_close(p->active, "the node restarted (new incarnation)", 0);
  }
  pthread_mutex_lock(&p->mtx);
  p->inc = inc;
  pthread_mutex_unlock(&p->mtx);
  if (p->connecting == c)
    p->connecting = NULL;
  n->pending_hs--;
  peer_up(c);
  return 0;
}

/* The rules of one message that only the message and the connection
 * state show (ACTORS.md "Messages"): the kinds and flags, field widths,
 * reserved types, INFO first and only first.  first_of_conn: this is the
 * first message since the handshake (the peer's INFO is due).  Returns 0,
 * or -1 with *reason. */
static int check_msg(const conn *c, const acto__wmsg *w, int first_of_conn,
                     const char **reason) {
  if (first_of_conn) {
    if (w->kind != ACTO__W_INFO) {
      *reason = "the first message is not INFO";
      return -1;
    }
    uint64_t id = w->f[0];
    if ((uint32_t)(id >> 32) != peer_hash(c->peer) || (uint32_t)id == 0) {
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
  case ACTO__W_SEND: {
    uint64_t to = w->f[0], type = w->f[2], flags = w->f[3], ask_id = w->f[4];
    if (type > 0xffffffffu || (flags & ~(uint64_t)(ACTO__WF_REQUEST | ACTO__WF_FUTURE)) ||
        ((flags & ACTO__WF_REQUEST) && ask_id == 0) || flags == ACTO__WF_FUTURE) {
      *reason = "SEND field out of range";
      return -1;
    }
    if (type >= ACTO_MSG_RESERVED && !(to == ACTO__REMOTE_SERVICE_ID && type == ACTO_MSG_NODE_LOOKUP)) {
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
    *reason = "unknown message kind";
    return -1;
  }
}

/* Processes one complete authenticated frame payload.  A fresh frame
 * (*resume_at 0) is checked whole first: every message parsed and held
 * to check_msg before the first one is delivered, so a refused frame
 * delivers nothing.  A frame resumed after a pause on a full mailbox was
 * checked when it first came; it goes on after message *resume_at.
 * Returns 1 to pause, 0, -1 for a bad frame, -2 for a local failure
 * (reason set either way). */
static int process_payload(conn *c, const uint8_t *pl, size_t len, size_t *resume_at,
                           const char **reason) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  acto__prescan_result res;
  int r = acto__prescan_decode(pl, len, 2, ACTO__PRESCAN_KIND, &u, &res);
  if (r != 0) {
    msgpack_unpacked_destroy(&u);
    snprintf(c->why, sizeof c->why, "%s", res.detail[0] ? res.detail : res.reason ? res.reason
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
  if (*resume_at == 0) {
    int wait_info = c->state == C_WAIT_INFO;
    for (size_t i = 1; i < nmsg; i++) {
      if (acto__wire_parse(&root->via.array.ptr[i], &w, reason) != 0 ||
          check_msg(c, &w, wait_info && i == 1, reason) != 0) {
        msgpack_unpacked_destroy(&u);
        return -1;
      }
    }
    ST_ADD(c->node, frames_in, 1);
  }
  int rc = 0;
  for (size_t i = 1 + *resume_at; i < nmsg; i++) {
    if (acto__wire_parse(&root->via.array.ptr[i], &w, reason) != 0) {
      rc = -1; /* checked above: cannot happen */
      break;
    }
    ST_ADD(c->node, msgs_in, 1);
    if (c->state == C_WAIT_INFO) {
      /* i == 1: the INFO check_msg required. */
      if (handle_info(c, &w, reason) != 0) {
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
    if (d == 1) {
      *resume_at = i; /* message i is parked: resume after it */
      rc = 1;
      break;
    }
  }
  msgpack_unpacked_destroy(&u);
  return rc;
}

/* Handles one pre-auth frame payload (a handshake message). */
static int process_handshake(conn *c, const uint8_t *pl, size_t len, const char **reason) {
  acto__node *n = c->node;
  uint8_t out[ACTO__AUTH_MSG_MAX];
  size_t out_len = 0;
  int r = acto__auth_feed(&c->auth, pl, len, out, sizeof out, &out_len);
  if (r < 0) {
    *reason = acto__auth_reason(&c->auth) ? acto__auth_reason(&c->auth) : "handshake failed";
    ST_ADD(n, refused, 1);
    return -1;
  }
  if (out_len > 0 && conn_send_frame(c, out, out_len, 0) != 0) {
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
    acto__peer *p = peer_ready(n, pname, &err);
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
        conn *mine = p->connecting;
        p->connecting = NULL;
        mine->peer = NULL; /* superseded: its close fires nothing */
        peer_unpin(p);     /* mine's pin (c keeps its own) */
        conn_close(mine, "simultaneous connect: the peer's connection wins", 0);
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
    e = conn_send_frame(c, tmp.p, tmp.len, 1);
  acto__buf_free(&tmp);
  if (e != 0) {
    *reason = "cannot send INFO";
    return -1;
  }
  return 0;
}

/* Processes every complete frame in c->in. */
static int out_full(conn *c) {
  acto__peer *p = c->peer;
  if (c->state != C_UP || !p)
    return 0;
  pthread_mutex_lock(&p->mtx);
  int full = queued_locked(p) > c->node->out_bytes;
  pthread_mutex_unlock(&p->mtx);
  return full;
}

static void conn_process(conn *c) {
  size_t resume_at;
  while (c->state != C_CLOSED && !c->paused) {
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
    int r = acto__frame_read(base, acto__buf_unread(&c->in), cap,
                             authed ? ACTO__FRAME_TAG_LEN : 0, &f);
    if (r == ACTO__FRAME_NEED_MORE)
      return;
    if (r < 0) {
      conn_close(c, f.reason ? f.reason : "bad frame", 1);
      return;
    }
    const char *reason = NULL;
    int pr;
    if (!authed) {
      pr = process_handshake(c, base + f.payload_off, f.payload_len, &reason);
    } else {
      /* The tag is checked once, before any byte of the payload is read;
       * a frame resumed after a pause (resume_at != 0) was checked. */
      if (c->resume_at == 0 &&
          acto__auth_open(&c->auth, base + f.payload_off, f.payload_len, base + f.tag_off) != 0) {
        conn_close(c, acto__auth_reason(&c->auth) ? acto__auth_reason(&c->auth) : "bad frame tag",
                   1);
        return;
      }
      resume_at = c->resume_at;
      pr = process_payload(c, base + f.payload_off, f.payload_len, &resume_at, &reason);
      if (pr == 1) {
        /* Paused inside this frame: keep it, remember where. */
        c->paused = 1;
        c->resume_at = resume_at;
        event_del(c->rev);
        return;
      }
      c->resume_at = 0;
    }
    if (pr < 0) {
      /* A refused handshake is counted as such (handshakes_refused), not
       * as a bad frame as well; nor is a local failure (-2). */
      conn_close(c, reason ? reason : "protocol error", authed && pr == -1);
      return;
    }
    if (c->state == C_CLOSED)
      return;
    acto__buf_consume(&c->in, f.consumed);
  }
}

static void on_read(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  conn *c = arg;
  size_t budget = READ_BUDGET;
  while (budget > 0 && c->state != C_CLOSED && !c->paused && !c->out_paused) {
    if (acto__buf_reserve(&c->in, READ_CHUNK) != 0) {
      conn_close(c, "out of memory for the input buffer", 0);
      return;
    }
    ssize_t k = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
    if (k > 0) {
      c->in.len += (size_t)k;
      ST_ADD(c->node, bytes_in, (uint64_t)k);
      c->t_rx = now_ns();
      budget = budget > (size_t)k ? budget - (size_t)k : 0;
      conn_process(c);
      continue;
    }
    if (k == 0) {
      conn_close(c, "connection closed by the peer", 0);
      return;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return;
    conn_close(c, "connection reset", 0);
    return;
  }
}

static void on_write(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  conn *c = arg;
  if (c->state == C_TCP) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err != 0) {
      conn_close(c, "connect failed", 0);
      return;
    }
    c->state = C_HANDSHAKE;
    event_add(c->rev, NULL);
    uint8_t out[ACTO__AUTH_MSG_MAX];
    int len = acto__auth_start(&c->auth, out, sizeof out);
    if (len < 0 || conn_send_frame(c, out, (size_t)len, 0) != 0) {
      conn_close(c, "cannot start the handshake", 0);
      return;
    }
    return;
  }
  conn_try_write(c);
}

static conn *conn_new(acto__node *n, int fd, int outbound) {
  conn *c = calloc(1, sizeof *c);
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
  c->t_start = c->t_rx = c->t_ping = now_ns();
  c->tw.notify = tw_notify;
  c->next = n->conns;
  if (n->conns)
    n->conns->prev = c;
  n->conns = c;
  n->pending_hs++;
  return c;
}

static void on_accept(evutil_socket_t lfd, short ev, void *arg) {
  (void)ev;
  acto__node *n = arg;
  for (int i = 0; i < 64; i++) {
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    if (n->pending_hs >= n->max_pending) {
      ST_ADD(n, refused, 1);
      node_log(n, ACTO_LOG_WARN, NULL, &sa, "refused connection from",
               "too many pending handshakes");
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = conn_new(n, fd, 0);
    if (!c) {
      close(fd);
      continue;
    }
    c->remote = sa;
    c->state = C_HANDSHAKE;
    event_add(c->rev, NULL);
  }
}

static void start_connect(acto__peer *p) {
  acto__node *n = p->node;
  if (p->connecting || atomic_load_explicit(&n->stopping, memory_order_acquire))
    return;
  pthread_mutex_lock(&p->mtx);
  if (p->state != P_DOWN || !p->has_addr) {
    pthread_mutex_unlock(&p->mtx);
    return;
  }
  p->state = P_CONNECTING;
  p->connect_req = 0;
  p->pins++; /* the outbound conn's, below */
  struct sockaddr_in sa = p->addr;
  pthread_mutex_unlock(&p->mtx);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  conn *c = fd >= 0 ? conn_new(n, fd, 1) : NULL;
  if (!c) {
    if (fd >= 0)
      close(fd);
    peer_down(p, "cannot create a socket", ACTO_ENOTCONN, 0);
    peer_unpin(p);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->peer = p;
  c->remote = sa;
  c->state = C_TCP;
  p->connecting = c;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
    conn_close(c, "connect failed", 0);
    return;
  }
  event_add(c->wev, NULL);
}

/* A sender asked for a write (or a connection). */
static void on_flush(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__peer *p = arg;
  pthread_mutex_lock(&p->mtx);
  conn *a = p->active;
  int want_connect = p->state == P_DOWN && p->connect_req;
  if (!a)
    p->flush_pending = 0;
  pthread_mutex_unlock(&p->mtx);
  if (a)
    conn_try_write(a);
  else if (want_connect)
    start_connect(p);
}

/* A parked delivery was resolved (any thread): wake the loop. */
static void tw_notify(acto__twaiter *tw, int state) {
  (void)state;
  conn *c = (conn *)((char *)tw - offsetof(conn, tw));
  atomic_store_explicit(&c->tw_fired, 1, memory_order_release);
  event_active(c->node->wake_ev, EV_READ, 0);
}

static void on_wake(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__node *n = arg;
  for (conn *c = n->conns; c; c = c->next) {
    if (c->paused != 1 || !atomic_load_explicit(&c->tw_fired, memory_order_acquire))
      continue;
    if (c->held)
      acto__actor_release(c->held);
    c->held = NULL;
    c->parked = NULL;
    c->paused = 0;
    /* Go on with the frame where it paused (conn_process skips the
     * messages already handled and the tag check), then read again. */
    conn_process(c);
    if (c->state != C_CLOSED && !c->paused)
      event_add(c->rev, NULL);
  }
  reap(n, 0);
}

/* Heartbeats, handshake timeouts, reconnections. */
static void on_tick(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__node *n = arg;
  uint64_t t = now_ns();
  /* This process itself was not running for a while (SIGSTOP, a paused
   * VM): the silence was ours, not the peers'.  Give them a new period. */
  int we_slept = n->last_tick_ns && t - n->last_tick_ns > n->hb_timeout_ns / 2;
  n->last_tick_ns = t;
  conn *c = n->conns;
  while (c) {
    conn *next = c->next;
    if (c->state == C_TCP || c->state == C_HANDSHAKE || c->state == C_WAIT_INFO) {
      if (t - c->t_start > n->hs_timeout_ns) {
        ST_ADD(n, refused, 1);
        conn_close(c, "handshake timeout", 0);
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
      if (!c->paused && !c->out_paused && t - c->t_rx > n->hb_timeout_ns) {
        ST_ADD(n, hb_timeouts, 1);
        conn_close(c, "heartbeat timeout: the peer is silent", 0);
      } else if (stuck) {
        /* Our frames have not moved for a whole timeout: the peer (or
         * the path to it) does not read. */
        ST_ADD(n, hb_timeouts, 1);
        conn_close(c, "heartbeat timeout: the peer does not read", 0);
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
            batch_added_locked(p);
          pthread_mutex_unlock(&p->mtx);
          conn_try_write(c);
        }
        acto__buf_free(&tmp);
      }
    }
    c = next;
  }
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    int down = p->state == P_DOWN;
    int want = down && (p->connect_req || (p->explicit_peer && t >= p->next_reconnect_ns));
    pthread_mutex_unlock(&p->mtx);
    if (want)
      start_connect(p);
  }
}

static void on_stop(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__node *n = arg;
  if (n->lev) {
    /* Stop listening at once: a peer trying to reconnect is refused
     * instead of waiting for a handshake nobody will answer. */
    event_free(n->lev);
    n->lev = NULL;
    close(n->lfd);
    n->lfd = -1;
  }
  conn *c = n->conns;
  while (c) {
    conn *next = c->next;
    conn_close(c, "node stopping", 0);
    c = next;
  }
  reap(n, 0);
  event_base_loopexit(n->base, NULL);
}

static void *io_main(void *arg) {
  acto__node *n = arg;
  event_base_dispatch(n->base);
  /* Zombies whose verdict never came (the system is going away). */
  return NULL;
}

/* ---- public API ---------------------------------------------------------------- */

/* libevent must know about threads before the first base exists (sends
 * wake the loop with event_active from workers).  SIGPIPE is not touched:
 * every send uses MSG_NOSIGNAL. */
static void use_pthreads(void) { (void)evthread_use_pthreads(); }

static void port_shutdown(acto__remote *r);
static void port_destroy(acto__remote *r);

/* The node as the runtime sees it (actor/remote.h). */
static const acto__remote_ops node_port_ops = {
    .send_user = port_send_user,
    .send_system = port_send_system,
    .ask_forget = port_ask_forget,
    .msg_orphaned = port_msg_orphaned,
    .shutdown = port_shutdown,
    .destroy = port_destroy,
};

int acto_node_start(acto_system *sys, const acto_node_config *cfg) {
  static const char CALL[] = "acto_node_start";
  if (!sys)
    return ACTO_EINVAL;
  if (!cfg)
    return refuse(sys, ACTO_EINVAL, CALL, "no configuration (cfg is NULL)");
  const char *why_not;
  int r = acto__remote_check(sys, &why_not);
  if (r != 0)
    return refuse(sys, r, CALL, "%s", why_not);
  r = check_name(sys, CALL, cfg->name);
  if (r != 0)
    return r;
  if (!cfg->key_file && !cfg->key)
    return refuse(sys, ACTO_EINVAL, CALL, "no key: set key_file, or key and key_len");
  if (cfg->key && (cfg->key_len < ACTO__AUTH_KEY_MIN || cfg->key_len > ACTO__AUTH_KEY_MAX))
    return refuse(sys, ACTO_EINVAL, CALL, "key_len %zu: a key is 32 to 64 bytes", cfg->key_len);
  if (cfg->frame_cap && (cfg->frame_cap < 1024 || cfg->frame_cap > ACTO__FRAME_CAP_MAX))
    return refuse(sys, ACTO_EINVAL, CALL,
                  "frame_cap %u: 0 (the default, 1 MiB) or 1024 to 1073741824 bytes",
                  (unsigned)cfg->frame_cap);
  const struct {
    const char *what;
    int64_t v;
  } durations[] = {{"heartbeat_ms", cfg->heartbeat_ms},
                   {"heartbeat_timeout_ms", cfg->heartbeat_timeout_ms},
                   {"handshake_timeout_ms", cfg->handshake_timeout_ms},
                   {"reconnect_min_ms", cfg->reconnect_min_ms},
                   {"reconnect_max_ms", cfg->reconnect_max_ms}};
  for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++)
    if (durations[i].v < 0)
      return refuse(sys, ACTO_EINVAL, CALL, "%s %lld: 0 (the default) or a positive number of ms",
                    durations[i].what, (long long)durations[i].v);
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, use_pthreads);

  acto__node *n = calloc(1, sizeof *n);
  if (!n)
    return ACTO_ENOMEM;
  n->sys = sys;
  n->lfd = -1;
  snprintf(n->name, sizeof n->name, "%s", cfg->name);
  char why[256];
  if (cfg->key) {
    memcpy(n->key.bytes, cfg->key, cfg->key_len);
    n->key.len = cfg->key_len;
  } else if ((r = acto__auth_key_load(cfg->key_file, &n->key, why, sizeof why)) != 0) {
    int e = errno;
    free(n);
    refuse(sys, r, CALL, "key file %s %s", cfg->key_file, why);
    errno = e;
    return r;
  }
  n->hash = name_hash(n->name, strlen(n->name));
  /* The node's incarnation is the system's (random, non-zero): refs keep
   * their low half, the name's hash fills the high one. */
  n->inc = (uint32_t)acto__system_node_id(sys);
  n->id = ((uint64_t)n->hash << 32) | n->inc;
  n->cap = cfg->frame_cap ? cfg->frame_cap : ACTO__FRAME_CAP_DEFAULT;
  int64_t hb = cfg->heartbeat_ms ? cfg->heartbeat_ms : 1000;
  int64_t hbt = cfg->heartbeat_timeout_ms ? cfg->heartbeat_timeout_ms : 4 * hb;
  if (hbt < hb)
    hbt = hb;
  n->hb_ns = (uint64_t)hb * 1000000ull;
  n->hb_timeout_ns = (uint64_t)hbt * 1000000ull;
  n->hs_timeout_ns = (uint64_t)(cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 2000) *
                     1000000ull;
  n->max_pending = cfg->max_pending_handshakes ? cfg->max_pending_handshakes : 64;
  n->max_peers = cfg->max_peers ? cfg->max_peers : 256;
  n->out_bytes = cfg->out_queue_bytes ? cfg->out_queue_bytes : (size_t)8 << 20;
  n->rc_min_ms = cfg->reconnect_min_ms ? cfg->reconnect_min_ms : 100;
  n->rc_max_ms = cfg->reconnect_max_ms ? cfg->reconnect_max_ms : 5000;
  if (n->rc_max_ms < n->rc_min_ms)
    n->rc_max_ms = n->rc_min_ms;
  pthread_mutex_init(&n->dir_mtx, NULL);
  pthread_mutex_init(&n->hook_mtx, NULL);
  int saved_errno = 0;
  n->peers = calloc(n->max_peers, sizeof *n->peers);
  n->base = event_base_new();
  r = ACTO_ENOMEM;
  if (!n->peers || !n->base)
    goto fail;
  if (!cfg->no_listen) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(cfg->listen_port);
    const char *host = cfg->listen_host ? cfg->listen_host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
      r = refuse(sys, ACTO_EINVAL, CALL, "listen_host \"%s\" is not a numeric IPv4 address",
                 host);
      goto fail;
    }
    n->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (n->lfd < 0 || setsockopt(n->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(n->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(n->lfd, 128) != 0) {
      saved_errno = errno;
      char eb[128];
      r = refuse(sys, ACTO_EIO, CALL, "cannot listen on %s:%u: %s", host,
                 (unsigned)cfg->listen_port, strerror_r(saved_errno, eb, sizeof eb));
      goto fail;
    }
    socklen_t sl = sizeof sa;
    getsockname(n->lfd, (struct sockaddr *)&sa, &sl);
    n->port = ntohs(sa.sin_port);
    n->lev = event_new(n->base, n->lfd, EV_READ | EV_PERSIST, on_accept, n);
    if (!n->lev || event_add(n->lev, NULL) != 0)
      goto fail;
  }
  n->tick_ev = event_new(n->base, -1, EV_PERSIST, on_tick, n);
  n->wake_ev = event_new(n->base, -1, 0, on_wake, n);
  n->stop_ev = event_new(n->base, -1, 0, on_stop, n);
  n->reap_ev = event_new(n->base, -1, 0, on_reap, n);
  if (!n->tick_ev || !n->wake_ev || !n->stop_ev || !n->reap_ev)
    goto fail;
  uint64_t tick_ms = (uint64_t)(hbt / 8 < hb / 2 ? hbt / 8 : hb / 2);
  if (tick_ms < 5)
    tick_ms = 5;
  if (tick_ms > 100)
    tick_ms = 100;
  struct timeval tv = {(time_t)(tick_ms / 1000), (suseconds_t)((tick_ms % 1000) * 1000)};
  if (event_add(n->tick_ev, &tv) != 0)
    goto fail;
  n->remote.ops = &node_port_ops;
  if ((r = acto__remote_attach(sys, &n->remote, n->hash, &why_not)) != 0) {
    /* Raced with another acto_node_start or a spawn since the check. */
    refuse(sys, r, CALL, "%s", why_not);
    goto fail;
  }
  if (pthread_create(&n->thread, NULL, io_main, n) != 0) {
    acto__remote_detach(sys, &n->remote);
    r = ACTO_ENOMEM;
    goto fail;
  }
  return 0;
fail:
  if (n->lev)
    event_free(n->lev);
  if (n->tick_ev)
    event_free(n->tick_ev);
  if (n->wake_ev)
    event_free(n->wake_ev);
  if (n->stop_ev)
    event_free(n->stop_ev);
  if (n->reap_ev)
    event_free(n->reap_ev);
  if (n->lfd >= 0)
    close(n->lfd);
  if (n->base)
    event_base_free(n->base);
  free(n->peers);
  acto__auth_key_wipe(&n->key);
  free(n);
  if (saved_errno)
    errno = saved_errno; /* ACTO_EIO keeps the errno of bind or listen */
  return r;
}

/* Stops the node: the I/O thread ends, peers see this node down, threads
 * waiting on a peer are woken.  Idempotent. */
static void node_stop(acto__node *n) {
  pthread_mutex_lock(&n->dir_mtx);
  int first = !n->stopped;
  n->stopped = 1;
  pthread_mutex_unlock(&n->dir_mtx);
  if (!first)
    return;
  atomic_store_explicit(&n->stopping, 1, memory_order_seq_cst);
  event_active(n->stop_ev, EV_READ, 0);
  pthread_join(n->thread, NULL);
  /* The loop is gone: this thread owns everything now.  Zombie conns (a
   * delivery still parked) are released here. */
  /* Zombies wait for their verdict: it comes from a worker (the actor
   * handling its mailbox or closing); wait a little, then free anyway at
   * destroy time. */
  for (int i = 0; i < 200 && n->dead; i++) {
    reap(n, 0);
    if (n->dead)
      usleep(1000);
  }
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mtx);
  }
}

/* Frees the node (the system is being destroyed: no message refers to a
 * peer any more). */
static void port_shutdown(acto__remote *r) { node_stop((acto__node *)r); }

static void port_destroy(acto__remote *r) {
  acto__node *n = (acto__node *)r;
  node_stop(n);
  reap(n, 1);
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    if (p->flush_ev)
      event_free(p->flush_ev);
    acto__buf_free(&p->batch);
    acto__buf_free(&p->out);
    ovf *o = p->ovf_head;
    while (o) {
      ovf *nx = o->next;
      free(o);
      o = nx;
    }
    free(p->rels);
    pthread_mutex_destroy(&p->mtx);
    pthread_cond_destroy(&p->cv);
    free(p);
  }
  if (n->lev)
    event_free(n->lev);
  event_free(n->tick_ev);
  event_free(n->wake_ev);
  event_free(n->stop_ev);
  event_free(n->reap_ev);
  if (n->lfd >= 0)
    close(n->lfd);
  event_base_free(n->base);
  free(n->peers);
  acto__auth_key_wipe(&n->key);
  pthread_mutex_destroy(&n->dir_mtx);
  pthread_mutex_destroy(&n->hook_mtx);
  free(n);
}

int acto_node_stop(acto_system *sys) {
  if (!sys)
    return ACTO_EINVAL;
  acto__actor *self;
  if (acto__system_caller(sys, &self) == ACTO_EWRONGTHREAD)
    return ACTO_EWRONGTHREAD;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
  node_stop(n);
  return 0;
}

int acto_node_self(acto_system *sys, uint64_t *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
  *out = n->id;
  return 0;
}

int acto_node_port(acto_system *sys, uint16_t *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
  *out = n->port;
  return 0;
}

/* Gets (or adds) a peer, pinned like peer_get, and makes sure its flush
 * event exists.  The event is created under dir_mtx so that exactly one is
 * made (a recycled peer keeps its own). */
static acto__peer *peer_ready(acto__node *n, const char *name, int *err) {
  acto__peer *p = peer_get(n, name, err);
  if (!p)
    return NULL;
  pthread_mutex_lock(&n->dir_mtx);
  if (!p->flush_ev)
    p->flush_ev = event_new(n->base, -1, 0, on_flush, p);
  int ok = p->flush_ev != NULL;
  pthread_mutex_unlock(&n->dir_mtx);
  if (!ok) {
    peer_unpin(p);
    *err = ACTO_ENOMEM;
    return NULL;
  }
  return p;
}

static int connect_wait_unlock(acto__node *n, acto__peer *p, uint64_t attempts,
                               int64_t timeout_ms);

int acto_node_connect(acto_system *sys, const char *name, const char *host, uint16_t port,
                      int64_t timeout_ms) {
  static const char CALL[] = "acto_node_connect";
  if (!sys)
    return ACTO_EINVAL;
  int r = check_name(sys, CALL, name);
  if (r != 0)
    return r;
  if (!host)
    return refuse(sys, ACTO_EINVAL, CALL, "no host (NULL): give a numeric IPv4 address");
  if (port == 0)
    return refuse(sys, ACTO_EINVAL, CALL, "port 0: give the port %s listens on", name);
  if (timeout_ms < -1)
    return refuse(sys, ACTO_EINVAL, CALL, "timeout_ms %lld: -1 (forever), 0 (no wait) or a "
                  "positive number of ms", (long long)timeout_ms);
  acto__node *n = node_of(sys);
  if (!n)
    return refuse(sys, ACTO_ENOTCONN, CALL, "no node runs on this system (acto_node_start)");
  if (atomic_load_explicit(&n->stopping, memory_order_acquire))
    return refuse(sys, ACTO_ENOTCONN, CALL, "the node is stopping");
  if (strcmp(name, n->name) == 0)
    return refuse(sys, ACTO_EINVAL, CALL, "\"%s\" is this node's own name", name);
  acto__actor *self;
  if (timeout_ms != 0 && acto__system_caller(sys, &self) != 0)
    return ACTO_EDEADLK;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
    return refuse(sys, ACTO_EINVAL, CALL, "host \"%s\" is not a numeric IPv4 address", host);
  int err = 0;
  acto__peer *p = peer_ready(n, name, &err);
  if (!p)
    return err == ACTO_ELIMIT
               ? refuse(sys, err, CALL, "%s: every one of the %u max_peers slots is in use", name,
                        n->max_peers)
           : err == ACTO_EEXIST
               ? refuse(sys, err, CALL,
                        "%s: a known node or this node has a name with the same hash", name)
               : err;
  pthread_mutex_lock(&p->mtx);
  p->addr = sa;
  p->has_addr = 1;
  p->explicit_peer = 1;
  peer_unpin_locked(p); /* an explicit peer keeps its slot without a pin */
  uint64_t attempts = p->attempts;
  if (p->state == P_UP) {
    pthread_mutex_unlock(&p->mtx);
    return 0;
  }
  p->connect_req = 1;
  p->next_reconnect_ns = 0;
  kick_locked(p);
  if (timeout_ms == 0) {
    pthread_mutex_unlock(&p->mtx);
    return 0;
  }
  return connect_wait_unlock(n, p, attempts, timeout_ms);
}

/* Waits (p->mtx held, released on return) until p is up, an attempt
 * finished since `attempts` without success, or the deadline. */
static int connect_wait_unlock(acto__node *n, acto__peer *p, uint64_t attempts, int64_t timeout_ms) {
  acto_system *sys = n->sys;
  int r = acto__system_wait_enter(sys);
  if (r != 0) {
    pthread_mutex_unlock(&p->mtx);
    return r;
  }
  uint64_t deadline = acto__deadline_after(now_ns(), timeout_ms);
  while (p->state != P_UP) {
    if (p->attempts != attempts && p->state == P_DOWN) {
      r = p->last_error ? p->last_error : ACTO_ENOTCONN;
      break;
    }
    if (acto__system_closing(sys)) {
      r = ACTO_ECLOSED;
      break;
    }
    if (atomic_load_explicit(&n->stopping, memory_order_acquire)) {
      r = ACTO_ENOTCONN;
      break;
    }
    if (acto__clock_wait(&p->cv, &p->mtx, deadline) != 0) {
      r = p->state == P_UP ? 0 : ACTO_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&p->mtx);
  acto__system_wait_leave(sys);
  return r;
}

int acto_node_id(acto_system *sys, const char *name, uint64_t *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  if (check_name(sys, "acto_node_id", name) != 0)
    return ACTO_EINVAL;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
  if (strcmp(name, n->name) == 0) {
    *out = n->id;
    return 0;
  }
  acto__peer *p = peer_lock(n, name_hash(name, strlen(name)), name);
  if (!p)
    return ACTO_ENOENT;
  int up = p->state == P_UP;
  uint64_t id = ((uint64_t)peer_hash(p) << 32) | p->inc;
  pthread_mutex_unlock(&p->mtx);
  if (!up)
    return ACTO_ENOTCONN;
  *out = id;
  return 0;
}

int acto_node_service(acto_system *sys, const char *node_name, acto_ref *out) {
  uint64_t id;
  int r = acto_node_id(sys, node_name, &id);
  if (r == ACTO_ENOENT)
    return ACTO_ENOTCONN;
  if (r != 0)
    return r;
  *out = (acto_ref){ACTO__REMOTE_SERVICE_ID, id};
  return 0;
}

int acto_node_lookup(acto_system *sys, const char *node_name, const char *name,
                     int64_t timeout_ms, acto_ref *out) {
  static const char CALL[] = "acto_node_lookup";
  if (!sys || !out)
    return ACTO_EINVAL;
  if (check_name(sys, CALL, node_name) != 0)
    return ACTO_EINVAL;
  size_t len = name ? strnlen(name, ACTO_NAME_MAX + 1) : 0;
  if (len == 0 || len > ACTO_NAME_MAX)
    return refuse(sys, ACTO_EINVAL, CALL, "the name to look up is 1 to %d bytes",
                  (int)ACTO_NAME_MAX);
  if (timeout_ms < -1)
    return refuse(sys, ACTO_EINVAL, CALL, "timeout_ms %lld: -1 (forever), 0 (no wait) or a "
                  "positive number of ms", (long long)timeout_ms);
  acto__actor *self;
  if (acto__system_caller(sys, &self) != 0)
    return ACTO_EDEADLK;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
  if (strcmp(node_name, n->name) == 0)
    return acto_lookup(sys, name, out);
  acto__peer *p = peer_lock(n, name_hash(node_name, strlen(node_name)), node_name);
  if (!p)
    return ACTO_ENOTCONN;
  uint64_t start = now_ns();
  int up = p->state == P_UP;
  if (!up) {
    /* Connect on demand, within the caller's deadline. */
    if (!p->has_addr && p->state == P_DOWN) {
      pthread_mutex_unlock(&p->mtx);
      return ACTO_ENOTCONN;
    }
    if (p->state == P_DOWN) {
      p->connect_req = 1;
      kick_locked(p);
    }
    p->pins++; /* across the wait */
    int r = timeout_ms == 0 ? ACTO_ETIMEDOUT
                            : connect_wait_unlock(n, p, p->attempts, timeout_ms);
    if (timeout_ms != 0)
      pthread_mutex_lock(&p->mtx);
    peer_unpin_locked(p);
    if (r != 0) {
      pthread_mutex_unlock(&p->mtx);
      return r;
    }
  }
  uint32_t inc = p->inc;
  uint32_t h = peer_hash(p);
  pthread_mutex_unlock(&p->mtx);
  if (!up) {
    if (timeout_ms > 0) {
      int64_t spent = (int64_t)((now_ns() - start) / 1000000u);
      timeout_ms = timeout_ms > spent ? timeout_ms - spent : 1;
    }
  }
  acto_ref svc = {ACTO__REMOTE_SERVICE_ID, ((uint64_t)h << 32) | inc};
  acto_reply_buf rb;
  int r = acto_ask(sys, svc, ACTO_MSG_NODE_LOOKUP, name, len, timeout_ms, &rb);
  if (r != 0)
    return r;
  if (rb.size != sizeof(acto_ref)) {
    acto_reply_release(&rb);
    return ACTO_ENOENT;
  }
  out->id = get_le64(rb.data);
  out->node = get_le64((const uint8_t *)rb.data + 8);
  acto_reply_release(&rb);
  return 0;
}

int acto_node_set_event_hook(acto_system *sys, acto_node_event_fn fn, void *user) {
  if (!sys)
    return ACTO_EINVAL;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
  pthread_mutex_lock(&n->hook_mtx);
  n->hook = fn;
  n->hook_user = fn ? user : NULL;
  pthread_mutex_unlock(&n->hook_mtx);
  return 0;
}

int acto_node_get_stats(acto_system *sys, acto_node_stats *o) {
  if (!sys || !o)
    return ACTO_EINVAL;
  acto__node *n = node_of(sys);
  if (!n)
    return ACTO_ENOTCONN;
#define LD(f) atomic_load_explicit(&n->st.f, memory_order_relaxed)
  o->peers_up = LD(peers_up);
  o->connects = LD(connects);
  o->disconnects = LD(disconnects);
  o->handshakes_refused = LD(refused);
  o->frames_in = LD(frames_in);
  o->frames_out = LD(frames_out);
  o->msgs_in = LD(msgs_in);
  o->msgs_out = LD(msgs_out);
  o->bytes_in = LD(bytes_in);
  o->bytes_out = LD(bytes_out);
  o->bad_frames = LD(bad_frames);
  o->heartbeat_timeouts = LD(hb_timeouts);
  o->parks = LD(parks);
#undef LD
  return 0;
}

int acto_node_keygen(const char *path) {
  char why[256];
  int e, r = acto__auth_key_generate(path, NULL, why, sizeof why);
  if (r != 0) {
    /* No system, no hook: the default sink (stderr, never blocking). */
    e = errno;
    acto__log(NULL, ACTO_LOG_ERROR, "node", "acto_node_keygen: key file %s %s (%s)",
              path ? path : "(NULL)", why, acto_err_name(r));
    errno = e;
  }
  return r;
}
