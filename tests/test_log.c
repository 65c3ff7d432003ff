/* test_log.c - the library's log lines (actor/log.c): the hook, levels,
 * folding of repeats, the rate limit, and a default sink that never blocks
 * a library thread, not even with stderr a pipe nobody reads. */
#include <fcntl.h>
#include <netinet/in.h>

#include "actor/log.h"
#include "tests/nodeclient.h"
#include "testutil.h"

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* ---- a hook that keeps every line ----------------------------------------------- */

#define MAX_LINES 4096
typedef struct captured {
  pthread_mutex_t mtx;
  int n;
  acto_log_level level[MAX_LINES];
  char component[MAX_LINES][32];
  char text[MAX_LINES][ACTO_LOG_LINE_MAX + 1];
} captured;

static captured cap;

static void cap_hook(void *user, acto_log_level level, const char *component, const char *text) {
  captured *c = user;
  pthread_mutex_lock(&c->mtx);
  if (c->n < MAX_LINES) {
    c->level[c->n] = level;
    snprintf(c->component[c->n], sizeof c->component[0], "%s", component);
    snprintf(c->text[c->n], sizeof c->text[0], "%s", text);
    c->n++;
  }
  pthread_mutex_unlock(&c->mtx);
}

static int cap_count(void) {
  pthread_mutex_lock(&cap.mtx);
  int n = cap.n;
  pthread_mutex_unlock(&cap.mtx);
  return n;
}

typedef struct find_arg {
  const char *component, *needle;
} find_arg;

/* The index of the first line of `component` whose text contains needle,
 * or -1. */
static int cap_find(const char *component, const char *needle) {
  pthread_mutex_lock(&cap.mtx);
  int at = -1;
  for (int i = 0; i < cap.n && at < 0; i++)
    if (strcmp(cap.component[i], component) == 0 && strstr(cap.text[i], needle))
      at = i;
  pthread_mutex_unlock(&cap.mtx);
  return at;
}

static int pred_found(void *p) {
  find_arg *f = p;
  return cap_find(f->component, f->needle) >= 0;
}

static void setup(void) {
  tu_setup();
  memset(&cap, 0, sizeof cap);
  pthread_mutex_init(&cap.mtx, NULL);
}

static acto_system *node_sys(const char *name) {
  acto_system *s = tu_system(2);
  acto_node_config nc = {0};
  nc.name = name;
  nc.key = KEY;
  nc.key_len = sizeof KEY;
  ck_assert_ok(acto_node_start(s, &nc));
  return s;
}

/* Opens a connection that sends a frame longer than the pre-auth cap: the
 * node refuses it and closes the connection. */
static void bad_connection(uint16_t port) {
  int fd = nc_connect_fd(port);
  ck_assert_int_ge(fd, 0);
  static const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  nc_send_all(fd, huge, sizeof huge);
  char b;
  while (recv(fd, &b, 1, 0) > 0)
    ;
  close(fd);
}

/* ---- the hook and levels ---------------------------------------------------------- */

START_TEST(a_refused_connection_reaches_the_hook_with_its_address_and_reason) {
  acto_system *s = node_sys("alpha");
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_INFO));
  ck_assert_ok(acto_set_log_hook(s, cap_hook, &cap));
  uint16_t port;
  ck_assert_ok(acto_node_port(s, &port));
  bad_connection(port);
  find_arg f = {"node", "alpha: closed connection from 127.0.0.1:"};
  ck_assert_msg(tu_wait_until(pred_found, &f, TU_WAIT_MS), "no line about the refused connection");
  int i = cap_find("node", "closed connection from");
  ck_assert_int_eq(cap.level[i], ACTO_LOG_WARN);
  ck_assert_ptr_nonnull(strstr(cap.text[i], "(unauthenticated)"));
  ck_assert_ptr_nonnull(strstr(cap.text[i], "frame"));
  tu_shutdown(s);
}
END_TEST

START_TEST(lines_less_severe_than_the_level_are_not_produced) {
  acto_system *s = tu_system(1);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, &cap));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_WARN));
  ck_assert_int_eq(acto__log_on(s, ACTO_LOG_INFO), 0);
  ck_assert_int_eq(acto__log_on(s, ACTO_LOG_WARN), 1);
  acto__log(s, ACTO_LOG_INFO, "test", "info %d", 1);
  acto__log(s, ACTO_LOG_DEBUG, "test", "debug %d", 2);
  acto__log(s, ACTO_LOG_WARN, "test", "warn %d", 3);
  acto__log(s, ACTO_LOG_ERROR, "test", "error %d", 4);
  ck_assert_int_eq(cap_count(), 2);
  ck_assert_str_eq(cap.text[0], "warn 3");
  ck_assert_int_eq(cap.level[0], ACTO_LOG_WARN);
  ck_assert_str_eq(cap.component[0], "test");
  ck_assert_str_eq(cap.text[1], "error 4");
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_OFF));
  acto__log(s, ACTO_LOG_ERROR, "test", "error %d", 5);
  ck_assert_int_eq(cap_count(), 2);
  tu_shutdown(s);
}
END_TEST

START_TEST(bad_arguments_are_refused) {
  acto_system *s = tu_system(1);
  ck_assert_rc(acto_set_log_hook(NULL, cap_hook, &cap), ACTO_EINVAL);
  ck_assert_rc(acto_set_log_level(NULL, ACTO_LOG_INFO), ACTO_EINVAL);
  ck_assert_rc(acto_set_log_level(s, (acto_log_level)-2), ACTO_EINVAL);
  ck_assert_rc(acto_set_log_level(s, (acto_log_level)4), ACTO_EINVAL);
  ck_assert_ok(acto_set_log_hook(s, NULL, NULL)); /* back to the default */
  tu_shutdown(s);
}
END_TEST

START_TEST(a_line_is_one_printable_line_cut_at_the_maximum) {
  acto_system *s = tu_system(1);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, &cap));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_DEBUG));
  acto__log(s, ACTO_LOG_INFO, "test", "peer %s said hi", "evil\nacto node x: forged\r");
  ck_assert_int_eq(cap_count(), 1);
  ck_assert_str_eq(cap.text[0], "peer evil?acto node x: forged? said hi");
  char big[1000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  acto__log(s, ACTO_LOG_INFO, "test", "%s", big);
  ck_assert_int_eq(cap_count(), 2);
  ck_assert_uint_eq(strlen(cap.text[1]), ACTO_LOG_LINE_MAX);
  tu_shutdown(s);
}
END_TEST

/* ---- floods ----------------------------------------------------------------------- */

START_TEST(repeated_lines_are_folded_into_a_count) {
  acto_system *s = tu_system(1);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, &cap));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_INFO));
  for (int i = 0; i < 10; i++)
    acto__log(s, ACTO_LOG_WARN, "test", "the same line");
  ck_assert_int_eq(cap_count(), 1);
  acto__log(s, ACTO_LOG_WARN, "test", "another line");
  ck_assert_int_eq(cap_count(), 3);
  ck_assert_str_eq(cap.text[0], "the same line");
  ck_assert_str_eq(cap.text[1], "last line repeated 9 more time(s)");
  ck_assert_str_eq(cap.component[1], "test");
  ck_assert_str_eq(cap.text[2], "another line");
  tu_shutdown(s);
}
END_TEST

/* The token bucket holds 100 lines and refills at 50 a second, whatever
 * the timing: a flood of 1000 distinct lines gets at least the burst
 * through and at most the burst plus what refilled while it ran; every
 * other line is counted and reported by the next line that gets through
 * (a one-line summary just before it).  If the flood takes longer than a
 * refill (20 ms: a sanitizer build, a loaded machine), lines get through
 * in the middle of it too, each after a summary of those cut before it:
 * so the summaries are added up, not just the first one read. */
START_TEST(a_flood_is_cut_to_the_rate_and_the_rest_is_counted) {
  acto_system *s = tu_system(1);
  ck_assert_ok(acto_set_log_hook(s, cap_hook, &cap));
  ck_assert_ok(acto_set_log_level(s, ACTO_LOG_INFO));
  int64_t t0 = tu_now_ms();
  for (int i = 0; i < 1000; i++)
    acto__log(s, ACTO_LOG_WARN, "test", "line %d", i);
  int64_t spent = tu_now_ms() - t0;
  /* Once tokens are back, the next line says how many were cut. */
  tu_sleep_ms(100);
  acto__log(s, ACTO_LOG_WARN, "test", "after the flood");
  int n = cap_count();
  ck_assert_str_eq(cap.text[n - 1], "after the flood");
  long passed = 0, cut = 0, last = -1;
  int summaries = 0;
  for (int i = 0; i < n - 1; i++) {
    if (strcmp(cap.component[i], "log") == 0) {
      ck_assert_ptr_nonnull(strstr(cap.text[i], "line(s) suppressed"));
      cut += (long)strtoul(cap.text[i], NULL, 10);
      summaries++;
      /* a summary comes with the line that got through after the cut */
      ck_assert_str_eq(cap.component[i + 1], "test");
      continue;
    }
    ck_assert_str_eq(cap.component[i], "test");
    long v = -1;
    ck_assert_int_eq(sscanf(cap.text[i], "line %ld", &v), 1);
    ck_assert_int_gt(v, last); /* in order, each once */
    last = v;
    passed++;
  }
  ck_assert_int_ge(passed, 100);
  ck_assert_int_le(passed, 100 + 50 * (spent / 1000 + 1));
  ck_assert_int_eq(passed + cut, 1000); /* nothing disappears */
  if (passed < 1000) /* always, unless the flood took 18 s */
    ck_assert_int_ge(summaries, 1);
  /* The lines cut after the last one that got through are reported just
   * before "after the flood". */
  if (last != 999)
    ck_assert_str_eq(cap.component[n - 2], "log");
  tu_shutdown(s);
}
END_TEST

/* The node's I/O thread must not wait for stderr: with stderr a full pipe
 * nobody reads, hundreds of refused connections each produce a line, and
 * the node still connects to another node at once. */
START_TEST(a_stderr_nobody_reads_does_not_stall_the_node) {
  acto_system *a = node_sys("alpha");
  acto_system *b = node_sys("beta");
  ck_assert_ok(acto_set_log_hook(a, NULL, NULL)); /* the default sink */
  ck_assert_ok(acto_set_log_level(a, ACTO_LOG_INFO));
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  /* Fill the pipe, then make it blocking again, as stderr would be. */
  int fl = fcntl(p[1], F_GETFL);
  fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
  char junk[4096];
  memset(junk, '.', sizeof junk);
  while (write(p[1], junk, sizeof junk) > 0)
    ;
  fcntl(p[1], F_SETFL, fl);
  int saved = dup(2);
  ck_assert_int_eq(dup2(p[1], 2), 2);
  uint16_t pa, pb;
  ck_assert_ok(acto_node_port(a, &pa));
  ck_assert_ok(acto_node_port(b, &pb));
  for (int i = 0; i < TU_N(300, 150, 100); i++)
    bad_connection(pa);
  ck_assert_ok(acto_node_connect(a, "beta", "127.0.0.1", pb, TU_WAIT_MS));
  acto_node_stats st;
  ck_assert_ok(acto_node_get_stats(a, &st));
  ck_assert_uint_ge(st.bad_frames, (uint64_t)TU_N(300, 150, 100));
  tu_shutdown(a);
  tu_shutdown(b);
  dup2(saved, 2);
  close(saved);
  close(p[0]);
  close(p[1]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("log");
  TCase *tc = tu_tcase("log", 60);
  tcase_add_checked_fixture(tc, setup, tu_teardown);
  tu_add_tests(tc, a_refused_connection_reaches_the_hook_with_its_address_and_reason,
               lines_less_severe_than_the_level_are_not_produced, bad_arguments_are_refused,
               a_line_is_one_printable_line_cut_at_the_maximum,
               repeated_lines_are_folded_into_a_count,
               a_flood_is_cut_to_the_rate_and_the_rest_is_counted,
               a_stderr_nobody_reads_does_not_stall_the_node);
  suite_add_tcase(s, tc);
  return tu_run(s);
}
