/* spawn_internal.h - remote spawn (spawn.c): the node service's spawn requests,
 * the registry's end, and the placement of a supervisor's remote child.
 * Internal.  It includes no transport header, so that supervisor/ can
 * use the placement. */
#ifndef ACTO_TRANSPORT_SPAWN_INTERNAL_H
#define ACTO_TRANSPORT_SPAWN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "acto_cluster.h"

struct acto__conn;
struct acto__wmsg;
struct acto__spawn;
struct acto__buf;

/* deliver.c: a checked SEND with REQUEST of ACTO_MSG_NODE_SPAWN to the
 * node service, from conn c: handed to the spawner (answered there), or
 * answered ACTO_ENOENT at once when nothing is registered.  0, or -2 with
 * *reason when a local resource failed (c closes).  I/O thread. */
int acto__spawn_service(struct acto__conn *c, const struct acto__wmsg *w, const char **reason);

/* node.c: frees the registry at the node's end (NULL: nothing). */
void acto__spawn_free(struct acto__spawn *sp);

/* The payload of a spawn request (ACTORS.md 13.5): encode appends it to
 * b (0 or ACTO_ENOMEM); decode checks p[0..len) and fills *q with
 * pointers into p (0 or ACTO_EPROTO). */
typedef struct acto__spawn_req {
  const char *behaviour; /* not NUL-terminated */
  size_t behaviour_len;
  const void *arg;
  size_t arg_len;
  const char *name; /* NULL: none; not NUL-terminated */
  size_t name_len;
  uint32_t capacity;
  uint64_t max_bytes;
  uint32_t overflow;
} acto__spawn_req;
int acto__spawn_encode(struct acto__buf *b, const acto__spawn_req *q);
int acto__spawn_decode(const uint8_t *p, size_t len, acto__spawn_req *q);

/* 1 if s is a node name (acto_node.h's rule).  Any thread. */
int acto__spawn_node_name_ok(const char *s);

/* The node to start remote child child_id on (rc's rules, acto_cluster.h)
 * into out: 0, or ACTO_ENOTCONN when none is up (or no node runs here).
 * previous: the node it ran on last, or NULL.  Any thread (the
 * supervisor's worker). */
int acto__spawn_place(acto_system *sys, const acto_child_remote *rc, const char *child_id,
                      const char *previous, char out[ACTO_NODE_NAME_MAX + 1]);

#endif /* ACTO_TRANSPORT_SPAWN_INTERNAL_H */
