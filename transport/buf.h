/* buf.h - a growable byte buffer with a read position: the unit in which
 * the transport encodes messages, queues frames and reads sockets.
 * Internal (not installed).
 */
#ifndef ACTO_BUF_H
#define ACTO_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; off is the read position (bytes before it are
 * consumed). */
typedef struct acto__buf {
  uint8_t *p;
  size_t len, cap, off;
} acto__buf;

int acto__buf_reserve(acto__buf *b, size_t more); /* 0 or ACTO_ENOMEM */
int acto__buf_append(acto__buf *b, const void *d, size_t n);
void acto__buf_consume(acto__buf *b, size_t n); /* advance off; compacts */
void acto__buf_free(acto__buf *b);
static inline size_t acto__buf_unread(const acto__buf *b) { return b->len - b->off; }

#endif /* ACTO_BUF_H */
