// SPDX-License-Identifier: GPL-2.0
/*
 * sockiter.bpf.c — the kernel half of `--source bpf`: one walk of the TCP
 * socket table (iter/tcp) that writes a compact record per selected socket,
 * with the fields sock_diag gives and, for every timewait minisock, the
 * kernel's own reuse verdict, which sock_diag cannot give.
 *
 * The walk.  The tcp iterator visits the listening hash first, then the
 * established hash (full sockets, timewait minisocks, request sockets), of
 * the network namespace of the thread that created the iterator fd, IPv4
 * and IPv6 together.  States, family and ports are filtered here, as
 * sock_diag's bytecode does, so unselected sockets are never copied; the
 * address prefixes are left to user space.  The state filter follows
 * inet_diag: a minisock is selected by its tw_substate, a request socket
 * (NEW_SYN_RECV) is reported as SYN_RECV (user space adds NEW_SYN_RECV to
 * the mask when SYN_RECV is asked for, as inet_diag_dump_icsk does).
 *
 * Listeners only.  With cfg_listen_only the program stops the walk at the
 * first socket of the established hash by returning 1: the kernel then
 * ends the read() with what was written so far, and the next read() fails
 * with EAGAIN.  So the listener pass of a report costs the listening hash,
 * not the whole table.
 *
 * The reuse verdict follows tcp_twsk_unique() (net/ipv4/tcp_ipv4.c) for a
 * connect() that picks its port (twp != NULL), evaluated now:
 *   - a FIN_WAIT2 minisock is never reusable;
 *   - tcp_tw_reuse of the socket's namespace: 0 off, 1 on, 2 only when the
 *     minisock is bound to lo (ifindex 1) or either address is 127/8, ::1
 *     or ::ffff:127.0.0.0/104;
 *   - tw_ts_recent_stamp != 0 (the peer sent timestamps);
 *   - 6.14+: tcp_clock_ms() after tw_entry_stamp + tcp_tw_reuse_delay
 *     (time_after32; tcp_clock_ms() is CLOCK_MONOTONIC in ms, the clock of
 *     bpf_ktime_get_ns()); before 6.14: ktime_get_seconds() after
 *     tw_ts_recent_stamp.
 *
 * Timers, as inet_diag fills idiag_timer/idiag_expires: a minisock's
 * tw_timer (timer 3), a request socket's rsk_timer (1), a full socket's
 * retransmit-class timer (1), zero-window probe (4) or sk_timer (2).  The
 * expiry is written in jiffies, with CONFIG_HZ in the record to convert it.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sockiter.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define S_ESTABLISHED 1
#define S_SYN_RECV 3
#define S_FIN_WAIT2 5
#define S_TIME_WAIT 6
#define S_CLOSE 7
#define S_LISTEN 10
#define S_NEW_SYN_RECV 12
#define LOOPBACK_IFINDEX 1
#define ICSK_TIME_RETRANS 1
#define ICSK_TIME_PROBE0 3
#define ICSK_TIME_LOSS_PROBE 5
#define ICSK_TIME_REO_TIMEOUT 6

extern int CONFIG_HZ __kconfig __weak;

/* Set by user space before each iterator is created (one walk at a time). */
__u32 cfg_states;      /* state bit mask, by the state sock_diag filters on */
__u32 cfg_fam;         /* bit 0: IPv4, bit 1: IPv6 */
__u32 cfg_sport_lo, cfg_sport_hi, cfg_dport_lo, cfg_dport_hi;
__u32 cfg_listen_only; /* stop at the first socket of the established hash */

/* kernels before 6.14 keep the retransmit timer's expiry in icsk_timeout */
struct inet_connection_sock___old {
    unsigned long icsk_timeout;
} __attribute__((preserve_access_index));

static __always_inline __s32 jdelta(unsigned long expires, __u64 now)
{
    long d = (long)(expires - (unsigned long)now);
    if (d <= 0)
        return 0;
    if (d > 0x7fffffff)
        return 0x7fffffff;
    return (__s32)d;
}

static __always_inline bool v4_loop(__be32 a)
{
    return (a & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

static __always_inline bool v6_loop(const __u32 *w)
{
    if (w[0] || w[1])
        return false;
    if (w[2] == 0 && w[3] == bpf_htonl(1))
        return true;                                  /* ::1 */
    return w[2] == bpf_htonl(0xffff) && v4_loop(w[3]); /* ::ffff:127.x */
}

static __always_inline __u8 tw_verdict(struct sock_common *skc, struct tcp_timewait_sock *tw,
                                       struct sockiter_rec *r)
{
    /* plain loads through BTF pointers (no helper call per field): this runs
     * for every TIME_WAIT socket of the table */
    struct net *net = skc->skc_net.net;
    int reuse = net->ipv4.sysctl_tcp_tw_reuse;
    if (tw->tw_sk.tw_substate == S_FIN_WAIT2)
        reuse = 0;
    if (reuse == 2) {
        bool loop = r->ifindex == LOOPBACK_IFINDEX;
        if (r->family == AF_INET6)
            loop = loop || v6_loop(&r->addr[0]) || v6_loop(&r->addr[4]);
        else
            loop = loop || v4_loop(r->addr[0]) || v4_loop(r->addr[1]);
        if (!loop)
            reuse = 0;
    }
    int stamp = tw->tw_ts_recent_stamp;
    bool ok = false;
    if (stamp && reuse) {
        if (bpf_core_field_exists(tw->tw_sk.tw_entry_stamp) &&
            bpf_core_field_exists(net->ipv4.sysctl_tcp_tw_reuse_delay)) {
            __u32 now_ms = (__u32)(bpf_ktime_get_ns() / 1000000);
            __u32 thresh = tw->tw_sk.tw_entry_stamp + net->ipv4.sysctl_tcp_tw_reuse_delay;
            ok = (__s32)(thresh - now_ms) < 0;
        } else {
            __u32 now_s = (__u32)(bpf_ktime_get_ns() / 1000000000);
            ok = (__s32)((__u32)stamp - now_s) < 0;
        }
    }
    return SOCKITER_F_REUSE_KNOWN | (ok ? SOCKITER_F_REUSABLE : 0);
}

/* timer and expiry of a full socket, as inet_sk_diag_fill() */
static __always_inline void full_timer(struct sock_common *skc, struct sockiter_rec *r, __u64 now)
{
    struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
    if (!tp)
        return;
    struct inet_connection_sock *icsk = &tp->inet_conn;
    __u8 pending = BPF_CORE_READ(icsk, icsk_pending);
    unsigned long rto_exp;
    if (bpf_core_field_exists(((struct inet_connection_sock___old *)icsk)->icsk_timeout))
        rto_exp = BPF_CORE_READ((struct inet_connection_sock___old *)icsk, icsk_timeout);
    else
        rto_exp = BPF_CORE_READ(icsk, icsk_retransmit_timer.expires);
    if (pending == ICSK_TIME_RETRANS || pending == ICSK_TIME_REO_TIMEOUT ||
        pending == ICSK_TIME_LOSS_PROBE) {
        r->timer = 1;
        r->expires_j = jdelta(rto_exp, now);
    } else if (pending == ICSK_TIME_PROBE0) {
        r->timer = 4;
        r->expires_j = jdelta(rto_exp, now);
    } else if (BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_timer.entry.pprev)) {
        r->timer = 2;
        r->expires_j = jdelta(BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_timer.expires), now);
    }
    struct socket *so = BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.sk_socket);
    if (so) {
        struct socket_alloc *sa = container_of(so, struct socket_alloc, socket);
        r->inode = BPF_CORE_READ(sa, vfs_inode.i_ino);
    }
}

SEC("iter/tcp")
int sockiter(struct bpf_iter__tcp *ctx)
{
    struct seq_file *seq = ctx->meta->seq;
    struct sock_common *skc = ctx->sk_common;
    if (!skc)
        return 0;
    __u8 st = skc->skc_state;
    if (cfg_listen_only && st != S_LISTEN && st != S_CLOSE)
        return 1; /* the established hash has begun: end the walk here */

    struct tcp_timewait_sock *tw = NULL;
    __u8 fst = st; /* the state inet_diag filters on */
    if (st == S_TIME_WAIT) {
        tw = bpf_skc_to_tcp_timewait_sock(skc);
        if (!tw)
            return 0;
        fst = tw->tw_sk.tw_substate;
    }
    if (fst >= 32 || !(cfg_states & (1u << fst)))
        return 0;
    __u16 fam = skc->skc_family;
    if (!(cfg_fam & (fam == AF_INET6 ? 2 : 1)))
        return 0;
    __u16 lport = skc->skc_num;
    __u16 rport = bpf_ntohs(skc->skc_dport);
    if (lport < cfg_sport_lo || lport > cfg_sport_hi || rport < cfg_dport_lo ||
        rport > cfg_dport_hi)
        return 0;

    struct sockiter_rec r = {};
    r.state = fst;
    r.family = fam == AF_INET6 ? AF_INET6 : AF_INET;
    r.lport = lport;
    r.rport = rport;
    r.ifindex = skc->skc_bound_dev_if;
    r.hz = CONFIG_HZ;
    __u32 len = SOCKITER_REC_V4;
    if (fam == AF_INET6) {
        __builtin_memcpy(&r.addr[0], skc->skc_v6_rcv_saddr.in6_u.u6_addr32, 16);
        __builtin_memcpy(&r.addr[4], skc->skc_v6_daddr.in6_u.u6_addr32, 16);
        len = SOCKITER_REC_V6;
    } else {
        r.addr[0] = skc->skc_rcv_saddr;
        r.addr[1] = skc->skc_daddr;
    }
    __u64 now = bpf_jiffies64();
    if (tw) {
        r.timer = 3;
        r.expires_j = jdelta(tw->tw_sk.tw_timer.expires, now);
        r.flags = tw_verdict(skc, tw, &r);
    } else if (st == S_NEW_SYN_RECV) {
        struct tcp_request_sock *req = bpf_skc_to_tcp_request_sock(skc);
        r.state = S_SYN_RECV;
        r.timer = 1;
        if (req)
            r.expires_j = jdelta(BPF_CORE_READ(req, req.req.rsk_timer.expires), now);
    } else {
        r.uid = ctx->uid;
        full_timer(skc, &r, now);
    }
    bpf_seq_write(seq, &r, len);
    return 0;
}
