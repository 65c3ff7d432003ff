/* test_journal.c - the journal (include/acto/acto_journal.h): the byte layout
 * of its files, append and replay with sequence numbers, torn tails cut at
 * every offset, flipped bits, garbage and huge length fields, snapshots and
 * crashes at each step of taking one, the sync modes and the snapshot hint,
 * argument checking, and a writer killed by SIGKILL at random points.
 *
 * Each test works in its own directory under one temporary base directory
 * that main() creates and removes; a test removes its own directory when it
 * passes (a failing test's directory is removed with the base).  Files are
 * damaged by rewriting them with plain stdio, following the layout in
 * ACTORS.md ("Journal"), which the first tests check byte for byte with an
 * independent bit-by-bit CRC-32C.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <acto/acto.h>

#include "testutil.h"

enum { LOG_HDR = 32, REC_HDR = 16, SNAP_HDR = 32 };

static char g_base[128]; /* the base directory, made by main() */
static uint64_t g_seed;

/* ---- the test's directory and files ---------------------------------- */

typedef struct fixture {
  char dir[160];  /* this test's directory */
  char path[192]; /* the journal: dir/j */
  char log[224];  /* dir/j/journal.log */
  char snap[224]; /* dir/j/journal.snap */
} fixture;

static void fx_init(fixture *f) {
  snprintf(f->dir, sizeof f->dir, "%s/tXXXXXX", g_base);
  ck_assert_ptr_nonnull(mkdtemp(f->dir));
  snprintf(f->path, sizeof f->path, "%s/j", f->dir);
  snprintf(f->log, sizeof f->log, "%s/journal.log", f->path);
  snprintf(f->snap, sizeof f->snap, "%s/journal.snap", f->path);
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(p);
}

static void rm_tree(const char *dir) {
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void fx_done(fixture *f) {
  rm_tree(f->dir);
  struct stat st;
  ck_assert_int_ne(stat(f->dir, &st), 0);
}

/* A whole file into memory (NULL if absent). */
static uint8_t *file_read(const char *p, size_t *len) {
  FILE *fp = fopen(p, "rb");
  if (!fp)
    return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  TU_HOT_ASSERT(b != NULL);
  TU_HOT_ASSERT(fread(b, 1, (size_t)n, fp) == (size_t)n);
  fclose(fp);
  *len = (size_t)n;
  return b;
}

static void file_write(const char *p, const void *b, size_t len) {
  FILE *fp = fopen(p, "wb");
  TU_HOT_ASSERT(fp != NULL);
  TU_HOT_ASSERT(len == 0 || fwrite(b, 1, len, fp) == len);
  TU_HOT_ASSERT(fclose(fp) == 0);
}

static long file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- an independent CRC-32C and little-endian fields -------------------- */

static uint32_t ref_crc32c(const void *buf, size_t n) {
  const uint8_t *p = buf;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void set32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void set64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- payloads that say which record they belong to -------------------- */

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static uint8_t pattern_byte(uint64_t m, size_t i) {
  return (uint8_t)(m >> ((i % 8) * 8)) ^ (uint8_t)(i * 131u);
}

static void fill(uint8_t *b, uint64_t seq, size_t len) {
  uint64_t m = mix(seq);
  for (size_t i = 0; i < len; i++)
    b[i] = pattern_byte(m, i);
}

static int matches(const uint8_t *b, uint64_t seq, size_t len) {
  uint64_t m = mix(seq);
  for (size_t i = 0; i < len; i++)
    if (b[i] != pattern_byte(m, i))
      return 0;
  return 1;
}

/* Appends record `seq` of len pattern bytes and checks its sequence
 * number. */
static int append_pattern(acto_journal *j, uint64_t seq, size_t len) {
  uint8_t *b = malloc(len ? len : 1);
  TU_HOT_ASSERT(b != NULL);
  fill(b, seq, len);
  uint64_t got = 0;
  int rc = acto_journal_append(j, b, len, &got);
  free(b);
  if (rc >= 0)
    TU_HOT_ASSERT(got == seq);
  return rc;
}

/* ---- collecting a replay ------------------------------------------------ */

typedef struct rec {
  uint64_t seq;
  size_t len;
  uint8_t *data;
} rec;

typedef struct collected {
  int snapshots;
  uint64_t snap_seq;
  uint8_t *snap;
  size_t snap_len;
  rec *recs;
  size_t n, cap;
  int fail_at_seq; /* non-zero: on_record returns -1234 for this seq */
} collected;

static int on_snap(void *user, uint64_t seq, const void *state, size_t len) {
  collected *c = user;
  c->snapshots++;
  c->snap_seq = seq;
  free(c->snap);
  c->snap = malloc(len + 1);
  TU_HOT_ASSERT(c->snap != NULL);
  if (len)
    memcpy(c->snap, state, len);
  c->snap_len = len;
  return 0;
}

static int on_rec(void *user, uint64_t seq, const void *data, size_t len) {
  collected *c = user;
  if (c->fail_at_seq && seq == (uint64_t)c->fail_at_seq)
    return -1234;
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 64;
    c->recs = realloc(c->recs, c->cap * sizeof *c->recs);
    TU_HOT_ASSERT(c->recs != NULL);
  }
  rec *r = &c->recs[c->n++];
  r->seq = seq;
  r->len = len;
  r->data = malloc(len + 1);
  TU_HOT_ASSERT(r->data != NULL);
  if (len)
    memcpy(r->data, data, len);
  return 0;
}

static int on_snap_refuse(void *user, uint64_t seq, const void *state, size_t len) {
  (void)user, (void)seq, (void)state, (void)len;
  return -99;
}

static void collected_free(collected *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->recs[i].data);
  free(c->recs);
  free(c->snap);
  memset(c, 0, sizeof *c);
}

static const acto_journal_opts k_fast = {.sync = ACTO_JOURNAL_SYNC_NONE};

static acto_journal *open_ok(const fixture *f, const acto_journal_opts *o) {
  acto_journal *j = NULL;
  int rc = acto_journal_open(f->path, o, &j);
  TU_HOT_ASSERT(rc == 0 && j != NULL);
  return j;
}

/* Opens, replays into *c (freed first) and returns the handle. */
static acto_journal *open_replay(const fixture *f, const acto_journal_opts *o, collected *c,
                                 acto_journal_replay_info *info) {
  collected_free(c);
  acto_journal *j = open_ok(f, o);
  int rc = acto_journal_replay(j, on_snap, on_rec, c, info);
  TU_HOT_ASSERT(rc == 0);
  return j;
}

/* A journal holding records 1..n, record i with len(i) pattern bytes. */
static void make_journal(const fixture *f, uint64_t n, size_t (*len)(uint64_t)) {
  acto_journal *j = open_ok(f, &k_fast);
  ck_assert_ok(acto_journal_replay(j, NULL, NULL, NULL, NULL));
  for (uint64_t s = 1; s <= n; s++)
    TU_HOT_ASSERT(append_pattern(j, s, len(s)) == 0);
  ck_assert_ok(acto_journal_close(j));
}

static size_t len_varied(uint64_t seq) { return (size_t)(mix(seq) % 301); }
static size_t len_24(uint64_t seq) { return (void)seq, 24; }

/* Records 1..n in c, each with its pattern. */
static void expect_records(const collected *c, uint64_t first, uint64_t last,
                           size_t (*len)(uint64_t)) {
  TU_HOT_ASSERT(c->n == last - first + 1 || (last < first && c->n == 0));
  for (size_t i = 0; i < c->n; i++) {
    TU_HOT_ASSERT(c->recs[i].seq == first + i);
    TU_HOT_ASSERT(c->recs[i].len == len(first + i));
    TU_HOT_ASSERT(matches(c->recs[i].data, first + i, c->recs[i].len));
  }
}

/* ---- format ------------------------------------------------------------ */

START_TEST(crc32c_and_the_bytes_on_disk_follow_the_documented_layout) {
  ck_assert_uint_eq(ref_crc32c("123456789", 9), 0xE3069283u); /* the standard check */
  fixture f;
  fx_init(&f);
  acto_journal *j = open_ok(&f, &k_fast);
  ck_assert_ok(acto_journal_replay(j, NULL, NULL, NULL, NULL));
  uint64_t seq = 0;
  ck_assert_ok(acto_journal_append(j, "hello", 5, &seq));
  ck_assert_uint_eq(seq, 1);
  ck_assert_ok(acto_journal_append(j, NULL, 0, &seq));
  ck_assert_uint_eq(seq, 2);

  size_t n;
  uint8_t *b = file_read(f.log, &n);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(n, LOG_HDR + REC_HDR + 5 + REC_HDR);
  ck_assert_mem_eq(b, "ACTOJLOG", 8);
  ck_assert_uint_eq(le32(b + 8), 1);  /* version */
  ck_assert_uint_eq(le32(b + 12), 0); /* flags */
  ck_assert_uint_eq(le64(b + 16), 0); /* base: the first record is 1 */
  ck_assert_uint_eq(le32(b + 24), 0);
  ck_assert_uint_eq(le32(b + 28), ref_crc32c(b, 28));
  const uint8_t *r = b + LOG_HDR;
  ck_assert_uint_eq(le32(r + 4), 5);
  ck_assert_uint_eq(le64(r + 8), 1);
  ck_assert_mem_eq(r + 16, "hello", 5);
  ck_assert_uint_eq(le32(r), ref_crc32c(r + 4, 12 + 5));
  r += REC_HDR + 5;
  ck_assert_uint_eq(le32(r + 4), 0);
  ck_assert_uint_eq(le64(r + 8), 2);
  ck_assert_uint_eq(le32(r), ref_crc32c(r + 4, 12));
  free(b);

  ck_assert_ok(acto_journal_snapshot(j, "STATE", 5));
  b = file_read(f.snap, &n);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(n, SNAP_HDR + 5 + 4);
  ck_assert_mem_eq(b, "ACTOSNAP", 8);
  ck_assert_uint_eq(le32(b + 8), 1);
  ck_assert_uint_eq(le32(b + 12), 0);
  ck_assert_uint_eq(le64(b + 16), 2); /* covers records 1 and 2 */
  ck_assert_uint_eq(le64(b + 24), 5);
  ck_assert_mem_eq(b + 32, "STATE", 5);
  ck_assert_uint_eq(le32(b + 37), ref_crc32c(b, 37));
  free(b);
  b = file_read(f.log, &n); /* a fresh log continuing after 2 */
  ck_assert_uint_eq(n, LOG_HDR);
  ck_assert_uint_eq(le64(b + 16), 2);
  ck_assert_uint_eq(le32(b + 28), ref_crc32c(b, 28));
  free(b);
  ck_assert_ok(acto_journal_close(j));
  fx_done(&f);
}
END_TEST

/* ---- append and replay ------------------------------------------------- */

START_TEST(a_new_journal_replays_empty_and_appends_from_sequence_one) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  memset(&info, 0xAB, sizeof info);
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_int_eq(info.has_snapshot, 0);
  ck_assert_uint_eq(info.records, 0);
  ck_assert_uint_eq(info.skipped, 0);
  ck_assert_uint_eq(info.last_seq, 0);
  ck_assert_uint_eq(info.dropped_bytes, 0);
  ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_CLEAN);
  ck_assert_int_eq(c.snapshots, 0);
  ck_assert_uint_eq(c.n, 0);
  ck_assert_int_eq(file_size(f.log), LOG_HDR);
  for (uint64_t s = 1; s <= 100; s++)
    TU_HOT_ASSERT(append_pattern(j, s, len_varied(s)) == 0);
  ck_assert_ok(acto_journal_close(j));

  j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 1, 100, len_varied);
  ck_assert_uint_eq(info.records, 100);
  ck_assert_uint_eq(info.last_seq, 100);
  ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_CLEAN);
  ck_assert_int_eq(c.snapshots, 0);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(each_reopen_continues_the_sequence_after_the_last_record) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  for (uint64_t session = 0; session < 5; session++) {
    acto_journal *j = open_replay(&f, &k_fast, &c, &info);
    expect_records(&c, 1, session * 10, len_varied);
    ck_assert_uint_eq(info.last_seq, session * 10);
    for (uint64_t s = session * 10 + 1; s <= session * 10 + 10; s++)
      TU_HOT_ASSERT(append_pattern(j, s, len_varied(s)) == 0);
    ck_assert_ok(acto_journal_close(j));
  }
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 1, 50, len_varied);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(append_and_snapshot_before_replay_fail_and_a_second_replay_is_ealready) {
  fixture f;
  fx_init(&f);
  acto_journal *j = open_ok(&f, &k_fast);
  uint64_t seq = 77;
  ck_assert_rc(acto_journal_append(j, "x", 1, &seq), ACTO_EINVAL);
  ck_assert_uint_eq(seq, 77);
  ck_assert_rc(acto_journal_snapshot(j, "s", 1), ACTO_EINVAL);
  ck_assert_ok(acto_journal_sync(j)); /* nothing to flush */
  ck_assert_ok(acto_journal_replay(j, NULL, NULL, NULL, NULL));
  ck_assert_rc(acto_journal_replay(j, NULL, NULL, NULL, NULL), ACTO_EALREADY);
  ck_assert_ok(acto_journal_append(j, "x", 1, &seq));
  ck_assert_uint_eq(seq, 1);
  ck_assert_ok(acto_journal_close(j));
  fx_done(&f);
}
END_TEST

START_TEST(a_negative_callback_value_stops_replay_which_can_be_repeated) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 5, len_varied);
  collected c = {.fail_at_seq = 3};
  acto_journal *j = open_ok(&f, &k_fast);
  ck_assert_rc(acto_journal_replay(j, on_snap, on_rec, &c, NULL), -1234);
  ck_assert_uint_eq(c.n, 2);
  ck_assert_rc(acto_journal_append(j, "x", 1, NULL), ACTO_EINVAL);
  collected_free(&c);
  acto_journal_replay_info info;
  ck_assert_ok(acto_journal_replay(j, on_snap, on_rec, &c, &info));
  expect_records(&c, 1, 5, len_varied);
  TU_HOT_ASSERT(append_pattern(j, 6, len_varied(6)) == 0);
  ck_assert_ok(acto_journal_snapshot(j, "S", 1));
  ck_assert_ok(acto_journal_close(j));

  /* A snapshot callback's refusal stops the replay before any record. */
  j = open_ok(&f, &k_fast);
  ck_assert_rc(acto_journal_replay(j, on_snap_refuse, on_rec, &c, NULL), -99);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

/* ---- torn tails and corruption ------------------------------------------ */

static size_t len_torn(uint64_t seq) { return seq == 5 ? 100 : (size_t)seq * 7; }

START_TEST(a_torn_tail_cut_at_every_offset_of_the_last_record_is_dropped_and_truncated) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 5, len_torn);
  size_t n;
  uint8_t *full = file_read(f.log, &n);
  size_t last_start = n - (REC_HDR + 100);
  collected c = {0};
  acto_journal_replay_info info;
  for (size_t cut = last_start; cut < n; cut++) {
    file_write(f.log, full, cut);
    acto_journal *j = open_replay(&f, &k_fast, &c, &info);
    expect_records(&c, 1, 4, len_torn); /* everything before the torn record */
    TU_HOT_ASSERT(info.last_seq == 4);
    TU_HOT_ASSERT(info.dropped_bytes == cut - last_start);
    TU_HOT_ASSERT(info.tail == (cut == last_start ? ACTO_JOURNAL_TAIL_CLEAN : ACTO_JOURNAL_TAIL_TORN));
    TU_HOT_ASSERT(file_size(f.log) == (long)last_start); /* cut off the file */
    TU_HOT_ASSERT(append_pattern(j, 5, 33) == 0);          /* and the next append is clean */
    TU_HOT_ASSERT(acto_journal_close(j) == 0);

    j = open_replay(&f, &k_fast, &c, &info);
    TU_HOT_ASSERT(c.n == 5 && info.records == 5 && info.last_seq == 5);
    TU_HOT_ASSERT(info.dropped_bytes == 0 && info.tail == ACTO_JOURNAL_TAIL_CLEAN);
    TU_HOT_ASSERT(c.recs[4].seq == 5 && c.recs[4].len == 33 && matches(c.recs[4].data, 5, 33));
    TU_HOT_ASSERT(acto_journal_close(j) == 0);
  }
  free(full);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_flipped_bit_anywhere_in_a_record_stops_replay_just_before_it) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 3, len_24);
  size_t n;
  uint8_t *full = file_read(f.log, &n);
  ck_assert_uint_eq(n, LOG_HDR + 3 * (REC_HDR + 24));
  uint8_t *copy = malloc(n);
  collected c = {0};
  acto_journal_replay_info info;
  for (uint64_t k = 0; k < 3; k++) { /* the damaged record is k + 1 */
    size_t start = LOG_HDR + (size_t)k * (REC_HDR + 24);
    for (size_t byte = start; byte < start + REC_HDR + 24; byte++) {
      for (int bit = 0; bit < 8; bit++) {
        memcpy(copy, full, n);
        copy[byte] ^= (uint8_t)(1u << bit);
        file_write(f.log, copy, n);
        acto_journal *j = open_replay(&f, &k_fast, &c, &info);
        expect_records(&c, 1, k, len_24);
        TU_HOT_ASSERT(info.tail == ACTO_JOURNAL_TAIL_CORRUPT || info.tail == ACTO_JOURNAL_TAIL_TORN);
        TU_HOT_ASSERT(info.dropped_bytes == n - start);
        TU_HOT_ASSERT(file_size(f.log) == (long)start);
        TU_HOT_ASSERT(acto_journal_close(j) == 0);
      }
    }
  }
  free(copy);
  free(full);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_well_formed_record_out_of_sequence_is_stale_data_and_is_cut) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 3, len_24);
  size_t n;
  uint8_t *b = file_read(f.log, &n);
  uint8_t *r3 = b + LOG_HDR + 2 * (REC_HDR + 24);
  set64(r3 + 8, 7); /* record 3 claims to be 7, with a correct checksum */
  set32(r3, ref_crc32c(r3 + 4, 12 + 24));
  file_write(f.log, b, n);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 1, 2, len_24);
  ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_SEQUENCE);
  ck_assert_uint_eq(info.dropped_bytes, REC_HDR + 24);
  ck_assert_uint_eq(info.last_seq, 2);
  ck_assert_int_eq(append_pattern(j, 3, 24), 0);
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 1, 3, len_24);
  ck_assert_ok(acto_journal_close(j));
  free(b);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

START_TEST(a_garbage_log_fails_replay_with_eio_and_is_left_untouched) {
  fixture f;
  fx_init(&f);
  ck_assert_int_eq(mkdir(f.path, 0700), 0);
  uint64_t rng = g_seed | 1;
  uint8_t garbage[4096];
  for (size_t i = 0; i < sizeof garbage; i++)
    garbage[i] = (uint8_t)rng_next(&rng);
  const size_t sizes[] = {sizeof garbage, LOG_HDR, LOG_HDR - 1, 10, 1};
  collected c = {0};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    file_write(f.log, garbage, sizes[s]);
    acto_journal *j = open_ok(&f, &k_fast);
    errno = 0;
    ck_assert_rc(acto_journal_replay(j, on_snap, on_rec, &c, NULL), ACTO_EIO);
    ck_assert_int_eq(errno, EBADMSG);
    ck_assert_int_eq(c.snapshots, 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_rc(acto_journal_append(j, "x", 1, NULL), ACTO_EINVAL);
    ck_assert_ok(acto_journal_close(j));
    size_t n;
    uint8_t *b = file_read(f.log, &n);
    ck_assert_uint_eq(n, sizes[s]);
    ck_assert_mem_eq(b, garbage, n);
    free(b);
  }

  /* An empty file is a new journal. */
  file_write(f.log, NULL, 0);
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(info.last_seq, 0);
  ck_assert_int_eq(append_pattern(j, 1, 24), 0);
  ck_assert_ok(acto_journal_close(j));

  /* A valid header followed by garbage: all of it is a torn tail. */
  size_t n;
  uint8_t *b = file_read(f.log, &n);
  uint8_t *mixed = malloc(LOG_HDR + sizeof garbage);
  memcpy(mixed, b, LOG_HDR);
  memcpy(mixed + LOG_HDR, garbage, sizeof garbage);
  file_write(f.log, mixed, LOG_HDR + sizeof garbage);
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.n, 0);
  ck_assert_uint_eq(info.dropped_bytes, sizeof garbage);
  ck_assert(info.tail == ACTO_JOURNAL_TAIL_TORN || info.tail == ACTO_JOURNAL_TAIL_CORRUPT);
  ck_assert_int_eq(file_size(f.log), LOG_HDR);
  ck_assert_int_eq(append_pattern(j, 1, 24), 0);
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 1, 1, len_24);
  ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_CLEAN);
  ck_assert_ok(acto_journal_close(j));
  free(mixed);
  free(b);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_damaged_log_header_fails_replay_with_eio_and_changes_nothing) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 2, len_24);
  size_t n;
  uint8_t *full = file_read(f.log, &n);
  uint8_t *copy = malloc(n);
  collected c = {0};
  for (size_t byte = 0; byte < LOG_HDR; byte++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(copy, full, n);
      copy[byte] ^= (uint8_t)(1u << bit);
      file_write(f.log, copy, n);
      acto_journal *j = open_ok(&f, &k_fast);
      errno = 0;
      TU_HOT_ASSERT(acto_journal_replay(j, on_snap, on_rec, &c, NULL) == ACTO_EIO);
      TU_HOT_ASSERT(errno == EBADMSG);
      TU_HOT_ASSERT(c.n == 0 && c.snapshots == 0);
      TU_HOT_ASSERT(acto_journal_close(j) == 0);
      TU_HOT_ASSERT(file_size(f.log) == (long)n);
    }
  }
  /* A later format version with a valid checksum is refused as such. */
  memcpy(copy, full, n);
  set32(copy + 8, 2);
  set32(copy + 28, ref_crc32c(copy, 28));
  file_write(f.log, copy, n);
  acto_journal *j = open_ok(&f, &k_fast);
  errno = 0;
  ck_assert_rc(acto_journal_replay(j, NULL, NULL, NULL, NULL), ACTO_EIO);
  ck_assert_int_eq(errno, ENOTSUP);
  ck_assert_ok(acto_journal_close(j));
  free(copy);
  free(full);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_huge_length_field_is_corruption_and_is_never_allocated) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 3, len_24);
  size_t n;
  uint8_t *full = file_read(f.log, &n);
  uint8_t *copy = malloc(n);
  const size_t r2 = LOG_HDR + REC_HDR + 24, r3 = r2 + REC_HDR + 24;
  collected c = {0};
  acto_journal_replay_info info;
  const uint32_t huge[] = {0xFFFFFFFFu, 0x80000000u, 0x40000001u, (1u << 20) + 1, 1u << 20, 25};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    memcpy(copy, full, n);
    set32(copy + r3 + 4, huge[i]); /* the last record's length points past the end */
    file_write(f.log, copy, n);
    acto_journal *j = open_replay(&f, &k_fast, &c, &info);
    expect_records(&c, 1, 2, len_24);
    ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_TORN);
    ck_assert_uint_eq(info.dropped_bytes, n - r3);
    ck_assert_ok(acto_journal_close(j));
  }
  /* Above max_record but inside the file: checked without allocating, and
   * a failed checksum makes it corruption. */
  acto_journal_opts small = {.sync = ACTO_JOURNAL_SYNC_NONE, .max_record = 30};
  memcpy(copy, full, n);
  set32(copy + r2 + 4, 40);
  file_write(f.log, copy, n);
  acto_journal *j = open_replay(&f, &small, &c, &info);
  expect_records(&c, 1, 1, len_24);
  ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_CORRUPT);
  ck_assert_uint_eq(info.dropped_bytes, n - r2);
  ck_assert_int_eq(file_size(f.log), (long)r2);
  ck_assert_ok(acto_journal_close(j));
  free(copy);
  free(full);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

static size_t len_big2(uint64_t seq) { return seq == 2 ? 500 : 24; }

START_TEST(a_valid_record_above_a_lowered_max_record_fails_with_etoobig_and_is_kept) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 3, len_big2);
  size_t n;
  uint8_t *full = file_read(f.log, &n);
  acto_journal_opts small = {.sync = ACTO_JOURNAL_SYNC_NONE, .max_record = 100};
  acto_journal *j = open_ok(&f, &small);
  collected c = {0};
  ck_assert_rc(acto_journal_replay(j, on_snap, on_rec, &c, NULL), ACTO_ETOOBIG);
  ck_assert_uint_eq(c.n, 1); /* record 1 was passed; the caller discards it */
  ck_assert_rc(acto_journal_append(j, "x", 1, NULL), ACTO_EINVAL);
  ck_assert_ok(acto_journal_close(j));
  size_t m;
  uint8_t *after = file_read(f.log, &m);
  ck_assert_uint_eq(m, n);
  ck_assert_mem_eq(after, full, n);
  acto_journal_replay_info info;
  j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 1, 3, len_big2);
  ck_assert_ok(acto_journal_close(j));
  free(after);
  free(full);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

/* ---- snapshots ------------------------------------------------------------ */

START_TEST(snapshot_then_records_replays_the_snapshot_and_the_later_records_only) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  for (uint64_t s = 1; s <= 10; s++)
    TU_HOT_ASSERT(append_pattern(j, s, len_varied(s)) == 0);
  ck_assert_ok(acto_journal_snapshot(j, "state@10", 8));
  ck_assert_int_eq(file_size(f.log), LOG_HDR);
  for (uint64_t s = 11; s <= 15; s++)
    TU_HOT_ASSERT(append_pattern(j, s, len_varied(s)) == 0);
  ck_assert_ok(acto_journal_close(j));

  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_int_eq(c.snapshots, 1);
  ck_assert_uint_eq(c.snap_seq, 10);
  ck_assert_uint_eq(c.snap_len, 8);
  ck_assert_mem_eq(c.snap, "state@10", 8);
  expect_records(&c, 11, 15, len_varied);
  ck_assert_int_eq(info.has_snapshot, 1);
  ck_assert_uint_eq(info.snapshot_seq, 10);
  ck_assert_uint_eq(info.snapshot_bytes, 8);
  ck_assert_uint_eq(info.records, 5);
  ck_assert_uint_eq(info.skipped, 0);
  ck_assert_uint_eq(info.last_seq, 15);
  /* An empty state is a valid snapshot too; it covers 1..15. */
  ck_assert_ok(acto_journal_snapshot(j, NULL, 0));
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_int_eq(c.snapshots, 1);
  ck_assert_uint_eq(c.snap_seq, 15);
  ck_assert_uint_eq(c.snap_len, 0);
  ck_assert_uint_eq(c.n, 0);
  ck_assert_uint_eq(info.last_seq, 15);
  ck_assert_int_eq(append_pattern(j, 16, 5), 0);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_crash_between_snapshot_rename_and_log_reset_skips_covered_records) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 10, len_varied);
  size_t n;
  uint8_t *old = file_read(f.log, &n);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_ok(acto_journal_snapshot(j, "S10", 3));
  ck_assert_ok(acto_journal_close(j));
  file_write(f.log, old, n); /* the log reset never happened */

  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_int_eq(c.snapshots, 1);
  ck_assert_uint_eq(c.snap_seq, 10);
  ck_assert_mem_eq(c.snap, "S10", 3);
  ck_assert_uint_eq(c.n, 0);
  ck_assert_uint_eq(info.skipped, 10);
  ck_assert_uint_eq(info.last_seq, 10);
  ck_assert_int_eq(file_size(f.log), LOG_HDR); /* replay finished the reset */
  ck_assert_int_eq(append_pattern(j, 11, 7), 0);
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.snap_seq, 10);
  ck_assert_uint_eq(c.n, 1);
  ck_assert_uint_eq(c.recs[0].seq, 11);
  ck_assert_uint_eq(info.skipped, 0);
  ck_assert_ok(acto_journal_close(j));

  /* The same crash, but the old log lost its unflushed tail (SYNC_NONE and
   * a power cut): it ends inside record 6, before the snapshot's number. */
  size_t r6 = LOG_HDR;
  for (uint64_t s = 1; s <= 5; s++)
    r6 += REC_HDR + len_varied(s);
  file_write(f.log, old, r6 + 5);
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.snap_seq, 10);
  ck_assert_uint_eq(c.n, 0);
  ck_assert_uint_eq(info.skipped, 5);
  ck_assert_uint_eq(info.last_seq, 10);
  ck_assert_int_eq(file_size(f.log), LOG_HDR);
  ck_assert_int_eq(append_pattern(j, 11, 7), 0);
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.n, 1);
  ck_assert_uint_eq(c.recs[0].seq, 11);
  ck_assert_ok(acto_journal_close(j));
  free(old);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

/* A snapshot file written by hand from the documented layout. */
static void write_snapshot(const char *p, uint64_t seq, const void *state, size_t len) {
  uint8_t *b = calloc(1, SNAP_HDR + len + 4);
  memcpy(b, "ACTOSNAP", 8);
  set32(b + 8, 1);
  set64(b + 16, seq);
  set64(b + 24, len);
  memcpy(b + SNAP_HDR, state, len);
  set32(b + SNAP_HDR + len, ref_crc32c(b, SNAP_HDR + len));
  file_write(p, b, SNAP_HDR + len + 4);
  free(b);
}

START_TEST(a_snapshot_inside_the_log_skips_the_records_it_covers_and_keeps_the_rest) {
  fixture f;
  fx_init(&f);
  make_journal(&f, 10, len_varied);
  write_snapshot(f.snap, 6, "abc", 3);
  long size = file_size(f.log);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.snap_seq, 6);
  ck_assert_mem_eq(c.snap, "abc", 3);
  expect_records(&c, 7, 10, len_varied);
  ck_assert_uint_eq(info.skipped, 6);
  ck_assert_int_eq(file_size(f.log), size); /* records after 6 live here */
  ck_assert_int_eq(append_pattern(j, 11, len_varied(11)), 0);
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  expect_records(&c, 7, 11, len_varied);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_crash_before_the_snapshot_rename_leaves_the_old_snapshot_and_the_whole_log) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  for (uint64_t s = 1; s <= 3; s++)
    TU_HOT_ASSERT(append_pattern(j, s, 24) == 0);
  ck_assert_ok(acto_journal_snapshot(j, "old", 3));
  for (uint64_t s = 4; s <= 7; s++)
    TU_HOT_ASSERT(append_pattern(j, s, 24) == 0);
  ck_assert_ok(acto_journal_close(j));
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s/journal.snap.tmp", f.path);
  file_write(tmp, "ACTOSNAP half-written", 21);
  snprintf(tmp, sizeof tmp, "%s/journal.log.tmp", f.path);
  file_write(tmp, "ACTOJ", 5);

  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.snap_seq, 3);
  ck_assert_mem_eq(c.snap, "old", 3);
  expect_records(&c, 4, 7, len_24);
  ck_assert_int_eq(file_size(tmp), -1); /* leftovers removed */
  snprintf(tmp, sizeof tmp, "%s/journal.snap.tmp", f.path);
  ck_assert_int_eq(file_size(tmp), -1);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(a_corrupt_or_missing_snapshot_fails_replay_with_eio_before_any_callback) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  for (uint64_t s = 1; s <= 5; s++)
    TU_HOT_ASSERT(append_pattern(j, s, 24) == 0);
  ck_assert_ok(acto_journal_snapshot(j, "the state", 9));
  for (uint64_t s = 6; s <= 7; s++)
    TU_HOT_ASSERT(append_pattern(j, s, 24) == 0);
  ck_assert_ok(acto_journal_close(j));
  size_t sn, ln;
  uint8_t *snap = file_read(f.snap, &sn);
  uint8_t *log = file_read(f.log, &ln);
  uint8_t *copy = malloc(sn);

  /* Every cut and every flipped bit: the snapshot cannot be read, so the
   * state cannot be rebuilt, and replay says so instead of starting over. */
  for (size_t cut = 0; cut <= sn; cut++) {
    for (size_t flip = 0; flip < (cut == sn ? sn * 8 : 1); flip++) {
      memcpy(copy, snap, sn);
      if (cut == sn)
        copy[flip / 8] ^= (uint8_t)(1u << (flip % 8));
      file_write(f.snap, copy, cut);
      j = open_ok(&f, &k_fast);
      errno = 0;
      TU_HOT_ASSERT(acto_journal_replay(j, on_snap, on_rec, &c, NULL) == ACTO_EIO);
      TU_HOT_ASSERT(errno == EBADMSG);
      TU_HOT_ASSERT(c.snapshots == 0 && c.n == 0);
      TU_HOT_ASSERT(acto_journal_close(j) == 0);
      size_t m;
      uint8_t *b = file_read(f.log, &m); /* the log is untouched */
      TU_HOT_ASSERT(m == ln && memcmp(b, log, ln) == 0);
      free(b);
    }
  }

  /* No snapshot at all, but a log that starts after one. */
  ck_assert_int_eq(remove(f.snap), 0);
  j = open_ok(&f, &k_fast);
  errno = 0;
  ck_assert_rc(acto_journal_replay(j, on_snap, on_rec, &c, NULL), ACTO_EIO);
  ck_assert_int_eq(errno, EBADMSG);
  ck_assert_ok(acto_journal_close(j));

  /* Restored, it replays. */
  file_write(f.snap, snap, sn);
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.snap_seq, 5);
  expect_records(&c, 6, 7, len_24);
  ck_assert_ok(acto_journal_close(j));
  free(copy);
  free(log);
  free(snap);
  collected_free(&c);
  fx_done(&f);
}
END_TEST

START_TEST(snapshot_every_makes_append_return_snapshot_due_until_a_snapshot) {
  fixture f;
  fx_init(&f);
  acto_journal_opts o = {.sync = ACTO_JOURNAL_SYNC_NONE, .snapshot_every = 3};
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &o, &c, &info);
  ck_assert_rc(append_pattern(j, 1, 8), 0);
  ck_assert_rc(append_pattern(j, 2, 8), 0);
  ck_assert_rc(append_pattern(j, 3, 8), ACTO_JOURNAL_SNAPSHOT_DUE);
  ck_assert_rc(append_pattern(j, 4, 8), ACTO_JOURNAL_SNAPSHOT_DUE); /* until taken */
  ck_assert_ok(acto_journal_snapshot(j, "s4", 2));
  ck_assert_rc(append_pattern(j, 5, 8), 0);
  ck_assert_rc(append_pattern(j, 6, 8), 0);
  ck_assert_ok(acto_journal_close(j));
  /* The count survives a restart: 5 and 6 were replayed after the snapshot. */
  j = open_replay(&f, &o, &c, &info);
  ck_assert_uint_eq(info.records, 2);
  ck_assert_rc(append_pattern(j, 7, 8), ACTO_JOURNAL_SNAPSHOT_DUE);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

/* ---- limits, arguments, locking, sync modes, I/O errors -------------------- */

START_TEST(an_oversize_record_fails_with_etoobig_and_writes_nothing) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  size_t cap = ACTO_JOURNAL_DEFAULT_MAX_RECORD;
  uint8_t *big = calloc(1, cap + 1);
  uint64_t seq = 0;
  ck_assert_rc(acto_journal_append(j, big, cap + 1, &seq), ACTO_ETOOBIG);
  ck_assert_int_eq(file_size(f.log), LOG_HDR);
  big[0] = 0x5A;
  big[cap - 1] = 0xA5;
  ck_assert_ok(acto_journal_append(j, big, cap, &seq)); /* exactly the cap */
  ck_assert_uint_eq(seq, 1);
  ck_assert_ok(acto_journal_close(j));
  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.n, 1);
  ck_assert_uint_eq(c.recs[0].len, cap);
  ck_assert_int_eq(memcmp(c.recs[0].data, big, cap), 0);
  ck_assert_ok(acto_journal_close(j));
  free(big);

  /* A smaller cap. */
  fixture g;
  fx_init(&g);
  acto_journal_opts o = {.sync = ACTO_JOURNAL_SYNC_NONE, .max_record = 100};
  j = open_replay(&g, &o, &c, &info);
  uint8_t buf[101] = {0};
  ck_assert_rc(acto_journal_append(j, buf, 101, &seq), ACTO_ETOOBIG);
  ck_assert_int_eq(file_size(g.log), LOG_HDR);
  ck_assert_ok(acto_journal_append(j, buf, 100, &seq));
  ck_assert_uint_eq(seq, 1); /* the refused append took no number */
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&g);
  fx_done(&f);
}
END_TEST

START_TEST(every_call_validates_its_arguments) {
  fixture f;
  fx_init(&f);
  acto_journal *j = (acto_journal *)&f; /* must be overwritten with NULL */
  ck_assert_rc(acto_journal_open(NULL, NULL, &j), ACTO_EINVAL);
  ck_assert_ptr_null(j);
  ck_assert_rc(acto_journal_open("", NULL, &j), ACTO_EINVAL);
  ck_assert_rc(acto_journal_open(f.path, NULL, NULL), ACTO_EINVAL);
  acto_journal_opts o = {.sync = (acto_journal_sync_mode)3};
  ck_assert_rc(acto_journal_open(f.path, &o, &j), ACTO_EINVAL);
  o.sync = (acto_journal_sync_mode)-1;
  ck_assert_rc(acto_journal_open(f.path, &o, &j), ACTO_EINVAL);
  o = (acto_journal_opts){.max_record = ACTO_JOURNAL_MAX_RECORD_LIMIT + 1};
  ck_assert_rc(acto_journal_open(f.path, &o, &j), ACTO_EINVAL);
  ck_assert_int_eq(file_size(f.path), -1); /* nothing was created */

  ck_assert_rc(acto_journal_replay(NULL, NULL, NULL, NULL, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_journal_append(NULL, "x", 1, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_journal_snapshot(NULL, "x", 1), ACTO_EINVAL);
  ck_assert_rc(acto_journal_sync(NULL), ACTO_EINVAL);
  ck_assert_rc(acto_journal_close(NULL), ACTO_EINVAL);

  o = (acto_journal_opts){.sync = ACTO_JOURNAL_SYNC_NONE,
                          .max_record = ACTO_JOURNAL_MAX_RECORD_LIMIT};
  ck_assert_ok(acto_journal_open(f.path, &o, &j));
  ck_assert_ok(acto_journal_replay(j, NULL, NULL, NULL, NULL));
  ck_assert_rc(acto_journal_append(j, NULL, 1, NULL), ACTO_EINVAL);
  ck_assert_rc(acto_journal_snapshot(j, NULL, 1), ACTO_EINVAL);
  uint64_t seq = 0;
  ck_assert_ok(acto_journal_append(j, NULL, 0, &seq)); /* an empty record */
  ck_assert_uint_eq(seq, 1);
  ck_assert_ok(acto_journal_append(j, "x", 1, NULL)); /* seq_out may be NULL */
  ck_assert_ok(acto_journal_snapshot(j, NULL, 0));
  ck_assert_ok(acto_journal_close(j));

  /* Paths the system refuses: errno says why. */
  char p[PATH_MAX + 32];
  snprintf(p, sizeof p, "%s/journal.log", f.path); /* a regular file */
  errno = 0;
  ck_assert_rc(acto_journal_open(p, NULL, &j), ACTO_EIO);
  ck_assert_int_eq(errno, ENOTDIR);
  ck_assert_ptr_null(j);
  snprintf(p, sizeof p, "%s/no/such/parent", f.dir);
  errno = 0;
  ck_assert_rc(acto_journal_open(p, NULL, &j), ACTO_EIO);
  ck_assert_int_eq(errno, ENOENT);
  fx_done(&f);
}
END_TEST

START_TEST(a_second_handle_on_the_same_journal_fails_until_the_first_is_closed) {
  fixture f;
  fx_init(&f);
  acto_journal *a = open_ok(&f, &k_fast), *b = NULL;
  errno = 0;
  ck_assert_rc(acto_journal_open(f.path, &k_fast, &b), ACTO_EIO);
  ck_assert(errno == EWOULDBLOCK || errno == EAGAIN);
  ck_assert_ptr_null(b);
  char alias[PATH_MAX + 8]; /* another spelling of the same directory */
  snprintf(alias, sizeof alias, "%s/./j/", f.dir);
  ck_assert_rc(acto_journal_open(alias, &k_fast, &b), ACTO_EIO);
  ck_assert_ok(acto_journal_close(a));
  ck_assert_ok(acto_journal_open(alias, &k_fast, &b));
  ck_assert_ok(acto_journal_replay(b, NULL, NULL, NULL, NULL));
  ck_assert_ok(acto_journal_close(b));
  fx_done(&f);
}
END_TEST

START_TEST(every_sync_mode_round_trips_and_sync_flushes_on_request) {
  const acto_journal_opts modes[] = {
      {.sync = ACTO_JOURNAL_SYNC_EACH},
      {.sync = ACTO_JOURNAL_SYNC_BATCH, .batch_records = 4, .batch_ms = 1},
      {.sync = ACTO_JOURNAL_SYNC_BATCH},
      {.sync = ACTO_JOURNAL_SYNC_NONE},
  };
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    fixture f;
    fx_init(&f);
    collected c = {0};
    acto_journal_replay_info info;
    acto_journal *j = open_replay(&f, &modes[m], &c, &info);
    for (uint64_t s = 1; s <= 10; s++)
      ck_assert_rc(append_pattern(j, s, len_varied(s)), 0);
    ck_assert_ok(acto_journal_sync(j));
    ck_assert_ok(acto_journal_sync(j)); /* nothing left: a no-op */
    for (uint64_t s = 11; s <= 12; s++)
      ck_assert_rc(append_pattern(j, s, len_varied(s)), 0);
    ck_assert_ok(acto_journal_close(j));
    j = open_replay(&f, &modes[m], &c, &info);
    expect_records(&c, 1, 12, len_varied);
    ck_assert_ok(acto_journal_close(j));
    collected_free(&c);
    fx_done(&f);
  }
}
END_TEST

START_TEST(an_io_error_fails_the_handle_and_reopening_shows_the_acknowledged_records) {
  fixture f;
  fx_init(&f);
  collected c = {0};
  acto_journal_replay_info info;
  acto_journal *j = open_replay(&f, &k_fast, &c, &info);
  /* The file-size limit turns a write past 8000 bytes into EFBIG (a short
   * write first when a record straddles it). */
  struct rlimit old;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = {8000, old.rlim_max};
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  uint64_t acked = 0;
  int rc;
  while ((rc = append_pattern(j, acked + 1, 1000)) == 0)
    acked++;
  int e = errno;
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, old_handler);
  ck_assert_rc(rc, ACTO_EIO);
  ck_assert_int_eq(e, EFBIG);
  ck_assert_uint_eq(acked, (8000 - LOG_HDR) / (REC_HDR + 1000));
  /* Failed for good, even with room again. */
  errno = 0;
  ck_assert_rc(acto_journal_append(j, "x", 1, NULL), ACTO_EIO);
  ck_assert_int_eq(errno, EFBIG);
  ck_assert_rc(acto_journal_snapshot(j, "s", 1), ACTO_EIO);
  ck_assert_rc(acto_journal_sync(j), ACTO_EIO);
  ck_assert_rc(acto_journal_replay(j, NULL, NULL, NULL, NULL), ACTO_EIO);
  ck_assert_rc(acto_journal_close(j), ACTO_EIO); /* and freed */

  j = open_replay(&f, &k_fast, &c, &info);
  ck_assert_uint_eq(c.n, acked);
  for (size_t i = 0; i < c.n; i++)
    TU_HOT_ASSERT(c.recs[i].seq == i + 1 && matches(c.recs[i].data, i + 1, 1000));
  ck_assert_int_eq(info.tail, ACTO_JOURNAL_TAIL_CLEAN); /* the partial one was removed */
  ck_assert_int_eq(append_pattern(j, acked + 1, 1000), 0);
  ck_assert_ok(acto_journal_close(j));
  collected_free(&c);
  fx_done(&f);
}
END_TEST

/* Each thread owns one journal: the only state journals share is the
 * CRC table, built once on first use (this is the test for TSan). */
typedef struct owner_arg {
  fixture f;
  int ok;
} owner_arg;

static void *journal_owner(void *arg) {
  owner_arg *a = arg;
  acto_journal *j;
  acto_journal_replay_info info;
  if (acto_journal_open(a->f.path, &k_fast, &j) != 0 ||
      acto_journal_replay(j, NULL, NULL, NULL, NULL) != 0)
    return NULL;
  uint8_t b[64];
  for (uint64_t s = 1; s <= 200; s++) {
    fill(b, s, sizeof b);
    uint64_t seq;
    if (acto_journal_append(j, b, sizeof b, &seq) != 0 || seq != s)
      return NULL;
  }
  if (acto_journal_close(j) != 0 || acto_journal_open(a->f.path, &k_fast, &j) != 0 ||
      acto_journal_replay(j, NULL, NULL, NULL, &info) != 0 || acto_journal_close(j) != 0)
    return NULL;
  a->ok = info.records == 200 && info.last_seq == 200;
  return NULL;
}

START_TEST(journals_owned_by_different_threads_are_independent) {
  enum { OWNERS = 4 };
  owner_arg args[OWNERS];
  pthread_t th[OWNERS];
  for (int i = 0; i < OWNERS; i++) {
    fx_init(&args[i].f);
    args[i].ok = 0;
  }
  for (int i = 0; i < OWNERS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, journal_owner, &args[i]), 0);
  for (int i = 0; i < OWNERS; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < OWNERS; i++) {
    ck_assert_int_eq(args[i].ok, 1);
    fx_done(&args[i].f);
  }
}
END_TEST

/* ---- a writer killed by SIGKILL ----------------------------------------- */

enum { KILL_RECORDS = 60, KILL_MAX_LEN = 65536 };

static size_t len_kill(uint64_t seq) { return 1 + (size_t)(mix(seq ^ 0x5bd1e995u) % KILL_MAX_LEN); }

/* The child: appends records 1..KILL_RECORDS and reports each sequence
 * number through the pipe once append has returned. */
static void child_writer(const char *path, int wfd) {
  acto_journal *j;
  if (acto_journal_open(path, &k_fast, &j) != 0)
    _exit(10);
  if (acto_journal_replay(j, NULL, NULL, NULL, NULL) != 0)
    _exit(11);
  static uint8_t *payload[KILL_RECORDS + 1]; /* made first: the loop is all writes */
  for (uint64_t s = 1; s <= KILL_RECORDS; s++) {
    if (!(payload[s] = malloc(len_kill(s))))
      _exit(15);
    fill(payload[s], s, len_kill(s));
  }
  for (uint64_t s = 1; s <= KILL_RECORDS; s++) {
    uint64_t got = 0;
    if (acto_journal_append(j, payload[s], len_kill(s), &got) != 0 || got != s)
      _exit(12);
    if (write(wfd, &s, sizeof s) != (ssize_t)sizeof s)
      _exit(13);
  }
  _exit(acto_journal_close(j) == 0 ? 0 : 14);
}

typedef struct verifier {
  uint64_t next;
  int bad;
} verifier;

static int on_rec_verify(void *user, uint64_t seq, const void *data, size_t len) {
  verifier *v = user;
  if (seq != v->next || len != len_kill(seq) || !matches(data, seq, len))
    v->bad = 1;
  v->next++;
  return 0;
}

START_TEST(a_writer_killed_by_sigkill_loses_no_acknowledged_record_and_leaves_no_torn_one) {
  fixture f;
  fx_init(&f);
  uint64_t rng = g_seed * 2 + 1;
  const int rounds = TU_SANITIZED ? 12 : 40;
  int killed = 0, torn = 0;
  for (int round = 0; round < rounds; round++) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      close(p[0]);
      child_writer(f.path, p[1]);
    }
    close(p[1]);
    uint64_t reported = 0, s;
    uint64_t kill_after = rng_next(&rng) % (KILL_RECORDS * 3 / 4);
    while (reported < kill_after && read(p[0], &s, sizeof s) == (ssize_t)sizeof s) {
      TU_HOT_ASSERT(s == reported + 1);
      reported = s;
    }
    for (volatile uint64_t spin = rng_next(&rng) % 20000; spin > 0; spin--) {
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    while (read(p[0], &s, sizeof s) == (ssize_t)sizeof s) { /* reports already sent */
      TU_HOT_ASSERT(s == reported + 1);
      reported = s;
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
      TU_HOT_ASSERT(errno == EINTR);
    if (WIFSIGNALED(st)) {
      TU_HOT_ASSERT(WTERMSIG(st) == SIGKILL);
      killed++;
    } else {
      TU_HOT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0 && reported == KILL_RECORDS);
    }

    acto_journal *j = open_ok(&f, &k_fast);
    verifier v = {.next = 1};
    acto_journal_replay_info info;
    TU_HOT_ASSERT(acto_journal_replay(j, NULL, on_rec_verify, &v, &info) == 0);
    TU_HOT_ASSERT(!v.bad); /* in order, intact */
    TU_HOT_ASSERT(info.records == v.next - 1 && info.last_seq == info.records);
    TU_HOT_ASSERT(info.records >= reported); /* every acknowledged record */
    TU_HOT_ASSERT(info.records <= KILL_RECORDS);
    TU_HOT_ASSERT(info.tail == ACTO_JOURNAL_TAIL_CLEAN || info.tail == ACTO_JOURNAL_TAIL_TORN);
    torn += info.dropped_bytes > 0;
    uint64_t last = info.records;
    uint8_t one = 1;
    uint64_t seq = 0;
    TU_HOT_ASSERT(acto_journal_append(j, &one, 1, &seq) == 0 && seq == last + 1);
    TU_HOT_ASSERT(acto_journal_close(j) == 0);
    j = open_ok(&f, &k_fast);
    v = (verifier){.next = 1};
    TU_HOT_ASSERT(acto_journal_replay(j, NULL, NULL, NULL, &info) == 0);
    TU_HOT_ASSERT(info.records == last + 1 && info.tail == ACTO_JOURNAL_TAIL_CLEAN);
    TU_HOT_ASSERT(acto_journal_close(j) == 0);
    rm_tree(f.path);
  }
  fprintf(stderr, "test_journal: sigkill: %d rounds, %d killed mid-run, %d torn tails\n",
          rounds, killed, torn);
  fx_done(&f);
}
END_TEST

static Suite *journal_suite(void) {
  Suite *s = suite_create("journal");
  TCase *t = tu_tcase("format", 30);
  tcase_add_test(t, crc32c_and_the_bytes_on_disk_follow_the_documented_layout);
  suite_add_tcase(s, t);

  t = tu_tcase("replay", 30);
  tu_add_tests(t, a_new_journal_replays_empty_and_appends_from_sequence_one,
               each_reopen_continues_the_sequence_after_the_last_record,
               append_and_snapshot_before_replay_fail_and_a_second_replay_is_ealready,
               a_negative_callback_value_stops_replay_which_can_be_repeated);
  suite_add_tcase(s, t);

  t = tu_tcase("damage", 60);
  tu_add_tests(t, a_torn_tail_cut_at_every_offset_of_the_last_record_is_dropped_and_truncated,
               a_flipped_bit_anywhere_in_a_record_stops_replay_just_before_it,
               a_well_formed_record_out_of_sequence_is_stale_data_and_is_cut,
               a_garbage_log_fails_replay_with_eio_and_is_left_untouched,
               a_damaged_log_header_fails_replay_with_eio_and_changes_nothing,
               a_huge_length_field_is_corruption_and_is_never_allocated,
               a_valid_record_above_a_lowered_max_record_fails_with_etoobig_and_is_kept);
  suite_add_tcase(s, t);

  t = tu_tcase("snapshot", 60);
  tu_add_tests(t, snapshot_then_records_replays_the_snapshot_and_the_later_records_only,
               a_crash_between_snapshot_rename_and_log_reset_skips_covered_records,
               a_snapshot_inside_the_log_skips_the_records_it_covers_and_keeps_the_rest,
               a_crash_before_the_snapshot_rename_leaves_the_old_snapshot_and_the_whole_log,
               a_corrupt_or_missing_snapshot_fails_replay_with_eio_before_any_callback,
               snapshot_every_makes_append_return_snapshot_due_until_a_snapshot);
  suite_add_tcase(s, t);

  t = tu_tcase("api", 60);
  tu_add_tests(t, an_oversize_record_fails_with_etoobig_and_writes_nothing,
               every_call_validates_its_arguments,
               a_second_handle_on_the_same_journal_fails_until_the_first_is_closed,
               every_sync_mode_round_trips_and_sync_flushes_on_request,
               an_io_error_fails_the_handle_and_reopening_shows_the_acknowledged_records,
               journals_owned_by_different_threads_are_independent);
  suite_add_tcase(s, t);

  t = tu_tcase("crash", 120);
  tcase_add_test(t, a_writer_killed_by_sigkill_loses_no_acknowledged_record_and_leaves_no_torn_one);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  const char *seed = getenv("ACTO_TEST_SEED");
  g_seed = seed ? strtoull(seed, NULL, 0)
                : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  fprintf(stderr, "test_journal: seed %" PRIu64 " (ACTO_TEST_SEED repeats it)\n", g_seed);
  snprintf(g_base, sizeof g_base, "/tmp/acto_journal_test.XXXXXX");
  if (!mkdtemp(g_base)) {
    perror("mkdtemp");
    return 1;
  }
  int rc = tu_run(journal_suite());
  rm_tree(g_base); /* and whatever a failed test left */
  return rc;
}
