/* directory.c - the chat's user directory on the cluster: nicks are
 * global names, and the ROOMS and USERS listings are read from the
 * cluster's process groups (chat.h, "No hub").
 *
 * DESIGN
 * A nick is held by registering its session under the global name
 * "chat.nick/<nick in lower case>": the cluster's global table makes it
 * unique without regard to case, on every server at once, and drops it
 * when the session stops or its server goes down.  So that USERS can
 * list nicks with their spelling, the session is also the one member of
 * the group "chat.user/<nick>" (global names cannot be enumerated;
 * groups can, with acto_group_which).  Rooms are the groups
 * "chat.room/<room>".
 *
 * The tables are each server's copy, replicated as the cluster tells it:
 * a nick taken on another server a moment ago may not be known here yet,
 * and two sessions on the two sides of a partition may hold the same
 * nick; when the partition heals, the cluster keeps one registration
 * (ACTORS.md 13.10, "Global names") and the other session is told with
 * ACTO_MSG_GLOBAL_LOST (session.c gives up the nick and its rooms).
 *
 * Costs.  NICK: one global registration and one group join, each one
 * message per server.  MSG to a nick: a lookup in this server's table,
 * no round trip.  ROOMS: one pass over this server's group table
 * (acto_group_which) and one count per room.  USERS: the same for the
 * users, and for USERS #room a membership test of each user's session
 * against the room's member list (users x members of the room): fine for
 * a sample's thousands, not for millions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat.h"

void chat_lower(char *dst, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
  dst[n] = '\0';
}

/* "prefix" + name (lower-cased when lower) into out. */
static void full_name(char *out, size_t cap, const char *prefix, const char *name, int lower) {
  size_t p = strlen(prefix), n = strnlen(name, CHAT_ROOM_MAX);
  if (p + n + 1 > cap)
    n = cap - p - 1;
  memcpy(out, prefix, p);
  if (lower)
    chat_lower(out + p, name, n);
  else {
    memcpy(out + p, name, n);
    out[p + n] = '\0';
  }
}

#define NAME_CAP 64 /* the longest prefix and name */

int chat_dir_claim(acto_system *sys, acto_ref self, const char *old, const char *nick) {
  char gname[NAME_CAP], uname[NAME_CAP];
  full_name(gname, sizeof gname, CHAT_NICK_PREFIX, nick, 1);
  full_name(uname, sizeof uname, CHAT_USER_PREFIX, nick, 0);
  int same = old && old[0] && strcasecmp(old, nick) == 0; /* only the spelling changes */
  int rc = same ? 0 : acto_global_register(sys, gname, self);
  if (rc < 0)
    return rc;
  if ((rc = acto_group_join(sys, uname, self)) < 0) {
    if (!same)
      (void)acto_global_unregister(sys, gname);
    return rc;
  }
  if (old && old[0]) {
    char oname[NAME_CAP];
    full_name(oname, sizeof oname, CHAT_USER_PREFIX, old, 0);
    (void)acto_group_leave(sys, oname, self);
    if (!same) {
      full_name(oname, sizeof oname, CHAT_NICK_PREFIX, old, 1);
      (void)acto_global_unregister(sys, oname);
    }
  }
  return 0;
}

void chat_dir_release(acto_system *sys, acto_ref self, const char *nick) {
  char name[NAME_CAP];
  full_name(name, sizeof name, CHAT_USER_PREFIX, nick, 0);
  (void)acto_group_leave(sys, name, self);
  full_name(name, sizeof name, CHAT_NICK_PREFIX, nick, 1);
  acto_ref holder;
  /* Only if it is still ours: after a conflict it is the winner's. */
  if (acto_global_whereis(sys, name, &holder) == 0 && acto_ref_eq(holder, self))
    (void)acto_global_unregister(sys, name);
}

int chat_dir_lookup(acto_system *sys, const char *nick, acto_ref *out) {
  char name[NAME_CAP];
  full_name(name, sizeof name, CHAT_NICK_PREFIX, nick, 1);
  return acto_global_whereis(sys, name, out) == 0 ? 0 : ACTO_ENOENT;
}

int chat_dir_is_nick(const char *name, const char *nick) {
  char want[NAME_CAP];
  full_name(want, sizeof want, CHAT_NICK_PREFIX, nick, 1);
  return strcmp(name, want) == 0;
}

/* ---- listings --------------------------------------------------------------------- */

/* A growing text. */
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
  if (n < 0 || b->oom)
    return;
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + (size_t)n + 1)
      cap *= 2;
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

static int done_text(sbuf *b, char **text, size_t *len) {
  if (b->oom) {
    free(b->p);
    return ACTO_ENOMEM;
  }
  *text = b->p;
  *len = b->len;
  return 0;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const acto_group_name *)a)->name, ((const acto_group_name *)b)->name);
}

/* The groups named prefix..., sorted: malloc'ed into *out, their number
 * returned (or a negative code).  The table may change between the count
 * and the copy: asked again until the copy holds them all. */
static int groups(acto_system *sys, const char *prefix, acto_group_name **out) {
  int n = acto_group_which(sys, prefix, NULL, 0);
  for (int tries = 0; n >= 0 && tries < 8; tries++) {
    acto_group_name *v = malloc(((size_t)n + 1) * sizeof *v);
    if (!v)
      return ACTO_ENOMEM;
    int m = acto_group_which(sys, prefix, v, (size_t)n + 1);
    if (m >= 0 && m <= n + 1) {
      qsort(v, (size_t)m, sizeof *v, cmp_name);
      *out = v;
      return m;
    }
    free(v);
    n = m;
  }
  return n < 0 ? n : ACTO_ELIMIT;
}

int chat_dir_rooms(acto_system *sys, char **text, size_t *len) {
  acto_group_name *v = NULL;
  int n = groups(sys, CHAT_ROOM_PREFIX, &v);
  if (n < 0)
    return n;
  sbuf b = {0};
  size_t shown = 0, skip = strlen(CHAT_ROOM_PREFIX);
  for (int i = 0; i < n; i++) {
    const char *room = v[i].name + skip;
    /* Names come from the network: only a valid room name is listed (a
     * forged one might hold a CR LF and fake a reply line). */
    if (!chat_valid_room(room, strlen(room)))
      continue;
    int members = acto_group_members(sys, v[i].name, 0, NULL, 0);
    if (members <= 0)
      continue; /* emptied meanwhile */
    sb_printf(&b, "= %s %d\n", room, members);
    shown++;
  }
  sb_printf(&b, "ok rooms %zu", shown);
  free(v);
  return done_text(&b, text, len);
}

static int has_ref(const acto_ref *v, int n, acto_ref r) {
  for (int i = 0; i < n; i++)
    if (acto_ref_eq(v[i], r))
      return 1;
  return 0;
}

int chat_dir_users(acto_system *sys, const char *room, char **text, size_t *len) {
  acto_ref *in = NULL;
  int nin = 0;
  char rname[NAME_CAP];
  sbuf b = {0};
  if (room) {
    full_name(rname, sizeof rname, CHAT_ROOM_PREFIX, room, 1);
    nin = acto_group_members(sys, rname, 0, NULL, 0);
    if (nin <= 0) {
      sb_printf(&b, "error: no such room %s", room);
      return done_text(&b, text, len);
    }
    size_t cap = (size_t)nin + 1;
    if (!(in = malloc(cap * sizeof *in)))
      return ACTO_ENOMEM;
    nin = acto_group_members(sys, rname, 0, in, cap);
    if (nin < 0)
      nin = 0;
    if ((size_t)nin > cap) /* it grew meanwhile: those copied */
      nin = (int)cap;
  }
  acto_group_name *v = NULL;
  int n = groups(sys, CHAT_USER_PREFIX, &v);
  if (n < 0) {
    free(in);
    return n;
  }
  size_t shown = 0, skip = strlen(CHAT_USER_PREFIX);
  for (int i = 0; i < n; i++) {
    acto_ref who;
    const char *nick = v[i].name + skip;
    if (!chat_valid_nick(nick, strlen(nick))) /* from the network: see chat_dir_rooms */
      continue;
    if (room && (acto_group_members(sys, v[i].name, 0, &who, 1) < 1 || !has_ref(in, nin, who)))
      continue;
    sb_printf(&b, "= %s\n", nick);
    shown++;
  }
  char lower[CHAT_ROOM_MAX + 1];
  if (room) {
    chat_lower(lower, room, strnlen(room, CHAT_ROOM_MAX));
    sb_printf(&b, "ok users %s %zu", lower, shown);
  } else {
    sb_printf(&b, "ok users %zu", shown);
  }
  free(v);
  free(in);
  return done_text(&b, text, len);
}
