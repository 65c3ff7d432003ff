/* version.c - the version of the library itself (acto_version.h has the
 * headers'). */
#include "acto_version.h"

int acto_version(void) { return ACTO_VERSION_NUMBER; }

const char *acto_version_string(void) { return ACTO_VERSION_STRING; }
