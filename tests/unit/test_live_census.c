/*
 * test_live_census.c — the live table's census (lib/live_census.c): the
 * kernel's counts parsed from procfs text as Linux 6.x prints it (CurrEstab
 * found by its column name, TCP6 optional), and the check's rule: a total
 * agrees when it lies between the kernel's counts read before and after it
 * (full sockets: connect()s in their port search are not hashed yet), and a disagreement
 * is reported only when no try agrees.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "live_int.h"

static int text_fd(const char *text)
{
    char path[] = "/tmp/twkit-census-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    return fd;
}

static const char *SOCKSTAT = "sockets: used 161\n"
                              "TCP: inuse 104 orphan 3 tw 245 alloc 120 mem 9\n"
                              "UDP: inuse 2 mem 1\n"
                              "UDPLITE: inuse 0\n"
                              "RAW: inuse 0\n"
                              "FRAG: inuse 0 memory 0\n";
static const char *SOCKSTAT6 = "TCP6: inuse 7\nUDP6: inuse 1\nUDPLITE6: inuse 0\n"
                               "RAW6: inuse 0\nFRAG6: inuse 0 memory 0\n";
static const char *SNMP =
    "Ip: Forwarding DefaultTTL InReceives\n"
    "Ip: 1 64 100\n"
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails "
    "EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
    "Tcp: 1 200 120000 -1 750 750 0 0 101 9000 9000 0 0 0 0\n"
    "Udp: InDatagrams NoPorts\n"
    "Udp: 5 0\n";

static struct tw__census census(const char *ss, const char *ss6, const char *snmp)
{
    struct tw__census c = {.sockstat = text_fd(ss), .sockstat6 = ss6 ? text_fd(ss6) : -1,
                           .snmp = text_fd(snmp)};
    return c;
}

Test(live_census, reads_the_kernels_counts)
{
    struct tw__census c = census(SOCKSTAT, SOCKSTAT6, SNMP);
    struct tw__census_k k;
    cr_assert_eq(tw__census_read(&c, &k), 0);
    cr_expect_eq(k.inuse, 104 + 7, "inuse: TCP + TCP6, got %lld", (long long)k.inuse);
    cr_expect_eq(k.tw, 245);
    cr_expect_eq(k.estab, 101, "CurrEstab by its column, got %lld", (long long)k.estab);
    /* read again from the start: the same */
    cr_assert_eq(tw__census_read(&c, &k), 0);
    cr_expect_eq(k.inuse, 111);
    tw__census_close(&c);
    cr_expect_eq(c.sockstat, -1);
}

Test(live_census, no_ipv6_and_bad_text)
{
    struct tw__census c = census(SOCKSTAT, NULL, SNMP);
    struct tw__census_k k;
    cr_assert_eq(tw__census_read(&c, &k), 0);
    cr_expect_eq(k.inuse, 104, "without sockstat6 the IPv6 count is 0");
    tw__census_close(&c);
    c = census("TCP: orphan 3\n", NULL, SNMP);
    cr_expect_eq(tw__census_read(&c, &k), -EPROTO, "no inuse field");
    tw__census_close(&c);
    c = census(SOCKSTAT, NULL, "Tcp: RtoAlgorithm CurrEstab\nUdp: 1 2\n");
    cr_expect_eq(tw__census_read(&c, &k), -EPROTO, "no Tcp value line");
    tw__census_close(&c);
    c = census(SOCKSTAT, NULL, "Tcp: RtoAlgorithm MaxConn\nTcp: 1 2\n");
    cr_expect_eq(tw__census_read(&c, &k), -EPROTO, "no CurrEstab column");
    tw__census_close(&c);
}

/* table totals for the check: fixed, and how often they were asked */
struct fake {
    struct tw__census_k t;
    int calls;
};
static int fake_totals(void *arg, struct tw__census_k *t)
{
    struct fake *f = arg;
    f->calls++;
    *t = f->t;
    return 0;
}

Test(live_census, check_agrees_and_disagrees)
{
    struct tw__census c = census(SOCKSTAT, SOCKSTAT6, SNMP);
    char what[256] = "";
    struct fake f = {.t = {.inuse = 111, .tw = 245, .estab = 101}};
    cr_expect_eq(tw__census_check(&c, fake_totals, &f, what, sizeof(what)), 0);
    cr_expect_eq(f.calls, 1, "agreeing at the first try: one read of the table");
    /* one full socket more than the kernel hashes (a lost close) */
    f = (struct fake){.t = {.inuse = 112, .tw = 245, .estab = 101}};
    cr_expect_eq(tw__census_check(&c, fake_totals, &f, what, sizeof(what)), 1);
    cr_expect_eq(f.calls, 8, "every try made before disagreeing, got %d", f.calls);
    cr_expect(strstr(what, "full sockets 112, 0 of them connecting (kernel 111)"), "what: %s", what);
    /* the same with one connect() not hashed yet: agrees */
    f = (struct fake){.t = {.inuse = 112, .inuse_unhashed = 1, .tw = 245, .estab = 101}};
    cr_expect_eq(tw__census_check(&c, fake_totals, &f, what, sizeof(what)), 0);
    /* but not one full socket fewer than the kernel hashes */
    f = (struct fake){.t = {.inuse = 110, .inuse_unhashed = 1, .tw = 245, .estab = 101}};
    cr_expect_eq(tw__census_check(&c, fake_totals, &f, what, sizeof(what)), 1);
    f = (struct fake){.t = {.inuse = 111, .tw = 244, .estab = 101}};
    cr_expect_eq(tw__census_check(&c, fake_totals, &f, what, sizeof(what)), 1);
    cr_expect(strstr(what, "timewait 244 (kernel 245)"), "what: %s", what);
    f = (struct fake){.t = {.inuse = 111, .tw = 245, .estab = 100}};
    cr_expect_eq(tw__census_check(&c, fake_totals, &f, what, sizeof(what)), 1);
    cr_expect(strstr(what, "ESTABLISHED+CLOSE_WAIT 100 (kernel 101)"), "what: %s", what);
    tw__census_close(&c);
}
