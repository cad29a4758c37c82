/*
 * rates.c — THE INTEGRATION POINT between `twkit export` and libtwkit's
 * rate-and-forecast engine (issue 11, include/twkit/rate.h).
 *
 * The exporter asks one thing of the engine, per namespace and per
 * collection: for each destination of the report, its new TIME_WAIT per
 * second (the 10 s window of the births read from the sockets' ages), its
 * forecast time to exhaustion, and the rate it can sustain.  Everything
 * the exporter knows of the engine is in this file.
 *
 * When twkit is built without the engine (include/twkit/rate.h absent, as
 * on main before the watch work lands), every figure is "unknown": the
 * three families that need it (twkit_destination_new_time_wait_per_second,
 * twkit_destination_exhaustion_seconds,
 * twkit_destination_sustainable_connections_per_second) then have no
 * series at all — never a made-up value — and `twkit export
 * --list-metrics` marks them "(needs the rate engine)".  Kernel counter
 * rates are not exported as gauges: the counters are exported as
 * counters and Prometheus' rate() computes them; the engine uses them for
 * the namespace's tcp_max_tw_buckets plan.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "export.h"

#if __has_include(<twkit/rate.h>)
#include <twkit/rate.h>

struct export_rates {
    struct tw_rate_engine *e;
};

bool export_rates_available(void)
{
    return true;
}

int export_rates_new(struct export_rates **out)
{
    struct export_rates *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    struct tw_rate_opts o = {.rate_window_s = 10};
    int e = tw_rate_engine_new(&o, &x->e);
    if (e) {
        free(x);
        return e;
    }
    *out = x;
    return 0;
}

void export_rates_free(struct export_rates *x)
{
    if (!x)
        return;
    tw_rate_engine_free(x->e);
    free(x);
}

static double exhaustion(const struct tw_fc_result *fc)
{
    switch (fc->state) {
    case TW_FC_NOW:
        return 0;
    case TW_FC_AT:
        return fc->seconds;
    case TW_FC_NEVER:
    case TW_FC_BEYOND:
        break;
    }
    return INFINITY;
}

int export_rates_tick(struct export_rates *x, uint64_t t_ms, const struct tw_report *r,
                      const struct tw_counters *c, struct metrics_dest_rate *out)
{
    for (size_t i = 0; i < r->n_pressure; i++)
        out[i].have = false;
    int e = tw_rate_engine_tick(x->e, t_ms, r, c, 1000);
    if (e)
        return e;
    const struct tw_dest_rate *d;
    size_t n = tw_rate_engine_dests(x->e, &d);
    for (size_t i = 0; i < n && i < r->n_pressure; i++) {
        if (d[i].p != &r->pressure[i])
            continue; /* not the report's order: say nothing rather than mislabel */
        out[i].have = true;
        out[i].new_per_s = d[i].new_per_s[1];
        out[i].exhaustion_s = exhaustion(&d[i].forecast.fc);
        out[i].sustainable_per_s = d[i].forecast.fc.sustainable_per_s;
    }
    return 0;
}

#else /* no engine in this build */

struct export_rates {
    int unused;
};

bool export_rates_available(void)
{
    return false;
}

int export_rates_new(struct export_rates **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void export_rates_free(struct export_rates *x)
{
    free(x);
}

int export_rates_tick(struct export_rates *x, uint64_t t_ms, const struct tw_report *r,
                      const struct tw_counters *c, struct metrics_dest_rate *out)
{
    (void)x, (void)t_ms, (void)c;
    for (size_t i = 0; i < r->n_pressure; i++)
        out[i].have = false;
    return 0;
}

#endif
