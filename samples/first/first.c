/* first.c - the first acto program (ACTORS.md, "A first program"): a
 * counter actor adds the numbers sent to it and answers a request with
 * the total. */
#include <stdio.h>
#include <string.h>

#include <acto/acto.h>

enum { ADD = 1, GET = 2 };

static int counter_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  long *total = state;
  int n;
  if (msg->type == ADD && msg->size == sizeof n) { /* check the size, then copy */
    memcpy(&n, msg->data, sizeof n);
    *total += n;
    return 0;
  }
  if (msg->type == GET && (msg->flags & ACTO_MSG_FLAG_REQUEST))
    return acto_reply(ctx, GET, total, sizeof *total);
  return 0; /* anything else (a short ADD, a GET that is not a request) is ignored */
}

static const acto_behaviour counter = {
    .name = "counter", .state_size = sizeof(long), .handle = counter_handle};

int main(void) {
  acto_system *sys;
  acto_ref c;
  acto_reply_buf r;
  long total = 0;
  int rc = acto_system_create(NULL, &sys);
  if (rc < 0) { fprintf(stderr, "first: %s\n", acto_strerror(rc)); return 1; }
  rc = acto_spawn(sys, &counter, NULL, NULL, &c);
  for (int i = 1; rc >= 0 && i <= 100; i++) rc = acto_send(sys, c, ADD, &i, sizeof i);
  if (rc >= 0) rc = acto_ask(sys, c, GET, NULL, 0, 1000, &r);
  if (rc >= 0) { memcpy(&total, r.data, sizeof total); acto_reply_release(&r); }
  if (rc >= 0) printf("first: the counter says 1 + 2 + ... + 100 = %ld\n", total);
  else fprintf(stderr, "first: %s\n", acto_strerror(rc));
  int rc2 = acto_system_shutdown(sys);
  if (rc2 < 0) fprintf(stderr, "first: shutdown: %s\n", acto_strerror(rc2));
  return rc < 0 || rc2 < 0;
}
