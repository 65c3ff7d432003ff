/* addr.h - node addresses: a host (a numeric IPv4 or IPv6 address, or a
 * DNS name) and a port; parsing, formatting, and the node's resolver
 * thread, which turns names into addresses off the I/O thread.
 * Internal. */
#ifndef ACTO_TRANSPORT_ADDR_H
#define ACTO_TRANSPORT_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct acto__node;
struct acto__peer;

/* Longest host accepted (a DNS name is at most 253 bytes). */
#define ACTO__HOST_MAX 253u

/* A host is 1..ACTO__HOST_MAX bytes of [A-Za-z0-9.:_%-] (names, IPv4,
 * IPv6 with a scope).  NULL when it is one, else what is wrong (static). */
const char *acto__addr_host_problem(const char *host, size_t len);

/* A numeric IPv4 or IPv6 host and a port into *ss (never blocks): 0, or
 * -1 when host is not numeric. */
int acto__addr_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss,
                       socklen_t *len);

/* The numeric host and the port of ss. */
void acto__addr_format(const struct sockaddr_storage *ss, char *host, size_t cap, uint16_t *port);

/* The resolver (addr.c DESIGN).  request: resolve p's host for a
 * connection; the answer comes back on the I/O thread, which connects or
 * declares the attempt failed.  I/O thread; takes a pin on p.  0 or
 * ACTO_ENOMEM. */
int acto__addr_resolve(struct acto__peer *p);
/* Stops and joins the resolver thread (node stop). */
void acto__addr_resolver_stop(struct acto__node *n);
/* Frees what the resolver still holds (node destroy, after the stop). */
void acto__addr_resolver_free(struct acto__node *n);

#endif /* ACTO_TRANSPORT_ADDR_H */
