/*
 * pool_internal.h — what the files of tw_pool share: the types behind the
 * opaque struct tw_pool, small inline helpers, and the slot, idle-list and
 * waiter operations of pool_core.c that pool.c (lifecycle, destinations,
 * statistics) and pool_lease.c (connect, get, put) call.  Every function
 * here except the inline ones expects the pool's mutex held.  Nothing
 * outside lib/pool*.c includes it.
 */
#ifndef TWKIT_POOL_INTERNAL_H
#define TWKIT_POOL_INTERNAL_H

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

/* ---- small helpers (inline: every file of the pool uses them) ----------- */

static inline uint64_t rng_next(struct tw_pool *p)
{
    uint64_t x = p->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline void closer_add(struct closer *cl, int fd)
{
    if (fd < 0)
        return;
    if (cl->n < CLOSER_MAX)
        cl->fd[cl->n++] = fd;
    else
        close(fd); /* rare: more than a batch at once */
}

static inline void closer_flush(struct closer *cl)
{
    for (int i = 0; i < cl->n; i++)
        close(cl->fd[i]);
    cl->n = 0;
}

static inline unsigned dest_open(const struct tw_pool_dest *d)
{
    return d->nidle + d->nleased + d->nconnecting;
}

/* Room for one more connection to d under both caps. */
static inline int dest_room(const struct tw_pool *p, const struct tw_pool_dest *d)
{
    return p->o.max_per_dest == 0 || dest_open(d) < p->o.max_per_dest;
}

static inline int total_room(const struct tw_pool *p)
{
    return p->o.max_total == 0 || p->nopen < p->o.max_total;
}

static inline void count_close(struct tw_pool_dest *d, enum close_reason r)
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

static inline uint32_t next_gen(uint32_t g)
{
    return g + 1 ? g + 1 : 1;
}

/* ---- pool_core.c: slots, idle lists, waiters, invariants -------------------- */

void tw__pool_conn_close(struct tw_pool *p, struct conn *c,
                       enum close_reason reason, struct closer *cl);
void tw__pool_grant(struct tw_pool *p, struct closer *cl);
void tw__pool_idle_push(struct tw_pool *p, struct conn *c, uint64_t now);
void tw__pool_idle_unlink(struct tw_pool *p, struct conn *c);
int tw__pool_sane_locked(struct tw_pool *p);
/* Put slot c (no fd, out of its state's count) on the free list. */
void tw__pool_slot_free(struct tw_pool *p, struct conn *c);
void tw__pool_slot_release(struct tw_pool *p, struct conn *c,
                         enum close_reason reason, struct closer *cl);
struct conn *tw__pool_slot_reserve(struct tw_pool *p, struct tw_pool_dest *d);
void tw__pool_state_leave(struct tw_pool *p, struct conn *c);
void tw__pool_wake(struct tw_pool *p, struct waiter *w, enum waiter_state st,
                 struct conn *c);
void tw__pool_wq_append(struct tw_pool *p, struct waiter *w);
void tw__pool_wq_remove(struct tw_pool *p, struct waiter *w);

#endif /* TWKIT_POOL_INTERNAL_H */
