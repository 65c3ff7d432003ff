/* coordinator.c - a transfer coordinator: moves money between two accounts
 * with a debit, a credit and, when the credit is refused, a refund.
 *
 * DESIGN
 * A transfer is a small state machine whose every decision is journaled
 * before it is acted on:
 *
 *   BEGUN --debit refused--> REFUSED_FUNDS / REFUSED_FROZEN   (final)
 *   BEGUN --debit ok, credit ok--> COMMITTED                  (final)
 *   BEGUN --debit ok, credit refused--> COMPENSATING --refund ok--> COMPENSATED
 *
 * The coordinator journals BEGUN (with from, to and amount) before the
 * debit is sent, COMPENSATING before the refund is sent, and the final
 * state before the client is answered.  Each leg goes to its account as an
 * ask (acto_ask_async, replies arriving in handle) carrying the operation
 * id bank_op(tid, leg), so sending a leg twice is harmless: the account
 * answers a repeated id without applying it again.  That makes recovery
 * simple: init replays the journal and re-drives every transfer that is
 * not final from the start of its state - BEGUN from the debit (a debit
 * already applied answers "ok" again), COMPENSATING from the refund.  The
 * refund is journaled as a decision because a credit refused once might be
 * accepted on a retry (the account was unfrozen): once COMPENSATING is
 * written, the credit is never sent again.
 *
 * Why acting on the latest answer is safe: a leg is re-sent only after the
 * previous ask for it timed out or failed, and the coordinator's messages
 * to one account are delivered in order, so every earlier copy of that leg
 * has been handled by the time the latest one is answered - if any of them
 * had been applied, the latest answer would be "ok (dup)".
 *
 * A client asks with BANK_TRANSFER and a transfer id; the coordinator
 * keeps the request (acto_reply_later) until the transfer is final.  A
 * retried id joins the transfer in flight or gets the recorded outcome.
 * When the coordinator fails and is restarted in place, the kept requests
 * go with the old state: their clients time out and ask again.  Answers
 * to the asks of the old incarnation match no ask id and are ignored.
 * Keeping every transfer ever seen is what makes any retry idempotent; a
 * real system would forget a transfer once its client confirmed the answer.
 *
 * What does not fit.  Every payload's size is checked before it is read.
 * A transfer is a request: its outcome is the answer, so a BANK_TRANSFER
 * sent without ask is ignored (nothing begun, nothing journaled), and one
 * that does not fit is answered BANK_EBADREQ; so is a request of an
 * unknown type.  BANK_STATUS and BANK_COORD_DUMP are answered only when
 * asked.  An account's answer that does not fit (another type, the wrong
 * size) is no answer: the leg is sent again, as after a failed ask.  A
 * BANK_CRASH that is not a uint32_t mode the coordinator knows is ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank.h"

enum { COORD_REC_BEGIN = 1, COORD_REC_STATE = 2 };
enum { COORD_DEBIT = 0, COORD_CREDIT = 1, COORD_REFUND = 2 };
#define COORD_SNAP_MAGIC 0x44524f43u /* "CORD" */
#define COORD_WAITERS 4
#define COORD_RETRY_MS 20

/* A journal record: BEGIN carries the transfer, STATE its new state. */
typedef struct coord_rec {
  uint32_t kind;
  uint32_t state;
  uint64_t tid;
  uint32_t from, to;
  int64_t amount;
} coord_rec;

/* A snapshot: this header, then n bank_xfer. */
typedef struct coord_snap {
  uint32_t magic;
  uint32_t reserved;
  uint64_t n;
} coord_snap;

/* A transfer in flight (not journaled: rebuilt from the states). */
typedef struct coord_flight {
  uint64_t tid;
  uint64_t ask_id; /* the ask for the current leg; 0: none outstanding */
  uint32_t phase;  /* COORD_DEBIT, COORD_CREDIT, COORD_REFUND */
  uint32_t nwait;
  acto_reply_token wait[COORD_WAITERS]; /* clients waiting for the outcome */
} coord_flight;

typedef struct coord {
  acto_journal *j;
  uint32_t index, naccounts;
  int64_t ask_timeout_ms;
  acto_ref *acct;  /* account refs, looked up by name, refreshed on ESTALE */
  bank_xfer *x;    /* every transfer this coordinator has seen */
  size_t nx, capx;
  bank_map byid;   /* tid -> index in x */
  coord_flight *fl;
  size_t nfl, capfl;
  uint64_t recovered;
  int armed, snap_due;
} coord;

/* ---- the table of transfers ------------------------------------------------- */

static int coord_add(coord *c, const bank_xfer *t) {
  if (c->nx == c->capx) {
    size_t cap = c->capx ? c->capx * 2 : 1024;
    bank_xfer *x = realloc(c->x, cap * sizeof *x);
    if (!x) return ACTO_ENOMEM;
    c->x = x;
    c->capx = cap;
  }
  int rc = bank_map_put(&c->byid, t->tid, c->nx);
  if (rc != 0) return rc < 0 ? rc : ACTO_EINVAL; /* a tid begun twice: corrupt */
  c->x[c->nx++] = *t;
  return 0;
}

static bank_xfer *coord_find(coord *c, uint64_t tid) {
  uint64_t i;
  return bank_map_get(&c->byid, tid, &i) ? &c->x[i] : NULL;
}

static coord_flight *coord_flight_new(coord *c, uint64_t tid, uint32_t phase) {
  if (c->nfl == c->capfl) {
    size_t cap = c->capfl ? c->capfl * 2 : 16;
    coord_flight *fl = realloc(c->fl, cap * sizeof *fl);
    if (!fl) return NULL;
    c->fl = fl;
    c->capfl = cap;
  }
  coord_flight *f = &c->fl[c->nfl++];
  memset(f, 0, sizeof *f);
  f->tid = tid;
  f->phase = phase;
  return f;
}

static coord_flight *coord_flight_by_tid(coord *c, uint64_t tid) {
  for (size_t i = 0; i < c->nfl; i++)
    if (c->fl[i].tid == tid) return &c->fl[i];
  return NULL;
}

static coord_flight *coord_flight_by_ask(coord *c, uint64_t ask_id) {
  if (ask_id == 0) return NULL;
  for (size_t i = 0; i < c->nfl; i++)
    if (c->fl[i].ask_id == ask_id) return &c->fl[i];
  return NULL;
}

/* ---- replay --------------------------------------------------------------- */

static int coord_restore(void *user, uint64_t seq, const void *state, size_t len) {
  coord *c = user;
  coord_snap h;
  (void)seq;
  if (len < sizeof h) return ACTO_EINVAL;
  memcpy(&h, state, sizeof h);
  if (h.magic != COORD_SNAP_MAGIC || (len - sizeof h) != h.n * sizeof(bank_xfer))
    return ACTO_EINVAL;
  for (uint64_t i = 0; i < h.n; i++) {
    bank_xfer t;
    memcpy(&t, (const unsigned char *)state + sizeof h + i * sizeof t, sizeof t);
    int rc = coord_add(c, &t);
    if (rc < 0) return rc;
  }
  return 0;
}

static int coord_replay_record(void *user, uint64_t seq, const void *data, size_t len) {
  coord *c = user;
  coord_rec r;
  (void)seq;
  if (len != sizeof r) return ACTO_EINVAL;
  memcpy(&r, data, sizeof r);
  if (r.kind == COORD_REC_BEGIN) {
    bank_xfer t = {r.tid, r.from, r.to, r.amount, BANK_X_BEGUN, 0};
    return coord_add(c, &t);
  }
  bank_xfer *t = coord_find(c, r.tid);
  if (r.kind != COORD_REC_STATE || !t) return ACTO_EINVAL;
  t->state = r.state;
  return 0;
}

static int coord_snapshot(coord *c) {
  size_t len = sizeof(coord_snap) + c->nx * sizeof(bank_xfer);
  unsigned char *buf = malloc(len);
  if (!buf) return ACTO_ENOMEM;
  coord_snap h = {COORD_SNAP_MAGIC, 0, c->nx};
  memcpy(buf, &h, sizeof h);
  if (c->nx) memcpy(buf + sizeof h, c->x, c->nx * sizeof(bank_xfer));
  int rc = acto_journal_snapshot(c->j, buf, len);
  free(buf);
  if (rc == 0) c->snap_due = 0;
  return rc;
}

/* Appends a record, then: a negative I/O error, the chaos failure if one
 * is armed (the record is durable, nothing else happened yet), or 0. */
static int coord_journal(coord *c, const coord_rec *r) {
  int rc = acto_journal_append(c->j, r, sizeof *r, NULL);
  if (rc < 0) return rc;
  if (rc == ACTO_JOURNAL_SNAPSHOT_DUE) c->snap_due = 1;
  if (c->armed) {
    c->armed = 0;
    return BANK_CRASH_REASON;
  }
  return 0;
}

static void coord_free(coord *c) {
  if (c->j) acto_journal_close(c->j);
  c->j = NULL;
  free(c->acct);
  free(c->x);
  free(c->fl);
  c->acct = NULL, c->x = NULL, c->fl = NULL;
  bank_map_free(&c->byid);
}

static int coord_init(acto_ctx *ctx, void *state, const void *arg) {
  coord *c = state;
  const bank_coord_arg *g = arg;
  if (!g || !memchr(g->dir, '\0', sizeof g->dir)) return ACTO_EINVAL;
  c->index = g->index;
  c->naccounts = g->naccounts;
  c->ask_timeout_ms = g->ask_timeout_ms > 0 ? g->ask_timeout_ms : 1000;
  acto_journal_opts o = {.sync = (acto_journal_sync_mode)g->sync,
                         .snapshot_every = g->snapshot_every};
  int rc = ACTO_ENOMEM;
  if (!(c->acct = calloc(c->naccounts ? c->naccounts : 1, sizeof *c->acct))) goto fail;
  if ((rc = acto_journal_open(g->dir, &o, &c->j)) < 0) goto fail;
  if ((rc = acto_journal_replay(c->j, coord_restore, coord_replay_record, c, NULL)) < 0)
    goto fail;
  /* Recovery: every transfer that is not final is driven on from the
   * start of its state (the legs are idempotent). */
  for (size_t i = 0; i < c->nx; i++) {
    if (bank_xfer_final(c->x[i].state)) continue;
    uint32_t phase = c->x[i].state == BANK_X_COMPENSATING ? COORD_REFUND : COORD_DEBIT;
    rc = ACTO_ENOMEM;
    if (!coord_flight_new(c, c->x[i].tid, phase)) goto fail;
    c->recovered++;
  }
  if (c->nfl > 0) { /* init cannot ask (at the first start it runs inside
                       acto_spawn, off the workers): a kick re-drives them */
    rc = acto_send(acto_ctx_system(ctx), acto_self(ctx), BANK_KICK, NULL, 0);
    if (rc < 0) goto fail;
  }
  return 0;
fail:
  coord_free(c); /* terminate does not run when init fails */
  return rc;
}

static void coord_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  coord_free(state);
}

/* ---- driving a transfer ----------------------------------------------------------- */

static acto_ref coord_account(coord *c, acto_ctx *ctx, uint32_t i) {
  if (acto_ref_is_none(c->acct[i])) {
    char name[64];
    bank_acct_name(name, sizeof name, i);
    if (acto_lookup(acto_ctx_system(ctx), name, &c->acct[i]) < 0) c->acct[i] = ACTO_REF_NONE;
  }
  return c->acct[i];
}

/* Re-drives a transfer after a pause.  If even the timer cannot be set,
 * the coordinator fails: its restart re-drives every transfer in flight. */
static int coord_retry_later(acto_ctx *ctx, uint64_t tid) {
  acto_timer t;
  return acto_send_after(acto_ctx_system(ctx), acto_self(ctx), BANK_RETRY, &tid, sizeof tid,
                         COORD_RETRY_MS, &t);
}

/* Sends the current leg of f to its account. */
static int coord_step(coord *c, acto_ctx *ctx, coord_flight *f) {
  static const uint32_t type[] = {BANK_WITHDRAW, BANK_DEPOSIT, BANK_REFUND};
  static const unsigned leg[] = {BANK_LEG_DEBIT, BANK_LEG_CREDIT, BANK_LEG_REFUND};
  const bank_xfer *t = coord_find(c, f->tid);
  uint32_t who = f->phase == COORD_CREDIT ? t->to : t->from;
  bank_op_req q = {bank_op(f->tid, leg[f->phase]), t->amount};
  acto_ref ref = coord_account(c, ctx, who);
  int rc = acto_ask_async(ctx, ref, type[f->phase], &q, sizeof q, c->ask_timeout_ms, NULL,
                          NULL, &f->ask_id);
  if (rc < 0) { /* the account is gone (being replaced?): look it up again later */
    f->ask_id = 0;
    c->acct[who] = ACTO_REF_NONE;
    return coord_retry_later(ctx, f->tid);
  }
  return 0;
}

/* Journals the final state, then answers everyone waiting. */
static int coord_finish(coord *c, acto_ctx *ctx, coord_flight *f, uint32_t state) {
  bank_xfer *t = coord_find(c, f->tid);
  coord_rec r = {COORD_REC_STATE, state, f->tid, t->from, t->to, t->amount};
  t->state = state;
  int rc = coord_journal(c, &r);
  if (rc < 0) return rc;
  bank_result res = {f->tid, bank_xfer_status(state), 0, 0};
  for (uint32_t i = 0; i < f->nwait; i++)
    acto_reply_to(acto_ctx_system(ctx), &f->wait[i], res.status ? BANK_R_ERR : BANK_R_OK, &res,
                  sizeof res);
  *f = c->fl[--c->nfl];
  return 0;
}

/* An account answered the current leg of f. */
static int coord_on_answer(coord *c, acto_ctx *ctx, coord_flight *f, const bank_result *r) {
  bank_xfer *t = coord_find(c, f->tid);
  f->ask_id = 0;
  switch (f->phase) {
  case COORD_DEBIT:
    if (r->status == BANK_OK) {
      f->phase = COORD_CREDIT;
      return coord_step(c, ctx, f);
    }
    if (r->status != BANK_EFUNDS && r->status != BANK_EFROZEN)
      fprintf(stderr, "bank: debit of transfer %#llx refused: %s\n", (unsigned long long)f->tid,
              bank_status_name(r->status));
    return coord_finish(c, ctx, f,
                        r->status == BANK_EFUNDS ? BANK_X_REFUSED_FUNDS : BANK_X_REFUSED_FROZEN);
  case COORD_CREDIT: {
    if (r->status == BANK_OK) return coord_finish(c, ctx, f, BANK_X_COMMITTED);
    /* The credit cannot happen: decide to compensate, durably, first. */
    coord_rec rec = {COORD_REC_STATE, BANK_X_COMPENSATING, f->tid, t->from, t->to, t->amount};
    t->state = BANK_X_COMPENSATING;
    f->phase = COORD_REFUND;
    int rc = coord_journal(c, &rec);
    if (rc < 0) return rc;
    return coord_step(c, ctx, f);
  }
  default: /* COORD_REFUND: never refused; an error here is a bug, retried */
    if (r->status == BANK_OK) return coord_finish(c, ctx, f, BANK_X_COMPENSATED);
    fprintf(stderr, "bank: refund of transfer %#llx refused: %s\n", (unsigned long long)f->tid,
            bank_status_name(r->status));
    return coord_retry_later(ctx, f->tid);
  }
}

/* Answers the current message if it is a request. */
static int coord_answer(acto_ctx *ctx, const acto_msg *m, uint64_t tid, int status) {
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST)) return 0;
  bank_result r = {tid, status, 0, 0};
  return acto_reply(ctx, status ? BANK_R_ERR : BANK_R_OK, &r, sizeof r);
}

static int coord_transfer(coord *c, acto_ctx *ctx, const acto_msg *m) {
  bank_transfer_req q;
  if (!(m->flags & ACTO_MSG_FLAG_REQUEST)) return 0; /* nobody to give the outcome to */
  if (m->size != sizeof q) return coord_answer(ctx, m, 0, BANK_EBADREQ);
  memcpy(&q, m->data, sizeof q);
  if (q.tid == 0 || q.from >= c->naccounts || q.to >= c->naccounts || q.from == q.to ||
      q.amount <= 0)
    return coord_answer(ctx, m, q.tid, BANK_EBADREQ);
  bank_xfer *t = coord_find(c, q.tid);
  if (t) { /* a retry */
    if (t->from != q.from || t->to != q.to || t->amount != q.amount)
      return coord_answer(ctx, m, q.tid, BANK_EMISMATCH);
    if (bank_xfer_final(t->state)) return coord_answer(ctx, m, q.tid, bank_xfer_status(t->state));
    coord_flight *f = coord_flight_by_tid(c, q.tid);
    if (f->nwait == COORD_WAITERS) { /* the oldest asker has surely given up */
      memmove(&f->wait[0], &f->wait[1], (COORD_WAITERS - 1) * sizeof f->wait[0]);
      f->nwait--;
    }
    int rc = acto_reply_later(ctx, &f->wait[f->nwait]);
    if (rc == 0) f->nwait++;
    return rc;
  }
  bank_xfer nt = {q.tid, q.from, q.to, q.amount, BANK_X_BEGUN, 0};
  coord_flight *f;
  int rc = coord_add(c, &nt);
  if (rc < 0) return rc;
  if (!(f = coord_flight_new(c, q.tid, COORD_DEBIT))) return ACTO_ENOMEM;
  coord_rec r = {COORD_REC_BEGIN, BANK_X_BEGUN, q.tid, q.from, q.to, q.amount};
  if ((rc = coord_journal(c, &r)) < 0) return rc; /* 1. journal */
  if ((rc = acto_reply_later(ctx, &f->wait[f->nwait])) < 0) return rc;
  f->nwait++;
  return coord_step(c, ctx, f); /* 2. act; the reply comes when it is final */
}

/* The outcome of one of our asks (they come as messages carrying the ask
 * id): an account's answer, ACTO_MSG_ASK_TIMEOUT or ACTO_MSG_ASK_FAILED.
 * An outcome that matches no flight answers an earlier incarnation's ask:
 * ignored. */
static int coord_on_outcome(coord *c, acto_ctx *ctx, const acto_msg *m) {
  coord_flight *f = coord_flight_by_ask(c, m->ask_id);
  if (!f) return 0;
  f->ask_id = 0;
  if ((m->type == BANK_R_OK || m->type == BANK_R_ERR) && m->size == sizeof(bank_result)) {
    bank_result r; /* check the size, then copy */
    memcpy(&r, m->data, sizeof r);
    return coord_on_answer(c, ctx, f, &r);
  }
  if (m->type == ACTO_MSG_ASK_TIMEOUT) return coord_step(c, ctx, f); /* send the leg again */
  /* The account failed or stopped (then a new actor may take its name),
   * or answered with something that is no answer: look it up again and
   * send the leg again, after a pause. */
  const bank_xfer *t = coord_find(c, f->tid);
  c->acct[f->phase == COORD_CREDIT ? t->to : t->from] = ACTO_REF_NONE;
  return coord_retry_later(ctx, f->tid);
}

/* Any other message: a client's request, a timer's, chaos. */
static int coord_on_message(coord *c, acto_ctx *ctx, const acto_msg *m) {
  coord_flight *f;
  uint64_t tid;
  uint32_t u = 0;
  int rc = 0;
  switch (m->type) {
  case BANK_TRANSFER:
    rc = coord_transfer(c, ctx, m);
    break;
  case BANK_RETRY:
    if (m->size == sizeof tid) {
      memcpy(&tid, m->data, sizeof tid);
      if ((f = coord_flight_by_tid(c, tid)) && f->ask_id == 0) rc = coord_step(c, ctx, f);
    }
    break;
  case BANK_KICK:
    for (size_t i = 0; i < c->nfl && rc == 0; i++)
      if (c->fl[i].ask_id == 0) rc = coord_step(c, ctx, &c->fl[i]);
    break;
  case BANK_STATUS: {
    bank_coord_status s = {c->nfl, c->nx, c->recovered};
    if (m->flags & ACTO_MSG_FLAG_REQUEST) rc = acto_reply(ctx, BANK_R_OK, &s, sizeof s);
    break;
  }
  case BANK_COORD_DUMP:
    if (m->flags & ACTO_MSG_FLAG_REQUEST)
      rc = acto_reply(ctx, BANK_R_OK, c->x, c->nx * sizeof(bank_xfer));
    break;
  case BANK_CRASH:
    if (m->size != sizeof u) return 0; /* not chaos that means it */
    memcpy(&u, m->data, sizeof u);
    if (u == BANK_CRASH_NOW) return BANK_CRASH_REASON;
    if (u == BANK_CRASH_AFTER_APPEND) c->armed = 1;
    return 0;
  default:
    rc = coord_answer(ctx, m, 0, BANK_EBADREQ);
    break;
  }
  return rc;
}

static int coord_handle(acto_ctx *ctx, void *state, const acto_msg *m) {
  coord *c = state;
  /* acto sets ask_id only on the outcome of an ask of ours. */
  int rc = m->ask_id != 0 ? coord_on_outcome(c, ctx, m) : coord_on_message(c, ctx, m);
  if (rc < 0) return rc;
  if (c->snap_due) return coord_snapshot(c);
  return 0;
}

const acto_behaviour bank_coordinator_behaviour = {.name = "bank.coordinator",
                                                   .state_size = sizeof(coord),
                                                   .init = coord_init,
                                                   .handle = coord_handle,
                                                   .terminate = coord_terminate};

void bank_coord_name(char *buf, size_t cap, uint32_t index) {
  snprintf(buf, cap, "bank.coord.%u", index);
}

int bank_xfer_status(uint32_t state) {
  switch (state) {
  case BANK_X_COMMITTED: return BANK_OK;
  case BANK_X_REFUSED_FUNDS: return BANK_EFUNDS;
  case BANK_X_REFUSED_FROZEN: return BANK_EFROZEN;
  case BANK_X_COMPENSATED: return BANK_ECOMPENSATED;
  default: return BANK_EBADREQ; /* not final */
  }
}

const char *bank_status_name(int status) {
  switch (status) {
  case BANK_OK: return "ok";
  case BANK_EFUNDS: return "insufficient funds";
  case BANK_EFROZEN: return "account frozen";
  case BANK_ECOMPENSATED: return "credit refused, debit refunded";
  case BANK_EMISMATCH: return "id reused with other parameters";
  case BANK_EBADREQ: return "bad request";
  default: return status < 0 ? acto_strerror(status) : "unknown status";
  }
}
