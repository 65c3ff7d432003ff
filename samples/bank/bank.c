/* bank.c - the bank's data directory, its supervision tree and the calls a
 * plain thread makes to it.
 *
 * The data directory:
 *   bank.meta        accounts, opening balance, coordinators, runs (text;
 *                    replaced atomically: written, flushed, renamed)
 *   acct-<n>/        account n's journal
 *   coord-<k>/       coordinator k's journal
 *   acks/r<run>-c<client>.log   the clients' acknowledgements (check.c)
 *
 * The tree: a root supervisor (one-for-one) over two supervisors, started
 * in this order and stopped in the reverse one:
 *   "accounts"      one-for-one, the account actors "bank.acct.<n>"
 *   "coordinators"  one-for-one, the coordinators "bank.coord.<k>"
 * Every child is permanent and restarted at once, in place, when it fails;
 * the intensity is set high because the chaos thread makes them fail by
 * the hundred.  A transfer id belongs to one coordinator (bank_shard).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bank.h"

struct bank {
  acto_system *sys;
  acto_ref root;
  uint32_t naccounts, ncoord, run;
  int64_t initial;
  pthread_mutex_t mu;      /* guards the two ref arrays */
  acto_ref *acct, *coord; /* refreshed by name when stale */
  atomic_uint_fast64_t restarts, failures;
  char dir[BANK_PATH_MAX - 32]; /* leaves room for "/acct-<n>" in the actors' args */
};

typedef struct bank_meta {
  uint32_t accounts, coordinators, runs;
  int64_t initial;
} bank_meta;

/* ---- the data directory ------------------------------------------------------- */

static int bank_rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb, (void)type, (void)ftw;
  return remove(p);
}

/* Removes a data directory, refusing one that does not look like ours. */
static int bank_wipe(const char *dir) {
  char meta[BANK_PATH_MAX + 16];
  struct stat st;
  if (stat(dir, &st) != 0) return errno == ENOENT ? 0 : ACTO_EIO;
  snprintf(meta, sizeof meta, "%s/bank.meta", dir);
  if (access(meta, F_OK) != 0) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    while (d && (e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    if (d) closedir(d);
    if (!empty) {
      fprintf(stderr, "bank: %s is not a bank data directory (no bank.meta): not removing it\n",
              dir);
      return ACTO_EINVAL;
    }
  }
  return nftw(dir, bank_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : ACTO_EIO;
}

static int bank_meta_read(const char *dir, bank_meta *m) {
  char path[BANK_PATH_MAX + 16], key[32];
  long long v;
  snprintf(path, sizeof path, "%s/bank.meta", dir);
  FILE *f = fopen(path, "r");
  if (!f) return errno == ENOENT ? ACTO_ENOENT : ACTO_EIO;
  memset(m, 0, sizeof *m);
  int seen = 0;
  while (fscanf(f, "%31s %lld", key, &v) == 2) {
    if (!strcmp(key, "accounts")) m->accounts = (uint32_t)v, seen |= 1;
    else if (!strcmp(key, "initial")) m->initial = v, seen |= 2;
    else if (!strcmp(key, "coordinators")) m->coordinators = (uint32_t)v, seen |= 4;
    else if (!strcmp(key, "runs")) m->runs = (uint32_t)v, seen |= 8;
  }
  fclose(f);
  if (seen != 15 || m->accounts < 2 || m->coordinators < 1) {
    fprintf(stderr, "bank: %s is damaged\n", path);
    errno = EBADMSG;
    return ACTO_EIO;
  }
  return 0;
}

/* Written to a temporary file, flushed, renamed over bank.meta, and the
 * directory flushed: a crash leaves the old file or the new one. */
static int bank_meta_write(const char *dir, const bank_meta *m) {
  char path[BANK_PATH_MAX + 16], tmp[BANK_PATH_MAX + 16], text[256];
  snprintf(path, sizeof path, "%s/bank.meta", dir);
  snprintf(tmp, sizeof tmp, "%s/bank.meta.tmp", dir);
  int n = snprintf(text, sizeof text,
                   "accounts %" PRIu32 "\ninitial %" PRId64 "\ncoordinators %" PRIu32
                   "\nruns %" PRIu32 "\n",
                   m->accounts, m->initial, m->coordinators, m->runs);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ACTO_EIO;
  int ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) return ACTO_EIO;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ACTO_EIO;
  ok = fsync(dfd) == 0;
  close(dfd);
  return ok ? 0 : ACTO_EIO;
}

/* ---- the tree ------------------------------------------------------------------ */

static void bank_on_event(void *user, acto_ref sup, const char *child, acto_sup_event ev,
                          int reason) {
  bank *b = user;
  (void)sup, (void)child, (void)reason;
  if (ev == ACTO_SUP_CHILD_RESTARTED)
    atomic_fetch_add_explicit(&b->restarts, 1, memory_order_relaxed);
}

static void bank_on_crash(void *user, acto_ref actor, const char *behaviour, int reason,
                          uint32_t msg_type) {
  bank *b = user;
  (void)actor, (void)msg_type;
  atomic_fetch_add_explicit(&b->failures, 1, memory_order_relaxed);
  if (reason != BANK_CRASH_REASON) /* chaos is expected; anything else is news */
    fprintf(stderr, "bank: %s failed: %s\n", behaviour, acto_strerror(reason));
}

static int bank_start_tree(bank *b, const bank_opts *o) {
  size_t n = b->naccounts + b->ncoord;
  acto_child_spec *cs = calloc(n, sizeof *cs);
  bank_acct_arg *aa = calloc(b->naccounts, sizeof *aa);
  bank_coord_arg *ca = calloc(b->ncoord, sizeof *ca);
  char(*names)[2][64] = calloc(n, sizeof *names); /* per child: id, name */
  int rc = ACTO_ENOMEM;
  if (!cs || !aa || !ca || !names) goto out;
  for (uint32_t i = 0; i < b->naccounts; i++) {
    aa[i].index = i;
    aa[i].snapshot_every = o->acct_snapshot_every ? o->acct_snapshot_every : 1000;
    aa[i].sync = o->sync == BANK_SYNC_EACH    ? ACTO_JOURNAL_SYNC_EACH
                 : o->sync == BANK_SYNC_BATCH ? ACTO_JOURNAL_SYNC_BATCH
                                              : ACTO_JOURNAL_SYNC_NONE;
    aa[i].initial = b->initial;
    snprintf(aa[i].dir, sizeof aa[i].dir, "%s/acct-%u", b->dir, i);
    snprintf(names[i][0], sizeof names[i][0], "acct-%u", i);
    bank_acct_name(names[i][1], sizeof names[i][1], i);
    cs[i] = (acto_child_spec){.id = names[i][0], .kind = ACTO_WORKER,
                              .behaviour = &bank_account_behaviour, .arg = &aa[i],
                              .arg_size = sizeof aa[i], .restart = ACTO_PERMANENT,
                              .name = names[i][1]};
  }
  for (uint32_t k = 0; k < b->ncoord; k++) {
    size_t i = b->naccounts + k;
    ca[k].index = k;
    ca[k].naccounts = b->naccounts;
    ca[k].snapshot_every = o->coord_snapshot_every ? o->coord_snapshot_every : 20000;
    ca[k].ask_timeout_ms = o->ask_timeout_ms;
    ca[k].sync = aa[0].sync;
    snprintf(ca[k].dir, sizeof ca[k].dir, "%s/coord-%u", b->dir, k);
    snprintf(names[i][0], sizeof names[i][0], "coord-%u", k);
    bank_coord_name(names[i][1], sizeof names[i][1], k);
    cs[i] = (acto_child_spec){.id = names[i][0], .kind = ACTO_WORKER,
                              .behaviour = &bank_coordinator_behaviour, .arg = &ca[k],
                              .arg_size = sizeof ca[k], .restart = ACTO_PERMANENT,
                              .name = names[i][1]};
  }
  /* Restarts are immediate (no backoff) and nearly unlimited: chaos makes
   * hundreds a second, and each one is cheap (a journal replay). */
  acto_sup_spec accounts = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 10000,
                            .period_ms = 1000, .children = cs, .nchildren = b->naccounts,
                            .on_event = bank_on_event, .event_user = b};
  acto_sup_spec coords = accounts;
  coords.children = cs + b->naccounts;
  coords.nchildren = b->ncoord;
  acto_child_spec top[2] = {
      {.id = "accounts", .kind = ACTO_SUPERVISOR, .sup = &accounts, .restart = ACTO_PERMANENT},
      {.id = "coordinators", .kind = ACTO_SUPERVISOR, .sup = &coords, .restart = ACTO_PERMANENT}};
  acto_sup_spec root = {.strategy = ACTO_ONE_FOR_ONE, .intensity = 3, .period_ms = 5000,
                        .children = top, .nchildren = 2};
  rc = acto_supervisor_start(b->sys, &root, "bank", &b->root); /* copies the specs */
out:
  free(cs);
  free(aa);
  free(ca);
  free(names);
  return rc;
}

int bank_open(const bank_opts *o, bank **out, bank_info *info) {
  bank_meta m;
  char sub[BANK_PATH_MAX + 16];
  int rc = ACTO_EINVAL, created = 0;
  if (!o || !o->dir || !*o->dir || strlen(o->dir) >= BANK_PATH_MAX - 32 || !out) return rc;
  bank *b = calloc(1, sizeof *b);
  if (!b) return ACTO_ENOMEM;
  snprintf(b->dir, sizeof b->dir, "%s", o->dir);
  pthread_mutex_init(&b->mu, NULL);
  if (o->fresh && (rc = bank_wipe(b->dir)) < 0) goto fail;
  rc = ACTO_ENOENT;
  if (o->existing && access(b->dir, F_OK) != 0) goto fail;
  rc = ACTO_EIO;
  if (mkdir(b->dir, 0700) != 0 && errno != EEXIST) goto fail;
  snprintf(sub, sizeof sub, "%s/acks", b->dir);
  if (mkdir(sub, 0700) != 0 && errno != EEXIST) goto fail;
  rc = bank_meta_read(b->dir, &m);
  if (rc == ACTO_ENOENT && !o->existing) { /* a new bank */
    m.accounts = o->accounts ? o->accounts : 100;
    m.initial = o->initial >= 0 ? o->initial : 1000;
    m.coordinators = o->coordinators ? o->coordinators : 4;
    m.runs = 0;
    created = 1;
    rc = (m.accounts < 2 || m.coordinators > 64) ? ACTO_EINVAL : bank_meta_write(b->dir, &m);
  }
  if (rc < 0) goto fail;
  if (o->new_run) { /* durable before any transfer id of this run exists */
    rc = ACTO_ELIMIT;
    if (++m.runs > BANK_RUN_MAX || (rc = bank_meta_write(b->dir, &m)) < 0) goto fail;
  }
  b->naccounts = m.accounts;
  b->ncoord = m.coordinators;
  b->initial = m.initial;
  b->run = m.runs;
  rc = ACTO_ENOMEM;
  if (!(b->acct = calloc(b->naccounts, sizeof *b->acct))) goto fail;
  if (!(b->coord = calloc(b->ncoord, sizeof *b->coord))) goto fail;
  acto_config cfg = {.threads = o->threads};
  if ((rc = acto_system_create(&cfg, &b->sys)) < 0) goto fail;
  acto_set_crash_hook(b->sys, bank_on_crash, b);
  if ((rc = bank_start_tree(b, o)) < 0) goto fail_sys;
  if (info) *info = (bank_info){m.accounts, m.coordinators, m.runs, m.initial, created};
  *out = b;
  return 0;
fail_sys:
  acto_system_shutdown(b->sys);
fail:
  pthread_mutex_destroy(&b->mu);
  free(b->acct);
  free(b->coord);
  free(b);
  return rc;
}

int bank_close(bank *b) {
  if (!b) return ACTO_EINVAL;
  int rc = acto_supervisor_stop(b->sys, b->root, 30000);
  int rc2 = acto_system_shutdown(b->sys);
  pthread_mutex_destroy(&b->mu);
  free(b->acct);
  free(b->coord);
  free(b);
  return rc < 0 ? rc : rc2;
}

acto_system *bank_system(bank *b) { return b->sys; }
const char *bank_dir(const bank *b) { return b->dir; }
uint32_t bank_run(const bank *b) { return b->run; }
uint32_t bank_accounts(const bank *b) { return b->naccounts; }
uint32_t bank_coordinators(const bank *b) { return b->ncoord; }
uint64_t bank_restarts(bank *b) { return atomic_load_explicit(&b->restarts, memory_order_relaxed); }
uint64_t bank_failures(bank *b) { return atomic_load_explicit(&b->failures, memory_order_relaxed); }

/* ---- calls from plain threads ------------------------------------------------------ */

/* The current ref of account i (coordinator i when coord), looked up by
 * name the first time and again when it went stale.  Thread-safe. */
static int bank_ref(bank *b, int coord, uint32_t i, int refresh, acto_ref *out) {
  acto_ref *slot = coord ? &b->coord[i] : &b->acct[i];
  int rc = 0;
  pthread_mutex_lock(&b->mu);
  if (refresh || acto_ref_is_none(*slot)) {
    char name[64];
    if (coord) bank_coord_name(name, sizeof name, i);
    else bank_acct_name(name, sizeof name, i);
    rc = acto_lookup(b->sys, name, slot);
    if (rc < 0) *slot = ACTO_REF_NONE;
  }
  *out = *slot;
  pthread_mutex_unlock(&b->mu);
  return rc;
}

/* One ask; the bank_status of the answer, or a negative ACTO_E*. */
static int bank_call(bank *b, int coord, uint32_t i, uint32_t type, const void *data,
                     size_t size, int64_t timeout_ms, bank_result *out) {
  acto_reply_buf r;
  acto_ref ref;
  int rc;
  if (i >= (coord ? b->ncoord : b->naccounts)) return ACTO_EINVAL;
  for (int attempt = 0;; attempt++) { /* a stale ref is refreshed once */
    if ((rc = bank_ref(b, coord, i, attempt > 0, &ref)) < 0) return rc;
    rc = acto_ask(b->sys, ref, type, data, size, timeout_ms, &r);
    if ((rc != ACTO_ESTALE && rc != ACTO_ECLOSED) || attempt > 0) break;
  }
  if (rc < 0) return rc;
  bank_result res = {0, BANK_EBADREQ, 0, 0};
  if ((r.type == BANK_R_OK || r.type == BANK_R_ERR) && r.size == sizeof res)
    memcpy(&res, r.data, sizeof res);
  acto_reply_release(&r);
  if (out) *out = res;
  return res.status;
}

int bank_deposit(bank *b, uint32_t acct, uint64_t op, int64_t amount, int64_t timeout_ms,
                 bank_result *out) {
  bank_op_req q = {op, amount};
  return bank_call(b, 0, acct, BANK_DEPOSIT, &q, sizeof q, timeout_ms, out);
}

int bank_withdraw(bank *b, uint32_t acct, uint64_t op, int64_t amount, int64_t timeout_ms,
                  bank_result *out) {
  bank_op_req q = {op, amount};
  return bank_call(b, 0, acct, BANK_WITHDRAW, &q, sizeof q, timeout_ms, out);
}

int bank_balance(bank *b, uint32_t acct, int64_t timeout_ms, int64_t *balance) {
  bank_result r;
  int rc = bank_call(b, 0, acct, BANK_BALANCE, NULL, 0, timeout_ms, &r);
  if (rc == 0 && balance) *balance = r.balance;
  return rc;
}

int bank_freeze(bank *b, uint32_t acct, int on, int64_t timeout_ms) {
  uint32_t u = on != 0;
  return bank_call(b, 0, acct, BANK_FREEZE, &u, sizeof u, timeout_ms, NULL);
}

uint32_t bank_shard(const bank *b, uint64_t tid) {
  tid ^= tid >> 31;
  tid *= UINT64_C(0x9e3779b97f4a7c15);
  return (uint32_t)((tid >> 32) % b->ncoord);
}

int bank_transfer(bank *b, uint64_t tid, uint32_t from, uint32_t to, int64_t amount,
                  int64_t timeout_ms) {
  bank_transfer_req q = {tid, from, to, amount};
  return bank_call(b, 1, bank_shard(b, tid), BANK_TRANSFER, &q, sizeof q, timeout_ms, NULL);
}

int bank_crash(bank *b, int coordinator, uint32_t index, int mode) {
  acto_ref ref;
  uint32_t u = (uint32_t)mode;
  int rc = bank_ref(b, coordinator, index, 0, &ref);
  return rc < 0 ? rc : acto_send(b->sys, ref, BANK_CRASH, &u, sizeof u);
}

/* A request whose reply is not a bank_result. */
static int bank_fetch(bank *b, int coord, uint32_t i, uint32_t type, int64_t timeout_ms,
                      acto_reply_buf *out) {
  acto_ref ref;
  int rc;
  if (i >= (coord ? b->ncoord : b->naccounts)) return ACTO_EINVAL;
  for (int attempt = 0;; attempt++) {
    if ((rc = bank_ref(b, coord, i, attempt > 0, &ref)) < 0) return rc;
    rc = acto_ask(b->sys, ref, type, NULL, 0, timeout_ms, out);
    if ((rc != ACTO_ESTALE && rc != ACTO_ECLOSED) || attempt > 0) break;
  }
  if (rc == 0 && out->type != BANK_R_OK) {
    acto_reply_release(out);
    rc = ACTO_EINVAL;
  }
  return rc;
}

int bank_dump_account(bank *b, uint32_t acct, int64_t timeout_ms, acto_reply_buf *out) {
  return bank_fetch(b, 0, acct, BANK_DUMP, timeout_ms, out);
}

int bank_dump_coordinator(bank *b, uint32_t k, int64_t timeout_ms, acto_reply_buf *out) {
  return bank_fetch(b, 1, k, BANK_COORD_DUMP, timeout_ms, out);
}

int bank_status(bank *b, int64_t timeout_ms, bank_coord_status *out) {
  memset(out, 0, sizeof *out);
  for (uint32_t k = 0; k < b->ncoord; k++) {
    acto_reply_buf r;
    bank_coord_status s;
    int rc = bank_fetch(b, 1, k, BANK_STATUS, timeout_ms, &r);
    if (rc < 0) return rc;
    int ok = r.size == sizeof s;
    if (ok) memcpy(&s, r.data, sizeof s);
    acto_reply_release(&r);
    if (!ok) return ACTO_EINVAL;
    out->inflight += s.inflight;
    out->transfers += s.transfers;
    out->recovered += s.recovered;
  }
  return 0;
}

int bank_wait_idle(bank *b, int64_t timeout_ms) {
  int64_t end = acto_now_ms(b->sys) + timeout_ms;
  for (;;) {
    bank_coord_status s;
    int rc = bank_status(b, 1000, &s);
    /* A coordinator that is failing right now answers on the next round. */
    if (rc == 0 && s.inflight == 0) return 0;
    if (rc < 0 && rc != ACTO_EFAILED && rc != ACTO_ETIMEDOUT) return rc;
    if (acto_now_ms(b->sys) >= end) return ACTO_ETIMEDOUT;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
}
