/* test_timer.c - acto_send_after, acto_send_periodic, acto_timer_cancel.
 *
 * Time is checked only from below (a timer never fires early, measured on
 * CLOCK_MONOTONIC with 1 ms of slack for millisecond rounding); no test
 * asserts how late a timer may be.  "Never delivered" is checked by giving
 * the timer several times its delay to misbehave, or, better, against a
 * later timer that did fire (timers fire in the order of their deadlines).
 * Nor does a test assume that the test thread gets from one call to the
 * next within a timer's delay: where that matters (a cancel "before it is
 * due", a stop before the timer fires) the target is held in a handler,
 * so that a timer firing early is only queued, which the guarantee
 * covers as well.
 */
#include "testutil.h"

enum { MSG_TICK = 1, MSG_START, MSG_LATE, MSG_EARLY, MSG_MIDDLE, MSG_OTHER };

static tu_probe g_probe;
static tu_dead g_dead;

static acto_system *setup_system(unsigned threads) {
  tu_probe_init(&g_probe);
  tu_dead_init(&g_dead);
  acto_system *sys = tu_system(threads);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &g_dead));
  return sys;
}

#define MS(ns) ((ns) / 1000000)

START_TEST(send_after_delivers_once_and_no_earlier_than_its_delay) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  uint64_t v = 4242;
  acto_timer t = 0;

  int64_t t0 = tu_now_ns();
  ck_assert_ok(acto_send_after(sys, a, MSG_TICK, &v, sizeof v, 100, &t));
  v = 0; /* the payload was copied */

  ck_assert_probe_reaches(&g_probe, 1);
  tu_rec r = tu_probe_rec(&g_probe, 0);
  ck_assert_msg(MS(r.at_ns - t0) >= 99, "delivered after %" PRId64 " ms, delay was 100 ms",
                MS(r.at_ns - t0));
  ck_assert_uint_eq(r.type, MSG_TICK);
  ck_assert_uint_eq(r.size, sizeof v);
  ck_assert_uint_eq(r.value, 4242);
  ck_assert(acto_ref_is_none(r.sender)); /* set from a plain thread */
  tu_sleep_ms(150);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(send_after_with_zero_delay_delivers) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_timer t = 0;

  ck_assert_ok(acto_send_after(sys, a, MSG_TICK, NULL, 0, 0, &t));

  ck_assert_probe_reaches(&g_probe, 1);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, MSG_TICK);
  tu_shutdown(sys);
}
END_TEST

/* An actor that, on MSG_START carrying a ref, sets a 10 ms timer to it. */
static atomic_int g_setter_rc = -999;

static int setter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_START) {
    acto_ref to;
    memcpy(&to, msg->data, sizeof to);
    acto_timer t = 0;
    atomic_store(&g_setter_rc,
                 acto_send_after(acto_ctx_system(ctx), to, MSG_TICK, NULL, 0, 10, &t));
  }
  return 0;
}

static const acto_behaviour setter = {.name = "setter", .handle = setter_handle};

START_TEST(timer_set_inside_an_actor_has_that_actor_as_sender) {
  acto_system *sys = setup_system(2);
  acto_ref target = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref s = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &setter, NULL, NULL, &s));

  ck_assert_ok(acto_send(sys, s, MSG_START, &target, sizeof target));

  ck_assert_probe_reaches(&g_probe, 1);
  ck_assert_rc(atomic_load(&g_setter_rc), 0);
  tu_rec r = tu_probe_rec(&g_probe, 0);
  ck_assert_uint_eq(r.type, MSG_TICK);
  ck_assert_msg(acto_ref_eq(r.sender, s), "timer message's sender is not the actor that set it");
  ck_assert(acto_ref_eq(r.ctx_sender, s));
  tu_shutdown(sys);
}
END_TEST

START_TEST(periodic_timer_delivers_repeatedly_never_ahead_of_schedule) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  const int64_t delay = 20, period = 20;
  uint64_t v = 9;
  acto_timer t = 0;

  int64_t t0 = tu_now_ns();
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, &v, sizeof v, delay, period, &t));

  ck_assert_probe_reaches(&g_probe, 5);
  ck_assert_ok(acto_timer_cancel(sys, t));
  for (int k = 0; k < 5; k++) {
    tu_rec r = tu_probe_rec(&g_probe, k);
    ck_assert_uint_eq(r.type, MSG_TICK);
    ck_assert_uint_eq(r.value, 9);
    int64_t due = delay + k * period;
    ck_assert_msg(MS(r.at_ns - t0) >= due - 1, "delivery %d after %" PRId64 " ms, due at %" PRId64,
                  k, MS(r.at_ns - t0), due);
  }
  ck_assert_rc(acto_timer_cancel(sys, t), ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

/* Cancelled before they are due, they never fire: a control timer set
 * after the cancels, due later, is handled, and nothing of the cancelled
 * ones before or after it.  The probe is held while the timers are set
 * and cancelled: should this thread be kept off the CPU past their delay,
 * a tick is only queued, and a cancel that returns 0 discards it too. */
START_TEST(timer_cancelled_before_it_is_due_is_never_delivered) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  tu_probe_hold(sys, a, &g_probe);
  acto_timer once = 0, every = 0, control = 0;
  ck_assert_ok(acto_send_after(sys, a, MSG_TICK, NULL, 0, 200, &once));
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, 200, 10, &every));
  ck_assert(once != every);

  ck_assert_ok(acto_timer_cancel(sys, once));
  ck_assert_ok(acto_timer_cancel(sys, every));
  ck_assert_ok(acto_send_after(sys, a, MSG_OTHER, NULL, 0, 250, &control));
  tu_gate_open(&g_probe.gate);

  ck_assert_probe_reaches(&g_probe, 2); /* the held message, then the control */
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 1).type, MSG_OTHER);
  tu_sleep_ms(50); /* five more periods of the periodic one */
  ck_assert_int_eq(tu_probe_count(&g_probe), 2);
  ck_assert_rc(acto_timer_cancel(sys, once), ACTO_ENOENT);
  ck_assert_rc(acto_timer_cancel(sys, every), ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

/* The target cancels its own periodic timer on the third tick: once the
 * cancel returned 0, no further tick may be handled. */
typedef struct self_cancel_state {
  acto_timer timer;
  int ticks;
  int cancelled;
} self_cancel_state;

static tu_counter g_cancel_done;
static atomic_int g_cancel_rc = -999;
static atomic_int g_ticks_after_cancel;
static atomic_int g_ticks_total;

static int self_cancel_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  self_cancel_state *s = state;
  acto_system *sys = acto_ctx_system(ctx);
  if (msg->type == MSG_START) {
    TU_EXPECT_RC(acto_send_periodic(sys, acto_self(ctx), MSG_TICK, NULL, 0, 0, 5, &s->timer), 0);
  } else if (msg->type == MSG_TICK) {
    atomic_fetch_add(&g_ticks_total, 1);
    if (s->cancelled) {
      atomic_fetch_add(&g_ticks_after_cancel, 1);
    } else if (++s->ticks == 3) {
      atomic_store(&g_cancel_rc, acto_timer_cancel(sys, s->timer));
      s->cancelled = 1;
      tu_counter_add(&g_cancel_done, 1);
    }
  }
  return 0;
}

static const acto_behaviour self_canceller = {
    .name = "self_canceller", .state_size = sizeof(self_cancel_state), .handle = self_cancel_handle};

START_TEST(cancelled_periodic_timer_delivers_nothing_more) {
  tu_counter_init(&g_cancel_done);
  acto_system *sys = setup_system(2);
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &self_canceller, NULL, NULL, &a));

  ck_assert_ok(acto_send(sys, a, MSG_START, NULL, 0));

  ck_assert_counter_reaches(&g_cancel_done, 1);
  ck_assert_rc(atomic_load(&g_cancel_rc), 0);
  tu_sleep_ms(100); /* twenty periods */
  ck_assert_int_eq(atomic_load(&g_ticks_after_cancel), 0);
  ck_assert_int_eq(atomic_load(&g_ticks_total), 3);
  tu_shutdown(sys);
}
END_TEST

START_TEST(cancel_discards_timer_messages_already_queued) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  tu_probe_hold(sys, a, &g_probe);
  acto_timer t = 0;
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, 0, 5, &t));
  tu_sleep_ms(60); /* let ticks queue up behind the held message */

  ck_assert_ok(acto_timer_cancel(sys, t));
  tu_gate_open(&g_probe.gate);

  tu_sleep_ms(60);
  int n = tu_probe_count(&g_probe);
  for (int i = 1; i < n; i++)
    ck_assert_msg(tu_probe_rec(&g_probe, i).type != MSG_TICK,
                  "a tick queued before the cancel was handled after it returned 0");
  ck_assert_int_eq(n, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(cancel_of_an_unknown_or_finished_timer_returns_enoent) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_timer t = 0;

  ck_assert_rc(acto_timer_cancel(sys, (acto_timer)0x5eed5eed5eedull), ACTO_ENOENT);
  ck_assert_ok(acto_send_after(sys, a, MSG_TICK, NULL, 0, 1, &t));
  ck_assert_probe_reaches(&g_probe, 1);
  ck_assert_ok(acto_send(sys, a, MSG_OTHER, NULL, 0)); /* handled after the tick returned */
  ck_assert_probe_reaches(&g_probe, 2);
  ck_assert_rc(acto_timer_cancel(sys, t), ACTO_ENOENT); /* fired and handled: finished */
  ck_assert_ok(acto_send_after(sys, a, MSG_TICK, NULL, 0, 10000, &t));
  ck_assert_ok(acto_timer_cancel(sys, t));
  ck_assert_rc(acto_timer_cancel(sys, t), ACTO_ENOENT); /* cancelled: finished */
  tu_shutdown(sys);
}
END_TEST

/* A cancel that returns 0 promises that no message of the timer is
 * handled; once the message is being handled, that promise cannot be kept,
 * so the cancel must fail. */
START_TEST(cancel_of_a_timer_whose_message_is_being_handled_returns_enoent) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_timer t = 0;
  ck_assert_ok(acto_send_after(sys, a, TU_MSG_GATE, NULL, 0, 1, &t));
  ck_assert_counter_reaches(&g_probe.entered, 1); /* the tick is being handled */

  int rc = acto_timer_cancel(sys, t);

  tu_gate_open(&g_probe.gate);
  ck_assert_msg(rc == ACTO_ENOENT,
                "acto_timer_cancel returned %d (%s) while the timer's message was being handled",
                rc, tu_name(rc));
  tu_shutdown(sys);
}
END_TEST

typedef struct dead_any_arg {
  uint32_t type;
} dead_any_arg;

/* A dead letter of this type, stale or closed. */
static int dead_of_type(void *p) {
  uint32_t type = ((dead_any_arg *)p)->type;
  int found = 0;
  pthread_mutex_lock(&g_dead.mu);
  for (int i = 0; i < g_dead.n; i++)
    if (g_dead.log[i].type == type &&
        (g_dead.log[i].reason == ACTO_DEAD_STALE || g_dead.log[i].reason == ACTO_DEAD_CLOSED))
      found = 1;
  pthread_mutex_unlock(&g_dead.mu);
  return found;
}

/* The probe is held while the timer is set and the stop requested: the
 * stop overtakes queued user messages, so the timer's message is never
 * handled even if this thread is kept off the CPU past its delay (it is
 * then a CLOSED dead letter instead of a STALE one). */
START_TEST(timer_firing_for_a_stopped_actor_counts_a_dead_letter) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  tu_probe_hold(sys, a, &g_probe);
  acto_timer t = 0;
  ck_assert_ok(acto_send_after(sys, a, MSG_LATE, NULL, 0, 100, &t));

  ck_assert_ok(acto_stop(sys, a));
  tu_gate_open(&g_probe.gate);
  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_becomes_dead(sys, a);

  dead_any_arg arg = {MSG_LATE};
  ck_assert_msg(tu_wait_until(dead_of_type, &arg, TU_WAIT_MS),
                "the timer's message never became a dead letter");
  acto_stats st = tu_stats(sys);
  ck_assert_uint_eq(st.dead_letters[ACTO_DEAD_STALE] + st.dead_letters[ACTO_DEAD_CLOSED], 1);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1); /* the held message only */
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, TU_MSG_GATE);
  tu_shutdown(sys);
}
END_TEST

START_TEST(timer_set_for_an_already_stopped_actor_counts_a_stale_dead_letter) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  ck_assert_ok(acto_stop(sys, a));
  ck_assert_becomes_dead(sys, a);
  acto_timer t = 0;

  /* Either refused now or counted when it fires. */
  int rc = acto_send_after(sys, a, MSG_LATE, NULL, 0, 10, &t);
  ck_assert_msg(rc == 0 || rc == ACTO_ESTALE, "acto_send_after returned %d (%s)", rc, tu_name(rc));

  ck_assert_dead_hook_reaches(&g_dead, ACTO_DEAD_STALE, 1);
  ck_assert_int_eq(tu_dead_matches(&g_dead, a, MSG_LATE, ACTO_DEAD_STALE), 1);
  ck_assert_dead_stat(sys, ACTO_DEAD_STALE, 1);
  tu_shutdown(sys);
}
END_TEST

typedef struct stale_tick_arg {
  acto_ref to;
} stale_tick_arg;

static int stale_tick_seen(void *p) {
  return tu_dead_matches(&g_dead, ((stale_tick_arg *)p)->to, MSG_TICK, ACTO_DEAD_STALE) > 0;
}

/* The timer ends itself at its first firing that finds the target gone
 * (a STALE dead letter), however late the timer thread gets to it.  The
 * dead letter is counted inside that firing, just before the timer ends
 * itself: a one-shot timer set afterwards is fired by the same thread,
 * after that firing returned, so once it is handled the timer is over. */
START_TEST(periodic_timer_ends_when_its_target_stops) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  static tu_probe marker_probe;
  tu_probe_init(&marker_probe);
  acto_ref marker = tu_spawn_probe(sys, &marker_probe, NULL);
  acto_timer t = 0, m = 0;
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, 0, 10, &t));
  ck_assert_probe_reaches(&g_probe, 2);

  ck_assert_ok(acto_stop(sys, a));
  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_becomes_dead(sys, a);

  stale_tick_arg sa = {a};
  ck_assert_msg(tu_wait_until(stale_tick_seen, &sa, TU_WAIT_MS),
                "the periodic timer never fired into its stopped target");
  ck_assert_ok(acto_send_after(sys, marker, MSG_OTHER, NULL, 0, 0, &m));
  ck_assert_probe_reaches(&marker_probe, 1);
  ck_assert_rc(acto_timer_cancel(sys, t), ACTO_ENOENT);
  long dead = tu_dead_count(&g_dead, ACTO_DEAD_STALE) + tu_dead_count(&g_dead, ACTO_DEAD_CLOSED);
  tu_sleep_ms(50);
  long dead_later =
      tu_dead_count(&g_dead, ACTO_DEAD_STALE) + tu_dead_count(&g_dead, ACTO_DEAD_CLOSED);
  ck_assert_int_eq(dead_later, dead); /* it stopped firing */
  tu_shutdown(sys);
}
END_TEST

START_TEST(timer_finding_a_full_mailbox_counts_a_dead_letter_and_others_keep_firing) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 1, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_ref full = tu_spawn_probe(sys, &g_probe, &opts);
  static tu_probe other_probe;
  tu_probe_init(&other_probe);
  acto_ref other = tu_spawn_probe(sys, &other_probe, NULL);
  tu_probe_hold(sys, full, &g_probe);
  acto_timer t1 = 0, t2 = 0;

  ck_assert_ok(acto_send_after(sys, full, MSG_TICK, NULL, 0, 0, &t1));
  ck_assert_ok(acto_send_after(sys, other, MSG_OTHER, NULL, 0, 20, &t2));

  ck_assert_dead_hook_reaches(&g_dead, ACTO_DEAD_FULL, 1);
  ck_assert_int_eq(tu_dead_matches(&g_dead, full, MSG_TICK, ACTO_DEAD_FULL), 1);
  ck_assert_dead_stat(sys, ACTO_DEAD_FULL, 1);
  ck_assert_probe_reaches(&other_probe, 1); /* the timer thread did not block */
  ck_assert_uint_eq(tu_probe_rec(&other_probe, 0).type, MSG_OTHER);
  tu_gate_open(&g_probe.gate);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1);
  tu_shutdown(sys);
}
END_TEST

/* Set in the order LATE (90 ms), EARLY (30 ms), MIDDLE (60 ms): their
 * deadlines are in the order EARLY, MIDDLE, LATE only if the three calls
 * took less than 30 ms.  A run where this thread was kept off the CPU
 * longer proves nothing and is done again on a fresh system. */
START_TEST(timers_fire_in_the_order_of_their_deadlines) {
  acto_system *sys = NULL;
  acto_ref a = ACTO_REF_NONE;
  acto_timer t = 0;
  for (int attempt = 1;; attempt++) {
    sys = setup_system(2);
    a = tu_spawn_probe(sys, &g_probe, NULL);
    int64_t t0 = tu_now_ns();
    ck_assert_ok(acto_send_after(sys, a, MSG_LATE, NULL, 0, 90, &t));
    ck_assert_ok(acto_send_after(sys, a, MSG_EARLY, NULL, 0, 30, &t));
    ck_assert_ok(acto_send_after(sys, a, MSG_MIDDLE, NULL, 0, 60, &t));
    int64_t took = tu_now_ns() - t0;
    if (took < 30 * 1000000LL)
      break;
    ck_assert_msg(attempt < 20, "setting three timers took %lld us, %d times",
                  (long long)(took / 1000), attempt);
    tu_shutdown(sys); /* does not wait for the pending timers */
  }

  ck_assert_probe_reaches(&g_probe, 3);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, MSG_EARLY);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 1).type, MSG_MIDDLE);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 2).type, MSG_LATE);
  tu_shutdown(sys);
}
END_TEST

START_TEST(shutdown_does_not_wait_for_pending_timers) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_timer t = 0;
  ck_assert_ok(acto_send_after(sys, a, MSG_TICK, NULL, 0, 3600 * 1000, &t));
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, 3600 * 1000, 1000, &t));
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, 0, 1, &t));

  /* The tcase timeout fails this test if shutdown waits for an hour. */
  tu_shutdown(sys);
  ck_assert_counter_reaches(&g_probe.terminated, 1);
}
END_TEST

/* Delays and periods near INT64_MAX saturate: such a timer never fires
 * (the old arithmetic overflowed: it fired at once, and a periodic one
 * flooded its target). */
START_TEST(timers_near_int64_max_never_fire) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_timer t1, t2, t3, t4;
  ck_assert_ok(acto_send_after(sys, a, MSG_LATE, NULL, 0, INT64_MAX, &t1));
  ck_assert_ok(acto_send_after(sys, a, MSG_LATE, NULL, 0, INT64_MAX / 1000, &t2));
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, INT64_MAX, INT64_MAX, &t3));
  /* Fires once now; its next period never comes. */
  ck_assert_ok(acto_send_periodic(sys, a, MSG_START, NULL, 0, 0, INT64_MAX, &t4));
  acto_timer m;
  ck_assert_ok(acto_send_after(sys, a, MSG_EARLY, NULL, 0, 50, &m));
  ck_assert_probe_reaches(&g_probe, 2);
  tu_sleep_ms(200); /* a flood or an early firing would show by now */
  ck_assert_int_eq(tu_probe_count(&g_probe), 2);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, MSG_START);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 1).type, MSG_EARLY);
  /* Still registered: they can be cancelled. */
  ck_assert_ok(acto_timer_cancel(sys, t1));
  ck_assert_ok(acto_timer_cancel(sys, t2));
  ck_assert_ok(acto_timer_cancel(sys, t3));
  ck_assert_ok(acto_timer_cancel(sys, t4));
  tu_shutdown(sys);
}
END_TEST

/* The same in deterministic mode, where the virtual clock jumps to the
 * next timer: a saturated timer is never "next", so running until nothing
 * is left returns instead of jumping to the end of time. */
START_TEST(deterministic_timers_near_int64_max_never_fire) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_det_system(3);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_timer t1, t2;
  ck_assert_ok(acto_send_after(sys, a, MSG_LATE, NULL, 0, INT64_MAX, &t1));
  ck_assert_ok(acto_send_periodic(sys, a, MSG_TICK, NULL, 0, INT64_MAX, INT64_MAX, &t2));
  ck_assert_int_ge(acto_system_run(sys, 3600 * 1000), 0);
  ck_assert_int_eq(tu_probe_count(&g_probe), 0);
  ck_assert_int_ge(acto_system_run(sys, -1), 0);
  ck_assert_int_eq(tu_probe_count(&g_probe), 0);
  ck_assert_int_lt(acto_now_ms(sys), INT64_MAX / 2);
  ck_assert_ok(acto_timer_cancel(sys, t1));
  ck_assert_ok(acto_timer_cancel(sys, t2));
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("timer");
  TCase *tc = tu_tcase("timer", TU_TCASE_TIMEOUT);
  tu_add_tests(
      tc, send_after_delivers_once_and_no_earlier_than_its_delay,
      send_after_with_zero_delay_delivers, timer_set_inside_an_actor_has_that_actor_as_sender,
      periodic_timer_delivers_repeatedly_never_ahead_of_schedule,
      timer_cancelled_before_it_is_due_is_never_delivered,
      cancelled_periodic_timer_delivers_nothing_more, cancel_discards_timer_messages_already_queued,
      cancel_of_an_unknown_or_finished_timer_returns_enoent,
      cancel_of_a_timer_whose_message_is_being_handled_returns_enoent,
      timer_firing_for_a_stopped_actor_counts_a_dead_letter,
      timer_set_for_an_already_stopped_actor_counts_a_stale_dead_letter,
      periodic_timer_ends_when_its_target_stops,
      timer_finding_a_full_mailbox_counts_a_dead_letter_and_others_keep_firing,
      timers_fire_in_the_order_of_their_deadlines, shutdown_does_not_wait_for_pending_timers,
      timers_near_int64_max_never_fire, deterministic_timers_near_int64_max_never_fire);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
