/*
 * layout.c — the rows of a diagram, shared by the ladder and the SVG: one
 * row per event in time order, each host's state beside every row that
 * concerns it (a state change that followed an event directly is shown on
 * that event's row), and for each segment the row it left on and the rows
 * it arrived on, so that an arrow spans its flight.
 */
#include <stdlib.h>
#include <string.h>

#include "explain.h"

void x_seg_label(const struct xseg *s, char *buf, size_t len)
{
    char fl[32];
    x_flags_str(s->flags, fl, sizeof(fl));
    int n = snprintf(buf, len, "%s seq=%u", fl, s->rseq);
    if (s->flags & XF_ACK)
        n += snprintf(buf + n, len - (size_t)n, " ack=%u", s->rack);
    if (s->len)
        snprintf(buf + n, len - (size_t)n, " len=%u", s->len);
}

/* Split text into lines of at most width columns, at spaces (widths in
 * UTF-8 characters; a sequence is never split). */
int x_wrap(const char *text, int width, char lines[][X_WRAP_LINE], int max)
{
    if (width > X_WRAP_MAX)
        width = X_WRAP_MAX;
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        /* up to width characters; the last space within them, if the text
         * goes on past them */
        int cols = 0, i = 0, sp = -1;
        while (p[i] && cols < width) {
            if (p[i] == ' ')
                sp = i;
            i++;
            while (((unsigned char)p[i] & 0xc0) == 0x80)
                i++;
            cols++;
        }
        int take = i;
        if (p[i] && p[i] != ' ' && sp > 0)
            take = sp;
        snprintf(lines[n++], X_WRAP_LINE, "%.*s", take, p);
        p += take;
        while (*p == ' ')
            p++;
    }
    return n;
}

bool x_show_result(const struct xev *e)
{
    return strcmp(e->result, "0") || !strncmp(e->text, "getsockopt", 10) ||
           !strncmp(e->text, "bind", 4);
}

static int add_row(struct xlayout *L, int ev)
{
    if (L->n_rows == L->cap) {
        int cap = L->cap ? L->cap * 2 : 64;
        struct xrow *n = realloc(L->rows, (size_t)cap * sizeof(*n));
        if (!n)
            return -1;
        L->rows = n;
        L->cap = cap;
    }
    struct xrow *w = &L->rows[L->n_rows];
    memset(w, 0, sizeof(*w));
    w->ev = ev;
    w->st[0] = w->st[1] = -1;
    return L->n_rows++;
}

static int row_host(const struct xrun *r, const struct xev *e)
{
    return e->kind == XE_SEND ? r->seg[e->seg].from : e->host;
}

void x_layout_free(struct xlayout *L)
{
    free(L->rows);
    free(L->row_of);
    free(L->arr);
    memset(L, 0, sizeof(*L));
}

int x_layout(const struct xrun *r, struct xlayout *L)
{
    memset(L, 0, sizeof(*L));
    L->row_of = malloc(sizeof(int) * (size_t)(r->n_ev ? r->n_ev : 1));
    L->arr = calloc((size_t)(r->n_seg ? r->n_seg : 1), sizeof(*L->arr));
    if (!L->row_of || !L->arr)
        goto fail;
    for (int i = 0; i < r->n_ev; i++) {
        const struct xev *e = &r->ev[i];
        L->row_of[i] = -1;
        if (e->kind == XE_STATE && e->cause >= 0 && L->row_of[e->cause] >= 0) {
            struct xrow *w = &L->rows[L->row_of[e->cause]];
            w->st[e->host] = e->to;
            w->chg[e->host] = true;
            continue;
        }
        if ((L->row_of[i] = add_row(L, i)) < 0)
            goto fail;
        if (e->kind == XE_STATE) {
            L->rows[L->row_of[i]].st[e->host] = e->to;
            L->rows[L->row_of[i]].chg[e->host] = true;
        }
    }
    int lane[XH_N] = {XS_NONE, XS_NONE};
    for (int s = 0; s < r->n_seg; s++)
        L->arr[s].dep = L->arr[s].end = -1;
    for (int ri = 0; ri < L->n_rows; ri++) {
        struct xrow *w = &L->rows[ri];
        const struct xev *e = &r->ev[w->ev];
        for (int h = 0; h < XH_N; h++)
            if (w->chg[h])
                lane[h] = w->st[h];
        int h = row_host(r, e);
        if (h >= 0 && w->st[h] < 0 && e->kind != XE_NOTE)
            w->st[h] = lane[h];
        if (e->kind == XE_SEND) {
            struct xarrow *a = &L->arr[e->seg];
            const struct xseg *s = &r->seg[e->seg];
            a->dep = ri;
            a->c2s = s->from == XH_CLIENT;
            a->drop = s->fate == XW_DROP;
            a->held = s->fate == XW_HOLD || s->fate == XW_REPLAY;
            a->end = a->drop ? ri : L->n_rows; /* in flight until it arrives */
        } else if (e->kind == XE_DELIVER) {
            struct xarrow *a = &L->arr[e->seg];
            if (a->n_arr < 2)
                a->arr[a->n_arr++] = ri;
            a->end = ri;
        }
    }
    return 0;
fail:
    x_layout_free(L);
    return -1;
}
