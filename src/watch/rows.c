/*
 * rows.c — the rows `twkit watch` shows, and how every view formats them.
 *
 * Rows are indices into the rate engine's destinations of the last tick:
 * filtered (an address, a CIDR prefix or a remote port), then sorted (worst
 * first by default: no port now, then the soonest exhaustion, then the
 * highest pressure), or kept in a frozen order (nethogs#295: rows that jump
 * around cannot be read) with new destinations appended.  Formatting never
 * cuts a value: a view that lacks the room wraps it.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "watch/watch.h"

static const char *const sort_names[SORT_MAX] = {"exhaustion", "pressure", "new/s",
                                                 "TIME_WAIT", "in use", "destination"};

const char *watch_sort_name(enum watch_sort s)
{
    return s < SORT_MAX ? sort_names[s] : "?";
}

int watch_filter_parse(struct watch_filter *f, const char *text)
{
    memset(f, 0, sizeof(*f));
    const char *t = text;
    while (*t == ' ')
        t++;
    if (!*t)
        return 0; /* empty: no filter */
    snprintf(f->text, sizeof(f->text), "%s", t);
    uint64_t port;
    const char *pp = *t == ':' ? t + 1 : t;
    if (!tw_parse_u64(pp, 1, 65535, &port)) {
        f->on = f->port = true;
        f->portv = (uint16_t)port;
        return 0;
    }
    if (!tw_parse_cidr(t, &f->cidr)) {
        f->on = true;
        return 0;
    }
    memset(f, 0, sizeof(*f));
    return -1;
}

static bool in_prefix(const struct tw_cidr *c, const struct tw_addr *a)
{
    struct tw_query q;
    struct tw_sock s;
    tw_query_init(&q);
    q.n_src = 1;
    q.src[0] = *c;
    memset(&s, 0, sizeof(s));
    s.state = TW_ESTABLISHED;
    s.laddr = *a;
    s.raddr = *a;
    return tw_query_match(&q, &s);
}

static bool filter_match(const struct watch_filter *f, const struct tw_pressure *p)
{
    if (!f || !f->on)
        return true;
    if (f->port)
        return p->rport == f->portv;
    return in_prefix(&f->cidr, &p->laddr) || in_prefix(&f->cidr, &p->raddr);
}

/* ---- order ------------------------------------------------------------------- */

struct order {
    const struct tw_dest_rate *d;
    enum watch_sort sort;
    const long *pos; /* frozen positions by destination index, or NULL */
};

static int dest_cmp(const struct tw_pressure *a, const struct tw_pressure *b)
{
    int c = memcmp(&a->laddr, &b->laddr, sizeof(a->laddr));
    if (!c)
        c = memcmp(&a->raddr, &b->raddr, sizeof(a->raddr));
    if (!c)
        c = (int)a->rport - (int)b->rport;
    return c;
}

/* Seconds to exhaustion for ordering: now 0, at t, beyond 1e6, never 1e9. */
static double tte_key(const struct tw_fc_result *r)
{
    switch (r->state) {
    case TW_FC_NOW: return 0;
    case TW_FC_AT: return r->seconds;
    case TW_FC_BEYOND: return 1e6;
    default: return 1e9;
    }
}

#define DESC(x, y) do { if ((x) != (y)) return (x) > (y) ? -1 : 1; } while (0)
#define ASC(x, y) do { if ((x) != (y)) return (x) < (y) ? -1 : 1; } while (0)

static int row_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct order *o = ctx;
    const struct tw_dest_rate *a = &o->d[*(const size_t *)pa], *b = &o->d[*(const size_t *)pb];
    switch (o->sort) {
    case SORT_EXHAUST:
        ASC(tte_key(&a->forecast.fc), tte_key(&b->forecast.fc));
        DESC(a->p->pct, b->p->pct);
        break;
    case SORT_PRESSURE: DESC(a->p->pct, b->p->pct); break;
    case SORT_RATE: DESC(a->new_per_s[1], b->new_per_s[1]); break;
    case SORT_TW: DESC(a->p->time_wait, b->p->time_wait); break;
    case SORT_INUSE: DESC(a->p->in_use, b->p->in_use); break;
    default: break;
    }
    return dest_cmp(a->p, b->p);
}

void watch_key_of(struct watch_key *k, const struct tw_pressure *p)
{
    memset(k, 0, sizeof(*k));
    k->l = p->laddr;
    k->r = p->raddr;
    k->rport = p->rport;
}

static int key_cmp(const void *a, const void *b)
{
    /* everything but pos */
    return memcmp(a, b, offsetof(struct watch_key, pos));
}

static long frozen_pos(const struct watch_rows *rows, const struct tw_pressure *p)
{
    struct watch_key k;
    watch_key_of(&k, p);
    const struct watch_key *hit = bsearch(&k, rows->keys, rows->nkeys, sizeof(k), key_cmp);
    return hit ? (long)hit->pos : -1;
}

static int frozen_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct order *o = ctx;
    long a = o->pos[*(const size_t *)pa], b = o->pos[*(const size_t *)pb];
    if (a >= 0 && b >= 0)
        return a < b ? -1 : a > b;
    if (a >= 0 || b >= 0)
        return a >= 0 ? -1 : 1; /* new destinations after the frozen ones */
    return row_cmp(pa, pb, ctx);
}

int watch_rows_build(struct watch_rows *rows, struct tw_rate_engine *eng, enum watch_sort sort,
                     const struct watch_filter *f)
{
    const struct tw_dest_rate *d = NULL;
    size_t n = eng ? tw_rate_engine_dests(eng, &d) : 0;
    rows->n = 0;
    if (n > rows->cap) {
        size_t *ni = realloc(rows->idx, n * sizeof(*ni));
        if (!ni)
            return -1;
        rows->idx = ni;
        rows->cap = n;
    }
    for (size_t i = 0; i < n; i++)
        if (filter_match(f, d[i].p))
            rows->idx[rows->n++] = i;
    struct order o = {.d = d, .sort = sort};
    if (rows->frozen && rows->nkeys) {
        long *pos = malloc((n ? n : 1) * sizeof(*pos));
        if (!pos)
            return -1;
        for (size_t i = 0; i < rows->n; i++)
            pos[rows->idx[i]] = frozen_pos(rows, d[rows->idx[i]].p);
        o.pos = pos;
        if (rows->n > 1)
            qsort_r(rows->idx, rows->n, sizeof(*rows->idx), frozen_cmp, &o);
        free(pos);
    } else if (rows->n > 1) {
        qsort_r(rows->idx, rows->n, sizeof(*rows->idx), row_cmp, &o);
    }
    return 0;
}

void watch_rows_freeze(struct watch_rows *rows, const struct tw_rate_engine *eng, bool on)
{
    free(rows->keys);
    rows->keys = NULL;
    rows->nkeys = 0;
    rows->frozen = on;
    if (!on || !eng)
        return;
    const struct tw_dest_rate *d;
    tw_rate_engine_dests(eng, &d);
    rows->keys = calloc(rows->n ? rows->n : 1, sizeof(*rows->keys));
    if (!rows->keys)
        return;
    for (size_t i = 0; i < rows->n; i++) {
        watch_key_of(&rows->keys[i], d[rows->idx[i]].p);
        rows->keys[i].pos = (uint32_t)i;
    }
    rows->nkeys = rows->n;
    qsort(rows->keys, rows->nkeys, sizeof(*rows->keys), key_cmp);
}

void watch_rows_free(struct watch_rows *rows)
{
    free(rows->idx);
    free(rows->keys);
    memset(rows, 0, sizeof(*rows));
}

/* ---- formatting ------------------------------------------------------------------- */

static const char *addr_port(char *buf, size_t len, const struct tw_addr *a, int port)
{
    char ab[64];
    tw_addr_str(a, ab, sizeof(ab));
    if (a->family == AF_INET6)
        snprintf(buf, len, port >= 0 ? "[%s]:%d" : "[%s]", ab, port);
    else
        snprintf(buf, len, port >= 0 ? "%s:%d" : "%s", ab, port);
    return buf;
}

const char *watch_dest_str(char *buf, size_t len, const struct tw_pressure *p)
{
    char l[80], r[80];
    addr_port(l, sizeof(l), &p->laddr, -1);
    addr_port(r, sizeof(r), &p->raddr, p->rport);
    snprintf(buf, len, "%s>%s", l, r);
    return buf;
}

const char *watch_tte_str(char *buf, size_t len, const struct tw_fc_result *r)
{
    switch (r->state) {
    case TW_FC_NOW:
        snprintf(buf, len, "now");
        break;
    case TW_FC_NEVER:
        snprintf(buf, len, "never");
        break;
    case TW_FC_BEYOND:
        snprintf(buf, len, ">%dm", TW_FORECAST_HORIZON_S / 60);
        break;
    case TW_FC_AT:
        if (r->seconds < 10)
            snprintf(buf, len, "%.1fs", r->seconds);
        else if (r->seconds < 60)
            snprintf(buf, len, "%.0fs", r->seconds);
        else
            snprintf(buf, len, "%dm%02ds", (int)(r->seconds / 60), (int)fmod(r->seconds, 60));
        break;
    }
    return buf;
}

const char *watch_rate_str(char *buf, size_t len, double v)
{
    if (!isfinite(v) || v <= 0)
        snprintf(buf, len, "0");
    else if (v < 100)
        snprintf(buf, len, "%.1f", v);
    else
        snprintf(buf, len, "%.0f", v);
    return buf;
}

const char *watch_recl_str(char *buf, size_t len, const struct tw_pressure *p, bool exact)
{
    char n[32];
    if (!p->reuse_applies)
        snprintf(buf, len, "-");
    else if (!exact && p->reclaimable_max > p->reclaimable)
        snprintf(buf, len, "<=%s", twx_count(n, p->reclaimable_max));
    else
        snprintf(buf, len, "%s", twx_count(n, p->reclaimable));
    return buf;
}

bool watch_bound_differs(const struct tw_forecast *f)
{
    if (!f->bounded)
        return false;
    if (f->bound.state != f->fc.state)
        return true;
    return f->fc.state == TW_FC_AT && f->bound.seconds > f->fc.seconds * 1.05 + 0.05;
}

void watch_spark(char *buf, size_t len, const float *hist, unsigned cells, bool utf8)
{
    static const char *const blocks[8] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                          "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char ascii[] = " .:-=+*#";
    unsigned per = cells ? TW_HISTORY_S / cells : TW_HISTORY_S;
    double v[TW_HISTORY_S], max = 0;
    bool have[TW_HISTORY_S];
    for (unsigned c = 0; c < cells; c++) {
        double s = 0;
        unsigned k = 0;
        for (unsigned i = c * per; i < (c + 1) * per && i < TW_HISTORY_S; i++)
            if (!isnan(hist[i])) {
                s += hist[i];
                k++;
            }
        have[c] = k > 0;
        v[c] = k ? s / k : 0;
        if (v[c] > max)
            max = v[c];
    }
    size_t o = 0;
    buf[0] = 0;
    for (unsigned c = 0; c < cells; c++) {
        const char *ch;
        char one[2] = {' ', 0};
        if (!have[c]) {
            ch = " ";
        } else {
            int lvl = max > 0 ? (int)(v[c] / max * 7 + 0.5) : 0;
            if (utf8) {
                ch = blocks[lvl];
            } else {
                one[0] = v[c] > 0 && lvl == 0 ? '.' : ascii[lvl];
                ch = one;
            }
        }
        size_t l = strlen(ch);
        if (o + l + 1 > len)
            break;
        memcpy(buf + o, ch, l);
        o += l;
        buf[o] = 0;
    }
}
