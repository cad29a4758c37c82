/*
 * test_forecast.c — time to exhaustion (lib/forecast.c) in each regime, on
 * synthetic inputs whose answer is worked out by hand from the model in
 * twkit/rate.h: ports held U(t) = H + TIME_WAIT not yet expired (or, for
 * the reusable share, not yet tcp_tw_reuse_delay old) + admitted births;
 * exhaustion when U reaches the effective range R.
 *
 * Regimes: fits forever; exhausts at a known second (with and without
 * expiring TIME_WAIT: not a straight line); a burst that exhausts although
 * the steady state fits; tw_reuse capacity (range / delay) exceeded and not;
 * reuse unverified (netlink: a bound) versus verified (an exact source);
 * tcp_max_tw_buckets holding the namespace's TIME_WAIT down.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <twkit/rate.h>

static struct tw_fc_dest dest(uint32_t range, double held, double rate)
{
    struct tw_fc_dest d;
    memset(&d, 0, sizeof(d));
    d.range = range;
    d.held = held;
    d.rate = rate;
    d.delay_s = 1.0;
    return d;
}

static struct tw_forecast run(const struct tw_fc_plan *plan, const struct tw_fc_dest *d)
{
    struct tw_forecast f;
    tw_forecast_dest(plan, d, &f);
    return f;
}

#define near(got, want, tol, what) \
    cr_assert(fabs((got) - (want)) <= (tol), "%s: got %.4f, want %.4f", what, (double)(got), (double)(want))

Test(forecast, fits_forever)
{
    /* 10/s x 60 s = 600 ports held at most, of 1000 */
    struct tw_fc_dest d = dest(1000, 0, 10);
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);
    cr_assert_eq(f.fc.limit, TW_FC_LIMIT_TIMEWAIT);
    cr_assert_not(f.fc.capped);
    near(f.fc.sustainable_per_s, 1000.0 / 60, 1e-9, "R / 60 s");
    cr_assert_not(f.bounded);

    /* already 900 TIME_WAIT evenly over the minute and 15/s: the steady
     * state (900) fits and nothing on the way crosses 1000 */
    for (int i = 0; i < 60; i++)
        d.expiry[i] = 15;
    d.rate = 15;
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);
}

Test(forecast, nothing_connects)
{
    struct tw_fc_dest d = dest(1000, 10, 0);
    d.expiry[59] = 980;
    cr_assert_eq(run(NULL, &d).fc.state, TW_FC_NEVER, "990 of 1000 held, but no one connects");
    d.expiry[59] = 990;
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NOW, "1000 of 1000 held: the next connect() fails");
    cr_assert_eq(f.fc.seconds, 0);
}

Test(forecast, straight_line_without_timewait)
{
    /* 100 ESTABLISHED, 50/s: 100 + 50 t = 1000 at t = 18 */
    struct tw_fc_dest d = dest(1000, 100, 50);
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 18.0, 1e-6, "exhaustion");
    near(f.rate, 50, 0, "rate");
}

Test(forecast, one_lifetime_exactly)
{
    /* 40 held + 16/s: after 60 s, 40 + 960 = 1000 ports, just as the first
     * TIME_WAIT expire; the steady state (1000) does not fit */
    struct tw_fc_dest d = dest(1000, 40, 16);
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 60.0, 1e-6, "exhaustion");
    /* 15/s: 40 + 900 settles below */
    d.rate = 15;
    cr_assert_eq(run(NULL, &d).fc.state, TW_FC_NEVER);
}

Test(forecast, expiring_timewait_is_not_a_straight_line)
{
    /* 400 TIME_WAIT expire in [10, 11) s; 50/s.  A straight line says
     * (1000 - 400) / 50 = 12 s.  The model: U(10) = 400 + 500 = 900, the 400
     * go during the 11th second, U(11) = 550, then +50/s: 1000 at t = 20. */
    struct tw_fc_dest d = dest(1000, 0, 50);
    d.expiry[10] = 400;
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 20.0, 1e-6, "exhaustion");

    /* the same 400 expiring in [5, 6): U(5) = 400 + 250 = 650 ... it never
     * reaches 1000 before they go, then 50 t from 250: 1000 at t = 20 too;
     * expiring in [15, 16): U reaches 1000 at t = 12, before they go */
    memset(d.expiry, 0, sizeof(d.expiry));
    d.expiry[15] = 400;
    f = run(NULL, &d);
    near(f.fc.seconds, 12.0, 1e-6, "exhaustion before the 400 expire");
}

Test(forecast, burst_exhausts_although_steady_state_fits)
{
    /* 15/s fits forever (900 of 1000), but 990 TIME_WAIT were just born:
     * 990 + 15 t = 1000 at t = 2/3 s */
    struct tw_fc_dest d = dest(1000, 0, 15);
    d.expiry[59] = 990;
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 10.0 / 15, 1e-6, "exhaustion");
}

Test(forecast, reuse_capacity_exceeded)
{
    /* verified reuse (p = 1), delay 1 s: the cap is R / delay = 1000/s.
     * 4000/s: the first second's births alone fill the range at 0.25 s. */
    struct tw_fc_dest d = dest(1000, 0, 4000);
    d.reuse_lo = d.reuse_hi = 1;
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 0.25, 1e-6, "exhaustion");
    cr_assert_eq(f.fc.limit, TW_FC_LIMIT_REUSE_DELAY);
    near(f.fc.sustainable_per_s, 1000, 1e-9, "R / delay");

    /* 900/s under the cap: never */
    d.rate = 900;
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);

    /* delay 100 ms: the cap is 10000/s, 4000/s fits */
    d.rate = 4000;
    d.delay_s = 0.1;
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);
    near(f.fc.sustainable_per_s, 10000, 1e-6, "R / 0.1 s");

    /* 60 s delay: reuse is no better than none */
    d.delay_s = 60;
    d.rate = 50;
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 20.0, 1e-6, "as without reuse");
}

Test(forecast, unverified_reuse_is_only_a_bound)
{
    /* netlink cannot see the peer's timestamps: the forecast counts no reuse
     * (exhausts at 1000 / 900 s); the bound, reuse for all, never */
    struct tw_fc_dest d = dest(1000, 0, 900);
    d.reuse_lo = 0;
    d.reuse_hi = 1;
    struct tw_forecast f = run(NULL, &d);
    cr_assert(f.bounded);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 1000.0 / 900, 1e-6, "forecast");
    cr_assert_eq(f.bound.state, TW_FC_NEVER);
    cr_assert_eq(f.bound.limit, TW_FC_LIMIT_REUSE_DELAY);
}

Test(forecast, reclaimable_ports_now)
{
    /* the range is full of TIME_WAIT 29-30 s old; reusable ones are not held */
    struct tw_fc_dest d = dest(1000, 0, 100);
    d.expiry[30] = 1000;
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NOW, "no reuse: all 1000 held");
    d.reuse_lo = d.reuse_hi = 1;
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER, "reuse: 100/s x 1 s held at most");
    /* half the peers send timestamps: 500 held now; of each second's 100
     * births 50 are held 60 s and 50 for 1 s: U(k) = 500 + 50 k + 50 from
     * k = 1, which reaches 1000 at 9 s (before the 500 expire at 30 s) */
    d.reuse_lo = d.reuse_hi = 0.5;
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT);
    near(f.fc.seconds, 9.0, 1e-6, "mixed peers");
}

/* A report built by hand: what tw_forecast_dest_from makes of the source's
 * knowledge of the peers' timestamps. */
Test(forecast, inputs_from_a_report)
{
    static struct tw_report r;
    static struct tw_pressure p;
    memset(&r, 0, sizeof(r));
    memset(&p, 0, sizeof(p));
    r.effective_range = 1000;
    r.kernel.tw_reuse = 1;
    r.kernel.timestamps = 1;
    r.kernel.tw_reuse_delay_ms = 1000;
    p.reuse_applies = true;
    p.in_use = 1010;
    p.time_wait = 1000;
    p.tw_expiry[30] = 1000;
    p.reclaimable_max = 1000;
    struct tw_fc_dest d;

    tw_forecast_dest_from(&r, &p, 100, &d);
    cr_assert_eq(d.range, 1000);
    near(d.held, 10, 0, "held = in use - TIME_WAIT");
    near(d.delay_s, 1.0, 0, "delay");
    near(d.reuse_lo, 0, 0, "netlink: not verified");
    near(d.reuse_hi, 1, 0, "netlink: the bound");
    struct tw_forecast f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_NOW);
    cr_assert_eq(f.bound.state, TW_FC_NEVER);

    r.reuse_exact = true; /* a source that saw every peer's timestamp */
    p.reclaimable = 1000;
    tw_forecast_dest_from(&r, &p, 100, &d);
    near(d.reuse_lo, 1, 0, "verified");
    f = run(NULL, &d);
    cr_assert_not(f.bounded);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);

    p.reclaimable = 0; /* it saw none: the peer sends no timestamps */
    tw_forecast_dest_from(&r, &p, 100, &d);
    near(d.reuse_hi, 0, 0, "verified: no reuse");

    r.reuse_exact = false;
    r.kernel.timestamps = 0; /* new connections carry no timestamps: no reuse for them */
    tw_forecast_dest_from(&r, &p, 100, &d);
    near(d.reuse_hi, 0, 0, "tcp_timestamps=0: no bound from today's TIME_WAIT");
    r.kernel.timestamps = 1;

    p.reuse_applies = false; /* tcp_tw_reuse off (or 2 and not loopback) */
    tw_forecast_dest_from(&r, &p, 100, &d);
    near(d.reuse_hi, 0, 0, "reuse off");

    r.kernel.tw_reuse_delay_ms = -1; /* before 6.14: (0, 1] s, taken at 1 s */
    tw_forecast_dest_from(&r, &p, 100, &d);
    near(d.delay_s, 1.0, 0, "pre-6.14 delay");
}

Test(forecast, max_tw_buckets_cap)
{
    /* namespace cap 300, nothing in TIME_WAIT, 50/s all to one destination:
     * full at 6 s; then each closing connection gets no TIME_WAIT until the
     * first ones expire at 60 s.  The destination never holds more than 300
     * of its 1000 ports, though 50/s is above its R / 60 = 16.7/s. */
    struct tw_fc_namespace ns;
    memset(&ns, 0, sizeof(ns));
    ns.max_tw_buckets = 300;
    ns.tw_now = 0;
    ns.enter_per_s = 50;
    struct tw_fc_plan plan;
    tw_forecast_plan(&ns, &plan);
    near(plan.full_in_s, 6.0, 1e-6, "namespace full");
    near(plan.admit[0], 1.0, 1e-6, "second 0 admitted");
    near(plan.admit[5], 1.0, 1e-6, "second 5 admitted");
    near(plan.admit[6], 0.0, 1e-6, "second 6 overflows");
    near(plan.admit[59], 0.0, 1e-6, "second 59 overflows");
    near(plan.admit[60], 1.0, 1e-6, "the first 50 expired: room again");

    struct tw_fc_dest d = dest(1000, 0, 50);
    struct tw_forecast f = run(&plan, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);
    cr_assert(f.fc.capped);
    cr_assert_eq(f.fc.limit, TW_FC_LIMIT_TIMEWAIT);
    f = run(NULL, &d);
    cr_assert_eq(f.fc.state, TW_FC_AT, "without the cap");
    near(f.fc.seconds, 20.0, 1e-6, "without the cap");

    /* a cap above what the destination can hold changes nothing */
    ns.max_tw_buckets = 131072;
    tw_forecast_plan(&ns, &plan);
    cr_assert_lt(plan.full_in_s, 0);
    cr_assert_eq(plan.steady_from, 0);
    f = run(&plan, &d);
    near(f.fc.seconds, 20.0, 1e-6, "cap far away");

    /* the namespace already full and TIME_WAIT expiring 10/s: 10 of the 50
     * admitted per second, the destination holds 10/s x 60 s = 600 < 1000 */
    ns.max_tw_buckets = 600;
    ns.tw_now = 600;
    for (int i = 0; i < 60; i++)
        ns.expiry[i] = 10;
    tw_forecast_plan(&ns, &plan);
    near(plan.full_in_s, 0, 0, "full now");
    near(plan.admit[0], 0.2, 1e-6, "10 of 50");
    d.rate = 50;
    for (int i = 0; i < 60; i++)
        d.expiry[i] = 10;
    f = run(&plan, &d);
    cr_assert_eq(f.fc.state, TW_FC_NEVER);
    cr_assert(f.fc.capped);
    cr_assert_eq(f.fc.limit, TW_FC_LIMIT_TIMEWAIT);
}

Test(forecast, beyond_the_horizon)
{
    /* a plan whose admission still rises at the horizon (a hand-made one:
     * the fraction admitted grows from 0 to 0.8 over the ten minutes): the
     * destination's held ports still rise in the last minute, ~960 of 1000,
     * so neither "at" nor "never" can be said */
    static struct tw_fc_plan plan;
    for (int k = 0; k < TW_FORECAST_HORIZON_S; k++)
        plan.admit[k] = 0.8f * (float)k / TW_FORECAST_HORIZON_S;
    plan.steady_from = TW_FORECAST_HORIZON_S - 1;
    plan.full_in_s = 0;
    struct tw_fc_dest d = dest(1000, 0, 20);
    struct tw_forecast f = run(&plan, &d);
    cr_assert_eq(f.fc.state, TW_FC_BEYOND);
    cr_assert_lt(f.fc.seconds, 0);
    cr_assert(f.fc.capped, "20/s is above 1000 / 60 s");
    /* the same plan flat at 0.8 from the start settles at 960: never */
    for (int k = 0; k < TW_FORECAST_HORIZON_S; k++)
        plan.admit[k] = 0.8f;
    plan.steady_from = 0;
    cr_assert_eq(run(&plan, &d).fc.state, TW_FC_NEVER);
}

Test(forecast, names)
{
    cr_assert_str_eq(tw_fc_state_name(TW_FC_NEVER), "never");
    cr_assert_str_eq(tw_fc_state_name(TW_FC_AT), "at");
    cr_assert_str_eq(tw_fc_state_name(TW_FC_NOW), "now");
    cr_assert_str_eq(tw_fc_state_name(TW_FC_BEYOND), "beyond");
    cr_assert_str_eq(tw_fc_limit_name(TW_FC_LIMIT_TIMEWAIT), "time_wait");
    cr_assert_str_eq(tw_fc_limit_name(TW_FC_LIMIT_REUSE_DELAY), "reuse_delay");
}
