/* account.c - an account actor: a balance, a frozen flag and the list of
 * operations it applied, rebuilt from its journal in init.
 *
 * DESIGN
 * Journal, then state, then reply: a deposit, withdrawal or refund is
 * appended to the journal (SYNC_NONE: write() has returned, so it survives
 * a SIGKILL of the process, not a power cut) before the balance changes
 * and before the answer is sent.  Each operation carries an id; the
 * account keeps every id it applied (a map to its entry) in its state and
 * its snapshots, so a repeated id - a retry by the coordinator or a client
 * after a timeout, a failure or a restart - is answered with the first
 * answer and changes nothing.  Refusals (insufficient funds, frozen) are
 * error replies, not failures, and are not journaled: nothing changed, and
 * a later retry is judged afresh.
 *
 * Restart.  When the actor fails (chaos: BANK_CRASH), its supervisor runs
 * terminate (which closes the journal), zeroes the state and runs init
 * again: init reopens the journal and replays the snapshot and the records
 * after it.  The same happens when the process starts again after a kill.
 * Messages queued meanwhile stay in the mailbox and are handled by the new
 * incarnation; the message whose handler failed is not retried (an ask for
 * it fails with ACTO_EFAILED, and the asker retries with the same id).
 *
 * Replay is faithful: it applies what the journal says, even an id twice
 * (which the live path never writes), so that check.c can see such a bug
 * instead of the account hiding it.
 *
 * What does not fit.  Every payload's size is checked before it is read.
 * A request that does not fit (the wrong size, an amount <= 0, an unknown
 * type) is answered BANK_EBADREQ and changes nothing; the same sent
 * without ask is ignored.  Answers go only to requests
 * (ACTO_MSG_FLAG_REQUEST): an operation or a freeze sent without ask is
 * applied and journaled like an asked one, only not answered.  A
 * BANK_CRASH that is not a uint32_t mode the account knows is ignored:
 * only chaos that means it fails the account.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank.h"

enum { ACCT_REC_OP = 1, ACCT_REC_FREEZE = 2 };
#define ACCT_SNAP_MAGIC 0x54434341u /* "ACCT" */

/* A journal record. */
typedef struct acct_rec {
  uint32_t kind;   /* ACCT_REC_* */
  uint32_t frozen; /* FREEZE: the new flag */
  uint64_t op;     /* OP: the operation id */
  int64_t amount;  /* OP: signed */
} acct_rec;

/* A snapshot: this header, then nops bank_entry. */
typedef struct acct_snap {
  uint32_t magic;
  uint32_t frozen;
  int64_t balance;
  uint64_t nops;
} acct_snap;

typedef struct acct_state {
  acto_journal *j;
  uint32_t index;
  uint32_t frozen;
  int64_t balance;
  bank_entry *ops; /* every applied operation, in journal order */
  size_t nops, cap;
  bank_map seen;   /* op id -> its first index in ops */
  int armed;       /* BANK_CRASH_AFTER_APPEND received */
  int snap_due;    /* the journal asked for a snapshot */
} acct_state;

static int acct_apply(acct_state *a, uint64_t op, int64_t amount) {
  if (a->nops == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 256;
    bank_entry *ops = realloc(a->ops, cap * sizeof *ops);
    if (!ops) return ACTO_ENOMEM;
    a->ops = ops;
    a->cap = cap;
  }
  int rc = bank_map_put(&a->seen, op, a->nops);
  if (rc < 0) return rc;
  a->ops[a->nops++] = (bank_entry){op, amount};
  a->balance += amount;
  return 0;
}

/* ---- replay --------------------------------------------------------------- */

static int acct_restore(void *user, uint64_t seq, const void *state, size_t len) {
  acct_state *a = user;
  acct_snap h;
  (void)seq;
  if (len < sizeof h) return ACTO_EINVAL;
  memcpy(&h, state, sizeof h);
  if (h.magic != ACCT_SNAP_MAGIC || h.nops != (len - sizeof h) / sizeof(bank_entry) ||
      (len - sizeof h) % sizeof(bank_entry) != 0)
    return ACTO_EINVAL;
  const unsigned char *p = (const unsigned char *)state + sizeof h;
  for (uint64_t i = 0; i < h.nops; i++) {
    bank_entry e;
    memcpy(&e, p + i * sizeof e, sizeof e);
    int rc = acct_apply(a, e.op, e.amount);
    if (rc < 0) return rc;
  }
  a->frozen = h.frozen;
  if (a->balance != h.balance) return ACTO_EINVAL; /* the snapshot contradicts itself */
  return 0;
}

static int acct_replay_record(void *user, uint64_t seq, const void *data, size_t len) {
  acct_state *a = user;
  acct_rec r;
  (void)seq;
  if (len != sizeof r) return ACTO_EINVAL;
  memcpy(&r, data, sizeof r);
  if (r.kind == ACCT_REC_OP) return acct_apply(a, r.op, r.amount);
  if (r.kind == ACCT_REC_FREEZE) {
    a->frozen = r.frozen;
    return 0;
  }
  return ACTO_EINVAL;
}

static int acct_snapshot(acct_state *a) {
  size_t len = sizeof(acct_snap) + a->nops * sizeof(bank_entry);
  unsigned char *buf = malloc(len);
  if (!buf) return ACTO_ENOMEM;
  acct_snap h = {ACCT_SNAP_MAGIC, a->frozen, a->balance, a->nops};
  memcpy(buf, &h, sizeof h);
  if (a->nops) memcpy(buf + sizeof h, a->ops, a->nops * sizeof(bank_entry));
  int rc = acto_journal_snapshot(a->j, buf, len);
  free(buf);
  if (rc == 0) a->snap_due = 0;
  return rc;
}

/* Appends a record; remembers a snapshot hint.  Negative: I/O error. */
static int acct_journal(acct_state *a, const acct_rec *r) {
  int rc = acto_journal_append(a->j, r, sizeof *r, NULL);
  if (rc == ACTO_JOURNAL_SNAPSHOT_DUE) a->snap_due = 1;
  return rc < 0 ? rc : 0;
}

static void acct_free(acct_state *a) {
  if (a->j) acto_journal_close(a->j);
  a->j = NULL;
  free(a->ops);
  a->ops = NULL;
  bank_map_free(&a->seen);
}

static int acct_init(acto_ctx *ctx, void *state, const void *arg) {
  acct_state *a = state;
  const bank_acct_arg *g = arg;
  (void)ctx;
  if (!g || !memchr(g->dir, '\0', sizeof g->dir)) return ACTO_EINVAL;
  a->index = g->index;
  acto_journal_opts o = {.sync = (acto_journal_sync_mode)g->sync,
                         .snapshot_every = g->snapshot_every};
  acto_journal_replay_info info;
  int rc = acto_journal_open(g->dir, &o, &a->j);
  if (rc < 0) return rc;
  rc = acto_journal_replay(a->j, acct_restore, acct_replay_record, a, &info);
  if (rc == 0 && info.last_seq == 0 && !info.has_snapshot) {
    /* A new account: its opening deposit is its first record. */
    acct_rec r = {ACCT_REC_OP, 0, bank_op(bank_tid(0, 0, (uint64_t)a->index + 1), BANK_LEG_DIRECT),
                  g->initial};
    rc = acct_journal(a, &r);
    if (rc == 0) rc = acct_apply(a, r.op, r.amount);
  }
  if (rc < 0) acct_free(a); /* terminate does not run when init fails */
  return rc < 0 ? rc : 0;
}

static void acct_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  acct_free(state);
}

/* ---- handling ----------------------------------------------------------------- */

/* Answers the current message if it is a request (a plain send needs none). */
static int acct_answer(acto_ctx *ctx, const acto_msg *m, const acct_state *a, uint64_t id,
                       int status, int dup) {
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST)) return 0;
  bank_result r = {id, status, (uint32_t)dup, a->balance};
  return acto_reply(ctx, status == BANK_OK ? BANK_R_OK : BANK_R_ERR, &r, sizeof r);
}

/* After a record reached the journal: a chaos failure, if armed, comes now,
 * before anyone hears of the change. */
static int acct_armed_crash(acct_state *a) {
  if (!a->armed) return 0;
  a->armed = 0;
  return BANK_CRASH_REASON;
}

/* DEPOSIT, WITHDRAW, REFUND. */
static int acct_operate(acto_ctx *ctx, acct_state *a, const acto_msg *m) {
  bank_op_req q;
  if (m->size != sizeof q) return acct_answer(ctx, m, a, 0, BANK_EBADREQ, 0);
  memcpy(&q, m->data, sizeof q);
  if (q.amount <= 0 || q.op == 0) return acct_answer(ctx, m, a, q.op, BANK_EBADREQ, 0);
  int64_t amount = m->type == BANK_WITHDRAW ? -q.amount : q.amount;
  uint64_t i;
  if (bank_map_get(&a->seen, q.op, &i)) /* a retry: the first answer again */
    return acct_answer(ctx, m, a, q.op, a->ops[i].amount == amount ? BANK_OK : BANK_EMISMATCH, 1);
  if (a->frozen && m->type != BANK_REFUND) return acct_answer(ctx, m, a, q.op, BANK_EFROZEN, 0);
  if (m->type == BANK_WITHDRAW && a->balance < q.amount)
    return acct_answer(ctx, m, a, q.op, BANK_EFUNDS, 0);
  acct_rec r = {ACCT_REC_OP, 0, q.op, amount};
  int rc = acct_journal(a, &r);         /* 1. journal */
  if (rc < 0) return rc;                /*    nothing acknowledged: fail */
  rc = acct_apply(a, q.op, amount);     /* 2. state */
  if (rc < 0) return rc;
  if ((rc = acct_armed_crash(a)) < 0) return rc;
  return acct_answer(ctx, m, a, q.op, BANK_OK, 0); /* 3. reply */
}

static int acct_dump(acto_ctx *ctx, const acto_msg *m, const acct_state *a) {
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST)) return 0; /* nobody to hand it to */
  size_t len = sizeof(bank_acct_dump) + a->nops * sizeof(bank_entry);
  unsigned char *buf = malloc(len);
  if (!buf) return acct_answer(ctx, m, a, 0, BANK_EBADREQ, 0);
  bank_acct_dump h = {a->index, a->frozen, a->balance, a->nops};
  memcpy(buf, &h, sizeof h);
  if (a->nops) memcpy(buf + sizeof h, a->ops, a->nops * sizeof(bank_entry));
  int rc = acto_reply(ctx, BANK_R_OK, buf, len);
  free(buf);
  return rc;
}

static int acct_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  acct_state *a = state;
  uint32_t u = 0;
  int rc = 0;
  switch (m->type) {
  case BANK_DEPOSIT:
  case BANK_WITHDRAW:
  case BANK_REFUND:
    rc = acct_operate(ctx, a, m);
    break;
  case BANK_BALANCE:
    rc = acct_answer(ctx, m, a, 0, BANK_OK, 0);
    break;
  case BANK_FREEZE:
    if (m->size != sizeof u) return acct_answer(ctx, m, a, 0, BANK_EBADREQ, 0);
    memcpy(&u, m->data, sizeof u);
    if ((u != 0) != (a->frozen != 0)) {
      acct_rec r = {ACCT_REC_FREEZE, u != 0, 0, 0};
      if ((rc = acct_journal(a, &r)) < 0) return rc;
      a->frozen = u != 0;
      if ((rc = acct_armed_crash(a)) < 0) return rc;
    }
    rc = acct_answer(ctx, m, a, 0, BANK_OK, 0);
    break;
  case BANK_DUMP:
    rc = acct_dump(ctx, m, a);
    break;
  case BANK_CRASH:
    if (m->size != sizeof u) return 0; /* not chaos that means it */
    memcpy(&u, m->data, sizeof u);
    if (u == BANK_CRASH_NOW) return BANK_CRASH_REASON;
    if (u == BANK_CRASH_AFTER_APPEND) a->armed = 1;
    return 0;
  default: /* not ours (a late reply, say): ignore it */
    return acct_answer(ctx, m, a, 0, BANK_EBADREQ, 0);
  }
  if (rc < 0) return rc;
  if (a->snap_due) return acct_snapshot(a); /* after the reply: off the latency path */
  return 0;
}

const acto_behaviour bank_account_behaviour = {.name = "bank.account",
                                               .state_size = sizeof(acct_state),
                                               .init = acct_init,
                                               .handle = acct_handle,
                                               .terminate = acct_terminate};

void bank_acct_name(char *buf, size_t cap, uint32_t index) {
  snprintf(buf, cap, "bank.acct.%u", index);
}
