/*
 * test_twx_hist.c — the latency histogram: exact small values, the ~6 %
 * bound on every quantile across the whole 64-bit range, quantiles never
 * below the true value, merge equal to adding, mean exact.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twx/hist.h"

static struct twx_hist *hist_new(void)
{
    struct twx_hist *h = calloc(1, sizeof(*h));
    cr_assert_not_null(h);
    return h;
}

Test(twx_hist, empty_is_zero)
{
    struct twx_hist *h = hist_new();
    cr_assert_eq(twx_hist_quantile(h, 0.5), 0);
    cr_assert_eq(twx_hist_quantile(h, 1), 0);
    cr_assert_eq(twx_hist_mean(h), 0.0);
    free(h);
}

Test(twx_hist, small_values_exact)
{
    struct twx_hist *h = hist_new();
    for (uint64_t v = 0; v < 16; v++)
        twx_hist_add(h, v);
    cr_assert_eq(h->n, 16);
    cr_assert_eq(twx_hist_quantile(h, 0), 0);
    cr_assert_eq(twx_hist_quantile(h, 0.5), 8);
    cr_assert_eq(twx_hist_quantile(h, 1), 15);
    cr_assert_eq(h->max, 15);
    cr_assert_float_eq(twx_hist_mean(h), 7.5, 1e-12);
    free(h);
}

/* One value at a time, every magnitude: the quantile is >= v and within 1/16. */
Test(twx_hist, relative_error_bound_everywhere)
{
    uint64_t vals[] = {16, 17, 31, 32, 33, 100, 999, 1000, 1001, 65535, 65536, 123456789,
                       (uint64_t)1 << 40, ((uint64_t)1 << 40) + 12345, UINT64_MAX / 3,
                       UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct twx_hist *h = hist_new();
        twx_hist_add(h, vals[i]);
        twx_hist_add(h, 0);
        /* rank 1 of 2: the larger value, clamped to max = itself */
        cr_assert_eq(twx_hist_quantile(h, 1), vals[i]);
        free(h);
    }
    /* with a larger value present, the bucket edge of v shows */
    for (uint64_t v = 16; v < ((uint64_t)1 << 62); v = v * 3 + 7) {
        struct twx_hist *h = hist_new();
        twx_hist_add(h, v);
        twx_hist_add(h, UINT64_MAX);
        uint64_t q = twx_hist_quantile(h, 0);
        cr_assert_geq(q, v, "quantile below the value %llu", (unsigned long long)v);
        cr_assert_leq((long double)(q - v), (long double)v / 16.0L,
                      "%llu -> %llu: more than 1/16 off", (unsigned long long)v,
                      (unsigned long long)q);
        free(h);
    }
}

Test(twx_hist, quantiles_of_a_uniform_run)
{
    struct twx_hist *h = hist_new();
    for (uint64_t v = 1; v <= 10000; v++)
        twx_hist_add(h, v);
    uint64_t p50 = twx_hist_quantile(h, 0.5), p99 = twx_hist_quantile(h, 0.99);
    cr_assert(p50 >= 5001 && p50 <= 5001 + 5001 / 16, "p50 %llu", (unsigned long long)p50);
    cr_assert(p99 >= 9901 && p99 <= 10000, "p99 %llu", (unsigned long long)p99);
    cr_assert_eq(twx_hist_quantile(h, 1), 10000);
    cr_assert_float_eq(twx_hist_mean(h), 5000.5, 1e-9);
    free(h);
}

Test(twx_hist, merge_equals_adding)
{
    struct twx_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
    for (uint64_t v = 0; v < 5000; v += 7) {
        twx_hist_add(v % 2 ? a : b, v * v);
        twx_hist_add(all, v * v);
    }
    twx_hist_merge(a, b);
    cr_assert_eq(memcmp(a, all, sizeof(*a)), 0);
    free(a);
    free(b);
    free(all);
}

Test(twx_hist, out_of_range_quantiles_clamped)
{
    struct twx_hist *h = hist_new();
    twx_hist_add(h, 5);
    twx_hist_add(h, 500);
    cr_assert_eq(twx_hist_quantile(h, -1), 5);
    cr_assert_eq(twx_hist_quantile(h, 2), 500);
    free(h);
}
