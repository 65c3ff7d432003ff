/* test_mailbox.c - the bounded MPSC mailbox (mailbox/), tested directly
 * through its internal API: the lock-free queue under contention, the
 * bound, the byte budget, the system lane, drop-oldest swapping, the
 * scheduling signal, and the parked list.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/mailbox.h"
#include "testutil.h"

#define SCALE_DIV TU_N(1, 4, 20)

typedef struct payload {
  uint32_t producer;
  uint32_t seq;
} payload;

static acto__msg *new_msg(uint32_t producer, uint32_t seq) {
  payload p = {producer, seq};
  acto__msg *m = acto__msg_new(1, &p, sizeof p, NULL);
  TU_HOT_ASSERT(m != NULL);
  return m;
}

/* ---- contention: 8 producers x N into one mailbox ----------------------- */

#define PRODUCERS 8

typedef struct flood {
  acto__mailbox mb;
  uint32_t per_producer;
  _Atomic uint64_t full_seen;
  _Atomic uint64_t schedules; /* reservations that found the word at zero */
} flood;

typedef struct prod_arg {
  flood *f;
  uint32_t id;
} prod_arg;

static void *producer(void *arg) {
  prod_arg *pa = arg;
  flood *f = pa->f;
  for (uint32_t i = 0; i < f->per_producer; i++) {
    acto__msg *m = new_msg(pa->id, i);
    int was_empty = 0;
    while (acto__mailbox_reserve(&f->mb, m->pub.size, 0, &was_empty) != ACTO__MB_OK) {
      atomic_fetch_add(&f->full_seen, 1);
      sched_yield();
    }
    acto__mailbox_push_reserved(&f->mb, m);
    if (was_empty)
      atomic_fetch_add(&f->schedules, 1);
  }
  return NULL;
}

/* The consumer: pops everything, checks per-producer order, never sees
 * more than the capacity of user messages counted. */
static void run_flood(uint32_t capacity, uint32_t per_producer) {
  flood f;
  acto__mailbox_init(&f.mb, capacity, (size_t)1 << 40, ACTO_OVERFLOW_BLOCK);
  f.per_producer = per_producer;
  atomic_init(&f.full_seen, 0);
  atomic_init(&f.schedules, 0);
  pthread_t th[PRODUCERS];
  prod_arg args[PRODUCERS];
  for (uint32_t i = 0; i < PRODUCERS; i++) {
    args[i] = (prod_arg){&f, i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, producer, &args[i]), 0);
  }
  uint32_t next[PRODUCERS] = {0};
  uint64_t total = (uint64_t)PRODUCERS * per_producer, got = 0;
  while (got < total) {
    uint64_t c = atomic_load(&f.mb.count);
    TU_HOT_ASSERT((c & ACTO__MB_USER_MASK) <= capacity);
    acto__msg *m = acto__mailbox_pop(&f.mb);
    if (!m) {
      sched_yield();
      continue;
    }
    const payload *p = m->pub.data;
    TU_HOT_ASSERT(p->producer < PRODUCERS);
    /* In order, none lost, none duplicated: exactly the next number. */
    TU_HOT_ASSERT(p->seq == next[p->producer]);
    next[p->producer]++;
    acto__mailbox_release(&f.mb, ACTO__MB_USER_UNIT, m->pub.size);
    acto__msg_free(m);
    got++;
  }
  for (int i = 0; i < PRODUCERS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < PRODUCERS; i++)
    ck_assert_uint_eq(next[i], per_producer);
  ck_assert_ptr_null(acto__mailbox_pop(&f.mb));
  ck_assert_uint_eq(atomic_load(&f.mb.count), 0);
  ck_assert_uint_eq(atomic_load(&f.mb.bytes), 0);
  ck_assert_uint_ge(atomic_load(&f.schedules), 1);
}

START_TEST(mailbox_eight_producers_million_each_none_lost_none_duplicated_order_kept) {
  run_flood(ACTO_MAILBOX_MAX_CAPACITY, 1000000 / SCALE_DIV);
}
END_TEST

START_TEST(mailbox_bound_never_exceeded_under_contention) {
  run_flood(16, 200000 / SCALE_DIV);
}
END_TEST

/* ---- single-threaded semantics ----------------------------------------- */

START_TEST(mailbox_reserve_reports_was_empty_only_from_zero) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 4, 1024, ACTO_OVERFLOW_BLOCK);
  int we = -1;
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
  ck_assert_int_eq(we, 1);
  acto__mailbox_push_reserved(&mb, new_msg(0, 0));
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
  ck_assert_int_eq(we, 0);
  acto__mailbox_push_reserved(&mb, new_msg(0, 1));
  for (int i = 0; i < 2; i++) {
    acto__msg *m = acto__mailbox_pop(&mb);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(((const payload *)m->pub.data)->seq, (uint32_t)i);
    uint64_t left = acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, m->pub.size);
    ck_assert_uint_eq(left, (uint64_t)(1 - i));
    acto__msg_free(m);
  }
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
  ck_assert_int_eq(we, 1);
  acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, 8);
}
END_TEST

START_TEST(mailbox_full_at_capacity_and_room_after_release) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 3, 1 << 20, ACTO_OVERFLOW_FAIL);
  int we;
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
    acto__mailbox_push_reserved(&mb, new_msg(0, (uint32_t)i));
  }
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_FULL);
  ck_assert_uint_eq(atomic_load(&mb.count), 3);
  ck_assert_uint_eq(atomic_load(&mb.bytes), 24); /* the failed reserve undid its bytes */
  acto__msg *m = acto__mailbox_pop(&mb);
  /* Taken but still being handled: still counted. */
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_FULL);
  acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, m->pub.size);
  acto__msg_free(m);
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
  acto__mailbox_push_reserved(&mb, new_msg(0, 3));
  while ((m = acto__mailbox_pop(&mb)) != NULL) {
    acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, m->pub.size);
    acto__msg_free(m);
  }
  ck_assert_uint_eq(atomic_load(&mb.count), 0);
}
END_TEST

START_TEST(mailbox_full_sender_takes_over_a_handled_unreleased_slot) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 2, 1 << 20, ACTO_OVERFLOW_FAIL);
  int we;
  for (uint32_t i = 0; i < 2; i++) {
    ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
    acto__mailbox_push_reserved(&mb, new_msg(0, i));
  }
  /* The consumer handles one message but releases in groups, later. */
  acto__msg *m = acto__mailbox_pop(&mb);
  acto__mailbox_handled(&mb);
  /* A block-policy sender does not take over (it parks instead)... */
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_FULL);
  /* ...a fail-policy sender does: the capacity counts only messages
   * queued or being handled. */
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 1, &we), ACTO__MB_OK);
  ck_assert_int_eq(we, 0);
  acto__mailbox_push_reserved(&mb, new_msg(0, 2));
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 1, &we), ACTO__MB_FULL);
  ck_assert_uint_eq(atomic_load(&mb.count), 2);
  /* Nothing left for the consumer to release for the taken slot. */
  ck_assert_uint_eq(acto__mailbox_take_handled(&mb), 0);
  acto__msg_free(m);
  while ((m = acto__mailbox_pop(&mb)) != NULL) {
    acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, 0);
    acto__msg_free(m);
  }
  ck_assert_uint_eq(atomic_load(&mb.count), 0);
}
END_TEST

START_TEST(mailbox_byte_budget_refuses_and_undoes) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 100, 20, ACTO_OVERFLOW_FAIL);
  int we;
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 16, 0, &we), ACTO__MB_OK);
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_FULL);
  ck_assert_uint_eq(atomic_load(&mb.bytes), 16);
  ck_assert_uint_eq(atomic_load(&mb.count), 1);
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 4, 0, &we), ACTO__MB_OK);
  ck_assert_uint_eq(atomic_load(&mb.bytes), 20);
  acto__mailbox_release(&mb, 2 * ACTO__MB_USER_UNIT, 20);
  ck_assert_uint_eq(atomic_load(&mb.bytes), 0);
}
END_TEST

START_TEST(mailbox_system_lane_never_refused_and_drained_first) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 1, 1 << 20, ACTO_OVERFLOW_FAIL);
  int we;
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
  ck_assert_int_eq(we, 1);
  acto__mailbox_push_reserved(&mb, new_msg(0, 100));
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_FULL);
  for (uint32_t i = 0; i < 1000; i++) {
    acto__msg *s = new_msg(1, i);
    s->kind = ACTO__KIND_STOP;
    ck_assert_int_eq(acto__mailbox_push_system(&mb, s), 0); /* not idle */
  }
  for (uint32_t i = 0; i < 1000; i++) {
    acto__msg *m = acto__mailbox_pop(&mb);
    ck_assert_int_eq(m->kind, ACTO__KIND_STOP);
    ck_assert_uint_eq(((const payload *)m->pub.data)->seq, i);
    acto__mailbox_release(&mb, ACTO__MB_SYS_UNIT, 0);
    acto__msg_free(m);
  }
  acto__msg *u = acto__mailbox_pop(&mb);
  ck_assert_int_eq(u->kind, ACTO__KIND_USER);
  ck_assert_uint_eq(acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, u->pub.size), 0);
  acto__msg_free(u);
  /* An idle mailbox reports the system push that wakes it. */
  acto__msg *s = new_msg(1, 0);
  s->kind = ACTO__KIND_STOP;
  ck_assert_int_eq(acto__mailbox_push_system(&mb, s), 1);
  acto__msg_free(acto__mailbox_pop(&mb));
}
END_TEST

START_TEST(mailbox_swap_oldest_replaces_the_oldest_queued) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 2, 1 << 20, ACTO_OVERFLOW_DROP_OLDEST);
  int we;
  for (uint32_t i = 0; i < 2; i++) {
    ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_OK);
    acto__mailbox_push_reserved(&mb, new_msg(0, i));
  }
  ck_assert_int_eq(acto__mailbox_reserve(&mb, 8, 0, &we), ACTO__MB_FULL);
  acto__msg *old = acto__mailbox_swap_oldest(&mb, new_msg(0, 2));
  ck_assert_ptr_nonnull(old);
  ck_assert_uint_eq(((const payload *)old->pub.data)->seq, 0);
  acto__msg_free(old);
  ck_assert_uint_eq(atomic_load(&mb.count), 2);
  for (uint32_t want = 1; want <= 2; want++) {
    acto__msg *m = acto__mailbox_pop(&mb);
    ck_assert_uint_eq(((const payload *)m->pub.data)->seq, want);
    acto__mailbox_release(&mb, ACTO__MB_USER_UNIT, m->pub.size);
    acto__msg_free(m);
  }
  /* Nothing queued: nothing to swap, the new message stays the caller's. */
  acto__msg *n = new_msg(0, 9);
  ck_assert_ptr_null(acto__mailbox_swap_oldest(&mb, n));
  acto__msg_free(n);
}
END_TEST

START_TEST(mailbox_parked_list_is_fifo_and_removable) {
  acto__mailbox mb;
  acto__mailbox_init(&mb, 1, 1 << 20, ACTO_OVERFLOW_BLOCK);
  acto__msg *m[4];
  acto__spin_lock(&mb.park_lock);
  for (uint32_t i = 0; i < 4; i++) {
    m[i] = new_msg(0, i);
    acto__mailbox_park_append(&mb, m[i]);
  }
  ck_assert_int_eq(atomic_load(&mb.has_parked), 1);
  ck_assert_int_eq(acto__mailbox_park_remove(&mb, m[2]), 1);
  ck_assert_int_eq(acto__mailbox_park_remove(&mb, m[2]), 0);
  ck_assert_int_eq(acto__mailbox_park_remove(&mb, m[3]), 1); /* the tail */
  ck_assert_ptr_eq(acto__mailbox_park_peek(&mb), m[0]);
  acto__mailbox_park_take(&mb);
  ck_assert_ptr_eq(acto__mailbox_park_peek(&mb), m[1]);
  acto__mailbox_park_take(&mb);
  ck_assert_ptr_null(acto__mailbox_park_peek(&mb));
  ck_assert_int_eq(atomic_load(&mb.has_parked), 0);
  acto__spin_unlock(&mb.park_lock);
  for (int i = 0; i < 4; i++)
    acto__msg_free(m[i]);
}
END_TEST

static Suite *mailbox_suite(void) {
  Suite *s = suite_create("mailbox");
  TCase *tc = tu_tcase("contention", 120);
  tu_add_tests(tc, mailbox_eight_producers_million_each_none_lost_none_duplicated_order_kept,
               mailbox_bound_never_exceeded_under_contention);
  suite_add_tcase(s, tc);
  TCase *tu = tcase_create("semantics");
  tu_add_tests(
      tu, mailbox_reserve_reports_was_empty_only_from_zero,
      mailbox_full_at_capacity_and_room_after_release,
      mailbox_full_sender_takes_over_a_handled_unreleased_slot,
      mailbox_byte_budget_refuses_and_undoes, mailbox_system_lane_never_refused_and_drained_first,
      mailbox_swap_oldest_replaces_the_oldest_queued, mailbox_parked_list_is_fifo_and_removable);
  suite_add_tcase(s, tu);
  return s;
}

int main(void) { return tu_run(mailbox_suite()); }
