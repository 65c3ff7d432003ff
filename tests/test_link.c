/* test_link.c - links and exit signals: acto_link, acto_unlink,
 * acto_trap_exit, acto_exit, acto_kill, acto_exit_self, spawn_opts.link
 * and the crash hook.
 *
 * Each test is a specification of one promise of the "exits, links and
 * monitors" section of acto_actor.h, through the public API only: an
 * abnormal stop travels along links and stops the partner with the same
 * reason, a normal one does not; a trapping actor receives ACTO_MSG_EXIT
 * instead and keeps running; acto_kill cannot be trapped; linking to an
 * actor that is gone fires at once with ACTO_REASON_NOPROC; the crash hook
 * hears of every failure with the type of the message that caused it.
 *
 * Links work only inside an actor, so the tests drive agents (agent.h):
 * actors that run commands sent from the test thread (link to this ref, trap
 * exits, fail with this reason, ...) and record the return codes and every
 * EXIT and DOWN they receive.  How an actor stopped is observed twice: by
 * its terminate reason and by the DOWN that a third actor, the observer,
 * receives from a monitor.  Tests run in their own process (Check's fork
 * mode) and end with a clean acto_system_shutdown().
 *
 * DESIGN.  Most tests run in a deterministic system (ag_det_system), so
 * that "and nothing else happens" is checked after running the system
 * until nothing can run (tu_quiesce), not after a sleep.  The tests that
 * hold an agent inside a callback while the test thread acts, and the
 * races, need worker threads; they say so, and keep a QUIET_MS sleep
 * where they check that something does not happen.
 */
#include "agent.h"


static agent g_a, g_b, g_c, g_obs;

/* Spawns the observer and agents a and b, observed, in sys. */
static acto_system *setup_pair(acto_system *sys, acto_ref *obs, acto_ref *a, acto_ref *b) {
  *obs = ag_spawn(sys, &g_obs);
  *a = ag_spawn(sys, &g_a);
  *b = ag_spawn(sys, &g_b);
  (void)ag_monitor(sys, *obs, &g_obs, *a);
  (void)ag_monitor(sys, *obs, &g_obs, *b);
  return sys;
}

/* ---- propagation ------------------------------------------------------------ */

START_TEST(an_abnormal_exit_stops_the_linked_actor_with_the_same_reason) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b);

  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -5);
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -5);
  ck_assert_agent_is(&g_a, nexits, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_failure_propagates_both_ways_along_a_link) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b); /* a made the link; a fails */

  ag_post(sys, a, CMD_FAIL, -6);

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -6);
  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -6);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_normal_stop_of_a_linked_actor_leaves_the_other_running) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b);

  ck_assert_ok(acto_stop(sys, b));

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_NORMAL);
  tu_quiesce(sys);
  ag_assert_running(sys, a, &g_a);
  ck_assert_agent_is(&g_obs, ndowns, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(exit_self_with_a_positive_reason_is_abnormal_and_propagates) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b);

  ck_assert_rc(ag_call(sys, b, &g_b, CMD_EXIT_SELF, ACTO_REF_NONE, 7).rc, 0);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, 7);
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, 7);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_failure_travels_along_a_chain_of_links) {
  acto_system *sys = ag_det_system();
  acto_ref obs = ag_spawn(sys, &g_obs);
  acto_ref a = ag_spawn(sys, &g_a);
  acto_ref b = ag_spawn(sys, &g_b);
  acto_ref c = ag_spawn(sys, &g_c);
  (void)ag_monitor(sys, obs, &g_obs, a);
  (void)ag_monitor(sys, obs, &g_obs, b);
  (void)ag_monitor(sys, obs, &g_obs, c);
  ag_link(sys, a, &g_a, b);
  ag_link(sys, b, &g_b, c);

  ag_post(sys, c, CMD_FAIL, -9);

  ck_assert_stopped_with(sys, &g_obs, c, &g_c, -9);
  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -9);
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -9);
  tu_shutdown(sys);
}
END_TEST

/* ---- trapping ----------------------------------------------------------------- */

START_TEST(a_trapping_actor_receives_exit_with_the_sender_and_reason_and_keeps_running) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ag_link(sys, a, &g_a, b);

  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -5);
  ck_assert_agent_reaches(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, -5);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 1);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

START_TEST(trap_exit_off_restores_propagation) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ag_trap(sys, a, &g_a, 0);
  ag_link(sys, a, &g_a, b);

  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -5);
  ck_assert_agent_is(&g_a, nexits, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- kill --------------------------------------------------------------------- */

START_TEST(kill_stops_even_a_trapping_actor_with_reason_killed) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, b, &g_b, 1);

  ck_assert_ok(acto_kill(sys, b));

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_KILLED);
  ck_assert_agent_is(&g_b, nexits, 0); /* not delivered as a message */
  ag_assert_running(sys, a, &g_a);        /* not linked: untouched */
  tu_shutdown(sys);
}
END_TEST

START_TEST(kill_propagates_as_killed_to_a_linked_non_trapping_actor) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, b, &g_b, 1);
  ag_link(sys, a, &g_a, b);

  ck_assert_ok(acto_kill(sys, b));

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_KILLED);
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, ACTO_REASON_KILLED);
  ck_assert_agent_is(&g_b, nexits, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_trapping_linked_actor_receives_exit_killed_when_its_partner_is_killed) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ag_link(sys, a, &g_a, b);

  ck_assert_ok(acto_kill(sys, b));

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_KILLED);
  ck_assert_agent_reaches(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, ACTO_REASON_KILLED);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 1);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

/* Threaded: b must be inside a callback, on a worker, when the kill
 * arrives from the test thread (a deterministic system's only worker is
 * the test thread). */
START_TEST(kill_takes_effect_after_the_current_callback_and_before_queued_messages) {
  static tu_dead dead;
  tu_dead_init(&dead);
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(tu_system(2), &obs, &a, &b);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &dead));
  ag_trap(sys, b, &g_b, 1);
  ag_post(sys, b, CMD_HOLD, 0);
  ck_assert_counter_reaches(&g_b.entered, 1);
  for (int i = 0; i < 3; i++) ag_post(sys, b, CMD_PING, 0);

  ck_assert_ok(acto_kill(sys, b));

  tu_sleep_ms(QUIET_MS);
  ck_assert_int_eq(acto_alive(sys, b), 1); /* running code is not interrupted */
  ck_assert_agent_is(&g_b, terminated, 0);
  tu_gate_open(&g_b.gate);
  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_KILLED);
  ck_assert_agent_is(&g_b, nres, 2); /* the trap and the held command only */
  ck_assert_agent_is(&g_b, nexits, 0);
  ck_assert_dead_hook_reaches(&dead, ACTO_DEAD_CLOSED, 3);
  ck_assert_int_eq(tu_dead_matches(&dead, b, CMD_PING, ACTO_DEAD_CLOSED), 3);
  tu_shutdown(sys);
}
END_TEST

/* ---- acto_exit ------------------------------------------------------------------ */

START_TEST(exit_with_an_abnormal_reason_stops_a_non_trapping_actor_with_it) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);

  ck_assert_ok(acto_exit(sys, a, 9));

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, 9);
  ck_assert_agent_is(&g_a, nexits, 0);
  ag_assert_running(sys, b, &g_b);
  tu_shutdown(sys);
}
END_TEST

START_TEST(exit_with_reason_normal_is_ignored_by_a_non_trapping_actor) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);

  ck_assert_ok(acto_exit(sys, a, ACTO_REASON_NORMAL));

  tu_quiesce(sys);
  ag_assert_running(sys, a, &g_a);
  ck_assert_agent_is(&g_a, nexits, 0);
  ck_assert_agent_is(&g_obs, ndowns, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(exit_to_a_trapping_actor_from_a_plain_thread_arrives_from_ref_none) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);

  ck_assert_ok(acto_exit(sys, a, ACTO_REASON_NORMAL));
  ck_assert_agent_reaches(&g_a, nexits, 1);
  ck_assert_ok(acto_exit(sys, a, 9));
  ck_assert_agent_reaches(&g_a, nexits, 2);

  ag_assert_exit(&g_a, 0, ACTO_REF_NONE, ACTO_REASON_NORMAL);
  ag_assert_exit(&g_a, 1, ACTO_REF_NONE, 9);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 2);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

START_TEST(exit_sent_by_an_actor_names_it_as_the_sender) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);

  ck_assert_rc(ag_call(sys, b, &g_b, CMD_EXIT_OTHER, a, 12).rc, 0);

  ck_assert_agent_reaches(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, 12);
  ag_assert_running(sys, a, &g_a);
  ag_assert_running(sys, b, &g_b); /* not a link: the sender is untouched */
  tu_shutdown(sys);
}
END_TEST

START_TEST(exit_and_kill_of_a_stopped_actor_return_estale) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ck_assert_ok(acto_stop(sys, a));
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, ACTO_REASON_NORMAL);

  ck_assert_rc(acto_exit(sys, a, 9), ACTO_ESTALE);
  ck_assert_rc(acto_exit(sys, a, ACTO_REASON_NORMAL), ACTO_ESTALE);
  ck_assert_rc(acto_kill(sys, a), ACTO_ESTALE);
  ck_assert_rc(acto_exit(sys, ACTO_REF_NONE, 9), ACTO_ESTALE);
  ck_assert_rc(acto_kill(sys, ACTO_REF_NONE), ACTO_ESTALE);
  ck_assert_rc(acto_exit(NULL, b, 9), ACTO_EINVAL);
  ck_assert_rc(acto_kill(NULL, b), ACTO_EINVAL);

  ag_assert_running(sys, b, &g_b);
  tu_shutdown(sys);
}
END_TEST

START_TEST(link_calls_outside_an_actor_return_einval) {
  acto_system *sys = ag_det_system();
  acto_ref a = ag_spawn(sys, &g_a);

  ck_assert_rc(acto_link(NULL, a), ACTO_EINVAL);
  ck_assert_rc(acto_unlink(NULL, a), ACTO_EINVAL);
  ck_assert_rc(acto_trap_exit(NULL, 1), ACTO_EINVAL);
  ck_assert_rc(acto_exit_self(NULL, 5), ACTO_EINVAL);

  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

/* ---- linking to an actor that is gone ----------------------------------------------- */

START_TEST(link_to_a_dead_actor_stops_a_non_trapping_caller_with_noproc) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ck_assert_ok(acto_stop(sys, b));
  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_NORMAL);

  ck_assert_rc(ag_call(sys, a, &g_a, CMD_LINK, b, 0).rc, 0);

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, ACTO_REASON_NOPROC);
  ck_assert_agent_is(&g_a, nexits, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(link_to_a_dead_actor_gives_a_trapping_caller_exit_noproc) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ck_assert_ok(acto_stop(sys, b));
  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_NORMAL);

  ck_assert_rc(ag_call(sys, a, &g_a, CMD_LINK, b, 0).rc, 0);

  ck_assert_agent_reaches(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, ACTO_REASON_NOPROC);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 1);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

/* A LINK request still queued when its target stops is answered with the
 * target's real reason: the target was alive when acto_link returned.
 * Threaded: b is held inside a callback so that the exit signal and then
 * the LINK queue up behind it in that order; a deterministic scheduler
 * might run b before a makes the link. */
START_TEST(link_queued_behind_an_exit_signal_fires_with_the_real_reason) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(tu_system(2), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ag_post(sys, b, CMD_HOLD, 0);
  ck_assert_counter_reaches(&g_b.entered, 1);
  ck_assert_ok(acto_exit(sys, b, 9)); /* queued: b is busy */

  ag_link(sys, a, &g_a, b); /* queued behind the exit signal */
  tu_gate_open(&g_b.gate);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, 9);
  ck_assert_agent_reaches(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, 9);
  tu_sleep_ms(QUIET_MS);
  ck_assert_agent_is(&g_a, nexits, 1);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

/* The same for a caller that does not trap (threaded, as above). */
START_TEST(link_queued_behind_an_exit_signal_stops_a_non_trapping_caller_with_the_real_reason) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(tu_system(2), &obs, &a, &b);
  ag_post(sys, b, CMD_HOLD, 0);
  ck_assert_counter_reaches(&g_b.entered, 1);
  ck_assert_ok(acto_exit(sys, b, 9));

  ag_link(sys, a, &g_a, b);
  tu_gate_open(&g_b.gate);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, 9);
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, 9);
  tu_shutdown(sys);
}
END_TEST

/* ---- unlink and idempotence ---------------------------------------------------------- */

START_TEST(unlink_before_the_partner_fails_prevents_propagation) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b);

  ck_assert_rc(ag_call(sys, a, &g_a, CMD_UNLINK, b, 0).rc, 0);
  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -5);
  tu_quiesce(sys);
  ag_assert_running(sys, a, &g_a);
  ck_assert_agent_is(&g_obs, ndowns, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(unlink_by_either_side_removes_the_link_for_both) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b);

  /* b unlinks the link that a made; then a fails. */
  ck_assert_rc(ag_call(sys, b, &g_b, CMD_UNLINK, a, 0).rc, 0);
  ag_post(sys, a, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -5);
  tu_quiesce(sys);
  ag_assert_running(sys, b, &g_b);
  ck_assert_agent_is(&g_obs, ndowns, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(linking_twice_is_idempotent_one_failure_gives_one_exit) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ag_link(sys, a, &g_a, b);
  ag_link(sys, a, &g_a, b);
  ck_assert_rc(ag_call(sys, b, &g_b, CMD_LINK, a, 0).rc, 0); /* and from the other side */

  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -5);
  ck_assert_agent_reaches(&g_a, nexits, 1);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, -5);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

START_TEST(one_unlink_undoes_a_link_made_twice) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_link(sys, a, &g_a, b);
  ag_link(sys, a, &g_a, b);

  ck_assert_rc(ag_call(sys, a, &g_a, CMD_UNLINK, b, 0).rc, 0);
  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -5);
  tu_quiesce(sys);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

/* ---- spawn_opts.link ------------------------------------------------------------------- */

START_TEST(spawn_with_link_from_an_actor_stops_the_parent_when_the_child_fails) {
  acto_system *sys = ag_det_system();
  acto_ref obs = ag_spawn(sys, &g_obs);
  acto_ref parent = ag_spawn(sys, &g_a);
  (void)ag_monitor(sys, obs, &g_obs, parent);

  ag_res r = ag_call_ex(sys, parent, &g_a, CMD_SPAWN_LINKED, ACTO_REF_NONE, 0, &g_b);
  ck_assert_rc(r.rc, 0);
  acto_ref child = r.ref;
  ck_assert(!acto_ref_is_none(child));
  ck_assert_int_eq(acto_alive(sys, child), 1);
  (void)ag_monitor(sys, obs, &g_obs, child);
  ag_post(sys, child, CMD_FAIL, -6);

  ck_assert_stopped_with(sys, &g_obs, child, &g_b, -6);
  ck_assert_stopped_with(sys, &g_obs, parent, &g_a, -6);
  tu_shutdown(sys);
}
END_TEST

START_TEST(spawn_with_link_from_an_actor_stops_the_child_when_the_parent_fails) {
  acto_system *sys = ag_det_system();
  acto_ref obs = ag_spawn(sys, &g_obs);
  acto_ref parent = ag_spawn(sys, &g_a);
  (void)ag_monitor(sys, obs, &g_obs, parent);
  ag_res r = ag_call_ex(sys, parent, &g_a, CMD_SPAWN_LINKED, ACTO_REF_NONE, 0, &g_b);
  ck_assert_rc(r.rc, 0);
  acto_ref child = r.ref;
  (void)ag_monitor(sys, obs, &g_obs, child);

  ag_post(sys, parent, CMD_FAIL, -7);

  ck_assert_stopped_with(sys, &g_obs, parent, &g_a, -7);
  ck_assert_stopped_with(sys, &g_obs, child, &g_b, -7);
  tu_shutdown(sys);
}
END_TEST

START_TEST(spawn_with_link_from_a_plain_thread_returns_ewrongthread) {
  acto_system *sys = ag_det_system();
  ag_init(&g_a, sys);
  acto_spawn_opts opts = {.link = 1};
  acto_ref r = ACTO_REF_NONE;

  ck_assert_rc(acto_spawn(sys, &agent_behaviour, &g_a, &opts, &r), ACTO_EWRONGTHREAD);

  ck_assert(acto_ref_is_none(r));
  acto_stats st = tu_stats(sys);
  ck_assert_uint_eq(st.actors_live, 0);
  ck_assert_uint_eq(st.actors_spawned, 0);
  ck_assert_agent_is(&g_a, terminated, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- the crash hook --------------------------------------------------------------------- */

static tu_crashes g_crash = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Records into g_crash, and checks what every call must carry. */
static void crash_hook(void *user, acto_ref actor, const char *behaviour, int reason,
                       uint32_t msg_type) {
  TU_EXPECT(user == &g_crash, "crash hook got user %p", user);
  TU_EXPECT(behaviour != NULL, "crash hook got a NULL behaviour name");
  tu_crash_hook(user, actor, behaviour, reason, msg_type);
}

static int crash_count(void) { return tu_crash_count(&g_crash); }

static tu_crash_rec crash_at(int i) { return tu_crash_at(&g_crash, i); }

static int pred_crashes(void *p) { return crash_count() >= *(int *)p; }

#define ck_assert_crashes_reach(sys, n)                                                  \
  do {                                                                                   \
    int want_ = (n);                                                                     \
    tu_settle(sys);                                                                      \
    ck_assert_msg(tu_wait_until(pred_crashes, &want_, TU_WAIT_MS),                       \
                  "crash hook called %d times, expected >= %d", crash_count(), want_);   \
  } while (0)

static void assert_crash(int i, acto_ref actor, const char *behaviour, int reason,
                         uint32_t msg_type) {
  tu_crash_rec r = crash_at(i);
  ck_assert_msg(acto_ref_eq(r.actor, actor), "crash %d: actor %" PRIu64 ", expected %" PRIu64, i,
                r.actor.id, actor.id);
  ck_assert_str_eq(r.behaviour, behaviour);
  ck_assert_int_eq(r.reason, reason);
  ck_assert_uint_eq(r.msg_type, msg_type);
}

START_TEST(crash_hook_reports_a_failing_handler_with_actor_behaviour_reason_and_type) {
  acto_system *sys = ag_det_system();
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  acto_ref a = ag_spawn(sys, &g_a);

  ag_post(sys, a, CMD_FAIL, -21);

  ck_assert_crashes_reach(sys, 1);
  assert_crash(0, a, "agent", -21, CMD_FAIL);
  ck_assert_becomes_dead(sys, a);
  ck_assert_stat_becomes(sys, actors_failed, 1);
  tu_quiesce(sys);
  ck_assert_int_eq(crash_count(), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(crash_hook_reports_init_failure_at_spawn_with_message_type_zero) {
  acto_system *sys = ag_det_system();
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  acto_ref seen = ACTO_REF_NONE, out = ACTO_REF_NONE;

  ck_assert_rc(acto_spawn(sys, &ag_bad_init_behaviour, &seen, NULL, &out), ACTO_EINIT);

  ck_assert(!acto_ref_is_none(seen));
  ck_assert_int_eq(crash_count(), 1); /* reported before spawn returned */
  assert_crash(0, seen, "bad_init", -13, 0);
  ck_assert_int_eq(acto_alive(sys, seen), 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(crash_hook_reports_exit_self_with_a_negative_reason_but_not_a_positive_one) {
  acto_system *sys = ag_det_system();
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  acto_ref a = ag_spawn(sys, &g_a);
  acto_ref b = ag_spawn(sys, &g_b);

  ck_assert_rc(ag_call(sys, b, &g_b, CMD_EXIT_SELF, ACTO_REF_NONE, 7).rc, 0);
  ck_assert_agent_reaches(&g_b, terminated, 1);
  ck_assert_rc(ag_call(sys, a, &g_a, CMD_EXIT_SELF, ACTO_REF_NONE, -8).rc, 0);

  ck_assert_crashes_reach(sys, 1);
  assert_crash(0, a, "agent", -8, CMD_EXIT_SELF);
  ck_assert_agent_reaches(&g_a, terminated, 1);
  ck_assert_int_eq(ag_get(&g_a, &g_a.term_reason), -8);
  ck_assert_int_eq(ag_get(&g_b, &g_b.term_reason), 7);
  tu_quiesce(sys);
  ck_assert_int_eq(crash_count(), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(crash_hook_removed_with_null_is_not_called) {
  acto_system *sys = ag_det_system();
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  ck_assert_ok(acto_set_crash_hook(sys, NULL, NULL));
  ck_assert_rc(acto_set_crash_hook(NULL, crash_hook, &g_crash), ACTO_EINVAL);
  acto_ref a = ag_spawn(sys, &g_a);

  ag_post(sys, a, CMD_FAIL, -21);

  ck_assert_agent_reaches(&g_a, terminated, 1);
  ck_assert_stat_becomes(sys, actors_failed, 1);
  tu_quiesce(sys);
  ck_assert_int_eq(crash_count(), 0);
  tu_shutdown(sys);
}
END_TEST


/* ---- EXIT and DOWN handlers, exit_self in init, shutdown ------------------------ */

START_TEST(a_trapping_actor_receives_exit_normal_when_its_partner_stops_normally) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ag_trap(sys, a, &g_a, 1);
  ag_link(sys, a, &g_a, b);

  ck_assert_ok(acto_stop(sys, b));

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, ACTO_REASON_NORMAL);
  ck_assert_agent_reaches(&g_a, nexits, 1);
  ag_assert_exit(&g_a, 0, b, ACTO_REASON_NORMAL);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 1);
  ag_assert_running(sys, a, &g_a);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_handler_failing_on_an_exit_message_stops_with_its_reason) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  ag_on_signal(&g_a, AG_ON_FAIL, -31);
  ag_trap(sys, a, &g_a, 1);
  ag_link(sys, a, &g_a, b);

  ag_post(sys, b, CMD_FAIL, -5);

  ck_assert_stopped_with(sys, &g_obs, b, &g_b, -5);
  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -31);
  ck_assert_agent_is(&g_a, nexits, 1);
  ck_assert_crashes_reach(sys, 2);
  assert_crash(0, b, "agent", -5, CMD_FAIL);
  assert_crash(1, a, "agent", -31, ACTO_MSG_EXIT);
  tu_shutdown(sys);
}
END_TEST

START_TEST(crash_hook_reports_exit_self_in_an_exit_handler_with_type_exit) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  ag_on_signal(&g_a, AG_ON_EXIT_SELF, -32);
  ag_trap(sys, a, &g_a, 1);

  ck_assert_ok(acto_exit(sys, a, 9));

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -32);
  ck_assert_agent_is(&g_a, nexits, 1);
  ck_assert_crashes_reach(sys, 1);
  assert_crash(0, a, "agent", -32, ACTO_MSG_EXIT);
  tu_shutdown(sys);
}
END_TEST

START_TEST(crash_hook_reports_exit_self_in_a_down_handler_with_type_down) {
  acto_ref obs, a, b;
  acto_system *sys = setup_pair(ag_det_system(), &obs, &a, &b);
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  ag_on_signal(&g_a, AG_ON_EXIT_SELF, -33);
  ck_assert_rc(ag_call(sys, a, &g_a, CMD_MONITOR, b, 0).rc, 0);

  ck_assert_ok(acto_stop(sys, b));

  ck_assert_stopped_with(sys, &g_obs, a, &g_a, -33);
  ck_assert_agent_is(&g_a, ndowns, 1);
  ck_assert_crashes_reach(sys, 1);
  assert_crash(0, a, "agent", -33, ACTO_MSG_DOWN);
  tu_shutdown(sys);
}
END_TEST

START_TEST(exit_self_with_a_positive_reason_in_init_stops_the_actor_with_that_reason) {
  acto_system *sys = ag_det_system();
  ag_init(&g_a, sys);
  g_a.init_exit_self = 1;
  g_a.init_exit_reason = 7;
  acto_ref a = ACTO_REF_NONE;

  ck_assert_ok(acto_spawn(sys, &agent_behaviour, &g_a, NULL, &a));

  ck_assert_agent_reaches(&g_a, terminated, 1);
  ck_assert_int_eq(ag_get(&g_a, &g_a.term_reason), 7);
  ck_assert_becomes_dead(sys, a);
  ck_assert_agent_is(&g_a, nres, 0);
  tu_shutdown(sys);
}
END_TEST

/* A negative reason in init is a failure.  Either spawn reports it
 * (ACTO_EINIT, no terminate) or the actor stops with it on its own, before
 * handling any message; in both cases the crash hook hears of it. */
START_TEST(exit_self_with_a_negative_reason_in_init_fails_the_actor_without_a_message) {
  acto_system *sys = ag_det_system();
  ck_assert_ok(acto_set_crash_hook(sys, crash_hook, &g_crash));
  ag_init(&g_a, sys);
  g_a.init_exit_self = 1;
  g_a.init_exit_reason = -3;
  acto_ref a = ACTO_REF_NONE;

  int rc = acto_spawn(sys, &agent_behaviour, &g_a, NULL, &a);

  ck_assert_msg(rc == 0 || rc == ACTO_EINIT, "spawn returned %d (%s)", rc, tu_name(rc));
  if (rc == 0) {
    ck_assert_msg(ag_wait(&g_a, &g_a.terminated, 1, TU_SHORT_WAIT_MS),
                  "an actor that failed in init is still running after %ld ms (alive %d)",
                  (long)TU_SHORT_WAIT_MS, acto_alive(sys, a));
    ck_assert_int_eq(ag_get(&g_a, &g_a.term_reason), -3);
    ck_assert_becomes_dead(sys, a);
  } else {
    ck_assert_agent_is(&g_a, terminated, 0);
  }
  int want = 1;
  tu_settle(sys);
  ck_assert_msg(tu_wait_until(pred_crashes, &want, TU_SHORT_WAIT_MS),
                "crash hook called %d times, expected 1", crash_count());
  tu_crash_rec c = crash_at(0);
  ck_assert_str_eq(c.behaviour, "agent");
  ck_assert_int_eq(c.reason, -3);
  ck_assert_uint_eq(c.msg_type, 0);
  ck_assert_stat_becomes(sys, actors_live, 0);
  /* Whatever is sent now is never handled. */
  if (!acto_ref_is_none(a)) ck_assert_rc(acto_send(sys, a, CMD_PING, NULL, 0), ACTO_ESTALE);
  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nres, 0);
  ck_assert_int_eq(crash_count(), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(spawn_with_link_whose_init_fails_returns_einit_and_leaves_the_parent_running) {
  acto_system *sys = ag_det_system();
  acto_ref obs = ag_spawn(sys, &g_obs);
  acto_ref parent = ag_spawn(sys, &g_a);
  (void)ag_monitor(sys, obs, &g_obs, parent);
  ag_trap(sys, parent, &g_a, 1);

  /* The child's init fails: spawn reports it, and no link remains. */
  ck_assert_rc(ag_call(sys, parent, &g_a, CMD_SPAWN_BAD_LINKED, ACTO_REF_NONE, 0).rc, ACTO_EINIT);

  tu_quiesce(sys);
  ck_assert_agent_is(&g_a, nexits, 0);
  ag_trap(sys, parent, &g_a, 0);
  tu_quiesce(sys);
  ag_assert_running(sys, parent, &g_a);
  ck_assert_agent_is(&g_obs, ndowns, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(system_shutdown_stops_actors_with_reason_shutdown) {
  acto_system *sys = ag_det_system();
  acto_ref a = ag_spawn(sys, &g_a);
  acto_ref b = ag_spawn(sys, &g_b);
  ag_trap(sys, b, &g_b, 1);
  ag_assert_running(sys, a, &g_a);

  tu_shutdown(sys);

  ck_assert_int_eq(g_a.terminated, 1);
  ck_assert_int_eq(g_b.terminated, 1);
  ck_assert_msg(g_a.term_reason == ACTO_REASON_SHUTDOWN,
                "terminate reason at shutdown is %d, expected ACTO_REASON_SHUTDOWN (%d)",
                g_a.term_reason, ACTO_REASON_SHUTDOWN);
  ck_assert_msg(g_b.term_reason == ACTO_REASON_SHUTDOWN,
                "terminate reason of a trapping actor at shutdown is %d, expected %d",
                g_b.term_reason, ACTO_REASON_SHUTDOWN);
}
END_TEST

/* Many actors linked in a ring and monitoring each other, half of them
 * trapping: shutdown with all those signals in flight completes, runs
 * every terminate exactly once, and leaks nothing (ASan) or races (TSan).
 * Threaded, with four workers: the point is signals crossing threads. */
#define WEB 64
static agent g_web[WEB];

START_TEST(shutdown_with_a_web_of_links_and_monitors_is_clean) {
  acto_system *sys = tu_system(4);
  acto_ref r[WEB];
  for (int i = 0; i < WEB; i++) r[i] = ag_spawn(sys, &g_web[i]);
  for (int i = 0; i < WEB; i++) {
    if (i % 2) ag_trap(sys, r[i], &g_web[i], 1);
    ag_link(sys, r[i], &g_web[i], r[(i + 1) % WEB]);
    ck_assert_rc(ag_call(sys, r[i], &g_web[i], CMD_MONITOR, r[(i + 7) % WEB], 0).rc, 0);
  }
  /* One failure starts a wave of exits while the system shuts down. */
  ag_post(sys, r[0], CMD_FAIL, -1);

  tu_shutdown(sys);

  for (int i = 0; i < WEB; i++)
    ck_assert_msg(g_web[i].terminated == 1, "actor %d terminated %d times", i,
                  g_web[i].terminated);
}
END_TEST

/* ---- link racing with a failure --------------------------------------------------------- */

/* A trapping racer (agent.h) counts the EXITs of the links it makes. */
static ag_race g_race;

enum { RACE_REASON = -5 };

static int race_target_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state;
  TU_EXPECT(msg->type < ACTO_MSG_RESERVED, "target got type 0x%x", msg->type);
  return msg->type == CMD_FAIL ? RACE_REASON : 0;
}

static const acto_behaviour race_target = {.name = "race_target", .handle = race_target_handle};

static int fail_target(acto_system *sys, acto_ref t) { return acto_send(sys, t, CMD_FAIL, NULL, 0); }

START_TEST(link_racing_with_a_failure_gives_exactly_one_exit_failure_or_noproc) {
  ag_race_init(&g_race);
  acto_system *sys = tu_system(4);
  acto_ref linker = ag_spawn_racer(sys, &g_race, RACE_REASON);
  ck_assert_ok(acto_send(sys, linker, CMD_TRAP, NULL, 0));
  ck_assert_counter_reaches(&g_race.trapped, 1);

  ag_race_rounds(sys, &g_race, linker, CMD_LINK, &race_target, fail_target, TU_N(200, 200, 100));

  ck_assert_int_eq(acto_alive(sys, linker), 1);
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("link");
  TCase *tc = tu_tcase("propagation", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, an_abnormal_exit_stops_the_linked_actor_with_the_same_reason,
               a_failure_propagates_both_ways_along_a_link,
               a_normal_stop_of_a_linked_actor_leaves_the_other_running,
               exit_self_with_a_positive_reason_is_abnormal_and_propagates,
               a_failure_travels_along_a_chain_of_links);
  suite_add_tcase(s, tc);

  tc = tu_tcase("trap", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, a_trapping_actor_receives_exit_with_the_sender_and_reason_and_keeps_running,
               trap_exit_off_restores_propagation);
  suite_add_tcase(s, tc);

  tc = tu_tcase("kill", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, kill_stops_even_a_trapping_actor_with_reason_killed,
               kill_propagates_as_killed_to_a_linked_non_trapping_actor,
               a_trapping_linked_actor_receives_exit_killed_when_its_partner_is_killed,
               kill_takes_effect_after_the_current_callback_and_before_queued_messages);
  suite_add_tcase(s, tc);

  tc = tu_tcase("exit", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, exit_with_an_abnormal_reason_stops_a_non_trapping_actor_with_it,
               exit_with_reason_normal_is_ignored_by_a_non_trapping_actor,
               exit_to_a_trapping_actor_from_a_plain_thread_arrives_from_ref_none,
               exit_sent_by_an_actor_names_it_as_the_sender,
               exit_and_kill_of_a_stopped_actor_return_estale,
               link_calls_outside_an_actor_return_einval);
  suite_add_tcase(s, tc);

  tc = tu_tcase("link", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, link_to_a_dead_actor_stops_a_non_trapping_caller_with_noproc,
               link_to_a_dead_actor_gives_a_trapping_caller_exit_noproc,
               link_queued_behind_an_exit_signal_fires_with_the_real_reason,
               link_queued_behind_an_exit_signal_stops_a_non_trapping_caller_with_the_real_reason,
               unlink_before_the_partner_fails_prevents_propagation,
               unlink_by_either_side_removes_the_link_for_both,
               linking_twice_is_idempotent_one_failure_gives_one_exit,
               one_unlink_undoes_a_link_made_twice);
  suite_add_tcase(s, tc);

  tc = tu_tcase("spawn_link", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, spawn_with_link_from_an_actor_stops_the_parent_when_the_child_fails,
               spawn_with_link_from_an_actor_stops_the_child_when_the_parent_fails,
               spawn_with_link_from_a_plain_thread_returns_ewrongthread);
  suite_add_tcase(s, tc);

  tc = tu_tcase("crash_hook", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, crash_hook_reports_a_failing_handler_with_actor_behaviour_reason_and_type,
               crash_hook_reports_init_failure_at_spawn_with_message_type_zero,
               crash_hook_reports_exit_self_with_a_negative_reason_but_not_a_positive_one,
               crash_hook_removed_with_null_is_not_called,
               crash_hook_reports_exit_self_in_an_exit_handler_with_type_exit,
               crash_hook_reports_exit_self_in_a_down_handler_with_type_down);
  suite_add_tcase(s, tc);

  tc = tu_tcase("signals", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, a_trapping_actor_receives_exit_normal_when_its_partner_stops_normally,
               a_handler_failing_on_an_exit_message_stops_with_its_reason,
               exit_self_with_a_positive_reason_in_init_stops_the_actor_with_that_reason,
               exit_self_with_a_negative_reason_in_init_fails_the_actor_without_a_message,
               spawn_with_link_whose_init_fails_returns_einit_and_leaves_the_parent_running);
  suite_add_tcase(s, tc);

  tc = tu_tcase("shutdown", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, system_shutdown_stops_actors_with_reason_shutdown,
               shutdown_with_a_web_of_links_and_monitors_is_clean);
  suite_add_tcase(s, tc);

  tc = tu_tcase("race", 60);
  tcase_add_test(tc, link_racing_with_a_failure_gives_exactly_one_exit_failure_or_noproc);
  suite_add_tcase(s, tc);

  return tu_run(s);
}
