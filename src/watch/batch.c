/*
 * batch.c — `twkit watch --batch`: no curses, one block of text (the same
 * lines as the screen) or one JSON object per line (--json: NDJSON, schema
 * twkit.watch.v1 in docs/watch-json.md) per tick, for logs, scripts and
 * tests.  With --netns all every namespace is sampled each tick.
 *
 * Ticks start every --interval on the monotonic clock; a tick that overruns
 * its interval delays the next one (counted in "late"), it never runs two
 * at once.  A recorded series (--fixture) is replayed at once, at its own
 * recorded times.  SIGINT / SIGTERM end the run after the current tick.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "twx/clock.h"
#include "twx/json.h"
#include "watch/watch.h"

/* ---- text ---------------------------------------------------------------------- */

static void print_line(void *ctx, enum watch_line kind, size_t row, int level, const char *text)
{
    (void)kind, (void)row, (void)level;
    fprintf(ctx, "%s\n", text);
}

static void text_ns(FILE *f, struct watch *w, struct watch_ns *ns)
{
    watch_view_header(w, ns, WATCH_MIN_COLS, print_line, f);
    if (!ns->rep)
        return;
    if (ns->err[0])
        fprintf(f, "last tick failed: %s\n", ns->err);
    struct watch_rows rows = {0};
    if (watch_rows_build(&rows, ns->eng, SORT_EXHAUST, NULL)) {
        fprintf(f, "out of memory\n");
        return;
    }
    size_t show = rows.n < w->a->rows ? rows.n : (size_t)w->a->rows;
    struct watch_layout lay;
    watch_view_layout(&lay, ns, &rows, 0, show, WATCH_MIN_COLS, false);
    if (!rows.n) {
        fprintf(f, "no client-side connection uses the port range%s\n",
                ns->rep->filtered ? " (among the sockets the filter selects)" : "");
    } else {
        watch_view_thead(&lay, print_line, f);
        for (size_t i = 0; i < show; i++)
            watch_view_row(&lay, ns, rows.idx[i], i, print_line, f);
        if (rows.n > show)
            fprintf(f, "(%zu more destinations; --rows N shows more)\n", rows.n - show);
        watch_view_notes(&lay, ns, print_line, f);
    }
    watch_rows_free(&rows);
}

/* ---- JSON ------------------------------------------------------------------------ */

static void fc_json(struct twx_json *j, const char *key, const struct tw_fc_result *r)
{
    twx_json_obj_begin(j, key);
    twx_json_str(j, "state", tw_fc_state_name(r->state));
    if (r->state == TW_FC_AT || r->state == TW_FC_NOW)
        twx_json_f64(j, "in_s", r->seconds, 2);
    else
        twx_json_null(j, "in_s");
    twx_json_f64(j, "sustainable_per_s", r->sustainable_per_s, 2);
    twx_json_str(j, "limit", tw_fc_limit_name(r->limit));
    twx_json_bool(j, "held_by_max_tw_buckets", r->capped);
    twx_json_obj_end(j);
}

static void dest_json(struct twx_json *j, const struct watch_ns *ns, size_t i,
                      const struct tw_dest_rate *d)
{
    char b[64];
    const struct tw_pressure *p = d->p;
    twx_json_obj_begin(j, NULL);
    twx_json_str(j, "local", tw_addr_str(&p->laddr, b, sizeof(b)));
    twx_json_str(j, "remote", tw_addr_str(&p->raddr, b, sizeof(b)));
    twx_json_u64(j, "port", p->rport);
    twx_json_bool(j, "loopback", p->loopback);
    twx_json_u64(j, "in_use", p->in_use);
    twx_json_u64(j, "time_wait", p->time_wait);
    twx_json_u64(j, "established", p->established);
    twx_json_u64(j, "other", p->other);
    twx_json_str(j, "reuse", !p->reuse_applies ? "off" : ns->rep->reuse_exact ? "verified"
                                                                                : "unverified");
    twx_json_u64(j, "reclaimable", p->reclaimable);
    twx_json_u64(j, "reclaimable_max", p->reclaimable_max);
    twx_json_f64(j, "pressure_pct", p->pct, 2);
    twx_json_f64(j, "pressure_min_pct", p->pct_min, 2);
    twx_json_arr_begin(j, "new_per_s");
    for (int w = 0; w < TW_RATE_WINDOWS; w++)
        twx_json_f64(j, NULL, d->new_per_s[w], 2);
    twx_json_arr_end(j);
    twx_json_arr_begin(j, "expiry");
    for (int s = 0; s < TW_EXPIRY_SECONDS; s++)
        twx_json_u64(j, NULL, p->tw_expiry[s]);
    twx_json_arr_end(j);
    float h[TW_HISTORY_S];
    tw_rate_engine_history(ns->eng, i, h);
    twx_json_arr_begin(j, "history");
    for (int s = 0; s < TW_HISTORY_S; s++)
        if (isnan(h[s]))
            twx_json_null(j, NULL);
        else
            twx_json_f64(j, NULL, h[s], 2);
    twx_json_arr_end(j);
    twx_json_obj_begin(j, "exhaustion");
    twx_json_f64(j, "rate_per_s", d->forecast.rate, 2);
    fc_json(j, "forecast", &d->forecast.fc);
    if (d->forecast.bounded)
        fc_json(j, "bound", &d->forecast.bound);
    else
        twx_json_null(j, "bound");
    twx_json_obj_end(j);
    twx_json_obj_end(j);
}

static void ns_json(struct twx_json *j, const struct watch_ns *ns)
{
    twx_json_obj_begin(j, NULL);
    twx_json_str(j, "netns", ns->label);
    twx_json_u64(j, "inode", ns->inode);
    if (ns->err[0])
        twx_json_str(j, "error", ns->err);
    else
        twx_json_null(j, "error");
    const struct tw_report *r = ns->rep;
    if (!r) {
        twx_json_obj_end(j);
        return;
    }
    const struct tw_kernel *k = &r->kernel;
    twx_json_str(j, "source", tw_source_kind_name(r->source));
    twx_json_f64(j, "dump_seconds", r->dump_seconds, 4);
    twx_json_f64(j, "tick_seconds", ns->tick_s, 4);
    twx_json_bool(j, "filtered", r->filtered);
    twx_json_obj_begin(j, "kernel");
    twx_json_i64(j, "port_low", k->port_lo);
    twx_json_i64(j, "port_high", k->port_hi);
    twx_json_u64(j, "range_size", r->range_size);
    twx_json_u64(j, "effective_range", r->effective_range);
    twx_json_i64(j, "tcp_tw_reuse", k->tw_reuse);
    if (k->tw_reuse_delay_ms >= 0)
        twx_json_i64(j, "tcp_tw_reuse_delay_ms", k->tw_reuse_delay_ms);
    else
        twx_json_null(j, "tcp_tw_reuse_delay_ms");
    twx_json_i64(j, "tcp_timestamps", k->timestamps);
    twx_json_i64(j, "tcp_max_tw_buckets", k->max_tw_buckets);
    twx_json_obj_end(j);
    const struct tw_fc_plan *plan = tw_rate_engine_plan(ns->eng);
    twx_json_obj_begin(j, "time_wait");
    twx_json_u64(j, "dump", r->tw_total);
    twx_json_i64(j, "sockstat", k->sock_tw);
    twx_json_f64(j, "max_tw_buckets_pct", r->max_tw_pct, 2);
    if (plan->full_in_s >= 0)
        twx_json_f64(j, "max_tw_buckets_full_in_s", plan->full_in_s, 2);
    else
        twx_json_null(j, "max_tw_buckets_full_in_s");
    twx_json_u64(j, "host_ports_in_use", r->host_ports_in_use);
    twx_json_obj_end(j);
    const struct tw_counter_rates *cr = tw_rate_engine_counters(ns->eng);
    static const int ids[] = {TW_C_TW, TW_C_TW_RECYCLED, TW_C_TW_KILLED, TW_C_TW_OVERFLOW,
                              TW_C_ACTIVE_OPENS, TW_C_ATTEMPT_FAILS};
    twx_json_obj_begin(j, "rates");
    twx_json_arr_begin(j, "window_s");
    for (unsigned w = 0; w < TW_RATE_WINDOWS; w++)
        twx_json_u64(j, NULL, tw_rate_window_s(w));
    twx_json_arr_end(j);
    twx_json_arr_begin(j, "span_s");
    for (unsigned w = 0; w < TW_RATE_WINDOWS; w++)
        twx_json_f64(j, NULL, cr->span_s[w], 3);
    twx_json_arr_end(j);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        twx_json_arr_begin(j, tw_counter_name(ids[i]));
        for (unsigned w = 0; w < TW_RATE_WINDOWS; w++)
            if (cr->have[ids[i]] && cr->span_s[w] > 0)
                twx_json_f64(j, NULL, cr->per_s[ids[i]][w], 2);
            else
                twx_json_null(j, NULL);
        twx_json_arr_end(j);
    }
    twx_json_obj_end(j);
    struct watch_rows rows = {0};
    twx_json_arr_begin(j, "destinations");
    if (!watch_rows_build(&rows, ns->eng, SORT_EXHAUST, NULL)) {
        const struct tw_dest_rate *d;
        tw_rate_engine_dests(ns->eng, &d);
        for (size_t i = 0; i < rows.n; i++)
            dest_json(j, ns, rows.idx[i], &d[rows.idx[i]]);
    }
    twx_json_arr_end(j);
    watch_rows_free(&rows);
    twx_json_obj_end(j);
}

void watch_json_tick(FILE *f, struct watch *w, uint64_t tick)
{
    struct twx_json j;
    twx_json_init(&j, f, false);
    twx_json_obj_begin(&j, NULL);
    twx_json_str(&j, "schema", "twkit.watch.v1");
    twx_json_str(&j, "twkit_version", TW_VERSION);
    twx_json_u64(&j, "tick", tick);
    twx_json_f64(&j, "time", (double)twx_wall_ns() / 1e9, 3);
    twx_json_u64(&j, "t_ms", w->n_ns ? w->ns[0].t_ms : 0);
    twx_json_f64(&j, "interval_s", w->a->interval, 3);
    twx_json_u64(&j, "late_ticks", w->late);
    twx_json_arr_begin(&j, "namespaces");
    for (size_t i = 0; i < w->n_ns; i++)
        ns_json(&j, &w->ns[i]);
    twx_json_arr_end(&j);
    twx_json_obj_end(&j);
    twx_json_end(&j);
}

/* ---- the loop ---------------------------------------------------------------------- */

int watch_batch(struct watch *w)
{
    const struct watch_args *a = w->a;
    watch_signals(WATCH_SIG_NOPIPE);

    uint64_t interval_ns = (uint64_t)llround(a->interval * 1e9);
    uint32_t young_ms = (uint32_t)llround(a->interval * 1000);
    uint64_t t0 = twx_now_ns(), next = t0;
    int rc = TW_EXIT_OK;
    for (uint64_t tick = 1; !watch_sig_stop && (!a->count || tick <= a->count); tick++) {
        if (!watch_replaying(w)) {
            uint64_t now = twx_now_ns();
            if (next > now)
                twx_sleep_ns(next - now);
            if (watch_sig_stop)
                break;
        }
        uint64_t start = twx_now_ns();
        uint64_t t_ms = (start - t0) / 1000000;
        bool failed = false, done = false;
        for (size_t i = 0; i < w->n_ns; i++) {
            int e = watch_sample(w, i, t_ms, young_ms);
            if (e == WATCH_END)
                done = true;
            else if (e) {
                failed = true;
                twx_err("%s: %s", w->ns[i].label, w->ns[i].err);
            }
        }
        if (done)
            break;
        if (failed && w->n_ns == 1) {
            rc = TW_EXIT_RUNTIME;
            break;
        }
        if (a->c.json) {
            watch_json_tick(stdout, w, tick);
        } else {
            if (tick > 1)
                fputc('\n', stdout);
            for (size_t i = 0; i < w->n_ns; i++)
                text_ns(stdout, w, &w->ns[i]);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            if (errno != EPIPE)
                twx_err("writing output: %s", strerror(errno));
            rc = errno == EPIPE ? TW_EXIT_OK : TW_EXIT_RUNTIME;
            break;
        }
        next += interval_ns;
        uint64_t now = twx_now_ns();
        if (next < now) { /* overran: start the next one now, keep the cadence after */
            w->late++;
            next = now;
        }
    }
    return rc;
}
