/* buf.c - the growable byte buffer (buf.h). */
#include "transport/buf.h"

#include <stdlib.h>
#include <string.h>

#include "acto_error.h"

int acto__buf_reserve(acto__buf *b, size_t more) {
  if (b->cap - b->len >= more)
    return 0;
  if (b->off > 0 && b->off >= b->len / 2) {
    /* Compact before growing. */
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->cap - b->len >= more)
      return 0;
  }
  size_t nc = b->cap ? b->cap : 256;
  while (nc - b->len < more)
    nc *= 2;
  uint8_t *np = realloc(b->p, nc);
  if (!np)
    return ACTO_ENOMEM;
  b->p = np;
  b->cap = nc;
  return 0;
}

int acto__buf_append(acto__buf *b, const void *d, size_t n) {
  if (acto__buf_reserve(b, n) != 0)
    return ACTO_ENOMEM;
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}

void acto__buf_consume(acto__buf *b, size_t n) {
  b->off += n;
  if (b->off == b->len)
    b->off = b->len = 0;
}

void acto__buf_free(acto__buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}
