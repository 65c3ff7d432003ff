/* message.h - the message block: an intrusive queue node first, then the
 * public view, then routing fields, then (for copied payloads) the payload
 * itself in the same allocation.
 *
 * Ownership: once a send succeeds, the block belongs to the target's
 * mailbox; the consumer frees it after the handler returns
 * (acto__msg_free), and every path that discards a message (dead letters,
 * timeouts, closing) frees it there too.
 */
#ifndef ACTO_MESSAGE_H
#define ACTO_MESSAGE_H

#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>

#include "acto_actor.h"
#include "mailbox/mpscq.h"

/* What kind of block this is; everything but USER travels on the system
 * lane. */
enum {
  ACTO__KIND_USER = 0,
  ACTO__KIND_STOP = 1,        /* stop after the current message */
  ACTO__KIND_REPLY = 2,       /* reply (or failure status) to an actor's ask */
  ACTO__KIND_ASK_TIMEOUT = 3, /* an actor's ask deadline passed */
  ACTO__KIND_EXIT = 4,        /* exit signal: sender = from, status = reason */
  ACTO__KIND_DOWN = 5,        /* monitor fired: sender = who, req_id = id */
  ACTO__KIND_LINK = 6,        /* sender wants a link */
  ACTO__KIND_UNLINK = 7,      /* sender dropped its link */
  ACTO__KIND_MONITOR = 8,     /* sender monitors: req_id = id */
  ACTO__KIND_DEMONITOR = 9,   /* req_id = id */
  ACTO__KIND_SUSPEND = 10,    /* supervisor: terminate, await a verdict */
  ACTO__KIND_VERDICT = 11,    /* supervisor: restart (flag) or stop(status) */
  ACTO__KIND_NOTIFY = 12,     /* a system-lane message for handle() */
};

enum {
  ACTO__MF_REQUEST = 1u << 0, /* an ask: acto_reply answers it; whoever sets it
                                 also sets pub.flags' ACTO_MSG_FLAG_REQUEST, which
                                 the handler sees (blocks start zeroed) */
  ACTO__MF_FUTURE = 1u << 1,  /* the asker is a plain thread (future table) */
  ACTO__MF_TIMER = 1u << 2,   /* sent by a timer: check cancellation */
  ACTO__MF_REPLIED = 1u << 3, /* acto_reply already answered it */
  ACTO__MF_LINKED = 1u << 4,  /* EXIT: from a link (dropped if unlinked) */
  ACTO__MF_UNTRAPPABLE = 1u << 5, /* EXIT: acto_kill */
  ACTO__MF_RESTART = 1u << 6,     /* VERDICT: restart in place */
  ACTO__MF_REMOTE = 1u << 7,      /* arrived from another node: peer set */
};


struct acto__actor;
struct acto__origin;

/* A waiter for a message parked on a full mailbox that has no actor to
 * resume: a plain thread (condvar) or a node connection (notify, called
 * on the thread that resolved the message, after state is set). */
typedef struct acto__twaiter {
  pthread_mutex_t mtx;
  pthread_cond_t cv;
  int state; /* 0 waiting, 1 delivered, 2 target closed */
  void (*notify)(struct acto__twaiter *tw, int state);
} acto__twaiter;

/* An object a message keeps alive while it lives (a timer's record,
 * actor/timer.c): acto__msg_free drops the message's reference through
 * the object's own function, so mailbox/ need not know what it is. */
typedef struct acto__msg_hold {
  void (*drop)(struct acto__msg_hold *h);
} acto__msg_hold;

typedef struct acto__msg {
  acto__mpscq_node node; /* first: the queues link through it */
  acto_msg pub;          /* what the handler sees */
  uint16_t kind;
  uint16_t flags;
  union {
    int32_t status; /* REPLY: 0 or the failure code; EXIT, DOWN: the reason */
    uint32_t epoch; /* REMOTE user message: its origin's epoch on arrival */
  };
  uint64_t req_id; /* REQUEST/REPLY/ASK_TIMEOUT: the ask id */
  void (*free_fn)(void *); /* handed-over payload: freed with this */
  /* Set only while the block waits on a full mailbox (mailbox.c's waiter
   * list): who to resume once it is delivered. */
  struct acto__actor *parker;
  struct acto__twaiter *twaiter;
  union {
    acto__msg_hold *held;    /* TIMER: the timer's record (a reference) */
    const struct acto__origin *origin; /* REMOTE: the node it came from */
  };
  uint64_t target_id;            /* for dead-letter reports */
  struct acto__msgcache *cache;  /* owning worker cache, NULL: plain malloc */
  alignas(16) unsigned char inline_data[];
} acto__msg;

/* ---- per-worker block caches ---------------------------------------------
 * Small blocks (payload up to ACTO_INLINE_MAX) come from the allocating
 * worker's cache and go back to it: directly when that worker frees them,
 * otherwise in batches through its lock-free return stack.  Plain threads
 * allocate with malloc; blocks they free return to their owner one by one. */

#define ACTO__MSG_BATCH 32

typedef struct acto__msg_chain {
  acto__msg *head, *tail;
  uint32_t n;
} acto__msg_chain;

typedef struct acto__msgcache {
  /* Owner only. */
  acto__msg *local;
  uint32_t nlocal;
  acto__msg_chain *pending; /* per owner index: blocks to give back */
  struct acto__msgcache **all;
  unsigned nall, idx;
  /* Any thread pushes (CAS), the owner takes all (exchange). */
  _Atomic(acto__msg *) remote;
} acto__msgcache;

/* The calling thread's cache (set by worker threads), or NULL. */
extern _Thread_local acto__msgcache *acto__tls_msgcache;

/* Creates n caches that know each other; NULL on allocation failure. */
acto__msgcache **acto__msgcache_create(unsigned n);
/* Gives back every pending batch of this (the caller's) cache. */
void acto__msgcache_flush(acto__msgcache *c);
/* Frees every cached block of all n caches.  No block may be in use. */
void acto__msgcache_destroy(acto__msgcache **all, unsigned n);

/* Allocates a block for `size` payload bytes: copied into the block when
 * free_fn is NULL, otherwise `data` is handed over (freed with free_fn on
 * acto__msg_free).  Returns NULL on allocation failure (the handed-over
 * payload is then NOT freed: the caller does it). */
acto__msg *acto__msg_new(uint32_t type, const void *data, size_t size, void (*free_fn)(void *));

/* Frees the block and a handed-over payload.  Drops the held reference. */
void acto__msg_free(acto__msg *m);

#endif /* ACTO_MESSAGE_H */
