/* test_prescan.c - the structural pre-scan and guarded decode of msgpack
 * payloads (codec/prescan.c).
 *
 * A catalogue of malformed payloads, each refused with its own reason and
 * never handed to msgpack-c; the valid edge cases of every msgpack type,
 * accepted and decoded; the nesting limit at and around its edges; memory
 * staying flat on the headers that make msgpack-c reserve gigabytes; and a
 * differential test against msgpack-c itself: random objects packed by
 * msgpack-c always pass and decode to the same object, and random
 * mutations of them are accepted by the pre-scan exactly when msgpack-c
 * decodes them completely.
 *
 * The random tests print their seed; ACTO_TEST_SEED=<n> repeats a run.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <msgpack.h>

#include "transport/frame.h"
#include "codec/prescan.h"
#include "testutil.h"
#include "worst_reserve.h"

#define SCALE_DIV TU_N(1, 4, 10)

/* The reasons, as prescan.c words them. */
#define R_EMPTY "empty payload"
#define R_C1 "byte 0xc1 (never used in msgpack)"
#define R_FIELD "a length or value field runs past the end of the payload"
#define R_DATA "str, bin or ext data runs past the end of the payload"
#define R_COUNT "container declares more elements than the remaining bytes can hold"
#define R_MISSING "payload ends before every declared element is present"
#define R_DEPTH "nesting deeper than the limit"
#define R_TRAILING "bytes after the end of the object"
#define R_NOT_ARRAY "top level is not an array"
#define R_NO_KIND "top-level array is empty: no kind"
#define R_KIND "kind (first element) is not a positive integer"
#define R_MSGPACK "msgpack-c refused a payload the pre-scan accepted"

#define K ACTO__PRESCAN_KIND

static const char *hex(const uint8_t *p, size_t n) {
  static char s[3 * 48 + 8];
  size_t o = 0;
  for (size_t i = 0; i < n && i < 48; i++)
    o += (size_t)snprintf(s + o, sizeof s - o, "%02x ", p[i]);
  if (n > 48)
    snprintf(s + o, sizeof s - o, "...");
  return s;
}

/* ---- the catalogue of malformed payloads ----------------------------------- */

typedef struct bad_case {
  const char *name;
  const uint8_t *bytes;
  size_t len;
  unsigned flags;
  int rc;
  const char *reason;
  size_t offset; /* where the error must be reported */
} bad_case;

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define FF4 0xff, 0xff, 0xff, 0xff
#define E ACTO__EPROTO

static const bad_case BAD[] = {
    {"empty payload", (const uint8_t *)"", 0, 0, E, R_EMPTY, 0},
    {"empty payload (kind)", (const uint8_t *)"", 0, K, E, R_EMPTY, 0},
    /* 0xc1 wherever a header byte is expected. */
    {"0xc1 alone", B(0xc1), 0, E, R_C1, 0},
    {"0xc1 as the kind", B(0x91, 0xc1), K, E, R_C1, 1},
    {"0xc1 as an array element", B(0x93, 0x01, 0x02, 0xc1), K, E, R_C1, 3},
    {"0xc1 as a map key", B(0x92, 0x01, 0x81, 0xc1, 0xc0), K, E, R_C1, 3},
    {"0xc1 as a map value", B(0x92, 0x01, 0x81, 0xc0, 0xc1), K, E, R_C1, 4},
    {"0xc1 deep inside", B(0x92, 0x01, 0x91, 0x91, 0x91, 0xc1), K, E, R_C1, 5},
    {"0xc1 after the object", B(0x91, 0x01, 0xc1), K, E, R_TRAILING, 2},
    /* Containers declaring more than the payload could hold. */
    {"array32 0xffffffff", B(0xdd, FF4), 0, E, R_COUNT, 0},
    {"dd 0f ff ff ff (6.4 GB in msgpack-c)", B(0xdd, 0x0f, 0xff, 0xff, 0xff), 0, E, R_COUNT, 0},
    {"array32 0xffffffff (kind)", B(0xdd, FF4), K, E, R_COUNT, 0},
    {"map32 0xffffffff", B(0xdf, FF4), 0, E, R_COUNT, 0},
    {"map32 0x7fffffff inside a message", B(0x92, 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff, 0, 0),
     K, E, R_COUNT, 2},
    {"array32 in a map value", B(0x92, 0x01, 0x81, 0x01, 0xdd, FF4), K, E, R_COUNT, 4},
    {"array16 0xffff with 3 bytes", B(0xdc, 0xff, 0xff, 0xc0, 0xc0, 0xc0), 0, E, R_COUNT, 0},
    {"map16 of 2 pairs in 3 bytes", B(0xde, 0x00, 0x02, 0x01, 0x01, 0x01), 0, E, R_COUNT, 0},
    {"fixarray 15 with 2 elements", B(0x9f, 0x01, 0x02), 0, E, R_COUNT, 0},
    {"fixmap with a key and no value", B(0x81, 0x01), 0, E, R_COUNT, 0},
    {"first element missing: kind absent", B(0x92), K, E, R_COUNT, 0},
    {"inner array needs bytes the outer owes",
     B(0x93, 0x01, 0x91, 0xc0), K, E, R_COUNT, 2},
    /* Lengths of str/bin/ext running past the end. */
    {"str32 0xffffffff", B(0xdb, FF4), 0, E, R_DATA, 0},
    {"bin32 0xffffffff", B(0xc6, FF4), 0, E, R_DATA, 0},
    {"ext32 0xffffffff (wraps to 0 in msgpack-c)", B(0xc9, FF4, 0x01), 0, E, R_DATA, 0},
    {"str32 0xffffffff as an element", B(0x92, 0x01, 0xdb, FF4), K, E, R_DATA, 2},
    {"bin16 0xffff", B(0x92, 0x01, 0xc5, 0xff, 0xff, 0x00), K, E, R_DATA, 2},
    {"ext16 0xffff", B(0x92, 0x01, 0xc8, 0xff, 0xff, 0x01, 0x00), K, E, R_DATA, 2},
    {"str8 of 5 with 2 bytes", B(0xd9, 0x05, 0x61, 0x62), 0, E, R_DATA, 0},
    {"fixstr of 5 with 2 bytes", B(0xa5, 0x61, 0x62), 0, E, R_DATA, 0},
    {"ext8 of 2 missing a data byte", B(0xc7, 0x02, 0x01, 0xaa), 0, E, R_DATA, 0},
    {"ext8 missing its type byte", B(0xc7, 0x00), 0, E, R_DATA, 0},
    /* Fixed-width fields cut short. */
    {"bin8 without its length", B(0xc4), 0, E, R_FIELD, 0},
    {"str16 with half a length", B(0x92, 0x01, 0xda, 0x00), K, E, R_FIELD, 2},
    {"array16 with half a count", B(0xdc, 0x00), 0, E, R_FIELD, 0},
    {"map32 with 3 count bytes", B(0xdf, 0x00, 0x00, 0x00), 0, E, R_FIELD, 0},
    {"fixext4 with 2 of 5 bytes", B(0xd6, 0x01, 0xaa), 0, E, R_FIELD, 0},
    {"fixext16 with 16 of 17 bytes",
     B(0xd8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), 0, E, R_FIELD, 0},
    {"uint64 with 2 of 8 bytes", B(0xcf, 0x00, 0x00), 0, E, R_FIELD, 0},
    {"int32 with 3 of 4 bytes", B(0x92, 0x01, 0xd2, 0x00, 0x00, 0x00), K, E, R_FIELD, 2},
    {"float32 with 3 of 4 bytes", B(0xca, 0x00, 0x00, 0x00), 0, E, R_FIELD, 0},
    {"float64 with 1 of 8 bytes", B(0xcb, 0x00), 0, E, R_FIELD, 0},
    {"kind uint32 cut short", B(0x91, 0xce, 0x00, 0x00), K, E, R_FIELD, 1},
    /* Declared elements missing after the count check passed. */
    {"array of 2 whose first element eats the rest", B(0x92, 0xd9, 0x02, 0x61, 0x62), 0, E,
     R_MISSING, 5},
    {"map whose key eats the value's byte", B(0x81, 0xa2, 0x61, 0x62), 0, E, R_MISSING, 4},
    /* Something after the one object. */
    {"trailing nil", B(0x92, 0x01, 0xc0, 0xc0), K, E, R_TRAILING, 3},
    {"trailing zero byte", B(0x91, 0x01, 0x00), K, E, R_TRAILING, 2},
    {"two messages in one payload", B(0x91, 0x01, 0x91, 0x02), K, E, R_TRAILING, 2},
    {"two scalars", B(0x01, 0x02), 0, E, R_TRAILING, 1},
    {"a valid object then a huge header", B(0xc0, 0xdd, FF4), 0, E, R_TRAILING, 1},
    /* The kind rule. */
    {"top level is a map", B(0x81, 0x01, 0x01), K, E, R_NOT_ARRAY, 0},
    {"top level is an integer", B(0x01), K, E, R_NOT_ARRAY, 0},
    {"top level is a string", B(0xa2, 0x68, 0x69), K, E, R_NOT_ARRAY, 0},
    {"top level is nil", B(0xc0), K, E, R_NOT_ARRAY, 0},
    {"top-level array is empty", B(0x90), K, E, R_NO_KIND, 0},
    {"top-level array16 is empty", B(0xdc, 0x00, 0x00), K, E, R_NO_KIND, 0},
    {"kind is a negative fixint", B(0x91, 0xff), K, E, R_KIND, 1},
    {"kind is a negative int8", B(0x91, 0xd0, 0x80), K, E, R_KIND, 1},
    {"kind is a positive value in int8 encoding", B(0x91, 0xd0, 0x05), K, E, R_KIND, 1},
    {"kind is an int64", B(0x91, 0xd3, 0, 0, 0, 0, 0, 0, 0, 1), K, E, R_KIND, 1},
    {"kind is a string", B(0x92, 0xa1, 0x61, 0x01), K, E, R_KIND, 1},
    {"kind is a float32", B(0x92, 0xca, 0x3f, 0x80, 0x00, 0x00, 0x01), K, E, R_KIND, 1},
    {"kind is a float64", B(0x91, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0), K, E, R_KIND, 1},
    {"kind is zero", B(0x91, 0x00), K, E, R_KIND, 1},
    {"kind is zero in uint64 encoding", B(0x91, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0), K, E, R_KIND, 1},
    {"kind is nil", B(0x91, 0xc0), K, E, R_KIND, 1},
    {"kind is true", B(0x91, 0xc3), K, E, R_KIND, 1},
    {"kind is an array", B(0x91, 0x91, 0x01), K, E, R_KIND, 1},
    {"kind is a bin", B(0x91, 0xc4, 0x01, 0x01), K, E, R_KIND, 1},
    {"kind is an ext", B(0x91, 0xd4, 0x01, 0x01), K, E, R_KIND, 1},
};
#define N_BAD (sizeof BAD / sizeof BAD[0])

/* Each case: refused with its code, reason and offset, by the pre-scan
 * alone and by the guarded decode, which must never reach msgpack-c. */
START_TEST(prescan_catalogue_case_is_rejected_with_its_reason) {
  const bad_case *c = &BAD[_i];
  acto__prescan_result res;
  int rc = acto__prescan_check(c->bytes, c->len, 0, c->flags, &res);
  ck_assert_msg(rc == c->rc, "%s: rc %d, want %d (%s)", c->name, rc, c->rc, res.detail);
  ck_assert_msg(res.reason != NULL && strcmp(res.reason, c->reason) == 0,
                "%s: reason \"%s\", want \"%s\"", c->name, res.reason ? res.reason : "(null)",
                c->reason);
  ck_assert_msg(res.offset == c->offset, "%s: offset %zu, want %zu (%s)", c->name, res.offset,
                c->offset, res.detail);
  ck_assert_msg(res.detail[0] != '\0', "%s: no detail", c->name);

  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  acto__prescan_result dres;
  ck_assert_int_eq(acto__prescan_decode(c->bytes, c->len, 0, c->flags, &u, &dres), c->rc);
  ck_assert_str_eq(dres.reason, c->reason); /* the pre-scan's, not msgpack-c's */
  ck_assert_ptr_null(u.zone);
  msgpack_unpacked_destroy(&u);
  /* And without a result struct. */
  ck_assert_int_eq(acto__prescan_check(c->bytes, c->len, 0, c->flags, NULL), c->rc);
}
END_TEST

START_TEST(prescan_detail_names_the_numbers) {
  acto__prescan_result res;
  ck_assert_int_eq(acto__prescan_check((const uint8_t *)"\xdd\xff\xff\xff\xff", 5, 0, 0, &res),
                   ACTO__EPROTO);
  ck_assert_str_eq(res.detail,
                   "array32 header declares 4294967295 elements but 0 bytes remain (payload 5 bytes)");
  ck_assert_int_eq(acto__prescan_check((const uint8_t *)"\xdf\x00\x00\x00\x02\x01\x01\x01", 8,
                                       0, 0, &res),
                   ACTO__EPROTO);
  ck_assert_str_eq(res.detail,
                   "map32 header declares 2 pairs but 3 bytes remain (payload 8 bytes)");
  ck_assert_int_eq(acto__prescan_check((const uint8_t *)"\x92\xa1\x61\x01", 4, 0, K, &res),
                   ACTO__EPROTO);
  ck_assert_str_eq(res.detail, "kind at offset 1 is a fixstr");
}
END_TEST

/* ---- valid edge cases ---------------------------------------------------------- */

typedef struct good_case {
  const char *name;
  const uint8_t *bytes;
  size_t len;
  unsigned flags;
  uint64_t kind;
  int canonical; /* msgpack-c packs the decoded object to the same bytes */
} good_case;

#define A32 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', \
            'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'
#define Z8 0, 0, 0, 0, 0, 0, 0, 0

static const good_case GOOD[] = {
    {"[1]", B(0x91, 0x01), K, 1, 1},
    {"kind 127 (largest fixint)", B(0x91, 0x7f), K, 127, 1},
    {"kind uint8", B(0x91, 0xcc, 0xff), K, 255, 1},
    {"kind uint16", B(0x91, 0xcd, 0x01, 0x00), K, 256, 1},
    {"kind uint32", B(0x91, 0xce, 0x00, 0x01, 0x00, 0x00), K, 65536, 1},
    {"kind uint64 max", B(0x91, 0xcf, FF4, FF4), K, UINT64_MAX, 1},
    {"kind 1 in uint32 encoding", B(0x91, 0xce, 0x00, 0x00, 0x00, 0x01), K, 1, 0},
    {"kind 1 in uint8 encoding", B(0x91, 0xcc, 0x01), K, 1, 0},
    {"[1, \"hi\"]", B(0x92, 0x01, 0xa2, 0x68, 0x69), K, 1, 1},
    {"array16 of 2", B(0xdc, 0x00, 0x02, 0x01, 0xc0), K, 1, 0},
    {"array32 of 2", B(0xdd, 0x00, 0x00, 0x00, 0x02, 0x05, 0xc3), K, 5, 0},
    {"every int width",
     B(0x9c, 0x01, 0xd0, 0x80, 0xd1, 0x80, 0x00, 0xd2, 0x80, 0x00, 0x00, 0x00, 0xd3, 0x80, 0, 0,
       0, 0, 0, 0, 0, 0xe0, 0xff, 0x00, 0xcc, 0x80, 0xcd, 0xff, 0xff, 0xce, FF4, 0xcf, FF4, FF4),
     K, 1, 1},
    {"nil, false, true", B(0x94, 0x02, 0xc0, 0xc2, 0xc3), K, 2, 1},
    {"float32, float64",
     B(0x93, 0x03, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0), K, 3, 1},
    {"str8", B(0x92, 0x04, 0xd9, 0x20, A32), K, 4, 1},
    {"str32 of 2", B(0x92, 0x04, 0xdb, 0x00, 0x00, 0x00, 0x02, 0x68, 0x69), K, 4, 0},
    {"str16 of 0", B(0x92, 0x04, 0xda, 0x00, 0x00), K, 4, 0},
    {"bin8 holding 0xc1", B(0x92, 0x05, 0xc4, 0x03, 0x00, 0xc1, 0xff), K, 5, 1},
    {"bin16 of 1", B(0x92, 0x05, 0xc5, 0x00, 0x01, 0xaa), K, 5, 0},
    {"bin32 of 0", B(0x92, 0x05, 0xc6, 0x00, 0x00, 0x00, 0x00), K, 5, 0},
    {"ext8 of 3", B(0x92, 0x06, 0xc7, 0x03, 0x01, 0xaa, 0xbb, 0xcc), K, 6, 1},
    {"ext8 of 0", B(0x92, 0x06, 0xc7, 0x00, 0x05), K, 6, 1},
    {"ext16 of 1", B(0x92, 0x06, 0xc8, 0x00, 0x01, 0x7f, 0xaa), K, 6, 0},
    {"ext32 of 2 with a negative type", B(0x92, 0x06, 0xc9, 0, 0, 0, 2, 0x80, 0xaa, 0xbb), K, 6,
     0},
    {"fixext 1, 2, 4, 8, 16",
     B(0x96, 0x07, 0xd4, 0x01, 0xaa, 0xd5, 0x02, 0xaa, 0xbb, 0xd6, 0x03, 1, 2, 3, 4, 0xd7, 0x04,
       Z8, 0xd8, 0x05, Z8, Z8),
     K, 7, 1},
    {"empty str, bin, array, map", B(0x95, 0x08, 0xa0, 0xc4, 0x00, 0x90, 0x80), K, 8, 1},
    {"fixmap with str and nil keys", B(0x92, 0x09, 0x82, 0xa1, 0x6b, 0x01, 0xc0, 0xc3), K, 9,
     1},
    {"map16, map32", B(0x93, 0x0a, 0xde, 0x00, 0x01, 0x01, 0x02, 0xdf, 0, 0, 0, 1, 0xc0, 0xc0), K,
     10, 0},
    {"duplicate map keys (schema's business)", B(0x92, 0x01, 0x82, 0x01, 0x01, 0x01, 0x02), K,
     1, 1},
    {"0xc1 inside a string", B(0x92, 0x0b, 0xa1, 0xc1), K, 11, 1},
    {"negative fixints", B(0x93, 0x0c, 0xe0, 0xff), K, 12, 1},
    {"a bare integer (no kind rule)", B(0x01), 0, 0, 1},
    {"a bare map (no kind rule)", B(0x81, 0x01, 0x02), 0, 0, 1},
    {"a bare string (no kind rule)", B(0xa2, 0x68, 0x69), 0, 0, 1},
    {"an empty array (no kind rule)", B(0x90), 0, 0, 1},
    {"a negative first element (no kind rule)", B(0x91, 0xff), 0, 0, 1},
};
#define N_GOOD (sizeof GOOD / sizeof GOOD[0])

static int repacks_to(const msgpack_object *o, const uint8_t *bytes, size_t len) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int same = msgpack_pack_object(&pk, *o) == 0 && sb.size == len &&
             memcmp(sb.data, bytes, len) == 0;
  msgpack_sbuffer_destroy(&sb);
  return same;
}

START_TEST(prescan_valid_edge_case_is_accepted_and_decoded) {
  const good_case *c = &GOOD[_i];
  acto__prescan_result res;
  int rc = acto__prescan_check(c->bytes, c->len, 0, c->flags, &res);
  ck_assert_msg(rc == 0, "%s: rc %d (%s)", c->name, rc, res.detail);
  ck_assert_ptr_null(res.reason);
  ck_assert_str_eq(res.detail, "");
  ck_assert_uint_le(res.elements, c->len);
  if (c->flags & K)
    ck_assert_msg(res.kind == c->kind, "%s: kind %" PRIu64, c->name, res.kind);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  rc = acto__prescan_decode(c->bytes, c->len, 0, c->flags, &u, &res);
  ck_assert_msg(rc == 0, "%s: decode rc %d (%s)", c->name, rc, res.detail);
  if (c->flags & K) {
    ck_assert_int_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
    ck_assert_int_eq(u.data.via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    ck_assert(u.data.via.array.ptr[0].via.u64 == c->kind);
  }
  if (c->canonical)
    ck_assert_msg(repacks_to(&u.data, c->bytes, c->len), "%s: re-packed differently", c->name);
  msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(prescan_decoded_strings_point_into_the_payload) {
  static const uint8_t p[] = {0x92, 0x01, 0xa2, 0x68, 0x69};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  ck_assert_int_eq(acto__prescan_decode(p, sizeof p, 0, K, &u, NULL), 0);
  const msgpack_object *s = &u.data.via.array.ptr[1];
  ck_assert_int_eq(s->type, MSGPACK_OBJECT_STR);
  ck_assert_uint_eq(s->via.str.size, 2);
  ck_assert_ptr_eq(s->via.str.ptr, (const char *)p + 3); /* not a NUL-terminated copy */
  msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(prescan_decode_releases_what_out_held_before) {
  static const uint8_t good[] = {0x92, 0x01, 0x91, 0x02}, bad[] = {0x92, 0x01};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  ck_assert_int_eq(acto__prescan_decode(good, sizeof good, 0, K, &u, NULL), 0);
  ck_assert_ptr_nonnull(u.zone);
  /* Decoding again into the same struct frees the first zone (LeakSanitizer
   * would report it otherwise) and leaves it empty on failure. */
  ck_assert_int_eq(acto__prescan_decode(bad, sizeof bad, 0, K, &u, NULL), ACTO__EPROTO);
  ck_assert_ptr_null(u.zone);
  ck_assert_int_eq(acto__prescan_decode(good, sizeof good, 0, K, &u, NULL), 0);
  msgpack_unpacked_destroy(&u);
  msgpack_unpacked_destroy(&u); /* idempotent */
}
END_TEST

START_TEST(prescan_bad_arguments_are_einval) {
  acto__prescan_result res;
  ck_assert_int_eq(acto__prescan_check(NULL, 3, 0, 0, &res), ACTO_EINVAL);
  ck_assert_ptr_nonnull(res.reason);
  ck_assert_int_eq(acto__prescan_check((const uint8_t *)"\xc0", 1, ACTO__PRESCAN_DEPTH_MAX + 1,
                                       0, &res),
                   ACTO_EINVAL);
  ck_assert_int_eq(acto__prescan_check(NULL, 0, 0, 0, &res), ACTO__EPROTO);
  ck_assert_str_eq(res.reason, R_EMPTY);
  ck_assert_int_eq(acto__prescan_decode((const uint8_t *)"\xc0", 1, 0, 0, NULL, &res),
                   ACTO_EINVAL);
}
END_TEST

/* ---- nesting ---------------------------------------------------------------------- */

/* depth nested containers around a nil: arrays (91), maps (81 01 ...), or
 * alternating; with kind, wrapped as [1, <nest of depth-1>]. */
static uint8_t *nest(size_t depth, int shape, int kind, size_t *len) {
  uint8_t *p = malloc(2 * depth + 4);
  TU_HOT_ASSERT(p != NULL);
  size_t o = 0, d = 0;
  if (kind && depth > 0) {
    p[o++] = 0x92;
    p[o++] = 0x01;
    d = 1;
  }
  for (; d < depth; d++) {
    if (shape == 0 || (shape == 2 && d % 2 == 0)) {
      p[o++] = 0x91;
    } else {
      p[o++] = 0x81;
      p[o++] = 0x01;
    }
  }
  p[o++] = 0xc0;
  *len = o;
  return p;
}

static int check_nest(size_t depth, int shape, int kind, unsigned max_depth,
                      acto__prescan_result *res) {
  size_t len;
  uint8_t *p = nest(depth, shape, kind, &len);
  int rc = acto__prescan_check(p, len, max_depth, kind ? K : 0, res);
  if (rc == 0) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    TU_HOT_ASSERT(acto__prescan_decode(p, len, max_depth, kind ? K : 0, &u, NULL) == 0);
    msgpack_unpacked_destroy(&u);
  }
  free(p);
  return rc;
}

START_TEST(prescan_depth_at_and_below_the_limit_is_accepted) {
  acto__prescan_result res;
  for (int shape = 0; shape < 3; shape++) {
    for (int kind = 0; kind < 2; kind++) {
      ck_assert_int_eq(check_nest(ACTO__PRESCAN_DEPTH_DEFAULT - 1, shape, kind, 0, &res), 0);
      ck_assert_uint_eq(res.depth, ACTO__PRESCAN_DEPTH_DEFAULT - 1);
      ck_assert_int_eq(check_nest(ACTO__PRESCAN_DEPTH_DEFAULT, shape, kind, 0, &res), 0);
      ck_assert_uint_eq(res.depth, ACTO__PRESCAN_DEPTH_DEFAULT);
      ck_assert_int_eq(check_nest(1, shape, kind, 1, &res), 0);
    }
  }
}
END_TEST

START_TEST(prescan_depth_over_the_limit_is_elimit) {
  acto__prescan_result res;
  for (int shape = 0; shape < 3; shape++) {
    for (int kind = 0; kind < 2; kind++) {
      ck_assert_int_eq(check_nest(ACTO__PRESCAN_DEPTH_DEFAULT + 1, shape, kind, 0, &res),
                       ACTO_ELIMIT);
      ck_assert_str_eq(res.reason, R_DEPTH);
      ck_assert_int_eq(check_nest(5, shape, kind, 4, &res), ACTO_ELIMIT);
      ck_assert_str_eq(res.reason, R_DEPTH);
    }
  }
  /* An empty container counts as a level too (msgpack-c counts it). */
  uint8_t p[ACTO__PRESCAN_DEPTH_DEFAULT + 1];
  memset(p, 0x91, ACTO__PRESCAN_DEPTH_DEFAULT);
  p[ACTO__PRESCAN_DEPTH_DEFAULT] = 0x90;
  ck_assert_int_eq(acto__prescan_check(p, sizeof p, 0, 0, &res), ACTO_ELIMIT);
  ck_assert_uint_eq(res.offset, ACTO__PRESCAN_DEPTH_DEFAULT);
  p[ACTO__PRESCAN_DEPTH_DEFAULT] = 0x80;
  ck_assert_int_eq(acto__prescan_check(p, sizeof p, 0, 0, &res), ACTO_ELIMIT);
}
END_TEST

START_TEST(prescan_ten_thousand_nested_arrays_are_refused_at_the_limit) {
  acto__prescan_result res;
  for (int shape = 0; shape < 3; shape++) {
    ck_assert_int_eq(check_nest(10000, shape, 0, 0, &res), ACTO_ELIMIT);
    ck_assert_str_eq(res.reason, R_DEPTH);
    ck_assert_uint_eq(res.depth, ACTO__PRESCAN_DEPTH_DEFAULT);
  }
  /* A million, and a million unterminated: the same answer at once. */
  size_t n = 1000000;
  uint8_t *p = malloc(n);
  ck_assert_ptr_nonnull(p);
  memset(p, 0x91, n);
  ck_assert_int_eq(acto__prescan_check(p, n, ACTO__PRESCAN_DEPTH_MAX, 0, &res), ACTO_ELIMIT);
  ck_assert_uint_eq(res.offset, ACTO__PRESCAN_DEPTH_MAX);
  memset(p, 0xdc, n); /* array16 of 0xdcdc elements, nested */
  ck_assert_int_eq(acto__prescan_check(p, n, 0, 0, &res), ACTO_ELIMIT);
  free(p);
}
END_TEST

/* The largest accepted limit is exactly what msgpack-c handles: 32 levels
 * decode, 33 make msgpack-c itself return NOMEM (PITFALLS: "nesting > 32
 * returns NOMEM"), which the pre-scan never lets it see. */
START_TEST(prescan_max_depth_matches_msgpack_c_stack) {
  acto__prescan_result res;
  ck_assert_int_eq(check_nest(ACTO__PRESCAN_DEPTH_MAX, 0, 0, ACTO__PRESCAN_DEPTH_MAX, &res), 0);
  ck_assert_int_eq(check_nest(ACTO__PRESCAN_DEPTH_MAX, 1, 1, ACTO__PRESCAN_DEPTH_MAX, &res), 0);
  ck_assert_int_eq(check_nest(ACTO__PRESCAN_DEPTH_MAX + 1, 0, 0, ACTO__PRESCAN_DEPTH_MAX, &res),
                   ACTO_ELIMIT);
  for (size_t depth = ACTO__PRESCAN_DEPTH_MAX; depth <= ACTO__PRESCAN_DEPTH_MAX + 1; depth++) {
    size_t len;
    uint8_t *p = nest(depth, 0, 0, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)p, len, &off);
    if (depth == ACTO__PRESCAN_DEPTH_MAX)
      ck_assert_int_eq(r, MSGPACK_UNPACK_SUCCESS);
    else
      ck_assert_int_eq(r, MSGPACK_UNPACK_NOMEM_ERROR);
    msgpack_unpacked_destroy(&u);
    free(p);
  }
}
END_TEST

/* ---- memory stays flat on headers that make msgpack-c reserve gigabytes ---------- */

static long maxrss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

START_TEST(prescan_huge_headers_never_reach_msgpack_and_memory_stays_flat) {
  const struct {
    const uint8_t *b;
    size_t n;
  } huge[] = {
      {B(0xdd, 0x0f, 0xff, 0xff, 0xff)},
      {B(0xdd, FF4)},
      {B(0xdf, FF4)},
      {B(0xdf, 0x0f, 0xff, 0xff, 0xff)},
      {B(0xdb, FF4)},
      {B(0xc6, FF4)},
      {B(0xc9, FF4, 0x01)},
      {B(0xdc, 0xff, 0xff)},
      {B(0xde, 0xff, 0xff)},
      {B(0x92, 0x01, 0xdd, FF4)},
      {B(0x92, 0x01, 0x91, 0x91, 0xdf, FF4)},
      {B(0x9f, 0xdd, FF4, 0xdd, FF4, 0xdd, FF4)},
  };
  long before = maxrss_kb();
  for (int round = 0; round < 1000; round++) {
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
      for (unsigned flags = 0; flags <= K; flags += K) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        acto__prescan_result res;
        int rc = acto__prescan_decode(huge[i].b, huge[i].n, 0, flags, &u, &res);
        TU_HOT_ASSERT(rc == ACTO__EPROTO);
        TU_HOT_ASSERT(res.reason != NULL && strcmp(res.reason, R_MSGPACK) != 0);
        TU_HOT_ASSERT(u.zone == NULL);
        msgpack_unpacked_destroy(&u);
      }
    }
  }
  long grew_kb = maxrss_kb() - before;
  ck_assert_msg(grew_kb < 4096, "peak RSS grew by %ld KiB", grew_kb);
}
END_TEST

/* What msgpack-c may reserve for an accepted payload is bounded by the
 * payload: at most one element per byte, 24 bytes per element. */
START_TEST(prescan_element_count_never_exceeds_the_payload_length) {
  /* A cap-sized payload of the densest kind: [1, nil, nil, ...]. */
  size_t n = ACTO__FRAME_CAP_DEFAULT - 32;
  uint8_t *p = malloc(n);
  ck_assert_ptr_nonnull(p);
  uint32_t count = (uint32_t)(n - 5);
  p[0] = 0xdd;
  p[1] = (uint8_t)(count >> 24);
  p[2] = (uint8_t)(count >> 16);
  p[3] = (uint8_t)(count >> 8);
  p[4] = (uint8_t)count;
  p[5] = 0x01;
  memset(p + 6, 0xc0, n - 6);
  acto__prescan_result res;
  ck_assert_int_eq(acto__prescan_check(p, n, 0, K, &res), 0);
  ck_assert_uint_eq(res.elements, n - 4);
  /* One element more than bytes: refused. */
  p[4] = (uint8_t)(count + 1);
  ck_assert_int_eq(acto__prescan_check(p, n, 0, K, &res), ACTO__EPROTO);
  ck_assert_str_eq(res.reason, R_COUNT);
  free(p);
}
END_TEST

/* ---- truncation of valid payloads at every offset ---------------------------------- */

START_TEST(prescan_every_truncation_and_extension_of_a_valid_payload_is_refused) {
  for (size_t i = 0; i < N_GOOD; i++) {
    const good_case *c = &GOOD[i];
    for (size_t k = 0; k < c->len; k++) {
      acto__prescan_result res;
      int rc = acto__prescan_check(c->bytes, k, 0, c->flags, &res);
      if (rc != ACTO__EPROTO)
        ck_abort_msg("%s cut at %zu: rc %d", c->name, k, rc);
      TU_HOT_ASSERT(strcmp(res.reason, R_EMPTY) == 0 || strcmp(res.reason, R_FIELD) == 0 ||
                 strcmp(res.reason, R_DATA) == 0 || strcmp(res.reason, R_COUNT) == 0 ||
                 strcmp(res.reason, R_MISSING) == 0 || strcmp(res.reason, R_NO_KIND) == 0);
      msgpack_unpacked u;
      msgpack_unpacked_init(&u);
      TU_HOT_ASSERT(acto__prescan_decode(c->bytes, k, 0, c->flags, &u, NULL) == ACTO__EPROTO);
      msgpack_unpacked_destroy(&u);
    }
    uint8_t longer[300];
    ck_assert_uint_lt(c->len, sizeof longer);
    memcpy(longer, c->bytes, c->len);
    longer[c->len] = 0xc0;
    acto__prescan_result res;
    ck_assert_int_eq(acto__prescan_check(longer, c->len + 1, 0, c->flags, &res), ACTO__EPROTO);
    ck_assert_str_eq(res.reason, R_TRAILING);
    ck_assert_uint_eq(res.offset, c->len);
  }
}
END_TEST

/* ---- differential: msgpack-c's packer and unpacker against the pre-scan ------------ */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rnext(rng *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return r->s;
}

static uint64_t rbelow(rng *r, uint64_t n) { return n ? rnext(r) % n : 0; }

static uint64_t test_seed(void) {
  const char *e = getenv("ACTO_TEST_SEED");
  uint64_t seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
  if (seed == 0)
    seed = 1;
  fprintf(stderr, "test_prescan: seed %" PRIu64 " (ACTO_TEST_SEED=%" PRIu64 " repeats it)\n",
          seed, seed);
  return seed;
}

/* A length that exercises every width: mostly short, sometimes past 255
 * and 65535. */
static size_t rlen(rng *r, size_t *budget) {
  size_t n;
  uint64_t c = rbelow(r, 100);
  if (c < 70)
    n = (size_t)rbelow(r, 32);
  else if (c < 95)
    n = 32 + (size_t)rbelow(r, 250);
  else if (c < 99)
    n = 250 + (size_t)rbelow(r, 1000);
  else
    n = 65530 + (size_t)rbelow(r, 20);
  if (n > *budget)
    n = *budget;
  *budget -= n;
  return n;
}

static void gen(msgpack_packer *pk, rng *r, unsigned depth, unsigned max_depth, size_t *budget) {
  static uint8_t bytes[70000];
  unsigned pick = (unsigned)rbelow(r, depth < max_depth && *budget > 64 ? 12 : 9);
  if (*budget > 0)
    (*budget)--;
  switch (pick) {
  case 0:
    msgpack_pack_nil(pk);
    break;
  case 1:
    if (rnext(r) & 1)
      msgpack_pack_true(pk);
    else
      msgpack_pack_false(pk);
    break;
  case 2: /* a non-negative integer of a random width */
    msgpack_pack_uint64(pk, rnext(r) >> rbelow(r, 64));
    break;
  case 3: /* a negative integer of a random width */
    msgpack_pack_int64(pk, -1 - (int64_t)(rnext(r) >> (1 + rbelow(r, 63))));
    break;
  case 4: {
    union {
      uint32_t u;
      float f;
    } v = {(uint32_t)rnext(r)};
    msgpack_pack_float(pk, isnan(v.f) ? 1.5f : v.f);
    break;
  }
  case 5: {
    union {
      uint64_t u;
      double d;
    } v = {rnext(r)};
    msgpack_pack_double(pk, isnan(v.d) ? 2.5 : v.d);
    break;
  }
  case 6:
  case 7:
  case 8: {
    size_t n = rlen(r, budget);
    if (pick == 8 && rbelow(r, 2))
      n = (size_t)1 << rbelow(r, 5); /* fixext sizes */
    for (size_t i = 0; i < n; i++)
      bytes[i] = (uint8_t)rnext(r);
    if (pick == 6) {
      msgpack_pack_str(pk, n);
      msgpack_pack_str_body(pk, bytes, n);
    } else if (pick == 7) {
      msgpack_pack_bin(pk, n);
      msgpack_pack_bin_body(pk, bytes, n);
    } else {
      msgpack_pack_ext(pk, n, (int8_t)rnext(r));
      msgpack_pack_ext_body(pk, bytes, n);
    }
    break;
  }
  case 9:
  case 10: { /* array */
    size_t n = rbelow(r, 10) == 0 ? 16 + (size_t)rbelow(r, 20) : (size_t)rbelow(r, 6);
    if (rbelow(r, 2000) == 0)
      n = 65536 + (size_t)rbelow(r, 10); /* array32 */
    if (n > *budget)
      n = *budget;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
      gen(pk, r, depth + 1, max_depth, budget);
    break;
  }
  default: { /* map */
    size_t n = rbelow(r, 10) == 0 ? 16 + (size_t)rbelow(r, 10) : (size_t)rbelow(r, 5);
    if (rbelow(r, 4000) == 0)
      n = 65536 + (size_t)rbelow(r, 10); /* map32 */
    if (2 * n > *budget)
      n = *budget / 2;
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < 2 * n; i++)
      gen(pk, r, depth + 1, max_depth, budget);
    break;
  }
  }
}

/* A message: [kind, random...], or with kind == 0 any object. */
static void gen_message(msgpack_sbuffer *sb, rng *r, int with_kind, unsigned max_depth) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  size_t budget = 200000;
  if (with_kind) {
    size_t n = (size_t)rbelow(r, 5);
    msgpack_pack_array(&pk, n + 1);
    uint64_t kind = rnext(r) >> rbelow(r, 64);
    msgpack_pack_uint64(&pk, kind ? kind : 1);
    for (size_t i = 0; i < n; i++)
      gen(&pk, r, 1, max_depth, &budget);
  } else {
    gen(&pk, r, 0, max_depth, &budget);
  }
}

typedef struct diff_stats {
  uint64_t accepted, rejected, msgpack_checked;
} diff_stats;

/* The differential rule on one input: the pre-scan (no kind rule, limit
 * 32) accepts exactly what msgpack-c decodes with SUCCESS and off == len.
 * msgpack-c is only run on a rejected input when it cannot reserve much. */
static void differential(const uint8_t *p, size_t n, uint64_t seed, diff_stats *st) {
  acto__prescan_result res;
  int rc = acto__prescan_check(p, n, ACTO__PRESCAN_DEPTH_MAX, 0, &res);
  int run_msgpack = rc == 0 || worst_reserve(p, n) < ((uint64_t)16 << 20);
  if (rc == 0)
    st->accepted++;
  else
    st->rejected++;
  if (run_msgpack && n > 0) {
    st->msgpack_checked++;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)p, n, &off);
    int full = r == MSGPACK_UNPACK_SUCCESS && off == n;
    msgpack_unpacked_destroy(&u);
    if (full != (rc == 0))
      ck_abort_msg("seed %" PRIu64 ": pre-scan rc %d (%s) but msgpack-c returned %d, off %zu "
                   "of %zu: %s",
                   seed, rc, res.detail, (int)r, off, n, hex(p, n));
  }
  /* The production path on the same bytes: never crashes, and an accepted
   * message has a positive kind. */
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (acto__prescan_decode(p, n, 0, K, &u, &res) == 0)
    TU_HOT_ASSERT(res.kind > 0 && u.data.type == MSGPACK_OBJECT_ARRAY);
  msgpack_unpacked_destroy(&u);
}

static size_t mutate(rng *r, const uint8_t *in, size_t n, uint8_t *out, size_t size) {
  static const uint8_t interesting[] = {0xc1, 0xdd, 0xdf, 0xdb, 0xc6, 0xc9, 0xdc, 0xde, 0xda,
                                        0xc5, 0xc8, 0xd9, 0xc4, 0xc7, 0x9f, 0x8f, 0xbf, 0xd8,
                                        0xff, 0x00, 0x7f, 0x80, 0x90, 0xa0, 0xc0, 0xcf, 0xcb};
  if (n > size)
    n = size;
  memcpy(out, in, n);
  unsigned ops = 1 + (unsigned)rbelow(r, 4);
  for (unsigned k = 0; k < ops; k++) {
    size_t at = n ? (size_t)rbelow(r, n) : 0;
    switch (rbelow(r, 8)) {
    case 0: /* flip a bit */
      if (n)
        out[at] ^= (uint8_t)(1u << rbelow(r, 8));
      break;
    case 1: /* an interesting byte */
      if (n)
        out[at] = interesting[rbelow(r, sizeof interesting)];
      break;
    case 2: /* insert a byte */
      if (n < size) {
        memmove(out + at + 1, out + at, n - at);
        out[at] = rbelow(r, 2) ? interesting[rbelow(r, sizeof interesting)] : (uint8_t)rnext(r);
        n++;
      }
      break;
    case 3: /* delete a byte */
      if (n) {
        memmove(out + at, out + at + 1, n - at - 1);
        n--;
      }
      break;
    case 4: /* truncate */
      n = at;
      break;
    case 5: /* append */
      if (n < size)
        out[n++] = (uint8_t)rnext(r);
      break;
    case 6: /* a 4-byte field of all ones or zeros */
      if (n >= 4) {
        at = (size_t)rbelow(r, n - 3);
        memset(out + at, rbelow(r, 2) ? 0xff : 0x00, 4);
      }
      break;
    default: /* a random byte */
      if (n)
        out[at] = (uint8_t)rnext(r);
      break;
    }
  }
  return n;
}

START_TEST(prescan_random_packed_objects_pass_and_decode_to_the_same_object) {
  uint64_t seed = test_seed();
  rng r = {seed};
  const int rounds = 20000 / SCALE_DIV;
  for (int i = 0; i < rounds; i++) {
    int with_kind = i % 2;
    unsigned depth = 1 + (unsigned)rbelow(&r, ACTO__PRESCAN_DEPTH_MAX);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    gen_message(&sb, &r, with_kind, depth);
    const uint8_t *p = (const uint8_t *)sb.data;
    acto__prescan_result res;
    int rc = acto__prescan_check(p, sb.size, ACTO__PRESCAN_DEPTH_MAX, with_kind ? K : 0, &res);
    if (rc != 0)
      ck_abort_msg("seed %" PRIu64 " round %d: valid object refused: %s: %s", seed, i,
                   res.detail, hex(p, sb.size));
    TU_HOT_ASSERT(res.depth <= depth && res.elements <= sb.size);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    rc = acto__prescan_decode(p, sb.size, ACTO__PRESCAN_DEPTH_MAX, with_kind ? K : 0, &u, &res);
    TU_HOT_ASSERT(rc == 0);
    if (with_kind)
      TU_HOT_ASSERT(u.data.via.array.ptr[0].via.u64 == res.kind);
    if (!repacks_to(&u.data, p, sb.size))
      ck_abort_msg("seed %" PRIu64 " round %d: decoded object re-packs differently: %s", seed,
                   i, hex(p, sb.size));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
  }
}
END_TEST

START_TEST(prescan_random_mutations_agree_with_msgpack_c) {
  uint64_t seed = test_seed();
  rng r = {seed};
  diff_stats st = {0, 0, 0};
  static uint8_t m[1024];
  const int rounds = 20000 / SCALE_DIV;
  for (int i = 0; i < rounds; i++) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    gen_message(&sb, &r, i % 2, 1 + (unsigned)rbelow(&r, 6));
    if (sb.size <= 512) {
      for (int k = 0; k < 16; k++) {
        size_t n = mutate(&r, (const uint8_t *)sb.data, sb.size, m, sizeof m);
        differential(m, n, seed, &st);
      }
    }
    msgpack_sbuffer_destroy(&sb);
  }
  /* The catalogue and the edge cases, mutated too. */
  for (size_t i = 0; i < N_BAD + N_GOOD; i++) {
    const uint8_t *b = i < N_BAD ? BAD[i].bytes : GOOD[i - N_BAD].bytes;
    size_t n = i < N_BAD ? BAD[i].len : GOOD[i - N_BAD].len;
    differential(b, n, seed, &st);
    for (int k = 0; k < 200 / SCALE_DIV; k++) {
      size_t mn = mutate(&r, b, n, m, sizeof m);
      differential(m, mn, seed, &st);
    }
  }
  fprintf(stderr,
          "test_prescan: mutations: %" PRIu64 " accepted, %" PRIu64 " rejected, %" PRIu64
          " cross-checked with msgpack-c\n",
          st.accepted, st.rejected, st.msgpack_checked);
  /* The mutations must exercise both sides. */
  ck_assert_uint_gt(st.accepted, 100);
  ck_assert_uint_gt(st.rejected, 100);
}
END_TEST

/* ---- frames and payloads together ------------------------------------------------------- */

/* What the node layer does with a read buffer: take every frame, pre-scan
 * and decode each; the first bad one closes the connection. */
START_TEST(prescan_frames_from_a_stream_decode_until_the_first_bad_payload) {
  static const uint8_t stream[] = {
      0, 0, 0, 5, 0x92, 0x01, 0xa2, 0x68, 0x69,       /* [1, "hi"] */
      0, 0, 0, 2, 0x91, 0x7f,                         /* [127] */
      0, 0, 0, 5, 0xdd, 0x0f, 0xff, 0xff, 0xff,       /* the 6.4 GB header */
      0, 0, 0, 2, 0x91, 0x02,                         /* never reached */
  };
  size_t off = 0;
  int decoded = 0;
  const char *closed = NULL;
  uint64_t kinds[4];
  while (closed == NULL) {
    acto__frame f;
    int rc = acto__frame_read(stream + off, sizeof stream - off, ACTO__FRAME_CAP_PREAUTH, 0, &f);
    if (rc == ACTO__FRAME_NEED_MORE)
      break;
    ck_assert_int_eq(rc, ACTO__FRAME_READY);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    acto__prescan_result res;
    if (acto__prescan_decode(stream + off + f.payload_off, f.payload_len, 0, K, &u, &res) == 0)
      kinds[decoded++] = res.kind;
    else
      closed = res.reason;
    msgpack_unpacked_destroy(&u);
    off += f.consumed;
  }
  ck_assert_int_eq(decoded, 2);
  ck_assert(kinds[0] == 1 && kinds[1] == 127);
  ck_assert_ptr_nonnull(closed);
  ck_assert_str_eq(closed, R_COUNT);
}
END_TEST

static Suite *prescan_suite(void) {
  Suite *s = suite_create("prescan");
  TCase *tb = tcase_create("catalogue");
  tcase_add_loop_test(tb, prescan_catalogue_case_is_rejected_with_its_reason, 0, (int)N_BAD);
  tu_add_tests(tb, prescan_detail_names_the_numbers,
               prescan_every_truncation_and_extension_of_a_valid_payload_is_refused,
               prescan_bad_arguments_are_einval);
  suite_add_tcase(s, tb);
  TCase *tg = tcase_create("valid");
  tcase_add_loop_test(tg, prescan_valid_edge_case_is_accepted_and_decoded, 0, (int)N_GOOD);
  tu_add_tests(tg, prescan_decoded_strings_point_into_the_payload,
               prescan_decode_releases_what_out_held_before,
               prescan_frames_from_a_stream_decode_until_the_first_bad_payload);
  suite_add_tcase(s, tg);
  TCase *td = tcase_create("limits");
  tu_add_tests(td, prescan_depth_at_and_below_the_limit_is_accepted,
               prescan_depth_over_the_limit_is_elimit,
               prescan_ten_thousand_nested_arrays_are_refused_at_the_limit,
               prescan_max_depth_matches_msgpack_c_stack,
               prescan_huge_headers_never_reach_msgpack_and_memory_stays_flat,
               prescan_element_count_never_exceeds_the_payload_length);
  suite_add_tcase(s, td);
  TCase *tr = tu_tcase("differential", 300);
  tu_add_tests(tr, prescan_random_packed_objects_pass_and_decode_to_the_same_object,
               prescan_random_mutations_agree_with_msgpack_c);
  suite_add_tcase(s, tr);
  return s;
}

int main(void) { return tu_run(prescan_suite()); }
