/*
 * metrics.c — the Prometheus metrics of a TIME_WAIT report (metrics.h):
 * one table of definitions, each with the function that writes its
 * samples, and the writer that `twkit stat --prom` and `twkit export` use.
 * Label values go through the exposition format's escaping (backslash,
 * quote, newline), so any namespace name is safe here.
 */
#include <string.h>

#include "metrics.h"

/* ---- writing samples ---------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
}

/* "name{netns="..."" — the labels follow with lab(), the value with val_*(). */
static void begin(FILE *f, const struct metric_def *m, const struct stat_ns *ns)
{
    fprintf(f, "%s{netns=\"", m->name);
    esc(f, ns->label ? ns->label : "");
    fputc('"', f);
}

static void lab(FILE *f, const char *key, const char *val)
{
    fprintf(f, ",%s=\"", key);
    esc(f, val);
    fputc('"', f);
}

static void lab_u(FILE *f, const char *key, unsigned val)
{
    fprintf(f, ",%s=\"%u\"", key, val);
}

static void lab_addr(FILE *f, const char *key, const struct tw_addr *a)
{
    char b[64];
    lab(f, key, tw_addr_str(a, b, sizeof(b)));
}

static void val_u(FILE *f, uint64_t v)
{
    fprintf(f, "} %llu\n", (unsigned long long)v);
}

static void val_d(FILE *f, double v)
{
    fprintf(f, "} %.6f\n", v);
}

const char *metrics_state(int state)
{
    static const char *const names[TW_STATE_MAX] = {
        [TW_ESTABLISHED] = "established", [TW_SYN_SENT] = "syn_sent",
        [TW_SYN_RECV] = "syn_recv",       [TW_FIN_WAIT1] = "fin_wait1",
        [TW_FIN_WAIT2] = "fin_wait2",     [TW_TIME_WAIT] = "time_wait",
        [TW_CLOSE] = "close",             [TW_CLOSE_WAIT] = "close_wait",
        [TW_LAST_ACK] = "last_ack",       [TW_LISTEN] = "listen",
        [TW_CLOSING] = "closing",         [TW_NEW_SYN_RECV] = "new_syn_recv",
    };
    return state > 0 && state < TW_STATE_MAX ? names[state] : "unknown";
}

/* The destinations a namespace reports (its >50 % ones and at least top). */
#define EACH_DEST(ns, top, p)                                                         \
    for (size_t d_ = 0, n_ = stat_pressure_rows((ns)->r, (top));                      \
         d_ < n_ && ((p) = &(ns)->r->pressure[d_], 1); d_++)

static void dest_labels(FILE *f, const struct tw_pressure *p)
{
    lab_addr(f, "src", &p->laddr);
    lab_addr(f, "dst", &p->raddr);
    lab_u(f, "dport", p->rport);
}

/* ---- the metrics ----------------------------------------------------------------- */

static void m_sockets(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    for (int fam = 0; fam < 2; fam++)
        for (int s = 1; s < TW_STATE_MAX; s++) {
            if (!(ns->r->state_mask & TW_STATE_BIT(s)))
                continue;
            begin(f, m, ns);
            lab(f, "family", fam ? "ipv6" : "ipv4");
            lab(f, "state", metrics_state(s));
            val_u(f, ns->r->states[fam][s]);
        }
}

static void m_tw_side(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    for (int side = 0; side < 2; side++) {
        begin(f, m, ns);
        lab(f, "side", side ? "server" : "client");
        val_u(f, side ? ns->r->tw_server : ns->r->tw_client);
    }
}

static void m_tw_expiring(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                          unsigned top)
{
    for (unsigned b = 0; b < TW_EXPIRY_BUCKETS; b++) {
        begin(f, m, ns);
        lab_u(f, "from_seconds", b * TW_EXPIRY_BUCKET_MS / 1000);
        lab_u(f, "to_seconds", (b + 1) * TW_EXPIRY_BUCKET_MS / 1000);
        val_u(f, ns->r->tw_expiry[b]);
    }
}

static void m_tw_freed(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    begin(f, m, ns);
    val_u(f, ns->r->tw_freed_10s);
}

static void m_tw_memory(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    begin(f, m, ns);
    lab(f, "kind", "slab");
    val_u(f, ns->r->tw_slab_bytes);
    begin(f, m, ns);
    lab(f, "kind", "bind_buckets");
    val_u(f, ns->r->bind_bytes);
}

static void m_sockstat_tw(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                          unsigned top)
{
    if (ns->r->kernel.sock_tw < 0)
        return;
    begin(f, m, ns);
    val_u(f, (uint64_t)ns->r->kernel.sock_tw);
}

static void m_max_tw(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    if (ns->r->kernel.max_tw_buckets < 0)
        return;
    begin(f, m, ns);
    val_u(f, (uint64_t)ns->r->kernel.max_tw_buckets);
}

static void m_sysctl(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    const struct tw_kernel *k = &ns->r->kernel;
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
    for (size_t s = 0; s < sizeof(sc) / sizeof(sc[0]); s++) {
        if (sc[s].v < 0)
            continue; /* absent: no series, never -1 */
        begin(f, m, ns);
        lab(f, "name", sc[s].name);
        val_u(f, (uint64_t)sc[s].v);
    }
}

static void m_range(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    begin(f, m, ns);
    val_u(f, ns->r->range_size);
}

static void m_excluded(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    const struct {
        const char *reason;
        uint32_t v;
    } x[] = {{"reserved", ns->r->range_reserved},
             {"listening", ns->r->range_listeners},
             {"parity", ns->r->range_parity}};
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
        begin(f, m, ns);
        lab(f, "reason", x[i].reason);
        val_u(f, x[i].v);
    }
}

static void m_effective(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    begin(f, m, ns);
    val_u(f, ns->r->effective_range);
}

static void m_host_ports(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                         unsigned top)
{
    begin(f, m, ns);
    val_u(f, ns->r->host_ports_in_use);
}

static void m_host_ratio(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                         unsigned top)
{
    begin(f, m, ns);
    val_d(f, ns->r->host_pct / 100.0);
}

static void m_dest_in_use(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                          unsigned top)
{
    const struct tw_pressure *p;
    EACH_DEST(ns, top, p)
    {
        const struct {
            const char *st;
            uint64_t v;
        } c[] = {{"time_wait", p->time_wait}, {"established", p->established}, {"other", p->other}};
        for (size_t s = 0; s < 3; s++) {
            begin(f, m, ns);
            dest_labels(f, p);
            lab(f, "state", c[s].st);
            val_u(f, c[s].v);
        }
    }
}

/* One series per destination: an integer count or a ratio out of a percent. */
static void dest_each(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top,
                      uint64_t (*count)(const struct tw_pressure *),
                      double (*pct)(const struct tw_pressure *))
{
    const struct tw_pressure *p;
    EACH_DEST(ns, top, p)
    {
        begin(f, m, ns);
        dest_labels(f, p);
        if (count)
            val_u(f, count(p));
        else
            val_d(f, pct(p) / 100.0);
    }
}

static uint64_t reclaim(const struct tw_pressure *p) { return p->reclaimable; }
static uint64_t reclaim_max(const struct tw_pressure *p) { return p->reclaimable_max; }
static double pct(const struct tw_pressure *p) { return p->pct; }
static double pct_min(const struct tw_pressure *p) { return p->pct_min; }

static void m_dest_reclaim(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                           unsigned top)
{
    dest_each(f, m, ns, top, reclaim, NULL);
}

static void m_dest_reclaim_max(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                               unsigned top)
{
    dest_each(f, m, ns, top, reclaim_max, NULL);
}

static void m_dest_ratio(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                         unsigned top)
{
    dest_each(f, m, ns, top, NULL, pct);
}

static void m_dest_ratio_reused(FILE *f, const struct metric_def *m, const struct stat_ns *ns,
                                unsigned top)
{
    dest_each(f, m, ns, top, NULL, pct_min);
}

static void m_top(FILE *f, const struct metric_def *m, const struct stat_ns *ns, enum tw_top_kind k)
{
    const struct tw_top *t = &ns->r->top[k];
    for (size_t i = 0; i < t->n; i++) {
        const struct tw_top_row *row = &t->rows[i];
        begin(f, m, ns);
        switch (k) {
        case TW_TOP_LPORT:
            lab_u(f, "port", row->lport);
            lab(f, "side", row->server_side ? "server" : "client");
            break;
        case TW_TOP_RADDR:
            lab_addr(f, "address", &row->raddr);
            break;
        case TW_TOP_LADDR:
            lab_addr(f, "address", &row->laddr);
            break;
        default:
            lab_addr(f, "src", &row->laddr);
            lab_addr(f, "dst", &row->raddr);
            if (row->server_side)
                lab(f, "dport", "");
            else
                lab_u(f, "dport", row->rport);
            lab(f, "side", row->server_side ? "server" : "client");
        }
        val_u(f, row->count);
    }
}

static void m_top_lport(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    m_top(f, m, ns, TW_TOP_LPORT);
}

static void m_top_raddr(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    m_top(f, m, ns, TW_TOP_RADDR);
}

static void m_top_dest(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    m_top(f, m, ns, TW_TOP_DEST);
}

static void m_top_laddr(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    m_top(f, m, ns, TW_TOP_LADDR);
}

static void m_dump(FILE *f, const struct metric_def *m, const struct stat_ns *ns, unsigned top)
{
    begin(f, m, ns);
    val_d(f, ns->r->dump_seconds);
}

/* ---- the table ---------------------------------------------------------------------- */

const struct metric_def metric_defs[] = {
    {"twkit_sockets", "gauge", "family,state",
     "TCP sockets by family and state.", m_sockets},
    {"twkit_time_wait_sockets", "gauge", "side",
     "TIME_WAIT sockets by side (server: the local port is a listening port).", m_tw_side},
    {"twkit_time_wait_expiring_sockets", "gauge", "from_seconds,to_seconds",
     "TIME_WAIT sockets by time left before expiry, in 5 second buckets.", m_tw_expiring},
    {"twkit_time_wait_ports_freed_next_10s_sockets", "gauge", "",
     "Client-side TIME_WAIT sockets that expire within 10 seconds.", m_tw_freed},
    {"twkit_time_wait_memory_bytes", "gauge", "kind",
     "Kernel memory held by TIME_WAIT: slab objects and (at least) bind buckets.", m_tw_memory},
    {"twkit_sockstat_time_wait_sockets", "gauge", "",
     "The kernel's own count (/proc/net/sockstat tw: TIME_WAIT and FIN_WAIT2 minisocks).",
     m_sockstat_tw},
    {"twkit_tcp_max_tw_buckets", "gauge", "",
     "net.ipv4.tcp_max_tw_buckets of the namespace.", m_max_tw},
    {"twkit_tcp_sysctl", "gauge", "name",
     "TIME_WAIT-related TCP sysctls of the namespace (absent ones have no series).", m_sysctl},
    {"twkit_ephemeral_range_ports", "gauge", "",
     "Ports in net.ipv4.ip_local_port_range.", m_range},
    {"twkit_ephemeral_excluded_ports", "gauge", "reason",
     "Ports of the range connect() cannot use: reserved, held by a listener, or lost to "
     "same-parity range ends.", m_excluded},
    {"twkit_ephemeral_effective_ports", "gauge", "",
     "Ports of the range connect() can use for one destination (the effective range).",
     m_effective},
    {"twkit_host_ports_in_use", "gauge", "",
     "Distinct local ports in the range held by client-side sockets of every destination: "
     "what bind() before connect() without IP_BIND_ADDRESS_NO_PORT cannot use.", m_host_ports},
    {"twkit_host_port_pressure_ratio", "gauge", "",
     "twkit_host_ports_in_use over the effective range.", m_host_ratio},
    {"twkit_destination_ports_in_use", "gauge", "src,dst,dport,state",
     "Client-side ports in use per destination, by state: time_wait, established, other.",
     m_dest_in_use},
    {"twkit_destination_reclaimable_sockets", "gauge", "src,dst,dport",
     "TIME_WAIT known to be reusable by connect() now (0 unless the source sees the peer's "
     "timestamps).", m_dest_reclaim},
    {"twkit_destination_reclaimable_at_most_sockets", "gauge", "src,dst,dport",
     "Upper bound of the TIME_WAIT reusable by connect() now: reusable if the peer sent TCP "
     "timestamps.", m_dest_reclaim_max},
    {"twkit_destination_port_pressure_ratio", "gauge", "src,dst,dport",
     "Ports held per destination (known-reclaimable excluded) over the effective range.",
     m_dest_ratio},
    {"twkit_destination_port_pressure_if_reused_ratio", "gauge", "src,dst,dport",
     "The pressure if every peer sent TCP timestamps (the at-most bound excluded).",
     m_dest_ratio_reused},
    {"twkit_time_wait_top_local_port_sockets", "gauge", "port,side",
     "TIME_WAIT sockets of the top local ports.", m_top_lport},
    {"twkit_time_wait_top_remote_address_sockets", "gauge", "address",
     "TIME_WAIT sockets of the top remote addresses.", m_top_raddr},
    {"twkit_time_wait_top_destination_sockets", "gauge", "src,dst,dport,side",
     "TIME_WAIT sockets of the top destinations (dport empty: server side).", m_top_dest},
    {"twkit_time_wait_top_local_address_sockets", "gauge", "address",
     "TIME_WAIT sockets of the top local addresses.", m_top_laddr},
    {"twkit_stat_dump_duration_seconds", "gauge", "",
     "Time the socket dump took.", m_dump},
};

const size_t metric_defs_n = sizeof(metric_defs) / sizeof(metric_defs[0]);

void metrics_write(FILE *f, const struct stat_ns *list, size_t n, unsigned top)
{
    for (size_t i = 0; i < metric_defs_n; i++) {
        const struct metric_def *m = &metric_defs[i];
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
        for (size_t k = 0; k < n; k++)
            m->samples(f, m, &list[k], top);
    }
}
