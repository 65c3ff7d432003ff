/* acto_node.h - distribution: a node makes this system's actors reachable
 * from other processes and machines over authenticated TCP, and makes
 * their actors reachable from here with the same calls as local ones.
 *
 * After acto_node_start every ref carries this node's id (node != 0), so a
 * ref copied into a message payload still names the same actor on any
 * node that receives it.  send, ask, ask_async, reply, stop, exit, kill,
 * link, unlink, monitor and demonitor take remote refs exactly like local
 * ones; the differences are listed in ACTORS.md ("Distribution") and
 * beside each call below.
 *
 * Conventions as in acto_actor.h: 0 or a count on success, a negative
 * ACTO_E* code on failure; deadlines in ms (-1 forever, 0 no wait).
 */
#ifndef ACTO_NODE_H
#define ACTO_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "acto_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Node names: 1..ACTO_NODE_NAME_MAX bytes of [A-Za-z0-9._@-]. */
#define ACTO_NODE_NAME_MAX 64u
/* Hosts: a DNS name, or a numeric IPv4 or IPv6 address (with an optional
 * %scope), 1..ACTO_NODE_HOST_MAX bytes of [A-Za-z0-9.:_%-]. */
#define ACTO_NODE_HOST_MAX 253u

/* A seed: a node to join the cluster through (ACTORS.md 13.10). */
typedef struct acto_node_seed {
  const char *name; /* the node's name */
  const char *host; /* DNS name (resolved before each attempt) or numeric */
  uint16_t port;
} acto_node_seed;

typedef struct acto_node_config {
  const char *name;       /* required: this node's name (copied) */
  /* The shared secret: either a key file (hex, mode 0600, see ACTORS.md
   * "Security") or key/key_len (32..64 raw bytes, copied).  Required. */
  const char *key_file;
  const uint8_t *key;
  size_t key_len;
  const char *listen_host; /* numeric IPv4 or IPv6 address; NULL: "127.0.0.1" */
  uint16_t listen_port;    /* 0: an ephemeral port (see acto_node_port) */
  int no_listen;           /* non-zero: only outgoing connections */
  uint32_t frame_cap;      /* body cap of a frame, the same on every node
                              (others are refused); 0: 1 MiB */
  /* Failure detection: a PING is sent every heartbeat_ms, whatever else
   * is sent; a peer from which nothing arrived for heartbeat_timeout_ms is
   * declared down.  0: 1000 ms and 4 x heartbeat_ms. */
  int64_t heartbeat_ms;
  int64_t heartbeat_timeout_ms;
  int64_t handshake_timeout_ms;    /* 0: 2000 ms */
  unsigned max_pending_handshakes; /* 0: 64 */
  unsigned max_peers;              /* known nodes at a time; 0: 256 */
  size_t out_queue_bytes;          /* per peer, unsent; 0: 8 MiB */
  /* Reconnection to a peer with a known address: capped exponential
   * backoff with jitter.  0: 100 ms and 5000 ms. */
  int64_t reconnect_min_ms;
  int64_t reconnect_max_ms;
  /* Encryption of the links (ACTORS.md "Security"): ACTO_NODE_ENCRYPT_NONE
   * (0, frames authenticated but readable) or ACTO_NODE_ENCRYPT_TLS_PSK
   * (TLS 1.3 keyed by the cluster key, forward secret).  Every node of a
   * cluster must choose the same: the two kinds refuse each other.  (A
   * reserved word: the union keeps the struct's size and layout.) */
  union {
    uint32_t encryption;
    uint64_t encryption_word_; /* its 4 other bytes: zero */
  };
  /* The cluster (ACTORS.md 13.10): nodes to join through (copied).  Each
   * is connected and reconnected as by acto_node_connect, and every node
   * a member tells of is connected too: a full mesh.  NULL/0: none (this
   * node may still be a seed of others). */
  const acto_node_seed *seeds;
  size_t nseeds;
  uint64_t reserved[5]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_node_config;

/* acto_node_config.encryption */
#define ACTO_NODE_ENCRYPT_NONE 0u
#define ACTO_NODE_ENCRYPT_TLS_PSK 1u

/* Starts this system's node: loads the key, binds and listens, and starts
 * the node's I/O thread (libevent; it runs behaviour code only for
 * behaviours with ACTO_BEHAVIOUR_IO_TURNS).  Must
 * come before the first acto_spawn (ACTO_EALREADY after a spawn or a
 * second start): every ref then carries the node id.  Not in deterministic
 * mode (ACTO_EINVAL).  A key file that is refused: ACTO_ENOENT (missing),
 * ACTO_EKEYPERM (a symbolic link, not a regular file, another owner,
 * group or other permission bits), ACTO_EKEYFORMAT (not 64 to 128 hex
 * digits), ACTO_EIO (errno kept).  ACTO_EIO when the address cannot be
 * bound (errno kept).  Every refusal also logs one line (ACTO_LOG_ERROR,
 * component "node") that names the rule, and the file.  Thread-safe; cfg
 * is borrowed until the call returns. */
ACTO_API int acto_node_start(acto_system *sys, const acto_node_config *cfg);

/* Stops the node: tells every peer it leaves (their member events say
 * "left", acto_cluster.h), closes every connection (peers see this node
 * go down) and joins the I/O thread.  Messages still queued for other nodes become
 * dead letters (ACTO_DEAD_NOCONNECTION).  acto_system_shutdown does this
 * first by itself.  Not from inside an actor.  Thread-safe. */
ACTO_API int acto_node_stop(acto_system *sys);

/* This node's id (name hash and incarnation, see ACTORS.md), its listening
 * port.  ACTO_ENOTCONN when no node runs.  Thread-safe. */
ACTO_API int acto_node_self(acto_system *sys, uint64_t *node_out);
ACTO_API int acto_node_port(acto_system *sys, uint16_t *port_out);

/* Adds the node `name` at host:port (a DNS name, resolved before each
 * attempt off the I/O thread, or a numeric IPv4 or IPv6 address) to the known nodes and
 * connects to it; a known node is reconnected with backoff after it goes
 * down.  Waits up to timeout_ms for the connection to be up (0: return at
 * once, 0 or ACTO_ETIMEDOUT meaning "not yet").  ACTO_EAUTH when the peer
 * refused us or we refused it (wrong key, or it is not `name`),
 * ACTO_ENOTCONN when it cannot be reached, ACTO_ELIMIT when all max_peers
 * slots are in use (ACTORS.md "Failure detection and tuning").
 * Thread-safe, not from inside an actor when timeout_ms != 0
 * (ACTO_EDEADLK). */
ACTO_API int acto_node_connect(acto_system *sys, const char *name, const char *host,
                               uint16_t port, int64_t timeout_ms);

/* The id of the known node `name` in its current incarnation: ACTO_ENOENT
 * if unknown, ACTO_ENOTCONN if it is not up.  Thread-safe. */
ACTO_API int acto_node_id(acto_system *sys, const char *name, uint64_t *node_out);

/* Looks up `name` in the registry of the node `node_name` (connecting on
 * demand if it is known) and waits up to timeout_ms: 0 and *out,
 * ACTO_ENOENT (no such name there), ACTO_ENOTCONN, ACTO_ETIMEDOUT.  A
 * node_name equal to this node's name looks up locally.  Only from a
 * plain thread (ACTO_EDEADLK); inside an actor ask the node's service
 * (acto_node_service) with ACTO_MSG_NODE_LOOKUP instead. */
ACTO_API int acto_node_lookup(acto_system *sys, const char *node_name, const char *name,
                              int64_t timeout_ms, acto_ref *out);

/* The node service of a connected node: an ask to it of type
 * ACTO_MSG_NODE_LOOKUP with the name as payload (no NUL) is answered, by
 * the remote node itself, with a reply of that type carrying the ref as 16
 * bytes, its id then its node, each a little-endian u64 (on a
 * little-endian machine, the bytes of an acto_ref), or with size 0 when
 * the name is unknown.  ACTO_ENOTCONN if the node is not up.
 * Thread-safe. */
#define ACTO_MSG_NODE_LOOKUP 0xF0000010u
ACTO_API int acto_node_service(acto_system *sys, const char *node_name, acto_ref *out);

/* Reads the answer to such a lookup, the payload of the reply (a
 * continuation's reply->data and reply->size, or an acto_reply_buf's):
 * 0 and *out, ACTO_ENOENT for the empty answer (no such name there),
 * ACTO_EPROTO for any size but 0 and 16, ACTO_EINVAL for out NULL or data
 * NULL with a size.  Reads the little-endian u64s byte by byte, so it is
 * right on any machine: never memcpy the answer into an acto_ref.
 * Thread-safe; data is borrowed until the call returns. */
ACTO_API int acto_node_lookup_result(const void *data, size_t size, acto_ref *out);

/* Node events: up (a connection is authenticated and ready) and down
 * (closed, silent past the heartbeat timeout, or unreachable), with a
 * static reason text.  Called on the I/O thread: quick, thread-safe, no
 * blocking acto calls.  fn NULL removes it.  Thread-safe. */
typedef enum acto_node_event { ACTO_NODE_UP = 1, ACTO_NODE_DOWN = 2 } acto_node_event;
typedef void (*acto_node_event_fn)(void *user, acto_node_event ev, const char *node_name,
                                   uint64_t node_id, const char *reason);
ACTO_API int acto_node_set_event_hook(acto_system *sys, acto_node_event_fn fn, void *user);

typedef struct acto_node_stats {
  uint64_t peers_up;            /* connections up now */
  uint64_t connects;            /* connections that came up */
  uint64_t disconnects;         /* connections that went down after up */
  uint64_t handshakes_refused;  /* wrong key, bad name, protocol, caps,
                                   handshake timeouts */
  uint64_t frames_in, frames_out; /* frames accepted (a refused frame
                                     counts in bad_frames only) and sent */
  uint64_t msgs_in, msgs_out;     /* messages of accepted frames, sent */
  uint64_t bytes_in, bytes_out;
  uint64_t bad_frames;          /* connections closed for a malformed frame */
  uint64_t heartbeat_timeouts;  /* silent peers, and peers that do not read */
  uint64_t parks;               /* sends parked on a full outgoing queue
                                   or a busy target */
  /* Flow control (ACTORS.md 13.2): BUSY and ROOM sent (a local actor's
   * mailbox was full for a peer's messages, and has room again), BUSY
   * received, sends that parked, waited or failed because their target
   * was busy, and reading stopped at the waiting area's bound (a peer
   * that ignores BUSY). */
  uint64_t busy_sent, rooms_sent, busy_received, busy_parks, area_pauses;
  uint64_t waiting; /* now: peers' messages waiting for full mailboxes */
  uint64_t reserved[2]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_node_stats;
ACTO_API int acto_node_get_stats(acto_system *sys, acto_node_stats *out);

/* Writes a new random 32-byte key to path (which must not exist, not
 * even as a dangling symbolic link), mode 0600, as 64 hex digits and a
 * newline.  ACTO_EINVAL (NULL), ACTO_EEXIST, ACTO_ENOENT (its directory
 * is missing), ACTO_EIO (errno kept).  A refusal logs one line to the
 * default log sink (stderr, never blocking: there is no system to carry
 * a hook).  Thread-safe. */
ACTO_API int acto_node_keygen(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* ACTO_NODE_H */
