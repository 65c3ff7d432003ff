/* test_idmap.c - the id map of transport/idmap.h (white box): every
 * operation against a plain array kept alongside, through growth and
 * deletions that shift runs of colliding keys, including runs that wrap
 * around the end of the slot array. */
#include "testutil.h"

#include "transport/idmap.h"

enum { KEYS = 4096 };

static uintptr_t val_of(uint64_t k) { return (uintptr_t)(k * 2 + 1); }

START_TEST(random_puts_and_deletes_agree_with_a_reference) {
  acto__idmap m = {0};
  static uint8_t in[KEYS];
  memset(in, 0, sizeof in);
  uint64_t x = 88172645463325252ull;
  size_t n = 0;
  for (int step = 0; step < 200000; step++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    /* Keys 1..KEYS-1, and sometimes keys that differ only above bit 32,
     * as actor ids of one slot and many generations do. */
    uint64_t k = 1 + x % (KEYS - 1);
    int del = (x >> 40) % 3 == 0;
    if (del) {
      void *v = acto__idmap_del(&m, k);
      if (in[k]) {
        ck_assert_ptr_eq(v, (void *)val_of(k));
        in[k] = 0;
        n--;
      } else {
        ck_assert_ptr_null(v);
      }
    } else {
      ck_assert_int_eq(acto__idmap_put(&m, k, (void *)val_of(k)), 0);
      if (!in[k])
        n++;
      in[k] = 1;
    }
    ck_assert_uint_eq(m.n, n);
    if (step % 997 == 0)
      for (uint64_t j = 1; j < KEYS; j++)
        ck_assert_ptr_eq(acto__idmap_get(&m, j), in[j] ? (void *)val_of(j) : NULL);
  }
  acto__idmap_free(&m);
  ck_assert_uint_eq(m.n, 0);
  ck_assert_ptr_null(acto__idmap_get(&m, 5));
}
END_TEST

static void count_each(void *arg, uint64_t key, void *val) {
  ck_assert_ptr_eq(val, (void *)val_of(key));
  (*(size_t *)arg)++;
}

START_TEST(keys_with_equal_low_bits_and_bad_arguments) {
  acto__idmap m = {0};
  /* Same slot index, generations 1..300 in the upper half. */
  for (uint64_t g = 1; g <= 300; g++)
    ck_assert_int_eq(acto__idmap_put(&m, (g << 32) | 7, (void *)val_of((g << 32) | 7)), 0);
  size_t seen = 0;
  acto__idmap_each(&m, count_each, &seen);
  ck_assert_uint_eq(seen, 300);
  for (uint64_t g = 1; g <= 300; g += 2)
    ck_assert_ptr_nonnull(acto__idmap_del(&m, (g << 32) | 7));
  for (uint64_t g = 1; g <= 300; g++)
    ck_assert_ptr_eq(acto__idmap_get(&m, (g << 32) | 7),
                     g % 2 ? NULL : (void *)val_of((g << 32) | 7));
  ck_assert_int_eq(acto__idmap_put(&m, 0, (void *)1), ACTO_EINVAL);
  ck_assert_int_eq(acto__idmap_put(&m, 9, NULL), ACTO_EINVAL);
  ck_assert_ptr_null(acto__idmap_get(&m, 0));
  ck_assert_ptr_null(acto__idmap_del(&m, 0));
  acto__idmap_free(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("idmap");
  TCase *tc = tu_tcase("idmap", TU_TCASE_TIMEOUT);
  tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
  tu_add_tests(tc, random_puts_and_deletes_agree_with_a_reference,
               keys_with_equal_low_bits_and_bad_arguments);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
