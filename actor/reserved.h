/* reserved.h - the check every public call makes on the reserved words
 * of a caller-allocated struct (ACTORS.md "Versions").  Internal.
 *
 * Public structs that a caller fills in (configs, options, specs, the
 * behaviour) or that acto fills in (stats, infos) end with
 * `uint64_t reserved[N]`.  A later version adds a field by taking one
 * reserved word (8 bytes, 8-aligned; a smaller field or a pointer goes in a
 * union with a uint64_t), so the struct's size and the offsets of the
 * fields before it never change within a soname, and 0 in the new field
 * must mean what the older version did.  An input whose reserved words
 * are not all zero was built against a newer acto (or left uninitialised):
 * it is refused with ACTO_EINVAL rather than misread.  An output is zeroed
 * whole, reserved words included, before acto fills it.
 */
#ifndef ACTO_RESERVED_H
#define ACTO_RESERVED_H

#include <stddef.h>
#include <stdint.h>

/* 1 if the n words at r are all zero. */
static inline int acto__reserved_clear(const uint64_t *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (r[i] != 0)
      return 0;
  return 1;
}

/* acto__reserved_clear on a struct's `reserved` array. */
#define ACTO__RESERVED_CLEAR(s) \
  acto__reserved_clear((s)->reserved, sizeof((s)->reserved) / sizeof((s)->reserved[0]))

#endif /* ACTO_RESERVED_H */
