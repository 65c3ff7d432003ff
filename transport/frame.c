/* frame.c - the frame reader and writer of the node protocol (see frame.h
 * for the layout).
 *
 * DESIGN
 * The reader is a pure function of the bytes a connection has buffered:
 * it keeps no state between calls, so "incremental" means the caller calls
 * it again when more bytes arrived, and a frame split across reads, a frame
 * delivered byte by byte and several frames in one read all take the same
 * path.  The libevent layer pulls up at most `need` contiguous bytes
 * (never more than cap + 4), calls the reader, drains `consumed` bytes
 * per frame and loops until NEED_MORE.
 *
 * All length rules are decided on the 4 header bytes alone, before the
 * body is awaited and before anything is allocated anywhere: a zero length,
 * a length over the cap and a body that cannot hold its tag are refused at
 * once.  So a peer that declares 2^32-1 bytes costs the connection 4 bytes,
 * not a 4 GiB buffer, and a connection's input never has to hold more than
 * one capped frame to make progress.
 *
 * The tag is split off but not checked here (the authentication layer
 * computes and compares MACs), and the payload is not looked at (prescan.c
 * validates its msgpack structure).
 */
#include "transport/frame.h"

#include <string.h>

static uint32_t load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static int bad_args(size_t tag_len, uint32_t cap) {
  return (tag_len != 0 && tag_len != ACTO__FRAME_TAG_LEN) || cap == 0 ||
         cap > ACTO__FRAME_CAP_MAX;
}

int acto__frame_read(const uint8_t *buf, size_t len, uint32_t cap, size_t tag_len,
                     acto__frame *out) {
  if (out == NULL)
    return ACTO_EINVAL;
  memset(out, 0, sizeof *out);
  if ((buf == NULL && len != 0) || bad_args(tag_len, cap)) {
    out->reason = "bad arguments to the frame reader";
    return ACTO_EINVAL;
  }
  if (len < ACTO__FRAME_HEADER) {
    out->need = ACTO__FRAME_HEADER;
    return ACTO__FRAME_NEED_MORE;
  }
  uint32_t body = load_be32(buf);
  out->body_len = body;
  if (body == 0) {
    out->reason = "frame length is zero";
    return ACTO__EPROTO;
  }
  if (body > cap) {
    out->reason = "frame length exceeds the connection's cap";
    return ACTO_ELIMIT;
  }
  if (body < tag_len) {
    out->reason = "frame body is shorter than its MAC tag";
    return ACTO__EPROTO;
  }
  if (body == tag_len) {
    out->reason = "frame body holds a MAC tag but no payload";
    return ACTO__EPROTO;
  }
  size_t total = (size_t)ACTO__FRAME_HEADER + body; /* <= cap + 4: no overflow */
  if (len < total) {
    out->need = total;
    return ACTO__FRAME_NEED_MORE;
  }
  out->payload_off = ACTO__FRAME_HEADER;
  out->payload_len = body - tag_len;
  out->tag_off = out->payload_off + out->payload_len;
  out->tag_len = tag_len;
  out->consumed = total;
  return ACTO__FRAME_READY;
}

int acto__frame_header_write(uint8_t out[ACTO__FRAME_HEADER], size_t payload_len,
                             size_t tag_len, uint32_t cap) {
  if (out == NULL || payload_len == 0 || bad_args(tag_len, cap))
    return ACTO_EINVAL;
  if (payload_len > cap || tag_len > cap - payload_len)
    return ACTO_ELIMIT;
  store_be32(out, (uint32_t)(payload_len + tag_len));
  return (int)ACTO__FRAME_HEADER;
}

int acto__frame_build(uint8_t *out, size_t out_size, const void *payload,
                      size_t payload_len, const void *tag, size_t tag_len, uint32_t cap) {
  if (out == NULL || payload == NULL || (tag == NULL && tag_len != 0))
    return ACTO_EINVAL;
  uint8_t hdr[ACTO__FRAME_HEADER];
  int rc = acto__frame_header_write(hdr, payload_len, tag_len, cap);
  if (rc < 0)
    return rc;
  size_t total = ACTO__FRAME_HEADER + payload_len + tag_len; /* <= cap + 4 */
  if (out_size < total)
    return ACTO_ELIMIT;
  memcpy(out, hdr, sizeof hdr);
  memcpy(out + ACTO__FRAME_HEADER, payload, payload_len);
  if (tag_len != 0)
    memcpy(out + ACTO__FRAME_HEADER + payload_len, tag, tag_len);
  return (int)total;
}
