/* area.c - the receiver's side of the flow control: the waiting area of a
 * connection, where messages for a local actor whose mailbox is full wait
 * in order while the connection goes on reading, and the BUSY and ROOM
 * messages that tell the sending node about it.
 *
 * DESIGN
 * Flow.  One full mailbox must not stop a link (ACTORS.md 13.2, "Flow
 * control").  The receiving I/O thread never stops reading for one
 * target; the sender stops sending to that target only.
 *
 * Receiver, per connection and local target T (a `line`, in the conn's
 * map `area` while it exists):
 *   none     T has no line: a SEND for T goes to its mailbox at once
 *            (acto__send_from_node).  If the mailbox is full (block
 *            policy) the message parks in the mailbox's waiter list with
 *            the line's twaiter: the line is made -> quiet.
 *   quiet    the line's head is parked in T's mailbox; later SENDs for T
 *            from this connection queue behind it in the line (FIFO), so
 *            per-sender order holds.  When the head is delivered (or T
 *            closed) a worker fires the twaiter; the I/O thread then hands
 *            the line's messages to the mailbox in order until one parks
 *            again or the line is empty (the line is freed -> none).  The
 *            line holding more than BUSY_AT bytes: BUSY(T) is queued and
 *            written at once -> busy.
 *   busy     as quiet, and the sender holds T's sends back.  The line
 *            shrinking to ROOM_AT bytes or less (or empty): ROOM(T) is
 *            queued -> quiet (or none).  ROOM before the line is dry keeps
 *            T fed while the sender's next messages travel.
 *   zombie   the connection closed while the head was parked and its
 *            verdict was already on the way (acto__send_node_cancel 0):
 *            the line, emptied, waits in the node's zombie list for the
 *            twaiter to fire, then is freed.  The connection itself is
 *            freed at once.
 * So BUSY and ROOM alternate per target on a connection, starting with
 * BUSY; a mailbox full only for a moment (a busy actor, not a stuck one)
 * never makes its senders wait.
 * Messages waiting in a line when the connection closes become dead
 * letters (ACTO_DEAD_NOCONNECTION), as would the messages of a link that
 * went down before they were handled (they are orphaned: actor/remote.h).
 *
 * Bound.  A sender stops sending to T when BUSY(T) arrives (and takes
 * back the sends to T still parked for room in its queue); what it had
 * queued or written before lands in the line, on top of BUSY_AT.  A
 * connection's lines hold at most area_max (2 x out_queue_bytes) of
 * messages, counted as on the wire (payload + AREA_MSG_COST each; about
 * 100 bytes more each in memory): what the sender's queue
 * (out_queue_bytes) and the sockets between can hold when BUSY reaches
 * it.  Past it the connection stops reading (a sender that ignores BUSY,
 * or one with more in flight than the bound) and resumes below half.
 * TCP then holds the sender back, and the sender's heartbeat sees a peer
 * that does not read: the link goes down after a heartbeat timeout, as
 * before flow control existed.  Heartbeats flow in every other case.
 *
 * References.  A frame's SENDs to one target share one reference to it
 * (c->hot, dropped at the frame's end), and a line's run after its head
 * was resolved reuses the head's reference: the reference count's cache
 * line is shared with the worker running the target.
 *
 * Sender: outq.c (busy targets).
 *
 * Thread ownership: lines are the I/O thread's, but for `fired` (set by the
 * worker that resolves the parked head) and the node's area_fired flag.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "actor/remote.h"
#include "transport/idmap.h"
#include "transport/transport.h"
#include "transport/wire.h"

/* A message counts as its payload plus the largest SEND header: what it
 * took on the wire, the unit of the sender's out_queue_bytes, so that the
 * area's bound (2 x out_queue_bytes) holds what a well-behaved sender can
 * have in flight.  In memory a waiting message takes its block (about
 * 100 bytes more). */
#define AREA_MSG_COST 48u

/* A line says BUSY once it holds more than this (wire bytes): a mailbox
 * that is full only for a moment (its actor is busy, not stuck) costs its
 * sender nothing, while a stuck one stops its sender after 64 KiB. */
#define BUSY_AT (64u * 1024u)
#define ROOM_AT (BUSY_AT / 2)

typedef struct acto__line {
  acto__node *node;
  uint64_t target;
  acto__msg *head, *tail; /* waiting, not yet handed to the mailbox */
  acto__msg *parked;      /* handed over, parked in T's mailbox; once
                             its verdict came (fired), only a name: the
                             actor may have handled and freed it */
  size_t parked_cost;     /* msg_cost of parked, taken while it was ours */
  acto__actor *held;      /* T, while parked (acto__send_from_node) */
  size_t bytes;           /* of every message in the line, parked included */
  int busy_sent;          /* BUSY went out for this line (ROOM is due) */
  acto__twaiter tw;
  _Atomic int fired; /* the worker: the parked head is resolved */
  struct acto__line *next_zombie;
} acto__line;

static size_t msg_cost(const acto__msg *m) { return m->pub.size + AREA_MSG_COST; }

/* A worker resolved a line's parked head: wake the I/O thread.  The line
 * may be freed as soon as fired is seen: nothing of it is touched after. */
static void line_notify(acto__twaiter *tw, int state) {
  (void)state;
  acto__line *l = (acto__line *)((char *)tw - offsetof(acto__line, tw));
  acto__node *n = l->node;
  atomic_store_explicit(&l->fired, 1, memory_order_release);
  atomic_store_explicit(&n->area_fired, 1, memory_order_release);
  event_active(n->wake_ev, EV_READ, 0);
}

static acto__line *line_new(acto__node *n, uint64_t target) {
  acto__line *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->node = n;
  l->target = target;
  l->tw.notify = line_notify;
  return l;
}

/* Queues BUSY or ROOM about target to the peer (a control message: it
 * goes whatever the queue's bound, as a PONG does). */
static void send_flow(acto__conn *c, uint32_t kind, uint64_t target) {
  acto__peer *p = c->peer;
  acto__buf tmp = {0};
  if (acto__wire_flow(&tmp, kind, target) == 0) {
    pthread_mutex_lock(&p->mtx);
    if (p->active == c && acto__buf_append(&p->batch, tmp.p, tmp.len) == 0) {
      acto__outq_added_locked(p);
      acto__outq_kick_locked(p);
      if (kind == ACTO__W_BUSY)
        ST_ADD(c->node, busy_out, 1);
      else
        ST_ADD(c->node, room_out, 1);
    }
    pthread_mutex_unlock(&p->mtx);
  }
  acto__buf_free(&tmp);
}

static void msg_push(acto__line *l, acto__msg *m) {
  atomic_store_explicit(&m->node.next, NULL, memory_order_relaxed);
  if (l->tail)
    atomic_store_explicit(&l->tail->node.next, &m->node, memory_order_relaxed);
  else
    l->head = m;
  l->tail = m;
}

static acto__msg *msg_pop(acto__line *l) {
  acto__msg *m = l->head;
  if (m) {
    l->head = (acto__msg *)atomic_load_explicit(&m->node.next, memory_order_relaxed);
    if (!l->head)
      l->tail = NULL;
    atomic_store_explicit(&m->node.next, NULL, memory_order_relaxed);
  }
  return m;
}

int acto__area_deliver(acto__conn *c, uint64_t to, acto__msg *m, const char **reason) {
  acto__node *n = c->node;
  acto__line *l = c->area.n ? acto__idmap_get(&c->area, to) : NULL;
  if (l) {
    /* T has a line: behind it, whatever the mailbox holds now. */
    msg_push(l, m);
    ST_ADD(n, waiting, 1);
    l->bytes += msg_cost(m);
    c->area_bytes += msg_cost(m);
    if (!l->busy_sent && l->bytes > BUSY_AT) {
      l->busy_sent = 1;
      send_flow(c, ACTO__W_BUSY, to);
      return 1;
    }
    return 0;
  }
  if (!c->spare && !(c->spare = line_new(n, 0))) {
    acto__msg_free(m);
    *reason = "out of memory for a waiting line";
    return -2;
  }
  l = c->spare;
  size_t cost = msg_cost(m); /* before the hand-over: m is not ours after */
  atomic_store_explicit(&l->fired, 0, memory_order_relaxed);
  acto__actor *held = NULL;
  /* The frame's messages mostly go to few targets: one reference per run
   * of messages to the same target, not one per message (the reference
   * count's line is shared with the worker running the target). */
  if (c->hot_id != to) {
    if (c->hot)
      acto__actor_release(c->hot);
    c->hot = acto__send_node_target(n->sys, to);
    c->hot_id = to;
  }
  int parked = c->hot ? acto__send_from_node_held(n->sys, c->hot, m, &l->tw, &held)
                      : acto__send_from_node(n->sys, (acto_ref){to, n->id}, m, &l->tw, &held);
  if (!parked)
    return 0;
  /* Parked: the spare becomes T's line. */
  l->target = to;
  l->parked = m;
  l->parked_cost = cost;
  l->held = held;
  l->bytes = cost;
  if (acto__idmap_put(&c->area, to, l) != 0) {
    /* The message stays parked in the mailbox; the connection is closed
     * by the caller and the close takes it back through c->spare. */
    *reason = "out of memory for the waiting area";
    return -2;
  }
  c->spare = NULL;
  l->busy_sent = 0;
  ST_ADD(n, waiting, 1);
  c->area_bytes += l->bytes;
  return 0;
}

/* Moves a line on after its parked head was resolved: hands its messages
 * to the mailbox in order until one parks or the line is empty.  Returns
 * 1 when the line is empty (the caller frees it and sends ROOM). */
static int line_advance(acto__conn *c, acto__line *l) {
  acto__node *n = c->node;
  /* The resolved head's reference serves the whole run. */
  acto__actor *t = l->held;
  l->held = NULL;
  l->bytes -= l->parked_cost;
  c->area_bytes -= l->parked_cost;
  l->parked = NULL;
  ST_SUB(n, waiting, 1);
  acto__msg *m;
  while ((m = msg_pop(l)) != NULL) {
    size_t cost = msg_cost(m);
    atomic_store_explicit(&l->fired, 0, memory_order_relaxed);
    acto__actor *held = NULL;
    int parked = t ? acto__send_from_node_held(n->sys, t, m, &l->tw, &held)
                   : acto__send_from_node(n->sys, (acto_ref){l->target, n->id}, m, &l->tw, &held);
    if (parked) {
      l->parked = m;
      l->parked_cost = cost;
      l->held = held;
      if (t)
        acto__actor_release(t);
      return 0;
    }
    l->bytes -= cost;
    c->area_bytes -= cost;
    ST_SUB(n, waiting, 1);
  }
  if (t)
    acto__actor_release(t);
  return 1;
}

void acto__area_frame_end(acto__conn *c) {
  if (c->hot)
    acto__actor_release(c->hot);
  c->hot = NULL;
  c->hot_id = 0;
}

int acto__area_wake(acto__conn *c) {
  if (c->area.n == 0)
    return 0;
  /* Collect first: advancing a line may remove it from the map. */
  acto__line *ready[64];
  size_t k;
  do {
    k = 0;
    for (size_t i = 0; i < c->area.cap && k < 64; i++) {
      acto__line *l = c->area.slots[i].val;
      if (l && atomic_load_explicit(&l->fired, memory_order_acquire))
        ready[k++] = l;
    }
    for (size_t i = 0; i < k; i++) {
      acto__line *l = ready[i];
      atomic_store_explicit(&l->fired, 0, memory_order_relaxed);
      int empty = line_advance(c, l);
      if (l->busy_sent && l->bytes <= ROOM_AT) {
        /* Before the line runs dry: the sender's next messages arrive
         * while the actor still has these to take. */
        l->busy_sent = 0;
        send_flow(c, ACTO__W_ROOM, l->target);
      }
      if (empty) {
        acto__idmap_del(&c->area, l->target);
        if (c->spare)
          free(l);
        else
          c->spare = l;
      }
    }
  } while (k == 64);
  return c->area_paused && c->area_bytes <= c->node->area_max / 2;
}

int acto__area_full(const acto__conn *c) { return c->area_bytes > c->node->area_max; }

void acto__area_close(acto__conn *c) {
  acto__node *n = c->node;
  acto__area_frame_end(c);
  for (size_t i = 0; i < c->area.cap; i++) {
    acto__line *l = c->area.slots[i].val;
    if (!l)
      continue;
    acto__msg *m;
    ST_SUB(n, waiting, 1); /* the parked head: cancelled or on its way */
    while ((m = msg_pop(l)) != NULL) {
      ST_SUB(n, waiting, 1);
      m->target_id = l->target;
      acto__send_dead_letter(n->sys, m, ACTO_DEAD_NOCONNECTION);
    }
    if (acto__send_node_cancel(n->sys, l->held, l->parked, &l->tw)) {
      free(l);
    } else {
      /* Its verdict is on the way: the twaiter fires later. */
      l->next_zombie = n->zombies;
      n->zombies = l;
    }
  }
  acto__idmap_free(&c->area);
  c->area_bytes = 0;
  if (c->spare && c->spare->parked == NULL) {
    free(c->spare);
  } else if (c->spare) {
    /* Parked but not recorded (the map could not grow). */
    if (acto__send_node_cancel(n->sys, c->spare->held, c->spare->parked, &c->spare->tw)) {
      free(c->spare);
    } else {
      c->spare->next_zombie = n->zombies;
      n->zombies = c->spare;
    }
  }
  c->spare = NULL;
}

int acto__area_reap(acto__node *n, int all) {
  acto__line **pp = &n->zombies;
  while (*pp) {
    acto__line *l = *pp;
    if (!all && !atomic_load_explicit(&l->fired, memory_order_acquire)) {
      pp = &l->next_zombie;
      continue;
    }
    *pp = l->next_zombie;
    free(l);
  }
  return n->zombies != NULL;
}
