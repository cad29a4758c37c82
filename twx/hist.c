/*
 * hist.c — the log-linear latency histogram of twx/hist.h.  Bucket i < 16
 * holds exactly the value i; above, a value v with highest set bit e
 * (e >= 4) goes to bucket (e - 3) * 16 + the next four bits of v, so that
 * each power of two is split into 16 equal buckets.  Quantiles walk the
 * buckets once; with 1024 buckets that is cheap enough for end-of-run
 * reports, which is the only place they are asked for.
 */
#include "twx/hist.h"

static unsigned bucket_of(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15); /* <= 975 */
}

/* Largest value that falls in bucket i. */
static uint64_t bucket_upper(unsigned i)
{
    if (i < 16)
        return i;
    unsigned e = i / 16 + 3, m = i % 16;
    uint64_t lo = (uint64_t)(16 + m) << (e - 4);
    return lo + (((uint64_t)1 << (e - 4)) - 1);
}

void twx_hist_add(struct twx_hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

void twx_hist_merge(struct twx_hist *into, const struct twx_hist *from)
{
    for (unsigned i = 0; i < TWX_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t twx_hist_quantile(const struct twx_hist *h, double q)
{
    if (!h->n)
        return 0;
    if (!(q >= 0))
        q = 0;
    uint64_t rank = q >= 1 ? h->n - 1 : (uint64_t)(q * (double)h->n);
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < TWX_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            uint64_t v = bucket_upper(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

double twx_hist_mean(const struct twx_hist *h)
{
    return h->n ? (double)h->sum / (double)h->n : 0.0;
}
