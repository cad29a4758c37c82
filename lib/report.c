/*
 * report.c — the one-pass fold behind `twkit stat`: the report's lifecycle
 * and tw_report_add, the only code that runs once per socket.
 *
 * Sockets stream in from a source and are folded at once; nothing per
 * socket is kept.  The per-socket cost decides how close `twkit stat` stays
 * to the kernel's own dump (the floor in perf-notes.md), so the hot path is
 * small: a state counter, a direct-indexed 65,536-slot array for local
 * ports, and one lookup in an open-addressing table keyed by destination
 * (local ip, remote ip, remote port) with integer hashing (report_int.h).
 * Everything else — tables by remote and local address, top-N selection,
 * port pressure, memory — is derived from those at finish
 * (report_finish.c), in time proportional to the number of distinct
 * destinations, not of sockets.
 *
 * Server-side TIME_WAIT (local port = a listening port) is keyed with
 * remote port 0, so a busy server's many client ports fold into one row per
 * client address instead of one per connection.  Listeners must therefore
 * be seen first; tw_report_collect (report_collect.c) dumps them in a cheap
 * first pass (the kernel walks only the listening table for a LISTEN-only
 * request).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* ---- destination table (the cold parts; the lookup is in report_int.h) ------ */

void tw__dkey_addrs(const struct tw__dkey *k, struct tw_addr *l, struct tw_addr *r)
{
    memset(l, 0, sizeof(*l));
    memset(r, 0, sizeof(*r));
    l->family = r->family = k->fam ? AF_INET6 : AF_INET;
    l->u.w[0] = k->l0;
    r->u.w[0] = k->r0;
    memcpy(&l->u.w[1], k->l, 12);
    memcpy(&r->u.w[1], k->r, 12);
}

int tw__dtab_grow(struct tw__dtab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    struct tw__dent *ne = calloc(ncap, sizeof(*ne));
    if (!ne)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].used)
            continue;
        size_t j = tw__dkey_hash(&t->e[i].k) & (ncap - 1);
        while (ne[j].used)
            j = (j + 1) & (ncap - 1);
        ne[j] = t->e[i];
    }
    free(t->e);
    t->e = ne;
    t->cap = ncap;
    return 0;
}

struct tw__dent *tw__dtab_claim(struct tw__dtab *t, struct tw__dent *e, const struct tw__dkey *k)
{
    struct tw_addr l, r;
    memset(e, 0, sizeof(*e));
    e->k = *k;
    e->used = 1;
    tw__dkey_addrs(k, &l, &r);
    e->loopback = tw_addr_is_loopback(&l) || tw_addr_is_loopback(&r);
    t->n++;
    return e;
}

void tw__dtab_free(struct tw__dtab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->e[i].expiry);
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
}

/* ---- lifecycle --------------------------------------------------------------- */

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
    /* 6.14+ has the sysctl (ms); before, the age test had 1 s granularity */
    p->delay_ms = k->tw_reuse_delay_ms >= 0 ? (uint32_t)k->tw_reuse_delay_ms : 1000;
}

void tw_report_free(struct tw_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < TW_TOP_MAX; i++)
        free(r->top[i].rows);
    free(r->pressure);
    if (r->priv)
        tw__dtab_free(&r->priv->dest);
    free(r->priv);
    free(r);
}

/* ---- the fold: once per socket ------------------------------------------------ */

static inline void key_of(struct tw__dkey *k, const struct tw_sock *s, bool server)
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

    bool in_range = s->lport >= p->lo && s->lport <= p->hi;
    /* Server-side: the local port is listening.  Once the listener is gone
     * its accepted connections' TIME_WAIT would pass for client-side, one
     * "destination" per client port; a local port outside the ephemeral
     * range talking to a higher unprivileged port is taken as server-side
     * too (connect() takes its port from the range; a client bind()ing a
     * low fixed port to a higher one is the rare exception). */
    bool server = tw__listen_port(p, s->lport) ||
                  (!in_range && s->rport >= 1024 && s->rport > s->lport);
    in_range = in_range && !server;
    struct tw__dkey k;
    struct tw__dent *d = NULL;

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
        if (TW__UNLIKELY(!(d = tw__dtab_get(&p->dest, &k))))
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
            } else if ((p->reuse == 1 || (p->reuse == 2 && d->loopback)) &&
                       age > p->delay_ms) {
                /* only if the peer's timestamp was recorded: unknown here.  Not
                 * even tcp_timestamps=0 now settles it: a TIME_WAIT of a
                 * connection made before it was set keeps its stamp, and
                 * tcp_twsk_unique() does not look at the sysctl. */
                d->reclaim_max++;
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
    if (TW__UNLIKELY(!(d = tw__dtab_get(&p->dest, &k))))
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

