/*
 * test_doctor_forecast.c — doctor's time to exhaustion is libtwkit's
 * forecast engine's (issue 9 item 3), on hand-built measurements
 * (tests/doctor_sample.h): tcp_max_tw_buckets keeps a destination's ports
 * (warn, "never", kept by the cap, and tw-buckets proposes no raise), the
 * same load without the cap runs out (crit), reuse verified by the source
 * keeps them ("never", kept by tcp_tw_reuse), and unverified reuse is only
 * the labelled bound.  The same cases run on the real kernel in
 * tests/integration/doctor_forecast.sh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/doctor.h>

#include "../doctor_sample.h"

/* tcp_max_tw_buckets = 600 under 1000 ports at 48/s: TIME_WAIT can never pass
 * 600, so the ports never run out (a straight line said: 400 / 48 = 8 s) */
Test(doctor_forecast, cap_keeps_ports)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    s->k.max_tw_buckets = 600;
    s->k.sock_tw = s->tw1 = 600;
    struct tw_pressure *p = dest(false, 600, 1000, false);
    for (int i = 0; i < TW_EXPIRY_SECONDS; i++) /* 10 per second over the last minute */
        p->tw_expiry[i] = rep.tw_expiry_s[i] = 10;
    set_delta(s, TW_C_ACTIVE_OPENS, 96); /* 48/s */
    set_delta(s, TW_C_TW, 20);
    set_delta(s, TW_C_TW_OVERFLOW, 76);
    set_delta(s, TW_C_TW_RECYCLED, 0);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_eq(f->severity, TW_SEV_WARN, "never runs out: not crit");
    cr_assert_str_eq(evid(f, "forecast"), "never");
    cr_assert_str_eq(evid(f, "time_to_exhaustion_s"), "never");
    cr_assert_str_eq(evid(f, "kept_by"), "tcp_max_tw_buckets");
    cr_assert_str_eq(evid(f, "tcp_max_tw_buckets"), "600");
    cr_assert_str_eq(evid(f, "enter_tw_rate"), "48.0");
    cr_assert(strstr(f->fix, "only because tcp_max_tw_buckets = 600"), "%s", f->fix);
    cr_assert(strstr(f->fix, "Without the cap it would run out in about 11 s"), "%s", f->fix); /* 10/s expire: 400 / 38 */
    const struct tw_finding *b = tw_doctor_find(r, "tw-buckets");
    cr_assert_str_eq(evid(b, "protects_destination"), "198.18.0.2 -> 198.18.0.1:9001");
    cr_assert_not(b->has_change, "raising the cap would exhaust the ports");
    cr_assert(strstr(b->fix, "Do not raise it"), "%s", b->fix);
    done(s, r);
}

/* the same load without the cap: exhausted in about 8 s, crit */
Test(doctor_forecast, without_cap_exhausts)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 0;
    s->k.sock_tw = s->tw1 = 600;
    dest(false, 600, 1000, false);
    set_delta(s, TW_C_ACTIVE_OPENS, 96);
    set_delta(s, TW_C_TW, 96);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_eq(f->severity, TW_SEV_CRIT);
    cr_assert_str_eq(evid(f, "forecast"), "at");
    cr_assert_str_eq(evid(f, "time_to_exhaustion_s"), "8.3"); /* fresh TIME_WAIT: 400 / 48 */
    cr_assert_null(tw_finding_evidence(f, "kept_by"));
    cr_assert(strstr(f->summary, "they run out in about 8 s at 48.0 connects/s"), "%s", f->summary);
    cr_assert_null(tw_doctor_find(r, "tw-buckets"));
    done(s, r);
}

/* tcp_tw_reuse = 1, delay 2000 ms, 1000 ports, 300/s: the range sustains 500/s */
static struct tw_doctor_sample *reuse_case(bool verified)
{
    struct tw_doctor_sample *s = healthy();
    s->k.tw_reuse = 1;
    s->k.tw_reuse_delay_ms = 2000;
    struct tw_pressure *p = dest(false, 700, 1000, true);
    memset(p->tw_expiry, 0, sizeof(p->tw_expiry));
    p->tw_expiry[59] = p->tw_expiry[58] = 300; /* the last 2 s */
    p->tw_expiry[50] = 100;                    /* older than the delay */
    p->reclaimable_max = 100;
    rep.reuse_exact = verified;
    p->reclaimable = verified ? 100 : 0;
    p->pct = verified ? 60 : 70;
    p->pct_min = 60;
    set_delta(s, TW_C_ACTIVE_OPENS, 600);
    set_delta(s, TW_C_TW, 600);
    set_delta(s, TW_C_TW_RECYCLED, 600);
    return s;
}

Test(doctor_forecast, verified_reuse_never)
{
    struct tw_doctor_sample *s = reuse_case(true);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_eq(f->severity, TW_SEV_WARN);
    cr_assert_str_eq(evid(f, "forecast"), "never");
    cr_assert_str_eq(evid(f, "kept_by"), "tcp_tw_reuse");
    cr_assert_str_eq(evid(f, "sustainable_rate"), "500.0");
    cr_assert_null(tw_finding_evidence(f, "time_to_exhaustion_bound_s"), "verified: no bound");
    cr_assert(strstr(f->fix, "takes each TIME_WAIT over once it is 2000 ms old"), "%s", f->fix);
    done(s, r);
}

/* netlink cannot see the peer's timestamps: reuse is only the bound */
Test(doctor_forecast, unverified_reuse_is_a_bound)
{
    struct tw_doctor_sample *s = reuse_case(false);
    struct tw_doctor_result *r = run(s);
    const struct tw_finding *f = tw_doctor_find(r, "port-pressure");
    cr_assert_eq(f->severity, TW_SEV_CRIT, "the forecast counts no unverified reuse");
    cr_assert_str_eq(evid(f, "forecast"), "at");
    cr_assert_str_eq(evid(f, "time_to_exhaustion_bound_s"), "never");
    cr_assert_str_eq(evid(f, "sustainable_rate"), "16.7");
    cr_assert_str_eq(evid(f, "sustainable_rate_max"), "500.0");
    cr_assert(strstr(f->summary, "(never, if the peer sent timestamps: a bound)"), "%s", f->summary);
    cr_assert(strstr(f->fix, "never at the latest (a bound, not the forecast)"), "%s", f->fix);
    done(s, r);
}
