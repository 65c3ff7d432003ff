/* acto.h - the umbrella header of acto: include this one file.
 *
 * acto is an actor framework in C: actors own private state and a bounded
 * mailbox, a scheduler drains mailboxes on a thread pool.  See ACTORS.md.
 */
#ifndef ACTO_H
#define ACTO_H

#include "acto_error.h"
#include "acto_mailbox.h"
#include "acto_actor.h"
#include "acto_supervisor.h"
#include "acto_journal.h"
#include "acto_node.h"

#include "acto_version.h"

#endif /* ACTO_H */
