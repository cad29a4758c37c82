/*
 * test_netlink.c — the NETLINK_SOCK_DIAG half of libtwkit (lib/src_netlink.c):
 * the reply parser (tw_parse_diag_msg), the buffer walker that serves live
 * dumps, recorded fixtures and the fuzzer (tw_parse_diag_buf), and the
 * inet_diag bytecode compiler (tw__bc_compile, internal).
 *
 * Replies are built here byte by byte as the kernel lays them out
 * (struct nlmsghdr + struct inet_diag_msg + attributes, NLMSG_ALIGNed), or
 * read from the recording in tests/fixtures/stat/recorded-nl.
 *
 * The bytecode is checked three ways:
 *   - its exact bytes for simple filters;
 *   - against a model of the kernel's verifier and interpreter
 *     (inet_diag_bc_audit / inet_diag_bc_run, net/ipv4/inet_diag.c),
 *     written here from the kernel's rules, over thousands of random
 *     queries and sockets, compared with tw_query_match;
 *   - against the kernel itself: as root, in a private network namespace
 *     with a known socket set, every filtered dump must return exactly the
 *     sockets that tw_query_match selects from an unfiltered dump (skipped
 *     with a warning when not root).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <twkit/error.h>
#include <twkit/sock.h>

#include "internal.h"

#define FIX "tests/fixtures/stat"

#ifndef TCPDIAG_GETSOCK
#define TCPDIAG_GETSOCK 18
#endif

/* ---- building replies ---------------------------------------------------------- */

struct nlbuf {
    uint8_t b[16384] __attribute__((aligned(8)));
    size_t len;
};

static void put(struct nlbuf *nb, uint16_t type, uint16_t flags, const void *payload, size_t plen)
{
    struct nlmsghdr h = {.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + plen),
                         .nlmsg_type = type,
                         .nlmsg_flags = flags,
                         .nlmsg_seq = 7};
    cr_assert(nb->len + NLMSG_ALIGN(h.nlmsg_len) <= sizeof(nb->b));
    memcpy(nb->b + nb->len, &h, sizeof(h));
    memcpy(nb->b + nb->len + NLMSG_HDRLEN, payload, plen);
    memset(nb->b + nb->len + h.nlmsg_len, 0, NLMSG_ALIGN(h.nlmsg_len) - h.nlmsg_len);
    nb->len += NLMSG_ALIGN(h.nlmsg_len);
}

static struct inet_diag_msg dmsg(int family, int state, const char *l, unsigned lport,
                                 const char *r, unsigned rport)
{
    struct inet_diag_msg m;
    memset(&m, 0, sizeof(m));
    m.idiag_family = (uint8_t)family;
    m.idiag_state = (uint8_t)state;
    m.idiag_timer = state == TW_TIME_WAIT ? 3 : 0;
    m.id.idiag_sport = htons((uint16_t)lport);
    m.id.idiag_dport = htons((uint16_t)rport);
    cr_assert_eq(inet_pton(family, l, m.id.idiag_src), 1, "%s", l);
    cr_assert_eq(inet_pton(family, r, m.id.idiag_dst), 1, "%s", r);
    m.idiag_expires = state == TW_TIME_WAIT ? 30000 : 0;
    m.idiag_inode = state == TW_TIME_WAIT ? 0 : 1000 + lport;
    return m;
}

static void put_sock(struct nlbuf *nb, uint16_t flags, const struct inet_diag_msg *m)
{
    put(nb, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI | flags, m, sizeof(*m));
}

static void put_done(struct nlbuf *nb)
{
    int zero = 0;
    put(nb, NLMSG_DONE, NLM_F_MULTI, &zero, sizeof(zero));
}

static void put_error(struct nlbuf *nb, int err)
{
    struct nlmsgerr e;
    memset(&e, 0, sizeof(e));
    e.error = err;
    put(nb, NLMSG_ERROR, 0, &e, sizeof(e));
}

/* Five sockets of both families and several states. */
static void five(struct nlbuf *nb)
{
    struct inet_diag_msg m[5] = {
        dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80),
        dmsg(AF_INET, TW_ESTABLISHED, "198.18.0.1", 40001, "198.18.0.2", 443),
        dmsg(AF_INET6, TW_TIME_WAIT, "::1", 40002, "::1", 8080),
        dmsg(AF_INET, TW_LISTEN, "0.0.0.0", 80, "0.0.0.0", 0),
        dmsg(AF_INET6, TW_TIME_WAIT, "::ffff:198.18.0.1", 40003, "::ffff:198.18.0.3", 80),
    };
    for (int i = 0; i < 5; i++)
        put_sock(nb, 0, &m[i]);
}

struct got {
    struct tw_sock s[512];
    unsigned n;
    unsigned stop_at;
    int stop_val;
};

static int got_cb(const struct tw_sock *s, void *arg)
{
    struct got *g = arg;
    if (g->n < 512)
        g->s[g->n] = *s;
    g->n++;
    return g->stop_at && g->n == g->stop_at ? g->stop_val : 0;
}

static int walk(const struct nlbuf *nb, size_t len, const struct tw_query *q, struct got *g,
                bool *done, int *cbr)
{
    /* an exact-size heap copy: ASan catches any read past len */
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, nb->b, len);
    int r = tw_parse_diag_buf(copy, len, q, got_cb, g, done, cbr);
    free(copy);
    return r;
}

static void assert_addr(const struct tw_addr *a, const char *want)
{
    char buf[64];
    struct tw_addr w;
    cr_assert_eq(tw_parse_addr(want, &w), 0);
    cr_assert_eq(a->family, w.family, "family %d, want %s", a->family, want);
    cr_assert(!memcmp(a->u.b, w.u.b, 16), "address %s, want %s", tw_addr_str(a, buf, sizeof(buf)),
              want);
    cr_assert(a->pad[0] == 0 && a->pad[1] == 0 && a->pad[2] == 0);
}

/* ---- tw_parse_diag_msg ----------------------------------------------------------- */

Test(msg, time_wait_v4_decodes_every_field)
{
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    m.id.idiag_src[1] = 0xdeadbeef; /* the kernel leaves these 0 for IPv4; never trust it */
    m.id.idiag_dst[3] = 0xdeadbeef;
    m.id.idiag_if = 1;
    m.idiag_expires = 28456;
    m.idiag_uid = 0;
    m.idiag_inode = 0;
    struct tw_sock s;
    memset(&s, 0xa5, sizeof(s));
    cr_assert_eq(tw_parse_diag_msg(&m, sizeof(m), &s), 0);
    cr_assert_eq(s.state, TW_TIME_WAIT);
    cr_assert_eq(s.timer, 3);
    cr_assert_eq(s.lport, 40000);
    cr_assert_eq(s.rport, 80);
    cr_assert_eq(s.ifindex, 1);
    cr_assert_eq(s.expires_ms, 28456);
    cr_assert_eq(s.uid, 0);
    cr_assert_eq(s.inode, 0);
    cr_assert_eq(s.pad, 0);
    assert_addr(&s.laddr, "198.18.0.1");
    assert_addr(&s.raddr, "198.18.0.2");
}

Test(msg, established_v6_with_attributes)
{
    uint8_t buf[sizeof(struct inet_diag_msg) + 8] __attribute__((aligned(4)));
    struct inet_diag_msg m =
        dmsg(AF_INET6, TW_ESTABLISHED, "2001:db8::1", 443, "2001:db8::2", 54321);
    m.idiag_uid = 1000;
    m.idiag_inode = 4242;
    m.idiag_timer = 2;
    m.idiag_expires = 7200000;
    memcpy(buf, &m, sizeof(m));
    struct nlattr a = {.nla_len = 8, .nla_type = INET_DIAG_MARK};
    memcpy(buf + sizeof(m), &a, 4);
    memset(buf + sizeof(m) + 4, 0, 4);
    struct tw_sock s;
    cr_assert_eq(tw_parse_diag_msg(buf, sizeof(buf), &s), 0);
    cr_assert_eq(s.state, TW_ESTABLISHED);
    cr_assert_eq(s.timer, 2);
    cr_assert_eq(s.expires_ms, 7200000);
    cr_assert_eq(s.uid, 1000);
    cr_assert_eq(s.inode, 4242);
    cr_assert_eq(s.lport, 443);
    cr_assert_eq(s.rport, 54321);
    assert_addr(&s.laddr, "2001:db8::1");
    assert_addr(&s.raddr, "2001:db8::2");
}

Test(msg, short_payload_is_truncated)
{
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    struct tw_sock s;
    cr_assert_eq(sizeof(m), 72);
    for (size_t len = 0; len < sizeof(m); len += 7)
        cr_expect_eq(tw_parse_diag_msg(&m, len, &s), TW_ETRUNCATED, "len %zu", len);
    cr_assert_eq(tw_parse_diag_msg(&m, sizeof(m) - 1, &s), TW_ETRUNCATED);
    cr_assert_eq(tw_parse_diag_msg(&m, sizeof(m), &s), 0);
}

Test(msg, bad_family_and_states)
{
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    struct tw_sock s;
    const int fams[] = {0, AF_UNIX, AF_NETLINK, 255};
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        m.idiag_family = (uint8_t)fams[i];
        cr_expect_eq(tw_parse_diag_msg(&m, sizeof(m), &s), TW_EMALFORMED, "family %d", fams[i]);
    }
    m.idiag_family = AF_INET;
    const int bad[] = {0, 13, 14, 255};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m.idiag_state = (uint8_t)bad[i];
        cr_expect_eq(tw_parse_diag_msg(&m, sizeof(m), &s), TW_EUNKSTATE, "state %d", bad[i]);
    }
    for (int st = 1; st < TW_STATE_MAX; st++) {
        m.idiag_state = (uint8_t)st;
        cr_expect_eq(tw_parse_diag_msg(&m, sizeof(m), &s), 0, "state %d", st);
        cr_expect_eq(s.state, st);
    }
}

/* ---- tw_parse_diag_buf ---------------------------------------------------------- */

Test(buf, sockets_then_done)
{
    struct nlbuf nb = {.len = 0};
    five(&nb);
    put_done(&nb);
    struct got g = {.n = 0};
    bool done = false;
    int cbr = -1;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), 0);
    cr_assert(done);
    cr_assert_eq(cbr, 0);
    cr_assert_eq(g.n, 5);
    cr_assert_eq(g.s[0].lport, 40000);
    assert_addr(&g.s[0].raddr, "198.18.0.2");
    cr_assert_eq(g.s[2].laddr.family, AF_INET6);
    cr_assert_eq(g.s[3].state, TW_LISTEN);
    assert_addr(&g.s[4].raddr, "::ffff:198.18.0.3");
}

Test(buf, no_done_and_empty)
{
    struct nlbuf nb = {.len = 0};
    five(&nb);
    struct got g = {.n = 0};
    bool done = true;
    int cbr = -1;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), 0);
    cr_assert(!done);
    cr_assert_eq(g.n, 5);
    g.n = 0;
    done = true;
    cr_assert_eq(walk(&nb, 0, NULL, &g, &done, &cbr), 0);
    cr_assert(!done);
    cr_assert_eq(g.n, 0);
}

Test(buf, legacy_message_type_and_two_dumps)
{
    /* twkit records two dumps (listeners, then the rest) of TCPDIAG_GETSOCK replies */
    struct nlbuf nb = {.len = 0};
    struct inet_diag_msg l = dmsg(AF_INET, TW_LISTEN, "0.0.0.0", 80, "0.0.0.0", 0);
    struct inet_diag_msg t = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.9", 80, "198.18.0.8", 5000);
    put(&nb, TCPDIAG_GETSOCK, NLM_F_MULTI, &l, sizeof(l));
    put_done(&nb);
    put(&nb, TCPDIAG_GETSOCK, NLM_F_MULTI, &t, sizeof(t));
    put_done(&nb);
    struct got g = {.n = 0};
    bool done = false;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), 0);
    cr_assert(done);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.s[1].state, TW_TIME_WAIT);
}

Test(buf, nlmsg_error_returns_its_errno)
{
    struct nlbuf nb = {.len = 0};
    five(&nb);
    put_error(&nb, -EPERM);
    struct got g = {.n = 0};
    bool done = true;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), -EPERM);
    cr_assert_eq(g.n, 5, "sockets before the error are delivered");
    cr_assert(!done);

    struct nlbuf nb2 = {.len = 0};
    put_error(&nb2, -EINVAL);
    five(&nb2);
    g.n = 0;
    cr_assert_eq(walk(&nb2, nb2.len, NULL, &g, &done, &cbr), -EINVAL);
    cr_assert_eq(g.n, 0);
}

Test(buf, nlmsg_error_too_short)
{
    struct nlbuf nb = {.len = 0};
    int e = -EPERM;
    put(&nb, NLMSG_ERROR, 0, &e, sizeof(e)); /* 4 bytes, not a struct nlmsgerr */
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_ETRUNCATED);
}

Test(buf, nlmsg_error_with_positive_code_is_malformed)
{
    /*
     * The kernel only sends errors <= 0.  A positive code is bad input and
     * must say so; the walker instead returns it like an internal status:
     * error=1 reads as "NLMSG_DONE seen" (done=true, 0) and error=2 as
     * "callback stopped" (returns 0), silently dropping what follows.
     */
    for (int code = 1; code <= 5; code++) {
        struct nlbuf nb = {.len = 0};
        struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
        put_sock(&nb, 0, &m);
        put_error(&nb, code);
        put_sock(&nb, 0, &m);
        put_done(&nb);
        struct got g = {.n = 0};
        bool done = false;
        int cbr = 0;
        int r = walk(&nb, nb.len, NULL, &g, &done, &cbr);
        cr_expect_eq(r, TW_EMALFORMED, "NLMSG_ERROR error=%d: returned %d, done=%d, %u sockets",
                     code, r, done, g.n);
    }
}

Test(buf, truncated_trailing_message)
{
    struct nlbuf nb = {.len = 0};
    five(&nb);
    size_t full = nb.len;
    struct got g = {.n = 0};
    bool done;
    int cbr;
    /* cut inside the last message's body, inside its header, and one byte short */
    const size_t cut[] = {full - 30, full - 88 + 10, full - 1, full - 88 + 1};
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        g.n = 0;
        cr_expect_eq(walk(&nb, cut[i], NULL, &g, &done, &cbr), TW_ETRUNCATED, "cut at %zu",
                     cut[i]);
        cr_expect_eq(g.n, 4, "cut at %zu: %u sockets", cut[i], g.n);
    }
    /* an nlmsg_len shorter than a netlink header cannot be walked */
    struct nlmsghdr *h = (struct nlmsghdr *)nb.b;
    h->nlmsg_len = 8;
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_ETRUNCATED);
    cr_assert_eq(g.n, 0);
    /* an nlmsg_len longer than the buffer */
    h->nlmsg_len = (uint32_t)nb.len + 4;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_ETRUNCATED);
}

/*
 * One good socket, then a header whose nlmsg_len is far beyond the buffer.
 * libmnl's mnl_nlmsg_ok() compares (int)nlmsg_len <= len, so any length of
 * 2^31 or more passes as "fits", and mnl_nlmsg_next() then moves by
 * MNL_ALIGN(nlmsg_len): 0xFFFFFFFD-0xFFFFFFFF align to 0 (the walk never
 * advances: a hang), 0xFFFFFFF0 moves the pointer ~4 GiB forward (a wild
 * read), 0x80000000 makes `left` negative (garbage accepted as a complete
 * buffer).  Found by fuzz_diag_buf.  Each must be TW_ETRUNCATED: a message
 * longer than what is left.
 */
static void huge_len(uint32_t len)
{
    struct nlbuf nb = {.len = 0};
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    put_sock(&nb, 0, &m);
    struct nlmsghdr h = {.nlmsg_len = len, .nlmsg_type = NLMSG_NOOP};
    memcpy(nb.b + nb.len, &h, sizeof(h));
    memset(nb.b + nb.len + sizeof(h), 0, 16);
    nb.len += sizeof(h) + 16;
    struct got g = {.n = 0};
    bool done;
    int cbr;
    int r = walk(&nb, nb.len, NULL, &g, &done, &cbr);
    cr_expect_eq(r, TW_ETRUNCATED, "nlmsg_len 0x%08x: %d (%s)", len, r, tw_err_name(r));
    cr_expect_eq(g.n, 1);
}

Test(buf, nlmsg_len_beyond_the_buffer)
{
    huge_len(0x7fffffff);
    huge_len(0x00001000);
}

Test(buf, nlmsg_len_2_to_the_31, .timeout = 3)
{
    huge_len(0x80000000);
}

Test(buf, nlmsg_len_wraps_the_pointer, .timeout = 3)
{
    huge_len(0xfffffff0);
}

Test(buf, nlmsg_len_aligns_to_zero, .timeout = 3)
{
    huge_len(0xffffffff);
}

Test(buf, short_socket_payload_is_truncated)
{
    struct nlbuf nb = {.len = 0};
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    put(&nb, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, &m, 40);
    put_done(&nb);
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_ETRUNCATED);
    cr_assert_eq(g.n, 0);
}

Test(buf, dump_interrupted)
{
    struct nlbuf nb = {.len = 0};
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    put_sock(&nb, 0, &m);
    put_sock(&nb, NLM_F_DUMP_INTR, &m);
    put_done(&nb);
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_EDUMPINTR);
    cr_assert_eq(g.n, 1);
    /* on the NLMSG_DONE too (the kernel flags the message that ends the dump) */
    struct nlbuf nb2 = {.len = 0};
    put_sock(&nb2, 0, &m);
    int zero = 0;
    put(&nb2, NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, &zero, sizeof(zero));
    g.n = 0;
    cr_assert_eq(walk(&nb2, nb2.len, NULL, &g, &done, &cbr), TW_EDUMPINTR);
}

Test(buf, bad_socket_message_stops_the_walk)
{
    struct nlbuf nb = {.len = 0};
    struct inet_diag_msg ok = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    struct inet_diag_msg bad = ok;
    bad.idiag_state = 13;
    put_sock(&nb, 0, &ok);
    put_sock(&nb, 0, &bad);
    put_sock(&nb, 0, &ok);
    put_done(&nb);
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_EUNKSTATE);
    cr_assert_eq(g.n, 1);
    bad.idiag_state = TW_TIME_WAIT;
    bad.idiag_family = AF_UNIX;
    nb.len = 0;
    put_sock(&nb, 0, &bad);
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_EMALFORMED);
    cr_assert_eq(g.n, 0);
}

Test(buf, message_types)
{
    struct nlbuf nb = {.len = 0};
    struct inet_diag_msg m = dmsg(AF_INET, TW_TIME_WAIT, "198.18.0.1", 40000, "198.18.0.2", 80);
    int zero = 0;
    put(&nb, NLMSG_NOOP, 0, &zero, sizeof(zero)); /* control messages below 16 are skipped */
    put_sock(&nb, 0, &m);
    put(&nb, NLMSG_OVERRUN, 0, &zero, sizeof(zero));
    put_done(&nb);
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), 0);
    cr_assert_eq(g.n, 1);
    cr_assert(done);
    /* a data message of another family (e.g. RTM_NEWLINK, 16) is not a socket */
    nb.len = 0;
    put_sock(&nb, 0, &m);
    put(&nb, 16, NLM_F_MULTI, &m, sizeof(m));
    put_done(&nb);
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), TW_EMALFORMED);
    cr_assert_eq(g.n, 1);
}

Test(buf, callback_stop_value)
{
    struct nlbuf nb = {.len = 0};
    five(&nb);
    put_done(&nb);
    struct got g = {.n = 0, .stop_at = 2, .stop_val = 77};
    bool done = true;
    int cbr = 0;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), 77);
    cr_assert_eq(cbr, 77);
    cr_assert_eq(g.n, 2);
    cr_assert(!done);
    /* a negative stop value (tw_report_add's -ENOMEM) is returned as is */
    g = (struct got){.n = 0, .stop_at = 1, .stop_val = -ENOMEM};
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), -ENOMEM);
    cr_assert_eq(g.n, 1);
}

Test(buf, query_states_and_family)
{
    struct nlbuf nb = {.len = 0};
    five(&nb);
    put_done(&nb);
    struct tw_query q;
    tw_query_init(&q);
    q.states = TW_STATE_BIT(TW_TIME_WAIT);
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, &q, &g, &done, &cbr), 0);
    cr_assert_eq(g.n, 3);
    for (unsigned i = 0; i < g.n; i++)
        cr_assert_eq(g.s[i].state, TW_TIME_WAIT);
    q.want_v4 = false;
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, &q, &g, &done, &cbr), 0);
    cr_assert_eq(g.n, 2);
    tw_query_init(&q);
    q.want_v6 = false;
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, &q, &g, &done, &cbr), 0);
    cr_assert_eq(g.n, 3);
}

Test(buf, query_ports_and_addresses)
{
    /*
     * tw_parse_diag_buf "calls cb for each socket that q selects".  A live
     * dump has its ports and CIDRs applied by the kernel, but a recorded
     * fixture is replayed through this walker alone, so the walker must
     * apply them too (tw_source_dump: "proc and fixture: the same filter in
     * user space").
     */
    struct nlbuf nb = {.len = 0};
    five(&nb);
    put_done(&nb);
    struct tw_query q;
    tw_query_init(&q);
    q.dport_lo = q.dport_hi = 80;
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, &q, &g, &done, &cbr), 0);
    cr_expect_eq(g.n, 2, "dport 80: %u sockets delivered, 2 selected", g.n);
    for (unsigned i = 0; i < g.n && i < 512; i++)
        cr_expect_eq(g.s[i].rport, 80, "socket %u has rport %u", i, g.s[i].rport);

    tw_query_init(&q);
    cr_assert_eq(tw_parse_cidr("198.18.0.2/32", &q.dst[0]), 0);
    q.n_dst = 1;
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, &q, &g, &done, &cbr), 0);
    cr_expect_eq(g.n, 2, "dst 198.18.0.2: %u sockets delivered, 2 selected", g.n);

    tw_query_init(&q);
    q.sport_lo = 40001;
    q.sport_hi = 40002;
    g.n = 0;
    cr_assert_eq(walk(&nb, nb.len, &q, &g, &done, &cbr), 0);
    cr_expect_eq(g.n, 2, "sport 40001-40002: %u sockets delivered, 2 selected", g.n);
}

Test(buf, recorded_dump)
{
    /* a real recording: two dumps (listeners, the rest) of 6.18, root (INET_DIAG_MARK) */
    int fd = open(FIX "/recorded-nl/sock_diag.bin", O_RDONLY);
    cr_assert_geq(fd, 0);
    struct nlbuf nb = {.len = 0};
    ssize_t n = read(fd, nb.b, sizeof(nb.b));
    close(fd);
    cr_assert_eq(n, 2384);
    nb.len = (size_t)n;
    struct got g = {.n = 0};
    bool done;
    int cbr;
    cr_assert_eq(walk(&nb, nb.len, NULL, &g, &done, &cbr), 0);
    cr_assert(done);
    cr_assert_eq(g.n, 22);
    unsigned st[TW_STATE_MAX] = {0};
    for (unsigned i = 0; i < g.n; i++)
        st[g.s[i].state]++;
    cr_assert_eq(st[TW_LISTEN], 3);
    cr_assert_eq(st[TW_TIME_WAIT], 13);
    cr_assert_eq(st[TW_ESTABLISHED], 4);
    cr_assert_eq(st[TW_CLOSE_WAIT], 1);
    cr_assert_eq(st[TW_FIN_WAIT2], 1);
    /* the first TIME_WAIT of the second dump */
    cr_assert_eq(g.s[3].state, TW_TIME_WAIT);
    assert_addr(&g.s[3].laddr, "198.18.0.2");
    cr_assert_eq(g.s[3].lport, 80);
    assert_addr(&g.s[3].raddr, "198.18.0.1");
    cr_assert_eq(g.s[3].rport, 35182);
    cr_assert_eq(g.s[3].expires_ms, 59888);
    cr_assert_eq(g.s[3].timer, 3);
    cr_assert(tw_sock_is_fw2_minisock(&g.s[20]));
    /* every prefix of the recording: complete messages or TW_ETRUNCATED, never more */
    for (size_t len = 0; len < nb.len; len++) {
        struct got p = {.n = 0};
        int r = walk(&nb, len, NULL, &p, &done, &cbr);
        cr_assert(r == 0 || r == TW_ETRUNCATED, "prefix %zu: %d", len, r);
        cr_assert_leq(p.n, g.n);
    }
}

/* ---- bytecode: a model of the kernel's verifier and interpreter ----------------- */

#include "../bc_model.h"

static bool model_match(const struct tw_query *q, const struct tw_sock *s)
{
    uint8_t bc[1024];
    int n = tw__bc_compile(q, bc, sizeof(bc));
    cr_assert_geq(n, 0, "tw__bc_compile: %d", n);
    return n == 0 || model_run(bc, n, s);
}

/* ---- bytecode: exact programs ---------------------------------------------------- */

static struct inet_diag_bc_op op_at(const uint8_t *bc, int off)
{
    struct inet_diag_bc_op op;
    memcpy(&op, bc + off, sizeof(op));
    return op;
}

Test(bytecode, no_filter_no_program)
{
    struct tw_query q;
    tw_query_init(&q);
    uint8_t bc[64];
    cr_assert_eq(tw__bc_compile(&q, bc, sizeof(bc)), 0);
    q.states = TW_STATE_BIT(TW_TIME_WAIT); /* states go in the request, not the program */
    q.want_v6 = false;
    cr_assert_eq(tw__bc_compile(&q, bc, sizeof(bc)), 0);
    q.sport_hi = 65535;
    q.dport_lo = 0;
    cr_assert_eq(tw__bc_compile(&q, bc, sizeof(bc)), 0);
}

Test(bytecode, one_port_bound)
{
    struct tw_query q;
    tw_query_init(&q);
    q.dport_lo = 9001;
    uint8_t bc[64];
    int n = tw__bc_compile(&q, bc, sizeof(bc));
    cr_assert_eq(n, 8);
    struct inet_diag_bc_op a = op_at(bc, 0), b = op_at(bc, 4);
    cr_assert_eq(a.code, INET_DIAG_BC_D_GE);
    cr_assert_eq(a.yes, 8);
    cr_assert_eq(a.no, 12, "reject jumps to len + 4");
    cr_assert_eq(b.no, 9001, "the port sits in the next op's no field, host order");
}

Test(bytecode, four_port_bounds_all_reject_to_the_end)
{
    struct tw_query q;
    tw_query_init(&q);
    q.sport_lo = 1000;
    q.sport_hi = 2000;
    q.dport_lo = 9001;
    q.dport_hi = 9002;
    uint8_t bc[64];
    int n = tw__bc_compile(&q, bc, sizeof(bc));
    cr_assert_eq(n, 32);
    const uint8_t codes[4] = {INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, INET_DIAG_BC_D_GE,
                              INET_DIAG_BC_D_LE};
    const uint16_t ports[4] = {1000, 2000, 9001, 9002};
    for (int i = 0; i < 4; i++) {
        struct inet_diag_bc_op a = op_at(bc, 8 * i), b = op_at(bc, 8 * i + 4);
        cr_assert_eq(a.code, codes[i]);
        cr_assert_eq(a.yes, 8);
        cr_assert_eq(a.no, 32 - 8 * i + 4, "op %d rejects to %d, not len+4", i, 8 * i + a.no);
        cr_assert_eq(b.no, ports[i]);
    }
    char why[128] = "";
    cr_assert(model_audit(bc, n, why, sizeof(why)), "%s", why);
}

Test(bytecode, host_conditions)
{
    struct tw_query q;
    tw_query_init(&q);
    cr_assert_eq(tw_parse_cidr("198.18.0.0/15", &q.dst[0]), 0);
    q.n_dst = 1;
    uint8_t bc[256];
    int n = tw__bc_compile(&q, bc, sizeof(bc));
    const int sz4 = 4 + (int)sizeof(struct inet_diag_hostcond) + 4;
    cr_assert_eq(n, sz4);
    struct inet_diag_bc_op a = op_at(bc, 0);
    cr_assert_eq(a.code, INET_DIAG_BC_D_COND);
    cr_assert_eq(a.yes, sz4);
    cr_assert_eq(a.no, sz4 + 4);
    struct inet_diag_hostcond hc;
    memcpy(&hc, bc + 4, sizeof(hc));
    cr_assert_eq(hc.family, AF_INET);
    cr_assert_eq(hc.prefix_len, 15);
    cr_assert_eq(hc.port, -1);
    cr_assert_eq(bc[4 + sizeof(hc)], 198);
    cr_assert_eq(bc[4 + sizeof(hc) + 1], 18);

    /* two alternatives: COND, JMP over the second, COND */
    cr_assert_eq(tw_parse_cidr("2001:db8::/32", &q.dst[1]), 0);
    q.n_dst = 2;
    n = tw__bc_compile(&q, bc, sizeof(bc));
    const int sz6 = 4 + (int)sizeof(struct inet_diag_hostcond) + 16;
    cr_assert_eq(n, sz4 + 4 + sz6);
    struct inet_diag_bc_op j = op_at(bc, sz4);
    cr_assert_eq(j.code, INET_DIAG_BC_JMP);
    cr_assert_eq(j.no, sz6 + 4, "JMP lands at the end of the program");
    cr_assert_eq(op_at(bc, 0).no, sz4 + 4, "the first reject falls into the second");
    cr_assert_eq(op_at(bc, sz4 + 4).no, sz6 + 4, "the last reject is len+4");
    char why[128] = "";
    cr_assert(model_audit(bc, n, why, sizeof(why)), "%s", why);
}

Test(bytecode, largest_query_fits_and_small_buffer_refused)
{
    struct tw_query q;
    tw_query_init(&q);
    q.sport_lo = 1;
    q.sport_hi = 2;
    q.dport_lo = 3;
    q.dport_hi = 4;
    for (int i = 0; i < TW_QUERY_MAX_CIDR; i++) {
        char b[64];
        snprintf(b, sizeof(b), "2001:db8:%x::/48", i);
        cr_assert_eq(tw_parse_cidr(b, &q.src[i]), 0);
        cr_assert_eq(tw_parse_cidr(b, &q.dst[i]), 0);
    }
    q.n_src = q.n_dst = TW_QUERY_MAX_CIDR;
    uint8_t bc[1024];
    int n = tw__bc_compile(&q, bc, sizeof(bc));
    cr_assert_gt(n, 0, "largest query: %d", n);
    cr_assert_eq(n % 4, 0);
    char why[128] = "";
    cr_assert(model_audit(bc, n, why, sizeof(why)), "%s", why);
    /* a buffer too small for it: TW_EBADOPT, never a partial program */
    cr_assert_eq(tw__bc_compile(&q, bc, (size_t)n - 4), TW_EBADOPT);
    cr_assert_eq(tw__bc_compile(&q, bc, 16), TW_EBADOPT);
}

/* ---- bytecode: random queries against the model ----------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *const pool4[] = {"198.18.0.1", "198.18.0.2", "198.19.7.7", "10.0.0.1",
                                    "127.0.0.1",  "0.0.0.0",    "255.255.255.255"};
static const char *const pool6[] = {"::1", "2001:db8::1", "2001:db8:ffff::2", "fe80::1",
                                    "::ffff:198.18.0.1", "::ffff:10.0.0.1", "::"};

static struct tw_addr rnd_addr(int fam)
{
    struct tw_addr a;
    const char *s = fam == AF_INET ? pool4[rnd() % 7] : pool6[rnd() % 7];
    cr_assert_eq(tw_parse_addr(s, &a), 0);
    if (rnd() % 3 == 0) /* perturb the low bytes */
        a.u.b[(fam == AF_INET ? 3 : 15) - rnd() % 2] ^= (uint8_t)rnd();
    return a;
}

static struct tw_cidr rnd_cidr(const struct tw_sock *near)
{
    struct tw_cidr c;
    memset(&c, 0, sizeof(c));
    int fam = rnd() % 2 ? AF_INET : AF_INET6;
    if (near && rnd() % 2) {
        /* a CIDR around one of the socket's addresses (or its v4-mapped tail) */
        const struct tw_addr *a = rnd() % 2 ? &near->laddr : &near->raddr;
        c.addr = *a;
        if (a->family == AF_INET6 && a->u.b[10] == 0xff && rnd() % 2) {
            memset(&c.addr, 0, sizeof(c.addr));
            c.addr.family = AF_INET;
            memcpy(c.addr.u.b, a->u.b + 12, 4);
        }
    } else {
        c.addr = rnd_addr(fam);
    }
    unsigned max = c.addr.family == AF_INET ? 32 : 128;
    c.prefix = (uint8_t)(1 + rnd() % max); /* /0 is tested on its own below */
    /* clear host bits as tw_parse_cidr does */
    for (unsigned i = 0; i < 16; i++) {
        unsigned bit = i * 8;
        if (bit >= c.prefix)
            c.addr.u.b[i] = 0;
        else if (bit + 8 > c.prefix)
            c.addr.u.b[i] &= (uint8_t)(0xff << (8 - (c.prefix - bit)));
    }
    return c;
}

static uint16_t rnd_port(void)
{
    static const uint16_t edge[] = {0, 1, 79, 80, 81, 1023, 1024, 32768, 60999, 65534, 65535};
    return rnd() % 2 ? edge[rnd() % 11] : (uint16_t)rnd();
}

static struct tw_sock rnd_sock(void)
{
    struct tw_sock s;
    memset(&s, 0, sizeof(s));
    s.state = TW_TIME_WAIT;
    int fam = rnd() % 2 ? AF_INET : AF_INET6;
    s.laddr = rnd_addr(fam);
    s.raddr = rnd_addr(fam);
    s.lport = rnd_port();
    s.rport = rnd_port();
    return s;
}

Test(bytecode, random_queries_agree_with_tw_query_match)
{
    unsigned mismatches = 0, matched = 0;
    for (int iter = 0; iter < 20000; iter++) {
        struct tw_sock s = rnd_sock();
        struct tw_query q;
        tw_query_init(&q);
        if (rnd() % 2) {
            uint16_t a = rnd_port(), b = rnd_port();
            q.sport_lo = a < b ? a : b;
            q.sport_hi = a < b ? b : a;
        }
        if (rnd() % 2) {
            uint16_t a = rnd_port(), b = rnd_port();
            q.dport_lo = a < b ? a : b;
            q.dport_hi = a < b ? b : a;
        }
        if (rnd() % 2)
            q.dport_lo = q.dport_hi = s.rport;
        q.n_src = rnd() % 4;
        q.n_dst = rnd() % 4;
        for (unsigned i = 0; i < q.n_src; i++)
            q.src[i] = rnd_cidr(&s);
        for (unsigned i = 0; i < q.n_dst; i++)
            q.dst[i] = rnd_cidr(&s);
        uint8_t bc[1024];
        int n = tw__bc_compile(&q, bc, sizeof(bc));
        cr_assert_geq(n, 0);
        char why[128] = "";
        cr_assert(n == 0 || model_audit(bc, n, why, sizeof(why)),
                  "iteration %d: the kernel would refuse the program: %s", iter, why);
        bool want = tw_query_match(&q, &s);
        bool got = n == 0 || model_run(bc, n, &s);
        matched += want;
        if (want != got && mismatches++ < 5) {
            char l[64], r[64];
            cr_log_error("iter %d: %s:%u -> %s:%u, %u src, %u dst CIDRs: match %d, bytecode %d",
                         iter, tw_addr_str(&s.laddr, l, 64), s.lport,
                         tw_addr_str(&s.raddr, r, 64), s.rport, q.n_src, q.n_dst, want, got);
        }
    }
    cr_assert_eq(mismatches, 0, "%u of 20000 disagree", mismatches);
    cr_assert_gt(matched, 1000, "the random set must match often enough (%u)", matched);
}

Test(bytecode, prefix_zero_as_the_kernel_runs_it)
{
    /*
     * An IPv4 0.0.0.0/0 condition: the kernel's hostcond checks the family
     * before the prefix length, so on an IPv6 socket it matches only
     * v4-mapped addresses.  query.c says "/0 matches every family (as the
     * kernel's hostcond)" and accepts ::1 and 2001:db8::1, so --dst 0.0.0.0/0
     * selects different sockets from netlink (the kernel runs the program)
     * and from /proc or a fixture (tw_query_match).
     */
    struct tw_query q;
    tw_query_init(&q);
    cr_assert_eq(tw_parse_cidr("0.0.0.0/0", &q.dst[0]), 0);
    q.n_dst = 1;
    struct tw_sock s;
    memset(&s, 0, sizeof(s));
    s.state = TW_TIME_WAIT;
    const char *v4[] = {"10.0.0.1", "198.18.0.2"};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tw_parse_addr(v4[i], &s.raddr), 0);
        s.laddr = s.raddr;
        cr_assert(model_match(&q, &s));
        cr_assert(tw_query_match(&q, &s));
    }
    cr_assert_eq(tw_parse_addr("::ffff:10.0.0.1", &s.raddr), 0);
    s.laddr = s.raddr;
    cr_assert(model_match(&q, &s));
    cr_assert(tw_query_match(&q, &s));
    cr_assert_eq(tw_parse_addr("2001:db8::1", &s.raddr), 0);
    s.laddr = s.raddr;
    cr_assert(!model_match(&q, &s), "model: v4 /0 on a pure IPv6 socket");
    cr_expect(!tw_query_match(&q, &s),
              "tw_query_match: 0.0.0.0/0 selects 2001:db8::1; the kernel's bytecode does not");
    /* ::/0 on an IPv4 socket: no in the kernel (family mismatch, no mapping that way) */
    tw_query_init(&q);
    cr_assert_eq(tw_parse_cidr("::/0", &q.dst[0]), 0);
    q.n_dst = 1;
    cr_assert_eq(tw_parse_addr("10.0.0.1", &s.raddr), 0);
    s.laddr = s.raddr;
    cr_assert(!model_match(&q, &s), "model: v6 /0 on an IPv4 socket");
    cr_expect(!tw_query_match(&q, &s),
              "tw_query_match: ::/0 selects 10.0.0.1; the kernel's bytecode does not");
}

/* ---- bytecode: the kernel itself ------------------------------------------------- */

static bool lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    close(fd);
    return ok;
}

static int fds[128];
static int nfds;

static int keep(int fd)
{
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    cr_assert_lt(nfds, 128);
    fds[nfds++] = fd;
    return fd;
}

static socklen_t sa(const char *host, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return sizeof(*s4);
    }
    cr_assert_eq(inet_pton(AF_INET6, host, &s6->sin6_addr), 1, "%s", host);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    return sizeof(*s6);
}

static int listener(const char *host, unsigned port, bool v6only)
{
    struct sockaddr_storage ss;
    socklen_t len = sa(host, port, &ss);
    int fd = keep(socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1, v6 = v6only;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)), 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0, "bind %s:%u: %s", host, port,
                 strerror(errno));
    cr_assert_eq(listen(fd, 64), 0);
    return fd;
}

/* Connect from src (NULL = any; family of the socket = family of dst) to dst:port. */
static void conn(int lfd, int fam, const char *src, const char *dst, unsigned port, bool tw)
{
    struct sockaddr_storage ss;
    socklen_t len = sa(dst, port, &ss);
    int c = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(c, 0);
    if (fam == AF_INET6) {
        int zero = 0;
        setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (src) {
        struct sockaddr_storage bs;
        socklen_t blen = sa(src, 0, &bs);
        int one = 1;
        setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        cr_assert_eq(bind(c, (struct sockaddr *)&bs, blen), 0, "bind %s: %s", src,
                     strerror(errno));
    }
    cr_assert_eq(connect(c, (struct sockaddr *)&ss, len), 0, "connect %s:%u: %s", dst, port,
                 strerror(errno));
    int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(a, 0);
    if (tw) {
        /* client closes first, then the server: the client side ends in TIME_WAIT */
        close(c);
        char b;
        cr_assert_eq(read(a, &b, 1), 0);
        close(a);
    } else {
        keep(c);
        keep(a);
    }
}

static int key_cmp(const void *x, const void *y)
{
    const struct tw_sock *a = x, *b = y;
    int c = memcmp(&a->laddr, &b->laddr, sizeof(a->laddr));
    if (!c)
        c = memcmp(&a->raddr, &b->raddr, sizeof(a->raddr));
    if (!c)
        c = (int)a->lport - (int)b->lport;
    if (!c)
        c = (int)a->rport - (int)b->rport;
    if (!c)
        c = (int)a->state - (int)b->state;
    return c;
}

static void sort_socks(struct got *g)
{
    qsort(g->s, g->n, sizeof(g->s[0]), key_cmp);
}

static int kernel_dump(struct tw_source *src, const struct tw_query *q, struct got *g)
{
    g->n = 0;
    int e = tw_source_dump(src, q, got_cb, g);
    cr_assert_lt(g->n, 512);
    sort_socks(g);
    return e;
}

struct kq {
    const char *what;
    const char *src[3], *dst[3];
    const char *sport, *dport;
    bool tw_only, expect_mismatch;
};

Test(bytecode, kernel_agrees, .timeout = 60)
{
    if (geteuid() != 0) {
        cr_skip_test("needs root for a private network namespace");
    }
    if (unshare(CLONE_NEWNET) != 0) {
        cr_skip_test("unshare(CLONE_NEWNET): %s", strerror(errno));
    }
    cr_assert(lo_up(), "cannot bring lo up");
    int l4 = listener("127.0.0.1", 9000, true);
    int l46 = listener("::", 9001, false);  /* dual stack: IPv4 peers appear v4-mapped */
    bool have6 = true;
    struct sockaddr_storage probe;
    socklen_t plen = sa("::1", 0, &probe);
    int t = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (t < 0 || bind(t, (struct sockaddr *)&probe, plen) != 0)
        have6 = false;
    if (t >= 0)
        close(t);
    int l6 = have6 ? listener("::1", 9002, true) : -1;

    for (int i = 0; i < 3; i++) {
        conn(l4, AF_INET, "127.0.0.2", "127.0.0.1", 9000, i == 0);
        conn(l4, AF_INET, "127.0.0.3", "127.0.0.1", 9000, i != 0);
        conn(l46, AF_INET, "127.0.0.4", "127.0.0.1", 9001, i == 2);
        if (have6) {
            conn(l6, AF_INET6, NULL, "::1", 9002, i == 1);
            conn(l4, AF_INET6, NULL, "::ffff:127.0.0.1", 9000, i == 0); /* v4-mapped client */
        }
    }

    usleep(200 * 1000); /* let the last FIN/ACKs settle: states must not move between dumps */

    struct tw_source *src = NULL;
    int e = tw_source_open(TW_SOURCE_NETLINK, NULL, &src);
    cr_assert_eq(e, 0, "netlink source: %s", tw_strerror(e));
    static struct got all, k;
    struct tw_query q;
    tw_query_init(&q);
    cr_assert_eq(kernel_dump(src, &q, &all), 0);
    /* 3 listeners; per destination 3 connections, one left in TIME_WAIT, two open (x2) */
    cr_assert_eq(all.n, have6 ? 27u : 16u, "unfiltered dump: %u sockets", all.n);

    const struct kq queries[] = {
        {.what = "sport 9000", .sport = "9000"},
        {.what = "sport 9000-9001", .sport = "9000-9001"},
        {.what = "sport 1024-65535", .sport = "1024-65535"},
        {.what = "dport 9000", .dport = "9000"},
        {.what = "dport 9001-9002", .dport = "9001-9002"},
        {.what = "dport 9000, TIME_WAIT", .dport = "9000", .tw_only = true},
        {.what = "src 127.0.0.2", .src = {"127.0.0.2"}},
        {.what = "src 127.0.0.0/8", .src = {"127.0.0.0/8"}},
        {.what = "src 127.0.0.2 or 127.0.0.3", .src = {"127.0.0.2", "127.0.0.3"}},
        {.what = "dst 127.0.0.1/32", .dst = {"127.0.0.1/32"}},
        {.what = "dst 127.0.0.4/31", .dst = {"127.0.0.4/31"}},
        {.what = "src ::1", .src = {"::1"}},
        {.what = "dst ::ffff:127.0.0.0/104", .dst = {"::ffff:127.0.0.0/104"}},
        {.what = "src 127.0.0.0/8 and dport 9000", .src = {"127.0.0.0/8"}, .dport = "9000"},
        {.what = "src a or b or c, dst x or y",
         .src = {"127.0.0.2", "::1", "127.0.0.4"},
         .dst = {"127.0.0.1", "::ffff:127.0.0.1"},
         .sport = "1-65534"},
        {.what = "dst ::/0 (IPv4 sockets: see prefix_zero_as_the_kernel_runs_it)",
         .dst = {"::/0"},
         .expect_mismatch = true},
        {.what = "dst 0.0.0.0/0 (pure IPv6 sockets: see prefix_zero_as_the_kernel_runs_it)",
         .dst = {"0.0.0.0/0"},
         .expect_mismatch = true},
    };
    unsigned checked = 0;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        const struct kq *x = &queries[i];
        tw_query_init(&q);
        if (x->tw_only)
            q.states = TW_STATE_BIT(TW_TIME_WAIT);
        if (x->sport)
            cr_assert_eq(tw_parse_port_range(x->sport, &q.sport_lo, &q.sport_hi), 0);
        if (x->dport)
            cr_assert_eq(tw_parse_port_range(x->dport, &q.dport_lo, &q.dport_hi), 0);
        for (int j = 0; j < 3 && x->src[j]; j++)
            cr_assert_eq(tw_parse_cidr(x->src[j], &q.src[q.n_src++]), 0);
        for (int j = 0; j < 3 && x->dst[j]; j++)
            cr_assert_eq(tw_parse_cidr(x->dst[j], &q.dst[q.n_dst++]), 0);
        e = kernel_dump(src, &q, &k);
        cr_assert_eq(e, 0, "%s: the kernel refused the dump: %s", x->what, tw_strerror(e));
        /* what user space selects from the unfiltered dump */
        static struct got u;
        u.n = 0;
        for (unsigned j = 0; j < all.n; j++)
            if (tw_query_match(&q, &all.s[j]))
                u.s[u.n++] = all.s[j];
        bool same = u.n == k.n;
        for (unsigned j = 0; same && j < k.n; j++)
            same = key_cmp(&u.s[j], &k.s[j]) == 0;
        if (!same) {
            cr_log_warn("%s: kernel %u sockets, tw_query_match %u", x->what, k.n, u.n);
            for (unsigned j = 0; j < u.n && j < 8; j++) {
                char a[64], b[64];
                bool in_k = bsearch(&u.s[j], k.s, k.n, sizeof(k.s[0]), key_cmp) != NULL;
                if (!in_k)
                    cr_log_warn("  only user space: %s:%u -> %s:%u",
                                tw_addr_str(&u.s[j].laddr, a, 64), u.s[j].lport,
                                tw_addr_str(&u.s[j].raddr, b, 64), u.s[j].rport);
            }
        }
        if (x->expect_mismatch && !have6)
            continue;
        checked++;
        cr_expect(same, "%s: the kernel (bytecode) and tw_query_match select different sockets",
                  x->what);
        /* and the model of the kernel agrees with the kernel */
        unsigned model_n = 0;
        for (unsigned j = 0; j < all.n; j++)
            model_n += (!x->tw_only || all.s[j].state == TW_TIME_WAIT) &&
                       model_match(&q, &all.s[j]);
        cr_expect_eq(model_n, k.n, "%s: model %u, kernel %u", x->what, model_n, k.n);
    }
    cr_assert_geq(checked, 15);
    tw_source_close(src);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
}
