/* log.h - the library's log lines: one hook per system, a level, and a
 * rate limit; the default sink writes to stderr only when that cannot
 * block (log.c). */
#ifndef ACTO_LOG_H
#define ACTO_LOG_H

#include <pthread.h>
#include <stdint.h>

#include "acto_actor.h"

typedef struct acto__logstate {
  pthread_mutex_t mtx;
  /* Under mtx. */
  acto_log_fn fn; /* NULL: the default sink */
  void *user;
  int level;      /* lines above it are not produced; ACTO_LOG_OFF: none */
  /* Repeats: the last line's fingerprint and how often it came again. */
  uint64_t last_hash;
  uint64_t last_ns;
  uint32_t repeats;
  int last_level;
  char last_component[32];
  /* Budget: a token bucket of lines per second. */
  double tokens;
  uint64_t refill_ns;
  uint64_t suppressed;
} acto__logstate;

int acto__log_init(acto__logstate *l);
void acto__log_destroy(acto__logstate *l);

/* Produces one line (formatted into a bounded buffer, cut at
 * ACTO_LOG_LINE_MAX bytes) if `level` is enabled: repeated and excess
 * lines are counted instead, and summarised when lines flow again.  Never
 * blocks on I/O; calls the hook on the calling thread.  sys may be NULL
 * (the line goes to the default sink, unlimited). */
__attribute__((format(printf, 4, 5))) void acto__log(acto_system *sys, acto_log_level level,
                                                      const char *component, const char *fmt,
                                                      ...);

/* 1 if a line of `level` would be produced (to skip costly formatting). */
int acto__log_on(acto_system *sys, acto_log_level level);

/* A public call refuses its arguments: one ACTO_LOG_ERROR line of
 * `component`, "call: <text> (ACTO_E...)", that says which rule when the
 * code alone does not.  Returns code. */
__attribute__((format(printf, 5, 6))) int acto__log_refuse(acto_system *sys, int code,
                                                           const char *component,
                                                           const char *call, const char *fmt, ...);

#endif /* ACTO_LOG_H */
