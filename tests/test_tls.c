/* test_tls.c - encryption of the node link (transport/tls.c): the TLS 1.3
 * sessions on their own, over socket pairs.
 */
#include <fcntl.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "transport/tls.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER_KEY[32] = "ffffffffffffffffffffffffffffffff";
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

int main(void) {
  Suite *s = suite_create("tls");
  TCase *tc = tu_tcase("session", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, the_psk_is_hkdf_sha256_of_the_key_under_the_documented_label,
               two_sessions_agree_on_tls13_psk_dhe_x25519_and_aes128gcm,
               a_wrong_key_fails_the_tls_handshake_on_both_sides,
               psk_ke_without_dhe_is_never_negotiated,
               a_server_certificate_instead_of_the_psk_is_refused,
               the_first_bytes_tell_tls_from_an_acto_frame);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
