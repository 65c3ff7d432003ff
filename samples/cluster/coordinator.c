/* coordinator.c - the pool's coordinator: dispatches the client's items to
 * the workers it finds in the process group CLUSTER_GROUP, sends again
 * the items of a worker that is lost, and journals every acknowledgement
 * before it answers, so that an item acknowledged is never dispatched
 * again, also by its next incarnation.
 *
 * DESIGN
 * Workers.  The coordinator places nothing: the pool's supervisor starts
 * and restarts the workers (placement.c).  At boot it subscribes to
 * CLUSTER_GROUP and reads its members; each member it did not know is
 * monitored and becomes a live worker.  A DOWN removes the worker and
 * puts the items it held back in the queue; its reason says why, for the
 * report: ACTO_REASON_NOCONNECTION (its node was lost), SHUTDOWN (its
 * supervisor stopped it to move it), anything else (it failed).
 *
 * Items.  Each id is NEW, QUEUED (waiting for a worker), SENT (to one
 * worker, whose slot it records) or ACKED (its result journaled).  A
 * SUBMIT keeps the client's request (acto_reply_later; a retry replaces
 * the kept token, whose asker has given up) and queues a NEW item; an
 * ACKED one is answered at once from the kept result, and a SENT one is
 * sent again (the client waited past its deadline: its result may have
 * been lost).  Items go to the live worker with the fewest items in
 * flight.  A RESULT for an item not ACKED yet (from whichever worker:
 * one the item was taken away from is as good as any) is appended to the
 * journal, then the item is ACKED and the kept request answered; a
 * result for an ACKED item is counted as late and dropped.  So dispatch
 * is at least once (a DOWN may overtake results on their way, a result
 * may die with its node) and the answer exactly once.
 *
 * The journal.  A record (a packed cluster_ack) is appended before the
 * answer leaves and before the item counts as ACKED; an append that fails
 * fails the coordinator (nothing was answered).  init replays the journal
 * into the item table: an incarnation starts with every item any earlier
 * one acknowledged, and answers their retries from it.  The sync mode is
 * the launcher's --journal-sync, SYNC_NONE by default: the failures this
 * sample makes (the coordinator failing, n1's processes killed) keep
 * every record that write() accepted; SYNC_EACH adds power loss at the
 * price of one device flush per acknowledgement.  The journal is not
 * shared: its lock lets one coordinator at a time open it.
 *
 * Failure.  The coordinator runs under a supervisor on n1 and is restarted
 * in place (the same ref: the client's ref and the workers' reply_to stay
 * right).  terminate closes the journal; init opens and replays it; the
 * workers keep running, and results of items the old incarnation sent
 * reach the new one and are acknowledged like any (journaled, answered
 * when the client retries).  The requests the old incarnation kept die
 * with it: the client's asks time out and are asked again.
 * CLUSTER_CRASH makes it fail right after journaling its next
 * acknowledgement, before answering it: the worst moment, which only the
 * journal covers (that item's retry is answered from it).
 *
 * What does not fit.  Every payload is msgpack (cluster.h) and is
 * unpacked with its type's checks before it is used (one that does not
 * unpack is logged and dropped), and every id is checked before it is
 * used.  A SUBMIT is a request (its answer is the acknowledgement): one
 * sent without ask is ignored, one that does not fit is answered with an
 * empty CLUSTER_ACK.  BOOT comes from the coordinator itself: from anyone
 * else it is ignored, like a RESULT that does not fit and any unknown
 * type.  CLUSTER_CRASH is chaos and means it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <acto/acto_cluster.h>
#include <acto/acto_journal.h>

#include "cluster.h"

enum { IT_NEW = 0, IT_QUEUED = 1, IT_SENT = 2, IT_ACKED = 3 };

typedef struct item {
  acto_reply_token tok; /* the client's request, when has_tok */
  uint64_t value;       /* ACKED: the result */
  int16_t worker;       /* SENT: the slot */
  int8_t node;          /* ACKED: the node of the worker that computed it */
  int8_t lost_from;     /* 1 + the node whose loss made it be sent again */
  uint8_t state, has_tok;
} item;

typedef struct wslot {
  acto_ref ref;
  uint64_t mon;
  uint32_t inflight;
  int8_t node;
  uint8_t used, live;
} wslot;

typedef struct coord {
  cluster_coord_arg a;
  acto_system *sys;
  acto_journal *j;
  item *items;     /* [items + 1] */
  uint32_t *queue; /* a ring of ids, capacity items */
  uint32_t qhead, qlen;
  wslot w[CLUSTER_MAX_WORKERS];
  uint32_t live, rr; /* live: the slots in use */
  int crash_armed;
} coord;

static void drain(coord *c);

/* ---- workers --------------------------------------------------------------------- */

static void add_worker(coord *c, acto_ctx *ctx, acto_ref ref) {
  wslot *w = NULL;
  for (int i = 0; i < CLUSTER_MAX_WORKERS; i++) {
    if (c->w[i].used && acto_ref_eq(c->w[i].ref, ref))
      return; /* known */
    if (!w && !c->w[i].used)
      w = &c->w[i];
  }
  if (!w)
    return;
  int node = cluster_ref_node(c->sys, ref);
  if (node < 0)
    return; /* not one of the sample's nodes */
  memset(w, 0, sizeof *w);
  /* A worker that is already gone gives a DOWN (NOPROC) like any other. */
  if (acto_monitor(ctx, ref, &w->mon) < 0)
    return;
  w->ref = ref;
  w->node = (int8_t)node;
  w->used = w->live = 1;
  c->live++;
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.node[node].workers++;
  if (!cluster_rep.pool_ready_us && c->live == cluster_rep.pool_size) {
    cluster_rep.pool_ready_us = cluster_now_us();
    for (uint32_t i = 0; i < c->a.nnodes; i++)
      cluster_rep.node[i].initial = cluster_rep.node[i].workers;
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  drain(c);
}

static void boot(coord *c, acto_ctx *ctx) {
  int rc = acto_group_subscribe(c->sys, CLUSTER_GROUP, acto_self(ctx));
  if (rc < 0 && rc != ACTO_EEXIST) { /* no node (an in-process test): no workers */
    if (rc != ACTO_ENOTCONN)
      fprintf(stderr, "cluster: coordinator: acto_group_subscribe: %s\n", acto_strerror(rc));
    return;
  }
  acto_ref m[CLUSTER_MAX_WORKERS];
  int n = acto_group_members(c->sys, CLUSTER_GROUP, 0, m, CLUSTER_MAX_WORKERS);
  for (int i = 0; i < n && i < CLUSTER_MAX_WORKERS; i++)
    add_worker(c, ctx, m[i]);
}

/* ---- items ------------------------------------------------------------------- */

static void enqueue(coord *c, uint32_t id) {
  c->items[id].state = IT_QUEUED;
  c->queue[(c->qhead + c->qlen) % c->a.items] = id;
  c->qlen++;
}

/* Sends item id to the live worker with the fewest items in flight.
 * Returns 1 when sent, 0 when no worker is live, ACTO_PARKED when sent
 * and this actor will pause. */
static int dispatch(coord *c, uint32_t id) {
  for (;;) {
    int best = -1;
    for (uint32_t k = 0; k < CLUSTER_MAX_WORKERS; k++) {
      uint32_t i = (c->rr + k) % CLUSTER_MAX_WORKERS;
      if (c->w[i].live && (best < 0 || c->w[i].inflight < c->w[best].inflight))
        best = (int)i;
    }
    if (best < 0)
      return 0;
    c->rr = (uint32_t)best + 1;
    cluster_item it = {id};
    int rc = cluster_item_send(c->sys, c->w[best].ref, CLUSTER_WORK, &it, NULL);
    if (rc < 0) { /* gone: its DOWN is on the way; try another */
      c->w[best].live = 0;
      continue;
    }
    /* The check the journal is for, made against a record that outlives
     * this incarnation: an item any incarnation acknowledged is never
     * dispatched again. */
    pthread_mutex_lock(&cluster_rep.mu);
    if (cluster_rep.acked && cluster_rep.acked[id])
      cluster_rep.duplicates++;
    pthread_mutex_unlock(&cluster_rep.mu);
    c->items[id].state = IT_SENT;
    c->items[id].worker = (int16_t)best;
    c->w[best].inflight++;
    return rc == ACTO_PARKED ? ACTO_PARKED : 1;
  }
}

static void drain(coord *c) {
  while (c->qlen) {
    uint32_t id = c->queue[c->qhead];
    if (c->items[id].state == IT_QUEUED) {
      int rc = dispatch(c, id);
      if (rc == 0)
        return; /* no worker: wait for one */
      if (rc == ACTO_PARKED) {
        c->qhead = (c->qhead + 1) % c->a.items;
        c->qlen--;
        return; /* the next result resumes draining */
      }
    }
    c->qhead = (c->qhead + 1) % c->a.items;
    c->qlen--;
  }
}

static int worker_down(coord *c, const acto_down *d) {
  int s = -1;
  for (int i = 0; i < CLUSTER_MAX_WORKERS && s < 0; i++)
    if (c->w[i].used && c->w[i].mon == d->monitor)
      s = i;
  if (s < 0)
    return 0;
  wslot *w = &c->w[s];
  int node = w->node;
  c->live--; /* counted while used, also after a failed send cleared live */
  w->used = w->live = 0;
  int gone = d->reason == ACTO_REASON_NOCONNECTION;
  uint32_t again = 0;
  for (uint32_t id = 1; id <= c->a.items; id++) {
    item *it = &c->items[id];
    if (it->state == IT_SENT && it->worker == s) {
      if (gone)
        it->lost_from = (int8_t)(node + 1);
      enqueue(c, id);
      again++;
    }
  }
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_node_rep *r = &cluster_rep.node[node];
  r->workers--;
  if (gone) {
    r->lost++;
    r->redispatched += again;
    if (!r->detect_us)
      r->detect_us = now;
  } else if (d->reason == ACTO_REASON_SHUTDOWN) {
    cluster_rep.moved_redispatched += again;
  } else {
    cluster_rep.worker_failures++;
    cluster_rep.failed_redispatched += again;
  }
  pthread_mutex_unlock(&cluster_rep.mu);
  drain(c);
  return 0;
}

static int submit(coord *c, acto_ctx *ctx, const acto_msg *msg) {
  cluster_item in;
  acto_msgpack_result bad;
  if (!(msg->flags & ACTO_MSG_FLAG_REQUEST))
    return 0; /* nobody to acknowledge */
  int rc = cluster_item_unpack_msg(msg, &in, &bad);
  if (rc != 0)
    cluster_bad_payload("coordinator", msg, &bad);
  if (rc != 0 || in.id == 0 || in.id > c->a.items) {
    (void)acto_reply(ctx, CLUSTER_ACK, NULL, 0); /* empty: a malformed request */
    return 0;
  }
  uint32_t id = (uint32_t)in.id;
  item *it = &c->items[id];
  if (it->state == IT_ACKED) {
    cluster_ack a = {id, it->value, it->node};
    (void)cluster_ack_reply(ctx, CLUSTER_ACK, &a);
    pthread_mutex_lock(&cluster_rep.mu);
    cluster_rep.from_set++;
    pthread_mutex_unlock(&cluster_rep.mu);
    return 0;
  }
  if (acto_reply_later(ctx, &it->tok) == 0)
    it->has_tok = 1;
  if (it->state == IT_SENT) {
    /* The client gave up waiting: its result may be lost (a timer dropped
     * by a full mailbox, a message gone with a connection), so send it
     * again; whichever result comes first acknowledges it. */
    c->w[it->worker].inflight--;
    it->state = IT_NEW;
    pthread_mutex_lock(&cluster_rep.mu);
    cluster_rep.retry_redispatched++;
    pthread_mutex_unlock(&cluster_rep.mu);
  }
  if (it->state == IT_NEW) {
    enqueue(c, id);
    drain(c);
  }
  return 0;
}

/* Appends the acknowledgement to the journal (when there is one). */
static int journal_ack(coord *c, const cluster_ack *a) {
  if (!c->j)
    return 0;
  acto_msgpack_buf b;
  int rc = acto_msgpack_buf_init(&b);
  if (rc == 0)
    rc = cluster_ack_pack(acto_msgpack_buf_packer(&b), a);
  if (rc == 0) {
    rc = acto_journal_append(c->j, b.data, b.size, NULL);
    if (rc > 0)
      rc = 0; /* SNAPSHOT_DUE: never asked for (no snapshot_every) */
  }
  acto_msgpack_buf_free(&b);
  return rc;
}

static int result(coord *c, acto_ctx *ctx, const acto_msg *msg) {
  cluster_result r;
  acto_msgpack_result bad;
  if (cluster_result_unpack_msg(msg, &r, &bad) != 0) {
    cluster_bad_payload("coordinator", msg, &bad);
    return 0;
  }
  if (r.id == 0 || r.id > c->a.items)
    return 0;
  item *it = &c->items[r.id];
  if (it->state == IT_ACKED) {
    pthread_mutex_lock(&cluster_rep.mu);
    cluster_rep.late_results++;
    pthread_mutex_unlock(&cluster_rep.mu);
    return 0;
  }
  int s = -1;
  for (int i = 0; i < CLUSTER_MAX_WORKERS && s < 0; i++)
    if (c->w[i].used && acto_ref_eq(c->w[i].ref, msg->sender))
      s = i;
  int node = s >= 0 ? c->w[s].node : cluster_ref_node(c->sys, msg->sender);
  cluster_ack a = {r.id, r.value, node};
  int rc = journal_ack(c, &a);
  if (rc < 0) {
    fprintf(stderr, "cluster: coordinator: journal append: %s (errno %d): failing\n",
            acto_strerror(rc), errno);
    return -1; /* nothing answered; the next incarnation replays what is there */
  }
  if (it->state == IT_SENT)
    c->w[it->worker].inflight--;
  it->state = IT_ACKED;
  it->value = r.value;
  it->node = (int8_t)node;
  int64_t now = cluster_now_us();
  pthread_mutex_lock(&cluster_rep.mu);
  if (cluster_rep.acked)
    cluster_rep.acked[r.id] = 1;
  if (c->j)
    cluster_rep.journaled++;
  if (it->lost_from) {
    cluster_node_rep *lost = &cluster_rep.node[it->lost_from - 1];
    if (!lost->redisp_ack_us)
      lost->redisp_ack_us = now, lost->redisp_ack_node = node;
  }
  if (node >= 0 && node < CLUSTER_MAX_NODES && cluster_rep.node[node].rejoined_us &&
      now > cluster_rep.node[node].rejoined_us) {
    cluster_node_rep *back = &cluster_rep.node[node];
    if (!back->back_ack_us)
      back->back_ack_us = now;
    back->back_acked++;
  }
  if (c->crash_armed)
    cluster_rep.crash_item = (uint32_t)r.id;
  pthread_mutex_unlock(&cluster_rep.mu);
  if (c->crash_armed) {
    fprintf(stderr, "cluster: the coordinator fails after journaling item %u, before answering\n",
            (unsigned)r.id);
    return -1;
  }
  if (it->has_tok) {
    acto_msgpack_buf b;
    if (acto_msgpack_buf_init(&b) == 0 && cluster_ack_pack(acto_msgpack_buf_packer(&b), &a) == 0)
      (void)acto_msgpack_reply_to(c->sys, &it->tok, CLUSTER_ACK, &b);
    else
      acto_msgpack_buf_free(&b);
    it->has_tok = 0;
  }
  (void)ctx;
  drain(c);
  return 0;
}

/* ---- the journal's replay ----------------------------------------------------- */

static int replay_record(void *user, uint64_t seq, const void *data, size_t len) {
  (void)seq;
  coord *c = user;
  cluster_ack a;
  acto_msgpack_result bad;
  if (cluster_ack_unpack(data, len, &a, &bad) != 0 || a.id == 0 || a.id > c->a.items) {
    fprintf(stderr, "cluster: coordinator: a journal record that does not fit: %s\n", bad.detail);
    return ACTO_EPROTO; /* not this sample's journal: refuse to start */
  }
  item *it = &c->items[a.id];
  it->state = IT_ACKED;
  it->value = a.value;
  it->node = (int8_t)(a.node >= 0 && a.node < CLUSTER_MAX_NODES ? a.node : -1);
  pthread_mutex_lock(&cluster_rep.mu);
  if (cluster_rep.acked)
    cluster_rep.acked[a.id] = 1; /* by an earlier incarnation */
  pthread_mutex_unlock(&cluster_rep.mu);
  return 0;
}

static int open_journal(coord *c) {
  acto_journal_opts jo = {.sync = (acto_journal_sync_mode)(c->a.journal - 1)};
  int rc = acto_journal_open(c->a.journal_dir, &jo, &c->j);
  if (rc < 0) {
    fprintf(stderr, "cluster: coordinator: journal %s: %s (%s)\n", c->a.journal_dir,
            acto_strerror(rc), rc == ACTO_EIO ? strerror(errno) : "");
    return rc;
  }
  acto_journal_replay_info info;
  rc = acto_journal_replay(c->j, NULL, replay_record, c, &info);
  if (rc < 0) {
    fprintf(stderr, "cluster: coordinator: replaying %s: %s (%s)\n", c->a.journal_dir,
            acto_strerror(rc), rc == ACTO_EIO ? strerror(errno) : "");
    (void)acto_journal_close(c->j);
    c->j = NULL;
    return rc;
  }
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.replayed += info.records;
  pthread_mutex_unlock(&cluster_rep.mu);
  return 0;
}

/* ---- the behaviour ---------------------------------------------------------- */

static int coord_init(acto_ctx *ctx, void *state, const void *arg) {
  coord *c = state;
  if (!arg)
    return ACTO_EINVAL;
  memcpy(&c->a, arg, sizeof c->a);
  c->sys = acto_ctx_system(ctx);
  if (c->a.items == 0 || c->a.items > CLUSTER_MAX_ITEMS || c->a.nnodes > CLUSTER_MAX_NODES ||
      c->a.journal > 1 + ACTO_JOURNAL_SYNC_NONE)
    return ACTO_EINVAL;
  for (uint32_t i = 0; i < c->a.nnodes; i++) /* the names are strings */
    if (!memchr(c->a.names[i], '\0', sizeof c->a.names[i]))
      return ACTO_EINVAL;
  if (!memchr(c->a.journal_dir, '\0', sizeof c->a.journal_dir) ||
      (c->a.journal && !c->a.journal_dir[0]))
    return ACTO_EINVAL;
  c->items = calloc((size_t)c->a.items + 1, sizeof *c->items);
  c->queue = calloc(c->a.items, sizeof *c->queue);
  int rc = !c->items || !c->queue ? ACTO_ENOMEM : 0;
  if (rc == 0 && c->a.journal)
    rc = open_journal(c);
  if (rc == 0 && acto_send(c->sys, acto_self(ctx), CLUSTER_BOOT, NULL, 0) < 0)
    rc = ACTO_EINIT;
  if (rc < 0) {
    if (c->j)
      (void)acto_journal_close(c->j);
    free(c->items);
    free(c->queue);
    return rc;
  }
  pthread_mutex_lock(&cluster_rep.mu);
  cluster_rep.coord_starts++;
  pthread_mutex_unlock(&cluster_rep.mu);
  return 0;
}

static int coord_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  coord *c = state;
  switch (msg->type) {
  case CLUSTER_BOOT:
    if (acto_ref_eq(msg->sender, acto_self(ctx)))
      boot(c, ctx);
    return 0;
  case CLUSTER_SUBMIT:
    return submit(c, ctx, msg);
  case CLUSTER_RESULT:
    return result(c, ctx, msg);
  case ACTO_MSG_GROUP_CHANGE: {
    acto_group_notice g;
    if (msg->size != sizeof g)
      return 0;
    memcpy(&g, msg->data, sizeof g);
    if (g.event == ACTO_GROUP_JOINED && strcmp(g.group, CLUSTER_GROUP) == 0)
      add_worker(c, ctx, g.member);
    return 0; /* a member that left: its DOWN says what to do */
  }
  case ACTO_MSG_DOWN: {
    if (msg->size != sizeof(acto_down))
      return 0;
    acto_down d;
    memcpy(&d, msg->data, sizeof d);
    return worker_down(c, &d);
  }
  case CLUSTER_CRASH:
    fprintf(stderr, "cluster: the coordinator will fail at its next acknowledgement "
                    "(CLUSTER_CRASH)\n");
    c->crash_armed = 1;
    return 0;
  default:
    return 0;
  }
}

static void coord_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  coord *c = state;
  /* The workers belong to their supervisor and keep running; the next
   * incarnation finds them in the group. */
  pthread_mutex_lock(&cluster_rep.mu);
  for (int i = 0; i < CLUSTER_MAX_WORKERS; i++)
    if (c->w[i].used)
      cluster_rep.node[c->w[i].node].workers--;
  pthread_mutex_unlock(&cluster_rep.mu);
  if (c->j) {
    int rc = acto_journal_close(c->j);
    if (rc < 0)
      fprintf(stderr, "cluster: coordinator: journal close: %s\n", acto_strerror(rc));
  }
  free(c->items);
  free(c->queue);
}

const acto_behaviour cluster_coord_behaviour = {.name = "cluster.coordinator",
                                                .state_size = sizeof(coord),
                                                .init = coord_init,
                                                .handle = coord_handle,
                                                .terminate = coord_terminate};
