/*
 * run.c — one run of the lab: build its hosts (twx/topo: a client and a
 * server namespace, plus a proxy for nginx, each with the kernel's default
 * sysctls except what the scenario changes), start the backends and nginx,
 * open a sampler on every host (twx/sample), start the load generator, and
 * every 100 ms take one row of the time series; then stop everything, tear
 * the hosts down and keep the numbers.
 *
 * One row is taken at one moment: the lab counts the TIME_WAIT sockets and
 * reads the kernel counters of every host, then asks the load generator
 * for its counters (a "snapshot" message, docs/lab-ipc.md) and pairs its
 * answer with that sample.  So a row's connections include every
 * connection whose TIME_WAIT it counts, and the two readings are a few
 * milliseconds apart (the row's skew_ms says how many).  The first sample
 * is taken before the load generator starts (the counters' baseline); the
 * last one 150 ms after it ended, when the last TIME_WAIT has formed.
 *
 * Readiness is checked without touching the hosts' counters: the backends
 * say "ready" themselves, and nginx is waited for by looking for its
 * listening socket with sock_diag (a probe connection would leave a
 * TIME_WAIT on the client that the kernel's TW counter delta would not
 * show).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lab/lab.h"
#include "tool.h"
#include "twx/clock.h"
#include "twx/sample.h"
#include "twx/topo.h"

#define TICK_NS 100000000ull   /* one row every 100 ms */
#define SETTLE_NS 150000000ull /* after the load: until the last TIME_WAIT formed */

int lab_sigfd = -1;
volatile int lab_interrupted;

struct run_ctx {
    struct lab_run *r;
    struct twx_topo t;
    struct twx_sampler smp[LAB_HOSTS];
    struct twx_sample base[LAB_HOSTS], last[LAB_HOSTS];
    uint64_t seq;
    bool pending;               /* a snapshot was asked for, no answer yet */
    uint64_t pending_ns;        /* when its TIME_WAIT sample began */
    uint32_t pending_tw[LAB_HOSTS];
    uint64_t load_t0;           /* the load's start, in our clock; 0: unknown */
    FILE *load_in;              /* the load generator's stdin */
    bool have_result;
    char err[512];
    bool failed;
};

static void fail(struct run_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run_ctx *x, const char *fmt, ...)
{
    if (x->failed)
        return;
    x->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof(x->err), fmt, ap);
    va_end(ap);
}

/* Sample every host; peaks are kept from every sample, paired or not. */
static int sample_all(struct run_ctx *x, struct twx_sample *out)
{
    struct lab_run *r = x->r;
    for (int h = 0; h < r->n_hosts; h++) {
        int e = twx_sampler_take(&x->smp[h], &out[h]);
        if (e < 0) {
            fail(x, "cannot sample the %s host: %s", lab_host_name(h), strerror(-e));
            return -1;
        }
        if (out[h].tw > r->tw_peak[h])
            r->tw_peak[h] = out[h].tw;
        if (h == LAB_PROXY && out[h].tw_leg > r->leg_peak)
            r->leg_peak = out[h].tw_leg;
    }
    return 0;
}

/* The last sample: the hosts may still be closing what the load left
 * (nginx's upstream connections under a loaded machine), and a TIME_WAIT
 * born between the socket dump and the counters would pair one count with
 * the other's successor.  Sample until two samples 50 ms apart agree on
 * every host's TIME_WAIT count and TW counter (at most 2 s). */
static int sample_settled(struct run_ctx *x, struct twx_sample *out)
{
    struct lab_run *r = x->r;
    struct twx_sample prev[LAB_HOSTS];
    if (sample_all(x, prev) < 0)
        return -1;
    for (int i = 0; i < 40; i++) {
        twx_sleep_ns(50 * 1000000ull);
        if (sample_all(x, out) < 0)
            return -1;
        bool same = true;
        for (int h = 0; h < r->n_hosts; h++)
            if (out[h].tw != prev[h].tw || out[h].c.v[TW_C_TW] != prev[h].c.v[TW_C_TW])
                same = false;
        if (same)
            return 0;
        memcpy(prev, out, sizeof(prev));
    }
    return 0;
}

/* ---- messages from the programs -------------------------------------------- */

struct be_ctx {
    struct run_ctx *x;
    bool ready, done;
};

static int on_backend_line(char *line, size_t len, void *arg)
{
    struct be_ctx *b = arg;
    struct lab_msg m;
    char err[256];
    if (lab_msg_parse(line, len, &m, err, sizeof(err)) < 0) {
        fail(b->x, "the backend sent a malformed message: %s", err);
        return -1;
    }
    if (m.type == LAB_MSG_READY) {
        b->ready = true;
    } else if (m.type == LAB_MSG_BACKEND) {
        struct lab_be_counts *t = &b->x->r->be;
        t->accepted += m.be.accepted;
        t->requests += m.be.requests;
        t->resets += m.be.resets;
        t->bad_requests += m.be.bad_requests;
        t->peer_closed += m.be.peer_closed;
        t->server_closed += m.be.server_closed;
        b->x->r->have_be = true;
        b->done = true;
    } else {
        fail(b->x, "the backend sent an unexpected message");
    }
    lab_msg_release(&m);
    return b->x->failed ? -1 : 0;
}

static int on_load_line(char *line, size_t len, void *arg)
{
    struct run_ctx *x = arg;
    struct lab_run *r = x->r;
    struct lab_msg m;
    char err[256];
    if (lab_msg_parse(line, len, &m, err, sizeof(err)) < 0) {
        fail(x, "the load generator sent a malformed message: %s", err);
        return -1;
    }
    if (m.type == LAB_MSG_COUNTERS) {
        if (!x->pending || m.seq != x->seq) {
            fail(x, "the load generator answered snapshot %llu, not the one asked for",
                 (unsigned long long)m.seq);
        } else {
            x->pending = false;
            if (!x->load_t0)
                x->load_t0 = m.mono_ns - (uint64_t)(m.t_s * 1e9);
            struct lab_row *row = lab_run_add_row(r);
            if (!row) {
                fail(x, "out of memory");
            } else {
                row->t = m.t_s;
                row->attempted = m.counts.attempted;
                row->connected = m.counts.connected;
                row->requests = m.counts.requests;
                memcpy(row->err, m.counts.err, sizeof(m.counts.err));
                memcpy(row->tw, x->pending_tw, sizeof(row->tw));
                row->skew_ms = (double)(int64_t)(m.mono_ns - x->pending_ns) / 1e6;
            }
        }
    } else if (m.type == LAB_MSG_RESULT) {
        free(r->load.http_reason);
        r->load = m.res;
        m.res.http_reason = NULL; /* moved */
        x->have_result = true;
    } else {
        fail(x, "the load generator sent an unexpected message");
    }
    lab_msg_release(&m);
    return x->failed ? -1 : 0;
}

/* Read a backend's messages until it is ready (or done), or timeout. */
static int wait_backend(int fd, struct lab_lines *lb, struct be_ctx *b, bool for_done,
                        int timeout_ms)
{
    uint64_t end = twx_now_ns() + (uint64_t)timeout_ms * 1000000;
    while (!(for_done ? b->done : b->ready) && !b->x->failed) {
        int64_t left = (int64_t)(end - twx_now_ns()) / 1000000;
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        char err[256];
        int r = lab_lines_read(fd, lb, on_backend_line, b, err, sizeof(err));
        if (r == -1)
            fail(b->x, "the backend's output: %s", err);
        if (r <= 0)
            return -EPIPE;
    }
    return b->x->failed ? -EPROTO : 0;
}

/* ---- progress ---------------------------------------------------------------- */

static void progress(const struct lab_run *r, int idx, int total, uint64_t t0)
{
    if (!lab_opt.progress)
        return;
    const struct lab_row *s = r->n_rows ? &r->rows[r->n_rows - 1] : NULL;
    uint64_t e = 0;
    for (int k = 0; s && k < r->n_kinds; k++)
        e += s->err[k];
    fprintf(stderr, "\r\033[K[%d/%d] %-15s %5.1fs %8llu conn %8llu req %6llu err  TW c:%u s:%u",
            idx, total, r->name, (double)(twx_now_ns() - t0) / 1e9,
            (unsigned long long)(s ? s->connected : 0), (unsigned long long)(s ? s->requests : 0),
            (unsigned long long)e, s ? s->tw[0] : 0, s ? s->tw[1] : 0);
    if (r->n_hosts > 2)
        fprintf(stderr, " p:%u", s ? s->tw[2] : 0);
    fflush(stderr);
}

/* ---- one run ----------------------------------------------------------------------- */

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

static void plan(struct run_ctx *x, const struct lab_scenario *sc)
{
    struct twx_topo *t = &x->t;
    struct lab_run *r = x->r;
    t->n_hosts = r->n_hosts;
    t->host[LAB_CLIENT].name = "client";
    t->host[LAB_SERVER].name = "server";
    if (sc->nginx) {
        t->host[LAB_PROXY].name = "proxy";
        t->host[LAB_PROXY].private_tmp = true;
        t->n_links = 2;
        t->link[0] = (struct twx_topo_link){LAB_CLIENT, LAB_PROXY, 1};
        t->link[1] = (struct twx_topo_link){LAB_PROXY, LAB_SERVER, 2};
    } else {
        t->n_links = 1;
        t->link[0] = (struct twx_topo_link){LAB_CLIENT, LAB_SERVER, 0};
        if (sc->sources)
            t->host[LAB_CLIENT].n_extra_addrs = (int)lab_opt.sources - 1;
    }
    struct twx_topo_host *cl = &t->host[LAB_CLIENT];
    r->port_lo = lab_opt.port_lo;
    r->port_hi = lab_opt.port_hi;
    if (sc->wide_range) {
        r->port_lo = 1024;
        r->port_hi = 65535;
    }
    if (r->port_lo)
        add_sysctl(cl, "net.ipv4.ip_local_port_range", "%d %d", r->port_lo, r->port_hi);
    if (sc->sysctl)
        add_sysctl(cl, sc->sysctl, "%s", sc->sysctl_val);
    r->n_sources = sc->sources ? (int)lab_opt.sources : sc->one_source ? 1 : 0;
}

static int start_servers(struct run_ctx *x, const struct lab_scenario *sc, int *be_idx,
                         struct lab_lines *lbs, struct be_ctx *bctx)
{
    struct twx_topo *t = &x->t;
    int nbe = sc->nginx ? 2 : 1;
    for (int b = 0; b < nbe; b++) {
        char *av[16], st[8][48];
        lab_backend_argv(sc, b, av, st);
        be_idx[b] = twx_topo_spawn(t, LAB_SERVER, av, "backend", NULL, NULL);
        if (be_idx[b] < 0) {
            fail(x, "cannot start the backend: %s", strerror(-be_idx[b]));
            return -1;
        }
        close(t->proc[be_idx[b]].in);
        t->proc[be_idx[b]].in = -1;
        if (wait_backend(t->proc[be_idx[b]].out, &lbs[b], &bctx[b], false, 5000) < 0) {
            fail(x, "the backend did not start");
            return -1;
        }
    }
    if (sc->nginx) {
        static char conf[4096];
        lab_nginx_conf(conf, sizeof(conf), sc->nginx_keepalive, lab_opt.real_root,
                       lab_opt.threads);
        char *av[] = {(char *)lab_opt.nginx_bin, "-e", "/tmp/twkit-nginx/error.log", "-p",
                      "/tmp/twkit-nginx", "-c", "/tmp/twkit-nginx/nginx.conf", "-g",
                      "daemon off;", NULL};
        int ng = twx_topo_spawn(t, LAB_PROXY, av, "nginx", "/tmp/twkit-nginx/nginx.conf", conf);
        if (ng >= 0) {
            close(t->proc[ng].in);
            t->proc[ng].in = -1;
        }
        if (ng < 0 || twx_topo_wait_listen(t, LAB_PROXY, 80, 5000) < 0) {
            fail(x, "nginx did not start in the proxy host");
            return -1;
        }
    }
    return nbe;
}

static int open_samplers(struct run_ctx *x, const struct lab_scenario *sc)
{
    for (int h = 0; h < x->r->n_hosts; h++) {
        char err[256];
        uint16_t lo = sc->nginx && h == LAB_PROXY ? 8001 : 0;
        uint16_t hi = sc->nginx && h == LAB_PROXY ? 8002 : 0;
        int e = twx_sampler_open(&x->smp[h], x->t.host[h].netns_fd, x->t.host[h].pid, lo, hi,
                                 err, sizeof(err));
        if (e < 0) {
            fail(x, "%s host: %s", lab_host_name(h), err);
            return -1;
        }
    }
    return 0;
}

/* Ask the load generator for its counters, to pair with sample s. */
static void ask(struct run_ctx *x, const struct twx_sample *s)
{
    x->pending = true;
    x->seq++;
    x->pending_ns = s[0].t_ns;
    for (int h = 0; h < x->r->n_hosts; h++)
        x->pending_tw[h] = s[h].tw;
    /* EPIPE once the load has ended is fine: SIGPIPE is ignored */
    lab_msg_snapshot(x->load_in, x->seq);
}

/* One row: sample the hosts, then ask for the load's counters. */
static void tick(struct run_ctx *x)
{
    struct twx_sample s[LAB_HOSTS];
    if (sample_all(x, s) == 0)
        ask(x, s);
}

/* Feed the load generator and collect rows until it exits. */
static void drive_load(struct run_ctx *x, int lg, int idx, int total)
{
    struct twx_topo_proc *p = &x->t.proc[lg];
    struct lab_lines *lb = calloc(1, sizeof(*lb));
    if (!lb) {
        fail(x, "out of memory");
        return;
    }
    uint64_t start = twx_now_ns(), next = start;
    uint64_t hard = start + (uint64_t)((lab_opt.duration + 15) * 1e9);
    bool open = true;
    while (open && !x->failed) {
        uint64_t now = twx_now_ns();
        if (now >= next && !x->pending) { /* a late answer delays the row, never skips it */
            tick(x);
            next += TICK_NS;
            if (next < now)
                next = now + TICK_NS;
        }
        int wait = (int)((next > now ? next - now : 0) / 1000000) + 1;
        struct pollfd pf[2] = {{.fd = p->out, .events = POLLIN},
                               {.fd = lab_sigfd, .events = POLLIN}};
        int n = poll(pf, 2, wait);
        if (n < 0 && errno != EINTR) {
            fail(x, "poll: %s", strerror(errno));
            break;
        }
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(lab_sigfd, &si, sizeof(si)) == sizeof(si))
                lab_interrupted = (int)si.ssi_signo;
            fail(x, "interrupted by signal %d", lab_interrupted);
            break;
        }
        if (pf[0].revents & (POLLIN | POLLHUP)) {
            char err[256];
            int r = lab_lines_read(p->out, lb, on_load_line, x, err, sizeof(err));
            if (r == -1)
                fail(x, "the load generator's output: %s", err);
            if (r <= 0)
                open = false;
        }
        progress(x->r, idx, total, start);
        if (twx_now_ns() > hard)
            fail(x, "the run did not end in time");
    }
    free(lb);
}

static void finish_counters(struct run_ctx *x, const struct twx_sample *end)
{
    struct lab_run *r = x->r;
    for (int h = 0; h < r->n_hosts; h++) {
        r->tw_end[h] = end[h].tw;
        for (int k = 0; k < TW_C_MAX; k++) {
            r->have_ctr[h][k] = end[h].c.have[k] && x->base[h].c.have[k];
            r->ctr[h][k] = end[h].c.v[k] >= x->base[h].c.v[k] ? end[h].c.v[k] - x->base[h].c.v[k]
                                                              : 0;
        }
    }
}

void lab_run(const struct lab_scenario *sc, struct lab_run *r, int idx, int total)
{
    struct run_ctx *x = calloc(1, sizeof(*x));
    struct lab_lines *lbs = calloc(2, sizeof(*lbs));
    lab_run_init(r, sc);
    if (!x || !lbs) {
        r->status = LAB_RUN_ERROR;
        lab_run_reason(r, "out of memory");
        free(x);
        free(lbs);
        return;
    }
    x->r = r;
    if (sc->nginx && !lab_opt.nginx_bin) {
        r->status = LAB_RUN_SKIPPED;
        lab_run_reason(r, "nginx is not installed (scripts/install-deps installs it)");
        free(x);
        free(lbs);
        return;
    }
    plan(x, sc);
    struct be_ctx bctx[2] = {{x, false, false}, {x, false, false}};
    int be_idx[2] = {-1, -1}, nbe = 0, lg = -1;
    char err[256] = "";
    if (twx_topo_create(&x->t, err, sizeof(err)) < 0)
        fail(x, "%s", err);
    if (!x->failed)
        nbe = start_servers(x, sc, be_idx, lbs, bctx);
    if (!x->failed)
        open_samplers(x, sc);
    /* The baseline: every counter delta is from here. */
    if (!x->failed && sample_all(x, x->base) == 0) {
        char *av[48], st[48][48];
        lab_load_argv(sc, av, st);
        lg = twx_topo_spawn(&x->t, LAB_CLIENT, av, "load", NULL, NULL);
        if (lg < 0)
            fail(x, "cannot start the load generator: %s", strerror(-lg));
    }
    if (!x->failed) {
        x->load_in = fdopen(x->t.proc[lg].in, "w");
        if (!x->load_in)
            fail(x, "cannot write to the load generator: %s", strerror(errno));
        else
            x->t.proc[lg].in = -1; /* the FILE owns it now */
    }
    if (!x->failed) {
        /* the first row pairs the baseline with the load's first counters */
        ask(x, x->base);
        drive_load(x, lg, idx, total);
    }
    if (x->load_in) {
        fclose(x->load_in); /* the load generator reads EOF */
        x->load_in = NULL;
    }
    if (!x->failed) {
        int st = twx_topo_wait(&x->t, lg, 5000);
        if (st != 0 || !x->have_result)
            fail(x, "the load generator failed (status %d)", st);
    }
    if (!x->failed) {
        /* the last row: 150 ms after the load, with its final counts */
        twx_sleep_ns(SETTLE_NS);
        struct twx_sample end[LAB_HOSTS];
        if (sample_settled(x, end) == 0) {
            finish_counters(x, end);
            struct lab_row *row = lab_run_add_row(r);
            if (row) {
                uint64_t t0 = x->load_t0 ? x->load_t0 : end[0].t_ns;
                row->t = (double)(int64_t)(end[0].t_ns - t0) / 1e9;
                row->attempted = r->load.n.attempted;
                row->connected = r->load.n.connected;
                row->requests = r->load.n.requests;
                memcpy(row->err, r->load.n.err, sizeof(r->load.n.err));
                for (int h = 0; h < r->n_hosts; h++)
                    row->tw[h] = end[h].tw;
            }
        }
    }
    /* backend counters: SIGTERM, read the "backend" message */
    for (int b = 0; b < nbe && !x->failed; b++) {
        twx_topo_signal(&x->t, be_idx[b], SIGTERM);
        wait_backend(x->t.proc[be_idx[b]].out, &lbs[b], &bctx[b], true, 2000);
    }
    if (!x->failed) {
        r->status = LAB_RUN_OK;
        lab_run_finish_load(r);
        const struct twx_sampler *op = &x->smp[sc->nginx ? LAB_PROXY : LAB_CLIENT];
        lab_capacity(r, op->kernel, x->smp[LAB_SERVER].kernel);
    } else {
        r->status = LAB_RUN_ERROR;
        lab_run_reason(r, "%s", x->err);
    }
    for (int h = 0; h < LAB_HOSTS; h++)
        twx_sampler_close(&x->smp[h]);
    twx_topo_destroy(&x->t);
    if (lab_opt.progress)
        fprintf(stderr, "\r\033[K");
    free(lbs);
    free(x);
}
