/* room.c - a room actor: its members (session refs, on any node) and the
 * one order of its lines.
 *
 * DESIGN
 * The directory spawns a room on its first JOIN and closes it after the
 * last member leaves; joins and parts come from the directory
 * (CHAT_R_JOIN, CHAT_R_PART, CHAT_R_CLOSE), posts straight from member
 * sessions (CHAT_R_POST; a post from a session that is not a member is
 * ignored, as is every message whose payload does not unpack as its type,
 * chat.h, which is logged too).  The room
 * sends each line to every other member in the order
 * it handles them, so all members, local or remote, see one order.  A send
 * to a session may park the room for a moment (block policy), never for
 * long: sessions drain their mailboxes whatever their clients do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

typedef struct member {
  acto_ref ref;
  char nick[CHAT_NICK_MAX + 1];
} member;

typedef struct room_state {
  char name[CHAT_ROOM_MAX + 1];
  member *m;
  size_t n, cap;
} room_state;

static int find(const room_state *r, acto_ref ref) {
  for (size_t i = 0; i < r->n; i++)
    if (acto_ref_eq(r->m[i].ref, ref)) return (int)i;
  return -1;
}

/* Sends the line to every member but `except`: packed once, each send
 * copies the packed bytes (a line is short). */
static void broadcast(acto_ctx *ctx, room_state *r, acto_ref except, const char *line, int n) {
  if (n < 0) return;
  acto_system *sys = acto_ctx_system(ctx);
  chat_line l;
  snprintf(l.text, sizeof l.text, "%.*s", n, line);
  acto_msgpack_buf b;
  if (acto_msgpack_buf_init(&b) != 0 || chat_line_pack(acto_msgpack_buf_packer(&b), &l) != 0) {
    acto_msgpack_buf_free(&b);
    return;
  }
  for (size_t i = 0; i < r->n; i++)
    if (!acto_ref_eq(r->m[i].ref, except))
      (void)acto_send(sys, r->m[i].ref, CHAT_DELIVER, b.data, b.size); /* gone: DOWN follows */
  acto_msgpack_buf_free(&b);
}

static int room_init(acto_ctx *ctx, void *state, const void *arg) {
  (void)ctx;
  room_state *r = state;
  snprintf(r->name, sizeof r->name, "%s", (const char *)arg);
  return 0;
}

static void on_join(acto_ctx *ctx, room_state *r, const chat_rjoin *j) {
  char nick[CHAT_NICK_MAX + 1], line[128];
  snprintf(nick, sizeof nick, "%s", j->nick);
  if (find(r, j->session) < 0) {
    if (r->n == r->cap) {
      size_t cap = r->cap ? r->cap * 2 : 8;
      member *p = realloc(r->m, cap * sizeof *p);
      if (!p) {
        (void)chat_send_reply(acto_ctx_system(ctx), j->session, j->req, 1, ACTO_REF_NONE, NULL,
                              "error: out of memory", 20);
        return;
      }
      r->m = p;
      r->cap = cap;
    }
    r->m[r->n].ref = j->session;
    memcpy(r->m[r->n].nick, nick, sizeof nick);
    r->n++;
    int n = snprintf(line, sizeof line, "* %s joined %s", nick, r->name);
    broadcast(ctx, r, j->session, line, n);
  }
  int n = snprintf(line, sizeof line, "ok join %s", r->name);
  (void)chat_send_reply(acto_ctx_system(ctx), j->session, j->req, 0, acto_self(ctx), r->name,
                        line, (size_t)n);
}

static void on_part(acto_ctx *ctx, room_state *r, const chat_rpart *p) {
  int i = find(r, p->session);
  if (i < 0) return;
  char nick[CHAT_NICK_MAX + 1], line[128];
  memcpy(nick, r->m[i].nick, sizeof nick);
  r->m[i] = r->m[--r->n];
  const char *why = p->why == CHAT_PART_QUIT   ? " (quit)"
                    : p->why == CHAT_PART_LOST ? " (connection lost)"
                    : p->why == CHAT_PART_IDLE ? " (idle timeout)"
                                               : "";
  int n = snprintf(line, sizeof line, "* %s left %s%s", nick, r->name, why);
  broadcast(ctx, r, ACTO_REF_NONE, line, n);
}

static void on_post(acto_ctx *ctx, room_state *r, acto_ref from, const char *text, size_t len) {
  int i = find(r, from);
  /* From a member, 1..CHAT_LINE_MAX bytes of one line; anything else is
   * ignored. */
  if (i < 0 || len == 0 || len > CHAT_LINE_MAX || !chat_one_line(text, len)) return;
  char line[CHAT_LINE_MAX + 64];
  int n = snprintf(line, sizeof line, "%s <%s> %.*s", r->name, r->m[i].nick, (int)len, text);
  if (n >= (int)sizeof line) n = (int)sizeof line - 1;
  broadcast(ctx, r, from, line, n);
}

static int room_handle(acto_ctx *ctx, void *state, const acto_msg *msg) {
  room_state *r = state;
  acto_msgpack_result bad;
  switch (msg->type) {
  case CHAT_R_JOIN: {
    chat_rjoin j;
    if (chat_rjoin_unpack_msg(msg, &j, &bad) != 0) chat_bad_payload("room", msg, bad.detail);
    else if (!chat_valid_nick(j.nick, strlen(j.nick))) chat_bad_payload("room", msg, "not a nick");
    else on_join(ctx, r, &j);
    break;
  }
  case CHAT_R_PART: {
    chat_rpart p;
    if (chat_rpart_unpack_msg(msg, &p, &bad) != 0) chat_bad_payload("room", msg, bad.detail);
    else on_part(ctx, r, &p);
    break;
  }
  case CHAT_R_POST: {
    chat_line l;
    if (chat_line_unpack_msg(msg, &l, &bad) != 0) chat_bad_payload("room", msg, bad.detail);
    else on_post(ctx, r, msg->sender, l.text, strlen(l.text));
    break;
  }
  case CHAT_R_CLOSE:
    if (msg->size == 0) (void)acto_stop_self(ctx);
    break;
  default:
    break; /* ignored */
  }
  return 0;
}

static void room_terminate(acto_ctx *ctx, void *state, int reason) {
  (void)ctx, (void)reason;
  room_state *r = state;
  free(r->m);
}

const acto_behaviour chat_room_behaviour = {.name = "chat_room",
                                            .state_size = sizeof(room_state),
                                            .init = room_init,
                                            .handle = room_handle,
                                            .terminate = room_terminate};
