/*
 * tui.c — the curses view of `twkit watch` (ncursesw, wide characters).
 *
 * The screen is the lines of view.c: the header, then the destinations worst
 * first with a selection bar, an expanded destination's detail under its
 * row, the footnotes, and a status line with the keys.  The conventions are
 * top's and htop's: q quits, p pauses (nothing is sampled; the keys still
 * work on the last sample), s cycles the sort, o freezes the row order so
 * that rows stop jumping (nethogs#295), / filters, Enter expands, n/N go to
 * the next namespace, ? shows the keys, Ctrl-L redraws.  Colour only where
 * --color and NO_COLOR allow and the terminal has it; otherwise bold,
 * underline and reverse carry the same meaning (monochrome terminals).
 *
 * The view samples only the namespace it shows; each namespace keeps its
 * own engine, so coming back to one resumes its history.  Resizing redraws;
 * a terminal below 80x24 shows a notice until it grows (at start it is an
 * error: use --batch).
 */
#include <curses.h>
#include <term.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "twx/clock.h"
#include "twx/text.h"
#include "watch/watch.h"

enum { C_TITLE = WATCH_C_TITLE, C_WARN = WATCH_C_WARN, C_CRIT = WATCH_C_CRIT, C_OK = WATCH_C_OK,
       C_DIM = WATCH_C_DIM };

struct tui {
    struct watch *w;
    bool color, utf8;
    bool paused, help, prompt, ended;
    enum watch_sort sort;
    struct watch_filter filter;
    struct watch_rows rows;
    size_t sel, top;
    bool have_sel;
    struct watch_key sel_key;
    bool expanded;
    struct watch_key exp_key;
    char input[64];
    char status[160];      /* a message on the status line until the next key */
    uint64_t ticks;
};

/* ---- drawing ------------------------------------------------------------------- */

static void put(int y, const char *s, attr_t at, short pair)
{
    wchar_t wb[1024];
    size_t n = mbstowcs(wb, s, sizeof(wb) / sizeof(wb[0]) - 1);
    if (n == (size_t)-1)
        n = 0;
    wb[n] = 0;
    attr_set(at, pair, NULL);
    mvaddnwstr(y, 0, wb, COLS);
    attr_set(A_NORMAL, 0, NULL);
}

struct drawctx {
    struct tui *t;
    int y, bottom;
};

static void emit(void *ctx, enum watch_line kind, size_t row, int level, const char *text)
{
    struct drawctx *d = ctx;
    struct tui *t = d->t;
    if (d->y >= d->bottom)
        return;
    attr_t at = A_NORMAL;
    short pair = 0;
    switch (kind) {
    case WL_TITLE:
        at = A_BOLD;
        pair = t->color ? C_TITLE : 0;
        break;
    case WL_THEAD:
        at = t->color ? A_BOLD : A_UNDERLINE | A_BOLD;
        break;
    case WL_NOTE:
    case WL_EXPAND:
        at = t->color ? A_DIM : A_NORMAL;
        break;
    default:
        if (level == 2) {
            at = A_BOLD | (t->color ? 0 : A_UNDERLINE);
            pair = t->color ? C_CRIT : 0;
        } else if (level == 1) {
            at = t->color ? A_NORMAL : A_BOLD;
            pair = t->color ? C_WARN : 0;
        }
        break;
    }
    if ((kind == WL_ROW || kind == WL_ROW_CONT) && t->have_sel && row == t->sel)
        at |= A_REVERSE;
    put(d->y++, text, at, pair);
}

static int row_height(const struct tui *t, const struct watch_layout *lay, size_t i)
{
    const struct watch_ns *ns = &t->w->ns[t->w->cur];
    const struct tw_dest_rate *d;
    size_t nd = tw_rate_engine_dests(ns->eng, &d);
    size_t di = t->rows.idx[i];
    if (di >= nd)
        return 1;
    int h = watch_view_row_lines(lay, ns, di);
    if (t->expanded) {
        struct watch_key k;
        watch_key_of(&k, d[di].p);
        if (!memcmp(&k, &t->exp_key, sizeof(k)))
            h += watch_view_expand_lines(lay, ns, di);
    }
    return h;
}

/*
 * The status line's text: the filter prompt, or the state, a message, the
 * sort, the filter, the namespace and as many of the keys as fit.  Returns
 * whether it is the prompt.
 */
static bool status_text(const struct tui *t, char *l, size_t len)
{
    const struct watch *w = t->w;
    int n;
    if (t->prompt) {
        char esc[200];
        snprintf(l, len, "filter (address, CIDR or port; empty clears): %s_",
                 twx_esc(esc, sizeof(esc), t->input));
        return true;
    }
    n = snprintf(l, len, "%s", t->paused ? "[PAUSED] " : t->ended ? "[END] " : "");
    if (t->status[0])
        n += snprintf(l + n, len - n, "%s  ", t->status);
    n += snprintf(l + n, len - n, "sort %s%s", watch_sort_name(t->sort),
                  t->rows.frozen ? " (frozen)" : "");
    if (t->filter.on) {
        char esc[200];
        n += snprintf(l + n, len - n, "  filter %s", twx_esc(esc, sizeof(esc), t->filter.text));
    }
    if (w->n_ns > 1)
        n += snprintf(l + n, len - n, "  netns %zu/%zu", w->cur + 1, w->n_ns);
    const char *keys = "  q quit p pause s sort o freeze / filter Enter expand ? help";
    if (n + (int)strlen(keys) <= COLS)
        snprintf(l + n, len - n, "%s", keys);
    else if (n + 8 <= COLS)
        snprintf(l + n, len - n, "  ? help");
    return false;
}

#define STATUS_MAX 4 /* lines the status may take (a long filter and message) */

/*
 * The status text on lines of at most COLS columns, broken at spaces (or
 * within a word longer than a line): a long filter or message is shown
 * whole, on more lines, never cut at the screen's edge.  Returns the count.
 */
static int status_lines(const struct tui *t, char out[STATUS_MAX][512], bool *prompt)
{
    char l[512];
    *prompt = status_text(t, l, sizeof(l));
    const char *p = l;
    int n = 0;
    while (*p && n < STATUS_MAX) {
        int len = (int)strlen(p), cut = len;
        if (len > COLS && n < STATUS_MAX - 1) {
            int item = 0, word = 0; /* between items ("  ") first, else words */
            for (int i = COLS; i > 0 && !item; i--) {
                if (p[i] == ' ' && p[i - 1] == ' ')
                    item = i - 1;
                else if (p[i] == ' ' && !word)
                    word = i;
            }
            cut = item > 0 ? item : word > 0 ? word : COLS;
        }
        snprintf(out[n++], 512, "%.*s", cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
    return n ? n : 1;
}

static int status_height(const struct tui *t)
{
    char out[STATUS_MAX][512];
    bool prompt;
    return status_lines(t, out, &prompt);
}

static void status_line(struct tui *t)
{
    char out[STATUS_MAX][512] = {{0}};
    bool prompt;
    int n = status_lines(t, out, &prompt);
    for (int i = 0; i < n; i++)
        put(LINES - n + i, out[i], prompt ? A_BOLD : A_REVERSE, 0);
}

void watch_help_box(const char *const *text, int n)
{
    int h = n + 2, wd = 62;
    int y0 = (LINES - h) / 2, x0 = (COLS - wd) / 2;
    for (int i = 0; i < h; i++) {
        attr_set(A_REVERSE, 0, NULL);
        mvhline(y0 + i, x0, ' ', wd);
        if (i > 0 && i < h - 1)
            mvaddstr(y0 + i, x0 + 2, text[i - 1]);
    }
    attr_set(A_NORMAL, 0, NULL);
}

static void draw_help(void)
{
    static const char *const text[] = {
        "twkit watch: keys",
        "",
        "q         quit",
        "p         pause / resume sampling",
        "s         sort: exhaustion, pressure, new/s, TIME_WAIT,",
        "          in use, destination",
        "o         freeze the row order (new destinations go last)",
        "/         filter: an address, a CIDR prefix or a port",
        "          (Enter applies, Esc cancels, Ctrl-U clears)",
        "Enter     expand / fold the selected destination",
        "Up, Down  select (also j, k, PgUp, PgDn, Home, End)",
        "n, N      next / previous namespace (--netns all)",
        "Ctrl-L    redraw",
        "?         this help (any key closes it)",
    };
    watch_help_box(text, (int)(sizeof(text) / sizeof(text[0])));
}

static void draw(struct tui *t)
{
    struct watch *w = t->w;
    struct watch_ns *ns = &w->ns[w->cur];
    erase();
    if (COLS < WATCH_MIN_COLS || LINES < WATCH_MIN_LINES) {
        char l[160];
        snprintf(l, sizeof(l), "terminal too small: %dx%d, watch needs %dx%d (q quits)", COLS,
                 LINES, WATCH_MIN_COLS, WATCH_MIN_LINES);
        put(0, l, A_BOLD, 0);
        refresh();
        return;
    }
    int sh = status_height(t);
    struct drawctx d = {.t = t, .y = 0, .bottom = LINES - sh};
    watch_view_header(w, ns, COLS, emit, &d);
    if (ns->rep && ns->err[0]) {
        char l[sizeof(ns->err) + 32];
        snprintf(l, sizeof(l), "last sample failed: %s", ns->err);
        emit(&d, WL_WARN, 0, 2, l);
    }
    if (ns->rep) {
        struct watch_layout lay;
        int avail = d.bottom - d.y - 2; /* column names, footnote */
        watch_view_layout(&lay, ns, &t->rows, t->top, (size_t)(avail > 0 ? avail : 1), COLS, t->utf8);
        if (t->have_sel) {
            if (t->sel < t->top)
                t->top = t->sel;
            for (;;) {
                int need = 0;
                for (size_t i = t->top; i <= t->sel; i++)
                    need += row_height(t, &lay, i);
                if (need <= avail || t->top == t->sel)
                    break;
                t->top++;
            }
            watch_view_layout(&lay, ns, &t->rows, t->top, (size_t)(avail > 0 ? avail : 1), COLS,
                              t->utf8);
        }
        if (!t->rows.n) {
            emit(&d, WL_INFO, 0, 0, t->filter.on ? "no destination matches the filter"
                                                 : "no client-side connection uses the port range");
        } else {
            watch_view_thead(&lay, emit, &d);
            int stop = d.bottom - 1;
            for (size_t i = t->top; i < t->rows.n; i++) {
                if (d.y + row_height(t, &lay, i) > stop)
                    break;
                watch_view_row(&lay, ns, t->rows.idx[i], i, emit, &d);
                const struct tw_dest_rate *dr;
                tw_rate_engine_dests(ns->eng, &dr);
                const struct tw_pressure *p = dr[t->rows.idx[i]].p;
                struct watch_key k;
                watch_key_of(&k, p);
                if (t->expanded && !memcmp(&k, &t->exp_key, sizeof(k)))
                    watch_view_expand(&lay, ns, t->rows.idx[i], emit, &d);
            }
            d.bottom = LINES - sh;
            watch_view_notes(&lay, ns, emit, &d);
        }
    }
    status_line(t);
    if (t->help)
        draw_help();
    refresh();
}

/* ---- rows and selection --------------------------------------------------------------- */

static void key_at(const struct tui *t, size_t i, struct watch_key *k)
{
    const struct watch_ns *ns = &t->w->ns[t->w->cur];
    const struct tw_dest_rate *d;
    tw_rate_engine_dests(ns->eng, &d);
    watch_key_of(k, d[t->rows.idx[i]].p);
}

static void rebuild(struct tui *t)
{
    struct watch_ns *ns = &t->w->ns[t->w->cur];
    if (watch_rows_build(&t->rows, ns->rep ? ns->eng : NULL, t->sort, &t->filter))
        snprintf(t->status, sizeof(t->status), "out of memory");
    t->have_sel = t->rows.n > 0;
    if (!t->have_sel) {
        t->sel = t->top = 0;
        return;
    }
    /* keep the selection on the same destination */
    for (size_t i = 0; i < t->rows.n; i++) {
        struct watch_key k;
        key_at(t, i, &k);
        if (!memcmp(&k, &t->sel_key, sizeof(k))) {
            t->sel = i;
            return;
        }
    }
    if (t->sel >= t->rows.n)
        t->sel = t->rows.n - 1;
    key_at(t, t->sel, &t->sel_key);
}

static void select_row(struct tui *t, long delta)
{
    if (!t->rows.n)
        return;
    long s = (long)t->sel + delta;
    if (s < 0)
        s = 0;
    if (s >= (long)t->rows.n)
        s = (long)t->rows.n - 1;
    t->sel = (size_t)s;
    key_at(t, t->sel, &t->sel_key);
}

/* ---- keys ----------------------------------------------------------------------------- */

static void prompt_key(struct tui *t, wint_t ch, bool fkey)
{
    size_t n = strlen(t->input);
    if (!fkey && (ch == '\n' || ch == '\r')) {
        struct watch_filter f;
        t->prompt = false;
        if (watch_filter_parse(&f, t->input)) {
            char esc[200];
            snprintf(t->status, sizeof(t->status), "'%s' is not an address, CIDR or port",
                     twx_esc(esc, sizeof(esc), t->input));
            return;
        }
        t->filter = f;
        t->top = 0;
        rebuild(t);
    } else if (!fkey && ch == 27) {
        t->prompt = false;
    } else if (!fkey && ch == 21) { /* Ctrl-U: clear the line */
        t->input[0] = 0;
    } else if ((fkey && ch == KEY_BACKSPACE) || (!fkey && (ch == 127 || ch == 8))) {
        if (n)
            t->input[n - 1] = 0;
    } else if (!fkey && ch >= 32 && ch < 127 && n + 1 < sizeof(t->input)) {
        t->input[n] = (char)ch;
        t->input[n + 1] = 0;
    }
}

/* Returns false to quit. */
static bool key(struct tui *t, wint_t ch, bool fkey, uint64_t *next)
{
    struct watch *w = t->w;
    t->status[0] = 0;
    if (t->help) {
        t->help = false;
        return true;
    }
    if (t->prompt) {
        prompt_key(t, ch, fkey);
        return true;
    }
    if (fkey) {
        switch (ch) {
        case KEY_UP: select_row(t, -1); break;
        case KEY_DOWN: select_row(t, 1); break;
        case KEY_PPAGE: select_row(t, -(LINES / 2)); break;
        case KEY_NPAGE: select_row(t, LINES / 2); break;
        case KEY_HOME: select_row(t, -(long)t->rows.n); break;
        case KEY_END: select_row(t, (long)t->rows.n); break;
        case KEY_ENTER: goto enter;
        case KEY_RESIZE: break;
        default: break;
        }
        return true;
    }
    switch (ch) {
    case 'q':
    case 'Q':
        return false;
    case 'p':
        t->paused = !t->paused;
        if (!t->paused)
            *next = twx_now_ns();
        break;
    case 's':
        t->sort = (t->sort + 1) % SORT_MAX;
        if (t->rows.frozen) { /* re-freeze in the new order */
            watch_rows_freeze(&t->rows, NULL, false);
            rebuild(t);
            watch_rows_freeze(&t->rows, w->ns[w->cur].eng, true);
        }
        rebuild(t);
        break;
    case 'o':
        watch_rows_freeze(&t->rows, w->ns[w->cur].rep ? w->ns[w->cur].eng : NULL, !t->rows.frozen);
        rebuild(t);
        break;
    case '/':
        t->prompt = true;
        snprintf(t->input, sizeof(t->input), "%s", t->filter.on ? t->filter.text : "");
        break;
    case 'j': select_row(t, 1); break;
    case 'k': select_row(t, -1); break;
    case '\n':
    case '\r':
    enter:
        if (t->have_sel) {
            struct watch_key k;
            key_at(t, t->sel, &k);
            if (t->expanded && !memcmp(&k, &t->exp_key, sizeof(k))) {
                t->expanded = false;
            } else {
                t->expanded = true;
                t->exp_key = k;
            }
        }
        break;
    case 'n':
    case 'N':
        if (w->n_ns < 2) {
            snprintf(t->status, sizeof(t->status), "one namespace (--netns all watches every one)");
            break;
        }
        w->cur = ch == 'n' ? (w->cur + 1) % w->n_ns : (w->cur + w->n_ns - 1) % w->n_ns;
        watch_rows_freeze(&t->rows, NULL, false);
        t->expanded = false;
        t->sel = t->top = 0;
        memset(&t->sel_key, 0, sizeof(t->sel_key));
        rebuild(t);
        if (!t->paused)
            *next = twx_now_ns();
        break;
    case '?':
    case 'h':
        t->help = true;
        break;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        break;
    default:
        break;
    }
    return true;
}

/* ---- the loop ---------------------------------------------------------------------- */

SCREEN *watch_curses_open(bool *color)
{
    /* Ask terminfo first: newterm() on an unknown terminal leaks what it
     * allocated (and some builds exit instead of returning NULL). */
    const char *term = getenv("TERM");
    int terr = 0;
    if (setupterm(NULL, fileno(stdout), &terr) != OK) {
        twx_err("cannot start the terminal view (TERM=%s%s): use --batch", /* escapes */
                term ? term : "unset",
                terr == 0 ? ": not in the terminfo database" : "");
        return NULL;
    }
    del_curterm(cur_term);
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        twx_err("cannot start the terminal view (TERM=%s): use --batch", /* escapes */
                term ? term : "unset");
        return NULL;
    }
    if (COLS < WATCH_MIN_COLS || LINES < WATCH_MIN_LINES) {
        int c = COLS, l = LINES;
        endwin();
        delscreen(scr);
        twx_err("the terminal is %dx%d; watch needs at least %dx%d (or use --batch)", c, l,
                WATCH_MIN_COLS, WATCH_MIN_LINES);
        return NULL;
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    *color = tool_color && has_colors();
    if (*color) {
        start_color();
        use_default_colors();
        init_pair(C_TITLE, COLOR_CYAN, -1);
        init_pair(C_WARN, COLOR_YELLOW, -1);
        init_pair(C_CRIT, COLOR_RED, -1);
        init_pair(C_OK, COLOR_GREEN, -1);
        init_pair(C_DIM, COLOR_BLUE, -1);
    }
    return scr;
}

int watch_tui(struct watch *w)
{
    const struct watch_args *a = w->a;
    setlocale(LC_ALL, "");
    struct tui t;
    memset(&t, 0, sizeof(t));
    t.w = w;
    t.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
    SCREEN *scr = watch_curses_open(&t.color);
    if (!scr)
        return TW_EXIT_RUNTIME;
    watch_signals(0); /* SIGPIPE: a terminal, not a pipe */

    uint64_t interval_ns = (uint64_t)llround(a->interval * 1e9);
    uint32_t young_ms = (uint32_t)llround(a->interval * 1000);
    uint64_t t0 = twx_now_ns(), next = t0;
    int rc = TW_EXIT_OK;
    draw(&t);
    while (!watch_sig_stop) {
        uint64_t now = twx_now_ns();
        if (!t.paused && !t.ended && now >= next) {
            int e = watch_sample(w, w->cur, (now - t0) / 1000000, young_ms);
            if (e == WATCH_END) {
                t.ended = true; /* the end of a recorded series */
            } else {
                t.ticks++;
                rebuild(&t);
            }
            next += interval_ns;
            now = twx_now_ns();
            if (next < now) {
                w->late++;
                next = now;
            }
            draw(&t);
            if (a->count && t.ticks >= a->count)
                break;
            continue;
        }
        int ms = t.paused || t.ended ? -1 : (int)((next - now + 999999) / 1000000);
        timeout(ms);
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR)
            continue; /* timeout, or a signal */
        if (!key(&t, ch, r == KEY_CODE_YES, &next))
            break;
        draw(&t);
    }
    endwin();
    delscreen(scr);
    watch_rows_free(&t.rows);
    return rc;
}
