/* chat.h - the chat sample (ACTORS.md, "The chat sample"): a chat server
 * speaking a line protocol over TCP (nc or telnet), one actor per
 * connection, and any number of servers joined into one chat as one acto
 * cluster, with no hub.
 *
 * The pieces, one file each:
 *   io.c         the TCP side: its own libevent loop on its own thread,
 *                line framing, each connection's bounded outbox
 *   session.c    a session actor per connection: the commands, their
 *                replies, the user's nick and rooms
 *   directory.c  the user directory on the cluster: nicks as global names,
 *                the ROOMS and USERS listings from the cluster's groups
 *   room.c       a room as a process group: join, leave, post, and who is
 *                in it as a session sees it
 *   main.c       options, the node, its seeds, start and shutdown
 *   check.c      what all of them check: names, one-line text, and the
 *                log line of a message that does not fit its type
 *
 * DESIGN
 * No hub.  Every server runs an acto node; servers join one cluster by
 * seeds (--seed NAME@HOST:PORT).  A server started without --node runs a
 * node of its own that listens nowhere, a cluster of one.  There is no
 * directory actor and no room actor: the cluster's tables are the chat's
 * state, replicated to every server, so no server is special and any may
 * go.
 *   - A nick is the global name "chat.nick/<nick in lower case>" of its
 *     session (acto_global_register: ACTO_EEXIST means the nick is taken
 *     anywhere in the cluster), and the session is also the one member of
 *     the group "chat.user/<nick>", which USERS lists.
 *   - A room is the group "chat.room/<room in lower case>" of its member
 *     sessions.  A line is one acto_group_broadcast: one copy per server,
 *     which that server hands to each of its members.  JOIN and PART are
 *     announced with broadcasts of their own (HELLO, BYE).
 *   - Each session subscribes to the groups of its rooms.  A member of a
 *     server that went down leaves the group at once (ACTO_GROUP_LEFT),
 *     and every session in the room tells its client, once, that the
 *     member left "(connection lost)" (room.c).
 * Order.  Lines and notices of one sender reach every member in the order
 * sent (the group broadcast's order, per sender and member).  Lines of
 * different senders may interleave differently for different members:
 * there is no longer one total order per room.
 *
 * Nobody waits on a session.  Sessions never park on each other for
 * long: a private line uses fail_fast and is retried from a timer when
 * the mailbox is full; a broadcast may park its sender for a moment on a
 * full (block policy) session mailbox, which a session drains quickly
 * whatever its client does: a line for a client that reads too slowly is
 * dropped into a count, not waited for (io.c, "outbox").
 *
 * Messages between servers are msgpack, declared below: servers built by
 * different compilers, or for different machines, share rooms.  Every
 * handler unpacks each message with its type's checks (field count,
 * types, ranges, lengths) and ignores, after a log line, one that does not
 * fit, and text that becomes a client's line must be one line
 * (chat_one_line): a peer node holds the key, but a bug or a forged
 * message must not crash a server nor put a line the protocol does not
 * have on a client's screen.
 */
#ifndef CHAT_H
#define CHAT_H

#include <stddef.h>
#include <stdint.h>

#include <acto/acto.h>
#include <acto/acto_cluster.h>
#include <acto/acto_msgpack.h>

/* ---- limits --------------------------------------------------------------- */

#define CHAT_LINE_MAX 510u        /* text bytes of a client line (CR LF excluded) */
#define CHAT_NICK_MAX 16u         /* bytes of a nick */
#define CHAT_ROOM_MAX 33u         /* bytes of a room name, '#' included */
#define CHAT_ROOMS_PER_USER 16u   /* rooms one session may be in */
#define CHAT_MAX_MEMBERS 4096u    /* members of a room one session keeps */
#define CHAT_MAX_CONNS 1024u      /* client connections per server */
#define CHAT_INFLIGHT 16u         /* commands read but not yet answered */
#define CHAT_OUTBOX_DEFAULT 65536u /* the outbox bound, bytes (--outbox) */
#define CHAT_OUTBOX_HARD 4u       /* listing lines may fill the outbox to 4 x bound */
#define CHAT_OUT_CHUNK 16384u     /* bytes handed to libevent at a time */
#define CHAT_SNDBUF 32768         /* SO_SNDBUF of client sockets */
#define CHAT_RETRY_MS 5           /* retry of a send that found a full mailbox */
#define CHAT_RETRY_MAX 1000       /* ... at most this many times (5 s) */
#define CHAT_LINGER_MS 2000       /* a closing connection flushes at most this long */
#define CHAT_IDLE_DEFAULT_MS 600000 /* --idle-timeout-ms: 10 min without a line */
#define CHAT_RATE_DEFAULT 10u     /* --line-rate: lines per second per client */
#define CHAT_BURST_DEFAULT 20u    /* --line-burst: lines at once before the rate */
#define CHAT_SEEDS_MAX 16u        /* --seed options */
#define CHAT_SEED_WAIT_MS 5000    /* at start, how long to wait for each seed */
/* The longest line a session writes for its client from a message:
 * "#room <nick> text" and "private <nick> text" with the longest names. */
#define CHAT_DELIVER_MAX (CHAT_ROOM_MAX + CHAT_NICK_MAX + CHAT_LINE_MAX + 16u)

/* ---- messages ---------------------------------------------------------------- */

/* Each type's payload.  Every payload that may cross nodes is msgpack
 * (acto_msgpack.h), declared once below with ACTO_MSGPACK_STRUCT: a
 * msgpack array of the fields in order.  A payload that does not unpack,
 * or whose fields break the rules below, is logged (chat_bad_payload) and
 * ignored.  Only the I/O thread's lines (CHAT_LINE, CHAT_TOOLONG,
 * CHAT_PARTIAL) and the session's own CHAT_RETRY are raw bytes: they never
 * leave their server. */
enum chat_msg {
  /* to a session, from its own server */
  CHAT_LINE = 1,    /* from the I/O thread: a command line, no newline
                       (0..CHAT_LINE_MAX raw bytes) */
  CHAT_TOOLONG = 2, /* from the I/O thread: a line longer than CHAT_LINE_MAX
                       (no payload) */
  CHAT_RETRY = 5,   /* from itself: retry the send that found a full mailbox
                       (no payload) */
  CHAT_PARTIAL = 7, /* from the I/O thread: the input ended inside a line
                       (no payload) */
  /* to a session, from a session on any server */
  CHAT_PRIV = 3,      /* chat_priv: a private line, sent to the nick's session */
  CHAT_R_HELLO = 200, /* chat_rmsg, broadcast to a room: the sender joined */
  CHAT_R_HERE = 201,  /* chat_rmsg, to one session: the sender is in the room
                         (the answer to a HELLO) */
  CHAT_R_BYE = 202,   /* chat_rmsg, broadcast to a room: the sender leaves,
                         why (chat_part_why) */
  CHAT_R_POST = 203   /* chat_rmsg, broadcast to a room: a line (text) */
};

/* A private line: the sender's nick and 1..CHAT_LINE_MAX bytes of one line. */
#define CHAT_PRIV_FIELDS(F) F(str, nick, CHAT_NICK_MAX) F(str, text, CHAT_LINE_MAX)
ACTO_MSGPACK_STRUCT(chat_priv, CHAT_PRIV_FIELDS)

/* A room message: the room (its canonical, lower-case name), the sender's
 * nick, why (BYE: a chat_part_why; 0 otherwise) and text (POST: 1..
 * CHAT_LINE_MAX bytes of one line; empty otherwise). */
#define CHAT_RMSG_FIELDS(F)                                                                       \
  F(str, room, CHAT_ROOM_MAX) F(str, nick, CHAT_NICK_MAX) F(i32, why) F(str, text, CHAT_LINE_MAX)
ACTO_MSGPACK_STRUCT(chat_rmsg, CHAT_RMSG_FIELDS)

/* Logs a message whose payload did not fit and is dropped: the first
 * CHAT_BAD_LOGGED of a process, then every 1000th (check.c). */
#define CHAT_BAD_LOGGED 20
void chat_bad_payload(const char *who, const acto_msg *msg, const char *why);

/* Why a session stopped, as its exit reason (what its terminate tells
 * its rooms): ACTO_REASON_NORMAL only after QUIT (acto_stop_self); the I/O
 * thread stops a session whose connection ended any other way with
 * CHAT_REASON_LOST (acto_exit).  A positive reason of the user's range
 * (acto_actor.h); nothing is linked to a session, so "abnormal" has no
 * other effect. */
#define CHAT_REASON_LOST 100
/* ... and with CHAT_REASON_IDLE when the client sent no line for
 * --idle-timeout-ms (io.c, "Idle clients"). */
#define CHAT_REASON_IDLE 101

/* Why a member leaves a room. */
enum chat_part_why {
  CHAT_PART_LEFT = 0, /* PART */
  CHAT_PART_QUIT = 1, /* QUIT: "(quit)" */
  CHAT_PART_LOST = 2, /* the connection ended otherwise: "(connection lost)" */
  CHAT_PART_IDLE = 3, /* timed out: "(idle timeout)" */
  CHAT_PART_NICK = 4  /* lost its nick to another server's user when a
                         partition healed: "(nick lost)" */
};
#define CHAT_PART_WHY_MAX 4

/* ---- the server ------------------------------------------------------------------ */

typedef struct chat_io chat_io;
typedef struct chat_conn chat_conn;

/* What every session reads; set up by main() before the first client and
 * read-only from then on. */
typedef struct chat_server {
  acto_system *sys;
  const char *node;  /* this server's node name; NULL: standalone (a node of
                        its own that listens nowhere) */
  size_t outbox;     /* the outbox bound in bytes */
  int64_t idle_ms;   /* close a client silent this long; 0: never */
  unsigned line_rate;  /* lines per second per client; 0: no limit */
  unsigned line_burst; /* lines at once before the rate applies (>= 1) */
} chat_server;

/* Nick and room names (check.c): 1 when valid. */
int chat_valid_nick(const char *s, size_t n);
int chat_valid_room(const char *s, size_t n);
/* 1 when the n bytes hold no control character but tab (no CR, LF, NUL):
 * text that may go into one line for a client (check.c). */
int chat_one_line(const char *s, size_t n);

/* ---- the directory (directory.c) ----------------------------------------------------- */

/* Global and group names of the directory (what other servers see too). */
#define CHAT_NICK_PREFIX "chat.nick/" /* + the nick in lower case: a global name */
#define CHAT_USER_PREFIX "chat.user/" /* + the nick as chosen: a group of one */
#define CHAT_ROOM_PREFIX "chat.room/" /* + the room in lower case: a group */

/* Copies the n bytes of s in lower case (ASCII) into dst (cap >= n + 1). */
void chat_lower(char *dst, const char *s, size_t n);
/* Session self takes nick (valid), giving up old (NULL or "": none).  0;
 * ACTO_EEXIST when another session holds it anywhere in the cluster; or
 * another acto code. */
int chat_dir_claim(acto_system *sys, acto_ref self, const char *old, const char *nick);
/* Session self gives up nick. */
void chat_dir_release(acto_system *sys, acto_ref self, const char *nick);
/* The session holding nick (any case): 0 and *out, or ACTO_ENOENT. */
int chat_dir_lookup(acto_system *sys, const char *nick, acto_ref *out);
/* 1 when global name `name` is the one of nick. */
int chat_dir_is_nick(const char *name, const char *nick);
/* The reply text of ROOMS, and of USERS [room] (room NULL: every user),
 * '\n'-separated lines, the last the final one (session.c, finish_text);
 * malloc'ed into *text (the caller frees it), *len its length.  0, or
 * ACTO_ENOMEM. */
int chat_dir_rooms(acto_system *sys, char **text, size_t *len);
int chat_dir_users(acto_system *sys, const char *room, char **text, size_t *len);

/* ---- rooms (room.c) ---------------------------------------------------------------------- */

/* A member of a room as a session knows it: learned from its HELLO or
 * HERE, forgotten with its BYE or when its node is gone. */
typedef struct chat_member {
  acto_ref ref;
  char nick[CHAT_NICK_MAX + 1];
  int gone; /* its group LEFT came; its BYE is on its way */
} chat_member;

/* A room a session is in. */
typedef struct chat_room {
  char name[CHAT_ROOM_MAX + 1]; /* canonical: lower case */
  chat_member *m;
  size_t n, cap;
} chat_room;

/* The session self (nick) enters room r (name canonical): subscribes to
 * its group, joins it, and says HELLO.  0 or an acto code (then nothing
 * changed). */
int chat_room_enter(acto_system *sys, acto_ref self, chat_room *r, const char *nick);
/* The session leaves r, saying BYE with why first; frees its table. */
void chat_room_leave(acto_system *sys, acto_ref self, chat_room *r, const char *nick, int why);
/* Says a line in r: one broadcast.  >= 0 or an acto code. */
int chat_room_post(acto_system *sys, chat_room *r, const char *nick, const char *text,
                   size_t len);
/* A room message (CHAT_R_*) or an ACTO_MSG_GROUP_CHANGE for the session
 * self (nick) in rooms[0..n): updates the room's members and writes the
 * line for the client, if any, into line (cap bytes).  Returns its length,
 * or 0: nothing to show. */
size_t chat_room_handle(acto_system *sys, acto_ref self, const char *nick, chat_room *rooms,
                        unsigned n, const acto_msg *msg, char *line, size_t cap);

/* ---- actors ---------------------------------------------------------------------- */

extern const acto_behaviour chat_session_behaviour; /* arg: chat_conn * */

/* ---- the I/O thread (io.c) -------------------------------------------------------- */

/* Binds host:port (a numeric IPv4 address; port 0: ephemeral) and starts
 * the I/O thread (calling evthread_use_pthreads first).  Returns 0 or
 * -errno. */
int chat_io_start(chat_server *srv, const char *host, uint16_t port, chat_io **out);
uint16_t chat_io_port(const chat_io *io);
/* Stops accepting and stops the I/O thread's acto calls (before
 * acto_system_shutdown); waits for it. */
void chat_io_quiesce(chat_io *io);
/* Stops the thread and frees every connection (after the shutdown). */
void chat_io_stop(chat_io *io);

/* For the session of the connection, from its callbacks: */
chat_server *chat_conn_server(chat_conn *c);
/* What a line for the client is, which decides what may happen to it when
 * the client reads too slowly (io.c, "Outbox"). */
enum chat_out_kind {
  CHAT_OUT_EVENT = 0,   /* not a reply: dropped and counted past the bound */
  CHAT_OUT_LISTING = 1, /* a "= ..." line of a reply: refused past
                           CHAT_OUTBOX_HARD x the bound (the session then
                           cuts the listing, session.c "Replies") */
  CHAT_OUT_END = 2      /* the line that ends a reply (or the connection):
                           always queued */
};
/* Queues one line (without its newline) for the client.  Returns 0 when
 * it is queued, -1 when it was dropped or refused. */
int chat_conn_write(chat_conn *c, const char *line, size_t len, int kind);
/* A line the I/O thread handed over is answered (or ignored): gives it
 * one line of credit back (io.c, "Input"). */
void chat_conn_done(chat_conn *c);
/* The session is gone: flush what is queued, close, free (terminate). */
void chat_conn_release(chat_conn *c);

#endif /* CHAT_H */
