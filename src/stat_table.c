/*
 * stat_table.c — the human view of `twkit stat`: fits 80 columns and reads
 * at a glance, top to bottom: what states the sockets are in, what the
 * TIME_WAIT sockets are (client or server side, when they expire, what
 * they cost, how close to tcp_max_tw_buckets), which destinations are
 * running out of ephemeral ports, and where the TIME_WAIT sockets go.
 *
 * No value is cut: lines whose length depends on values wrap (twx_flow),
 * and a table row whose label is wider than its column puts the label on a
 * line of its own and the numbers below it, in their columns.  Strings from
 * outside twkit (namespace labels, fixture paths) go through twx_esc.  A
 * number twkit cannot verify (what tcp_tw_reuse may reclaim) is shown as a
 * bound, "<=N", and the legend says what it depends on.  Colour (bold
 * headings, red/yellow pressure) only on a terminal.
 */
#include <stdlib.h>
#include <string.h>

#include "stat.h"
#include "tool.h"
#include "twx/text.h"

#define W 80 /* columns of every line */

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

size_t stat_pressure_rows(const struct tw_report *r, unsigned top)
{
    size_t n = 0;
    while (n < r->n_pressure && r->pressure[n].pct > TW_PRESSURE_HIGH)
        n++;
    if (n < top)
        n = top;
    return n < r->n_pressure ? n : r->n_pressure;
}

/* "198.18.0.2:80", "[2001:db8::1]:443", "::1" (port < 0): whole; buf >= 64. */
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

/* "19.1%"; "<0.1%" rather than a 0.0% that hides ports in use, ">99.9%"
 * rather than a 100.0% that hides the ones left. */
static const char *pct_str(char *buf, size_t len, double pct)
{
    if (pct > 0 && pct < 0.05)
        snprintf(buf, len, "<0.1%%");
    else if (pct >= 99.95 && pct < 100)
        snprintf(buf, len, ">99.9%%");
    else
        snprintf(buf, len, "%.1f%%", pct);
    return buf;
}

/*
 * One table row: the label in a column lw wide, then the cells.  A wider
 * label goes on its own line — split before its "->" when even a line is
 * too narrow — and the cells below it, in their columns.
 */
static void row(FILE *f, const char *label, size_t lw, const char *cells)
{
    size_t w = twx_width(label);
    if (w <= lw) {
        fputs("  ", f);
        twx_pad(f, label, lw);
        fprintf(f, " %s\n", cells);
        return;
    }
    const char *arrow = strstr(label, "->");
    if (arrow && arrow > label && 2 + w > W) {
        int n = (int)(arrow - label);
        while (n > 0 && label[n - 1] == ' ')
            n--;
        fprintf(f, "  %.*s\n    %s\n", n, label, arrow);
    } else {
        fprintf(f, "  %s\n", label);
    }
    fprintf(f, "  %*s %s\n", (int)lw, "", cells);
}

static void bar(char *out, size_t len, const struct stat_view *v, double pct, int width)
{
    int full = (int)(pct / 100.0 * width + 0.5);
    if (full > width)
        full = width;
    if (full < 0)
        full = 0;
    const char *col = pct > 90 ? C_RED : pct > TW_PRESSURE_HIGH ? C_YEL : C_GRN;
    char hashes[16], dots[16];
    if (width > 15)
        width = 15;
    memset(hashes, '#', (size_t)full);
    hashes[full] = 0;
    memset(dots, '.', (size_t)(width - full));
    dots[width - full] = 0;
    snprintf(out, len, "%s%s%s%s%s", c(v, col), hashes, c(v, C_DIM), dots, c(v, C_OFF));
}

static void heading(FILE *f, const struct stat_view *v, const char *title)
{
    fprintf(f, "\n%s%s%s\n", c(v, C_BOLD), title, c(v, C_OFF));
}

/* ---- sections ----------------------------------------------------------------- */

static void header(FILE *f, const struct stat_ns *ns, const struct stat_view *v)
{
    const struct tw_report *r = ns->r;
    char *label = twx_esc_dup(ns->label ? ns->label : "");
    struct twx_flow w;
    twx_flow_begin(&w, f, W, 0, 2);
    twx_flow_putf(&w, NULL, "%stwkit stat%s", c(v, C_BOLD), c(v, C_OFF));
    twx_flow_putf(&w, "  ", "netns %s", label ? label : "?");
    twx_flow_putf(&w, " ", "(net:[%llu])", (unsigned long long)ns->inode);
    twx_flow_end(&w);
    free(label);
    char *rel = twx_esc_dup(r->kernel.release);
    twx_flow_begin(&w, f, W, 2, 4);
    twx_flow_putf(&w, NULL, "%s dump in %.3f s%s", tw_source_kind_name(r->source),
                  r->dump_seconds, rel && rel[0] ? "," : "");
    if (rel && rel[0])
        twx_flow_putf(&w, " ", "Linux %s", rel);
    twx_flow_end(&w);
    free(rel);
    if (r->filtered)
        fprintf(f, "%sfiltered: only the sockets the filter selects are counted%s\n",
                c(v, C_YEL), c(v, C_OFF));
}

static void sockets(FILE *f, const struct tw_report *r, const struct stat_view *v)
{
    char b1[TWX_NUM_LEN], b2[TWX_NUM_LEN], b3[TWX_NUM_LEN];
    struct twx_flow w;
    heading(f, v, "SOCKETS");
    twx_flow_begin(&w, f, W, 2, 2);
    bool any = false;
    uint64_t v4 = 0, v6 = 0;
    for (int s = 1; s < TW_STATE_MAX; s++) {
        uint64_t n = r->states[0][s] + r->states[1][s];
        v4 += r->states[0][s];
        v6 += r->states[1][s];
        if (!n)
            continue;
        twx_flow_putf(&w, "  ", "%s %s", tw_state_slug(s), twx_count(b1, n));
        any = true;
    }
    if (!any)
        twx_flow_put(&w, NULL, "no sockets");
    twx_flow_end(&w);
    /* semicolons: a thousands comma must not read as a list separator */
    fprintf(f, "  total %s (IPv4 %s; IPv6 %s)\n", twx_count(b1, r->total), twx_count(b2, v4),
            twx_count(b3, v6));
}

static void expiry(FILE *f, const struct tw_report *r)
{
    char b[TWX_NUM_LEN];
    size_t cw = 6;
    for (int k = 0; k < TW_EXPIRY_BUCKETS; k += 2)
        if (strlen(twx_count(b, r->tw_expiry[k] + r->tw_expiry[k + 1])) > cw)
            cw = strlen(b);
    const size_t lead = 14, cell = 6 + 1 + cw; /* "  expires in  ", "50-60s N" */
    size_t per_line = (W - lead + 2) / (cell + 2);
    if (per_line > 3)
        per_line = 3; /* two even lines of 10-second buckets */
    if (per_line < 1)
        per_line = 1;
    fputs("  expires in  ", f);
    for (int k = 0, i = 0; k < TW_EXPIRY_BUCKETS; k += 2, i++) {
        char span[16];
        snprintf(span, sizeof(span), "%d-%ds", k * 5, k * 5 + 10);
        if (i && i % per_line == 0)
            fprintf(f, "\n%*s", (int)lead, "");
        else if (i)
            fputs("  ", f);
        twx_count(b, r->tw_expiry[k] + r->tw_expiry[k + 1]);
        bool last = k + 2 >= TW_EXPIRY_BUCKETS || (i + 1) % per_line == 0;
        fprintf(f, "%6s %s", span, b);
        if (!last)
            fprintf(f, "%*s", (int)(cw - strlen(b)), "");
    }
    fputc('\n', f);
}

static void memory(FILE *f, const struct tw_report *r)
{
    char b1[TWX_NUM_LEN], b2[TWX_NUM_LEN];
    const struct tw_kernel *k = &r->kernel;
    unsigned size[2] = {k->tw_slab_v4 ? k->tw_slab_v4 : 256, k->tw_slab_v6 ? k->tw_slab_v6 : 256};
    char objs[128] = "";
    size_t o = 0;
    if (size[0] == size[1]) /* one term when the object sizes agree */
        o = (size_t)snprintf(objs, sizeof(objs), "%s x %u B",
                             twx_count(b1, r->tw_slab_objects[0] + r->tw_slab_objects[1]),
                             size[0]);
    for (int fam = 0; fam < 2 && size[0] != size[1]; fam++) {
        if (!r->tw_slab_objects[fam] && (fam || r->tw_slab_objects[1]))
            continue;
        o += (size_t)snprintf(objs + o, sizeof(objs) - o, "%s%s x %u B", o ? " + " : "",
                              twx_count(b1, r->tw_slab_objects[fam]), size[fam]);
    }
    struct twx_flow w;
    twx_flow_begin(&w, f, W, 2, 4);
    twx_flow_putf(&w, NULL, "memory %s of slab", twx_bytes(b2, r->tw_slab_bytes));
    twx_flow_putf(&w, " ", "(%s)", objs);
    if (r->bind_bytes)
        twx_flow_putf(&w, " ", "+ at least %s of bind buckets", twx_bytes(b1, r->bind_bytes));
    if (!r->slab_measured)
        twx_flow_put(&w, " ", "(slab size assumed)");
    twx_flow_end(&w);
}

static void time_wait(FILE *f, const struct tw_report *r, const struct stat_view *v)
{
    const struct tw_kernel *k = &r->kernel;
    char b1[TWX_NUM_LEN], b2[TWX_NUM_LEN];
    struct twx_flow w;
    heading(f, v, "TIME_WAIT");
    twx_flow_begin(&w, f, W, 2, 4);
    twx_flow_putf(&w, NULL, "%s %s:", twx_count(b1, r->tw_total),
                  twx_plural(r->tw_total, "socket", "sockets"));
    twx_flow_putf(&w, " ", "client-side %s;", twx_count(b1, r->tw_client));
    twx_flow_putf(&w, " ", "server-side %s%s", twx_count(b1, r->tw_server),
                  r->fw2_minisocks ? ";" : "");
    if (r->fw2_minisocks)
        twx_flow_putf(&w, " ", "+%s FIN_WAIT2 %s", twx_count(b1, r->fw2_minisocks),
                      twx_plural(r->fw2_minisocks, "minisock", "minisocks"));
    twx_flow_end(&w);
    if (r->sockstat_checked)
        fprintf(f, "  kernel count (sockstat tw) %s: %s%s%s\n",
                twx_count(b1, (uint64_t)k->sock_tw), c(v, r->sockstat_agrees ? C_GRN : C_RED),
                r->sockstat_agrees ? "agrees with the dump" : "DIFFERS from the dump",
                c(v, C_OFF));
    else if (k->sock_tw >= 0)
        fprintf(f, "  kernel count (sockstat tw, whole namespace) %s\n",
                twx_count(b1, (uint64_t)k->sock_tw));
    if (r->tw_total) {
        expiry(f, r);
        fprintf(f, "  client-side TIME_WAIT whose timer ends within 10 s: %s\n",
                twx_count(b1, r->tw_freed_10s));
    }
    memory(f, r);
    if (k->max_tw_buckets > 0) { /* wraps: a 10-digit limit and FULL pass 80 columns */
        twx_flow_begin(&w, f, W, 2, 4);
        twx_flow_putf(&w, NULL, "tcp_max_tw_buckets %s:",
                      twx_count(b1, (uint64_t)k->max_tw_buckets));
        twx_flow_putf(&w, " ", "%s used", pct_str(b2, sizeof(b2), r->max_tw_pct));
        if (r->max_tw_pct >= 100.0)
            twx_flow_words(&w, "- FULL: new TIME_WAIT sockets are dropped");
        twx_flow_end(&w);
    } else if (k->max_tw_buckets == 0)
        fprintf(f, "  tcp_max_tw_buckets 0: closing sockets skip TIME_WAIT\n");
    else
        fprintf(f, "  tcp_max_tw_buckets absent (%s in sockstat)\n",
                k->sock_tw >= 0 ? twx_count(b2, (uint64_t)k->sock_tw) : "none");
}

/* "tcp_tw_reuse=1", or "tcp_tw_reuse absent" for a sysctl the kernel lacks. */
static void sysctl_piece(struct twx_flow *w, const char *name, long val, const char *unit)
{
    if (val < 0)
        twx_flow_putf(w, "  ", "%s absent", name);
    else
        twx_flow_putf(w, "  ", "%s=%ld%s", name, val, unit);
}

/* What "-" in RECLAIM means with these settings. */
static const char *no_reuse_reason(const struct tw_kernel *k)
{
    if (k->tw_reuse < 0)
        return "-: tcp_tw_reuse is absent, so twkit assumes no reuse.";
    if (k->tw_reuse == 0)
        return "-: tcp_tw_reuse=0, reuse is off.";
    if (k->tw_reuse == 2)
        return "-: tcp_tw_reuse=2 applies to loopback destinations only.";
    return "-: tcp_tw_reuse does not apply to this destination.";
}

static void legend(FILE *f, const struct stat_view *v, const char *text)
{
    struct twx_flow w;
    fputs(c(v, C_DIM), f);
    twx_flow_begin(&w, f, W, 2, 4);
    twx_flow_words(&w, text);
    fputs(c(v, C_OFF), f);
    twx_flow_end(&w);
}

static void pressure(FILE *f, const struct tw_report *r, const struct stat_view *v)
{
    const struct tw_kernel *k = &r->kernel;
    char b1[TWX_NUM_LEN], b2[TWX_NUM_LEN], b3[TWX_NUM_LEN];
    struct twx_flow w;
    heading(f, v, "EPHEMERAL PORTS");
    twx_flow_begin(&w, f, W, 2, 4);
    twx_flow_putf(&w, NULL, "range %d-%d: %s ports", k->port_lo, k->port_hi,
                  twx_count(b1, r->range_size));
    if (r->range_reserved)
        twx_flow_putf(&w, " ", "- %s reserved", twx_count(b1, r->range_reserved));
    if (r->range_listeners)
        twx_flow_putf(&w, " ", "- %s listening", twx_count(b1, r->range_listeners));
    if (r->range_parity)
        twx_flow_put(&w, " ", "- 1 (same-parity ends)");
    twx_flow_putf(&w, " ", "= %s effective per destination", twx_count(b1, r->effective_range));
    twx_flow_end(&w);
    twx_flow_begin(&w, f, W, 2, 2);
    sysctl_piece(&w, "tcp_tw_reuse", k->tw_reuse, "");
    sysctl_piece(&w, "tcp_tw_reuse_delay", k->tw_reuse_delay_ms, " ms");
    sysctl_piece(&w, "tcp_timestamps", k->timestamps, "");
    twx_flow_end(&w);
    if (r->host_ports_in_use) {
        fprintf(f, "  host-wide: %s of %s ports held (%s), each counted once\n",
                twx_count(b1, r->host_ports_in_use), twx_count(b3, r->effective_range),
                pct_str(b2, sizeof(b2), r->host_pct));
        if (r->host_pct > TW_PRESSURE_HIGH)
            legend(f, v, "bind() before connect() without IP_BIND_ADDRESS_NO_PORT needs a port "
                         "that no socket holds, and connect() skips the ports that bind() took.");
    }
    size_t rows = stat_pressure_rows(r, v->top);
    if (!rows) {
        fprintf(f, "  no client-side connections using the range\n");
        return;
    }
    typedef char reclaim_cell[2 * TWX_NUM_LEN + 4];
    reclaim_cell *rc = malloc(rows * sizeof(*rc));
    if (!rc) {
        fprintf(f, "  (out of memory)\n");
        return;
    }
    size_t rw = 7, iw = 7, tw = 7, pw = 6;
    bool bound = false, range = false, off = false;
    for (size_t i = 0; i < rows; i++) {
        const struct tw_pressure *p = &r->pressure[i];
        if (!p->reuse_applies) {
            snprintf(rc[i], sizeof(rc[i]), "-");
            off = true;
        } else if (p->reclaimable_max > p->reclaimable) {
            /* a bound: the socket table does not show the peer's timestamps */
            if (p->reclaimable) {
                snprintf(rc[i], sizeof(rc[i]), "%s..%s", twx_count(b1, p->reclaimable),
                         twx_count(b2, p->reclaimable_max));
                range = true;
            } else {
                snprintf(rc[i], sizeof(rc[i]), "<=%s", twx_count(b2, p->reclaimable_max));
                bound = true;
            }
        } else {
            snprintf(rc[i], sizeof(rc[i]), "%s", twx_count(b1, p->reclaimable));
        }
        if (strlen(rc[i]) > rw)
            rw = strlen(rc[i]);
        /* a recording can hold more than a range's worth: widen, never cut */
        if (strlen(twx_count(b1, p->in_use)) > iw)
            iw = strlen(b1);
        if (strlen(twx_count(b1, p->time_wait)) > tw)
            tw = strlen(b1);
        if (strlen(pct_str(b1, sizeof(b1), p->pct)) > pw)
            pw = strlen(b1);
    }
    /* 2 + label + " IN USE" 1+iw + " TW" 1+tw + " RECLAIM" 1+rw + " PCT" 1+pw + " BAR" 9:
     * 80 with the usual widths (7, 7, 7, 6) */
    size_t lw = W - 2 - (1 + iw) - (1 + tw) - (1 + rw) - (1 + pw) - 9;
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "%*s %*s %*s %*s", (int)iw, "IN USE", (int)tw, "TW", (int)rw,
             "RECLAIM", (int)pw + 3, "PRESSURE");
    row(f, "DESTINATION (from -> to)", lw, hdr);
    for (size_t i = 0; i < rows; i++) {
        const struct tw_pressure *p = &r->pressure[i];
        char l[64], rr[64], h[160], cells[256], pb[16], bb[64];
        hostport(l, sizeof(l), &p->laddr, -1);
        hostport(rr, sizeof(rr), &p->raddr, p->rport);
        snprintf(h, sizeof(h), "%s->%s", l, rr);
        bar(bb, sizeof(bb), v, p->pct, 8);
        snprintf(cells, sizeof(cells), "%*s %*s %*s %*s %s", (int)iw, twx_count(b1, p->in_use),
                 (int)tw, twx_count(b2, p->time_wait), (int)rw, rc[i], (int)pw,
                 pct_str(pb, sizeof(pb), p->pct), bb);
        row(f, h, lw, cells);
    }
    free(rc);
    if (r->n_pressure > rows)
        fprintf(f, "  %s(%s more %s)%s\n", c(v, C_DIM), twx_count(b3, r->n_pressure - rows),
                twx_plural(r->n_pressure - rows, "destination", "destinations"), c(v, C_OFF));
    legend(f, v, "RECLAIM: TIME_WAIT sockets that tcp_tw_reuse lets connect() take over now.");
    if (bound)
        legend(f, v, "<=N: up to N, if the peer sent TCP timestamps; the socket table does not "
                     "show that, so PRESSURE still counts them as held.");
    if (range)
        legend(f, v, "A..B: A known to be reusable, up to B if the other peers sent TCP "
                     "timestamps; PRESSURE subtracts only A.");
    if ((bound || range) && k->timestamps == 0)
        legend(f, v, "tcp_timestamps=0 now: new connections get no timestamps, so only the "
                     "TIME_WAIT of connections made before it was set can be reclaimed.");
    if (off)
        legend(f, v, no_reuse_reason(k));
}

static void top_table(FILE *f, const struct stat_view *v, const char *title, const struct tw_top *t,
                      enum tw_top_kind kind, uint64_t total)
{
    char b[TWX_NUM_LEN], h[192], pb[16], cells[64];
    if (!t->n)
        return;
    size_t cw = 10;
    for (size_t i = 0; i < t->n; i++)
        if (strlen(twx_count(b, t->rows[i].count)) > cw)
            cw = strlen(b);
    if (strlen(twx_count(b, t->other)) > cw)
        cw = strlen(b);
    size_t lw = 76 - 2 - 1 - cw - 1 - 6; /* 56 with 10-column counts */
    heading(f, v, title);
    for (size_t i = 0; i < t->n; i++) {
        const struct tw_top_row *row_ = &t->rows[i];
        char l[64], rr[64];
        switch (kind) {
        case TW_TOP_LPORT:
            snprintf(h, sizeof(h), "%u%s", row_->lport, row_->server_side ? " (listening)" : "");
            break;
        case TW_TOP_RADDR:
            hostport(h, sizeof(h), &row_->raddr, -1);
            break;
        case TW_TOP_LADDR:
            hostport(h, sizeof(h), &row_->laddr, -1);
            break;
        default:
            hostport(l, sizeof(l), &row_->laddr, -1);
            if (row_->server_side)
                snprintf(h, sizeof(h), "%s -> %s (clients)", l,
                         hostport(rr, sizeof(rr), &row_->raddr, -1));
            else
                snprintf(h, sizeof(h), "%s -> %s", l,
                         hostport(rr, sizeof(rr), &row_->raddr, row_->rport));
        }
        snprintf(cells, sizeof(cells), "%*s %6s", (int)cw, twx_count(b, row_->count),
                 pct_str(pb, sizeof(pb), total ? 100.0 * (double)row_->count / (double)total : 0));
        row(f, h, lw, cells);
    }
    if (t->other) {
        snprintf(h, sizeof(h), "%sother (%s more)%s", c(v, C_DIM),
                 twx_count(b, t->distinct - t->n), c(v, C_OFF));
        snprintf(cells, sizeof(cells), "%*s %6s", (int)cw, twx_count(b, t->other),
                 pct_str(pb, sizeof(pb), total ? 100.0 * (double)t->other / (double)total : 0));
        row(f, h, lw, cells);
    }
}

void stat_render_table(FILE *f, const struct stat_ns *ns, const struct stat_view *v)
{
    const struct tw_report *r = ns->r;
    header(f, ns, v);
    sockets(f, r, v);
    if (r->state_mask & TW_STATE_BIT(TW_TIME_WAIT))
        time_wait(f, r, v);
    pressure(f, r, v);
    if (r->tw_total) {
        top_table(f, v, "TIME_WAIT BY LOCAL PORT", &r->top[TW_TOP_LPORT], TW_TOP_LPORT, r->tw_total);
        top_table(f, v, "TIME_WAIT BY REMOTE ADDRESS", &r->top[TW_TOP_RADDR], TW_TOP_RADDR,
                  r->tw_total);
        top_table(f, v, "TIME_WAIT BY DESTINATION", &r->top[TW_TOP_DEST], TW_TOP_DEST, r->tw_total);
        top_table(f, v, "TIME_WAIT BY LOCAL ADDRESS", &r->top[TW_TOP_LADDR], TW_TOP_LADDR,
                  r->tw_total);
    }
}
