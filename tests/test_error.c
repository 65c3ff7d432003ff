/* test_error.c - error codes and argument checking: the one error table
 * (acto_strerror, acto_err_name), every public call refusing bad input with
 * a code instead of crashing, calls made from the wrong thread, limits,
 * and what shutdown guarantees.
 */
#include "testutil.h"

enum { MSG_VALUE = 1, MSG_TRY = 2 };

static tu_probe g_probe;

/* ---- the error table ----------------------------------------------------------- */

typedef struct code_row {
  int value;
  const char *name;
  const char *message;
} code_row;

static const code_row k_codes[] = {
#define ROW(name, val, msg) {val, "ACTO_" #name, msg},
    ACTO_ERRNO_MAP(ROW)
#undef ROW
};
enum { NCODES = sizeof k_codes / sizeof k_codes[0] };
_Static_assert(NCODES == -ACTO_ERRNO_MIN - 1, "ACTO_ERRNO_MIN is one below the last code");

START_TEST(every_error_code_has_its_own_name_and_message) {
  for (int i = 0; i < NCODES; i++) {
    const char *name = acto_err_name(k_codes[i].value);
    const char *msg = acto_strerror(k_codes[i].value);
    ck_assert_ptr_nonnull(name);
    ck_assert_ptr_nonnull(msg);
    ck_assert_str_eq(name, k_codes[i].name);
    ck_assert_str_eq(msg, k_codes[i].message);
    /* Numbered -1, -2, ... without a gap, in table order, as ACTORS.md's
     * table lists them: a client in another language can map them. */
    ck_assert_int_eq(k_codes[i].value, -(i + 1));
    ck_assert_int_gt(k_codes[i].value, ACTO_ERRNO_MIN);
    for (int j = 0; j < i; j++) {
      ck_assert_int_ne(k_codes[i].value, k_codes[j].value);
      ck_assert_str_ne(name, acto_err_name(k_codes[j].value));
      ck_assert_str_ne(msg, acto_strerror(k_codes[j].value));
    }
  }
}
END_TEST

#ifndef ACTO_SOURCE_DIR
#define ACTO_SOURCE_DIR "."
#endif

/* ACTORS.md's table of codes is the list, row for row: a client written
 * from the guide maps the numbers it reads to the same names. */
START_TEST(the_guide_lists_every_code_with_its_value_and_message) {
  FILE *f = fopen(ACTO_SOURCE_DIR "/ACTORS.md", "r");
  ck_assert_msg(f != NULL, "cannot open %s/ACTORS.md", ACTO_SOURCE_DIR);
  static char text[1 << 20];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  ck_assert_uint_lt(n, sizeof text - 1);
  text[n] = 0;
  for (int i = 0; i < NCODES; i++) {
    char row[256];
    snprintf(row, sizeof row, "| `%s` | %d | %s |\n", k_codes[i].name, k_codes[i].value,
             k_codes[i].message);
    const char *at = strstr(text, row);
    ck_assert_msg(at != NULL, "ACTORS.md has no row %s", row);
    ck_assert_msg(strstr(at + 1, row) == NULL, "ACTORS.md lists %s twice", k_codes[i].name);
  }
}
END_TEST

START_TEST(unknown_codes_get_a_generic_text_and_zero_is_not_an_error) {
  const int unknown[] = {ACTO_ERRNO_MIN, -1000, 2, 12345, -2147483647 - 1, 2147483647};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *msg = acto_strerror(unknown[i]);
    const char *name = acto_err_name(unknown[i]);
    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_gt((int)strlen(msg), 0);
    ck_assert_int_gt((int)strlen(name), 0);
    for (int j = 0; j < NCODES; j++) { /* not mistaken for a real code */
      ck_assert_str_ne(msg, k_codes[j].message);
      ck_assert_str_ne(name, k_codes[j].name);
    }
  }
  ck_assert_ptr_nonnull(acto_strerror(ACTO_OK));
  ck_assert_ptr_nonnull(acto_err_name(ACTO_OK));
  for (int j = 0; j < NCODES; j++) ck_assert_str_ne(acto_strerror(ACTO_OK), k_codes[j].message);
}
END_TEST

/* ---- argument checking ------------------------------------------------------------- */

START_TEST(system_calls_reject_null_arguments) {
  ck_assert_rc(acto_system_create(NULL, NULL), ACTO_EINVAL);
  acto_config cfg = {.threads = 1};
  ck_assert_rc(acto_system_create(&cfg, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_system_shutdown(NULL), ACTO_EINVAL);
  acto_stats st;
  ck_assert_rc(acto_get_stats(NULL, &st), ACTO_EINVAL);
  ck_assert_rc(acto_set_dead_letter_hook(NULL, tu_dead_hook, NULL), ACTO_EINVAL);

  acto_system *sys = tu_system(1);
  ck_assert_rc(acto_get_stats(sys, NULL), ACTO_EINVAL);
  ck_assert_ok(acto_set_dead_letter_hook(sys, NULL, NULL)); /* removing: fine */
  tu_shutdown(sys);
}
END_TEST

static int noop_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  return 0;
}
static const acto_behaviour noop = {.name = "noop", .handle = noop_handle};

START_TEST(spawn_rejects_bad_arguments) {
  acto_system *sys = tu_system(1);
  acto_ref r = ACTO_REF_NONE;
  acto_behaviour no_handle = {.name = "no_handle"};

  ck_assert_rc(acto_spawn(NULL, &noop, NULL, NULL, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn(sys, NULL, NULL, NULL, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn(sys, &noop, NULL, NULL, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_spawn(sys, &no_handle, NULL, NULL, &r), ACTO_EINVAL);
  acto_spawn_opts too_big = {.capacity = ACTO_MAILBOX_MAX_CAPACITY + 1};
  ck_assert_rc(acto_spawn(sys, &noop, NULL, &too_big, &r), ACTO_EINVAL);
  acto_spawn_opts bad_policy = {.overflow = (acto_overflow)7};
  ck_assert_rc(acto_spawn(sys, &noop, NULL, &bad_policy, &r), ACTO_EINVAL);
  bad_policy.overflow = (acto_overflow)-1;
  ck_assert_rc(acto_spawn(sys, &noop, NULL, &bad_policy, &r), ACTO_EINVAL);

  ck_assert_uint_eq(tu_stats(sys).actors_live, 0);
  ck_assert_uint_eq(tu_stats(sys).actors_spawned, 0);
  acto_behaviour no_state = {.name = "no_state", .handle = noop_handle}; /* state_size 0 */
  ck_assert_ok(acto_spawn(sys, &no_state, NULL, NULL, &r));
  tu_shutdown(sys);
}
END_TEST

START_TEST(send_rejects_bad_arguments) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(1);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  char small[16] = {0};
  acto_send_opts so = {.deadline_ms = -1};

  ck_assert_rc(acto_send(NULL, a, MSG_VALUE, small, sizeof small), ACTO_EINVAL);
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, NULL, 8), ACTO_EINVAL);
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, NULL, 8, &so), ACTO_EINVAL);
  ck_assert_rc(acto_send(sys, a, ACTO_MSG_RESERVED, NULL, 0), ACTO_EINVAL);
  ck_assert_rc(acto_send(sys, a, ACTO_MSG_ASK_TIMEOUT, NULL, 0), ACTO_EINVAL);
  ck_assert_rc(acto_send(sys, a, 0xFFFFFFFFu, NULL, 0), ACTO_EINVAL);
  /* The size is checked before the payload is read: small is 16 bytes. */
  int rc = acto_send(sys, a, MSG_VALUE, small, ACTO_MSG_MAX_SIZE + 1);
  ck_assert_msg(rc == ACTO_EINVAL || rc == ACTO_ETOOBIG, "oversized send: %d (%s)", rc,
                tu_name(rc));
  rc = acto_send(sys, a, MSG_VALUE, small, SIZE_MAX);
  ck_assert_msg(rc == ACTO_EINVAL || rc == ACTO_ETOOBIG, "SIZE_MAX send: %d (%s)", rc,
                tu_name(rc));
  rc = acto_send(sys, ACTO_REF_NONE, MSG_VALUE, NULL, 0);
  ck_assert_msg(rc == ACTO_ESTALE || rc == ACTO_EINVAL, "send to ACTO_REF_NONE: %d (%s)", rc,
                tu_name(rc));
  acto_ref forged = {a.id ^ 0x5a5a5a5a00000000ull, 0};
  ck_assert_rc(acto_send(sys, forged, MSG_VALUE, NULL, 0), ACTO_ESTALE);
  acto_ref other_node = {a.id, 77};
  rc = acto_send(sys, other_node, MSG_VALUE, NULL, 0);
  ck_assert_msg(rc < 0, "send to an unknown node succeeded: %d", rc);

  /* Zero size is fine with or without data. */
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, small, 0));
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, NULL, 0));
  ck_assert_probe_reaches(&g_probe, 2);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 2); /* nothing else got through */
  tu_shutdown(sys);
}
END_TEST

START_TEST(stop_alive_and_registry_reject_bad_arguments) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(1);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref out = ACTO_REF_NONE;

  ck_assert_rc(acto_stop(NULL, a), ACTO_EINVAL);
  int rc = acto_stop(sys, ACTO_REF_NONE);
  ck_assert_msg(rc == ACTO_ESTALE || rc == ACTO_EINVAL, "stop of ACTO_REF_NONE: %d (%s)", rc,
                tu_name(rc));
  ck_assert_int_le(acto_alive(NULL, a), 0);
  ck_assert_int_eq(acto_alive(sys, ACTO_REF_NONE), 0);
  ck_assert_rc(acto_register(NULL, "x", a), ACTO_EINVAL);
  ck_assert_rc(acto_unregister(NULL, "x"), ACTO_EINVAL);
  ck_assert_rc(acto_lookup(NULL, "x", &out), ACTO_EINVAL);
  ck_assert_ok(acto_register(sys, "x", a));
  ck_assert_rc(acto_lookup(sys, "x", NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto_alive(sys, a), 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(ask_and_timers_reject_bad_arguments) {
  tu_probe_init(&g_probe);
  acto_system *sys = tu_system(1);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);
  acto_timer t = 0;

  ck_assert_rc(acto_ask(NULL, a, MSG_VALUE, NULL, 0, 10, &rep), ACTO_EINVAL);
  ck_assert_rc(acto_ask(sys, a, MSG_VALUE, NULL, 0, 10, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_ask(sys, a, MSG_VALUE, NULL, 8, 10, &rep), ACTO_EINVAL);
  ck_assert_rc(acto_ask(sys, a, ACTO_MSG_RESERVED, NULL, 0, 10, &rep), ACTO_EINVAL);
  ck_assert_rc(acto_ask(sys, a, MSG_VALUE, NULL, 0, -2, &rep), ACTO_EINVAL);
  acto_reply_release(NULL); /* must not crash */

  ck_assert_rc(acto_send_after(NULL, a, MSG_VALUE, NULL, 0, 10, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_after(sys, a, MSG_VALUE, NULL, 0, -1, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_after(sys, a, MSG_VALUE, NULL, 8, 10, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_after(sys, a, ACTO_MSG_RESERVED, NULL, 0, 10, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_periodic(NULL, a, MSG_VALUE, NULL, 0, 0, 10, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_periodic(sys, a, MSG_VALUE, NULL, 0, 0, 0, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_periodic(sys, a, MSG_VALUE, NULL, 0, 0, -5, &t), ACTO_EINVAL);
  ck_assert_rc(acto_send_periodic(sys, a, MSG_VALUE, NULL, 0, -1, 10, &t), ACTO_EINVAL);
  ck_assert_rc(acto_timer_cancel(NULL, t), ACTO_EINVAL);

  tu_sleep_ms(30);
  ck_assert_int_eq(tu_probe_count(&g_probe), 0); /* nothing was sent */
  tu_shutdown(sys);
}
END_TEST

/* Context-only calls made with a NULL ctx. */
START_TEST(context_calls_reject_a_null_context) {
  uint64_t id = 0;
  ck_assert_rc(acto_stop_self(NULL), ACTO_EINVAL);
  ck_assert_rc(acto_reply(NULL, MSG_VALUE, NULL, 0), ACTO_EINVAL);
  ck_assert_rc(acto_ask_async(NULL, ACTO_REF_NONE, MSG_VALUE, NULL, 0, 10, NULL, NULL, &id),
               ACTO_EINVAL);
  ck_assert(acto_ref_is_none(acto_self(NULL)));
  ck_assert(acto_ref_is_none(acto_sender(NULL)));
  ck_assert_ptr_null(acto_ctx_system(NULL));
}
END_TEST

/* Calls made inside a handler, with bad arguments or from the wrong place. */
static tu_counter g_tried;
static int g_try_rc[16];

static void nop_reply_fn(acto_ctx *ctx, void *state, int status, const acto_msg *reply,
                         void *user) {
  (void)ctx, (void)state, (void)status, (void)reply, (void)user;
}

static int trying_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type != MSG_TRY) return 0;
  acto_system *sys = acto_ctx_system(ctx);
  acto_ref self = acto_self(ctx);
  uint64_t id = 0;
  int i = 0;
  g_try_rc[i++] = acto_system_shutdown(sys);
  g_try_rc[i++] = acto_ask_async(ctx, self, MSG_VALUE, NULL, 0, 0, nop_reply_fn, NULL, &id);
  g_try_rc[i++] = acto_ask_async(ctx, self, MSG_VALUE, NULL, 0, -2, nop_reply_fn, NULL, &id);
  g_try_rc[i++] = acto_ask_async(ctx, self, MSG_VALUE, NULL, 8, 10, nop_reply_fn, NULL, &id);
  g_try_rc[i++] =
      acto_ask_async(ctx, self, ACTO_MSG_RESERVED, NULL, 0, 10, nop_reply_fn, NULL, &id);
  g_try_rc[i++] = acto_reply(ctx, ACTO_MSG_RESERVED, NULL, 0);
  g_try_rc[i++] = acto_reply(ctx, MSG_VALUE, NULL, 8);
  tu_counter_add(&g_tried, 1);
  return 0;
}

static const acto_behaviour trying = {.name = "trying", .handle = trying_handle};

START_TEST(calls_from_inside_an_actor_are_checked_too) {
  tu_counter_init(&g_tried);
  acto_system *sys = tu_system(2);
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &trying, NULL, NULL, &a));

  ck_assert_ok(acto_send(sys, a, MSG_TRY, NULL, 0));

  ck_assert_counter_reaches(&g_tried, 1);
  ck_assert_rc(g_try_rc[0], ACTO_EWRONGTHREAD); /* shutdown from inside an actor */
  ck_assert_rc(g_try_rc[1], ACTO_EINVAL);       /* ask_async timeout 0 */
  ck_assert_rc(g_try_rc[2], ACTO_EINVAL);       /* ask_async timeout -2 */
  ck_assert_rc(g_try_rc[3], ACTO_EINVAL);       /* ask_async NULL data, size 8 */
  ck_assert_rc(g_try_rc[4], ACTO_EINVAL);       /* ask_async reserved type */
  /* acto_reply with bad arguments outside a request: either check may win. */
  ck_assert_msg(g_try_rc[5] == ACTO_EINVAL || g_try_rc[5] == ACTO_ENOTREQUEST, "%d (%s)",
                g_try_rc[5], tu_name(g_try_rc[5]));
  ck_assert_msg(g_try_rc[6] == ACTO_EINVAL || g_try_rc[6] == ACTO_ENOTREQUEST, "%d (%s)",
                g_try_rc[6], tu_name(g_try_rc[6]));
  ck_assert_int_eq(acto_alive(sys, a), 1); /* the system is still up */
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, NULL, 0));
  tu_shutdown(sys);
}
END_TEST

/* A request whose reply is malformed: the bad reply is refused, a good
 * one still goes through. */
static int bad_replier_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state, (void)msg;
  TU_EXPECT_RC(acto_reply(ctx, ACTO_MSG_RESERVED, NULL, 0), ACTO_EINVAL);
  TU_EXPECT_RC(acto_reply(ctx, MSG_VALUE, NULL, 8), ACTO_EINVAL);
  TU_EXPECT_RC(acto_reply(ctx, MSG_VALUE, "ok", 3), 0);
  return 0;
}
static const acto_behaviour bad_replier = {.name = "bad_replier", .handle = bad_replier_handle};

START_TEST(a_refused_reply_does_not_use_up_the_request) {
  acto_system *sys = tu_system(2);
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &bad_replier, NULL, NULL, &a));
  acto_reply_buf rep;
  memset(&rep, 0, sizeof rep);

  ck_assert_ok(acto_ask(sys, a, MSG_VALUE, NULL, 0, TU_WAIT_MS, &rep));

  ck_assert_uint_eq(rep.type, MSG_VALUE);
  ck_assert_uint_eq(rep.size, 3);
  ck_assert_str_eq((const char *)rep.data, "ok");
  acto_reply_release(&rep);
  tu_shutdown(sys);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------ */

START_TEST(spawning_past_max_actors_returns_elimit) {
  acto_config cfg = {.threads = 1, .max_actors = 4};
  acto_system *sys = tu_system_cfg(&cfg);
  acto_ref r[4];
  for (int i = 0; i < 4; i++) ck_assert_ok(acto_spawn(sys, &noop, NULL, NULL, &r[i]));
  acto_ref extra = ACTO_REF_NONE;

  ck_assert_rc(acto_spawn(sys, &noop, NULL, NULL, &extra), ACTO_ELIMIT);

  ck_assert_uint_eq(tu_stats(sys).actors_live, 4);
  ck_assert_ok(acto_stop(sys, r[0]));
  ck_assert_becomes_dead(sys, r[0]);
  /* A stopped actor frees its place; poll because the slot may be
   * reclaimed just after acto_alive turns 0. */
  int rc = ACTO_ELIMIT;
  for (int64_t end = tu_now_ms() + TU_WAIT_MS; rc == ACTO_ELIMIT && tu_now_ms() < end;) {
    rc = acto_spawn(sys, &noop, NULL, NULL, &extra);
    if (rc == ACTO_ELIMIT) tu_sleep_ms(1);
  }
  ck_assert_rc(rc, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- shutdown -------------------------------------------------------------------- */

enum { SHUT_ACTORS = 50 };
static atomic_int g_terminates[SHUT_ACTORS];
static atomic_int g_terminate_on_main;
static pthread_t g_main_thread;

static int indexed_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  memcpy(state, arg, sizeof(int));
  return 0;
}

static void indexed_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  int i;
  memcpy(&i, state, sizeof i);
  if (i >= 0 && i < SHUT_ACTORS) atomic_fetch_add(&g_terminates[i], 1);
  if (pthread_equal(pthread_self(), g_main_thread)) atomic_fetch_add(&g_terminate_on_main, 1);
}

static const acto_behaviour indexed = {.name = "indexed",
                                       .state_size = sizeof(int),
                                       .init = indexed_init,
                                       .handle = noop_handle,
                                       .terminate = indexed_terminate};

START_TEST(shutdown_runs_every_live_actors_terminate_exactly_once_on_a_worker) {
  g_main_thread = pthread_self();
  acto_system *sys = tu_system(2);
  acto_ref r[SHUT_ACTORS];
  for (int i = 0; i < SHUT_ACTORS; i++) {
    ck_assert_ok(acto_spawn(sys, &indexed, &i, NULL, &r[i]));
    ck_assert_ok(acto_send(sys, r[i], MSG_VALUE, NULL, 0));
  }
  /* A few stopped before the shutdown: their terminate must not run again. */
  for (int i = 0; i < SHUT_ACTORS; i += 10) ck_assert_ok(acto_stop(sys, r[i]));
  for (int i = 0; i < SHUT_ACTORS; i += 10) ck_assert_becomes_dead(sys, r[i]);
  ck_assert_stat_becomes(sys, actors_live, SHUT_ACTORS - SHUT_ACTORS / 10);

  ck_assert_ok(acto_system_shutdown(sys));

  for (int i = 0; i < SHUT_ACTORS; i++)
    ck_assert_msg(atomic_load(&g_terminates[i]) == 1, "actor %d: terminate ran %d times", i,
                  atomic_load(&g_terminates[i]));
  ck_assert_int_eq(atomic_load(&g_terminate_on_main), 0);
}
END_TEST

/* Shutdown while actors still have queued messages: every message is
 * either handled or reported as a dead letter (none vanishes), and no
 * message is handled after its actor's terminate. */
static tu_dead g_dead;
static atomic_long g_counted_handled;
static atomic_int g_handled_after_terminate;

typedef struct counted_state {
  int terminated;
} counted_state;

static int counted_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)msg;
  counted_state *s = state;
  if (s->terminated) atomic_fetch_add(&g_handled_after_terminate, 1);
  atomic_fetch_add(&g_counted_handled, 1);
  return 0;
}

static void counted_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  ((counted_state *)state)->terminated = 1;
}

static const acto_behaviour counted = {.name = "counted",
                                       .state_size = sizeof(counted_state),
                                       .handle = counted_handle,
                                       .terminate = counted_terminate};

static void *open_gate_later(void *p) {
  tu_sleep_ms(50); /* not needed for correctness: gives shutdown a head start */
  tu_gate_open(p);
  return NULL;
}

START_TEST(shutdown_handles_or_dead_letters_every_queued_message) {
  tu_probe_init(&g_probe);
  tu_dead_init(&g_dead);
  acto_system *sys = tu_system(2);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &g_dead));
  acto_ref held = tu_spawn_probe(sys, &g_probe, NULL);
  tu_probe_hold(sys, held, &g_probe);
  for (uint64_t i = 0; i < 5; i++) ck_assert_ok(tu_send_u64(sys, held, MSG_VALUE, i));
  enum { ACTORS = 20, EACH = 100 };
  for (int i = 0; i < ACTORS; i++) {
    acto_ref r = ACTO_REF_NONE;
    ck_assert_ok(acto_spawn(sys, &counted, NULL, NULL, &r));
    for (int k = 0; k < EACH; k++) ck_assert_ok(acto_send(sys, r, MSG_TRY, NULL, 0));
  }
  pthread_t opener;
  ck_assert_int_eq(pthread_create(&opener, NULL, open_gate_later, &g_probe.gate), 0);

  ck_assert_ok(acto_system_shutdown(sys));

  ck_assert_int_eq(pthread_join(opener, NULL), 0);
  long probe_values = 0;
  for (int i = 0; i < tu_probe_count(&g_probe); i++)
    probe_values += tu_probe_rec(&g_probe, i).type == MSG_VALUE;
  long dead_values = 0, dead_tries = 0, dead_other = 0;
  ck_assert_int_lt(g_dead.n, TU_DEAD_LOG);
  for (int i = 0; i < g_dead.n; i++) {
    if (g_dead.log[i].reason != ACTO_DEAD_CLOSED) dead_other++;
    else if (g_dead.log[i].type == MSG_VALUE) dead_values++;
    else if (g_dead.log[i].type == MSG_TRY) dead_tries++;
  }
  ck_assert_int_eq(dead_other, 0);
  ck_assert_int_eq(probe_values + dead_values, 5);
  ck_assert_int_eq(atomic_load(&g_counted_handled) + dead_tries, ACTORS * EACH);
  ck_assert_int_eq(atomic_load(&g_handled_after_terminate), 0);
  ck_assert_int_eq(tu_counter_get(&g_probe.terminated), 1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("error");
  TCase *tc = tu_tcase("table", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, every_error_code_has_its_own_name_and_message,
               the_guide_lists_every_code_with_its_value_and_message,
               unknown_codes_get_a_generic_text_and_zero_is_not_an_error);
  suite_add_tcase(s, tc);

  tc = tu_tcase("arguments", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, system_calls_reject_null_arguments, spawn_rejects_bad_arguments,
               send_rejects_bad_arguments, stop_alive_and_registry_reject_bad_arguments,
               ask_and_timers_reject_bad_arguments, context_calls_reject_a_null_context,
               calls_from_inside_an_actor_are_checked_too,
               a_refused_reply_does_not_use_up_the_request);
  suite_add_tcase(s, tc);

  tc = tu_tcase("limits", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, spawning_past_max_actors_returns_elimit,
               shutdown_runs_every_live_actors_terminate_exactly_once_on_a_worker,
               shutdown_handles_or_dead_letters_every_queued_message);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
