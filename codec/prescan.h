/* prescan.h - the structural pre-scan of one msgpack payload, run on every
 * received frame (transport/deliver.c) and by acto_msgpack_check (the
 * public face of it, acto_msgpack.h) before msgpack-c sees a byte of it,
 * and the decode that follows it.
 *
 * Why: msgpack-c's C unpacker trusts declared lengths.  An array or map
 * header makes it reserve n x 24 bytes (48 per map pair) before one
 * element has arrived, so the 5 bytes dd 0f ff ff ff ask for 6.4 GB; and
 * nesting deeper than 32 returns an out-of-memory code.  The pre-scan
 * proves, in one bounded pass over the bytes with no allocation, that the
 * payload is exactly one well-formed object whose every declared element
 * and byte is present, so that what msgpack-c then reserves is bounded by
 * about 24 bytes per payload byte.
 *
 * Thread ownership: pure functions, callable from any thread.
 */
#ifndef ACTO_PRESCAN_H
#define ACTO_PRESCAN_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "acto_error.h"

/* Nesting limit: the default, and the largest accepted, which is exactly
 * the depth msgpack-c's fixed parse stack handles (MSGPACK_EMBED_STACK_SIZE;
 * tests/test_prescan.c checks that 32 decodes and 33 does not).  Depth
 * counts containers: a top-level array is depth 1, [[]] is depth 2. */
#define ACTO__PRESCAN_DEPTH_DEFAULT 16u
#define ACTO__PRESCAN_DEPTH_MAX 32u

/* Flags. */
enum {
  /* The top-level object must be an array whose first element is a
   * positive integer (>= 1) in positive-fixint or uint8..uint64 encoding:
   * the message kind, reported in the result. */
  ACTO__PRESCAN_KIND = 1u << 0,
};

/* What a pre-scan found.  On failure reason is a static string naming the
 * broken rule (fit for counting by pointer or text) and detail the same
 * with numbers, e.g. "array32 header declares 4294967295 elements but 0
 * bytes remain (payload 5 bytes)". */
typedef struct acto__prescan_result {
  const char *reason; /* NULL on success */
  size_t offset;      /* error: offset of the offending byte */
  uint64_t kind;      /* with ACTO__PRESCAN_KIND: the kind, once read
                         (kept when a later rule fails, for the log) */
  size_t elements;    /* objects seen, containers included */
  unsigned depth;     /* deepest container nesting seen */
  char detail[120];   /* error: NUL-terminated text; "" on success */
} acto__prescan_result;

/* Check that p[0..len) is exactly one msgpack object: not empty, no byte
 * 0xc1, every str/bin/ext byte and every declared array element and map
 * pair present, no container declaring more elements than the bytes left
 * could hold (so elements <= len), nesting at most max_depth (0 means
 * ACTO__PRESCAN_DEPTH_DEFAULT; at most ACTO__PRESCAN_DEPTH_MAX), nothing
 * after the object; with ACTO__PRESCAN_KIND also the kind rule above.
 *
 * Returns 0, or ACTO_EPROTO for a malformed payload, ACTO_ELIMIT for
 * nesting over the limit, ACTO_EINVAL for bad arguments; res (may be NULL)
 * says why.  Iterative: stack use is fixed, whatever the input.  Nothing is
 * allocated; p is borrowed until the call returns. */
int acto__prescan_check(const uint8_t *p, size_t len, unsigned max_depth, unsigned flags,
                        acto__prescan_result *res);

/* Pre-scan p[0..len) as above, then decode it with msgpack_unpack_next into
 * *out (initialised by the caller with msgpack_unpacked_init).  Only
 * MSGPACK_UNPACK_SUCCESS with the whole payload consumed is success; every
 * other outcome of msgpack-c, NOMEM included, is a bad frame
 * (ACTO_EPROTO), never an out-of-memory condition, and leaves *out empty.
 * Returns 0 or the codes of acto__prescan_check.
 *
 * On success, str, bin and ext objects in *out point into p and are not
 * NUL-terminated: p must outlive every use of them.  The caller releases
 * *out with msgpack_unpacked_destroy, on success and failure alike. */
int acto__prescan_decode(const uint8_t *p, size_t len, unsigned max_depth, unsigned flags,
                         msgpack_unpacked *out, acto__prescan_result *res);

#endif /* ACTO_PRESCAN_H */
