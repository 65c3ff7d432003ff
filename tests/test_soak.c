/* test_soak.c - the long soak run (make test-long): a mixed workload for
 * ACTO_SOAK_SECONDS (default 300) under a supervisor that keeps failing
 * and restarting actors, with accounting checked at the end.
 *
 * Skipped (exit 77) unless ACTO_LONG_TESTS=1, so `make test` stays short.
 *
 * What it checks: every message a sender had accepted (send returned 0 or
 * ACTO_PARKED) is either handled or reported as a dead letter - nothing
 * disappears; per-pair order holds within each incarnation of a receiver;
 * asks from plain threads always finish (reply, deadline or failure
 * code); the tree is still healthy at the end, and shutdown completes
 * (the ASan build adds: no leak).
 *
 * Memory: a leak that ASan cannot see (something held while the system
 * runs and freed at shutdown) shows as RSS that keeps growing.  The run
 * prints its RSS every 30 s (and, in the plain build, what malloc counts
 * as in use, to tell live data from pages merely touched) and the plain
 * build checks that after a warm-up of SOAK_WARM_S seconds RSS never
 * exceeds its value at the end of the warm-up by more than
 * SOAK_RSS_SLACK_KB.  Why 1 MB: RSS is flat after the warm-up (+8 kB from
 * 30 s to 110 s; +28 kB from 60 s to 140 s with the whole run on one CPU
 * and a busy loop taking that CPU from 70 s to 110 s).  What can still
 * grow after the warm-up is bounded by load, not by time: message blocks
 * in flight (at most 64 mailboxes x 256 messages, about 4 MB if every
 * mailbox were full at once) kept by the workers' block caches and
 * malloc's arenas; such a step has never come near 1 MB.  The leak this
 * check was written for (the supervisor's restart-time ring, 8 bytes per
 * restart, 25-35 KB/s here) crosses 1 MB within 40 s of the warm-up.
 * The sanitizer builds only print: their allocators (ASan's quarantine,
 * TSan's shadow and history) move RSS on their own.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <acto/acto.h>
#include "testutil.h" /* TU_ASAN, TU_TSAN */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)) && \
    !TU_ASAN && !TU_TSAN
#include <malloc.h>
#define SOAK_MALLINFO 1
#else
#define SOAK_MALLINFO 0
#endif

#define SOAK_WARM_S 60
#define SOAK_RSS_SLACK_KB 1024L
#define SOAK_STALL_S 30

#define NODES 64
enum { T_HOP = 1, T_PING = 2, T_CRASH = 3 };

#define FEEDERS 3
#define SENDERS (NODES + FEEDERS)

typedef struct hop {
  uint32_t from;  /* sender node index, or NODES + k for feeder thread k */
  uint32_t epoch; /* the sender's incarnation (a restart in place zeroes its
                     counters, so sequences restart with a new epoch) */
  uint64_t seq;   /* per (sender, receiver) sequence number */
  uint32_t ttl;
} hop;

static acto_system *g_sys;
static _Atomic uint64_t g_accepted, g_handled, g_order_errors;
static _Atomic uint64_t g_asks_ok, g_asks_failed;
static _Atomic int g_stop_load;

typedef struct node_state {
  uint32_t idx;
  uint32_t epoch;
  uint64_t rng;
  uint64_t next_seq[NODES];      /* outgoing, per receiver */
  uint32_t seen_epoch[SENDERS];  /* incoming, per sender */
  uint64_t last_seen[SENDERS];
} node_state;

static uint64_t xs(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int node_init(acto_ctx *ctx, void *state, const void *arg) {
  node_state *s = state;
  memcpy(&s->idx, arg, sizeof s->idx);
  s->rng = acto_random(acto_ctx_system(ctx)) | 1;
  s->epoch = (uint32_t)xs(&s->rng) | 1;
  return 0;
}

/* Hops go from a node to one of higher index only.  Senders that park on
 * full block-policy mailboxes must not form a cycle: A suspended on B's
 * full mailbox while B is suspended on A's is a deadlock (ACTORS.md §5),
 * which a random forwarding graph hit about once in 28 minutes of soak.
 * Feeders (plain threads) still send to every node. */
static void forward(acto_ctx *ctx, node_state *s, uint32_t ttl) {
  char name[16];
  if (s->idx + 1 >= NODES)
    return; /* the last node ends every hop */
  uint32_t to = s->idx + 1 + (uint32_t)(xs(&s->rng) % (NODES - 1 - s->idx));
  snprintf(name, sizeof name, "n%u", to);
  acto_ref r;
  if (acto_lookup(acto_ctx_system(ctx), name, &r) != 0)
    return;
  hop h = {s->idx, s->epoch, ++s->next_seq[to], ttl};
  int rc = acto_send(acto_ctx_system(ctx), r, T_HOP, &h, sizeof h);
  if (rc == 0 || rc == ACTO_PARKED || rc == ACTO_ESTALE) /* ESTALE: a counted dead letter */
    atomic_fetch_add(&g_accepted, 1);
}

static int node_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  node_state *s = state;
  /* A T_CRASH message is counted once, as its ACTO_DEAD_FAILED dead
   * letter; every other one here as handled. */
  if (m->type != T_CRASH)
    atomic_fetch_add(&g_handled, 1);
  switch (m->type) {
  case T_HOP: {
    hop h;
    memcpy(&h, m->data, sizeof h);
    /* Order per pair: sequence numbers from one sender only grow (gaps
     * are messages that went to an earlier incarnation or were lost as
     * counted dead letters). */
    if (h.from >= SENDERS)
      return -1;
    if (h.epoch != s->seen_epoch[h.from]) {
      s->seen_epoch[h.from] = h.epoch;
      s->last_seen[h.from] = 0;
    }
    if (h.seq <= s->last_seen[h.from])
      atomic_fetch_add(&g_order_errors, 1);
    s->last_seen[h.from] = h.seq;
    if (h.ttl > 0 && !atomic_load(&g_stop_load))
      forward(ctx, s, h.ttl - 1);
    return 0;
  }
  case T_PING:
    return acto_reply(ctx, T_PING, &s->idx, sizeof s->idx);
  case T_CRASH:
    return -77; /* a failure: restarted in place by the supervisor */
  default:
    return 0;
  }
}

static const acto_behaviour node_b = {.name = "soak.node",
                                      .state_size = sizeof(node_state),
                                      .init = node_init,
                                      .handle = node_handle};

static void *feeder(void *arg) {
  uint32_t me = (uint32_t)(uintptr_t)arg;
  uint64_t rng = 88172645463325252ull + me, seq[NODES] = {0};
  while (!atomic_load(&g_stop_load)) {
    uint32_t to = (uint32_t)(xs(&rng) % NODES);
    char name[16];
    snprintf(name, sizeof name, "n%u", to);
    acto_ref r;
    if (acto_lookup(g_sys, name, &r) != 0)
      continue;
    uint64_t pick = xs(&rng) % 100;
    if (pick < 2) {
      int rc = acto_send(g_sys, r, T_CRASH, NULL, 0);
      if (rc == 0 || rc == ACTO_ESTALE)
        atomic_fetch_add(&g_accepted, 1);
    } else if (pick < 10) {
      acto_reply_buf rb;
      int rc = acto_ask(g_sys, r, T_PING, NULL, 0, 2000, &rb);
      if (rc == 0) {
        acto_reply_release(&rb);
        atomic_fetch_add(&g_asks_ok, 1);
      } else {
        atomic_fetch_add(&g_asks_failed, 1);
      }
      atomic_fetch_add(&g_accepted, 1); /* the request itself */
    } else {
      hop h = {me, 1, ++seq[to], 8};
      acto_send_opts o = ACTO_SEND_OPTS_INIT;
      o.deadline_ms = 1000;
      int rc = acto_send_ex(g_sys, r, T_HOP, &h, sizeof h, &o);
      if (rc == 0 || rc == ACTO_ESTALE) /* ETIMEDOUT: taken back, never queued */
        atomic_fetch_add(&g_accepted, 1);
    }
  }
  return NULL;
}

/* One line of the memory curve: RSS, and in the plain build what malloc
 * holds for the program (in use in its arenas + mmapped chunks), so that
 * growth of live data can be told apart from pages merely touched. */
static void print_memory(long t, long rss, acto_ref sup) {
  acto_child_info ci[NODES];
  size_t n = 0;
  unsigned long restarts = 0;
  if (acto_supervisor_which_children(g_sys, sup, ci, NODES, &n, 5000) == 0)
    for (size_t i = 0; i < n && i < NODES; i++)
      restarts += ci[i].restarts;
#if SOAK_MALLINFO
  struct mallinfo2 mi = mallinfo2();
  printf("soak %4lds: rss %ld kB, malloc in use %zu kB (mmapped %zu kB), handled %lu, restarts %lu\n",
         t, rss, (mi.uordblks + mi.hblkhd) / 1024, mi.hblkhd / 1024,
         (unsigned long)atomic_load(&g_handled), restarts);
#else
  printf("soak %4lds: rss %ld kB, handled %lu, restarts %lu\n", t, rss,
         (unsigned long)atomic_load(&g_handled), restarts);
#endif
  fflush(stdout);
}

START_TEST(soak_mixed_load_under_failures_loses_nothing) {
  if (!getenv("ACTO_LONG_TESTS"))
    return;
  long secs = getenv("ACTO_SOAK_SECONDS") ? atol(getenv("ACTO_SOAK_SECONDS")) : 300;
  acto_config cfg = {.threads = 2, .default_capacity = 256};
  ck_assert_int_eq(acto_system_create(&cfg, &g_sys), 0);
  static uint32_t idx[NODES];
  static char names[NODES][16];
  acto_child_spec cs[NODES];
  memset(cs, 0, sizeof cs);
  for (uint32_t i = 0; i < NODES; i++) {
    idx[i] = i;
    snprintf(names[i], sizeof names[i], "n%u", i);
    cs[i] = (acto_child_spec){.id = names[i], .kind = ACTO_WORKER, .behaviour = &node_b,
                              .arg = &idx[i], .arg_size = sizeof idx[i], .name = names[i]};
  }
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 1000000, .period_ms = 1000,
                        .children = cs, .nchildren = NODES};
  acto_ref sup;
  ck_assert_int_eq(acto_supervisor_start(g_sys, &spec, "soak", &sup), 0);
  pthread_t th[FEEDERS];
  for (uintptr_t i = 0; i < FEEDERS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, feeder, (void *)(NODES + i)), 0);
  struct timespec one = {1, 0};
  long rss_warm = -1, rss_max = -1, t_max = 0;
  uint64_t last_handled = 0;
  long still = 0;
  for (long t = 1; t <= secs; t++) {
    nanosleep(&one, NULL);
    /* A load that stops moving is a hang (say, two actors whose full
     * mailboxes each hold a parked send of the other): fail with what is
     * known instead of waiting for the test's timeout. */
    uint64_t h = atomic_load(&g_handled);
    still = h == last_handled ? still + 1 : 0;
    last_handled = h;
    if (still >= SOAK_STALL_S) {
      acto_stats st;
      ck_assert_int_eq(acto_get_stats(g_sys, &st), 0);
      ck_abort_msg("no message handled for %ld s (at %ld s, %lu handled): the load is stuck; "
                   "parks %lu, actors %lu",
                   still, t, (unsigned long)h, (unsigned long)st.parks,
                   (unsigned long)st.actors_live);
    }
    long rss = tu_rss_kb();
    if (t == SOAK_WARM_S)
      rss_warm = rss;
    if (t > SOAK_WARM_S && rss > rss_max) {
      rss_max = rss;
      t_max = t;
    }
    if (t % 30 == 0 || t == secs)
      print_memory(t, rss, sup);
  }
  atomic_store(&g_stop_load, 1);
  if (rss_warm > 0 && rss_max > 0) {
    printf("soak: rss %ld kB at %d s, at most %ld kB after (at %ld s): %+ld kB\n", rss_warm,
           SOAK_WARM_S, rss_max, t_max, rss_max - rss_warm);
    fflush(stdout);
  }
  for (int i = 0; i < FEEDERS; i++)
    pthread_join(th[i], NULL);
  /* A handler that read g_stop_load before the store may still be
   * forwarding, and counts its hop as accepted only after the send
   * returned: until it has, "accounted >= accepted" can hold for a moment
   * with that hop neither handled nor counted.  An ask to every node is
   * answered only after that node's current handler returned, so once all
   * are answered no more hops are accepted.  (A ping is a message like the
   * feeders' asks: accepted, and handled.) */
  for (uint32_t i = 0; i < NODES; i++) {
    char name[16];
    snprintf(name, sizeof name, "n%u", i);
    acto_ref r;
    ck_assert_int_eq(acto_lookup(g_sys, name, &r), 0);
    acto_reply_buf rb;
    atomic_fetch_add(&g_accepted, 1);
    ck_assert_int_eq(acto_ask(g_sys, r, T_PING, NULL, 0, TU_WAIT_MS, &rb), 0);
    acto_reply_release(&rb);
  }
  /* Quiesce: wait until handled + dead letters catch up with accepted. */
  acto_stats st;
  uint64_t accounted = 0;
  int64_t end = tu_now_ms() + 6 * TU_WAIT_MS;
  for (;;) {
    ck_assert_int_eq(acto_get_stats(g_sys, &st), 0);
    /* Late replies are dead letters of replies, not of accepted sends. */
    accounted = atomic_load(&g_handled) + st.dead_letters_total - st.dead_letters[ACTO_DEAD_LATE_REPLY];
    if (accounted >= atomic_load(&g_accepted) || tu_now_ms() > end)
      break;
    tu_sleep_ms(100);
  }
  ck_assert_msg(accounted == atomic_load(&g_accepted),
                "accepted %lu, handled %lu, dead letters %lu", (unsigned long)atomic_load(&g_accepted),
                (unsigned long)atomic_load(&g_handled), (unsigned long)st.dead_letters_total);
  ck_assert_uint_eq(atomic_load(&g_order_errors), 0);
  ck_assert_uint_gt(atomic_load(&g_asks_ok), 0);
  ck_assert_int_eq(acto_alive(g_sys, sup), 1);
  acto_child_counts k;
  ck_assert_int_eq(acto_supervisor_count_children(g_sys, sup, &k, TU_WAIT_MS), 0);
  ck_assert_uint_eq(k.active, NODES);
  ck_assert_int_eq(acto_supervisor_stop(g_sys, sup, 3 * TU_WAIT_MS), 0);
  ck_assert_int_eq(acto_system_shutdown(g_sys), 0);
#if !TU_ASAN && !TU_TSAN
  if (rss_warm > 0 && rss_max > 0)
    ck_assert_msg(rss_max <= rss_warm + SOAK_RSS_SLACK_KB,
                  "RSS grew after the warm-up: %ld kB at %d s, %ld kB at %ld s", rss_warm,
                  SOAK_WARM_S, rss_max, t_max);
#endif
}
END_TEST

int main(void) {
  if (!getenv("ACTO_LONG_TESTS"))
    return 77; /* skipped: run with make test-long */
  Suite *s = suite_create("soak");
  TCase *tc = tcase_create("soak");
  tcase_set_timeout(tc, 7200);
  tcase_add_test(tc, soak_mixed_load_under_failures_loses_nothing);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
