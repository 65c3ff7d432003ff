/* bank.h - the bank sample (ACTORS.md, "The bank sample"): accounts and
 * transfer coordinators as journaled actors under a supervisor, their
 * message protocol, and the plain-thread API that main.c and
 * tests/test_bank.c drive them with.
 *
 * The pieces, one file each:
 *   account.c      an account actor: deposit, withdraw, refund, balance,
 *                  freeze; every change journaled before it is answered
 *   coordinator.c  a transfer coordinator: debit, credit, compensate, each
 *                  step journaled, in-flight transfers resumed on recovery
 *   bank.c         the data directory, the supervision tree, client calls
 *   check.c        the clients' acknowledgement logs and the invariants
 *   idmap.c        a small hash map of 64-bit ids
 *   main.c         the scripted workload with its chaos thread
 *
 * Exactly-once.  Every change of a balance carries an operation id: a
 * transfer id and a leg (debit, credit, refund).  An account records the
 * ids it applied, in its journal and in its snapshots, and answers a
 * repeated id with the first answer instead of applying it again; the
 * coordinator journals each transfer's state before acting on it and
 * re-drives the unfinished ones after a restart; a client retries the same
 * transfer id until it gets an answer.  So a retry, a restarted actor or a
 * restarted process never applies a leg twice.
 */
#ifndef BANK_H
#define BANK_H

#include <stddef.h>
#include <stdint.h>

#include <acto/acto.h>

/* ---- ids ------------------------------------------------------------------ */

/* A transfer id: the run (the process start that created it, 1..16383;
 * 0 is reserved), the client (0..255) and a sequence number (40 bits).
 * Run 0 holds the accounts' opening deposits (client 0, seq = account + 1)
 * and direct deposits and withdrawals (clients 1..255). */
#define BANK_RUN_MAX 16383u
#define BANK_CLIENT_MAX 255u
static inline uint64_t bank_tid(uint32_t run, uint32_t client, uint64_t seq) {
  return ((uint64_t)run << 48) | ((uint64_t)client << 40) | (seq & ((UINT64_C(1) << 40) - 1));
}

/* An operation id: a transfer id and a leg.  A transfer's legs are its
 * debit of `from`, its credit of `to` and, when the credit was refused,
 * the refund of `from`.  Direct deposits and withdrawals (and the opening
 * deposits) are leg DIRECT. */
enum bank_leg { BANK_LEG_DEBIT = 0, BANK_LEG_CREDIT = 1, BANK_LEG_REFUND = 2, BANK_LEG_DIRECT = 3 };
static inline uint64_t bank_op(uint64_t tid, unsigned leg) { return (tid << 2) | leg; }
static inline uint64_t bank_op_tid(uint64_t op) { return op >> 2; }
static inline unsigned bank_op_leg(uint64_t op) { return (unsigned)(op & 3); }

/* ---- answers ---------------------------------------------------------------- */

/* The status in an answer: 0, or why nothing (or only a refund) happened.
 * These are replies, not failures: the actor carries on. */
enum bank_status {
  BANK_OK = 0,
  BANK_EFUNDS = 1,       /* insufficient funds: nothing changed */
  BANK_EFROZEN = 2,      /* the account is frozen: nothing changed */
  BANK_ECOMPENSATED = 3, /* transfer: the credit was refused, the debit refunded */
  BANK_EMISMATCH = 4,    /* the id was used before with other parameters */
  BANK_EBADREQ = 5       /* malformed request (unknown account, amount <= 0) */
};
const char *bank_status_name(int status);

/* ---- messages ----------------------------------------------------------------- */

enum bank_msg {
  /* to an account */
  BANK_DEPOSIT = 1,  /* bank_op_req; refused when frozen */
  BANK_WITHDRAW = 2, /* bank_op_req; refused when frozen or short of funds */
  BANK_REFUND = 3,   /* bank_op_req; a compensation: never refused */
  BANK_BALANCE = 4,  /* no payload */
  BANK_FREEZE = 5,   /* uint32_t: 1 freeze, 0 unfreeze */
  BANK_DUMP = 6,     /* no payload; reply: bank_acct_dump + entries */
  /* to an account or a coordinator */
  BANK_CRASH = 7,    /* uint32_t bank_crash_mode */
  /* to a coordinator */
  BANK_TRANSFER = 16,   /* bank_transfer_req */
  BANK_STATUS = 17,     /* reply: bank_coord_status */
  BANK_COORD_DUMP = 18, /* reply: bank_xfer[] */
  BANK_KICK = 19,       /* internal: re-drive the transfers in flight */
  BANK_RETRY = 20,      /* internal: uint64_t tid, re-drive one transfer */
  /* replies */
  BANK_R_OK = 32,  /* bank_result, status 0 */
  BANK_R_ERR = 33  /* bank_result, status > 0 */
};

typedef struct bank_op_req {
  uint64_t op;    /* bank_op(tid, leg) */
  int64_t amount; /* > 0 */
} bank_op_req;

typedef struct bank_result {
  uint64_t id;     /* the operation or transfer id answered */
  int32_t status;  /* enum bank_status */
  uint32_t dup;    /* 1: the id had been applied before; nothing changed now */
  int64_t balance; /* the account's balance after the operation */
} bank_result;

typedef struct bank_transfer_req {
  uint64_t tid;
  uint32_t from, to;
  int64_t amount;
} bank_transfer_req;

/* Chaos: a BANK_CRASH message makes the actor fail (its handler returns
 * BANK_CRASH_REASON), so its supervisor restarts it in place.  NOW fails on
 * the crash message itself; AFTER_APPEND arms the actor to fail right after
 * its next journal append, before it answers: the nastiest moment, when the
 * change is durable but nobody was told.  A BANK_CRASH whose payload is not
 * one of these modes (a uint32_t) is ignored. */
enum bank_crash_mode { BANK_CRASH_NOW = 0, BANK_CRASH_AFTER_APPEND = 1 };
#define BANK_CRASH_REASON (-1000)

/* An account's applied operation (its journal, in order). */
typedef struct bank_entry {
  uint64_t op;
  int64_t amount; /* signed: a debit is negative */
} bank_entry;

/* The reply to BANK_DUMP: this header, then nops bank_entry. */
typedef struct bank_acct_dump {
  uint32_t index;
  uint32_t frozen;
  int64_t balance;
  uint64_t nops;
} bank_acct_dump;

/* A transfer as the coordinator keeps it (and snapshots it). */
enum bank_xfer_state {
  BANK_X_BEGUN = 0,        /* journaled; debit and credit under way */
  BANK_X_COMPENSATING = 1, /* the credit was refused; refunding the debit */
  BANK_X_COMMITTED = 2,    /* final: debited and credited */
  BANK_X_REFUSED_FUNDS = 3,  /* final: debit refused, nothing moved */
  BANK_X_REFUSED_FROZEN = 4, /* final: debit refused, nothing moved */
  BANK_X_COMPENSATED = 5     /* final: debited, credit refused, refunded */
};
static inline int bank_xfer_final(uint32_t state) { return state >= BANK_X_COMMITTED; }
int bank_xfer_status(uint32_t state); /* the enum bank_status a client gets */

typedef struct bank_xfer {
  uint64_t tid;
  uint32_t from, to;
  int64_t amount;
  uint32_t state; /* enum bank_xfer_state */
  uint32_t reserved;
} bank_xfer;

typedef struct bank_coord_status {
  uint64_t inflight;  /* transfers not final */
  uint64_t transfers; /* transfers known (all runs) */
  uint64_t recovered; /* unfinished transfers found in the journal by init */
} bank_coord_status;

/* ---- a map of 64-bit ids (idmap.c) -------------------------------------------- */

/* Open addressing, keys != 0.  A zeroed struct is an empty map. */
typedef struct bank_map {
  uint64_t *keys, *vals;
  size_t cap, n;
} bank_map;

/* 0: inserted; 1: the key was there (its value is left alone); ACTO_ENOMEM. */
int bank_map_put(bank_map *m, uint64_t key, uint64_t val);
/* 1 and *val when found, 0 when not. */
int bank_map_get(const bank_map *m, uint64_t key, uint64_t *val);
void bank_map_free(bank_map *m);

/* ---- the actors ----------------------------------------------------------------- */

#define BANK_PATH_MAX 512

typedef struct bank_acct_arg {
  uint32_t index;
  uint32_t snapshot_every;
  uint32_t sync;           /* acto_journal_sync_mode */
  uint32_t reserved;
  int64_t initial;         /* the opening deposit of a new account */
  char dir[BANK_PATH_MAX]; /* its journal */
} bank_acct_arg;

typedef struct bank_coord_arg {
  uint32_t index;
  uint32_t naccounts;
  uint32_t snapshot_every;
  uint32_t sync;           /* acto_journal_sync_mode */
  int64_t ask_timeout_ms;  /* for its asks to accounts */
  char dir[BANK_PATH_MAX]; /* its journal */
} bank_coord_arg;

extern const acto_behaviour bank_account_behaviour;
extern const acto_behaviour bank_coordinator_behaviour;

/* The registered names: "bank.acct.<n>", "bank.coord.<k>". */
void bank_acct_name(char *buf, size_t cap, uint32_t index);
void bank_coord_name(char *buf, size_t cap, uint32_t index);

/* ---- the bank: a data directory and a running tree (bank.c) --------------------- */

typedef struct bank bank; /* opaque */

typedef struct bank_opts {
  const char *dir;           /* the data directory (created; its parent must exist) */
  int fresh;                 /* remove the directory first */
  int new_run;               /* count a new run: its transfer ids are fresh */
  int existing;              /* the bank must exist (else ACTO_ENOENT) */
  uint32_t accounts;         /* a new directory: accounts (0: 100) */
  int64_t initial;           /* a new directory: opening balance (< 0: 1000) */
  uint32_t coordinators;     /* a new directory: coordinators (0: 4) */
  uint32_t acct_snapshot_every;  /* 0: 1000 records */
  uint32_t coord_snapshot_every; /* 0: 20000 records */
  /* When a journal append reaches the disk (acto_journal.h).  The bank's
   * default, NONE, survives a kill of the process, not a power loss. */
  enum { BANK_SYNC_NONE = 0, BANK_SYNC_BATCH = 1, BANK_SYNC_EACH = 2 } sync;
  int64_t ask_timeout_ms;    /* coordinator -> account (0: 1000) */
  unsigned threads;          /* acto workers (0: CPUs) */
} bank_opts;

/* What bank_open found or made. */
typedef struct bank_info {
  uint32_t accounts, coordinators, run;
  int64_t initial;
  int created; /* 1: a new data directory */
} bank_info;

/* Opens (or creates) the data directory and starts the tree: each account
 * replays its journal, each coordinator replays its own and re-drives the
 * transfers it finds unfinished.  ACTO_ECHILD usually means the directory
 * is in use by another process (its journals are locked). */
int bank_open(const bank_opts *o, bank **out, bank_info *info);
/* Stops the tree (coordinators first, then accounts) and the system. */
int bank_close(bank *b);

acto_system *bank_system(bank *b);
const char *bank_dir(const bank *b);
uint32_t bank_run(const bank *b);
uint32_t bank_accounts(const bank *b);
uint32_t bank_coordinators(const bank *b);
uint64_t bank_restarts(bank *b); /* restarts seen by the supervisors */
uint64_t bank_failures(bank *b); /* failures seen by the crash hook */

/* Requests from a plain thread.  Each returns the bank_status of the
 * answer (>= 0; *out, when not NULL, gets the whole answer) or a negative
 * ACTO_E* when no answer came (ACTO_ETIMEDOUT; ACTO_EFAILED: the actor
 * failed while handling it - retry with the same id). */
int bank_deposit(bank *b, uint32_t acct, uint64_t op, int64_t amount, int64_t timeout_ms,
                 bank_result *out);
int bank_withdraw(bank *b, uint32_t acct, uint64_t op, int64_t amount, int64_t timeout_ms,
                  bank_result *out);
int bank_balance(bank *b, uint32_t acct, int64_t timeout_ms, int64_t *balance);
int bank_freeze(bank *b, uint32_t acct, int on, int64_t timeout_ms);
int bank_transfer(bank *b, uint64_t tid, uint32_t from, uint32_t to, int64_t amount,
                  int64_t timeout_ms);
/* The coordinator that owns a transfer id. */
uint32_t bank_shard(const bank *b, uint64_t tid);
/* Chaos: sends BANK_CRASH to account `index` or coordinator `index`. */
int bank_crash(bank *b, int coordinator, uint32_t index, int mode);
/* Sums the coordinators' status. */
int bank_status(bank *b, int64_t timeout_ms, bank_coord_status *out);
/* Waits until no transfer is in flight. */
int bank_wait_idle(bank *b, int64_t timeout_ms);
/* A dump: the reply of BANK_DUMP / BANK_COORD_DUMP; free with
 * acto_reply_release. */
int bank_dump_account(bank *b, uint32_t acct, int64_t timeout_ms, acto_reply_buf *out);
int bank_dump_coordinator(bank *b, uint32_t k, int64_t timeout_ms, acto_reply_buf *out);

/* ---- acknowledgements and invariants (check.c) --------------------------------- */

/* A client appends one of these to its ack log with write() once a
 * transfer is answered, and only then counts it as acknowledged. */
typedef struct bank_ack {
  uint64_t tid;
  uint32_t from, to;
  int64_t amount;
  int32_t status; /* the answer: BANK_OK, BANK_EFUNDS, ... */
  uint32_t check; /* FNV-1a of the bytes before it */
} bank_ack;

/* Opens <dir>/acks/r<run>-c<client>.log for appending (O_APPEND). */
int bank_ack_open(bank *b, uint32_t client, int *fd);
/* Writes one record; 0 or ACTO_EIO. */
int bank_ack_write(int fd, uint64_t tid, uint32_t from, uint32_t to, int64_t amount,
                   int32_t status);

typedef struct bank_report {
  uint32_t accounts;
  int64_t total, expected_total; /* sum of balances; of openings and direct ops */
  uint64_t negative;             /* accounts below zero */
  uint64_t transfers;            /* in the coordinators' journals, all runs */
  uint64_t committed, refused_funds, refused_frozen, compensated, inflight;
  uint64_t acks;          /* acknowledgements in the ack logs, all runs */
  uint64_t acks_verified; /* ... whose transfer is applied exactly as answered */
  uint64_t acks_torn;     /* a record cut by a kill (never counted as acked) */
  uint64_t applied_twice; /* an operation id found twice: must be 0 */
  uint64_t problems;      /* every broken invariant (described on stderr) */
  int ok;
} bank_report;

/* Waits for the transfers in flight, reads every account's and every
 * coordinator's state and every ack log, and checks: the total equals the
 * openings (and direct operations); no balance is negative; each account's
 * balance is the sum of its journaled operations and no operation id
 * appears twice; each transfer is final and its legs match its outcome
 * (committed: debit and credit; refused: none; compensated: debit and
 * refund); each acknowledgement matches its transfer's outcome.  Reports
 * problems on stderr.  0 when the check ran (see r->ok), < 0 when it
 * could not. */
int bank_check(bank *b, int64_t timeout_ms, bank_report *r);

#endif /* BANK_H */
