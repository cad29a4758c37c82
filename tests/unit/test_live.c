/*
 * test_live.c — the live table's pure user-space half (lib/live.c): rows
 * sorted and merged (tw__live_rows_finish), and the comparison of a
 * reconciliation (tw__live_compare): a row is drift only when the table
 * stayed the same during the walk and differs from it; a row whose count
 * moved during the walk is "unsettled" unless the walk lies between the
 * two reads.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <twkit/live.h>

#include "internal.h"
#include "live_int.h"

static struct tw_live_row row(uint32_t dst, uint16_t port, uint8_t state, int64_t n)
{
    struct tw_live_row r;
    memset(&r, 0, sizeof(r));
    r.laddr.family = r.raddr.family = AF_INET;
    r.laddr.u.w[0] = htonl(0xc6120001);
    r.raddr.u.w[0] = htonl(dst);
    r.rport = port;
    r.state = state;
    r.n = n;
    return r;
}

static void set(struct tw__live_rows *r, const struct tw_live_row *v, size_t n)
{
    r->n = 0;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tw__live_rows_push(r, &v[i]), 0);
    tw__live_rows_finish(r);
}

Test(live, rows_merge_and_drop_zero)
{
    struct tw__live_rows r = {0};
    struct tw_live_row v[] = {row(0xc6120002, 80, TW_TIME_WAIT, 1),
                              row(0xc6120002, 80, TW_ESTABLISHED, 2),
                              row(0xc6120002, 80, TW_TIME_WAIT, 1),
                              row(0xc6120003, 80, TW_TIME_WAIT, 0)};
    set(&r, v, 4);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.v[0].state, TW_ESTABLISHED);
    cr_assert_eq(r.v[0].n, 2);
    cr_assert_eq(r.v[1].state, TW_TIME_WAIT);
    cr_assert_eq(r.v[1].n, 2);
    free(r.v);
}

Test(live, compare_finds_drift_and_unsettled)
{
    struct tw__live_rows a = {0}, t = {0}, b = {0}, d = {0};
    /* dst .2: steady 5 in the table, 4 in the walk: drift.
     * dst .3: 3 -> 7 during the walk, walk 5: between, fine.
     * dst .4: 3 -> 4 during the walk, walk 9: unsettled, not drift.
     * dst .5: only in the walk (table 0 before and after): drift.
     * dst .6: equal everywhere. */
    struct tw_live_row va[] = {row(0xc6120002, 80, TW_TIME_WAIT, 5), row(0xc6120003, 80, TW_TIME_WAIT, 3),
                               row(0xc6120004, 80, TW_TIME_WAIT, 3), row(0xc6120006, 80, TW_LISTEN, 1)};
    struct tw_live_row vt[] = {row(0xc6120002, 80, TW_TIME_WAIT, 4), row(0xc6120003, 80, TW_TIME_WAIT, 5),
                               row(0xc6120004, 80, TW_TIME_WAIT, 9), row(0xc6120005, 80, TW_TIME_WAIT, 2),
                               row(0xc6120006, 80, TW_LISTEN, 1)};
    struct tw_live_row vb[] = {row(0xc6120002, 80, TW_TIME_WAIT, 5), row(0xc6120003, 80, TW_TIME_WAIT, 7),
                               row(0xc6120004, 80, TW_TIME_WAIT, 4), row(0xc6120006, 80, TW_LISTEN, 1)};
    set(&a, va, 4);
    set(&t, vt, 5);
    set(&b, vb, 4);
    uint64_t unsettled = 0;
    int64_t abs_sum = tw__live_compare(&a, &t, &b, &d, &unsettled);
    cr_assert_eq(unsettled, 1);
    cr_assert_eq(d.n, 2);
    cr_assert_eq(abs_sum, 3);
    cr_assert_eq(ntohl(d.v[0].raddr.u.w[0]), 0xc6120002);
    cr_assert_eq(d.v[0].n, 5);
    cr_assert_eq(d.v[0].truth, 4);
    cr_assert_eq(ntohl(d.v[1].raddr.u.w[0]), 0xc6120005);
    cr_assert_eq(d.v[1].n, 0);
    cr_assert_eq(d.v[1].truth, 2);
    free(a.v);
    free(t.v);
    free(b.v);
    free(d.v);
}

Test(live, compare_equal_is_empty)
{
    struct tw__live_rows a = {0}, d = {0};
    struct tw_live_row va[] = {row(0xc6120002, 80, TW_TIME_WAIT, 5)};
    set(&a, va, 1);
    uint64_t unsettled = 9;
    cr_assert_eq(tw__live_compare(&a, &a, &a, &d, &unsettled), 0);
    cr_assert_eq(d.n, 0);
    cr_assert_eq(unsettled, 0);
    free(a.v);
    free(d.v);
}
