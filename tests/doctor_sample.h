/*
 * doctor_sample.h — hand-built measurements for the unit tests of doctor's
 * rules and engine (tests/unit/test_doctor*.c): a healthy 6.18 namespace
 * with no load, sampled for 2 s, to which a test adds exactly what a rule
 * looks at.  Header-only (static functions); one measurement at a time.
 */
#ifndef TWKIT_TESTS_DOCTOR_SAMPLE_H
#define TWKIT_TESTS_DOCTOR_SAMPLE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <twkit/doctor.h>

static struct tw_report rep;
static struct tw_pressure pr[8];

/* A healthy 6.18 namespace with no load, sampled for 2 s. */
static inline struct tw_doctor_sample *healthy(void)
{
    struct tw_doctor_sample *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->k.port_lo = 32768;
    s->k.port_hi = 60999;
    s->k.tw_reuse = 2;
    s->k.tw_reuse_delay_ms = 1000;
    s->k.timestamps = 1;
    s->k.max_tw_buckets = 131072;
    s->k.fin_timeout = 60;
    s->k.rfc1337 = 0;
    s->k.tw_slab_v4 = 256;
    s->ehash_entries = 262144;
    s->have_counters = true;
    s->have_listen = true;
    s->seconds = 2.0;
    for (int i = 0; i < TW_C_MAX; i++)
        s->c0.have[i] = s->c1.have[i] = true;
    s->tw_recycle = -1;
    memset(&rep, 0, sizeof(rep));
    memset(pr, 0, sizeof(pr));
    rep.range_size = 28232;
    rep.effective_range = 28232;
    rep.pressure = pr;
    s->report = &rep;
    return s;
}

static inline void set_delta(struct tw_doctor_sample *s, enum tw_counter_id id, uint64_t d)
{
    s->c0.v[id] = 1000;
    s->c1.v[id] = 1000 + d;
}

/*
 * One destination: 198.18.0.2 -> 198.18.0.1:9001 (or 127.0.0.1 ->
 * 127.0.0.1:9001), in_use TIME_WAIT, an effective range of eff.  With reuse,
 * every TIME_WAIT is old enough: reclaimable_max = in_use (a bound, as
 * sock_diag gives it), and pct_min 0.  Its TIME_WAIT are new (59-60 s left,
 * for the forecast).  The host-wide pool is this one.
 */
static inline struct tw_pressure *dest(bool loopback, uint64_t in_use, uint32_t eff, bool reuse)
{
    struct tw_pressure *p = &pr[rep.n_pressure++];
    p->laddr.family = p->raddr.family = AF_INET;
    uint8_t l[4] = {198, 18, 0, 2}, r[4] = {198, 18, 0, 1}, lo[4] = {127, 0, 0, 1};
    memcpy(p->laddr.u.b, loopback ? lo : l, 4);
    memcpy(p->raddr.u.b, loopback ? lo : r, 4);
    p->rport = (uint16_t)(9000 + rep.n_pressure);
    p->loopback = loopback;
    p->reuse_applies = reuse;
    p->in_use = p->time_wait = in_use;
    p->tw_expiry[TW_EXPIRY_SECONDS - 1] = (uint32_t)in_use;
    p->reclaimable_max = reuse ? in_use : 0;
    rep.effective_range = rep.range_size = eff;
    p->pct = 100.0 * in_use / eff;
    p->pct_min = 100.0 * (in_use - p->reclaimable_max) / eff;
    if (in_use > rep.host_ports_in_use)
        rep.host_ports_in_use = in_use;
    rep.host_pct = 100.0 * rep.host_ports_in_use / eff;
    return p;
}

static inline struct tw_doctor_result *run(struct tw_doctor_sample *s)
{
    struct tw_doctor_result *r = NULL;
    cr_assert_eq(tw_doctor_run(s, &r), 0);
    cr_assert_not_null(r);
    return r;
}

static inline const char *evid(const struct tw_finding *f, const char *k)
{
    cr_assert_not_null(f, "no such finding");
    const char *v = tw_finding_evidence(f, k);
    cr_assert_not_null(v, "%s: no evidence '%s'", f->id, k);
    return v;
}

static inline void done(struct tw_doctor_sample *s, struct tw_doctor_result *r)
{
    tw_doctor_result_free(r);
    free(s);
}

#endif
