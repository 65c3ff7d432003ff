/* journal.c - the journal (acto_journal.h): an append-only log of
 * checksummed records plus an atomically replaced snapshot, in one
 * directory per journal.
 *
 * DESIGN.  The files, all little-endian (ACTORS.md, "Journal", has the
 * tables):
 *   journal.log   header  "ACTOJLOG" u32 version u32 flags u64 base
 *                         u32 reserved u32 crc            (32 bytes)
 *                 records u32 crc u32 len u64 seq, then len payload bytes
 *   journal.snap  "ACTOSNAP" u32 version u32 flags u64 seq u64 len,
 *                 len state bytes, u32 crc               (36 + len bytes)
 * Every checksum is CRC-32C (Castagnoli, as in iSCSI and ext4), computed
 * here by slicing-by-8.  A record's crc covers the rest of its header and
 * its payload; the log's first record has sequence number base + 1 and
 * each next one the previous plus one.  Sequence numbers make a record
 * self-locating: a well-formed record from an older log, exposed by a
 * crash in a reused block, is rejected because it is out of sequence.
 *
 * Writing.  An append is one pwritev (header and payload) at the end of the
 * last good record, followed by fdatasync as the sync mode says.  A crash
 * can tear only the record being written, so replay scans forward, stops at
 * the first record that is cut short, fails its checksum, exceeds
 * max_record or is out of sequence, and truncates the file there.  A length
 * is trusted only after it is checked against max_record and the file's
 * size, so a corrupt length never drives an allocation.
 *
 * Files that are created or replaced (the log's header, the snapshot) are
 * written to a temporary name, fsync'ed, renamed into place and the
 * directory fsync'ed: they are either absent, old or complete, never
 * partial, which is why a damaged header or snapshot is corruption (an
 * error) and not a torn write (cut off).  A snapshot goes in before the log
 * is reset with base = the snapshot's sequence number; a crash in between
 * leaves the old log, whose records at or before that number replay skips,
 * and the next replay finishes the reset.
 *
 * The directory's file descriptor carries an exclusive flock for the life
 * of the handle, so two writers never interleave; the kernel drops it when
 * the process dies.  Any I/O error while writing fails the handle for good
 * (a failed fdatasync may have dropped dirty pages, so retrying would lie);
 * reopening and replaying shows what reached the file.
 *
 * Threads: a handle belongs to one thread at a time; the only shared state
 * is the CRC table, built once under pthread_once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h> /* renameat */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "actor/clock.h"
#include "actor/reserved.h"
#include "acto_journal.h"

#define LOG_NAME "journal.log"
#define LOG_TMP "journal.log.tmp"
#define SNAP_NAME "journal.snap"
#define SNAP_TMP "journal.snap.tmp"

#define LOG_MAGIC "ACTOJLOG"
#define SNAP_MAGIC "ACTOSNAP"
#define FORMAT_VERSION 1u

enum {
  LOG_HDR = 32,   /* the log file's header */
  REC_HDR = 16,   /* a record's header */
  SNAP_HDR = 32,  /* the snapshot's header */
  SNAP_TRAIL = 4, /* the snapshot's trailing crc */
  READ_CHUNK = 64 * 1024
};

#define DEFAULT_BATCH_RECORDS 64u
#define DEFAULT_BATCH_MS 10u

struct acto_journal {
  int dirfd; /* the journal's directory; holds the flock */
  int fd;    /* journal.log, -1 until replay opens it */
  acto_journal_sync_mode sync;
  uint32_t batch_records;
  uint64_t batch_ns;
  size_t max_record;
  uint64_t snapshot_every;

  int replayed;       /* a replay succeeded: appends are allowed */
  int failed_errno;   /* non-zero: an I/O error failed the handle */
  uint64_t end;       /* offset just past the last good record */
  uint64_t last_seq;  /* the newest sequence number (snapshot or record) */
  uint64_t since_snapshot;     /* records after the latest snapshot */
  uint32_t unsynced;           /* changes to the log not yet fdatasync'ed */
  uint64_t unsynced_since_ns;  /* when the oldest of them was made */
};

/* ---- CRC-32C ------------------------------------------------------------ */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u))); /* reflected Castagnoli */
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFFu];
}

/* Extends crc (0 to start) over n bytes: crc32c(crc32c(0, a), b) is the
 * CRC of a followed by b. */
static uint32_t crc32c(uint32_t crc, const void *buf, size_t n) {
  const uint8_t *p = buf;
  uint32_t c = ~crc;
  while (n >= 8) {
    uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                       (uint32_t)p[3] << 24);
    c = crc_table[7][lo & 0xFFu] ^ crc_table[6][(lo >> 8) & 0xFFu] ^
        crc_table[5][(lo >> 16) & 0xFFu] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
        crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n--)
    c = crc_table[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
  return ~c;
}

/* ---- little-endian fields ----------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- errors and small I/O helpers ---------------------------------------- */

/* ACTO_EIO with errno set to e (callers save errno before cleaning up). */
static int io_fail(int e) {
  errno = e;
  return ACTO_EIO;
}

/* Fails the handle for good with errno e. */
static int fail_handle(acto_journal *j, int e) {
  if (e == 0)
    e = EIO;
  if (!j->failed_errno)
    j->failed_errno = e;
  return io_fail(j->failed_errno);
}

/* Writes the iovecs completely at off; -1 with errno on failure. */
static int pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off) {
  while (cnt > 0) {
    ssize_t n = pwritev(fd, iov, cnt, (off_t)off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    off += (uint64_t)n;
    size_t left = (size_t)n;
    while (cnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

/* Reads up to n bytes at off, stopping early only at end of file; returns
 * the count or -1 with errno. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (k == 0)
      break;
    got += (size_t)k;
  }
  return (ssize_t)got;
}

/* Removes a file of the journal's directory; a missing one is fine. */
static int unlink_if_present(acto_journal *j, const char *name) {
  if (unlinkat(j->dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  return io_fail(errno);
}

/* fsyncs the directory containing `path` (after creating `path` in it). */
static int sync_parent(const char *path) {
  size_t n = strlen(path);
  char *dir = malloc(n + 2);
  if (!dir)
    return ACTO_ENOMEM;
  memcpy(dir, path, n + 1);
  while (n > 1 && dir[n - 1] == '/') /* "a/b/" names "a/b" */
    dir[--n] = '\0';
  char *slash = strrchr(dir, '/');
  if (!slash)
    strcpy(dir, ".");
  else if (slash == dir)
    dir[1] = '\0'; /* "/b": the parent is "/" */
  else
    *slash = '\0';
  int rc = 0;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0)
    rc = io_fail(errno);
  if (fd >= 0) {
    int e = errno;
    close(fd);
    errno = e;
  }
  free(dir);
  return rc;
}

/* ---- open and close --------------------------------------------------- */

int acto_journal_open(const char *path, const acto_journal_opts *opts, acto_journal **out) {
  if (!out)
    return ACTO_EINVAL;
  *out = NULL;
  if (!path || !*path)
    return ACTO_EINVAL;
  acto_journal_opts o = {0};
  if (opts)
    o = *opts;
  if (!ACTO__RESERVED_CLEAR(&o))
    return ACTO_EINVAL;
  if (o.sync != ACTO_JOURNAL_SYNC_EACH && o.sync != ACTO_JOURNAL_SYNC_BATCH &&
      o.sync != ACTO_JOURNAL_SYNC_NONE)
    return ACTO_EINVAL;
  if (o.max_record > ACTO_JOURNAL_MAX_RECORD_LIMIT)
    return ACTO_EINVAL;

  acto_journal *j = calloc(1, sizeof *j);
  if (!j)
    return ACTO_ENOMEM;
  j->dirfd = -1;
  j->fd = -1;
  j->sync = o.sync;
  j->batch_records = o.batch_records ? o.batch_records : DEFAULT_BATCH_RECORDS;
  j->batch_ns = (uint64_t)(o.batch_ms ? o.batch_ms : DEFAULT_BATCH_MS) * 1000000u;
  j->max_record = o.max_record ? o.max_record : ACTO_JOURNAL_DEFAULT_MAX_RECORD;
  j->snapshot_every = o.snapshot_every;
  pthread_once(&crc_once, crc_init);

  int rc;
  if (mkdir(path, 0700) == 0) {
    if ((rc = sync_parent(path)) != 0) /* the new directory's name is durable */
      goto fail;
  } else if (errno != EEXIST) {
    rc = io_fail(errno);
    goto fail;
  }
  j->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (j->dirfd < 0) {
    rc = io_fail(errno);
    goto fail;
  }
  if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
    rc = io_fail(errno); /* EWOULDBLOCK: another handle holds it */
    goto fail_dir;
  }
  *out = j;
  return 0;

fail_dir:;
  int e = errno;
  close(j->dirfd);
  errno = e;
fail:
  free(j);
  return rc;
}

int acto_journal_close(acto_journal *j) {
  if (!j)
    return ACTO_EINVAL;
  int rc = 0;
  if (j->failed_errno)
    rc = io_fail(j->failed_errno);
  else if (j->fd >= 0 && j->unsynced && j->sync != ACTO_JOURNAL_SYNC_NONE &&
           fdatasync(j->fd) != 0)
    rc = io_fail(errno);
  if (j->fd >= 0 && close(j->fd) != 0 && rc == 0)
    rc = io_fail(errno);
  int e = errno;
  close(j->dirfd); /* releases the flock */
  errno = e;
  free(j);
  return rc;
}

/* ---- the log file ------------------------------------------------------- */

static void log_header(uint8_t h[LOG_HDR], uint64_t base) {
  memset(h, 0, LOG_HDR);
  memcpy(h, LOG_MAGIC, 8);
  put32(h + 8, FORMAT_VERSION);
  put64(h + 16, base);
  put32(h + 28, crc32c(0, h, 28));
}

/* Checks a log header; 0 and *base, or ACTO_EIO (EBADMSG / ENOTSUP). */
static int parse_log_header(const uint8_t h[LOG_HDR], uint64_t *base) {
  if (memcmp(h, LOG_MAGIC, 8) != 0 || get32(h + 28) != crc32c(0, h, 28))
    return io_fail(EBADMSG);
  if (get32(h + 8) != FORMAT_VERSION)
    return io_fail(ENOTSUP);
  *base = get64(h + 16);
  return 0;
}

/* Replaces journal.log with an empty log whose first record will be
 * base + 1: written under a temporary name, fsync'ed, renamed, the
 * directory fsync'ed.  On success j->fd is the new log.  Returns 0 or
 * ACTO_EIO; on failure the old log, if any, is still in j->fd. */
static int log_reset(acto_journal *j, uint64_t base) {
  uint8_t h[LOG_HDR];
  log_header(h, base);
  int fd = openat(j->dirfd, LOG_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return io_fail(errno);
  struct iovec iov = {h, LOG_HDR};
  if (pwritev_all(fd, &iov, 1, 0) != 0 || fsync(fd) != 0 ||
      renameat(j->dirfd, LOG_TMP, j->dirfd, LOG_NAME) != 0 || fsync(j->dirfd) != 0) {
    int e = errno;
    close(fd);
    unlinkat(j->dirfd, LOG_TMP, 0); /* best effort; replay removes it too */
    return io_fail(e);
  }
  if (j->fd >= 0)
    close(j->fd);
  j->fd = fd;
  j->end = LOG_HDR;
  j->unsynced = 0;
  return 0;
}

/* ---- replay ------------------------------------------------------------- */

/* A forward reader over the log that keeps the bytes of the current record
 * contiguous: buf[at, len) holds the file's bytes from offset off. */
typedef struct reader {
  int fd;
  uint64_t size; /* the file's size when the scan began */
  uint64_t off;
  uint8_t *buf;
  size_t cap, at, len;
  size_t limit; /* buf never grows beyond READ_CHUNK or REC_HDR + max_record */
} reader;

/* Makes up to n bytes from the current offset contiguous at buf + at and
 * stores how many there are (fewer than n only at the end of the file).
 * n is at most REC_HDR + max_record, so a corrupt length cannot get here.
 * Returns 0, ACTO_ENOMEM or ACTO_EIO. */
static int rd_fill(reader *r, size_t n, size_t *avail) {
  size_t have = r->len - r->at;
  if (have < n) {
    if (r->at) {
      memmove(r->buf, r->buf + r->at, have);
      r->len = have;
      r->at = 0;
    }
    if (r->cap < n) {
      size_t nc = r->cap * 2 < r->limit ? r->cap * 2 : r->limit;
      if (nc < n)
        nc = n;
      uint8_t *nb = realloc(r->buf, nc);
      if (!nb)
        return ACTO_ENOMEM;
      r->buf = nb;
      r->cap = nc;
    }
    uint64_t left = r->size - (r->off + r->len); /* unread bytes of the file */
    size_t want = r->cap - r->len;
    if (want > left)
      want = (size_t)left;
    ssize_t k = pread_full(r->fd, r->buf + r->len, want, r->off + r->len);
    if (k < 0)
      return io_fail(errno);
    r->len += (size_t)k;
    have = r->len;
  }
  *avail = have < n ? have : n;
  return 0;
}

static void rd_consume(reader *r, size_t n) {
  r->at += n;
  r->off += n;
}

/* A record whose length exceeds max_record but fits in the file: 1 if its
 * checksum holds (a record written with a larger max_record), 0 if not
 * (corruption).  Checked in fixed-size chunks, never allocating len. */
static int big_record_is_valid(reader *r, uint32_t crc, uint32_t len) {
  uint8_t *chunk = malloc(READ_CHUNK);
  if (!chunk)
    return ACTO_ENOMEM;
  uint32_t c = crc32c(0, r->buf + r->at + 4, REC_HDR - 4);
  uint64_t off = r->off + REC_HDR;
  uint64_t left = len;
  int rc = 1;
  while (left > 0) {
    size_t n = left > READ_CHUNK ? READ_CHUNK : (size_t)left;
    ssize_t k = pread_full(r->fd, chunk, n, off);
    if (k < 0) {
      rc = io_fail(errno);
      break;
    }
    if ((size_t)k < n) { /* the file shrank */
      rc = 0;
      break;
    }
    c = crc32c(c, chunk, n);
    off += n;
    left -= n;
  }
  free(chunk);
  if (rc == 1 && c != crc)
    rc = 0;
  return rc;
}

/* Reads and checks journal.snap.  Returns 0 (no snapshot), 1 (*file holds
 * the whole file, the state at *file + SNAP_HDR; *len and *seq set; free
 * *file) or an error. */
static int load_snapshot(acto_journal *j, uint8_t **file, size_t *len, uint64_t *seq) {
  int fd = openat(j->dirfd, SNAP_NAME, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : io_fail(errno);
  int rc;
  uint8_t *buf = NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = io_fail(errno);
    goto out;
  }
  uint64_t size = (uint64_t)st.st_size;
  if (st.st_size < SNAP_HDR + SNAP_TRAIL) {
    rc = io_fail(EBADMSG);
    goto out;
  }
  if (size > SIZE_MAX) {
    rc = ACTO_ENOMEM;
    goto out;
  }
  buf = malloc((size_t)size); /* the file's real size, not a field */
  if (!buf) {
    rc = ACTO_ENOMEM;
    goto out;
  }
  ssize_t k = pread_full(fd, buf, (size_t)size, 0);
  if (k < 0) {
    rc = io_fail(errno);
    goto out;
  }
  uint64_t body = size - SNAP_TRAIL;
  if ((uint64_t)k != size || memcmp(buf, SNAP_MAGIC, 8) != 0 ||
      get32(buf + body) != crc32c(0, buf, (size_t)body) ||
      get64(buf + 24) != size - SNAP_HDR - SNAP_TRAIL) {
    rc = io_fail(EBADMSG);
    goto out;
  }
  if (get32(buf + 8) != FORMAT_VERSION) {
    rc = io_fail(ENOTSUP);
    goto out;
  }
  *seq = get64(buf + 16);
  *len = (size_t)(size - SNAP_HDR - SNAP_TRAIL);
  *file = buf;
  buf = NULL;
  rc = 1;
out:;
  int e = errno;
  free(buf);
  close(fd);
  errno = e;
  return rc;
}

int acto_journal_replay(acto_journal *j, acto_journal_snapshot_fn on_snapshot,
                        acto_journal_record_fn on_record, void *user,
                        acto_journal_replay_info *info) {
  if (!j)
    return ACTO_EINVAL;
  if (j->failed_errno)
    return io_fail(j->failed_errno);
  if (j->replayed)
    return ACTO_EALREADY;
  acto_journal_replay_info inf;
  memset(&inf, 0, sizeof inf);
  if (info)
    *info = inf;
  int rc;
  if ((rc = unlink_if_present(j, SNAP_TMP)) != 0 || (rc = unlink_if_present(j, LOG_TMP)) != 0)
    return rc;
  if (j->fd >= 0) { /* a previous replay failed: start over */
    close(j->fd);
    j->fd = -1;
  }

  /* The log's header first, so that a log that cannot be replayed fails
   * the call before on_snapshot runs. */
  int need_reset = 0;
  uint64_t base = 0, size = 0;
  j->fd = openat(j->dirfd, LOG_NAME, O_RDWR | O_CLOEXEC);
  if (j->fd < 0) {
    if (errno != ENOENT)
      return io_fail(errno);
    need_reset = 1; /* a new journal */
  } else {
    struct stat st;
    if (fstat(j->fd, &st) != 0)
      return io_fail(errno);
    size = (uint64_t)st.st_size;
    if (size == 0) {
      need_reset = 1; /* an empty file: a new journal */
    } else {
      uint8_t h[LOG_HDR];
      ssize_t k = pread_full(j->fd, h, LOG_HDR, 0);
      if (k < 0)
        return io_fail(errno);
      if (k < LOG_HDR)
        return io_fail(EBADMSG);
      if ((rc = parse_log_header(h, &base)) != 0)
        return rc;
    }
  }

  uint8_t *snap = NULL;
  size_t snap_len = 0;
  uint64_t snap_seq = 0;
  int has_snap = load_snapshot(j, &snap, &snap_len, &snap_seq);
  if (has_snap < 0)
    return has_snap;
  if (has_snap == 0 ? base != 0 : base > snap_seq) {
    free(snap);
    return io_fail(EBADMSG); /* the log continues a snapshot we do not have */
  }
  if (need_reset)
    base = snap_seq;
  if (has_snap) {
    inf.has_snapshot = 1;
    inf.snapshot_seq = snap_seq;
    inf.snapshot_bytes = snap_len;
    rc = on_snapshot ? on_snapshot(user, snap_seq, snap + SNAP_HDR, snap_len) : 0;
    free(snap);
    if (rc < 0)
      return rc;
  }

  /* The records. */
  reader r = {.fd = j->fd, .size = size, .off = LOG_HDR, .limit = REC_HDR + j->max_record};
  if (r.limit < READ_CHUNK)
    r.limit = READ_CHUNK;
  uint64_t last = base, expected = base + 1;
  rc = 0;
  if (!need_reset) {
    r.cap = READ_CHUNK;
    r.buf = malloc(r.cap);
    if (!r.buf)
      return ACTO_ENOMEM;
    for (;;) {
      size_t av;
      if ((rc = rd_fill(&r, REC_HDR, &av)) != 0)
        break;
      if (av == 0)
        break;
      if (av < REC_HDR) {
        inf.tail = ACTO_JOURNAL_TAIL_TORN;
        break;
      }
      const uint8_t *h = r.buf + r.at;
      uint32_t crc = get32(h), len = get32(h + 4);
      uint64_t seq = get64(h + 8);
      if (len > j->max_record) {
        if (r.off + REC_HDR + len > r.size) {
          inf.tail = ACTO_JOURNAL_TAIL_TORN;
          break;
        }
        rc = big_record_is_valid(&r, crc, len);
        if (rc == 1)
          rc = ACTO_ETOOBIG; /* a real record: do not cut it */
        if (rc != 0)
          break;
        inf.tail = ACTO_JOURNAL_TAIL_CORRUPT;
        break;
      }
      if ((rc = rd_fill(&r, REC_HDR + (size_t)len, &av)) != 0)
        break;
      if (av < REC_HDR + (size_t)len) {
        inf.tail = ACTO_JOURNAL_TAIL_TORN;
        break;
      }
      h = r.buf + r.at; /* rd_fill may have moved the bytes */
      if (crc32c(0, h + 4, REC_HDR - 4 + (size_t)len) != crc) {
        inf.tail = ACTO_JOURNAL_TAIL_CORRUPT;
        break;
      }
      if (seq != expected) {
        inf.tail = ACTO_JOURNAL_TAIL_SEQUENCE;
        break;
      }
      if (seq <= snap_seq) {
        inf.skipped++; /* covered by the snapshot */
      } else {
        if (on_record && (rc = on_record(user, seq, h + REC_HDR, len)) < 0)
          break;
        rc = 0;
        inf.records++;
      }
      last = seq;
      expected++;
      rd_consume(&r, REC_HDR + (size_t)len);
    }
    free(r.buf);
    if (rc < 0)
      return rc;
    inf.dropped_bytes = r.size - r.off;
  }

  /* Repair: finish an interrupted snapshot (the log holds nothing after
   * it), or cut the torn tail. */
  if (need_reset || (snap_seq > base && last <= snap_seq)) {
    if ((rc = log_reset(j, snap_seq)) != 0)
      return rc;
    last = snap_seq;
  } else {
    j->end = r.off;
    j->unsynced = 0;
    if (inf.dropped_bytes) {
      if (ftruncate(j->fd, (off_t)r.off) != 0)
        return io_fail(errno);
      if (j->sync == ACTO_JOURNAL_SYNC_NONE) {
        j->unsynced = 1;
        j->unsynced_since_ns = acto__clock_now_ns();
      } else if (fdatasync(j->fd) != 0) {
        return io_fail(errno);
      }
    }
  }
  j->last_seq = last > snap_seq ? last : snap_seq;
  j->since_snapshot = inf.records;
  j->replayed = 1;
  inf.last_seq = j->last_seq;
  if (info)
    *info = inf;
  return 0;
}

/* ---- append, snapshot, sync ---------------------------------------------- */

/* Makes the log's changes durable if the sync mode says so now. */
static int sync_after_append(acto_journal *j) {
  if (j->sync == ACTO_JOURNAL_SYNC_NONE) {
    j->unsynced = 1; /* for acto_journal_sync; the count does not matter */
    return 0;
  }
  uint64_t now = 0;
  if (j->sync == ACTO_JOURNAL_SYNC_BATCH) {
    now = acto__clock_now_ns();
    if (j->unsynced++ == 0)
      j->unsynced_since_ns = now;
    if (j->unsynced < j->batch_records && now - j->unsynced_since_ns < j->batch_ns)
      return 0;
  }
  if (fdatasync(j->fd) != 0)
    return fail_handle(j, errno);
  j->unsynced = 0;
  return 0;
}

int acto_journal_append(acto_journal *j, const void *data, size_t len, uint64_t *seq_out) {
  if (!j || (!data && len))
    return ACTO_EINVAL;
  if (len > j->max_record)
    return ACTO_ETOOBIG;
  if (j->failed_errno)
    return io_fail(j->failed_errno);
  if (!j->replayed)
    return ACTO_EINVAL;
  uint64_t seq = j->last_seq + 1;
  uint8_t h[REC_HDR];
  put32(h + 4, (uint32_t)len);
  put64(h + 8, seq);
  put32(h, crc32c(crc32c(0, h + 4, REC_HDR - 4), data, len));
  struct iovec iov[2] = {{h, REC_HDR}, {(void *)data, len}};
  if (pwritev_all(j->fd, iov, len ? 2 : 1, j->end) != 0) {
    int e = errno;
    /* Best effort: the next replay would cut a partial record anyway. */
    int ignored = ftruncate(j->fd, (off_t)j->end);
    (void)ignored;
    return fail_handle(j, e);
  }
  j->end += REC_HDR + len;
  j->last_seq = seq;
  j->since_snapshot++;
  int rc = sync_after_append(j);
  if (rc != 0)
    return rc;
  if (seq_out)
    *seq_out = seq;
  return j->snapshot_every && j->since_snapshot >= j->snapshot_every ? ACTO_JOURNAL_SNAPSHOT_DUE
                                                                     : 0;
}

int acto_journal_snapshot(acto_journal *j, const void *state, size_t len) {
  if (!j || (!state && len))
    return ACTO_EINVAL;
  if (j->failed_errno)
    return io_fail(j->failed_errno);
  if (!j->replayed)
    return ACTO_EINVAL;
  if (len > SIZE_MAX - SNAP_HDR - SNAP_TRAIL)
    return ACTO_ETOOBIG;
  uint8_t h[SNAP_HDR], t[SNAP_TRAIL];
  memset(h, 0, sizeof h);
  memcpy(h, SNAP_MAGIC, 8);
  put32(h + 8, FORMAT_VERSION);
  put64(h + 16, j->last_seq);
  put64(h + 24, (uint64_t)len);
  put32(t, crc32c(crc32c(0, h, SNAP_HDR), state, len));
  struct iovec iov[3] = {{h, SNAP_HDR}, {(void *)state, len}, {t, SNAP_TRAIL}};
  if (len == 0)
    iov[1] = iov[2];

  /* 1. The new snapshot, complete and flushed, under a temporary name. */
  int fd = openat(j->dirfd, SNAP_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail_handle(j, errno);
  if (pwritev_all(fd, iov, len ? 3 : 2, 0) != 0 || fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlinkat(j->dirfd, SNAP_TMP, 0);
    return fail_handle(j, e);
  }
  if (close(fd) != 0) {
    int e = errno;
    unlinkat(j->dirfd, SNAP_TMP, 0);
    return fail_handle(j, e);
  }
  /* 2. Into place, durably.  A crash before the rename: the old snapshot
   * and the full log.  After it: the new snapshot and the old log, whose
   * records replay skips by sequence number. */
  if (renameat(j->dirfd, SNAP_TMP, j->dirfd, SNAP_NAME) != 0) {
    int e = errno;
    unlinkat(j->dirfd, SNAP_TMP, 0);
    return fail_handle(j, e);
  }
  if (fsync(j->dirfd) != 0)
    return fail_handle(j, errno);
  /* 3. A fresh log continuing after the snapshot. */
  int rc = log_reset(j, j->last_seq);
  if (rc != 0)
    return fail_handle(j, errno);
  j->since_snapshot = 0;
  return 0;
}

int acto_journal_sync(acto_journal *j) {
  if (!j)
    return ACTO_EINVAL;
  if (j->failed_errno)
    return io_fail(j->failed_errno);
  if (j->fd < 0 || !j->unsynced)
    return 0;
  if (fdatasync(j->fd) != 0)
    return fail_handle(j, errno);
  j->unsynced = 0;
  return 0;
}
