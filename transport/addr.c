/* addr.c - node addresses and the resolver thread.
 *
 * DESIGN
 * A peer's address is a host and a port.  A numeric host (IPv4 or IPv6)
 * is parsed where it is given, never blocking.  A DNS name is resolved
 * before each connection attempt (the name may move between attempts), by
 * libevent's resolver interface, evutil_getaddrinfo, on the node's
 * resolver thread: the I/O thread must never block on DNS, and evdns is
 * not used (PITFALLS.md, libevent 7).  A request:
 *   I/O thread: acto__addr_resolve pins the peer and queues a request
 *     (res_todo, under res_mtx), starting the thread on first use.
 *   resolver:   takes it, resolves, queues the answer (res_done) and
 *     wakes the loop (event_active on res_ev, the one libevent call made
 *     from this thread, which evthread_use_pthreads makes safe).
 *   I/O thread: on_resolved hands every answer to the node's
 *     on_resolved (conn.c, above this file): the peer (pin held, so its
 *     slot is the same name unless the identity check there fails) gets
 *     the address and connects, or its attempt fails ("cannot
 *     resolve"), as a refused connection would; then the pin is dropped.
 * The stop sets res_stop and joins the thread (a lookup under way is
 * waited for: the system resolver's own timeout bounds it); answers and
 * requests left over are dropped at destroy, with their pins.
 */
#include "transport/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>

#include "acto_error.h"
#include "transport/transport.h"

struct acto__resq {
  struct acto__resq *next;
  acto__peer *p;
  uint32_t hash; /* p's identity when asked */
  char host[ACTO__HOST_MAX + 1];
  uint16_t port;
  uint32_t pick; /* which of the answers to use (p->addr_try when asked) */
  int ok;
  struct sockaddr_storage ss;
  socklen_t len;
};

const char *acto__addr_host_problem(const char *host, size_t len) {
  if (len == 0)
    return "the host is empty";
  if (len > ACTO__HOST_MAX)
    return "the host is longer than 253 bytes";
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)host[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '.' || ch == '-' || ch == ':' || ch == '_' || ch == '%'))
      return "a host is a DNS name or a numeric IPv4 or IPv6 address";
  }
  return NULL;
}

int acto__addr_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss,
                       socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (evutil_inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    *len = sizeof *a4;
    return 0;
  }
  /* IPv6, with an optional %scope: getaddrinfo with AI_NUMERICHOST never
   * blocks and knows scopes. */
  struct evutil_addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = EVUTIL_AI_NUMERICHOST;
  if (strchr(host, ':') && evutil_getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
    memcpy(a6, res->ai_addr, sizeof *a6);
    a6->sin6_port = htons(port);
    *len = sizeof *a6;
    evutil_freeaddrinfo(res);
    return 0;
  }
  if (res)
    evutil_freeaddrinfo(res);
  return -1;
}

void acto__addr_format(const struct sockaddr_storage *ss, char *host, size_t cap, uint16_t *port) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    if (!inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)cap))
      snprintf(host, cap, "?");
    *port = ntohs(a->sin6_port);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    if (!inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)cap))
      snprintf(host, cap, "?");
    *port = ntohs(a->sin_port);
  }
}

static void *resolver_main(void *arg) {
  acto__node *n = arg;
  acto__thread_begin(n->sys, "acto-resolve");
  pthread_mutex_lock(&n->res_mtx);
  for (;;) {
    while (!n->res_todo && !n->res_stop)
      pthread_cond_wait(&n->res_cv, &n->res_mtx);
    if (n->res_stop)
      break;
    struct acto__resq *q = n->res_todo;
    n->res_todo = q->next;
    pthread_mutex_unlock(&n->res_mtx);
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)q->port);
    struct evutil_addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    q->ok = 0;
    if (evutil_getaddrinfo(q->host, port, &hints, &res) == 0 && res) {
      /* A name may have several addresses (localhost: ::1 and 127.0.0.1):
       * each failed attempt moves on to the next one. */
      unsigned cnt = 0;
      for (struct evutil_addrinfo *a = res; a; a = a->ai_next)
        cnt++;
      struct evutil_addrinfo *a = res;
      for (unsigned k = q->pick % cnt; k > 0; k--)
        a = a->ai_next;
      if (a->ai_addrlen <= sizeof q->ss) {
        memcpy(&q->ss, a->ai_addr, a->ai_addrlen);
        q->len = (socklen_t)a->ai_addrlen;
        q->ok = 1;
      }
    }
    if (res)
      evutil_freeaddrinfo(res);
    pthread_mutex_lock(&n->res_mtx);
    q->next = n->res_done;
    n->res_done = q;
    if (!n->res_stop)
      event_active(n->res_ev, EV_READ, 0);
  }
  pthread_mutex_unlock(&n->res_mtx);
  acto__thread_end(n->sys, "acto-resolve");
  return NULL;
}

/* I/O thread: the answers. */
static void on_resolved(evutil_socket_t fd, short ev, void *arg) {
  (void)fd;
  (void)ev;
  acto__node *n = arg;
  pthread_mutex_lock(&n->res_mtx);
  struct acto__resq *q = n->res_done;
  n->res_done = NULL;
  pthread_mutex_unlock(&n->res_mtx);
  while (q) {
    struct acto__resq *next = q->next;
    n->on_resolved(q->p, q->hash, q->host, q->ok, &q->ss, q->len);
    free(q);
    q = next;
  }
}

int acto__addr_resolve(acto__peer *p) {
  acto__node *n = p->node;
  struct acto__resq *q = calloc(1, sizeof *q);
  if (!q)
    return ACTO_ENOMEM;
  pthread_mutex_lock(&p->mtx);
  if (p->resolving || !p->has_addr) {
    pthread_mutex_unlock(&p->mtx);
    free(q);
    return 0;
  }
  p->resolving = 1;
  p->pins++;
  q->p = p;
  q->hash = atomic_load_explicit(&p->hash, memory_order_relaxed); /* under p->mtx */
  snprintf(q->host, sizeof q->host, "%s", p->host);
  q->port = p->port;
  q->pick = p->addr_try;
  pthread_mutex_unlock(&p->mtx);
  pthread_mutex_lock(&n->res_mtx);
  int r = 0;
  if (!n->res_ev) {
    n->res_ev = event_new(n->base, -1, 0, on_resolved, n);
    if (!n->res_ev || pthread_create(&n->res_thread, NULL, resolver_main, n) != 0) {
      if (n->res_ev)
        event_free(n->res_ev);
      n->res_ev = NULL;
      r = ACTO_ENOMEM;
    } else {
      n->res_started = 1;
    }
  }
  if (r == 0) {
    q->next = n->res_todo;
    n->res_todo = q;
    pthread_cond_signal(&n->res_cv);
  }
  pthread_mutex_unlock(&n->res_mtx);
  if (r != 0) {
    pthread_mutex_lock(&p->mtx);
    p->resolving = 0;
    if (--p->pins == 0) /* the pin taken above (peer.c's unpin, inline) */
      p->idle_ns = acto__transport_now_ns();
    pthread_mutex_unlock(&p->mtx);
    free(q);
  }
  return r;
}

void acto__addr_resolver_stop(acto__node *n) {
  pthread_mutex_lock(&n->res_mtx);
  n->res_stop = 1;
  int started = n->res_started;
  n->res_started = 0;
  pthread_cond_signal(&n->res_cv);
  pthread_mutex_unlock(&n->res_mtx);
  if (started)
    pthread_join(n->res_thread, NULL);
}

void acto__addr_resolver_free(acto__node *n) {
  struct acto__resq *lists[2] = {n->res_todo, n->res_done};
  n->res_todo = n->res_done = NULL;
  for (int i = 0; i < 2; i++)
    for (struct acto__resq *q = lists[i]; q;) {
      struct acto__resq *next = q->next;
      free(q); /* the pins go with the peers, freed at destroy */
      q = next;
    }
  if (n->res_ev)
    event_free(n->res_ev);
  n->res_ev = NULL;
}
