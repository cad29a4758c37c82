/*
 * metrics_trace.c — the samples of `twkit export --trace`'s families
 * (their rows are in metrics_emit.c's table): TIME_WAIT sockets made and
 * failed connect() calls per process name, counted by the BPF programs of
 * `twkit trace` since the exporter started.
 *
 * Cardinality: the same cap as the destinations' (metrics_own_rows, with
 * --top): per namespace the first K process names get their own series and
 * the rest fold into comm="other".  The ranking differs for a reason: these
 * are counters, so a process keeps its rank for the exporter's life (the
 * order in which the processes were first seen) instead of being ranked
 * anew on each page, which would move counts between series and make
 * Prometheus see counter resets.  Every series therefore only grows.
 */
#include <string.h>

#include "metrics.h"

static void created(struct metrics_writer *w, const struct metric_def *d,
                    const struct metrics_page *p, const struct metrics_ns *ns)
{
    const struct metrics_trace *t = ns->trace;
    size_t own = metrics_own_rows(p, t->n_procs, 0);
    uint64_t other = 0;
    for (size_t i = 0; i < t->n_procs; i++) {
        if (i < own)
            mw_u64(w, d, ns, (struct metrics_label[]){{"comm", t->procs[i].comm}}, 1,
                   t->procs[i].created);
        else
            other += t->procs[i].created;
    }
    if (t->n_procs > own)
        mw_u64(w, d, ns, (struct metrics_label[]){{"comm", "other"}}, 1, other);
}

static void connect_errors(struct metrics_writer *w, const struct metric_def *d,
                           const struct metrics_page *p, const struct metrics_ns *ns)
{
    const struct metrics_trace *t = ns->trace;
    size_t own = metrics_own_rows(p, t->n_procs, 0);
    for (size_t i = 0; i < t->n_errs; i++) {
        const struct metrics_trace_err *e = &t->errs[i];
        if (e->proc < own) {
            struct metrics_label l[] = {{"comm", t->procs[e->proc].comm}, {"errno", e->err}};
            mw_u64(w, d, ns, l, 2, e->n);
            continue;
        }
        /* folded: one "other" series per errno, written at its first row */
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = !(t->errs[j].proc >= own && !strcmp(t->errs[j].err, e->err));
        if (!first)
            continue;
        uint64_t sum = 0;
        for (size_t j = i; j < t->n_errs; j++)
            if (t->errs[j].proc >= own && !strcmp(t->errs[j].err, e->err))
                sum += t->errs[j].n;
        struct metrics_label l[] = {{"comm", "other"}, {"errno", e->err}};
        mw_u64(w, d, ns, l, 2, sum);
    }
}

void metrics_emit_trace(struct metrics_writer *w, const struct metric_def *d,
                        const struct metrics_page *p)
{
    for (const struct metrics_ns *ns = p->ns; ns < p->ns + p->n_ns; ns++) {
        if (!ns->trace)
            continue;
        switch (d->arg) {
        case MT_CREATED:
            created(w, d, p, ns);
            break;
        case MT_CONNECT_ERRORS:
            connect_errors(w, d, p, ns);
            break;
        case MT_FOLDED: {
            size_t own = metrics_own_rows(p, ns->trace->n_procs, 0);
            mw_u64(w, d, ns, NULL, 0, ns->trace->n_procs - own);
            break;
        }
        }
    }
}
