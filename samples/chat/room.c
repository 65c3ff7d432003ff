/* room.c - a chat room as a process group of the cluster, as one member
 * session sees it: entering, leaving, saying a line, and the messages
 * and group notices that tell it who is in the room.
 *
 * DESIGN
 * A room is the group "chat.room/<room>" of its member sessions, on any
 * server; there is no room actor.  A session enters a room by
 * subscribing to the group's notices, joining it, and broadcasting HELLO
 * with its nick; every member that gets the HELLO tells its client
 * "* nick joined #room", notes the nick, and answers HERE, so the newcomer
 * learns the nicks of the members already there.  A line is one POST
 * broadcast (one copy per server).  A session that leaves (PART, QUIT,
 * idle timeout, a lost connection: its terminate runs in every case but
 * a crash of its server) broadcasts BYE with the reason before it leaves
 * the group: the members tell their clients "* nick left #room (why)".
 * A broadcast reaches its own sender too, which ignores it.
 *
 * Exactly one "left" line per member.  A member also leaves the group's
 * member set, and each subscriber gets ACTO_GROUP_LEFT for it: after its
 * BYE when it left by itself (notices travel on the system lane, so the
 * notice may overtake the BYE), or alone when its server went down (the
 * cluster drops a downed node's members at once).  So a LEFT for a
 * member whose node is still up (this node included) only marks it gone
 * and waits for its BYE, which tells the client; a LEFT for a member
 * whose node is no longer up (down, left, or a new incarnation since)
 * tells the client "* nick left #room (connection lost)" then and there.
 * Either way the member is then forgotten, so a late BYE or notice finds
 * nothing to say.
 *
 * What a member may miss.  Two sessions that enter a room on two servers
 * at the same moment may each broadcast HELLO before the other's join
 * reached its server; they then miss each other's "joined" line, and if
 * one's server later goes down the other is not told of it (it does not
 * know the nick).  Lines are never missed that way once both joins are
 * known everywhere.
 *
 * Every message is checked (chat.h): a chat_rmsg that does not unpack,
 * names a room this session is not in, carries no valid nick, a BYE
 * reason out of range, or a POST text that is not one line of 1..
 * CHAT_LINE_MAX bytes, is logged and ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat.h"

static void group_name(char *out, size_t cap, const char *room) {
  snprintf(out, cap, "%s%s", CHAT_ROOM_PREFIX, room);
}

/* Packs a chat_rmsg into b (initialised here).  0 or -1. */
static int pack(acto_msgpack_buf *b, const char *room, const char *nick, int why, const char *text,
                size_t len) {
  chat_rmsg m;
  memset(&m, 0, sizeof m);
  snprintf(m.room, sizeof m.room, "%s", room);
  snprintf(m.nick, sizeof m.nick, "%s", nick);
  m.why = why;
  snprintf(m.text, sizeof m.text, "%.*s", (int)len, len ? text : "");
  if (acto_msgpack_buf_init(b) != 0)
    return -1;
  if (chat_rmsg_pack(acto_msgpack_buf_packer(b), &m) != 0) {
    acto_msgpack_buf_free(b);
    return -1;
  }
  return 0;
}

static int cast(acto_system *sys, const char *room, uint32_t type, const char *nick, int why,
                const char *text, size_t len) {
  char g[64];
  group_name(g, sizeof g, room);
  acto_msgpack_buf b;
  if (pack(&b, room, nick, why, text, len) != 0)
    return ACTO_ENOMEM;
  int rc = acto_group_broadcast(sys, g, type, b.data, b.size);
  acto_msgpack_buf_free(&b);
  return rc;
}

int chat_room_enter(acto_system *sys, acto_ref self, chat_room *r, const char *nick) {
  char g[64];
  group_name(g, sizeof g, r->name);
  int rc = acto_group_subscribe(sys, g, self);
  if (rc < 0 && rc != ACTO_EEXIST)
    return rc;
  if ((rc = acto_group_join(sys, g, self)) < 0) {
    (void)acto_group_unsubscribe(sys, g, self);
    return rc;
  }
  (void)cast(sys, r->name, CHAT_R_HELLO, nick, 0, NULL, 0);
  return 0;
}

void chat_room_leave(acto_system *sys, acto_ref self, chat_room *r, const char *nick, int why) {
  char g[64];
  group_name(g, sizeof g, r->name);
  (void)cast(sys, r->name, CHAT_R_BYE, nick, why, NULL, 0);
  (void)acto_group_leave(sys, g, self);
  (void)acto_group_unsubscribe(sys, g, self);
  free(r->m);
  r->m = NULL;
  r->n = r->cap = 0;
}

int chat_room_post(acto_system *sys, chat_room *r, const char *nick, const char *text, size_t len) {
  return cast(sys, r->name, CHAT_R_POST, nick, 0, text, len);
}

/* ---- members ---------------------------------------------------------------------- */

static chat_member *member(chat_room *r, acto_ref ref) {
  for (size_t i = 0; i < r->n; i++)
    if (acto_ref_eq(r->m[i].ref, ref))
      return &r->m[i];
  return NULL;
}

static void forget(chat_room *r, chat_member *m) { *m = r->m[--r->n]; }

/* Notes (or renews) member ref with nick. */
static void note(chat_room *r, acto_ref ref, const char *nick) {
  chat_member *m = member(r, ref);
  if (!m) {
    if (r->n >= CHAT_MAX_MEMBERS)
      return;
    if (r->n == r->cap) {
      size_t cap = r->cap ? r->cap * 2 : 8;
      chat_member *p = realloc(r->m, cap * sizeof *p);
      if (!p)
        return;
      r->m = p;
      r->cap = cap;
    }
    m = &r->m[r->n++];
    m->ref = ref;
  }
  snprintf(m->nick, sizeof m->nick, "%s", nick);
  m->gone = 0;
}

static chat_room *room_of(chat_room *rooms, unsigned n, const char *name) {
  for (unsigned i = 0; i < n; i++)
    if (strcmp(rooms[i].name, name) == 0)
      return &rooms[i];
  return NULL;
}

/* Is the node of id node_id up (this node is)? */
static int node_up(acto_system *sys, acto_ref self, uint64_t node_id) {
  if (node_id == self.node)
    return 1;
  int n = acto_cluster_members(sys, NULL, 0);
  if (n <= 0)
    return 0;
  acto_member *v = malloc((size_t)n * sizeof *v);
  if (!v)
    return 1; /* unknown: wait for a BYE rather than say it twice */
  int m = acto_cluster_members(sys, v, (size_t)n);
  int up = 0;
  for (int i = 0; i < m && i < n; i++)
    if (v[i].node_id == node_id && v[i].state == ACTO_MEMBER_UP)
      up = 1;
  free(v);
  return up;
}

static const char *why_text(int why) {
  return why == CHAT_PART_QUIT   ? " (quit)"
         : why == CHAT_PART_LOST ? " (connection lost)"
         : why == CHAT_PART_IDLE ? " (idle timeout)"
         : why == CHAT_PART_NICK ? " (nick lost)"
                                 : "";
}

static size_t out(size_t cap, int n) {
  if (n < 0)
    return 0;
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

static size_t on_change(acto_system *sys, acto_ref self, chat_room *rooms, unsigned nrooms,
                        const acto_msg *msg, char *line, size_t cap) {
  acto_group_notice gn;
  if (msg->size != sizeof gn)
    return 0;
  memcpy(&gn, msg->data, sizeof gn);
  size_t plen = strlen(CHAT_ROOM_PREFIX);
  if (gn.event != ACTO_GROUP_LEFT || gn.group_len > ACTO_NAME_MAX ||
      strncmp(gn.group, CHAT_ROOM_PREFIX, plen) != 0)
    return 0;
  gn.group[gn.group_len] = '\0';
  chat_room *r = room_of(rooms, nrooms, gn.group + plen);
  chat_member *m = r ? member(r, gn.member) : NULL;
  if (!m)
    return 0;
  if (node_up(sys, self, gn.member.node)) {
    m->gone = 1; /* its BYE says why */
    return 0;
  }
  int n = snprintf(line, cap, "* %s left %s (connection lost)", m->nick, r->name);
  forget(r, m);
  return out(cap, n);
}

size_t chat_room_handle(acto_system *sys, acto_ref self, const char *nick, chat_room *rooms,
                        unsigned nrooms, const acto_msg *msg, char *line, size_t cap) {
  if (msg->type == ACTO_MSG_GROUP_CHANGE)
    return on_change(sys, self, rooms, nrooms, msg, line, cap);
  if (acto_ref_eq(msg->sender, self))
    return 0; /* its own broadcast */
  chat_rmsg m;
  acto_msgpack_result bad;
  if (chat_rmsg_unpack_msg(msg, &m, &bad) != 0) {
    chat_bad_payload("room", msg, bad.detail);
    return 0;
  }
  size_t tlen = strlen(m.text);
  const char *why = NULL;
  if (acto_ref_is_none(msg->sender))
    why = "no sender";
  else if (!chat_valid_nick(m.nick, strlen(m.nick)))
    why = "not a nick";
  else if (!chat_valid_room(m.room, strlen(m.room)))
    why = "not a room";
  else if (msg->type == CHAT_R_POST ? tlen == 0 || !chat_one_line(m.text, tlen) : tlen != 0)
    why = "a POST without one line of text, or text elsewhere";
  else if (msg->type == CHAT_R_BYE ? m.why < 0 || m.why > CHAT_PART_WHY_MAX : m.why != 0)
    why = "a reason out of range, or where none belongs";
  if (why) {
    chat_bad_payload("room", msg, why);
    return 0;
  }
  chat_room *r = room_of(rooms, nrooms, m.room);
  if (!r)
    return 0; /* a room it has left: a message that crossed its PART */
  int n = -1;
  switch (msg->type) {
  case CHAT_R_HELLO: {
    note(r, msg->sender, m.nick);
    n = snprintf(line, cap, "* %s joined %s", m.nick, r->name);
    /* HERE, packed once straight into the message (the buffer is empty
     * after the call, whatever it returns). */
    acto_msgpack_buf b;
    if (pack(&b, r->name, nick, 0, NULL, 0) == 0) {
      acto_send_opts o = ACTO_SEND_OPTS_INIT;
      o.fail_fast = 1; /* never wait on a session; a lost HERE costs only a nick */
      (void)acto_msgpack_send(sys, msg->sender, CHAT_R_HERE, &b, &o);
    }
    break;
  }
  case CHAT_R_HERE:
    note(r, msg->sender, m.nick);
    break;
  case CHAT_R_BYE: {
    /* Told even when the HELLO was missed; nothing comes from a member
     * after its node went down, so this is its only "left" line. */
    chat_member *who = member(r, msg->sender);
    n = snprintf(line, cap, "* %s left %s%s", m.nick, r->name, why_text(m.why));
    if (who)
      forget(r, who);
    break;
  }
  case CHAT_R_POST:
    n = snprintf(line, cap, "%s <%s> %s", r->name, m.nick, m.text);
    break;
  default:
    break;
  }
  return out(cap, n);
}
