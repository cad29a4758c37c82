/*
 * forecast.c — time to ephemeral-port exhaustion per destination, by the
 * model stated in twkit/rate.h.
 *
 * Not a straight line (free ports / rate): a destination's ports come back
 * as its TIME_WAIT sockets expire (the expiry histogram says when, to the
 * second), connect() may take a TIME_WAIT over once it is older than
 * tcp_tw_reuse_delay (where reuse applies and the peer sent timestamps),
 * and once the namespace holds tcp_max_tw_buckets TIME_WAIT further closes
 * get none, so their ports are free at once.
 *
 * The model is a fluid one with 1 s resolution.  Ports held at time t are
 *   U(t) = H + sum over TIME_WAIT cohorts of the part still held at t,
 * where a cohort is the sockets that expire in one 1 s bucket now, or those
 * born in one coming second (L x admitted fraction), spread evenly over its
 * second.  A cohort releases its ports evenly over the second it expires,
 * or, for the reusable fraction p, over the second it turns `delay` old.
 * U is evaluated at whole seconds and linear in between (exactly so when
 * the delay is a whole number of seconds); the first crossing of R is the
 * exhaustion.  Without the cap every cohort is gone after 62 s and U is
 * constant: the simulation stops there.  The namespace plan runs the same
 * bookkeeping on the namespace's TIME_WAIT count to find, second by second,
 * the fraction of new TIME_WAIT that tcp_max_tw_buckets admits.
 */
#include <math.h>
#include <string.h>

#include <twkit/rate.h>

#include "internal.h"

#define LIFE_S 60 /* TCP_TIMEWAIT_LEN */

static inline double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

const char *tw_fc_state_name(enum tw_fc_state s)
{
    switch (s) {
    case TW_FC_NEVER: return "never";
    case TW_FC_AT: return "at";
    case TW_FC_NOW: return "now";
    case TW_FC_BEYOND: return "beyond";
    }
    return "?";
}

const char *tw_fc_limit_name(enum tw_fc_limit l)
{
    switch (l) {
    case TW_FC_LIMIT_TIMEWAIT: return "time_wait";
    case TW_FC_LIMIT_REUSE_DELAY: return "reuse_delay";
    }
    return "?";
}

/* ---- the namespace: tcp_max_tw_buckets ---------------------------------------- */

void tw_forecast_plan(const struct tw_fc_namespace *ns, struct tw_fc_plan *out)
{
    for (unsigned k = 0; k < TW_FORECAST_HORIZON_S; k++)
        out->admit[k] = 1.0f;
    out->steady_from = 0;
    out->full_in_s = -1;
    if (!ns || ns->max_tw_buckets <= 0)
        return;

    double cap = (double)ns->max_tw_buckets, n = 0;
    for (int i = 0; i < TW_EXPIRY_SECONDS; i++)
        n += (double)ns->expiry[i];
    /* sockstat may be lower than the dump if sockets expired in between */
    if (ns->tw_now >= 0 && ns->tw_now < n)
        n = ns->tw_now;
    double lambda = ns->enter_per_s > 0 ? ns->enter_per_s : 0;
    double admitted[TW_FORECAST_HORIZON_S];
    if (n >= cap)
        out->full_in_s = 0;
    for (unsigned k = 0; k < TW_FORECAST_HORIZON_S; k++) {
        double gone = (k < TW_EXPIRY_SECONDS ? (double)ns->expiry[k] : 0) +
                      (k >= LIFE_S ? admitted[k - LIFE_S] : 0);
        if (gone > n)
            gone = n; /* the histogram was read before sockstat */
        double room = cap - n + gone;
        double a = lambda < room ? lambda : room > 0 ? room : 0;
        admitted[k] = a;
        out->admit[k] = lambda > 0 ? (float)(a / lambda) : 1.0f;
        if (out->full_in_s < 0 && lambda > gone && n + lambda - gone >= cap)
            out->full_in_s = k + (cap - n) / (lambda - gone);
        n += a - gone;
        if (n < 0)
            n = 0;
    }
    unsigned s = TW_FORECAST_HORIZON_S - 1;
    while (s > 0 && fabsf(out->admit[s - 1] - out->admit[TW_FORECAST_HORIZON_S - 1]) < 1e-6f)
        s--;
    out->steady_from = s;
}

/* ---- one destination ---------------------------------------------------------------- */

/* Ports the initial TIME_WAIT still hold at whole second k. */
static double initial_held(const struct tw_fc_dest *d, double p, double delay, int k)
{
    double u = 0;
    for (int i = 0; i < TW_EXPIRY_SECONDS; i++) {
        if (!d->expiry[i] || i + 1 <= k)
            continue;
        /* bucket i: expires evenly over [i, i+1); turns `delay` old over
         * [i + delay - 60, i + delay - 59) */
        u += d->expiry[i] * ((1 - p) * clamp01(i + 1 - k) + p * clamp01(i + delay - 59 - k));
    }
    return u;
}

/* Births of second j still holding ports at whole second k (fraction). */
static inline double born_held(int j, int k, double p, double delay)
{
    return (1 - p) * clamp01(j + LIFE_S + 1 - k) + p * clamp01(j + delay + 1 - k);
}

static void one(const struct tw_fc_plan *plan, const struct tw_fc_dest *d, double p,
                struct tw_fc_result *res)
{
    double R = d->range, H = d->held > 0 ? d->held : 0;
    double L = d->rate > 0 ? d->rate : 0;
    double delay = d->delay_s > 0.001 ? d->delay_s : 0.001;
    if (delay > LIFE_S)
        delay = LIFE_S;
    double hold = (1 - p) * LIFE_S + p * delay;

    res->sustainable_per_s = R > H ? (R - H) / hold : 0;
    res->limit = p > 0 ? TW_FC_LIMIT_REUSE_DELAY : TW_FC_LIMIT_TIMEWAIT;
    res->seconds = -1;
    res->capped = false;

    double u0 = H + initial_held(d, p, delay, 0);
    if (u0 >= R) {
        res->state = TW_FC_NOW;
        res->seconds = 0;
        return;
    }
    if (L <= 0) {
        res->state = TW_FC_NEVER;
        return;
    }

    /* Quick bound, ignoring the cap (which only frees ports): the initial
     * sockets not yet expired plus every birth so far. */
    double tail[TW_EXPIRY_SECONDS + 1];
    tail[TW_EXPIRY_SECONDS] = 0;
    for (int i = TW_EXPIRY_SECONDS - 1; i >= 0; i--)
        tail[i] = tail[i + 1] + d->expiry[i];
    double worst = 0;
    for (int k = 0; k <= LIFE_S + 2; k++) {
        int m = k - 1 < 0 ? 0 : k - 1 > TW_EXPIRY_SECONDS ? TW_EXPIRY_SECONDS : k - 1;
        double births = L * ((1 - p) * fmin(k, LIFE_S + 1) + p * fmin(k, delay + 1));
        double ub = H + tail[m] + births;
        if (ub > worst)
            worst = ub;
    }
    if (worst < R) {
        res->state = TW_FC_NEVER;
        return;
    }

    unsigned steady = plan ? plan->steady_from : 0;
    unsigned kend = steady + LIFE_S + 2;
    if (kend > TW_FORECAST_HORIZON_S)
        kend = TW_FORECAST_HORIZON_S;
    double born[TW_FORECAST_HORIZON_S];
    double prev = u0, max_last = 0, max_prev = 0;
    for (unsigned k = 1; k <= kend; k++) {
        born[k - 1] = L * (plan ? plan->admit[k - 1] : 1.0);
        double u = H + (k <= TW_EXPIRY_SECONDS ? initial_held(d, p, delay, (int)k) : 0);
        int j0 = (int)k - LIFE_S - 2;
        for (int j = j0 < 0 ? 0 : j0; j < (int)k; j++)
            u += born[j] * born_held(j, (int)k, p, delay);
        if (u >= R) {
            res->state = TW_FC_AT;
            res->seconds = (k - 1) + (u > prev ? (R - prev) / (u - prev) : 1.0);
            return;
        }
        prev = u;
        if (k + LIFE_S > kend)
            max_last = u > max_last ? u : max_last;
        else if (k + 2 * LIFE_S > kend)
            max_prev = u > max_prev ? u : max_prev;
    }
    /* Stopped early: the admission is constant and every cohort turned over,
     * so U stays where it is.  At the horizon (the cap keeps the admission
     * periodic): settled if the last minute peaks no higher than the one
     * before it. */
    if (kend < TW_FORECAST_HORIZON_S || max_last <= max_prev + 1)
        res->state = TW_FC_NEVER;
    else
        res->state = TW_FC_BEYOND;
    res->capped = L > res->sustainable_per_s; /* only the cap keeps it going */
}

void tw_forecast_dest(const struct tw_fc_plan *plan, const struct tw_fc_dest *d,
                      struct tw_forecast *out)
{
    memset(out, 0, sizeof(*out));
    out->rate = d->rate > 0 ? d->rate : 0;
    double lo = clamp01(d->reuse_lo), hi = clamp01(d->reuse_hi);
    if (hi < lo)
        hi = lo;
    one(plan, d, lo, &out->fc);
    if (hi > lo) {
        one(plan, d, hi, &out->bound);
        out->bounded = true;
    } else {
        out->bound = out->fc;
    }
}

/* ---- inputs from a report ------------------------------------------------------------ */

void tw_forecast_dest_from(const struct tw_report *r, const struct tw_pressure *p, double rate,
                           struct tw_fc_dest *d)
{
    const struct tw_kernel *k = &r->kernel;
    memset(d, 0, sizeof(*d));
    d->range = r->effective_range;
    d->held = (double)(p->in_use - p->time_wait);
    memcpy(d->expiry, p->tw_expiry, sizeof(d->expiry));
    d->rate = rate;
    /* 6.14+: the sysctl (ms); before, 1 s granularity: (0, 1] s, so 1 s at worst */
    d->delay_s = k->tw_reuse_delay_ms > 0 ? k->tw_reuse_delay_ms / 1000.0 : 1.0;
    /* with tcp_timestamps=0 the new connections carry no timestamps, so
     * their TIME_WAIT are never reusable (p = 0, no bound); some of today's
     * may be, which only makes the forecast early, never late */
    if (!p->reuse_applies || k->timestamps == 0)
        return;
    if (r->reuse_exact) {
        /* the source saw the peers' timestamps: the share of TIME_WAIT old enough
         * that it called reusable */
        uint64_t old = 0;
        for (int i = 0; i < TW_EXPIRY_SECONDS; i++)
            if (LIFE_S - (i + 1) >= d->delay_s)
                old += p->tw_expiry[i];
        if (old) {
            d->reuse_lo = d->reuse_hi = clamp01((double)p->reclaimable / (double)old);
            return;
        }
        if (p->reclaimable) {
            d->reuse_lo = d->reuse_hi = 1;
            return;
        }
    }
    d->reuse_lo = 0; /* unverified: not counted in the forecast */
    d->reuse_hi = 1; /* ... only in its bound */
}

void tw_forecast_namespace_from(const struct tw_report *r, double enter_per_s,
                                struct tw_fc_namespace *ns)
{
    memset(ns, 0, sizeof(*ns));
    ns->max_tw_buckets = r->kernel.max_tw_buckets;
    ns->tw_now = (double)r->kernel.sock_tw;
    memcpy(ns->expiry, r->tw_expiry_s, sizeof(ns->expiry));
    ns->enter_per_s = enter_per_s;
}
