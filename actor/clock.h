/* clock.h - the one clock every time read in acto goes through, so that a
 * deterministic mode can replace it, and deadline arithmetic that cannot
 * overflow. */
#ifndef ACTO_CLOCK_H
#define ACTO_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in nanoseconds. */
uint64_t acto__clock_now_ns(void);

/* The absolute time `ms` milliseconds after `now_ns`, saturated:
 * ACTO__NEVER when ms is negative (-1: no deadline) or when the sum would
 * not fit (acto_ask(..., INT64_MAX) waits as long as -1 does, a timer
 * INT64_MAX ms away never fires). */
#define ACTO__NEVER UINT64_MAX
static inline uint64_t acto__deadline_after(uint64_t now_ns, int64_t ms) {
  if (ms < 0)
    return ACTO__NEVER;
  if ((uint64_t)ms > (ACTO__NEVER - now_ns) / 1000000ull)
    return ACTO__NEVER;
  return now_ns + (uint64_t)ms * 1000000ull;
}

/* a + b, saturated at ACTO__NEVER. */
static inline uint64_t acto__sat_add(uint64_t a, uint64_t b) {
  return a > ACTO__NEVER - b ? ACTO__NEVER : a + b;
}

/* Fills an absolute CLOCK_MONOTONIC timespec `ms` milliseconds from now,
 * for pthread_cond_timedwait on condvars created with CLOCK_MONOTONIC.
 * Saturates (a far future) instead of overflowing. */
void acto__clock_deadline(struct timespec *ts, int64_t ms);

/* Waits on cv (mtx held) until signalled or the absolute monotonic time
 * deadline_ns (ACTO__NEVER: no deadline).  Returns 0 when woken (maybe
 * spuriously), ETIMEDOUT when the deadline has passed. */
int acto__clock_wait(pthread_cond_t *cv, pthread_mutex_t *mtx, uint64_t deadline_ns);

/* Initialises a condvar that waits on CLOCK_MONOTONIC. */
int acto__clock_cond_init(pthread_cond_t *cv);

#endif /* ACTO_CLOCK_H */
