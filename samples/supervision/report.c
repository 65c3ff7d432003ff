/* report.c - what the modeller prints: a table per policy, the side-by-side
 * comparison of the policies, JSON, and the tree as Graphviz DOT.
 *
 * Everything printed is a function of the model and the results only (no
 * wall-clock time, no addresses), so the same seed prints the same bytes.
 */
#include <string.h>

#include "model.h"

/* ---- shared pieces ------------------------------------------------------------------ */

/* "one_for_all 3/5s backoff 100ms..5s +/-10%" or "permanent" (ASCII: the
 * tables align by bytes). */
static void settings_text(const model *m, const model_conf *conf, size_t i, char *buf, size_t n) {
  const model_node *nd = &m->nodes[i];
  const model_conf *c = &conf[i];
  size_t k = 0;
  buf[0] = '\0';
#define PUT(...)                                                 \
  do {                                                           \
    if (k < n) {                                                 \
      int w_ = snprintf(buf + k, n - k, __VA_ARGS__);            \
      k = w_ < 0 ? n : k + (size_t)w_;                           \
    }                                                            \
  } while (0)
  if (nd->kind == MODEL_SUPERVISOR) {
    char per[32];
    model_format_duration(c->period_ms, per, sizeof per);
    PUT("%s %u/%s", model_strategy_name(c->strategy), c->intensity, per);
    if (c->backoff_min_ms) {
      char lo[32], hi[32];
      model_format_duration(c->backoff_min_ms, lo, sizeof lo);
      model_format_duration(c->backoff_max_ms, hi, sizeof hi);
      if (c->backoff_min_ms == c->backoff_max_ms)
        PUT(" backoff %s", lo);
      else
        PUT(" backoff %s..%s", lo, hi);
      if (c->jitter_pct)
        PUT(" +/-%u%%", c->jitter_pct);
    }
    if (c->auto_shutdown != ACTO_AUTO_SHUTDOWN_NEVER)
      PUT(" auto_shutdown=%s", model_auto_shutdown_name(c->auto_shutdown));
    if (nd->parent >= 0 && c->restart != ACTO_PERMANENT)
      PUT(" (%s)", model_restart_name(c->restart));
  } else {
    PUT("%s", model_restart_name(c->restart));
  }
  if (nd->parent >= 0 && c->significant)
    PUT(" significant");
#undef PUT
}

static double pct(int64_t part, int64_t whole) {
  return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

static void root_text(const sim_result *r, char *buf, size_t n) {
  if (r->root_survived) {
    snprintf(buf, n, "yes");
    return;
  }
  char at[32];
  model_format_duration(r->root_down_ms, at, sizeof at);
  if (r->root_reason == ACTO_EMAXRESTARTS)
    snprintf(buf, n, "no, gave up at %s", at);
  else if (r->root_reason == ACTO_REASON_SHUTDOWN)
    snprintf(buf, n, "no, shut down at %s", at);
  else
    snprintf(buf, n, "no, stopped at %s (reason %d)", at, r->root_reason);
}

/* ---- text ------------------------------------------------------------------------------ */

static void node_label(const model *m, size_t i, char *buf, size_t n) {
  snprintf(buf, n, "%*s%s", 2 * m->nodes[i].depth, "", m->nodes[i].id);
}

static void one_table(FILE *f, const model *m, const sim_result *r) {
  const model_policy *pol = &m->policies[r->policy];
  char buf[256], root[96];
  size_t wn = 4, ws = 8;
  for (size_t i = 0; i < m->nnodes; i++) {
    node_label(m, i, buf, sizeof buf);
    if (strlen(buf) > wn)
      wn = strlen(buf);
    settings_text(m, pol->conf, i, buf, sizeof buf);
    if (strlen(buf) > ws)
      ws = strlen(buf);
  }
  root_text(r, root, sizeof root);
  fprintf(f, "policy %s: root survived: %s\n", pol->name, root);
  fprintf(f, "  %-*s  %-*s  %8s  %8s  %11s  %11s\n", (int)wn, "node", (int)ws, "settings",
          "failures", "restarts", "escalations", "unavailable");
  for (size_t i = 0; i < m->nnodes; i++) {
    const sim_node_result *nr = &r->nodes[i];
    char label[160], set[160], down[32];
    node_label(m, i, label, sizeof label);
    settings_text(m, pol->conf, i, set, sizeof set);
    model_format_duration(nr->unavailable_ms, down, sizeof down);
    fprintf(f, "  %-*s  %-*s  %8u  %8u  %11u  %10.3f%%  %s\n", (int)wn, label, (int)ws, set,
            nr->failures, nr->restarts, nr->escalations, pct(nr->unavailable_ms, r->duration_ms),
            down);
  }
}

/* A comparison cell: "3/3/0     0.222%". */
static void cell_text(const sim_node_result *x, int64_t duration_ms, char *buf, size_t n) {
  char frr[48];
  snprintf(frr, sizeof frr, "%u/%u/%u", x->failures, x->restarts, x->escalations);
  snprintf(buf, n, "%-9s %7.3f%%", frr, pct(x->unavailable_ms, duration_ms));
}

/* Prints a cell padded to w, except the last one of a line. */
static void put_cell(FILE *f, const char *s, size_t w, int last) {
  if (last)
    fprintf(f, "  %s\n", s);
  else
    fprintf(f, "  %-*s", (int)w, s);
}

static void comparison(FILE *f, const model *m, const sim_result *r, size_t nr) {
  char buf[160];
  size_t wn = strlen("root survived");
  for (size_t i = 0; i < m->nnodes; i++) {
    node_label(m, i, buf, sizeof buf);
    if (strlen(buf) > wn)
      wn = strlen(buf);
  }
  /* Each policy a column, as wide as its widest cell. */
  size_t wc[MODEL_MAX_POLICIES];
  for (size_t p = 0; p < nr; p++) {
    wc[p] = strlen(m->policies[r[p].policy].name);
    root_text(&r[p], buf, sizeof buf);
    if (strlen(buf) > wc[p])
      wc[p] = strlen(buf);
    for (size_t i = 0; i < m->nnodes; i++) {
      cell_text(&r[p].nodes[i], r[p].duration_ms, buf, sizeof buf);
      if (strlen(buf) > wc[p])
        wc[p] = strlen(buf);
    }
  }
  fprintf(f, "comparison: failures/restarts/escalations, unavailable\n");
  fprintf(f, "  %-*s", (int)wn, "node");
  for (size_t p = 0; p < nr; p++)
    put_cell(f, m->policies[r[p].policy].name, wc[p], p + 1 == nr);
  for (size_t i = 0; i < m->nnodes; i++) {
    node_label(m, i, buf, sizeof buf);
    fprintf(f, "  %-*s", (int)wn, buf);
    for (size_t p = 0; p < nr; p++) {
      cell_text(&r[p].nodes[i], r[p].duration_ms, buf, sizeof buf);
      put_cell(f, buf, wc[p], p + 1 == nr);
    }
  }
  fprintf(f, "  %-*s", (int)wn, "root survived");
  for (size_t p = 0; p < nr; p++) {
    root_text(&r[p], buf, sizeof buf);
    put_cell(f, buf, wc[p], p + 1 == nr);
  }
}

void report_text(FILE *f, const model *m, const sim_result *r, size_t nr) {
  if (nr == 0)
    return;
  char dur[32];
  model_format_duration(r[0].duration_ms, dur, sizeof dur);
  if (m->title[0])
    fprintf(f, "%s\n", m->title);
  size_t nw = 0;
  for (size_t i = 0; i < m->nnodes; i++)
    nw += m->nodes[i].kind == MODEL_WORKER;
  fprintf(f, "model %s: %zu supervisor%s, %zu worker%s; seed %llu, %s simulated\n", m->file,
          m->nnodes - nw, m->nnodes - nw == 1 ? "" : "s", nw, nw == 1 ? "" : "s",
          (unsigned long long)r[0].seed, dur);
  for (size_t p = 0; p < nr; p++) {
    fprintf(f, "\n");
    one_table(f, m, &r[p]);
  }
  if (nr > 1) {
    fprintf(f, "\n");
    comparison(f, m, r, nr);
  }
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

void report_json(FILE *f, const model *m, const sim_result *r, size_t nr) {
  fprintf(f, "{\n  \"title\": ");
  json_str(f, m->title);
  fprintf(f, ",\n  \"file\": ");
  json_str(f, m->file);
  fprintf(f, ",\n  \"seed\": %llu,\n  \"duration_ms\": %lld,\n  \"policies\": [",
          (unsigned long long)(nr ? r[0].seed : m->seed),
          (long long)(nr ? r[0].duration_ms : m->duration_ms));
  for (size_t p = 0; p < nr; p++) {
    const model_policy *pol = &m->policies[r[p].policy];
    fprintf(f, "%s\n    {\"name\": ", p ? "," : "");
    json_str(f, pol->name);
    fprintf(f, ", \"root_survived\": %s, \"root_down_ms\": ", r[p].root_survived ? "true" : "false");
    if (r[p].root_survived)
      fprintf(f, "null, \"root_reason\": null");
    else
      fprintf(f, "%lld, \"root_reason\": %d", (long long)r[p].root_down_ms, r[p].root_reason);
    fprintf(f, ", \"messages\": %llu,\n     \"nodes\": [", (unsigned long long)r[p].messages);
    for (size_t i = 0; i < m->nnodes; i++) {
      const model_node *nd = &m->nodes[i];
      const sim_node_result *x = &r[p].nodes[i];
      char set[160];
      settings_text(m, pol->conf, i, set, sizeof set);
      fprintf(f, "%s\n       {\"id\": ", i ? "," : "");
      json_str(f, nd->id);
      fprintf(f, ", \"parent\": ");
      if (nd->parent < 0)
        fprintf(f, "null");
      else
        json_str(f, m->nodes[nd->parent].id);
      fprintf(f, ", \"kind\": \"%s\", \"settings\": ",
              nd->kind == MODEL_WORKER ? "worker" : "supervisor");
      json_str(f, set);
      fprintf(f,
              ", \"failures\": %u, \"restarts\": %u, \"escalations\": %u, \"exits\": %u, "
              "\"absorbed\": %u, \"unavailable_ms\": %lld, \"unavailable_pct\": %.4f}",
              x->failures, x->restarts, x->escalations, x->exits, x->absorbed,
              (long long)x->unavailable_ms, pct(x->unavailable_ms, r[p].duration_ms));
    }
    fprintf(f, "\n     ]}");
  }
  fprintf(f, "\n  ]\n}\n");
}

/* ---- DOT ------------------------------------------------------------------------------- */

static void dot_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc('\\', f);
    fputc(*s, f);
  }
}

static void fault_text(const model_node *nd, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = '\0';
  if (nd->rate_per_ms > 0) {
    char d[32];
    model_format_duration((int64_t)(1.0 / nd->rate_per_ms + 0.5), d, sizeof d);
    k += (size_t)snprintf(buf + k, n - k, "mtbf %s", d);
  }
  if (nd->nschedule > 0 && k < n)
    k += (size_t)snprintf(buf + k, n - k, "%s%zu scheduled fault%s", k ? ", " : "", nd->nschedule,
                          nd->nschedule == 1 ? "" : "s");
  if (nd->nexits > 0 && k < n)
    k += (size_t)snprintf(buf + k, n - k, "%s%zu exit%s", k ? ", " : "", nd->nexits,
                          nd->nexits == 1 ? "" : "s");
  if (nd->startup_ms > 0 && k < n) {
    char d[32];
    model_format_duration(nd->startup_ms, d, sizeof d);
    snprintf(buf + k, n - k, "%sstartup %s", k ? ", " : "", d);
  }
}

void report_dot(FILE *f, const model *m, int policy, const sim_result *res) {
  const model_policy *pol = &m->policies[policy];
  fprintf(f, "digraph supervision {\n");
  fprintf(f, "  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=\"");
  dot_escaped(f, m->title[0] ? m->title : m->file);
  fprintf(f, "\\npolicy ");
  dot_escaped(f, pol->name);
  if (res) {
    char root[96];
    root_text(res, root, sizeof root);
    fprintf(f, " - root survived: %s", root);
  }
  fprintf(f, "\"];\n");
  fprintf(f, "  node [fontname=\"Helvetica\", fontsize=10];\n");
  fprintf(f, "  edge [fontname=\"Helvetica\", fontsize=9];\n");
  for (size_t i = 0; i < m->nnodes; i++) {
    const model_node *nd = &m->nodes[i];
    const model_conf *c = &pol->conf[i];
    const char *fill = nd->kind == MODEL_SUPERVISOR ? "#dce8f7" : "#f2f2f2";
    fprintf(f, "  \"%s\" [shape=%s, style=\"%sfilled\", ", nd->id,
            nd->kind == MODEL_SUPERVISOR ? "box" : "ellipse",
            nd->kind == MODEL_SUPERVISOR ? "rounded," : "");
    if (res) {
      const sim_node_result *x = &res->nodes[i];
      if (x->escalations > 0 || (nd->parent < 0 && !res->root_survived))
        fill = "#f4b6b6";
      else if (x->failures > 0)
        fill = "#fbe7b0";
    }
    fprintf(f, "fillcolor=\"%s\", label=\"%s", fill, nd->id);
    if (nd->kind == MODEL_SUPERVISOR) {
      char per[32];
      model_format_duration(c->period_ms, per, sizeof per);
      fprintf(f, "\\n%s\\nintensity %u in %s", model_strategy_name(c->strategy), c->intensity, per);
      if (c->backoff_min_ms) {
        char lo[32], hi[32];
        model_format_duration(c->backoff_min_ms, lo, sizeof lo);
        model_format_duration(c->backoff_max_ms, hi, sizeof hi);
        fprintf(f, "\\nbackoff %s..%s", lo, hi);
        if (c->jitter_pct)
          fprintf(f, " ±%u%%", c->jitter_pct);
      }
      if (c->auto_shutdown != ACTO_AUTO_SHUTDOWN_NEVER)
        fprintf(f, "\\nauto_shutdown %s", model_auto_shutdown_name(c->auto_shutdown));
    } else {
      char faults[160];
      fault_text(nd, faults, sizeof faults);
      if (faults[0])
        fprintf(f, "\\n%s", faults);
    }
    if (res) {
      const sim_node_result *x = &res->nodes[i];
      fprintf(f, "\\nF %u  R %u  E %u\\nunavailable %.3f%%", x->failures, x->restarts,
              x->escalations, pct(x->unavailable_ms, res->duration_ms));
    }
    fprintf(f, "\"];\n");
  }
  for (size_t i = 1; i < m->nnodes; i++) {
    const model_node *nd = &m->nodes[i];
    const model_conf *c = &pol->conf[i];
    fprintf(f, "  \"%s\" -> \"%s\" [label=\"%s%s\"%s];\n", m->nodes[nd->parent].id, nd->id,
            model_restart_name(c->restart), c->significant ? "\\nsignificant" : "",
            c->restart == ACTO_PERMANENT ? "" : ", style=dashed");
  }
  fprintf(f, "}\n");
}
