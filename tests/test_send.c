/* test_send.c - sending: the mailbox bounds and overflow policies seen
 * through acto_send / acto_send_ex, backpressure on plain threads and on
 * actor senders (parking), payload ownership and sizes, stale targets.
 *
 * The full-mailbox tests are deterministic: a probe actor is held inside
 * its handler (tu_probe_hold: a TU_MSG_GATE message, which counts towards
 * the capacity because "capacity counts user messages queued or being
 * handled"), the test fills the rest of the mailbox, checks the policy,
 * then opens the gate.
 */
#include "testutil.h"

enum { MSG_VALUE = 1, MSG_DATA, MSG_CONTINUE, MSG_PING, MSG_PONG, MSG_START };

static tu_probe g_probe;
static tu_dead g_dead;

static acto_system *setup_system(unsigned threads) {
  tu_probe_init(&g_probe);
  tu_dead_init(&g_dead);
  acto_system *sys = tu_system(threads);
  ck_assert_ok(acto_set_dead_letter_hook(sys, tu_dead_hook, &g_dead));
  return sys;
}

/* The values of the probe's MSG_VALUE records, in handling order. */
static int probe_values(uint64_t *out, int max) {
  int k = 0;
  int n = tu_probe_count(&g_probe);
  for (int i = 0; i < n && k < max; i++) {
    tu_rec r = tu_probe_rec(&g_probe, i);
    if (r.type == MSG_VALUE) out[k++] = r.value;
  }
  return k;
}

/* ---- fail ------------------------------------------------------------------ */

START_TEST(mailbox_full_with_fail_policy_returns_efull_and_queues_nothing) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 4, .overflow = ACTO_OVERFLOW_FAIL};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe); /* 1 of 4: being handled */

  for (uint64_t i = 1; i <= 3; i++) ck_assert_ok(tu_send_u64(sys, a, MSG_VALUE, i));
  ck_assert_rc(tu_send_u64(sys, a, MSG_VALUE, 100), ACTO_EFULL);
  ck_assert_rc(tu_send_u64(sys, a, MSG_VALUE, 101), ACTO_EFULL);
  tu_gate_open(&g_probe.gate);

  ck_assert_probe_reaches(&g_probe, 4);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 4);
  uint64_t v[8];
  ck_assert_int_eq(probe_values(v, 8), 3);
  for (int i = 0; i < 3; i++) ck_assert_uint_eq(v[i], (uint64_t)i + 1);
  tu_shutdown(sys);
}
END_TEST

START_TEST(fail_fast_send_option_returns_efull_on_a_block_policy_mailbox) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 2, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe);
  ck_assert_ok(tu_send_u64(sys, a, MSG_VALUE, 1));
  acto_send_opts so = {.fail_fast = 1, .deadline_ms = -1};
  uint64_t x = 2;

  int64_t t0 = tu_now_ms();
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, &x, sizeof x, &so), ACTO_EFULL);
  /* fail_fast must not wait for room: with deadline -1 a wait would hang. */
  ck_assert_int_lt(tu_now_ms() - t0, TU_WAIT_MS);

  /* Without the option the same mailbox applies its policy (block; here
   * with deadline 0: fail at once with ETIMEDOUT). */
  so.fail_fast = 0;
  so.deadline_ms = 0;
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, &x, sizeof x, &so), ACTO_ETIMEDOUT);
  tu_gate_open(&g_probe.gate);
  ck_assert_probe_reaches(&g_probe, 2);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 2);
  tu_shutdown(sys);
}
END_TEST

/* ---- drop_newest / drop_oldest ---------------------------------------------- */

START_TEST(mailbox_full_with_drop_newest_returns_ok_and_dead_letters_the_new_message) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 2, .overflow = ACTO_OVERFLOW_DROP_NEWEST};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe);
  ck_assert_ok(acto_send(sys, a, 101, NULL, 0)); /* fills the mailbox */
  char payload[40] = {0};

  ck_assert_ok(acto_send(sys, a, 102, payload, sizeof payload));
  ck_assert_ok(acto_send(sys, a, 103, payload, 8));

  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_DROP_NEWEST), 2);
  ck_assert_int_eq(tu_dead_matches(&g_dead, a, 102, ACTO_DEAD_DROP_NEWEST), 1);
  ck_assert_int_eq(tu_dead_matches(&g_dead, a, 103, ACTO_DEAD_DROP_NEWEST), 1);
  pthread_mutex_lock(&g_dead.mu);
  ck_assert_uint_eq(g_dead.log[0].size, sizeof payload);
  ck_assert_uint_eq(g_dead.log[1].size, 8);
  pthread_mutex_unlock(&g_dead.mu);
  acto_stats st = tu_stats(sys);
  ck_assert_uint_eq(st.dead_letters[ACTO_DEAD_DROP_NEWEST], 2);
  ck_assert_uint_eq(st.dead_letters_total, 2);

  tu_gate_open(&g_probe.gate);
  ck_assert_probe_reaches(&g_probe, 2);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 2);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, TU_MSG_GATE);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 1).type, 101);
  tu_shutdown(sys);
}
END_TEST

START_TEST(mailbox_full_with_drop_oldest_discards_the_oldest_queued_and_delivers_the_newest) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 3, .overflow = ACTO_OVERFLOW_DROP_OLDEST};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe); /* being handled: not "queued" */
  ck_assert_ok(acto_send(sys, a, 201, NULL, 0));
  ck_assert_ok(acto_send(sys, a, 202, NULL, 0)); /* full: 1 handled + 2 queued */

  ck_assert_ok(acto_send(sys, a, 203, NULL, 0)); /* drops 201 */
  ck_assert_ok(acto_send(sys, a, 204, NULL, 0)); /* drops 202 */

  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_DROP_OLDEST), 2);
  ck_assert_int_eq(tu_dead_matches(&g_dead, a, 201, ACTO_DEAD_DROP_OLDEST), 1);
  ck_assert_int_eq(tu_dead_matches(&g_dead, a, 202, ACTO_DEAD_DROP_OLDEST), 1);
  ck_assert_uint_eq(tu_stats(sys).dead_letters[ACTO_DEAD_DROP_OLDEST], 2);
  tu_gate_open(&g_probe.gate);
  ck_assert_probe_reaches(&g_probe, 3);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 3);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).type, TU_MSG_GATE);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 1).type, 203);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 2).type, 204);
  tu_shutdown(sys);
}
END_TEST

/* The stepper holds its worker in step i (message MSG_STEP, payload i)
 * until g_step_gate[i] opens. */
enum { MSG_STEP = 50, STEPS = 2 };
static tu_gate g_step_gate[STEPS];
static tu_counter g_step_entered[STEPS];

static int stepper_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state;
  if (msg->type != MSG_STEP) return 0;
  uint64_t i;
  memcpy(&i, msg->data, sizeof i);
  if (i >= STEPS) return 0;
  tu_counter_add(&g_step_entered[i], 1);
  TU_EXPECT(tu_gate_wait(&g_step_gate[i], TU_WAIT_MS), "step %" PRIu64 " gate never opened", i);
  return 0;
}

static const acto_behaviour stepper = {.name = "stepper", .handle = stepper_handle};

/* Capacity 3: step 0 (held), a value and step 1 fill it.  Once step 0 and
 * the value have been handled and step 1 is being handled, only step 1
 * counts: two more sends fit, the third finds the mailbox full.  Sends use
 * fail_fast so that a block-policy mailbox answers ACTO_EFULL too. */
static void capacity_release(acto_overflow policy) {
  for (int i = 0; i < STEPS; i++) {
    tu_gate_init(&g_step_gate[i]);
    tu_counter_init(&g_step_entered[i]);
  }
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 3, .overflow = policy};
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &stepper, NULL, &opts, &a));
  acto_send_opts ff = {.fail_fast = 1, .deadline_ms = -1};
  uint64_t v = 0;
  ck_assert_ok(tu_send_u64(sys, a, MSG_STEP, 0));
  ck_assert_counter_reaches(&g_step_entered[0], 1);
  ck_assert_ok(acto_send_ex(sys, a, MSG_VALUE, &v, sizeof v, &ff));
  ck_assert_ok(tu_send_u64(sys, a, MSG_STEP, 1)); /* 3 of 3 */
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, &v, sizeof v, &ff), ACTO_EFULL);

  tu_gate_open(&g_step_gate[0]);
  ck_assert_counter_reaches(&g_step_entered[1], 1);

  /* Step 0 and the value are done; only step 1 (being handled) counts. */
  ck_assert_ok(acto_send_ex(sys, a, MSG_VALUE, &v, sizeof v, &ff));
  ck_assert_ok(acto_send_ex(sys, a, MSG_VALUE, &v, sizeof v, &ff));
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, &v, sizeof v, &ff), ACTO_EFULL);
  tu_gate_open(&g_step_gate[1]);
  tu_shutdown(sys);
}

START_TEST(capacity_is_released_as_soon_as_each_message_has_been_handled) {
  capacity_release(ACTO_OVERFLOW_FAIL);
}
END_TEST

START_TEST(capacity_of_a_block_policy_mailbox_is_released_per_handled_message_too) {
  capacity_release(ACTO_OVERFLOW_BLOCK);
}
END_TEST

/* ---- block, plain-thread senders ----------------------------------------------- */

START_TEST(blocked_plain_thread_send_returns_etimedout_at_its_deadline) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 1}; /* block is the default policy */
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe);
  acto_send_opts so = {.deadline_ms = 50};
  uint64_t x = 1;

  int64_t t0 = tu_now_ns();
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, &x, sizeof x, &so), ACTO_ETIMEDOUT);
  int64_t waited_ms = (tu_now_ns() - t0) / 1000000;
  ck_assert_msg(waited_ms >= 49, "gave up after %" PRId64 " ms, deadline was 50 ms", waited_ms);

  so.deadline_ms = 0;
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, &x, sizeof x, &so), ACTO_ETIMEDOUT);
  tu_gate_open(&g_probe.gate);
  ck_assert_probe_reaches(&g_probe, 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1); /* timed-out sends queued nothing */
  tu_shutdown(sys);
}
END_TEST

typedef struct blocked_send {
  acto_system *sys;
  acto_ref to;
  uint64_t value;
  atomic_int rc;
  tu_counter done;
} blocked_send;

static void *blocked_send_thread(void *p) {
  blocked_send *b = p;
  atomic_store(&b->rc, tu_send_u64(b->sys, b->to, MSG_VALUE, b->value)); /* waits forever */
  tu_counter_add(&b->done, 1);
  return NULL;
}

START_TEST(blocked_plain_thread_send_completes_when_the_consumer_makes_room) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 1, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe);
  static blocked_send b;
  b.sys = sys;
  b.to = a;
  b.value = 77;
  atomic_store(&b.rc, -999);
  tu_counter_init(&b.done);
  pthread_t th;

  ck_assert_int_eq(pthread_create(&th, NULL, blocked_send_thread, &b), 0);
  tu_sleep_ms(50);
  ck_assert_msg(tu_counter_get(&b.done) == 0, "send to a full block mailbox did not wait (rc %d)",
                atomic_load(&b.rc));
  tu_gate_open(&g_probe.gate);

  ck_assert_counter_reaches(&b.done, 1);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_rc(atomic_load(&b.rc), 0);
  ck_assert_probe_reaches(&g_probe, 2);
  tu_rec r = tu_probe_rec(&g_probe, 1);
  ck_assert_uint_eq(r.type, MSG_VALUE);
  ck_assert_uint_eq(r.value, 77);
  tu_shutdown(sys);
}
END_TEST

/* ---- block, actor senders (parking) --------------------------------------------- */

/* The producer sends n sequenced messages in chunks: it stops a chunk when
 * a send returns ACTO_PARKED, sends itself MSG_CONTINUE and returns.  The
 * first time it is parked it opens g_parked_gate, which the consumer waits
 * on while handling message 0: so the mailbox is certain to fill and the
 * producer certain to park, with any number of workers. */
#define CHUNK 64

typedef struct flood_state {
  acto_ref to;
  uint64_t next, n;
} flood_state;

static tu_gate g_parked_gate;
static atomic_long g_parked_seen;
static atomic_long g_ticks;       /* ping-pongs of the ticker */
static atomic_long g_ticks_at_start; /* g_ticks at the producer's first turn, +1 */
static atomic_int g_ticker_stop;

static int flood_init(acto_ctx *ctx, void *state, const void *arg) {
  memcpy(state, arg, sizeof(flood_state));
  return acto_send(acto_ctx_system(ctx), acto_self(ctx), MSG_CONTINUE, NULL, 0);
}

static int flood_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  flood_state *s = state;
  acto_system *sys = acto_ctx_system(ctx);
  if (msg->type != MSG_CONTINUE) return 0;
  long zero = 0;
  atomic_compare_exchange_strong(&g_ticks_at_start, &zero, atomic_load(&g_ticks) + 1);
  for (int i = 0; i < CHUNK && s->next < s->n; i++) {
    int rc = tu_send_u64(sys, s->to, MSG_DATA, s->next);
    TU_EXPECT_SENT(rc);
    if (rc < 0) return 0; /* stop producing; the test reports the count */
    s->next++;
    if (rc == ACTO_PARKED) {
      if (atomic_fetch_add(&g_parked_seen, 1) == 0) tu_gate_open(&g_parked_gate);
      break;
    }
  }
  if (s->next < s->n) TU_EXPECT_SENT(acto_send(sys, acto_self(ctx), MSG_CONTINUE, NULL, 0));
  return 0;
}

static const acto_behaviour flood_producer = {.name = "flood_producer",
                                              .state_size = sizeof(flood_state),
                                              .init = flood_init,
                                              .handle = flood_handle};

typedef struct sink_state {
  uint64_t next;
} sink_state;

static uint64_t g_sink_n;
static tu_counter g_sink_done;
static atomic_long g_ticks_at_end;

static int sink_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx;
  sink_state *s = state;
  if (msg->type != MSG_DATA) return 0;
  uint64_t v;
  memcpy(&v, msg->data, sizeof v);
  if (s->next == 0)
    TU_EXPECT(tu_gate_wait(&g_parked_gate, TU_WAIT_MS), "the producer never parked");
  TU_EXPECT(v == s->next, "sink got %" PRIu64 ", expected %" PRIu64, v, s->next);
  s->next = v + 1;
  if (s->next == g_sink_n) {
    atomic_store(&g_ticks_at_end, atomic_load(&g_ticks));
    tu_counter_add(&g_sink_done, 1);
  }
  return 0;
}

static const acto_behaviour sink = {
    .name = "sink", .state_size = sizeof(sink_state), .handle = sink_handle};

static void flood(unsigned threads, int with_ticker);

START_TEST(parked_actor_sender_delivers_a_flood_completely_and_in_order) { flood(2, 0); }
END_TEST

/* The ticker ping-pongs with an echo actor for as long as the test runs;
 * with a single worker, it must keep advancing while a producer floods a
 * consumer and parks over and over. */
static int ticker_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  acto_ref *echo = state;
  if (msg->type == MSG_START) memcpy(echo, msg->data, sizeof *echo);
  else if (msg->type == MSG_PONG) atomic_fetch_add(&g_ticks, 1);
  if (!atomic_load(&g_ticker_stop))
    TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), *echo, MSG_PING, NULL, 0));
  return 0;
}

static int echo_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == MSG_PING)
    TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), acto_sender(ctx), MSG_PONG, NULL, 0));
  return 0;
}

static const acto_behaviour ticker = {
    .name = "ticker", .state_size = sizeof(acto_ref), .handle = ticker_handle};
static const acto_behaviour echo = {.name = "echo", .handle = echo_handle};

typedef struct ticks_arg {
  long want;
} ticks_arg;

static int ticks_reached(void *p) { return atomic_load(&g_ticks) >= ((ticks_arg *)p)->want; }

static void flood(unsigned threads, int with_ticker) {
  tu_gate_init(&g_parked_gate);
  tu_counter_init(&g_sink_done);
  acto_system *sys = setup_system(threads);
  g_sink_n = TU_N(20000, 10000, 5000);
  if (with_ticker) {
    acto_ref t = ACTO_REF_NONE, e = ACTO_REF_NONE;
    ck_assert_ok(acto_spawn(sys, &ticker, NULL, NULL, &t));
    ck_assert_ok(acto_spawn(sys, &echo, NULL, NULL, &e));
    ck_assert_ok(acto_send(sys, t, MSG_START, &e, sizeof e));
    ticks_arg want = {1};
    ck_assert_msg(tu_wait_until(ticks_reached, &want, TU_WAIT_MS), "the ticker never ticked");
  }
  acto_spawn_opts opts = {.capacity = 4, .overflow = ACTO_OVERFLOW_BLOCK};
  acto_ref consumer = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &sink, NULL, &opts, &consumer));
  flood_state arg = {consumer, 0, g_sink_n};
  acto_ref prod = ACTO_REF_NONE;

  ck_assert_ok(acto_spawn(sys, &flood_producer, &arg, NULL, &prod));

  ck_assert_counter_reaches(&g_sink_done, 1);
  tu_assert_no_expect_failures();
  acto_stats st = tu_stats(sys);
  ck_assert_msg(st.parks > 0, "stats.parks is 0 although the producer was parked %ld times",
                atomic_load(&g_parked_seen));
  ck_assert_int_gt(atomic_load(&g_parked_seen), 0);
  for (int i = 0; i < ACTO_DEAD_REASON_COUNT; i++)
    ck_assert_msg(st.dead_letters[i] == 0, "dead_letters[%d] = %" PRIu64, i, st.dead_letters[i]);
  if (with_ticker) {
    long during = atomic_load(&g_ticks_at_end) - (atomic_load(&g_ticks_at_start) - 1);
    ck_assert_msg(during >= 10, "the ticker advanced %ld times during a flood of %" PRIu64
                  " messages parked %ld times", during, g_sink_n, atomic_load(&g_parked_seen));
    atomic_store(&g_ticker_stop, 1);
  }
  tu_shutdown(sys);
}

START_TEST(parked_producer_does_not_starve_other_actors_on_a_single_worker) { flood(1, 1); }
END_TEST

/* ---- stale targets, payload ownership and size -------------------------------- */

START_TEST(send_to_a_stopped_actor_returns_estale) {
  acto_system *sys = setup_system(2);
  acto_ref a = tu_spawn_probe(sys, &g_probe, NULL);
  ck_assert_ok(acto_stop(sys, a));
  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_becomes_dead(sys, a);
  char big[4096] = {0};
  acto_send_opts so = {.deadline_ms = -1};

  ck_assert_rc(acto_send(sys, a, MSG_VALUE, NULL, 0), ACTO_ESTALE);
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, big, sizeof big), ACTO_ESTALE);
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, big, 8, &so), ACTO_ESTALE);

  ck_assert_uint_eq(tu_stats(sys).dead_letters[ACTO_DEAD_STALE], 3);
  ck_assert_int_eq(tu_dead_matches(&g_dead, a, MSG_VALUE, ACTO_DEAD_STALE), 3);
  tu_shutdown(sys);
}
END_TEST

/* A payload handed over with acto_send_ex: records every free. */
typedef struct owned {
  uint32_t magic;
  uint32_t len;
  unsigned char bytes[];
} owned;

static tu_counter g_frees;
static atomic_int g_bad_frees;

static void owned_free(void *data) {
  owned *o = data;
  if (o == NULL || o->magic != 0x0ddba11u) atomic_fetch_add(&g_bad_frees, 1);
  else o->magic = 0xdeadu;
  free(o);
  tu_counter_add(&g_frees, 1);
}

static owned *owned_new(uint32_t len) {
  owned *o = malloc(sizeof *o + len);
  ck_assert_ptr_nonnull(o);
  o->magic = 0x0ddba11u;
  o->len = len;
  for (uint32_t i = 0; i < len; i++) o->bytes[i] = (unsigned char)(i * 31u + 7u);
  return o;
}

static tu_counter g_intact;
static atomic_int g_corrupt;

static int check_owned_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx, (void)state;
  const owned *o = msg->data;
  int ok = msg->size >= sizeof *o && o->magic == 0x0ddba11u && msg->size == sizeof *o + o->len;
  for (uint32_t i = 0; ok && i < o->len; i++) ok = o->bytes[i] == (unsigned char)(i * 31u + 7u);
  if (ok) tu_counter_add(&g_intact, 1);
  else atomic_fetch_add(&g_corrupt, 1);
  return 0;
}

static const acto_behaviour check_owned = {.name = "check_owned", .handle = check_owned_handle};

START_TEST(handed_over_payload_is_freed_exactly_once_after_delivery) {
  tu_counter_init(&g_frees);
  tu_counter_init(&g_intact);
  acto_system *sys = setup_system(2);
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &check_owned, NULL, NULL, &a));
  acto_send_opts so = {.deadline_ms = -1, .free_fn = owned_free};
  const uint32_t lens[] = {8, 1000, 100000};

  for (int i = 0; i < 3; i++) {
    owned *o = owned_new(lens[i]);
    ck_assert_ok(acto_send_ex(sys, a, MSG_VALUE, o, sizeof *o + lens[i], &so));
  }

  ck_assert_counter_reaches(&g_intact, 3);
  ck_assert_counter_reaches(&g_frees, 3);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_frees), 3);
  ck_assert_int_eq(atomic_load(&g_bad_frees), 0);
  ck_assert_int_eq(atomic_load(&g_corrupt), 0);
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_frees), 3);
}
END_TEST

START_TEST(handed_over_payload_is_freed_exactly_once_when_the_send_fails) {
  tu_counter_init(&g_frees);
  acto_system *sys = setup_system(2);
  acto_spawn_opts small = {.capacity = 1, .max_bytes = 64, .overflow = ACTO_OVERFLOW_FAIL};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &small);
  acto_ref gone = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &check_owned, NULL, NULL, &gone));
  ck_assert_ok(acto_stop(sys, gone));
  ck_assert_becomes_dead(sys, gone);
  acto_send_opts so = {.deadline_ms = -1, .free_fn = owned_free};
  long expected = 0;

  /* stale target */
  ck_assert_rc(acto_send_ex(sys, gone, MSG_VALUE, owned_new(8), sizeof(owned) + 8, &so),
               ACTO_ESTALE);
  ck_assert_counter_reaches(&g_frees, ++expected);
  /* larger than the byte budget */
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, owned_new(100), sizeof(owned) + 100, &so),
               ACTO_ETOOBIG);
  ck_assert_counter_reaches(&g_frees, ++expected);
  /* reserved type */
  ck_assert_rc(acto_send_ex(sys, a, ACTO_MSG_RESERVED, owned_new(8), sizeof(owned) + 8, &so),
               ACTO_EINVAL);
  ck_assert_counter_reaches(&g_frees, ++expected);
  /* full mailbox, fail policy */
  tu_probe_hold(sys, a, &g_probe);
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, owned_new(8), sizeof(owned) + 8, &so), ACTO_EFULL);
  ck_assert_counter_reaches(&g_frees, ++expected);
  /* full mailbox, fail-fast override */
  so.fail_fast = 1;
  ck_assert_rc(acto_send_ex(sys, a, MSG_VALUE, owned_new(8), sizeof(owned) + 8, &so), ACTO_EFULL);
  ck_assert_counter_reaches(&g_frees, ++expected);

  tu_sleep_ms(20);
  ck_assert_int_eq(tu_counter_get(&g_frees), expected);
  ck_assert_int_eq(atomic_load(&g_bad_frees), 0);
  tu_gate_open(&g_probe.gate);
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_frees), expected);
}
END_TEST

START_TEST(handed_over_payload_dropped_by_policy_is_freed_exactly_once) {
  tu_counter_init(&g_frees);
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 1, .overflow = ACTO_OVERFLOW_DROP_NEWEST};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe);
  acto_send_opts so = {.deadline_ms = -1, .free_fn = owned_free};

  ck_assert_ok(acto_send_ex(sys, a, MSG_VALUE, owned_new(16), sizeof(owned) + 16, &so));

  ck_assert_counter_reaches(&g_frees, 1);
  ck_assert_int_eq(tu_dead_count(&g_dead, ACTO_DEAD_DROP_NEWEST), 1);
  tu_gate_open(&g_probe.gate);
  tu_shutdown(sys);
  ck_assert_int_eq(tu_counter_get(&g_frees), 1);
  ck_assert_int_eq(atomic_load(&g_bad_frees), 0);
}
END_TEST

START_TEST(one_mebibyte_payload_arrives_intact_copied_or_handed_over) {
  tu_counter_init(&g_frees);
  tu_counter_init(&g_intact);
  acto_system *sys = setup_system(2);
  acto_ref a = ACTO_REF_NONE;
  ck_assert_ok(acto_spawn(sys, &check_owned, NULL, NULL, &a));
  const uint32_t len = 1u << 20;

  owned *copied = owned_new(len);
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, copied, sizeof *copied + len));
  memset(copied, 0, sizeof *copied + len); /* the copy must not depend on it */
  free(copied);
  acto_send_opts so = {.deadline_ms = -1, .free_fn = owned_free};
  ck_assert_ok(acto_send_ex(sys, a, MSG_VALUE, owned_new(len), sizeof(owned) + len, &so));

  ck_assert_counter_reaches(&g_intact, 2);
  ck_assert_counter_reaches(&g_frees, 1);
  ck_assert_int_eq(atomic_load(&g_corrupt), 0);
  tu_shutdown(sys);
}
END_TEST

START_TEST(payload_over_the_byte_budget_returns_etoobig) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.max_bytes = 1024};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  static char buf[2048];

  ck_assert_rc(acto_send(sys, a, MSG_VALUE, buf, 1025), ACTO_ETOOBIG);
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, buf, sizeof buf), ACTO_ETOOBIG);
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, buf, 1024)); /* exactly the budget fits */

  ck_assert_probe_reaches(&g_probe, 1);
  tu_sleep_ms(20);
  ck_assert_int_eq(tu_probe_count(&g_probe), 1);
  ck_assert_uint_eq(tu_probe_rec(&g_probe, 0).size, 1024);
  tu_shutdown(sys);
}
END_TEST

START_TEST(byte_budget_counts_queued_payloads_and_a_full_budget_applies_the_policy) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.max_bytes = 1000, .overflow = ACTO_OVERFLOW_FAIL};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  static char buf[400];
  tu_probe_hold(sys, a, &g_probe);

  ck_assert_ok(acto_send(sys, a, MSG_VALUE, buf, sizeof buf));
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, buf, sizeof buf));
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, buf, sizeof buf), ACTO_EFULL); /* 1200 > 1000 */
  ck_assert_ok(acto_send(sys, a, MSG_VALUE, buf, 200));                    /* 1000 fits */

  tu_gate_open(&g_probe.gate);
  ck_assert_probe_reaches(&g_probe, 4);
  tu_shutdown(sys);
}
END_TEST

START_TEST(stop_is_accepted_by_a_full_mailbox) {
  acto_system *sys = setup_system(2);
  acto_spawn_opts opts = {.capacity = 1, .overflow = ACTO_OVERFLOW_FAIL};
  acto_ref a = tu_spawn_probe(sys, &g_probe, &opts);
  tu_probe_hold(sys, a, &g_probe);
  ck_assert_rc(acto_send(sys, a, MSG_VALUE, NULL, 0), ACTO_EFULL);

  ck_assert_ok(acto_stop(sys, a)); /* the system lane is never refused */
  tu_gate_open(&g_probe.gate);

  ck_assert_counter_reaches(&g_probe.terminated, 1);
  ck_assert_becomes_dead(sys, a);
  tu_shutdown(sys);
}
END_TEST

int main(void) {
  Suite *s = suite_create("send");
  TCase *tc = tu_tcase("policies", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, mailbox_full_with_fail_policy_returns_efull_and_queues_nothing,
               capacity_is_released_as_soon_as_each_message_has_been_handled,
               capacity_of_a_block_policy_mailbox_is_released_per_handled_message_too,
               fail_fast_send_option_returns_efull_on_a_block_policy_mailbox,
               mailbox_full_with_drop_newest_returns_ok_and_dead_letters_the_new_message);
  tcase_add_test(tc,
                 mailbox_full_with_drop_oldest_discards_the_oldest_queued_and_delivers_the_newest);
  tu_add_tests(tc, blocked_plain_thread_send_returns_etimedout_at_its_deadline,
               blocked_plain_thread_send_completes_when_the_consumer_makes_room,
               stop_is_accepted_by_a_full_mailbox);
  suite_add_tcase(s, tc);

  tc = tu_tcase("parking", 60);
  tu_add_tests(tc, parked_actor_sender_delivers_a_flood_completely_and_in_order,
               parked_producer_does_not_starve_other_actors_on_a_single_worker);
  suite_add_tcase(s, tc);

  tc = tu_tcase("payloads", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, send_to_a_stopped_actor_returns_estale,
               handed_over_payload_is_freed_exactly_once_after_delivery,
               handed_over_payload_is_freed_exactly_once_when_the_send_fails,
               handed_over_payload_dropped_by_policy_is_freed_exactly_once,
               one_mebibyte_payload_arrives_intact_copied_or_handed_over,
               payload_over_the_byte_budget_returns_etoobig,
               byte_budget_counts_queued_payloads_and_a_full_budget_applies_the_policy);
  suite_add_tcase(s, tc);

  return tu_run(s);
}
