/*
 * report_finish.c — what tw_report_finish derives from the fold, once per
 * report and in time proportional to distinct ports and destinations, not
 * sockets: the effective port range, the top-N tables (a bounded min-heap
 * per table, then one sort of the kept rows), port pressure per
 * destination and host-wide, and the kernel memory the TIME_WAIT sockets
 * hold.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* ---- top-N ------------------------------------------------------------------ */

/* Row order: count descending, then key ascending (stable, testable output). */
static int row_cmp(const struct tw_top_row *a, const struct tw_top_row *b)
{
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    int c = memcmp(&a->laddr, &b->laddr, sizeof(a->laddr));
    if (c)
        return c;
    c = memcmp(&a->raddr, &b->raddr, sizeof(a->raddr));
    if (c)
        return c;
    if (a->rport != b->rport)
        return a->rport < b->rport ? -1 : 1;
    if (a->lport != b->lport)
        return a->lport < b->lport ? -1 : 1;
    return 0;
}

static int row_qcmp(const void *a, const void *b)
{
    return row_cmp(a, b);
}

struct topsel {
    struct tw_top_row *heap; /* a min-heap of the best rows: heap[0] is the worst kept */
    size_t n, cap;
    uint64_t total, distinct;
};

static void heap_down(struct tw_top_row *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, rr = l + 1, w = i;
        if (l < n && row_cmp(&h[l], &h[w]) > 0)
            w = l;
        if (rr < n && row_cmp(&h[rr], &h[w]) > 0)
            w = rr;
        if (w == i)
            return;
        struct tw_top_row t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void heap_up(struct tw_top_row *h, size_t i)
{
    while (i) {
        size_t up = (i - 1) / 2;
        if (row_cmp(&h[i], &h[up]) <= 0)
            return;
        struct tw_top_row t = h[i];
        h[i] = h[up];
        h[up] = t;
        i = up;
    }
}

static void topsel_push(struct topsel *t, const struct tw_top_row *row)
{
    t->total += row->count;
    t->distinct++;
    if (!t->cap)
        return;
    if (t->n < t->cap) {
        t->heap[t->n] = *row;
        heap_up(t->heap, t->n++);
    } else if (row_cmp(row, &t->heap[0]) < 0) {
        t->heap[0] = *row;
        heap_down(t->heap, t->n, 0);
    }
}

static void topsel_done(struct topsel *t, struct tw_top *out)
{
    qsort(t->heap, t->n, sizeof(*t->heap), row_qcmp);
    out->rows = t->heap;
    out->n = t->n;
    out->distinct = t->distinct;
    uint64_t shown = 0;
    for (size_t i = 0; i < t->n; i++)
        shown += t->heap[i].count;
    out->other = t->total - shown;
}

/* Fold destination rows into rows keyed by one address (remote or local). */
static int top_by_addr(struct tw__report_priv *p, bool remote, struct topsel *sel)
{
    struct tw__dtab agg = {0};
    for (size_t i = 0; i < p->dest.cap; i++) {
        const struct tw__dent *e = &p->dest.e[i];
        if (!e->used || !e->tw)
            continue;
        struct tw__dkey k = {.fam = e->k.fam};
        if (remote) {
            k.r0 = e->k.r0;
            memcpy(k.r, e->k.r, sizeof(k.r));
        } else {
            k.l0 = e->k.l0;
            memcpy(k.l, e->k.l, sizeof(k.l));
        }
        struct tw__dent *a = tw__dtab_get(&agg, &k);
        if (!a) {
            tw__dtab_free(&agg);
            return -ENOMEM;
        }
        a->tw += e->tw;
    }
    for (size_t i = 0; i < agg.cap; i++) {
        const struct tw__dent *e = &agg.e[i];
        if (!e->used)
            continue;
        struct tw_top_row row = {.count = e->tw};
        tw__dkey_addrs(&e->k, &row.laddr, &row.raddr);
        topsel_push(sel, &row);
    }
    tw__dtab_free(&agg);
    return 0;
}

static int pressure_cmp(const void *a, const void *b)
{
    const struct tw_pressure *x = a, *y = b;
    if (x->pct != y->pct)
        return x->pct > y->pct ? -1 : 1;
    if (x->in_use != y->in_use)
        return x->in_use > y->in_use ? -1 : 1;
    int c = memcmp(&x->laddr, &y->laddr, sizeof(x->laddr));
    if (c)
        return c;
    c = memcmp(&x->raddr, &y->raddr, sizeof(x->raddr));
    if (c)
        return c;
    return (int)x->rport - (int)y->rport;
}

static void compute_range(struct tw_report *r)
{
    struct tw__report_priv *p = r->priv;
    r->range_size = (uint32_t)(p->hi - p->lo + 1);
    r->range_reserved = r->kernel.n_reserved;
    r->range_listeners = 0;
    for (int port = p->lo; port <= p->hi; port++)
        if (tw__listen_port(p, (unsigned)port) && !tw_kernel_reserved(&r->kernel, (unsigned)port))
            r->range_listeners++;
    r->range_parity = (p->lo & 1) == (p->hi & 1);
    int64_t eff = (int64_t)r->range_size - r->range_reserved - r->range_listeners - r->range_parity;
    r->effective_range = eff > 0 ? (uint32_t)eff : 0;
    r->listen_ports = 0;
    for (size_t i = 0; i < sizeof(p->listen); i++)
        r->listen_ports += (uint64_t)__builtin_popcount(p->listen[i]);
}

int tw_report_finish(struct tw_report *r)
{
    struct tw__report_priv *p = r->priv;
    size_t topn = p->opts.top_n;
    if (p->oom)
        return -ENOMEM;
    compute_range(r);

    /* memory: slab objects of TIME_WAIT (and FW2) minisocks, plus bind buckets */
    unsigned s4 = r->kernel.tw_slab_v4, s6 = r->kernel.tw_slab_v6;
    r->slab_measured = s4 && s6;
    if (!s4)
        s4 = 256; /* 6.x x86_64 value, used only when the slab size is unreadable */
    if (!s6)
        s6 = 256;
    for (int f = 0; f < 2; f++)
        r->tw_slab_objects[f] = r->states[f][TW_TIME_WAIT] + p->fw2[f];
    r->tw_slab_bytes = r->tw_slab_objects[0] * s4 + r->tw_slab_objects[1] * s6;
    unsigned bb = (r->kernel.bind_slab ? r->kernel.bind_slab : 128) +
                  (r->kernel.bind2_slab ? r->kernel.bind2_slab : 128);

    struct topsel sel[TW_TOP_MAX];
    for (int i = 0; i < TW_TOP_MAX; i++) {
        memset(&sel[i], 0, sizeof(sel[i]));
        sel[i].cap = topn;
        sel[i].heap = calloc(topn ? topn : 1, sizeof(struct tw_top_row));
        if (!sel[i].heap) {
            for (int j = 0; j <= i; j++)
                free(sel[j].heap);
            return -ENOMEM;
        }
    }
    r->tw_lports = 0;
    for (unsigned port = 0; port < 65536; port++) {
        uint32_t c = p->tw_port[port];
        if (!c)
            continue;
        bool server = tw__listen_port(p, port);
        if (!server)
            r->tw_lports++;
        struct tw_top_row row = {.lport = (uint16_t)port, .server_side = server, .count = c};
        topsel_push(&sel[TW_TOP_LPORT], &row);
    }
    r->bind_bytes = r->tw_lports * bb;

    size_t npress = 0;
    for (size_t i = 0; i < p->dest.cap; i++) {
        const struct tw__dent *e = &p->dest.e[i];
        if (!e->used)
            continue;
        if (e->in_use)
            npress++;
        if (!e->tw)
            continue;
        struct tw_top_row row = {.rport = e->k.rport, .server_side = e->k.server, .count = e->tw};
        tw__dkey_addrs(&e->k, &row.laddr, &row.raddr);
        topsel_push(&sel[TW_TOP_DEST], &row);
    }
    int e = top_by_addr(p, true, &sel[TW_TOP_RADDR]);
    if (!e)
        e = top_by_addr(p, false, &sel[TW_TOP_LADDR]);
    for (int i = 0; i < TW_TOP_MAX; i++) {
        free(r->top[i].rows);
        topsel_done(&sel[i], &r->top[i]);
    }
    if (e)
        return e;

    free(r->pressure);
    r->pressure = calloc(npress ? npress : 1, sizeof(*r->pressure));
    if (!r->pressure)
        return -ENOMEM;
    r->n_pressure = 0;
    for (size_t i = 0; i < p->dest.cap; i++) {
        const struct tw__dent *d = &p->dest.e[i];
        if (!d->used || !d->in_use)
            continue;
        struct tw_pressure *x = &r->pressure[r->n_pressure++];
        tw__dkey_addrs(&d->k, &x->laddr, &x->raddr);
        x->rport = d->k.rport;
        x->loopback = d->loopback;
        x->reuse_applies = (p->reuse == 1 || (p->reuse == 2 && d->loopback));
        x->in_use = d->in_use;
        x->time_wait = d->tw_in;
        x->reclaimable = d->reclaim;
        x->reclaimable_max = d->reclaim_max;
        x->established = d->estab;
        x->other = d->in_use - d->tw_in - d->estab;
        x->tw_young = d->young;
        if (d->expiry)
            memcpy(x->tw_expiry, d->expiry, sizeof(x->tw_expiry));
        uint64_t held = d->in_use - d->reclaim, held_min = d->in_use - d->reclaim_max;
        x->pct = r->effective_range ? 100.0 * (double)held / r->effective_range
                                    : (held ? 100.0 : 0.0);
        x->pct_min = r->effective_range ? 100.0 * (double)held_min / r->effective_range
                                        : (held_min ? 100.0 : 0.0);
    }
    r->reuse_exact = p->tw_unknown == 0;
    r->host_ports_in_use = 0;
    for (size_t i = 0; i < sizeof(p->client_port); i++)
        r->host_ports_in_use += (uint64_t)__builtin_popcount(p->client_port[i]);
    r->host_pct = r->effective_range ? 100.0 * (double)r->host_ports_in_use / r->effective_range
                                     : (r->host_ports_in_use ? 100.0 : 0.0);
    qsort(r->pressure, r->n_pressure, sizeof(*r->pressure), pressure_cmp);

    if (r->kernel.max_tw_buckets > 0 && r->kernel.sock_tw >= 0)
        r->max_tw_pct = 100.0 * (double)r->kernel.sock_tw / (double)r->kernel.max_tw_buckets;
    return 0;
}

