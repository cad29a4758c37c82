/*
 * cmd_load.c — the `twkit lab load` command: its option table, the loop
 * that answers the lab's snapshot requests (or prints counters every
 * --series MS), and the result as JSON (the "result" message of
 * docs/lab-ipc.md) or a short human summary.  The engine is loadgen*.c.
 *
 * Safety: it connects only to loopback and 198.18.0.0/15 (lab_addr_allowed);
 * every load is bounded by --duration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lab/lab.h"
#include "lab/loadgen.h"
#include "tool.h"
#include "twx/clock.h"

struct dst_list {
    struct sockaddr_in a[LG_MAX_DST];
    int n;
};

struct src_list {
    struct in_addr a[LG_MAX_SRC];
    int n;
};

struct load_args {
    struct dst_list dst;
    struct src_list src;
    uint64_t threads, conc, count, rpc, series;
    double rate, duration, timeout;
    int close, bind;
    bool pool, stop, json, ipc;
    const char *host, *path;
};

enum { X_POOL_SOURCE = TOOL_X_CMD, X_IPC_SERIES = TOOL_X_CMD << 1 };

static const char *const close_choices[] = {"client", "server", "rst", NULL};
static const char *const bind_choices[] = {"no-port", "port", NULL};

static int opt_connect(void *field, const char *v, char *err, size_t len)
{
    struct dst_list *d = field;
    if (d->n == LG_MAX_DST) {
        snprintf(err, len, "at most %d destinations", LG_MAX_DST);
        return -1;
    }
    if (lab_parse_hostport(v, &d->a[d->n]) < 0) {
        snprintf(err, len, "'%s' is not IPv4:PORT", v);
        return -1;
    }
    if (!lab_addr_allowed(d->a[d->n].sin_addr)) {
        snprintf(err, len, "refusing to send traffic to %s: the lab only talks to "
                 "127.0.0.0/8 and 198.18.0.0/15", v);
        return -1;
    }
    d->n++;
    return 0;
}

static int opt_source(void *field, const char *v, char *err, size_t len)
{
    struct src_list *s = field;
    if (s->n == LG_MAX_SRC) {
        snprintf(err, len, "at most %d source addresses", LG_MAX_SRC);
        return -1;
    }
    if (inet_pton(AF_INET, v, &s->a[s->n]) != 1) {
        snprintf(err, len, "'%s' is not an IPv4 address", v);
        return -1;
    }
    s->n++;
    return 0;
}

static int opt_token(void *field, const char *v, char *err, size_t len, size_t max, bool path)
{
    if ((path && v[0] != '/') || strlen(v) >= max || strpbrk(v, "\r\n \t") ||
        (!path && !*v)) {
        snprintf(err, len, "'%s' is not %s without spaces (at most %zu bytes)", v,
                 path ? "a path starting with /" : "a name", max - 1);
        return -1;
    }
    *(const char **)field = v;
    return 0;
}

static int opt_host(void *field, const char *v, char *err, size_t len)
{
    return opt_token(field, v, err, len, sizeof(lg.host), false);
}

static int opt_path(void *field, const char *v, char *err, size_t len)
{
    return opt_token(field, v, err, len, sizeof(lg.path), true);
}

#define A struct load_args
static const struct twx_opt load_opts[] = {
    {.lng = "connect", .shrt = 'c', .type = TWX_FN, .off = offsetof(A, dst), .arg = "ADDR:PORT",
     .help = "destination (required; connections spread over several)",
     .doc = "Destination, an IPv4 address and port in 127.0.0.0/8 or 198.18.0.0/15 (the "
            "only places the lab sends traffic). Repeat it to spread connections round "
            "robin over up to 16 destinations. Required.",
     .example = "127.0.0.1:8080", .fn = opt_connect, .flags = TWX_REPEAT},
    {.lng = "threads", .shrt = 't', .type = TWX_UINT, .off = offsetof(A, threads), .arg = "N",
     .help = "threads", .doc = "Threads, each an epoll loop over its share of connections.",
     .dflt = "the number of cores", .example = "2", .min = 1, .max = 256},
    {.lng = "concurrency", .shrt = 'C', .type = TWX_UINT, .off = offsetof(A, conc), .arg = "N",
     .help = "connections at once, at most",
     .doc = "Connections open at once, at most (with *--pool*: at most 64).", .dflt = "64", .example = "16", .min = 1,
     .max = 100000},
    {.lng = "rate", .shrt = 'r', .type = TWX_NUM, .off = offsetof(A, rate), .arg = "R",
     .help = "open loop: offer R requests per second",
     .doc = "Open loop: release _R_ requests per second on a schedule, each to an idle "
            "keep-alive connection or a new one, so that a slow server shows as latency "
            "and backlog, not as a lower offered rate. Without it, a closed loop: every "
            "connection slot takes the next request as soon as it is free.",
     .example = "2000", .min = 0.001, .max = 10000000},
    {.lng = "count", .shrt = 'n', .type = TWX_UINT, .off = offsetof(A, count), .arg = "N",
     .help = "stop after N requests", .doc = "Stop after _N_ requests (default: no limit "
     "but --duration).", .example = "1000", .min = 1, .max = 1e12},
    {.lng = "duration", .shrt = 'd', .type = TWX_NUM, .off = offsetof(A, duration), .arg = "S",
     .help = "stop offering load after S seconds",
     .doc = "Stop offering load after _S_ seconds; responses in flight are still waited for "
            "(up to *--timeout*). Rates are per second of the load: from its start until it "
            "stopped offering work.",
     .dflt = "10", .example = "2", .min = 0.01,
     .max = 86400},
    {.lng = "requests-per-conn", .shrt = 'k', .type = TWX_UINT, .off = offsetof(A, rpc),
     .arg = "K", .help = "requests per connection, 0: unlimited (keep-alive)",
     .doc = "Requests per connection: 1 makes short connections (one request each), 0 "
            "keeps every connection for as many requests as it is given.",
     .dflt = "1", .example = "0", .min = 0, .max = 1073741824},
    {.lng = "close", .type = TWX_CHOICE, .off = offsetof(A, close), .arg = "WHO",
     .help = "who closes each connection",
     .doc = "Who closes a connection after its last request: *client* (the client "
            "closes first and holds the TIME_WAIT), *server* (the request asks for "
            "\"Connection: close\", the server closes first) or *rst* (the client closes "
            "with SO_LINGER {1, 0}: an RST, no TIME_WAIT).",
     .dflt = "client", .example = "server", .choices = close_choices},
    {.lng = "source", .shrt = 's', .type = TWX_FN, .off = offsetof(A, src), .arg = "ADDR",
     .help = "bind to this local address (spread over several)",
     .doc = "Bind each connection to a local IPv4 address before connect(); repeat it to "
            "use up to 64 addresses in turn. How the port is chosen is *--bind*.",
     .example = "198.18.0.1", .fn = opt_source, .flags = TWX_REPEAT, .excl = X_POOL_SOURCE},
    {.lng = "bind", .type = TWX_CHOICE, .off = offsetof(A, bind), .arg = "MODE",
     .help = "with --source: how the local port is chosen",
     .doc = "With *--source*: *no-port* sets IP_BIND_ADDRESS_NO_PORT, so the port is "
            "chosen at connect() per destination; *port* binds to port 0, which takes a "
            "port from the host-wide pool (and fails with EADDRINUSE once that is held by "
            "TIME_WAIT, whatever the destination).",
     .dflt = "no-port", .example = "port", .choices = bind_choices},
    {.lng = "pool", .type = TWX_FLAG, .off = offsetof(A, pool),
     .help = "reuse connections through libtwkit's tw_pool",
     .doc = "Send the requests through libtwkit's connection pool (*tw_pool*(3)), one "
            "blocking worker per pooled connection (at most 64). Works with *--close* "
            "client only.",
     .excl = X_POOL_SOURCE},
    {.lng = "stop-on-exhaustion", .type = TWX_FLAG, .off = offsetof(A, stop),
     .help = "stop at the first EADDRNOTAVAIL or EADDRINUSE",
     .doc = "Stop offering load at the first EADDRNOTAVAIL or EADDRINUSE: the moment the "
            "ports ran out."},
    {.lng = "timeout", .type = TWX_NUM, .off = offsetof(A, timeout), .arg = "S",
     .help = "connect and request timeout",
     .doc = "Seconds a connect() or a request may take before it counts as ETIMEDOUT.",
     .dflt = "5", .example = "2", .min = 0.001,
     .max = 3600},
    {.lng = "host", .type = TWX_FN, .off = offsetof(A, host), .arg = "NAME",
     .help = "Host header", .doc = "The Host header of every request (no spaces).",
     .dflt = "the first destination's address", .example = "lab",
     .fn = opt_host},
    {.lng = "path", .type = TWX_FN, .off = offsetof(A, path), .arg = "PATH",
     .help = "request path", .doc = "The path of every request, starting with / (no "
     "spaces).", .dflt = "/", .example = "/x", .fn = opt_path},
    {.lng = "json", .type = TWX_FLAG, .off = offsetof(A, json),
     .help = "the result as JSON (docs/lab-json.md)",
     .doc = "The result as one JSON object, the *result* message of docs/lab-ipc.md "
            "(fields in docs/lab-json.md)."},
    {.lng = "series", .type = TWX_UINT, .off = offsetof(A, series), .arg = "MS",
     .help = "with --json: a counters line every MS milliseconds",
     .doc = "With *--json*: before the result, print a *counters* message (docs/lab-ipc.md) "
            "every _MS_ milliseconds: cumulative connections, requests and failures by class.",
     .example = "100", .min = 10, .max = 60000, .excl = X_IPC_SERIES},
    {.lng = "ipc", .type = TWX_FLAG, .off = offsetof(A, ipc),
     .help = "answer the lab's snapshot requests on stdin (how `twkit lab` runs it)",
     .doc = "Speak the lab's process protocol (docs/lab-ipc.md): answer each *snapshot* "
            "message on standard input with a *counters* message, then end with the "
            "*result* message. This is how *twkit lab* runs the load generator, so that "
            "its samples of TIME_WAIT and of these counters are taken at the same moment.",
     .excl = X_IPC_SERIES},
    TOOL_OPT_HELP,
};
#undef A

static const struct twx_exit load_exits[] = {
    {TW_EXIT_OK, "the load ran (failed connections are counted, not fatal)"},
    {TW_EXIT_RUNTIME, "runtime error: threads, the pool, a malformed message on stdin"},
    {TW_EXIT_USAGE, "usage error, or a destination outside the lab's address ranges"},
};

static int run_load(int argc, char **argv);

const struct twx_cmd lab_load_command = {
    .name = "lab load",
    .synopsis = "--connect ADDR:PORT [OPTIONS]",
    .summary = "the lab's HTTP/1.1 load generator",
    .about = "The lab's HTTP/1.1 load generator: epoll, several threads, a closed or an\n"
             "open loop, short or keep-alive connections, bounded by --duration and\n"
             "--count.  It connects only to loopback and 198.18.0.0/15.  Rates are per\n"
             "second of the load: from its start until it stopped offering work.\n",
    .opts = load_opts,
    .n_opts = sizeof(load_opts) / sizeof(load_opts[0]),
    .args_size = sizeof(struct load_args),
    .examples = "  twkit lab load -c 127.0.0.1:8080 -C 64 -d 5\n"
                "  twkit lab load -c 127.0.0.1:8080 -k 0 -C 32 -n 100000 --json\n"
                "  twkit lab load -c 198.18.0.2:80 -r 2000 -s 198.18.0.1 -s 198.18.0.11\n",
    .exits = load_exits,
    .n_exits = sizeof(load_exits) / sizeof(load_exits[0]),
    .man = "twkit-lab",
    .run = run_load,
};

static int parse_args(int argc, char **argv, struct load_args *a)
{
    memset(a, 0, sizeof(*a));
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = nc > 0 ? (uint64_t)nc : 1;
    a->conc = 64;
    a->duration = 10;
    a->rpc = 1;
    a->timeout = 5;
    a->path = "/";
    struct twx_parsed p;
    int rc = twx_opt_parse(&lab_load_command, argc, argv, a, &p);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    const char *me = lab_load_command.name;
    if (!a->dst.n)
        return twx_usage_err(me, "--connect is required");
    if (twx_opt_given(&lab_load_command, &p, "bind") && !a->src.n)
        return twx_usage_err(me, "--bind needs --source");
    if (a->pool && a->close != 0)
        return twx_usage_err(me, "--pool works with --close client only");
    if (a->series && !a->json)
        return twx_usage_err(me, "--series needs --json");
    return TWX_OPT_CONTINUE;
}

static void on_signal(int sig)
{
    (void)sig;
    lg_stop();
}

/* ---- the loop: snapshots from the lab, or counters every --series MS --------- */

struct loop_ctx {
    bool failed;
};

static void send_counters(uint64_t seq)
{
    struct lab_counts c;
    uint64_t now = twx_now_ns();
    lg_counts(&c);
    lab_msg_counters(stdout, seq, (double)(now - lg_t0) / 1e9, now, &c);
}

static int on_request(char *line, size_t len, void *arg)
{
    struct loop_ctx *x = arg;
    struct lab_msg m;
    char err[256];
    if (lab_msg_parse(line, len, &m, err, sizeof(err)) < 0) {
        twx_err("lab load: bad message on standard input: %s", err);
        x->failed = true;
        return -1;
    }
    if (m.type != LAB_MSG_SNAPSHOT) {
        twx_err("lab load: unexpected message on standard input (want a snapshot request)");
        lab_msg_release(&m);
        x->failed = true;
        return -1;
    }
    send_counters(m.seq);
    return 0;
}

static bool run_loop(const struct load_args *a)
{
    struct loop_ctx x = {false};
    struct lab_lines *in = a->ipc ? calloc(1, sizeof(*in)) : NULL;
    bool in_open = in != NULL;
    uint64_t period = a->series * 1000000ull, next = lg_t0 + period, seq = 0;
    while (!lg_finished()) {
        uint64_t now = twx_now_ns();
        if (period && now >= next) {
            send_counters(seq++);
            next += period;
            continue;
        }
        int wait = 20; /* also how soon the end is noticed */
        if (period && (next - now) / 1000000 < (uint64_t)wait)
            wait = (int)((next - now) / 1000000);
        struct pollfd pf = {.fd = in_open ? 0 : -1, .events = POLLIN};
        if (poll(&pf, 1, wait) <= 0 || !(pf.revents & (POLLIN | POLLHUP)))
            continue;
        char err[256];
        int r = lab_lines_read(0, in, on_request, &x, err, sizeof(err));
        if (r == -1 && !x.failed) {
            twx_err("lab load: standard input: %s", err);
            x.failed = true;
        }
        if (r <= 0)
            in_open = false; /* the lab is gone or the input is bad */
        if (x.failed)
            lg_stop();
    }
    free(in);
    return !x.failed;
}

/* ---- output -------------------------------------------------------------------- */

static void print_human(const struct lab_load_result *r)
{
    uint64_t total = 0;
    for (int k = 0; k < TWX_EC_MAX; k++)
        total += r->n.err[k];
    double d = r->load_s > 0 ? r->load_s : 1;
    printf("load %.2f s (%.2f s with the last responses)\n"
           "connections %llu (%.0f/s), requests %llu (%.0f/s), failures %llu\n",
           r->load_s, r->wall_s, (unsigned long long)r->n.connected, (double)r->n.connected / d,
           (unsigned long long)r->n.requests, (double)r->n.requests / d,
           (unsigned long long)total);
    printf("connect latency us: p50 %llu  p90 %llu  p99 %llu  max %llu\n",
           (unsigned long long)r->conn_lat.p50, (unsigned long long)r->conn_lat.p90,
           (unsigned long long)r->conn_lat.p99, (unsigned long long)r->conn_lat.max);
    printf("request latency us: p50 %llu  p90 %llu  p99 %llu  max %llu\n",
           (unsigned long long)r->req_lat.p50, (unsigned long long)r->req_lat.p90,
           (unsigned long long)r->req_lat.p99, (unsigned long long)r->req_lat.max);
    for (int k = 0; k < TWX_EC_MAX; k++)
        if (r->n.err[k])
            printf("  %-14s %llu\n", twx_errclass_name(k), (unsigned long long)r->n.err[k]);
    if (r->eana.seen)
        printf("first EADDRNOTAVAIL at %.3f s, after %llu connections\n", r->eana.t_s,
               (unsigned long long)r->eana.after);
    if (r->einuse.seen)
        printf("first EADDRINUSE at %.3f s, after %llu connections\n", r->einuse.t_s,
               (unsigned long long)r->einuse.after);
    if (r->http_status) {
        char *esc = lab_esc(r->http_reason); /* the peer's bytes */
        printf("first response other than 2xx: %d%s%s\n", r->http_status, *esc ? " " : "", esc);
        free(esc);
    }
}

static int run_load(int argc, char **argv)
{
    struct load_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TWX_OPT_CONTINUE)
        return rc;
    memset(&lg, 0, sizeof(lg));
    memcpy(lg.dst, a.dst.a, sizeof(lg.dst));
    lg.ndst = a.dst.n;
    memcpy(lg.src, a.src.a, sizeof(lg.src));
    lg.nsrc = a.src.n;
    lg.bind = a.bind == 1 ? LG_BIND_PORT : LG_BIND_NOPORT;
    lg.conc = (int)a.conc;
    lg.threads = (int)a.threads < lg.conc ? (int)a.threads : lg.conc;
    lg.rate = a.rate;
    lg.count = a.count;
    lg.duration = a.duration;
    lg.rpc = (unsigned)a.rpc;
    lg.close = a.close == 0 ? LG_CLOSE_CLIENT : a.close == 1 ? LG_CLOSE_SERVER : LG_CLOSE_RST;
    lg.stop_eana = a.stop;
    lg.pool = a.pool;
    lg.timeout = a.timeout;
    if (lg.pool && lg.conc > 64)
        lg.conc = 64; /* one blocking worker thread per pooled connection */
    if (a.host)
        snprintf(lg.host, sizeof(lg.host), "%s", a.host);
    else
        inet_ntop(AF_INET, &lg.dst[0].sin_addr, lg.host, sizeof(lg.host));
    snprintf(lg.path, sizeof(lg.path), "%s", a.path);
    lg_req_len = (size_t)snprintf(lg_req, sizeof(lg_req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                  lg.path, lg.host);
    lg_req_close_len = (size_t)snprintf(lg_req_close, sizeof(lg_req_close),
                                        "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                                        lg.path, lg.host);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)lg.conc + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char err[256];
    if (lg_start(err, sizeof(err)) < 0) {
        twx_err("lab load: %s", err);
        struct lab_load_result r;
        lg_finish(&r);
        free(r.http_reason);
        return TW_EXIT_RUNTIME;
    }
    bool ok = run_loop(&a);
    struct lab_load_result r;
    lg_finish(&r);
    if (a.json || a.ipc)
        lab_msg_result(stdout, &r, false);
    else
        print_human(&r);
    fflush(stdout);
    free(r.http_reason);
    return ok ? TW_EXIT_OK : TW_EXIT_RUNTIME;
}
