/* docbytes.h - reads the byte examples of ACTORS.md, so that a suite can
 * check that the bytes printed in the guide are the bytes the code
 * produces (test_wire.c: the worked example; test_global.c: global names
 * and process groups).
 *
 * In the section that starts at a given heading line and ends at the next
 * heading, inside its code blocks, a line ending in ':' starts a block
 * ("NAME (...), N bytes:"), and the leading tokens of the lines after it
 * that are lower-case hex of even length are its bytes (the first other
 * token starts the comment).  Include after testutil.h; the suite defines
 * ACTO_SOURCE_DIR (CMakeLists.txt does).
 */
#ifndef ACTO_DOCBYTES_H
#define ACTO_DOCBYTES_H

#include <stdio.h>
#include <string.h>

#include "testutil.h"

#ifndef ACTO_SOURCE_DIR
#define ACTO_SOURCE_DIR "."
#endif

typedef struct doc_frame {
  char name[32];   /* the first word of its "NAME (...), N bytes:" line */
  size_t want_len; /* N */
  uint8_t bytes[512];
  size_t len;
} doc_frame;

static inline int doc_hexdig(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads the blocks of the section of ACTORS.md whose heading line is
 * `heading` (with its newlines, "\n#### A worked example\n").  Returns
 * how many (at most max). */
static inline int doc_blocks(const char *heading, doc_frame *out, int max) {
  static char text[1 << 20];
  FILE *f = fopen(ACTO_SOURCE_DIR "/ACTORS.md", "r");
  ck_assert_msg(f != NULL, "cannot open %s/ACTORS.md", ACTO_SOURCE_DIR);
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char *p = strstr(text, heading);
  ck_assert_msg(p != NULL, "ACTORS.md has no heading %s", heading);
  p += strlen(heading);
  /* The section ends at the next heading (a line starting with '#'
   * outside a code block). */
  int nf = 0, in_code = 0;
  for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "```", 3) == 0) {
      in_code = !in_code;
      continue;
    }
    if (!in_code && line[0] == '#')
      break;
    size_t ll = strlen(line);
    if (!in_code || ll == 0)
      continue;
    if (line[ll - 1] == ':') {
      ck_assert_int_lt(nf, max);
      doc_frame *d = &out[nf++];
      memset(d, 0, sizeof *d);
      sscanf(line, "%31s", d->name);
      const char *c = strrchr(line, ',');
      ck_assert_msg(c && sscanf(c, ", %zu bytes:", &d->want_len) == 1, "bad block line: %s", line);
      continue;
    }
    ck_assert_msg(nf > 0, "bytes before the first block line: %s", line);
    doc_frame *d = &out[nf - 1];
    const char *q = line;
    for (;;) {
      while (*q == ' ')
        q++;
      size_t tl = strcspn(q, " ");
      size_t k = 0;
      while (k < tl && doc_hexdig(q[k]) >= 0)
        k++;
      if (tl == 0 || k != tl || tl % 2 != 0)
        break; /* the comment */
      for (size_t b = 0; b < tl; b += 2) {
        ck_assert_uint_lt(d->len, sizeof d->bytes);
        d->bytes[d->len++] = (uint8_t)(doc_hexdig(q[b]) << 4 | doc_hexdig(q[b + 1]));
      }
      q += tl;
    }
  }
  return nf;
}

static inline void doc_hex(const uint8_t *p, size_t n, char *out, size_t outsz) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 3 < outsz; i++)
    k += (size_t)snprintf(out + k, outsz - k, "%02x", p[i]);
  out[k] = 0;
}

/* Asserts that block d is named `name`, holds as many bytes as its line
 * says, and that they are p[0..n). */
static inline void doc_check(const doc_frame *d, const char *name, const uint8_t *p, size_t n) {
  char got[1100], want[1100];
  doc_hex(p, n, got, sizeof got);
  doc_hex(d->bytes, d->len, want, sizeof want);
  ck_assert_msg(strcmp(d->name, name) == 0, "ACTORS.md shows %s where %s is due", d->name, name);
  ck_assert_msg(d->want_len == d->len, "ACTORS.md: %s says %zu bytes but shows %zu", name,
                d->want_len, d->len);
  ck_assert_msg(n == d->len && memcmp(p, d->bytes, n) == 0,
                "ACTORS.md's %s differs from the code's:\n doc  %s\n code %s", name, want, got);
}

#endif /* ACTO_DOCBYTES_H */
