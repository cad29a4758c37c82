/*
 * twx/hist.h — a latency histogram (internal tier; not installed).
 *
 * Log-linear buckets: exact below 16, then 16 sub-buckets per power of two,
 * so every value lands in a bucket whose width is at most 1/16 of its lower
 * edge (about 6 % relative resolution).  976 of the 1024 buckets cover
 * every 64-bit value; the struct is a flat array, so a thread keeps its own
 * with no locking and merging is a loop of additions.  The unit is the caller's (the lab uses microseconds).
 *
 * Zero-initialise a struct twx_hist before use; nothing is allocated.
 */
#ifndef TWX_HIST_H
#define TWX_HIST_H

#include <stdint.h>

#define TWX_HIST_BUCKETS 1024

struct twx_hist {
    uint64_t b[TWX_HIST_BUCKETS]; /* counts per bucket */
    uint64_t n;                   /* values added */
    uint64_t max;                 /* largest value added (exact) */
    uint64_t sum;                 /* sum of the values (wraps past 2^64) */
};

/* Add one value. */
void twx_hist_add(struct twx_hist *h, uint64_t v);
/* Add every value of from into into. */
void twx_hist_merge(struct twx_hist *into, const struct twx_hist *from);
/*
 * The value at quantile q (0 <= q <= 1): the upper edge of the bucket that
 * holds the value of rank floor(q * n), clamped to max, so it is never
 * below the true quantile and at most ~6 % above it.  0 when empty.
 */
uint64_t twx_hist_quantile(const struct twx_hist *h, double q);
/* Mean of the values added (exact, from sum and n); 0 when empty. */
double twx_hist_mean(const struct twx_hist *h);

#endif /* TWX_HIST_H */
