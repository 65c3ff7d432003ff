/* ask.h - request-reply: futures of plain threads, ask tables of actors. */
#ifndef ACTO_ASK_H
#define ACTO_ASK_H

#include <pthread.h>
#include <stdint.h>

#include "acto_actor.h"

struct acto__actor;
struct acto__msg;

#define ACTO__FUTURE_BUCKETS 64

typedef struct acto__future acto__future;

typedef struct acto__futures {
  pthread_mutex_t mtx;
  acto__future *buckets[ACTO__FUTURE_BUCKETS];
} acto__futures;

int acto__futures_init(acto__futures *f);
void acto__futures_destroy(acto__futures *f);

/* acto_ask without the check that type is a user type: the runtime's own
 * requests (the supervisor calls, msgtypes.h). */
int acto__ask_sync(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_buf *out);
/* A request message m is being discarded unanswered: tell its asker. */
void acto__ask_request_failed(acto_system *sys, struct acto__msg *m, int status);
/* Consumer side: a REPLY or ASK_TIMEOUT block arrived for actor a. */
void acto__ask_dispatch(acto_ctx *ctx, struct acto__actor *a, struct acto__msg *m);
/* The transport: completes a plain thread's ask `id` with status and reply
 * (consumed; NULL for a failure).  ACTO_ENOENT when no one waits any more
 * (a reply is then counted as late). */
int acto__ask_future_complete(acto_system *sys, uint64_t id, int status, struct acto__msg *reply);
/* The actor is stopping: forget its pending asks. */
void acto__ask_table_free(acto_system *sys, struct acto__actor *a);

#endif /* ACTO_ASK_H */
