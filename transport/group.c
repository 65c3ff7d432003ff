/* group.c - process groups, as Erlang's pg: actors join and leave named
 * groups, membership is replicated to every connected node, subscribers
 * hear of joins and leaves, and a broadcast sends one copy per node that
 * has members, which that node hands to each of its members (ACTORS.md
 * 13.10, "Process groups"; the wire messages JOIN, PART and GCAST in 13.5).
 *
 * DESIGN
 * The table.  Each node keeps one table of groups.  A group has its
 * local members (ref and join count), its remote members (refs, as their
 * nodes told us), the nodes that have remote members (with how many) and
 * its local subscribers.  A group with none of these is freed.
 * Replication.  Only a node's own members leave it, and only as a set:
 * the first join of an actor sends JOIN to every up peer, its last leave
 * (or its end) sends PART; further joins only count.  When a peer comes
 * up, each side sends the other a JOIN for each of its own members (a
 * full sync; a JOIN for a member already known changes nothing).  When a
 * peer goes down or leaves, its members leave every group at once.
 * Broadcast.  GCAST carries the group name and the message once per node;
 * the receiving I/O thread hands a copy to each local member as it does
 * for a SEND (the waiting area's flow control, area.c), so the wire
 * carries one message per node, not one per member.  A GCAST that finds
 * no member is dropped.
 * Notices.  A subscriber gets ACTO_MSG_GROUP_CHANGE on the system lane for
 * every member that enters or leaves the set (local or remote), sent by
 * the thread that made the change.
 * Locks.  As global.c: wmtx orders every change with the messages it
 * queues to peers and the notices it sends; rw guards the table, taken
 * for writing by a writer (holding wmtx) only to change a group, and for
 * reading by acto_group_members and acto_group_broadcast, which copy what
 * they need and send after releasing it.  Lock order: wmtx, then rw, a
 * peer's mtx or the registry mutex.  No peer mutex is held when this file
 * is called; a broadcast's sends hold no lock of this file.
 * Threads.  The public calls: any thread.  JOIN, PART, GCAST, peer up and
 * down: the I/O thread (it alone uses the fan-out scratch array).  An
 * actor's end: the thread that finalises it.
 * Limits.  At most GROUP_MAX_MEMBERS members over all groups: past it a
 * join is refused (ACTO_ELIMIT) and a JOIN closes its connection.
 * Costs.  A join or leave that changes the set: one message per up peer
 * and one notice per subscriber.  A broadcast: a hash, a copy of the
 * local member list, one send per local member and one GCAST per node
 * with members.  An actor's end, a peer going down and acto_group_which
 * scan every group.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acto_cluster.h"
#include "transport/cluster.h"
#include "transport/global.h"
#include "transport/nametab.h"

/* The most members (local and remote, over all groups) one table holds:
 * members come from the network, and a table without a bound would let a
 * peer fill this node's memory.  Groups are bounded with them (a group
 * lives only while it has members or local subscribers). */
#define GROUP_MAX_MEMBERS ((size_t)1 << 20)

typedef struct gmember {
  acto_ref ref;
  uint32_t joins; /* local members: joins not yet left */
} gmember;

typedef struct gnode {
  uint64_t node;
  uint32_t members;
} gnode;

typedef struct group {
  acto__nament ent; /* first: the table's link, key = name */
  gmember *local;
  size_t nlocal, caplocal;
  acto_ref *remote;
  size_t nremote, capremote;
  gnode *nodes;
  size_t nnodes, capnodes;
  acto_ref *subs;
  size_t nsubs, capsubs;
  char name[];
} group;

typedef struct acto__groups {
  pthread_mutex_t wmtx; /* changes, what they send (DESIGN: Locks) */
  pthread_rwlock_t rw;  /* the table */
  acto__nametab tab;
  size_t members; /* over all groups, local and remote; under wmtx and rw */
  /* The I/O thread's: the local members a GCAST goes to. */
  uint64_t *fan;
  size_t capfan;
} acto__groups;

/* Grows *v (of *cap elements of size sz) to hold one more; 0 or -1.  rw:
 * the table's lock, taken for writing around the move when readers may
 * look at *v (NULL when none do). */
static int reserve(pthread_rwlock_t *rw, void **v, size_t *cap, size_t n, size_t sz) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 4;
  if (rw)
    pthread_rwlock_wrlock(rw);
  void *nv = realloc(*v, nc * sz);
  if (nv) {
    *v = nv;
    *cap = nc;
  }
  if (rw)
    pthread_rwlock_unlock(rw);
  return nv ? 0 : -1;
}

int acto__group_init(acto__node *n) {
  acto__groups *t = calloc(1, sizeof *t);
  if (!t)
    return ACTO_ENOMEM;
  if (acto__nametab_init(&t->tab) != 0) {
    free(t);
    return ACTO_ENOMEM;
  }
  pthread_mutex_init(&t->wmtx, NULL);
  pthread_rwlock_init(&t->rw, NULL);
  n->groups = t;
  return 0;
}

static void group_free(group *gr) {
  free(gr->local);
  free(gr->remote);
  free(gr->nodes);
  free(gr->subs);
  free(gr);
}

static void free_entry(acto__nament *e) { group_free((group *)e); }

void acto__group_free(acto__node *n) {
  acto__groups *t = n->groups;
  if (!t)
    return;
  acto__nametab_free(&t->tab, free_entry);
  free(t->fan);
  pthread_rwlock_destroy(&t->rw);
  pthread_mutex_destroy(&t->wmtx);
  free(t);
  n->groups = NULL;
}

/* ---- the table ---------------------------------------------------------------- */

/* The group of name, or NULL.  Caller holds wmtx or rw. */
static group *lookup(acto__groups *t, const char *name, size_t len) {
  return (group *)*acto__nametab_find(&t->tab, name, len, acto__name_hash(name, len));
}

/* The group `name`, created if absent (NULL: out of memory).  wmtx held. */
static group *get_group(acto__groups *t, const char *name, size_t len) {
  group *gr = lookup(t, name, len);
  if (gr)
    return gr;
  gr = calloc(1, sizeof *gr + len + 1);
  if (!gr)
    return NULL;
  gr->ent.hash = acto__name_hash(name, len);
  gr->ent.len = len;
  gr->ent.key = gr->name;
  memcpy(gr->name, name, len);
  pthread_rwlock_wrlock(&t->rw);
  acto__nametab_link(&t->tab, &gr->ent);
  pthread_rwlock_unlock(&t->rw);
  return gr;
}

/* Frees gr if nothing refers to it any more.  wmtx held. */
static void maybe_drop(acto__groups *t, group *gr) {
  if (gr->nlocal || gr->nremote || gr->nsubs)
    return;
  pthread_rwlock_wrlock(&t->rw);
  (void)acto__nametab_unlink(&t->tab,
                             acto__nametab_find(&t->tab, gr->name, gr->ent.len, gr->ent.hash));
  pthread_rwlock_unlock(&t->rw);
  group_free(gr);
}

/* ---- messages and notices (wmtx held) ------------------------------------------ */

static void to_peers(acto__node *n, const acto__buf *b) {
  /* acquire: pairs with the release store that published each slot. */
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt; i++)
    (void)acto__outq_control(n->peers[i], b->p, b->len); /* ENOTCONN: not up */
}

/* JOIN or PART (kind) of local actor id about gr, to `only` or every up peer. */
static void send_member(acto__node *n, uint32_t kind, uint64_t id, const group *gr,
                        acto__peer *only) {
  acto__buf b = {0};
  if (acto__wire_gname(&b, kind, id, gr->name, gr->ent.len) == 0) {
    if (only)
      (void)acto__outq_control(only, b.p, b.len);
    else
      to_peers(n, &b);
  }
  acto__buf_free(&b);
}

static void notify(acto_system *sys, const group *gr, acto_ref member, uint32_t event) {
  if (gr->nsubs == 0)
    return;
  acto_group_notice nt;
  memset(&nt, 0, sizeof nt);
  nt.member = member;
  nt.event = event;
  nt.group_len = (uint32_t)gr->ent.len;
  memcpy(nt.group, gr->name, gr->ent.len);
  for (size_t i = 0; i < gr->nsubs; i++) {
    acto__msg *m = acto__msg_new(ACTO_MSG_GROUP_CHANGE, &nt, sizeof nt, NULL);
    if (!m)
      return;
    m->kind = ACTO__KIND_NOTIFY; /* the system lane: never refused for room */
    if (acto__send_system(sys, gr->subs[i], m) != 0)
      acto__msg_free(m); /* the subscriber ended: its end drops it */
  }
}

/* Removes remote member i of gr (and its node's count).  wmtx held. */
static acto_ref remote_del(acto__groups *t, group *gr, size_t i) {
  acto_ref r = gr->remote[i];
  pthread_rwlock_wrlock(&t->rw);
  gr->remote[i] = gr->remote[--gr->nremote];
  t->members--;
  for (size_t k = 0; k < gr->nnodes; k++) {
    if (gr->nodes[k].node == r.node) {
      if (--gr->nodes[k].members == 0)
        gr->nodes[k] = gr->nodes[--gr->nnodes];
      break;
    }
  }
  pthread_rwlock_unlock(&t->rw);
  return r;
}

/* ---- the public calls --------------------------------------------------------- */

/* A refusal of a public call: one line that names the rule (log.h). */
#define refuse(sys, code, call, ...) acto__log_refuse(sys, code, "group", call, __VA_ARGS__)

static acto__node *running(acto_system *sys) {
  acto__node *n = acto__transport_node(sys);
  if (!n || !n->groups || atomic_load_explicit(&n->stopping, memory_order_acquire))
    return NULL;
  return n;
}

/* Checks sys, the group name and the node: 0 with *n and *len, or a code. */
static int enter(acto_system *sys, const char *call, const char *name, acto__node **n,
                 size_t *len) {
  if (!sys)
    return ACTO_EINVAL;
  if (!name)
    return refuse(sys, ACTO_EINVAL, call, "no group name (NULL)");
  *len = strnlen(name, ACTO_NAME_MAX + 1);
  if (*len == 0 || *len > ACTO_NAME_MAX)
    return refuse(sys, ACTO_EINVAL, call, "a group name is 1 to %u bytes", ACTO_NAME_MAX);
  if (!(*n = running(sys)))
    return ACTO_ENOTCONN;
  return 0;
}

static void on_actor_end(acto_system *sys, acto_ref ref);

/* 0 if ref is a local actor (and now watched), else a code. */
static int watch(acto_system *sys, acto__node *n, const char *call, acto_ref ref) {
  if (ref.node != n->id)
    return refuse(sys, ACTO_EINVAL, call,
                  "the ref is not of this node: an actor joins on its own "
                  "node");
  return acto__actor_watch(sys, ref, ACTO__WATCH_GROUP, on_actor_end);
}

int acto_group_join(acto_system *sys, const char *name, acto_ref ref) {
  static const char CALL[] = "acto_group_join";
  acto__node *n = NULL;
  size_t len = 0;
  int r = enter(sys, CALL, name, &n, &len);
  if (r)
    return r;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  group *gr = NULL;
  if (t->members >= GROUP_MAX_MEMBERS)
    r = refuse(sys, ACTO_ELIMIT, CALL, "the groups hold %zu members, their limit", t->members);
  else if ((r = watch(sys, n, CALL, ref)) == 0 && !(gr = get_group(t, name, len)))
    r = ACTO_ENOMEM;
  if (r == 0) {
    size_t i = 0;
    while (i < gr->nlocal && !acto_ref_eq(gr->local[i].ref, ref))
      i++;
    if (i < gr->nlocal) {
      gr->local[i].joins++;
    } else if (reserve(&t->rw, (void **)&gr->local, &gr->caplocal, gr->nlocal, sizeof *gr->local) !=
               0) {
      r = ACTO_ENOMEM;
      maybe_drop(t, gr);
    } else {
      pthread_rwlock_wrlock(&t->rw);
      gr->local[gr->nlocal++] = (gmember){ref, 1};
      t->members++;
      pthread_rwlock_unlock(&t->rw);
      send_member(n, ACTO__W_JOIN, ref.id, gr, NULL);
      notify(sys, gr, ref, ACTO_GROUP_JOINED);
    }
  }
  pthread_mutex_unlock(&t->wmtx);
  return r;
}

/* Takes local member i out of gr: PART to the peers, notices.  wmtx held. */
static void local_del(acto__node *n, group *gr, size_t i) {
  acto__groups *t = n->groups;
  acto_ref ref = gr->local[i].ref;
  pthread_rwlock_wrlock(&t->rw);
  gr->local[i] = gr->local[--gr->nlocal];
  t->members--;
  pthread_rwlock_unlock(&t->rw);
  send_member(n, ACTO__W_PART, ref.id, gr, NULL);
  notify(n->sys, gr, ref, ACTO_GROUP_LEFT);
}

int acto_group_leave(acto_system *sys, const char *name, acto_ref ref) {
  acto__node *n = NULL;
  size_t len = 0;
  int r = enter(sys, "acto_group_leave", name, &n, &len);
  if (r)
    return r;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  group *gr = lookup(t, name, len);
  size_t i = 0;
  while (gr && i < gr->nlocal && !acto_ref_eq(gr->local[i].ref, ref))
    i++;
  if (!gr || i == gr->nlocal) {
    r = ACTO_ENOENT;
  } else if (--gr->local[i].joins == 0) {
    local_del(n, gr, i);
    maybe_drop(t, gr);
  }
  pthread_mutex_unlock(&t->wmtx);
  return r;
}

int acto_group_members(acto_system *sys, const char *name, unsigned flags, acto_ref *out,
                       size_t cap) {
  static const char CALL[] = "acto_group_members";
  acto__node *n = NULL;
  size_t len = 0;
  int r = enter(sys, CALL, name, &n, &len);
  if (r)
    return r;
  if (flags & ~ACTO_GROUP_LOCAL)
    return refuse(sys, ACTO_EINVAL, CALL, "flags 0x%x: 0 or ACTO_GROUP_LOCAL", flags);
  if (cap && !out)
    return refuse(sys, ACTO_EINVAL, CALL, "out is NULL with cap %zu", cap);
  acto__groups *t = n->groups;
  size_t total = 0;
  pthread_rwlock_rdlock(&t->rw);
  group *gr = lookup(t, name, len);
  if (gr) {
    for (size_t i = 0; i < gr->nlocal; i++, total++)
      if (total < cap)
        out[total] = gr->local[i].ref;
    if (!(flags & ACTO_GROUP_LOCAL))
      for (size_t i = 0; i < gr->nremote; i++, total++)
        if (total < cap)
          out[total] = gr->remote[i];
  }
  pthread_rwlock_unlock(&t->rw);
  return total > INT32_MAX ? INT32_MAX : (int)total;
}

int acto_group_which(acto_system *sys, const char *prefix, acto_group_name *out, size_t cap) {
  static const char CALL[] = "acto_group_which";
  if (!sys)
    return ACTO_EINVAL;
  size_t plen = prefix ? strnlen(prefix, ACTO_NAME_MAX + 1) : 0;
  if (plen > ACTO_NAME_MAX)
    return refuse(sys, ACTO_EINVAL, CALL, "a prefix is at most %u bytes", ACTO_NAME_MAX);
  if (cap && !out)
    return refuse(sys, ACTO_EINVAL, CALL, "out is NULL with cap %zu", cap);
  acto__node *n = running(sys);
  if (!n)
    return ACTO_ENOTCONN;
  acto__groups *t = n->groups;
  size_t total = 0;
  pthread_rwlock_rdlock(&t->rw);
  for (size_t b = 0; b < t->tab.nbuckets; b++)
    for (const group *gr = (const group *)t->tab.buckets[b]; gr;
         gr = (const group *)gr->ent.next) {
      /* A group held only by subscribers has no members: not listed. */
      if ((!gr->nlocal && !gr->nremote) || gr->ent.len < plen ||
          (plen && memcmp(gr->name, prefix, plen) != 0))
        continue;
      if (total < cap) {
        memcpy(out[total].name, gr->name, gr->ent.len);
        out[total].name[gr->ent.len] = '\0';
      }
      total++;
    }
  pthread_rwlock_unlock(&t->rw);
  return total > INT32_MAX ? INT32_MAX : (int)total;
}

int acto_group_subscribe(acto_system *sys, const char *name, acto_ref subscriber) {
  static const char CALL[] = "acto_group_subscribe";
  acto__node *n = NULL;
  size_t len = 0;
  int r = enter(sys, CALL, name, &n, &len);
  if (r)
    return r;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  group *gr = NULL;
  if ((r = watch(sys, n, CALL, subscriber)) == 0 && !(gr = get_group(t, name, len)))
    r = ACTO_ENOMEM;
  if (r == 0) {
    for (size_t i = 0; i < gr->nsubs && r == 0; i++)
      if (acto_ref_eq(gr->subs[i], subscriber))
        r = ACTO_EEXIST;
    if (r == 0 && reserve(NULL, (void **)&gr->subs, &gr->capsubs, gr->nsubs, sizeof *gr->subs) != 0)
      r = ACTO_ENOMEM;
    if (r == 0)
      gr->subs[gr->nsubs++] = subscriber; /* subs: wmtx alone (readers never look) */
    else
      maybe_drop(t, gr);
  }
  pthread_mutex_unlock(&t->wmtx);
  return r;
}

int acto_group_unsubscribe(acto_system *sys, const char *name, acto_ref subscriber) {
  acto__node *n = NULL;
  size_t len = 0;
  int r = enter(sys, "acto_group_unsubscribe", name, &n, &len);
  if (r)
    return r;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  group *gr = lookup(t, name, len);
  r = ACTO_ENOENT;
  for (size_t i = 0; gr && i < gr->nsubs; i++) {
    if (acto_ref_eq(gr->subs[i], subscriber)) {
      gr->subs[i] = gr->subs[--gr->nsubs];
      maybe_drop(t, gr);
      r = 0;
      break;
    }
  }
  pthread_mutex_unlock(&t->wmtx);
  return r;
}

/* One GCAST copy to node `node`: 0 or ACTO_PARKED when queued, else a code
 * (the node went down meanwhile). */
static int cast_to(acto_system *sys, acto__node *n, uint64_t node, acto__buf *msg) {
  acto__peer *p = acto__peer_lock(n, (uint32_t)(node >> 32), NULL);
  if (!p)
    return ACTO_ENOTCONN;
  if (p->state != P_UP || p->inc != (uint32_t)node) {
    pthread_mutex_unlock(&p->mtx);
    return ACTO_ENOTCONN;
  }
  /* Target 0: a GCAST is held by no one member's flow control, only by
   * the queue's bound (and parks an actor sender as a SEND would). */
  return acto__outq_append_unlock(sys, p, msg, 1, 0, 0, -1);
}

int acto_group_broadcast(acto_system *sys, const char *name, uint32_t type, const void *data,
                         size_t size) {
  static const char CALL[] = "acto_group_broadcast";
  acto__node *n = NULL;
  size_t len = 0;
  int r = enter(sys, CALL, name, &n, &len);
  if (r)
    return r;
  if (type >= ACTO_MSG_RESERVED)
    return refuse(sys, ACTO_EINVAL, CALL, "type 0x%x is reserved (at or above 0xF0000000)", type);
  if (size > ACTO_MSG_MAX_SIZE || (size && !data))
    return refuse(sys, ACTO_EINVAL, CALL, "size %zu with data %s", size, data ? "set" : "NULL");
  acto__groups *t = n->groups;
  acto_ref small_local[64];
  uint64_t small_nodes[16];
  acto_ref *local = small_local;
  uint64_t *nodes = small_nodes;
  size_t nlocal = 0, nnodes = 0;
  pthread_rwlock_rdlock(&t->rw);
  group *gr = lookup(t, name, len);
  if (gr) {
    nlocal = gr->nlocal;
    nnodes = gr->nnodes;
    if (nlocal > 64)
      local = malloc(nlocal * sizeof *local);
    if (nnodes > 16)
      nodes = malloc(nnodes * sizeof *nodes);
    if (!local || !nodes) {
      r = ACTO_ENOMEM;
    } else {
      for (size_t i = 0; i < nlocal; i++)
        local[i] = gr->local[i].ref;
      for (size_t i = 0; i < nnodes; i++)
        nodes[i] = gr->nodes[i].node;
    }
  }
  pthread_rwlock_unlock(&t->rw);
  int copies = 0;
  if (r == 0) {
    for (size_t i = 0; i < nlocal; i++) {
      int s = acto_send(sys, local[i], type, data, size);
      if (s == 0 || s == ACTO_PARKED)
        copies++;
    }
    if (nnodes) {
      acto__actor *self = NULL;
      (void)acto__system_caller(sys, &self);
      acto__buf b = {0};
      r = acto__wire_gcast(&b, self ? acto__actor_id(self) : 0, type, name, len, data, size);
      if (r == 0 && b.len + 64 > n->cap)
        r = refuse(sys, ACTO_ETOOBIG, CALL, "%zu bytes do not fit a frame (frame_cap %u)", size,
                   (unsigned)n->cap);
      for (size_t i = 0; r == 0 && i < nnodes; i++) {
        int s = cast_to(sys, n, nodes[i], &b);
        if (s == 0 || s == ACTO_PARKED)
          copies++;
      }
      acto__buf_free(&b);
    }
  }
  if (local != small_local)
    free(local);
  if (nodes != small_nodes)
    free(nodes);
  return r ? r : copies;
}

/* A watched actor ended (registry.c): it leaves every group and every
 * subscription. */
static void on_actor_end(acto_system *sys, acto_ref ref) {
  acto__node *n = acto__transport_node(sys);
  if (!n || !n->groups)
    return;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  for (size_t b = 0; b < t->tab.nbuckets; b++) {
    group *gr = (group *)t->tab.buckets[b];
    while (gr) {
      group *next = (group *)gr->ent.next;
      for (size_t i = 0; i < gr->nsubs; i++) {
        if (acto_ref_eq(gr->subs[i], ref)) {
          gr->subs[i] = gr->subs[--gr->nsubs];
          break;
        }
      }
      for (size_t i = 0; i < gr->nlocal; i++) {
        if (acto_ref_eq(gr->local[i].ref, ref)) {
          local_del(n, gr, i);
          break;
        }
      }
      maybe_drop(t, gr);
      gr = next;
    }
  }
  pthread_mutex_unlock(&t->wmtx);
}

/* ---- the wire (I/O thread) ---------------------------------------------------- */

int acto__group_check(const acto__wmsg *w, const char **reason) {
  uint64_t actor = w->f[0];
  if (w->kind == ACTO__W_GCAST) {
    if (actor == ACTO__REMOTE_SERVICE_ID || w->f[1] >= ACTO_MSG_RESERVED) {
      *reason = "GCAST from the node service or of a reserved type";
      return -1;
    }
  } else if (actor == 0 || actor == ACTO__REMOTE_SERVICE_ID) {
    *reason = w->kind == ACTO__W_JOIN ? "JOIN of actor 0 or the node service"
                                      : "PART of actor 0 or the node service";
    return -1;
  }
  if (!acto__global_name_ok(w->payload, w->payload_len)) {
    *reason = "group name empty, longer than 255 bytes or with a NUL";
    return -1;
  }
  return 0;
}

/* GCAST: a copy for each local member, as deliver.c delivers a SEND. */
static int fan_out(acto__conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  acto__groups *t = n->groups;
  acto__peer *p = c->peer;
  const char *name = (const char *)w->payload;
  size_t nf = 0;
  pthread_rwlock_rdlock(&t->rw);
  group *gr = lookup(t, name, w->payload_len);
  if (gr && gr->nlocal > t->capfan) {
    uint64_t *nv = realloc(t->fan, gr->nlocal * sizeof *nv);
    if (nv) {
      t->fan = nv;
      t->capfan = gr->nlocal;
    }
  }
  if (gr)
    for (; nf < gr->nlocal && nf < t->capfan; nf++)
      t->fan[nf] = gr->local[nf].ref.id;
  pthread_rwlock_unlock(&t->rw);
  uint64_t from = w->f[0];
  uint64_t pnode = ((uint64_t)acto__peer_hash(p) << 32) | p->inc;
  int busy = 0;
  for (size_t i = 0; i < nf; i++) {
    acto__msg *m = acto__msg_new((uint32_t)w->f[1], w->payload2, w->payload2_len, NULL);
    if (!m) {
      *reason = "out of memory for a message";
      return -2;
    }
    m->flags = ACTO__MF_REMOTE;
    m->origin = &p->origin; /* peers are type-stable: it outlives m */
    m->epoch = p->epoch;    /* the loop is the only writer */
    if (from)
      m->pub.sender = (acto_ref){from, pnode};
    int r = acto__area_deliver(c, t->fan[i], m, reason);
    if (r < 0)
      return r;
    busy |= r == 1;
  }
  if (busy) {
    /* A BUSY was queued: out now, as deliver.c does for a SEND. */
    acto__conn_try_write(c);
    if (c->state == C_CLOSED) {
      *reason = "write failed (peer closed or reset)";
      return -2;
    }
  }
  return 0;
}

int acto__group_deliver(acto__conn *c, const acto__wmsg *w, const char **reason) {
  if (w->kind == ACTO__W_GCAST)
    return fan_out(c, w, reason);
  acto__node *n = c->node;
  acto__groups *t = n->groups;
  acto__peer *p = c->peer;
  acto_ref ref = {w->f[0], ((uint64_t)acto__peer_hash(p) << 32) | p->inc};
  const char *name = (const char *)w->payload;
  size_t len = w->payload_len;
  int rc = 0;
  pthread_mutex_lock(&t->wmtx);
  if (w->kind == ACTO__W_JOIN && t->members >= GROUP_MAX_MEMBERS) {
    *reason = "the peer's members pass the groups' limit (1048576 members)";
    rc = -2;
  } else if (w->kind == ACTO__W_JOIN) {
    group *gr = get_group(t, name, len);
    size_t i = 0, k = 0;
    while (gr && i < gr->nremote && !acto_ref_eq(gr->remote[i], ref))
      i++;
    while (gr && k < gr->nnodes && gr->nodes[k].node != ref.node)
      k++;
    if (gr && i < gr->nremote) {
      /* Known already (a sync repeating a JOIN): nothing changes. */
    } else if (!gr ||
               reserve(&t->rw, (void **)&gr->remote, &gr->capremote, gr->nremote,
                       sizeof *gr->remote) ||
               reserve(&t->rw, (void **)&gr->nodes, &gr->capnodes, gr->nnodes, sizeof *gr->nodes)) {
      *reason = "out of memory for a group member";
      rc = -2;
      if (gr)
        maybe_drop(t, gr);
    } else {
      pthread_rwlock_wrlock(&t->rw);
      gr->remote[gr->nremote++] = ref;
      t->members++;
      if (k == gr->nnodes)
        gr->nodes[gr->nnodes++] = (gnode){ref.node, 0};
      gr->nodes[k].members++;
      pthread_rwlock_unlock(&t->rw);
      notify(n->sys, gr, ref, ACTO_GROUP_JOINED);
    }
  } else {
    group *gr = lookup(t, name, len);
    for (size_t i = 0; gr && i < gr->nremote; i++) {
      if (acto_ref_eq(gr->remote[i], ref)) {
        remote_del(t, gr, i);
        notify(n->sys, gr, ref, ACTO_GROUP_LEFT);
        maybe_drop(t, gr);
        break;
      }
    }
  }
  pthread_mutex_unlock(&t->wmtx);
  return rc;
}

void acto__group_peer_up(acto__peer *p) {
  acto__node *n = p->node;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  for (size_t b = 0; b < t->tab.nbuckets; b++)
    for (group *gr = (group *)t->tab.buckets[b]; gr; gr = (group *)gr->ent.next)
      for (size_t i = 0; i < gr->nlocal; i++)
        send_member(n, ACTO__W_JOIN, gr->local[i].ref.id, gr, p);
  pthread_mutex_unlock(&t->wmtx);
}

void acto__group_peer_down(acto__peer *p, uint64_t node_id) {
  acto__node *n = p->node;
  acto__groups *t = n->groups;
  pthread_mutex_lock(&t->wmtx);
  for (size_t b = 0; b < t->tab.nbuckets; b++) {
    group *gr = (group *)t->tab.buckets[b];
    while (gr) {
      group *next = (group *)gr->ent.next;
      size_t i = 0;
      while (i < gr->nremote) {
        /* Every incarnation of that node: none of its members outlive it. */
        if ((gr->remote[i].node >> 32) == (node_id >> 32)) {
          acto_ref r = remote_del(t, gr, i);
          notify(n->sys, gr, r, ACTO_GROUP_LEFT);
        } else {
          i++;
        }
      }
      maybe_drop(t, gr);
      gr = next;
    }
  }
  pthread_mutex_unlock(&t->wmtx);
}
