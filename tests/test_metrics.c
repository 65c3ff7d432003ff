/* test_metrics.c - what a running system tells about itself: the rows of
 * acto_metrics_workers, the system-wide counters of acto_stats that
 * follow work in flight (timers, asks, restarts), the thread hooks of
 * acto_config and the names of acto's threads.
 */
#include <stddef.h>
#include <string.h>

#include "testutil.h"
#include "testnode.h"

enum { T_START = 1, T_BALL, T_KEEP, T_RELEASE, T_ASK, T_BOOM, T_WHERE };

/* ---- a pair that plays ping-pong N times ---------------------------------------- */

typedef struct player {
  acto_ref peer;
  long left;
} player;

static tu_counter done;

static int player_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  player *p = state;
  switch (m->type) {
  case T_START:
    memcpy(&p->peer, m->data, sizeof p->peer);
    memcpy(&p->left, (const char *)m->data + sizeof p->peer, sizeof p->left);
    return acto_send(acto_ctx_system(ctx), p->peer, T_BALL, NULL, 0);
  case T_BALL:
    if (p->left > 0 && --p->left == 0) {
      tu_counter_add(&done, 1);
      return 0;
    }
    return acto_send(acto_ctx_system(ctx), acto_sender(ctx), T_BALL, NULL, 0);
  default:
    return 0;
  }
}

static const acto_behaviour PLAYER = {
    .name = "player", .state_size = sizeof(player), .handle = player_handle};

/* Plays n round trips between two new actors and waits for the end. */
static void play(acto_system *sys, long n) {
  acto_ref a, b;
  ck_assert_ok(acto_spawn(sys, &PLAYER, NULL, NULL, &a));
  ck_assert_ok(acto_spawn(sys, &PLAYER, NULL, NULL, &b));
  char start[sizeof(acto_ref) + sizeof(long)];
  memcpy(start, &b, sizeof b);
  memcpy(start + sizeof b, &n, sizeof n);
  long before = tu_counter_get(&done);
  ck_assert_ok(acto_send(sys, a, T_START, start, sizeof start));
  ck_assert_counter_reaches(&done, before + 1);
}

static int nrows(acto_system *sys) {
  int n = acto_metrics_workers(sys, NULL, 0);
  ck_assert_int_gt(n, 0);
  return n;
}

typedef struct sums {
  uint64_t turns, messages, parks, taken, given, hits, busy, depth;
} sums;

static sums sum_rows(acto_system *sys, acto_worker_metrics *rows, int n) {
  ck_assert_int_eq(acto_metrics_workers(sys, rows, (size_t)n), n);
  sums s = {0};
  for (int i = 0; i < n; i++) {
    s.turns += rows[i].turns;
    s.messages += rows[i].messages;
    s.parks += rows[i].parks;
    s.taken += rows[i].steals_taken;
    s.given += rows[i].steals_given;
    s.hits += rows[i].runnext_hits;
    s.busy += rows[i].busy_ns;
    s.depth += rows[i].queue_depth;
  }
  return s;
}

static void setup(void) {
  tu_setup();
  tu_counter_init(&done);
}

/* ---- the rows ------------------------------------------------------------------- */

START_TEST(metrics_workers_validates_its_arguments) {
  acto_system *sys = tu_system(3);
  acto_worker_metrics rows[4];
  ck_assert_rc(acto_metrics_workers(NULL, rows, 4), ACTO_EINVAL);
  ck_assert_rc(acto_metrics_workers(sys, NULL, 1), ACTO_EINVAL);
  ck_assert_int_eq(acto_metrics_workers(sys, NULL, 0), 3);
  /* A smaller array gets the first rows; the count is all of them. */
  memset(rows, 0xab, sizeof rows);
  ck_assert_int_eq(acto_metrics_workers(sys, rows, 2), 3);
  ck_assert_uint_eq(rows[0].index, 0);
  ck_assert_uint_eq(rows[1].index, 1);
  ck_assert_uint_eq(rows[1].kind, ACTO_WORKER_THREAD);
  ck_assert_uint_eq(rows[1].reserved[0], 0);
  ck_assert_uint_eq(rows[2].index, 0xabababab); /* untouched */
  /* An unknown config flag is refused. */
  acto_config c = {0};
  c.flags = 4;
  acto_system *bad = NULL;
  ck_assert_rc(acto_system_create(&c, &bad), ACTO_EINVAL);
  tu_shutdown(sys);
}
END_TEST

/* Every message handled is in some worker's row; a talking pair takes
 * its turns from the run-next slot; at rest no actor waits in a queue;
 * steals taken and given match. */
START_TEST(rows_count_the_turns_and_messages_of_a_talking_pair) {
  acto_system *sys = tu_system(2);
  long n = TU_N(20000, 5000, 2000);
  play(sys, n);
  int k = nrows(sys);
  ck_assert_int_eq(k, 2); /* no node: no I/O row */
  acto_worker_metrics rows[2];
  /* Counters are published when a turn ends: wait for the last one. */
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  sums s;
  for (;;) {
    s = sum_rows(sys, rows, k);
    acto_stats st = tu_stats(sys);
    if ((s.messages == st.messages_handled && s.messages >= (uint64_t)(2 * n) && s.depth == 0 &&
         s.taken == s.given) ||
        tu_now_ms() > end)
      break;
    tu_sleep_ms(5);
  }
  acto_stats st = tu_stats(sys);
  ck_assert_uint_eq(s.messages, st.messages_handled);
  ck_assert_uint_ge(s.messages, (uint64_t)(2 * n));
  /* (Not turns <= messages: a turn can find its message's producer
   * between its two steps and end with none handled, then run again.) */
  ck_assert_uint_ge(s.turns, 2);
  ck_assert_uint_gt(s.hits, 0);
  ck_assert_uint_eq(s.depth, 0);
  ck_assert_uint_eq(s.taken, st.steals);
  ck_assert_uint_eq(s.given, s.taken);
  for (int i = 0; i < k; i++) {
    ck_assert_uint_eq(rows[i].index, (uint32_t)i);
    ck_assert_uint_eq(rows[i].kind, ACTO_WORKER_THREAD);
  }
  tu_shutdown(sys);
}
END_TEST

/* Busy time is time awake: never more than the time since the system
 * began, per worker; an idle system's workers sleep (parks grow) and
 * their busy time stands still while they do. */
START_TEST(busy_time_is_bounded_by_the_wall_clock_and_stops_while_asleep) {
  int64_t t0 = tu_now_ns();
  acto_system *sys = tu_system(2);
  play(sys, TU_N(20000, 5000, 2000));
  acto_worker_metrics a[2], b[2];
  /* Idle: both workers go to sleep (each parks at least once). */
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    ck_assert_int_eq(acto_metrics_workers(sys, a, 2), 2);
    if ((a[0].parks > 0 && a[1].parks > 0) || tu_now_ms() > end)
      break;
    tu_sleep_ms(5);
  }
  ck_assert_uint_gt(a[0].parks, 0);
  ck_assert_uint_gt(a[1].parks, 0);
  int64_t wall = tu_now_ns() - t0;
  for (int i = 0; i < 2; i++) {
    ck_assert_uint_gt(a[i].busy_ns + a[i].turns, 0);
    ck_assert_msg(a[i].busy_ns <= (uint64_t)wall, "worker %d busy %" PRIu64 " ns of %" PRId64, i,
                  a[i].busy_ns, wall);
  }
  ck_assert_uint_gt(a[0].busy_ns + a[1].busy_ns, 0);
  /* 200 ms more of nothing: busy time grows by far less than that (a
   * worker wakes every 50 ms to look, briefly). */
  tu_sleep_ms(200);
  ck_assert_int_eq(acto_metrics_workers(sys, b, 2), 2);
  for (int i = 0; i < 2; i++)
    ck_assert_msg(b[i].busy_ns - a[i].busy_ns < 150000000u,
                  "worker %d was busy %" PRIu64 " ns of 200 ms idle", i,
                  b[i].busy_ns - a[i].busy_ns);
  tu_shutdown(sys);
}
END_TEST

START_TEST(no_metrics_keeps_the_counters_of_acto_stats_only) {
  acto_config c = {0};
  c.threads = 2;
  c.flags = ACTO_CONFIG_NO_METRICS;
  acto_system *sys = tu_system_cfg(&c);
  long n = TU_N(20000, 5000, 2000);
  play(sys, n);
  acto_worker_metrics rows[2];
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  sums s;
  do {
    s = sum_rows(sys, rows, 2);
  } while (s.messages < (uint64_t)(2 * n) && tu_now_ms() < end && (tu_sleep_ms(5), 1));
  ck_assert_uint_ge(s.messages, (uint64_t)(2 * n));
  ck_assert_uint_gt(s.turns, 0);
  ck_assert_uint_eq(s.hits, 0);
  ck_assert_uint_eq(s.given, 0);
  ck_assert_uint_eq(s.busy, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- timers, asks, restarts --------------------------------------------------- */

START_TEST(timers_pending_counts_armed_timers) {
  acto_system *sys = tu_system(2);
  acto_ref a;
  ck_assert_ok(acto_spawn(sys, &PLAYER, NULL, NULL, &a));
  ck_assert_uint_eq(tu_stats(sys).timers_pending, 0);
  acto_timer t[3];
  for (int i = 0; i < 3; i++)
    ck_assert_ok(acto_send_after(sys, a, T_BALL, NULL, 0, 60000, &t[i]));
  acto_timer p;
  ck_assert_ok(acto_send_periodic(sys, a, T_BALL, NULL, 0, 60000, 60000, &p));
  ck_assert_uint_eq(tu_stats(sys).timers_pending, 4);
  ck_assert_ok(acto_timer_cancel(sys, t[1]));
  ck_assert_ok(acto_timer_cancel(sys, p));
  ck_assert_uint_eq(tu_stats(sys).timers_pending, 2);
  /* One that fires and is handled is done. */
  acto_timer soon;
  ck_assert_ok(acto_send_after(sys, a, T_BALL, NULL, 0, 1, &soon));
  ck_assert_stat_becomes(sys, timers_pending, 2);
  tu_shutdown(sys);
}
END_TEST

/* A keeper keeps every request (acto_reply_later) until told to answer
 * them all; an asker asks it K times, asynchronously. */
#define MAXKEPT 16
typedef struct keeper {
  acto_reply_token tok[MAXKEPT];
  int n;
} keeper;

static tu_counter answered;

static int keeper_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  keeper *k = state;
  if (m->type == T_KEEP) {
    TU_EXPECT(k->n < MAXKEPT, "too many kept requests");
    return acto_reply_later(ctx, &k->tok[k->n++]);
  }
  if (m->type == T_RELEASE) {
    for (int i = 0; i < k->n; i++)
      TU_EXPECT_RC(acto_reply_to(acto_ctx_system(ctx), &k->tok[i], T_KEEP, NULL, 0), 0);
    k->n = 0;
  }
  return 0;
}

static const acto_behaviour KEEPER = {
    .name = "keeper", .state_size = sizeof(keeper), .handle = keeper_handle};

static void on_answer(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)ctx;
  (void)state;
  (void)reply;
  (void)user;
  TU_EXPECT(status == 0, "ask ended with %d", status);
  tu_counter_add(&answered, 1);
}

static int asker_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  if (m->type == T_ASK) {
    acto_ref to;
    memcpy(&to, m->data, sizeof to);
    return acto_ask_async(ctx, to, T_KEEP, NULL, 0, 60000, on_answer, NULL, NULL);
  }
  return 0;
}

static const acto_behaviour ASKER = {.name = "asker", .handle = asker_handle};

typedef struct plain_ask {
  acto_system *sys;
  acto_ref to;
  int rc;
} plain_ask;

static void *plain_asker(void *p_) {
  plain_ask *p = p_;
  acto_reply_buf rb;
  p->rc = acto_ask(p->sys, p->to, T_KEEP, NULL, 0, TU_WAIT_MS, &rb);
  if (p->rc == 0)
    acto_reply_release(&rb);
  return NULL;
}

START_TEST(asks_pending_counts_asks_until_they_end) {
  tu_counter_init(&answered);
  acto_system *sys = tu_system(2);
  acto_ref keeper, asker;
  ck_assert_ok(acto_spawn(sys, &KEEPER, NULL, NULL, &keeper));
  ck_assert_ok(acto_spawn(sys, &ASKER, NULL, NULL, &asker));
  ck_assert_uint_eq(tu_stats(sys).asks_pending, 0);
  for (int i = 0; i < 5; i++)
    ck_assert_ok(acto_send(sys, asker, T_ASK, &keeper, sizeof keeper));
  ck_assert_stat_becomes(sys, asks_pending, 5);
  /* A plain thread's ask counts while it waits. */
  plain_ask pa = {sys, keeper, -1};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, plain_asker, &pa), 0);
  ck_assert_stat_becomes(sys, asks_pending, 6);
  /* The keeper holds 6 requests once the plain thread's arrived. */
  ck_assert_stat_becomes(sys, messages_handled, 5 + 5 + 1);
  ck_assert_ok(acto_send(sys, keeper, T_RELEASE, NULL, 0));
  pthread_join(th, NULL);
  ck_assert_int_eq(pa.rc, 0);
  ck_assert_counter_reaches(&answered, 5);
  ck_assert_stat_becomes(sys, asks_pending, 0);
  tu_shutdown(sys);
}
END_TEST

static int boom_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  return m->type == T_BOOM ? -5 : 0;
}

static const acto_behaviour BOOM = {.name = "boom", .handle = boom_handle};

START_TEST(restarts_counts_the_restarts_of_supervisors) {
  acto_system *sys = tu_system(2);
  acto_child_spec ch = {0};
  ch.id = "w";
  ch.kind = ACTO_WORKER;
  ch.behaviour = &BOOM;
  ch.restart = ACTO_PERMANENT;
  ch.shutdown_ms = 1000;
  ch.name = "boom";
  acto_sup_spec spec = {0};
  spec.strategy = ACTO_ONE_FOR_ONE;
  spec.intensity = 10;
  spec.children = &ch;
  spec.nchildren = 1;
  acto_ref sup;
  ck_assert_ok(acto_supervisor_start(sys, &spec, NULL, &sup));
  ck_assert_uint_eq(tu_stats(sys).restarts, 0);
  for (int i = 1; i <= 3; i++) {
    acto_ref w = ACTO_REF_NONE;
    int64_t end = tu_now_ms() + TU_WAIT_MS;
    /* The restarted child registers its name again. */
    while (acto_lookup(sys, "boom", &w) != 0 && tu_now_ms() < end)
      tu_sleep_ms(2);
    ck_assert_ok(acto_send(sys, w, T_BOOM, NULL, 0));
    ck_assert_stat_becomes(sys, restarts, (uint64_t)i);
  }
  tu_shutdown(sys);
}
END_TEST

/* ---- threads -------------------------------------------------------------------- */

#define MAXNAMES 64
static pthread_mutex_t names_mtx = PTHREAD_MUTEX_INITIALIZER;
static char started[MAXNAMES][16], stopped[MAXNAMES][16];
static int nstarted, nstopped, misnamed;

/* Notes a hook's call in v: the thread must bear the name it is told. */
static void note_thread(void *user, const char *name, char (*v)[16], int *n) {
  char self[16] = {0};
  pthread_getname_np(pthread_self(), self, sizeof self);
  pthread_mutex_lock(&names_mtx);
  if (*(int *)user != 42 || strcmp(self, name) != 0)
    misnamed++;
  if (*n < MAXNAMES)
    snprintf(v[(*n)++], 16, "%s", name);
  pthread_mutex_unlock(&names_mtx);
}

static void on_start(void *user, const char *name) { note_thread(user, name, started, &nstarted); }
static void on_stop(void *user, const char *name) { note_thread(user, name, stopped, &nstopped); }

static int count_name(char (*v)[16], int n, const char *name) {
  int k = 0;
  for (int i = 0; i < n; i++)
    k += strcmp(v[i], name) == 0;
  return k;
}

/* Every thread acto starts calls thread_start on itself, under its name,
 * and thread_stop before it ends; the node's I/O thread is one of them,
 * and its row appears in acto_metrics_workers. */
START_TEST(thread_hooks_see_every_thread_under_its_name) {
  static int user = 42;
  nstarted = nstopped = misnamed = 0;
  acto_config c = {0};
  c.threads = 2;
  c.thread_start = on_start;
  c.thread_stop = on_stop;
  c.thread_user = &user;
  acto_system *sys = tu_system_cfg(&c);
  acto_node_config nc = {0};
  nc.name = "hooks";
  nc.key = KEY;
  nc.key_len = 32;
  ck_assert_ok(acto_node_start(sys, &nc));
  ck_assert_int_eq(nrows(sys), 3);
  acto_worker_metrics rows[3];
  ck_assert_int_eq(acto_metrics_workers(sys, rows, 3), 3);
  ck_assert_uint_eq(rows[2].kind, ACTO_WORKER_IO);
  ck_assert_uint_eq(rows[2].index, 2);
  ck_assert_uint_eq(rows[2].parks, 0);
  tu_shutdown(sys);
  pthread_mutex_lock(&names_mtx);
  ck_assert_int_eq(misnamed, 0);
  ck_assert_int_eq(nstarted, nstopped);
  ck_assert_int_eq(count_name(started, nstarted, "acto-w0"), 1);
  ck_assert_int_eq(count_name(started, nstarted, "acto-w1"), 1);
  ck_assert_int_eq(count_name(started, nstarted, "acto-timer"), 1);
  ck_assert_int_eq(count_name(started, nstarted, "acto-node"), 1);
  for (int i = 0; i < nstarted; i++)
    ck_assert_int_eq(count_name(stopped, nstopped, started[i]),
                     count_name(started, nstarted, started[i]));
  pthread_mutex_unlock(&names_mtx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tu_tcase("workers", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, metrics_workers_validates_its_arguments,
               rows_count_the_turns_and_messages_of_a_talking_pair,
               busy_time_is_bounded_by_the_wall_clock_and_stops_while_asleep,
               no_metrics_keeps_the_counters_of_acto_stats_only);
  suite_add_tcase(s, tc);

  tc = tu_tcase("system", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, timers_pending_counts_armed_timers, asks_pending_counts_asks_until_they_end,
               restarts_counts_the_restarts_of_supervisors);
  suite_add_tcase(s, tc);

  tc = tu_tcase("threads", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, thread_hooks_see_every_thread_under_its_name);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
