// SPDX-License-Identifier: GPL-2.0
/*
 * trace.bpf.c — the kernel half of `twkit trace`: who makes the TIME_WAIT
 * sockets, and which connect()/bind() calls fail with which errno.
 *
 * Only tracepoints with BTF (tp_btf/) are used, the raw syscall tracepoints
 * sys_enter and sys_exit among them: they load where kprobes are missing and
 * fentry is refused.
 *
 * Closes.  inet_sock_set_state reports every state change of a full TCP
 * socket, never TIME_WAIT itself.  ESTABLISHED -> FIN_WAIT1 runs in the
 * context of the process that called close() or shutdown(): that process
 * "closed first" and is remembered in the socket's local storage
 * (BPF_MAP_TYPE_SK_STORAGE, freed with the socket).  CLOSE_WAIT -> LAST_ACK
 * is a passive close by the current process, FIN_WAIT1 -> CLOSING a
 * simultaneous one.  The destination of a socket opened by connect() is
 * its remote ip:port, that of an accepted one its local port; an accepted
 * socket is told by the listen backlog it inherits (is_connected()).
 *
 * Births, exactly.  Every TIME_WAIT minisock (TIME_WAIT or FIN_WAIT2
 * substate) is born in tcp_time_wait(), which arms tw->tw_timer (function
 * tw_timer_handler: tp_btf/timer_start filtered on that address) and then
 * calls tcp_done() on the full socket: its FIN_WAIT2|CLOSING -> CLOSE
 * transition, which carries the socket storage and so the process.  A
 * birth is the two together, matched by 4-tuple and namespace: the timer
 * is the proof that a minisock exists (a tcp_max_tw_buckets overflow makes
 * none), the CLOSE says whose it is.  A re-armed timer (a FIN_WAIT2
 * minisock getting the peer's FIN) has no full socket left to close, so it
 * is never counted; its entry, left unclaimed, ages out.  (It could only
 * be taken for a birth by a later connection on the same 4-tuple that
 * overflowed tcp_max_tw_buckets; the TcpExtTW cross-check would show it.)
 *
 * Births, approximately.  When the address of tw_timer_handler is hidden
 * (kallsyms without CAP_SYSLOG) the weak ksym is 0 and user space loads
 * with cfg_exact = false: births are counted at FIN_WAIT2|CLOSING -> CLOSE
 * unless the socket saw a reset (tcp_receive_reset, tcp_send_reset); a
 * tcp_max_tw_buckets overflow is then miscounted as a birth.
 *
 * Failures.  sys_enter keeps, for connect() and bind() on TCP
 * sockets only, the socket and the sockaddr (read from user memory at
 * entry); sys_exit counts a negative return by errno.  A
 * non-blocking connect() returning EINPROGRESS is followed to its socket's
 * SYN_SENT -> CLOSE transition, whose sk_err is what SO_ERROR will report.
 *
 * Aggregation.  Per (process, destination) rows in per-CPU hash maps (summed
 * over the CPUs when drained), two of each:
 * user space flips `gen` every interval and drains the idle pair; a row that
 * finds its map full is counted as lost.  Births per namespace are
 * cumulative counters, never drained.
 *
 * Recursion.  The programs on inet_sock_set_state and timer_start come in
 * twin pairs (bpf/twin.h) so that an event arriving
 * while its program is already running on that CPU is not lost.
 *
 * Maps, configuration and helpers: trace_kern.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "trace.h"
#include "trace_kern.h"

enum { TWIN_SET_STATE, TWIN_TIMER_START };
#define TWIN_MAX 2
#include "twin.h"

char LICENSE[] SEC("license") = "GPL";

/* The syscall's number and first two arguments, read straight from the
 * tracepoint's pt_regs (a BTF pointer under tp_btf: plain loads, no helper
 * call on the path every syscall of the machine takes). */
#if defined(__TARGET_ARCH_x86)
#define NR_BIND 49
#define NR_CONNECT 42
#define SYSCALL_NR(regs) ((long)(regs)->orig_ax)
#define SYSCALL_ARG1(regs) ((regs)->di)
#define SYSCALL_ARG2(regs) ((regs)->si)
#elif defined(__TARGET_ARCH_arm64)
#define NR_BIND 200
#define NR_CONNECT 203
#define SYSCALL_NR(regs) ((long)(regs)->syscallno)
#define SYSCALL_ARG1(regs) ((regs)->orig_x0)
#define SYSCALL_ARG2(regs) ((regs)->regs[1])
#else
#error "twkit trace supports x86_64 and arm64"
#endif

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* ---- TIME_WAIT timers (exact births) ------------------------------------ */

static __always_inline bool is_tw_timer(struct timer_list *timer)
{
    return cfg_exact && (void *)&tw_timer_handler &&
           (void *)timer->function == (void *)&tw_timer_handler;
}

static __always_inline const struct inet_timewait_sock *tw_of(struct timer_list *timer)
{
    return (const void *)((unsigned long)timer -
                          bpf_core_field_offset(struct inet_timewait_sock, tw_timer));
}

static long sweep_old(struct bpf_map *map, const struct tuple *key, struct newborn_val *v,
                      __u64 *now)
{
    if (*now - v->ts > TRACE_NEWBORN_AGE_NS)
        bpf_map_delete_elem(map, key);
    return 0;
}

static __always_inline int tw_start(struct timer_list *timer)
{
    const struct inet_timewait_sock *tw = tw_of(timer);
    struct tuple t = {};
    common_tuple(&tw->__tw_common, &t);
    t.sport = bpf_ntohs(BPF_CORE_READ(tw, tw_sport));
    if (cfg_netns && t.netns != cfg_netns)
        return 0;
    struct newborn_val v = {.ts = bpf_ktime_get_ns(), .sub = BPF_CORE_READ(tw, tw_substate)};
    long e = bpf_map_update_elem(&newborn, &t, &v, BPF_ANY);
    if (e == -E2BIG) {   /* full of re-armed timers' entries: sweep them out */
        __u64 now = v.ts;
        bpf_for_each_map_elem(&newborn, sweep_old, &now, 0);
        e = bpf_map_update_elem(&newborn, &t, &v, BPF_ANY);
    }
    if (e)
        stat_inc(TRACE_ST_LOST_PENDING);
    return 0;
}

/* ---- resets ------------------------------------------------------------ */

static __always_inline void mark_rst(struct sock *sk)
{
    struct sk_info *st = bpf_sk_storage_get(&sks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (st)
        st->flags |= SKF_RST;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_rst_in, struct sock *sk)
{
    if (cfg_netns && sk_netns(sk) != cfg_netns)
        return 0;
    mark_rst(sk);
    return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_rst_out, const struct sock *sk)
{
    if (!sk)
        return 0;
    int st = BPF_CORE_READ(sk, __sk_common.skc_state);
    /* full sockets only (not a listener, request or TIME_WAIT socket) */
    if (st == TCP_LISTEN || st == TCP_NEW_SYN_RECV || st == TCP_TIME_WAIT || st == TCP_CLOSE ||
        st == TCP_SYN_RECV)
        return 0;
    if (cfg_netns && sk_netns(sk) != cfg_netns)
        return 0;
    mark_rst((struct sock *)sk);
    return 0;
}

/* ---- state changes ----------------------------------------------------- */

static __always_inline void on_syn_sent_end(const struct sock *sk, int newstate)
{
    __u64 key = (unsigned long)sk;
    struct conn *c = bpf_map_lookup_elem(&conns, &key);
    if (!c)
        return;
    __u32 err = newstate == TCP_CLOSE ? BPF_CORE_READ(sk, sk_err) : 0;
    if (err) {
        c->err = err;
        /* still inside connect(): sys_exit decides between "now" and "later" */
        if (__sync_val_compare_and_swap(&c->phase, CONN_IN_CALL, CONN_FAILED_IN_CALL) ==
            CONN_IN_CALL)
            return;
        add_fail(&c->who, &c->dst, TRACE_CONNECT, err, true);
    }
    bpf_map_delete_elem(&conns, &key);
}

/* Was this socket opened by connect()?  Only listen() sets a backlog, and
 * an accepted socket inherits its listener's (sk_clone_lock copies it):
 * connected sockets have 0.  (A listener with backlog 0 is the exception.) */
static __always_inline bool is_connected(const struct sock *sk)
{
    return sk->sk_max_ack_backlog == 0;
}

static __always_inline void on_close(const struct sock *sk, int old, __u32 netns)
{
    struct sk_info *st = bpf_sk_storage_get(&sks, (struct sock *)sk, 0, 0);
    __u32 flags = st ? st->flags : 0;
    int sub = 0;

    /* tcp_time_wait() is only ever called in FIN_WAIT2 or CLOSING */
    if (old == TCP_FIN_WAIT2 || old == TCP_CLOSING) {
        if (cfg_exact) {
            struct tuple t = {};
            sk_tuple(sk, &t);
            struct newborn_val *b = bpf_map_lookup_elem(&newborn, &t);
            if (b && bpf_ktime_get_ns() - b->ts < TRACE_NEWBORN_AGE_NS) {
                sub = b->sub;
                bpf_map_delete_elem(&newborn, &t);
                count_birth(netns, sub == TCP_FIN_WAIT2);
            }
        } else if (!(flags & SKF_RST)) {
            /* the peer's FIN arrived (SOCK_DONE): a TIME_WAIT minisock;
             * else an orphaned FIN_WAIT2 one */
            unsigned long f = sk->__sk_common.skc_flags;
            bool done = (f >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1;
            sub = old == TCP_CLOSING || done ? TCP_TIME_WAIT : TCP_FIN_WAIT2;
            count_birth(netns, sub == TCP_FIN_WAIT2);
        }
    }

    bool rst;
    if (sub)
        rst = false;
    else if (old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT || old == TCP_FIN_WAIT1)
        rst = true;       /* a reset or an abort (timeout, SOCK_DESTROY) */
    else
        rst = flags & SKF_RST;
    if (!sub && !rst)
        return;

    struct trace_who w = {};
    if (flags & SKF_CLOSER)
        w = st->who;
    else if (rst && !(flags & SKF_RST) && !sk->sk_err && sk->sk_socket)
        current_who(&w, netns);   /* close() of an open socket: a local abort */
    w.netns = netns;
    if (!w.tgid && sub)
        stat_inc(TRACE_ST_UNATTRIBUTED);

    struct trace_addr d = {};
    sk_dest(sk, is_connected(sk), &d);
    if (sub)
        add_close(&w, &d, sub == TCP_FIN_WAIT2 ? F_FW2 : F_TW);
    if (rst)
        add_close(&w, &d, F_RST);
}

/* The transitions trace acts on; the others return before any work. */
static __always_inline bool wanted(int old, int new)
{
    switch (new) {
    case TCP_FIN_WAIT1:
        return old == TCP_ESTABLISHED || old == TCP_SYN_RECV;
    case TCP_CLOSING:
        return true;
    case TCP_LAST_ACK:
        return old == TCP_CLOSE_WAIT;
    case TCP_CLOSE:
        return old != TCP_LISTEN && old != TCP_SYN_RECV && old != TCP_CLOSE &&
               old != TCP_NEW_SYN_RECV;
    }
    return old == TCP_SYN_SENT;   /* the end of a connect() */
}

/* A TCP socket of the watched namespace changing state the way trace wants. */
static __always_inline bool state_event(const struct sock *sk, int old, int new, __u32 *netns)
{
    if (!wanted(old, new) || sk->sk_protocol != IPPROTO_TCP)
        return false;
    *netns = sk->__sk_common.skc_net.net->ns.inum;
    return !cfg_netns || *netns == cfg_netns;
}

static __always_inline int set_state(const struct sock *sk, const int oldstate, const int newstate,
                                     __u32 netns)
{
    if (oldstate == TCP_SYN_SENT) {
        on_syn_sent_end(sk, newstate);
        return 0;
    }
    switch (newstate) {
    case TCP_FIN_WAIT1: {  /* close() or shutdown() before the peer's FIN */
        struct sk_info *st = bpf_sk_storage_get(&sks, (struct sock *)sk, 0,
                                                BPF_SK_STORAGE_GET_F_CREATE);
        if (!st) {
            stat_inc(TRACE_ST_LOST_PENDING);
            return 0;
        }
        current_who(&st->who, netns);
        st->flags |= SKF_CLOSER;
        struct trace_addr d = {};
        sk_dest(sk, is_connected(sk), &d);
        add_close(&st->who, &d, F_ACTIVE);
        return 0;
    }
    case TCP_CLOSING: {    /* both sides sent FIN */
        struct sk_info *st = bpf_sk_storage_get(&sks, (struct sock *)sk, 0, 0);
        struct trace_who w = {};
        if (st && (st->flags & SKF_CLOSER))
            w = st->who;
        w.netns = netns;
        struct trace_addr d = {};
        sk_dest(sk, is_connected(sk), &d);
        add_close(&w, &d, F_SIMUL);
        return 0;
    }
    case TCP_LAST_ACK: {   /* close() after the peer's FIN */
        struct trace_who w = {};
        current_who(&w, netns);
        struct trace_addr d = {};
        sk_dest(sk, is_connected(sk), &d);
        add_close(&w, &d, F_PASSIVE);
        return 0;
    }
    case TCP_CLOSE:
        on_close(sk, oldstate, netns);
        return 0;
    }
    return 0;
}

/* ---- the programs, in twin pairs (bpf/twin.h) --------------------------- */

/* The nested twin handles what its first missed; count it. */
static __always_inline bool missed_by_twin(__u32 pair, const void *ptr, __u64 aux)
{
    if (twin_seen(pair, ptr, aux))
        return false;
    stat_inc(TRACE_ST_RECOVERED);
    return true;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
    __u32 netns;
    if (!state_event(sk, oldstate, newstate, &netns))
        return 0;
    twin_note(TWIN_SET_STATE, sk, (__u64)oldstate << 8 | (__u8)newstate);
    return set_state(sk, oldstate, newstate, netns);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state_nested, const struct sock *sk, const int oldstate, const int newstate)
{
    __u32 netns;
    if (!state_event(sk, oldstate, newstate, &netns) ||
        !missed_by_twin(TWIN_SET_STATE, sk, (__u64)oldstate << 8 | (__u8)newstate))
        return 0;
    return set_state(sk, oldstate, newstate, netns);
}

SEC("tp_btf/timer_start")
int BPF_PROG(on_tw_start, struct timer_list *timer, unsigned long expires)
{
    if (!is_tw_timer(timer))
        return 0;
    twin_note(TWIN_TIMER_START, timer, expires);
    return tw_start(timer);
}

SEC("tp_btf/timer_start")
int BPF_PROG(on_tw_start_nested, struct timer_list *timer, unsigned long expires)
{
    if (!is_tw_timer(timer) || !missed_by_twin(TWIN_TIMER_START, timer, expires))
        return 0;
    return tw_start(timer);
}

/* ---- connect() and bind() ---------------------------------------------- */

/* The TCP socket behind fd in the current process, or NULL.  The walk
 * reads through BTF pointers (the current task's, and bpf_rdonly_cast() of
 * what comes out of the fd array): plain loads that fault safely, one
 * helper call in all, where BPF_CORE_READ took one per hop. */
static __always_inline const struct sock *tcp_sock_of_fd(int fd)
{
    struct task_struct *t = bpf_get_current_task_btf();
    struct fdtable *fdt = t->files->fdt;
    if (!fdt || fd < 0 || (unsigned)fd >= fdt->max_fds)
        return 0;
    struct file **fds = fdt->fd;
    void *fp = 0;
    bpf_probe_read_kernel(&fp, sizeof(fp), &fds[fd]);
    if (!fp)
        return 0;
    struct file *f = bpf_rdonly_cast(fp, bpf_core_type_id_kernel(struct file));
    if ((f->f_inode->i_mode & S_IFMT) != S_IFSOCK)
        return 0;
    struct socket *so = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
    const struct sock *sk = so->sk;
    if (!sk || sk->sk_protocol != IPPROTO_TCP || sk->sk_type != SOCK_STREAM)
        return 0;
    return sk;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
    if (id != NR_CONNECT && id != NR_BIND)
        return 0;
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    if (cfg_tgid && (pid_tgid >> 32) != cfg_tgid)
        return 0;
    int fd = SYSCALL_ARG1(regs);
    const void *uaddr = (const void *)SYSCALL_ARG2(regs);
    const struct sock *skp = tcp_sock_of_fd(fd);
    if (!skp)
        return 0;
    __u32 netns = skp->__sk_common.skc_net.net->ns.inum;
    if (cfg_netns && netns != cfg_netns)
        return 0;
    __u64 sk = (unsigned long)skp;

    struct sys_call c = {};
    struct sockaddr_in6 sa = {};
    if (bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), uaddr))
        return 0;
    if (sa.sin6_family == AF_INET) {
        struct sockaddr_in *s4 = (void *)&sa;
        c.dst.a[10] = c.dst.a[11] = 0xff;
        __builtin_memcpy(&c.dst.a[12], &s4->sin_addr.s_addr, 4);
        c.dst.port = bpf_ntohs(s4->sin_port);
    } else if (sa.sin6_family == AF_INET6) {
        if (bpf_probe_read_user(&sa, sizeof(sa), uaddr))
            return 0;
        __builtin_memcpy(c.dst.a, &sa.sin6_addr, 16);
        c.dst.port = bpf_ntohs(sa.sin6_port);
    } else {
        return 0;
    }
    current_who(&c.who, netns);
    if (!comm_ok(c.who.comm))
        return 0;
    c.dst.kind = id == NR_CONNECT ? TRACE_DEST_REMOTE : TRACE_DEST_BIND;
    c.call = id == NR_CONNECT ? TRACE_CONNECT : TRACE_BIND;
    c.sk = sk;
    if (c.call == TRACE_CONNECT) {
        /* a connect() already in flight on this socket keeps its entry */
        struct conn n = {.who = c.who, .dst = c.dst, .phase = CONN_IN_CALL};
        long e = bpf_map_update_elem(&conns, &sk, &n, BPF_NOEXIST);
        if (!e)
            c.owns_conn = 1;
        else if (e != -EEXIST)
            stat_inc(TRACE_ST_LOST_PENDING);
    }
    struct sys_call *slot = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
                                                 BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!slot) {
        stat_inc(TRACE_ST_LOST_PENDING);
        if (c.owns_conn)
            bpf_map_delete_elem(&conns, &sk);
        return 0;
    }
    c.active = 1;
    *slot = c;
    return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
    long id = SYSCALL_NR(regs);
    if (id != NR_CONNECT && id != NR_BIND)
        return 0;
    struct sys_call *p = bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0, 0);
    if (!p || !p->active)
        return 0;
    p->active = 0;
    struct sys_call c = *p;

    if (c.owns_conn) {
        struct conn *n = bpf_map_lookup_elem(&conns, &c.sk);
        if (n && ret == -EINPROGRESS) {
            /* the outcome comes later, at the socket's SYN_SENT -> CLOSE */
            if (__sync_val_compare_and_swap(&n->phase, CONN_IN_CALL, CONN_ASYNC) ==
                CONN_IN_CALL)
                return 0;
            add_fail(&c.who, &c.dst, TRACE_CONNECT, n->err, true);
            bpf_map_delete_elem(&conns, &c.sk);
            return 0;
        }
        if (n)
            bpf_map_delete_elem(&conns, &c.sk);
    }
    if (ret >= 0 || ret == -EALREADY || ret == -EINPROGRESS)
        return 0;
    add_fail(&c.who, &c.dst, c.call, (__u32)-ret, false);
    return 0;
}
