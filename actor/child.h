/* child.h - the runtime side of supervision, for supervisor/: spawning a
 * supervised child, and the verdicts a supervisor gives a child that
 * failed or that it suspended.  Internal (not installed).
 */
#ifndef ACTO_CHILD_H
#define ACTO_CHILD_H

#include "acto_actor.h"
#include "actor/msgtypes.h"

/* Events a supervised child sends its supervisor, delivered to the
 * supervisor's handle() on its system lane; data is acto__child_event.
 * Their types, ACTO__MSG_CHILD_*, are in the table of msgtypes.h. */

typedef struct acto__child_event {
  acto_ref child;
  int32_t reason;    /* failure reason (FAILED) */
  uint32_t msg_type; /* type of the message whose handler failed, 0: init */
} acto__child_event;

/* Spawns a child of the running actor (its supervisor): linked to it, and
 * restartable in place with the same init argument, which must stay valid
 * for the child's life.  Only inside the supervising actor.
 *
 * hold: the child keeps the unit its init turn held, so nothing can
 * schedule it (whatever is sent to it queues up) until the supervisor
 * either releases it (acto__child_release) or closes it
 * (acto__child_close_held).  A supervisor holds the children it starts in
 * its own init, so that a later child's failure can stop them, in reverse
 * order, on the init's own thread: no worker can be running them. */
int acto__actor_spawn_child(acto_ctx *ctx, const acto_behaviour *b, const void *arg,
                            const acto_spawn_opts *opts, int hold, acto_ref *out);

/* A held child may run from now on: it is scheduled if anything is queued
 * for it.  Only by the thread that spawned it held. */
int acto__child_release(acto_system *sys, acto_ref child);

/* Stops a held child on the calling thread: its terminate runs (with
 * `reason`) and it is closed as if it had stopped (links and monitors see
 * `reason`), before this returns.  Only by the thread that spawned it
 * held, which is then running inside the supervisor's init. */
int acto__child_close_held(acto_system *sys, acto_ref child, int reason);

/* Verdicts for a child that reported FAILED or SUSPENDED and has not had
 * one since: restart it in place (terminate if not yet done, zeroed state,
 * init again; its mailbox and ref stay), or stop it with `reason`. */
int acto__child_restart(acto_system *sys, acto_ref child);
int acto__child_stop(acto_system *sys, acto_ref child, int reason);

/* Asks a running child to run terminate (reason ACTO_REASON_SHUTDOWN) at
 * its next message boundary and then await a verdict (it reports
 * SUSPENDED).  Its queued messages stay. */
int acto__child_suspend_cmd(acto_system *sys, acto_ref child);

#endif /* ACTO_CHILD_H */
