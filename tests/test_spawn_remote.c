/* test_spawn_remote.c - remote spawn (transport/spawn.c, ACTORS.md 13.5
 * and 13.10 "Remote spawn"): nodes in one process on 127.0.0.1 over real
 * TCP; the registry, both forms of the call, every answer, and the
 * request and reply bytes that ACTORS.md prints.
 */
#include "docbytes.h"
#include "testnode.h"
#include "transport/buf.h"
#include "transport/spawn_internal.h"
#include "transport/wire.h"

/* acto__ask_sync (actor/remote.h): a raw request to a node service. */
int acto__ask_sync(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                   int64_t timeout_ms, acto_reply_buf *out);

enum { T_ARG = 1, T_GO = 2, T_GO_MSG = 3 };

/* ---- the behaviour spawned remotely ------------------------------------------------ */

static tu_gate init_gate; /* "block": init waits for it */
static tu_counter inits;  /* inits that ran */

typedef struct worker {
  char arg[64];
  size_t n;
} worker;

static int worker_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  worker *w = state;
  const acto_spawn_arg *a = arg;
  TU_EXPECT(a != NULL, "init without its acto_spawn_arg");
  if (!a)
    return -1;
  TU_EXPECT(a->size == 0 ? a->data == NULL : a->data != NULL, "arg data %p size %zu", a->data,
            a->size);
  tu_counter_add(&inits, 1);
  if (a->size == 4 && memcmp(a->data, "fail", 4) == 0)
    return -77;
  if (a->size == 6 && memcmp(a->data, "ignore", 6) == 0)
    return ACTO_INIT_IGNORE;
  if (a->size == 5 && memcmp(a->data, "block", 5) == 0)
    tu_gate_wait(&init_gate, TU_WAIT_MS);
  w->n = a->size < sizeof w->arg ? a->size : sizeof w->arg;
  if (w->n)
    memcpy(w->arg, a->data, w->n);
  return 0;
}

static int worker_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  worker *w = state;
  if (m->type == T_ARG)
    return acto_reply(ctx, T_ARG, w->arg, w->n);
  return 0;
}

static const acto_behaviour WORKER = {
    .name = "worker", .state_size = sizeof(worker), .init = worker_init, .handle = worker_handle};

/* The argument init saw, asked of the actor (so the ref works). */
static void check_arg(acto_system *s, acto_ref r, const char *want) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, r, T_ARG, NULL, 0, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, strlen(want));
  ck_assert(rb.size == 0 || memcmp(rb.data, want, rb.size) == 0);
  acto_reply_release(&rb);
}

static void setup(void) {
  tu_setup();
  tu_gate_init(&init_gate);
  tu_counter_init(&inits);
}

/* Two connected nodes: a (asks) and b (has "worker"). */
static void two_nodes(acto_system **a, acto_system **b) {
  *a = node_sys("a", KEY, LIVE_HBT);
  *b = node_sys("b", KEY, LIVE_HBT);
  ck_assert_ok(acto_behaviour_register(*b, "worker", &WORKER));
  link_nodes(*a, "b", *b);
}

/* ---- the registry and the arguments -------------------------------------------------- */

START_TEST(register_checks_its_arguments_and_refuses_duplicates) {
  acto_system *s = tu_system(1);
  ck_assert_rc(acto_behaviour_register(s, "worker", &WORKER), ACTO_ENOTCONN); /* no node */
  tu_shutdown(s);
  s = node_sys("a", KEY, LIVE_HBT);
  ck_assert_rc(acto_behaviour_register(NULL, "worker", &WORKER), ACTO_EINVAL);
  ck_assert_rc(acto_behaviour_register(s, NULL, &WORKER), ACTO_EINVAL);
  ck_assert_rc(acto_behaviour_register(s, "", &WORKER), ACTO_EINVAL);
  ck_assert_rc(acto_behaviour_register(s, "worker", NULL), ACTO_EINVAL);
  char longname[ACTO_NAME_MAX + 2];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  ck_assert_rc(acto_behaviour_register(s, longname, &WORKER), ACTO_EINVAL);
  acto_behaviour nohandle = {.name = "x"};
  ck_assert_rc(acto_behaviour_register(s, "x", &nohandle), ACTO_EINVAL);
  acto_behaviour dirty = WORKER;
  dirty.reserved[0] = 1;
  ck_assert_rc(acto_behaviour_register(s, "x", &dirty), ACTO_EINVAL);
  ck_assert_rc(acto_behaviour_unregister(s, "worker"), ACTO_ENOENT);
  ck_assert_ok(acto_behaviour_register(s, "worker", &WORKER));
  ck_assert_rc(acto_behaviour_register(s, "worker", &WORKER), ACTO_EEXIST);
  ck_assert_ok(acto_behaviour_unregister(s, "worker"));
  ck_assert_rc(acto_behaviour_unregister(s, "worker"), ACTO_ENOENT);
  ck_assert_ok(acto_behaviour_register(s, "worker", &WORKER)); /* again after unregister */
  tu_shutdown(s);
}
END_TEST

START_TEST(spawn_remote_refuses_bad_arguments_with_einval) {
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_ref r;
  acto_spawn_opts o = {0};
  ck_assert_rc(acto_spawn_remote(NULL, "b", "worker", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, NULL, TU_WAIT_MS, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, NULL, "worker", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, "b c", "worker", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, "b", NULL, NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, "b", "", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 3, NULL, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, NULL, -2, &r), ACTO_EINVAL);
  o.link = 1; /* cannot link across the spawn */
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, &o, TU_WAIT_MS, &r), ACTO_EINVAL);
  o.link = 0;
  o.overflow = (acto_overflow)9;
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, &o, TU_WAIT_MS, &r), ACTO_EINVAL);
  o.overflow = ACTO_OVERFLOW_BLOCK;
  o.reserved[1] = 5;
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, &o, TU_WAIT_MS, &r), ACTO_EINVAL);
  o.reserved[1] = 0;
  o.capacity = ACTO_MAILBOX_MAX_CAPACITY + 1;
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, &o, TU_WAIT_MS, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote_result(0, NULL, &r), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote_result(ACTO_ENOENT, NULL, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_spawn_remote_result(ACTO_ENOENT, NULL, &r), ACTO_ENOENT);
  ck_assert_int_eq(tu_counter_get(&inits), 0); /* nothing reached b */
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- answers ----------------------------------------------------------------------------- */

START_TEST(spawn_remote_starts_the_actor_there_with_the_argument_and_options) {
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_ref r;
  acto_spawn_opts o = {0};
  o.name = "w1";
  o.capacity = 16;
  ck_assert_ok(acto_spawn_remote(a, "b", "worker", "hello", 5, &o, TU_WAIT_MS, &r));
  uint64_t bid;
  ck_assert_ok(acto_node_self(b, &bid));
  ck_assert_uint_eq(r.node, bid); /* it runs on b */
  check_arg(a, r, "hello");       /* the ref works from a, and init got the bytes */
  acto_ref named;
  ck_assert_ok(acto_node_lookup(a, "b", "w1", TU_WAIT_MS, &named));
  ck_assert(acto_ref_eq(named, r)); /* registered there under the name */
  ck_assert_int_eq(acto_alive(b, r), 1);
  /* No argument: init sees size 0 and data NULL. */
  acto_ref r2;
  ck_assert_ok(acto_spawn_remote(a, "b", "worker", NULL, 0, NULL, TU_WAIT_MS, &r2));
  check_arg(a, r2, "");
  ck_assert(!acto_ref_eq(r, r2));
  /* The name is taken now. */
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", "x", 1, &o, TU_WAIT_MS, &r2), ACTO_EEXIST);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(spawn_on_this_node_runs_through_the_spawner_too) {
  acto_system *a = node_sys("a", KEY, LIVE_HBT);
  acto_ref r;
  ck_assert_rc(acto_spawn_remote(a, "a", "worker", "x", 1, NULL, TU_WAIT_MS, &r), ACTO_ENOENT);
  ck_assert_ok(acto_behaviour_register(a, "worker", &WORKER));
  ck_assert_ok(acto_spawn_remote(a, "a", "worker", "local", 5, NULL, TU_WAIT_MS, &r));
  ck_assert_int_eq(acto_alive(a, r), 1);
  check_arg(a, r, "local");
  tu_shutdown(a);
}
END_TEST

START_TEST(unknown_behaviour_init_failure_and_ignore_have_their_codes) {
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_system *c = node_sys("c", KEY, LIVE_HBT); /* registers nothing */
  link_nodes(a, "c", c);
  acto_ref r = {7, 7};
  ck_assert_rc(acto_spawn_remote(a, "b", "nobody", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_ENOENT);
  ck_assert_rc(acto_spawn_remote(a, "c", "worker", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_ENOENT);
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", "fail", 4, NULL, TU_WAIT_MS, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", "ignore", 6, NULL, TU_WAIT_MS, &r),
               ACTO_EIGNORED);
  ck_assert_int_eq(tu_counter_get(&inits), 2);
  ck_assert(r.id == 7 && r.node == 7); /* untouched on failure */
  /* Unregistered: unknown again. */
  ck_assert_ok(acto_behaviour_unregister(b, "worker"));
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_ENOENT);
  tu_shutdown(a);
  tu_shutdown(b);
  tu_shutdown(c);
}
END_TEST

static int node_not_up(void *arg) {
  uint64_t id;
  return acto_node_id(arg, "b", &id) == ACTO_ENOTCONN;
}

START_TEST(an_unknown_or_down_node_is_enotconn) {
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_ref r;
  ck_assert_rc(acto_spawn_remote(a, "nowhere", "worker", NULL, 0, NULL, TU_WAIT_MS, &r),
               ACTO_ENOTCONN);
  ck_assert_ok(acto_node_stop(b));
  ck_assert(tu_wait_until(node_not_up, a, TU_WAIT_MS));
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", NULL, 0, NULL, TU_WAIT_MS, &r), ACTO_ENOTCONN);
  acto_system *plain = tu_system(1); /* no node at all */
  ck_assert_rc(acto_spawn_remote(plain, "b", "worker", NULL, 0, NULL, TU_WAIT_MS, &r),
               ACTO_ENOTCONN);
  tu_shutdown(plain);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_node_that_does_not_answer_in_time_is_etimedout) {
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_ref r;
  /* b's spawner is held in init: the answer cannot come in 200 ms. */
  ck_assert_rc(acto_spawn_remote(a, "b", "worker", "block", 5, NULL, 200, &r), ACTO_ETIMEDOUT);
  tu_gate_open(&init_gate);
  ck_assert_counter_reaches(&inits, 1);
  /* The late answer is dropped; the node answers the next request. */
  ck_assert_ok(acto_spawn_remote(a, "b", "worker", "next", 4, NULL, TU_WAIT_MS, &r));
  check_arg(a, r, "next");
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_malformed_request_is_answered_eproto_and_the_link_stays_up) {
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_ref svc;
  ck_assert_ok(acto_node_service(a, "b", &svc));
  acto_reply_buf rb;
  static const uint8_t junk[] = {0x93, 0x01, 0x02, 0x03};
  ck_assert_rc(acto__ask_sync(a, svc, ACTO_MSG_NODE_SPAWN, junk, sizeof junk, TU_WAIT_MS, &rb),
               ACTO_EPROTO);
  acto_ref r;
  ck_assert_ok(acto_spawn_remote(a, "b", "worker", "ok", 2, NULL, TU_WAIT_MS, &r));
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(b, &st));
  ck_assert_uint_eq(st.bad_frames, 0);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- from inside an actor -------------------------------------------------------------- */

static tu_counter outcomes;
static _Atomic long out_status = 1;
static acto_ref out_ref;
static uint64_t msg_ask_id;

static void spawned(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)ctx;
  (void)state;
  (void)user;
  acto_ref r = ACTO_REF_NONE;
  int rc = acto_spawn_remote_result(status, reply, &r);
  out_ref = r;
  atomic_store(&out_status, rc);
  tu_counter_add(&outcomes, 1);
}

static int asker_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)state;
  switch (m->type) {
  case T_GO: /* payload: the behaviour name */
  {
    char name[32] = {0};
    memcpy(name, m->data, m->size < 31 ? m->size : 31);
    int r =
        acto_spawn_remote_async(ctx, "b", name, "async", 5, NULL, TU_WAIT_MS, spawned, NULL, NULL);
    TU_EXPECT(r == 0, "spawn_remote_async: %s", acto_err_name(r));
    /* The plain-thread call refuses to block a worker. */
    acto_ref x;
    r = acto_spawn_remote(acto_ctx_system(ctx), "b", name, NULL, 0, NULL, 10, &x);
    TU_EXPECT(r == ACTO_EDEADLK, "spawn_remote on a worker: %s", acto_err_name(r));
    return 0;
  }
  case T_GO_MSG: {
    int r = acto_spawn_remote_async(ctx, "b", "worker", "msg", 3, NULL, TU_WAIT_MS, NULL, NULL,
                                    &msg_ask_id);
    TU_EXPECT(r == 0, "spawn_remote_async: %s", acto_err_name(r));
    return 0;
  }
  default:
    if (m->ask_id != 0 && m->ask_id == msg_ask_id) {
      acto_ref r = ACTO_REF_NONE;
      int rc = acto_spawn_remote_result(0, m, &r);
      out_ref = r;
      atomic_store(&out_status, rc);
      tu_counter_add(&outcomes, 1);
    }
    return 0;
  }
}

static const acto_behaviour ASKER = {.name = "asker", .handle = asker_handle};

START_TEST(the_async_form_answers_an_actor_by_continuation_or_message) {
  tu_counter_init(&outcomes);
  acto_system *a, *b;
  two_nodes(&a, &b);
  acto_ref asker;
  ck_assert_ok(acto_spawn(a, &ASKER, NULL, NULL, &asker));
  ck_assert_ok(acto_send(a, asker, T_GO, "worker", 6));
  ck_assert_counter_reaches(&outcomes, 1);
  ck_assert_int_eq(atomic_load(&out_status), 0);
  check_arg(a, out_ref, "async");
  ck_assert_ok(acto_send(a, asker, T_GO, "nobody", 6));
  ck_assert_counter_reaches(&outcomes, 2);
  ck_assert_int_eq(atomic_load(&out_status), ACTO_ENOENT);
  ck_assert_ok(acto_send(a, asker, T_GO_MSG, NULL, 0));
  ck_assert_counter_reaches(&outcomes, 3);
  ck_assert_int_eq(atomic_load(&out_status), 0);
  check_arg(a, out_ref, "msg");
  /* Outside an actor there is no ctx. */
  ck_assert_rc(acto_spawn_remote_async(NULL, "b", "worker", NULL, 0, NULL, 100, NULL, NULL, NULL),
               ACTO_EINVAL);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- the payload and ACTORS.md --------------------------------------------------------- */

START_TEST(the_payload_decoder_refuses_what_the_schema_does_not_allow) {
  acto__spawn_req q = {0}, d;
  q.behaviour = "worker";
  q.behaviour_len = 6;
  q.arg = "hi";
  q.arg_len = 2;
  acto__buf b = {0};
  ck_assert_ok(acto__spawn_encode(&b, &q));
  ck_assert_ok(acto__spawn_decode(b.p, b.len, &d));
  ck_assert_uint_eq(d.behaviour_len, 6);
  ck_assert(memcmp(d.behaviour, "worker", 6) == 0);
  ck_assert_uint_eq(d.arg_len, 2);
  ck_assert_ptr_null(d.name);
  /* Truncated, trailing byte. */
  ck_assert_rc(acto__spawn_decode(b.p, b.len - 1, &d), ACTO_EPROTO);
  uint8_t more[64];
  memcpy(more, b.p, b.len);
  more[b.len] = 0;
  ck_assert_rc(acto__spawn_decode(more, b.len + 1, &d), ACTO_EPROTO);
  acto__buf_free(&b);
  static const struct {
    const char *why;
    uint8_t bytes[24];
    size_t len;
  } bad[] = {
      {"five fields", {0x95, 0xa1, 'w', 0xc4, 0, 0xc0, 0, 0}, 7},
      {"behaviour empty", {0x96, 0xa0, 0xc4, 0, 0xc0, 0, 0, 0}, 8},
      {"behaviour a bin", {0x96, 0xc4, 1, 'w', 0xc4, 0, 0xc0, 0, 0, 0}, 10},
      {"arg a str", {0x96, 0xa1, 'w', 0xa0, 0xc0, 0, 0, 0}, 8},
      {"name empty", {0x96, 0xa1, 'w', 0xc4, 0, 0xa0, 0, 0, 0}, 9},
      {"name with NUL", {0x96, 0xa1, 'w', 0xc4, 0, 0xa1, 0, 0, 0, 0}, 10},
      {"capacity negative", {0x96, 0xa1, 'w', 0xc4, 0, 0xc0, 0xff, 0, 0}, 9},
      {"capacity over the max", {0x96, 0xa1, 'w', 0xc4, 0, 0xc0, 0xce, 0x40, 0, 0, 1, 0, 0}, 13},
      {"overflow 4", {0x96, 0xa1, 'w', 0xc4, 0, 0xc0, 0, 0, 4}, 9},
      {"a float", {0x96, 0xa1, 'w', 0xc4, 0, 0xc0, 0, 0xca, 0, 0, 0, 0, 0}, 13},
      {"nested array", {0x96, 0xa1, 'w', 0xc4, 0, 0x90, 0, 0, 0}, 9},
      {"a map", {0x81, 0xa1, 'w', 0}, 4},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(acto__spawn_decode(bad[i].bytes, bad[i].len, &d) == ACTO_EPROTO, "accepted: %s",
                  bad[i].why);
  ck_assert_rc(acto__spawn_decode(NULL, 0, &d), ACTO_EPROTO);
}
END_TEST

/* The example of ACTORS.md 13.5 "Remote spawn, byte by byte": alpha's
 * actor 0x0000000100000002 asks beta's node service (ask id 9) to spawn
 * "worker" with the argument "hi", registered as "w1"; beta's spawner
 * (actor 0x0000000100000001) answers with the ref of the new actor
 * 0x0000000200000007 on node 0xaf81e4c70000beef; a second request for
 * "nobody" (ask id 10) is answered ACTO_ENOENT (a failure has `from` 0). */
START_TEST(the_remote_spawn_example_in_actors_md_is_what_the_code_sends) {
  doc_frame doc[4];
  int ndoc = doc_blocks("\n##### Remote spawn, byte by byte\n", doc, 4);
  ck_assert_int_eq(ndoc, 3);
  acto__spawn_req q = {0};
  q.behaviour = "worker";
  q.behaviour_len = 6;
  q.arg = "hi";
  q.arg_len = 2;
  q.name = "w1";
  q.name_len = 2;
  acto__buf pl = {0}, b = {0};
  ck_assert_ok(acto__spawn_encode(&pl, &q));
  uint8_t pre[6];
  size_t pn = acto__wire_batch_prefix(pre, 1);
  ck_assert_ok(acto__buf_append(&b, pre, pn));
  ck_assert_ok(acto__wire_send(&b, UINT64_MAX, 0x0000000100000002ull, ACTO_MSG_NODE_SPAWN, 1, 9,
                               pl.p, pl.len));
  doc_check(&doc[0], "SPAWN", b.p, b.len);
  /* The page's request decodes to what was encoded. */
  acto__spawn_req d;
  ck_assert_ok(acto__spawn_decode(pl.p, pl.len, &d));
  ck_assert_uint_eq(d.name_len, 2);
  uint8_t ref16[16];
  uint64_t id = 0x0000000200000007ull, node = 0xaf81e4c70000beefull;
  for (int i = 0; i < 8; i++) {
    ref16[i] = (uint8_t)(id >> (8 * i));
    ref16[8 + i] = (uint8_t)(node >> (8 * i));
  }
  b.len = 0;
  ck_assert_ok(acto__buf_append(&b, pre, pn));
  ck_assert_ok(acto__wire_reply(&b, 0x0000000100000002ull, 9, 0, 0, ACTO_MSG_NODE_SPAWN,
                                0x0000000100000001ull, ref16, sizeof ref16));
  doc_check(&doc[1], "SPAWNED", b.p, b.len);
  acto_msg m = {.type = ACTO_MSG_NODE_SPAWN, .size = 16, .data = ref16};
  acto_ref r;
  ck_assert_ok(acto_spawn_remote_result(0, &m, &r));
  ck_assert_uint_eq(r.id, id);
  ck_assert_uint_eq(r.node, node);
  b.len = 0;
  ck_assert_ok(acto__buf_append(&b, pre, pn));
  ck_assert_ok(acto__wire_reply(&b, 0x0000000100000002ull, 10, 0, ACTO_ENOENT, 0, 0, NULL, 0));
  doc_check(&doc[2], "REFUSED", b.p, b.len);
  acto__buf_free(&pl);
  acto__buf_free(&b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("spawn_remote");
  TCase *tc = tu_tcase("api", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, register_checks_its_arguments_and_refuses_duplicates,
               spawn_remote_refuses_bad_arguments_with_einval,
               the_payload_decoder_refuses_what_the_schema_does_not_allow,
               the_remote_spawn_example_in_actors_md_is_what_the_code_sends);
  suite_add_tcase(s, tc);
  tc = tu_tcase("nodes", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, spawn_remote_starts_the_actor_there_with_the_argument_and_options,
               spawn_on_this_node_runs_through_the_spawner_too,
               unknown_behaviour_init_failure_and_ignore_have_their_codes,
               an_unknown_or_down_node_is_enotconn,
               a_node_that_does_not_answer_in_time_is_etimedout,
               a_malformed_request_is_answered_eproto_and_the_link_stays_up,
               the_async_form_answers_an_actor_by_continuation_or_message);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
