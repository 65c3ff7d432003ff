/* docframe.h - the byte-by-byte examples of ACTORS.md, read from the page
 * so that a suite can compare them with what the code encodes (test_wire.c:
 * "A worked example"; test_spawn_remote.c: "Remote spawn, byte by byte").
 * Header-only, static, over Check. */
#ifndef ACTO_DOCFRAME_H
#define ACTO_DOCFRAME_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ACTO_SOURCE_DIR
#define ACTO_SOURCE_DIR "."
#endif

/* Hex of p[0..n) into out; with ACTO_WIRE_PRINT set, printed under label
 * too (to regenerate a page's bytes). */
static void hex(const char *label, const uint8_t *p, size_t n, char *out, size_t outsz) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 3 < outsz; i++)
    k += (size_t)snprintf(out + k, outsz - k, "%02x", p[i]);
  out[k] = 0;
  if (getenv("ACTO_WIRE_PRINT"))
    printf("%s (%zu bytes):\n%s\n", label, n, out);
}

typedef struct doc_frame {
  char name[32];   /* the first word of its "NAME (...), N bytes:" line */
  size_t want_len; /* N */
  uint8_t bytes[512];
  size_t len;
} doc_frame;

static int hexdig(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads the frames of the part of ACTORS.md that starts at the line
 * `start` and ends before `end` (or, when the page has no `end`, before
 * the next "### " heading): inside its code blocks, a line ending in ':'
 * starts a frame, and the leading tokens of the lines after it that are
 * lower-case hex of even length are its bytes (the first other token
 * starts the comment).  Returns how many. */
static int docframe_read(const char *start, const char *end, doc_frame *out, int max) {
  static char text[1 << 20];
  FILE *f = fopen(ACTO_SOURCE_DIR "/ACTORS.md", "r");
  ck_assert_msg(f != NULL, "cannot open %s/ACTORS.md", ACTO_SOURCE_DIR);
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char *p = strstr(text, start);
  ck_assert_msg(p != NULL, "ACTORS.md has no \"%s\"", start + 1);
  char *e = strstr(p + 1, end);
  if (!e)
    e = strstr(p + 1, "\n### ");
  if (e)
    *e = '\0';
  int nf = 0, in_code = 0;
  for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "```", 3) == 0) {
      in_code = !in_code;
      continue;
    }
    size_t ll = strlen(line);
    if (!in_code || ll == 0)
      continue;
    if (line[ll - 1] == ':') {
      ck_assert_int_lt(nf, max);
      doc_frame *d = &out[nf++];
      memset(d, 0, sizeof *d);
      sscanf(line, "%31s", d->name);
      const char *c = strrchr(line, ',');
      ck_assert_msg(c && sscanf(c, ", %zu bytes:", &d->want_len) == 1, "bad frame line: %s", line);
      continue;
    }
    ck_assert_msg(nf > 0, "bytes before the first frame line: %s", line);
    doc_frame *d = &out[nf - 1];
    const char *q = line;
    for (;;) {
      while (*q == ' ')
        q++;
      size_t tl = strcspn(q, " ");
      size_t k = 0;
      while (k < tl && hexdig(q[k]) >= 0)
        k++;
      if (tl == 0 || k != tl || tl % 2 != 0)
        break; /* the comment */
      for (size_t b = 0; b < tl; b += 2) {
        ck_assert_uint_lt(d->len, sizeof d->bytes);
        d->bytes[d->len++] = (uint8_t)(hexdig(q[b]) << 4 | hexdig(q[b + 1]));
      }
      q += tl;
    }
  }
  return nf;
}

static void check_doc_frame(const doc_frame *d, const char *name, const uint8_t *p, size_t n) {
  char got[1100], want[1100];
  hex(name, p, n, got, sizeof got);
  hex("", d->bytes, d->len, want, sizeof want);
  ck_assert_msg(strcmp(d->name, name) == 0, "ACTORS.md shows %s where %s is due", d->name, name);
  ck_assert_msg(d->want_len == d->len, "ACTORS.md: %s says %zu bytes but shows %zu", name,
                d->want_len, d->len);
  ck_assert_msg(n == d->len && memcmp(p, d->bytes, n) == 0,
                "ACTORS.md's %s frame differs from the code's:\n doc  %s\n code %s", name, want,
                got);
}

#endif /* ACTO_DOCFRAME_H */
