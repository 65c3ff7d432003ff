/* frame.h - the length-prefixed frame of the node protocol: reading frames
 * out of a connection's contiguous input bytes, and writing frame headers.
 *
 * Wire layout (ACTORS.md, "Framing"):
 *
 *   +----------------------+------------------------------------+
 *   | u32 length, big-end. | body: length bytes                 |
 *   +----------------------+------------------------------------+
 *                          | payload (one msgpack object) | tag |
 *
 * The length counts the body only, is never 0 and never exceeds the
 * connection's cap.  After authentication the body ends with a 32-byte tag
 * (HMAC-SHA256, computed and checked by a later layer); before it there is
 * no tag.  This layer only splits a body into payload and tag.
 *
 * Thread ownership: every function here is pure (no state, no allocation,
 * no locks) and may be called from any thread; the connection that owns
 * the buffer decides who calls it (its event-loop thread).
 */
#ifndef ACTO_FRAME_H
#define ACTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "acto_error.h"

/* The header: 4 bytes of big-endian body length. */
#define ACTO__FRAME_HEADER 4u
/* The MAC tag that ends every body after authentication (HMAC-SHA256). */
#define ACTO__FRAME_TAG_LEN 32u
/* Default body cap of an authenticated connection (1 MiB), and a cap that
 * fits the handshake frames before authentication. */
#define ACTO__FRAME_CAP_DEFAULT ((uint32_t)1 << 20)
#define ACTO__FRAME_CAP_PREAUTH 512u
/* No connection may configure a cap above this (1 GiB): it keeps
 * cap + 4 representable in any size_t and a buffer plan sane. */
#define ACTO__FRAME_CAP_MAX ((uint32_t)1 << 30)

/* The code returned for a peer's malformed frame. */
#define ACTO__EPROTO ACTO_EPROTO

/* What acto__frame_read returns besides a negative error code. */
enum {
  ACTO__FRAME_NEED_MORE = 0, /* no complete frame yet: see need */
  ACTO__FRAME_READY = 1,     /* a complete frame: see the offsets */
};

/* The result of one acto__frame_read.  Offsets count from the start of the
 * buffer that was passed in. */
typedef struct acto__frame {
  uint32_t body_len;    /* declared length (once the 4 bytes are there) */
  size_t payload_off;   /* READY: where the payload starts (always 4) */
  size_t payload_len;   /* READY: body_len - tag_len, at least 1 */
  size_t tag_off;       /* READY: payload_off + payload_len */
  size_t tag_len;       /* READY: 0 or ACTO__FRAME_TAG_LEN, as asked */
  size_t consumed;      /* READY: 4 + body_len, the bytes to drain */
  size_t need;          /* NEED_MORE: the buffer must hold at least this
                           many bytes for progress; never above cap + 4 */
  const char *reason;   /* error: static text naming the rule broken */
} acto__frame;

/* Look for one frame at the start of buf[0..len).  cap is the connection's
 * current body cap (1..ACTO__FRAME_CAP_MAX), tag_len 0 before
 * authentication and ACTO__FRAME_TAG_LEN after it.
 *
 * Returns ACTO__FRAME_READY with the payload, tag and consumed length in
 * *out; ACTO__FRAME_NEED_MORE with out->need set; or a negative code with
 * out->reason set: ACTO__EPROTO for a zero length or a body too short for
 * its tag, ACTO_ELIMIT for a length over the cap, ACTO_EINVAL for bad
 * arguments.  Length errors are reported as soon as the 4 header bytes are
 * present, before any body byte is awaited: a connection never buffers
 * more than cap + 4 bytes for one frame.  Nothing is allocated; buf is
 * borrowed until the call returns and never written. */
int acto__frame_read(const uint8_t *buf, size_t len, uint32_t cap, size_t tag_len,
                     acto__frame *out);

/* Write the 4-byte header of a frame whose body is payload_len bytes of
 * payload followed by tag_len bytes of tag.  Returns 4, or ACTO_EINVAL for
 * an empty payload or a bad tag_len, or ACTO_ELIMIT when the body would
 * exceed cap (the peer would refuse it).  out is written only on success. */
int acto__frame_header_write(uint8_t out[ACTO__FRAME_HEADER], size_t payload_len,
                             size_t tag_len, uint32_t cap);

/* Build a whole frame (header, payload, tag) into out[0..out_size).
 * tag may be NULL only when tag_len is 0.  Returns the frame length
 * (4 + payload_len + tag_len), or the errors of acto__frame_header_write,
 * or ACTO_ELIMIT when out_size is too small (nothing written then).  The
 * inputs are copied before return. */
int acto__frame_build(uint8_t *out, size_t out_size, const void *payload,
                      size_t payload_len, const void *tag, size_t tag_len, uint32_t cap);

#endif /* ACTO_FRAME_H */
