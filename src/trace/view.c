/*
 * view.c — the human view of `twkit trace`: one screen per interval and
 * one for the totals, within 80 columns.  Top to bottom: how many TIME_WAIT
 * minisocks were born and whether that equals the namespace's TcpExtTW
 * delta; who closed first, per destination, with births by substate and
 * closes by kind; failed connect() and bind() calls by errno; the cgroup
 * (and container) of each process shown; what was lost.
 *
 * Tables size their columns to their widest value; when a row would pass 80
 * columns the destination moves to a line of its own below the row, so no
 * value is ever cut.  Process names, namespace names (in the header) and
 * cgroup paths come from outside and go through twx_esc.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace.h"
#include "twx/text.h"

#define WIDTH 80
#define MAXCOL 10

struct tview {
    FILE *f;
    bool color;
};

static const char *bold(const struct tview *v)
{
    return v->color ? "\033[1m" : "";
}

static const char *off(const struct tview *v)
{
    return v->color ? "\033[0m" : "";
}

/* ---- a small table: cells as strings, widths from the content ---------- */

struct ttab {
    const char *head[MAXCOL];
    bool right[MAXCOL];
    int movable;                /* column that may move below the row, -1 none */
    size_t ncol, nrow, cap;
    char **cell;                /* nrow * ncol, owned */
};

static void ttab_row(struct ttab *t, char *const *cells)
{
    if (t->nrow == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cell, cap * t->ncol * sizeof(*c));
        if (!c)
            return;
        t->cell = c;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncol; i++)
        t->cell[t->nrow * t->ncol + i] = strdup(cells[i] ? cells[i] : "");
    t->nrow++;
}

static void ttab_print(const struct tview *v, struct ttab *t)
{
    size_t w[MAXCOL], total = 0;
    for (size_t c = 0; c < t->ncol; c++) {
        w[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->nrow; r++) {
            const char *s = t->cell[r * t->ncol + c];
            size_t l = s ? strlen(s) : 0;
            if (l > w[c])
                w[c] = l;
        }
        total += w[c] + (c ? 1 : 0);
    }
    total += 2;   /* the indent */
    int moved = total > WIDTH && t->movable >= 0 ? t->movable : -1;
    for (int r = -1; r < (int)t->nrow; r++) {
        fputs("  ", v->f);
        if (r < 0)
            fputs(bold(v), v->f);
        bool first = true;
        for (size_t c = 0; c < t->ncol; c++) {
            if ((int)c == moved)
                continue;
            const char *s = r < 0 ? t->head[c] : t->cell[r * t->ncol + c];
            bool last = true;
            for (size_t k = c + 1; k < t->ncol; k++)
                if ((int)k != moved)
                    last = false;
            if (!first)
                fputc(' ', v->f);
            first = false;
            if (t->right[c])
                fprintf(v->f, "%*s", (int)w[c], s ? s : "");
            else if (last)
                fputs(s ? s : "", v->f);
            else
                fprintf(v->f, "%-*s", (int)w[c], s ? s : "");
        }
        if (r < 0)
            fputs(off(v), v->f);
        fputc('\n', v->f);
        if (moved >= 0 && r >= 0)
            fprintf(v->f, "      %s %s\n", t->head[moved], t->cell[r * t->ncol + moved]);
    }
}

static void ttab_free(struct ttab *t)
{
    for (size_t i = 0; i < t->nrow * t->ncol; i++)
        free(t->cell[i]);
    free(t->cell);
}

/* ---- pieces ------------------------------------------------------------- */

static char *esc_dup(const char *s)
{
    size_t n = twx_esc_len(s);
    char *b = malloc(n);
    return b ? twx_esc(b, n, s) : NULL;
}

/* The processes shown in the tables, for the cgroup lines. */
struct shown {
    struct trace_who who[64];
    size_t n;
};

static void remember(struct shown *s, const struct trace_who *w)
{
    if (!w->tgid)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->who[i].tgid == w->tgid && s->who[i].cgroup == w->cgroup &&
            !strncmp(s->who[i].comm, w->comm, TRACE_COMM_LEN))
            return;
    if (s->n < sizeof(s->who) / sizeof(s->who[0]))
        s->who[s->n++] = *w;
}

static void who_cells(const struct trace_who *w, char *pid, size_t plen, char **comm)
{
    char name[TRACE_COMM_LEN + 1];
    if (!w->tgid) {
        snprintf(pid, plen, "-");
        *comm = strdup("(closed before trace started)");
        return;
    }
    snprintf(pid, plen, "%u", w->tgid);
    memcpy(name, w->comm, TRACE_COMM_LEN);
    name[TRACE_COMM_LEN] = '\0';
    *comm = esc_dup(name);
}

static void more_rows(const struct tview *v, size_t n, size_t shown)
{
    if (n > shown)
        fprintf(v->f, "  ... %zu more (--top)\n", n - shown);
}

static void closes_table(const struct tview *v, const struct trace_report *r, struct shown *sh)
{
    const struct trace_tab *t = r->closes;
    fprintf(v->f, "\n%sWho closed first%s (births by substate; closes by kind)\n", bold(v), off(v));
    if (!t->n) {
        fprintf(v->f, "  (no closes)\n");
        return;
    }
    size_t *o = trace_tab_order(t, 2);
    struct ttab tt = {.head = {"PID", "COMM", "DESTINATION", "TW", "FW2", "ACTIVE", "PASSIVE",
                               "SIMUL", "RST"},
                      .right = {true, false, false, true, true, true, true, true, true},
                      .movable = 2, .ncol = 9};
    size_t n = o && t->n < r->top ? t->n : r->top;
    for (size_t i = 0; o && i < n && i < t->n; i++) {
        const struct trace_close_key *k = trace_tab_key(t, o[i]);
        const uint64_t *val = trace_tab_val(t, o[i]);
        char pid[16], dst[64], num[6][TWX_NUM_LEN], *comm = NULL;
        who_cells(&k->who, pid, sizeof(pid), &comm);
        trace_addr_str(&k->dst, dst, sizeof(dst));
        for (int j = 0; j < 6; j++)
            twx_count(num[j], val[j]);
        char *cells[] = {pid, comm, dst, num[0], num[1], num[2], num[3], num[4], num[5]};
        ttab_row(&tt, cells);
        free(comm);
        remember(sh, &k->who);
    }
    ttab_print(v, &tt);
    ttab_free(&tt);
    more_rows(v, t->n, n);
    free(o);
}

static void fails_table(const struct tview *v, const struct trace_report *r, struct shown *sh)
{
    const struct trace_tab *t = r->fails;
    fprintf(v->f, "\n%sFailed connect() and bind()%s (NOW: returned by the call; LATER: by SO_ERROR)\n",
            bold(v), off(v));
    if (!t->n) {
        fprintf(v->f, "  (no failures)\n");
        return;
    }
    size_t *o = trace_tab_order(t, 2);
    struct ttab tt = {.head = {"PID", "COMM", "CALL", "ERRNO", "DESTINATION", "NOW", "LATER"},
                      .right = {true, false, false, false, false, true, true},
                      .movable = 4, .ncol = 7};
    size_t n = o && t->n < r->top ? t->n : r->top;
    for (size_t i = 0; o && i < n && i < t->n; i++) {
        const struct trace_fail_key *k = trace_tab_key(t, o[i]);
        const uint64_t *val = trace_tab_val(t, o[i]);
        char pid[16], dst[64], en[32], now[TWX_NUM_LEN], later[TWX_NUM_LEN], *comm = NULL;
        who_cells(&k->who, pid, sizeof(pid), &comm);
        trace_addr_str(&k->dst, dst, sizeof(dst));
        trace_errno_name(k->err, en, sizeof(en));
        char *cells[] = {pid, comm, k->call == TRACE_BIND ? "bind" : "connect", en, dst,
                         (char *)twx_count(now, val[0]),
                         (char *)twx_count(later, val[1])};
        ttab_row(&tt, cells);
        free(comm);
        remember(sh, &k->who);
    }
    ttab_print(v, &tt);
    ttab_free(&tt);
    more_rows(v, t->n, n);
    free(o);
}

static void cgroup_lines(const struct tview *v, const struct trace_report *r, const struct shown *sh)
{
    if (!sh->n)
        return;
    fprintf(v->f, "\n%sWhere they run%s\n", bold(v), off(v));
    struct ttab tt = {.head = {"PID", "COMM", "CGROUP", "CONTAINER"},
                      .right = {true, false, false, false}, .movable = 2, .ncol = 3};
    for (size_t i = 0; i < sh->n; i++) {   /* a CONTAINER column only if one has an id */
        const char *p = trace_cgroups_path(r->cg, sh->who[i].cgroup);
        char cid[16];
        if (p && trace_container_id(p, cid, sizeof(cid))[0])
            tt.ncol = 4;
    }
    for (size_t i = 0; i < sh->n; i++) {
        const struct trace_who *w = &sh->who[i];
        const char *p = trace_cgroups_path(r->cg, w->cgroup);
        char pid[16], cid[16] = "", *comm = NULL;
        who_cells(w, pid, sizeof(pid), &comm);
        char *ep = esc_dup(p ? p : "(unknown)");
        if (p)
            trace_container_id(p, cid, sizeof(cid));
        char *cells[] = {pid, comm, ep, cid};
        ttab_row(&tt, cells);
        free(comm);
        free(ep);
    }
    ttab_print(v, &tt);
    ttab_free(&tt);
}

static void check_line(const struct tview *v, const struct trace_report *r)
{
    uint64_t tw = 0, killed = 0, births = 0;
    size_t differ = 0;
    bool settled = true;
    for (size_t i = 0; i < r->nchecks; i++) {
        const struct trace_ns_check *c = &r->checks[i];
        tw += c->tw_delta;
        killed += c->killed_delta;
        births += c->births;
        differ += c->births != c->tw_delta + c->killed_delta;
        settled &= c->settled;
    }
    char a[TWX_NUM_LEN], b[TWX_NUM_LEN];
    if (!r->nchecks) {
        fprintf(v->f, "  (no namespace to cross-check)\n");
        return;
    }
    fprintf(v->f, "  kernel counter: TcpExtTW +%s", twx_count(a, tw));
    if (killed)
        fprintf(v->f, ", TcpExtTWKilled +%s", twx_count(b, killed));
    if (r->nchecks > 1)
        fprintf(v->f, " over the %zu namespaces known at start (births there %s)", r->nchecks,
                twx_count(b, births));
    if (!differ)
        fprintf(v->f, ": equal%s\n", settled ? "" : " (births in flight at the edges)");
    else if (r->nchecks > 1)
        fprintf(v->f, ": %zu namespaces differ%s\n", differ,
                r->exact ? "" : " (approximate method)");
    else
        fprintf(v->f, ": differs by %lld%s%s\n", (long long)births - (long long)(tw + killed),
                r->exact ? "" : " (approximate method)",
                settled ? "" : " (births in flight at the edges)");
}

void trace_view(FILE *f, const struct trace_report *r, bool color)
{
    struct tview v = {.f = f, .color = color};
    char when[32] = "", a[TWX_NUM_LEN], b[TWX_NUM_LEN], c[TWX_NUM_LEN];
    time_t t = (time_t)(r->wall_ns / 1000000000ull);
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
    bool total = !strcmp(r->kind, "total");
    /* The scope holds a namespace's name (outside data, any length up to
     * the label's): escaped, and the line wraps instead of passing 80. */
    char *scope = esc_dup(r->scope);
    struct twx_flow w;
    twx_flow_begin(&w, f, WIDTH, 0, 2);
    twx_flow_putf(&w, NULL, "%stwkit trace%s", bold(&v), off(&v));
    char *rest = scope ? strrchr(scope, ' ') : NULL; /* "namespace NAME", "(inode)" */
    if (rest)
        *rest++ = '\0';
    twx_flow_put(&w, "  ", scope ? scope : "?");
    if (rest)
        twx_flow_words(&w, rest);
    twx_flow_put(&w, "  ", r->exact ? "exact" : "approximate");
    twx_flow_putf(&w, "  ", "%s %.1f s", total ? "total" : "last", r->seconds);
    twx_flow_put(&w, "  ", when);
    twx_flow_end(&w);
    free(scope);
    fprintf(f, "TIME_WAIT births: %s%s (TIME_WAIT %s, FIN_WAIT2 %s)\n",
            r->exact ? "" : "about ",
            twx_count(a, r->births.tw + r->births.fw2),
            twx_count(b, r->births.tw), twx_count(c, r->births.fw2));
    check_line(&v, r);

    struct shown sh = {.n = 0};
    closes_table(&v, r, &sh);
    fails_table(&v, r, &sh);
    cgroup_lines(&v, r, &sh);

    fprintf(f, "\nlost %s (tables full)  missed at most %s (BPF recursion)",
            twx_count(a, r->lost_rows + r->lost_pending),
            twx_count(b, r->missed));
    if (r->unattributed)
        fprintf(f, "  births of sockets closed before trace started %s",
                twx_count(c, r->unattributed));
    fputc('\n', f);
    if (r->nprogs) {
        fprintf(f, "\n%sBPF programs%s (BPF_ENABLE_STATS)\n", bold(&v), off(&v));
        fprintf(f, "  %-28s %14s %12s %8s\n", "PROGRAM", "EVENTS", "RUN TIME", "NS/EVENT");
        for (size_t i = 0; i < r->nprogs; i++) {
            const struct trace_prog_stat *p = &r->progs[i];
            fprintf(f, "  %-28s %14s %10.1f ms %8.0f\n", p->name,
                    twx_count(a, p->run_cnt), (double)p->run_time_ns / 1e6,
                    p->run_cnt ? (double)p->run_time_ns / (double)p->run_cnt : 0.0);
        }
    }
}
