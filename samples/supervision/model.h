/* model.h - the supervision-policy modeller: a model (a supervision tree,
 * a fault model and the policies to compare), its parser, the simulation
 * that runs it on real acto supervisors in deterministic mode, and the
 * reports (tables, JSON, Graphviz DOT).
 *
 * The pieces, one file each:
 * - model.c: the text format (documented at the top of model.c and in
 *   ACTORS.md, "The supervision-policy modeller") and small helpers for
 *   durations.  Knows nothing about acto's runtime.
 * - sim.c: one run of one policy: builds acto_sup_spec trees from the
 *   model, starts them in a deterministic acto system, injects the faults
 *   as timer messages and measures through the supervisors' on_event hook.
 * - report.c: the per-policy tables, the side-by-side comparison, JSON
 *   and DOT.
 * - main.c: the command line.
 */
#ifndef SUPERVISION_MODEL_H
#define SUPERVISION_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <acto/acto.h>

#define MODEL_ID_MAX 64        /* node and policy names, with the NUL */
#define MODEL_TITLE_MAX 200
#define MODEL_LINE_MAX 4096    /* longer lines are an error */
#define MODEL_MAX_NODES 1000
#define MODEL_MAX_DEPTH 16     /* supervisors nested at most this deep */
#define MODEL_MAX_POLICIES 16
#define MODEL_MAX_EVENTS 1000000 /* faults (or exits) per child and run */
#define MODEL_MAX_DURATION_MS (366LL * 24 * 3600 * 1000)
#define MODEL_ERR_MAX 512

typedef enum model_kind { MODEL_SUPERVISOR = 0, MODEL_WORKER = 1 } model_kind;

/* What a policy may change, per node.  Supervisor fields are ignored on
 * workers; restart and significant describe the node as a child of its
 * parent (ignored on the root). */
typedef struct model_conf {
  acto_strategy strategy;
  uint32_t intensity;
  uint32_t period_ms;
  uint32_t backoff_min_ms;
  uint32_t backoff_max_ms;
  uint32_t jitter_pct;
  acto_auto_shutdown auto_shutdown;
  acto_restart restart;
  int significant;
} model_conf;

/* A node of the tree.  nodes[0] is the root; nodes are stored in the
 * order of the file, which is a pre-order walk of the tree, so a node's
 * children follow it and are in start order. */
typedef struct model_node {
  char id[MODEL_ID_MAX];
  int line;
  model_kind kind;
  int parent;   /* index, -1 for the root */
  int depth;    /* 0 for the root */
  int *kids;    /* indexes, in start order */
  size_t nkids;
  /* The fault model (workers only; policies cannot change it). */
  double rate_per_ms;   /* Poisson fault arrivals; 0: none */
  int64_t *schedule;    /* explicit fault times (ms from the start), sorted */
  size_t nschedule;
  int64_t *exits;       /* times of normal stops, sorted */
  size_t nexits;
  int64_t startup_ms;   /* after each start, unavailable this long */
} model_node;

typedef struct model_policy {
  char name[MODEL_ID_MAX];
  int line;          /* 0: the implicit policy of a file without any */
  model_conf *conf;  /* one per node */
} model_policy;

typedef struct model {
  char title[MODEL_TITLE_MAX + 1];
  char file[256];
  int64_t duration_ms; /* default 24h */
  uint64_t seed;       /* default 1 */
  model_node *nodes;
  size_t nnodes;
  model_conf *base;    /* the tree as written */
  model_policy *policies; /* at least one after a successful parse */
  size_t npolicies;
} model;

/* Parses a model from text (len bytes; NULs are an error).  name is used
 * in error messages and reports.  On error returns -1 and writes
 * "name:LINE: message" into err; *m is then empty.  text is borrowed
 * until the call returns; the model owns its memory (model_free). */
int model_parse(const char *text, size_t len, const char *name, model *m, char *err, size_t errlen);

/* Reads and parses a file (model_parse). */
int model_load(const char *path, model *m, char *err, size_t errlen);

void model_free(model *m);

/* The index of a node or policy by name, -1 if none. */
int model_find_node(const model *m, const char *id);
int model_find_policy(const model *m, const char *name);

/* Faults a worker would see at most in duration_ms (for the limit). */
double model_expected_faults(const model_node *n, int64_t duration_ms);

/* "1h30m", "250ms", "2.5s" -> milliseconds.  0 on success, -1 if not a
 * duration (units: ms, s, m, min, h, d; a bare 0 needs none). */
int model_parse_duration(const char *s, int64_t *out);

/* A compact duration that model_parse_duration reads back: "0ms",
 * "350ms", "12.3s", "1.234s", "27s"; from a minute on whole seconds with
 * the non-zero parts only: "4m5s", "3h12m", "1d2h". */
void model_format_duration(int64_t ms, char *buf, size_t n);

/* Names used in the file format and the reports. */
const char *model_strategy_name(acto_strategy s);
const char *model_restart_name(acto_restart r);
const char *model_auto_shutdown_name(acto_auto_shutdown a);

/* ---- sim.c ------------------------------------------------------------------ */

/* Injected faults fail a worker with this reason. */
#define SIM_FAULT_REASON (-1000)

typedef struct sim_node_result {
  uint32_t failures;    /* worker: crashes; supervisor: times it gave up */
  uint32_t restarts;    /* starts after the first (in place or fresh) */
  uint32_t escalations; /* its failures its supervisor gave up on */
  uint32_t exits;       /* normal stops (exits=) */
  uint32_t absorbed;    /* faults that arrived while it was not running */
  int64_t unavailable_ms; /* worker: not running or starting; supervisor:
                             some worker below it unavailable */
} sim_node_result;

typedef struct sim_result {
  int policy;            /* index into model.policies */
  uint64_t seed;
  int64_t duration_ms;
  int root_survived;     /* still running at the end */
  int64_t root_down_ms;  /* when it stopped (if it did) */
  int root_reason;       /* why (ACTO_EMAXRESTARTS: it gave up) */
  uint64_t messages;     /* messages the run handled */
  sim_node_result *nodes; /* one per model node */
} sim_result;

/* Runs policy `policy` of the model for duration_ms of virtual time with
 * the given seed, on a deterministic acto system of its own.  trace, if
 * not NULL, gets one line per supervisor event.  Returns 0, or -1 with a
 * message in err.  The same arguments always give the same result. */
int sim_run(const model *m, int policy, uint64_t seed, int64_t duration_ms, FILE *trace,
            sim_result *out, char *err, size_t errlen);

void sim_result_free(sim_result *r);

/* The fault times of a worker in [0, duration_ms): its schedule merged with
 * Poisson arrivals drawn from a generator seeded by (seed, node id), so
 * every policy of a model sees the same faults.  *out is malloc'ed (NULL
 * when there are none).  Returns the count, or -1 when out of memory. */
long sim_fault_times(const model_node *n, uint64_t seed, int64_t duration_ms, int64_t **out);

/* ---- report.c --------------------------------------------------------------- */

/* One table per result and, with two or more, the comparison. */
void report_text(FILE *f, const model *m, const sim_result *r, size_t nr);
void report_json(FILE *f, const model *m, const sim_result *r, size_t nr);

/* The tree of one policy as Graphviz DOT; with res, each node also shows
 * the results of that run. */
void report_dot(FILE *f, const model *m, int policy, const sim_result *res);

#endif /* SUPERVISION_MODEL_H */
