/*
 * metrics.h — the Prometheus metrics of a TIME_WAIT report, defined once.
 * `twkit stat --prom` writes them to a file (node_exporter's textfile
 * collector); `twkit export` serves the same definitions over HTTP.
 * docs/metrics.md documents each one; tests check the two against each
 * other (`mkdoc metrics` lists this table) and run `promtool check metrics`.
 *
 * Rules every definition keeps:
 *   - every series is a gauge named twkit_*, its unit last (_sockets,
 *     _ports, _bytes, _seconds, _ratio), and carries netns="...";
 *   - within one metric, the series of one namespace never overlap: the
 *     values of a label are disjoint parts (sum() adds up to a whole and
 *     never counts a socket twice), and a number of another kind — a bound,
 *     a total, a ratio — is a metric of its own;
 *   - one label vocabulary: states as node_exporter writes them
 *     (state="time_wait", "established", "syn_sent"...), sides "client" /
 *     "server", addresses as inet_ntop writes them;
 *   - a value twkit could not read (a sysctl the kernel lacks) is no
 *     series at all, never -1.
 */
#ifndef TWKIT_METRICS_H
#define TWKIT_METRICS_H

#include <stdio.h>

#include "stat.h"

struct metric_def {
    const char *name;   /* twkit_... */
    const char *type;   /* "gauge" */
    const char *labels; /* labels besides netns, comma-separated ("" for none) */
    const char *help;   /* the HELP line */
    /* Write this metric's samples of one namespace (no HELP/TYPE lines). */
    void (*samples)(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top);
};

extern const struct metric_def metric_defs[]; /* in output order */
extern const size_t metric_defs_n;

/*
 * Write every metric of the namespaces' reports in the text exposition
 * format 0.0.4: for each metric its HELP and TYPE lines, then its samples
 * for each namespace.  Destinations: every one above TW_PRESSURE_HIGH, and
 * at least top.
 */
void metrics_write(FILE *f, const struct stat_ns *list, size_t n, unsigned top);

/* A state's label value: "time_wait", "syn_sent" (node_exporter's words). */
const char *metrics_state(int state);

#endif /* TWKIT_METRICS_H */
