/* msgtypes.h - the one table of reserved message types: every type acto
 * itself puts into a mailbox, public or internal.  All of them are at or
 * above ACTO_MSG_RESERVED, where users cannot send (acto_send,
 * acto_send_after and acto_ask refuse them, and so does a node receiving
 * them from the network, but for ACTO_MSG_NODE_LOOKUP and
 * ACTO_MSG_NODE_SPAWN to a node service),
 * so a user's own types never meet acto's.  msgtypes.c checks at compile
 * time that every entry is reserved and that no two collide.
 *
 * Ranges:
 *   0xF0000001..0xF00000FF  public (acto_actor.h, acto_node.h, acto_cluster.h)
 *   0xF0000100..0xF00001FF  supervision: child events (actor/child.c)
 *   0xF0000200..0xF00002FF  supervision: requests and timers
 *                           (supervisor/supervisor.c)
 */
#ifndef ACTO_MSGTYPES_H
#define ACTO_MSGTYPES_H

#include "acto_actor.h"
#include "acto_cluster.h"
#include "acto_node.h"

/* Child events a supervised child sends its supervisor (child.h). */
#define ACTO__MSG_CHILD_FAILED 0xF0000101u    /* failed; awaits a verdict */
#define ACTO__MSG_CHILD_SUSPENDED 0xF0000102u /* terminated on request; awaits one */
#define ACTO__MSG_CHILD_STARTED 0xF0000103u   /* restarted in place */
#define ACTO__MSG_CHILD_IGNORED 0xF0000104u   /* its init answered ignore; it stops */

/* The supervisor's requests (asked by the acto_supervisor_* calls) and its
 * own timers. */
#define ACTO__MSG_SUP_WHICH 0xF0000201u
#define ACTO__MSG_SUP_COUNT 0xF0000202u
#define ACTO__MSG_SUP_START_CHILD 0xF0000203u
#define ACTO__MSG_SUP_TERMINATE_CHILD 0xF0000204u
#define ACTO__MSG_SUP_RESTART_CHILD 0xF0000205u
#define ACTO__MSG_SUP_DELETE_CHILD 0xF0000206u
#define ACTO__MSG_SUP_ADD_CHILD 0xF0000207u
#define ACTO__MSG_SUP_TERMINATE_ID 0xF0000208u /* terminate_child by id */
#define ACTO__MSG_SUP_T_KILL 0xF0000210u    /* data: child serial */
#define ACTO__MSG_SUP_T_RESTART 0xF0000211u /* data: child serial */
#define ACTO__MSG_SUP_T_GROUP 0xF0000212u   /* data: group generation */
#define ACTO__MSG_SUP_T_SPAWN 0xF0000213u   /* data: child serial (a remote first start) */

/* Every reserved type, for the checks in msgtypes.c. */
#define ACTO__MSGTYPE_MAP(X)                                                                    \
  X(ACTO_MSG_ASK_TIMEOUT)                                                                       \
  X(ACTO_MSG_ASK_FAILED)                                                                        \
  X(ACTO_MSG_DOWN)                                                                              \
  X(ACTO_MSG_EXIT)                                                                              \
  X(ACTO_MSG_NODE_LOOKUP)                                                                       \
  X(ACTO_MSG_NODE_SPAWN)                                                                        \
  X(ACTO_MSG_MEMBER)                                                                            \
  X(ACTO_MSG_GLOBAL_LOST)                                                                       \
  X(ACTO_MSG_GROUP_CHANGE)                                                                      \
  X(ACTO__MSG_CHILD_FAILED)                                                                     \
  X(ACTO__MSG_CHILD_SUSPENDED)                                                                  \
  X(ACTO__MSG_CHILD_STARTED)                                                                    \
  X(ACTO__MSG_CHILD_IGNORED)                                                                    \
  X(ACTO__MSG_SUP_WHICH)                                                                        \
  X(ACTO__MSG_SUP_COUNT)                                                                        \
  X(ACTO__MSG_SUP_START_CHILD)                                                                  \
  X(ACTO__MSG_SUP_TERMINATE_CHILD)                                                              \
  X(ACTO__MSG_SUP_RESTART_CHILD)                                                                \
  X(ACTO__MSG_SUP_DELETE_CHILD)                                                                 \
  X(ACTO__MSG_SUP_ADD_CHILD)                                                                    \
  X(ACTO__MSG_SUP_TERMINATE_ID)                                                                 \
  X(ACTO__MSG_SUP_T_KILL)                                                                       \
  X(ACTO__MSG_SUP_T_RESTART)                                                                    \
  X(ACTO__MSG_SUP_T_GROUP)                                                                      \
  X(ACTO__MSG_SUP_T_SPAWN)

#endif /* ACTO_MSGTYPES_H */
