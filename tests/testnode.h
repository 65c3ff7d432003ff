/* testnode.h - nodes in one process for the suites that need several
 * (test_node.c, test_global.c, test_group.c): a system with its node on
 * 127.0.0.1 (an ephemeral port), its port, and a connection between two.
 * Include after testutil.h.
 */
#ifndef ACTO_TESTNODE_H
#define ACTO_TESTNODE_H

#include "testutil.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";

/* The heartbeat timeout of links that must stay up (2 s, heartbeats every
 * 500 ms), scaled like every deadline: a node whose I/O thread is kept
 * off the CPU that long looks silent. */
#define LIVE_HBT ((int64_t)2000 * tu_multiplier())

static inline acto_system *node_sys(const char *name, const uint8_t *key, int64_t hb_timeout) {
  acto_config c = {0};
  c.threads = 2;
  acto_system *s = tu_system_cfg(&c);
  acto_node_config nc = {0};
  nc.name = name;
  nc.key = key;
  nc.key_len = 32;
  nc.heartbeat_ms = hb_timeout / 4;
  nc.heartbeat_timeout_ms = hb_timeout;
  nc.handshake_timeout_ms = 2000 * tu_multiplier(); /* the default, scaled */
  ck_assert_ok(acto_node_start(s, &nc));
  return s;
}

static inline uint16_t port_of(acto_system *s) {
  uint16_t p = 0;
  ck_assert_ok(acto_node_port(s, &p));
  ck_assert_uint_ne(p, 0);
  return p;
}

static inline void link_nodes(acto_system *from, const char *to_name, acto_system *to) {
  ck_assert_ok(acto_node_connect(from, to_name, "127.0.0.1", port_of(to), TU_WAIT_MS));
}

#endif /* ACTO_TESTNODE_H */
