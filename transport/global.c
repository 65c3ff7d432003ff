/* global.c - cluster-wide names: a local actor registered under a name
 * that every connected node can look up in its own copy of the table,
 * without a network round trip (ACTORS.md 13.10, "Global names"; the wire
 * messages GREG and GUNREG in 13.5).
 *
 * DESIGN
 * The table.  Each node keeps one table: its own names (the ref is on
 * this node) and its peers', as they told it.  At most one entry per name;
 * an entry holds the ref, the registration's stamp and the name of the
 * node that registered it.  Only a node's own entries ever leave it: a
 * peer learns a name from the node that holds it, never second hand.
 * Replication.  A registration is sent to every up peer (GREG) and so is
 * its end (GUNREG: unregistered, its actor stopped, or it lost a
 * conflict).  When a peer comes up, each side sends the other all its own
 * names (a full sync; a name the peer had already is replaced by the same
 * entry, so a sync may repeat what a broadcast just said).  When a peer
 * goes down or leaves, its names are dropped at once.  A GUNREG removes an
 * entry only if name and ref both match.
 * Conflicts.  Every registration carries a stamp from a Lamport clock: a
 * node's clock rises past every stamp it receives, and a registration
 * takes the clock plus one.  When an entry for a name arrives from
 * another node than the one holding it here, the registration with the
 * lower stamp wins, and on equal stamps the one whose node name sorts
 * first (bytewise; node names are unique in a cluster).  Every node
 * decides from the same two entries, so all agree.  If the loser is this
 * node's own, its actor gets ACTO_MSG_GLOBAL_LOST and the others a
 * GUNREG; if the loser is a peer's, the entry is simply replaced (that
 * peer hears of the winner from its holder and drops its own).  A local
 * registration of a name the table holds is refused (ACTO_EEXIST); two
 * registrations racing on two nodes meet as in a healed partition.
 * Locks.  wmtx orders every change with the messages it sends: a change
 * (register, unregister, an actor's end, a GREG or GUNREG, a peer up or
 * down) runs whole under wmtx and queues its messages to the peers under
 * it, so each peer hears one node's changes in the order they were made.
 * The table itself is under the rwlock rw: a writer (holding wmtx) takes
 * it for writing only to link or unlink an entry; whereis and count take
 * it for reading only, so lookups never wait for the network queues.
 * Lock order: wmtx, then rw, a peer's mtx (acto__outq_control) or the
 * registry mutex (acto__actor_watch).  No peer mutex is held when this
 * file is called, and the end of an actor is reported with no lock of
 * actor/ held.
 * Threads.  The public calls: any thread.  GREG, GUNREG, peer up and down:
 * the I/O thread.  An actor's end: the thread that finalises it.  The
 * table lives from acto_node_start to the node's destruction; after the
 * node stopped, the public calls answer ACTO_ENOTCONN.
 * Limits.  A table holds at most GLOBAL_MAX names: past it a register is
 * refused (ACTO_ELIMIT) and a GREG closes its connection.
 * Costs.  A lookup: a hash of the name and a read lock.  A registration:
 * one GREG per up peer.  An actor's end and a peer going down: a scan of
 * the whole table (names are few and these are rare).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acto_cluster.h"
#include "transport/cluster.h"
#include "transport/global.h"
#include "transport/nametab.h"

/* The most names one table holds (this node's and its peers'): names
 * come from the network, and a table without a bound would let a peer
 * fill this node's memory. */
#define GLOBAL_MAX ((size_t)1 << 20)

typedef struct gname {
  acto__nament ent; /* first: the table's link, key = name */
  acto_ref ref;
  uint64_t stamp;
  char node[ACTO__AUTH_NAME_MAX + 1]; /* the holder's node name (ties) */
  char name[];
} gname;

typedef struct acto__global {
  pthread_mutex_t wmtx; /* changes and what they send (DESIGN: Locks) */
  pthread_rwlock_t rw;  /* the table */
  acto__nametab tab;
  uint64_t clock; /* the Lamport clock; under wmtx */
} acto__global;

int acto__global_name_ok(const void *name, size_t len) {
  return name && len >= 1 && len <= ACTO_NAME_MAX && memchr(name, 0, len) == NULL;
}

int acto__global_init(acto__node *n) {
  acto__global *g = calloc(1, sizeof *g);
  if (!g)
    return ACTO_ENOMEM;
  if (acto__nametab_init(&g->tab) != 0) {
    free(g);
    return ACTO_ENOMEM;
  }
  pthread_mutex_init(&g->wmtx, NULL);
  pthread_rwlock_init(&g->rw, NULL);
  n->global = g;
  return 0;
}

static void free_gname(acto__nament *e) { free(e); }

void acto__global_free(acto__node *n) {
  acto__global *g = n->global;
  if (!g)
    return;
  acto__nametab_free(&g->tab, free_gname);
  pthread_rwlock_destroy(&g->rw);
  pthread_mutex_destroy(&g->wmtx);
  free(g);
  n->global = NULL;
}

/* ---- the table (writers hold wmtx) ------------------------------------------ */

/* The entry of name, or NULL.  Caller holds wmtx or rw. */
static gname *lookup(acto__global *g, const char *name, size_t len, uint64_t h) {
  return (gname *)*acto__nametab_find(&g->tab, name, len, h);
}

/* Links a new entry.  Caller holds wmtx. */
static int insert(acto__global *g, const char *name, size_t len, uint64_t h, acto_ref ref,
                  uint64_t stamp, const char *node) {
  gname *e = malloc(sizeof *e + len + 1);
  if (!e)
    return ACTO_ENOMEM;
  e->ent.hash = h;
  e->ent.len = len;
  e->ent.key = e->name;
  e->ref = ref;
  e->stamp = stamp;
  snprintf(e->node, sizeof e->node, "%s", node);
  memcpy(e->name, name, len);
  e->name[len] = '\0';
  pthread_rwlock_wrlock(&g->rw);
  acto__nametab_link(&g->tab, &e->ent);
  pthread_rwlock_unlock(&g->rw);
  return 0;
}

/* Unlinks *pp (caller holds wmtx) and returns it, for the caller to free. */
static gname *unlink_entry(acto__global *g, acto__nament **pp) {
  pthread_rwlock_wrlock(&g->rw);
  gname *e = (gname *)acto__nametab_unlink(&g->tab, pp);
  pthread_rwlock_unlock(&g->rw);
  return e;
}

/* Whether registration (s1, n1) beats (s2, n2) (DESIGN: Conflicts). */
static int beats(uint64_t s1, const char *n1, uint64_t s2, const char *n2) {
  return s1 < s2 || (s1 == s2 && strcmp(n1, n2) < 0);
}

/* ---- messages to peers (caller holds wmtx) ------------------------------------ */

/* Queues the encoded message b to every up peer but `skip`. */
static void to_peers(acto__node *n, const acto__buf *b, const acto__peer *skip) {
  /* acquire: pairs with the release store that published each slot. */
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++)
    if (n->peers[i] != skip)
      (void)acto__outq_control(n->peers[i], b->p, b->len); /* ENOTCONN: not up */
}

static void send_greg(acto__node *n, const gname *e, acto__peer *only) {
  acto__buf b = {0};
  if (acto__wire_greg(&b, e->ref.id, e->stamp, e->name, e->ent.len) == 0) {
    if (only)
      (void)acto__outq_control(only, b.p, b.len);
    else
      to_peers(n, &b, NULL);
  }
  acto__buf_free(&b);
}

static void send_gunreg(acto__node *n, uint64_t actor, const char *name, size_t len) {
  acto__buf b = {0};
  if (acto__wire_gname(&b, ACTO__W_GUNREG, actor, name, len) == 0)
    to_peers(n, &b, NULL);
  acto__buf_free(&b);
}

/* Tells the local actor `loser` that `winner` keeps the name. */
static void tell_loser(acto_system *sys, acto_ref loser, acto_ref winner, const char *name,
                       size_t len) {
  acto_global_lost gl;
  memset(&gl, 0, sizeof gl);
  gl.winner = winner;
  gl.name_len = (uint32_t)len;
  memcpy(gl.name, name, len);
  acto__msg *m = acto__msg_new(ACTO_MSG_GLOBAL_LOST, &gl, sizeof gl, NULL);
  if (!m)
    return;
  m->kind = ACTO__KIND_NOTIFY; /* the system lane: never refused for room */
  if (acto__send_system(sys, loser, m) != 0)
    acto__msg_free(m); /* it stopped meanwhile: its end drops nothing more */
}

/* ---- the public calls --------------------------------------------------------- */

/* A refusal of a public call: one line that names the rule (log.h). */
#define refuse(sys, code, call, ...) acto__log_refuse(sys, code, "global", call, __VA_ARGS__)

/* The node of sys if it runs (else NULL): the calls' common check. */
static acto__node *running(acto_system *sys) {
  acto__node *n = acto__transport_node(sys);
  if (!n || !n->global || atomic_load_explicit(&n->stopping, memory_order_acquire))
    return NULL;
  return n;
}

/* 0 and *len if name is valid, else ACTO_EINVAL with a line. */
static int check_name(acto_system *sys, const char *call, const char *name, size_t *len) {
  if (!name)
    return refuse(sys, ACTO_EINVAL, call, "no name (NULL)");
  *len = strnlen(name, ACTO_NAME_MAX + 1);
  if (*len == 0 || *len > ACTO_NAME_MAX)
    return refuse(sys, ACTO_EINVAL, call, "a global name is 1 to %u bytes", ACTO_NAME_MAX);
  return 0;
}

static void on_actor_end(acto_system *sys, acto_ref ref);

int acto_global_register(acto_system *sys, const char *name, acto_ref ref) {
  static const char CALL[] = "acto_global_register";
  size_t len = 0;
  if (!sys)
    return ACTO_EINVAL;
  int r = check_name(sys, CALL, name, &len);
  if (r)
    return r;
  acto__node *n = running(sys);
  if (!n)
    return ACTO_ENOTCONN;
  if (ref.node != n->id)
    return refuse(sys, ACTO_EINVAL, CALL,
                  "the ref is not of this node: an actor registers on its own node");
  acto__global *g = n->global;
  uint64_t h = acto__name_hash(name, len);
  pthread_mutex_lock(&g->wmtx);
  if (lookup(g, name, len, h)) {
    r = ACTO_EEXIST;
  } else if (g->tab.count >= GLOBAL_MAX) {
    r = refuse(sys, ACTO_ELIMIT, CALL, "the table holds %zu names, its limit", g->tab.count);
  } else if ((r = acto__actor_watch(sys, ref, ACTO__WATCH_GLOBAL, on_actor_end)) == 0) {
    uint64_t stamp = ++g->clock;
    r = insert(g, name, len, h, ref, stamp, n->name);
    if (r == 0)
      send_greg(n, lookup(g, name, len, h), NULL);
  }
  pthread_mutex_unlock(&g->wmtx);
  return r;
}

int acto_global_unregister(acto_system *sys, const char *name) {
  static const char CALL[] = "acto_global_unregister";
  size_t len = 0;
  if (!sys)
    return ACTO_EINVAL;
  int r = check_name(sys, CALL, name, &len);
  if (r)
    return r;
  acto__node *n = running(sys);
  if (!n)
    return ACTO_ENOTCONN;
  acto__global *g = n->global;
  pthread_mutex_lock(&g->wmtx);
  acto__nament **pp = acto__nametab_find(&g->tab, name, len, acto__name_hash(name, len));
  gname *held = (gname *)*pp;
  if (!held) {
    r = ACTO_ENOENT;
  } else if (held->ref.node != n->id) {
    r = refuse(sys, ACTO_ENOENT, CALL, "\"%s\" is held by node %s: only its own node drops it",
               held->name, held->node);
  } else {
    gname *e = unlink_entry(g, pp);
    send_gunreg(n, e->ref.id, e->name, e->ent.len);
    free(e);
  }
  pthread_mutex_unlock(&g->wmtx);
  return r;
}

int acto_global_whereis(acto_system *sys, const char *name, acto_ref *out) {
  size_t len = 0;
  if (!sys || !out || !name)
    return ACTO_EINVAL;
  len = strnlen(name, ACTO_NAME_MAX + 1);
  if (len == 0 || len > ACTO_NAME_MAX)
    return ACTO_EINVAL;
  acto__node *n = running(sys);
  if (!n)
    return ACTO_ENOTCONN;
  acto__global *g = n->global;
  uint64_t h = acto__name_hash(name, len);
  int r = ACTO_ENOENT;
  pthread_rwlock_rdlock(&g->rw);
  gname *e = lookup(g, name, len, h);
  if (e) {
    *out = e->ref;
    r = 0;
  }
  pthread_rwlock_unlock(&g->rw);
  return r;
}

int acto_global_count(acto_system *sys) {
  if (!sys)
    return ACTO_EINVAL;
  acto__node *n = running(sys);
  if (!n)
    return ACTO_ENOTCONN;
  pthread_rwlock_rdlock(&n->global->rw);
  size_t c = n->global->tab.count;
  pthread_rwlock_unlock(&n->global->rw);
  return c > INT32_MAX ? INT32_MAX : (int)c;
}

/* A watched actor ended (registry.c): its names go, here and everywhere. */
static void on_actor_end(acto_system *sys, acto_ref ref) {
  acto__node *n = acto__transport_node(sys);
  if (!n || !n->global)
    return;
  acto__global *g = n->global;
  pthread_mutex_lock(&g->wmtx);
  for (size_t i = 0; i < g->tab.nbuckets; i++) {
    acto__nament **pp = &g->tab.buckets[i];
    while (*pp) {
      if (acto_ref_eq(((gname *)*pp)->ref, ref)) {
        gname *e = unlink_entry(g, pp);
        send_gunreg(n, e->ref.id, e->name, e->ent.len);
        free(e);
      } else {
        pp = &(*pp)->next;
      }
    }
  }
  pthread_mutex_unlock(&g->wmtx);
}

/* ---- the wire (I/O thread) ---------------------------------------------------- */

int acto__global_check(const acto__wmsg *w, const char **reason) {
  uint64_t actor = w->f[0];
  if (actor == 0 || actor == ACTO__REMOTE_SERVICE_ID) {
    *reason = w->kind == ACTO__W_GREG ? "GREG of actor 0 or the node service"
                                      : "GUNREG of actor 0 or the node service";
    return -1;
  }
  if (w->kind == ACTO__W_GREG && w->f[1] == 0) {
    *reason = "GREG with stamp 0";
    return -1;
  }
  if (!acto__global_name_ok(w->payload, w->payload_len)) {
    *reason = "global name empty, longer than 255 bytes or with a NUL";
    return -1;
  }
  return 0;
}

int acto__global_deliver(acto__conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  acto__peer *p = c->peer;
  acto__global *g = n->global;
  acto_ref ref = {w->f[0], ((uint64_t)acto__peer_hash(p) << 32) | p->inc};
  const char *name = (const char *)w->payload;
  size_t len = w->payload_len;
  uint64_t h = acto__name_hash(name, len);
  int rc = 0;
  pthread_mutex_lock(&g->wmtx);
  acto__nament **pp = acto__nametab_find(&g->tab, name, len, h);
  gname *e = (gname *)*pp;
  if (w->kind == ACTO__W_GUNREG) {
    if (e && acto_ref_eq(e->ref, ref))
      free(unlink_entry(g, pp));
    pthread_mutex_unlock(&g->wmtx);
    return 0;
  }
  uint64_t stamp = w->f[1];
  if (stamp > g->clock)
    g->clock = stamp;
  if (!e) {
    if (g->tab.count >= GLOBAL_MAX) {
      *reason = "the peer's names pass the table's limit (1048576 names)";
      rc = -2;
    } else if (insert(g, name, len, h, ref, stamp, p->name) != 0) {
      *reason = "out of memory for a global name";
      rc = -2;
    }
  } else if ((e->ref.node >> 32) == (ref.node >> 32) || beats(stamp, p->name, e->stamp, e->node)) {
    /* The same node's newer word on its name, or a winner: replace. */
    acto_ref old = e->ref;
    int was_ours = old.node == n->id;
    pthread_rwlock_wrlock(&g->rw);
    e->ref = ref;
    e->stamp = stamp;
    snprintf(e->node, sizeof e->node, "%s", p->name);
    pthread_rwlock_unlock(&g->rw);
    if (was_ours) {
      send_gunreg(n, old.id, name, len);
      tell_loser(n->sys, old, ref, name, len);
    }
  }
  /* else: ours (or a third node's) wins; the sender hears of it from its
   * holder and drops its own. */
  pthread_mutex_unlock(&g->wmtx);
  return rc;
}

void acto__global_peer_up(acto__peer *p) {
  acto__node *n = p->node;
  acto__global *g = n->global;
  pthread_mutex_lock(&g->wmtx);
  for (size_t i = 0; i < g->tab.nbuckets; i++)
    for (acto__nament *x = g->tab.buckets[i]; x; x = x->next)
      if (((gname *)x)->ref.node == n->id)
        send_greg(n, (gname *)x, p);
  pthread_mutex_unlock(&g->wmtx);
}

void acto__global_peer_down(acto__peer *p, uint64_t node_id) {
  acto__node *n = p->node;
  acto__global *g = n->global;
  (void)p;
  pthread_mutex_lock(&g->wmtx);
  for (size_t i = 0; i < g->tab.nbuckets; i++) {
    acto__nament **pp = &g->tab.buckets[i];
    while (*pp) {
      /* Every incarnation of that node: none of its names outlive it. */
      if ((((gname *)*pp)->ref.node >> 32) == (node_id >> 32))
        free(unlink_entry(g, pp));
      else
        pp = &(*pp)->next;
    }
  }
  pthread_mutex_unlock(&g->wmtx);
}
