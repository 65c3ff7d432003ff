/* pipeline.c - a producer, a bounded consumer and a reporter: ask, timers,
 * the registry and backpressure on a bounded mailbox.
 *
 * - "sink" is spawned with a mailbox of capacity 8 and the block policy.
 *   It sums the ITEM messages it receives and answers GET requests.
 * - "producer" finds the sink in the registry and sends it ITEMS numbers in
 *   chunks of CHUNK, one chunk per turn.  When the sink's mailbox is full a
 *   send returns ACTO_PARKED: the message is parked in order, the producer
 *   ends its turn, and acto suspends it until the sink has taken the parked
 *   message.  After the last item a one-shot timer (acto_send_after) sends
 *   it FINISH; it then asks the sink for its total with acto_ask_async and a
 *   continuation, and hands the result to main().
 * - "reporter" gets a TICK every 2 ms from a periodic timer set by main();
 *   on each tick it asks the producer for its progress with acto_ask_async
 *   without continuation, so the reply arrives in handle() as a message
 *   carrying the ask id.
 * - main() waits for the producer's result, cancels the timer, checks that
 *   no tick is handled after the cancel, asks the sink with the blocking
 *   acto_ask, prints what happened and shuts down.
 *
 * What does not fit is ignored.  Each handler checks a payload's size
 * before it copies it, and answers only requests (ACTO_MSG_FLAG_REQUEST):
 * a short ITEM, a GET or PROGRESS sent without ask, an unknown type leave
 * the totals alone and stop nobody (an ask of the wrong kind gets
 * ACTO_ENOREPLY at once).  The producer takes CONTINUE and FINISH only
 * from itself: from anyone else they would end the job early.  A reply
 * that does not fit is an answer that failed: the reporter counts it so,
 * and the final ask ends the job with ACTO_EINVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <acto/acto.h>

#define ITEMS 100000u
#define CHUNK 32u
#define SINK_CAPACITY 8u

enum { ITEM = 1, GET, TOTALS, CONTINUE, FINISH, PROGRESS, TICK, REPORT };

typedef struct totals {
  uint64_t count, sum;
} totals;

/* ---- sink: sums items; capacity 8, block policy ---------------------------- */

static int sink_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  totals *t = state;
  if (msg->type == ITEM && msg->size == sizeof(uint64_t)) { /* check the size, then copy */
    uint64_t v;
    memcpy(&v, msg->data, sizeof v);
    t->count++;
    t->sum += v;
    return 0;
  }
  if (msg->type == GET && (msg->flags & ACTO_MSG_FLAG_REQUEST))
    return acto_reply(ctx, TOTALS, t, sizeof *t);
  return 0; /* a short ITEM, a GET without ask, an unknown type: ignored */
}

static const acto_behaviour sink = {
    .name = "sink", .state_size = sizeof(totals), .handle = sink_handle};

/* ---- producer: sends ITEMS numbers in chunks, honours backpressure ---------- */

/* Shared with main(): written by the producer, read after `done` is posted. */
typedef struct job {
  int status;       /* 0, or the ACTO_E* code that stopped the job */
  uint64_t parked;  /* sends that returned ACTO_PARKED */
  totals seen;      /* the sink's answer to the final ask */
  sem_t done;
} job;

typedef struct producer_state {
  job *job;
  acto_ref sink;
  uint64_t next; /* the next number to send, 1..ITEMS */
} producer_state;

static void finish(producer_state *st, int status) {
  st->job->status = status;
  sem_post(&st->job->done);
}

static int producer_init(acto_ctx *ctx, void *state, const void *arg) {
  producer_state *st = state;
  if (!arg) return ACTO_EINVAL; /* main's job */
  st->job = (job *)arg;
  st->next = 1;
  int rc = acto_lookup(acto_ctx_system(ctx), "sink", &st->sink);
  if (rc < 0) return rc;
  return acto_send(acto_ctx_system(ctx), acto_self(ctx), CONTINUE, NULL, 0);
}

/* The continuation of the final ask: runs on the producer, exactly once. */
static void on_totals(acto_ctx *ctx, void *state, int status, const acto_msg *reply,
                      void *user) {
  (void)ctx;
  (void)user;
  producer_state *st = state;
  if (status == 0 && (reply->type != TOTALS || reply->size != sizeof st->job->seen))
    status = ACTO_EINVAL; /* an answer that is not the sink's totals */
  if (status == 0) memcpy(&st->job->seen, reply->data, sizeof st->job->seen);
  finish(st, status);
}

static int producer_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  producer_state *st = state;
  acto_system *sys = acto_ctx_system(ctx);
  int rc;
  /* The producer sends CONTINUE and FINISH to itself (FINISH by a timer,
   * whose messages come from the actor that set it). */
  if ((msg->type == CONTINUE || msg->type == FINISH) && !acto_ref_eq(msg->sender, acto_self(ctx)))
    return 0;
  switch (msg->type) {
  case CONTINUE:
    /* One chunk per turn.  A send that parks is the last of this turn:
     * later sends to the sink in the same callback would park too. */
    for (unsigned i = 0; i < CHUNK && st->next <= ITEMS; i++) {
      rc = acto_send(sys, st->sink, ITEM, &st->next, sizeof st->next);
      if (rc < 0) return rc;
      st->next++;
      if (rc == ACTO_PARKED) {
        st->job->parked++;
        break;
      }
    }
    if (st->next <= ITEMS) { /* handled after the producer resumes */
      rc = acto_send(sys, acto_self(ctx), CONTINUE, NULL, 0);
      return rc < 0 ? rc : 0;
    }
    acto_timer t;
    rc = acto_send_after(sys, acto_self(ctx), FINISH, NULL, 0, 1, &t);
    return rc < 0 ? rc : 0;
  case FINISH:
    rc = acto_ask_async(ctx, st->sink, GET, NULL, 0, 1000, on_totals, NULL, NULL);
    return rc < 0 ? rc : 0;
  case PROGRESS: {
    if (!(msg->flags & ACTO_MSG_FLAG_REQUEST)) return 0; /* nobody to answer */
    uint64_t sent = st->next - 1;
    return acto_reply(ctx, PROGRESS, &sent, sizeof sent);
  }
  default:
    return 0; /* ignored */
  }
}

static void producer_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  producer_state *st = state;
  if (reason < 0) finish(st, reason); /* the producer failed */
}

static const acto_behaviour producer = {.name = "producer",
                                        .state_size = sizeof(producer_state),
                                        .init = producer_init,
                                        .handle = producer_handle,
                                        .terminate = producer_terminate};

/* ---- reporter: samples the producer's progress on every timer tick ---------- */

typedef struct report {
  uint64_t ticks;    /* TICK messages handled */
  uint64_t samples;  /* progress replies received */
  uint64_t timeouts; /* ACTO_MSG_ASK_TIMEOUT messages received */
  uint64_t failed;   /* ACTO_MSG_ASK_FAILED messages received */
  uint64_t last;     /* the last progress seen */
} report;

typedef struct reporter_state {
  acto_ref producer;
  uint64_t pending; /* the ask id in flight, 0 if none */
  report r;
} reporter_state;

static int reporter_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)arg;
  reporter_state *st = state;
  return acto_lookup(acto_ctx_system(ctx), "producer", &st->producer);
}

static int reporter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  reporter_state *st = state;
  if (msg->ask_id != 0 && msg->ask_id == st->pending) { /* a reply as a message */
    st->pending = 0;
    if (msg->type == ACTO_MSG_ASK_TIMEOUT) {
      st->r.timeouts++;
    } else if (msg->type == ACTO_MSG_ASK_FAILED) { /* data: the int32_t status */
      st->r.failed++;
    } else if (msg->size == sizeof st->r.last) { /* check the size, then copy */
      memcpy(&st->r.last, msg->data, sizeof st->r.last);
      st->r.samples++;
    } else {
      st->r.failed++; /* a reply that does not fit is no progress */
    }
    return 0;
  }
  switch (msg->type) {
  case TICK:
    st->r.ticks++;
    if (st->pending != 0) return 0; /* one ask in flight at a time */
    int rc = acto_ask_async(ctx, st->producer, PROGRESS, NULL, 0, 1000, NULL, NULL,
                            &st->pending);
    return rc < 0 ? rc : 0;
  case REPORT:
    if (!(msg->flags & ACTO_MSG_FLAG_REQUEST)) return 0; /* nobody to answer */
    return acto_reply(ctx, REPORT, &st->r, sizeof st->r);
  default:
    return 0; /* ignored */
  }
}

static const acto_behaviour reporter = {.name = "reporter",
                                        .state_size = sizeof(reporter_state),
                                        .init = reporter_init,
                                        .handle = reporter_handle};

/* ---- main ------------------------------------------------------------------ */

static int fail(const char *what, int rc) {
  fprintf(stderr, "pipeline: %s: %s (%s)\n", what, acto_strerror(rc), acto_err_name(rc));
  return 1;
}

/* A blocking ask from main() for a reply of exactly `size` bytes. */
static int ask_copy(acto_system *sys, acto_ref to, uint32_t type, void *out, size_t size) {
  acto_reply_buf r;
  int rc = acto_ask(sys, to, type, NULL, 0, 1000, &r);
  if (rc < 0) return rc;
  if (r.size == size) memcpy(out, r.data, size);
  else rc = ACTO_EINVAL;
  acto_reply_release(&r);
  return rc;
}

int main(void) {
  acto_system *sys;
  acto_ref s, p, rep;
  acto_timer tick;
  job jb = {0};
  report r1, r2;
  totals final;
  int rc, status = 0;

  if (sem_init(&jb.done, 0, 0) != 0) { perror("pipeline: sem_init"); return 1; }
  rc = acto_system_create(NULL, &sys);
  if (rc < 0) return fail("acto_system_create", rc);

  /* The sink: registered by name at spawn; a small bounded mailbox. */
  acto_spawn_opts sopts = {
      .name = "sink", .capacity = SINK_CAPACITY, .overflow = ACTO_OVERFLOW_BLOCK};
  rc = acto_spawn(sys, &sink, NULL, &sopts, &s);
  if (rc < 0) { status = fail("spawn sink", rc); goto out; }
  /* The producer starts sending as soon as it is spawned; it is registered
   * by acto_register so that the reporter can find it. */
  rc = acto_spawn(sys, &producer, &jb, NULL, &p);
  if (rc < 0) { status = fail("spawn producer", rc); goto out; }
  rc = acto_register(sys, "producer", p);
  if (rc < 0) { status = fail("acto_register", rc); goto out; }
  rc = acto_spawn(sys, &reporter, NULL, NULL, &rep);
  if (rc < 0) { status = fail("spawn reporter", rc); goto out; }
  rc = acto_send_periodic(sys, rep, TICK, NULL, 0, 0, 2, &tick);
  if (rc < 0) { status = fail("acto_send_periodic", rc); goto out; }

  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  while ((rc = sem_timedwait(&jb.done, &deadline)) != 0 && errno == EINTR) {}
  if (rc != 0) {
    fprintf(stderr, "pipeline: the producer did not finish in 10 s\n");
    status = 1;
    goto out;
  }
  if (jb.status != 0) { status = fail("producer", jb.status); goto out; }

  /* After a 0 return no further TICK is handled, even one already queued. */
  rc = acto_timer_cancel(sys, tick);
  if (rc < 0) { status = fail("acto_timer_cancel", rc); goto out; }
  rc = ask_copy(sys, rep, REPORT, &r1, sizeof r1);
  if (rc < 0) { status = fail("ask reporter", rc); goto out; }
  nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
  rc = ask_copy(sys, rep, REPORT, &r2, sizeof r2);
  if (rc < 0) { status = fail("ask reporter", rc); goto out; }
  if (r2.ticks != r1.ticks) {
    fprintf(stderr, "pipeline: %" PRIu64 " ticks handled after the cancel\n", r2.ticks - r1.ticks);
    status = 1;
  }
  rc = ask_copy(sys, s, GET, &final, sizeof final);
  if (rc < 0) { status = fail("ask sink", rc); goto out; }

  uint64_t want = (uint64_t)ITEMS * (ITEMS + 1) / 2;
  printf("pipeline: producer sent %u items in chunks of %u to \"sink\" (capacity %u, block)\n",
         ITEMS, CHUNK, SINK_CAPACITY);
  printf("pipeline: %" PRIu64 " sends parked on the full mailbox (backpressure)\n", jb.parked);
  printf("pipeline: ask_async with continuation: sink has %" PRIu64 " items, sum %" PRIu64 "\n",
         jb.seen.count, jb.seen.sum);
  printf("pipeline: blocking acto_ask from main:  sink has %" PRIu64 " items, sum %" PRIu64
         " (expected %" PRIu64 ")\n", final.count, final.sum, want);
  printf("pipeline: reporter: %" PRIu64 " ticks, %" PRIu64 " progress replies (last %" PRIu64
         "), %" PRIu64 " ask timeouts, %" PRIu64 " failed asks; no tick after cancel\n",
         r2.ticks, r2.samples, r2.last, r2.timeouts, r2.failed);
  if (final.count != ITEMS || final.sum != want || jb.seen.count != ITEMS) status = 1;

  acto_stats st;
  rc = acto_get_stats(sys, &st);
  if (rc < 0) { status = fail("acto_get_stats", rc); goto out; }
  printf("pipeline: stats: %" PRIu64 " messages handled, %" PRIu64 " parks, %" PRIu64
         " dead letters\n", st.messages_handled, st.parks, st.dead_letters_total);

out:
  rc = acto_system_shutdown(sys);
  if (rc < 0) status = fail("acto_system_shutdown", rc);
  sem_destroy(&jb.done);
  if (status != 0) fprintf(stderr, "pipeline: FAILED\n");
  return status;
}
