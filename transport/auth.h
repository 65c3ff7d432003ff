/* auth.h - authentication of the node protocol: the shared key file, the
 * mutual challenge-response handshake, and the MAC on every frame after it.
 *
 * This is a pure state machine: no sockets, no threads, no clock.  The node
 * layer carries each handshake message as the payload of one pre-auth frame
 * (frame.h, tag_len 0, cap ACTO__FRAME_CAP_PREAUTH), feeds what it receives
 * to acto__auth_feed and sends what that returns; it owns the handshake
 * timeout and the caps on pending handshakes and peers.  After DONE every
 * frame body is `payload || tag` with the tag from acto__auth_seal, checked
 * by acto__auth_open.
 *
 * ---- Key file ---------------------------------------------------------------
 * The key file holds the key as hexadecimal text (either case), 64 to 128
 * hex digits (32 to 64 bytes), optionally preceded and followed by
 * whitespace (space, tab, CR, LF; a trailing newline is usual) but with
 * none inside the digits; the whole file is at most 192 bytes.  It must be
 * a regular file (a symbolic link in its last component is refused, not
 * followed), owned by the current user, with no group or other permission
 * bits (0600 or stricter).  Hex rather than raw bytes: it survives
 * editors, copy-paste and config management, and a truncated or binary
 * file is detected instead of being silently used.
 *
 * ---- Handshake messages -----------------------------------------------------
 * Each message is exactly one msgpack bin 8 object, so that a pre-auth
 * frame payload is still "one msgpack object" (frame.h); the bin header is
 * checked like every other byte.  All lengths are exact: a message one byte
 * short or long is refused.  V = ACTO__AUTH_VERSION, N = name length.
 *
 *   HELLO (client -> server), 5 + N + 32 bytes:
 *     [0]        0xc4           msgpack bin 8
 *     [1]        3 + N + 32     bytes that follow
 *     [2]        0x01           type HELLO
 *     [3]        V              protocol version
 *     [4]        N              client name length, 1..64
 *     [5..5+N)   name_c         client node name
 *     [+32]      nonce_c        fresh random nonce of the client
 *
 *   CHALLENGE (server -> client), 5 + N + 64 bytes:
 *     [0]        0xc4
 *     [1]        3 + N + 64
 *     [2]        0x02           type CHALLENGE
 *     [3]        V
 *     [4]        N              server name length, 1..64
 *     [5..5+N)   name_s
 *     [+32]      nonce_s        fresh random nonce of the server
 *     [+32]      mac_s
 *
 *   RESPONSE (client -> server), 36 bytes:
 *     [0]        0xc4
 *     [1]        34
 *     [2]        0x03           type RESPONSE
 *     [3]        V
 *     [4..36)    mac_c
 *
 * A name is 1..64 bytes of [A-Za-z0-9._@-] (so it can be printed and
 * interned with a bound).  The MACs, with K the shared key and the labels
 * written without a terminating NUL (both are 14 bytes):
 *
 *   T     = V || nonce_c || nonce_s || u8 N_c || name_c || u8 N_s || name_s
 *   mac_s = HMAC-SHA256(K, "acto-v1 server" || T)
 *   mac_c = HMAC-SHA256(K, "acto-v1 client" || T)
 *
 * Each name is prefixed by its length, so the encoding is unambiguous.  The
 * labels make a server's proof useless as a client's (reflection), and
 * each side's fresh nonce makes an old message useless in a new session
 * (replay).  The client checks mac_s first: with a wrong key the CLIENT
 * refuses first (on the CHALLENGE) and never sends a RESPONSE; a client
 * that does not know the key is refused by the server on the RESPONSE.
 *
 * ---- Frame keys and tags ----------------------------------------------------
 *   k_c2s = HMAC-SHA256(K, "acto-v1 c2s" || nonce_c || nonce_s)
 *   k_s2c = HMAC-SHA256(K, "acto-v1 s2c" || nonce_c || nonce_s)
 *   tag   = HMAC-SHA256(k_dir, u64 seq little-endian || u32 len
 *                        little-endian || payload)
 * where seq counts the frames sent in that direction since DONE, from 0.
 * The sequence number is implicit (never on the wire), so a replayed,
 * dropped, reordered or reflected frame fails to verify.
 *
 * Thread ownership: an acto__auth belongs to one connection and is used by
 * its event-loop thread only; nothing here locks.  The key functions are
 * thread-safe.
 */
#ifndef ACTO_AUTH_H
#define ACTO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "acto_error.h"

#define ACTO__AUTH_VERSION 3u
#define ACTO__AUTH_KEY_MIN 32u  /* bytes */
#define ACTO__AUTH_KEY_MAX 64u  /* bytes */
#define ACTO__AUTH_NAME_MAX 64u /* bytes, without a terminating NUL */
#define ACTO__AUTH_NONCE_LEN 32u
#define ACTO__AUTH_MAC_LEN 32u
#define ACTO__AUTH_TAG_LEN 32u /* == ACTO__FRAME_TAG_LEN */

/* Message types (byte 2 of every message). */
enum {
  ACTO__AUTH_MSG_HELLO = 1,
  ACTO__AUTH_MSG_CHALLENGE = 2,
  ACTO__AUTH_MSG_RESPONSE = 3,
};

/* The longest handshake message (a CHALLENGE with a 64-byte name): 133
 * bytes, well under ACTO__FRAME_CAP_PREAUTH.  Output buffers passed to
 * acto__auth_start and acto__auth_feed must hold at least this much. */
#define ACTO__AUTH_MSG_MAX (5u + ACTO__AUTH_NAME_MAX + 2u * 32u)

/* A shared key.  Wipe it with acto__auth_key_wipe when done. */
typedef struct acto__auth_key {
  uint8_t bytes[ACTO__AUTH_KEY_MAX];
  size_t len; /* ACTO__AUTH_KEY_MIN..ACTO__AUTH_KEY_MAX once loaded */
} acto__auth_key;

typedef enum acto__auth_role {
  ACTO__AUTH_CLIENT = 1, /* the connecting side: sends HELLO */
  ACTO__AUTH_SERVER = 2, /* the accepting side: answers with CHALLENGE */
} acto__auth_role;

/* Handshake states (the state field). */
enum {
  ACTO__AUTH_S_CLIENT_START = 1,  /* client: acto__auth_start is next */
  ACTO__AUTH_S_WAIT_HELLO,        /* server: waits for HELLO */
  ACTO__AUTH_S_WAIT_CHALLENGE,    /* client: HELLO sent */
  ACTO__AUTH_S_WAIT_RESPONSE,     /* server: CHALLENGE sent */
  ACTO__AUTH_S_DONE,              /* authenticated: seal and open work */
  ACTO__AUTH_S_FAILED,            /* refused: every call fails from now on */
};

/* What acto__auth_feed returns besides a negative error code. */
enum {
  ACTO__AUTH_MORE = 0, /* send the *out_len bytes written, await the next */
  ACTO__AUTH_DONE = 1, /* authenticated; send *out_len bytes first if > 0 */
};

/* One side of one connection.  The caller allocates it (the fields are
 * visible for that, and for tests); only the functions below change it. */
typedef struct acto__auth {
  int role;
  int state;
  const char *reason; /* static text of the last refusal, or NULL */
  uint8_t key[ACTO__AUTH_KEY_MAX];
  size_t key_len;
  uint8_t nonce_c[ACTO__AUTH_NONCE_LEN];
  uint8_t nonce_s[ACTO__AUTH_NONCE_LEN];
  char my_name[ACTO__AUTH_NAME_MAX + 1];
  char peer_name[ACTO__AUTH_NAME_MAX + 1];
  uint8_t my_name_len, peer_name_len;
  void *send_mac; /* EVP_MAC_CTX keyed with this side's send key (DONE) */
  void *recv_mac; /* EVP_MAC_CTX keyed with the peer's send key (DONE) */
  uint64_t send_seq, recv_seq; /* next sequence numbers */
} acto__auth;

/* ---- key file ------------------------------------------------------------ */

/* Read the key file at path (format above) into *key.  Returns 0, or:
 *   ACTO_ENOENT      no such file (or a directory of its path is missing);
 *   ACTO_EKEYPERM    a symbolic link, not a regular file, owned by another
 *                    user, with group or other permission bits, or not
 *                    readable by this user;
 *   ACTO_EKEYFORMAT  the content is not a key: empty, a byte that is not a
 *                    hex digit, whitespace inside the digits, an odd number
 *                    of digits, fewer than 64 or more than 128, or a file
 *                    longer than 192 bytes;
 *   ACTO_EIO         another failure to open or read it (errno kept);
 *   ACTO_EINVAL      a NULL path or key.
 * On failure why[0..why_size) (if why is not NULL) gets the rule that was
 * broken, as a phrase to follow the file's name ("has mode 0644: ...").
 * Opening never blocks (a FIFO is refused, not waited on).  *key is
 * written only on success; the file's bytes are wiped from memory. */
int acto__auth_key_load(const char *path, acto__auth_key *key, char *why, size_t why_size);

/* Create path (which must not exist: ACTO_EEXIST, also for a symbolic
 * link, dangling or not) with mode 0600 holding a new random 32-byte key
 * (OpenSSL RAND_bytes) as 64 hex digits and a newline.  Copies the key
 * into *key when key is not NULL.  Returns 0, ACTO_EEXIST, ACTO_ENOENT (a
 * directory of the path is missing), ACTO_EIO (errno kept; a partly
 * written file is removed), or ACTO_EINVAL for a NULL path; why as for
 * acto__auth_key_load. */
int acto__auth_key_generate(const char *path, acto__auth_key *key, char *why, size_t why_size);

/* Overwrite a key's bytes (OPENSSL_cleanse). */
void acto__auth_key_wipe(acto__auth_key *key);

/* ---- handshake ----------------------------------------------------------- */

/* Prepare one side of a handshake.  name is this node's name (rules above,
 * NUL-terminated); key is the shared key (copied before return); nonce is
 * this side's 32-byte nonce, or NULL for a fresh one from RAND_bytes (tests
 * and the fuzz target pass their own to be deterministic; a real node must
 * pass NULL).  Returns 0, ACTO_EINVAL for a bad role, name or key, or
 * ACTO_EIO when RAND_bytes fails.  *a is overwritten whole: clear a
 * session that reached DONE before reusing its struct.  On success,
 * release with acto__auth_clear. */
int acto__auth_init(acto__auth *a, acto__auth_role role, const char *name,
                    const acto__auth_key *key, const uint8_t *nonce);

/* Client only, once, first: write HELLO into out[0..out_size) and return
 * its length.  ACTO_EINVAL for a server, a second call, or out_size below
 * ACTO__AUTH_MSG_MAX. */
int acto__auth_start(acto__auth *a, uint8_t *out, size_t out_size);

/* Feed one received handshake message (one pre-auth frame payload).
 * Returns ACTO__AUTH_MORE or ACTO__AUTH_DONE with the reply (if any) in
 * out[0..*out_len); or ACTO_EPROTO with a->reason set, after which the
 * session is FAILED and the connection must be closed: wrong length or
 * layout, a version other than ACTO__AUTH_VERSION, a bad name, a wrong
 * MAC, or any message the state does not expect (a second HELLO, a
 * CHALLENGE sent to a server, anything after DONE).  ACTO_EINVAL for bad
 * arguments (state unchanged) or ACTO_ENOMEM / ACTO_EIO when libcrypto
 * fails (session FAILED).  msg is borrowed until the call returns. */
int acto__auth_feed(acto__auth *a, const uint8_t *msg, size_t len, uint8_t *out,
                    size_t out_size, size_t *out_len);

/* The peer's node name once DONE (NUL-terminated, valid until clear), or
 * NULL before. */
const char *acto__auth_peer_name(const acto__auth *a);

/* The static reason of the last refusal, or NULL. */
const char *acto__auth_reason(const acto__auth *a);

/* Wipe the keys and free the MAC contexts.  Safe on a zeroed struct and
 * twice. */
void acto__auth_clear(acto__auth *a);

/* ---- frames -------------------------------------------------------------- */

/* Compute the tag of the next outgoing frame's payload[0..len) and advance
 * the send sequence.  Returns 0; ACTO_EINVAL before DONE, after a failure,
 * for len above UINT32_MAX or NULL arguments; ACTO_ELIMIT when the send
 * sequence reached 2^64-1 (it never wraps; reconnect); ACTO_EIO when
 * libcrypto fails.  payload is borrowed until the call returns. */
int acto__auth_seal(acto__auth *a, const void *payload, size_t len,
                    uint8_t tag[ACTO__AUTH_TAG_LEN]);

/* Check the tag of the next incoming frame in constant time and advance
 * the receive sequence on success only.  Returns 0, or ACTO_EPROTO with
 * a->reason set: data before authentication, a wrong tag (a replayed,
 * reordered, dropped, truncated, bit-flipped or reflected frame), or a
 * receive sequence at 2^64-1.  A wrong tag makes the session FAILED: the
 * connection must be closed (there is no resynchronising).  ACTO_EINVAL
 * for NULL arguments or len above UINT32_MAX. */
int acto__auth_open(acto__auth *a, const void *payload, size_t len,
                    const uint8_t tag[ACTO__AUTH_TAG_LEN]);

#endif /* ACTO_AUTH_H */
