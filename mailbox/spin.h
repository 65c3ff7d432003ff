/* spin.h - a one-byte test-and-set lock for short critical sections on
 * rare paths (parked senders, drop-oldest, run queues), where a 40-byte
 * pthread mutex per actor would cost more memory than the section costs
 * time.  It spins with a pause, then yields the CPU.
 */
#ifndef ACTO_SPIN_H
#define ACTO_SPIN_H

#include <sched.h>
#include <stdatomic.h>

typedef _Atomic unsigned char acto__spin;

static inline void acto__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline void acto__spin_lock(acto__spin *l) {
  unsigned n = 0;
  /* acquire: pairs with the release in acto__spin_unlock. */
  while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
    while (atomic_load_explicit(l, memory_order_relaxed)) {
      if (++n < 64)
        acto__cpu_relax();
      else
        sched_yield();
    }
  }
}

static inline void acto__spin_unlock(acto__spin *l) {
  atomic_store_explicit(l, 0, memory_order_release);
}

#endif /* ACTO_SPIN_H */
