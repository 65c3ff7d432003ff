/* test_membership.c - the cluster's membership (transport/cluster.c,
 * ACTORS.md 13.10): seeds make a full mesh, the member list, the member
 * hook and subscriptions, "left" for a node that stops and "down" for one
 * that dies, a new incarnation that rejoins by itself, hostnames and
 * IPv6, a partition through tools/faultproxy and its heal, and the
 * refusals of bad arguments.
 *
 * Nodes are systems in this process on 127.0.0.1, and, where a node must
 * really die (SIGKILL), tools/acto_node processes, killed and reaped by
 * pid.  Nothing here asserts a timing: every wait is for a condition,
 * with a deadline scaled by CK_TIMEOUT_MULTIPLIER.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <acto/acto.h>

#include "nodeproc.h"
#include "testutil.h"

static const uint8_t KEY[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
#define KEYHEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* ---- member events, as the hook and a subscriber see them -------------------- */

typedef struct seen {
  int observer;   /* the index of the system that saw it */
  int via_notice; /* 1: a subscriber's ACTO_MSG_MEMBER, 0: the hook */
  acto_member_event ev;
  acto_member m;
} seen;

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static seen seen_v[512];
static int seen_n;

static void record(int observer, int via_notice, acto_member_event ev, const acto_member *m) {
  pthread_mutex_lock(&seen_mu);
  if (seen_n < (int)(sizeof seen_v / sizeof seen_v[0]))
    seen_v[seen_n++] = (seen){observer, via_notice, ev, *m};
  pthread_mutex_unlock(&seen_mu);
}

static void hook(void *user, acto_member_event ev, const acto_member *m) {
  record((int)(intptr_t)user, 0, ev, m);
}

static int sub_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)ctx;
  if (msg->type == ACTO_MSG_MEMBER) {
    ck_assert_uint_eq(msg->size, sizeof(acto_member_notice));
    const acto_member_notice *n = msg->data;
    record(*(int *)state, 1, (acto_member_event)n->event, &n->member);
  }
  return 0;
}
static int sub_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  *(int *)state = (int)(intptr_t)arg;
  return 0;
}
static const acto_behaviour SUB = {
    .name = "sub", .state_size = sizeof(int), .init = sub_init, .handle = sub_handle};

/* How many events (observer, via, ev, name) were seen; a node_id other
 * than 0 must match too. */
static int count_seen(int observer, int via_notice, acto_member_event ev, const char *name,
                      uint64_t node_id) {
  int k = 0;
  pthread_mutex_lock(&seen_mu);
  for (int i = 0; i < seen_n; i++)
    if (seen_v[i].observer == observer && seen_v[i].via_notice == via_notice &&
        seen_v[i].ev == ev && strcmp(seen_v[i].m.name, name) == 0 &&
        (node_id == 0 || seen_v[i].m.node_id == node_id))
      k++;
  pthread_mutex_unlock(&seen_mu);
  return k;
}

/* The node id of the last JOINED that observer's hook saw for name. */
static uint64_t last_joined(int observer, const char *name) {
  uint64_t id = 0;
  pthread_mutex_lock(&seen_mu);
  for (int i = 0; i < seen_n; i++)
    if (seen_v[i].observer == observer && !seen_v[i].via_notice &&
        seen_v[i].ev == ACTO_MEMBER_EV_JOINED && strcmp(seen_v[i].m.name, name) == 0)
      id = seen_v[i].m.node_id;
  pthread_mutex_unlock(&seen_mu);
  return id;
}

static void seen_reset(void) {
  pthread_mutex_lock(&seen_mu);
  seen_n = 0;
  pthread_mutex_unlock(&seen_mu);
}

/* ---- nodes ------------------------------------------------------------------ */

typedef struct opts {
  const char *listen_host;
  int no_listen;
  const acto_node_seed *seeds;
  size_t nseeds;
  int64_t hb_ms, hb_timeout_ms;
  uint32_t encryption;
} opts;

/* A system with a node `name`; its member hook records as observer idx. */
static acto_system *node(int idx, const char *name, const opts *o, int *rc) {
  acto_system *s = tu_system(2);
  acto_set_log_level(s, getenv("MEMBERSHIP_VERBOSE") ? ACTO_LOG_DEBUG : ACTO_LOG_OFF);
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = name;
  nc.key = KEY;
  nc.key_len = sizeof KEY;
  nc.listen_host = o ? o->listen_host : NULL;
  nc.no_listen = o ? o->no_listen : 0;
  nc.seeds = o ? o->seeds : NULL;
  nc.nseeds = o ? o->nseeds : 0;
  nc.encryption = o ? o->encryption : ACTO_NODE_ENCRYPT_NONE;
  nc.heartbeat_ms = o && o->hb_ms ? o->hb_ms : 200;
  nc.heartbeat_timeout_ms = o && o->hb_timeout_ms ? o->hb_timeout_ms : 4000 * tu_multiplier();
  nc.reconnect_max_ms = 500;
  int r = acto_node_start(s, &nc);
  if (rc) {
    *rc = r;
    if (r != 0) {
      tu_shutdown(s);
      return NULL;
    }
  } else {
    ck_assert_ok(r);
  }
  ck_assert_ok(acto_cluster_set_member_hook(s, hook, (void *)(intptr_t)idx));
  return s;
}

static uint16_t port_of(acto_system *s) {
  uint16_t p = 0;
  ck_assert_ok(acto_node_port(s, &p));
  return p;
}

static uint64_t id_of(acto_system *s) {
  uint64_t id = 0;
  ck_assert_ok(acto_node_self(s, &id));
  return id;
}

static uint64_t peers_up(acto_system *s) {
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  return st.peers_up;
}

/* The member `name` in s's list (state 0 when absent). */
static acto_member member(acto_system *s, const char *name) {
  acto_member v[32], none;
  memset(&none, 0, sizeof none);
  int n = acto_cluster_members(s, v, 32);
  ck_assert_int_ge(n, 1);
  for (int i = 0; i < n && i < 32; i++)
    if (strcmp(v[i].name, name) == 0)
      return v[i];
  return none;
}

#define WAIT_FOR(cond, what)                                                                       \
  do {                                                                                             \
    int64_t end_ = tu_now_ms() + TU_WAIT_MS;                                                       \
    while (!(cond) && tu_now_ms() < end_)                                                          \
      tu_sleep_ms(5);                                                                              \
    ck_assert_msg((cond), "timed out waiting for %s", what);                                       \
  } while (0)

static int all_meshed(acto_system **v, int n) {
  for (int i = 0; i < n; i++)
    if (peers_up(v[i]) != (uint64_t)(n - 1))
      return 0;
  return 1;
}

/* ---- node processes (tools/acto_node) --------------------------------------- */

static char g_prog[PATH_MAX];

/* Starts acto_node NAME seeded by seed@127.0.0.1:port; returns its pid and
 * sets *id from its READY line. */
static pid_t proc_start(const char *name, const char *seed, uint16_t port, uint64_t *id) {
  tu_find_program(g_prog, sizeof g_prog, "ACTO_NODE_PROG", "acto_node");
  ck_assert_msg(access(g_prog, X_OK) == 0, "%s is missing: build the acto_node target", g_prog);
  char seedarg[128], to[24];
  snprintf(seedarg, sizeof seedarg, "%s@127.0.0.1:%u", seed, (unsigned)port);
  snprintf(to, sizeof to, "%ld", 4000L * tu_multiplier());
  char *argv[] = {
      g_prog,           "--name", (char *)name,   "--key-hex", KEYHEX,        "--seed", seedarg,
      "--heartbeat-ms", "200",    "--timeout-ms", to,          "--log-level", "off",    NULL};
  char line[128];
  pid_t pid = np_start(argv, line, sizeof line); /* dies with this process */
  unsigned p = 0;
  unsigned long long nid = 0;
  if (sscanf(line, "READY port=%u node=%llx", &p, &nid) != 2) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_abort_msg("acto_node %s did not start: '%s'", name, line);
  }
  *id = nid;
  return pid;
}

static void proc_kill(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* ---- tests ------------------------------------------------------------------ */

/* Five nodes, four of which know only the first: every node ends up
 * connected to every other, and every member list says the same. */
START_TEST(one_seed_makes_a_full_mesh_and_every_list_agrees) {
  seen_reset();
  acto_system *v[5];
  const char *names[5] = {"m0", "m1", "m2", "m3", "m4"};
  v[0] = node(0, names[0], NULL, NULL);
  acto_node_seed seed = {"m0", "127.0.0.1", port_of(v[0])};
  opts o = {.seeds = &seed, .nseeds = 1};
  for (int i = 1; i < 5; i++)
    v[i] = node(i, names[i], &o, NULL);
  WAIT_FOR(all_meshed(v, 5), "a full mesh of 5");
  uint64_t ids[5];
  for (int i = 0; i < 5; i++)
    ids[i] = id_of(v[i]);
  for (int i = 0; i < 5; i++) {
    acto_member m[8];
    int n = acto_cluster_members(v[i], m, 8);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(m[0].self, 1);
    ck_assert_str_eq(m[0].name, names[i]);
    ck_assert_uint_eq(m[0].node_id, ids[i]);
    ck_assert_uint_eq(m[0].port, port_of(v[i]));
    int k = 1;
    for (int j = 0; j < 5; j++) {
      if (j == i)
        continue;
      ck_assert_str_eq(m[k].name, names[j]); /* by name after self */
      ck_assert_int_eq(m[k].self, 0);
      ck_assert_int_eq(m[k].state, ACTO_MEMBER_UP);
      ck_assert_uint_eq(m[k].node_id, ids[j]);
      ck_assert_uint_eq(m[k].incarnation, (uint32_t)ids[j]);
      ck_assert_str_eq(m[k].host, "127.0.0.1");
      ck_assert_uint_eq(m[k].port, port_of(v[j]));
      k++;
      /* The hook said JOINED for it, with its id. */
      ck_assert_int_ge(count_seen(i, 0, ACTO_MEMBER_EV_JOINED, names[j], ids[j]), 1);
    }
    /* A short buffer: the count, and only cap entries written. */
    acto_member one[2];
    memset(one, 0xab, sizeof one);
    ck_assert_int_eq(acto_cluster_members(v[i], one, 1), 5);
    ck_assert_int_eq(one[0].self, 1);
    ck_assert_uint_eq(((uint8_t *)&one[1])[0], 0xab);
    ck_assert_int_eq(acto_cluster_members(v[i], NULL, 0), 5);
  }
  for (int i = 4; i >= 0; i--)
    tu_shutdown(v[i]);
}
END_TEST

/* acto_node_stop says LEAVE: the others see "left", never "down", through
 * the hook and the subscription, and keep their own links. */
START_TEST(a_stopped_node_has_left_and_is_not_down) {
  seen_reset();
  acto_system *v[3];
  v[0] = node(0, "l0", NULL, NULL);
  acto_ref sub;
  ck_assert_ok(acto_spawn(v[0], &SUB, (void *)(intptr_t)0, NULL, &sub));
  ck_assert_ok(acto_cluster_subscribe(v[0], sub));
  ck_assert_ok(acto_cluster_subscribe(v[0], sub)); /* twice: one subscription */
  acto_node_seed seed = {"l0", "127.0.0.1", port_of(v[0])};
  opts o = {.seeds = &seed, .nseeds = 1};
  v[1] = node(1, "l1", &o, NULL);
  v[2] = node(2, "l2", &o, NULL);
  WAIT_FOR(all_meshed(v, 3), "a full mesh of 3");
  uint64_t id2 = id_of(v[2]);
  ck_assert_ok(acto_node_stop(v[2]));
  WAIT_FOR(count_seen(0, 0, ACTO_MEMBER_EV_LEFT, "l2", id2) == 1, "l0's hook: l2 left");
  WAIT_FOR(count_seen(1, 0, ACTO_MEMBER_EV_LEFT, "l2", id2) == 1, "l1's hook: l2 left");
  WAIT_FOR(count_seen(0, 1, ACTO_MEMBER_EV_LEFT, "l2", id2) == 1, "l0's subscriber: l2 left");
  ck_assert_int_eq(count_seen(0, 0, ACTO_MEMBER_EV_DOWN, "l2", 0), 0);
  ck_assert_int_eq(count_seen(1, 0, ACTO_MEMBER_EV_DOWN, "l2", 0), 0);
  ck_assert_int_eq(count_seen(0, 1, ACTO_MEMBER_EV_DOWN, "l2", 0), 0);
  acto_member m = member(v[0], "l2");
  ck_assert_int_eq(m.state, ACTO_MEMBER_LEFT);
  ck_assert_uint_eq(m.node_id, id2);
  /* The subscriber had the joins too (l1 and l2, once each). */
  ck_assert_int_eq(count_seen(0, 1, ACTO_MEMBER_EV_JOINED, "l2", id2), 1);
  ck_assert_int_ge(count_seen(0, 1, ACTO_MEMBER_EV_JOINED, "l1", 0), 1);
  ck_assert_uint_eq(peers_up(v[0]), 1);
  ck_assert_uint_eq(peers_up(v[1]), 1);
  ck_assert_int_eq(member(v[1], "l0").state, ACTO_MEMBER_UP);
  ck_assert_ok(acto_cluster_unsubscribe(v[0], sub));
  ck_assert_rc(acto_cluster_unsubscribe(v[0], sub), ACTO_ENOENT);
  for (int i = 2; i >= 0; i--)
    tu_shutdown(v[i]);
}
END_TEST

/* A node process killed with SIGKILL is down (not left) for both nodes
 * here; started again, it is a new incarnation, which rejoins by itself
 * and meets the node it never knew of through the seed. */
START_TEST(a_killed_node_is_down_and_its_restart_rejoins_as_a_new_incarnation) {
  seen_reset();
  acto_system *v[2];
  v[0] = node(0, "k0", NULL, NULL);
  acto_node_seed seed = {"k0", "127.0.0.1", port_of(v[0])};
  opts o = {.seeds = &seed, .nseeds = 1};
  v[1] = node(1, "k1", &o, NULL);
  WAIT_FOR(all_meshed(v, 2), "k0 and k1 up");
  uint64_t id1 = 0;
  pid_t pid = proc_start("kp", "k0", port_of(v[0]), &id1);
  WAIT_FOR(last_joined(0, "kp") == id1, "k0 sees kp join");
  WAIT_FOR(last_joined(1, "kp") == id1, "k1 sees kp join (told by k0)");
  WAIT_FOR(peers_up(v[0]) == 2 && peers_up(v[1]) == 2, "a mesh of 3");
  proc_kill(pid);
  WAIT_FOR(count_seen(0, 0, ACTO_MEMBER_EV_DOWN, "kp", id1) == 1, "k0: kp down");
  WAIT_FOR(count_seen(1, 0, ACTO_MEMBER_EV_DOWN, "kp", id1) == 1, "k1: kp down");
  ck_assert_int_eq(count_seen(0, 0, ACTO_MEMBER_EV_LEFT, "kp", 0), 0);
  ck_assert_int_eq(member(v[0], "kp").state, ACTO_MEMBER_DOWN);
  ck_assert_int_eq(member(v[1], "kp").state, ACTO_MEMBER_DOWN);
  uint64_t id2 = 0;
  pid = proc_start("kp", "k0", port_of(v[0]), &id2);
  ck_assert_uint_ne(id2, id1);
  ck_assert_uint_eq(id2 >> 32, id1 >> 32); /* same name, new incarnation */
  WAIT_FOR(last_joined(0, "kp") == id2, "k0 sees the new kp join");
  WAIT_FOR(last_joined(1, "kp") == id2, "k1 sees the new kp join");
  ck_assert_int_eq(member(v[1], "kp").state, ACTO_MEMBER_UP);
  ck_assert_uint_eq(member(v[1], "kp").node_id, id2);
  proc_kill(pid);
  tu_shutdown(v[1]);
  tu_shutdown(v[0]);
}
END_TEST

/* A seed by DNS name (localhost: resolved on the resolver thread, each of
 * its addresses tried in turn) and a node on IPv6 loopback (skipped where
 * the machine has no ::1). */
START_TEST(seeds_by_hostname_and_by_ipv6_address) {
  seen_reset();
  acto_system *a = node(0, "h0", NULL, NULL);
  acto_node_seed byname = {"h0", "localhost", port_of(a)};
  opts o = {.seeds = &byname, .nseeds = 1};
  acto_system *b = node(1, "h1", &o, NULL);
  WAIT_FOR(peers_up(a) == 1 && peers_up(b) == 1, "h1 joined h0 through \"localhost\"");
  ck_assert_str_eq(member(b, "h0").host, "localhost");
  tu_shutdown(b);
  tu_shutdown(a);

  int rc = 0;
  opts six = {.listen_host = "::1"};
  acto_system *c = node(2, "v6a", &six, &rc);
  if (!c) {
    ck_assert_int_eq(rc, ACTO_EIO); /* no IPv6 loopback here */
    return;
  }
  acto_node_seed v6 = {"v6a", "::1", port_of(c)};
  opts o6 = {.listen_host = "::1", .seeds = &v6, .nseeds = 1};
  acto_system *d = node(3, "v6b", &o6, NULL);
  acto_system *e = node(4, "v6c", &o6, NULL);
  acto_system *v[3] = {c, d, e};
  WAIT_FOR(all_meshed(v, 3), "a mesh of 3 over ::1");
  /* e learned d from c: by the address c saw, an IPv6 one. */
  ck_assert_str_eq(member(e, "v6b").host, "::1");
  ck_assert_str_eq(member(c, "v6b").host, "::1");
  tu_shutdown(e);
  tu_shutdown(d);
  tu_shutdown(c);
}
END_TEST

/* A partition between two nodes (through the fault proxy, blackholed)
 * makes each see the other down; the heal makes them one again. */
START_TEST(a_partition_and_its_heal_reconverge) {
  seen_reset();
  char prog[PATH_MAX];
  tu_find_program(prog, sizeof prog, "ACTO_FAULTPROXY", "faultproxy");
  ck_assert_msg(access(prog, X_OK) == 0, "%s is missing: build the faultproxy target", prog);
  acto_system *a =
      node(0, "p0", &(opts){.hb_ms = 100, .hb_timeout_ms = 600 * tu_multiplier()}, NULL);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%u", (unsigned)port_of(a));
  char *pargv[] = {prog,   "--listen",  "127.0.0.1:0", "--target",
                   target, "--control", "127.0.0.1:0", NULL};
  char line[256];
  pid_t px = np_start(pargv, line, sizeof line);
  int lport = 0, cport = 0;
  ck_assert_msg(
      sscanf(line, "faultproxy listen=127.0.0.1:%d control=127.0.0.1:%d", &lport, &cport) == 2,
      "faultproxy said '%s'", line);
  /* b does not listen: the proxy is the only way between the two. */
  acto_node_seed via = {"p0", "127.0.0.1", (uint16_t)lport};
  acto_system *b = node(1, "p1",
                        &(opts){.no_listen = 1,
                                .seeds = &via,
                                .nseeds = 1,
                                .hb_ms = 100,
                                .hb_timeout_ms = 600 * tu_multiplier()},
                        NULL);
  WAIT_FOR(peers_up(a) == 1 && peers_up(b) == 1, "p0 and p1 up through the proxy");
  uint64_t ida = id_of(a), idb = id_of(b);
  int ctl = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cport)};
  sa.sin_addr.s_addr = htonl(0x7f000001);
  ck_assert_int_eq(connect(ctl, (struct sockaddr *)&sa, sizeof sa), 0);
  const char *cmd = "mode blackhole\n";
  ck_assert_int_eq(write(ctl, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
  WAIT_FOR(count_seen(0, 0, ACTO_MEMBER_EV_DOWN, "p1", idb) == 1, "p0: p1 down (partition)");
  WAIT_FOR(count_seen(1, 0, ACTO_MEMBER_EV_DOWN, "p0", ida) == 1, "p1: p0 down (partition)");
  ck_assert_int_eq(member(a, "p1").state, ACTO_MEMBER_DOWN);
  cmd = "mode pass\n";
  ck_assert_int_eq(write(ctl, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
  WAIT_FOR(count_seen(0, 0, ACTO_MEMBER_EV_JOINED, "p1", idb) == 2, "p0: p1 back (heal)");
  WAIT_FOR(count_seen(1, 0, ACTO_MEMBER_EV_JOINED, "p0", ida) == 2, "p1: p0 back (heal)");
  WAIT_FOR(member(a, "p1").state == ACTO_MEMBER_UP && member(b, "p0").state == ACTO_MEMBER_UP,
           "both lists say up");
  close(ctl);
  tu_shutdown(b);
  tu_shutdown(a);
  kill(px, SIGTERM);
  tu_reap(px, TU_WAIT_MS, "faultproxy");
}
END_TEST

/* Gossip over encrypted links: a full mesh of TLS nodes, and a stop is
 * still "left" (LEAVE goes out before the session's close_notify). */
START_TEST(encrypted_nodes_mesh_and_leave_too) {
  seen_reset();
  acto_system *v[4];
  opts first = {.encryption = ACTO_NODE_ENCRYPT_TLS_PSK};
  v[0] = node(0, "t0", &first, NULL);
  acto_node_seed seed = {"t0", "127.0.0.1", port_of(v[0])};
  opts o = {.seeds = &seed, .nseeds = 1, .encryption = ACTO_NODE_ENCRYPT_TLS_PSK};
  for (int i = 1; i < 4; i++) {
    char name[8];
    snprintf(name, sizeof name, "t%d", i);
    v[i] = node(i, name, &o, NULL);
  }
  WAIT_FOR(all_meshed(v, 4), "a TLS mesh of 4");
  uint64_t id3 = id_of(v[3]);
  tu_shutdown(v[3]);
  for (int i = 0; i < 3; i++)
    WAIT_FOR(count_seen(i, 0, ACTO_MEMBER_EV_LEFT, "t3", id3) == 1, "t3 left");
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(count_seen(i, 0, ACTO_MEMBER_EV_DOWN, "t3", 0), 0);
  for (int i = 2; i >= 0; i--)
    tu_shutdown(v[i]);
}
END_TEST

START_TEST(bad_arguments_get_clear_codes) {
  acto_system *s = tu_system(1);
  acto_set_log_level(s, ACTO_LOG_OFF);
  acto_member m[2];
  ck_assert_rc(acto_cluster_members(s, m, 2), ACTO_ENOTCONN);
  ck_assert_rc(acto_cluster_subscribe(s, (acto_ref){1, 1}), ACTO_ENOTCONN);
  ck_assert_rc(acto_cluster_set_member_hook(s, hook, NULL), ACTO_ENOTCONN);
  ck_assert_rc(acto_cluster_members(NULL, m, 2), ACTO_EINVAL);
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = "args";
  nc.key = KEY;
  nc.key_len = sizeof KEY;
  nc.nseeds = 1; /* and no seeds */
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL);
  acto_node_seed bad[] = {
      {"bad name", "127.0.0.1", 1}, {"args", "127.0.0.1", 1}, {"x", "no host", 1}, {"x", NULL, 1},
      {"x", "127.0.0.1", 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    nc.seeds = &bad[i];
    ck_assert_msg(acto_node_start(s, &nc) == ACTO_EINVAL, "seed %zu accepted", i);
  }
  nc.seeds = NULL;
  nc.nseeds = 0;
  nc.listen_host = "localhost"; /* listening takes a numeric address */
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL);
  nc.listen_host = NULL;
  ck_assert_ok(acto_node_start(s, &nc));
  ck_assert_rc(acto_cluster_members(s, NULL, 1), ACTO_EINVAL);
  ck_assert_rc(acto_cluster_subscribe(s, ACTO_REF_NONE), ACTO_EINVAL);
  ck_assert_rc(acto_cluster_subscribe(s, (acto_ref){5, 0x1234}), ACTO_EINVAL); /* remote */
  ck_assert_rc(acto_node_connect(s, "x", "bad host!", 1, 0), ACTO_EINVAL);
  ck_assert_int_eq(acto_cluster_members(s, m, 2), 1);
  ck_assert_int_eq(m[0].self, 1);
  ck_assert_int_eq(m[0].state, ACTO_MEMBER_UP);
  tu_shutdown(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("membership");
  TCase *tc = tu_tcase("membership", 120);
  tu_add_tests(tc, one_seed_makes_a_full_mesh_and_every_list_agrees,
               a_stopped_node_has_left_and_is_not_down,
               a_killed_node_is_down_and_its_restart_rejoins_as_a_new_incarnation,
               seeds_by_hostname_and_by_ipv6_address, a_partition_and_its_heal_reconverge,
               encrypted_nodes_mesh_and_leave_too, bad_arguments_get_clear_codes);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
