/*
 * metrics_emit.c — the rows of the metric definition table (metrics.h) and
 * the function that emits each family's samples from a page of reports.
 * docs/metrics.md documents these rows one by one, with their views; tests
 * compare the two both ways (`mkdoc metrics`, `twkit export --list-metrics`).
 *
 * Every family is emitted for every namespace of the page before the next
 * family starts (both formats require a family's samples together).  Per
 * destination, the first rows of the report's pressure table (worst first)
 * get their own series (own_rows); the rest fold into dst="other".
 */
#include <math.h>
#include <string.h>

#include "metrics.h"

/* every namespace with a report (a live namespace has counts only: metrics_live.c) */
#define EACH_NS(p)                                                                 \
    for (const struct metrics_ns *ns = (p)->ns; ns < (p)->ns + (p)->n_ns; ns++)    \
        if (!ns->r) {                                                              \
        } else
/* every namespace, with its kernel readings (a report's, or read beside a live table) */
#define KERNEL_NS(p)                                                               \
    for (const struct metrics_ns *ns = (p)->ns; ns < (p)->ns + (p)->n_ns; ns++)    \
        for (const struct tw_kernel *k = ns_kernel(ns); k; k = NULL)
#define NL(a) (sizeof(a) / sizeof((a)[0]))

static const struct tw_kernel *ns_kernel(const struct metrics_ns *ns)
{
    return ns->kernel ? ns->kernel : ns->r ? &ns->r->kernel : NULL;
}

/* ---- namespace-wide families ------------------------------------------------- */

static void e_sockets(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) {
        for (int fam = 0; fam < 2; fam++)
            for (int s = 1; s < TW_STATE_MAX; s++) {
                if (!(ns->r->state_mask & TW_STATE_BIT(s)))
                    continue;
                struct metrics_label l[] = {{"family", fam ? "ipv6" : "ipv4"},
                                            {"state", metrics_state(s)}};
                mw_u64(w, d, ns, l, NL(l), ns->r->states[fam][s]);
            }
    }
}

static void e_tw_side(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) {
        mw_u64(w, d, ns, (struct metrics_label[]){{"side", "client"}}, 1, ns->r->tw_client);
        mw_u64(w, d, ns, (struct metrics_label[]){{"side", "server"}}, 1, ns->r->tw_server);
    }
}

static void e_tw_expiring(struct metrics_writer *w, const struct metric_def *d,
                          const struct metrics_page *p)
{
    EACH_NS(p) {
        for (unsigned b = 0; b < TW_EXPIRY_BUCKETS; b++) {
            char from[16], to[16];
            snprintf(from, sizeof(from), "%u", b * TW_EXPIRY_BUCKET_MS / 1000);
            snprintf(to, sizeof(to), "%u", (b + 1) * TW_EXPIRY_BUCKET_MS / 1000);
            struct metrics_label l[] = {{"from_seconds", from}, {"to_seconds", to}};
            mw_u64(w, d, ns, l, NL(l), ns->r->tw_expiry[b]);
        }
    }
}

static void e_tw_freed(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) mw_u64(w, d, ns, NULL, 0, ns->r->tw_freed_10s);
}

static void e_sockstat_tw(struct metrics_writer *w, const struct metric_def *d,
                          const struct metrics_page *p)
{
    KERNEL_NS(p) {
        if (k->sock_tw >= 0)
            mw_u64(w, d, ns, NULL, 0, (uint64_t)k->sock_tw);
    }
}

static void e_tw_memory(struct metrics_writer *w, const struct metric_def *d,
                        const struct metrics_page *p)
{
    EACH_NS(p) {
        mw_u64(w, d, ns, (struct metrics_label[]){{"kind", "slab"}}, 1, ns->r->tw_slab_bytes);
        mw_u64(w, d, ns, (struct metrics_label[]){{"kind", "bind_buckets"}}, 1, ns->r->bind_bytes);
    }
}

static void e_max_tw(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    KERNEL_NS(p) {
        if (k->max_tw_buckets >= 0) /* absent: no series */
            mw_u64(w, d, ns, NULL, 0, (uint64_t)k->max_tw_buckets);
    }
}

static void e_sysctl(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    KERNEL_NS(p) {
        const struct {
            const char *name;
            long v;
        } sc[] = {
            {"net.ipv4.tcp_tw_reuse", k->tw_reuse},
            {"net.ipv4.tcp_tw_reuse_delay", k->tw_reuse_delay_ms},
            {"net.ipv4.tcp_timestamps", k->timestamps},
            {"net.ipv4.tcp_fin_timeout", k->fin_timeout},
            {"net.ipv4.tcp_rfc1337", k->rfc1337},
            {"net.ipv4.ip_local_port_range_low", k->port_lo},
            {"net.ipv4.ip_local_port_range_high", k->port_hi},
        };
        for (size_t i = 0; i < NL(sc); i++)
            if (sc[i].v >= 0) /* absent on this kernel: no series, never -1 */
                mw_u64(w, d, ns, (struct metrics_label[]){{"name", sc[i].name}}, 1,
                       (uint64_t)sc[i].v);
    }
}

static void e_range(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) mw_u64(w, d, ns, NULL, 0, ns->r->range_size);
}

static void e_excluded(struct metrics_writer *w, const struct metric_def *d,
                       const struct metrics_page *p)
{
    EACH_NS(p) {
        const struct tw_report *r = ns->r;
        const struct {
            const char *reason;
            uint32_t v;
        } x[] = {{"reserved", r->range_reserved},
                 {"listening", r->range_listeners},
                 {"parity", r->range_parity}};
        for (size_t i = 0; i < NL(x); i++)
            mw_u64(w, d, ns, (struct metrics_label[]){{"reason", x[i].reason}}, 1, x[i].v);
    }
}

static void e_effective(struct metrics_writer *w, const struct metric_def *d,
                        const struct metrics_page *p)
{
    EACH_NS(p) mw_u64(w, d, ns, NULL, 0, ns->r->effective_range);
}

static void e_host_in_use(struct metrics_writer *w, const struct metric_def *d,
                          const struct metrics_page *p)
{
    EACH_NS(p) mw_u64(w, d, ns, NULL, 0, ns->r->host_ports_in_use);
}

static void e_host_ratio(struct metrics_writer *w, const struct metric_def *d,
                         const struct metrics_page *p)
{
    EACH_NS(p) mw_f64(w, d, ns, NULL, 0, ns->r->host_pct / 100.0);
}

size_t metrics_own_rows(const struct metrics_page *p, size_t n, size_t n_high)
{
    size_t own = p->keep_high ? n_high : 0;
    if (own < p->top)
        own = p->top;
    return own < n ? own : n;
}

/* Destinations of a namespace with their own series: the first top, and with
 * keep_high every one above TW_PRESSURE_HIGH (the table is worst first). */
static size_t own_rows(const struct metrics_page *p, const struct tw_report *r)
{
    size_t high = 0;
    while (high < r->n_pressure && r->pressure[high].pct > TW_PRESSURE_HIGH)
        high++;
    return metrics_own_rows(p, r->n_pressure, high);
}

static void e_dests(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) mw_u64(w, d, ns, NULL, 0, ns->r->n_pressure);
}

static void e_folded(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) mw_u64(w, d, ns, NULL, 0, ns->r->n_pressure - own_rows(p, ns->r));
}

static void e_counter(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    for (const struct metrics_ns *ns = p->ns; ns < p->ns + p->n_ns; ns++) { /* live ones too */
        if (ns->counters && ns->counters->have[d->arg])
            mw_u64(w, d, ns, NULL, 0, ns->counters->v[d->arg]);
    }
}

static void e_dump_seconds(struct metrics_writer *w, const struct metric_def *d,
                           const struct metrics_page *p)
{
    EACH_NS(p) mw_f64(w, d, ns, NULL, 0, ns->r->dump_seconds);
}

/* ---- per destination ----------------------------------------------------------- */

/* The folded destinations of a namespace, summed (counts, rates) or worst (ratio, time). */
struct folded {
    size_t n;
    uint64_t tw, estab, other, reclaim, reclaim_max;
    double pct, pct_min;      /* highest */
    bool have_rate;
    double new_per_s;         /* sum */
    double exhaustion_s;      /* soonest */
};

static void fold(const struct metrics_ns *ns, size_t top, struct folded *f)
{
    const struct tw_report *r = ns->r;
    memset(f, 0, sizeof(*f));
    f->exhaustion_s = INFINITY;
    for (size_t i = top; i < r->n_pressure; i++) {
        const struct tw_pressure *x = &r->pressure[i];
        f->n++;
        f->tw += x->time_wait;
        f->estab += x->established;
        f->other += x->other;
        f->reclaim += x->reclaimable;
        f->reclaim_max += x->reclaimable_max;
        if (x->pct > f->pct)
            f->pct = x->pct;
        if (x->pct_min > f->pct_min)
            f->pct_min = x->pct_min;
        if (ns->rates && ns->rates[i].have) {
            f->have_rate = true;
            f->new_per_s += ns->rates[i].new_per_s;
            if (ns->rates[i].exhaustion_s < f->exhaustion_s)
                f->exhaustion_s = ns->rates[i].exhaustion_s;
        }
    }
}

/* Labels of destination i (i == n_pressure: "other"); bufs hold the text. */
struct dlabels {
    char src[64], dst[64], dport[8];
    struct metrics_label l[4];
};

static size_t dest_labels(const struct tw_pressure *x, struct dlabels *b, const char *state)
{
    if (x) {
        tw_addr_str(&x->laddr, b->src, sizeof(b->src));
        tw_addr_str(&x->raddr, b->dst, sizeof(b->dst));
        snprintf(b->dport, sizeof(b->dport), "%u", x->rport);
    } else {
        b->src[0] = b->dport[0] = '\0';
        snprintf(b->dst, sizeof(b->dst), "other");
    }
    b->l[0] = (struct metrics_label){"src", b->src};
    b->l[1] = (struct metrics_label){"dst", b->dst};
    b->l[2] = (struct metrics_label){"dport", b->dport};
    b->l[3] = (struct metrics_label){"state", state};
    return state ? 4 : 3;
}

/* Which figure of a destination a family shows. */
enum dfig { D_IN_USE, D_RECLAIM, D_RECLAIM_MAX, D_RATIO, D_RATIO_REUSED, D_NEW, D_EXHAUST, D_SUSTAIN };

static void dest_sample(struct metrics_writer *w, const struct metric_def *d,
                        const struct metrics_ns *ns, const struct tw_pressure *x,
                        const struct metrics_dest_rate *rate, const struct folded *f)
{
    struct dlabels b;
    switch ((enum dfig)d->arg) {
    case D_IN_USE: {
        const char *st[] = {metrics_state(TW_TIME_WAIT), metrics_state(TW_ESTABLISHED), "other"};
        uint64_t v[] = {x ? x->time_wait : f->tw, x ? x->established : f->estab,
                        x ? x->other : f->other};
        for (size_t s = 0; s < 3; s++) {
            size_t nl = dest_labels(x, &b, st[s]);
            mw_u64(w, d, ns, b.l, nl, v[s]);
        }
        return;
    }
    case D_RECLAIM:
        mw_u64(w, d, ns, b.l, dest_labels(x, &b, NULL), x ? x->reclaimable : f->reclaim);
        return;
    case D_RECLAIM_MAX:
        mw_u64(w, d, ns, b.l, dest_labels(x, &b, NULL), x ? x->reclaimable_max : f->reclaim_max);
        return;
    case D_RATIO:
        mw_f64(w, d, ns, b.l, dest_labels(x, &b, NULL), (x ? x->pct : f->pct) / 100.0);
        return;
    case D_RATIO_REUSED:
        mw_f64(w, d, ns, b.l, dest_labels(x, &b, NULL), (x ? x->pct_min : f->pct_min) / 100.0);
        return;
    case D_NEW:
        if (x ? rate && rate->have : f->have_rate)
            mw_f64(w, d, ns, b.l, dest_labels(x, &b, NULL), x ? rate->new_per_s : f->new_per_s);
        return;
    case D_EXHAUST:
        if (x ? rate && rate->have : f->have_rate)
            mw_f64(w, d, ns, b.l, dest_labels(x, &b, NULL),
                   x ? rate->exhaustion_s : f->exhaustion_s);
        return;
    case D_SUSTAIN: /* not additive, and no worst of it means much: no "other" */
        if (x && rate && rate->have)
            mw_f64(w, d, ns, b.l, dest_labels(x, &b, NULL), rate->sustainable_per_s);
        return;
    }
}

static void e_dest(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) {
        const struct tw_report *r = ns->r;
        size_t own = own_rows(p, r);
        for (size_t i = 0; i < own; i++)
            dest_sample(w, d, ns, &r->pressure[i], ns->rates ? &ns->rates[i] : NULL, NULL);
        if (r->n_pressure > own) {
            struct folded f;
            fold(ns, own, &f);
            dest_sample(w, d, ns, NULL, NULL, &f);
        }
    }
}

/* ---- the top tables (stat) ------------------------------------------------------- */

static void e_top(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    EACH_NS(p) {
        const struct tw_top *t = &ns->r->top[d->arg];
        for (size_t i = 0; i < t->n; i++) {
            const struct tw_top_row *row = &t->rows[i];
            char a[64], b[64], port[8];
            const char *side = row->server_side ? "server" : "client";
            struct metrics_label l[4];
            size_t nl = 0;
            switch ((enum tw_top_kind)d->arg) {
            case TW_TOP_LPORT:
                snprintf(port, sizeof(port), "%u", row->lport);
                l[nl++] = (struct metrics_label){"port", port};
                l[nl++] = (struct metrics_label){"side", side};
                break;
            case TW_TOP_RADDR:
            case TW_TOP_LADDR:
                tw_addr_str(d->arg == TW_TOP_RADDR ? &row->raddr : &row->laddr, a, sizeof(a));
                l[nl++] = (struct metrics_label){"address", a};
                break;
            default: /* a server-side row is every client of a local port: no dport */
                tw_addr_str(&row->laddr, a, sizeof(a));
                tw_addr_str(&row->raddr, b, sizeof(b));
                if (row->server_side)
                    port[0] = '\0';
                else
                    snprintf(port, sizeof(port), "%u", row->rport);
                l[nl++] = (struct metrics_label){"src", a};
                l[nl++] = (struct metrics_label){"dst", b};
                l[nl++] = (struct metrics_label){"dport", port};
                l[nl++] = (struct metrics_label){"side", side};
            }
            mw_u64(w, d, ns, l, nl, row->count);
        }
    }
}

/* ---- the exporter itself -------------------------------------------------------- */

static void e_build(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    if (p->self)
        mw_u64(w, d, NULL, (struct metrics_label[]){{"version", TW_VERSION}}, 1, 1);
}

enum sfig { S_DURATION, S_TIMESTAMP, S_SUCCESS, S_ERRORS, S_DUMPS };

static void e_self(struct metrics_writer *w, const struct metric_def *d, const struct metrics_page *p)
{
    const struct metrics_self *s = p->self;
    if (!s)
        return;
    switch ((enum sfig)d->arg) {
    case S_DURATION: mw_f64(w, d, NULL, NULL, 0, s->scrape_seconds); break;
    case S_TIMESTAMP: mw_f64(w, d, NULL, NULL, 0, s->timestamp); break;
    case S_SUCCESS: mw_u64(w, d, NULL, NULL, 0, s->success); break;
    case S_ERRORS: mw_u64(w, d, NULL, NULL, 0, s->errors); break;
    case S_DUMPS: mw_u64(w, d, NULL, NULL, 0, s->dumps); break;
    }
}

/* twkit_exporter_source_info: what served each namespace's counts. */
static void e_source(struct metrics_writer *w, const struct metric_def *d,
                     const struct metrics_page *p)
{
    for (const struct metrics_ns *ns = p->ns; ns < p->ns + p->n_ns; ns++)
        if (ns->source)
            mw_u64(w, d, ns, (struct metrics_label[]){{"source", ns->source}}, 1, 1);
}

/* ---- the table ---------------------------------------------------------------------- */

#define BOTH (METRIC_VIEW_STAT | METRIC_VIEW_EXPORT)
#define DEST "netns,src,dst,dport"
#define CTR(id, nm, help)                                                                      \
    {"twkit_netstat_" nm, METRIC_COUNTER, NULL, "netns", help, BOTH, false, id, e_counter}

const struct metric_def metric_defs[] = {
    {"twkit_sockets", METRIC_GAUGE, NULL, "netns,family,state",
     "TCP sockets by family (ipv4, ipv6) and state (time_wait, established, ...: "
     "node_exporter's words).",
     BOTH, false, 0, e_sockets},
    {"twkit_time_wait_sockets", METRIC_GAUGE, NULL, "netns,side",
     "TIME_WAIT sockets by side: client (this host closed first on an outgoing connection) or "
     "server (the local port is a listening port).",
     BOTH, false, 0, e_tw_side},
    {"twkit_time_wait_expiring_sockets", METRIC_GAUGE, NULL, "netns,from_seconds,to_seconds",
     "TIME_WAIT sockets by time left before they expire, in 5 second buckets.", BOTH, false, 0,
     e_tw_expiring},
    {"twkit_time_wait_ports_freed_next_10s_sockets", METRIC_GAUGE, NULL, "netns",
     "Client-side TIME_WAIT sockets that expire within 10 seconds.", BOTH, false, 0, e_tw_freed},
    {"twkit_time_wait_memory_bytes", METRIC_GAUGE, "bytes", "netns,kind",
     "Kernel memory held by TIME_WAIT: slab objects (slab) and, at least, bind buckets "
     "(bind_buckets).",
     BOTH, false, 0, e_tw_memory},
    {"twkit_sockstat_time_wait_sockets", METRIC_GAUGE, NULL, "netns",
     "The kernel's own count: /proc/net/sockstat tw (TIME_WAIT and FIN_WAIT2 minisocks).", BOTH,
     false, 0, e_sockstat_tw},
    {"twkit_tcp_max_tw_buckets", METRIC_GAUGE, NULL, "netns",
     "net.ipv4.tcp_max_tw_buckets of the namespace.", BOTH, false, 0, e_max_tw},
    {"twkit_tcp_sysctl", METRIC_GAUGE, NULL, "netns,name",
     "TIME_WAIT-related TCP sysctls of the namespace, as the kernel holds them (no series for "
     "one this kernel lacks).",
     BOTH, false, 0, e_sysctl},
    {"twkit_ephemeral_range_ports", METRIC_GAUGE, NULL, "netns",
     "Ports in net.ipv4.ip_local_port_range.", BOTH, false, 0, e_range},
    {"twkit_ephemeral_excluded_ports", METRIC_GAUGE, NULL, "netns,reason",
     "Ports of the range connect() cannot use: reserved, held by a listener (listening), or "
     "lost to same-parity range ends (parity).",
     BOTH, false, 0, e_excluded},
    {"twkit_ephemeral_effective_ports", METRIC_GAUGE, NULL, "netns",
     "Ports of the range connect() can use for one destination (the effective range).", BOTH,
     false, 0, e_effective},
    {"twkit_host_ports_in_use", METRIC_GAUGE, NULL, "netns",
     "Distinct local ports in the range held by client-side sockets of every destination: what "
     "bind() before connect() without IP_BIND_ADDRESS_NO_PORT cannot use.",
     BOTH, false, 0, e_host_in_use},
    {"twkit_host_port_pressure_ratio", METRIC_GAUGE, "ratio", "netns",
     "twkit_host_ports_in_use over the effective range.", BOTH, false, 0, e_host_ratio},
    {"twkit_destinations", METRIC_GAUGE, NULL, "netns",
     "Destinations (local address, remote address, remote port) holding client-side ports.",
     BOTH, false, 0, e_dests},
    {"twkit_destinations_folded", METRIC_GAUGE, NULL, "netns",
     "Destinations beyond the top ones, folded into the dst=\"other\" series.", BOTH, false, 0,
     e_folded},
    {"twkit_destination_ports_in_use", METRIC_GAUGE, NULL, DEST ",state",
     "Client-side ports in the range held per destination, by state: time_wait, established, "
     "other (any other state); they sum to the ports in use.",
     BOTH, false, D_IN_USE, e_dest},
    {"twkit_destination_reclaimable_sockets", METRIC_GAUGE, NULL, DEST,
     "TIME_WAIT per destination that connect() is known to be able to take over now "
     "(tcp_tw_reuse): 0 unless the source saw the peer's timestamps.",
     BOTH, false, D_RECLAIM, e_dest},
    {"twkit_destination_reclaimable_at_most_sockets", METRIC_GAUGE, NULL, DEST,
     "Upper bound of the TIME_WAIT per destination that connect() can take over now: "
     "reclaimable if every peer whose timestamps the source could not see sent them.",
     BOTH, false, D_RECLAIM_MAX, e_dest},
    {"twkit_destination_port_pressure_ratio", METRIC_GAUGE, "ratio", DEST,
     "Ports held per destination (known-reclaimable ones excluded) over the effective range; "
     "1 is exhaustion.",
     BOTH, false, D_RATIO, e_dest},
    {"twkit_destination_port_pressure_if_reused_ratio", METRIC_GAUGE, "ratio", DEST,
     "The pressure if every peer sent TCP timestamps (the at-most bound of reclaimable "
     "excluded).",
     BOTH, false, D_RATIO_REUSED, e_dest},
    {"twkit_destination_new_time_wait_per_second", METRIC_GAUGE, NULL, DEST,
     "New TIME_WAIT per second per destination over the last 10 seconds, from the sockets' "
     "ages in one dump.",
     METRIC_VIEW_EXPORT, true, D_NEW, e_dest},
    {"twkit_destination_exhaustion_seconds", METRIC_GAUGE, "seconds", DEST,
     "Forecast seconds until connect() to the destination finds no free port at the current "
     "rate: 0 now, +Inf not within the forecast horizon.",
     METRIC_VIEW_EXPORT, true, D_EXHAUST, e_dest},
    {"twkit_destination_sustainable_connections_per_second", METRIC_GAUGE, NULL, DEST,
     "New connections per second the destination can take forever without running out of "
     "ports.",
     METRIC_VIEW_EXPORT, true, D_SUSTAIN, e_dest},
    {"twkit_time_wait_top_local_port_sockets", METRIC_GAUGE, NULL, "netns,port,side",
     "TIME_WAIT sockets of the top local ports.", METRIC_VIEW_STAT, false, TW_TOP_LPORT, e_top},
    {"twkit_time_wait_top_remote_address_sockets", METRIC_GAUGE, NULL, "netns,address",
     "TIME_WAIT sockets of the top remote addresses.", METRIC_VIEW_STAT, false, TW_TOP_RADDR,
     e_top},
    {"twkit_time_wait_top_destination_sockets", METRIC_GAUGE, NULL, "netns,src,dst,dport,side",
     "TIME_WAIT sockets of the top destinations (dport empty: server side).", METRIC_VIEW_STAT,
     false, TW_TOP_DEST, e_top},
    {"twkit_time_wait_top_local_address_sockets", METRIC_GAUGE, NULL, "netns,address",
     "TIME_WAIT sockets of the top local addresses.", METRIC_VIEW_STAT, false, TW_TOP_LADDR,
     e_top},
    CTR(TW_C_TW, "tcpext_tw", "TcpExt TW: sockets that entered TIME_WAIT."),
    CTR(TW_C_TW_RECYCLED, "tcpext_tw_recycled",
        "TcpExt TWRecycled: TIME_WAIT sockets taken over by a new connection (tcp_tw_reuse)."),
    CTR(TW_C_TW_KILLED, "tcpext_tw_killed", "TcpExt TWKilled: TIME_WAIT sockets killed early."),
    CTR(TW_C_TW_OVERFLOW, "tcpext_tcp_time_wait_overflow",
        "TcpExt TCPTimeWaitOverflow: closes that got no TIME_WAIT (tcp_max_tw_buckets reached)."),
    CTR(TW_C_PAWS_TW, "tcpext_paws_timewait",
        "TcpExt PAWSTimewait: segments to TIME_WAIT sockets dropped by PAWS."),
    CTR(TW_C_PAWS_ESTAB, "tcpext_paws_estab",
        "TcpExt PAWSEstab: segments to established sockets dropped by PAWS."),
    CTR(TW_C_ABORT_ON_DATA, "tcpext_tcp_abort_on_data",
        "TcpExt TCPAbortOnData: connections reset because data arrived after close."),
    CTR(TW_C_ABORT_ON_CLOSE, "tcpext_tcp_abort_on_close",
        "TcpExt TCPAbortOnClose: connections reset on close with unread data."),
    CTR(TW_C_ABORT_ON_LINGER, "tcpext_tcp_abort_on_linger",
        "TcpExt TCPAbortOnLinger: connections reset by a zero linger time."),
    CTR(TW_C_LISTEN_OVERFLOWS, "tcpext_listen_overflows",
        "TcpExt ListenOverflows: handshakes dropped because an accept queue was full."),
    CTR(TW_C_LISTEN_DROPS, "tcpext_listen_drops",
        "TcpExt ListenDrops: SYNs to listeners dropped for any reason."),
    CTR(TW_C_ACTIVE_OPENS, "tcp_active_opens", "Tcp ActiveOpens: connect() calls that sent a SYN."),
    CTR(TW_C_PASSIVE_OPENS, "tcp_passive_opens", "Tcp PassiveOpens: connections accepted."),
    CTR(TW_C_ATTEMPT_FAILS, "tcp_attempt_fails",
        "Tcp AttemptFails: connection attempts that failed (SYN_SENT or SYN_RECV to CLOSED)."),
    CTR(TW_C_ESTAB_RESETS, "tcp_estab_resets",
        "Tcp EstabResets: established connections reset."),
    CTR(TW_C_OUT_RSTS, "tcp_out_rsts", "Tcp OutRsts: segments sent with RST."),
    {"twkit_netstat_tcp_curr_estab", METRIC_GAUGE, NULL, "netns",
     "Tcp CurrEstab: connections in ESTABLISHED or CLOSE_WAIT now.", BOTH, false,
     TW_C_CURR_ESTAB, e_counter},
    {"twkit_timewait_created", METRIC_COUNTER, NULL, "netns,comm",
     "TIME_WAIT sockets made since the exporter started (export --trace), by the name of the "
     "process that closed first; the processes beyond the first --top seen fold into "
     "comm=\"other\".",
     METRIC_VIEW_EXPORT, false, MT_CREATED, metrics_emit_trace},
    {"twkit_connect_errors", METRIC_COUNTER, NULL, "netns,comm,errno",
     "Failed connect() calls on TCP sockets since the exporter started (export --trace), by "
     "process name and errno, whether connect() returned it or SO_ERROR reported it later.",
     METRIC_VIEW_EXPORT, false, MT_CONNECT_ERRORS, metrics_emit_trace},
    {"twkit_trace_processes_folded", METRIC_GAUGE, NULL, "netns",
     "Process names folded into comm=\"other\" by export --trace's cap (--top).",
     METRIC_VIEW_EXPORT, false, MT_FOLDED, metrics_emit_trace},
    {"twkit_dump_duration_seconds", METRIC_GAUGE, "seconds", "netns",
     "Time the socket dump of the namespace took.", BOTH, false, 0, e_dump_seconds},
    {"twkit_live_sockets", METRIC_GAUGE, NULL, "netns,src,dst,dport,side,state",
     "--source live: sockets per destination and state, from the live table (listeners: "
     "dst 0.0.0.0 or ::, dport 0; side=\"server\": every port of one client, dport empty; "
     "SYN_RECV is not counted); the destinations beyond the --top with the most sockets fold "
     "into dst=\"other\".",
     METRIC_VIEW_EXPORT, false, L_SOCKETS, metrics_emit_live},
    {"twkit_live_drift_sockets", METRIC_GAUGE, NULL, "netns,src,dst,dport,side,state",
     "--source live: table minus walk, for each row that differed at the last reconciliation "
     "(no series: no drift).",
     METRIC_VIEW_EXPORT, false, L_DRIFT, metrics_emit_live},
    {"twkit_live_drift_rows", METRIC_GAUGE, NULL, "netns",
     "--source live: rows that differed at the last reconciliation (0: the table was right).",
     METRIC_VIEW_EXPORT, false, L_DRIFT_ROWS, metrics_emit_live},
    {"twkit_live_lost_events", METRIC_COUNTER, NULL, "netns",
     "--source live: kernel events the table could not record (each forces a re-seed).",
     METRIC_VIEW_EXPORT, false, L_LOST, metrics_emit_live},
    {"twkit_live_census_misses", METRIC_COUNTER, NULL, "netns",
     "--source live: reads where the table's totals disagreed with the kernel's own counts "
     "(events the kernel ran without the table's programs; each forces a re-seed).",
     METRIC_VIEW_EXPORT, false, L_CENSUS, metrics_emit_live},
    {"twkit_live_seeds", METRIC_COUNTER, NULL, "netns",
     "--source live: tables seeded (the first, and every re-seed after lost events or drift).",
     METRIC_VIEW_EXPORT, false, L_SEEDS, metrics_emit_live},
    {"twkit_live_reconciliations", METRIC_COUNTER, NULL, "netns",
     "--source live: reconciliation walks done.", METRIC_VIEW_EXPORT, false, L_RECON, metrics_emit_live},
    {"twkit_exporter_build", METRIC_INFO, NULL, "version", "The twkit that serves this page.",
     METRIC_VIEW_EXPORT, false, 0, e_build},
    {"twkit_exporter_source", METRIC_INFO, NULL, "netns,source",
     "What the namespace's page came from: live (the live table), or the socket source of a "
     "full report (netlink, proc, bpf, fixture).",
     METRIC_VIEW_EXPORT, false, 0, e_source},
    {"twkit_exporter_scrape_duration_seconds", METRIC_GAUGE, "seconds", "",
     "Time the collection behind this page took: every namespace's dump, kernel readings and "
     "forecast.",
     METRIC_VIEW_EXPORT, false, S_DURATION, e_self},
    {"twkit_exporter_scrape_timestamp_seconds", METRIC_GAUGE, "seconds", "",
     "When the collection behind this page ended (seconds since the epoch).", METRIC_VIEW_EXPORT,
     false, S_TIMESTAMP, e_self},
    {"twkit_exporter_scrape_success", METRIC_GAUGE, NULL, "",
     "1 when every namespace was collected, 0 when one or more failed.", METRIC_VIEW_EXPORT,
     false, S_SUCCESS, e_self},
    {"twkit_exporter_scrape_errors", METRIC_COUNTER, NULL, "",
     "Collections that failed for one or more namespaces.", METRIC_VIEW_EXPORT, false, S_ERRORS,
     e_self},
    {"twkit_exporter_dumps", METRIC_COUNTER, NULL, "",
     "Collections done; scrapes that share one (concurrent, or within --min-interval) count once.",
     METRIC_VIEW_EXPORT, false, S_DUMPS, e_self},
};

const size_t metric_ndefs = sizeof(metric_defs) / sizeof(metric_defs[0]);
