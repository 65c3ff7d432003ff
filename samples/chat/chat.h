/* chat.h - the chat sample (ACTORS.md, "The chat sample"): a chat server
 * speaking a line protocol over TCP (nc or telnet), one actor per
 * connection and one per room, and two or more servers linked into one
 * chat through acto's nodes.
 *
 * The pieces, one file each:
 *   io.c         the TCP side: its own libevent loop on its own thread,
 *                line framing, each connection's bounded outbox
 *   session.c    a session actor per connection: the commands, their
 *                replies, the user's nick and rooms
 *   directory.c  the directory actor: nicks, rooms and who is in them
 *   room.c       a room actor: broadcasts its members' lines in one order
 *   main.c       options, the node, the link, start and shutdown
 *
 * DESIGN
 * One directory.  A chat server alone, or the first of a linked group
 * (the hub), runs the directory, registered as "chat.dir".  A server
 * started with --link NAME@HOST:PORT connects its node to the hub NAME and
 * runs no directory: its sessions find the hub's directory through the
 * hub's node service and talk to it and to its rooms with remote refs.  So
 * every nick is unique across all the servers, and every room is one actor
 * on the hub, which gives each room one order of lines that every member,
 * on any server, sees.  When the hub goes down, the sessions of the other
 * servers lose their nick and rooms (they are told) until it is back.
 *
 * Nobody waits on a session.  Sessions never block and never park: every
 * send of a session uses fail_fast, and one that finds a full mailbox is
 * retried from a timer while the session holds its client's next commands.
 * The directory and the rooms may park on a session's mailbox (block
 * policy), which a session drains quickly whatever its client does: a
 * line for a client that reads too slowly is dropped into a count, not
 * waited for (io.c, "outbox").  Blocking sends thus only go directory ->
 * room -> session and directory -> session, never in a cycle.
 *
 * One command at a time.  A session handles its client's commands in
 * order, one at a time: while one waits for the directory, later lines
 * wait in the session (at most CHAT_INFLIGHT, the I/O thread's credit), so
 * replies come in the order of the commands.
 *
 * Messages between nodes are msgpack, declared below: servers built by
 * different compilers, or for different machines, link and share rooms.
 * Every handler unpacks each message with its type's checks (field count,
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
#include <acto/acto_msgpack.h>

/* ---- limits --------------------------------------------------------------- */

#define CHAT_LINE_MAX 510u        /* text bytes of a client line (CR LF excluded) */
#define CHAT_NICK_MAX 16u         /* bytes of a nick */
#define CHAT_ROOM_MAX 33u         /* bytes of a room name, '#' included */
#define CHAT_ROOMS_PER_USER 16u   /* rooms one session may be in */
#define CHAT_MAX_USERS 4096u      /* nicks in the directory */
#define CHAT_MAX_ROOMS 1024u      /* rooms in the directory */
#define CHAT_MAX_CONNS 1024u      /* client connections per server */
#define CHAT_INFLIGHT 16u         /* commands read but not yet answered */
#define CHAT_OUTBOX_DEFAULT 65536u /* the outbox bound, bytes (--outbox) */
#define CHAT_OUTBOX_HARD 4u       /* listing lines may fill the outbox to 4 x bound */
#define CHAT_OUT_CHUNK 16384u     /* bytes handed to libevent at a time */
#define CHAT_SNDBUF 32768         /* SO_SNDBUF of client sockets */
#define CHAT_REQ_TIMEOUT_MS 5000  /* a directory request unanswered: error */
#define CHAT_RETRY_MS 5           /* retry of a send that found a full mailbox */
#define CHAT_RETRY_MAX 1000       /* ... at most this many times (5 s) */
#define CHAT_LINGER_MS 2000       /* a closing connection flushes at most this long */
#define CHAT_IDLE_DEFAULT_MS 600000 /* --idle-timeout-ms: 10 min without a line */
#define CHAT_RATE_DEFAULT 10u     /* --line-rate: lines per second per client */
#define CHAT_BURST_DEFAULT 20u    /* --line-burst: lines at once before the rate */
#define CHAT_DIR_NAME "chat.dir"
/* The longest line a room or the directory sends a session (CHAT_DELIVER):
 * "#room <nick> text" and "private <nick> text" with the longest names. */
#define CHAT_DELIVER_MAX (CHAT_ROOM_MAX + CHAT_NICK_MAX + CHAT_LINE_MAX + 16u)

/* ---- messages ---------------------------------------------------------------- */

/* Each type's payload.  Every payload that may cross nodes is msgpack
 * (acto_msgpack.h), most declared once below with ACTO_MSGPACK_STRUCT: a
 * msgpack array of the fields in order, refs as [id, node].  A payload
 * that does not unpack, or whose fields break the rules below, is logged
 * (chat_bad_payload) and ignored.  Only the I/O thread's lines
 * (CHAT_LINE, CHAT_TOOLONG, CHAT_PARTIAL) are raw bytes: they never leave
 * their server. */
enum chat_msg {
  /* to a session */
  CHAT_LINE = 1,    /* from the I/O thread: a command line, no newline
                       (0..CHAT_LINE_MAX raw bytes) */
  CHAT_TOOLONG = 2, /* from the I/O thread: a line longer than CHAT_LINE_MAX
                       (no payload) */
  CHAT_DELIVER = 3, /* chat_line: a line for the client (room line, private,
                       notice), 1..CHAT_DELIVER_MAX bytes, one line */
  CHAT_REPLY = 4,   /* the answer to a directory request, see chat_send_reply */
  CHAT_RETRY = 5,   /* from itself: retry the send that found a full mailbox
                       (no payload) */
  CHAT_TIMEOUT = 6, /* from itself, chat_timeout: a request's deadline */
  CHAT_PARTIAL = 7, /* from the I/O thread: the input ended inside a line
                       (no payload) */
  /* to the directory: chat_dreq */
  CHAT_D_NICK = 100,  /* arg: the nick */
  CHAT_D_JOIN = 101,  /* arg: the room; answered by the room */
  CHAT_D_PART = 102,  /* arg: the room */
  CHAT_D_PRIV = 103,  /* arg: the nick; text: the line */
  CHAT_D_ROOMS = 104, /* no arg */
  CHAT_D_USERS = 105, /* arg: a room, or empty for everybody */
  /* to a room */
  CHAT_R_JOIN = 200,  /* chat_rjoin, from the directory */
  CHAT_R_PART = 201,  /* chat_rpart, from the directory */
  CHAT_R_POST = 202,  /* chat_line: the text (1..CHAT_LINE_MAX bytes, one line),
                         from a member session */
  CHAT_R_CLOSE = 203  /* from the directory: the room is empty, stop (no
                         payload) */
};

/* A request to the directory: req identifies the session's request in the
 * reply; arg a nick or a room (empty for ROOMS); text the line of a D_PRIV
 * (1..CHAT_LINE_MAX bytes, one line), empty for the others. */
#define CHAT_DREQ_FIELDS(F) F(u64, req) F(str, arg, CHAT_ROOM_MAX) F(str, text, CHAT_LINE_MAX)
ACTO_MSGPACK_STRUCT(chat_dreq, CHAT_DREQ_FIELDS)

/* A line of text: CHAT_DELIVER (to a session) and CHAT_R_POST (to a room). */
#define CHAT_LINE_FIELDS(F) F(str, text, CHAT_DELIVER_MAX)
ACTO_MSGPACK_STRUCT(chat_line, CHAT_LINE_FIELDS)

/* The directory asks a room to add a session. */
#define CHAT_RJOIN_FIELDS(F) F(u64, req) F(ref, session) F(str, nick, CHAT_NICK_MAX)
ACTO_MSGPACK_STRUCT(chat_rjoin, CHAT_RJOIN_FIELDS)

/* The directory tells a room that a session left, and why (chat_part_why). */
#define CHAT_RPART_FIELDS(F) F(ref, session) F(i32, why)
ACTO_MSGPACK_STRUCT(chat_rpart, CHAT_RPART_FIELDS)

/* A session's own deadline for request req. */
#define CHAT_TIMEOUT_FIELDS(F) F(u64, req)
ACTO_MSGPACK_STRUCT(chat_timeout, CHAT_TIMEOUT_FIELDS)

/* The answer to a request (CHAT_REPLY) is not declared with the macro,
 * because its text is a listing of any length (up to every nick): the
 * msgpack array [req, ref, status, name, text] - req a uint, ref the room
 * ([id, node]; [0, 0] but for JOIN), status 0 (ok) or 1 (error), name the
 * room's canonical name (JOIN, PART; else "", at most CHAT_ROOM_MAX bytes),
 * text the reply lines for the client, '\n'-separated.  The directory
 * packs it straight into the message (chat_send_reply), the session
 * decodes it with acto_msgpack_decode_msg and checks each element. */
#define CHAT_REPLY_FIELDS 5u

/* Logs a message whose payload did not fit and is dropped: the first
 * CHAT_BAD_LOGGED of a process, then every 1000th (session.c). */
#define CHAT_BAD_LOGGED 20
void chat_bad_payload(const char *who, const acto_msg *msg, const char *why);

/* Why a session stopped, as its exit reason (what the directory's monitor
 * sees): ACTO_REASON_NORMAL only after QUIT (acto_stop_self); the I/O
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
  CHAT_PART_IDLE = 3  /* timed out: "(idle timeout)" */
};

/* ---- the server ------------------------------------------------------------------ */

typedef struct chat_io chat_io;
typedef struct chat_conn chat_conn;

/* What every session reads; set up by main() before the first client and
 * read-only from then on. */
typedef struct chat_server {
  acto_system *sys;
  const char *node;  /* this server's node name; NULL: no node */
  const char *hub;   /* the hub's node name; NULL: this server has the directory */
  acto_ref dir;      /* the local directory (hub NULL) */
  size_t outbox;     /* the outbox bound in bytes */
  int64_t idle_ms;   /* close a client silent this long; 0: never */
  unsigned line_rate;  /* lines per second per client; 0: no limit */
  unsigned line_burst; /* lines at once before the rate applies (>= 1) */
} chat_server;

/* Replies are sent with this helper by the directory and the rooms: the
 * CHAT_REPLY array above, packed into an acto_msgpack_buf and handed to
 * the message without a copy.  Returns acto_msgpack_send's code. */
int chat_send_reply(acto_system *sys, acto_ref to, uint64_t req, int status, acto_ref ref,
                    const char *name, const char *text, size_t len);

/* Nick and room names (session.c): 1 when valid. */
int chat_valid_nick(const char *s, size_t n);
int chat_valid_room(const char *s, size_t n);
/* 1 when the n bytes hold no control character but tab (no CR, LF, NUL):
 * text that may go into one line for a client (session.c). */
int chat_one_line(const char *s, size_t n);

/* ---- actors ---------------------------------------------------------------------- */

extern const acto_behaviour chat_session_behaviour; /* arg: chat_conn * */
extern const acto_behaviour chat_directory_behaviour; /* arg: NULL */
extern const acto_behaviour chat_room_behaviour;    /* arg: the room name (char *) */

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
