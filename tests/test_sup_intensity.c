/* test_sup_intensity.c - what a supervisor's intensity window costs.
 *
 * A supervisor remembers the times of its recent restarts to enforce
 * `intensity` restarts per `period_ms`.  Those times must cost memory in
 * proportion to the restarts actually inside one period, not to the
 * intensity: the soak (test_soak, intensity 1,000,000) once grew its RSS
 * by about 25 KB/s for as long as it ran, because the ring of restart
 * times was sized to the intensity (8 MB of lazily zeroed memory) and its
 * head walked through it, touching a new page every 512 restarts.
 *
 * DESIGN.  Deterministic mode: the tests drive the virtual clock, so how
 * many restarts fall inside one period is exact, not a matter of timing.
 * Memory is read from glibc's allocator statistics (mallinfo2: bytes in
 * use in every arena plus mmapped chunks); the sanitizers bring their own
 * allocators, so there the memory check is skipped and the counting
 * checks still run.
 */
#include "testutil.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define SI_HAVE_MALLINFO2 (!TU_ASAN && !TU_TSAN)
#else
#define SI_HAVE_MALLINFO2 0
#endif

enum { MSG_FAIL = 1 };

static int w_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  (void)ctx;
  (void)state;
  return m->type == MSG_FAIL ? -3 : 0;
}

static const acto_behaviour w_b = {.name = "si.worker", .state_size = 8, .handle = w_handle};

static _Atomic long g_restarts, g_gaveup;

static void on_event(void *user, acto_ref sup, const char *child_id, acto_sup_event ev,
                     int reason) {
  (void)user;
  (void)sup;
  (void)child_id;
  (void)reason;
  if (ev == ACTO_SUP_CHILD_RESTARTED)
    atomic_fetch_add(&g_restarts, 1);
  if (ev == ACTO_SUP_GAVE_UP)
    atomic_fetch_add(&g_gaveup, 1);
}

static long restarts(void) { return atomic_load(&g_restarts); }
static long gaveup(void) { return atomic_load(&g_gaveup); }

static acto_system *det_system(void) { return tu_det_system(0x5eed); }

static void run_for(acto_system *sys, int64_t ms) {
  int64_t n = acto_system_run(sys, ms);
  ck_assert_msg(n >= 0, "acto_system_run returned %lld", (long long)n);
}

/* A one-for-one supervisor of one permanent worker "c1"; *child gets its
 * ref (a restart in place keeps it). */
static acto_ref start(acto_system *sys, uint32_t intensity, uint32_t period_ms, acto_ref *child) {
  static acto_child_spec cs;
  memset(&cs, 0, sizeof cs);
  cs.id = "c1";
  cs.kind = ACTO_WORKER;
  cs.behaviour = &w_b;
  cs.restart = ACTO_PERMANENT;
  acto_sup_spec sp;
  memset(&sp, 0, sizeof sp);
  sp.strategy = ACTO_ONE_FOR_ONE;
  sp.intensity = intensity;
  sp.period_ms = period_ms;
  sp.children = &cs;
  sp.nchildren = 1;
  sp.on_event = on_event;
  acto_ref sup = ACTO_REF_NONE;
  ck_assert_ok(acto_supervisor_start(sys, &sp, NULL, &sup));
  acto_child_info ci;
  size_t n = 0;
  ck_assert_ok(acto_supervisor_which_children(sys, sup, &ci, 1, &n, TU_WAIT_MS));
  ck_assert_uint_eq(n, 1);
  *child = ci.ref;
  return sup;
}

/* n failures of child, step_ms of virtual time apart. */
static void fail_n(acto_system *sys, acto_ref child, long n, int64_t step_ms) {
  for (long i = 0; i < n; i++) {
    ck_assert_ok(acto_send(sys, child, MSG_FAIL, NULL, 0));
    run_for(sys, step_ms);
  }
}

static void stop_all(acto_system *sys, acto_ref sup) {
  if (acto_alive(sys, sup))
    ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
  tu_shutdown(sys);
}

#if SI_HAVE_MALLINFO2
static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}
#endif

START_TEST(a_huge_intensity_costs_memory_for_the_restarts_in_the_window_only) {
  acto_system *sys = det_system();
  acto_ref child;
  /* Warm-up: the first actor brings the actor table's first chunk (1 MB)
   * and the pools their first slabs. */
  acto_ref sup = start(sys, 1, 1000, &child);
  ck_assert_ok(acto_supervisor_stop(sys, sup, TU_WAIT_MS));
#if SI_HAVE_MALLINFO2
  size_t before = heap_in_use();
#endif
  sup = start(sys, 1000000, 1000, &child);
  /* 4000 restarts 1 ms apart: at most 1001 of them inside one period. */
  fail_n(sys, child, 4000, 1);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_int_eq(restarts(), 4000);
  ck_assert_int_eq(gaveup(), 0);
#if SI_HAVE_MALLINFO2
  /* Live restart times: about 1000 x 8 bytes (a ring of at most 2048
   * slots, 16 KB); the supervisor, its child and the system's caches add
   * a few tens of KB.  A ring sized to the intensity alone is 8 MB. */
  size_t after = heap_in_use();
  size_t grew = after > before ? after - before : 0;
  ck_assert_msg(grew < 1024 * 1024, "heap in use grew by %zu bytes for one supervisor", grew);
#endif
  stop_all(sys, sup);
}
END_TEST

START_TEST(a_ring_that_grows_while_wrapped_keeps_counting_exactly) {
  acto_system *sys = det_system();
  acto_ref child;
  acto_ref sup = start(sys, 100, 1000, &child);
  /* Ten restarts that leave the window, so that the next ones wrap
   * around the ring while it grows (16, 32, 64, then 100 slots). */
  fail_n(sys, child, 10, 1);
  run_for(sys, 1000);
  fail_n(sys, child, 100, 1);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_int_eq(restarts(), 110);
  /* The 101st failure inside one period is one too many. */
  fail_n(sys, child, 1, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_int_eq(restarts(), 110);
  ck_assert_int_eq(gaveup(), 1);
  stop_all(sys, sup);
}
END_TEST

START_TEST(a_window_that_slides_after_growing_keeps_counting_exactly) {
  acto_system *sys = det_system();
  acto_ref child;
  acto_ref sup = start(sys, 50, 100, &child);
  /* 440 restarts 2 ms apart: each finds the 49 of the last 98 ms in the
   * window (the one 100 ms old has just left it) and makes 50, exactly
   * the intensity, while the ring's head goes round it many times. */
  fail_n(sys, child, 440, 2);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_int_eq(restarts(), 440);
  /* 2 ms later one more still fits (the oldest left); a second at the
   * same instant is the 51st within 100 ms. */
  fail_n(sys, child, 1, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_int_eq(restarts(), 441);
  fail_n(sys, child, 1, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 0);
  ck_assert_int_eq(gaveup(), 1);
  stop_all(sys, sup);
}
END_TEST

START_TEST(intensity_uint32_max_counts_without_overflow) {
  /* The ring was calloc(intensity + 1) slots: 0 for UINT32_MAX, and the
   * first restart wrote past the allocation. */
  acto_system *sys = det_system();
  acto_ref child;
  acto_ref sup = start(sys, UINT32_MAX, 1000, &child);
  fail_n(sys, child, 100, 0);
  ck_assert_int_eq(acto_alive(sys, sup), 1);
  ck_assert_int_eq(restarts(), 100);
  stop_all(sys, sup);
}
END_TEST

int main(void) {
  Suite *s = suite_create("sup_intensity");
  TCase *tc = tu_tcase("window", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, a_huge_intensity_costs_memory_for_the_restarts_in_the_window_only,
               a_ring_that_grows_while_wrapped_keeps_counting_exactly,
               a_window_that_slides_after_growing_keeps_counting_exactly,
               intensity_uint32_max_counts_without_overflow);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
