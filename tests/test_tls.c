/* test_tls.c - encryption of the node link (transport/tls.c, ACTORS.md
 * 13.4 and 13.5 "Encryption"): the TLS 1.3 sessions on their own, over
 * socket pairs; then nodes in one process with encryption on, talking
 * through a relay in this test that records (and, on demand, cuts or
 * corrupts) the bytes between them.
 */
#include <fcntl.h>
#include <poll.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "transport/tls.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER_KEY[32] = "ffffffffffffffffffffffffffffffff";
/* The distinctive bytes looked for on the wire. */
static const char MARKER[33] = "<acto-tls-test-marker-7f3a9c21e>";

#define LIVE_HBT ((int64_t)2000 * tu_multiplier())

/* ---- the session alone ------------------------------------------------------- */

/* A socket pair standing for the TCP connection of two sessions. */
typedef struct duo {
  acto__tls_ctx cx, sx;
  acto__tls c, s;
  int fd[2]; /* fd[0]: the client's end */
} duo;

static void set_nonblock(int fd) { ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0); }

static void duo_init(duo *d, const uint8_t *ckey, const uint8_t *skey) {
  ck_assert_ok(acto__tls_ctx_init(&d->cx, ckey, 32));
  ck_assert_ok(acto__tls_ctx_init(&d->sx, skey, 32));
  ck_assert_ok(acto__tls_init(&d->c, &d->cx, 1));
  ck_assert_ok(acto__tls_init(&d->s, &d->sx, 0));
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, d->fd), 0);
  set_nonblock(d->fd[0]);
  set_nonblock(d->fd[1]);
}

static void duo_free(duo *d) {
  acto__tls_clear(&d->c);
  acto__tls_clear(&d->s);
  acto__tls_ctx_clear(&d->cx);
  acto__tls_ctx_clear(&d->sx);
  close(d->fd[0]);
  close(d->fd[1]);
}

/* Everything readable on fd goes into t.  Returns the bytes moved. */
static size_t pump(int fd, acto__tls *t) {
  uint8_t buf[65536];
  size_t total = 0;
  for (;;) {
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k <= 0)
      return total;
    ck_assert_ok(acto__tls_feed(t, buf, (size_t)k));
    total += (size_t)k;
  }
}

/* Flushes t's ciphertext to fd (nothing else to send). */
static void flush(acto__tls *t, int fd) {
  acto__buf none = {0};
  uint64_t sent;
  ck_assert_int_ge(acto__tls_send(t, fd, &none, &sent), 0);
}

/* Runs both handshakes to their end; returns their last results. */
static void duo_handshake(duo *d, int *rc, int *rs) {
  *rc = *rs = ACTO__TLS_MORE;
  for (int i = 0; i < 10 && (*rc == ACTO__TLS_MORE || *rs == ACTO__TLS_MORE); i++) {
    if (*rc == ACTO__TLS_MORE) {
      pump(d->fd[0], &d->c);
      *rc = acto__tls_handshake(&d->c);
    }
    flush(&d->c, d->fd[0]);
    if (*rs == ACTO__TLS_MORE) {
      pump(d->fd[1], &d->s);
      *rs = acto__tls_handshake(&d->s);
    }
    flush(&d->s, d->fd[1]);
  }
}

/* Sends len bytes from `from` and reads them back on `to`. */
static void transfer(acto__tls *from, int ffd, acto__tls *to, int tfd, const uint8_t *data,
                     size_t len, acto__buf *got) {
  acto__buf b = {0};
  ck_assert_ok(acto__buf_append(&b, data, len));
  uint64_t sent = 0;
  int r;
  while ((r = acto__tls_send(from, ffd, &b, &sent)) == 1) {
    pump(tfd, to);
    int ww;
    ck_assert_int_ge(acto__tls_read(to, got, &ww), 0);
  }
  ck_assert_int_eq(r, 0);
  ck_assert_uint_eq(acto__buf_unread(&b), 0);
  pump(tfd, to);
  int ww;
  ck_assert_int_ge(acto__tls_read(to, got, &ww), 0);
  acto__buf_free(&b);
}

/* HMAC-SHA256(key, a || b) for the derivation check. */
static void hmac2(const uint8_t *key, size_t kl, const void *a, size_t al, const void *b, size_t bl,
                  uint8_t out[32]) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  size_t n = 0;
  ck_assert_int_eq(EVP_MAC_init(ctx, key, kl, params), 1);
  ck_assert_int_eq(EVP_MAC_update(ctx, a, al), 1);
  if (bl)
    ck_assert_int_eq(EVP_MAC_update(ctx, b, bl), 1);
  ck_assert_int_eq(EVP_MAC_final(ctx, out, &n, 32), 1);
  ck_assert_uint_eq(n, 32);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
}

/* ACTORS.md 13.5, "Encryption": PSK = HKDF-SHA256(no salt, K, "acto-v1
 * tls13 psk", 32), i.e. PRK = HMAC(32 zero bytes, K) and PSK = HMAC(PRK,
 * info || 0x01); and the worked example's value for the key 00 01 .. 1f. */
START_TEST(the_psk_is_hkdf_sha256_of_the_key_under_the_documented_label) {
  uint8_t k[32], zero[32] = {0}, prk[32], want[32], got[32];
  for (int i = 0; i < 32; i++)
    k[i] = (uint8_t)i;
  hmac2(zero, sizeof zero, k, sizeof k, NULL, 0, prk);
  const char info[] = "acto-v1 tls13 psk";
  const uint8_t one = 1;
  hmac2(prk, sizeof prk, info, sizeof info - 1, &one, 1, want);
  ck_assert_ok(acto__tls_derive_psk(k, sizeof k, got));
  ck_assert_mem_eq(got, want, 32);
  static const uint8_t doc[32] = {0x30, 0xa6, 0x14, 0xcd, 0x0d, 0xc5, 0xda, 0x7b, 0xff, 0x82, 0x3b,
                                  0x96, 0x99, 0x59, 0x6d, 0x2d, 0x04, 0x94, 0x88, 0x63, 0x33, 0x88,
                                  0x53, 0xe5, 0x5e, 0x85, 0x51, 0x96, 0xfc, 0xaa, 0xa9, 0x1d};
  char hex[65];
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", got[i]);
  ck_assert_msg(memcmp(got, doc, 32) == 0, "PSK of 00..1f is %s", hex);
  ck_assert_rc(acto__tls_derive_psk(k, 31, got), ACTO_EINVAL);
  ck_assert_rc(acto__tls_derive_psk(k, 65, got), ACTO_EINVAL);
}
END_TEST

START_TEST(two_sessions_agree_on_tls13_psk_dhe_x25519_and_aes128gcm) {
  duo d;
  duo_init(&d, KEY, KEY);
  int rc, rs;
  duo_handshake(&d, &rc, &rs);
  ck_assert_int_eq(rc, ACTO__TLS_DONE);
  ck_assert_int_eq(rs, ACTO__TLS_DONE);
  acto__tls *both[2] = {&d.c, &d.s};
  for (int i = 0; i < 2; i++) {
    SSL *ssl = (SSL *)both[i]->ssl;
    ck_assert_int_eq(SSL_version(ssl), TLS1_3_VERSION);
    ck_assert_int_eq(SSL_session_reused(ssl), 1);                /* the PSK was used */
    ck_assert_int_eq(SSL_get_negotiated_group(ssl), NID_X25519); /* and (EC)DHE */
    ck_assert_str_eq(SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), "TLS_AES_128_GCM_SHA256");
    ck_assert_ptr_null(SSL_get0_peer_certificate(ssl));
    ck_assert_int_eq(both[i]->state, ACTO__TLS_S_OPEN);
  }
  /* Data both ways, small and over many records. */
  size_t big = 300 * 1024;
  uint8_t *data = malloc(big);
  for (size_t i = 0; i < big; i++)
    data[i] = (uint8_t)(i * 13 + 1);
  acto__buf got = {0};
  transfer(&d.c, d.fd[0], &d.s, d.fd[1], (const uint8_t *)"hello", 5, &got);
  ck_assert_uint_eq(acto__buf_unread(&got), 5);
  ck_assert_mem_eq(got.p + got.off, "hello", 5);
  got.len = got.off = 0;
  transfer(&d.s, d.fd[1], &d.c, d.fd[0], data, big, &got);
  ck_assert_uint_eq(acto__buf_unread(&got), big);
  ck_assert_mem_eq(got.p + got.off, data, big);
  /* Key updates: the sender moves to a new key every rekey_after
   * records; the reader follows, and the data stays whole. */
  d.c.rekey_after = 3;
  for (int i = 0; i < 10; i++) {
    got.len = got.off = 0;
    transfer(&d.c, d.fd[0], &d.s, d.fd[1], data + i, 1000, &got);
    ck_assert_uint_eq(acto__buf_unread(&got), 1000);
    ck_assert_mem_eq(got.p + got.off, data + i, 1000);
  }
  ck_assert_uint_eq(d.c.rekeys, 3);
  got.len = got.off = 0;
  transfer(&d.s, d.fd[1], &d.c, d.fd[0], (const uint8_t *)"after", 5, &got);
  ck_assert_mem_eq(got.p + got.off, "after", 5);
  /* close_notify: the reader learns the session ended. */
  acto__tls_goodbye(&d.c, d.fd[0]);
  pump(d.fd[1], &d.s);
  int ww;
  ck_assert_rc(acto__tls_read(&d.s, &got, &ww), ACTO_ECLOSED);
  acto__buf_free(&got);
  free(data);
  duo_free(&d);
}
END_TEST

START_TEST(a_wrong_key_fails_the_tls_handshake_on_both_sides) {
  duo d;
  duo_init(&d, KEY, OTHER_KEY);
  int rc, rs;
  duo_handshake(&d, &rc, &rs);
  ck_assert_rc(rs, ACTO_EPROTO);
  ck_assert_str_eq(d.s.reason,
                   "TLS handshake: the peer's PSK binder does not verify (a wrong cluster key)");
  /* The server's alert reaches the client. */
  pump(d.fd[0], &d.c);
  ck_assert_rc(acto__tls_handshake(&d.c), ACTO_EPROTO);
  ck_assert_str_eq(d.c.reason, "TLS handshake: the peer refused our PSK (a wrong cluster key?)");
  /* FAILED stays FAILED. */
  acto__buf b = {0};
  uint64_t sent;
  ck_assert_ok(acto__buf_append(&b, "x", 1));
  ck_assert_int_eq(acto__tls_send(&d.c, d.fd[0], &b, &sent), -1);
  ck_assert_rc(acto__tls_feed(&d.c, (const uint8_t *)"x", 1), ACTO_EPROTO);
  acto__buf_free(&b);
  duo_free(&d);
}
END_TEST

/* A raw OpenSSL client offering the cluster PSK, with options of its own. */
static uint8_t raw_psk[32];
static int raw_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
                           SSL_SESSION **sess) {
  (void)md;
  static const unsigned char suite[2] = {0x13, 0x01};
  SSL_SESSION *s = SSL_SESSION_new();
  SSL_SESSION_set1_master_key(s, raw_psk, sizeof raw_psk);
  SSL_SESSION_set_cipher(s, SSL_CIPHER_find(ssl, suite));
  SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION);
  *sess = s;
  *id = (const unsigned char *)ACTO__TLS_PSK_IDENTITY;
  *idlen = strlen(ACTO__TLS_PSK_IDENTITY);
  return 1;
}

/* Runs a raw client against an acto__tls server; returns the server's
 * result and leaves the client's SSL in *out (free it). */
static int raw_handshake(const char *groups, long options, int *fds, acto__tls *srv, SSL **out) {
  ck_assert_ok(acto__tls_derive_psk(KEY, 32, raw_psk));
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  ck_assert_int_eq(SSL_CTX_set1_groups_list(ctx, groups), 1);
  SSL_CTX_set_options(ctx, (uint64_t)options);
  SSL_CTX_set_psk_use_session_callback(ctx, raw_use_session);
  SSL *ssl = SSL_new(ctx);
  SSL_CTX_free(ctx); /* the SSL keeps a reference */
  SSL_set_fd(ssl, fds[0]);
  SSL_set_connect_state(ssl);
  int rs = ACTO__TLS_MORE;
  for (int i = 0; i < 10; i++) {
    SSL_do_handshake(ssl);
    if (rs == ACTO__TLS_MORE) {
      pump(fds[1], srv);
      rs = acto__tls_handshake(srv);
      flush(srv, fds[1]);
    }
  }
  ERR_clear_error();
  *out = ssl;
  return rs;
}

/* psk_ke (no DHE, no forward secrecy) is never accepted: a client that
 * allows it still gets DHE, and one that cannot do DHE with us is refused
 * instead of falling back to the PSK alone. */
START_TEST(psk_ke_without_dhe_is_never_negotiated) {
  acto__tls_ctx x;
  ck_assert_ok(acto__tls_ctx_init(&x, KEY, 32));
  int fds[2];
  acto__tls s;
  SSL *ssl;
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  set_nonblock(fds[0]);
  set_nonblock(fds[1]);
  ck_assert_ok(acto__tls_init(&s, &x, 0));
  ck_assert_int_eq(raw_handshake("X25519", (long)SSL_OP_ALLOW_NO_DHE_KEX, fds, &s, &ssl),
                   ACTO__TLS_DONE);
  ck_assert_int_eq(SSL_session_reused(ssl), 1);
  ck_assert_int_eq(SSL_get_negotiated_group(ssl), NID_X25519);
  SSL_free(ssl);
  acto__tls_clear(&s);
  close(fds[0]);
  close(fds[1]);

  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  set_nonblock(fds[0]);
  set_nonblock(fds[1]);
  ck_assert_ok(acto__tls_init(&s, &x, 0));
  ck_assert_rc(raw_handshake("ffdhe2048", (long)SSL_OP_ALLOW_NO_DHE_KEX, fds, &s, &ssl),
               ACTO_EPROTO);
  ck_assert_int_eq(s.state, ACTO__TLS_S_FAILED);
  SSL_free(ssl);
  acto__tls_clear(&s);
  close(fds[0]);
  close(fds[1]);
  acto__tls_ctx_clear(&x);
}
END_TEST

/* A server that skips the PSK and shows a certificate instead is refused
 * by the client: the key is the only credential. */
START_TEST(a_server_certificate_instead_of_the_psk_is_refused) {
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  ck_assert_ptr_nonnull(pk);
  X509 *cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, pk);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             (const unsigned char *)"mallory", -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  ck_assert_int_gt(X509_sign(cert, pk, EVP_sha256()), 0);
  SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
  ck_assert_int_eq(SSL_CTX_use_certificate(sctx, cert), 1);
  ck_assert_int_eq(SSL_CTX_use_PrivateKey(sctx, pk), 1);
  SSL *srv = SSL_new(sctx);
  int fds[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  set_nonblock(fds[0]);
  set_nonblock(fds[1]);
  SSL_set_fd(srv, fds[1]);
  SSL_set_accept_state(srv);
  acto__tls_ctx x;
  acto__tls c;
  ck_assert_ok(acto__tls_ctx_init(&x, KEY, 32));
  ck_assert_ok(acto__tls_init(&c, &x, 1));
  int rc = ACTO__TLS_MORE;
  for (int i = 0; i < 10 && rc == ACTO__TLS_MORE; i++) {
    rc = acto__tls_handshake(&c);
    flush(&c, fds[0]);
    SSL_do_handshake(srv);
    pump(fds[0], &c);
  }
  ERR_clear_error();
  ck_assert_rc(rc, ACTO_EPROTO);
  ck_assert_ptr_nonnull(strstr(c.reason, "certificate"));
  acto__tls_clear(&c);
  acto__tls_ctx_clear(&x);
  SSL_free(srv);
  SSL_CTX_free(sctx);
  X509_free(cert);
  EVP_PKEY_free(pk);
  close(fds[0]);
  close(fds[1]);
}
END_TEST

/* The extension `type` of a ClientHello's extension block, or NULL. */
static const uint8_t *find_ext(const uint8_t *e, size_t n, unsigned type, size_t *len) {
  while (n >= 4) {
    unsigned t = (unsigned)e[0] << 8 | e[1];
    size_t l = (size_t)e[2] << 8 | e[3];
    ck_assert_uint_le(4 + l, n);
    if (t == type) {
      *len = l;
      return e + 4;
    }
    e += 4 + l;
    n -= 4 + l;
  }
  return NULL;
}

/* The client's first flight, byte by byte, offers what ACTORS.md 13.5
 * ("Encryption") lists and nothing that table rules out. */
START_TEST(the_client_hello_offers_what_actors_md_lists) {
  acto__tls_ctx x;
  acto__tls c;
  ck_assert_ok(acto__tls_ctx_init(&x, KEY, 32));
  ck_assert_ok(acto__tls_init(&c, &x, 1));
  ck_assert_int_eq(acto__tls_handshake(&c), ACTO__TLS_MORE);
  const uint8_t *p = c.ct_out.p;
  size_t n = acto__buf_unread(&c.ct_out);
  ck_assert_uint_ge(n, 5 + 4 + 2 + 32 + 1);
  ck_assert_uint_eq(p[0], 22); /* one handshake record: the whole flight */
  ck_assert_uint_eq(n, 5 + ((size_t)p[3] << 8 | p[4]));
  ck_assert_uint_eq(p[5], 1); /* ClientHello */
  const uint8_t *b = p + 9 + 2 + 32;
  ck_assert_uint_eq(b[0], 0); /* legacy_session_id empty: no middlebox compatibility mode */
  b += 1;
  /* One cipher suite, TLS_AES_128_GCM_SHA256, and the renegotiation
   * signalling value OpenSSL always lists (meaningless in TLS 1.3). */
  ck_assert_uint_eq((unsigned)b[0] << 8 | b[1], 4);
  ck_assert_mem_eq(b + 2, "\x13\x01\x00\xff", 4);
  b += 6;
  b += 1 + b[0]; /* legacy compression methods */
  size_t elen = (size_t)b[0] << 8 | b[1];
  const uint8_t *e = b + 2;
  ck_assert_ptr_eq(e + elen, p + n);
  size_t l;
  const uint8_t *v = find_ext(e, elen, 0x002b, &l); /* supported_versions: 1.3 only */
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(l, 3);
  ck_assert_mem_eq(v, "\x02\x03\x04", 3);
  v = find_ext(e, elen, 0x002d, &l); /* psk_key_exchange_modes: psk_dhe_ke only */
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(l, 2);
  ck_assert_mem_eq(v, "\x01\x01", 2);
  v = find_ext(e, elen, 0x000a, &l); /* supported_groups: x25519, secp256r1 */
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(l, 6);
  ck_assert_mem_eq(v, "\x00\x04\x00\x1d\x00\x17", 6);
  v = find_ext(e, elen, 0x0033, &l); /* key_share: one, x25519 */
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(l, 2 + 4 + 32);
  ck_assert_mem_eq(v, "\x00\x24\x00\x1d\x00\x20", 6);
  v = find_ext(e, elen, 0x0029, &l); /* pre_shared_key: our identity, last */
  ck_assert_ptr_nonnull(v);
  ck_assert_ptr_eq(v + l, p + n);
  size_t idl = strlen(ACTO__TLS_PSK_IDENTITY);
  ck_assert_uint_eq((size_t)v[0] << 8 | v[1], 2 + idl + 4); /* one identity */
  ck_assert_uint_eq((size_t)v[2] << 8 | v[3], idl);
  ck_assert_mem_eq(v + 4, "acto-v1 cluster", idl);
  ck_assert_ptr_null(find_ext(e, elen, 0x0000, &l)); /* no server_name */
  ck_assert_ptr_null(find_ext(e, elen, 0x0010, &l)); /* no ALPN */
  ck_assert_ptr_null(find_ext(e, elen, 0x002a, &l)); /* no early_data */
  acto__tls_clear(&c);
  acto__tls_ctx_clear(&x);
}
END_TEST

START_TEST(the_first_bytes_tell_tls_from_an_acto_frame) {
  /* A ClientHello record, an alert, and an acto HELLO frame (00 00 00 2a). */
  ck_assert_int_eq(acto__tls_is_record_start((const uint8_t *)"\x16\x03\x01", 3), 1);
  ck_assert_int_eq(acto__tls_is_record_start((const uint8_t *)"\x15", 1), 1);
  ck_assert_int_eq(acto__tls_is_record_start((const uint8_t *)"\x00\x00\x00\x2a", 4), 0);
  ck_assert_int_eq(acto__tls_is_record_start((const uint8_t *)"GET /", 5), 0);
  ck_assert_int_eq(acto__tls_is_record_start((const uint8_t *)"\x16\x01", 2), 0);
  ck_assert_int_eq(acto__tls_is_record_start((const uint8_t *)"", 0), 0);
}
END_TEST

/* ---- a relay between two nodes ------------------------------------------------ */

/* One TCP connection at a time from a client node to a server node, both
 * ways, recording every byte.  On demand it cuts the connection in the
 * middle of a TLS record from the client (both sides see an end of stream
 * with no close_notify, one of them inside a record), or flips a bit of a
 * record's body.  Its thread is the test's, joined by relay_stop. */
typedef struct relay {
  int lfd;
  uint16_t port, target;
  pthread_t th;
  _Atomic int stop;
  _Atomic int cut_mid;  /* 1: cut inside the next record from the client */
  _Atomic int flip_mid; /* 1: flip a bit inside the next record body */
  _Atomic long conns;   /* connections accepted */
  _Atomic long cuts;    /* connections cut */
  pthread_mutex_t mtx;
  uint8_t *rec;
  size_t nrec, caprec;
} relay;

static void relay_record(relay *r, const uint8_t *p, size_t n) {
  pthread_mutex_lock(&r->mtx);
  if (r->nrec + n > r->caprec) {
    size_t nc = r->caprec ? r->caprec : 65536;
    while (nc < r->nrec + n)
      nc *= 2;
    r->rec = realloc(r->rec, nc);
    r->caprec = nc;
  }
  memcpy(r->rec + r->nrec, p, n);
  r->nrec += n;
  pthread_mutex_unlock(&r->mtx);
}

/* Where the client's stream is in its TLS records. */
typedef struct recpos {
  uint8_t hdr[5];
  size_t hdr_have, body_len, body_at;
} recpos;

/* Forwards p[0..n) from the client, acting on a cut or flip request at the
 * middle of a record body; returns how many bytes to send (the rest is
 * dropped when *cut is set). */
static size_t relay_scan(relay *r, recpos *rp, uint8_t *p, size_t n, int *cut) {
  for (size_t i = 0; i < n; i++) {
    if (rp->hdr_have < 5) {
      rp->hdr[rp->hdr_have++] = p[i];
      if (rp->hdr_have == 5) {
        rp->body_len = (size_t)rp->hdr[3] << 8 | rp->hdr[4];
        rp->body_at = 0;
      }
      continue;
    }
    if (rp->body_len > 8 && rp->body_at == rp->body_len / 2) {
      if (atomic_exchange(&r->cut_mid, 0)) {
        *cut = 1;
        return i;
      }
      if (atomic_exchange(&r->flip_mid, 0))
        p[i] ^= 0x01;
    }
    if (++rp->body_at == rp->body_len)
      rp->hdr_have = 0;
  }
  return n;
}

static int send_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static void *relay_main(void *arg) {
  relay *r = arg;
  static uint8_t buf[65536];
  while (!atomic_load(&r->stop)) {
    struct pollfd lp = {r->lfd, POLLIN, 0};
    if (poll(&lp, 1, 20) <= 0)
      continue;
    int a = accept(r->lfd, NULL, NULL);
    if (a < 0)
      continue;
    int b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(r->target);
    if (connect(b, (struct sockaddr *)&sa, sizeof sa) != 0) {
      close(a);
      close(b);
      continue;
    }
    atomic_fetch_add(&r->conns, 1);
    recpos rp = {0};
    int done = 0;
    while (!done && !atomic_load(&r->stop)) {
      struct pollfd ps[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (poll(ps, 2, 20) <= 0)
        continue;
      for (int i = 0; i < 2 && !done; i++) {
        if (!(ps[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        ssize_t k = recv(ps[i].fd, buf, sizeof buf, 0);
        if (k <= 0) {
          done = 1;
          break;
        }
        size_t n = (size_t)k;
        int cut = 0;
        if (i == 0)
          n = relay_scan(r, &rp, buf, n, &cut);
        relay_record(r, buf, n);
        if (send_all(i == 0 ? b : a, buf, n) != 0)
          done = 1;
        if (cut) {
          atomic_fetch_add(&r->cuts, 1);
          done = 1;
        }
      }
    }
    close(a);
    close(b);
  }
  return NULL;
}

static void relay_start(relay *r, uint16_t target) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mtx, NULL);
  r->target = target;
  r->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  ck_assert_int_eq(bind(r->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(listen(r->lfd, 8), 0);
  ck_assert_int_eq(getsockname(r->lfd, (struct sockaddr *)&sa, &sl), 0);
  r->port = ntohs(sa.sin_port);
  ck_assert_int_eq(pthread_create(&r->th, NULL, relay_main, r), 0);
}

static void relay_stop(relay *r) {
  atomic_store(&r->stop, 1);
  pthread_join(r->th, NULL);
  close(r->lfd);
  free(r->rec);
  pthread_mutex_destroy(&r->mtx);
}

/* 1 if the recorded bytes contain needle. */
static int relay_saw(relay *r, const void *needle, size_t n) {
  pthread_mutex_lock(&r->mtx);
  int found = r->nrec >= n && memmem(r->rec, r->nrec, needle, n) != NULL;
  pthread_mutex_unlock(&r->mtx);
  return found;
}

/* ---- nodes --------------------------------------------------------------------- */

/* A log hook that keeps the node component's lines (closed connections
 * are INFO, refused ones WARN). */
#define CAP_LINES 64
static struct {
  pthread_mutex_t mtx;
  int n;
  char text[CAP_LINES][ACTO_LOG_LINE_MAX + 1];
} cap = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void cap_hook(void *user, acto_log_level level, const char *component, const char *text) {
  (void)user;
  if (level > ACTO_LOG_INFO || strcmp(component, "node") != 0)
    return;
  pthread_mutex_lock(&cap.mtx);
  if (cap.n < CAP_LINES)
    snprintf(cap.text[cap.n++], sizeof cap.text[0], "%s", text);
  pthread_mutex_unlock(&cap.mtx);
}

/* 1 if a captured line contains both needles. */
static int cap_has(const char *a, const char *b) {
  pthread_mutex_lock(&cap.mtx);
  int found = 0;
  for (int i = 0; i < cap.n && !found; i++)
    found = strstr(cap.text[i], a) && (!b || strstr(cap.text[i], b));
  pthread_mutex_unlock(&cap.mtx);
  return found;
}

static int pred_cap(void *arg) {
  const char **ab = arg;
  return cap_has(ab[0], ab[1]);
}

#define ck_assert_logged(a, b)                                                                     \
  do {                                                                                             \
    const char *ab_[2] = {(a), (b)};                                                               \
    ck_assert_msg(tu_wait_until(pred_cap, ab_, TU_WAIT_MS), "no warning with \"%s\" and \"%s\"",   \
                  ab_[0], ab_[1] ? ab_[1] : "");                                                   \
  } while (0)

static acto_system *node_sys(const char *name, const uint8_t *key, uint32_t enc) {
  acto_config c = {0};
  c.threads = 2;
  acto_system *s = tu_system_cfg(&c);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, NULL));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_INFO));
  acto_node_config nc = {0};
  nc.name = name;
  nc.key = key;
  nc.key_len = 32;
  nc.heartbeat_ms = LIVE_HBT / 4;
  nc.heartbeat_timeout_ms = LIVE_HBT;
  nc.handshake_timeout_ms = 2000 * tu_multiplier();
  nc.reconnect_min_ms = 20;
  nc.reconnect_max_ms = 200;
  nc.encryption = enc;
  ck_assert_ok(acto_node_start(s, &nc));
  return s;
}

static uint16_t port_of(acto_system *s) {
  uint16_t p = 0;
  ck_assert_ok(acto_node_port(s, &p));
  return p;
}

/* Waits until the node counter `field` of sys is at least want. */
typedef struct nstat_arg {
  acto_system *s;
  size_t off;
  uint64_t want;
} nstat_arg;

static uint64_t nstat(acto_system *s, size_t off) {
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  uint64_t v;
  memcpy(&v, (const char *)&st + off, sizeof v);
  return v;
}

static int pred_nstat(void *p) {
  nstat_arg *a = p;
  return nstat(a->s, a->off) >= a->want;
}

#define ck_assert_stat_node(sys_, field, atleast)                                                  \
  do {                                                                                             \
    nstat_arg a_ = {(sys_), offsetof(acto_node_stats, field), (uint64_t)(atleast)};                \
    ck_assert_msg(tu_wait_until(pred_nstat, &a_, TU_WAIT_MS),                                      \
                  #field " is %" PRIu64 ", not %" PRIu64, nstat(a_.s, a_.off), a_.want);           \
  } while (0)

static acto_node_stats stats_of(acto_system *s) {
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  return st;
}

enum { T_ECHO = 1, T_WATCH = 2, T_LINK = 3, T_FAIL = 4, T_DATA = 5, T_SEQ = 6 };

/* T_SEQ: producer p's message number seq, checked in order per producer. */
typedef struct seq_msg {
  uint32_t producer, pad;
  uint64_t seq;
} seq_msg;
#define MAXP 4
static uint64_t next_seq[MAXP]; /* per producer: only the receiving actor */
static _Atomic long out_of_order;
static tu_counter seq_in;

static tu_counter events;  /* DOWN and EXIT received */
static tu_counter data_in; /* T_DATA received */
static _Atomic long last_reason;

typedef struct probe {
  acto_ref target;
} probe;

static int probe_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  probe *p = state;
  switch (m->type) {
  case T_ECHO:
    return acto_reply(ctx, T_ECHO, m->data, m->size);
  case T_DATA:
    tu_counter_add(&data_in, 1);
    return 0;
  case T_SEQ: {
    seq_msg q;
    memcpy(&q, m->data, sizeof q);
    if (q.producer >= MAXP || q.seq != next_seq[q.producer])
      atomic_fetch_add(&out_of_order, 1);
    else
      next_seq[q.producer]++;
    tu_counter_add(&seq_in, 1);
    return 0;
  }
  case T_FAIL:
    return -77;
  case T_WATCH: {
    memcpy(&p->target, m->data, sizeof p->target);
    uint64_t id;
    TU_EXPECT_RC(acto_monitor(ctx, p->target, &id), 0);
    return acto_reply(ctx, T_WATCH, NULL, 0);
  }
  case T_LINK:
    memcpy(&p->target, m->data, sizeof p->target);
    acto_trap_exit(ctx, 1);
    TU_EXPECT_RC(acto_link(ctx, p->target), 0);
    return acto_reply(ctx, T_LINK, NULL, 0);
  case ACTO_MSG_DOWN: {
    const acto_down *d = m->data;
    atomic_store(&last_reason, d->reason);
    tu_counter_add(&events, 1);
    return 0;
  }
  case ACTO_MSG_EXIT: {
    const acto_exit_signal *e = m->data;
    atomic_store(&last_reason, e->reason);
    tu_counter_add(&events, 1);
    return 0;
  }
  default:
    return 0;
  }
}

static const acto_behaviour PROBE = {
    .name = "probe", .state_size = sizeof(probe), .handle = probe_handle};

static acto_ref spawn_named(acto_system *s, const char *name) {
  acto_ref r;
  acto_spawn_opts o = {0};
  o.name = name;
  ck_assert_ok(acto_spawn(s, &PROBE, NULL, &o, &r));
  return r;
}

static void command(acto_system *s, acto_ref who, uint32_t type, acto_ref target) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, who, type, &target, sizeof target, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
}

static void setup(void) {
  tu_setup();
  tu_counter_init(&events);
  tu_counter_init(&data_in);
  tu_counter_init(&seq_in);
  memset(next_seq, 0, sizeof next_seq);
  atomic_store(&out_of_order, 0);
  atomic_store(&last_reason, -1000);
  pthread_mutex_lock(&cap.mtx);
  cap.n = 0;
  pthread_mutex_unlock(&cap.mtx);
}

START_TEST(an_encryption_value_other_than_none_or_tls_psk_is_refused) {
  acto_system *s = tu_system(1);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, NULL));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_ERROR));
  acto_node_config nc = {0};
  nc.name = "alpha";
  nc.key = KEY;
  nc.key_len = 32;
  nc.encryption = 2;
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL);
  ck_assert(cap_has("encryption 2", "ACTO_NODE_ENCRYPT_TLS_PSK"));
  /* The union's other half is a reserved part: not zero, refused. */
  nc.encryption_word_ = ~(uint64_t)0;
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL);
  nc.encryption_word_ = 0;
  nc.encryption = ACTO_NODE_ENCRYPT_TLS_PSK;
  ck_assert_ok(acto_node_start(s, &nc));
  tu_shutdown(s);
}
END_TEST

/* Sends, asks (both ways, small and large), monitors and links across an
 * encrypted link, and the DOWN and EXIT they fire. */
START_TEST(an_encrypted_link_carries_sends_asks_monitors_and_links_both_ways) {
  acto_system *a = node_sys("alpha", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_system *b = node_sys("beta", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_ref echo_b = spawn_named(b, "echo");
  acto_ref echo_a = spawn_named(a, "echo");
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", port_of(b), TU_WAIT_MS));
  acto_ref r;
  ck_assert_ok(acto_node_lookup(a, "beta", "echo", TU_WAIT_MS, &r));
  ck_assert(acto_ref_eq(r, echo_b));
  ck_assert_ok(acto_node_lookup(b, "alpha", "echo", TU_WAIT_MS, &r));
  ck_assert(acto_ref_eq(r, echo_a));
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, echo_b, T_ECHO, MARKER, 32, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, 32);
  ck_assert_mem_eq(rb.data, MARKER, 32);
  acto_reply_release(&rb);
  ck_assert_ok(acto_ask(b, echo_a, T_ECHO, "back", 4, TU_WAIT_MS, &rb));
  ck_assert_mem_eq(rb.data, "back", 4);
  acto_reply_release(&rb);
  size_t big = 300 * 1024;
  char *buf = malloc(big);
  for (size_t i = 0; i < big; i++)
    buf[i] = (char)(i * 7);
  ck_assert_ok(acto_ask(a, echo_b, T_ECHO, buf, big, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, big);
  ck_assert_mem_eq(rb.data, buf, big);
  acto_reply_release(&rb);
  free(buf);
  /* A stream of sends from threads and from an actor's replies. */
  long n = TU_N(20000, 5000, 2000);
  for (long i = 0; i < n; i++) {
    int rc = acto_send(a, echo_b, T_DATA, &i, sizeof i);
    ck_assert_msg(rc == 0, "send %ld: %s", i, acto_err_name(rc));
  }
  ck_assert_counter_reaches(&data_in, n);
  /* A monitor and a link across, each way: the remote actor fails. */
  acto_ref fa = spawn_named(a, "fa"), fb = spawn_named(b, "fb");
  acto_ref wa = spawn_named(a, "wa"), wb = spawn_named(b, "wb");
  command(a, wa, T_WATCH, fb);
  command(b, wb, T_LINK, fa);
  acto_send(a, fb, T_FAIL, NULL, 0);
  acto_send(b, fa, T_FAIL, NULL, 0);
  ck_assert_counter_reaches(&events, 2);
  ck_assert_int_eq(atomic_load(&last_reason), -77);
  acto_node_stats sa = stats_of(a), sb = stats_of(b);
  ck_assert_uint_eq(sa.peers_up, 1);
  ck_assert_uint_eq(sa.handshakes_refused, 0);
  ck_assert_uint_eq(sb.handshakes_refused, 0);
  ck_assert_uint_eq(sa.bad_frames + sb.bad_frames, 0);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

typedef struct producer_arg {
  acto_system *sys;
  acto_ref to;
  uint32_t id;
  long n;
} producer_arg;

static void *producer(void *p_) {
  producer_arg *p = p_;
  for (long i = 0; i < p->n; i++) {
    seq_msg q = {p->id, 0, (uint64_t)i};
    int rc = acto_send(p->sys, p->to, T_SEQ, &q, sizeof q);
    TU_EXPECT(rc == 0, "producer %u send %ld: %s", p->id, i, acto_err_name(rc));
  }
  return NULL;
}

/* Both nodes send to each other at once from two threads each: the I/O
 * threads decrypt while the senders encrypt in direct writes and the
 * loops write queued frames, on the same sessions.
 * Every message arrives, in order per sender. */
START_TEST(encrypted_traffic_both_ways_at_once_keeps_order_per_sender) {
  acto_system *a = node_sys("alpha", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_system *b = node_sys("beta", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_ref ra = spawn_named(a, "sink"), rb = spawn_named(b, "sink");
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", port_of(b), TU_WAIT_MS));
  acto_reply_buf reply;
  ck_assert_ok(acto_ask(b, ra, T_ECHO, "x", 1, TU_WAIT_MS, &reply)); /* beta knows alpha */
  acto_reply_release(&reply);
  long n = TU_N(50000, 10000, 3000);
  producer_arg args[4] = {{a, rb, 0, n}, {a, rb, 1, n}, {b, ra, 2, n}, {b, ra, 3, n}};
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, producer, &args[i]), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  ck_assert_counter_reaches(&seq_in, 4 * n);
  ck_assert_int_eq(atomic_load(&out_of_order), 0);
  ck_assert_uint_eq(stats_of(a).bad_frames + stats_of(b).bad_frames, 0);
  ck_assert_uint_eq(stats_of(a).connects, 1);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* The bytes between the nodes, recorded by a relay: with encryption off
 * the payload and the names are there in clear; with it on, neither. */
static void wire_run(uint32_t enc, int expect_clear) {
  acto_system *a = node_sys("alpha-wire", KEY, enc);
  acto_system *b = node_sys("beta-wire", KEY, enc);
  acto_ref echo = spawn_named(b, "echo");
  relay rl;
  relay_start(&rl, port_of(b));
  ck_assert_ok(acto_node_connect(a, "beta-wire", "127.0.0.1", rl.port, TU_WAIT_MS));
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, echo, T_ECHO, MARKER, 32, TU_WAIT_MS, &rb));
  ck_assert_mem_eq(rb.data, MARKER, 32);
  acto_reply_release(&rb);
  ck_assert_int_eq(relay_saw(&rl, MARKER, 32), expect_clear);
  ck_assert_int_eq(relay_saw(&rl, "alpha-wire", 10), expect_clear);
  ck_assert_int_eq(relay_saw(&rl, "beta-wire", 9), expect_clear);
  tu_shutdown(a);
  tu_shutdown(b);
  relay_stop(&rl);
}

START_TEST(the_bytes_on_the_wire_are_encrypted_only_with_encryption_on) {
  wire_run(ACTO_NODE_ENCRYPT_NONE, 1);
  wire_run(ACTO_NODE_ENCRYPT_TLS_PSK, 0);
}
END_TEST

START_TEST(a_wrong_key_is_refused_by_tls_on_both_sides) {
  acto_system *a = node_sys("alpha", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_system *b = node_sys("beta", OTHER_KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  ck_assert_rc(acto_node_connect(a, "beta", "127.0.0.1", port_of(b), TU_WAIT_MS), ACTO_EAUTH);
  ck_assert_uint_ge(stats_of(a).handshakes_refused, 1);
  ck_assert_uint_eq(stats_of(a).peers_up, 0);
  ck_assert_logged("wrong cluster key", NULL);
  ck_assert_stat_node(b, handshakes_refused, 1);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(encrypted_and_plain_nodes_refuse_each_other_and_say_why) {
  acto_system *e = node_sys("enc", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_system *p = node_sys("plain", KEY, ACTO_NODE_ENCRYPT_NONE);
  /* The encrypted node connects to the plain one. */
  ck_assert_rc(acto_node_connect(e, "plain", "127.0.0.1", port_of(p), TU_WAIT_MS), ACTO_EAUTH);
  ck_assert_logged("the peer speaks TLS: it has encryption on and this node has it off", NULL);
  ck_assert_logged("the peer refused TLS 1.3", NULL);
  /* The plain node connects to the encrypted one. */
  ck_assert_rc(acto_node_connect(p, "enc", "127.0.0.1", port_of(e), TU_WAIT_MS), ACTO_EAUTH);
  ck_assert_logged("the peer sent an acto frame in clear: it has encryption off", NULL);
  ck_assert_logged("the peer answered with TLS", NULL);
  acto_node_stats se = stats_of(e), sp = stats_of(p);
  ck_assert_uint_ge(se.handshakes_refused, 2);
  ck_assert_uint_ge(sp.handshakes_refused, 2);
  ck_assert_uint_eq(se.bad_frames + sp.bad_frames, 0);
  ck_assert_uint_eq(se.connects + sp.connects, 0);
  tu_shutdown(e);
  tu_shutdown(p);
}
END_TEST

/* A raw TCP client of an encrypted node. */
static int raw_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {TU_WAIT_MS / 1000, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Reads until the node closes (0) or the receive timeout (-1); the bytes
 * read go to out[0..*n). */
static int raw_wait_close(int fd, uint8_t *out, size_t size, size_t *n) {
  *n = 0;
  for (;;) {
    uint8_t tmp[4096];
    ssize_t k = recv(fd, tmp, sizeof tmp, 0);
    if (k == 0)
      return 0;
    if (k < 0)
      return errno == ECONNRESET ? 0 : -1;
    size_t c = (size_t)k < size - *n ? (size_t)k : size - *n;
    memcpy(out + *n, tmp, c);
    *n += c;
  }
}

/* A node whose heartbeat tick is quick, so handshake timeouts fire soon. */
static acto_system *quick_node(const char *name, int64_t hs_ms) {
  acto_config c = {0};
  c.threads = 1;
  acto_system *s = tu_system_cfg(&c);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, NULL));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_INFO));
  acto_node_config nc = {0};
  nc.name = name;
  nc.key = KEY;
  nc.key_len = 32;
  nc.heartbeat_ms = 40;
  nc.heartbeat_timeout_ms = 160;
  nc.handshake_timeout_ms = hs_ms;
  nc.encryption = ACTO_NODE_ENCRYPT_TLS_PSK;
  ck_assert_ok(acto_node_start(s, &nc));
  return s;
}

START_TEST(garbage_instead_of_a_client_hello_is_refused_with_an_alert) {
  acto_system *s = node_sys("beta", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  uint16_t port = port_of(s);
  uint8_t got[256];
  size_t n;
  /* Not a TLS record at all (an HTTP request). */
  int fd = raw_connect(port);
  ck_assert_int_eq(send(fd, "GET / HTTP/1.1\r\n\r\n", 18, MSG_NOSIGNAL), 18);
  ck_assert_int_eq(raw_wait_close(fd, got, sizeof got, &n), 0);
  ck_assert_uint_eq(n, ACTO__TLS_ALERT_LEN);
  ck_assert_mem_eq(got, acto__tls_alert_protocol_version, ACTO__TLS_ALERT_LEN);
  close(fd);
  ck_assert_logged("not TLS", NULL);
  /* A handshake record header with a body that is not a ClientHello. */
  fd = raw_connect(port);
  uint8_t bad[5 + 64] = {0x16, 0x03, 0x01, 0x00, 64};
  for (int i = 5; i < (int)sizeof bad; i++)
    bad[i] = (uint8_t)(i * 37);
  ck_assert_int_eq(send(fd, bad, sizeof bad, MSG_NOSIGNAL), (ssize_t)sizeof bad);
  ck_assert_int_eq(raw_wait_close(fd, got, sizeof got, &n), 0);
  ck_assert_uint_ge(n, 7); /* OpenSSL's own alert */
  ck_assert_uint_eq(got[0], 0x15);
  close(fd);
  ck_assert_stat_node(s, handshakes_refused, 2);
  /* The node still accepts a real peer. */
  acto_system *a = node_sys("alpha", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", port, TU_WAIT_MS));
  tu_shutdown(a);
  tu_shutdown(s);
}
END_TEST

START_TEST(a_peer_that_closes_or_stalls_mid_tls_handshake_is_dropped) {
  acto_system *s = quick_node("beta", 400 * tu_multiplier());
  uint16_t port = port_of(s);
  /* The first 60 bytes of a ClientHello, then the connection closes. */
  acto__tls_ctx x;
  acto__tls t;
  ck_assert_ok(acto__tls_ctx_init(&x, KEY, 32));
  ck_assert_ok(acto__tls_init(&t, &x, 1));
  ck_assert_int_eq(acto__tls_handshake(&t), ACTO__TLS_MORE);
  ck_assert_uint_gt(acto__buf_unread(&t.ct_out), 60);
  int fd = raw_connect(port);
  ck_assert_int_eq(send(fd, t.ct_out.p, 60, MSG_NOSIGNAL), 60);
  close(fd);
  /* The same, but the peer stays connected and silent: the TLS handshake
   * timeout (half the handshake timeout) closes it, counted as refused. */
  int64_t t0 = tu_now_ms(); /* before the node can have accepted it */
  fd = raw_connect(port);
  ck_assert_int_eq(send(fd, t.ct_out.p, 60, MSG_NOSIGNAL), 60);
  uint8_t got[64];
  size_t n;
  ck_assert_int_eq(raw_wait_close(fd, got, sizeof got, &n), 0);
  ck_assert_int_ge(tu_now_ms() - t0, 200 * tu_multiplier()); /* not before its bound */
  close(fd);
  ck_assert_logged("TLS handshake timeout", NULL);
  /* The timeout is a refused handshake; the peer that closed is not. */
  ck_assert_stat_node(s, handshakes_refused, 1);
  ck_assert_uint_eq(stats_of(s).handshakes_refused, 1);
  acto__tls_clear(&t);
  acto__tls_ctx_clear(&x);
  /* A real peer is still welcome. */
  acto_system *a = quick_node("alpha", 400 * tu_multiplier());
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", port, TU_WAIT_MS));
  tu_shutdown(a);
  tu_shutdown(s);
}
END_TEST

/* The last DOWN each node saw (user: 0 alpha, 1 beta), and how many. */
static _Atomic int downs[2];
static char down_reason[2][160];
static void on_event(void *user, acto_node_event ev, const char *name, uint64_t id,
                     const char *reason) {
  (void)name;
  (void)id;
  int i = (int)(intptr_t)user;
  if (ev == ACTO_NODE_DOWN) {
    snprintf(down_reason[i], sizeof down_reason[i], "%s", reason);
    atomic_fetch_add(&downs[i], 1);
  }
}

static int pred_downs(void *arg) {
  return atomic_load(&downs[0]) >= *(int *)arg && atomic_load(&downs[1]) >= *(int *)arg;
}

/* PITFALLS (libevent 6): an end of stream with no close_notify, here in
 * the middle of a record, takes the link down cleanly on both sides (the
 * monitors fire), and the nodes connect again and carry traffic. */
START_TEST(an_unexpected_eof_inside_a_record_takes_the_link_down_cleanly) {
  atomic_store(&downs[0], 0);
  atomic_store(&downs[1], 0);
  acto_system *a = node_sys("alpha", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_system *b = node_sys("beta", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_ref echo = spawn_named(b, "echo");
  acto_ref w = spawn_named(a, "watcher");
  relay rl;
  relay_start(&rl, port_of(b));
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", rl.port, TU_WAIT_MS));
  ck_assert_ok(acto_node_set_event_hook(a, on_event, (void *)(intptr_t)0));
  ck_assert_ok(acto_node_set_event_hook(b, on_event, (void *)(intptr_t)1));
  command(a, w, T_WATCH, echo);
  /* Cut inside the next record from alpha: a large message. */
  atomic_store(&rl.cut_mid, 1);
  size_t big = 100 * 1024;
  char *buf = calloc(1, big);
  ck_assert_ok(acto_send(a, echo, T_DATA, buf, big));
  free(buf);
  ck_assert_counter_reaches(&events, 1);
  ck_assert_int_eq(atomic_load(&last_reason), ACTO_REASON_NOCONNECTION);
  ck_assert_int_eq(atomic_load(&rl.cuts), 1);
  int one = 1;
  ck_assert(tu_wait_until(pred_downs, &one, TU_WAIT_MS));
  /* beta was inside a record from alpha; alpha was writing it, so it may
   * meet the reset as a failed write rather than the end of stream. */
  ck_assert_msg(strcmp(down_reason[1], "connection closed by the peer (no TLS close_notify)") == 0,
                "beta: %s", down_reason[1]);
  ck_assert_msg(strstr(down_reason[0], "no TLS close_notify") ||
                    strstr(down_reason[0], "write failed") ||
                    strstr(down_reason[0], "connection reset"),
                "alpha: %s", down_reason[0]);
  /* The cut message was not delivered in part: beta saw nothing of it. */
  ck_assert_int_eq(tu_counter_get(&data_in), 0);
  /* alpha reconnects on its own (a known peer), through the relay. */
  acto_reply_buf rb;
  int rc = ACTO_ENOTCONN;
  for (long t0 = tu_now_ms(); rc != 0 && tu_now_ms() - t0 < TU_WAIT_MS;) {
    rc = acto_node_connect(a, "beta", "127.0.0.1", rl.port, TU_WAIT_MS);
    if (rc != 0)
      tu_sleep_ms(20);
  }
  ck_assert_ok(rc);
  ck_assert_ok(acto_ask(a, echo, T_ECHO, "again", 5, TU_WAIT_MS, &rb));
  ck_assert_mem_eq(rb.data, "again", 5);
  acto_reply_release(&rb);
  ck_assert_uint_eq(stats_of(a).bad_frames + stats_of(b).bad_frames, 0);
  /* An orderly stop sends close_notify: alpha says so. */
  ck_assert_ok(acto_node_set_event_hook(b, NULL, NULL));
  atomic_store(&downs[0], 0);
  atomic_store(&downs[1], 1);
  ck_assert_ok(acto_node_stop(b));
  ck_assert(tu_wait_until(pred_downs, &one, TU_WAIT_MS));
  ck_assert_str_eq(down_reason[0], "the peer closed the TLS session (close_notify)");
  ck_assert_ok(acto_node_set_event_hook(a, NULL, NULL));
  tu_shutdown(a);
  tu_shutdown(b);
  relay_stop(&rl);
}
END_TEST

/* A bit flipped inside a record: the record does not verify, the link
 * closes as for a bad frame, and nothing of that record is delivered. */
START_TEST(a_tampered_record_closes_the_link_as_a_bad_frame) {
  acto_system *a = node_sys("alpha", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_system *b = node_sys("beta", KEY, ACTO_NODE_ENCRYPT_TLS_PSK);
  acto_ref echo = spawn_named(b, "echo");
  relay rl;
  relay_start(&rl, port_of(b));
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", rl.port, TU_WAIT_MS));
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, echo, T_ECHO, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  atomic_store(&rl.flip_mid, 1);
  ck_assert_ok(acto_send(a, echo, T_DATA, MARKER, 32));
  ck_assert_stat_node(b, bad_frames, 1);
  ck_assert_logged("does not decrypt", NULL);
  ck_assert_int_eq(tu_counter_get(&data_in), 0);
  tu_shutdown(a);
  tu_shutdown(b);
  relay_stop(&rl);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tls");
  TCase *tc = tu_tcase("session", TU_TCASE_TIMEOUT);
  tu_add_tests(
      tc, the_psk_is_hkdf_sha256_of_the_key_under_the_documented_label,
      two_sessions_agree_on_tls13_psk_dhe_x25519_and_aes128gcm,
      a_wrong_key_fails_the_tls_handshake_on_both_sides, psk_ke_without_dhe_is_never_negotiated,
      a_server_certificate_instead_of_the_psk_is_refused,
      the_client_hello_offers_what_actors_md_lists, the_first_bytes_tell_tls_from_an_acto_frame);
  suite_add_tcase(s, tc);

  tc = tu_tcase("node", 60);
  tcase_add_checked_fixture(tc, setup, NULL);
  tu_add_tests(tc, an_encryption_value_other_than_none_or_tls_psk_is_refused,
               an_encrypted_link_carries_sends_asks_monitors_and_links_both_ways,
               encrypted_traffic_both_ways_at_once_keeps_order_per_sender,
               the_bytes_on_the_wire_are_encrypted_only_with_encryption_on,
               a_wrong_key_is_refused_by_tls_on_both_sides,
               encrypted_and_plain_nodes_refuse_each_other_and_say_why,
               garbage_instead_of_a_client_hello_is_refused_with_an_alert,
               a_peer_that_closes_or_stalls_mid_tls_handshake_is_dropped,
               an_unexpected_eof_inside_a_record_takes_the_link_down_cleanly,
               a_tampered_record_closes_the_link_as_a_bad_frame);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
