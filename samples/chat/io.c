/* io.c - the chat server's TCP side: a libevent loop on a thread of its
 * own accepts clients, cuts their input into lines for their session
 * actors and writes the sessions' lines back, through each connection's
 * bounded outbox.
 *
 * DESIGN
 * Threads.  The I/O thread owns the event_base, the listener and every
 * bufferevent: nothing else touches them (PITFALLS, libevent 2).  A
 * session actor, on a worker, touches only its connection's shared part
 * (the outbox, under the connection's mutex, and the credit counter) and
 * wakes the I/O thread with event_active on the connection's wake event;
 * several wakes before the loop runs make one (wake_pending).  The I/O
 * thread never runs behaviour code: it sends lines to sessions with
 * fail_fast and never waits on a mailbox.
 *
 * Input.  A line is at most CHAT_LINE_MAX bytes before its LF (a CR
 * before the LF is dropped).  A longer one is discarded up to its LF and
 * reported to the session as CHAT_TOOLONG, so the error reply keeps its
 * place among the replies.  Reading is bounded four ways: libevent's
 * input buffer stops at 16 KiB (read high-watermark); at most
 * CHAT_INFLIGHT lines are handed to the session and not yet answered (the
 * credit; chat_conn_done gives it back); nothing is read while the
 * outbox holds its bound; and the rate limit.  Past any of them the
 * connection stops reading and TCP pushes back on the client.  A session
 * mailbox that is full (ACTO_EFULL) is retried after CHAT_RETRY_MS.
 *
 * The rate limit.  Each connection has a token bucket: at most
 * --line-burst tokens, --line-rate more every second (0: no limit), and
 * each line handed to the session (a command, an empty line, an over-long
 * one) takes one.  With no token left the connection stops reading until
 * the next one is due (timer_ev, shared with the retry of a full
 * mailbox).  So a client past the limit is slowed down, never refused:
 * its lines wait in its own socket and TCP pushes back on it; and in any
 * span of t seconds at most burst + rate x t of its lines get through.
 *
 * Idle clients.  A client that sends no line for --idle-timeout-ms (0:
 * never) while the server waits for one is closed.  The idle clock
 * (active_ms) restarts when a line is handed over (an empty one too; bytes
 * without their LF do not count), when the last line handed over has been
 * answered, and when reading resumes; it stands still while reading is
 * paused (outbox, credit, rate, full mailbox) or lines are unanswered,
 * since then the client waits for the server.  idle_ev fires when the
 * clock could have run out and looks again; bytes that wait unread in the
 * socket (the loop ran late) get one more look first, 10 ms later.  A timed-out session
 * stops with CHAT_REASON_IDLE; its terminate queues
 *   ! no line from you in S s: closing the connection
 * as its last line, and its rooms hear "(idle timeout)".
 *
 * Outbox.  Lines for the client wait in the connection's outbox; the I/O
 * thread moves them into libevent's output buffer CHAT_OUT_CHUNK bytes at
 * a time, whenever that buffer runs empty.  A line that is not a reply
 * (a room line, a private message, a notice) is dropped when the outbox
 * would exceed its bound (--outbox, default 64 KiB), and from then on
 * every such line is dropped until the outbox and libevent's buffer are
 * both empty, that is, until everything queued before the first drop has
 * been written to the socket.  At that moment the I/O thread writes
 *   ! dropped N lines: you are reading too slowly
 * (N counts the lines dropped since the last such notice) and delivery
 * resumes.  The client thus sees one gap, announced where it ends.
 * Replies are never dropped that way.  The line that ends a reply ("ok
 * ..." or "error: ...", CHAT_OUT_END) is always queued; the "= ..." lines
 * of a listing (CHAT_OUT_LISTING) are refused once the outbox would pass
 * CHAT_OUTBOX_HARD times the bound, and the session then ends the listing
 * with a marker line that counts what was cut (session.c, "Replies").
 * Since no command is read while the outbox is over its bound, only the
 * replies of the commands already read (at most CHAT_INFLIGHT) can go
 * past it.  What a stuck client holds is thus bounded: the outbox
 * (CHAT_OUTBOX_HARD times the bound, plus the end and marker lines of
 * CHAT_INFLIGHT replies), one chunk in libevent, and the socket's send
 * buffer (SO_SNDBUF CHAT_SNDBUF, which Linux doubles).  When the memory
 * for a reply's end cannot be had, the connection is closed rather than
 * leave the reply without its end.
 *
 * Lifetime.  A connection is freed by the I/O thread once its session has
 * terminated (chat_conn_release, the session's last touch, under the
 * mutex) and its socket is closed.  An error closes the socket and stops
 * the session.  EOF only ends the input: the lines already received are
 * handed over, and once every one is answered the session is stopped.
 * Bytes after the last LF at EOF are not a line: the client may have died
 * in the middle of it (a half-close and a crash look the same from here),
 * so they are never executed; the session is told (CHAT_PARTIAL) and
 * answers with an error line, which a client that only half-closed still
 * reads.  The I/O thread stops a session with an exit reason that says
 * why (CHAT_REASON_LOST after EOF or an error, CHAT_REASON_IDLE), so its
 * rooms do not announce "(quit)", which is for QUIT alone.  A session
 * that stops (QUIT, after EOF, timed out) has its queued lines flushed
 * for at most CHAT_LINGER_MS before the socket closes.
 *
 * The listener's backlog is net.core.somaxconn (listen_backlog).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "chat.h"

#define READ_HIGH_WATER 16384u

struct chat_conn {
  chat_io *io;
  size_t bound; /* the outbox bound (read-only) */
  /* I/O thread only. */
  struct bufferevent *bev; /* NULL once the socket is closed */
  struct event *wake_ev;   /* activated by the session (chat_conn_*) */
  struct event *timer_ev;  /* input waits (full mailbox, rate); the linger deadline */
  struct event *idle_ev;   /* the idle check */
  chat_conn *prev, *next;  /* io->conns */
  acto_ref session;
  int has_session;
  int discarding;  /* inside an over-long line: drop up to its LF */
  int paused;      /* reading disabled by us */
  int waiting;     /* timer_ev will go on with the input (full mailbox, rate) */
  int closing;     /* the session is gone: flushing, then closing */
  int eof;         /* the client sent everything (EOF): answer, then stop */
  int stop_sent;   /* the session was told to stop (stop_session) */
  int answering;   /* lines went to the session since inflight was last seen 0 */
  int64_t active_ms; /* the idle clock's start (now_ms) */
  int idle_grace;    /* the idle check gave unread bytes one more look */
  double tokens;     /* the rate limit's bucket: lines that may go now */
  int64_t tokens_us; /* ... as of this time (now_us) */
  /* Shared with the session, under mu. */
  pthread_mutex_t mu;
  char *out;            /* the outbox: out[out_off, out_off + out_len) */
  size_t out_off, out_len, out_cap;
  uint64_t dropped;     /* lines dropped since the last notice */
  int dropping;         /* a gap is open: drop non-replies until drained */
  int wake_pending;     /* wake_ev is active and not yet handled */
  int broken;           /* a reply's end found no memory: close the connection */
  int gone;             /* the session terminated (its last touch) */
  /* Any thread. */
  _Atomic unsigned inflight; /* lines sent to the session, not yet answered */
};

struct chat_io {
  chat_server *srv;
  struct event_base *base;
  struct evconnlistener *lis;
  struct event *quiesce_ev;
  struct event *accept_ev; /* re-enables the listener after an accept error */
  pthread_t thread;
  int running;
  sem_t quiesced;
  uint16_t port;
  /* I/O thread only (main only once the thread is joined). */
  int acto_off; /* quiesced: no more acto calls */
  chat_conn *conns;
  unsigned nconns;
};

static void process_input(chat_conn *c);
static void pump(chat_conn *c);

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void) { return now_us() / 1000; }

/* ---- the session's side (any thread) --------------------------------------------- */

chat_server *chat_conn_server(chat_conn *c) { return c->io->srv; }

/* Caller holds c->mu. */
static void wake_locked(chat_conn *c) {
  if (!c->wake_pending) {
    c->wake_pending = 1;
    event_active(c->wake_ev, EV_READ, 0);
  }
}

static int out_reserve_locked(chat_conn *c, size_t need) {
  if (c->out_off + c->out_len + need <= c->out_cap) return 0;
  if (c->out_off) { /* compact first */
    memmove(c->out, c->out + c->out_off, c->out_len);
    c->out_off = 0;
    if (c->out_len + need <= c->out_cap) return 0;
  }
  size_t cap = c->out_cap ? c->out_cap : 4096;
  while (cap < c->out_len + need) cap *= 2;
  char *p = realloc(c->out, cap);
  if (!p) return -1;
  c->out = p;
  c->out_cap = cap;
  return 0;
}

int chat_conn_write(chat_conn *c, const char *line, size_t len, int kind) {
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  if (kind == CHAT_OUT_END) {
    /* Never dropped: without memory the connection is closed instead, so
     * a client never sees a reply without its end. */
    if (out_reserve_locked(c, len + 2) != 0) {
      c->broken = 1;
      rc = -1;
    }
  } else if (kind == CHAT_OUT_LISTING) {
    if (c->out_len + len + 2 > c->bound * CHAT_OUTBOX_HARD || out_reserve_locked(c, len + 2) != 0)
      rc = -1; /* the session cuts the listing here */
  } else if (c->dropping || c->out_len + len + 2 > c->bound ||
             out_reserve_locked(c, len + 2) != 0) {
    c->dropping = 1;
    c->dropped++;
    rc = -1;
  }
  if (rc == 0) {
    memcpy(c->out + c->out_off + c->out_len, line, len);
    memcpy(c->out + c->out_off + c->out_len + len, "\r\n", 2);
    c->out_len += len + 2;
  }
  wake_locked(c);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void chat_conn_done(chat_conn *c) {
  /* Only the step down from the full credit can find reading paused for
   * it: the I/O thread pauses when it reads inflight == CHAT_INFLIGHT.
   * The step down to 0 may be what a client at EOF waits for.  Relaxed:
   * the counter guards no data, and the wake itself goes through the
   * mutex and event_active. */
  unsigned old = atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
  if (old == CHAT_INFLIGHT || old == 1) {
    pthread_mutex_lock(&c->mu);
    wake_locked(c);
    pthread_mutex_unlock(&c->mu);
  }
}

void chat_conn_release(chat_conn *c) {
  pthread_mutex_lock(&c->mu);
  c->gone = 1;
  wake_locked(c);
  pthread_mutex_unlock(&c->mu); /* the last touch: the I/O thread may free c now */
}

/* ---- connections (I/O thread) ------------------------------------------------------- */

static void conn_free(chat_conn *c) {
  chat_io *io = c->io;
  if (c->prev) c->prev->next = c->next;
  else io->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  io->nconns--;
  if (c->bev) bufferevent_free(c->bev);
  event_free(c->wake_ev);
  event_free(c->timer_ev);
  event_free(c->idle_ev);
  pthread_mutex_destroy(&c->mu);
  free(c->out);
  free(c);
}

static void close_socket(chat_conn *c) {
  if (c->bev) {
    bufferevent_free(c->bev);
    c->bev = NULL;
  }
}

static void pause_reading(chat_conn *c) {
  if (!c->paused && c->bev) {
    bufferevent_disable(c->bev, EV_READ);
    c->paused = 1;
  }
}

static void resume_reading(chat_conn *c) {
  if (c->paused && c->bev && !c->closing && !c->eof && !c->stop_sent) {
    bufferevent_enable(c->bev, EV_READ);
    c->paused = 0;
    c->active_ms = now_ms(); /* the idle clock starts again */
  }
}

/* The session is gone: stop reading, write what is queued, then close
 * (at the latest after CHAT_LINGER_MS). */
static void start_closing(chat_conn *c) {
  c->closing = 1;
  pause_reading(c);
  evtimer_del(c->timer_ev);
  evtimer_del(c->idle_ev);
  c->waiting = 0;
  struct timeval tv = {CHAT_LINGER_MS / 1000, (CHAT_LINGER_MS % 1000) * 1000};
  evtimer_add(c->timer_ev, &tv);
}

/* The connection ended without QUIT, or timed out: the session stops
 * with `reason` (CHAT_REASON_LOST or CHAT_REASON_IDLE; an exit signal, a
 * system message: never refused), so its rooms hear why, and its
 * terminate releases the connection, which pump then frees. */
static void stop_session(chat_conn *c, int reason) {
  if (c->stop_sent) return;
  c->stop_sent = 1;
  if (c->has_session && !c->io->acto_off) (void)acto_exit(c->io->srv->sys, c->session, reason);
}

/* After EOF: once every line is answered, the session stops (a stop
 * would overtake lines still queued for it). */
static void finish_eof(chat_conn *c) {
  if (!c->eof || c->closing || c->stop_sent || c->waiting || !c->bev) return;
  if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) return;
  if (atomic_load_explicit(&c->inflight, memory_order_relaxed) > 0) return;
  stop_session(c, CHAT_REASON_LOST);
}

/* May the next line go to the session? */
static int can_take(chat_conn *c) {
  if (atomic_load_explicit(&c->inflight, memory_order_relaxed) >= CHAT_INFLIGHT) return 0;
  pthread_mutex_lock(&c->mu);
  int full = c->out_len >= c->bound;
  pthread_mutex_unlock(&c->mu);
  return !full;
}

/* Hands one line (or a TOOLONG) to the session: 0, ACTO_EFULL, or an error
 * that means the session is gone. */
static int dispatch(chat_conn *c, uint32_t type, const char *text, size_t len) {
  if (c->io->acto_off || !c->has_session) return ACTO_ESHUTDOWN;
  atomic_fetch_add_explicit(&c->inflight, 1, memory_order_relaxed);
  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  o.fail_fast = 1;
  int rc = acto_send_ex(c->io->srv->sys, c->session, type, text, len, &o);
  if (rc < 0) atomic_fetch_sub_explicit(&c->inflight, 1, memory_order_relaxed);
  return rc;
}

/* Input goes on from timer_ev after us microseconds; meanwhile the
 * connection reads nothing, and TCP pushes back on the client. */
static void wait_input(chat_conn *c, int64_t us) {
  pause_reading(c);
  c->waiting = 1;
  struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
  evtimer_add(c->timer_ev, &tv);
}

/* The rate limit, a token bucket: line_burst tokens at most, line_rate
 * more per second, one per line.  1 when a line may go now; otherwise
 * reading waits for the next token. */
static int rate_allows(chat_conn *c) {
  const chat_server *srv = c->io->srv;
  if (srv->line_rate == 0) return 1;
  int64_t now = now_us();
  c->tokens += (double)(now - c->tokens_us) * srv->line_rate / 1e6;
  c->tokens_us = now;
  if (c->tokens > srv->line_burst) c->tokens = srv->line_burst;
  if (c->tokens >= 1.0) return 1;
  wait_input(c, (int64_t)((1.0 - c->tokens) * 1e6 / srv->line_rate) + 1);
  return 0;
}

/* Cuts complete lines out of the input and hands them to the session, as
 * long as the credit, the outbox and the rate limit allow. */
static void process_input(chat_conn *c) {
  char line[CHAT_LINE_MAX + 2];
  if (!c->bev || c->closing || c->waiting || c->stop_sent) return;
  struct evbuffer *in = bufferevent_get_input(c->bev);
  for (;;) {
    size_t avail = evbuffer_get_length(in);
    if (avail == 0) break;
    size_t eol_len = 0;
    ev_ssize_t pos = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF).pos;
    if (c->discarding) { /* the rest of an over-long line */
      if (pos < 0) {
        evbuffer_drain(in, avail);
        break;
      }
      evbuffer_drain(in, (size_t)pos + eol_len);
      c->discarding = 0;
      continue;
    }
    int partial = 0; /* at EOF: bytes without their LF, never a command */
    if (pos < 0 && avail < CHAT_LINE_MAX + 2) {
      if (!c->eof) break; /* a line still arriving */
      partial = 1;
    }
    if (!can_take(c)) {
      pause_reading(c);
      return;
    }
    if (!rate_allows(c)) return;
    /* pos < 0: no LF within the longest line (CR included). */
    size_t n = pos < 0 ? avail : (size_t)pos;
    size_t len = n;
    int rc;
    if (pos >= 0 && n <= CHAT_LINE_MAX + 1) {
      evbuffer_copyout(in, line, n);
      if (len > 0 && line[len - 1] == '\r') len--;
    }
    if (partial) rc = dispatch(c, CHAT_PARTIAL, NULL, 0);
    else if (pos < 0 || len > CHAT_LINE_MAX) rc = dispatch(c, CHAT_TOOLONG, NULL, 0);
    else rc = dispatch(c, CHAT_LINE, line, len);
    if (rc == ACTO_EFULL) { /* the line stays in the input; later */
      wait_input(c, CHAT_RETRY_MS * 1000);
      return;
    }
    if (partial) {
      evbuffer_drain(in, avail);
    } else {
      evbuffer_drain(in, pos < 0 ? n : n + eol_len);
      if (pos < 0) c->discarding = 1;
    }
    if (rc < 0) { /* the session is gone (or acto is shutting down) */
      evbuffer_drain(in, evbuffer_get_length(in));
      pause_reading(c);
      finish_eof(c);
      return;
    }
    c->tokens -= 1.0;
    c->answering = 1;
    c->active_ms = now_ms();
  }
  resume_reading(c);
  finish_eof(c);
}

/* Moves the outbox into libevent's buffer, writes the drop notice when a
 * gap closes, and handles the session's end. */
static void pump(chat_conn *c) {
  pthread_mutex_lock(&c->mu);
  c->wake_pending = 0;
  int gone = c->gone;
  if (c->bev) {
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t olen = evbuffer_get_length(out);
    while (c->out_len > 0 && (gone || olen < CHAT_OUT_CHUNK)) {
      size_t n = gone ? c->out_len : CHAT_OUT_CHUNK - olen;
      if (n > c->out_len) n = c->out_len;
      if (evbuffer_add(out, c->out + c->out_off, n) != 0) break;
      c->out_off += n;
      c->out_len -= n;
      olen += n;
    }
    if (c->dropping && !gone && c->out_len == 0 && olen == 0) {
      evbuffer_add_printf(out, "! dropped %llu lines: you are reading too slowly\r\n",
                          (unsigned long long)c->dropped);
      c->dropping = 0;
      c->dropped = 0;
    }
  } else {
    c->out_len = 0; /* nobody to write to */
  }
  if (c->out_len == 0) c->out_off = 0;
  int broken = c->broken;
  pthread_mutex_unlock(&c->mu);

  /* Every line answered: the idle clock starts now.  (chat_conn_done
   * wakes this thread at its step to 0, and the mutex orders that step
   * before this load.) */
  if (c->answering && atomic_load_explicit(&c->inflight, memory_order_relaxed) == 0) {
    c->answering = 0;
    c->active_ms = now_ms();
  }

  if (broken && c->bev && !c->closing) { /* as if the connection had failed */
    close_socket(c);
    stop_session(c, CHAT_REASON_LOST);
  }
  if (gone && !c->closing) start_closing(c);
  if (c->closing) {
    if (!c->bev || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) conn_free(c);
    return;
  }
  if (c->paused || c->eof) process_input(c);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  pump(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  chat_conn *c = arg;
  if (c->closing) { /* the linger deadline */
    conn_free(c);
    return;
  }
  c->waiting = 0;
  process_input(c);
}

static void arm_idle(chat_conn *c, int64_t ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(c->idle_ev, &tv);
}

/* The idle check: fires at the earliest when the idle clock could have
 * run out, and looks again. */
static void idle_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  chat_conn *c = arg;
  if (!c->bev || c->closing || c->eof || c->stop_sent) return; /* not waiting for lines */
  int64_t limit = c->io->srv->idle_ms, now = now_ms();
  /* Not idle while the server is not reading (it paused: outbox, credit,
   * rate limit, full mailbox) or has lines still to answer. */
  if (c->paused || atomic_load_explicit(&c->inflight, memory_order_relaxed) > 0)
    c->active_ms = now;
  if (now - c->active_ms < limit) {
    c->idle_grace = 0;
    arm_idle(c, limit - (now - c->active_ms));
    return;
  }
  /* Bytes in the socket that this thread has not read yet (it ran late)
   * may hold a line: look again once the loop has read them (once: by
   * then it has, and bytes that never make a line do not count). */
  char b;
  if (!c->idle_grace && recv(bufferevent_getfd(c->bev), &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) {
    c->idle_grace = 1;
    arm_idle(c, 10);
    return;
  }
  pause_reading(c);
  stop_session(c, CHAT_REASON_IDLE); /* its terminate says why, then we close */
}

static void read_cb(struct bufferevent *bev, void *arg) {
  (void)bev;
  process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg) {
  (void)bev;
  pump(arg); /* libevent's buffer ran empty */
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  (void)bev;
  chat_conn *c = arg;
  if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
  if (!(what & BEV_EVENT_ERROR) && (what & BEV_EVENT_READING) && !c->closing) {
    /* The client has sent everything (it may still read): its last
     * commands are answered before the session stops. */
    c->eof = 1;
    pause_reading(c);
    process_input(c);
    return;
  }
  close_socket(c);
  if (c->closing) {
    conn_free(c);
    return;
  }
  stop_session(c, CHAT_REASON_LOST);
}

static void refuse(evutil_socket_t fd, const char *why) {
  (void)!send(fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT);
  evutil_closesocket(fd);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg) {
  (void)lis, (void)sa, (void)salen;
  chat_io *io = arg;
  if (io->acto_off) {
    evutil_closesocket(fd);
    return;
  }
  if (io->nconns >= CHAT_MAX_CONNS) {
    refuse(fd, "error: the server is full\r\n");
    return;
  }
  int one = 1, sndbuf = CHAT_SNDBUF;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  chat_conn *c = calloc(1, sizeof *c);
  if (!c) {
    refuse(fd, "error: out of memory\r\n");
    return;
  }
  c->io = io;
  c->bound = io->srv->outbox;
  pthread_mutex_init(&c->mu, NULL);
  c->bev = bufferevent_socket_new(io->base, fd, BEV_OPT_CLOSE_ON_FREE);
  c->wake_ev = event_new(io->base, -1, 0, wake_cb, c);
  c->timer_ev = evtimer_new(io->base, timer_cb, c);
  c->idle_ev = evtimer_new(io->base, idle_cb, c);
  if (!c->bev || !c->wake_ev || !c->timer_ev || !c->idle_ev) {
    if (c->bev) bufferevent_free(c->bev);
    else evutil_closesocket(fd);
    if (c->wake_ev) event_free(c->wake_ev);
    if (c->timer_ev) event_free(c->timer_ev);
    if (c->idle_ev) event_free(c->idle_ev);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return;
  }
  c->next = io->conns;
  if (io->conns) io->conns->prev = c;
  io->conns = c;
  io->nconns++;
  bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
  bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WATER);

  /* The session's init writes the greeting (and so uses wake_ev). */
  acto_spawn_opts so = {.capacity = 1024, .overflow = ACTO_OVERFLOW_BLOCK};
  int rc = acto_spawn(io->srv->sys, &chat_session_behaviour, c, &so, &c->session);
  if (rc < 0) {
    char msg[128];
    int n = snprintf(msg, sizeof msg, "error: cannot start a session: %s\r\n", acto_strerror(rc));
    bufferevent_write(c->bev, msg, (size_t)n);
    c->gone = 1; /* no session will ever touch c */
    bufferevent_enable(c->bev, EV_WRITE);
    start_closing(c);
    return;
  }
  c->has_session = 1;
  c->tokens = io->srv->line_burst;
  c->tokens_us = now_us();
  c->active_ms = now_ms();
  if (io->srv->idle_ms > 0) arm_idle(c, io->srv->idle_ms);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* accept() failed (out of descriptors, say): the listener would fire
 * again at once, so it rests for 100 ms. */
static void accept_error_cb(struct evconnlistener *lis, void *arg) {
  chat_io *io = arg;
  evconnlistener_disable(lis);
  struct timeval tv = {0, 100 * 1000};
  evtimer_add(io->accept_ev, &tv);
}

static void accept_again_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  chat_io *io = arg;
  if (io->lis) evconnlistener_enable(io->lis);
}

/* ---- the thread ------------------------------------------------------------------- */

/* The listen backlog: the kernel's own cap, net.core.somaxconn, so that a
 * burst of connections waits in the kernel's accept queue instead of
 * having its SYNs dropped (a larger backlog than the cap would be cut to
 * it anyway); SOMAXCONN when the file cannot be read. */
static int listen_backlog(void) {
  long v = 0;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
  if (f) {
    if (fscanf(f, "%ld", &v) != 1) v = 0;
    fclose(f);
  }
  return v > 0 && v <= INT_MAX ? (int)v : SOMAXCONN;
}

static void quiesce_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what;
  chat_io *io = arg;
  io->acto_off = 1;
  if (io->lis) {
    evconnlistener_free(io->lis);
    io->lis = NULL;
  }
  sem_post(&io->quiesced);
}

static void *io_main(void *arg) {
  chat_io *io = arg;
  event_base_loop(io->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

int chat_io_start(chat_server *srv, const char *host, uint16_t port, chat_io **out) {
  if (evthread_use_pthreads() != 0) return -ENOSYS;
  chat_io *io = calloc(1, sizeof *io);
  if (!io) return -ENOMEM;
  io->srv = srv;
  int err = -ENOMEM;
  if (sem_init(&io->quiesced, 0, 0) != 0) goto fail_free;
  io->base = event_base_new();
  if (!io->base) goto fail_sem;
  io->quiesce_ev = event_new(io->base, -1, 0, quiesce_cb, io);
  io->accept_ev = evtimer_new(io->base, accept_again_cb, io);
  if (!io->quiesce_ev || !io->accept_ev) goto fail_ev;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
    err = -EINVAL;
    goto fail_ev;
  }
  io->lis = evconnlistener_new_bind(io->base, accept_cb, io,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, listen_backlog(),
                                    (struct sockaddr *)&sin, sizeof sin);
  if (!io->lis) {
    err = errno ? -errno : -EADDRINUSE;
    goto fail_ev;
  }
  socklen_t sl = sizeof sin;
  if (getsockname(evconnlistener_get_fd(io->lis), (struct sockaddr *)&sin, &sl) != 0) {
    err = -errno;
    goto fail_lis;
  }
  io->port = ntohs(sin.sin_port);
  evconnlistener_set_error_cb(io->lis, accept_error_cb);
  if ((err = pthread_create(&io->thread, NULL, io_main, io)) != 0) {
    err = -err;
    goto fail_lis;
  }
  io->running = 1;
  *out = io;
  return 0;

fail_lis:
  evconnlistener_free(io->lis);
fail_ev:
  if (io->quiesce_ev) event_free(io->quiesce_ev);
  if (io->accept_ev) event_free(io->accept_ev);
  event_base_free(io->base);
fail_sem:
  sem_destroy(&io->quiesced);
fail_free:
  free(io);
  return err;
}

uint16_t chat_io_port(const chat_io *io) { return io->port; }

void chat_io_quiesce(chat_io *io) {
  event_active(io->quiesce_ev, EV_READ, 0);
  while (sem_wait(&io->quiesced) != 0 && errno == EINTR) {
  }
}

void chat_io_stop(chat_io *io) {
  event_base_loopbreak(io->base);
  pthread_join(io->thread, NULL);
  /* Every session has terminated (acto_system_shutdown came first), so
   * nothing else touches the connections any more. */
  while (io->conns) conn_free(io->conns);
  if (io->lis) evconnlistener_free(io->lis);
  event_free(io->quiesce_ev);
  event_free(io->accept_ev);
  event_base_free(io->base);
  sem_destroy(&io->quiesced);
  free(io);
}
