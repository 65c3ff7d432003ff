/* prescan.c - structural validation of one msgpack payload before
 * msgpack-c decodes it (see prescan.h for why), and the guarded decode.
 *
 * DESIGN
 * One forward pass over the bytes, iterative, with a fixed stack of at
 * most ACTO__PRESCAN_DEPTH_MAX counters: rem[d] is how many elements the
 * open container at depth d still expects (a map pair counts as two), and
 * `owed` is their sum over all open containers.  Each element still owed
 * needs at least one byte, so the pass keeps owed <= bytes remaining: a
 * container header whose count, added to what is already owed, exceeds
 * the bytes after it is refused on the spot.  That one rule bounds every
 * container by the payload, bounds the total element count by the payload
 * length, and refuses dd 0f ff ff ff after reading 5 bytes.  Every
 * str/bin/ext length is checked against the bytes remaining before it is
 * skipped, and every fixed-width field before it is read, so the pass
 * never reads outside p[0..len).
 *
 * The accepted language is exactly the one msgpack-c 4.0's unpacker
 * accepts with MSGPACK_UNPACK_SUCCESS and off == len, restricted to nesting
 * <= max_depth (tests/test_prescan.c checks this differentially on random
 * and mutated inputs; the fuzz target checks it too).  Nothing about the
 * meaning of a message is decided here except, on request, that the
 * top-level array starts with a positive integer kind.
 */
#include "codec/prescan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The rules, one static string each: the node layer counts by them. */
static const char R_ARGS[] = "bad arguments to the pre-scan";
static const char R_EMPTY[] = "empty payload";
static const char R_C1[] = "byte 0xc1 (never used in msgpack)";
static const char R_FIELD[] = "a length or value field runs past the end of the payload";
static const char R_DATA[] = "str, bin or ext data runs past the end of the payload";
static const char R_COUNT[] = "container declares more elements than the remaining bytes can hold";
static const char R_MISSING[] = "payload ends before every declared element is present";
static const char R_DEPTH[] = "nesting deeper than the limit";
static const char R_TRAILING[] = "bytes after the end of the object";
static const char R_NOT_ARRAY[] = "top level is not an array";
static const char R_NO_KIND[] = "top-level array is empty: no kind";
static const char R_KIND[] = "kind (first element) is not a positive integer";
static const char R_MSGPACK[] = "msgpack-c refused a payload the pre-scan accepted";

__attribute__((format(printf, 5, 6))) static int fail(acto__prescan_result *res, int rc,
                                                      const char *reason, size_t off,
                                                      const char *fmt, ...) {
  res->reason = reason;
  res->offset = off;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->detail, sizeof res->detail, fmt, ap);
  va_end(ap);
  return rc;
}

static uint64_t load_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* A name for the type a header byte starts, for messages. */
static const char *type_name(uint8_t b) {
  if (b <= 0x7f)
    return "positive fixint";
  if (b <= 0x8f)
    return "fixmap";
  if (b <= 0x9f)
    return "fixarray";
  if (b <= 0xbf)
    return "fixstr";
  if (b >= 0xe0)
    return "negative fixint";
  static const char *const names[] = {
      "nil",    "0xc1",   "false",  "true",    "bin8",    "bin16",   "bin32",   "ext8",
      "ext16",  "ext32",  "float32", "float64", "uint8",  "uint16",  "uint32",  "uint64",
      "int8",   "int16",  "int32",  "int64",   "fixext1", "fixext2", "fixext4", "fixext8",
      "fixext16", "str8", "str16",  "str32",   "array16", "array32", "map16",   "map32"};
  return names[b - 0xc0];
}

/* How a header byte continues. */
enum shape { SCALAR, VARLEN, ARRAY, MAP, BAD };

typedef struct head {
  enum shape shape;
  size_t field;   /* SCALAR: value bytes; VARLEN/ARRAY/MAP: length-field bytes */
  uint64_t count; /* inline length (fixstr/fixarray/fixmap) or fixext size */
  size_t extra;   /* VARLEN: bytes beyond the declared length (ext type) */
} head;

static head classify(uint8_t b) {
  head h = {SCALAR, 0, 0, 0};
  if (b <= 0x7f || b >= 0xe0)
    return h;
  if (b <= 0x8f) {
    h.shape = MAP;
    h.count = b & 0x0f;
    return h;
  }
  if (b <= 0x9f) {
    h.shape = ARRAY;
    h.count = b & 0x0f;
    return h;
  }
  if (b <= 0xbf) {
    h.shape = VARLEN;
    h.count = b & 0x1f;
    return h;
  }
  switch (b) {
  case 0xc0: case 0xc2: case 0xc3: /* nil, false, true */
    return h;
  case 0xc1:
    h.shape = BAD;
    return h;
  case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
  case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
    h.shape = VARLEN;
    h.field = (size_t)1 << (b <= 0xc6 ? b - 0xc4 : b - 0xd9);
    return h;
  case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, type, data */
    h.shape = VARLEN;
    h.field = (size_t)1 << (b - 0xc7);
    h.extra = 1;
    return h;
  case 0xca: h.field = 4; return h; /* float32 */
  case 0xcb: h.field = 8; return h; /* float64 */
  case 0xcc: case 0xcd: case 0xce: case 0xcf: /* uint 8..64 */
    h.field = (size_t)1 << (b - 0xcc);
    return h;
  case 0xd0: case 0xd1: case 0xd2: case 0xd3: /* int 8..64 */
    h.field = (size_t)1 << (b - 0xd0);
    return h;
  case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16: type, data */
    h.field = 1 + ((size_t)1 << (b - 0xd4));
    return h;
  case 0xdc: case 0xdd: /* array 16/32 */
    h.shape = ARRAY;
    h.field = b == 0xdc ? 2 : 4;
    return h;
  default: /* 0xde, 0xdf: map 16/32 */
    h.shape = MAP;
    h.field = b == 0xde ? 2 : 4;
    return h;
  }
}

int acto__prescan_check(const uint8_t *p, size_t len, unsigned max_depth, unsigned flags,
                        acto__prescan_result *res) {
  acto__prescan_result scratch;
  if (res == NULL)
    res = &scratch;
  memset(res, 0, sizeof *res);
  if (max_depth == 0)
    max_depth = ACTO__PRESCAN_DEPTH_DEFAULT;
  if ((p == NULL && len != 0) || max_depth > ACTO__PRESCAN_DEPTH_MAX)
    return fail(res, ACTO_EINVAL, R_ARGS, 0, "%s (max_depth %u)", R_ARGS, max_depth);
  if (len == 0)
    return fail(res, ACTO_EPROTO, R_EMPTY, 0, "empty payload (0 bytes)");

  const int want_kind = (flags & ACTO__PRESCAN_KIND) != 0;
  uint64_t rem[ACTO__PRESCAN_DEPTH_MAX]; /* elements still expected per depth */
  unsigned top = 0;                      /* open containers */
  uint64_t owed = 0;                     /* sum of rem[0..top) */
  size_t pos = 0;
  size_t n = 0; /* elements started */

  for (;;) {
    if (pos == len)
      return fail(res, ACTO_EPROTO, R_MISSING, pos,
                  "payload ends at %zu bytes with %" PRIu64 " declared elements missing", len,
                  owed);
    const size_t at = pos;
    const uint8_t b = p[pos++];
    if (top > 0) {
      rem[top - 1]--;
      owed--;
    }
    n++;
    res->elements = n;
    head h = classify(b);
    if (h.shape == BAD)
      return fail(res, ACTO_EPROTO, R_C1, at, "byte 0xc1 at offset %zu (never used)", at);
    if (want_kind && n == 1 && h.shape != ARRAY)
      return fail(res, ACTO_EPROTO, R_NOT_ARRAY, at, "top level is a %s, not an array",
                  type_name(b));
    if (want_kind && n == 2) {
      /* The first element of the top-level array: the kind. */
      if (!(b <= 0x7f || (b >= 0xcc && b <= 0xcf)))
        return fail(res, ACTO_EPROTO, R_KIND, at, "kind at offset %zu is a %s", at,
                    type_name(b));
    }

    if (h.shape == SCALAR) {
      if (h.field > len - pos)
        return fail(res, ACTO_EPROTO, R_FIELD, at,
                    "%s at offset %zu needs %zu more bytes, %zu remain", type_name(b), at,
                    h.field, len - pos);
      if (want_kind && n == 2) {
        uint64_t kind = b <= 0x7f ? b : load_be(p + pos, h.field);
        if (kind == 0)
          return fail(res, ACTO_EPROTO, R_KIND, at, "kind at offset %zu is 0", at);
        res->kind = kind;
      }
      pos += h.field;
    } else if (h.shape == VARLEN) {
      if (h.field > len - pos)
        return fail(res, ACTO_EPROTO, R_FIELD, at,
                    "%s header at offset %zu needs a %zu-byte length, %zu bytes remain",
                    type_name(b), at, h.field, len - pos);
      uint64_t data = (h.field ? load_be(p + pos, h.field) : h.count) + h.extra;
      pos += h.field;
      if (data > len - pos)
        return fail(res, ACTO_EPROTO, R_DATA, at,
                    "%s header at offset %zu declares %" PRIu64
                    " data bytes but %zu remain (payload %zu bytes)",
                    type_name(b), at, data, len - pos, len);
      pos += (size_t)data;
    } else { /* ARRAY or MAP */
      if (h.field > len - pos)
        return fail(res, ACTO_EPROTO, R_FIELD, at,
                    "%s header at offset %zu needs a %zu-byte count, %zu bytes remain",
                    type_name(b), at, h.field, len - pos);
      uint64_t count = h.field ? load_be(p + pos, h.field) : h.count;
      pos += h.field;
      if (top + 1 > max_depth)
        return fail(res, ACTO_ELIMIT, R_DEPTH, at,
                    "%s at offset %zu opens depth %u, the limit is %u", type_name(b), at,
                    top + 1, max_depth);
      if (top + 1 > res->depth)
        res->depth = top + 1;
      uint64_t items = h.shape == MAP ? 2 * count : count;
      size_t avail = len - pos;
      if (items > avail || owed > avail - items)
        return fail(res, ACTO_EPROTO, R_COUNT, at,
                    "%s header declares %" PRIu64 " %s but %zu bytes remain (payload %zu bytes)",
                    type_name(b), count, h.shape == MAP ? "pairs" : "elements",
                    avail > owed ? avail - (size_t)owed : 0, len);
      if (want_kind && n == 1 && count == 0)
        return fail(res, ACTO_EPROTO, R_NO_KIND, at, "top-level array is empty");
      if (items > 0) {
        rem[top++] = items;
        owed += items;
        continue;
      }
    }
    /* A value ended: close every container it completed. */
    while (top > 0 && rem[top - 1] == 0)
      top--;
    if (top == 0)
      break;
  }
  if (pos != len)
    return fail(res, ACTO_EPROTO, R_TRAILING, pos,
                "%zu bytes after the object that ends at offset %zu", len - pos, pos);
  return 0;
}

int acto__prescan_decode(const uint8_t *p, size_t len, unsigned max_depth, unsigned flags,
                         msgpack_unpacked *out, acto__prescan_result *res) {
  acto__prescan_result scratch;
  if (res == NULL)
    res = &scratch;
  if (out == NULL) {
    memset(res, 0, sizeof *res);
    return fail(res, ACTO_EINVAL, R_ARGS, 0, "%s (no msgpack_unpacked)", R_ARGS);
  }
  msgpack_unpacked_destroy(out);
  int rc = acto__prescan_check(p, len, max_depth, flags, res);
  if (rc != 0)
    return rc;
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack_next(out, (const char *)p, len, &off);
  if (r == MSGPACK_UNPACK_SUCCESS && off == len)
    return 0;
  /* Not reachable while the pre-scan matches msgpack-c; if it ever is,
   * the frame is bad, not the machine out of memory. */
  msgpack_unpacked_destroy(out);
  return fail(res, ACTO_EPROTO, R_MSGPACK, off,
              "msgpack_unpack_next returned %d after %zu of %zu bytes", (int)r, off, len);
}
