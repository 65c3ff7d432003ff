/* check.c - the clients' acknowledgement logs and the bank's invariants.
 *
 * An acknowledgement is the client's side of exactly-once: a client
 * appends a record (transfer id, accounts, amount, the answer) to its own
 * log with one write() before it counts the transfer as acknowledged, so
 * after a SIGKILL the logs hold at least every transfer the process
 * reported as done.  A kill in the middle of that write() can leave a short
 * record at the end of a log: it was never acknowledged, and it is skipped.
 *
 * The check reads what the actors hold - every account's applied
 * operations and balance, every coordinator's transfers - and the ack
 * logs, and cross-checks them (bank.h, bank_check).  It trusts nothing it
 * can recompute: balances are re-summed from the operations, duplicates
 * are looked for rather than assumed away.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank.h"

#define CHECK_TIMEOUT_MS 30000

static uint32_t check_fnv(const void *p, size_t n) {
  const unsigned char *s = p;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
  return h;
}

int bank_ack_open(bank *b, uint32_t client, int *fd) {
  char path[BANK_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/acks/r%05u-c%03u.log", bank_dir(b), bank_run(b), client);
  *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  return *fd < 0 ? ACTO_EIO : 0;
}

int bank_ack_write(int fd, uint64_t tid, uint32_t from, uint32_t to, int64_t amount,
                   int32_t status) {
  bank_ack a = {tid, from, to, amount, status, 0};
  a.check = check_fnv(&a, offsetof(bank_ack, check));
  ssize_t n;
  while ((n = write(fd, &a, sizeof a)) < 0 && errno == EINTR) {
  }
  return n == (ssize_t)sizeof a ? 0 : ACTO_EIO;
}

/* ---- the check ----------------------------------------------------------------- */

typedef struct checker {
  bank_report *r;
  bank_xfer *x; /* every transfer of every coordinator */
  size_t nx;
  bank_map xi;   /* tid -> index in x */
  uint8_t *legs; /* per transfer: the legs found in the accounts (1 << leg) */
  uint8_t *bad;  /* per transfer: a problem was reported */
  bank_map acked;
} checker;

static void check_problem(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check_problem(checker *c, const char *fmt, ...) {
  if (c->r->problems++ < 20) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bank: check: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
  } else if (c->r->problems == 21) {
    fprintf(stderr, "bank: check: (more problems not shown)\n");
  }
}

static int check_coordinators(bank *b, checker *c, uint32_t ncoord) {
  for (uint32_t k = 0; k < ncoord; k++) {
    acto_reply_buf rb;
    int rc = bank_dump_coordinator(b, k, CHECK_TIMEOUT_MS, &rb);
    if (rc < 0) return rc;
    size_t n = rb.size / sizeof(bank_xfer);
    bank_xfer *x = realloc(c->x, (c->nx + n + 1) * sizeof *x);
    if (!x) {
      acto_reply_release(&rb);
      return ACTO_ENOMEM;
    }
    c->x = x;
    if (n) memcpy(c->x + c->nx, rb.data, n * sizeof *x);
    acto_reply_release(&rb);
    for (size_t i = c->nx; i < c->nx + n; i++) {
      rc = bank_map_put(&c->xi, c->x[i].tid, i);
      if (rc < 0) return rc;
      if (rc == 1)
        check_problem(c, "transfer %#" PRIx64 " is known to two coordinators", c->x[i].tid);
    }
    c->nx += n;
  }
  c->legs = calloc(c->nx + 1, 1);
  c->bad = calloc(c->nx + 1, 1);
  return c->legs && c->bad ? 0 : ACTO_ENOMEM;
}

/* One account: its operations against the transfers. */
static int check_account(bank *b, checker *c, uint32_t i) {
  bank_report *r = c->r;
  acto_reply_buf rb;
  bank_acct_dump h;
  int rc = bank_dump_account(b, i, CHECK_TIMEOUT_MS, &rb);
  if (rc < 0) return rc;
  if (rb.size < sizeof h) {
    acto_reply_release(&rb);
    return ACTO_EINVAL;
  }
  memcpy(&h, rb.data, sizeof h);
  if (h.nops != (rb.size - sizeof h) / sizeof(bank_entry)) {
    acto_reply_release(&rb);
    return ACTO_EINVAL;
  }
  bank_map seen = {0};
  int64_t sum = 0;
  for (uint64_t n = 0; n < h.nops; n++) {
    bank_entry e;
    memcpy(&e, (const unsigned char *)rb.data + sizeof h + n * sizeof e, sizeof e);
    sum += e.amount;
    uint64_t tid = bank_op_tid(e.op), idx;
    unsigned leg = bank_op_leg(e.op);
    int known = leg != BANK_LEG_DIRECT && bank_map_get(&c->xi, tid, &idx);
    if ((rc = bank_map_put(&seen, e.op, n)) < 0) break;
    if (rc == 1) { /* the same operation id twice in one account */
      r->applied_twice++;
      if (known) c->bad[idx] = 1;
      check_problem(c, "account %u applied operation %#" PRIx64 " twice", i, e.op);
      continue;
    }
    rc = 0;
    if (leg == BANK_LEG_DIRECT) { /* an opening deposit, or a direct operation */
      r->expected_total += e.amount;
      continue;
    }
    if (!known) {
      check_problem(c, "account %u applied leg %u of transfer %#" PRIx64
                       " which no coordinator knows", i, leg, tid);
      continue;
    }
    const bank_xfer *x = &c->x[idx];
    uint32_t want_acct = leg == BANK_LEG_CREDIT ? x->to : x->from;
    int64_t want_amount = leg == BANK_LEG_DEBIT ? -x->amount : x->amount;
    if (i != want_acct || e.amount != want_amount) {
      c->bad[idx] = 1;
      check_problem(c, "account %u applied %" PRId64 " as leg %u of transfer %#" PRIx64
                       " (%u -> %u, %" PRId64 ")",
                    i, e.amount, leg, tid, x->from, x->to, x->amount);
    }
    if (c->legs[idx] & (1u << leg)) { /* the same leg in two accounts */
      c->bad[idx] = 1;
      r->applied_twice++;
      check_problem(c, "leg %u of transfer %#" PRIx64 " applied twice", leg, tid);
    }
    c->legs[idx] |= (uint8_t)(1u << leg);
  }
  bank_map_free(&seen);
  acto_reply_release(&rb);
  if (rc < 0) return rc;
  if (sum != h.balance)
    check_problem(c, "account %u: balance %" PRId64 " but its operations sum to %" PRId64, i,
                  h.balance, sum);
  if (h.balance < 0) {
    r->negative++;
    check_problem(c, "account %u: negative balance %" PRId64, i, h.balance);
  }
  r->total += h.balance;
  return 0;
}

/* Each transfer is final and its legs match its outcome. */
static void check_transfers(checker *c) {
  bank_report *r = c->r;
  const uint8_t D = 1u << BANK_LEG_DEBIT, C = 1u << BANK_LEG_CREDIT, R = 1u << BANK_LEG_REFUND;
  for (size_t i = 0; i < c->nx; i++) {
    const bank_xfer *x = &c->x[i];
    uint8_t want = 0;
    switch (x->state) {
    case BANK_X_COMMITTED: r->committed++, want = D | C; break;
    case BANK_X_REFUSED_FUNDS: r->refused_funds++; break;
    case BANK_X_REFUSED_FROZEN: r->refused_frozen++; break;
    case BANK_X_COMPENSATED: r->compensated++, want = D | R; break;
    default:
      r->inflight++;
      c->bad[i] = 1;
      check_problem(c, "transfer %#" PRIx64 " is still in flight (state %u)", x->tid, x->state);
      continue;
    }
    if (c->legs[i] != want) {
      c->bad[i] = 1;
      check_problem(c, "transfer %#" PRIx64 " is %s but its applied legs are {%s%s%s}", x->tid,
                    bank_status_name(bank_xfer_status(x->state)), c->legs[i] & D ? " debit" : "",
                    c->legs[i] & C ? " credit" : "", c->legs[i] & R ? " refund" : "");
    }
  }
}

static int check_ack_file(checker *c, const char *path) {
  bank_report *r = c->r;
  FILE *f = fopen(path, "rb");
  if (!f) return ACTO_EIO;
  bank_ack a;
  size_t got;
  while ((got = fread(&a, 1, sizeof a, f)) == sizeof a) {
    uint64_t idx;
    r->acks++;
    if (a.check != check_fnv(&a, offsetof(bank_ack, check))) {
      check_problem(c, "%s: a corrupt acknowledgement", path);
      continue;
    }
    if (bank_map_put(&c->acked, a.tid, 1) == 1) {
      check_problem(c, "transfer %#" PRIx64 " acknowledged twice", a.tid);
      continue;
    }
    if (!bank_map_get(&c->xi, a.tid, &idx)) {
      check_problem(c, "acknowledged transfer %#" PRIx64 " is unknown to the coordinators", a.tid);
      continue;
    }
    const bank_xfer *x = &c->x[idx];
    if (x->from != a.from || x->to != a.to || x->amount != a.amount) {
      check_problem(c, "acknowledged transfer %#" PRIx64 " differs from the coordinator's", a.tid);
      continue;
    }
    if (bank_xfer_status(x->state) != a.status) {
      check_problem(c, "transfer %#" PRIx64 " was answered \"%s\" but is \"%s\"", a.tid,
                    bank_status_name(a.status), bank_status_name(bank_xfer_status(x->state)));
      continue;
    }
    if (!c->bad[idx]) r->acks_verified++;
  }
  int err = ferror(f);
  fclose(f);
  if (got > 0) r->acks_torn++; /* a write cut short by a kill: never acknowledged */
  return err ? ACTO_EIO : 0;
}

static int check_acks(bank *b, checker *c) {
  char dir[BANK_PATH_MAX + 16], path[BANK_PATH_MAX + 300];
  snprintf(dir, sizeof dir, "%s/acks", bank_dir(b));
  DIR *d = opendir(dir);
  if (!d) return ACTO_EIO;
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 5 || strcmp(e->d_name + n - 4, ".log") != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    rc = check_ack_file(c, path);
  }
  closedir(d);
  return rc;
}

int bank_check(bank *b, int64_t timeout_ms, bank_report *r) {
  checker c = {.r = r};
  memset(r, 0, sizeof *r);
  int rc = bank_wait_idle(b, timeout_ms); /* then in-flight ones are reported below */
  if (rc < 0 && rc != ACTO_ETIMEDOUT) return rc;
  if ((rc = check_coordinators(b, &c, bank_coordinators(b))) < 0) goto out;
  r->transfers = c.nx;
  for (uint32_t i = 0; i < bank_accounts(b); i++)
    if ((rc = check_account(b, &c, i)) < 0) goto out;
  r->accounts = bank_accounts(b);
  check_transfers(&c);
  if ((rc = check_acks(b, &c)) < 0) goto out;
  if (r->total != r->expected_total)
    check_problem(&c, "total balance %" PRId64 ", expected %" PRId64, r->total, r->expected_total);
  r->ok = r->problems == 0;
out:
  free(c.x);
  free(c.legs);
  free(c.bad);
  bank_map_free(&c.xi);
  bank_map_free(&c.acked);
  return rc;
}
