/* model.c - the modeller's text format: parsing a model file into a tree,
 * a fault model and a list of policies.
 *
 * THE FORMAT.  A model is a text file of lines; '#' starts a comment that
 * runs to the end of the line; blank lines are ignored.  Indentation is
 * made of spaces (a tab in the indentation is an error).  A line is a list
 * of words separated by blanks; a setting is a word KEY=VALUE or a bare
 * word (a strategy, a restart type, the flag `significant`).
 *
 *   title TEXT                 a title for the reports (rest of the line)
 *   duration DUR               virtual time to simulate (default 24h)
 *   seed N                     the seed (default 1; --seed overrides)
 *
 * (duration=DUR and seed=N work too, both on one line if you like.)
 *
 *   supervisor ID [settings]   the root: the one top-level supervisor
 *     worker ID [settings]     a child: indented deeper than its parent;
 *     supervisor ID [settings] siblings share the same indentation
 *       worker ID [settings]
 *
 *   policy NAME                a policy: the tree with some settings
 *     ID settings              changed, for the node named ID
 *
 * Supervisor settings: a strategy (one_for_one, one_for_all, rest_for_one;
 * default one_for_one), intensity=N (restarts allowed ... default 1),
 * period=DUR (... within this window, default 5s), backoff=MIN..MAX (the
 * n-th restart within the period waits MIN*2^(n-1), at most MAX;
 * backoff=DUR means MIN=MAX=DUR; backoff=none, the default, restarts at
 * once), jitter=N% (0..100, backoff +/- N %), auto_shutdown=never|any|all
 * (stop when any / all significant children have stopped normally).
 * Child settings (workers, and supervisors below the root): a restart
 * type (permanent, transient, temporary; default permanent) and
 * `significant` (or significant=yes|no).
 * The fault model (workers only; a policy cannot change it): rate=N/DUR
 * (Poisson fault arrivals: N per DUR, e.g. rate=1/2h, rate=3/h),
 * mtbf=DUR (the same as rate=1/DUR), schedule=T,T,... (faults at these
 * times from the start; a time may repeat, e.g. 10m,10m: two faults back to
 * back), burst=AT+LEN/EVERY,... (a fault every EVERY from AT for LEN: a
 * dependency outage; burst=3h+45s/1s is 45 faults), exits=T,... (the
 * worker stops normally at these times; schedule, burst and exits may be
 * given more than once and add up),
 * startup=DUR (after every start the worker needs this long before it is
 * available).
 * Durations: a number with a unit, ms s m (or min) h d, decimals allowed,
 * units may be chained: 250ms, 1.5h, 1h30m, 10m20s; a bare 0 is zero.
 *
 * The tree comes first, then the policies; title, duration and seed lines
 * may stand anywhere at the top level (one ends an open tree or policy).
 * Ids are letters, digits, '_', '-' and '.', at most 63 characters,
 * unique in the whole tree.  Without any policy section the tree runs as
 * written, as policy "base"; with policy sections each one runs: the tree
 * as written, then its changes.
 *
 * DESIGN.  One pass over the lines with an indentation stack of the open
 * nodes (the nearest less-indented node is the parent).  The first error
 * stops the parse with "file:line: message"; nothing is allocated that the
 * error path does not free (model_free works on a half-built model).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- names ------------------------------------------------------------------- */

const char *model_strategy_name(acto_strategy s) {
  switch (s) {
  case ACTO_ONE_FOR_ONE: return "one_for_one";
  case ACTO_ONE_FOR_ALL: return "one_for_all";
  case ACTO_REST_FOR_ONE: return "rest_for_one";
  default: return "simple_one_for_one";
  }
}

const char *model_restart_name(acto_restart r) {
  switch (r) {
  case ACTO_PERMANENT: return "permanent";
  case ACTO_TRANSIENT: return "transient";
  default: return "temporary";
  }
}

const char *model_auto_shutdown_name(acto_auto_shutdown a) {
  switch (a) {
  case ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT: return "any";
  case ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT: return "all";
  default: return "never";
  }
}

/* ---- numbers and durations ----------------------------------------------------- */

/* A non-negative decimal ("12", "1.5", ".5"), locale-free.  Returns the
 * characters used, 0 if none. */
static size_t parse_decimal(const char *s, double *out) {
  size_t i = 0;
  double v = 0, scale = 1;
  int digits = 0;
  while (isdigit((unsigned char)s[i])) {
    if (v < 1e15)
      v = v * 10 + (s[i] - '0');
    else
      v = 1e16; /* too big for anything we accept */
    i++;
    digits++;
  }
  if (s[i] == '.') {
    i++;
    while (isdigit((unsigned char)s[i])) {
      scale /= 10;
      v += (s[i] - '0') * scale;
      i++;
      digits++;
    }
  }
  if (digits == 0)
    return 0;
  *out = v;
  return i;
}

/* A unit at s: its length and size in ms, 0 if none. */
static size_t parse_unit(const char *s, double *ms) {
  static const struct { const char *name; double ms; } units[] = {
      {"min", 60000.0}, {"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}, {"d", 86400000.0}};
  for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
    size_t n = strlen(units[k].name);
    if (strncmp(s, units[k].name, n) == 0 && !isalpha((unsigned char)s[n])) {
      *ms = units[k].ms;
      return n;
    }
  }
  return 0;
}

int model_parse_duration(const char *s, int64_t *out) {
  if (!s || !*s)
    return -1;
  if (strcmp(s, "0") == 0) {
    *out = 0;
    return 0;
  }
  double total = 0;
  size_t i = 0;
  while (s[i]) {
    double v, unit;
    size_t n = parse_decimal(s + i, &v);
    if (n == 0)
      return -1;
    i += n;
    size_t u = parse_unit(s + i, &unit);
    if (u == 0)
      return -1;
    i += u;
    total += v * unit;
    if (total > (double)MODEL_MAX_DURATION_MS * 10)
      return -1;
  }
  *out = (int64_t)(total + 0.5);
  return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out) {
  if (!isdigit((unsigned char)*s))
    return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s))
      return -1;
    v = v * 10 + (uint64_t)(*s - '0');
    if (v > max)
      return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  if (!isdigit((unsigned char)*s))
    return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s))
      return -1;
    uint64_t d = (uint64_t)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

void model_format_duration(int64_t ms, char *buf, size_t n) {
  if (ms < 0)
    ms = 0;
  if (ms < 1000) {
    snprintf(buf, n, "%lldms", (long long)ms);
    return;
  }
  if (ms < 60000) {
    if (ms % 1000 == 0)
      snprintf(buf, n, "%llds", (long long)(ms / 1000));
    else if (ms % 100 == 0)
      snprintf(buf, n, "%lld.%llds", (long long)(ms / 1000), (long long)(ms % 1000 / 100));
    else
      snprintf(buf, n, "%lld.%03llds", (long long)(ms / 1000), (long long)(ms % 1000));
    return;
  }
  /* Whole seconds, the non-zero parts only: 1d2h, 3h12m5s, 20m. */
  int64_t s = ms / 1000;
  long long part[4] = {s / 86400, s / 3600 % 24, s / 60 % 60, s % 60};
  const char *unit[4] = {"d", "h", "m", "s"};
  size_t k = 0;
  buf[0] = '\0';
  for (int i = 0; i < 4 && k < n; i++) {
    if (part[i] == 0)
      continue;
    int w = snprintf(buf + k, n - k, "%lld%s", part[i], unit[i]);
    if (w < 0)
      break;
    k += (size_t)w;
  }
}

double model_expected_faults(const model_node *n, int64_t duration_ms) {
  return n->rate_per_ms * (double)duration_ms + (double)n->nschedule;
}

/* ---- the parser ------------------------------------------------------------------ */

enum { SEC_NONE, SEC_TREE, SEC_POLICY };

typedef struct parser {
  model *m;
  const char *name;
  char *err;
  size_t errlen;
  int line;
  int section;
  size_t cap;          /* of m->nodes and m->base */
  int *kid_indent;     /* per node: the indentation of its children, -1 */
  int stack[MODEL_MAX_DEPTH + 2];
  int stack_indent[MODEL_MAX_DEPTH + 2];
  int sp;
  model_policy *policy; /* the open policy section */
} parser;

static int perr(parser *p, const char *fmt, ...) {
  int k = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
  if (k < 0 || (size_t)k >= p->errlen)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
  va_end(ap);
  return -1;
}

static int valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= MODEL_ID_MAX)
    return 0;
  if (!isalnum((unsigned char)s[0]) && s[0] != '_')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
      return 0;
  return 1;
}

int model_find_node(const model *m, const char *id) {
  for (size_t i = 0; i < m->nnodes; i++)
    if (strcmp(m->nodes[i].id, id) == 0)
      return (int)i;
  return -1;
}

int model_find_policy(const model *m, const char *name) {
  for (size_t i = 0; i < m->npolicies; i++)
    if (strcmp(m->policies[i].name, name) == 0)
      return (int)i;
  return -1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The allocated size of an array of `count` times: the next power of two. */
static size_t times_cap(size_t count) {
  size_t c = 1;
  while (c < count)
    c *= 2;
  return count ? c : 0;
}

/* Appends n times to *arr; the parse sorts them at the end. */
static int add_times(parser *p, const char *key, int64_t **arr, size_t *count, const int64_t *t,
                     size_t n) {
  if (*count + n > MODEL_MAX_EVENTS)
    return perr(p, "%s=: more than %d times for one worker", key, MODEL_MAX_EVENTS);
  if (n == 0)
    return 0;
  size_t cap = times_cap(*count);
  if (*count + n > cap) {
    int64_t *na = realloc(*arr, times_cap(*count + n) * sizeof *na);
    if (!na)
      return perr(p, "out of memory");
    *arr = na;
  }
  memcpy(*arr + *count, t, n * sizeof *t);
  *count += n;
  return 0;
}

/* Splits v at commas into items of at most 63 characters; calls fn on
 * each.  Empty or long items are an error. */
static int each_item(parser *p, const char *key, const char *v,
                     int (*fn)(parser *, const char *, const char *, void *), void *arg) {
  const char *s = v;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char item[64];
    if (len == 0 || len >= sizeof item)
      return perr(p, "%s=: %s item in '%s'", key, len == 0 ? "an empty" : "a malformed", v);
    memcpy(item, s, len);
    item[len] = '\0';
    if (fn(p, key, item, arg) != 0)
      return -1;
    if (!e)
      return 0;
    s = e + 1;
  }
}

typedef struct times_arg {
  int64_t **arr;
  size_t *count;
} times_arg;

static int time_item(parser *p, const char *key, const char *item, void *arg) {
  times_arg *a = arg;
  int64_t t;
  if (model_parse_duration(item, &t) != 0 || t > MODEL_MAX_DURATION_MS)
    return perr(p, "%s=: '%s' is not a time (a duration from the start, like 10m or 1h30m)", key,
                item);
  return add_times(p, key, a->arr, a->count, &t, 1);
}

/* "AT+LEN/EVERY": a fault every EVERY from AT for LEN. */
static int burst_item(parser *p, const char *key, const char *item, void *arg) {
  times_arg *a = arg;
  char at_s[64], len_s[64];
  const char *plus = strchr(item, '+'), *slash = strchr(item, '/');
  if (!plus || !slash || slash < plus)
    return perr(p, "burst=%s: expected AT+LENGTH/EVERY, like burst=3h+45s/1s", item);
  snprintf(at_s, sizeof at_s, "%.*s", (int)(plus - item), item);
  snprintf(len_s, sizeof len_s, "%.*s", (int)(slash - plus - 1), plus + 1);
  int64_t at, len, every;
  if (model_parse_duration(at_s, &at) != 0 || model_parse_duration(len_s, &len) != 0 ||
      model_parse_duration(slash + 1, &every) != 0 || at > MODEL_MAX_DURATION_MS ||
      len > MODEL_MAX_DURATION_MS)
    return perr(p, "burst=%s: expected AT+LENGTH/EVERY, like burst=3h+45s/1s", item);
  if (every <= 0)
    return perr(p, "burst=%s: the interval must be positive", item);
  int64_t n = len / every + (len % every != 0);
  if (n > MODEL_MAX_EVENTS || (size_t)n + *a->count > MODEL_MAX_EVENTS)
    return perr(p, "%s=%s: more than %d faults for one worker", key, item, MODEL_MAX_EVENTS);
  int64_t *t = malloc((size_t)(n ? n : 1) * sizeof *t);
  if (!t)
    return perr(p, "out of memory");
  for (int64_t i = 0; i < n; i++)
    t[i] = at + i * every;
  int rc = add_times(p, key, a->arr, a->count, t, (size_t)n);
  free(t);
  return rc;
}

/* "10m,25m,26m": added to a sorted array. */
static int parse_times(parser *p, const char *key, const char *v, int64_t **arr, size_t *count) {
  times_arg a = {arr, count};
  return each_item(p, key, v, time_item, &a);
}

static int parse_bursts(parser *p, const char *v, int64_t **arr, size_t *count) {
  times_arg a = {arr, count};
  return each_item(p, "burst", v, burst_item, &a);
}

/* "1/2h", "3/h", "0.5/d" -> faults per ms. */
static int parse_rate(parser *p, const char *v, double *out) {
  double num;
  size_t n = parse_decimal(v, &num);
  if (n == 0)
    return perr(p, "rate=%s: expected N/DURATION, like rate=1/2h or rate=3/h", v);
  if (v[n] == '\0' && num == 0) {
    *out = 0;
    return 0;
  }
  if (v[n] != '/')
    return perr(p, "rate=%s: expected N/DURATION, like rate=1/2h or rate=3/h", v);
  const char *d = v + n + 1;
  int64_t per;
  double unit;
  size_t u = parse_unit(d, &unit);
  if (u > 0 && d[u] == '\0')
    per = (int64_t)unit; /* "3/h" */
  else if (model_parse_duration(d, &per) != 0)
    return perr(p, "rate=%s: '%s' is not a duration", v, d);
  if (per <= 0)
    return perr(p, "rate=%s: the period must be positive", v);
  *out = num / (double)per;
  return 0;
}

static int parse_ms_u32(parser *p, const char *key, const char *v, int allow_zero, uint32_t *out) {
  int64_t ms;
  if (model_parse_duration(v, &ms) != 0)
    return perr(p, "%s=%s: not a duration (like 500ms, 5s, 1m)", key, v);
  if (ms > (int64_t)UINT32_MAX)
    return perr(p, "%s=%s: too long (at most 49 days)", key, v);
  if (ms == 0 && !allow_zero)
    return perr(p, "%s=%s: must be positive", key, v);
  *out = (uint32_t)ms;
  return 0;
}

static int set_backoff(parser *p, const char *v, model_conf *c) {
  if (strcmp(v, "none") == 0 || strcmp(v, "0") == 0) {
    c->backoff_min_ms = c->backoff_max_ms = 0;
    return 0;
  }
  const char *dots = strstr(v, "..");
  char a[64];
  const char *b = v;
  if (dots) {
    size_t len = (size_t)(dots - v);
    if (len == 0 || len >= sizeof a)
      return perr(p, "backoff=%s: expected MIN..MAX, like backoff=100ms..5s", v);
    memcpy(a, v, len);
    a[len] = '\0';
    b = dots + 2;
  } else {
    snprintf(a, sizeof a, "%s", v);
  }
  uint32_t lo = 0, hi = 0; /* set by parse_ms_u32 on success (-O3 cannot tell) */
  if (parse_ms_u32(p, "backoff", a, 0, &lo) != 0 || parse_ms_u32(p, "backoff", b, 0, &hi) != 0)
    return -1;
  if (lo > hi)
    return perr(p, "backoff=%s: the minimum is larger than the maximum", v);
  c->backoff_min_ms = lo;
  c->backoff_max_ms = hi;
  return 0;
}

static int word_strategy(const char *w, acto_strategy *s) {
  if (strcmp(w, "one_for_one") == 0 || strcmp(w, "one-for-one") == 0)
    *s = ACTO_ONE_FOR_ONE;
  else if (strcmp(w, "one_for_all") == 0 || strcmp(w, "one-for-all") == 0)
    *s = ACTO_ONE_FOR_ALL;
  else if (strcmp(w, "rest_for_one") == 0 || strcmp(w, "rest-for-one") == 0)
    *s = ACTO_REST_FOR_ONE;
  else
    return 0;
  return 1;
}

static int word_restart(const char *w, acto_restart *r) {
  if (strcmp(w, "permanent") == 0)
    *r = ACTO_PERMANENT;
  else if (strcmp(w, "transient") == 0)
    *r = ACTO_TRANSIENT;
  else if (strcmp(w, "temporary") == 0)
    *r = ACTO_TEMPORARY;
  else
    return 0;
  return 1;
}

/* Applies one setting word to node n (its conf c).  in_policy: fault-model
 * keys are refused. */
static int apply(parser *p, const char *w, model_node *n, model_conf *c, int in_policy) {
  int sup = n->kind == MODEL_SUPERVISOR, root = n->parent < 0;
  acto_strategy st;
  acto_restart rs;
  if (word_strategy(w, &st)) {
    if (!sup)
      return perr(p, "'%s' is a strategy, and '%s' is a worker", w, n->id);
    c->strategy = st;
    return 0;
  }
  if (strcmp(w, "simple_one_for_one") == 0 || strcmp(w, "simple-one-for-one") == 0)
    return perr(p, "simple_one_for_one is not supported: its children are started at run time, "
                   "and a model has a fixed tree");
  if (word_restart(w, &rs)) {
    if (root)
      return perr(p, "'%s' is a restart type, and the root '%s' has no parent to restart it", w,
                  n->id);
    c->restart = rs;
    return 0;
  }
  if (strcmp(w, "significant") == 0) {
    if (root)
      return perr(p, "'significant' describes a child, and '%s' is the root", n->id);
    c->significant = 1;
    return 0;
  }
  const char *eq = strchr(w, '=');
  if (!eq) {
    return perr(p, "unknown word '%s' (a %s takes %s)", w, sup ? "supervisor" : "worker",
                sup ? "a strategy, a restart type, significant and KEY=VALUE settings"
                    : "a restart type, significant and KEY=VALUE settings");
  }
  char key[32];
  size_t klen = (size_t)(eq - w);
  if (klen == 0 || klen >= sizeof key)
    return perr(p, "malformed setting '%s'", w);
  memcpy(key, w, klen);
  key[klen] = '\0';
  const char *v = eq + 1;
  if (*v == '\0')
    return perr(p, "%s= needs a value", key);
  if (strcmp(key, "significant") == 0) {
    if (root)
      return perr(p, "'significant' describes a child, and '%s' is the root", n->id);
    if (strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
      c->significant = 1;
    else if (strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
      c->significant = 0;
    else
      return perr(p, "significant=%s: expected yes or no", v);
    return 0;
  }
  if (strcmp(key, "restart") == 0) {
    if (!word_restart(v, &rs))
      return perr(p, "restart=%s: expected permanent, transient or temporary", v);
    if (root)
      return perr(p, "the root '%s' has no parent to restart it", n->id);
    c->restart = rs;
    return 0;
  }
  if (sup) {
    if (strcmp(key, "strategy") == 0) {
      if (!word_strategy(v, &st))
        return perr(p, "strategy=%s: expected one_for_one, one_for_all or rest_for_one", v);
      c->strategy = st;
      return 0;
    }
    if (strcmp(key, "intensity") == 0) {
      if (parse_u32(v, 100000, &c->intensity) != 0 || c->intensity == 0)
        return perr(p, "intensity=%s: expected a whole number from 1 to 100000", v);
      return 0;
    }
    if (strcmp(key, "period") == 0)
      return parse_ms_u32(p, "period", v, 0, &c->period_ms);
    if (strcmp(key, "backoff") == 0)
      return set_backoff(p, v, c);
    if (strcmp(key, "jitter") == 0) {
      char buf[16];
      size_t len = strlen(v);
      if (len > 0 && v[len - 1] == '%')
        len--;
      if (len == 0 || len >= sizeof buf)
        return perr(p, "jitter=%s: expected a percentage from 0 to 100, like jitter=10%%", v);
      memcpy(buf, v, len);
      buf[len] = '\0';
      if (parse_u32(buf, 100, &c->jitter_pct) != 0)
        return perr(p, "jitter=%s: expected a percentage from 0 to 100, like jitter=10%%", v);
      return 0;
    }
    if (strcmp(key, "auto_shutdown") == 0) {
      if (strcmp(v, "never") == 0)
        c->auto_shutdown = ACTO_AUTO_SHUTDOWN_NEVER;
      else if (strcmp(v, "any") == 0 || strcmp(v, "any_significant") == 0)
        c->auto_shutdown = ACTO_AUTO_SHUTDOWN_ANY_SIGNIFICANT;
      else if (strcmp(v, "all") == 0 || strcmp(v, "all_significant") == 0)
        c->auto_shutdown = ACTO_AUTO_SHUTDOWN_ALL_SIGNIFICANT;
      else
        return perr(p, "auto_shutdown=%s: expected never, any or all", v);
      return 0;
    }
    return perr(p, "unknown setting '%s' for supervisor '%s' (intensity, period, backoff, "
                   "jitter, auto_shutdown, restart, significant)",
                key, n->id);
  }
  int fault = strcmp(key, "rate") == 0 || strcmp(key, "mtbf") == 0 ||
              strcmp(key, "schedule") == 0 || strcmp(key, "burst") == 0 ||
              strcmp(key, "exits") == 0 ||
              strcmp(key, "startup") == 0;
  if (fault && in_policy)
    return perr(p, "%s= belongs to the fault model, which a policy cannot change", key);
  if (strcmp(key, "rate") == 0)
    return parse_rate(p, v, &n->rate_per_ms);
  if (strcmp(key, "mtbf") == 0) {
    int64_t ms;
    if (model_parse_duration(v, &ms) != 0 || ms <= 0)
      return perr(p, "mtbf=%s: expected a positive duration, like mtbf=2h", v);
    n->rate_per_ms = 1.0 / (double)ms;
    return 0;
  }
  if (strcmp(key, "schedule") == 0)
    return parse_times(p, "schedule", v, &n->schedule, &n->nschedule);
  if (strcmp(key, "burst") == 0)
    return parse_bursts(p, v, &n->schedule, &n->nschedule);
  if (strcmp(key, "exits") == 0)
    return parse_times(p, "exits", v, &n->exits, &n->nexits);
  if (strcmp(key, "startup") == 0) {
    if (model_parse_duration(v, &n->startup_ms) != 0 || n->startup_ms > MODEL_MAX_DURATION_MS)
      return perr(p, "startup=%s: not a duration (like 500ms or 2s)", v);
    return 0;
  }
  return perr(p, "unknown setting '%s' for worker '%s' (rate, mtbf, schedule, burst, exits, "
                 "startup, restart, significant)",
              key, n->id);
}

static const model_conf default_conf = {
    .strategy = ACTO_ONE_FOR_ONE, .intensity = 1, .period_ms = 5000, .restart = ACTO_PERMANENT};

/* A `supervisor` or `worker` line; parent -1 for the root. */
static int add_node(parser *p, char **w, int nw, int parent, int indent) {
  model *m = p->m;
  model_kind kind = strcmp(w[0], "worker") == 0 ? MODEL_WORKER : MODEL_SUPERVISOR;
  if (nw < 2)
    return perr(p, "'%s' needs an id: %s ID [settings]", w[0], w[0]);
  if (!valid_id(w[1]))
    return perr(p, "'%s' is not a valid id (letters, digits, '_', '-', '.'; at most %d)", w[1],
                MODEL_ID_MAX - 1);
  int dup = model_find_node(m, w[1]);
  if (dup >= 0)
    return perr(p, "duplicate id '%s' (first on line %d)", w[1], m->nodes[dup].line);
  if (m->nnodes >= MODEL_MAX_NODES)
    return perr(p, "too many nodes (at most %d)", MODEL_MAX_NODES);
  if (m->nnodes == p->cap) {
    size_t nc = p->cap ? p->cap * 2 : 16;
    model_node *nn = realloc(m->nodes, nc * sizeof *nn);
    if (!nn)
      return perr(p, "out of memory");
    m->nodes = nn;
    model_conf *nb = realloc(m->base, nc * sizeof *nb);
    if (!nb)
      return perr(p, "out of memory");
    m->base = nb;
    int *ki = realloc(p->kid_indent, nc * sizeof *ki);
    if (!ki)
      return perr(p, "out of memory");
    p->kid_indent = ki;
    p->cap = nc;
  }
  int idx = (int)m->nnodes++;
  model_node *n = &m->nodes[idx];
  memset(n, 0, sizeof *n);
  snprintf(n->id, sizeof n->id, "%s", w[1]);
  n->line = p->line;
  n->kind = kind;
  n->parent = parent;
  n->depth = parent < 0 ? 0 : m->nodes[parent].depth + 1;
  m->base[idx] = default_conf;
  p->kid_indent[idx] = -1;
  for (int i = 2; i < nw; i++)
    if (apply(p, w[i], n, &m->base[idx], 0) != 0)
      return -1;
  p->stack[p->sp] = idx;
  p->stack_indent[p->sp] = indent;
  p->sp++;
  return 0;
}

static int tree_line(parser *p, char **w, int nw, int indent) {
  if (strcmp(w[0], "supervisor") != 0 && strcmp(w[0], "worker") != 0)
    return perr(p, "expected 'supervisor' or 'worker' inside the tree, got '%s'", w[0]);
  while (p->sp > 0 && p->stack_indent[p->sp - 1] >= indent)
    p->sp--;
  if (p->sp == 0)
    return perr(p, "indentation does not match any open supervisor");
  int parent = p->stack[p->sp - 1];
  model_node *pn = &p->m->nodes[parent];
  if (pn->kind == MODEL_WORKER)
    return perr(p, "'%s' is indented under worker '%s' (line %d); only a supervisor has children",
                nw > 1 ? w[1] : w[0], pn->id, pn->line);
  if (p->kid_indent[parent] < 0)
    p->kid_indent[parent] = indent;
  else if (p->kid_indent[parent] != indent)
    return perr(p, "inconsistent indentation: the children of '%s' are indented by %d spaces, "
                   "this line by %d",
                pn->id, p->kid_indent[parent], indent);
  if (pn->depth + 1 > MODEL_MAX_DEPTH)
    return perr(p, "the tree is nested too deeply (at most %d levels)", MODEL_MAX_DEPTH);
  return add_node(p, w, nw, parent, indent);
}

static int policy_line(parser *p, char **w, int nw) {
  int idx = model_find_node(p->m, w[0]);
  if (idx < 0) {
    if (strcmp(w[0], "supervisor") == 0 || strcmp(w[0], "worker") == 0)
      return perr(p, "a policy changes settings of existing nodes (ID settings); it cannot add "
                     "a '%s'",
                  w[0]);
    return perr(p, "policy '%s': no node named '%s' in the tree", p->policy->name, w[0]);
  }
  if (nw < 2)
    return perr(p, "policy '%s': no settings for '%s'", p->policy->name, w[0]);
  for (int i = 1; i < nw; i++)
    if (apply(p, w[i], &p->m->nodes[idx], &p->policy->conf[idx], 1) != 0)
      return -1;
  return 0;
}

static int setting_line(parser *p, char **w, int nw) {
  for (int i = 0; i < nw; i++) {
    char key[16];
    const char *v;
    const char *eq = strchr(w[i], '=');
    if (eq) {
      size_t len = (size_t)(eq - w[i]);
      if (len >= sizeof key)
        return perr(p, "unknown setting '%s'", w[i]);
      memcpy(key, w[i], len);
      key[len] = '\0';
      v = eq + 1;
    } else {
      if (strlen(w[i]) >= sizeof key || i + 1 >= nw)
        return perr(p, "'%s' needs a value", w[i]);
      snprintf(key, sizeof key, "%s", w[i]);
      v = w[++i];
    }
    if (strcmp(key, "duration") == 0) {
      int64_t d;
      if (model_parse_duration(v, &d) != 0 || d <= 0 || d > MODEL_MAX_DURATION_MS)
        return perr(p, "duration %s: expected a positive duration of at most 366d, like 24h", v);
      p->m->duration_ms = d;
    } else if (strcmp(key, "seed") == 0) {
      if (parse_u64(v, &p->m->seed) != 0)
        return perr(p, "seed %s: expected a whole number", v);
    } else {
      return perr(p, "unknown setting '%s' (a settings line takes duration and seed)", key);
    }
  }
  return 0;
}

static int top_line(parser *p, char **w, int nw, const char *rest) {
  model *m = p->m;
  if (strcmp(w[0], "title") == 0) {
    while (*rest == ' ' || *rest == '\t')
      rest++;
    size_t len = strlen(rest);
    while (len > 0 && (rest[len - 1] == ' ' || rest[len - 1] == '\t'))
      len--;
    if (len > MODEL_TITLE_MAX)
      return perr(p, "the title is longer than %d characters", MODEL_TITLE_MAX);
    memcpy(m->title, rest, len);
    m->title[len] = '\0';
    p->section = SEC_NONE;
    return 0;
  }
  if (strncmp(w[0], "duration", 8) == 0 || strncmp(w[0], "seed", 4) == 0) {
    p->section = SEC_NONE;
    return setting_line(p, w, nw);
  }
  if (strcmp(w[0], "supervisor") == 0) {
    if (m->nnodes > 0)
      return perr(p, "a second top-level supervisor; the tree has one root ('%s', line %d)",
                  m->nodes[0].id, m->nodes[0].line);
    p->section = SEC_TREE;
    p->sp = 0;
    return add_node(p, w, nw, -1, 0);
  }
  if (strcmp(w[0], "worker") == 0)
    return perr(p, "a worker must be indented under a supervisor");
  if (strcmp(w[0], "policy") == 0) {
    if (m->nnodes == 0)
      return perr(p, "a policy must come after the tree");
    if (nw != 2)
      return perr(p, "expected: policy NAME");
    if (!valid_id(w[1]))
      return perr(p, "'%s' is not a valid policy name (letters, digits, '_', '-', '.')", w[1]);
    int dup = model_find_policy(m, w[1]);
    if (dup >= 0)
      return perr(p, "duplicate policy '%s' (first on line %d)", w[1], m->policies[dup].line);
    if (m->npolicies >= MODEL_MAX_POLICIES)
      return perr(p, "too many policies (at most %d)", MODEL_MAX_POLICIES);
    model_policy *np = realloc(m->policies, (m->npolicies + 1) * sizeof *np);
    if (!np)
      return perr(p, "out of memory");
    m->policies = np;
    model_policy *pol = &m->policies[m->npolicies];
    memset(pol, 0, sizeof *pol);
    pol->conf = malloc(m->nnodes * sizeof *pol->conf);
    if (!pol->conf)
      return perr(p, "out of memory");
    memcpy(pol->conf, m->base, m->nnodes * sizeof *pol->conf);
    snprintf(pol->name, sizeof pol->name, "%s", w[1]);
    pol->line = p->line;
    m->npolicies++;
    p->policy = pol;
    p->section = SEC_POLICY;
    return 0;
  }
  return perr(p, "unknown directive '%s' (expected title, duration, seed, supervisor or policy)",
              w[0]);
}

#define MAX_WORDS 256

static int parse_line(parser *p, char *line) {
  size_t len = strlen(line);
  if (len > 0 && line[len - 1] == '\r')
    line[--len] = '\0';
  char *hash = strchr(line, '#');
  if (hash)
    *hash = '\0';
  int indent = 0;
  while (line[indent] == ' ' || line[indent] == '\t') {
    if (line[indent] == '\t') {
      /* A tab only matters in front of a word. */
      const char *q = line + indent;
      while (*q == ' ' || *q == '\t')
        q++;
      if (*q == '\0')
        return 0;
      return perr(p, "a tab in the indentation; indent with spaces");
    }
    indent++;
  }
  if (line[indent] == '\0')
    return 0;
  for (char *c = line + indent; *c; c++)
    if ((unsigned char)*c < 0x20 && *c != '\t')
      return perr(p, "a control character (0x%02x) in the line", (unsigned char)*c);
  char copy[MODEL_LINE_MAX + 1];
  snprintf(copy, sizeof copy, "%.*s", (int)MODEL_LINE_MAX, line + indent);
  char *w[MAX_WORDS];
  int nw = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
    if (nw == MAX_WORDS)
      return perr(p, "too many words on one line (at most %d)", MAX_WORDS);
    w[nw++] = t;
  }
  if (indent == 0) {
    const char *rest = line + strlen(w[0]);
    return top_line(p, w, nw, rest);
  }
  if (p->section == SEC_TREE)
    return tree_line(p, w, nw, indent);
  if (p->section == SEC_POLICY)
    return policy_line(p, w, nw);
  return perr(p, "an indented line outside the tree and the policies");
}

static void build_kids(model *m) {
  for (size_t i = 1; i < m->nnodes; i++)
    m->nodes[m->nodes[i].parent].nkids++;
  for (size_t i = 0; i < m->nnodes; i++) {
    model_node *n = &m->nodes[i];
    if (n->nkids)
      n->kids = malloc(n->nkids * sizeof *n->kids);
    n->nkids = 0;
  }
  for (size_t i = 1; i < m->nnodes; i++) {
    model_node *pn = &m->nodes[m->nodes[i].parent];
    if (pn->kids)
      pn->kids[pn->nkids++] = (int)i;
  }
}

int model_parse(const char *text, size_t len, const char *name, model *m, char *err,
                size_t errlen) {
  memset(m, 0, sizeof *m);
  m->duration_ms = 24LL * 3600 * 1000;
  m->seed = 1;
  snprintf(m->file, sizeof m->file, "%s", name);
  parser p = {.m = m, .name = name, .err = err, .errlen = errlen};
  char line[MODEL_LINE_MAX + 2];
  size_t i = 0;
  int rc = 0;
  while (i < len && rc == 0) {
    p.line++;
    size_t k = 0;
    int too_long = 0, nul = 0;
    while (i < len && text[i] != '\n') {
      if (text[i] == '\0')
        nul = 1;
      if (k <= MODEL_LINE_MAX)
        line[k++] = text[i];
      else
        too_long = 1;
      i++;
    }
    if (i < len)
      i++; /* the '\n' */
    line[k] = '\0';
    if (nul)
      rc = perr(&p, "a NUL byte; a model is a text file");
    else if (too_long || k > MODEL_LINE_MAX)
      rc = perr(&p, "the line is longer than %d characters", MODEL_LINE_MAX);
    else
      rc = parse_line(&p, line);
  }
  if (rc == 0 && m->nnodes == 0) {
    p.line = p.line ? p.line : 1;
    rc = perr(&p, "no supervision tree (expected a top-level 'supervisor ID STRATEGY' line)");
  }
  for (size_t n = 0; rc == 0 && n < m->nnodes; n++) {
    const model_node *nd = &m->nodes[n];
    if (nd->kind == MODEL_WORKER && model_expected_faults(nd, m->duration_ms) > MODEL_MAX_EVENTS) {
      p.line = nd->line;
      rc = perr(&p, "worker '%s' would see about %.0f faults in the simulated time; at most %d",
                nd->id, model_expected_faults(nd, m->duration_ms), MODEL_MAX_EVENTS);
    }
  }
  if (rc == 0 && m->npolicies == 0) {
    m->policies = calloc(1, sizeof *m->policies);
    if (m->policies) {
      m->policies[0].conf = malloc(m->nnodes * sizeof(model_conf));
      if (m->policies[0].conf) {
        memcpy(m->policies[0].conf, m->base, m->nnodes * sizeof(model_conf));
        snprintf(m->policies[0].name, sizeof m->policies[0].name, "base");
      }
      m->npolicies = 1;
    }
    if (!m->policies || !m->policies[0].conf)
      rc = perr(&p, "out of memory");
  }
  /* The supervisor refuses what OTP refuses (ACTORS.md chapter 9): a
   * significant child must be transient or temporary, under a supervisor
   * with auto_shutdown; say so here, with the line, for every policy. */
  for (size_t k = 0; rc == 0 && k < m->npolicies; k++) {
    const model_conf *conf = m->policies[k].conf;
    for (size_t n = 1; rc == 0 && n < m->nnodes; n++) {
      const model_node *nd = &m->nodes[n];
      if (!conf[n].significant)
        continue;
      p.line = m->policies[k].line ? m->policies[k].line : nd->line;
      if (conf[n].restart == ACTO_PERMANENT)
        rc = perr(&p, "%s%s: '%s' is significant and permanent; a significant child must be "
                  "transient or temporary", m->policies[k].line ? "policy " : "",
                  m->policies[k].line ? m->policies[k].name : "the tree", nd->id);
      else if (conf[nd->parent].auto_shutdown == ACTO_AUTO_SHUTDOWN_NEVER)
        rc = perr(&p, "%s%s: '%s' is significant but its supervisor '%s' has auto_shutdown=never",
                  m->policies[k].line ? "policy " : "",
                  m->policies[k].line ? m->policies[k].name : "the tree", nd->id,
                  m->nodes[nd->parent].id);
    }
  }
  for (size_t n = 0; rc == 0 && n < m->nnodes; n++) {
    model_node *nd = &m->nodes[n];
    if (nd->nschedule)
      qsort(nd->schedule, nd->nschedule, sizeof *nd->schedule, cmp_i64);
    if (nd->nexits)
      qsort(nd->exits, nd->nexits, sizeof *nd->exits, cmp_i64);
  }
  if (rc == 0) {
    build_kids(m);
    for (size_t n = 0; n < m->nnodes; n++)
      if (m->nodes[n].nkids > 0 && !m->nodes[n].kids)
        rc = perr(&p, "out of memory");
  }
  free(p.kid_indent);
  if (rc != 0)
    model_free(m);
  return rc;
}

int model_load(const char *path, model *m, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int rc = 0;
  while (buf) {
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (len < cap)
      break;
    if (cap >= (size_t)64 << 20) {
      snprintf(err, errlen, "%s: larger than 64 MiB; not a model", path);
      rc = -1;
      break;
    }
    char *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  if (rc == 0 && !buf) {
    snprintf(err, errlen, "%s: out of memory", path);
    rc = -1;
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  fclose(f);
  if (rc == 0)
    rc = model_parse(buf, len, path, m, err, errlen);
  free(buf);
  return rc;
}

void model_free(model *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->nnodes; i++) {
    free(m->nodes[i].kids);
    free(m->nodes[i].schedule);
    free(m->nodes[i].exits);
  }
  free(m->nodes);
  free(m->base);
  for (size_t i = 0; i < m->npolicies; i++)
    free(m->policies[i].conf);
  free(m->policies);
  memset(m, 0, sizeof *m);
}
