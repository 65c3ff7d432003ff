/* test_auth.c - authentication of the node protocol (transport/auth.c):
 * the key file rules, the mutual handshake and every way to break it
 * (wrong key, replay, reflection, flipped bits, truncation, version), and
 * the per-frame MAC with its implicit sequence numbers.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "transport/auth.h"
#include "transport/frame.h"
#include "testutil.h"

static acto__auth_key key_of(uint8_t fill) {
  acto__auth_key k;
  memset(k.bytes, fill, sizeof k.bytes);
  for (unsigned i = 0; i < 32; i++)
    k.bytes[i] = (uint8_t)(fill + 7 * i);
  k.len = 32;
  return k;
}

/* One handshake's three messages, as they went over the wire. */
typedef struct transcript {
  uint8_t hello[ACTO__AUTH_MSG_MAX];
  size_t hello_len;
  uint8_t challenge[ACTO__AUTH_MSG_MAX];
  size_t challenge_len;
  uint8_t response[ACTO__AUTH_MSG_MAX];
  size_t response_len;
} transcript;

/* Run a full handshake between fresh c and s; asserts success. */
static void handshake(acto__auth *c, acto__auth *s, const acto__auth_key *kc,
                      const acto__auth_key *ks, transcript *t) {
  transcript local;
  if (t == NULL)
    t = &local;
  ck_assert_int_eq(acto__auth_init(c, ACTO__AUTH_CLIENT, "alpha@host-1", kc, NULL), 0);
  ck_assert_int_eq(acto__auth_init(s, ACTO__AUTH_SERVER, "beta_2.example", ks, NULL), 0);
  int n = acto__auth_start(c, t->hello, sizeof t->hello);
  ck_assert_int_eq(n, 5 + 12 + 32);
  t->hello_len = (size_t)n;
  ck_assert_int_eq(acto__auth_feed(s, t->hello, t->hello_len, t->challenge,
                                   sizeof t->challenge, &t->challenge_len),
                   ACTO__AUTH_MORE);
  ck_assert_uint_eq(t->challenge_len, 5 + 14 + 64);
  ck_assert_ptr_null(acto__auth_peer_name(s));
  ck_assert_int_eq(acto__auth_feed(c, t->challenge, t->challenge_len, t->response,
                                   sizeof t->response, &t->response_len),
                   ACTO__AUTH_DONE);
  ck_assert_uint_eq(t->response_len, 36);
  uint8_t none[ACTO__AUTH_MSG_MAX];
  size_t none_len = 99;
  ck_assert_int_eq(
      acto__auth_feed(s, t->response, t->response_len, none, sizeof none, &none_len),
      ACTO__AUTH_DONE);
  ck_assert_uint_eq(none_len, 0);
}

/* Start a client and a server and bring them to the point where `which`
 * message is about to be fed; returns that message in msg. */
enum { AT_HELLO, AT_CHALLENGE, AT_RESPONSE };
static void prepare(acto__auth *c, acto__auth *s, int which, uint8_t *msg, size_t *len) {
  acto__auth_key k = key_of(1);
  ck_assert_int_eq(acto__auth_init(c, ACTO__AUTH_CLIENT, "c", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_init(s, ACTO__AUTH_SERVER, "s", &k, NULL), 0);
  uint8_t buf[ACTO__AUTH_MSG_MAX];
  int n = acto__auth_start(c, msg, ACTO__AUTH_MSG_MAX);
  ck_assert_int_gt(n, 0);
  *len = (size_t)n;
  if (which == AT_HELLO)
    return;
  ck_assert_int_eq(acto__auth_feed(s, msg, *len, buf, sizeof buf, len), ACTO__AUTH_MORE);
  memcpy(msg, buf, *len);
  if (which == AT_CHALLENGE)
    return;
  ck_assert_int_eq(acto__auth_feed(c, msg, *len, buf, sizeof buf, len), ACTO__AUTH_DONE);
  memcpy(msg, buf, *len);
}

/* Feed msg to the side that expects it at `which`. */
static int feed_at(acto__auth *c, acto__auth *s, int which, const uint8_t *msg, size_t len) {
  uint8_t out[ACTO__AUTH_MSG_MAX];
  size_t out_len;
  return acto__auth_feed(which == AT_CHALLENGE ? c : s, msg, len, out, sizeof out, &out_len);
}

/* ---- handshake ------------------------------------------------------------- */

START_TEST(auth_full_handshake_succeeds_and_both_learn_the_peer_name) {
  acto__auth c, s;
  acto__auth_key k = key_of(3);
  transcript t;
  handshake(&c, &s, &k, &k, &t);
  ck_assert_str_eq(acto__auth_peer_name(&c), "beta_2.example");
  ck_assert_str_eq(acto__auth_peer_name(&s), "alpha@host-1");
  ck_assert_ptr_null(acto__auth_reason(&c));
  /* Every message is one msgpack bin 8 within the pre-auth frame cap. */
  ck_assert_uint_eq(t.hello[0], 0xc4);
  ck_assert_uint_eq(t.challenge[0], 0xc4);
  ck_assert_uint_eq(t.response[0], 0xc4);
  ck_assert_uint_le(ACTO__AUTH_MSG_MAX, ACTO__FRAME_CAP_PREAUTH);
  /* Frames flow both ways. */
  uint8_t tag[32];
  ck_assert_int_eq(acto__auth_seal(&c, "ping", 4, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "ping", 4, tag), 0);
  ck_assert_int_eq(acto__auth_seal(&s, "pong", 4, tag), 0);
  ck_assert_int_eq(acto__auth_open(&c, "pong", 4, tag), 0);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  acto__auth_clear(&s); /* twice is fine */
}
END_TEST

/* The wire format pinned byte by byte against an independent computation
 * with HMAC() (auth.h, "Handshake messages" and "Frame keys and tags"):
 * the layouts, the length-prefixed transcript, both labels, the frame
 * keys and a frame tag. */
static void hmac(const uint8_t *key, size_t kl, const uint8_t *d, size_t n, uint8_t out[32]) {
  unsigned ol = 0;
  ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)kl, d, n, out, &ol));
  ck_assert_uint_eq(ol, 32);
}

START_TEST(auth_wire_format_matches_an_independent_computation) {
  acto__auth_key k = key_of(21);
  uint8_t nc[32], ns[32];
  for (unsigned i = 0; i < 32; i++)
    nc[i] = (uint8_t)(0x10 + i), ns[i] = (uint8_t)(0x90 + i);
  acto__auth c, s;
  ck_assert_int_eq(acto__auth_init(&c, ACTO__AUTH_CLIENT, "ab", &k, nc), 0);
  ck_assert_int_eq(acto__auth_init(&s, ACTO__AUTH_SERVER, "xyz", &k, ns), 0);
  uint8_t m1[ACTO__AUTH_MSG_MAX], m2[ACTO__AUTH_MSG_MAX], m3[ACTO__AUTH_MSG_MAX];
  size_t l2, l3, l4;
  int l1 = acto__auth_start(&c, m1, sizeof m1);
  uint8_t want_hello[5 + 2 + 32] = {0xc4, 37, 1, ACTO__AUTH_VERSION, 2, 'a', 'b'};
  memcpy(want_hello + 7, nc, 32);
  ck_assert_int_eq(l1, (int)sizeof want_hello);
  ck_assert_int_eq(memcmp(m1, want_hello, sizeof want_hello), 0);

  uint8_t t[1 + 32 + 32 + 1 + 2 + 1 + 3], *p = t;
  *p++ = ACTO__AUTH_VERSION;
  memcpy(p, nc, 32), p += 32;
  memcpy(p, ns, 32), p += 32;
  *p++ = 2, *p++ = 'a', *p++ = 'b';
  *p++ = 3, *p++ = 'x', *p++ = 'y', *p++ = 'z';
  uint8_t in[14 + sizeof t], mac_s[32], mac_c[32];
  memcpy(in, "acto-v1 server", 14);
  memcpy(in + 14, t, sizeof t);
  hmac(k.bytes, 32, in, sizeof in, mac_s);
  memcpy(in, "acto-v1 client", 14);
  hmac(k.bytes, 32, in, sizeof in, mac_c);

  ck_assert_int_eq(acto__auth_feed(&s, m1, (size_t)l1, m2, sizeof m2, &l2), ACTO__AUTH_MORE);
  uint8_t want_ch[5 + 3 + 64] = {0xc4, 70, 2, ACTO__AUTH_VERSION, 3, 'x', 'y', 'z'};
  memcpy(want_ch + 8, ns, 32);
  memcpy(want_ch + 40, mac_s, 32);
  ck_assert_uint_eq(l2, sizeof want_ch);
  ck_assert_int_eq(memcmp(m2, want_ch, sizeof want_ch), 0);

  ck_assert_int_eq(acto__auth_feed(&c, m2, l2, m3, sizeof m3, &l3), ACTO__AUTH_DONE);
  uint8_t want_resp[36] = {0xc4, 34, 3, ACTO__AUTH_VERSION};
  memcpy(want_resp + 4, mac_c, 32);
  ck_assert_uint_eq(l3, 36);
  ck_assert_int_eq(memcmp(m3, want_resp, 36), 0);
  ck_assert_int_eq(acto__auth_feed(&s, m3, l3, m1, sizeof m1, &l4), ACTO__AUTH_DONE);

  /* k_c2s and k_s2c, then the tags of frame 0 and 1 in each direction. */
  uint8_t kin[11 + 64], kc2s[32], ks2c[32];
  memcpy(kin + 11, nc, 32);
  memcpy(kin + 43, ns, 32);
  memcpy(kin, "acto-v1 c2s", 11);
  hmac(k.bytes, 32, kin, sizeof kin, kc2s);
  memcpy(kin, "acto-v1 s2c", 11);
  hmac(k.bytes, 32, kin, sizeof kin, ks2c);
  for (uint64_t seq = 0; seq < 2; seq++) {
    uint8_t fin[12 + 5] = {0}, want[32], tag[32];
    fin[0] = (uint8_t)seq; /* u64 little-endian, then u32 little-endian */
    fin[8] = 5;
    memcpy(fin + 12, "hello", 5);
    hmac(kc2s, 32, fin, sizeof fin, want);
    ck_assert_int_eq(acto__auth_seal(&c, "hello", 5, tag), 0);
    ck_assert_int_eq(memcmp(tag, want, 32), 0);
    ck_assert_int_eq(acto__auth_open(&s, "hello", 5, tag), 0);
    hmac(ks2c, 32, fin, sizeof fin, want);
    ck_assert_int_eq(acto__auth_seal(&s, "hello", 5, tag), 0);
    ck_assert_int_eq(memcmp(tag, want, 32), 0);
    ck_assert_int_eq(acto__auth_open(&c, "hello", 5, tag), 0);
  }
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_longest_names_fit_and_work) {
  acto__auth c, s;
  acto__auth_key k = key_of(4);
  char name[ACTO__AUTH_NAME_MAX + 2];
  memset(name, 'n', ACTO__AUTH_NAME_MAX);
  name[ACTO__AUTH_NAME_MAX] = '\0';
  ck_assert_int_eq(acto__auth_init(&c, ACTO__AUTH_CLIENT, name, &k, NULL), 0);
  ck_assert_int_eq(acto__auth_init(&s, ACTO__AUTH_SERVER, name, &k, NULL), 0);
  uint8_t m1[ACTO__AUTH_MSG_MAX], m2[ACTO__AUTH_MSG_MAX], m3[ACTO__AUTH_MSG_MAX];
  size_t l2, l3, l4;
  int l1 = acto__auth_start(&c, m1, sizeof m1);
  ck_assert_int_eq(l1, 5 + 64 + 32);
  ck_assert_int_eq(acto__auth_feed(&s, m1, (size_t)l1, m2, sizeof m2, &l2), ACTO__AUTH_MORE);
  ck_assert_uint_eq(l2, ACTO__AUTH_MSG_MAX);
  ck_assert_int_eq(acto__auth_feed(&c, m2, l2, m3, sizeof m3, &l3), ACTO__AUTH_DONE);
  ck_assert_int_eq(acto__auth_feed(&s, m3, l3, m1, sizeof m1, &l4), ACTO__AUTH_DONE);
  ck_assert_str_eq(acto__auth_peer_name(&s), name);
  acto__auth_clear(&c);
  /* One more byte, or a character outside the set, is not a name. */
  name[ACTO__AUTH_NAME_MAX] = 'n';
  name[ACTO__AUTH_NAME_MAX + 1] = '\0';
  ck_assert_int_eq(acto__auth_init(&c, ACTO__AUTH_CLIENT, name, &k, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_init(&c, ACTO__AUTH_CLIENT, "a b", &k, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_init(&c, ACTO__AUTH_CLIENT, "", &k, NULL), ACTO_EINVAL);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_wrong_key_is_refused_by_the_client_on_the_challenge) {
  acto__auth c, s;
  acto__auth_key kc = key_of(1), ks = key_of(2);
  ck_assert_int_eq(acto__auth_init(&c, ACTO__AUTH_CLIENT, "c", &kc, NULL), 0);
  ck_assert_int_eq(acto__auth_init(&s, ACTO__AUTH_SERVER, "s", &ks, NULL), 0);
  uint8_t m1[ACTO__AUTH_MSG_MAX], m2[ACTO__AUTH_MSG_MAX], m3[ACTO__AUTH_MSG_MAX];
  size_t l2, l3 = 99;
  int l1 = acto__auth_start(&c, m1, sizeof m1);
  /* The server cannot tell yet: it answers. */
  ck_assert_int_eq(acto__auth_feed(&s, m1, (size_t)l1, m2, sizeof m2, &l2), ACTO__AUTH_MORE);
  /* The client checks first and refuses, sending nothing. */
  ck_assert_int_eq(acto__auth_feed(&c, m2, l2, m3, sizeof m3, &l3), ACTO_EPROTO);
  ck_assert_uint_eq(l3, 0);
  ck_assert_ptr_nonnull(strstr(acto__auth_reason(&c), "server MAC"));
  ck_assert_ptr_null(acto__auth_peer_name(&c));
  uint8_t tag[32];
  ck_assert_int_eq(acto__auth_seal(&c, "x", 1, tag), ACTO_EINVAL);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_client_without_the_key_is_refused_by_the_server_on_the_response) {
  /* A client that does not know the key cannot forge mac_c, even when it
   * is handed a CHALLENGE that verifies under its own wrong key. */
  acto__auth_key other = key_of(9);
  acto__auth c2, s2;
  acto__auth_key k = key_of(1);
  ck_assert_int_eq(acto__auth_init(&c2, ACTO__AUTH_CLIENT, "c", &other, NULL), 0);
  ck_assert_int_eq(acto__auth_init(&s2, ACTO__AUTH_SERVER, "s", &k, NULL), 0);
  uint8_t m1[ACTO__AUTH_MSG_MAX], m2[ACTO__AUTH_MSG_MAX], m3[ACTO__AUTH_MSG_MAX];
  size_t l2, l3;
  int l1 = acto__auth_start(&c2, m1, sizeof m1);
  ck_assert_int_eq(acto__auth_feed(&s2, m1, (size_t)l1, m2, sizeof m2, &l2), ACTO__AUTH_MORE);
  /* A wrong-key server with the same nonce makes a CHALLENGE that the
   * wrong-key client accepts, so the client sends its RESPONSE. */
  acto__auth s3;
  ck_assert_int_eq(acto__auth_init(&s3, ACTO__AUTH_SERVER, "s", &other, s2.nonce_s), 0);
  ck_assert_int_eq(acto__auth_feed(&s3, m1, (size_t)l1, m2, sizeof m2, &l2), ACTO__AUTH_MORE);
  ck_assert_int_eq(acto__auth_feed(&c2, m2, l2, m3, sizeof m3, &l3), ACTO__AUTH_DONE);
  /* The real server (right key, same nonces) refuses that RESPONSE. */
  ck_assert_int_eq(feed_at(&c2, &s2, AT_RESPONSE, m3, l3), ACTO_EPROTO);
  ck_assert_ptr_nonnull(strstr(acto__auth_reason(&s2), "client MAC"));
  ck_assert_ptr_null(acto__auth_peer_name(&s2));
  acto__auth_clear(&c2);
  acto__auth_clear(&s2);
  acto__auth_clear(&s3);
}
END_TEST

START_TEST(auth_messages_replayed_from_an_earlier_session_are_refused) {
  acto__auth c, s;
  acto__auth_key k = key_of(5);
  transcript old;
  handshake(&c, &s, &k, &k, &old);
  acto__auth_clear(&c);
  acto__auth_clear(&s);

  /* Old CHALLENGE to a new client: its nonce_c is different. */
  acto__auth c2, s2;
  ck_assert_int_eq(acto__auth_init(&c2, ACTO__AUTH_CLIENT, "alpha@host-1", &k, NULL), 0);
  uint8_t m[ACTO__AUTH_MSG_MAX];
  size_t ml;
  ck_assert_int_gt(acto__auth_start(&c2, m, sizeof m), 0);
  ck_assert_int_eq(acto__auth_feed(&c2, old.challenge, old.challenge_len, m, sizeof m, &ml),
                   ACTO_EPROTO);
  acto__auth_clear(&c2);

  /* Old HELLO to a new server is answered (it carries no proof), but the
   * old RESPONSE then fails: the server's nonce is new. */
  ck_assert_int_eq(acto__auth_init(&s2, ACTO__AUTH_SERVER, "beta_2.example", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_feed(&s2, old.hello, old.hello_len, m, sizeof m, &ml),
                   ACTO__AUTH_MORE);
  ck_assert_int_eq(acto__auth_feed(&s2, old.response, old.response_len, m, sizeof m, &ml),
                   ACTO_EPROTO);
  ck_assert_ptr_null(acto__auth_peer_name(&s2));
  acto__auth_clear(&s2);
}
END_TEST

START_TEST(auth_a_second_hello_and_out_of_order_messages_are_refused) {
  acto__auth c, s;
  uint8_t hello[ACTO__AUTH_MSG_MAX], m[ACTO__AUTH_MSG_MAX];
  size_t hl, ml;
  prepare(&c, &s, AT_HELLO, hello, &hl);
  ck_assert_int_eq(acto__auth_feed(&s, hello, hl, m, sizeof m, &ml), ACTO__AUTH_MORE);
  ck_assert_int_eq(acto__auth_feed(&s, hello, hl, m, sizeof m, &ml), ACTO_EPROTO);
  /* Once failed, always failed, with the first reason kept. */
  const char *why = acto__auth_reason(&s);
  ck_assert_ptr_nonnull(why);
  ck_assert_int_eq(acto__auth_feed(&s, hello, hl, m, sizeof m, &ml), ACTO_EPROTO);
  ck_assert_ptr_eq(acto__auth_reason(&s), why);
  acto__auth_clear(&c);
  acto__auth_clear(&s);

  /* A HELLO sent to a client, a RESPONSE sent as the first message to a
   * server, and a message after DONE. */
  prepare(&c, &s, AT_HELLO, hello, &hl);
  ck_assert_int_eq(acto__auth_feed(&c, hello, hl, m, sizeof m, &ml), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  uint8_t resp[ACTO__AUTH_MSG_MAX];
  size_t rl;
  prepare(&c, &s, AT_RESPONSE, resp, &rl);
  acto__auth s2;
  acto__auth_key k = key_of(1);
  ck_assert_int_eq(acto__auth_init(&s2, ACTO__AUTH_SERVER, "s", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_feed(&s2, resp, rl, m, sizeof m, &ml), ACTO_EPROTO);
  ck_assert_int_eq(feed_at(&c, &s, AT_RESPONSE, resp, rl), ACTO__AUTH_DONE);
  ck_assert_int_eq(feed_at(&c, &s, AT_RESPONSE, resp, rl), ACTO_EPROTO);
  ck_assert_ptr_null(acto__auth_peer_name(&s)); /* failed after DONE */
  /* A client fed anything before it started. */
  acto__auth c3;
  ck_assert_int_eq(acto__auth_init(&c3, ACTO__AUTH_CLIENT, "c", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_feed(&c3, resp, rl, m, sizeof m, &ml), ACTO_EPROTO);
  /* A server cannot start; a client cannot start twice. */
  ck_assert_int_eq(acto__auth_start(&s2, m, sizeof m), ACTO_EINVAL);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  acto__auth_clear(&s2);
  acto__auth_clear(&c3);
}
END_TEST

START_TEST(auth_a_reflected_challenge_or_hello_is_refused) {
  /* The server's own CHALLENGE fed back to it. */
  acto__auth c, s;
  uint8_t ch[ACTO__AUTH_MSG_MAX], m[ACTO__AUTH_MSG_MAX];
  size_t cl, ml;
  prepare(&c, &s, AT_CHALLENGE, ch, &cl);
  ck_assert_int_eq(acto__auth_feed(&s, ch, cl, m, sizeof m, &ml), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);

  /* The server's CHALLENGE given to a second server as if it were a HELLO
   * is not a HELLO. */
  prepare(&c, &s, AT_CHALLENGE, ch, &cl);
  acto__auth s2;
  acto__auth_key k = key_of(1);
  ck_assert_int_eq(acto__auth_init(&s2, ACTO__AUTH_SERVER, "s", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_feed(&s2, ch, cl, m, sizeof m, &ml), ACTO_EPROTO);

  /* Reflection across roles: a server's mac_s presented as a client's
   * RESPONSE (same nonces, same names) fails because of the label. */
  uint8_t fake[36] = {0xc4, 34, ACTO__AUTH_MSG_RESPONSE, ACTO__AUTH_VERSION};
  memcpy(fake + 4, ch + cl - 32, 32);
  ck_assert_int_eq(feed_at(&c, &s, AT_RESPONSE, fake, sizeof fake), ACTO_EPROTO);
  /* A peer that echoes our nonce as its own is refused. */
  acto__auth s3, c3;
  uint8_t hello[ACTO__AUTH_MSG_MAX];
  ck_assert_int_eq(acto__auth_init(&c3, ACTO__AUTH_CLIENT, "c", &k, NULL), 0);
  int hl = acto__auth_start(&c3, hello, sizeof hello);
  ck_assert_int_eq(acto__auth_init(&s3, ACTO__AUTH_SERVER, "s", &k, c3.nonce_c), 0);
  ck_assert_int_eq(acto__auth_feed(&s3, hello, (size_t)hl, m, sizeof m, &ml), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  acto__auth_clear(&s2);
  acto__auth_clear(&s3);
  acto__auth_clear(&c3);
}
END_TEST

/* A flipped bit anywhere in a message: refused, except for the bits of the
 * two name bytes and nonce of a HELLO, which carry no proof yet; those are
 * caught one step later (the transcript MACs differ).  _i picks message. */
START_TEST(auth_a_flipped_bit_in_every_byte_of_each_message_is_refused) {
  int which = _i;
  uint8_t msg[ACTO__AUTH_MSG_MAX];
  size_t len;
  {
    acto__auth c, s;
    prepare(&c, &s, which, msg, &len);
    acto__auth_clear(&c);
    acto__auth_clear(&s);
  }
  for (size_t byte = 0; byte < len; byte++) {
    for (unsigned bit = 0; bit < 8; bit++) {
      acto__auth c, s;
      uint8_t good[ACTO__AUTH_MSG_MAX], m[ACTO__AUTH_MSG_MAX];
      size_t gl, ml;
      prepare(&c, &s, which, good, &gl);
      good[byte] ^= (uint8_t)(1u << bit);
      acto__auth *to = which == AT_CHALLENGE ? &c : &s;
      int rc = acto__auth_feed(to, good, gl, m, sizeof m, &ml);
      if (which == AT_HELLO && rc == ACTO__AUTH_MORE) {
        /* A changed name or nonce_c: the client's check of the server's
         * MAC fails, since the server MACed what it received. */
        rc = acto__auth_feed(&c, m, ml, good, sizeof good, &gl);
      }
      TU_HOT_ASSERT(rc == ACTO_EPROTO);
      acto__auth_clear(&c);
      acto__auth_clear(&s);
    }
  }
}
END_TEST

START_TEST(auth_truncated_and_oversized_messages_are_refused) {
  int which = _i;
  uint8_t msg[ACTO__AUTH_MSG_MAX + 8];
  size_t len;
  acto__auth c, s;
  prepare(&c, &s, which, msg, &len);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  for (size_t n = 0; n < len; n++) {
    uint8_t good[ACTO__AUTH_MSG_MAX];
    size_t gl;
    prepare(&c, &s, which, good, &gl);
    uint8_t *cut = malloc(n ? n : 1); /* exactly sized: ASan sees overreads */
    memcpy(cut, good, n);
    TU_HOT_ASSERT(feed_at(&c, &s, which, cut, n) == ACTO_EPROTO);
    /* Also with the bin length fixed up to match the truncation. */
    acto__auth_clear(&c);
    acto__auth_clear(&s);
    if (n >= 2) {
      prepare(&c, &s, which, good, &gl);
      cut[1] = (uint8_t)(n - 2);
      TU_HOT_ASSERT(feed_at(&c, &s, which, cut, n) == ACTO_EPROTO);
      acto__auth_clear(&c);
      acto__auth_clear(&s);
    }
    free(cut);
  }
  /* One byte more, with and without the bin length adjusted. */
  for (int fix = 0; fix < 2; fix++) {
    uint8_t good[ACTO__AUTH_MSG_MAX + 1];
    size_t gl;
    prepare(&c, &s, which, good, &gl);
    good[gl] = 0;
    if (fix)
      good[1]++;
    ck_assert_int_eq(feed_at(&c, &s, which, good, gl + 1), ACTO_EPROTO);
    acto__auth_clear(&c);
    acto__auth_clear(&s);
  }
}
END_TEST

START_TEST(auth_version_mismatch_is_refused) {
  int which = _i;
  acto__auth c, s;
  uint8_t msg[ACTO__AUTH_MSG_MAX];
  size_t len;
  prepare(&c, &s, which, msg, &len);
  msg[3] = ACTO__AUTH_VERSION + 1;
  ck_assert_int_eq(feed_at(&c, &s, which, msg, len), ACTO_EPROTO);
  ck_assert_ptr_nonnull(strstr(acto__auth_reason(which == AT_CHALLENGE ? &c : &s), "version"));
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_bad_names_on_the_wire_are_refused) {
  acto__auth c, s;
  uint8_t msg[ACTO__AUTH_MSG_MAX], m[ACTO__AUTH_MSG_MAX];
  size_t len, ml;
  prepare(&c, &s, AT_HELLO, msg, &len); /* name "c" at [5] */
  msg[5] = ' ';
  ck_assert_int_eq(acto__auth_feed(&s, msg, len, m, sizeof m, &ml), ACTO_EPROTO);
  ck_assert_ptr_nonnull(strstr(acto__auth_reason(&s), "name"));
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  /* A zero name length, with the total length consistent. */
  prepare(&c, &s, AT_HELLO, msg, &len);
  uint8_t z[4 + 1 + 32] = {0xc4, 35, ACTO__AUTH_MSG_HELLO, ACTO__AUTH_VERSION, 0};
  ck_assert_int_eq(acto__auth_feed(&s, z, sizeof z, m, sizeof m, &ml), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  /* A name length of 65 with a consistent total. */
  prepare(&c, &s, AT_HELLO, msg, &len);
  uint8_t big[5 + 65 + 32];
  memset(big, 'a', sizeof big);
  big[0] = 0xc4, big[1] = sizeof big - 2, big[2] = ACTO__AUTH_MSG_HELLO;
  big[3] = ACTO__AUTH_VERSION, big[4] = 65;
  ck_assert_int_eq(acto__auth_feed(&s, big, sizeof big, m, sizeof m, &ml), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_bad_arguments_are_einval) {
  acto__auth a;
  acto__auth_key k = key_of(1), shortk = key_of(1);
  shortk.len = 31;
  uint8_t m[ACTO__AUTH_MSG_MAX];
  size_t ml;
  ck_assert_int_eq(acto__auth_init(&a, ACTO__AUTH_CLIENT, "c", &shortk, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_init(&a, 7, "c", &k, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_init(&a, ACTO__AUTH_CLIENT, NULL, &k, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_init(NULL, ACTO__AUTH_CLIENT, "c", &k, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_init(&a, ACTO__AUTH_CLIENT, "c", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_start(&a, m, ACTO__AUTH_MSG_MAX - 1), ACTO_EINVAL);
  ck_assert_int_gt(acto__auth_start(&a, m, sizeof m), 0);
  ck_assert_int_eq(acto__auth_feed(&a, m, 3, m, ACTO__AUTH_MSG_MAX - 1, &ml), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_feed(&a, NULL, 3, m, sizeof m, &ml), ACTO_EINVAL);
  ck_assert_int_eq(a.state, ACTO__AUTH_S_WAIT_CHALLENGE); /* unchanged */
  acto__auth_clear(&a);
}
END_TEST

/* ---- frames ------------------------------------------------------------------ */

/* Two authenticated sides. */
static void pair(acto__auth *c, acto__auth *s) {
  acto__auth_key k = key_of(11);
  handshake(c, s, &k, &k, NULL);
}

START_TEST(auth_seal_open_round_trip_for_1000_frames_both_ways) {
  acto__auth c, s;
  pair(&c, &s);
  uint8_t payload[300], tag[32];
  for (unsigned i = 0; i < 1000; i++) {
    size_t n = 1 + i % sizeof payload;
    for (size_t j = 0; j < n; j++)
      payload[j] = (uint8_t)(i * 31 + j);
    TU_HOT_ASSERT(acto__auth_seal(&c, payload, n, tag) == 0);
    TU_HOT_ASSERT(acto__auth_open(&s, payload, n, tag) == 0);
    TU_HOT_ASSERT(acto__auth_seal(&s, payload, n, tag) == 0);
    TU_HOT_ASSERT(acto__auth_open(&c, payload, n, tag) == 0);
  }
  ck_assert_uint_eq(c.send_seq, 1000);
  ck_assert_uint_eq(s.recv_seq, 1000);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_a_replayed_frame_is_refused) {
  acto__auth c, s;
  pair(&c, &s);
  uint8_t tag[32];
  ck_assert_int_eq(acto__auth_seal(&c, "abc", 3, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "abc", 3, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "abc", 3, tag), ACTO_EPROTO);
  ck_assert_ptr_nonnull(strstr(acto__auth_reason(&s), "MAC"));
  /* The session is dead now: even the right next frame fails. */
  ck_assert_int_eq(acto__auth_seal(&c, "def", 3, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "def", 3, tag), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_reordered_frames_are_refused) {
  acto__auth c, s;
  pair(&c, &s);
  uint8_t t0[32], t1[32];
  ck_assert_int_eq(acto__auth_seal(&c, "n0", 2, t0), 0);
  ck_assert_int_eq(acto__auth_seal(&c, "n1", 2, t1), 0);
  ck_assert_int_eq(acto__auth_open(&s, "n1", 2, t1), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  /* Even identical payloads: the sequence number is in the tag. */
  pair(&c, &s);
  ck_assert_int_eq(acto__auth_seal(&c, "same", 4, t0), 0);
  ck_assert_int_eq(acto__auth_seal(&c, "same", 4, t1), 0);
  ck_assert_int_ne(memcmp(t0, t1, 32), 0);
  ck_assert_int_eq(acto__auth_open(&s, "same", 4, t1), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

START_TEST(auth_a_flipped_bit_in_payload_or_tag_or_a_truncation_is_refused) {
  uint8_t payload[40], tag[32];
  for (unsigned i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)i;
  for (unsigned bit = 0; bit < 8 * (sizeof payload + 32); bit++) {
    acto__auth c, s;
    pair(&c, &s);
    TU_HOT_ASSERT(acto__auth_seal(&c, payload, sizeof payload, tag) == 0);
    uint8_t p2[sizeof payload], t2[32];
    memcpy(p2, payload, sizeof p2);
    memcpy(t2, tag, 32);
    if (bit < 8 * sizeof payload)
      p2[bit / 8] ^= (uint8_t)(1u << bit % 8);
    else
      t2[bit / 8 - sizeof payload] ^= (uint8_t)(1u << bit % 8);
    TU_HOT_ASSERT(acto__auth_open(&s, p2, sizeof p2, t2) == ACTO_EPROTO);
    acto__auth_clear(&c);
    acto__auth_clear(&s);
  }
  for (size_t n = 0; n < sizeof payload; n++) {
    acto__auth c, s;
    pair(&c, &s);
    TU_HOT_ASSERT(acto__auth_seal(&c, payload, sizeof payload, tag) == 0);
    TU_HOT_ASSERT(acto__auth_open(&s, payload, n, tag) == ACTO_EPROTO);
    acto__auth_clear(&c);
    acto__auth_clear(&s);
  }
}
END_TEST

START_TEST(auth_a_frame_with_the_wrong_direction_key_is_refused) {
  acto__auth c, s;
  pair(&c, &s);
  uint8_t tag[32];
  /* The client's own frame reflected back to it. */
  ck_assert_int_eq(acto__auth_seal(&c, "hi", 2, tag), 0);
  ck_assert_int_eq(acto__auth_open(&c, "hi", 2, tag), ACTO_EPROTO);
  /* The server's frame given to the server. */
  ck_assert_int_eq(acto__auth_seal(&s, "hi", 2, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "hi", 2, tag), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  /* A frame from another session (other nonces, same key). */
  acto__auth c2, s2;
  pair(&c, &s);
  pair(&c2, &s2);
  ck_assert_int_eq(acto__auth_seal(&c, "hi", 2, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s2, "hi", 2, tag), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  acto__auth_clear(&c2);
  acto__auth_clear(&s2);
}
END_TEST

START_TEST(auth_open_and_seal_before_done_are_refused) {
  acto__auth c, s;
  uint8_t msg[ACTO__AUTH_MSG_MAX], tag[32] = {0};
  size_t len;
  prepare(&c, &s, AT_RESPONSE, msg, &len);
  /* The client is DONE, the server has not seen the RESPONSE. */
  ck_assert_int_eq(acto__auth_seal(&c, "early", 5, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "early", 5, tag), ACTO_EPROTO);
  ck_assert_ptr_nonnull(strstr(acto__auth_reason(&s), "before authentication"));
  ck_assert_int_eq(feed_at(&c, &s, AT_RESPONSE, msg, len), ACTO_EPROTO); /* dead */
  ck_assert_int_eq(acto__auth_seal(&s, "x", 1, tag), ACTO_EINVAL);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  acto__auth fresh;
  acto__auth_key k = key_of(1);
  ck_assert_int_eq(acto__auth_init(&fresh, ACTO__AUTH_SERVER, "s", &k, NULL), 0);
  ck_assert_int_eq(acto__auth_open(&fresh, "x", 1, tag), ACTO_EPROTO);
  acto__auth_clear(&fresh);
}
END_TEST

START_TEST(auth_sequence_numbers_never_wrap) {
  acto__auth c, s;
  pair(&c, &s);
  uint8_t tag[32];
  c.send_seq = UINT64_MAX - 1;
  s.recv_seq = UINT64_MAX - 1;
  ck_assert_int_eq(acto__auth_seal(&c, "z", 1, tag), 0);
  ck_assert_int_eq(acto__auth_open(&s, "z", 1, tag), 0);
  ck_assert_int_eq(acto__auth_seal(&c, "z", 1, tag), ACTO_ELIMIT);
  ck_assert_uint_eq(c.send_seq, UINT64_MAX);
  ck_assert_int_eq(acto__auth_open(&s, "z", 1, tag), ACTO_EPROTO);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

/* ---- key file ---------------------------------------------------------------- */

static char tmpdir[64];

static void mk_tmpdir(void) {
  strcpy(tmpdir, "/tmp/acto-auth-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text, size_t n, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
  ck_assert_int_eq(fchmod(fd, mode), 0);
  close(fd);
}

static const char HEX32[] = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n";

/* Loads path and expects code, with `rule` in the reason (when not NULL). */
static void expect_key(const char *path, int code, const char *rule) {
  acto__auth_key k;
  k.len = 12345;
  char why[256] = "";
  int r = acto__auth_key_load(path, &k, why, sizeof why);
  ck_assert_msg(r == code, "%s: got %d, expected %d (%s)", path, r, code, why);
  if (code != 0) {
    ck_assert_msg(rule == NULL || strstr(why, rule) != NULL, "reason \"%s\" lacks \"%s\"", why,
                  rule);
    ck_assert_uint_eq(k.len, 12345); /* untouched */
  }
}

START_TEST(auth_key_file_with_mode_0600_loads_and_0644_is_refused) {
  mk_tmpdir();
  char path[128];
  snprintf(path, sizeof path, "%s/key", tmpdir);
  write_file(path, HEX32, strlen(HEX32), 0600);
  acto__auth_key k;
  char why[256];
  ck_assert_int_eq(acto__auth_key_load(path, &k, why, sizeof why), 0);
  ck_assert_uint_eq(k.len, 32);
  for (unsigned i = 0; i < 32; i++)
    TU_HOT_ASSERT(k.bytes[i] == i);
  ck_assert_int_eq(chmod(path, 0400), 0);
  expect_key(path, 0, NULL);
  static const mode_t bad[] = {0644, 0640, 0604, 0660, 0606, 0610, 0601};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(chmod(path, bad[i]), 0);
    char mode[16];
    snprintf(mode, sizeof mode, "mode %04o", (unsigned)bad[i]);
    expect_key(path, ACTO_EKEYPERM, mode);
    expect_key(path, ACTO_EKEYPERM, "0600 or stricter");
  }
  ck_assert_int_eq(chmod(path, 0600), 0);
  /* A symbolic link to a good key file is refused, not followed. */
  char link[160];
  snprintf(link, sizeof link, "%s/link", tmpdir);
  ck_assert_int_eq(symlink(path, link), 0);
  expect_key(link, ACTO_EKEYPERM, "symbolic link");
  unlink(link);
  /* Another owner (only root can make one). */
  if (geteuid() == 0) {
    ck_assert_int_eq(chown(path, 1, 1), 0);
    expect_key(path, ACTO_EKEYPERM, "owned by uid 1");
    ck_assert_int_eq(chown(path, 0, 0), 0);
  } else {
    /* Not readable by this user (root reads it anyway). */
    ck_assert_int_eq(chmod(path, 0200), 0);
    expect_key(path, ACTO_EKEYPERM, "cannot be read");
    ck_assert_int_eq(chmod(path, 0600), 0);
  }
  expect_key(path, 0, NULL);
  unlink(path);
  expect_key(path, ACTO_ENOENT, "does not exist");
  char deep[160];
  snprintf(deep, sizeof deep, "%s/no-such-dir/key", tmpdir);
  expect_key(deep, ACTO_ENOENT, "does not exist");
  expect_key(tmpdir, ACTO_EKEYPERM, "not a regular file"); /* a directory */
  /* A FIFO is refused at once (opening it must not wait for a writer). */
  char fifo[160];
  snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  expect_key(fifo, ACTO_EKEYPERM, "not a regular file");
  unlink(fifo);
  expect_key("/dev/null", ACTO_EKEYPERM, "not a regular file");
  char why2[8];
  ck_assert_int_eq(acto__auth_key_load(NULL, &k, why2, sizeof why2), ACTO_EINVAL);
  ck_assert_int_eq(acto__auth_key_load(deep, &k, NULL, 0), ACTO_ENOENT); /* no reason wanted */
  rmdir(tmpdir);
}
END_TEST

START_TEST(auth_empty_short_odd_and_non_hex_keys_are_refused) {
  mk_tmpdir();
  char path[128];
  snprintf(path, sizeof path, "%s/key", tmpdir);
  struct {
    const char *text;
    const char *reason;
  } cases[] = {
      {"", "is empty"},
      {"\n", "is empty"},
      {" \t\r\n ", "is empty"},
      {"00112233445566778899aabbccddeeff00112233445566778899aabbccddee\n", "too short (62"},
      {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef\n",
       "odd number of hex digits (63)"},
      {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeegg\n",
       "not a hex digit (0x67 at byte 62)"},
      {"00112233445566778899aabbccddeeff 00112233445566778899aabbccddeeff\n",
       "whitespace inside the key (byte 32)"},
      {"00112233445566778899aabbccddeeff\n00112233445566778899aabbccddeeff\n",
       "whitespace inside the key (byte 32)"},
      {"\xef\xbb\xbf"
       "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
       "not a hex digit (0xef at byte 0)"},
      {"0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
       "not a hex digit (0x78 at byte 1)"},
  };
  for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(path, cases[i].text, strlen(cases[i].text), 0600);
    expect_key(path, ACTO_EKEYFORMAT, cases[i].reason);
  }
  /* Whitespace before and after is fine, CRLF too. */
  const char *ok = " \t\r\n00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\r\n";
  write_file(path, ok, strlen(ok), 0600);
  expect_key(path, 0, NULL);
  /* 64 bytes is the most; 65 is too long; raw binary is not hex. */
  char longk[2 * 65 + 2];
  memset(longk, 'a', sizeof longk);
  acto__auth_key k;
  write_file(path, longk, 128, 0600);
  ck_assert_int_eq(acto__auth_key_load(path, &k, NULL, 0), 0);
  ck_assert_uint_eq(k.len, 64);
  write_file(path, longk, 130, 0600);
  expect_key(path, ACTO_EKEYFORMAT, "too long (130");
  /* The file itself: at most 192 bytes, whitespace included. */
  char big[193];
  memset(big, ' ', sizeof big);
  memcpy(big + 64, HEX32, 64);
  write_file(path, big, 192, 0600);
  expect_key(path, 0, NULL);
  write_file(path, big, 193, 0600);
  expect_key(path, ACTO_EKEYFORMAT, "longer than 192 bytes");
  char raw[32];
  for (unsigned i = 0; i < 32; i++)
    raw[i] = (char)(0x80 + i);
  write_file(path, raw, sizeof raw, 0600);
  expect_key(path, ACTO_EKEYFORMAT, "not a hex digit (0x80 at byte 0)");
  unlink(path);
  rmdir(tmpdir);
}
END_TEST

START_TEST(auth_generated_key_file_has_mode_0600_and_loads_back) {
  mk_tmpdir();
  char path[128];
  snprintf(path, sizeof path, "%s/key", tmpdir);
  mode_t old = umask(0); /* even a permissive umask gives 0600 */
  acto__auth_key gen, loaded, gen2;
  ck_assert_int_eq(acto__auth_key_generate(path, &gen, NULL, 0), 0);
  umask(old);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_uint_eq(st.st_mode & 07777, 0600);
  ck_assert_int_eq(st.st_size, 65);
  ck_assert_int_eq(acto__auth_key_load(path, &loaded, NULL, 0), 0);
  ck_assert_uint_eq(loaded.len, 32);
  ck_assert_int_eq(memcmp(gen.bytes, loaded.bytes, 32), 0);
  /* It does not overwrite an existing key. */
  char why[256];
  ck_assert_int_eq(acto__auth_key_generate(path, NULL, why, sizeof why), ACTO_EEXIST);
  ck_assert_ptr_nonnull(strstr(why, "exists already"));
  ck_assert_int_eq(acto__auth_key_load(path, &loaded, NULL, 0), 0);
  ck_assert_int_eq(memcmp(gen.bytes, loaded.bytes, 32), 0);
  /* Two keys differ. */
  char path2[128];
  snprintf(path2, sizeof path2, "%s/key2", tmpdir);
  ck_assert_int_eq(acto__auth_key_generate(path2, &gen2, NULL, 0), 0);
  ck_assert_int_ne(memcmp(gen.bytes, gen2.bytes, 32), 0);
  /* A dangling symbolic link is not overwritten either; a missing
   * directory is ACTO_ENOENT. */
  char link[160], deep[160];
  snprintf(link, sizeof link, "%s/dangling", tmpdir);
  snprintf(deep, sizeof deep, "%s/no-such-dir/key", tmpdir);
  ck_assert_int_eq(symlink("/nonexistent/acto-key-target", link), 0);
  ck_assert_int_eq(acto__auth_key_generate(link, NULL, why, sizeof why), ACTO_EEXIST);
  ck_assert_int_eq(access("/nonexistent/acto-key-target", F_OK), -1);
  unlink(link);
  ck_assert_int_eq(acto__auth_key_generate(deep, NULL, why, sizeof why), ACTO_ENOENT);
  ck_assert_ptr_nonnull(strstr(why, "directory is missing"));
  ck_assert_int_eq(acto__auth_key_generate(NULL, NULL, why, sizeof why), ACTO_EINVAL);
  /* And two nodes with the loaded key authenticate. */
  acto__auth c, s;
  handshake(&c, &s, &loaded, &gen, NULL);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
  acto__auth_key_wipe(&gen);
  ck_assert_uint_eq(gen.len, 0);
  unlink(path);
  unlink(path2);
  rmdir(tmpdir);
}
END_TEST

static Suite *auth_suite(void) {
  Suite *s = suite_create("auth");
  TCase *th = tu_tcase("handshake", 60);
  tu_add_tests(th, auth_full_handshake_succeeds_and_both_learn_the_peer_name,
               auth_wire_format_matches_an_independent_computation, auth_longest_names_fit_and_work,
               auth_wrong_key_is_refused_by_the_client_on_the_challenge,
               auth_client_without_the_key_is_refused_by_the_server_on_the_response,
               auth_messages_replayed_from_an_earlier_session_are_refused,
               auth_a_second_hello_and_out_of_order_messages_are_refused,
               auth_a_reflected_challenge_or_hello_is_refused);
  tcase_add_loop_test(th, auth_a_flipped_bit_in_every_byte_of_each_message_is_refused,
                      AT_HELLO, AT_RESPONSE + 1);
  tcase_add_loop_test(th, auth_truncated_and_oversized_messages_are_refused, AT_HELLO,
                      AT_RESPONSE + 1);
  tcase_add_loop_test(th, auth_version_mismatch_is_refused, AT_HELLO, AT_RESPONSE + 1);
  tu_add_tests(th, auth_bad_names_on_the_wire_are_refused, auth_bad_arguments_are_einval);
  suite_add_tcase(s, th);
  TCase *tf = tu_tcase("frames", 60);
  tu_add_tests(tf, auth_seal_open_round_trip_for_1000_frames_both_ways,
               auth_a_replayed_frame_is_refused, auth_reordered_frames_are_refused,
               auth_a_flipped_bit_in_payload_or_tag_or_a_truncation_is_refused,
               auth_a_frame_with_the_wrong_direction_key_is_refused,
               auth_open_and_seal_before_done_are_refused, auth_sequence_numbers_never_wrap);
  suite_add_tcase(s, tf);
  TCase *tk = tcase_create("key");
  tu_add_tests(tk, auth_key_file_with_mode_0600_loads_and_0644_is_refused,
               auth_empty_short_odd_and_non_hex_keys_are_refused,
               auth_generated_key_file_has_mode_0600_and_loads_back);
  suite_add_tcase(s, tk);
  return s;
}

int main(void) { return tu_run(auth_suite()); }
