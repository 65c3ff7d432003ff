/* wire.h - the message kinds of the node protocol after authentication:
 * encoding one message into a growable byte buffer, and checking the
 * schema of a decoded batch.  ACTORS.md ("Wire protocol") documents every
 * byte; this file is the reference in code.
 *
 * An authenticated frame's payload is one msgpack array:
 *
 *   [ 1, msg, msg, ... ]        1 = "batch", at least one msg
 *
 * and each msg is an array whose first element is its kind:
 *
 *   INFO   [1, node_id, listen_port, frame_cap, heartbeat_timeout_ms]
 *   SEND   [2, to, from, type, flags, ask_id, payload:bin]
 *   REPLY  [3, to, ask_id, flags, status:int, type, from, payload:bin]
 *   SIGNAL [4, signal, to, from, flags, status:int, id]
 *   PING   [5, token]
 *   PONG   [6, token]
 *   BUSY   [7, target]          flow control (deliver.c, DESIGN: Flow)
 *   ROOM   [8, target]
 *   MEMBER [9, node_id, listen_port, name:bin, host:bin]   membership
 *   LEAVE  [10, node_id]                                   (cluster.c)
 *   GREG   [11, actor, stamp, name:bin]                     global names
 *   GUNREG [12, actor, name:bin]                            (global.c)
 *   JOIN   [13, actor, group:bin]                           process groups
 *   PART   [14, actor, group:bin]                           (group.c)
 *   GCAST  [15, from, type, group:bin, payload:bin]
 *
 * Every field without a type is a non-negative integer (any msgpack uint
 * or positive int encoding); status is any integer in int32 range.
 *
 * Thread ownership: pure functions on caller-owned buffers.
 */
#ifndef ACTO_WIRE_H
#define ACTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "transport/buf.h"

#define ACTO__WIRE_BATCH 1u

enum {
  ACTO__W_INFO = 1,
  ACTO__W_SEND = 2,
  ACTO__W_REPLY = 3,
  ACTO__W_SIGNAL = 4,
  ACTO__W_PING = 5,
  ACTO__W_PONG = 6,
  ACTO__W_BUSY = 7,
  ACTO__W_ROOM = 8,
  /* The cluster (ACTORS.md 13.10). */
  ACTO__W_MEMBER = 9, /* cluster.c */
  ACTO__W_LEAVE = 10,
  ACTO__W_GREG = 11, /* global.c */
  ACTO__W_GUNREG = 12,
  ACTO__W_JOIN = 13, /* group.c */
  ACTO__W_PART = 14,
  ACTO__W_GCAST = 15,
};

/* SEND and REPLY flags. */
enum {
  ACTO__WF_REQUEST = 1u, /* SEND: an ask; answer with REPLY */
  ACTO__WF_FUTURE = 2u,  /* the asker is a plain thread (to/from 0) */
};

/* SIGNAL kinds (the values are also the runtime's block kinds). */
enum {
  ACTO__WS_STOP = 1,
  ACTO__WS_EXIT = 4,
  ACTO__WS_DOWN = 5,
  ACTO__WS_LINK = 6,
  ACTO__WS_UNLINK = 7,
  ACTO__WS_MONITOR = 8,
  ACTO__WS_DEMONITOR = 9,
};

/* SIGNAL flags. */
enum {
  ACTO__WSF_LINKED = 1u,      /* EXIT: from a link */
  ACTO__WSF_UNTRAPPABLE = 2u, /* EXIT: acto_kill */
};

/* A decoded message, borrowing payload bytes from the frame. */
typedef struct acto__wmsg {
  uint32_t kind;
  uint64_t f[6];         /* the integer fields in order, after the kind */
  int64_t status;        /* REPLY and SIGNAL */
  const uint8_t *payload; /* the first bin field */
  size_t payload_len;
  const uint8_t *payload2; /* the second bin field (MEMBER's host, ...) */
  size_t payload2_len;
} acto__wmsg;

/* Encoders: append one message to b.  Return 0 or ACTO_ENOMEM (b keeps
 * what it had: a failed append is rolled back). */
int acto__wire_info(acto__buf *b, uint64_t node_id, uint32_t port, uint32_t cap, uint32_t hb_ms);
int acto__wire_send(acto__buf *b, uint64_t to, uint64_t from, uint32_t type, uint32_t flags,
                    uint64_t ask_id, const void *payload, size_t len);
int acto__wire_reply(acto__buf *b, uint64_t to, uint64_t ask_id, uint32_t flags, int32_t status,
                     uint32_t type, uint64_t from, const void *payload, size_t len);
int acto__wire_signal(acto__buf *b, uint32_t sig, uint64_t to, uint64_t from, uint32_t flags,
                      int32_t status, uint64_t id);
int acto__wire_ping(acto__buf *b, uint32_t kind, uint64_t token);
/* BUSY or ROOM (kind) about the local actor id target. */
int acto__wire_flow(acto__buf *b, uint32_t kind, uint64_t target);
/* MEMBER: node `name` (id) listens at host:port.  LEAVE: node id leaves. */
int acto__wire_member(acto__buf *b, uint64_t node_id, uint32_t port, const char *name,
                      size_t name_len, const char *host, size_t host_len);
int acto__wire_leave(acto__buf *b, uint64_t node_id);

/* GREG: the sender's actor holds global name (len bytes) since stamp. */
int acto__wire_greg(acto__buf *b, uint64_t actor, uint64_t stamp, const char *name, size_t len);
/* GUNREG, JOIN or PART (kind): actor and a name (len bytes). */
int acto__wire_gname(acto__buf *b, uint32_t kind, uint64_t actor, const char *name, size_t len);
/* GCAST: a user message of type from actor `from` for every member of
 * group (glen bytes) on the receiving node. */
int acto__wire_gcast(acto__buf *b, uint64_t from, uint32_t type, const char *group, size_t glen,
                     const void *payload, size_t len);

/* The prefix of a batch payload holding n messages: the array header of
 * n + 1 elements and the batch kind.  Writes at most 6 bytes to out and
 * returns how many. */
size_t acto__wire_batch_prefix(uint8_t out[6], uint32_t n);

/* Checks one decoded batch element against the schema of its kind and
 * fills *out.  Returns 0, or ACTO_EPROTO with *reason set (unknown kind,
 * wrong field count or type, a value out of range). */
int acto__wire_parse(const msgpack_object *o, acto__wmsg *out, const char **reason);

#endif /* ACTO_WIRE_H */
