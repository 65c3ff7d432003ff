/* account.c - a journaled actor (ACTORS.md, "Journal"): a bank account
 * that writes each deposit to its journal before applying and
 * acknowledging it, and rebuilds its balance from the journal in init.
 * Run it twice: the balance survives the restart.  A message that is not
 * a whole deposit (another type, a payload that is not one int64_t) is
 * ignored and never journaled (an ask of it gets ACTO_ENOREPLY); a deposit
 * sent without ask is journaled and applied, only not answered. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <acto/acto.h>

enum { DEPOSIT = 1 };

typedef struct account {
  acto_journal *j;
  int64_t balance;
} account;

/* Replay callbacks: the snapshot is the balance, a record is a deposit. */
static int restore(void *user, uint64_t seq, const void *state, size_t len) {
  account *a = user;
  (void)seq;
  if (len != sizeof a->balance) return ACTO_EINVAL;
  memcpy(&a->balance, state, len);
  return 0;
}

static int apply(void *user, uint64_t seq, const void *data, size_t len) {
  account *a = user;
  int64_t amount;
  (void)seq;
  if (len != sizeof amount) return ACTO_EINVAL;
  memcpy(&amount, data, len);
  a->balance += amount;
  return 0;
}

static int account_init(acto_ctx *ctx, void *state, const void *dir) {
  account *a = state;
  (void)ctx;
  acto_journal_opts o = {.sync = ACTO_JOURNAL_SYNC_NONE, .snapshot_every = 1000};
  int rc = acto_journal_open(dir, &o, &a->j);
  if (rc == 0 && (rc = acto_journal_replay(a->j, restore, apply, a, NULL)) != 0)
    acto_journal_close(a->j); /* terminate does not run when init fails */
  return rc;
}

static int account_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  account *a = state;
  if (m->type != DEPOSIT || m->size != sizeof(int64_t)) return 0; /* not a deposit: ignored */
  int rc = acto_journal_append(a->j, m->data, m->size, NULL); /* 1. journal */
  if (rc < 0) return rc; /* nothing acknowledged: the actor fails */
  apply(a, 0, m->data, m->size);                              /* 2. state */
  if (rc == ACTO_JOURNAL_SNAPSHOT_DUE &&
      (rc = acto_journal_snapshot(a->j, &a->balance, sizeof a->balance)) < 0)
    return rc;
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST)) return 0; /* sent without ask: nobody to answer */
  return acto_reply(ctx, DEPOSIT, &a->balance, sizeof a->balance); /* 3. reply */
}

static void account_terminate(acto_ctx *ctx, void *state, int reason) {
  account *a = state;
  (void)ctx, (void)reason;
  acto_journal_close(a->j);
}

static const acto_behaviour account_b = {.name = "account",
                                         .state_size = sizeof(account),
                                         .init = account_init,
                                         .handle = account_handle,
                                         .terminate = account_terminate};

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "account.journal";
  acto_system *sys;
  acto_ref acct;
  acto_reply_buf r;
  int64_t amount = 10, balance = 0;
  int rc = acto_system_create(NULL, &sys);
  if (rc < 0) { fprintf(stderr, "account: %s\n", acto_strerror(rc)); return 1; }
  rc = acto_spawn(sys, &account_b, dir, NULL, &acct);
  if (rc >= 0) rc = acto_ask(sys, acct, DEPOSIT, &amount, sizeof amount, 1000, &r);
  if (rc >= 0) { memcpy(&balance, r.data, sizeof balance); acto_reply_release(&r); }
  if (rc >= 0) printf("account: deposited %lld, balance %lld\n", (long long)amount, (long long)balance);
  else fprintf(stderr, "account: %s\n", acto_strerror(rc));
  int rc2 = acto_system_shutdown(sys);
  return rc < 0 || rc2 < 0;
}
