/* main.c - the command line of the supervision-policy modeller
 * (ACTORS.md, "The supervision-policy modeller").
 *
 *   supervision [options] MODEL
 *
 * reads a model (model.c documents the format), runs each of its policies
 * on real acto supervisors in deterministic mode (sim.c) and prints a
 * table per policy and, with two or more, a comparison (report.c).
 *
 * Exit status: 0 when every run completed (whether or not the root
 * survived), 1 when a run or an output file failed, 2 for a bad command
 * line or a bad model (the message names the file and line).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: supervision [options] MODEL\n"
          "  --seed N          the seed (default: the model's)\n"
          "  --duration DUR    the simulated time (default: the model's, e.g. 24h)\n"
          "  --policy NAME     run this policy (repeatable; default: all of them)\n"
          "  --json            print JSON instead of tables\n"
          "  --trace           print every supervisor event of each run first\n"
          "  --dot FILE        write the tree of the first policy run as Graphviz DOT\n"
          "                    with its results ('-': standard output)\n"
          "  --svg FILE        render that tree as SVG with `dot` (skipped, with a\n"
          "                    message, when dot is not on PATH)\n"
          "  --check           parse the model and stop (with --dot: the tree alone)\n"
          "  -h, --help        this text\n");
}

/* Is `prog` an executable in one of PATH's directories? */
static int on_path(const char *prog) {
  const char *path = getenv("PATH");
  if (!path || !*path)
    return 0;
  while (*path) {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);
    char full[4096];
    if (len > 0 && len + strlen(prog) + 2 < sizeof full) {
      memcpy(full, path, len);
      full[len] = '/';
      strcpy(full + len + 1, prog);
      if (access(full, X_OK) == 0)
        return 1;
    }
    if (!colon)
      break;
    path = colon + 1;
  }
  return 0;
}

/* Runs dot -Tsvg -o svg dotfile; 0 on success. */
static int run_dot(const char *dotfile, const char *svg) {
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "supervision: fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    execlp("dot", "dot", "-Tsvg", "-o", svg, dotfile, (char *)NULL);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "supervision: waitpid: %s\n", strerror(errno));
      return -1;
    }
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "supervision: dot failed (status %d)\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return -1;
  }
  return 0;
}

static int write_dot(const char *path, const model *m, int policy, const sim_result *res) {
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (!f) {
    fprintf(stderr, "supervision: %s: %s\n", path, strerror(errno));
    return -1;
  }
  report_dot(f, m, policy, res);
  int bad = ferror(f);
  if (f != stdout && fclose(f) != 0)
    bad = 1;
  if (bad) {
    fprintf(stderr, "supervision: %s: write error\n", path);
    return -1;
  }
  return 0;
}

static int write_svg(const char *svg, const char *dotpath, const model *m, int policy,
                     const sim_result *res) {
  if (!on_path("dot")) {
    fprintf(stderr, "supervision: dot (Graphviz) is not on PATH; no SVG written\n");
    return 0;
  }
  if (dotpath && strcmp(dotpath, "-") != 0)
    return run_dot(dotpath, svg);
  char tmp[] = "/tmp/supervision-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, "supervision: mkstemp: %s\n", strerror(errno));
    return -1;
  }
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  report_dot(f, m, policy, res);
  int bad = ferror(f) | (fclose(f) != 0);
  int rc = bad ? -1 : run_dot(tmp, svg);
  unlink(tmp);
  return rc;
}

int main(int argc, char **argv) {
  const char *file = NULL, *dot = NULL, *svg = NULL, *seed_arg = NULL, *dur_arg = NULL;
  const char *policies[MODEL_MAX_POLICIES];
  size_t npol = 0;
  int json = 0, trace = 0, check = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (strcmp(a, "--trace") == 0) {
      trace = 1;
    } else if (strcmp(a, "--check") == 0) {
      check = 1;
    } else if (more && strcmp(a, "--seed") == 0) {
      seed_arg = argv[++i];
    } else if (more && strcmp(a, "--duration") == 0) {
      dur_arg = argv[++i];
    } else if (more && strcmp(a, "--dot") == 0) {
      dot = argv[++i];
    } else if (more && strcmp(a, "--svg") == 0) {
      svg = argv[++i];
    } else if (more && strcmp(a, "--policy") == 0) {
      if (npol == MODEL_MAX_POLICIES) {
        fprintf(stderr, "supervision: at most %d --policy options\n", MODEL_MAX_POLICIES);
        return 2;
      }
      policies[npol++] = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "supervision: unknown option or missing value: %s\n", a);
      usage(stderr);
      return 2;
    } else if (file) {
      fprintf(stderr, "supervision: one model at a time (%s, %s)\n", file, a);
      return 2;
    } else {
      file = a;
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  model m;
  char err[MODEL_ERR_MAX];
  if (model_load(file, &m, err, sizeof err) != 0) {
    fprintf(stderr, "supervision: %s\n", err);
    return 2;
  }
  uint64_t seed = m.seed;
  int64_t duration = m.duration_ms;
  int status = 0;
  if (seed_arg) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(seed_arg, &end, 10);
    if (errno || *end || !*seed_arg || seed_arg[0] == '-') {
      fprintf(stderr, "supervision: --seed %s: expected a whole number\n", seed_arg);
      status = 2;
    }
    seed = v;
  }
  if (!status && dur_arg &&
      (model_parse_duration(dur_arg, &duration) != 0 || duration <= 0 ||
       duration > MODEL_MAX_DURATION_MS)) {
    fprintf(stderr, "supervision: --duration %s: expected a positive duration up to 366d\n",
            dur_arg);
    status = 2;
  }
  int run[MODEL_MAX_POLICIES];
  size_t nrun = 0;
  for (size_t i = 0; !status && i < npol; i++) {
    int p = model_find_policy(&m, policies[i]);
    if (p < 0) {
      fprintf(stderr, "supervision: %s has no policy '%s' (it has:", file, policies[i]);
      for (size_t k = 0; k < m.npolicies; k++)
        fprintf(stderr, " %s", m.policies[k].name);
      fprintf(stderr, ")\n");
      status = 2;
    }
    run[nrun++] = p;
  }
  if (!status && npol == 0)
    for (size_t k = 0; k < m.npolicies; k++)
      run[nrun++] = (int)k;
  if (status) {
    model_free(&m);
    return status;
  }
  if (check) {
    if (dot && write_dot(dot, &m, run[0], NULL) != 0)
      status = 1;
    if (!status && svg && write_svg(svg, dot, &m, run[0], NULL) != 0)
      status = 1;
    if (!status)
      fprintf(stderr, "supervision: %s: ok (%zu nodes, %zu polic%s)\n", file, m.nnodes,
              m.npolicies, m.npolicies == 1 ? "y" : "ies");
    model_free(&m);
    return status;
  }
  sim_result res[MODEL_MAX_POLICIES];
  size_t nres = 0;
  for (size_t i = 0; i < nrun; i++) {
    if (trace)
      printf("trace of policy %s (seed %llu):\n", m.policies[run[i]].name,
             (unsigned long long)seed);
    if (sim_run(&m, run[i], seed, duration, trace ? stdout : NULL, &res[nres], err, sizeof err) !=
        0) {
      fprintf(stderr, "supervision: policy %s: %s\n", m.policies[run[i]].name, err);
      status = 1;
      break;
    }
    nres++;
    if (trace)
      printf("\n");
  }
  if (!status) {
    if (json)
      report_json(stdout, &m, res, nres);
    else
      report_text(stdout, &m, res, nres);
    if (dot && write_dot(dot, &m, res[0].policy, &res[0]) != 0)
      status = 1;
    if (!status && svg && write_svg(svg, dot, &m, res[0].policy, &res[0]) != 0)
      status = 1;
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "supervision: write error on standard output\n");
    status = 1;
  }
  for (size_t i = 0; i < nres; i++)
    sim_result_free(&res[i]);
  model_free(&m);
  return status;
}
