/* test_bank.c - the bank sample (samples/bank, ACTORS.md "The bank
 * sample"): its scripted run keeps every invariant under chaos; a run
 * killed by SIGKILL at different points recovers with `bank --check-only`
 * and loses or duplicates nothing that was acknowledged; and, through the
 * actors directly, the properties the workload relies on: insufficient
 * funds is an error reply, a retried id is applied once, a refused credit
 * is compensated, and a failure right after a journal append - of an
 * account, a coordinator, or the whole process - applies nothing twice;
 * and messages that do not fit (the wrong size, a request sent without
 * ask, an answer that is no answer) change nothing and fail nobody.
 *
 * The program tests run the `bank` binary that the same build made, found
 * next to this test's own executable (or at $ACTO_BANK), as a child
 * process with a data directory under one temporary base directory, which
 * main() creates and removes.  The unit tests compile the sample's actor
 * and client code into this test (everything but its main.c) and drive it
 * in-process.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* The sample, minus its main(). */
#include "../samples/bank/idmap.c"
#include "../samples/bank/account.c"
#include "../samples/bank/coordinator.c"
#include "../samples/bank/bank.c"
#include "../samples/bank/check.c"

static char g_base[128];      /* the temporary base directory */
static char g_bank[PATH_MAX + 8]; /* the bank program */
static uint64_t g_seed;

/* ---- directories ------------------------------------------------------------------ */

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A fresh directory for one test: base/<name>.XXXXXX (the data dir goes inside). */
static void test_dir(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s.XXXXXX", g_base, name);
  ck_assert_ptr_nonnull(mkdtemp(out));
}

/* Acknowledgements logged so far: whole records in <data>/acks. */
static uint64_t acks_logged(const char *data) {
  char dir[PATH_MAX], path[PATH_MAX + 300];
  snprintf(dir, sizeof dir, "%s/acks", data);
  DIR *d = opendir(dir);
  uint64_t n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] != '.' && stat(path, &st) == 0) n += (uint64_t)st.st_size / sizeof(bank_ack);
  }
  if (d) closedir(d);
  return n;
}

/* ---- running the bank program ------------------------------------------------------ */

static void find_bank(void) { tu_find_program(g_bank, sizeof g_bank, "ACTO_BANK", "bank"); }

/* Starts `bank args...` with stdout and stderr to `out`. */
static pid_t prog_start(const char *out, const char *const *args) {
  ck_assert_msg(access(g_bank, X_OK) == 0,
                "%s is missing: build the bank target (cmake --build <dir> --target bank)",
                g_bank);
  char *argv[TU_ARGV_MAX];
  tu_argv(argv, g_bank, args);
  pid_t pid = tu_fork();
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
    execv(g_bank, argv);
    _exit(127);
  }
  return pid;
}

static int prog_reap(pid_t pid, long timeout_ms) { return tu_reap(pid, timeout_ms, "bank"); }

/* A sanitizer's report in a child's output fails the test (a killed child
 * cannot report through its exit status). */
static void assert_no_report(const char *text) {
  ck_assert_msg(!strstr(text, "Sanitizer") && !strstr(text, "runtime error"),
                "a sanitizer reported:\n%s", text);
}

/* Runs bank to completion; returns its output, asserts its exit code. */
static const char *prog_run(const char *out, const char *const *args, int want_exit) {
  pid_t pid = prog_start(out, args);
  int st = prog_reap(pid, 12 * TU_WAIT_MS);
  const char *text = tu_read_text(out);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == want_exit,
                "bank exited with status %#x (want exit %d); output:\n%s", st, want_exit, text);
  assert_no_report(text);
  return text;
}

/* The "applied exactly once as answered: X/Y" line of a check. */
static void parse_verified(const char *text, uint64_t *x, uint64_t *y) {
  const char *p = strstr(text, "applied exactly once as answered: ");
  ck_assert_msg(p, "no exactly-once line in:\n%s", text);
  unsigned long long a, b;
  ck_assert_int_eq(sscanf(p, "applied exactly once as answered: %llu/%llu", &a, &b), 2);
  *x = a, *y = b;
}

/* ---- the scripted run ------------------------------------------------------------- */

START_TEST(a_scripted_run_with_chaos_keeps_every_invariant) {
  char dir[256], data[300], out[300], n[32], seed[32];
  test_dir(dir, sizeof dir, "run");
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(out, sizeof out, "%s/out.txt", dir);
  uint64_t transfers = TU_N(5000, 5000, 2000);
  snprintf(n, sizeof n, "%" PRIu64, transfers);
  snprintf(seed, sizeof seed, "%" PRIu64, g_seed);
  const char *args[] = {"--data", data, "--fresh", "--accounts", "20", "--transfers", n,
                        "--clients", "4", "--seed", seed, "--chaos", "300",
                        "--snapshot-every", "50", NULL};
  const char *text = prog_run(out, args, 0);
  ck_assert_msg(strstr(text, "invariants OK"), "%s", text);
  uint64_t x, y;
  parse_verified(text, &x, &y);
  ck_assert_uint_eq(y, transfers);
  ck_assert_uint_eq(x, transfers);
  ck_assert_uint_eq(acks_logged(data), transfers);
  char want[64];
  snprintf(want, sizeof want, "transfers: %" PRIu64 "/%" PRIu64 " acknowledged", transfers,
           transfers);
  ck_assert_msg(strstr(text, want), "%s", text);
  ck_assert_msg(!strstr(text, "chaos: 0 failures"), "no failure was injected:\n%s", text);

  /* Recovering the same directory finds the same state. */
  const char *again[] = {"--data", data, "--check-only", NULL};
  text = prog_run(out, again, 0);
  ck_assert_msg(strstr(text, "invariants OK"), "%s", text);
  parse_verified(text, &x, &y);
  ck_assert_uint_eq(y, transfers);
  ck_assert_uint_eq(x, transfers);
  rm_tree(dir);
}
END_TEST

START_TEST(a_run_killed_by_sigkill_recovers_every_acknowledged_transfer_exactly_once) {
  char dir[256], data[300], out[300], seed[32];
  test_dir(dir, sizeof dir, "kill");
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(out, sizeof out, "%s/out.txt", dir);
  uint64_t rng = g_seed | 1;
  const int rounds = TU_N(5, 4, 3);
  uint64_t killed_mid_run = 0, recovered = 0;
  for (int round = 0; round < rounds; round++) {
    uint64_t base = acks_logged(data);
    /* Kill points from "just started" to "well into the run". */
    uint64_t span = round == 0 ? 1 : TU_N(4000, 2000, 1000);
    uint64_t kill_at = base + 1 + (round == 0 ? 0 : (rng = rng * 6364136223846793005u + 1) % span);
    snprintf(seed, sizeof seed, "%" PRIu64, g_seed + (uint64_t)round);
    const char *args[] = {"--data", data, round == 0 ? "--fresh" : "--quiet",
                          "--accounts", "20", "--transfers", "1000000", "--clients", "4",
                          "--seed", seed, "--chaos", "300", "--snapshot-every", "50",
                          "--quiet", NULL};
    pid_t pid = prog_start(out, args);
    int64_t end = tu_now_ms() + 6 * TU_WAIT_MS;
    int st = 0, done = 0;
    while (acks_logged(data) < kill_at && tu_now_ms() < end) {
      if (waitpid(pid, &st, WNOHANG) == pid) {
        done = 1;
        break;
      }
      tu_sleep_ms(1);
    }
    ck_assert_msg(!done, "bank stopped before it was killed (status %#x):\n%s", st,
                  tu_read_text(out));
    ck_assert_msg(acks_logged(data) >= kill_at, "no progress to %" PRIu64 " acks:\n%s", kill_at,
                  tu_read_text(out));
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    st = prog_reap(pid, TU_WAIT_MS);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
    killed_mid_run++;
    assert_no_report(tu_read_text(out));
    uint64_t logged = acks_logged(data); /* every ack the dead process reported */

    const char *check[] = {"--data", data, "--check-only", NULL};
    const char *text = prog_run(out, check, 0);
    ck_assert_msg(strstr(text, "invariants OK"), "round %d:\n%s", round, text);
    uint64_t x, y;
    parse_verified(text, &x, &y);
    ck_assert_msg(y == logged && x == y, "round %d: %" PRIu64 "/%" PRIu64 " verified, %" PRIu64
                  " logged:\n%s", round, x, y, logged, text);
    const char *rec = strstr(text, "recovery: ");
    if (rec) recovered += strtoull(rec + strlen("recovery: "), NULL, 10);
  }
  fprintf(stderr, "test_bank: sigkill: %d rounds, %" PRIu64 " killed mid-run, %" PRIu64
          " transfers found in flight and completed by recovery\n",
          rounds, killed_mid_run, recovered);
  rm_tree(dir);
}
END_TEST

/* ---- through the actors ------------------------------------------------------------ */

/* The deadline of the tests' requests to the bank: none of them expects a
 * timeout, and an answer may need journal writes and, after an injected
 * failure, a restart and a retry by a coordinator (its own ask timeout is
 * 1 s): the long wait, scaled like every deadline. */
#define T_MS (TU_WAIT_MS)

typedef struct fx {
  char dir[256], data[300];
  bank *b;
} fx;

static void fx_open(fx *f, const char *name, uint32_t accounts, uint32_t coordinators) {
  test_dir(f->dir, sizeof f->dir, name);
  snprintf(f->data, sizeof f->data, "%s/data", f->dir);
  bank_opts o = {.dir = f->data, .new_run = 1, .accounts = accounts, .initial = 100,
                 .coordinators = coordinators, .threads = 2};
  bank_info in;
  ck_assert_ok(bank_open(&o, &f->b, &in));
  ck_assert_int_eq(in.created, 1);
  ck_assert_uint_eq(in.accounts, accounts);
}

static void fx_reopen(fx *f) {
  bank_opts o = {.dir = f->data, .new_run = 1, .threads = 2};
  bank_info in;
  ck_assert_ok(bank_open(&o, &f->b, &in));
  ck_assert_int_eq(in.created, 0);
}

static int64_t balance_of(fx *f, uint32_t i) {
  int64_t v = -1;
  ck_assert_rc(bank_balance(f->b, i, T_MS, &v), BANK_OK);
  return v;
}

/* The invariants hold; returns the report. */
static bank_report fx_check(fx *f) {
  bank_report r;
  ck_assert_ok(bank_check(f->b, T_MS, &r));
  ck_assert_msg(r.ok, "%" PRIu64 " problem(s) (see stderr)", r.problems);
  ck_assert_int_eq(r.total, r.expected_total);
  return r;
}

static void fx_done(fx *f) {
  ck_assert_ok(bank_close(f->b));
  rm_tree(f->dir);
}

static uint64_t direct_op(uint64_t n) { return bank_op(bank_tid(0, 1, n), BANK_LEG_DIRECT); }

/* bank_failures counts a failure when the crash hook runs; the restart
 * follows.  Waits for the supervisor to report n restarts. */
static int restarts_reached(void *arg) {
  void **a = arg;
  return bank_restarts(a[0]) >= (uint64_t)(uintptr_t)a[1];
}
static void wait_restarts(bank *b, uint64_t n) {
  void *arg[2] = {b, (void *)(uintptr_t)n};
  ck_assert_msg(tu_wait_until(restarts_reached, arg, TU_WAIT_MS), "restarts %" PRIu64 " < %" PRIu64,
                bank_restarts(b), n);
}

START_TEST(insufficient_funds_is_an_error_reply_and_the_account_carries_on) {
  fx f;
  fx_open(&f, "funds", 3, 1);
  bank_result r;
  ck_assert_rc(bank_withdraw(f.b, 0, direct_op(1), 150, T_MS, &r), BANK_EFUNDS);
  ck_assert_int_eq(r.balance, 100);
  ck_assert_int_eq(r.dup, 0);
  ck_assert_rc(bank_withdraw(f.b, 0, direct_op(2), 40, T_MS, &r), BANK_OK);
  ck_assert_int_eq(r.balance, 60);
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 1), 0, 1, 61, T_MS), BANK_EFUNDS);
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 2), 0, 1, 60, T_MS), BANK_OK);
  ck_assert_int_eq(balance_of(&f, 0), 0);
  ck_assert_int_eq(balance_of(&f, 1), 160);
  ck_assert_uint_eq(bank_failures(f.b), 0); /* a refusal is not a failure */
  ck_assert_uint_eq(bank_restarts(f.b), 0);
  /* Bad requests are refused too, without failing anyone. */
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 3), 0, 0, 1, T_MS), BANK_EBADREQ);
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 4), 0, 3, 1, T_MS), BANK_EBADREQ);
  ck_assert_rc(bank_deposit(f.b, 0, direct_op(3), -5, T_MS, NULL), BANK_EBADREQ);
  bank_report rep = fx_check(&f);
  ck_assert_uint_eq(rep.committed, 1);
  ck_assert_uint_eq(rep.refused_funds, 1);
  ck_assert_int_eq(rep.total, 260);
  fx_done(&f);
}
END_TEST

START_TEST(a_retried_operation_or_transfer_id_is_applied_once) {
  fx f;
  fx_open(&f, "retry", 3, 2);
  bank_result r;
  ck_assert_rc(bank_deposit(f.b, 0, direct_op(1), 10, T_MS, &r), BANK_OK);
  ck_assert_int_eq(r.dup, 0);
  ck_assert_rc(bank_deposit(f.b, 0, direct_op(1), 10, T_MS, &r), BANK_OK);
  ck_assert_int_eq(r.dup, 1);
  ck_assert_int_eq(r.balance, 110);
  ck_assert_rc(bank_deposit(f.b, 0, direct_op(1), 11, T_MS, &r), BANK_EMISMATCH);
  uint64_t t = bank_tid(1, 0, 1);
  for (int i = 0; i < 3; i++) ck_assert_rc(bank_transfer(f.b, t, 0, 1, 30, T_MS), BANK_OK);
  ck_assert_rc(bank_transfer(f.b, t, 0, 1, 31, T_MS), BANK_EMISMATCH);
  ck_assert_rc(bank_transfer(f.b, t, 0, 2, 30, T_MS), BANK_EMISMATCH);
  ck_assert_int_eq(balance_of(&f, 0), 80);
  ck_assert_int_eq(balance_of(&f, 1), 130);
  /* A refused transfer's outcome sticks too, even once funds arrive. */
  uint64_t u = bank_tid(1, 0, 2);
  ck_assert_rc(bank_transfer(f.b, u, 2, 0, 500, T_MS), BANK_EFUNDS);
  ck_assert_rc(bank_deposit(f.b, 2, direct_op(2), 1000, T_MS, NULL), BANK_OK);
  ck_assert_rc(bank_transfer(f.b, u, 2, 0, 500, T_MS), BANK_EFUNDS);
  ck_assert_int_eq(balance_of(&f, 2), 1100);
  bank_report rep = fx_check(&f);
  ck_assert_uint_eq(rep.transfers, 2);
  ck_assert_int_eq(rep.total, 1310);
  fx_done(&f);
}
END_TEST

START_TEST(a_transfer_whose_credit_is_refused_is_compensated) {
  fx f;
  fx_open(&f, "comp", 3, 1);
  ck_assert_rc(bank_freeze(f.b, 1, 1, T_MS), BANK_OK);
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 1), 0, 1, 25, T_MS), BANK_ECOMPENSATED);
  ck_assert_int_eq(balance_of(&f, 0), 100);
  ck_assert_int_eq(balance_of(&f, 1), 100);
  /* Account 0 shows the debit and its refund, in that order. */
  acto_reply_buf rb;
  ck_assert_ok(bank_dump_account(f.b, 0, T_MS, &rb));
  bank_acct_dump h;
  memcpy(&h, rb.data, sizeof h);
  ck_assert_uint_eq(h.nops, 3); /* opening, debit, refund */
  bank_entry e[3];
  memcpy(e, (char *)rb.data + sizeof h, sizeof e);
  acto_reply_release(&rb);
  ck_assert_uint_eq(e[1].op, bank_op(bank_tid(1, 0, 1), BANK_LEG_DEBIT));
  ck_assert_int_eq(e[1].amount, -25);
  ck_assert_uint_eq(e[2].op, bank_op(bank_tid(1, 0, 1), BANK_LEG_REFUND));
  ck_assert_int_eq(e[2].amount, 25);
  /* A frozen account refuses a debit: nothing moves. */
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 2), 1, 0, 25, T_MS), BANK_EFROZEN);
  ck_assert_rc(bank_freeze(f.b, 1, 0, T_MS), BANK_OK);
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 3), 0, 1, 25, T_MS), BANK_OK);
  /* The compensated transfer's answer does not change after the thaw. */
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 1), 0, 1, 25, T_MS), BANK_ECOMPENSATED);
  ck_assert_int_eq(balance_of(&f, 1), 125);
  bank_report rep = fx_check(&f);
  ck_assert_uint_eq(rep.compensated, 1);
  ck_assert_uint_eq(rep.refused_frozen, 1);
  ck_assert_uint_eq(rep.committed, 1);
  fx_done(&f);
}
END_TEST

START_TEST(an_account_failing_after_its_journal_append_applies_the_retry_once) {
  fx f;
  fx_open(&f, "acrash", 3, 1);
  bank_result r;
  /* Armed: the next change is journaled, then the handler fails before
   * answering, and the supervisor restarts the account in place. */
  ck_assert_ok(bank_crash(f.b, 0, 0, BANK_CRASH_AFTER_APPEND));
  ck_assert_rc(bank_withdraw(f.b, 0, direct_op(1), 30, T_MS, &r), ACTO_EFAILED);
  wait_restarts(f.b, 1);
  ck_assert_rc(bank_withdraw(f.b, 0, direct_op(1), 30, T_MS, &r), BANK_OK);
  ck_assert_int_eq(r.dup, 1); /* replayed from the journal, not applied again */
  ck_assert_int_eq(r.balance, 70);
  /* The same through a transfer: the debit leg is retried by the coordinator. */
  ck_assert_ok(bank_crash(f.b, 0, 0, BANK_CRASH_AFTER_APPEND));
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 1), 0, 1, 20, T_MS), BANK_OK);
  wait_restarts(f.b, 2);
  ck_assert_int_eq(balance_of(&f, 0), 50);
  ck_assert_int_eq(balance_of(&f, 1), 120);
  /* And a plain crash with requests queued behind it: they are kept. */
  ck_assert_ok(bank_crash(f.b, 0, 1, BANK_CRASH_NOW));
  ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, 2), 1, 2, 20, T_MS), BANK_OK);
  wait_restarts(f.b, 3);
  ck_assert_int_eq(balance_of(&f, 1), 100);
  ck_assert_uint_eq(bank_failures(f.b), 3);
  fx_check(&f);
  fx_done(&f);
}
END_TEST

START_TEST(a_coordinator_failing_after_begin_finishes_the_transfer_after_its_restart) {
  fx f;
  fx_open(&f, "ccrash", 3, 1);
  uint64_t t = bank_tid(1, 0, 1);
  ck_assert_ok(bank_crash(f.b, 1, bank_shard(f.b, t), BANK_CRASH_AFTER_APPEND));
  /* BEGUN is journaled, then the coordinator fails before doing anything. */
  ck_assert_rc(bank_transfer(f.b, t, 0, 1, 40, T_MS), ACTO_EFAILED);
  wait_restarts(f.b, 1);
  /* Its init found the transfer unfinished and drove it on. */
  ck_assert_ok(bank_wait_idle(f.b, T_MS));
  bank_coord_status st;
  ck_assert_ok(bank_status(f.b, T_MS, &st));
  ck_assert_uint_eq(st.recovered, 1);
  ck_assert_uint_eq(st.inflight, 0);
  ck_assert_rc(bank_transfer(f.b, t, 0, 1, 40, T_MS), BANK_OK); /* the client's retry */
  ck_assert_int_eq(balance_of(&f, 0), 60);
  ck_assert_int_eq(balance_of(&f, 1), 140);
  /* A plain failure with transfers queued behind it: they are kept, and
   * handled by the restarted coordinator. */
  uint64_t u = bank_tid(1, 0, 2);
  ck_assert_ok(bank_crash(f.b, 1, bank_shard(f.b, u), BANK_CRASH_NOW));
  ck_assert_rc(bank_transfer(f.b, u, 1, 2, 40, T_MS), BANK_OK);
  wait_restarts(f.b, 2);
  /* Armed again: this time the client's retry joins the transfer that the
   * restarted coordinator is driving, or finds it done. */
  uint64_t v = bank_tid(1, 0, 3);
  ck_assert_ok(bank_crash(f.b, 1, bank_shard(f.b, v), BANK_CRASH_AFTER_APPEND));
  ck_assert_rc(bank_transfer(f.b, v, 2, 0, 10, T_MS), ACTO_EFAILED);
  ck_assert_rc(bank_transfer(f.b, v, 2, 0, 10, T_MS), BANK_OK);
  ck_assert_int_eq(balance_of(&f, 2), 130);
  bank_report rep = fx_check(&f);
  ck_assert_uint_eq(rep.committed, 3);
  fx_done(&f);
}
END_TEST

START_TEST(balances_and_answers_survive_closing_and_reopening_the_bank) {
  fx f;
  fx_open(&f, "reopen", 4, 2);
  for (uint64_t i = 1; i <= 40; i++)
    ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, i), (uint32_t)(i % 4), (uint32_t)((i + 1) % 4),
                               (int64_t)i, T_MS), BANK_OK);
  int64_t before[4];
  for (uint32_t i = 0; i < 4; i++) before[i] = balance_of(&f, i);
  ck_assert_ok(bank_close(f.b));
  fx_reopen(&f);
  ck_assert_uint_eq(bank_run(f.b), 2);
  for (uint32_t i = 0; i < 4; i++) ck_assert_int_eq(balance_of(&f, i), before[i]);
  /* A client of the previous process retrying its transfer ids. */
  for (uint64_t i = 1; i <= 40; i++)
    ck_assert_rc(bank_transfer(f.b, bank_tid(1, 0, i), (uint32_t)(i % 4), (uint32_t)((i + 1) % 4),
                               (int64_t)i, T_MS), BANK_OK);
  for (uint32_t i = 0; i < 4; i++) ck_assert_int_eq(balance_of(&f, i), before[i]);
  bank_report rep = fx_check(&f);
  ck_assert_uint_eq(rep.committed, 40);
  fx_done(&f);
}
END_TEST

/* What does not fit: payloads of the wrong size, requests sent without
 * ask, chaos that does not name a mode, unknown types. */
START_TEST(messages_that_do_not_fit_change_nothing_and_fail_nobody) {
  fx f;
  fx_open(&f, "stray", 3, 1);
  acto_system *sys = bank_system(f.b);
  acto_ref a, k;
  ck_assert_ok(bank_ref(f.b, 0, 0, 0, &a));
  ck_assert_ok(bank_ref(f.b, 1, 0, 0, &k));
  uint32_t small = 1, mode = 7;
  uint64_t big[4] = {direct_op(1), 10, 0, 0};
  bank_result res = {direct_op(1), BANK_OK, 0, 1000};
  bank_transfer_req t = {bank_tid(1, 0, 1), 0, 1, 30};
  /* To an account. */
  ck_assert_ok(acto_send(sys, a, BANK_DEPOSIT, NULL, 0));
  ck_assert_ok(acto_send(sys, a, BANK_WITHDRAW, &small, sizeof small));
  ck_assert_ok(acto_send(sys, a, BANK_REFUND, big, sizeof big));
  ck_assert_ok(acto_send(sys, a, BANK_FREEZE, NULL, 0));
  ck_assert_ok(acto_send(sys, a, BANK_CRASH, NULL, 0));
  ck_assert_ok(acto_send(sys, a, BANK_CRASH, &mode, sizeof mode));
  ck_assert_ok(acto_send(sys, a, BANK_BALANCE, NULL, 0));
  ck_assert_ok(acto_send(sys, a, BANK_DUMP, NULL, 0));
  ck_assert_ok(acto_send(sys, a, BANK_R_OK, &res, sizeof res));
  ck_assert_ok(acto_send(sys, a, 999, NULL, 0));
  /* To the coordinator, and a whole transfer sent without ask. */
  ck_assert_ok(acto_send(sys, k, BANK_TRANSFER, &t, sizeof t));
  ck_assert_ok(acto_send(sys, k, BANK_TRANSFER, &small, sizeof small));
  ck_assert_ok(acto_send(sys, k, BANK_RETRY, NULL, 0));
  ck_assert_ok(acto_send(sys, k, BANK_STATUS, NULL, 0));
  ck_assert_ok(acto_send(sys, k, BANK_COORD_DUMP, NULL, 0));
  ck_assert_ok(acto_send(sys, k, BANK_CRASH, NULL, 0));
  ck_assert_ok(acto_send(sys, k, BANK_CRASH, &mode, sizeof mode));
  ck_assert_ok(acto_send(sys, k, BANK_R_ERR, &res, sizeof res));
  ck_assert_ok(acto_send(sys, k, 999, NULL, 0));
  /* Asked, what does not fit is a bad request (and these asks, behind the
   * sends above, see their effects). */
  ck_assert_rc(bank_call(f.b, 0, 0, BANK_DEPOSIT, &small, sizeof small, T_MS, NULL),
               BANK_EBADREQ);
  ck_assert_rc(bank_call(f.b, 0, 0, 999, NULL, 0, T_MS, NULL), BANK_EBADREQ);
  ck_assert_rc(bank_call(f.b, 1, 0, BANK_TRANSFER, &small, sizeof small, T_MS, NULL),
               BANK_EBADREQ);
  ck_assert_rc(bank_call(f.b, 1, 0, 999, NULL, 0, T_MS, NULL), BANK_EBADREQ);
  /* Nobody failed, nothing moved, nothing was begun. */
  ck_assert_uint_eq(bank_failures(f.b), 0);
  ck_assert_int_eq(balance_of(&f, 0), 100);
  ck_assert_ok(bank_wait_idle(f.b, T_MS));
  bank_coord_status st;
  ck_assert_ok(bank_status(f.b, T_MS, &st));
  ck_assert_uint_eq(st.transfers, 0);
  /* Asked, the transfer that was sent without ask runs, once. */
  ck_assert_rc(bank_transfer(f.b, t.tid, 0, 1, 30, T_MS), BANK_OK);
  ck_assert_int_eq(balance_of(&f, 0), 70);
  ck_assert_uint_eq(bank_failures(f.b), 0);
  bank_report rep = fx_check(&f);
  ck_assert_uint_eq(rep.committed, 1);
  fx_done(&f);
}
END_TEST

/* A stand-in account that answers a leg twice with something that is no
 * answer (an empty BANK_R_OK, then a bank_result of another type) before
 * it answers properly. */
static int odd_account_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  int *n = state;
  bank_op_req q;
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST) || m->size != sizeof q) return 0;
  memcpy(&q, m->data, sizeof q);
  bank_result r = {q.op, BANK_OK, 0, 0};
  switch ((*n)++ % 3) {
  case 0: return acto_reply(ctx, BANK_R_OK, NULL, 0);
  case 1: return acto_reply(ctx, 999, &r, sizeof r);
  default: return acto_reply(ctx, BANK_R_OK, &r, sizeof r);
  }
}
static const acto_behaviour odd_account = {
    .name = "odd_account", .state_size = sizeof(int), .handle = odd_account_handle};

START_TEST(an_account_answer_that_does_not_fit_sends_the_leg_again) {
  char dir[256];
  test_dir(dir, sizeof dir, "oddacct");
  acto_system *sys = tu_system(2);
  acto_ref r;
  for (uint32_t i = 0; i < 2; i++) {
    char name[64];
    bank_acct_name(name, sizeof name, i);
    acto_spawn_opts so = {.name = name};
    ck_assert_ok(acto_spawn(sys, &odd_account, NULL, &so, &r));
  }
  /* The coordinator's own ask deadline is far beyond the test's (T_MS). */
  bank_coord_arg ca = {.index = 0, .naccounts = 2, .snapshot_every = 100,
                       .sync = ACTO_JOURNAL_SYNC_NONE, .ask_timeout_ms = 360 * T_MS};
  snprintf(ca.dir, sizeof ca.dir, "%s/coord-0", dir);
  acto_ref k;
  ck_assert_ok(acto_spawn(sys, &bank_coordinator_behaviour, &ca, NULL, &k));
  /* Each leg is sent three times; the asks' own deadline is far away, so
   * only the coordinator's retry can finish the transfer in time. */
  bank_transfer_req t = {bank_tid(1, 0, 1), 0, 1, 30};
  acto_reply_buf rb;
  ck_assert_ok(acto_ask(sys, k, BANK_TRANSFER, &t, sizeof t, T_MS, &rb));
  bank_result res;
  ck_assert_uint_eq(rb.size, sizeof res);
  memcpy(&res, rb.data, sizeof res);
  acto_reply_release(&rb);
  ck_assert_int_eq(res.status, BANK_OK);
  ck_assert_uint_eq(tu_stats(sys).actors_failed, 0);
  tu_shutdown(sys);
  rm_tree(dir);
}
END_TEST

START_TEST(an_account_or_a_coordinator_without_a_valid_argument_fails_its_init) {
  acto_system *sys = tu_system(1);
  acto_ref r;
  bank_acct_arg aa;
  bank_coord_arg ca;
  memset(&aa, 'x', sizeof aa); /* a directory name without its NUL */
  memset(&ca, 'x', sizeof ca);
  ck_assert_rc(acto_spawn(sys, &bank_account_behaviour, NULL, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &bank_account_behaviour, &aa, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &bank_coordinator_behaviour, NULL, NULL, &r), ACTO_EINIT);
  ck_assert_rc(acto_spawn(sys, &bank_coordinator_behaviour, &ca, NULL, &r), ACTO_EINIT);
  tu_shutdown(sys);
}
END_TEST

/* A process that dies right after a coordinator journaled BEGUN (or right
 * after it finished: the race is part of the test) leaves a transfer that
 * the next process completes exactly once. */
START_TEST(a_process_killed_with_a_transfer_in_flight_completes_it_on_recovery) {
  char dir[256], data[300];
  test_dir(dir, sizeof dir, "inflight");
  snprintf(data, sizeof data, "%s/data", dir);
  int rounds = TU_N(6, 3, 3), found_in_flight = 0;
  for (int round = 0; round < rounds; round++) {
    uint64_t t = bank_tid((uint32_t)round + 1, 0, 1);
    pid_t pid = tu_fork();
    if (pid == 0) { /* the doomed process */
      bank *b;
      bank_opts o = {.dir = data, .new_run = 1, .accounts = 3, .initial = 100,
                     .coordinators = 1, .threads = 2};
      if (bank_open(&o, &b, NULL) != 0) _exit(3);
      if (bank_crash(b, 1, 0, BANK_CRASH_AFTER_APPEND) != 0) _exit(4);
      int rc = bank_transfer(b, t, 0, 1, 10, T_MS);
      if (round % 2) tu_sleep_ms(round); /* sometimes let recovery start */
      raise(SIGKILL);
      _exit(rc == ACTO_EFAILED ? 5 : 6);
    }
    int st = prog_reap(pid, TU_WAIT_MS);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);

    bank *b;
    bank_opts o = {.dir = data, .new_run = 1, .threads = 2};
    ck_assert_ok(bank_open(&o, &b, NULL));
    bank_coord_status cs;
    ck_assert_ok(bank_status(b, T_MS, &cs));
    found_in_flight += cs.recovered > 0;
    ck_assert_ok(bank_wait_idle(b, T_MS));
    ck_assert_rc(bank_transfer(b, t, 0, 1, 10, T_MS), BANK_OK); /* retried: applied once */
    int64_t v;
    ck_assert_rc(bank_balance(b, 0, T_MS, &v), BANK_OK);
    ck_assert_int_eq(v, 100 - 10 * (round + 1));
    bank_report r;
    ck_assert_ok(bank_check(b, T_MS, &r));
    ck_assert_msg(r.ok, "%" PRIu64 " problem(s)", r.problems);
    ck_assert_uint_eq(r.committed, (uint64_t)round + 1);
    ck_assert_ok(bank_close(b));
  }
  fprintf(stderr, "test_bank: in-flight: %d of %d kills left the transfer in flight\n",
          found_in_flight, rounds);
  rm_tree(dir);
}
END_TEST

int main(void) {
  const char *seed = getenv("ACTO_TEST_SEED");
  g_seed = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
  fprintf(stderr, "test_bank: seed %" PRIu64 " (ACTO_TEST_SEED repeats it)\n", g_seed);
  find_bank();
  snprintf(g_base, sizeof g_base, "/tmp/acto_bank_test.XXXXXX");
  if (!mkdtemp(g_base)) {
    perror("mkdtemp");
    return 1;
  }
  Suite *s = suite_create("bank");
  TCase *tc = tu_tcase("actors", TU_TCASE_TIMEOUT);
  tu_add_tests(tc, insufficient_funds_is_an_error_reply_and_the_account_carries_on,
               a_retried_operation_or_transfer_id_is_applied_once,
               a_transfer_whose_credit_is_refused_is_compensated,
               an_account_failing_after_its_journal_append_applies_the_retry_once,
               a_coordinator_failing_after_begin_finishes_the_transfer_after_its_restart,
               balances_and_answers_survive_closing_and_reopening_the_bank,
               a_process_killed_with_a_transfer_in_flight_completes_it_on_recovery,
               messages_that_do_not_fit_change_nothing_and_fail_nobody,
               an_account_answer_that_does_not_fit_sends_the_leg_again,
               an_account_or_a_coordinator_without_a_valid_argument_fails_its_init);
  suite_add_tcase(s, tc);

  tc = tu_tcase("program", 120);
  tu_add_tests(tc, a_scripted_run_with_chaos_keeps_every_invariant,
               a_run_killed_by_sigkill_recovers_every_acknowledged_transfer_exactly_once);
  suite_add_tcase(s, tc);
  int rc = tu_run(s);
  rm_tree(g_base);
  return rc;
}
