/* test_ask.c - request-reply: blocking acto_ask from plain threads,
 * acto_ask_async from actors (continuation or reply message), deadlines,
 * late replies, acto_reply's rules, targets that are gone, and the
 * lifecycle: every request gets exactly one answer (ENOREPLY, kept
 * requests answered when their keeper's incarnation ends, shutdown), every
 * accepted acto_ask_async exactly one outcome (ECANCELED when the asker
 * stops first), and no blocking call from a callback.
 */
#include "actor/clock.h"
#include "testutil.h"

enum {
  MSG_Q = 1,   /* a request: the echo replies MSG_Q + REPLY_OFFSET */
  MSG_START,   /* payload: the acto_ref to ask */
  MSG_PING,
  MSG_PLAIN,
  MSG_FAIL,    /* the keeper fails */
};
#define REPLY_OFFSET 100u

static tu_dead g_dead;

/* sys, with its dead letters recorded in g_dead. */
static acto_system *with_dead_hook(acto_system *sys) {
  tu_dead_init(&g_dead);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &g_dead));
  return sys;
}

static acto_system *setup_system(unsigned threads) { return with_dead_hook(tu_system(threads)); }

/* ---- targets -------------------------------------------------------------------- */

/* Replies with the request's type + REPLY_OFFSET and the payload, whose
 * first 8 bytes (a counter) are incremented. */
static int echo_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type != MSG_Q) return 0;
  unsigned char buf[8192];
  size_t n = msg->size < sizeof buf ? msg->size : sizeof buf;
  if (n) memcpy(buf, msg->data, n);
  if (n >= 8) {
    uint64_t v;
    memcpy(&v, buf, 8);
    v++;
    memcpy(buf, &v, 8);
  }
  TU_EXPECT_RC(acto_reply(ctx, msg->type + REPLY_OFFSET, n ? buf : NULL, n), 0);
  memset(buf, 0, n); /* the reply was copied */
  return 0;
}
static const acto_behaviour echo = {.name = "echo", .handle = echo_handle};

/* Keeps every request for a later answer (acto_reply_later) and answers
 * none by itself: the tokens are in g_kept for the test to answer.  Fails
 * on MSG_FAIL. */
#define MAX_KEPT 16
static acto_reply_token g_kept[MAX_KEPT];
static atomic_int g_nkept;
static tu_counter g_silent_got;
static int silent_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_FAIL)
    return -9;
  if (msg->flags & ACTO_MSG_FLAG_REQUEST) {
    int i = atomic_fetch_add(&g_nkept, 1);
    if (i < MAX_KEPT)
      TU_EXPECT_RC(acto_reply_later(ctx, &g_kept[i]), 0);
  }
  tu_counter_add(&g_silent_got, 1);
  return 0;
}
static const acto_behaviour silent = {.name = "silent", .handle = silent_handle};

/* Handles requests and returns without replying or keeping them. */
static int mute_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  return 0;
}
static const acto_behaviour mute = {.name = "mute", .handle = mute_handle};

/* Waits for g_gate (first request only), then replies like echo. */
static tu_gate g_gate;
static tu_counter g_gated_entered;
static tu_counter g_gated_replied;
static atomic_int g_gated_reply_rc = -999;

static int gated_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type != MSG_Q) return 0;
  tu_counter_add(&g_gated_entered, 1);
  TU_EXPECT(tu_gate_wait(&g_gate, TU_WAIT_MS), "gate never opened");
  uint64_t v = 0;
  if (msg->size >= 8) memcpy(&v, msg->data, 8);
  v++;
  atomic_store(&g_gated_reply_rc, acto_reply(ctx, msg->type + REPLY_OFFSET, &v, sizeof v));
  tu_counter_add(&g_gated_replied, 1);
  return 0;
}
static const acto_behaviour gated = {.name = "gated", .handle = gated_handle};

static acto_ref spawn(acto_system *sys, const acto_behaviour *b) {
  acto_ref r = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, b, NULL, NULL, &r));
  return r;
}

/* ---- blocking ask ---------------------------------------------------------------- */

START_TEST(ask_from_a_plain_thread_returns_the_reply_type_and_data) {
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);
  uint64_t v = 41;
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  ck_assert_ok(acto_ask(sys, e, MSG_Q, &v, sizeof v, TU_WAIT_MS, &rep));

  ck_assert_uint_eq(rep.type, MSG_Q + REPLY_OFFSET);
  ck_assert_uint_eq(rep.size, sizeof v);
  ck_assert_ptr_nonnull(rep.data);
  uint64_t got;
  memcpy(&got, rep.data, sizeof got);
  ck_assert_uint_eq(got, 42);
  acto_reply_release(&rep);

  /* A payload far above ACTO_INLINE_MAX, and an empty one, with no deadline. */
  static unsigned char big[5000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 13u);
  ck_assert_ok(acto_ask(sys, e, MSG_Q, big, sizeof big, -1, &rep));
  ck_assert_uint_eq(rep.size, sizeof big);
  ck_assert_int_eq(memcmp((unsigned char *)rep.data + 8, big + 8, sizeof big - 8), 0);
  acto_reply_release(&rep);
  ck_assert_ok(acto_ask(sys, e, MSG_Q, NULL, 0, -1, &rep));
  ck_assert_uint_eq(rep.type, MSG_Q + REPLY_OFFSET);
  ck_assert_uint_eq(rep.size, 0);
  acto_reply_release(&rep);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_to_a_target_that_never_replies_times_out_after_its_deadline) {
  tu_counter_init(&g_silent_got);
  atomic_store(&g_nkept, 0);
  acto_system *sys = setup_system(2);
  acto_ref s = spawn(sys, &silent);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  int64_t t0 = tu_now_ns();
  ck_assert_rc(acto_ask(sys, s, MSG_Q, NULL, 0, 100, &rep), ACTO_ETIMEDOUT);
  int64_t waited = (tu_now_ns() - t0) / 1000000;

  ck_assert_msg(waited >= 99, "gave up after %" PRId64 " ms, deadline was 100 ms", waited);
  ck_assert_msg(waited < TU_WAIT_MS, "waited %" PRId64 " ms for a 100 ms deadline", waited);
  /* The request was delivered, once: the deadline does not take it back,
   * and the target may not have had a CPU before the 100 ms were up. */
  ck_assert_counter_reaches(&g_silent_got, 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_silent_got), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(late_reply_to_a_blocking_ask_is_counted_and_never_delivered) {
  tu_gate_init(&g_gate);
  tu_counter_init(&g_gated_entered);
  tu_counter_init(&g_gated_replied);
  acto_system *sys = setup_system(2);
  acto_ref g = spawn(sys, &gated);
  uint64_t v = 1;
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  ck_assert_rc(acto_ask(sys, g, MSG_Q, &v, sizeof v, 50, &rep), ACTO_ETIMEDOUT);
  tu_gate_open(&g_gate);

  ck_assert_counter_reaches(&g_gated_replied, 1);
  ck_assert_rc(atomic_load(&g_gated_reply_rc), 0); /* the replier cannot know */
  ck_assert_dead_hook_reaches(&g_dead, ACTO_DEAD_LATE_REPLY, 1);
  pthread_mutex_lock(&g_dead.mu);
  ck_assert_uint_eq(g_dead.log[0].type, MSG_Q + REPLY_OFFSET);
  pthread_mutex_unlock(&g_dead.mu);
  ck_assert_dead_stat(sys, ACTO_DEAD_LATE_REPLY, 1);

  /* The next ask from this thread gets its own reply, not the late one. */
  v = 10;
  ck_assert_ok(acto_ask(sys, g, MSG_Q, &v, sizeof v, TU_WAIT_MS, &rep));
  uint64_t got;
  memcpy(&got, rep.data, sizeof got);
  ck_assert_uint_eq(got, 11);
  acto_reply_release(&rep);
  ck_assert_uint_eq(tu_stats(sys).dead_letters[ACTO_DEAD_LATE_REPLY], 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_to_a_stopped_actor_returns_estale) {
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);
  ck_assert_ok(acto_stop(sys, e));
  ck_assert_becomes_dead(sys, e);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  ck_assert_rc(acto_ask(sys, e, MSG_Q, NULL, 0, TU_WAIT_MS, &rep), ACTO_ESTALE);
  ck_assert_rc(acto_ask(sys, e, MSG_Q, NULL, 0, -1, &rep), ACTO_ESTALE);
  tu_shutdown(sys);
}
END_TEST

/* Stops itself on a request, without replying. */
static int quitter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_Q) TU_EXPECT_RC(acto_stop_self(ctx), 0);
  return 0;
}
static const acto_behaviour quitter = {.name = "quitter", .handle = quitter_handle};

/* Fails on a request, without replying. */
static int crasher_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state;
  return msg->type == MSG_Q ? -9 : 0;
}
static const acto_behaviour crasher = {.name = "crasher", .handle = crasher_handle};

START_TEST(ask_to_a_target_that_stops_without_replying_fails_before_its_deadline) {
  acto_system *sys = setup_system(2);
  acto_ref q = spawn(sys, &quitter);
  acto_ref c = spawn(sys, &crasher);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  int rc = acto_ask(sys, q, MSG_Q, NULL, 0, TU_SHORT_WAIT_MS, &rep);
  ck_assert_msg(rc == ACTO_ECLOSED || rc == ACTO_ESTALE,
                "ask to an actor that stopped: %d (%s), expected ACTO_ECLOSED", rc, tu_name(rc));
  rc = acto_ask(sys, c, MSG_Q, NULL, 0, TU_SHORT_WAIT_MS, &rep);
  ck_assert_msg(rc == ACTO_EFAILED || rc == ACTO_ECLOSED,
                "ask to an actor that failed: %d (%s), expected ACTO_EFAILED", rc, tu_name(rc));
  tu_shutdown(sys);
}
END_TEST

static atomic_int g_inner_ask_rc = -999;
static tu_counter g_inner_done;

static int inner_asker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type != MSG_START) return 0;
  acto_ref to;
  memcpy(&to, msg->data, sizeof to);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);
  atomic_store(&g_inner_ask_rc, acto_ask(acto_ctx_system(ctx), to, MSG_Q, NULL, 0, 100, &rep));
  tu_counter_add(&g_inner_done, 1);
  return 0;
}
static const acto_behaviour inner_asker = {.name = "inner_asker", .handle = inner_asker_handle};

START_TEST(blocking_ask_from_inside_a_handler_returns_edeadlk) {
  tu_counter_init(&g_inner_done);
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);
  acto_ref a = spawn(sys, &inner_asker);

  ck_assert_ok(acto_send(sys, a, MSG_START, &e, sizeof e));

  ck_assert_counter_reaches(&g_inner_done, 1);
  ck_assert_rc(atomic_load(&g_inner_ask_rc), ACTO_EDEADLK);
  tu_shutdown(sys);
}
END_TEST

typedef struct asker_thread {
  acto_system *sys;
  acto_ref to;
  uint64_t base;
  long n;
} asker_thread;

static void *ask_many(void *p) {
  asker_thread *a = p;
  for (long i = 0; i < a->n; i++) {
    uint64_t v = a->base + (uint64_t)i, got = 0;
    acto_reply_buf rep;
    memset(&rep, 0, sizeof rep);
    int rc = acto_ask(a->sys, a->to, MSG_Q, &v, sizeof v, TU_WAIT_MS, &rep);
    TU_EXPECT_RC(rc, 0);
    if (rc != 0) return NULL;
    if (rep.size == sizeof got) memcpy(&got, rep.data, sizeof got);
    TU_EXPECT(got == v + 1, "asked %" PRIu64 ", got the reply %" PRIu64, v, got);
    acto_reply_release(&rep);
  }
  return NULL;
}

START_TEST(concurrent_asks_from_many_threads_each_get_their_own_reply) {
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);
  enum { THREADS = 4 };
  const long n = TU_N(2000, 1000, 500);
  pthread_t th[THREADS];
  asker_thread args[THREADS];

  for (int i = 0; i < THREADS; i++) {
    args[i] = (asker_thread){sys, e, (uint64_t)i << 40, n};
    ck_assert_int_eq(pthread_create(&th[i], NULL, ask_many, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);

  tu_assert_no_expect_failures();
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- asynchronous ask ------------------------------------------------------------- */

/* The asking actor.  On MSG_START (payload: target ref) it asks with the
 * continuation on_reply (or none, if g_use_fn is 0) and g_timeout_ms;
 * MSG_PING counts that it keeps handling messages while the ask is
 * pending; any other message is recorded as a reply/timeout message. */
typedef struct asker_state {
  int busy;
  uint64_t ask_id;
} asker_state;

static int g_use_fn;
static int64_t g_timeout_ms;
static int g_user_token;

static atomic_int g_ask_rc = -999;
static _Atomic uint64_t g_ask_id;
static _Atomic(void *) g_asker_state;
static _Atomic uint64_t g_asker_id;
static tu_counter g_asked;
static tu_counter g_pings;

static tu_counter g_outcomes; /* continuation calls or reply/timeout messages */
static atomic_int g_out_status = -999;
static _Atomic uint32_t g_out_type;
static _Atomic uint64_t g_out_value;
static _Atomic uint64_t g_out_msg_ask_id;
static _Atomic uint64_t g_out_sender_id;
static atomic_int g_out_reply_null = -1;
static atomic_int g_out_bad_context;

static void on_reply(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  asker_state *s = state;
  if (s->busy || state != atomic_load(&g_asker_state) || user != &g_user_token ||
      acto_self(ctx).id != atomic_load(&g_asker_id))
    atomic_fetch_add(&g_out_bad_context, 1);
  atomic_store(&g_out_status, status);
  atomic_store(&g_out_reply_null, reply == NULL);
  if (reply) {
    uint64_t v = 0;
    if (reply->size >= 8) memcpy(&v, reply->data, 8);
    atomic_store(&g_out_type, reply->type);
    atomic_store(&g_out_value, v);
  }
  tu_counter_add(&g_outcomes, 1);
}

static int asker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  asker_state *s = state;
  s->busy = 1;
  if (msg->type == MSG_START) {
    acto_ref to;
    memcpy(&to, msg->data, sizeof to);
    atomic_store(&g_asker_state, state);
    atomic_store(&g_asker_id, acto_self(ctx).id);
    uint64_t v = 500, id = 0;
    int rc = acto_ask_async(ctx, to, MSG_Q, &v, sizeof v, g_timeout_ms,
                            g_use_fn ? on_reply : NULL, &g_user_token, &id);
    s->ask_id = id;
    atomic_store(&g_ask_id, id);
    atomic_store(&g_ask_rc, rc);
    tu_counter_add(&g_asked, 1);
  } else if (msg->type == MSG_PING) {
    tu_counter_add(&g_pings, 1);
  } else {
    uint64_t v = 0;
    if (msg->type == ACTO_MSG_ASK_FAILED && msg->size >= 4) {
      int32_t st;
      memcpy(&st, msg->data, 4);
      atomic_store(&g_out_status, st);
    } else if (msg->size >= 8) {
      memcpy(&v, msg->data, 8);
    }
    atomic_store(&g_out_type, msg->type);
    atomic_store(&g_out_value, v);
    atomic_store(&g_out_msg_ask_id, msg->ask_id);
    atomic_store(&g_out_sender_id, msg->sender.id);
    tu_counter_add(&g_outcomes, 1);
  }
  s->busy = 0;
  return 0;
}

static const acto_behaviour asker = {
    .name = "asker", .state_size = sizeof(asker_state), .handle = asker_handle};

static acto_ref start_asker(acto_system *sys, acto_ref target, int use_fn, int64_t timeout_ms) {
  g_use_fn = use_fn;
  g_timeout_ms = timeout_ms;
  tu_counter_init(&g_asked);
  tu_counter_init(&g_pings);
  tu_counter_init(&g_outcomes);
  acto_ref a = spawn(sys, &asker);
  ck_assert_ok(acto_send(sys, a, MSG_START, &target, sizeof target));
  ck_assert_counter_reaches(&g_asked, 1);
  return a;
}

static void init_gated(void) {
  tu_gate_init(&g_gate);
  tu_counter_init(&g_gated_entered);
  tu_counter_init(&g_gated_replied);
}

START_TEST(ask_async_runs_the_continuation_on_the_asking_actor_with_the_reply) {
  init_gated();
  acto_system *sys = setup_system(2);
  acto_ref g = spawn(sys, &gated);

  acto_ref a = start_asker(sys, g, 1, -1);

  ck_assert_rc(atomic_load(&g_ask_rc), 0);
  ck_assert_uint_ne(atomic_load(&g_ask_id), 0);
  /* While the reply is pending, the asker keeps handling messages. */
  ck_assert_counter_reaches(&g_gated_entered, 1);
  ck_assert_ok(acto_send(sys, a, MSG_PING, NULL, 0));
  ck_assert_counter_reaches(&g_pings, 1);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), 0);
  tu_gate_open(&g_gate);

  ck_assert_counter_reaches(&g_outcomes, 1);
  ck_assert_rc(atomic_load(&g_out_status), 0);
  ck_assert_int_eq(atomic_load(&g_out_reply_null), 0);
  ck_assert_uint_eq(atomic_load(&g_out_type), MSG_Q + REPLY_OFFSET);
  ck_assert_uint_eq(atomic_load(&g_out_value), 501);
  ck_assert_int_eq(atomic_load(&g_out_bad_context), 0);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_async_timeout_runs_the_continuation_once_and_the_late_reply_is_discarded) {
  init_gated();
  acto_system *sys = setup_system(2);
  acto_ref g = spawn(sys, &gated);

  start_asker(sys, g, 1, 50);

  ck_assert_rc(atomic_load(&g_ask_rc), 0);
  ck_assert_counter_reaches(&g_outcomes, 1);
  ck_assert_rc(atomic_load(&g_out_status), ACTO_ETIMEDOUT);
  ck_assert_int_eq(atomic_load(&g_out_reply_null), 1);
  ck_assert_int_eq(atomic_load(&g_out_bad_context), 0);
  tu_gate_open(&g_gate);
  ck_assert_counter_reaches(&g_gated_replied, 1);
  ck_assert_dead_hook_reaches(&g_dead, ACTO_DEAD_LATE_REPLY, 1);
  ck_assert_dead_stat(sys, ACTO_DEAD_LATE_REPLY, 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), 1);
  ck_assert_rc(atomic_load(&g_out_status), ACTO_ETIMEDOUT);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_async_without_continuation_delivers_the_reply_as_a_message_with_its_ask_id) {
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);

  start_asker(sys, e, 0, TU_WAIT_MS);

  ck_assert_rc(atomic_load(&g_ask_rc), 0);
  ck_assert_counter_reaches(&g_outcomes, 1);
  ck_assert_uint_ne(atomic_load(&g_ask_id), 0);
  ck_assert_uint_eq(atomic_load(&g_out_msg_ask_id), atomic_load(&g_ask_id));
  ck_assert_uint_eq(atomic_load(&g_out_type), MSG_Q + REPLY_OFFSET);
  ck_assert_uint_eq(atomic_load(&g_out_value), 501);
  ck_assert_uint_eq(atomic_load(&g_out_sender_id), e.id);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_async_without_continuation_delivers_a_timeout_message_with_its_ask_id) {
  init_gated();
  acto_system *sys = setup_system(2);
  acto_ref g = spawn(sys, &gated);

  start_asker(sys, g, 0, 50);

  ck_assert_rc(atomic_load(&g_ask_rc), 0);
  ck_assert_counter_reaches(&g_outcomes, 1);
  ck_assert_uint_eq(atomic_load(&g_out_type), ACTO_MSG_ASK_TIMEOUT);
  ck_assert_uint_ne(atomic_load(&g_ask_id), 0);
  ck_assert_uint_eq(atomic_load(&g_out_msg_ask_id), atomic_load(&g_ask_id));
  tu_gate_open(&g_gate);
  ck_assert_dead_hook_reaches(&g_dead, ACTO_DEAD_LATE_REPLY, 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), 1); /* the late reply is not delivered */
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_async_to_a_stopped_actor_fails_exactly_once) {
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);
  ck_assert_ok(acto_stop(sys, e));
  ck_assert_becomes_dead(sys, e);

  start_asker(sys, e, 1, -1);

  /* Refused at once (then no outcome), or accepted and failed once. */
  int rc = atomic_load(&g_ask_rc);
  if (rc == 0) {
    ck_assert_counter_reaches(&g_outcomes, 1);
    int st = atomic_load(&g_out_status);
    ck_assert_msg(st == ACTO_ESTALE || st == ACTO_ECLOSED, "status %d (%s)", st, tu_name(st));
    ck_assert_int_eq(atomic_load(&g_out_reply_null), 1);
  } else {
    ck_assert_rc(rc, ACTO_ESTALE);
  }
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), rc == 0 ? 1 : 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_async_to_a_target_that_stops_without_replying_reports_it_once) {
  acto_system *sys = setup_system(2);
  acto_ref q = spawn(sys, &quitter);

  start_asker(sys, q, 1, -1);

  ck_assert_rc(atomic_load(&g_ask_rc), 0);
  ck_assert_msg(tu_counter_wait_ge(&g_outcomes, 1, TU_SHORT_WAIT_MS),
                "the continuation never ran although the target stopped");
  int st = atomic_load(&g_out_status);
  ck_assert_msg(st == ACTO_ECLOSED || st == ACTO_ESTALE, "status %d (%s)", st, tu_name(st));
  ck_assert_int_eq(atomic_load(&g_out_reply_null), 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_outcomes), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_async_without_continuation_to_a_failing_target_delivers_ask_failed) {
  acto_system *sys = setup_system(2);
  acto_ref c = spawn(sys, &crasher);

  start_asker(sys, c, 0, -1);

  ck_assert_rc(atomic_load(&g_ask_rc), 0);
  ck_assert_counter_reaches(&g_outcomes, 1);
  ck_assert_uint_eq(atomic_load(&g_out_type), ACTO_MSG_ASK_FAILED);
  ck_assert_uint_eq(atomic_load(&g_out_msg_ask_id), atomic_load(&g_ask_id));
  ck_assert_rc(atomic_load(&g_out_status), ACTO_EFAILED);
  tu_shutdown(sys);
}
END_TEST

/* ---- acto_reply's rules ------------------------------------------------------------- */

static tu_counter g_rule_done;
static atomic_int g_reply_in_plain = -999;
static atomic_int g_reply_in_init = -999;
static atomic_int g_reply_first = -999;
static atomic_int g_reply_second = -999;

static int rules_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)state, (void)arg;
  atomic_store(&g_reply_in_init, acto_reply(ctx, MSG_PLAIN, NULL, 0));
  return 0;
}

static int rules_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_PLAIN) {
    atomic_store(&g_reply_in_plain, acto_reply(ctx, MSG_PLAIN, NULL, 0));
    tu_counter_add(&g_rule_done, 1);
  } else if (msg->type == MSG_Q) {
    uint64_t first = 1, second = 2;
    atomic_store(&g_reply_first, acto_reply(ctx, MSG_Q, &first, sizeof first));
    atomic_store(&g_reply_second, acto_reply(ctx, MSG_Q, &second, sizeof second));
    tu_counter_add(&g_rule_done, 1);
  }
  return 0;
}

static const acto_behaviour rules = {.name = "rules", .init = rules_init, .handle = rules_handle};

START_TEST(reply_to_a_message_that_is_not_a_request_returns_enotrequest) {
  tu_counter_init(&g_rule_done);
  acto_system *sys = setup_system(2);
  acto_ref r = spawn(sys, &rules);

  ck_assert_ok(acto_send(sys, r, MSG_PLAIN, NULL, 0));

  ck_assert_counter_reaches(&g_rule_done, 1);
  ck_assert_rc(atomic_load(&g_reply_in_plain), ACTO_ENOTREQUEST);
  ck_assert_rc(atomic_load(&g_reply_in_init), ACTO_ENOTREQUEST);
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(second_reply_to_a_request_returns_ealready_and_the_first_is_delivered) {
  tu_counter_init(&g_rule_done);
  acto_system *sys = setup_system(2);
  acto_ref r = spawn(sys, &rules);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  ck_assert_ok(acto_ask(sys, r, MSG_Q, NULL, 0, TU_WAIT_MS, &rep));

  ck_assert_counter_reaches(&g_rule_done, 1);
  ck_assert_rc(atomic_load(&g_reply_first), 0);
  ck_assert_rc(atomic_load(&g_reply_second), ACTO_EALREADY);
  uint64_t got = 0;
  ck_assert_uint_eq(rep.size, sizeof got);
  memcpy(&got, rep.data, sizeof got);
  ck_assert_uint_eq(got, 1);
  acto_reply_release(&rep);
  tu_shutdown(sys);
}
END_TEST

/* ---- the lifecycle: exactly one answer, at once ------------------------------------- */

typedef struct bg_ask {
  acto_system *sys;
  acto_ref to;
  int64_t timeout_ms;
  int rc;
  acto_reply_buf rep;
  pthread_t th;
} bg_ask;

static void *bg_ask_main(void *p) {
  bg_ask *b = p;
  memset(&b->rep, 0, sizeof b->rep);
  b->rc = acto_ask(b->sys, b->to, MSG_Q, NULL, 0, b->timeout_ms, &b->rep);
  return NULL;
}

/* Starts an ask on its own thread and waits until the keeper holds it. */
static void bg_ask_start(bg_ask *b, acto_system *sys, acto_ref to, int64_t timeout_ms, int nth) {
  b->sys = sys;
  b->to = to;
  b->timeout_ms = timeout_ms;
  b->rc = -999;
  ck_assert_int_eq(pthread_create(&b->th, NULL, bg_ask_main, b), 0);
  ck_assert_counter_reaches(&g_silent_got, nth);
}

static int bg_ask_join(bg_ask *b) {
  pthread_join(b->th, NULL);
  acto_reply_release(&b->rep);
  return b->rc;
}

static void init_keeper(void) {
  tu_counter_init(&g_silent_got);
  atomic_store(&g_nkept, 0);
  memset(g_kept, 0, sizeof g_kept);
}

START_TEST(a_request_handled_without_a_reply_is_answered_enoreply_at_once) {
  acto_system *sys = setup_system(2);
  acto_ref m = spawn(sys, &mute);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);
  /* No deadline: only the rule can end this wait. */
  ck_assert_rc(acto_ask(sys, m, MSG_Q, NULL, 0, -1, &rep), ACTO_ENOREPLY);
  ck_assert_rc(acto_ask(sys, m, MSG_Q, NULL, 0, TU_WAIT_MS, &rep), ACTO_ENOREPLY);
  ck_assert_uint_eq(tu_stats(sys).no_replies, 2);
  /* An actor's ask learns it the same way, once. */
  acto_ref a = start_asker(sys, m, 1, -1);
  (void)a;
  ck_assert_counter_reaches(&g_outcomes, 1);
  ck_assert_rc(atomic_load(&g_out_status), ACTO_ENOREPLY);
  ck_assert_uint_eq(tu_stats(sys).no_replies, 3);
  ck_assert_int_eq(acto_alive(sys, m), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_kept_request_is_answered_eclosed_when_its_keeper_stops) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  bg_ask b;
  bg_ask_start(&b, sys, k, -1, 1);
  ck_assert_ok(acto_stop(sys, k));
  ck_assert_rc(bg_ask_join(&b), ACTO_ECLOSED);
  /* Answered already: the token is spent. */
  ck_assert_rc(acto_reply_to(sys, &g_kept[0], 1, NULL, 0), ACTO_EALREADY);
  tu_shutdown(sys);
}
END_TEST

START_TEST(a_kept_request_is_answered_efailed_when_its_keeper_fails) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  bg_ask b;
  bg_ask_start(&b, sys, k, -1, 1);
  ck_assert_ok(acto_send(sys, k, MSG_FAIL, NULL, 0));
  ck_assert_rc(bg_ask_join(&b), ACTO_EFAILED);
  ck_assert_rc(acto_reply_to(sys, &g_kept[0], 1, NULL, 0), ACTO_EALREADY);
  tu_shutdown(sys);
}
END_TEST

/* A supervised keeper that fails is restarted only after a long backoff:
 * its askers learn of the failure at once, not after the restart. */
START_TEST(a_supervised_keeper_that_fails_answers_efailed_before_its_restart) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_child_spec cs = {.id = "keeper", .behaviour = &silent, .restart = ACTO_PERMANENT,
                        .name = "keeper"};
  acto_sup_spec sp = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000,
                      .backoff_min_ms = 600000, .backoff_max_ms = 600000,
                      .children = &cs, .nchildren = 1};
  acto_ref sup;
  ck_assert_ok(acto_supervisor_start(sys, &sp, NULL, &sup));
  acto_ref k;
  ck_assert_ok(acto_lookup(sys, "keeper", &k));
  bg_ask b;
  bg_ask_start(&b, sys, k, -1, 1);
  ck_assert_ok(acto_send(sys, k, MSG_FAIL, NULL, 0));
  ck_assert_rc(bg_ask_join(&b), ACTO_EFAILED);
  /* The answer did not wait for the restart: the supervisor learns of the
   * failure (maybe a moment after the asker did) and the child then waits
   * out its ten-minute backoff, not restarted yet. */
  acto_child_info ci;
  size_t n = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  do {
    ck_assert_ok(acto_supervisor_which_children(sys, sup, &ci, 1, &n, TU_WAIT_MS));
    ck_assert_uint_eq(n, 1);
  } while (ci.state != ACTO_CHILD_RESTARTING && tu_now_ms() < end && (tu_sleep_ms(2), 1));
  ck_assert_int_eq(ci.state, ACTO_CHILD_RESTARTING);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  tu_shutdown(sys);
}
END_TEST

START_TEST(reply_to_answers_once_and_a_second_answer_returns_ealready) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  bg_ask b;
  bg_ask_start(&b, sys, k, -1, 1);
  uint64_t v = 77;
  ck_assert_ok(acto_reply_to(sys, &g_kept[0], MSG_Q + REPLY_OFFSET, &v, sizeof v));
  pthread_join(b.th, NULL);
  ck_assert_rc(b.rc, 0);
  ck_assert_uint_eq(b.rep.type, MSG_Q + REPLY_OFFSET);
  ck_assert_uint_eq(b.rep.size, sizeof v);
  ck_assert_mem_eq(b.rep.data, &v, sizeof v);
  acto_reply_release(&b.rep);
  ck_assert_rc(acto_reply_to(sys, &g_kept[0], MSG_Q, &v, sizeof v), ACTO_EALREADY);
  /* A token nobody kept is refused the same way. */
  acto_reply_token forged = g_kept[0];
  forged.ask_id += 1000;
  ck_assert_rc(acto_reply_to(sys, &forged, MSG_Q, NULL, 0), ACTO_EALREADY);
  tu_shutdown(sys);
}
END_TEST

/* The use-after-free this prevents: shutdown returned and freed the system
 * while a thread still waited in acto_ask (ASan: heap-use-after-free). */
START_TEST(shutdown_answers_threads_blocked_in_ask_with_eclosed_and_waits_for_them) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  bg_ask b1, b2;
  /* One ask with a deadline, one without: a deadline that must not pass
   * before the shutdown, on a loaded machine too. */
  bg_ask_start(&b1, sys, k, TU_WAIT_MS, 1);
  bg_ask_start(&b2, sys, k, -1, 2);
  tu_shutdown(sys);
  ck_assert_rc(bg_ask_join(&b1), ACTO_ECLOSED);
  ck_assert_rc(bg_ask_join(&b2), ACTO_ECLOSED);
}
END_TEST

/* A reply token handed to a plain thread that never answers: shutdown
 * still answers the asker. */
START_TEST(shutdown_answers_an_ask_whose_token_left_its_keeper) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  bg_ask b;
  bg_ask_start(&b, sys, k, -1, 1);
  tu_shutdown(sys);
  ck_assert_rc(bg_ask_join(&b), ACTO_ECLOSED);
}
END_TEST

/* ---- no blocking call from a callback ----------------------------------------------- */

static atomic_int g_init_ask_self = -999, g_init_ask_other = -999, g_init_sup = -999,
                  g_init_sup_stop = -999, g_term_ask = -999;
static _Atomic uint64_t g_other_id, g_other_node;

static int blocker_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)state, (void)arg;
  acto_system *sys = acto_ctx_system(ctx);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);
  acto_ref other = {atomic_load(&g_other_id), atomic_load(&g_other_node)};
  atomic_store(&g_init_ask_self, acto_ask(sys, acto_self(ctx), MSG_Q, NULL, 0, -1, &rep));
  atomic_store(&g_init_ask_other, acto_ask(sys, other, MSG_Q, NULL, 0, -1, &rep));
  acto_child_counts kc;
  atomic_store(&g_init_sup, acto_supervisor_count_children(sys, other, &kc, -1));
  atomic_store(&g_init_sup_stop, acto_supervisor_stop(sys, other, -1));
  return 0;
}

static void blocker_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)state, (void)reason;
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);
  acto_ref other = {atomic_load(&g_other_id), atomic_load(&g_other_node)};
  atomic_store(&g_term_ask, acto_ask(acto_ctx_system(ctx), other, MSG_Q, NULL, 0, -1, &rep));
}

static const acto_behaviour blocker = {
    .name = "blocker", .init = blocker_init, .handle = mute_handle, .terminate = blocker_terminate};

START_TEST(blocking_calls_from_init_and_terminate_return_edeadlk) {
  acto_system *sys = setup_system(2);
  acto_ref e = spawn(sys, &echo);
  atomic_store(&g_other_id, e.id);
  atomic_store(&g_other_node, e.node);
  /* Spawned from a plain thread: init runs here, not on a worker. */
  acto_ref b = spawn(sys, &blocker);
  ck_assert_rc(atomic_load(&g_init_ask_self), ACTO_EDEADLK);
  ck_assert_rc(atomic_load(&g_init_ask_other), ACTO_EDEADLK);
  ck_assert_rc(atomic_load(&g_init_sup), ACTO_EDEADLK);
  ck_assert_rc(atomic_load(&g_init_sup_stop), ACTO_EDEADLK);
  ck_assert_ok(acto_stop(sys, b));
  ck_assert_becomes_dead(sys, b);
  ck_assert_rc(atomic_load(&g_term_ask), ACTO_EDEADLK);
  tu_shutdown(sys);
}
END_TEST

/* ---- acto_ask_async: refused, or exactly one outcome -------------------------------- */

static tu_counter g_cancel_outcomes;
static atomic_int g_cancel_status = -999;
static atomic_int g_cancel_state_seen = -999;
static char g_order[64];
static atomic_int g_order_n;

static void order_add(char c) {
  int i = atomic_fetch_add(&g_order_n, 1);
  if (i < (int)sizeof g_order - 1)
    g_order[i] = c;
}

static void on_cancel(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)ctx, (void)reply, (void)user;
  atomic_store(&g_cancel_status, status);
  atomic_store(&g_cancel_state_seen, *(int *)state);
  order_add('c');
  tu_counter_add(&g_cancel_outcomes, 1);
}

static atomic_int g_term_async_rc = -999;

/* init asks the target (arg) and fails if the arg says so; MSG_START asks
 * the target again; terminate tries to ask. */
typedef struct pend_arg {
  acto_ref target;
  int fail_init;
} pend_arg;

static int pend_init(acto_ctx *ctx, void *state, const void *arg) {
  const pend_arg *pa = arg;
  *(int *)state = 7;
  if (pa) {
    TU_EXPECT_RC(acto_ask_async(ctx, pa->target, MSG_Q, NULL, 0, -1, on_cancel, NULL, NULL), 0);
    if (pa->fail_init)
      return -1;
  }
  return 0;
}

static int pend_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  if (msg->type == MSG_START && msg->size == sizeof(acto_ref)) {
    acto_ref to;
    memcpy(&to, msg->data, sizeof to);
    *(int *)state = 42;
    TU_EXPECT_RC(acto_ask_async(ctx, to, MSG_Q, NULL, 0, -1, on_cancel, NULL, NULL), 0);
    tu_counter_add(&g_asked, 1);
  } else if (msg->type == MSG_FAIL) {
    return -5;
  }
  return 0;
}

static void pend_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)state, (void)reason;
  order_add('t');
  acto_ref to = {atomic_load(&g_other_id), atomic_load(&g_other_node)};
  atomic_store(&g_term_async_rc, acto_ask_async(ctx, to, MSG_Q, NULL, 0, -1, on_cancel, NULL, NULL));
}

static const acto_behaviour pend = {.name = "pend", .state_size = sizeof(int), .init = pend_init,
                                    .handle = pend_handle, .terminate = pend_terminate};

static void init_cancel(void) {
  init_keeper();
  tu_counter_init(&g_cancel_outcomes);
  tu_counter_init(&g_asked);
  atomic_store(&g_cancel_status, -999);
  atomic_store(&g_cancel_state_seen, -999);
  atomic_store(&g_term_async_rc, -999);
  memset(g_order, 0, sizeof g_order);
  atomic_store(&g_order_n, 0);
}

START_TEST(pending_asks_of_a_stopping_actor_run_their_continuation_once_with_ecanceled) {
  init_cancel();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  atomic_store(&g_other_id, k.id);
  atomic_store(&g_other_node, k.node);
  acto_ref p = spawn(sys, &pend);
  ck_assert_ok(acto_send(sys, p, MSG_START, &k, sizeof k));
  ck_assert_counter_reaches(&g_silent_got, 1);
  ck_assert_ok(acto_stop(sys, p));
  ck_assert_becomes_dead(sys, p);
  ck_assert_int_eq(tu_counter_get(&g_cancel_outcomes), 1);
  ck_assert_rc(atomic_load(&g_cancel_status), ACTO_ECANCELED);
  ck_assert_int_eq(atomic_load(&g_cancel_state_seen), 42); /* on the intact state */
  /* Before terminate; and terminate's own ask is refused, not lost. */
  ck_assert_str_eq(g_order, "ct");
  ck_assert_rc(atomic_load(&g_term_async_rc), ACTO_ECLOSED);
  /* The answer that comes later finds its asker gone, and runs nothing. */
  ck_assert_ok(acto_reply_to(sys, &g_kept[0], MSG_Q, NULL, 0));
  ck_assert_dead_stat(sys, ACTO_DEAD_LATE_REPLY, 1);
  ck_assert_int_eq(tu_counter_get(&g_cancel_outcomes), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(an_ask_made_by_an_init_that_fails_gets_its_outcome_once) {
  init_cancel();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  atomic_store(&g_other_id, k.id);
  atomic_store(&g_other_node, k.node);
  pend_arg pa = {k, 1};
  acto_ref p;
  ck_assert_rc(acto_spawn(sys, &pend, &pa, NULL, &p), ACTO_EINIT);
  /* By the time acto_spawn returns, the continuation has run. */
  ck_assert_int_eq(tu_counter_get(&g_cancel_outcomes), 1);
  ck_assert_rc(atomic_load(&g_cancel_status), ACTO_ECANCELED);
  ck_assert_int_eq(atomic_load(&g_cancel_state_seen), 7);
  ck_assert_str_eq(g_order, "c"); /* no terminate after a failed init */
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_cancel_outcomes), 1);
}
END_TEST

START_TEST(a_restart_in_place_cancels_the_old_incarnations_asks) {
  init_cancel();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  atomic_store(&g_other_id, k.id);
  atomic_store(&g_other_node, k.node);
  acto_child_spec cs = {.id = "p", .behaviour = &pend, .restart = ACTO_PERMANENT, .name = "p"};
  acto_sup_spec sp = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000,
                      .children = &cs, .nchildren = 1};
  acto_ref sup, p;
  ck_assert_ok(acto_supervisor_start(sys, &sp, NULL, &sup));
  ck_assert_ok(acto_lookup(sys, "p", &p));
  ck_assert_ok(acto_send(sys, p, MSG_START, &k, sizeof k));
  ck_assert_counter_reaches(&g_silent_got, 1);
  ck_assert_ok(acto_send(sys, p, MSG_FAIL, NULL, 0));
  ck_assert_counter_reaches(&g_cancel_outcomes, 1);
  ck_assert_rc(atomic_load(&g_cancel_status), ACTO_ECANCELED);
  ck_assert_int_eq(atomic_load(&g_cancel_state_seen), 42); /* the old state */
  /* The restarted actor is the same ref; the old answer is late. */
  ck_assert_ok(acto_reply_to(sys, &g_kept[0], MSG_Q, NULL, 0));
  ck_assert_dead_stat(sys, ACTO_DEAD_LATE_REPLY, 1);
  ck_assert_int_eq(tu_counter_get(&g_cancel_outcomes), 1);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  tu_shutdown(sys);
}
END_TEST

/* ---- deadlines ---------------------------------------------------------------------- */

/* INT64_MAX is as good as no deadline: the ask waits for its answer. */
START_TEST(ask_deadlines_near_int64_max_saturate_instead_of_expiring) {
  init_keeper();
  acto_system *sys = setup_system(2);
  acto_ref k = spawn(sys, &silent);
  bg_ask b;
  bg_ask_start(&b, sys, k, INT64_MAX, 1);
  bg_ask b2;
  bg_ask_start(&b2, sys, k, INT64_MAX - 1, 2);
  uint64_t v = 1;
  ck_assert_ok(acto_reply_to(sys, &g_kept[0], MSG_Q, &v, sizeof v));
  ck_assert_ok(acto_reply_to(sys, &g_kept[1], MSG_Q, &v, sizeof v));
  ck_assert_rc(bg_ask_join(&b), 0);
  ck_assert_rc(bg_ask_join(&b2), 0);
  ck_assert_uint_eq(acto__deadline_after(1000, INT64_MAX), ACTO__NEVER);
  ck_assert_uint_eq(acto__deadline_after(UINT64_MAX - 5, 1), ACTO__NEVER);
  ck_assert_uint_eq(acto__deadline_after(1000, -1), ACTO__NEVER);
  ck_assert_uint_eq(acto__deadline_after(1000, 2), 2001000u);
  tu_shutdown(sys);
}
END_TEST

START_TEST(negative_deadlines_other_than_minus_one_are_einval) {
  acto_system *sys = setup_system(1);
  acto_ref e = spawn(sys, &echo);
  acto_reply_buf rep;
  ck_assert_rc(acto_ask(sys, e, MSG_Q, NULL, 0, -2, &rep), ACTO_EINVAL);
  ck_assert_rc(acto_ask(sys, e, MSG_Q, NULL, 0, INT64_MIN, &rep), ACTO_EINVAL);
  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  o.deadline_ms = -5;
  ck_assert_rc(acto_send_ex(sys, e, MSG_PLAIN, NULL, 0, &o), ACTO_EINVAL);
  ck_assert_rc(acto_supervisor_stop(sys, e, -5), ACTO_EINVAL);
  acto_child_counts kc;
  ck_assert_rc(acto_supervisor_count_children(sys, e, &kc, -5), ACTO_EINVAL);
  o.deadline_ms = -1;
  ck_assert_ok(acto_send_ex(sys, e, MSG_PLAIN, NULL, 0, &o));
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- deterministic mode ------------------------------------------------------------- */

static acto_system *det_sys(void) { return with_dead_hook(tu_det_system(5)); }

START_TEST(deterministic_ask_deadlines_are_virtual) {
  init_keeper();
  acto_system *sys = det_sys();
  acto_ref k = spawn(sys, &silent);
  /* A timer far away keeps the run alive: the deadline can pass. */
  acto_timer t;
  ck_assert_ok(acto_send_after(sys, k, MSG_PLAIN, NULL, 0, 3600 * 1000, &t));
  int64_t v0 = acto_now_ms(sys), t0 = tu_now_ms();
  acto_reply_buf rep;
  ck_assert_rc(acto_ask(sys, k, MSG_Q, NULL, 0, 60000, &rep), ACTO_ETIMEDOUT);
  ck_assert_int_eq(acto_now_ms(sys) - v0, 60000);
  /* No real minute went by (the old code waited it out). */
  ck_assert_int_lt(tu_now_ms() - t0, 30000);
  ck_assert_ok(acto_timer_cancel(sys, t));
  tu_shutdown(sys);
}
END_TEST

START_TEST(deterministic_ask_that_nothing_can_answer_returns_edeadlk) {
  init_keeper();
  acto_system *sys = det_sys();
  acto_ref k = spawn(sys, &silent);
  acto_reply_buf rep;
  ck_assert_rc(acto_ask(sys, k, MSG_Q, NULL, 0, -1, &rep), ACTO_EDEADLK);
  ck_assert_rc(acto_ask(sys, k, MSG_Q, NULL, 0, 5000, &rep), ACTO_EDEADLK);
  ck_assert_int_eq(tu_counter_get(&g_silent_got), 2);
  /* What can be answered still is. */
  acto_ref e = spawn(sys, &echo);
  ck_assert_ok(acto_ask(sys, e, MSG_Q, NULL, 0, -1, &rep));
  acto_reply_release(&rep);
  tu_shutdown(sys);
}
END_TEST

/* ---- deadlines: one sweep timer per asking actor ------------------------------------ */

/* An actor's asks share one armed "sweep" for the earliest deadline
 * (actor/ask.c, "Deadlines").  What must hold whatever the timer does:
 * each accepted ask gets exactly one outcome, and a timeout comes at or
 * after its deadline, never before.  The planner below makes the asks a
 * test lays out in g_plan and records every outcome, with the virtual
 * time it ran at, in g_outs. */

enum { ACT_NONE, ACT_FAIL, ACT_ASK_THEN_FAIL };
#define PLAN_MAX 16
#define PLAN_EXTRA 4 /* asks made by an ACT_ASK_THEN_FAIL outcome: indices PLAN_MAX.. */
#define OUT_MAX 64

typedef struct plan_ask {
  int64_t timeout_ms;
  int use_fn;  /* 0: message form (the outcome arrives in handle) */
  int action;  /* what its timeout does: nothing, fail the actor, ask more then fail */
} plan_ask;

typedef struct outcome_rec {
  int idx;          /* the plan index of the ask */
  int status;       /* 0, ACTO_ETIMEDOUT, ACTO_ECANCELED, ... */
  uint32_t type;    /* the reply's or the message's type (0: none) */
  uint64_t ask_id;  /* message form: msg->ask_id */
  int64_t at_ms;    /* acto_now_ms when it ran */
} outcome_rec;

static acto_ref g_plan_target;
static plan_ask g_plan[PLAN_MAX];
static uint64_t g_plan_id[PLAN_MAX + PLAN_EXTRA];
static int64_t g_plan_due[PLAN_MAX + PLAN_EXTRA]; /* acto_now_ms when asked + timeout */
static outcome_rec g_outs[OUT_MAX];
static atomic_int g_nouts;

static void init_plan(void) {
  init_keeper();
  g_plan_target = ACTO_REF_NONE;
  memset(g_plan, 0, sizeof g_plan);
  memset(g_plan_id, 0, sizeof g_plan_id);
  memset(g_plan_due, 0, sizeof g_plan_due);
  memset(g_outs, 0, sizeof g_outs);
  atomic_store(&g_nouts, 0);
}

static void plan_set(int i, int64_t timeout_ms, int use_fn, int action) {
  g_plan[i].timeout_ms = timeout_ms;
  g_plan[i].use_fn = use_fn;
  g_plan[i].action = action;
}

static void plan_record(acto_ctx *ctx, int idx, int status, uint32_t type, uint64_t ask_id) {
  int i = atomic_fetch_add(&g_nouts, 1);
  TU_EXPECT(i < OUT_MAX, "more than %d outcomes", OUT_MAX);
  if (i >= OUT_MAX) return;
  g_outs[i] = (outcome_rec){idx, status, type, ask_id, acto_now_ms(acto_ctx_system(ctx))};
}

static void plan_on_outcome(acto_ctx *ctx, void *state, int status, const acto_msg *reply,
                            void *user);

static void plan_ask_one(acto_ctx *ctx, int i, int64_t timeout_ms, int use_fn) {
  g_plan_due[i] = acto_now_ms(acto_ctx_system(ctx)) + timeout_ms;
  TU_EXPECT_RC(acto_ask_async(ctx, g_plan_target, MSG_Q, NULL, 0, timeout_ms,
                              use_fn ? plan_on_outcome : NULL, (void *)(intptr_t)i, &g_plan_id[i]),
               0);
}

/* What the timeout of ask idx does next: a negative return fails the actor. */
static int plan_act(acto_ctx *ctx, int idx) {
  if (idx >= PLAN_MAX) return 0;
  switch (g_plan[idx].action) {
  case ACT_FAIL:
    return -5;
  case ACT_ASK_THEN_FAIL:
    for (int k = 0; k < PLAN_EXTRA; k++)
      plan_ask_one(ctx, PLAN_MAX + k, 1000, 1);
    return -5;
  default:
    return 0;
  }
}

static void plan_on_outcome(acto_ctx *ctx, void *state, int status, const acto_msg *reply,
                            void *user) {
  (void)state;
  int idx = (int)(intptr_t)user;
  TU_EXPECT((status == 0) == (reply != NULL), "status %d with reply %p", status, (void *)reply);
  plan_record(ctx, idx, status, reply ? reply->type : 0, 0);
  if (status == ACTO_ETIMEDOUT) {
    int r = plan_act(ctx, idx);
    if (r < 0) TU_EXPECT_RC(acto_exit_self(ctx, r), 0);
  }
}

static int plan_index(uint64_t ask_id) {
  for (int i = 0; i < PLAN_MAX + PLAN_EXTRA; i++)
    if (g_plan_id[i] == ask_id) return i;
  return -1;
}

/* MSG_START (payload: int first, count) makes the asks g_plan[first ..
 * first + count); MSG_FAIL fails; a message with an ask_id is an outcome. */
static int planner_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->ask_id != 0) {
    int idx = plan_index(msg->ask_id);
    TU_EXPECT(idx >= 0, "an outcome for unknown ask %" PRIu64, msg->ask_id);
    int32_t st = 0;
    if (msg->type == ACTO_MSG_ASK_TIMEOUT) {
      st = ACTO_ETIMEDOUT;
    } else if (msg->type == ACTO_MSG_ASK_FAILED) {
      TU_EXPECT(msg->size == sizeof st, "ASK_FAILED of %zu bytes", msg->size);
      if (msg->size == sizeof st) memcpy(&st, msg->data, sizeof st);
    }
    plan_record(ctx, idx, st, msg->type, msg->ask_id);
    return st == ACTO_ETIMEDOUT ? plan_act(ctx, idx) : 0;
  }
  if (msg->type == MSG_START && msg->size == 2 * sizeof(int)) {
    int fc[2];
    memcpy(fc, msg->data, sizeof fc);
    for (int i = fc[0]; i < fc[0] + fc[1]; i++)
      plan_ask_one(ctx, i, g_plan[i].timeout_ms, g_plan[i].use_fn);
  } else if (msg->type == MSG_FAIL) {
    return -5;
  }
  return 0;
}
static const acto_behaviour planner = {.name = "planner", .handle = planner_handle};

static void start_plan(acto_system *sys, acto_ref p, int first, int count) {
  int fc[2] = {first, count};
  ck_assert_ok(acto_send(sys, p, MSG_START, fc, sizeof fc));
}

/* The outcomes recorded for ask idx, and the last of them in *out. */
static int outcomes_of(int idx, outcome_rec *out) {
  int n = 0;
  int total = atomic_load(&g_nouts);
  for (int i = 0; i < total && i < OUT_MAX; i++) {
    if (g_outs[i].idx == idx) {
      n++;
      if (out) *out = g_outs[i];
    }
  }
  return n;
}

/* Runs a deterministic system for ms of virtual time. */
static void det_run(acto_system *sys, int64_t ms) {
  int64_t n = acto_system_run(sys, ms);
  ck_assert_msg(n >= 0, "acto_system_run returned %" PRId64 " (%s)", n, tu_name((int)n));
}

START_TEST(deterministic_asks_time_out_in_deadline_order_each_at_its_deadline) {
  init_plan();
  acto_system *sys = det_sys();
  g_plan_target = spawn(sys, &silent);
  /* Not in deadline order, and two with the same deadline. */
  plan_set(0, 300, 1, ACT_NONE);
  plan_set(1, 100, 1, ACT_NONE);
  plan_set(2, 200, 1, ACT_NONE);
  plan_set(3, 100, 1, ACT_NONE);
  acto_ref p = spawn(sys, &planner);
  int64_t t0 = acto_now_ms(sys);
  start_plan(sys, p, 0, 4);
  tu_quiesce(sys); /* until no timer is left: nothing more can come */

  ck_assert_int_eq(tu_counter_get(&g_silent_got), 4);
  ck_assert_int_eq(atomic_load(&g_nouts), 4);
  static const int want[] = {1, 3, 2, 0}; /* deadline order, ties in ask order */
  for (int i = 0; i < 4; i++) {
    outcome_rec r = g_outs[i];
    ck_assert_int_eq(r.idx, want[i]);
    ck_assert_rc(r.status, ACTO_ETIMEDOUT);
    ck_assert_int_eq(g_plan_due[r.idx], t0 + g_plan[r.idx].timeout_ms);
    /* Never before its deadline; and in deterministic mode the clock
     * jumps to the sweep, which is armed for exactly the earliest
     * deadline left: each runs at its deadline, not at a later sweep's. */
    ck_assert_int_ge(r.at_ms, g_plan_due[r.idx]);
    ck_assert_int_eq(r.at_ms, g_plan_due[r.idx]);
  }
  /* Answers that come now are late: counted, and they run nothing. */
  for (int i = 0; i < 4; i++)
    ck_assert_ok(acto_reply_to(sys, &g_kept[i], MSG_Q, NULL, 0));
  tu_quiesce(sys);
  ck_assert_dead_stat(sys, ACTO_DEAD_LATE_REPLY, 4);
  ck_assert_int_eq(atomic_load(&g_nouts), 4);
  tu_shutdown(sys);
}
END_TEST

START_TEST(deterministic_a_shorter_ask_after_a_long_one_times_out_at_its_own_deadline) {
  init_plan();
  acto_system *sys = det_sys();
  g_plan_target = spawn(sys, &silent);
  plan_set(0, 10000, 1, ACT_NONE);
  plan_set(1, 50, 1, ACT_NONE);
  acto_ref p = spawn(sys, &planner);
  int64_t t0 = acto_now_ms(sys);
  start_plan(sys, p, 0, 2);
  det_run(sys, 1000);

  /* The short one re-armed the sweep: it timed out at 50 ms, not at 10 s. */
  ck_assert_int_eq(atomic_load(&g_nouts), 1);
  outcome_rec r;
  ck_assert_int_eq(outcomes_of(1, &r), 1);
  ck_assert_rc(r.status, ACTO_ETIMEDOUT);
  ck_assert_int_eq(r.at_ms, t0 + 50);
  ck_assert_int_eq(outcomes_of(0, NULL), 0); /* the long one still waits */

  /* Its reply arrives, and the sweep still armed for 10 s fires later for
   * nothing. */
  ck_assert_int_eq(atomic_load(&g_nkept), 2);
  ck_assert_ok(acto_reply_to(sys, &g_kept[0], MSG_Q + REPLY_OFFSET, NULL, 0));
  tu_quiesce(sys);
  ck_assert_int_ge(acto_now_ms(sys), t0 + 1000);
  ck_assert_int_eq(atomic_load(&g_nouts), 2);
  ck_assert_int_eq(outcomes_of(0, &r), 1);
  ck_assert_rc(r.status, 0);
  ck_assert_uint_eq(r.type, MSG_Q + REPLY_OFFSET);
  ck_assert_int_eq(r.at_ms, t0 + 1000);
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(deterministic_timeout_messages_and_continuations_each_get_their_own_ask_id) {
  init_plan();
  acto_system *sys = det_sys();
  g_plan_target = spawn(sys, &silent);
  plan_set(0, 100, 0, ACT_NONE);  /* message */
  plan_set(1, 150, 1, ACT_NONE);  /* continuation */
  plan_set(2, 50, 0, ACT_NONE);   /* message */
  plan_set(3, 100, 1, ACT_NONE);  /* continuation, same deadline as 0 */
  plan_set(4, 1000, 0, ACT_NONE); /* message, answered at 500 ms */
  acto_ref p = spawn(sys, &planner);
  int64_t t0 = acto_now_ms(sys);
  start_plan(sys, p, 0, 5);
  det_run(sys, 500);
  ck_assert_int_eq(atomic_load(&g_nkept), 5);
  ck_assert_ok(acto_reply_to(sys, &g_kept[4], MSG_Q + REPLY_OFFSET, NULL, 0));
  tu_quiesce(sys);

  ck_assert_int_eq(atomic_load(&g_nouts), 5);
  static const int want[] = {2, 0, 3, 1, 4};
  for (int i = 0; i < 5; i++) {
    outcome_rec r = g_outs[i];
    int idx = want[i];
    ck_assert_int_eq(r.idx, idx);
    ck_assert_int_eq(outcomes_of(idx, NULL), 1);
    if (idx == 4) { /* the reply, as a message with its ask id */
      ck_assert_rc(r.status, 0);
      ck_assert_uint_eq(r.type, MSG_Q + REPLY_OFFSET);
      ck_assert_uint_eq(r.ask_id, g_plan_id[4]);
      ck_assert_int_eq(r.at_ms, t0 + 500);
      continue;
    }
    ck_assert_rc(r.status, ACTO_ETIMEDOUT);
    ck_assert_int_eq(r.at_ms, g_plan_due[idx]);
    if (g_plan[idx].use_fn) {
      ck_assert_uint_eq(r.type, 0);
    } else {
      ck_assert_uint_eq(r.type, ACTO_MSG_ASK_TIMEOUT);
      ck_assert_uint_ne(r.ask_id, 0);
      ck_assert_uint_eq(r.ask_id, g_plan_id[idx]);
    }
  }
  ck_assert_uint_ne(g_plan_id[0], g_plan_id[2]);
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 0);
  tu_shutdown(sys);
}
END_TEST

/* Two asks expire in one sweep; the first one's outcome fails the actor:
 * the second is not reported as timed out, it is cancelled - its
 * continuation runs once, with ACTO_ECANCELED - as is the ask whose
 * deadline had not come. */
static void check_fail_mid_sweep(int first_use_fn) {
  init_plan();
  acto_system *sys = det_sys();
  g_plan_target = spawn(sys, &silent);
  plan_set(0, 100, first_use_fn, ACT_FAIL);
  plan_set(1, 100, 1, ACT_NONE);
  plan_set(2, 500, 1, ACT_NONE);
  acto_ref p = spawn(sys, &planner);
  int64_t t0 = acto_now_ms(sys);
  start_plan(sys, p, 0, 3);
  tu_quiesce(sys);
  ck_assert_becomes_dead(sys, p);

  ck_assert_int_eq(atomic_load(&g_nouts), 3);
  outcome_rec r = g_outs[0];
  ck_assert_int_eq(r.idx, 0);
  ck_assert_rc(r.status, ACTO_ETIMEDOUT);
  ck_assert_uint_eq(r.type, first_use_fn ? 0 : ACTO_MSG_ASK_TIMEOUT);
  ck_assert_int_eq(r.at_ms, t0 + 100);
  for (int idx = 1; idx <= 2; idx++) {
    ck_assert_int_eq(outcomes_of(idx, &r), 1);
    ck_assert_rc(r.status, ACTO_ECANCELED);
    ck_assert_int_eq(r.at_ms, t0 + 100); /* as the actor failed, not later */
  }
  ck_assert_uint_eq(tu_stats(sys).actors_failed, 1);
  tu_shutdown(sys);
  ck_assert_int_eq(atomic_load(&g_nouts), 3);
}

START_TEST(a_continuation_that_fails_its_actor_mid_sweep_leaves_the_other_asks_cancelled_once) {
  check_fail_mid_sweep(1);
}
END_TEST

START_TEST(a_timeout_message_whose_handler_fails_mid_sweep_leaves_the_other_asks_cancelled_once) {
  check_fail_mid_sweep(0);
}
END_TEST

/* Four asks (the table's first allocation holds four) expire in one
 * sweep; the first one's continuation asks four times more, then fails
 * the actor.  The three expired asks not yet reported go back to the
 * table next to the four new ones: each of the seven is cancelled once
 * (and the table must have grown to hold them - ASan's check). */
START_TEST(an_outcome_that_asks_again_then_fails_mid_sweep_cancels_every_other_ask_once) {
  init_plan();
  acto_system *sys = det_sys();
  g_plan_target = spawn(sys, &silent);
  plan_set(0, 100, 1, ACT_ASK_THEN_FAIL);
  for (int i = 1; i < 4; i++) plan_set(i, 100, 1, ACT_NONE);
  acto_ref p = spawn(sys, &planner);
  int64_t t0 = acto_now_ms(sys);
  start_plan(sys, p, 0, 4);
  tu_quiesce(sys);
  ck_assert_becomes_dead(sys, p);

  ck_assert_int_eq(atomic_load(&g_nouts), 1 + 3 + PLAN_EXTRA);
  outcome_rec r = g_outs[0];
  ck_assert_int_eq(r.idx, 0);
  ck_assert_rc(r.status, ACTO_ETIMEDOUT);
  ck_assert_int_eq(r.at_ms, t0 + 100);
  for (int idx = 1; idx < PLAN_MAX + PLAN_EXTRA; idx++) {
    if (idx >= 4 && idx < PLAN_MAX) continue;
    ck_assert_msg(outcomes_of(idx, &r) == 1, "ask %d has %d outcomes", idx, outcomes_of(idx, NULL));
    ck_assert_rc(r.status, ACTO_ECANCELED);
  }
  tu_shutdown(sys);
  ck_assert_int_eq(atomic_load(&g_nouts), 1 + 3 + PLAN_EXTRA);
}
END_TEST

/* A restart in place, then a stop, while a sweep is armed: the old ask
 * ends once (cancelled), and the new incarnation's ask, whose deadline is
 * after the old sweep's, times out at its own deadline, not at the old
 * sweep's. */
START_TEST(deterministic_restart_or_stop_with_a_sweep_armed_delivers_each_outcome_once) {
  init_plan();
  acto_system *sys = det_sys();
  g_plan_target = spawn(sys, &silent);
  plan_set(0, 100, 1, ACT_NONE); /* the first incarnation's */
  plan_set(1, 200, 1, ACT_NONE); /* the second's, asked at 50 ms: due at 250 */
  plan_set(2, 100, 1, ACT_NONE); /* the second's, asked at 300: the stop comes first */
  acto_child_spec cs = {.id = "p", .behaviour = &planner, .restart = ACTO_PERMANENT, .name = "p"};
  acto_sup_spec sp = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 5, .period_ms = 60000,
                      .children = &cs, .nchildren = 1};
  acto_ref sup, p;
  ck_assert_ok(acto_supervisor_start(sys, &sp, NULL, &sup));
  ck_assert_ok(acto_lookup(sys, "p", &p));
  int64_t t0 = acto_now_ms(sys);
  start_plan(sys, p, 0, 1);
  det_run(sys, 50);
  ck_assert_int_eq(acto_now_ms(sys), t0 + 50);
  ck_assert_ok(acto_send(sys, p, MSG_FAIL, NULL, 0));
  det_run(sys, 0);
  outcome_rec r;
  ck_assert_int_eq(outcomes_of(0, &r), 1);
  ck_assert_rc(r.status, ACTO_ECANCELED);
  ck_assert_int_eq(r.at_ms, t0 + 50);

  acto_ref p2;
  ck_assert_ok(acto_lookup(sys, "p", &p2));
  ck_assert(acto_ref_eq(p, p2)); /* in place: the same ref */
  start_plan(sys, p, 1, 1);
  det_run(sys, 250);
  ck_assert_int_eq(atomic_load(&g_nouts), 2);
  ck_assert_int_eq(outcomes_of(1, &r), 1);
  ck_assert_rc(r.status, ACTO_ETIMEDOUT);
  ck_assert_int_ge(r.at_ms, g_plan_due[1]);
  ck_assert_int_eq(g_plan_due[1], t0 + 250);
  ck_assert_int_eq(r.at_ms, t0 + 250);
  ck_assert_int_eq(outcomes_of(0, NULL), 1);

  /* A stop before the sweep for ask 2 fires: cancelled once; the timer
   * that fires after finds no one to time out. */
  start_plan(sys, p, 2, 1);
  det_run(sys, 50);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  ck_assert_becomes_dead(sys, p);
  det_run(sys, 1000);
  ck_assert_int_eq(atomic_load(&g_nouts), 3);
  ck_assert_int_eq(outcomes_of(2, &r), 1);
  ck_assert_rc(r.status, ACTO_ECANCELED);
  ck_assert_int_lt(r.at_ms, g_plan_due[2]);
  ck_assert_int_eq(outcomes_of(0, NULL), 1);
  ck_assert_int_eq(outcomes_of(1, NULL), 1);
  tu_shutdown(sys);
}
END_TEST

/* As a client does: each continuation makes the next ask.  Two clients,
 * 1,000 asks each, answered at once, 5 s deadlines: every reply arrives
 * (to the ask it answers), none times out, none is late. */
#define CHAIN_N 1000
typedef struct chain_state {
  acto_ref target;
  uint64_t n; /* replies so far */
} chain_state;
static tu_counter g_chain_replies;
static tu_counter g_chain_other;
static atomic_int g_chain_status = 0;

static void chain_ask(acto_ctx *ctx, chain_state *st);

static void on_chain(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)user;
  chain_state *st = state;
  uint64_t v = 0;
  if (status == 0 && reply->type == MSG_Q + REPLY_OFFSET && reply->size == sizeof v)
    memcpy(&v, reply->data, sizeof v);
  if (status != 0 || v != st->n + 1) { /* echo answers n + 1 to the ask that sent n */
    atomic_store(&g_chain_status, status ? status : -1);
    tu_counter_add(&g_chain_other, 1);
    return;
  }
  st->n++;
  tu_counter_add(&g_chain_replies, 1);
  if (st->n < CHAIN_N) chain_ask(ctx, st);
}

static void chain_ask(acto_ctx *ctx, chain_state *st) {
  uint64_t v = st->n;
  TU_EXPECT_RC(acto_ask_async(ctx, st->target, MSG_Q, &v, sizeof v, 5000, on_chain, NULL, NULL), 0);
}

static int chain_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  chain_state *st = state;
  if (msg->type == MSG_START && msg->size == sizeof(acto_ref)) {
    memcpy(&st->target, msg->data, sizeof st->target);
    chain_ask(ctx, st);
  }
  return 0;
}
static const acto_behaviour chain = {.name = "chain", .state_size = sizeof(chain_state),
                                     .handle = chain_handle};

START_TEST(chained_asks_answered_promptly_never_time_out) {
  tu_counter_init(&g_chain_replies);
  tu_counter_init(&g_chain_other);
  atomic_store(&g_chain_status, 0);
  acto_system *sys = setup_system(2);
  acto_ref e1 = spawn(sys, &echo), e2 = spawn(sys, &echo);
  acto_ref c1 = spawn(sys, &chain), c2 = spawn(sys, &chain);
  ck_assert_ok(acto_send(sys, c1, MSG_START, &e1, sizeof e1));
  ck_assert_ok(acto_send(sys, c2, MSG_START, &e2, sizeof e2));
  ck_assert_counter_progresses_to(&g_chain_replies, 2 * CHAIN_N);
  ck_assert_int_eq(tu_counter_get(&g_chain_other), 0);
  ck_assert_rc(atomic_load(&g_chain_status), 0);
  /* Nothing pending: a stop with the sweep still armed cancels nothing. */
  ck_assert_ok(acto_stop(sys, c1));
  ck_assert_ok(acto_stop(sys, c2));
  ck_assert_becomes_dead(sys, c1);
  ck_assert_becomes_dead(sys, c2);
  ck_assert_int_eq(tu_counter_get(&g_chain_replies), 2 * CHAIN_N);
  ck_assert_int_eq(tu_counter_get(&g_chain_other), 0);
  ck_assert_uint_eq(tu_stats(sys).dead_letters_total, 0);
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ask");
  TCase *tc = tu_tcase("blocking", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, ask_from_a_plain_thread_returns_the_reply_type_and_data,
               ask_to_a_target_that_never_replies_times_out_after_its_deadline,
               late_reply_to_a_blocking_ask_is_counted_and_never_delivered,
               ask_to_a_stopped_actor_returns_estale,
               ask_to_a_target_that_stops_without_replying_fails_before_its_deadline,
               blocking_ask_from_inside_a_handler_returns_edeadlk,
               concurrent_asks_from_many_threads_each_get_their_own_reply);
  suite_add_tcase(s, tc);

  tc = tu_tcase("async", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, ask_async_runs_the_continuation_on_the_asking_actor_with_the_reply,
               ask_async_timeout_runs_the_continuation_once_and_the_late_reply_is_discarded,
               ask_async_without_continuation_delivers_the_reply_as_a_message_with_its_ask_id,
               ask_async_without_continuation_delivers_a_timeout_message_with_its_ask_id,
               ask_async_to_a_stopped_actor_fails_exactly_once,
               ask_async_to_a_target_that_stops_without_replying_reports_it_once,
               ask_async_without_continuation_to_a_failing_target_delivers_ask_failed);
  suite_add_tcase(s, tc);

  tc = tu_tcase("reply", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, reply_to_a_message_that_is_not_a_request_returns_enotrequest,
               second_reply_to_a_request_returns_ealready_and_the_first_is_delivered);
  suite_add_tcase(s, tc);

  tc = tu_tcase("lifecycle", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, a_request_handled_without_a_reply_is_answered_enoreply_at_once,
               a_kept_request_is_answered_eclosed_when_its_keeper_stops,
               a_kept_request_is_answered_efailed_when_its_keeper_fails,
               a_supervised_keeper_that_fails_answers_efailed_before_its_restart,
               reply_to_answers_once_and_a_second_answer_returns_ealready,
               shutdown_answers_threads_blocked_in_ask_with_eclosed_and_waits_for_them,
               shutdown_answers_an_ask_whose_token_left_its_keeper,
               blocking_calls_from_init_and_terminate_return_edeadlk,
               pending_asks_of_a_stopping_actor_run_their_continuation_once_with_ecanceled,
               an_ask_made_by_an_init_that_fails_gets_its_outcome_once,
               a_restart_in_place_cancels_the_old_incarnations_asks,
               ask_deadlines_near_int64_max_saturate_instead_of_expiring,
               negative_deadlines_other_than_minus_one_are_einval,
               deterministic_ask_deadlines_are_virtual,
               deterministic_ask_that_nothing_can_answer_returns_edeadlk);
  suite_add_tcase(s, tc);

  tc = tu_tcase("sweep", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, deterministic_asks_time_out_in_deadline_order_each_at_its_deadline,
               deterministic_a_shorter_ask_after_a_long_one_times_out_at_its_own_deadline,
               deterministic_timeout_messages_and_continuations_each_get_their_own_ask_id,
               a_continuation_that_fails_its_actor_mid_sweep_leaves_the_other_asks_cancelled_once,
               a_timeout_message_whose_handler_fails_mid_sweep_leaves_the_other_asks_cancelled_once,
               an_outcome_that_asks_again_then_fails_mid_sweep_cancels_every_other_ask_once,
               deterministic_restart_or_stop_with_a_sweep_armed_delivers_each_outcome_once,
               chained_asks_answered_promptly_never_time_out);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
