/*
 * cmd_export.c — `twkit export`: a Prometheus exporter of TIME_WAIT and
 * ephemeral-port pressure per destination, for one host or a fleet.
 *
 * Two modes.  Serving (the default): an HTTP server (server.c) answers
 * scrapes while the main thread collects (collect.c) whenever a scrape
 * needs a fresh page — one dump per scrape at most, shared by concurrent
 * scrapes, reused within --min-interval.  Textfile (--textfile DIR):
 * no server; DIR/twkit.prom is rewritten atomically every --interval for
 * node_exporter's textfile collector, or once with --interval 0.
 *
 * Signals: SIGINT and SIGTERM end either mode cleanly (status 0).  They
 * are blocked in every thread and read from a signalfd by the main thread,
 * so no handler runs inside a collection.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "tool.h"
#include "twx/file.h"

#define EXPORT_DEFAULT_LISTEN "127.0.0.1:10120"

enum { EXIT_WEBCONFIG = 3 };

/* Exclusions: --textfile excludes every option of the server. */
enum {
    X_LISTEN = TOOL_X_CMD << 0,
    X_WEB = TOOL_X_CMD << 1,
    X_MAXC = TOOL_X_CMD << 2,
    X_PERIP = TOOL_X_CMD << 3,
    X_IDLE = TOOL_X_CMD << 4,
    X_MIN = TOOL_X_CMD << 5,
    X_SERVER = X_LISTEN | X_WEB | X_MAXC | X_PERIP | X_IDLE | X_MIN,
};

struct export_args {
    struct tool_common c;
    const char *listen;
    uint64_t top;
    double min_interval;
    const char *web_config;
    uint64_t max_conn, max_per_ip;
    double idle_timeout;
    const char *textfile;
    double interval;
    double reconcile;
    bool list_metrics;
    bool trace;
};

#define A(f) offsetof(struct export_args, f)

static const struct twx_opt export_opts[] = {
    {.lng = "listen", .shrt = 'l', .type = TWX_STR, .off = A(listen), .arg = "ADDR:PORT",
     .help = "address to serve on",
     .doc = "Serve on _ADDR:PORT_: an IPv4 address, *localhost*, an IPv6 address in brackets "
            "(*[::1]:10120*), or no address (*:10120*) for every address of the host, IPv4 "
            "and IPv6. Port 0 takes a free port (printed at start). The default serves this "
            "host only; 10120 is past Prometheus' default port allocations for exporters, "
            "whose 9100-9999 range is full.",
     .dflt = EXPORT_DEFAULT_LISTEN, .example = "[::1]:10120", .excl = X_LISTEN},
    {.lng = "top", .shrt = 'n', .type = TWX_UINT, .off = A(top), .arg = "K",
     .help = "destinations with their own series, per namespace",
     .doc = "The _K_ destinations with the highest port pressure in each namespace get their "
            "own series; the others fold into one series with *dst=\"other\"* (sums of their "
            "counts and rates, the highest pressure and the soonest exhaustion among them), "
            "and *twkit_destinations_folded* says how many were folded. A destination that "
            "leaves the top K has no series on the next scrape. With *--source live*, the K "
            "destinations with the most sockets (all states) keep their own "
            "*twkit_live_sockets* series and the others fold into *dst=\"other\"*, per state.",
     .dflt = "20", .example = "50", .min = 1, .max = 1000},
    {.lng = "min-interval", .type = TWX_NUM, .off = A(min_interval), .arg = "S",
     .help = "serve a page younger than S seconds again",
     .doc = "A scrape that comes less than _S_ seconds after the last collection ended gets "
            "that page again instead of a new dump; 0 dumps for every scrape. Scrapes that "
            "arrive while a collection runs always share it.",
     .dflt = "1", .example = "0.5", .min = 0, .max = 3600, .excl = X_MIN},
    {.lng = "web-config", .type = TWX_STR, .off = A(web_config), .arg = "FILE",
     .help = "TLS and basic auth (exporter-toolkit web-config.yml)",
     .doc = "Read TLS and basic auth settings from _FILE_, in the format of Prometheus' "
            "exporter-toolkit (*tls_server_config* with *cert_file*, *key_file*, "
            "*min_version*, *max_version*; *basic_auth_users* with bcrypt hashes; "
            "*http_server_config.headers*). Settings twkit cannot honour, such as client "
            "certificates, are refused. See *WEB CONFIG*.",
     .example = "/etc/twkit/web-config.yml", .excl = X_WEB},
    {.lng = "max-connections", .type = TWX_UINT, .off = A(max_conn), .arg = "N",
     .help = "connections at once, in all",
     .doc = "Serve at most _N_ connections at once; more are refused.", .dflt = "2048",
     .example = "512", .min = 16, .max = 65536, .excl = X_MAXC},
    {.lng = "max-connections-per-ip", .type = TWX_UINT, .off = A(max_per_ip), .arg = "N",
     .help = "connections at once from one address",
     .doc = "Serve at most _N_ connections at once from one client address.", .dflt = "256",
     .example = "32", .min = 1, .max = 65536, .excl = X_PERIP},
    {.lng = "idle-timeout", .type = TWX_NUM, .off = A(idle_timeout), .arg = "S",
     .help = "seconds a connection has to send a whole request",
     .doc = "Close a connection that has not sent a whole request header within _S_ seconds "
            "of opening (TLS handshake included) or of its last response, however slowly it "
            "sends (slow-loris), and one that stops reading a response for _S_ seconds.",
     .dflt = "10", .example = "30", .min = 1, .max = 3600, .excl = X_IDLE},
    {.lng = "textfile", .type = TWX_STR, .off = A(textfile), .arg = "DIR",
     .help = "write DIR/twkit.prom for node_exporter instead of serving",
     .doc = "Serve nothing: write the page (text format) to _DIR_/twkit.prom, atomically "
            "(a temporary file and a rename), every *--interval* seconds, for "
            "node_exporter's textfile collector.",
     .example = "/var/lib/prometheus/node-exporter", .excl = X_SERVER},
    {.lng = "interval", .shrt = 'i', .type = TWX_NUM, .off = A(interval), .arg = "S",
     .help = "with --textfile: seconds between writes, 0 once",
     .doc = "With *--textfile*: seconds between two writes; 0 writes once and exits.",
     .dflt = "15", .example = "0", .min = 0, .max = 86400},
    {.lng = "trace", .type = TWX_FLAG, .off = A(trace),
     .help = "also count TIME_WAIT made and failed connect() per process (eBPF)",
     .doc = "Attach the eBPF programs of *twkit trace* for the exporter's life and add "
            "*twkit_timewait_created_total* (TIME_WAIT sockets made, by the name of the "
            "process that closed first) and *twkit_connect_errors_total* (failed connect() "
            "calls by process name and errno) to every page, counted since the exporter "
            "started. The first *--top* process names of each namespace get their own series, "
            "the rest fold into *comm=\"other\"*. Needs root, or CAP_BPF and CAP_PERFMON "
            "(and CAP_SYSLOG for exact TIME_WAIT counts); not with *--fixture*. See *TRACE*.",
    },
    TOOL_OPT_NETNS(struct export_args,
                   "Export the namespace _NS_ (a name as *ip netns* knows it, the PID of a "
                   "process inside it, a path to an nsfs file), or *all*: every distinct "
                   "namespace on the host, looked for again at each collection, each with its "
                   "own *netns* label. Entering a namespace needs CAP_SYS_ADMIN; finding those "
                   "of other users' processes needs CAP_SYS_PTRACE."),
    TOOL_OPT_SOURCE_LIVE(struct export_args),
    TOOL_OPT_RECONCILE(struct export_args, reconcile,
                       "It runs at the first collection after the interval has passed; its "
                       "result is in *twkit_live_drift_rows* and *twkit_live_drift_sockets*."),
    TOOL_OPT_FIXTURE(struct export_args),
    {.lng = "list-metrics", .type = TWX_FLAG, .off = A(list_metrics),
     .help = "print the metric reference and exit",
     .doc = "Print every metric family the exporter may serve, one per line: name (as on "
            "the text-format page), type, labels and help, then exit."},
    TOOL_OPT_HELP,
};

static const struct twx_exit export_exits[] = {
    TOOL_EXITS_COMMON,
    {EXIT_WEBCONFIG, "the --web-config file is not valid (the message names the line)"},
    {EXP_EXIT_TRACE_NOPRIV, "--trace: this process may not load eBPF programs (the message "
                            "names the capabilities it lacks)"},
    {EXP_EXIT_TRACE_UNAVAILABLE, "--trace: unavailable (twkit built without its BPF programs, "
                                 "no kernel BTF, or the kernel refused the programs)"},
};

static int run_export(int argc, char **argv);

const struct twx_cmd export_command = {
    .name = "export",
    .synopsis = "[OPTIONS]",
    .summary = "Prometheus exporter of TIME_WAIT and port pressure per destination",
    .about = "Serve TIME_WAIT and ephemeral-port pressure per destination to Prometheus:\n"
             "states, TIME_WAIT by side, per destination the ports in use, reclaimable,\n"
             "pressure, new TIME_WAIT per second and the forecast time to exhaustion, the\n"
             "kernel's TIME_WAIT counters and sysctls.  One dump per scrape at most,\n"
             "shared by concurrent scrapes.  Metric reference: docs/metrics.md.\n",
    .opts = export_opts,
    .n_opts = sizeof(export_opts) / sizeof(export_opts[0]),
    .args_size = sizeof(struct export_args),
    .examples = "  twkit export                        serve http://127.0.0.1:10120/metrics\n"
                "  twkit export --trace                and who makes TIME_WAIT, whose connect() fails\n"
                "  twkit export -l :10120 --netns all  every namespace, on every address\n"
                "  twkit export --web-config /etc/twkit/web-config.yml   TLS and passwords\n"
                "  twkit export --textfile /var/lib/prometheus/node-exporter\n"
                "  twkit export --textfile /tmp --interval 0   write once, then exit\n"
                "  curl -s localhost:10120/metrics | grep exhaustion\n",
    .exits = export_exits,
    .n_exits = sizeof(export_exits) / sizeof(export_exits[0]),
    .man = "twkit-export",
    .run = run_export,
};

static int parse_args(int argc, char **argv, struct export_args *a, struct twx_parsed *p)
{
    memset(a, 0, sizeof(*a));
    tool_common_init(&a->c);
    a->listen = EXPORT_DEFAULT_LISTEN;
    a->top = 20;
    a->min_interval = 1;
    a->max_conn = 2048;
    a->max_per_ip = 256;
    a->idle_timeout = 10;
    a->interval = 15;
    a->reconcile = 60;
    int rc = twx_opt_parse(&export_command, argc, argv, a, p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (twx_opt_given(&export_command, p, "reconcile") && a->c.source != TOOL_SOURCE_LIVE)
        return twx_usage_err("export", "--reconcile goes with --source live");
    if (a->c.source == TOOL_SOURCE_LIVE && a->c.netns && !strcmp(a->c.netns, "all"))
        return twx_usage_err("export", "--source live keeps one table: give one namespace, "
                                       "not --netns all");
    if (twx_opt_given(&export_command, p, "interval") && !a->textfile)
        return twx_usage_err("export", "--interval goes with --textfile (a server collects "
                                       "when scraped)");
    struct sockaddr_storage ss;
    socklen_t len;
    char err[256];
    if (exp_listen_parse(a->listen, &ss, &len, err, sizeof(err)))
        return twx_usage_err("export", "--listen %s", err);
    if (a->trace && a->c.fixture)
        return twx_usage_err("export", "--trace counts what the live kernel does: not with "
                                       "--fixture");
    if (a->max_per_ip > a->max_conn)
        a->max_per_ip = a->max_conn;
    return TWX_OPT_CONTINUE;
}

/* Room for every connection: raise the soft open-files limit towards the hard one. */
static void fd_room(uint64_t *max_conn)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    rlim_t want = (rlim_t)*max_conn + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        *max_conn = rl.rlim_cur > 80 ? rl.rlim_cur - 64 : 16;
        twx_warn("export: the open-files limit (%llu) allows %llu connections, not more",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)*max_conn);
    }
}

static int textfile_loop(struct exp_collector *col, const struct export_args *a,
                         const sigset_t *sigs)
{
    char path[4096];
    struct stat st;
    if (stat(a->textfile, &st) || !S_ISDIR(st.st_mode)) {
        twx_err("--textfile %s: %s", a->textfile, errno ? strerror(errno) : "not a directory");
        return TW_EXIT_RUNTIME;
    }
    if (snprintf(path, sizeof(path), "%s/twkit.prom", a->textfile) >= (int)sizeof(path)) {
        twx_err("--textfile %s: the path is too long", a->textfile);
        return TW_EXIT_RUNTIME;
    }
    for (;;) {
        struct exp_output out;
        int e = exp_collect(col, 1u << METRIC_TEXT, &out);
        if (e) {
            twx_err("export: %s", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        e = twx_write_atomic(path, out.body[METRIC_TEXT], out.len[METRIC_TEXT], 0644);
        bool ok = out.ok;
        exp_output_free(&out);
        if (e) {
            twx_err("writing %s: %s", path, strerror(-e));
            return TW_EXIT_RUNTIME;
        }
        if (a->interval <= 0) /* once: the page is written, and the status says if it is whole */
            return ok ? TW_EXIT_OK : TW_EXIT_RUNTIME;
        struct timespec ts = {.tv_sec = (time_t)a->interval,
                              .tv_nsec = (long)((a->interval - (double)(time_t)a->interval) * 1e9)};
        if (sigtimedwait(sigs, NULL, &ts) >= 0)
            return TW_EXIT_OK;
    }
}

static int serve(struct exp_collector *col, struct export_args *a, struct exp_webcfg *web,
                 int sigfd)
{
    fd_room(&a->max_conn);
    struct exp_server_opts so = {.listen = a->listen,
                                 .max_conn = (unsigned)a->max_conn,
                                 .max_per_ip = (unsigned)(a->max_per_ip < a->max_conn
                                                              ? a->max_per_ip
                                                              : a->max_conn),
                                 .idle_timeout = a->idle_timeout,
                                 .min_interval = a->min_interval,
                                 .web = web};
    struct exp_server *srv;
    if (exp_server_start(&so, &srv))
        return TW_EXIT_RUNTIME;
    fprintf(stderr, "twkit: export: serving %s\n", exp_server_url(srv));
    if (!export_rates_available())
        fprintf(stderr, "twkit: export: note: built without the rate engine: no new TIME_WAIT "
                        "per second and no time to exhaustion\n");
    int rc = TW_EXIT_OK;
    /* A first collection now: errors show at start, the engine has its first tick. */
    for (bool first = true;; first = false) {
        if (!first && !exp_server_wait(srv, sigfd))
            break;
        struct exp_output out;
        int e = exp_collect(col, (1u << METRIC_TEXT) | (1u << METRIC_OPENMETRICS), &out);
        if (e)
            twx_warn("export: collection failed: %s", tw_strerror(e));
        exp_server_publish(srv, &out); /* an empty page answers 500 */
        exp_output_free(&out);
    }
    exp_server_stop(srv);
    return rc;
}

/*
 * An explicit --source bpf that cannot work at all (privileges, kernel BTF,
 * a verifier rejection, a build without BPF) stops the exporter at start,
 * as it stops twkit stat, instead of serving pages that all say
 * twkit_exporter_scrape_success 0.  --source auto falls back per scrape.
 */
static int check_bpf(const struct export_args *a)
{
    if (a->c.fixture || tool_source_kind(a->c.source) != TW_SOURCE_BPF)
        return TW_EXIT_OK;
    struct tw_source *src = NULL;
    int e = tw_source_open(TW_SOURCE_BPF, NULL, &src);
    tw_source_close(src);
    return e ? tool_bpf_err(e) : TW_EXIT_OK;
}

/* --trace: attach trace's programs to the namespace(s) export collects. */
static int open_trace(const struct export_args *a, struct exp_collect_opts *co)
{
    uint32_t ino = 0;   /* --netns all: every namespace */
    if (!a->c.netns || strcmp(a->c.netns, "all")) {
        struct tw_netns ns;
        int e = a->c.netns ? tw_netns_open(a->c.netns, &ns) : tw_netns_current(&ns);
        if (e) {
            twx_err("export: --trace: network namespace '%s': %s",
                    a->c.netns ? a->c.netns : "current", tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        ino = (uint32_t)ns.inode;
        tw_netns_release(&ns);
    }
    co->trace_netns = ino;
    char why[600];
    int rc = exp_trace_open(ino, &co->trace, why, sizeof(why));
    if (rc)
        twx_err("export: --trace: %s", why);
    return rc;
}

static int run_export(int argc, char **argv)
{
    struct export_args a;
    struct twx_parsed p;
    int rc = parse_args(argc, argv, &a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    if (a.list_metrics) {
        metrics_list(stdout, METRIC_VIEW_EXPORT);
        return fflush(stdout) ? TW_EXIT_RUNTIME : TW_EXIT_OK;
    }
    struct exp_webcfg web = {0};
    if (a.web_config) {
        char err[512];
        if (exp_webcfg_load(a.web_config, &web, err, sizeof(err))) {
            twx_err("--web-config %s: %s", a.web_config, err);
            return EXIT_WEBCONFIG;
        }
    }
    struct exp_collect_opts co = {.kind = tool_source_kind(a.c.source),
                                  .live = a.c.source == TOOL_SOURCE_LIVE,
                                  .reconcile = a.reconcile,
                                  .fixture = a.c.fixture,
                                  .netns = a.c.netns,
                                  .top = (unsigned)a.top};
    if ((rc = check_bpf(&a))) {
        exp_webcfg_free(&web);
        return rc;
    }
    if (a.trace && (rc = open_trace(&a, &co))) {
        exp_webcfg_free(&web);
        return rc;
    }
    struct exp_collector *col;
    if (exp_collector_new(&co, &col)) {
        exp_trace_close(co.trace);
        exp_webcfg_free(&web);
        return TW_EXIT_RUNTIME;
    }
    /* Every thread started from here on inherits the blocked signals. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (a.textfile) {
        rc = textfile_loop(col, &a, &sigs);
    } else {
        int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
        if (sigfd < 0) {
            twx_err("signalfd: %s", strerror(errno));
            rc = TW_EXIT_RUNTIME;
        } else {
            rc = serve(col, &a, a.web_config ? &web : NULL, sigfd);
            close(sigfd);
        }
    }
    exp_collector_free(col);
    exp_trace_close(co.trace);
    exp_webcfg_free(&web);
    return rc;
}
