/*
 * view.c — what `twkit watch` shows, as lines: the header, the table of
 * destinations, the detail of an expanded destination and the footnotes.
 * The curses view and the --batch text both print these lines (the curses
 * view adds attributes by line kind and level), so the two never disagree.
 *
 * Everything fits 80 columns.  Column widths follow the values shown, the
 * sparkline takes the room left (10 to 60 cells, each the mean of 60/cells
 * seconds), and a destination wider than its column is written whole on a
 * line of its own with its numbers on the next (broken after its '>' when
 * wider than the screen): nothing is cut.  Strings
 * from outside (namespace labels, which can carry process names, and
 * fixture paths) go through twx_esc.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twx/text.h"
#include "watch/watch.h"

#define LINE 512
/* The sparkline's column: new TIME_WAIT per second over the last 60 s.  One
 * label at every width (the narrowest sparkline has 10 cells). */
#define SPARK_LABEL "TREND 60 S"

static const unsigned spark_cells[] = {60, 30, 20, 15, 12, 10};

/* snprintf into a line whose parts were sized by the layout. */
static void __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* ---- header ------------------------------------------------------------------ */

/* Emit text in lines of at most width columns, broken at double spaces
 * (the separators between items), continuations indented by two. */
static void emit_wrap_in(watch_emit emit, void *ctx, enum watch_line kind, int level, int width,
                         int indent, const char *text)
{
    char l[LINE];
    if (width > LINE - 1)
        width = LINE - 1;
    const char *p = text;
    bool first = true;
    while (*p) {
        int avail = width - (first ? 0 : indent);
        size_t n = strlen(p);
        if ((int)n > avail && avail > 0) {
            /* break between items (two spaces), else between words, else
             * mid-word: the rest goes on the next line, nothing is lost */
            const char *cut = NULL, *word = NULL;
            for (const char *q = p + 1; q < p + avail && q[1]; q++) {
                if (q[0] == ' ' && q[1] == ' ')
                    cut = q;
                else if (q[0] == ' ')
                    word = q;
            }
            n = cut ? (size_t)(cut - p) : word ? (size_t)(word - p) : (size_t)avail;
        }
        fmt(l, sizeof(l), "%*s%.*s", first ? 0 : indent, "", (int)n, p);
        emit(ctx, kind, 0, level, l);
        p += n;
        while (*p == ' ')
            p++;
        first = false;
    }
}

static void emit_wrap(watch_emit emit, void *ctx, enum watch_line kind, int level, int width,
                      const char *text)
{
    emit_wrap_in(emit, ctx, kind, level, width, 2, text);
}

static void ctr_cell(char *buf, size_t len, const struct tw_counter_rates *cr, int id, int w)
{
    if (!cr->have[id] || cr->span_s[w] <= 0)
        snprintf(buf, len, "-");
    else
        watch_rate_str(buf, len, cr->per_s[id][w]);
}

void watch_view_header(const struct watch *w, const struct watch_ns *ns, int width,
                       watch_emit emit, void *ctx)
{
    char l[LINE], a[64], b[64], c[64];
    const struct tw_report *r = ns->rep;

    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char clock[16];
    strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    char every[32], took[64] = "";
    snprintf(every, sizeof(every), "%g s", w->a->interval);
    if (r)
        snprintf(took, sizeof(took), "  %s %.0f ms", tw_source_kind_name(r->source),
                 ns->tick_s * 1000);
    /* the label may be a long path: sized to it, never cut */
    size_t ll = twx_esc_len(ns->label);
    char *lab = malloc(ll), *title = malloc(ll + 160);
    if (lab && title) {
        twx_esc(lab, ll, ns->label);
        if (ns->inode)
            fmt(title, ll + 160, "twkit watch  %s (net:[%llu])  every %s%s  %s", lab,
                (unsigned long long)ns->inode, every, took, clock);
        else
            fmt(title, ll + 160, "twkit watch  %s  every %s%s  %s", lab, every, took, clock);
        emit_wrap(emit, ctx, WL_TITLE, 0, width, title);
    } else {
        emit(ctx, WL_TITLE, 0, 0, "twkit watch (out of memory)");
    }
    free(lab);
    free(title);
    if (!r) {
        emit_wrap(emit, ctx, WL_WARN, 2, width, ns->err[0] ? ns->err : "no sample yet");
        return;
    }
    const struct tw_kernel *k = &r->kernel;
    const struct tw_fc_plan *plan = tw_rate_engine_plan(ns->eng);

    int n = snprintf(l, sizeof(l), "TIME_WAIT %s (dump)", twx_count(a, r->tw_total));
    if (k->sock_tw >= 0)
        n += snprintf(l + n, sizeof(l) - n, ", %s (sockstat)",
                      twx_count(b, (uint64_t)k->sock_tw));
    if (k->max_tw_buckets > 0) {
        n += snprintf(l + n, sizeof(l) - n, "  max_tw_buckets %s: %.1f%%",
                      twx_count(c, (uint64_t)k->max_tw_buckets), r->max_tw_pct);
        if (plan->full_in_s == 0)
            n += snprintf(l + n, sizeof(l) - n, " FULL");
        else if (plan->full_in_s > 0) {
            struct tw_fc_result fr = {.state = TW_FC_AT, .seconds = plan->full_in_s};
            n += snprintf(l + n, sizeof(l) - n, ", full in %s", watch_tte_str(a, sizeof(a), &fr));
        }
    }
    emit_wrap(emit, ctx, r->max_tw_pct >= 90 || plan->full_in_s >= 0 ? WL_WARN : WL_INFO,
              r->max_tw_pct >= 100 ? 2 : plan->full_in_s >= 0 ? 1 : 0, width, l);

    n = snprintf(l, sizeof(l), "ports %d-%d: %s, effective %s", k->port_lo, k->port_hi,
                 twx_count(a, r->range_size),
                 twx_count(b, r->effective_range));
    if (r->range_reserved)
        n += snprintf(l + n, sizeof(l) - n, " (-%u reserved", r->range_reserved);
    if (r->range_listeners)
        n += snprintf(l + n, sizeof(l) - n, "%s-%u listening", r->range_reserved ? ", " : " (",
                      r->range_listeners);
    if (r->range_parity)
        n += snprintf(l + n, sizeof(l) - n, "%s-1 same-parity ends",
                      r->range_reserved || r->range_listeners ? ", " : " (");
    if (r->range_reserved || r->range_listeners || r->range_parity)
        snprintf(l + n, sizeof(l) - n, ")");
    emit_wrap(emit, ctx, WL_INFO, 0, width, l);
    n = snprintf(l, sizeof(l), "tcp_tw_reuse %d", k->tw_reuse);
    if (k->tw_reuse_delay_ms >= 0)
        n += snprintf(l + n, sizeof(l) - n, "  tcp_tw_reuse_delay %d ms", k->tw_reuse_delay_ms);
    snprintf(l + n, sizeof(l) - n, "  tcp_timestamps %d", k->timestamps);
    emit_wrap(emit, ctx, WL_INFO, 0, width, l);

    const struct tw_counter_rates *cr = tw_rate_engine_counters(ns->eng);
    static const int ids[] = {TW_C_TW, TW_C_TW_RECYCLED, TW_C_TW_KILLED, TW_C_TW_OVERFLOW,
                              TW_C_ACTIVE_OPENS, TW_C_ATTEMPT_FAILS};
    snprintf(l, sizeof(l), "%-8s %9s %9s %9s %9s %9s %9s", "per s", "TW", "recycled", "killed",
             "overflow", "connects", "failed");
    emit(ctx, WL_INFO, 0, 0, l);
    for (unsigned wi = 0; wi < TW_RATE_WINDOWS; wi++) {
        char lbl[24];
        unsigned want = tw_rate_window_s(wi);
        if (cr->span_s[wi] > 0 && cr->span_s[wi] < want * 0.9)
            snprintf(lbl, sizeof(lbl), "%us(%.0f)", want, cr->span_s[wi]);
        else
            snprintf(lbl, sizeof(lbl), "%us", want);
        n = snprintf(l, sizeof(l), "%-8s", lbl);
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            ctr_cell(a, sizeof(a), cr, ids[i], (int)wi);
            n += snprintf(l + n, sizeof(l) - n, " %9s", a);
        }
        int lvl = cr->have[TW_C_TW_OVERFLOW] && cr->per_s[TW_C_TW_OVERFLOW][wi] > 0 ? 1 : 0;
        emit(ctx, lvl ? WL_WARN : WL_INFO, 0, lvl, l);
    }
    bool full = r->effective_range && r->host_ports_in_use >= r->effective_range;
    for (size_t i = 0; i < r->n_pressure && !full; i++)
        full = r->pressure[i].pct >= 100.0;
    if (full)
        emit_wrap(emit, ctx, WL_WARN, 1, width,
                  "ports full: a connect() refused for want of a port (EADDRNOTAVAIL, or "
                  "EADDRINUSE at bind()) sends no SYN, so neither connects (ActiveOpens) nor "
                  "failed (AttemptFails) counts it");
}

/* ---- table ------------------------------------------------------------------------ */

static int level_of(const struct tw_dest_rate *d)
{
    const struct tw_fc_result *f = &d->forecast.fc;
    if (d->p->pct > 90 || f->state == TW_FC_NOW || (f->state == TW_FC_AT && f->seconds < 10))
        return 2;
    if (d->p->pct > TW_PRESSURE_HIGH || (f->state == TW_FC_AT && f->seconds < 60))
        return 1;
    return 0;
}

struct cells {
    char dest[160], used[32], tw[32], recl[40], press[16], rate[32], tte[24];
};

static void cells_of(const struct watch_ns *ns, const struct tw_dest_rate *d, struct cells *c)
{
    watch_dest_str(c->dest, sizeof(c->dest), d->p);
    twx_count(c->used, d->p->in_use);
    twx_count(c->tw, d->p->time_wait);
    watch_recl_str(c->recl, sizeof(c->recl), d->p, ns->rep->reuse_exact);
    snprintf(c->press, sizeof(c->press), "%.1f%%", d->p->pct);
    watch_rate_str(c->rate, sizeof(c->rate), d->new_per_s[1]);
    watch_tte_str(c->tte, sizeof(c->tte), &d->forecast.fc);
    if (watch_bound_differs(&d->forecast))
        strcat(c->tte, "+");
}

static int maxi(int a, int b)
{
    return a > b ? a : b;
}

void watch_view_layout(struct watch_layout *lay, const struct watch_ns *ns,
                       const struct watch_rows *rows, size_t first, size_t count, int width,
                       bool utf8)
{
    memset(lay, 0, sizeof(*lay));
    lay->width = width;
    lay->utf8 = utf8;
    lay->w_used = 4;  /* USED */
    lay->w_tw = 2;    /* TW */
    lay->w_recl = 4;  /* RECL */
    lay->w_press = 5; /* PRESS */
    lay->w_rate = 5;  /* NEW/S */
    lay->w_tte = 7;   /* EXHAUST */
    int dmax = 11;    /* DESTINATION */
    const struct tw_dest_rate *d;
    size_t nd = ns->eng ? tw_rate_engine_dests(ns->eng, &d) : 0;
    for (size_t i = first; i < rows->n && i < first + count; i++) {
        if (rows->idx[i] >= nd)
            continue;
        struct cells c;
        cells_of(ns, &d[rows->idx[i]], &c);
        dmax = maxi(dmax, (int)strlen(c.dest));
        lay->w_used = maxi(lay->w_used, (int)strlen(c.used));
        lay->w_tw = maxi(lay->w_tw, (int)strlen(c.tw));
        lay->w_recl = maxi(lay->w_recl, (int)strlen(c.recl));
        lay->w_press = maxi(lay->w_press, (int)strlen(c.press));
        lay->w_rate = maxi(lay->w_rate, (int)strlen(c.rate));
        lay->w_tte = maxi(lay->w_tte, (int)strlen(c.tte));
    }
    int fixed = lay->w_used + lay->w_tw + lay->w_recl + lay->w_press + lay->w_rate + lay->w_tte + 7;
    lay->spark = 10;
    for (size_t i = 0; i < sizeof(spark_cells) / sizeof(spark_cells[0]); i++)
        if (width - fixed - (int)spark_cells[i] >= dmax) {
            lay->spark = spark_cells[i];
            break;
        }
    lay->destw = width - fixed - (int)lay->spark;
    if (lay->destw > dmax)
        lay->destw = dmax;
    if (lay->destw < 11)
        lay->destw = 11;
}

static void numbers(const struct watch_layout *lay, const struct cells *c, const char *spark,
                    char *out, size_t len)
{
    snprintf(out, len, "%*s %*s %*s %*s %*s %s %s", lay->w_used, c->used, lay->w_tw, c->tw,
             lay->w_recl, c->recl, lay->w_press, c->press, lay->w_rate, c->rate, spark, c->tte);
}

void watch_view_thead(const struct watch_layout *lay, watch_emit emit, void *ctx)
{
    char l[LINE], sp[80];
    snprintf(sp, sizeof(sp), "%-*s", (int)lay->spark, SPARK_LABEL);
    snprintf(l, sizeof(l), "%-*s %*s %*s %*s %*s %*s %s %s", lay->destw, "DESTINATION",
             lay->w_used, "USED", lay->w_tw, "TW", lay->w_recl, "RECL", lay->w_press, "PRESS",
             lay->w_rate, "NEW/S", sp, "EXHAUST");
    emit(ctx, WL_THEAD, 0, 0, l);
}

int watch_view_row(const struct watch_layout *lay, const struct watch_ns *ns, size_t di,
                   size_t row, watch_emit emit, void *ctx)
{
    const struct tw_dest_rate *d;
    size_t nd = tw_rate_engine_dests(ns->eng, &d);
    if (di >= nd)
        return 0;
    struct cells c;
    cells_of(ns, &d[di], &c);
    float hist[TW_HISTORY_S];
    tw_rate_engine_history(ns->eng, di, hist);
    char spark[TW_HISTORY_S * 4 + 1], nums[LINE], l[LINE];
    watch_spark(spark, sizeof(spark), hist, lay->spark, lay->utf8);
    numbers(lay, &c, spark, nums, sizeof(nums));
    int lvl = level_of(&d[di]);
    if ((int)strlen(c.dest) <= lay->destw) {
        fmt(l, sizeof(l), "%-*s %s", lay->destw, c.dest, nums);
        emit(ctx, WL_ROW, row, lvl, l);
        return 1;
    }
    /* Wider than its column: on lines of its own, whole.  Wider than the
     * screen too (two long IPv6 ends): broken after the '>' between the
     * local and the remote end, the rest indented by two. */
    int n = 0;
    const char *p = c.dest;
    while (*p) {
        int avail = lay->width - (n ? 2 : 0);
        int len = (int)strlen(p);
        int cut = len;
        if (len > avail) {
            const char *gt = NULL;
            for (const char *q = p; q < p + avail; q++)
                if (*q == '>')
                    gt = q;
            cut = gt ? (int)(gt - p) + 1 : avail > 0 ? avail : len;
        }
        fmt(l, sizeof(l), "%s%.*s", n ? "  " : "", cut, p);
        emit(ctx, n ? WL_ROW_CONT : WL_ROW, row, lvl, l);
        n++;
        p += cut;
    }
    fmt(l, sizeof(l), "%*s %s", lay->destw, "", nums);
    emit(ctx, WL_ROW_CONT, row, lvl, l);
    return n + 1;
}

/* ---- detail ------------------------------------------------------------------------- */

static void fc_words(char *buf, size_t len, const struct tw_fc_result *f)
{
    char t[32];
    switch (f->state) {
    case TW_FC_NOW: snprintf(buf, len, "no port left now"); break;
    case TW_FC_NEVER: snprintf(buf, len, "never exhausts"); break;
    case TW_FC_BEYOND: snprintf(buf, len, "not within %d min, but does not settle",
                                TW_FORECAST_HORIZON_S / 60); break;
    case TW_FC_AT: snprintf(buf, len, "exhausts in %s", watch_tte_str(t, sizeof(t), f)); break;
    }
}

static const char *limit_words(enum tw_fc_limit l)
{
    return l == TW_FC_LIMIT_REUSE_DELAY ? "range / tcp_tw_reuse_delay" : "range / 60 s";
}

/* Detail lines: wrapped like the header, continuations under the values. */
static void wrapped(watch_emit emit, void *ctx, int width, const char *text)
{
    emit_wrap_in(emit, ctx, WL_EXPAND, 0, width, 11, text);
}

void watch_view_expand(const struct watch_layout *lay, const struct watch_ns *ns, size_t di,
                       watch_emit emit, void *ctx)
{
    const struct tw_dest_rate *all;
    size_t nd = tw_rate_engine_dests(ns->eng, &all);
    if (di >= nd)
        return;
    const struct tw_dest_rate *d = &all[di];
    const struct tw_pressure *p = d->p;
    char l[2048], a[64], b[64], c[64];
    int n = snprintf(l, sizeof(l), "  expiry ");
    for (int s = 0; s < TW_EXPIRY_SECONDS; s += 10) {
        uint64_t k = 0;
        for (int i = s; i < s + 10; i++)
            k += p->tw_expiry[i];
        n += snprintf(l + n, sizeof(l) - n, "  %d-%ds %s", s, s + 9, twx_count(a, k));
    }
    wrapped(emit, ctx, lay->width, l);
    char rc[64];
    snprintf(l, sizeof(l), "  ports    established %s  time_wait %s  other %s  reclaimable %s%s",
             twx_count(a, p->established), twx_count(b, p->time_wait),
             twx_count(c, p->other), watch_recl_str(rc, sizeof(rc), p, ns->rep->reuse_exact),
             !p->reuse_applies ? " (tcp_tw_reuse does not apply)"
             : ns->rep->reuse_exact ? "" : " (if the peer sent timestamps)");
    wrapped(emit, ctx, lay->width, l);
    char r1[32], r2[32], r3[32], su[32];
    snprintf(l, sizeof(l), "  new/s    1s %s  10s %s  60s %s  sustainable %s/s (%s)",
             watch_rate_str(r1, sizeof(r1), d->new_per_s[0]), watch_rate_str(r2, sizeof(r2), d->new_per_s[1]),
             watch_rate_str(r3, sizeof(r3), d->new_per_s[2]),
             watch_rate_str(su, sizeof(su), d->forecast.fc.sustainable_per_s),
             limit_words(d->forecast.fc.limit));
    wrapped(emit, ctx, lay->width, l);
    char fw[96], bw[96];
    fc_words(fw, sizeof(fw), &d->forecast.fc);
    n = snprintf(l, sizeof(l), "  forecast %s at %s/s", fw, watch_rate_str(r1, sizeof(r1), d->forecast.rate));
    if (d->forecast.fc.capped)
        n += snprintf(l + n, sizeof(l) - n, ", held down by tcp_max_tw_buckets");
    if (watch_bound_differs(&d->forecast)) {
        fc_words(bw, sizeof(bw), &d->forecast.bound);
        snprintf(l + n, sizeof(l) - n, "  bound: %s if the peer sent timestamps (unverified)", bw);
    }
    wrapped(emit, ctx, lay->width, l);
    /* every local address talking to this remote address and port */
    n = snprintf(l, sizeof(l), "  from   ");
    size_t shown = 0;
    for (size_t i = 0; i < nd && n < (int)sizeof(l) - 200; i++) {
        const struct tw_pressure *q = all[i].p;
        if (q->rport != p->rport || memcmp(&q->raddr, &p->raddr, sizeof(q->raddr)))
            continue;
        tw_addr_str(&q->laddr, b, sizeof(b));
        n += snprintf(l + n, sizeof(l) - n, "  %s (%s in use)", b, twx_count(a, q->in_use));
        shown++;
    }
    if (shown)
        wrapped(emit, ctx, lay->width, l);
}

struct counter {
    int n;
};

static void count_line(void *ctx, enum watch_line kind, size_t row, int level, const char *text);

int watch_view_row_lines(const struct watch_layout *lay, const struct watch_ns *ns, size_t di)
{
    struct counter c = {0};
    watch_view_row(lay, ns, di, 0, count_line, &c);
    return c.n ? c.n : 1;
}

static void count_line(void *ctx, enum watch_line kind, size_t row, int level, const char *text)
{
    (void)kind, (void)row, (void)level, (void)text;
    ((struct counter *)ctx)->n++;
}

int watch_view_expand_lines(const struct watch_layout *lay, const struct watch_ns *ns, size_t di)
{
    struct counter c = {0};
    watch_view_expand(lay, ns, di, count_line, &c);
    return c.n;
}

void watch_view_notes(const struct watch_layout *lay, const struct watch_ns *ns, watch_emit emit,
                      void *ctx)
{
    const struct tw_dest_rate *d;
    size_t nd = ns->eng ? tw_rate_engine_dests(ns->eng, &d) : 0;
    bool bound = false;
    for (size_t i = 0; i < nd && !bound; i++)
        bound = watch_bound_differs(&d[i].forecast) ||
                (!ns->rep->reuse_exact && d[i].p->reuse_applies &&
                 d[i].p->reclaimable_max > d[i].p->reclaimable);
    if (bound)
        emit(ctx, WL_NOTE, 0, 0, lay->width >= 100
             ? "RECL <=N, EXHAUST +: only if the peer sent timestamps (netlink cannot see them)"
             : "RECL <=N, EXHAUST +: if the peer sent timestamps (unverified)");
}
