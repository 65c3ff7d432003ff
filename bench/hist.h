/* hist.h - a latency histogram for the benchmarks: constant-time record,
 * fixed memory, merge, nearest-rank quantiles within 0.8%.
 *
 * DESIGN
 * Log-linear buckets, as HdrHistogram has them.  Values below 256 (ns)
 * have a bucket each; above, every power of two [2^e, 2^(e+1)) is cut into
 * 128 equal buckets, so a bucket is at most 1/128 of its value wide
 * (relative error <= 0.78%).  7,424 buckets of 8 bytes (58 KiB) cover every
 * uint64_t.  A quantile is read by nearest rank (the value at rank
 * ceil(q * n), as the peers' sorted arrays are read) and reported as the
 * highest value its bucket holds, clamped to the largest value recorded:
 * a histogram never reports a latency lower than the one it stands for,
 * and max is exact.  One histogram belongs to one thread or actor at a
 * time (no atomics); merge them after the timed section.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_HIST_SUB_BITS 7                        /* 128 buckets per power of two */
#define BENCH_HIST_EXACT (2u << BENCH_HIST_SUB_BITS) /* 256: exact below */
#define BENCH_HIST_BUCKETS                                                                         \
  (BENCH_HIST_EXACT + (64 - BENCH_HIST_SUB_BITS - 1) * (1u << BENCH_HIST_SUB_BITS))

typedef struct bench_hist {
  uint64_t n;   /* values recorded */
  uint64_t max; /* the largest value recorded */
  uint64_t min; /* the smallest (UINT64_MAX while empty) */
  uint64_t count[BENCH_HIST_BUCKETS];
} bench_hist;

static inline void bench_hist_init(bench_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

/* The bucket of v. */
static inline unsigned bench_hist_index(uint64_t v) {
  if (v < BENCH_HIST_EXACT)
    return (unsigned)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS + 1 */
  unsigned shift = e - BENCH_HIST_SUB_BITS;
  unsigned sub = (unsigned)(v >> shift) & ((1u << BENCH_HIST_SUB_BITS) - 1);
  return BENCH_HIST_EXACT + (e - BENCH_HIST_SUB_BITS - 1) * (1u << BENCH_HIST_SUB_BITS) + sub;
}

/* The highest value bucket i holds. */
static inline uint64_t bench_hist_upper(unsigned i) {
  if (i < BENCH_HIST_EXACT)
    return i;
  unsigned k = i - BENCH_HIST_EXACT;
  unsigned e = k / (1u << BENCH_HIST_SUB_BITS) + BENCH_HIST_SUB_BITS + 1;
  uint64_t sub = k % (1u << BENCH_HIST_SUB_BITS);
  unsigned shift = e - BENCH_HIST_SUB_BITS;
  uint64_t lo = ((uint64_t)1 << e) | (sub << shift);
  return lo + (((uint64_t)1 << shift) - 1);
}

static inline void bench_hist_record(bench_hist *h, uint64_t v) {
  h->count[bench_hist_index(v)]++;
  h->n++;
  if (v > h->max)
    h->max = v;
  if (v < h->min)
    h->min = v;
}

/* Adds src's values to dst. */
static inline void bench_hist_merge(bench_hist *dst, const bench_hist *src) {
  for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
    dst->count[i] += src->count[i];
  dst->n += src->n;
  if (src->max > dst->max)
    dst->max = src->max;
  if (src->min < dst->min)
    dst->min = src->min;
}

/* The value at nearest rank ceil(q * n) (0 < q <= 1), as described in the
 * file comment; 0 for an empty histogram. */
static inline uint64_t bench_hist_quantile(const bench_hist *h, double q) {
  if (h->n == 0)
    return 0;
  double r = q * (double)h->n;
  uint64_t rank = (uint64_t)r;
  if ((double)rank < r)
    rank++;
  if (rank < 1)
    rank = 1;
  if (rank > h->n)
    rank = h->n;
  uint64_t seen = 0;
  for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
    seen += h->count[i];
    if (seen >= rank) {
      uint64_t v = bench_hist_upper(i);
      return v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* In microseconds, for the RESULT line. */
static inline double bench_hist_quantile_us(const bench_hist *h, double q) {
  return (double)bench_hist_quantile(h, q) / 1000.0;
}

#endif /* BENCH_HIST_H */
