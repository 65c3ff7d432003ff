/* wire.c - encoding and schema checks of the node protocol's messages
 * (wire.h).  Encoding uses msgpack-c's packer over our own buffer; the
 * decode side never sees msgpack-c before the frame was pre-scanned
 * (prescan.h), and here only checks types and ranges. */
#include "transport/wire.h"

#include <stdlib.h>
#include <string.h>

#include "acto_error.h"

/* ---- encoding -------------------------------------------------------------- */

typedef struct {
  acto__buf *b;
  int failed;
} sink;

static int sink_write(void *data, const char *buf, size_t len) {
  sink *s = data;
  if (s->failed || acto__buf_append(s->b, buf, len) != 0) {
    s->failed = 1;
    return -1;
  }
  return 0;
}

#define BEGIN(n)                                                                                   \
  sink s = {b, 0};                                                                                 \
  size_t mark = b->len;                                                                            \
  msgpack_packer pk;                                                                               \
  msgpack_packer_init(&pk, &s, sink_write);                                                        \
  msgpack_pack_array(&pk, (n))
#define END()                                                                                      \
  do {                                                                                             \
    if (s.failed) {                                                                                \
      b->len = mark;                                                                               \
      return ACTO_ENOMEM;                                                                          \
    }                                                                                              \
    return 0;                                                                                      \
  } while (0)

int acto__wire_info(acto__buf *b, uint64_t node_id, uint32_t port, uint32_t cap, uint32_t hb_ms) {
  BEGIN(5);
  msgpack_pack_uint32(&pk, ACTO__W_INFO);
  msgpack_pack_uint64(&pk, node_id);
  msgpack_pack_uint32(&pk, port);
  msgpack_pack_uint32(&pk, cap);
  msgpack_pack_uint32(&pk, hb_ms);
  END();
}

int acto__wire_send(acto__buf *b, uint64_t to, uint64_t from, uint32_t type, uint32_t flags,
                    uint64_t ask_id, const void *payload, size_t len) {
  BEGIN(7);
  msgpack_pack_uint32(&pk, ACTO__W_SEND);
  msgpack_pack_uint64(&pk, to);
  msgpack_pack_uint64(&pk, from);
  msgpack_pack_uint32(&pk, type);
  msgpack_pack_uint32(&pk, flags);
  msgpack_pack_uint64(&pk, ask_id);
  msgpack_pack_bin(&pk, len);
  if (len)
    msgpack_pack_bin_body(&pk, payload, len);
  END();
}

int acto__wire_reply(acto__buf *b, uint64_t to, uint64_t ask_id, uint32_t flags, int32_t status,
                     uint32_t type, uint64_t from, const void *payload, size_t len) {
  BEGIN(8);
  msgpack_pack_uint32(&pk, ACTO__W_REPLY);
  msgpack_pack_uint64(&pk, to);
  msgpack_pack_uint64(&pk, ask_id);
  msgpack_pack_uint32(&pk, flags);
  msgpack_pack_int32(&pk, status);
  msgpack_pack_uint32(&pk, type);
  msgpack_pack_uint64(&pk, from);
  msgpack_pack_bin(&pk, len);
  if (len)
    msgpack_pack_bin_body(&pk, payload, len);
  END();
}

int acto__wire_signal(acto__buf *b, uint32_t sig, uint64_t to, uint64_t from, uint32_t flags,
                      int32_t status, uint64_t id) {
  BEGIN(7);
  msgpack_pack_uint32(&pk, ACTO__W_SIGNAL);
  msgpack_pack_uint32(&pk, sig);
  msgpack_pack_uint64(&pk, to);
  msgpack_pack_uint64(&pk, from);
  msgpack_pack_uint32(&pk, flags);
  msgpack_pack_int32(&pk, status);
  msgpack_pack_uint64(&pk, id);
  END();
}

int acto__wire_ping(acto__buf *b, uint32_t kind, uint64_t token) {
  BEGIN(2);
  msgpack_pack_uint32(&pk, kind);
  msgpack_pack_uint64(&pk, token);
  END();
}

int acto__wire_flow(acto__buf *b, uint32_t kind, uint64_t target) {
  BEGIN(2);
  msgpack_pack_uint32(&pk, kind);
  msgpack_pack_uint64(&pk, target);
  END();
}

int acto__wire_member(acto__buf *b, uint64_t node_id, uint32_t port, const char *name,
                      size_t name_len, const char *host, size_t host_len) {
  BEGIN(5);
  msgpack_pack_uint32(&pk, ACTO__W_MEMBER);
  msgpack_pack_uint64(&pk, node_id);
  msgpack_pack_uint32(&pk, port);
  msgpack_pack_bin(&pk, name_len);
  msgpack_pack_bin_body(&pk, name, name_len);
  msgpack_pack_bin(&pk, host_len);
  msgpack_pack_bin_body(&pk, host, host_len);
  END();
}

int acto__wire_leave(acto__buf *b, uint64_t node_id) {
  BEGIN(2);
  msgpack_pack_uint32(&pk, ACTO__W_LEAVE);
  msgpack_pack_uint64(&pk, node_id);
  END();
}

int acto__wire_greg(acto__buf *b, uint64_t actor, uint64_t stamp, const char *name, size_t len) {
  BEGIN(4);
  msgpack_pack_uint32(&pk, ACTO__W_GREG);
  msgpack_pack_uint64(&pk, actor);
  msgpack_pack_uint64(&pk, stamp);
  msgpack_pack_bin(&pk, len);
  msgpack_pack_bin_body(&pk, name, len);
  END();
}

int acto__wire_gname(acto__buf *b, uint32_t kind, uint64_t actor, const char *name, size_t len) {
  BEGIN(3);
  msgpack_pack_uint32(&pk, kind);
  msgpack_pack_uint64(&pk, actor);
  msgpack_pack_bin(&pk, len);
  msgpack_pack_bin_body(&pk, name, len);
  END();
}

int acto__wire_gcast(acto__buf *b, uint64_t from, uint32_t type, const char *group, size_t glen,
                     const void *payload, size_t len) {
  BEGIN(5);
  msgpack_pack_uint32(&pk, ACTO__W_GCAST);
  msgpack_pack_uint64(&pk, from);
  msgpack_pack_uint32(&pk, type);
  msgpack_pack_bin(&pk, glen);
  msgpack_pack_bin_body(&pk, group, glen);
  msgpack_pack_bin(&pk, len);
  if (len)
    msgpack_pack_bin_body(&pk, payload, len);
  END();
}

size_t acto__wire_batch_prefix(uint8_t out[6], uint32_t n) {
  uint32_t e = n + 1;
  size_t k;
  if (e <= 15) {
    out[0] = (uint8_t)(0x90u | e);
    k = 1;
  } else if (e <= 0xffffu) {
    out[0] = 0xdc;
    out[1] = (uint8_t)(e >> 8);
    out[2] = (uint8_t)e;
    k = 3;
  } else {
    out[0] = 0xdd;
    out[1] = (uint8_t)(e >> 24);
    out[2] = (uint8_t)(e >> 16);
    out[3] = (uint8_t)(e >> 8);
    out[4] = (uint8_t)e;
    k = 5;
  }
  out[k++] = ACTO__WIRE_BATCH;
  return k;
}

/* ---- schema ---------------------------------------------------------------- */

/* Field shapes: 'u' unsigned integer, 'i' int32, 'b' bin. */
static const struct {
  uint32_t kind;
  const char *shape; /* after the kind */
  const char *name;
} SCHEMA[] = {
    {ACTO__W_INFO, "uuuu", "INFO"},      {ACTO__W_SEND, "uuuuub", "SEND"},
    {ACTO__W_REPLY, "uuuiuub", "REPLY"}, {ACTO__W_SIGNAL, "uuuuiu", "SIGNAL"},
    {ACTO__W_PING, "u", "PING"},         {ACTO__W_PONG, "u", "PONG"},
    {ACTO__W_BUSY, "u", "BUSY"},         {ACTO__W_ROOM, "u", "ROOM"},
    {ACTO__W_MEMBER, "uubb", "MEMBER"},  {ACTO__W_LEAVE, "u", "LEAVE"},
    {ACTO__W_GREG, "uub", "GREG"},       {ACTO__W_GUNREG, "ub", "GUNREG"},
    {ACTO__W_JOIN, "ub", "JOIN"},        {ACTO__W_PART, "ub", "PART"},
    {ACTO__W_GCAST, "uubb", "GCAST"},
};

int acto__wire_parse(const msgpack_object *o, acto__wmsg *out, const char **reason) {
  memset(out, 0, sizeof *out);
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0) {
    *reason = "batch element is not a non-empty array";
    return ACTO_EPROTO;
  }
  const msgpack_object *e = o->via.array.ptr;
  if (e[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || e[0].via.u64 > 0xffffffffu) {
    *reason = "message kind is not a small positive integer";
    return ACTO_EPROTO;
  }
  const char *shape = NULL;
  for (size_t i = 0; i < sizeof SCHEMA / sizeof SCHEMA[0]; i++)
    if (SCHEMA[i].kind == e[0].via.u64)
      shape = SCHEMA[i].shape;
  if (!shape) {
    *reason = "unknown message kind";
    return ACTO_EPROTO;
  }
  size_t n = strlen(shape);
  if (o->via.array.size != n + 1) {
    *reason = "wrong number of fields for the message kind";
    return ACTO_EPROTO;
  }
  out->kind = (uint32_t)e[0].via.u64;
  size_t fi = 0;
  for (size_t i = 0; i < n; i++) {
    const msgpack_object *x = &e[i + 1];
    switch (shape[i]) {
    case 'u':
      if (x->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *reason = "field is not a non-negative integer";
        return ACTO_EPROTO;
      }
      out->f[fi++] = x->via.u64;
      break;
    case 'i':
      if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER && x->via.u64 <= 0x7fffffffu)
        out->status = (int64_t)x->via.u64;
      else if (x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && x->via.i64 >= INT32_MIN)
        out->status = x->via.i64;
      else {
        *reason = "status is not an int32";
        return ACTO_EPROTO;
      }
      break;
    case 'b':
      if (x->type != MSGPACK_OBJECT_BIN) {
        *reason = "payload is not a bin";
        return ACTO_EPROTO;
      }
      if (!out->payload) {
        out->payload = (const uint8_t *)x->via.bin.ptr;
        out->payload_len = x->via.bin.size;
        if (!out->payload)
          out->payload = (const uint8_t *)""; /* an empty bin: still "seen" */
      } else {
        out->payload2 = (const uint8_t *)x->via.bin.ptr;
        out->payload2_len = x->via.bin.size;
      }
      break;
    }
  }
  return 0;
}
