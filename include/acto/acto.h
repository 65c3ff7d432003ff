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

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library the program runs with, as ACTO_VERSION_NUMBER
 * (MAJOR * 10000 + MINOR * 100 + PATCH) and as "MAJOR.MINOR.PATCH" (a
 * static string).  It may be newer than the headers the program was
 * compiled with (ACTO_VERSION_NUMBER): ACTORS.md, "Versions". */
ACTO_API int acto_version(void);
ACTO_API const char *acto_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* ACTO_H */
