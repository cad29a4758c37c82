/*
 * report.c — the one-pass aggregation behind `twkit stat`.
 *
 * Sockets stream in from a source and are folded at once; nothing per
 * socket is kept.  The per-socket cost decides how close `twkit stat` stays
 * to the kernel's own dump (the floor in perf-notes.md), so the hot path is
 * small: a state counter, a direct-indexed 65,536-slot array for local
 * ports, and one lookup in an open-addressing table keyed by destination
 * (local ip, remote ip, remote port) with integer hashing.  Everything else
 * — tables by remote and local address, top-N selection, port pressure,
 * memory — is derived from those at finish, in time proportional to the
 * number of distinct destinations, not of sockets.
 *
 * Server-side TIME_WAIT (local port = a listening port) is keyed with
 * remote port 0, so a busy server's many client ports fold into one row per
 * client address instead of one per connection.  Listeners must therefore
 * be seen first; tw_report_collect dumps them in a cheap first pass (the
 * kernel walks only the listening table for a LISTEN-only request).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <twkit/report.h>

#include "internal.h"
#include "twx/clock.h"

/* ---- destination table ------------------------------------------------------ */

/*
 * The key is laid out so that an IPv4 key is decided by its first 16 bytes
 * (two 64-bit compares); the IPv6 remainder is zero for IPv4.
 */
struct dkey {
    uint32_t l0, r0;  /* first (IPv4: only) word of the local / remote address */
    uint16_t rport;
    uint8_t fam;      /* 0 = IPv4, 1 = IPv6 */
    uint8_t server;   /* server-side row (rport = 0) */
    uint32_t pad;
    uint32_t l[3], r[3]; /* IPv6: words 1-3 */
};

struct dent {
    struct dkey k;
    uint32_t used;
    uint32_t tw;        /* TIME_WAIT of this key (any local port) */
    uint32_t in_use;    /* client-side, local port in range, every state */
    uint32_t tw_in;     /* ... of which TIME_WAIT */
    uint32_t reclaim;   /* ... known reclaimable (the source gave the verdict) */
    uint32_t reclaim_max; /* ... reclaimable unless the peer sent no timestamps */
    uint32_t estab;     /* ... ESTABLISHED */
    uint32_t loopback;  /* tcp_tw_reuse=2 counts it as loopback (addresses or bound to lo) */
    uint32_t young;     /* ... TIME_WAIT younger than young_ms */
    uint32_t *expiry;   /* ... TIME_WAIT by seconds left (TW_EXPIRY_SECONDS), or NULL */
};

struct dtab {
    struct dent *e;
    size_t cap, n; /* cap is a power of two */
};

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t dkey_hash(const struct dkey *k)
{
    uint64_t h = ((uint64_t)k->l0 << 32 | k->r0) * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)k->rport << 16 | (uint64_t)k->fam << 8 | k->server;
    if (TW__UNLIKELY(k->fam)) {
        h ^= mix64((uint64_t)k->l[0] << 32 | k->l[1]) + ((uint64_t)k->l[2] << 7);
        h ^= mix64((uint64_t)k->r[0] << 32 | k->r[1]) * 31 + k->r[2];
    }
    return mix64(h);
}

static inline bool dkey_eq(const struct dkey *a, const struct dkey *b)
{
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&a1, (const char *)a + 8, 8);
    memcpy(&b0, b, 8);
    memcpy(&b1, (const char *)b + 8, 8);
    if (a0 != b0 || a1 != b1)
        return false;
    return !a->fam || !memcmp(a->l, b->l, sizeof(a->l) + sizeof(a->r));
}

/* The key's addresses as tw_addr (for rows and loopback tests). */
static void key_addrs(const struct dkey *k, struct tw_addr *l, struct tw_addr *r)
{
    memset(l, 0, sizeof(*l));
    memset(r, 0, sizeof(*r));
    l->family = r->family = k->fam ? AF_INET6 : AF_INET;
    l->u.w[0] = k->l0;
    r->u.w[0] = k->r0;
    memcpy(&l->u.w[1], k->l, 12);
    memcpy(&r->u.w[1], k->r, 12);
}

static int dtab_grow(struct dtab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    struct dent *ne = calloc(ncap, sizeof(*ne));
    if (!ne)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].used)
            continue;
        size_t j = dkey_hash(&t->e[i].k) & (ncap - 1);
        while (ne[j].used)
            j = (j + 1) & (ncap - 1);
        ne[j] = t->e[i];
    }
    free(t->e);
    t->e = ne;
    t->cap = ncap;
    return 0;
}

static struct dent *dtab_get(struct dtab *t, const struct dkey *k)
{
    if (TW__UNLIKELY((t->n + 1) * 2 > t->cap) && dtab_grow(t))
        return NULL;
    size_t mask = t->cap - 1, i = dkey_hash(k) & mask;
    for (;;) {
        struct dent *e = &t->e[i];
        if (!e->used) {
            struct tw_addr l, r;
            memset(e, 0, sizeof(*e));
            e->k = *k;
            e->used = 1;
            key_addrs(k, &l, &r);
            e->loopback = tw_addr_is_loopback(&l) || tw_addr_is_loopback(&r);
            t->n++;
            return e;
        }
        if (dkey_eq(&e->k, k))
            return e;
        i = (i + 1) & mask;
    }
}

static void dtab_free(struct dtab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i].expiry);
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
}

/* ---- the report ------------------------------------------------------------ */

struct tw__report_priv {
    struct tw_report_opts opts;
    uint32_t tw_port[65536];     /* TIME_WAIT by local port */
    uint8_t listen[65536 / 8];   /* listening ports */
    uint8_t client_port[65536 / 8]; /* local ports in range held by client-side sockets */
    uint64_t tw_unknown;         /* TIME_WAIT without a reuse verdict from the source */
    uint32_t young_ms;
    uint64_t fw2[2];             /* FIN_WAIT2 minisocks by family */
    struct dtab dest;
    /* settings copied from the kernel readings for the hot path */
    int lo, hi;
    int reuse;
    bool ts;
    uint32_t delay_ms;
    bool have_kernel;
    int oom;
};

static inline bool is_listen_port(const struct tw__report_priv *p, unsigned port)
{
    return (p->listen[port >> 3] >> (port & 7)) & 1;
}

int tw_report_new(const struct tw_report_opts *o, struct tw_report **out)
{
    *out = NULL;
    struct tw_report *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->priv = calloc(1, sizeof(*r->priv));
    if (!r->priv) {
        free(r);
        return -ENOMEM;
    }
    if (o)
        r->priv->opts = *o;
    else
        tw_query_init(&r->priv->opts.query);
    if (!r->priv->opts.top_n)
        r->priv->opts.top_n = 10;
    r->priv->young_ms = r->priv->opts.young_ms ? r->priv->opts.young_ms : 1000;
    if (r->priv->opts.top_n > 100000) {
        tw_report_free(r);
        return TW_EBADOPT;
    }
    if (!r->priv->opts.query.states)
        tw_query_init(&r->priv->opts.query);
    r->state_mask = r->priv->opts.query.states;
    r->filtered = tw_query_filters(&r->priv->opts.query) ||
                  !(r->priv->opts.query.want_v4 && r->priv->opts.query.want_v6);
    r->priv->lo = 32768;
    r->priv->hi = 60999;
    r->priv->reuse = 2;
    r->priv->ts = true;
    r->priv->delay_ms = 1000;
    *out = r;
    return 0;
}

void tw_report_set_kernel(struct tw_report *r, const struct tw_kernel *k)
{
    struct tw__report_priv *p = r->priv;
    r->kernel = *k;
    p->have_kernel = true;
    if (k->port_lo > 0 && k->port_hi >= k->port_lo) {
        p->lo = k->port_lo;
        p->hi = k->port_hi;
    }
    p->reuse = k->tw_reuse;
    p->ts = k->timestamps >= 1;
    /* 6.14+ has the sysctl (ms); before, the age test had 1 s granularity */
    p->delay_ms = k->tw_reuse_delay_ms >= 0 ? (uint32_t)k->tw_reuse_delay_ms : 1000;
}

static inline void key_of(struct dkey *k, const struct tw_sock *s, bool server)
{
    k->fam = s->laddr.family == AF_INET6;
    k->l0 = s->laddr.u.w[0];
    k->r0 = s->raddr.u.w[0];
    k->pad = 0;
    if (TW__LIKELY(!k->fam)) {
        memset(k->l, 0, sizeof(k->l) + sizeof(k->r));
    } else {
        memcpy(k->l, &s->laddr.u.w[1], 12);
        memcpy(k->r, &s->raddr.u.w[1], 12);
    }
    k->rport = server ? 0 : s->rport;
    k->server = server;
}

int tw_report_add(const struct tw_sock *s, void *arg)
{
    struct tw_report *r = arg;
    struct tw__report_priv *p = r->priv;
    unsigned fam = s->laddr.family == AF_INET6;
    unsigned st = s->state;

    if (TW__UNLIKELY(st == TW_LISTEN)) {
        p->listen[s->lport >> 3] |= (uint8_t)(1u << (s->lport & 7));
        if (!tw_query_match(&p->opts.query, s))
            return 0;
    }
    if (TW__UNLIKELY(st == 0 || st >= TW_STATE_MAX))
        return TW_EUNKSTATE;
    r->states[fam][st]++;
    r->total++;
    if (st == TW_LISTEN || st == TW_CLOSE)
        return 0;

    bool server = is_listen_port(p, s->lport);
    bool in_range = !server && s->lport >= p->lo && s->lport <= p->hi;
    struct dkey k;
    struct dent *d = NULL;

    if (st == TW_TIME_WAIT) {
        uint32_t exp = s->expires_ms;
        unsigned b = exp / TW_EXPIRY_BUCKET_MS;
        r->tw_total++;
        p->tw_port[s->lport]++;
        r->tw_expiry[b < TW_EXPIRY_BUCKETS ? b : TW_EXPIRY_BUCKETS - 1]++;
        r->tw_expiry_s[exp / 1000 < TW_EXPIRY_SECONDS ? exp / 1000 : TW_EXPIRY_SECONDS - 1]++;
        if (server) {
            r->tw_server++;
        } else {
            r->tw_client++;
            if (exp < 10000)
                r->tw_freed_10s++;
        }
        key_of(&k, s, server);
        if (TW__UNLIKELY(!(d = dtab_get(&p->dest, &k))))
            goto oom;
        d->tw++;
        if (!(s->flags & TW_SOCK_F_REUSE_KNOWN))
            p->tw_unknown++;
        if (in_range) {
            d->in_use++;
            d->tw_in++;
            p->client_port[s->lport >> 3] |= (uint8_t)(1u << (s->lport & 7));
            if (TW__UNLIKELY(s->ifindex == 1))
                d->loopback = 1; /* bound to lo */
            if (TW__UNLIKELY(!d->expiry) &&
                !(d->expiry = calloc(TW_EXPIRY_SECONDS, sizeof(*d->expiry))))
                goto oom;
            unsigned sec = exp / 1000;
            d->expiry[sec < TW_EXPIRY_SECONDS ? sec : TW_EXPIRY_SECONDS - 1]++;
            uint32_t age = TW_TIMEWAIT_LEN_MS - (exp < TW_TIMEWAIT_LEN_MS ? exp : TW_TIMEWAIT_LEN_MS);
            if (age < p->young_ms)
                d->young++;
            if (s->flags & TW_SOCK_F_REUSE_KNOWN) {
                if (s->flags & TW_SOCK_F_REUSABLE) {
                    d->reclaim++;
                    d->reclaim_max++;
                }
            } else if (p->ts && (p->reuse == 1 || (p->reuse == 2 && d->loopback)) &&
                       age > p->delay_ms) {
                d->reclaim_max++; /* only if the peer sent timestamps: unknown here */
            }
        }
        return 0;
    }
    if (st == TW_FIN_WAIT2 && tw_sock_is_fw2_minisock(s)) {
        r->fw2_minisocks++;
        p->fw2[fam]++;
    }
    if (!in_range)
        return 0;
    key_of(&k, s, false);
    if (TW__UNLIKELY(!(d = dtab_get(&p->dest, &k))))
        goto oom;
    p->client_port[s->lport >> 3] |= (uint8_t)(1u << (s->lport & 7));
    d->in_use++;
    if (TW__UNLIKELY(s->ifindex == 1))
        d->loopback = 1;
    if (st == TW_ESTABLISHED)
        d->estab++;
    return 0;
oom:
    p->oom = 1;
    return -ENOMEM;
}

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
    struct dtab agg = {0};
    for (size_t i = 0; i < p->dest.cap; i++) {
        const struct dent *e = &p->dest.e[i];
        if (!e->used || !e->tw)
            continue;
        struct dkey k = {.fam = e->k.fam};
        if (remote) {
            k.r0 = e->k.r0;
            memcpy(k.r, e->k.r, sizeof(k.r));
        } else {
            k.l0 = e->k.l0;
            memcpy(k.l, e->k.l, sizeof(k.l));
        }
        struct dent *a = dtab_get(&agg, &k);
        if (!a) {
            dtab_free(&agg);
            return -ENOMEM;
        }
        a->tw += e->tw;
    }
    for (size_t i = 0; i < agg.cap; i++) {
        const struct dent *e = &agg.e[i];
        if (!e->used)
            continue;
        struct tw_top_row row = {.count = e->tw};
        key_addrs(&e->k, &row.laddr, &row.raddr);
        topsel_push(sel, &row);
    }
    dtab_free(&agg);
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
        if (is_listen_port(p, (unsigned)port) && !tw_kernel_reserved(&r->kernel, (unsigned)port))
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
    r->tw_slab_bytes = (r->states[0][TW_TIME_WAIT] + p->fw2[0]) * s4 +
                       (r->states[1][TW_TIME_WAIT] + p->fw2[1]) * s6;
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
        bool server = is_listen_port(p, port);
        if (!server)
            r->tw_lports++;
        struct tw_top_row row = {.lport = (uint16_t)port, .server_side = server, .count = c};
        topsel_push(&sel[TW_TOP_LPORT], &row);
    }
    r->bind_bytes = r->tw_lports * bb;

    size_t npress = 0;
    for (size_t i = 0; i < p->dest.cap; i++) {
        const struct dent *e = &p->dest.e[i];
        if (!e->used)
            continue;
        if (e->in_use)
            npress++;
        if (!e->tw)
            continue;
        struct tw_top_row row = {.rport = e->k.rport, .server_side = e->k.server, .count = e->tw};
        key_addrs(&e->k, &row.laddr, &row.raddr);
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
        const struct dent *d = &p->dest.e[i];
        if (!d->used || !d->in_use)
            continue;
        struct tw_pressure *x = &r->pressure[r->n_pressure++];
        key_addrs(&d->k, &x->laddr, &x->raddr);
        x->rport = d->k.rport;
        x->loopback = d->loopback;
        x->reuse_applies = p->ts && (p->reuse == 1 || (p->reuse == 2 && d->loopback));
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

void tw_report_free(struct tw_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < TW_TOP_MAX; i++)
        free(r->top[i].rows);
    free(r->pressure);
    if (r->priv)
        dtab_free(&r->priv->dest);
    free(r->priv);
    free(r);
}

/* ---- collect: the whole picture of one namespace ----------------------------- */

static double now_s(void)
{
    return (double)twx_now_ns() / 1e9;
}

int tw_report_collect(struct tw_source *src, const struct tw_report_opts *o,
                      const char *proc_root, struct tw_report **out, char *err, size_t errlen)
{
    struct tw_report *r = NULL;
    struct tw_kernel *k = NULL;
    int e = tw_report_new(o, &r);
    if (e) {
        snprintf(err, errlen, "%s", tw_strerror(e));
        return e;
    }
    if (!(k = malloc(sizeof(*k)))) {
        e = -ENOMEM;
        goto fail;
    }
    const char *root = proc_root;
    if (!root && tw_source_kind(src) == TW_SOURCE_FIXTURE)
        root = src->path;
    if ((e = tw_kernel_read(k, root, err, errlen)))
        goto fail;
    tw_report_set_kernel(r, k);
    r->source = tw_source_kind(src);

    const struct tw_query *uq = &r->priv->opts.query;
    struct tw_query lq;
    tw_query_init(&lq);
    lq.states = TW_STATE_BIT(TW_LISTEN);
    double t0 = now_s();
    /* pass 1: every listener (no filter): the ports that make TIME_WAIT server side */
    if ((e = tw_source_dump(src, &lq, tw_report_add, r)) != 0)
        goto dump_fail;
    /* pass 2: the rest, with the user's states and filters run by the source */
    struct tw_query mq = *uq;
    mq.states &= ~TW_STATE_BIT(TW_LISTEN);
    long before = -1;
    if (tw_kernel_read_sockstat(k, root) == 0)
        before = k->sock_tw;
    if (mq.states && (e = tw_source_dump(src, &mq, tw_report_add, r)) != 0)
        goto dump_fail;
    r->dump_seconds = now_s() - t0;
    r->sockstat_tw_before = before;
    if (tw_kernel_read_sockstat(&r->kernel, root) != 0)
        r->kernel.sock_tw = -1;
    unsigned need = TW_STATE_BIT(TW_TIME_WAIT) | TW_STATE_BIT(TW_FIN_WAIT2);
    if (!r->filtered && (uq->states & need) == need && before >= 0 && r->kernel.sock_tw >= 0) {
        uint64_t dumped = r->tw_total + r->fw2_minisocks;
        long lo = before < r->kernel.sock_tw ? before : r->kernel.sock_tw;
        long hi = before < r->kernel.sock_tw ? r->kernel.sock_tw : before;
        long slack = hi / 100 + 2; /* sockets that came and went during the dump */
        r->sockstat_checked = true;
        r->sockstat_agrees = (long)dumped >= lo - slack && (long)dumped <= hi + slack;
    }
    if ((e = tw_report_finish(r))) {
        snprintf(err, errlen, "%s", tw_strerror(e));
        goto fail;
    }
    free(k);
    *out = r;
    return 0;
dump_fail:
    if (e > 0)
        e = -EINTR; /* tw_report_add never stops a dump on purpose */
    snprintf(err, errlen, "%s", tw_source_errmsg(src)[0] ? tw_source_errmsg(src) : tw_strerror(e));
fail:
    free(k);
    tw_report_free(r);
    *out = NULL;
    return e;
}
