/* fuzz_frame.c - libFuzzer target: a connection's input path, from raw
 * bytes to decoded messages (transport/frame.c, codec/prescan.c).
 *
 * Input layout:
 *   byte 0   configuration: bit 0 set = authenticated (32-byte tags);
 *            bits 1-3 pick the body cap from CAPS; bits 4-7 are the
 *            nesting limit of the production decode (0 = the default).
 *   byte 1   fragmentation: 0 delivers the stream in one read, n > 0 in
 *            reads of 1..n bytes at pseudo-random points seeded by n.
 *   rest     the byte stream a peer sends.
 *
 * Each read is appended to a bounded input buffer (cap + 4 plus one read,
 * as a libevent watermark would bound it); every complete frame is taken
 * and its payload decoded with acto__prescan_decode (kind rule on).  A
 * frame error ends the input (the "connection" is closed: a reader cannot
 * resynchronise); a bad payload does not, so that one input reaches more
 * frames (the node layer closes the connection there too).  Besides "no
 * crash, no leak, no unbounded allocation" the target checks:
 *   - the reader's invariants (offsets, consumed, need <= cap + 4);
 *   - the differential rule: the pre-scan without the kind rule at depth 32
 *     accepts a payload exactly when msgpack_unpack_next decodes all of it
 *     (msgpack-c only runs on a refused payload when it cannot reserve much:
 *     worst_reserve);
 *   - a failed decode never blames msgpack-c (the pre-scan caught it);
 *   - a decoded batch's messages go through the schema check of wire.c
 *     (transport/wire.c), which accepts or refuses with a reason.
 * A violated check calls abort(), which the fuzzer reports as a crash.
 *
 * Payloads and reader views are copied into exactly-sized heap blocks so
 * that AddressSanitizer sees any read past their end.
 *
 * The three sources are included here rather than linked from acto_static:
 * the fuzz build compiles only this file with -fsanitize=fuzzer,address,
 * so this is how the code under test gets coverage feedback and ASan
 * checks.  The archive's copies are then never pulled in (their symbols
 * are already defined), in the fuzzer and in replay_frame alike.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "transport/frame.c"
#include "codec/prescan.c"
#include "transport/wire.c"

#include "../worst_reserve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t CAPS[8] = {ACTO__FRAME_CAP_PREAUTH, 16, 33, 64, 1024, 4096, 1, 40};
#define MAX_CAP 4096u
#define MAX_READ 256u

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static int detail_ok(const acto__prescan_result *res) {
  return memchr(res->detail, '\0', sizeof res->detail) != NULL;
}

static void check_payload(const uint8_t *src, size_t n, unsigned max_depth) {
  uint8_t *p = malloc(n);
  CHECK(p != NULL);
  memcpy(p, src, n);

  /* The production path. */
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  acto__prescan_result res;
  int rc = acto__prescan_decode(p, n, max_depth, ACTO__PRESCAN_KIND, &u, &res);
  CHECK(detail_ok(&res));
  if (rc == 0) {
    CHECK(res.reason == NULL && res.kind > 0 && res.elements <= n);
    CHECK(u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size >= 1);
    CHECK(u.data.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER);
    CHECK(u.data.via.array.ptr[0].via.u64 == res.kind);
    /* The node's next step on a batch: the schema of each message. */
    if (res.kind == ACTO__WIRE_BATCH) {
      for (uint32_t i = 1; i < u.data.via.array.size; i++) {
        acto__wmsg w;
        const char *why = NULL;
        int wr = acto__wire_parse(&u.data.via.array.ptr[i], &w, &why);
        CHECK(wr == 0 || (wr == ACTO_EPROTO && why != NULL));
        CHECK(wr != 0 || w.payload_len <= n);
      }
    }
  } else {
    CHECK(rc == ACTO__EPROTO || rc == ACTO_ELIMIT);
    CHECK(res.reason != NULL && res.reason != R_MSGPACK && u.zone == NULL);
  }
  msgpack_unpacked_destroy(&u);

  /* The differential rule. */
  rc = acto__prescan_check(p, n, ACTO__PRESCAN_DEPTH_MAX, 0, &res);
  CHECK(detail_ok(&res));
  if (rc == 0 || worst_reserve(p, n) < ((uint64_t)16 << 20)) {
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)p, n, &off);
    int full = r == MSGPACK_UNPACK_SUCCESS && off == n;
    msgpack_unpacked_destroy(&u);
    CHECK(full == (rc == 0));
  }
  free(p);
}

/* Take every complete frame at the front of buf[0..*len); returns 0 when
 * more input is wanted, -1 when the connection would be closed. */
static int take_frames(uint8_t *buf, size_t *len, uint32_t cap, size_t tag_len,
                       unsigned max_depth) {
  size_t off = 0;
  int ret = 0;
  for (;;) {
    size_t avail = *len - off;
    uint8_t *view = malloc(avail ? avail : 1);
    CHECK(view != NULL);
    memcpy(view, buf + off, avail);
    acto__frame f;
    int rc = acto__frame_read(view, avail, cap, tag_len, &f);
    if (rc < 0) {
      CHECK(f.reason != NULL && f.consumed == 0);
      CHECK(rc == ACTO__EPROTO || rc == ACTO_ELIMIT);
      free(view);
      ret = -1;
      break;
    }
    if (rc == ACTO__FRAME_NEED_MORE) {
      CHECK(f.need > avail && f.need <= (size_t)cap + ACTO__FRAME_HEADER);
      free(view);
      break;
    }
    CHECK(rc == ACTO__FRAME_READY && f.reason == NULL);
    CHECK(f.payload_off == ACTO__FRAME_HEADER && f.payload_len >= 1);
    CHECK(f.tag_len == tag_len && f.tag_off == f.payload_off + f.payload_len);
    CHECK(f.consumed == ACTO__FRAME_HEADER + f.payload_len + f.tag_len);
    CHECK(f.consumed <= avail && f.consumed <= (size_t)cap + ACTO__FRAME_HEADER);
    check_payload(view + f.payload_off, f.payload_len, max_depth);
    free(view);
    off += f.consumed;
  }
  memmove(buf, buf + off, *len - off);
  *len -= off;
  return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t buf[MAX_CAP + ACTO__FRAME_HEADER + MAX_READ];
  if (size < 2)
    return 0;
  const size_t tag_len = (data[0] & 1) ? ACTO__FRAME_TAG_LEN : 0;
  const uint32_t cap = CAPS[(data[0] >> 1) & 7];
  const unsigned max_depth = data[0] >> 4;
  const unsigned split = data[1];
  data += 2;
  size -= 2;

  uint32_t x = split * 2654435761u + 1;
  size_t len = 0, at = 0;
  while (at < size) {
    size_t chunk = size - at;
    if (split != 0) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      chunk = 1 + x % split;
    }
    size_t room = sizeof buf - len;
    if (chunk > room)
      chunk = room; /* the buffer is bounded: the peer waits */
    if (chunk > size - at)
      chunk = size - at;
    CHECK(chunk > 0); /* the reader never leaves a full buffer undecided */
    memcpy(buf + len, data + at, chunk);
    len += chunk;
    at += chunk;
    if (take_frames(buf, &len, cap, tag_len, max_depth) < 0)
      return 0; /* connection closed */
    CHECK(len < (size_t)cap + ACTO__FRAME_HEADER);
  }
  return 0;
}
