/* nodeclient.h - a hand-written raw client of the node protocol, for tests
 * that talk to a live node over a plain socket and need to send bytes the
 * library itself would never produce (malformed frames, replays, stalls).
 *
 * It speaks the real protocol with the library's own pure layers: frames
 * (transport/frame.h), the handshake and per-frame MAC (transport/auth.h)
 * and the message encoders (transport/wire.h).  Nothing here asserts: every
 * helper returns 0 / a count on success and a negative value on failure,
 * so a test decides what is expected.  Sockets are blocking; every wait
 * takes a deadline (poll), so a silent node never hangs a test.
 *
 * Typical use:
 *   nc_client c;
 *   nc_init(&c);
 *   nc_handshake(&c, port, "raw", &key, 2000);      // HELLO..RESPONSE
 *   nc_recv_sealed(&c, buf, sizeof buf, &n, 2000);  // the node's INFO
 *   nc_send_info(&c, "raw", inc, 0);                // our INFO
 *   nc_send_sealed(&c, payload, len);                // anything else
 *   nc_wait_closed(c.fd, 2000);                       // did it hang up?
 *   nc_close(&c);
 *
 * Header-only, all static; include after the transport headers' include
 * path is set (tests see the source tree root).
 */
#ifndef ACTO_TEST_NODECLIENT_H
#define ACTO_TEST_NODECLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transport/auth.h"
#include "transport/frame.h"
#include "transport/wire.h"

/* Results of the waiting helpers besides 0. */
#define NC_CLOSED (-1)  /* the peer closed or reset the connection */
#define NC_TIMEOUT (-2) /* the deadline passed */
#define NC_ERROR (-3)   /* anything else (bad frame from the node, tag, ...) */

typedef struct nc_client {
  int fd;
  acto__auth auth;
  int auth_live; /* auth initialised (acto__auth_clear needed) */
  /* The handshake as it went over the wire (for replay tests). */
  uint8_t hello[ACTO__AUTH_MSG_MAX];
  size_t hello_len;
  uint8_t challenge[ACTO__AUTH_MSG_MAX];
  size_t challenge_len;
  uint8_t response[ACTO__AUTH_MSG_MAX];
  size_t response_len;
} nc_client;

static inline int64_t nc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The node id's upper half: FNV-1a-32 of the node name, 0 mapped to 1
 * (as transport/node.c computes it). */
static inline uint32_t nc_name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h ^= (uint8_t)*s;
    h *= 16777619u;
  }
  return h ? h : 1u;
}

static inline void nc_put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline void nc_init(nc_client *c) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

/* A blocking TCP connection to 127.0.0.1:port (TCP_NODELAY), or -1. */
static inline int nc_connect_fd(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static inline int nc_connect(nc_client *c, uint16_t port) {
  c->fd = nc_connect_fd(port);
  return c->fd >= 0 ? 0 : NC_ERROR;
}

/* Sends all n bytes.  0, or NC_CLOSED when the peer closed/reset the
 * connection meanwhile (which many tests expect), NC_ERROR otherwise. */
static inline int nc_send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
    if (k > 0) {
      b += k;
      n -= (size_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EPIPE || errno == ECONNRESET))
      return NC_CLOSED;
    return NC_ERROR;
  }
  return 0;
}

/* Sends a frame: the 4-byte big-endian length of body, then body. */
static inline int nc_send_frame(int fd, const void *body, size_t len) {
  uint8_t h[4];
  nc_put_be32(h, (uint32_t)len);
  int r = nc_send_all(fd, h, sizeof h);
  return r == 0 && len > 0 ? nc_send_all(fd, body, len) : r;
}

/* Waits until fd is readable or the deadline (absolute, nc_now_ms) passes. */
static inline int nc_poll_in(int fd, int64_t deadline_ms) {
  for (;;) {
    int64_t left = deadline_ms - nc_now_ms();
    if (left < 0)
      left = 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)left);
    if (r > 0)
      return 0;
    if (r == 0)
      return NC_TIMEOUT;
    if (errno != EINTR)
      return NC_ERROR;
  }
}

/* Reads exactly n bytes before the deadline: 0, NC_CLOSED, NC_TIMEOUT. */
static inline int nc_recv_exact(int fd, void *p, size_t n, int64_t deadline_ms) {
  uint8_t *b = p;
  while (n > 0) {
    int w = nc_poll_in(fd, deadline_ms);
    if (w != 0)
      return w;
    ssize_t k = recv(fd, b, n, MSG_DONTWAIT);
    if (k > 0) {
      b += k;
      n -= (size_t)k;
      continue;
    }
    if (k == 0)
      return NC_CLOSED;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
      continue;
    return errno == ECONNRESET ? NC_CLOSED : NC_ERROR;
  }
  return 0;
}

/* Reads one frame body into buf[0..cap): its length in *len.  NC_ERROR
 * for a body over cap (the frame is then not consumed whole). */
static inline int nc_recv_frame(int fd, uint8_t *buf, size_t cap, size_t *len,
                                long timeout_ms) {
  int64_t dl = nc_now_ms() + timeout_ms;
  uint8_t h[4];
  int r = nc_recv_exact(fd, h, 4, dl);
  if (r != 0)
    return r;
  uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  if (n > cap)
    return NC_ERROR;
  *len = n;
  return nc_recv_exact(fd, buf, n, dl);
}

/* Waits until the peer closes or resets the connection, discarding what it
 * sends meanwhile.  1 when closed (EOF or ECONNRESET), 0 at the deadline. */
static inline int nc_wait_closed(int fd, long timeout_ms) {
  int64_t dl = nc_now_ms() + timeout_ms;
  uint8_t scratch[4096];
  for (;;) {
    int w = nc_poll_in(fd, dl);
    if (w == NC_TIMEOUT)
      return 0;
    if (w != 0)
      return 0;
    ssize_t k = recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (k == 0)
      return 1;
    if (k < 0 && errno == ECONNRESET)
      return 1;
    if (k < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
      return 0;
  }
}

/* Starts a client handshake on a connected c: sends HELLO (under `name`,
 * with `key`), receives the CHALLENGE, and feeds it.  Returns 0 when the
 * client accepted the CHALLENGE (the RESPONSE is ready in c->response but
 * NOT sent: see nc_handshake), ACTO_EPROTO (negative) when the client
 * refused it (a wrong key), or an NC_* code. */
static inline int nc_hello(nc_client *c, const char *name, const acto__auth_key *key,
                           long timeout_ms) {
  if (c->auth_live)
    acto__auth_clear(&c->auth);
  if (acto__auth_init(&c->auth, ACTO__AUTH_CLIENT, name, key, NULL) != 0)
    return NC_ERROR;
  c->auth_live = 1;
  int n = acto__auth_start(&c->auth, c->hello, sizeof c->hello);
  if (n < 0)
    return NC_ERROR;
  c->hello_len = (size_t)n;
  int r = nc_send_frame(c->fd, c->hello, c->hello_len);
  if (r != 0)
    return r;
  r = nc_recv_frame(c->fd, c->challenge, sizeof c->challenge, &c->challenge_len, timeout_ms);
  if (r != 0)
    return r;
  int f = acto__auth_feed(&c->auth, c->challenge, c->challenge_len, c->response,
                          sizeof c->response, &c->response_len);
  if (f == ACTO__AUTH_DONE)
    return 0;
  return f < 0 ? f : NC_ERROR;
}

/* A full handshake: connect to port, HELLO, CHALLENGE, RESPONSE.  The node
 * answers with its INFO next (read it with nc_recv_sealed). */
static inline int nc_handshake(nc_client *c, uint16_t port, const char *name,
                               const acto__auth_key *key, long timeout_ms) {
  int r = nc_connect(c, port);
  if (r != 0)
    return r;
  r = nc_hello(c, name, key, timeout_ms);
  if (r != 0)
    return r;
  return nc_send_frame(c->fd, c->response, c->response_len);
}

/* Builds a sealed frame (header, payload, tag) into a fresh buffer *out
 * (caller frees with acto__buf_free); advances the send sequence. */
static inline int nc_seal(nc_client *c, const void *payload, size_t len, acto__buf *out) {
  uint8_t tag[ACTO__FRAME_TAG_LEN];
  uint8_t h[4];
  if (acto__auth_seal(&c->auth, payload, len, tag) != 0)
    return NC_ERROR;
  nc_put_be32(h, (uint32_t)(len + ACTO__FRAME_TAG_LEN));
  if (acto__buf_append(out, h, 4) != 0 || acto__buf_append(out, payload, len) != 0 ||
      acto__buf_append(out, tag, sizeof tag) != 0)
    return NC_ERROR;
  return 0;
}

static inline int nc_send_sealed(nc_client *c, const void *payload, size_t len) {
  acto__buf b = {0};
  int r = nc_seal(c, payload, len, &b);
  if (r == 0)
    r = nc_send_all(c->fd, b.p, b.len);
  acto__buf_free(&b);
  return r;
}

/* Receives one sealed frame, checks its tag (advancing the receive
 * sequence) and leaves the payload in buf[0..*len). */
static inline int nc_recv_sealed(nc_client *c, uint8_t *buf, size_t cap, size_t *len,
                                 long timeout_ms) {
  size_t n = 0;
  int r = nc_recv_frame(c->fd, buf, cap, &n, timeout_ms);
  if (r != 0)
    return r;
  if (n <= ACTO__FRAME_TAG_LEN)
    return NC_ERROR;
  n -= ACTO__FRAME_TAG_LEN;
  if (acto__auth_open(&c->auth, buf, n, buf + n) != 0)
    return NC_ERROR;
  *len = n;
  return 0;
}

/* The payload of a batch [1, msgs...] built from n encoded messages. */
static inline int nc_batch(acto__buf *out, uint32_t n, const void *msgs, size_t len) {
  uint8_t prefix[6];
  size_t k = acto__wire_batch_prefix(prefix, n);
  if (acto__buf_append(out, prefix, k) != 0 || acto__buf_append(out, msgs, len) != 0)
    return NC_ERROR;
  return 0;
}

/* Sends our INFO as a batch of one: node id = hash(name) << 32 | inc. */
static inline int nc_send_info(nc_client *c, const char *name, uint32_t inc, uint16_t port) {
  acto__buf m = {0}, p = {0};
  int r = NC_ERROR;
  uint64_t id = (uint64_t)nc_name_hash(name) << 32 | inc;
  if (acto__wire_info(&m, id, port, ACTO__FRAME_CAP_DEFAULT, 4000) == 0 &&
      nc_batch(&p, 1, m.p, m.len) == 0)
    r = nc_send_sealed(c, p.p, p.len);
  acto__buf_free(&m);
  acto__buf_free(&p);
  return r;
}

static inline void nc_close(nc_client *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  if (c->auth_live)
    acto__auth_clear(&c->auth);
  c->auth_live = 0;
}

#endif /* ACTO_TEST_NODECLIENT_H */
