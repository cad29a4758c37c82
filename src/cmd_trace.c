/*
 * cmd_trace.c — `twkit trace`: which process closed first and so holds each
 * TIME_WAIT socket, per destination, and which connect() and bind() calls
 * fail with which errno, counted in the kernel with eBPF (issue 13).
 *
 * This file is the command: its option table, the checks that say exactly
 * why trace cannot run here (no BPF in this build, no privileges, the
 * address that exact counting needs is hidden), the choice of namespaces,
 * and the hand-over to src/trace/run.c.  Exit status: 0 ok, 1 runtime
 * error, 2 usage error, 3 unavailable here, 4 missing privileges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <twkit/twkit.h>

#include "tool.h"
#include "trace/run.h"

struct trace_args {
    struct tool_common c;
    double interval, duration;
    uint64_t top, pid;
    const char *comm;
    int method;
    bool prog_stats;
};

static const char *const method_choices[] = {"auto", "exact", "approximate", NULL};

static const struct twx_opt trace_opts[] = {
    {.lng = "interval", .shrt = 'i', .type = TWX_NUM, .off = offsetof(struct trace_args, interval),
     .arg = "S", .help = "seconds per view (and per JSON line)",
     .doc = "Seconds between views: the kernel's tables are drained and a view (or a JSON "
            "line) printed every _S_ seconds.",
     .dflt = "1", .example = "5", .min = 0.1, .max = 3600},
    {.lng = "duration", .shrt = 'd', .type = TWX_NUM, .off = offsetof(struct trace_args, duration),
     .arg = "S", .help = "stop after S seconds (0: at Ctrl-C or SIGTERM)",
     .doc = "Stop after _S_ seconds and print the totals; 0 runs until SIGINT or SIGTERM, "
            "which also print the totals.",
     .dflt = "0", .example = "30", .min = 0, .max = 31536000},
    {.lng = "top", .shrt = 'n', .type = TWX_UINT, .off = offsetof(struct trace_args, top),
     .arg = "N", .help = "rows per table in the human view",
     .doc = "Rows per table in the human view (JSON has every row).",
     .dflt = "10", .example = "20", .min = 1, .max = 100000},
    {.lng = "pid", .shrt = 'p', .type = TWX_UINT, .off = offsetof(struct trace_args, pid),
     .arg = "PID", .help = "only this process",
     .doc = "Only this process (its thread-group id, as the host sees it): its closes, its "
            "TIME_WAIT births (when it closed first) and its failed calls.",
     .example = "1", .min = 1, .max = 4194304},
    {.lng = "comm", .shrt = 'c', .type = TWX_STR, .off = offsetof(struct trace_args, comm),
     .arg = "NAME", .help = "only processes with this name (as in ps -o comm)",
     .doc = "Only processes named _NAME_: the kernel's process name (at most 15 characters, "
            "as *ps -o comm* shows it), compared exactly.",
     .example = "nginx"},
    {.lng = "dst", .type = TWX_FN, .off = offsetof(struct trace_args, c.query), .arg = "CIDR",
     .help = "only destinations in CIDR (repeat for alternatives)",
     .doc = "Only destinations whose address is in the prefix: the remote address of "
            "connections this host opened, the address given to connect() or bind(). "
            "Accepted connections (destination: their local port) never match. Repeat to "
            "give alternatives (up to 8); an IPv4 prefix also matches IPv4-mapped IPv6 "
            "addresses.",
     .example = "198.18.0.0/15", .fn = tool_opt_dst, .flags = TWX_REPEAT},
    {.lng = "dport", .type = TWX_FN, .off = offsetof(struct trace_args, c.query),
     .arg = "PORT[-PORT]", .help = "only destination ports in this range",
     .doc = "Only destinations whose port is in the range: the remote port of connections "
            "this host opened, the local (service) port of accepted ones, the port given to "
            "connect() or bind().",
     .example = "443", .fn = tool_opt_dport},
    TOOL_OPT_NETNS(struct trace_args,
                   "Trace the namespace _NS_ (a name in /run/netns, the PID of a process inside "
                   "it, a path to an nsfs file), or *all*: every namespace, each known one "
                   "cross-checked against its own TcpExtTW. Default: the namespace twkit runs "
                   "in. Entering another namespace needs CAP_SYS_ADMIN."),
    {.lng = "method", .type = TWX_CHOICE, .off = offsetof(struct trace_args, method),
     .arg = "HOW", .help = "how births are counted: auto, exact, approximate",
     .doc = "How TIME_WAIT births are counted. *exact*: at the arming of each minisock's "
            "timer (tp_btf/timer_start on tw_timer_handler), which needs that function's "
            "address in /proc/kallsyms (CAP_SYSLOG, or kernel.kptr_restrict=0 with "
            "kernel.perf_event_paranoid<=1). *approximate*: at the full socket's "
            "FIN_WAIT2|CLOSING -> CLOSE transition, minus sockets that saw a reset; "
            "tcp_max_tw_buckets overflows are then counted as births. *auto*: exact where "
            "possible.",
     .dflt = "auto", .example = "approximate", .choices = method_choices},
    {.lng = "prog-stats", .type = TWX_FLAG, .off = offsetof(struct trace_args, prog_stats),
     .help = "print each BPF program's run time per event at exit",
     .doc = "Turn on the kernel's BPF run-time statistics (BPF_ENABLE_STATS) for the run and "
            "print, with the totals, each program's events, run time and nanoseconds per "
            "event. The statistics themselves cost a little time per event."},
    TOOL_OPT_JSON(struct trace_args, "NDJSON, a line per interval (schema: docs/trace-json.md)",
                  "NDJSON on standard output: a *start* line once the programs are attached, "
                  "an *interval* line per interval and a *total* line at the end; schema "
                  "*twkit.trace.v1*, documented in docs/trace-json.md."),
    TOOL_OPT_COLOR(struct trace_args),
    TOOL_OPT_HELP,
};

static const struct twx_exit trace_exits[] = {
    TOOL_EXITS_COMMON,
    {TRACE_UNAVAILABLE, "trace cannot run here: twkit was built without its BPF programs, "
                        "the kernel has no BTF, or the kernel refused the programs"},
    {TRACE_NOPRIV, "missing privileges: root, or CAP_BPF and CAP_PERFMON (and CAP_SYSLOG "
                   "for --method exact)"},
};

static int run_trace(int argc, char **argv);

const struct twx_cmd trace_command = {
    .name = "trace",
    .synopsis = "[OPTIONS]",
    .summary = "who makes the TIME_WAIT sockets and which connects fail, with eBPF",
    .about = "Counts in the kernel, with eBPF, every TIME_WAIT minisock born (TIME_WAIT and\n"
             "FIN_WAIT2 substates) and gives it to the process that closed first, per\n"
             "destination, with each process's closes split into active, passive,\n"
             "simultaneous and reset; and every failed connect() and bind() by errno,\n"
             "per process and destination, including non-blocking connects that fail\n"
             "later (SO_ERROR).  Each view checks the birth count against the\n"
             "namespace's TcpExtTW counter.  Needs root (or CAP_BPF and CAP_PERFMON).\n",
    .opts = trace_opts,
    .n_opts = sizeof(trace_opts) / sizeof(trace_opts[0]),
    .args_size = sizeof(struct trace_args),
    .examples = "  twkit trace                          this namespace, a view per second\n"
                "  twkit trace -d 30 --dport 443        30 s, HTTPS destinations only\n"
                "  twkit trace --comm nginx -i 5        nginx only, a view every 5 s\n"
                "  twkit trace --netns all --json | jq -c '.failures[]'\n"
                "  twkit trace -d 10 --prog-stats       the kernel-side cost per event\n",
    .exits = trace_exits,
    .n_exits = sizeof(trace_exits) / sizeof(trace_exits[0]),
    .man = "twkit-trace",
    .run = run_trace,
};

static int parse_args(int argc, char **argv, struct trace_args *a)
{
    memset(a, 0, sizeof(*a));
    tool_common_init(&a->c);
    a->interval = 1;
    a->top = 10;
    struct twx_parsed p;
    int rc = twx_opt_parse(&trace_command, argc, argv, a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (a->comm && strlen(a->comm) >= TRACE_COMM_LEN)
        return twx_usage_err("trace", "--comm '%s': process names have at most %d characters "
                             "(the kernel's TASK_COMM_LEN)", a->comm, TRACE_COMM_LEN - 1);
    return TWX_OPT_CONTINUE;
}

/* The filters, in the kernel's form. */
static void make_cfg(const struct trace_args *a, struct trace_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->tgid = (uint32_t)a->pid;
    if (a->comm)
        snprintf(cfg->comm, sizeof(cfg->comm), "%s", a->comm);
    cfg->dport_lo = a->c.query.dport_lo;
    cfg->dport_hi = a->c.query.dport_hi ? a->c.query.dport_hi : 65535;
    for (unsigned i = 0; i < a->c.query.n_dst && i < TRACE_MAX_CIDR; i++) {
        const struct tw_cidr *c = &a->c.query.dst[i];
        struct trace_cidr *t = &cfg->cidr[cfg->ncidr++];
        if (c->addr.family == AF_INET) {
            t->a[10] = t->a[11] = 0xff;
            memcpy(&t->a[12], c->addr.u.b, 4);
            t->bits = 96u + c->prefix;
        } else {
            memcpy(t->a, c->addr.u.b, 16);
            t->bits = c->prefix;
        }
    }
    cfg->prog_stats = a->prog_stats;
}

/* The namespaces to watch: the current one, --netns NS, or every one. */
static int choose_netns(const struct trace_args *a, struct trace_run *r)
{
    int e = tw_netns_current(&r->home);
    if (e) {
        twx_err("cannot open the current network namespace: %s", tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    if (a->c.netns && !strcmp(a->c.netns, "all")) {
        struct tw_netns *list = NULL;
        size_t n = 0;
        if ((e = tw_netns_list(&list, &n))) {
            twx_err("listing network namespaces: %s", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        r->watch = calloc(n ? n : 1, sizeof(*r->watch));
        for (size_t i = 0; r->watch && i < n; i++) {
            r->watch[i].ns = list[i];
            r->watch[i].inode = (uint32_t)list[i].inode;
            r->watch[i].enter = true;
        }
        free(list);   /* the fds now belong to r->watch */
        if (!r->watch)
            return TW_EXIT_RUNTIME;
        r->nwatch = n;
        r->cfg.netns = 0;
        snprintf(r->scope, sizeof(r->scope), "every namespace");
    } else {
        r->watch = calloc(1, sizeof(*r->watch));
        if (!r->watch)
            return TW_EXIT_RUNTIME;
        r->nwatch = 1;
        struct trace_watch *w = &r->watch[0];
        if (a->c.netns) {
            if ((e = tw_netns_open(a->c.netns, &w->ns)))
                return tool_netns_err(a->c.netns, e, false);
            if ((e = tw_netns_enter(&w->ns)))   /* and stay: its counters are read here */
                return tool_netns_err(w->ns.label, e, true);
            tw_netns_release(&r->home);
            if ((e = tw_netns_current(&r->home)))
                return tool_netns_err(a->c.netns, e, true);
        } else {
            if ((e = tw_netns_current(&w->ns))) {
                twx_err("cannot open the current network namespace: %s", tw_strerror(e));
                return TW_EXIT_RUNTIME;
            }
            uint64_t ino;
            tool_netns_label(w->ns.label, sizeof(w->ns.label), &ino);
        }
        w->inode = (uint32_t)w->ns.inode;
        r->cfg.netns = w->inode;
        snprintf(r->scope, sizeof(r->scope), "namespace %s (%u)", w->ns.label, w->inode);
    }
    r->checks = calloc(r->nwatch ? r->nwatch : 1, sizeof(*r->checks));
    return r->checks ? 0 : TW_EXIT_RUNTIME;
}

static int run_trace(int argc, char **argv)
{
    struct trace_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TWX_OPT_CONTINUE)
        return rc;

    const char *why;
    if (!trace_probe_built(&why)) {
        twx_err("trace is unavailable: this twkit was built without its BPF programs (%s); "
                "rebuild where clang, bpftool, libbpf-dev and the kernel's BTF are present "
                "(scripts/install-deps)", why);
        return TRACE_UNAVAILABLE;
    }
    char miss[512];
    bool exact_ok;
    trace_priv_missing(miss, sizeof(miss), &exact_ok);
    if (miss[0]) {
        twx_err("%s", miss);
        return TRACE_NOPRIV;
    }

    struct trace_run r = {.interval = a.interval, .duration = a.duration, .top = (unsigned)a.top,
                          .json = a.c.json};
    make_cfg(&a, &r.cfg);
    if (a.method == TRACE_EXACT && !exact_ok) {
        twx_err("--method exact: the address of tw_timer_handler is hidden in /proc/kallsyms "
                "from this process: it needs CAP_SYSLOG (or kernel.kptr_restrict=0 and "
                "kernel.perf_event_paranoid<=1); --method approximate works without it");
        return TRACE_NOPRIV;
    }
    r.exact = a.method == TRACE_EXACT || (a.method == TRACE_AUTO && exact_ok);
    r.cfg.method = r.exact ? TRACE_EXACT : TRACE_APPROX;
    r.method_why = a.method == TRACE_APPROX ? "--method approximate"
                   : r.exact ? "tw_timer_handler's address is visible: births counted at "
                               "their timers"
                             : "tw_timer_handler's address is hidden in /proc/kallsyms (needs "
                               "CAP_SYSLOG): births counted at the CLOSE transition";
    if (!r.exact && a.method == TRACE_AUTO)
        twx_warn("births are approximate: the address of tw_timer_handler is hidden from "
                 "this process (exact counting needs CAP_SYSLOG)");

    r.home.fd = -1;
    if ((rc = choose_netns(&a, &r)))
        goto out;
    r.cg = trace_cgroups_new(NULL);
    tool_color_init(a.c.json ? 2 : a.c.color, stdout);
    r.color = tool_color;
    r.tty = !a.c.json && isatty(STDOUT_FILENO);

    char err[600];
    rc = trace_probe_open(&r.cfg, &r.probe, err, sizeof(err));
    if (rc) {
        twx_err("%s", err);
        goto out;
    }
    rc = trace_run_loop(&r);
    if (!rc && fflush(stdout) != 0) {
        twx_err("writing output: %s", strerror(errno));
        rc = TW_EXIT_RUNTIME;
    }
out:
    trace_probe_close(r.probe);
    for (size_t i = 0; i < r.nwatch; i++)
        tw_netns_release(&r.watch[i].ns);
    free(r.watch);
    free(r.checks);
    if (r.home.fd >= 0)
        tw_netns_release(&r.home);
    trace_cgroups_free(r.cg);
    return rc;
}
