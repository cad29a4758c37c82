// SPDX-License-Identifier: GPL-2.0
/*
 * live.bpf.c — the kernel half of the live table (`--source live`): counts
 * of sockets per destination and state, kept current by kernel events so
 * that a `watch` tick or an `export` scrape reads counts, not sockets.
 *
 * What is tracked.  Every socket is entered once:
 *   - timewait minisocks (TIME_WAIT, and orphaned FIN_WAIT2) in `tws`, keyed
 *     by the address of their tw_timer: tp_btf/timer_start on a timer whose
 *     function is tw_timer_handler is a birth (or a re-arm: the substate may
 *     have changed), timer_cancel and timer_expire_entry a death (expiry,
 *     reuse by connect(), a RST, SOCK_DESTROY, a re-arm's first half);
 *     an orphaned FIN_WAIT2 minisock that receives its peer's FIN becomes
 *     TIME_WAIT and re-arms its timer, but when the new expiry falls in the
 *     timer's wheel bucket the kernel moves nothing and no timer event
 *     fires; the segment is then freed with the minisock as its receiver
 *     (tp_btf/kfree_skb, rx_sk), where the new substate is read;
 *   - full sockets in `socks`, socket-local storage (the entry is in the
 *     socket), moved between counts by tp_btf/inet_sock_set_state; a
 *     connect() enters SYN_SENT before its port search hashes it, so it is
 *     counted as LIVE_PENDING (not a row) until tcp_connect() arms its
 *     retransmit timer (tp_btf/timer_start, tcp_write_timer), and `pending`
 *     carries that move, which the timer event cannot make in the entry;
 *     SYN_RECV and CLOSE are not counted (request sockets have no events;
 *     a child is cloned in SYN_RECV before it has its peer's address).
 * Beside the counts, `totals` keeps the table's totals per state for the
 * census (lib/live_census.c), which checks them against the kernel's own.
 * Each destination (a struct live_key with state 0) is given an index in
 * `dests` the first time it is seen; `counts` holds, per index, the number
 * of tracked entries in each state, and each entry remembers its index, so
 * that a state change is two adds in one array element, not two hashed
 * lookups (measured: they were most of the state program's time).  Any
 * update a map refuses (full, or busy under a nested event) is counted in
 * stats[LIVE_ST_LOST]: user space then throws the table away and seeds a
 * new one, so a lost event never becomes a wrong number.
 *
 * Seeding.  The events are attached first, then one iter/tcp walk
 * (`seed`) enters each socket that is not tracked yet (an event that came
 * first wins: BPF_NOEXIST for minisocks; a full socket's entry is only
 * touched under the socket's lock, by its events and by the walk).  A socket that dies while the walk holds it
 * in its batch would be entered after its death event: so while `seeding`
 * is set every death of an untracked socket leaves a tombstone in `dead`,
 * and the walk, after entering a socket, removes it again if it finds its
 * tombstone.  User space clears `dead` when the walk is over.
 *
 * Namespaces.  Events from other network namespaces than cfg_netns (an
 * nsfs inode) are ignored; the walk sees the namespace it is created in.
 *
 * Recursion.  Each tracepoint has a twin pair (bpf/twin.h), matched with
 * twin_note_ts()/twin_take(); user space counts the smaller of a pair's
 * recursion misses as lost events (a bound: most misses are of timers
 * that are not TIME_WAIT's).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "live.h"

enum { TWIN_STATE, TWIN_START, TWIN_CANCEL, TWIN_EXPIRE, TWIN_DROP };
#define TWIN_MAX 5
#include "twin.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET6 10
#define IPPROTO_TCP 6
#define S_SYN_SENT 2
#define S_SYN_RECV 3
#define S_LISTEN 10
#define S_FIN_WAIT2 5
#define S_TIME_WAIT 6
#define S_CLOSE 7
#define S_NEW_SYN_RECV 12
#define EEXIST 17
#define ENOENT 2

extern const void tw_timer_handler __ksym __weak;
extern const void tcp_write_timer __ksym __weak;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

__u32 cfg_netns;        /* inode of the namespace followed */
__u32 seeding;          /* tombstones are kept while set */
__u64 twh_addr;         /* written by the walk: 0 = tw_timer_handler unknown */
__u64 twt_addr;         /* the same for tcp_write_timer */
__s64 last_del_err;     /* the last error of a failed delete (for diagnosis) */
__u64 next_dest;        /* the next free index in `counts` */
__u32 cfg_port_lo, cfg_port_hi; /* ip_local_port_range when the table was made */
/* a test's lost events (TWKIT_LIVE_SKIP_CLOSE): this many changes to CLOSE
 * are ignored, as when the kernel runs them without the table's programs */
__s64 cfg_skip_close;
/* every local port that listened while the table lived (sticky: a socket's
 * side must not change under it); user space reads it for the walk */
__u64 listen_bits[LIVE_LISTEN_WORDS];

/* destination (state 0) -> its index in `counts`; never deleted while the
 * table lives (entries hold indices) */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct live_key);
    __type(value, __u32);
} dests SEC(".maps");

/* per destination index: the count in each state (same size as dests) */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, struct live_counts);
} counts SEC(".maps");

/* timewait minisocks, by the address of their timer */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, 1 << 21);
    __type(key, __u64);
    __type(value, struct live_ent);
} tws SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, 1 << 16);
    __type(key, __u64);
    __type(value, __u8);
} dead SEC(".maps");

/* the table's totals per state (full sockets) and of its minisocks
 * (LIVE_TOT_TW): what user space compares with the kernel's own counts
 * (live_census.c), in one lookup rather than a sum over destinations */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct live_totals);
} totals SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, LIVE_ST_MAX);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 i)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &i);
    if (v)
        __sync_fetch_and_add(v, 1);
}

/* The index of destination k (its state ignored), given one if new;
 * false if `dests` or `counts` is full. */
static __always_inline bool dest_idx(const struct live_key *k, __u32 *idx)
{
    struct live_key d = *k;
    d.state = 0;
    __u32 *v = bpf_map_lookup_elem(&dests, &d);
    if (v) {
        *idx = *v;
        return true;
    }
    __u64 n = __sync_fetch_and_add(&next_dest, 1);
    if (n >= 0xffffffffull) /* (after 4G refused new destinations) */
        return false;
    __u32 i = (__u32)n;
    if (!bpf_map_lookup_elem(&counts, &i)) /* past the end of counts: full */
        return false;
    long e = bpf_map_update_elem(&dests, &d, &i, BPF_NOEXIST);
    if (e == -EEXIST && (v = bpf_map_lookup_elem(&dests, &d))) { /* another CPU first */
        *idx = *v;
        return true;
    }
    if (e)
        return false;
    *idx = i;
    return true;
}

static __always_inline void total_add(__u32 i, __s64 d)
{
    __u32 zero = 0;
    struct live_totals *v = bpf_map_lookup_elem(&totals, &zero);
    if (v)
        __sync_fetch_and_add(&v->n[i & (2 * LIVE_STATES - 1)], d);
}

/* add d to the count of (destination idx, state); mini: a timewait
 * minisock (its total is one, whatever its substate) */
static __always_inline void count_add(__u32 idx, __u8 state, __s64 d, bool mini)
{
    struct live_counts *c = bpf_map_lookup_elem(&counts, &idx);
    if (!c) {
        stat_inc(LIVE_ST_LOST);
        return;
    }
    __sync_fetch_and_add(&c->n[state & (LIVE_STATES - 1)], d);
    __sync_fetch_and_add(&c->n[LIVE_EVENTS], 1); /* after the change (see live.h) */
    total_add(mini ? LIVE_TOT_TW : state & (LIVE_STATES - 1), d);
}

/* move one entry of destination idx from state `from` to `to` */
static __always_inline void count_move(__u32 idx, __u8 from, __u8 to, bool mini)
{
    struct live_counts *c = bpf_map_lookup_elem(&counts, &idx);
    if (!c) {
        stat_inc(LIVE_ST_LOST);
        return;
    }
    __sync_fetch_and_add(&c->n[from & (LIVE_STATES - 1)], -1);
    __sync_fetch_and_add(&c->n[to & (LIVE_STATES - 1)], 1);
    __sync_fetch_and_add(&c->n[LIVE_EVENTS], 1);
    if (!mini) {
        total_add(from & (LIVE_STATES - 1), -1);
        total_add(to & (LIVE_STATES - 1), 1);
    }
}

static __always_inline bool same_dest(const struct live_key *a, const struct live_key *b)
{
    return a->family == b->family && a->rport == b->rport && a->server == b->server &&
           a->laddr[0] == b->laddr[0] && a->laddr[1] == b->laddr[1] &&
           a->laddr[2] == b->laddr[2] && a->laddr[3] == b->laddr[3] &&
           a->raddr[0] == b->raddr[0] && a->raddr[1] == b->raddr[1] &&
           a->raddr[2] == b->raddr[2] && a->raddr[3] == b->raddr[3];
}

/* Server-side connections are keyed without ports, per client address
 * (live_side_server(), bpf/live.h): a server's connections are then one
 * destination per client, not one per client port. */
static __always_inline bool live_server(__u16 lport, __u16 rport)
{
    return live_side_server((listen_bits[(lport >> 6) & (LIVE_LISTEN_WORDS - 1)] >> (lport & 63)) & 1,
                            lport, rport, cfg_port_lo, cfg_port_hi);
}

static __always_inline void listen_note(__u16 lport)
{
    __sync_fetch_and_or(&listen_bits[(lport >> 6) & (LIVE_LISTEN_WORDS - 1)], 1ull << (lport & 63));
}

/* the key of a sock_common read through a BTF pointer */
static __always_inline void key_of(const struct sock_common *c, __u8 state, struct live_key *k)
{
    k->family = c->skc_family;
    k->state = state;
    k->rport = bpf_ntohs(c->skc_dport);
    if (state != S_LISTEN && live_server(c->skc_num, k->rport)) {
        k->server = 1;
        k->rport = 0;
    }
    if (k->family == AF_INET6) {
        __builtin_memcpy(k->laddr, c->skc_v6_rcv_saddr.in6_u.u6_addr32, 16);
        __builtin_memcpy(k->raddr, c->skc_v6_daddr.in6_u.u6_addr32, 16);
    } else {
        k->laddr[0] = c->skc_rcv_saddr;
        k->raddr[0] = c->skc_daddr;
    }
}

static __always_inline bool counted(int state)
{
    return state != S_CLOSE && state != S_SYN_RECV && state != S_NEW_SYN_RECV &&
           state != S_TIME_WAIT && state > 0 && state < 16;
}

/* a minisock's substate as sock_diag reports it */
static __always_inline bool counted_tw(int state)
{
    return state == S_TIME_WAIT || state == S_FIN_WAIT2;
}

static __always_inline void tombstone(__u64 id)
{
    __u8 one = 1;
    if (bpf_map_update_elem(&dead, &id, &one, BPF_ANY))
        stat_inc(LIVE_ST_LOST);
}

/* ---- full sockets: bpf/live_sock.h --------------------------------------- */

#include "live_sock.h"

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
    if (!followed(sk))
        return 0;
    twin_note_ts(TWIN_STATE, sk, (__u64)oldstate << 8 | (__u8)newstate);
    return set_state((struct sock *)sk, newstate);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state_nested, const struct sock *sk, const int oldstate, const int newstate)
{
    if (!followed(sk) || twin_take(TWIN_STATE, sk, (__u64)oldstate << 8 | (__u8)newstate))
        return 0;
    return set_state((struct sock *)sk, newstate);
}

/* ---- timewait minisocks ---------------------------------------------------- */

static __always_inline bool is_tw_timer(struct timer_list *timer)
{
    return (void *)&tw_timer_handler && (void *)timer->function == (void *)&tw_timer_handler;
}

/* The minisock of a tw_timer, as a BTF pointer (bpf_rdonly_cast): its
 * fields are then plain loads, where probe reads cost a helper call each
 * (ten per birth). */
static __always_inline const struct inet_timewait_sock *tw_of(struct timer_list *timer)
{
    return bpf_rdonly_cast((void *)((unsigned long)timer -
                                    bpf_core_field_offset(struct inet_timewait_sock, tw_timer)),
                           bpf_core_type_id_kernel(struct inet_timewait_sock));
}

/* Enter the minisock whose timer is `id`, of destination k (or move it:
 * a start without a cancel before it, or the walk entered it just now).
 * The insert comes first: almost every start is a birth, and a lookup
 * before it would cost a hashed lookup more per connection. */
static __always_inline void tw_track(__u64 id, const struct live_key *k)
{
    struct live_ent e = {.state = k->state};
    if (!dest_idx(k, &e.idx)) {
        stat_inc(LIVE_ST_LOST);
        return;
    }
    long r = bpf_map_update_elem(&tws, &id, &e, BPF_NOEXIST);
    if (r == 0) {
        count_add(e.idx, e.state, 1, true);
        return;
    }
    struct live_ent *v;
    if (r != -EEXIST || !(v = bpf_map_lookup_elem(&tws, &id))) {
        stat_inc(LIVE_ST_LOST);
        return;
    }
    __u8 old = v->state;
    if (old != k->state) {
        v->state = k->state;
        count_move(v->idx, old, k->state, true);
    }
}

/* the minisock whose timer is `id` is gone */
static __always_inline bool tw_untrack(__u64 id)
{
    if (seeding)
        tombstone(id);
    struct live_ent *v = bpf_map_lookup_elem(&tws, &id);
    if (!v)
        return false;
    struct live_ent old = *v;
    long e = bpf_map_delete_elem(&tws, &id);
    if (e == 0) {
        count_add(old.idx, old.state, -1, true);
        return true;
    }
    if (e != -ENOENT) {
        stat_inc(LIVE_ST_LOST); /* busy: the death is not recorded */
        stat_inc(LIVE_ST_DEL_FAILED);
        last_del_err = e;
    }
    return false;
}

static __always_inline int tw_start(struct timer_list *timer)
{
    const struct inet_timewait_sock *tw = tw_of(timer);
    if (tw->__tw_common.skc_net.net->ns.inum != cfg_netns)
        return 0;
    struct live_key k = {};
    key_of(&tw->__tw_common, tw->tw_substate, &k);
    tw_track((unsigned long)timer, &k);
    stat_inc(LIVE_ST_TW_BORN);
    return 0;
}

static __always_inline int tw_end(struct timer_list *timer)
{
    const struct inet_timewait_sock *tw = tw_of(timer);
    if (tw->__tw_common.skc_net.net->ns.inum != cfg_netns)
        return 0;
    if (tw_untrack((unsigned long)timer))
        stat_inc(LIVE_ST_TW_DIED);
    return 0;
}

SEC("tp_btf/timer_start")
int BPF_PROG(on_start, struct timer_list *timer, unsigned long expires)
{
    const struct sock *sk = NULL;
    if (!is_tw_timer(timer) && !(sk = syn_timer_sock(timer)))
        return 0;
    twin_note_ts(TWIN_START, timer, expires);
    return sk ? syn_hashed(sk) : tw_start(timer);
}

SEC("tp_btf/timer_start")
int BPF_PROG(on_start_nested, struct timer_list *timer, unsigned long expires)
{
    const struct sock *sk = NULL;
    if ((!is_tw_timer(timer) && !(sk = syn_timer_sock(timer))) ||
        twin_take(TWIN_START, timer, expires))
        return 0;
    return sk ? syn_hashed(sk) : tw_start(timer);
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(on_cancel, struct timer_list *timer)
{
    if (!is_tw_timer(timer))
        return 0;
    twin_note_ts(TWIN_CANCEL, timer, timer->expires);
    return tw_end(timer);
}

SEC("tp_btf/timer_cancel")
int BPF_PROG(on_cancel_nested, struct timer_list *timer)
{
    if (!is_tw_timer(timer) || twin_take(TWIN_CANCEL, timer, timer->expires))
        return 0;
    return tw_end(timer);
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(on_expire, struct timer_list *timer, unsigned long baseclk)
{
    if (!is_tw_timer(timer))
        return 0;
    twin_note_ts(TWIN_EXPIRE, timer, baseclk);
    return tw_end(timer);
}

SEC("tp_btf/timer_expire_entry")
int BPF_PROG(on_expire_nested, struct timer_list *timer, unsigned long baseclk)
{
    if (!is_tw_timer(timer) || twin_take(TWIN_EXPIRE, timer, baseclk))
        return 0;
    return tw_end(timer);
}

/*
 * A segment a minisock received, freed: tcp_v4_rcv()/tcp_v6_rcv() free every
 * segment a minisock handled through sk_skb_reason_drop(tw, ...) after
 * tcp_timewait_state_process(), which is where a FIN_WAIT2 minisock becomes
 * TIME_WAIT.  Only the substate is read: births and deaths stay with the
 * timer events.  Drops of other sockets' segments (rx_sk a full socket or
 * none) cost a load and a compare.
 */
/* a minisock received it (tested before the twins' bookkeeping, which
 * then costs nothing for the drops of full sockets' segments) */
static __always_inline bool tw_received(const struct sock *rx_sk)
{
    return rx_sk && rx_sk->__sk_common.skc_state == S_TIME_WAIT;
}

static __always_inline int tw_rx(struct sock *rx_sk)
{
    const struct inet_timewait_sock *tw =
        bpf_rdonly_cast(rx_sk, bpf_core_type_id_kernel(struct inet_timewait_sock));
    if (tw->__tw_common.skc_net.net->ns.inum != cfg_netns)
        return 0;
    __u64 id = (unsigned long)rx_sk + bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
    struct live_ent *v = bpf_map_lookup_elem(&tws, &id);
    if (!v)
        return 0; /* dead (a RST), or not tracked yet: the walk reads the substate */
    __u8 now = tw->tw_substate, old = v->state;
    if (old != now && counted_tw(now)) {
        v->state = now;
        count_move(v->idx, old, now, true);
        stat_inc(LIVE_ST_TW_SUBSTATE);
    }
    return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(on_drop, struct sk_buff *skb, void *location, int reason, struct sock *rx_sk)
{
    if (!tw_received(rx_sk))
        return 0;
    twin_note_ts(TWIN_DROP, skb, (unsigned long)rx_sk);
    return tw_rx(rx_sk);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(on_drop_nested, struct sk_buff *skb, void *location, int reason, struct sock *rx_sk)
{
    if (!tw_received(rx_sk) || twin_take(TWIN_DROP, skb, (unsigned long)rx_sk))
        return 0;
    return tw_rx(rx_sk);
}

/* ---- the seed walk ----------------------------------------------------------- */

SEC("iter/tcp")
int seed(struct bpf_iter__tcp *ctx)
{
    struct sock_common *skc = ctx->sk_common;
    twh_addr = (unsigned long)&tw_timer_handler;
    twt_addr = (unsigned long)&tcp_write_timer;
    if (!skc)
        return 0;
    __u8 st = skc->skc_state;
    struct live_key k = {};
    if (st == S_TIME_WAIT) {
        struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
        if (!tw || !tw->tw_sk.tw_timer.entry.pprev)
            return 0; /* not armed: dying */
        key_of(skc, tw->tw_sk.tw_substate, &k);
        __u64 id = (unsigned long)tw +
                   bpf_core_field_offset(struct inet_timewait_sock, tw_timer);
        struct live_ent e = {.state = k.state};
        if (!dest_idx(&k, &e.idx)) {
            stat_inc(LIVE_ST_LOST); /* full: the table would be short */
            return 0;
        }
        long r = bpf_map_update_elem(&tws, &id, &e, BPF_NOEXIST);
        if (r == -EEXIST)
            return 0; /* an event entered it first */
        if (r) {
            stat_inc(LIVE_ST_LOST);
            return 0;
        }
        count_add(e.idx, e.state, 1, true);
        stat_inc(LIVE_ST_SEEDED);
        if (bpf_map_lookup_elem(&dead, &id)) /* died while the walk held it */
            tw_untrack(id);
        return 0;
    }
    if (!counted(st))
        return 0;
    if (st == S_LISTEN) /* the walk shows listeners before connections */
        listen_note(skc->skc_num);
    struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
    if (!tp)
        return 0;
    struct sock *sk = (struct sock *)tp;
    struct sock_ent *v = bpf_sk_storage_get(&socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!v) {
        stat_inc(LIVE_ST_LOST);
        return 0;
    }
    if (v->k.state)
        return 0; /* an event entered it first */
    key_of(skc, st, &k);
    sock_track(v, &k);
    stat_inc(LIVE_ST_SEEDED);
    __u64 id = (unsigned long)skc;
    if (bpf_map_lookup_elem(&dead, &id)) /* died while the walk held it */
        sock_untrack(sk);
    return 0;
}
