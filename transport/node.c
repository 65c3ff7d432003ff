/* node.c - a node: its public API (acto_node_*), start and stop, and the
 * I/O thread's loop.  The rest of the node is one concept a file:
 *   peer.c       the peer directory: names, slots, up and down, relations
 *   outq.c       a peer's outgoing queue: batches, frames, parking
 *   route.c      the door from actor/: remote sends (actor/remote.h ops)
 *   conn.c       connections: accept, connect, read, write, close
 *   handshake.c  the pre-auth exchange and INFO
 *   deliver.c    the door into actor/: an authenticated batch to mailboxes
 *   heartbeat.c  the periodic tick: heartbeats, timeouts, reconnection
 * transport.h holds the types they share, says who owns each field, and
 * draws the stack (each file calls only those below it).
 *
 * DESIGN
 * Threads.  One I/O thread runs a libevent loop and owns every socket,
 * every connection struct (conn) and each connection's receive side
 * (buffer, auth recv state).  It never runs behaviour code: what arrives
 * is pushed into mailboxes (acto__send_from_node never blocks; a full
 * block-policy mailbox pauses that connection's reading until the message
 * is delivered, so TCP pushes back on the sender).  Worker and plain
 * threads that send to a remote ref only touch the target's peer, under
 * the peer's mutex (and, with encryption on, the TLS session of its
 * active conn, under the session's own mutex: conn.c DESIGN).
 */
#include "acto_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "actor/remote.h"
#include "transport/auth.h"
#include "transport/cluster.h"
#include "transport/frame.h"
#include "transport/global.h"
#include "transport/spawn_internal.h"
#include "transport/transport.h"

static uint64_t get_le64(const void *q) {
  const uint8_t *p = q;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
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
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '@' || c == '-')) {
      snprintf(buf, size, "the node name \"%s\" has the byte 0x%02x at %zu", s,
               (unsigned)(uint8_t)c, i);
      return buf;
    }
  }
  return NULL;
}

/* A refusal of a public call: one line that names the rule (log.h). */
#define refuse(sys, code, call, ...) acto__log_refuse(sys, code, "node", call, __VA_ARGS__)

/* Checks a node name argument of `call`: 0 or ACTO_EINVAL with a line. */
static int check_name(acto_system *sys, const char *call, const char *name) {
  char buf[128];
  const char *bad = name_problem(name, buf, sizeof buf);
  return bad ? refuse(sys, ACTO_EINVAL, call, "%s: " NAME_RULE, bad) : 0;
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
  /* Peers hear LEAVE first: they see this node "left", not "down". */
  acto__cluster_leave(n);
  acto__conn *c = n->conns;
  while (c) {
    acto__conn *next = c->next;
    acto__conn_close(c, "node stopping", 0);
    c = next;
  }
  acto__conn_reap(n, 0);
  event_base_loopexit(n->base, NULL);
}

/* The I/O thread's loop.  It sleeps in epoll until something happens,
 * except for ACTO__IO_POLL_NS after a read that ran an actor's turn here
 * (an I/O turn, actor/scheduler.c): then it polls without sleeping, since
 * the answer of a request-reply partner usually comes back sooner, and a
 * sleeping thread's wake-up (an IPI to an idle vCPU, a context switch)
 * costs more than the poll.  Between two looks it yields its core
 * (sched_yield): on a loaded machine the thread that will send the answer
 * may be waiting for that very core.  Measured on bench/remote_pingpong
 * (2 processes, 2 cores), same sittings: quiet, 95,000 messages/s
 * polling without yielding, 90,000 yielding, 45,000-65,000 sleeping;
 * with a `yes` running, 17,000 without yielding (each poll held the core
 * its partner needed for a whole time slice: p50 128 us), 49,000-53,000
 * yielding, 27,000-29,000 without I/O turns.  Reads that ran no turn buy
 * no polling, so nodes whose behaviours do not ask for I/O turns never
 * poll, and a node that does polls at most that long per such read. */
static void *io_main(void *arg) {
  acto__node *n = arg;
  acto__thread_begin(n->sys, "acto-node");
  for (;;) {
    int poll = acto__transport_now_ns() < n->poll_until_ns;
    if (poll)
      sched_yield(); /* see above: a polling thread gives its core away */
    int r = event_base_loop(n->base, poll ? EVLOOP_NONBLOCK : EVLOOP_ONCE);
    if (r < 0 || event_base_got_exit(n->base) || event_base_got_break(n->base))
      break;
    if (r == 1 && !poll)
      break; /* no events left at all (never while the node runs) */
  }
  /* Zombies whose verdict never came (the system is going away). */
  acto__thread_end(n->sys, "acto-node");
  return NULL;
}

/* libevent must know about threads before the first base exists (sends
 * wake the loop with event_active from workers).  SIGPIPE is not touched:
 * every send uses MSG_NOSIGNAL. */
static void use_pthreads(void) { (void)evthread_use_pthreads(); }

/* Frees what acto_node_start built around the peers: the events, the
 * listening socket, the base, the peer table, the key and the node itself.
 * Whatever was not made yet is NULL (or -1), so a failed start uses it
 * too. */
static void node_free(acto__node *n) {
  struct event *evs[] = {n->lev, n->tick_ev, n->wake_ev, n->stop_ev, n->reap_ev};
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
    if (evs[i])
      event_free(evs[i]);
  if (n->lfd >= 0)
    close(n->lfd);
  acto__addr_resolver_free(n);
  if (n->base)
    event_base_free(n->base);
  acto__global_free(n);
  acto__group_free(n);
  free(n->peers);
  free(n->rx);
  acto__tls_ctx_clear(&n->tls);
  acto__auth_key_wipe(&n->key);
  acto__spawn_free(atomic_load_explicit(&n->spawn, memory_order_acquire));
  pthread_mutex_destroy(&n->dir_mtx);
  pthread_mutex_destroy(&n->hook_mtx);
  pthread_mutex_destroy(&n->res_mtx);
  pthread_cond_destroy(&n->res_cv);
  free(n->subs);
  free(n);
}

static void port_shutdown(acto__remote *r);
static void peers_free(acto__node *n);
static void port_destroy(acto__remote *r);

/* The node as the runtime sees it (actor/remote.h). */
static const acto__remote_ops node_port_ops = {
    .send_user = acto__route_send_user,
    .send_system = acto__route_send_system,
    .ask_forget = acto__route_ask_forget,
    .shutdown = port_shutdown,
    .destroy = port_destroy,
};

int acto_node_start(acto_system *sys, const acto_node_config *cfg) {
  static const char CALL[] = "acto_node_start";
  if (!sys)
    return ACTO_EINVAL;
  if (!cfg)
    return refuse(sys, ACTO_EINVAL, CALL, "no configuration (cfg is NULL)");
  if (!ACTO__RESERVED_CLEAR(cfg))
    return refuse(sys, ACTO_EINVAL, CALL,
                  "reserved words are not zero (built against a newer acto, or not initialised)");
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
  {
    /* The union's other 4 bytes are reserved like the words after it. */
    union {
      uint32_t e;
      uint64_t w;
    } u = {.w = 0};
    u.e = cfg->encryption;
    if (u.w != cfg->encryption_word_)
      return refuse(sys, ACTO_EINVAL, CALL,
                    "the 4 bytes beside encryption are not zero (built against a newer acto, or "
                    "not initialised)");
  }
  if (cfg->encryption != ACTO_NODE_ENCRYPT_NONE && cfg->encryption != ACTO_NODE_ENCRYPT_TLS_PSK)
    return refuse(sys, ACTO_EINVAL, CALL,
                  "encryption %u: ACTO_NODE_ENCRYPT_NONE (0) or ACTO_NODE_ENCRYPT_TLS_PSK (1)",
                  (unsigned)cfg->encryption);
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
  if (cfg->nseeds && !cfg->seeds)
    return refuse(sys, ACTO_EINVAL, CALL, "nseeds %zu but seeds is NULL", cfg->nseeds);
  if (cfg->nseeds > (cfg->max_peers ? cfg->max_peers : 256u))
    return refuse(sys, ACTO_EINVAL, CALL, "%zu seeds: more than max_peers", cfg->nseeds);
  for (size_t i = 0; i < cfg->nseeds; i++) {
    const acto_node_seed *sd = &cfg->seeds[i];
    char buf[128];
    const char *bad = name_problem(sd->name, buf, sizeof buf);
    if (bad)
      return refuse(sys, ACTO_EINVAL, CALL, "seed %zu: %s: " NAME_RULE, i, bad);
    if (strcmp(sd->name, cfg->name) == 0)
      return refuse(sys, ACTO_EINVAL, CALL, "seed %zu: \"%s\" is this node's own name", i,
                    sd->name);
    bad = sd->host ? acto__addr_host_problem(sd->host, strlen(sd->host)) : "no host (NULL)";
    if (bad)
      return refuse(sys, ACTO_EINVAL, CALL, "seed %zu (%s): host: %s", i, sd->name, bad);
    if (sd->port == 0)
      return refuse(sys, ACTO_EINVAL, CALL, "seed %zu (%s): port 0", i, sd->name);
  }
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, use_pthreads);

  acto__node *n = calloc(1, sizeof *n);
  if (!n)
    return ACTO_ENOMEM;
  n->sys = sys;
  n->on_handshake = acto__handshake_feed;
  n->on_batch = acto__deliver_batch;
  n->on_peer_up = acto__cluster_peer_up;
  n->on_peer_down = acto__cluster_peer_down;
  n->on_resolved = acto__conn_on_resolved;
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
  n->hash = acto__peer_name_hash(n->name, strlen(n->name));
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
  n->hs_timeout_ns =
      (uint64_t)(cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 2000) * 1000000ull;
  n->tls_timeout_ns = n->hs_timeout_ns / 2;
  n->max_pending = cfg->max_pending_handshakes ? cfg->max_pending_handshakes : 64;
  n->max_peers = cfg->max_peers ? cfg->max_peers : 256;
  n->out_bytes = cfg->out_queue_bytes ? cfg->out_queue_bytes : (size_t)8 << 20;
  n->area_max = 2 * n->out_bytes;
  n->rc_min_ms = cfg->reconnect_min_ms ? cfg->reconnect_min_ms : 100;
  n->rc_max_ms = cfg->reconnect_max_ms ? cfg->reconnect_max_ms : 5000;
  if (n->rc_max_ms < n->rc_min_ms)
    n->rc_max_ms = n->rc_min_ms;
  pthread_mutex_init(&n->dir_mtx, NULL);
  pthread_mutex_init(&n->hook_mtx, NULL);
  pthread_mutex_init(&n->res_mtx, NULL);
  pthread_cond_init(&n->res_cv, NULL);
  int saved_errno = 0;
  n->peers = calloc(n->max_peers, sizeof *n->peers);
  n->base = event_base_new();
  r = ACTO_ENOMEM;
  if (!n->peers || !n->base || acto__global_init(n) != 0 || acto__group_init(n) != 0)
    goto fail;
  if (cfg->encryption == ACTO_NODE_ENCRYPT_TLS_PSK) {
    n->rx = malloc(READ_CHUNK);
    if (!n->rx)
      goto fail;
    r = acto__tls_ctx_init(&n->tls, n->key.bytes, n->key.len);
    if (r != 0) {
      r = refuse(sys, r == ACTO_EIO ? ACTO_EIO : ACTO_ENOMEM, CALL,
                 "cannot set up TLS 1.3 with OpenSSL (libssl refused a setting)");
      goto fail;
    }
    n->tls_on = 1;
  }
  if (!cfg->no_listen) {
    struct sockaddr_storage sa;
    socklen_t salen;
    const char *host = cfg->listen_host ? cfg->listen_host : "127.0.0.1";
    if (acto__addr_numeric(host, cfg->listen_port, &sa, &salen) != 0) {
      r = refuse(sys, ACTO_EINVAL, CALL, "listen_host \"%s\" is not a numeric IPv4 or IPv6 address",
                 host);
      goto fail;
    }
    n->lfd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (n->lfd >= 0 && sa.ss_family == AF_INET6)
      (void)setsockopt(n->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (n->lfd < 0 || setsockopt(n->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(n->lfd, (struct sockaddr *)&sa, salen) != 0 || listen(n->lfd, 128) != 0) {
      saved_errno = errno;
      char eb[128];
      r = refuse(sys, ACTO_EIO, CALL, "cannot listen on %s:%u: %s", host,
                 (unsigned)cfg->listen_port, strerror_r(saved_errno, eb, sizeof eb));
      goto fail;
    }
    socklen_t sl = sizeof sa;
    getsockname(n->lfd, (struct sockaddr *)&sa, &sl);
    char ignored[INET6_ADDRSTRLEN];
    acto__addr_format(&sa, ignored, sizeof ignored, &n->port);
    snprintf(n->listen_host, sizeof n->listen_host, "%s", host);
    n->lev = event_new(n->base, n->lfd, EV_READ | EV_PERSIST, acto__conn_on_accept, n);
    if (!n->lev || event_add(n->lev, NULL) != 0)
      goto fail;
  }
  n->tick_ev = event_new(n->base, -1, EV_PERSIST, acto__heartbeat_tick, n);
  n->wake_ev = event_new(n->base, -1, 0, acto__conn_on_wake, n);
  n->stop_ev = event_new(n->base, -1, 0, on_stop, n);
  n->reap_ev = event_new(n->base, -1, 0, acto__conn_on_reap, n);
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
  for (size_t i = 0; i < cfg->nseeds; i++) {
    /* Known before the loop runs: their first attempts start with it. */
    const acto_node_seed *sd = &cfg->seeds[i];
    int err = 0;
    acto__peer *p = acto__conn_peer_ready(n, sd->name, &err);
    if (!p) {
      r = err == ACTO_EEXIST ? refuse(sys, err, CALL,
                                      "seed %zu (%s): another seed has a name with the same hash "
                                      "as it or this node",
                                      i, sd->name)
                             : err;
      goto fail;
    }
    pthread_mutex_lock(&p->mtx);
    acto__peer_set_addr_locked(p, sd->host, sd->port);
    p->explicit_peer = 1;
    p->connect_req = 1;
    acto__outq_kick_locked(p);
    acto__peer_unpin_locked(p);
    pthread_mutex_unlock(&p->mtx);
  }
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
  peers_free(n);
  node_free(n);
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
  acto__addr_resolver_stop(n);
  /* The loop is gone: this thread owns everything now.  Zombie lines (a
   * delivery still parked when its conn closed, area.c) wait for their
   * verdict: it comes from a worker (the actor handling its mailbox or
   * closing); wait a little, then free them anyway at destroy time. */
  for (int i = 0; i < 200 && acto__conn_reap(n, 0); i++)
    usleep(1000);
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
  acto__conn_reap(n, 1);
  peers_free(n);
  node_free(n);
}

/* Frees every peer (the I/O thread is gone or never ran). */
static void peers_free(acto__node *n) {
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    if (p->flush_ev)
      event_free(p->flush_ev);
    acto__buf_free(&p->batch);
    acto__buf_free(&p->out);
    acto__ovf *o = NULL;
    (void)acto__outq_drop_locked(p, &o); /* busy targets' lines too */
    while (o) {
      acto__ovf *nx = o->next;
      free(o);
      o = nx;
    }
    free(p->rels);
    pthread_mutex_destroy(&p->mtx);
    pthread_cond_destroy(&p->cv);
    free(p);
  }
}

int acto_node_stop(acto_system *sys) {
  if (!sys)
    return ACTO_EINVAL;
  acto__actor *self;
  if (acto__system_caller(sys, &self) == ACTO_EWRONGTHREAD)
    return ACTO_EWRONGTHREAD;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  node_stop(n);
  return 0;
}

int acto_node_self(acto_system *sys, uint64_t *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  *out = n->id;
  return 0;
}

int acto_node_port(acto_system *sys, uint16_t *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  *out = n->port;
  return 0;
}

static int connect_wait_unlock(acto__node *n, acto__peer *p, uint64_t attempts, int64_t timeout_ms);

int acto_node_connect(acto_system *sys, const char *name, const char *host, uint16_t port,
                      int64_t timeout_ms) {
  static const char CALL[] = "acto_node_connect";
  if (!sys)
    return ACTO_EINVAL;
  int r = check_name(sys, CALL, name);
  if (r != 0)
    return r;
  if (!host)
    return refuse(sys, ACTO_EINVAL, CALL, "no host (NULL): give a DNS name or a numeric address");
  const char *hp = acto__addr_host_problem(host, strlen(host));
  if (hp)
    return refuse(sys, ACTO_EINVAL, CALL, "host \"%.64s\": %s", host, hp);
  if (port == 0)
    return refuse(sys, ACTO_EINVAL, CALL, "port 0: give the port %s listens on", name);
  if (timeout_ms < -1)
    return refuse(sys, ACTO_EINVAL, CALL,
                  "timeout_ms %lld: -1 (forever), 0 (no wait) or a "
                  "positive number of ms",
                  (long long)timeout_ms);
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return refuse(sys, ACTO_ENOTCONN, CALL, "no node runs on this system (acto_node_start)");
  if (atomic_load_explicit(&n->stopping, memory_order_acquire))
    return refuse(sys, ACTO_ENOTCONN, CALL, "the node is stopping");
  if (strcmp(name, n->name) == 0)
    return refuse(sys, ACTO_EINVAL, CALL, "\"%s\" is this node's own name", name);
  acto__actor *self;
  if (timeout_ms != 0 && acto__system_caller(sys, &self) != 0)
    return ACTO_EDEADLK;
  int err = 0;
  acto__peer *p = acto__conn_peer_ready(n, name, &err);
  if (!p)
    return err == ACTO_ELIMIT
               ? refuse(sys, err, CALL, "%s: every one of the %u max_peers slots is in use", name,
                        n->max_peers)
           : err == ACTO_EEXIST
               ? refuse(sys, err, CALL,
                        "%s: a known node or this node has a name with the same hash", name)
               : err;
  pthread_mutex_lock(&p->mtx);
  acto__peer_set_addr_locked(p, host, port);
  p->explicit_peer = 1;
  acto__peer_unpin_locked(p); /* an explicit peer keeps its slot without a pin */
  uint64_t attempts = p->attempts;
  if (p->state == P_UP) {
    pthread_mutex_unlock(&p->mtx);
    return 0;
  }
  p->connect_req = 1;
  p->next_reconnect_ns = 0;
  acto__outq_kick_locked(p);
  if (timeout_ms == 0) {
    pthread_mutex_unlock(&p->mtx);
    return 0;
  }
  return connect_wait_unlock(n, p, attempts, timeout_ms);
}

/* Waits (p->mtx held, released on return) until p is up, an attempt
 * finished since `attempts` without success, or the deadline. */
static int connect_wait_unlock(acto__node *n, acto__peer *p, uint64_t attempts,
                               int64_t timeout_ms) {
  acto_system *sys = n->sys;
  int r = acto__system_wait_enter(sys);
  if (r != 0) {
    pthread_mutex_unlock(&p->mtx);
    return r;
  }
  uint64_t deadline = acto__deadline_after(acto__transport_now_ns(), timeout_ms);
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
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  return acto__peer_id_up(n, name, out);
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

int acto_node_lookup(acto_system *sys, const char *node_name, const char *name, int64_t timeout_ms,
                     acto_ref *out) {
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
    return refuse(sys, ACTO_EINVAL, CALL,
                  "timeout_ms %lld: -1 (forever), 0 (no wait) or a "
                  "positive number of ms",
                  (long long)timeout_ms);
  acto__actor *self;
  if (acto__system_caller(sys, &self) != 0)
    return ACTO_EDEADLK;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  if (strcmp(node_name, n->name) == 0)
    return acto_lookup(sys, name, out);
  acto__peer *p = acto__peer_lock(n, acto__peer_name_hash(node_name, strlen(node_name)), node_name);
  if (!p)
    return ACTO_ENOTCONN;
  uint64_t start = acto__transport_now_ns();
  int up = p->state == P_UP;
  if (!up) {
    /* Connect on demand, within the caller's deadline. */
    if (!p->has_addr && p->state == P_DOWN) {
      pthread_mutex_unlock(&p->mtx);
      return ACTO_ENOTCONN;
    }
    if (p->state == P_DOWN) {
      p->connect_req = 1;
      acto__outq_kick_locked(p);
    }
    p->pins++; /* across the wait */
    int r = timeout_ms == 0 ? ACTO_ETIMEDOUT : connect_wait_unlock(n, p, p->attempts, timeout_ms);
    if (timeout_ms != 0)
      pthread_mutex_lock(&p->mtx);
    acto__peer_unpin_locked(p);
    if (r != 0) {
      pthread_mutex_unlock(&p->mtx);
      return r;
    }
  }
  uint32_t inc = p->inc;
  uint32_t h = acto__peer_hash(p);
  pthread_mutex_unlock(&p->mtx);
  if (!up) {
    if (timeout_ms > 0) {
      int64_t spent = (int64_t)((acto__transport_now_ns() - start) / 1000000u);
      timeout_ms = timeout_ms > spent ? timeout_ms - spent : 1;
    }
  }
  acto_ref svc = {ACTO__REMOTE_SERVICE_ID, ((uint64_t)h << 32) | inc};
  acto_reply_buf rb;
  int r = acto_ask(sys, svc, ACTO_MSG_NODE_LOOKUP, name, len, timeout_ms, &rb);
  if (r != 0)
    return r;
  acto_ref found;
  r = acto_node_lookup_result(rb.data, rb.size, &found);
  acto_reply_release(&rb);
  if (r == ACTO_EPROTO)
    return ACTO_ENOENT; /* not an answer this node could read: no such name */
  if (r == 0)
    *out = found;
  return r;
}

int acto_node_lookup_result(const void *data, size_t size, acto_ref *out) {
  if (!out || (!data && size > 0))
    return ACTO_EINVAL;
  if (size == 0)
    return ACTO_ENOENT;
  if (size != 16)
    return ACTO_EPROTO;
  out->id = get_le64(data);
  out->node = get_le64((const uint8_t *)data + 8);
  return 0;
}

int acto_node_set_event_hook(acto_system *sys, acto_node_event_fn fn, void *user) {
  if (!sys)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
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
  memset(o, 0, sizeof *o); /* reserved words included (actor/reserved.h) */
  acto__node *n = acto__transport_node(sys);
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
  o->busy_sent = LD(busy_out);
  o->rooms_sent = LD(room_out);
  o->busy_received = LD(busy_in);
  o->busy_parks = LD(busy_parks);
  o->area_pauses = LD(area_pauses);
  o->waiting = LD(waiting);
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
