/*
 * bpf/trace_kern.h — the configuration, maps and helpers of
 * bpf/trace.bpf.c (one translation unit, in two files for size; included
 * once, by trace.bpf.c, after vmlinux.h and libbpf's headers).
 */
#ifndef TWKIT_BPF_TRACE_KERN_H
#define TWKIT_BPF_TRACE_KERN_H

#define AF_INET 2
#define AF_INET6 10
#define EEXIST 17
#define E2BIG 7
#define EALREADY 114
#define EINPROGRESS 115
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* ---- configuration (read-only after load) ------------------------------ */

const volatile bool cfg_exact = false;
const volatile __u32 cfg_netns = 0;          /* 0: every namespace */
const volatile __u32 cfg_tgid = 0;           /* 0: every process */
const volatile bool cfg_has_comm = false;
const volatile char cfg_comm[TRACE_COMM_LEN] = {};
const volatile __u16 cfg_dport_lo = 0;
const volatile __u16 cfg_dport_hi = 65535;
const volatile __u32 cfg_ncidr = 0;
const volatile struct trace_cidr cfg_cidr[TRACE_MAX_CIDR] = {};

/* Flipped by user space at each interval: which pair of tables is live. */
__u32 gen = 0;

extern const void tw_timer_handler __ksym __weak;

/* ---- maps -------------------------------------------------------------- */

/* The rows and the birth counters are per CPU: the close() of a socket and
 * its CLOSE (in the softirq of the peer's CPU on loopback) update the same
 * row, whose cache line bounced between CPUs; user space sums the CPUs
 * when it drains.  The adds stay atomic: a syscall tracepoint's program can
 * be preempted, and another run on the same CPU add to the same value. */
struct close_map {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, TRACE_MAX_ROWS);
    __type(key, struct trace_close_key);
    __type(value, struct trace_close_val);
} closes0 SEC(".maps"), closes1 SEC(".maps");

struct fail_map {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, TRACE_MAX_ROWS);
    __type(key, struct trace_fail_key);
    __type(value, struct trace_fail_val);
} fails0 SEC(".maps"), fails1 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, struct trace_births);
} births SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TRACE_ST_MAX);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

/* What a socket carries while it lives. */
enum { SKF_CLOSER = 1, SKF_RST = 2 };
struct sk_info {
    struct trace_who who;   /* the process that closed first (SKF_CLOSER) */
    __u32 flags;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct sk_info);
} sks SEC(".maps");

/* A connect() or bind() between entry and exit, in the thread's own
 * storage (BPF_MAP_TYPE_TASK_STORAGE: made once per thread, freed with it;
 * a lookup is a pointer chase, where a hash keyed by thread id cost an
 * update, a lookup and a delete per call).  active: between the two. */
struct sys_call {
    struct trace_who who;
    struct trace_addr dst;
    __u64 sk;
    __u32 call;
    __u32 owns_conn;        /* this connect() created the conns entry */
    __u32 active;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct sys_call);
} calls SEC(".maps");

/* connect() calls and non-blocking connects in progress, by socket
 * address, from sys_enter until the outcome.  phase: the call is running
 * (CONN_IN_CALL), returned EINPROGRESS (CONN_ASYNC), or the socket failed
 * while the call was still running (CONN_FAILED_IN_CALL, err set).  The
 * socket's CLOSE and sys_exit race for the transition with a cmpxchg. */
enum { CONN_IN_CALL = 0, CONN_ASYNC = 1, CONN_FAILED_IN_CALL = 2 };
struct conn {
    struct trace_who who;
    struct trace_addr dst;
    __u64 phase;            /* 64-bit: BPF's cmpxchg before -mcpu=v3 */
    __u64 err;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct conn);
} conns SEC(".maps");

/* A minisock's timer armed, waiting for its full socket's CLOSE (exact
 * mode).  A re-armed timer's entry is never claimed (no full socket is left
 * to close); an entry older than TRACE_NEWBORN_AGE_NS is such a one (a
 * birth's CLOSE follows its timer within microseconds), ignored by the
 * join and swept out when the table is full.  A plain hash, not an LRU
 * one: under churn an LRU update cost tens of microseconds here. */
struct newborn_val {
    __u64 ts;              /* bpf_ktime_get_ns() at the timer's arming */
    __u8 sub;              /* substate: TCP_TIME_WAIT or TCP_FIN_WAIT2 */
    __u8 pad[7];
};

struct tuple {
    __u8 saddr[16], daddr[16];
    __u32 netns;
    __u16 sport, dport;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, TRACE_NEWBORN_MAX);
    __type(key, struct tuple);
    __type(value, struct newborn_val);
} newborn SEC(".maps");


/* ---- helpers ----------------------------------------------------------- */

static __always_inline void stat_inc(__u32 id)
{
    __u64 *v = bpf_map_lookup_elem(&stats, &id);
    if (v)
        (*v)++;
}

/* Addresses, remote port and namespace of a socket or minisock (both
 * start with sock_common).  The local port is set by the caller: a closing
 * socket has already given its port back (inet_num = 0) when the CLOSE
 * transition is traced, so it is read from inet_sport / tw_sport. */
static __always_inline void common_tuple(const struct sock_common *c, struct tuple *t)
{
    __u16 fam = BPF_CORE_READ(c, skc_family);
    if (fam == AF_INET) {
        __u32 s = BPF_CORE_READ(c, skc_rcv_saddr), d = BPF_CORE_READ(c, skc_daddr);
        t->saddr[10] = t->saddr[11] = t->daddr[10] = t->daddr[11] = 0xff;
        __builtin_memcpy(&t->saddr[12], &s, 4);
        __builtin_memcpy(&t->daddr[12], &d, 4);
    } else {
        BPF_CORE_READ_INTO(&t->saddr, c, skc_v6_rcv_saddr.in6_u.u6_addr8);
        BPF_CORE_READ_INTO(&t->daddr, c, skc_v6_daddr.in6_u.u6_addr8);
    }
    t->dport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
    t->netns = BPF_CORE_READ(c, skc_net.net, ns.inum);
}

/* The same for a full socket, read directly (a BTF pointer: no helper
 * calls on the hot path). */
static __always_inline void sk_tuple(const struct sock *sk, struct tuple *t)
{
    const struct sock_common *c = &sk->__sk_common;
    if (c->skc_family == AF_INET) {
        __u32 s = c->skc_rcv_saddr, d = c->skc_daddr;
        t->saddr[10] = t->saddr[11] = t->daddr[10] = t->daddr[11] = 0xff;
        __builtin_memcpy(&t->saddr[12], &s, 4);
        __builtin_memcpy(&t->daddr[12], &d, 4);
    } else {
        __builtin_memcpy(t->saddr, c->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
        __builtin_memcpy(t->daddr, c->skc_v6_daddr.in6_u.u6_addr8, 16);
    }
    t->dport = bpf_ntohs(c->skc_dport);
    t->netns = c->skc_net.net->ns.inum;
    t->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
    return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The destination of a socket: remote ip:port, or local port if accepted. */
static __always_inline void sk_dest(const struct sock *sk, bool connected, struct trace_addr *d)
{
    struct tuple t = {};
    sk_tuple(sk, &t);
    if (connected) {
        __builtin_memcpy(d->a, t.daddr, 16);
        d->port = t.dport;
        d->kind = TRACE_DEST_REMOTE;
    } else {
        d->port = t.sport;
        d->kind = TRACE_DEST_LOCAL;
    }
}

/* The current process (every program is tp_btf: the task is a BTF pointer,
 * read with plain loads but for the name). */
static __always_inline void current_who(struct trace_who *w, __u32 netns)
{
    struct task_struct *t = bpf_get_current_task_btf();
    w->tgid = t->tgid;
    w->netns = netns;
    w->cgroup = bpf_get_current_cgroup_id();
    /* a helper for the name: a plain copy the compiler may merge with the
     * copies from map values, which the verifier refuses */
    bpf_probe_read_kernel(w->comm, TRACE_COMM_LEN, t->group_leader->comm);
}

static __always_inline bool comm_ok(const char *c)
{
    if (!cfg_has_comm)
        return true;
    for (int i = 0; i < TRACE_COMM_LEN; i++) {
        if (c[i] != cfg_comm[i])
            return false;
        if (!c[i])
            break;
    }
    return true;
}

static __always_inline bool dest_ok(const struct trace_addr *d)
{
    if (d->port < cfg_dport_lo || d->port > cfg_dport_hi)
        return false;
    if (!cfg_ncidr)
        return true;
    if (d->kind == TRACE_DEST_LOCAL)   /* no address: only the port is kept */
        return false;
    for (__u32 i = 0; i < TRACE_MAX_CIDR && i < cfg_ncidr; i++) {
        __u32 bits = cfg_cidr[i].bits, j;
        bool match = true;
        for (j = 0; j < 16; j++) {
            __u8 mask = bits >= 8 * (j + 1) ? 0xff
                      : bits <= 8 * j ? 0 : (__u8)(0xff << (8 - (bits - 8 * j)));
            if ((d->a[j] ^ cfg_cidr[i].a[j]) & mask) {
                match = false;
                break;
            }
        }
        if (match)
            return true;
    }
    return false;
}

static __always_inline bool who_ok(const struct trace_who *w)
{
    return (!cfg_tgid || w->tgid == cfg_tgid) && comm_ok(w->comm);
}

/* Add n to one field of the (who, dst) row of the live close table. */
static __always_inline void add_close(const struct trace_who *w, const struct trace_addr *d,
                                      __u32 field)
{
    if (!who_ok(w) || !dest_ok(d) || field >= sizeof(struct trace_close_val) / 8)
        return;
    struct trace_close_key k = {};
    k.who = *w;
    k.dst = *d;
    void *m = gen & 1 ? (void *)&closes1 : (void *)&closes0;
    __u64 *v = bpf_map_lookup_elem(m, &k);
    if (!v) {
        struct trace_close_val z = {};
        long e = bpf_map_update_elem(m, &k, &z, BPF_NOEXIST);
        if (e && e != -EEXIST) {
            stat_inc(TRACE_ST_LOST_CLOSE);
            return;
        }
        v = bpf_map_lookup_elem(m, &k);
        if (!v)
            return;
    }
    __sync_fetch_and_add(&v[field], 1);
}

#define F_TW 0
#define F_FW2 1
#define F_ACTIVE 2
#define F_PASSIVE 3
#define F_SIMUL 4
#define F_RST 5

static __always_inline void add_fail(const struct trace_who *w, const struct trace_addr *d,
                                     __u32 call, __u32 err, bool later)
{
    if (!who_ok(w) || !dest_ok(d))
        return;
    struct trace_fail_key k = {};
    k.who = *w;
    k.dst = *d;
    k.call = call;
    k.err = err;
    void *m = gen & 1 ? (void *)&fails1 : (void *)&fails0;
    struct trace_fail_val *v = bpf_map_lookup_elem(m, &k);
    if (!v) {
        struct trace_fail_val z = {};
        long e = bpf_map_update_elem(m, &k, &z, BPF_NOEXIST);
        if (e && e != -EEXIST) {
            stat_inc(TRACE_ST_LOST_FAIL);
            return;
        }
        v = bpf_map_lookup_elem(m, &k);
        if (!v)
            return;
    }
    if (later)
        __sync_fetch_and_add(&v->later, 1);
    else
        __sync_fetch_and_add(&v->now, 1);
}

static __always_inline void count_birth(__u32 netns, bool fw2)
{
    struct trace_births *b = bpf_map_lookup_elem(&births, &netns);
    if (!b) {
        struct trace_births z = {};
        long e = bpf_map_update_elem(&births, &netns, &z, BPF_NOEXIST);
        if (e && e != -EEXIST) {
            stat_inc(TRACE_ST_LOST_BIRTHS);
            return;
        }
        b = bpf_map_lookup_elem(&births, &netns);
        if (!b)
            return;
    }
    if (fw2)
        __sync_fetch_and_add(&b->fw2, 1);
    else
        __sync_fetch_and_add(&b->tw, 1);
}

#endif /* TWKIT_BPF_TRACE_KERN_H */
