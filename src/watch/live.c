/*
 * live.c — `twkit watch --source live`: every sample reads the live table
 * (per-destination counts kept by eBPF, see twkit/live.h) instead of
 * walking the socket table; every --reconcile seconds, or at the next
 * sample after SIGUSR1, it compares the table with a sock_diag walk and
 * keeps the drift.  One sample (watch_live_sample) is what both views take:
 * the --batch loop here prints it as text or NDJSON, the curses view
 * (live_tui.c) draws it.
 *
 * When the table cannot be had (no privileges, no BTF, a verifier
 * rejection, the timer handler's address hidden, a seed that does not fit
 * in the maps), each sample walks with sock_diag and says why, so the
 * numbers are never the table's guess.  A live sample has counts only: the
 * full report (expiry, reuse, rates) is what the other sources are for.
 *
 * --netns NAME|PID|PATH: the process enters that namespace once, before the
 * table is opened, and stays (the table, its reconciliation walks and the
 * fallback walks all need to run in it).  The filters (--state, --dport,
 * --src, --dst, -4, -6) select rows after the read, so a sample still
 * costs O(destinations); totals and drift are of the rows shown, the
 * reconciliation compares the whole table.
 * NDJSON schema: twkit.watch.live.v1 (docs/watch-json.md).
 */
#include <errno.h>
#include <math.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "twx/clock.h"
#include "twx/json.h"
#include "twx/text.h"
#include "watch/watch.h"

/* Keep the rows the query selects (a row as a socket without a local port). */
static size_t filter_rows(const struct tw_query *q, struct tw_live_row *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct tw_sock s = {.state = v[i].state, .rport = v[i].rport,
                            .laddr = v[i].laddr, .raddr = v[i].raddr};
        if (tw_query_match(q, &s))
            v[k++] = v[i];
    }
    return k;
}

static void dest_keys(struct twx_json *j, const struct tw_live_row *r)
{
    char a[64], b[64];
    tw_addr_str(&r->laddr, a, sizeof(a));
    tw_addr_str(&r->raddr, b, sizeof(b));
    twx_json_str(j, "src", a);
    twx_json_str(j, "dst", b);
    twx_json_u64(j, "dport", r->rport);
    twx_json_str(j, "side", r->state == TW_LISTEN ? "listen" : r->server ? "server" : "client");
}

static void rows_json(struct twx_json *j, const struct tw_live_row *v, size_t n)
{
    uint64_t tot[TW_STATE_MAX] = {0};
    twx_json_arr_begin(j, "destinations");
    for (size_t i = 0; i < n;) {
        twx_json_obj_begin(j, NULL);
        dest_keys(j, &v[i]);
        twx_json_obj_begin(j, "states");
        size_t k = i;
        for (; k < n && tw_live_row_same_dest(&v[i], &v[k]); k++) {
            twx_json_i64(j, metrics_state(v[k].state), v[k].n);
            if (v[k].state < TW_STATE_MAX && v[k].n > 0)
                tot[v[k].state] += (uint64_t)v[k].n;
        }
        twx_json_obj_end(j);
        twx_json_obj_end(j);
        i = k;
    }
    twx_json_arr_end(j);
    twx_json_obj_begin(j, "totals");
    for (int s = 1; s < TW_STATE_MAX; s++)
        if (tot[s])
            twx_json_u64(j, metrics_state(s), tot[s]);
    twx_json_obj_end(j);
}

static void json_sample(FILE *f, const struct watch *w, const char *label, uint64_t tick,
                        uint64_t t_ms, const struct watch_live_sample *s, struct tw_live *lt)
{
    struct twx_json j;
    twx_json_init(&j, f, false);
    twx_json_obj_begin(&j, NULL);
    twx_json_str(&j, "schema", "twkit.watch.live.v1");
    twx_json_str(&j, "twkit_version", TW_VERSION);
    twx_json_u64(&j, "tick", tick);
    twx_json_f64(&j, "time", (double)twx_wall_ns() / 1e9, 3);
    twx_json_u64(&j, "t_ms", t_ms);
    twx_json_f64(&j, "interval_s", w->a->interval, 3);
    twx_json_str(&j, "netns", label);
    twx_json_str(&j, "source", s->live ? "live" : "netlink");
    if (s->why[0])
        twx_json_str(&j, "fallback", s->why);
    else
        twx_json_null(&j, "fallback");
    twx_json_f64(&j, "read_seconds", s->read_s, 6);
    rows_json(&j, s->rows, s->n);
    if (lt) {
        struct tw_live_stats st;
        tw_live_stats(lt, &st);
        twx_json_obj_begin(&j, "live");
        twx_json_u64(&j, "seeds", st.seeds);
        twx_json_u64(&j, "lost_events", st.lost_events);
        twx_json_u64(&j, "census_misses", st.census_misses);
        twx_json_bool(&j, "census_off", st.census_off);
        if (st.reseed_reason[0])
            twx_json_str(&j, "reseed_reason", st.reseed_reason);
        else
            twx_json_null(&j, "reseed_reason");
        twx_json_f64(&j, "seed_seconds", st.seed_seconds, 6);
        twx_json_u64(&j, "seeded", st.seeded);
        twx_json_u64(&j, "tw_born", st.tw_born);
        twx_json_u64(&j, "tw_died", st.tw_died);
        twx_json_u64(&j, "tw_fin", st.tw_fin);
        twx_json_bool(&j, "tw_fin_seen", st.tw_fin_seen);
        twx_json_u64(&j, "reconciliations", st.reconciliations);
        twx_json_u64(&j, "drift_rows_total", st.drift_total);
        twx_json_obj_end(&j);
        if (s->reconciled) {
            twx_json_obj_begin(&j, "reconcile");
            twx_json_f64(&j, "seconds", st.reconcile_seconds, 6);
            twx_json_u64(&j, "drift_rows", st.drift_rows);
            twx_json_i64(&j, "drift_sockets", st.drift_abs);
            twx_json_u64(&j, "unsettled", st.unsettled);
            twx_json_arr_begin(&j, "drift");
            for (size_t i = 0; i < s->n_drift; i++) {
                const struct tw_live_row *r = &s->drift[i];
                twx_json_obj_begin(&j, NULL);
                dest_keys(&j, r);
                twx_json_str(&j, "state", metrics_state(r->state));
                twx_json_i64(&j, "table", r->n);
                twx_json_i64(&j, "walk", r->truth);
                twx_json_obj_end(&j);
            }
            twx_json_arr_end(&j);
            twx_json_obj_end(&j);
        } else {
            twx_json_null(&j, "reconcile");
        }
    } else {
        twx_json_null(&j, "live");
        twx_json_null(&j, "reconcile");
    }
    twx_json_obj_end(&j);
    twx_json_end(&j);
}

/* a destination of a text sample: its rows [i, i + n) */
struct dest_group {
    size_t i, n;
    int64_t tw, total;
};

static int group_cmp(const void *pa, const void *pb)
{
    const struct dest_group *a = pa, *b = pb;
    if (a->tw != b->tw)
        return a->tw < b->tw ? 1 : -1;
    if (a->total != b->total)
        return a->total < b->total ? 1 : -1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The text sample: a header, then the --rows destinations with the most
 * TIME_WAIT (then the most sockets), one line each with its counts by state,
 * and how many were left out. */
static void text_sample(FILE *f, const struct watch *w, const char *label, uint64_t tick,
                        const struct watch_live_sample *s, struct tw_live *lt)
{
    int64_t total = 0, tw = 0;
    size_t nd = 0;
    struct dest_group *g = calloc(s->n ? s->n : 1, sizeof(*g));
    for (size_t i = 0; i < s->n; i++) {
        const struct tw_live_row *r = &s->rows[i];
        if (!i || !tw_live_row_same_dest(&s->rows[i - 1], r)) {
            if (g)
                g[nd] = (struct dest_group){.i = i};
            nd++;
        }
        total += r->n;
        if (r->state == TW_TIME_WAIT)
            tw += r->n;
        if (g) {
            g[nd - 1].n++;
            g[nd - 1].total += r->n;
            if (r->state == TW_TIME_WAIT)
                g[nd - 1].tw += r->n;
        }
    }
    char esc[4224 * 4 + 1];
    fprintf(f, "sample %llu  netns %s  source %s  read %.6f s\n", (unsigned long long)tick,
            twx_esc(esc, sizeof(esc), label), s->live ? "live" : "netlink", s->read_s);
    fprintf(f, "  %lld socket%s (%lld TIME_WAIT) in %zu destination%s\n", (long long)total,
            total == 1 ? "" : "s", (long long)tw, nd, nd == 1 ? "" : "s");
    if (s->why[0]) {
        struct twx_flow fl;
        twx_flow_begin(&fl, f, 80, 2, 4);
        twx_flow_words(&fl, "fallback:");
        twx_flow_words(&fl, twx_esc(esc, sizeof(esc), s->why));
        twx_flow_end(&fl);
    }
    if (lt && s->reconciled) {
        struct tw_live_stats st;
        tw_live_stats(lt, &st);
        fprintf(f, "  reconciled in %.3f s: drift %llu rows (%lld sockets), %llu unsettled\n",
                st.reconcile_seconds, (unsigned long long)st.drift_rows, (long long)st.drift_abs,
                (unsigned long long)st.unsettled);
    }
    if (!g) {
        fprintf(f, "  (out of memory: destinations not listed)\n");
        return;
    }
    qsort(g, nd, sizeof(*g), group_cmp);
    size_t shown = nd < w->a->rows ? nd : w->a->rows;
    for (size_t d = 0; d < shown; d++) {
        const struct tw_live_row *r = &s->rows[g[d].i];
        char a[64], b[64], to[96], cnt[48];
        tw_addr_str(&r->laddr, a, sizeof(a));
        tw_addr_str(&r->raddr, b, sizeof(b));
        if (r->state == TW_LISTEN)
            snprintf(to, sizeof(to), "listening");
        else if (r->server)
            snprintf(to, sizeof(to), "< %s (server side)", b);
        else
            snprintf(to, sizeof(to), r->raddr.family == AF_INET6 ? "> [%s]:%u" : "> %s:%u", b,
                     r->rport);
        /* 80 columns: what does not fit goes on the following lines */
        struct twx_flow fl;
        twx_flow_begin(&fl, f, 80, 2, 6);
        twx_flow_put(&fl, "", a);
        twx_flow_put(&fl, " ", to);
        for (size_t k = 0; k < g[d].n; k++) {
            snprintf(cnt, sizeof(cnt), "%s %lld", metrics_state(r[k].state), (long long)r[k].n);
            twx_flow_put(&fl, "  ", cnt);
        }
        twx_flow_end(&fl);
    }
    if (shown < nd)
        fprintf(f, "  ... and %zu more destination%s (--rows sets how many are listed)\n",
                nd - shown, nd - shown == 1 ? "" : "s");
    free(g);
}

int watch_live_open(struct watch_live *L, const struct watch_args *a, bool quiet)
{
    memset(L, 0, sizeof(*L));
    L->a = a;
    L->quiet = quiet;
    if (a->c.netns) {
        struct tw_netns ns;
        int e = tw_netns_open(a->c.netns, &ns);
        if (e)
            return tool_netns_err(a->c.netns, e, false);
        e = tw_netns_enter(&ns);
        snprintf(L->label, sizeof(L->label), "%s", ns.label);
        tw_netns_release(&ns);
        if (e)
            return tool_netns_err(a->c.netns, e, true);
    } else {
        tool_netns_label(L->label, sizeof(L->label), NULL);
    }
    struct tw_live_opts lo = {0};
    if (tw_live_open(&lo, &L->lt)) {
        L->lt = NULL;
        tw_live_why(L->open_why, sizeof(L->open_why));
        if (!quiet)
            twx_warn("--source live: %s; every sample walks with sock_diag instead", L->open_why);
    }
    L->recon_ns = (uint64_t)llround(a->reconcile * 1e9);
    L->last_recon = twx_now_ns();
    return TW_EXIT_OK;
}

int watch_live_sample(struct watch_live *L, struct watch_live_sample *s)
{
    memset(s, 0, sizeof(*s));
    s->t_ns = twx_now_ns();
    int e = -1;
    if (L->lt) {
        e = tw_live_read(L->lt, &s->rows, &s->n);
        if (e)
            tw_live_why(s->why, sizeof(s->why));
    } else {
        snprintf(s->why, sizeof(s->why), "%s", L->open_why);
    }
    s->live = e == 0;
    /* a change of source mid-run is said on stderr too, once each way
     * (the one at the start, by watch_live_open) */
    if (L->lt && !L->quiet && !s->live && !L->walking)
        twx_warn("--source live: %s; samples walk with sock_diag until the table is back",
                 s->why);
    else if (L->lt && !L->quiet && s->live && L->walking)
        twx_warn("--source live: the table is back: samples read it again");
    L->walking = !s->live;
    if (e && (e = tw_live_walk(&s->rows, &s->n)))
        return e;
    s->n = filter_rows(&L->a->c.query, s->rows, s->n);
    s->read_s = twx_secs(s->t_ns, twx_now_ns());
    if (L->lt && s->live &&
        (watch_sig_reconcile || (L->recon_ns && twx_now_ns() - L->last_recon >= L->recon_ns))) {
        watch_sig_reconcile = 0;
        L->last_recon = twx_now_ns();
        if (tw_live_reconcile(L->lt, &s->drift, &s->n_drift)) {
            tw_live_why(s->why, sizeof(s->why));
            if (!L->quiet)
                twx_warn("--source live: reconciliation: %s", s->why);
        } else {
            s->reconciled = true;
        }
    }
    return 0;
}

void watch_live_sample_free(struct watch_live_sample *s)
{
    free(s->rows);
    free(s->drift);
    s->rows = s->drift = NULL;
    s->n = s->n_drift = 0;
}

void watch_live_close(struct watch_live *L)
{
    tw_live_close(L->lt);
    L->lt = NULL;
}

int watch_live(struct watch *w)
{
    const struct watch_args *a = w->a;
    watch_signals(WATCH_SIG_USR1 | WATCH_SIG_NOPIPE);
    struct watch_live L;
    int rc = watch_live_open(&L, a, false);
    if (rc)
        return rc;
    uint64_t interval_ns = (uint64_t)llround(a->interval * 1e9);
    uint64_t t0 = twx_now_ns(), next = t0;
    for (uint64_t tick = 1; !watch_sig_stop && (!a->count || tick <= a->count); tick++) {
        uint64_t now = twx_now_ns();
        if (next > now)
            twx_sleep_ns(next - now);
        if (watch_sig_stop)
            break;
        struct watch_live_sample s;
        int e = watch_live_sample(&L, &s);
        if (e) {
            watch_live_sample_free(&s);
            twx_err("sock_diag walk: %s", tw_strerror(e));
            rc = TW_EXIT_RUNTIME;
            break;
        }
        uint64_t t_ms = (s.t_ns - t0) / 1000000;
        if (a->c.json) {
            json_sample(stdout, w, L.label, tick, t_ms, &s, L.lt);
        } else {
            if (tick > 1)
                fputc('\n', stdout);
            text_sample(stdout, w, L.label, tick, &s, L.lt);
        }
        watch_live_sample_free(&s);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            rc = errno == EPIPE ? TW_EXIT_OK : TW_EXIT_RUNTIME;
            break;
        }
        next += interval_ns;
        now = twx_now_ns();
        if (next < now) {
            w->late++;
            next = now;
        }
    }
    watch_live_close(&L);
    return rc;
}
