/* check.c - what every part of the chat server checks in what reaches it:
 * nick and room names, text that may go into one client line, and the
 * log line of a message that does not fit its type (chat.h).  Below
 * session.c, room.c and directory.c, which all use it. */
#include <stdatomic.h>
#include <stdio.h>

#include "chat.h"

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
