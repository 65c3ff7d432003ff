/* sim.c - one run of one policy of a model on real acto supervisors, in
 * acto's deterministic mode.
 *
 * DESIGN
 * The run owns a deterministic acto system (one worker on this thread, a
 * virtual clock that jumps to the next timer when nothing can run, the
 * scheduler's choices drawn from the seed).  The model's tree becomes
 * acto_sup_spec / acto_child_spec arrays; every supervisor gets the same
 * on_event hook, with its own bookkeeping record as the user pointer; the
 * root is started with acto_supervisor_start and watched by a small
 * "watcher" actor that monitors it.  acto_system_run(duration) then plays
 * the whole run; it returns when the virtual clock reaches the end.
 *
 * Faults.  Each worker has a fixed list of fault times (sim_fault_times):
 * its explicit schedule merged with Poisson arrivals drawn from a
 * generator seeded by the model seed and the worker's id - not from the
 * system's generator - so every policy of a model meets the same faults
 * at the same instants.  A worker is an actor whose init arms a timer
 * (acto_send_after to itself) for the next fault time at or after "now";
 * when it fires, the handler returns SIM_FAULT_REASON: a real failure,
 * handled by the real supervisor (restart in place, group restarts,
 * intensity, backoff, escalation).  Faults that arrive while the worker is
 * not running are absorbed: its next incarnation starts from the first
 * fault time at or after its own start.  The same goes for `exits`, which
 * make the worker stop normally (acto_stop_self).  Timer messages carry
 * the incarnation number that armed them; terminate cancels them and the
 * handler ignores any of an older incarnation (a restart in place keeps
 * the mailbox); an actor that is not the child's latest incarnation any
 * more (see current()) ignores everything.  startup=D arms a READY timer
 * instead of being available at once.  The worker takes these messages
 * only from itself (a timer's messages come from the actor that set it)
 * and only with their size: anything else would count a fault or an exit
 * that the model never scheduled, so it is ignored.  The watcher likewise
 * watches one root: its first MSG_WATCH, and only that monitor's DOWN.
 *
 * Measures.  Failures, restarts and escalations come from the on_event
 * hook (CHILD_FAILED, CHILD_STARTED / CHILD_RESTARTED, GAVE_UP), times
 * from acto_now_ms.  Availability is kept by the workers themselves: a
 * worker is down from the fault (or its terminate: a sibling's group
 * restart, a shutdown) until it is running and past its startup time;
 * every supervisor counts the workers below it that are down, and is
 * "unavailable" (degraded) while that count is not zero.  At the end of
 * the run the books are frozen before the tree is stopped, so the
 * shutdown itself is not counted.
 *
 * Everything here runs on the calling thread (deterministic mode), so the
 * bookkeeping needs no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

enum { MSG_FAULT = 1, MSG_EXIT = 2, MSG_READY = 3, MSG_WATCH = 4 };

typedef struct sim_state sim_state;

/* The bookkeeping of one node in one run. */
typedef struct sim_live {
  sim_state *run;
  int idx;
  /* workers */
  int64_t *faults;
  size_t nfaults, next_fault, next_exit;
  uint32_t incarnation;
  uint32_t delivered; /* faults that failed it */
  int down;           /* worker: not available */
  uint32_t down_below; /* supervisor: workers below it that are down */
  int64_t down_since;
  uint32_t starts;
  sim_node_result res;
} sim_live;

struct sim_state {
  acto_system *sys;
  const model *m;
  const model_conf *conf;
  sim_live *live;
  acto_sup_spec *sups;      /* per node (supervisors only) */
  acto_child_spec **kids;   /* per node: its children's specs */
  FILE *trace;
  int64_t t0;
  int frozen;
  int error;                /* first acto error inside a callback */
  acto_ref root;
  int root_down;
  int64_t root_down_ms;
  int root_reason;
};

static int64_t run_now(sim_state *r) { return acto_now_ms(r->sys) - r->t0; }

static void note_error(sim_state *r, int rc) {
  if (rc < 0 && r->error == 0)
    r->error = rc;
}

/* ---- fault times ----------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ln(x) for x > 0, without libm: x = f * 2^e with f in [1, 2), and
 * ln f = 2 atanh((f - 1) / (f + 1)) as a series (|y| <= 1/3). */
static double ln_pos(double x) {
  int e = 0;
  while (x < 1.0) {
    x *= 2;
    e--;
  }
  while (x >= 2.0) {
    x /= 2;
    e++;
  }
  double y = (x - 1) / (x + 1), y2 = y * y, term = y, sum = 0;
  for (int k = 1; k < 64; k += 2) {
    sum += term / k;
    term *= y2;
  }
  return 2 * sum + e * 0.69314718055994530942;
}

static int cmp_time(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

long sim_fault_times(const model_node *n, uint64_t seed, int64_t duration_ms, int64_t **out) {
  size_t cap = n->nschedule + 16, k = 0;
  int64_t *t = malloc(cap * sizeof *t);
  if (!t)
    return -1;
  for (size_t i = 0; i < n->nschedule; i++)
    if (n->schedule[i] < duration_ms)
      t[k++] = n->schedule[i];
  if (n->rate_per_ms > 0) {
    /* The stream of this worker: the seed mixed with a hash of its id. */
    uint64_t h = 1469598103934665603ull;
    for (const char *c = n->id; *c; c++)
      h = (h ^ (unsigned char)*c) * 1099511628211ull;
    uint64_t x = seed ^ h;
    double at = 0;
    for (;;) {
      double u = (double)((splitmix64(&x) >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
      at += -ln_pos(u) / n->rate_per_ms;
      if (at >= (double)duration_ms)
        break;
      if (k == cap) {
        if (cap > 4 * (size_t)MODEL_MAX_EVENTS) {
          free(t);
          return -1;
        }
        int64_t *nt = realloc(t, cap * 2 * sizeof *nt);
        if (!nt) {
          free(t);
          return -1;
        }
        t = nt;
        cap *= 2;
      }
      t[k++] = (int64_t)at;
    }
  }
  qsort(t, k, sizeof *t, cmp_time); /* the schedule and the arrivals, merged */
  if (k == 0) {
    free(t);
    t = NULL;
  }
  *out = t;
  return (long)k;
}

/* ---- availability -------------------------------------------------------------------- */

/* A worker becomes unavailable (down 1) or available (down 0). */
static void mark(sim_live *lv, int down) {
  sim_state *r = lv->run;
  if (r->frozen || lv->down == down)
    return;
  int64_t now = run_now(r);
  lv->down = down;
  if (down)
    lv->down_since = now;
  else
    lv->res.unavailable_ms += now - lv->down_since;
  for (int p = r->m->nodes[lv->idx].parent; p >= 0; p = r->m->nodes[p].parent) {
    sim_live *a = &r->live[p];
    if (down) {
      if (a->down_below++ == 0)
        a->down_since = now;
    } else if (--a->down_below == 0) {
      a->res.unavailable_ms += now - a->down_since;
    }
  }
}

static void freeze(sim_state *r) {
  int64_t end = run_now(r);
  for (size_t i = 0; i < r->m->nnodes; i++) {
    sim_live *lv = &r->live[i];
    if (r->m->nodes[i].kind == MODEL_WORKER ? lv->down : lv->down_below > 0)
      lv->res.unavailable_ms += end - lv->down_since;
  }
  r->frozen = 1;
}

/* ---- the worker ---------------------------------------------------------------------------- */

typedef struct worker_state {
  sim_live *lv;
  uint32_t inc; /* the incarnation that armed our timers */
  acto_timer t_fault, t_exit, t_ready;
} worker_state;

static void arm(acto_ctx *ctx, worker_state *s, uint32_t type, int64_t at, acto_timer *t) {
  sim_state *r = s->lv->run;
  int64_t delay = at - run_now(r);
  int rc = acto_send_after(r->sys, acto_self(ctx), type, &s->inc, sizeof s->inc,
                           delay > 0 ? delay : 0, t);
  if (rc != 0) {
    *t = 0;
    note_error(r, rc);
  }
}

static int worker_init(acto_ctx *ctx, void *state, const void *arg) {
  worker_state *s = state;
  sim_live *lv = (sim_live *)arg;
  if (!lv)
    return ACTO_EINVAL;
  sim_state *r = lv->run;
  const model_node *n = &r->m->nodes[lv->idx];
  s->lv = lv;
  s->inc = ++lv->incarnation; /* an older actor of this child is now stale */
  int64_t now = run_now(r);
  while (lv->next_fault < lv->nfaults && lv->faults[lv->next_fault] < now)
    lv->next_fault++; /* absorbed while it was not running */
  while (lv->next_exit < n->nexits && n->exits[lv->next_exit] < now)
    lv->next_exit++;
  if (n->startup_ms > 0) {
    mark(lv, 1);
    arm(ctx, s, MSG_READY, now + n->startup_ms, &s->t_ready);
  } else {
    mark(lv, 0);
  }
  if (lv->next_fault < lv->nfaults)
    arm(ctx, s, MSG_FAULT, lv->faults[lv->next_fault], &s->t_fault);
  if (lv->next_exit < n->nexits)
    arm(ctx, s, MSG_EXIT, n->exits[lv->next_exit], &s->t_exit);
  return 0;
}

/* Is this actor the child's latest incarnation?  Not always: when a
 * group restart restarts a nested supervisor in place, the supervisor's
 * terminate only signals its children to stop, so an old child may still
 * be alive when the new supervisor has started its successor.  A stale
 * actor must not touch the books (nor fail on a fault meant for the new
 * one). */
static int current(const worker_state *s) { return s->inc == s->lv->incarnation; }

static int worker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  worker_state *s = state;
  uint32_t inc = 0;
  if (msg->type < MSG_FAULT || msg->type > MSG_READY || msg->size != sizeof inc ||
      !acto_ref_eq(msg->sender, acto_self(ctx)))
    return 0; /* not one of its own timers' */
  memcpy(&inc, msg->data, sizeof inc);
  if (inc != s->inc || !current(s))
    return 0; /* armed by an earlier incarnation, or we are the stale one */
  sim_live *lv = s->lv;
  switch (msg->type) {
  case MSG_FAULT:
    s->t_fault = 0;
    lv->next_fault++;
    if (!lv->run->frozen)
      lv->delivered++;
    mark(lv, 1);
    return SIM_FAULT_REASON; /* the injected failure */
  case MSG_EXIT:
    s->t_exit = 0;
    lv->next_exit++;
    mark(lv, 1);
    note_error(lv->run, acto_stop_self(ctx));
    return 0;
  default: /* MSG_READY */
    s->t_ready = 0;
    mark(lv, 0);
    return 0;
  }
}

static void worker_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  (void)reason;
  worker_state *s = state;
  acto_system *sys = s->lv->run->sys;
  acto_timer *t[3] = {&s->t_fault, &s->t_exit, &s->t_ready};
  for (int i = 0; i < 3; i++) {
    if (*t[i])
      acto_timer_cancel(sys, *t[i]); /* ACTO_ENOENT: it fired; inc guards */
    *t[i] = 0;
  }
  if (current(s))
    mark(s->lv, 1);
}

static const acto_behaviour worker_behaviour = {
    .name = "model.worker",
    .state_size = sizeof(worker_state),
    .init = worker_init,
    .handle = worker_handle,
    .terminate = worker_terminate,
};

/* ---- the watcher: monitors the root ----------------------------------------------------------- */

typedef struct watcher_state {
  sim_state *run;
  uint64_t mon; /* the root's monitor; 0 until MSG_WATCH */
} watcher_state;

static int watcher_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  if (!arg)
    return ACTO_EINVAL;
  ((watcher_state *)state)->run = (sim_state *)arg;
  return 0;
}

static int watcher_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  watcher_state *w = state;
  sim_state *r = w->run;
  if (msg->type == MSG_WATCH && msg->size == sizeof(acto_ref) && w->mon == 0) {
    acto_ref root;
    memcpy(&root, msg->data, sizeof root);
    note_error(r, acto_monitor(ctx, root, &w->mon));
  } else if (msg->type == ACTO_MSG_DOWN && msg->size == sizeof(acto_down)) {
    acto_down d;
    memcpy(&d, msg->data, sizeof d);
    if (d.monitor == w->mon && !r->frozen && !r->root_down) {
      r->root_down = 1;
      r->root_down_ms = run_now(r);
      r->root_reason = d.reason;
    }
  }
  return 0;
}

static const acto_behaviour watcher_behaviour = {
    .name = "model.watcher",
    .state_size = sizeof(watcher_state),
    .init = watcher_init,
    .handle = watcher_handle,
};

/* ---- the on_event hook ------------------------------------------------------------------------ */

static const char *event_name(acto_sup_event ev) {
  switch (ev) {
  case ACTO_SUP_CHILD_STARTED: return "started";
  case ACTO_SUP_CHILD_FAILED: return "failed";
  case ACTO_SUP_CHILD_EXITED: return "exited";
  case ACTO_SUP_CHILD_RESTARTED: return "restarted";
  case ACTO_SUP_CHILD_STOPPED: return "stopped";
  case ACTO_SUP_GAVE_UP: return "GAVE UP";
  case ACTO_SUP_SHUTDOWN: return "shutdown";
  default: return "?";
  }
}

static void reason_text(int reason, char *buf, size_t n) {
  if (reason == SIM_FAULT_REASON)
    snprintf(buf, n, "injected fault");
  else if (reason == ACTO_REASON_NORMAL)
    snprintf(buf, n, "normal");
  else if (reason == ACTO_REASON_SHUTDOWN)
    snprintf(buf, n, "shutdown");
  else if (reason == ACTO_REASON_KILLED)
    snprintf(buf, n, "killed");
  else if (reason < 0 && reason > ACTO_ERRNO_MIN)
    snprintf(buf, n, "%s", acto_err_name(reason));
  else
    snprintf(buf, n, "reason %d", reason);
}

static void on_event(void *user, acto_ref sup, const char *child_id, acto_sup_event ev,
                     int reason) {
  (void)sup;
  sim_live *sl = user;
  sim_state *r = sl->run;
  if (r->frozen)
    return;
  const model_node *sn = &r->m->nodes[sl->idx];
  sim_live *c = NULL;
  for (size_t i = 0; i < sn->nkids; i++)
    if (strcmp(r->m->nodes[sn->kids[i]].id, child_id) == 0)
      c = &r->live[sn->kids[i]];
  switch (ev) {
  case ACTO_SUP_CHILD_STARTED:
  case ACTO_SUP_CHILD_RESTARTED:
    if (c)
      c->starts++;
    break;
  case ACTO_SUP_CHILD_FAILED:
    if (c)
      c->res.failures++;
    break;
  case ACTO_SUP_CHILD_EXITED:
    if (c)
      c->res.exits++;
    break;
  case ACTO_SUP_GAVE_UP:
    if (c)
      c->res.escalations++;
    if (sn->parent < 0) {
      /* The root's give-up is its failure, and it leaves the tree. */
      sl->res.failures++;
      sl->res.escalations++;
    }
    break;
  default:
    break;
  }
  if (r->trace && ev != ACTO_SUP_CHILD_STARTED) {
    int64_t t = run_now(r);
    char why[48] = "";
    if (ev == ACTO_SUP_CHILD_FAILED || ev == ACTO_SUP_CHILD_EXITED || ev == ACTO_SUP_GAVE_UP ||
        ev == ACTO_SUP_SHUTDOWN)
      reason_text(reason, why, sizeof why);
    fprintf(r->trace, "  %3lld:%02lld:%02lld.%03lld  %-12s %-12s %s%s%s\n",
            (long long)(t / 3600000), (long long)(t / 60000 % 60), (long long)(t / 1000 % 60),
            (long long)(t % 1000), sn->id, child_id[0] ? child_id : "-", event_name(ev),
            why[0] ? ": " : "", why);
  }
}

/* ---- specs ------------------------------------------------------------------------------------- */

static int build_specs(sim_state *r) {
  const model *m = r->m;
  r->sups = calloc(m->nnodes, sizeof *r->sups);
  r->kids = calloc(m->nnodes, sizeof *r->kids);
  if (!r->sups || !r->kids)
    return -1;
  for (size_t i = 0; i < m->nnodes; i++) {
    const model_node *n = &m->nodes[i];
    if (n->kind != MODEL_SUPERVISOR)
      continue;
    const model_conf *c = &r->conf[i];
    if (n->nkids > 0) {
      r->kids[i] = calloc(n->nkids, sizeof *r->kids[i]);
      if (!r->kids[i])
        return -1;
    }
    for (size_t k = 0; k < n->nkids; k++) {
      int ki = n->kids[k];
      const model_node *kn = &m->nodes[ki];
      acto_child_spec *cs = &r->kids[i][k];
      cs->id = kn->id;
      cs->restart = r->conf[ki].restart;
      cs->significant = r->conf[ki].significant;
      cs->shutdown_ms = ACTO_SHUTDOWN_DEFAULT;
      if (kn->kind == MODEL_WORKER) {
        cs->kind = ACTO_WORKER;
        cs->behaviour = &worker_behaviour;
        cs->arg = &r->live[ki]; /* arg_size 0: the pointer itself */
      } else {
        cs->kind = ACTO_SUPERVISOR;
        cs->sup = &r->sups[ki]; /* filled below; copied at start */
      }
    }
    r->sups[i] = (acto_sup_spec){
        .strategy = c->strategy,
        .intensity = c->intensity,
        .period_ms = c->period_ms,
        .backoff_min_ms = c->backoff_min_ms,
        .backoff_max_ms = c->backoff_max_ms,
        .jitter_pct = c->jitter_pct,
        .auto_shutdown = c->auto_shutdown,
        .children = r->kids[i],
        .nchildren = n->nkids,
        .on_event = on_event,
        .event_user = &r->live[i],
    };
  }
  return 0;
}

static void state_free(sim_state *r) {
  if (r->live)
    for (size_t i = 0; i < r->m->nnodes; i++)
      free(r->live[i].faults);
  if (r->kids)
    for (size_t i = 0; i < r->m->nnodes; i++)
      free(r->kids[i]);
  free(r->kids);
  free(r->sups);
  free(r->live);
}

/* ---- the run ----------------------------------------------------------------------------------- */

static int sim_fail(char *err, size_t n, const char *what, int rc) {
  snprintf(err, n, "%s: %s", what, rc ? acto_strerror(rc) : "out of memory");
  return -1;
}

int sim_run(const model *m, int policy, uint64_t seed, int64_t duration_ms, FILE *trace,
            sim_result *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (policy < 0 || (size_t)policy >= m->npolicies || m->nnodes == 0) {
    snprintf(err, errlen, "no such policy");
    return -1;
  }
  if (duration_ms <= 0 || duration_ms > MODEL_MAX_DURATION_MS) {
    snprintf(err, errlen, "the duration must be positive and at most 366d");
    return -1;
  }
  for (size_t i = 0; i < m->nnodes; i++)
    if (m->nodes[i].kind == MODEL_WORKER &&
        model_expected_faults(&m->nodes[i], duration_ms) > MODEL_MAX_EVENTS) {
      snprintf(err, errlen, "worker '%s' would see about %.0f faults in the simulated time; at most %d",
               m->nodes[i].id, model_expected_faults(&m->nodes[i], duration_ms), MODEL_MAX_EVENTS);
      return -1;
    }
  sim_state r = {.m = m, .conf = m->policies[policy].conf, .trace = trace};
  int rc = 0;
  r.live = calloc(m->nnodes, sizeof *r.live);
  if (!r.live)
    return sim_fail(err, errlen, "sim", 0);
  for (size_t i = 0; i < m->nnodes; i++) {
    sim_live *lv = &r.live[i];
    lv->run = &r;
    lv->idx = (int)i;
    if (m->nodes[i].kind != MODEL_WORKER)
      continue;
    long k = sim_fault_times(&m->nodes[i], seed, duration_ms, &lv->faults);
    if (k < 0) {
      state_free(&r);
      return sim_fail(err, errlen, "fault times", 0);
    }
    lv->nfaults = (size_t)k;
    /* Every worker is down until its first start; so is every
     * supervisor with workers below it. */
    lv->down = 1;
    for (int p = m->nodes[i].parent; p >= 0; p = m->nodes[p].parent)
      r.live[p].down_below++;
  }
  if (build_specs(&r) != 0) {
    state_free(&r);
    return sim_fail(err, errlen, "specs", 0);
  }
  out->nodes = calloc(m->nnodes, sizeof *out->nodes);
  if (!out->nodes) {
    state_free(&r);
    return sim_fail(err, errlen, "sim", 0);
  }
  acto_config cfg = {0};
  cfg.deterministic = 1;
  cfg.seed = seed;
  rc = acto_system_create(&cfg, &r.sys);
  if (rc != 0) {
    state_free(&r);
    sim_result_free(out);
    return sim_fail(err, errlen, "acto_system_create", rc);
  }
  r.t0 = acto_now_ms(r.sys);
  acto_ref watcher;
  const char *step = "spawning the watcher";
  rc = acto_spawn(r.sys, &watcher_behaviour, &r, NULL, &watcher);
  if (rc == 0) {
    step = "starting the root supervisor";
    rc = acto_supervisor_start(r.sys, &r.sups[0], NULL, &r.root);
  }
  if (rc == 0) {
    step = "watching the root";
    rc = acto_send(r.sys, watcher, MSG_WATCH, &r.root, sizeof r.root);
  }
  int64_t handled = 0;
  if (rc == 0) {
    step = "running";
    handled = acto_system_run(r.sys, duration_ms);
    if (handled < 0)
      rc = (int)handled;
  }
  if (rc == 0) {
    freeze(&r);
    step = "acto";
    rc = r.error;
  }
  if (rc == 0 && acto_alive(r.sys, r.root)) {
    step = "stopping the root supervisor";
    rc = acto_supervisor_stop(r.sys, r.root, 3600 * 1000);
  }
  int rc2 = acto_system_shutdown(r.sys);
  if (rc == 0 && rc2 != 0) {
    step = "acto_system_shutdown";
    rc = rc2;
  }
  if (rc != 0) {
    state_free(&r);
    sim_result_free(out);
    return sim_fail(err, errlen, step, rc);
  }
  out->policy = policy;
  out->seed = seed;
  out->duration_ms = duration_ms;
  out->root_survived = !r.root_down;
  out->root_down_ms = r.root_down_ms;
  out->root_reason = r.root_reason;
  out->messages = (uint64_t)handled;
  for (size_t i = 0; i < m->nnodes; i++) {
    sim_live *lv = &r.live[i];
    out->nodes[i] = lv->res;
    out->nodes[i].restarts = lv->starts > 1 ? lv->starts - 1 : 0;
    if (m->nodes[i].kind == MODEL_WORKER)
      out->nodes[i].absorbed = (uint32_t)(lv->nfaults - lv->delivered);
  }
  state_free(&r);
  return 0;
}

void sim_result_free(sim_result *r) {
  free(r->nodes);
  r->nodes = NULL;
}
