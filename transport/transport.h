/* transport.h - the types the node's files share (transport/), who owns
 * each field, and the functions they call in each other, grouped by the
 * file that defines them.  Internal (not installed).
 *
 * The files form a stack; each calls only files on lower lines:
 *   node.c                    the API, start and stop, the I/O loop
 *   spawn.c                   remote spawn (the node service's spawner)
 *   heartbeat.c  deliver.c    the tick; the door into actor/
 *   cluster.c                 membership; the door of the cluster layers
 *   global.c  group.c         global names, process groups
 *   handshake.c  route.c      pre-auth and INFO; the door from actor/
 *   conn.c                    sockets, frames, pauses, close and reap
 *   area.c                    the waiting area of a conn (flow control)
 *   peer.c                    the directory, up and down, relations
 *   addr.c                    hosts and the resolver thread
 *   outq.c                    a peer's outgoing queue
 *   tls.c                     TLS 1.3 sessions; every write of a socket
 *   this header; buf, wire, frame, prescan, auth (pure layers)
 * conn.c hands frames up through the node's on_handshake and on_batch
 * pointers, peer.c its ups and downs through on_peer_up and on_peer_down,
 * addr.c its resolver's answers through on_resolved, all set by
 * acto_node_start, instead of calling up.
 *
 * Ownership, in one line each (the fields say more):
 *   acto__node  built by acto_node_start before the I/O thread starts and
 *               freed at the system's destruction after it was joined;
 *               configuration fields are read-only after start.
 *   acto__peer  type-stable (DESIGN in peer.c); fields under its mutex
 *               unless marked "any thread" (atomic) or "I/O thread".
 *   acto__conn  the I/O thread's alone, but for its twaiter, which the
 *               worker that resolves a parked delivery fires, and its TLS
 *               session, which the direct write of outq.c uses too
 *               (under the session's own mutex, tls.h).
 *   acto__ovf   a parked send: under its peer's mutex.
 *   acto__rel   a relation to fire at peer down: under its peer's mutex.
 *   acto__busy  a target the peer said is busy: under its peer's mutex.
 *   acto__line  a target's waiting line on a conn: the I/O thread's
 *               (area.c), but for the flag its worker sets.
 */
#ifndef ACTO_TRANSPORT_H
#define ACTO_TRANSPORT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "acto_cluster.h"
#include "acto_node.h"
#include "actor/remote.h"
#include "transport/addr.h"
#include "transport/auth.h"
#include "transport/buf.h"
#include "transport/idmap.h"
#include "transport/tls.h"

struct acto__wmsg; /* transport/wire.h */
struct acto__resq; /* addr.c: a request to the resolver */
struct acto__line; /* area.c: a target's waiting line (DESIGN: Flow) */

#define BATCH_TARGET (64u * 1024u) /* close a batch at this size */
#define READ_CHUNK (64u * 1024u)
#define READ_BUDGET (256u * 1024u) /* bytes per read callback (fairness) */

enum { P_DOWN = 0, P_CONNECTING = 1, P_UP = 2 };
enum { C_TCP = 1, C_TLS, C_HANDSHAKE, C_WAIT_INFO, C_UP, C_CLOSED };
enum { R_LINK = 1, R_MON = 2, R_ASK = 3 };

typedef struct acto__rel {
  uint8_t kind;
  uint8_t future; /* R_ASK: a plain thread's ask */
  uint64_t local; /* local actor id (0: a plain thread's ask) */
  uint64_t remote;
  uint64_t id; /* monitor id or ask id */
} acto__rel;

typedef struct acto__ovf {
  struct acto__ovf *next;
  acto__actor *parker;
  uint64_t target; /* the one message's target (flow control) */
  uint32_t nmsgs;
  size_t len;
  uint8_t bytes[];
} acto__ovf;

/* A target the peer told us is busy (BUSY, until ROOM): sends to it park
 * here in order (DESIGN: Flow, area.c). */
typedef struct acto__busy {
  acto__ovf *head, *tail;
} acto__busy;

struct acto__conn;

typedef struct acto__peer {
  struct acto__node *node;
  /* The identity: changed only by a recycle (acto__peer_get, under dir_mtx and
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
  /* Where it listens (addr.c): host (a name or a numeric address, as
   * given or as seen on its connection) and port, has_addr when both are
   * known; addr once resolved (a numeric host at once, a name before each
   * attempt, on the resolver thread, while resolving). */
  int has_addr;
  char host[ACTO__HOST_MAX + 1];
  uint16_t port;
  int resolved, resolving;
  uint32_t addr_try; /* failed attempts in a row: which address of a name */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int explicit_peer; /* added by acto_node_connect: reconnect with backoff */
  /* Membership (cluster.c): learned from a seed or another member, so
   * reconnected with backoff as an explicit peer is, until it leaves;
   * left_inc: the incarnation that said LEAVE (0: none). */
  int member;
  uint32_t left_inc;
  uint64_t member_since_ns; /* when it last came up or went down */
  int connect_req;   /* a sender wants a connection */
  int last_error;    /* why the last attempt failed (for connect waiters) */
  uint64_t attempts; /* connection attempts finished (up or failed) */
  acto__buf batch;
  uint32_t batch_n;
  acto__buf out;
  uint32_t out_msgs; /* messages inside the sealed frames of out */
  acto__ovf *ovf_head, *ovf_tail;
  acto__idmap busy; /* target id -> acto__busy */
  uint32_t thread_waiters;
  int flush_pending;
  int direct_ok;          /* the active conn has nothing pending to write */
  uint64_t last_write_ns; /* the last write to the active acto__conn */
  uint64_t progress_ns;   /* the last write that moved bytes (or UP) */
  /* The conn that carries messages while UP.  Every write to its socket
   * happens under mtx (the direct write of outq.c, or the I/O thread),
   * and the loop closes the socket only after clearing active under mtx:
   * a writer that sees it set under mtx writes to a live socket. */
  struct acto__conn *active;
  acto__rel *rels;
  size_t nrels, caprels;
  uint32_t epoch;
  uint64_t next_reconnect_ns; /* backoff of an explicit peer */
  int64_t backoff_ms;
  /* Any thread. */
  acto__origin origin; /* live_epoch: what a message that came over it checks */
  /* I/O thread only. */
  struct acto__conn *connecting; /* our outbound conn before UP */
  struct event *flush_ev;
} acto__peer;

/* A connection: the I/O thread's alone (created, read, written, closed
 * and freed there).  States: conn.c's DESIGN. */
typedef struct acto__conn {
  struct acto__node *node;
  acto__peer *peer; /* outbound: from the start; inbound: after auth */
  int fd;
  int outbound;
  int state;
  struct event *rev, *wev;
  acto__auth auth;
  /* Encryption on: the TLS session (NULL when off).  Every write of fd
   * goes through it (acto__tls_send); its mutex orders the I/O thread's
   * SSL_read against a worker's SSL_write (conn.c DESIGN: Encryption). */
  acto__tls *tls;
  int tls_rx;             /* 1 once bytes arrived (the first ones are sniffed) */
  acto__buf in;           /* plaintext received (decrypted when tls) */
  acto__buf wbuf;         /* pre-UP output (handshake frames, INFO) */
  uint64_t t_start, t_rx; /* connection opened; the last byte received */
  uint64_t t_ping;        /* our last PING (the start before the first) */
  struct sockaddr_storage remote;
  uint32_t peer_port; /* from INFO */
  char why[160];      /* the detail of a refused payload, for the log */
  /* The waiting area (area.c, DESIGN: Flow): target id -> its line;
   * the bytes its lines hold; a line kept for the next full mailbox;
   * reading stopped at the area's bound (resumed below half). */
  acto__idmap area;
  size_t area_bytes;
  struct acto__line *spare;
  int area_paused;
  /* During one frame: the target the last SEND went to, and a reference
   * to it (NULL: gone), dropped at the frame's end (acto__area_frame_end). */
  uint64_t hot_id;
  acto__actor *hot;
  /* Reading stopped because our queue to this peer is over its bound (the
   * peer sends but does not read: its PINGs and asks would make us queue
   * PONGs and replies without end).  Resumed below half. */
  int out_paused;
  struct acto__conn *next, *prev;
} acto__conn;

typedef struct acto__node {
  acto__remote remote; /* first: the runtime holds the node by it (actor/remote.h) */
  /* Set by acto_node_start, read-only afterwards (any thread). */
  acto_system *sys;
  char name[ACTO__AUTH_NAME_MAX + 1];
  uint32_t hash, inc;
  uint64_t id;
  acto__auth_key key;
  uint32_t cap;
  uint64_t hb_ns, hb_timeout_ns, hs_timeout_ns;
  uint64_t tls_timeout_ns; /* the TLS handshake's share of hs_timeout_ns */
  /* Encryption (acto_node_config.encryption): tls_on, and the context every
   * connection's session is made from.  rx: the I/O thread's buffer of
   * ciphertext between recv() and the session. */
  int tls_on;
  acto__tls_ctx tls;
  uint8_t *rx;
  unsigned max_pending, max_peers;
  size_t out_bytes;
  size_t area_max; /* a conn's waiting area stops reading past this */
  int64_t rc_min_ms, rc_max_ms;
  uint16_t port;
  char listen_host[64]; /* as configured (numeric) */
  /* libevent: the base and events are the I/O thread's; event_active on
   * wake_ev and stop_ev is the one call other threads make. */
  struct event_base *base;
  pthread_t thread;
  int lfd;
  struct event *lev, *tick_ev, *wake_ev, *stop_ev;
  /* I/O thread: after a turn on it, the loop polls instead of sleeping
   * until this time (node.c, io_main). */
  uint64_t poll_until_ns;
  acto__conn *conns; /* I/O thread */
  acto__conn *dead;  /* closed, freed by acto__conn_reap() */
  struct event *reap_ev;
  struct acto__line *zombies; /* I/O thread: lines of closed conns whose
                                 parked head's verdict is on its way */
  _Atomic int area_fired;     /* a worker resolved a line's parked head */
  unsigned pending_hs; /* I/O thread */
  /* The directory: slots appended under dir_mtx, published by npeers. */
  acto__peer **peers;
  _Atomic unsigned npeers;
  pthread_mutex_t dir_mtx;  /* appends to peers */
  _Atomic int stopping;     /* any thread: set once by the stop */
  int stopped;              /* under dir_mtx: the stop ran */
  uint64_t last_tick_ns;    /* I/O thread */
  pthread_mutex_t hook_mtx; /* guards hook and hook_user, and the member
                               hook and subscribers (cluster.c) */
  acto_node_event_fn hook;
  void *hook_user;
  acto_member_fn member_hook;
  void *member_hook_user;
  acto_ref *subs;
  size_t nsubs, capsubs;
  /* The resolver thread (addr.c DESIGN): requests and answers under
   * res_mtx; res_ev is the I/O thread's. */
  pthread_mutex_t res_mtx;
  pthread_cond_t res_cv;
  pthread_t res_thread;
  int res_started, res_stop;
  struct acto__resq *res_todo, *res_done;
  struct event *res_ev;
  /* The layers above the connection, set by acto_node_start so that
   * conn.c hands frames up without calling up: a pre-auth frame goes to
   * on_handshake (handshake.c), an authenticated batch to on_batch
   * (deliver.c). */
  int (*on_handshake)(struct acto__conn *c, const uint8_t *pl, size_t len, const char **reason);
  int (*on_batch)(struct acto__conn *c, const uint8_t *pl, size_t len, const char **reason);
  /* The same for peer.c, whose up and down the cluster layers hear
   * (cluster.c), and for addr.c, whose resolver's answers conn.c takes
   * (it connects, or fails the attempt; it drops the request's pin). */
  void (*on_peer_up)(struct acto__peer *p, uint64_t node_id);
  void (*on_peer_down)(struct acto__peer *p, uint64_t node_id, const char *reason);
  void (*on_resolved)(struct acto__peer *p, uint32_t hash, const char *host, int ok,
                      const struct sockaddr_storage *ss, socklen_t len);
  /* Remote spawn (spawn.c): the behaviour registry and the spawner,
   * made at the first registration and published by a release CAS;
   * freed with the node. */
  _Atomic(struct acto__spawn *) spawn;
  /* The cluster's replicated tables (global.c, group.c): built by
   * acto_node_start, freed with the node; their own locks inside. */
  struct acto__global *global;
  struct acto__groups *groups;
  /* Counters: any thread, relaxed (ST_ADD). */
  struct {
    _Atomic uint64_t peers_up, connects, disconnects, refused, frames_in, frames_out, msgs_in,
        msgs_out, bytes_in, bytes_out, bad_frames, hb_timeouts, parks, busy_out, room_out,
        busy_in, busy_parks, area_pauses, waiting;
  } st;
} acto__node;

#define ST_ADD(n, f, v) atomic_fetch_add_explicit(&(n)->st.f, (v), memory_order_relaxed)
#define ST_SUB(n, f, v) atomic_fetch_sub_explicit(&(n)->st.f, (v), memory_order_relaxed)

/* ---- small helpers ---------------------------------------------------------- */

static inline uint64_t acto__transport_now_ns(void) { return acto__clock_now_ns(); }

/* How long the I/O thread polls its sockets after a turn on it (node.c,
 * io_main). */
#define ACTO__IO_POLL_NS 50000u

static inline acto__node *acto__transport_node(acto_system *sys) {
  /* The port is the node's first member. */
  return (acto__node *)acto__remote_of(sys);
}

/* node.c */

/* peer.c */
uint32_t acto__peer_name_hash(const char *s, size_t n);
uint32_t acto__peer_hash(acto__peer *p);
acto__peer *acto__peer_lock(acto__node *n, uint32_t h, const char *name);
int acto__peer_relock(acto__peer *p, uint32_t h);
void acto__peer_unpin_locked(acto__peer *p);
void acto__peer_unpin(acto__peer *p);
acto__peer *acto__peer_get(acto__node *n, const char *name, int *err);
int acto__peer_rel_add(acto__peer *p, uint8_t kind, uint8_t future, uint64_t local, uint64_t remote,
                       uint64_t id);
void acto__peer_rel_del(acto__peer *p, uint8_t kind, uint64_t local, uint64_t remote, uint64_t id);
void acto__peer_down(acto__peer *p, const char *reason, int err, int was_up);
void acto__peer_up(acto__conn *c);
/* The address p listens at (host copied; a change makes it resolve
 * again).  Caller holds p->mtx. */
void acto__peer_set_addr_locked(acto__peer *p, const char *host, uint16_t port);
/* The id of node `name` (this node's own, or a peer's while up): 0,
 * ACTO_ENOENT (unknown), ACTO_ENOTCONN (not up).  Any thread. */
int acto__peer_id_up(acto__node *n, const char *name, uint64_t *out);

/* outq.c */
size_t acto__outq_bytes_locked(acto__peer *p);
int acto__outq_seal_locked(acto__peer *p);
void acto__outq_added_locked(acto__peer *p);
void acto__outq_kick_locked(acto__peer *p);
void acto__outq_flush_locked(acto__peer *p);
void acto__outq_dead_n(acto_system *sys, uint32_t n);
uint32_t acto__outq_drop_locked(acto__peer *p, acto__ovf **parkers);
void acto__outq_resume_parkers(acto__ovf *o);
acto__ovf *acto__outq_drain_ovf_locked(acto__peer *p);
int acto__outq_append_unlock(acto_system *sys, acto__peer *p, acto__buf *tmp, uint32_t nmsgs,
                             uint64_t target, int fail_fast, int64_t deadline_ms);
int acto__outq_busy_locked(acto__peer *p, uint64_t target);
acto__ovf *acto__outq_room_locked(acto__peer *p, uint64_t target);

/* area.c */
/* Delivers user message m (for local actor id `to`, from conn c) or puts
 * it in the waiting area; never blocks.  0, 1 when it queued BUSY (the
 * caller writes it out at once), or -2 (reason set) when a local resource
 * failed (the caller closes c). */
int acto__area_deliver(acto__conn *c, uint64_t to, acto__msg *m, const char **reason);
/* Moves on the lines of c whose parked head was resolved; 1 when c
 * stopped reading at the area's bound and may read again. */
int acto__area_wake(acto__conn *c);
/* The frame is done: drops the reference to its last target. */
void acto__area_frame_end(acto__conn *c);
/* The area of c is over its bound: stop reading. */
int acto__area_full(const acto__conn *c);
/* c closes: waiting messages become dead letters; lines whose head's
 * verdict is on its way go to the node's zombies. */
void acto__area_close(acto__conn *c);
/* Frees zombie lines whose verdict came (all: every one; only once no
 * worker can fire them).  1 while some remain. */
int acto__area_reap(acto__node *n, int all);

/* route.c */
int acto__route_send_user(acto__remote *port, acto_ref to, acto__msg *m, int fail_fast,
                          int64_t deadline_ms);
int acto__route_send_system(acto__remote *port, acto_ref to, acto__msg *m);
void acto__route_ask_forget(acto__remote *port, uint64_t node, uint64_t ask_id);

/* conn.c */
void acto__conn_try_write(acto__conn *c);
int acto__conn_send_frame(acto__conn *c, const uint8_t *payload, size_t len, int sealed);
void acto__conn_close(acto__conn *c, const char *reason, int bad_frame);
int acto__conn_reap(acto__node *n, int all);
void acto__conn_on_reap(evutil_socket_t fd, short ev, void *arg);
void acto__conn_on_accept(evutil_socket_t lfd, short ev, void *arg);
void acto__conn_start_connect(acto__peer *p);
void acto__conn_on_wake(evutil_socket_t fd, short ev, void *arg);
acto__peer *acto__conn_peer_ready(acto__node *n, const char *name, int *err);
void acto__conn_on_resolved(acto__peer *p, uint32_t hash, const char *host, int ok,
                            const struct sockaddr_storage *ss, socklen_t len);

/* handshake.c */
int acto__handshake_info(acto__conn *c, const struct acto__wmsg *w, const char **reason);
int acto__handshake_feed(acto__conn *c, const uint8_t *pl, size_t len, const char **reason);

/* deliver.c */
int acto__deliver_batch(acto__conn *c, const uint8_t *pl, size_t len, const char **reason);

/* heartbeat.c */
void acto__heartbeat_tick(evutil_socket_t fd, short ev, void *arg);

#endif /* ACTO_TRANSPORT_H */
