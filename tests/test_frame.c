/* test_frame.c - the frame reader and writer (transport/frame.c): the
 * length rules decided on the 4 header bytes, the payload/tag split, every
 * truncation point, and fragmented delivery (byte by byte, many frames per
 * read, frames split across reads).  The payload's msgpack structure is
 * test_prescan.c's business.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/frame.h"
#include "testutil.h"

/* [1, "hi"] in msgpack: fixarray(2), fixint 1, fixstr(2) 'h' 'i'. */
static const uint8_t PAYLOAD_1_HI[] = {0x92, 0x01, 0xa2, 0x68, 0x69};

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A tag with recognisable bytes (the frame layer never checks it). */
static void fill_tag(uint8_t *tag) {
  for (unsigned i = 0; i < ACTO__FRAME_TAG_LEN; i++)
    tag[i] = (uint8_t)(0xa0 + i);
}

/* ---- complete frames ----------------------------------------------------- */

START_TEST(frame_untagged_frame_is_ready_with_payload_at_offset_4) {
  uint8_t buf[16];
  int n = acto__frame_build(buf, sizeof buf, PAYLOAD_1_HI, sizeof PAYLOAD_1_HI, NULL, 0,
                            ACTO__FRAME_CAP_PREAUTH);
  ck_assert_int_eq(n, 9);
  static const uint8_t want[] = {0x00, 0x00, 0x00, 0x05, 0x92, 0x01, 0xa2, 0x68, 0x69};
  ck_assert_mem_eq(buf, want, sizeof want);
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, (size_t)n, ACTO__FRAME_CAP_PREAUTH, 0, &f),
                   ACTO__FRAME_READY);
  ck_assert_uint_eq(f.body_len, 5);
  ck_assert_uint_eq(f.payload_off, 4);
  ck_assert_uint_eq(f.payload_len, 5);
  ck_assert_uint_eq(f.tag_off, 9);
  ck_assert_uint_eq(f.tag_len, 0);
  ck_assert_uint_eq(f.consumed, 9);
  ck_assert_ptr_null(f.reason);
  ck_assert_mem_eq(buf + f.payload_off, PAYLOAD_1_HI, f.payload_len);
}
END_TEST

START_TEST(frame_tagged_frame_hands_back_payload_and_tag_separately) {
  uint8_t tag[ACTO__FRAME_TAG_LEN], buf[64];
  fill_tag(tag);
  int n = acto__frame_build(buf, sizeof buf, PAYLOAD_1_HI, sizeof PAYLOAD_1_HI, tag,
                            sizeof tag, ACTO__FRAME_CAP_DEFAULT);
  ck_assert_int_eq(n, 4 + 5 + 32);
  ck_assert_mem_eq(buf, "\x00\x00\x00\x25", 4); /* 37 = 5 + 32 */
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, (size_t)n, ACTO__FRAME_CAP_DEFAULT, 32, &f),
                   ACTO__FRAME_READY);
  ck_assert_uint_eq(f.payload_off, 4);
  ck_assert_uint_eq(f.payload_len, 5);
  ck_assert_uint_eq(f.tag_off, 9);
  ck_assert_uint_eq(f.tag_len, 32);
  ck_assert_uint_eq(f.consumed, 41);
  ck_assert_mem_eq(buf + f.payload_off, PAYLOAD_1_HI, 5);
  ck_assert_mem_eq(buf + f.tag_off, tag, 32);
  /* The same bytes read without a tag are a 37-byte payload: the layer
   * trusts the caller's tag_len, it does not guess. */
  ck_assert_int_eq(acto__frame_read(buf, (size_t)n, ACTO__FRAME_CAP_DEFAULT, 0, &f),
                   ACTO__FRAME_READY);
  ck_assert_uint_eq(f.payload_len, 37);
}
END_TEST

START_TEST(frame_extra_bytes_after_a_frame_are_left_for_the_next_call) {
  uint8_t buf[32];
  int n = acto__frame_build(buf, sizeof buf, PAYLOAD_1_HI, 5, NULL, 0, 64);
  ck_assert_int_eq(n, 9);
  buf[9] = 0x00; /* the first byte of the next header */
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, 10, 64, 0, &f), ACTO__FRAME_READY);
  ck_assert_uint_eq(f.consumed, 9);
  ck_assert_int_eq(acto__frame_read(buf + 9, 1, 64, 0, &f), ACTO__FRAME_NEED_MORE);
  ck_assert_uint_eq(f.need, 4);
}
END_TEST

/* ---- truncation ------------------------------------------------------------ */

static void truncation_at_every_offset(size_t payload_len, size_t tag_len, uint32_t cap) {
  uint8_t *payload = malloc(payload_len), *buf = malloc(payload_len + tag_len + 4);
  uint8_t tag[ACTO__FRAME_TAG_LEN];
  fill_tag(tag);
  ck_assert_ptr_nonnull(payload);
  ck_assert_ptr_nonnull(buf);
  for (size_t i = 0; i < payload_len; i++)
    payload[i] = (uint8_t)(i * 7);
  int n = acto__frame_build(buf, payload_len + tag_len + 4, payload, payload_len,
                            tag_len ? tag : NULL, tag_len, cap);
  ck_assert_int_eq(n, (int)(payload_len + tag_len + 4));
  for (size_t k = 0; k < (size_t)n; k++) {
    acto__frame f;
    TU_HOT_ASSERT(acto__frame_read(buf, k, cap, tag_len, &f) == ACTO__FRAME_NEED_MORE);
    TU_HOT_ASSERT(f.need == (k < 4 ? 4 : (size_t)n));
    TU_HOT_ASSERT(f.need > k);
    TU_HOT_ASSERT(f.need <= (size_t)cap + 4);
    TU_HOT_ASSERT(f.reason == NULL && f.consumed == 0);
  }
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, (size_t)n, cap, tag_len, &f), ACTO__FRAME_READY);
  ck_assert_uint_eq(f.consumed, (size_t)n);
  ck_assert_mem_eq(buf + f.payload_off, payload, payload_len);
  free(payload);
  free(buf);
}

START_TEST(frame_truncated_at_every_offset_of_header_and_body_needs_more) {
  truncation_at_every_offset(5, 0, ACTO__FRAME_CAP_PREAUTH);
  truncation_at_every_offset(1, 0, 1);
  truncation_at_every_offset(5, 32, ACTO__FRAME_CAP_DEFAULT);
  truncation_at_every_offset(1, 32, 33);
  truncation_at_every_offset(ACTO__FRAME_CAP_PREAUTH, 0, ACTO__FRAME_CAP_PREAUTH);
  truncation_at_every_offset(70000, 32, ACTO__FRAME_CAP_DEFAULT);
}
END_TEST

/* ---- the length rules, decided on the header alone ------------------------- */

typedef struct bad_frame {
  const char *name;
  uint32_t length; /* the declared body length */
  uint32_t cap;
  size_t tag_len;
  int rc;
  const char *reason;
} bad_frame;

#define R_ZERO "frame length is zero"
#define R_CAP "frame length exceeds the connection's cap"
#define R_SHORT "frame body is shorter than its MAC tag"
#define R_NOPAY "frame body holds a MAC tag but no payload"

static const bad_frame BAD_FRAMES[] = {
    {"zero length, untagged", 0, ACTO__FRAME_CAP_DEFAULT, 0, ACTO__EPROTO, R_ZERO},
    {"zero length, tagged", 0, ACTO__FRAME_CAP_DEFAULT, 32, ACTO__EPROTO, R_ZERO},
    {"zero length, pre-auth cap", 0, ACTO__FRAME_CAP_PREAUTH, 0, ACTO__EPROTO, R_ZERO},
    {"cap + 1 (default cap)", ACTO__FRAME_CAP_DEFAULT + 1, ACTO__FRAME_CAP_DEFAULT, 32,
     ACTO_ELIMIT, R_CAP},
    {"cap + 1 (pre-auth cap)", ACTO__FRAME_CAP_PREAUTH + 1, ACTO__FRAME_CAP_PREAUTH, 0,
     ACTO_ELIMIT, R_CAP},
    {"2^32-1", UINT32_MAX, ACTO__FRAME_CAP_DEFAULT, 32, ACTO_ELIMIT, R_CAP},
    {"2^32-1 against the largest cap", UINT32_MAX, ACTO__FRAME_CAP_MAX, 0, ACTO_ELIMIT, R_CAP},
    {"2^31", 0x80000000u, ACTO__FRAME_CAP_DEFAULT, 0, ACTO_ELIMIT, R_CAP},
    {"16 MiB", 16u << 20, ACTO__FRAME_CAP_DEFAULT, 32, ACTO_ELIMIT, R_CAP},
    {"64 KiB before authentication", 65536, ACTO__FRAME_CAP_PREAUTH, 0, ACTO_ELIMIT, R_CAP},
    {"an authenticated-size frame before authentication", 600, ACTO__FRAME_CAP_PREAUTH, 0,
     ACTO_ELIMIT, R_CAP},
    {"2 bytes over a tiny cap", 3, 1, 0, ACTO_ELIMIT, R_CAP},
    {"body of 1 byte, 32-byte tag expected", 1, ACTO__FRAME_CAP_DEFAULT, 32, ACTO__EPROTO,
     R_SHORT},
    {"body of 31 bytes, 32-byte tag expected", 31, ACTO__FRAME_CAP_DEFAULT, 32, ACTO__EPROTO,
     R_SHORT},
    {"body of exactly the tag: empty payload", 32, ACTO__FRAME_CAP_DEFAULT, 32, ACTO__EPROTO,
     R_NOPAY},
};
#define N_BAD_FRAMES (sizeof BAD_FRAMES / sizeof BAD_FRAMES[0])

/* Each bad length is refused with the 4 header bytes alone, and again with
 * body bytes behind it: the verdict never waits for, or depends on, the
 * body. */
START_TEST(frame_catalogue_of_bad_lengths_rejected_from_the_header_alone) {
  const bad_frame *c = &BAD_FRAMES[_i];
  uint8_t buf[4 + 64];
  memset(buf, 0x5a, sizeof buf);
  put_be32(buf, c->length);
  for (size_t len = 4; len <= sizeof buf; len += 60) {
    acto__frame f;
    int rc = acto__frame_read(buf, len, c->cap, c->tag_len, &f);
    ck_assert_msg(rc == c->rc, "%s: rc %d, want %d", c->name, rc, c->rc);
    ck_assert_ptr_nonnull(f.reason);
    ck_assert_msg(strcmp(f.reason, c->reason) == 0, "%s: reason \"%s\", want \"%s\"", c->name,
                  f.reason, c->reason);
    ck_assert_uint_eq(f.body_len, c->length);
    ck_assert_uint_eq(f.consumed, 0);
  }
}
END_TEST

START_TEST(frame_length_equal_to_cap_is_accepted_and_waited_for) {
  const uint32_t caps[] = {1, 33, ACTO__FRAME_CAP_PREAUTH, ACTO__FRAME_CAP_DEFAULT};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    uint32_t cap = caps[i];
    size_t tag = cap > 32 ? 32 : 0;
    uint8_t hdr[4];
    put_be32(hdr, cap);
    acto__frame f;
    ck_assert_int_eq(acto__frame_read(hdr, 4, cap, tag, &f), ACTO__FRAME_NEED_MORE);
    ck_assert_uint_eq(f.need, (size_t)cap + 4);
  }
  /* And a whole cap-sized frame is ready. */
  uint8_t *buf = calloc(1, ACTO__FRAME_CAP_DEFAULT + 4);
  ck_assert_ptr_nonnull(buf);
  put_be32(buf, ACTO__FRAME_CAP_DEFAULT);
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, ACTO__FRAME_CAP_DEFAULT + 4, ACTO__FRAME_CAP_DEFAULT,
                                    32, &f),
                   ACTO__FRAME_READY);
  ck_assert_uint_eq(f.payload_len, ACTO__FRAME_CAP_DEFAULT - 32);
  ck_assert_uint_eq(f.consumed, ACTO__FRAME_CAP_DEFAULT + 4);
  free(buf);
}
END_TEST

START_TEST(frame_smallest_tagged_body_is_one_payload_byte_and_the_tag) {
  uint8_t buf[4 + 33] = {0, 0, 0, 33, 0xc0};
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, sizeof buf, 64, 32, &f), ACTO__FRAME_READY);
  ck_assert_uint_eq(f.payload_len, 1);
  ck_assert_uint_eq(f.tag_off, 5);
}
END_TEST

START_TEST(frame_need_never_exceeds_cap_plus_header_for_any_header) {
  /* Every header a peer could send, sampled densely around the cap. */
  const uint32_t cap = ACTO__FRAME_CAP_PREAUTH;
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (uint32_t i = 0; i < 200000; i++) {
    uint32_t len;
    if (i < 2048)
      len = i;
    else {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      len = (uint32_t)x;
    }
    uint8_t hdr[4];
    put_be32(hdr, len);
    for (size_t tag = 0; tag <= 32; tag += 32) {
      acto__frame f;
      int rc = acto__frame_read(hdr, 4, cap, tag, &f);
      if (rc == ACTO__FRAME_NEED_MORE)
        TU_HOT_ASSERT(f.need == (size_t)len + 4 && f.need <= (size_t)cap + 4 && len > tag);
      else
        TU_HOT_ASSERT(rc < 0 && f.reason != NULL && (len == 0 || len > cap || len <= tag));
    }
  }
}
END_TEST

START_TEST(frame_bad_arguments_are_einval_not_a_crash) {
  uint8_t buf[8] = {0, 0, 0, 1, 0xc0};
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, 5, 64, 0, NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_read(NULL, 5, 64, 0, &f), ACTO_EINVAL);
  ck_assert_ptr_nonnull(f.reason);
  ck_assert_int_eq(acto__frame_read(buf, 5, 0, 0, &f), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_read(buf, 5, ACTO__FRAME_CAP_MAX + 1, 0, &f), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_read(buf, 5, 64, 16, &f), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_read(NULL, 0, 64, 0, &f), ACTO__FRAME_NEED_MORE);
  ck_assert_uint_eq(f.need, 4);
}
END_TEST

/* ---- the writer -------------------------------------------------------------- */

START_TEST(frame_header_write_refuses_what_the_reader_would_refuse) {
  uint8_t hdr[4] = {9, 9, 9, 9};
  ck_assert_int_eq(acto__frame_header_write(hdr, 5, 0, 64), 4);
  ck_assert_mem_eq(hdr, "\x00\x00\x00\x05", 4);
  ck_assert_int_eq(acto__frame_header_write(hdr, 5, 32, 64), 4);
  ck_assert_mem_eq(hdr, "\x00\x00\x00\x25", 4);
  ck_assert_int_eq(acto__frame_header_write(hdr, 0x01020304, 0, ACTO__FRAME_CAP_MAX), 4);
  ck_assert_mem_eq(hdr, "\x01\x02\x03\x04", 4);

  memset(hdr, 9, 4);
  ck_assert_int_eq(acto__frame_header_write(hdr, 0, 0, 64), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_header_write(hdr, 0, 32, 64), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_header_write(hdr, 5, 7, 64), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_header_write(hdr, 5, 0, 0), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_header_write(NULL, 5, 0, 64), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_header_write(hdr, 65, 0, 64), ACTO_ELIMIT);
  ck_assert_int_eq(acto__frame_header_write(hdr, 33, 32, 64), ACTO_ELIMIT);
  ck_assert_int_eq(acto__frame_header_write(hdr, SIZE_MAX, 32, 64), ACTO_ELIMIT);
  ck_assert_int_eq(acto__frame_header_write(hdr, (size_t)1 << 32, 0, ACTO__FRAME_CAP_MAX),
                   ACTO_ELIMIT);
  ck_assert_mem_eq(hdr, "\x09\x09\x09\x09", 4); /* untouched on failure */
  ck_assert_int_eq(acto__frame_header_write(hdr, 32, 32, 64), 4);
}
END_TEST

START_TEST(frame_build_checks_its_output_size) {
  uint8_t buf[9], tag[32];
  fill_tag(tag);
  ck_assert_int_eq(acto__frame_build(buf, 8, PAYLOAD_1_HI, 5, NULL, 0, 64), ACTO_ELIMIT);
  ck_assert_int_eq(acto__frame_build(buf, 9, PAYLOAD_1_HI, 5, tag, 32, 64), ACTO_ELIMIT);
  ck_assert_int_eq(acto__frame_build(buf, 9, PAYLOAD_1_HI, 5, NULL, 32, 64), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_build(buf, 9, NULL, 5, NULL, 0, 64), ACTO_EINVAL);
  ck_assert_int_eq(acto__frame_build(buf, 9, PAYLOAD_1_HI, 5, NULL, 0, 4), ACTO_ELIMIT);
  ck_assert_int_eq(acto__frame_build(buf, 9, PAYLOAD_1_HI, 5, NULL, 0, 5), 9);
}
END_TEST

/* ---- fragmented delivery ----------------------------------------------------- */

/* A connection's input side: bytes arrive in chunks, the reader takes
 * every complete frame, the remainder moves to the front.  The buffer
 * never needs more than cap + 4 bytes plus one chunk. */
typedef struct conn_in {
  uint8_t *buf;
  size_t len, size;
  uint32_t cap;
  size_t tag_len;
  size_t frames;
  size_t peak;
  /* Expected payloads, in order: frame i has length lens[i] and bytes
   * (i + j) & 0xff. */
  const size_t *lens;
} conn_in;

static void conn_feed(conn_in *c, const uint8_t *data, size_t n) {
  TU_HOT_ASSERT(c->len + n <= c->size);
  memcpy(c->buf + c->len, data, n);
  c->len += n;
  if (c->len > c->peak)
    c->peak = c->len;
  size_t off = 0;
  for (;;) {
    acto__frame f;
    int rc = acto__frame_read(c->buf + off, c->len - off, c->cap, c->tag_len, &f);
    TU_HOT_ASSERT(rc >= 0);
    if (rc == ACTO__FRAME_NEED_MORE) {
      TU_HOT_ASSERT(f.need > c->len - off && f.need <= (size_t)c->cap + 4);
      break;
    }
    size_t i = c->frames++;
    TU_HOT_ASSERT(f.payload_len == c->lens[i]);
    const uint8_t *pl = c->buf + off + f.payload_off;
    for (size_t j = 0; j < f.payload_len; j++)
      TU_HOT_ASSERT(pl[j] == (uint8_t)(i + j));
    const uint8_t *tg = c->buf + off + f.tag_off;
    for (size_t j = 0; j < f.tag_len; j++)
      TU_HOT_ASSERT(tg[j] == (uint8_t)(0xa0 + j));
    off += f.consumed;
  }
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
}

/* nframes frames of the given lengths, serialised back to back. */
static uint8_t *make_stream(const size_t *lens, size_t nframes, size_t tag_len, uint32_t cap,
                            size_t *out_len) {
  size_t total = 0;
  for (size_t i = 0; i < nframes; i++)
    total += 4 + lens[i] + tag_len;
  uint8_t *s = malloc(total), *pl = malloc(cap), tag[32];
  TU_HOT_ASSERT(s != NULL && pl != NULL);
  fill_tag(tag);
  size_t at = 0;
  for (size_t i = 0; i < nframes; i++) {
    for (size_t j = 0; j < lens[i]; j++)
      pl[j] = (uint8_t)(i + j);
    int n = acto__frame_build(s + at, total - at, pl, lens[i], tag_len ? tag : NULL, tag_len,
                              cap);
    TU_HOT_ASSERT(n == (int)(4 + lens[i] + tag_len));
    at += (size_t)n;
  }
  free(pl);
  *out_len = total;
  return s;
}

static void deliver(size_t nframes, size_t tag_len, uint32_t cap, unsigned chunk_mode,
                    uint64_t seed) {
  size_t *lens = malloc(nframes * sizeof *lens);
  ck_assert_ptr_nonnull(lens);
  uint64_t x = seed | 1;
  size_t max_payload = cap - tag_len;
  for (size_t i = 0; i < nframes; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    /* Mostly small, some at the cap exactly. */
    lens[i] = (x % 8 == 0) ? max_payload : 1 + (size_t)(x >> 8) % (max_payload < 300 ? max_payload : 300);
  }
  size_t slen;
  uint8_t *stream = make_stream(lens, nframes, tag_len, cap, &slen);
  const size_t max_chunk = 4096;
  conn_in c = {.size = (size_t)cap + 4 + max_chunk, .cap = cap, .tag_len = tag_len,
               .lens = lens};
  c.buf = malloc(c.size);
  ck_assert_ptr_nonnull(c.buf);
  for (size_t at = 0; at < slen;) {
    size_t chunk;
    if (chunk_mode == 0)
      chunk = 1; /* byte by byte */
    else if (chunk_mode == 1)
      chunk = slen; /* everything in one read */
    else {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      chunk = 1 + (size_t)(x % max_chunk);
    }
    if (chunk > slen - at)
      chunk = slen - at;
    if (chunk > c.size - c.len)
      chunk = c.size - c.len; /* a bounded input buffer: TCP waits */
    conn_feed(&c, stream + at, chunk);
    at += chunk;
  }
  ck_assert_uint_eq(c.frames, nframes);
  ck_assert_uint_eq(c.len, 0);
  ck_assert_uint_le(c.peak, c.size);
  free(c.buf);
  free(stream);
  free(lens);
}

START_TEST(frame_byte_by_byte_delivery_yields_every_frame_once) {
  deliver(200, 0, ACTO__FRAME_CAP_PREAUTH, 0, 1);
  deliver(200, 32, 256, 0, 2);
}
END_TEST

START_TEST(frame_several_frames_in_one_buffer_are_all_taken) {
  /* One read holding many frames: chunk_mode 1 (bounded by the buffer). */
  deliver(30, 0, 128, 1, 3);
  deliver(30, 32, 128, 1, 4);
  /* A hand-made buffer of three tiny frames. */
  const uint8_t three[] = {0, 0, 0, 1, 0xc0, 0, 0, 0, 2, 0x91, 0x01, 0, 0, 0, 1, 0x07};
  size_t off = 0, sizes[3];
  for (int i = 0; i < 3; i++) {
    acto__frame f;
    ck_assert_int_eq(acto__frame_read(three + off, sizeof three - off, 16, 0, &f),
                     ACTO__FRAME_READY);
    sizes[i] = f.payload_len;
    off += f.consumed;
  }
  ck_assert_uint_eq(off, sizeof three);
  ck_assert_uint_eq(sizes[0], 1);
  ck_assert_uint_eq(sizes[1], 2);
  ck_assert_uint_eq(sizes[2], 1);
}
END_TEST

START_TEST(frame_frames_split_across_reads_at_random_points_are_reassembled) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    deliver(300, seed % 2 ? 32 : 0, seed % 3 ? 4096 : ACTO__FRAME_CAP_PREAUTH, 2, seed * 77);
  }
}
END_TEST

START_TEST(frame_a_bad_header_behind_good_frames_is_found_at_its_offset) {
  uint8_t buf[64];
  int a = acto__frame_build(buf, sizeof buf, PAYLOAD_1_HI, 5, NULL, 0, 64);
  int b = acto__frame_build(buf + a, sizeof buf - (size_t)a, PAYLOAD_1_HI, 5, NULL, 0, 64);
  size_t at = (size_t)a + (size_t)b;
  put_be32(buf + at, 65); /* over the cap of 64 */
  acto__frame f;
  ck_assert_int_eq(acto__frame_read(buf, at + 4, 64, 0, &f), ACTO__FRAME_READY);
  ck_assert_int_eq(acto__frame_read(buf + f.consumed, at + 4 - f.consumed, 64, 0, &f),
                   ACTO__FRAME_READY);
  ck_assert_int_eq(acto__frame_read(buf + at, 4, 64, 0, &f), ACTO_ELIMIT);
  ck_assert_str_eq(f.reason, R_CAP);
}
END_TEST

static Suite *frame_suite(void) {
  Suite *s = suite_create("frame");
  TCase *tr = tcase_create("reader");
  tu_add_tests(tr, frame_untagged_frame_is_ready_with_payload_at_offset_4,
               frame_tagged_frame_hands_back_payload_and_tag_separately,
               frame_extra_bytes_after_a_frame_are_left_for_the_next_call,
               frame_truncated_at_every_offset_of_header_and_body_needs_more);
  tcase_add_loop_test(tr, frame_catalogue_of_bad_lengths_rejected_from_the_header_alone, 0,
                      (int)N_BAD_FRAMES);
  tu_add_tests(tr, frame_length_equal_to_cap_is_accepted_and_waited_for,
               frame_smallest_tagged_body_is_one_payload_byte_and_the_tag,
               frame_need_never_exceeds_cap_plus_header_for_any_header,
               frame_bad_arguments_are_einval_not_a_crash,
               frame_a_bad_header_behind_good_frames_is_found_at_its_offset);
  suite_add_tcase(s, tr);
  TCase *tw = tcase_create("writer");
  tu_add_tests(tw, frame_header_write_refuses_what_the_reader_would_refuse,
               frame_build_checks_its_output_size);
  suite_add_tcase(s, tw);
  TCase *td = tu_tcase("delivery", 60);
  tu_add_tests(td, frame_byte_by_byte_delivery_yields_every_frame_once,
               frame_several_frames_in_one_buffer_are_all_taken,
               frame_frames_split_across_reads_at_random_points_are_reassembled);
  suite_add_tcase(s, td);
  return s;
}

int main(void) { return tu_run(frame_suite()); }
