/*
 * doctor_forecast.c — doctor's time to exhaustion, made by libtwkit's one
 * forecast engine (lib/forecast.c, twkit/rate.h), never by a straight line.
 *
 * "Free ports / connect rate" is wrong both ways on a real kernel: ports
 * come back as TIME_WAIT expire or are taken over by tcp_tw_reuse (after
 * tcp_tw_reuse_delay, where the peer sent timestamps), and once the
 * namespace holds tcp_max_tw_buckets TIME_WAIT further closes get none and
 * free their port at once.  A straight line called a destination "out in
 * 8 s" that the cap kept from ever running out, and one that reuse kept at
 * a steady 300 connects/s.  So doctor hands the engine what it measured:
 * the report (each destination's expiry histogram, the namespace's), the
 * connect rate over the window (ActiveOpens: host-wide, an upper bound on
 * one destination's share) and the rate sockets entered TIME_WAIT
 * (TcpExt TW + TCPTimeWaitOverflow - TWRecycled).  Reuse that twkit cannot
 * verify stays out of the forecast (the engine's p = 0) and is only an
 * "as late as" bound (p = 1).
 */
#include <stdio.h>
#include <string.h>

#include "doctor_int.h"

/* Sockets that entered TIME_WAIT (or tried to) per second over the window. */
static double enter_rate(const struct tw_doctor_sample *s, double fallback)
{
    if (s->seconds <= 0 || !s->have_counters || !s->c0.have[TW_C_TW] || !s->c1.have[TW_C_TW])
        return fallback; /* ActiveOpens: every connection may end in TIME_WAIT */
    double n = (double)tw_doctor_delta(s, TW_C_TW) +
               (double)tw_doctor_delta(s, TW_C_TW_OVERFLOW) -
               (double)tw_doctor_delta(s, TW_C_TW_RECYCLED);
    return n > 0 ? n / s->seconds : 0;
}

void tw__doctor_forecast_init(struct tw__dctx *x)
{
    tw_forecast_plan(NULL, &x->plan);
    if (!x->rep)
        return;
    x->fc_rep = *x->rep;
    x->fc_rep.kernel = *x->k; /* one set of readings for every rule */
    x->enter_rate = enter_rate(x->s, x->rate);
    struct tw_fc_namespace ns;
    tw_forecast_namespace_from(&x->fc_rep, x->enter_rate, &ns);
    ns.tw_now = (double)(x->s->tw1 >= 0 ? x->s->tw1 : x->k->sock_tw); /* at the end */
    tw_forecast_plan(&ns, &x->plan);

    /* a destination that only tcp_max_tw_buckets keeps from running out */
    if (x->rate <= 0 || x->k->max_tw_buckets <= 0)
        return;
    for (size_t i = 0; i < x->rep->n_pressure; i++) {
        const struct tw_pressure *p = &x->rep->pressure[i];
        if (p->pct < TW_DOCTOR_HOT_PCT || (x->cap_saves && p->pct <= x->cap_saves->pct))
            continue;
        struct tw_forecast with, without;
        tw__doctor_forecast(x, p, true, &with);
        if (with.fc.state == TW_FC_AT || with.fc.state == TW_FC_NOW)
            continue;
        tw__doctor_forecast(x, p, false, &without);
        if (without.fc.state != TW_FC_AT && without.fc.state != TW_FC_NOW)
            continue;
        x->cap_saves = p;
        x->cap_saves_s = without.fc.seconds;
    }
}

void tw__doctor_forecast(const struct tw__dctx *x, const struct tw_pressure *p, bool cap,
                         struct tw_forecast *out)
{
    struct tw_fc_dest d;
    tw_forecast_dest_from(&x->fc_rep, p, x->rate, &d);
    tw_forecast_dest(cap ? &x->plan : NULL, &d, out);
}

const char *tw__doctor_fc_words(const struct tw_fc_result *r, char *buf, size_t len)
{
    switch (r->state) {
    case TW_FC_NOW: snprintf(buf, len, "now"); break;
    case TW_FC_AT:
        if (r->seconds < 0.5)
            snprintf(buf, len, "in under a second");
        else
            snprintf(buf, len, "in about %.0f s", r->seconds);
        break;
    case TW_FC_NEVER: snprintf(buf, len, "never"); break;
    case TW_FC_BEYOND:
        snprintf(buf, len, "not within %d min", TW_FORECAST_HORIZON_S / 60);
        break;
    }
    return buf;
}
