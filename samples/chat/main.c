/* main.c - the chat server program (ACTORS.md, "The chat sample"):
 * options, the node and its link, start, and an orderly stop on SIGINT or
 * SIGTERM.
 *
 *   chat [--host H] [--port P] [--threads N] [--outbox BYTES]
 *        [--idle-timeout-ms MS] [--line-rate N] [--line-burst N]
 *        [--node NAME (--key-file F | --key-hex HEX) [--node-host H]
 *         [--node-port Q] [--link NAME@HOST:PORT]]
 *
 * Once it serves, it prints to stdout "chat-port P", with a node
 * "node-port Q", with a link "link NAME up" (or "link NAME not up yet:
 * why"; the node keeps trying), and last "ready".  Port 0 (the default)
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

#include "chat.h"

typedef struct options {
  const char *host, *node, *key_file, *key_hex, *node_host, *link;
  unsigned port, node_port, threads, line_rate, line_burst;
  size_t outbox;
  int64_t idle_ms;
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: chat [--host H] [--port P] [--threads N] [--outbox BYTES]\n"
          "            [--idle-timeout-ms MS] [--line-rate N] [--line-burst N]\n"
          "            [--node NAME (--key-file F | --key-hex HEX) [--node-host H]\n"
          "             [--node-port Q] [--link NAME@HOST:PORT]]\n"
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
          "  --link NAME@H:P    join the chat of the node NAME at H:P (the hub)\n"
          "  --help             this text\n",
          CHAT_OUTBOX_DEFAULT, CHAT_IDLE_DEFAULT_MS, CHAT_RATE_DEFAULT, CHAT_BURST_DEFAULT);
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

/* NAME@HOST:PORT */
static int parse_link(const char *s, char *name, size_t ncap, char *host, size_t hcap,
                      uint16_t *port) {
  const char *at = strchr(s, '@'), *colon = strrchr(s, ':');
  if (!at || !colon || colon < at || (size_t)(at - s) >= ncap || (size_t)(colon - at - 1) >= hcap ||
      at == s || colon == at + 1)
    return -1;
  unsigned long p;
  if (parse_uint(colon + 1, 65535, &p) != 0 || p == 0) return -1;
  memcpy(name, s, (size_t)(at - s));
  name[at - s] = '\0';
  memcpy(host, at + 1, (size_t)(colon - at - 1));
  host[colon - at - 1] = '\0';
  *port = (uint16_t)p;
  return 0;
}

/* 0: run; 1: --help; -1: bad options. */
static int parse_options(int argc, char **argv, options *o) {
  static const struct option longs[] = {
      {"host", required_argument, NULL, 'h'},     {"port", required_argument, NULL, 'p'},
      {"threads", required_argument, NULL, 't'},  {"outbox", required_argument, NULL, 'o'},
      {"node", required_argument, NULL, 'n'},     {"key-file", required_argument, NULL, 'k'},
      {"key-hex", required_argument, NULL, 'x'},  {"node-host", required_argument, NULL, 'H'},
      {"node-port", required_argument, NULL, 'P'}, {"link", required_argument, NULL, 'l'},
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
    case 'l': o->link = optarg; break;
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
  if (!o->node && (o->key_file || o->key_hex || o->link)) return -1;
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
  char link_name[ACTO_NODE_NAME_MAX + 1], link_host[64];
  uint16_t link_port = 0;
  if (o.key_hex && parse_key(o.key_hex, key, &key_len) != 0) {
    fprintf(stderr, "chat: --key-hex wants 64 to 128 hex digits\n");
    return 2;
  }
  if (o.link && parse_link(o.link, link_name, sizeof link_name, link_host, sizeof link_host,
                           &link_port) != 0) {
    fprintf(stderr, "chat: --link wants NAME@HOST:PORT\n");
    return 2;
  }

  static chat_server srv; /* read by sessions until the shutdown */
  srv.outbox = o.outbox;
  srv.idle_ms = o.idle_ms;
  srv.line_rate = o.line_rate;
  srv.line_burst = o.line_burst;
  srv.node = o.node;
  srv.hub = o.link ? link_name : NULL;
  int status = 2, rc;
  chat_io *io = NULL;
  acto_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.threads = o.threads;
  if ((rc = acto_system_create(&cfg, &srv.sys)) < 0) {
    fprintf(stderr, "chat: %s\n", acto_strerror(rc));
    return 2;
  }
  if (o.node) {
    acto_node_config nc;
    memset(&nc, 0, sizeof nc);
    nc.name = o.node;
    nc.key_file = o.key_file;
    nc.key = o.key_hex ? key : NULL;
    nc.key_len = key_len;
    nc.listen_host = o.node_host;
    nc.listen_port = (uint16_t)o.node_port;
    if ((rc = acto_node_start(srv.sys, &nc)) < 0) {
      fprintf(stderr, "chat: node %s: %s\n", o.node, acto_strerror(rc));
      goto out_sys;
    }
  }
  if (!srv.hub) {
    acto_spawn_opts so = {.name = CHAT_DIR_NAME, .capacity = 65536,
                          .overflow = ACTO_OVERFLOW_BLOCK};
    if ((rc = acto_spawn(srv.sys, &chat_directory_behaviour, NULL, &so, &srv.dir)) < 0) {
      fprintf(stderr, "chat: the directory: %s\n", acto_strerror(rc));
      goto out_sys;
    }
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
  if (o.link) {
    rc = acto_node_connect(srv.sys, link_name, link_host, link_port, 5000);
    if (rc == ACTO_EAUTH) {
      fprintf(stderr, "chat: link %s: %s (same --key on both?)\n", link_name, acto_strerror(rc));
      goto out_io;
    }
    if (rc < 0) printf("link %s not up yet: %s\n", link_name, acto_strerror(rc));
    else printf("link %s up\n", link_name);
  }
  printf("ready\n");

  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  fprintf(stderr, "chat: signal %d, stopping\n", sig);
  status = 0;

out_io:
  chat_io_quiesce(io);
out_sys:
  if ((rc = acto_system_shutdown(srv.sys)) < 0) {
    fprintf(stderr, "chat: shutdown: %s\n", acto_strerror(rc));
    status = 2;
  }
  if (io) chat_io_stop(io);
  return status;
}
