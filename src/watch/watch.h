/*
 * watch.h — what the files of `twkit watch` share: the options, the
 * namespaces being watched (each with its source and its rate engine), the
 * rows the views show, and the views themselves (curses, batch text, NDJSON).
 *
 *   watch.c    the option table, the checks that need no kernel, the signals
 *   sample.c   namespaces, recorded series, one tick of one namespace
 *   rows.c     rows for the views: filter, sort, frozen order, formatting
 *   view.c     the lines both views print: header, table, detail, notes
 *   batch.c    --batch: the text or NDJSON per tick, and its loop
 *   tui.c      the curses view, its keys and its loop
 *   live.c     --source live: counts from the live table, reconciliations,
 *              the --batch loop
 *   live_dests.c --source live: a sample's rows per destination, for the
 *              curses view
 *   live_tui.c --source live: the curses view of the table
 */
#ifndef TWKIT_WATCH_H
#define TWKIT_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <twkit/twkit.h>

#include "twx/text.h"
#include "tool.h"

/* ---- options ---------------------------------------------------------------- */

struct watch_args {
    struct tool_common c;
    double interval;      /* seconds between ticks */
    uint64_t count;       /* -n: ticks, 0 = until stopped */
    uint64_t rows;        /* --batch text: rows per tick */
    bool batch;
    const char *record;   /* --record DIR */
    double reconcile;     /* --source live: seconds between reconciliations (0 never) */
};

/* ---- namespaces and ticks ---------------------------------------------------------- */

struct watch_ns {
    char label[4224];         /* raw (a process name, a fixture path): escape to print */
    uint64_t inode;
    struct tw_netns netns;    /* fd -1: the current namespace */
    struct tw_source *src;    /* live sources stay open; fixtures open per frame */
    struct tw_rate_engine *eng;
    struct tw_report *rep;    /* the last tick's (the engine points into it) */
    struct tw_counters ctr;
    bool have_ctr;
    uint64_t ticks;
    uint64_t t_ms;            /* of the last tick, since the watch started */
    double tick_s;            /* work time of the last tick */
    char err[4608];           /* last failure ("" = none) */
};

struct watch {
    const struct watch_args *a;
    struct watch_ns *ns;
    size_t n_ns, cur;         /* cur: the namespace shown */
    struct tw_netns orig;     /* to come back to after each tick */
    bool entered;             /* namespaces are entered (--netns) */
    /* --fixture: a series of recordings (t<ms> subdirectories) or one */
    char **frames;
    uint64_t *frame_ms;
    size_t n_frames, frame;
    uint64_t start_ms;        /* monotonic ms of the first tick */
    uint64_t late;            /* ticks that started late (the previous one overran) */
};

/* Set up from parsed options (namespaces, fixture frames).  Returns 0 or an
 * exit status (message printed). */
int watch_open(struct watch *w, const struct watch_args *a);
void watch_close(struct watch *w);
/*
 * Sample namespace i at t_ms (ms since the start): enter it, dump, read the
 * counters, feed the engine.  young_ms: the tick interval.  Returns 0, or
 * TW_EXIT_RUNTIME with ns->err set (the last good report is kept).  For a
 * fixture series it takes the next frame and returns WATCH_END after the
 * last one.
 */
#define WATCH_END 100
int watch_sample(struct watch *w, size_t i, uint64_t t_ms, uint32_t young_ms);
/* Ticks driven by the recording's own times (a fixture series). */
bool watch_replaying(const struct watch *w);

/* ---- rows ------------------------------------------------------------------------- */

enum watch_sort { SORT_EXHAUST = 0, SORT_PRESSURE, SORT_RATE, SORT_TW, SORT_INUSE, SORT_DEST,
                  SORT_MAX };

struct watch_filter {
    bool on;
    bool port;                /* match the remote port */
    uint16_t portv;
    struct tw_cidr cidr;      /* else: local or remote address in it */
    char text[64];            /* as typed */
};

/* Parse "443", ":443", "198.18.0.0/15", "::1": 0 or -1. */
int watch_filter_parse(struct watch_filter *f, const char *text);

struct watch_key {
    struct tw_addr l, r;
    uint16_t rport;
    uint32_t pos;             /* in a frozen order: the row's place */
};

/* The key of destination p (padding zeroed: keys compare with memcmp). */
void watch_key_of(struct watch_key *k, const struct tw_pressure *p);

/* Indices into the engine's destinations, filtered and ordered. */
struct watch_rows {
    size_t *idx;
    size_t n, cap;
    /* frozen order: keys of the rows as they were when frozen, sorted by key
     * (pos: the place) */
    bool frozen;
    struct watch_key *keys;
    size_t nkeys;
};


int watch_rows_build(struct watch_rows *rows, struct tw_rate_engine *eng,
                     enum watch_sort sort, const struct watch_filter *f);
void watch_rows_freeze(struct watch_rows *rows, const struct tw_rate_engine *eng, bool on);
void watch_rows_free(struct watch_rows *rows);
const char *watch_sort_name(enum watch_sort s);

/* ---- formatting (views share it) ----------------------------------------------------- */

/* "198.18.0.1>198.18.0.2:80", "[::1]>[::1]:8080" */
const char *watch_dest_str(char *buf, size_t len, const struct tw_pressure *p);
/* "now", "12s", "4m10s", ">10m", "never" (at most 7 columns) */
const char *watch_tte_str(char *buf, size_t len, const struct tw_fc_result *r);
/* A rate: "0", "3.5", "470", "12345" (at most 9 columns). */
const char *watch_rate_str(char *buf, size_t len, double v);
/* The reclaimable column: "-" (reuse does not apply), "12", "<=1,200". */
const char *watch_recl_str(char *buf, size_t len, const struct tw_pressure *p, bool exact);
/* The bound differs enough from the forecast to mark it. */
bool watch_bound_differs(const struct tw_forecast *f);
/*
 * A sparkline of hist[60] in `cells` cells (a divisor of 60: each cell the
 * mean of 60/cells seconds), scaled to max; unicode block characters or
 * ASCII " .:-=+*#"; cells with no data are spaces.
 */
void watch_spark(char *buf, size_t len, const float *hist, unsigned cells, bool utf8);

/* ---- views ---------------------------------------------------------------------------- */

/* What a line is, so that the curses view can give it attributes. */
enum watch_line {
    WL_TITLE,      /* the first line */
    WL_INFO,       /* header lines */
    WL_WARN,       /* header line that needs attention */
    WL_THEAD,      /* the table's column names */
    WL_ROW,        /* a destination (row = its index in the rows) */
    WL_ROW_CONT,   /* the numbers of a destination wrapped onto a second line */
    WL_EXPAND,     /* detail under an expanded destination */
    WL_NOTE,       /* footnotes */
};

/* level: 0 normal, 1 warning (pressure > 50% or exhaustion within a minute),
 * 2 critical (> 90%, within 10 s, or now). */
typedef void (*watch_emit)(void *ctx, enum watch_line kind, size_t row, int level,
                           const char *text);

struct watch_layout {
    int width;
    int destw;             /* destination column; longer ones wrap */
    int w_used, w_tw, w_recl, w_press, w_rate, w_tte;
    unsigned spark;        /* sparkline cells (a divisor of 60) */
    bool utf8;
};

#define WATCH_MIN_COLS 80
#define WATCH_MIN_LINES 24
#define WATCH_HEADER_LINES 8

/* The header: title, TIME_WAIT, ports and sysctls, the counter rates. */
void watch_view_header(const struct watch *w, const struct watch_ns *ns, int width,
                       watch_emit emit, void *ctx);
/* Column widths for rows[first, first + count) at this width. */
void watch_view_layout(struct watch_layout *lay, const struct watch_ns *ns,
                       const struct watch_rows *rows, size_t first, size_t count, int width,
                       bool utf8);
void watch_view_thead(const struct watch_layout *lay, watch_emit emit, void *ctx);
/* One destination (engine index di, row index row): one line, or its name
 * on lines of its own (wrapped after its '>' when wider than the screen)
 * and the numbers below.  Returns the lines written. */
int watch_view_row(const struct watch_layout *lay, const struct watch_ns *ns, size_t di,
                   size_t row, watch_emit emit, void *ctx);
/* Its detail: expiry, ports by state, rates, forecast and bound, local addresses. */
void watch_view_expand(const struct watch_layout *lay, const struct watch_ns *ns, size_t di,
                       watch_emit emit, void *ctx);
/* Footnotes for what the rows show (bounds, the sparkline's scale). */
void watch_view_notes(const struct watch_layout *lay, const struct watch_ns *ns, watch_emit emit,
                      void *ctx);
/* Lines watch_view_row writes for di at this width (1 or more). */
int watch_view_row_lines(const struct watch_layout *lay, const struct watch_ns *ns, size_t di);
/* Lines watch_view_expand writes for di at this width. */
int watch_view_expand_lines(const struct watch_layout *lay, const struct watch_ns *ns, size_t di);

/* ---- curses (tui.c; the live table's view uses them too) --------------------------- */

/* Colour pairs as watch_curses_open sets them up. */
enum { WATCH_C_TITLE = 1, WATCH_C_WARN, WATCH_C_CRIT, WATCH_C_OK, WATCH_C_DIM };
struct screen; /* curses' SCREEN */
/* Start curses on the terminal (stdin, stdout) in the views' modes, with
 * colour when --color allows and the terminal has it (*color).  NULL, with
 * the message printed, when the terminal cannot be driven or is smaller
 * than WATCH_MIN_COLS x WATCH_MIN_LINES. */
struct screen *watch_curses_open(bool *color);
/* A box of n lines of help in the middle of the screen, 62 columns. */
void watch_help_box(const char *const *text, int n);

/* ---- signals (watch.c) ------------------------------------------------------------ */

/* Set by SIGINT and SIGTERM: the loop ends after the current tick. */
extern volatile sig_atomic_t watch_sig_stop;
/* Set by SIGUSR1 (with WATCH_SIG_USR1): reconcile at the next sample (live.c). */
extern volatile sig_atomic_t watch_sig_reconcile;
enum {
    WATCH_SIG_USR1 = 1,   /* also take SIGUSR1 */
    WATCH_SIG_NOPIPE = 2, /* ignore SIGPIPE (a closed pipe is an EPIPE write) */
};
/* Install the handler for SIGINT and SIGTERM, and what flags ask for. */
void watch_signals(unsigned flags);

int watch_batch(struct watch *w);

/* ---- --source live (live.c, live_tui.c) ------------------------------------------- */

/* The namespace entered and the table (or why there is none). */
struct watch_live {
    const struct watch_args *a;
    char label[4224];         /* raw: escape to print */
    struct tw_live *lt;       /* NULL: every sample walks (open_why says why) */
    char open_why[512];
    uint64_t recon_ns, last_recon;
    bool quiet;               /* no warnings on stderr (the curses view shows them) */
    bool walking;             /* the last sample was a walk (a change of source is said once) */
};

/* One sample: the table's rows (or a walk's), filtered, sorted by
 * destination then state; drift when a reconciliation ran. */
struct watch_live_sample {
    struct tw_live_row *rows, *drift;
    size_t n, n_drift;
    bool live, reconciled;    /* live: from the table, not a walk */
    double read_s;
    uint64_t t_ns;            /* monotonic, when the read started */
    char why[512];            /* the fallback's reason, or the failed reconciliation's */
};

/* Enter --netns, open the table: 0 or an exit status (message printed). */
int watch_live_open(struct watch_live *L, const struct watch_args *a, bool quiet);
/* Read (or walk), filter, reconcile when due or asked (watch_sig_reconcile).
 * 0, or the walk's negative errno (free the sample either way). */
int watch_live_sample(struct watch_live *L, struct watch_live_sample *s);
void watch_live_sample_free(struct watch_live_sample *s);
void watch_live_close(struct watch_live *L);
/* --batch --source live (live.c) */
int watch_live(struct watch *w);

/* ---- the live view's rows (live_dests.c) --------------------------------------------- */

/* Count columns, then all columns of a row. */
enum { LC_TW, LC_EST, LC_FW2, LC_CW, LC_OTHER, LC_TOTAL, LC_MAX };
enum { COL_SRC, COL_DST, COL_NUM, COL_NET = COL_NUM + LC_MAX, COL_MAX };
/* The column names; [1] the short ones, for when only they fit a row on a line. */
extern const char *const live_col_name[2][COL_MAX];
enum lsort { LS_TW, LS_TOTAL, LS_ADDR, LS_MAX };
extern const char *const live_sort_name[LS_MAX];

/* One destination of a sample. */
struct ldest {
    struct tw_addr l, r;
    uint16_t rport;
    uint8_t kind;        /* 0 client side, 1 server side (per client address), 2 listening */
    int64_t c[LC_MAX];
    bool have_net;
    double net;          /* TIME_WAIT per second, net, since the previous sample */
};

/* The destinations of the last sample, and what the next one is compared with. */
struct live_dests {
    struct ldest *d, *prev;   /* d: in view order; prev: the same, in key order */
    size_t nd, nprev;
    int64_t tot[LC_MAX];      /* totals by column */
    uint64_t samples, prev_t_ns;
    size_t vw[COL_MAX];       /* the widest value of each column */
};

/* Group s's rows by destination, the net change of TIME_WAIT since the
 * previous sample, the totals and widths; sorted by sort.  0, or -1 when out
 * of memory (the previous rows stay). */
int live_dests_take(struct live_dests *D, const struct watch_live_sample *s, enum lsort sort);
void live_dests_sort(struct live_dests *D, enum lsort sort);
/* The cells of d, or the column names (live_col_name[names]) when d is NULL. */
void live_dests_cells(const struct ldest *d, int names, char c[COL_MAX][64]);
void live_dests_free(struct live_dests *D);

/* --source live on a terminal (live_tui.c) */
int watch_live_tui(struct watch *w);
int watch_tui(struct watch *w);
void watch_json_tick(FILE *f, struct watch *w, uint64_t tick);

#endif
