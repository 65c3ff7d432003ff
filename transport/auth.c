/* auth.c - the shared key file, the mutual handshake and the frame MACs of
 * the node protocol (see auth.h for every byte on the wire).
 *
 * DESIGN
 * A session is a small state machine driven by the caller: it never reads
 * a socket or a clock, so the node layer decides timeouts and caps, and
 * tests and the fuzz target drive both sides in one thread.  Every
 * refusal moves the session to FAILED, where every later call fails too:
 * after one bad byte from a peer nothing it sends is believed.
 *
 * Parsing is by exact length: each message type has one size for a given
 * name length, and the bytes are checked in order (bin header, type,
 * version, name, then the MAC), so no field is read before its length was
 * checked against the message.  MACs are compared with CRYPTO_memcmp only.
 *
 * The handshake MACs are computed with a throw-away EVP_MAC_CTX; the two
 * frame keys get one long-lived context each at DONE, re-initialised per
 * frame with EVP_MAC_init(ctx, NULL, ...) (HMAC keeps its key), so a frame
 * costs no allocation.  Keys and derived keys are wiped with
 * OPENSSL_cleanse when the session is cleared.
 */
#include "transport/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define LABEL_LEN 14u
static const char LABEL_SERVER[] = "acto-v1 server";
static const char LABEL_CLIENT[] = "acto-v1 client";
static const char LABEL_C2S[] = "acto-v1 c2s";
static const char LABEL_S2C[] = "acto-v1 s2c";

#define BIN8 0xc4u
#define RESPONSE_LEN (4u + ACTO__AUTH_MAC_LEN)

/* ---- HMAC-SHA256 ----------------------------------------------------------- */

/* A new HMAC-SHA256 context keyed with key[0..len), or NULL. */
static EVP_MAC_CTX *hmac_new(const uint8_t *key, size_t len) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (mac == NULL)
    return NULL;
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac); /* the context keeps its own reference */
  if (ctx == NULL)
    return NULL;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx, key, len, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

struct part {
  const void *p;
  size_t n;
};

/* out = HMAC-SHA256(key, parts...).  Returns 0 or ACTO_ENOMEM. */
static int hmac_parts(const uint8_t *key, size_t key_len, const struct part *parts,
                      size_t nparts, uint8_t out[32]) {
  EVP_MAC_CTX *ctx = hmac_new(key, key_len);
  if (ctx == NULL)
    return ACTO_ENOMEM;
  int ok = 1;
  for (size_t i = 0; i < nparts && ok; i++)
    ok = EVP_MAC_update(ctx, parts[i].p, parts[i].n) == 1;
  size_t outl = 0;
  ok = ok && EVP_MAC_final(ctx, out, &outl, 32) == 1 && outl == 32;
  EVP_MAC_CTX_free(ctx);
  return ok ? 0 : ACTO_ENOMEM;
}

/* ---- key file -------------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Writes the broken rule into why (if any) and returns code. */
__attribute__((format(printf, 4, 5))) static int refuse_key(char *why, size_t why_size, int code,
                                                            const char *fmt, ...) {
  if (why != NULL && why_size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* errno e as text (thread-safe). */
static const char *errtext(int e, char *buf, size_t n) { return strerror_r(e, buf, n); }

/* The most a key file holds: 128 hex digits with 64 bytes of whitespace
 * around them. */
#define KEY_FILE_MAX (2u * ACTO__AUTH_KEY_MAX + 64u)

int acto__auth_key_load(const char *path, acto__auth_key *key, char *why, size_t why_size) {
  if (path == NULL || key == NULL)
    return refuse_key(why, why_size, ACTO_EINVAL, "is not given (NULL)");
  char eb[128];
  /* O_NOFOLLOW: a link is refused, not followed (it could be swapped for
   * another file); O_NONBLOCK: a FIFO must not block the caller. */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    struct stat lst;
    if (e == ENOENT || e == ENOTDIR)
      return refuse_key(why, why_size, ACTO_ENOENT,
                        "does not exist (acto_node_keygen makes a key file)");
    if (e == ELOOP && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
      return refuse_key(why, why_size, ACTO_EKEYPERM,
                        "is a symbolic link: a key file is never opened through a link; "
                        "give the path of the file itself");
    if (e == EACCES || e == EPERM)
      return refuse_key(why, why_size, ACTO_EKEYPERM,
                        "cannot be read by this user (permission denied)");
    refuse_key(why, why_size, ACTO_EIO, "cannot be opened: %s", errtext(e, eb, sizeof eb));
    errno = e;
    return ACTO_EIO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    refuse_key(why, why_size, ACTO_EIO, "cannot be examined: %s", errtext(e, eb, sizeof eb));
    errno = e;
    return ACTO_EIO;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return refuse_key(why, why_size, ACTO_EKEYPERM,
                      "is not a regular file (a directory, FIFO, socket or device)");
  }
  if (st.st_uid != geteuid()) {
    close(fd);
    return refuse_key(why, why_size, ACTO_EKEYPERM,
                      "is owned by uid %u, not by uid %u that runs the node",
                      (unsigned)st.st_uid, (unsigned)geteuid());
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return refuse_key(why, why_size, ACTO_EKEYPERM,
                      "has mode %04o: group or others have access; a key file must be "
                      "0600 or stricter (chmod 600)",
                      (unsigned)(st.st_mode & 07777));
  }
  /* One byte more than the most allowed, to tell "too long" from "full". */
  uint8_t buf[KEY_FILE_MAX + 1];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fd, buf + have, sizeof buf - have);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      refuse_key(why, why_size, ACTO_EIO, "cannot be read: %s", errtext(e, eb, sizeof eb));
      errno = e;
      return ACTO_EIO;
    }
    if (r == 0 || (have += (size_t)r) == sizeof buf)
      break;
  }
  close(fd);
  int rc = 0;
  size_t b = 0, e = have;
  while (b < e && is_space(buf[b]))
    b++;
  while (e > b && is_space(buf[e - 1]))
    e--;
  size_t digits = e - b;
  const char *rule = "a key is 64 to 128 hex digits (32 to 64 bytes)";
  if (have == sizeof buf) {
    rc = refuse_key(why, why_size, ACTO_EKEYFORMAT,
                    "is longer than %u bytes: %s, with whitespace only before and after them",
                    KEY_FILE_MAX, rule);
  } else if (digits == 0) {
    rc = refuse_key(why, why_size, ACTO_EKEYFORMAT, "is empty: %s", rule);
  } else {
    for (size_t i = b; i < e && rc == 0; i++) {
      if (is_space(buf[i]))
        rc = refuse_key(why, why_size, ACTO_EKEYFORMAT,
                        "has whitespace inside the key (byte %zu): whitespace is allowed only "
                        "before and after the hex digits",
                        i);
      else if (hexval(buf[i]) < 0)
        rc = refuse_key(why, why_size, ACTO_EKEYFORMAT,
                        "has a byte that is not a hex digit (0x%02x at byte %zu): %s, "
                        "0-9 a-f A-F",
                        buf[i], i, rule);
    }
    if (rc == 0 && digits % 2 != 0)
      rc = refuse_key(why, why_size, ACTO_EKEYFORMAT,
                      "has an odd number of hex digits (%zu): each key byte is two digits",
                      digits);
    else if (rc == 0 && digits < 2 * ACTO__AUTH_KEY_MIN)
      rc = refuse_key(why, why_size, ACTO_EKEYFORMAT, "is too short (%zu hex digits): %s",
                      digits, rule);
    else if (rc == 0 && digits > 2 * ACTO__AUTH_KEY_MAX)
      rc = refuse_key(why, why_size, ACTO_EKEYFORMAT, "is too long (%zu hex digits): %s",
                      digits, rule);
  }
  if (rc == 0) {
    acto__auth_key k;
    for (size_t i = 0; i < digits / 2; i++)
      k.bytes[i] = (uint8_t)(hexval(buf[b + 2 * i]) << 4 | hexval(buf[b + 2 * i + 1]));
    k.len = digits / 2;
    *key = k;
    OPENSSL_cleanse(&k, sizeof k);
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return rc;
}

int acto__auth_key_generate(const char *path, acto__auth_key *key, char *why, size_t why_size) {
  if (path == NULL)
    return refuse_key(why, why_size, ACTO_EINVAL, "is not given (NULL)");
  acto__auth_key k = {.len = 32};
  char eb[128];
  if (RAND_bytes(k.bytes, 32) != 1) {
    errno = EIO;
    return refuse_key(why, why_size, ACTO_EIO, "cannot be made: no random bytes from OpenSSL");
  }
  char text[2 * 32 + 1];
  static const char HEX[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; i++) {
    text[2 * i] = HEX[k.bytes[i] >> 4];
    text[2 * i + 1] = HEX[k.bytes[i] & 15];
  }
  text[64] = '\n';
  int rc = 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST)
      rc = refuse_key(why, why_size, ACTO_EEXIST,
                      "exists already (a key file is never overwritten)");
    else if (e == ENOENT || e == ENOTDIR)
      rc = refuse_key(why, why_size, ACTO_ENOENT, "cannot be created: its directory is missing");
    else
      rc = refuse_key(why, why_size, ACTO_EIO, "cannot be created: %s",
                      errtext(e, eb, sizeof eb));
    errno = e;
    goto out;
  }
  /* The umask can only remove bits; fchmod makes it exactly 0600. */
  size_t done = 0;
  if (fchmod(fd, 0600) != 0)
    rc = ACTO_EIO;
  while (rc == 0 && done < sizeof text) {
    ssize_t w = write(fd, text + done, sizeof text - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      rc = ACTO_EIO;
    else
      done += (size_t)w;
  }
  if (rc == 0 && fsync(fd) != 0)
    rc = ACTO_EIO;
  int e = errno;
  if (close(fd) != 0 && rc == 0)
    rc = ACTO_EIO, e = errno;
  if (rc != 0) {
    refuse_key(why, why_size, ACTO_EIO, "cannot be written: %s", errtext(e, eb, sizeof eb));
    unlink(path);
    errno = e;
  } else if (key != NULL) {
    *key = k;
  }
out:
  OPENSSL_cleanse(&k, sizeof k);
  OPENSSL_cleanse(text, sizeof text);
  return rc;
}

void acto__auth_key_wipe(acto__auth_key *key) {
  if (key != NULL)
    OPENSSL_cleanse(key, sizeof *key);
}

/* ---- handshake ------------------------------------------------------------- */

static int name_char_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '@' || c == '-';
}

static int name_ok(const uint8_t *p, size_t n) {
  if (n == 0 || n > ACTO__AUTH_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!name_char_ok(p[i]))
      return 0;
  return 1;
}

int acto__auth_init(acto__auth *a, acto__auth_role role, const char *name,
                    const acto__auth_key *key, const uint8_t *nonce) {
  if (a == NULL)
    return ACTO_EINVAL;
  memset(a, 0, sizeof *a);
  if ((role != ACTO__AUTH_CLIENT && role != ACTO__AUTH_SERVER) || name == NULL ||
      key == NULL || key->len < ACTO__AUTH_KEY_MIN || key->len > ACTO__AUTH_KEY_MAX)
    return ACTO_EINVAL;
  size_t n = strnlen(name, ACTO__AUTH_NAME_MAX + 1);
  if (!name_ok((const uint8_t *)name, n))
    return ACTO_EINVAL;
  uint8_t *mine = role == ACTO__AUTH_CLIENT ? a->nonce_c : a->nonce_s;
  if (nonce != NULL)
    memcpy(mine, nonce, ACTO__AUTH_NONCE_LEN);
  else if (RAND_bytes(mine, ACTO__AUTH_NONCE_LEN) != 1)
    return ACTO_EIO;
  memcpy(a->key, key->bytes, key->len);
  a->key_len = key->len;
  memcpy(a->my_name, name, n);
  a->my_name_len = (uint8_t)n;
  a->role = role;
  a->state = role == ACTO__AUTH_CLIENT ? ACTO__AUTH_S_CLIENT_START : ACTO__AUTH_S_WAIT_HELLO;
  return 0;
}

/* The names in transcript order: the client's, then the server's. */
static void names(const acto__auth *a, const char **nc, uint8_t *lc, const char **ns,
                  uint8_t *ls) {
  if (a->role == ACTO__AUTH_CLIENT) {
    *nc = a->my_name, *lc = a->my_name_len, *ns = a->peer_name, *ls = a->peer_name_len;
  } else {
    *nc = a->peer_name, *lc = a->peer_name_len, *ns = a->my_name, *ls = a->my_name_len;
  }
}

/* mac = HMAC(K, label || T), T as in auth.h. */
static int transcript_mac(const acto__auth *a, const char *label, uint8_t mac[32]) {
  const char *nc, *ns;
  uint8_t lc, ls;
  names(a, &nc, &lc, &ns, &ls);
  uint8_t ver = ACTO__AUTH_VERSION;
  struct part parts[] = {
      {label, LABEL_LEN},          {&ver, 1},
      {a->nonce_c, 32},            {a->nonce_s, 32},
      {&lc, 1},                    {nc, lc},
      {&ls, 1},                    {ns, ls},
  };
  return hmac_parts(a->key, a->key_len, parts, sizeof parts / sizeof parts[0], mac);
}

/* Derive both frame keys and key the two long-lived contexts. */
static int derive_frame_keys(acto__auth *a) {
  uint8_t c2s[32], s2c[32];
  struct part pc[] = {{LABEL_C2S, sizeof LABEL_C2S - 1}, {a->nonce_c, 32}, {a->nonce_s, 32}};
  struct part ps[] = {{LABEL_S2C, sizeof LABEL_S2C - 1}, {a->nonce_c, 32}, {a->nonce_s, 32}};
  int rc = hmac_parts(a->key, a->key_len, pc, 3, c2s);
  if (rc == 0)
    rc = hmac_parts(a->key, a->key_len, ps, 3, s2c);
  if (rc == 0) {
    int client = a->role == ACTO__AUTH_CLIENT;
    a->send_mac = hmac_new(client ? c2s : s2c, 32);
    a->recv_mac = hmac_new(client ? s2c : c2s, 32);
    if (a->send_mac == NULL || a->recv_mac == NULL)
      rc = ACTO_ENOMEM;
  }
  OPENSSL_cleanse(c2s, sizeof c2s);
  OPENSSL_cleanse(s2c, sizeof s2c);
  return rc;
}

static int fail(acto__auth *a, int code, const char *why) {
  a->state = ACTO__AUTH_S_FAILED;
  a->reason = why;
  return code;
}

int acto__auth_start(acto__auth *a, uint8_t *out, size_t out_size) {
  if (a == NULL || out == NULL || out_size < ACTO__AUTH_MSG_MAX ||
      a->state != ACTO__AUTH_S_CLIENT_START)
    return ACTO_EINVAL;
  size_t n = a->my_name_len;
  out[0] = BIN8;
  out[1] = (uint8_t)(3 + n + 32);
  out[2] = ACTO__AUTH_MSG_HELLO;
  out[3] = ACTO__AUTH_VERSION;
  out[4] = (uint8_t)n;
  memcpy(out + 5, a->my_name, n);
  memcpy(out + 5 + n, a->nonce_c, 32);
  a->state = ACTO__AUTH_S_WAIT_CHALLENGE;
  return (int)(5 + n + 32);
}

/* Check the 4-byte header shared by every message; returns NULL or why. */
static const char *check_header(const uint8_t *msg, size_t len, unsigned type) {
  if (len < 4)
    return "handshake: message too short";
  if (msg[0] != BIN8 || (size_t)msg[1] + 2 != len)
    return "handshake: not a msgpack bin 8 of the message's length";
  if (msg[2] != type)
    return "handshake: unexpected message type for this state";
  if (msg[3] != ACTO__AUTH_VERSION)
    return "handshake: protocol version mismatch";
  return NULL;
}

/* Parse the name at msg[4..] of a message whose fixed tail is tail bytes;
 * copies it into a->peer_name.  Returns NULL or why. */
static const char *take_name(acto__auth *a, const uint8_t *msg, size_t len, size_t tail) {
  if (len < 5)
    return "handshake: message too short";
  size_t n = msg[4];
  if (len != 5 + n + tail)
    return "handshake: message length does not match its name length";
  if (!name_ok(msg + 5, n))
    return "handshake: bad node name";
  memcpy(a->peer_name, msg + 5, n);
  a->peer_name[n] = '\0';
  a->peer_name_len = (uint8_t)n;
  return NULL;
}

/* Server, WAIT_HELLO: take HELLO, answer with CHALLENGE. */
static int on_hello(acto__auth *a, const uint8_t *msg, size_t len, uint8_t *out,
                    size_t *out_len) {
  const char *why = check_header(msg, len, ACTO__AUTH_MSG_HELLO);
  if (why == NULL)
    why = take_name(a, msg, len, 32);
  if (why != NULL)
    return fail(a, ACTO_EPROTO, why);
  memcpy(a->nonce_c, msg + len - 32, 32);
  if (CRYPTO_memcmp(a->nonce_c, a->nonce_s, 32) == 0)
    return fail(a, ACTO_EPROTO, "handshake: peer echoed our nonce");
  uint8_t mac[32];
  int rc = transcript_mac(a, LABEL_SERVER, mac);
  if (rc != 0)
    return fail(a, rc, "handshake: libcrypto failed");
  size_t n = a->my_name_len;
  out[0] = BIN8;
  out[1] = (uint8_t)(3 + n + 64);
  out[2] = ACTO__AUTH_MSG_CHALLENGE;
  out[3] = ACTO__AUTH_VERSION;
  out[4] = (uint8_t)n;
  memcpy(out + 5, a->my_name, n);
  memcpy(out + 5 + n, a->nonce_s, 32);
  memcpy(out + 5 + n + 32, mac, 32);
  *out_len = 5 + n + 64;
  a->state = ACTO__AUTH_S_WAIT_RESPONSE;
  return ACTO__AUTH_MORE;
}

/* Client, WAIT_CHALLENGE: check mac_s, answer with RESPONSE; DONE. */
static int on_challenge(acto__auth *a, const uint8_t *msg, size_t len, uint8_t *out,
                        size_t *out_len) {
  const char *why = check_header(msg, len, ACTO__AUTH_MSG_CHALLENGE);
  if (why == NULL)
    why = take_name(a, msg, len, 64);
  if (why != NULL)
    return fail(a, ACTO_EPROTO, why);
  memcpy(a->nonce_s, msg + len - 64, 32);
  if (CRYPTO_memcmp(a->nonce_c, a->nonce_s, 32) == 0)
    return fail(a, ACTO_EPROTO, "handshake: peer echoed our nonce");
  uint8_t mac[32];
  int rc = transcript_mac(a, LABEL_SERVER, mac);
  if (rc != 0)
    return fail(a, rc, "handshake: libcrypto failed");
  if (CRYPTO_memcmp(mac, msg + len - 32, 32) != 0)
    return fail(a, ACTO_EPROTO, "handshake: server MAC does not verify (wrong key?)");
  rc = transcript_mac(a, LABEL_CLIENT, mac);
  if (rc == 0)
    rc = derive_frame_keys(a);
  if (rc != 0)
    return fail(a, rc, "handshake: libcrypto failed");
  out[0] = BIN8;
  out[1] = (uint8_t)(RESPONSE_LEN - 2);
  out[2] = ACTO__AUTH_MSG_RESPONSE;
  out[3] = ACTO__AUTH_VERSION;
  memcpy(out + 4, mac, 32);
  *out_len = RESPONSE_LEN;
  a->state = ACTO__AUTH_S_DONE;
  return ACTO__AUTH_DONE;
}

/* Server, WAIT_RESPONSE: check mac_c; DONE. */
static int on_response(acto__auth *a, const uint8_t *msg, size_t len) {
  const char *why = check_header(msg, len, ACTO__AUTH_MSG_RESPONSE);
  if (why == NULL && len != RESPONSE_LEN)
    why = "handshake: RESPONSE of the wrong length";
  if (why != NULL)
    return fail(a, ACTO_EPROTO, why);
  uint8_t mac[32];
  int rc = transcript_mac(a, LABEL_CLIENT, mac);
  if (rc != 0)
    return fail(a, rc, "handshake: libcrypto failed");
  if (CRYPTO_memcmp(mac, msg + 4, 32) != 0)
    return fail(a, ACTO_EPROTO, "handshake: client MAC does not verify (wrong key?)");
  rc = derive_frame_keys(a);
  if (rc != 0)
    return fail(a, rc, "handshake: libcrypto failed");
  a->state = ACTO__AUTH_S_DONE;
  return ACTO__AUTH_DONE;
}

int acto__auth_feed(acto__auth *a, const uint8_t *msg, size_t len, uint8_t *out,
                    size_t out_size, size_t *out_len) {
  if (a == NULL || (msg == NULL && len != 0) || out == NULL || out_len == NULL ||
      out_size < ACTO__AUTH_MSG_MAX)
    return ACTO_EINVAL;
  *out_len = 0;
  switch (a->state) {
  case ACTO__AUTH_S_WAIT_HELLO:
    return on_hello(a, msg, len, out, out_len);
  case ACTO__AUTH_S_WAIT_CHALLENGE:
    return on_challenge(a, msg, len, out, out_len);
  case ACTO__AUTH_S_WAIT_RESPONSE:
    return on_response(a, msg, len);
  case ACTO__AUTH_S_CLIENT_START:
    return fail(a, ACTO_EPROTO, "handshake: message before the client sent HELLO");
  case ACTO__AUTH_S_DONE:
    return fail(a, ACTO_EPROTO, "handshake: message after authentication");
  case ACTO__AUTH_S_FAILED:
    return ACTO_EPROTO; /* keeps the first reason */
  default:
    return ACTO_EINVAL; /* not initialised */
  }
}

const char *acto__auth_peer_name(const acto__auth *a) {
  return a != NULL && a->state == ACTO__AUTH_S_DONE ? a->peer_name : NULL;
}

const char *acto__auth_reason(const acto__auth *a) { return a != NULL ? a->reason : NULL; }

void acto__auth_clear(acto__auth *a) {
  if (a == NULL)
    return;
  EVP_MAC_CTX_free(a->send_mac);
  EVP_MAC_CTX_free(a->recv_mac);
  OPENSSL_cleanse(a, sizeof *a);
}

/* ---- frames ---------------------------------------------------------------- */

/* tag = HMAC(k_dir, seq_le64 || len_le32 || payload) with ctx keyed k_dir. */
static int frame_tag(EVP_MAC_CTX *ctx, uint64_t seq, const void *payload, size_t len,
                     uint8_t tag[32]) {
  uint8_t hdr[12];
  for (unsigned i = 0; i < 8; i++)
    hdr[i] = (uint8_t)(seq >> (8 * i));
  for (unsigned i = 0; i < 4; i++)
    hdr[8 + i] = (uint8_t)((uint32_t)len >> (8 * i));
  size_t outl = 0;
  if (EVP_MAC_init(ctx, NULL, 0, NULL) != 1 || EVP_MAC_update(ctx, hdr, sizeof hdr) != 1 ||
      (len > 0 && EVP_MAC_update(ctx, payload, len) != 1) ||
      EVP_MAC_final(ctx, tag, &outl, 32) != 1 || outl != 32)
    return ACTO_EIO;
  return 0;
}

int acto__auth_seal(acto__auth *a, const void *payload, size_t len,
                    uint8_t tag[ACTO__AUTH_TAG_LEN]) {
  if (a == NULL || tag == NULL || (payload == NULL && len != 0) || len > UINT32_MAX ||
      a->state != ACTO__AUTH_S_DONE)
    return ACTO_EINVAL;
  if (a->send_seq == UINT64_MAX)
    return ACTO_ELIMIT;
  int rc = frame_tag(a->send_mac, a->send_seq, payload, len, tag);
  if (rc != 0)
    return rc;
  a->send_seq++;
  return 0;
}

int acto__auth_open(acto__auth *a, const void *payload, size_t len,
                    const uint8_t tag[ACTO__AUTH_TAG_LEN]) {
  if (a == NULL || tag == NULL || (payload == NULL && len != 0) || len > UINT32_MAX)
    return ACTO_EINVAL;
  if (a->state == ACTO__AUTH_S_FAILED)
    return ACTO_EPROTO;
  if (a->state != ACTO__AUTH_S_DONE)
    return fail(a, ACTO_EPROTO, "frame: data before authentication");
  if (a->recv_seq == UINT64_MAX)
    return fail(a, ACTO_EPROTO, "frame: receive sequence exhausted");
  uint8_t want[32];
  int rc = frame_tag(a->recv_mac, a->recv_seq, payload, len, want);
  if (rc != 0)
    return fail(a, rc, "frame: libcrypto failed");
  int bad = CRYPTO_memcmp(want, tag, 32);
  OPENSSL_cleanse(want, sizeof want);
  if (bad != 0)
    return fail(a, ACTO_EPROTO, "frame: MAC does not verify");
  a->recv_seq++;
  return 0;
}
