/*
 * rate.c — the rate half of the engine in twkit/rate.h: counter rates
 * over 1/10/60 s windows, new TIME_WAIT per destination from one dump, and
 * the per-tick engine that `watch` and `export` keep (counter series,
 * a 60 s history per destination, and a forecast for each).
 *
 * The engine consumes finished reports, whatever source built them, so a
 * cheaper source (a BPF iterator) slots in without touching it.  It keeps
 * per destination only a key and 60 floats; a destination unseen for 60 s
 * is forgotten, so memory follows the destinations in use, not time.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/rate.h>

#include "internal.h"

static const unsigned window_s[TW_RATE_WINDOWS] = {1, 10, 60};

unsigned tw_rate_window_s(unsigned w)
{
    return w < TW_RATE_WINDOWS ? window_s[w] : 0;
}

/* ---- counter series ---------------------------------------------------------- */

struct csample {
    uint64_t t;
    struct tw_counters c;
};

struct tw_counter_series {
    struct csample *s; /* ring */
    size_t cap, head, n; /* head: index of the oldest */
};

int tw_counter_series_new(struct tw_counter_series **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void tw_counter_series_free(struct tw_counter_series *s)
{
    if (!s)
        return;
    free(s->s);
    free(s);
}

static struct csample *at(const struct tw_counter_series *s, size_t i)
{
    return &s->s[(s->head + i) & (s->cap - 1)];
}

int tw_counter_series_add(struct tw_counter_series *s, uint64_t t_ms, const struct tw_counters *c)
{
    int ret = 0;
    if (s->n) {
        const struct csample *last = at(s, s->n - 1);
        if (t_ms < last->t)
            return TW_EBADOPT;
        for (int i = 0; i < TW_C_MAX; i++)
            if (i != TW_C_CURR_ESTAB && c->have[i] && last->c.have[i] && c->v[i] < last->c.v[i])
                ret = 1;
        if (ret)
            s->n = 0;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct csample *ns = malloc(ncap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        for (size_t i = 0; i < s->n; i++)
            ns[i] = *at(s, i);
        free(s->s);
        s->s = ns;
        s->cap = ncap;
        s->head = 0;
    }
    struct csample *x = &s->s[(s->head + s->n) & (s->cap - 1)];
    x->t = t_ms;
    x->c = *c;
    s->n++;
    /* keep the youngest sample that is at least 60 s old, and everything newer */
    while (s->n >= 3 && t_ms - at(s, 1)->t >= 60000) {
        s->head = (s->head + 1) & (s->cap - 1);
        s->n--;
    }
    return ret;
}

void tw_counter_series_rates(const struct tw_counter_series *s, struct tw_counter_rates *out)
{
    memset(out, 0, sizeof(*out));
    if (!s || s->n < 2)
        return;
    const struct csample *now = at(s, s->n - 1);
    for (int i = 0; i < TW_C_MAX; i++)
        out->have[i] = now->c.have[i];
    for (unsigned w = 0; w < TW_RATE_WINDOWS; w++) {
        uint64_t want = window_s[w] * 1000ull;
        const struct csample *ref = NULL;
        uint64_t best = UINT64_MAX;
        for (size_t i = 0; i + 1 < s->n; i++) {
            const struct csample *x = at(s, i);
            uint64_t age = now->t - x->t;
            if (age * 2 < want)
                continue;
            uint64_t d = age > want ? age - want : want - age;
            if (d < best) {
                best = d;
                ref = x;
            }
        }
        if (!ref)
            ref = at(s, 0);
        double span = (double)(now->t - ref->t) / 1000.0;
        if (span <= 0)
            continue;
        out->span_s[w] = span;
        for (int i = 0; i < TW_C_MAX; i++) {
            if (!now->c.have[i] || !ref->c.have[i]) {
                out->have[i] = false;
                continue;
            }
            if (i == TW_C_CURR_ESTAB) /* a gauge, not a counter */
                out->per_s[i][w] = 0;
            else
                out->per_s[i][w] = (double)(now->c.v[i] - ref->c.v[i]) / span;
        }
    }
}

/* ---- new TIME_WAIT per destination ---------------------------------------------------- */

void tw_births(const struct tw_pressure *p, uint32_t young_ms, double per_s[TW_RATE_WINDOWS])
{
    uint64_t last10 = 0, all = 0;
    for (int i = 0; i < TW_EXPIRY_SECONDS; i++) {
        all += p->tw_expiry[i];
        if (i >= TW_EXPIRY_SECONDS - 10)
            last10 += p->tw_expiry[i];
    }
    if (!young_ms)
        young_ms = 1000;
    if (young_ms > TW_TIMEWAIT_LEN_MS) /* no TIME_WAIT is older */
        young_ms = TW_TIMEWAIT_LEN_MS;
    per_s[0] = (double)p->tw_young * 1000.0 / young_ms;
    per_s[1] = (double)last10 / 10.0;
    per_s[2] = (double)all / 60.0;
}

/* ---- the engine ------------------------------------------------------------------------- */

struct dkey {
    uint8_t fam;
    uint8_t pad;
    uint16_t rport;
    uint32_t l[4], r[4];
};

struct track {
    struct dkey k;
    bool used;
    int64_t first_s, last_s; /* seconds (t_ms / 1000) first and last written */
    float ring[TW_HISTORY_S];  /* [second % 60] */
};

struct tw_rate_engine {
    struct tw_rate_opts o;
    struct tw_counter_series *cs;
    struct tw_counter_rates rates;
    struct tw_fc_plan plan;
    struct track *t;
    size_t cap, n;
    struct tw_dest_rate *d;   /* the last tick's destinations */
    size_t *d_track;          /* their tracks */
    size_t nd, dcap;
    int64_t now_s;
    bool ticked;
    uint64_t last_t;
};

static uint64_t key_hash(const struct dkey *k)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)k->fam << 16 | k->rport);
    for (int i = 0; i < 4; i++) {
        h = (h ^ k->l[i]) * 0xff51afd7ed558ccdULL;
        h = (h ^ k->r[i]) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }
    return h;
}

static void key_of(const struct tw_pressure *p, struct dkey *k)
{
    memset(k, 0, sizeof(*k));
    k->fam = p->laddr.family == AF_INET6;
    k->rport = p->rport;
    memcpy(k->l, p->laddr.u.w, sizeof(k->l));
    memcpy(k->r, p->raddr.u.w, sizeof(k->r));
}

/* Rebuild the table at ncap slots, keeping tracks seen since `keep_from`. */
static int rehash(struct tw_rate_engine *e, size_t ncap, int64_t keep_from)
{
    struct track *nt = calloc(ncap, sizeof(*nt));
    if (!nt)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < e->cap; i++) {
        const struct track *x = &e->t[i];
        if (!x->used || x->last_s < keep_from)
            continue;
        size_t j = key_hash(&x->k) & (ncap - 1);
        while (nt[j].used)
            j = (j + 1) & (ncap - 1);
        nt[j] = *x;
        n++;
    }
    free(e->t);
    e->t = nt;
    e->cap = ncap;
    e->n = n;
    return 0;
}

static long track_get(struct tw_rate_engine *e, const struct dkey *k)
{
    if (!e->cap || (e->n + 1) * 2 > e->cap)
        return -1; /* the caller sized the table */
    size_t i = key_hash(k) & (e->cap - 1);
    for (;;) {
        struct track *x = &e->t[i];
        if (!x->used) {
            memset(x, 0, sizeof(*x));
            x->k = *k;
            x->used = true;
            x->first_s = x->last_s = INT64_MIN;
            e->n++;
            return (long)i;
        }
        if (!memcmp(&x->k, k, sizeof(*k)))
            return (long)i;
        i = (i + 1) & (e->cap - 1);
    }
}

static inline size_t slot(int64_t s)
{
    return (size_t)(((s % TW_HISTORY_S) + TW_HISTORY_S) % TW_HISTORY_S);
}

/* Write `rate` for the seconds this tick's 1 s window covers (a later tick in
 * the same second overwrites), 0 for the seconds it was not in use. */
static void track_put(struct track *x, int64_t now_s, int64_t covered_s, float rate)
{
    int64_t from = now_s - covered_s + 1;
    if (x->first_s == INT64_MIN)
        x->first_s = from;
    else
        for (int64_t s = x->last_s + 1 > now_s - TW_HISTORY_S ? x->last_s + 1 : now_s - TW_HISTORY_S;
             s < from; s++)
            x->ring[slot(s)] = 0;
    if (from < now_s - TW_HISTORY_S + 1)
        from = now_s - TW_HISTORY_S + 1;
    for (int64_t s = from; s <= now_s; s++)
        x->ring[slot(s)] = rate;
    x->last_s = now_s;
}

int tw_rate_engine_new(const struct tw_rate_opts *o, struct tw_rate_engine **out)
{
    struct tw_rate_engine *e = calloc(1, sizeof(*e));
    *out = NULL;
    if (!e)
        return -ENOMEM;
    if (o)
        e->o = *o;
    unsigned w = e->o.rate_window_s ? e->o.rate_window_s : 10;
    if (w != 1 && w != 10 && w != 60) {
        free(e);
        return TW_EBADOPT;
    }
    e->o.rate_window_s = w;
    if (tw_counter_series_new(&e->cs)) {
        free(e);
        return -ENOMEM;
    }
    tw_forecast_plan(NULL, &e->plan);
    *out = e;
    return 0;
}

void tw_rate_engine_free(struct tw_rate_engine *e)
{
    if (!e)
        return;
    tw_counter_series_free(e->cs);
    free(e->t);
    free(e->d);
    free(e->d_track);
    free(e);
}

static unsigned window_index(unsigned s)
{
    return s == 1 ? 0 : s == 10 ? 1 : 2;
}

int tw_rate_engine_tick(struct tw_rate_engine *e, uint64_t t_ms, const struct tw_report *r,
                        const struct tw_counters *c, uint32_t young_ms)
{
    if (e->ticked && t_ms < e->last_t)
        return TW_EBADOPT;
    if (c) {
        int x = tw_counter_series_add(e->cs, t_ms, c);
        if (x < 0)
            return x;
    }
    tw_counter_series_rates(e->cs, &e->rates);
    e->ticked = true;
    e->last_t = t_ms;
    e->now_s = (int64_t)(t_ms / 1000);
    if (!young_ms)
        young_ms = 1000;
    int64_t covered = (young_ms + 999) / 1000;

    if (r->n_pressure > e->dcap) {
        size_t ncap = r->n_pressure + r->n_pressure / 2 + 16;
        struct tw_dest_rate *nd = realloc(e->d, ncap * sizeof(*nd));
        if (!nd)
            return -ENOMEM;
        e->d = nd;
        size_t *nt = realloc(e->d_track, ncap * sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        e->d_track = nt;
        e->dcap = ncap;
    }
    /* forget destinations unseen for a minute, before adding this tick's */
    int64_t keep = e->now_s - TW_HISTORY_S;
    size_t stale = 0;
    for (size_t i = 0; i < e->cap; i++)
        stale += e->t[i].used && e->t[i].last_s < keep;
    size_t cap = e->cap ? e->cap : 256;
    while ((e->n - stale + r->n_pressure + 1) * 2 > cap)
        cap *= 2;
    /* track_get never grows the table inside the loop: d_track stays valid */
    if ((stale || cap != e->cap) && rehash(e, cap, keep))
        return -ENOMEM;

    unsigned wi = window_index(e->o.rate_window_s);
    double sum_births = 0;
    e->nd = 0;
    for (size_t i = 0; i < r->n_pressure; i++) {
        const struct tw_pressure *p = &r->pressure[i];
        struct dkey k;
        key_of(p, &k);
        long ti = track_get(e, &k);
        if (ti < 0)
            return -ENOMEM;
        struct tw_dest_rate *d = &e->d[e->nd];
        e->d_track[e->nd++] = (size_t)ti;
        memset(d, 0, sizeof(*d));
        d->p = p;
        tw_births(p, young_ms, d->new_per_s);
        sum_births += d->new_per_s[1];
        track_put(&e->t[ti], e->now_s, covered, (float)d->new_per_s[0]);
    }

    /* the namespace: sockets entering TIME_WAIT, net of takeovers (10 s window) */
    double enter = sum_births;
    const struct tw_counter_rates *cr = &e->rates;
    if (cr->span_s[1] > 0 && cr->have[TW_C_TW]) {
        enter = cr->per_s[TW_C_TW][1];
        if (cr->have[TW_C_TW_OVERFLOW])
            enter += cr->per_s[TW_C_TW_OVERFLOW][1];
        if (cr->have[TW_C_TW_RECYCLED])
            enter -= cr->per_s[TW_C_TW_RECYCLED][1];
        if (enter < 0)
            enter = 0;
    }
    struct tw_fc_namespace ns;
    tw_forecast_namespace_from(r, enter, &ns);
    tw_forecast_plan(&ns, &e->plan);

    /* Births are the TIME_WAIT the dump shows: past tcp_max_tw_buckets the
     * closes that overflowed never had one, so births count only the
     * admitted share.  The forecast wants the connections (it applies the
     * plan's admission itself): scale births up by (TW + overflow) / TW over
     * the 10 s window, the share the plan assumes for every destination.
     * Without it a destination held by the cap looked slow, and "never" was
     * put down to TIME_WAIT expiring in time instead of to the cap. */
    double admitted = 1;
    if (cr->span_s[1] > 0 && cr->have[TW_C_TW] && cr->have[TW_C_TW_OVERFLOW] &&
        cr->per_s[TW_C_TW][1] > 0 && cr->per_s[TW_C_TW_OVERFLOW][1] > 0)
        admitted = cr->per_s[TW_C_TW][1] /
                   (cr->per_s[TW_C_TW][1] + cr->per_s[TW_C_TW_OVERFLOW][1]);

    for (size_t i = 0; i < e->nd; i++) {
        struct tw_dest_rate *d = &e->d[i];
        double rate = d->new_per_s[wi] > d->new_per_s[0] ? d->new_per_s[wi] : d->new_per_s[0];
        rate /= admitted;
        struct tw_fc_dest fd;
        tw_forecast_dest_from(r, d->p, rate, &fd);
        tw_forecast_dest(&e->plan, &fd, &d->forecast);
    }
    return 0;
}

size_t tw_rate_engine_dests(const struct tw_rate_engine *e, const struct tw_dest_rate **out)
{
    *out = e->d;
    return e->nd;
}

void tw_rate_engine_history(const struct tw_rate_engine *e, size_t i, float out[TW_HISTORY_S])
{
    for (int k = 0; k < TW_HISTORY_S; k++)
        out[k] = NAN;
    if (i >= e->nd)
        return;
    const struct track *x = &e->t[e->d_track[i]];
    for (int k = 0; k < TW_HISTORY_S; k++) {
        int64_t s = e->now_s - (TW_HISTORY_S - 1) + k;
        if (x->first_s == INT64_MIN || s < x->first_s)
            continue;
        out[k] = s > x->last_s ? 0.0f : x->ring[slot(s)];
    }
}

const struct tw_counter_rates *tw_rate_engine_counters(const struct tw_rate_engine *e)
{
    return &e->rates;
}

const struct tw_fc_plan *tw_rate_engine_plan(const struct tw_rate_engine *e)
{
    return &e->plan;
}

size_t tw_rate_engine_tracked(const struct tw_rate_engine *e)
{
    return e->n;
}
