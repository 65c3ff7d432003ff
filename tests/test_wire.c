/* test_wire.c - the message layer of the node protocol (transport/wire.c):
 * encodings, the schema checks, and the worked byte-level example of
 * ACTORS.md ("A worked example"), which this suite recomputes from the
 * documented key, nonces and names: the bytes printed in the guide are
 * the bytes the code produces.  Run with ACTO_WIRE_PRINT=1 to print them.
 */
#include "testutil.h"
#include "transport/auth.h"
#include "transport/frame.h"
#include "codec/prescan.h"
#include "transport/wire.h"
#include "docbytes.h"

static int parse_one(const acto__buf *b, acto__wmsg *w, const char **reason) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  acto__prescan_result res;
  int r = acto__prescan_decode(b->p, b->len, 2, 0, &u, &res);
  if (r == 0)
    r = acto__wire_parse(&u.data, w, reason);
  else
    *reason = res.reason;
  msgpack_unpacked_destroy(&u);
  return r;
}

START_TEST(every_kind_round_trips_through_encode_and_parse) {
  acto__buf b = {0};
  acto__wmsg w;
  const char *why = NULL;
  ck_assert_ok(acto__wire_send(&b, 7, 9, 42, ACTO__WF_REQUEST, 1234, "abc", 3));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_SEND);
  ck_assert_uint_eq(w.f[0], 7);
  ck_assert_uint_eq(w.f[1], 9);
  ck_assert_uint_eq(w.f[2], 42);
  ck_assert_uint_eq(w.f[3], ACTO__WF_REQUEST);
  ck_assert_uint_eq(w.f[4], 1234);
  ck_assert_uint_eq(w.payload_len, 3);
  ck_assert_mem_eq(w.payload, "abc", 3);
  b.len = 0;
  ck_assert_ok(acto__wire_reply(&b, 0, 5, ACTO__WF_FUTURE, ACTO_EFAILED, 0, 0, NULL, 0));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_REPLY);
  ck_assert_int_eq(w.status, ACTO_EFAILED);
  ck_assert_uint_eq(w.payload_len, 0);
  b.len = 0;
  ck_assert_ok(acto__wire_signal(&b, ACTO__WS_DOWN, UINT64_MAX, 1, 0, -77, 99));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.f[1], UINT64_MAX);
  ck_assert_int_eq(w.status, -77);
  b.len = 0;
  ck_assert_ok(acto__wire_info(&b, 0xe70c2de500000001ull, 4000, 1u << 20, 400));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.f[0], 0xe70c2de500000001ull);
  b.len = 0;
  ck_assert_ok(acto__wire_flow(&b, ACTO__W_BUSY, 0x0000000100000005ull));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_BUSY);
  ck_assert_uint_eq(w.f[0], 0x0000000100000005ull);
  b.len = 0;
  ck_assert_ok(acto__wire_flow(&b, ACTO__W_ROOM, 3));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_ROOM);
  ck_assert_uint_eq(w.f[0], 3);
  b.len = 0;
  ck_assert_ok(acto__wire_ping(&b, ACTO__W_PING, 77));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_PING);
  b.len = 0;
  ck_assert_ok(acto__wire_member(&b, 0xd029140a0000c0deull, 7002, "gamma", 5, "::1", 3));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_MEMBER);
  ck_assert_uint_eq(w.f[0], 0xd029140a0000c0deull);
  ck_assert_uint_eq(w.f[1], 7002);
  ck_assert_uint_eq(w.payload_len, 5);
  ck_assert_mem_eq(w.payload, "gamma", 5);
  ck_assert_uint_eq(w.payload2_len, 3);
  ck_assert_mem_eq(w.payload2, "::1", 3);
  b.len = 0;
  ck_assert_ok(acto__wire_leave(&b, 0xd029140a0000c0deull));
  ck_assert_ok(parse_one(&b, &w, &why));
  ck_assert_uint_eq(w.kind, ACTO__W_LEAVE);
  ck_assert_uint_eq(w.f[0], 0xd029140a0000c0deull);
  acto__buf_free(&b);
}
END_TEST

/* Hand-written msgpack that breaks one schema rule each. */
static const struct {
  const char *what;
  size_t len;
  const uint8_t bytes[16];
} BAD[] = {
    {"not an array", 1, {0x02}},
    {"empty array", 1, {0x90}},
    {"kind is a string", 3, {0x91, 0xa1, 'x'}},
    {"kind is negative", 2, {0x91, 0xff}},
    {"unknown kind 99", 3, {0x92, 0x63, 0x00}},
    {"kind 0", 3, {0x92, 0x00, 0x00}},
    {"PING without token", 2, {0x91, 0x05}},
    {"PING with two tokens", 4, {0x93, 0x05, 0x01, 0x02}},
    {"PING token negative", 3, {0x92, 0x05, 0xff}},
    {"PING token float", 7, {0x92, 0x05, 0xca, 0, 0, 0, 0}},
    {"SEND payload is a str", 9, {0x97, 0x02, 1, 1, 1, 0, 0, 0xa1, 'x'}},
    {"SEND to is negative", 9, {0x97, 0x02, 0xff, 1, 1, 0, 0, 0xc4, 0}},
    {"REPLY status beyond int32", 13, {0x98, 0x03, 1, 1, 0, 0xce, 0x80, 0, 0, 0, 0, 0, 0}},
    {"SIGNAL status is nil", 8, {0x97, 0x04, 1, 1, 1, 0, 0xc0, 0}},
};

START_TEST(schema_violations_are_refused_with_a_reason) {
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    acto__buf b = {0};
    ck_assert_ok(acto__buf_append(&b, BAD[i].bytes, BAD[i].len));
    acto__wmsg w;
    const char *why = NULL;
    int r = parse_one(&b, &w, &why);
    ck_assert_msg(r == ACTO_EPROTO, "%s: accepted", BAD[i].what);
    ck_assert_msg(why != NULL, "%s: no reason", BAD[i].what);
    acto__buf_free(&b);
  }
}
END_TEST

START_TEST(batch_prefixes_use_the_smallest_array_header) {
  uint8_t p[6];
  ck_assert_uint_eq(acto__wire_batch_prefix(p, 1), 2);
  ck_assert_uint_eq(p[0], 0x92);
  ck_assert_uint_eq(p[1], 0x01);
  ck_assert_uint_eq(acto__wire_batch_prefix(p, 14), 2);
  ck_assert_uint_eq(p[0], 0x9f);
  ck_assert_uint_eq(acto__wire_batch_prefix(p, 15), 4);
  ck_assert_uint_eq(p[0], 0xdc);
  ck_assert_uint_eq(acto__wire_batch_prefix(p, 70000), 6);
  ck_assert_uint_eq(p[0], 0xdd);
}
END_TEST

/* ---- the worked example of ACTORS.md ------------------------------------------ */

/* With ACTO_WIRE_PRINT set, print instead of comparing (to regenerate). */
#define CK_HEX(got, want)                                                                          \
  do {                                                                                             \
    if (!getenv("ACTO_WIRE_PRINT"))                                                                \
      ck_assert_str_eq(got, want);                                                                 \
  } while (0)

static void hex(const char *label, const uint8_t *p, size_t n, char *out, size_t outsz) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 3 < outsz; i++)
    k += (size_t)snprintf(out + k, outsz - k, "%02x", p[i]);
  out[k] = 0;
  if (getenv("ACTO_WIRE_PRINT"))
    printf("%s (%zu bytes):\n%s\n", label, n, out);
}

/* ---- the frames as ACTORS.md prints them (docbytes.h) ------------------------------ */

static void check_doc_frame(const doc_frame *d, const char *name, const uint8_t *p, size_t n) {
  char got[1100];
  hex(name, p, n, got, sizeof got); /* prints them with ACTO_WIRE_PRINT */
  doc_check(d, name, p, n);
}

static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h ? h : 1u;
}

/* Key: bytes 0x00..0x1f.  nonce_c: 32 x 0x11, nonce_s: 32 x 0x22.
 * Client "alpha", server "beta".  Then beta's INFO frame (node id
 * FNV-1a("beta") << 32 | 0xbeef, port 7001, cap 1 MiB, timeout 4000 ms),
 * alpha's INFO frame (FNV-1a("alpha") << 32 | 0xa1fa, port 0) and alpha's
 * second frame: SEND to 0x0000000100000005 from 0x0000000100000002, type 7,
 * payload "hi"; then beta's BUSY and ROOM about actor 0x0000000100000005
 * (s2c seq 1 and 2).  Every frame is compared with the one ACTORS.md prints
 * and with the hex below (computed independently: HMAC-SHA256 in Python). */
START_TEST(the_worked_example_in_actors_md_is_what_the_code_sends) {
  doc_frame doc[12];
  int ndoc = doc_blocks("\n#### A worked example\n", doc, 12);
  ck_assert_int_eq(ndoc, 10);
  acto__auth_key key;
  key.len = 32;
  for (int i = 0; i < 32; i++)
    key.bytes[i] = (uint8_t)i;
  uint8_t nc[32], ns[32];
  memset(nc, 0x11, 32);
  memset(ns, 0x22, 32);
  acto__auth c, s;
  ck_assert_ok(acto__auth_init(&c, ACTO__AUTH_CLIENT, "alpha", &key, nc));
  ck_assert_ok(acto__auth_init(&s, ACTO__AUTH_SERVER, "beta", &key, ns));
  uint8_t m1[ACTO__AUTH_MSG_MAX], m2[ACTO__AUTH_MSG_MAX], m3[ACTO__AUTH_MSG_MAX];
  size_t l1, l2 = 0, l3 = 0, l4 = 0;
  int r = acto__auth_start(&c, m1, sizeof m1);
  ck_assert_int_gt(r, 0);
  l1 = (size_t)r;
  ck_assert_int_eq(acto__auth_feed(&s, m1, l1, m2, sizeof m2, &l2), ACTO__AUTH_MORE);
  ck_assert_int_eq(acto__auth_feed(&c, m2, l2, m3, sizeof m3, &l3), ACTO__AUTH_DONE);
  uint8_t none[ACTO__AUTH_MSG_MAX];
  ck_assert_int_eq(acto__auth_feed(&s, m3, l3, none, sizeof none, &l4), ACTO__AUTH_DONE);
  char h[2048];
  uint8_t fr[512];
  /* HELLO in its frame. */
  int fl = acto__frame_build(fr, sizeof fr, m1, l1, NULL, 0, ACTO__FRAME_CAP_PREAUTH);
  hex("HELLO frame", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[0], "HELLO", fr, (size_t)fl);
  CK_HEX(h, "0000002a"
             "c428010305616c706861"
             "1111111111111111111111111111111111111111111111111111111111111111");
  fl = acto__frame_build(fr, sizeof fr, m2, l2, NULL, 0, ACTO__FRAME_CAP_PREAUTH);
  hex("CHALLENGE frame", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[1], "CHALLENGE", fr, (size_t)fl);
  CK_HEX(h, "00000049"
            "c44702030462657461"
            "2222222222222222222222222222222222222222222222222222222222222222"
            "24092c9613af82f64f4a7001d9864e104d7659068866f3583767de3a31261891");
  fl = acto__frame_build(fr, sizeof fr, m3, l3, NULL, 0, ACTO__FRAME_CAP_PREAUTH);
  hex("RESPONSE frame", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[2], "RESPONSE", fr, (size_t)fl);
  CK_HEX(h, "00000024"
            "c4220303"
            "c19110dda695c9f9b4bf3010ec4d5d87b148c0f202954cb91d3cd647593ea5ff");

  /* beta -> alpha: INFO, the first authenticated frame (s2c seq 0). */
  const uint64_t beta_id = 0xaf81e4c70000beefull, alpha_id = 0x5d8b6dab0000a1faull;
  ck_assert_uint_eq(beta_id >> 32, fnv1a("beta"));
  ck_assert_uint_eq(alpha_id >> 32, fnv1a("alpha"));
  acto__buf b = {0};
  uint8_t pre[6];
  size_t k = acto__wire_batch_prefix(pre, 1);
  ck_assert_ok(acto__buf_append(&b, pre, k));
  ck_assert_ok(acto__wire_info(&b, beta_id, 7001, 1u << 20, 4000));
  uint8_t tag[32];
  ck_assert_ok(acto__auth_seal(&s, b.p, b.len, tag));
  fl = acto__frame_build(fr, sizeof fr, b.p, b.len, tag, 32, ACTO__FRAME_CAP_DEFAULT);
  hex("INFO frame (beta to alpha)", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[3], "INFO", fr, (size_t)fl);
  ck_assert_ok(acto__auth_open(&c, b.p, b.len, tag));
  CK_HEX(h, "00000038"
            "9201"
            "9501cfaf81e4c70000beefcd1b59ce00100000cd0fa0"
            "c689497744c3ca8db5e18ca15639bf505891a07a288bf5c91bdba77531d97722");
  /* alpha -> beta: its INFO (c2s seq 0), then one SEND (c2s seq 1). */
  b.len = 0;
  ck_assert_ok(acto__buf_append(&b, pre, k));
  ck_assert_ok(acto__wire_info(&b, alpha_id, 0, 1u << 20, 4000));
  ck_assert_ok(acto__auth_seal(&c, b.p, b.len, tag));
  fl = acto__frame_build(fr, sizeof fr, b.p, b.len, tag, 32, ACTO__FRAME_CAP_DEFAULT);
  hex("INFO frame (alpha to beta)", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[4], "INFO", fr, (size_t)fl);
  ck_assert_ok(acto__auth_open(&s, b.p, b.len, tag));
  CK_HEX(h, "00000036"
            "9201"
            "9501cf5d8b6dab0000a1fa00ce00100000cd0fa0"
            "cb435b9c815f400ed87a97e136303f6f7ae03803e2c2437d3a009e25ce40db7c");
  b.len = 0;
  ck_assert_ok(acto__buf_append(&b, pre, k));
  ck_assert_ok(acto__wire_send(&b, 0x0000000100000005ull, 0x0000000100000002ull, 7, 0, 0, "hi", 2));
  ck_assert_ok(acto__auth_seal(&c, b.p, b.len, tag));
  fl = acto__frame_build(fr, sizeof fr, b.p, b.len, tag, 32, ACTO__FRAME_CAP_DEFAULT);
  hex("SEND frame (alpha to beta)", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[5], "SEND", fr, (size_t)fl);
  ck_assert_ok(acto__auth_open(&s, b.p, b.len, tag));
  CK_HEX(h, "0000003d"
            "9201"
            "9702cf0000000100000005cf0000000100000002070000c4026869"
            "19dab294b1c6857909b6de65bf861b06b8f319548e3e6ff53afd68c9e6398752");
  /* beta -> alpha: BUSY (s2c seq 1), then ROOM (s2c seq 2) about that
   * SEND's target. */
  static const struct {
    uint32_t kind;
    const char *name, *hex;
  } flow[2] = {
      {ACTO__W_BUSY, "BUSY",
       "0000002d92019207cf0000000100000005"
       "7a0e0cda64af0302dc3ad3ea0877c72204a538a132c0286c2923591c4d8d283c"},
      {ACTO__W_ROOM, "ROOM",
       "0000002d92019208cf0000000100000005"
       "3605cdf84677cbfc6f199155618ef6c38c9bf128e0ad57fdc0b14cdf0f0d91d8"},
  };
  for (int i = 0; i < 2; i++) {
    b.len = 0;
    ck_assert_ok(acto__buf_append(&b, pre, k));
    ck_assert_ok(acto__wire_flow(&b, flow[i].kind, 0x0000000100000005ull));
    ck_assert_ok(acto__auth_seal(&s, b.p, b.len, tag));
    fl = acto__frame_build(fr, sizeof fr, b.p, b.len, tag, 32, ACTO__FRAME_CAP_DEFAULT);
    hex(flow[i].name, fr, (size_t)fl, h, sizeof h);
    check_doc_frame(&doc[6 + i], flow[i].name, fr, (size_t)fl);
    ck_assert_ok(acto__auth_open(&c, b.p, b.len, tag));
    CK_HEX(h, flow[i].hex);
  }
  /* beta -> alpha: MEMBER about gamma (s2c seq 3), then LEAVE (seq 4). */
  const uint64_t gamma_id = 0xd029140a0000c0deull;
  ck_assert_uint_eq(gamma_id >> 32, fnv1a("gamma"));
  b.len = 0;
  ck_assert_ok(acto__buf_append(&b, pre, k));
  ck_assert_ok(acto__wire_member(&b, gamma_id, 7002, "gamma", 5, "127.0.0.1", 9));
  ck_assert_ok(acto__auth_seal(&s, b.p, b.len, tag));
  fl = acto__frame_build(fr, sizeof fr, b.p, b.len, tag, 32, ACTO__FRAME_CAP_DEFAULT);
  hex("MEMBER", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[8], "MEMBER", fr, (size_t)fl);
  ck_assert_ok(acto__auth_open(&c, b.p, b.len, tag));
  CK_HEX(h, "00000042"
            "92019509cfd029140a0000c0decd1b5ac40567616d6d61c4093132372e302e302e31"
            "be00ac66683d3e1498344e418f546f53415e8cb8fd95bcaf6a483859222c7df7");
  b.len = 0;
  ck_assert_ok(acto__buf_append(&b, pre, k));
  ck_assert_ok(acto__wire_leave(&b, beta_id));
  ck_assert_ok(acto__auth_seal(&s, b.p, b.len, tag));
  fl = acto__frame_build(fr, sizeof fr, b.p, b.len, tag, 32, ACTO__FRAME_CAP_DEFAULT);
  hex("LEAVE", fr, (size_t)fl, h, sizeof h);
  check_doc_frame(&doc[9], "LEAVE", fr, (size_t)fl);
  ck_assert_ok(acto__auth_open(&c, b.p, b.len, tag));
  CK_HEX(h, "0000002d"
            "9201920acfaf81e4c70000beef"
            "228e73e837807e8acd31e8e8410f2dba73f255da891ef452dfb5d1454f11b0fc");
  acto__buf_free(&b);
  acto__auth_clear(&c);
  acto__auth_clear(&s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("wire");
  TCase *tc = tu_tcase("wire", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
  tu_add_tests(tc, every_kind_round_trips_through_encode_and_parse,
               schema_violations_are_refused_with_a_reason,
               batch_prefixes_use_the_smallest_array_header,
               the_worked_example_in_actors_md_is_what_the_code_sends);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
