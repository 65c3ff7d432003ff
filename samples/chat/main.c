/* main.c - the chat server program (ACTORS.md, "The chat sample"):
 * options, the node and its seeds, start, and an orderly stop on SIGINT
 * or SIGTERM.
 *
 *   chat [--host H] [--port P] [--threads N] [--outbox BYTES]
 *        [--idle-timeout-ms MS] [--line-rate N] [--line-burst N]
 *        [--node NAME (--key-file F | --key-hex HEX) [--node-host H]
 *         [--node-port Q] [--seed NAME@HOST:PORT]...]
 *
 * Once it serves, it prints to stdout "chat-port P", with a node
 * "node-port Q", for each seed "seed NAME up" (or "seed NAME not up yet":
 * the node keeps trying, and joins when the seed answers), and last
 * "ready".  --link is the old name of --seed, kept as a synonym: there is
 * no hub any more, every seed is a server like the others.  Without
 * --node the server runs a node of its own named "chat" with a random key
 * that listens nowhere: a standalone chat, as before.  Port 0 (the default)
 * picks a free port.  Exit status: 0 after a signal, 2 when it could not
 * start.  --help prints the usage on stdout and exits 0; bad options print
 * it on stderr and exit 2.
 *
 * The stop: the I/O thread stops accepting and calling acto, then
 * acto_system_shutdown stops every actor (sessions release their
 * connections), then the I/O thread stops and frees what is left.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "chat.h"

typedef struct options {
  const char *host, *node, *key_file, *key_hex, *node_host;
  const char *seeds[CHAT_SEEDS_MAX];
  unsigned nseeds;
  unsigned port, node_port, threads, line_rate, line_burst;
  size_t outbox;
  int64_t idle_ms;
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: chat [--host H] [--port P] [--threads N] [--outbox BYTES]\n"
          "            [--idle-timeout-ms MS] [--line-rate N] [--line-burst N]\n"
          "            [--node NAME (--key-file F | --key-hex HEX) [--node-host H]\n"
          "             [--node-port Q] [--seed NAME@HOST:PORT]...]\n"
          "A chat server speaking a line protocol (try: nc HOST PORT, then HELP).\n"
          "  --host, --port     the chat address (default 127.0.0.1, port 0: any free port)\n"
          "  --threads N        acto worker threads (default: one per online CPU)\n"
          "  --outbox BYTES     per-client outbox bound, at least 1024 (default %u);\n"
          "                     a client that reads too slowly loses the room lines,\n"
          "                     private lines and notices past it (and is told how\n"
          "                     many); a listing longer than 4 x BYTES is cut, with a\n"
          "                     count of the rest (its ok line always comes)\n"
          "  --idle-timeout-ms MS  close a client that sends no line for MS while the\n"
          "                     server waits for one (default %u; 0: never); any line,\n"
          "                     even an empty one, counts\n"
          "  --line-rate N      lines per second a client may send (default %u; 0: no\n"
          "                     limit); past it the server stops reading from the\n"
          "                     client for a while (TCP pushes back), nothing is refused\n"
          "  --line-burst N     lines a client may send at once before the rate applies\n"
          "                     (default %u)\n"
          "  --node NAME        start an acto node NAME (key from --key-file or --key-hex)\n"
          "  --node-host/-port  the node's address (default 127.0.0.1, port 0)\n"
          "  --seed NAME@H:P    join the cluster (the chat) through node NAME at H:P;\n"
          "                     repeatable (at most %u); H may be a DNS name or an\n"
          "                     [IPv6] address; every server is equal, any may go\n"
          "  --link NAME@H:P    the same as --seed (its old name)\n"
          "  --help             this text\n",
          CHAT_OUTBOX_DEFAULT, CHAT_IDLE_DEFAULT_MS, CHAT_RATE_DEFAULT, CHAT_BURST_DEFAULT,
          CHAT_SEEDS_MAX);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v > max) return -1;
  *out = v;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* 64..128 hex digits into 32..64 key bytes. */
static int parse_key(const char *hex, uint8_t *key, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2 || n < 64 || n > 128) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    key[i] = (uint8_t)(hi * 16 + lo);
  }
  *len = n / 2;
  return 0;
}

/* NAME@HOST:PORT, HOST a name, an IPv4 address or [an IPv6 address]. */
static int parse_seed(const char *s, char *name, size_t ncap, char *host, size_t hcap,
                      uint16_t *port) {
  const char *at = strchr(s, '@');
  if (!at || at == s || (size_t)(at - s) >= ncap) return -1;
  const char *h = at + 1, *he, *colon;
  if (*h == '[') {
    he = strchr(h, ']');
    if (!he || he[1] != ':') return -1;
    h++;
    colon = he + 1;
  } else {
    colon = strrchr(h, ':');
    if (!colon || memchr(h, ':', (size_t)(colon - h))) return -1; /* IPv6 wants brackets */
    he = colon;
  }
  if (he == h || (size_t)(he - h) >= hcap) return -1;
  unsigned long p;
  if (parse_uint(colon + 1, 65535, &p) != 0 || p == 0) return -1;
  memcpy(name, s, (size_t)(at - s));
  name[at - s] = '\0';
  memcpy(host, h, (size_t)(he - h));
  host[he - h] = '\0';
  *port = (uint16_t)p;
  return 0;
}

/* Waits up to CHAT_SEED_WAIT_MS for member `name` to be up: 1 or 0. */
static int seed_up(acto_system *sys, const char *name) {
  for (int waited = 0;; waited += 10) {
    acto_member m[64];
    int n = acto_cluster_members(sys, m, 64);
    for (int i = 0; i < n && i < 64; i++)
      if (strcmp(m[i].name, name) == 0 && m[i].state == ACTO_MEMBER_UP) return 1;
    if (waited >= CHAT_SEED_WAIT_MS) return 0;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
}

/* 0: run; 1: --help; -1: bad options. */
static int parse_options(int argc, char **argv, options *o) {
  static const struct option longs[] = {
      {"host", required_argument, NULL, 'h'},     {"port", required_argument, NULL, 'p'},
      {"threads", required_argument, NULL, 't'},  {"outbox", required_argument, NULL, 'o'},
      {"node", required_argument, NULL, 'n'},     {"key-file", required_argument, NULL, 'k'},
      {"key-hex", required_argument, NULL, 'x'},  {"node-host", required_argument, NULL, 'H'},
      {"node-port", required_argument, NULL, 'P'}, {"link", required_argument, NULL, 'l'},
      {"seed", required_argument, NULL, 'l'},
      {"idle-timeout-ms", required_argument, NULL, 'i'},
      {"line-rate", required_argument, NULL, 'r'}, {"line-burst", required_argument, NULL, 'b'},
      {"help", no_argument, NULL, 'u'},           {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->node_host = "127.0.0.1";
  o->outbox = CHAT_OUTBOX_DEFAULT;
  o->idle_ms = CHAT_IDLE_DEFAULT_MS;
  o->line_rate = CHAT_RATE_DEFAULT;
  o->line_burst = CHAT_BURST_DEFAULT;
  int c;
  unsigned long v;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 'h': o->host = optarg; break;
    case 'p': if (parse_uint(optarg, 65535, &v)) return -1; o->port = (unsigned)v; break;
    case 't': if (parse_uint(optarg, 256, &v)) return -1; o->threads = (unsigned)v; break;
    case 'o':
      if (parse_uint(optarg, 1ul << 30, &v) || v < 1024) return -1;
      o->outbox = v;
      break;
    case 'n': o->node = optarg; break;
    case 'k': o->key_file = optarg; break;
    case 'x': o->key_hex = optarg; break;
    case 'H': o->node_host = optarg; break;
    case 'P': if (parse_uint(optarg, 65535, &v)) return -1; o->node_port = (unsigned)v; break;
    case 'l':
      if (o->nseeds == CHAT_SEEDS_MAX) return -1;
      o->seeds[o->nseeds++] = optarg;
      break;
    case 'i': /* at most a week */
      if (parse_uint(optarg, 7ul * 24 * 3600 * 1000, &v)) return -1;
      o->idle_ms = (int64_t)v;
      break;
    case 'r': if (parse_uint(optarg, 1000000, &v)) return -1; o->line_rate = (unsigned)v; break;
    case 'b':
      if (parse_uint(optarg, 1000000, &v) || v < 1) return -1;
      o->line_burst = (unsigned)v;
      break;
    case 'u': return 1;
    default: return -1;
    }
  }
  if (optind != argc) return -1;
  if (o->node && !o->key_file == !o->key_hex) return -1; /* exactly one key */
  if (!o->node && (o->key_file || o->key_hex || o->nseeds)) return -1;
  return 0;
}

int main(int argc, char **argv) {
  options o;
  int prc = parse_options(argc, argv, &o);
  if (prc == 1) { /* asked for: stdout, success */
    usage(stdout);
    return 0;
  }
  if (prc != 0) {
    usage(stderr);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* Signals: SIGINT/SIGTERM are taken by sigwait below, on this thread
   * only (every thread inherits the mask); SIGPIPE is ignored. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  uint8_t key[64];
  size_t key_len = 0;
  static char seed_names[CHAT_SEEDS_MAX][ACTO_NODE_NAME_MAX + 1];
  static char seed_hosts[CHAT_SEEDS_MAX][ACTO_NODE_HOST_MAX + 1];
  acto_node_seed seeds[CHAT_SEEDS_MAX];
  if (o.key_hex && parse_key(o.key_hex, key, &key_len) != 0) {
    fprintf(stderr, "chat: --key-hex wants 64 to 128 hex digits\n");
    return 2;
  }
  for (unsigned i = 0; i < o.nseeds; i++) {
    if (parse_seed(o.seeds[i], seed_names[i], sizeof seed_names[i], seed_hosts[i],
                   sizeof seed_hosts[i], &seeds[i].port) != 0) {
      fprintf(stderr, "chat: --seed wants NAME@HOST:PORT ([IPv6]:PORT): %s\n", o.seeds[i]);
      return 2;
    }
    seeds[i].name = seed_names[i];
    seeds[i].host = seed_hosts[i];
  }

  static chat_server srv; /* read by sessions until the shutdown */
  srv.outbox = o.outbox;
  srv.idle_ms = o.idle_ms;
  srv.line_rate = o.line_rate;
  srv.line_burst = o.line_burst;
  srv.node = o.node;
  int status = 2, rc;
  chat_io *io = NULL;
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = o.threads;
  if ((rc = acto_system_create(&cfg, &srv.sys)) < 0) {
    fprintf(stderr, "chat: %s\n", acto_strerror(rc));
    return 2;
  }
  /* The node: the chat's directory and rooms are the cluster's names and
   * groups (chat.h), so even a standalone server runs one, unreachable:
   * it listens nowhere and its key is random. */
  acto_node_config nc;
  memset(&nc, 0, sizeof nc);
  nc.name = o.node ? o.node : "chat";
  if (o.node) {
    nc.key_file = o.key_file;
    nc.key = o.key_hex ? key : NULL;
    nc.key_len = key_len;
    nc.listen_host = o.node_host;
    nc.listen_port = (uint16_t)o.node_port;
    nc.seeds = o.nseeds ? seeds : NULL;
    nc.nseeds = o.nseeds;
  } else {
    if (getrandom(key, 32, 0) != 32) {
      fprintf(stderr, "chat: no random bytes for the node key: %s\n", strerror(errno));
      goto out_sys;
    }
    nc.key = key;
    nc.key_len = 32;
    nc.no_listen = 1;
  }
  if ((rc = acto_node_start(srv.sys, &nc)) < 0) {
    fprintf(stderr, "chat: node %s: %s\n", nc.name, acto_strerror(rc));
    goto out_sys;
  }
  if ((rc = chat_io_start(&srv, o.host, (uint16_t)o.port, &io)) < 0) {
    fprintf(stderr, "chat: %s:%u: %s\n", o.host, o.port, strerror(-rc));
    goto out_sys;
  }
  printf("chat-port %u\n", chat_io_port(io));
  if (o.node) {
    uint16_t np = 0;
    (void)acto_node_port(srv.sys, &np);
    printf("node-port %u\n", np);
  }
  for (unsigned i = 0; i < o.nseeds; i++) {
    if (seed_up(srv.sys, seed_names[i])) printf("seed %s up\n", seed_names[i]);
    else printf("seed %s not up yet (the node keeps trying; same key on both?)\n", seed_names[i]);
  }
  printf("ready\n");

  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  fprintf(stderr, "chat: signal %d, stopping\n", sig);
  status = 0;
  chat_io_quiesce(io);
out_sys:
  if ((rc = acto_system_shutdown(srv.sys)) < 0) {
    fprintf(stderr, "chat: shutdown: %s\n", acto_strerror(rc));
    status = 2;
  }
  if (io) chat_io_stop(io);
  return status;
}
