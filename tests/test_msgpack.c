/* test_msgpack.c - msgpack payloads (include/acto/acto_msgpack.h,
 * codec/msgpack.c, codec/msgpack_buf.c, codec/msgpack_struct.c).
 *
 * What a handler may rely on: acto_msgpack_check refuses every malformed
 * payload with its code, the 5 bytes that make msgpack-c reserve 6.4 GB
 * among them, without allocating; acto_msgpack_decode hands msgpack-c
 * only what passed; a ref travels as [id, node]; a type declared with
 * ACTO_MSGPACK_STRUCT round-trips every field kind, and its unpack
 * refuses every field that does not fit, naming it, without allocating;
 * the printer follows snprintf's rules; acto_msgpack_send hands a heap
 * block to the message without copying it (the handler reads the very
 * pointer the packer wrote to); and a declared struct crosses from one
 * node to another and back.
 *
 * Allocations are counted by wrapping malloc, calloc and realloc at link
 * time (-Wl,--wrap, CMakeLists.txt): every call from this program and
 * from the acto archive linked into it goes through the counters below.
 */
#include <math.h>
#include <stdbool.h> /* the struct kinds must survive a `bool` macro */

#include "testutil.h"

#include <acto/acto_msgpack.h>

/* ---- counting allocations ------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);

static _Atomic long g_allocs;

void *__wrap_malloc(size_t n) {
  atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
  return __real_malloc(n);
}
void *__wrap_calloc(size_t k, size_t n) {
  atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
  return __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n) {
  atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
  return __real_realloc(p, n);
}
static long allocs(void) { return atomic_load_explicit(&g_allocs, memory_order_relaxed); }

/* ---- a type with every field kind ------------------------------------------ */

#define ALL_KINDS(F)                                                                               \
  F(bool, flag)                                                                                    \
  F(u8, a8)                                                                                        \
  F(u16, a16) F(u32, a32) F(u64, a64) F(i8, b8) F(i16, b16) F(i32, b32) F(i64, b64) F(f64, x)      \
      F(str, name, 8) F(bin, blob, 6) F(ref, who)
ACTO_MSGPACK_STRUCT(all_kinds, ALL_KINDS)

#define SAY(F) F(str, room, 32) F(u32, seq) F(ref, from) F(bin, text, 512)
ACTO_MSGPACK_STRUCT(say, SAY)

static all_kinds sample(void) {
  all_kinds v;
  memset(&v, 0, sizeof v);
  v.flag = 1;
  v.a8 = 255;
  v.a16 = 65535;
  v.a32 = 4294967295u;
  v.a64 = UINT64_MAX;
  v.b8 = -128;
  v.b16 = -32768;
  v.b32 = INT32_MIN;
  v.b64 = INT64_MIN;
  v.x = -0.25;
  strcpy(v.name, "12345678");
  v.blob_len = 3;
  memcpy(v.blob, "\x00\xff\x10", 3);
  v.who = (acto_ref){0x100000005u, 0xaf81e4c70000beefu};
  return v;
}

/* Packs v into a fresh sbuffer (caller destroys). */
static msgpack_sbuffer pack_all(const all_kinds *v) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  ck_assert_ok(all_kinds_pack(&pk, v));
  return sb;
}

static int zeroed(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i])
      return 0;
  return 1;
}

/* ---- check and decode ------------------------------------------------------ */

START_TEST(check_accepts_one_object_and_refuses_each_malformed_payload_with_its_code) {
  acto_msgpack_result r;
  ck_assert_ok(acto_msgpack_check("\x92\x01\xa1x", 4, 0));
  ck_assert_ok(acto_msgpack_check_ex("\x01", 1, 0, &r));
  ck_assert_ptr_null(r.reason);
  ck_assert_str_eq(r.detail, "");

  /* truncated, trailing, 0xc1, empty */
  ck_assert_int_eq(acto_msgpack_check_ex("\x92\xa1x", 3, 0, &r), ACTO_EPROTO);
  ck_assert_str_eq(r.reason, "payload ends before every declared element is present");
  ck_assert_int_eq(acto_msgpack_check_ex("\x01\x02", 2, 0, &r), ACTO_EPROTO);
  ck_assert_str_eq(r.reason, "bytes after the end of the object");
  ck_assert_uint_eq(r.offset, 1);
  ck_assert_int_eq(acto_msgpack_check("\x91\xc1", 2, 0), ACTO_EPROTO);
  ck_assert_int_eq(acto_msgpack_check("", 0, 0), ACTO_EPROTO);
  ck_assert_int_eq(acto_msgpack_check(NULL, 0, 0), ACTO_EPROTO);
  ck_assert_int_eq(acto_msgpack_check("\xd9\x05"
                                      "abc",
                                      5, 0),
                   ACTO_EPROTO); /* str8 short */

  /* dd 0f ff ff ff: an array32 of 268,435,455 elements in 5 bytes, which
   * makes msgpack-c reserve 6.4 GB: refused on its header, nothing
   * allocated. */
  /* (Check's assertions allocate: the count is read between them.) */
  long before = allocs();
  int rc = acto_msgpack_check_ex("\xdd\x0f\xff\xff\xff", 5, 0, &r);
  long after = allocs();
  ck_assert_int_eq(rc, ACTO_EPROTO);
  ck_assert_int_eq(after, before);
  ck_assert_str_eq(r.reason, "container declares more elements than the remaining bytes can hold");
  ck_assert_ptr_nonnull(strstr(r.detail, "268435455"));

  /* nesting: 33 arrays deep is over any limit; 17 over the default */
  uint8_t deep[40];
  memset(deep, 0x91, sizeof deep);
  deep[33] = 0x01;
  ck_assert_int_eq(acto_msgpack_check(deep + 33 - 32, 33, ACTO_MSGPACK_DEPTH_MAX), 0);
  ck_assert_int_eq(acto_msgpack_check(deep, 34, ACTO_MSGPACK_DEPTH_MAX), ACTO_ELIMIT);
  ck_assert_int_eq(acto_msgpack_check(deep + 33 - 16, 17, 0), 0);
  ck_assert_int_eq(acto_msgpack_check(deep + 33 - 17, 18, 0), ACTO_ELIMIT);
  ck_assert_int_eq(acto_msgpack_check(deep + 33 - 2, 3, 1), ACTO_ELIMIT);

  /* arguments */
  ck_assert_int_eq(acto_msgpack_check(NULL, 3, 0), ACTO_EINVAL);
  ck_assert_int_eq(acto_msgpack_check("\x01", 1, ACTO_MSGPACK_DEPTH_MAX + 1), ACTO_EINVAL);
}
END_TEST

START_TEST(decode_hands_msgpack_c_only_a_whole_checked_object) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  const char good[] = "\x82\xa1k\x01\xa3str\xa2hi";
  ck_assert_ok(acto_msgpack_decode(good, sizeof good - 1, 0, &u, NULL));
  ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_MAP);
  ck_assert_uint_eq(u.data.via.map.size, 2);
  const msgpack_object *s = &u.data.via.map.ptr[1].val;
  ck_assert_int_eq(s->type, MSGPACK_OBJECT_STR);
  /* borrowed: it points into the payload, not NUL-terminated */
  ck_assert_ptr_eq(s->via.str.ptr, good + 9);
  ck_assert_uint_eq(s->via.str.size, 2);

  acto_msgpack_result r;
  ck_assert_int_eq(acto_msgpack_decode("\xdd\x0f\xff\xff\xff", 5, 0, &u, &r), ACTO_EPROTO);
  ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_NIL); /* left empty */
  ck_assert_int_eq(acto_msgpack_decode("\x92\x01", 2, 0, &u, &r), ACTO_EPROTO);
  ck_assert_int_eq(acto_msgpack_decode("\x01\x01", 2, 0, &u, &r), ACTO_EPROTO);
  ck_assert_int_eq(acto_msgpack_decode("\x01", 1, 0, NULL, &r), ACTO_EINVAL);
  ck_assert_int_eq(acto_msgpack_decode_msg(NULL, 0, &u, &r), ACTO_EINVAL);
  acto_msg m = {.type = 1, .size = 1, .data = "\x07"};
  ck_assert_ok(acto_msgpack_decode_msg(&m, 0, &u, &r));
  ck_assert_uint_eq(u.data.via.u64, 7);
  msgpack_unpacked_destroy(&u);
}
END_TEST

/* ---- refs ------------------------------------------------------------------ */

START_TEST(a_ref_is_the_array_of_its_id_and_node_and_is_checked_on_decode) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  ck_assert_ok(acto_msgpack_pack_ref(&pk, (acto_ref){1, 2}));
  ck_assert_ok(acto_msgpack_pack_ref(&pk, (acto_ref){0x100000005u, 0xaf81e4c70000beefu}));
  const uint8_t want[] = {0x92, 0x01, 0x02, 0x92, 0xcf, 0,    0,    0, 1, 0,    0,
                          0,    5,    0xcf, 0xaf, 0x81, 0xe4, 0xc7, 0, 0, 0xbe, 0xef};
  ck_assert_uint_eq(sb.size, sizeof want);
  ck_assert_mem_eq(sb.data, want, sizeof want);
  ck_assert_int_eq(acto_msgpack_pack_ref(NULL, (acto_ref){1, 2}), ACTO_EINVAL);

  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  acto_ref r = {9, 9};
  ck_assert_ok(acto_msgpack_decode(want + 3, sizeof want - 3, 0, &u, NULL));
  ck_assert_ok(acto_msgpack_get_ref(&u.data, &r));
  ck_assert(acto_ref_eq(r, ((acto_ref){0x100000005u, 0xaf81e4c70000beefu})));
  /* int8 holding a non-negative value: any integer encoding is a uint */
  ck_assert_ok(acto_msgpack_decode("\x92\xd0\x05\x00", 4, 0, &u, NULL));
  ck_assert_ok(acto_msgpack_get_ref(&u.data, &r));
  ck_assert(acto_ref_eq(r, ((acto_ref){5, 0})));
  /* not refs: one element, three, a negative, a str, a map, a bare int */
  static const struct {
    const char *b;
    size_t n;
  } bad[] = {{"\x91\x01", 2},
             {"\x93\x01\x02\x03", 4},
             {"\x92\x01\xff", 3},
             {"\x92\x01\xa1x", 4},
             {"\x81\x01\x02", 3},
             {"\x05", 1},
             {"\x92\xcb\0\0\0\0\0\0\0\0\x01", 11}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_ok(acto_msgpack_decode(bad[i].b, bad[i].n, 0, &u, NULL));
    r = (acto_ref){9, 9};
    ck_assert_int_eq(acto_msgpack_get_ref(&u.data, &r), ACTO_EPROTO);
    ck_assert(acto_ref_eq(r, ((acto_ref){9, 9}))); /* untouched */
  }
  ck_assert_int_eq(acto_msgpack_get_ref(NULL, &r), ACTO_EINVAL);
  ck_assert_int_eq(acto_msgpack_get_ref(&u.data, NULL), ACTO_EINVAL);
  msgpack_unpacked_destroy(&u);
  msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(the_node_lookup_answer_is_read_little_endian) {
  const uint8_t le[16] = {5, 0, 0, 0, 1, 0, 0, 0, 0xef, 0xbe, 0, 0, 0xc7, 0xe4, 0x81, 0xaf};
  acto_ref r = ACTO_REF_NONE;
  ck_assert_ok(acto_node_lookup_result(le, sizeof le, &r));
  ck_assert_uint_eq(r.id, 0x100000005u);
  ck_assert_uint_eq(r.node, 0xaf81e4c70000beefu);
  ck_assert_int_eq(acto_node_lookup_result(NULL, 0, &r), ACTO_ENOENT);
  ck_assert_int_eq(acto_node_lookup_result(le, 8, &r), ACTO_EPROTO);
  ck_assert_int_eq(acto_node_lookup_result(le, 17, &r), ACTO_EPROTO);
  ck_assert_int_eq(acto_node_lookup_result(NULL, 16, &r), ACTO_EINVAL);
  ck_assert_int_eq(acto_node_lookup_result(le, 16, NULL), ACTO_EINVAL);
}
END_TEST

/* ---- declared structs ------------------------------------------------------ */

START_TEST(a_declared_struct_round_trips_every_field_kind) {
  all_kinds v = sample(), w;
  msgpack_sbuffer sb = pack_all(&v);
  /* the encoding: an array of the 13 fields in order */
  ck_assert_uint_eq((uint8_t)sb.data[0], 0x9d);
  ck_assert_uint_eq((uint8_t)sb.data[1], 0xc3); /* true */
  ck_assert_uint_eq((uint8_t)sb.data[2], 0xcc); /* 255 as uint8 */
  memset(&w, 0x5a, sizeof w);
  acto_msgpack_result r;
  ck_assert_ok(all_kinds_unpack(sb.data, sb.size, &w, &r));
  ck_assert_ptr_null(r.reason);
  ck_assert(w.flag);
  ck_assert_uint_eq(w.a8, 255);
  ck_assert_uint_eq(w.a16, 65535);
  ck_assert_uint_eq(w.a32, 4294967295u);
  ck_assert_uint_eq(w.a64, UINT64_MAX);
  ck_assert_int_eq(w.b8, -128);
  ck_assert_int_eq(w.b16, -32768);
  ck_assert_int_eq(w.b32, INT32_MIN);
  ck_assert(w.b64 == INT64_MIN);
  ck_assert(w.x == -0.25);
  ck_assert_str_eq(w.name, "12345678");
  ck_assert_uint_eq(w.blob_len, 3);
  ck_assert_mem_eq(w.blob, "\x00\xff\x10", 3);
  ck_assert(acto_ref_eq(w.who, v.who));
  msgpack_sbuffer_destroy(&sb);

  /* the other ends of the ranges, empty str and bin, false */
  memset(&v, 0, sizeof v);
  v.b8 = 127;
  v.b16 = 32767;
  v.b32 = INT32_MAX;
  v.b64 = INT64_MAX;
  v.x = 1e300;
  sb = pack_all(&v);
  ck_assert_ok(all_kinds_unpack(sb.data, sb.size, &w, NULL));
  ck_assert_mem_eq(&w, &v, sizeof v);
  msgpack_sbuffer_destroy(&sb);

  /* a client in another language may write the integers in any encoding
   * and a float as float32: [false, int8 1, ..., float32 2.5, ...] */
  const uint8_t other[] = {0x9d, 0xc2, 0xd0, 0x01, 0xd1, 0x00, 0x02, 0xd3, 0,    0,    0,
                           0,    0,    0,    0,    3,    0x04, 0x05, 0xcc, 0x06, 0xcd, 0x00,
                           0x07, 0xcf, 0,    0,    0,    0,    0,    0,    0,    8,    0xca,
                           0x40, 0x20, 0x00, 0x00, 0xa0, 0xc4, 0x00, 0x92, 0x00, 0x00};
  ck_assert_ok(all_kinds_unpack(other, sizeof other, &w, &r));
  ck_assert_uint_eq(w.a8, 1);
  ck_assert_uint_eq(w.a16, 2);
  ck_assert_uint_eq(w.a32, 3);
  ck_assert_uint_eq(w.a64, 4);
  ck_assert_int_eq(w.b8, 5);
  ck_assert_int_eq(w.b16, 6);
  ck_assert_int_eq(w.b32, 7);
  ck_assert_int_eq(w.b64, 8);
  ck_assert(w.x == 2.5);
  ck_assert_str_eq(w.name, "");
  ck_assert_uint_eq(w.blob_len, 0);
  ck_assert(acto_ref_is_none(w.who));
}
END_TEST

/* Replaces the field at byte `at` (of `len` bytes) of v's encoding with
 * `with`, and expects the unpack to refuse it naming `field`. */
static void expect_refused(const char *field, const char *reason, size_t at, size_t len,
                           const void *with, size_t wlen) {
  all_kinds v = sample(), w;
  msgpack_sbuffer sb = pack_all(&v);
  ck_assert_uint_le(at + len, sb.size);
  char buf[512];
  memcpy(buf, sb.data, at);
  memcpy(buf + at, with, wlen);
  memcpy(buf + at + wlen, sb.data + at + len, sb.size - at - len);
  size_t n = sb.size - len + wlen;
  msgpack_sbuffer_destroy(&sb);
  acto_msgpack_result r;
  memset(&w, 0x5a, sizeof w);
  long before = allocs();
  int rc = all_kinds_unpack(buf, n, &w, &r);
  long after = allocs();
  ck_assert_int_eq(rc, ACTO_EPROTO);
  ck_assert_int_eq(after, before);
  ck_assert_msg(zeroed(&w, sizeof w), "the output is not zeroed after a refusal");
  ck_assert_str_eq(r.reason, reason);
  if (field) {
    ck_assert_str_eq(r.field, field);
    char name[64];
    snprintf(name, sizeof name, "all_kinds.%s: ", field);
    ck_assert_msg(strncmp(r.detail, name, strlen(name)) == 0, "detail: %s", r.detail);
  } else {
    ck_assert_ptr_null(r.field);
  }
}

START_TEST(a_declared_struct_refuses_every_field_that_does_not_fit_and_names_it) {
  /* Offsets in sample()'s encoding: 0 array, 1 flag, 2 a8 (cc ff), 4 a16
   * (cd), 7 a32 (ce), 12 a64 (cf), 21 b8 (d0 80), 23 b16 (d1), 26 b32
   * (d2), 31 b64 (d3), 40 x (cb), 49 name (a8 + 8), 58 blob (c4 03 ...),
   * 63 who (92 cf .. cf ..). */
  expect_refused("flag", "wrong type", 1, 1, "\x01", 1);
  expect_refused("a8", "integer out of range", 2, 2, "\xcd\x01\x00", 3);  /* 256 */
  expect_refused("a16", "integer out of range", 4, 3, "\xff", 1);         /* -1 into unsigned */
  expect_refused("a32", "integer out of range", 7, 5, "\xd0\xff", 2);     /* int8 -1 */
  expect_refused("a64", "wrong type", 12, 9, "\xa1x", 2);                 /* a str */
  expect_refused("b8", "integer out of range", 21, 2, "\xd1\xff\x7f", 3); /* -129 */
  expect_refused("b64", "integer out of range", 31, 9, "\xcf\x80\0\0\0\0\0\0\0", 9);
  expect_refused("x", "wrong type", 40, 9, "\xc0", 1); /* nil */
  expect_refused("name", "too long", 49, 9,
                 "\xa9"
                 "123456789",
                 10); /* 9 > 8 */
  expect_refused("name", "NUL inside a str", 49, 9,
                 "\xa3"
                 "a\0b",
                 4);
  expect_refused("name", "wrong type", 49, 9, "\xc4\x01x", 3); /* a bin */
  expect_refused("blob", "too long", 58, 5,
                 "\xc4\x07"
                 "1234567",
                 9);                                       /* 7 > 6 */
  expect_refused("blob", "wrong type", 58, 5, "\xa1x", 2); /* a str */
  expect_refused("who", "wrong number of fields", 63, 19, "\x93\x01\x02\x03", 4);
  expect_refused("who", "integer out of range", 63, 19, "\x92\x01\xff", 3);
  expect_refused("who", "wrong type", 63, 19, "\x01", 1);
  /* the array: a field too few, a field too many, not an array, trailing */
  expect_refused(NULL, "wrong number of fields", 0, 1, "\x9c", 1);
  expect_refused(NULL, "wrong number of fields", 0, 1, "\x9e", 1);
  expect_refused(NULL, "not an array", 0, 1, "\x8d", 1);
  expect_refused(NULL, "wrong number of fields", 0, 1, "\xdd\x0f\xff\xff\xff", 5);
  all_kinds v = sample(), w;
  msgpack_sbuffer sb = pack_all(&v);
  char buf[512];
  memcpy(buf, sb.data, sb.size);
  buf[sb.size] = 0x01;
  acto_msgpack_result r;
  ck_assert_int_eq(all_kinds_unpack(buf, sb.size + 1, &w, &r), ACTO_EPROTO);
  ck_assert_str_eq(r.reason, "bytes after the message");
  ck_assert_uint_eq(r.offset, sb.size);
  /* every truncation of a valid encoding */
  for (size_t n = 0; n < sb.size; n++) {
    ck_assert_int_eq(all_kinds_unpack(buf, n, &w, &r), ACTO_EPROTO);
    ck_assert_msg(zeroed(&w, sizeof w), "not zeroed after truncation at %zu", n);
  }
  msgpack_sbuffer_destroy(&sb);
  /* arguments */
  ck_assert_int_eq(all_kinds_unpack(NULL, 3, &w, &r), ACTO_EINVAL);
  ck_assert_int_eq(all_kinds_unpack(buf, 3, NULL, &r), ACTO_EINVAL);
  ck_assert_int_eq(all_kinds_unpack(NULL, 0, &w, &r), ACTO_EPROTO);
  ck_assert_int_eq(all_kinds_unpack_msg(NULL, &w, &r), ACTO_EINVAL);
}
END_TEST

START_TEST(a_value_that_cannot_be_packed_is_refused_and_nothing_is_written) {
  acto_msgpack_buf b;
  ck_assert_ok(acto_msgpack_buf_init(&b));
  all_kinds v = sample();
  memset(v.name, 'x', sizeof v.name); /* no NUL */
  ck_assert_int_eq(all_kinds_pack(acto_msgpack_buf_packer(&b), &v), ACTO_EINVAL);
  v = sample();
  v.blob_len = 7;
  ck_assert_int_eq(all_kinds_pack(acto_msgpack_buf_packer(&b), &v), ACTO_EINVAL);
  v = sample();
  memset(&v.flag, 2, 1);
  ck_assert_int_eq(all_kinds_pack(acto_msgpack_buf_packer(&b), &v), ACTO_EINVAL);
  ck_assert_uint_eq(b.size, 0);
  ck_assert_int_eq(all_kinds_pack(NULL, &v), ACTO_EINVAL);
  ck_assert_int_eq(all_kinds_pack(acto_msgpack_buf_packer(&b), NULL), ACTO_EINVAL);
  acto_msgpack_buf_free(&b);
}
END_TEST

START_TEST(the_printer_names_every_field_with_snprintf_rules) {
  say s;
  memset(&s, 0, sizeof s);
  strcpy(s.room, "#lo\"bby\n");
  s.seq = 3;
  s.from = (acto_ref){0x100000005u, 0xaf81e4c70000beefu};
  s.text_len = 5;
  memcpy(s.text, "hello", 5);
  const char *want = "say{room=\"#lo\\\"bby\\x0a\", seq=3, from=ref(0x100000005, "
                     "0xaf81e4c70000beef), text=bin(5):68656c6c6f}";
  char buf[256];
  ck_assert_int_eq(say_print(&s, buf, sizeof buf), (int)strlen(want));
  ck_assert_str_eq(buf, want);
  char small[10];
  ck_assert_int_eq(say_print(&s, small, sizeof small), (int)strlen(want));
  ck_assert_str_eq(small, "say{room=");
  ck_assert_int_eq(say_print(&s, NULL, 0), (int)strlen(want));
  ck_assert_int_eq(say_print(&s, NULL, 4), ACTO_EINVAL);
  ck_assert_int_eq(say_print(NULL, buf, sizeof buf), ACTO_EINVAL);
  all_kinds v = sample();
  ck_assert_int_gt(all_kinds_print(&v, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "all_kinds{flag=true, a8=255, a16=65535, a32=4294967295, "
                        "a64=18446744073709551615, b8=-128, b16=-32768, b32=-2147483648, "
                        "b64=-9223372036854775808, x=-0.25, name=\"12345678\", "
                        "blob=bin(3):00ff10, who=ref(0x100000005, 0xaf81e4c70000beef)}");
}
END_TEST

START_TEST(struct_unpack_never_allocates) {
  all_kinds v = sample(), w;
  msgpack_sbuffer sb = pack_all(&v);
  int bad = 0;
  long before = allocs();
  for (int i = 0; i < 100; i++)
    bad |= all_kinds_unpack(sb.data, sb.size, &w, NULL) != 0;
  long after = allocs();
  ck_assert_int_eq(bad, 0);
  ck_assert_int_eq(after, before);
  msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- sending without a copy ---------------------------------------------------- */

enum { T_BLOB = 1, T_SAY = 2, T_ASK = 3, T_REPLY = 4, T_HEARD = 5 };

static _Atomic(const void *) g_seen_ptr;
static _Atomic size_t g_seen_size;
static _Atomic int g_seen_ok;
static tu_counter g_got;

/* Receives T_BLOB: a bin whose bytes are i % 251; records where they are. */
static int sink_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  if (m->type == T_BLOB) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int ok = acto_msgpack_decode_msg(m, 0, &u, NULL) == 0 && u.data.type == MSGPACK_OBJECT_BIN;
    for (uint32_t i = 0; ok && i < u.data.via.bin.size; i++)
      ok = (uint8_t)u.data.via.bin.ptr[i] == i % 251;
    atomic_store(&g_seen_ok, ok);
    atomic_store(&g_seen_ptr, m->data);
    atomic_store(&g_seen_size, m->size);
    msgpack_unpacked_destroy(&u);
    tu_counter_add(&g_got, 1);
  } else if (m->type == T_ASK) {
    say s;
    TU_EXPECT_RC(say_unpack_msg(m, &s, NULL), 0);
    s.seq++;
    TU_EXPECT_RC(say_reply(ctx, T_REPLY, &s), 0);
  }
  return 0;
}

static const acto_behaviour sink = {.name = "sink", .handle = sink_handle};

static void pack_blob(acto_msgpack_buf *b, uint32_t n) {
  ck_assert_ok(acto_msgpack_buf_init(b));
  char *p = malloc(n);
  for (uint32_t i = 0; i < n; i++)
    p[i] = (char)(i % 251);
  ck_assert_int_eq(msgpack_pack_bin(acto_msgpack_buf_packer(b), n), 0);
  ck_assert_int_eq(msgpack_pack_bin_body(acto_msgpack_buf_packer(b), p, n), 0);
  free(p);
}

START_TEST(send_hands_the_packed_block_to_the_message_without_copying) {
  acto_system *sys = tu_system(2);
  acto_ref r;
  ck_assert_ok(acto_spawn(sys, &sink, NULL, NULL, &r));
  tu_counter_init(&g_got);

  /* 64 KiB: packed into a heap block, which the handler reads as it is */
  acto_msgpack_buf b;
  pack_blob(&b, 65536);
  ck_assert_int_eq(b.error, 0);
  const void *block = b.data;
  size_t size = b.size;
  ck_assert_ptr_ne(block, b.small);
  ck_assert_ok(acto_msgpack_send(sys, r, T_BLOB, &b, NULL));
  ck_assert_uint_eq(b.size, 0); /* emptied: the block is the message's */
  ck_assert_ptr_eq(b.data, b.small);
  ck_assert_counter_reaches(&g_got, 1);
  ck_assert(atomic_load(&g_seen_ok));
  ck_assert_ptr_eq(atomic_load(&g_seen_ptr), block);
  ck_assert_uint_eq(atomic_load(&g_seen_size), size);

  /* reserved up front: the packer never moves the bytes either */
  ck_assert_ok(acto_msgpack_buf_init(&b));
  ck_assert_ok(acto_msgpack_buf_reserve(&b, 5 + 4000));
  block = b.data;
  char chunk[4000];
  for (int i = 0; i < 4000; i++)
    chunk[i] = (char)(i % 251);
  ck_assert_int_eq(msgpack_pack_bin(acto_msgpack_buf_packer(&b), 4000), 0);
  ck_assert_int_eq(msgpack_pack_bin_body(acto_msgpack_buf_packer(&b), chunk, 4000), 0);
  ck_assert_ptr_eq(b.data, block);
  ck_assert_ok(acto_msgpack_send(sys, r, T_BLOB, &b, NULL));
  ck_assert_counter_reaches(&g_got, 2);
  ck_assert_ptr_eq(atomic_load(&g_seen_ptr), block);

  /* small: packed on the stack, copied once into the message block */
  pack_blob(&b, 100);
  ck_assert_ptr_eq(b.data, b.small);
  ck_assert_ok(acto_msgpack_send(sys, r, T_BLOB, &b, NULL));
  ck_assert_counter_reaches(&g_got, 3);
  ck_assert(atomic_load(&g_seen_ok));
  ck_assert_uint_eq(atomic_load(&g_seen_size), 102);
  tu_shutdown(sys);
}
END_TEST

START_TEST(send_refuses_what_is_not_one_object_and_always_empties_the_buffer) {
  acto_system *sys = tu_system(1);
  acto_ref r;
  ck_assert_ok(acto_spawn(sys, &sink, NULL, NULL, &r));
  acto_msgpack_buf b;
  ck_assert_ok(acto_msgpack_buf_init(&b));
  ck_assert_int_eq(acto_msgpack_send(sys, r, T_BLOB, &b, NULL), ACTO_EINVAL); /* empty */
  msgpack_pack_array(acto_msgpack_buf_packer(&b), 2);
  msgpack_pack_int(acto_msgpack_buf_packer(&b), 1);
  ck_assert_int_eq(acto_msgpack_send(sys, r, T_BLOB, &b, NULL), ACTO_EPROTO); /* half an array */
  ck_assert_uint_eq(b.size, 0);
  msgpack_pack_int(acto_msgpack_buf_packer(&b), 1);
  msgpack_pack_int(acto_msgpack_buf_packer(&b), 2);
  ck_assert_int_eq(acto_msgpack_send(sys, r, T_BLOB, &b, NULL), ACTO_EPROTO); /* two objects */
  /* a heap block refused on every path is freed (ASan's leak check) */
  pack_blob(&b, 1000);
  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  o.free_fn = free;
  ck_assert_int_eq(acto_msgpack_send(sys, r, T_BLOB, &b, &o), ACTO_EINVAL);
  ck_assert_ptr_eq(b.data, b.small);
  pack_blob(&b, 1000);
  ck_assert_int_eq(acto_msgpack_send(sys, (acto_ref){12345, 0}, T_BLOB, &b, NULL), ACTO_ESTALE);
  pack_blob(&b, 1000);
  ck_assert_int_eq(acto_msgpack_send(sys, r, ACTO_MSG_RESERVED, &b, NULL), ACTO_EINVAL);
  pack_blob(&b, 1000);
  ck_assert_int_eq(acto_msgpack_send(NULL, r, T_BLOB, &b, NULL), ACTO_EINVAL);
  pack_blob(&b, 1000);
  ck_assert_int_eq(acto_msgpack_ask(sys, (acto_ref){12345, 0}, T_ASK, &b, 100, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto_msgpack_send(sys, r, T_BLOB, NULL, NULL), ACTO_EINVAL);
  /* room past ACTO_MSG_MAX_SIZE is refused, and the buffer stays usable */
  ck_assert_ok(acto_msgpack_buf_init(&b));
  ck_assert_int_eq(acto_msgpack_buf_reserve(&b, ACTO_MSG_MAX_SIZE + 1), ACTO_ETOOBIG);
  ck_assert_int_eq(acto_msgpack_buf_reserve(NULL, 1), ACTO_EINVAL);
  ck_assert_int_eq(b.error, 0);
  ck_assert_int_eq(msgpack_pack_int(acto_msgpack_buf_packer(&b), 1), 0);
  ck_assert_ok(acto_msgpack_send(sys, r, T_ASK + 100, &b, NULL));
  acto_msgpack_buf_free(&b);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_and_reply_carry_declared_structs) {
  acto_system *sys = tu_system(2);
  acto_ref r;
  ck_assert_ok(acto_spawn(sys, &sink, NULL, NULL, &r));
  say s;
  memset(&s, 0, sizeof s);
  strcpy(s.room, "#r");
  s.seq = 41;
  s.text_len = 300; /* over ACTO_INLINE_MAX: a heap block */
  memset(s.text, 't', s.text_len);
  acto_msgpack_buf b;
  ck_assert_ok(acto_msgpack_buf_init(&b));
  ck_assert_ok(say_pack(acto_msgpack_buf_packer(&b), &s));
  acto_reply_buf rb;
  ck_assert_ok(acto_msgpack_ask(sys, r, T_ASK, &b, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.type, T_REPLY);
  say back;
  ck_assert_ok(say_unpack(rb.data, rb.size, &back, NULL));
  ck_assert_uint_eq(back.seq, 42);
  ck_assert_str_eq(back.room, "#r");
  ck_assert_uint_eq(back.text_len, 300);
  acto_reply_release(&rb);
  tu_shutdown(sys);
}
END_TEST

/* ---- across nodes ---------------------------------------------------------------- */

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";

static acto_system *node_sys(const char *name) {
  acto_config c = {0};
  c.threads = 2;
  acto_system *s = tu_system_cfg(&c);
  acto_node_config nc = {0};
  nc.name = name;
  nc.key = KEY;
  nc.key_len = sizeof KEY;
  nc.handshake_timeout_ms = 2000 * tu_multiplier();
  nc.heartbeat_ms = 500 * tu_multiplier();
  nc.heartbeat_timeout_ms = 2000 * tu_multiplier();
  ck_assert_ok(acto_node_start(s, &nc));
  return s;
}

static say g_heard;

/* On beta: a SAY answers T_HEARD to the ref inside it (not to the
 * sender), with seq + 1: the ref crossed the link inside the payload.
 * On alpha: T_HEARD is recorded. */
static int talker_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  say s;
  acto_msgpack_result r;
  if (m->type == T_SAY) {
    int rc = say_unpack_msg(m, &s, &r);
    TU_EXPECT(rc == 0, "unpack: %s", r.detail);
    if (rc != 0)
      return 0;
    s.seq++;
    TU_EXPECT_RC(say_send(acto_ctx_system(ctx), s.from, T_HEARD, &s, NULL), 0);
  } else if (m->type == T_HEARD) {
    int rc = say_unpack_msg(m, &s, &r);
    TU_EXPECT(rc == 0, "unpack: %s", r.detail);
    g_heard = s;
    tu_counter_add(&g_got, 1);
  }
  return 0;
}

static const acto_behaviour talker = {.name = "talker", .handle = talker_handle};

START_TEST(a_declared_struct_crosses_nodes_with_a_ref_inside) {
  tu_counter_init(&g_got);
  acto_system *beta = node_sys("beta");
  acto_ref far;
  ck_assert_ok(acto_spawn(beta, &talker, NULL, &(acto_spawn_opts){.name = "talker"}, &far));
  acto_system *alpha = node_sys("alpha");
  acto_ref near;
  ck_assert_ok(acto_spawn(alpha, &talker, NULL, NULL, &near));
  uint16_t port = 0;
  ck_assert_ok(acto_node_port(beta, &port));
  ck_assert_ok(acto_node_connect(alpha, "beta", "127.0.0.1", port, TU_WAIT_MS));
  acto_ref found;
  ck_assert_ok(acto_node_lookup(alpha, "beta", "talker", TU_WAIT_MS, &found));
  ck_assert(acto_ref_eq(found, far));

  say s;
  memset(&s, 0, sizeof s);
  strcpy(s.room, "#lobby");
  s.seq = 7;
  s.from = near;
  s.text_len = 512; /* the most: a heap block, handed over, then framed */
  for (int i = 0; i < 512; i++)
    s.text[i] = (uint8_t)(i * 7);
  ck_assert_ok(say_send(alpha, far, T_SAY, &s, NULL));
  ck_assert_counter_reaches(&g_got, 1);
  ck_assert_uint_eq(g_heard.seq, 8);
  ck_assert_str_eq(g_heard.room, "#lobby");
  ck_assert(acto_ref_eq(g_heard.from, near));
  ck_assert_uint_eq(g_heard.text_len, 512);
  ck_assert_mem_eq(g_heard.text, s.text, 512);
  tu_shutdown(alpha);
  tu_shutdown(beta);
}
END_TEST

int main(void) {
  Suite *s = suite_create("msgpack");
  TCase *tc = tu_tcase("check", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
  tu_add_tests(tc, check_accepts_one_object_and_refuses_each_malformed_payload_with_its_code,
               decode_hands_msgpack_c_only_a_whole_checked_object,
               a_ref_is_the_array_of_its_id_and_node_and_is_checked_on_decode,
               the_node_lookup_answer_is_read_little_endian);
  suite_add_tcase(s, tc);

  tc = tu_tcase("struct", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
  tu_add_tests(tc, a_declared_struct_round_trips_every_field_kind,
               a_declared_struct_refuses_every_field_that_does_not_fit_and_names_it,
               a_value_that_cannot_be_packed_is_refused_and_nothing_is_written,
               the_printer_names_every_field_with_snprintf_rules, struct_unpack_never_allocates);
  suite_add_tcase(s, tc);

  tc = tu_tcase("send", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
  tu_add_tests(tc, send_hands_the_packed_block_to_the_message_without_copying,
               send_refuses_what_is_not_one_object_and_always_empties_the_buffer,
               ask_and_reply_carry_declared_structs,
               a_declared_struct_crosses_nodes_with_a_ref_inside);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
