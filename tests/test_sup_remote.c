/* test_sup_remote.c - a supervisor's remote children (supervisor.c with
 * transport/spawn.c; ACTORS.md 9.7 and 13.10 "Remote children of a
 * supervisor"): nodes in one process on 127.0.0.1 over real TCP.  A
 * node that stops closes its connections, so the supervisor's node sees
 * it down at once; the child's link then fires ACTO_REASON_NOCONNECTION.
 */
#include "testnode.h"

enum { T_ARG = 1, T_FAIL = 2 };

/* ---- the remote worker ------------------------------------------------------------ */

static tu_counter shutdowns; /* workers that ended with ACTO_REASON_SHUTDOWN */

typedef struct worker {
  char arg[32];
  size_t n;
} worker;

static int worker_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  worker *w = state;
  const acto_spawn_arg *a = arg;
  w->n = a->size < sizeof w->arg ? a->size : sizeof w->arg;
  if (w->n)
    memcpy(w->arg, a->data, w->n);
  return 0;
}

static int worker_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  worker *w = state;
  if (m->type == T_ARG)
    return acto_reply(ctx, T_ARG, w->arg, w->n);
  if (m->type == T_FAIL)
    return -99;
  return 0;
}

static void worker_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  (void)state;
  if (reason == ACTO_REASON_SHUTDOWN)
    tu_counter_add(&shutdowns, 1);
}

static const acto_behaviour WORKER = {.name = "worker",
                                      .state_size = sizeof(worker),
                                      .init = worker_init,
                                      .handle = worker_handle,
                                      .terminate = worker_terminate};

/* ---- the supervisor's events ------------------------------------------------------- */

#define MAXEV 64
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  acto_sup_event ev;
  int reason;
} evs[MAXEV];
static int nev;

static void on_sup_event(void *user, acto_ref sup, const char *child_id, acto_sup_event ev,
                         int reason) {
  (void)user;
  (void)sup;
  (void)child_id;
  pthread_mutex_lock(&ev_mu);
  if (nev < MAXEV) {
    evs[nev].ev = ev;
    evs[nev].reason = reason;
    nev++;
  }
  pthread_mutex_unlock(&ev_mu);
}

/* 1 if event ev with reason was reported. */
static int saw(acto_sup_event ev, int reason) {
  int r = 0;
  pthread_mutex_lock(&ev_mu);
  for (int i = 0; i < nev; i++)
    if (evs[i].ev == ev && evs[i].reason == reason)
      r = 1;
  pthread_mutex_unlock(&ev_mu);
  return r;
}

static void setup(void) {
  tu_setup();
  tu_counter_init(&shutdowns);
  nev = 0;
}

/* ---- helpers --------------------------------------------------------------------------- */

static acto_system *worker_node(const char *name) {
  acto_system *s = node_sys(name, KEY, LIVE_HBT);
  ck_assert_ok(acto_behaviour_register(s, "worker", &WORKER));
  return s;
}

/* Connects a to name at s's port, retrying while an older attempt to an
 * earlier incarnation's address is still failing. */
static void connect_retry(acto_system *a, const char *name, acto_system *s) {
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  int r;
  while ((r = acto_node_connect(a, name, "127.0.0.1", port_of(s), 1000)) != 0 && tu_now_ms() < end)
    tu_sleep_ms(20);
  ck_assert_ok(r);
}

static uint64_t node_id_of(acto_system *s) {
  uint64_t id;
  ck_assert_ok(acto_node_self(s, &id));
  return id;
}

typedef struct running_on {
  acto_system *sys;
  acto_ref sup;
  uint64_t node;
  uint32_t min_restarts;
  acto_child_info info;
} running_on;

/* Predicate: the supervisor's first child runs on node `node`, restarted
 * at least min_restarts times. */
static int child_runs_on(void *arg) {
  running_on *w = arg;
  size_t n = 0;
  if (acto_supervisor_which_children(w->sys, w->sup, &w->info, 1, &n, TU_WAIT_MS) != 0 || n < 1)
    return 0;
  return w->info.state == ACTO_CHILD_RUNNING && w->info.node == w->node &&
         w->info.ref.node == w->node && w->info.restarts >= w->min_restarts;
}

static acto_child_info wait_running_on(acto_system *a, acto_ref sup, acto_system *where,
                                       uint32_t min_restarts) {
  running_on w;
  memset(&w, 0, sizeof w);
  w.sys = a;
  w.sup = sup;
  w.node = node_id_of(where);
  w.min_restarts = min_restarts;
  ck_assert_msg(tu_wait_until(child_runs_on, &w, TU_WAIT_MS),
                "the child does not run on the expected node (state %d, node %016llx, restarts "
                "%u)",
                (int)w.info.state, (unsigned long long)w.info.node, w.info.restarts);
  return w.info;
}

static void check_arg(acto_system *s, acto_ref r, const char *want) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, r, T_ARG, NULL, 0, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, strlen(want));
  ck_assert(rb.size == 0 || memcmp(rb.data, want, rb.size) == 0);
  acto_reply_release(&rb);
}

static int node_down(void *arg) {
  uint64_t id;
  return acto_node_id(arg, "b", &id) != 0;
}

typedef struct gone_on {
  acto_system *sys;
  acto_ref ref;
} gone_on;

static int actor_gone(void *arg) {
  gone_on *g = arg;
  return acto_alive(g->sys, g->ref) == 0;
}

static int saw_gave_up(void *arg) {
  (void)arg;
  return saw(ACTO_SUP_GAVE_UP, ACTO_ECHILD);
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(a_remote_child_moves_when_its_node_goes_down_and_comes_back_to_it) {
  acto_system *a = node_sys("a", KEY, LIVE_HBT);
  acto_system *b = worker_node("b"), *c = worker_node("c");
  link_nodes(a, "b", b);
  link_nodes(a, "c", c);
  acto_child_remote rem = {.behaviour = "worker", .node = "b", .place = acto_place_elsewhere};
  acto_child_spec kid = {.id = "w",
                         .kind = ACTO_WORKER,
                         .remote = &rem,
                         .arg = "job",
                         .arg_size = 3,
                         .restart = ACTO_PERMANENT};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE,
                        .intensity = 10,
                        .period_ms = 60000,
                        .children = &kid,
                        .nchildren = 1,
                        .on_event = on_sup_event};
  acto_ref sup;
  ck_assert_ok(acto_supervisor_start(a, &spec, "sup", &sup));
  /* First on b, the node it names; the ref works and init got the bytes. */
  acto_child_info i = wait_running_on(a, sup, b, 0);
  check_arg(a, i.ref, "job");
  char name[ACTO_NODE_NAME_MAX + 1];
  ck_assert_ok(acto_node_name(a, i.node, name, sizeof name));
  ck_assert_str_eq(name, "b");
  ck_assert(saw(ACTO_SUP_CHILD_STARTED, 0));
  /* b goes away: the child failed with NOCONNECTION, counted as a
   * restart, and the placement starts it on c (b is not up). */
  ck_assert_ok(acto_node_stop(b));
  ck_assert(tu_wait_until(node_down, a, TU_WAIT_MS));
  i = wait_running_on(a, sup, c, 1);
  ck_assert_uint_eq(i.restarts, 1);
  ck_assert(saw(ACTO_SUP_CHILD_EXITED, ACTO_REASON_NOCONNECTION));
  ck_assert(saw(ACTO_SUP_CHILD_RESTARTED, 0));
  check_arg(a, i.ref, "job");
  tu_shutdown(b);
  /* b comes back (a new incarnation): the next restart goes to b again,
   * the node the spec prefers. */
  acto_system *b2 = worker_node("b");
  connect_retry(a, "b", b2);
  ck_assert_ok(acto_send(a, i.ref, T_FAIL, NULL, 0));
  i = wait_running_on(a, sup, b2, 2);
  ck_assert(saw(ACTO_SUP_CHILD_EXITED, -99));
  check_arg(a, i.ref, "job");
  /* Stopping the supervisor stops the remote child over the wire. */
  ck_assert_ok(acto_supervisor_stop(a, sup, TU_WAIT_MS));
  gone_on g = {b2, i.ref};
  ck_assert(tu_wait_until(actor_gone, &g, TU_WAIT_MS));
  ck_assert_counter_reaches(&shutdowns, 1);
  tu_shutdown(a);
  tu_shutdown(b2);
  tu_shutdown(c);
}
END_TEST

START_TEST(the_placement_spreads_children_and_stop_takes_them_all_down) {
  acto_system *a = node_sys("a", KEY, LIVE_HBT);
  acto_system *b = worker_node("b"), *c = worker_node("c");
  link_nodes(a, "b", b);
  link_nodes(a, "c", c);
  acto_child_remote rem = {.behaviour = "worker", .place = acto_place_elsewhere};
  acto_child_spec kids[4];
  const char *ids[4] = {"k0", "k1", "k2", "k3"};
  for (int k = 0; k < 4; k++)
    kids[k] = (acto_child_spec){
        .id = ids[k], .kind = ACTO_WORKER, .remote = &rem, .restart = ACTO_PERMANENT};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ALL,
                        .intensity = 10,
                        .period_ms = 60000,
                        .children = kids,
                        .nchildren = 4,
                        .on_event = on_sup_event};
  acto_ref sup;
  ck_assert_ok(acto_supervisor_start(a, &spec, NULL, &sup));
  uint64_t bid = node_id_of(b), cid = node_id_of(c);
  acto_child_info v[4];
  size_t n = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  int running = 0;
  while (running < 4 && tu_now_ms() < end) {
    ck_assert_ok(acto_supervisor_which_children(a, sup, v, 4, &n, TU_WAIT_MS));
    ck_assert_uint_eq(n, 4);
    running = 0;
    for (int k = 0; k < 4; k++)
      running += v[k].state == ACTO_CHILD_RUNNING;
    if (running < 4)
      tu_sleep_ms(10);
  }
  ck_assert_int_eq(running, 4);
  for (int k = 0; k < 4; k++) {
    ck_assert_msg(v[k].node == bid || v[k].node == cid, "child %d not on b or c", k);
    ck_assert_uint_eq(v[k].ref.node, v[k].node);
    check_arg(a, v[k].ref, "");
  }
  /* One fails: one_for_all stops the others (over the wire) and starts
   * all four again, each counted as restarted. */
  ck_assert_ok(acto_send(a, v[0].ref, T_FAIL, NULL, 0));
  end = tu_now_ms() + TU_WAIT_MS;
  running = 0;
  while (running < 4 && tu_now_ms() < end) {
    ck_assert_ok(acto_supervisor_which_children(a, sup, v, 4, &n, TU_WAIT_MS));
    running = 0;
    for (int k = 0; k < 4; k++)
      running += v[k].state == ACTO_CHILD_RUNNING && v[k].restarts == 1;
    if (running < 4)
      tu_sleep_ms(10);
  }
  ck_assert_int_eq(running, 4);
  ck_assert_counter_reaches(&shutdowns, 3); /* the three that did not fail */
  ck_assert(saw(ACTO_SUP_CHILD_EXITED, -99));
  for (int k = 0; k < 4; k++)
    check_arg(a, v[k].ref, "");
  acto_child_counts k4;
  ck_assert_ok(acto_supervisor_count_children(a, sup, &k4, TU_WAIT_MS));
  ck_assert_uint_eq(k4.active, 4);
  ck_assert_uint_eq(k4.workers, 4);
  ck_assert_ok(acto_supervisor_stop(a, sup, TU_WAIT_MS));
  ck_assert_counter_reaches(&shutdowns, 3 + 4);
  for (int k = 0; k < 4; k++) {
    gone_on g = {v[k].node == bid ? b : c, v[k].ref};
    ck_assert(tu_wait_until(actor_gone, &g, TU_WAIT_MS));
  }
  tu_shutdown(a);
  tu_shutdown(b);
  tu_shutdown(c);
}
END_TEST

START_TEST(a_remote_child_with_no_node_up_counts_as_failed_starts_until_it_gives_up) {
  acto_system *a = node_sys("a", KEY, LIVE_HBT);
  acto_child_remote rem = {.behaviour = "worker", .node = "nowhere"};
  acto_child_spec kid = {.id = "w", .kind = ACTO_WORKER, .remote = &rem, .restart = ACTO_PERMANENT};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE,
                        .intensity = 3,
                        .period_ms = 60000,
                        .children = &kid,
                        .nchildren = 1,
                        .on_event = on_sup_event};
  acto_ref sup;
  /* The start itself succeeds: remote children start after it. */
  ck_assert_ok(acto_supervisor_start(a, &spec, NULL, &sup));
  ck_assert(tu_wait_until(saw_gave_up, NULL, TU_WAIT_MS));
  ck_assert(saw(ACTO_SUP_CHILD_FAILED, ACTO_ECHILD));
  gone_on g = {a, sup};
  ck_assert(tu_wait_until(actor_gone, &g, TU_WAIT_MS));
  tu_shutdown(a);
}
END_TEST

START_TEST(add_child_and_restart_child_answer_after_the_remote_spawn) {
  acto_system *a = node_sys("a", KEY, LIVE_HBT);
  acto_system *b = worker_node("b");
  link_nodes(a, "b", b);
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000};
  acto_ref sup, ref;
  ck_assert_ok(acto_supervisor_start(a, &spec, NULL, &sup));
  acto_child_remote rem = {.behaviour = "worker", .node = "b"};
  acto_child_spec kid = {.id = "w",
                         .kind = ACTO_WORKER,
                         .remote = &rem,
                         .arg = "x",
                         .arg_size = 1,
                         .restart = ACTO_TRANSIENT};
  ck_assert_ok(acto_supervisor_add_child(a, sup, &kid, TU_WAIT_MS, &ref));
  ck_assert_uint_eq(ref.node, node_id_of(b));
  check_arg(a, ref, "x");
  ck_assert_ok(acto_supervisor_terminate_child_id(a, sup, "w", TU_WAIT_MS));
  gone_on g = {b, ref};
  ck_assert(tu_wait_until(actor_gone, &g, TU_WAIT_MS));
  acto_ref again;
  ck_assert_ok(acto_supervisor_restart_child(a, sup, "w", TU_WAIT_MS, &again));
  ck_assert_uint_eq(again.node, node_id_of(b));
  ck_assert(!acto_ref_eq(again, ref));
  check_arg(a, again, "x");
  /* A behaviour b does not have: the start fails, the spec is not kept. */
  acto_child_remote none = {.behaviour = "nobody", .node = "b"};
  acto_child_spec bad = {
      .id = "n", .kind = ACTO_WORKER, .remote = &none, .restart = ACTO_TEMPORARY};
  ck_assert_rc(acto_supervisor_add_child(a, sup, &bad, TU_WAIT_MS, &ref), ACTO_ECHILD);
  ck_assert_rc(acto_supervisor_delete_child(a, sup, "n", TU_WAIT_MS), ACTO_ENOENT);
  ck_assert_ok(acto_supervisor_stop(a, sup, TU_WAIT_MS));
  g.ref = again;
  ck_assert(tu_wait_until(actor_gone, &g, TU_WAIT_MS));
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_remote_child_spec_that_breaks_a_rule_is_einval) {
  acto_system *a = node_sys("a", KEY, LIVE_HBT);
  acto_sup_spec inner = {.strategy = ACTO_ONE_FOR_ONE};
  acto_child_remote rem = {.behaviour = "worker", .node = "b"};
  acto_child_spec kid = {.id = "w", .kind = ACTO_WORKER, .remote = &rem};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE, .children = &kid, .nchildren = 1};
  acto_ref sup;
  kid.kind = ACTO_SUPERVISOR; /* only workers are remote */
  kid.sup = &inner;
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  kid.kind = ACTO_WORKER;
  kid.sup = NULL;
  kid.behaviour = &WORKER; /* the behaviour lives on the other node */
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  kid.behaviour = NULL;
  kid.arg = "ptr"; /* a pointer cannot cross nodes */
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  kid.arg = NULL;
  rem.node = NULL; /* neither node nor place */
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  rem.node = "bad name";
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  rem.node = "b";
  rem.behaviour = "";
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  rem.behaviour = "worker";
  rem.reserved[2] = 1;
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  rem.reserved[2] = 0;
  spec.strategy = ACTO_SIMPLE_ONE_FOR_ONE;
  ck_assert_rc(acto_supervisor_start(a, &spec, NULL, &sup), ACTO_EINVAL);
  spec.strategy = ACTO_ONE_FOR_ONE;
  /* And the same spec, correct, starts (its child waits for node b). */
  spec.intensity = 100;
  spec.backoff_min_ms = 50;
  spec.backoff_max_ms = 50;
  ck_assert_ok(acto_supervisor_start(a, &spec, NULL, &sup));
  ck_assert_ok(acto_supervisor_stop(a, sup, TU_WAIT_MS));
  tu_shutdown(a);
}
END_TEST

START_TEST(the_placements_pick_by_name_order_and_skip_this_node) {
  const char *nodes[] = {"a", "b", "c"};
  /* spread: the node after the previous one, wrapping. */
  ck_assert_int_eq(acto_place_spread(NULL, "w", nodes, 3, 0, "a"), 1);
  ck_assert_int_eq(acto_place_spread(NULL, "w", nodes, 3, 0, "bb"), 2);
  ck_assert_int_eq(acto_place_spread(NULL, "w", nodes, 3, 0, "c"), 0);
  int first = acto_place_spread(NULL, "w", nodes, 3, 0, NULL);
  ck_assert(first >= 0 && first < 3);
  ck_assert_int_eq(acto_place_spread(NULL, "w", nodes, 3, 0, NULL), first); /* stable */
  /* elsewhere: never nodes[self]. */
  ck_assert_int_eq(acto_place_elsewhere(NULL, "w", nodes, 3, 0, "c"), 1);
  ck_assert_int_eq(acto_place_elsewhere(NULL, "w", nodes, 3, 1, "a"), 2);
  for (int k = 0; k < 20; k++) {
    char id[8];
    snprintf(id, sizeof id, "k%d", k);
    ck_assert_int_ne(acto_place_elsewhere(NULL, id, nodes, 3, 2, NULL), 2);
  }
  ck_assert_int_eq(acto_place_elsewhere(NULL, "w", nodes, 1, 0, NULL), -1);
  ck_assert_int_eq(acto_place_spread(NULL, "w", NULL, 0, 0, NULL), -1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sup_remote");
  TCase *tc = tu_tcase("rules", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, a_remote_child_spec_that_breaks_a_rule_is_einval,
               the_placements_pick_by_name_order_and_skip_this_node);
  suite_add_tcase(s, tc);
  tc = tu_tcase("nodes", 120);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, a_remote_child_moves_when_its_node_goes_down_and_comes_back_to_it,
               the_placement_spreads_children_and_stop_takes_them_all_down,
               a_remote_child_with_no_node_up_counts_as_failed_starts_until_it_gives_up,
               add_child_and_restart_child_answer_after_the_remote_spawn);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
