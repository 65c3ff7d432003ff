/* clock.h - the one clock every time read in acto goes through, so that a
 * deterministic mode can replace it. */
#ifndef ACTO_CLOCK_H
#define ACTO_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic time in nanoseconds. */
uint64_t acto__clock_now_ns(void);

/* Fills an absolute CLOCK_MONOTONIC timespec `ms` milliseconds from now,
 * for pthread_cond_timedwait on condvars created with CLOCK_MONOTONIC. */
void acto__clock_deadline(struct timespec *ts, int64_t ms);

/* Initialises a condvar that waits on CLOCK_MONOTONIC. */
#include <pthread.h>
int acto__clock_cond_init(pthread_cond_t *cv);

#endif /* ACTO_CLOCK_H */
