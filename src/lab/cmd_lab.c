/*
 * cmd_lab.c — `twkit lab`: reproduce the "Cannot assign requested address"
 * incident in private namespaces and measure every mitigation on the same
 * load, side by side.
 *
 * This file is the command: its option table, the choice of scenarios,
 * the checks that every output can be written (before the first run, so a
 * long run never ends in "cannot write"), the user namespace it makes for
 * itself without root, the signals (SIGINT/SIGTERM/SIGHUP arrive on a
 * signalfd and end the current run through its normal teardown), the runs
 * (run.c) and the renderers.  With --from it renders saved results
 * instead of running.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lab/lab.h"
#include "tool.h"
#include "twx/topo.h"

struct lab_opts lab_opt;

struct lab_args {
    double duration, rate;
    uint64_t conc, threads, sources;
    struct range {
        int lo, hi;
    } range;
    bool json, list;
    const char *csv, *plot, *from;
};

/* Each option that --from excludes has a bit of its own, so that they do
 * not exclude each other. */
enum {
    X_D = TOOL_X_CMD, X_R = X_D << 1, X_C = X_D << 2, X_P = X_D << 3, X_S = X_D << 4,
    X_T = X_D << 5, X_J = X_D << 6,
};

static int opt_range(void *field, const char *v, char *err, size_t len)
{
    struct range *r = field;
    uint16_t a, b;
    if (tw_parse_port_range(v, &a, &b) < 0 || a < 1024 || b < a || b - a + 1 < 8) {
        snprintf(err, len, "'%s' is not LO-HI within 1024-65535 with at least 8 ports", v);
        return -1;
    }
    r->lo = a;
    r->hi = b;
    return 0;
}

static int opt_plot(void *field, const char *v, char *err, size_t len)
{
    const char *x = strrchr(v, '.');
    if (!x || x == v || (strcmp(x, ".png") && strcmp(x, ".svg"))) {
        snprintf(err, len, "'%s' is not FILE.png or FILE.svg", v);
        return -1;
    }
    *(const char **)field = v;
    return 0;
}

#define A struct lab_args
static const struct twx_opt lab_opts[] = {
    {.lng = "duration", .shrt = 'd', .type = TWX_NUM, .off = offsetof(A, duration), .arg = "S",
     .help = "seconds of load per run",
     .doc = "Seconds of load per run. The scenarios that stop at exhaustion end sooner.",
     .dflt = "10", .example = "2", .min = 0.1, .max = 3600,
     .excl = X_D},
    {.lng = "rate", .shrt = 'r', .type = TWX_NUM, .off = offsetof(A, rate), .arg = "R",
     .help = "offered requests per second, open loop (0: closed loop, full speed)",
     .doc = "Offered load in requests per second, open loop: the load generator releases "
            "_R_ requests per second whatever the server does. 0 runs a closed loop at "
            "full speed.",
     .dflt = "4000", .example = "500", .min = 0, .max = 10000000, .excl = X_R},
    {.lng = "concurrency", .shrt = 'C', .type = TWX_UINT, .off = offsetof(A, conc), .arg = "N",
     .help = "connections at once, at most",
     .doc = "Connections open at once, at most (the load generator's slots).", .dflt = "256", .example = "32", .min = 1,
     .max = 20000, .excl = X_C},
    {.lng = "port-range", .shrt = 'p', .type = TWX_FN, .off = offsetof(A, range),
     .arg = "LO-HI", .help = "ip_local_port_range of the client host",
     .doc = "*ip_local_port_range* of the client host, within 1024-65535 and at least 8 "
            "ports (default: the kernel's, 32768-60999). A small range (e.g. 40000-40199) "
            "makes exhaustion come in a fraction of a second.",
     .example = "40000-40199", .fn = opt_range, .excl = X_P},
    {.lng = "sources", .type = TWX_UINT, .off = offsetof(A, sources), .arg = "N",
     .help = "client addresses in more-sources",
     .doc = "Client addresses that *more-sources* spreads its connections over.", .dflt = "4", .example = "3", .min = 1,
     .max = 32, .excl = X_S},
    {.lng = "threads", .shrt = 't', .type = TWX_UINT, .off = offsetof(A, threads), .arg = "N",
     .help = "threads of the load generator and of the backend",
     .doc = "Threads of the load generator and of each backend.",
     .dflt = "the number of cores", .example = "2", .min = 1, .max = 64, .excl = X_T},
    {.lng = "json", .type = TWX_FLAG, .off = offsetof(A, json),
     .help = "results as JSON (docs/lab-json.md)",
     .doc = "Results as one JSON object (schema version 2, docs/lab-json.md); *--from* "
            "reads it back.",
     .excl = X_J},
    {.lng = "csv", .type = TWX_STR, .off = offsetof(A, csv), .arg = "DIR",
     .help = "time series, one DIR/RUN.csv per run",
     .doc = "Time series, one _DIR_/_RUN_.csv per run (made if missing; checked before the "
            "first run): seconds since the load began, attempts, connections, requests, "
            "failures by class, TIME_WAIT per host.",
     .example = "/tmp/twkit-lab-csv"},
    {.lng = "plot", .type = TWX_FN, .off = offsetof(A, plot), .arg = "FILE",
     .help = "TIME_WAIT and failures over time (.png or .svg; needs gnuplot)",
     .doc = "TIME_WAIT and failures over time as PNG or SVG (by the extension): one panel "
            "per host where TIME_WAIT lives and one for failures, each run in its own "
            "colour and dash, log scales. Needs gnuplot; that and the file's directory are "
            "checked before the first run.",
     .example = "/tmp/twkit-lab.svg", .fn = opt_plot},
    {.lng = "from", .type = TWX_STR, .off = offsetof(A, from), .arg = "FILE",
     .help = "show results saved with --json instead of running ('-': stdin)",
     .doc = "Show results saved with *--json* (_FILE_, or *-* for standard input) instead "
            "of running: the table, and with *--csv* and *--plot* their files. Takes no "
            "scenario.",
     .example = "tests/fixtures/lab/results.json",
     .excl = X_D | X_R | X_C | X_P | X_S | X_T | X_J},
    {.lng = "list", .type = TWX_FLAG, .off = offsetof(A, list),
     .help = "list the scenarios and their runs, and exit",
     .doc = "List the scenarios and their runs, and exit; takes no other option."},
    TOOL_OPT_HELP,
};
#undef A

static const struct twx_exit lab_exits[] = {
    {TW_EXIT_OK, "every run ended (skipped runs included)"},
    {TW_EXIT_RUNTIME, "a run failed; or no namespaces (the message names the privilege); "
                      "or an output could not be written"},
    {TW_EXIT_USAGE, "usage error: unknown option or scenario, bad or conflicting value"},
    {129, "SIGHUP, after removing every namespace and process (128 + signal)"},
    {130, "SIGINT, after the same cleanup"},
    {143, "SIGTERM, after the same cleanup"},
};

static int run_lab(int argc, char **argv);
static const struct twx_cmd *const lab_subs[] = {&lab_load_command, &lab_backend_command, NULL};

const struct twx_cmd lab_command = {
    .name = "lab",
    .synopsis = "[SCENARIO...] [OPTIONS]",
    .summary = "reproduce port exhaustion in namespaces and measure fixes",
    .about = "Reproduce \"Cannot assign requested address\" (EADDRNOTAVAIL) in private\n"
             "network namespaces and measure each fix on the same load, beside the rate\n"
             "that TIME_WAIT allows it.  Runs as root, or without root where unprivileged\n"
             "user namespaces are allowed.  Scenarios (default: all): short,\n"
             "server-close, tw-reuse, wide-range, more-sources, bind-no-port, keepalive,\n"
             "pool, rst, nginx (see --list).\n",
    .opts = lab_opts,
    .n_opts = sizeof(lab_opts) / sizeof(lab_opts[0]),
    .args_size = sizeof(struct lab_args),
    .positional = "SCENARIO",
    .examples = "  twkit lab                                 every scenario, defaults\n"
                "  twkit lab short tw-reuse -p 40000-40999   the incident and one fix\n"
                "  twkit lab nginx --json | jq '.runs[].hosts.proxy'\n"
                "  twkit lab -d 5 --csv out --plot out/tw.png\n"
                "  twkit lab --json > r.json; twkit lab --from r.json --plot r.svg\n"
                "  twkit lab backend --listen 127.0.0.1:8080\n"
                "  twkit lab load -c 127.0.0.1:8080 -C 64 -d 5\n",
    .exits = lab_exits,
    .n_exits = sizeof(lab_exits) / sizeof(lab_exits[0]),
    .man = "twkit-lab",
    .run = run_lab,
    .subs = lab_subs,
};

/* ---- the command -------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct lab_args *a, bool want[])
{
    memset(a, 0, sizeof(*a));
    a->duration = 10;
    a->rate = 4000;
    a->conc = 256;
    a->sources = 4;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = nc > 0 ? (uint64_t)nc : 1;
    struct twx_parsed p;
    int rc = twx_opt_parse(&lab_command, argc, argv, a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    uint64_t list_bit = 0;
    for (size_t i = 0; i < lab_command.n_opts; i++)
        if (!strcmp(lab_opts[i].lng, "list"))
            list_bit = (uint64_t)1 << i;
    if (a->list && ((p.given & ~list_bit) || p.npos))
        return twx_usage_err("lab", "--list takes no other option or scenario");
    if (a->from && p.npos)
        return twx_usage_err("lab", "--from shows saved results: it takes no scenario");
    int nwant = 0;
    for (int i = p.first_pos; i < p.first_pos + p.npos; i++) {
        size_t k = 0;
        for (; lab_scenario_names[k]; k++)
            if (!strcmp(argv[i], lab_scenario_names[k]))
                break;
        if (!lab_scenario_names[k] && strcmp(argv[i], "all")) {
            return twx_usage_err("lab", "unknown scenario '%s' (see 'twkit lab --list')",
                                 argv[i]);
        }
        for (size_t j = 0; lab_scenario_names[j]; j++)
            if (!lab_scenario_names[k] || j == k)
                want[j] = true;
        nwant++;
    }
    if (!nwant)
        for (size_t j = 0; lab_scenario_names[j]; j++)
            want[j] = true;
    return TWX_OPT_CONTINUE;
}

static bool wanted(const struct lab_scenario *s, const bool want[])
{
    for (size_t k = 0; lab_scenario_names[k]; k++)
        if (want[k] && !strcmp(s->scenario, lab_scenario_names[k]))
            return true;
    return false;
}

static int outputs(struct lab_run *res, size_t n, bool json)
{
    int rc = TW_EXIT_OK;
    if (json)
        lab_print_json(stdout, res, n);
    else
        lab_print_table(stdout, res, n);
    fflush(stdout);
    if (lab_opt.csv_dir && lab_write_csv(lab_opt.csv_dir, res, n) < 0)
        rc = TW_EXIT_RUNTIME;
    if (lab_opt.plot && lab_write_plot(lab_opt.plot, res, n) < 0)
        rc = TW_EXIT_RUNTIME;
    return rc;
}

static int run_lab(int argc, char **argv)
{
    struct lab_args a;
    bool want[16] = {false};
    int rc = parse_args(argc, argv, &a, want);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (a.list) {
        lab_list(stdout);
        return TW_EXIT_OK;
    }
    memset(&lab_opt, 0, sizeof(lab_opt));
    lab_opt.duration = a.duration;
    lab_opt.rate = a.rate;
    lab_opt.conc = (unsigned)a.conc;
    lab_opt.threads = (unsigned)a.threads;
    lab_opt.sources = (unsigned)a.sources;
    lab_opt.port_lo = a.range.lo;
    lab_opt.port_hi = a.range.hi;
    lab_opt.json = a.json;
    lab_opt.csv_dir = a.csv;
    lab_opt.plot = a.plot;
    lab_opt.from = a.from;
    /* Every output is checked before the first run. */
    if ((a.csv && lab_csv_check(a.csv) < 0) || (a.plot && lab_plot_check(a.plot) < 0))
        return TW_EXIT_RUNTIME;

    struct lab_run *res = NULL;
    size_t n = 0;
    if (a.from) {
        if (lab_results_load(a.from, &res, &n) < 0)
            return TW_EXIT_RUNTIME;
        rc = outputs(res, n, false);
        for (size_t i = 0; i < n; i++)
            lab_run_free(&res[i]);
        free(res);
        return rc;
    }

    char err[256];
    if (twx_topo_global_init(err, sizeof(err)) < 0) {
        twx_err("lab: %s", err);
        return TW_EXIT_RUNTIME;
    }
    lab_opt.real_root = geteuid() == 0;
    if (!lab_opt.real_root) {
        int e = twx_topo_enter_userns();
        if (e < 0) {
            twx_err("lab: needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), or unprivileged user "
                    "namespaces: %s", strerror(-e));
            return TW_EXIT_RUNTIME;
        }
    }
    lab_opt.nginx_bin = lab_find_nginx();
    lab_opt.progress = !a.json && isatty(2);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    lab_sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    res = calloc(lab_n_runs, sizeof(*res));
    if (!res)
        return TW_EXIT_RUNTIME;
    int total = 0;
    for (size_t i = 0; i < lab_n_runs; i++)
        total += wanted(&lab_runs[i], want);
    rc = TW_EXIT_OK;
    for (size_t i = 0; i < lab_n_runs && !lab_interrupted; i++) {
        if (!wanted(&lab_runs[i], want))
            continue;
        struct lab_run *r = &res[n++];
        lab_run(&lab_runs[i], r, (int)n, total);
        if (lab_interrupted)
            break;
        if (r->status == LAB_RUN_ERROR) {
            rc = TW_EXIT_RUNTIME;
            twx_err("lab: %s: %s", r->name, r->reason ? r->reason : "");
        } else if (r->status == LAB_RUN_SKIPPED && !a.json) {
            twx_warn("lab: %s skipped: %s", r->name, r->reason ? r->reason : "");
        }
    }
    if (lab_interrupted) {
        twx_err("lab: interrupted; every namespace and process was removed");
        rc = 128 + lab_interrupted;
    } else {
        int orc = outputs(res, n, a.json);
        if (orc != TW_EXIT_OK)
            rc = orc;
    }
    for (size_t i = 0; i < n; i++)
        lab_run_free(&res[i]);
    free(res);
    return rc;
}
