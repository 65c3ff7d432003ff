/* tls.h - encryption of the node link: TLS 1.3 from OpenSSL, keyed by the
 * cluster key as an external PSK with (EC)DHE, run over memory BIOs so
 * that the connection keeps its own sockets, batching and direct writes.
 * Internal (not installed).
 *
 * What is on the wire (ACTORS.md 13.5, "Encryption", says the same for a
 * client written in another language):
 *   - TLS 1.3 only (RFC 8446), no earlier version is offered or accepted;
 *   - cipher suite TLS_AES_128_GCM_SHA256 only;
 *   - key exchange psk_dhe_ke only: the PSK authenticates, an ephemeral
 *     X25519 (or secp256r1) exchange gives forward secrecy; psk_ke (no
 *     DHE) is never offered nor accepted;
 *   - the external PSK, identity the 15 ASCII bytes "acto-v1 cluster",
 *     hash SHA-256:
 *       PSK = HKDF-SHA256(salt = none (32 zero bytes), IKM = K,
 *                         info = "acto-v1 tls13 psk" (17 bytes), L = 32)
 *     with K the cluster key (32 to 64 bytes, auth.h);
 *   - no certificates (a server that offers one is refused), no session
 *     tickets, no resumption, no early data, no middlebox compatibility
 *     mode (a peer's dummy ChangeCipherSpec is accepted as RFC 8446 says);
 *   - inside, the byte stream is exactly the one a plain connection
 *     carries: the acto handshake frames, INFO, then sealed batches
 *     (frame.h); TLS records do not line up with frames.
 *
 * The layer, in three parts:
 *   acto__tls_ctx  per node: the SSL_CTX and the derived PSK; built at
 *                  node start, read-only afterwards (any thread).
 *   acto__tls      per connection: the SSL object, its two memory BIOs and
 *                  the ciphertext not yet sent (ct_out), all under its
 *                  mutex.  Every SSL_* call on it, and every read or send
 *                  of ct_out, happens with mtx held: the I/O thread (the
 *                  handshake, SSL_read, writes of the loop) and a worker
 *                  (the direct write of outq.c) may call in at the same
 *                  time.  mtx is a leaf lock: nothing else is locked while
 *                  it is held, and a caller that holds a peer's mutex takes
 *                  it after that one (lock order: peer mtx, then tls mtx).
 *   acto__tls_send the one write routine of a connection's socket, plain
 *                  (t == NULL) or through TLS, used by conn.c and outq.c.
 *
 * Failures set t->reason (static text) and make the session FAILED: every
 * later call fails too.  OpenSSL's error queue is per thread; each call
 * here clears it before it starts and after it read it.
 */
#ifndef ACTO_TLS_H
#define ACTO_TLS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "acto_error.h"
#include "transport/buf.h"

struct ssl_st;     /* OpenSSL's SSL */
struct ssl_ctx_st; /* SSL_CTX */
struct bio_st;     /* BIO */

#define ACTO__TLS_PSK_LEN 32u
#define ACTO__TLS_PSK_IDENTITY "acto-v1 cluster"
#define ACTO__TLS_PSK_INFO "acto-v1 tls13 psk"
/* Plaintext handed to one SSL_write (4 records of 16 KiB): bounds ct_out. */
#define ACTO__TLS_WRITE_CHUNK (64u * 1024u)
/* Records sent under one key before the sender updates it (a KeyUpdate,
 * update_not_requested): RFC 8446 5.5 bounds AES-GCM to about 2^24.5
 * full records per key; OpenSSL does not count them for us. */
#define ACTO__TLS_REKEY_RECORDS ((uint64_t)1 << 22)

/* The node's TLS configuration. */
typedef struct acto__tls_ctx {
  struct ssl_ctx_st *ctx;
  uint8_t psk[ACTO__TLS_PSK_LEN];
} acto__tls_ctx;

/* Session states (the state field). */
enum {
  ACTO__TLS_S_HANDSHAKE = 1, /* acto__tls_handshake until DONE */
  ACTO__TLS_S_OPEN,          /* application data flows */
  ACTO__TLS_S_CLOSED,        /* the peer's close_notify came, or we sent ours */
  ACTO__TLS_S_FAILED,        /* refused or broken: every call fails */
};

/* What acto__tls_handshake returns besides a negative code. */
enum { ACTO__TLS_MORE = 0, ACTO__TLS_DONE = 1 };

/* One side of one connection.  Fields under mtx; reason and state are
 * also read by the I/O thread after a call returned (it is the only
 * thread that drives the handshake or reads). */
typedef struct acto__tls {
  pthread_mutex_t mtx;
  struct ssl_st *ssl;
  struct bio_st *rbio, *wbio; /* owned by ssl */
  acto__buf ct_out;           /* ciphertext not yet sent, in order */
  int state;
  int client;
  uint64_t records;     /* records sent under the current key (at least) */
  uint64_t rekey_after; /* ACTO__TLS_REKEY_RECORDS (tests lower it) */
  uint64_t rekeys;      /* key updates sent */
  const char *reason;   /* static text of the failure, or NULL */
  char detail[96];      /* OpenSSL's reason of the last failure ("" if none) */
} acto__tls;

/* ---- the node's context ---------------------------------------------------- */

/* Builds x from the cluster key key[0..key_len) (32..64 bytes): derives
 * the PSK and makes the SSL_CTX.  Returns 0, ACTO_EINVAL (bad key length),
 * ACTO_ENOMEM or ACTO_EIO (libssl refused a setting).  Release with
 * acto__tls_ctx_clear. */
int acto__tls_ctx_init(acto__tls_ctx *x, const uint8_t *key, size_t key_len);

/* Frees the SSL_CTX and wipes the PSK.  Safe on a zeroed struct, twice. */
void acto__tls_ctx_clear(acto__tls_ctx *x);

/* out = HKDF-SHA256 of the key as above (exposed for the tests, which
 * check the documented derivation).  0, ACTO_EINVAL or ACTO_EIO. */
int acto__tls_derive_psk(const uint8_t *key, size_t key_len, uint8_t out[ACTO__TLS_PSK_LEN]);

/* ---- a connection's session ---------------------------------------------------- */

/* Prepares one side: client (the connecting side) or server.  Returns 0 or
 * ACTO_ENOMEM.  x must outlive t.  Release with acto__tls_clear. */
int acto__tls_init(acto__tls *t, const acto__tls_ctx *x, int client);

/* Frees the SSL object and ct_out.  Safe on a zeroed struct and twice. */
void acto__tls_clear(acto__tls *t);

/* Hands len bytes received from the socket to the session (copied into
 * its read BIO).  0, ACTO_ENOMEM, or ACTO_EPROTO once FAILED. */
int acto__tls_feed(acto__tls *t, const uint8_t *ct, size_t len);

/* Drives the handshake with what was fed; its answer goes to ct_out
 * (send it with acto__tls_send).  Returns ACTO__TLS_MORE, ACTO__TLS_DONE
 * (the peer proved the key, and the session is OPEN), or ACTO_EPROTO with
 * t->reason and t->detail set (an alert, a bad record, a wrong key, no
 * PSK, a certificate offered) or ACTO_ENOMEM. */
int acto__tls_handshake(acto__tls *t);

/* Decrypts what was fed, appending the plaintext to *plain (which grows).
 * Returns the number of plaintext bytes appended (0: none complete yet);
 * ACTO_ECLOSED when the peer's close_notify arrived (what came before it
 * was appended first); ACTO_EPROTO with t->reason (a record that does not
 * decrypt, an alert, a protocol error: the session is FAILED);
 * ACTO_ENOMEM.  *want_write is set when the session queued bytes of its
 * own in ct_out (an answer to a key update, an alert): the caller must
 * send them. */
long acto__tls_read(acto__tls *t, acto__buf *plain, int *want_write);

/* Writes b's unread bytes to the socket fd, consuming them from b: plain
 * with send() when t is NULL; otherwise through t, in order: first what
 * ct_out holds, then b's bytes encrypted ACTO__TLS_WRITE_CHUNK at a time
 * (the next chunk is encrypted only once ct_out is sent, so ct_out never
 * holds more than one chunk's records).  Never blocks (MSG_DONTWAIT), never
 * raises SIGPIPE.  Returns 0 when everything went out (b and ct_out
 * empty), 1 when bytes remain (EAGAIN: wait for the socket to be
 * writable), -1 on a socket error or a failed session.  *sent (not NULL)
 * gets the bytes written to the socket.  Takes t->mtx. */
int acto__tls_send(acto__tls *t, int fd, acto__buf *b, uint64_t *sent);

/* 1 when ct_out holds bytes not yet sent.  Takes t->mtx. */
int acto__tls_pending(acto__tls *t);

/* Queues our close_notify (an OPEN session) and sends what fits at once,
 * without waiting: the last thing done with a connection's socket before
 * close(). */
void acto__tls_goodbye(acto__tls *t, int fd);

/* ---- a node with encryption on meets one with it off --------------------------- */

/* The 7 bytes of a fatal protocol_version alert in a plaintext record: what
 * a node answers when the other side speaks the other protocol (a plain
 * node to a ClientHello, a TLS node to a plain acto frame), so that both
 * sides log the reason instead of a bad frame. */
#define ACTO__TLS_ALERT_LEN 7u
extern const uint8_t acto__tls_alert_protocol_version[ACTO__TLS_ALERT_LEN];

/* 1 when p[0..n) (n >= 1) can be the start of a TLS record: a content type
 * 20..23 and, if present, major version 3.  An acto frame never starts so
 * before authentication (its length is below 512: 00 00 0x). */
int acto__tls_is_record_start(const uint8_t *p, size_t n);

/* Refuses the session before OpenSSL saw a byte (the peer is not TLS):
 * FAILED with reason why, and the alert above queued in ct_out (send it
 * with acto__tls_send). */
void acto__tls_refuse(acto__tls *t, const char *why);

#endif /* ACTO_TLS_H */
