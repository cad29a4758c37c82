/*
 * pool_core.c — the bookkeeping at the heart of tw_pool: slots that are
 * never freed before the pool (so a lease names its connection by index
 * and generation), the two idle lists (per destination and pool-wide),
 * the FIFO queue of waiters and the grant rule that hands a freed slot or
 * a returned connection to the earliest waiter it can serve, and the
 * invariant checker.  Everything here runs under the pool's mutex and
 * makes no system call.  The design is told in pool.c.
 */
#include "pool_internal.h"

/* ---- idle lists ------------------------------------------------------------ */

void tw__pool_idle_push(struct tw_pool *p, struct conn *c, uint64_t now)
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
void tw__pool_idle_unlink(struct tw_pool *p, struct conn *c)
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
struct conn *tw__pool_slot_reserve(struct tw_pool *p, struct tw_pool_dest *d)
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

void tw__pool_state_leave(struct tw_pool *p, struct conn *c)
{
    struct tw_pool_dest *d = c->dest;

    switch (c->state) {
    case C_IDLE:
        tw__pool_idle_unlink(p, c);
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

/* Put slot c (no fd any more, out of its state's count) on the free list. */
void tw__pool_slot_free(struct tw_pool *p, struct conn *c)
{
    c->state = C_FREE;
    c->gen = next_gen(c->gen);
    c->dest = NULL;
    c->dnext = p->free_slots;
    p->free_slots = c;
    p->nopen--;
}

/* Close c (its fd goes to cl), count the reason, free its slot. */
void tw__pool_slot_release(struct tw_pool *p, struct conn *c,
                         enum close_reason reason, struct closer *cl)
{
    tw__pool_state_leave(p, c);
    count_close(c->dest, reason);
    closer_add(cl, c->fd);
    c->fd = -1;
    tw__pool_slot_free(p, c);
}

/* Close c and let waiters use the room it leaves. */
void tw__pool_conn_close(struct tw_pool *p, struct conn *c,
                       enum close_reason reason, struct closer *cl)
{
    tw__pool_slot_release(p, c, reason, cl);
    tw__pool_grant(p, cl);
}

/* ---- waiters --------------------------------------------------------------- */

void tw__pool_wq_remove(struct tw_pool *p, struct waiter *w)
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

void tw__pool_wq_append(struct tw_pool *p, struct waiter *w)
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

void tw__pool_wake(struct tw_pool *p, struct waiter *w, enum waiter_state st,
                 struct conn *c)
{
    tw__pool_wq_remove(p, w);
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
void tw__pool_grant(struct tw_pool *p, struct closer *cl)
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
                tw__pool_slot_release(p, p->gidle_tail, R_OVER_CAP, cl);
            c = tw__pool_slot_reserve(p, w->dest);
            if (!c)
                return; /* ENOMEM: the waiter waits on, up to its deadline */
            tw__pool_wake(p, w, W_GOT_SLOT, c);
        }
        w = next;
    }
}

/* ---- invariants ----------------------------------------------------------------- */

#define SANE(cond)                                                             \
    do {                                                                       \
        if (!(cond))                                                           \
            return __LINE__;                                                   \
    } while (0)

int tw__pool_sane_locked(struct tw_pool *p)
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
    r = tw__pool_sane_locked(p);
    pthread_mutex_unlock(&p->lock);
    return r;
}
