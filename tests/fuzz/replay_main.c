/* replay_main.c - a main() for any libFuzzer target: feeds it every file of
 * the directories (and every file) named on the command line, so that the
 * checked-in corpus runs as an ordinary test in every build, sanitizers
 * included, without libFuzzer.
 *
 *   replay_<name> DIR|FILE...
 *
 * Files of a directory run in name order; subdirectories and other
 * non-regular entries are skipped.  Each input is copied into a heap block
 * of exactly its size, so AddressSanitizer catches a read past its end.
 * Exit status: 0 when every input ran (an empty directory is fine), 1 when
 * a path is missing or unreadable (a missing corpus is an error, not an
 * empty one), 2 on usage errors.  A crash in the target is the test
 * failing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file; returns 0, or -1 after printing why it could not be read. */
static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    fclose(f);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  uint8_t *data = malloc(size ? size : 1);
  if (data == NULL || fread(data, 1, size, f) != size) {
    fprintf(stderr, "replay: %s: short read\n", path);
    free(data);
    fclose(f);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

static int visible_entry(const struct dirent *d) { return d->d_name[0] != '.'; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
    return 2;
  }
  int status = 0;
  size_t inputs = 0;
  for (int a = 1; a < argc; a++) {
    struct stat st;
    if (stat(argv[a], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
      status = 1;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (run_file(argv[a]) == 0)
        inputs++;
      else
        status = 1;
      continue;
    }
    struct dirent **names;
    int n = scandir(argv[a], &names, visible_entry, alphasort);
    if (n < 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
      status = 1;
      continue;
    }
    for (int i = 0; i < n; i++) {
      size_t plen = strlen(argv[a]) + strlen(names[i]->d_name) + 2;
      char *path = malloc(plen);
      if (path == NULL) {
        status = 1;
      } else {
        snprintf(path, plen, "%s/%s", argv[a], names[i]->d_name);
        struct stat fst;
        if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode)) {
          if (run_file(path) == 0)
            inputs++;
          else
            status = 1;
        }
        free(path);
      }
      free(names[i]);
    }
    free(names);
  }
  printf("replay: %zu inputs ran\n", inputs);
  return status;
}
