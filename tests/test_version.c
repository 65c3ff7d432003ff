/* test_version.c - the library's version (actor/version.c) is the headers'
 * (acto_version.h, generated from the project() line of CMakeLists.txt). */
#include "testutil.h"

/* ACTORS.md, "Versions": a program that checks the library it runs with.
 * Returns 1 when the major and minor versions differ. */
static int version_differs(void) {
  if (acto_version() / 100 != ACTO_VERSION_NUMBER / 100) {
    fprintf(stderr, "built with acto %s, running with %s\n", ACTO_VERSION_STRING,
            acto_version_string());
    return 1;
  }
  return 0;
}

START_TEST(the_library_and_the_headers_tell_the_same_version) {
  ck_assert_int_eq(version_differs(), 0);
  ck_assert_int_eq(acto_version(), ACTO_VERSION_NUMBER);
  ck_assert_int_eq(ACTO_VERSION_NUMBER,
                   ACTO_VERSION_MAJOR * 10000 + ACTO_VERSION_MINOR * 100 + ACTO_VERSION_PATCH);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", ACTO_VERSION_MAJOR, ACTO_VERSION_MINOR,
           ACTO_VERSION_PATCH);
  ck_assert_str_eq(acto_version_string(), want);
  ck_assert_str_eq(ACTO_VERSION_STRING, want);
  /* Each part fits its two digits of the number. */
  ck_assert_int_lt(ACTO_VERSION_MINOR, 100);
  ck_assert_int_lt(ACTO_VERSION_PATCH, 100);
}
END_TEST

int main(void) {
  Suite *s = suite_create("version");
  TCase *tc = tu_tcase("version", TU_TCASE_TIMEOUT);
  tcase_add_test(tc, the_library_and_the_headers_tell_the_same_version);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
