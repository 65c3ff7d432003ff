/* fuzz_handshake.c - libFuzzer target: the handshake state machine and the
 * frame MACs (transport/auth.c) fed arbitrary peer messages.
 *
 * Input layout: a sequence of records, each `u8 len || len bytes` (a
 * record cut short by the end of the input is taken as it is).  The first
 * record is fed to a server, as the HELLO of a peer; the following records
 * go to the server while it is handshaking, then, once the server is
 * refused or DONE, to a client (after it sent its HELLO) as CHALLENGE and
 * beyond; records fed to a DONE side are opened as frames whose last 32
 * bytes (if any) are the tag.  Nonces and the key are fixed so that every
 * input replays the same way.
 *
 * The seed corpus (tests/fuzz/corpus/handshake/) holds valid exchanges for
 * these fixed nonces and key: a HELLO alone; a HELLO, the RESPONSE and a
 * sealed frame (server DONE); a refused first record, then a CHALLENGE that
 * verifies for the client and a frame (client DONE); a version mismatch; a
 * truncated HELLO.
 *
 * Besides "no crash, no leak, no read past a record", the target checks:
 *   - a side is never DONE without a peer name, nor has one before DONE;
 *   - every reply fits ACTO__AUTH_MSG_MAX and starts with msgpack bin 8;
 *   - once refused, a side refuses everything after.
 * A violated check calls abort().
 *
 * The source is included rather than linked from acto_static (as in
 * fuzz_frame.c), so the fuzz build instruments it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/auth.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

static const uint8_t NONCE_C[32] = {0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t NONCE_S[32] = {0x50, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static acto__auth_key fuzz_key(void) {
  acto__auth_key k;
  for (unsigned i = 0; i < 32; i++)
    k.bytes[i] = (uint8_t)(0x41 + i);
  k.len = 32;
  return k;
}

static void check_side(const acto__auth *a) {
  const char *peer = acto__auth_peer_name(a);
  CHECK((a->state == ACTO__AUTH_S_DONE) == (peer != NULL));
  if (peer != NULL)
    CHECK(strlen(peer) >= 1 && strlen(peer) <= ACTO__AUTH_NAME_MAX);
}

/* Feed one record to a side; returns its state afterwards. */
static int feed_one(acto__auth *a, const uint8_t *rec, size_t n) {
  int before = a->state;
  /* Exactly-sized copy: ASan sees any read past the record. */
  uint8_t *copy = malloc(n ? n : 1);
  CHECK(copy != NULL);
  if (n)
    memcpy(copy, rec, n);
  if (before == ACTO__AUTH_S_DONE) {
    if (n >= ACTO__AUTH_TAG_LEN) {
      int rc = acto__auth_open(a, copy, n - ACTO__AUTH_TAG_LEN, copy + n - ACTO__AUTH_TAG_LEN);
      CHECK(rc == 0 || rc == ACTO_EPROTO);
      uint8_t tag[ACTO__AUTH_TAG_LEN];
      if (rc == 0)
        CHECK(acto__auth_seal(a, copy, n, tag) == 0);
    }
  } else {
    uint8_t out[ACTO__AUTH_MSG_MAX];
    size_t out_len = 0;
    int rc = acto__auth_feed(a, copy, n, out, sizeof out, &out_len);
    CHECK(rc == ACTO__AUTH_MORE || rc == ACTO__AUTH_DONE || rc == ACTO_EPROTO);
    if (before == ACTO__AUTH_S_FAILED)
      CHECK(rc == ACTO_EPROTO);
    if (rc == ACTO_EPROTO)
      CHECK(a->state == ACTO__AUTH_S_FAILED && acto__auth_reason(a) != NULL);
    CHECK(out_len <= ACTO__AUTH_MSG_MAX);
    if (out_len > 0)
      CHECK(out[0] == 0xc4 && (size_t)out[1] + 2 == out_len);
  }
  free(copy);
  check_side(a);
  return a->state;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  acto__auth_key k = fuzz_key();
  acto__auth s, c;
  CHECK(acto__auth_init(&s, ACTO__AUTH_SERVER, "server-1", &k, NONCE_S) == 0);
  CHECK(acto__auth_init(&c, ACTO__AUTH_CLIENT, "client-1", &k, NONCE_C) == 0);
  uint8_t hello[ACTO__AUTH_MSG_MAX];
  CHECK(acto__auth_start(&c, hello, sizeof hello) > 0);
  int server_turn = 1, frames_to_server = 0;
  size_t at = 0;
  while (at < size) {
    size_t n = data[at++];
    if (n > size - at)
      n = size - at;
    const uint8_t *rec = data + at;
    at += n;
    if (server_turn) {
      int st = feed_one(&s, rec, n);
      /* The server keeps the records until it is refused, or DONE and a
       * frame was tried; then the client gets the rest. */
      if (st == ACTO__AUTH_S_FAILED || (st == ACTO__AUTH_S_DONE && frames_to_server++ > 0))
        server_turn = 0;
    } else {
      feed_one(&c, rec, n);
    }
  }
  acto__auth_clear(&s);
  acto__auth_clear(&c);
  return 0;
}
