/* acto_journal.h - the journal: an actor's durable event log.  An actor
 * writes each event to its journal before acknowledging it; after a restart
 * (of the actor, or of the whole process after a crash or SIGKILL) it
 * replays the journal - the latest snapshot, then the records written after
 * it - to rebuild its state.
 *
 * A journal is a directory holding two files (see ACTORS.md, "Journal", for
 * the byte layout):
 *   journal.log   a header, then checksummed records, each with a length
 *                 and a sequence number (1, 2, 3, ...), appended in order;
 *   journal.snap  the latest snapshot: a state and the sequence number of
 *                 the last record it covers, replaced atomically.
 * Temporary files (journal.log.tmp, journal.snap.tmp) appear only while a
 * snapshot is being taken; replay removes leftovers.
 *
 * Conventions: calls return 0 (or a documented positive status) on success
 * and a negative ACTO_E* code on failure.  ACTO_EIO means the system refused
 * (errno holds its reason) or a file is not a valid journal file (errno is
 * EBADMSG: corrupt snapshot or log header; ENOTSUP: unknown format version;
 * EWOULDBLOCK: another handle holds the journal).  A handle is used by one
 * thread at a time (the actor that owns it); distinct journals are
 * independent.
 */
#ifndef ACTO_JOURNAL_H
#define ACTO_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "acto_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct acto_journal acto_journal; /* opaque */

/* The default and the largest record payload (opts.max_record). */
#define ACTO_JOURNAL_DEFAULT_MAX_RECORD ((size_t)1 << 20)
#define ACTO_JOURNAL_MAX_RECORD_LIMIT ((size_t)1 << 30)

/* Returned (positive) by acto_journal_append when opts.snapshot_every
 * records have been appended since the last snapshot: the record is
 * appended like with 0, and the caller should now call
 * acto_journal_snapshot with its state (the journal cannot: the state is
 * the caller's).  Returned again by every append until it does. */
#define ACTO_JOURNAL_SNAPSHOT_DUE 1

/* When an append reaches the disk.  "Survives a process crash" means the
 * record is in the operating system (write() returned) and is replayed
 * after the process is killed, even by SIGKILL; "survives power loss" means
 * it was also flushed to the device (fdatasync) before the call returned. */
typedef enum acto_journal_sync_mode {
  /* The default, because a journal exists to keep what was acknowledged:
   * every append is flushed before it returns, so an acknowledged record
   * survives a process crash and power loss.  Costs one device flush per
   * append (microseconds on a RAM disk, up to milliseconds on a disk).
   * Choose SYNC_NONE when surviving a process crash is enough. */
  ACTO_JOURNAL_SYNC_EACH = 0,
  /* Appends are written before they return (they survive a process crash)
   * and flushed in groups: an append flushes when batch_records records
   * are unflushed, or when the oldest unflushed record is batch_ms old.
   * The flush happens inside an append (there is no background thread):
   * when appends stop, call acto_journal_sync (for example from a timer
   * every batch_ms) to bound the window.  On power loss some of the
   * records appended since the last flush may be lost: replay returns a
   * prefix of the acknowledged records (never a later one without the
   * earlier ones). */
  ACTO_JOURNAL_SYNC_BATCH = 1,
  /* Appends are written before they return and never flushed by the
   * journal (only by acto_journal_sync, snapshots and the operating
   * system): an acknowledged record survives a process crash or SIGKILL,
   * not an operating-system crash or power loss. */
  ACTO_JOURNAL_SYNC_NONE = 2
} acto_journal_sync_mode;

/* Options; a zeroed struct (or NULL) means the defaults. */
typedef struct acto_journal_opts {
  acto_journal_sync_mode sync; /* default ACTO_JOURNAL_SYNC_EACH */
  uint32_t batch_records;      /* SYNC_BATCH: flush at this many; 0: 64 */
  uint32_t batch_ms;           /* SYNC_BATCH: or at this age; 0: 10 ms */
  /* The largest record payload: bigger appends fail with ACTO_ETOOBIG, and
   * replay never allocates more than this (plus a 16-byte header, and at
   * least 64 KiB) whatever a length field says.  0: the default (1 MiB);
   * at most ACTO_JOURNAL_MAX_RECORD_LIMIT (1 GiB). */
  size_t max_record;
  /* Non-zero: append returns ACTO_JOURNAL_SNAPSHOT_DUE once this many
   * records were appended since the last snapshot (counting the records
   * replayed after it).  0: never. */
  uint64_t snapshot_every;
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_journal_opts;

/* How the log ended, reported by replay. */
typedef enum acto_journal_tail {
  ACTO_JOURNAL_TAIL_CLEAN = 0,   /* on a record boundary: nothing dropped */
  ACTO_JOURNAL_TAIL_TORN = 1,    /* the file ends inside a record (or a length
                                    field points past its end): an append
                                    interrupted by a crash */
  ACTO_JOURNAL_TAIL_CORRUPT = 2, /* a record failed its checksum, or its
                                    length exceeds max_record */
  ACTO_JOURNAL_TAIL_SEQUENCE = 3 /* a well-formed record with the wrong
                                    sequence number (stale data) */
} acto_journal_tail;

/* What replay found. */
typedef struct acto_journal_replay_info {
  int has_snapshot;        /* 1: a snapshot was passed to on_snapshot */
  uint64_t snapshot_seq;   /* the last sequence number the snapshot covers */
  uint64_t snapshot_bytes; /* the size of its state */
  uint64_t records;        /* records passed to on_record */
  uint64_t skipped;        /* records at or before snapshot_seq left in the
                              log by a crash during a snapshot: not passed */
  uint64_t last_seq;       /* the newest sequence number in the journal
                              (0: empty); the next append gets last_seq + 1 */
  uint64_t dropped_bytes;  /* bytes cut off the end of the log */
  acto_journal_tail tail;  /* why they were cut (CLEAN: none were) */
  uint64_t reserved[4]; /* zero: room to grow (ACTORS.md "Versions") */
} acto_journal_replay_info;

/* Replay callbacks.  data is valid for len bytes and borrowed until the
 * callback returns.  Return 0 to go on, or a negative value to stop the
 * replay, which then returns that value. */
typedef int (*acto_journal_snapshot_fn)(void *user, uint64_t seq, const void *state,
                                        size_t len);
typedef int (*acto_journal_record_fn)(void *user, uint64_t seq, const void *data,
                                      size_t len);

/* Opens the journal in the directory `path`, creating the directory (mode
 * 0700; its parent must exist) if needed, and locks it: a second handle on
 * the same journal, in this process or another, fails with ACTO_EIO
 * (errno EWOULDBLOCK) until the first is closed or its process dies.  No
 * file is read yet: call acto_journal_replay next.  opts may be NULL.
 * Returns ACTO_EINVAL (NULL or empty path, NULL out, bad opts), ACTO_ENOMEM
 * or ACTO_EIO.  Thread-safe; path and opts are borrowed until the call
 * returns; *out is owned by the caller and freed with acto_journal_close. */
ACTO_API int acto_journal_open(const char *path, const acto_journal_opts *opts,
                               acto_journal **out);

/* Rebuilds the caller's state: passes the snapshot, if any, to on_snapshot,
 * then every later record, in sequence order, to on_record (either may be
 * NULL to skip).  Must be called once, successfully, before the first
 * append or snapshot (which fail with ACTO_EINVAL until then); a second
 * call returns ACTO_EALREADY.
 *
 * Replay stops at the first torn or corrupt record, truncates the log
 * there so later appends are clean, and reports what it cut in *info; it
 * never passes a record that failed its checks.  Records at or before the
 * snapshot's sequence number (left by a crash during a snapshot) are
 * skipped.  A corrupt snapshot or log header, or a log that starts after
 * the snapshot (the snapshot file was lost), fails with ACTO_EIO (errno
 * EBADMSG; ENOTSUP for a newer format) before any callback runs and
 * changes neither file: acto never silently replaces a state it cannot
 * read (restore the files or remove the directory).  A record larger than
 * opts.max_record that passes its checksum fails with ACTO_ETOOBIG (reopen
 * with a larger max_record; nothing is cut).
 *
 * On any failure (including a callback's negative value) the state built
 * by the callbacks so far is incomplete: discard it; the call may be
 * repeated.  info may be NULL.  Not thread-safe (the owner's thread);
 * callbacks run on the calling thread; info is written before return. */
ACTO_API int acto_journal_replay(acto_journal *j, acto_journal_snapshot_fn on_snapshot,
                                 acto_journal_record_fn on_record, void *user,
                                 acto_journal_replay_info *info);

/* Appends a record of len bytes (0 .. opts.max_record; data may be NULL
 * when len is 0) with the next sequence number, stored in *seq_out (may be
 * NULL).  When it returns 0 or ACTO_JOURNAL_SNAPSHOT_DUE, the record is as
 * durable as the sync mode promises (see acto_journal_sync_mode).  Errors:
 * ACTO_EINVAL (NULL j, NULL data with len > 0, no replay yet),
 * ACTO_ETOOBIG (len > max_record; nothing written), ACTO_EIO (see below).
 *
 * An I/O error fails the handle: this and every later append, snapshot and
 * sync return ACTO_EIO.  The record may or may not be in the journal; close
 * the handle, reopen and replay to learn what reached the file.  Not
 * thread-safe (the owner's thread); data is copied (written) before
 * return. */
ACTO_API int acto_journal_append(acto_journal *j, const void *data, size_t len,
                                 uint64_t *seq_out);

/* Replaces the snapshot with `state`, covering every record appended so far
 * (the last sequence number), then starts an empty log.  The snapshot is
 * written to a temporary file, flushed, renamed over journal.snap and the
 * directory flushed before the log is reset the same way, so a crash at any
 * step leaves either the old snapshot and the full log, or the new snapshot
 * and a log whose older records replay skips.  Snapshots are flushed
 * whatever the sync mode.  Errors: ACTO_EINVAL (NULL j, NULL state with
 * len > 0, no replay yet), ACTO_EIO (fails the handle, as for append).
 * Not thread-safe (the owner's thread); state is copied (written) before
 * return. */
ACTO_API int acto_journal_snapshot(acto_journal *j, const void *state, size_t len);

/* Flushes every record appended so far to the device (fdatasync), in any
 * sync mode; a no-op when nothing is unflushed.  ACTO_EIO fails the handle.
 * Not thread-safe (the owner's thread). */
ACTO_API int acto_journal_sync(acto_journal *j);

/* Flushes unflushed records (except in SYNC_NONE), closes the files and
 * releases the lock.  j is freed on every return except ACTO_EINVAL (NULL
 * j); ACTO_EIO reports a failed final flush or a handle failed earlier.
 * Not thread-safe (the owner's thread). */
ACTO_API int acto_journal_close(acto_journal *j);

#ifdef __cplusplus
}
#endif
#endif /* ACTO_JOURNAL_H */
