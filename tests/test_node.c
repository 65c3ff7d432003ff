/* test_node.c - nodes in one process: two or three systems, each with its
 * own node on 127.0.0.1, talking over real TCP with the real handshake.
 * (Separate processes, SIGKILL and SIGSTOP are in test_node_procs.c; the
 * malformed-frame catalogue in test_node_frames.c.)
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "testnode.h"

static const uint8_t OTHER_KEY[32] = "ffffffffffffffffffffffffffffffff";

enum { T_ECHO = 1, T_SEQ = 2, T_FAIL = 3, T_SILENT = 4, T_FORWARD = 5, T_WATCH = 6, T_KEEP = 10,
       T_LINK = 7, T_ASK = 8, T_GOT = 9, T_WHERE = 11, T_SLOW = 12, T_SETFWD = 13 };

/* Answers T_WHERE with the name of the thread that runs the handler
 * (acto names its threads: "acto-w<i>" workers, "acto-node" the node's
 * I/O thread). */
static int reply_where(acto_ctx *ctx) {
  char name[16] = {0};
  TU_EXPECT_RC(pthread_getname_np(pthread_self(), name, sizeof name), 0);
  return acto_reply(ctx, T_WHERE, name, sizeof name);
}

/* ---- a probe actor --------------------------------------------------------- */

typedef struct seq_msg {
  uint32_t producer;
  uint32_t pad;
  uint64_t seq;
} seq_msg;

#define MAXP 8
static tu_counter got;       /* T_SEQ messages received */
static tu_counter events;    /* DOWN / EXIT / ask outcomes */
static _Atomic long last_reason;
static _Atomic long last_status;
static uint64_t next_seq[MAXP];
static _Atomic long out_of_order;

typedef struct probe {
  acto_ref target;
} probe;

static void ask_done(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)ctx;
  (void)state;
  (void)user;
  atomic_store(&last_status, status);
  if (status == 0)
    TU_EXPECT(reply && reply->type == T_ECHO && reply->size == 5, "bad async reply");
  tu_counter_add(&events, 1);
}

static int probe_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  probe *p = state;
  switch (m->type) {
  case T_ECHO:
    return acto_reply(ctx, T_ECHO, m->data, m->size);
  case T_WHERE:
    return reply_where(ctx);
  case T_SEQ: {
    seq_msg s;
    memcpy(&s, m->data, sizeof s);
    if (s.producer >= MAXP || s.seq != next_seq[s.producer])
      atomic_fetch_add(&out_of_order, 1);
    else
      next_seq[s.producer]++;
    tu_counter_add(&got, 1);
    return 0;
  }
  case T_FAIL:
    return -77;
  case T_SILENT:
    return 0; /* a request left unanswered: its asker gets ACTO_ENOREPLY */
  case T_KEEP: {
    acto_reply_token tok; /* kept, never answered */
    TU_EXPECT_RC(acto_reply_later(ctx, &tok), 0);
    return 0;
  }
  case T_FORWARD: {
    /* The payload is a ref (from another node): send it a T_GOT. */
    acto_ref r;
    memcpy(&r, m->data, sizeof r);
    TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), r, T_GOT, "x", 1));
    return 0;
  }
  case T_GOT:
    tu_counter_add(&got, 1);
    return 0;
  case T_WATCH: {
    memcpy(&p->target, m->data, sizeof p->target);
    uint64_t id;
    TU_EXPECT_RC(acto_monitor(ctx, p->target, &id), 0);
    /* Answering after the MONITOR left orders it before the asker's
     * next message to the target's node. */
    return acto_reply(ctx, T_WATCH, NULL, 0);
  }
  case T_LINK:
    memcpy(&p->target, m->data, sizeof p->target);
    acto_trap_exit(ctx, 1);
    TU_EXPECT_RC(acto_link(ctx, p->target), 0);
    return acto_reply(ctx, T_LINK, NULL, 0);
  case T_ASK: {
    memcpy(&p->target, m->data, sizeof p->target);
    int r = acto_ask_async(ctx, p->target, T_ECHO, "hello", 5, 5000, ask_done, NULL, NULL);
    TU_EXPECT(r == 0, "ask_async: %s", acto_err_name(r));
    return 0;
  }
  case ACTO_MSG_DOWN: {
    const acto_down *d = m->data;
    TU_EXPECT(acto_ref_eq(d->who, p->target), "DOWN of an unexpected actor");
    atomic_store(&last_reason, d->reason);
    tu_counter_add(&events, 1);
    return 0;
  }
  case ACTO_MSG_EXIT: {
    const acto_exit_signal *e = m->data;
    TU_EXPECT(acto_ref_eq(e->from, p->target), "EXIT from an unexpected actor");
    atomic_store(&last_reason, e->reason);
    tu_counter_add(&events, 1);
    return 0;
  }
  default:
    return 0;
  }
}

static const acto_behaviour PROBE = {
    .name = "probe", .state_size = sizeof(probe), .handle = probe_handle};

static acto_ref spawn_named(acto_system *s, const char *name) {
  acto_ref r;
  acto_spawn_opts o = {0};
  o.name = name;
  ck_assert_ok(acto_spawn(s, &PROBE, NULL, &o, &r));
  return r;
}

/* Asks `who` to watch or link `target` and waits until it did. */
static void command(acto_system *s, acto_ref who, uint32_t type, acto_ref target) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(s, who, type, &target, sizeof target, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
}

static void setup(void) {
  tu_setup();
  tu_counter_init(&got);
  tu_counter_init(&events);
  memset(next_seq, 0, sizeof next_seq);
  atomic_store(&out_of_order, 0);
  atomic_store(&last_reason, -1000);
  atomic_store(&last_status, -1000);
}

/* ---- start and configuration ------------------------------------------------- */

START_TEST(start_validates_its_arguments_and_must_come_before_spawn) {
  acto_system *s = tu_system(1);
  acto_node_config nc = {0};
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL); /* no name */
  nc.name = "bad name";
  nc.key = KEY;
  nc.key_len = 32;
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL);
  nc.name = "n1";
  nc.key_len = 16;
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL); /* key too short */
  nc.key_len = 32;
  nc.key = NULL;
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL); /* no key */
  nc.key_file = "/nonexistent/acto.key";
  ck_assert_rc(acto_node_start(s, &nc), ACTO_ENOENT);
  nc.key_file = NULL;
  nc.key = KEY;
  uint64_t id;
  ck_assert_rc(acto_node_self(s, &id), ACTO_ENOTCONN);
  acto_ref r;
  ck_assert_ok(acto_spawn(s, &PROBE, NULL, NULL, &r));
  /* Without a node, a ref carries the system's incarnation only. */
  ck_assert_uint_eq(r.node >> 32, 0);
  ck_assert_uint_ne((uint32_t)r.node, 0);
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EALREADY); /* after a spawn */
  tu_shutdown(s);

  s = tu_system(1);
  ck_assert_ok(acto_node_start(s, &nc));
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EALREADY);
  ck_assert_ok(acto_node_self(s, &id));
  ck_assert_uint_ne(id >> 32, 0);
  ck_assert_uint_ne((uint32_t)id, 0);
  ck_assert_ok(acto_spawn(s, &PROBE, NULL, NULL, &r));
  ck_assert_uint_eq(r.node, id); /* refs carry the node id */
  ck_assert_rc(acto_node_connect(s, "n1", "127.0.0.1", 1, 0), ACTO_EINVAL); /* itself */
  ck_assert_rc(acto_node_connect(s, "n2", "not an ip", 1, 0), ACTO_EINVAL);
  ck_assert_rc(acto_node_connect(s, "n2", "127.0.0.1", 0, 0), ACTO_EINVAL);
  tu_shutdown(s);

  s = tu_det_system(0);
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EINVAL);
  tu_shutdown(s);
}
END_TEST

START_TEST(a_key_file_with_loose_permissions_is_refused_and_keygen_makes_a_good_one) {
  char dir[] = "/tmp/acto-key-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/node.key", dir);
  ck_assert_ok(acto_node_keygen(path));
  ck_assert_rc(acto_node_keygen(path), ACTO_EEXIST);
  acto_system *s = tu_system(1);
  acto_node_config nc = {0};
  nc.name = "n1";
  nc.key_file = path;
  chmod(path, 0644);
  ck_assert_rc(acto_node_start(s, &nc), ACTO_EKEYPERM);
  chmod(path, 0600);
  ck_assert_ok(acto_node_start(s, &nc));
  tu_shutdown(s);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* ---- refusals say which rule ------------------------------------------------------ */

/* A log hook that keeps the lines (as in test_log.c). */
#define CAP_LINES 64
static struct {
  pthread_mutex_t mtx;
  int n;
  acto_log_level level[CAP_LINES];
  char component[CAP_LINES][32];
  char text[CAP_LINES][ACTO_LOG_LINE_MAX + 1];
} cap = {.mtx = PTHREAD_MUTEX_INITIALIZER};

static void cap_hook(void *user, acto_log_level level, const char *component, const char *text) {
  (void)user;
  pthread_mutex_lock(&cap.mtx);
  if (cap.n < CAP_LINES) {
    cap.level[cap.n] = level;
    snprintf(cap.component[cap.n], sizeof cap.component[0], "%s", component);
    snprintf(cap.text[cap.n], sizeof cap.text[0], "%s", text);
    cap.n++;
  }
  pthread_mutex_unlock(&cap.mtx);
}

static acto_system *cap_system(void) {
  acto_system *s = tu_system(1);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, NULL));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_ERROR));
  pthread_mutex_lock(&cap.mtx);
  cap.n = 0;
  pthread_mutex_unlock(&cap.mtx);
  return s;
}

/* The call returned `code`, and produced exactly one new line: an error
 * of the node component that contains each of the (up to 3) needles. */
#define ck_refused(call, code, ...)                                                                \
  do {                                                                                             \
    pthread_mutex_lock(&cap.mtx);                                                                  \
    int n0_ = cap.n;                                                                               \
    pthread_mutex_unlock(&cap.mtx);                                                                \
    ck_assert_rc((call), (code));                                                                  \
    const char *needles_[] = {__VA_ARGS__, NULL};                                                  \
    pthread_mutex_lock(&cap.mtx);                                                                  \
    int n1_ = cap.n;                                                                               \
    const char *t_ = n1_ > 0 ? cap.text[n1_ - 1] : "";                                             \
    ck_assert_msg(n1_ == n0_ + 1, "%s: %d lines, expected one", #call, n1_ - n0_);                 \
    ck_assert_int_eq(cap.level[n1_ - 1], ACTO_LOG_ERROR);                                          \
    ck_assert_str_eq(cap.component[n1_ - 1], "node");                                              \
    ck_assert_msg(strstr(t_, acto_err_name(code)) != NULL, "line \"%s\" lacks the code", t_);      \
    for (int i_ = 0; needles_[i_]; i_++)                                                           \
      ck_assert_msg(strstr(t_, needles_[i_]) != NULL, "line \"%s\" lacks \"%s\"", t_,             \
                    needles_[i_]);                                                                 \
    pthread_mutex_unlock(&cap.mtx);                                                                \
  } while (0)

static void put_file(const char *path, const char *text, mode_t mode) {
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  ck_assert_int_eq(fchmod(fd, mode), 0);
  close(fd);
}

#define GOOD_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

START_TEST(a_refused_key_file_is_named_with_the_rule_it_breaks) {
  char dir[] = "/tmp/acto-keyrule-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256], link[256], fifo[256];
  snprintf(path, sizeof path, "%s/node.key", dir);
  snprintf(link, sizeof link, "%s/link.key", dir);
  snprintf(fifo, sizeof fifo, "%s/fifo.key", dir);
  acto_system *s = cap_system();
  acto_node_config nc = {0};
  nc.name = "n1";
  nc.key_file = path;
  ck_refused(acto_node_start(s, &nc), ACTO_ENOENT, path, "does not exist");
  put_file(path, GOOD_HEX "\n", 0644);
  ck_refused(acto_node_start(s, &nc), ACTO_EKEYPERM, path, "mode 0644", "0600 or stricter");
  ck_assert_int_eq(chmod(path, 0600), 0);
  ck_assert_int_eq(symlink(path, link), 0);
  nc.key_file = link;
  ck_refused(acto_node_start(s, &nc), ACTO_EKEYPERM, link, "symbolic link");
  nc.key_file = dir;
  ck_refused(acto_node_start(s, &nc), ACTO_EKEYPERM, dir, "not a regular file");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  nc.key_file = fifo; /* refused at once, not waited on */
  ck_refused(acto_node_start(s, &nc), ACTO_EKEYPERM, fifo, "not a regular file");
  nc.key_file = path;
  if (geteuid() == 0) {
    ck_assert_int_eq(chown(path, 1, 1), 0);
    ck_refused(acto_node_start(s, &nc), ACTO_EKEYPERM, path, "owned by uid 1");
    ck_assert_int_eq(chown(path, 0, 0), 0);
  }
  static const struct {
    const char *text, *rule;
  } bad[] = {
      {"\n", "is empty"},
      {"xyz" GOOD_HEX "\n", "not a hex digit (0x78 at byte 0)"},
      {GOOD_HEX "0\n", "odd number of hex digits (65)"},
      {"0011223344556677\n", "too short (16 hex digits)"},
      {GOOD_HEX GOOD_HEX "00\n", "too long (130 hex digits)"},
      {"00112233445566778899aabbccddeeff 00112233445566778899aabbccddeeff\n",
       "whitespace inside the key"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    put_file(path, bad[i].text, 0600);
    ck_refused(acto_node_start(s, &nc), ACTO_EKEYFORMAT, path, bad[i].rule);
  }
  put_file(path, "  " GOOD_HEX "\r\n", 0600); /* whitespace around is fine */
  ck_assert_ok(acto_node_start(s, &nc));
  tu_shutdown(s);
  unlink(path);
  unlink(link);
  unlink(fifo);
  rmdir(dir);
}
END_TEST

START_TEST(refused_start_and_connect_arguments_name_the_rule) {
  acto_system *s = cap_system();
  acto_node_config nc = {0};
  nc.key = KEY;
  nc.key_len = 32;
  ck_refused(acto_node_start(s, NULL), ACTO_EINVAL, "cfg is NULL");
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "no node name", "A-Z a-z 0-9 . _ @ -");
  nc.name = "bad name";
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "\"bad name\"", "0x20 at 3",
             "A-Z a-z 0-9 . _ @ -");
  nc.name = "n123456789n123456789n123456789n123456789n123456789n123456789n1234";
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "longer than 64 bytes");
  nc.name = "n1";
  nc.key = NULL;
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "no key");
  nc.key = KEY;
  nc.key_len = 16;
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "key_len 16", "32 to 64 bytes");
  nc.key_len = 32;
  nc.frame_cap = 100;
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "frame_cap 100");
  nc.frame_cap = 0;
  nc.heartbeat_timeout_ms = -5;
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "heartbeat_timeout_ms -5");
  nc.heartbeat_timeout_ms = 0;
  nc.listen_host = "localhost";
  ck_refused(acto_node_start(s, &nc), ACTO_EINVAL, "\"localhost\"", "numeric IPv4 or IPv6");
  nc.listen_host = NULL;
  /* Connect before a node runs. */
  ck_refused(acto_node_connect(s, "n2", "127.0.0.1", 1, 0), ACTO_ENOTCONN, "acto_node_start");
  /* Start after a spawn: the code stays EALREADY, the line says why. */
  acto_ref r;
  ck_assert_ok(acto_spawn(s, &PROBE, NULL, NULL, &r));
  ck_refused(acto_node_start(s, &nc), ACTO_EALREADY, "must start before the first spawn");
  tu_shutdown(s);

  s = cap_system();
  ck_assert_ok(acto_node_start(s, &nc));
  ck_refused(acto_node_start(s, &nc), ACTO_EALREADY, "already runs");
  uint16_t port = port_of(s);
  /* The port in use: ACTO_EIO with errno and the address in the line. */
  acto_system *t = cap_system();
  nc.name = "n2";
  nc.listen_port = port;
  char where[32];
  snprintf(where, sizeof where, "127.0.0.1:%u", port);
  errno = 0;
  ck_refused(acto_node_start(t, &nc), ACTO_EIO, "cannot listen on", where);
  ck_assert_int_eq(errno, EADDRINUSE);
  tu_shutdown(t);
  ck_refused(acto_node_connect(s, "bad/name", "127.0.0.1", 1, 0), ACTO_EINVAL, "0x2f at 3",
             "A-Z a-z 0-9 . _ @ -");
  ck_refused(acto_node_connect(s, "n2", NULL, 1, 0), ACTO_EINVAL, "no host");
  ck_refused(acto_node_connect(s, "n2", "not an ip", 1, 0), ACTO_EINVAL, "\"not an ip\"",
             "DNS name or a numeric IPv4 or IPv6");
  ck_refused(acto_node_connect(s, "n2", "127.0.0.1", 0, 0), ACTO_EINVAL, "port 0");
  ck_refused(acto_node_connect(s, "n2", "127.0.0.1", 1, -5), ACTO_EINVAL, "timeout_ms -5");
  ck_refused(acto_node_connect(s, "n1", "127.0.0.1", 1, 0), ACTO_EINVAL, "own name");
  /* bmZalm has the hash of srv in test_node_frames.c; here: of a node
   * name this node cannot tell apart from its own. */
  acto_ref out;
  ck_refused(acto_node_lookup(s, "n2", "", 0, &out), ACTO_EINVAL, "1 to");
  ck_refused(acto_node_lookup(s, "n 2", "echo", 0, &out), ACTO_EINVAL, "0x20 at 1");
  uint64_t id;
  ck_refused(acto_node_id(s, "", &id), ACTO_EINVAL, "empty node name");
  tu_shutdown(s);
}
END_TEST

/* acto_node_keygen has no system: its refusals go to the default sink
 * (stderr), read here through a pipe. */
static int keygen_to_pipe(const char *path, char *out, size_t size) {
  int pfd[2];
  ck_assert_int_eq(pipe(pfd), 0);
  fflush(stderr);
  int saved = dup(2);
  ck_assert_int_ge(saved, 0);
  ck_assert_int_ge(dup2(pfd[1], 2), 0);
  int r = acto_node_keygen(path);
  int e = errno;
  dup2(saved, 2);
  close(saved);
  close(pfd[1]);
  ssize_t k = read(pfd[0], out, size - 1);
  out[k > 0 ? k : 0] = '\0';
  close(pfd[0]);
  errno = e;
  return r;
}

START_TEST(keygen_refusals_name_the_file_and_the_rule) {
  char dir[] = "/tmp/acto-keygen-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256], deep[256], text[1024];
  snprintf(path, sizeof path, "%s/node.key", dir);
  snprintf(deep, sizeof deep, "%s/missing/node.key", dir);
  ck_assert_ok(keygen_to_pipe(path, text, sizeof text));
  ck_assert_str_eq(text, "");
  ck_assert_rc(keygen_to_pipe(path, text, sizeof text), ACTO_EEXIST);
  ck_assert_msg(strstr(text, "acto node: error: acto_node_keygen: key file ") && strstr(text, path) &&
                    strstr(text, "exists already"),
                "stderr: %s", text);
  ck_assert_rc(keygen_to_pipe(deep, text, sizeof text), ACTO_ENOENT);
  ck_assert_msg(strstr(text, deep) && strstr(text, "directory is missing"), "stderr: %s", text);
  ck_assert_rc(keygen_to_pipe(NULL, text, sizeof text), ACTO_EINVAL);
  unlink(path);
  rmdir(dir);
}
END_TEST

/* ---- connecting ----------------------------------------------------------------- */

START_TEST(connect_lookup_and_ask_across_nodes) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  acto_ref echo = spawn_named(b, "echo");
  link_nodes(a, "beta", b);
  uint64_t bid, bself;
  ck_assert_ok(acto_node_id(a, "beta", &bid));
  ck_assert_ok(acto_node_self(b, &bself));
  ck_assert_uint_eq(bid, bself);
  ck_assert_rc(acto_node_id(a, "gamma", &bid), ACTO_ENOENT);

  acto_ref r;
  ck_assert_ok(acto_node_lookup(a, "beta", "echo", TU_WAIT_MS, &r));
  ck_assert(acto_ref_eq(r, echo));
  ck_assert_rc(acto_node_lookup(a, "beta", "nobody", TU_WAIT_MS, &r), ACTO_ENOENT);
  ck_assert_rc(acto_node_lookup(a, "gamma", "echo", TU_WAIT_MS, &r), ACTO_ENOTCONN);
  ck_assert_ok(acto_node_lookup(b, "beta", "echo", 0, &r)); /* its own name: local */
  /* Names live on their actor's node; liveness of a remote actor is a
   * monitor's business. */
  ck_assert_rc(acto_register(a, "remote-echo", echo), ACTO_EINVAL);
  ck_assert_int_eq(acto_alive(a, echo), 0);
  ck_assert_int_eq(acto_alive(b, echo), 1);

  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, echo, T_ECHO, "hello", 5, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.type, T_ECHO);
  ck_assert_uint_eq(rb.size, 5);
  ck_assert_mem_eq(rb.data, "hello", 5);
  acto_reply_release(&rb);
  /* A large payload (200 KiB) crosses in one frame. */
  size_t big = 200 * 1024;
  char *buf = malloc(big);
  for (size_t i = 0; i < big; i++)
    buf[i] = (char)(i * 7);
  ck_assert_ok(acto_ask(a, echo, T_ECHO, buf, big, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, big);
  ck_assert_mem_eq(rb.data, buf, big);
  acto_reply_release(&rb);
  free(buf);
  /* The target fails instead of replying: the asker knows at once. */
  ck_assert_rc(acto_ask(a, echo, T_FAIL, NULL, 0, TU_WAIT_MS, &rb), ACTO_EFAILED);
  acto_ref echo2 = spawn_named(b, "echo2");
  /* Handled without a reply: the asker on the other node knows at once. */
  ck_assert_rc(acto_ask(a, echo2, T_SILENT, NULL, 0, -1, &rb), ACTO_ENOREPLY);
  /* Kept and never answered: the deadline. */
  ck_assert_rc(acto_ask(a, echo2, T_KEEP, NULL, 0, 200, &rb), ACTO_ETIMEDOUT);
  /* A stale ref on the other node: the request is answered ECLOSED. */
  ck_assert_rc(acto_ask(a, echo, T_ECHO, "x", 1, TU_WAIT_MS, &rb), ACTO_ECLOSED);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_eq(st.peers_up, 1);
  ck_assert_uint_ge(st.msgs_out, 5);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(a_wrong_key_is_refused_on_both_sides) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", OTHER_KEY, LIVE_HBT);
  ck_assert_rc(acto_node_connect(a, "beta", "127.0.0.1", port_of(b), TU_WAIT_MS), ACTO_EAUTH);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_eq(st.peers_up, 0);
  ck_assert_uint_ge(st.handshakes_refused, 1);
  /* A node that answers under another name is refused too. */
  acto_system *c = node_sys("gamma", KEY, LIVE_HBT);
  ck_assert_rc(acto_node_connect(a, "delta", "127.0.0.1", port_of(c), TU_WAIT_MS), ACTO_EAUTH);
  /* Nobody listening: a port held by a socket that never listens (a
   * stopped node's port could be taken by another process meanwhile). */
  int hold = -1;
  uint16_t dead = tu_refusing_port(&hold);
  ck_assert_rc(acto_node_connect(a, "delta2", "127.0.0.1", dead, TU_WAIT_MS), ACTO_ENOTCONN);
  close(hold);
  tu_shutdown(a);
  tu_shutdown(b);
  tu_shutdown(c);
}
END_TEST

/* ---- delivery -------------------------------------------------------------------- */

typedef struct producer_arg {
  acto_system *sys;
  acto_ref to;
  uint32_t id;
  long n;
} producer_arg;

static void *producer(void *p_) {
  producer_arg *p = p_;
  for (long i = 0; i < p->n; i++) {
    seq_msg m = {p->id, 0, (uint64_t)i};
    int r = acto_send(p->sys, p->to, T_SEQ, &m, sizeof m);
    if (r != 0) {
      TU_EXPECT(0, "send: %s", acto_err_name(r));
      break;
    }
  }
  return NULL;
}

START_TEST(order_per_sender_holds_under_load_with_a_small_mailbox_and_queue) {
  acto_system *a, *b;
  {
    acto_config c = {0};
    c.threads = 2;
    a = tu_system_cfg(&c);
    b = tu_system_cfg(&c);
    acto_node_config nc = {0};
    nc.key = KEY;
    nc.key_len = 32;
    nc.out_queue_bytes = 4096; /* the queue fills: senders wait */
    nc.heartbeat_timeout_ms = 4000 * tu_multiplier(); /* the default, scaled */
    nc.name = "alpha";
    ck_assert_ok(acto_node_start(a, &nc));
    nc.name = "beta";
    ck_assert_ok(acto_node_start(b, &nc));
  }
  acto_ref sink;
  acto_spawn_opts o = {0};
  o.capacity = 16; /* the mailbox fills: BUSY, ROOM (flow control) */
  ck_assert_ok(acto_spawn(b, &PROBE, NULL, &o, &sink));
  link_nodes(a, "beta", b);
  enum { P = 4 };
  long n = TU_N(50000, 10000, 3000);
  pthread_t th[P];
  producer_arg pa[P];
  for (int i = 0; i < P; i++) {
    pa[i] = (producer_arg){a, sink, (uint32_t)i, n};
    pthread_create(&th[i], NULL, producer, &pa[i]);
  }
  for (int i = 0; i < P; i++)
    pthread_join(th[i], NULL);
  /* Its speed is the machine's (a loaded CI host: minutes); what is
   * guaranteed is that every message arrives, in order. */
  ck_assert_counter_progresses_to(&got, P * n);
  ck_assert_int_eq(atomic_load(&out_of_order), 0);
  for (int i = 0; i < P; i++)
    ck_assert_uint_eq(next_seq[i], (uint64_t)n);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(refs_travel_inside_payloads_and_actors_ask_remote_actors) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  acto_ref pa = spawn_named(a, "pa");
  acto_ref pb = spawn_named(b, "pb");
  link_nodes(a, "beta", b);
  /* pa's ref, inside a payload, is used by pb on the other node. */
  ck_assert_ok(acto_send(a, pb, T_FORWARD, &pa, sizeof pa));
  ck_assert_counter_reaches(&got, 1);
  /* An actor asks a remote actor (continuation). */
  ck_assert_ok(acto_send(a, pa, T_ASK, &pb, sizeof pb));
  ck_assert_counter_reaches(&events, 1);
  ck_assert_int_eq(atomic_load(&last_status), 0);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- monitors, links, node down --------------------------------------------------- */

START_TEST(a_remote_monitor_gets_down_with_the_real_reason) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  acto_ref watcher = spawn_named(a, "w");
  acto_ref target = spawn_named(b, "t");
  link_nodes(a, "beta", b);
  command(a, watcher, T_WATCH, target);
  /* The MONITOR left before this ask (command): a round trip on the same
   * connection proves it arrived before the failure below. */
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, target, T_ECHO, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  ck_assert_ok(acto_send(b, target, T_FAIL, NULL, 0));
  ck_assert_counter_reaches(&events, 1);
  ck_assert_int_eq(atomic_load(&last_reason), -77);
  /* Monitoring a remote actor that is gone: NOPROC. */
  command(a, watcher, T_WATCH, target);
  ck_assert_counter_reaches(&events, 2);
  ck_assert_int_eq(atomic_load(&last_reason), ACTO_REASON_NOPROC);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* A stopped node closes its connections, and the peer sees that at once:
 * with heartbeat timeouts that cannot expire while the test waits
 * (4 x TU_WAIT_MS), only the close can explain the DOWN and the EXIT, and
 * no heartbeat timeout is counted. */
START_TEST(node_stop_fires_noconnection_to_monitors_links_and_asks) {
  acto_system *a = node_sys("alpha", KEY, 4 * TU_WAIT_MS),
              *b = node_sys("beta", KEY, 4 * TU_WAIT_MS);
  acto_ref watcher = spawn_named(a, "w");
  acto_ref linker = spawn_named(a, "l");
  acto_ref target = spawn_named(b, "t");
  acto_ref target2 = spawn_named(b, "t2");
  link_nodes(a, "beta", b);
  command(a, watcher, T_WATCH, target);
  command(a, linker, T_LINK, target2);
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, target, T_ECHO, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  ck_assert_ok(acto_ask(a, target2, T_ECHO, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  int64_t t0 = tu_now_ms();
  ck_assert_ok(acto_node_stop(b)); /* closes the connection: at once */
  ck_assert_counter_reaches(&events, 2);
  fprintf(stderr, "node stop -> DOWN and EXIT: %lld ms\n", (long long)(tu_now_ms() - t0));
  ck_assert_int_eq(atomic_load(&last_reason), ACTO_REASON_NOCONNECTION);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_eq(st.heartbeat_timeouts, 0); /* the close, not the timeout */
  /* Sends to the gone node fail (and count a dead letter). */
  int r = acto_send(a, target, T_ECHO, "x", 1);
  ck_assert(r == ACTO_ENOTCONN || r == 0);
  ck_assert_rc(acto_ask(a, target, T_ECHO, "x", 1, TU_WAIT_MS, &rb), ACTO_ENOTCONN);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* Heartbeat timeouts of the idle-link tests: 400 ms, scaled like every
 * deadline (a node whose I/O thread is kept off the CPU that long is
 * silent: heartbeats guarantee nothing about a machine that does not run
 * them).  The idle period is several timeouts. */
#define IDLE_HBT ((int64_t)400 * tu_multiplier())
#define IDLE_MS (1500L * tu_multiplier())

START_TEST(an_idle_link_is_kept_up_by_heartbeats) {
  /* (A silent peer - SIGSTOP - is in test_node_procs.)  Here: with no
   * traffic for several timeouts, heartbeats keep the link up. */
  acto_system *a = node_sys("alpha", KEY, IDLE_HBT), *b = node_sys("beta", KEY, IDLE_HBT);
  link_nodes(a, "beta", b);
  tu_sleep_ms(IDLE_MS); /* several heartbeat timeouts of idleness */
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_eq(st.peers_up, 1);
  ck_assert_uint_eq(st.heartbeat_timeouts, 0);
  ck_assert_uint_eq(st.disconnects, 0);
  ck_assert_ok(acto_node_get_stats(b, &st));
  ck_assert_uint_eq(st.peers_up, 1);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(nodes_with_different_heartbeat_timeouts_keep_an_idle_link_up) {
  /* alpha pings only every 2 s, but beta declares silence after 400 ms:
   * alpha's PONGs to beta's PINGs keep beta hearing from it.  (Both scaled
   * alike: alpha's own heartbeat stays beyond the idle period.) */
  acto_system *a = node_sys("alpha", KEY, 20 * IDLE_HBT), *b = node_sys("beta", KEY, IDLE_HBT);
  link_nodes(a, "beta", b);
  tu_sleep_ms(IDLE_MS);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(b, &st));
  ck_assert_uint_eq(st.heartbeat_timeouts, 0);
  ck_assert_uint_eq(st.disconnects, 0);
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_eq(st.disconnects, 0);
  ck_assert_uint_eq(st.peers_up, 1);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(nodes_with_different_frame_caps_refuse_to_connect) {
  /* One node would send frames the other refuses: both close the
   * connection at INFO, whichever side connected, so it is never up. */
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT);
  acto_config c = {0};
  c.threads = 2;
  acto_system *b = tu_system_cfg(&c);
  acto_node_config nc = {0};
  nc.name = "beta";
  nc.key = KEY;
  nc.key_len = 32;
  nc.frame_cap = 64 * 1024;
  ck_assert_ok(acto_node_start(b, &nc));
  ck_assert_rc(acto_node_connect(a, "beta", "127.0.0.1", port_of(b), TU_WAIT_MS), ACTO_ENOTCONN);
  ck_assert_rc(acto_node_connect(b, "alpha", "127.0.0.1", port_of(a), TU_WAIT_MS), ACTO_ENOTCONN);
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_eq(st.peers_up, 0);
  ck_assert_uint_eq(st.connects, 0);
  ck_assert_ok(acto_node_get_stats(b, &st));
  ck_assert_uint_eq(st.connects, 0);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

static _Atomic int ups, downs;
static void on_event(void *user, acto_node_event ev, const char *name, uint64_t id,
                     const char *reason) {
  (void)user;
  (void)id;
  (void)reason;
  TU_EXPECT(strcmp(name, "beta") == 0, "event for %s", name);
  atomic_fetch_add(ev == ACTO_NODE_UP ? &ups : &downs, 1);
}

START_TEST(a_restarted_node_is_a_new_incarnation_and_old_refs_are_stale) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  ck_assert_ok(acto_node_set_event_hook(a, on_event, NULL));
  acto_ref old = spawn_named(b, "t");
  uint16_t port = port_of(b);
  link_nodes(a, "beta", b);
  uint64_t id1;
  ck_assert_ok(acto_node_id(a, "beta", &id1));
  tu_shutdown(b);
  /* beta again, on the same port: a reconnects by itself (backoff). */
  acto_config c = {0};
  c.threads = 2;
  b = tu_system_cfg(&c);
  acto_node_config nc = {0};
  nc.name = "beta";
  nc.key = KEY;
  nc.key_len = 32;
  nc.listen_port = port;
  /* The port was ours a moment ago; until the kernel lets go of it (or
   * while another process briefly holds it) the bind may fail: retry. */
  int64_t bind_end = tu_now_ms() + TU_WAIT_MS;
  int started;
  while ((started = acto_node_start(b, &nc)) == ACTO_EIO && tu_now_ms() < bind_end)
    tu_sleep_ms(50);
  ck_assert_ok(started);
  acto_ref fresh = spawn_named(b, "t");
  acto_ref r;
  int64_t deadline = tu_now_ms() + TU_WAIT_MS;
  int rc;
  while ((rc = acto_node_lookup(a, "beta", "t", 500, &r)) != 0 && tu_now_ms() < deadline)
    tu_sleep_ms(20);
  ck_assert_ok(rc);
  ck_assert(acto_ref_eq(r, fresh));
  uint64_t id2;
  ck_assert_ok(acto_node_id(a, "beta", &id2));
  ck_assert_uint_eq(id1 >> 32, id2 >> 32); /* same name */
  ck_assert_uint_ne(id1, id2);             /* new incarnation */
  ck_assert_uint_ne(old.node, fresh.node);
  acto_reply_buf rb;
  ck_assert_rc(acto_ask(a, old, T_ECHO, "x", 1, TU_WAIT_MS, &rb), ACTO_ESTALE);
  ck_assert_ok(acto_ask(a, fresh, T_ECHO, "x", 1, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  ck_assert_int_ge(atomic_load(&ups), 2);
  ck_assert_int_ge(atomic_load(&downs), 1);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* Two systems of one process running nodes of the same name (two
 * incarnations): a ref of one is refused by the other, never delivered to
 * its actor in the same slot. */
START_TEST(a_ref_of_another_incarnation_of_this_node_is_refused) {
  acto_system *a = node_sys("same", KEY, LIVE_HBT), *b = node_sys("same", KEY, LIVE_HBT);
  acto_ref ra = spawn_named(a, "t");
  acto_ref rb = spawn_named(b, "t");
  ck_assert_uint_eq(ra.id, rb.id);
  ck_assert_uint_eq(ra.node >> 32, rb.node >> 32);
  ck_assert_uint_ne(ra.node, rb.node);
  ck_assert_int_eq(acto_alive(b, ra), 0);
  ck_assert_rc(acto_send(b, ra, T_ECHO, "x", 1), ACTO_ESTALE);
  acto_reply_buf rep;
  ck_assert_rc(acto_ask(b, ra, T_ECHO, "x", 1, 100, &rep), ACTO_ESTALE);
  ck_assert_rc(acto_stop(b, ra), ACTO_ESTALE);
  ck_assert_ok(acto_ask(b, rb, T_ECHO, "x", 1, TU_WAIT_MS, &rep));
  acto_reply_release(&rep);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

START_TEST(three_nodes_connecting_to_each_other_at_once_settle_on_one_connection_each) {
  acto_system *s[3] = {node_sys("n1", KEY, LIVE_HBT), node_sys("n2", KEY, LIVE_HBT),
                       node_sys("n3", KEY, LIVE_HBT)};
  const char *names[3] = {"n1", "n2", "n3"};
  acto_ref e[3];
  for (int i = 0; i < 3; i++)
    e[i] = spawn_named(s[i], "echo");
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      if (i != j)
        ck_assert_ok(acto_node_connect(s[i], names[j], "127.0.0.1", port_of(s[j]), 0));
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      if (i == j)
        continue;
      acto_reply_buf rb;
      int64_t deadline = tu_now_ms() + TU_WAIT_MS;
      int rc;
      while ((rc = acto_ask(s[i], e[j], T_ECHO, "x", 1, 1000, &rb)) != 0 &&
             tu_now_ms() < deadline)
        tu_sleep_ms(20);
      ck_assert_ok(rc);
      acto_reply_release(&rb);
    }
  for (int i = 0; i < 3; i++) {
    acto_node_stats st;
    ck_assert_ok(acto_node_get_stats(s[i], &st));
    ck_assert_uint_eq(st.peers_up, 2);
  }
  for (int i = 0; i < 3; i++)
    tu_shutdown(s[i]);
}
END_TEST

/* ---- flow control: one stuck actor holds back only its own producer ------- */

/* S on node beta: capacity 16, stuck in its first message (a gate); it
 * records the seq of every T_SEQ after that. */
static tu_gate s_gate;
static tu_counter s_entered;
static _Atomic long s_got, s_bad;

static int stuck_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  if (m->type == TU_MSG_GATE) {
    tu_counter_add(&s_entered, 1);
    TU_EXPECT(tu_gate_wait(&s_gate, 40 * TU_WAIT_MS), "the gate stayed closed");
    return 0;
  }
  seq_msg q;
  memcpy(&q, m->data, sizeof q);
  if (q.seq != (uint64_t)atomic_load(&s_got))
    atomic_fetch_add(&s_bad, 1); /* lost, duplicated or out of order */
  atomic_fetch_add(&s_got, 1);
  return 0;
}
static const acto_behaviour STUCK = {.name = "stuck", .handle = stuck_handle};

/* The producer on node alpha: sends numbered messages to S, 64 per turn
 * (a "continue" to itself between turns, ACTORS.md 5), until a send
 * parks; then it stops.  S's mailbox is full, so BUSY comes back and a
 * send parks, however fast this runs: the test needs no timing. */
enum { T_GO = 20, T_CONT = 21 };
static _Atomic long p_sent, p_parked;
typedef struct producer_state {
  acto_ref to;
} producer_state;

static int producer_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  producer_state *ps = state;
  if (m->type == T_GO && m->size == sizeof(producer_state))
    memcpy(ps, m->data, sizeof *ps);
  if (atomic_load(&p_parked))
    return 0;
  for (int i = 0; i < 64; i++) {
    seq_msg q = {0, 0, (uint64_t)atomic_load(&p_sent)};
    int r = acto_send(acto_ctx_system(ctx), ps->to, T_SEQ, &q, sizeof q);
    TU_EXPECT(r == 0 || r == ACTO_PARKED, "send to S: %s", acto_err_name(r));
    atomic_fetch_add(&p_sent, 1);
    if (r == ACTO_PARKED) {
      atomic_fetch_add(&p_parked, 1);
      return 0;
    }
  }
  return acto_send(acto_ctx_system(ctx), acto_self(ctx), T_CONT, NULL, 0);
}
static const acto_behaviour PRODUCER = {
    .name = "producer", .state_size = sizeof(producer_state), .handle = producer_handle};

static acto_node_stats nstats(acto_system *s) {
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(s, &st));
  return st;
}

/* Sends n T_SEQ messages (producer 1) to F from this thread; returns the
 * seconds until F has them all. */
static double stream_to(acto_system *a, acto_ref f, long base, long n) {
  uint64_t t0 = tu_now_ns();
  for (long i = 0; i < n; i++) {
    seq_msg q = {1, 0, (uint64_t)(base + i)};
    ck_assert_ok(acto_send(a, f, T_SEQ, &q, sizeof q));
  }
  ck_assert_counter_reaches(&got, base + n);
  return (double)(tu_now_ns() - t0) / 1e9;
}

START_TEST(a_stuck_actor_holds_back_only_its_own_producer) {
  /* Heartbeat timeout HBT; S stays stuck for 10 of them. */
  const int64_t hbt = 600 * tu_multiplier();
  acto_system *a = node_sys("alpha", KEY, hbt), *b = node_sys("beta", KEY, hbt);
  tu_gate_init(&s_gate);
  tu_counter_init(&s_entered);
  atomic_store(&s_got, 0);
  atomic_store(&s_bad, 0);
  atomic_store(&p_sent, 0);
  atomic_store(&p_parked, 0);
  acto_ref s, f, prod;
  acto_spawn_opts o = {0};
  o.capacity = 16;
  o.overflow = ACTO_OVERFLOW_BLOCK;
  ck_assert_ok(acto_spawn(b, &STUCK, NULL, &o, &s));
  ck_assert_ok(acto_spawn(b, &PROBE, NULL, NULL, &f));
  ck_assert_ok(acto_spawn(a, &PRODUCER, NULL, NULL, &prod));
  link_nodes(a, "beta", b);
  const long n = 100000;

  /* Phase 1: F's rate with S idle. */
  double t1 = stream_to(a, f, 0, n);

  /* Phase 2: S stuck, its producer parked. */
  uint64_t stuck_at = tu_now_ns();
  ck_assert_ok(acto_send(a, s, TU_MSG_GATE, NULL, 0));
  ck_assert_counter_reaches(&s_entered, 1);
  producer_state go = {s};
  ck_assert_ok(acto_send(a, prod, T_GO, &go, sizeof go));
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (atomic_load(&p_parked) == 0 && tu_now_ms() < end)
    tu_sleep_ms(1);
  ck_assert_msg(atomic_load(&p_parked) > 0, "the producer to S never parked");
  ck_assert_uint_ge(nstats(b).busy_sent, 1);
  ck_assert_uint_ge(nstats(a).busy_received, 1);
  long sent0 = atomic_load(&p_sent);
  ck_assert_uint_ge(nstats(a).busy_parks, 1);

  /* F still gets every message while S is stuck. */
  double t2 = stream_to(a, f, n, n);
  /* F's messages left after every send to S that was not parked, on the
   * same FIFO connection: what waits for S on beta is complete now. */
  acto_node_stats b0 = nstats(b), a0 = nstats(a);
  ck_assert_uint_gt(b0.waiting, 0);
  ck_assert_int_eq(atomic_load(&out_of_order), 0);
  fprintf(stderr, "flow: F took %.3f s with S idle, %.3f s with S stuck (ratio %.2f)\n", t1, t2,
          t1 / t2);

  /* S stays stuck for 10 heartbeat timeouts: the link stays up, the
   * producer stays parked, the waiting area does not grow. */
  uint64_t hold_ns = (uint64_t)(10 * hbt) * 1000000u;
  while (tu_now_ns() - stuck_at < hold_ns)
    tu_sleep_ms(50);
  ck_assert_int_eq(tu_counter_get(&s_entered), 1);
  ck_assert_int_eq(atomic_load(&s_got), 0);
  ck_assert_int_eq(atomic_load(&p_sent), sent0);
  acto_node_stats b1 = nstats(b), a1 = nstats(a);
  ck_assert_uint_eq(b1.waiting, b0.waiting);
  ck_assert_uint_le(b1.waiting, (uint64_t)sent0);
  ck_assert_uint_eq(b1.area_pauses, 0);
  ck_assert_uint_eq(a1.disconnects, a0.disconnects);
  ck_assert_uint_eq(b1.disconnects, b0.disconnects);
  ck_assert_uint_eq(a1.heartbeat_timeouts, 0);
  ck_assert_uint_eq(b1.heartbeat_timeouts, 0);

  /* Released: every message to S arrives, in order, once. */
  tu_gate_open(&s_gate);
  end = tu_now_ms() + 4 * TU_WAIT_MS;
  while (atomic_load(&s_got) < sent0 && tu_now_ms() < end)
    tu_sleep_ms(5);
  ck_assert_int_eq(atomic_load(&s_got), sent0);
  ck_assert_int_eq(atomic_load(&s_bad), 0);
  ck_assert_int_eq(atomic_load(&p_sent), sent0);
  acto_node_stats b2 = nstats(b);
  ck_assert_uint_ge(b2.rooms_sent, 1);
  ck_assert_uint_eq(b2.waiting, 0);
  ck_assert_uint_eq(nstats(a).disconnects, a0.disconnects);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* While S is busy at alpha: a plain thread's send waits (up to its
 * deadline), fail_fast fails, sends to F flow; ROOM lets the waiter go. */
typedef struct waiter_arg {
  acto_system *sys;
  acto_ref to;
  uint64_t seq;
  int rc;
} waiter_arg;

static void *busy_waiter(void *arg) {
  waiter_arg *w = arg;
  seq_msg q = {0, 0, w->seq};
  acto_send_opts o = ACTO_SEND_OPTS_INIT; /* deadline -1: forever */
  w->rc = acto_send_ex(w->sys, w->to, T_SEQ, &q, sizeof q, &o);
  return NULL;
}

START_TEST(sends_to_a_busy_target_wait_or_fail_while_others_flow) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  tu_gate_init(&s_gate);
  tu_counter_init(&s_entered);
  atomic_store(&s_got, 0);
  atomic_store(&s_bad, 0);
  acto_ref s, f;
  acto_spawn_opts o = {0};
  o.capacity = 16;
  o.overflow = ACTO_OVERFLOW_BLOCK;
  ck_assert_ok(acto_spawn(b, &STUCK, NULL, &o, &s));
  ck_assert_ok(acto_spawn(b, &PROBE, NULL, NULL, &f));
  link_nodes(a, "beta", b);
  ck_assert_ok(acto_send(a, s, TU_MSG_GATE, NULL, 0));
  ck_assert_counter_reaches(&s_entered, 1);
  /* Send without waiting until a send is refused for S being busy:
   * S's mailbox fills, its line passes the BUSY threshold, beta says
   * BUSY.  Every accepted send is one S must get. */
  long sent = 0;
  acto_send_opts d0 = ACTO_SEND_OPTS_INIT;
  d0.deadline_ms = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    seq_msg q = {0, 0, (uint64_t)sent};
    int r = acto_send_ex(a, s, T_SEQ, &q, sizeof q, &d0);
    if (r == ACTO_ETIMEDOUT)
      break;
    ck_assert_ok(r);
    sent++;
    ck_assert_msg(tu_now_ms() < end, "no BUSY after %ld messages", sent);
  }
  ck_assert_uint_eq(nstats(a).busy_received, 1);
  ck_assert_uint_eq(nstats(a).busy_parks, 1);
  seq_msg q = {0, 0, (uint64_t)sent};
  acto_send_opts ff = ACTO_SEND_OPTS_INIT;
  ff.fail_fast = 1;
  ck_assert_int_eq(acto_send_ex(a, s, T_SEQ, &q, sizeof q, &ff), ACTO_EFULL);
  ck_assert_int_eq(acto_send_ex(a, s, T_SEQ, &q, sizeof q, &d0), ACTO_ETIMEDOUT);
  acto_send_opts d50 = ACTO_SEND_OPTS_INIT;
  d50.deadline_ms = 50;
  int64_t t0 = tu_now_ms();
  ck_assert_int_eq(acto_send_ex(a, s, T_SEQ, &q, sizeof q, &d50), ACTO_ETIMEDOUT);
  ck_assert_int_ge(tu_now_ms() - t0, 50);
  /* Another target flows. */
  seq_msg fq = {1, 0, 0};
  ck_assert_ok(acto_send(a, f, T_SEQ, &fq, sizeof fq));
  ck_assert_counter_reaches(&got, 1);
  /* A plain thread without a deadline waits until ROOM. */
  waiter_arg w = {a, s, (uint64_t)sent, 1};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, busy_waiter, &w), 0);
  end = tu_now_ms() + TU_WAIT_MS;
  while (nstats(a).busy_parks < 5 && tu_now_ms() < end)
    tu_sleep_ms(1); /* the waiter found S busy and waits */
  ck_assert_uint_eq(nstats(a).busy_parks, 5);
  tu_gate_open(&s_gate);
  pthread_join(th, NULL);
  ck_assert_int_eq(w.rc, 0);
  end = tu_now_ms() + TU_WAIT_MS;
  while (atomic_load(&s_got) < sent + 1 && tu_now_ms() < end)
    tu_sleep_ms(1);
  /* Every accepted one, in order, then the waiter's. */
  ck_assert_int_eq(atomic_load(&s_got), sent + 1);
  ck_assert_int_eq(atomic_load(&s_bad), 0);
  ck_assert_uint_ge(nstats(b).rooms_sent, 1);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

/* ---- I/O turns ------------------------------------------------------------------ */

/* An actor whose behaviour asks for I/O turns (ACTO_BEHAVIOUR_IO_TURNS):
 * checks the order of T_SEQ and forwards each to `fwd`, a local PROBE. */
typedef struct iot {
  acto_ref fwd;
  uint64_t next;
} iot;

static _Atomic long iot_got, iot_out_of_order;

static int iot_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  iot *st = state;
  switch (m->type) {
  case T_WHERE:
    return reply_where(ctx);
  case T_SLOW:
    usleep(5000); /* a handler that runs 5 ms: too long for the I/O thread */
    return reply_where(ctx);
  case T_SETFWD:
    memcpy(&st->fwd, m->data, sizeof st->fwd);
    return acto_reply(ctx, T_SETFWD, NULL, 0);
  case T_SEQ: {
    seq_msg q;
    memcpy(&q, m->data, sizeof q);
    if (q.seq != st->next++)
      atomic_fetch_add(&iot_out_of_order, 1);
    atomic_fetch_add(&iot_got, 1);
    /* A local send from the turn: handed to a worker when it ends. */
    TU_EXPECT_SENT(acto_send(acto_ctx_system(ctx), st->fwd, T_SEQ, &q, sizeof q));
    return 0;
  }
  default:
    return 0;
  }
}

static const acto_behaviour IOT = {.name = "iot",
                                   .state_size = sizeof(iot),
                                   .handle = iot_handle,
                                   .flags = ACTO_BEHAVIOUR_IO_TURNS};

static void where(acto_system *from, acto_ref to, uint32_t type, char name[16]) {
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(from, to, type, NULL, 0, TU_WAIT_MS, &rb));
  ck_assert_uint_eq(rb.size, 16);
  memcpy(name, rb.data, 16);
  name[15] = 0;
  acto_reply_release(&rb);
}

/* A message from another node to an idle actor of such a behaviour is
 * handled on the node's I/O thread; an actor without the flag is handled
 * on a worker; order holds across turns on both, and the local sends of a
 * turn on the I/O thread reach their target.  (Only the first message of
 * the behaviour is sure to run on the I/O thread: a turn there that a
 * loaded machine stretches past 1 ms sends the behaviour to the workers.) */
START_TEST(io_turns_run_remote_messages_on_the_node_thread_in_order) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  acto_ref x, sink = spawn_named(b, "sink");
  ck_assert_ok(acto_spawn(b, &IOT, NULL, NULL, &x));
  link_nodes(a, "beta", b);
  atomic_store(&iot_got, 0);
  atomic_store(&iot_out_of_order, 0);
  char name[16];
  where(a, x, T_WHERE, name);
  ck_assert_str_eq(name, "acto-node");
  where(a, sink, T_WHERE, name);
  ck_assert_msg(strncmp(name, "acto-w", 6) == 0, "a PROBE ran on %s", name);
  /* From b itself (a plain thread): a worker, whatever the flag. */
  where(b, x, T_WHERE, name);
  ck_assert_msg(strncmp(name, "acto-w", 6) == 0, "a local ask ran on %s", name);

  acto_reply_buf rb;
  ck_assert_ok(acto_ask(a, x, T_SETFWD, &sink, sizeof sink, TU_WAIT_MS, &rb));
  acto_reply_release(&rb);
  long n = TU_N(20000, 5000, 2000);
  producer_arg pa = {a, x, 0, n};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, producer, &pa), 0);
  pthread_join(th, NULL);
  ck_assert_counter_progresses_to(&got, n);
  ck_assert_int_eq(atomic_load(&iot_got), n);
  ck_assert_int_eq(atomic_load(&iot_out_of_order), 0);
  ck_assert_int_eq(atomic_load(&out_of_order), 0);
  ck_assert_uint_eq(next_seq[0], (uint64_t)n);
  acto_stats st;
  ck_assert_ok(acto_get_stats(b, &st));
  ck_assert_uint_ge(st.messages_handled, (uint64_t)(2 * n + 4)); /* turns on the I/O thread count */
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

static pthread_mutex_t io_log_mtx = PTHREAD_MUTEX_INITIALIZER;
static char io_log_line[ACTO_LOG_LINE_MAX + 1];
static int io_log_lines;

static void io_log(void *user, acto_log_level level, const char *component, const char *text) {
  (void)user;
  if (level != ACTO_LOG_WARN || strcmp(component, "scheduler") != 0)
    return;
  pthread_mutex_lock(&io_log_mtx);
  snprintf(io_log_line, sizeof io_log_line, "%s", text);
  io_log_lines++;
  pthread_mutex_unlock(&io_log_mtx);
}

/* A behaviour whose turns on the I/O thread run longer than 1 ms three
 * times in a row is logged once, and its later turns run on workers; two
 * such turns are not enough (a short turn is stretched past 1 ms whenever
 * the thread loses its core). */
START_TEST(a_long_io_turn_sends_its_behaviour_to_the_workers) {
  acto_system *a = node_sys("alpha", KEY, LIVE_HBT), *b = node_sys("beta", KEY, LIVE_HBT);
  io_log_lines = 0;
  ck_assert_ok(acto_set_log_hook(b, io_log, NULL));
  ck_assert_ok(acto_set_log_level(b, ACTO_LOG_WARN));
  acto_ref x, y;
  ck_assert_ok(acto_spawn(b, &IOT, NULL, NULL, &x));
  ck_assert_ok(acto_spawn(b, &IOT, NULL, NULL, &y));
  link_nodes(a, "beta", b);
  char name[16];
  where(a, x, T_SLOW, name);
  ck_assert_str_eq(name, "acto-node"); /* the first turn: where it came */
  where(a, x, T_SLOW, name);
  ck_assert_str_eq(name, "acto-node"); /* two strikes: still there */
  where(a, y, T_SLOW, name);
  ck_assert_str_eq(name, "acto-node"); /* the third, by another actor of it */
  where(a, x, T_WHERE, name);
  ck_assert_msg(strncmp(name, "acto-w", 6) == 0, "after three long turns: %s", name);
  where(a, y, T_WHERE, name); /* every actor of the behaviour */
  ck_assert_msg(strncmp(name, "acto-w", 6) == 0, "another actor of it: %s", name);
  where(a, x, T_SLOW, name);
  pthread_mutex_lock(&io_log_mtx);
  ck_assert_int_eq(io_log_lines, 1);
  ck_assert_msg(strstr(io_log_line, "behaviour iot: 3 turns on the node's I/O thread took over "
                                    "1000 us") != NULL,
                "log: %s", io_log_line);
  pthread_mutex_unlock(&io_log_mtx);
  tu_shutdown(a);
  tu_shutdown(b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node");
  TCase *tc = tu_tcase("start", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, start_validates_its_arguments_and_must_come_before_spawn,
               a_key_file_with_loose_permissions_is_refused_and_keygen_makes_a_good_one,
               a_refused_key_file_is_named_with_the_rule_it_breaks,
               refused_start_and_connect_arguments_name_the_rule,
               keygen_refusals_name_the_file_and_the_rule);
  suite_add_tcase(s, tc);

  tc = tu_tcase("connect", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, connect_lookup_and_ask_across_nodes, a_wrong_key_is_refused_on_both_sides,
               nodes_with_different_frame_caps_refuse_to_connect,
               three_nodes_connecting_to_each_other_at_once_settle_on_one_connection_each);
  suite_add_tcase(s, tc);

  tc = tu_tcase("delivery", 60);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, order_per_sender_holds_under_load_with_a_small_mailbox_and_queue,
               refs_travel_inside_payloads_and_actors_ask_remote_actors);
  suite_add_tcase(s, tc);

  tc = tu_tcase("io_turns", 60);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, io_turns_run_remote_messages_on_the_node_thread_in_order,
               a_long_io_turn_sends_its_behaviour_to_the_workers);
  suite_add_tcase(s, tc);

  tc = tu_tcase("flow", 120);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, a_stuck_actor_holds_back_only_its_own_producer,
               sends_to_a_busy_target_wait_or_fail_while_others_flow);
  suite_add_tcase(s, tc);

  tc = tu_tcase("failure", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, a_remote_monitor_gets_down_with_the_real_reason,
               node_stop_fires_noconnection_to_monitors_links_and_asks,
               an_idle_link_is_kept_up_by_heartbeats,
               nodes_with_different_heartbeat_timeouts_keep_an_idle_link_up,
               a_restarted_node_is_a_new_incarnation_and_old_refs_are_stale,
               a_ref_of_another_incarnation_of_this_node_is_refused);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
