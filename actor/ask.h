/* ask.h - request-reply: futures of plain threads, ask tables of actors,
 * requests kept for later answers. */
#ifndef ACTO_ASK_H
#define ACTO_ASK_H

#include <pthread.h>
#include <stdint.h>

#include "acto_actor.h"

struct acto__actor;
struct acto__msg;

#define ACTO__FUTURE_BUCKETS 64

typedef struct acto__future acto__future;
typedef struct acto__kept acto__kept;

typedef struct acto__futures {
  pthread_mutex_t mtx;
  acto__future *buckets[ACTO__FUTURE_BUCKETS];
  /* Requests kept with acto_reply_later, by (asker, ask id), each also on
   * its keeper's list (acto__actor_ext.kept); under mtx. */
  acto__kept **kept;
  size_t nkept_buckets, nkept;
} acto__futures;

int acto__ask_futures_init(acto__futures *f);
void acto__ask_futures_destroy(acto__futures *f);

/* acto_ask without the check that type is a user type: the runtime's own
 * requests (the supervisor calls, msgtypes.h). */
int acto__ask_sync(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_buf *out);
/* The calls above with the message block already made (the payload
 * copied or handed over, acto__msg_new): acto_ask without the type check,
 * acto_ask_async, acto_reply, acto_reply_to.  m's type must have been
 * checked by the caller; m is the call's on every return, success or
 * error (a refusal frees it, and with it a handed-over payload).  They
 * let codec/msgpack.c hand a packed buffer to a request or reply without
 * copying it. */
int acto__ask_sync_msg(acto_system *sys, acto_ref to, struct acto__msg *m, int64_t timeout_ms,
                       acto_reply_buf *out);
int acto__ask_async_msg(acto_ctx *ctx, acto_ref to, struct acto__msg *m, int64_t timeout_ms,
                        acto_reply_fn fn, void *user, uint64_t *ask_id_out);
int acto__ask_reply_msg(acto_ctx *ctx, struct acto__msg *rm);
int acto__ask_reply_to_msg(acto_system *sys, const acto_reply_token *tok, struct acto__msg *rm);
/* Answers the request being handled with status (< 0) instead of a
 * reply: 0, ACTO_ENOTREQUEST, ACTO_EALREADY, ACTO_EINVAL (status >= 0). */
int acto__ask_reply_status(acto_ctx *ctx, int status);
/* A request message m is being discarded unanswered: tell its asker. */
void acto__ask_request_failed(acto_system *sys, struct acto__msg *m, int status);
/* Consumer side: a REPLY or ASK_TIMEOUT block arrived for actor a. */
void acto__ask_dispatch(acto_ctx *ctx, struct acto__actor *a, struct acto__msg *m);
/* Shutdown: completes every plain thread's ask still waiting with
 * ACTO_ECLOSED.  Returns how many it completed. */
size_t acto__ask_futures_close(acto_system *sys);

/* The running actor's incarnation ends (stop, failure, restart in place,
 * a supervisor's suspend): every ask it made that is still pending is
 * cancelled - its continuation, if any, runs once now with ACTO_ECANCELED
 * (ctx is the actor's, in its closing phase), its deadline timer is
 * cancelled; later replies are late.  Owner thread. */
void acto__ask_cancel_all(acto_ctx *ctx, struct acto__actor *a);
/* Frees the (empty) ask table of an actor being destroyed. */
void acto__ask_table_free(acto_system *sys, struct acto__actor *a);
/* Answers every request the actor kept (acto_reply_later) and has not
 * answered with `status` (ACTO_ECLOSED, ACTO_EFAILED): its incarnation
 * ends.  A later acto_reply_to of such a token returns ACTO_EALREADY. */
void acto__ask_kept_close(acto_system *sys, struct acto__actor *a, int status);

#endif /* ACTO_ASK_H */
