/* test_version.c - the library's version (actor/version.c) is the headers'
 * (acto_version.h, generated from the project() line of CMakeLists.txt). */
#include "testutil.h"

#include <acto/acto_msgpack.h>

/* ACTORS.md, "Versions": a program that checks the library it runs with.
 * Returns 1 when the major and minor versions differ. */
static int version_differs(void) {
  if (acto_version() / 100 != ACTO_VERSION_NUMBER / 100) {
    fprintf(stderr, "built with acto %s, running with %s\n", ACTO_VERSION_STRING,
            acto_version_string());
    return 1;
  }
  return 0;
}

START_TEST(the_library_and_the_headers_tell_the_same_version) {
  ck_assert_int_eq(version_differs(), 0);
  ck_assert_int_eq(acto_version(), ACTO_VERSION_NUMBER);
  ck_assert_int_eq(ACTO_VERSION_NUMBER,
                   ACTO_VERSION_MAJOR * 10000 + ACTO_VERSION_MINOR * 100 + ACTO_VERSION_PATCH);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", ACTO_VERSION_MAJOR, ACTO_VERSION_MINOR,
           ACTO_VERSION_PATCH);
  ck_assert_str_eq(acto_version_string(), want);
  ck_assert_str_eq(ACTO_VERSION_STRING, want);
  /* Each part fits its two digits of the number. */
  ck_assert_int_lt(ACTO_VERSION_MINOR, 100);
  ck_assert_int_lt(ACTO_VERSION_PATCH, 100);
}
END_TEST

/* ACTORS.md, "Versions": the caller-allocated structs keep their size
 * within a soname; new fields take reserved words.  A change to a size
 * here changes the ABI, which only a new soname may do.  (LP64 sizes.) */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(acto_behaviour) == 72, "acto_behaviour");
_Static_assert(sizeof(acto_config) == 104, "acto_config");
_Static_assert(sizeof(acto_spawn_opts) == 64, "acto_spawn_opts");
_Static_assert(sizeof(acto_send_opts) == 56, "acto_send_opts");
_Static_assert(sizeof(acto_stats) == 272, "acto_stats");
_Static_assert(sizeof(acto_journal_opts) == 64, "acto_journal_opts");
_Static_assert(sizeof(acto_journal_replay_info) == 96, "acto_journal_replay_info");
_Static_assert(sizeof(acto_node_config) == 176, "acto_node_config");
/* encryption took the first of its 8 reserved words (a union with a
 * uint64_t): the words before it did not move, 7 remain. */
_Static_assert(offsetof(acto_node_config, reconnect_max_ms) == 104, "acto_node_config");
_Static_assert(offsetof(acto_node_config, encryption) == 112, "acto_node_config.encryption");
/* seeds and nseeds (0.4) took the next two: 5 remain. */
_Static_assert(offsetof(acto_node_config, seeds) == 120, "acto_node_config.seeds");
_Static_assert(offsetof(acto_node_config, nseeds) == 128, "acto_node_config.nseeds");
_Static_assert(offsetof(acto_node_config, reserved) == 136, "acto_node_config.reserved");
_Static_assert(sizeof(acto_node_stats) == 168, "acto_node_stats");
_Static_assert(sizeof(acto_sup_spec) == 96, "acto_sup_spec");
_Static_assert(sizeof(acto_child_spec) == 112, "acto_child_spec");
/* remote took the first of its 4 reserved words (a union with a
 * uint64_t), node the first of acto_child_info's 2: nothing moved. */
_Static_assert(offsetof(acto_child_spec, overflow) == 76, "acto_child_spec");
_Static_assert(offsetof(acto_child_spec, remote) == 80, "acto_child_spec.remote");
_Static_assert(offsetof(acto_child_spec, reserved) == 88, "acto_child_spec.reserved");
_Static_assert(sizeof(acto_child_info) == 112, "acto_child_info");
_Static_assert(offsetof(acto_child_info, node) == 96, "acto_child_info.node");
_Static_assert(sizeof(acto_child_remote) == 64, "acto_child_remote");
_Static_assert(sizeof(acto_spawn_arg) == 16, "acto_spawn_arg");
_Static_assert(sizeof(acto_child_counts) == 64, "acto_child_counts");
/* acto_msgpack.h (0.3): the buffer and result a program allocates, and
 * the field tables ACTO_MSGPACK_STRUCT compiles into it. */
_Static_assert(sizeof(acto_msgpack_result) == 216, "acto_msgpack_result");
_Static_assert(sizeof(acto_msgpack_buf) == 192, "acto_msgpack_buf");
_Static_assert(sizeof(acto_msgpack_field) == 48, "acto_msgpack_field");
_Static_assert(sizeof(acto_msgpack_schema) == 48, "acto_msgpack_schema");
#endif
_Static_assert(ACTO_DEAD_REASON_COUNT <= ACTO_DEAD_REASON_SLOTS, "room for the dead reasons");

static int v_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  (void)m;
  return 0;
}

/* A struct built against a newer acto (a non-zero reserved word) is
 * refused with ACTO_EINVAL by every call that takes one, and nothing
 * happens. */
START_TEST(a_struct_from_a_newer_acto_is_refused) {
  acto_config cfg = {.threads = 1};
  acto_system *sys = NULL;
  cfg.reserved[3] = 1;
  ck_assert_int_eq(acto_system_create(&cfg, &sys), ACTO_EINVAL);
  ck_assert_ptr_null(sys);
  cfg.reserved[3] = 0;
  cfg.flags = 2; /* a flag this acto does not know */
  ck_assert_int_eq(acto_system_create(&cfg, &sys), ACTO_EINVAL);
  ck_assert_ptr_null(sys);
  cfg.flags = 0;
  ck_assert_int_eq(acto_system_create(&cfg, &sys), 0);

  acto_behaviour b = {.name = "v", .handle = v_handle};
  acto_ref r = ACTO_REF_NONE;
  b.reserved[2] = 1;
  ck_assert_int_eq(acto_spawn(sys, &b, NULL, NULL, &r), ACTO_EINVAL);
  b.reserved[2] = 0;
  b.flags = 2; /* a flag this acto does not know */
  ck_assert_int_eq(acto_spawn(sys, &b, NULL, NULL, &r), ACTO_EINVAL);
  b.flags = 0;
  acto_spawn_opts so = {.capacity = 4};
  so.reserved[0] = 1;
  ck_assert_int_eq(acto_spawn(sys, &b, NULL, &so, &r), ACTO_EINVAL);
  acto_stats st;
  ck_assert_int_eq(acto_get_stats(sys, &st), 0);
  ck_assert_uint_eq(st.actors_spawned, 0);
  so.reserved[0] = 0;
  ck_assert_int_eq(acto_spawn(sys, &b, NULL, &so, &r), 0);

  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  o.reserved[1] = 1;
  ck_assert_int_eq(acto_send_ex(sys, r, 1, "x", 1, &o), ACTO_EINVAL);
  o.reserved[1] = 0;
  ck_assert_int_eq(acto_send_ex(sys, r, 1, "x", 1, &o), 0);

  acto_child_spec kid = {.id = "k", .kind = ACTO_WORKER, .behaviour = &b};
  acto_sup_spec spec = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 1, .children = &kid,
                        .nchildren = 1};
  acto_ref sup = ACTO_REF_NONE;
  spec.reserved[2] = 1;
  ck_assert_int_eq(acto_supervisor_start(sys, &spec, NULL, &sup), ACTO_EINVAL);
  spec.reserved[2] = 0;
  kid.reserved[0] = 1;
  ck_assert_int_eq(acto_supervisor_start(sys, &spec, NULL, &sup), ACTO_EINVAL);
  kid.reserved[0] = 0;
  b.reserved[0] = 1;
  ck_assert_int_eq(acto_supervisor_start(sys, &spec, NULL, &sup), ACTO_EINVAL);
  b.reserved[0] = 0;
  ck_assert_int_eq(acto_supervisor_start(sys, &spec, NULL, &sup), 0);

  /* Outputs are zeroed whole, reserved words included. */
  memset(&st, 0xff, sizeof st);
  ck_assert_int_eq(acto_get_stats(sys, &st), 0);
  for (size_t i = 0; i < sizeof st.reserved / sizeof st.reserved[0]; i++)
    ck_assert_uint_eq(st.reserved[i], 0);
  for (int i = ACTO_DEAD_REASON_COUNT; i < ACTO_DEAD_REASON_SLOTS; i++)
    ck_assert_uint_eq(st.dead_letters[i], 0);
  acto_child_counts cc;
  memset(&cc, 0xff, sizeof cc);
  ck_assert_int_eq(acto_supervisor_count_children(sys, sup, &cc, 5000), 0);
  ck_assert_uint_eq(cc.specs, 1);
  for (size_t i = 0; i < sizeof cc.reserved / sizeof cc.reserved[0]; i++)
    ck_assert_uint_eq(cc.reserved[i], 0);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);

  acto_journal_opts jo = {0};
  acto_journal *j = NULL;
  jo.reserved[3] = 1;
  ck_assert_int_eq(acto_journal_open("/nonexistent-dir/never-created", &jo, &j), ACTO_EINVAL);
  ck_assert_ptr_null(j);
}
END_TEST

/* The node's config, in a system of its own (a node must start before the
 * first spawn). */
START_TEST(a_node_config_from_a_newer_acto_is_refused) {
  acto_system *sys = NULL;
  ck_assert_int_eq(acto_system_create(NULL, &sys), 0);
  uint8_t key[32] = {1};
  acto_node_config nc = {.name = "v", .key = key, .key_len = sizeof key, .no_listen = 1};
  nc.reserved[4] = 1;
  ck_assert_int_eq(acto_node_start(sys, &nc), ACTO_EINVAL);
  nc.reserved[4] = 0;
  nc.reserved[3] = 1;
  ck_assert_int_eq(acto_node_start(sys, &nc), ACTO_EINVAL);
  uint64_t id = 0;
  ck_assert_int_eq(acto_node_self(sys, &id), ACTO_ENOTCONN);
  nc.reserved[3] = 0;
  ck_assert_int_eq(acto_node_start(sys, &nc), 0);
  acto_node_stats ns;
  memset(&ns, 0xff, sizeof ns);
  ck_assert_int_eq(acto_node_get_stats(sys, &ns), 0);
  ck_assert_uint_eq(ns.peers_up, 0);
  for (size_t i = 0; i < sizeof ns.reserved / sizeof ns.reserved[0]; i++)
    ck_assert_uint_eq(ns.reserved[i], 0);
  ck_assert_int_eq(acto_system_shutdown(sys), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("version");
  TCase *tc = tu_tcase("version", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, the_library_and_the_headers_tell_the_same_version,
               a_struct_from_a_newer_acto_is_refused, a_node_config_from_a_newer_acto_is_refused);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
