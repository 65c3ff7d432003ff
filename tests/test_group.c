/* test_group.c - process groups (transport/group.c, ACTORS.md 13.10
 * "Process groups"): two and three nodes in one process over real TCP on
 * 127.0.0.1, and a raw client for what a node must refuse on the wire.
 * Every wait polls for a condition with a deadline scaled by
 * CK_TIMEOUT_MULTIPLIER; nothing asserts a timing.
 */
#include "nodeclient.h"
#include "testnode.h"
#include "testutil.h"

#include "acto/acto_cluster.h"

enum { T_CAST = 5 };

/* The broadcast's payload: an integer and 16 bytes, as group_broadcast. */
typedef struct cast_msg {
  uint64_t n;
  uint8_t bin[16];
} cast_msg;

static tu_counter casts;       /* T_CAST received by every member */
static _Atomic long bad_casts; /* a T_CAST whose payload was not the one sent */

/* Notices a subscriber received, in order. */
#define MAXN 64
static pthread_mutex_t nlock = PTHREAD_MUTEX_INITIALIZER;
static acto_group_notice notes[MAXN];
static tu_counter nnotes;

static int member_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  if (m->type == T_CAST) {
    const cast_msg *c = m->data;
    if (m->size != sizeof *c || c->bin[0] != 0xab || c->bin[15] != 0xcd)
      atomic_fetch_add(&bad_casts, 1);
    tu_counter_add(&casts, 1);
  } else if (m->type == ACTO_MSG_GROUP_CHANGE) {
    TU_EXPECT(m->size == sizeof(acto_group_notice), "notice of %zu bytes", m->size);
    pthread_mutex_lock(&nlock);
    long i = tu_counter_get(&nnotes);
    if (i < MAXN)
      memcpy(&notes[i], m->data, sizeof notes[i]);
    pthread_mutex_unlock(&nlock);
    tu_counter_add(&nnotes, 1);
  }
  return 0;
}

static const acto_behaviour MEMBER = {.name = "member", .handle = member_handle};

static acto_ref member(acto_system *s) {
  acto_ref r;
  ck_assert_ok(acto_spawn(s, &MEMBER, NULL, NULL, &r));
  return r;
}

static void setup(void) {
  tu_setup();
  tu_counter_init(&casts);
  tu_counter_init(&nnotes);
  atomic_store(&bad_casts, 0);
  memset(notes, 0, sizeof notes);
}

/* Notice i (after waiting for it). */
static acto_group_notice note(long i) {
  ck_assert_counter_reaches(&nnotes, i + 1);
  pthread_mutex_lock(&nlock);
  acto_group_notice n = notes[i];
  pthread_mutex_unlock(&nlock);
  return n;
}

typedef struct count_arg {
  acto_system *sys;
  const char *group;
  unsigned flags;
  int want;
} count_arg;

static int pred_count(void *p) {
  count_arg *a = p;
  return acto_group_members(a->sys, a->group, a->flags, NULL, 0) == a->want;
}

/* Waits until sys counts `want` members of group (flags as members). */
#define ck_assert_members_become(sys, g, fl, n)                                                    \
  do {                                                                                             \
    count_arg ca_ = {(sys), (g), (fl), (n)};                                                       \
    ck_assert_msg(tu_wait_until(pred_count, &ca_, TU_WAIT_MS), "%s: %d members, want %d", (g),     \
                  acto_group_members((sys), (g), (fl), NULL, 0), (n));                             \
  } while (0)

static int has(const acto_ref *v, int n, acto_ref r) {
  for (int i = 0; i < n; i++)
    if (acto_ref_eq(v[i], r))
      return 1;
  return 0;
}

/* ---- membership ----------------------------------------------------------------- */

START_TEST(members_join_and_leave_and_every_node_sees_them) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  link_nodes(a, "pb", b);
  acto_ref a1 = member(a), a2 = member(a), b1 = member(b);
  ck_assert_ok(acto_group_join(a, "g", a1));
  ck_assert_ok(acto_group_join(a, "g", a1)); /* counted */
  ck_assert_ok(acto_group_join(a, "g", a2));
  ck_assert_ok(acto_group_join(b, "g", b1));
  ck_assert_ok(acto_group_join(b, "other", b1)); /* many groups */
  ck_assert_members_become(a, "g", 0, 3);
  ck_assert_members_become(b, "g", 0, 3);
  ck_assert_int_eq(acto_group_members(a, "g", ACTO_GROUP_LOCAL, NULL, 0), 2);
  ck_assert_int_eq(acto_group_members(b, "g", ACTO_GROUP_LOCAL, NULL, 0), 1);
  ck_assert_members_become(a, "other", 0, 1);
  ck_assert_int_eq(acto_group_members(a, "other", ACTO_GROUP_LOCAL, NULL, 0), 0);
  acto_ref v[4];
  ck_assert_int_eq(acto_group_members(b, "g", 0, v, 4), 3);
  ck_assert(has(v, 3, a1) && has(v, 3, a2) && has(v, 3, b1));
  /* A list cut at cap still counts everyone. */
  ck_assert_int_eq(acto_group_members(b, "g", 0, v, 1), 3);
  /* Two joins, two leaves. */
  ck_assert_ok(acto_group_leave(a, "g", a1));
  ck_assert_int_eq(acto_group_members(a, "g", ACTO_GROUP_LOCAL, NULL, 0), 2);
  ck_assert_ok(acto_group_leave(a, "g", a1));
  ck_assert_int_eq(acto_group_members(a, "g", ACTO_GROUP_LOCAL, NULL, 0), 1);
  ck_assert_rc(acto_group_leave(a, "g", a1), ACTO_ENOENT);
  ck_assert_rc(acto_group_leave(a, "g", b1), ACTO_ENOENT); /* not one of ours */
  ck_assert_members_become(b, "g", 0, 2);
  ck_assert_int_eq(acto_group_members(b, "g", 0, v, 4), 2);
  ck_assert(!has(v, 2, a1));
  ck_assert_int_eq(acto_group_members(a, "nobody", 0, NULL, 0), 0);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

static int has_name(const acto_group_name *v, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0)
      return 1;
  return 0;
}

typedef struct which_arg {
  acto_system *sys;
  const char *prefix;
  int want;
} which_arg;

static int pred_which(void *p) {
  which_arg *a = p;
  return acto_group_which(a->sys, a->prefix, NULL, 0) == a->want;
}

/* acto_group_which lists the groups with members, local or remote, by
 * prefix; a group held only by a subscriber, or left by everyone, is not
 * listed; a list cut at cap still counts every group. */
START_TEST(which_lists_the_groups_with_members_by_prefix) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  link_nodes(a, "pb", b);
  acto_ref a1 = member(a), b1 = member(b), sub = member(a);
  ck_assert_int_eq(acto_group_which(a, NULL, NULL, 0), 0);
  ck_assert_ok(acto_group_join(a, "room/x", a1));
  ck_assert_ok(acto_group_join(b, "room/y", b1));
  ck_assert_ok(acto_group_join(b, "user/bob", b1));
  ck_assert_ok(acto_group_subscribe(a, "room/z", sub)); /* no members */
  which_arg w = {a, "", 3};
  ck_assert_msg(tu_wait_until(pred_which, &w, TU_WAIT_MS), "a lists %d groups",
                acto_group_which(a, "", NULL, 0));
  acto_group_name v[4];
  ck_assert_int_eq(acto_group_which(a, "room/", v, 4), 2);
  ck_assert(has_name(v, 2, "room/x") && has_name(v, 2, "room/y"));
  ck_assert_int_eq(acto_group_which(a, "user/", v, 4), 1);
  ck_assert_str_eq(v[0].name, "user/bob");
  ck_assert_int_eq(acto_group_which(a, NULL, v, 1), 3); /* cut at cap, all counted */
  ck_assert_int_eq(acto_group_which(a, "nothing/", v, 4), 0);
  /* b hears of a's join in its own time (a's wait above was for b's). */
  which_arg wb = {b, "room/", 2};
  ck_assert_msg(tu_wait_until(pred_which, &wb, TU_WAIT_MS), "b lists %d room groups",
                acto_group_which(b, "room/", NULL, 0));
  ck_assert_int_eq(acto_group_which(b, "room/", v, 4), 2);
  ck_assert_ok(acto_group_leave(b, "room/y", b1));
  w = (which_arg){a, "room/", 1};
  ck_assert(tu_wait_until(pred_which, &w, TU_WAIT_MS));
  ck_assert_int_eq(acto_group_which(a, "room/", v, 4), 1);
  ck_assert_str_eq(v[0].name, "room/x");
  char big[ACTO_NAME_MAX + 2];
  memset(big, 'n', sizeof big - 1);
  big[sizeof big - 1] = 0;
  ck_assert_rc(acto_group_which(a, big, NULL, 0), ACTO_EINVAL);
  ck_assert_rc(acto_group_which(a, "", NULL, 1), ACTO_EINVAL);
  ck_assert_rc(acto_group_which(NULL, "", NULL, 0), ACTO_EINVAL);
  tu_shutdown(b);
  ck_assert_ok(acto_node_stop(a));
  ck_assert_rc(acto_group_which(a, "", NULL, 0), ACTO_ENOTCONN);
  tu_shutdown(a);
}
END_TEST

START_TEST(members_known_before_the_link_came_up_are_sent_when_it_does) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  ck_assert_ok(acto_group_join(a, "g", member(a)));
  ck_assert_ok(acto_group_join(b, "g", member(b)));
  ck_assert_ok(acto_group_join(b, "g", member(b)));
  ck_assert_int_eq(acto_group_members(a, "g", 0, NULL, 0), 1);
  link_nodes(a, "pb", b);
  ck_assert_members_become(a, "g", 0, 3);
  ck_assert_members_become(b, "g", 0, 3);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_subscriber_hears_of_every_join_and_leave) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  link_nodes(a, "pb", b);
  acto_ref sub = member(a);
  ck_assert_ok(acto_group_subscribe(a, "g", sub));
  ck_assert_rc(acto_group_subscribe(a, "g", sub), ACTO_EEXIST);
  acto_ref b1 = member(b), a1 = member(a);
  ck_assert_ok(acto_group_join(b, "g", b1));
  acto_group_notice n = note(0);
  ck_assert(acto_ref_eq(n.member, b1));
  ck_assert_uint_eq(n.event, ACTO_GROUP_JOINED);
  ck_assert_str_eq(n.group, "g");
  ck_assert_uint_eq(n.group_len, 1);
  ck_assert_ok(acto_group_join(a, "g", a1));
  n = note(1);
  ck_assert(acto_ref_eq(n.member, a1));
  ck_assert_uint_eq(n.event, ACTO_GROUP_JOINED);
  ck_assert_ok(acto_group_join(a, "g", a1)); /* a second join changes no set */
  ck_assert_ok(acto_group_leave(b, "g", b1));
  n = note(2);
  ck_assert(acto_ref_eq(n.member, b1));
  ck_assert_uint_eq(n.event, ACTO_GROUP_LEFT);
  /* Another group's changes are not this subscription's. */
  ck_assert_ok(acto_group_join(b, "h", b1));
  ck_assert_members_become(a, "h", 0, 1);
  /* The subscriber's own end of the subscription. */
  ck_assert_ok(acto_group_unsubscribe(a, "g", sub));
  ck_assert_rc(acto_group_unsubscribe(a, "g", sub), ACTO_ENOENT);
  ck_assert_ok(acto_group_leave(a, "g", a1));
  ck_assert_ok(acto_group_leave(a, "g", a1));
  ck_assert_members_become(b, "g", 0, 0);
  tu_settle(a);
  ck_assert_int_eq(tu_counter_get(&nnotes), 3);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_member_that_stops_leaves_everywhere) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  link_nodes(a, "pb", b);
  acto_ref sub = member(b);
  ck_assert_ok(acto_group_subscribe(b, "g", sub));
  acto_ref a1 = member(a);
  ck_assert_ok(acto_group_join(a, "g", a1));
  ck_assert_ok(acto_group_join(a, "g2", a1));
  ck_assert_members_become(b, "g", 0, 1);
  ck_assert_members_become(b, "g2", 0, 1);
  ck_assert_ok(acto_stop(a, a1));
  ck_assert_members_become(a, "g", 0, 0);
  ck_assert_members_become(a, "g2", 0, 0);
  ck_assert_members_become(b, "g", 0, 0);
  ck_assert_members_become(b, "g2", 0, 0);
  acto_group_notice n = note(1);
  ck_assert(acto_ref_eq(n.member, a1));
  ck_assert_uint_eq(n.event, ACTO_GROUP_LEFT);
  /* A stopped subscriber is dropped: a join after its end tells no one. */
  ck_assert_ok(acto_stop(b, sub));
  ck_assert_becomes_dead(b, sub);
  ck_assert_rc(acto_group_unsubscribe(b, "g", sub), ACTO_ENOENT);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(the_members_of_a_node_that_stops_leave_at_once_on_the_others) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  acto_system *c = node_sys("pc", KEY, LIVE_HBT);
  link_nodes(a, "pb", b);
  link_nodes(a, "pc", c);
  link_nodes(b, "pc", c);
  acto_ref sub = member(a);
  ck_assert_ok(acto_group_subscribe(a, "g", sub));
  acto_ref c1 = member(c), c2 = member(c);
  ck_assert_ok(acto_group_join(c, "g", c1));
  ck_assert_ok(acto_group_join(c, "g", c2));
  ck_assert_ok(acto_group_join(b, "g", member(b)));
  ck_assert_members_become(a, "g", 0, 3);
  ck_assert_members_become(b, "g", 0, 3);
  ck_assert_counter_reaches(&nnotes, 3);
  ck_assert_ok(acto_node_stop(c));
  ck_assert_members_become(a, "g", 0, 1);
  ck_assert_members_become(b, "g", 0, 1);
  ck_assert_counter_reaches(&nnotes, 5);
  int left = 0;
  for (long i = 3; i < 5; i++) {
    acto_group_notice n = note(i);
    ck_assert_uint_eq(n.event, ACTO_GROUP_LEFT);
    left += acto_ref_eq(n.member, c1) + acto_ref_eq(n.member, c2);
  }
  ck_assert_int_eq(left, 2);
  ck_assert_rc(acto_group_members(c, "g", 0, NULL, 0), ACTO_ENOTCONN);
  tu_shutdown(c);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- broadcast ----------------------------------------------------------------- */

static uint64_t msgs_out(acto_system *s) {
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  return st.msgs_out;
}

/* 7 members: 2 on pa, 3 on pb, 2 on pc.  N broadcasts from a plain thread
 * on pa reach every member N times, and pa sends one GCAST per node and
 * broadcast: 2N messages (one per member would be 5N), plus a few
 * heartbeats. */
START_TEST(a_broadcast_reaches_every_member_once_with_one_copy_per_node) {
  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_system *b = node_sys("pb", KEY, LIVE_HBT);
  acto_system *c = node_sys("pc", KEY, LIVE_HBT);
  link_nodes(a, "pb", b);
  link_nodes(a, "pc", c);
  link_nodes(b, "pc", c);
  acto_system *where[7] = {a, a, b, b, b, c, c};
  for (int i = 0; i < 7; i++)
    ck_assert_ok(acto_group_join(where[i], "g", member(where[i])));
  ck_assert_members_become(a, "g", 0, 7);
  enum { N = 200 };
  cast_msg m;
  memset(&m, 0, sizeof m);
  m.bin[0] = 0xab;
  m.bin[15] = 0xcd;
  uint64_t before = msgs_out(a);
  for (int i = 0; i < N; i++) {
    m.n = (uint64_t)i;
    ck_assert_int_eq(acto_group_broadcast(a, "g", T_CAST, &m, sizeof m), 2 + 2);
  }
  ck_assert_counter_reaches(&casts, 7 * N);
  uint64_t sent = msgs_out(a) - before;
  ck_assert_uint_ge(sent, 2 * N);
  ck_assert_msg(sent < 2 * N + 200, "pa sent %llu messages for %d broadcasts",
                (unsigned long long)sent, N);
  /* From another node, and from an actor's own group of one node. */
  ck_assert_int_eq(acto_group_broadcast(c, "g", T_CAST, &m, sizeof m), 2 + 2);
  ck_assert_counter_reaches(&casts, 7 * N + 7);
  ck_assert_int_eq(acto_group_broadcast(a, "empty", T_CAST, &m, sizeof m), 0);
  tu_settle(a);
  tu_settle(b);
  tu_settle(c);
  ck_assert_int_eq(tu_counter_get(&casts), 7 * N + 7);
  ck_assert_int_eq(atomic_load(&bad_casts), 0);
  tu_shutdown(a);
  tu_shutdown(b);
  tu_shutdown(c);
}
END_TEST

/* ---- arguments ------------------------------------------------------------------ */

START_TEST(bad_arguments_get_clear_codes) {
  acto_system *plain = tu_system(1);
  acto_ref r0 = member(plain);
  ck_assert_rc(acto_group_join(plain, "g", r0), ACTO_ENOTCONN);
  ck_assert_rc(acto_group_members(plain, "g", 0, NULL, 0), ACTO_ENOTCONN);
  ck_assert_rc(acto_group_broadcast(plain, "g", 1, NULL, 0), ACTO_ENOTCONN);
  tu_shutdown(plain);

  acto_system *a = node_sys("pa", KEY, LIVE_HBT);
  acto_ref h = member(a);
  char big[ACTO_NAME_MAX + 2];
  memset(big, 'n', sizeof big - 1);
  big[sizeof big - 1] = 0;
  acto_ref v[2];
  ck_assert_rc(acto_group_join(NULL, "g", h), ACTO_EINVAL);
  ck_assert_rc(acto_group_join(a, NULL, h), ACTO_EINVAL);
  ck_assert_rc(acto_group_join(a, "", h), ACTO_EINVAL);
  ck_assert_rc(acto_group_join(a, big, h), ACTO_EINVAL);
  acto_ref elsewhere = {h.id, (0x1234ull << 32) | 1};
  ck_assert_rc(acto_group_join(a, "g", elsewhere), ACTO_EINVAL);
  ck_assert_rc(acto_group_subscribe(a, "g", elsewhere), ACTO_EINVAL);
  acto_ref gone = member(a);
  ck_assert_ok(acto_stop(a, gone));
  ck_assert_becomes_dead(a, gone);
  ck_assert_rc(acto_group_join(a, "g", gone), ACTO_ESTALE);
  ck_assert_rc(acto_group_subscribe(a, "g", gone), ACTO_ESTALE);
  ck_assert_rc(acto_group_leave(a, "g", h), ACTO_ENOENT);
  ck_assert_rc(acto_group_unsubscribe(a, "g", h), ACTO_ENOENT);
  ck_assert_rc(acto_group_members(a, "g", 2, v, 2), ACTO_EINVAL);
  ck_assert_rc(acto_group_members(a, "g", 0, NULL, 2), ACTO_EINVAL);
  ck_assert_rc(acto_group_broadcast(a, "g", ACTO_MSG_RESERVED, NULL, 0), ACTO_EINVAL);
  ck_assert_rc(acto_group_broadcast(a, "g", 1, NULL, 4), ACTO_EINVAL);
  ck_assert_rc(acto_group_broadcast(a, big, 1, NULL, 0), ACTO_EINVAL);
  ck_assert_ok(acto_group_join(a, "g", h));
  ck_assert_int_eq(acto_group_broadcast(a, "g", 1, NULL, 0), 1);
  ck_assert_ok(acto_node_stop(a));
  ck_assert_rc(acto_group_join(a, "g", h), ACTO_ENOTCONN);
  ck_assert_rc(acto_group_leave(a, "g", h), ACTO_ENOTCONN);
  tu_shutdown(a);
}
END_TEST

/* ---- the wire, from a raw client ---------------------------------------------- */

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

/* A raw peer joins, casts to the node's members, and its member goes
 * with it. */
START_TEST(a_peer_joins_and_casts_over_the_wire) {
  acto_system *s = node_sys("pa", KEY, LIVE_HBT);
  acto_ref m1 = member(s), m2 = member(s);
  ck_assert_ok(acto_group_join(s, "g", m1));
  ck_assert_ok(acto_group_join(s, "g", m2));
  nc_client c;
  raw_up(&c, s, 0x55);
  acto__buf m = {0};
  ck_assert_ok(acto__wire_gname(&m, ACTO__W_JOIN, 12, "g", 1));
  ck_assert_int_eq(send_one(&c, &m), 0);
  ck_assert_members_become(s, "g", 0, 3);
  cast_msg cm;
  memset(&cm, 0, sizeof cm);
  cm.bin[0] = 0xab;
  cm.bin[15] = 0xcd;
  m.len = 0;
  ck_assert_ok(acto__wire_gcast(&m, 12, T_CAST, "g", 1, &cm, sizeof cm));
  ck_assert_int_eq(send_one(&c, &m), 0);
  ck_assert_counter_reaches(&casts, 2);
  m.len = 0;
  ck_assert_ok(acto__wire_gcast(&m, 0, T_CAST, "nobody", 6, &cm, sizeof cm)); /* dropped */
  ck_assert_int_eq(send_one(&c, &m), 0);
  m.len = 0;
  ck_assert_ok(acto__wire_gname(&m, ACTO__W_PART, 99, "g", 1)); /* not a member: ignored */
  ck_assert_int_eq(send_one(&c, &m), 0);
  m.len = 0;
  ck_assert_ok(acto__wire_gname(&m, ACTO__W_JOIN, 13, "g", 1));
  ck_assert_int_eq(send_one(&c, &m), 0);
  ck_assert_members_become(s, "g", 0, 4);
  m.len = 0;
  ck_assert_ok(acto__wire_gname(&m, ACTO__W_PART, 13, "g", 1));
  ck_assert_int_eq(send_one(&c, &m), 0);
  ck_assert_members_become(s, "g", 0, 3);
  nc_close(&c);
  ck_assert_members_become(s, "g", 0, 2);
  ck_assert_int_eq(tu_counter_get(&casts), 2);
  acto__buf_free(&m);
  tu_shutdown(s);
}
END_TEST

START_TEST(malformed_group_messages_close_the_connection) {
  acto_system *s = node_sys("pa", KEY, LIVE_HBT);
  ck_assert_ok(acto_group_join(s, "g", member(s)));
  static const char nul_name[] = {'g', 0};
  for (int k = 0; k < 6; k++) {
    nc_client c;
    raw_up(&c, s, 0x200u + (uint32_t)k);
    acto__buf m = {0};
    switch (k) {
    case 0:
      ck_assert_ok(acto__wire_gname(&m, ACTO__W_JOIN, 0, "g", 1)); /* actor 0 */
      break;
    case 1:
      ck_assert_ok(acto__wire_gname(&m, ACTO__W_PART, UINT64_MAX, "g", 1));
      break;
    case 2:
      ck_assert_ok(acto__wire_gname(&m, ACTO__W_JOIN, 5, nul_name, sizeof nul_name));
      break;
    case 3:
      ck_assert_ok(acto__wire_gcast(&m, 5, ACTO_MSG_RESERVED, "g", 1, "x", 1)); /* reserved */
      break;
    case 4:
      ck_assert_ok(acto__wire_gcast(&m, UINT64_MAX, 1, "g", 1, "x", 1)); /* the service */
      break;
    case 5:
      ck_assert_ok(acto__wire_gcast(&m, 5, 1, "", 0, "x", 1)); /* no group */
      break;
    }
    ck_assert_int_eq(send_one(&c, &m), 0);
    ck_assert_msg(nc_wait_closed(c.fd, TU_WAIT_MS) == 1, "case %d: still open", k);
    nc_close(&c);
    acto__buf_free(&m);
  }
  ck_assert_int_eq(acto_group_members(s, "g", 0, NULL, 0), 1);
  tu_settle(s);
  ck_assert_int_eq(tu_counter_get(&casts), 0);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  ck_assert_uint_ge(st.bad_frames, 6);
  tu_shutdown(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("group");
  TCase *tc = tu_tcase("group", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, members_join_and_leave_and_every_node_sees_them,
               which_lists_the_groups_with_members_by_prefix,
               members_known_before_the_link_came_up_are_sent_when_it_does,
               a_subscriber_hears_of_every_join_and_leave, a_member_that_stops_leaves_everywhere,
               the_members_of_a_node_that_stops_leave_at_once_on_the_others,
               a_broadcast_reaches_every_member_once_with_one_copy_per_node,
               bad_arguments_get_clear_codes, a_peer_joins_and_casts_over_the_wire,
               malformed_group_messages_close_the_connection);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
