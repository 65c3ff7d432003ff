/* acto_msgpack.h - msgpack payloads: the documented way to put structured
 * data into messages that cross nodes (ACTORS.md, "Portable payloads").
 *
 * A payload is bytes; a C struct copied into them means the same thing
 * only to a program built by the same compiler for the same machine.
 * msgpack (msgpack-c, already acto's dependency) gives payloads a meaning
 * that every node, and a client in any language, can read.  This header
 * gives the four pieces acto adds to msgpack-c:
 *
 *   - acto_msgpack_check / acto_msgpack_decode: a received payload is
 *     checked structurally before msgpack-c sees a byte of it (msgpack-c
 *     reserves memory from a declared array length before it reads the
 *     elements: 5 bytes can ask it for 6.4 GB), then decoded whole;
 *   - acto_msgpack_buf: a growable buffer with a msgpack_packer writing
 *     into it, which acto_msgpack_send and friends hand to the message
 *     without copying the packed bytes again;
 *   - acto_msgpack_pack_ref / acto_msgpack_get_ref: a ref inside a payload
 *     is the msgpack array [id, node] of two unsigned integers;
 *   - ACTO_MSGPACK_STRUCT: a message type's fields declared once (an
 *     X-macro list) give a C struct, its pack, an unpack that validates
 *     every field and allocates nothing, and a printer.
 *
 * Opt-in: acto.h does not include this header, because it includes
 * <msgpack.h>; a program that uses it includes <acto/acto_msgpack.h> and
 * builds with msgpack-c itself as well as acto (pkg-config: `pkg-config
 * --cflags --libs acto msgpack`, msgpack-c 6: `msgpack-c`; ACTORS.md).
 *
 * Conventions as in acto_actor.h: 0 (or a count) on success, a negative
 * ACTO_E* code on failure; each doc comment ends with who may call it and
 * what happens to the buffers passed in.
 */
#ifndef ACTO_MSGPACK_H
#define ACTO_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "acto_actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checking and decoding a received payload ------------------------ */

/* Nesting limits of acto_msgpack_check and acto_msgpack_decode: the
 * default (max_depth 0) and the largest accepted, the depth msgpack-c's
 * parser handles.  A top-level array is depth 1, [[]] depth 2. */
#define ACTO_MSGPACK_DEPTH_DEFAULT 16u
#define ACTO_MSGPACK_DEPTH_MAX 32u

/* Why a payload was refused.  acto zeroes it whole and fills it in. */
typedef struct acto_msgpack_result {
  /* NULL on success; otherwise a static string naming the broken rule
   * ("container declares more elements than the remaining bytes can
   * hold", "wrong type", ...): fit for counting by pointer or text. */
  const char *reason;
  size_t offset;        /* on failure: the offset of the offending byte */
  const char *field;    /* a struct's unpack: the field's name (static), else NULL */
  char detail[160];     /* on failure: the same with the numbers; "" on success */
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_msgpack_result;

/* Checks that data[0..size) is exactly one msgpack object: not empty, no
 * byte 0xc1, every str/bin/ext byte and every declared array element and
 * map pair present (a container that declares more elements than the
 * bytes left could hold is refused at its header), nesting at most
 * max_depth (0: ACTO_MSGPACK_DEPTH_DEFAULT), nothing after it.  One pass,
 * no allocation, fixed stack.  Returns 0, ACTO_EPROTO (malformed:
 * truncated, trailing bytes, 0xc1, counts larger than the bytes),
 * ACTO_ELIMIT (nested deeper than max_depth), ACTO_EINVAL (data NULL with
 * size > 0, max_depth above ACTO_MSGPACK_DEPTH_MAX).  Thread-safe; data
 * is borrowed until the call returns. */
ACTO_API int acto_msgpack_check(const void *data, size_t size, unsigned max_depth);

/* acto_msgpack_check that says why in *res (may be NULL). */
ACTO_API int acto_msgpack_check_ex(const void *data, size_t size, unsigned max_depth,
                                   acto_msgpack_result *res);

/* Checks data[0..size) as acto_msgpack_check does, then decodes it with
 * msgpack_unpack_next into *out, accepting only MSGPACK_UNPACK_SUCCESS
 * with every byte consumed (any other outcome is ACTO_EPROTO, never "out
 * of memory").  *out must have been initialised with
 * msgpack_unpacked_init; what it held is released first; on failure it
 * is left empty.  Returns 0 or the codes of acto_msgpack_check; res (may
 * be NULL) says why.
 *
 * The decoded str, bin and ext objects point into data and are not
 * NUL-terminated: for a message's payload they are borrowed until the
 * handler returns; copy what you keep, and never pass them to "%s" or
 * strcmp.  Release *out with msgpack_unpacked_destroy, on success and
 * failure alike.  Thread-safe; data is borrowed as said. */
ACTO_API int acto_msgpack_decode(const void *data, size_t size, unsigned max_depth,
                                 msgpack_unpacked *out, acto_msgpack_result *res);

/* acto_msgpack_decode of a message's payload (ACTO_EINVAL for msg NULL).
 * Inside the handler that received msg. */
ACTO_API int acto_msgpack_decode_msg(const acto_msg *msg, unsigned max_depth, msgpack_unpacked *out,
                                     acto_msgpack_result *res);

/* ---- refs inside payloads -------------------------------------------- */

/* A ref is packed as the msgpack array [id, node]: exactly two unsigned
 * integers (msgpack-c picks the smallest encoding; a reader accepts any
 * integer encoding holding a value >= 0).  ACTO_REF_NONE is [0, 0].  It
 * is the same on every machine and in every language; never memcpy an
 * acto_ref into a payload.
 *
 * acto_msgpack_pack_ref returns 0, ACTO_EINVAL (pk NULL) or ACTO_ENOMEM
 * (the packer's write failed).  Thread-safe. */
ACTO_API int acto_msgpack_pack_ref(msgpack_packer *pk, acto_ref ref);

/* Reads a ref from a decoded object: 0, or ACTO_EPROTO when o is not an
 * array of exactly two non-negative integers (out untouched), ACTO_EINVAL
 * for NULL.  Thread-safe; o is borrowed until the call returns. */
ACTO_API int acto_msgpack_get_ref(const msgpack_object *o, acto_ref *out);

/* ---- packing into a message without copying -------------------------- */

/* A growable buffer that acto owns, with a msgpack_packer that writes
 * into it.  Up to ACTO_INLINE_MAX bytes are packed into `small` inside the
 * struct (no allocation: on the stack when the struct is); more move once
 * into a heap block that grows by doubling (acto_msgpack_buf_reserve
 * sizes it up front).  A write that fails (out of memory, or past
 * ACTO_MSG_MAX_SIZE) makes msgpack_pack_* return -1 and is remembered in
 * `error`: every later write fails too, and the send reports it.
 * The packer points at the struct: do not copy or move the struct after
 * acto_msgpack_buf_init.  Read data/size; write nothing but through the
 * packer. */
typedef struct acto_msgpack_buf {
  char *data;           /* the packed bytes: `small` or a heap block */
  size_t size;          /* bytes packed */
  size_t cap;           /* bytes data can hold */
  int error;            /* 0, or the first failed write's ACTO_ENOMEM / ACTO_ETOOBIG */
  msgpack_packer pk;    /* writes into this buffer: acto_msgpack_buf_packer */
  uint64_t reserved[2]; /* zero: room to grow (ACTORS.md "Versions") */
  char small[ACTO_INLINE_MAX];
} acto_msgpack_buf;

/* Makes *b an empty buffer (nothing allocated).  ACTO_EINVAL for NULL.
 * Thread-safe. */
ACTO_API int acto_msgpack_buf_init(acto_msgpack_buf *b);

/* Makes room for `bytes` more packed bytes at once, so that packing them
 * moves nothing.  0, ACTO_ENOMEM, ACTO_ETOOBIG (past ACTO_MSG_MAX_SIZE),
 * ACTO_EINVAL (NULL, or an earlier write failed: b->error).  Thread-safe. */
ACTO_API int acto_msgpack_buf_reserve(acto_msgpack_buf *b, size_t bytes);

/* Empties *b and frees its heap block: the buffer is as after
 * acto_msgpack_buf_init.  For a buffer that is not sent (a send empties it
 * by itself).  NULL is ignored.  Thread-safe. */
ACTO_API void acto_msgpack_buf_free(acto_msgpack_buf *b);

/* The packer that writes into b: pass it to msgpack_pack_* and to the
 * _pack functions of ACTO_MSGPACK_STRUCT. */
static inline msgpack_packer *acto_msgpack_buf_packer(acto_msgpack_buf *b) { return &b->pk; }

/* acto_send_ex of the bytes packed into b, which must be exactly one
 * msgpack object (checked as by acto_msgpack_check with
 * ACTO_MSGPACK_DEPTH_MAX: ACTO_EPROTO otherwise, ACTO_ELIMIT when deeper).
 * A heap block is handed to the message as it is, never copied (the
 * handler's msg->data is the block b->data pointed to; a remote send
 * copies it once, into the frame); bytes still in `small` are copied
 * into the message block like any payload of up to ACTO_INLINE_MAX bytes.
 * opts as for acto_send_ex (may be NULL) but with free_fn NULL
 * (ACTO_EINVAL otherwise).  Returns acto_send_ex's codes, or b->error
 * when a write failed, ACTO_EINVAL for NULL or an empty b.
 * On every return, success or error, the packed bytes have left b: they
 * are the message's, or freed; b is empty and may be packed into again.
 * Thread-safe. */
ACTO_API int acto_msgpack_send(acto_system *sys, acto_ref to, uint32_t type, acto_msgpack_buf *b,
                               const acto_send_opts *opts);

/* acto_ask, acto_ask_async, acto_reply and acto_reply_to with the bytes
 * packed into b, handed over as acto_msgpack_send does (checked the same
 * way; b is empty on every return).  Each is called where the call it
 * mirrors may be, with the same other arguments and the same codes. */
ACTO_API int acto_msgpack_ask(acto_system *sys, acto_ref to, uint32_t type, acto_msgpack_buf *b,
                              int64_t timeout_ms, acto_reply_buf *out);
ACTO_API int acto_msgpack_ask_async(acto_ctx *ctx, acto_ref to, uint32_t type, acto_msgpack_buf *b,
                                    int64_t timeout_ms, acto_reply_fn fn, void *user,
                                    uint64_t *ask_id_out);
ACTO_API int acto_msgpack_reply(acto_ctx *ctx, uint32_t type, acto_msgpack_buf *b);
ACTO_API int acto_msgpack_reply_to(acto_system *sys, const acto_reply_token *tok, uint32_t type,
                                   acto_msgpack_buf *b);

/* ---- message types declared once: ACTO_MSGPACK_STRUCT ---------------- */

/* A message type is a list of fields, written once as an X-macro:
 *
 *   #define CHAT_SAY(F) F(str, room, 32) F(u32, seq) F(ref, from) F(bin, text, 512)
 *   ACTO_MSGPACK_STRUCT(chat_say, CHAT_SAY)
 *
 * Each entry is F(kind, name) or, for str and bin, F(kind, name, max):
 *
 *   kind   C member                              msgpack
 *   bool   _Bool name                            true / false
 *   u8 u16 u32 u64   uintN_t name                an integer in range (any encoding)
 *   i8 i16 i32 i64   intN_t name                 an integer in range (any encoding)
 *   f64    double name                           float 32/64, or any integer
 *   str    char name[max + 1], NUL-terminated    str of at most max bytes, no NUL
 *   bin    uint8_t name[max]; size_t name_len    bin of at most max bytes
 *   ref    acto_ref name                         [id, node], two unsigned integers
 *
 * and ACTO_MSGPACK_STRUCT(type, LIST) defines `typedef struct type {...}
 * type;` with those members in order, and static inline functions:
 *
 *   int type_pack(msgpack_packer *pk, const type *v);
 *   int type_unpack(const void *data, size_t size, type *out, acto_msgpack_result *res);
 *   int type_unpack_msg(const acto_msg *msg, type *out, acto_msgpack_result *res);
 *   int type_print(const type *v, char *buf, size_t cap);
 *   int type_send(acto_system *sys, acto_ref to, uint32_t mtype, const type *v,
 *                 const acto_send_opts *opts);
 *   int type_reply(acto_ctx *ctx, uint32_t mtype, const type *v);
 *   const acto_msgpack_schema *type_schema(void);
 *
 * The encoding is a msgpack array of the fields in the order of the list,
 * nothing else: what a client in another language writes.  A list has at
 * least one field.  _pack, _unpack and _print are acto_msgpack_struct_pack,
 * _unpack and _print below with the type's schema; _send packs into an
 * acto_msgpack_buf on the stack and sends it with acto_msgpack_send,
 * _reply likewise with acto_msgpack_reply.  C only (C++ has no _Bool
 * members in this form, nor designated offsets). */

/* Field kinds (acto_msgpack_field.kind). */
typedef enum acto_msgpack_kind {
  ACTO_MSGPACK_BOOL = 1,
  ACTO_MSGPACK_U8,
  ACTO_MSGPACK_U16,
  ACTO_MSGPACK_U32,
  ACTO_MSGPACK_U64,
  ACTO_MSGPACK_I8,
  ACTO_MSGPACK_I16,
  ACTO_MSGPACK_I32,
  ACTO_MSGPACK_I64,
  ACTO_MSGPACK_F64,
  ACTO_MSGPACK_STR,
  ACTO_MSGPACK_BIN,
  ACTO_MSGPACK_REF
} acto_msgpack_kind;

/* One field and one type, as ACTO_MSGPACK_STRUCT writes them (build them
 * through it: the reserved words must be zero). */
typedef struct acto_msgpack_field {
  const char *name;
  int kind;          /* acto_msgpack_kind */
  size_t offset;     /* of the member */
  size_t max;        /* str, bin: the most bytes; else 0 */
  size_t len_offset; /* bin: of the size_t name_len member; else 0 */
  uint64_t reserved[1];
} acto_msgpack_field;

typedef struct acto_msgpack_schema {
  const char *name; /* the type's name, for messages and the printer */
  size_t size;      /* sizeof the struct */
  size_t nfields;
  const acto_msgpack_field *fields;
  uint64_t reserved[2];
} acto_msgpack_schema;

/* Packs *v as the array of its fields.  Every field is checked first (a
 * str that is not NUL-terminated within max + 1 bytes, a bin length above
 * max, a bool that is neither 0 nor 1: ACTO_EINVAL naming nothing
 * packed), so a refused value leaves nothing half-packed.  Returns 0,
 * ACTO_EINVAL, ACTO_ENOMEM (the packer's write failed).  Thread-safe; v is
 * borrowed until the call returns. */
ACTO_API int acto_msgpack_struct_pack(msgpack_packer *pk, const acto_msgpack_schema *s,
                                      const void *v);

/* Reads data[0..size) into *out (s->size bytes), checking everything: a
 * msgpack array of exactly s->nfields elements and nothing after it, each
 * of its field's kind, integers within the member's range, str and bin at
 * most max bytes, no NUL inside a str (copied and NUL-terminated), a ref
 * of exactly two non-negative integers.  Reads the bytes directly:
 * allocates nothing and never hands them to msgpack-c, so a header that
 * declares four billion elements costs one comparison.  Returns 0, or
 * ACTO_EPROTO with *res (may be NULL) naming the field and the rule, and
 * *out zeroed; ACTO_EINVAL for NULL arguments (data may be NULL when size
 * is 0: ACTO_EPROTO).  Thread-safe; data is borrowed until the call
 * returns, nothing in *out points into it. */
ACTO_API int acto_msgpack_struct_unpack(const acto_msgpack_schema *s, const void *data, size_t size,
                                        void *out, acto_msgpack_result *res);

/* Writes `type{room="x", seq=3, from=ref(0x..., 0x...), text=bin(5):68656c6c6f}`
 * into buf with snprintf's rules: at most cap bytes, NUL included (buf may
 * be NULL when cap is 0); returns the length the whole text has (not
 * counting the NUL), or ACTO_EINVAL.  str bytes other than printable
 * ASCII, '"' and '\\' are escaped (\xNN, \", \\); a bin shows its first
 * 32 bytes in hex and then "...".  Thread-safe; v is borrowed until the
 * call returns. */
ACTO_API int acto_msgpack_struct_print(const acto_msgpack_schema *s, const void *v, char *buf,
                                       size_t cap);

/* The macro machinery: ACTO_MSGPACK__M_<kind> declare the members,
 * ACTO_MSGPACK__F_<kind> describe them. */
#define ACTO_MSGPACK__MEMBER(kind, ...) ACTO_MSGPACK__M_##kind(__VA_ARGS__)
#define ACTO_MSGPACK__M_bool(n) _Bool n;
#define ACTO_MSGPACK__M_u8(n) uint8_t n;
#define ACTO_MSGPACK__M_u16(n) uint16_t n;
#define ACTO_MSGPACK__M_u32(n) uint32_t n;
#define ACTO_MSGPACK__M_u64(n) uint64_t n;
#define ACTO_MSGPACK__M_i8(n) int8_t n;
#define ACTO_MSGPACK__M_i16(n) int16_t n;
#define ACTO_MSGPACK__M_i32(n) int32_t n;
#define ACTO_MSGPACK__M_i64(n) int64_t n;
#define ACTO_MSGPACK__M_f64(n) double n;
#define ACTO_MSGPACK__M_str(n, max) char n[(max) + 1];
#define ACTO_MSGPACK__M_bin(n, max)                                                                \
  size_t n##_len;                                                                                  \
  uint8_t n[(max) > 0 ? (max) : 1];
#define ACTO_MSGPACK__M_ref(n) acto_ref n;

#define ACTO_MSGPACK__FIELD(kind, ...) ACTO_MSGPACK__F_##kind(__VA_ARGS__)
#define ACTO_MSGPACK__F(k, n, max, len_off)                                                        \
  {#n, k, offsetof(acto_msgpack__self, n), (size_t)(max), (size_t)(len_off), {0}},
#define ACTO_MSGPACK__F_bool(n) ACTO_MSGPACK__F(ACTO_MSGPACK_BOOL, n, 0, 0)
#define ACTO_MSGPACK__F_u8(n) ACTO_MSGPACK__F(ACTO_MSGPACK_U8, n, 0, 0)
#define ACTO_MSGPACK__F_u16(n) ACTO_MSGPACK__F(ACTO_MSGPACK_U16, n, 0, 0)
#define ACTO_MSGPACK__F_u32(n) ACTO_MSGPACK__F(ACTO_MSGPACK_U32, n, 0, 0)
#define ACTO_MSGPACK__F_u64(n) ACTO_MSGPACK__F(ACTO_MSGPACK_U64, n, 0, 0)
#define ACTO_MSGPACK__F_i8(n) ACTO_MSGPACK__F(ACTO_MSGPACK_I8, n, 0, 0)
#define ACTO_MSGPACK__F_i16(n) ACTO_MSGPACK__F(ACTO_MSGPACK_I16, n, 0, 0)
#define ACTO_MSGPACK__F_i32(n) ACTO_MSGPACK__F(ACTO_MSGPACK_I32, n, 0, 0)
#define ACTO_MSGPACK__F_i64(n) ACTO_MSGPACK__F(ACTO_MSGPACK_I64, n, 0, 0)
#define ACTO_MSGPACK__F_f64(n) ACTO_MSGPACK__F(ACTO_MSGPACK_F64, n, 0, 0)
#define ACTO_MSGPACK__F_str(n, max) ACTO_MSGPACK__F(ACTO_MSGPACK_STR, n, max, 0)
#define ACTO_MSGPACK__F_bin(n, max)                                                                \
  ACTO_MSGPACK__F(ACTO_MSGPACK_BIN, n, max, offsetof(acto_msgpack__self, n##_len))
#define ACTO_MSGPACK__F_ref(n) ACTO_MSGPACK__F(ACTO_MSGPACK_REF, n, 0, 0)

/* A type's functions are there to be used or not: no warning for the
 * ones a file leaves unused (clang warns about static inline ones defined
 * in the main file). */
#if defined(__GNUC__)
#define ACTO_MSGPACK__UNUSED __attribute__((unused))
#else
#define ACTO_MSGPACK__UNUSED
#endif

#define ACTO_MSGPACK_STRUCT(type, LIST)                                                            \
  typedef struct type {                                                                            \
    LIST(ACTO_MSGPACK__MEMBER)                                                                     \
  } type;                                                                                          \
  static inline ACTO_MSGPACK__UNUSED const acto_msgpack_schema *type##_schema(void) {              \
    typedef type acto_msgpack__self;                                                               \
    static const acto_msgpack_field fields[] = {LIST(ACTO_MSGPACK__FIELD)};                        \
    static const acto_msgpack_schema schema = {                                                    \
        #type, sizeof(type), sizeof fields / sizeof fields[0], fields, {0}};                       \
    return &schema;                                                                                \
  }                                                                                                \
  static inline ACTO_MSGPACK__UNUSED int type##_pack(msgpack_packer *pk, const type *v) {          \
    return acto_msgpack_struct_pack(pk, type##_schema(), v);                                       \
  }                                                                                                \
  static inline ACTO_MSGPACK__UNUSED int type##_unpack(const void *data, size_t size, type *out,   \
                                                       acto_msgpack_result *res) {                 \
    return acto_msgpack_struct_unpack(type##_schema(), data, size, out, res);                      \
  }                                                                                                \
  static inline ACTO_MSGPACK__UNUSED int type##_unpack_msg(const acto_msg *msg, type *out,         \
                                                           acto_msgpack_result *res) {             \
    if (!msg)                                                                                      \
      return ACTO_EINVAL;                                                                          \
    return acto_msgpack_struct_unpack(type##_schema(), msg->data, msg->size, out, res);            \
  }                                                                                                \
  static inline ACTO_MSGPACK__UNUSED int type##_print(const type *v, char *buf, size_t cap) {      \
    return acto_msgpack_struct_print(type##_schema(), v, buf, cap);                                \
  }                                                                                                \
  static inline ACTO_MSGPACK__UNUSED int type##_send(                                              \
      acto_system *sys, acto_ref to, uint32_t mtype, const type *v, const acto_send_opts *opts) {  \
    acto_msgpack_buf b;                                                                            \
    int rc = acto_msgpack_buf_init(&b);                                                            \
    if (rc == 0)                                                                                   \
      rc = acto_msgpack_struct_pack(acto_msgpack_buf_packer(&b), type##_schema(), v);              \
    if (rc != 0) {                                                                                 \
      acto_msgpack_buf_free(&b);                                                                   \
      return rc;                                                                                   \
    }                                                                                              \
    return acto_msgpack_send(sys, to, mtype, &b, opts);                                            \
  }                                                                                                \
  static inline ACTO_MSGPACK__UNUSED int type##_reply(acto_ctx *ctx, uint32_t mtype,               \
                                                      const type *v) {                             \
    acto_msgpack_buf b;                                                                            \
    int rc = acto_msgpack_buf_init(&b);                                                            \
    if (rc == 0)                                                                                   \
      rc = acto_msgpack_struct_pack(acto_msgpack_buf_packer(&b), type##_schema(), v);              \
    if (rc != 0) {                                                                                 \
      acto_msgpack_buf_free(&b);                                                                   \
      return rc;                                                                                   \
    }                                                                                              \
    return acto_msgpack_reply(ctx, mtype, &b);                                                     \
  }

#ifdef __cplusplus
}
#endif
#endif /* ACTO_MSGPACK_H */
