/* nodeproc.h - a program of the build started as a child of the test:
 * it dies with the test process (PR_SET_PDEATHSIG, even when Check's
 * timeout kills the test), and its first stdout line (READY ..., or the
 * fault proxy's ports) is read with a deadline.  Used by
 * test_node_procs.c and test_membership.c, whose children are
 * tools/acto_node and tools/faultproxy.  The caller kills and reaps the
 * child by its pid.
 */
#ifndef ACTO_NODEPROC_H
#define ACTO_NODEPROC_H

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "testutil.h"

/* Starts argv[0] with argv, stdout on a pipe, and reads its first line
 * (without the newline) into line[cap] within TU_WAIT_MS: line is empty
 * when the child wrote nothing (it failed, or is slow).  Returns the pid. */
static inline pid_t np_start(char *const argv[], char *line, size_t cap) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t parent = getpid();
  pid_t pid = tu_fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0;
  line[0] = 0;
  int64_t end = tu_now_ms() + TU_WAIT_MS;
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  while (len < cap - 1 && tu_now_ms() < end && !memchr(line, '\n', len)) {
    ssize_t k = read(fds[0], line + len, cap - 1 - len);
    if (k > 0) {
      len += (size_t)k;
      line[len] = 0;
    } else if (k == 0) {
      break;
    } else {
      tu_sleep_ms(5);
    }
  }
  close(fds[0]);
  line[len] = 0;
  char *nl = strchr(line, '\n');
  if (nl)
    *nl = 0;
  return pid;
}

#endif /* ACTO_NODEPROC_H */
