/*
 * watch.c — `twkit watch`: the live view of TIME_WAIT pressure, with rates
 * and a time to exhaustion per destination.
 *
 * `twkit stat` shows one moment; the incident it is for is a slope: TIME_WAIT
 * builds up towards one destination until connect() fails.  watch samples
 * the same report every --interval, feeds it to libtwkit's rate engine
 * (twkit/rate.h) and shows, worst first, how fast each destination takes new
 * ports and when it runs out.  The curses view (tui.c) is the default on a
 * terminal; --batch prints text or NDJSON (batch.c) for logs and scripts.
 * --source live has its own loops (live.c, live_tui.c): counts, no report.
 *
 * This file holds the option table (which also drives --help and the man
 * page's OPTIONS) and the checks that need no kernel: the interval, a
 * terminal for the curses view, --record with one namespace; and the signal
 * handling the three loops (batch.c, live.c, tui.c) share, so that SIGINT
 * and SIGTERM end each of them the same way.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "watch/watch.h"

enum { X_RECORD = TOOL_X_CMD };

static const struct twx_opt watch_opts[] = {
    {.lng = "interval", .shrt = 'i', .type = TWX_NUM, .off = offsetof(struct watch_args, interval),
     .arg = "SECONDS", .help = "time between samples",
     .doc = "Time between samples, in seconds (a fraction is fine). Rates and the "
            "1-second window of new TIME_WAIT follow it. A sample that takes longer "
            "delays the next one; it never overlaps it.",
     .dflt = "1", .example = "0.5", .min = 0.1, .max = 3600},
    {.lng = "count", .shrt = 'n', .type = TWX_UINT, .off = offsetof(struct watch_args, count),
     .arg = "N", .help = "stop after N samples",
     .doc = "Stop after _N_ samples (in the curses view too). Default: until *q*, "
            "Ctrl-C or SIGTERM.",
     .example = "10", .min = 1, .max = 1000000000},
    {.lng = "batch", .shrt = 'b', .type = TWX_FLAG, .off = offsetof(struct watch_args, batch),
     .help = "no curses: text (or --json) every sample",
     .doc = "No curses: write every sample to standard output, as the screen's text "
            "(80 columns, worst destinations first) or, with *--json*, as one JSON "
            "object per line. Needed when standard output is not a terminal."},
    TOOL_OPT_JSON(struct watch_args, "with --batch: one JSON object per sample (NDJSON)",
                  "With *--batch*: one JSON object per sample and line (NDJSON), schema "
                  "*twkit.watch.v1*, documented in docs/watch-json.md. Every destination is "
                  "included. With *--source live* the objects are the table's counts, schema "
                  "*twkit.watch.live.v1* (same document)."),
    {.lng = "rows", .type = TWX_UINT, .off = offsetof(struct watch_args, rows), .arg = "N",
     .help = "with --batch: destinations per sample in the text",
     .doc = "With *--batch* and no *--json*: the _N_ worst destinations per sample "
            "(the curses view shows as many as the screen holds).",
     .dflt = "20", .example = "50", .min = 1, .max = 1000000},
    TOOL_OPTS_FILTERS(struct watch_args),
    TOOL_OPT_SOURCE_LIVE(struct watch_args),
    TOOL_OPT_RECONCILE(struct watch_args, reconcile,
                       "It runs at the next sample; SIGUSR1 asks for one at the next sample, "
                       "*r* in the curses view at once."),
    TOOL_OPT_NETNS(struct watch_args,
                   "Watch the namespace _NS_: a name as *ip netns* knows it, the PID of a "
                   "process inside it, a path to an nsfs file, or *all*: every namespace that "
                   "exists when watch starts. The curses view samples the one it shows (*n* "
                   "and *N* switch; each keeps its own history); *--batch* samples all of "
                   "them every time. Entering a namespace needs CAP_SYS_ADMIN."),
    {.lng = "fixture", .type = TWX_STR, .off = offsetof(struct watch_args, c.fixture),
     .arg = "DIR", .help = "replay a recording (--record, or twkit stat --record)",
     .doc = "Replay a recording instead of the live kernel: _DIR_ as *--record* writes it "
            "(one *t*_MS_ directory per sample, replayed at the recorded times; with "
            "*--batch* at once), or one recording as *twkit stat --record* writes it "
            "(replayed every sample).",
     .example = "tests/fixtures/stat/recorded-nl",
     .excl = TOOL_X_FIXTURE_NETNS | TOOL_X_FIXTURE_SOURCE | X_RECORD},
    {.lng = "record", .type = TWX_STR, .off = offsetof(struct watch_args, record), .arg = "DIR",
     .help = "save every sample under DIR (replay with --fixture)",
     .doc = "Save what every sample was built from (the raw netlink replies or the /proc "
            "files, and the kernel files with the counters) to _DIR_/t_MS_, _MS_ the "
            "milliseconds since the first sample, for a bug report or a test fixture. "
            "Takes one namespace. _DIR_ must be new, empty, or an earlier *--record* "
            "(its samples are replaced); a directory holding other files is refused "
            "(exit status 1).",
     .example = "/tmp/twkit-watch", .excl = X_RECORD},
    TOOL_OPT_COLOR(struct watch_args),
    TOOL_OPT_HELP,
};

static const struct twx_exit watch_exits[] = {
    TOOL_EXITS_COMMON,
};

static int run_watch(int argc, char **argv);

const struct twx_cmd watch_command = {
    .name = "watch",
    .synopsis = "[OPTIONS]",
    .summary = "TIME_WAIT pressure live: rates and time to exhaustion",
    .about = "The live view of TIME_WAIT pressure: every --interval the same report as\n"
             "`twkit stat`, with the kernel's TIME_WAIT counters as rates over 1, 10 and\n"
             "60 s, each destination's new TIME_WAIT per second (read from the ages of\n"
             "its TIME_WAIT sockets, no eBPF), a 60 s sparkline, and when it will run out\n"
             "of ephemeral ports at that rate, worst first.\n"
             "\n"
             "Keys: q quit, p pause, s sort, o freeze order, / filter, Enter expand,\n"
             "Up/Down select, n/N next namespace, ? help, Ctrl-L redraw.\n"
             "With --source live the screen is the live table's counts per destination:\n"
             "t/n/a sort, r reconcile, Up/Down/PgUp/PgDn/Home/End scroll.\n",
    .opts = watch_opts,
    .n_opts = sizeof(watch_opts) / sizeof(watch_opts[0]),
    .args_size = sizeof(struct watch_args),
    .examples = "  twkit watch                         this host, every second\n"
                "  twkit watch --dport 443 -i 0.5      only connections to port 443\n"
                "  twkit watch --netns all             every namespace (n/N to switch)\n"
                "  twkit watch --batch -n 10           ten samples as text, for a log\n"
                "  twkit watch -b -j -n 5 | jq '.namespaces[0].destinations[0].exhaustion'\n"
                "  twkit watch --record /tmp/rec -b -n 30 && twkit watch --fixture /tmp/rec\n",
    .exits = watch_exits,
    .n_exits = sizeof(watch_exits) / sizeof(watch_exits[0]),
    .man = "twkit-watch",
    .run = run_watch,
};

static int parse_args(int argc, char **argv, struct watch_args *a)
{
    memset(a, 0, sizeof(*a));
    tool_common_init(&a->c);
    a->interval = 1;
    a->rows = 20;
    a->reconcile = 60;
    struct twx_parsed p;
    int rc = twx_opt_parse(&watch_command, argc, argv, a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    tool_common_finish(&a->c);
    if (a->c.json && !a->batch)
        return twx_usage_err("watch", "--json writes NDJSON for scripts: give --batch too");
    if (twx_opt_given(&watch_command, &p, "rows") && (!a->batch || a->c.json))
        return twx_usage_err("watch", "--rows is for the --batch text (the screen shows what fits)");
    if (a->record && a->c.netns && !strcmp(a->c.netns, "all"))
        return twx_usage_err("watch", "--record takes one namespace, not --netns all");
    bool live = a->c.source == TOOL_SOURCE_LIVE;
    if (twx_opt_given(&watch_command, &p, "reconcile") && !live)
        return twx_usage_err("watch", "--reconcile goes with --source live");
    if (live) {
        if (twx_opt_given(&watch_command, &p, "record"))
            return twx_usage_err("watch", "--record saves reports: --source live has counts only");
        if (twx_opt_given(&watch_command, &p, "sport"))
            return twx_usage_err("watch", "--source live counts per destination, without local "
                                          "ports: --sport does not apply");
        if (a->c.netns && !strcmp(a->c.netns, "all"))
            return twx_usage_err("watch", "--source live keeps one table: give one namespace, "
                                          "not --netns all");
    }
    if (!a->batch && !(isatty(STDOUT_FILENO) && isatty(STDIN_FILENO)))
        return twx_usage_err("watch", "the live view needs a terminal (standard input and "
                                      "output); use --batch, with --json for scripts");
    return TWX_OPT_CONTINUE;
}

/* ---- signals ------------------------------------------------------------------- */

volatile sig_atomic_t watch_sig_stop, watch_sig_reconcile;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        watch_sig_reconcile = 1;
    else
        watch_sig_stop = 1;
}

void watch_signals(unsigned flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (flags & WATCH_SIG_USR1)
        sigaction(SIGUSR1, &sa, NULL);
    if (flags & WATCH_SIG_NOPIPE)
        signal(SIGPIPE, SIG_IGN);
}

static int run_watch(int argc, char **argv)
{
    struct watch_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    tool_color_init(a.batch ? 2 : a.c.color, stdout);
    struct watch w;
    if (a.c.source == TOOL_SOURCE_LIVE) {
        memset(&w, 0, sizeof(w));
        w.a = &a;
        return a.batch ? watch_live(&w) : watch_live_tui(&w);
    }
    rc = watch_open(&w, &a);
    if (!rc)
        rc = a.batch ? watch_batch(&w) : watch_tui(&w);
    watch_close(&w);
    return rc;
}
