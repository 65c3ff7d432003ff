/* clock.c - monotonic time for the whole library (see clock.h). */
#include <errno.h>

#include "actor/clock.h"

uint64_t acto__clock_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A timespec for an absolute time; ACTO__NEVER maps to a time so far away
 * (about 580 years of uptime) that no wait reaches it. */
static void ts_of(struct timespec *ts, uint64_t abs_ns) {
  ts->tv_sec = (time_t)(abs_ns / 1000000000ull);
  ts->tv_nsec = (long)(abs_ns % 1000000000ull);
}

void acto__clock_deadline(struct timespec *ts, int64_t ms) {
  ts_of(ts, acto__deadline_after(acto__clock_now_ns(), ms < 0 ? INT64_MAX : ms));
}

int acto__clock_wait(pthread_cond_t *cv, pthread_mutex_t *mtx, uint64_t deadline_ns) {
  if (deadline_ns == ACTO__NEVER) {
    pthread_cond_wait(cv, mtx);
    return 0;
  }
  if (acto__clock_now_ns() >= deadline_ns)
    return ETIMEDOUT;
  struct timespec ts;
  ts_of(&ts, deadline_ns);
  int r = pthread_cond_timedwait(cv, mtx, &ts);
  return r == ETIMEDOUT ? ETIMEDOUT : 0;
}

int acto__clock_cond_init(pthread_cond_t *cv) {
  pthread_condattr_t at;
  if (pthread_condattr_init(&at) != 0)
    return -1;
  pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
  int r = pthread_cond_init(cv, &at);
  pthread_condattr_destroy(&at);
  return r == 0 ? 0 : -1;
}
