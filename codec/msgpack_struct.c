/* msgpack_struct.c - the message types of ACTO_MSGPACK_STRUCT: pack,
 * validating unpack and printer, driven by the schema the macro writes
 * (acto_msgpack.h).
 *
 * DESIGN
 * The macro turns a field list into a C struct and a table of its fields
 * (name, kind, offset, bound); the three functions here walk that table,
 * so every message type shares one encoder, one decoder and one printer,
 * as CAF's inspectors share one `inspect` per type.
 *
 * Encoding: the array of the fields in order.  The unpack reads the bytes
 * itself with a cursor that checks every length against what remains
 * before it reads: no msgpack-c, no allocation, no pre-scan needed (the
 * shape is fixed, and a container header whose count is not the expected
 * one is refused on the spot).  Integers are taken in any msgpack
 * encoding and checked against the member's range, as the wire protocol
 * does (ACTORS.md 13.5, "Encodings"); a str must be a str and a bin a bin.
 * On any refusal the output is zeroed, so a caller that ignores the code
 * still reads no half-filled message.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "acto_msgpack.h"

/* The refusals, one static string each (acto_msgpack_result.reason). */
static const char R_ARGS[] = "bad arguments";
static const char R_NOT_ARRAY[] = "not an array";
static const char R_COUNT[] = "wrong number of fields";
static const char R_TRUNC[] = "truncated";
static const char R_TYPE[] = "wrong type";
static const char R_RANGE[] = "integer out of range";
static const char R_LONG[] = "too long";
static const char R_NUL[] = "NUL inside a str";
static const char R_TRAILING[] = "bytes after the message";

static int valid_schema(const acto_msgpack_schema *s) {
  if (!s || !s->fields || s->nfields == 0 || s->nfields > UINT32_MAX || s->reserved[0] ||
      s->reserved[1])
    return 0;
  for (size_t i = 0; i < s->nfields; i++) {
    const acto_msgpack_field *f = &s->fields[i];
    if (!f->name || f->kind < ACTO_MSGPACK_BOOL || f->kind > ACTO_MSGPACK_REF || f->reserved[0] ||
        f->offset >= s->size)
      return 0;
  }
  return 1;
}

/* ---- unpack: a cursor over the bytes ----------------------------------------------- */

typedef struct cur {
  const uint8_t *p;
  size_t len, pos;
  const acto_msgpack_schema *s;
  const acto_msgpack_field *f; /* the field being read, NULL before the first */
  acto_msgpack_result *res;
} cur;

__attribute__((format(printf, 4, 5))) static int refuse(cur *c, const char *reason, size_t at,
                                                        const char *fmt, ...) {
  acto_msgpack_result *res = c->res;
  res->reason = reason;
  res->offset = at;
  res->field = c->f ? c->f->name : NULL;
  int n = c->f ? snprintf(res->detail, sizeof res->detail, "%s.%s: ", c->s->name, c->f->name)
               : snprintf(res->detail, sizeof res->detail, "%s: ", c->s->name);
  if (n < 0 || (size_t)n >= sizeof res->detail)
    n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->detail + n, sizeof res->detail - (size_t)n, fmt, ap);
  va_end(ap);
  return ACTO_EPROTO;
}

static uint64_t load_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Takes n bytes at the cursor; NULL (refused) when fewer remain. */
static const uint8_t *take(cur *c, size_t n, size_t at) {
  if (n > c->len - c->pos) {
    refuse(c, R_TRUNC, at, "needs %zu more bytes at offset %zu, %zu remain", n, c->pos,
           c->len - c->pos);
    return NULL;
  }
  const uint8_t *q = c->p + c->pos;
  c->pos += n;
  return q;
}

/* A name for what a type byte starts, for messages. */
static const char *what(uint8_t b) {
  if (b <= 0x7f)
    return "a positive fixint";
  if (b <= 0x8f)
    return "a map";
  if (b <= 0x9f)
    return "an array";
  if (b <= 0xbf)
    return "a str";
  if (b >= 0xe0)
    return "a negative fixint";
  switch (b) {
  case 0xc0:
    return "nil";
  case 0xc1:
    return "the byte 0xc1";
  case 0xc2:
  case 0xc3:
    return "a bool";
  case 0xc4:
  case 0xc5:
  case 0xc6:
    return "a bin";
  case 0xc7:
  case 0xc8:
  case 0xc9:
  case 0xd4:
  case 0xd5:
  case 0xd6:
  case 0xd7:
  case 0xd8:
    return "an ext";
  case 0xca:
  case 0xcb:
    return "a float";
  case 0xcc:
  case 0xcd:
  case 0xce:
  case 0xcf:
    return "an unsigned integer";
  case 0xd0:
  case 0xd1:
  case 0xd2:
  case 0xd3:
    return "a signed integer";
  case 0xd9:
  case 0xda:
  case 0xdb:
    return "a str";
  case 0xdc:
  case 0xdd:
    return "an array";
  default:
    return "a map";
  }
}

/* An array header: its count, or refused. */
static int read_array(cur *c, uint64_t *count) {
  size_t at = c->pos;
  const uint8_t *b = take(c, 1, at);
  if (!b)
    return ACTO_EPROTO;
  if (*b >= 0x90 && *b <= 0x9f) {
    *count = *b & 0x0f;
    return 0;
  }
  if (*b == 0xdc || *b == 0xdd) {
    size_t w = *b == 0xdc ? 2 : 4;
    const uint8_t *q = take(c, w, at);
    if (!q)
      return ACTO_EPROTO;
    *count = load_be(q, w);
    return 0;
  }
  return refuse(c, c->f ? R_TYPE : R_NOT_ARRAY, at, "expected an array, got %s at offset %zu",
                what(*b), at);
}

/* An integer in any encoding: *neg set for a negative value (in *i),
 * else the value in *u.  ACTO_EPROTO for anything else. */
static int read_int(cur *c, const char *want, int *neg, uint64_t *u, int64_t *i) {
  size_t at = c->pos;
  const uint8_t *b = take(c, 1, at);
  if (!b)
    return ACTO_EPROTO;
  *neg = 0;
  if (*b <= 0x7f) {
    *u = *b;
    return 0;
  }
  if (*b >= 0xe0) {
    *neg = 1;
    *i = (int8_t)*b;
    return 0;
  }
  if (*b >= 0xcc && *b <= 0xd3) {
    size_t w = (size_t)1 << ((*b - 0xcc) & 3);
    const uint8_t *q = take(c, w, at);
    if (!q)
      return ACTO_EPROTO;
    uint64_t v = load_be(q, w);
    if (*b <= 0xcf) {
      *u = v;
      return 0;
    }
    /* int8..int64: sign-extend from w bytes */
    int64_t sv = w == 8 ? (int64_t)v
                        : (int64_t)(v ^ ((uint64_t)1 << (8 * w - 1))) - ((int64_t)1 << (8 * w - 1));
    if (sv >= 0) {
      *u = (uint64_t)sv;
    } else {
      *neg = 1;
      *i = sv;
    }
    return 0;
  }
  return refuse(c, R_TYPE, at, "expected %s, got %s at offset %zu", want, what(*b), at);
}

static int read_uint(cur *c, const char *want, uint64_t max, uint64_t *out) {
  size_t at = c->pos;
  int neg;
  uint64_t u = 0;
  int64_t i = 0;
  int rc = read_int(c, want, &neg, &u, &i);
  if (rc != 0)
    return rc;
  if (neg)
    return refuse(c, R_RANGE, at, "expected %s, got the negative %" PRId64 " at offset %zu", want,
                  i, at);
  if (u > max)
    return refuse(c, R_RANGE, at, "expected %s, got %" PRIu64 " at offset %zu", want, u, at);
  *out = u;
  return 0;
}

static int read_sint(cur *c, const char *want, int64_t min, int64_t max, int64_t *out) {
  size_t at = c->pos;
  int neg;
  uint64_t u = 0;
  int64_t i = 0;
  int rc = read_int(c, want, &neg, &u, &i);
  if (rc != 0)
    return rc;
  if (!neg && u > (uint64_t)max)
    return refuse(c, R_RANGE, at, "expected %s, got %" PRIu64 " at offset %zu", want, u, at);
  if (neg && i < min)
    return refuse(c, R_RANGE, at, "expected %s, got %" PRId64 " at offset %zu", want, i, at);
  *out = neg ? i : (int64_t)u;
  return 0;
}

/* A str (str != 0) or bin header and its data. */
static int read_bytes(cur *c, int str, size_t max, const uint8_t **data, size_t *n) {
  size_t at = c->pos;
  const uint8_t *b = take(c, 1, at);
  if (!b)
    return ACTO_EPROTO;
  uint64_t len;
  size_t w = 0;
  if (str && *b >= 0xa0 && *b <= 0xbf) {
    len = *b & 0x1f;
  } else if (str && *b >= 0xd9 && *b <= 0xdb) {
    w = (size_t)1 << (*b - 0xd9);
  } else if (!str && *b >= 0xc4 && *b <= 0xc6) {
    w = (size_t)1 << (*b - 0xc4);
  } else {
    return refuse(c, R_TYPE, at, "expected a %s, got %s at offset %zu", str ? "str" : "bin",
                  what(*b), at);
  }
  if (w) {
    const uint8_t *q = take(c, w, at);
    if (!q)
      return ACTO_EPROTO;
    len = load_be(q, w);
  }
  if (len > max)
    return refuse(c, R_LONG, at, "a %s of %" PRIu64 " bytes at offset %zu, at most %zu allowed",
                  str ? "str" : "bin", len, at, max);
  const uint8_t *q = take(c, (size_t)len, at);
  if (!q)
    return ACTO_EPROTO;
  *data = q;
  *n = (size_t)len;
  return 0;
}

static int read_field(cur *c, const acto_msgpack_field *f, char *base) {
  void *m = base + f->offset;
  uint64_t u = 0;
  int64_t i = 0;
  int rc;
  switch ((acto_msgpack_kind)f->kind) {
  case ACTO_MSGPACK_BOOL: {
    size_t at = c->pos;
    const uint8_t *b = take(c, 1, at);
    if (!b)
      return ACTO_EPROTO;
    if (*b != 0xc2 && *b != 0xc3)
      return refuse(c, R_TYPE, at, "expected a bool, got %s at offset %zu", what(*b), at);
    *(_Bool *)m = *b == 0xc3;
    return 0;
  }
#define UINT_CASE(K, T, MAX, WANT)                                                                 \
  case K:                                                                                          \
    if ((rc = read_uint(c, WANT, MAX, &u)) != 0)                                                   \
      return rc;                                                                                   \
    *(T *)m = (T)u;                                                                                \
    return 0;
    UINT_CASE(ACTO_MSGPACK_U8, uint8_t, UINT8_MAX, "an unsigned integer up to 255")
    UINT_CASE(ACTO_MSGPACK_U16, uint16_t, UINT16_MAX, "an unsigned integer up to 65535")
    UINT_CASE(ACTO_MSGPACK_U32, uint32_t, UINT32_MAX, "an unsigned integer up to 4294967295")
    UINT_CASE(ACTO_MSGPACK_U64, uint64_t, UINT64_MAX, "an unsigned integer")
#undef UINT_CASE
#define SINT_CASE(K, T, MIN, MAX, WANT)                                                            \
  case K:                                                                                          \
    if ((rc = read_sint(c, WANT, MIN, MAX, &i)) != 0)                                              \
      return rc;                                                                                   \
    *(T *)m = (T)i;                                                                                \
    return 0;
    SINT_CASE(ACTO_MSGPACK_I8, int8_t, INT8_MIN, INT8_MAX, "an integer in -128..127")
    SINT_CASE(ACTO_MSGPACK_I16, int16_t, INT16_MIN, INT16_MAX, "an integer in -32768..32767")
    SINT_CASE(ACTO_MSGPACK_I32, int32_t, INT32_MIN, INT32_MAX, "an integer in int32 range")
    SINT_CASE(ACTO_MSGPACK_I64, int64_t, INT64_MIN, INT64_MAX, "an integer in int64 range")
#undef SINT_CASE
  case ACTO_MSGPACK_F64: {
    size_t at = c->pos;
    if (at < c->len && (c->p[at] == 0xca || c->p[at] == 0xcb)) {
      c->pos++;
      size_t w = c->p[at] == 0xca ? 4 : 8;
      const uint8_t *q = take(c, w, at);
      if (!q)
        return ACTO_EPROTO;
      uint64_t bits = load_be(q, w);
      if (w == 4) {
        uint32_t b32 = (uint32_t)bits;
        float fv;
        memcpy(&fv, &b32, sizeof fv);
        *(double *)m = fv;
      } else {
        double dv;
        memcpy(&dv, &bits, sizeof dv);
        *(double *)m = dv;
      }
      return 0;
    }
    int neg;
    if ((rc = read_int(c, "a float or an integer", &neg, &u, &i)) != 0)
      return rc;
    *(double *)m = neg ? (double)i : (double)u;
    return 0;
  }
  case ACTO_MSGPACK_STR: {
    const uint8_t *d;
    size_t n;
    size_t at = c->pos;
    if ((rc = read_bytes(c, 1, f->max, &d, &n)) != 0)
      return rc;
    const uint8_t *z = memchr(d, '\0', n);
    if (z)
      return refuse(c, R_NUL, at, "the str at offset %zu has a NUL at its byte %zu", at,
                    (size_t)(z - d));
    memcpy(m, d, n);
    ((char *)m)[n] = '\0';
    return 0;
  }
  case ACTO_MSGPACK_BIN: {
    const uint8_t *d;
    size_t n;
    if ((rc = read_bytes(c, 0, f->max, &d, &n)) != 0)
      return rc;
    if (n)
      memcpy(m, d, n);
    *(size_t *)(base + f->len_offset) = n;
    return 0;
  }
  case ACTO_MSGPACK_REF: {
    size_t at = c->pos;
    uint64_t count;
    if ((rc = read_array(c, &count)) != 0)
      return rc;
    if (count != 2)
      return refuse(c, R_COUNT, at,
                    "a ref is an array of 2 unsigned integers, got %" PRIu64
                    " elements at offset %zu",
                    count, at);
    acto_ref r;
    if ((rc = read_uint(c, "an unsigned integer (a ref's id)", UINT64_MAX, &r.id)) != 0 ||
        (rc = read_uint(c, "an unsigned integer (a ref's node)", UINT64_MAX, &r.node)) != 0)
      return rc;
    memcpy(m, &r, sizeof r);
    return 0;
  }
  }
  return refuse(c, R_ARGS, c->pos, "unknown field kind %d", f->kind);
}

int acto_msgpack_struct_unpack(const acto_msgpack_schema *s, const void *data, size_t size,
                               void *out, acto_msgpack_result *res) {
  acto_msgpack_result scratch;
  if (!res)
    res = &scratch;
  memset(res, 0, sizeof *res);
  if (!valid_schema(s) || !out || (!data && size > 0)) {
    res->reason = R_ARGS;
    snprintf(res->detail, sizeof res->detail, "%s: %s", s && s->name ? s->name : "?", R_ARGS);
    return ACTO_EINVAL;
  }
  cur c = {data, size, 0, s, NULL, res};
  char *base = out;
  memset(base, 0, s->size);
  uint64_t count;
  int rc = read_array(&c, &count);
  if (rc == 0 && count != s->nfields)
    rc = refuse(&c, R_COUNT, 0, "expected an array of %zu fields, got %" PRIu64, s->nfields, count);
  for (size_t k = 0; rc == 0 && k < s->nfields; k++) {
    c.f = &s->fields[k];
    rc = read_field(&c, c.f, base);
  }
  c.f = NULL;
  if (rc == 0 && c.pos != size)
    rc = refuse(&c, R_TRAILING, c.pos, "%zu bytes after the message, which ends at offset %zu",
                size - c.pos, c.pos);
  if (rc != 0)
    memset(base, 0, s->size);
  return rc;
}

/* ---- pack ---------------------------------------------------------------------- */

/* A value the struct cannot be packed from: 1, or 0 when it is fine. */
static int bad_value(const acto_msgpack_field *f, const char *base) {
  const void *m = base + f->offset;
  switch ((acto_msgpack_kind)f->kind) {
  case ACTO_MSGPACK_BOOL: {
    unsigned char b;
    memcpy(&b, m, 1);
    return b > 1;
  }
  case ACTO_MSGPACK_STR:
    return memchr(m, '\0', f->max + 1) == NULL;
  case ACTO_MSGPACK_BIN: {
    size_t n;
    memcpy(&n, base + f->len_offset, sizeof n);
    return n > f->max;
  }
  default:
    return 0;
  }
}

int acto_msgpack_struct_pack(msgpack_packer *pk, const acto_msgpack_schema *s, const void *v) {
  if (!pk || !valid_schema(s) || !v)
    return ACTO_EINVAL;
  const char *base = v;
  for (size_t k = 0; k < s->nfields; k++)
    if (bad_value(&s->fields[k], base))
      return ACTO_EINVAL;
  int bad = msgpack_pack_array(pk, s->nfields);
  for (size_t k = 0; k < s->nfields && !bad; k++) {
    const acto_msgpack_field *f = &s->fields[k];
    const void *m = base + f->offset;
    switch ((acto_msgpack_kind)f->kind) {
    case ACTO_MSGPACK_BOOL:
      bad = *(const _Bool *)m ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
      break;
    case ACTO_MSGPACK_U8:
      bad = msgpack_pack_uint8(pk, *(const uint8_t *)m);
      break;
    case ACTO_MSGPACK_U16:
      bad = msgpack_pack_uint16(pk, *(const uint16_t *)m);
      break;
    case ACTO_MSGPACK_U32:
      bad = msgpack_pack_uint32(pk, *(const uint32_t *)m);
      break;
    case ACTO_MSGPACK_U64:
      bad = msgpack_pack_uint64(pk, *(const uint64_t *)m);
      break;
    case ACTO_MSGPACK_I8:
      bad = msgpack_pack_int8(pk, *(const int8_t *)m);
      break;
    case ACTO_MSGPACK_I16:
      bad = msgpack_pack_int16(pk, *(const int16_t *)m);
      break;
    case ACTO_MSGPACK_I32:
      bad = msgpack_pack_int32(pk, *(const int32_t *)m);
      break;
    case ACTO_MSGPACK_I64:
      bad = msgpack_pack_int64(pk, *(const int64_t *)m);
      break;
    case ACTO_MSGPACK_F64:
      bad = msgpack_pack_double(pk, *(const double *)m);
      break;
    case ACTO_MSGPACK_STR: {
      size_t n = strlen(m);
      bad = msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, m, n);
      break;
    }
    case ACTO_MSGPACK_BIN: {
      size_t n;
      memcpy(&n, base + f->len_offset, sizeof n);
      bad = msgpack_pack_bin(pk, n) || msgpack_pack_bin_body(pk, m, n);
      break;
    }
    case ACTO_MSGPACK_REF: {
      acto_ref r;
      memcpy(&r, m, sizeof r);
      bad = acto_msgpack_pack_ref(pk, r) != 0;
      break;
    }
    }
  }
  return bad ? ACTO_ENOMEM : 0;
}

/* ---- print ---------------------------------------------------------------------- */

typedef struct out {
  char *buf;
  size_t cap, len; /* len: the whole text's length so far */
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...) {
  int room = o->len < o->cap;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(room ? o->buf + o->len : NULL, room ? o->cap - o->len : 0, fmt, ap);
  va_end(ap);
  if (n > 0)
    o->len += (size_t)n;
}

int acto_msgpack_struct_print(const acto_msgpack_schema *s, const void *v, char *buf, size_t cap) {
  if (!valid_schema(s) || !v || (!buf && cap > 0))
    return ACTO_EINVAL;
  out o = {buf, cap, 0};
  const char *base = v;
  put(&o, "%s{", s->name);
  for (size_t k = 0; k < s->nfields; k++) {
    const acto_msgpack_field *f = &s->fields[k];
    const void *m = base + f->offset;
    put(&o, "%s%s=", k ? ", " : "", f->name);
    switch ((acto_msgpack_kind)f->kind) {
    case ACTO_MSGPACK_BOOL:
      put(&o, "%s", *(const _Bool *)m ? "true" : "false");
      break;
    case ACTO_MSGPACK_U8:
      put(&o, "%u", (unsigned)*(const uint8_t *)m);
      break;
    case ACTO_MSGPACK_U16:
      put(&o, "%u", (unsigned)*(const uint16_t *)m);
      break;
    case ACTO_MSGPACK_U32:
      put(&o, "%" PRIu32, *(const uint32_t *)m);
      break;
    case ACTO_MSGPACK_U64:
      put(&o, "%" PRIu64, *(const uint64_t *)m);
      break;
    case ACTO_MSGPACK_I8:
      put(&o, "%d", (int)*(const int8_t *)m);
      break;
    case ACTO_MSGPACK_I16:
      put(&o, "%d", (int)*(const int16_t *)m);
      break;
    case ACTO_MSGPACK_I32:
      put(&o, "%" PRId32, *(const int32_t *)m);
      break;
    case ACTO_MSGPACK_I64:
      put(&o, "%" PRId64, *(const int64_t *)m);
      break;
    case ACTO_MSGPACK_F64:
      put(&o, "%.17g", *(const double *)m);
      break;
    case ACTO_MSGPACK_STR: {
      const unsigned char *p = m;
      size_t n = strnlen(m, f->max + 1);
      put(&o, "\"");
      for (size_t j = 0; j < n; j++) {
        if (p[j] == '"' || p[j] == '\\')
          put(&o, "\\%c", p[j]);
        else if (p[j] < 0x20 || p[j] >= 0x7f)
          put(&o, "\\x%02x", p[j]);
        else
          put(&o, "%c", p[j]);
      }
      put(&o, "\"");
      break;
    }
    case ACTO_MSGPACK_BIN: {
      size_t n;
      memcpy(&n, base + f->len_offset, sizeof n);
      const unsigned char *p = m;
      put(&o, "bin(%zu)", n);
      if (n > f->max) { /* not a value _pack would take: say so, read nothing past max */
        put(&o, ":!");
        break;
      }
      if (n)
        put(&o, ":");
      for (size_t j = 0; j < n && j < 32; j++)
        put(&o, "%02x", p[j]);
      if (n > 32)
        put(&o, "...");
      break;
    }
    case ACTO_MSGPACK_REF: {
      acto_ref r;
      memcpy(&r, m, sizeof r);
      put(&o, "ref(0x%" PRIx64 ", 0x%" PRIx64 ")", r.id, r.node);
      break;
    }
    }
  }
  put(&o, "}");
  if (o.cap > 0)
    o.buf[o.len < o.cap ? o.len : o.cap - 1] = '\0';
  return o.len > (size_t)INT32_MAX ? ACTO_EINVAL : (int)o.len;
}
