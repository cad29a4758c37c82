/*
 * test_live.c — the live table's pure user-space half (lib/live.c): rows
 * sorted and merged (tw__live_rows_finish), and the comparison of a
 * reconciliation (tw__live_compare): a row is drift only when the table
 * read the same before and after the walk and the walk differs from it by
 * more than the destination's events between the two reads explain; a row
 * whose count moved during the walk, or whose difference the events
 * explain, is "unsettled" unless the walk lies between the two reads.
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
    int64_t abs_sum = tw__live_compare(&a, &t, &b, NULL, NULL, &d, &unsettled);
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
    cr_assert_eq(tw__live_compare(&a, &a, &a, NULL, NULL, &d, &unsettled), 0);
    cr_assert_eq(d.n, 0);
    cr_assert_eq(unsettled, 0);
    free(a.v);
    free(d.v);
}

/* The false drift CI met under churn: a connection born and gone within
 * one walk leaves the table's count the same before and after (0) while the
 * walk saw it.  The destination's events between the reads explain it. */
Test(live, compare_events_explain_a_connection_born_and_gone)
{
    struct tw__live_rows a = {0}, t = {0}, b = {0}, ea = {0}, eb = {0}, d = {0};
    /* dst .2 ESTABLISHED: 0 / walk 1 / 0, with 3 events during the walk
     * (born SYN_SENT, ESTABLISHED, gone): unsettled.
     * dst .3 ESTABLISHED: 0 / walk 1 / 0 with no event: drift.
     * dst .4 TIME_WAIT: 10 / walk 13 / 10 with 2 events: drift (2 events
     * explain 2 sockets at most, not 3).
     * dst .5 TIME_WAIT: 10 / walk 12 / 10 with 2 events: unsettled.
     * dst .6 TIME_WAIT: 4 / walk 3 / 4, events 7 before and 7 after (the
     * destination was busy before the walk, not during it): drift. */
    struct tw_live_row va[] = {row(0xc6120004, 80, TW_TIME_WAIT, 10), row(0xc6120005, 80, TW_TIME_WAIT, 10),
                               row(0xc6120006, 80, TW_TIME_WAIT, 4)};
    struct tw_live_row vt[] = {row(0xc6120002, 80, TW_ESTABLISHED, 1), row(0xc6120003, 80, TW_ESTABLISHED, 1),
                               row(0xc6120004, 80, TW_TIME_WAIT, 13), row(0xc6120005, 80, TW_TIME_WAIT, 12),
                               row(0xc6120006, 80, TW_TIME_WAIT, 3)};
    /* events: rows of state 0; .2 is new during the walk (absent at a) */
    struct tw_live_row vea[] = {row(0xc6120003, 80, 0, 40), row(0xc6120004, 80, 0, 100),
                                row(0xc6120005, 80, 0, 100), row(0xc6120006, 80, 0, 7)};
    struct tw_live_row veb[] = {row(0xc6120002, 80, 0, 3), row(0xc6120003, 80, 0, 40),
                                row(0xc6120004, 80, 0, 102), row(0xc6120005, 80, 0, 102),
                                row(0xc6120006, 80, 0, 7)};
    set(&a, va, 3);
    set(&t, vt, 5);
    set(&b, va, 3);
    set(&ea, vea, 4);
    set(&eb, veb, 5);
    uint64_t unsettled = 0;
    int64_t abs_sum = tw__live_compare(&a, &t, &b, &ea, &eb, &d, &unsettled);
    cr_assert_eq(unsettled, 2);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(abs_sum, 1 + 3 + 1);
    cr_assert_eq(ntohl(d.v[0].raddr.u.w[0]), 0xc6120003);
    cr_assert_eq(d.v[0].state, TW_ESTABLISHED);
    cr_assert_eq(d.v[0].n, 0);
    cr_assert_eq(d.v[0].truth, 1);
    cr_assert_eq(ntohl(d.v[1].raddr.u.w[0]), 0xc6120004);
    cr_assert_eq(d.v[1].n, 10);
    cr_assert_eq(d.v[1].truth, 13);
    cr_assert_eq(ntohl(d.v[2].raddr.u.w[0]), 0xc6120006);
    cr_assert_eq(d.v[2].truth, 3);
    /* without the events (NULL) the same rows are all drift, as before */
    struct tw__live_rows d2 = {0};
    cr_assert_eq(tw__live_compare(&a, &t, &b, NULL, NULL, &d2, &unsettled), 1 + 1 + 3 + 2 + 1);
    cr_assert_eq(d2.n, 5);
    cr_assert_eq(unsettled, 0);
    free(a.v);
    free(t.v);
    free(b.v);
    free(ea.v);
    free(eb.v);
    free(d.v);
    free(d2.v);
}

/* events are per destination: another state's row or another port of the
 * same address does not lend its events */
Test(live, compare_events_are_per_destination)
{
    struct tw__live_rows a = {0}, t = {0}, ea = {0}, eb = {0}, d = {0};
    struct tw_live_row va[] = {row(0xc6120002, 80, TW_TIME_WAIT, 2)};
    struct tw_live_row vt[] = {row(0xc6120002, 80, TW_TIME_WAIT, 3)};
    struct tw_live_row vea[] = {row(0xc6120002, 81, 0, 1)};
    struct tw_live_row veb[] = {row(0xc6120002, 81, 0, 50)};
    set(&a, va, 1);
    set(&t, vt, 1);
    set(&ea, vea, 1);
    set(&eb, veb, 1);
    uint64_t unsettled = 0;
    cr_assert_eq(tw__live_compare(&a, &t, &a, &ea, &eb, &d, &unsettled), 1);
    cr_assert_eq(d.n, 1);
    cr_assert_eq(d.v[0].rport, 80);
    cr_assert_eq(unsettled, 0);
    free(a.v);
    free(t.v);
    free(ea.v);
    free(eb.v);
    free(d.v);
}
