/*
 * live.c — the live table's user-space half that needs no BPF: rows of
 * per-(destination, state) counts, the sock_diag walk that gives the same
 * rows (the truth for a reconciliation, and what a reader without a table
 * uses), the comparison that finds drift, and the public entry points that
 * tie them to the kernel half (live_bpf.c).
 *
 * Rows are kept sorted by their key (family, addresses, port, state) so
 * that two sets of rows compare in one merge.  The walk counts every state
 * the table counts: all but SYN_RECV (request sockets and children not yet
 * accepted, which have no events the table could follow), CLOSE and
 * NEW_SYN_RECV.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "live_int.h"

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
    if ((c = memcmp(x->laddr.u.b, y->laddr.u.b, 16)))
        return c;
    return (int)x->state - (int)y->state;
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

static int walk_cb(const struct tw_sock *s, void *arg)
{
    struct tw_live_row row = {.laddr = s->laddr, .raddr = s->raddr, .state = s->state, .n = 1};
    row.rport = s->state == TW_LISTEN ? 0 : s->rport;
    if (s->state == TW_LISTEN)
        memset(&row.raddr.u, 0, sizeof(row.raddr.u));
    return tw__live_rows_push(arg, &row);
}

int tw__live_walk(struct tw__live_rows *r, char *err, size_t errlen)
{
    struct tw_source *src = NULL;
    int e = tw_source_open(TW_SOURCE_NETLINK, NULL, &src);
    if (e) {
        snprintf(err, errlen, "cannot open a sock_diag socket: %s", tw_strerror(e));
        return e;
    }
    struct tw_query q;
    tw_query_init(&q);
    q.states = TW_STATES_ALL & ~(TW_STATE_BIT(TW_SYN_RECV) | TW_STATE_BIT(TW_NEW_SYN_RECV) |
                                 TW_STATE_BIT(TW_CLOSE));
    r->n = 0;
    e = tw_source_dump(src, &q, walk_cb, r);
    if (e)
        snprintf(err, errlen, "%s", tw_source_errmsg(src));
    tw_source_close(src);
    if (!e)
        tw__live_rows_finish(r);
    return e;
}

int tw_live_walk(struct tw_live_row **rows, size_t *n)
{
    struct tw__live_rows r = {0};
    char err[256];
    int e = tw__live_walk(&r, err, sizeof(err));
    if (e) {
        free(r.v);
        return e;
    }
    *rows = r.v;
    *n = r.n;
    return 0;
}

/*
 * Compare a (table before the walk), t (the walk) and b (table after):
 * rows where the table stayed the same during the walk and differs from
 * it are drift (into out: n = table, truth = walk); rows whose count
 * changed during the walk are counted in *unsettled unless the walk's
 * count lies between the two.  All three sorted.  Returns the drift rows'
 * sum of |table - walk|.
 */
int64_t tw__live_compare(const struct tw__live_rows *a, const struct tw__live_rows *t,
                         const struct tw__live_rows *b, struct tw__live_rows *out,
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
        key.n = na;
        key.truth = nt;
        abs_sum += na > nt ? na - nt : nt - na;
        if (tw__live_rows_push(out, &key))
            break;
    }
    return abs_sum;
}
