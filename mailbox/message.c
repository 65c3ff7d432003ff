/* message.c - allocation and release of message blocks.  Copied payloads
 * live in the same allocation as the header; handed-over payloads are
 * referenced and freed with their free function. */
#include <stdlib.h>
#include <string.h>

#include "mailbox/message.h"
#include "actor/timer.h"

acto__msg *acto__msg_new(uint32_t type, const void *data, size_t size, void (*free_fn)(void *)) {
  size_t extra = free_fn ? 0 : size;
  acto__msg *m = malloc(sizeof(acto__msg) + extra);
  if (!m)
    return NULL;
  memset(m, 0, sizeof(*m));
  m->pub.type = type;
  m->pub.size = size;
  if (size == 0) {
    m->pub.data = NULL;
  } else if (free_fn) {
    m->pub.data = data;
    m->free_fn = free_fn;
  } else {
    memcpy(m->inline_data, data, size);
    m->pub.data = m->inline_data;
  }
  return m;
}

void acto__msg_free(acto__msg *m) {
  if (m->free_fn)
    m->free_fn((void *)m->pub.data);
  if (m->timer)
    acto__timer_unref(m->timer);
  free(m);
}
