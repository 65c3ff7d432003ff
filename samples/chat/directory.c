/* directory.c - the directory actor, registered as "chat.dir" on the hub
 * (or the lone server): the nicks, the rooms and who is in which.
 *
 * DESIGN
 * Every membership change goes through the directory, so it alone decides
 * when a room is created (the first JOIN) and when it closes (the last
 * member leaves), and it tells the room in order: R_JOIN, R_PART, R_CLOSE
 * all come from this one sender.  JOIN is answered by the room itself,
 * after it has added the member, so a session never posts to a room that
 * does not know it yet.  The directory monitors every session with a nick
 * (a session on another node too): when one stops, or its node goes down,
 * the nick is released and it leaves its rooms: "(quit)" after QUIT,
 * "(idle timeout)" when the server timed it out, and "(connection lost)"
 * for any other end (the session's exit reason says which, chat.h).  It
 * also monitors its rooms, so a room that failed is forgotten.
 *
 * Requests from sessions come as chat_dreq (msgpack, chat.h) with a
 * request number, and are answered with a CHAT_REPLY sent to the sender.
 * A malformed request (one that does not unpack, without a sender, with
 * text where none belongs) is logged and ignored, unanswered: the
 * directory never fails because of what it was sent.
 *
 * Nicks and rooms are compared without regard to case and kept in the
 * spelling they were first given.  The tables are plain arrays searched
 * linearly: CHAT_MAX_USERS and CHAT_MAX_ROOMS keep that cheap.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat.h"

typedef struct dir_user {
  char nick[CHAT_NICK_MAX + 1];
  acto_ref session;
  uint64_t mon;
  unsigned nrooms;
  char rooms[CHAT_ROOMS_PER_USER][CHAT_ROOM_MAX + 1];
} dir_user;

typedef struct dir_room {
  char name[CHAT_ROOM_MAX + 1];
  acto_ref ref;
  uint64_t mon;
  unsigned members;
} dir_room;

typedef struct dir_state {
  dir_user *users;
  size_t nusers, capusers;
  dir_room *rooms;
  size_t nrooms, caprooms;
} dir_state;

/* ---- replies ---------------------------------------------------------------------- */

int chat_send_reply(acto_system *sys, acto_ref to, uint64_t req, int status, acto_ref ref,
                    const char *name, const char *text, size_t len) {
  /* [req, ref, status, name, text] (chat.h), packed once into a buffer
   * that becomes the message: a long listing is never copied again. */
  acto_msgpack_buf b;
  int rc = acto_msgpack_buf_init(&b);
  if (rc < 0) return rc;
  msgpack_packer *pk = acto_msgpack_buf_packer(&b);
  size_t nlen = name ? strnlen(name, CHAT_ROOM_MAX) : 0;
  (void)acto_msgpack_buf_reserve(&b, len + nlen + 64); /* one block, no moves */
  if (msgpack_pack_array(pk, CHAT_REPLY_FIELDS) != 0 || msgpack_pack_uint64(pk, req) != 0 ||
      acto_msgpack_pack_ref(pk, ref) != 0 || msgpack_pack_int32(pk, status) != 0 ||
      msgpack_pack_str_with_body(pk, name ? name : "", nlen) != 0 ||
      msgpack_pack_str_with_body(pk, text, len) != 0) {
    acto_msgpack_buf_free(&b);
    return ACTO_ENOMEM;
  }
  return acto_msgpack_send(sys, to, CHAT_REPLY, &b, NULL);
}

/* A growing text for listings. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || b->oom) return;
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Answers a request with one formatted line. */
static void answer(acto_ctx *ctx, acto_ref to, uint64_t req, int status, const char *name,
                   const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = (int)sizeof line - 1;
  (void)chat_send_reply(acto_ctx_system(ctx), to, req, status, ACTO_REF_NONE, name, line,
                        (size_t)n);
}

/* Inside a request handler: answers and returns. */
#define ANSWER_RETURN(...) \
  do {                      \
    answer(__VA_ARGS__);    \
    return;                 \
  } while (0)

/* ---- tables ----------------------------------------------------------------------- */

static dir_user *user_by_ref(dir_state *d, acto_ref ref) {
  for (size_t i = 0; i < d->nusers; i++)
    if (acto_ref_eq(d->users[i].session, ref)) return &d->users[i];
  return NULL;
}

static dir_user *user_by_nick(dir_state *d, const char *nick) {
  for (size_t i = 0; i < d->nusers; i++)
    if (strcasecmp(d->users[i].nick, nick) == 0) return &d->users[i];
  return NULL;
}

static dir_room *room_by_name(dir_state *d, const char *name) {
  for (size_t i = 0; i < d->nrooms; i++)
    if (strcasecmp(d->rooms[i].name, name) == 0) return &d->rooms[i];
  return NULL;
}

static int user_room(const dir_user *u, const char *name) {
  for (unsigned i = 0; i < u->nrooms; i++)
    if (strcasecmp(u->rooms[i], name) == 0) return (int)i;
  return -1;
}

static void room_delete(dir_state *d, dir_room *r) { *r = d->rooms[--d->nrooms]; }

/* The session leaves the room: the room is told, and closed when empty. */
static void leave(acto_ctx *ctx, dir_state *d, const char *name, acto_ref session, int why) {
  acto_system *sys = acto_ctx_system(ctx);
  dir_room *r = room_by_name(d, name);
  if (!r) return;
  chat_rpart p = {session, why};
  (void)chat_rpart_send(sys, r->ref, CHAT_R_PART, &p, NULL);
  if (r->members > 0) r->members--;
  if (r->members == 0) {
    (void)acto_demonitor(ctx, r->mon);
    (void)acto_send(sys, r->ref, CHAT_R_CLOSE, NULL, 0);
    room_delete(d, r);
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- requests --------------------------------------------------------------------- */

static void do_nick(acto_ctx *ctx, dir_state *d, acto_ref from, const chat_dreq *q) {
  const char *nick = q->arg;
  if (!chat_valid_nick(nick, strlen(nick)))
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: bad nick \"%s\"", nick);
  dir_user *u = user_by_ref(d, from);
  dir_user *other = user_by_nick(d, nick);
  if (other && other != u)
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: nick %s is taken", other->nick);
  if (u) {
    if (u->nrooms > 0)
      ANSWER_RETURN(ctx, from, q->req, 1, NULL,
                    "error: part your rooms before changing your nick");
    snprintf(u->nick, sizeof u->nick, "%.*s", (int)CHAT_NICK_MAX, nick);
    ANSWER_RETURN(ctx, from, q->req, 0, NULL, "ok nick %s", nick);
  }
  if (d->nusers >= CHAT_MAX_USERS)
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: the chat is full (%u users)",
                  CHAT_MAX_USERS);
  if (d->nusers == d->capusers) {
    size_t cap = d->capusers ? d->capusers * 2 : 16;
    dir_user *p = realloc(d->users, cap * sizeof *p);
    if (!p) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: out of memory");
    d->users = p;
    d->capusers = cap;
  }
  u = &d->users[d->nusers];
  memset(u, 0, sizeof *u);
  snprintf(u->nick, sizeof u->nick, "%.*s", (int)CHAT_NICK_MAX, nick);
  u->session = from;
  if (acto_monitor(ctx, from, &u->mon) < 0)
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: cannot watch your session");
  d->nusers++;
  answer(ctx, from, q->req, 0, NULL, "ok nick %s", nick);
}

static void do_join(acto_ctx *ctx, dir_state *d, acto_ref from, const chat_dreq *q) {
  acto_system *sys = acto_ctx_system(ctx);
  dir_user *u = user_by_ref(d, from);
  if (!u) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: choose a nick first: NICK <nick>");
  if (!chat_valid_room(q->arg, strlen(q->arg)))
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: bad room name \"%s\"", q->arg);
  int i = user_room(u, q->arg);
  if (i >= 0)
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: you are already in %s", u->rooms[i]);
  if (u->nrooms >= CHAT_ROOMS_PER_USER)
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: you are in %u rooms, the most allowed",
                  CHAT_ROOMS_PER_USER);
  dir_room *r = room_by_name(d, q->arg);
  if (!r) {
    if (d->nrooms >= CHAT_MAX_ROOMS)
      ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: too many rooms (%u)", CHAT_MAX_ROOMS);
    if (d->nrooms == d->caprooms) {
      size_t cap = d->caprooms ? d->caprooms * 2 : 16;
      dir_room *p = realloc(d->rooms, cap * sizeof *p);
      if (!p) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: out of memory");
      d->rooms = p;
      d->caprooms = cap;
    }
    r = &d->rooms[d->nrooms];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", q->arg);
    acto_spawn_opts so = {.capacity = 1024, .overflow = ACTO_OVERFLOW_BLOCK};
    int rc = acto_spawn(sys, &chat_room_behaviour, r->name, &so, &r->ref);
    if (rc < 0)
      ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: cannot open %s: %s", q->arg,
                    acto_strerror(rc));
    if (acto_monitor(ctx, r->ref, &r->mon) < 0) r->mon = 0;
    d->nrooms++;
  }
  chat_rjoin j;
  memset(&j, 0, sizeof j);
  j.req = q->req;
  j.session = from;
  snprintf(j.nick, sizeof j.nick, "%s", u->nick);
  int rc = chat_rjoin_send(sys, r->ref, CHAT_R_JOIN, &j, NULL);
  if (rc < 0) {
    answer(ctx, from, q->req, 1, NULL, "error: cannot join %s: %s", r->name, acto_strerror(rc));
    if (r->members == 0) { /* just opened */
      (void)acto_demonitor(ctx, r->mon);
      (void)acto_stop(sys, r->ref);
      room_delete(d, r);
    }
    return;
  }
  /* The room answers the session once it has added it. */
  snprintf(u->rooms[u->nrooms++], CHAT_ROOM_MAX + 1, "%s", r->name);
  r->members++;
}

static void do_part(acto_ctx *ctx, dir_state *d, acto_ref from, const chat_dreq *q) {
  dir_user *u = user_by_ref(d, from);
  int i = u ? user_room(u, q->arg) : -1;
  if (i < 0) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: you are not in %s", q->arg);
  char name[CHAT_ROOM_MAX + 1];
  snprintf(name, sizeof name, "%s", u->rooms[i]);
  memcpy(u->rooms[i], u->rooms[--u->nrooms], sizeof u->rooms[i]);
  leave(ctx, d, name, from, CHAT_PART_LEFT);
  answer(ctx, from, q->req, 0, name, "ok part %s", name);
}

static void do_priv(acto_ctx *ctx, dir_state *d, acto_ref from, const chat_dreq *q,
                    const char *text, size_t tlen) {
  dir_user *u = user_by_ref(d, from);
  if (!u) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: choose a nick first: NICK <nick>");
  if (tlen == 0 || tlen > CHAT_LINE_MAX)
    ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: usage: MSG <#room|nick> <text>");
  dir_user *t = user_by_nick(d, q->arg);
  if (!t) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: no such nick %s", q->arg);
  chat_line line;
  snprintf(line.text, sizeof line.text, "private <%s> %.*s", u->nick, (int)tlen, text);
  int rc = chat_line_send(acto_ctx_system(ctx), t->session, CHAT_DELIVER, &line, NULL);
  if (rc < 0) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: no such nick %s", q->arg);
  answer(ctx, from, q->req, 0, NULL, "ok msg %s", t->nick);
}

static void do_rooms(acto_ctx *ctx, dir_state *d, acto_ref from, const chat_dreq *q) {
  const char **names = malloc((d->nrooms + 1) * sizeof *names);
  if (!names) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: out of memory");
  for (size_t i = 0; i < d->nrooms; i++) names[i] = d->rooms[i].name;
  qsort(names, d->nrooms, sizeof *names, cmp_str);
  sbuf b = {0};
  for (size_t i = 0; i < d->nrooms; i++)
    sb_printf(&b, "= %s %u\n", names[i], room_by_name(d, names[i])->members);
  sb_printf(&b, "ok rooms %zu", d->nrooms);
  free(names);
  if (b.oom) answer(ctx, from, q->req, 1, NULL, "error: out of memory");
  else
    (void)chat_send_reply(acto_ctx_system(ctx), from, q->req, 0, ACTO_REF_NONE, NULL, b.p,
                          b.len);
  free(b.p);
}

static void do_users(acto_ctx *ctx, dir_state *d, acto_ref from, const chat_dreq *q) {
  const char *room = q->arg[0] ? q->arg : NULL;
  dir_room *r = room ? room_by_name(d, room) : NULL;
  if (room && !r) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: no such room %s", room);
  const char **names = malloc((d->nusers + 1) * sizeof *names);
  if (!names) ANSWER_RETURN(ctx, from, q->req, 1, NULL, "error: out of memory");
  size_t n = 0;
  for (size_t i = 0; i < d->nusers; i++)
    if (!r || user_room(&d->users[i], r->name) >= 0) names[n++] = d->users[i].nick;
  qsort(names, n, sizeof *names, cmp_str);
  sbuf b = {0};
  for (size_t i = 0; i < n; i++) sb_printf(&b, "= %s\n", names[i]);
  if (r) sb_printf(&b, "ok users %s %zu", r->name, n);
  else sb_printf(&b, "ok users %zu", n);
  free(names);
  if (b.oom) answer(ctx, from, q->req, 1, NULL, "error: out of memory");
  else
    (void)chat_send_reply(acto_ctx_system(ctx), from, q->req, 0, ACTO_REF_NONE, NULL, b.p,
                          b.len);
  free(b.p);
}

/* A session stopped (or its node went down), or a room failed. */
static void on_down(acto_ctx *ctx, dir_state *d, const acto_msg *msg) {
  acto_down dn;
  if (msg->size != sizeof dn) return;
  memcpy(&dn, msg->data, sizeof dn);
  for (size_t i = 0; i < d->nusers; i++) {
    dir_user *u = &d->users[i];
    if (u->mon != dn.monitor) continue;
    /* Only a session that got QUIT stops normally (chat.h, CHAT_REASON_LOST);
     * an idle one is timed out; any other end, its node's too, is a lost
     * connection. */
    int why = dn.reason == ACTO_REASON_NORMAL     ? CHAT_PART_QUIT
              : dn.reason == CHAT_REASON_IDLE     ? CHAT_PART_IDLE
                                                  : CHAT_PART_LOST;
    for (unsigned k = 0; k < u->nrooms; k++) leave(ctx, d, u->rooms[k], u->session, why);
    *u = d->users[--d->nusers];
    return;
  }
  for (size_t i = 0; i < d->nrooms; i++) {
    dir_room *r = &d->rooms[i];
    if (r->mon != dn.monitor) continue;
    for (size_t k = 0; k < d->nusers; k++) { /* its members are told by their own monitor */
      dir_user *u = &d->users[k];
      int j = user_room(u, r->name);
      if (j >= 0) memcpy(u->rooms[j], u->rooms[--u->nrooms], sizeof u->rooms[j]);
    }
    room_delete(d, r);
    return;
  }
}

static int dir_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  dir_state *d = state;
  if (msg->type == ACTO_MSG_DOWN) {
    on_down(ctx, d, msg);
    return 0;
  }
  if (msg->type < CHAT_D_NICK || msg->type > CHAT_D_USERS || acto_ref_is_none(msg->sender))
    return 0; /* not a request: ignored */
  chat_dreq q;
  acto_msgpack_result bad;
  if (chat_dreq_unpack_msg(msg, &q, &bad) != 0) {
    chat_bad_payload("directory", msg, bad.detail);
    return 0;
  }
  const char *text = q.text;
  size_t tlen = strlen(q.text);
  /* D_PRIV with 1..CHAT_LINE_MAX bytes of one line; the others without. */
  if (msg->type == CHAT_D_PRIV ? tlen == 0 || !chat_one_line(text, tlen) : tlen != 0) {
    chat_bad_payload("directory", msg, "a D_PRIV without one line of text, or text elsewhere");
    return 0;
  }
  switch (msg->type) {
  case CHAT_D_NICK: do_nick(ctx, d, msg->sender, &q); break;
  case CHAT_D_JOIN: do_join(ctx, d, msg->sender, &q); break;
  case CHAT_D_PART: do_part(ctx, d, msg->sender, &q); break;
  case CHAT_D_PRIV: do_priv(ctx, d, msg->sender, &q, text, tlen); break;
  case CHAT_D_ROOMS: do_rooms(ctx, d, msg->sender, &q); break;
  case CHAT_D_USERS: do_users(ctx, d, msg->sender, &q); break;
  }
  return 0;
}

static void dir_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  dir_state *d = state;
  free(d->users);
  free(d->rooms);
}

const acto_behaviour chat_directory_behaviour = {.name = "chat_directory",
                                                 .state_size = sizeof(dir_state),
                                                 .handle = dir_handle,
                                                 .terminate = dir_terminate};
