/* msgtypes.c - compile-time checks of the reserved message types
 * (msgtypes.h): each is at or above ACTO_MSG_RESERVED, and no two are
 * equal (a duplicate case label does not compile). */
#include "actor/msgtypes.h"

#define ACTO__MSGTYPE_RESERVED(t)                                                               \
  _Static_assert((t) >= ACTO_MSG_RESERVED, #t " must be at or above ACTO_MSG_RESERVED");
ACTO__MSGTYPE_MAP(ACTO__MSGTYPE_RESERVED)
#undef ACTO__MSGTYPE_RESERVED

/* Never called: the compiler refuses two case labels with one value. */
__attribute__((unused)) static int acto__msgtypes_distinct(uint32_t t) {
  switch (t) {
#define ACTO__MSGTYPE_CASE(v)                                                                   \
  case v:                                                                                       \
    return 1;
    ACTO__MSGTYPE_MAP(ACTO__MSGTYPE_CASE)
#undef ACTO__MSGTYPE_CASE
  default:
    return 0;
  }
}
