/*
 * test_query.c — the query half of lib/query.c and the error names of
 * lib/error.c: TCP state names and the ss(8) groups, the strict value
 * parsers the command feeds with user text (ports, CIDRs, addresses,
 * numbers), tw_query_match (the user-space filter every non-netlink source
 * runs), and what tcp_tw_reuse=2 calls loopback.
 *
 * Each parser is checked for what it must accept (with the exact value
 * produced) and for what it must refuse (TW_EBADOPT, nothing silently
 * truncated or wrapped).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <twkit/error.h>
#include <twkit/sock.h>

/* ---- helpers ---------------------------------------------------------------- */

static struct tw_addr addr(const char *s)
{
    struct tw_addr a;
    cr_assert_eq(tw_parse_addr(s, &a), 0, "tw_parse_addr(%s)", s);
    return a;
}

static struct tw_sock sock(int state, const char *l, unsigned lport, const char *r, unsigned rport)
{
    struct tw_sock s;
    memset(&s, 0, sizeof(s));
    s.state = (uint8_t)state;
    s.laddr = addr(l);
    s.raddr = addr(r);
    cr_assert_eq(s.laddr.family, s.raddr.family, "test socket with mixed families");
    s.lport = (uint16_t)lport;
    s.rport = (uint16_t)rport;
    return s;
}

static struct tw_cidr cidr(const char *s)
{
    struct tw_cidr c;
    cr_assert_eq(tw_parse_cidr(s, &c), 0, "tw_parse_cidr(%s)", s);
    return c;
}

static const char *str(const struct tw_addr *a)
{
    static char buf[4][64];
    static int i;
    i = (i + 1) % 4;
    return tw_addr_str(a, buf[i], sizeof(buf[i]));
}

/* ---- state names -------------------------------------------------------------- */

Test(states, names_and_slugs_of_every_state)
{
    static const char *const names[] = {
        NULL,        "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
        "CLOSE",     "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
    static const char *const slugs[] = {
        NULL,    "established", "syn-sent", "syn-recv", "fin-wait-1", "fin-wait-2",  "time-wait",
        "close", "close-wait",  "last-ack", "listen",   "closing",    "new-syn-recv"};
    for (int s = 1; s < TW_STATE_MAX; s++) {
        cr_assert_str_eq(tw_state_name(s), names[s]);
        cr_assert_str_eq(tw_state_slug(s), slugs[s]);
    }
    cr_assert_eq(TW_TIME_WAIT, 6);
    cr_assert_eq(TW_LISTEN, 10);
    cr_assert_eq(TW_STATE_MAX, 13);
    cr_assert_null(tw_state_name(0));
    cr_assert_null(tw_state_name(TW_STATE_MAX));
    cr_assert_null(tw_state_name(-1));
    cr_assert_null(tw_state_slug(0));
    cr_assert_null(tw_state_slug(13));
    cr_assert_null(tw_state_slug(255));
}

/* Returns the mask, or a negative code (the parse result) when it fails. */
static long parse_state(const char *s)
{
    unsigned m = 0xdeadu;
    int r = tw_state_parse(s, &m);
    /* the command checks `if (tw_state_parse(...))`: success is 0 */
    if (r != 0)
        return r;
    return (long)m;
}

Test(states, both_spellings_any_case)
{
    const struct {
        const char *in;
        int state;
    } ok[] = {
        {"TIME_WAIT", TW_TIME_WAIT},   {"time-wait", TW_TIME_WAIT},   {"Time-Wait", TW_TIME_WAIT},
        {"time_wait", TW_TIME_WAIT},   {"TIME-WAIT", TW_TIME_WAIT},   {"tw", TW_TIME_WAIT},
        {"TW", TW_TIME_WAIT},          {"established", TW_ESTABLISHED}, {"estab", TW_ESTABLISHED},
        {"ESTABLISHED", TW_ESTABLISHED}, {"syn-sent", TW_SYN_SENT},   {"SYN_RECV", TW_SYN_RECV},
        {"fin-wait-1", TW_FIN_WAIT1},  {"FIN_WAIT1", TW_FIN_WAIT1},   {"fin-wait1", TW_FIN_WAIT1},
        {"fin-wait-2", TW_FIN_WAIT2},  {"fin_wait2", TW_FIN_WAIT2},   {"fin-wait2", TW_FIN_WAIT2},
        {"close", TW_CLOSE},           {"close-wait", TW_CLOSE_WAIT}, {"CLOSE_WAIT", TW_CLOSE_WAIT},
        {"last-ack", TW_LAST_ACK},     {"listen", TW_LISTEN},         {"LISTEN", TW_LISTEN},
        {"closing", TW_CLOSING},       {"new-syn-recv", TW_NEW_SYN_RECV},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect_eq(parse_state(ok[i].in), (long)TW_STATE_BIT(ok[i].state), "'%s'", ok[i].in);
}

Test(states, ss_groups)
{
    const unsigned all = TW_STATES_ALL;
    cr_assert_eq(all, 0x1ffeu);
    cr_expect_eq(parse_state("all"), (long)all);
    cr_expect_eq(parse_state("ALL"), (long)all);
    /* ss(8): connected = all but listen and closed */
    cr_expect_eq(parse_state("connected"),
                 (long)(all & ~(TW_STATE_BIT(TW_LISTEN) | TW_STATE_BIT(TW_CLOSE))));
    /* synchronized = connected but syn-sent */
    cr_expect_eq(parse_state("synchronized"),
                 (long)(all & ~(TW_STATE_BIT(TW_LISTEN) | TW_STATE_BIT(TW_CLOSE) |
                                TW_STATE_BIT(TW_SYN_SENT))));
    cr_expect_eq(parse_state("Synchronized"), parse_state("synchronized"));
}

Test(states, rejects_garbage)
{
    const char *bad[] = {"",          "timewait",   "time wait", "time-wait ", " time-wait",
                         "time--wait", "time-wait,", "listen,tw", "bogus",      "al",
                         "all2",      "6",          "0x40",      "TIME_WAITX", "-",
                         "_"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(parse_state(bad[i]), TW_EBADOPT, "'%s' accepted", bad[i]);
    unsigned m = 7;
    cr_expect_eq(tw_state_parse(NULL, &m), TW_EBADOPT);
    cr_expect_eq(m, 7u, "mask changed on failure");
}

/* ---- numbers and ports ---------------------------------------------------------- */

Test(parse, u64_whole_string_and_bounds)
{
    uint64_t v = 0;
    cr_assert_eq(tw_parse_u64("0", 0, 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(tw_parse_u64("007", 0, 10, &v), 0);
    cr_assert_eq(v, 7);
    cr_assert_eq(tw_parse_u64("10", 0, 10, &v), 0);
    cr_assert_eq(v, 10);
    cr_assert_eq(tw_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    v = 42;
    const char *bad[] = {"11", "", " 1", "1 ", "+1", "-1", "1x", "0x1", "1.0", "18446744073709551616",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(tw_parse_u64(bad[i], 0, 10, &v), TW_EBADOPT, "'%s' accepted", bad[i]);
    cr_expect_eq(tw_parse_u64("4", 5, 10, &v), TW_EBADOPT, "below min accepted");
    cr_expect_eq(tw_parse_u64(NULL, 0, 10, &v), TW_EBADOPT);
    cr_expect_eq(v, 42, "value written on failure");
}

Test(parse, port_ranges)
{
    uint16_t lo = 1, hi = 1;
    cr_assert_eq(tw_parse_port_range("80", &lo, &hi), 0);
    cr_assert(lo == 80 && hi == 80);
    cr_assert_eq(tw_parse_port_range(":80", &lo, &hi), 0);
    cr_assert(lo == 80 && hi == 80);
    cr_assert_eq(tw_parse_port_range("1-2", &lo, &hi), 0);
    cr_assert(lo == 1 && hi == 2);
    cr_assert_eq(tw_parse_port_range("1024-2048", &lo, &hi), 0);
    cr_assert(lo == 1024 && hi == 2048);
    cr_assert_eq(tw_parse_port_range(":1024-2048", &lo, &hi), 0);
    cr_assert(lo == 1024 && hi == 2048);
    cr_assert_eq(tw_parse_port_range("0-65535", &lo, &hi), 0);
    cr_assert(lo == 0 && hi == 65535);
    cr_assert_eq(tw_parse_port_range("65535", &lo, &hi), 0);
    cr_assert(lo == 65535 && hi == 65535);
    cr_assert_eq(tw_parse_port_range("7-7", &lo, &hi), 0);
    cr_assert(lo == 7 && hi == 7);
}

Test(parse, port_ranges_rejected)
{
    const char *bad[] = {"2-1",   "65536", "80x",  "",      "-1",     ":",     "::80",
                         "1-",    "-",     "1-2-3", " 80",  "80 ",    "+80",   "0x50",
                         "70000-70001", "1-65536", "80,81", "80-x", "1 -2", "18446744073709551696"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint16_t lo = 0, hi = 0;
        cr_expect_eq(tw_parse_port_range(bad[i], &lo, &hi), TW_EBADOPT, "'%s' accepted", bad[i]);
    }
    uint16_t lo, hi;
    cr_expect_eq(tw_parse_port_range(NULL, &lo, &hi), TW_EBADOPT);
}

/* ---- addresses and CIDRs ------------------------------------------------------ */

Test(parse, addresses)
{
    struct tw_addr a = addr("198.18.0.1");
    cr_assert_eq(a.family, AF_INET);
    cr_assert_eq(a.u.b[0], 198);
    cr_assert_eq(a.u.b[1], 18);
    cr_assert_eq(a.u.b[2], 0);
    cr_assert_eq(a.u.b[3], 1);
    for (int i = 4; i < 16; i++)
        cr_assert_eq(a.u.b[i], 0, "byte %d of an IPv4 address not zero", i);
    cr_assert_str_eq(str(&a), "198.18.0.1");

    a = addr("::1");
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_eq(a.u.b[15], 1);
    cr_assert_str_eq(str(&a), "::1");
    a = addr("[2001:db8::7]");
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_str_eq(str(&a), "2001:db8::7");
    a = addr("::ffff:127.0.0.1");
    cr_assert_eq(a.family, AF_INET6);
    cr_assert_eq(a.u.b[10], 0xff);
    cr_assert_eq(a.u.b[12], 127);
    cr_assert_str_eq(str(&a), "::ffff:127.0.0.1");

    const char *bad[] = {"", "1.2.3.256", "1.2.3", "hello", "::1::2", "[::1", "::1]", "1.2.3.4 ",
                         "[]", "12345::1::", "1.2.3.4/32"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(tw_parse_addr(bad[i], &a), TW_EBADOPT, "'%s' accepted", bad[i]);
    cr_expect_eq(tw_parse_addr(NULL, &a), TW_EBADOPT);
}

Test(parse, cidr_v4)
{
    struct tw_cidr c = cidr("198.18.0.0/15");
    cr_assert_eq(c.addr.family, AF_INET);
    cr_assert_eq(c.prefix, 15);
    cr_assert_str_eq(str(&c.addr), "198.18.0.0");

    /* host bits are cleared so that user-space matching and bytecode agree */
    c = cidr("198.19.255.255/15");
    cr_assert_eq(c.prefix, 15);
    cr_assert_str_eq(str(&c.addr), "198.18.0.0");
    c = cidr("10.1.2.3/8");
    cr_assert_str_eq(str(&c.addr), "10.0.0.0");
    c = cidr("10.1.2.255/25");
    cr_assert_str_eq(str(&c.addr), "10.1.2.128");
    c = cidr("10.0.0.1");
    cr_assert_eq(c.prefix, 32);
    cr_assert_str_eq(str(&c.addr), "10.0.0.1");
    c = cidr("1.2.3.4/32");
    cr_assert_eq(c.prefix, 32);
    cr_assert_str_eq(str(&c.addr), "1.2.3.4");
    c = cidr("1.2.3.4/0");
    cr_assert_eq(c.prefix, 0);
    cr_assert_str_eq(str(&c.addr), "0.0.0.0");
    for (int i = 4; i < 16; i++)
        cr_assert_eq(c.addr.u.b[i], 0);
}

Test(parse, cidr_v6)
{
    struct tw_cidr c = cidr("::1");
    cr_assert_eq(c.addr.family, AF_INET6);
    cr_assert_eq(c.prefix, 128);
    cr_assert_str_eq(str(&c.addr), "::1");
    c = cidr("2001:db8::/32");
    cr_assert_eq(c.prefix, 32);
    cr_assert_str_eq(str(&c.addr), "2001:db8::");
    c = cidr("2001:db8:ffff::1/33");
    cr_assert_eq(c.prefix, 33);
    cr_assert_str_eq(str(&c.addr), "2001:db8:8000::");
    c = cidr("2001:db8::ffff/127");
    cr_assert_str_eq(str(&c.addr), "2001:db8::fffe");
    c = cidr("[::1]/128");
    cr_assert_eq(c.prefix, 128);
    c = cidr("ffff::/0");
    cr_assert_eq(c.prefix, 0);
    cr_assert_str_eq(str(&c.addr), "::");
}

Test(parse, cidr_rejected)
{
    const char *bad[] = {"1.2.3.4/33", "::/129",   "1.2.3.4/",  "1.2.3.4/x", "1.2.3.4/-1",
                         "1.2.3.4/+8", "1.2.3/8",  "",          "/8",        "1.2.3.4/8/9",
                         "1.2.3.4/ 8", "1.2.3.4/8 ", "::1/1000", "host/8",   "1.2.3.4/4294967304",
                         "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tw_cidr c;
        cr_expect_eq(tw_parse_cidr(bad[i], &c), TW_EBADOPT, "'%s' accepted", bad[i]);
    }
    struct tw_cidr c;
    cr_expect_eq(tw_parse_cidr(NULL, &c), TW_EBADOPT);
}

/* ---- loopback ------------------------------------------------------------------ */

Test(addr, loopback_as_tcp_tw_reuse_2_sees_it)
{
    const char *yes[] = {"127.0.0.1", "127.0.0.0", "127.255.255.254", "127.1.2.3",
                         "::1",       "::ffff:127.0.0.1", "::ffff:127.200.0.9"};
    const char *no[] = {"198.18.0.1", "128.0.0.1", "126.255.255.255", "10.0.0.1", "0.0.0.0",
                        "::",         "::2",       "::127.0.0.1",     "::ffff:198.18.0.1",
                        "fe80::1",    "::1:0:0:1", "1::1", "::ffff:128.0.0.1"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        struct tw_addr a = addr(yes[i]);
        cr_expect(tw_addr_is_loopback(&a), "%s not loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct tw_addr a = addr(no[i]);
        cr_expect(!tw_addr_is_loopback(&a), "%s taken for loopback", no[i]);
    }
}

/* ---- the query ------------------------------------------------------------------ */

Test(query, init_selects_everything)
{
    struct tw_query q;
    memset(&q, 0xff, sizeof(q));
    tw_query_init(&q);
    cr_assert_eq(q.states, TW_STATES_ALL);
    cr_assert(q.want_v4 && q.want_v6);
    cr_assert(q.sport_lo == 0 && q.sport_hi == 65535 && q.dport_lo == 0 && q.dport_hi == 65535);
    cr_assert(q.n_src == 0 && q.n_dst == 0);
    cr_assert(!tw_query_filters(&q));
    for (int st = 1; st < TW_STATE_MAX; st++) {
        struct tw_sock s4 = sock(st, "198.18.0.1", 1, "198.18.0.2", 2);
        struct tw_sock s6 = sock(st, "::1", 0, "2001:db8::1", 65535);
        cr_assert(tw_query_match(&q, &s4));
        cr_assert(tw_query_match(&q, &s6));
    }
}

Test(query, filters_flag)
{
    struct tw_query q;
    tw_query_init(&q);
    q.sport_lo = 1;
    cr_assert(tw_query_filters(&q));
    tw_query_init(&q);
    q.dport_hi = 65534;
    cr_assert(tw_query_filters(&q));
    tw_query_init(&q);
    q.dst[q.n_dst++] = cidr("10.0.0.0/8");
    cr_assert(tw_query_filters(&q));
    tw_query_init(&q);
    q.states = TW_STATE_BIT(TW_TIME_WAIT); /* a state mask is not a port/address filter */
    q.want_v6 = false;
    cr_assert(!tw_query_filters(&q));
}

Test(query, state_and_family)
{
    struct tw_query q;
    tw_query_init(&q);
    q.states = TW_STATE_BIT(TW_TIME_WAIT) | TW_STATE_BIT(TW_FIN_WAIT2);
    struct tw_sock tw = sock(TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    struct tw_sock fw2 = sock(TW_FIN_WAIT2, "198.18.0.1", 40000, "198.18.0.2", 80);
    struct tw_sock est = sock(TW_ESTABLISHED, "198.18.0.1", 40000, "198.18.0.2", 80);
    struct tw_sock tw6 = sock(TW_TIME_WAIT, "::1", 40000, "::1", 80);
    cr_assert(tw_query_match(&q, &tw));
    cr_assert(tw_query_match(&q, &fw2));
    cr_assert(!tw_query_match(&q, &est));
    q.want_v4 = false;
    cr_assert(!tw_query_match(&q, &tw));
    cr_assert(tw_query_match(&q, &tw6));
    q.want_v4 = true;
    q.want_v6 = false;
    cr_assert(tw_query_match(&q, &tw));
    cr_assert(!tw_query_match(&q, &tw6));
}

Test(query, port_range_bounds_inclusive)
{
    struct tw_query q;
    tw_query_init(&q);
    cr_assert_eq(tw_parse_port_range("40000-40010", &q.sport_lo, &q.sport_hi), 0);
    cr_assert_eq(tw_parse_port_range(":80", &q.dport_lo, &q.dport_hi), 0);
    const struct {
        unsigned lport, rport;
        bool match;
    } c[] = {
        {39999, 80, false}, {40000, 80, true},  {40005, 80, true}, {40010, 80, true},
        {40011, 80, false}, {40000, 79, false}, {40000, 81, false}, {0, 0, false},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct tw_sock s = sock(TW_TIME_WAIT, "198.18.0.1", c[i].lport, "198.18.0.2", c[i].rport);
        cr_expect_eq(tw_query_match(&q, &s), c[i].match, "lport %u rport %u", c[i].lport,
                     c[i].rport);
    }
}

Test(query, cidr_matching)
{
    struct tw_query q;
    tw_query_init(&q);
    q.dst[q.n_dst++] = cidr("198.18.0.0/15");
    struct tw_sock in1 = sock(TW_TIME_WAIT, "10.0.0.1", 1, "198.18.0.0", 80);
    struct tw_sock in2 = sock(TW_TIME_WAIT, "10.0.0.1", 1, "198.19.255.255", 80);
    struct tw_sock out1 = sock(TW_TIME_WAIT, "10.0.0.1", 1, "198.20.0.0", 80);
    struct tw_sock out2 = sock(TW_TIME_WAIT, "10.0.0.1", 1, "198.17.255.255", 80);
    struct tw_sock mapped = sock(TW_TIME_WAIT, "::ffff:10.0.0.1", 1, "::ffff:198.18.3.4", 80);
    struct tw_sock mapped_out = sock(TW_TIME_WAIT, "::ffff:10.0.0.1", 1, "::ffff:198.20.3.4", 80);
    struct tw_sock v6 = sock(TW_TIME_WAIT, "::1", 1, "::1", 80);
    struct tw_sock compat = sock(TW_TIME_WAIT, "::1", 1, "::198.18.0.1", 80);
    cr_assert(tw_query_match(&q, &in1));
    cr_assert(tw_query_match(&q, &in2));
    cr_assert(!tw_query_match(&q, &out1));
    cr_assert(!tw_query_match(&q, &out2));
    /* an IPv4 CIDR matches v4-mapped IPv6 sockets, as the kernel's hostcond does */
    cr_assert(tw_query_match(&q, &mapped));
    cr_assert(!tw_query_match(&q, &mapped_out));
    cr_assert(!tw_query_match(&q, &v6));
    cr_assert(!tw_query_match(&q, &compat), "::198.18.0.1 is not v4-mapped");

    /* the source list is checked against the local address */
    tw_query_init(&q);
    q.src[q.n_src++] = cidr("10.0.0.0/8");
    cr_assert(tw_query_match(&q, &in1));
    cr_assert(tw_query_match(&q, &mapped));
    cr_assert(!tw_query_match(&q, &v6));
    struct tw_sock rev = sock(TW_TIME_WAIT, "198.18.0.1", 1, "10.0.0.1", 80);
    cr_assert(!tw_query_match(&q, &rev));
}

Test(query, cidr_lists_or_fields_and)
{
    struct tw_query q;
    tw_query_init(&q);
    q.dst[q.n_dst++] = cidr("198.18.0.2");
    q.dst[q.n_dst++] = cidr("2001:db8::/32");
    q.src[q.n_src++] = cidr("198.18.0.1/32");
    q.src[q.n_src++] = cidr("2001:db8:1::/48");
    struct tw_sock a = sock(TW_TIME_WAIT, "198.18.0.1", 1, "198.18.0.2", 80);
    struct tw_sock b = sock(TW_TIME_WAIT, "2001:db8:1::5", 1, "2001:db8:ff::1", 80);
    struct tw_sock c = sock(TW_TIME_WAIT, "198.18.0.1", 1, "198.18.0.3", 80);  /* dst no */
    struct tw_sock d = sock(TW_TIME_WAIT, "198.18.0.9", 1, "198.18.0.2", 80);  /* src no */
    struct tw_sock e = sock(TW_TIME_WAIT, "2001:db8:2::5", 1, "2001:db8::1", 80); /* src no */
    cr_assert(tw_query_match(&q, &a));
    cr_assert(tw_query_match(&q, &b));
    cr_assert(!tw_query_match(&q, &c));
    cr_assert(!tw_query_match(&q, &d));
    cr_assert(!tw_query_match(&q, &e));
    /* AND with a port filter */
    q.dport_lo = q.dport_hi = 443;
    cr_assert(!tw_query_match(&q, &a));
}

Test(query, prefix_zero)
{
    struct tw_query q;
    tw_query_init(&q);
    q.dst[q.n_dst++] = cidr("0.0.0.0/0");
    struct tw_sock v4 = sock(TW_TIME_WAIT, "10.0.0.1", 1, "203.0.113.9", 80);
    struct tw_sock mapped = sock(TW_TIME_WAIT, "::ffff:10.0.0.1", 1, "::ffff:203.0.113.9", 80);
    cr_assert(tw_query_match(&q, &v4));
    cr_assert(tw_query_match(&q, &mapped));
    tw_query_init(&q);
    q.dst[q.n_dst++] = cidr("::/0");
    struct tw_sock v6 = sock(TW_TIME_WAIT, "::1", 1, "2001:db8::1", 80);
    cr_assert(tw_query_match(&q, &v6));
    cr_assert(tw_query_match(&q, &mapped));
    /* (what a v4 /0 does to a pure IPv6 socket is checked against the kernel
     * itself in test_netlink.c, bytecode.kernel_agrees) */
}

Test(query, cidr_prefix_bits_exact)
{
    /* every prefix length of one address: the last matching bit decides */
    struct tw_addr base = addr("2001:db8:aaaa:5555:ffff:0:1234:8000");
    for (unsigned p = 1; p <= 128; p++) {
        char buf[80];
        snprintf(buf, sizeof(buf), "2001:db8:aaaa:5555:ffff:0:1234:8000/%u", p);
        struct tw_query q;
        tw_query_init(&q);
        q.src[q.n_src++] = cidr(buf);
        struct tw_sock s;
        memset(&s, 0, sizeof(s));
        s.state = TW_TIME_WAIT;
        s.laddr = base;
        s.raddr = base;
        cr_assert(tw_query_match(&q, &s), "/%u does not match its own address", p);
        /* flip bit p-1 (the last bit inside the prefix): no match */
        s.laddr.u.b[(p - 1) / 8] ^= (uint8_t)(0x80 >> ((p - 1) % 8));
        cr_assert(!tw_query_match(&q, &s), "/%u ignores bit %u", p, p - 1);
        /* flip bit p (the first host bit) instead: still a match */
        if (p < 128) {
            s.laddr = base;
            s.laddr.u.b[p / 8] ^= (uint8_t)(0x80 >> (p % 8));
            cr_assert(tw_query_match(&q, &s), "/%u looks at host bit %u", p, p);
        }
    }
}

/* ---- error names (lib/error.c) ------------------------------------------------- */

Test(errors, names_and_messages)
{
    cr_assert_str_eq(tw_err_name(TW_EMALFORMED), "TW_EMALFORMED");
    cr_assert_str_eq(tw_err_name(TW_ETRUNCATED), "TW_ETRUNCATED");
    cr_assert_str_eq(tw_err_name(TW_EUNKSTATE), "TW_EUNKSTATE");
    cr_assert_str_eq(tw_err_name(TW_EBADOPT), "TW_EBADOPT");
    cr_assert_str_eq(tw_err_name(TW_EDUMPINTR), "TW_EDUMPINTR");
    cr_assert_str_eq(tw_err_name(TW_EDOUBLE), "TW_EDOUBLE");
    cr_assert_str_eq(tw_err_name(0), "OK");
    cr_assert_str_eq(tw_err_name(-ENOENT), "ENOENT");
    cr_assert_str_eq(tw_err_name(-EPERM), "EPERM");
    cr_assert_str_eq(tw_err_name(-3999), "EUNKNOWN");
    cr_assert_str_eq(tw_err_name(-5000), "EUNKNOWN");
    cr_assert_str_eq(tw_err_name(7), "EUNKNOWN");
    cr_assert_str_eq(tw_strerror(TW_EMALFORMED), "malformed input");
    cr_assert_str_eq(tw_strerror(TW_EUNKSTATE), "unknown TCP state");
    cr_assert_str_eq(tw_strerror(0), "success");
    cr_assert_str_eq(tw_strerror(-ENOENT), strerror(ENOENT));
    cr_assert_str_eq(tw_strerror(-5000), "unknown error");
    cr_assert_str_eq(tw_strerror(12), "unknown error");
    /* every twkit code has a name and a message of its own */
    const int codes[] = {TW_EMALFORMED, TW_ETRUNCATED, TW_EUNKSTATE,     TW_ENONETNS, TW_EBADOPT,
                         TW_EDUMPINTR,  TW_ECLOSED,    TW_EWAITTIMEOUT, TW_EFOREIGN, TW_EDOUBLE};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        cr_assert(codes[i] < -4000, "code %d inside the errno range", codes[i]);
        cr_assert_str_neq(tw_strerror(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(tw_err_name(codes[i]), tw_err_name(codes[j]));
    }
}
