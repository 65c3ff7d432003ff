/* spawn.c - remote spawn: behaviours registered by name, the node
 * service's spawn requests, acto_spawn_remote (plain thread) and its
 * asynchronous form (inside an actor), and the placement of a supervisor's
 * remote children among the nodes up.  ACTORS.md 13.5 ("Messages", the
 * node service) and 13.10 ("Remote spawn") are the contract.
 *
 * DESIGN
 * States.  A node has no registry until its first acto_behaviour_register:
 * then one struct acto__spawn is made (the registry and the spawner, a
 * system actor of this file) and published in acto__node.spawn by a CAS
 * (release; the readers' acquire loads pair with it); a registration that
 * loses the race stops its own spawner and frees its struct.  It lives
 * until the node is freed (node_free, after every actor has stopped).
 * Without a registry the node service answers a spawn ACTO_ENOENT itself.
 *
 * Threads.  The I/O thread never runs behaviour code: it only checks a
 * spawn request (deliver.c) and hands it to the spawner's mailbox as a
 * request from the remote asker, like any SEND (acto__area_deliver, with
 * its flow control).  The spawner decodes it on a worker, looks the
 * behaviour up, calls acto_spawn (so init runs on that worker) and
 * answers: acto_reply with the 16-byte ref, or a failure status, which
 * the runtime routes back over the wire as a REPLY.  A spawn from this
 * node to itself asks the same spawner, so init never runs on the
 * caller's thread either way.
 *
 * Ownership.  The registry's entries (copied names, borrowed behaviours)
 * are under acto__spawn.mtx; the spawner copies the behaviour pointer out
 * under it and spawns after releasing it.  A behaviour must outlive the
 * system, since a spawn may be under way when it is unregistered.  Lock
 * order: acto__spawn.mtx is a leaf (nothing is called under it); the
 * placement takes each peer's mutex alone, one at a time.
 */
#include "transport/spawn_internal.h"

#include <stdlib.h>
#include <string.h>

#include "actor/remote.h"
#include "codec/prescan.h"
#include "transport/transport.h"
#include "transport/wire.h"

typedef struct reg_entry {
  char *name;
  const acto_behaviour *b;
} reg_entry;

struct acto__spawn {
  pthread_mutex_t mtx; /* guards v, n, cap */
  reg_entry *v;
  size_t n, cap;
  acto_ref spawner; /* set before publication, read-only after */
};

/* ---- the payload ------------------------------------------------------------ */

typedef struct {
  acto__buf *b;
  int failed;
} sink;

static int sink_write(void *data, const char *buf, size_t len) {
  sink *s = data;
  if (s->failed || acto__buf_append(s->b, buf, len) != 0) {
    s->failed = 1;
    return -1;
  }
  return 0;
}

int acto__spawn_encode(acto__buf *b, const acto__spawn_req *q) {
  sink s = {b, 0};
  size_t mark = b->len;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &s, sink_write);
  msgpack_pack_array(&pk, 6);
  msgpack_pack_str(&pk, q->behaviour_len);
  msgpack_pack_str_body(&pk, q->behaviour, q->behaviour_len);
  msgpack_pack_bin(&pk, q->arg_len);
  if (q->arg_len)
    msgpack_pack_bin_body(&pk, q->arg, q->arg_len);
  if (q->name) {
    msgpack_pack_str(&pk, q->name_len);
    msgpack_pack_str_body(&pk, q->name, q->name_len);
  } else {
    msgpack_pack_nil(&pk);
  }
  msgpack_pack_uint32(&pk, q->capacity);
  msgpack_pack_uint64(&pk, q->max_bytes);
  msgpack_pack_uint32(&pk, q->overflow);
  if (s.failed) {
    b->len = mark;
    return ACTO_ENOMEM;
  }
  return 0;
}

/* A name field: a str of 1..ACTO_NAME_MAX bytes without NUL. */
static int name_ok(const msgpack_object *o) {
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size >= 1 &&
         o->via.str.size <= ACTO_NAME_MAX && !memchr(o->via.str.ptr, 0, o->via.str.size);
}

int acto__spawn_decode(const uint8_t *p, size_t len, acto__spawn_req *q) {
  memset(q, 0, sizeof *q);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int r = acto__prescan_decode(p, len, 1, 0, &u, NULL);
  const msgpack_object *o = &u.data;
  if (r != 0 || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6) {
    msgpack_unpacked_destroy(&u);
    return ACTO_EPROTO;
  }
  const msgpack_object *e = o->via.array.ptr;
  int ok =
      name_ok(&e[0]) && (e[1].type == MSGPACK_OBJECT_BIN) &&
      (e[2].type == MSGPACK_OBJECT_NIL || name_ok(&e[2])) &&
      e[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[3].via.u64 <= ACTO_MAILBOX_MAX_CAPACITY &&
      e[4].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[4].via.u64 <= SIZE_MAX &&
      e[5].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[5].via.u64 <= ACTO_OVERFLOW_DROP_OLDEST;
  if (ok) {
    /* str and bin point into p (prescan.h), which outlives q. */
    q->behaviour = e[0].via.str.ptr;
    q->behaviour_len = e[0].via.str.size;
    q->arg = e[1].via.bin.size ? e[1].via.bin.ptr : NULL;
    q->arg_len = e[1].via.bin.size;
    if (e[2].type == MSGPACK_OBJECT_STR) {
      q->name = e[2].via.str.ptr;
      q->name_len = e[2].via.str.size;
    }
    q->capacity = (uint32_t)e[3].via.u64;
    q->max_bytes = e[4].via.u64;
    q->overflow = (uint32_t)e[5].via.u64;
  }
  msgpack_unpacked_destroy(&u);
  return ok ? 0 : ACTO_EPROTO;
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* ---- the spawner ------------------------------------------------------------- */

typedef struct spawner_state {
  struct acto__spawn *sp;
} spawner_state;

static int spawner_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  ((spawner_state *)state)->sp = (struct acto__spawn *)arg;
  return 0;
}

static const acto_behaviour *reg_find_locked(struct acto__spawn *sp, const char *name, size_t len) {
  for (size_t i = 0; i < sp->n; i++)
    if (strlen(sp->v[i].name) == len && memcmp(sp->v[i].name, name, len) == 0)
      return sp->v[i].b;
  return NULL;
}

static int spawner_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  spawner_state *st = state;
  if (m->type != ACTO_MSG_NODE_SPAWN || !(m->flags & ACTO_MSG_FLAG_REQUEST))
    return 0; /* nothing else is for it; a request of another type gets ENOREPLY */
  acto_system *sys = acto_ctx_system(ctx);
  acto__spawn_req q;
  if (acto__spawn_decode(m->data, m->size, &q) != 0) {
    acto__log(sys, ACTO_LOG_WARN, "spawn", "a spawn request from node %016llx is malformed",
              (unsigned long long)m->sender.node);
    acto__ask_reply_status(ctx, ACTO_EPROTO);
    return 0;
  }
  pthread_mutex_lock(&st->sp->mtx);
  const acto_behaviour *b = reg_find_locked(st->sp, q.behaviour, q.behaviour_len);
  pthread_mutex_unlock(&st->sp->mtx);
  if (!b) {
    acto__ask_reply_status(ctx, ACTO_ENOENT);
    return 0;
  }
  char name[ACTO_NAME_MAX + 1];
  acto_spawn_opts o;
  memset(&o, 0, sizeof o);
  if (q.name) {
    memcpy(name, q.name, q.name_len);
    name[q.name_len] = '\0';
    o.name = name;
  }
  o.capacity = q.capacity;
  o.max_bytes = (size_t)q.max_bytes;
  o.overflow = (acto_overflow)q.overflow;
  acto_spawn_arg a = {q.arg, q.arg_len};
  acto_ref ref;
  int r = acto_spawn(sys, b, &a, &o, &ref);
  if (r != 0) {
    acto__ask_reply_status(ctx, r);
    return 0;
  }
  uint8_t ref16[16]; /* id, node: little-endian u64s (ACTORS.md 13.5) */
  put_le64(ref16, ref.id);
  put_le64(ref16 + 8, ref.node);
  acto__msg *rm = acto__msg_new(ACTO_MSG_NODE_SPAWN, ref16, sizeof ref16, NULL);
  if (!rm) {
    /* The actor runs but its ref cannot be told: stop it rather than
     * leave it unknown to everyone. */
    acto_stop(sys, ref);
    acto__ask_reply_status(ctx, ACTO_ENOMEM);
    return 0;
  }
  acto__ask_reply_msg(ctx, rm);
  return 0;
}

static const acto_behaviour spawner_behaviour = {
    .name = "acto.spawner",
    .state_size = sizeof(spawner_state),
    .init = spawner_init,
    .handle = spawner_handle,
};

void acto__spawn_free(struct acto__spawn *sp) {
  if (!sp)
    return;
  for (size_t i = 0; i < sp->n; i++)
    free(sp->v[i].name);
  free(sp->v);
  pthread_mutex_destroy(&sp->mtx);
  free(sp);
}

/* The registry of sys's node, made on first use when make is set.  NULL:
 * none (yet), or out of memory (*err). */
static struct acto__spawn *registry(acto_system *sys, acto__node *n, int make, int *err) {
  /* acquire: pairs with the release CAS below, so the spawner ref and the
   * mutex are seen initialised. */
  struct acto__spawn *sp = atomic_load_explicit(&n->spawn, memory_order_acquire);
  if (sp || !make)
    return sp;
  sp = calloc(1, sizeof *sp);
  if (!sp || pthread_mutex_init(&sp->mtx, NULL) != 0) {
    free(sp);
    *err = ACTO_ENOMEM;
    return NULL;
  }
  int r = acto_spawn(sys, &spawner_behaviour, sp, NULL, &sp->spawner);
  if (r != 0) {
    pthread_mutex_destroy(&sp->mtx);
    free(sp);
    *err = r;
    return NULL;
  }
  struct acto__spawn *expected = NULL;
  /* release: publishes *sp (above); acquire on failure: pairs with the
   * winner's release, whose struct we then use. */
  if (!atomic_compare_exchange_strong_explicit(&n->spawn, &expected, sp, memory_order_acq_rel,
                                               memory_order_acquire)) {
    acto_stop(sys, sp->spawner);
    acto__spawn_free(sp);
    return expected;
  }
  return sp;
}

static int reg_name_ok(const char *name) {
  size_t len = name ? strnlen(name, ACTO_NAME_MAX + 1) : 0;
  return len >= 1 && len <= ACTO_NAME_MAX;
}

int acto_behaviour_register(acto_system *sys, const char *name, const acto_behaviour *b) {
  if (!sys || !reg_name_ok(name) || !b || !b->handle || !ACTO__RESERVED_CLEAR(b))
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n || atomic_load_explicit(&n->stopping, memory_order_acquire))
    return ACTO_ENOTCONN;
  int err = 0;
  struct acto__spawn *sp = registry(sys, n, 1, &err);
  if (!sp)
    return err;
  int r = 0;
  pthread_mutex_lock(&sp->mtx);
  if (reg_find_locked(sp, name, strlen(name))) {
    r = ACTO_EEXIST;
  } else if (sp->n == sp->cap) {
    size_t nc = sp->cap ? sp->cap * 2 : 8;
    reg_entry *nv = realloc(sp->v, nc * sizeof *nv);
    if (!nv)
      r = ACTO_ENOMEM;
    else {
      sp->v = nv;
      sp->cap = nc;
    }
  }
  if (r == 0) {
    char *copy = strdup(name);
    if (!copy) {
      r = ACTO_ENOMEM;
    } else {
      sp->v[sp->n].name = copy;
      sp->v[sp->n].b = b;
      sp->n++;
    }
  }
  pthread_mutex_unlock(&sp->mtx);
  return r;
}

int acto_behaviour_unregister(acto_system *sys, const char *name) {
  if (!sys || !reg_name_ok(name))
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  struct acto__spawn *sp = registry(sys, n, 0, NULL);
  if (!sp)
    return ACTO_ENOENT;
  int r = ACTO_ENOENT;
  pthread_mutex_lock(&sp->mtx);
  for (size_t i = 0; i < sp->n; i++) {
    if (strcmp(sp->v[i].name, name) == 0) {
      free(sp->v[i].name);
      sp->v[i] = sp->v[--sp->n];
      r = 0;
      break;
    }
  }
  pthread_mutex_unlock(&sp->mtx);
  return r;
}

/* ---- the node service's side (I/O thread) --------------------------------------- */

/* Answers the request w (from peer node pnode) with a failure status. */
static void answer_status(acto__node *n, const acto__wmsg *w, uint64_t pnode, int status) {
  acto__msg *rm = acto__msg_new(0, NULL, 0, NULL);
  if (!rm)
    return;
  rm->kind = ACTO__KIND_REPLY;
  rm->status = status;
  rm->req_id = w->f[4];
  rm->flags = ((uint32_t)w->f[3] & ACTO__WF_FUTURE) ? ACTO__MF_FUTURE : 0;
  if (acto__route_send_system(&n->remote, (acto_ref){w->f[1], pnode}, rm) != 0)
    acto__msg_free(rm);
}

int acto__spawn_service(acto__conn *c, const acto__wmsg *w, const char **reason) {
  acto__node *n = c->node;
  acto__peer *p = c->peer;
  uint64_t pnode = ((uint64_t)acto__peer_hash(p) << 32) | p->inc;
  uint64_t from = w->f[1];
  uint32_t flags = (uint32_t)w->f[3];
  struct acto__spawn *sp = registry(n->sys, n, 0, NULL);
  if (!sp) {
    answer_status(n, w, pnode, ACTO_ENOENT); /* nothing registered here */
    return 0;
  }
  /* As a SEND to an actor (deliver.c): the spawner answers the asker. */
  acto__msg *m = acto__msg_new(ACTO_MSG_NODE_SPAWN, w->payload, w->payload_len, NULL);
  if (!m) {
    *reason = "out of memory for a message";
    return -2;
  }
  m->flags = ACTO__MF_REMOTE | ACTO__MF_REQUEST;
  m->origin = &p->origin; /* peers are type-stable: it outlives m */
  m->epoch = p->epoch;    /* the loop is the only writer */
  m->pub.flags = ACTO_MSG_FLAG_REQUEST;
  m->req_id = w->f[4];
  if (flags & ACTO__WF_FUTURE)
    m->flags |= ACTO__MF_FUTURE;
  m->pub.sender = (acto_ref){from, pnode};
  int r = acto__area_deliver(c, sp->spawner.id, m, reason);
  if (r == 1) {
    acto__conn_try_write(c); /* BUSY goes out now, as deliver.c does */
    if (c->state == C_CLOSED) {
      *reason = "write failed (peer closed or reset)";
      return -2;
    }
    r = 0;
  }
  return r;
}

/* ---- the calls ------------------------------------------------------------------ */

/* Node names: 1..ACTO_NODE_NAME_MAX bytes of [A-Za-z0-9._@-] (acto_node.h). */
int acto__spawn_node_name_ok(const char *s) {
  size_t len = s ? strnlen(s, ACTO_NODE_NAME_MAX + 1) : 0;
  if (len == 0 || len > ACTO_NODE_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '.' || ch == '_' || ch == '@' || ch == '-'))
      return 0;
  }
  return 1;
}

/* Checks the arguments common to both forms and encodes the request into
 * b.  0 or the error. */
static int prepare(const char *node_name, const char *behaviour, const void *arg, size_t arg_len,
                   const acto_spawn_opts *o, int64_t timeout_ms, acto__buf *b) {
  if (!acto__spawn_node_name_ok(node_name) || !reg_name_ok(behaviour) || (arg_len > 0 && !arg) ||
      arg_len > ACTO_MSG_MAX_SIZE || timeout_ms < -1)
    return ACTO_EINVAL;
  acto__spawn_req q;
  memset(&q, 0, sizeof q);
  if (o) {
    if (!ACTO__RESERVED_CLEAR(o) || o->link || o->capacity > ACTO_MAILBOX_MAX_CAPACITY ||
        (unsigned)o->overflow > ACTO_OVERFLOW_DROP_OLDEST || (o->name && !reg_name_ok(o->name)))
      return ACTO_EINVAL;
    if (o->name) {
      q.name = o->name;
      q.name_len = strlen(o->name);
    }
    q.capacity = o->capacity;
    q.max_bytes = o->max_bytes;
    q.overflow = (uint32_t)o->overflow;
  }
  q.behaviour = behaviour;
  q.behaviour_len = strlen(behaviour);
  q.arg = arg;
  q.arg_len = arg_len;
  return acto__spawn_encode(b, &q);
}

/* Whom to ask: this node's spawner, or the node service of node_name. */
static int target(acto_system *sys, const char *node_name, acto_ref *to) {
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  if (strcmp(node_name, n->name) == 0) {
    struct acto__spawn *sp = registry(sys, n, 0, NULL);
    if (!sp)
      return ACTO_ENOENT; /* nothing registered here */
    *to = sp->spawner;
    return 0;
  }
  uint64_t id;
  int r = acto__peer_id_up(n, node_name, &id);
  if (r != 0)
    return r == ACTO_ENOENT ? ACTO_ENOTCONN : r;
  *to = (acto_ref){ACTO__REMOTE_SERVICE_ID, id};
  return 0;
}

static int decode_ref(const void *data, size_t size, acto_ref *out) {
  if (size != 16 || !data)
    return ACTO_EPROTO;
  out->id = get_le64(data);
  out->node = get_le64((const uint8_t *)data + 8);
  return 0;
}

int acto_spawn_remote(acto_system *sys, const char *node_name, const char *behaviour,
                      const void *arg, size_t arg_len, const acto_spawn_opts *opts,
                      int64_t timeout_ms, acto_ref *out) {
  if (!sys || !out)
    return ACTO_EINVAL;
  acto__buf b = {0};
  int r = prepare(node_name, behaviour, arg, arg_len, opts, timeout_ms, &b);
  acto__actor *self;
  if (r == 0 && acto__system_caller(sys, &self) != 0)
    r = ACTO_EDEADLK;
  acto_ref to;
  if (r == 0)
    r = target(sys, node_name, &to);
  acto_reply_buf rb = {0};
  if (r == 0)
    r = acto__ask_sync(sys, to, ACTO_MSG_NODE_SPAWN, b.p, b.len, timeout_ms, &rb);
  acto__buf_free(&b);
  if (r != 0)
    return r;
  r = rb.type == ACTO_MSG_NODE_SPAWN ? decode_ref(rb.data, rb.size, out) : ACTO_EPROTO;
  acto_reply_release(&rb);
  return r;
}

int acto_spawn_remote_async(acto_ctx *ctx, const char *node_name, const char *behaviour,
                            const void *arg, size_t arg_len, const acto_spawn_opts *opts,
                            int64_t timeout_ms, acto_reply_fn fn, void *user,
                            uint64_t *ask_id_out) {
  if (!ctx)
    return ACTO_EINVAL;
  if (timeout_ms == 0)
    return ACTO_EINVAL; /* acto_ask_async's rule: > 0 or -1 */
  acto__buf b = {0};
  int r = prepare(node_name, behaviour, arg, arg_len, opts, timeout_ms, &b);
  acto_ref to;
  if (r == 0)
    r = target(acto_ctx_system(ctx), node_name, &to);
  acto__msg *m = NULL;
  if (r == 0 && !(m = acto__msg_new(ACTO_MSG_NODE_SPAWN, b.p, b.len, NULL)))
    r = ACTO_ENOMEM;
  acto__buf_free(&b);
  if (r != 0)
    return r;
  return acto__ask_async_msg(ctx, to, m, timeout_ms, fn, user, ask_id_out);
}

int acto_spawn_remote_result(int status, const acto_msg *reply, acto_ref *out) {
  if (!out || (status == 0 && !reply))
    return ACTO_EINVAL;
  if (status != 0)
    return status < 0 ? status : ACTO_EPROTO;
  if (reply->type == ACTO_MSG_ASK_TIMEOUT)
    return ACTO_ETIMEDOUT;
  if (reply->type == ACTO_MSG_ASK_FAILED) {
    int32_t st;
    if (reply->size != sizeof st || !reply->data)
      return ACTO_EPROTO;
    memcpy(&st, reply->data, sizeof st);
    return st < 0 ? st : ACTO_EPROTO;
  }
  if (reply->type != ACTO_MSG_NODE_SPAWN)
    return ACTO_EPROTO;
  return decode_ref(reply->data, reply->size, out);
}

/* ---- nodes and placement ----------------------------------------------------------- */

int acto_node_name(acto_system *sys, uint64_t node_id, char *buf, size_t cap) {
  if (!sys || !buf || cap == 0)
    return ACTO_EINVAL;
  acto__node *n = acto__transport_node(sys);
  if (!n)
    return ACTO_ENOTCONN;
  char name[ACTO__AUTH_NAME_MAX + 1];
  int found = 0;
  if (node_id == n->id) {
    strcpy(name, n->name);
    found = 1;
  }
  /* acquire: pairs with the directory's release of npeers (peer.c). */
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire);
  for (unsigned i = 0; i < cnt && !found; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    if ((((uint64_t)acto__peer_hash(p) << 32) | p->inc) == node_id && p->inc != 0) {
      strcpy(name, p->name);
      found = 1;
    }
    pthread_mutex_unlock(&p->mtx);
  }
  if (!found)
    return ACTO_ENOENT;
  if (strlen(name) + 1 > cap)
    return ACTO_ELIMIT;
  strcpy(buf, name);
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int acto__spawn_place(acto_system *sys, const acto_child_remote *rc, const char *child_id,
                      const char *previous, char out[ACTO_NODE_NAME_MAX + 1]) {
  acto__node *n = acto__transport_node(sys);
  if (!n || atomic_load_explicit(&n->stopping, memory_order_acquire))
    return ACTO_ENOTCONN;
  unsigned cnt = atomic_load_explicit(&n->npeers, memory_order_acquire); /* as above */
  typedef char name_t[ACTO__AUTH_NAME_MAX + 1];
  name_t *names = malloc(((size_t)cnt + 1) * sizeof *names);
  const char **ptrs = malloc(((size_t)cnt + 1) * sizeof *ptrs);
  if (!names || !ptrs) {
    free(names);
    free(ptrs);
    return ACTO_ENOMEM;
  }
  size_t k = 0;
  strcpy(names[k++], n->name);
  for (unsigned i = 0; i < cnt; i++) {
    acto__peer *p = n->peers[i];
    pthread_mutex_lock(&p->mtx);
    if (p->state == P_UP)
      strcpy(names[k++], p->name);
    pthread_mutex_unlock(&p->mtx);
  }
  for (size_t i = 0; i < k; i++)
    ptrs[i] = names[i];
  qsort(ptrs, k, sizeof *ptrs, cmp_name);
  size_t self = 0;
  for (size_t i = 0; i < k; i++)
    if (ptrs[i] == names[0])
      self = i;
  long pick = -1;
  if (rc->node)
    for (size_t i = 0; i < k && pick < 0; i++)
      if (strcmp(ptrs[i], rc->node) == 0)
        pick = (long)i;
  if (pick < 0 && rc->place) {
    int r = rc->place(rc->place_user, child_id, ptrs, k, self, previous);
    if (r >= 0 && (size_t)r < k)
      pick = r;
  }
  int rc_ = ACTO_ENOTCONN;
  if (pick >= 0) {
    strcpy(out, ptrs[pick]);
    rc_ = 0;
  }
  free(ptrs);
  free(names);
  return rc_;
}

/* The placements' common walk: the first node after `previous` in name
 * order (wrapping), else the hash of child_id; skip_self leaves nodes[self]
 * out. */
static int spread(const char *child_id, const char *const *nodes, size_t n, size_t self,
                  const char *previous, int skip_self) {
  if (!nodes || n == 0 || (skip_self && n == 1))
    return -1;
  size_t start;
  if (previous) {
    start = n; /* past every name: wraps to the first */
    for (size_t i = 0; i < n; i++)
      if (strcmp(nodes[i], previous) > 0) {
        start = i;
        break;
      }
  } else {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = child_id ? child_id : ""; *c; c++)
      h = (h ^ (uint8_t)*c) * 16777619u;
    start = h % n;
  }
  for (size_t j = 0; j < n; j++) {
    size_t i = (start + j) % n;
    if (!(skip_self && i == self))
      return (int)i;
  }
  return -1;
}

int acto_place_spread(void *user, const char *child_id, const char *const *nodes, size_t n,
                      size_t self, const char *previous) {
  (void)user;
  return spread(child_id, nodes, n, self, previous, 0);
}

int acto_place_elsewhere(void *user, const char *child_id, const char *const *nodes, size_t n,
                         size_t self, const char *previous) {
  (void)user;
  return spread(child_id, nodes, n, self, previous, 1);
}
