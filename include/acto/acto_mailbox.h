/* acto_mailbox.h - the public part of the mailbox: bounds and overflow
 * policies.  The mailbox itself is internal (mailbox.h); users choose its
 * bounds and policy per actor in acto_spawn_opts and may override the
 * policy per send towards failing fast (acto_send_opts).
 */
#ifndef ACTO_MAILBOX_H
#define ACTO_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default bounds of a mailbox.  The capacity counts user messages that are
 * queued or being handled; the byte budget counts their payload bytes.  The
 * system lane (stop, exit, DOWN, replies) is never refused for capacity. */
#define ACTO_MAILBOX_DEFAULT_CAPACITY 1024u
#define ACTO_MAILBOX_DEFAULT_BYTES (8u * 1024u * 1024u)
#define ACTO_MAILBOX_MAX_CAPACITY (1u << 30)

/* What happens when a send finds the mailbox full. */
typedef enum acto_overflow {
  /* Backpressure.  A plain thread waits up to its deadline; an actor sender
   * is suspended (its worker moves on) and resumes once all its parked
   * messages are delivered, in order. */
  ACTO_OVERFLOW_BLOCK = 0,
  /* The send returns ACTO_EFULL; nothing is queued. */
  ACTO_OVERFLOW_FAIL = 1,
  /* The new message is discarded and reported as a dead letter. */
  ACTO_OVERFLOW_DROP_NEWEST = 2,
  /* The oldest queued user message is discarded (a dead letter) to make
   * room for the new one. */
  ACTO_OVERFLOW_DROP_OLDEST = 3
} acto_overflow;

/* Why a message became a dead letter (reported to the dead-letter hook and
 * counted in acto_stats). */
typedef enum acto_dead_reason {
  ACTO_DEAD_STALE = 0,       /* target ref unknown or of a stopped actor */
  ACTO_DEAD_CLOSED = 1,      /* target stopped with the message queued */
  ACTO_DEAD_DROP_NEWEST = 2, /* discarded by the drop_newest policy */
  ACTO_DEAD_DROP_OLDEST = 3, /* discarded by the drop_oldest policy */
  ACTO_DEAD_FULL = 4,        /* a timer's message found the mailbox full */
  ACTO_DEAD_LATE_REPLY = 5,  /* a reply arrived after its ask's deadline */
  ACTO_DEAD_FAILED = 6,      /* the message whose handler failed */
  ACTO_DEAD_NOCONNECTION = 7, /* its node (sender's or target's) went down */
  ACTO_DEAD_REASON_COUNT = 8
} acto_dead_reason;

/* acto_stats.dead_letters has room for this many reasons, so that a new
 * reason does not change the struct's size (ACTORS.md "Versions"). */
#define ACTO_DEAD_REASON_SLOTS 16

#ifdef __cplusplus
}
#endif
#endif /* ACTO_MAILBOX_H */
