/*
 * live.c — the live table's user-space half that needs no BPF: rows of
 * per-(destination, state) counts, the sock_diag walk that gives the same
 * rows (the truth for a reconciliation, and what a reader without a table
 * uses), the comparison that finds drift, and the public entry points that
 * tie them to the kernel half (live_bpf.c).
 *
 * Server-side connections are folded per client address (rport 0, server
 * 1) by the side rule of the report; a walk classifies its rows once it is
 * over (it has then seen every listener), with the table's listening ports
 * and range when it is a reconciliation's.
 *
 * Rows are kept sorted by their key (family, addresses, port, side, state) so
 * that two sets of rows compare in one merge.  The walk counts every state
 * the table counts: all but SYN_RECV (request sockets and children not yet
 * accepted, which have no events the table could follow), CLOSE and
 * NEW_SYN_RECV.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "live_int.h"
#include <linux/types.h>

#include "bpf/live.h"

static int row_cmp(const void *a, const void *b)
{
    const struct tw_live_row *x = a, *y = b;
    if (x->laddr.family != y->laddr.family)
        return x->laddr.family < y->laddr.family ? -1 : 1;
    int c = memcmp(x->raddr.u.b, y->raddr.u.b, 16);
    if (c)
        return c;
    if (x->rport != y->rport)
        return x->rport < y->rport ? -1 : 1;
    if (x->server != y->server)
        return x->server < y->server ? -1 : 1;
    if ((c = memcmp(x->laddr.u.b, y->laddr.u.b, 16)))
        return c;
    return (int)x->state - (int)y->state;
}

bool tw_live_row_same_dest(const struct tw_live_row *a, const struct tw_live_row *b)
{
    return a->laddr.family == b->laddr.family && a->rport == b->rport && a->server == b->server &&
           !memcmp(a->laddr.u.b, b->laddr.u.b, 16) && !memcmp(a->raddr.u.b, b->raddr.u.b, 16);
}

int tw__live_rows_push(struct tw__live_rows *r, const struct tw_live_row *row)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        struct tw_live_row *v = realloc(r->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = *row;
    return 0;
}

/* sort and merge equal keys (adding their counts), dropping zero rows */
void tw__live_rows_finish(struct tw__live_rows *r)
{
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), row_cmp);
    size_t o = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (o && row_cmp(&r->v[o - 1], &r->v[i]) == 0) {
            r->v[o - 1].n += r->v[i].n;
            continue;
        }
        r->v[o++] = r->v[i];
    }
    size_t k = 0;
    for (size_t i = 0; i < o; i++)
        if (r->v[i].n)
            r->v[k++] = r->v[i];
    r->n = k;
}

int tw__live_port_range(uint16_t *lo, uint16_t *hi)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
    if (!f)
        return -errno;
    unsigned a, b;
    int n = fscanf(f, "%u %u", &a, &b);
    fclose(f);
    if (n != 2 || a > 65535 || b > 65535)
        return -EINVAL;
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}

static bool side_listens(const struct tw__live_side *s, uint16_t port)
{
    return (s->bits[port >> 6] >> (port & 63)) & 1;
}

/* the walk: rows as they come, with each row's local port beside it */
struct walk {
    struct tw__live_rows *r;
    uint16_t *lport;
    size_t cap;
    int listeners_only;
    struct tw__live_side *side;
};

static int walk_cb(const struct tw_sock *s, void *arg)
{
    struct walk *w = arg;
    if (s->state == TW_LISTEN)
        w->side->bits[s->lport >> 6] |= 1ull << (s->lport & 63);
    if (w->listeners_only)
        return 0;
    struct tw_live_row row = {.laddr = s->laddr, .raddr = s->raddr, .state = s->state, .n = 1};
    row.rport = s->state == TW_LISTEN ? 0 : s->rport;
    if (s->state == TW_LISTEN)
        memset(&row.raddr.u, 0, sizeof(row.raddr.u));
    if (w->r->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        uint16_t *v = realloc(w->lport, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        w->lport = v;
        w->cap = cap;
    }
    w->lport[w->r->n] = s->lport;
    return tw__live_rows_push(w->r, &row);
}

static int walk_run(struct walk *w, unsigned states, char *err, size_t errlen)
{
    struct tw_source *src = NULL;
    int e = tw_source_open(TW_SOURCE_NETLINK, NULL, &src);
    if (e) {
        snprintf(err, errlen, "cannot open a sock_diag socket: %s", tw_strerror(e));
        return e;
    }
    struct tw_query q;
    tw_query_init(&q);
    q.states = states;
    e = tw_source_dump(src, &q, walk_cb, w);
    if (e)
        snprintf(err, errlen, "%s", tw_source_errmsg(src));
    tw_source_close(src);
    return e;
}

int tw__live_listeners(struct tw__live_side *side)
{
    char err[256];
    struct walk w = {.listeners_only = 1, .side = side};
    return walk_run(&w, TW_STATE_BIT(TW_LISTEN), err, sizeof(err));
}

int tw__live_walk(struct tw__live_rows *r, const struct tw__live_side *side, char *err,
                  size_t errlen)
{
    struct tw__live_side *sd = malloc(sizeof(*sd));
    if (!sd) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        return -ENOMEM;
    }
    int e = 0;
    if (side) {
        *sd = *side;
    } else {
        memset(sd, 0, sizeof(*sd));
        if ((e = tw__live_port_range(&sd->lo, &sd->hi)))
            snprintf(err, errlen, "cannot read ip_local_port_range: %s", strerror(-e));
    }
    struct walk w = {.r = r, .side = sd};
    r->n = 0;
    if (!e)
        e = walk_run(&w, TW_STATES_ALL & ~(TW_STATE_BIT(TW_SYN_RECV) |
                                           TW_STATE_BIT(TW_NEW_SYN_RECV) | TW_STATE_BIT(TW_CLOSE)),
                     err, errlen);
    if (!e) {
        /* classified once the walk is over: it has seen every listener */
        for (size_t i = 0; i < r->n; i++) {
            struct tw_live_row *x = &r->v[i];
            uint16_t lp = w.lport[i];
            if (x->state == TW_LISTEN)
                continue;
            if (live_side_server(side_listens(sd, lp), lp, x->rport, sd->lo, sd->hi)) {
                x->server = 1;
                x->rport = 0;
            }
        }
        tw__live_rows_finish(r);
    }
    free(w.lport);
    free(sd);
    return e;
}

int tw_live_walk(struct tw_live_row **rows, size_t *n)
{
    struct tw__live_rows r = {0};
    char err[256];
    int e = tw__live_walk(&r, NULL, err, sizeof(err));
    if (e) {
        free(r.v);
        return e;
    }
    *rows = r.v;
    *n = r.n;
    return 0;
}

/* the events of key's destination in e (rows of state 0); 0 if absent */
static int64_t dest_events(const struct tw__live_rows *e, const struct tw_live_row *key)
{
    if (!e || !e->n)
        return 0;
    struct tw_live_row k = *key;
    k.state = 0;
    const struct tw_live_row *f = bsearch(&k, e->v, e->n, sizeof(k), row_cmp);
    return f ? f->n : 0;
}

/* (the rule is in live_int.h; a, t, b, ea and eb are sorted) */
int64_t tw__live_compare(const struct tw__live_rows *a, const struct tw__live_rows *t,
                         const struct tw__live_rows *b, const struct tw__live_rows *ea,
                         const struct tw__live_rows *eb, struct tw__live_rows *out,
                         uint64_t *unsettled)
{
    size_t i = 0, j = 0, k = 0;
    int64_t abs_sum = 0;
    *unsettled = 0;
    out->n = 0;
    while (i < a->n || j < t->n || k < b->n) {
        /* the smallest key of the three heads */
        const struct tw_live_row *m = NULL;
        if (i < a->n)
            m = &a->v[i];
        if (j < t->n && (!m || row_cmp(&t->v[j], m) < 0))
            m = &t->v[j];
        if (k < b->n && (!m || row_cmp(&b->v[k], m) < 0))
            m = &b->v[k];
        struct tw_live_row key = *m;
        int64_t na = 0, nt = 0, nb = 0;
        if (i < a->n && row_cmp(&a->v[i], &key) == 0)
            na = a->v[i++].n;
        if (j < t->n && row_cmp(&t->v[j], &key) == 0)
            nt = t->v[j++].n;
        if (k < b->n && row_cmp(&b->v[k], &key) == 0)
            nb = b->v[k++].n;
        if (na == nt && nb == nt)
            continue;
        int64_t lo = na < nb ? na : nb, hi = na < nb ? nb : na;
        if (na != nb) {
            if (nt < lo || nt > hi)
                (*unsettled)++;
            continue;
        }
        int64_t diff = na > nt ? na - nt : nt - na;
        if (dest_events(eb, &key) - dest_events(ea, &key) >= diff) {
            (*unsettled)++; /* sockets born and gone, or moved, during the walk */
            continue;
        }
        key.n = na;
        key.truth = nt;
        abs_sum += diff;
        if (tw__live_rows_push(out, &key))
            break;
    }
    return abs_sum;
}
