/*
 * metrics.h — one definition of every Prometheus metric twkit exposes, and
 * the one writer of the two exposition formats (text 0.0.4 and
 * OpenMetrics 1.0.0).  `twkit stat --prom` writes a page for node_exporter's
 * textfile collector (view METRIC_VIEW_STAT); `twkit export` serves one over
 * HTTP (METRIC_VIEW_EXPORT).
 *
 * Each metric family is a row of metric_defs[] (metrics_emit.c): its name,
 * type, unit, help line, label names, the views it belongs to, and the
 * function that emits its samples from a page — a set of finished reports,
 * one per network namespace.  Renderers never print a family by hand:
 * metrics_render walks the table, so the pages, the metric reference
 * (metrics_list: `twkit export --list-metrics`, `mkdoc metrics`) and
 * docs/metrics.md, which tests check against it both ways, come from the
 * same rows.
 *
 * Rules every definition keeps:
 *   - names are twkit_*, their unit last (_sockets, _ports, _bytes,
 *     _seconds, _ratio); a family is a gauge unless it is a kernel counter
 *     (a counter, "_total" on its samples) or the exporter's build info;
 *   - every series carries netns="..." but the exporter's own figures;
 *   - within one family, the series of one namespace never overlap: the
 *     values of a label are disjoint parts (sum() adds up to a whole and
 *     never counts a socket twice), and a number of another kind — a bound,
 *     a total, a ratio — is a family of its own;
 *   - one label vocabulary: states as node_exporter writes them
 *     (state="time_wait", "established", "syn_sent"...: metrics_state),
 *     sides "client" / "server", addresses as inet_ntop writes them;
 *   - a value twkit could not read (a sysctl or counter the kernel lacks, a
 *     forecast without the rate engine) is no series at all, never -1.
 *
 * Cardinality: per namespace, the destinations ranked worst first get their
 * own series — the first `top` (and, with keep_high, every one above
 * TW_PRESSURE_HIGH as well: stat's rule) — and the rest fold into one
 * dst="other" series (sums for counts and rates, the worst value for the
 * pressure ratios and the time to exhaustion, so an alert on it misses
 * none); twkit_destinations_folded says how many were folded.  Nothing is
 * remembered between pages: a destination that leaves the top has no
 * series on the next page (no stale series).
 */
#ifndef TWKIT_METRICS_H
#define TWKIT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <twkit/twkit.h>

enum metric_type { METRIC_GAUGE, METRIC_COUNTER, METRIC_INFO };
enum metric_format { METRIC_TEXT, METRIC_OPENMETRICS };

/* Views: which output includes a family. */
enum { METRIC_VIEW_STAT = 1u << 0, METRIC_VIEW_EXPORT = 1u << 1 };

/* Content types of the two formats. */
#define METRIC_TEXT_CTYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRIC_OM_CTYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* What the rate-and-forecast engine says of one destination. */
struct metrics_dest_rate {
    bool have;                /* false: no figure (no engine, or not yet) */
    double new_per_s;         /* new TIME_WAIT per second */
    double exhaustion_s;      /* seconds to exhaustion: 0 now, +Inf none within the horizon */
    double sustainable_per_s; /* new connections per second it can take forever */
};

/* What `twkit export --trace` saw of one namespace since it started:
 * cumulative counts per process name, the processes in the order they were
 * first seen (so a process's rank, and the cap below, never change). */
struct metrics_trace_proc {
    const char *comm;                       /* the kernel's process name */
    uint64_t created;                       /* TIME_WAIT sockets it made (closed first) */
};

struct metrics_trace_err {
    size_t proc;                            /* index into procs */
    const char *err;                        /* "EADDRNOTAVAIL" */
    uint64_t n;                             /* failed connect() calls, at once or later */
};

struct metrics_trace {
    const struct metrics_trace_proc *procs; /* first seen first */
    size_t n_procs;
    const struct metrics_trace_err *errs;
    size_t n_errs;
};

/*
 * What the page shows of a live table (export --source live).  rows are
 * sorted by destination (laddr, raddr, rport, server) then state, as
 * tw_live_read gives them; per namespace the first `top` destinations by
 * sockets (all states) get their own series, the rest fold into dst="other".
 */
struct metrics_live {
    struct tw_live_row *rows, *drift; /* counts; rows that differed at the last reconciliation */
    size_t n, n_drift;
    bool reconciled;                  /* a reconciliation has run */
    struct tw_live_stats st;
};

/* One namespace of a page. */
struct metrics_ns {
    const char *label;                      /* the netns label value */
    const struct tw_report *r;              /* finished report */
    const struct tw_counters *counters;     /* NULL: counters not read */
    const struct metrics_dest_rate *rates;  /* r->n_pressure entries, or NULL */
    const struct metrics_trace *trace;      /* export --trace, or NULL */
    const struct metrics_live *live;        /* --source live: r is NULL, these instead */
    const struct tw_kernel *kernel;         /* sysctls and sockstat; NULL: r's (or none) */
    const char *source;                     /* what served it ("live", "netlink"...), or NULL */
};

/* The exporter's own figures (view EXPORT). */
struct metrics_self {
    double scrape_seconds;    /* the collection this page comes from took */
    double timestamp;         /* when it ended, seconds since the epoch */
    bool success;             /* every namespace was collected */
    uint64_t dumps;           /* collections done since start (this one included) */
    uint64_t errors;          /* collections that failed in part or whole */
};

struct metrics_page {
    unsigned view;                   /* one METRIC_VIEW_* */
    const struct metrics_ns *ns;
    size_t n_ns;
    unsigned top;                    /* destinations with their own series, per namespace */
    bool keep_high;                  /* and every one above TW_PRESSURE_HIGH too */
    const struct metrics_self *self; /* NULL: no exporter figures */
};

struct metrics_writer;

struct metric_def {
    const char *name;   /* family name; counters without "_total", info without "_info" */
    enum metric_type type;
    const char *unit;   /* OpenMetrics unit (a suffix of name), NULL: none */
    const char *labels; /* label names in order, comma-separated ("" none) */
    const char *help;
    unsigned views;
    bool engine;        /* needs the rate engine (absent without it) */
    int arg;            /* for emit (a counter id) */
    void (*emit)(struct metrics_writer *w, const struct metric_def *d,
                 const struct metrics_page *p);
};

extern const struct metric_def metric_defs[];
extern const size_t metric_ndefs;

/* Render a page in fmt to f.  Returns the number of samples written. */
size_t metrics_render(FILE *f, enum metric_format fmt, const struct metrics_page *p);

/*
 * The metric reference of a view, one family per line:
 *   NAME<TAB>TYPE<TAB>LABELS<TAB>HELP
 * with NAME as it appears on a text-format page (counters with _total) and
 * LABELS every label name, netns included.
 */
void metrics_list(FILE *f, unsigned view);

/* A family's views as the reference writes them: "stat, export", "stat", "export". */
const char *metrics_views(const struct metric_def *d);

/* A state's label value: "time_wait", "syn_sent" (node_exporter's words). */
const char *metrics_state(int state);

/* The sample name of a family on a page ("…_total" for counters). */
const char *metrics_sample_name(const struct metric_def *d, char *buf, size_t len);

/*
 * Accept-header negotiation: OpenMetrics when the client ranks
 * application/openmetrics-text (version 1.0.0 or 0.0.1, or none given)
 * above text/plain; text 0.0.4 otherwise (also for NULL or garbage).
 */
enum metric_format metrics_negotiate(const char *accept);

/* ---- for the emit functions (metrics_emit.c, metrics_trace.c, metrics_live.c) ---- */

/*
 * The cardinality cap (see the top of this file): of n rows ranked first
 * to last, of which the first n_high are above the alert threshold, how
 * many get their own series on page p; the rest fold into one "other"
 * series.  The destinations and the processes of export --trace share it.
 */
size_t metrics_own_rows(const struct metrics_page *p, size_t n, size_t n_high);

struct metrics_label {
    const char *k;
    const char *v;
};

/* One sample; labels after netns (ns NULL: no netns label). */
void mw_u64(struct metrics_writer *w, const struct metric_def *d, const struct metrics_ns *ns,
            const struct metrics_label *l, size_t nl, uint64_t v);
void mw_f64(struct metrics_writer *w, const struct metric_def *d, const struct metrics_ns *ns,
            const struct metrics_label *l, size_t nl, double v);

/* The families of export --trace (metrics_trace.c); arg: enum below. */
enum { MT_CREATED, MT_CONNECT_ERRORS, MT_FOLDED };
void metrics_emit_trace(struct metrics_writer *w, const struct metric_def *d,
                        const struct metrics_page *p);

/* The families of export --source live (metrics_live.c); arg: enum below. */
enum { L_SOCKETS, L_DRIFT, L_DRIFT_ROWS, L_LOST, L_CENSUS, L_SEEDS, L_RECON };
void metrics_emit_live(struct metrics_writer *w, const struct metric_def *d,
                       const struct metrics_page *p);

#endif /* TWKIT_METRICS_H */
