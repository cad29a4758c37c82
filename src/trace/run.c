/*
 * run.c — the loop of `twkit trace`: every --interval, drain the kernel's
 * rows, read the births and the namespaces' TcpExtTW counters, show the
 * interval; at the end (--duration, SIGINT, SIGTERM) detach, drain what is
 * left and show the totals.
 *
 * The cross-check.  The kernel increments TcpExtTW (or TWKilled) in the
 * same function that arms the minisock's timer, so trace's birth count of
 * a namespace must equal the counters' delta.  A reading takes the
 * counters, then trace's births, then the counters again, and retries while
 * they differ, so that no birth falls between the two sides; a reading
 * that never settles (a namespace busy at that instant) is marked so.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <twkit/twkit.h>

#include "../tool.h"
#include "run.h"
#include "twx/clock.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* TcpExtTW and TWKilled of the namespace the thread is in. */
static int read_tw(uint64_t *tw, uint64_t *killed)
{
    struct tw_counters c;
    int e = tw_counters_read(&c, NULL);
    if (e)
        return e;
    *tw = c.have[TW_C_TW] ? c.v[TW_C_TW] : 0;
    *killed = c.have[TW_C_TW_KILLED] ? c.v[TW_C_TW_KILLED] : 0;
    return 0;
}

/* One settled reading of a watched namespace (see the top of the file). */
static int read_ns(struct trace_run *r, struct trace_watch *w, struct trace_reading *out)
{
    int e;
    if (w->enter && (e = tw_netns_enter(&w->ns)))
        return e;
    out->settled = false;
    for (int i = 0; i < 5 && !out->settled; i++) {
        uint64_t tw2, k2;
        struct trace_births b;
        if ((e = read_tw(&out->tw, &out->killed)) ||
            (e = trace_probe_births(r->probe, w->inode, &b)) || (e = read_tw(&tw2, &k2)))
            break;
        out->births = b.tw + b.fw2;
        out->settled = tw2 == out->tw && k2 == out->killed;
        out->tw = tw2;
        out->killed = k2;
    }
    if (w->enter) {
        int e2 = tw_netns_enter(&r->home);
        if (!e && e2)
            e = e2;
    }
    return e;
}

static int read_all(struct trace_run *r, bool baseline)
{
    for (size_t i = 0; i < r->nwatch; i++) {
        struct trace_watch *w = &r->watch[i];
        struct trace_reading now;
        int e = read_ns(r, w, &now);
        if (e) {
            if (e == -EPERM || e == -EACCES)
                return tool_netns_err(w->ns.label, e, true);
            twx_err("reading the counters of namespace %s: %s", w->ns.label, tw_strerror(e));
            return TW_EXIT_RUNTIME;
        }
        if (baseline)
            w->start = w->last = now;
        w->prev = w->last;
        w->last = now;
    }
    return 0;
}

/* Fill checks[] with the deltas since the last reading (or the start). */
static void fill_checks(struct trace_run *r, bool total)
{
    for (size_t i = 0; i < r->nwatch; i++) {
        const struct trace_watch *w = &r->watch[i];
        const struct trace_reading *from = total ? &w->start : &w->prev;
        struct trace_ns_check *c = &r->checks[i];
        snprintf(c->label, sizeof(c->label), "%s", w->ns.label);
        c->netns = w->inode;
        c->births = w->last.births - from->births;
        c->tw_delta = w->last.tw - from->tw;
        c->killed_delta = w->last.killed - from->killed;
        c->settled = w->last.settled && from->settled;
    }
}

static void births_now(struct trace_run *r, struct trace_births *b)
{
    if (trace_probe_births(r->probe, r->cfg.netns, b) != 0)
        memset(b, 0, sizeof(*b));
}

static void show(struct trace_run *r, const char *kind, double secs, struct trace_tab *closes,
                 struct trace_tab *fails, const struct trace_births *births,
                 const uint64_t *st, uint64_t missed, bool total)
{
    struct trace_prog_stat progs[16];
    struct trace_report rep = {
        .kind = kind, .seconds = secs, .wall_ns = twx_wall_ns(), .exact = r->exact,
        .scope = r->scope, .births = *births, .closes = closes, .fails = fails,
        .checks = r->checks, .nchecks = r->nwatch,
        .lost_rows = st[TRACE_ST_LOST_CLOSE] + st[TRACE_ST_LOST_FAIL],
        .lost_pending = st[TRACE_ST_LOST_PENDING] + st[TRACE_ST_LOST_BIRTHS],
        .missed = missed, .unattributed = st[TRACE_ST_UNATTRIBUTED],
        .top = r->top, .cg = r->cg,
    };
    fill_checks(r, total);
    if (total && r->cfg.prog_stats) {
        rep.progs = progs;
        rep.nprogs = trace_probe_prog_stats(r->probe, progs, sizeof(progs) / sizeof(progs[0]));
    }
    trace_cgroups_refresh_allowed(r->cg);
    if (r->json) {
        trace_json(stdout, &rep);
        return;
    }
    if (!total && r->tty)
        fputs("\033[H\033[2J", stdout);
    else if (r->shown++)
        fputc('\n', stdout);
    trace_view(stdout, &rep, r->color);
    fflush(stdout);
}

int trace_run_loop(struct trace_run *r)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct trace_tab ci, fi, ct, ft;
    trace_tab_init(&ci, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    trace_tab_init(&fi, sizeof(struct trace_fail_key), TRACE_FAIL_NV);
    trace_tab_init(&ct, sizeof(struct trace_close_key), TRACE_CLOSE_NV);
    trace_tab_init(&ft, sizeof(struct trace_fail_key), TRACE_FAIL_NV);
    uint64_t st0[TRACE_ST_MAX] = {0}, stp[TRACE_ST_MAX] = {0}, st[TRACE_ST_MAX], d[TRACE_ST_MAX];
    struct trace_births b0, bp, b, bd;
    int rc = read_all(r, true);
    if (rc)
        goto out;
    trace_probe_stats(r->probe, st0);
    memcpy(stp, st0, sizeof(stp));
    births_now(r, &b0);
    bp = b0;
    uint64_t missed0 = trace_probe_missed(r->probe), missedp = missed0;
    uint64_t t0 = twx_now_ns(), tp = t0;
    uint64_t end = r->duration > 0 ? t0 + (uint64_t)(r->duration * 1e9) : 0;
    if (r->json) {
        struct trace_report s = {.wall_ns = twx_wall_ns(), .exact = r->exact, .scope = r->scope,
                                 .checks = r->checks, .nchecks = r->nwatch};
        fill_checks(r, true);
        trace_json_start(stdout, &s, r->method_why, r->interval);
    } else if (!r->tty) {
        fprintf(stderr, "twkit: tracing (%s births), Ctrl-C to stop\n",
                r->exact ? "exact" : "approximate");
    }

    bool last = false;
    while (!last) {
        uint64_t next = tp + (uint64_t)(r->interval * 1e9);
        if (end && next >= end)
            next = end;
        while (!g_stop && twx_now_ns() < next) {
            uint64_t left = next - twx_now_ns();
            struct timespec ts = {.tv_sec = 0, .tv_nsec = left > 50000000 ? 50000000 : (long)left};
            nanosleep(&ts, NULL);
        }
        last = g_stop || (end && twx_now_ns() >= end);
        if (last)
            trace_probe_detach(r->probe);
        trace_tab_clear(&ci);
        trace_tab_clear(&fi);
        int e = trace_probe_drain(r->probe, &ci, &fi);
        if (e || trace_tab_merge(&ct, &ci) || trace_tab_merge(&ft, &fi)) {
            twx_err("reading the BPF tables: %s", strerror(e < 0 ? -e : ENOMEM));
            rc = TW_EXIT_RUNTIME;
            goto out;
        }
        if ((rc = read_all(r, false)))
            goto out;
        trace_probe_stats(r->probe, st);
        births_now(r, &b);
        uint64_t missed = trace_probe_missed(r->probe), now = twx_now_ns();
        for (int i = 0; i < TRACE_ST_MAX; i++)
            d[i] = st[i] - stp[i];
        bd.tw = b.tw - bp.tw;
        bd.fw2 = b.fw2 - bp.fw2;
        show(r, "interval", twx_secs(tp, now), &ci, &fi, &bd, d, missed - missedp, false);
        memcpy(stp, st, sizeof(st));
        bp = b;
        missedp = missed;
        tp = now;
    }
    for (int i = 0; i < TRACE_ST_MAX; i++)
        d[i] = st[i] - st0[i];
    bd.tw = b.tw - b0.tw;
    bd.fw2 = b.fw2 - b0.fw2;
    show(r, "total", twx_secs(t0, tp), &ct, &ft, &bd, d, missedp - missed0, true);
out:
    trace_tab_release(&ci);
    trace_tab_release(&fi);
    trace_tab_release(&ct);
    trace_tab_release(&ft);
    return rc;
}
