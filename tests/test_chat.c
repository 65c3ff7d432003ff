/* test_chat.c - the chat sample (samples/chat, ACTORS.md "The chat
 * sample"), as its users see it: real `chat` processes on 127.0.0.1 with
 * ephemeral ports and real TCP clients.
 *
 * What is checked: nicks are unique (without regard to case); JOIN and
 * PART are announced to the room, and the last one out hears only "ok
 * part"; a room line reaches every other member and nobody else; private
 * messages; the ROOMS and USERS listings, and a listing too long for the
 * outbox is cut with an exact count and still ends with its "ok"; bad
 * commands, control characters and over-long lines get an error line and
 * the connection stays open; QUIT answers and closes and is announced as
 * "(quit)", any other end of a connection as "(connection lost)", and a
 * line cut short by the end of the input is never executed; an idle
 * client is closed, an active one never; a client over its line rate is
 * slowed down and loses nothing; the listen backlog is somaxconn; --help;
 * a client that stops reading delays nobody, loses only what overflowed
 * its outbox, and is told exactly how much once it reads again; three
 * servers joined by seeds (no hub) share nicks, rooms and private lines,
 * each sender's lines in its order; when any one of them is killed
 * (SIGKILL), the seed too, the users of the others keep the room and are
 * told once who left, and the killed server, started again under its
 * name, rejoins and its new users share the room; a server with the wrong
 * key never joins; a nick held on both sides of a partition is given up,
 * with its rooms, by the session that loses it when the sides meet; and a
 * session ignores messages that do not fit, forged over a node from this
 * process.
 *
 * The program is the `chat` binary built next to this test (or $ACTO_CHAT).
 * Each server runs as a child process with its output in a temporary file;
 * every test stops its servers with SIGTERM and reaps them (exit 0, no
 * sanitizer report), and a server whose test died is killed by the kernel
 * (PR_SET_PDEATHSIG).
 *
 * Timing: a test asserts only what the server guarantees.  Bounds that
 * involve time are one-sided and measured so that a slow machine can
 * only make them easier (the idle timeout from before the client's last
 * line, the line rate from before the first line was sent), and the idle
 * timeout scales with CK_TIMEOUT_MULTIPLIER.
 *
 * "Not delivered" is checked without sleeping: after the line that must
 * not arrive, the client gets a private message from the same sender,
 * which reaches it after that sender's room lines (one sender's messages
 * keep their order); the next line the client sees must be that private
 * message.
 *
 * Servers in one cluster: what a server knows of the others (nicks, room
 * members) follows within moments, never at once, so a test that needs
 * it polls a listing until it says so (until_reply), with the deadline
 * scaled by CK_TIMEOUT_MULTIPLIER; lines of different senders are
 * compared as sets, each sender's in order.
 *
 * Client lines are sorted as the protocol defines them: replies ("ok ...",
 * "error: ...", and the "= ..." lines of a listing) and events (everything
 * else: "* ...", "#room <nick> ...", "private <nick> ...", "! ...").  A
 * client reads both in order, each with its own cursor.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "../samples/chat/chat.h" /* the messages, for the tests that forge them */

#include <acto/acto_msgpack.h>

#define KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define BAD_KEY_HEX "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static char g_chat[PATH_MAX + 8];
static char g_base[128];

/* ---- chat servers -------------------------------------------------------------------- */

typedef struct server {
  pid_t pid;
  char out[256];
  unsigned port, node_port;
} server;

static void find_chat(void) { tu_find_program(g_chat, sizeof g_chat, "ACTO_CHAT", "chat"); }

static int reap(pid_t pid, long timeout_ms) { return tu_reap(pid, timeout_ms, "chat"); }

/* Starts `chat args...` and waits for its "ready" line; want_exit >= 0
 * expects it to exit with that status instead (returns 0 then). */
static int server_run(server *s, const char *const *args, int want_exit) {
  static int seq;
  ck_assert_msg(access(g_chat, X_OK) == 0,
                "%s is missing: build the chat target (cmake --build <dir> --target chat)",
                g_chat);
  memset(s, 0, sizeof *s);
  snprintf(s->out, sizeof s->out, "%s/chat.%d.%d.out", g_base, (int)getpid(), seq++);
  char *argv[TU_ARGV_MAX];
  tu_argv(argv, g_chat, args);
  pid_t parent = getpid();
  pid_t pid = tu_fork();
  if (pid == 0) { /* only async-signal-safe calls from here */
    /* Dies with the test, whatever happens to the test. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(125);
    int fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execv(g_chat, argv);
    _exit(127);
  }
  s->pid = pid;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    int st;
    const char *text = tu_read_text(s->out);
    if (want_exit < 0 && strstr(text, "ready\n")) break;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = 0;
      text = tu_read_text(s->out);
      ck_assert_msg(want_exit >= 0, "chat exited with status %#x before it was ready:\n%s", st,
                    text);
      ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == want_exit,
                    "chat exited with status %#x, wanted exit %d:\n%s", st, want_exit, text);
      return 0;
    }
    if (tu_now_ms() > end) {
      kill(pid, SIGKILL);
      reap(pid, TU_WAIT_MS);
      s->pid = 0;
      ck_abort_msg("chat did not get ready:\n%s", tu_read_text(s->out));
    }
    tu_sleep_ms(2);
  }
  const char *text = tu_read_text(s->out);
  const char *p = strstr(text, "chat-port ");
  ck_assert_msg(p && sscanf(p, "chat-port %u", &s->port) == 1 && s->port > 0, "%s", text);
  p = strstr(text, "node-port ");
  if (p) ck_assert_int_eq(sscanf(p, "node-port %u", &s->node_port), 1);
  return 1;
}

static void server_start(server *s, const char *const *args) { (void)server_run(s, args, -1); }

/* Runs `chat args...` to its end, stdout and stderr in files of their
 * own, read into out and err; returns the wait status. */
static int run_chat(const char *const *args, char *out, size_t outcap, char *err, size_t errcap) {
  static int seq;
  char paths[2][256];
  for (int i = 0; i < 2; i++)
    snprintf(paths[i], sizeof paths[i], "%s/run.%d.%d.%d", g_base, (int)getpid(), seq, i);
  seq++;
  char *argv[TU_ARGV_MAX];
  tu_argv(argv, g_chat, args);
  pid_t parent = getpid();
  pid_t pid = tu_fork();
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(125);
    int fo = open(paths[0], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(paths[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(126);
    execv(g_chat, argv);
    _exit(127);
  }
  int st = reap(pid, TU_WAIT_MS);
  char *bufs[2] = {out, err};
  size_t caps[2] = {outcap, errcap};
  for (int i = 0; i < 2; i++) {
    snprintf(bufs[i], caps[i], "%s", tu_read_text(paths[i]));
    unlink(paths[i]);
  }
  return st;
}



/* SIGTERM, then it must exit 0 without a sanitizer report. */
static void server_stop(server *s) {
  if (!s->pid) return;
  ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
  int st = reap(s->pid, TU_WAIT_MS);
  s->pid = 0;
  const char *text = tu_read_text(s->out);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chat exited with status %#x:\n%s", st,
                text);
  ck_assert_msg(!strstr(text, "Sanitizer") && !strstr(text, "runtime error"),
                "a sanitizer reported:\n%s", text);
  unlink(s->out);
}

static void server_kill(server *s) {
  ck_assert_int_eq(kill(s->pid, SIGKILL), 0);
  int st = reap(s->pid, TU_WAIT_MS);
  ck_assert(WIFSIGNALED(st));
  s->pid = 0;
  unlink(s->out);
}

/* ---- clients ----------------------------------------------------------------------------- */

typedef struct client {
  int fd;
  int wake[2]; /* a pipe that interrupts the reader's poll */
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char **lines; /* every line received, CR LF removed */
  int64_t *at;  /* when each arrived (tu_now_ms) */
  int n, cap;
  int eof, hold, stop;
  /* The reader thread's partial line. */
  char part[8192];
  size_t plen;
  /* The test's cursors: the next reply, the next event. */
  int rcur, ecur;
} client;

static void push_line(client *c, const char *p, size_t n) {
  if (n > 0 && p[n - 1] == '\r') n--;
  char *l = strndup(p, n);
  int64_t now = tu_now_ms();
  pthread_mutex_lock(&c->mu);
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 64;
    c->lines = realloc(c->lines, (size_t)c->cap * sizeof *c->lines);
    c->at = realloc(c->at, (size_t)c->cap * sizeof *c->at);
  }
  c->at[c->n] = now;
  c->lines[c->n++] = l;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static void *reader(void *arg) {
  client *c = arg;
  char buf[4096];
  for (;;) {
    pthread_mutex_lock(&c->mu);
    while (c->hold && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
    int stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    if (stop) break;
    struct pollfd pf[2] = {{c->fd, POLLIN, 0}, {c->wake[0], POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) continue;
    if (pf[1].revents) { /* hold or stop changed */
      char b[16];
      (void)!read(c->wake[0], b, sizeof b);
      continue;
    }
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') {
        push_line(c, c->part, c->plen);
        c->plen = 0;
      } else if (c->plen < sizeof c->part) {
        c->part[c->plen++] = buf[i];
      }
    }
  }
  pthread_mutex_lock(&c->mu);
  c->eof = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Connects; rcvbuf > 0 sets a small receive buffer first. */
static client *cl_connect(const server *s, int rcvbuf) {
  client *c = calloc(1, sizeof *c);
  ck_assert_ptr_nonnull(c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(c->fd, 0);
  if (rcvbuf > 0)
    ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)s->port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(c->fd, (struct sockaddr *)&sin, sizeof sin) == 0, "connect: %s",
                strerror(errno));
  ck_assert_int_eq(pipe(c->wake), 0);
  pthread_mutex_init(&c->mu, NULL);
  tu_cond_init(&c->cv);
  ck_assert_int_eq(pthread_create(&c->th, NULL, reader, c), 0);
  return c;
}

static void cl_poke(client *c) { (void)!write(c->wake[1], "x", 1); }

/* Stops (1) or resumes (0) reading from the socket. */
static void cl_hold(client *c, int hold) {
  pthread_mutex_lock(&c->mu);
  c->hold = hold;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  cl_poke(c);
}

static void cl_close(client *c) {
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  cl_poke(c);
  pthread_join(c->th, NULL);
  close(c->fd);
  close(c->wake[0]);
  close(c->wake[1]);
  for (int i = 0; i < c->n; i++) free(c->lines[i]);
  free(c->lines);
  free(c->at);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}

static void cl_send_raw(client *c, const void *p, size_t n) {
  const char *q = p;
  while (n > 0) {
    ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL);
    ck_assert_msg(w > 0, "send: %s", strerror(errno));
    q += w;
    n -= (size_t)w;
  }
}

/* Sends one line (LF added). */
static void cl_send(client *c, const char *fmt, ...) {
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  ck_assert(n >= 0 && (size_t)n < sizeof line - 1);
  line[n++] = '\n';
  cl_send_raw(c, line, (size_t)n);
}

static int is_reply(const char *l) {
  return (strncmp(l, "ok", 2) == 0 && (l[2] == '\0' || l[2] == ' ')) ||
         strncmp(l, "error: ", 7) == 0 || strncmp(l, "= ", 2) == 0;
}

/* The next line of the kind (reply or event) from *cur, waiting at most
 * ms; NULL at EOF or the deadline.  at (if not NULL) gets its arrival. */
static const char *next_at(client *c, int *cur, int reply, long ms, int64_t *at) {
  struct timespec dl = tu_deadline(ms);
  const char *l = NULL;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (*cur < c->n && is_reply(c->lines[*cur]) != reply) (*cur)++;
    if (*cur < c->n) {
      if (at) *at = c->at[*cur];
      l = c->lines[(*cur)++];
      break;
    }
    if (c->eof) break;
    if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&c->mu);
  return l;
}

static const char *next_of(client *c, int *cur, int reply, long ms) {
  return next_at(c, cur, reply, ms, NULL);
}

static const char *cl_reply(client *c) { return next_of(c, &c->rcur, 1, TU_WAIT_MS); }
static const char *cl_event(client *c) { return next_of(c, &c->ecur, 0, TU_WAIT_MS); }

/* Has the server closed the connection (no waiting)? */
static int cl_eof(client *c) {
  pthread_mutex_lock(&c->mu);
  int eof = c->eof;
  pthread_mutex_unlock(&c->mu);
  return eof;
}

#define expect_reply(c, want)                                                              \
  do {                                                                                     \
    const char *got_ = cl_reply(c);                                                        \
    ck_assert_msg(got_ && strcmp(got_, (want)) == 0, "%s: reply \"%s\", expected \"%s\"", \
                  #c, got_ ? got_ : "(none)", (want));                                     \
  } while (0)

#define expect_event(c, want)                                                              \
  do {                                                                                     \
    const char *got_ = cl_event(c);                                                        \
    ck_assert_msg(got_ && strcmp(got_, (want)) == 0, "%s: event \"%s\", expected \"%s\"", \
                  #c, got_ ? got_ : "(none)", (want));                                     \
  } while (0)

/* Waits for EOF from the server. */
static void expect_eof(client *c) {
  struct timespec dl = tu_deadline(TU_WAIT_MS);
  pthread_mutex_lock(&c->mu);
  while (!c->eof && pthread_cond_timedwait(&c->cv, &c->mu, &dl) != ETIMEDOUT) {
  }
  int eof = c->eof;
  pthread_mutex_unlock(&c->mu);
  ck_assert_msg(eof, "the server did not close the connection");
}

/* A client with the greeting read and a nick set. */
static client *user(const server *s, const char *nick) {
  client *c = cl_connect(s, 0);
  const char *g = cl_event(c);
  ck_assert_msg(g && strncmp(g, "* welcome to acto chat", 22) == 0, "greeting: %s",
                g ? g : "(none)");
  if (nick) {
    cl_send(c, "NICK %s", nick);
    char want[64];
    snprintf(want, sizeof want, "ok nick %s", nick);
    expect_reply(c, want);
  }
  return c;
}

/* `to` gets a private marker from `from` as its very next event: proof
 * that nothing else reached it before. */
static void expect_nothing_before_marker(client *from, client *to, const char *to_nick,
                                         const char *from_nick, const char *marker) {
  cl_send(from, "MSG %s %s", to_nick, marker);
  char want[128];
  snprintf(want, sizeof want, "ok msg %s", to_nick);
  expect_reply(from, want);
  snprintf(want, sizeof want, "private <%s> %s", from_nick, marker);
  expect_event(to, want);
}

/* Plain blocking sockets for tests that need many users: no reader
 * thread, lines read on demand with a deadline. */
static int raw_connect(const server *s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)s->port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0, "connect: %s",
                strerror(errno));
  return fd;
}

static void raw_send(int fd, const char *line) {
  size_t n = strlen(line);
  ck_assert_msg(send(fd, line, n, MSG_NOSIGNAL) == (ssize_t)n, "send: %s", strerror(errno));
}

/* Reads lines (one byte at a time: these sockets carry a few short lines)
 * until one equals want; fails at EOF or after TU_WAIT_MS. */
static void raw_expect(int fd, const char *want) {
  char line[1024];
  size_t n = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    int64_t left = end - tu_now_ms();
    ck_assert_msg(left > 0 && poll(&pf, 1, (int)left) == 1, "no \"%s\" in time", want);
    char ch;
    ck_assert_msg(recv(fd, &ch, 1, 0) == 1, "EOF before \"%s\"", want);
    if (ch != '\n') {
      if (n < sizeof line - 1) line[n++] = ch;
      continue;
    }
    if (n > 0 && line[n - 1] == '\r') n--;
    line[n] = '\0';
    if (strcmp(line, want) == 0) return;
    n = 0;
  }
}

/* ---- one server ------------------------------------------------------------------------- */

static const char *const plain_args[] = {NULL};
/* For tests that send many lines at once: no rate limit. */
static const char *const fast_args[] = {"--line-rate", "0", NULL};

START_TEST(nicks_are_unique_regardless_of_case_and_released_on_change) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice");
  client *b = user(&s, NULL);
  cl_send(b, "NICK alice");
  expect_reply(b, "error: nick alice is taken");
  cl_send(b, "NICK ALICE");
  expect_reply(b, "error: nick alice is taken");
  cl_send(b, "NICK 9lives");
  expect_reply(b, "error: bad nick \"9lives\": 1-16 of A-Z a-z 0-9 _ -, a letter first");
  cl_send(b, "NICK abcdefghijklmnopq");
  expect_reply(b, "error: bad nick \"abcdefghijklmnopq\": 1-16 of A-Z a-z 0-9 _ -, a letter first");
  cl_send(b, "NICK");
  expect_reply(b, "error: usage: NICK <nick>");
  cl_send(b, "JOIN #x");
  expect_reply(b, "error: choose a nick first: NICK <nick>");
  cl_send(b, "nick bob");
  expect_reply(b, "ok nick bob");
  /* A nick change releases the old one. */
  cl_send(a, "NICK alicia");
  expect_reply(a, "ok nick alicia");
  cl_send(b, "NICK alice");
  expect_reply(b, "ok nick alice");
  cl_send(a, "NICK bob");
  expect_reply(a, "ok nick bob");
  /* Not while in a room. */
  cl_send(a, "JOIN #x");
  expect_reply(a, "ok join #x");
  cl_send(a, "NICK carol");
  expect_reply(a, "error: part your rooms before changing your nick");
  cl_close(a);
  cl_close(b);
  server_stop(&s);
}
END_TEST

START_TEST(join_part_and_room_lines_reach_the_members_and_nobody_else) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice"), *b = user(&s, "bob"), *c = user(&s, "carol");
  cl_send(a, "JOIN #general");
  expect_reply(a, "ok join #general");
  cl_send(b, "join #General"); /* rooms, too, ignore case */
  expect_reply(b, "ok join #general");
  expect_event(a, "* bob joined #general");
  cl_send(c, "JOIN #other");
  expect_reply(c, "ok join #other");
  cl_send(b, "JOIN #general");
  expect_reply(b, "error: you are already in #general");

  cl_send(a, "MSG #general hello,   world ");
  expect_reply(a, "ok msg #general");
  expect_event(b, "#general <alice> hello,   world ");
  cl_send(b, "MSG #GENERAL hi alice");
  expect_reply(b, "ok msg #general");
  expect_event(a, "#general <bob> hi alice");
  /* Not carol (in another room), and not the sender itself. */
  expect_nothing_before_marker(a, c, "carol", "alice", "m1");
  expect_nothing_before_marker(c, a, "alice", "carol", "m2");
  cl_send(c, "MSG #general let me in");
  expect_reply(c, "error: you are not in #general");

  cl_send(b, "PART #general");
  expect_reply(b, "ok part #general");
  expect_event(a, "* bob left #general");
  cl_send(b, "PART #general");
  expect_reply(b, "error: you are not in #general");
  cl_send(a, "MSG #general anyone?");
  expect_reply(a, "ok msg #general");
  expect_nothing_before_marker(a, b, "bob", "alice", "m3");
  cl_close(a);
  cl_close(b);
  cl_close(c);
  server_stop(&s);
}
END_TEST

START_TEST(private_messages_reach_one_user) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice"), *b = user(&s, "bob"), *c = user(&s, "carol");
  client *d = user(&s, NULL);
  cl_send(a, "MSG Bob psst, bob");
  expect_reply(a, "ok msg bob");
  expect_event(b, "private <alice> psst, bob");
  cl_send(b, "MSG alice got it");
  expect_reply(b, "ok msg alice");
  expect_event(a, "private <bob> got it");
  expect_nothing_before_marker(b, c, "carol", "bob", "m1");
  cl_send(a, "MSG nobody hello");
  expect_reply(a, "error: no such nick nobody");
  cl_send(a, "MSG bob");
  expect_reply(a, "error: usage: MSG <#room|nick> <text>");
  cl_send(d, "MSG bob hello");
  expect_reply(d, "error: choose a nick first: NICK <nick>");
  cl_close(a);
  cl_close(b);
  cl_close(c);
  cl_close(d);
  server_stop(&s);
}
END_TEST

START_TEST(rooms_and_users_are_listed_and_empty_rooms_close) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice"), *b = user(&s, "bob"), *c = user(&s, NULL);
  cl_send(c, "ROOMS");
  expect_reply(c, "ok rooms 0");
  cl_send(b, "JOIN #general");
  expect_reply(b, "ok join #general");
  cl_send(a, "JOIN #general");
  expect_reply(a, "ok join #general");
  cl_send(b, "JOIN #random");
  expect_reply(b, "ok join #random");
  cl_send(c, "ROOMS");
  expect_reply(c, "= #general 2");
  expect_reply(c, "= #random 1");
  expect_reply(c, "ok rooms 2");
  cl_send(c, "USERS #general");
  expect_reply(c, "= alice");
  expect_reply(c, "= bob");
  expect_reply(c, "ok users #general 2");
  cl_send(c, "NAMES #random");
  expect_reply(c, "= bob");
  expect_reply(c, "ok users #random 1");
  cl_send(c, "USERS");
  expect_reply(c, "= alice");
  expect_reply(c, "= bob");
  expect_reply(c, "ok users 2");
  cl_send(c, "USERS #nope");
  expect_reply(c, "error: no such room #nope");
  /* The last one out closes the room. */
  cl_send(b, "PART #random");
  expect_reply(b, "ok part #random");
  cl_send(c, "ROOMS");
  expect_reply(c, "= #general 2");
  expect_reply(c, "ok rooms 1");
  cl_close(a);
  cl_close(b);
  cl_close(c);
  server_stop(&s);
}
END_TEST

/* The last one out closes the room (its group is gone), and the one who
 * left gets "ok part" and nothing else: no notice of its own departure
 * (with the hub, a room's DOWN could overtake the directory's answer and
 * say "the room went away"; the check stays). */
START_TEST(the_last_one_out_of_a_room_gets_ok_part_and_no_room_went_away_notice) {
  server s;
  server_start(&s, fast_args);
  client *a = user(&s, "alice");
  enum { ROUNDS = 50 };
  for (int i = 0; i < ROUNDS; i++) {
    cl_send(a, "JOIN #t");
    cl_send(a, "PART #t");
    expect_reply(a, "ok join #t");
    expect_reply(a, "ok part #t");
  }
  /* With the fix no such notice exists at all; without it, the notices
   * of the rounds come long before this private line. */
  expect_nothing_before_marker(a, a, "alice", "alice", "m1");
  cl_close(a);
  server_stop(&s);
}
END_TEST

/* A reply always ends with its "ok" or "error:" line.  A listing longer
 * than CHAT_OUTBOX_HARD x --outbox (here 4 x 1024 bytes; 300 nicks of 16
 * bytes make 6000) is cut: a prefix of its "= " lines, one marker line
 * with the exact count of the rest, then the final line. */
START_TEST(a_listing_too_long_for_the_outbox_is_cut_with_a_marker_and_ends_with_ok) {
  server s;
  const char *args[] = {"--outbox", "1024", NULL};
  server_start(&s, args);
  enum { USERS = 300 };
  static int fds[USERS];
  char line[128];
  for (int i = 0; i < USERS; i++) {
    fds[i] = raw_connect(&s);
    snprintf(line, sizeof line, "NICK u%015d\n", i);
    raw_send(fds[i], line);
  }
  for (int i = 0; i < USERS; i++) {
    snprintf(line, sizeof line, "ok nick u%015d", i);
    raw_expect(fds[i], line);
  }
  client *c = user(&s, NULL);
  for (int round = 0; round < 2; round++) {
    cl_send(c, "USERS");
    int listed = 0;
    const char *r;
    while ((r = cl_reply(c)) && strncmp(r, "= u", 3) == 0) {
      snprintf(line, sizeof line, "= u%015d", listed);
      ck_assert_str_eq(r, line); /* a prefix, in order */
      listed++;
    }
    unsigned more = 0;
    ck_assert_msg(r && sscanf(r, "= ... %u more lines cut: the reply does not fit in your outbox",
                              &more) == 1,
                  "after %d names: \"%s\"", listed, r ? r : "(none)");
    ck_assert_msg(listed > 0 && listed + (int)more == USERS, "listed %d, cut %u", listed, more);
    expect_reply(c, "ok users 300");
  }
  cl_send(c, "ROOMS"); /* and on with the next command */
  expect_reply(c, "ok rooms 0");
  for (int i = 0; i < USERS; i++) close(fds[i]);
  cl_close(c);
  server_stop(&s);
}
END_TEST

START_TEST(bad_commands_and_long_lines_get_an_error_and_the_connection_stays) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice");
  cl_send(a, "FOO bar");
  expect_reply(a, "error: unknown command \"FOO\"; HELP lists the commands");
  cl_send(a, "JOIN general");
  expect_reply(a, "error: bad room name \"general\": # and 1-32 of A-Z a-z 0-9 _ -");
  cl_send(a, "JOIN #a b");
  expect_reply(a, "error: usage: JOIN <#room>");
  cl_send(a, "NICK bad\001nick");
  expect_reply(a, "error: control characters are not allowed");
  cl_send(a, "");   /* an empty line: no reply */
  cl_send(a, "  "); /* nor a blank one */
  /* 510 bytes is the most a line may have (CR LF excluded). */
  char line[200001];
  memset(line, 'x', sizeof line);
  memcpy(line, "MSG alice ", 10);
  line[510] = '\0';
  cl_send(a, "%s", line);
  expect_reply(a, "ok msg alice");
  char pm[600];
  snprintf(pm, sizeof pm, "private <alice> %.500s", line + 10);
  expect_event(a, pm);
  line[510] = 'x';
  line[511] = '\0';
  cl_send(a, "%s", line);
  expect_reply(a, "error: line too long (more than 510 bytes); ignored");
  /* A line far longer than any buffer: one error, and on with the next. */
  line[sizeof line - 2] = '\n';
  cl_send_raw(a, line, sizeof line - 1);
  cl_send(a, "ROOMS");
  expect_reply(a, "error: line too long (more than 510 bytes); ignored");
  expect_reply(a, "ok rooms 0");
  /* CR LF is as good as LF, and HELP lists the commands. */
  cl_send_raw(a, "HELP\r\n", 6);
  int listed = 0;
  const char *r;
  while ((r = cl_reply(a)) && strncmp(r, "= ", 2) == 0) listed++;
  ck_assert_msg(r && strcmp(r, "ok help") == 0, "%s", r ? r : "(none)");
  ck_assert_int_ge(listed, 8);
  cl_close(a);
  server_stop(&s);
}
END_TEST

START_TEST(quit_answers_and_closes_and_the_rooms_are_told) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice"), *b = user(&s, "bob");
  cl_send(a, "JOIN #g");
  expect_reply(a, "ok join #g");
  cl_send(b, "JOIN #g");
  expect_reply(b, "ok join #g");
  expect_event(a, "* bob joined #g");
  cl_send(a, "QUIT");
  expect_reply(a, "ok bye");
  expect_eof(a);
  expect_event(b, "* alice left #g (quit)");
  cl_close(a);
  /* A client that just goes away leaves too, and its nick is free again. */
  client *c = user(&s, "carol");
  cl_send(c, "JOIN #g");
  expect_reply(c, "ok join #g");
  expect_event(b, "* carol joined #g");
  cl_close(b);
  expect_event(c, "* bob left #g (connection lost)");
  client *d = user(&s, "bob");
  /* A client that sends its commands and EOF (nc -N, a script) gets
   * every answer, then EOF.  A last line without its LF is not a command
   * (the server cannot tell a half-close from a client that died in the
   * middle of a line): it gets an error, and is not posted. */
  client *e = user(&s, NULL);
  const char *script = "NICK eve\nJOIN #g\nUSERS #g\nMSG #g cut sh";
  cl_send_raw(e, script, strlen(script));
  ck_assert_int_eq(shutdown(e->fd, SHUT_WR), 0);
  expect_reply(e, "ok nick eve");
  expect_reply(e, "ok join #g");
  expect_reply(e, "= carol");
  expect_reply(e, "= eve");
  expect_reply(e, "ok users #g 2");
  expect_reply(e, "error: the input ended inside a line (no LF after it); the line was ignored");
  expect_eof(e);
  expect_event(c, "* eve joined #g");
  expect_event(c, "* eve left #g (connection lost)"); /* EOF without QUIT */
  cl_close(c);
  cl_close(d);
  cl_close(e);
  server_stop(&s);
}
END_TEST

/* A client that goes away in the middle of a line (it crashed, its link
 * broke) does not have that part of a line executed: only lines with
 * their LF are commands. */
START_TEST(a_line_cut_short_by_a_disconnect_is_not_posted) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice"), *b = user(&s, "bob");
  cl_send(a, "JOIN #t");
  expect_reply(a, "ok join #t");
  cl_send(b, "JOIN #t");
  expect_reply(b, "ok join #t");
  expect_event(a, "* bob joined #t");
  /* Only the part of a line: nothing is written to bob before its EOF is
   * handled, so no reset can stop its session early and hide the bug. */
  const char *text = "MSG #t half of a li";
  cl_send_raw(b, text, strlen(text));
  cl_close(b); /* close(): FIN, like a client that died */
  const char *l = cl_event(a);
  ck_assert_msg(l && strncmp(l, "* bob left #t", 13) == 0, "alice: \"%s\"", l ? l : "(none)");
  cl_close(a);
  server_stop(&s);
}
END_TEST

/* "(quit)" means the client sent QUIT; a connection that ends any other
 * way (EOF, reset) is announced as lost. */
START_TEST(a_dropped_connection_is_announced_as_lost_and_only_quit_as_quit) {
  server s;
  server_start(&s, plain_args);
  client *a = user(&s, "alice"), *b = user(&s, "bob"), *c = user(&s, "carol");
  client *d = user(&s, "dave");
  client *all[] = {a, b, c, d};
  for (int i = 0; i < 4; i++) {
    cl_send(all[i], "JOIN #g");
    expect_reply(all[i], "ok join #g");
  }
  expect_event(a, "* bob joined #g");
  expect_event(a, "* carol joined #g");
  expect_event(a, "* dave joined #g");
  cl_send(b, "QUIT");
  expect_reply(b, "ok bye");
  expect_eof(b);
  expect_event(a, "* bob left #g (quit)");
  cl_close(c); /* FIN */
  expect_event(a, "* carol left #g (connection lost)");
  struct linger lg = {1, 0}; /* close() sends a reset */
  ck_assert_int_eq(setsockopt(d->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  cl_close(d);
  expect_event(a, "* dave left #g (connection lost)");
  cl_close(a);
  cl_close(b);
  server_stop(&s);
}
END_TEST

/* The flood: FLOOD lines of about 330 bytes (500 KB), far more than a
 * stuck client's outbox (64 KiB) and socket buffers hold. */
#define FLOOD 1500
#define BURST 50

START_TEST(a_stuck_client_delays_nobody_and_is_told_what_it_missed) {
  server s;
  server_start(&s, fast_args);
  client *a = user(&s, "alice"), *c = user(&s, "carol");
  client *z = cl_connect(&s, 4096); /* a small receive buffer */
  ck_assert_ptr_nonnull(cl_event(z));
  cl_send(z, "NICK zed");
  expect_reply(z, "ok nick zed");
  cl_send(a, "JOIN #flood");
  expect_reply(a, "ok join #flood");
  cl_send(c, "JOIN #flood");
  expect_reply(c, "ok join #flood");
  cl_send(z, "JOIN #flood");
  expect_reply(z, "ok join #flood");
  expect_event(a, "* carol joined #flood");
  expect_event(a, "* zed joined #flood");
  expect_event(c, "* zed joined #flood");
  cl_hold(z, 1); /* zed stops reading */

  char pad[301];
  memset(pad, 'p', 300);
  pad[300] = '\0';
  /* In bursts that carol's outbox holds (a burst bigger than that could
   * overflow a reading client too, if it read slower than it came). */
  int64_t t0 = tu_now_ms();
  char want[512];
  for (int i = 0; i < FLOOD; i += BURST) {
    for (int k = i; k < i + BURST; k++) cl_send(a, "MSG #flood %05d %s", k, pad);
    for (int k = i; k < i + BURST; k++) expect_reply(a, "ok msg #flood");
    for (int k = i; k < i + BURST; k++) {
      snprintf(want, sizeof want, "#flood <alice> %05d %s", k, pad);
      expect_event(c, want);
    }
  }
  int64_t flood_ms = tu_now_ms() - t0;
  /* While zed is still stuck, a line gets through at once. */
  t0 = tu_now_ms();
  cl_send(a, "MSG #flood ping");
  expect_reply(a, "ok msg #flood");
  expect_event(c, "#flood <alice> ping");
  int64_t ping_ms = tu_now_ms() - t0;
  ck_assert_msg(ping_ms < TU_SHORT_WAIT_MS, "a line took %lld ms past a stuck client",
                (long long)ping_ms);
  fprintf(stderr, "test_chat: %d lines past a stuck client in %lld ms, then one in %lld ms\n",
          FLOOD, (long long)flood_ms, (long long)ping_ms);

  /* zed reads again: the lines that fitted, in order, then the notice
   * with the exact count of the rest. */
  cl_hold(z, 0);
  int got = 0;
  unsigned long long dropped = 0;
  for (;;) {
    const char *l = cl_event(z);
    ck_assert_msg(l, "zed: no drop notice after %d lines", got);
    if (sscanf(l, "! dropped %llu lines: you are reading too slowly", &dropped) == 1) break;
    snprintf(want, sizeof want, "#flood <alice> %05d %s", got, pad);
    ck_assert_msg(strcmp(l, want) == 0, "zed: line %d is \"%.40s...\"", got, l);
    got++;
  }
  ck_assert_msg(got > 0 && dropped > 0, "got %d, dropped %llu", got, dropped);
  ck_assert_int_eq((unsigned long long)got + dropped, FLOOD + 1); /* the ping too */
  fprintf(stderr, "test_chat: the stuck client got %d lines and was told %llu were dropped\n",
          got, dropped);
  /* And after the notice, delivery is back to normal. */
  cl_send(a, "MSG #flood after");
  expect_reply(a, "ok msg #flood");
  expect_event(z, "#flood <alice> after");
  expect_event(c, "#flood <alice> after");
  cl_send(z, "ROOMS");
  expect_reply(z, "= #flood 3");
  expect_reply(z, "ok rooms 1");
  cl_close(a);
  cl_close(c);
  cl_close(z);
  server_stop(&s);
}
END_TEST

/* The listen backlog follows net.core.somaxconn: while the server accepts
 * nothing (stopped with SIGSTOP), that many connections still complete
 * their handshake in the kernel (a fixed backlog of 128 lets 129 in). */
START_TEST(the_listen_backlog_follows_somaxconn) {
  long somaxconn = 0;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
  if (f) {
    if (fscanf(f, "%ld", &somaxconn) != 1) somaxconn = 0;
    fclose(f);
  }
  enum { MAXN = 300 };
  int n = somaxconn > 0 && somaxconn < MAXN ? (int)somaxconn : MAXN;
  if (n <= 129)
    fprintf(stderr, "test_chat: somaxconn is %ld: the backlog check cannot tell 128 from it\n",
            somaxconn);
  server s;
  server_start(&s, plain_args);
  ck_assert_int_eq(kill(s.pid, SIGSTOP), 0);
  static int fds[MAXN];
  static char up[MAXN];
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)s.port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int nup = 0;
  for (int i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    up[i] = 0;
    if (fds[i] < 0) continue;
    if (connect(fds[i], (struct sockaddr *)&sin, sizeof sin) == 0) up[i] = 1, nup++;
  }
  /* The handshakes complete in the kernel; wait for them with a deadline. */
  int64_t end = tu_now_ms() + TU_SHORT_WAIT_MS;
  while (nup < n && tu_now_ms() < end) {
    for (int i = 0; i < n; i++) {
      if (up[i] || fds[i] < 0) continue;
      struct pollfd pf = {fds[i], POLLOUT, 0};
      int err = 0;
      socklen_t el = sizeof err;
      if (poll(&pf, 1, 0) == 1 && getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
          err == 0)
        up[i] = 1, nup++;
    }
    if (nup < n) tu_sleep_ms(5);
  }
  ck_assert_int_eq(kill(s.pid, SIGCONT), 0);
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
  ck_assert_msg(nup == n, "%d of %d connections completed while the server accepted none "
                "(somaxconn %ld)", nup, n, somaxconn);
  server_stop(&s);
}
END_TEST

/* An idle client (no line for --idle-timeout-ms while the server waits
 * for one) is told and closed, not before its time; a client that sends a
 * line now and then (an empty one will do) is never closed. */
START_TEST(an_idle_client_is_closed_and_an_active_one_is_not) {
  /* Long enough that the test thread is never stalled that long. */
  long idle_ms = 2000 * tu_multiplier();
  char idle[32];
  snprintf(idle, sizeof idle, "%ld", idle_ms);
  const char *args[] = {"--idle-timeout-ms", idle, "--line-rate", "0", NULL};
  server s;
  server_start(&s, args);
  client *a = user(&s, "alice"), *z = user(&s, "zed");
  cl_send(a, "JOIN #i");
  expect_reply(a, "ok join #i");
  int64_t last_line = tu_now_ms(); /* zed's last line is sent after this */
  cl_send(z, "JOIN #i");
  expect_reply(z, "ok join #i");
  expect_event(a, "* zed joined #i");
  /* alice sends an empty line (no reply) every 50 ms until zed has been
   * closed and one and a half idle periods have passed: her last command
   * came before zed's, so without the empty lines she would be gone by
   * then too. */
  int64_t t0 = tu_now_ms(), z_eof = 0;
  for (;;) {
    cl_send(a, "");
    if (!z_eof && cl_eof(z)) z_eof = tu_now_ms();
    if (z_eof && tu_now_ms() - t0 >= idle_ms * 3 / 2) break;
    ck_assert_msg(tu_now_ms() - t0 < TU_WAIT_MS + 2 * idle_ms, "zed was not closed");
    ck_assert_msg(!cl_eof(a), "alice was closed while active");
    tu_sleep_ms(50);
  }
  ck_assert_msg(z_eof - last_line >= idle_ms, "zed closed after %lld ms, the timeout is %ld",
                (long long)(z_eof - last_line), idle_ms);
  char want[128];
  snprintf(want, sizeof want, "! no line from you in %g s: closing the connection",
           (double)idle_ms / 1000.0);
  expect_event(z, want);
  expect_eof(z);
  expect_event(a, "* zed left #i (idle timeout)");
  cl_send(a, "ROOMS"); /* alice is still there */
  expect_reply(a, "= #i 1");
  expect_reply(a, "ok rooms 1");
  client *z2 = user(&s, "zed"); /* and zed's nick is free */
  cl_close(z2);
  cl_close(z);
  cl_close(a);
  server_stop(&s);
}
END_TEST

/* Past --line-burst lines at once, a client's lines are read at
 * --line-rate per second: reading pauses (TCP pushes back), no line is
 * refused or lost.  The bound holds whatever the machine's speed: the
 * server handles line k no earlier than (k - burst) / rate after the
 * client started sending, and its reply arrives later still. */
START_TEST(a_client_over_the_line_rate_is_slowed_down_and_loses_nothing) {
  enum { LINE_RATE = 50, LINE_BURST = 5, NLINES = 40 };
  const char *args[] = {"--line-rate", "50", "--line-burst", "5", NULL};
  server s;
  server_start(&s, args);
  client *a = user(&s, "alice"), *b = user(&s, "bob");
  cl_send(a, "JOIN #r");
  expect_reply(a, "ok join #r");
  cl_send(b, "JOIN #r");
  expect_reply(b, "ok join #r");
  expect_event(a, "* bob joined #r");
  static char buf[NLINES * 16];
  size_t len = 0;
  for (int k = 0; k < NLINES; k++) len += (size_t)sprintf(buf + len, "MSG #r n%d\n", k);
  int64_t t0 = tu_now_ms();
  cl_send_raw(a, buf, len);
  for (int k = 1; k <= NLINES; k++) {
    int64_t at = 0;
    const char *r = next_at(a, &a->rcur, 1, TU_WAIT_MS, &at);
    ck_assert_msg(r && strcmp(r, "ok msg #r") == 0, "reply %d: \"%s\"", k, r ? r : "(none)");
    double most = LINE_BURST + LINE_RATE * (double)(at - t0 + 1) / 1000.0 + 1; /* +1: rounding */
    ck_assert_msg(k <= most, "%d lines answered %lld ms after the start: at most %.1f allowed", k,
                  (long long)(at - t0), most);
  }
  char want[32];
  for (int k = 0; k < NLINES; k++) {
    snprintf(want, sizeof want, "#r <alice> n%d", k);
    expect_event(b, want);
  }
  cl_close(a);
  cl_close(b);
  server_stop(&s);
}
END_TEST

START_TEST(help_prints_the_usage_on_stdout_and_exits_0_and_bad_options_exit_2) {
  static char out[8192], err[8192];
  const char *help[] = {"--help", NULL};
  int st = run_chat(help, out, sizeof out, err, sizeof err);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x:\n%s%s", st, out, err);
  ck_assert_msg(strncmp(out, "usage: chat ", 12) == 0, "stdout:\n%s", out);
  ck_assert_msg(err[0] == '\0', "stderr:\n%s", err);
  const char *bad[][4] = {{"--bogus", NULL},
                          {"--outbox", "10", NULL},
                          {"--port", "65536", NULL},
                          {"stray", NULL},
                          {"--key-hex", "00", NULL}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    st = run_chat(bad[i], out, sizeof out, err, sizeof err);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status %#x", bad[i][0], st);
    ck_assert_msg(strstr(err, "usage: chat "), "%s: stderr:\n%s", bad[i][0], err);
    ck_assert_msg(out[0] == '\0', "%s: stdout:\n%s", bad[i][0], out);
  }
}
END_TEST

/* ---- servers in one cluster -------------------------------------------------------------- */

/* Starts a server with node `name` (the tests' key, no line rate) and up
 * to two seeds (servers already started, NULL: none); node_port 0: any. */
static void start_node(server *s, const char *name, const server *seed1, const char *seed1_name,
                       const server *seed2, const char *seed2_name, unsigned node_port) {
  char sd1[64], sd2[64], np[16];
  snprintf(np, sizeof np, "%u", node_port);
  const char *args[16] = {"--node", name, "--key-hex", KEY_HEX, "--line-rate", "0",
                          "--node-port", np};
  int n = 8;
  if (seed1) {
    snprintf(sd1, sizeof sd1, "%s@127.0.0.1:%u", seed1_name, seed1->node_port);
    args[n++] = "--seed";
    args[n++] = sd1;
  }
  if (seed2) {
    snprintf(sd2, sizeof sd2, "%s@127.0.0.1:%u", seed2_name, seed2->node_port);
    args[n++] = "--seed";
    args[n++] = sd2;
  }
  args[n] = NULL;
  server_start(s, args);
  ck_assert_uint_gt(s->node_port, 0);
}

/* Sends cmd until its reply (listing lines skipped) ends with `final`:
 * what a server knows of the cluster follows the others within moments,
 * never at once.  Fails after TU_WAIT_MS. */
static void until_reply(client *c, const char *cmd, const char *final) {
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  const char *r;
  for (;;) {
    cl_send(c, "%s", cmd);
    while ((r = cl_reply(c)) && strncmp(r, "= ", 2) == 0) {
    }
    ck_assert_msg(r != NULL, "no reply to %s", cmd);
    if (strcmp(r, final) == 0) return;
    ck_assert_msg(tu_now_ms() < end, "%s: \"%s\", still not \"%s\"", cmd, r, final);
    tu_sleep_ms(20);
  }
}

/* The next n events of c are the n lines of want, in any order (lines of
 * different senders have no order between them). */
static void expect_events_any_order(client *c, const char *const *want, int n) {
  int seen[8] = {0};
  ck_assert_int_le(n, 8);
  for (int k = 0; k < n; k++) {
    const char *got = cl_event(c);
    ck_assert_msg(got != NULL, "event %d of %d: none", k + 1, n);
    int hit = 0;
    for (int i = 0; i < n && !hit; i++)
      if (!seen[i] && strcmp(got, want[i]) == 0) seen[i] = hit = 1;
    ck_assert_msg(hit, "unexpected event \"%s\"", got);
  }
}

/* Three servers joined by seeds, a client on each in one room; one
 * server is killed (SIGKILL) and the two others keep the room, each user
 * told once who left; the killed server comes back under its name and
 * its new user shares the room again. */
START_TEST(three_servers_share_a_room_survive_a_kill_and_take_the_server_back) {
  server a, b, c;
  start_node(&a, "ca", NULL, NULL, NULL, NULL, 0);
  start_node(&b, "cb", &a, "ca", NULL, NULL, 0);
  start_node(&c, "cc", &a, "ca", &b, "cb", 0);
  ck_assert_msg(strstr(tu_read_text(c.out), "seed ca up\n"), "%s", tu_read_text(c.out));
  client *al = user(&a, "alice"), *bo = user(&b, "bob"), *ca = user(&c, "carol");
  /* Every server knows every nick (global names), whichever took it. */
  until_reply(al, "USERS", "ok users 3");
  until_reply(bo, "USERS", "ok users 3");
  until_reply(ca, "USERS", "ok users 3");
  client *x = user(&c, NULL);
  cl_send(x, "NICK Alice");
  expect_reply(x, "error: nick alice is taken");
  cl_send(x, "NICK bob");
  expect_reply(x, "error: nick bob is taken");

  /* One room on three servers: each JOIN once the joiner's server knows
   * the members before it, so their "joined" line is due. */
  cl_send(al, "JOIN #x");
  expect_reply(al, "ok join #x");
  until_reply(bo, "USERS #x", "ok users #x 1");
  cl_send(bo, "JOIN #X");
  expect_reply(bo, "ok join #x");
  expect_event(al, "* bob joined #x");
  until_reply(ca, "USERS #x", "ok users #x 2");
  cl_send(ca, "JOIN #x");
  expect_reply(ca, "ok join #x");
  expect_event(al, "* carol joined #x");
  expect_event(bo, "* carol joined #x");
  until_reply(x, "ROOMS", "ok rooms 1");
  cl_send(x, "ROOMS");
  expect_reply(x, "= #x 3");
  expect_reply(x, "ok rooms 1");

  /* A line from each server reaches the two others, not its sender. */
  cl_send(al, "MSG #x from a");
  expect_reply(al, "ok msg #x");
  cl_send(bo, "MSG #x from b");
  expect_reply(bo, "ok msg #x");
  cl_send(ca, "MSG #x from c");
  expect_reply(ca, "ok msg #x");
  const char *at_a[] = {"#x <bob> from b", "#x <carol> from c"};
  const char *at_b[] = {"#x <alice> from a", "#x <carol> from c"};
  const char *at_c[] = {"#x <alice> from a", "#x <bob> from b"};
  expect_events_any_order(al, at_a, 2);
  expect_events_any_order(bo, at_b, 2);
  expect_events_any_order(ca, at_c, 2);
  /* Private lines cross servers too. */
  cl_send(ca, "MSG Alice psst");
  expect_reply(ca, "ok msg alice");
  expect_event(al, "private <carol> psst");

  /* Each sender's lines in the order sent, on every other server. */
  enum { N = 100 };
  for (int i = 0; i < N; i++) {
    cl_send(al, "MSG #x a%d", i);
    cl_send(bo, "MSG #x b%d", i);
  }
  for (int i = 0; i < N; i++) {
    expect_reply(al, "ok msg #x");
    expect_reply(bo, "ok msg #x");
  }
  int na = 0, nb = 0;
  for (int i = 0; i < 2 * N; i++) {
    const char *l = cl_event(ca);
    ck_assert_msg(l != NULL, "carol: line %d missing", i);
    char want[64];
    if (strncmp(l, "#x <alice> ", 11) == 0) snprintf(want, sizeof want, "#x <alice> a%d", na++);
    else snprintf(want, sizeof want, "#x <bob> b%d", nb++);
    ck_assert_str_eq(l, want);
  }
  for (int i = 0; i < N; i++) {
    char want[64];
    snprintf(want, sizeof want, "#x <bob> b%d", i);
    expect_event(al, want);
    snprintf(want, sizeof want, "#x <alice> a%d", i);
    expect_event(bo, want);
  }

  /* SIGKILL of carol's server: alice and bob are told once, from the
   * group, and keep talking. */
  server_kill(&c);
  cl_close(ca);
  cl_close(x);
  expect_event(al, "* carol left #x (connection lost)");
  expect_event(bo, "* carol left #x (connection lost)");
  cl_send(al, "MSG #x still here");
  expect_reply(al, "ok msg #x");
  expect_event(bo, "#x <alice> still here"); /* bob's next event: no second "left" */
  cl_send(bo, "MSG #x me too");
  expect_reply(bo, "ok msg #x");
  expect_event(al, "#x <bob> me too");
  cl_send(al, "USERS #x");
  expect_reply(al, "= alice");
  expect_reply(al, "= bob");
  expect_reply(al, "ok users #x 2");
  until_reply(bo, "USERS", "ok users 2"); /* carol's nick went with her server */

  /* The server comes back under its name (a new port): it rejoins through
   * its seeds, and its users share the room again. */
  start_node(&c, "cc", &a, "ca", &b, "cb", 0);
  client *da = user(&c, "dave");
  until_reply(da, "USERS #x", "ok users #x 2");
  cl_send(da, "JOIN #x");
  expect_reply(da, "ok join #x");
  expect_event(al, "* dave joined #x");
  expect_event(bo, "* dave joined #x");
  cl_send(da, "MSG #x back on cc");
  expect_reply(da, "ok msg #x");
  expect_event(al, "#x <dave> back on cc");
  expect_event(bo, "#x <dave> back on cc");
  cl_send(al, "MSG #x welcome");
  expect_reply(al, "ok msg #x");
  expect_event(bo, "#x <alice> welcome");
  expect_event(da, "#x <alice> welcome");
  client *ca2 = user(&c, "carol"); /* her nick is free again */
  cl_send(da, "QUIT");
  expect_reply(da, "ok bye");
  expect_eof(da);
  expect_event(al, "* dave left #x (quit)");
  expect_event(bo, "* dave left #x (quit)");
  cl_close(al);
  cl_close(bo);
  cl_close(da);
  cl_close(ca2);
  server_stop(&c);
  server_stop(&b);
  server_stop(&a);
}
END_TEST

/* Any server of the cluster may go: the first one (the seed of the
 * others) too.  Its users leave their rooms on the others, once each. */
START_TEST(when_the_seed_server_dies_the_others_keep_the_room) {
  server a, b, c;
  start_node(&a, "ca", NULL, NULL, NULL, NULL, 0);
  start_node(&b, "cb", &a, "ca", NULL, NULL, 0);
  start_node(&c, "cc", &a, "ca", NULL, NULL, 0);
  client *al = user(&a, "alice"), *bo = user(&b, "bob"), *ca = user(&c, "carol");
  cl_send(al, "JOIN #x");
  expect_reply(al, "ok join #x");
  until_reply(bo, "USERS #x", "ok users #x 1");
  cl_send(bo, "JOIN #x");
  expect_reply(bo, "ok join #x");
  expect_event(al, "* bob joined #x");
  until_reply(ca, "USERS #x", "ok users #x 2");
  cl_send(ca, "JOIN #x");
  expect_reply(ca, "ok join #x");
  expect_event(al, "* carol joined #x");
  expect_event(bo, "* carol joined #x");
  /* carol learns alice's nick from alice's HERE, the answer to her HELLO
   * (room.c), and a HERE still on its way when a dies is lost with it
   * (then carol has no nick to say "left" for).  A private line from
   * alice to carol travels behind it (order per sender): once carol has
   * it, the HERE is in. */
  cl_send(al, "MSG carol hi");
  expect_reply(al, "ok msg carol");
  expect_event(ca, "private <alice> hi");
  server_kill(&a);
  cl_close(al);
  expect_event(bo, "* alice left #x (connection lost)");
  expect_event(ca, "* alice left #x (connection lost)");
  /* b and c learnt of each other from a (the full mesh): no seed needed. */
  cl_send(bo, "MSG #x without a");
  expect_reply(bo, "ok msg #x");
  expect_event(ca, "#x <bob> without a");
  cl_send(ca, "MSG bob psst");
  expect_reply(ca, "ok msg bob");
  expect_event(bo, "private <carol> psst");
  until_reply(ca, "USERS", "ok users 2");
  cl_close(bo);
  cl_close(ca);
  server_stop(&c);
  server_stop(&b);
}
END_TEST

START_TEST(a_server_with_the_wrong_key_never_joins_and_bad_seeds_are_refused) {
  server a, b;
  start_node(&a, "ca", NULL, NULL, NULL, NULL, 0);
  char seed[64];
  snprintf(seed, sizeof seed, "ca@127.0.0.1:%u", a.node_port);
  const char *bad_key[] = {"--node", "cb", "--key-hex", BAD_KEY_HEX, "--seed", seed, NULL};
  server_start(&b, bad_key);
  ck_assert_msg(strstr(tu_read_text(b.out), "seed ca not up yet"), "%s", tu_read_text(b.out));
  /* Two chats, not one: a nick of one is free on the other. */
  client *al = user(&a, "alice"), *al2 = user(&b, "alice");
  cl_close(al);
  cl_close(al2);
  server_stop(&b);
  const char *no_node[] = {"--seed", seed, NULL}; /* a seed needs a node */
  ck_assert_int_eq(server_run(&b, no_node, 2), 0);
  unlink(b.out);
  const char *bad_seeds[][8] = {
      {"--node", "cb", "--key-hex", KEY_HEX, "--seed", "ca127.0.0.1:1", NULL},
      {"--node", "cb", "--key-hex", KEY_HEX, "--seed", "ca@127.0.0.1:0", NULL},
      {"--node", "cb", "--key-hex", KEY_HEX, "--seed", "ca@::1:7000", NULL},
      {"--node", "cb", "--key-hex", KEY_HEX, "--seed", "@127.0.0.1:7000", NULL},
      {"--node", "cb", "--key-hex", KEY_HEX, "--link", "ca@[::1]:x", NULL}};
  for (size_t i = 0; i < sizeof bad_seeds / sizeof bad_seeds[0]; i++) {
    ck_assert_int_eq(server_run(&b, bad_seeds[i], 2), 0);
    ck_assert_msg(strstr(tu_read_text(b.out), "--seed wants NAME@HOST:PORT"), "%s",
                  tu_read_text(b.out));
    unlink(b.out);
  }
  server_stop(&a);
}
END_TEST

/* ---- forged messages: a node in this process ---------------------------------------------
 *
 * Any holder of the key can send the chat's sessions anything over a node
 * link.  The probe is an actor of this test process's own node: it records
 * every message it gets, and sends what the test thread tells it to (so
 * the chat's sessions see it as the sender).  Every chat handler must
 * unpack what it gets with its type's checks (msgpack, chat.h) and ignore
 * a message that does not fit. */

#define PROBE_SEND 0x7e000001u /* test thread -> probe: probe_cmd + bytes */
#define PROBE_MAX 64

typedef struct probe_cmd {
  acto_ref to;
  uint32_t type;
  uint32_t len;
} probe_cmd;

typedef struct probe_rec {
  uint32_t type;
  acto_ref sender;
  size_t size;
  char data[256];
} probe_rec;

static pthread_mutex_t g_probe_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_probe_cv; /* on CLOCK_MONOTONIC: probe_start */
static probe_rec g_probe[PROBE_MAX];
static int g_nprobe, g_probe_send_rc;

static int probe_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  if (msg->type == PROBE_SEND) {
    probe_cmd cmd;
    if (msg->size < sizeof cmd) return 0;
    memcpy(&cmd, msg->data, sizeof cmd);
    if (cmd.len != msg->size - sizeof cmd) return 0;
    int rc = acto_send(acto_ctx_system(ctx), cmd.to, cmd.type,
                       cmd.len ? (const char *)msg->data + sizeof cmd : NULL, cmd.len);
    pthread_mutex_lock(&g_probe_mu);
    if (rc < 0 && g_probe_send_rc == 0) g_probe_send_rc = rc;
    pthread_mutex_unlock(&g_probe_mu);
    return 0;
  }
  pthread_mutex_lock(&g_probe_mu);
  if (g_nprobe < PROBE_MAX) {
    probe_rec *r = &g_probe[g_nprobe++];
    r->type = msg->type;
    r->sender = msg->sender;
    r->size = msg->size;
    memcpy(r->data, msg->data, msg->size < sizeof r->data ? msg->size : sizeof r->data);
  }
  pthread_cond_broadcast(&g_probe_cv);
  pthread_mutex_unlock(&g_probe_mu);
  return 0;
}

static const acto_behaviour probe_behaviour = {.name = "chat_probe", .handle = probe_handle};

/* A system with a node NAME (the chat tests' key) and the probe, spawned
 * under `reg` if not NULL. */
static acto_system *probe_start(const char *name, const char *reg, acto_ref *probe) {
  uint8_t key[32];
  for (int i = 0; i < 32; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(&KEY_HEX[2 * i], "%2x", &v), 1);
    key[i] = (uint8_t)v;
  }
  tu_cond_init(&g_probe_cv);
  acto_system *sys = tu_system_cfg(NULL); /* logs nothing unless TU_LOG=1 */
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = name;
  nc.key = key;
  nc.key_len = sizeof key;
  ck_assert_ok(acto_node_start(sys, &nc));
  acto_spawn_opts so = {.name = reg};
  ck_assert_ok(acto_spawn(sys, &probe_behaviour, NULL, &so, probe));
  return sys;
}

/* The probe sends `type` with len bytes to `to` (in the order of these
 * calls). */
static void probe_send(acto_system *sys, acto_ref probe, acto_ref to, uint32_t type,
                       const void *data, size_t len) {
  static char buf[sizeof(probe_cmd) + 8192];
  ck_assert_uint_le(len, sizeof buf - sizeof(probe_cmd));
  probe_cmd cmd = {to, type, (uint32_t)len};
  memcpy(buf, &cmd, sizeof cmd);
  if (len) memcpy(buf + sizeof cmd, data, len);
  ck_assert_ok(acto_send(sys, probe, PROBE_SEND, buf, sizeof cmd + len));
}

/* Waits for the probe's next message from *cur on; returns its record. */
static probe_rec probe_next(int *cur) {
  struct timespec dl = tu_deadline(TU_WAIT_MS);
  pthread_mutex_lock(&g_probe_mu);
  while (*cur >= g_nprobe && pthread_cond_timedwait(&g_probe_cv, &g_probe_mu, &dl) != ETIMEDOUT) {
  }
  ck_assert_msg(*cur < g_nprobe, "the probe got no message %d", *cur);
  ck_assert_int_eq(g_probe_send_rc, 0);
  probe_rec r = g_probe[(*cur)++];
  pthread_mutex_unlock(&g_probe_mu);
  return r;
}

/* The session of nick (lower case) on the probe's node: waits until the
 * global name is known there. */
static acto_ref probe_whereis(acto_system *sys, const char *nick) {
  char name[64];
  snprintf(name, sizeof name, "%s%s", CHAT_NICK_PREFIX, nick);
  acto_ref r;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  while (acto_global_whereis(sys, name, &r) != 0) {
    ck_assert_msg(tu_now_ms() < end, "%s is not known on the probe's node", name);
    tu_sleep_ms(5);
  }
  return r;
}

/* The msgpack bytes of *v (a type of schema sc) in buf; returns the size. */
static size_t packed(const acto_msgpack_schema *sc, const void *v, char *buf, size_t cap) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  ck_assert_ok(acto_msgpack_struct_pack(&pk, sc, v));
  ck_assert_uint_le(sb.size, cap);
  memcpy(buf, sb.data, sb.size);
  size_t n = sb.size;
  msgpack_sbuffer_destroy(&sb);
  return n;
}

/* A room message's bytes: chat_rmsg {room, nick, why, text}. */
static size_t rmsg(char *buf, size_t cap, const char *room, const char *nick, int why,
                   const char *text) {
  chat_rmsg m;
  memset(&m, 0, sizeof m);
  snprintf(m.room, sizeof m.room, "%s", room);
  snprintf(m.nick, sizeof m.nick, "%s", nick);
  m.why = why;
  snprintf(m.text, sizeof m.text, "%s", text);
  return packed(chat_rmsg_schema(), &m, buf, cap);
}

/* A private line's bytes: chat_priv {nick, text}. */
static size_t priv(char *buf, size_t cap, const char *nick, const char *text) {
  chat_priv p;
  memset(&p, 0, sizeof p);
  snprintf(p.nick, sizeof p.nick, "%s", nick);
  snprintf(p.text, sizeof p.text, "%s", text);
  return packed(chat_priv_schema(), &p, buf, cap);
}

/* A session ignores room messages and private lines that do not fit,
 * from a node in this process that joined the cluster (it holds the key)
 * and the room's group; what fits is shown, and the probe's node going
 * away is announced as a lost connection. */
START_TEST(a_session_ignores_messages_that_do_not_fit) {
  server a;
  start_node(&a, "ca", NULL, NULL, NULL, NULL, 0);
  client *al = user(&a, "alice");
  cl_send(al, "JOIN #v");
  expect_reply(al, "ok join #v");
  acto_ref probe;
  acto_system *sys = probe_start("probe", NULL, &probe);
  ck_assert_ok(acto_node_connect(sys, "ca", "127.0.0.1", (uint16_t)a.node_port, TU_WAIT_MS));
  acto_ref session = probe_whereis(sys, "alice");
  /* The probe takes a nick and joins the room as a session does. */
  ck_assert_ok(acto_global_register(sys, CHAT_NICK_PREFIX "probe", probe));
  ck_assert_ok(acto_group_join(sys, CHAT_USER_PREFIX "probe", probe));
  ck_assert_ok(acto_group_join(sys, CHAT_ROOM_PREFIX "#v", probe));
  until_reply(al, "USERS #v", "ok users #v 2");
  int cur = 0;

  /* A well-formed HELLO: shown, and answered with HERE. */
  static char buf[8192];
  size_t n = rmsg(buf, sizeof buf, "#v", "probe", 0, "");
  probe_send(sys, probe, session, CHAT_R_HELLO, buf, n);
  expect_event(al, "* probe joined #v");
  probe_rec m = probe_next(&cur);
  ck_assert_uint_eq(m.type, CHAT_R_HERE);
  ck_assert(acto_ref_eq(m.sender, session));
  chat_rmsg here;
  ck_assert_ok(chat_rmsg_unpack(m.data, m.size, &here, NULL));
  ck_assert_str_eq(here.room, "#v");
  ck_assert_str_eq(here.nick, "alice");

  /* Junk: not msgpack, cut short, a byte too many, bad fields. */
  n = rmsg(buf, sizeof buf, "#v", "probe", 0, "junk");
  probe_send(sys, probe, session, CHAT_R_POST, "raw text", 8);
  probe_send(sys, probe, session, CHAT_R_POST, NULL, 0);
  probe_send(sys, probe, session, CHAT_R_POST, buf, n - 1);
  buf[n] = 0x01;
  probe_send(sys, probe, session, CHAT_R_POST, buf, n + 1);
  probe_send(sys, probe, session, CHAT_R_POST, "\xdd\x0f\xff\xff\xff", 5);
  n = rmsg(buf, sizeof buf, "#v", "probe", 0, "a\r\nok forged"); /* not one line */
  probe_send(sys, probe, session, CHAT_R_POST, buf, n);
  n = rmsg(buf, sizeof buf, "#v", "probe", 0, ""); /* no text */
  probe_send(sys, probe, session, CHAT_R_POST, buf, n);
  n = rmsg(buf, sizeof buf, "#v", "x\r\nok", 0, "bad nick");
  probe_send(sys, probe, session, CHAT_R_POST, buf, n);
  n = rmsg(buf, sizeof buf, "v", "probe", 0, "bad room");
  probe_send(sys, probe, session, CHAT_R_POST, buf, n);
  n = rmsg(buf, sizeof buf, "#w", "probe", 0, "a room alice is not in");
  probe_send(sys, probe, session, CHAT_R_POST, buf, n);
  n = rmsg(buf, sizeof buf, "#v", "probe", 99, ""); /* a reason out of range */
  probe_send(sys, probe, session, CHAT_R_BYE, buf, n);
  n = rmsg(buf, sizeof buf, "#v", "probe", 0, "text in a HELLO");
  probe_send(sys, probe, session, CHAT_R_HELLO, buf, n);
  n = rmsg(buf, sizeof buf, "#v", "probe", 2, "");
  probe_send(sys, probe, session, CHAT_R_HERE, buf, n); /* a reason where none belongs */
  n = priv(buf, sizeof buf, "probe", "a\r\nok forged");
  probe_send(sys, probe, session, CHAT_PRIV, buf, n);
  n = priv(buf, sizeof buf, "9probe", "bad nick");
  probe_send(sys, probe, session, CHAT_PRIV, buf, n);
  probe_send(sys, probe, session, CHAT_PRIV, "private <probe> raw", 19);
  memset(buf, 'y', sizeof buf);
  probe_send(sys, probe, session, CHAT_PRIV, buf, 4000);
  probe_send(sys, probe, session, CHAT_LINE, buf, CHAT_LINE_MAX + 1);
  probe_send(sys, probe, session, CHAT_TOOLONG, buf, 5);
  probe_send(sys, probe, session, CHAT_PARTIAL, buf, 5);
  probe_send(sys, probe, session, CHAT_RETRY, buf, 8);
  /* Groups whose names would put a line of their own into a listing. */
  ck_assert_ok(acto_group_join(sys, CHAT_ROOM_PREFIX "#z\r\nok forged", probe));
  ck_assert_ok(acto_group_join(sys, CHAT_USER_PREFIX "x\r\nok forged", probe));
  /* Then what fits (after the joins on the same link: known by then). */
  n = rmsg(buf, sizeof buf, "#v", "probe", 0, "marker");
  probe_send(sys, probe, session, CHAT_R_POST, buf, n);
  n = priv(buf, sizeof buf, "probe", "psst");
  probe_send(sys, probe, session, CHAT_PRIV, buf, n);
  expect_event(al, "#v <probe> marker"); /* nothing of the junk before */
  expect_event(al, "private <probe> psst");
  cl_send(al, "HELP"); /* the session and its credit are fine */
  const char *l;
  while ((l = cl_reply(al)) && strncmp(l, "= ", 2) == 0) {
  }
  ck_assert_msg(l && strcmp(l, "ok help") == 0, "%s", l ? l : "(none)");
  cl_send(al, "ROOMS");
  expect_reply(al, "= #v 2");
  expect_reply(al, "ok rooms 1");
  cl_send(al, "USERS");
  expect_reply(al, "= alice");
  expect_reply(al, "= probe");
  expect_reply(al, "ok users 2");
  ck_assert_msg(strstr(tu_read_text(a.out), "chat: room: dropped a message"), "%s",
                tu_read_text(a.out));
  /* The probe's node goes: alice is told, from the group. */
  ck_assert_ok(acto_system_shutdown(sys));
  expect_event(al, "* probe left #v (connection lost)");
  cl_close(al);
  server_stop(&a);
}
END_TEST

/* A nick held on two sides of a partition: when the sides meet, the
 * cluster keeps one registration (equal stamps here, so the node name
 * that sorts first: the probe's "aa" before "cb"), and the losing session
 * gives up its nick and its rooms, and says so once. */
START_TEST(a_nick_lost_when_a_partition_heals_is_given_up_with_its_rooms) {
  server b;
  start_node(&b, "cb", NULL, NULL, NULL, NULL, 0);
  client *z = user(&b, "zed"), *y = user(&b, NULL);
  cl_send(z, "JOIN #r");
  expect_reply(z, "ok join #r");
  cl_send(y, "NICK yan");
  expect_reply(y, "ok nick yan");
  cl_send(y, "JOIN #r");
  expect_reply(y, "ok join #r");
  expect_event(z, "* yan joined #r");
  /* The other side: a node of this process that took "zed" alone. */
  acto_ref probe;
  acto_system *sys = probe_start("aa", NULL, &probe);
  ck_assert_ok(acto_global_register(sys, CHAT_NICK_PREFIX "zed", probe));
  ck_assert_ok(acto_node_connect(sys, "cb", "127.0.0.1", (uint16_t)b.node_port, TU_WAIT_MS));
  expect_event(z, "! your nick zed is now another user's (two servers had it while apart): NICK "
                  "and JOIN again");
  expect_event(y, "* zed left #r (nick lost)");
  cl_send(z, "MSG #r still me?");
  expect_reply(z, "error: choose a nick first: NICK <nick>");
  cl_send(z, "NICK zed");
  expect_reply(z, "error: nick zed is taken");
  cl_send(z, "NICK zoe");
  expect_reply(z, "ok nick zoe");
  cl_send(y, "USERS");
  expect_reply(y, "= yan");
  expect_reply(y, "= zoe");
  expect_reply(y, "ok users 2");
  cl_send(y, "ROOMS");
  expect_reply(y, "= #r 1");
  expect_reply(y, "ok rooms 1");
  ck_assert_ok(acto_system_shutdown(sys));
  cl_close(z);
  cl_close(y);
  server_stop(&b);
}
END_TEST

int main(void) {
  find_chat();
  snprintf(g_base, sizeof g_base, "/tmp/acto_chat_test.XXXXXX");
  if (!mkdtemp(g_base)) {
    perror("mkdtemp");
    return 1;
  }
  Suite *s = suite_create("chat");
  TCase *tc = tu_tcase("one server", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, nicks_are_unique_regardless_of_case_and_released_on_change,
               join_part_and_room_lines_reach_the_members_and_nobody_else,
               private_messages_reach_one_user, rooms_and_users_are_listed_and_empty_rooms_close,
               the_last_one_out_of_a_room_gets_ok_part_and_no_room_went_away_notice,
               a_listing_too_long_for_the_outbox_is_cut_with_a_marker_and_ends_with_ok,
               bad_commands_and_long_lines_get_an_error_and_the_connection_stays,
               quit_answers_and_closes_and_the_rooms_are_told,
               a_line_cut_short_by_a_disconnect_is_not_posted,
               a_dropped_connection_is_announced_as_lost_and_only_quit_as_quit,
               a_stuck_client_delays_nobody_and_is_told_what_it_missed,
               an_idle_client_is_closed_and_an_active_one_is_not,
               a_client_over_the_line_rate_is_slowed_down_and_loses_nothing,
               the_listen_backlog_follows_somaxconn,
               help_prints_the_usage_on_stdout_and_exits_0_and_bad_options_exit_2);
  suite_add_tcase(s, tc);
  tc = tu_tcase("servers in one cluster", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, three_servers_share_a_room_survive_a_kill_and_take_the_server_back,
               when_the_seed_server_dies_the_others_keep_the_room,
               a_server_with_the_wrong_key_never_joins_and_bad_seeds_are_refused,
               a_nick_lost_when_a_partition_heals_is_given_up_with_its_rooms,
               a_session_ignores_messages_that_do_not_fit);
  suite_add_tcase(s, tc);
  int rc = tu_run(s);
  /* Outputs of failed tests stay until here (printed in their failures). */
  DIR *d = opendir(g_base);
  struct dirent *e;
  char path[PATH_MAX];
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%.200s", g_base, e->d_name);
    unlink(path);
  }
  if (d) closedir(d);
  rmdir(g_base);
  return rc;
}
