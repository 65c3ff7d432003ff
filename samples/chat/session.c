/* session.c - the session actor: one per client connection.  It parses
 * the client's command lines, answers each with exactly one reply line
 * ("ok ..." or "error: ..."), keeps the user's nick and rooms, and writes
 * the lines that rooms and the directory send it to the client.
 *
 * DESIGN
 * One command at a time: a command that needs the directory or a room
 * makes the session busy until it is answered; lines that arrive
 * meanwhile wait in a ring of CHAT_INFLIGHT (the I/O thread never hands
 * over more), so replies keep the order of the commands.  Every send is
 * fail_fast (chat.h, "Nobody waits on a session"): a full mailbox is
 * retried every CHAT_RETRY_MS, at most CHAT_RETRY_MAX times.  Requests
 * to the directory are plain messages carrying a request number; the
 * answer (from the directory, or from the room for JOIN) carries it back,
 * and a timer gives up after CHAT_REQ_TIMEOUT_MS.  An answer that comes
 * after that still updates the nick or rooms (the directory did act), and
 * the client sees it as a "! late answer: ..." line, not as a reply.  The session monitors
 * the directory and its rooms: when the directory goes (its node went
 * down), the nick and rooms are gone with it and the client is told.
 *
 * Replies.  Each command's reply is zero or more listing lines ("= ...")
 * and one final line ("ok ..." or "error: ...").  The final line always
 * reaches the client's outbox (io.c, "Outbox").  The listing lines of one
 * reply may take at most CHAT_OUTBOX_HARD x the outbox bound (counting CR
 * LF), and the outbox may refuse one when it is that full already; from
 * the first line that does not fit, the rest of the listing is cut, and
 * the reply ends with
 *   = ... N more lines cut: the reply does not fit in your outbox
 * (N exact) before its final line.  So a client always sees the end of
 * every reply, and a listing is a prefix of the full one.
 *
 * On a linked server (srv->hub set) the directory is found on first use
 * through the hub's node service (acto_node_service, an ask of
 * ACTO_MSG_NODE_LOOKUP for "chat.dir").
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "chat.h"

/* The most bytes a session's request or post packs to: a chat_dreq with
 * the longest arg and text is 558. */
#define CHAT_OUT_MSG_MAX 1024

typedef struct pending_line {
  uint32_t type; /* CHAT_LINE, CHAT_TOOLONG or CHAT_PARTIAL */
  uint32_t len;
  char text[CHAT_LINE_MAX + 1];
} pending_line;

typedef struct joined {
  char name[CHAT_ROOM_MAX + 1];
  acto_ref ref;
  uint64_t mon;
} joined;

enum cmd {
  CMD_NONE, CMD_NICK, CMD_JOIN, CMD_PART, CMD_MSG_ROOM, CMD_MSG_NICK, CMD_ROOMS, CMD_USERS
};

typedef struct session {
  chat_conn *conn;
  chat_server *srv;
  char nick[CHAT_NICK_MAX + 1]; /* "" until NICK succeeds */
  joined rooms[CHAT_ROOMS_PER_USER];
  unsigned nrooms;
  acto_ref dir;
  uint64_t dir_mon;
  int have_dir;
  int quitting;
  /* Lines waiting behind the current command. */
  pending_line q[CHAT_INFLIGHT];
  unsigned qhead, qn;
  /* The current command. */
  int busy;
  int cmd;
  char arg[CHAT_ROOM_MAX + 1]; /* its nick or room */
  uint64_t req, next_req;      /* its directory request (0: none) */
  acto_timer timer;            /* the request's deadline */
  int timer_set;
  /* The last request that timed out, whose answer may still come. */
  uint64_t late_req;
  int late_cmd;
  char late_arg[CHAT_ROOM_MAX + 1];
  /* Its message: to the directory (to_dir) or a room (a post). */
  acto_ref out_to;
  uint32_t out_type;
  int to_dir;
  int retrying; /* a CHAT_RETRY is on its way */
  int retries;
  size_t out_len;
  char out_buf[CHAT_OUT_MSG_MAX]; /* packed msgpack, kept for the retries */
  /* The reply being written: bytes of its listing lines, lines cut. */
  size_t listed;
  unsigned cut;
} session;

/* ---- names ---------------------------------------------------------------------- */

static int name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

int chat_valid_nick(const char *s, size_t n) {
  if (n < 1 || n > CHAT_NICK_MAX) return 0;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return 0;
  for (size_t i = 1; i < n; i++)
    if (!name_char(s[i])) return 0;
  return 1;
}

int chat_valid_room(const char *s, size_t n) {
  if (n < 2 || n > CHAT_ROOM_MAX || s[0] != '#') return 0;
  for (size_t i = 1; i < n; i++)
    if (!name_char(s[i])) return 0;
  return 1;
}

int chat_one_line(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
  }
  return 1;
}

/* ---- payloads ---------------------------------------------------------------------- */

void chat_bad_payload(const char *who, const acto_msg *msg, const char *why) {
  static _Atomic unsigned long seen;
  unsigned long n = atomic_fetch_add_explicit(&seen, 1, memory_order_relaxed) + 1;
  if (n <= CHAT_BAD_LOGGED || n % 1000 == 0)
    fprintf(stderr, "chat: %s: dropped a message of type %u (%zu bytes): %s [%lu so far]\n", who,
            msg->type, msg->size, why, n);
}

/* A msgpack_packer target of fixed size: the session's out_buf. */
typedef struct fixbuf {
  char *p;
  size_t len, cap;
} fixbuf;

static int fix_write(void *data, const char *buf, size_t len) {
  fixbuf *f = data;
  if (len > f->cap - f->len) return -1;
  memcpy(f->p + f->len, buf, len);
  f->len += len;
  return 0;
}

/* Packs *v (of the type of schema sc) into out_buf, where it stays for the
 * retries of send_out.  0, or -1 when it does not fit. */
static int pack_out(session *s, const acto_msgpack_schema *sc, const void *v) {
  fixbuf f = {s->out_buf, 0, sizeof s->out_buf};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &f, fix_write);
  if (acto_msgpack_struct_pack(&pk, sc, v) != 0) return -1;
  s->out_len = f.len;
  return 0;
}

/* ---- output ----------------------------------------------------------------------- */

/* A line that is not a reply (may be dropped, io.c "Outbox"). */
static void notice(session *s, const char *fmt, ...) {
  char buf[CHAT_LINE_MAX + 256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  (void)chat_conn_write(s->conn, buf, (size_t)n, CHAT_OUT_EVENT);
}

/* A listing line of the current reply: queued, or cut with all the ones
 * after it ("Replies" above). */
static void reply_listing(session *s, const char *line, size_t len) {
  if (s->cut == 0 && s->listed + len + 2 <= s->srv->outbox * CHAT_OUTBOX_HARD &&
      chat_conn_write(s->conn, line, len, CHAT_OUT_LISTING) == 0) {
    s->listed += len + 2;
    return;
  }
  s->cut++;
}

/* The final line of the current reply, after the marker of a cut. */
static void reply_end(session *s, const char *line, size_t len) {
  if (s->cut > 0) {
    char m[128];
    int n = snprintf(m, sizeof m, "= ... %u more lines cut: the reply does not fit in your outbox",
                     s->cut);
    (void)chat_conn_write(s->conn, m, (size_t)n, CHAT_OUT_END);
  }
  (void)chat_conn_write(s->conn, line, len, CHAT_OUT_END);
  s->listed = 0;
  s->cut = 0;
}

/* Ends the current command: its reply lines, the credit back. */
static void done(acto_ctx *ctx, session *s) {
  if (s->timer_set) {
    (void)acto_timer_cancel(acto_ctx_system(ctx), s->timer);
    s->timer_set = 0;
  }
  s->busy = 0;
  s->cmd = CMD_NONE;
  s->req = 0;
  s->retrying = 0;
  chat_conn_done(s->conn);
}

/* Ends the current command with its final reply line. */
static void finish(acto_ctx *ctx, session *s, const char *fmt, ...) {
  char buf[CHAT_LINE_MAX + 256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  reply_end(s, buf, (size_t)n);
  done(ctx, s);
}

/* Ends the current command with the reply lines of text ('\n'-separated):
 * listing lines, then the last one, its final line. */
static void finish_text(acto_ctx *ctx, session *s, const char *text, size_t len) {
  for (;;) {
    const char *nl = memchr(text, '\n', len);
    if (!nl) break;
    reply_listing(s, text, (size_t)(nl - text));
    len -= (size_t)(nl - text) + 1;
    text = nl + 1;
  }
  reply_end(s, text, len);
  done(ctx, s);
}

/* ---- rooms and the directory --------------------------------------------------------- */

static int room_index(const session *s, const char *name) {
  for (unsigned i = 0; i < s->nrooms; i++)
    if (strcasecmp(s->rooms[i].name, name) == 0) return (int)i;
  return -1;
}

static void room_remove(session *s, unsigned i) {
  s->rooms[i] = s->rooms[--s->nrooms];
}

static const char *hub_name(const session *s) {
  return s->srv->hub ? s->srv->hub : (s->srv->node ? s->srv->node : "local");
}

/* The directory is gone (its node went down, or this server stops): the
 * nick and the rooms were its, so they are gone too. */
static void lose_dir(acto_ctx *ctx, session *s, int fired) {
  if (!s->have_dir) return;
  if (!fired) (void)acto_demonitor(ctx, s->dir_mon);
  s->have_dir = 0;
  s->late_req = 0;
  int had = s->nick[0] != '\0' || s->nrooms > 0;
  for (unsigned i = 0; i < s->nrooms; i++) (void)acto_demonitor(ctx, s->rooms[i].mon);
  s->nrooms = 0;
  s->nick[0] = '\0';
  if (had)
    notice(s, "! lost the chat directory (node %s): your nick and rooms are gone; NICK and JOIN "
              "again", hub_name(s));
}

static void use_dir(acto_ctx *ctx, session *s, acto_ref dir) {
  s->dir = dir;
  s->have_dir = 1;
  if (acto_monitor(ctx, dir, &s->dir_mon) < 0) s->dir_mon = 0;
}

static void unreachable(acto_ctx *ctx, session *s) {
  if (s->srv->hub) finish(ctx, s, "error: the chat hub (node %s) is unreachable", s->srv->hub);
  else finish(ctx, s, "error: the chat directory is gone");
}

/* Sends the current command's message; a full mailbox is retried. */
static void send_out(acto_ctx *ctx, session *s) {
  acto_system *sys = acto_ctx_system(ctx);
  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  o.fail_fast = 1;
  s->retrying = 0;
  int rc = acto_send_ex(sys, s->out_to, s->out_type, s->out_buf, s->out_len, &o);
  if (rc == ACTO_EFULL) {
    if (++s->retries > CHAT_RETRY_MAX ||
        acto_send_after(sys, acto_self(ctx), CHAT_RETRY, NULL, 0, CHAT_RETRY_MS, NULL) < 0) {
      finish(ctx, s, "error: %s is overloaded, try again",
             s->to_dir ? "the chat directory" : s->arg);
      return;
    }
    s->retrying = 1;
    return;
  }
  if (rc < 0) {
    if (s->to_dir) {
      lose_dir(ctx, s, 0);
      unreachable(ctx, s);
    } else {
      finish(ctx, s, "error: %s is gone", s->arg);
    }
    return;
  }
  if (!s->to_dir) { /* a post: done once it is in the room's mailbox */
    finish(ctx, s, "ok msg %s", s->arg);
    return;
  }
  chat_timeout t = {s->req};
  acto_msgpack_buf b;
  if (acto_msgpack_buf_init(&b) == 0 && chat_timeout_pack(acto_msgpack_buf_packer(&b), &t) == 0 &&
      acto_send_after(sys, acto_self(ctx), CHAT_TIMEOUT, b.data, b.size, CHAT_REQ_TIMEOUT_MS,
                      &s->timer) == 0) /* copies the packed bytes */
    s->timer_set = 1;
  acto_msgpack_buf_free(&b);
}

static void resolved(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user);

/* Sends a request to the directory, finding it first if needed. */
static void dir_request(acto_ctx *ctx, session *s, uint32_t type, const char *arg,
                        const char *text, size_t tlen) {
  chat_dreq d;
  memset(&d, 0, sizeof d);
  d.req = s->req = ++s->next_req;
  snprintf(d.arg, sizeof d.arg, "%s", arg ? arg : "");
  snprintf(d.text, sizeof d.text, "%.*s", (int)tlen, tlen ? text : "");
  if (pack_out(s, chat_dreq_schema(), &d) != 0) {
    s->busy = 1;
    finish(ctx, s, "error: the request does not fit");
    return;
  }
  s->out_type = type;
  s->to_dir = 1;
  s->retries = 0;
  s->busy = 1;
  if (!s->have_dir && !s->srv->hub) use_dir(ctx, s, s->srv->dir);
  if (!s->have_dir) { /* ask the hub's node service where its directory is */
    acto_ref svc;
    int rc = acto_node_service(acto_ctx_system(ctx), s->srv->hub, &svc);
    if (rc >= 0)
      rc = acto_ask_async(ctx, svc, ACTO_MSG_NODE_LOOKUP, CHAT_DIR_NAME, strlen(CHAT_DIR_NAME),
                          CHAT_REQ_TIMEOUT_MS, resolved, NULL, NULL);
    if (rc < 0) unreachable(ctx, s);
    return;
  }
  s->out_to = s->dir;
  send_out(ctx, s);
}

static void run(acto_ctx *ctx, session *s);

static void resolved(acto_ctx *ctx, void *state, int status, const acto_msg *reply, void *user) {
  (void)user;
  session *s = state;
  if (!s->busy || !s->to_dir || s->have_dir) return;
  acto_ref dir;
  /* The node service's answer: the ref as two little-endian u64s. */
  if (status == 0 && reply && acto_node_lookup_result(reply->data, reply->size, &dir) == 0) {
    use_dir(ctx, s, dir);
    s->out_to = dir;
    send_out(ctx, s);
  } else if (status == 0) { /* no such name there (or an answer that is no ref) */
    finish(ctx, s, "error: the chat hub (node %s) runs no chat directory", s->srv->hub);
  } else {
    unreachable(ctx, s);
  }
  run(ctx, s);
}

/* ---- commands --------------------------------------------------------------------- */

static const char *const help_lines[] = {
    "= NICK <nick>         choose your nick: 1-16 of A-Z a-z 0-9 _ -, a letter first",
    "= JOIN <#room>        join a room (# and 1-32 of A-Z a-z 0-9 _ -); new rooms are created",
    "= PART <#room>        leave a room",
    "= MSG <#room> <text>  say text in a room you are in",
    "= MSG <nick> <text>   say text to one user",
    "= ROOMS               list the rooms and how many users are in each",
    "= USERS [<#room>]     list every user, or the users of a room (also: NAMES)",
    "= QUIT                leave",
    "= Every command gets one reply: ok ... or error: ...; lines are at most 510 bytes."};

/* The next word of *p (spaces and tabs separate words). */
static size_t next_word(const char **p, const char **w) {
  const char *q = *p;
  while (*q == ' ' || *q == '\t') q++;
  *w = q;
  while (*q && *q != ' ' && *q != '\t') q++;
  *p = q;
  return (size_t)(q - *w);
}

static int rest_empty(const char *p) {
  while (*p == ' ' || *p == '\t') p++;
  return *p == '\0';
}

static int is_cmd(const char *w, size_t n, const char *name) {
  return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

static void set_arg(session *s, const char *w, size_t n) {
  if (n > CHAT_ROOM_MAX) n = CHAT_ROOM_MAX;
  memcpy(s->arg, w, n);
  s->arg[n] = '\0';
}

/* Inside exec_line: answers the command and returns. */
#define REPLY_AND_RETURN(...)   \
  do {                           \
    finish(ctx, s, __VA_ARGS__); \
    return;                      \
  } while (0)

static void exec_line(acto_ctx *ctx, session *s, const pending_line *l) {
  s->busy = 1; /* until finish() */
  s->cmd = CMD_NONE;
  if (l->type == CHAT_TOOLONG) {
    finish(ctx, s, "error: line too long (more than %u bytes); ignored", CHAT_LINE_MAX);
    return;
  }
  if (l->type == CHAT_PARTIAL) {
    finish(ctx, s, "error: the input ended inside a line (no LF after it); the line was ignored");
    return;
  }
  if (!chat_one_line(l->text, l->len)) {
    finish(ctx, s, "error: control characters are not allowed");
    return;
  }
  const char *p = l->text, *w, *a;
  size_t wn = next_word(&p, &w), an;
  if (wn == 0) { /* an empty line: ignored, no reply */
    done(ctx, s);
    return;
  }
  if (is_cmd(w, wn, "HELP")) {
    for (size_t i = 0; i < sizeof help_lines / sizeof help_lines[0]; i++)
      reply_listing(s, help_lines[i], strlen(help_lines[i]));
    finish(ctx, s, "ok help");
  } else if (is_cmd(w, wn, "QUIT")) {
    finish(ctx, s, "ok bye");
    s->quitting = 1;
    (void)acto_stop_self(ctx);
  } else if (is_cmd(w, wn, "NICK")) {
    an = next_word(&p, &a);
    if (an == 0 || !rest_empty(p)) REPLY_AND_RETURN("error: usage: NICK <nick>");
    if (!chat_valid_nick(a, an))
      REPLY_AND_RETURN("error: bad nick \"%.*s\": 1-16 of A-Z a-z 0-9 _ -, a letter first",
                    (int)(an > 40 ? 40 : an), a);
    set_arg(s, a, an);
    if (strcmp(s->nick, s->arg) == 0) REPLY_AND_RETURN("ok nick %s", s->nick);
    if (s->nrooms > 0) REPLY_AND_RETURN("error: part your rooms before changing your nick");
    s->cmd = CMD_NICK;
    dir_request(ctx, s, CHAT_D_NICK, s->arg, NULL, 0);
  } else if (is_cmd(w, wn, "JOIN") || is_cmd(w, wn, "PART")) {
    int join = is_cmd(w, wn, "JOIN");
    an = next_word(&p, &a);
    if (an == 0 || !rest_empty(p))
      REPLY_AND_RETURN("error: usage: %s <#room>", join ? "JOIN" : "PART");
    if (!chat_valid_room(a, an))
      REPLY_AND_RETURN("error: bad room name \"%.*s\": # and 1-32 of A-Z a-z 0-9 _ -",
                    (int)(an > 40 ? 40 : an), a);
    set_arg(s, a, an);
    if (!s->nick[0]) REPLY_AND_RETURN("error: choose a nick first: NICK <nick>");
    int i = room_index(s, s->arg);
    if (join && i >= 0) REPLY_AND_RETURN("error: you are already in %s", s->rooms[i].name);
    if (!join && i < 0) REPLY_AND_RETURN("error: you are not in %s", s->arg);
    if (join && s->nrooms >= CHAT_ROOMS_PER_USER)
      REPLY_AND_RETURN("error: you are in %u rooms, the most allowed", CHAT_ROOMS_PER_USER);
    s->cmd = join ? CMD_JOIN : CMD_PART;
    dir_request(ctx, s, join ? CHAT_D_JOIN : CHAT_D_PART, s->arg, NULL, 0);
  } else if (is_cmd(w, wn, "MSG")) {
    an = next_word(&p, &a);
    while (*p == ' ' || *p == '\t') p++;
    size_t tlen = l->len - (size_t)(p - l->text);
    if (an == 0 || tlen == 0) REPLY_AND_RETURN("error: usage: MSG <#room|nick> <text>");
    if (!s->nick[0]) REPLY_AND_RETURN("error: choose a nick first: NICK <nick>");
    if (a[0] == '#') {
      if (!chat_valid_room(a, an))
        REPLY_AND_RETURN("error: bad room name \"%.*s\"", (int)(an > 40 ? 40 : an), a);
      set_arg(s, a, an);
      int i = room_index(s, s->arg);
      if (i < 0) REPLY_AND_RETURN("error: you are not in %s", s->arg);
      snprintf(s->arg, sizeof s->arg, "%s", s->rooms[i].name);
      s->cmd = CMD_MSG_ROOM;
      s->out_to = s->rooms[i].ref;
      s->out_type = CHAT_R_POST;
      s->to_dir = 0;
      s->retries = 0;
      chat_line post;
      snprintf(post.text, sizeof post.text, "%.*s", (int)tlen, p);
      if (pack_out(s, chat_line_schema(), &post) != 0) REPLY_AND_RETURN("error: line too long");
      send_out(ctx, s);
    } else {
      if (!chat_valid_nick(a, an))
        REPLY_AND_RETURN("error: no such nick %.*s", (int)(an > 40 ? 40 : an), a);
      set_arg(s, a, an);
      s->cmd = CMD_MSG_NICK;
      dir_request(ctx, s, CHAT_D_PRIV, s->arg, p, tlen);
    }
  } else if (is_cmd(w, wn, "ROOMS")) {
    if (!rest_empty(p)) REPLY_AND_RETURN("error: usage: ROOMS");
    s->cmd = CMD_ROOMS;
    dir_request(ctx, s, CHAT_D_ROOMS, NULL, NULL, 0);
  } else if (is_cmd(w, wn, "USERS") || is_cmd(w, wn, "NAMES")) {
    an = next_word(&p, &a);
    if (!rest_empty(p)) REPLY_AND_RETURN("error: usage: USERS [<#room>]");
    if (an > 0 && !chat_valid_room(a, an))
      REPLY_AND_RETURN("error: bad room name \"%.*s\"", (int)(an > 40 ? 40 : an), a);
    if (an > 0) set_arg(s, a, an);
    else s->arg[0] = '\0';
    s->cmd = CMD_USERS;
    dir_request(ctx, s, CHAT_D_USERS, s->arg, NULL, 0);
  } else {
    finish(ctx, s, "error: unknown command \"%.*s\"; HELP lists the commands",
           (int)(wn > 40 ? 40 : wn), w);
  }
}

/* Works through the waiting lines until one needs an answer. */
static void run(acto_ctx *ctx, session *s) {
  while (!s->busy && !s->quitting && s->qn > 0) {
    pending_line *l = &s->q[s->qhead];
    s->qhead = (s->qhead + 1) % CHAT_INFLIGHT;
    s->qn--;
    exec_line(ctx, s, l);
  }
}

/* ---- answers and events ------------------------------------------------------------------ */

/* Would the client take this line for a reply ("ok", "ok ...", "error:
 * ...", "= ...")?  Events never look like one, so a delivered line that
 * does is not an event (ACTORS.md, the protocol). */
static int reply_shaped(const char *p, size_t n) {
  return (n >= 2 && memcmp(p, "ok", 2) == 0 && (n == 2 || p[2] == ' ')) ||
         (n >= 7 && memcmp(p, "error: ", 7) == 0) || (n >= 2 && memcmp(p, "= ", 2) == 0);
}

/* A CHAT_REPLY, decoded (chat.h): text points into the message. */
typedef struct reply_view {
  uint64_t req;
  acto_ref ref;
  int status;
  char name[CHAT_ROOM_MAX + 1];
  const char *text;
  size_t len;
} reply_view;

/* Decodes and checks a CHAT_REPLY: [req, ref, status, name, text] with a
 * status of 0 or 1, a name of at most CHAT_ROOM_MAX bytes without NUL,
 * and 1 or more bytes of text.  0, or -1 (logged). */
static int decode_reply(const acto_msg *msg, msgpack_unpacked *u, reply_view *r) {
  acto_msgpack_result bad;
  if (acto_msgpack_decode_msg(msg, 2, u, &bad) != 0) { /* [.., [id, node], ..]: depth 2 */
    chat_bad_payload("session", msg, bad.detail);
    return -1;
  }
  const msgpack_object *o = &u->data, *e = o->via.array.ptr;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != CHAT_REPLY_FIELDS ||
      e[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || acto_msgpack_get_ref(&e[1], &r->ref) != 0 ||
      e[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || e[2].via.u64 > 1 ||
      e[3].type != MSGPACK_OBJECT_STR || e[3].via.str.size > CHAT_ROOM_MAX ||
      (e[3].via.str.size > 0 && memchr(e[3].via.str.ptr, '\0', e[3].via.str.size)) ||
      e[4].type != MSGPACK_OBJECT_STR || e[4].via.str.size == 0) {
    chat_bad_payload("session", msg, "not a reply: [req, ref, 0|1, name, text]");
    return -1;
  }
  r->req = e[0].via.u64;
  r->status = (int)e[2].via.u64;
  /* An empty str's pointer may be NULL (msgpack-c): copy only bytes. */
  if (e[3].via.str.size > 0) memcpy(r->name, e[3].via.str.ptr, e[3].via.str.size);
  r->name[e[3].via.str.size] = '\0';
  r->text = e[4].via.str.ptr;
  r->len = e[4].via.str.size;
  return 0;
}

/* A successful answer changes the session's state: the nick, the rooms. */
static void apply(acto_ctx *ctx, session *s, int cmd, const char *arg, const reply_view *r) {
  if (r->status != 0) return;
  if (cmd == CMD_NICK) {
    snprintf(s->nick, sizeof s->nick, "%.*s", (int)CHAT_NICK_MAX, arg);
  } else if (cmd == CMD_JOIN && s->nrooms < CHAT_ROOMS_PER_USER && room_index(s, r->name) < 0) {
    joined *j = &s->rooms[s->nrooms++];
    snprintf(j->name, sizeof j->name, "%s", r->name);
    j->ref = r->ref;
    if (acto_monitor(ctx, r->ref, &j->mon) < 0) j->mon = 0;
  } else if (cmd == CMD_PART) {
    int i = room_index(s, arg);
    if (i >= 0) {
      (void)acto_demonitor(ctx, s->rooms[i].mon);
      room_remove(s, (unsigned)i);
    }
  }
}

static void on_reply(acto_ctx *ctx, session *s, const acto_msg *msg) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  reply_view r;
  if (decode_reply(msg, &u, &r) != 0) goto out;
  const char *text = r.text;
  for (const char *p = text, *end = text + r.len; p < end;) { /* lines, one by one */
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!chat_one_line(p, (size_t)((nl ? nl : end) - p))) {
      chat_bad_payload("session", msg, "a reply line that is not one line");
      goto out;
    }
    p = nl ? nl + 1 : end;
  }
  if (s->late_req != 0 && r.req == s->late_req) {
    /* The answer to a request that timed out: the directory did act on
     * it, so the session follows, and says so (not as a reply). */
    s->late_req = 0;
    apply(ctx, s, s->late_cmd, s->late_arg, &r);
    const char *nl = memchr(text, '\n', r.len);
    notice(s, "! late answer: %.*s", (int)(nl ? (size_t)(nl - text) : r.len), text);
    goto out;
  }
  if (!s->busy || !s->to_dir || s->req == 0 || r.req != s->req) goto out; /* stale */
  apply(ctx, s, s->cmd, s->arg, &r);
  finish_text(ctx, s, text, r.len);
out:
  msgpack_unpacked_destroy(&u);
}

static void on_down(acto_ctx *ctx, session *s, const acto_msg *msg) {
  acto_down d;
  if (msg->size != sizeof d) return;
  memcpy(&d, msg->data, sizeof d);
  if (s->have_dir && d.monitor == s->dir_mon) {
    lose_dir(ctx, s, 1);
    if (s->busy && s->to_dir && s->req != 0) unreachable(ctx, s);
    return;
  }
  for (unsigned i = 0; i < s->nrooms; i++) {
    if (s->rooms[i].mon != d.monitor) continue;
    /* A PART of this room is on its way (or timed out): the directory
     * closed the room because this session was its last member, and the
     * room's DOWN may well overtake the directory's "ok part" (DOWN
     * travels on the system lane).  The client asked to leave; it hears
     * "ok part" (or the late answer), not that the room went away. */
    int parting = (s->busy && s->cmd == CMD_PART && strcasecmp(s->arg, s->rooms[i].name) == 0) ||
                  (s->late_req != 0 && s->late_cmd == CMD_PART &&
                   strcasecmp(s->late_arg, s->rooms[i].name) == 0);
    if (!parting) notice(s, "! you left %s: the room went away", s->rooms[i].name);
    if (s->busy && s->cmd == CMD_MSG_ROOM && acto_ref_eq(s->out_to, s->rooms[i].ref))
      finish(ctx, s, "error: %s is gone", s->arg);
    room_remove(s, i);
    return;
  }
}

static int session_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  session *s = state;
  s->conn = (chat_conn *)arg;
  s->srv = chat_conn_server(s->conn);
  notice(s, "* welcome to acto chat%s%s: NICK <nick> to begin, HELP lists the commands",
         s->srv->node ? " on node " : "", s->srv->node ? s->srv->node : "");
  return 0;
}

static int session_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  session *s = state;
  switch (msg->type) {
  case CHAT_LINE:
  case CHAT_TOOLONG:
  case CHAT_PARTIAL:
    /* Not from the I/O thread if the size is wrong: no credit to give back. */
    if (msg->type == CHAT_LINE ? msg->size > CHAT_LINE_MAX : msg->size != 0) return 0;
    if (s->quitting) return 0;
    if (s->qn == CHAT_INFLIGHT) { /* cannot happen (credit) */
      (void)chat_conn_write(s->conn, "error: too many commands at once", 32, CHAT_OUT_END);
      chat_conn_done(s->conn);
      return 0;
    } else {
      pending_line *l = &s->q[(s->qhead + s->qn) % CHAT_INFLIGHT];
      l->type = msg->type;
      l->len = (uint32_t)msg->size;
      if (msg->size) memcpy(l->text, msg->data, msg->size);
      l->text[msg->size] = '\0';
      s->qn++;
    }
    break;
  case CHAT_DELIVER: { /* one event line for the client, or nothing */
    chat_line l;
    acto_msgpack_result bad;
    if (chat_line_unpack_msg(msg, &l, &bad) != 0) {
      chat_bad_payload("session", msg, bad.detail);
      return 0;
    }
    size_t n = strlen(l.text);
    if (n > 0 && chat_one_line(l.text, n) && !reply_shaped(l.text, n))
      (void)chat_conn_write(s->conn, l.text, n, CHAT_OUT_EVENT);
    return 0;
  }
  case CHAT_REPLY:
    on_reply(ctx, s, msg);
    break;
  case CHAT_RETRY:
    if (msg->size == 0 && s->busy && s->retrying) send_out(ctx, s);
    break;
  case CHAT_TIMEOUT: { /* from its own timer only */
    chat_timeout t;
    acto_msgpack_result bad;
    if (!acto_ref_eq(msg->sender, acto_self(ctx))) return 0;
    if (chat_timeout_unpack_msg(msg, &t, &bad) != 0) {
      chat_bad_payload("session", msg, bad.detail);
      return 0;
    }
    if (s->busy && s->req != 0 && t.req == s->req) {
      s->timer_set = 0;
      s->late_req = s->req; /* its answer may still come */
      s->late_cmd = s->cmd;
      memcpy(s->late_arg, s->arg, sizeof s->late_arg);
      finish(ctx, s, "error: no answer from the chat directory");
    }
    break;
  }
  case ACTO_MSG_DOWN:
    on_down(ctx, s, msg);
    break;
  default:
    return 0;
  }
  run(ctx, s);
  return 0;
}

static void session_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx;
  session *s = state;
  if (reason == CHAT_REASON_IDLE) { /* the I/O thread timed the client out */
    char line[128];
    int n = snprintf(line, sizeof line, "! no line from you in %g s: closing the connection",
                     (double)s->srv->idle_ms / 1000.0);
    (void)chat_conn_write(s->conn, line, (size_t)n, CHAT_OUT_END); /* the last line */
  }
  chat_conn_release(s->conn); /* the last touch of the connection */
}

const acto_behaviour chat_session_behaviour = {.name = "chat_session",
                                               .state_size = sizeof(session),
                                               .init = session_init,
                                               .handle = session_handle,
                                               .terminate = session_terminate};
