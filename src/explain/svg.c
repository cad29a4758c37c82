/*
 * svg.c — `twkit explain --svg FILE`: the same diagrams as one
 * self-contained SVG 1.1 image (no script, no external font, image or
 * stylesheet), for a browser or for print.  The rows are the ladder's
 * (layout.c); each segment is a straight line from its sender's lane on
 * the row it left to the receiver's lane on the row it arrived, so its
 * slant is its time in flight: dashed where the wire held it, cut short
 * with a cross where the wire dropped it.  Under each diagram: the numbered
 * sentences, the expectations checked against the kernel, the counters.
 * Every text is XML-escaped here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "explain.h"

#define WIDTH 1000
#define ROW 22
#define X_NUM 34
#define X_TIME 112
#define X_CST 262
#define X_CL 272
#define X_SL 732
#define X_SST 742
#define MONO "font-family:DejaVu Sans Mono,Menlo,Consolas,monospace"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* XML 1.0 allows no C0 control but tab, newline, return */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
                fprintf(f, "\\x%02x", (unsigned char)*s);
            else
                fputc(*s, f);
        }
    }
}

static void text(FILE *f, int x, int y, const char *anchor, const char *cls, const char *s)
{
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor, cls);
    esc(f, s);
    fputs("</text>\n", f);
}

static const char *seg_class(const struct xseg *s)
{
    if (s->flags & XF_RST)
        return "rst";
    if (s->flags & XF_SYN)
        return "syn";
    if (s->flags & XF_FIN)
        return "fin";
    if (s->len)
        return "data";
    return "ack";
}

/* s wrapped at width characters, one text line each (the first after
 * prefix, the others indented); returns the number of lines. */
static int wrapped(FILE *f, int x, int y, int width, const char *cls, const char *prefix,
                   const char *s)
{
    char lines[16][X_WRAP_LINE], line[X_WRAP_LINE + 16];
    int n = x_wrap(s, width - (int)strlen(prefix), lines, 16);
    for (int i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "%.15s%.*s", i ? "    " : prefix, X_WRAP_LINE - 1, lines[i]);
        text(f, x, y + i * 16, "start", cls, line);
    }
    return n;
}

static int diagram(FILE *f, const struct xrun *r, int y)
{
    struct xlayout L;
    if (x_layout(r, &L) < 0)
        return -1;
    char buf[400];
    snprintf(buf, sizeof(buf), "%s: %s", r->sc->name, r->v->title);
    text(f, 10, y + 18, "start", "title", buf);
    text(f, 10, y + 38, "start", "sum", r->sc->summary);
    text(f, WIDTH - 10, y + 38, "end", "dim", "dashed purple: held by the wire · ✗ dropped · "
         "● application call · ■ twkit");
    bool v6 = r->family == AF_INET6;
    y += 66;
    snprintf(buf, sizeof(buf), v6 ? "client [%s]:%u" : "client %s:%u", r->addr[XH_CLIENT],
             r->port[XH_CLIENT]);
    text(f, X_CL, y, "middle", "host", buf);
    snprintf(buf, sizeof(buf), v6 ? "server [%s]:%u" : "server %s:%u", r->addr[XH_SERVER],
             r->port[XH_SERVER]);
    text(f, X_SL, y, "middle", "host", buf);
    text(f, X_TIME, y, "end", "dim", "ms");
    int top = y + 10, y0 = top + ROW;
    int bottom = y0 + L.n_rows * ROW;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"lane\"/>\n", X_CL, top,
            X_CL, bottom);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"lane\"/>\n", X_SL, top,
            X_SL, bottom);
    for (int ri = 0; ri < L.n_rows; ri++) {
        const struct xrow *w = &L.rows[ri];
        const struct xev *e = &r->ev[w->ev];
        int ry = y0 + ri * ROW;
        if (e->step) {
            snprintf(buf, sizeof(buf), "%d", e->step);
            text(f, X_NUM, ry + 4, "end", "num", buf);
        }
        snprintf(buf, sizeof(buf), "%.3f", (double)e->t_ns / 1e6);
        text(f, X_TIME, ry + 4, "end", "dim", buf);
        for (int h = 0; h < XH_N; h++)
            if (w->st[h] >= 0)
                text(f, h ? X_SST : X_CST, ry + 4, h ? "start" : "end",
                     w->chg[h] ? "st chg" : "st", x_state_name(w->st[h]));
        if (e->kind == XE_APP || e->kind == XE_NOTE || e->kind == XE_STATE) {
            if (e->kind == XE_APP && x_show_result(e))
                snprintf(buf, sizeof(buf), "%s → %s", e->text, e->result);
            else
                snprintf(buf, sizeof(buf), "%s", e->kind == XE_STATE ? "(a kernel timer)"
                                                                     : e->text);
            if (e->host < 0) {
                text(f, (X_CL + X_SL) / 2, ry + 4, "middle", "note", buf);
            } else {
                int x = e->host ? X_SL : X_CL;
                if (e->kind == XE_APP)
                    fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" class=\"app\"/>\n", x, ry);
                else if (e->kind == XE_NOTE)
                    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"8\" height=\"8\" "
                            "class=\"twkit\"/>\n", x - 4, ry - 4);
                text(f, e->host ? x - 12 : x + 12, ry + 4, e->host ? "end" : "start",
                     e->kind == XE_APP ? "call" : "note", buf);
            }
        }
    }
    /* the segments, over the rows */
    for (int s = 0; s < r->n_seg; s++) {
        const struct xarrow *a = &L.arr[s];
        const struct xseg *sg = &r->seg[s];
        if (a->dep < 0)
            continue;
        int x1 = a->c2s ? X_CL : X_SL, x2 = a->c2s ? X_SL : X_CL;
        int y1 = y0 + a->dep * ROW;
        const char *cls = seg_class(sg);
        x_seg_label(sg, buf, sizeof(buf));
        char note[96] = "";
        double ms = sg->n_deliv ? (double)(sg->deliv_ns[0] - sg->sent_ns) / 1e6 : 0;
        if (sg->moved)
            snprintf(note, sizeof(note), "held %.0f ms, seq moved %+lld", ms,
                     (long long)sg->moved);
        else if (sg->fate == XW_REPLAY)
            snprintf(note, sizeof(note), "replayed %.0f ms later",
                     sg->n_deliv == 2 ? (double)(sg->deliv_ns[1] - sg->deliv_ns[0]) / 1e6 : 0);
        else if (a->held && sg->n_deliv)
            snprintf(note, sizeof(note), ms < 10 ? "held %.2f ms" : "held %.0f ms", ms);
        else if (a->held)
            snprintf(note, sizeof(note), "still held at the end");
        else if (a->n_arr == 2)
            snprintf(note, sizeof(note), "duplicated");
        /* the label at the sender's end, the wire's note after it, or under it */
        int lx = a->c2s ? x1 + 8 : x1 - 8;
        const char *anchor = a->c2s ? "start" : "end";
        bool one_line = strlen(buf) + strlen(note) + 3 <= 62;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\" class=\"%s\">", lx, y1 - 4,
                anchor, cls);
        esc(f, buf);
        if (note[0] && one_line) {
            fputs("<tspan class=\"wire\"> · ", f);
            esc(f, note);
            fputs("</tspan>", f);
        }
        fputs("</text>\n", f);
        if (note[0] && !one_line)
            text(f, lx, y1 + 12, anchor, "wire", note);
        if (a->drop) {
            int xm = (x1 + x2) / 2, ym = y1 + ROW / 2;
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"seg %s\"/>\n", x1,
                    y1, xm, ym, cls);
            fprintf(f, "<path d=\"M%d %dl10 10m0 -10l-10 10\" class=\"drop\"/>\n", xm - 5,
                    ym - 5);
            text(f, xm + 10, ym + 4, "start", "dropt", "dropped by the wire");
            continue;
        }
        for (int k = 0; k < (a->n_arr ? a->n_arr : 1); k++) {
            int ar = a->n_arr ? a->arr[k] : L.n_rows;
            int y2 = y0 + ar * ROW;
            bool late = a->held && !(sg->fate == XW_REPLAY && k == 0);
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"seg %s%s\"%s/>\n",
                    x1, y1, a->n_arr ? x2 : (x1 + x2) / 2, y2, cls, late ? " held" : "",
                    a->n_arr ? " marker-end=\"url(#head)\"" : "");
        }
    }
    y = bottom + 24;
    for (int i = 0; i < r->n_ev; i++) {
        const struct xev *e = &r->ev[i];
        if (!e->step)
            continue;
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "%2d. ", e->step);
        y += 16 * wrapped(f, 10, y, 118, "narr", prefix, e->narr);
    }
    if (r->failed) {
        snprintf(buf, sizeof(buf), "The run stopped: %s", r->err);
        y += 16 * wrapped(f, 10, y + 8, 118, "bad", "", buf) + 8;
    }
    y += 12;
    text(f, 10, y, "start", "head", "Checked against the kernel:");
    y += 18;
    for (int i = 0; i < r->n_exp; i++) {
        const struct xexpect *x = &r->exp[i];
        if (x->got[0] && !strstr(x->what, x->got))
            snprintf(buf, sizeof(buf), "%s (%s)", x->what, x->got);
        else
            snprintf(buf, sizeof(buf), "%s", x->what);
        y += 16 * wrapped(f, 10, y, 118, x->ok ? "ok" : "bad", x->ok ? "✓ " : "✗ ", buf);
    }
    for (int h = 0; h < XH_N; h++) {
        int n = snprintf(buf, sizeof(buf), "%s counters:", h ? "Server" : "Client");
        int any = 0;
        for (int i = 0; i < r->n_count && n < (int)sizeof(buf); i++)
            if (r->count[i].host == h)
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s %s %+lld", any++ ? "," : "",
                              tw_counter_name(r->count[i].id), (long long)r->count[i].delta);
        if (!any)
            snprintf(buf + n, sizeof(buf) - (size_t)n, " no change");
        y += 16 * wrapped(f, 10, y, 118, "narr", "", buf);
    }
    x_layout_free(&L);
    return y + 30;
}

int x_render_svg(FILE *f, const struct xrun *const *runs, int n)
{
    /* the height is known only at the end: draw into memory first */
    char *body = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&body, &len);
    if (!m)
        return -1;
    int y = 10;
    for (int i = 0; i < n && y >= 0; i++)
        y = diagram(m, runs[i], y);
    if (fclose(m) != 0 || y < 0) {
        free(body);
        return -1;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            WIDTH, y, WIDTH, y);
    fputs("<title>twkit explain: TCP TIME_WAIT on the real kernel</title>\n"
          "<desc>Ladder diagrams made by twkit explain: two Linux TCP stacks in private "
          "network namespaces, every segment relayed by twkit.</desc>\n"
          "<defs>\n<marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
          "markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">"
          "<path d=\"M0 0L10 5L0 10z\" fill=\"#333333\"/></marker>\n</defs>\n"
          "<style type=\"text/css\">\n"
          "text{" MONO ";font-size:12px;fill:#222222}\n"
          ".title{font-size:16px;font-weight:bold}.sum{font-size:13px;fill:#444444}\n"
          ".host{font-weight:bold}.dim{fill:#888888}.num{fill:#888888}\n"
          ".st{fill:#777777}.chg{fill:#000000;font-weight:bold}\n"
          ".call{fill:#000000}.note{fill:#7a3e9d;font-style:italic}\n"
          ".lane{stroke:#555555;stroke-width:2}.seg{stroke-width:1.5;fill:none}\n"
          "line.syn{stroke:#1b7f3b}line.fin{stroke:#b8860b}line.rst{stroke:#c0392b}"
          "line.data{stroke:#1f6fb2}line.ack{stroke:#444444}\n"
          "text.syn{fill:#1b7f3b}text.fin{fill:#8a6508}text.rst{fill:#c0392b}"
          "text.data{fill:#1f6fb2}text.ack{fill:#444444}\n"
          ".held{stroke:#7a3e9d;stroke-dasharray:5 4}.wire{fill:#7a3e9d}\n"
          ".drop{stroke:#c0392b;stroke-width:2.5}.dropt{fill:#c0392b}\n"
          ".app{fill:#000000}.twkit{fill:#7a3e9d}\n"
          ".narr{font-size:12px}.head{font-weight:bold}.ok{fill:#1b7f3b}.bad{fill:#c0392b}\n"
          "</style>\n"
          "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
          f);
    fwrite(body, 1, len, f);
    fputs("</svg>\n", f);
    free(body);
    return 0;
}
