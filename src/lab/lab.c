/*
 * lab.c — `twkit lab`: reproduce the "Cannot assign requested address"
 * incident in private namespaces and measure every mitigation on the same
 * load, side by side.
 *
 * For each scenario the lab builds a fresh topology (topo.c: a client and a
 * server host, plus a proxy host for nginx, each a private network
 * namespace with default sysctls except the ones the scenario changes),
 * starts the backend (backend.c) or nginx, a sampler, and the load
 * generator (loadgen.c) in the client host, and reads two streams: the load
 * generator's cumulative lines (connections, requests, errors by errno) and
 * the sampler's lines (TIME_WAIT sockets per host, counted every 100 ms
 * with libtwkit's netlink source, and the kernel counters of each host).
 * Then it tears the topology down and goes on.  At the end it prints one
 * comparison row per run, or JSON (docs/lab-json.md), CSV time series and a
 * gnuplot chart.
 *
 * Cleanup on every exit path: SIGINT/SIGTERM/SIGHUP arrive on a signalfd
 * and end the run through the same teardown as a normal end; SIGKILL is
 * handled by the kernel through the holders' design (see topo.c).  The lab
 * writes no temporary file outside the hosts' private tmpfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <twkit/error.h>
#include <twkit/kernel.h>
#include <twkit/sock.h>

#include "twx/json.h"
#include "lab/lab.h"
#include "twx/topo.h"
#include "tool.h"

/* ---- scenarios -------------------------------------------------------------- */

enum { H_CLIENT = 0, H_SERVER = 1, H_PROXY = 2 };

struct run_cfg {
    const char *scenario;   /* name on the command line */
    const char *name;       /* this run's row */
    const char *what;       /* one line */
    bool nginx;
    bool nginx_keepalive;
    const char *sysctl, *sysctl_val; /* on the client host */
    bool wide_range;
    unsigned rpc;           /* requests per connection, 0 = unlimited */
    const char *close;      /* client, server, rst */
    bool sources;           /* --sources addresses */
    bool one_source;        /* bind to the client's address */
    const char *bind;       /* no-port, port */
    bool stop;              /* stop at exhaustion */
    int ndst;               /* destination ports */
    const char *backend_mode;
    bool pool;
};

static const struct run_cfg RUNS[] = {
    {"short", "short", "the incident: short connections, client closes, defaults",
     .rpc = 1, .close = "client", .stop = true, .ndst = 1, .backend_mode = "keepalive"},
    {"server-close", "server-close", "the server closes first (Connection: close)",
     .rpc = 1, .close = "server", .ndst = 1, .backend_mode = "keepalive"},
    {"tw-reuse", "tw-reuse", "tcp_tw_reuse=1 on the client host",
     .sysctl = "net.ipv4.tcp_tw_reuse", .sysctl_val = "1", .rpc = 1, .close = "client",
     .ndst = 1, .backend_mode = "keepalive"},
    {"wide-range", "wide-range", "ip_local_port_range 1024-65535 on the client host",
     .wide_range = true, .rpc = 1, .close = "client", .ndst = 1, .backend_mode = "keepalive"},
    {"more-sources", "more-sources", "several client addresses (IP_BIND_ADDRESS_NO_PORT)",
     .rpc = 1, .close = "client", .sources = true, .bind = "no-port", .stop = true, .ndst = 1,
     .backend_mode = "keepalive"},
    {"bind-no-port", "bind-port", "bind(addr, 0) before connect, two server ports",
     .rpc = 1, .close = "client", .one_source = true, .bind = "port", .stop = true, .ndst = 2,
     .backend_mode = "keepalive"},
    {"bind-no-port", "bind-no-port", "the same with IP_BIND_ADDRESS_NO_PORT",
     .rpc = 1, .close = "client", .one_source = true, .bind = "no-port", .stop = true, .ndst = 2,
     .backend_mode = "keepalive"},
    {"keepalive", "keepalive", "keep-alive connections, reused for every request",
     .rpc = 0, .close = "client", .ndst = 1, .backend_mode = "keepalive"},
    {"pool", "pool", "requests through libtwkit's tw_pool (connection reuse)",
     .rpc = 0, .close = "client", .ndst = 1, .backend_mode = "keepalive", .pool = true},
    {"rst", "rst", "close with SO_LINGER 0: no TIME_WAIT, resets (anti-pattern)",
     .rpc = 1, .close = "rst", .ndst = 1, .backend_mode = "keepalive"},
    {"nginx", "nginx", "client -> nginx -> 2 backends, no upstream keepalive",
     .nginx = true, .rpc = 0, .close = "client", .ndst = 1, .backend_mode = "keepalive"},
    {"nginx", "nginx-keepalive", "the same with upstream keepalive 32",
     .nginx = true, .nginx_keepalive = true, .rpc = 0, .close = "client", .ndst = 1,
     .backend_mode = "keepalive"},
};
#define N_RUNS (sizeof(RUNS) / sizeof(RUNS[0]))

static const char *const SCENARIOS[] = {"short", "server-close", "tw-reuse", "wide-range",
                                        "more-sources", "bind-no-port", "keepalive", "pool",
                                        "rst", "nginx"};
#define N_SCEN (sizeof(SCENARIOS) / sizeof(SCENARIOS[0]))

/* ---- options ------------------------------------------------------------------ */

static struct {
    double duration, rate;
    unsigned conc, threads, sources;
    int port_lo, port_hi;
    bool json;
    const char *csv_dir, *plot;
    bool progress;
    const char *nginx_bin;
} G;

/* ---- results --------------------------------------------------------------- */

#define MAX_SAMPLES 6000

struct sample {
    uint32_t t_ms;
    uint32_t tw[TWX_TOPO_MAX_HOSTS], leg[TWX_TOPO_MAX_HOSTS];
    uint64_t attempted, connected, requests, err[LAB_E_MAX];
};

struct run_res {
    const struct run_cfg *cfg;
    enum { RUN_OK, RUN_SKIPPED, RUN_ERROR } status;
    char reason[256];
    int n_hosts;
    /* load generator */
    bool have_final;
    uint64_t attempted, connected, requests, err[LAB_E_MAX];
    double secs, busy;
    uint64_t cl[4], rl[4]; /* p50 p90 p99 max, us */
    double first_eana_s, first_einuse_s;
    uint64_t eana_after, einuse_after;
    /* sampler */
    struct sample *s;
    size_t ns;
    uint32_t tw_peak[TWX_TOPO_MAX_HOSTS], leg_peak[TWX_TOPO_MAX_HOSTS], tw_end[TWX_TOPO_MAX_HOSTS];
    struct tw_counters c0[TWX_TOPO_MAX_HOSTS], c1[TWX_TOPO_MAX_HOSTS];
    bool have_c0[TWX_TOPO_MAX_HOSTS];
    /* backends */
    int n_backends;
    uint64_t be[6]; /* accepted requests resets bad_requests peer_closed server_closed */
    bool have_be;
    /* settings */
    int port_lo, port_hi, n_sources;
};

static volatile sig_atomic_t g_interrupted;
static int g_sigfd = -1;

/* ---- the sampler (a forked child) ------------------------------------------- */

struct count_arg {
    uint32_t tw, leg;
    uint16_t leg_lo, leg_hi;
};

static int count_cb(const struct tw_sock *s, void *arg)
{
    struct count_arg *a = arg;
    if (s->state != TW_TIME_WAIT)
        return 0;
    a->tw++;
    if (s->rport >= a->leg_lo && s->rport <= a->leg_hi)
        a->leg++;
    return 0;
}

static void sampler_main(struct twx_topo *t, int out, int lifeline, uint16_t leg_lo, uint16_t leg_hi)
{
    struct tw_source *src[TWX_TOPO_MAX_HOSTS] = {0};
    for (int i = 0; i < t->n_hosts; i++) {
        if (setns(t->host[i].netns_fd, CLONE_NEWNET) < 0)
            _exit(3);
        int e = tw_source_open(TW_SOURCE_NETLINK, NULL, &src[i]);
        if (e < 0) {
            dprintf(2, "twkit: lab: sampler: %s\n", tw_strerror(e));
            _exit(3);
        }
    }
    struct tw_query q;
    tw_query_init(&q);
    q.states = TW_STATE_BIT(TW_TIME_WAIT);
    FILE *f = fdopen(out, "w");
    if (!f)
        _exit(3);
    struct pollfd pf = {.fd = lifeline, .events = POLLIN};
    for (;;) {
        for (int i = 0; i < t->n_hosts; i++) {
            struct count_arg a = {0, 0, leg_lo, leg_hi};
            tw_source_dump(src[i], &q, count_cb, &a);
            struct tw_counters c;
            char root[48];
            snprintf(root, sizeof(root), "/proc/%d", (int)t->host[i].pid);
            memset(&c, 0, sizeof(c));
            tw_counters_read(&c, root);
            fprintf(f, "H %d %u %u", i, a.tw, a.leg);
            for (int k = 0; k < TW_C_MAX; k++)
                fprintf(f, " %llu", (unsigned long long)c.v[k]);
            fputc('\n', f);
        }
        fputs("S\n", f);
        fflush(f);
        if (poll(&pf, 1, 100) != 0)
            break; /* the lab closed our lifeline: one last sample was sent */
    }
    /* final sample after the stop request */
    _exit(0);
}

static pid_t start_sampler(struct twx_topo *t, int *out_rd, int *life_wr, uint16_t lo, uint16_t hi)
{
    int o[2], l[2];
    if (pipe2(o, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(l, O_CLOEXEC) < 0) {
        close(o[0]);
        close(o[1]);
        return -1;
    }
    pid_t lab = getpid();
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != lab)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        close(o[0]);
        close(l[1]);
        sampler_main(t, o[1], l[0], lo, hi);
        _exit(0);
    }
    twx_topo_all_pids[twx_topo_n_pids < 64 ? twx_topo_n_pids++ : 63] = p;
    close(o[1]);
    close(l[0]);
    *out_rd = o[0];
    *life_wr = l[1];
    return p;
}

/* ---- line readers -------------------------------------------------------------- */

struct linebuf {
    char b[65536];
    size_t len;
};

/* Read what is there; call fn for each complete line.  Returns 0 on EOF. */
static int pump(int fd, struct linebuf *lb, void (*fn)(char *, void *), void *arg)
{
    ssize_t r = read(fd, lb->b + lb->len, sizeof(lb->b) - lb->len - 1);
    if (r < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (r == 0)
        return 0;
    lb->len += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < lb->len; i++)
        if (lb->b[i] == '\n') {
            lb->b[i] = 0;
            fn(lb->b + start, arg);
            start = i + 1;
        }
    memmove(lb->b, lb->b + start, lb->len - start);
    lb->len -= start;
    if (lb->len == sizeof(lb->b) - 1)
        lb->len = 0; /* a line longer than the buffer: drop it */
    return 1;
}

struct run_ctx {
    struct run_res *r;
    uint64_t t0;
    struct sample cur;   /* being assembled */
    struct sample last_load;
};

static void on_load_line(char *line, void *arg)
{
    struct run_ctx *x = arg;
    struct run_res *r = x->r;
    if (line[0] == 'T') {
        unsigned long long ms, a, c, q, e[LAB_E_MAX];
        char *p = line + 2;
        if (sscanf(p, "%llu %llu %llu %llu", &ms, &a, &c, &q) != 4)
            return;
        for (int skip = 0; skip < 4; skip++)
            p = strchr(p, ' ') ? strchr(p, ' ') + 1 : p + strlen(p);
        for (int k = 0; k < LAB_E_MAX; k++) {
            e[k] = strtoull(p, &p, 10);
            x->last_load.err[k] = e[k];
        }
        x->last_load.attempted = a;
        x->last_load.connected = c;
        x->last_load.requests = q;
        r->attempted = a;
        r->connected = c;
        r->requests = q;
        memcpy(r->err, x->last_load.err, sizeof(r->err));
    } else if (line[0] == 'F') {
        unsigned long long a, c, q, v[8], ea, ia;
        double secs, busy, fe, fi;
        if (sscanf(line + 2, "%llu %llu %llu %lf %lf %llu %llu %llu %llu %llu %llu %llu %llu %lf %llu %lf %llu",
                   &a, &c, &q, &secs, &busy, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7], &fe, &ea, &fi, &ia) == 17) {
            r->have_final = true;
            r->attempted = a;
            r->connected = c;
            r->requests = q;
            r->secs = secs;
            r->busy = busy;
            for (int k = 0; k < 4; k++) {
                r->cl[k] = v[k];
                r->rl[k] = v[4 + k];
            }
            r->first_eana_s = fe;
            r->eana_after = ea;
            r->first_einuse_s = fi;
            r->einuse_after = ia;
        }
    }
}

static void on_sampler_line(char *line, void *arg)
{
    struct run_ctx *x = arg;
    struct run_res *r = x->r;
    if (line[0] == 'H') {
        int h;
        unsigned tw, leg;
        char *p = line + 2;
        if (sscanf(p, "%d %u %u", &h, &tw, &leg) != 3 || h < 0 || h >= r->n_hosts)
            return;
        for (int skip = 0; skip < 3; skip++)
            p = strchr(p, ' ') ? strchr(p, ' ') + 1 : p + strlen(p);
        struct tw_counters c;
        memset(&c, 0, sizeof(c));
        for (int k = 0; k < TW_C_MAX; k++)
            c.v[k] = strtoull(p, &p, 10);
        if (!r->have_c0[h]) {
            r->c0[h] = c;
            r->have_c0[h] = true;
        }
        r->c1[h] = c;
        x->cur.tw[h] = tw;
        x->cur.leg[h] = leg;
        if (tw > r->tw_peak[h])
            r->tw_peak[h] = tw;
        if (leg > r->leg_peak[h])
            r->leg_peak[h] = leg;
        r->tw_end[h] = tw;
    } else if (line[0] == 'S') {
        if (r->ns >= MAX_SAMPLES)
            return;
        struct sample s = x->cur;
        s.t_ms = (uint32_t)((twx_now_ns() - x->t0) / 1000000);
        s.attempted = x->last_load.attempted;
        s.connected = x->last_load.connected;
        s.requests = x->last_load.requests;
        memcpy(s.err, x->last_load.err, sizeof(s.err));
        r->s[r->ns++] = s;
    }
}

/* ---- progress ----------------------------------------------------------------- */

static void progress(const struct run_res *r, int idx, int total, uint64_t t0)
{
    if (!G.progress)
        return;
    uint64_t e = 0;
    for (int k = 0; k < LAB_E_MAX; k++)
        e += r->err[k];
    double el = (double)(twx_now_ns() - t0) / 1e9;
    const struct sample *s = r->ns ? &r->s[r->ns - 1] : NULL;
    fprintf(stderr, "\r\033[K[%d/%d] %-15s %5.1fs %8llu conn %8llu req %6llu err  TW c:%u s:%u",
            idx, total, r->cfg->name, el, (unsigned long long)r->connected,
            (unsigned long long)r->requests, (unsigned long long)e, s ? s->tw[0] : 0,
            s ? s->tw[1] : 0);
    if (r->n_hosts > 2)
        fprintf(stderr, " p:%u", s ? s->tw[2] : 0);
    fflush(stderr);
}

/* ---- one run -------------------------------------------------------------------- */

static const char *find_nginx(void)
{
    static const char *const cands[] = {"/usr/sbin/nginx", "/usr/local/sbin/nginx",
                                        "/usr/local/nginx/sbin/nginx"};
    const char *env = getenv("TWKIT_NGINX");
    if (env && *env)
        return access(env, X_OK) == 0 ? env : NULL;
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return NULL;
}

static void nginx_conf(char *buf, size_t len, bool keepalive, bool as_root)
{
    snprintf(buf, len,
             "# generated by twkit lab: origin-article section 5.4, with the lab's\n"
             "# backend addresses in place of 127.0.0.1\n"
             "%s"
             "worker_processes %u;\n"
             "pid /tmp/twkit-nginx/nginx.pid;\n"
             "error_log /tmp/twkit-nginx/error.log warn;\n"
             "events { worker_connections 4096; }\n"
             "http {\n"
             "    access_log off;\n"
             "    client_body_temp_path /tmp/twkit-nginx/body;\n"
             "    proxy_temp_path /tmp/twkit-nginx/proxy;\n"
             "    fastcgi_temp_path /tmp/twkit-nginx/fastcgi;\n"
             "    uwsgi_temp_path /tmp/twkit-nginx/uwsgi;\n"
             "    scgi_temp_path /tmp/twkit-nginx/scgi;\n"
             "    keepalive_requests 1000000;\n"
             "    upstream backend {\n"
             "        server 198.18.2.2:8001;\n"
             "        server 198.18.2.2:8002;\n"
             "%s"
             "    }\n"
             "\n"
             "    server {\n"
             "        listen 198.18.1.2:80;\n"
             "        location / {\n"
             "            proxy_pass http://backend;\n"
             "            proxy_http_version 1.1;\n"
             "            proxy_set_header Connection \"\";\n"
             "            proxy_connect_timeout 1s;\n"
             "            proxy_send_timeout 1s;\n"
             "            proxy_read_timeout 1s;\n"
             "        }\n"
             "    }\n"
             "}\n",
             as_root ? "" : "user root;\n", G.threads,
             keepalive ? "        keepalive 32;  # keep 32 idle connections\n" : "");
}

static void add_sysctl(struct twx_topo_host *h, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_sysctl(struct twx_topo_host *h, const char *name, const char *fmt, ...)
{
    if (h->n_sysctl == TWX_TOPO_MAX_SYSCTL)
        return;
    struct twx_topo_sysctl *s = &h->sysctl[h->n_sysctl++];
    s->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->value, sizeof(s->value), fmt, ap);
    va_end(ap);
}

static bool g_real_root = true;

/* Build argv for the load generator. */
static int load_argv(const struct run_cfg *c, char **av, char store[][48], int max)
{
    int n = 0, k = 0;
#define ARG(s) (av[n++] = (char *)(s))
#define FMT(...) (snprintf(store[k], 48, __VA_ARGS__), av[n++] = store[k++])
    ARG("twkit");
    ARG("lab");
    ARG("load");
    if (c->nginx) {
        ARG("-c");
        ARG("198.18.1.2:80");
    } else {
        for (int i = 0; i < c->ndst; i++)
            FMT("-c198.18.0.2:%d", 8001 + i);
    }
    FMT("-t%u", G.threads);
    FMT("-C%u", G.conc);
    if (G.rate > 0)
        FMT("-r%g", G.rate);
    FMT("-d%g", G.duration);
    FMT("-k%u", c->rpc);
    FMT("--close=%s", c->close);
    if (c->sources) {
        for (unsigned i = 0; i < G.sources; i++)
            FMT("-s198.18.0.%u", i == 0 ? 1 : 10 + i);
    } else if (c->one_source) {
        ARG("-s198.18.0.1");
    }
    if (c->bind && (c->sources || c->one_source))
        FMT("--bind=%s", c->bind);
    if (c->stop)
        ARG("--stop-on-exhaustion");
    if (c->pool)
        ARG("--pool");
    ARG("--timeout=2");
    ARG("--series=100");
    av[n] = NULL;
    (void)max;
#undef ARG
#undef FMT
    return n;
}

static void read_backend(struct run_res *r, char *line, void *unused)
{
    (void)unused;
    unsigned long long v[6];
    if (sscanf(line, "{\"accepted\":%llu,\"requests\":%llu,\"resets\":%llu,\"bad_requests\":%llu,"
                     "\"peer_closed\":%llu,\"server_closed\":%llu}",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6) {
        for (int i = 0; i < 6; i++)
            r->be[i] += v[i];
        r->have_be = true;
    }
}

struct be_ctx {
    struct run_res *r;
    bool ready;
};

static void on_backend_line(char *line, void *arg)
{
    struct be_ctx *b = arg;
    if (!strcmp(line, "ready"))
        b->ready = true;
    else
        read_backend(b->r, line, NULL);
}

/* Read a program's stdout until fn's context says ready or timeout. */
static int wait_ready(int fd, struct linebuf *lb, struct be_ctx *b, int timeout_ms)
{
    uint64_t end = twx_now_ns() + (uint64_t)timeout_ms * 1000000;
    while (!b->ready) {
        int64_t left = (int64_t)(end - twx_now_ns()) / 1000000;
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        if (!pump(fd, lb, on_backend_line, b))
            return -EPIPE;
    }
    return 0;
}

static int run_one(const struct run_cfg *c, struct run_res *r, int idx, int total)
{
    struct twx_topo t;
    memset(&t, 0, sizeof(t));
    char err[256] = "";
    r->cfg = c;
    r->first_eana_s = r->first_einuse_s = -1;
    if (c->nginx && !G.nginx_bin) {
        r->status = RUN_SKIPPED;
        snprintf(r->reason, sizeof(r->reason),
                 "nginx is not installed (scripts/install-deps installs it)");
        return 0;
    }
    t.n_hosts = c->nginx ? 3 : 2;
    r->n_hosts = t.n_hosts;
    t.host[H_CLIENT].name = "client";
    t.host[H_SERVER].name = "server";
    if (c->nginx) {
        t.host[H_PROXY].name = "proxy";
        t.host[H_PROXY].private_tmp = true;
        t.n_links = 2;
        t.link[0] = (struct twx_topo_link){H_CLIENT, H_PROXY, 1};
        t.link[1] = (struct twx_topo_link){H_PROXY, H_SERVER, 2};
    } else {
        t.n_links = 1;
        t.link[0] = (struct twx_topo_link){H_CLIENT, H_SERVER, 0};
        if (c->sources)
            t.host[H_CLIENT].n_extra_addrs = (int)G.sources - 1;
    }
    struct twx_topo_host *cl = &t.host[H_CLIENT];
    r->port_lo = G.port_lo;
    r->port_hi = G.port_hi;
    if (c->wide_range) {
        r->port_lo = 1024;
        r->port_hi = 65535;
    }
    if (r->port_lo)
        add_sysctl(cl, "net.ipv4.ip_local_port_range", "%d %d", r->port_lo, r->port_hi);
    if (c->sysctl)
        add_sysctl(cl, c->sysctl, "%s", c->sysctl_val);
    r->n_sources = c->sources ? (int)G.sources : c->one_source ? 1 : 0;
    r->s = calloc(MAX_SAMPLES, sizeof(*r->s));
    if (!r->s)
        return -ENOMEM;

    int ret = 0;
    int life_wr = -1, samp_rd = -1;
    pid_t samp = -1;
    int be_idx[2] = {-1, -1}, ng_idx = -1, lg_idx = -1;
    struct linebuf *lbs = calloc(4, sizeof(struct linebuf));
    if (!lbs) {
        free(r->s);
        r->s = NULL;
        return -ENOMEM;
    }
    struct be_ctx bctx[2] = {{r, false}, {r, false}};

    int e = twx_topo_create(&t, err, sizeof(err));
    if (e < 0)
        goto fail;
    /* backends: one per destination port (nginx: 8001 and 8002) */
    int nbe = c->nginx ? 2 : 1;
    for (int b = 0; b < nbe; b++) {
        char *av[16], st[8][48];
        int n = 0;
        av[n++] = "twkit";
        av[n++] = "lab";
        av[n++] = "backend";
        if (c->nginx) {
            snprintf(st[0], 48, "-l198.18.2.2:%d", 8001 + b);
            av[n++] = st[0];
        } else {
            for (int d = 0; d < c->ndst; d++) {
                snprintf(st[d], 48, "-l198.18.0.2:%d", 8001 + d);
                av[n++] = st[d];
            }
        }
        snprintf(st[4], 48, "-t%u", G.threads);
        av[n++] = st[4];
        snprintf(st[5], 48, "-m%s", c->backend_mode);
        av[n++] = st[5];
        av[n] = NULL;
        be_idx[b] = twx_topo_spawn(&t, H_SERVER, av, "backend", NULL, NULL);
        if (be_idx[b] < 0) {
            e = be_idx[b];
            snprintf(err, sizeof(err), "cannot start the backend: %s", strerror(-e));
            goto fail;
        }
        if (wait_ready(t.proc[be_idx[b]].out, &lbs[b], &bctx[b], 5000) < 0) {
            e = -EIO;
            snprintf(err, sizeof(err), "the backend did not start");
            goto fail;
        }
    }
    r->n_backends = nbe;
    if (c->nginx) {
        static char conf[4096];
        nginx_conf(conf, sizeof(conf), c->nginx_keepalive, g_real_root);
        char *av[] = {(char *)G.nginx_bin, "-e", "/tmp/twkit-nginx/error.log", "-p",
                      "/tmp/twkit-nginx", "-c", "/tmp/twkit-nginx/nginx.conf", "-g",
                      "daemon off;", NULL};
        ng_idx = twx_topo_spawn(&t, H_PROXY, av, "nginx", "/tmp/twkit-nginx/nginx.conf", conf);
        if (ng_idx < 0 || twx_topo_wait_port(&t, H_CLIENT, "198.18.1.2", 80, 5000) < 0) {
            e = -EIO;
            snprintf(err, sizeof(err), "nginx did not start in the proxy host");
            goto fail;
        }
    }
    samp = start_sampler(&t, &samp_rd, &life_wr, c->nginx ? 8001 : 1, c->nginx ? 8002 : 0);
    if (samp < 0) {
        e = -errno;
        snprintf(err, sizeof(err), "cannot start the sampler");
        goto fail;
    }
    /* The counters' baseline must predate the first connection. */
    struct run_ctx x = {.r = r, .t0 = twx_now_ns()};
    {
        uint64_t end = twx_now_ns() + 5000000000ull;
        while (r->ns == 0 && twx_now_ns() < end) {
            struct pollfd pf = {.fd = samp_rd, .events = POLLIN};
            if (poll(&pf, 1, 100) > 0 && !pump(samp_rd, &lbs[3], on_sampler_line, &x))
                break;
        }
        if (r->ns == 0) {
            e = -EIO;
            snprintf(err, sizeof(err), "the sampler did not start");
            goto fail;
        }
    }
    {
        char *av[40], st[40][48];
        load_argv(c, av, st, 40);
        lg_idx = twx_topo_spawn(&t, H_CLIENT, av, "load", NULL, NULL);
        if (lg_idx < 0) {
            e = lg_idx;
            snprintf(err, sizeof(err), "cannot start the load generator: %s", strerror(-e));
            goto fail;
        }
    }
    x.t0 = twx_now_ns();
    uint64_t hard = x.t0 + (uint64_t)((G.duration + 15) * 1e9);
    bool load_open = true, samp_open = true;
    uint64_t load_done_at = 0;
    while (samp_open) {
        struct pollfd pf[3] = {
            {.fd = load_open ? t.proc[lg_idx].out : -1, .events = POLLIN},
            {.fd = samp_rd, .events = POLLIN},
            {.fd = g_sigfd, .events = POLLIN},
        };
        int n = poll(pf, 3, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (pf[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(g_sigfd, &si, sizeof(si)) == sizeof(si))
                g_interrupted = (sig_atomic_t)si.ssi_signo;
            break;
        }
        if (load_open && (pf[0].revents & (POLLIN | POLLHUP)))
            if (!pump(t.proc[lg_idx].out, &lbs[2], on_load_line, &x)) {
                load_open = false;
                load_done_at = twx_now_ns();
            }
        if (pf[1].revents & (POLLIN | POLLHUP))
            if (!pump(samp_rd, &lbs[3], on_sampler_line, &x))
                samp_open = false;
        progress(r, idx, total, x.t0);
        uint64_t now = twx_now_ns();
        /* After the load ends: let TIME_WAIT settle for 150 ms, then stop
         * the sampler (it sends one last sample and exits). */
        if (!load_open && life_wr >= 0 && now - load_done_at > 150000000) {
            close(life_wr);
            life_wr = -1;
        }
        if (now > hard) {
            snprintf(err, sizeof(err), "the run did not end in time");
            e = -ETIMEDOUT;
            goto fail;
        }
    }
    if (g_interrupted) {
        e = -EINTR;
        snprintf(err, sizeof(err), "interrupted by signal %d", (int)g_interrupted);
        goto fail;
    }
    int lst = twx_topo_wait(&t, lg_idx, 5000);
    if (lst != 0 || !r->have_final) {
        e = -EIO;
        snprintf(err, sizeof(err), "the load generator failed (status %d)", lst);
        goto fail;
    }
    /* backend counters: SIGTERM, read the JSON line */
    for (int b = 0; b < nbe; b++) {
        twx_topo_signal(&t, be_idx[b], SIGTERM);
        uint64_t end = twx_now_ns() + 2000000000ull;
        struct pollfd pf = {.fd = t.proc[be_idx[b]].out, .events = POLLIN};
        while (twx_now_ns() < end && poll(&pf, 1, 100) >= 0) {
            if ((pf.revents & (POLLIN | POLLHUP)) &&
                !pump(pf.fd, &lbs[b], on_backend_line, &bctx[b]))
                break;
        }
    }
    r->status = RUN_OK;
    goto out;
fail:
    r->status = RUN_ERROR;
    snprintf(r->reason, sizeof(r->reason), "%s", err[0] ? err : strerror(-e));
    ret = e;
out:
    if (life_wr >= 0)
        close(life_wr);
    if (samp > 0) {
        kill(samp, SIGKILL);
        waitpid(samp, NULL, 0);
    }
    if (samp_rd >= 0)
        close(samp_rd);
    twx_topo_destroy(&t);
    free(lbs);
    if (G.progress)
        fprintf(stderr, "\r\033[K");
    return ret;
}

/* ---- output ------------------------------------------------------------------- */

static uint64_t cdelta(const struct run_res *r, int h, enum tw_counter_id id)
{
    return r->c1[h].v[id] >= r->c0[h].v[id] ? r->c1[h].v[id] - r->c0[h].v[id] : 0;
}

static const char *host_name(int h)
{
    return h == H_CLIENT ? "client" : h == H_SERVER ? "server" : "proxy";
}

static void print_json(struct run_res *res, size_t n)
{
    struct twx_json j;
    twx_json_init(&j, stdout, false);
    twx_json_obj_begin(&j, NULL);
    twx_json_u64(&j, "version", 1);
    struct utsname u;
    uname(&u);
    twx_json_str(&j, "kernel", u.release);
    twx_json_obj_begin(&j, "options");
    twx_json_f64(&j, "duration_s", G.duration, 3);
    twx_json_f64(&j, "rate", G.rate, 1);
    twx_json_u64(&j, "concurrency", G.conc);
    twx_json_u64(&j, "threads", G.threads);
    twx_json_u64(&j, "sources", G.sources);
    if (G.port_lo) {
        twx_json_arr_begin(&j, "port_range");
        twx_json_u64(&j, NULL, (uint64_t)G.port_lo);
        twx_json_u64(&j, NULL, (uint64_t)G.port_hi);
        twx_json_arr_end(&j);
    } else {
        twx_json_null(&j, "port_range");
    }
    twx_json_obj_end(&j);
    twx_json_arr_begin(&j, "runs");
    for (size_t i = 0; i < n; i++) {
        struct run_res *r = &res[i];
        const struct run_cfg *c = r->cfg;
        twx_json_obj_begin(&j, NULL);
        twx_json_str(&j, "scenario", c->scenario);
        twx_json_str(&j, "name", c->name);
        twx_json_str(&j, "description", c->what);
        twx_json_str(&j, "status", r->status == RUN_OK ? "ok" : r->status == RUN_SKIPPED ? "skipped" : "error");
        twx_json_str(&j, "reason", r->reason[0] ? r->reason : NULL);
        if (r->status != RUN_OK) {
            twx_json_obj_end(&j);
            continue;
        }
        twx_json_obj_begin(&j, "config");
        twx_json_u64(&j, "requests_per_conn", c->rpc);
        twx_json_str(&j, "close", c->close);
        twx_json_u64(&j, "sources", (uint64_t)r->n_sources);
        twx_json_str(&j, "bind", (c->sources || c->one_source) ? c->bind : "none");
        twx_json_u64(&j, "destinations", c->nginx ? 1 : (uint64_t)c->ndst);
        twx_json_bool(&j, "pool", c->pool);
        if (r->port_lo) {
            twx_json_arr_begin(&j, "client_port_range");
            twx_json_u64(&j, NULL, (uint64_t)r->port_lo);
            twx_json_u64(&j, NULL, (uint64_t)r->port_hi);
            twx_json_arr_end(&j);
        } else {
            twx_json_null(&j, "client_port_range");
        }
        twx_json_str(&j, "client_sysctl", c->sysctl ? c->sysctl : NULL);
        if (c->nginx)
            twx_json_bool(&j, "nginx_upstream_keepalive", c->nginx_keepalive);
        twx_json_obj_end(&j);
        twx_json_f64(&j, "duration_s", r->secs, 3);
        twx_json_obj_begin(&j, "connections");
        twx_json_u64(&j, "attempted", r->attempted);
        twx_json_u64(&j, "ok", r->connected);
        twx_json_f64(&j, "per_s", r->busy > 0 ? (double)r->connected / r->busy : 0, 1);
        twx_json_obj_end(&j);
        twx_json_obj_begin(&j, "requests");
        twx_json_u64(&j, "ok", r->requests);
        twx_json_f64(&j, "per_s", r->busy > 0 ? (double)r->requests / r->busy : 0, 1);
        twx_json_obj_end(&j);
        static const char *const qn[] = {"p50", "p90", "p99", "max"};
        twx_json_obj_begin(&j, "connect_latency_us");
        for (int k = 0; k < 4; k++)
            twx_json_u64(&j, qn[k], r->cl[k]);
        twx_json_obj_end(&j);
        twx_json_obj_begin(&j, "request_latency_us");
        for (int k = 0; k < 4; k++)
            twx_json_u64(&j, qn[k], r->rl[k]);
        twx_json_obj_end(&j);
        twx_json_obj_begin(&j, "errors");
        uint64_t et = 0;
        for (int k = 0; k < LAB_E_MAX; k++) {
            twx_json_u64(&j, lab_err_name(k), r->err[k]);
            et += r->err[k];
        }
        twx_json_obj_end(&j);
        twx_json_u64(&j, "errors_total", et);
        if (r->first_eana_s >= 0) {
            twx_json_obj_begin(&j, "first_eaddrnotavail");
            twx_json_f64(&j, "t_s", r->first_eana_s, 3);
            twx_json_u64(&j, "after_connections", r->eana_after);
            twx_json_obj_end(&j);
        } else {
            twx_json_null(&j, "first_eaddrnotavail");
        }
        if (r->first_einuse_s >= 0) {
            twx_json_obj_begin(&j, "first_eaddrinuse");
            twx_json_f64(&j, "t_s", r->first_einuse_s, 3);
            twx_json_u64(&j, "after_connections", r->einuse_after);
            twx_json_obj_end(&j);
        } else {
            twx_json_null(&j, "first_eaddrinuse");
        }
        twx_json_obj_begin(&j, "hosts");
        for (int h = 0; h < r->n_hosts; h++) {
            twx_json_obj_begin(&j, host_name(h));
            twx_json_u64(&j, "tw_peak", r->tw_peak[h]);
            twx_json_u64(&j, "tw_end", r->tw_end[h]);
            if (c->nginx && h == H_PROXY)
                twx_json_u64(&j, "tw_backend_leg_peak", r->leg_peak[h]);
            twx_json_obj_begin(&j, "counters");
            for (int k = 0; k < TW_C_MAX; k++)
                if (k != TW_C_CURR_ESTAB)
                    twx_json_u64(&j, tw_counter_name((enum tw_counter_id)k), cdelta(r, h, (enum tw_counter_id)k));
            twx_json_obj_end(&j);
            twx_json_obj_end(&j);
        }
        twx_json_obj_end(&j);
        if (r->have_be) {
            twx_json_obj_begin(&j, "backend");
            static const char *const bn[] = {"accepted", "requests", "resets", "bad_requests",
                                             "peer_closed", "server_closed"};
            for (int k = 0; k < 6; k++)
                twx_json_u64(&j, bn[k], r->be[k]);
            twx_json_obj_end(&j);
        } else {
            twx_json_null(&j, "backend");
        }
        twx_json_arr_begin(&j, "series");
        for (size_t s = 0; s < r->ns; s++) {
            const struct sample *sm = &r->s[s];
            twx_json_obj_begin(&j, NULL);
            twx_json_f64(&j, "t", sm->t_ms / 1000.0, 1);
            twx_json_u64(&j, "connections", sm->connected);
            twx_json_u64(&j, "requests", sm->requests);
            uint64_t e = 0;
            for (int k = 0; k < LAB_E_MAX; k++)
                e += sm->err[k];
            twx_json_u64(&j, "errors", e);
            twx_json_u64(&j, "eaddrnotavail", sm->err[LAB_E_ADDRNOTAVAIL]);
            twx_json_obj_begin(&j, "tw");
            for (int h = 0; h < r->n_hosts; h++)
                twx_json_u64(&j, host_name(h), sm->tw[h]);
            twx_json_obj_end(&j);
            twx_json_obj_end(&j);
        }
        twx_json_arr_end(&j);
        twx_json_obj_end(&j);
    }
    twx_json_arr_end(&j);
    twx_json_obj_end(&j);
    twx_json_end(&j);
}

static void errors_cell(const struct run_res *r, char *buf, size_t len)
{
    int best = -1, kinds = 0;
    for (int k = 0; k < LAB_E_MAX; k++)
        if (r->err[k]) {
            kinds++;
            if (best < 0 || r->err[k] > r->err[best])
                best = k;
        }
    if (best < 0) {
        snprintf(buf, len, "0");
        return;
    }
    const char *nm = lab_err_name(best);
    if (nm[0] == 'E')
        nm++;
    if (kinds > 1)
        snprintf(buf, len, "%s %llu +%d", nm, (unsigned long long)r->err[best], kinds - 1);
    else
        snprintf(buf, len, "%s %llu", nm, (unsigned long long)r->err[best]);
}

static void print_table(struct run_res *res, size_t n)
{
    printf("%-15s %6s %6s %6s %-15s %-12s %s\n", "RUN", "CONN/S", "REQ/S", "P99ms", "ERRORS",
           "PEAK TW", "1ST EANA");
    for (size_t i = 0; i < n; i++) {
        struct run_res *r = &res[i];
        if (r->status != RUN_OK) {
            printf("%-15s %s: %.58s\n", r->cfg->name, r->status == RUN_SKIPPED ? "skipped" : "ERROR",
                   r->reason);
            continue;
        }
        char ec[40], tw[40], fe[48];
        errors_cell(r, ec, sizeof(ec));
        if (r->n_hosts > 2)
            snprintf(tw, sizeof(tw), "%u/%u/%u", r->tw_peak[0], r->tw_peak[1], r->tw_peak[2]);
        else
            snprintf(tw, sizeof(tw), "%u/%u/-", r->tw_peak[0], r->tw_peak[1]);
        if (r->first_eana_s >= 0)
            snprintf(fe, sizeof(fe), "%.2fs #%llu", r->first_eana_s, (unsigned long long)r->eana_after);
        else if (r->first_einuse_s >= 0)
            snprintf(fe, sizeof(fe), "inuse %.2fs #%llu", r->first_einuse_s,
                     (unsigned long long)r->einuse_after);
        else
            snprintf(fe, sizeof(fe), "never");
        double b = r->busy > 0 ? r->busy : 1;
        printf("%-15s %6.0f %6.0f %6.2f %-15.15s %-12s %s\n", r->cfg->name,
               (double)r->connected / b, (double)r->requests / b, (double)r->rl[2] / 1000.0, ec, tw, fe);
    }
    printf("\nPEAK TW: most TIME_WAIT sockets seen on the client/server/proxy host\n"
           "(sampled every 100 ms).  1ST EANA: first EADDRNOTAVAIL, seconds into the\n"
           "run and #connections before it (\"inuse\": the first EADDRINUSE).\n");
}

static int write_csv(struct run_res *res, size_t n)
{
    if (mkdir(G.csv_dir, 0755) < 0 && errno != EEXIST) {
        twx_err("lab: cannot create %s: %s", G.csv_dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct run_res *r = &res[i];
        if (r->status != RUN_OK)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.csv", G.csv_dir, r->cfg->name);
        FILE *f = fopen(path, "we");
        if (!f) {
            twx_err("lab: cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        fprintf(f, "t_s,attempted,connections,requests");
        for (int k = 0; k < LAB_E_MAX; k++)
            fprintf(f, ",%s", lab_err_name(k));
        fprintf(f, ",tw_client,tw_server,tw_proxy\n");
        for (size_t s = 0; s < r->ns; s++) {
            const struct sample *sm = &r->s[s];
            fprintf(f, "%.1f,%llu,%llu,%llu", sm->t_ms / 1000.0, (unsigned long long)sm->attempted,
                    (unsigned long long)sm->connected, (unsigned long long)sm->requests);
            for (int k = 0; k < LAB_E_MAX; k++)
                fprintf(f, ",%llu", (unsigned long long)sm->err[k]);
            fprintf(f, ",%u,%u,", sm->tw[0], sm->tw[1]);
            if (r->n_hosts > 2)
                fprintf(f, "%u", sm->tw[2]);
            fputc('\n', f);
        }
        if (fclose(f) != 0) {
            twx_err("lab: cannot write %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int write_plot(struct run_res *res, size_t n)
{
    const char *ext = strrchr(G.plot, '.');
    bool svg = ext && !strcmp(ext, ".svg");
    if (access("/usr/bin/gnuplot", X_OK) != 0) {
        twx_warn("lab: gnuplot is not installed: no plot written");
        return 0;
    }
    for (const char *p = G.plot; *p; p++)
        if (*p == '\'' || *p == '"' || *p == '\n') {
            twx_err("lab: --plot: file name must not contain quotes or newlines");
            return -1;
        }
    FILE *g = popen("gnuplot", "w");
    if (!g) {
        twx_err("lab: cannot run gnuplot: %s", strerror(errno));
        return -1;
    }
    fprintf(g, "set terminal %s size 1000,700\nset output '%s'\n",
            svg ? "svg" : "pngcairo", G.plot);
    fprintf(g, "set multiplot layout 2,1 title 'twkit lab'\nset key outside right\n"
               "set xlabel 'seconds'\n");
    for (int panel = 0; panel < 2; panel++) {
        fprintf(g, "set ylabel '%s'\nplot ", panel ? "errors (cumulative)" : "TIME_WAIT (all hosts)");
        bool first = true;
        for (size_t i = 0; i < n; i++)
            if (res[i].status == RUN_OK) {
                fprintf(g, "%s'-' using 1:2 with lines title '%s'", first ? "" : ", ", res[i].cfg->name);
                first = false;
            }
        if (first)
            fprintf(g, "0 notitle");
        fputc('\n', g);
        for (size_t i = 0; i < n; i++) {
            struct run_res *r = &res[i];
            if (r->status != RUN_OK)
                continue;
            for (size_t s = 0; s < r->ns; s++) {
                const struct sample *sm = &r->s[s];
                uint64_t v = 0;
                if (panel) {
                    for (int k = 0; k < LAB_E_MAX; k++)
                        v += sm->err[k];
                } else {
                    for (int h = 0; h < r->n_hosts; h++)
                        v += sm->tw[h];
                }
                fprintf(g, "%.1f %llu\n", sm->t_ms / 1000.0, (unsigned long long)v);
            }
            fprintf(g, "e\n");
        }
    }
    fprintf(g, "unset multiplot\n");
    int st = pclose(g);
    if (st != 0) {
        twx_err("lab: gnuplot failed (status %d)", st);
        return -1;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: twkit lab [SCENARIO...] [OPTIONS]\n"
            "       twkit lab backend|load [OPTIONS]   (the lab's own programs)\n"
            "\n"
            "Reproduce \"Cannot assign requested address\" (EADDRNOTAVAIL) in private\n"
            "network namespaces and measure each fix on the same load.  Runs as root,\n"
            "or without root where unprivileged user namespaces are allowed.\n"
            "\n"
            "Scenarios (default: all):\n"
            "  short         the incident: short connections, client closes, defaults\n"
            "                (stops at the first EADDRNOTAVAIL)\n"
            "  server-close  the server closes first: TIME_WAIT moves to the server\n"
            "  tw-reuse      tcp_tw_reuse=1 on the client host\n"
            "  wide-range    ip_local_port_range 1024-65535 on the client host\n"
            "  more-sources  --sources client addresses (stops at exhaustion)\n"
            "  bind-no-port  bind() before connect, without and with\n"
            "                IP_BIND_ADDRESS_NO_PORT, two server ports\n"
            "  keepalive     keep-alive connections\n"
            "  pool          reuse through libtwkit's connection pool\n"
            "  rst           SO_LINGER 0: no TIME_WAIT, resets (the anti-pattern)\n"
            "  nginx         client -> nginx -> 2 backends, upstream keepalive off/on\n"
            "\n"
            "Options:\n"
            "  -d, --duration S        seconds per run (default 10)\n"
            "  -r, --rate R            offered requests/s, open loop (default 4000;\n"
            "                          0 = closed loop at full speed)\n"
            "  -C, --concurrency N     connections at once at most (default 256)\n"
            "  -p, --port-range LO-HI  ip_local_port_range of the client host\n"
            "                          (default: the kernel's, 32768-60999)\n"
            "      --sources N         client addresses in more-sources (default 4)\n"
            "  -t, --threads N         threads of the load generator and backend\n"
            "                          (default: cores)\n"
            "      --json              results as JSON (docs/lab-json.md)\n"
            "      --csv DIR           time series, one DIR/RUN.csv per run\n"
            "      --plot FILE         TIME_WAIT and errors over time (.png or .svg;\n"
            "                          needs gnuplot)\n"
            "      --list              list the scenarios and exit\n"
            "  -h, --help              this help\n"
            "\n"
            "Examples:\n"
            "  twkit lab                                 every scenario, defaults\n"
            "  twkit lab short tw-reuse -p 40000-40999   the incident and one fix\n"
            "  twkit lab nginx --json | jq '.runs[].hosts.proxy'\n"
            "  twkit lab -d 5 --csv out --plot out/tw.png\n"
            "  twkit lab backend --listen 127.0.0.1:8080\n"
            "  twkit lab load -c 127.0.0.1:8080 -C 64 -d 5\n"
            "\n"
            "Exit status: 0 every run ended, 1 a run failed, 2 usage error.\n"
            "See twkit-lab(1).\n");
}

static int parse_range(const char *s, int *lo, int *hi)
{
    uint16_t a, b;
    if (tw_parse_port_range(s, &a, &b) < 0 || a < 1 || b < a)
        return -1;
    *lo = a;
    *hi = b;
    return 0;
}

static int cmd_lab(int argc, char **argv);

/* Interim descriptors: the lab's option tables move into twx_opt tables next. */
const struct twx_cmd lab_load_command = {
    .name = "lab load", .synopsis = "--connect ADDR:PORT [OPTIONS]",
    .summary = "the lab's HTTP/1.1 load generator", .man = "twkit-lab", .run = lab_load_main,
};
const struct twx_cmd lab_backend_command = {
    .name = "lab backend", .synopsis = "[OPTIONS]",
    .summary = "the lab's HTTP/1.1 backend", .man = "twkit-lab", .run = lab_backend_main,
};
static const struct twx_cmd *const lab_subs[] = {&lab_load_command, &lab_backend_command, NULL};
const struct twx_cmd lab_command = {
    .name = "lab", .synopsis = "[SCENARIO...] [OPTIONS]",
    .summary = "reproduce port exhaustion in namespaces and measure fixes",
    .man = "twkit-lab", .run = cmd_lab, .subs = lab_subs,
};

static int cmd_lab(int argc, char **argv)
{

    enum { O_JSON = 256, O_CSV, O_PLOT, O_SOURCES, O_LIST };
    static const struct option opts[] = {
        {"duration", required_argument, 0, 'd'}, {"rate", required_argument, 0, 'r'},
        {"concurrency", required_argument, 0, 'C'}, {"port-range", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'},   {"sources", required_argument, 0, O_SOURCES},
        {"json", no_argument, 0, O_JSON},         {"csv", required_argument, 0, O_CSV},
        {"plot", required_argument, 0, O_PLOT},   {"list", no_argument, 0, O_LIST},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0},
    };
    memset(&G, 0, sizeof(G));
    G.duration = 10;
    G.rate = 4000;
    G.conc = 256;
    G.sources = 4;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    G.threads = nc > 0 ? (unsigned)nc : 1;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "d:r:C:p:t:h", opts, NULL)) != -1) {
        char *e;
        switch (o) {
        case 'd':
            errno = 0;
            G.duration = strtod(optarg, &e);
            if (errno || e == optarg || *e || !(G.duration >= 0.1 && G.duration <= 3600))
                return twx_usage_err("lab", "bad --duration '%s': want 0.1-3600 seconds", optarg);
            break;
        case 'r':
            errno = 0;
            G.rate = strtod(optarg, &e);
            if (errno || e == optarg || *e || !(G.rate >= 0 && G.rate <= 1e7))
                return twx_usage_err("lab", "bad --rate '%s': want 0 (closed loop) to 10000000 "
                                      "requests/s", optarg);
            break;
        case 'C': {
            uint64_t v;
            if (tw_parse_u64(optarg, 1, 20000, &v))
                return twx_usage_err("lab", "bad --concurrency '%s': want 1-20000", optarg);
            G.conc = (unsigned)v;
            break;
        }
        case 't': {
            uint64_t v;
            if (tw_parse_u64(optarg, 1, 64, &v))
                return twx_usage_err("lab", "bad --threads '%s': want 1-64", optarg);
            G.threads = (unsigned)v;
            break;
        }
        case O_SOURCES: {
            uint64_t v;
            if (tw_parse_u64(optarg, 1, 32, &v))
                return twx_usage_err("lab", "bad --sources '%s': want 1-32", optarg);
            G.sources = (unsigned)v;
            break;
        }
        case 'p':
            if (parse_range(optarg, &G.port_lo, &G.port_hi) < 0 || G.port_lo < 1024 ||
                G.port_hi - G.port_lo + 1 < 8)
                return twx_usage_err("lab", "bad --port-range '%s': want LO-HI within "
                                      "1024-65535, at least 8 ports", optarg);
            break;
        case O_JSON: G.json = true; break;
        case O_CSV: G.csv_dir = optarg; break;
        case O_PLOT: {
            const char *x = strrchr(optarg, '.');
            if (!x || (strcmp(x, ".png") && strcmp(x, ".svg")))
                return twx_usage_err("lab", "bad --plot '%s': want FILE.png or FILE.svg", optarg);
            G.plot = optarg;
            break;
        }
        case O_LIST:
            for (size_t i = 0; i < N_RUNS; i++)
                printf("%-13s %-16s %s\n", RUNS[i].scenario, RUNS[i].name, RUNS[i].what);
            return TW_EXIT_OK;
        case 'h':
            usage(stdout);
            return TW_EXIT_OK;
        default:
            return twx_usage_err("lab", "unknown option");
        }
    }
    bool want[N_SCEN] = {0};
    int nwant = 0;
    for (int i = optind; i < argc; i++) {
        size_t k;
        for (k = 0; k < N_SCEN; k++)
            if (!strcmp(argv[i], SCENARIOS[k]))
                break;
        if (k == N_SCEN && strcmp(argv[i], "all"))
            return twx_usage_err("lab", "unknown scenario '%s' (try 'twkit lab --list')", argv[i]);
        if (k == N_SCEN) {
            for (k = 0; k < N_SCEN; k++)
                want[k] = true;
        } else {
            want[k] = true;
        }
        nwant++;
    }
    if (!nwant)
        for (size_t k = 0; k < N_SCEN; k++)
            want[k] = true;

    char err[256];
    if (twx_topo_global_init(err, sizeof(err)) < 0) {
        twx_err("lab: %s", err);
        return TW_EXIT_RUNTIME;
    }
    if (geteuid() != 0) {
        g_real_root = false;
        int e = twx_topo_enter_userns();
        if (e < 0) {
            twx_err("lab: needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), or unprivileged user "
                     "namespaces: %s", strerror(-e));
            return TW_EXIT_RUNTIME;
        }
    }
    G.nginx_bin = find_nginx();
    G.progress = !G.json && isatty(2);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    g_sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    struct run_res *res = calloc(N_RUNS, sizeof(*res));
    if (!res)
        return TW_EXIT_RUNTIME;
    size_t n = 0;
    int total = 0;
    for (size_t i = 0; i < N_RUNS; i++)
        for (size_t k = 0; k < N_SCEN; k++)
            if (want[k] && !strcmp(RUNS[i].scenario, SCENARIOS[k]))
                total++;
    int rc = TW_EXIT_OK;
    for (size_t i = 0; i < N_RUNS && !g_interrupted; i++) {
        size_t k;
        for (k = 0; k < N_SCEN; k++)
            if (want[k] && !strcmp(RUNS[i].scenario, SCENARIOS[k]))
                break;
        if (k == N_SCEN)
            continue;
        struct run_res *r = &res[n++];
        run_one(&RUNS[i], r, (int)n, total);
        if (r->status == RUN_ERROR) {
            rc = TW_EXIT_RUNTIME;
            if (!g_interrupted)
                twx_err("lab: %s: %s", RUNS[i].name, r->reason);
        } else if (r->status == RUN_SKIPPED && !G.json) {
            twx_warn("lab: %s skipped: %s", RUNS[i].name, r->reason);
        }
    }
    if (g_interrupted) {
        twx_err("lab: interrupted; every namespace and process was removed");
        for (size_t i = 0; i < n; i++)
            free(res[i].s);
        free(res);
        return 128 + (int)g_interrupted;
    }
    if (G.json)
        print_json(res, n);
    else
        print_table(res, n);
    if (G.csv_dir && write_csv(res, n) < 0)
        rc = TW_EXIT_RUNTIME;
    if (G.plot && write_plot(res, n) < 0)
        rc = TW_EXIT_RUNTIME;
    for (size_t i = 0; i < n; i++)
        free(res[i].s);
    free(res);
    return rc;
}
