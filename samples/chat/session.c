/* session.c - the session actor: one per client connection.  It parses
 * the client's command lines, answers each with exactly one reply line
 * ("ok ..." or "error: ..."), keeps the user's nick and rooms, and writes
 * the lines other sessions send it (room lines, notices, private lines)
 * to the client.
 *
 * DESIGN
 * The cluster is the directory (chat.h, "No hub"): NICK registers a
 * global name, JOIN and PART join and leave a room's group (room.c), a
 * room line is one group broadcast, a private line goes straight to the
 * session that holds the nick, ROOMS and USERS read the cluster's tables
 * (directory.c).  None of these waits for an answer: every command is
 * answered at once, but for a private line that finds the target's
 * mailbox full, which is retried every CHAT_RETRY_MS, at most
 * CHAT_RETRY_MAX times (fail_fast: "Nobody waits on a session"); lines
 * that arrive meanwhile wait in a ring of CHAT_INFLIGHT (the I/O thread
 * never hands over more), so replies keep the order of the commands.
 *
 * The end.  Whatever ends a session (QUIT, the connection lost, the idle
 * timeout, the server's shutdown), its terminate says BYE in each of its
 * rooms with the reason and gives up its nick; a session whose server is
 * killed says nothing, and the others learn it from the group (room.c).
 *
 * A nick lost in a partition.  When a partition heals with the same nick
 * held on both sides, the cluster keeps one registration (the older, ties
 * to the node name that sorts first: ACTORS.md 13.10) and tells the other
 * session with ACTO_MSG_GLOBAL_LOST.  That session gives up the nick and
 * leaves its rooms ("(nick lost)" to their members), and its client gets
 *   ! your nick NICK is now another user's (two servers had it while
 *     apart): NICK and JOIN again
 * on one line.
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
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat.h"

/* The most bytes a private line packs to: a chat_priv with the longest
 * nick and text is under 540. */
#define CHAT_OUT_MSG_MAX 1024

typedef struct pending_line {
  uint32_t type; /* CHAT_LINE, CHAT_TOOLONG or CHAT_PARTIAL */
  uint32_t len;
  char text[CHAT_LINE_MAX + 1];
} pending_line;

typedef struct session {
  chat_conn *conn;
  chat_server *srv;
  char nick[CHAT_NICK_MAX + 1]; /* "" until NICK succeeds */
  chat_room rooms[CHAT_ROOMS_PER_USER];
  unsigned nrooms;
  int quitting;
  /* Lines waiting behind the current command. */
  pending_line q[CHAT_INFLIGHT];
  unsigned qhead, qn;
  /* The current command. */
  int busy;
  char arg[CHAT_ROOM_MAX + 1]; /* its nick or room */
  /* A private line on its way: to out_to, retried while the mailbox is full. */
  acto_ref out_to;
  int retrying; /* a CHAT_RETRY is on its way */
  int retries;
  size_t out_len;
  char out_buf[CHAT_OUT_MSG_MAX]; /* packed msgpack, kept for the retries */
  /* The reply being written: bytes of its listing lines, lines cut. */
  size_t listed;
  unsigned cut;
} session;

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
  (void)ctx;
  s->busy = 0;
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

/* ---- rooms and private lines ----------------------------------------------------- */

static int room_index(const session *s, const char *name) {
  for (unsigned i = 0; i < s->nrooms; i++)
    if (strcasecmp(s->rooms[i].name, name) == 0) return (int)i;
  return -1;
}

/* Leaves room i (saying BYE with why) and drops it from the list. */
static void leave_room(acto_ctx *ctx, session *s, unsigned i, int why) {
  chat_room_leave(acto_ctx_system(ctx), acto_self(ctx), &s->rooms[i], s->nick, why);
  s->rooms[i] = s->rooms[--s->nrooms];
}

/* Sends the private line in out_buf; a full mailbox is retried. */
static void send_out(acto_ctx *ctx, session *s) {
  acto_system *sys = acto_ctx_system(ctx);
  acto_send_opts o = ACTO_SEND_OPTS_INIT;
  o.fail_fast = 1;
  s->retrying = 0;
  int rc = acto_send_ex(sys, s->out_to, CHAT_PRIV, s->out_buf, s->out_len, &o);
  if (rc == ACTO_EFULL) {
    if (++s->retries > CHAT_RETRY_MAX ||
        acto_send_after(sys, acto_self(ctx), CHAT_RETRY, NULL, 0, CHAT_RETRY_MS, NULL) < 0) {
      finish(ctx, s, "error: %s is overloaded, try again", s->arg);
      return;
    }
    s->retrying = 1;
    return;
  }
  if (rc < 0) finish(ctx, s, "error: no such nick %s", s->arg);
  else finish(ctx, s, "ok msg %s", s->arg);
}

static void run(acto_ctx *ctx, session *s);

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

/* Ends the command with a listing from directory.c (rc its code). */
static void listing(acto_ctx *ctx, session *s, int rc, char *text, size_t len) {
  if (rc < 0) {
    finish(ctx, s, "error: cannot list: %s", acto_strerror(rc));
    return;
  }
  finish_text(ctx, s, text, len);
  free(text);
}

static void exec_line(acto_ctx *ctx, session *s, const pending_line *l) {
  s->busy = 1; /* until finish() */
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
  size_t wn = next_word(&p, &w), an, tl = 0;
  char *text = NULL;
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
    int rc = chat_dir_claim(acto_ctx_system(ctx), acto_self(ctx), s->nick, s->arg);
    char lower[CHAT_NICK_MAX + 1];
    chat_lower(lower, s->arg, strlen(s->arg));
    if (rc == ACTO_EEXIST) REPLY_AND_RETURN("error: nick %s is taken", lower);
    if (rc < 0) REPLY_AND_RETURN("error: cannot take nick %s: %s", s->arg, acto_strerror(rc));
    /* The nick is valid (at most CHAT_NICK_MAX bytes): the precision only
     * tells the compiler so. */
    snprintf(s->nick, sizeof s->nick, "%.*s", (int)(sizeof s->nick - 1), s->arg);
    finish(ctx, s, "ok nick %s", s->nick);
  } else if (is_cmd(w, wn, "JOIN") || is_cmd(w, wn, "PART")) {
    int join = is_cmd(w, wn, "JOIN");
    an = next_word(&p, &a);
    if (an == 0 || !rest_empty(p))
      REPLY_AND_RETURN("error: usage: %s <#room>", join ? "JOIN" : "PART");
    if (!chat_valid_room(a, an))
      REPLY_AND_RETURN("error: bad room name \"%.*s\": # and 1-32 of A-Z a-z 0-9 _ -",
                    (int)(an > 40 ? 40 : an), a);
    chat_lower(s->arg, a, an); /* the canonical name */
    if (!s->nick[0]) REPLY_AND_RETURN("error: choose a nick first: NICK <nick>");
    int i = room_index(s, s->arg);
    if (join && i >= 0) REPLY_AND_RETURN("error: you are already in %s", s->rooms[i].name);
    if (!join && i < 0) REPLY_AND_RETURN("error: you are not in %s", s->arg);
    if (join && s->nrooms >= CHAT_ROOMS_PER_USER)
      REPLY_AND_RETURN("error: you are in %u rooms, the most allowed", CHAT_ROOMS_PER_USER);
    if (!join) {
      leave_room(ctx, s, (unsigned)i, CHAT_PART_LEFT);
      REPLY_AND_RETURN("ok part %s", s->arg);
    }
    chat_room *r = &s->rooms[s->nrooms];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", s->arg);
    int rc = chat_room_enter(acto_ctx_system(ctx), acto_self(ctx), r, s->nick);
    if (rc < 0) REPLY_AND_RETURN("error: cannot join %s: %s", s->arg, acto_strerror(rc));
    s->nrooms++;
    finish(ctx, s, "ok join %s", s->arg);
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
      int rc = chat_room_post(acto_ctx_system(ctx), &s->rooms[i], s->nick, p, tlen);
      if (rc < 0) REPLY_AND_RETURN("error: cannot say that in %s: %s", s->arg, acto_strerror(rc));
      finish(ctx, s, "ok msg %s", s->arg);
    } else {
      if (!chat_valid_nick(a, an))
        REPLY_AND_RETURN("error: no such nick %.*s", (int)(an > 40 ? 40 : an), a);
      chat_lower(s->arg, a, an);
      if (chat_dir_lookup(acto_ctx_system(ctx), s->arg, &s->out_to) != 0)
        REPLY_AND_RETURN("error: no such nick %s", s->arg);
      chat_priv pv;
      snprintf(pv.nick, sizeof pv.nick, "%s", s->nick);
      snprintf(pv.text, sizeof pv.text, "%.*s", (int)tlen, p);
      if (pack_out(s, chat_priv_schema(), &pv) != 0) REPLY_AND_RETURN("error: line too long");
      s->retries = 0;
      send_out(ctx, s);
    }
  } else if (is_cmd(w, wn, "ROOMS")) {
    if (!rest_empty(p)) REPLY_AND_RETURN("error: usage: ROOMS");
    int rc = chat_dir_rooms(acto_ctx_system(ctx), &text, &tl);
    listing(ctx, s, rc, text, tl);
  } else if (is_cmd(w, wn, "USERS") || is_cmd(w, wn, "NAMES")) {
    an = next_word(&p, &a);
    if (!rest_empty(p)) REPLY_AND_RETURN("error: usage: USERS [<#room>]");
    if (an > 0 && !chat_valid_room(a, an))
      REPLY_AND_RETURN("error: bad room name \"%.*s\"", (int)(an > 40 ? 40 : an), a);
    if (an > 0) set_arg(s, a, an);
    else s->arg[0] = '\0';
    int rc = chat_dir_users(acto_ctx_system(ctx), an ? s->arg : NULL, &text, &tl);
    listing(ctx, s, rc, text, tl);
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

/* Every line a session writes for another session's message is built
 * here with a prefix of its own ("#room <nick> ", "* ", "private <nick> "),
 * so it never looks like a reply ("ok ...", "error: ...", "= ..."). */

/* A private line (CHAT_PRIV), checked: one line for the client. */
static void on_priv(session *s, const acto_msg *msg) {
  chat_priv pv;
  acto_msgpack_result bad;
  if (chat_priv_unpack_msg(msg, &pv, &bad) != 0) {
    chat_bad_payload("session", msg, bad.detail);
    return;
  }
  size_t n = strlen(pv.text);
  if (!chat_valid_nick(pv.nick, strlen(pv.nick)) || n == 0 || !chat_one_line(pv.text, n)) {
    chat_bad_payload("session", msg, "a private line without a nick or one line of text");
    return;
  }
  notice(s, "private <%s> %s", pv.nick, pv.text);
}

/* The cluster gave this session's nick to another session (a partition
 * healed): it gives up the nick and its rooms (DESIGN). */
static void on_nick_lost(acto_ctx *ctx, session *s, const acto_msg *msg) {
  acto_global_lost gl;
  if (msg->size != sizeof gl) return;
  memcpy(&gl, msg->data, sizeof gl);
  gl.name[ACTO_NAME_MAX] = '\0';
  if (!s->nick[0] || !chat_dir_is_nick(gl.name, s->nick)) return;
  while (s->nrooms > 0) leave_room(ctx, s, s->nrooms - 1, CHAT_PART_NICK);
  chat_dir_release(acto_ctx_system(ctx), acto_self(ctx), s->nick);
  notice(s, "! your nick %s is now another user's (two servers had it while apart): NICK and "
            "JOIN again", s->nick);
  s->nick[0] = '\0';
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
  case CHAT_PRIV:
    on_priv(s, msg);
    return 0;
  case CHAT_R_HELLO:
  case CHAT_R_HERE:
  case CHAT_R_BYE:
  case CHAT_R_POST:
  case ACTO_MSG_GROUP_CHANGE: {
    char line[CHAT_DELIVER_MAX + 64];
    size_t n = chat_room_handle(acto_ctx_system(ctx), acto_self(ctx), s->nick, s->rooms,
                                s->nrooms, msg, line, sizeof line);
    if (n > 0) (void)chat_conn_write(s->conn, line, n, CHAT_OUT_EVENT);
    return 0;
  }
  case ACTO_MSG_GLOBAL_LOST:
    on_nick_lost(ctx, s, msg);
    return 0;
  case CHAT_RETRY:
    if (msg->size == 0 && s->busy && s->retrying) send_out(ctx, s);
    break;
  default:
    return 0;
  }
  run(ctx, s);
  return 0;
}

static void session_terminate(acto_ctx *ctx, void *state, int reason) {
  session *s = state;
  /* Only QUIT stops a session normally (chat.h, CHAT_REASON_LOST); an
   * idle one is timed out; any other end is a lost connection. */
  int why = reason == ACTO_REASON_NORMAL ? CHAT_PART_QUIT
            : reason == CHAT_REASON_IDLE ? CHAT_PART_IDLE
                                         : CHAT_PART_LOST;
  while (s->nrooms > 0) leave_room(ctx, s, s->nrooms - 1, why);
  if (s->nick[0]) chat_dir_release(acto_ctx_system(ctx), acto_self(ctx), s->nick);
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
