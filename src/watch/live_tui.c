/*
 * live_tui.c — the curses view of `twkit watch --source live`.
 *
 * The live table (twkit/live.h) has counts per destination and state, not
 * sockets, so the full report's view (tui.c: expiry, reuse, rates, exhaustion)
 * cannot show it; this view is the table itself, read every --interval: a
 * header (namespace, where the counts came from and why when the table
 * could not be had, totals by state, the table's own health: seeds, lost
 * events, reconciliations and the last drift), then one row per destination
 * with its counts by state and the net change of its TIME_WAIT per second
 * since the previous sample (new minus expired: the table keeps no births
 * per destination), most TIME_WAIT first (the rows: live_dests.c).  A
 * sample is the batch loop's (live.c), so both show the same numbers with
 * the same filters, --netns, --reconcile and SIGUSR1.
 *
 * Keys as in tui.c where they mean the same (q, p, ?, Ctrl-L); t, n, a sort,
 * the arrows, PgUp/PgDn, Home/End scroll, r reconciles at once.  Nothing is
 * cut: columns widen to their widest value; a row that does not fit the
 * width takes short column names (TW, FW2, CW, explained under the table),
 * then puts its numbers on a line under its addresses; any other line wraps.
 * Below 80x24 it shows a notice until the terminal grows (at start it is an
 * error, as in tui.c).
 */
#include <curses.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <wchar.h>

#include "twx/clock.h"
#include "twx/text.h"
#include "watch/watch.h"

struct ltui {
    struct watch *w;
    struct watch_live L;
    struct live_dests D;
    struct watch_live_sample s; /* the last one (rows freed; the flags kept) */
    bool have_recon;
    uint64_t recon_sample;
    char recon_at[16];
    char read_at[16];
    size_t width[COL_MAX];     /* at this screen's width */
    int names;                 /* live_col_name[names] */
    bool split;                /* addresses on a line, numbers on the next */
    enum lsort sort;
    size_t top, page;
    bool paused, help, color;
    char status[160];
};

/* ---- drawing ------------------------------------------------------------------- */

/* Write text's lines from line y (up to bottom), each wrapped at COLS
 * columns; returns the next line.  bottom < 0: count only. */
static int put_text(int y, int bottom, const char *text, attr_t at, short pair)
{
    wchar_t *wb = malloc((strlen(text) + 1) * sizeof(*wb));
    if (!wb)
        return y + 1;
    while (*text) {
        size_t len = strcspn(text, "\n");
        char *line = strndup(text, len);
        text += len + (text[len] == '\n');
        size_t n = line ? mbstowcs(wb, line, len + 1) : (size_t)-1;
        free(line);
        if (n == (size_t)-1)
            n = 0;
        size_t i = 0;
        do {
            size_t k = i;
            int cols = 0;
            for (; k < n; k++) {
                int cw = wcwidth(wb[k]) > 0 ? wcwidth(wb[k]) : 1;
                if (cols + cw > COLS)
                    break;
                cols += cw;
            }
            if (k == i && k < n)
                k++;
            if (bottom >= 0 && y < bottom) {
                attr_set(at, pair, NULL);
                mvaddnwstr(y, 0, wb + i, (int)(k - i));
                attr_set(A_NORMAL, 0, NULL);
            }
            y++;
            i = k;
        } while (i < n);
    }
    free(wb);
    return y;
}

/* What fn writes, as a malloc'd string (NULL: out of memory). */
static char *text_of(void (*fn)(struct ltui *, FILE *), struct ltui *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fn(t, f);
    fclose(f);
    return buf;
}

/* The row (d, or the column names) as lines at the screen's width: cells
 * padded to their columns' widths; a row wider than the screen has its
 * addresses on a line and its numbers on the next, indented (as tui.c),
 * each wrapped between cells if still too wide. */
static void row_text(const struct ltui *t, const struct ldest *d, char *buf, size_t len)
{
    char c[COL_MAX][64];
    live_dests_cells(d, t->names, c);
    FILE *f = fmemopen(buf, len, "w");
    if (!f) {
        buf[0] = 0;
        return;
    }
    struct twx_flow fl;
    twx_flow_begin(&fl, f, (size_t)COLS, 0, 2);
    for (int i = 0; i < COL_MAX; i++) {
        int w = (int)t->width[i];
        if (i == COL_NUM && t->split) {
            twx_flow_end(&fl);
            twx_flow_begin(&fl, f, (size_t)COLS, 2, 2);
        }
        if (i < COL_NUM)
            twx_flow_putf(&fl, "  ", "%-*s", w, c[i]);
        else
            twx_flow_putf(&fl, "  ", "%*s", w, c[i]);
    }
    fclose(f);
}

static int row_lines(const struct ltui *t)
{
    char b[2048];
    row_text(t, NULL, b, sizeof(b));
    return put_text(0, -1, b, 0, 0);
}

/* End the line, begin the next one (continuations indented by 2). */
static void next_line(struct twx_flow *fl, FILE *f)
{
    twx_flow_end(fl);
    twx_flow_begin(fl, f, (size_t)COLS, 0, 2);
}

static void header(struct ltui *t, FILE *f)
{
    const struct watch_args *a = t->w->a;
    struct twx_flow fl;
    char *esc = twx_esc_dup(t->L.label);
    twx_flow_begin(&fl, f, (size_t)COLS, 0, 2);
    twx_flow_put(&fl, "  ", "twkit watch --source live");
    twx_flow_putf(&fl, "  ", "netns %s", esc ? esc : "?");
    twx_flow_putf(&fl, "  ", "every %gs", a->interval);
    twx_flow_putf(&fl, "  ", "sample %llu at %s", (unsigned long long)t->D.samples, t->read_at);
    next_line(&fl, f);
    free(esc);
    char why[512 * 4 + 1];
    if (t->s.live) {
        twx_flow_put(&fl, "  ", "source live (the eBPF table)");
    } else {
        twx_flow_put(&fl, "  ", "source netlink (a sock_diag walk every sample):");
        twx_flow_words(&fl, twx_esc(why, sizeof(why), t->s.why));
    }
    twx_flow_putf(&fl, "  ", "read %.6f s", t->s.read_s);
    next_line(&fl, f);
    twx_flow_putf(&fl, "  ", "sockets %lld:", (long long)t->D.tot[LC_TOTAL]);
    for (int i = 0; i < LC_TOTAL; i++)
        twx_flow_putf(&fl, i ? "  " : " ", "%s %lld", live_col_name[0][COL_NUM + i],
                      (long long)t->D.tot[i]);
    twx_flow_putf(&fl, "  ", "in %zu %s", t->D.nd,
                  twx_plural(t->D.nd, "destination", "destinations"));
    next_line(&fl, f);
    if (t->L.lt) {
        struct tw_live_stats st;
        tw_live_stats(t->L.lt, &st);
        twx_flow_putf(&fl, "  ", "table: seeds %llu", (unsigned long long)st.seeds);
        twx_flow_putf(&fl, "  ", "lost events %llu", (unsigned long long)st.lost_events);
        twx_flow_putf(&fl, "  ", "census misses %llu", (unsigned long long)st.census_misses);
        twx_flow_putf(&fl, "  ", "reconciliations %llu", (unsigned long long)st.reconciliations);
        if (a->reconcile > 0)
            twx_flow_putf(&fl, "  ", "every %gs", a->reconcile);
        else
            twx_flow_put(&fl, "  ", "on r only");
        next_line(&fl, f);
        if (t->have_recon) {
            twx_flow_putf(&fl, "  ", "last drift: %llu row%s (%lld socket%s),",
                          (unsigned long long)st.drift_rows, st.drift_rows == 1 ? "" : "s",
                          (long long)st.drift_abs, st.drift_abs == 1 ? "" : "s");
            twx_flow_putf(&fl, " ", "%llu unsettled,", (unsigned long long)st.unsettled);
            twx_flow_putf(&fl, " ", "at sample %llu (%s),", (unsigned long long)t->recon_sample,
                          t->recon_at);
            twx_flow_putf(&fl, " ", "walk %.3f s", st.reconcile_seconds);
        } else {
            twx_flow_put(&fl, "  ", "last drift: no reconciliation yet (r runs one)");
        }
        if (t->s.live && t->s.why[0]) {
            twx_flow_put(&fl, "  ", "reconciliation failed:");
            twx_flow_words(&fl, twx_esc(why, sizeof(why), t->s.why));
        }
    } else {
        twx_flow_put(&fl, "  ", "table: none (no seeds, events or reconciliations)");
    }
    twx_flow_end(&fl);
}

static void status_text(struct ltui *t, FILE *f)
{
    struct twx_flow fl;
    twx_flow_begin(&fl, f, (size_t)COLS, 0, 0);
    if (t->paused)
        twx_flow_put(&fl, "  ", "[PAUSED]");
    if (t->status[0])
        twx_flow_put(&fl, "  ", t->status);
    twx_flow_putf(&fl, "  ", "sort %s", live_sort_name[t->sort]);
    if (t->D.nd)
        twx_flow_putf(&fl, "  ", "rows %zu-%zu of %zu", t->top + 1,
                      t->top + t->page < t->D.nd ? t->top + t->page : t->D.nd, t->D.nd);
    twx_flow_put(&fl, "  ", t->L.lt ? "q quit  p pause  r reconcile  t n a sort  ? help"
                                    : "q quit  p pause  t n a sort  ? help");
    twx_flow_end(&fl);
}

/* Full names if a row fits on a line with them, else the short ones if it
 * does with those, else full names and split rows. */
static void layout(struct ltui *t)
{
    for (int names = 0; names < 3; names++) {
        size_t all = 2 * (COL_MAX - 1);
        for (int i = 0; i < COL_MAX; i++) {
            size_t n = strlen(live_col_name[names % 2][i]);
            t->width[i] = t->D.vw[i] > n ? t->D.vw[i] : n;
            all += t->width[i];
        }
        t->names = names % 2;
        t->split = all > (size_t)COLS;
        if (!t->split)
            return;
    }
}

static void notes(struct ltui *t, FILE *f)
{
    struct twx_flow fl;
    twx_flow_begin(&fl, f, (size_t)COLS, 0, 0);
    if (t->names)
        twx_flow_words(&fl, "TW: TIME_WAIT, FW2: FIN_WAIT2, CW: CLOSE_WAIT.");
    twx_flow_words(&fl, "TW NET/S: the net change of TIME_WAIT per second since the "
                        "previous sample (new minus expired), not births. \"from ADDR\": "
                        "the connections a server at SRC accepted from ADDR, all ports.");
    twx_flow_end(&fl);
}

static void draw_help(void)
{
    static const char *const text[] = {
        "twkit watch --source live: keys",
        "",
        "q          quit",
        "p          pause / resume sampling",
        "r          reconcile now (compare with a sock_diag walk)",
        "t, n, a    sort by TIME_WAIT, by total, by address",
        "Up, Down   scroll a row (also k, j)",
        "PgUp, PgDn scroll a page; Home, End: the first, the last",
        "Ctrl-L     redraw",
        "?, h       this help (any key closes it)",
    };
    watch_help_box(text, (int)(sizeof(text) / sizeof(text[0])));
}

static void draw(struct ltui *t)
{
    erase();
    if (COLS < WATCH_MIN_COLS || LINES < WATCH_MIN_LINES) {
        char l[160];
        snprintf(l, sizeof(l), "terminal too small: %dx%d, watch needs %dx%d (q quits)", COLS,
                 LINES, WATCH_MIN_COLS, WATCH_MIN_LINES);
        put_text(0, LINES, l, A_BOLD, 0);
        refresh();
        return;
    }
    char *st = text_of(status_text, t);
    int bottom = LINES - (st ? put_text(0, -1, st, 0, 0) : 1);
    free(st);
    if (t->D.samples) {
        char *h = text_of(header, t);
        int y = h ? put_text(0, bottom, h, 0, 0) : 0;
        free(h);
        put_text(0, bottom, "twkit watch --source live", A_BOLD, t->color ? WATCH_C_TITLE : 0);
        layout(t);
        char *nt = text_of(notes, t);
        int nl = nt ? put_text(0, -1, nt, 0, 0) : 0;
        if (nt && t->D.nd)
            put_text(bottom - nl, bottom, nt, t->color ? A_DIM : A_NORMAL, 0);
        free(nt);
        bottom -= nl;
        char rb[2048];
        int rl = row_lines(t);
        int fits = (bottom - y - 1 - rl) / rl; /* a blank line, the column names */
        t->page = fits > 0 ? (size_t)fits : 1;
        if (t->top + t->page > t->D.nd)
            t->top = t->D.nd > t->page ? t->D.nd - t->page : 0;
        y++;
        if (!t->D.nd) {
            put_text(y, bottom, "no destinations (none match the filters)", 0, 0);
        } else {
            row_text(t, NULL, rb, sizeof(rb));
            y = put_text(y, bottom, rb, A_BOLD | (t->color ? 0 : A_UNDERLINE), 0);
            for (size_t i = t->top; i < t->D.nd && y + rl <= bottom; i++) {
                row_text(t, &t->D.d[i], rb, sizeof(rb));
                y = put_text(y, bottom, rb, 0, 0);
            }
        }
    } else {
        put_text(0, bottom, "twkit watch --source live: the first sample...", A_BOLD, 0);
    }
    st = text_of(status_text, t); /* again: the rows shown are known now */
    if (st) {
        int sh = put_text(0, -1, st, 0, 0);
        put_text(LINES - sh, LINES, st, A_REVERSE, 0);
        free(st);
    }
    if (t->help)
        draw_help();
    refresh();
}

/* ---- keys ----------------------------------------------------------------------------- */

static void scroll_by(struct ltui *t, long delta)
{
    long top = (long)t->top + delta, max = t->D.nd > t->page ? (long)(t->D.nd - t->page) : 0;
    t->top = (size_t)(top < 0 ? 0 : top > max ? max : top);
}

static void set_sort(struct ltui *t, enum lsort s)
{
    t->sort = s;
    live_dests_sort(&t->D, s);
    t->top = 0;
}

/* Returns false to quit; *now: sample at once. */
static bool key(struct ltui *t, wint_t ch, bool fkey, bool *now)
{
    t->status[0] = 0;
    if (t->help) {
        t->help = false;
        return true;
    }
    if (fkey) {
        long page = (long)t->page;
        switch (ch) {
        case KEY_UP: scroll_by(t, -1); break;
        case KEY_DOWN: scroll_by(t, 1); break;
        case KEY_PPAGE: scroll_by(t, -page); break;
        case KEY_NPAGE: scroll_by(t, page); break;
        case KEY_HOME: scroll_by(t, -(long)t->D.nd); break;
        case KEY_END: scroll_by(t, (long)t->D.nd); break;
        default: break;
        }
        return true;
    }
    switch (ch) {
    case 'q': case 'Q': return false;
    case 'p':
        t->paused = !t->paused;
        *now = !t->paused;
        break;
    case 'r':
        if (!t->L.lt) {
            snprintf(t->status, sizeof(t->status), "no table to reconcile (each sample walks)");
            break;
        }
        watch_sig_reconcile = 1;
        if (t->paused) /* nothing is sampled while paused: it runs at the resume */
            snprintf(t->status, sizeof(t->status), "paused: the reconciliation runs when p resumes");
        else
            *now = true;
        break;
    case 't': set_sort(t, LS_TW); break;
    case 'n': set_sort(t, LS_TOTAL); break;
    case 'a': set_sort(t, LS_ADDR); break;
    case 'j': scroll_by(t, 1); break;
    case 'k': scroll_by(t, -1); break;
    case '?': case 'h': t->help = true; break;
    case 12: clearok(curscr, TRUE); break;
    default: break;
    }
    return true;
}

/* ---- the loop ---------------------------------------------------------------------- */

int watch_live_tui(struct watch *w)
{
    const struct watch_args *a = w->a;
    setlocale(LC_ALL, "");
    static struct ltui t; /* large (the label); one per run */
    memset(&t, 0, sizeof(t));
    t.w = w;
    int rc = watch_live_open(&t.L, a, true);
    if (rc)
        return rc;
    SCREEN *scr = watch_curses_open(&t.color);
    if (!scr) {
        watch_live_close(&t.L);
        return TW_EXIT_RUNTIME;
    }
    watch_signals(WATCH_SIG_USR1);

    uint64_t interval_ns = (uint64_t)llround(a->interval * 1e9);
    uint64_t next = twx_now_ns();
    int err = 0;
    bool now_ = false, pending = false; /* pending: asked for, not run yet (no table read) */
    draw(&t);
    while (!watch_sig_stop) {
        uint64_t now = twx_now_ns();
        bool due = !t.paused && now >= next;
        if (due || now_ || (watch_sig_reconcile && !pending && !t.paused)) { /* SIGUSR1 too */
            now_ = false;
            watch_live_sample_free(&t.s);
            if ((err = watch_live_sample(&t.L, &t.s)))
                break;
            time_t wall = time(NULL);
            struct tm tm;
            strftime(t.read_at, sizeof(t.read_at), "%H:%M:%S", localtime_r(&wall, &tm));
            if (live_dests_take(&t.D, &t.s, t.sort))
                snprintf(t.status, sizeof(t.status), "out of memory: the sample is not shown");
            if (t.s.reconciled) {
                t.have_recon = true;
                t.recon_sample = t.D.samples;
                snprintf(t.recon_at, sizeof(t.recon_at), "%s", t.read_at);
            }
            watch_live_sample_free(&t.s); /* the flags and the reasons stay */
            pending = watch_sig_reconcile;
            if (due) {
                next += interval_ns;
                now = twx_now_ns();
                if (next < now) {
                    w->late++;
                    next = now;
                }
            } else { /* asked for (r, p, SIGUSR1): the next one an interval later */
                next = twx_now_ns() + interval_ns;
            }
            draw(&t);
            if (a->count && t.D.samples >= a->count)
                break;
            continue;
        }
        int ms = t.paused ? -1 : (int)((next - now + 999999) / 1000000);
        timeout(ms);
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR)
            continue; /* timeout, or a signal */
        if (!key(&t, ch, r == KEY_CODE_YES, &now_))
            break;
        draw(&t);
    }
    endwin();
    delscreen(scr);
    watch_live_close(&t.L);
    live_dests_free(&t.D);
    if (err) {
        twx_err("sock_diag walk: %s", tw_strerror(err));
        return TW_EXIT_RUNTIME;
    }
    return TW_EXIT_OK;
}
