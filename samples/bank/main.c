/* main.c - the bank sample's program: a scripted workload of random
 * transfers from client threads while a chaos thread makes accounts and
 * coordinators fail, then a check of the invariants (ACTORS.md, "The bank
 * sample"; `bank --help`).
 *
 * A client thread runs transfers one after the other: a random pair of
 * accounts, a random amount, a fresh transfer id.  It asks the transfer's
 * coordinator with a deadline and, on a timeout or a failure, asks again
 * with the same id until it gets an answer; then it appends the answer to
 * its ack log (write()) and only then counts the transfer as acknowledged.
 *
 * The chaos thread watches the number of messages handled and injects a
 * failure every --chaos messages: a BANK_CRASH to a random account (or,
 * one time in 32, a coordinator), failing either at once or right after
 * the actor's next journal append.  Every 8th injection also freezes an
 * account (or unfreezes one), so that some credits are refused and their
 * transfers compensated.
 *
 * Exit status: 0 when every invariant holds, 1 when one does not, 2 when
 * the run could not be made (bad options, data directory in use, ...).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bank.h"

typedef struct options {
  const char *dir;
  int fresh, check_only, quiet;
  int shape_set; /* --accounts, --initial or --coordinators given */
  uint64_t transfers, seed, chaos;
  uint32_t clients, accounts, coordinators, snapshot_every;
  int64_t initial, max_amount, timeout_ms;
  unsigned threads;
  int sync; /* BANK_SYNC_* */
} options;

static int main_quiet; /* --quiet: only the verdict line */
#define say(...) (main_quiet ? 0 : printf(__VA_ARGS__))

static int64_t main_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t main_rand(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* ---- clients ------------------------------------------------------------------- */

static atomic_int main_stop; /* a client hit an error: everyone stops */

typedef struct client {
  bank *b;
  const options *o;
  uint32_t id, naccounts, run;
  uint64_t n, seed;
  uint64_t acked, by_status[BANK_EBADREQ + 1], retries;
  int err;
  pthread_t th;
} client;

static int main_transient(int rc) {
  return rc == ACTO_ETIMEDOUT || rc == ACTO_EFAILED || rc == ACTO_ECLOSED || rc == ACTO_ESTALE ||
         rc == ACTO_ENOENT;
}

static void *client_main(void *arg) {
  client *c = arg;
  uint64_t rng = c->seed;
  int fd = -1;
  if ((c->err = bank_ack_open(c->b, c->id, &fd)) < 0) goto out;
  for (uint64_t i = 1; i <= c->n && !atomic_load(&main_stop); i++) {
    uint32_t from = (uint32_t)(main_rand(&rng) % c->naccounts);
    uint32_t to = (uint32_t)(main_rand(&rng) % (c->naccounts - 1));
    to += to >= from;
    int64_t amount = 1 + (int64_t)(main_rand(&rng) % (uint64_t)c->o->max_amount);
    uint64_t tid = bank_tid(c->run, c->id, i);
    int64_t start = main_now_ms();
    int rc;
    while ((rc = bank_transfer(c->b, tid, from, to, amount, c->o->timeout_ms)) < 0) {
      if (!main_transient(rc) || main_now_ms() - start > 60000 || atomic_load(&main_stop)) {
        c->err = rc;
        goto out;
      }
      c->retries++; /* the same transfer id: never applied twice */
    }
    if (rc > BANK_ECOMPENSATED) { /* EMISMATCH, EBADREQ: a bug */
      fprintf(stderr, "bank: transfer %#" PRIx64 ": %s\n", tid, bank_status_name(rc));
      c->err = ACTO_EINVAL;
      goto out;
    }
    if ((c->err = bank_ack_write(fd, tid, from, to, amount, rc)) < 0) goto out;
    c->acked++; /* only now: the acknowledgement is in the kernel */
    c->by_status[rc]++;
  }
out:
  if (c->err < 0) {
    fprintf(stderr, "bank: client %u: %s\n", c->id, acto_strerror(c->err));
    atomic_store(&main_stop, 1);
  }
  if (fd >= 0) close(fd);
  return NULL;
}

/* ---- chaos ----------------------------------------------------------------------- */

typedef struct chaos {
  bank *b;
  uint64_t rate, seed;
  uint32_t naccounts, ncoord;
  atomic_int stop;
  uint64_t accounts, coordinators, freezes; /* injected */
  uint32_t frozen[2];
  int nfrozen;
  pthread_t th;
} chaos;

static void chaos_inject(chaos *k, uint64_t *rng) {
  int mode = (int)(main_rand(rng) % 2);
  if (k->ncoord && main_rand(rng) % 32 == 0) {
    if (bank_crash(k->b, 1, (uint32_t)(main_rand(rng) % k->ncoord), mode) == 0) k->coordinators++;
  } else {
    if (bank_crash(k->b, 0, (uint32_t)(main_rand(rng) % k->naccounts), mode) == 0) k->accounts++;
  }
  if ((k->accounts + k->coordinators) % 8 != 0) return;
  if (k->nfrozen == 2) { /* thaw the older one */
    bank_freeze(k->b, k->frozen[0], 0, 2000);
    k->frozen[0] = k->frozen[1];
    k->nfrozen = 1;
  } else {
    uint32_t a = (uint32_t)(main_rand(rng) % k->naccounts);
    if (k->nfrozen == 1 && a == k->frozen[0]) return;
    bank_freeze(k->b, a, 1, 2000); /* a failure here still unfreezes at the end */
    k->frozen[k->nfrozen++] = a;
    k->freezes++;
  }
}

static uint64_t chaos_handled(bank *b) {
  acto_stats st;
  return acto_get_stats(bank_system(b), &st) == 0 ? st.messages_handled : 0;
}

static void *chaos_main(void *arg) {
  chaos *k = arg;
  uint64_t rng = k->seed, base = chaos_handled(k->b);
  while (!atomic_load(&k->stop)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    uint64_t handled = chaos_handled(k->b) - base;
    while ((k->accounts + k->coordinators + 1) * k->rate <= handled && !atomic_load(&k->stop))
      chaos_inject(k, &rng);
  }
  return NULL;
}

/* ---- the run ---------------------------------------------------------------------- */

static int main_unfreeze_all(bank *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    int rc, tries = 0;
    while ((rc = bank_freeze(b, i, 0, 5000)) < 0 && main_transient(rc) && ++tries < 100) {
    }
    if (rc != 0) return rc < 0 ? rc : ACTO_EINVAL;
  }
  return 0;
}

static void main_print_check(const bank_report *r) {
  const char *ok = "OK", *bad = "FAILED";
  say("check (all runs: %" PRIu64 " transfers, %" PRIu64 " acknowledged):\n", r->transfers,
         r->acks);
  say("  total balance %" PRId64 " == %" PRId64 " (opening balances)  %s\n", r->total,
         r->expected_total, r->total == r->expected_total ? ok : bad);
  say("  negative balances: %" PRIu64 "  %s\n", r->negative, r->negative ? bad : ok);
  say("  acknowledged transfers applied exactly once as answered: %" PRIu64 "/%" PRIu64
         "  %s\n",
         r->acks_verified, r->acks, r->acks_verified == r->acks ? ok : bad);
  say("  operations applied twice: %" PRIu64 "  %s\n", r->applied_twice,
         r->applied_twice ? bad : ok);
  say("  transfers still in flight: %" PRIu64 "  %s\n", r->inflight, r->inflight ? bad : ok);
  say("  outcomes: %" PRIu64 " committed, %" PRIu64 " insufficient funds, %" PRIu64
         " frozen, %" PRIu64 " compensated\n",
         r->committed, r->refused_funds, r->refused_frozen, r->compensated);
  if (r->acks_torn)
    say("  %" PRIu64 " acknowledgement(s) cut short by a kill (never counted)\n", r->acks_torn);
}

static int main_workload(bank *b, const bank_info *in, const options *o) {
  client *cs = calloc(o->clients, sizeof *cs);
  chaos k = {.b = b, .rate = o->chaos, .seed = o->seed ^ 0xc4a05u, .naccounts = in->accounts,
             .ncoord = in->coordinators};
  if (!cs) return ACTO_ENOMEM;
  int rc = main_unfreeze_all(b, in->accounts); /* a kill may have left some frozen */
  if (rc < 0) goto out;
  int64_t t0 = main_now_ms();
  uint32_t started = 0;
  for (uint32_t i = 0; i < o->clients; i++) {
    cs[i] = (client){.b = b, .o = o, .id = i, .naccounts = in->accounts, .run = in->run,
                     .n = o->transfers / o->clients + (i < o->transfers % o->clients),
                     .seed = o->seed * 1000003u + i};
    if (pthread_create(&cs[i].th, NULL, client_main, &cs[i]) != 0) break;
    started++;
  }
  int chaos_on = o->chaos > 0 && pthread_create(&k.th, NULL, chaos_main, &k) == 0;
  for (uint32_t i = 0; i < started; i++) pthread_join(cs[i].th, NULL);
  int64_t t1 = main_now_ms();
  atomic_store(&k.stop, 1);
  if (chaos_on) pthread_join(k.th, NULL);
  rc = started == o->clients ? 0 : ACTO_ENOMEM;

  uint64_t acked = 0, retries = 0, by[BANK_EBADREQ + 1] = {0};
  for (uint32_t i = 0; i < started; i++) {
    acked += cs[i].acked;
    retries += cs[i].retries;
    for (int s = 0; s <= BANK_EBADREQ; s++) by[s] += cs[i].by_status[s];
    if (cs[i].err < 0 && rc == 0) rc = cs[i].err;
  }
  double secs = (double)(t1 - t0) / 1000.0;
  say("  transfers: %" PRIu64 "/%" PRIu64 " acknowledged in %.2f s (%.0f/s): %" PRIu64
      " committed, %" PRIu64 " failed\n"
      "             (%" PRIu64 " insufficient funds, %" PRIu64 " frozen account, %" PRIu64
      " credit refused and compensated)\n",
      acked, o->transfers, secs, secs > 0 ? (double)acked / secs : 0.0, by[BANK_OK],
      acked - by[BANK_OK], by[BANK_EFUNDS], by[BANK_EFROZEN], by[BANK_ECOMPENSATED]);
  say("  retries: %" PRIu64 " (after a timeout or a failure; same transfer id)\n", retries);
  say("  chaos: %" PRIu64 " failures injected (%" PRIu64 " accounts, %" PRIu64
      " coordinators; half of them armed\n"
      "         to fire after the next journal append), %" PRIu64 " freezes; %" PRIu64
      " actors failed, %" PRIu64 " restarts\n",
      k.accounts + k.coordinators, k.accounts, k.coordinators, k.freezes, bank_failures(b),
      bank_restarts(b));
  int rc2 = main_unfreeze_all(b, in->accounts);
  if (rc == 0) rc = rc2;
out:
  free(cs);
  return rc;
}

/* ---- options ------------------------------------------------------------------------ */

static void main_usage(FILE *f) {
  fprintf(f,
          "usage: bank [options]\n"
          "Runs random transfers between journaled account actors while a chaos thread\n"
          "makes them fail, then checks that no money was created or lost and that every\n"
          "acknowledged transfer was applied exactly once.  State lives in the data\n"
          "directory and carries over from run to run (and across a kill -9).\n"
          "\n"
          "  -d, --data DIR        data directory (default ./bank-data; created)\n"
          "      --fresh           remove the data directory first\n"
          "      --check-only      recover from the data directory (finishing the transfers\n"
          "                        left in flight) and check the invariants; no new transfers\n"
          "  -n, --transfers N     transfers to run (default 100000)\n"
          "  -c, --clients N       client threads (default 8, at most 255)\n"
          "  -s, --seed N          seed of the workload and the chaos (default: the clock)\n"
          "  -r, --chaos N         inject a failure about every N messages handled\n"
          "                        (default 500; 0: no chaos)\n"
          "  -a, --accounts N      accounts of a new data directory (default 100)\n"
          "      --initial N       opening balance of a new account (default 1000)\n"
          "      --coordinators N  coordinators of a new data directory (default 4)\n"
          "      --max-amount N    largest transfer (default 250)\n"
          "      --timeout MS      a client's deadline before it retries (default 250)\n"
          "      --snapshot-every N  account snapshot every N journal records (default 1000)\n"
          "      --threads N       acto worker threads (default: one per CPU)\n"
          "      --sync MODE       when a journal append reaches the disk: none (default),\n"
          "                        batch or each (see below)\n"
          "  -q, --quiet           print only the verdict line\n"
          "  -h, --help            this text\n"
          "\n"
          "Journals use ACTO_JOURNAL_SYNC_NONE by default: an acknowledged change has been\n"
          "written (write() returned), so it survives the process being killed, even by\n"
          "SIGKILL, but not a power loss or an operating-system crash.  --sync each flushes\n"
          "every append to the device (survives power loss; costs a device flush per\n"
          "append); --sync batch flushes in groups (a power loss may lose the last few\n"
          "milliseconds).  Snapshots are always flushed.\n"
          "Exit status: 0 invariants hold, 1 an invariant failed, 2 the run failed.\n");
}

static int main_num(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int main_options(int argc, char **argv, options *o) {
  enum { O_FRESH = 256, O_CHECK, O_INITIAL, O_COORD, O_MAXAMT, O_TIMEOUT, O_SNAP, O_THREADS,
         O_SYNC };
  static const struct option lo[] = {
      {"data", 1, 0, 'd'},          {"fresh", 0, 0, O_FRESH},
      {"check-only", 0, 0, O_CHECK}, {"transfers", 1, 0, 'n'},
      {"clients", 1, 0, 'c'},       {"seed", 1, 0, 's'},
      {"chaos", 1, 0, 'r'},         {"accounts", 1, 0, 'a'},
      {"initial", 1, 0, O_INITIAL}, {"coordinators", 1, 0, O_COORD},
      {"max-amount", 1, 0, O_MAXAMT}, {"timeout", 1, 0, O_TIMEOUT},
      {"snapshot-every", 1, 0, O_SNAP}, {"threads", 1, 0, O_THREADS},
      {"sync", 1, 0, O_SYNC},       {"quiet", 0, 0, 'q'},
      {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
  *o = (options){.dir = "./bank-data", .transfers = 100000, .clients = 8, .chaos = 500,
                 .accounts = 100, .initial = 1000, .coordinators = 4, .max_amount = 250,
                 .timeout_ms = 250, .snapshot_every = 1000,
                 .seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20)};
  int ch;
  uint64_t v;
  while ((ch = getopt_long(argc, argv, "d:n:c:s:r:a:qh", lo, NULL)) != -1) {
    int bad = 0;
    switch (ch) {
    case 'd': o->dir = optarg; break;
    case O_FRESH: o->fresh = 1; break;
    case O_CHECK: o->check_only = 1; break;
    case 'q': o->quiet = 1; break;
    case 'n': bad = main_num(optarg, 0, UINT64_C(1) << 39, &o->transfers); break;
    case 's': bad = main_num(optarg, 0, UINT64_MAX, &o->seed); break;
    case 'r': bad = main_num(optarg, 0, UINT64_MAX / 4, &o->chaos); break;
    case 'c': bad = main_num(optarg, 1, BANK_CLIENT_MAX, &v); o->clients = (uint32_t)v; break;
    case 'a':
      o->shape_set = 1;
      bad = main_num(optarg, 2, 1000000, &v);
      o->accounts = (uint32_t)v;
      break;
    case O_INITIAL:
      o->shape_set = 1;
      bad = main_num(optarg, 0, INT64_MAX / 2000000, &v);
      o->initial = (int64_t)v;
      break;
    case O_COORD:
      o->shape_set = 1;
      bad = main_num(optarg, 1, 64, &v);
      o->coordinators = (uint32_t)v;
      break;
    case O_MAXAMT: bad = main_num(optarg, 1, 1000000000, &v); o->max_amount = (int64_t)v; break;
    case O_TIMEOUT: bad = main_num(optarg, 1, 3600000, &v); o->timeout_ms = (int64_t)v; break;
    case O_SNAP: bad = main_num(optarg, 1, 100000000, &v); o->snapshot_every = (uint32_t)v; break;
    case O_THREADS: bad = main_num(optarg, 0, 1024, &v); o->threads = (unsigned)v; break;
    case O_SYNC:
      if (!strcmp(optarg, "none")) o->sync = BANK_SYNC_NONE;
      else if (!strcmp(optarg, "batch")) o->sync = BANK_SYNC_BATCH;
      else if (!strcmp(optarg, "each")) o->sync = BANK_SYNC_EACH;
      else bad = 1;
      break;
    case 'h': main_usage(stdout); exit(0);
    default: main_usage(stderr); return -1;
    }
    if (bad) {
      fprintf(stderr, "bank: bad value \"%s\" (see --help)\n", optarg);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "bank: unexpected argument %s\n", argv[optind]);
    return -1;
  }
  if (o->check_only && o->fresh) {
    fprintf(stderr, "bank: --check-only and --fresh exclude each other\n");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  options o;
  bank *b;
  bank_info in;
  bank_report rep;
  if (main_options(argc, argv, &o) < 0) return 2;
  main_quiet = o.quiet;
  bank_opts bo = {.dir = o.dir, .fresh = o.fresh, .new_run = !o.check_only,
                  .existing = o.check_only,
                  .accounts = o.accounts, .initial = o.initial, .coordinators = o.coordinators,
                  .acct_snapshot_every = o.snapshot_every, .threads = o.threads,
                  .sync = o.sync};
  int rc = bank_open(&bo, &b, &in);
  if (rc < 0) {
    fprintf(stderr, "bank: cannot open %s: %s%s\n", o.dir, acto_strerror(rc),
            rc == ACTO_ECHILD    ? " (is another bank running on it?)"
            : rc == ACTO_ENOENT ? " (no bank data there)"
                                : "");
    return 2;
  }
  if (!in.created && o.shape_set)
    fprintf(stderr, "bank: note: %s keeps its %u accounts, %u coordinators, opening balance %"
            PRId64 " (--fresh starts over)\n", o.dir, in.accounts, in.coordinators, in.initial);
  bank_coord_status st;
  int64_t t0 = main_now_ms();
  say("bank: %s %s: %u accounts, %u coordinators, opening balance %" PRId64 "\n", o.dir,
      in.created ? "created" : "reopened", in.accounts, in.coordinators, in.initial);
  if (bank_status(b, 30000, &st) == 0 && st.recovered)
    say("  recovery: %" PRIu64 " transfer(s) left in flight by the last run resumed\n",
           st.recovered);
  if (!o.check_only) {
    say("bank: run %u: %" PRIu64 " transfers from %u clients, seed %" PRIu64
           ", chaos: a failure every %" PRIu64 " messages\n",
           in.run, o.transfers, o.clients, o.seed, o.chaos);
    rc = main_workload(b, &in, &o);
  }
  int crc = rc < 0 ? rc : bank_check(b, 60000, &rep);
  if (crc == 0) main_print_check(&rep);
  say("elapsed %.2f s\n", (double)(main_now_ms() - t0) / 1000.0);
  if (crc == 0) printf("invariants %s\n", rep.ok ? "OK" : "FAILED");
  fflush(stdout);
  int close_rc = bank_close(b);
  if (rc < 0 || crc < 0 || close_rc < 0) {
    fprintf(stderr, "bank: run failed: %s\n",
            acto_strerror(rc < 0 ? rc : crc < 0 ? crc : close_rc));
    return 2;
  }
  return rep.ok ? 0 : 1;
}
