/* test_monitor.c - monitors: acto_monitor, acto_demonitor and the
 * ACTO_MSG_DOWN message.
 *
 * Each test is a specification of one promise of the "exits, links and
 * monitors" section of acto_actor.h, through the public API only: exactly
 * one DOWN per monitor, carrying the target, the monitor id and the
 * target's reason (NORMAL, a failure, KILLED, an acto_exit_self reason, or
 * NOPROC for a target that was already gone); none after acto_demonitor.
 *
 * monitor and demonitor work only inside an actor, so the tests drive
 * agents (agent.h): actors that run commands sent from the test thread
 * (monitor this ref, demonitor that id, fail with this reason, ...) and
 * record the return codes and every DOWN they receive.  Tests run in their
 * own process (Check's fork mode) and end with a clean
 * acto_system_shutdown().
 *
 * DESIGN.  Most tests run in a deterministic system (ag_det_system), so
 * that "exactly one DOWN" and "no DOWN" are checked after running the
 * system until nothing can run (tu_quiesce), not after a sleep.  The
 * tests that hold an agent inside a callback while the test thread acts,
 * and the races, need worker threads; they say so, and keep a QUIET_MS
 * sleep where they check that something does not happen.
 */
#include "agent.h"


/* ---- DOWN reasons ---------------------------------------------------------- */

static agent g_w, g_w2, g_t;

START_TEST(down_arrives_once_with_reason_normal_when_the_target_is_stopped) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);

  ck_assert_ok(acto_stop(sys, t));

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, ACTO_REASON_NORMAL);
  ck_assert_becomes_dead(sys, t);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 1);
  ck_assert_int_eq(ag_term_reason(&g_t), ACTO_REASON_NORMAL);
  ck_assert_int_eq(acto_alive(sys, w), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(down_carries_the_failure_reason_when_the_target_handler_fails) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);

  ag_post(sys, t, CMD_FAIL, -42);

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, -42);
  ck_assert_becomes_dead(sys, t);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 1);
  ck_assert_int_eq(ag_term_reason(&g_t), -42);
  ck_assert_int_eq(acto_alive(sys, w), 1); /* a monitor is not a link */
  tu_shutdown(sys);
}
END_TEST

START_TEST(down_carries_reason_killed_when_the_target_is_killed) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);

  ck_assert_ok(acto_kill(sys, t));

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, ACTO_REASON_KILLED);
  ck_assert_becomes_dead(sys, t);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 1);
  ck_assert_int_eq(ag_term_reason(&g_t), ACTO_REASON_KILLED);
  ck_assert_int_eq(acto_alive(sys, w), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(down_carries_the_reason_given_to_exit_self) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);

  ag_res r = ag_call(sys, t, &g_t, CMD_EXIT_SELF, ACTO_REF_NONE, 7);

  ck_assert_rc(r.rc, 0);
  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, 7);
  ck_assert_becomes_dead(sys, t);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 1);
  ck_assert_int_eq(ag_term_reason(&g_t), 7);
  tu_shutdown(sys);
}
END_TEST

START_TEST(monitoring_an_actor_that_is_gone_gives_down_with_reason_noproc) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  ck_assert_ok(acto_stop(sys, t));
  ck_assert_becomes_dead(sys, t);
  const acto_ref never = {0xFFFFFFFFu, 0}; /* a slot no actor ever had */

  uint64_t id1 = ag_monitor(sys, w, &g_w, t);
  ck_assert_agent_reaches(&g_w, ndowns, 1);
  uint64_t id2 = ag_monitor(sys, w, &g_w, never);
  ck_assert_agent_reaches(&g_w, ndowns, 2);

  ck_assert(id1 != id2);
  ag_assert_down(&g_w, 0, t, id1, ACTO_REASON_NOPROC);
  ag_assert_down(&g_w, 1, never, id2, ACTO_REASON_NOPROC);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 2);
  /* Both monitors have fired: nothing is left to cancel. */
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id1).rc, ACTO_ENOENT);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id2).rc, ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

START_TEST(down_names_its_target_and_monitor_id_and_other_monitors_stay_armed) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  acto_ref other = ag_spawn(sys, &g_w2);
  uint64_t id_other = ag_monitor(sys, w, &g_w, other);
  uint64_t id = ag_monitor(sys, w, &g_w, t);
  ck_assert(id != id_other);

  ck_assert_ok(acto_stop(sys, t));

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  acto_down d = ag_down(&g_w, 0);
  ck_assert(acto_ref_eq(d.who, t));
  ck_assert(!acto_ref_eq(d.who, other));
  ck_assert_uint_eq(d.monitor, id);
  ck_assert_int_eq(d.reason, ACTO_REASON_NORMAL);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 1); /* the other monitor has not fired */

  ck_assert_ok(acto_stop(sys, other));
  ck_assert_agent_reaches(&g_w, ndowns, 2);
  ag_assert_down(&g_w, 1, other, id_other, ACTO_REASON_NORMAL);
  tu_shutdown(sys);
}
END_TEST

START_TEST(two_monitors_on_one_target_give_two_downs_with_distinct_ids) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref w2 = ag_spawn(sys, &g_w2);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t a = ag_monitor(sys, w, &g_w, t);
  uint64_t b = ag_monitor(sys, w, &g_w, t);   /* the same watcher twice */
  uint64_t c = ag_monitor(sys, w2, &g_w2, t); /* and another watcher */
  ck_assert(a != b && a != c && b != c);

  ag_post(sys, t, CMD_FAIL, -3);

  ck_assert_agent_reaches(&g_w, ndowns, 2);
  ck_assert_agent_reaches(&g_w2, ndowns, 1);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 2);
  ck_assert_agent_is(&g_w2, ndowns, 1);
  acto_down d0 = ag_down(&g_w, 0), d1 = ag_down(&g_w, 1);
  ck_assert_msg((d0.monitor == a && d1.monitor == b) || (d0.monitor == b && d1.monitor == a),
                "DOWN ids %" PRIu64 ", %" PRIu64 ", expected %" PRIu64 " and %" PRIu64,
                d0.monitor, d1.monitor, a, b);
  for (int i = 0; i < 2; i++) {
    acto_down d = ag_down(&g_w, i);
    ck_assert(acto_ref_eq(d.who, t));
    ck_assert_int_eq(d.reason, -3);
  }
  ag_assert_down(&g_w2, 0, t, c, -3);
  tu_shutdown(sys);
}
END_TEST

/* A MONITOR request that is still queued when its target stops is
 * answered with the target's real reason: the target was alive when
 * acto_monitor returned.  Threaded: t is held inside a callback so that
 * the stop and then the MONITOR queue up behind it in that order; a
 * deterministic scheduler might run t before w monitors it. */
START_TEST(monitor_queued_behind_a_stop_gets_down_with_the_real_reason) {
  acto_system *sys = tu_system(2);
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  ag_post(sys, t, CMD_HOLD, 0);
  ck_assert_counter_reaches(&g_t.entered, 1);
  ck_assert_ok(acto_stop(sys, t)); /* queued: t is busy */

  uint64_t id = ag_monitor(sys, w, &g_w, t); /* queued behind the stop */
  tu_gate_open(&g_t.gate);

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, ACTO_REASON_NORMAL);
  ck_assert_becomes_dead(sys, t);
  tu_sleep_ms(QUIET_MS);
  ck_assert_agent_is(&g_w, ndowns, 1);
  ck_assert_int_eq(ag_term_reason(&g_t), ACTO_REASON_NORMAL);
  tu_shutdown(sys);
}
END_TEST

/* ---- demonitor ---------------------------------------------------------------- */

START_TEST(demonitor_before_the_target_stops_means_no_down_ever) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);

  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id).rc, 0);
  ag_post(sys, t, CMD_FAIL, -9);

  ck_assert_becomes_dead(sys, t);
  ck_assert_stat_becomes(sys, actors_stopped, 1);
  tu_quiesce(sys);
  /* The watcher is still running and reachable, but got no DOWN. */
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_PING, ACTO_REF_NONE, 0).rc, 0);
  ck_assert_agent_is(&g_w, ndowns, 0);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id).rc, ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

/* Threaded: w is held inside a callback while t stops, so that the DOWN is
 * queued before w demonitors (a deterministic scheduler might run w
 * first). */
START_TEST(demonitor_discards_a_down_that_is_already_queued) {
  acto_system *sys = tu_system(2);
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);
  /* The watcher holds its worker; it will demonitor once released. */
  ag_post(sys, w, CMD_HOLD_DEMONITOR, (int64_t)id);
  ck_assert_counter_reaches(&g_w.entered, 1);

  ck_assert_ok(acto_stop(sys, t));
  ck_assert_becomes_dead(sys, t);
  ck_assert_stat_becomes(sys, actors_stopped, 1); /* its DOWN has been sent */
  tu_gate_open(&g_w.gate);

  ck_assert_agent_reaches(&g_w, nres, 2);
  ag_res r = ag_result(&g_w, 1);
  ck_assert_uint_eq(r.type, CMD_HOLD_DEMONITOR);
  ck_assert_rc(r.rc, 0);
  tu_sleep_ms(QUIET_MS);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_PING, ACTO_REF_NONE, 0).rc, 0);
  ck_assert_agent_is(&g_w, ndowns, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(demonitor_of_an_unknown_id_returns_enoent) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref w2 = ag_spawn(sys, &g_w2);
  acto_ref t = ag_spawn(sys, &g_t);

  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, 0).rc, ACTO_ENOENT);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, 12345).rc, ACTO_ENOENT);
  /* An id is only known to the actor that made it. */
  uint64_t id = ag_monitor(sys, w, &g_w, t);
  ck_assert_rc(ag_call(sys, w2, &g_w2, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id).rc,
               ACTO_ENOENT);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)(id + 1000)).rc,
               ACTO_ENOENT);
  /* The real monitor is unaffected by the failed attempts. */
  ck_assert_ok(acto_stop(sys, t));
  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, ACTO_REASON_NORMAL);
  ck_assert_agent_is(&g_w2, ndowns, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(demonitor_twice_returns_enoent_the_second_time) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);

  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id).rc, 0);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id).rc, ACTO_ENOENT);

  ck_assert_ok(acto_stop(sys, t));
  ck_assert_becomes_dead(sys, t);
  ck_assert_stat_becomes(sys, actors_stopped, 1);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(monitoring_again_after_demonitor_gives_one_down_for_the_new_monitor_only) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t first = ag_monitor(sys, w, &g_w, t);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)first).rc, 0);

  uint64_t second = ag_monitor(sys, w, &g_w, t);
  ck_assert(second != first);
  ck_assert_ok(acto_stop(sys, t));

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, second, ACTO_REASON_NORMAL);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(demonitor_after_the_down_was_delivered_returns_enoent) {
  acto_system *sys = ag_det_system();
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);
  ck_assert_ok(acto_stop(sys, t));
  ck_assert_agent_reaches(&g_w, ndowns, 1);

  ck_assert_rc(ag_call(sys, w, &g_w, CMD_DEMONITOR, ACTO_REF_NONE, (int64_t)id).rc, ACTO_ENOENT);

  ck_assert_agent_is(&g_w, ndowns, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(monitor_and_demonitor_outside_an_actor_or_without_an_id_return_einval) {
  acto_system *sys = ag_det_system();
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = 777;

  ck_assert_rc(acto_monitor(NULL, t, &id), ACTO_EINVAL);
  ck_assert_uint_eq(id, 777); /* untouched on failure */
  ck_assert_rc(acto_demonitor(NULL, 1), ACTO_EINVAL);
  ck_assert_rc(acto_demonitor(NULL, 0), ACTO_EINVAL);
  /* Inside an actor, a monitor needs somewhere to put its id. */
  acto_ref w = ag_spawn(sys, &g_w);
  ck_assert_rc(ag_call(sys, w, &g_w, CMD_MONITOR, t, 1).rc, ACTO_EINVAL);

  /* Nothing was set up: the target stops without anyone being told. */
  ck_assert_ok(acto_stop(sys, t));
  ck_assert_becomes_dead(sys, t);
  ck_assert_stat_becomes(sys, actors_stopped, 1);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- the watcher goes first --------------------------------------------------- */

START_TEST(a_watcher_that_stopped_first_gets_no_down_and_nothing_breaks) {
  static tu_dead dead;
  tu_dead_init(&dead);
  acto_system *sys = ag_det_system();
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &dead));
  acto_ref w = ag_spawn(sys, &g_w);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);
  (void)id;
  ck_assert_ok(acto_stop(sys, w));
  ck_assert_becomes_dead(sys, w);
  ck_assert_agent_reaches(&g_w, terminated, 1);

  ag_post(sys, t, CMD_FAIL, -11);

  ck_assert_becomes_dead(sys, t);
  ck_assert_stat_becomes(sys, actors_stopped, 2);
  ck_assert_stat_becomes(sys, actors_live, 0);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_w, ndowns, 0);
  ck_assert_agent_is(&g_t, ndowns, 0);
  ck_assert_agent_is(&g_w, terminated, 1);
  ck_assert_int_eq(ag_term_reason(&g_t), -11);
  /* No user message was lost on the way: only the failing one is a dead
   * letter. */
  ck_assert_int_eq(tu_dead_matches(&dead, t, CMD_FAIL, ACTO_DEAD_FAILED), 1);
  ck_assert_int_eq(tu_dead_count(&dead, ACTO_DEAD_CLOSED), 0);
  tu_shutdown(sys);
}
END_TEST

/* Watcher and target stop at the same moment, over and over: whatever the
 * order, nothing crashes, leaks (ASan) or races (TSan), and the watcher
 * handles at most one DOWN.  Threaded: the two stops race on the workers. */
START_TEST(watcher_and_target_stopping_together_never_crash_or_leak) {
  acto_system *sys = tu_system(4);
  const int rounds = TU_N(200, 100, 50);
  for (int i = 0; i < rounds; i++) {
    acto_ref w = ag_spawn(sys, &g_w);
    acto_ref t = ag_spawn(sys, &g_t);
    (void)ag_monitor(sys, w, &g_w, t);
    if (i & 1) {
      ck_assert_ok(acto_stop(sys, t));
      ck_assert_ok(acto_stop(sys, w));
    } else {
      ck_assert_ok(acto_stop(sys, w));
      ck_assert_ok(acto_stop(sys, t));
    }
    ck_assert_agent_reaches(&g_w, terminated, 1);
    ck_assert_agent_reaches(&g_t, terminated, 1);
    ck_assert_becomes_dead(sys, w);
    ck_assert_becomes_dead(sys, t);
    ck_assert_msg(ag_get(&g_w, &g_w.ndowns) <= 1, "round %d: %d DOWNs for one monitor", i,
                  ag_get(&g_w, &g_w.ndowns));
  }
  ck_assert_stat_becomes(sys, actors_live, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- the system lane -------------------------------------------------------------- */

/* Threaded: w is held inside a callback, its mailbox full, while t stops
 * (a deterministic scheduler might run w and empty it first). */
START_TEST(down_is_delivered_even_when_the_watcher_mailbox_is_full) {
  acto_system *sys = tu_system(2);
  acto_spawn_opts opts = {.capacity = 2, .overflow = ACTO_OVERFLOW_FAIL};
  acto_ref w = ag_spawn_opts(sys, &g_w, &opts);
  acto_ref t = ag_spawn(sys, &g_t);
  uint64_t id = ag_monitor(sys, w, &g_w, t);
  ag_post(sys, w, CMD_HOLD_DEMONITOR, 0); /* holds; then demonitors id 0 (ENOENT) */
  ck_assert_counter_reaches(&g_w.entered, 1);
  ck_assert_ok(acto_send(sys, w, AG_MSG_FILL, NULL, 0));
  ck_assert_rc(acto_send(sys, w, AG_MSG_FILL, NULL, 0), ACTO_EFULL);

  ck_assert_ok(acto_stop(sys, t));
  ck_assert_becomes_dead(sys, t);
  ck_assert_stat_becomes(sys, actors_stopped, 1);
  tu_gate_open(&g_w.gate);

  ck_assert_agent_reaches(&g_w, ndowns, 1);
  ag_assert_down(&g_w, 0, t, id, ACTO_REASON_NORMAL);
  ck_assert_agent_reaches(&g_w, nres, 2);
  ck_assert_rc(ag_result(&g_w, 1).rc, ACTO_ENOENT); /* the hold demonitored id 0 */
  ck_assert_agent_reaches(&g_w, nfill, 1);
  tu_sleep_ms(QUIET_MS);
  ck_assert_agent_is(&g_w, ndowns, 1);
  ck_assert_agent_is(&g_w, nfill, 1);
  tu_shutdown(sys);
}
END_TEST

/* ---- many watchers ------------------------------------------------------------------ */

/* A light watcher for the mass tests: counts into shared counters and
 * checks each DOWN against the monitor it made. */
typedef struct mass_state {
  uint64_t id;
  int downs;
} mass_state;

static tu_counter g_mass_monitoring;
static tu_counter g_mass_downs;
static atomic_int g_mass_bad_rc;
static _Atomic uint64_t g_mass_target_id, g_mass_target_node;

static int mass_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  mass_state *s = state;
  if (msg->type == ACTO_MSG_DOWN) {
    acto_down d;
    TU_EXPECT(msg->size == sizeof d, "DOWN size %zu", msg->size);
    if (msg->size != sizeof d) return 0;
    memcpy(&d, msg->data, sizeof d);
    s->downs++;
    TU_EXPECT(s->downs == 1, "watcher handled %d DOWNs for one monitor", s->downs);
    TU_EXPECT(d.monitor == s->id, "DOWN monitor %" PRIu64 ", expected %" PRIu64, d.monitor, s->id);
    TU_EXPECT(d.who.id == atomic_load(&g_mass_target_id) &&
                  d.who.node == atomic_load(&g_mass_target_node),
              "DOWN from the wrong actor");
    TU_EXPECT(d.reason == ACTO_REASON_NORMAL, "DOWN reason %d", (int)d.reason);
    tu_counter_add(&g_mass_downs, 1);
    return 0;
  }
  if (msg->type == CMD_MONITOR) {
    ag_cmd c;
    memcpy(&c, msg->data, sizeof c);
    int rc = acto_monitor(ctx, c.ref, &s->id);
    if (rc != 0) atomic_fetch_add(&g_mass_bad_rc, 1);
    tu_counter_add(&g_mass_monitoring, 1);
  }
  return 0;
}

static const acto_behaviour mass_watcher = {
    .name = "mass_watcher", .state_size = sizeof(mass_state), .handle = mass_handle};

/* Runs twice: _i 0 in a deterministic system, where "exactly" is checked
 * once nothing can run any more; _i 1 with four workers, where the DOWNs
 * are delivered concurrently and "exactly" is checked after QUIET_MS. */
START_TEST(a_thousand_watchers_of_one_target_get_exactly_a_thousand_downs) {
  tu_counter_init(&g_mass_monitoring);
  tu_counter_init(&g_mass_downs);
  acto_system *sys = _i == 0 ? ag_det_system() : tu_system(4);
  enum { WATCHERS = 1000 };
  acto_ref t = ag_spawn(sys, &g_t);
  atomic_store(&g_mass_target_id, t.id);
  atomic_store(&g_mass_target_node, t.node);
  ag_cmd c = {t, 0, NULL};
  for (int i = 0; i < WATCHERS; i++) {
    acto_ref w = ACTO_REF_NONE;
    ck_assert_ok(acto_spawn(sys, &mass_watcher, NULL, NULL, &w));
    int rc = acto_send(sys, w, CMD_MONITOR, &c, sizeof c);
    if (rc != 0) ck_assert_rc(rc, 0); /* ck_assert only on failure: cheap loop */
  }
  tu_settle(sys);
  ck_assert_counter_reaches(&g_mass_monitoring, WATCHERS);
  ck_assert_int_eq(atomic_load(&g_mass_bad_rc), 0);

  ck_assert_ok(acto_stop(sys, t));

  tu_settle(sys);
  ck_assert_counter_reaches(&g_mass_downs, WATCHERS);
  if (tu_is_det(sys)) tu_quiesce(sys);
  else tu_sleep_ms(QUIET_MS);
  ck_assert_int_eq(tu_counter_get(&g_mass_downs), WATCHERS);
  ck_assert_uint_eq(tu_stats(sys).actors_live, WATCHERS);
  tu_shutdown(sys);
}
END_TEST

/* ---- monitor racing with a stop -------------------------------------------------------- */

/* A racer (agent.h) monitors on command and counts DOWNs by reason. */
static ag_race g_race;

static int idle_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state;
  TU_EXPECT(msg->type < ACTO_MSG_RESERVED, "idle target got type 0x%x", msg->type);
  return 0;
}

static const acto_behaviour idle_target = {.name = "idle_target", .handle = idle_handle};

/* The watcher monitors on its worker while this thread stops the target,
 * with a varying head start for either side. */
START_TEST(monitor_racing_with_a_concurrent_stop_gives_exactly_one_down_normal_or_noproc) {
  ag_race_init(&g_race);
  acto_system *sys = tu_system(4);
  acto_ref w = ag_spawn_racer(sys, &g_race, ACTO_REASON_NORMAL);

  ag_race_rounds(sys, &g_race, w, CMD_MONITOR, &idle_target, acto_stop, TU_N(200, 200, 100));

  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("monitor");
  TCase *tc = tu_tcase("down", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, down_arrives_once_with_reason_normal_when_the_target_is_stopped,
               down_carries_the_failure_reason_when_the_target_handler_fails,
               down_carries_reason_killed_when_the_target_is_killed,
               down_carries_the_reason_given_to_exit_self,
               monitoring_an_actor_that_is_gone_gives_down_with_reason_noproc,
               down_names_its_target_and_monitor_id_and_other_monitors_stay_armed,
               two_monitors_on_one_target_give_two_downs_with_distinct_ids,
               monitor_queued_behind_a_stop_gets_down_with_the_real_reason,
               down_is_delivered_even_when_the_watcher_mailbox_is_full);
  suite_add_tcase(s, tc);

  tc = tu_tcase("demonitor", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, demonitor_before_the_target_stops_means_no_down_ever,
               demonitor_discards_a_down_that_is_already_queued,
               demonitor_of_an_unknown_id_returns_enoent,
               demonitor_twice_returns_enoent_the_second_time,
               demonitor_after_the_down_was_delivered_returns_enoent,
               monitoring_again_after_demonitor_gives_one_down_for_the_new_monitor_only,
               monitor_and_demonitor_outside_an_actor_or_without_an_id_return_einval);
  suite_add_tcase(s, tc);

  tc = tu_tcase("lifetimes", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, a_watcher_that_stopped_first_gets_no_down_and_nothing_breaks,
               watcher_and_target_stopping_together_never_crash_or_leak);
  suite_add_tcase(s, tc);

  tc = tu_tcase("scale", 60);
  tcase_add_loop_test(tc, a_thousand_watchers_of_one_target_get_exactly_a_thousand_downs, 0, 2);
  tcase_add_test(tc, monitor_racing_with_a_concurrent_stop_gives_exactly_one_down_normal_or_noproc);
  suite_add_tcase(s, tc);

  return tu_run(s);
}
