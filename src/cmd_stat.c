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

#include "opt.h"
#include "stat.h"
#include "tool.h"

enum {
    O_JSON = 256,
    O_PROM,
    O_TOP,
    O_STATE,
    O_SPORT,
    O_DPORT,
    O_SRC,
    O_DST,
    O_SOURCE,
    O_NETNS,
    O_FIXTURE,
    O_RECORD,
    O_COLOR,
};

static const struct opt_spec specs[] = {
    {"json", 'j', NULL, "JSON output (schema: docs/stat-json.md)"},
    {"prom", O_PROM, NULL, "Prometheus text format (for node_exporter's textfile collector)"},
    {"top", 'n', "N", "rows per table (default 10, 1-10000)"},
    {"state", 's', "STATE[,..]", "only these states (time-wait, established, ..., all)"},
    {"sport", O_SPORT, "PORT[-PORT]", "only local ports in this range"},
    {"dport", O_DPORT, "PORT[-PORT]", "only remote ports in this range"},
    {"src", O_SRC, "CIDR", "only local addresses in CIDR (repeat: any of them)"},
    {"dst", O_DST, "CIDR", "only remote addresses in CIDR (repeat: any of them)"},
    {"ipv4", '4', NULL, "IPv4 sockets only"},
    {"ipv6", '6', NULL, "IPv6 sockets only"},
    {"source", O_SOURCE, "KIND", "netlink, proc or auto (default: netlink, else proc)"},
    {"netns", 'N', "NS", "namespace: NAME (ip netns), PID, or 'all' (each apart)"},
    {"fixture", O_FIXTURE, "DIR", "read a recorded dump and kernel files from DIR"},
    {"record", O_RECORD, "DIR", "save the dump and kernel files to DIR (for bug reports)"},
    {"color", O_COLOR, "WHEN", "auto (default), always or never"},
    {"help", 'h', NULL, "this help"},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static void help(void)
{
    printf("Usage: twkit stat [OPTIONS]\n"
           "\n"
           "The picture of a host's TCP sockets and its TIME_WAIT pressure, in one pass\n"
           "over the kernel's socket table: counts per state, where the TIME_WAIT\n"
           "sockets go (local port, remote address, destination, local address), when\n"
           "they expire, client- or server-side, the kernel memory they hold, and how\n"
           "close each destination is to running out of ephemeral ports.\n"
           "\n"
           "Options:\n");
    opt_help(stdout, specs, NSPECS);
    printf("\n"
           "Examples:\n"
           "  twkit stat                          this host\n"
           "  twkit stat --state time-wait --dport 443\n"
           "  twkit stat --dst 198.18.0.0/15 --top 20\n"
           "  twkit stat --netns all              every namespace (containers)\n"
           "  twkit stat --netns web1 --json | jq .namespaces[0].time_wait.total\n"
           "  twkit stat --prom > /var/lib/node_exporter/textfile/twkit.prom\n"
           "\n"
           "Exit status: 0 ok; 1 runtime error (namespace, permission, kernel or\n"
           "fixture input); 2 usage error.  See twkit-stat(1).\n");
}

struct stat_args {
    struct tw_report_opts ro;
    enum { OUT_TABLE, OUT_JSON, OUT_PROM } out;
    enum tw_source_kind kind;
    const char *netns;
    const char *fixture;
    const char *record;
    const char *color;
    unsigned top;
};

static int parse_args(int argc, char **argv, struct stat_args *a)
{
    struct option longs[NSPECS + 1];
    char shorts[NSPECS * 3 + 2];
    opt_build(specs, NSPECS, longs, shorts);
    memset(a, 0, sizeof(*a));
    tw_query_init(&a->ro.query);
    a->top = 10;
    a->color = "auto";
    unsigned states = 0;
    bool only4 = false, only6 = false;
    optind = 1;
    opterr = 0;
    int ch;
    uint64_t u;
    while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (ch) {
        case 'j':
            a->out = OUT_JSON;
            break;
        case O_PROM:
            a->out = OUT_PROM;
            break;
        case 'n':
            if (tw_parse_u64(optarg, 1, 10000, &u))
                return tool_usage_err("stat", "--top: '%s' is not a number from 1 to 10000", optarg);
            a->top = (unsigned)u;
            break;
        case 's': {
            char *copy = strdup(optarg), *save = NULL;
            if (!copy)
                return TW_EXIT_RUNTIME;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned m;
                if (tw_state_parse(t, &m)) {
                    int r = tool_usage_err("stat",
                                           "--state: unknown state '%s' (try time-wait, "
                                           "established, syn-sent, fin-wait-2, listen, all)",
                                           t);
                    free(copy);
                    return r;
                }
                states |= m;
            }
            free(copy);
            break;
        }
        case O_SPORT:
            if (tw_parse_port_range(optarg, &a->ro.query.sport_lo, &a->ro.query.sport_hi))
                return tool_usage_err("stat", "--sport: '%s' is not a port or PORT-PORT range", optarg);
            break;
        case O_DPORT:
            if (tw_parse_port_range(optarg, &a->ro.query.dport_lo, &a->ro.query.dport_hi))
                return tool_usage_err("stat", "--dport: '%s' is not a port or PORT-PORT range", optarg);
            break;
        case O_SRC:
        case O_DST: {
            bool src = ch == O_SRC;
            unsigned *n = src ? &a->ro.query.n_src : &a->ro.query.n_dst;
            struct tw_cidr *list = src ? a->ro.query.src : a->ro.query.dst;
            if (*n >= TW_QUERY_MAX_CIDR)
                return tool_usage_err("stat", "--%s: at most %d prefixes", src ? "src" : "dst",
                                      TW_QUERY_MAX_CIDR);
            if (tw_parse_cidr(optarg, &list[*n]))
                return tool_usage_err("stat", "--%s: '%s' is not an address or CIDR prefix",
                                      src ? "src" : "dst", optarg);
            ++*n;
            break;
        }
        case '4':
            only4 = true;
            break;
        case '6':
            only6 = true;
            break;
        case O_SOURCE:
            if (!strcmp(optarg, "netlink"))
                a->kind = TW_SOURCE_NETLINK;
            else if (!strcmp(optarg, "proc"))
                a->kind = TW_SOURCE_PROC;
            else if (!strcmp(optarg, "auto"))
                a->kind = TW_SOURCE_AUTO;
            else
                return tool_usage_err("stat", "--source: '%s' is not netlink, proc or auto", optarg);
            break;
        case 'N':
            a->netns = optarg;
            break;
        case O_FIXTURE:
            a->fixture = optarg;
            break;
        case O_RECORD:
            a->record = optarg;
            break;
        case O_COLOR:
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never"))
                return tool_usage_err("stat", "--color: '%s' is not auto, always or never", optarg);
            a->color = optarg;
            break;
        case 'h':
            help();
            exit(TW_EXIT_OK);
        case '?':
        default:
            if (optopt && optopt < 256 && strchr(shorts, optopt))
                return tool_usage_err("stat", "option -%c needs a value", optopt);
            if (optopt)
                return tool_usage_err("stat", "unknown option -%c", optopt);
            if (argv[optind - 1] && !strncmp(argv[optind - 1], "--", 2) && strchr(argv[optind - 1], '='))
                return tool_usage_err("stat", "bad option '%s'", argv[optind - 1]);
            return tool_usage_err("stat", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tool_usage_err("stat", "unexpected argument '%s'", argv[optind]);
    if (only4 && only6)
        return tool_usage_err("stat", "-4 and -6 together: give neither for both families");
    if (only4)
        a->ro.query.want_v6 = false;
    if (only6)
        a->ro.query.want_v4 = false;
    if (states)
        a->ro.query.states = states;
    if (a->fixture && a->netns)
        return tool_usage_err("stat", "--fixture and --netns exclude each other");
    if (a->fixture && a->kind != TW_SOURCE_AUTO)
        return tool_usage_err("stat", "--fixture and --source exclude each other");
    if (a->record && a->netns && !strcmp(a->netns, "all"))
        return tool_usage_err("stat", "--record takes one namespace, not --netns all");
    if (a->record && a->fixture)
        return tool_usage_err("stat", "--record and --fixture exclude each other");
    a->ro.top_n = a->top;
    return 0;
}

static int collect_one(const struct stat_args *a, struct stat_ns *ns)
{
    struct tw_source *src = NULL;
    enum tw_source_kind kind = a->fixture ? TW_SOURCE_FIXTURE : a->kind;
    int e = tw_source_open(kind, a->fixture, &src);
    if (e) {
        if (kind == TW_SOURCE_FIXTURE)
            tool_err("fixture %s: %s (expected sock_diag.bin or net/tcp in it)", a->fixture,
                     tw_strerror(e));
        else if (kind == TW_SOURCE_NETLINK)
            tool_err("cannot open a NETLINK_SOCK_DIAG socket: %s (try --source proc)", tw_strerror(e));
        else
            tool_err("cannot open the socket source: %s", tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    if (a->record) {
        if ((e = tw_source_record(src, a->record)) || (e = tw_kernel_record(NULL, a->record))) {
            tool_err("--record %s: %s", a->record, tw_strerror(e));
            tw_source_close(src);
            return TW_EXIT_RUNTIME;
        }
    }
    char err[512] = "";
    e = tw_report_collect(src, &a->ro, a->fixture, &ns->r, err, sizeof(err));
    tw_source_close(src);
    if (e) {
        if (e == -EACCES || e == -EPERM)
            tool_err("%s: %s (reading it needs more privileges)", ns->label, err);
        else
            tool_err("%s: %s", ns->label, err[0] ? err : tw_strerror(e));
        return TW_EXIT_RUNTIME;
    }
    return 0;
}

static void render(const struct stat_args *a, struct stat_ns *list, size_t n)
{
    struct stat_view v = {.top = a->top, .color = tool_color};
    if (a->out == OUT_PROM) {
        stat_render_prom(stdout, list, n, &v);
        return;
    }
    if (a->out == OUT_JSON) {
        struct json j;
        json_init(&j, stdout, true);
        json_obj_begin(&j, NULL);
        json_str(&j, "schema", "twkit.stat.v1");
        json_str(&j, "twkit_version", TW_VERSION);
        json_i64(&j, "time", (int64_t)time(NULL));
        json_arr_begin(&j, "namespaces");
        for (size_t i = 0; i < n; i++)
            stat_render_json(&j, &list[i], &v);
        json_arr_end(&j);
        json_obj_end(&j);
        json_end(&j);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputs("\n\n", stdout);
        stat_render_table(stdout, &list[i], &v);
    }
}

int cmd_stat(int argc, char **argv)
{
    struct stat_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    tool_color_init(a.out == OUT_TABLE ? a.color : "never", stdout);

    struct stat_ns *list = NULL;
    size_t n = 0;
    rc = TW_EXIT_OK;

    if (!a.netns || a.fixture) {
        list = calloc(1, sizeof(*list));
        if (!list)
            return TW_EXIT_RUNTIME;
        if (a.fixture)
            snprintf(list[0].label, sizeof(list[0].label), "fixture %s", a.fixture);
        else
            tool_netns_label(list[0].label, sizeof(list[0].label), &list[0].inode);
        n = 1;
        rc = collect_one(&a, &list[0]);
    } else {
        struct tw_netns orig;
        int e = tw_netns_current(&orig);
        if (e) {
            tool_err("cannot open the current network namespace: %s", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        struct tw_netns *targets = NULL;
        size_t nt = 0;
        bool all = !strcmp(a.netns, "all");
        if (all) {
            if ((e = tw_netns_list(&targets, &nt))) {
                tw_netns_release(&orig);
                tool_err("listing network namespaces: %s", tw_strerror(e));
                return TW_EXIT_RUNTIME;
            }
        } else {
            targets = calloc(1, sizeof(*targets));
            if (!targets || (e = tw_netns_open(a.netns, &targets[0]))) {
                free(targets);
                tw_netns_release(&orig);
                return e ? tool_netns_err(a.netns, e, false) : TW_EXIT_RUNTIME;
            }
            nt = 1;
        }
        list = calloc(nt ? nt : 1, sizeof(*list));
        for (size_t i = 0; list && i < nt && !rc; i++) {
            struct stat_ns *ns = &list[n];
            snprintf(ns->label, sizeof(ns->label), "%s", targets[i].label);
            ns->inode = targets[i].inode;
            if ((e = tw_netns_enter(&targets[i]))) {
                if (all && e != -EPERM) {
                    tool_warn("skipping namespace %s: %s", targets[i].label, tw_strerror(e));
                    continue;
                }
                rc = tool_netns_err(targets[i].label, e, true);
                break;
            }
            int r = collect_one(&a, ns);
            if ((e = tw_netns_enter(&orig))) {
                tool_err("cannot return to the original namespace: %s", tw_strerror(e));
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
        render(&a, list, n);
    for (size_t i = 0; i < n; i++)
        tw_report_free(list[i].r);
    free(list);
    if (!rc && fflush(stdout) != 0) {
        tool_err("writing output: %s", strerror(errno));
        rc = TW_EXIT_RUNTIME;
    }
    return rc;
}
