/* error.c - acto_strerror and acto_err_name, generated from the one error
 * table in acto_error.h. */
#include "acto_error.h"

const char *acto_strerror(int err) {
  switch (err) {
  case ACTO_OK:
    return "success";
#define ACTO__ERR_MSG(name, val, msg)                                           \
  case ACTO_##name:                                                              \
    return msg;
    ACTO_ERRNO_MAP(ACTO__ERR_MSG)
#undef ACTO__ERR_MSG
  default:
    return err > 0 ? "success (positive status)" : "unknown acto error";
  }
}

const char *acto_err_name(int err) {
  switch (err) {
  case ACTO_OK:
    return "ACTO_OK";
#define ACTO__ERR_NAME(name, val, msg)                                          \
  case ACTO_##name:                                                              \
    return "ACTO_" #name;
    ACTO_ERRNO_MAP(ACTO__ERR_NAME)
#undef ACTO__ERR_NAME
  default:
    return "ACTO_E?";
  }
}
