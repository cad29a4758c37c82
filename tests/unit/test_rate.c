/*
 * test_rate.c — the rate half of the engine (lib/rate.c) on synthetic
 * series: counter rates over the 1/10/60 s windows (short history, tick
 * jitter, counter resets, bounded memory), new TIME_WAIT per destination
 * from one report's expiry times, and the engine across ticks (history per
 * second, gaps, forgetting, the forecast it attaches, the namespace rate it
 * takes from the counters).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include <twkit/error.h>
#include <twkit/rate.h>

#define near(got, want, tol, what) \
    cr_assert(fabs((got) - (want)) <= (tol), "%s: got %.4f, want %.4f", what, (double)(got), (double)(want))

static struct tw_counters ctr(uint64_t tw, uint64_t opens)
{
    struct tw_counters c;
    memset(&c, 0, sizeof(c));
    c.v[TW_C_TW] = tw;
    c.v[TW_C_ACTIVE_OPENS] = opens;
    c.have[TW_C_TW] = c.have[TW_C_ACTIVE_OPENS] = true;
    return c;
}

/* ---- counter series ------------------------------------------------------------ */

Test(counters, windows)
{
    struct tw_counter_series *s;
    cr_assert_eq(tw_counter_series_new(&s), 0);
    struct tw_counter_rates r;
    tw_counter_series_rates(s, &r);
    cr_assert_eq(r.span_s[0], 0, "no rate from nothing");
    /* 100 TW/s for 30 s, then 200/s for 40 s; one sample a second */
    uint64_t tw = 0;
    for (int t = 0; t <= 70; t++) {
        struct tw_counters c = ctr(tw, 2 * tw);
        cr_assert_eq(tw_counter_series_add(s, (uint64_t)t * 1000, &c), 0);
        tw += t < 30 ? 100 : 200;
        if (t == 1) {
            tw_counter_series_rates(s, &r);
            near(r.span_s[0], 1, 0, "1 s window after two samples");
            near(r.span_s[1], 1, 0, "10 s window: only 1 s of history yet");
            near(r.per_s[TW_C_TW][1], 100, 1e-9, "over what there is");
        }
    }
    tw_counter_series_rates(s, &r);
    near(r.span_s[0], 1, 0, "span 1");
    near(r.span_s[1], 10, 0, "span 10");
    near(r.span_s[2], 60, 0, "span 60");
    near(r.per_s[TW_C_TW][0], 200, 1e-9, "1 s");
    near(r.per_s[TW_C_TW][1], 200, 1e-9, "10 s");
    /* t = 10..70: 20 s at 100/s and 40 s at 200/s */
    near(r.per_s[TW_C_TW][2], (20 * 100 + 40 * 200) / 60.0, 1e-9, "60 s");
    near(r.per_s[TW_C_ACTIVE_OPENS][0], 400, 1e-9, "another counter");
    cr_assert(r.have[TW_C_TW]);
    cr_assert_not(r.have[TW_C_TW_OVERFLOW], "absent counters are not rates");
    tw_counter_series_free(s);
}

Test(counters, jitter_picks_the_nearest_sample)
{
    struct tw_counter_series *s;
    cr_assert_eq(tw_counter_series_new(&s), 0);
    /* ticks at 0, 1010, 1990, 3005 ms; 1 per ms */
    const uint64_t t[] = {0, 1010, 1990, 3005};
    for (int i = 0; i < 4; i++) {
        struct tw_counters c = ctr(t[i], 0);
        cr_assert_eq(tw_counter_series_add(s, t[i], &c), 0);
    }
    struct tw_counter_rates r;
    tw_counter_series_rates(s, &r);
    near(r.span_s[0], 1.015, 1e-9, "the previous tick, not two back");
    near(r.per_s[TW_C_TW][0], 1000, 1e-9, "rate");
    near(r.span_s[1], 3.005, 1e-9, "10 s window: all the history");
    tw_counter_series_free(s);
}

Test(counters, reset_and_time_going_back)
{
    struct tw_counter_series *s;
    cr_assert_eq(tw_counter_series_new(&s), 0);
    struct tw_counters c = ctr(1000, 0);
    cr_assert_eq(tw_counter_series_add(s, 0, &c), 0);
    c = ctr(1100, 0);
    cr_assert_eq(tw_counter_series_add(s, 1000, &c), 0);
    c = ctr(5, 0); /* another namespace, or a wrap */
    cr_assert_eq(tw_counter_series_add(s, 2000, &c), 1);
    struct tw_counter_rates r;
    tw_counter_series_rates(s, &r);
    cr_assert_eq(r.span_s[0], 0, "no rate across a reset");
    c = ctr(15, 0);
    cr_assert_eq(tw_counter_series_add(s, 3000, &c), 0);
    tw_counter_series_rates(s, &r);
    near(r.per_s[TW_C_TW][0], 10, 1e-9, "after the reset");
    cr_assert_eq(tw_counter_series_add(s, 2999, &c), TW_EBADOPT);
    tw_counter_series_free(s);
}

Test(counters, memory_is_bounded)
{
    struct tw_counter_series *s;
    cr_assert_eq(tw_counter_series_new(&s), 0);
    for (uint64_t t = 0; t <= 600000; t += 100) { /* 10 min at 10 samples/s */
        struct tw_counters c = ctr(t, 0);
        cr_assert_eq(tw_counter_series_add(s, t, &c), 0);
    }
    struct tw_counter_rates r;
    tw_counter_series_rates(s, &r);
    near(r.span_s[2], 60, 0, "60 s window");
    near(r.per_s[TW_C_TW][2], 1000, 1e-9, "rate");
    tw_counter_series_free(s);
}

/* ---- births from one dump --------------------------------------------------------- */

Test(births, windows_from_expiry)
{
    struct tw_pressure p;
    memset(&p, 0, sizeof(p));
    p.tw_young = 30;
    p.tw_expiry[59] = 30; /* aged under 1 s */
    p.tw_expiry[55] = 40; /* 4-5 s */
    p.tw_expiry[50] = 30; /* 9-10 s */
    p.tw_expiry[49] = 500; /* 10-11 s: outside the 10 s window */
    p.tw_expiry[0] = 600;
    double r[TW_RATE_WINDOWS];
    tw_births(&p, 500, r);
    near(r[0], 60, 1e-9, "30 in the last 500 ms");
    near(r[1], 10, 1e-9, "100 in 10 s");
    near(r[2], 1200 / 60.0, 1e-9, "all 1200 in 60 s");
    tw_births(&p, 0, r);
    near(r[0], 30, 1e-9, "young_ms 0 = 1000");
    cr_assert_eq(tw_rate_window_s(0), 1);
    cr_assert_eq(tw_rate_window_s(1), 10);
    cr_assert_eq(tw_rate_window_s(2), 60);
    cr_assert_eq(tw_rate_window_s(3), 0);
}

/* ---- the engine ------------------------------------------------------------------------ */

static struct tw_kernel K;

static void kernel(int lo, int hi)
{
    memset(&K, 0, sizeof(K));
    K.port_lo = lo;
    K.port_hi = hi;
    K.tw_reuse = 0;
    K.tw_reuse_delay_ms = 1000;
    K.timestamps = 1;
    K.max_tw_buckets = 131072;
    K.sock_tw = -1;
}

/* A report of `n` TIME_WAIT from 198.18.0.1 to dst:80, aged age_ms, plus
 * `young` aged 100 ms. */
static struct tw_report *rep(const char *dst, unsigned n, uint32_t age_ms, unsigned young,
                             uint32_t young_ms)
{
    struct tw_report_opts o;
    memset(&o, 0, sizeof(o));
    tw_query_init(&o.query);
    o.young_ms = young_ms;
    struct tw_report *r;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    tw_report_set_kernel(r, &K);
    for (unsigned i = 0; i < n + young; i++) {
        struct tw_sock s;
        memset(&s, 0, sizeof(s));
        s.state = TW_TIME_WAIT;
        s.timer = 3;
        tw_parse_addr("198.18.0.1", &s.laddr);
        tw_parse_addr(dst, &s.raddr);
        s.lport = (uint16_t)(40000 + i);
        s.rport = 80;
        s.expires_ms = 60000 - (i < n ? age_ms : 100);
        cr_assert_eq(tw_report_add(&s, r), 0);
    }
    cr_assert_eq(tw_report_finish(r), 0);
    return r;
}

Test(engine, rates_history_and_forecast)
{
    kernel(40000, 40999); /* 1000 ports */
    struct tw_rate_engine *e;
    cr_assert_eq(tw_rate_engine_new(NULL, &e), 0);
    /* tick 1 at t = 100 s: 50 young (1 s window) and 450 aged 5 s */
    struct tw_report *r1 = rep("198.18.0.2", 450, 5000, 50, 1000);
    struct tw_counters c = ctr(0, 0);
    cr_assert_eq(tw_rate_engine_tick(e, 100000, r1, &c, 1000), 0);
    const struct tw_dest_rate *d;
    cr_assert_eq(tw_rate_engine_dests(e, &d), 1);
    cr_assert_eq(d[0].p, &r1->pressure[0]);
    near(d[0].new_per_s[0], 50, 1e-9, "1 s");
    near(d[0].new_per_s[1], 50, 1e-9, "10 s: 500 in 10 s");
    /* forecast at max(50, 50): 500 held; U reaches 1000 at 10 s, the 450
     * expire at 55 s: a straight line */
    cr_assert_eq(d[0].forecast.fc.state, TW_FC_AT);
    near(d[0].forecast.fc.seconds, 10, 1e-6, "time to exhaustion");
    near(d[0].forecast.rate, 50, 1e-9, "rate used");
    float h[TW_HISTORY_S];
    tw_rate_engine_history(e, 0, h);
    near(h[59], 50, 0, "this second");
    cr_assert(isnan(h[58]), "before it was seen");
    cr_assert_eq(tw_rate_engine_counters(e)->span_s[0], 0, "one sample: no counter rate");

    /* tick 2, 3 s later (a tick of 1 s young window): 200 young now: a rising
     * rate takes the forecast (200/s > the 10 s window's) */
    struct tw_report *r2 = rep("198.18.0.2", 0, 0, 200, 1000);
    c = ctr(600, 0);
    cr_assert_eq(tw_rate_engine_tick(e, 103000, r2, &c, 1000), 0);
    cr_assert_eq(tw_rate_engine_dests(e, &d), 1);
    near(d[0].new_per_s[0], 200, 1e-9, "1 s");
    near(d[0].new_per_s[1], 20, 1e-9, "10 s");
    near(d[0].forecast.rate, 200, 1e-9, "the larger");
    tw_rate_engine_history(e, 0, h);
    near(h[59], 200, 0, "now");
    near(h[58], 0, 0, "seconds between the ticks that its window did not see");
    near(h[56], 50, 0, "the first tick");
    near(tw_rate_engine_counters(e)->per_s[TW_C_TW][0], 200, 1e-9, "TW counter rate");
    cr_assert_eq(tw_rate_engine_tracked(e), 1);
    tw_report_free(r1);

    /* tick 3 at +70 s: another destination only; the first is forgotten */
    struct tw_report *r3 = rep("198.18.0.3", 10, 30000, 0, 1000);
    cr_assert_eq(tw_rate_engine_tick(e, 173000, r3, NULL, 1000), 0);
    cr_assert_eq(tw_rate_engine_dests(e, &d), 1);
    cr_assert_eq(tw_rate_engine_tracked(e), 1, "unseen for 70 s: forgotten");
    cr_assert_eq(d[0].forecast.fc.state, TW_FC_NEVER, "nothing new: never");
    cr_assert_eq(tw_rate_engine_tick(e, 172999, r3, NULL, 1000), TW_EBADOPT);
    tw_report_free(r2);
    tw_report_free(r3);
    tw_rate_engine_free(e);
}

/* tcp_max_tw_buckets = 600 under 1000 ports: the dump shows only the closes
 * that got a TIME_WAIT (10/s), the counters that 50/s more overflowed; the
 * forecast runs at the connections' rate, and says the cap is what keeps the
 * ports (issue 9 item 3) */
Test(engine, births_past_the_cap_are_scaled_to_connections)
{
    kernel(40000, 40999);
    K.max_tw_buckets = 600;
    struct tw_rate_engine *e;
    cr_assert_eq(tw_rate_engine_new(NULL, &e), 0);
    struct tw_report *r1 = rep("198.18.0.2", 590, 20000, 10, 1000);
    struct tw_counters c = ctr(0, 0);
    c.have[TW_C_TW_OVERFLOW] = true;
    cr_assert_eq(tw_rate_engine_tick(e, 100000, r1, &c, 1000), 0);
    struct tw_report *r2 = rep("198.18.0.2", 590, 20000, 10, 1000);
    c.v[TW_C_TW] = 100;
    c.v[TW_C_TW_OVERFLOW] = 500;
    cr_assert_eq(tw_rate_engine_tick(e, 110000, r2, &c, 1000), 0);
    const struct tw_dest_rate *d;
    cr_assert_eq(tw_rate_engine_dests(e, &d), 1);
    near(d[0].new_per_s[0], 10, 1e-9, "births: admitted only");
    near(d[0].forecast.rate, 60, 1e-9, "10 / (100 / 600)");
    cr_assert_eq(d[0].forecast.fc.state, TW_FC_NEVER);
    cr_assert(d[0].forecast.fc.capped, "the cap keeps it, not TIME_WAIT expiring in time");
    tw_report_free(r1);
    tw_report_free(r2);
    tw_rate_engine_free(e);
}

Test(engine, many_destinations_and_bad_options)
{
    kernel(40000, 40999);
    struct tw_rate_opts o = {.rate_window_s = 7};
    struct tw_rate_engine *e;
    cr_assert_eq(tw_rate_engine_new(&o, &e), TW_EBADOPT);
    o.rate_window_s = 60;
    cr_assert_eq(tw_rate_engine_new(&o, &e), 0);
    /* 3000 destinations: the table grows while keeping every index valid */
    struct tw_report_opts ro;
    memset(&ro, 0, sizeof(ro));
    tw_query_init(&ro.query);
    struct tw_report *r;
    cr_assert_eq(tw_report_new(&ro, &r), 0);
    tw_report_set_kernel(r, &K);
    for (unsigned i = 0; i < 3000; i++) {
        struct tw_sock s;
        memset(&s, 0, sizeof(s));
        s.state = TW_TIME_WAIT;
        s.timer = 3;
        tw_parse_addr("198.18.0.1", &s.laddr);
        tw_parse_addr("198.18.0.2", &s.raddr);
        s.lport = 40000;
        s.rport = (uint16_t)(1000 + i);
        s.expires_ms = 60000 - 100 - i; /* 3000 distinct ages under 1 s... and over */
        cr_assert_eq(tw_report_add(&s, r), 0);
    }
    cr_assert_eq(tw_report_finish(r), 0);
    cr_assert_eq(tw_rate_engine_tick(e, 5000, r, NULL, 1000), 0);
    const struct tw_dest_rate *d;
    cr_assert_eq(tw_rate_engine_dests(e, &d), 3000);
    cr_assert_eq(tw_rate_engine_tracked(e), 3000);
    for (size_t i = 0; i < 3000; i++) {
        float h[TW_HISTORY_S];
        tw_rate_engine_history(e, i, h);
        near(h[59], d[i].new_per_s[0], 0, "each its own history");
    }
    tw_report_free(r);
    tw_rate_engine_free(e);
}
