/* msgpack.c - the public face of the pre-scan (acto_msgpack_check, the
 * guarded acto_msgpack_decode) and the encoding of refs inside payloads
 * (acto_msgpack.h).
 *
 * DESIGN
 * The checks are the transport's own (codec/prescan.c): one bounded pass
 * with no allocation, then msgpack_unpack_next only on a payload that
 * passed, accepted only when it decodes completely.  The kind rule of the
 * transport's batches is not applied: a user payload may be any one
 * object.  A ref is the array [id, node]; it is read back from a decoded
 * object with every rule of that shape checked, since the bytes come from
 * another node.
 */
#include <string.h>

#include "acto_msgpack.h"
#include "codec/prescan.h"

/* Copies what the pre-scan found into the public result. */
static void to_result(const acto__prescan_result *in, acto_msgpack_result *out) {
  if (!out)
    return;
  memset(out, 0, sizeof *out);
  out->reason = in->reason;
  out->offset = in->offset;
  memcpy(out->detail, in->detail,
         sizeof in->detail < sizeof out->detail ? sizeof in->detail : sizeof out->detail);
  out->detail[sizeof out->detail - 1] = '\0';
}

int acto_msgpack_check_ex(const void *data, size_t size, unsigned max_depth,
                          acto_msgpack_result *res) {
  acto__prescan_result r;
  int rc = acto__prescan_check(data, size, max_depth, 0, &r);
  to_result(&r, res);
  return rc;
}

int acto_msgpack_check(const void *data, size_t size, unsigned max_depth) {
  return acto__prescan_check(data, size, max_depth, 0, NULL);
}

int acto_msgpack_decode(const void *data, size_t size, unsigned max_depth, msgpack_unpacked *out,
                        acto_msgpack_result *res) {
  acto__prescan_result r;
  int rc = acto__prescan_decode(data, size, max_depth, 0, out, &r);
  to_result(&r, res);
  return rc;
}

int acto_msgpack_decode_msg(const acto_msg *msg, unsigned max_depth, msgpack_unpacked *out,
                            acto_msgpack_result *res) {
  if (!msg) {
    if (res) {
      memset(res, 0, sizeof *res);
      res->reason = "no message";
      strcpy(res->detail, "no message (NULL)");
    }
    return ACTO_EINVAL;
  }
  return acto_msgpack_decode(msg->data, msg->size, max_depth, out, res);
}

int acto_msgpack_pack_ref(msgpack_packer *pk, acto_ref ref) {
  if (!pk)
    return ACTO_EINVAL;
  if (msgpack_pack_array(pk, 2) != 0 || msgpack_pack_uint64(pk, ref.id) != 0 ||
      msgpack_pack_uint64(pk, ref.node) != 0)
    return ACTO_ENOMEM;
  return 0;
}

int acto_msgpack_get_ref(const msgpack_object *o, acto_ref *out) {
  if (!o || !out)
    return ACTO_EINVAL;
  /* msgpack-c types every integer >= 0 POSITIVE_INTEGER, whatever its
   * encoding (int8..int64 included). */
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
      o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
      o->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return ACTO_EPROTO;
  out->id = o->via.array.ptr[0].via.u64;
  out->node = o->via.array.ptr[1].via.u64;
  return 0;
}
