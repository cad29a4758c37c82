/*
 * pool_lease.c — the hot path of tw_pool: opening a connection (with the
 * pool's bind and port-range options) outside the mutex, tw_pool_get with
 * its LIFO/FIFO choice, ageing checks, liveness probe and FIFO waiting
 * under the caps, and tw_pool_put / discard / reap.  See pool.c for the
 * design and twkit/pool.h for the contract.
 */
#include "pool_internal.h"

/* ---- sockets ----------------------------------------------------------------- */

static int conn_alive(int fd)
{
    char b;
    ssize_t n;

    do
        n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Open a connection for d.  Returns the fd or -errno.  No lock held. */
static int conn_open(const struct tw_pool_opts *o, const struct tw_pool_dest *d)
{
    int fd, one = 1, err;

    fd = socket(d->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                IPPROTO_TCP);
    if (fd < 0)
        return -errno;
    if ((o->flags & TW_POOL_NODELAY) &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        goto fail;
    if ((o->flags & TW_POOL_KEEPALIVE) &&
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0)
        goto fail;
    if (o->port_range_lo) {
        uint32_t range = (uint32_t)o->port_range_hi << 16 | o->port_range_lo;

        if (setsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &range,
                       sizeof(range)) < 0)
            goto fail;
    }
    if (d->srclen) {
        if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                       sizeof(one)) < 0)
            goto fail;
        if (bind(fd, (const struct sockaddr *)&d->src, d->srclen) < 0)
            goto fail;
    }
    if (connect(fd, (const struct sockaddr *)&d->dst, d->dstlen) < 0) {
        uint64_t deadline = 0;
        socklen_t len = sizeof(err);

        if (errno != EINPROGRESS)
            goto fail;
        if (o->connect_timeout_ms)
            deadline = twx_now_ns() + (uint64_t)o->connect_timeout_ms * 1000000u;
        for (;;) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int ms = -1, n;

            if (deadline) {
                uint64_t t = twx_now_ns();

                if (t >= deadline) {
                    errno = ETIMEDOUT;
                    goto fail;
                }
                ms = (int)((deadline - t + 999999) / 1000000);
            }
            n = poll(&pfd, 1, ms);
            if (n > 0)
                break;
            if (n < 0 && errno != EINTR)
                goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            goto fail;
        if (err) {
            errno = err;
            goto fail;
        }
    }
    if (!(o->flags & TW_POOL_NONBLOCK)) {
        int off = 0;

        if (ioctl(fd, FIONBIO, &off) < 0)
            goto fail;
    }
    return fd;
fail:
    err = errno;
    close(fd);
    return -err;
}

/* ---- get and put ------------------------------------------------------------- */

static void lease_clear(struct tw_pool_conn *l)
{
    l->fd = -1;
    l->uses = 0;
    l->idle_ns = 0;
    l->dest = NULL;
    l->_gen = 0;
}

static void lease_fill(struct tw_pool *p, struct conn *c,
                       struct tw_pool_conn *l, uint64_t idle_ns)
{
    c->gen = next_gen(c->gen);
    c->uses++;
    l->fd = c->fd;
    l->uses = c->uses;
    l->idle_ns = idle_ns;
    l->dest = c->dest;
    l->_tag = p->tag;
    l->_slot = c->id;
    l->_gen = c->gen;
}

/* Take the idle connection that the reuse order picks; state LEASED. */
static struct conn *idle_pop(struct tw_pool *p, struct tw_pool_dest *d)
{
    struct conn *c = p->o.order == TW_POOL_FIFO ? d->idle_tail : d->idle_head;

    if (!c)
        return NULL;
    tw__pool_idle_unlink(p, c);
    c->state = C_LEASED;
    d->nleased++;
    return c;
}

static int idle_expired(const struct tw_pool *p, const struct conn *c,
                        uint64_t now, enum close_reason *why)
{
    if (p->o.idle_timeout_ms &&
        now - c->idle_since >= (uint64_t)p->o.idle_timeout_ms * 1000000u) {
        *why = R_IDLE_TIMEOUT;
        return 1;
    }
    if (c->expires && now >= c->expires) {
        *why = R_LIFETIME;
        return 1;
    }
    return 0;
}

/* Close expired idle connections at d's old end (a few per call). */
static void reap_tail(struct tw_pool *p, struct tw_pool_dest *d, uint64_t now,
                      struct closer *cl)
{
    enum close_reason why;
    int n = 0;

    while (d->idle_tail && n < 8 && idle_expired(p, d->idle_tail, now, &why)) {
        tw__pool_slot_release(p, d->idle_tail, why, cl);
        n++;
    }
    if (n)
        tw__pool_grant(p, cl);
}

static uint64_t lifetime_end(struct tw_pool *p, uint64_t now)
{
    uint64_t ms = p->o.max_lifetime_ms;

    if (!ms)
        return 0;
    if (p->o.lifetime_jitter_ms)
        ms -= rng_next(p) % ((uint64_t)p->o.lifetime_jitter_ms + 1);
    return now + ms * 1000000u + (ms == 0); /* never 0: 0 means "no end" */
}

int tw_pool_get(struct tw_pool *p, struct tw_pool_dest *d, int wait_ms,
                struct tw_pool_conn *l)
{
    struct closer cl = { 0 };
    struct conn *c = NULL;
    uint64_t now, idle_ns = 0, deadline = 0, wait_ns;
    int err = 0, fd, alive;

    if (!l)
        return -EINVAL;
    lease_clear(l);
    l->_tag = 0;
    l->_slot = 0;
    if (!p || !d || wait_ms < -1)
        return -EINVAL;
    if (d->pool != p)
        return TW_EFOREIGN;
    wait_ns = (wait_ms == TW_POOL_WAIT_DEFAULT ? (uint64_t)p->o.wait_timeout_ms
                                               : (uint64_t)wait_ms) * 1000000u;

    pthread_mutex_lock(&p->lock);
again:
    if (p->closed) {
        err = TW_ECLOSED;
        goto out;
    }
    now = twx_now_coarse_ns();
    reap_tail(p, d, now, &cl);
    while ((c = idle_pop(p, d)) != NULL) {
        if (c->expires && now >= c->expires) {
            tw__pool_conn_close(p, c, R_LIFETIME, &cl);
            continue;
        }
        idle_ns = now > c->idle_since ? now - c->idle_since : 0;
        goto check;
    }
    if (dest_room(p, d)) {
        if (total_room(p))
            goto reserve;
        if (p->gidle_tail) {
            tw__pool_slot_release(p, p->gidle_tail, R_OVER_CAP, &cl);
            goto reserve;
        }
    }

    /* A cap is reached: wait in line. */
    d->st.waits++;
    if (wait_ns == 0) {
        d->st.wait_timeouts++;
        err = TW_EWAITTIMEOUT;
        goto out;
    }
    {
        struct waiter w = { .dest = d, .state = W_WAITING };
        struct timespec ts;

        if (!deadline)
            deadline = twx_now_ns() + wait_ns;
        ts.tv_sec = (time_t)(deadline / 1000000000u);
        ts.tv_nsec = (long)(deadline % 1000000000u);
        pthread_cond_init(&w.cond, &p->cattr);
        tw__pool_wq_append(p, &w);
        while (w.state == W_WAITING) {
            int rc = pthread_cond_timedwait(&w.cond, &p->lock, &ts);

            if (rc == ETIMEDOUT && w.state == W_WAITING) {
                tw__pool_wq_remove(p, &w);
                d->st.wait_timeouts++;
                err = TW_EWAITTIMEOUT;
                break;
            }
        }
        pthread_cond_destroy(&w.cond);
        if (err)
            goto out;
        if (w.state == W_CLOSED) {
            err = TW_ECLOSED;
            goto out;
        }
        c = w.c;
        if (w.state == W_GOT_SLOT)
            goto connect;
        idle_ns = 0; /* handed over by tw_pool_put() */
        goto check;
    }

reserve:
    c = tw__pool_slot_reserve(p, d);
    if (!c) {
        tw__pool_grant(p, &cl);
        err = -ENOMEM;
        goto out;
    }
connect:
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    fd = conn_open(&p->o, d);
    pthread_mutex_lock(&p->lock);
    if (fd < 0) {
        if (fd == -ETIMEDOUT)
            d->st.connect_timeouts++;
        else
            d->st.connect_errors++;
        /* give the slot back; nothing was opened, so no close is counted */
        d->nconnecting--;
        tw__pool_slot_free(p, c);
        tw__pool_grant(p, &cl);
        err = fd;
        goto out;
    }
    c->fd = fd;
    c->state = C_LEASED;
    d->nconnecting--;
    d->nleased++;
    d->st.connects++;
    if (p->closed) {
        tw__pool_conn_close(p, c, R_SHUTDOWN, &cl);
        err = TW_ECLOSED;
        goto out;
    }
    c->expires = lifetime_end(p, twx_now_coarse_ns());
    d->st.leases++;
    lease_fill(p, c, l, 0);
    goto out;

check:
    /* c is LEASED to us: check it with the lock released */
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    alive = conn_alive(c->fd);
    pthread_mutex_lock(&p->lock);
    if (alive && !p->closed) {
        d->st.reuses++;
        d->st.leases++;
        lease_fill(p, c, l, idle_ns);
        goto out;
    }
    if (!alive && !p->closed && !d->idle_head) {
        /* dead, and no other idle connection: reconnect in its slot */
        count_close(d, R_DEAD);
        closer_add(&cl, c->fd);
        c->fd = -1;
        c->uses = 0;
        c->expires = 0;
        c->gen = next_gen(c->gen);
        c->state = C_CONNECTING;
        d->nleased--;
        d->nconnecting++;
        goto connect;
    }
    tw__pool_conn_close(p, c, alive ? R_SHUTDOWN : R_DEAD, &cl);
    goto again;

out:
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    return err;
}

int tw_pool_put(struct tw_pool *p, struct tw_pool_conn *l, int how)
{
    struct closer cl = { 0 };
    struct tw_pool_dest *d;
    struct waiter *w;
    struct conn *c;
    uint64_t now;

    if (!p || !l || (how != TW_POOL_REUSE && how != TW_POOL_DISCARD))
        return -EINVAL;
    if (l->_tag != p->tag)
        return TW_EFOREIGN;
    pthread_mutex_lock(&p->lock);
    if (l->_slot >= p->nslots) {
        pthread_mutex_unlock(&p->lock);
        return TW_EFOREIGN;
    }
    c = p->slots[l->_slot];
    if (l->_gen == 0 || c->gen != l->_gen || c->state != C_LEASED) {
        pthread_mutex_unlock(&p->lock);
        return TW_EDOUBLE;
    }
    lease_clear(l);
    c->gen = next_gen(c->gen); /* the lease (and any copy) is spent */
    d = c->dest;
    if (p->closed) {
        tw__pool_conn_close(p, c, R_SHUTDOWN, &cl);
        goto out;
    }
    if (how == TW_POOL_DISCARD) {
        tw__pool_conn_close(p, c, R_ERROR, &cl);
        goto out;
    }
    if (p->o.max_uses && c->uses >= p->o.max_uses) {
        tw__pool_conn_close(p, c, R_MAX_USES, &cl);
        goto out;
    }
    now = twx_now_coarse_ns();
    if (c->expires && now >= c->expires) {
        tw__pool_conn_close(p, c, R_LIFETIME, &cl);
        goto out;
    }
    /* The earliest waiter this connection can serve: one for the same
     * destination (hand it over), or one for another destination with room
     * there, waiting for room under the total cap (close it for them). */
    for (w = p->wq_head; w; w = w->next) {
        if (w->dest == d) {
            c->idle_since = now;
            tw__pool_wake(p, w, W_GOT_CONN, c);
            goto out;
        }
        if (dest_room(p, w->dest)) {
            tw__pool_conn_close(p, c, R_OVER_CAP, &cl);
            goto out;
        }
    }
    reap_tail(p, d, now, &cl);
    if (d->nidle >= p->idle_cap) {
        tw__pool_conn_close(p, c, R_OVER_CAP, &cl);
        goto out;
    }
    d->nleased--;
    tw__pool_idle_push(p, c, now);
out:
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    return 0;
}

int tw_pool_discard(struct tw_pool *p, struct tw_pool_conn *l)
{
    return tw_pool_put(p, l, TW_POOL_DISCARD);
}

int tw_pool_reap(struct tw_pool *p)
{
    struct closer cl = { 0 };
    int total = 0;

    if (!p)
        return -EINVAL;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        uint64_t now = twx_now_coarse_ns();
        int full = 0;

        for (struct tw_pool_dest *d = p->dests; d && !full; d = d->next) {
            struct conn *c = d->idle_tail, *prev;
            enum close_reason why;

            for (; c && !full; c = prev) {
                prev = c->dprev;
                if (idle_expired(p, c, now, &why)) {
                    tw__pool_slot_release(p, c, why, &cl);
                    total++;
                    full = cl.n == CLOSER_MAX;
                }
            }
        }
        tw__pool_grant(p, &cl);
        if (!full)
            break;
        pthread_mutex_unlock(&p->lock);
        closer_flush(&cl);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    closer_flush(&cl);
    return total;
}
