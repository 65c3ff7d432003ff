/* hello.c - a greeter actor and two clients, actors talking in a few lines.
 *
 * The greeter registers under the name "greeter".  Each client looks it
 * up, says hello, gets a greeting back, then plays ROUNDS rounds of
 * ping-pong with it and stops itself.  main() waits for both clients,
 * prints what they heard and a summary line, and shuts the system down.
 *
 * Every acto call's return code is checked: a failing client handler
 * returns the code, which stops the client with it as the reason; the
 * client's terminate callback hands the reason to main(), which prints
 * acto_strerror() and exits 1.
 *
 * What does not fit.  Each handler checks a payload's size (and that a
 * text ends with its NUL) before it reads it.  The greeter serves every
 * client, so nothing a client sends can stop it: a HELLO that is not a
 * short NUL-terminated name, a PING that is not a round number, an
 * unknown type are ignored, and so is a sender it cannot answer (a plain
 * thread, an actor gone).  A client plays a script: an answer that does
 * not fit it (a GREETING that is not a text or comes twice, a PONG that is
 * not the round in play, a START from anyone but itself) fails the client
 * with ACTO_EINVAL, which main() reports.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <acto/acto.h>

#define ROUNDS 1000
#define NCLIENTS 2

enum { START = 1, HELLO, GREETING, PING, PONG };

/* ---- the greeter ------------------------------------------------------ */

static int greeter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  (void)state;
  acto_system *sys = acto_ctx_system(ctx);
  if (msg->type == HELLO) { /* payload: a NUL-terminated name */
    const char *name = msg->data;
    if (msg->size == 0 || name[msg->size - 1] != '\0') return 0; /* not a text: ignored */
    char text[64];
    int n = snprintf(text, sizeof text, "hello, %s!", name);
    if (n < 0 || (size_t)n >= sizeof text) return 0; /* too long a name: ignored */
    /* 0, a positive ACTO_PARKED, or a sender that cannot be answered
     * (counted as a dead letter): none of them stops the greeter. */
    (void)acto_send(sys, acto_sender(ctx), GREETING, text, (size_t)n + 1);
    return 0;
  }
  if (msg->type == PING && msg->size == sizeof(int)) { /* the round number; send it back */
    (void)acto_send(sys, acto_sender(ctx), PONG, msg->data, msg->size);
    return 0;
  }
  return 0; /* anything else: ignored */
}

static const acto_behaviour greeter = {.name = "greeter", .handle = greeter_handle};

/* ---- a client --------------------------------------------------------- */

/* Filled by the client, read by main() after `done` is posted. */
typedef struct client_result {
  const char *name;
  char greeting[64];
  unsigned messages; /* sent and received by this client */
  int reason;        /* why the client stopped: 0 or an ACTO_E* code */
  sem_t *done;
} client_result;

typedef struct client_state {
  client_result *res;
  acto_ref greeter;
  int round; /* the round in play; 0 until the greeting */
} client_state;

static int client_init(acto_ctx *ctx, void *state, const void *arg) {
  client_state *st = state;
  st->res = (client_result *)arg;
  if (!st->res || !st->res->name || !st->res->done) return ACTO_EINVAL; /* main's slot */
  /* A message sent to itself from init is queued until the actor runs. */
  return acto_send(acto_ctx_system(ctx), acto_self(ctx), START, NULL, 0);
}

static int client_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  client_state *st = state;
  acto_system *sys = acto_ctx_system(ctx);
  int rc;
  switch (msg->type) {
  case START: /* sent by client_init, once */
    if (!acto_ref_eq(msg->sender, acto_self(ctx)) || !acto_ref_is_none(st->greeter))
      return ACTO_EINVAL;
    rc = acto_lookup(sys, "greeter", &st->greeter);
    if (rc < 0) return rc;
    rc = acto_send(sys, st->greeter, HELLO, st->res->name, strlen(st->res->name) + 1);
    st->res->messages++;
    return rc < 0 ? rc : 0;
  case GREETING: { /* payload: a NUL-terminated text, once */
    const char *text = msg->data;
    if (msg->size == 0 || text[msg->size - 1] != '\0' || st->round != 0) return ACTO_EINVAL;
    snprintf(st->res->greeting, sizeof st->res->greeting, "%s", text);
    st->round = 1;
    rc = acto_send(sys, st->greeter, PING, &st->round, sizeof st->round);
    st->res->messages += 2;
    return rc < 0 ? rc : 0;
  }
  case PONG: {
    int round;
    if (msg->size != sizeof round) return ACTO_EINVAL; /* check the size, then copy */
    memcpy(&round, msg->data, sizeof round);
    if (round != st->round || round == 0) return ACTO_EINVAL; /* not the round in play */
    st->res->messages++;
    if (round == ROUNDS) return acto_stop_self(ctx);
    st->round++;
    rc = acto_send(sys, st->greeter, PING, &st->round, sizeof st->round);
    st->res->messages++;
    return rc < 0 ? rc : 0;
  }
  default:
    return ACTO_EINVAL;
  }
}

static void client_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  client_state *st = state;
  st->res->reason = reason;
  sem_post(st->res->done);
}

static const acto_behaviour client = {.name = "client",
                                      .state_size = sizeof(client_state),
                                      .init = client_init,
                                      .handle = client_handle,
                                      .terminate = client_terminate};

/* ---- main ------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "hello: %s: %s (%s)\n", what, acto_strerror(rc), acto_err_name(rc));
  return 1;
}

int main(void) {
  acto_system *sys;
  acto_ref g, c;
  sem_t done;
  client_result res[NCLIENTS] = {{.name = "alice"}, {.name = "bob"}};
  int rc, status = 0;

  if (sem_init(&done, 0, 0) != 0) { perror("hello: sem_init"); return 1; }
  rc = acto_system_create(NULL, &sys);
  if (rc < 0) return fail("acto_system_create", rc);

  acto_spawn_opts gopts = {.name = "greeter"};
  rc = acto_spawn(sys, &greeter, NULL, &gopts, &g);
  if (rc < 0) { status = fail("spawn greeter", rc); goto out; }

  double t0 = now_ms();
  int spawned = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    res[i].done = &done;
    rc = acto_spawn(sys, &client, &res[i], NULL, &c);
    if (rc < 0) { status = fail("spawn client", rc); break; }
    spawned++;
  }

  /* Wait (at most 10 s) for every spawned client's terminate callback. */
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  for (int i = 0; i < spawned; i++) {
    while ((rc = sem_timedwait(&done, &deadline)) != 0 && errno == EINTR) {}
    if (rc != 0) {
      fprintf(stderr, "hello: the clients did not finish in 10 s\n");
      status = 1;
      goto out;
    }
  }
  double ms = now_ms() - t0;
  if (status != 0) goto out;

  unsigned total = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    if (res[i].reason != 0) { status = fail(res[i].name, res[i].reason); continue; }
    printf("hello: %s heard \"%s\" and played %d rounds of ping-pong\n", res[i].name,
           res[i].greeting, ROUNDS);
    total += res[i].messages;
  }
  if (status != 0) goto out;

  acto_stats st;
  rc = acto_get_stats(sys, &st);
  if (rc < 0) { status = fail("acto_get_stats", rc); goto out; }
  printf("hello: %d actors exchanged %u messages in %.1f ms (%llu dead letters)\n",
         NCLIENTS + 1, total, ms, (unsigned long long)st.dead_letters_total);

out:
  rc = acto_system_shutdown(sys);
  if (rc < 0) status = fail("acto_system_shutdown", rc);
  sem_destroy(&done);
  return status;
}
