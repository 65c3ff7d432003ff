/* remote.c - the runtime's side of the port to a transport (remote.h):
 * installing one, and the door through which actor/ reaches remote refs.
 *
 * DESIGN
 * sys->remote is written twice in a system's life: by acto__remote_attach
 * (acto_node_start, before any actor exists: the refs handed out all carry
 * the node id it sets) and by acto__remote_destroy (acto_system_shutdown,
 * last, when no thread sends any more).  acto__remote_detach undoes an
 * attach whose transport failed to start, before any actor could see it.
 * Readers load it with acquire: it pairs with attach's release store, so
 * a reader that sees the pointer sees the transport fully built.  The
 * transport itself decides what a stopped node answers (acto_node_stop
 * leaves it installed: sends then fail with ACTO_ENOTCONN).
 */
#include <stdatomic.h>
#include <stddef.h>

#include "actor/actor_internal.h"
#include "actor/remote.h"

acto__remote *acto__remote_of(acto_system *sys) {
  return atomic_load_explicit(&sys->remote, memory_order_acquire);
}

int acto__remote_check(acto_system *sys, const char **why) {
  const char *unused;
  if (!why)
    why = &unused;
  if (sys->det) {
    *why = "the node API is not available in deterministic mode";
    return ACTO_EINVAL;
  }
  if (acto__remote_of(sys)) {
    *why = "a node already runs on this system";
    return ACTO_EALREADY;
  }
  /* relaxed: a count; a spawn racing with this call on another thread is
   * the misuse this refuses, caught when it is seen. */
  if (atomic_load_explicit(&sys->spawned, memory_order_relaxed) > 0) {
    *why = "the node must start before the first spawn: refs handed out before it would not "
           "carry the node's id";
    return ACTO_EALREADY;
  }
  return 0;
}

int acto__remote_attach(acto_system *sys, acto__remote *r, uint32_t name_hash,
                        const char **why) {
  int rc = acto__remote_check(sys, why);
  if (rc != 0)
    return rc;
  /* The incarnation is the system's (random, non-zero): refs keep their
   * low half, the name's hash fills the high one. */
  uint64_t inc = (uint32_t)atomic_load_explicit(&sys->node_id, memory_order_relaxed);
  atomic_store_explicit(&sys->node_id, ((uint64_t)name_hash << 32) | inc, memory_order_relaxed);
  /* release: the transport's state is built before anyone can reach it. */
  atomic_store_explicit(&sys->remote, r, memory_order_release);
  return 0;
}

void acto__remote_detach(acto_system *sys, acto__remote *r) {
  if (acto__remote_of(sys) != r)
    return;
  atomic_store_explicit(&sys->remote, NULL, memory_order_release);
  uint64_t inc = (uint32_t)atomic_load_explicit(&sys->node_id, memory_order_relaxed);
  atomic_store_explicit(&sys->node_id, inc, memory_order_relaxed);
}

int acto__remote_send_user(acto_system *sys, acto_ref to, acto__msg *m, int fail_fast,
                           int64_t deadline_ms) {
  acto__remote *r = acto__remote_of(sys);
  if (r)
    return r->ops->send_user(r, to, m, fail_fast, deadline_ms);
  /* No transport: as a node that is down. */
  acto__send_refused_to(sys, m, to, ACTO_DEAD_NOCONNECTION);
  return ACTO_ENOTCONN;
}

int acto__remote_send_system(acto_system *sys, acto_ref to, acto__msg *m) {
  acto__remote *r = acto__remote_of(sys);
  return r ? r->ops->send_system(r, to, m) : ACTO_ENOTCONN;
}

void acto__remote_ask_forget(acto_system *sys, uint64_t node, uint64_t ask_id) {
  acto__remote *r = acto__remote_of(sys);
  if (r)
    r->ops->ask_forget(r, node, ask_id);
}

void acto__remote_shutdown(acto_system *sys) {
  acto__remote *r = acto__remote_of(sys);
  if (r)
    r->ops->shutdown(r);
}

void acto__remote_destroy(acto_system *sys) {
  acto__remote *r = acto__remote_of(sys);
  if (!r)
    return;
  atomic_store_explicit(&sys->remote, NULL, memory_order_release);
  r->ops->destroy(r);
}
