/* faultproxy.c - a TCP fault proxy for network tests, loopback only.
 *
 *   faultproxy --listen 127.0.0.1:PORT --target 127.0.0.1:PORT
 *              [--control 127.0.0.1:PORT] [--mode MODE ARGS... [up|down|both]]
 *              [--buffer BYTES] [--max-conns N] [--verbose]
 *
 * The proxy sits between two nodes: every connection accepted on the listen
 * address opens one connection to the target, and bytes are forwarded both
 * ways, "up" (client to target) and "down" (target to client).  A mode per
 * direction decides what happens to them: pass, blackhole, reset, delay D,
 * throttle R or fragment N.  Modes are set with --mode at start and changed
 * at run time by line commands on the control port (see usage()); a change
 * applies to existing and new connections at once.  The partition and
 * slow-link tests use it because this kernel has no netem.
 *
 * The first line on stdout gives the real ports (port 0 lets the OS choose):
 *   faultproxy listen=127.0.0.1:40123 control=127.0.0.1:40124 target=127.0.0.1:5000
 * Every address must be loopback (127.0.0.0/8 or ::1): network tests never
 * leave the machine, so anything else is refused before a socket is made.
 *
 * DESIGN.  One thread runs one poll() loop over the listening sockets, the
 * control clients, a self-pipe for SIGTERM/SIGINT and both sockets of every
 * connection.  Each direction of a connection owns a FIFO of chunks (one per
 * read, stamped with its arrival time); the pump step of the loop writes
 * from the head of that FIFO as far as the direction's mode allows and
 * reports the next instant at which it may write again (a delayed chunk
 * falling due, throttle tokens refilling, the pause after a fragment), so
 * the poll timeout is the earliest of those instants and the loop never
 * spins.  Memory is bounded: a source socket is read only while its FIFO
 * holds less than the buffer cap (default 4 MiB), so a delayed or throttled
 * direction pushes back through TCP instead of growing.
 *
 * Closing follows the data.  An EOF from one side is forwarded as a FIN
 * (shutdown) after the bytes before it; an error or reset on one side is
 * forwarded as a reset (SO_LINGER 0) after the bytes before it; a
 * connection is freed once both FINs went through or both sides are gone.
 * A blackholed direction drops its bytes (read and counted, never
 * forwarded) and holds back the FIN or reset behind them: the peer goes
 * silent, as behind a partition, and the held-back close goes through
 * when the mode changes.  Reset is connection-wide: while either direction
 * is in reset mode every connection is closed with a reset, new ones at
 * once.  A target that refuses the connection resets the client.  Out of
 * descriptors, the proxy resets the new client (or, if accept itself
 * fails, stops polling the listening sockets for 100 ms) instead of
 * spinning on a socket that stays readable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- limits and defaults ---------------------------------------------------- */

enum {
  UP = 0,   /* client -> target: source fd[0], destination fd[1] */
  DOWN = 1, /* target -> client: source fd[1], destination fd[0] */
};

#define READ_SIZE (64 * 1024)              /* one read: at most this much */
#define DEFAULT_BUFFER (4u * 1024 * 1024)  /* per direction per connection */
#define DEFAULT_MAX_CONNS 1024
#define MAX_CONTROL_CLIENTS 16
#define CONTROL_LINE_MAX 512
#define DEFAULT_FRAG_PAUSE_NS 1000000LL    /* 1 ms between fragments */
#define NS_PER_S 1000000000LL

/* ---- modes ---------------------------------------------------------------------- */

typedef enum { M_PASS, M_BLACKHOLE, M_RESET, M_DELAY, M_THROTTLE, M_FRAGMENT } mode_kind;

static const char *const mode_names[] = {"pass",  "blackhole", "reset",
                                         "delay", "throttle",  "fragment"};

/* The mode of one direction.  gen changes with every set, so that each
 * connection restarts its throttle bucket and fragment pause on a change. */
typedef struct {
  mode_kind kind;
  int64_t delay_ns;      /* delay: each chunk leaves this long after it arrived */
  uint64_t rate;         /* throttle: bytes per second */
  size_t frag_n;         /* fragment: bytes per write at most */
  int64_t frag_pause_ns; /* fragment: pause after each write */
  uint64_t gen;
} mode;

/* ---- connections ------------------------------------------------------------- */

typedef struct chunk {
  struct chunk *next;
  int64_t arrival_ns;
  size_t len, off; /* off: bytes already written */
  unsigned char data[];
} chunk;

/* One direction of one connection. */
typedef struct {
  chunk *head, *tail;
  size_t queued;     /* bytes in the FIFO not yet written */
  bool fin_sent;     /* the source's EOF was forwarded (shutdown SHUT_WR) */
  bool want_write;   /* a write hit EAGAIN: wait for POLLOUT */
  uint64_t gen;      /* the mode generation the fields below belong to */
  double tokens;     /* throttle bucket */
  int64_t refill_ns; /* throttle: when tokens were last added */
  int64_t next_ns;   /* fragment: no write before this */
} dir;

typedef struct conn {
  struct conn *next;
  int fd[2];       /* [0] the accepted client, [1] the target; -1 once closed */
  bool rd_eof[2];  /* read returned 0 */
  bool dead[2];    /* failed or reset: fd closed */
  bool connected;  /* the connect to the target completed */
  bool gone;       /* finished: freed by the next sweep() */
  dir d[2];
  uint64_t id;
} conn;

typedef struct {
  int fd;
  size_t len;
  char buf[CONTROL_LINE_MAX];
} control_client;

/* ---- the proxy's state (one thread owns all of it) -------------------------- */

static struct {
  struct sockaddr_storage target;
  socklen_t target_len;
  int listen_fd, control_fd;
  int sig_pipe[2];
  mode mode[2];
  int direction; /* which directions `mode` applies to: bit UP, bit DOWN */
  size_t buffer_cap;
  size_t max_conns;
  bool verbose;
  bool quit;
  int64_t accept_paused_until; /* out of descriptors: no accepts before this */
  conn *conns;
  size_t nconns;
  uint64_t next_id;
  control_client ctl[MAX_CONTROL_CLIENTS];
  /* stats */
  uint64_t accepted, resets, refused, connect_failed;
  uint64_t in[2], out[2], dropped[2], queued[2];
} g;

static unsigned char scratch[READ_SIZE];

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void logv(const char *fmt, ...) {
  if (!g.verbose) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("faultproxy: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("faultproxy: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* ---- addresses ---------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss->ss_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a)) return true;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
  }
  return false;
}

/* Parses "127.0.0.1:PORT", "[::1]:PORT", "::1:PORT" or "localhost:PORT"
 * (numeric addresses only: no name lookup).  Returns NULL or an error. */
static const char *parse_addr(const char *s, bool port_zero_ok, struct sockaddr_storage *ss,
                              socklen_t *len) {
  char host[64];
  const char *port;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof host)
      return "expected [ADDRESS]:PORT";
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return "expected ADDRESS:PORT";
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  char *end;
  errno = 0;
  long p = strtol(port, &end, 10);
  if (!*port || *end || errno || p < 0 || p > 65535) return "bad port";
  if (p == 0 && !port_zero_ok) return "port 0 is not a valid target";
  if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");

  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)p);
    *len = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)p);
    *len = sizeof *a6;
  } else {
    return "not a numeric IPv4/IPv6 address (names other than localhost are not looked up)";
  }
  if (!is_loopback(ss))
    return "refusing a non-loopback address: only 127.0.0.0/8 and ::1 are allowed, "
           "network tests must never leave the machine";
  return NULL;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(out, cap, "%s:%u", host, port);
  } else {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    snprintf(out, cap, "[%s]:%u", host, port);
  }
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t len, const char *what) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("%s: socket: %s", what, strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss->ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)ss, len) != 0) die("%s: bind: %s", what, strerror(errno));
  if (listen(fd, 128) != 0) die("%s: listen: %s", what, strerror(errno));
  return fd;
}

static void bound_addr(int fd, char *out, size_t cap) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) die("getsockname: %s", strerror(errno));
  format_addr(&ss, out, cap);
}

/* ---- parsing mode arguments --------------------------------------------------- */

/* "50ms", "1.5s", "200us", "0"; a bare number is milliseconds. */
static bool parse_duration(const char *s, int64_t *ns) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !(v >= 0)) return false;
  double scale;
  if (!*end || strcmp(end, "ms") == 0) scale = 1e6;
  else if (strcmp(end, "s") == 0) scale = 1e9;
  else if (strcmp(end, "us") == 0) scale = 1e3;
  else if (strcmp(end, "ns") == 0) scale = 1;
  else return false;
  v *= scale;
  if (v > 3600e9) return false; /* an hour at most */
  *ns = (int64_t)v;
  return true;
}

/* "4096", "10kB", "10KiB", "1.5MB", "2MiB"; with per_s, "/s" may follow.
 * k/K/M/G are powers of 1000, Ki/Mi/Gi powers of 1024. */
static bool parse_bytes(const char *s, bool per_s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !(v > 0)) return false;
  char unit[16];
  size_t n = strlen(end);
  if (n >= sizeof unit) return false;
  memcpy(unit, end, n + 1);
  if (per_s && n >= 2 && strcmp(unit + n - 2, "/s") == 0) unit[n - 2] = '\0';
  static const struct {
    const char *name;
    double scale;
  } units[] = {{"", 1},        {"B", 1},          {"k", 1e3},        {"K", 1e3},
               {"kB", 1e3},    {"KB", 1e3},       {"KiB", 1024.0},   {"Ki", 1024.0},
               {"M", 1e6},     {"MB", 1e6},       {"MiB", 1048576.0}, {"Mi", 1048576.0},
               {"G", 1e9},     {"GB", 1e9},       {"GiB", 1073741824.0}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(unit, units[i].name) == 0) {
      v *= units[i].scale;
      if (v < 1 || v > 1e12) return false;
      *out = (uint64_t)v;
      return true;
    }
  }
  return false;
}

static void format_mode(const mode *m, char *out, size_t cap) {
  switch (m->kind) {
  case M_DELAY:
    snprintf(out, cap, "delay:%" PRId64 "us", m->delay_ns / 1000);
    break;
  case M_THROTTLE:
    snprintf(out, cap, "throttle:%" PRIu64 "B/s", m->rate);
    break;
  case M_FRAGMENT:
    snprintf(out, cap, "fragment:%zu:%" PRId64 "us", m->frag_n, m->frag_pause_ns / 1000);
    break;
  default:
    snprintf(out, cap, "%s", mode_names[m->kind]);
  }
}

/* Parses a direction word into a bit set; -1 if it is not one. */
static int parse_direction(const char *s) {
  if (strcmp(s, "both") == 0) return (1 << UP) | (1 << DOWN);
  if (strcmp(s, "up") == 0) return 1 << UP;
  if (strcmp(s, "down") == 0) return 1 << DOWN;
  return -1;
}

static void abort_all(void);

/* `mode NAME [ARGS] [up|down|both]` without the word "mode": tok[0] is
 * the name.  Returns NULL or an error message. */
static const char *set_mode(char **tok, int n) {
  if (n < 1) return "usage: mode pass|blackhole|reset|delay D|throttle R|fragment N [PAUSE] "
                    "[up|down|both]";
  int dirs = g.direction;
  int d = parse_direction(tok[n - 1]);
  if (d >= 0 && n >= 2) {
    dirs = d;
    n--;
  }
  mode m = {0};
  const char *name = tok[0];
  if (strcmp(name, "pass") == 0 && n == 1) {
    m.kind = M_PASS;
  } else if (strcmp(name, "blackhole") == 0 && n == 1) {
    m.kind = M_BLACKHOLE;
  } else if (strcmp(name, "reset") == 0 && n == 1) {
    m.kind = M_RESET;
  } else if (strcmp(name, "delay") == 0) {
    if (n != 2 || !parse_duration(tok[1], &m.delay_ns))
      return "usage: mode delay DURATION (e.g. 50ms, 1.5s, 200us)";
    m.kind = M_DELAY;
  } else if (strcmp(name, "throttle") == 0) {
    if (n != 2 || !parse_bytes(tok[1], true, &m.rate))
      return "usage: mode throttle RATE (bytes per second, e.g. 10kB/s, 1MiB/s)";
    m.kind = M_THROTTLE;
  } else if (strcmp(name, "fragment") == 0) {
    uint64_t sz;
    m.frag_pause_ns = DEFAULT_FRAG_PAUSE_NS;
    if (n < 2 || n > 3 || !parse_bytes(tok[1], false, &sz) || sz > READ_SIZE ||
        (n == 3 && !parse_duration(tok[2], &m.frag_pause_ns)))
      return "usage: mode fragment N [PAUSE] (1 <= N <= 65536 bytes, pause default 1ms)";
    m.kind = M_FRAGMENT;
    m.frag_n = (size_t)sz;
  } else if (strcmp(name, "pass") == 0 || strcmp(name, "blackhole") == 0 ||
             strcmp(name, "reset") == 0) {
    return "this mode takes no argument";
  } else {
    return "unknown mode (pass, blackhole, reset, delay, throttle, fragment)";
  }
  for (int i = 0; i < 2; i++) {
    if (!(dirs & (1 << i))) continue;
    m.gen = g.mode[i].gen + 1;
    g.mode[i] = m;
  }
  char a[64], b[64];
  format_mode(&g.mode[UP], a, sizeof a);
  format_mode(&g.mode[DOWN], b, sizeof b);
  logv("mode up=%s down=%s", a, b);
  if (m.kind == M_RESET) abort_all();
  return NULL;
}

/* ---- connections ---------------------------------------------------------- */

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Closes fd so that the peer sees a reset instead of a FIN. */
static void close_rst(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static void drop_queue(conn *c, int d, bool count) {
  dir *q = &c->d[d];
  while (q->head) {
    chunk *ch = q->head;
    q->head = ch->next;
    if (count) g.dropped[d] += ch->len - ch->off;
    free(ch);
  }
  q->tail = NULL;
  g.queued[d] -= q->queued;
  q->queued = 0;
  q->want_write = false;
}

/* Side s failed or was reset by us: its socket is closed now. */
static void side_dead(conn *c, int s, bool rst) {
  if (c->fd[s] >= 0) {
    if (rst) close_rst(c->fd[s]);
    else close(c->fd[s]);
  }
  c->fd[s] = -1;
  c->dead[s] = true;
  drop_queue(c, 1 - s, true); /* the direction writing to s has nowhere to go */
}

static void conn_abort(conn *c) {
  if (c->gone) return;
  for (int s = 0; s < 2; s++)
    if (!c->dead[s]) side_dead(c, s, true);
  c->gone = true;
  g.resets++;
  logv("conn %" PRIu64 ": reset", c->id);
}

static void abort_all(void) {
  for (conn *c = g.conns; c; c = c->next) conn_abort(c);
}

static bool any_reset_mode(void) {
  return g.mode[UP].kind == M_RESET || g.mode[DOWN].kind == M_RESET;
}

static void accept_conn(void) {
  int fd = accept4(g.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      /* The pending connection stays in the backlog and the listening socket
       * stays readable: stop polling it for a while instead of spinning. */
      logv("accept: %s: pausing accepts for 100 ms", strerror(errno));
      g.accept_paused_until = now_ns() + 100000000LL;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
               errno != ECONNABORTED) {
      logv("accept: %s", strerror(errno));
    }
    return;
  }
  g.accepted++;
  if (any_reset_mode()) {
    g.resets++;
    close_rst(fd);
    return;
  }
  if (g.nconns >= g.max_conns) {
    g.refused++;
    close_rst(fd);
    return;
  }
  conn *c = calloc(1, sizeof *c);
  int tfd = c ? socket(g.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
  if (tfd < 0) {
    logv("no memory or socket for a new connection: %s", strerror(errno));
    free(c);
    g.refused++;
    close_rst(fd);
    return;
  }
  set_nodelay(fd);
  set_nodelay(tfd);
  c->fd[0] = fd;
  c->fd[1] = tfd;
  c->id = ++g.next_id;
  int64_t now = now_ns();
  for (int d = 0; d < 2; d++) {
    c->d[d].gen = g.mode[d].gen;
    c->d[d].refill_ns = now;
  }
  c->next = g.conns;
  g.conns = c;
  g.nconns++;
  logv("conn %" PRIu64 ": accepted", c->id);
  if (connect(tfd, (struct sockaddr *)&g.target, g.target_len) == 0) {
    c->connected = true;
  } else if (errno != EINPROGRESS) {
    logv("conn %" PRIu64 ": connect: %s", c->id, strerror(errno));
    g.connect_failed++;
    side_dead(c, 1, false);
  }
}

/* Reads once from side s (the source of direction s). */
static void conn_read(conn *c, int s, int64_t now) {
  int d = s;
  bool discard = c->dead[1 - s] || g.mode[d].kind == M_BLACKHOLE;
  ssize_t n = recv(c->fd[s], scratch, sizeof scratch, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    logv("conn %" PRIu64 ": %s side: %s", c->id, s == 0 ? "client" : "target", strerror(errno));
    side_dead(c, s, false);
    return;
  }
  if (n == 0) {
    c->rd_eof[s] = true;
    return;
  }
  g.in[d] += (uint64_t)n;
  if (discard) {
    g.dropped[d] += (uint64_t)n;
    return;
  }
  chunk *ch = malloc(sizeof *ch + (size_t)n);
  if (!ch) { /* out of memory: the connection cannot keep its stream intact */
    g.dropped[d] += (uint64_t)n;
    conn_abort(c);
    return;
  }
  memcpy(ch->data, scratch, (size_t)n);
  ch->next = NULL;
  ch->arrival_ns = now;
  ch->len = (size_t)n;
  ch->off = 0;
  dir *q = &c->d[d];
  if (q->tail) q->tail->next = ch;
  else q->head = ch;
  q->tail = ch;
  q->queued += (size_t)n;
  g.queued[d] += (uint64_t)n;
}

static void wake_at(int64_t *wake, int64_t t) {
  if (*wake < 0 || t < *wake) *wake = t;
}

/* Writes what direction d's mode allows now; sets *wake to when it may
 * write next if it is held back by time. */
static void pump(conn *c, int d, int64_t now, int64_t *wake) {
  dir *q = &c->d[d];
  const mode *m = &g.mode[d];
  int t = 1 - d;
  if (q->gen != m->gen) { /* the mode changed: restart its per-connection state */
    q->gen = m->gen;
    q->tokens = 0;
    q->refill_ns = now;
    q->next_ns = 0;
  }
  if (c->dead[t]) return; /* side_dead emptied the FIFO */
  if (m->kind == M_BLACKHOLE) {
    drop_queue(c, d, true);
    return;
  }
  if (t == 1 && !c->connected) return;
  if (q->want_write) return;
  while (q->head) {
    chunk *ch = q->head;
    size_t rem = ch->len - ch->off, n = rem;
    if (m->kind == M_DELAY) {
      int64_t due = ch->arrival_ns + m->delay_ns;
      if (due > now) {
        wake_at(wake, due);
        return;
      }
    } else if (m->kind == M_THROTTLE) {
      /* A bucket refilled at the rate, holding a tenth of a second at most;
       * writes wait for a hundredth of a second's worth (or the rest). */
      double rate = (double)m->rate;
      double quantum = rate / 100.0 > 1.0 ? rate / 100.0 : 1.0;
      double burst = rate / 10.0 > quantum ? rate / 10.0 : quantum;
      q->tokens += (double)(now - q->refill_ns) * rate / 1e9;
      if (q->tokens > burst) q->tokens = burst;
      q->refill_ns = now;
      double need = (double)rem < quantum ? (double)rem : quantum;
      if (q->tokens < need) {
        wake_at(wake, now + 1 + (int64_t)((need - q->tokens) * 1e9 / rate));
        return;
      }
      if ((double)n > q->tokens) n = (size_t)q->tokens;
    } else if (m->kind == M_FRAGMENT) {
      if (now < q->next_ns) {
        wake_at(wake, q->next_ns);
        return;
      }
      if (n > m->frag_n) n = m->frag_n;
    }
    ssize_t w = send(c->fd[t], ch->data + ch->off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        q->want_write = true;
        return;
      }
      logv("conn %" PRIu64 ": %s side: %s", c->id, t == 0 ? "client" : "target", strerror(errno));
      side_dead(c, t, false);
      return;
    }
    ch->off += (size_t)w;
    q->queued -= (size_t)w;
    g.queued[d] -= (uint64_t)w;
    g.out[d] += (uint64_t)w;
    if (m->kind == M_THROTTLE) q->tokens -= (double)w;
    if (m->kind == M_FRAGMENT) q->next_ns = now + m->frag_pause_ns;
    if (ch->off == ch->len) {
      q->head = ch->next;
      if (!q->head) q->tail = NULL;
      free(ch);
    }
    if ((size_t)w < n) { /* the socket buffer is full */
      q->want_write = true;
      return;
    }
  }
}

/* Forwards EOFs and resets once the bytes before them went out, and marks
 * the connection gone when nothing is left. */
static void conn_settle(conn *c) {
  if (c->gone) return;
  if (any_reset_mode()) {
    conn_abort(c);
    return;
  }
  for (int d = 0; d < 2; d++) {
    int s = d, t = 1 - d;
    if (c->dead[t] || c->d[d].head || g.mode[d].kind == M_BLACKHOLE) continue;
    if (c->dead[s]) {
      logv("conn %" PRIu64 ": forwarding a reset to the %s", c->id, t == 0 ? "client" : "target");
      side_dead(c, t, true);
    } else if (c->rd_eof[s] && !c->d[d].fin_sent && (t == 0 || c->connected)) {
      shutdown(c->fd[t], SHUT_WR);
      c->d[d].fin_sent = true;
    }
  }
  if (c->dead[0] && c->dead[1]) {
    c->gone = true;
  } else if (c->rd_eof[0] && c->rd_eof[1] && c->d[UP].fin_sent && c->d[DOWN].fin_sent) {
    for (int s = 0; s < 2; s++) {
      if (c->fd[s] >= 0) close(c->fd[s]);
      c->fd[s] = -1;
    }
    c->gone = true;
  }
  if (c->gone) logv("conn %" PRIu64 ": closed", c->id);
}

static void conn_free(conn *c) {
  for (int s = 0; s < 2; s++)
    if (c->fd[s] >= 0) close(c->fd[s]);
  drop_queue(c, UP, false);
  drop_queue(c, DOWN, false);
  free(c);
}

/* Frees the connections marked gone. */
static void sweep(void) {
  conn **pp = &g.conns;
  while (*pp) {
    conn *c = *pp;
    if (c->gone) {
      *pp = c->next;
      g.nconns--;
      conn_free(c);
    } else {
      pp = &c->next;
    }
  }
}

/* ---- the control port ----------------------------------------------------------- */

static void reply(control_client *cc, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* Replies are one short line: if it does not fit the socket buffer at
   * once, the client is not reading and is dropped. */
  if (cc->fd >= 0 && send(cc->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
    close(cc->fd);
    cc->fd = -1;
  }
}

static void command(control_client *cc, char *line) {
  char *tok[8];
  int n = 0;
  for (char *save, *p = strtok_r(line, " \t\r", &save); p; p = strtok_r(NULL, " \t\r", &save)) {
    if (n == 8) {
      reply(cc, "error: too many words");
      return;
    }
    tok[n++] = p;
  }
  if (n == 0) return;
  if (strcmp(tok[0], "mode") == 0) {
    const char *err = set_mode(tok + 1, n - 1);
    if (err) reply(cc, "error: %s", err);
    else reply(cc, "ok");
  } else if (strcmp(tok[0], "direction") == 0) {
    int d = n == 2 ? parse_direction(tok[1]) : -1;
    if (d < 0) {
      reply(cc, "error: usage: direction both|up|down");
    } else {
      g.direction = d;
      reply(cc, "ok");
    }
  } else if (strcmp(tok[0], "stats") == 0 && n == 1) {
    char a[64], b[64];
    format_mode(&g.mode[UP], a, sizeof a);
    format_mode(&g.mode[DOWN], b, sizeof b);
    reply(cc,
          "ok up_mode=%s down_mode=%s direction=%s conns=%zu accepted=%" PRIu64
          " resets=%" PRIu64 " refused=%" PRIu64 " connect_failed=%" PRIu64 " up_in=%" PRIu64
          " up_out=%" PRIu64 " up_dropped=%" PRIu64 " up_queued=%" PRIu64 " down_in=%" PRIu64
          " down_out=%" PRIu64 " down_dropped=%" PRIu64 " down_queued=%" PRIu64,
          a, b, g.direction == 3 ? "both" : g.direction == 1 ? "up" : "down", g.nconns,
          g.accepted, g.resets, g.refused, g.connect_failed, g.in[UP], g.out[UP],
          g.dropped[UP], g.queued[UP], g.in[DOWN], g.out[DOWN], g.dropped[DOWN],
          g.queued[DOWN]);
  } else if (strcmp(tok[0], "quit") == 0 && n == 1) {
    reply(cc, "ok");
    g.quit = true;
  } else if (strcmp(tok[0], "help") == 0) {
    reply(cc, "ok commands: mode pass|blackhole|reset|delay D|throttle R|fragment N [PAUSE] "
              "[up|down|both]; direction both|up|down; stats; quit");
  } else {
    reply(cc, "error: unknown command (mode, direction, stats, help, quit)");
  }
}

static void control_accept(void) {
  int fd = accept4(g.control_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
      g.accept_paused_until = now_ns() + 100000000LL; /* see accept_conn */
    return;
  }
  for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
    if (g.ctl[i].fd < 0) {
      g.ctl[i].fd = fd;
      g.ctl[i].len = 0;
      return;
    }
  }
  static const char busy[] = "error: too many control clients\n";
  (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

static void control_read(control_client *cc) {
  ssize_t n = recv(cc->fd, cc->buf + cc->len, sizeof cc->buf - cc->len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    close(cc->fd);
    cc->fd = -1;
    return;
  }
  cc->len += (size_t)n;
  char *nl;
  while (cc->fd >= 0 && (nl = memchr(cc->buf, '\n', cc->len))) {
    *nl = '\0';
    size_t used = (size_t)(nl - cc->buf) + 1;
    command(cc, cc->buf);
    memmove(cc->buf, cc->buf + used, cc->len - used);
    cc->len -= used;
  }
  if (cc->fd >= 0 && cc->len == sizeof cc->buf) {
    reply(cc, "error: line too long");
    if (cc->fd >= 0) close(cc->fd);
    cc->fd = -1;
  }
}

/* ---- the loop ------------------------------------------------------------------- */

static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  (void)!write(g.sig_pipe[1], "x", 1);
  errno = saved;
}

/* What to poll side s of c for; 0 for nothing. */
static short side_events(const conn *c, int s) {
  if (c->dead[s] || c->fd[s] < 0) return 0;
  if (s == 1 && !c->connected) return POLLOUT; /* the connect in progress */
  short ev = 0;
  int d = s; /* s is the source of direction s */
  if (!c->rd_eof[s] &&
      (c->dead[1 - s] || g.mode[d].kind == M_BLACKHOLE || c->d[d].queued < g.buffer_cap))
    ev |= POLLIN;
  if (c->d[1 - s].want_write) ev |= POLLOUT;
  return ev;
}

static void conn_event(conn *c, int s, short ev, short rev) {
  if (s == 1 && !c->connected) {
    if (!(rev & (POLLOUT | POLLERR | POLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      logv("conn %" PRIu64 ": connect: %s", c->id, strerror(err));
      g.connect_failed++;
      side_dead(c, 1, false);
    } else {
      c->connected = true;
    }
    return;
  }
  if (rev & POLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd[s], SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      logv("conn %" PRIu64 ": %s side: %s", c->id, s == 0 ? "client" : "target", strerror(err));
      side_dead(c, s, false);
      return;
    }
  }
  if ((ev & POLLOUT) && (rev & (POLLOUT | POLLERR | POLLHUP))) c->d[1 - s].want_write = false;
  if ((ev & POLLIN) && (rev & (POLLIN | POLLERR | POLLHUP))) conn_read(c, s, now_ns());
}

static void run(void) {
  size_t cap = 0;
  struct pollfd *pfd = NULL;
  struct {
    conn *c;
    int s;
  } *who = NULL;

  while (!g.quit) {
    size_t need = 3 + MAX_CONTROL_CLIENTS + 2 * g.nconns;
    bool accepting = now_ns() >= g.accept_paused_until;
    if (need > cap) {
      size_t ncap = need * 2;
      struct pollfd *np = realloc(pfd, ncap * sizeof *pfd);
      if (np) pfd = np;
      void *nw = np ? realloc(who, ncap * sizeof *who) : NULL;
      if (!np || !nw) die("out of memory for %zu poll entries", ncap);
      who = nw;
      cap = ncap;
    }
    /* Pump first: write what is due, forward EOFs and resets, and learn the
     * earliest instant at which something held back by time falls due. */
    int64_t now = now_ns(), wake = -1;
    for (conn *c = g.conns; c; c = c->next) {
      if (c->gone) continue;
      pump(c, UP, now, &wake);
      pump(c, DOWN, now, &wake);
      conn_settle(c);
    }
    sweep();
    if (!accepting) wake_at(&wake, g.accept_paused_until);
    int timeout = -1;
    if (wake >= 0) {
      int64_t ms = (wake - now + 999999) / 1000000;
      timeout = ms < 1 ? 1 : ms > 60000 ? 60000 : (int)ms;
    }

    /* Only open descriptors go in: poll() refuses more entries than the
     * descriptor limit, even entries of -1. */
    size_t n = 0;
    pfd[n++] = (struct pollfd){.fd = g.sig_pipe[0], .events = POLLIN};
    size_t listen_at = 0, control_at = 0; /* 0: not polled (out of descriptors) */
    if (accepting) {
      listen_at = n;
      pfd[n++] = (struct pollfd){.fd = g.listen_fd, .events = POLLIN};
      control_at = n;
      pfd[n++] = (struct pollfd){.fd = g.control_fd, .events = POLLIN};
    }
    size_t first_ctl = n;
    for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) {
      if (g.ctl[i].fd < 0) continue;
      pfd[n] = (struct pollfd){.fd = g.ctl[i].fd, .events = POLLIN};
      who[n].c = NULL;
      who[n].s = i;
      n++;
    }
    size_t first_conn = n;
    for (conn *c = g.conns; c; c = c->next) {
      for (int s = 0; s < 2; s++) {
        short ev = side_events(c, s);
        if (!ev) continue; /* polling for nothing would report POLLHUP forever */
        pfd[n] = (struct pollfd){.fd = c->fd[s], .events = ev};
        who[n].c = c;
        who[n].s = s;
        n++;
      }
    }

    int r = poll(pfd, n, timeout);
    if (r < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (r > 0) {
      if (pfd[0].revents) {
        char buf[16];
        while (read(g.sig_pipe[0], buf, sizeof buf) > 0) {
        }
        logv("signal: shutting down");
        g.quit = true;
      }
      if (control_at && (pfd[control_at].revents & POLLIN)) control_accept();
      if (listen_at && (pfd[listen_at].revents & POLLIN))
        for (int k = 0; k < 64; k++) {
          uint64_t before = g.accepted;
          accept_conn();
          if (g.accepted == before || g.accept_paused_until > now) break;
        }
      for (size_t i = first_ctl; i < first_conn; i++) {
        control_client *cc = &g.ctl[who[i].s];
        if (pfd[i].revents && cc->fd == pfd[i].fd) control_read(cc);
      }
      for (size_t i = first_conn; i < n; i++) {
        conn *c = who[i].c;
        if (pfd[i].revents && !c->gone && !c->dead[who[i].s])
          conn_event(c, who[i].s, pfd[i].events, pfd[i].revents);
      }
    }
  }
  free(pfd);
  free(who);
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fputs(
      "usage: faultproxy --listen ADDR:PORT --target ADDR:PORT [--control ADDR:PORT]\n"
      "                  [--mode MODE [ARGS] [up|down|both]]... [--direction both|up|down]\n"
      "                  [--buffer BYTES] [--max-conns N] [--verbose]\n"
      "\n"
      "Addresses must be loopback (127.0.0.0/8, ::1 as [::1]:PORT, or localhost).\n"
      "Port 0 lets the OS choose; the first stdout line reports the real ports:\n"
      "  faultproxy listen=127.0.0.1:P control=127.0.0.1:Q target=127.0.0.1:R\n"
      "The control port defaults to the listen address with port 0.\n"
      "\n"
      "Modes (per direction; up = client to target, down = target to client):\n"
      "  pass               forward as is\n"
      "  blackhole          read and drop everything, forward no FIN or reset\n"
      "  reset              reset every connection, new ones at once\n"
      "  delay D            forward each chunk D after it arrived (50ms, 1s, 200us)\n"
      "  throttle R         at most R bytes/s per connection (10kB/s, 1MiB/s)\n"
      "  fragment N [P]     write at most N bytes at a time, pause P (default 1ms)\n"
      "\n"
      "Control commands (one per line, each answered by one line, ok... or error: ...):\n"
      "  mode MODE [ARGS] [up|down|both], direction both|up|down, stats, help, quit\n",
      f);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  /* Two descriptors per connection: take all the descriptors allowed. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  g.listen_fd = g.control_fd = -1;
  g.direction = (1 << UP) | (1 << DOWN);
  g.buffer_cap = DEFAULT_BUFFER;
  g.max_conns = DEFAULT_MAX_CONNS;
  for (int i = 0; i < MAX_CONTROL_CLIENTS; i++) g.ctl[i].fd = -1;

  const char *listen_s = NULL, *target_s = NULL, *control_s = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
      g.verbose = true;
    } else if (strcmp(a, "--mode") == 0) {
      /* The mode's words run up to the next option. */
      int j = i + 1;
      while (j < argc && strncmp(argv[j], "--", 2) != 0) j++;
      const char *err = set_mode(argv + i + 1, j - i - 1);
      if (err) die("--mode: %s", err);
      i = j - 1;
    } else if (!v) {
      usage(stderr);
      die("%s: missing value or unknown option", a);
    } else if (strcmp(a, "--listen") == 0) {
      listen_s = argv[++i];
    } else if (strcmp(a, "--target") == 0) {
      target_s = argv[++i];
    } else if (strcmp(a, "--control") == 0) {
      control_s = argv[++i];
    } else if (strcmp(a, "--direction") == 0) {
      int d = parse_direction(argv[++i]);
      if (d < 0) die("--direction: expected both, up or down");
      g.direction = d;
    } else if (strcmp(a, "--buffer") == 0) {
      uint64_t b;
      if (!parse_bytes(argv[++i], false, &b) || b > (1ull << 30)) die("--buffer: bad size");
      g.buffer_cap = (size_t)b;
    } else if (strcmp(a, "--max-conns") == 0) {
      char *end;
      long m = strtol(argv[++i], &end, 10);
      if (*end || m < 1 || m > 100000) die("--max-conns: expected 1..100000");
      g.max_conns = (size_t)m;
    } else {
      usage(stderr);
      die("unknown option %s", a);
    }
  }
  if (!listen_s || !target_s) {
    usage(stderr);
    die("--listen and --target are required");
  }

  struct sockaddr_storage lss, css;
  socklen_t llen, clen;
  const char *err;
  if ((err = parse_addr(listen_s, true, &lss, &llen))) die("--listen %s: %s", listen_s, err);
  if ((err = parse_addr(target_s, false, &g.target, &g.target_len)))
    die("--target %s: %s", target_s, err);
  if (control_s) {
    if ((err = parse_addr(control_s, true, &css, &clen))) die("--control %s: %s", control_s, err);
  } else { /* the listen address, port 0 */
    css = lss;
    clen = llen;
    if (css.ss_family == AF_INET) ((struct sockaddr_in *)&css)->sin_port = 0;
    else ((struct sockaddr_in6 *)&css)->sin6_port = 0;
  }

  if (pipe2(g.sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe: %s", strerror(errno));
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  g.listen_fd = listen_on(&lss, llen, "--listen");
  g.control_fd = listen_on(&css, clen, "--control");
  char la[80], ca[80], ta[80];
  bound_addr(g.listen_fd, la, sizeof la);
  bound_addr(g.control_fd, ca, sizeof ca);
  format_addr(&g.target, ta, sizeof ta);
  printf("faultproxy listen=%s control=%s target=%s\n", la, ca, ta);
  fflush(stdout);

  run();

  /* Clean shutdown: every socket closed, every buffer freed. */
  for (conn *c = g.conns; c; c = c->next) c->gone = true;
  sweep();
  for (int i = 0; i < MAX_CONTROL_CLIENTS; i++)
    if (g.ctl[i].fd >= 0) close(g.ctl[i].fd);
  close(g.listen_fd);
  close(g.control_fd);
  close(g.sig_pipe[0]);
  close(g.sig_pipe[1]);
  logv("bye");
  return 0;
}
