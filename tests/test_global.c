/* test_global.c - cluster-wide names (transport/global.c, ACTORS.md 13.10
 * "Global names"): two and three nodes in one process over real TCP on
 * 127.0.0.1, a raw client for what a node must refuse on the wire, and
 * the byte-by-byte examples of ACTORS.md 13.5 against the encoders.
 * Every wait polls for a condition with a deadline scaled by
 * CK_TIMEOUT_MULTIPLIER; nothing asserts a timing.
 */
#include "docbytes.h"
#include "nodeclient.h"
#include "testnode.h"
#include "testutil.h"

#include "acto/acto_cluster.h"

/* ---- an actor that counts the names it lost -------------------------------- */

#define NSLOT 8
static _Atomic long lost[NSLOT];    /* ACTO_MSG_GLOBAL_LOST per slot */
static acto_ref lost_winner[NSLOT]; /* the winner it was told (slot's handler) */
static char lost_name[NSLOT][ACTO_NAME_MAX + 1];

static int holder_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  memcpy(state, &arg, sizeof arg);
  return 0;
}

static int holder_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  intptr_t slot;
  memcpy(&slot, state, sizeof slot);
  if (m->type == ACTO_MSG_GLOBAL_LOST) {
    TU_EXPECT(m->size == sizeof(acto_global_lost), "GLOBAL_LOST of %zu bytes", m->size);
    const acto_global_lost *gl = m->data;
    TU_EXPECT(gl->name_len == strlen(gl->name), "name_len %u", gl->name_len);
    lost_winner[slot] = gl->winner;
    snprintf(lost_name[slot], sizeof lost_name[slot], "%s", gl->name);
    atomic_fetch_add(&lost[slot], 1);
  }
  return 0;
}

static const acto_behaviour HOLDER = {
    .name = "holder", .state_size = sizeof(intptr_t), .init = holder_init, .handle = holder_handle};

static acto_ref holder(acto_system *s, intptr_t slot) {
  acto_ref r;
  ck_assert_ok(acto_spawn(s, &HOLDER, (const void *)slot, NULL, &r));
  return r;
}

static void setup(void) {
  tu_setup();
  for (int i = 0; i < NSLOT; i++) {
    atomic_store(&lost[i], 0);
    lost_winner[i] = ACTO_REF_NONE;
    lost_name[i][0] = 0;
  }
}

/* ---- waiting for a table to say something ---------------------------------- */

typedef struct where_arg {
  acto_system *sys;
  const char *name;
  acto_ref want; /* ACTO_REF_NONE: want ENOENT */
} where_arg;

static int pred_where(void *p) {
  where_arg *a = p;
  acto_ref got;
  int r = acto_global_whereis(a->sys, a->name, &got);
  if (acto_ref_is_none(a->want))
    return r == ACTO_ENOENT;
  return r == 0 && acto_ref_eq(got, a->want);
}

/* Waits until sys's table maps name to want (ACTO_REF_NONE: to nothing). */
#define ck_assert_whereis_becomes(sys, nm, ref)                                                    \
  do {                                                                                             \
    where_arg wa_ = {(sys), (nm), (ref)};                                                          \
    ck_assert_msg(tu_wait_until(pred_where, &wa_, TU_WAIT_MS), "whereis(%s) did not become %s",    \
                  (nm), acto_ref_is_none(ref) ? "ENOENT" : "the expected ref");                    \
  } while (0)

static int pred_lost(void *p) { return atomic_load(&lost[(intptr_t)p]) >= 1; }

/* ---- across nodes ------------------------------------------------------------ */

START_TEST(a_name_registered_on_one_node_is_found_on_the_other_without_asking) {
  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_system *b = node_sys("gb", KEY, LIVE_HBT);
  link_nodes(a, "gb", b);
  acto_ref h = holder(a, 0);
  ck_assert_ok(acto_global_register(a, "svc", h));
  acto_ref got;
  ck_assert_ok(acto_global_whereis(a, "svc", &got));
  ck_assert(acto_ref_eq(got, h));
  ck_assert_whereis_becomes(b, "svc", h);
  ck_assert_int_eq(acto_global_count(a), 1);
  ck_assert_int_eq(acto_global_count(b), 1);
  /* The name is held: neither node takes it again, not for h either. */
  acto_ref h2 = holder(b, 1);
  ck_assert_rc(acto_global_register(b, "svc", h2), ACTO_EEXIST);
  ck_assert_rc(acto_global_register(a, "svc", h), ACTO_EEXIST);
  /* Only the holder's node drops it. */
  ck_assert_rc(acto_global_unregister(b, "svc"), ACTO_ENOENT);
  ck_assert_ok(acto_global_unregister(a, "svc"));
  ck_assert_rc(acto_global_unregister(a, "svc"), ACTO_ENOENT);
  ck_assert_rc(acto_global_whereis(a, "svc", &got), ACTO_ENOENT);
  ck_assert_whereis_becomes(b, "svc", ACTO_REF_NONE);
  /* Free again: the other node takes it, and the first sees it. */
  ck_assert_ok(acto_global_register(b, "svc", h2));
  ck_assert_whereis_becomes(a, "svc", h2);
  /* A global name is not a local one, and an actor may hold several. */
  ck_assert_rc(acto_lookup(b, "svc", &got), ACTO_ENOENT);
  ck_assert_ok(acto_global_register(b, "svc2", h2));
  ck_assert_whereis_becomes(a, "svc2", h2);
  ck_assert_int_eq(acto_global_count(b), 2);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(names_registered_before_the_link_came_up_are_sent_when_it_does) {
  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_system *b = node_sys("gb", KEY, LIVE_HBT);
  acto_ref ha = holder(a, 0), hb = holder(b, 1);
  ck_assert_ok(acto_global_register(a, "from-a", ha));
  ck_assert_ok(acto_global_register(b, "from-b", hb));
  acto_ref got;
  ck_assert_rc(acto_global_whereis(b, "from-a", &got), ACTO_ENOENT);
  link_nodes(b, "ga", a);
  ck_assert_whereis_becomes(b, "from-a", ha);
  ck_assert_whereis_becomes(a, "from-b", hb);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_stopped_actor_loses_its_names_on_every_node) {
  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_system *b = node_sys("gb", KEY, LIVE_HBT);
  link_nodes(a, "gb", b);
  acto_ref h = holder(a, 0);
  ck_assert_ok(acto_global_register(a, "one", h));
  ck_assert_ok(acto_global_register(a, "two", h));
  ck_assert_whereis_becomes(b, "two", h);
  ck_assert_ok(acto_stop(a, h));
  ck_assert_whereis_becomes(a, "one", ACTO_REF_NONE);
  ck_assert_whereis_becomes(a, "two", ACTO_REF_NONE);
  ck_assert_whereis_becomes(b, "one", ACTO_REF_NONE);
  ck_assert_whereis_becomes(b, "two", ACTO_REF_NONE);
  /* A stopped actor cannot be registered. */
  ck_assert_rc(acto_global_register(a, "one", h), ACTO_ESTALE);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(the_names_of_a_node_that_stops_disappear_on_the_others) {
  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_system *b = node_sys("gb", KEY, LIVE_HBT);
  acto_system *c = node_sys("gc", KEY, LIVE_HBT);
  link_nodes(a, "gb", b);
  link_nodes(a, "gc", c);
  link_nodes(b, "gc", c);
  acto_ref hc = holder(c, 0), ha = holder(a, 1);
  ck_assert_ok(acto_global_register(c, "on-c", hc));
  ck_assert_ok(acto_global_register(a, "on-a", ha));
  ck_assert_whereis_becomes(a, "on-c", hc);
  ck_assert_whereis_becomes(b, "on-c", hc);
  ck_assert_whereis_becomes(c, "on-a", ha);
  ck_assert_ok(acto_node_stop(c));
  ck_assert_whereis_becomes(a, "on-c", ACTO_REF_NONE);
  ck_assert_whereis_becomes(b, "on-c", ACTO_REF_NONE);
  /* The others' names stay where they are. */
  ck_assert_whereis_becomes(b, "on-a", ha);
  acto_ref got;
  ck_assert_rc(acto_global_whereis(c, "on-a", &got), ACTO_ENOTCONN); /* its node stopped */
  ck_assert_rc(acto_global_register(c, "late", hc), ACTO_ENOTCONN);
  tu_shutdown(c);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* Two nodes that are not connected register the same names; then they
 * connect (a partition heals).  "ga" registers "byname" (its stamp 1),
 * "pad" (2) and "bystamp" (3); "gb" registers "byname" (1) and "bystamp"
 * (2).  "byname": equal stamps, so the node name that sorts first wins
 * (ga).  "bystamp": gb's lower stamp wins, whatever the names. */
START_TEST(a_healed_partition_keeps_one_deterministic_winner_and_tells_the_loser_once) {
  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_system *b = node_sys("gb", KEY, LIVE_HBT);
  acto_ref a_byname = holder(a, 0), a_pad = holder(a, 1), a_bystamp = holder(a, 2);
  acto_ref b_byname = holder(b, 3), b_bystamp = holder(b, 4);
  ck_assert_ok(acto_global_register(a, "byname", a_byname));
  ck_assert_ok(acto_global_register(a, "pad", a_pad));
  ck_assert_ok(acto_global_register(a, "bystamp", a_bystamp));
  ck_assert_ok(acto_global_register(b, "byname", b_byname));
  ck_assert_ok(acto_global_register(b, "bystamp", b_bystamp));
  link_nodes(a, "gb", b);
  ck_assert_whereis_becomes(a, "byname", a_byname);
  ck_assert_whereis_becomes(b, "byname", a_byname);
  ck_assert_whereis_becomes(a, "bystamp", b_bystamp);
  ck_assert_whereis_becomes(b, "bystamp", b_bystamp);
  ck_assert_whereis_becomes(b, "pad", a_pad);
  ck_assert_msg(tu_wait_until(pred_lost, (void *)(intptr_t)3, TU_WAIT_MS), "gb's byname not told");
  ck_assert_msg(tu_wait_until(pred_lost, (void *)(intptr_t)2, TU_WAIT_MS), "ga's bystamp not told");
  ck_assert(acto_ref_eq(lost_winner[3], a_byname));
  ck_assert_str_eq(lost_name[3], "byname");
  ck_assert(acto_ref_eq(lost_winner[2], b_bystamp));
  ck_assert_str_eq(lost_name[2], "bystamp");
  /* Exactly once: a round trip on each link after the verdicts (a name
   * registered and seen on the far side) leaves the counts where they are,
   * and the winners never hear of anything. */
  acto_ref probe = holder(a, 5);
  ck_assert_ok(acto_global_register(a, "after", probe));
  ck_assert_whereis_becomes(b, "after", probe);
  ck_assert_ok(acto_global_register(b, "after2", b_byname));
  ck_assert_whereis_becomes(a, "after2", b_byname);
  tu_settle(a);
  tu_settle(b);
  ck_assert_int_eq(atomic_load(&lost[3]), 1);
  ck_assert_int_eq(atomic_load(&lost[2]), 1);
  ck_assert_int_eq(atomic_load(&lost[0]), 0);
  ck_assert_int_eq(atomic_load(&lost[1]), 0);
  ck_assert_int_eq(atomic_load(&lost[4]), 0);
  /* The losers' tables agree, and the lost names are not theirs any more. */
  ck_assert_int_eq(acto_global_count(a), 5);
  ck_assert_int_eq(acto_global_count(b), 5);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* Both nodes race to register one name while connected: each call either
 * wins locally or sees the other's name (EEXIST); afterwards both tables
 * agree and every registration that succeeded but lost was told once. */
START_TEST(racing_registrations_end_with_one_holder_and_told_losers) {
  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_system *b = node_sys("gb", KEY, LIVE_HBT);
  link_nodes(a, "gb", b);
  acto_ref ha = holder(a, 0), hb = holder(b, 1);
  int ra = acto_global_register(a, "race", ha);
  int rb = acto_global_register(b, "race", hb);
  ck_assert(ra == 0 || ra == ACTO_EEXIST);
  ck_assert(rb == 0 || rb == ACTO_EEXIST);
  ck_assert(ra == 0 || rb == 0);
  /* ga registered first with no one else holding it: it never loses
   * unless gb's stamp beats it, which needs gb to register first. */
  ck_assert_int_eq(ra, 0);
  ck_assert_whereis_becomes(a, "race", ha);
  ck_assert_whereis_becomes(b, "race", ha);
  if (rb == 0) {
    ck_assert_msg(tu_wait_until(pred_lost, (void *)(intptr_t)1, TU_WAIT_MS), "loser not told");
    ck_assert(acto_ref_eq(lost_winner[1], ha));
  }
  tu_settle(a);
  tu_settle(b);
  ck_assert_int_eq(atomic_load(&lost[0]), 0);
  ck_assert_int_eq(atomic_load(&lost[1]), rb == 0 ? 1 : 0);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- arguments ------------------------------------------------------------------ */

START_TEST(bad_arguments_get_clear_codes) {
  acto_system *plain = tu_system(1);
  acto_ref r0 = holder(plain, 0);
  acto_ref got;
  ck_assert_rc(acto_global_register(plain, "x", r0), ACTO_ENOTCONN); /* no node */
  ck_assert_rc(acto_global_whereis(plain, "x", &got), ACTO_ENOTCONN);
  ck_assert_rc(acto_global_count(plain), ACTO_ENOTCONN);
  tu_shutdown(plain);

  acto_system *a = node_sys("ga", KEY, LIVE_HBT);
  acto_ref h = holder(a, 0);
  char big[ACTO_NAME_MAX + 2];
  memset(big, 'n', sizeof big - 1);
  big[sizeof big - 1] = 0;
  ck_assert_rc(acto_global_register(NULL, "x", h), ACTO_EINVAL);
  ck_assert_rc(acto_global_register(a, NULL, h), ACTO_EINVAL);
  ck_assert_rc(acto_global_register(a, "", h), ACTO_EINVAL);
  ck_assert_rc(acto_global_register(a, big, h), ACTO_EINVAL);
  big[ACTO_NAME_MAX] = 0; /* exactly the longest name */
  ck_assert_ok(acto_global_register(a, big, h));
  ck_assert_ok(acto_global_whereis(a, big, &got));
  acto_ref elsewhere = {h.id, (0x1234ull << 32) | 1};
  ck_assert_rc(acto_global_register(a, "x", elsewhere), ACTO_EINVAL);
  ck_assert_rc(acto_global_register(a, "x", ACTO_REF_NONE), ACTO_EINVAL);
  acto_ref gone = holder(a, 1);
  ck_assert_ok(acto_stop(a, gone));
  ck_assert_becomes_dead(a, gone);
  ck_assert_rc(acto_global_register(a, "x", gone), ACTO_ESTALE);
  ck_assert_rc(acto_global_whereis(a, "x", NULL), ACTO_EINVAL);
  ck_assert_rc(acto_global_whereis(a, "", &got), ACTO_EINVAL);
  ck_assert_rc(acto_global_whereis(NULL, "x", &got), ACTO_EINVAL);
  ck_assert_rc(acto_global_whereis(a, "x", &got), ACTO_ENOENT);
  ck_assert_rc(acto_global_unregister(a, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_global_unregister(a, "x"), ACTO_ENOENT);
  ck_assert_rc(acto_global_count(NULL), ACTO_EINVAL);
  ck_assert_int_eq(acto_global_count(a), 1);
  ck_assert_ok(acto_node_stop(a));
  ck_assert_rc(acto_global_register(a, "y", h), ACTO_ENOTCONN);
  ck_assert_rc(acto_global_unregister(a, big), ACTO_ENOTCONN);
  tu_shutdown(a);
}
END_TEST

/* ---- the wire, from a raw client ---------------------------------------------- */

/* A raw client "raw" up on node s (handshake, INFO both ways). */
static void raw_up(nc_client *c, acto_system *s, uint32_t inc) {
  acto__auth_key key;
  memcpy(key.bytes, KEY, 32);
  key.len = 32;
  nc_init(c);
  ck_assert_int_eq(nc_handshake(c, port_of(s), "raw", &key, TU_WAIT_MS), 0);
  uint8_t buf[4096];
  size_t n;
  ck_assert_int_eq(nc_recv_sealed(c, buf, sizeof buf, &n, TU_WAIT_MS), 0); /* its INFO */
  ck_assert_int_eq(nc_send_info(c, "raw", inc, 0), 0);
}

static int send_one(nc_client *c, const acto__buf *m) {
  acto__buf p = {0};
  int r = nc_batch(&p, 1, m->p, m->len);
  if (r == 0)
    r = nc_send_sealed(c, p.p, p.len);
  acto__buf_free(&p);
  return r;
}

START_TEST(a_peer_name_arrives_with_greg_and_leaves_with_the_peer) {
  acto_system *s = node_sys("ga", KEY, LIVE_HBT);
  nc_client c;
  raw_up(&c, s, 0x77);
  acto__buf m = {0};
  ck_assert_ok(acto__wire_greg(&m, 9, 5, "raw-svc", 7));
  ck_assert_int_eq(send_one(&c, &m), 0);
  acto_ref want = {9, ((uint64_t)nc_name_hash("raw") << 32) | 0x77};
  ck_assert_whereis_becomes(s, "raw-svc", want);
  /* A GUNREG for another actor of that name changes nothing; the right
   * one removes it. */
  m.len = 0;
  ck_assert_ok(acto__wire_gname(&m, ACTO__W_GUNREG, 10, "raw-svc", 7));
  ck_assert_int_eq(send_one(&c, &m), 0);
  m.len = 0;
  ck_assert_ok(acto__wire_greg(&m, 9, 6, "raw-two", 7));
  ck_assert_int_eq(send_one(&c, &m), 0);
  ck_assert_whereis_becomes(s, "raw-two", want);
  ck_assert_whereis_becomes(s, "raw-svc", want);
  m.len = 0;
  ck_assert_ok(acto__wire_gname(&m, ACTO__W_GUNREG, 9, "raw-svc", 7));
  ck_assert_int_eq(send_one(&c, &m), 0);
  ck_assert_whereis_becomes(s, "raw-svc", ACTO_REF_NONE);
  /* The client goes away: its other name goes with it. */
  nc_close(&c);
  ck_assert_whereis_becomes(s, "raw-two", ACTO_REF_NONE);
  acto__buf_free(&m);
  tu_shutdown(s);
}
END_TEST

/* Malformed GREG / GUNREG: each closes the connection (and nothing of its
 * frame is applied). */
START_TEST(malformed_name_messages_close_the_connection) {
  acto_system *s = node_sys("ga", KEY, LIVE_HBT);
  static const char nul_name[] = {'a', 0, 'b'};
  char big[ACTO_NAME_MAX + 1];
  memset(big, 'x', sizeof big);
  for (int k = 0; k < 6; k++) {
    nc_client c;
    raw_up(&c, s, 0x100u + (uint32_t)k);
    acto__buf m = {0};
    switch (k) {
    case 0:
      ck_assert_ok(acto__wire_greg(&m, 0, 1, "n", 1)); /* actor 0 */
      break;
    case 1:
      ck_assert_ok(acto__wire_greg(&m, UINT64_MAX, 1, "n", 1)); /* the service */
      break;
    case 2:
      ck_assert_ok(acto__wire_greg(&m, 5, 0, "n", 1)); /* stamp 0 */
      break;
    case 3:
      ck_assert_ok(acto__wire_greg(&m, 5, 1, nul_name, sizeof nul_name));
      break;
    case 4:
      ck_assert_ok(acto__wire_greg(&m, 5, 1, big, sizeof big)); /* 256 bytes */
      break;
    case 5:
      ck_assert_ok(acto__wire_gname(&m, ACTO__W_GUNREG, 5, "", 0)); /* empty */
      break;
    }
    ck_assert_int_eq(send_one(&c, &m), 0);
    ck_assert_msg(nc_wait_closed(c.fd, TU_WAIT_MS) == 1, "case %d: still open", k);
    nc_close(&c);
    acto__buf_free(&m);
  }
  ck_assert_int_eq(acto_global_count(s), 0);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_ge(st.bad_frames, 6);
  tu_shutdown(s);
}
END_TEST

/* ---- ACTORS.md 13.5, "Global names and process groups, byte by byte" -------------- */

START_TEST(the_byte_examples_in_actors_md_are_what_the_encoders_produce) {
  doc_frame doc[8];
  int nd = doc_blocks("\n##### Global names and process groups, byte by byte\n", doc, 8);
  ck_assert_int_eq(nd, 5);
  acto__buf b = {0};
  static const uint8_t payload[] = {0x92, 0x2a, 0xc4, 0x02, 0x01, 0x02};
  ck_assert_ok(acto__wire_greg(&b, 0x0000000100000005ull, 3, "db", 2));
  doc_check(&doc[0], "GREG", b.p, b.len);
  b.len = 0;
  ck_assert_ok(acto__wire_gname(&b, ACTO__W_GUNREG, 0x0000000100000005ull, "db", 2));
  doc_check(&doc[1], "GUNREG", b.p, b.len);
  b.len = 0;
  ck_assert_ok(acto__wire_gname(&b, ACTO__W_JOIN, 0x0000000100000007ull, "room", 4));
  doc_check(&doc[2], "JOIN", b.p, b.len);
  b.len = 0;
  ck_assert_ok(acto__wire_gname(&b, ACTO__W_PART, 0x0000000100000007ull, "room", 4));
  doc_check(&doc[3], "PART", b.p, b.len);
  b.len = 0;
  ck_assert_ok(acto__wire_gcast(&b, 0x0000000100000002ull, 7, "room", 4, payload, sizeof payload));
  doc_check(&doc[4], "GCAST", b.p, b.len);
  acto__buf_free(&b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("global");
  TCase *tc = tu_tcase("global", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, a_name_registered_on_one_node_is_found_on_the_other_without_asking,
               names_registered_before_the_link_came_up_are_sent_when_it_does,
               a_stopped_actor_loses_its_names_on_every_node,
               the_names_of_a_node_that_stops_disappear_on_the_others,
               a_healed_partition_keeps_one_deterministic_winner_and_tells_the_loser_once,
               racing_registrations_end_with_one_holder_and_told_losers,
               bad_arguments_get_clear_codes,
               a_peer_name_arrives_with_greg_and_leaves_with_the_peer,
               malformed_name_messages_close_the_connection,
               the_byte_examples_in_actors_md_are_what_the_encoders_produce);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
