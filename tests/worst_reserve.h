/* worst_reserve.h - a bound on what msgpack-c reserves while it parses,
 * shared by the pre-scan's differential test (test_prescan.c) and the
 * frame fuzz target (fuzz/fuzz_frame.c).  Both run msgpack-c on inputs the
 * pre-scan rejected only when this bound is small, so that an input that
 * claims a huge container cannot make msgpack-c allocate gigabytes.
 * Header-only: one static function.
 */
#ifndef ACTO_TESTS_WORST_RESERVE_H
#define ACTO_TESTS_WORST_RESERVE_H

#include <stddef.h>
#include <stdint.h>

/* An upper bound of what msgpack-c could reserve parsing p, whatever path
 * it takes: every byte that could be a container header, with its count. */
static inline uint64_t worst_reserve(const uint8_t *p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t b = p[i];
    uint64_t c = 0, per = 24;
    if (b >= 0x80 && b <= 0x8f)
      c = b & 15, per = 48;
    else if (b >= 0x90 && b <= 0x9f)
      c = b & 15;
    else if ((b == 0xdc || b == 0xde) && i + 2 < n)
      c = (uint64_t)p[i + 1] << 8 | p[i + 2], per = b == 0xde ? 48 : 24;
    else if ((b == 0xdd || b == 0xdf) && i + 4 < n)
      c = (uint64_t)p[i + 1] << 24 | (uint64_t)p[i + 2] << 16 | (uint64_t)p[i + 3] << 8 |
          p[i + 4],
      per = b == 0xdf ? 48 : 24;
    sum += c * per;
  }
  return sum;
}

#endif /* ACTO_TESTS_WORST_RESERVE_H */
