/* ask.c - the `ask` benchmark: request-reply latency under load.
 *
 * S = 1,000 server actors answer v + 1 to a request carrying v.  C = 16
 * client actors each make N / C chained asynchronous asks (N = 1,000,000
 * x scale): a client picks a server with its own MINSTD generator
 * (x = x * 48271 mod 2^31 - 1, seeded with its index + 1; server x mod S),
 * asks it with acto_ask_async and a 5 s deadline, and in the continuation
 * checks the answer, records the round trip (from just before the ask to
 * the start of the continuation, CLOCK_MONOTONIC) and asks again.  So 16
 * requests are always in flight and every one of them waits behind the
 * others' turns: the tail of the round trip shows how fairly the scheduler
 * shares the workers, the median how fast one hand-off is.
 *
 * msgs = 2 x asks (request + reply).  Extra fields: asks=N and p50_us,
 * p99_us, p999_us, max_us over all round trips (bench/hist.h: nearest
 * rank, within 0.8%, never under the true value).  The peers run the same
 * workload (bench/peers/).
 */
#include "common.h"
#include "hist.h"

#define SERVERS 1000u
#define CLIENTS 16u
#define DEADLINE_MS 5000

enum {
  MSG_GO = 1, /* main -> client: begin */
  MSG_REQ,    /* client -> server: v, answered v + 1 */
};

/* ---- the server ---------------------------------------------------------- */

static int server_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  uint64_t v;

  (void)state;
  BENCH_EXPECT(msg->type == MSG_REQ && msg->size == sizeof v &&
                   (msg->flags & ACTO_MSG_FLAG_REQUEST),
               "server: unexpected message type %" PRIu32 " size %zu", msg->type, msg->size);
  memcpy(&v, msg->data, sizeof v);
  v++;
  BENCH_CHECK(acto_reply(ctx, MSG_REQ, &v, sizeof v));
  return 0;
}

static const acto_behaviour server_behaviour = {
    .name = "ask_server",
    .handle = server_handle,
};

/* ---- the client ---------------------------------------------------------- */

typedef struct client_args {
  const acto_ref *servers;
  unsigned index;
  uint64_t asks; /* to make */
  bench_hist *hist;
  bench_latch *done;
} client_args;

typedef struct client {
  client_args a;
  uint64_t x;  /* MINSTD state */
  uint64_t v;  /* answered asks */
  uint64_t t0; /* ns, just before the ask in flight */
} client;

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_reply(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user);

static void ask_next(acto_ctx *ctx, client *c) {
  c->x = c->x * 48271u % 2147483647u;
  acto_ref to = c->a.servers[c->x % SERVERS];
  c->t0 = now_ns();
  BENCH_CHECK(
      acto_ask_async(ctx, to, MSG_REQ, &c->v, sizeof c->v, DEADLINE_MS, on_reply, NULL, NULL));
}

static void on_reply(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  client *c = state;
  uint64_t r;

  (void)user;
  uint64_t t = now_ns();
  BENCH_EXPECT(status == 0, "client %u: ask %" PRIu64 " ended with %s", c->a.index, c->v,
               acto_err_name(status));
  BENCH_EXPECT(reply->size == sizeof r, "client %u: reply of %zu bytes", c->a.index, reply->size);
  memcpy(&r, reply->data, sizeof r);
  BENCH_EXPECT(r == c->v + 1, "client %u: answer %" PRIu64 " to %" PRIu64, c->a.index, r, c->v);
  bench_hist_record(c->a.hist, t - c->t0);
  c->v = r;
  if (c->v < c->a.asks)
    ask_next(ctx, c);
  else
    bench_latch_arrive(c->a.done);
}

static int client_init(acto_ctx *ctx, void *state, const void *arg) {
  client *c = state;

  (void)ctx;
  c->a = *(const client_args *)arg;
  c->x = c->a.index + 1;
  return 0;
}

static int client_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  client *c = state;

  BENCH_EXPECT(msg->type == MSG_GO, "client: unexpected message type %" PRIu32, msg->type);
  if (c->a.asks > 0)
    ask_next(ctx, c);
  else
    bench_latch_arrive(c->a.done);
  return 0;
}

static const acto_behaviour client_behaviour = {
    .name = "ask_client",
    .state_size = sizeof(client),
    .init = client_init,
    .handle = client_handle,
};

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  bench_start("ask", argc, argv);
  uint64_t n = bench_scaled(1000000, bench_cur.scale);
  uint64_t per = n / CLIENTS;
  n = per * CLIENTS;
  acto_system *sys = bench_system(0);

  acto_ref *servers = calloc(SERVERS, sizeof *servers);
  acto_ref clients[CLIENTS];
  bench_hist *hists = malloc(CLIENTS * sizeof *hists);
  BENCH_EXPECT(servers && hists, "out of memory");
  for (unsigned i = 0; i < SERVERS; i++)
    BENCH_CHECK(acto_spawn(sys, &server_behaviour, NULL, NULL, &servers[i]));
  bench_latch done;
  bench_latch_init(&done, CLIENTS);
  for (unsigned i = 0; i < CLIENTS; i++) {
    bench_hist_init(&hists[i]);
    client_args ca = {servers, i, per, &hists[i], &done};
    BENCH_CHECK(acto_spawn(sys, &client_behaviour, &ca, NULL, &clients[i]));
  }

  double t0 = bench_now();
  for (unsigned i = 0; i < CLIENTS; i++)
    BENCH_CHECK(acto_send(sys, clients[i], MSG_GO, NULL, 0));
  bench_latch_wait(&done);
  double secs = bench_now() - t0;

  /* The latch's mutex made the clients' histograms visible here. */
  bench_hist all;
  bench_hist_init(&all);
  for (unsigned i = 0; i < CLIENTS; i++)
    bench_hist_merge(&all, &hists[i]);
  BENCH_EXPECT(all.n == n, "%" PRIu64 " round trips recorded, expected %" PRIu64, all.n, n);

  acto_stats st;
  bench_check_stats(sys, &st);
  bench_shutdown(sys);
  bench_latch_destroy(&done);
  free(servers);

  bench_report(2 * n, secs, " asks=%" PRIu64 " p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f", n,
               bench_hist_quantile_us(&all, 0.50), bench_hist_quantile_us(&all, 0.99),
               bench_hist_quantile_us(&all, 0.999), (double)all.max / 1000.0);
  free(hists);
  return 0;
}
