/*
 * cmd_stat.c — `twkit stat`: the fastest correct picture of a host's TCP
 * sockets and its TIME_WAIT pressure.
 *
 * Parses options into a libtwkit query, picks the source (netlink, /proc
 * or a recorded fixture), enters each requested network namespace in turn
 * (--netns NAME|PID|all), builds one report per namespace with
 * tw_report_collect, and hands the reports to a renderer (table, JSON or
 * Prometheus).  Exit status: 0 ok, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "stat.h"
#include "tool.h"

struct stat_args {
    struct tool_common c;
    bool prom;
    uint64_t top;
    const char *record;
};

static const struct twx_opt stat_opts[] = {
    TOOL_OPT_JSON(struct stat_args, "JSON output (schema: docs/stat-json.md)",
                  "JSON output; schema *twkit.stat.v1*, documented in docs/stat-json.md."),
    {.lng = "prom", .type = TWX_FLAG, .off = offsetof(struct stat_args, prom),
     .help = "Prometheus text format (node_exporter's textfile collector)",
     .doc = "Prometheus text exposition format, for node_exporter's textfile collector: "
            "the metrics *twkit export* serves (one table defines both), less the exporter's "
            "own and the forecast, plus the top tables; every series is named *twkit_\\** "
            "and has a *netns* label. Metric reference: docs/metrics.md.",
     .excl = TOOL_X_OUTPUT},
    {.lng = "top", .shrt = 'n', .type = TWX_UINT, .off = offsetof(struct stat_args, top),
     .arg = "N", .help = "rows per table",
     .doc = "Rows per table. Destinations above 50% port pressure are always listed.",
     .dflt = "10", .example = "20", .min = 1, .max = 10000},
    TOOL_OPTS_FILTERS(struct stat_args),
    TOOL_OPT_SOURCE(struct stat_args),
    TOOL_OPT_NETNS(struct stat_args,
                   "Report the namespace _NS_: a name as *ip netns* knows it (a file in "
                   "/run/netns), the PID of a process inside it, a path to an nsfs file, "
                   "or *all*: every distinct namespace on the host (named ones, then those "
                   "of processes), each reported apart. Entering a namespace needs "
                   "CAP_SYS_ADMIN."),
    TOOL_OPT_FIXTURE(struct stat_args),
    {.lng = "record", .type = TWX_STR, .off = offsetof(struct stat_args, record),
     .arg = "DIR", .help = "save the dump and kernel files to DIR (for bug reports)",
     .doc = "Save what the report was built from — the raw netlink replies or the "
            "/proc files, and the kernel files — to _DIR_, for a bug report or a test "
            "fixture (*--fixture* _DIR_ replays it). _DIR_ must be new or empty (a "
            "replay must not mix two recordings); the recording appears there whole "
            "when it is complete, or not at all. Takes one namespace.",
     .example = "/tmp/twkit-record", .excl = TOOL_X_FIXTURE_RECORD},
    TOOL_OPT_COLOR(struct stat_args),
    TOOL_OPT_HELP,
};

static const struct twx_exit stat_exits[] = {
    TOOL_EXITS_COMMON,
};

static int run_stat(int argc, char **argv);

const struct twx_cmd stat_command = {
    .name = "stat",
    .synopsis = "[OPTIONS]",
    .summary = "TCP sockets and TIME_WAIT pressure of a host, now",
    .about = "The picture of a host's TCP sockets and its TIME_WAIT pressure, in one pass\n"
             "over the kernel's socket table: counts per state, where the TIME_WAIT\n"
             "sockets go (local port, remote address, destination, local address), when\n"
             "they expire, client- or server-side, the kernel memory they hold, and how\n"
             "close each destination is to running out of ephemeral ports.\n",
    .opts = stat_opts,
    .n_opts = sizeof(stat_opts) / sizeof(stat_opts[0]),
    .args_size = sizeof(struct stat_args),
    .examples = "  twkit stat                          this host\n"
                "  twkit stat --state time-wait --dport 443\n"
                "  twkit stat --dst 198.18.0.0/15 --top 20\n"
                "  twkit stat --netns all              every namespace (containers)\n"
                "  twkit stat --netns web1 --json | jq .namespaces[0].time_wait.total\n"
                "  twkit stat --prom > /var/lib/node_exporter/textfile/twkit.prom\n",
    .exits = stat_exits,
    .n_exits = sizeof(stat_exits) / sizeof(stat_exits[0]),
    .man = "twkit-stat",
    .run = run_stat,
};

static int parse_args(int argc, char **argv, struct stat_args *a)
{
    memset(a, 0, sizeof(*a));
    tool_common_init(&a->c);
    a->top = 10;
    struct twx_parsed p;
    int rc = twx_opt_parse(&stat_command, argc, argv, a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    tool_common_finish(&a->c);
    if (a->record && a->c.netns && !strcmp(a->c.netns, "all"))
        return twx_usage_err("stat", "--record takes one namespace, not --netns all");
    return TWX_OPT_CONTINUE;
}

static int collect_one(const struct stat_args *a, struct stat_ns *ns)
{
    struct tw_source *src = NULL;
    enum tw_source_kind kind = a->c.fixture ? TW_SOURCE_FIXTURE : tool_source_kind(a->c.source);
    int e = tw_source_open(kind, a->c.fixture, &src);
    if (e) {
        if (kind == TW_SOURCE_FIXTURE)
            twx_err("fixture %s: %s (expected sock_diag.bin or net/tcp in it)", a->c.fixture,
                    tw_strerror(e));
        else if (kind == TW_SOURCE_NETLINK)
            twx_err("cannot open a NETLINK_SOCK_DIAG socket: %s (try --source proc)", tw_strerror(e));
        else if (kind == TW_SOURCE_BPF)
            tool_bpf_err(e);
        else
            twx_err("cannot open the socket source: %s", tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    char *rec = NULL; /* the recording is made here, then renamed onto a->record */
    if (a->record) {
        if (stat_record_begin(a->record, &rec)) {
            tw_source_close(src);
            return TW_EXIT_RUNTIME;
        }
        if ((e = tw_source_record(src, rec)) || (e = tw_kernel_record(NULL, rec))) {
            twx_err("--record %s: %s", a->record, tw_strerror(e));
            tw_source_close(src);
            stat_record_end(a->record, rec, false);
            return TW_EXIT_RUNTIME;
        }
    }
    char err[512] = "";
    struct tw_report_opts ro = {.top_n = (unsigned)a->top, .query = a->c.query};
    e = tw_report_collect(src, &ro, a->c.fixture, &ns->r, err, sizeof(err));
    tw_source_close(src); /* closes the recorded dump */
    if (rec && stat_record_end(a->record, rec, e == 0) && !e) {
        tw_report_free(ns->r);
        ns->r = NULL;
        return TW_EXIT_RUNTIME;
    }
    if (e) {
        if (e == -EACCES || e == -EPERM)
            twx_err("%s: %s (reading it needs more privileges)", ns->label, err);
        else
            twx_err("%s: %s", ns->label, err[0] ? err : tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    /* the kernel's counters, for the page's counter families: a kernel (or a
     * fixture) without them gives no series, so a failure is no error */
    if (a->prom)
        ns->have_counters = tw_counters_read(&ns->counters, a->c.fixture) == 0;
    return 0;
}

static int render(const struct stat_args *a, struct stat_ns *list, size_t n)
{
    struct stat_view v = {.top = (unsigned)a->top, .color = tool_color};
    if (a->prom) {
        struct metrics_ns *mns = calloc(n ? n : 1, sizeof(*mns));
        if (!mns) {
            twx_err("%s", strerror(ENOMEM));
            return TW_EXIT_RUNTIME;
        }
        for (size_t i = 0; i < n; i++)
            mns[i] = (struct metrics_ns){
                .label = list[i].label,
                .r = list[i].r,
                .counters = list[i].have_counters ? &list[i].counters : NULL};
        /* stat's rule: every destination above 50 % and at least --top */
        struct metrics_page pg = {
            .view = METRIC_VIEW_STAT, .ns = mns, .n_ns = n, .top = v.top, .keep_high = true};
        metrics_render(stdout, METRIC_TEXT, &pg);
        free(mns);
        return 0;
    }
    if (a->c.json) {
        struct twx_json j;
        twx_json_init(&j, stdout, true);
        twx_json_obj_begin(&j, NULL);
        twx_json_str(&j, "schema", "twkit.stat.v1");
        twx_json_str(&j, "twkit_version", TW_VERSION);
        twx_json_i64(&j, "time", (int64_t)time(NULL));
        twx_json_arr_begin(&j, "namespaces");
        for (size_t i = 0; i < n; i++)
            stat_render_json(&j, &list[i], &v);
        twx_json_arr_end(&j);
        twx_json_obj_end(&j);
        twx_json_end(&j);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs("\n\n", stdout);
        stat_render_table(stdout, &list[i], &v);
    }
    return 0;
}

static int run_stat(int argc, char **argv)
{
    struct stat_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    tool_color_init(a.c.json || a.prom ? 2 : a.c.color, stdout);

    struct stat_ns *list = NULL;
    size_t n = 0, n_alloc = 0; /* reports kept, entries allocated */
    rc = TW_EXIT_OK;

    if (!a.c.netns || a.c.fixture) {
        list = calloc(1, sizeof(*list));
        if (!list)
            return TW_EXIT_RUNTIME;
        n_alloc = 1;
        char here[16];
        if (!a.c.fixture)
            tool_netns_label(here, sizeof(here), &list[0].inode);
        if (asprintf(&list[0].label, a.c.fixture ? "fixture %s" : "%s",
                     a.c.fixture ? a.c.fixture : here) < 0) {
            list[0].label = NULL;
            free(list);
            return TW_EXIT_RUNTIME;
        }
        n = 1;
        rc = collect_one(&a, &list[0]);
    } else {
        struct tw_netns orig;
        int e = tw_netns_current(&orig);
        if (e) {
            twx_err("cannot open the current network namespace: %s", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        struct tw_netns *targets = NULL;
        size_t nt = 0;
        bool all = !strcmp(a.c.netns, "all");
        if (all) {
            if ((e = tw_netns_list(&targets, &nt))) {
                tw_netns_release(&orig);
                twx_err("listing network namespaces: %s", tw_strerror(e));
                return TW_EXIT_RUNTIME;
            }
        } else {
            targets = calloc(1, sizeof(*targets));
            if (!targets || (e = tw_netns_open(a.c.netns, &targets[0]))) {
                free(targets);
                tw_netns_release(&orig);
                return e ? tool_netns_err(a.c.netns, e, false) : TW_EXIT_RUNTIME;
            }
            nt = 1;
        }
        list = calloc(nt ? nt : 1, sizeof(*list));
        n_alloc = list ? nt : 0;
        for (size_t i = 0; list && i < nt && !rc; i++) {
            struct stat_ns *ns = &list[n];
            /* a path is the user's own words, whole (the library keeps 95 bytes of it) */
            free(ns->label);
            if (!(ns->label = strdup(!all && a.c.netns[0] == '/' ? a.c.netns : targets[i].label))) {
                rc = TW_EXIT_RUNTIME;
                break;
            }
            ns->inode = targets[i].inode;
            if ((e = tw_netns_enter(&targets[i]))) {
                if (all && e != -EPERM) {
                    twx_warn("skipping namespace %s: %s", ns->label, tw_strerror(e));
                    continue;
                }
                rc = tool_netns_err(ns->label, e, true);
                break;
            }
            int r = collect_one(&a, ns);
            if ((e = tw_netns_enter(&orig))) {
                twx_err("cannot return to the original namespace: %s", tw_strerror(e));
                rc = TW_EXIT_RUNTIME;
            }
            if (r)
                rc = r;
            else
                n++;
        }
        if (!list)
            rc = TW_EXIT_RUNTIME;
        tw_netns_list_free(targets, nt);
        tw_netns_release(&orig);
    }
    if (!rc)
        rc = render(&a, list, n);
    for (size_t i = 0; i < n_alloc; i++) {
        tw_report_free(list[i].r);
        free(list[i].label);
    }
    free(list);
    if (!rc && fflush(stdout) != 0) {
        twx_err("writing output: %s", strerror(errno));
        rc = TW_EXIT_RUNTIME;
    }
    return rc;
}
