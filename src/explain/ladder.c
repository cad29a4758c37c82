/*
 * ladder.c — the terminal view of a run: a ladder diagram that fits 79
 * columns.  One lane per host; one row per event in time order (a segment
 * leaving, a segment arriving, an application call, something twkit did);
 * each host's TCP state beside every row that concerns it.  A segment is a
 * stair from its sender's lane (the row it left) to the receiver's (the row
 * it arrived): the rows between are its time in flight, so a held segment
 * is a long dotted stair and a crossing pair of FINs crosses.  Marks: ✗ the
 * wire dropped it, ┆ the wire held it, ● an application call, ⊗ twkit
 * acted on a socket.  Below the ladder: one numbered sentence per step,
 * the expectations checked against the kernel, and the counter deltas.
 *
 * The canvas is a grid of cells (one UTF-8 character each, or ASCII with
 * --ascii); colour, only on a terminal, is a property of cells.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "explain.h"
#include "twx/text.h"

#define W 79
#define LANE_C 26
#define LANE_S 66
#define GAP_L 27
#define GAP_R 65

enum { K_NONE, K_DIM, K_BOLD, K_SYN, K_FIN, K_RST, K_DATA, K_WIRE, K_OK, K_BAD };

static const char *const color_code[] = {
    "", "\033[2m", "\033[1m", "\033[32m", "\033[33m", "\033[31m", "\033[36m", "\033[35m",
    "\033[32m", "\033[31m",
};

enum {
    G_V, G_H, G_KNEE_CT, G_KNEE_CB, G_KNEE_ST, G_KNEE_SB, G_HELD, G_CROSS, G_AR, G_AL, G_DROP,
    G_BR_C, G_BR_S, G_OUT_C, G_OUT_S, G_APP, G_TWKIT, G_DOT, G_OKMARK, G_BADMARK, G_BAR, G_N
};

static const char *const glyph_utf8[G_N] = {
    "│", "─", "╮", "╰", "╭", "╯", "┆", "┼", "▶", "◀", "✗",
    "├", "┤", "├", "┤", "●", "⊗", "┄", "✓", "✗", "━",
};
static const char *const glyph_ascii[G_N] = {
    "|", "-", ".", "'", ".", "'", ":", "+", ">", "<", "X",
    "+", "+", "+", "+", "*", "x", "-", "ok", "FAIL", "=",
};

struct cell {
    char s[5];
    unsigned char k;
};

struct canvas {
    const struct xview *v;
    struct cell c[W];
};

static const char *G(const struct xview *v, int g)
{
    return v->ascii ? glyph_ascii[g] : glyph_utf8[g];
}

static void put(struct canvas *cv, int col, const char *s, int k)
{
    if (col < 0 || col >= W)
        return;
    snprintf(cv->c[col].s, sizeof(cv->c[col].s), "%s", s);
    cv->c[col].k = (unsigned char)k;
}

/* With --ascii, text too: the few symbols twkit writes are spelled out,
 * any other byte beyond ASCII (from outside: payloads) becomes \xNN. */
static const char *ascii_text(const struct xview *v, const char *s, char *buf, size_t len)
{
    static const struct {
        const char *utf8, *ascii;
    } map[] = {{"§", "section "}, {"×", "x"}, {"→", "->"}, {"…", "..."}, {"–", "-"}};
    if (!v->ascii)
        return s;
    size_t n = 0;
    while (*s && n + 10 < len) {
        size_t k;
        for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
            if (!strncmp(s, map[k].utf8, strlen(map[k].utf8)))
                break;
        if (k < sizeof(map) / sizeof(map[0])) {
            n += (size_t)snprintf(buf + n, len - n, "%s", map[k].ascii);
            s += strlen(map[k].utf8);
        } else if ((unsigned char)*s >= 0x80) {
            n += (size_t)snprintf(buf + n, len - n, "\\x%02x", (unsigned char)*s++);
        } else {
            buf[n++] = *s++;
        }
    }
    buf[n] = 0;
    return buf;
}

/* One cell per character: a UTF-8 sequence stays whole in its cell. */
static void puttext(struct canvas *cv, int col, const char *s, int k)
{
    while (*s && col < W) {
        int n = 1;
        while (n < 4 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n++;
        char ch[5];
        memcpy(ch, s, (size_t)n);
        ch[n] = 0;
        put(cv, col++, ch, k);
        s += n;
    }
}

/* Display columns of s (one per UTF-8 character). */
static int ulen(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void emit(FILE *f, const struct canvas *cv)
{
    int last = W - 1;
    while (last >= 0 && !strcmp(cv->c[last].s, " "))
        last--;
    int k = 0;
    for (int i = 0; i <= last; i++) {
        int want = cv->v->color ? cv->c[i].k : 0;
        if (want != k) {
            if (k)
                fputs("\033[0m", f);
            if (want)
                fputs(color_code[want], f);
            k = want;
        }
        fputs(cv->c[i].s, f);
    }
    if (k)
        fputs("\033[0m", f);
    fputc('\n', f);
}

static void clear(struct canvas *cv)
{
    for (int i = 0; i < W; i++)
        put(cv, i, " ", 0);
}

/* ---- rows ------------------------------------------------------------------------ */

struct ladder {
    const struct xrun *r;
    const struct xview *v;
    struct xlayout lay;
    struct xrow *rows;       /* = lay.rows */
    int n_rows;
    int *row_of;
    struct xarrow *arr;
};

/* The longest label the ladder draws on an arrow; a longer one (only with
 * sequence numbers of nine digits or more) is drawn as its flags, and
 * written whole under the diagram. */
#define LABEL_MAX 30

static void label_of(const struct xseg *s, char *buf, size_t len)
{
    x_seg_label(s, buf, len);
    if (strlen(buf) > LABEL_MAX)
        snprintf(buf, len, "%s (#%d)", x_flags_str(s->flags, (char[32]){0}, 32), s->id);
}

static int seg_color(const struct xseg *s)
{
    if (s->flags & XF_RST)
        return K_RST;
    if (s->flags & XF_SYN)
        return K_SYN;
    if (s->flags & XF_FIN)
        return K_FIN;
    if (s->len)
        return K_DATA;
    return K_NONE;
}

/* Is column col a vertical of a segment in flight on row ri (not its own)? */
static bool vertical_at(const struct ladder *L, int ri, int col, int self)
{
    for (int s = 0; s < L->r->n_seg; s++) {
        const struct xarrow *a = &L->arr[s];
        if (s != self && a->knee == col && a->dep < ri && ri < a->end)
            return true;
    }
    return false;
}

/* Lay segment s's label out on its departure row ri, word by word from
 * the sender's lane, stepping over the verticals of segments in flight
 * (a word never covers one: the run crosses it as ─┼─).  Returns the knee
 * column; with cv, also draws the run, the label and the knee. */
static int layout(const struct ladder *L, int s, int ri, struct canvas *cv)
{
    const struct xrun *r = L->r;
    const struct xseg *sg = &r->seg[s];
    const struct xarrow *a = &L->arr[s];
    char lab[96], words[8][48];
    label_of(sg, lab, sizeof(lab));
    int nw = 0;
    for (char *w = strtok(lab, " "); w && nw < 8; w = strtok(NULL, " "))
        snprintf(words[nw++], sizeof(words[0]), "%s", w);
    int dir = a->c2s ? 1 : -1;
    int pos = a->c2s ? GAP_L : GAP_R; /* next free column */
    int k = seg_color(sg);
    const char *H = G(L->v, G_H), *X = G(L->v, G_CROSS);
    if (cv)
        put(cv, pos, H, 0);
    pos += dir;
    for (int i = 0; i < nw; i++) {
        int w = a->c2s ? i : nw - 1 - i;
        int len = (int)strlen(words[w]);
        /* the word with a space on each side must not touch a vertical;
         * if it would, close the previous word with a space and run on */
        bool skipped = false;
        for (;;) {
            bool clear_span = true;
            for (int c = 0; c < len + 2 && clear_span; c++)
                clear_span = !vertical_at(L, ri, pos + dir * c, s);
            if (clear_span || pos <= GAP_L + 1 || pos >= GAP_R - 1)
                break;
            if (cv)
                put(cv, pos, !skipped && i ? " " : vertical_at(L, ri, pos, s) ? X : H, 0);
            skipped = true;
            pos += dir;
        }
        if (cv) {
            put(cv, pos, " ", 0);
            int first = a->c2s ? pos + 1 : pos - len;
            for (int c = 0; c < len; c++) {
                char ch[2] = {words[w][c], 0};
                put(cv, first + c, ch, k);
            }
        }
        pos += dir * (len + 1);
    }
    if (cv)
        put(cv, pos, " ", 0);
    pos += dir;
    /* the knee: not on a column where another segment's vertical goes on */
    while (pos > GAP_L + 1 && pos < GAP_R - 1 &&
           (vertical_at(L, ri, pos, s) || vertical_at(L, ri + 1, pos, s))) {
        if (cv)
            put(cv, pos, vertical_at(L, ri, pos, s) ? X : H, 0);
        pos += dir;
    }
    return pos;
}

static int build(struct ladder *L)
{
    if (x_layout(L->r, &L->lay) < 0)
        return -1;
    L->rows = L->lay.rows;
    L->n_rows = L->lay.n_rows;
    L->row_of = L->lay.row_of;
    L->arr = L->lay.arr;
    /* knees, in row order (a knee avoids verticals already placed) */
    for (int ri = 0; ri < L->n_rows; ri++) {
        const struct xev *e = &L->r->ev[L->rows[ri].ev];
        if (e->kind == XE_SEND)
            L->arr[e->seg].knee = layout(L, e->seg, ri, NULL);
    }
    return 0;
}

/* ---- drawing --------------------------------------------------------------------- */

static void draw_verticals(const struct ladder *L, struct canvas *cv, int ri)
{
    put(cv, LANE_C, G(L->v, G_V), 0);
    put(cv, LANE_S, G(L->v, G_V), 0);
    for (int s = 0; s < L->r->n_seg; s++) {
        const struct xarrow *a = &L->arr[s];
        if (a->dep >= 0 && a->dep < ri && ri < a->end)
            put(cv, a->knee, G(L->v, a->held ? G_HELD : G_V), a->held ? K_WIRE : 0);
    }
}

/* A horizontal run from a to b (inclusive), crossing verticals. */
static void run(const struct ladder *L, struct canvas *cv, int ri, int a, int b, int self, int k)
{
    for (int c = a; c <= b; c++)
        put(cv, c, vertical_at(L, ri, c, self) ? G(L->v, G_CROSS) : G(L->v, G_H), k);
}

static void draw_send(const struct ladder *L, struct canvas *cv, int ri, const struct xev *e)
{
    const struct xarrow *a = &L->arr[e->seg];
    put(cv, a->c2s ? LANE_C : LANE_S, G(L->v, a->c2s ? G_OUT_C : G_OUT_S), 0);
    layout(L, e->seg, ri, cv);
    if (a->drop)
        put(cv, a->knee, G(L->v, G_DROP), K_RST);
    else
        put(cv, a->knee, G(L->v, a->c2s ? G_KNEE_CT : G_KNEE_ST), a->held ? K_WIRE : 0);
    const struct xseg *sg = &L->r->seg[e->seg];
    const char *mark = a->drop ? "dropped" : sg->fate == XW_REPLAY ? "kept" : a->held ? "held"
                                                                                    : NULL;
    if (!mark)
        return;
    /* the mark beyond the knee, where the run does not go, if it is clear */
    int len = (int)strlen(mark);
    int first = a->c2s ? a->knee + 2 : a->knee - 1 - len;
    for (int c = first - 1; c <= first + len; c++)
        if (c <= GAP_L || c >= GAP_R || vertical_at(L, ri, c, e->seg))
            return;
    puttext(cv, first, mark, a->drop ? K_RST : K_WIRE);
}

/* The wire's mark where the arrival row is blank (the other side of the
 * knee), if no vertical is in the way. */
static void note_beside(const struct ladder *L, struct canvas *cv, int ri, int first, int n,
                        const char *note)
{
    for (int c = first; c < first + n; c++)
        if (c <= GAP_L || c >= GAP_R || vertical_at(L, ri, c, -1))
            return;
    puttext(cv, first, note, K_WIRE);
}

static void draw_deliver(const struct ladder *L, struct canvas *cv, int ri, const struct xev *e)
{
    const struct xseg *s = &L->r->seg[e->seg];
    const struct xarrow *a = &L->arr[e->seg];
    bool more = a->n_arr == 2 && a->arr[0] == ri;
    int k = a->held && !(s->fate == XW_REPLAY && a->arr[0] == ri) ? K_WIRE : 0;
    /* the wire's mark on the arrival (how long and how far: in the step's
     * sentence and in the JSON) */
    bool second = a->n_arr == 2 && a->arr[1] == ri;
    const char *note = s->moved && (second || s->fate != XW_REPLAY) ? " seq moved "
                       : s->fate == XW_REPLAY ? (second ? " replayed " : "")
                       : a->held ? " held " : second ? " duplicate " : "";
    int n = (int)strlen(note);
    if (a->c2s) {
        put(cv, a->knee, G(L->v, more ? G_BR_C : G_KNEE_CB), k);
        run(L, cv, ri, a->knee + 1, GAP_R - 1, e->seg, k);
        put(cv, GAP_R, G(L->v, G_AR), seg_color(s));
        if (n && n < GAP_R - a->knee - 3)
            puttext(cv, a->knee + 2, note, K_WIRE);
        else if (n)
            note_beside(L, cv, ri, a->knee - 1 - n, n, note);
    } else {
        put(cv, a->knee, G(L->v, more ? G_BR_S : G_KNEE_SB), k);
        run(L, cv, ri, GAP_L + 1, a->knee - 1, e->seg, k);
        put(cv, GAP_L, G(L->v, G_AL), seg_color(s));
        if (n && n < a->knee - GAP_L - 3)
            puttext(cv, a->knee - 1 - n, note, K_WIRE);
        else if (n)
            note_beside(L, cv, ri, a->knee + 1, n, note);
    }
}

/* Free columns for text next to host's lane on row ri (clear of verticals). */
static void text_span(const struct ladder *L, int ri, int host, int *a, int *b)
{
    *a = GAP_L + 1;
    *b = GAP_R - 1;
    if (host == XH_CLIENT) {
        for (int c = *a; c <= *b; c++)
            if (vertical_at(L, ri, c, -1)) {
                *b = c - 2;
                break;
            }
    } else if (host == XH_SERVER) {
        for (int c = *b; c >= *a; c--)
            if (vertical_at(L, ri, c, -1)) {
                *a = c + 2;
                break;
            }
    }
    if (*b - *a < 12) { /* no room between verticals: write over them */
        *a = GAP_L + 1;
        *b = GAP_R - 1;
    }
}

static void event_text(const struct xview *v, const struct xev *e, char *buf, size_t len)
{
    char raw[200];
    if (e->kind == XE_APP && x_show_result(e))
        snprintf(raw, sizeof(raw), "%s → %s", e->text, e->result);
    else
        snprintf(raw, sizeof(raw), "%s", e->text);
    snprintf(buf, len, "%s", ascii_text(v, raw, (char[400]){0}, 400));
}

static void draw_left(const struct ladder *L, struct canvas *cv, const struct xrow *w,
                      const struct xev *e)
{
    char num[8] = "", ms[16] = "";
    if (e && e->step)
        snprintf(num, sizeof(num), "%3d", e->step);
    if (e)
        snprintf(ms, sizeof(ms), "%9.3f", (double)e->t_ns / 1e6);
    puttext(cv, 0, num, K_DIM);
    puttext(cv, 4, ms, K_DIM);
    for (int h = 0; h < XH_N; h++) {
        if (w->st[h] < 0)
            continue;
        const char *name = x_state_name(w->st[h]);
        int col = h == XH_CLIENT ? LANE_C - 1 - (int)strlen(name) : LANE_S + 2;
        puttext(cv, col, name, w->chg[h] ? K_BOLD : K_DIM);
    }
}

static void draw_text_rows(FILE *f, struct ladder *L, int ri, const struct xev *e,
                           struct canvas *cv)
{
    const struct xview *v = L->v;
    int host = e->host;
    char text[200], lines[24][X_WRAP_LINE]; /* 200 bytes at 10 columns or more */
    int a, b;
    text_span(L, ri, host, &a, &b);
    if (e->kind == XE_STATE) {
        snprintf(text, sizeof(text), "(a kernel timer)");
    } else {
        event_text(v, e, text, sizeof(text));
    }
    int mark = e->kind == XE_APP ? G_APP : G_TWKIT;
    int width = b - a + 1 - (host >= 0 ? 2 : 4);
    int n = x_wrap(text, width, lines, 24);
    for (int i = 0; i < n; i++) {
        if (i) {
            clear(cv);
            draw_verticals(L, cv, ri);
        }
        int len = ulen(lines[i]);
        if (host == XH_CLIENT) {
            if (!i && e->kind != XE_STATE)
                put(cv, LANE_C, G(v, mark), e->kind == XE_APP ? K_BOLD : K_WIRE);
            puttext(cv, a + 1, lines[i], e->kind == XE_APP ? 0 : K_WIRE);
        } else if (host == XH_SERVER) {
            if (!i && e->kind != XE_STATE)
                put(cv, LANE_S, G(v, mark), e->kind == XE_APP ? K_BOLD : K_WIRE);
            puttext(cv, b - len, lines[i], e->kind == XE_APP ? 0 : K_WIRE);
        } else {
            int col = GAP_L + (GAP_R - GAP_L + 1 - len) / 2;
            put(cv, col - 2, G(v, G_DOT), K_WIRE);
            puttext(cv, col, lines[i], K_WIRE);
            put(cv, col + len + 1, G(v, G_DOT), K_WIRE);
        }
        emit(f, cv);
    }
}

/* A paragraph: prefix, then text wrapped at W columns, continued indent
 * columns in. */
static void print_wrapped(FILE *f, const char *prefix, const char *text, int indent)
{
    char lines[16][X_WRAP_LINE];
    int n = x_wrap(text, W - indent, lines, 16);
    for (int i = 0; i < n; i++)
        fprintf(f, "%*s%s\n", i ? indent : 0, i ? "" : prefix, lines[i]);
}

static void header(FILE *f, const struct xrun *r, const struct xview *v)
{
    /* the run's name, as the command line takes it, in the rule; its title
     * and the scenario's summary below, wrapped, never cut */
    char title[160];
    snprintf(title, sizeof(title), " %s:%s ", r->sc->name, r->v->name);
    struct canvas cv = {.v = v};
    clear(&cv);
    for (int i = 0; i < W; i++)
        put(&cv, i, G(v, G_BAR), K_BOLD);
    puttext(&cv, 2, title, K_BOLD);
    emit(f, &cv);
    char sbuf[400], line[400];
    snprintf(line, sizeof(line), "%s.", r->sc->summary);
    if (line[0] >= 'a' && line[0] <= 'z')
        line[0] = (char)(line[0] - 'a' + 'A');
    print_wrapped(f, "", ascii_text(v, line, sbuf, sizeof(sbuf)), 0);
    snprintf(line, sizeof(line), "This run: %s.", r->v->title);
    print_wrapped(f, "", ascii_text(v, line, sbuf, sizeof(sbuf)), 0);
    char ca[64], sa[64];
    bool v6 = r->family == AF_INET6;
    snprintf(ca, sizeof(ca), v6 ? "[%s]:%u" : "%s:%u", r->addr[XH_CLIENT], r->port[XH_CLIENT]);
    snprintf(sa, sizeof(sa), v6 ? "[%s]:%u" : "%s:%u", r->addr[XH_SERVER], r->port[XH_SERVER]);
    clear(&cv);
    puttext(&cv, 2, "#", K_DIM);
    puttext(&cv, 11, "ms", K_DIM);
    puttext(&cv, LANE_C - 7, "client", K_BOLD);
    puttext(&cv, LANE_S + 2, "server", K_BOLD);
    put(&cv, LANE_C, G(v, G_V), 0);
    put(&cv, LANE_S, G(v, G_V), 0);
    puttext(&cv, GAP_L + 1, ca, 0);
    puttext(&cv, GAP_R - (int)strlen(sa), sa, 0);
    emit(f, &cv);
}

static void footer(FILE *f, const struct xrun *r, const struct xview *v)
{
    fputc('\n', f);
    for (int i = 0; i < r->n_ev; i++) {
        const struct xev *e = &r->ev[i];
        if (!e->step)
            continue;
        char prefix[8], buf[800];
        snprintf(prefix, sizeof(prefix), "%3d  ", e->step);
        print_wrapped(f, prefix, ascii_text(v, e->narr, buf, sizeof(buf)), 5);
    }
    for (int s = 0; s < r->n_seg; s++) {
        char lab[96];
        x_seg_label(&r->seg[s], lab, sizeof(lab));
        if (strlen(lab) > LABEL_MAX)
            fprintf(f, "     segment #%d: %s\n", s, lab);
    }
    if (r->failed) {
        char esc[300], abuf[600];
        fprintf(f, "\nThe run stopped: %s\n",
                ascii_text(v, twx_esc(esc, sizeof(esc), r->err), abuf, sizeof(abuf)));
    }
    fprintf(f, "\nChecked against the kernel:\n");
    for (int i = 0; i < r->n_exp; i++) {
        const struct xexpect *x = &r->exp[i];
        char line[320];
        /* the kernel's answer, unless the sentence already says it */
        if (x->got[0] && !strstr(x->what, x->got))
            snprintf(line, sizeof(line), "%s (%s)", x->what, x->got);
        else
            snprintf(line, sizeof(line), "%s", x->what);
        const char *m = G(v, x->ok ? G_OKMARK : G_BADMARK);
        if (v->color)
            fprintf(f, "  %s%s\033[0m ", color_code[x->ok ? K_OK : K_BAD], m);
        else
            fprintf(f, "  %s ", m);
        char lines[6][X_WRAP_LINE], abuf[640];
        int n = x_wrap(ascii_text(v, line, abuf, sizeof(abuf)), W - 5, lines, 6);
        for (int k = 0; k < n; k++)
            fprintf(f, "%s%s\n", k ? "     " : "", lines[k]);
    }
    for (int h = 0; h < XH_N; h++) {
        char buf[400];
        int n = snprintf(buf, sizeof(buf), "%s counters:", h ? "Server" : "Client");
        int any = 0;
        for (int i = 0; i < r->n_count; i++)
            if (r->count[i].host == h) {
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s %s %+lld", any++ ? "," : "",
                              tw_counter_name(r->count[i].id), (long long)r->count[i].delta);
                if (n >= (int)sizeof(buf))
                    break;
            }
        if (!any)
            snprintf(buf + n, sizeof(buf) - (size_t)n, " no change");
        print_wrapped(f, "", buf, 5);
    }
}

void x_render_ladder(FILE *f, const struct xrun *r, const struct xview *v)
{
    struct ladder L = {.r = r, .v = v};
    header(f, r, v);
    if (build(&L) < 0) {
        fprintf(f, "(out of memory drawing the ladder)\n");
        goto out;
    }
    for (int ri = 0; ri < L.n_rows; ri++) {
        const struct xrow *w = &L.rows[ri];
        const struct xev *e = &r->ev[w->ev];
        struct canvas cv = {.v = v};
        clear(&cv);
        draw_verticals(&L, &cv, ri);
        draw_left(&L, &cv, w, e);
        switch (e->kind) {
        case XE_SEND:
            draw_send(&L, &cv, ri, e);
            emit(f, &cv);
            break;
        case XE_DELIVER:
            draw_deliver(&L, &cv, ri, e);
            emit(f, &cv);
            break;
        default:
            draw_text_rows(f, &L, ri, e, &cv);
            break;
        }
    }
    footer(f, r, v);
out:
    x_layout_free(&L.lay);
}
