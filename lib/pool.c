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
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <twkit/pool.h>

#include "twx/clock.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

/*
 * Internal, for tests and asserts: check every invariant of the pool (it
 * takes the lock).  Returns 0 when sane, else the source line of the first
 * check that failed.
 */
int tw__pool_sane(struct tw_pool *p);

/* ---- types ---------------------------------------------------------------- */

enum conn_state {
    C_FREE = 0,   /* slot unused, on the free list */
    C_CONNECTING, /* reserved for a connect in progress */
    C_IDLE,       /* connected, on the idle lists */
    C_LEASED,     /* handed out (or being checked before hand-out) */
};

enum close_reason {
    R_IDLE_TIMEOUT,
    R_LIFETIME,
    R_MAX_USES,
    R_DEAD,
    R_ERROR,
    R_OVER_CAP,
    R_SHUTDOWN,
};

struct conn {
    struct tw_pool_dest *dest;
    struct conn *dnext, *dprev; /* destination idle list; free list (dnext) */
    struct conn *gnext, *gprev; /* pool idle list */
    uint64_t expires;           /* coarse ns when the lifetime ends; 0 never */
    uint64_t idle_since;        /* coarse ns when it became idle */
    int fd;
    uint32_t id;                /* index in pool->slots */
    uint32_t gen;               /* changes at every lease; never 0 */
    uint32_t uses;              /* leases so far */
    enum conn_state state;
};

struct tw_pool_dest {
    struct tw_pool *pool;
    struct tw_pool_dest *next;    /* pool->dests, in order added */
    struct sockaddr_storage dst;
    struct sockaddr_storage src;
    socklen_t dstlen;
    socklen_t srclen;             /* 0: no bind */
    struct conn *idle_head;       /* newest idle */
    struct conn *idle_tail;       /* oldest idle */
    unsigned nidle, nleased, nconnecting, nwaiting;
    struct tw_pool_stats st;      /* counters only; gauges filled on read */
};

enum waiter_state { W_WAITING, W_GOT_CONN, W_GOT_SLOT, W_CLOSED };

struct waiter {
    struct waiter *next, *prev;
    struct tw_pool_dest *dest;
    struct conn *c;               /* set with W_GOT_CONN / W_GOT_SLOT */
    pthread_cond_t cond;
    enum waiter_state state;
};

struct tw_pool {
    pthread_mutex_t lock;
    pthread_condattr_t cattr;     /* CLOCK_MONOTONIC, for waiters */
    struct tw_pool_opts o;
    unsigned idle_cap;            /* min(max_idle_per_dest, max_per_dest) */
    uint64_t tag;                 /* random, non-zero: names the pool */
    uint64_t rng;                 /* xorshift state for lifetime jitter */
    int closed;
    struct tw_pool_dest *dests, **dests_tail;
    unsigned ndests;
    struct conn **slots;
    uint32_t nslots, slots_cap;
    struct conn *free_slots;
    struct conn *gidle_head, *gidle_tail;
    unsigned nidle, nopen;        /* whole pool */
    struct waiter *wq_head, *wq_tail;
    unsigned nwaiting;
};

/* fds to close once the mutex is released */
#define CLOSER_MAX 32
struct closer {
    int n;
    int fd[CLOSER_MAX];
};

static int sane_locked(struct tw_pool *p);

/* ---- small helpers -------------------------------------------------------- */

static uint64_t rng_next(struct tw_pool *p)
{
    uint64_t x = p->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void closer_add(struct closer *cl, int fd)
{
    if (fd < 0)
        return;
    if (cl->n < CLOSER_MAX)
        cl->fd[cl->n++] = fd;
    else
        close(fd); /* rare: more than a batch at once */
}

static void closer_flush(struct closer *cl)
{
    for (int i = 0; i < cl->n; i++)
        close(cl->fd[i]);
    cl->n = 0;
}

static unsigned dest_open(const struct tw_pool_dest *d)
{
    return d->nidle + d->nleased + d->nconnecting;
}

/* Room for one more connection to d under both caps. */
static int dest_room(const struct tw_pool *p, const struct tw_pool_dest *d)
{
    return p->o.max_per_dest == 0 || dest_open(d) < p->o.max_per_dest;
}

static int total_room(const struct tw_pool *p)
{
    return p->o.max_total == 0 || p->nopen < p->o.max_total;
}

static void count_close(struct tw_pool_dest *d, enum close_reason r)
{
    switch (r) {
    case R_IDLE_TIMEOUT: d->st.close_idle_timeout++; break;
    case R_LIFETIME:     d->st.close_lifetime++; break;
    case R_MAX_USES:     d->st.close_max_uses++; break;
    case R_DEAD:         d->st.close_dead++; break;
    case R_ERROR:        d->st.close_error++; break;
    case R_OVER_CAP:     d->st.close_over_cap++; break;
    case R_SHUTDOWN:     d->st.close_shutdown++; break;
    }
}

static uint32_t next_gen(uint32_t g)
{
    return g + 1 ? g + 1 : 1;
}

/* ---- idle lists ------------------------------------------------------------ */

static void idle_push(struct tw_pool *p, struct conn *c, uint64_t now)
{
    struct tw_pool_dest *d = c->dest;

    c->state = C_IDLE;
    c->idle_since = now;
    c->dprev = NULL;
    c->dnext = d->idle_head;
    if (d->idle_head)
        d->idle_head->dprev = c;
    else
        d->idle_tail = c;
    d->idle_head = c;
    c->gprev = NULL;
    c->gnext = p->gidle_head;
    if (p->gidle_head)
        p->gidle_head->gprev = c;
    else
        p->gidle_tail = c;
    p->gidle_head = c;
    d->nidle++;
    p->nidle++;
}

/* Take c off both idle lists; its state is left to the caller. */
static void idle_unlink(struct tw_pool *p, struct conn *c)
{
    struct tw_pool_dest *d = c->dest;

    assert(c->state == C_IDLE);
    if (c->dprev)
        c->dprev->dnext = c->dnext;
    else
        d->idle_head = c->dnext;
    if (c->dnext)
        c->dnext->dprev = c->dprev;
    else
        d->idle_tail = c->dprev;
    if (c->gprev)
        c->gprev->gnext = c->gnext;
    else
        p->gidle_head = c->gnext;
    if (c->gnext)
        c->gnext->gprev = c->gprev;
    else
        p->gidle_tail = c->gprev;
    c->dnext = c->dprev = c->gnext = c->gprev = NULL;
    d->nidle--;
    p->nidle--;
}

/* ---- slots ----------------------------------------------------------------- */

/* Reserve a slot for a new connection to d (state CONNECTING). */
static struct conn *slot_reserve(struct tw_pool *p, struct tw_pool_dest *d)
{
    struct conn *c = p->free_slots;

    if (c) {
        p->free_slots = c->dnext;
    } else {
        if (p->nslots == p->slots_cap) {
            uint32_t ncap = p->slots_cap ? p->slots_cap * 2 : 16;
            struct conn **ns = realloc(p->slots, ncap * sizeof(*ns));

            if (!ns)
                return NULL;
            p->slots = ns;
            p->slots_cap = ncap;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
            return NULL;
        c->id = p->nslots;
        c->gen = 1;
        p->slots[p->nslots++] = c;
    }
    c->dnext = c->dprev = c->gnext = c->gprev = NULL;
    c->dest = d;
    c->fd = -1;
    c->uses = 0;
    c->expires = 0;
    c->idle_since = 0;
    c->state = C_CONNECTING;
    d->nconnecting++;
    p->nopen++;
    return c;
}

static void state_leave(struct tw_pool *p, struct conn *c)
{
    struct tw_pool_dest *d = c->dest;

    switch (c->state) {
    case C_IDLE:
        idle_unlink(p, c);
        break;
    case C_LEASED:
        d->nleased--;
        break;
    case C_CONNECTING:
        d->nconnecting--;
        break;
    case C_FREE:
        assert(!"slot already free");
        break;
    }
}

static void grant(struct tw_pool *p, struct closer *cl);

/* Close c (its fd goes to cl), count the reason, free its slot. */
static void slot_release(struct tw_pool *p, struct conn *c,
                         enum close_reason reason, struct closer *cl)
{
    state_leave(p, c);
    count_close(c->dest, reason);
    closer_add(cl, c->fd);
    c->fd = -1;
    c->state = C_FREE;
    c->gen = next_gen(c->gen);
    c->dest = NULL;
    c->dnext = p->free_slots;
    p->free_slots = c;
    p->nopen--;
}

/* Close c and let waiters use the room it leaves. */
static void conn_close(struct tw_pool *p, struct conn *c,
                       enum close_reason reason, struct closer *cl)
{
    slot_release(p, c, reason, cl);
    grant(p, cl);
}

/* ---- waiters --------------------------------------------------------------- */

static void wq_remove(struct tw_pool *p, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        p->wq_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        p->wq_tail = w->prev;
    w->next = w->prev = NULL;
    w->dest->nwaiting--;
    p->nwaiting--;
}

static void wq_append(struct tw_pool *p, struct waiter *w)
{
    w->next = NULL;
    w->prev = p->wq_tail;
    if (p->wq_tail)
        p->wq_tail->next = w;
    else
        p->wq_head = w;
    p->wq_tail = w;
    w->dest->nwaiting++;
    p->nwaiting++;
}

static void wake(struct tw_pool *p, struct waiter *w, enum waiter_state st,
                 struct conn *c)
{
    wq_remove(p, w);
    w->state = st;
    w->c = c;
    pthread_cond_signal(&w->cond);
}

/*
 * Give free room to waiters, earliest first.  A waiter is served when its
 * destination has room and the pool has room (possibly after evicting the
 * least recently used idle connection of the pool).  Called after anything
 * that frees room; keeps the invariant "no waiter could be served now".
 */
static void grant(struct tw_pool *p, struct closer *cl)
{
    struct waiter *w = p->wq_head, *next;

    while (w) {
        next = w->next;
        if (!total_room(p) && !p->gidle_tail)
            return; /* nobody can be served */
        if (dest_room(p, w->dest)) {
            struct conn *c;

            /* Evict the pool's least recently used idle connection; it
             * cannot be one of w's: a destination never has both idle
             * connections and waiters. */
            if (!total_room(p))
                slot_release(p, p->gidle_tail, R_OVER_CAP, cl);
            c = slot_reserve(p, w->dest);
            if (!c)
                return; /* ENOMEM: the waiter waits on, up to its deadline */
            wake(p, w, W_GOT_SLOT, c);
        }
        w = next;
    }
}

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
        wake(p, p->wq_head, W_CLOSED, NULL);
    while (p->gidle_tail) {
        conn_close(p, p->gidle_tail, R_SHUTDOWN, cl);
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
    assert(sane_locked(p) == 0);
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
        state_leave(p, c);
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
    idle_unlink(p, c);
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
        slot_release(p, d->idle_tail, why, cl);
        n++;
    }
    if (n)
        grant(p, cl);
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
            conn_close(p, c, R_LIFETIME, &cl);
            continue;
        }
        idle_ns = now > c->idle_since ? now - c->idle_since : 0;
        goto check;
    }
    if (dest_room(p, d)) {
        if (total_room(p))
            goto reserve;
        if (p->gidle_tail) {
            slot_release(p, p->gidle_tail, R_OVER_CAP, &cl);
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
        wq_append(p, &w);
        while (w.state == W_WAITING) {
            int rc = pthread_cond_timedwait(&w.cond, &p->lock, &ts);

            if (rc == ETIMEDOUT && w.state == W_WAITING) {
                wq_remove(p, &w);
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
    c = slot_reserve(p, d);
    if (!c) {
        grant(p, &cl);
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
        c->state = C_FREE;
        c->gen = next_gen(c->gen);
        c->dest = NULL;
        c->dnext = p->free_slots;
        p->free_slots = c;
        p->nopen--;
        grant(p, &cl);
        err = fd;
        goto out;
    }
    c->fd = fd;
    c->state = C_LEASED;
    d->nconnecting--;
    d->nleased++;
    d->st.connects++;
    if (p->closed) {
        conn_close(p, c, R_SHUTDOWN, &cl);
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
    conn_close(p, c, alive ? R_SHUTDOWN : R_DEAD, &cl);
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
        conn_close(p, c, R_SHUTDOWN, &cl);
        goto out;
    }
    if (how == TW_POOL_DISCARD) {
        conn_close(p, c, R_ERROR, &cl);
        goto out;
    }
    if (p->o.max_uses && c->uses >= p->o.max_uses) {
        conn_close(p, c, R_MAX_USES, &cl);
        goto out;
    }
    now = twx_now_coarse_ns();
    if (c->expires && now >= c->expires) {
        conn_close(p, c, R_LIFETIME, &cl);
        goto out;
    }
    /* The earliest waiter this connection can serve: one for the same
     * destination (hand it over), or one for another destination with room
     * there, waiting for room under the total cap (close it for them). */
    for (w = p->wq_head; w; w = w->next) {
        if (w->dest == d) {
            c->idle_since = now;
            wake(p, w, W_GOT_CONN, c);
            goto out;
        }
        if (dest_room(p, w->dest)) {
            conn_close(p, c, R_OVER_CAP, &cl);
            goto out;
        }
    }
    reap_tail(p, d, now, &cl);
    if (d->nidle >= p->idle_cap) {
        conn_close(p, c, R_OVER_CAP, &cl);
        goto out;
    }
    d->nleased--;
    idle_push(p, c, now);
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
                    slot_release(p, c, why, &cl);
                    total++;
                    full = cl.n == CLOSER_MAX;
                }
            }
        }
        grant(p, &cl);
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

/* ---- invariants ----------------------------------------------------------------- */

#define SANE(cond)                                                             \
    do {                                                                       \
        if (!(cond))                                                           \
            return __LINE__;                                                   \
    } while (0)

static int sane_locked(struct tw_pool *p)
{
    unsigned nidle = 0, nopen = 0, nfree = 0, nwait = 0, ndests = 0;
    struct tw_pool_dest *d;
    struct conn *c;
    struct waiter *w;

    for (d = p->dests; d; d = d->next) {
        unsigned n = 0, idle = 0, leased = 0, connecting = 0;
        const struct tw_pool_stats *s = &d->st;

        ndests++;
        SANE(d->pool == p);
        for (c = d->idle_head; c; c = c->dnext) {
            SANE(c->state == C_IDLE && c->dest == d);
            SANE(c->dnext ? c->dnext->dprev == c : d->idle_tail == c);
            SANE(!c->dnext || c->dnext->idle_since <= c->idle_since);
            n++;
        }
        SANE(n == d->nidle);
        SANE(n <= p->idle_cap);
        for (uint32_t i = 0; i < p->nslots; i++) {
            c = p->slots[i];
            if (c->dest != d)
                continue;
            idle += c->state == C_IDLE;
            leased += c->state == C_LEASED;
            connecting += c->state == C_CONNECTING;
        }
        SANE(idle == d->nidle && leased == d->nleased &&
             connecting == d->nconnecting);
        SANE(!p->o.max_per_dest || dest_open(d) <= p->o.max_per_dest);
        SANE(!(d->nwaiting && d->nidle));
        SANE(s->leases == s->connects + s->reuses);
        SANE(s->connects == d->nidle + d->nleased + s->close_idle_timeout +
                                s->close_lifetime + s->close_max_uses +
                                s->close_dead + s->close_error +
                                s->close_over_cap + s->close_shutdown);
        nidle += n;
    }
    SANE(ndests == p->ndests);
    SANE(nidle == p->nidle);
    {
        unsigned n = 0;

        for (c = p->gidle_head; c; c = c->gnext) {
            SANE(c->state == C_IDLE);
            SANE(c->gnext ? c->gnext->gprev == c : p->gidle_tail == c);
            n++;
        }
        SANE(n == p->nidle);
    }
    for (uint32_t i = 0; i < p->nslots; i++) {
        c = p->slots[i];
        SANE(c->id == i && c->gen != 0);
        if (c->state != C_FREE) {
            SANE(c->dest && c->dest->pool == p);
            SANE((c->fd >= 0) == (c->state != C_CONNECTING));
            nopen++;
        }
    }
    for (c = p->free_slots; c; c = c->dnext) {
        SANE(c->state == C_FREE);
        nfree++;
    }
    SANE(nopen == p->nopen && nfree + nopen == p->nslots);
    SANE(!p->o.max_total || p->nopen <= p->o.max_total);
    for (w = p->wq_head; w; w = w->next) {
        SANE(w->state == W_WAITING);
        SANE(w->next ? w->next->prev == w : p->wq_tail == w);
        /* nobody waits who could be served now */
        SANE(!(dest_room(p, w->dest) && (total_room(p) || p->gidle_tail)));
        nwait++;
    }
    SANE(nwait == p->nwaiting);
    SANE(!p->closed || (nwait == 0 && p->nidle == 0));
    return 0;
}

int tw__pool_sane(struct tw_pool *p)
{
    int r;

    pthread_mutex_lock(&p->lock);
    r = sane_locked(p);
    pthread_mutex_unlock(&p->lock);
    return r;
}
