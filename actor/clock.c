/* clock.c - monotonic time for the whole library (see clock.h). */
#include "actor/clock.h"

uint64_t acto__clock_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void acto__clock_deadline(struct timespec *ts, int64_t ms) {
  uint64_t t = acto__clock_now_ns() + (uint64_t)ms * 1000000ull;
  ts->tv_sec = (time_t)(t / 1000000000ull);
  ts->tv_nsec = (long)(t % 1000000000ull);
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
