/*
 * test_bpfrec.c — the user-space half of the BPF iterator source
 * (lib/src_bpf.c) that needs no kernel: decoding the records that
 * bpf/sockiter.bpf.c writes (tw_parse_bpf_rec) and turning jiffies into
 * milliseconds as the kernel's jiffies_to_msecs() does (tw__jiffies_to_ms,
 * internal).  Records are built here with the struct both sides share
 * (bpf/sockiter.h), then cut to the length the program writes.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <linux/types.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <twkit/error.h>
#include <twkit/sock.h>

#include "bpf/sockiter.h"
#include "internal.h"

static struct sockiter_rec v4_tw(void)
{
    struct sockiter_rec r;
    memset(&r, 0, sizeof(r));
    r.state = TW_TIME_WAIT;
    r.timer = 3;
    r.flags = SOCKITER_F_REUSE_KNOWN | SOCKITER_F_REUSABLE;
    r.family = AF_INET;
    r.lport = 40001;
    r.rport = 80;
    r.ifindex = 1;
    r.expires_j = 59000;
    r.hz = 1000;
    r.addr[0] = htonl(0xc6120001); /* 198.18.0.1 */
    r.addr[1] = htonl(0xc6120002); /* 198.18.0.2 */
    return r;
}

Test(bpfrec, layout_is_what_the_program_writes)
{
    cr_assert_eq(offsetof(struct sockiter_rec, addr), SOCKITER_REC_HEAD);
    cr_assert_eq(sizeof(struct sockiter_rec), SOCKITER_REC_V6);
    cr_assert_eq(SOCKITER_F_REUSE_KNOWN, TW_SOCK_F_REUSE_KNOWN);
    cr_assert_eq(SOCKITER_F_REUSABLE, TW_SOCK_F_REUSABLE);
}

Test(bpfrec, ipv4_time_wait)
{
    struct sockiter_rec r = v4_tw();
    struct tw_sock s;
    cr_assert_eq(tw_parse_bpf_rec(&r, SOCKITER_REC_V4, &s), SOCKITER_REC_V4);
    cr_assert_eq(s.state, TW_TIME_WAIT);
    cr_assert_eq(s.timer, 3);
    cr_assert_eq(s.flags, TW_SOCK_F_REUSE_KNOWN | TW_SOCK_F_REUSABLE);
    cr_assert_eq(s.lport, 40001);
    cr_assert_eq(s.rport, 80);
    cr_assert_eq(s.ifindex, 1);
    cr_assert_eq(s.expires_ms, 59000);
    cr_assert_eq(s.laddr.family, AF_INET);
    cr_assert_eq(s.raddr.family, AF_INET);
    char a[64], b[64];
    cr_assert_str_eq(tw_addr_str(&s.laddr, a, sizeof(a)), "198.18.0.1");
    cr_assert_str_eq(tw_addr_str(&s.raddr, b, sizeof(b)), "198.18.0.2");
    cr_assert_eq(s.laddr.u.w[1] | s.laddr.u.w[2] | s.laddr.u.w[3], 0);
    cr_assert_eq(s.inode, 0);
}

Test(bpfrec, ipv6_full_socket)
{
    struct sockiter_rec r;
    memset(&r, 0, sizeof(r));
    r.state = TW_ESTABLISHED;
    r.family = AF_INET6;
    r.lport = 8080;
    r.rport = 50000;
    r.uid = 1000;
    r.inode = 123456789012ull;
    r.hz = 250;
    r.timer = 2;
    r.expires_j = 250; /* 1 s at HZ 250 */
    inet_pton(AF_INET6, "::1", &r.addr[0]);
    inet_pton(AF_INET6, "2001:db8::7", &r.addr[4]);
    struct tw_sock s;
    cr_assert_eq(tw_parse_bpf_rec(&r, SOCKITER_REC_V6, &s), SOCKITER_REC_V6);
    cr_assert_eq(s.state, TW_ESTABLISHED);
    cr_assert_eq(s.flags, 0);
    cr_assert_eq(s.uid, 1000);
    cr_assert_eq(s.inode, 123456789012ull);
    cr_assert_eq(s.expires_ms, 1000);
    char a[64], b[64];
    cr_assert_str_eq(tw_addr_str(&s.laddr, a, sizeof(a)), "::1");
    cr_assert_str_eq(tw_addr_str(&s.raddr, b, sizeof(b)), "2001:db8::7");
}

Test(bpfrec, back_to_back_and_partial)
{
    uint8_t buf[2 * SOCKITER_REC_V4];
    struct sockiter_rec r = v4_tw();
    memcpy(buf, &r, SOCKITER_REC_V4);
    r.lport = 40003;
    memcpy(buf + SOCKITER_REC_V4, &r, SOCKITER_REC_V4);
    struct tw_sock s;
    cr_assert_eq(tw_parse_bpf_rec(buf, sizeof(buf), &s), SOCKITER_REC_V4);
    cr_assert_eq(tw_parse_bpf_rec(buf + SOCKITER_REC_V4, SOCKITER_REC_V4, &s), SOCKITER_REC_V4);
    cr_assert_eq(s.lport, 40003);
    /* less than a whole record: 0, nothing consumed */
    for (size_t n = 0; n < SOCKITER_REC_V4; n++)
        cr_assert_eq(tw_parse_bpf_rec(buf, n, &s), 0, "len %zu", n);
    struct sockiter_rec r6 = r;
    r6.family = AF_INET6;
    cr_assert_eq(tw_parse_bpf_rec(&r6, SOCKITER_REC_V6 - 1, &s), 0);
}

Test(bpfrec, bad_records)
{
    struct sockiter_rec r = v4_tw();
    struct tw_sock s;
    r.family = 7;
    cr_assert_eq(tw_parse_bpf_rec(&r, sizeof(r), &s), TW_EMALFORMED);
    r = v4_tw();
    r.state = 0;
    cr_assert_eq(tw_parse_bpf_rec(&r, sizeof(r), &s), TW_EUNKSTATE);
    r.state = TW_STATE_MAX;
    cr_assert_eq(tw_parse_bpf_rec(&r, sizeof(r), &s), TW_EUNKSTATE);
}

Test(bpfrec, verdict_needs_known)
{
    struct sockiter_rec r = v4_tw();
    struct tw_sock s;
    r.flags = SOCKITER_F_REUSABLE; /* "reusable" without "known" is no verdict */
    cr_assert_eq(tw_parse_bpf_rec(&r, SOCKITER_REC_V4, &s), SOCKITER_REC_V4);
    cr_assert_eq(s.flags, 0);
    r.flags = SOCKITER_F_REUSE_KNOWN | 0xf0; /* unknown bits dropped */
    cr_assert_eq(tw_parse_bpf_rec(&r, SOCKITER_REC_V4, &s), SOCKITER_REC_V4);
    cr_assert_eq(s.flags, TW_SOCK_F_REUSE_KNOWN);
}

Test(bpfrec, jiffies_to_ms)
{
    cr_assert_eq(tw__jiffies_to_ms(60000, 1000), 60000);
    cr_assert_eq(tw__jiffies_to_ms(15000, 250), 60000);
    cr_assert_eq(tw__jiffies_to_ms(6000, 100), 60000);
    cr_assert_eq(tw__jiffies_to_ms(1, 300), 4);      /* 3.33 ms rounds up, as the kernel */
    cr_assert_eq(tw__jiffies_to_ms(300, 300), 1000);
    cr_assert_eq(tw__jiffies_to_ms(3, 2000), 2);     /* 1.5 ms rounds up */
    cr_assert_eq(tw__jiffies_to_ms(0, 1000), 0);
    cr_assert_eq(tw__jiffies_to_ms(-5, 1000), 0);    /* a timer already due */
    cr_assert_eq(tw__jiffies_to_ms(100, 0), 0);      /* HZ unknown */
    cr_assert_eq(tw__jiffies_to_ms(INT32_MAX, 100), UINT32_MAX); /* saturates */
}
