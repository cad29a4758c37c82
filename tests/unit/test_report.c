/*
 * test_report.c — the one-pass aggregation of lib/report.c, fed with
 * synthetic sockets through the public lifecycle (tw_report_new,
 * tw_report_set_kernel, tw_report_add with listeners first,
 * tw_report_finish).
 *
 * Every number is worked out by hand from the definitions in
 * twkit/report.h and kernel-facts.md: client side = local port not a
 * listening port; 5 s expiry buckets with re-armed timers (> 60 s) in the
 * last; effective range = size - reserved in range - listening ports in
 * range (not reserved) - 1 when both ends have the same parity (§5:
 * 44000-44010 gives 10); reclaimable_max = tcp_tw_reuse 1, or 2 and loopback
 * (127/8, ::1, v4-mapped 127/8, bound to ifindex 1), timestamps on, and
 * age = 60000 - expires_ms strictly above tcp_tw_reuse_delay; memory =
 * TIME_WAIT and FIN_WAIT2 minisocks x slab size, plus bind + bind2 bucket
 * per distinct client-side TIME_WAIT port.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <twkit/error.h>
#include <twkit/report.h>

/* ---- helpers ------------------------------------------------------------------ */

static struct tw_kernel K;

static void kernel(int lo, int hi, int reuse, int delay, int ts)
{
    memset(&K, 0, sizeof(K));
    K.port_lo = lo;
    K.port_hi = hi;
    K.tw_reuse = reuse;
    K.tw_reuse_delay_ms = delay;
    K.timestamps = ts;
    K.max_tw_buckets = 131072;
    K.fin_timeout = 60;
    K.rfc1337 = 0;
    K.sock_inuse = K.sock_orphan = K.sock_tw = K.sock_alloc = K.sock_mem_pages = -1;
}

/* Reserve ports as ip_local_reserved_ports, counting those in the range as tw_kernel_read does. */
static void reserve(const char *list)
{
    cr_assert_eq(tw_parse_port_list(list, &K), 0);
    K.n_reserved = 0;
    for (int p = K.port_lo; p <= K.port_hi; p++)
        K.n_reserved += tw_kernel_reserved(&K, (unsigned)p);
}

static struct tw_report *report(unsigned top_n)
{
    struct tw_report_opts o;
    memset(&o, 0, sizeof(o));
    o.top_n = top_n;
    tw_query_init(&o.query);
    struct tw_report *r = NULL;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    cr_assert_not_null(r);
    tw_report_set_kernel(r, &K);
    return r;
}

static struct tw_sock sk(int state, const char *l, unsigned lport, const char *r, unsigned rport,
                         uint32_t expires)
{
    struct tw_sock s;
    memset(&s, 0, sizeof(s));
    s.state = (uint8_t)state;
    cr_assert_eq(tw_parse_addr(l, &s.laddr), 0, "%s", l);
    cr_assert_eq(tw_parse_addr(r, &s.raddr), 0, "%s", r);
    s.lport = (uint16_t)lport;
    s.rport = (uint16_t)rport;
    s.expires_ms = expires;
    if (state == TW_TIME_WAIT) {
        s.timer = 3;
    } else {
        s.inode = 1000 + lport;
        s.uid = 1000;
    }
    return s;
}

static void add(struct tw_report *r, struct tw_sock s)
{
    cr_assert_eq(tw_report_add(&s, r), 0);
}

static void tw(struct tw_report *r, const char *l, unsigned lport, const char *ra, unsigned rport,
               uint32_t expires)
{
    add(r, sk(TW_TIME_WAIT, l, lport, ra, rport, expires));
}

static void listen_on(struct tw_report *r, const char *l, unsigned port)
{
    add(r, sk(TW_LISTEN, l, port, strchr(l, ':') ? "::" : "0.0.0.0", 0, 0));
}

/* A FIN_WAIT2 timewait minisock (orphaned, peer never closed). */
static void fw2(struct tw_report *r, const char *l, unsigned lport, const char *ra, unsigned rport)
{
    struct tw_sock s = sk(TW_FIN_WAIT2, l, lport, ra, rport, 3000);
    s.timer = 3;
    s.inode = 0;
    s.uid = 0;
    add(r, s);
}

static void finish(struct tw_report *r)
{
    cr_assert_eq(tw_report_finish(r), 0);
}

static const char *astr(const struct tw_addr *a)
{
    static char b[8][64];
    static int i;
    i = (i + 1) % 8;
    return tw_addr_str(a, b[i], sizeof(b[i]));
}

static void row_is(const struct tw_top *t, size_t i, const char *l, const char *ra, unsigned lport,
                   unsigned rport, bool server, uint64_t count)
{
    cr_assert_lt(i, t->n, "row %zu of %zu", i, t->n);
    const struct tw_top_row *w = &t->rows[i];
    char got[160];
    snprintf(got, sizeof(got), "row %zu: laddr %s raddr %s lport %u rport %u server %d count %llu",
             i, l ? astr(&w->laddr) : "-", ra ? astr(&w->raddr) : "-", w->lport, w->rport,
             w->server_side, (unsigned long long)w->count);
    if (l)
        cr_assert_str_eq(astr(&w->laddr), l, "%s", got);
    if (ra)
        cr_assert_str_eq(astr(&w->raddr), ra, "%s", got);
    cr_assert_eq(w->lport, lport, "%s", got);
    cr_assert_eq(w->rport, rport, "%s", got);
    cr_assert_eq(w->server_side, server, "%s", got);
    cr_assert_eq(w->count, count, "%s", got);
}

static const struct tw_pressure *press(const struct tw_report *r, const char *l, const char *ra,
                                       unsigned rport)
{
    for (size_t i = 0; i < r->n_pressure; i++) {
        const struct tw_pressure *p = &r->pressure[i];
        if (!strcmp(astr(&p->laddr), l) && !strcmp(astr(&p->raddr), ra) && p->rport == rport)
            return p;
    }
    cr_assert_fail("no pressure row %s -> %s:%u (of %zu)", l, ra, rport, r->n_pressure);
    return NULL;
}

static void near(double got, double want, const char *what)
{
    cr_assert(fabs(got - want) < 1e-9, "%s = %.12f, want %.12f", what, got, want);
}

/* ---- lifecycle -------------------------------------------------------------------- */

Test(life, top_n_bounds)
{
    struct tw_report_opts o;
    memset(&o, 0, sizeof(o));
    tw_query_init(&o.query);
    struct tw_report *r = (struct tw_report *)&o;
    o.top_n = 100001;
    cr_assert_eq(tw_report_new(&o, &r), TW_EBADOPT);
    cr_assert_null(r);
    o.top_n = 100000;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    tw_report_free(r);
    cr_assert_eq(tw_report_new(NULL, &r), 0, "NULL options: the defaults");
    cr_assert_eq(r->state_mask, TW_STATES_ALL);
    cr_assert(!r->filtered);
    tw_report_free(r);
    tw_report_free(NULL);
}

Test(life, default_top_n_is_ten)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(0);
    for (unsigned p = 0; p < 12; p++)
        tw(r, "198.18.0.1", 40000 + p, "198.18.0.2", 80, 30000);
    finish(r);
    cr_assert_eq(r->top[TW_TOP_LPORT].n, 10);
    cr_assert_eq(r->top[TW_TOP_LPORT].distinct, 12);
    cr_assert_eq(r->top[TW_TOP_LPORT].other, 2);
    tw_report_free(r);
}

Test(life, filtered_flag_and_state_mask)
{
    struct tw_report_opts o;
    memset(&o, 0, sizeof(o));
    tw_query_init(&o.query);
    struct tw_report *r;
    o.query.dport_lo = o.query.dport_hi = 443;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    cr_assert(r->filtered);
    tw_report_free(r);
    tw_query_init(&o.query);
    o.query.want_v6 = false;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    cr_assert(r->filtered, "one family only is a filter too");
    tw_report_free(r);
    tw_query_init(&o.query);
    o.query.states = TW_STATE_BIT(TW_TIME_WAIT);
    cr_assert_eq(tw_report_new(&o, &r), 0);
    cr_assert(!r->filtered);
    cr_assert_eq(r->state_mask, TW_STATE_BIT(TW_TIME_WAIT));
    tw_report_free(r);
}

Test(life, unknown_states_refused)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    struct tw_sock s = sk(TW_ESTABLISHED, "198.18.0.1", 40000, "198.18.0.2", 80, 0);
    s.state = TW_STATE_MAX;
    cr_assert_eq(tw_report_add(&s, r), TW_EUNKSTATE);
    s.state = 200;
    cr_assert_eq(tw_report_add(&s, r), TW_EUNKSTATE);
    s.state = 0; /* no TCP state is 0 either */
    cr_expect_eq(tw_report_add(&s, r), TW_EUNKSTATE, "state 0 accepted");
    cr_expect_eq(r->total, 0, "state 0 counted in total");
    tw_report_free(r);
}

Test(life, finish_twice_same_result)
{
    kernel(40000, 40100, 1, 1000, 1);
    struct tw_report *r = report(3);
    listen_on(r, "0.0.0.0", 80);
    for (unsigned p = 0; p < 7; p++)
        tw(r, "198.18.0.1", 40000 + p, "198.18.0.2", 80 + p % 3, p * 1000);
    tw(r, "198.18.0.2", 80, "198.18.0.9", 5000, 100);
    finish(r);
    uint64_t lports = r->tw_lports, bind = r->bind_bytes;
    size_t np = r->n_pressure;
    double pct0 = r->pressure[0].pct;
    struct tw_top_row row0 = r->top[TW_TOP_DEST].rows[0];
    finish(r);
    cr_assert_eq(r->tw_lports, lports);
    cr_assert_eq(r->bind_bytes, bind);
    cr_assert_eq(r->n_pressure, np);
    near(r->pressure[0].pct, pct0, "pct");
    cr_assert(!memcmp(&r->top[TW_TOP_DEST].rows[0], &row0, sizeof(row0)));
    tw_report_free(r);
}

Test(life, without_kernel_readings)
{
    /* no tw_report_set_kernel: the 6.x defaults (32768-60999, reuse 2, 1000 ms) */
    struct tw_report *r = NULL;
    cr_assert_eq(tw_report_new(NULL, &r), 0);
    tw(r, "127.0.0.1", 40000, "127.0.0.1", 9000, 1000);  /* loopback, age 59 s */
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 1000);  /* not loopback */
    finish(r);
    cr_assert_eq(r->range_size, 28232);
    cr_assert_eq(r->range_parity, 0);
    cr_assert_eq(r->effective_range, 28232);
    cr_assert_eq(press(r, "127.0.0.1", "127.0.0.1", 9000)->reclaimable_max, 1);
    cr_assert_eq(press(r, "198.18.0.1", "198.18.0.2", 80)->reclaimable_max, 0);
    tw_report_free(r);
}

/* ---- counts -------------------------------------------------------------------------- */

Test(counts, per_state_and_family)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    listen_on(r, "0.0.0.0", 80);
    listen_on(r, "::", 8080);
    listen_on(r, "::1", 8081);
    add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40000, "198.18.0.2", 80, 0));
    add(r, sk(TW_ESTABLISHED, "198.18.0.2", 80, "198.18.0.1", 40000, 0));
    add(r, sk(TW_SYN_SENT, "198.18.0.1", 40001, "198.18.0.3", 80, 1000));
    add(r, sk(TW_CLOSE_WAIT, "::1", 8080, "::1", 40010, 0));
    add(r, sk(TW_CLOSE, "198.18.0.1", 40020, "0.0.0.0", 0, 0));
    tw(r, "::1", 40002, "::1", 8080, 30000);
    tw(r, "::1", 40003, "::1", 8080, 30000);
    tw(r, "::1", 40004, "::1", 8080, 30000);
    tw(r, "198.18.0.1", 40005, "198.18.0.2", 80, 30000);
    fw2(r, "198.18.0.1", 40006, "198.18.0.2", 80);
    add(r, sk(TW_FIN_WAIT2, "198.18.0.1", 40007, "198.18.0.2", 80, 0)); /* a full socket */
    finish(r);
    cr_assert_eq(r->states[0][TW_LISTEN], 1);
    cr_assert_eq(r->states[1][TW_LISTEN], 2);
    cr_assert_eq(r->states[0][TW_ESTABLISHED], 2);
    cr_assert_eq(r->states[0][TW_SYN_SENT], 1);
    cr_assert_eq(r->states[1][TW_CLOSE_WAIT], 1);
    cr_assert_eq(r->states[0][TW_CLOSE], 1);
    cr_assert_eq(r->states[1][TW_TIME_WAIT], 3);
    cr_assert_eq(r->states[0][TW_TIME_WAIT], 1);
    cr_assert_eq(r->states[0][TW_FIN_WAIT2], 2);
    cr_assert_eq(r->fw2_minisocks, 1, "only the timewait minisock");
    cr_assert_eq(r->total, 14);
    cr_assert_eq(r->tw_total, 4);
    cr_assert_eq(r->listen_ports, 3);
    uint64_t sum = 0;
    for (int f = 0; f < 2; f++)
        for (int s = 0; s < TW_STATE_MAX; s++)
            sum += r->states[f][s];
    cr_assert_eq(sum, r->total);
    tw_report_free(r);
}

Test(counts, client_and_server_side)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    listen_on(r, "198.18.0.2", 80);
    listen_on(r, "0.0.0.0", 40070); /* a listener inside the ephemeral range */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50000, 30000);    /* server */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50001, 30000);    /* server */
    tw(r, "198.18.0.5", 40070, "198.18.0.9", 50002, 30000); /* server */
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 30000);    /* client */
    tw(r, "198.18.0.1", 1234, "198.18.0.2", 80, 30000);     /* client, outside the range */
    /* a listener on another address still makes the port server side */
    tw(r, "198.18.0.7", 80, "198.18.0.9", 50003, 30000);
    finish(r);
    cr_assert_eq(r->tw_total, 6);
    cr_assert_eq(r->tw_server, 4);
    cr_assert_eq(r->tw_client, 2);
    tw_report_free(r);
}

Test(counts, listeners_outside_the_query_still_count_as_listening)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report_opts o;
    memset(&o, 0, sizeof(o));
    tw_query_init(&o.query);
    o.query.states = TW_STATE_BIT(TW_TIME_WAIT);
    struct tw_report *r;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    tw_report_set_kernel(r, &K);
    listen_on(r, "0.0.0.0", 80);
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50000, 30000);
    finish(r);
    cr_assert_eq(r->states[0][TW_LISTEN], 0, "LISTEN was not asked for");
    cr_assert_eq(r->total, 1);
    cr_assert_eq(r->tw_server, 1);
    cr_assert_eq(r->listen_ports, 1);
    cr_assert(r->top[TW_TOP_LPORT].rows[0].server_side);
    tw_report_free(r);
}

/* ---- expiry ------------------------------------------------------------------------ */

Test(expiry, five_second_buckets)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    const struct {
        uint32_t ms;
        unsigned bucket;
    } c[] = {
        {0, 0},      {4999, 0},   {5000, 1},   {9999, 1},  {10000, 2},       {14999, 2},
        {30000, 6},  {54999, 10}, {55000, 11}, {59999, 11}, {60000, 11},     {60001, 11},
        {75000, 11}, {4294967295u, 11},
    };
    uint64_t want[TW_EXPIRY_BUCKETS] = {0};
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        tw(r, "198.18.0.1", 40000 + (unsigned)i, "198.18.0.2", 80, c[i].ms);
        want[c[i].bucket]++;
    }
    finish(r);
    for (int b = 0; b < TW_EXPIRY_BUCKETS; b++)
        cr_assert_eq(r->tw_expiry[b], want[b], "bucket %d: %llu, want %llu", b,
                     (unsigned long long)r->tw_expiry[b], (unsigned long long)want[b]);
    tw_report_free(r);
}

Test(expiry, freed_in_10s_client_side_only)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    listen_on(r, "0.0.0.0", 80);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 0);
    tw(r, "198.18.0.1", 40001, "198.18.0.2", 80, 9999);
    tw(r, "198.18.0.1", 40002, "198.18.0.2", 80, 10000);
    tw(r, "198.18.0.1", 1234, "198.18.0.2", 80, 5000); /* client side, out of range: counts */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50000, 0);   /* server side: does not */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50001, 1);
    finish(r);
    cr_assert_eq(r->tw_freed_10s, 3);
    cr_assert_eq(r->tw_expiry[0], 3);
    tw_report_free(r);
}

/* The namespace-wide 1 s histogram counts every TIME_WAIT, as
 * tcp_max_tw_buckets does: client and server side, in the range or not. */
Test(expiry, one_second_buckets_namespace_wide)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    listen_on(r, "0.0.0.0", 80);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 999);   /* client side, in range */
    tw(r, "198.18.0.1", 1234, "198.18.0.2", 80, 1000);   /* client side, out of range */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50000, 1999);  /* server side */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50001, 59000);
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50002, 75000); /* re-armed: the last bucket */
    fw2(r, "198.18.0.1", 40001, "198.18.0.2", 80);       /* FIN_WAIT2 minisock: not here */
    finish(r);
    uint64_t want[TW_EXPIRY_SECONDS] = {[0] = 1, [1] = 2, [59] = 2};
    for (int b = 0; b < TW_EXPIRY_SECONDS; b++)
        cr_assert_eq(r->tw_expiry_s[b], want[b], "second %d: %llu, want %llu", b,
                     (unsigned long long)r->tw_expiry_s[b], (unsigned long long)want[b]);
    tw_report_free(r);
}

/* ---- top tables ---------------------------------------------------------------------- */

Test(top, by_local_port_order_other_distinct)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(3);
    listen_on(r, "0.0.0.0", 80);
    for (unsigned i = 0; i < 3; i++) {
        tw(r, "198.18.0.1", 40002, "198.18.0.2", 81 + i, 30000);
        tw(r, "198.18.0.1", 40001, "198.18.0.2", 81 + i, 30000);
    }
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 81, 30000);
    tw(r, "198.18.0.1", 40003, "198.18.0.2", 81, 30000);
    tw(r, "198.18.0.1", 40003, "198.18.0.2", 82, 30000);
    for (unsigned i = 0; i < 5; i++)
        tw(r, "198.18.0.2", 80, "198.18.0.9", 50000 + i, 30000);
    finish(r);
    const struct tw_top *t = &r->top[TW_TOP_LPORT];
    cr_assert_eq(t->n, 3);
    row_is(t, 0, NULL, NULL, 80, 0, true, 5);
    row_is(t, 1, NULL, NULL, 40001, 0, false, 3); /* tie with 40002: lower port first */
    row_is(t, 2, NULL, NULL, 40002, 0, false, 3);
    cr_assert_eq(t->distinct, 5);
    cr_assert_eq(t->other, 3, "40000 (1) + 40003 (2)");
    tw_report_free(r);
}

Test(top, destinations_server_rows_fold_to_rport_zero)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    listen_on(r, "0.0.0.0", 80);
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50000, 30000);
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50001, 30000);
    tw(r, "198.18.0.2", 80, "198.18.0.10", 50000, 30000);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 30000);
    tw(r, "198.18.0.1", 40001, "198.18.0.2", 443, 30000);
    finish(r);
    const struct tw_top *t = &r->top[TW_TOP_DEST];
    cr_assert_eq(t->n, 4);
    row_is(t, 0, "198.18.0.2", "198.18.0.9", 0, 0, true, 2);
    row_is(t, 1, "198.18.0.1", "198.18.0.2", 0, 80, false, 1);
    row_is(t, 2, "198.18.0.1", "198.18.0.2", 0, 443, false, 1);
    row_is(t, 3, "198.18.0.2", "198.18.0.10", 0, 0, true, 1);
    cr_assert_eq(t->distinct, 4);
    cr_assert_eq(t->other, 0);
    tw_report_free(r);
}

Test(top, by_address_sums_over_destinations)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    for (unsigned i = 0; i < 2; i++)
        tw(r, "198.18.0.1", 40000 + i, "198.18.0.2", 80, 30000);
    for (unsigned i = 0; i < 3; i++)
        tw(r, "198.18.0.1", 40010 + i, "198.18.0.2", 443, 30000);
    tw(r, "198.18.0.5", 40020, "198.18.0.2", 80, 30000);
    tw(r, "::1", 40030, "::1", 8080, 30000);
    tw(r, "::1", 40031, "::1", 8080, 30000);
    /* other states do not make TIME_WAIT rows */
    add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40040, "198.18.0.7", 80, 0));
    finish(r);
    const struct tw_top *ra = &r->top[TW_TOP_RADDR], *la = &r->top[TW_TOP_LADDR];
    cr_assert_eq(ra->n, 2);
    row_is(ra, 0, "0.0.0.0", "198.18.0.2", 0, 0, false, 6);
    cr_assert_eq(ra->rows[1].raddr.family, AF_INET6);
    cr_assert_str_eq(astr(&ra->rows[1].raddr), "::1");
    cr_assert_eq(ra->rows[1].count, 2);
    cr_assert_eq(ra->distinct, 2);
    cr_assert_eq(la->n, 3);
    cr_assert_str_eq(astr(&la->rows[0].laddr), "198.18.0.1");
    cr_assert_eq(la->rows[0].count, 5);
    cr_assert_str_eq(astr(&la->rows[1].laddr), "::1");
    cr_assert_eq(la->rows[1].count, 2);
    cr_assert_str_eq(astr(&la->rows[2].laddr), "198.18.0.5");
    cr_assert_eq(la->rows[2].count, 1);
    cr_assert_eq(r->top[TW_TOP_DEST].distinct, 4, "the ESTABLISHED destination has no row");
    tw_report_free(r);
}

Test(top, ties_by_key_ascending)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(4);
    /* all count 1: IPv4 before IPv6, then numeric order of the address */
    tw(r, "::1", 40000, "2001:db8::2", 80, 30000);
    tw(r, "198.18.0.10", 40001, "198.18.0.2", 80, 30000);
    tw(r, "198.18.0.9", 40002, "198.18.0.2", 80, 30000);
    tw(r, "::1", 40003, "2001:db8::1", 80, 30000);
    tw(r, "10.0.0.1", 40004, "198.18.0.2", 80, 30000);
    finish(r);
    const struct tw_top *t = &r->top[TW_TOP_DEST];
    cr_assert_eq(t->n, 4);
    cr_assert_str_eq(astr(&t->rows[0].laddr), "10.0.0.1");
    cr_assert_str_eq(astr(&t->rows[1].laddr), "198.18.0.9");
    cr_assert_str_eq(astr(&t->rows[2].laddr), "198.18.0.10");
    cr_assert_str_eq(astr(&t->rows[3].raddr), "2001:db8::1");
    cr_assert_eq(t->other, 1);
    cr_assert_eq(t->distinct, 5);
    /* IPv6 destinations that differ only past the first word are distinct */
    const struct tw_top *ra = &r->top[TW_TOP_RADDR];
    cr_assert_eq(ra->distinct, 3);
    tw_report_free(r);
}

static uint32_t count_of(unsigned i)
{
    return 1 + (i * 7919u) % 100;
}

Test(top, thousands_of_destinations)
{
    /* more destinations than the table's first size: growth and rehashing keep every key */
    enum { N = 5000 };
    kernel(1025, 65535, 0, 1000, 1);
    struct tw_report *r = report(5);
    uint64_t total = 0;
    for (unsigned i = 0; i < N; i++) {
        char ra[32];
        snprintf(ra, sizeof(ra), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        for (uint32_t k = 0; k < count_of(i); k++)
            tw(r, "198.18.0.1", 2000 + k, ra, 80, 30000);
        total += count_of(i);
    }
    finish(r);
    cr_assert_eq(r->tw_total, total);
    const struct tw_top *t = &r->top[TW_TOP_DEST];
    cr_assert_eq(t->distinct, N);
    cr_assert_eq(r->n_pressure, N);
    /* expected: count descending, then address ascending (= i ascending) */
    unsigned best[5];
    for (int j = 0; j < 5; j++) {
        unsigned bi = N;
        for (unsigned i = 0; i < N; i++) {
            bool used = false;
            for (int q = 0; q < j; q++)
                used |= best[q] == i;
            if (!used && (bi == N || count_of(i) > count_of(bi)))
                bi = i;
        }
        best[j] = bi;
    }
    uint64_t shown = 0;
    for (int j = 0; j < 5; j++) {
        char ra[32];
        unsigned i = best[j];
        snprintf(ra, sizeof(ra), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        row_is(t, (size_t)j, "198.18.0.1", ra, 0, 80, false, count_of(i));
        shown += count_of(i);
    }
    cr_assert_eq(t->other, total - shown);
    tw_report_free(r);
}

/* ---- effective range ----------------------------------------------------------------- */

Test(range, same_parity_loses_one_port)
{
    kernel(44000, 44010, 0, 1000, 1);
    struct tw_report *r = report(10);
    finish(r);
    cr_assert_eq(r->range_size, 11);
    cr_assert_eq(r->range_parity, 1);
    cr_assert_eq(r->effective_range, 10, "kernel-facts §5: 44000-44010 gives 10 usable ports");
    tw_report_free(r);
    kernel(44000, 44011, 0, 1000, 1);
    r = report(10);
    finish(r);
    cr_assert_eq(r->range_parity, 0);
    cr_assert_eq(r->effective_range, 12);
    tw_report_free(r);
    kernel(32768, 60999, 0, 1000, 1);
    r = report(10);
    finish(r);
    cr_assert_eq(r->range_size, 28232);
    cr_assert_eq(r->effective_range, 28232);
    tw_report_free(r);
}

Test(range, reserved_and_listening_ports)
{
    kernel(44000, 44010, 0, 1000, 1);
    reserve("44002-44003,50000");
    struct tw_report *r = report(10);
    listen_on(r, "0.0.0.0", 44005); /* in range, not reserved: lost */
    listen_on(r, "0.0.0.0", 44003); /* reserved already: not counted twice */
    listen_on(r, "::", 44005);      /* same port, other family */
    listen_on(r, "0.0.0.0", 80);    /* outside */
    finish(r);
    cr_assert_eq(r->range_size, 11);
    cr_assert_eq(r->range_reserved, 2);
    cr_assert_eq(r->range_listeners, 1);
    cr_assert_eq(r->range_parity, 1);
    cr_assert_eq(r->effective_range, 11 - 2 - 1 - 1);
    cr_assert_eq(r->listen_ports, 3);
    tw_report_free(r);
}

Test(range, nothing_left)
{
    kernel(44000, 44000, 0, 1000, 1); /* one port, same parity: none usable */
    struct tw_report *r = report(10);
    add(r, sk(TW_ESTABLISHED, "198.18.0.1", 44000, "198.18.0.2", 80, 0));
    finish(r);
    cr_assert_eq(r->effective_range, 0);
    cr_assert_eq(r->n_pressure, 1);
    near(r->pressure[0].pct, 100.0, "pct with no usable port and one held");
    tw_report_free(r);
}

/* ---- pressure ---------------------------------------------------------------------- */

Test(pressure, every_client_state_in_range)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    listen_on(r, "0.0.0.0", 80);
    listen_on(r, "0.0.0.0", 40070);
    const char *L = "198.18.0.1", *R = "198.18.0.2";
    add(r, sk(TW_ESTABLISHED, L, 40001, R, 80, 0));
    add(r, sk(TW_SYN_SENT, L, 40002, R, 80, 1000));
    add(r, sk(TW_FIN_WAIT1, L, 40003, R, 80, 200));
    fw2(r, L, 40004, R, 80);
    add(r, sk(TW_CLOSE_WAIT, L, 40005, R, 80, 0));
    add(r, sk(TW_LAST_ACK, L, 40006, R, 80, 200));
    add(r, sk(TW_CLOSING, L, 40007, R, 80, 200));
    tw(r, L, 40008, R, 80, 30000);
    tw(r, L, 40009, R, 80, 30000);
    add(r, sk(TW_SYN_RECV, L, 40010, R, 80, 1000));
    add(r, sk(TW_CLOSE, L, 40011, R, 80, 0));              /* no connection: not counted */
    add(r, sk(TW_ESTABLISHED, R, 40070, L, 40001, 0));     /* server side */
    tw(r, R, 40070, L, 40020, 30000);                      /* server side */
    add(r, sk(TW_ESTABLISHED, L, 1234, R, 80, 0));         /* outside the range */
    tw(r, L, 1235, R, 80, 30000);                          /* outside the range */
    add(r, sk(TW_ESTABLISHED, L, 60000, R, 80, 0));        /* outside the range */
    finish(r);
    cr_assert_eq(r->n_pressure, 1);
    const struct tw_pressure *p = press(r, L, R, 80);
    cr_assert_eq(p->in_use, 10);
    cr_assert_eq(p->time_wait, 2);
    cr_assert_eq(p->established, 1);
    cr_assert_eq(p->other, 7);
    cr_assert_eq(p->reclaimable, 0);
    cr_assert(!p->reuse_applies);
    cr_assert(!p->loopback);
    cr_assert_eq(r->effective_range, 101 - 1 - 1);
    near(p->pct, 100.0 * 10 / 99, "pct");
    /* the destination's TIME_WAIT row still counts the out-of-range one */
    row_is(&r->top[TW_TOP_DEST], 0, L, R, 0, 80, false, 3);
    tw_report_free(r);
}

Test(pressure, reuse_0_reclaims_nothing)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    tw(r, "127.0.0.1", 40000, "127.0.0.1", 9000, 0);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 0);
    finish(r);
    for (size_t i = 0; i < r->n_pressure; i++) {
        cr_assert_eq(r->pressure[i].reclaimable, 0);
        cr_assert(!r->pressure[i].reuse_applies);
    }
    cr_assert(press(r, "127.0.0.1", "127.0.0.1", 9000)->loopback);
    tw_report_free(r);
}

static uint64_t reclaim_with(int reuse, int delay, int ts)
{
    kernel(40000, 40100, reuse, delay, ts);
    struct tw_report *r = report(10);
    const uint32_t exp[] = {59500, 59000, 58999, 30000, 0, 60000, 70000};
    for (unsigned i = 0; i < 7; i++)
        tw(r, "198.18.0.1", 40000 + i, "198.18.0.2", 80, exp[i]);
    finish(r);
    cr_assert_eq(r->n_pressure, 1);
    uint64_t n = r->pressure[0].reclaimable_max;
    cr_assert_eq(r->pressure[0].reclaimable, 0, "without the peer's timestamp nothing is known");
    cr_assert_eq(r->pressure[0].time_wait, 7);
    cr_assert_eq(r->pressure[0].in_use, 7);
    /* the local tcp_timestamps does not decide it: tcp_twsk_unique() reads the
     * TIME_WAIT's recorded stamp, which outlives a change of the sysctl */
    (void)ts;
    cr_assert_eq(r->pressure[0].reuse_applies, reuse == 1);
    near(r->pressure[0].pct, 100.0 * 7 / 100, "pct counts every port held (100 usable)");
    if (reuse == 1 && delay == 1000)
        near(r->pressure[0].pct_min, 100.0 * (7 - 3) / 100, "pct if the peer sent timestamps");
    tw_report_free(r);
    return n;
}

Test(pressure, reuse_1_age_above_delay)
{
    /* ages 500, 1000, 1001, 30000, 60000, 0 (re-armed: 60000), 0 (70000 left) */
    cr_assert_eq(reclaim_with(1, 1000, 1), 3, "1001, 30000 and 60000 ms old are > 1000");
    cr_assert_eq(reclaim_with(1, 1, 1), 5);
    cr_assert_eq(reclaim_with(1, 60000, 1), 0, "no TIME_WAIT is older than 60 s");
    cr_assert_eq(reclaim_with(1, 59999, 1), 1);
    cr_assert_eq(reclaim_with(1, -1, 1), 3, "before 6.14: 1000 ms");
    cr_assert_eq(reclaim_with(1, 1000, 0), 3, "timestamps off now: still a bound (made before)");
    cr_assert_eq(reclaim_with(1, 1000, 2), 3, "timestamps=2 (no random offset) is on");
    cr_assert_eq(reclaim_with(0, 1000, 1), 0);
    cr_assert_eq(reclaim_with(2, 1000, 1), 0, "not a loopback destination");
}

Test(pressure, reuse_2_loopback_only)
{
    kernel(40000, 40100, 2, 1000, 1);
    struct tw_report *r = report(10);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 0);
    tw(r, "127.0.0.1", 40000, "127.0.0.1", 9000, 0);
    tw(r, "10.0.0.1", 40000, "127.0.0.5", 80, 0);
    tw(r, "127.0.0.9", 40000, "10.0.0.1", 80, 0);
    tw(r, "::1", 40000, "::1", 8080, 0);
    tw(r, "::ffff:127.0.0.1", 40000, "::ffff:127.0.0.1", 8080, 0);
    tw(r, "2001:db8::1", 40000, "2001:db8::2", 80, 0);
    struct tw_sock s = sk(TW_TIME_WAIT, "198.18.0.1", 40001, "198.18.0.3", 80, 0);
    s.ifindex = 1; /* bound to lo */
    add(r, s);
    s = sk(TW_TIME_WAIT, "198.18.0.1", 40002, "198.18.0.4", 80, 0);
    s.ifindex = 2; /* bound to another device */
    add(r, s);
    finish(r);
    const struct {
        const char *l, *ra;
        unsigned rport;
        bool loop;
    } c[] = {
        {"198.18.0.1", "198.18.0.2", 80, false}, {"127.0.0.1", "127.0.0.1", 9000, true},
        {"10.0.0.1", "127.0.0.5", 80, true},     {"127.0.0.9", "10.0.0.1", 80, true},
        {"::1", "::1", 8080, true},              {"::ffff:127.0.0.1", "::ffff:127.0.0.1", 8080, true},
        {"2001:db8::1", "2001:db8::2", 80, false}, {"198.18.0.1", "198.18.0.3", 80, true},
        {"198.18.0.1", "198.18.0.4", 80, false},
    };
    cr_assert_eq(r->n_pressure, sizeof(c) / sizeof(c[0]));
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        const struct tw_pressure *p = press(r, c[i].l, c[i].ra, c[i].rport);
        cr_expect_eq(p->loopback, c[i].loop, "%s -> %s loopback", c[i].l, c[i].ra);
        cr_expect_eq(p->reuse_applies, c[i].loop, "%s -> %s reuse_applies", c[i].l, c[i].ra);
        cr_expect_eq(p->reclaimable_max, c[i].loop ? 1u : 0u, "%s -> %s reclaimable at most",
                     c[i].l, c[i].ra);
        cr_expect_eq(p->reclaimable, 0u, "%s -> %s known reclaimable", c[i].l, c[i].ra);
    }
    tw_report_free(r);
}

Test(pressure, percent_and_order)
{
    kernel(40000, 40100, 1, 1000, 1); /* 100 usable */
    struct tw_report *r = report(10);
    for (unsigned i = 0; i < 50; i++)
        add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40000 + i, "198.18.0.10", 80, 0));
    for (unsigned i = 0; i < 60; i++)
        add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40000 + i, "198.18.0.11", 80, 0));
    for (unsigned i = 0; i < 10; i++)
        tw(r, "198.18.0.1", 40000 + i, "198.18.0.12", 80, 0); /* all reclaimable */
    for (unsigned i = 0; i < 20; i++)
        add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40000 + i, "198.18.0.13", 80, 0));
    for (unsigned i = 0; i < 20; i++)
        tw(r, "198.18.0.1", 40050 + i, "198.18.0.13", 80, 59900); /* too young */
    finish(r);
    cr_assert_eq(r->n_pressure, 4);
    const char *order[] = {"198.18.0.11", "198.18.0.10", "198.18.0.13", "198.18.0.12"};
    const double pct[] = {60.0, 50.0, 40.0, 10.0}, pct_min[] = {60.0, 50.0, 40.0, 0.0};
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(astr(&r->pressure[i].raddr), order[i], "row %d", i);
        near(r->pressure[i].pct, pct[i], order[i]);
        near(r->pressure[i].pct_min, pct_min[i], order[i]);
    }
    cr_assert_eq(r->pressure[3].reclaimable_max, 10);
    cr_assert_eq(r->pressure[3].reclaimable, 0);
    cr_assert_eq(r->pressure[3].in_use, 10);
    cr_assert_eq(r->pressure[2].in_use, 40);
    cr_assert_eq(r->pressure[2].time_wait, 20);
    cr_assert_eq(r->pressure[2].established, 20);
    tw_report_free(r);
}

/* A source that reads the peer's timestamp (the BPF iterator) gives a verdict
 * per socket: the exact count replaces the bound and lowers the pressure. */
Test(pressure, reuse_verdict_from_the_source_is_exact)
{
    kernel(40000, 40100, 1, 1000, 1); /* 100 usable */
    struct tw_report *r = report(10);
    for (unsigned i = 0; i < 10; i++) {
        struct tw_sock s = sk(TW_TIME_WAIT, "198.18.0.1", 40000 + i, "198.18.0.2", 80, 30000);
        s.flags = TW_SOCK_F_REUSE_KNOWN | (i < 4 ? TW_SOCK_F_REUSABLE : 0);
        add(r, s);
    }
    finish(r);
    cr_assert(r->reuse_exact);
    cr_assert_eq(r->pressure[0].reclaimable, 4);
    cr_assert_eq(r->pressure[0].reclaimable_max, 4);
    near(r->pressure[0].pct, 6.0, "10 held, 4 reusable, 100 usable");
    tw_report_free(r);

    kernel(40000, 40100, 1, 1000, 1);
    r = report(10);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 30000);
    finish(r);
    cr_assert(!r->reuse_exact, "a netlink socket carries no verdict");
    tw_report_free(r);
}

/* bind() before connect() draws every destination's ports from one pool:
 * distinct local ports against the effective range. */
Test(pressure, host_wide_distinct_ports)
{
    kernel(40000, 40100, 0, 1000, 1); /* 100 usable */
    struct tw_report *r = report(10);
    for (unsigned i = 0; i < 30; i++)
        tw(r, "198.18.0.1", 40000 + i, "198.18.0.2", 80, 30000);
    for (unsigned i = 0; i < 30; i++) /* 10 ports shared with the first destination */
        add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40020 + i, "198.18.0.2", 8081, 0));
    add(r, sk(TW_ESTABLISHED, "198.18.0.1", 1234, "198.18.0.2", 8081, 0)); /* outside */
    finish(r);
    cr_assert_eq(r->host_ports_in_use, 50);
    near(r->host_pct, 50.0, "50 of 100");
    near(r->pressure[0].pct, 30.0, "each destination alone looks less full");
    tw_report_free(r);
}

/* The per-destination expiry histogram (1 s) and the count of young TIME_WAIT
 * that a rate engine derives births from. */
Test(pressure, expiry_seconds_and_young)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report_opts o = {.top_n = 10, .young_ms = 2000};
    tw_query_init(&o.query);
    struct tw_report *r = NULL;
    cr_assert_eq(tw_report_new(&o, &r), 0);
    tw_report_set_kernel(r, &K);
    const uint32_t exp[] = {59999, 58001, 57999, 30500, 0, 70000};
    for (unsigned i = 0; i < 6; i++)
        tw(r, "198.18.0.1", 40000 + i, "198.18.0.2", 80, exp[i]);
    finish(r);
    const struct tw_pressure *p = &r->pressure[0];
    cr_assert_eq(p->tw_young, 3, "ages 1, 1999 ms and 0 (re-armed) are under 2000 ms");
    cr_assert_eq(p->tw_expiry[59], 2, "59.999 s, and 70 s (re-armed) in the last");
    cr_assert_eq(p->tw_expiry[58], 1);
    cr_assert_eq(p->tw_expiry[57], 1);
    cr_assert_eq(p->tw_expiry[30], 1);
    cr_assert_eq(p->tw_expiry[0], 1);
    tw_report_free(r);
}

/* ---- memory ------------------------------------------------------------------------- */

static void memory_set(struct tw_report *r)
{
    listen_on(r, "0.0.0.0", 80);
    tw(r, "198.18.0.1", 40000, "198.18.0.2", 80, 30000);
    tw(r, "198.18.0.1", 40001, "198.18.0.2", 80, 30000);
    tw(r, "198.18.0.1", 40001, "198.18.0.3", 80, 30000); /* same port, other destination */
    tw(r, "198.18.0.1", 1234, "198.18.0.2", 80, 30000);  /* client side, outside the range */
    tw(r, "::1", 40002, "::1", 8080, 30000);
    tw(r, "::1", 40003, "::1", 8080, 30000);
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50000, 30000); /* server side */
    tw(r, "198.18.0.2", 80, "198.18.0.9", 50001, 30000);
    fw2(r, "198.18.0.1", 40004, "198.18.0.2", 80);
    add(r, sk(TW_ESTABLISHED, "198.18.0.1", 40005, "198.18.0.2", 80, 0));
}

Test(memory, measured_slab_sizes)
{
    kernel(40000, 40100, 0, 1000, 1);
    K.tw_slab_v4 = 256;
    K.tw_slab_v6 = 320;
    K.bind_slab = 96;
    K.bind2_slab = 80;
    struct tw_report *r = report(10);
    memory_set(r);
    finish(r);
    cr_assert(r->slab_measured);
    /* 6 IPv4 TIME_WAIT x 256 + 2 IPv6 x 320 + 1 FIN_WAIT2 minisock x 256 */
    cr_assert_eq(r->tw_slab_bytes, 6 * 256 + 2 * 320 + 256);
    cr_assert_eq(r->tw_slab_objects[0], 6 + 1, "IPv4: 6 TIME_WAIT + 1 FIN_WAIT2 minisock");
    cr_assert_eq(r->tw_slab_objects[1], 2, "IPv6: 2 TIME_WAIT");
    cr_assert_eq(r->tw_lports, 5, "40000, 40001, 1234, 40002, 40003");
    cr_assert_eq(r->bind_bytes, 5 * (96 + 80));
    tw_report_free(r);
}

Test(memory, assumed_slab_sizes)
{
    kernel(40000, 40100, 0, 1000, 1);
    struct tw_report *r = report(10);
    memory_set(r);
    finish(r);
    cr_assert(!r->slab_measured);
    cr_assert_eq(r->tw_slab_bytes, (6 + 2 + 1) * 256);
    cr_assert_eq(r->bind_bytes, 5 * (128 + 128));
    tw_report_free(r);

    kernel(40000, 40100, 0, 1000, 1);
    K.tw_slab_v4 = 200; /* IPv6 size unknown */
    K.bind_slab = 64;
    r = report(10);
    memory_set(r);
    finish(r);
    cr_assert(!r->slab_measured, "one size unknown is not measured");
    cr_assert_eq(r->tw_slab_bytes, 6 * 200 + 2 * 256 + 200);
    cr_assert_eq(r->bind_bytes, 5 * (64 + 128));
    tw_report_free(r);
}

Test(memory, max_tw_buckets_use)
{
    kernel(40000, 40100, 0, 1000, 1);
    K.sock_tw = 65536;
    K.max_tw_buckets = 131072;
    struct tw_report *r = report(10);
    finish(r);
    near(r->max_tw_pct, 50.0, "max_tw_pct");
    tw_report_free(r);
    K.max_tw_buckets = -1;
    r = report(10);
    finish(r);
    near(r->max_tw_pct, 0.0, "max_tw_pct without the sysctl");
    tw_report_free(r);
}
