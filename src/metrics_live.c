/*
 * metrics_live.c — the samples of the live table's families (`twkit
 * export --source live`; their rows are in metrics_emit.c's table): the
 * table's counts per destination and state, its drift at the last
 * reconciliation, and its own counters.
 *
 * Cardinality: the cap of the report's destinations (metrics_own_rows,
 * --top) holds here too, ranked by sockets instead of pressure (a table has
 * counts, not ports): per namespace the first K destinations — a
 * destination is (src, dst, dport, side), with all its states — get their
 * own series, and the rest fold into one dst="other" destination (src,
 * dport and side empty, as the report's "other"), summed per state.  So a
 * page has at most (K + 1) x states series of twkit_live_sockets however
 * many destinations the table holds.  The drift rows are few (a table that
 * drifts is seeded again) and are not capped.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"

#define NL(a) (sizeof(a) / sizeof((a)[0]))

/* One destination of a live table: its rows [i, i + n), sockets in all states. */
struct ldest {
    size_t i, n;
    int64_t sockets;
};

static int ldest_cmp(const void *x, const void *y)
{
    const struct ldest *a = x, *b = y;
    if (a->sockets != b->sockets)
        return a->sockets > b->sockets ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i; /* ties: the table's order */
}

/* The destinations of rows (sorted by destination), most sockets first; *out malloc'd. */
static size_t live_dests(const struct tw_live_row *rows, size_t n, struct ldest **out)
{
    struct ldest *g = malloc((n ? n : 1) * sizeof(*g));
    size_t ng = 0;
    *out = g;
    if (!g)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!ng || !tw_live_row_same_dest(&rows[g[ng - 1].i], &rows[i]))
            g[ng++] = (struct ldest){.i = i};
        g[ng - 1].n++;
        g[ng - 1].sockets += rows[i].n;
    }
    qsort(g, ng, sizeof(*g), ldest_cmp);
    return ng;
}

/* A row's sample; r NULL: the folded destinations' (dst="other", side ""). */
static void live_sample(struct metrics_writer *w, const struct metric_def *d,
                        const struct metrics_ns *ns, const struct tw_live_row *r, int state,
                        double v)
{
    char a[64] = "", b[64] = "other", port[8] = "";
    const char *side = "";
    if (r) {
        tw_addr_str(&r->laddr, a, sizeof(a));
        tw_addr_str(&r->raddr, b, sizeof(b));
        if (!r->server) /* a server-side row is every port of one client: no dport */
            snprintf(port, sizeof(port), "%u", r->rport);
        side = r->state == TW_LISTEN ? "listen" : r->server ? "server" : "client";
    }
    struct metrics_label l[] = {{"src", a}, {"dst", b}, {"dport", port}, {"side", side},
                                {"state", metrics_state(state)}};
    mw_f64(w, d, ns, l, NL(l), v);
}

/* twkit_live_sockets: the first --top destinations, then the rest summed per state. */
static void live_sockets(struct metrics_writer *w, const struct metric_def *d,
                         const struct metrics_page *p, const struct metrics_ns *ns)
{
    const struct metrics_live *lv = ns->live;
    struct ldest *g;
    size_t ng = live_dests(lv->rows, lv->n, &g);
    if (!g) { /* no memory to rank them: every row, as the table gives them */
        for (size_t i = 0; i < lv->n; i++)
            live_sample(w, d, ns, &lv->rows[i], lv->rows[i].state, (double)lv->rows[i].n);
        return;
    }
    size_t own = metrics_own_rows(p, ng, 0);
    int64_t other[TW_STATE_MAX] = {0};
    for (size_t k = 0; k < ng; k++)
        for (size_t i = g[k].i; i < g[k].i + g[k].n; i++) {
            const struct tw_live_row *r = &lv->rows[i];
            if (k < own)
                live_sample(w, d, ns, r, r->state, (double)r->n);
            else if (r->state < TW_STATE_MAX)
                other[r->state] += r->n;
        }
    for (int st = 0; st < TW_STATE_MAX; st++)
        if (other[st])
            live_sample(w, d, ns, NULL, st, (double)other[st]);
    free(g);
}

void metrics_emit_live(struct metrics_writer *w, const struct metric_def *d,
                       const struct metrics_page *p)
{
    for (const struct metrics_ns *ns = p->ns; ns < p->ns + p->n_ns; ns++) {
        const struct metrics_live *lv = ns->live;
        if (!lv)
            continue;
        switch (d->arg) {
        case L_SOCKETS: live_sockets(w, d, p, ns); break;
        case L_DRIFT:
            for (size_t i = 0; i < lv->n_drift; i++)
                live_sample(w, d, ns, &lv->drift[i], lv->drift[i].state,
                            (double)(lv->drift[i].n - lv->drift[i].truth));
            break;
        case L_DRIFT_ROWS:
            if (lv->reconciled)
                mw_u64(w, d, ns, NULL, 0, lv->n_drift);
            break;
        case L_LOST: mw_u64(w, d, ns, NULL, 0, lv->st.lost_events); break;
        case L_CENSUS: mw_u64(w, d, ns, NULL, 0, lv->st.census_misses); break;
        case L_SEEDS: mw_u64(w, d, ns, NULL, 0, lv->st.seeds); break;
        case L_RECON: mw_u64(w, d, ns, NULL, 0, lv->st.reconciliations); break;
        }
    }
}

