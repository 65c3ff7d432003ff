/* test_samples.c - the small samples' actors (samples/pipeline,
 * samples/hello, samples/account) and the echo service of tools/acto_node,
 * fed what their protocols do not expect.
 *
 * ACTORS.md 3.2: a handler must check `size` before it reads `data`, and
 * answers with acto_reply only a message that is a request
 * (ACTO_MSG_FLAG_REQUEST).  What is specified here, per behaviour: a
 * payload of the wrong size (NULL, short, long), a text that is not
 * NUL-terminated, a plain send of a request's type, an unknown type and a
 * reply that does not fit never crash the process and never corrupt the
 * actor's state; each sample does what its source says it does with them
 * (ignore them, or fail with ACTO_EINVAL where its design wants the
 * failure seen), and the actor still does its job afterwards.
 *
 * The samples are compiled into this test with their main() renamed, so
 * the tests spawn their behaviours directly.  Every system here is
 * deterministic (ACTORS.md 3.15): acto_system_run(-1) returns once nothing
 * can run and no timer is left, and a blocking acto_ask drives the system
 * on this thread, so "nothing happened" is a fact after the run, not a
 * guess after a sleep.
 */
#include <ftw.h>
#include <semaphore.h>
#include <sys/stat.h>

#include "testutil.h"

/* check.h defines a fail() macro; pipeline.c and hello.c have their own. */
#undef fail

#define main pipeline_main
#define fail pipeline_fail
#include "../samples/pipeline/pipeline.c"
#undef fail
#undef main

#define main hello_main
#define fail hello_fail
#include "../samples/hello/hello.c"
#undef fail
#undef main

#define main account_main
#include "../samples/account/account.c"
#undef main

#define main acto_node_main
#include "../tools/acto_node.c"
#undef main

/* ---- helpers -------------------------------------------------------------------- */

static acto_system *det_system(void) { return tu_det_system(8); }

static acto_ref spawn_named(acto_system *sys, const acto_behaviour *b, const void *arg,
                            const char *name) {
  acto_ref r;
  acto_spawn_opts o = {.name = name};
  ck_assert_ok(acto_spawn(sys, b, arg, name ? &o : NULL, &r));
  return r;
}

/* Runs until nothing can run and no timer is left. */
static void run_all(acto_system *sys) { ck_assert_int_ge(acto_system_run(sys, -1), 0); }

static int sem_count(sem_t *s) {
  int v = -1;
  ck_assert_int_eq(sem_getvalue(s, &v), 0);
  return v;
}

/* An ask whose reply must be exactly `size` bytes of type `type`. */
static void ask_exact(acto_system *sys, acto_ref to, uint32_t type, const void *data,
                      size_t size, uint32_t reply_type, void *out, size_t out_size) {
  acto_reply_buf r;
  ck_assert_ok(acto_ask(sys, to, type, data, size, 1000, &r));
  ck_assert_uint_eq(r.type, reply_type);
  ck_assert_uint_eq(r.size, out_size);
  if (out_size) memcpy(out, r.data, out_size);
  acto_reply_release(&r);
}

static void ask_fails(acto_system *sys, acto_ref to, uint32_t type, const void *data, size_t size,
                      int want) {
  acto_reply_buf r;
  ck_assert_rc(acto_ask(sys, to, type, data, size, 1000, &r), want);
}

/* ---- samples/pipeline ------------------------------------------------------------ */

START_TEST(pipeline_sink_ignores_items_of_the_wrong_size_and_answers_only_asks) {
  acto_system *sys = det_system();
  acto_ref s = spawn_named(sys, &sink, NULL, NULL);
  uint64_t v = 5, big[2] = {100, 100};
  uint32_t small = 100;
  ck_assert_ok(acto_send(sys, s, ITEM, NULL, 0));
  ck_assert_ok(acto_send(sys, s, ITEM, &small, sizeof small));
  ck_assert_ok(acto_send(sys, s, ITEM, big, sizeof big));
  ck_assert_ok(acto_send(sys, s, GET, NULL, 0)); /* not an ask: nobody to answer */
  ck_assert_ok(acto_send(sys, s, 999, "x", 1));
  ck_assert_ok(acto_send(sys, s, ITEM, &v, sizeof v));
  /* An ask of a plain type, or carrying a short item, is not answered. */
  ask_fails(sys, s, ITEM, &small, sizeof small, ACTO_ENOREPLY);
  ask_fails(sys, s, 999, NULL, 0, ACTO_ENOREPLY);
  v = 7;
  ck_assert_ok(acto_send(sys, s, ITEM, &v, sizeof v));
  totals t;
  ask_exact(sys, s, GET, NULL, 0, TOTALS, &t, sizeof t);
  ck_assert_uint_eq(t.count, 2);
  ck_assert_uint_eq(t.sum, 12);
  tu_shutdown(sys);
}
END_TEST

START_TEST(pipeline_producer_takes_continue_and_finish_only_from_itself) {
  acto_system *sys = det_system();
  job jb;
  memset(&jb, 0, sizeof jb);
  ck_assert_int_eq(sem_init(&jb.done, 0, 0), 0);
  acto_spawn_opts so = {
      .name = "sink", .capacity = SINK_CAPACITY, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_ref s, p;
  ck_assert_ok(acto_spawn(sys, &sink, NULL, &so, &s));
  ck_assert_ok(acto_spawn(sys, &producer, &jb, NULL, &p));
  /* Queued behind the producer's own first CONTINUE: a FINISH would ask
   * the sink after one chunk, a CONTINUE start a second chain (two
   * FINISHes, two outcomes), a plain PROGRESS fail the producer. */
  ck_assert_ok(acto_send(sys, p, FINISH, NULL, 0));
  ck_assert_ok(acto_send(sys, p, CONTINUE, NULL, 0));
  ck_assert_ok(acto_send(sys, p, PROGRESS, NULL, 0));
  ck_assert_ok(acto_send(sys, p, 999, NULL, 0));
  run_all(sys);
  ck_assert_int_eq(sem_count(&jb.done), 1); /* one outcome: the job's own */
  ck_assert_msg(jb.status == 0, "the job ended with %s", tu_name(jb.status));
  ck_assert_uint_eq(jb.seen.count, ITEMS);
  ck_assert_uint_eq(jb.seen.sum, (uint64_t)ITEMS * (ITEMS + 1) / 2);
  uint64_t sent = 0;
  ask_exact(sys, p, PROGRESS, NULL, 0, PROGRESS, &sent, sizeof sent);
  ck_assert_uint_eq(sent, ITEMS);
  tu_shutdown(sys);
  sem_destroy(&jb.done);
}
END_TEST

/* A sink whose answer to GET is empty: the final ask's reply does not fit. */
static int empty_sink_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == GET && (msg->flags & ACTO_MSG_FLAG_REQUEST))
    return acto_reply(ctx, TOTALS, NULL, 0);
  return 0;
}
static const acto_behaviour empty_sink = {.name = "empty_sink", .handle = empty_sink_handle};

START_TEST(pipeline_producer_refuses_to_start_without_its_job) {
  acto_system *sys = det_system();
  acto_spawn_opts so = {.name = "sink"};
  acto_ref s, p;
  ck_assert_ok(acto_spawn(sys, &sink, NULL, &so, &s));
  ck_assert_rc(acto_spawn(sys, &producer, NULL, NULL, &p), ACTO_EINIT);
  run_all(sys);
  tu_shutdown(sys);
}
END_TEST

START_TEST(pipeline_producer_ends_the_job_with_einval_when_the_totals_do_not_fit) {
  acto_system *sys = det_system();
  job jb;
  memset(&jb, 0, sizeof jb);
  ck_assert_int_eq(sem_init(&jb.done, 0, 0), 0);
  spawn_named(sys, &empty_sink, NULL, "sink");
  spawn_named(sys, &producer, &jb, NULL);
  run_all(sys);
  ck_assert_int_eq(sem_count(&jb.done), 1);
  ck_assert_rc(jb.status, ACTO_EINVAL);
  tu_shutdown(sys);
  sem_destroy(&jb.done);
}
END_TEST

/* A producer whose answers to PROGRESS are, in turn: empty, 3 bytes, a
 * uint64_t 42. */
static int odd_producer_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  int *n = state;
  uint64_t v = 42;
  if (msg->type != PROGRESS || !(msg->flags & ACTO_MSG_FLAG_REQUEST)) return 0;
  switch ((*n)++) {
  case 0: return acto_reply(ctx, PROGRESS, NULL, 0);
  case 1: return acto_reply(ctx, PROGRESS, "abc", 3);
  default: return acto_reply(ctx, PROGRESS, &v, sizeof v);
  }
}
static const acto_behaviour odd_producer = {
    .name = "odd_producer", .state_size = sizeof(int), .handle = odd_producer_handle};

START_TEST(pipeline_reporter_counts_a_reply_that_does_not_fit_as_a_failed_ask) {
  acto_system *sys = det_system();
  spawn_named(sys, &odd_producer, NULL, "producer");
  acto_ref rep = spawn_named(sys, &reporter, NULL, NULL);
  ck_assert_ok(acto_send(sys, rep, REPORT, NULL, 0)); /* not an ask */
  ck_assert_ok(acto_send(sys, rep, 999, "x", 1));
  for (int i = 0; i < 3; i++) { /* each tick's ask ends before the next tick */
    ck_assert_ok(acto_send(sys, rep, TICK, NULL, 0));
    run_all(sys);
  }
  report r;
  ask_exact(sys, rep, REPORT, NULL, 0, REPORT, &r, sizeof r);
  ck_assert_uint_eq(r.ticks, 3);
  ck_assert_uint_eq(r.failed, 2);
  ck_assert_uint_eq(r.samples, 1);
  ck_assert_uint_eq(r.last, 42);
  ck_assert_uint_eq(r.timeouts, 0);
  tu_shutdown(sys);
}
END_TEST

/* ---- samples/hello --------------------------------------------------------------- */

/* Spawns a hello client named `name` and runs the system until it is done. */
static void run_client(acto_system *sys, client_result *res, sem_t *done, const char *name) {
  memset(res, 0, sizeof *res);
  res->name = name;
  res->done = done;
  spawn_named(sys, &client, res, NULL);
  run_all(sys);
  ck_assert_msg(sem_count(done) == 1, "the client %s did not stop", name);
  ck_assert_int_eq(sem_trywait(done), 0);
}

START_TEST(hello_greeter_ignores_malformed_messages_and_senders_it_cannot_answer) {
  acto_system *sys = det_system();
  acto_ref g = spawn_named(sys, &greeter, NULL, "greeter");
  char longname[100];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  int round = 1;
  ck_assert_ok(acto_send(sys, g, HELLO, NULL, 0));
  ck_assert_ok(acto_send(sys, g, HELLO, "abc", 3));                   /* no NUL */
  ck_assert_ok(acto_send(sys, g, HELLO, longname, sizeof longname)); /* too long */
  ck_assert_ok(acto_send(sys, g, HELLO, "bob", 4));      /* from a plain thread */
  ck_assert_ok(acto_send(sys, g, PING, &round, sizeof round)); /* likewise */
  ck_assert_ok(acto_send(sys, g, PING, "x", 1));
  ck_assert_ok(acto_send(sys, g, PONG, NULL, 0));
  ask_fails(sys, g, HELLO, "carol", 6, ACTO_ENOREPLY); /* answered by message, not reply */
  run_all(sys);
  ck_assert_int_eq(acto_alive(sys, g), 1);
  /* And a client still gets its greeting and its rounds. */
  sem_t done;
  client_result res;
  ck_assert_int_eq(sem_init(&done, 0, 0), 0);
  run_client(sys, &res, &done, "alice");
  ck_assert_msg(res.reason == 0, "the client stopped with %s", tu_name(res.reason));
  ck_assert_str_eq(res.greeting, "hello, alice!");
  ck_assert_uint_eq(res.messages, 2 * ROUNDS + 2);
  tu_shutdown(sys);
  sem_destroy(&done);
}
END_TEST

START_TEST(hello_client_refuses_to_start_without_its_result_slot) {
  acto_system *sys = det_system();
  spawn_named(sys, &greeter, NULL, "greeter");
  client_result res;
  memset(&res, 0, sizeof res); /* no name, no semaphore */
  acto_ref c;
  ck_assert_rc(acto_spawn(sys, &client, NULL, NULL, &c), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &client, &res, NULL, &c), ACTO_EINIT);
  run_all(sys);
  tu_shutdown(sys);
}
END_TEST

/* A greeter that answers wrongly, in the way given as its init arg. */
enum { BAD_EMPTY_GREETING, BAD_UNTERMINATED_GREETING, BAD_TWO_GREETINGS, BAD_EMPTY_PONG,
       BAD_ROUND, BAD__COUNT };
static int bad_greeter_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  memcpy(state, arg, sizeof(int));
  return 0;
}
static int bad_greeter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  int way = *(int *)state, round = 7;
  acto_system *sys = acto_ctx_system(ctx);
  acto_ref to = acto_sender(ctx);
  if (msg->type == HELLO && way == BAD_EMPTY_GREETING) {
    TU_EXPECT_SENT(acto_send(sys, to, GREETING, NULL, 0));
  } else if (msg->type == HELLO && way == BAD_UNTERMINATED_GREETING) {
    TU_EXPECT_SENT(acto_send(sys, to, GREETING, "hi", 2));
  } else if (msg->type == HELLO) {
    TU_EXPECT_SENT(acto_send(sys, to, GREETING, "hi", 3));
    if (way == BAD_TWO_GREETINGS) TU_EXPECT_SENT(acto_send(sys, to, GREETING, "hi", 3));
  } else if (msg->type == PING && way == BAD_EMPTY_PONG) {
    TU_EXPECT_SENT(acto_send(sys, to, PONG, NULL, 0));
  } else if (msg->type == PING && way == BAD_ROUND) {
    TU_EXPECT_SENT(acto_send(sys, to, PONG, &round, sizeof round));
  }
  return 0;
}
static const acto_behaviour bad_greeter = {.name = "bad_greeter",
                                           .state_size = sizeof(int),
                                           .init = bad_greeter_init,
                                           .handle = bad_greeter_handle};

START_TEST(hello_client_fails_with_einval_on_an_answer_that_does_not_fit_its_script) {
  sem_t done;
  ck_assert_int_eq(sem_init(&done, 0, 0), 0);
  for (int way = 0; way < BAD__COUNT; way++) {
    acto_system *sys = det_system();
    spawn_named(sys, &bad_greeter, &way, "greeter");
    client_result res;
    run_client(sys, &res, &done, "alice");
    ck_assert_msg(res.reason == ACTO_EINVAL, "way %d: the client stopped with %s", way,
                  tu_name(res.reason));
    tu_shutdown(sys);
  }
  /* START comes from the client itself; from anyone else it would start
   * the script a second time. */
  acto_system *sys = det_system();
  spawn_named(sys, &greeter, NULL, "greeter");
  client_result res = {.name = "alice", .done = &done};
  acto_ref c = spawn_named(sys, &client, &res, NULL);
  ck_assert_ok(acto_send(sys, c, START, NULL, 0)); /* behind its own START */
  run_all(sys);
  ck_assert_int_eq(sem_count(&done), 1);
  ck_assert_msg(res.reason == ACTO_EINVAL, "the client stopped with %s", tu_name(res.reason));
  tu_shutdown(sys);
  sem_destroy(&done);
}
END_TEST

/* ---- samples/account ------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(p);
}

START_TEST(account_journals_only_whole_deposits_and_answers_only_asks) {
  char base[64], dir[96];
  snprintf(base, sizeof base, "/tmp/acto_samples_test.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(base));
  snprintf(dir, sizeof dir, "%s/account.journal", base);
  acto_system *sys = det_system();
  acto_ref a = spawn_named(sys, &account_b, dir, NULL);
  int64_t five = 5, ten = 10, one = 1, balance = 0, pair[2] = {1000, 1000};
  int32_t small = 1000;
  ck_assert_ok(acto_send(sys, a, DEPOSIT, &five, sizeof five)); /* applied, not answered */
  ck_assert_ok(acto_send(sys, a, DEPOSIT, NULL, 0));
  ck_assert_ok(acto_send(sys, a, DEPOSIT, &small, sizeof small));
  ck_assert_ok(acto_send(sys, a, DEPOSIT, pair, sizeof pair));
  ck_assert_ok(acto_send(sys, a, 2, &ten, sizeof ten));
  ask_fails(sys, a, DEPOSIT, &small, sizeof small, ACTO_ENOREPLY);
  ask_fails(sys, a, 2, &ten, sizeof ten, ACTO_ENOREPLY);
  ask_exact(sys, a, DEPOSIT, &ten, sizeof ten, DEPOSIT, &balance, sizeof balance);
  ck_assert_int_eq(balance, 15);
  tu_shutdown(sys);
  /* The journal holds the two whole deposits and nothing else. */
  sys = det_system();
  a = spawn_named(sys, &account_b, dir, NULL);
  ask_exact(sys, a, DEPOSIT, &one, sizeof one, DEPOSIT, &balance, sizeof balance);
  ck_assert_int_eq(balance, 16);
  tu_shutdown(sys);
  nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

/* ---- tools/acto_node.c ----------------------------------------------------------- */

START_TEST(acto_node_echo_counts_plain_messages_of_any_type_and_answers_every_request) {
  acto_system *sys = det_system();
  acto_ref e = spawn_named(sys, &ECHO, NULL, NULL);
  ck_assert_ok(acto_send(sys, e, 99, NULL, 0)); /* a plain 99 is a plain message */
  ck_assert_ok(acto_send(sys, e, 99, "x", 1));
  ck_assert_ok(acto_send(sys, e, 5, "abc", 3));
  ck_assert_ok(acto_send(sys, e, 6, NULL, 0));
  uint64_t count = 0;
  ask_exact(sys, e, 99, NULL, 0, 99, &count, sizeof count);
  ck_assert_uint_eq(count, 4);
  char text[3];
  ask_exact(sys, e, 5, "abc", 3, 5, text, sizeof text);
  ck_assert_int_eq(memcmp(text, "abc", 3), 0);
  ask_exact(sys, e, 6, NULL, 0, 6, NULL, 0);
  ask_exact(sys, e, 99, "ignored", 7, 99, &count, sizeof count);
  ck_assert_uint_eq(count, 4);
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("samples");
  TCase *tc = tu_tcase("pipeline", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, pipeline_sink_ignores_items_of_the_wrong_size_and_answers_only_asks,
               pipeline_producer_takes_continue_and_finish_only_from_itself,
               pipeline_producer_refuses_to_start_without_its_job,
               pipeline_producer_ends_the_job_with_einval_when_the_totals_do_not_fit,
               pipeline_reporter_counts_a_reply_that_does_not_fit_as_a_failed_ask);
  suite_add_tcase(s, tc);
  tc = tu_tcase("hello", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, hello_greeter_ignores_malformed_messages_and_senders_it_cannot_answer,
               hello_client_fails_with_einval_on_an_answer_that_does_not_fit_its_script,
               hello_client_refuses_to_start_without_its_result_slot);
  suite_add_tcase(s, tc);
  tc = tu_tcase("account", TU_TCASE_TIMEOUT);
  tcase_add_test(tc, account_journals_only_whole_deposits_and_answers_only_asks);
  suite_add_tcase(s, tc);
  tc = tu_tcase("acto_node", TU_TCASE_TIMEOUT);
  tcase_add_test(tc, acto_node_echo_counts_plain_messages_of_any_type_and_answers_every_request);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
