/* log.c - the library's log lines: levels, the hook, folding of repeats,
 * a rate limit, and a default sink that never blocks.
 *
 * DESIGN
 * A line is produced on the thread that has something to say: a worker,
 * the node's I/O thread, a caller inside a public call.  None of them may
 * wait for a reader (a node whose stderr was a pipe nobody read once
 * stalled its I/O thread and ignored SIGTERM), so:
 * - The default sink writes one line with one write(2), and only when
 *   poll() says stderr can take it now; a line ≤ PIPE_BUF on a pipe with
 *   room does not block.  A process-wide trylock keeps two library threads
 *   from racing for the same room; a line that finds the lock taken or
 *   stderr full is dropped and counted, and the count is reported by the
 *   next line that gets through.
 * - Before any sink (the user's hook too), a line identical to the
 *   previous one (level, component, text) within FOLD_NS is folded into a
 *   count ("last line repeated N times", emitted before the next different
 *   line), and a token bucket lets at most RATE lines a second through
 *   (bursts of BURST); the excess is counted and reported in one line once
 *   tokens are back.  So a flood of bad connections costs a counter each,
 *   not a write each.
 * The state is per system, under its own mutex, held only to decide; the
 * hook is called after it is released.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actor/actor_internal.h"
#include "actor/clock.h"
#include "actor/log.h"

#define RATE 50.0
#define BURST 100.0
#define FOLD_NS (10ull * 1000000000ull)

int acto__log_init(acto__logstate *l) {
  memset(l, 0, sizeof *l);
  l->level = ACTO_LOG_INFO;
  l->tokens = BURST;
  l->refill_ns = acto__clock_now_ns();
  return pthread_mutex_init(&l->mtx, NULL) == 0 ? 0 : -1;
}

void acto__log_destroy(acto__logstate *l) { pthread_mutex_destroy(&l->mtx); }

/* ---- the default sink ------------------------------------------------------ */

static pthread_mutex_t sink_mtx = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t sink_dropped;

static const char *level_word(acto_log_level level) {
  switch (level) {
  case ACTO_LOG_ERROR:
    return "error: ";
  case ACTO_LOG_WARN:
    return "warning: ";
  default:
    return "";
  }
}

/* One write, only if stderr can take it now.  Returns 1 if written. */
static int sink_write(const char *line, size_t len) {
  struct pollfd p = {STDERR_FILENO, POLLOUT, 0};
  int r;
  do
    r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r != 1 || !(p.revents & POLLOUT) || (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
    return 0;
  ssize_t k;
  do
    k = write(STDERR_FILENO, line, len);
  while (k < 0 && errno == EINTR);
  return k > 0;
}

static void default_sink(acto_log_level level, const char *component, const char *text) {
  if (pthread_mutex_trylock(&sink_mtx) != 0) {
    atomic_fetch_add_explicit(&sink_dropped, 1, memory_order_relaxed);
    return;
  }
  char line[ACTO_LOG_LINE_MAX + 128];
  uint64_t lost = atomic_exchange_explicit(&sink_dropped, 0, memory_order_relaxed);
  if (lost) {
    int n = snprintf(line, sizeof line,
                     "acto log: %llu line(s) dropped (stderr could not take them)\n",
                     (unsigned long long)lost);
    if (!sink_write(line, (size_t)n))
      atomic_fetch_add_explicit(&sink_dropped, lost, memory_order_relaxed);
  }
  int n = snprintf(line, sizeof line, "acto %s: %s%s\n", component, level_word(level), text);
  size_t len = n < 0 ? 0 : (size_t)n >= sizeof line ? sizeof line - 1 : (size_t)n;
  if (len && line[len - 1] != '\n')
    line[len - 1] = '\n';
  if (len && !sink_write(line, len))
    atomic_fetch_add_explicit(&sink_dropped, 1, memory_order_relaxed);
  pthread_mutex_unlock(&sink_mtx);
}

/* ---- lines ------------------------------------------------------------------- */

static uint64_t fnv64(uint64_t h, const char *s) {
  for (; *s; s++) {
    h ^= (uint8_t)*s;
    h *= 1099511628211ull;
  }
  return h;
}

int acto__log_on(acto_system *sys, acto_log_level level) {
  if (!sys)
    return 1;
  pthread_mutex_lock(&sys->log.mtx);
  int on = (int)level <= sys->log.level;
  pthread_mutex_unlock(&sys->log.mtx);
  return on;
}

typedef struct out_line {
  acto_log_level level;
  char component[32];
  char text[ACTO_LOG_LINE_MAX + 1];
} out_line;

void acto__log(acto_system *sys, acto_log_level level, const char *component, const char *fmt,
               ...) {
  out_line line;
  line.level = level;
  snprintf(line.component, sizeof line.component, "%s", component ? component : "acto");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line.text, sizeof line.text, fmt, ap);
  va_end(ap);
  /* One line, printable: a name or detail from the network cannot start
   * a forged line of its own. */
  for (char *c = line.text; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = '?';
  if (!sys) {
    default_sink(level, line.component, line.text);
    return;
  }
  acto__logstate *l = &sys->log;
  out_line pre[2];
  int npre = 0, emit = 0;
  acto_log_fn fn;
  void *user;
  uint64_t now = acto__clock_now_ns();
  uint64_t h = fnv64(fnv64(14695981039346656037ull ^ (uint64_t)(level + 1), line.component),
                     line.text);
  pthread_mutex_lock(&l->mtx);
  fn = l->fn;
  user = l->user;
  if ((int)level > l->level) {
    pthread_mutex_unlock(&l->mtx);
    return;
  }
  if (h == l->last_hash && now - l->last_ns < FOLD_NS && l->repeats < UINT32_MAX) {
    l->repeats++;
    pthread_mutex_unlock(&l->mtx);
    return;
  }
  l->tokens += (double)(now - l->refill_ns) * (RATE / 1e9);
  if (l->tokens > BURST)
    l->tokens = BURST;
  l->refill_ns = now;
  if (l->repeats) {
    out_line *p = &pre[npre++];
    p->level = (acto_log_level)l->last_level;
    memcpy(p->component, l->last_component, sizeof p->component);
    snprintf(p->text, sizeof p->text, "last line repeated %u more time(s)", l->repeats);
    l->repeats = 0;
  }
  if (l->tokens >= 1.0) {
    l->tokens -= 1.0;
    emit = 1;
    if (l->suppressed) {
      out_line *p = &pre[npre++];
      p->level = ACTO_LOG_WARN;
      snprintf(p->component, sizeof p->component, "log");
      snprintf(p->text, sizeof p->text,
               "%llu line(s) suppressed (more than %d lines a second)",
               (unsigned long long)l->suppressed, (int)RATE);
      l->suppressed = 0;
    }
    l->last_hash = h;
    l->last_ns = now;
    l->last_level = level;
    memcpy(l->last_component, line.component, sizeof l->last_component);
  } else {
    l->suppressed++;
  }
  pthread_mutex_unlock(&l->mtx);
  for (int i = 0; i < npre; i++) {
    if (fn)
      fn(user, pre[i].level, pre[i].component, pre[i].text);
    else
      default_sink(pre[i].level, pre[i].component, pre[i].text);
  }
  if (!emit)
    return;
  if (fn)
    fn(user, level, line.component, line.text);
  else
    default_sink(level, line.component, line.text);
}

int acto_set_log_hook(acto_system *sys, acto_log_fn fn, void *user) {
  if (!sys)
    return ACTO_EINVAL;
  pthread_mutex_lock(&sys->log.mtx);
  sys->log.fn = fn;
  sys->log.user = fn ? user : NULL;
  pthread_mutex_unlock(&sys->log.mtx);
  return 0;
}

int acto_set_log_level(acto_system *sys, acto_log_level level) {
  if (!sys || (int)level < ACTO_LOG_OFF || (int)level > ACTO_LOG_DEBUG)
    return ACTO_EINVAL;
  pthread_mutex_lock(&sys->log.mtx);
  sys->log.level = level;
  pthread_mutex_unlock(&sys->log.mtx);
  return 0;
}

int acto__log_refuse(acto_system *sys, int code, const char *component, const char *call,
                     const char *fmt, ...) {
  if (sys && acto__log_on(sys, ACTO_LOG_ERROR)) {
    char text[ACTO_LOG_LINE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    acto__log(sys, ACTO_LOG_ERROR, component, "%s: %s (%s)", call, text, acto_err_name(code));
  }
  return code;
}
