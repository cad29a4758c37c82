/*
 * stat_table.c — the human view of `twkit stat`: fits 80 columns and reads
 * at a glance, top to bottom: what states the sockets are in, what the
 * TIME_WAIT sockets are (client or server side, when they expire, what
 * they cost, how close to tcp_max_tw_buckets), which destinations are
 * running out of ephemeral ports, and where the TIME_WAIT sockets go.
 * Colour (bold headings, red/yellow pressure) only on a terminal.
 */
#include <string.h>

#include "stat.h"
#include "tool.h"

#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_YEL "\033[33m"
#define C_GRN "\033[32m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *c(const struct stat_view *v, const char *code)
{
    return v->color ? code : "";
}

const char *fmt_count(char *buf, size_t len, uint64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 1 < len; i++) {
        if (i && (n - i) % 3 == 0 && o + 2 < len)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

const char *fmt_bytes(char *buf, size_t len, uint64_t v)
{
    if (v >= (1ull << 30))
        snprintf(buf, len, "%.1f GiB", (double)v / (1ull << 30));
    else if (v >= (1ull << 20))
        snprintf(buf, len, "%.1f MiB", (double)v / (1ull << 20));
    else if (v >= 1024)
        snprintf(buf, len, "%.1f KiB", (double)v / 1024);
    else
        snprintf(buf, len, "%llu B", (unsigned long long)v);
    return buf;
}

size_t stat_pressure_rows(const struct tw_report *r, unsigned top)
{
    size_t n = 0;
    while (n < r->n_pressure && r->pressure[n].pct > TW_PRESSURE_HIGH)
        n++;
    if (n < top)
        n = top;
    return n < r->n_pressure ? n : r->n_pressure;
}

/* "198.18.0.2:80", "[2001:db8::1]:443" cut to width from the left. */
static const char *hostport(char *buf, size_t len, const struct tw_addr *a, int port)
{
    char ab[64];
    tw_addr_str(a, ab, sizeof(ab));
    if (port < 0)
        snprintf(buf, len, "%s", ab);
    else if (a->family == AF_INET6)
        snprintf(buf, len, "[%s]:%d", ab, port);
    else
        snprintf(buf, len, "%s:%d", ab, port);
    return buf;
}

static void fit(char *s, size_t width)
{
    size_t n = strlen(s);
    if (n <= width)
        return;
    /* keep the end (port, last address bytes): "…" as "~" */
    memmove(s + 1, s + n - width + 1, width);
    s[0] = '~';
}

static void bar(FILE *f, const struct stat_view *v, double pct, int width)
{
    int full = (int)(pct / 100.0 * width + 0.5);
    if (full > width)
        full = width;
    if (full < 0)
        full = 0;
    const char *col = pct > 90 ? C_RED : pct > TW_PRESSURE_HIGH ? C_YEL : C_GRN;
    fputs(c(v, col), f);
    for (int i = 0; i < full; i++)
        fputc('#', f);
    fputs(c(v, C_DIM), f);
    for (int i = full; i < width; i++)
        fputc('.', f);
    fputs(c(v, C_OFF), f);
}

static void heading(FILE *f, const struct stat_view *v, const char *title)
{
    fprintf(f, "\n%s%s%s\n", c(v, C_BOLD), title, c(v, C_OFF));
}

static void states_line(FILE *f, const struct tw_report *r)
{
    char b[32];
    int col = 2;
    fputs("  ", f);
    bool any = false;
    for (int s = 1; s < TW_STATE_MAX; s++) {
        uint64_t n = r->states[0][s] + r->states[1][s];
        if (!n)
            continue;
        char item[64];
        int w = snprintf(item, sizeof(item), "%s %s", tw_state_slug(s), fmt_count(b, sizeof(b), n));
        if (col + w + 2 > 78) {
            fputs("\n  ", f);
            col = 2;
        }
        fprintf(f, "%s  ", item);
        col += w + 2;
        any = true;
    }
    if (!any)
        fputs("no sockets", f);
    fputc('\n', f);
}

static void top_table(FILE *f, const struct stat_view *v, const char *title, const struct tw_top *t,
                      enum tw_top_kind kind, uint64_t total)
{
    char b[32], h[96];
    if (!t->n)
        return;
    heading(f, v, title);
    for (size_t i = 0; i < t->n; i++) {
        const struct tw_top_row *row = &t->rows[i];
        switch (kind) {
        case TW_TOP_LPORT:
            snprintf(h, sizeof(h), "%u%s", row->lport, row->server_side ? " (listening)" : "");
            break;
        case TW_TOP_RADDR:
            hostport(h, sizeof(h), &row->raddr, -1);
            break;
        case TW_TOP_LADDR:
            hostport(h, sizeof(h), &row->laddr, -1);
            break;
        default: {
            char l[64], rr[64];
            hostport(l, sizeof(l), &row->laddr, -1);
            if (row->server_side)
                snprintf(rr, sizeof(rr), "%s (clients)", tw_addr_str(&row->raddr, b, sizeof(b)));
            else
                hostport(rr, sizeof(rr), &row->raddr, row->rport);
            fit(l, 22);
            fit(rr, 30);
            snprintf(h, sizeof(h), "%s -> %s", l, rr);
        }
        }
        fit(h, 56);
        fprintf(f, "  %-56s %10s %5.1f%%\n", h, fmt_count(b, sizeof(b), row->count),
                total ? 100.0 * (double)row->count / (double)total : 0.0);
    }
    if (t->other) {
        char o[48];
        snprintf(o, sizeof(o), "other (%llu more)", (unsigned long long)(t->distinct - t->n));
        fprintf(f, "  %s%-56s%s %10s %5.1f%%\n", c(v, C_DIM), o, c(v, C_OFF),
                fmt_count(b, sizeof(b), t->other), total ? 100.0 * (double)t->other / (double)total : 0.0);
    }
}

void stat_render_table(FILE *f, const struct stat_ns *ns, const struct stat_view *v)
{
    const struct tw_report *r = ns->r;
    const struct tw_kernel *k = &r->kernel;
    char b1[32], b2[32], b3[32], b4[32];

    fprintf(f, "%stwkit stat%s  netns %s (net:[%llu])\n", c(v, C_BOLD), c(v, C_OFF), ns->label,
            (unsigned long long)ns->inode);
    fprintf(f, "  %s dump in %.3f s%s%s\n", tw_source_kind_name(r->source), r->dump_seconds,
            k->release[0] ? ", Linux " : "", k->release);
    if (r->filtered)
        fprintf(f, "%sfiltered: only the sockets the filter selects are counted%s\n",
                c(v, C_YEL), c(v, C_OFF));

    heading(f, v, "SOCKETS");
    states_line(f, r);
    uint64_t v4 = 0, v6 = 0;
    for (int s = 1; s < TW_STATE_MAX; s++) {
        v4 += r->states[0][s];
        v6 += r->states[1][s];
    }
    fprintf(f, "  total %s  (IPv4 %s, IPv6 %s)\n", fmt_count(b1, sizeof(b1), r->total),
            fmt_count(b2, sizeof(b2), v4), fmt_count(b3, sizeof(b3), v6));

    if (r->state_mask & TW_STATE_BIT(TW_TIME_WAIT)) {
        heading(f, v, "TIME_WAIT");
        fprintf(f, "  %s sockets: client-side %s, server-side %s", fmt_count(b1, sizeof(b1), r->tw_total),
                fmt_count(b2, sizeof(b2), r->tw_client), fmt_count(b3, sizeof(b3), r->tw_server));
        if (r->fw2_minisocks)
            fprintf(f, ", +%s FIN_WAIT2 minisocks", fmt_count(b4, sizeof(b4), r->fw2_minisocks));
        fputc('\n', f);
        if (r->sockstat_checked)
            fprintf(f, "  kernel count (sockstat tw) %s: %s%s%s\n", fmt_count(b1, sizeof(b1), (uint64_t)k->sock_tw),
                    c(v, r->sockstat_agrees ? C_GRN : C_RED),
                    r->sockstat_agrees ? "agrees with the dump" : "DIFFERS from the dump",
                    c(v, C_OFF));
        else if (k->sock_tw >= 0)
            fprintf(f, "  kernel count (sockstat tw, whole namespace) %s\n",
                    fmt_count(b1, sizeof(b1), (uint64_t)k->sock_tw));
        if (r->tw_total) {
            fprintf(f, "  expires in  ");
            for (int bkt = 0; bkt < TW_EXPIRY_BUCKETS; bkt += 2) {
                uint64_t n = r->tw_expiry[bkt] + r->tw_expiry[bkt + 1];
                fprintf(f, "%2d-%-2ds %-6s", bkt * 5, bkt * 5 + 10, fmt_count(b1, sizeof(b1), n));
                if (bkt == 4)
                    fprintf(f, "\n              ");
            }
            fputc('\n', f);
            fprintf(f, "  ports freed in the next 10 s: %s (client side)\n",
                    fmt_count(b1, sizeof(b1), r->tw_freed_10s));
        }
        fprintf(f, "  memory  %s slab (%s x %u B)", fmt_bytes(b1, sizeof(b1), r->tw_slab_bytes),
                fmt_count(b2, sizeof(b2), r->tw_total + r->fw2_minisocks),
                k->tw_slab_v4 ? k->tw_slab_v4 : 256);
        if (r->bind_bytes)
            fprintf(f, " + >= %s bind buckets", fmt_bytes(b3, sizeof(b3), r->bind_bytes));
        fprintf(f, "%s\n", r->slab_measured ? "" : " (slab size assumed)");
        if (k->max_tw_buckets > 0)
            fprintf(f, "  tcp_max_tw_buckets %s: %.1f%% used%s\n",
                    fmt_count(b1, sizeof(b1), (uint64_t)k->max_tw_buckets), r->max_tw_pct,
                    r->max_tw_pct >= 100.0 ? " - FULL: new TIME_WAIT sockets are dropped" : "");
    }

    heading(f, v, "EPHEMERAL PORTS");
    fprintf(f, "  range %d-%d: %u ports", k->port_lo, k->port_hi, r->range_size);
    if (r->range_reserved)
        fprintf(f, " - %u reserved", r->range_reserved);
    if (r->range_listeners)
        fprintf(f, " - %u listening", r->range_listeners);
    if (r->range_parity)
        fprintf(f, " - 1 (same-parity ends)");
    fprintf(f, " = %u effective per destination\n", r->effective_range);
    fprintf(f, "  tcp_tw_reuse=%d", k->tw_reuse);
    if (k->tw_reuse_delay_ms >= 0)
        fprintf(f, "  tcp_tw_reuse_delay=%d ms", k->tw_reuse_delay_ms);
    fprintf(f, "  tcp_timestamps=%d\n", k->timestamps);
    size_t rows = stat_pressure_rows(r, v->top);
    if (!rows) {
        fprintf(f, "  no client-side connections using the range\n");
    } else {
        fprintf(f, "  %-38s %7s %7s %7s  %s\n", "DESTINATION (from -> to)", "IN USE", "TW",
                "RECLAIM", "PRESSURE");
        for (size_t i = 0; i < rows; i++) {
            const struct tw_pressure *p = &r->pressure[i];
            char l[64], rr[64], h[96];
            hostport(l, sizeof(l), &p->laddr, -1);
            hostport(rr, sizeof(rr), &p->raddr, p->rport);
            fit(l, 15);
            fit(rr, 21);
            snprintf(h, sizeof(h), "%s->%s", l, rr);
            char rc[32];
            if (!p->reuse_applies)
                snprintf(rc, sizeof(rc), "-");
            else if (p->reclaimable_max > p->reclaimable)
                snprintf(rc, sizeof(rc), "<=%s", fmt_count(b3, sizeof(b3), p->reclaimable_max));
            else
                snprintf(rc, sizeof(rc), "%s", fmt_count(b3, sizeof(b3), p->reclaimable));
            fprintf(f, "  %-38s %7s %7s %7s %5.1f%% ", h, fmt_count(b1, sizeof(b1), p->in_use),
                    fmt_count(b2, sizeof(b2), p->time_wait), rc, p->pct);
            bar(f, v, p->pct, 8);
            fputc('\n', f);
        }
        if (r->n_pressure > rows)
            fprintf(f, "  %s(%zu more destinations)%s\n", c(v, C_DIM), r->n_pressure - rows,
                    c(v, C_OFF));
        fprintf(f, "  %sRECLAIM: TIME_WAIT that tcp_tw_reuse lets connect() take now; - = off%s\n",
                c(v, C_DIM), c(v, C_OFF));
    }

    if (r->tw_total) {
        top_table(f, v, "TIME_WAIT BY LOCAL PORT", &r->top[TW_TOP_LPORT], TW_TOP_LPORT, r->tw_total);
        top_table(f, v, "TIME_WAIT BY REMOTE ADDRESS", &r->top[TW_TOP_RADDR], TW_TOP_RADDR, r->tw_total);
        top_table(f, v, "TIME_WAIT BY DESTINATION", &r->top[TW_TOP_DEST], TW_TOP_DEST, r->tw_total);
        top_table(f, v, "TIME_WAIT BY LOCAL ADDRESS", &r->top[TW_TOP_LADDR], TW_TOP_LADDR, r->tw_total);
    }
}
