/* tls.c - TLS 1.3 with the cluster key as an external PSK, over memory
 * BIOs (tls.h says what is on the wire and who may call what).
 *
 * DESIGN
 * Memory BIOs, not a socket BIO nor libevent's bufferevent_openssl (whose
 * dirty-shutdown handling predates OpenSSL 3): the connection reads its
 * socket itself and hands the bytes to the read BIO (acto__tls_feed);
 * whatever OpenSSL writes (handshake messages, records, alerts) lands in
 * the write BIO and is moved, after each SSL call, to ct_out, which only
 * acto__tls_send writes to the socket.  So the caller keeps its batching
 * (one SSL_write per chunk of sealed frames) and its direct writes from
 * worker threads, and EOF is the caller's business: OpenSSL never sees an
 * end of stream (the read BIO answers "retry" when empty), the connection
 * closes on recv() == 0 whether or not a close_notify came first.
 *
 * One mutex per session serialises every SSL call and every use of ct_out:
 * OpenSSL forbids two threads in one SSL object (SSL_read on the I/O
 * thread, SSL_write in a worker's direct write).  Holding it across the
 * send() of ct_out keeps the ciphertext in order: records leave in the
 * order they were made, whoever sends them.
 *
 * The PSK is not the cluster key itself but a key derived from it with
 * HKDF under a label of its own, so the key used by TLS is independent of
 * the keys the acto handshake and the frame MACs derive (auth.h).  Each
 * connection gets a fresh SSL_SESSION holding it (OpenSSL takes ownership
 * and, on the client, writes the resumption secret into it, so one
 * session cannot be shared).
 */
#include "transport/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>

#define IDENTITY_LEN (sizeof ACTO__TLS_PSK_IDENTITY - 1)
/* TLS_AES_128_GCM_SHA256 (RFC 8446, B.4). */
static const unsigned char SUITE_ID[2] = {0x13, 0x01};

/* ---- the PSK ------------------------------------------------------------------ */

int acto__tls_derive_psk(const uint8_t *key, size_t key_len, uint8_t out[ACTO__TLS_PSK_LEN]) {
  if (key == NULL || out == NULL || key_len < 32 || key_len > 64)
    return ACTO_EINVAL;
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  EVP_KDF_free(kdf); /* the context keeps its own reference */
  if (kctx == NULL)
    return ACTO_EIO;
  char digest[] = "SHA256";
  char info[] = ACTO__TLS_PSK_INFO;
  /* No salt: HKDF-Extract then uses HashLen zero bytes (RFC 5869, 2.2). */
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info - 1),
      OSSL_PARAM_construct_end(),
  };
  int ok = EVP_KDF_derive(kctx, out, ACTO__TLS_PSK_LEN, params) == 1;
  EVP_KDF_CTX_free(kctx);
  return ok ? 0 : ACTO_EIO;
}

/* The PSK as the SSL_SESSION OpenSSL wants: master key, suite, version. */
static SSL_SESSION *psk_session(SSL *ssl, const acto__tls_ctx *x) {
  const SSL_CIPHER *suite = SSL_CIPHER_find(ssl, SUITE_ID);
  SSL_SESSION *s = SSL_SESSION_new();
  if (suite == NULL || s == NULL ||
      SSL_SESSION_set1_master_key(s, x->psk, ACTO__TLS_PSK_LEN) != 1 ||
      SSL_SESSION_set_cipher(s, suite) != 1 ||
      SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(s);
    return NULL;
  }
  return s;
}

/* SSL_get_error needs an empty error queue before the call it explains;
 * ours is emptied after every failure, so this is a check, cheaper than
 * ERR_clear_error on the hot path (a message each way). */
static void err_reset(void) {
  if (ERR_peek_error() != 0)
    ERR_clear_error();
}

static const acto__tls_ctx *ctx_of(SSL *ssl) { return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)); }

/* Client: offer our one PSK.  md is the hash of a suite the server already
 * chose (a HelloRetryRequest): ours is SHA-256 or nothing fits. */
static int use_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                          SSL_SESSION **sess) {
  *sess = NULL;
  if (md != NULL && EVP_MD_get_type(md) != NID_sha256)
    return 0;
  *sess = psk_session(ssl, ctx_of(ssl));
  if (*sess == NULL)
    return 0;
  *id = (const unsigned char *)ACTO__TLS_PSK_IDENTITY;
  *idlen = IDENTITY_LEN;
  return 1;
}

/* Server: called for each identity the client offers; ours or none (the
 * handshake then fails: this server has no certificate). */
static int find_session_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess) {
  acto__tls *t = SSL_get_app_data(ssl);
  *sess = NULL;
  if (idlen != IDENTITY_LEN || memcmp(id, ACTO__TLS_PSK_IDENTITY, IDENTITY_LEN) != 0) {
    if (t->reason == NULL)
      t->reason = "TLS handshake: the peer offered no PSK of identity \"" ACTO__TLS_PSK_IDENTITY
                  "\" (not an acto node?)";
    return 1;
  }
  t->reason = NULL;
  *sess = psk_session(ssl, ctx_of(ssl));
  return *sess != NULL;
}

/* Client: a server that sends a certificate is refused (nodes prove the
 * cluster key, nothing else; without this a server could skip the PSK). */
static int refuse_certificate(int ok, X509_STORE_CTX *store) {
  (void)ok;
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  acto__tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
  if (t != NULL)
    t->reason = "TLS handshake: the peer sent a certificate (acto nodes use the cluster key only)";
  return 0;
}

/* ---- the node's context ------------------------------------------------------------ */

int acto__tls_ctx_init(acto__tls_ctx *x, const uint8_t *key, size_t key_len) {
  if (x == NULL)
    return ACTO_EINVAL;
  memset(x, 0, sizeof *x);
  int r = acto__tls_derive_psk(key, key_len, x->psk);
  if (r != 0)
    return r;
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (ctx == NULL) {
    OPENSSL_cleanse(x->psk, sizeof x->psk);
    ERR_clear_error();
    return ACTO_ENOMEM;
  }
  int ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") == 1 &&
           SSL_CTX_set1_groups_list(ctx, "X25519:P-256") == 1 &&
           SSL_CTX_set_num_tickets(ctx, 0) == 1 && SSL_CTX_set_max_early_data(ctx, 0) == 1 &&
           SSL_CTX_set_recv_max_early_data(ctx, 0) == 1;
  /* psk_ke (a PSK without DHE, no forward secrecy) stays off: the client
   * offers psk_dhe_ke only and the server ignores a psk_ke offer. */
  SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_NO_DHE_KEX | SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_psk_use_session_callback(ctx, use_session_cb);
  SSL_CTX_set_psk_find_session_callback(ctx, find_session_cb);
  SSL_CTX_set_app_data(ctx, x);
  ERR_clear_error();
  if (!ok) {
    SSL_CTX_free(ctx);
    OPENSSL_cleanse(x->psk, sizeof x->psk);
    return ACTO_EIO;
  }
  x->ctx = ctx;
  return 0;
}

void acto__tls_ctx_clear(acto__tls_ctx *x) {
  if (x == NULL)
    return;
  SSL_CTX_free(x->ctx);
  OPENSSL_cleanse(x, sizeof *x);
}

/* ---- a session ------------------------------------------------------------------------ */

int acto__tls_init(acto__tls *t, const acto__tls_ctx *x, int client) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mtx, NULL);
  t->client = client;
  t->rekey_after = ACTO__TLS_REKEY_RECORDS;
  t->ssl = SSL_new(x->ctx);
  BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || r == NULL || w == NULL) {
    BIO_free(r);
    BIO_free(w);
    SSL_free(t->ssl);
    t->ssl = NULL;
    pthread_mutex_destroy(&t->mtx);
    ERR_clear_error();
    return ACTO_ENOMEM;
  }
  /* Empty means "retry later", never end of stream (DESIGN). */
  BIO_set_mem_eof_return(r, -1);
  BIO_set_mem_eof_return(w, -1);
  SSL_set_bio(t->ssl, r, w); /* the SSL owns both from here */
  t->rbio = r;
  t->wbio = w;
  SSL_set_app_data(t->ssl, t);
  if (client) {
    SSL_set_verify(t->ssl, SSL_VERIFY_PEER, refuse_certificate);
    SSL_set_connect_state(t->ssl);
  } else {
    SSL_set_accept_state(t->ssl);
  }
  t->state = ACTO__TLS_S_HANDSHAKE;
  return 0;
}

void acto__tls_clear(acto__tls *t) {
  if (t == NULL || t->ssl == NULL)
    return;
  SSL_free(t->ssl);
  t->ssl = NULL;
  acto__buf_free(&t->ct_out);
  pthread_mutex_destroy(&t->mtx);
}

/* Moves what OpenSSL wrote to ct_out.  Caller holds mtx. */
static int drain_locked(acto__tls *t) {
  size_t n = BIO_ctrl_pending(t->wbio);
  while (n > 0) {
    if (acto__buf_reserve(&t->ct_out, n) != 0)
      return ACTO_ENOMEM;
    int k = BIO_read(t->wbio, t->ct_out.p + t->ct_out.len, n > INT32_MAX ? INT32_MAX : (int)n);
    if (k <= 0)
      return ACTO_EIO;
    t->ct_out.len += (size_t)k;
    n = BIO_ctrl_pending(t->wbio);
  }
  return 0;
}

/* The session is FAILED: why (unless a callback already said better) and
 * OpenSSL's own reason of the first error queued.  Caller holds mtx. */
static int fail_locked(acto__tls *t, int code, const char *why) {
  unsigned long e = ERR_get_error();
  const char *lib = e ? ERR_reason_error_string(e) : NULL;
  snprintf(t->detail, sizeof t->detail, "%s", lib ? lib : "");
  if (t->reason == NULL || t->state != ACTO__TLS_S_HANDSHAKE) {
    int r = e ? ERR_GET_REASON(e) : 0;
    if (r == SSL_R_BINDER_DOES_NOT_VERIFY)
      why = "TLS handshake: the peer's PSK binder does not verify (a wrong cluster key)";
    else if (r == SSL_R_TLSV1_ALERT_DECRYPT_ERROR || r == SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER)
      /* What OpenSSL answers a binder that does not verify. */
      why = "TLS handshake: the peer refused our PSK (a wrong cluster key?)";
    else if (r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
      why = "TLS handshake: the peer refused TLS 1.3 (a node with encryption off answers so)";
    else if (r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG ||
             r == SSL_R_UNEXPECTED_MESSAGE || r == SSL_R_UNEXPECTED_RECORD)
      why = t->state == ACTO__TLS_S_HANDSHAKE ? "TLS handshake: the peer does not speak TLS 1.3"
                                              : "TLS: a malformed record";
    t->reason = why;
  }
  t->state = ACTO__TLS_S_FAILED;
  ERR_clear_error();
  return code;
}

int acto__tls_feed(acto__tls *t, const uint8_t *ct, size_t len) {
  if (len == 0)
    return 0;
  pthread_mutex_lock(&t->mtx);
  int r = 0;
  if (t->state == ACTO__TLS_S_FAILED)
    r = ACTO_EPROTO;
  else if (len > INT32_MAX || BIO_write(t->rbio, ct, (int)len) != (int)len)
    r = ACTO_ENOMEM;
  err_reset();
  pthread_mutex_unlock(&t->mtx);
  return r;
}

int acto__tls_handshake(acto__tls *t) {
  pthread_mutex_lock(&t->mtx);
  int r;
  if (t->state == ACTO__TLS_S_FAILED) {
    r = ACTO_EPROTO;
  } else if (t->state != ACTO__TLS_S_HANDSHAKE) {
    r = ACTO__TLS_DONE;
  } else {
    ERR_clear_error();
    int k = SSL_do_handshake(t->ssl);
    int e = k == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, k);
    /* The answer, or the alert that says why not, goes out either way. */
    int d = drain_locked(t);
    if (k == 1) {
      if (!SSL_session_reused(t->ssl) || SSL_version(t->ssl) != TLS1_3_VERSION) {
        t->reason = "TLS handshake: the peer did not prove the cluster key (no PSK)";
        r = fail_locked(t, ACTO_EPROTO, t->reason);
      } else {
        t->state = ACTO__TLS_S_OPEN;
        r = ACTO__TLS_DONE;
      }
    } else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      r = ACTO__TLS_MORE;
    } else {
      r = fail_locked(t, ACTO_EPROTO, "TLS handshake failed");
    }
    if (d != 0 && r >= 0)
      r = fail_locked(t, ACTO_ENOMEM, "TLS: out of memory");
  }
  pthread_mutex_unlock(&t->mtx);
  return r;
}

long acto__tls_read(acto__tls *t, acto__buf *plain, int *want_write) {
  *want_write = 0;
  pthread_mutex_lock(&t->mtx);
  long total = 0;
  if (t->state == ACTO__TLS_S_FAILED) {
    total = ACTO_EPROTO;
  } else if (t->state == ACTO__TLS_S_OPEN) {
    for (;;) {
      /* Room for a whole record's plaintext (16 KiB). */
      if (acto__buf_reserve(plain, 16384) != 0) {
        total = ACTO_ENOMEM;
        break;
      }
      size_t got = 0;
      err_reset();
      int k = SSL_read_ex(t->ssl, plain->p + plain->len, plain->cap - plain->len, &got);
      if (k == 1) {
        plain->len += got;
        total += (long)got;
        /* Nothing left to decrypt: spare the call that would say so. */
        if (SSL_pending(t->ssl) == 0 && BIO_ctrl_pending(t->rbio) == 0)
          break;
        continue;
      }
      int e = SSL_get_error(t->ssl, k);
      if (e == SSL_ERROR_WANT_READ)
        break;
      if (e == SSL_ERROR_ZERO_RETURN) {
        t->state = ACTO__TLS_S_CLOSED;
        t->reason = "the peer closed the TLS session (close_notify)";
        total = ACTO_ECLOSED;
        break;
      }
      total = fail_locked(t, ACTO_EPROTO, "TLS: a record does not decrypt or verify");
      break;
    }
    if (BIO_ctrl_pending(t->wbio) > 0) {
      if (drain_locked(t) != 0 && total >= 0)
        total = fail_locked(t, ACTO_ENOMEM, "TLS: out of memory");
      *want_write = 1;
    }
    err_reset();
  }
  pthread_mutex_unlock(&t->mtx);
  return total;
}

/* send() from b until it is empty or the socket is full: 0, 1 or -1. */
static int send_buf(int fd, acto__buf *b, uint64_t *sent) {
  while (acto__buf_unread(b) > 0) {
    ssize_t k = send(fd, b->p + b->off, acto__buf_unread(b), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k > 0) {
      acto__buf_consume(b, (size_t)k);
      *sent += (uint64_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 1;
    return -1;
  }
  return 0;
}

int acto__tls_send(acto__tls *t, int fd, acto__buf *b, uint64_t *sent) {
  *sent = 0;
  if (t == NULL)
    return send_buf(fd, b, sent);
  pthread_mutex_lock(&t->mtx);
  int r;
  for (;;) {
    r = send_buf(fd, &t->ct_out, sent);
    size_t n = acto__buf_unread(b);
    if (r != 0 || n == 0)
      break;
    if (t->state != ACTO__TLS_S_OPEN) {
      r = -1;
      break;
    }
    if (n > ACTO__TLS_WRITE_CHUNK)
      n = ACTO__TLS_WRITE_CHUNK;
    size_t w = 0;
    err_reset();
    if (t->records >= t->rekey_after) {
      /* Sent with the next write; the peer updates its receiving key
       * when it reads it (no answer is asked for). */
      if (SSL_key_update(t->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
        fail_locked(t, ACTO_EIO, "TLS: cannot update the key");
        r = -1;
        break;
      }
      t->records = 0;
      t->rekeys++;
    }
    t->records += (n + 16383) / 16384;
    if (SSL_write_ex(t->ssl, b->p + b->off, n, &w) != 1 || w != n) {
      fail_locked(t, ACTO_EIO, "TLS: cannot encrypt");
      r = -1;
      break;
    }
    acto__buf_consume(b, n);
    if (drain_locked(t) != 0) {
      fail_locked(t, ACTO_ENOMEM, "TLS: out of memory");
      r = -1;
      break;
    }
  }
  pthread_mutex_unlock(&t->mtx);
  return r;
}

int acto__tls_pending(acto__tls *t) {
  pthread_mutex_lock(&t->mtx);
  int r = acto__buf_unread(&t->ct_out) > 0;
  pthread_mutex_unlock(&t->mtx);
  return r;
}

void acto__tls_goodbye(acto__tls *t, int fd) {
  pthread_mutex_lock(&t->mtx);
  if (t->state == ACTO__TLS_S_OPEN) {
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl); /* queues close_notify; we do not wait for theirs */
    (void)drain_locked(t);
    ERR_clear_error();
    t->state = ACTO__TLS_S_CLOSED;
  }
  uint64_t sent = 0;
  (void)send_buf(fd, &t->ct_out, &sent);
  pthread_mutex_unlock(&t->mtx);
}

/* ---- a node with encryption on meets one with it off -------------------------------- */

/* A fatal protocol_version alert (RFC 8446, 6): record type 21, legacy
 * version 3.3, length 2, level 2 (fatal), description 70. */
const uint8_t acto__tls_alert_protocol_version[ACTO__TLS_ALERT_LEN] = {0x15, 0x03, 0x03, 0x00,
                                                                       0x02, 0x02, 0x46};

int acto__tls_is_record_start(const uint8_t *p, size_t n) {
  if (n == 0 || p[0] < 20 || p[0] > 23)
    return 0;
  return n < 2 || p[1] == 3;
}

void acto__tls_refuse(acto__tls *t, const char *why) {
  pthread_mutex_lock(&t->mtx);
  if (t->state != ACTO__TLS_S_FAILED) {
    t->state = ACTO__TLS_S_FAILED;
    t->reason = why;
    t->detail[0] = '\0';
    (void)acto__buf_append(&t->ct_out, acto__tls_alert_protocol_version,
                           sizeof acto__tls_alert_protocol_version);
  }
  pthread_mutex_unlock(&t->mtx);
}
