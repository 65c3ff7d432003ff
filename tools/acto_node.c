/* acto_node.c - a stand-alone node process: the node of the multi-process
 * tests, and a small tool to poke a cluster by hand.
 *
 *   acto_node --name NAME (--key-hex HEX | --key-file PATH)
 *             [--port P] [--heartbeat-ms H] [--timeout-ms T] [--encryption none|tls]
 *             [--connect NAME@127.0.0.1:PORT]... [--log-level off|error|warn|info|debug]
 *             [--listen HOST] [--seed NAME@HOST:PORT]...
 *
 * --seed joins the cluster through NAME (ACTORS.md 13.10); HOST is a DNS
 * name, an IPv4 address or an IPv6 address in brackets ([::1]:4000).
 *
 * It starts a system with a node on 127.0.0.1:P (0: ephemeral; --listen
 * picks another numeric address), spawns
 *   "echo"  replies to every request with the request's payload,
 *           and counts plain messages of any type (a request of type 99
 *           is answered with that count, a uint64_t, whatever its
 *           payload; a plain message of type 99 is counted like any);
 *   "fail"  fails (reason -77) on any message;
 * registers both behaviours under the same names for remote spawn
 * (acto_spawn_remote, ACTORS.md 13.10; the argument is ignored),
 * connects to the given peers, then prints one line on stdout
 *   READY port=<port> node=<hex id>
 * and runs until SIGTERM or SIGINT (clean shutdown, exit 0).  It never
 * reads stdin.  Used by tests/test_node_procs.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <acto/acto.h>

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

/* The request flag tells a request from a plain message of the same type;
 * the payload is only copied back, never read.  A reply that cannot be
 * sent is the asker's loss, not the echo's failure. */
static int echo_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  uint64_t *count = state;
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST))
    (*count)++;
  else if (m->type == 99) /* how many plain messages so far */
    (void)acto_reply(ctx, 99, count, sizeof *count);
  else
    (void)acto_reply(ctx, m->type, m->data, m->size);
  return 0;
}

static int fail_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  (void)m;
  return -77;
}

static const acto_behaviour ECHO = {
    .name = "echo", .state_size = sizeof(uint64_t), .handle = echo_handle};
static const acto_behaviour FAIL = {.name = "fail", .handle = fail_handle};

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: acto_node --name NAME (--key-hex HEX | --key-file PATH) [--port P]\n"
          "                 [--heartbeat-ms H] [--timeout-ms T] [--encryption none|tls]\n"
          "                 [--connect NAME@IP:PORT]... [--log-level off|error|warn|info|debug]\n"
          "                 [--listen HOST] [--seed NAME@HOST:PORT]...\n");
  exit(2);
}

/* NAME@HOST:PORT, HOST a name, IPv4, or [IPv6]: 0, or -1. */
static int parse_seed(const char *s, char *name, size_t nsz, char *host, size_t hsz,
                      uint16_t *port) {
  const char *at = strchr(s, '@');
  if (!at || (size_t)(at - s) >= nsz)
    return -1;
  memcpy(name, s, (size_t)(at - s));
  name[at - s] = 0;
  const char *h = at + 1, *he, *colon;
  if (*h == '[') {
    he = strchr(h, ']');
    if (!he || he[1] != ':')
      return -1;
    h++;
    colon = he + 1;
  } else {
    colon = strrchr(h, ':');
    if (!colon)
      return -1;
    he = colon;
  }
  if ((size_t)(he - h) >= hsz)
    return -1;
  memcpy(host, h, (size_t)(he - h));
  host[he - h] = 0;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p <= 0 || p > 65535)
    return -1;
  *port = (uint16_t)p;
  return 0;
}

int main(int argc, char **argv) {
  acto_node_config nc = {0};
  acto_log_level log_level = ACTO_LOG_INFO;
  uint8_t key[64];
  const char *connects[16];
  int nconnects = 0;
  acto_node_seed seeds[16];
  char seed_names[16][80], seed_hosts[16][256];
  size_t nseeds = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v)
      usage();
    i++;
    if (!strcmp(a, "--name")) {
      nc.name = v;
    } else if (!strcmp(a, "--key-file")) {
      nc.key_file = v;
    } else if (!strcmp(a, "--key-hex")) {
      size_t n = strlen(v);
      if (n % 2 || n / 2 < 32 || n / 2 > 64)
        usage();
      for (size_t k = 0; k < n / 2; k++) {
        int hi = hexval(v[2 * k]), lo = hexval(v[2 * k + 1]);
        if (hi < 0 || lo < 0)
          usage();
        key[k] = (uint8_t)(hi * 16 + lo);
      }
      nc.key = key;
      nc.key_len = n / 2;
    } else if (!strcmp(a, "--port")) {
      nc.listen_port = (uint16_t)atoi(v);
    } else if (!strcmp(a, "--heartbeat-ms")) {
      nc.heartbeat_ms = atoll(v);
    } else if (!strcmp(a, "--timeout-ms")) {
      nc.heartbeat_timeout_ms = atoll(v);
    } else if (!strcmp(a, "--encryption")) {
      if (!strcmp(v, "tls"))
        nc.encryption = ACTO_NODE_ENCRYPT_TLS_PSK;
      else if (strcmp(v, "none") != 0)
        usage();
    } else if (!strcmp(a, "--listen")) {
      nc.listen_host = v;
    } else if (!strcmp(a, "--seed") && nseeds < 16) {
      if (parse_seed(v, seed_names[nseeds], sizeof seed_names[0], seed_hosts[nseeds],
                     sizeof seed_hosts[0], &seeds[nseeds].port) != 0)
        usage();
      seeds[nseeds].name = seed_names[nseeds];
      seeds[nseeds].host = seed_hosts[nseeds];
      nseeds++;
    } else if (!strcmp(a, "--connect") && nconnects < 16) {
      connects[nconnects++] = v;
    } else if (!strcmp(a, "--log-level")) {
      static const char *names[] = {"off", "error", "warn", "info", "debug"};
      int found = 0;
      for (int k = 0; k < 5; k++)
        if (!strcmp(v, names[k])) {
          log_level = (acto_log_level)(k - 1);
          found = 1;
        }
      if (!found)
        usage();
    } else {
      usage();
    }
  }
  if (!nc.name || (!nc.key && !nc.key_file))
    usage();
  nc.seeds = nseeds ? seeds : NULL;
  nc.nseeds = nseeds;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  acto_config cfg = {0};
  cfg.threads = 2;
  acto_system *sys;
  int r = acto_system_create(&cfg, &sys);
  if (r == 0)
    r = acto_set_log_level(sys, log_level);
  if (r == 0)
    r = acto_node_start(sys, &nc);
  if (r != 0) {
    fprintf(stderr, "acto_node: %s\n", acto_strerror(r));
    return 1;
  }
  acto_ref ref;
  acto_spawn_opts o = {0};
  o.name = "echo";
  if ((r = acto_spawn(sys, &ECHO, NULL, &o, &ref)) == 0) {
    o.name = "fail";
    r = acto_spawn(sys, &FAIL, NULL, &o, &ref);
  }
  if (r == 0 && (r = acto_behaviour_register(sys, "echo", &ECHO)) == 0)
    r = acto_behaviour_register(sys, "fail", &FAIL);
  for (int i = 0; r == 0 && i < nconnects; i++) {
    char name[80], host[64];
    unsigned port;
    if (sscanf(connects[i], "%79[^@]@%63[^:]:%u", name, host, &port) != 3)
      usage();
    r = acto_node_connect(sys, name, host, (uint16_t)port, 5000);
  }
  if (r != 0) {
    fprintf(stderr, "acto_node: %s\n", acto_strerror(r));
    acto_system_shutdown(sys);
    return 1;
  }
  uint16_t port = 0;
  uint64_t id = 0;
  acto_node_port(sys, &port);
  acto_node_self(sys, &id);
  printf("READY port=%u node=%016llx\n", port, (unsigned long long)id);
  fflush(stdout);
  while (!stop_flag)
    usleep(20000);
  acto_system_shutdown(sys);
  return 0;
}
