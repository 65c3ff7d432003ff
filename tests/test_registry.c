/* test_registry.c - names for actors: acto_register, acto_lookup,
 * acto_unregister and acto_spawn_opts.name.
 *
 * A name is 1..ACTO_NAME_MAX bytes and copied; a name belongs to at most
 * one actor; it is released when its actor stops.
 */
#include "testutil.h"

enum { MSG_VALUE = 1, MSG_LOOKUP_AND_SEND };

static tu_probe g_probe;

static acto_system *setup_system(void) {
  tu_probe_init(&g_probe);
  return tu_system(2);
}

START_TEST(registered_name_looks_up_to_the_actor) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref found = ACTO_REF_NONE;

  ck_assert_ok(acto_register(sys, "alice", a));
  ck_assert_ok(acto_lookup(sys, "alice", &found));

  ck_assert(acto_ref_eq(found, a));
  ck_assert_ok(tu_send_u64(sys, found, MSG_VALUE, 1));
  ck_assert_probe_reaches(&g_probe, 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(unregistered_name_no_longer_looks_up) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref found = ACTO_REF_NONE;
  ck_assert_ok(acto_register(sys, "bob", a));

  ck_assert_ok(acto_unregister(sys, "bob"));

  ck_assert_rc(acto_lookup(sys, "bob", &found), ACTO_ENOENT);
  ck_assert_rc(acto_unregister(sys, "bob"), ACTO_ENOENT);
  ck_assert_int_eq(acto_alive(sys, a), 1); /* the actor is untouched */
  ck_assert_ok(acto_register(sys, "bob", a)); /* and may take the name again */
  tu_shutdown(sys);
}
END_TEST

START_TEST(lookup_of_a_missing_name_returns_enoent) {
  acto_system *sys = setup_system();
  acto_ref found = ACTO_REF_NONE;

  ck_assert_rc(acto_lookup(sys, "nobody", &found), ACTO_ENOENT);
  ck_assert_rc(acto_unregister(sys, "nobody"), ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

START_TEST(registering_a_taken_name_returns_eexist_and_keeps_the_first_owner) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref b = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref found = ACTO_REF_NONE;
  ck_assert_ok(acto_register(sys, "carol", a));

  ck_assert_rc(acto_register(sys, "carol", b), ACTO_EEXIST);

  ck_assert_ok(acto_lookup(sys, "carol", &found));
  ck_assert(acto_ref_eq(found, a));
  tu_shutdown(sys);
}
END_TEST

START_TEST(name_is_released_when_its_actor_stops) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref found = ACTO_REF_NONE;
  ck_assert_ok(acto_register(sys, "dave", a));

  ck_assert_ok(acto_stop(sys, a));
  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_becomes_dead(sys, a);

  ck_assert_rc(acto_lookup(sys, "dave", &found), ACTO_ENOENT);
  acto_ref b = tu_spawn_probe(sys, &g_probe, NULL);
  ck_assert_ok(acto_register(sys, "dave", b));
  ck_assert_ok(acto_lookup(sys, "dave", &found));
  ck_assert(acto_ref_eq(found, b));
  tu_shutdown(sys);
}
END_TEST

/* Fails on MSG_VALUE. */
static int fail_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state, (void)msg;
  return -3;
}
static const acto_behaviour failer = {.name = "failer", .handle = fail_handle};

START_TEST(name_is_released_when_its_actor_fails) {
  acto_system *sys = setup_system();
  acto_spawn_opts opts = {.name = "erin"};
  acto_ref a = ACTO_REF_NONE, found = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &failer, NULL, &opts, &a));

  ck_assert_ok(acto_send(sys, a, MSG_VALUE, NULL, 0));
  ck_assert_becomes_dead(sys, a);

  ck_assert_rc(acto_lookup(sys, "erin", &found), ACTO_ENOENT);
  ck_assert_ok(acto_spawn(sys, &failer, NULL, &opts, &a));
  ck_assert_ok(acto_lookup(sys, "erin", &found));
  ck_assert(acto_ref_eq(found, a));
  tu_shutdown(sys);
}
END_TEST

START_TEST(spawn_with_a_name_registers_it) {
  acto_system *sys = setup_system();
  acto_spawn_opts opts = {.name = "frank"};
  acto_ref found = ACTO_REF_NONE;

  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);

  ck_assert_ok(acto_lookup(sys, "frank", &found));
  ck_assert(acto_ref_eq(found, a));
  acto_ref b = tu_spawn_probe(sys, &g_probe, NULL);
  ck_assert_rc(acto_register(sys, "frank", b), ACTO_EEXIST);
  tu_shutdown(sys);
}
END_TEST

START_TEST(spawn_with_a_taken_name_returns_eexist_and_spawns_nothing) {
  acto_system *sys = setup_system();
  acto_spawn_opts opts = {.name = "grace"};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  uint64_t live = tu_stats(sys).actors_live;
  acto_ref b = ACTO_REF_NONE, found = ACTO_REF_NONE;

  ck_assert_rc(acto_spawn(sys, &tu_probe_behaviour, &g_probe, &opts, &b), ACTO_EEXIST);

  ck_assert_uint_eq(tu_stats(sys).actors_live, live);
  ck_assert_ok(acto_lookup(sys, "grace", &found));
  ck_assert(acto_ref_eq(found, a));
  tu_shutdown(sys);
}
END_TEST

START_TEST(names_are_copied) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  char name[16] = "heidi";
  acto_ref found = ACTO_REF_NONE;
  ck_assert_ok(acto_register(sys, name, a));
  memcpy(name, "ivan!", 6);
  char spawn_name[16] = "judy";
  acto_spawn_opts opts = {.name = spawn_name};
  acto_ref b = tu_spawn_probe(sys, &g_probe, &opts);
  memcpy(spawn_name, "kate", 5);

  ck_assert_ok(acto_lookup(sys, "heidi", &found));
  ck_assert(acto_ref_eq(found, a));
  ck_assert_rc(acto_lookup(sys, "ivan!", &found), ACTO_ENOENT);
  ck_assert_ok(acto_lookup(sys, "judy", &found));
  ck_assert(acto_ref_eq(found, b));
  ck_assert_rc(acto_lookup(sys, "kate", &found), ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

START_TEST(bad_names_return_einval) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  acto_ref found = ACTO_REF_NONE;
  char longest[ACTO_NAME_MAX + 1];
  memset(longest, 'n', ACTO_NAME_MAX);
  longest[ACTO_NAME_MAX] = '\0';
  char too_long[ACTO_NAME_MAX + 2];
  memset(too_long, 'n', ACTO_NAME_MAX + 1);
  too_long[ACTO_NAME_MAX + 1] = '\0';
  const char *bad[] = {NULL, "", too_long};

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_rc(acto_register(sys, bad[i], a), ACTO_EINVAL);
    ck_assert_rc(acto_lookup(sys, bad[i], &found), ACTO_EINVAL);
    ck_assert_rc(acto_unregister(sys, bad[i]), ACTO_EINVAL);
    acto_spawn_opts opts = {.name = bad[i]};
    acto_ref b = ACTO_REF_NONE;
    if (bad[i] != NULL) /* NULL in opts means "no name" */
      ck_assert_rc(acto_spawn(sys, &tu_probe_behaviour, &g_probe, &opts, &b), ACTO_EINVAL);
  }
  ck_assert_uint_eq(tu_stats(sys).actors_live, 1);

  /* ACTO_NAME_MAX bytes is still a valid name. */
  ck_assert_ok(acto_register(sys, longest, a));
  ck_assert_ok(acto_lookup(sys, longest, &found));
  ck_assert(acto_ref_eq(found, a));
  ck_assert_ok(acto_unregister(sys, longest));
  tu_shutdown(sys);
}
END_TEST

START_TEST(registering_a_stopped_actor_fails) {
  acto_system *sys = setup_system();
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  ck_assert_ok(acto_stop(sys, a));
  ck_assert_becomes_dead(sys, a);
  acto_ref found = ACTO_REF_NONE;

  ck_assert_rc(acto_register(sys, "ghost", a), ACTO_ESTALE);
  int rc = acto_register(sys, "nothing", ACTO_REF_NONE);
  ck_assert_msg(rc == ACTO_ESTALE || rc == ACTO_EINVAL, "register of ACTO_REF_NONE: %d (%s)", rc,
                tu_name(rc));

  ck_assert_rc(acto_lookup(sys, "ghost", &found), ACTO_ENOENT);
  ck_assert_rc(acto_lookup(sys, "nothing", &found), ACTO_ENOENT);
  tu_shutdown(sys);
}
END_TEST

/* An actor that looks a name up and sends the probe a value. */
static int lookup_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_LOOKUP_AND_SEND) {
    acto_ref to = ACTO_REF_NONE;
    TU_EXPECT_RC(acto_lookup(acto_ctx_system(ctx), (const char *)msg->data, &to), 0);
    uint64_t v = 5;
    TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), to, MSG_VALUE, &v, sizeof v));
  }
  return 0;
}
static const acto_behaviour looker = {.name = "looker", .handle = lookup_handle};

START_TEST(actors_can_look_names_up) {
  acto_system *sys = setup_system();
  acto_spawn_opts opts = {.name = "target"};
  acto_ref t = tu_spawn_probe(sys, &g_probe, &opts);
  acto_ref l = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &looker, NULL, NULL, &l));

  ck_assert_ok(acto_send(sys, l, MSG_LOOKUP_AND_SEND, "target", sizeof "target"));

  ck_assert_probe_reaches(&g_probe, 1);
  tu_rec r = tu_probe_rec(&g_probe, 0);
  ck_assert_uint_eq(r.value, 5);
  ck_assert(acto_ref_eq(r.sender, l));
  ck_assert(!acto_ref_eq(r.sender, t));
  tu_shutdown(sys);
}
END_TEST

/* Many threads race to register one name: exactly one wins. */
enum { RACERS = 8 };

typedef struct racer {
  acto_system *sys;
  acto_ref ref;
  tu_gate *start;
  int rc;
} racer;

static void *race_thread(void *p) {
  racer *r = p;
  TU_EXPECT(tu_gate_wait(r->start, TU_WAIT_MS), "start gate never opened");
  r->rc = acto_register(r->sys, "contested", r->ref);
  return NULL;
}

START_TEST(concurrent_registrations_of_one_name_have_exactly_one_winner) {
  acto_system *sys = setup_system();
  const int rounds = TU_N(50, 25, 20);
  for (int round = 0; round < rounds; round++) {
    static tu_gate start;
    tu_gate_init(&start);
    racer r[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
      r[i] = (racer){sys, tu_spawn_probe(sys, &g_probe, NULL), &start, -999};
      ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
    }
    tu_gate_open(&start);
    for (int i = 0; i < RACERS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);

    int winners = 0, winner = -1;
    for (int i = 0; i < RACERS; i++) {
      if (r[i].rc == 0) winners++, winner = i;
      else ck_assert_rc(r[i].rc, ACTO_EEXIST);
    }
    ck_assert_int_eq(winners, 1);
    acto_ref found = ACTO_REF_NONE;
    ck_assert_ok(acto_lookup(sys, "contested", &found));
    ck_assert(acto_ref_eq(found, r[winner].ref));
    for (int i = 0; i < RACERS; i++) ck_assert_ok(acto_stop(sys, r[i].ref));
    for (int i = 0; i < RACERS; i++) ck_assert_becomes_dead(sys, r[i].ref);
    ck_assert_rc(acto_lookup(sys, "contested", &found), ACTO_ENOENT);
  }
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("registry");
  TCase *tc = tu_tcase("registry", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, registered_name_looks_up_to_the_actor, unregistered_name_no_longer_looks_up,
               lookup_of_a_missing_name_returns_enoent,
               registering_a_taken_name_returns_eexist_and_keeps_the_first_owner,
               name_is_released_when_its_actor_stops, name_is_released_when_its_actor_fails,
               spawn_with_a_name_registers_it,
               spawn_with_a_taken_name_returns_eexist_and_spawns_nothing, names_are_copied,
               bad_names_return_einval, registering_a_stopped_actor_fails, actors_can_look_names_up,
               concurrent_registrations_of_one_name_have_exactly_one_winner);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
