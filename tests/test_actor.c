/* test_actor.c - the life of an actor: spawn, init, state, self and sender,
 * stop, failure, stale refs, exclusive execution, per-sender order and the
 * cost of idle actors.
 *
 * Each test is a specification of one behaviour of acto_actor.h, through
 * the public API only.  Tests run in their own process (Check's fork mode)
 * and end with a clean acto_system_shutdown().
 */
#include <sys/resource.h>

#include "testutil.h"

enum {
  MSG_PING = 1,
  MSG_STOP_SELF,
  MSG_FAIL,
  MSG_FORWARD, /* payload: a fwd_req */
  MSG_VALUE,
  MSG_INC,
  MSG_GO,
  MSG_REPORT,
  MSG_DATA,     /* payload: a seq_msg */
  MSG_CONTINUE,
  MSG_KILL,     /* payload: an acto_ref to stop */
};

/* ---- spawn and init ---------------------------------------------------- */

#define BIG_STATE 256

/* Written only by init, which runs on the spawning thread. */
static struct {
  int calls;
  pthread_t thread;
  const void *arg;
  int state_was_zero;
  int state_aligned;
  acto_ref self;
  acto_system *ctx_sys;
} g_init;

static tu_counter g_handled;
static tu_counter g_terminated;
static atomic_int g_state_kept_in_handle;
static atomic_int g_state_kept_in_terminate;
static atomic_int g_terminate_reason;

static int marking_init(acto_ctx *ctx, void *state, const void *arg) {
  unsigned char *b = state;
  int zero = 1;
  for (size_t i = 0; i < BIG_STATE; i++) zero &= b[i] == 0;
  g_init.calls++;
  g_init.thread = pthread_self();
  g_init.arg = arg;
  g_init.state_was_zero = zero;
  g_init.state_aligned = ((uintptr_t)state % 16) == 0;
  g_init.self = acto_self(ctx);
  g_init.ctx_sys = acto_ctx_system(ctx);
  memset(b, 0x5a, BIG_STATE); /* later callbacks must see this */
  return 0;
}

static int all_5a(const void *state) {
  const unsigned char *b = state;
  for (size_t i = 0; i < BIG_STATE; i++)
    if (b[i] != 0x5a) return 0;
  return 1;
}

static int marking_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx;
  (void)msg;
  atomic_store(&g_state_kept_in_handle, all_5a(state));
  tu_counter_add(&g_handled, 1);
  return 0;
}

static void marking_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  atomic_store(&g_state_kept_in_terminate, all_5a(state));
  atomic_store(&g_terminate_reason, reason);
  tu_counter_add(&g_terminated, 1);
}

static const acto_behaviour marking = {
    .name = "marking",
    .state_size = BIG_STATE,
    .init = marking_init,
    .handle = marking_handle,
    .terminate = marking_terminate,
};

START_TEST(spawn_runs_init_on_the_calling_thread_before_returning_with_zeroed_state) {
  tu_counter_init(&g_handled);
  tu_counter_init(&g_terminated);
  acto_system *sys = tu_system(2);
  static const int token = 42;
  acto_ref a = ACTO_REF_NONE;

  ck_assert_ok(acto_spawn(sys, &marking, &token, NULL, &a));

  ck_assert_int_eq(g_init.calls, 1);
  ck_assert(pthread_equal(g_init.thread, pthread_self()));
  ck_assert_ptr_eq(g_init.arg, &token);
  ck_assert_msg(g_init.state_was_zero, "state not zeroed before init");
  ck_assert_msg(g_init.state_aligned, "state not 16-byte aligned");
  ck_assert(!acto_ref_is_none(a));
  ck_assert(acto_ref_eq(g_init.self, a));
  ck_assert_ptr_eq(g_init.ctx_sys, sys);
  ck_assert_int_eq(acto_alive(sys, a), 1);

  /* A second actor of the same behaviour gets its own zeroed state. */
  acto_ref b = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &marking, NULL, NULL, &b));
  ck_assert_int_eq(g_init.calls, 2);
  ck_assert_msg(g_init.state_was_zero, "second actor's state not zeroed");
  ck_assert(!acto_ref_eq(a, b));

  /* The state written by init is what handle and terminate see. */
  ck_assert_ok(acto_send(sys, a, MSG_PING, NULL, 0));
  ck_assert_counter_reaches(&g_handled, 1);
  ck_assert_int_eq(atomic_load(&g_state_kept_in_handle), 1);
  ck_assert_ok(acto_stop(sys, a));
  ck_assert_counter_reaches(&g_terminated, 1);
  ck_assert_int_eq(atomic_load(&g_state_kept_in_terminate), 1);
  ck_assert_int_eq(atomic_load(&g_terminate_reason), 0);

  tu_shutdown(sys);
}
END_TEST

static atomic_int g_failing_terminates;
static atomic_int g_failing_handles;

static int failing_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  (void)state;
  return *(const int *)arg;
}

static int failing_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  atomic_fetch_add(&g_failing_handles, 1);
  return 0;
}

static void failing_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)state, (void)reason;
  atomic_fetch_add(&g_failing_terminates, 1);
}

static const acto_behaviour failing_init_behaviour = {
    .name = "failing_init",
    .state_size = 32,
    .init = failing_init,
    .handle = failing_handle,
    .terminate = failing_terminate,
};

START_TEST(spawn_with_failing_init_returns_einit_and_never_calls_terminate) {
  acto_system *sys = tu_system(2);
  const int reasons[] = {-1, -77, ACTO_ENOMEM, -100000};

  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
    acto_ref r = ACTO_REF_NONE;
    ck_assert_rc(acto_spawn(sys, &failing_init_behaviour, &reasons[i], NULL, &r), ACTO_EINIT);
  }
  tu_sleep_ms(50); /* give a wrongly scheduled terminate its chance */
  ck_assert_int_eq(atomic_load(&g_failing_terminates), 0);
  ck_assert_int_eq(atomic_load(&g_failing_handles), 0);
  acto_stats st = tu_stats(sys);
  ck_assert_uint_eq(st.actors_live, 0);

  /* A succeeding init of the same behaviour still works. */
  const int ok = 0;
  acto_ref r = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &failing_init_behaviour, &ok, NULL, &r));
  ck_assert_uint_eq(tu_stats(sys).actors_live, 1);
  ck_assert_ok(acto_stop(sys, r));
  ck_assert_becomes_dead(sys, r);
  tu_shutdown(sys);
  ck_assert_int_eq(atomic_load(&g_failing_terminates), 1);
}
END_TEST

/* init answers ACTO_INIT_IGNORE: not started and not a failure.  No actor
 * exists (its name is free, its self-sent message is a dead letter),
 * terminate never runs, and the crash hook hears nothing. */
static atomic_int g_crashes;

static void count_crash(void *user, acto_ref actor, const char *behaviour, int reason,
                        uint32_t msg_type) {
  (void)user, (void)actor, (void)behaviour, (void)reason, (void)msg_type;
  atomic_fetch_add(&g_crashes, 1);
}

static int ignoring_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)state, (void)arg;
  TU_EXPECT_RC(acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_VALUE, NULL, 0), 0);
  return ACTO_INIT_IGNORE;
}

static const acto_behaviour ignoring_behaviour = {
    .name = "ignoring",
    .state_size = 32,
    .init = ignoring_init,
    .handle = failing_handle,
    .terminate = failing_terminate,
};

START_TEST(spawn_whose_init_answers_ignore_returns_eignored_and_no_actor_exists) {
  acto_system *sys = tu_system(2);
  ck_assert_ok(acto_set_crash_hook(sys, count_crash, NULL));
  acto_spawn_opts o = {.name = "ignored"};
  acto_ref r = ACTO_REF_NONE;
  ck_assert_rc(acto_spawn(sys, &ignoring_behaviour, NULL, &o, &r), ACTO_EIGNORED);
  ck_assert(acto_ref_is_none(r)); /* *out untouched, as for every failed spawn */
  acto_ref named;
  ck_assert_rc(acto_lookup(sys, "ignored", &named), ACTO_ENOENT);
  tu_sleep_ms(50); /* give a wrongly scheduled callback its chance */
  ck_assert_int_eq(atomic_load(&g_failing_terminates), 0);
  ck_assert_int_eq(atomic_load(&g_failing_handles), 0);
  ck_assert_int_eq(atomic_load(&g_crashes), 0);
  acto_stats st = tu_stats(sys);
  ck_assert_uint_eq(st.actors_live, 0);
  ck_assert_uint_eq(st.actors_spawned, 0);
  ck_assert_uint_eq(st.dead_letters[ACTO_DEAD_CLOSED], 1);
  ck_assert_str_eq(acto_err_name(ACTO_EIGNORED), "ACTO_EIGNORED");
  tu_shutdown(sys);
}
END_TEST

/* An actor whose init sends itself a message. */
static tu_probe g_probe;

static int self_sending_init(acto_ctx *ctx, void *state, const void *arg) {
  int rc = tu_probe_b_init(ctx, state, arg);
  if (rc != 0) return rc;
  uint64_t v = 7;
  TU_EXPECT_RC(acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_VALUE, &v, sizeof v), 0);
  return 0;
}

static const acto_behaviour self_sending = {
    .name = "self_sending",
    .state_size = sizeof(tu_probe_state),
    .init = self_sending_init,
    .handle = tu_probe_b_handle,
    .terminate = tu_probe_b_terminate,
};

START_TEST(message_sent_to_itself_from_init_is_handled_after_spawn) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  acto_ref a = ACTO_REF_NONE;

  ck_assert_ok(acto_spawn(sys, &self_sending, &g_probe, NULL, &a));

  ck_assert_probe_reaches(&g_probe, 1);
  tu_rec r = tu_probe_rec(&g_probe, 0);
  ck_assert_uint_eq(r.type, MSG_VALUE);
  ck_assert_uint_eq(r.value, 7);
  ck_assert(acto_ref_eq(r.sender, a));
  tu_shutdown(sys);
}
END_TEST

/* ---- messages, self and sender ---------------------------------------- */

START_TEST(handler_sees_type_payload_and_no_sender_from_a_plain_thread) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  uint64_t v = 0x1122334455667788u;
  char text[200];
  memset(text, 'x', sizeof text); /* larger than ACTO_INLINE_MAX */
  memcpy(text, &v, sizeof v);
  char empty = 'e';

  ck_assert_ok(acto_send(sys, a, 42, &v, sizeof v));
  ck_assert_ok(acto_send(sys, a, 43, NULL, 0));
  ck_assert_ok(acto_send(sys, a, 44, &empty, 0)); /* zero size, non-NULL data */
  ck_assert_ok(acto_send(sys, a, 45, text, sizeof text));
  ck_assert_ok(acto_send(sys, a, ACTO_MSG_RESERVED - 1, NULL, 0)); /* highest user type */

  ck_assert_probe_reaches(&g_probe, 5);
  tu_rec r0 = tu_probe_rec(&g_probe, 0);
  ck_assert_uint_eq(r0.type, 42);
  ck_assert_uint_eq(r0.size, sizeof v);
  ck_assert_uint_eq(r0.value, v);
  ck_assert(r0.data_aligned);
  ck_assert(acto_ref_is_none(r0.sender));
  ck_assert(acto_ref_is_none(r0.ctx_sender));
  ck_assert_uint_eq(r0.ask_id, 0);
  for (int i = 1; i <= 2; i++) {
    tu_rec r = tu_probe_rec(&g_probe, i);
    ck_assert_uint_eq(r.type, (unsigned)(42 + i));
    ck_assert_uint_eq(r.size, 0);
    ck_assert_msg(r.data_null, "data must be NULL when size is 0");
  }
  tu_rec r3 = tu_probe_rec(&g_probe, 3);
  ck_assert_uint_eq(r3.type, 45);
  ck_assert_uint_eq(r3.size, sizeof text);
  ck_assert_uint_eq(r3.value, v);
  ck_assert(r3.data_aligned);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 4).type, ACTO_MSG_RESERVED - 1);
  tu_shutdown(sys);
}
END_TEST

/* The forwarder sends MSG_VALUE to the ref in its payload, and reports
 * what acto_self / acto_ctx_system returned. */
typedef struct fwd_req {
  acto_ref to;
  uint64_t value;
} fwd_req;

static _Atomic uint64_t g_fwd_self_id;
static _Atomic(acto_system *) g_fwd_sys;

static int forwarder_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_FORWARD) {
    fwd_req req;
    TU_EXPECT(msg->size == sizeof req, "forward payload size %zu", msg->size);
    memcpy(&req, msg->data, sizeof req);
    atomic_store(&g_fwd_self_id, acto_self(ctx).id);
    atomic_store(&g_fwd_sys, acto_ctx_system(ctx));
    TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), req.to, MSG_VALUE, &req.value,
                             sizeof req.value));
  } else if (msg->type == MSG_KILL) {
    acto_ref victim;
    memcpy(&victim, msg->data, sizeof victim);
    TU_EXPECT_RC(acto_stop(acto_ctx_system(ctx), victim), 0);
  }
  return 0;
}

static const acto_behaviour forwarder = {.name = "forwarder", .handle = forwarder_handle};

START_TEST(sender_is_the_sending_actor_and_self_is_the_running_actor) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  acto_ref target = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref fwd = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &forwarder, NULL, NULL, &fwd));

  fwd_req req = {target, 99};
  ck_assert_ok(acto_send(sys, fwd, MSG_FORWARD, &req, sizeof req));

  ck_assert_probe_reaches(&g_probe, 1);
  tu_rec r = tu_probe_rec(&g_probe, 0);
  ck_assert_uint_eq(r.type, MSG_VALUE);
  ck_assert_uint_eq(r.value, 99);
  ck_assert_msg(acto_ref_eq(r.sender, fwd), "msg->sender is not the forwarding actor");
  ck_assert_msg(acto_ref_eq(r.ctx_sender, fwd), "acto_sender() is not the forwarding actor");
  ck_assert_uint_eq(atomic_load(&g_fwd_self_id), fwd.id);
  ck_assert_ptr_eq(atomic_load(&g_fwd_sys), sys);
  tu_shutdown(sys);
}
END_TEST

/* ---- stopping ------------------------------------------------------------ */

static tu_counter g_stop_terminated;
static atomic_int g_stop_reason = -999;
static atomic_int g_stop_self_rc = -999;
static atomic_int g_after_stop_handled;

static int stopper_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_STOP_SELF) {
    atomic_store(&g_stop_self_rc, acto_stop_self(ctx));
  } else if (msg->type == MSG_FAIL) {
    return -77;
  } else {
    atomic_fetch_add(&g_after_stop_handled, 1);
  }
  return 0;
}

static void stopper_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)state;
  atomic_store(&g_stop_reason, reason);
  tu_counter_add(&g_stop_terminated, 1);
}

static const acto_behaviour stopper = {
    .name = "stopper", .handle = stopper_handle, .terminate = stopper_terminate};

START_TEST(stop_self_runs_terminate_once_with_reason_zero_and_later_sends_are_stale) {
  tu_counter_init(&g_stop_terminated);
  acto_system *sys = tu_system(2);
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &stopper, NULL, NULL, &a));

  ck_assert_ok(acto_send(sys, a, MSG_STOP_SELF, NULL, 0));

  ck_assert_counter_reaches(&g_stop_terminated, 1);
  ck_assert_rc(atomic_load(&g_stop_self_rc), 0);
  ck_assert_int_eq(atomic_load(&g_stop_reason), 0);
  ck_assert_becomes_dead(sys, a);
  ck_assert_rc(acto_send(sys, a, MSG_PING, NULL, 0), ACTO_ESTALE);
  ck_assert_rc(acto_stop(sys, a), ACTO_ESTALE);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_stop_terminated), 1);
  ck_assert_int_eq(atomic_load(&g_after_stop_handled), 0);
  ck_assert_stat_becomes(sys, actors_live, 0);
  ck_assert_stat_becomes(sys, actors_stopped, 1);
  ck_assert_uint_eq(tu_stats(sys).actors_failed, 0);
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_stop_terminated), 1);
}
END_TEST

START_TEST(stop_from_a_plain_thread_runs_terminate_with_reason_zero) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);

  ck_assert_ok(acto_stop(sys, a));

  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_int_eq(g_probe.term_reason, 0);
  ck_assert_becomes_dead(sys, a);
  ck_assert_rc(acto_stop(sys, a), ACTO_ESTALE);
  ck_assert_stat_becomes(sys, actors_live, 0);
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_probe.terminated), 1);
}
END_TEST

START_TEST(stop_from_another_actor_runs_terminate_with_reason_zero) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  acto_ref victim = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref killer = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &forwarder, NULL, NULL, &killer));

  ck_assert_ok(acto_send(sys, killer, MSG_KILL, &victim, sizeof victim));

  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_int_eq(g_probe.term_reason, 0);
  ck_assert_becomes_dead(sys, victim);
  ck_assert_int_eq(acto_alive(sys, killer), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(stop_lets_the_current_message_finish_and_dead_letters_the_queued_ones) {
  static tu_dead dead;
  tu_dead_init(&dead);
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &dead));
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  tu_probe_hold(sys, a, &g_probe);
  for (uint64_t i = 0; i < 5; i++) ck_assert_ok(tu_send_u64(sys, a, MSG_VALUE, i));

  ck_assert_ok(acto_stop(sys, a));
  tu_sleep_ms(20);
  ck_assert_msg(tu_counter_get(&g_probe.terminated) == 0,
                "terminate ran while a message was still being handled");
  tu_gate_open(&g_probe.gate);

  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_int_eq(g_probe.term_reason, 0);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1); /* only the held message */
  ck_assert_dead_hook_reaches(&dead, ACTO_DEAD_CLOSED, 5);
  ck_assert_int_eq(tu_dead_matches(&dead, a, MSG_VALUE, ACTO_DEAD_CLOSED), 5);
  ck_assert_dead_stat(sys, ACTO_DEAD_CLOSED, 5);
  tu_shutdown(sys);
}
END_TEST

START_TEST(failing_handler_stops_the_actor_with_its_reason_and_counts_the_failure) {
  static tu_dead dead;
  tu_dead_init(&dead);
  tu_counter_init(&g_stop_terminated);
  acto_system *sys = tu_system(2);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &dead));
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &stopper, NULL, NULL, &a));
  char payload[24] = "the failing message";

  ck_assert_ok(acto_send(sys, a, MSG_FAIL, payload, sizeof payload));

  ck_assert_counter_reaches(&g_stop_terminated, 1);
  ck_assert_int_eq(atomic_load(&g_stop_reason), -77);
  ck_assert_becomes_dead(sys, a);
  ck_assert_rc(acto_send(sys, a, MSG_PING, NULL, 0), ACTO_ESTALE);
  ck_assert_dead_hook_reaches(&dead, ACTO_DEAD_FAILED, 1);
  ck_assert_int_eq(tu_dead_matches(&dead, a, MSG_FAIL, ACTO_DEAD_FAILED), 1);
  ck_assert_dead_stat(sys, ACTO_DEAD_FAILED, 1);
  ck_assert_stat_becomes(sys, actors_failed, 1);
  ck_assert_stat_becomes(sys, actors_live, 0);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_stop_terminated), 1);
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_stop_terminated), 1);
}
END_TEST

/* ---- refs ----------------------------------------------------------------- */

START_TEST(send_to_a_stopped_actor_returns_estale_and_counts_a_stale_dead_letter) {
  static tu_dead dead;
  tu_dead_init(&dead);
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &dead));
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  ck_assert_ok(acto_stop(sys, a));
  ck_assert_becomes_dead(sys, a);
  acto_stats before = tu_stats(sys);
  uint64_t v = 5;

  ck_assert_rc(acto_send(sys, a, MSG_VALUE, &v, sizeof v), ACTO_ESTALE);

  acto_stats after = tu_stats(sys);
  ck_assert_uint_eq(after.dead_letters[ACTO_DEAD_STALE], before.dead_letters[ACTO_DEAD_STALE] + 1);
  ck_assert_uint_eq(after.dead_letters_total, before.dead_letters_total + 1);
  ck_assert_dead_hook_reaches(&dead, ACTO_DEAD_STALE, 1);
  ck_assert_int_eq(tu_dead_matches(&dead, a, MSG_VALUE, ACTO_DEAD_STALE), 1);
  pthread_mutex_lock(&dead.mu);
  ck_assert_uint_eq(dead.log[dead.n - 1].size, sizeof v);
  pthread_mutex_unlock(&dead.mu);
  ck_assert_int_eq(tu_probe_count(&g_probe), 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(old_ref_never_reaches_a_newer_actor_even_in_a_reused_slot) {
  static tu_probe old_probe;
  tu_probe_init(&old_probe);
  tu_probe_init(&g_probe); /* every newer actor records here */
  acto_system *sys = tu_system(2);
  const int rounds = TU_N(200, 100, 100);

  acto_ref prev = tu_spawn_probe(sys, &old_probe, NULL);
  acto_ref first = prev;
  for (int i = 0; i < rounds; i++) {
    ck_assert_ok(acto_stop(sys, prev));
    ck_assert_becomes_dead(sys, prev);
    acto_ref next = tu_spawn_probe(sys, &g_probe, NULL);
    ck_assert_msg(!acto_ref_eq(next, prev), "round %d: new actor got the stopped actor's ref", i);
    ck_assert_msg(!acto_ref_eq(next, first), "round %d: new actor got the first actor's ref", i);
    ck_assert_rc(acto_send(sys, prev, MSG_VALUE, NULL, 0), ACTO_ESTALE);
    ck_assert_rc(acto_send(sys, first, MSG_VALUE, NULL, 0), ACTO_ESTALE);
    ck_assert_int_eq(acto_alive(sys, prev), 0);
    ck_assert_int_eq(acto_alive(sys, next), 1);
    prev = next;
  }
  /* The live actor is reachable through its own ref only. */
  ck_assert_ok(acto_send(sys, prev, MSG_PING, NULL, 0));
  ck_assert_probe_reaches(&g_probe, 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, MSG_PING);
  ck_assert_int_eq(tu_probe_count(&old_probe), 0);
  ck_assert_uint_eq(tu_stats(sys).dead_letters[ACTO_DEAD_STALE], 2u * (unsigned)rounds);
  tu_shutdown(sys);
}
END_TEST

/* A ref of one system, used with another system of the same process, is
 * refused by every call, even though the other system has a live actor in
 * the same slot with the same generation. */
static tu_probe g_other_probe;

static int linker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  acto_ref foreign;
  if (msg->type != MSG_VALUE || msg->size != sizeof foreign)
    return 0;
  memcpy(&foreign, msg->data, sizeof foreign);
  uint64_t mon = 0;
  /* Linking or monitoring a ref that is not ours delivers NOPROC. */
  TU_EXPECT_RC(acto_monitor(ctx, foreign, &mon), 0);
  return 0;
}
static tu_counter g_noproc_downs;
static int linker_down(acto_ctx *ctx, void *state, const acto_msg *msg) {
  if (msg->type == ACTO_MSG_DOWN) {
    acto_down d;
    TU_EXPECT(msg->size == sizeof d, "DOWN size %zu", msg->size);
    if (msg->size == sizeof d) {
      memcpy(&d, msg->data, sizeof d);
      TU_EXPECT(d.reason == ACTO_REASON_NOPROC, "DOWN reason %d", (int)d.reason);
      tu_counter_add(&g_noproc_downs, 1);
    }
    return 0;
  }
  return linker_handle(ctx, state, msg);
}
static const acto_behaviour watcher_b = {.name = "watcher", .handle = linker_down};

START_TEST(a_ref_of_another_system_is_refused_even_with_the_same_slot) {
  tu_probe_init(&g_probe);
  tu_probe_init(&g_other_probe);
  tu_counter_init(&g_noproc_downs);
  acto_system *a = tu_system(1);
  acto_system *b = tu_system(1);
  acto_ref ra = tu_spawn_probe(a, &g_probe, NULL);
  acto_ref rb = tu_spawn_probe(b, &g_other_probe, NULL);
  /* The same slot and generation: only the system's identity differs. */
  ck_assert_uint_eq(ra.id, rb.id);
  ck_assert_uint_ne(ra.node, rb.node);
  ck_assert_uint_ne((uint32_t)ra.node, 0);
  ck_assert_int_eq(acto_alive(b, ra), 0);
  ck_assert_int_eq(acto_alive(a, rb), 0);
  ck_assert_rc(acto_send(b, ra, MSG_VALUE, NULL, 0), ACTO_ESTALE);
  acto_reply_buf rep;
  ck_assert_rc(acto_ask(b, ra, MSG_VALUE, NULL, 0, 100, &rep), ACTO_ESTALE);
  ck_assert_rc(acto_stop(b, ra), ACTO_ESTALE);
  ck_assert_rc(acto_kill(b, ra), ACTO_ESTALE);
  ck_assert_rc(acto_exit(b, ra, -5), ACTO_ESTALE);
  ck_assert_rc(acto_send_after(b, ra, MSG_VALUE, NULL, 0, 0, NULL), ACTO_ESTALE);
  ck_assert_rc(acto_register(b, "x", ra), ACTO_ESTALE);
  /* A ref made by hand with node 0 is nobody's. */
  acto_ref bare = {rb.id, 0};
  ck_assert_int_eq(acto_alive(b, bare), 0);
  ck_assert_rc(acto_send(b, bare, MSG_VALUE, NULL, 0), ACTO_ESTALE);
  /* A monitor of a foreign ref fires at once with NOPROC. */
  acto_ref w;
  ck_assert_ok(acto_spawn(b, &watcher_b, NULL, NULL, &w));
  ck_assert_ok(acto_send(b, w, MSG_VALUE, &ra, sizeof ra));
  ck_assert(tu_counter_wait_ge(&g_noproc_downs, 1, TU_WAIT_MS));
  /* Nothing reached either probe; each still answers its own ref. */
  ck_assert_ok(acto_send(a, ra, MSG_PING, NULL, 0));
  ck_assert_ok(acto_send(b, rb, MSG_PING, NULL, 0));
  ck_assert_probe_reaches(&g_probe, 1);
  ck_assert_probe_reaches(&g_other_probe, 1);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, MSG_PING);
  ck_assert_uint_eq(tu_probe_rec(&g_other_probe, 0).type, MSG_PING);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- exclusive execution ------------------------------------------------- */

/* The counter's state is a plain long: if the actor ever ran on two threads
 * at once, increments would be lost and TSan would report the race.  The
 * busy flag catches the overlap directly in the plain build. */
typedef struct counter_state {
  long count;
} counter_state;

static atomic_int g_busy;
static atomic_int g_overlaps;
static long g_counter_total;
static tu_counter g_counter_done;
static tu_counter g_counter_report;
static atomic_long g_counter_reported;

static int counter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx;
  counter_state *s = state;
  if (atomic_exchange(&g_busy, 1) != 0) atomic_fetch_add(&g_overlaps, 1);
  if (msg->type == MSG_INC) {
    s->count++;
    if (s->count == g_counter_total) tu_counter_add(&g_counter_done, 1);
  } else if (msg->type == MSG_REPORT) {
    atomic_store(&g_counter_reported, s->count);
    tu_counter_add(&g_counter_report, 1);
  }
  atomic_store(&g_busy, 0);
  return 0;
}

static const acto_behaviour counter_behaviour = {
    .name = "counter", .state_size = sizeof(counter_state), .handle = counter_handle};

/* Each MSG_GO makes the relay send INC_PER_GO increments to its target. */
#define INC_PER_GO 50

static int relay_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  memcpy(state, arg, sizeof(acto_ref));
  return 0;
}

static int relay_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  acto_ref to;
  memcpy(&to, state, sizeof to);
  if (msg->type == MSG_GO) {
    for (int i = 0; i < INC_PER_GO; i++)
      TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), to, MSG_INC, NULL, 0));
  }
  return 0;
}

static const acto_behaviour relay = {
    .name = "relay", .state_size = sizeof(acto_ref), .init = relay_init, .handle = relay_handle};

typedef struct sender_thread_arg {
  acto_system *sys;
  acto_ref to;
  long n;
  uint32_t idx;
} sender_thread_arg;

static void *inc_thread(void *p) {
  sender_thread_arg *a = p;
  for (long i = 0; i < a->n; i++) TU_EXPECT_RC(acto_send(a->sys, a->to, MSG_INC, NULL, 0), 0);
  return NULL;
}

START_TEST(an_actor_never_runs_on_two_workers_at_once) {
  tu_counter_init(&g_counter_done);
  tu_counter_init(&g_counter_report);
  acto_system *sys = tu_system(4);
  enum { THREADS = 3, RELAYS = 4 };
  const long per_thread = TU_N(20000, 10000, 5000);
  const long gos_per_relay = TU_N(100, 50, 25);
  g_counter_total = THREADS * per_thread + RELAYS * gos_per_relay * INC_PER_GO;
  acto_ref counter = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &counter_behaviour, NULL, NULL, &counter));
  acto_ref relays[RELAYS];
  for (int i = 0; i < RELAYS; i++) ck_assert_ok(acto_spawn(sys, &relay, &counter, NULL, &relays[i]));

  pthread_t th[THREADS];
  sender_thread_arg args[THREADS];
  for (int i = 0; i < THREADS; i++) {
    args[i] = (sender_thread_arg){sys, counter, per_thread, (uint32_t)i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, inc_thread, &args[i]), 0);
  }
  for (long g = 0; g < gos_per_relay; g++)
    for (int i = 0; i < RELAYS; i++) ck_assert_ok(acto_send(sys, relays[i], MSG_GO, NULL, 0));
  for (int i = 0; i < THREADS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);

  ck_assert_counter_reaches(&g_counter_done, 1);
  ck_assert_ok(acto_send(sys, counter, MSG_REPORT, NULL, 0));
  ck_assert_counter_reaches(&g_counter_report, 1);
  ck_assert_int_eq(atomic_load(&g_counter_reported), g_counter_total);
  ck_assert_int_eq(atomic_load(&g_overlaps), 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- per-sender order ------------------------------------------------------ */

#define MAX_SENDERS 8

typedef struct seq_msg {
  uint32_t idx; /* which sender */
  uint32_t pad;
  uint64_t seq; /* 0, 1, 2, ... per sender */
} seq_msg;

typedef struct order_state {
  uint64_t next[MAX_SENDERS];
  long got;
} order_state;

static long g_order_total;
static tu_counter g_order_done;

static int order_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx;
  order_state *s = state;
  if (msg->type != MSG_DATA) return 0;
  seq_msg m;
  TU_EXPECT(msg->size == sizeof m, "size %zu", msg->size);
  memcpy(&m, msg->data, sizeof m);
  TU_EXPECT(m.idx < MAX_SENDERS, "sender index %u", m.idx);
  if (m.idx >= MAX_SENDERS) return 0;
  TU_EXPECT(m.seq == s->next[m.idx], "sender %u: got seq %" PRIu64 ", expected %" PRIu64, m.idx,
            m.seq, s->next[m.idx]);
  s->next[m.idx] = m.seq + 1;
  if (++s->got == g_order_total) tu_counter_add(&g_order_done, 1);
  return 0;
}

static const acto_behaviour order_checker = {
    .name = "order_checker", .state_size = sizeof(order_state), .handle = order_handle};

static void *seq_thread(void *p) {
  sender_thread_arg *a = p;
  for (long i = 0; i < a->n; i++) {
    seq_msg m = {a->idx, 0, (uint64_t)i};
    TU_EXPECT_RC(acto_send(a->sys, a->to, MSG_DATA, &m, sizeof m), 0);
  }
  return NULL;
}

START_TEST(messages_from_one_thread_arrive_in_send_order) {
  tu_counter_init(&g_order_done);
  acto_system *sys = tu_system(2);
  enum { THREADS = 4 };
  const long n = TU_N(20000, 10000, 5000);
  g_order_total = THREADS * n;
  acto_ref checker = ACTO_REF_NONE;
  acto_spawn_opts opts = {.capacity = 64}; /* senders block now and then */
  ck_assert_ok(acto_spawn(sys, &order_checker, NULL, &opts, &checker));

  pthread_t th[THREADS];
  sender_thread_arg args[THREADS];
  for (int i = 0; i < THREADS; i++) {
    args[i] = (sender_thread_arg){sys, checker, n, (uint32_t)i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, seq_thread, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);

  ck_assert_counter_reaches(&g_order_done, 1);
  tu_shutdown(sys);
}
END_TEST

/* A producer sends n sequenced messages in chunks; when a send parks, it
 * sends itself MSG_CONTINUE and returns, as acto_actor.h advises. */
#define CHUNK 64

typedef struct producer_state {
  acto_ref to;
  uint64_t next, n;
  uint32_t idx;
} producer_state;

static int producer_init(acto_ctx *ctx, void *state, const void *arg) {
  memcpy(state, arg, sizeof(producer_state));
  return acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_CONTINUE, NULL, 0);
}

static int producer_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  producer_state *s = state;
  acto_system *sys = acto_ctx_system(ctx);
  if (msg->type != MSG_CONTINUE) return 0;
  for (int i = 0; i < CHUNK && s->next < s->n; i++) {
    seq_msg m = {s->idx, 0, s->next};
    int rc = acto_send(sys, s->to, MSG_DATA, &m, sizeof m);
    TU_EXPECT_SENT(rc);
    if (rc < 0) return 0; /* stop producing; the test reports the count */
    s->next++;
    if (rc == ACTO_PARKED) break;
  }
  if (s->next < s->n) TU_EXPECT_SENT(acto_send(sys, acto_self(ctx), MSG_CONTINUE, NULL, 0));
  return 0;
}

static const acto_behaviour producer = {.name = "producer",
                                        .state_size = sizeof(producer_state),
                                        .init = producer_init,
                                        .handle = producer_handle};

START_TEST(messages_from_one_actor_arrive_in_send_order) {
  tu_counter_init(&g_order_done);
  acto_system *sys = tu_system(2);
  enum { PRODUCERS = 3 };
  const uint64_t n = TU_N(20000, 10000, 5000);
  g_order_total = PRODUCERS * (long)n;
  acto_ref checker = ACTO_REF_NONE;
  acto_spawn_opts opts = {.capacity = 16}; /* producers park now and then */
  ck_assert_ok(acto_spawn(sys, &order_checker, NULL, &opts, &checker));

  for (uint32_t i = 0; i < PRODUCERS; i++) {
    producer_state arg = {checker, 0, n, i};
    acto_ref p = ACTO_REF_NONE;
    ck_assert_ok(acto_spawn(sys, &producer, &arg, NULL, &p));
  }

  ck_assert_counter_reaches(&g_order_done, 1);
  tu_shutdown(sys);
}
END_TEST

/* ---- idle cost ----------------------------------------------------------- */

static tu_counter g_idle_handled;

static int idle_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  tu_counter_add(&g_idle_handled, 1);
  return 0;
}

static const acto_behaviour idle_behaviour = {.name = "idle", .handle = idle_handle};

static double cpu_seconds(void) {
  struct rusage ru;
  ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

START_TEST(ten_thousand_idle_actors_use_under_one_percent_of_a_core) {
#if TU_TSAN
  /* TSan's own background thread makes the measurement meaningless. */
  return;
#endif
  tu_counter_init(&g_idle_handled);
  acto_system *sys = tu_system(0);
  enum { ACTORS = 10000 };
  const long window_ms = TU_ASAN ? 2000 : 5000;
  for (int i = 0; i < ACTORS; i++) {
    acto_ref r = ACTO_REF_NONE;
    ck_assert_ok(acto_spawn(sys, &idle_behaviour, NULL, NULL, &r));
    ck_assert_ok(acto_send(sys, r, MSG_PING, NULL, 0)); /* each has run once */
  }
  ck_assert_counter_reaches(&g_idle_handled, ACTORS);
  ck_assert_uint_eq(tu_stats(sys).actors_live, ACTORS);
  tu_sleep_ms(200); /* let the workers go to sleep */

  double cpu0 = cpu_seconds();
  int64_t t0 = tu_now_ns();
  tu_sleep_ms(window_ms);
  double cpu = cpu_seconds() - cpu0;
  double wall = (double)(tu_now_ns() - t0) / 1e9;

  ck_assert_msg(cpu < 0.01 * wall, "idle system used %.4f s of CPU in %.2f s (%.2f%% of a core)",
                cpu, wall, 100.0 * cpu / wall);
  tu_shutdown(sys);
}
END_TEST

/* ---- spawn options --------------------------------------------------------- */

START_TEST(spawn_opts_set_the_name_capacity_byte_budget_and_policy) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(2);
  acto_spawn_opts opts = {
      .name = "opted", .capacity = 2, .max_bytes = 64, .overflow = ACTO_OVERFLOW_FAIL};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  char big[65] = {0};

  acto_ref found = ACTO_REF_NONE;
  ck_assert_ok(acto_lookup(sys, "opted", &found));
  ck_assert(acto_ref_eq(found, a));
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, big, sizeof big), ACTO_ETOOBIG);
  tu_probe_hold(sys, a, &g_probe);
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, big, 64)); /* 2 of 2, 64 of 64 bytes */
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, NULL, 0), ACTO_EFULL);
  tu_gate_open(&g_probe.gate);
  ck_assert_probe_reaches(&g_probe, 2);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 2);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 1).size, 64);
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("actor");
  TCase *tc = tu_tcase("lifecycle", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, spawn_runs_init_on_the_calling_thread_before_returning_with_zeroed_state,
               spawn_with_failing_init_returns_einit_and_never_calls_terminate,
               spawn_whose_init_answers_ignore_returns_eignored_and_no_actor_exists,
               message_sent_to_itself_from_init_is_handled_after_spawn,
               handler_sees_type_payload_and_no_sender_from_a_plain_thread,
               sender_is_the_sending_actor_and_self_is_the_running_actor,
               stop_self_runs_terminate_once_with_reason_zero_and_later_sends_are_stale,
               stop_from_a_plain_thread_runs_terminate_with_reason_zero,
               stop_from_another_actor_runs_terminate_with_reason_zero,
               stop_lets_the_current_message_finish_and_dead_letters_the_queued_ones,
               failing_handler_stops_the_actor_with_its_reason_and_counts_the_failure,
               spawn_opts_set_the_name_capacity_byte_budget_and_policy);
  suite_add_tcase(s, tc);

  tc = tu_tcase("refs", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, send_to_a_stopped_actor_returns_estale_and_counts_a_stale_dead_letter,
               old_ref_never_reaches_a_newer_actor_even_in_a_reused_slot,
               a_ref_of_another_system_is_refused_even_with_the_same_slot);
  suite_add_tcase(s, tc);

  tc = tu_tcase("concurrency", 60);
  tu_add_tests(tc, an_actor_never_runs_on_two_workers_at_once,
               messages_from_one_thread_arrive_in_send_order,
               messages_from_one_actor_arrive_in_send_order);
  suite_add_tcase(s, tc);

  tc = tu_tcase("idle", 60);
  tcase_add_test(tc, ten_thousand_idle_actors_use_under_one_percent_of_a_core);
  suite_add_tcase(s, tc);

  return tu_run(s);
}
