/* msgpack_buf.c - acto_msgpack_buf, the buffer a msgpack_packer writes
 * into, and the calls that hand its bytes to a message (acto_msgpack.h).
 *
 * DESIGN
 * Copies.  A payload packed into the buffer is written once, by the
 * packer.  Up to ACTO_INLINE_MAX bytes it sits in the struct's own `small`
 * array (no allocation) and is copied once into the message block, where
 * every payload that small travels anyway; past that it moves once into a
 * heap block that grows by doubling (acto_msgpack_buf_reserve avoids even
 * the moves), and that block becomes the message's payload as it is:
 * acto__msg_new with a free function adopts the pointer, so the handler
 * reads the very bytes the packer wrote.  A remote target costs one more
 * copy, into the frame, as for any payload.
 *
 * Ownership.  Every send, ask and reply empties the buffer on every
 * return: the block is the message's (freed with free() when the message
 * is), or freed here when the call refused.  The buffer is then ready to
 * be packed into again; the caller frees only a buffer it never sent.
 *
 * The packed bytes are checked before they leave (the pre-scan, at the
 * largest depth): a packer that wrote half an array or two objects is a
 * bug of the sender, reported here with a code rather than as a payload
 * every receiver drops.
 */
#include <stdlib.h>
#include <string.h>

#include "acto_msgpack.h"
#include "acto_node.h"
#include "actor/ask.h"
#include "codec/prescan.h"
#include "mailbox/message.h"

/* msgpack_packer's write callback. */
static int buf_write(void *data, const char *p, size_t n) {
  acto_msgpack_buf *b = data;
  if (b->error)
    return -1;
  if (n > ACTO_MSG_MAX_SIZE - b->size) {
    b->error = ACTO_ETOOBIG;
    return -1;
  }
  if (n > b->cap - b->size) {
    int rc = acto_msgpack_buf_reserve(b, n);
    if (rc != 0) {
      b->error = rc;
      return -1;
    }
  }
  memcpy(b->data + b->size, p, n);
  b->size += n;
  return 0;
}

static void reset(acto_msgpack_buf *b) {
  b->data = b->small;
  b->size = 0;
  b->cap = sizeof b->small;
  b->error = 0;
}

int acto_msgpack_buf_init(acto_msgpack_buf *b) {
  if (!b)
    return ACTO_EINVAL;
  memset(b, 0, sizeof *b);
  reset(b);
  msgpack_packer_init(&b->pk, b, buf_write);
  return 0;
}

int acto_msgpack_buf_reserve(acto_msgpack_buf *b, size_t bytes) {
  if (!b || b->error)
    return ACTO_EINVAL;
  if (bytes > ACTO_MSG_MAX_SIZE - b->size)
    return ACTO_ETOOBIG;
  size_t need = b->size + bytes;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap < 256 ? 256 : b->cap;
  while (cap < need)
    cap = cap > ACTO_MSG_MAX_SIZE / 2 ? ACTO_MSG_MAX_SIZE : cap * 2;
  char *p;
  if (b->data == b->small) {
    p = malloc(cap);
    if (p && b->size)
      memcpy(p, b->small, b->size);
  } else {
    p = realloc(b->data, cap);
  }
  if (!p)
    return ACTO_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

void acto_msgpack_buf_free(acto_msgpack_buf *b) {
  if (!b)
    return;
  if (b->data && b->data != b->small)
    free(b->data);
  reset(b);
}

/* Takes the packed bytes out of b as a message block of `type` (NULL and
 * *rc set when refused; b is empty either way). */
static struct acto__msg *take(acto_msgpack_buf *b, uint32_t type, int *rc) {
  if (b->error || b->size == 0) {
    *rc = b->error ? b->error : ACTO_EINVAL;
    acto_msgpack_buf_free(b);
    return NULL;
  }
  *rc = acto__prescan_check((const uint8_t *)b->data, b->size, ACTO__PRESCAN_DEPTH_MAX, 0, NULL);
  if (*rc != 0) {
    acto_msgpack_buf_free(b);
    return NULL;
  }
  struct acto__msg *m;
  if (b->data == b->small) {
    m = acto__msg_new(type, b->data, b->size, NULL); /* the one copy of <= 128 bytes */
    reset(b);
  } else {
    m = acto__msg_new(type, b->data, b->size, free); /* adopted: no copy */
    if (m)
      reset(b); /* the block is the message's now */
    else
      acto_msgpack_buf_free(b);
  }
  if (!m)
    *rc = ACTO_ENOMEM;
  return m;
}

int acto_msgpack_send(acto_system *sys, acto_ref to, uint32_t type, acto_msgpack_buf *b,
                      const acto_send_opts *opts) {
  if (!b)
    return ACTO_EINVAL;
  if (!sys || (opts && opts->free_fn) || b->error || b->size == 0) {
    int rc = b->error ? b->error : ACTO_EINVAL;
    acto_msgpack_buf_free(b);
    return rc;
  }
  int rc = acto__prescan_check((const uint8_t *)b->data, b->size, ACTO__PRESCAN_DEPTH_MAX, 0, NULL);
  if (rc != 0) {
    acto_msgpack_buf_free(b);
    return rc;
  }
  if (b->data == b->small) { /* copied into the message block, as any small payload */
    rc = acto_send_ex(sys, to, type, b->data, b->size, opts);
    reset(b);
    return rc;
  }
  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  if (opts)
    o = *opts;
  o.free_fn = free; /* the block is handed over: acto_send_ex frees it on every return */
  void *data = b->data;
  size_t size = b->size;
  reset(b);
  return acto_send_ex(sys, to, type, data, size, &o);
}

/* The types a request may carry (acto_ask's rule). */
static int ask_type_ok(uint32_t type) {
  return type < ACTO_MSG_RESERVED || type == ACTO_MSG_NODE_LOOKUP;
}

int acto_msgpack_ask(acto_system *sys, acto_ref to, uint32_t type, acto_msgpack_buf *b,
                     int64_t timeout_ms, acto_reply_buf *out) {
  if (!b)
    return ACTO_EINVAL;
  if (!sys || !out || !ask_type_ok(type) || timeout_ms < -1) {
    acto_msgpack_buf_free(b);
    return ACTO_EINVAL;
  }
  int rc;
  struct acto__msg *m = take(b, type, &rc);
  if (!m)
    return rc;
  return acto__ask_sync_msg(sys, to, m, timeout_ms, out);
}

int acto_msgpack_ask_async(acto_ctx *ctx, acto_ref to, uint32_t type, acto_msgpack_buf *b,
                           int64_t timeout_ms, acto_reply_fn fn, void *user, uint64_t *ask_id_out) {
  if (!b)
    return ACTO_EINVAL;
  if (!ctx || !ask_type_ok(type)) {
    acto_msgpack_buf_free(b);
    return ACTO_EINVAL;
  }
  int rc;
  struct acto__msg *m = take(b, type, &rc);
  if (!m)
    return rc;
  return acto__ask_async_msg(ctx, to, m, timeout_ms, fn, user, ask_id_out);
}

int acto_msgpack_reply(acto_ctx *ctx, uint32_t type, acto_msgpack_buf *b) {
  if (!b)
    return ACTO_EINVAL;
  if (!ctx || type >= ACTO_MSG_RESERVED) {
    acto_msgpack_buf_free(b);
    return ACTO_EINVAL;
  }
  int rc;
  struct acto__msg *m = take(b, type, &rc);
  if (!m)
    return rc;
  return acto__ask_reply_msg(ctx, m);
}

int acto_msgpack_reply_to(acto_system *sys, const acto_reply_token *tok, uint32_t type,
                          acto_msgpack_buf *b) {
  if (!b)
    return ACTO_EINVAL;
  if (!sys || !tok || tok->ask_id == 0 || type >= ACTO_MSG_RESERVED) {
    acto_msgpack_buf_free(b);
    return ACTO_EINVAL;
  }
  int rc;
  struct acto__msg *m = take(b, type, &rc);
  if (!m)
    return rc;
  return acto__ask_reply_to_msg(sys, tok, m);
}
