/*
 * live_dests.c — the live view's rows: one per destination, from a sample of
 * the live table (counts per destination and state).
 *
 * The curses view (live_tui.c) shows destinations, not (destination, state)
 * pairs, and the net change of each one's TIME_WAIT since the previous
 * sample; this file makes those rows, the totals by state and each column's
 * widest value, and sorts them, so that the view only draws and takes keys.
 * The table keeps no births per destination, so the change is net: new minus
 * expired, between two samples matched by destination.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "twx/clock.h"
#include "watch/watch.h"

const char *const live_col_name[2][COL_MAX] = {
    {"SRC", "DST:PORT", "TIME_WAIT", "ESTAB", "FIN_WAIT2", "CLOSE_WAIT", "OTHER", "TOTAL",
     "TW NET/S"},
    {"SRC", "DST:PORT", "TW", "ESTAB", "FW2", "CW", "OTHER", "TOTAL", "TW NET/S"},
};
const char *const live_sort_name[LS_MAX] = {"TIME_WAIT", "total", "address"};

static int key_cmp(const void *pa, const void *pb)
{
    const struct ldest *a = pa, *b = pb;
    if (a->r.family != b->r.family)
        return a->r.family < b->r.family ? -1 : 1;
    int c = memcmp(a->l.u.b, b->l.u.b, 16);
    if (!c)
        c = memcmp(a->r.u.b, b->r.u.b, 16);
    if (!c)
        c = (a->rport > b->rport) - (a->rport < b->rport);
    if (!c)
        c = (a->kind > b->kind) - (a->kind < b->kind);
    return c;
}

static int view_cmp(const void *pa, const void *pb, void *arg)
{
    const struct ldest *a = pa, *b = pb;
    enum lsort sort = *(const enum lsort *)arg;
    int k = sort == LS_TW ? LC_TW : LC_TOTAL;
    if (sort != LS_ADDR && a->c[k] != b->c[k])
        return a->c[k] < b->c[k] ? 1 : -1;
    if (sort == LS_TW && a->c[LC_TOTAL] != b->c[LC_TOTAL])
        return a->c[LC_TOTAL] < b->c[LC_TOTAL] ? 1 : -1;
    return key_cmp(a, b);
}

static int state_col(int st)
{
    switch (st) {
    case TW_TIME_WAIT: return LC_TW;
    case TW_ESTABLISHED: return LC_EST;
    case TW_FIN_WAIT2: return LC_FW2;
    case TW_CLOSE_WAIT: return LC_CW;
    default: return LC_OTHER;
    }
}

void live_dests_cells(const struct ldest *d, int names, char c[COL_MAX][64])
{
    if (!d) {
        for (int i = 0; i < COL_MAX; i++)
            snprintf(c[i], 64, "%s", live_col_name[names][i]);
        return;
    }
    char a[48];
    tw_addr_str(&d->l, c[COL_SRC], 64);
    tw_addr_str(&d->r, a, sizeof(a));
    if (d->kind == 2)
        snprintf(c[COL_DST], 64, "(listening)");
    else if (d->kind == 1)
        snprintf(c[COL_DST], 64, "from %s", a);
    else
        snprintf(c[COL_DST], 64, d->r.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, d->rport);
    for (int i = 0; i < LC_MAX; i++)
        snprintf(c[COL_NUM + i], 64, "%lld", (long long)d->c[i]);
    if (!d->have_net)
        snprintf(c[COL_NET], 64, "-");
    else if (fabs(d->net) < 0.05)
        snprintf(c[COL_NET], 64, "0");
    else
        snprintf(c[COL_NET], 64, "%+.1f", d->net);
}

void live_dests_sort(struct live_dests *D, enum lsort sort)
{
    qsort_r(D->d, D->nd, sizeof(*D->d), view_cmp, &sort);
}

int live_dests_take(struct live_dests *D, const struct watch_live_sample *s, enum lsort sort)
{
    struct ldest *d = calloc(s->n ? s->n : 1, sizeof(*d));
    if (!d)
        return -1;
    size_t nd = 0;
    memset(D->tot, 0, sizeof(D->tot));
    for (size_t i = 0; i < s->n; i++) {
        const struct tw_live_row *r = &s->rows[i];
        if (!i || !tw_live_row_same_dest(&s->rows[i - 1], r))
            d[nd++] = (struct ldest){.l = r->laddr, .r = r->raddr, .rport = r->rport,
                                     .kind = r->state == TW_LISTEN ? 2 : r->server};
        int k = state_col(r->state);
        d[nd - 1].c[k] += r->n;
        d[nd - 1].c[LC_TOTAL] += r->n;
        D->tot[k] += r->n;
        D->tot[LC_TOTAL] += r->n;
    }
    qsort(d, nd, sizeof(*d), key_cmp);
    double dt = D->samples ? twx_secs(D->prev_t_ns, s->t_ns) : 0;
    for (size_t i = 0, j = 0; i < nd && dt > 0; i++) {
        while (j < D->nprev && key_cmp(&D->prev[j], &d[i]) < 0)
            j++;
        int64_t before = j < D->nprev && !key_cmp(&D->prev[j], &d[i]) ? D->prev[j].c[LC_TW] : 0;
        d[i].have_net = true;
        d[i].net = (double)(d[i].c[LC_TW] - before) / dt;
    }
    struct ldest *keep = malloc((nd ? nd : 1) * sizeof(*keep));
    if (!keep) {
        free(d);
        return -1;
    }
    memcpy(keep, d, nd * sizeof(*d));
    live_dests_free(D);
    D->prev = keep, D->nprev = nd;
    D->d = d, D->nd = nd;
    D->prev_t_ns = s->t_ns;
    D->samples++;
    memset(D->vw, 0, sizeof(D->vw));
    for (size_t i = 0; i < nd; i++) {
        char c[COL_MAX][64];
        live_dests_cells(&d[i], 0, c);
        for (int k = 0; k < COL_MAX; k++)
            if (strlen(c[k]) > D->vw[k])
                D->vw[k] = strlen(c[k]);
    }
    live_dests_sort(D, sort);
    return 0;
}

void live_dests_free(struct live_dests *D)
{
    free(D->d);
    free(D->prev);
    D->d = D->prev = NULL;
    D->nd = D->nprev = 0;
}
