/* cluster.h - what the multi-process cluster benchmarks (join, detect)
 * share: the wall clock that processes compare, a port reserved for the
 * first node, and the cluster key passed to members as hex on their
 * command line.  Header-only, over common.h, as common.h is.
 */
#ifndef BENCH_CLUSTER_H
#define BENCH_CLUSTER_H

#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* CLOCK_REALTIME in ns: the clock every process of the machine shares. */
static inline int64_t bench_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A free port on 127.0.0.1: bound, read and released (the first node
 * binds it a moment later; another process could take it meanwhile, and
 * the run then fails with a clear reason). */
static inline uint16_t bench_reserve_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  BENCH_EXPECT(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                   getsockname(s, (struct sockaddr *)&sa, &sl) == 0,
               "cannot reserve a port: %s", strerror(errno));
  close(s);
  return ntohs(sa.sin_port);
}

/* A fresh random 32-byte key as 64 hex digits (and a NUL) in hex[65]. */
static inline void bench_key_hex(char hex[65]) {
  uint8_t key[32];
  BENCH_EXPECT(getrandom(key, sizeof key, 0) == (ssize_t)sizeof key, "getrandom");
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", key[i]);
}

/* The key of bench_key_hex back into key[32] (a member's side). */
static inline void bench_key_parse(const char *hex, uint8_t key[32]) {
  for (int i = 0; i < 64; i++) {
    char c = hex[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    BENCH_EXPECT(v >= 0, "bad key hex '%s'", hex);
    key[i / 2] = (uint8_t)(i % 2 ? key[i / 2] | v : v << 4);
  }
}

#endif /* BENCH_CLUSTER_H */
