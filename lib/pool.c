/*
 * pool.c — tw_pool, a TCP connection pool (see twkit/pool.h for the API).
 *
 * Why: every connection a client closes leaves a TIME_WAIT socket that pins
 * an ephemeral port of its destination for 60 s; reusing connections is the
 * cure.  This file keeps connected sockets per destination and hands them out
 * again, under caps, with the ageing rules of mature pools.
 *
 * How, in one paragraph: one mutex guards the whole pool.  Each connection
 * lives in a slot (struct conn) that is never freed before the pool, so a
 * lease can name it by index and generation: a stale or copied lease is
 * recognised (TW_EDOUBLE) without touching freed memory, and a lease of
 * another pool by its tag (TW_EFOREIGN).  Idle connections sit on two
 * doubly linked lists, their destination's (newest at the head: LIFO pops
 * the head, FIFO the tail, expiry reaps from the tail) and the pool's (for
 * evicting the least recently used one when the total cap is full).
 * Callers over a cap queue in one FIFO list of waiters, each with its own
 * condition variable; whenever a slot frees up or a connection comes back,
 * the earliest waiter that it can serve gets it directly (grant or hand-off),
 * so a newcomer can never overtake a waiter.  No system call runs under the
 * mutex: connect, the liveness check (recv MSG_PEEK) and close happen after
 * unlocking, with the slot reserved (state CONNECTING or LEASED) meanwhile.
 *
 * Files: this one holds the lifecycle (options, new, close, free), the
 * destinations and the statistics; pool_core.c the slots, idle lists,
 * waiters and invariants; pool_lease.c connect, get and put.
 */
#include "pool_internal.h"

/* ---- options and lifecycle ----------------------------------------------------- */

void tw_pool_opts_init(struct tw_pool_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_idle_per_dest = 8;
    o->idle_timeout_ms = 60000;
    o->connect_timeout_ms = 3000;
    o->wait_timeout_ms = 5000;
    o->order = TW_POOL_LIFO;
}

static int opts_check(const struct tw_pool_opts *o)
{
    if (o->flags & ~TW_POOL_FLAGS_ALL)
        return TW_EBADOPT;
    if (o->order != TW_POOL_LIFO && o->order != TW_POOL_FIFO)
        return TW_EBADOPT;
    if (o->lifetime_jitter_ms > o->max_lifetime_ms)
        return TW_EBADOPT;
    if ((o->port_range_lo == 0) != (o->port_range_hi == 0))
        return TW_EBADOPT;
    if (o->port_range_lo > o->port_range_hi)
        return TW_EBADOPT;
    return 0;
}

/* Does this kernel take IP_LOCAL_PORT_RANGE with these bounds? */
static int probe_port_range(const struct tw_pool_opts *o)
{
    uint32_t range = (uint32_t)o->port_range_hi << 16 | o->port_range_lo;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range,
                   sizeof(range)) < 0)
        err = -errno;
    close(fd);
    return err;
}

int tw_pool_new(const struct tw_pool_opts *opts, struct tw_pool **out)
{
    struct tw_pool_opts def;
    struct tw_pool *p;
    uint64_t seed[2];
    int err;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!opts) {
        tw_pool_opts_init(&def);
        opts = &def;
    }
    err = opts_check(opts);
    if (err)
        return err;
    if (opts->port_range_lo) {
        err = probe_port_range(opts);
        if (err)
            return err;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->o = *opts;
    p->idle_cap = opts->max_idle_per_dest;
    if (opts->max_per_dest && p->idle_cap > opts->max_per_dest)
        p->idle_cap = opts->max_per_dest;
    if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
        seed[0] = twx_now_ns() ^ (uint64_t)(uintptr_t)p;
        seed[1] = seed[0] * 0x9E3779B97F4A7C15ull + (uint64_t)getpid();
    }
    p->tag = seed[0] ? seed[0] : 1;
    p->rng = seed[1] ? seed[1] : 0x9E3779B97F4A7C15ull;
    p->dests_tail = &p->dests;
    if ((err = pthread_mutex_init(&p->lock, NULL)) != 0) {
        free(p);
        return -err;
    }
    if ((err = pthread_condattr_init(&p->cattr)) != 0 ||
        (err = pthread_condattr_setclock(&p->cattr, CLOCK_MONOTONIC)) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return -err;
    }
    *out = p;
    return 0;
}

/* Close idle connections and wake waiters; lock held. */
static void shutdown_locked(struct tw_pool *p, struct closer *cl)
{
    p->closed = 1;
    while (p->wq_head)
        tw__pool_wake(p, p->wq_head, W_CLOSED, NULL);
    while (p->gidle_tail) {
        tw__pool_conn_close(p, p->gidle_tail, R_SHUTDOWN, cl);
        if (cl->n == CLOSER_MAX) {
            pthread_mutex_unlock(&p->lock);
            closer_flush(cl);
            pthread_mutex_lock(&p->lock);
        }
    }
}

int tw_pool_close(struct tw_pool *p)
{
    struct closer cl = { 0 };
    int was;

    if (!p)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    was = p->closed;
    shutdown_locked(p, &cl);
    assert(tw__pool_sane_locked(p) == 0);
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    return was ? TW_ECLOSED : 0;
}

void tw_pool_free(struct tw_pool *p)
{
    struct closer cl = { 0 };

    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    shutdown_locked(p, &cl);
    for (uint32_t i = 0; i < p->nslots; i++) {
        struct conn *c = p->slots[i];

        if (c->state == C_FREE)
            continue;
        /* leased (or, against the rules, still connecting) */
        if (c->state == C_LEASED)
            count_close(c->dest, R_SHUTDOWN);
        tw__pool_state_leave(p, c);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        c->state = C_FREE;
        p->nopen--;
    }
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    for (uint32_t i = 0; i < p->nslots; i++)
        free(p->slots[i]);
    free(p->slots);
    while (p->dests) {
        struct tw_pool_dest *d = p->dests;

        p->dests = d->next;
        free(d);
    }
    pthread_condattr_destroy(&p->cattr);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- destinations ------------------------------------------------------------- */

/* Copy a validated address into *ss, keeping only what names it. */
static socklen_t addr_copy(struct sockaddr_storage *ss, const struct sockaddr *a)
{
    memset(ss, 0, sizeof(*ss));
    if (a->sa_family == AF_INET) {
        struct sockaddr_in *o = (struct sockaddr_in *)ss;
        const struct sockaddr_in *i = (const struct sockaddr_in *)a;

        o->sin_family = AF_INET;
        o->sin_port = i->sin_port;
        o->sin_addr = i->sin_addr;
        return sizeof(*o);
    } else {
        struct sockaddr_in6 *o = (struct sockaddr_in6 *)ss;
        const struct sockaddr_in6 *i = (const struct sockaddr_in6 *)a;

        o->sin6_family = AF_INET6;
        o->sin6_port = i->sin6_port;
        o->sin6_addr = i->sin6_addr;
        o->sin6_scope_id = i->sin6_scope_id;
        return sizeof(*o);
    }
}

/* Check family and length; return the port (network order) or < 0. */
static int addr_check(const struct sockaddr *a, socklen_t len)
{
    if (a->sa_family == AF_INET) {
        if (len < (socklen_t)sizeof(struct sockaddr_in))
            return -EINVAL;
        return ((const struct sockaddr_in *)a)->sin_port;
    }
    if (a->sa_family == AF_INET6) {
        if (len < (socklen_t)sizeof(struct sockaddr_in6))
            return -EINVAL;
        return ((const struct sockaddr_in6 *)a)->sin6_port;
    }
    return -EAFNOSUPPORT;
}

int tw_pool_dest(struct tw_pool *p, const struct sockaddr *dst, socklen_t dstlen,
                 const struct sockaddr *src, socklen_t srclen,
                 struct tw_pool_dest **out)
{
    struct sockaddr_storage ds, ss;
    socklen_t dl, sl = 0;
    struct tw_pool_dest *d;
    int port, err = 0;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!p || !dst || dstlen < (socklen_t)sizeof(sa_family_t))
        return -EINVAL;
    port = addr_check(dst, dstlen);
    if (port < 0)
        return port;
    if (port == 0)
        return TW_EBADOPT;
    if (src) {
        if (srclen < (socklen_t)sizeof(sa_family_t))
            return -EINVAL;
        if (src->sa_family != dst->sa_family)
            return -EAFNOSUPPORT;
        port = addr_check(src, srclen);
        if (port < 0)
            return port;
        if (port != 0)
            return TW_EBADOPT;
        sl = addr_copy(&ss, src);
    } else {
        memset(&ss, 0, sizeof(ss));
    }
    dl = addr_copy(&ds, dst);

    pthread_mutex_lock(&p->lock);
    if (p->closed) {
        err = TW_ECLOSED;
        goto out;
    }
    for (d = p->dests; d; d = d->next) {
        if (d->dstlen == dl && d->srclen == sl &&
            memcmp(&d->dst, &ds, dl) == 0 &&
            (sl == 0 || memcmp(&d->src, &ss, sl) == 0)) {
            *out = d;
            goto out;
        }
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        err = -ENOMEM;
        goto out;
    }
    d->pool = p;
    d->dst = ds;
    d->dstlen = dl;
    d->src = ss;
    d->srclen = sl;
    *p->dests_tail = d;
    p->dests_tail = &d->next;
    p->ndests++;
    *out = d;
out:
    pthread_mutex_unlock(&p->lock);
    return err;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len,
                      int with_port)
{
    char a[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *i = (const struct sockaddr_in *)ss;

        inet_ntop(AF_INET, &i->sin_addr, a, sizeof(a));
        if (with_port)
            snprintf(buf, len, "%s:%u", a, ntohs(i->sin_port));
        else
            snprintf(buf, len, "%s", a);
    } else {
        const struct sockaddr_in6 *i = (const struct sockaddr_in6 *)ss;

        inet_ntop(AF_INET6, &i->sin6_addr, a, sizeof(a));
        if (with_port)
            snprintf(buf, len, "[%s]:%u", a, ntohs(i->sin6_port));
        else
            snprintf(buf, len, "[%s]", a);
    }
}

int tw_pool_dest_format(const struct tw_pool_dest *d, char *buf, size_t len)
{
    char s[INET6_ADDRSTRLEN + 4], t[INET6_ADDRSTRLEN + 10];

    if (!d || (!buf && len))
        return -EINVAL;
    addr_text(&d->dst, t, sizeof(t), 1);
    if (!d->srclen)
        return snprintf(buf, len, "%s", t);
    addr_text(&d->src, s, sizeof(s), 0);
    return snprintf(buf, len, "%s->%s", s, t);
}

int tw_pool_dests(struct tw_pool *p, struct tw_pool_dest **out, size_t n)
{
    struct tw_pool_dest *d;
    size_t i = 0;
    int total;

    if (!p || (!out && n))
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    for (d = p->dests; d && i < n; d = d->next)
        out[i++] = d;
    total = (int)p->ndests;
    pthread_mutex_unlock(&p->lock);
    return total;
}

/* ---- statistics ---------------------------------------------------------------- */

static void dest_snapshot(const struct tw_pool_dest *d, struct tw_pool_stats *st)
{
    *st = d->st;
    st->idle = d->nidle;
    st->leased = d->nleased;
    st->connecting = d->nconnecting;
    st->open = dest_open(d);
    st->waiting = d->nwaiting;
}

int tw_pool_dest_stats(const struct tw_pool_dest *d, struct tw_pool_stats *st)
{
    if (!d || !st)
        return -EINVAL;
    pthread_mutex_lock(&d->pool->lock);
    dest_snapshot(d, st);
    pthread_mutex_unlock(&d->pool->lock);
    return 0;
}

int tw_pool_stats(struct tw_pool *p, struct tw_pool_stats *st)
{
    struct tw_pool_stats one;

    if (!p || !st)
        return -EINVAL;
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&p->lock);
    for (struct tw_pool_dest *d = p->dests; d; d = d->next) {
        dest_snapshot(d, &one);
#define TW__POOL_STAT_ADD(name, kind, help) st->name += one.name;
        TW_POOL_STATS_MAP(TW__POOL_STAT_ADD)
#undef TW__POOL_STAT_ADD
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}
